/*  hpt_job -- the Job resource: model, canonical JSON

    The writer decides the canonical form: keys in the order of the REST
    reference, int64 fields (counts, acceleratorConfig.count) as strings,
    int32 fields (maxTrials, priority) as numbers, durations as "7200s",
    optional fields omitted when unset. Everything a reader defaulted is
    written, so a normalized job says exactly what will run.
*/
#include "hpt_job.h"
#include "hpt_alloc.h"
#include "hpt_space.h"
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

HPT_ENUM_DEFINE (hpt_scale_tier, HPT_SCALE_TIER_LIST)
HPT_ENUM_DEFINE (hpt_metrics_replica, HPT_METRICS_REPLICA_LIST)

hpt_job_t *
hpt_job_new (void)
{
    return hpt_calloc (1, sizeof (hpt_job_t));
}

static void
s_strv_free (char **strv, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free (strv[i]);
    free (strv);
}

static void
s_kv_free (hpt_kv_t *kv, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free (kv[i].name);
        free (kv[i].value);
    }
    free (kv);
}

static void
s_replica_clear (hpt_replica_config_t *self)
{
    free (self->accelerator.type);
    free (self->image_uri);
    s_strv_free (self->container_command, self->container_command_count);
    s_strv_free (self->container_args, self->container_args_count);
    free (self->tpu_tf_version);
}

void
hpt_job_destroy (hpt_job_t **self_p)
{
    if (!self_p || !*self_p) return;
    hpt_job_t *self = *self_p;
    hpt_training_input_t *in = &self->input;
    free (self->job_id);
    s_kv_free (self->labels, self->label_count);
    free (in->master_type);
    free (in->worker_type);
    free (in->parameter_server_type);
    free (in->evaluator_type);
    s_replica_clear (&in->master_config);
    s_replica_clear (&in->worker_config);
    s_replica_clear (&in->parameter_server_config);
    s_replica_clear (&in->evaluator_config);
    if (in->hyperparameters) {
        hpt_hyperparameters_t *hp = in->hyperparameters;
        for (size_t i = 0; i < hp->param_count; i++)
            hpt_param_spec_clear (&hp->params[i]);
        free (hp->params);
        free (hp->metric_tag);
        free (hp->resume_previous_job_id);
        free (hp);
    }
    s_strv_free (in->args, in->arg_count);
    free (in->job_dir);
    s_strv_free (in->package_uris, in->package_uri_count);
    free (in->python_module);
    free (in->region);
    free (in->runtime_version);
    free (in->python_version);
    s_strv_free (in->command, in->command_count);
    free (in->working_dir);
    free (in->run_as);
    s_kv_free (in->env, in->env_count);
    free (in->stdout_regex);
    free (self);
    *self_p = NULL;
}

void
hpt_job_set_id (hpt_job_t *self, const char *job_id)
{
    free (self->job_id);
    self->job_id = job_id ? hpt_strdup (job_id) : NULL;
}

//  ---------------------------------------------------------------------
//  Canonical JSON

static json_t *
s_int64 (int64_t value)
{
    char buf[32];
    snprintf (buf, sizeof (buf), "%" PRId64, value);
    return json_string (buf);
}

static json_t *
s_duration (double seconds)
{
    char num[40], buf[48];
    hpt_format_double (seconds, num, sizeof (num));
    snprintf (buf, sizeof (buf), "%ss", num);
    return json_string (buf);
}

static json_t *
s_strv (char **strv, size_t count)
{
    json_t *array = json_array ();
    for (size_t i = 0; i < count; i++)
        json_array_append_new (array, json_string (strv[i]));
    return array;
}

static json_t *
s_kv (hpt_kv_t *kv, size_t count)
{
    json_t *object = json_object ();
    for (size_t i = 0; i < count; i++)
        json_object_set_new (object, kv[i].name, json_string (kv[i].value));
    return object;
}

//  A number that is integral stays an integer in JSON (minValue: 40).
static json_t *
s_number (double value)
{
    if (value == floor (value) && fabs (value) < 9007199254740992.0)
        return json_integer ((json_int_t)value);
    return json_real (value);
}

static void
s_set_str (json_t *object, const char *key, const char *value)
{
    if (value) json_object_set_new (object, key, json_string (value));
}

