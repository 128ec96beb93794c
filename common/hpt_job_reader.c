/*  hpt_job_reader -- reads and validates a job config (YAML or JSON)

    How it works. The document is loaded into an hpt_tree (positions kept)
    and walked with hpt_schema, one field table per object of the schema:
    known keys with a handler each (hpt_schema's own for plain members),
    unknown keys reported with the closest known name. After its fields,
    an object's rules tie fields together (min < max, counts need their
    type, ...). hpt_schema keeps the field path, so every message names
    its field both as a dotted path and as a JSON pointer, and it reads
    scalars the way every config reader does (int64 and double fields
    accept strings too, because the REST API writes int64 as strings).

    "Not given or not usable" is kept in the model's own fields until the
    rules have run: a bound of a parameter is NaN (no config value can be),
    maxTrials and maxFailedTrials are -1, goal and type are their
    UNSPECIFIED values (no config may name them). The rules skip what is
    not usable, so one bad value is one problem, and the defaults are
    filled in after them.
*/
#include "hpt_job_reader.h"
#include "hpt_alloc.h"
#include "hpt_line_metrics.h"
#include "hpt_schema.h"
#include "hpt_tree.h"
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_LIST 1000   //  args, packageUris, command, categories, values, env, labels
#define S_MAX_PARAMS 100  //  parameters of one job
#define S_MAX_COUNT 10000 //  replicas of one kind
#define S_MAX_INT32 2147483647
#define S_MAX_STEPS (INT64_MAX / 4) //  steps and resources: far beyond any run, and no overflow

//  A non-empty string into *out that ok accepts; otherwise reports
//  "'TEXT' WHY".
static bool
s_checked (hpt_schema_t *r, hpt_node_t *v, char **out, bool (*ok) (const char *), const char *why)
{
    if (!hpt_schema_string (r, v, true, out)) return false;
    if (ok (*out)) return true;
    hpt_schema_error (r, v, "'%s' %s", *out, why);
    return false;
}

//  ---------------------------------------------------------------------
//  ParameterSpec

static bool
s_param_name_ok (const char *name)
{
    if (!name || !(isalpha ((unsigned char)name[0]) || name[0] == '_') || strlen (name) > 128)
        return false;
    for (const char *c = name; *c; c++)
        if (!isalnum ((unsigned char)*c) && *c != '_' && *c != '-' && *c != '.') return false;
    return true;
}

static bool
s_p_name (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    return s_checked (r, v, &((hpt_param_spec_t *)t)->name, s_param_name_ok,
                      "is not a usable flag name: use a letter or '_' first, then letters, "
                      "digits, '_', '-' or '.' (at most 128)");
}

typedef struct {
    double *values; //  being filled, one per item
    bool ok;        //  every item so far read and in order
} s_discrete_t;

static bool
s_discrete_item (hpt_schema_t *r, hpt_node_t *parent, size_t i, void *t)
{
    s_discrete_t *d = t;
    if (!hpt_schema_double (r, parent->items[i], HPT_SCHEMA_ANY, &d->values[i]))
        d->ok = false;
    else if (d->ok && i > 0 && !(d->values[i] > d->values[i - 1])) {
        d->ok = false;
        hpt_schema_error (r, parent->items[i], "discreteValues must be strictly increasing");
    }
    return d->ok;
}

static bool
s_p_discrete (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    hpt_param_spec_t *spec = t;
    s_discrete_t d = {
        hpt_calloc (v->kind == HPT_NODE_SEQ && v->count ? v->count : 1, sizeof (double)), true};
    if (v->kind == HPT_NODE_SEQ && v->count == 0) {
        hpt_schema_error (r, v, "must list at least one value");
        d.ok = false;
    } else if (!hpt_schema_list (r, v, S_MAX_LIST, "values", s_discrete_item, &d))
        d.ok = false;
    if (!d.ok) {
        free (d.values);
        return false;
    }
    free (spec->discrete_values);
    spec->discrete_values = d.values;
    spec->discrete_count = v->count;
    return true;
}

static bool
s_category_item (hpt_schema_t *r, hpt_node_t *parent, size_t i, void *t)
{
    char **strv = t;
    if (!hpt_schema_string (r, parent->items[i], true, &strv[i])) return false;
    for (size_t j = 0; j < i; j++)
        if (strv[j] && strcmp (strv[j], strv[i]) == 0) {
            hpt_schema_error (r, parent->items[i], "duplicate category '%s'", strv[i]);
            return false;
        }
    return true;
}

static bool
s_p_categorical (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    hpt_param_spec_t *spec = t;
    if (v->kind == HPT_NODE_SEQ && v->count == 0) {
        hpt_schema_error (r, v, "must list at least one category");
        return false;
    }
    size_t before = r->problems;
    char **strv = hpt_calloc (v->kind == HPT_NODE_SEQ && v->count ? v->count : 1, sizeof (char *));
    if (!hpt_schema_list (r, v, S_MAX_LIST, "categories", s_category_item, strv) ||
        r->problems != before) {
        for (size_t i = 0; v->kind == HPT_NODE_SEQ && i < v->count && i < S_MAX_LIST; i++)
            free (strv[i]);
        free (strv);
        return false;
    }
    spec->categorical_values = strv;
    spec->categorical_count = v->count;
    return true;
}

static const hpt_schema_field_t s_param_fields[] = {
    HPT_SCHEMA_REQUIRED ("parameterName", s_p_name, ""),
    HPT_SCHEMA_ENTRY ("type", hpt_schema_enum_field,
                      .required = "DOUBLE, INTEGER, CATEGORICAL or DISCRETE",
                      .offset = offsetof (hpt_param_spec_t, type), .values = &hpt_param_type_enum,
                      .refused = 1u << HPT_PARAM_TYPE_UNSPECIFIED),
    HPT_SCHEMA_DOUBLE ("minValue", hpt_param_spec_t, min_value, -HUGE_VAL, HUGE_VAL, false),
    HPT_SCHEMA_DOUBLE ("maxValue", hpt_param_spec_t, max_value, -HUGE_VAL, HUGE_VAL, false),
    HPT_SCHEMA_FIELD ("discreteValues", s_p_discrete),
    HPT_SCHEMA_FIELD ("categoricalValues", s_p_categorical),
    HPT_SCHEMA_ENUM ("scaleType", hpt_param_spec_t, scale, hpt_scale_enum, 0),
};

