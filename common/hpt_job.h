/*  hpt_job -- the Job resource: what a user submits and hpt stores

    The C model of AI Platform Training's Job (ml v1) as hpt accepts it:
    jobId, labels and trainingInput with the HyperparameterSpec, replica
    types and counts, ReplicaConfig (acceleratorConfig), trainer fields and
    scheduling, plus hpt's extensions (command, workingDir, env,
    metricCollector). See docs/job-config.md and README "Job config".

    A job comes from hpt_job_reader (YAML or JSON, validated, defaults
    filled in) and goes out as canonical JSON (hpt_job_to_json): camelCase
    keys in a fixed order, enum strings, int64 as strings like the REST API,
    doubles in their shortest exact form. Reading that JSON back gives the
    same model, so YAML -> model -> JSON -> model -> JSON is byte-identical.
*/
#ifndef HPT_JOB_H_INCLUDED
#define HPT_JOB_H_INCLUDED

#include "hpt_param.h"
#include "hpt_types.h"
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

//  TrainingInput.scaleTier: BASIC is the default; CUSTOM takes its
//  replicas from the job's own masterType, workerType, ... and counts.
#define HPT_SCALE_TIER_LIST(X)                                                                     \
    X (HPT_SCALE_TIER_BASIC, "BASIC")                                                              \
    X (HPT_SCALE_TIER_STANDARD_1, "STANDARD_1")                                                    \
    X (HPT_SCALE_TIER_PREMIUM_1, "PREMIUM_1")                                                      \
    X (HPT_SCALE_TIER_BASIC_GPU, "BASIC_GPU")                                                      \
    X (HPT_SCALE_TIER_BASIC_TPU, "BASIC_TPU")                                                      \
    X (HPT_SCALE_TIER_CUSTOM, "CUSTOM")
HPT_ENUM_DECLARE (hpt_scale_tier, HPT_SCALE_TIER_LIST)

//  hpt extension `metricCollector.replica`: whose metrics are the trial's
//  (the model keeps it as metrics_from_evaluator).
#define HPT_METRICS_REPLICA_LIST(X)                                                                \
    X (HPT_METRICS_FROM_MASTER, "master")                                                          \
    X (HPT_METRICS_FROM_EVALUATOR, "evaluator")
HPT_ENUM_DECLARE (hpt_metrics_replica, HPT_METRICS_REPLICA_LIST)

#define HPT_DEFAULT_METRIC_TAG "training/hptuning/metric"

//  Metric tags beginning with this are hpt's own: the agent's samples of
//  a task's GPUs ("hpt/gpu/3/utilization"). A trainer's points with such
//  a tag are stored like any other, but no job's objective may be one.
#define HPT_RESERVED_TAG_PREFIX "hpt/"

typedef struct {
    char *name;  //  owned
    char *value; //  owned
} hpt_kv_t;

typedef struct {
    bool present;  //  acceleratorConfig given
    int64_t count; //  number of accelerators
    char *type;    //  accelerator type name (hpt_accel.h), owned
} hpt_accel_config_t;

typedef struct {
    bool present;                   //  the ReplicaConfig was given
    hpt_accel_config_t accelerator; //  acceleratorConfig
    char *image_uri;                //  imageUri: the replica runs this image in a container
    char **container_command;       //  containerCommand: overrides the image's entrypoint
    size_t container_command_count; //  entries in container_command (0: not given)
    char **container_args;          //  containerArgs: overrides the image's arguments (CMD)
    size_t container_args_count;    //  entries in container_args
    bool has_container_args;        //  containerArgs given (it may be empty)
    char *tpu_tf_version;           //  tpuTfVersion: recorded, not used by hpt
} hpt_replica_config_t;

//  What one replica type runs in a container (hpt_job_container): every
//  pointer borrowed from the job. image is NULL when the replica runs a
//  process trainer (command or pythonModule) instead.
typedef struct {
    const char *image;          //  imageUri: the replica's own, else the master's
    const char *const *command; //  containerCommand, NULL: the image's entrypoint
    size_t command_count;       //  entries in command
    const char *const *args;    //  containerArgs, NULL: trainingInput.args
    size_t args_count;          //  entries in args
    bool has_args;              //  containerArgs given (replaces args and the image's CMD)
} hpt_container_spec_t;

typedef struct {
    bool present;            //  scheduling was given
    double max_running_time; //  seconds, 0 = unlimited
    double max_wait_time;    //  seconds, 0 = unlimited
    int64_t priority;        //  0..1000, larger runs first
} hpt_scheduling_t;

//  hpt extension `hyperparameters.earlyStopping`: which rule stops trials
//  early and how (the master fills what is unset from the rule's
//  defaults, see master/hpt_stopping.h; the rule enum is in hpt_types.h).
typedef struct {
    bool present;                 //  earlyStopping was given
    hpt_early_stop_rule_t rule;   //  rule
    int64_t min_completed_trials; //  minCompletedTrials, -1 = rule default
    int64_t warmup_steps;         //  warmupSteps, -1 = rule default
    double reduction_factor;      //  reductionFactor (ASHA eta), 0 = rule default
    int64_t min_resource;         //  minResource (ASHA first rung), -1 = rule default
    int64_t max_resource;         //  maxResource (ASHA budget), -1 = learn it
} hpt_early_stopping_t;

