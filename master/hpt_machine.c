/*  hpt_machine -- machine types, scale tiers, and a job's trial cluster

    Built-in machine types. AI Platform Training's legacy names are aliases
    of Compute Engine shapes (its "Machine types" page); we use the
    published vCPU and memory figures. Memory is in GiB, as Compute
    Engine's "GB" is; a task asks for memoryGb × 1024 MiB, rounded.

        name                   vCPUs  memory GB  accelerators          (same shape as)
        standard                   4      15                           n1-standard-4
        large_model                8      52                           n1-highmem-8
        complex_model_s            8       7.2                         n1-highcpu-8
        complex_model_m           16      14.4                         n1-highcpu-16
        complex_model_l           32      28.8                         n1-highcpu-32
        standard_gpu               4      15     1 × NVIDIA_TESLA_K80
        complex_model_m_gpu       16      14.4   4 × NVIDIA_TESLA_K80
        complex_model_l_gpu       32      28.8   8 × NVIDIA_TESLA_K80
        standard_p100              4      15     1 × NVIDIA_TESLA_P100
        complex_model_m_p100      16      14.4   4 × NVIDIA_TESLA_P100
        standard_v100              4      15     1 × NVIDIA_TESLA_V100
        large_model_v100           8      52     1 × NVIDIA_TESLA_V100
        complex_model_m_v100      16      14.4   4 × NVIDIA_TESLA_V100
        complex_model_l_v100      32      28.8   8 × NVIDIA_TESLA_V100
        cloud_tpu                  1       0     8 × TPU_V2  (a TPU task gets its whole
                                                 host from the scheduler, so its own
                                                 request is only a minimum)
        n1-standard-N   N = 4, 8, 16, 32, 64, 96       3.75 GB per vCPU
        n1-highmem-N    N = 2, 4, 8, 16, 32, 64, 96    6.5 GB per vCPU
        n1-highcpu-N    N = 16, 32, 64, 96             0.9 GB per vCPU

    Built-in scale tiers (AI Platform's scaleTier values):

        tier        master           workers              parameter servers
        BASIC       standard         -                    -
        STANDARD_1  standard         4 × standard         3 × standard
        PREMIUM_1   large_model      19 × large_model     11 × standard
        BASIC_GPU   standard_gpu     -                    -
        BASIC_TPU   standard         1 × cloud_tpu        -
        CUSTOM      masterType, workerType × workerCount, parameterServerType ×
                    parameterServerCount, evaluatorType × evaluatorCount (the job's)

    Expansion. A trial cluster is the list master, workers, ps, evaluators,
    each kind in index order: the order of TF_CONFIG's cluster spec, so a
    task's place in the list is stable across restarts and the scheduler
    can store tasks by (replica, index). A kind's acceleratorConfig in the
    job replaces the accelerators of its machine type: a machine type holds
    one accelerator kind, so "add to" (a type without any) and "override"
    (a type with some) are the same operation.
*/
#include "hpt_machine.h"
#include "hpt_alloc.h"
#include "hpt_schema.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _hpt_machine_catalog_t {
    hpt_machine_type_t *types;   //  machine types, owned, in definition order
    size_t type_count;           //  entries in use
    size_t type_cap;             //  entries allocated
    hpt_scale_tier_def_t *tiers; //  scale tiers, owned
    size_t tier_count;           //  entries in use
    size_t tier_cap;             //  entries allocated
};

typedef struct {
    const char *name;    //  machine type name
    double cpus;         //  vCPUs
    double memory_gb;    //  GiB
    const char *accel;   //  accelerator type or NULL
    int64_t accel_count; //  accelerators
} s_builtin_type_t;