//  Which fields apply to which types, and that the numeric ones are
//  there and usable.
static void
s_param_type_rules (hpt_schema_t *r, hpt_node_t *node, hpt_param_spec_t *s)
{
    bool numeric = s->type == HPT_PARAM_DOUBLE || s->type == HPT_PARAM_INTEGER;
    const char *type = hpt_param_type_name (s->type);
    static const char *only[][2] = {{"minValue", "DOUBLE and INTEGER"},
                                    {"maxValue", "DOUBLE and INTEGER"},
                                    {"discreteValues", "DISCRETE"},
                                    {"categoricalValues", "CATEGORICAL"}};
    for (size_t i = 0; i < 4; i++) {
        bool allowed =
            i < 2 ? numeric
                  : (i == 2 ? s->type == HPT_PARAM_DISCRETE : s->type == HPT_PARAM_CATEGORICAL);
        if (!allowed && hpt_schema_has (node, only[i][0]))
            hpt_schema_error_child (r, hpt_node_get (node, only[i][0]), only[i][0],
                                    "applies only to %s parameters, not %s", only[i][1], type);
    }
    if (!numeric) return;
    double *bounds[] = {&s->min_value, &s->max_value};
    static const char *keys[] = {"minValue", "maxValue"};
    for (size_t i = 0; i < 2; i++)
        if (!hpt_schema_has (node, keys[i]))
            hpt_schema_error_child (r, node, keys[i], "required for %s parameters", type);
    for (size_t i = 0; i < 2 && s->type == HPT_PARAM_INTEGER; i++)
        if (!isnan (*bounds[i]) && (*bounds[i] != floor (*bounds[i]) || fabs (*bounds[i]) > 9e15)) {
            hpt_schema_error_child (r, hpt_node_get (node, keys[i]), keys[i],
                                    "must be an integer for INTEGER parameters");
            *bounds[i] = NAN; //  reported: not usable below
        }
    if (!isnan (s->min_value) && !isnan (s->max_value) && !(s->min_value < s->max_value))
        hpt_schema_error_child (r, hpt_node_get (node, "maxValue"), "maxValue",
                                "must be greater than minValue (%g)", s->min_value);
}

//  Cross-field rules of one parameter (its required fields are checked by
//  the table).
static void
s_param_rules (hpt_schema_t *r, hpt_node_t *node, hpt_param_spec_t *s)
{
    if (s->type == HPT_PARAM_TYPE_UNSPECIFIED) return; //  missing or unknown: reported
    s_param_type_rules (r, node, s);
    if (s->type == HPT_PARAM_DISCRETE && !hpt_schema_has (node, "discreteValues"))
        hpt_schema_error_child (r, node, "discreteValues", "required for DISCRETE parameters");
    if (s->type == HPT_PARAM_CATEGORICAL && !hpt_schema_has (node, "categoricalValues"))
        hpt_schema_error_child (r, node, "categoricalValues",
                                "required for CATEGORICAL parameters");
    if (s->type == HPT_PARAM_CATEGORICAL && s->scale != HPT_SCALE_NONE)
        hpt_schema_error_child (r, hpt_node_get (node, "scaleType"), "scaleType",
                                "does not apply to CATEGORICAL parameters");
    bool log = s->scale == HPT_SCALE_LOG || s->scale == HPT_SCALE_REVERSE_LOG;
    bool numeric = s->type == HPT_PARAM_DOUBLE || s->type == HPT_PARAM_INTEGER;
    if (log && numeric && !isnan (s->min_value) && !(s->min_value > 0))
        hpt_schema_error_child (r, hpt_node_get (node, "minValue"), "minValue",
                                "must be greater than 0 with %s", hpt_scale_name (s->scale));
    if (log && s->type == HPT_PARAM_DISCRETE && s->discrete_count && !(s->discrete_values[0] > 0))
        hpt_schema_error_child (r, hpt_node_get (node, "discreteValues"), "discreteValues",
                                "values must be greater than 0 with %s", hpt_scale_name (s->scale));
}

static bool
s_param_item (hpt_schema_t *r, hpt_node_t *parent, size_t i, void *t)
{
    hpt_param_spec_t *params = t;
    hpt_node_t *node = parent->items[i];
    hpt_param_spec_t *spec = &params[i];
    spec->min_value = spec->max_value = NAN;
    if (hpt_schema_object (r, node, HPT_SCHEMA_FIELDS (s_param_fields), spec)) {
        s_param_rules (r, node, spec);
        for (size_t j = 0; j < i && spec->name; j++)
            if (params[j].name && strcmp (params[j].name, spec->name) == 0) {
                hpt_schema_error_child (r, hpt_node_get (node, "parameterName"), "parameterName",
                                        "duplicate parameter name '%s' (also params[%zu])",
                                        spec->name, j);
                break;
            }
    }
    if (isnan (spec->min_value)) spec->min_value = 0;
    if (isnan (spec->max_value)) spec->max_value = 0;
    return true;
}

//  ---------------------------------------------------------------------
//  HyperparameterSpec

static bool
s_h_params (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    hpt_hyperparameters_t *hp = t;
    if (v->kind == HPT_NODE_SEQ && v->count <= S_MAX_PARAMS) {
        hp->params = hpt_calloc (v->count ? v->count : 1, sizeof (hpt_param_spec_t));
        hp->param_count = v->count;
    }
    return hpt_schema_list (r, v, S_MAX_PARAMS, "parameters", s_param_item, hp->params);
}

static bool
s_h_tag (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    hpt_hyperparameters_t *hp = t;
    if (!hpt_schema_string (r, v, true, &hp->metric_tag)) return false;
    if (strlen (hp->metric_tag) > 256) {
        hpt_schema_error (r, v, "longer than 256 bytes");
        return false;
    }
    //  The agent reports its own samples of a task's devices under "hpt/"
    //  (docs/trainer-contract.md): they are no trainer's objective.
    if (strncmp (hp->metric_tag, HPT_RESERVED_TAG_PREFIX, strlen (HPT_RESERVED_TAG_PREFIX)) == 0) {
        hpt_schema_error (r, v, "tags beginning with '%s' are reserved for hpt's own metrics",
                          HPT_RESERVED_TAG_PREFIX);
        return false;
    }
    return true;
}

