/*  hpt_insight -- the console's views beyond the Job (see hpt_insight.h)

    Parameter importance. The GP of Bayesian optimization (hpt_gp) has one
    length scale per parameter (ARD), fitted by maximum a posteriori on
    the results, in the unit-cube coordinates the optimizer searches (a
    log-scaled parameter on its log range; a categorical one on "same
    category or not"). A length scale says over how much of the
    parameter's range the objective changes appreciably: 1/length is how
    many such changes fit in the whole range. The importance shown is
    1/length normalized to sum to 1 over the parameters: a share of how
    the model explains the objective's variation, not a causal or
    interaction measure, and only as good as the fit (few results, a
    noisy objective or a parameter that matters only with another make it
    uncertain). It is the fit the suggestions use (the first m results,
    m the last refit checkpoint), but computed here, by the job's own
    optimizer in the loop's thread: the suggester's cached fit lives in
    its actor. So the first request after each checkpoint fits once, on
    the loop, on at most FIT_CAP results (about 0.1 s with 200 of them;
    the checkpoints past 200 results are 25% apart), and later requests
    reuse that fit. Moving it to the suggester needs the console to wait
    for an answer that comes later, which it does not do yet.

    Final metrics. For each trial, the tags it reported (one index seek
    per tag) and the last point of each (one seek): a few thousand seeks
    for a thousand trials, read when the console asks, never per event.
*/
#include "hpt_insight.h"
#include "hpt_accel.h"
#include "hpt_alloc.h"
#include "hpt_launch.h"
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static json_t *
s_step_json (int64_t step)
{
    char text[32];
    snprintf (text, sizeof (text), "%" PRId64, step);
    return json_string (text);
}

//  A double as JSON: non-finite values as the text the API uses for them.
static json_t *
s_value_json (double value)
{
    if (isfinite (value)) return json_real (value);
    return json_string (isnan (value) ? "NaN" : value < 0 ? "-Infinity" : "Infinity");
}

static void
s_importance (hpt_tuner_t *tuner, json_t *out)
{
    hpt_space_t *space = hpt_tuner_space (tuner);
    hpt_optimizer_t *optimizer = hpt_tuner_optimizer (tuner);
    if (!space || !optimizer) {
        json_object_set_new (out, "parameterImportanceUnavailable",
                             json_string ("the job has no parameters to tune"));
        return;
    }
    size_t d = hpt_space_size (space), results = 0;
    double *scales = hpt_calloc (d, sizeof (double));
    size_t used = hpt_optimizer_length_scales (optimizer, scales, &results);
    if (used == 0) {
        json_object_set_new (out, "parameterImportanceUnavailable",
                             json_string ("the model needs at least 2 finished trials with an "
                                          "objective value"));
        free (scales);
        return;
    }
    double total = 0;
    for (size_t j = 0; j < d; j++)
        total += 1.0 / scales[j];
    json_t *parameters = json_array ();
    for (size_t j = 0; j < d; j++)
        json_array_append_new (parameters,
                               json_pack ("{s:s, s:f, s:f}", "parameterName",
                                          hpt_space_param (space, j)->name, "lengthScale",
                                          scales[j], "importance", (1.0 / scales[j]) / total));
    json_object_set_new (out, "parameterImportance",
                         json_pack ("{s:s, s:I, s:I, s:o}", "method", "GP_LENGTH_SCALES",
                                    "fittedOn", (json_int_t)used, "results", (json_int_t)results,
                                    "parameters", parameters));
    free (scales);
}