static json_t *
s_param (const hpt_param_spec_t *p)
{
    json_t *out = json_object ();
    json_object_set_new (out, "parameterName", json_string (p->name));
    json_object_set_new (out, "type", json_string (hpt_param_type_name (p->type)));
    if (p->type == HPT_PARAM_DOUBLE || p->type == HPT_PARAM_INTEGER) {
        json_object_set_new (out, "minValue", s_number (p->min_value));
        json_object_set_new (out, "maxValue", s_number (p->max_value));
    }
    if (p->type == HPT_PARAM_DISCRETE) {
        json_t *values = json_array ();
        for (size_t i = 0; i < p->discrete_count; i++)
            json_array_append_new (values, s_number (p->discrete_values[i]));
        json_object_set_new (out, "discreteValues", values);
    }
    if (p->type == HPT_PARAM_CATEGORICAL)
        json_object_set_new (out, "categoricalValues",
                             s_strv (p->categorical_values, p->categorical_count));
    if (p->scale != HPT_SCALE_NONE)
        json_object_set_new (out, "scaleType", json_string (hpt_scale_name (p->scale)));
    return out;
}

static json_t *
s_hyperparameters (const hpt_hyperparameters_t *hp)
{
    json_t *out = json_object ();
    if (hp->goal != HPT_GOAL_UNSPECIFIED)
        json_object_set_new (out, "goal", json_string (hpt_goal_name (hp->goal)));
    if (hp->param_count) {
        json_t *params = json_array ();
        for (size_t i = 0; i < hp->param_count; i++)
            json_array_append_new (params, s_param (&hp->params[i]));
        json_object_set_new (out, "params", params);
    }
    json_object_set_new (out, "maxTrials", json_integer (hp->max_trials));
    json_object_set_new (out, "maxParallelTrials", json_integer (hp->max_parallel_trials));
    json_object_set_new (out, "maxFailedTrials", json_integer (hp->max_failed_trials));
    s_set_str (out, "hyperparameterMetricTag", hp->metric_tag);
    s_set_str (out, "resumePreviousJobId", hp->resume_previous_job_id);
    json_object_set_new (out, "enableTrialEarlyStopping",
                         json_boolean (hp->enable_trial_early_stopping));
    const hpt_early_stopping_t *es = &hp->early_stopping;
    if (es->present) {
        json_t *e = json_object ();
        json_object_set_new (e, "rule", json_string (hpt_early_stop_rule_name (es->rule)));
        if (es->min_completed_trials >= 0)
            json_object_set_new (e, "minCompletedTrials", json_integer (es->min_completed_trials));
        if (es->warmup_steps >= 0)
            json_object_set_new (e, "warmupSteps", json_integer (es->warmup_steps));
        if (es->reduction_factor > 0)
            json_object_set_new (e, "reductionFactor", s_number (es->reduction_factor));
        if (es->min_resource >= 0)
            json_object_set_new (e, "minResource", json_integer (es->min_resource));
        if (es->max_resource >= 0)
            json_object_set_new (e, "maxResource", json_integer (es->max_resource));
        json_object_set_new (out, "earlyStopping", e);
    }
    if (hp->has_algorithm)
        json_object_set_new (out, "algorithm", json_string (hpt_algorithm_name (hp->algorithm)));
    return out;
}

static void
s_replica (json_t *out, const char *type_key, const char *type, const char *config_key,
           const hpt_replica_config_t *config, const char *count_key, int64_t count)
{
    s_set_str (out, type_key, type);
    if (config->present) {
        json_t *c = json_object ();
        if (config->accelerator.present) {
            json_t *a = json_object ();
            json_object_set_new (a, "count", s_int64 (config->accelerator.count));
            s_set_str (a, "type", config->accelerator.type);
            json_object_set_new (c, "acceleratorConfig", a);
        }
        s_set_str (c, "imageUri", config->image_uri);
        if (config->container_command_count)
            json_object_set_new (
                c, "containerCommand",
                s_strv (config->container_command, config->container_command_count));
        if (config->has_container_args)
            json_object_set_new (c, "containerArgs",
                                 s_strv (config->container_args, config->container_args_count));
        s_set_str (c, "tpuTfVersion", config->tpu_tf_version);
        json_object_set_new (out, config_key, c);
    }
    if (count_key && count > 0) json_object_set_new (out, count_key, s_int64 (count));
}