static bool
s_h_resume (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    return s_checked (r, v, &((hpt_hyperparameters_t *)t)->resume_previous_job_id, hpt_job_id_valid,
                      "is not a job id (a letter, then letters, digits or '_')");
}

static const hpt_schema_field_t s_early_fields[] = {
    HPT_SCHEMA_ENUM ("rule", hpt_early_stopping_t, rule, hpt_early_stop_rule_enum,
                     1u << HPT_EARLY_STOP_DECAY_CURVE),
    HPT_SCHEMA_INT64 ("minCompletedTrials", hpt_early_stopping_t, min_completed_trials, 0, 100000),
    HPT_SCHEMA_INT64 ("warmupSteps", hpt_early_stopping_t, warmup_steps, 0, S_MAX_STEPS),
    //  ASHA's eta: keeps 1 in eta trials per rung, so it must exceed 1.
    HPT_SCHEMA_DOUBLE ("reductionFactor", hpt_early_stopping_t, reduction_factor, 1, 100, true),
    HPT_SCHEMA_INT64 ("minResource", hpt_early_stopping_t, min_resource, 1, S_MAX_STEPS),
    HPT_SCHEMA_INT64 ("maxResource", hpt_early_stopping_t, max_resource, 1, S_MAX_STEPS),
};

static bool
s_h_early_stopping (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    hpt_early_stopping_t *es = &((hpt_hyperparameters_t *)t)->early_stopping;
    es->present = true;
    if (!hpt_schema_object (r, v, HPT_SCHEMA_FIELDS (s_early_fields), es)) return false;
    if (es->rule != HPT_EARLY_STOP_ASHA) {
        static const char *asha_only[] = {"reductionFactor", "minResource", "maxResource"};
        for (size_t i = 0; i < 3; i++)
            if (hpt_schema_has (v, asha_only[i]))
                hpt_schema_error_child (r, hpt_node_get (v, asha_only[i]), asha_only[i],
                                        "applies only to rule asha");
    }
    //  The first rung is minResource (1 when left out).
    if (es->max_resource > 0 && es->max_resource <= (es->min_resource > 0 ? es->min_resource : 1))
        hpt_schema_error_child (r, hpt_node_get (v, "maxResource"), "maxResource",
                                "must be greater than minResource");
    return true;
}

static const hpt_schema_field_t s_hyper_fields[] = {
    HPT_SCHEMA_FIELD ("earlyStopping", s_h_early_stopping),
    HPT_SCHEMA_ENUM ("goal", hpt_hyperparameters_t, goal, hpt_goal_enum,
                     1u << HPT_GOAL_UNSPECIFIED),
    HPT_SCHEMA_FIELD ("params", s_h_params),
    HPT_SCHEMA_INT64 ("maxTrials", hpt_hyperparameters_t, max_trials, 1, S_MAX_INT32),
    HPT_SCHEMA_INT64 ("maxParallelTrials", hpt_hyperparameters_t, max_parallel_trials, 1,
                      S_MAX_INT32),
    HPT_SCHEMA_INT64 ("maxFailedTrials", hpt_hyperparameters_t, max_failed_trials, 0, S_MAX_INT32),
    HPT_SCHEMA_FIELD ("hyperparameterMetricTag", s_h_tag),
    HPT_SCHEMA_FIELD ("resumePreviousJobId", s_h_resume),
    HPT_SCHEMA_BOOL ("enableTrialEarlyStopping", hpt_hyperparameters_t,
                     enable_trial_early_stopping),
    HPT_SCHEMA_ENUM ("algorithm", hpt_hyperparameters_t, algorithm, hpt_algorithm_enum, 0),
};

static void
s_hyper_rules (hpt_schema_t *r, hpt_node_t *node, hpt_hyperparameters_t *hp)
{
    bool resuming = hp->resume_previous_job_id != NULL;
    hpt_node_t *params = hpt_node_get (node, "params");
    if (!hpt_schema_has (node, "params") && !resuming)
        hpt_schema_error_child (r, node, "params",
                                "required field is missing (it may be omitted only with "
                                "resumePreviousJobId)");
    else if (params && params->kind == HPT_NODE_SEQ && params->count == 0 && !resuming)
        hpt_schema_error_child (r, params, "params", "must list at least one parameter");
    if (hp->early_stopping.present && !hp->enable_trial_early_stopping)
        hpt_schema_error_child (
            r, hpt_node_get (node, "earlyStopping"), "earlyStopping",
            "configures early stopping, which needs enableTrialEarlyStopping: true");
    if (hp->max_failed_trials >= 0 && hp->max_trials >= 0 && hp->max_failed_trials > hp->max_trials)
        hpt_schema_error_child (r, hpt_node_get (node, "maxFailedTrials"), "maxFailedTrials",
                                "must not exceed maxTrials (%" PRId64 ")", hp->max_trials);
    if (hp->algorithm == HPT_ALGORITHM_GRID_SEARCH && params && params->kind == HPT_NODE_SEQ)
        for (size_t i = 0; i < hp->param_count; i++)
            if (hp->params[i].type == HPT_PARAM_DOUBLE) {
                hpt_schema_push_key (r, "params");
                hpt_schema_push_index (r, i);
                hpt_schema_error_child (
                    r, hpt_node_get (params->items[i], "type"), "type",
                    "GRID_SEARCH accepts only INTEGER, DISCRETE and CATEGORICAL "
                    "parameters");
                hpt_schema_pop (r);
                hpt_schema_pop (r);
            }
}

//  Defaults, once the rules have seen what was given. A resumed job
//  inherits goal, tag and algorithm when the config leaves them out, so
//  those stay unset.
static void
s_hyper_defaults (hpt_node_t *node, hpt_hyperparameters_t *hp)
{
    hp->defaulted_max_trials = hp->max_trials < 0;
    if (hp->max_trials < 0) hp->max_trials = 1;
    if (hp->max_failed_trials < 0) hp->max_failed_trials = 0;
    hp->has_algorithm = hpt_schema_has (node, "algorithm");
    if (hp->resume_previous_job_id) return;
    hp->defaulted_goal = hp->goal == HPT_GOAL_UNSPECIFIED;
    if (hp->goal == HPT_GOAL_UNSPECIFIED) hp->goal = HPT_GOAL_MAXIMIZE;
    hp->defaulted_metric_tag = !hp->metric_tag;
    if (!hp->metric_tag) hp->metric_tag = hpt_strdup (HPT_DEFAULT_METRIC_TAG);
    hp->has_algorithm = true;
}