static const s_builtin_type_t s_builtin_types[] = {
    {"standard", 4, 15, NULL, 0},
    {"large_model", 8, 52, NULL, 0},
    {"complex_model_s", 8, 7.2, NULL, 0},
    {"complex_model_m", 16, 14.4, NULL, 0},
    {"complex_model_l", 32, 28.8, NULL, 0},
    {"standard_gpu", 4, 15, "NVIDIA_TESLA_K80", 1},
    {"complex_model_m_gpu", 16, 14.4, "NVIDIA_TESLA_K80", 4},
    {"complex_model_l_gpu", 32, 28.8, "NVIDIA_TESLA_K80", 8},
    {"standard_p100", 4, 15, "NVIDIA_TESLA_P100", 1},
    {"complex_model_m_p100", 16, 14.4, "NVIDIA_TESLA_P100", 4},
    {"standard_v100", 4, 15, "NVIDIA_TESLA_V100", 1},
    {"large_model_v100", 8, 52, "NVIDIA_TESLA_V100", 1},
    {"complex_model_m_v100", 16, 14.4, "NVIDIA_TESLA_V100", 4},
    {"complex_model_l_v100", 32, 28.8, "NVIDIA_TESLA_V100", 8},
    {"cloud_tpu", 1, 0, "TPU_V2", 8},
};

//  Compute Engine N1 families: memory is a fixed ratio per vCPU.
typedef struct {
    const char *prefix; //  family name with its trailing '-'
    double gb_per_cpu;  //  GiB per vCPU
    int sizes[8];       //  vCPU counts offered, 0-terminated
} s_family_t;

static const s_family_t s_families[] = {
    {"n1-standard-", 3.75, {4, 8, 16, 32, 64, 96, 0}},
    {"n1-highmem-", 6.5, {2, 4, 8, 16, 32, 64, 96, 0}},
    {"n1-highcpu-", 0.9, {16, 32, 64, 96, 0}},
};

typedef struct {
    const char *name;   //  tier name
    const char *master; //  master machine type
    const char *worker; //  worker type, NULL for none
    int64_t workers;    //  worker count
    const char *ps;     //  parameter server type, NULL for none
    int64_t ps_count;   //  parameter server count
} s_builtin_tier_t;

static const s_builtin_tier_t s_builtin_tiers[] = {
    {"BASIC", "standard", NULL, 0, NULL, 0},
    {"STANDARD_1", "standard", "standard", 4, "standard", 3},
    {"PREMIUM_1", "large_model", "large_model", 19, "standard", 11},
    {"BASIC_GPU", "standard_gpu", NULL, 0, NULL, 0},
    {"BASIC_TPU", "standard", "cloud_tpu", 1, NULL, 0},
};

//  ---------------------------------------------------------------------
//  Catalog

static void
s_type_clear (hpt_machine_type_t *type)
{
    free (type->name);
    free (type->accelerator_type);
    memset (type, 0, sizeof (*type));
}

static void
s_replica_set (hpt_tier_replica_t *replica, const char *type, int64_t count)
{
    free (replica->type);
    replica->type = type ? hpt_strdup (type) : NULL;
    replica->count = count;
}

static void
s_tier_clear (hpt_scale_tier_def_t *tier)
{
    free (tier->name);
    free (tier->master.type);
    free (tier->worker.type);
    free (tier->parameter_server.type);
    free (tier->evaluator.type);
    memset (tier, 0, sizeof (*tier));
}

hpt_machine_catalog_t *
hpt_machine_catalog_new (void)
{
    hpt_machine_catalog_t *self = hpt_calloc (1, sizeof (*self));
    for (size_t i = 0; i < sizeof (s_builtin_types) / sizeof (s_builtin_types[0]); i++) {
        const s_builtin_type_t *b = &s_builtin_types[i];
        hpt_machine_catalog_set_type (self, b->name, b->cpus, b->memory_gb, b->accel,
                                      b->accel_count);
    }
    for (size_t f = 0; f < sizeof (s_families) / sizeof (s_families[0]); f++)
        for (const int *n = s_families[f].sizes; *n; n++) {
            char name[HPT_MACHINE_NAME_MAX];
            snprintf (name, sizeof (name), "%s%d", s_families[f].prefix, *n);
            hpt_machine_catalog_set_type (self, name, *n, *n * s_families[f].gb_per_cpu, NULL, 0);
        }
    for (size_t i = 0; i < self->type_count; i++)
        self->types[i].builtin = true;
    for (size_t i = 0; i < sizeof (s_builtin_tiers) / sizeof (s_builtin_tiers[0]); i++) {
        const s_builtin_tier_t *b = &s_builtin_tiers[i];
        hpt_scale_tier_def_t tier = {
            .name = (char *)b->name,
            .master = {(char *)b->master, 1},
            .worker = {(char *)b->worker, b->workers},
            .parameter_server = {(char *)b->ps, b->ps_count},
        };
        hpt_machine_catalog_set_tier (self, &tier);
        self->tiers[self->tier_count - 1].builtin = true;
    }
    return self;
}