typedef struct {
    hpt_goal_t goal;                     //  UNSPECIFIED only when resuming (inherited)
    hpt_param_spec_t *params;            //  owned array
    size_t param_count;                  //  entries in params
    int64_t max_trials;                  //  default 1
    int64_t max_parallel_trials;         //  default 1
    int64_t max_failed_trials;           //  default 0 = service decides
    char *metric_tag;                    //  hyperparameterMetricTag; NULL only when resuming
    char *resume_previous_job_id;        //  NULL unless resuming
    bool enable_trial_early_stopping;    //  enableTrialEarlyStopping
    hpt_early_stopping_t early_stopping; //  hpt extension: earlyStopping
    bool has_algorithm;                  //  false only when resuming and omitted
    hpt_algorithm_t algorithm;           //  ALGORITHM_UNSPECIFIED = Bayesian optimization
    bool defaulted_goal;                 //  goal was left out and is the default (notices)
    bool defaulted_metric_tag;           //  hyperparameterMetricTag was left out: the default
    bool defaulted_max_trials;           //  maxTrials was left out: 1
} hpt_hyperparameters_t;

typedef struct {
    hpt_scale_tier_t scale_tier;                  //  scaleTier
    char *master_type;                            //  masterType (CUSTOM only)
    char *worker_type;                            //  workerType
    char *parameter_server_type;                  //  parameterServerType
    char *evaluator_type;                         //  evaluatorType
    int64_t worker_count;                         //  workerCount (CUSTOM only)
    int64_t parameter_server_count;               //  parameterServerCount
    int64_t evaluator_count;                      //  evaluatorCount
    hpt_replica_config_t master_config;           //  masterConfig
    hpt_replica_config_t worker_config;           //  workerConfig
    hpt_replica_config_t parameter_server_config; //  parameterServerConfig
    hpt_replica_config_t evaluator_config;        //  evaluatorConfig
    hpt_hyperparameters_t *hyperparameters;       //  NULL for a plain training job
    char **args;                                  //  args, owned
    size_t arg_count;                             //  entries in args
    char *job_dir;                                //  jobDir, passed as --job-dir
    char **package_uris;                          //  packageUris, owned
    size_t package_uri_count;                     //  entries in package_uris
    char *python_module;                          //  pythonModule
    char *region;                                 //  recorded
    char *runtime_version;                        //  recorded
    char *python_version;                         //  recorded
    hpt_scheduling_t scheduling;                  //  scheduling
    bool use_chief_in_tf_config;                  //  useChiefInTfConfig
    char **command;                               //  hpt extension: trainer argv
    size_t command_count;                         //  entries in command
    char *working_dir;                            //  hpt extension: workingDir
    char *run_as;                                 //  hpt extension: runAs (user name)
    hpt_kv_t *env;                                //  hpt extension: env, sorted by name
    size_t env_count;                             //  entries in env
    bool stdout_metrics;                          //  hpt extension: metricCollector.stdout
    bool metrics_from_evaluator;                  //  hpt extension: metricCollector.replica
    char *stdout_regex;                           //  hpt extension: metricCollector.stdoutRegex
} hpt_training_input_t;

typedef struct {
    char *job_id;               //  jobId, NULL when the config has none
    hpt_kv_t *labels;           //  labels, sorted by name
    size_t label_count;         //  entries in labels
    hpt_training_input_t input; //  trainingInput
} hpt_job_t;

//  Creates an empty job (every field zero/NULL). The caller owns it.
hpt_job_t *hpt_job_new (void);

//  Destroys a job and everything it owns, and nulls the pointer.
void hpt_job_destroy (hpt_job_t **self_p);

//  Sets the job id (copied), replacing any previous one.
void hpt_job_set_id (hpt_job_t *self, const char *job_id);

//  Replaces the job's labels with those of other (sorted, as the reader
//  leaves them), which keeps the job's id and training input: a
//  jobs.patch. other's labels move to self; other is left without any.
void hpt_job_take_labels (hpt_job_t *self, hpt_job_t *other);

//  Canonical JSON of the Job resource. The caller owns the returned value.
json_t *hpt_job_to_json (hpt_job_t *self);

//  The trainingInput part alone (for TF_CONFIG's "job"). Caller owns it.
json_t *hpt_job_training_input_to_json (hpt_job_t *self);

//  The ReplicaConfig of a replica type ("master", "worker", "ps" or
//  "evaluator"; NULL for another name).
const hpt_replica_config_t *hpt_job_replica_config (hpt_job_t *self, const char *replica);

//  What replica runs in a container, AI Platform's way: its config's
//  imageUri, else masterConfig's (workers and the others default to the
//  master's image); containerCommand and containerArgs its own, else,
//  when it runs the master's image, the master's. False (and *spec
//  zeroed) when the replica runs no image.
bool hpt_job_container (hpt_job_t *self, const char *replica, hpt_container_spec_t *spec);

#endif