//  ---------------------------------------------------------------------
//  ReplicaConfig and AcceleratorConfig

static bool
s_a_type (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    const hpt_accel_info_t *info = hpt_schema_accel (r, v);
    if (!info) return false;
    hpt_accel_config_t *a = t;
    free (a->type);
    a->type = hpt_strdup (info->name);
    return true;
}

static const hpt_schema_field_t s_accel_fields[] = {
    HPT_SCHEMA_INT64 ("count", hpt_accel_config_t, count, 1, 64),
    HPT_SCHEMA_REQUIRED ("type", s_a_type, ""),
};

static bool
s_r_accel (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    hpt_accel_config_t *a = &((hpt_replica_config_t *)t)->accelerator;
    a->present = true;
    a->count = 1; //  the default when count is left out
    if (!hpt_schema_object (r, v, HPT_SCHEMA_FIELDS (s_accel_fields), a)) return false;
    //  CUDA enumerates one MIG instance per process (NVIDIA's MIG user
    //  guide, "CUDA Device Enumeration"): a second would be given and
    //  never used.
    const hpt_accel_info_t *info = hpt_accel_lookup (a->type);
    if (info && info->mig_parent && a->count > 1) {
        hpt_schema_error (r, v,
                          "count: a MIG instance type (%s) takes count 1: CUDA uses one MIG "
                          "instance per process",
                          a->type);
        return false;
    }
    return true;
}

//  An image reference as podman and docker take it ([registry/]name[:tag]
//  [@digest]): it goes into the container runtime's command line, so
//  nothing there may read as an option or hold a space.
static bool
s_image_ok (const char *image)
{
    bool ok = strlen (image) <= 1024 && isalnum ((unsigned char)image[0]);
    for (const char *c = image; ok && *c; c++)
        ok = isalnum ((unsigned char)*c) || strchr ("._-/:@+", *c);
    return ok;
}

static bool
s_r_image (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    return s_checked (r, v, &((hpt_replica_config_t *)t)->image_uri, s_image_ok,
                      "is not an image reference like gcr.io/project/trainer:1 (letters, digits "
                      "and ._-/:@+, a letter or digit first, at most 1024)");
}

static bool
s_r_command (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    hpt_replica_config_t *c = t;
    if (!hpt_schema_strings (r, v, S_MAX_LIST, true, &c->container_command,
                             &c->container_command_count))
        return false;
    if (c->container_command_count == 0) hpt_schema_error (r, v, "must name the program to run");
    return true;
}

static bool
s_r_args (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    hpt_replica_config_t *c = t;
    if (!hpt_schema_strings (r, v, S_MAX_LIST, false, &c->container_args, &c->container_args_count))
        return false;
    c->has_container_args = true;
    return true;
}

static const hpt_schema_field_t s_replica_fields[] = {
    HPT_SCHEMA_FIELD ("acceleratorConfig", s_r_accel),
    HPT_SCHEMA_FIELD ("imageUri", s_r_image),
    HPT_SCHEMA_FIELD ("containerCommand", s_r_command),
    HPT_SCHEMA_FIELD ("containerArgs", s_r_args),
    HPT_SCHEMA_STRING ("tpuTfVersion", hpt_replica_config_t, tpu_tf_version),
};

//  masterConfig, workerConfig, ... (the table's offset says which).
static bool
s_i_replica (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    hpt_replica_config_t *c = (hpt_replica_config_t *)((char *)t + f->offset);
    c->present = true;
    return hpt_schema_object (r, v, HPT_SCHEMA_FIELDS (s_replica_fields), c);
}

//  ---------------------------------------------------------------------
//  Scheduling and metricCollector

static const hpt_schema_field_t s_scheduling_fields[] = {
    HPT_SCHEMA_SECONDS ("maxRunningTime", hpt_scheduling_t, max_running_time),
    HPT_SCHEMA_SECONDS ("maxWaitTime", hpt_scheduling_t, max_wait_time),
    HPT_SCHEMA_INT64 ("priority", hpt_scheduling_t, priority, 0, 1000),
};

static bool
s_m_regex (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    hpt_training_input_t *in = t;
    if (!hpt_schema_string (r, v, true, &in->stdout_regex)) return false;
    //  The agent's own compiler (named groups tag/value/step), so what
    //  validates here is what runs there.
    hpt_error_t why;
    hpt_line_metrics_t *compiled = hpt_line_metrics_new (in->stdout_regex, &why);
    if (!compiled) {
        hpt_schema_error (r, v, "%s", why.message);
        return false;
    }
    hpt_line_metrics_destroy (&compiled);
    in->stdout_metrics = true;
    return true;
}

static bool
s_m_stdout (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    hpt_training_input_t *in = t;
    bool on = false;
    if (!hpt_schema_bool (r, v, &on)) return false;
    //  stdoutRegex turns stdout metrics on too, whatever order they come in.
    in->stdout_metrics |= on;
    return true;
}

static bool
s_m_replica (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    int replica = hpt_schema_enum (r, v, &hpt_metrics_replica_enum, 0);
    if (replica < 0) return false;
    ((hpt_training_input_t *)t)->metrics_from_evaluator = replica == HPT_METRICS_FROM_EVALUATOR;
    return true;
}

static const hpt_schema_field_t s_collector_fields[] = {
    HPT_SCHEMA_FIELD ("stdout", s_m_stdout),
    HPT_SCHEMA_FIELD ("stdoutRegex", s_m_regex),
    HPT_SCHEMA_FIELD ("replica", s_m_replica),
};

//  ---------------------------------------------------------------------
//  TrainingInput

static bool
s_i_hyper (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    hpt_training_input_t *in = t;
    hpt_hyperparameters_t *hp = hpt_calloc (1, sizeof (hpt_hyperparameters_t));
    hp->max_trials = -1;
    hp->max_parallel_trials = 1;
    hp->max_failed_trials = -1;
    hp->early_stopping.min_completed_trials = -1;
    hp->early_stopping.warmup_steps = -1;
    hp->early_stopping.min_resource = -1;
    hp->early_stopping.max_resource = -1;
    in->hyperparameters = hp;
    if (!hpt_schema_object (r, v, HPT_SCHEMA_FIELDS (s_hyper_fields), hp)) return false;
    s_hyper_rules (r, v, hp);
    s_hyper_defaults (v, hp);
    return true;
}

