/*  hpt_tfconfig -- the TF_CONFIG and CLUSTER_SPEC strings a task sees

    AI Platform tells every task of a trial where its siblings listen and
    what it is, through two environment variables (docs/trainer-contract.md):

        TF_CONFIG    = {"cluster": {"master": ["host:port"], "worker": [...],
                        "ps": [...]}, "task": {"type": "master", "index": 0,
                        "trial": "7"}, "job": {trainingInput},
                        "environment": "cloud"}
        CLUSTER_SPEC = the same without "job"

    The master replica is called "chief" instead of "master" when the job
    sets useChiefInTfConfig. Evaluators never appear in "cluster" (they are
    not part of the training cluster) but an evaluator task names itself
    with type "evaluator". Roles without replicas are left out of
    "cluster", as AI Platform does for a BASIC tier job. "trial" is left out
    when the task belongs to no tuning trial (trial NULL).

    The master's LAUNCH builder (hpt_launch) asks for both strings for each
    task it launches; this class only formats them, so it validates what it
    is given and never reads the network or the job model.
*/
#ifndef HPT_TFCONFIG_H_INCLUDED
#define HPT_TFCONFIG_H_INCLUDED

#include "hpt_enum.h"
#include "hpt_error.h"
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

//  Longest "host:port" accepted, and most replicas of one role.
#define HPT_TFCONFIG_ADDRESS_MAX 255
#define HPT_TFCONFIG_REPLICAS_MAX 10000

//  A task's role, as TF_CONFIG's "task"."type" and "cluster" keys spell
//  it (the master is "chief" instead when the job asks for it). A master
//  task specification names its replica kind the same way.
#define HPT_TFCONFIG_ROLE_LIST(X)                                                                  \
    X (HPT_TFCONFIG_MASTER, "master")                                                              \
    X (HPT_TFCONFIG_WORKER, "worker")                                                              \
    X (HPT_TFCONFIG_PS, "ps")                                                                      \
    X (HPT_TFCONFIG_EVALUATOR, "evaluator")
HPT_ENUM_DECLARE (hpt_tfconfig_role, HPT_TFCONFIG_ROLE_LIST)

//  The trial cluster's addresses. All pointers are borrowed.
typedef struct {
    const char *const *master; //  exactly one "host:port"
    size_t master_count;       //  must be 1
    const char *const *worker; //  worker addresses in index order
    size_t worker_count;       //  0 or more
    const char *const *ps;     //  parameter server addresses in index order
    size_t ps_count;           //  0 or more
    size_t evaluator_count;    //  evaluators (no address; bounds their index)
    bool use_chief;            //  name the master "chief" (useChiefInTfConfig)
} hpt_tfconfig_cluster_t;

//  Which task of the cluster the string is for.
typedef struct {
    hpt_tfconfig_role_t role; //  its replica role
    size_t index;             //  its index among that role's replicas
    const char *trial;        //  trial id ("1", "2", ...), NULL outside tuning
} hpt_tfconfig_task_t;

//  Maps a role name to a role: its spelling above, or one of the other
//  names a role goes by ("chief", "parameterServer", "parameter_server").
//  Returns 0, or -1 when the name is none of them.
int hpt_tfconfig_role_from_name (const char *name, hpt_tfconfig_role_t *role);

//  TF_CONFIG as compact JSON text (caller frees), or NULL with error set
//  (HPT_E_INVALID: the cluster, task or trainingInput is not valid).
char *hpt_tfconfig_build (const hpt_tfconfig_cluster_t *cluster, const hpt_tfconfig_task_t *task,
                          json_t *training_input, hpt_error_t *error);

//  CLUSTER_SPEC: TF_CONFIG without "job", as compact JSON text (caller
//  frees), or NULL with error set (HPT_E_INVALID) as hpt_tfconfig_build.
char *hpt_tfconfig_cluster_spec (const hpt_tfconfig_cluster_t *cluster,
                                 const hpt_tfconfig_task_t *task, hpt_error_t *error);

#endif
