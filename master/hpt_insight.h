/*  hpt_insight -- what the web console shows beyond the Job resource

    hpt extensions of the REST API (docs/interfaces.md), rendered here so
    that hpt_routes only dispatches:
    - a job's insights (GET .../jobs/J/insights): how much each parameter
      explains the objective, from the GP's fitted length scales; the
      early-stopping rule's reference (the median curve or the ASHA
      rungs); and the last value of every metric tag of every trial, which
      the console's trial filters and table use;
    - one trial in detail (GET .../jobs/J/trials/T): the trial as the Job
      shows it, every tag's last value, and its cluster: each task's node,
      state, exit, resources, GPUs and TPUs with their NUMA node, cores,
      port and the CLUSTER_SPEC it got (TF_CONFIG without "job");
    - which task holds each accelerator of a node (the nodes page).
    Everything is read from the core's memory and the store; nothing here
    changes state. Results are new JSON the caller owns.
*/
#ifndef HPT_INSIGHT_H_INCLUDED
#define HPT_INSIGHT_H_INCLUDED

#include "hpt_core.h"
#include "hpt_error.h"
#include <jansson.h>

//  Most metric tags of one trial the insights and the trial detail show
//  (a trainer may report thousands; the metrics route has them all).
#define HPT_INSIGHT_TAGS_MAX 64

//  Most points of the median reference curve.
#define HPT_INSIGHT_CURVE_MAX 400

//  The insights of a job: {"parameterImportance": {...} or
//  "parameterImportanceUnavailable": "why", "earlyStopping": {...} (when
//  on), "finalMetrics": [{"trialId", "metrics": {TAG: {"trainingStep",
//  "value"}}, "hptTagsTruncated" when it reported more}...]}. NULL with *error when the store
//  cannot be read.
json_t *hpt_insight_job (hpt_tuner_t *tuner, hpt_store_t *store, hpt_error_t *error);

//  Trial trial of tuner in detail: as trainingOutput shows it, plus
//  "hptFinalMetrics" {TAG: {trainingStep, value}} and "hptTasks" (each
//  task's node, state, exit, resources, placement and clusterSpec; no
//  env value is shown). NULL with *error when the store cannot be read.
json_t *hpt_insight_trial (hpt_core_t *core, hpt_tuner_t *tuner, hpt_trial_t *trial,
                           hpt_error_t *error);

//  Adds "heldBy" (the task id) to each accelerator of node_json (a node
//  as hpt_host_to_json renders it) that a running task of a job holds.
void hpt_insight_node_holders (hpt_core_t *core, hpt_host_t *node, json_t *node_json);

#endif