void
hpt_machine_catalog_destroy (hpt_machine_catalog_t **self_p)
{
    if (!self_p || !*self_p) return;
    hpt_machine_catalog_t *self = *self_p;
    for (size_t i = 0; i < self->type_count; i++)
        s_type_clear (&self->types[i]);
    for (size_t i = 0; i < self->tier_count; i++)
        s_tier_clear (&self->tiers[i]);
    free (self->types);
    free (self->tiers);
    free (self);
    *self_p = NULL;
}

//  Grows an array of elements of size bytes so that one more fits.
static void *
s_grow (void *array, size_t count, size_t *cap, size_t size)
{
    if (count < *cap) return array;
    size_t new_cap = *cap ? *cap * 2 : 64;
    void *grown = hpt_realloc (array, new_cap * size);
    *cap = new_cap;
    return grown;
}

void
hpt_machine_catalog_set_type (hpt_machine_catalog_t *self, const char *name, double cpus,
                              double memory_gb, const char *accelerator_type,
                              int64_t accelerator_count)
{
    hpt_machine_type_t *type = (hpt_machine_type_t *)hpt_machine_catalog_type (self, name);
    if (type)
        s_type_clear (type);
    else {
        self->types = s_grow (self->types, self->type_count, &self->type_cap, sizeof (*type));
        type = &self->types[self->type_count++];
        memset (type, 0, sizeof (*type));
    }
    type->name = hpt_strdup (name);
    type->cpus = cpus;
    type->memory_gb = memory_gb;
    type->accelerator_type = accelerator_type ? hpt_strdup (accelerator_type) : NULL;
    type->accelerator_count = accelerator_type ? accelerator_count : 0;
}

void
hpt_machine_catalog_set_tier (hpt_machine_catalog_t *self, const hpt_scale_tier_def_t *tier)
{
    hpt_scale_tier_def_t *copy =
        (hpt_scale_tier_def_t *)hpt_machine_catalog_tier (self, tier->name);
    if (copy)
        s_tier_clear (copy);
    else {
        self->tiers = s_grow (self->tiers, self->tier_count, &self->tier_cap, sizeof (*copy));
        copy = &self->tiers[self->tier_count++];
        memset (copy, 0, sizeof (*copy));
    }
    copy->name = hpt_strdup (tier->name);
    s_replica_set (&copy->master, tier->master.type, tier->master.count);
    s_replica_set (&copy->worker, tier->worker.type, tier->worker.count);
    s_replica_set (&copy->parameter_server, tier->parameter_server.type,
                   tier->parameter_server.count);
    s_replica_set (&copy->evaluator, tier->evaluator.type, tier->evaluator.count);
}

const hpt_machine_type_t *
hpt_machine_catalog_type (hpt_machine_catalog_t *self, const char *name)
{
    for (size_t i = 0; name && i < self->type_count; i++)
        if (strcmp (self->types[i].name, name) == 0) return &self->types[i];
    return NULL;
}

const hpt_scale_tier_def_t *
hpt_machine_catalog_tier (hpt_machine_catalog_t *self, const char *name)
{
    for (size_t i = 0; name && i < self->tier_count; i++)
        if (strcmp (self->tiers[i].name, name) == 0) return &self->tiers[i];
    return NULL;
}

size_t
hpt_machine_catalog_type_count (hpt_machine_catalog_t *self)
{
    return self->type_count;
}

const hpt_machine_type_t *
hpt_machine_catalog_type_at (hpt_machine_catalog_t *self, size_t i)
{
    return i < self->type_count ? &self->types[i] : NULL;
}

size_t
hpt_machine_catalog_tier_count (hpt_machine_catalog_t *self)
{
    return self->tier_count;
}