static bool
s_i_args (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    hpt_training_input_t *in = t;
    return hpt_schema_strings (r, v, S_MAX_LIST, false, &in->args, &in->arg_count);
}

static bool
s_i_packages (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    hpt_training_input_t *in = t;
    if (!hpt_schema_strings (r, v, S_MAX_LIST, true, &in->package_uris, &in->package_uri_count))
        return false;
    //  A URL, or (hpt extension, for `hpt jobs submit --config`) a local
    //  path, which hpt_job_check_submission refuses unless the CLI
    //  resolved it (hpt_sdist_resolve).
    for (size_t k = 0; k < in->package_uri_count; k++) {
        const char *uri = in->package_uris[k];
        if (strstr (uri, "://") && strncmp (uri, "http://", 7) && strncmp (uri, "https://", 8) &&
            strncmp (uri, "file://", 7)) {
            hpt_schema_push_index (r, k);
            hpt_schema_error (r, v->items[k],
                              "'%s': only http://, https:// and file:// URLs are supported", uri);
            hpt_schema_pop (r);
        }
    }
    return true;
}

//  A dotted Python module name: identifiers separated by single dots.
static bool
s_module_ok (const char *m)
{
    bool ok = true, start = true;
    for (const char *c = m; *c && ok; c++) {
        if (*c == '.')
            ok = !start, start = true;
        else
            ok = start ? (isalpha ((unsigned char)*c) || *c == '_')
                       : (isalnum ((unsigned char)*c) || *c == '_'),
            start = false;
    }
    return ok && !start;
}

static bool
s_i_module (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    return s_checked (r, v, &((hpt_training_input_t *)t)->python_module, s_module_ok,
                      "is not a Python module name like trainer.task");
}

static bool
s_i_scheduling (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    hpt_scheduling_t *scheduling = &((hpt_training_input_t *)t)->scheduling;
    scheduling->present = true;
    return hpt_schema_object (r, v, HPT_SCHEMA_FIELDS (s_scheduling_fields), scheduling);
}

static bool
s_i_command (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    hpt_training_input_t *in = t;
    if (!hpt_schema_strings (r, v, S_MAX_LIST, true, &in->command, &in->command_count))
        return false;
    if (in->command_count == 0) hpt_schema_error (r, v, "must name the program to run");
    return true;
}

//  A map of strings (env, labels): sorted by name once read.
typedef struct {
    hpt_kv_t *kv;                                  //  one entry per item
    bool (*key_ok) (hpt_schema_t *, hpt_node_t *); //  checks (and reports) a key
} s_string_map_t;

static bool
s_string_map_item (hpt_schema_t *r, hpt_node_t *parent, size_t i, void *t)
{
    s_string_map_t *map = t;
    map->kv[i].name = hpt_strdup (parent->keys[i]);
    bool key_ok = map->key_ok (r, parent->key_nodes[i]);
    return hpt_schema_string (r, parent->items[i], false, &map->kv[i].value) && key_ok;
}

static int
s_kv_compare (const void *a, const void *b)
{
    return strcmp (((const hpt_kv_t *)a)->name, ((const hpt_kv_t *)b)->name);
}

static bool
s_string_map (hpt_schema_t *r, hpt_node_t *node, bool (*key_ok) (hpt_schema_t *, hpt_node_t *),
              hpt_kv_t **out, size_t *count)
{
    size_t before = r->problems;
    bool fits = node->kind == HPT_NODE_MAP && node->count <= S_MAX_LIST;
    s_string_map_t map = {hpt_calloc (fits && node->count ? node->count : 1, sizeof (hpt_kv_t)),
                          key_ok};
    if (!hpt_schema_map (r, node, S_MAX_LIST, "entries", s_string_map_item, &map) ||
        r->problems != before) {
        for (size_t i = 0; fits && i < node->count; i++) {
            free (map.kv[i].name);
            free (map.kv[i].value);
        }
        free (map.kv);
        return false;
    }
    qsort (map.kv, node->count, sizeof (hpt_kv_t), s_kv_compare);
    *out = map.kv;
    *count = node->count;
    return true;
}

//  Variables hpt sets for every task; a job may not override them.
static bool
s_env_reserved (const char *name)
{
    return strcmp (name, "TF_CONFIG") == 0 || strcmp (name, "CLUSTER_SPEC") == 0 ||
           strncmp (name, "CLOUD_ML_", 9) == 0 || strncmp (name, "HPT_", 4) == 0 ||
           strcmp (name, "CUDA_VISIBLE_DEVICES") == 0 || strcmp (name, "CUDA_DEVICE_ORDER") == 0 ||
           strncmp (name, "TPU_", 4) == 0;
}

static bool
s_env_key_ok (hpt_schema_t *r, hpt_node_t *key)
{
    const char *name = key->text;
    bool ok = (isalpha ((unsigned char)name[0]) || name[0] == '_') && strlen (name) <= 256;
    for (const char *c = name; ok && *c; c++)
        ok = isalnum ((unsigned char)*c) || *c == '_';
    if (!ok) {
        hpt_schema_error (r, key, "'%s' is not an environment variable name", name);
        return false;
    }
    if (s_env_reserved (name)) {
        hpt_schema_error (r, key, "%s is set by hpt for every task and cannot be overridden", name);
        return false;
    }
    return true;
}

static bool
s_i_env (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    hpt_training_input_t *in = t;
    return s_string_map (r, v, s_env_key_ok, &in->env, &in->env_count);
}

static bool
s_i_collector (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    return hpt_schema_object (r, v, HPT_SCHEMA_FIELDS (s_collector_fields), t);
}

//  workingDir: what the protocol carries (PROTOCOL.md 5.7) and the agent
//  can resolve beneath its --workdir. A value refused here would otherwise
//  fail every trial at launch.
#define S_MAX_WORKING_DIR 1024