static void
s_early_stopping (hpt_tuner_t *tuner, json_t *out)
{
    hpt_stopping_t *stopping = hpt_tuner_stopping (tuner);
    if (!stopping) return;
    const hpt_stop_config_t *config = hpt_stopping_config (stopping);
    bool asha = config->rule == HPT_EARLY_STOP_ASHA;
    json_t *rule = json_pack ("{s:s, s:o, s:I, s:I}", "rule", asha ? "ASHA" : "MEDIAN", "budget",
                              s_step_json (hpt_stopping_max_resource (stopping)),
                              "minCompletedTrials", (json_int_t)config->min_completed_trials,
                              "warmupSteps", (json_int_t)config->warmup_steps);
    hpt_stop_reference_t *points = hpt_calloc (HPT_INSIGHT_CURVE_MAX, sizeof (*points));
    json_t *list = json_array ();
    if (asha) {
        json_object_set_new (rule, "reductionFactor", json_real (config->reduction_factor));
        size_t n = hpt_stopping_rungs (stopping, points, HPT_INSIGHT_CURVE_MAX);
        for (size_t i = 0; i < n; i++) {
            json_t *rung = json_pack (
                "{s:o, s:I, s:I}", "trainingStep", s_step_json (points[i].step), "recorded",
                (json_int_t)points[i].count, "continuing", (json_int_t)points[i].keep);
            if (points[i].has_value)
                json_object_set_new (rung, "cutoff", s_value_json (points[i].value));
            json_array_append_new (list, rung);
        }
        json_object_set_new (rule, "rungs", list);
    } else {
        size_t n = hpt_stopping_median_curve (stopping, points, HPT_INSIGHT_CURVE_MAX);
        for (size_t i = 0; i < n; i++)
            json_array_append_new (list, json_pack ("{s:o, s:o, s:I}", "trainingStep",
                                                    s_step_json (points[i].step), "value",
                                                    s_value_json (points[i].value), "references",
                                                    (json_int_t)points[i].count));
        json_object_set_new (rule, "median", list);
    }
    free (points);
    json_object_set_new (out, "earlyStopping", rule);
}

//  {TAG: {trainingStep, value}} of a trial's last points, at most
//  HPT_INSIGHT_TAGS_MAX tags (*truncated: it reported more). NULL with
//  *error on a store error.
static json_t *
s_final_metrics (hpt_tuner_t *tuner, hpt_store_t *store, hpt_trial_t *trial, bool *truncated,
                 hpt_error_t *error)
{
    json_t *tags = NULL;
    if (hpt_store_metric_tags (store, hpt_tuner_id (tuner), trial->id, &tags, error)) return NULL;
    json_t *metrics = json_object ();
    const char *objective_tag = hpt_tuner_metric_tag (tuner);
    const char *objective_task = hpt_tuner_objective_task (tuner, trial);
    for (size_t i = 0; i < json_array_size (tags) && i < HPT_INSIGHT_TAGS_MAX; i++) {
        const char *tag = json_string_value (json_array_get (tags, i));
        //  The objective is its objective replica's; other tags any task's.
        const char *task = strcmp (tag, objective_tag) == 0 ? objective_task : NULL;
        json_t *last = NULL;
        if (hpt_store_metrics_last (store, hpt_tuner_id (tuner), trial->id, tag, task, 1, &last,
                                    error)) {
            json_decref (tags);
            json_decref (metrics);
            return NULL;
        }
        json_t *point = json_array_get (last, 0);
        if (point)
            json_object_set_new (
                metrics, tag,
                json_pack ("{s:o, s:O}", "trainingStep",
                           s_step_json (json_integer_value (json_object_get (point, "step"))),
                           "value", json_object_get (point, "value")));
        json_decref (last);
    }
    *truncated = json_array_size (tags) > HPT_INSIGHT_TAGS_MAX;
    json_decref (tags);
    return metrics;
}

json_t *
hpt_insight_job (hpt_tuner_t *tuner, hpt_store_t *store, hpt_error_t *error)
{
    json_t *out = json_object ();
    s_importance (tuner, out);
    s_early_stopping (tuner, out);
    json_t *finals = json_array ();
    json_object_set_new (out, "finalMetrics", finals);
    for (size_t i = 0; i < hpt_tuner_trial_count (tuner); i++) {
        hpt_trial_t *trial = hpt_tuner_trial (tuner, i);
        bool truncated;
        json_t *metrics = s_final_metrics (tuner, store, trial, &truncated, error);
        if (!metrics) {
            json_decref (out);
            return NULL;
        }
        json_t *entry =
            json_pack ("{s:o, s:o}", "trialId", s_step_json (trial->id), "metrics", metrics);
        if (truncated) json_object_set_new (entry, "hptTagsTruncated", json_true ());
        json_array_append_new (finals, entry);
    }
    return out;
}

//  ---------------------------------------------------------------------
//  One trial