const hpt_scale_tier_def_t *
hpt_machine_catalog_tier_at (hpt_machine_catalog_t *self, size_t i)
{
    return i < self->tier_count ? &self->tiers[i] : NULL;
}

const char *
hpt_machine_catalog_suggest_type (hpt_machine_catalog_t *self, const char *name)
{
    if (!name || self->type_count == 0) return NULL;
    const char **names = hpt_malloc (self->type_count * sizeof (char *));
    for (size_t i = 0; i < self->type_count; i++)
        names[i] = self->types[i].name;
    const char *hint = hpt_schema_did_you_mean (name, names, self->type_count);
    free (names);
    return hint;
}

int64_t
hpt_machine_memory_mb (double memory_gb)
{
    return (int64_t)llround (memory_gb * 1024.0);
}

//  ---------------------------------------------------------------------
//  Expansion of a job into the tasks of one trial cluster

//  One replica kind as the job asks for it.
typedef struct {
    const char *replica;                //  TF_CONFIG's name of the kind
    const char *type_field;             //  trainingInput field that named the type
    const char *count_field;            //  trainingInput field that set the count
    const char *type;                   //  machine type name (borrowed)
    int64_t count;                      //  replicas
    const hpt_replica_config_t *config; //  the job's ReplicaConfig (borrowed)
} s_kind_t;

//  Appends one problem to a "; "-separated message in buf.
static void
s_problem (char *buf, size_t size, const char *format, ...)
{
    size_t used = strlen (buf);
    if (used + 3 >= size) return;
    if (used) used += snprintf (buf + used, size - used, "; ");
    va_list args;
    va_start (args, format);
    vsnprintf (buf + used, size - used, format, args);
    va_end (args);
}

//  Fills kinds[4] from the job: its tier's replicas, or CUSTOM's fields.
//  Returns false (with problems in buf) when the tier is unknown.
static bool
s_kinds (hpt_machine_catalog_t *self, hpt_job_t *job, s_kind_t kinds[4], char *buf, size_t size)
{
    const hpt_training_input_t *in = &job->input;
    kinds[0] = (s_kind_t){"master", "masterType", NULL, NULL, 1, &in->master_config};
    kinds[1] = (s_kind_t){"worker", "workerType", "workerCount", NULL, 0, &in->worker_config};
    kinds[2] = (s_kind_t){"ps", "parameterServerType",       "parameterServerCount", NULL,
                          0,    &in->parameter_server_config};
    kinds[3] =
        (s_kind_t){"evaluator", "evaluatorType", "evaluatorCount", NULL, 0, &in->evaluator_config};
    if (in->scale_tier == HPT_SCALE_TIER_CUSTOM) {
        kinds[0].type = in->master_type;
        kinds[1].type = in->worker_type;
        kinds[1].count = in->worker_count;
        kinds[2].type = in->parameter_server_type;
        kinds[2].count = in->parameter_server_count;
        kinds[3].type = in->evaluator_type;
        kinds[3].count = in->evaluator_count;
        return true;
    }
    const char *name = hpt_scale_tier_name (in->scale_tier);
    const hpt_scale_tier_def_t *tier = hpt_machine_catalog_tier (self, name);
    if (!tier) {
        s_problem (buf, size, "trainingInput.scaleTier: unknown scale tier '%s'",
                   name ? name : "?");
        return false;
    }
    const hpt_tier_replica_t *replicas[4] = {&tier->master, &tier->worker, &tier->parameter_server,
                                             &tier->evaluator};
    for (size_t k = 0; k < 4; k++) {
        kinds[k].type = replicas[k]->type;
        kinds[k].count = k == 0 ? 1 : replicas[k]->count;
        //  The types came from the tier, not from the job: name the tier in
        //  messages.
        kinds[k].type_field = NULL;
    }
    return true;
}