static const char *
s_working_dir_problem (const char *dir)
{
    if (dir[0] == '/') return "must be a relative path (it is taken beneath the agent's --workdir)";
    if (strlen (dir) > S_MAX_WORKING_DIR) return "longer than 1024 bytes";
    for (const char *c = dir; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f) return "must not contain control characters";
    for (const char *segment = dir; segment;) {
        const char *slash = strchr (segment, '/');
        size_t n = slash ? (size_t)(slash - segment) : strlen (segment);
        if (n == 2 && segment[0] == '.' && segment[1] == '.')
            return "must not contain a '..' component (it must stay beneath the agent's "
                   "--workdir)";
        segment = slash ? slash + 1 : NULL;
    }
    return NULL;
}

static bool
s_i_working_dir (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    hpt_training_input_t *in = t;
    if (!hpt_schema_string (r, v, true, &in->working_dir)) return false;
    const char *problem = s_working_dir_problem (in->working_dir);
    if (!problem) return true;
    hpt_schema_error (r, v, "%s", problem);
    return false;
}

//  runAs: a POSIX user name as the protocol carries it (PROTOCOL.md 4,
//  "user"); whether an agent runs tasks as that user is its decision.
static bool
s_user_name_ok (const char *name)
{
    bool ok = strlen (name) <= 32 && (isalpha ((unsigned char)name[0]) || name[0] == '_');
    for (const char *c = name; ok && *c; c++)
        ok = isalnum ((unsigned char)*c) || *c == '_' || *c == '.' || *c == '-';
    return ok;
}

static bool
s_i_run_as (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    return s_checked (r, v, &((hpt_training_input_t *)t)->run_as, s_user_name_ok,
                      "is not a user name: a letter or '_', then letters, digits, '_', '.' or "
                      "'-' (at most 32)");
}

//  masterConfig, workerConfig, ...: one handler, the member by offset.
#define S_REPLICA(key, member) HPT_SCHEMA_MEMBER (key, s_i_replica, hpt_training_input_t, member)

static const hpt_schema_field_t s_input_fields[] = {
    HPT_SCHEMA_ENUM ("scaleTier", hpt_training_input_t, scale_tier, hpt_scale_tier_enum, 0),
    HPT_SCHEMA_NONEMPTY ("masterType", hpt_training_input_t, master_type),
    S_REPLICA ("masterConfig", master_config),
    HPT_SCHEMA_NONEMPTY ("workerType", hpt_training_input_t, worker_type),
    S_REPLICA ("workerConfig", worker_config),
    HPT_SCHEMA_INT64 ("workerCount", hpt_training_input_t, worker_count, 0, S_MAX_COUNT),
    HPT_SCHEMA_NONEMPTY ("parameterServerType", hpt_training_input_t, parameter_server_type),
    S_REPLICA ("parameterServerConfig", parameter_server_config),
    HPT_SCHEMA_INT64 ("parameterServerCount", hpt_training_input_t, parameter_server_count, 0,
                      S_MAX_COUNT),
    HPT_SCHEMA_NONEMPTY ("evaluatorType", hpt_training_input_t, evaluator_type),
    S_REPLICA ("evaluatorConfig", evaluator_config),
    HPT_SCHEMA_INT64 ("evaluatorCount", hpt_training_input_t, evaluator_count, 0, S_MAX_COUNT),
    HPT_SCHEMA_FIELD ("hyperparameters", s_i_hyper),
    HPT_SCHEMA_FIELD ("args", s_i_args),
    HPT_SCHEMA_NONEMPTY ("jobDir", hpt_training_input_t, job_dir),
    HPT_SCHEMA_FIELD ("packageUris", s_i_packages),
    HPT_SCHEMA_FIELD ("pythonModule", s_i_module),
    HPT_SCHEMA_NONEMPTY ("region", hpt_training_input_t, region),
    HPT_SCHEMA_NONEMPTY ("runtimeVersion", hpt_training_input_t, runtime_version),
    HPT_SCHEMA_NONEMPTY ("pythonVersion", hpt_training_input_t, python_version),
    HPT_SCHEMA_FIELD ("scheduling", s_i_scheduling),
    HPT_SCHEMA_BOOL ("useChiefInTfConfig", hpt_training_input_t, use_chief_in_tf_config),
    HPT_SCHEMA_FIELD ("command", s_i_command),
    HPT_SCHEMA_FIELD ("workingDir", s_i_working_dir),
    HPT_SCHEMA_FIELD ("runAs", s_i_run_as),
    HPT_SCHEMA_FIELD ("env", s_i_env),
    HPT_SCHEMA_FIELD ("metricCollector", s_i_collector),
};

//  What the scale tier allows and requires.
static void
s_tier_rules (hpt_schema_t *r, hpt_node_t *node, hpt_training_input_t *in)
{
    static const char *kinds[][2] = {{"workerType", "workerCount"},
                                     {"parameterServerType", "parameterServerCount"},
                                     {"evaluatorType", "evaluatorCount"}};
    int64_t counts[] = {in->worker_count, in->parameter_server_count, in->evaluator_count};
    if (in->scale_tier != HPT_SCALE_TIER_CUSTOM) {
        const char *custom_only[] = {"masterType",    "workerType",  "parameterServerType",
                                     "evaluatorType", "workerCount", "parameterServerCount",
                                     "evaluatorCount"};
        for (size_t k = 0; k < 7; k++)
            if (hpt_schema_has (node, custom_only[k]))
                hpt_schema_error_child (r, hpt_node_get (node, custom_only[k]), custom_only[k],
                                        "only allowed with scaleTier CUSTOM (scaleTier is %s)",
                                        hpt_scale_tier_name (in->scale_tier));
        return;
    }
    if (!hpt_schema_has (node, "masterType"))
        hpt_schema_error_child (r, node, "masterType", "required with scaleTier CUSTOM");
    for (size_t k = 0; k < 3; k++)
        if (counts[k] > 0 && !hpt_schema_has (node, kinds[k][0]))
            hpt_schema_error_child (r, hpt_node_get (node, kinds[k][1]), kinds[k][1],
                                    "%s > 0 needs %s", kinds[k][1], kinds[k][0]);
}