//  The node's accelerator of kind (GPU or TPU) with that index, or NULL.
static hpt_host_accel_t *
s_accel (hpt_host_t *node, bool tpu, int64_t index)
{
    for (size_t i = 0; node && i < node->accel_count; i++) {
        const hpt_accel_info_t *info = hpt_accel_lookup (node->accels[i].type);
        bool is_tpu = info && info->kind == HPT_ACCEL_KIND_TPU;
        if (is_tpu == tpu && node->accels[i].index == index) return &node->accels[i];
    }
    return NULL;
}

//  The task's GPUs or TPUs with what the node says of each.
static json_t *
s_devices (hpt_host_t *node, json_t *indexes, bool tpu)
{
    json_t *list = json_array ();
    size_t i;
    json_t *value;
    json_array_foreach (indexes, i, value) {
        json_int_t index = json_integer_value (value);
        json_t *device = json_pack ("{s:I}", "index", index);
        hpt_host_accel_t *accel = s_accel (node, tpu, index);
        if (accel) {
            json_object_set_new (device, "type", json_string (accel->type));
            json_object_set_new (device, "numaNode", json_integer (accel->numa_node));
            if (accel->pci_bus_id)
                json_object_set_new (device, "pciBusId", json_string (accel->pci_bus_id));
        }
        json_array_append_new (list, device);
    }
    return list;
}

//  The CLUSTER_SPEC the task's LAUNCH carries (TF_CONFIG without "job",
//  which holds the job's trainingInput and so its env values), parsed;
//  NULL when the trial is not wholly placed yet.
static json_t *
s_cluster_spec (hpt_tuner_t *tuner, hpt_trial_t *trial, hpt_task_t *task)
{
    for (size_t k = 0; k < trial->task_count; k++)
        if (!trial->tasks[k].placement) return NULL;
    hpt_error_t error;
    hpt_msg_t *launch = hpt_launch_build (hpt_tuner_spec (tuner), trial, task, &error);
    if (!launch) return NULL;
    const char *text = hpt_msg_env_var (launch, "CLUSTER_SPEC");
    json_t *spec = text ? json_loads (text, 0, NULL) : NULL;
    hpt_msg_destroy (&launch);
    return spec;
}

static json_t *
s_task_json (hpt_core_t *core, hpt_tuner_t *tuner, hpt_trial_t *trial, hpt_task_t *task)
{
    const hpt_task_request_t *request = task->request;
    json_t *out = json_pack ("{s:s, s:s, s:i, s:s, s:i, s:s, s:f, s:I}", "taskId", task->task_id,
                             "replica", request->replica, "index", request->index, "state",
                             hpt_task_state_name (task->state), "attempt", task->attempt,
                             "machineType", request->machine_type, "cpus", request->cpus,
                             "memoryMb", (json_int_t)request->memory_mb);
    if (request->accel_type)
        json_object_set_new (
            out, "acceleratorConfig",
            json_pack ("{s:s, s:i}", "type", request->accel_type, "count", request->accel_count));
    if (request->image) json_object_set_new (out, "imageUri", json_string (request->image));
    if (task->pid > 0) json_object_set_new (out, "pid", json_integer (task->pid));
    if (task->has_exit) {
        json_object_set_new (out, "exitCode", json_integer (task->exit_code));
        if (task->signal) json_object_set_new (out, "signal", json_integer (task->signal));
    }
    char time[40];
    if (task->start_time > 0)
        json_object_set_new (out, "startTime",
                             json_string (hpt_time_format (task->start_time, time, sizeof (time))));
    if (task->end_time > 0)
        json_object_set_new (out, "endTime",
                             json_string (hpt_time_format (task->end_time, time, sizeof (time))));
    if (!task->agent || !task->placement) return out;
    hpt_host_t *node = hpt_core_node (core, task->agent);
    json_object_set_new (out, "node", json_string (task->agent));
    json_t *placement = task->placement;
    json_object_set (out, "host", json_object_get (placement, "host"));
    json_object_set (out, "port", json_object_get (placement, "port"));
    json_object_set (out, "cores", json_object_get (placement, "cores"));
    json_object_set_new (out, "gpus", s_devices (node, json_object_get (placement, "gpus"), false));
    json_object_set_new (out, "tpus", s_devices (node, json_object_get (placement, "tpus"), true));
    json_t *spec = s_cluster_spec (tuner, trial, task);
    if (spec) json_object_set_new (out, "clusterSpec", spec);
    return out;
}

