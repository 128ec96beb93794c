/*  hpt_machine -- machine types, scale tiers, and a job's trial cluster

    A machine type is a resource request: vCPUs (possibly fractional),
    memory and at most one kind of accelerator with a count. A scale tier
    names the machine type and count of each replica kind of a trial
    cluster (one master, workers, parameter servers, evaluators). The
    catalog starts with AI Platform Training's built-in names (docs/scheduling.md)
    and the master's cluster.yaml overrides or extends it
    (hpt_cluster_config). From a validated job, the catalog expands the
    tasks of ONE trial cluster, in the order TF_CONFIG lists them; the
    scheduler then places that list whole or not at all.

    The built-in tables are documented at the top of hpt_machine.c and in
    README "Machine types and scale tiers".
*/
#ifndef HPT_MACHINE_H_INCLUDED
#define HPT_MACHINE_H_INCLUDED

#include "hpt_error.h"
#include "hpt_job.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HPT_MACHINE_NAME_MAX 64        //  longest machine type or tier name
#define HPT_MACHINE_MAX_REPLICAS 10000 //  replicas of one kind in a cluster

//  One machine type: what a task of this type asks an agent for.
typedef struct {
    char *name;                //  e.g. "complex_model_m", owned
    double cpus;               //  vCPUs, > 0, may be fractional
    double memory_gb;          //  GiB as Compute Engine counts them, >= 0
    char *accelerator_type;    //  hpt_accel.h name, NULL when none; owned
    int64_t accelerator_count; //  0 when none
    bool builtin;              //  true while it is the built-in definition
} hpt_machine_type_t;

//  The replicas of one kind in a tier: a machine type and how many.
typedef struct {
    char *type;    //  machine type name, NULL when count is 0; owned
    int64_t count; //  replicas of this kind (the master: always 1)
} hpt_tier_replica_t;

//  One scale tier.
typedef struct {
    char *name;                          //  e.g. "STANDARD_1", owned
    hpt_tier_replica_t master;           //  count 1
    hpt_tier_replica_t worker;           //  workers
    hpt_tier_replica_t parameter_server; //  parameter servers ("ps")
    hpt_tier_replica_t evaluator;        //  evaluators
    bool builtin;                        //  true while it is the built-in one
} hpt_scale_tier_def_t;

//  One task of a trial cluster, as the scheduler places it and TF_CONFIG
//  names it.
typedef struct {
    const char *replica;       //  "master", "worker", "ps" or "evaluator" (static)
    size_t index;              //  index within its replica kind, from 0
    char *machine_type;        //  machine type name, owned
    double cpus;               //  vCPUs requested
    int64_t memory_mb;         //  MiB requested (memoryGb × 1024, rounded)
    char *accelerator_type;    //  NULL when none; owned
    int64_t accelerator_count; //  0 when none
} hpt_task_spec_t;

typedef struct _hpt_machine_catalog_t hpt_machine_catalog_t;

//  Creates a catalog holding the built-in machine types and scale tiers.
//  The caller owns it.
hpt_machine_catalog_t *hpt_machine_catalog_new (void);

//  Destroys the catalog and nulls the pointer.
void hpt_machine_catalog_destroy (hpt_machine_catalog_t **self_p);

//  Defines a machine type, replacing any type of that name (built-in or
//  not). Strings are copied; accelerator_type may be NULL (count then 0).
//  The caller has validated the values.
void hpt_machine_catalog_set_type (hpt_machine_catalog_t *self, const char *name, double cpus,
                                   double memory_gb, const char *accelerator_type,
                                   int64_t accelerator_count);

//  Defines a scale tier, replacing any tier of that name. tier is copied
//  (deeply); the caller keeps its own. The caller has validated it.
void hpt_machine_catalog_set_tier (hpt_machine_catalog_t *self, const hpt_scale_tier_def_t *tier);

//  The machine type called name, or NULL (borrowed; valid until the type
//  is redefined or the catalog destroyed).
const hpt_machine_type_t *hpt_machine_catalog_type (hpt_machine_catalog_t *self, const char *name);

//  The scale tier called name, or NULL (borrowed, as above).
const hpt_scale_tier_def_t *hpt_machine_catalog_tier (hpt_machine_catalog_t *self,
                                                      const char *name);

//  Number of machine types, and type i in definition order (built-ins
//  first, in the table's order, then the file's). Borrowed.
size_t hpt_machine_catalog_type_count (hpt_machine_catalog_t *self);
const hpt_machine_type_t *hpt_machine_catalog_type_at (hpt_machine_catalog_t *self, size_t i);

//  Number of scale tiers, and tier i (built-in order). Borrowed.
size_t hpt_machine_catalog_tier_count (hpt_machine_catalog_t *self);
const hpt_scale_tier_def_t *hpt_machine_catalog_tier_at (hpt_machine_catalog_t *self, size_t i);

//  The closest machine type name to name, for "did you mean", or NULL.
//  Borrowed.
const char *hpt_machine_catalog_suggest_type (hpt_machine_catalog_t *self, const char *name);

//  Expands job (validated by hpt_job_reader) into the tasks of one trial
//  cluster: master (index 0), workers 0..n-1, parameter servers ("ps")
//  0..n-1, evaluators 0..n-1. The replicas come from the job's scale tier
//  (from the catalog) or, for CUSTOM, from masterType/workerType/... and
//  the counts. A replica kind's ReplicaConfig.acceleratorConfig (e.g.
//  masterConfig) replaces its machine type's accelerators, as AI Platform
//  does. On success returns 0 and sets *tasks (a fresh array the caller
//  frees with hpt_task_specs_destroy) and *count. On failure returns -1,
//  sets *tasks to NULL, *count to 0 and error (HPT_E_INVALID) to every
//  problem, "; "-separated, e.g. "trainingInput.workerType: unknown
//  machine type 'foo' (did you mean 'standard'?)". error may be NULL.
int hpt_machine_catalog_tasks (hpt_machine_catalog_t *self, hpt_job_t *job, hpt_task_spec_t **tasks,
                               size_t *count, hpt_error_t *error);

//  Destroys an array of count tasks from hpt_machine_catalog_tasks and
//  nulls the pointer.
void hpt_task_specs_destroy (hpt_task_spec_t **tasks_p, size_t count);

//  Memory in MiB for a memoryGb figure (GiB × 1024, rounded to nearest).
int64_t hpt_machine_memory_mb (double memory_gb);

#endif