//  Custom containers (AI Platform's rules): containerCommand and
//  containerArgs need an image for their replica (its own or the
//  master's), containerArgs replaces args (not both), and a master image
//  leaves no replica to run command or pythonModule.
static void
s_container_rules (hpt_schema_t *r, hpt_node_t *node, hpt_job_t *job)
{
    hpt_training_input_t *in = &job->input;
    static const char *replicas[][2] = {{"master", "masterConfig"},
                                        {"worker", "workerConfig"},
                                        {"ps", "parameterServerConfig"},
                                        {"evaluator", "evaluatorConfig"}};
    for (size_t k = 0; k < 4; k++) {
        const hpt_replica_config_t *c = hpt_job_replica_config (job, replicas[k][0]);
        hpt_container_spec_t spec;
        bool image = hpt_job_container (job, replicas[k][0], &spec);
        hpt_node_t *config = hpt_node_get (node, replicas[k][1]);
        if (!c->container_command_count && !c->has_container_args) continue;
        const char *field = c->container_command_count ? "containerCommand" : "containerArgs";
        hpt_schema_push_key (r, replicas[k][1]);
        if (!image)
            hpt_schema_error_child (r, hpt_node_get (config, field), field,
                                    "needs an image: set imageUri here or in masterConfig");
        else if (c->has_container_args && in->arg_count)
            hpt_schema_error_child (r, hpt_node_get (config, "containerArgs"), "containerArgs",
                                    "give either containerArgs or trainingInput.args, not both");
        hpt_schema_pop (r);
    }
    if (!in->master_config.image_uri) return;
    static const char *process_only[] = {"command", "pythonModule"};
    for (size_t k = 0; k < 2; k++)
        if (hpt_schema_has (node, process_only[k]))
            hpt_schema_error_child (r, hpt_node_get (node, process_only[k]), process_only[k],
                                    "not used with masterConfig.imageUri: every replica runs an "
                                    "image (containerCommand overrides its entrypoint)");
}

static void
s_input_rules (hpt_schema_t *r, hpt_node_t *node, hpt_training_input_t *in)
{
    s_tier_rules (r, node, in);
    if (in->metrics_from_evaluator && in->evaluator_count < 1) {
        hpt_node_t *mc = hpt_node_get (node, "metricCollector");
        hpt_schema_push_key (r, "metricCollector");
        hpt_schema_error_child (
            r, hpt_node_get (mc, "replica"), "replica",
            "evaluator needs an evaluator (scaleTier CUSTOM, evaluatorCount >= 1)");
        hpt_schema_pop (r);
    }
    if (in->command_count && in->python_module)
        hpt_schema_error_child (r, hpt_node_get (node, "command"), "command",
                                "give either command (hpt extension) or pythonModule, not both");
    if (in->package_uri_count && !in->python_module)
        hpt_schema_error_child (r, hpt_node_get (node, "packageUris"), "packageUris",
                                "packageUris needs pythonModule");
}

//  ---------------------------------------------------------------------
//  Job

static bool
s_j_id (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    return s_checked (r, v, &((hpt_job_t *)t)->job_id, hpt_job_id_valid,
                      "is not a valid job id: start with a letter, then use letters, digits "
                      "and '_' (at most 128)");
}

//  Label keys and values: lowercase letters, digits, '_' and '-', at most
//  63 (a key starts with a letter).
static bool
s_label_ok (const char *text, bool key)
{
    bool ok = strlen (text) <= 63 && (!key || islower ((unsigned char)text[0]));
    for (const char *c = text; ok && *c; c++)
        ok = islower ((unsigned char)*c) || isdigit ((unsigned char)*c) || *c == '_' || *c == '-';
    return ok;
}

static bool
s_label_key_ok (hpt_schema_t *r, hpt_node_t *key)
{
    if (s_label_ok (key->text, true)) return true;
    hpt_schema_error (r, key,
                      "label keys start with a lowercase letter, then lowercase letters, digits, "
                      "'_' or '-' (at most 63)");
    return false;
}

static bool
s_j_labels (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    hpt_job_t *job = t;
    if (!s_string_map (r, v, s_label_key_ok, &job->labels, &job->label_count)) return false;
    for (size_t i = 0; i < job->label_count; i++)
        if (!s_label_ok (job->labels[i].value, false)) {
            hpt_schema_push_map_key (r, job->labels[i].name);
            hpt_schema_error (
                r, hpt_node_get (v, job->labels[i].name),
                "label values use lowercase letters, digits, '_' or '-' (at most 63)");
            hpt_schema_pop (r);
        }
    return true;
}

static bool
s_j_input (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    hpt_training_input_t *in = &((hpt_job_t *)t)->input;
    if (!hpt_schema_object (r, v, HPT_SCHEMA_FIELDS (s_input_fields), in)) return false;
    s_input_rules (r, v, in);
    s_container_rules (r, v, (hpt_job_t *)t);
    return true;
}

static const hpt_schema_field_t s_job_fields[] = {
    HPT_SCHEMA_FIELD ("jobId", s_j_id),
    HPT_SCHEMA_FIELD ("labels", s_j_labels),
    HPT_SCHEMA_REQUIRED ("trainingInput", s_j_input, ""),
};

//  What a jobs.patch reads: the labels and the etag, kept in a Job
//  (labels) and beside it (the etag).
typedef struct {
    hpt_job_t *job; //  the labels read
    char *etag;     //  the etag read, or NULL
} s_patch_t;

static bool
s_p_labels (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    return s_j_labels (r, v, ((s_patch_t *)t)->job, f);
}

static bool
s_p_etag (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    return hpt_schema_string (r, v, true, &((s_patch_t *)t)->etag);
}

//  Members of a Job a patch does not change: accepted and not read.
static bool
s_p_ignored (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    return true;
}

static const hpt_schema_field_t s_patch_fields[] = {
    HPT_SCHEMA_FIELD ("labels", s_p_labels),
    HPT_SCHEMA_FIELD ("etag", s_p_etag),
    HPT_SCHEMA_FIELD ("jobId", s_p_ignored),
    HPT_SCHEMA_FIELD ("trainingInput", s_p_ignored),
    HPT_SCHEMA_FIELD ("trainingOutput", s_p_ignored),
    HPT_SCHEMA_FIELD ("predictionInput", s_p_ignored),
    HPT_SCHEMA_FIELD ("predictionOutput", s_p_ignored),
    HPT_SCHEMA_FIELD ("state", s_p_ignored),
    HPT_SCHEMA_FIELD ("errorMessage", s_p_ignored),
    HPT_SCHEMA_FIELD ("createTime", s_p_ignored),
    HPT_SCHEMA_FIELD ("startTime", s_p_ignored),
    HPT_SCHEMA_FIELD ("endTime", s_p_ignored),
    HPT_SCHEMA_FIELD ("jobPosition", s_p_ignored),
    HPT_SCHEMA_FIELD ("createdBy", s_p_ignored),
    HPT_SCHEMA_FIELD ("hptQueueReason", s_p_ignored),
};