//  The exited tasks of a finished job keep no placement in memory
//  (hpt_tuner); the view reads the trial's back from the store, for as
//  long as it renders. Returns which it read (a bit per task, as many as
//  a trial has; freed by the caller).
static bool *
s_borrow_placements (hpt_store_t *store, hpt_trial_t *trial)
{
    bool *borrowed = hpt_calloc (trial->task_count ? trial->task_count : 1, sizeof (bool));
    for (size_t k = 0; k < trial->task_count; k++) {
        hpt_task_t *task = &trial->tasks[k];
        json_t *row = NULL;
        if (task->placement || !task->agent ||
            hpt_store_task_get (store, task->task_id, &row, NULL) != 0)
            continue;
        json_t *placement = json_object_get (row, "placement_json");
        if (json_is_object (placement)) {
            task->placement = json_incref (placement);
            borrowed[k] = true;
        }
        json_decref (row);
    }
    return borrowed;
}

static void
s_return_placements (hpt_trial_t *trial, bool **borrowed_p)
{
    for (size_t k = 0; k < trial->task_count; k++)
        if ((*borrowed_p)[k]) {
            json_decref (trial->tasks[k].placement);
            trial->tasks[k].placement = NULL;
        }
    free (*borrowed_p);
    *borrowed_p = NULL;
}

json_t *
hpt_insight_trial (hpt_core_t *core, hpt_tuner_t *tuner, hpt_trial_t *trial, hpt_error_t *error)
{
    hpt_store_t *store = hpt_core_store (core);
    bool truncated;
    json_t *metrics = s_final_metrics (tuner, store, trial, &truncated, error);
    if (!metrics) return NULL;
    json_t *out = hpt_tuner_trial_to_json (tuner, store, trial);
    json_object_set_new (out, "hptFinalMetrics", metrics);
    if (truncated) json_object_set_new (out, "hptTagsTruncated", json_true ());
    bool *borrowed = s_borrow_placements (store, trial);
    json_t *tasks = json_array ();
    for (size_t k = 0; k < trial->task_count; k++)
        json_array_append_new (tasks, s_task_json (core, tuner, trial, &trial->tasks[k]));
    s_return_placements (trial, &borrowed);
    json_object_set_new (out, "hptTasks", tasks);
    return out;
}

//  ---------------------------------------------------------------------
//  Holders of a node's accelerators

//  Marks the accelerators in indexes (of kind tpu) as held by task_id.
static void
s_mark (json_t *accels, hpt_host_t *node, json_t *indexes, bool tpu, const char *task_id)
{
    size_t i;
    json_t *value;
    json_array_foreach (indexes, i, value) {
        hpt_host_accel_t *accel = s_accel (node, tpu, json_integer_value (value));
        if (accel)
            json_object_set_new (json_array_get (accels, (size_t)(accel - node->accels)), "heldBy",
                                 json_string (task_id));
    }
}

void
hpt_insight_node_holders (hpt_core_t *core, hpt_host_t *node, json_t *node_json)
{
    json_t *accels = json_object_get (node_json, "accelerators");
    if (node->accel_count == 0 || json_array_size (accels) != node->accel_count) return;
    size_t count;
    hpt_tuner_t **tuners = hpt_core_jobs (core, &count);
    //  Only jobs that are not finished hold anything.
    for (size_t j = 0; j < count; j++) {
        if (hpt_tuner_finished (tuners[j])) continue;
        for (size_t t = 0; t < hpt_tuner_trial_count (tuners[j]); t++) {
            hpt_trial_t *trial = hpt_tuner_trial (tuners[j], t);
            for (size_t k = 0; k < trial->task_count; k++) {
                hpt_task_t *task = &trial->tasks[k];
                if (task->state == HPT_TASK_EXITED || !task->agent || !task->placement ||
                    strcmp (task->agent, node->name) != 0)
                    continue;
                s_mark (accels, node, json_object_get (task->placement, "gpus"), false,
                        task->task_id);
                s_mark (accels, node, json_object_get (task->placement, "tpus"), true,
                        task->task_id);
            }
        }
    }
}