//  Checks one kind; returns the machine type, or NULL (with a problem in
//  buf) when the kind is wanted but its type is missing or unknown.
static const hpt_machine_type_t *
s_kind_type (hpt_machine_catalog_t *self, hpt_job_t *job, const s_kind_t *kind, char *buf,
             size_t size)
{
    const char *tier = hpt_scale_tier_name (job->input.scale_tier);
    if (kind->count < 0 || kind->count > HPT_MACHINE_MAX_REPLICAS) {
        s_problem (buf, size, "%s%s: must be between 0 and %d replicas, got %lld",
                   kind->type_field ? "trainingInput." : "",
                   kind->type_field ? kind->count_field : kind->replica, HPT_MACHINE_MAX_REPLICAS,
                   (long long)kind->count);
        return NULL;
    }
    if (!kind->type) {
        if (kind->type_field && kind->count_field)
            s_problem (buf, size, "trainingInput.%s: required when %s is %lld", kind->type_field,
                       kind->count_field, (long long)kind->count);
        else if (kind->type_field)
            s_problem (buf, size, "trainingInput.%s: required with scaleTier CUSTOM",
                       kind->type_field);
        else
            s_problem (buf, size, "scaleTiers.%s: no machine type for %s", tier, kind->replica);
        return NULL;
    }
    const hpt_machine_type_t *type = hpt_machine_catalog_type (self, kind->type);
    if (type) return type;
    const char *hint = hpt_machine_catalog_suggest_type (self, kind->type);
    char where[128];
    if (kind->type_field)
        snprintf (where, sizeof (where), "trainingInput.%s", kind->type_field);
    else
        snprintf (where, sizeof (where), "scaleTiers.%s (%s)", tier, kind->replica);
    if (hint)
        s_problem (buf, size, "%s: unknown machine type '%s' (did you mean '%s'?)", where,
                   kind->type, hint);
    else
        s_problem (buf, size,
                   "%s: unknown machine type '%s' (neither built in nor defined in the "
                   "cluster file's machineTypes)",
                   where, kind->type);
    return NULL;
}

int
hpt_machine_catalog_tasks (hpt_machine_catalog_t *self, hpt_job_t *job, hpt_task_spec_t **tasks,
                           size_t *count, hpt_error_t *error)
{
    *tasks = NULL;
    *count = 0;
    if (!job) return hpt_error_set (error, HPT_E_INVALID, "no job to expand");
    char buf[2048] = "";
    s_kind_t kinds[4];
    const hpt_machine_type_t *types[4] = {NULL, NULL, NULL, NULL};
    size_t total = 0;
    if (s_kinds (self, job, kinds, buf, sizeof (buf)))
        for (size_t k = 0; k < 4; k++) {
            if (kinds[k].count == 0) continue;
            types[k] = s_kind_type (self, job, &kinds[k], buf, sizeof (buf));
            if (types[k]) total += (size_t)kinds[k].count;
        }
    if (*buf) return hpt_error_set (error, HPT_E_INVALID, "%s", buf);
    hpt_task_spec_t *list = hpt_calloc (total, sizeof (hpt_task_spec_t));
    size_t n = 0;
    for (size_t k = 0; k < 4; k++)
        for (int64_t i = 0; types[k] && i < kinds[k].count; i++) {
            hpt_task_spec_t *task = &list[n++];
            const hpt_accel_config_t *accel = &kinds[k].config->accelerator;
            bool override = kinds[k].config->present && accel->present && accel->type;
            const char *accel_type = override ? accel->type : types[k]->accelerator_type;
            task->replica = kinds[k].replica;
            task->index = (size_t)i;
            task->machine_type = hpt_strdup (types[k]->name);
            task->cpus = types[k]->cpus;
            task->memory_mb = hpt_machine_memory_mb (types[k]->memory_gb);
            task->accelerator_type = accel_type ? hpt_strdup (accel_type) : NULL;
            task->accelerator_count = override     ? accel->count
                                      : accel_type ? types[k]->accelerator_count
                                                   : 0;
        }
    *tasks = list;
    *count = n;
    return 0;
}

void
hpt_task_specs_destroy (hpt_task_spec_t **tasks_p, size_t count)
{
    if (!tasks_p || !*tasks_p) return;
    for (size_t i = 0; i < count; i++) {
        free ((*tasks_p)[i].machine_type);
        free ((*tasks_p)[i].accelerator_type);
    }
    free (*tasks_p);
    *tasks_p = NULL;
}