hpt_job_t *
hpt_job_read_patch (const char *text, size_t size, char **etag, hpt_diag_t *diag)
{
    *etag = NULL;
    hpt_schema_t r;
    hpt_schema_init (&r, diag);
    hpt_node_t *root = hpt_schema_parse (&r, text, size, true);
    if (!root) return NULL;
    s_patch_t patch = {hpt_job_new (), NULL};
    hpt_schema_object (&r, root, HPT_SCHEMA_FIELDS (s_patch_fields), &patch);
    hpt_node_destroy (&root);
    if (r.problems) {
        hpt_job_destroy (&patch.job);
        free (patch.etag);
        hpt_diag_sort (diag);
        return NULL;
    }
    *etag = patch.etag;
    return patch.job;
}

bool
hpt_job_id_valid (const char *id)
{
    if (!id || !isalpha ((unsigned char)id[0]) || strlen (id) > 128) return false;
    for (const char *c = id; *c; c++)
        if (!isalnum ((unsigned char)*c) && *c != '_') return false;
    return true;
}

hpt_config_format_t
hpt_config_format_guess (const char *path, const char *text, size_t size)
{
    size_t len = path ? strlen (path) : 0;
    if (len >= 5 && strcmp (path + len - 5, ".json") == 0) return HPT_CONFIG_JSON;
    if ((len >= 5 && strcmp (path + len - 5, ".yaml") == 0) ||
        (len >= 4 && strcmp (path + len - 4, ".yml") == 0))
        return HPT_CONFIG_YAML;
    for (size_t i = 0; text && i < size; i++) {
        if (isspace ((unsigned char)text[i])) continue;
        return text[i] == '{' ? HPT_CONFIG_JSON : HPT_CONFIG_YAML;
    }
    return HPT_CONFIG_YAML;
}

hpt_job_t *
hpt_job_read_text (const char *text, size_t size, hpt_config_format_t format, hpt_diag_t *diag)
{
    if (format == HPT_CONFIG_AUTO) format = hpt_config_format_guess (NULL, text, size);
    hpt_schema_t r;
    hpt_schema_init (&r, diag);
    hpt_node_t *root = hpt_schema_parse (&r, text, size, format == HPT_CONFIG_JSON);
    if (!root) return NULL;
    hpt_job_t *job = hpt_job_new ();
    hpt_schema_object (&r, root, HPT_SCHEMA_FIELDS (s_job_fields), job);
    hpt_node_destroy (&root);
    if (r.problems) {
        hpt_job_destroy (&job);
        hpt_diag_sort (diag);
    }
    return job;
}

hpt_job_t *
hpt_job_read_file (const char *path, hpt_config_format_t format, hpt_diag_t *diag)
{
    hpt_schema_t r;
    hpt_schema_init (&r, diag);
    size_t size = 0;
    char *text = hpt_schema_read_file (&r, path, &size);
    if (!text) return NULL;
    if (format == HPT_CONFIG_AUTO) format = hpt_config_format_guess (path, text, size);
    hpt_job_t *job = hpt_job_read_text (text, size, format, diag);
    free (text);
    return job;
}

bool
hpt_job_check_submission (hpt_job_t *job, bool local_packages, hpt_diag_t *diag)
{
    hpt_training_input_t *in = &job->input;
    bool ok = true;
    for (size_t k = 0; k < in->package_uri_count && !local_packages; k++) {
        if (strstr (in->package_uris[k], "://")) continue;
        char field[64], pointer[64], google[64];
        snprintf (field, sizeof (field), "trainingInput.packageUris[%zu]", k);
        snprintf (pointer, sizeof (pointer), "/trainingInput/packageUris/%zu", k);
        snprintf (google, sizeof (google), "training_input.package_uris[%zu]", k);
        char *message = hpt_asprintf (
            "'%s' is a local path: `hpt jobs submit --config FILE` ships it (a directory "
            "built into a source distribution, relative to FILE's directory); the master "
            "takes only http://, https:// and file:// URLs",
            in->package_uris[k]);
        hpt_diag_add (diag, 0, 0, field, pointer, google, message);
        free (message);
        ok = false;
    }
    //  Every replica without an image of its own runs the master's
    //  (hpt_job_container): with none there, some replica runs a process,
    //  which needs a trainer.
    if (in->command_count || in->python_module || in->master_config.image_uri) return ok;
    hpt_diag_add (diag, 0, 0, "trainingInput", "/trainingInput", "training_input",
                  "no trainer: set trainingInput.command (hpt extension: the program to run), "
                  "trainingInput.pythonModule or "
                  "trainingInput.masterConfig.imageUri; the master refuses a job without one");
    return false;
}

void
hpt_job_notices (hpt_job_t *job, hpt_diag_t *notices)
{
    hpt_hyperparameters_t *hp = job->input.hyperparameters;
    if (!hp) return;
    if (hp->defaulted_metric_tag)
        hpt_diag_add (notices, 0, 0, "trainingInput.hyperparameters.hyperparameterMetricTag",
                      "/trainingInput/hyperparameters/hyperparameterMetricTag",
                      "training_input.hyperparameters.hyperparameter_metric_tag",
                      "not given: the default tag '" HPT_DEFAULT_METRIC_TAG
                      "' is used: the trainer must report its objective under that tag "
                      "(hypertune's default)");
    if (hp->defaulted_goal)
        hpt_diag_add (notices, 0, 0, "trainingInput.hyperparameters.goal",
                      "/trainingInput/hyperparameters/goal", "training_input.hyperparameters.goal",
                      "not given: MAXIMIZE is used (set goal: MINIMIZE for a loss)");
    if (hp->defaulted_max_trials)
        hpt_diag_add (notices, 0, 0, "trainingInput.hyperparameters.maxTrials",
                      "/trainingInput/hyperparameters/maxTrials",
                      "training_input.hyperparameters.max_trials",
                      "not given: 1 trial is run (no tuning); set maxTrials");
}