json_t *
hpt_job_training_input_to_json (hpt_job_t *self)
{
    hpt_training_input_t *in = &self->input;
    json_t *out = json_object ();
    json_object_set_new (out, "scaleTier", json_string (hpt_scale_tier_name (in->scale_tier)));
    s_replica (out, "masterType", in->master_type, "masterConfig", &in->master_config, NULL, 0);
    s_replica (out, "workerType", in->worker_type, "workerConfig", &in->worker_config,
               "workerCount", in->worker_count);
    s_replica (out, "parameterServerType", in->parameter_server_type, "parameterServerConfig",
               &in->parameter_server_config, "parameterServerCount", in->parameter_server_count);
    s_replica (out, "evaluatorType", in->evaluator_type, "evaluatorConfig", &in->evaluator_config,
               "evaluatorCount", in->evaluator_count);
    if (in->hyperparameters)
        json_object_set_new (out, "hyperparameters", s_hyperparameters (in->hyperparameters));
    if (in->arg_count) json_object_set_new (out, "args", s_strv (in->args, in->arg_count));
    s_set_str (out, "jobDir", in->job_dir);
    if (in->package_uri_count)
        json_object_set_new (out, "packageUris", s_strv (in->package_uris, in->package_uri_count));
    s_set_str (out, "pythonModule", in->python_module);
    s_set_str (out, "region", in->region);
    s_set_str (out, "runtimeVersion", in->runtime_version);
    s_set_str (out, "pythonVersion", in->python_version);
    if (in->scheduling.present) {
        json_t *s = json_object ();
        if (in->scheduling.max_running_time > 0)
            json_object_set_new (s, "maxRunningTime", s_duration (in->scheduling.max_running_time));
        if (in->scheduling.max_wait_time > 0)
            json_object_set_new (s, "maxWaitTime", s_duration (in->scheduling.max_wait_time));
        json_object_set_new (s, "priority", json_integer (in->scheduling.priority));
        json_object_set_new (out, "scheduling", s);
    }
    json_object_set_new (out, "useChiefInTfConfig", json_boolean (in->use_chief_in_tf_config));
    if (in->command_count)
        json_object_set_new (out, "command", s_strv (in->command, in->command_count));
    s_set_str (out, "workingDir", in->working_dir);
    s_set_str (out, "runAs", in->run_as);
    if (in->env_count) json_object_set_new (out, "env", s_kv (in->env, in->env_count));
    if (in->stdout_regex || in->stdout_metrics || in->metrics_from_evaluator) {
        json_t *mc = json_object ();
        json_object_set_new (mc, "stdout", json_boolean (in->stdout_metrics));
        if (in->metrics_from_evaluator)
            json_object_set_new (
                mc, "replica", json_string (hpt_metrics_replica_name (HPT_METRICS_FROM_EVALUATOR)));
        if (in->stdout_regex)
            json_object_set_new (mc, "stdoutRegex", json_string (in->stdout_regex));
        json_object_set_new (out, "metricCollector", mc);
    }
    return out;
}

void
hpt_job_take_labels (hpt_job_t *self, hpt_job_t *other)
{
    s_kv_free (self->labels, self->label_count);
    self->labels = other->labels;
    self->label_count = other->label_count;
    other->labels = NULL;
    other->label_count = 0;
}

json_t *
hpt_job_to_json (hpt_job_t *self)
{
    json_t *out = json_object ();
    s_set_str (out, "jobId", self->job_id);
    if (self->label_count)
        json_object_set_new (out, "labels", s_kv (self->labels, self->label_count));
    json_object_set_new (out, "trainingInput", hpt_job_training_input_to_json (self));
    return out;
}

const hpt_replica_config_t *
hpt_job_replica_config (hpt_job_t *self, const char *replica)
{
    hpt_training_input_t *in = &self->input;
    if (!replica) return NULL;
    if (strcmp (replica, "master") == 0) return &in->master_config;
    if (strcmp (replica, "worker") == 0) return &in->worker_config;
    if (strcmp (replica, "ps") == 0) return &in->parameter_server_config;
    if (strcmp (replica, "evaluator") == 0) return &in->evaluator_config;
    return NULL;
}

bool
hpt_job_container (hpt_job_t *self, const char *replica, hpt_container_spec_t *spec)
{
    memset (spec, 0, sizeof (*spec));
    const hpt_replica_config_t *own = hpt_job_replica_config (self, replica);
    const hpt_replica_config_t *master = &self->input.master_config;
    if (!own) return false;
    //  A replica without an image of its own runs the master's, as the
    //  master runs it unless it says otherwise.
    const hpt_replica_config_t *fallback = own->image_uri ? own : master;
    spec->image = own->image_uri ? own->image_uri : master->image_uri;
    if (!spec->image) return false;
    const hpt_replica_config_t *command = own->container_command_count ? own : fallback;
    spec->command = (const char *const *)command->container_command;
    spec->command_count = command->container_command_count;
    const hpt_replica_config_t *args = own->has_container_args ? own : fallback;
    spec->has_args = args->has_container_args;
    spec->args = (const char *const *)args->container_args;
    spec->args_count = args->container_args_count;
    return true;
}
