/*  Unit tests for the job model, its readers, validation and writer.

    Each validation rule has a test that feeds a minimal config breaking
    only that rule and asserts the exact field path, line:column and a
    telling part of the message.
*/
#include "hpt_job_reader.h"
#include "hpt_schema.h"
#include "hpt_json.h"
#include "hpt_test_data.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

//  A valid base job; tests append or replace lines in it.
#define BASE_HEAD                                                                                  \
    "trainingInput:\n"                                                                             \
    "  hyperparameters:\n"                                                                         \
    "    maxTrials: 10\n"                                                                          \
    "    params:\n"

#define PARAM_OK                                                                                   \
    "    - parameterName: lr\n"                                                                    \
    "      type: DOUBLE\n"                                                                         \
    "      minValue: 0.001\n"                                                                      \
    "      maxValue: 0.1\n"

static hpt_job_t *
s_read (const char *text, hpt_config_format_t format, hpt_diag_t **diag)
{
    *diag = hpt_diag_new ("t.yaml", format == HPT_CONFIG_JSON);
    return hpt_job_read_text (text, strlen (text), format, *diag);
}

//  Asserts that text gives exactly one problem, printed as
//  "t.yaml:WHERE: PATH: ..." with fragment in its message.
static void
s_expect_one (const char *text, const char *where, const char *path, const char *fragment)
{
    hpt_diag_t *diag;
    hpt_job_t *job = s_read (text, HPT_CONFIG_YAML, &diag);
    if (job || hpt_diag_count (diag) != 1) {
        hpt_diag_print (diag, stderr);
        fail_msg ("expected exactly one problem at %s %s, got %zu", where, path,
                  hpt_diag_count (diag));
    }
    char *line = hpt_diag_format (diag, 0);
    char prefix[512];
    snprintf (prefix, sizeof (prefix), "t.yaml:%s: %s: ", where, path);
    if (strncmp (line, prefix, strlen (prefix)) != 0 || !strstr (line, fragment))
        fail_msg ("got '%s', want prefix '%s' and '%s'", line, prefix, fragment);
    free (line);
    hpt_diag_destroy (&diag);
}

static void
test_seed_configs_validate (void **state)
{
    //  The seed examples, kept byte for byte as they were given.
    const char *files[] = {"tests/data/configs/valid/seed_config.yaml",
                           "tests/data/configs/valid/seed_job_spec.json"};
    for (size_t i = 0; i < 2; i++) {
        char path[1024];
        hpt_test_path (path, sizeof (path), files[i]);
        hpt_diag_t *diag = hpt_diag_new (path, i == 1);
        hpt_job_t *job = hpt_job_read_file (path, HPT_CONFIG_AUTO, diag);
        hpt_diag_print (diag, stderr);
        assert_non_null (job);
        hpt_training_input_t *in = &job->input;
        assert_int_equal (in->scale_tier, HPT_SCALE_TIER_CUSTOM);
        assert_string_equal (in->master_type, "complex_model_m");
        assert_int_equal (in->worker_count, 9);
        assert_int_equal (in->parameter_server_count, 3);
        hpt_hyperparameters_t *hp = in->hyperparameters;
        assert_int_equal (hp->goal, HPT_GOAL_MAXIMIZE);
        assert_string_equal (hp->metric_tag, "metric1");
        assert_int_equal (hp->max_trials, 30);
        assert_true (hp->enable_trial_early_stopping);
        assert_int_equal (hp->param_count, 3);
        assert_int_equal (hp->params[0].type, HPT_PARAM_INTEGER);
        assert_int_equal (hp->params[1].discrete_count, 4);
        assert_string_equal (hp->params[2].categorical_values[4], "LayerNormBasicLSTMCell");
        hpt_job_destroy (&job);
        hpt_diag_destroy (&diag);
    }
}

static void
test_defaults (void **state)
{
    hpt_diag_t *diag;
    hpt_job_t *job = s_read (BASE_HEAD PARAM_OK, HPT_CONFIG_YAML, &diag);
    assert_non_null (job);
    hpt_hyperparameters_t *hp = job->input.hyperparameters;
    assert_int_equal (hp->goal, HPT_GOAL_MAXIMIZE);
    assert_string_equal (hp->metric_tag, "training/hptuning/metric");
    assert_int_equal (hp->max_parallel_trials, 1);
    assert_int_equal (hp->max_failed_trials, 0);
    assert_true (hp->has_algorithm);
    assert_int_equal (hp->algorithm, HPT_ALGORITHM_UNSPECIFIED);
    assert_int_equal (job->input.scale_tier, HPT_SCALE_TIER_BASIC);
    hpt_job_destroy (&job);
    hpt_diag_destroy (&diag);
}

static char *
s_canonical (hpt_job_t *job)
{
    json_t *json = hpt_job_to_json (job);
    char *text = hpt_json_dumps (json, true);
    json_decref (json);
    return text;
}

static void
test_round_trip (void **state)
{
    const char *yaml =
        "jobId: rt_1\n"
        "labels: {team: vision, owner: ada}\n"
        "trainingInput:\n"
        "  scaleTier: CUSTOM\n"
        "  masterType: n1-standard-8\n"
        "  masterConfig: {acceleratorConfig: {count: '2', type: NVIDIA_TESLA_V100}}\n"
        "  workerType: n1-standard-4\n"
        "  workerCount: '3'\n"
        "  hyperparameters:\n"
        "    goal: MINIMIZE\n"
        "    hyperparameterMetricTag: loss\n"
        "    maxTrials: '12'\n"
        "    maxParallelTrials: 3\n"
        "    maxFailedTrials: 2\n"
        "    enableTrialEarlyStopping: TRUE\n"
        "    algorithm: RANDOM_SEARCH\n"
        "    params:\n"
        "    - {parameterName: lr, type: DOUBLE, minValue: 1e-5, maxValue: 0.1, "
        "scaleType: UNIT_LOG_SCALE}\n"
        "    - {parameterName: m, type: DOUBLE, minValue: 0.1, maxValue: 0.99, "
        "scaleType: UNIT_REVERSE_LOG_SCALE}\n"
        "    - {parameterName: units, type: INTEGER, minValue: 8, maxValue: 512}\n"
        "    - {parameterName: bs, type: DISCRETE, discreteValues: [16, 32.5, 64]}\n"
        "    - {parameterName: opt, type: CATEGORICAL, categoricalValues: [adam, "
        "'1', sgd]}\n"
        "  args: ['--data', '/tmp/d']\n"
        "  jobDir: /tmp/job\n"
        "  scheduling: {maxRunningTime: 7200s, maxWaitTime: 1.5s, priority: 7}\n"
        "  useChiefInTfConfig: yes\n"
        "  command: [/usr/bin/python3, train.py]\n"
        "  workingDir: code/current\n"
        "  runAs: trainer\n"
        "  env: {B: '2', A: 1}\n"
        "  metricCollector: {stdoutRegex: 'loss=(?<value>[0-9.]+)'}\n"
        "  region: us-central1\n"
        "  runtimeVersion: '2.11'\n";
    hpt_diag_t *diag;
    hpt_job_t *job = s_read (yaml, HPT_CONFIG_YAML, &diag);
    hpt_diag_print (diag, stderr);
    assert_non_null (job);
    char *first = s_canonical (job);
    hpt_diag_t *diag2;
    hpt_job_t *again = s_read (first, HPT_CONFIG_JSON, &diag2);
    hpt_diag_print (diag2, stderr);
    assert_non_null (again);
    char *second = s_canonical (again);
    assert_string_equal (first, second);
    //  A few values that must survive exactly.
    assert_non_null (strstr (first, "\"minValue\": 1e-05"));
    assert_non_null (strstr (first, "\"workerCount\": \"3\""));
    assert_non_null (strstr (first, "\"count\": \"2\""));
    assert_non_null (strstr (first, "\"runAs\": \"trainer\""));
    assert_non_null (strstr (first, "\"maxRunningTime\": \"7200s\""));
    assert_non_null (strstr (first, "\"maxWaitTime\": \"1.5s\""));
    assert_non_null (strstr (first, "32.5"));
    //  env is sorted by name and YAML numbers in it are text.
    assert_string_equal (again->input.env[0].name, "A");
    assert_string_equal (again->input.env[0].value, "1");
    assert_true (again->input.use_chief_in_tf_config);
    assert_string_equal (again->input.hyperparameters->params[4].categorical_values[1], "1");
    free (first);
    free (second);
    hpt_job_destroy (&job);
    hpt_job_destroy (&again);
    hpt_diag_destroy (&diag);
    hpt_diag_destroy (&diag2);
}

//  One test per rule.

static void
test_rule_wrong_type (void **state)
{
    s_expect_one (BASE_HEAD "    - [1, 2]\n", "5:7", "trainingInput.hyperparameters.params[0]",
                  "expected a mapping, got a list");
}

static void
test_rule_missing_training_input (void **state)
{
    s_expect_one ("jobId: abc\n", "1:1", "trainingInput", "required field is missing");
}

static void
test_rule_params_required (void **state)
{
    s_expect_one ("trainingInput:\n  hyperparameters:\n    maxTrials: 3\n", "3:5",
                  "trainingInput.hyperparameters.params", "resumePreviousJobId");
}

static void
test_rule_params_optional_when_resuming (void **state)
{
    hpt_diag_t *diag;
    hpt_job_t *job = s_read ("trainingInput:\n  hyperparameters:\n"
                             "    resumePreviousJobId: old_job\n    maxTrials: 3\n",
                             HPT_CONFIG_YAML, &diag);
    hpt_diag_print (diag, stderr);
    assert_non_null (job);
    hpt_hyperparameters_t *hp = job->input.hyperparameters;
    //  Inherited fields stay unset, to be taken from the previous job.
    assert_int_equal (hp->goal, HPT_GOAL_UNSPECIFIED);
    assert_null (hp->metric_tag);
    assert_false (hp->has_algorithm);
    hpt_job_destroy (&job);
    hpt_diag_destroy (&diag);
}

static void
test_rule_param_name_required (void **state)
{
    s_expect_one (BASE_HEAD "    - type: DOUBLE\n      minValue: 0\n      maxValue: 1\n", "5:7",
                  "trainingInput.hyperparameters.params[0].parameterName",
                  "required field is missing");
}

static void
test_rule_param_type_required (void **state)
{
    s_expect_one (BASE_HEAD "    - parameterName: x\n", "5:7",
                  "trainingInput.hyperparameters.params[0].type", "required field is missing");
}

static void
test_rule_min_max_required (void **state)
{
    s_expect_one (BASE_HEAD "    - parameterName: x\n      type: INTEGER\n      minValue: 1\n",
                  "5:7", "trainingInput.hyperparameters.params[0].maxValue",
                  "required for INTEGER parameters");
}

static void
test_rule_min_below_max (void **state)
{
    s_expect_one (BASE_HEAD "    - parameterName: x\n      type: DOUBLE\n      minValue: 2\n"
                            "      maxValue: 1\n",
                  "8:17", "trainingInput.hyperparameters.params[0].maxValue",
                  "must be greater than minValue");
}

static void
test_rule_integer_bounds (void **state)
{
    s_expect_one (BASE_HEAD "    - parameterName: x\n      type: INTEGER\n      minValue: 1\n"
                            "      maxValue: 9.5\n",
                  "8:17", "trainingInput.hyperparameters.params[0].maxValue",
                  "must be an integer for INTEGER parameters");
}

static void
test_rule_discrete_increasing (void **state)
{
    s_expect_one (BASE_HEAD "    - parameterName: x\n      type: DISCRETE\n"
                            "      discreteValues: [1, 2, 2]\n",
                  "7:30", "trainingInput.hyperparameters.params[0].discreteValues[2]",
                  "strictly increasing");
}

static void
test_rule_discrete_at_most_1000 (void **state)
{
    char *text = malloc (16 * 1024);
    int n = sprintf (text, BASE_HEAD "    - parameterName: x\n      type: DISCRETE\n"
                                     "      discreteValues: [");
    for (int i = 0; i < 1001; i++)
        n += sprintf (text + n, "%s%d", i ? "," : "", i);
    sprintf (text + n, "]\n");
    s_expect_one (text, "7:23", "trainingInput.hyperparameters.params[0].discreteValues",
                  "at most 1000 values");
    free (text);
}

static void
test_rule_log_needs_positive_min (void **state)
{
    s_expect_one (BASE_HEAD "    - parameterName: x\n      type: DOUBLE\n      minValue: 0\n"
                            "      maxValue: 1\n      scaleType: UNIT_LOG_SCALE\n",
                  "7:17", "trainingInput.hyperparameters.params[0].minValue",
                  "greater than 0 with UNIT_LOG_SCALE");
    s_expect_one (BASE_HEAD "    - parameterName: x\n      type: DISCRETE\n"
                            "      discreteValues: [-1, 2]\n      scaleType: "
                            "UNIT_REVERSE_LOG_SCALE\n",
                  "7:23", "trainingInput.hyperparameters.params[0].discreteValues",
                  "greater than 0 with UNIT_REVERSE_LOG_SCALE");
}

static void
test_rule_grid_types (void **state)
{
    s_expect_one ("trainingInput:\n  hyperparameters:\n    algorithm: GRID_SEARCH\n"
                  "    params:\n" PARAM_OK,
                  "6:13", "trainingInput.hyperparameters.params[0].type",
                  "GRID_SEARCH accepts only INTEGER, DISCRETE and CATEGORICAL");
}

static void
test_rule_counts_only_custom (void **state)
{
    s_expect_one (BASE_HEAD PARAM_OK "  scaleTier: BASIC_GPU\n  workerCount: 2\n", "10:16",
                  "trainingInput.workerCount", "only allowed with scaleTier CUSTOM");
}

static void
test_rule_count_needs_type (void **state)
{
    s_expect_one (BASE_HEAD PARAM_OK "  scaleTier: CUSTOM\n  masterType: standard\n"
                                     "  parameterServerCount: 2\n",
                  "11:25", "trainingInput.parameterServerCount",
                  "parameterServerCount > 0 needs parameterServerType");
}

static void
test_rule_custom_needs_master_type (void **state)
{
    s_expect_one (BASE_HEAD PARAM_OK "  scaleTier: CUSTOM\n", "2:3", "trainingInput.masterType",
                  "required with scaleTier CUSTOM");
}

static void
test_rule_max_failed_at_most_max_trials (void **state)
{
    s_expect_one (BASE_HEAD PARAM_OK "    maxFailedTrials: 11\n", "9:22",
                  "trainingInput.hyperparameters.maxFailedTrials",
                  "must not exceed maxTrials (10)");
}

static void
test_rule_max_parallel_at_least_one (void **state)
{
    s_expect_one (BASE_HEAD PARAM_OK "    maxParallelTrials: 0\n", "9:24",
                  "trainingInput.hyperparameters.maxParallelTrials", "between 1 and");
}

static void
test_rule_duplicate_name (void **state)
{
    s_expect_one (BASE_HEAD PARAM_OK PARAM_OK, "9:22",
                  "trainingInput.hyperparameters.params[1].parameterName",
                  "duplicate parameter name 'lr'");
}

static void
test_rule_empty_categories (void **state)
{
    s_expect_one (BASE_HEAD "    - parameterName: c\n      type: CATEGORICAL\n"
                            "      categoricalValues: []\n",
                  "7:26", "trainingInput.hyperparameters.params[0].categoricalValues",
                  "at least one category");
}

static void
test_rule_unknown_enum (void **state)
{
    s_expect_one (BASE_HEAD PARAM_OK "    goal: maximize\n", "9:11",
                  "trainingInput.hyperparameters.goal", "did you mean MAXIMIZE?");
    s_expect_one (BASE_HEAD "    - parameterName: c\n      type: FLOAT\n", "6:13",
                  "trainingInput.hyperparameters.params[0].type", "unknown value 'FLOAT'");
}

static void
test_rule_unknown_field (void **state)
{
    s_expect_one (BASE_HEAD PARAM_OK "    maxTrails: 4\n", "9:5",
                  "trainingInput.hyperparameters.maxTrails", "did you mean 'maxTrials'?");
    s_expect_one (BASE_HEAD PARAM_OK "  completelyDifferent: 1\n", "9:3",
                  "trainingInput.completelyDifferent", "unknown field");
}

static void
test_rule_accelerator (void **state)
{
    s_expect_one (BASE_HEAD PARAM_OK "  scaleTier: CUSTOM\n  masterType: standard\n"
                                     "  masterConfig:\n    acceleratorConfig:\n"
                                     "      count: 1\n      type: NVIDIA_TESLA_K81\n",
                  "14:13", "trainingInput.masterConfig.acceleratorConfig.type",
                  "did you mean NVIDIA_TESLA_K80?");
    s_expect_one (BASE_HEAD PARAM_OK "  masterConfig:\n    acceleratorConfig:\n"
                                     "      count: 100\n      type: NVIDIA_TESLA_T4\n",
                  "11:14", "trainingInput.masterConfig.acceleratorConfig.count",
                  "between 1 and 64");
    s_expect_one (BASE_HEAD PARAM_OK "  masterConfig:\n    acceleratorConfig:\n      count: 2\n",
                  "11:7", "trainingInput.masterConfig.acceleratorConfig.type",
                  "required field is missing");
}

static void
test_rule_duration (void **state)
{
    s_expect_one (BASE_HEAD PARAM_OK "  scheduling:\n    maxWaitTime: 10m\n", "10:18",
                  "trainingInput.scheduling.maxWaitTime", "like \"7200s\"");
    s_expect_one (BASE_HEAD PARAM_OK "  scheduling:\n    maxRunningTime: 0s\n", "10:21",
                  "trainingInput.scheduling.maxRunningTime", "must be positive");
}

static void
test_rule_int64_forms (void **state)
{
    s_expect_one (BASE_HEAD PARAM_OK "    maxParallelTrials: 2.5\n", "9:24",
                  "trainingInput.hyperparameters.maxParallelTrials", "expected an integer");
    s_expect_one (BASE_HEAD PARAM_OK "    maxParallelTrials: true\n", "9:24",
                  "trainingInput.hyperparameters.maxParallelTrials", "expected an integer");
}

static void
test_rule_boolean (void **state)
{
    s_expect_one (BASE_HEAD PARAM_OK "    enableTrialEarlyStopping: maybe\n", "9:31",
                  "trainingInput.hyperparameters.enableTrialEarlyStopping", "expected a boolean");
}

static void
test_rule_env_reserved (void **state)
{
    s_expect_one (BASE_HEAD PARAM_OK "  env:\n    CLOUD_ML_TRIAL_ID: '3'\n", "10:5",
                  "trainingInput.env.CLOUD_ML_TRIAL_ID", "set by hpt");
}

static void
test_rule_trainer_exclusive (void **state)
{
    s_expect_one (BASE_HEAD PARAM_OK "  pythonModule: trainer.task\n  command: [run]\n", "10:12",
                  "trainingInput.command", "not both");
    s_expect_one (BASE_HEAD PARAM_OK "  packageUris: [gs://bucket/p.tar.gz]\n"
                                     "  pythonModule: t.task\n",
                  "9:17", "trainingInput.packageUris[0]", "only http://, https:// and file://");
}

static void
test_rule_bad_regex (void **state)
{
    s_expect_one (BASE_HEAD PARAM_OK "  metricCollector:\n    stdoutRegex: 'a(?<value>['\n",
                  "10:18", "trainingInput.metricCollector.stdoutRegex", "regular expression");
    s_expect_one (BASE_HEAD PARAM_OK "  metricCollector:\n    stdoutRegex: 'loss=([0-9.]+)'\n",
                  "10:18", "trainingInput.metricCollector.stdoutRegex",
                  "needs a (?<value>...) group");
    s_expect_one (BASE_HEAD PARAM_OK "  metricCollector:\n    stdoutRegex: '(?<val>[0-9]+)'\n",
                  "10:18", "trainingInput.metricCollector.stdoutRegex", "unknown group name 'val'");
}

//  A pattern a POSIX matcher can take exponential time on (the bug
//  report's) is refused at validation, naming each construct.
static void
test_rule_slow_regex (void **state)
{
    s_expect_one (BASE_HEAD PARAM_OK "  metricCollector:\n"
                                     "    stdoutRegex: '(?<value>([0-9]+)+)\\2='\n",
                  "10:18", "trainingInput.metricCollector.stdoutRegex",
                  "nested quantifier '([0-9]+)+' at offset 9; back-reference '\\2' at offset 19");
}

//  runAs is a user name as the protocol carries it.
static void
test_rule_run_as (void **state)
{
    s_expect_one (BASE_HEAD PARAM_OK "  runAs: '1000'\n", "9:10", "trainingInput.runAs",
                  "is not a user name");
    s_expect_one (BASE_HEAD PARAM_OK "  runAs: ../root\n", "9:10", "trainingInput.runAs",
                  "is not a user name");
    s_expect_one (BASE_HEAD PARAM_OK "  runAs: abcdefghijabcdefghijabcdefghijabc\n", "9:10",
                  "trainingInput.runAs", "at most 32");
}

//  workingDir values that could never be resolved beneath the agent's
//  --workdir are refused here instead of failing every trial at launch.
static void
test_rule_working_dir (void **state)
{
    s_expect_one (BASE_HEAD PARAM_OK "  workingDir: /etc\n", "9:15", "trainingInput.workingDir",
                  "must be a relative path");
    s_expect_one (BASE_HEAD PARAM_OK "  workingDir: a/../../b\n", "9:15",
                  "trainingInput.workingDir", "must not contain a '..' component");
    s_expect_one (BASE_HEAD PARAM_OK "  workingDir: \"a\\tb\"\n", "9:15",
                  "trainingInput.workingDir", "control characters");
    char text[2048];
    char long_dir[1100];
    memset (long_dir, 'd', sizeof (long_dir) - 1);
    long_dir[sizeof (long_dir) - 1] = '\0';
    snprintf (text, sizeof (text), BASE_HEAD PARAM_OK "  workingDir: %s\n", long_dir);
    s_expect_one (text, "9:15", "trainingInput.workingDir", "longer than 1024 bytes");
    hpt_diag_t *diag;
    hpt_job_t *job =
        s_read (BASE_HEAD PARAM_OK "  workingDir: code/..data/./v1\n", HPT_CONFIG_YAML, &diag);
    assert_non_null (job);
    hpt_job_destroy (&job);
    hpt_diag_destroy (&diag);
}

//  Custom containers: an image-only job is valid; containerCommand and
//  containerArgs need an image for their replica; containerArgs and args
//  exclude each other; a master image leaves no place for command.
static void
test_rule_containers (void **state)
{
    hpt_diag_t *diag;
    hpt_job_t *job =
        s_read (BASE_HEAD PARAM_OK "  scaleTier: CUSTOM\n"
                                   "  masterType: standard\n"
                                   "  masterConfig:\n"
                                   "    imageUri: localhost/trainer:1\n"
                                   "    containerCommand: [/bin/sh, -c]\n"
                                   "    containerArgs: []\n"
                                   "  workerType: standard\n"
                                   "  workerCount: 1\n"
                                   "  workerConfig: {imageUri: gcr.io/p/w@sha256:ab}\n",
                HPT_CONFIG_YAML, &diag);
    hpt_diag_print (diag, stderr);
    assert_non_null (job);
    hpt_container_spec_t spec;
    assert_true (hpt_job_container (job, "ps", &spec));
    assert_string_equal (spec.image, "localhost/trainer:1");
    assert_int_equal (spec.command_count, 2); //  the master's image, the master's command
    assert_true (spec.has_args);
    assert_true (hpt_job_container (job, "worker", &spec));
    assert_string_equal (spec.image, "gcr.io/p/w@sha256:ab");
    assert_int_equal (spec.command_count, 0); //  its own image: its own entrypoint
    assert_false (spec.has_args);
    char *canonical = s_canonical (job);
    assert_non_null (strstr (canonical, "\"containerArgs\": []"));
    free (canonical);
    hpt_job_destroy (&job);
    hpt_diag_destroy (&diag);
    s_expect_one (BASE_HEAD PARAM_OK "  workerConfig:\n    containerCommand: [run]\n", "10:23",
                  "trainingInput.workerConfig.containerCommand", "needs an image");
    s_expect_one (BASE_HEAD PARAM_OK "  args: [a]\n  masterConfig:\n    imageUri: i\n"
                                     "    containerArgs: [b]\n",
                  "12:20", "trainingInput.masterConfig.containerArgs", "not both");
    s_expect_one (BASE_HEAD PARAM_OK "  command: [run]\n  masterConfig: {imageUri: i}\n", "9:12",
                  "trainingInput.command", "not used with masterConfig.imageUri");
    s_expect_one (BASE_HEAD PARAM_OK "  masterConfig: {imageUri: --privileged}\n", "9:28",
                  "trainingInput.masterConfig.imageUri", "is not an image reference");
}

static void
test_rule_evaluator_metrics_need_an_evaluator (void **state)
{
    s_expect_one (BASE_HEAD PARAM_OK "  metricCollector:\n    replica: evaluator\n", "10:14",
                  "trainingInput.metricCollector.replica", "needs an evaluator");
}

static void
test_rule_job_id (void **state)
{
    s_expect_one ("jobId: 9lives\n" BASE_HEAD PARAM_OK, "1:8", "jobId", "not a valid job id");
}

static void
test_rule_priority_range (void **state)
{
    s_expect_one (BASE_HEAD PARAM_OK "  scheduling: {priority: 1001}\n", "9:26",
                  "trainingInput.scheduling.priority", "between 0 and 1000");
}

static void
test_all_problems_at_once (void **state)
{
    hpt_diag_t *diag;
    hpt_job_t *job = s_read (BASE_HEAD "    - parameterName: a\n      type: DOUBLE\n"
                                       "    - parameterName: b\n      type: WRONG\n"
                                       "    goal: UP\n",
                             HPT_CONFIG_YAML, &diag);
    assert_null (job);
    hpt_diag_print (diag, stderr);
    assert_int_equal (hpt_diag_count (diag), 4); //  2 x missing min/max, bad type, bad goal
    //  Sorted in document order.
    assert_true (hpt_diag_entry (diag, 0)->line <= hpt_diag_entry (diag, 3)->line);
    hpt_diag_destroy (&diag);
}

static void
test_json_pointer (void **state)
{
    const char *json = "{\"trainingInput\": {\"hyperparameters\": {\"params\": ["
                       "{\"parameterName\": \"a\", \"type\": \"INTEGER\", \"minValue\": \"1\", "
                       "\"maxValue\": 5}, {\"parameterName\": \"b\", \"type\": \"DOUBLE\", "
                       "\"minValue\": true, \"maxValue\": 5}]}, \"workerCount\": \"x\"}}";
    hpt_diag_t *diag;
    hpt_job_t *job = s_read (json, HPT_CONFIG_JSON, &diag);
    assert_null (job);
    //  workerCount is both malformed and not allowed with BASIC.
    assert_int_equal (hpt_diag_count (diag), 3);
    char *line = hpt_diag_format (diag, 0);
    assert_string_equal (line, "t.yaml: /trainingInput/hyperparameters/params/1/minValue: "
                               "expected a number, got a boolean");
    free (line);
    line = hpt_diag_format (diag, 1);
    assert_non_null (strstr (line, "/trainingInput/workerCount: expected an integer"));
    free (line);
    json_t *detail = hpt_diag_to_json (diag);
    assert_int_equal (json_array_size (json_object_get (detail, "fieldViolations")), 3);
    //  Google's field path in field, the pointer in the hptPointer extension.
    json_t *violation = json_array_get (json_object_get (detail, "fieldViolations"), 0);
    assert_string_equal (json_string_value (json_object_get (violation, "field")),
                         "training_input.hyperparameters.params[1].min_value");
    assert_string_equal (json_string_value (json_object_get (violation, "hptPointer")),
                         "/trainingInput/hyperparameters/params/1/minValue");
    json_decref (detail);
    hpt_diag_destroy (&diag);
}

static void
test_syntax_errors (void **state)
{
    hpt_diag_t *diag;
    assert_null (s_read ("trainingInput:\n  a: [1, 2\n", HPT_CONFIG_YAML, &diag));
    assert_int_equal (hpt_diag_count (diag), 1);
    assert_int_equal (hpt_diag_entry (diag, 0)->line, 3);
    assert_non_null (strstr (hpt_diag_entry (diag, 0)->message, "invalid YAML"));
    hpt_diag_destroy (&diag);
    assert_null (s_read ("{\"trainingInput\": {,}}", HPT_CONFIG_JSON, &diag));
    assert_int_equal (hpt_diag_entry (diag, 0)->line, 1);
    assert_int_equal (hpt_diag_entry (diag, 0)->column, 20);
    hpt_diag_destroy (&diag);
    assert_null (s_read ("a: &x 1\nb: *x\n", HPT_CONFIG_YAML, &diag));
    assert_non_null (strstr (hpt_diag_entry (diag, 0)->message, "not supported"));
    hpt_diag_destroy (&diag);
    //  A repeated key is a problem at its place, and reading goes on with
    //  the first one: every other problem is reported too.
    assert_null (s_read ("trainingInput:\n  scaleTier: BASIC\n  scaleTier: CUSTOM\n"
                         "  hyperparameters: {goal: UP, goal: [1, {a: 2}], maxTrials: 0}\n"
                         "  command: [x]\n",
                         HPT_CONFIG_YAML, &diag));
    assert_int_equal (hpt_diag_count (diag), 5);
    const char *want[][2] = {{"3", "duplicate key 'scaleTier' (the first one is read)"},
                             {"4", "params: required field is missing"},
                             {"4", "unknown value 'UP'"},
                             {"4", "duplicate key 'goal'"},
                             {"4", "must be between 1 and"}};
    for (size_t i = 0; i < 5; i++) {
        char *line = hpt_diag_format (diag, i);
        assert_non_null (strstr (line, want[i][1]));
        assert_int_equal (hpt_diag_entry (diag, i)->line, (size_t)atoi (want[i][0]));
        free (line);
    }
    hpt_diag_destroy (&diag);
    //  Repeated keys past the reported many are counted in one line.
    char many[4096] = "trainingInput: {command: [x]";
    for (int i = 0; i < HPT_TREE_MAX_DUPLICATES + 3; i++)
        strcat (many, ", command: [y]");
    strcat (many, "}\n");
    assert_null (s_read (many, HPT_CONFIG_YAML, &diag));
    assert_int_equal (hpt_diag_count (diag), HPT_TREE_MAX_DUPLICATES + 1);
    assert_non_null (strstr (hpt_diag_entry (diag, HPT_TREE_MAX_DUPLICATES)->message,
                             "more duplicate keys not shown"));
    hpt_diag_destroy (&diag);
    assert_null (s_read ("", HPT_CONFIG_YAML, &diag));
    hpt_diag_destroy (&diag);
    assert_null (s_read ("- 1\n", HPT_CONFIG_YAML, &diag));
    hpt_diag_destroy (&diag);
}

static void
test_missing_file (void **state)
{
    hpt_diag_t *diag = hpt_diag_new ("x", false);
    assert_null (hpt_job_read_file ("/nonexistent/job.yaml", HPT_CONFIG_AUTO, diag));
    assert_int_equal (hpt_diag_count (diag), 1);
    assert_non_null (strstr (hpt_diag_entry (diag, 0)->message, "No such file"));
    hpt_diag_destroy (&diag);
}

static void
test_did_you_mean (void **state)
{
    const char *names[] = {"maxTrials", "maxParallelTrials", "goal"};
    assert_string_equal (hpt_schema_did_you_mean ("maxtrials", names, 3), "maxTrials");
    assert_string_equal (hpt_schema_did_you_mean ("maxParalelTrials", names, 3),
                         "maxParallelTrials");
    assert_null (hpt_schema_did_you_mean ("zzzzzzzz", names, 3));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_seed_configs_validate),
        cmocka_unit_test (test_defaults),
        cmocka_unit_test (test_round_trip),
        cmocka_unit_test (test_rule_wrong_type),
        cmocka_unit_test (test_rule_missing_training_input),
        cmocka_unit_test (test_rule_params_required),
        cmocka_unit_test (test_rule_params_optional_when_resuming),
        cmocka_unit_test (test_rule_param_name_required),
        cmocka_unit_test (test_rule_param_type_required),
        cmocka_unit_test (test_rule_min_max_required),
        cmocka_unit_test (test_rule_min_below_max),
        cmocka_unit_test (test_rule_integer_bounds),
        cmocka_unit_test (test_rule_discrete_increasing),
        cmocka_unit_test (test_rule_discrete_at_most_1000),
        cmocka_unit_test (test_rule_log_needs_positive_min),
        cmocka_unit_test (test_rule_grid_types),
        cmocka_unit_test (test_rule_counts_only_custom),
        cmocka_unit_test (test_rule_count_needs_type),
        cmocka_unit_test (test_rule_custom_needs_master_type),
        cmocka_unit_test (test_rule_max_failed_at_most_max_trials),
        cmocka_unit_test (test_rule_max_parallel_at_least_one),
        cmocka_unit_test (test_rule_duplicate_name),
        cmocka_unit_test (test_rule_empty_categories),
        cmocka_unit_test (test_rule_unknown_enum),
        cmocka_unit_test (test_rule_unknown_field),
        cmocka_unit_test (test_rule_accelerator),
        cmocka_unit_test (test_rule_duration),
        cmocka_unit_test (test_rule_int64_forms),
        cmocka_unit_test (test_rule_boolean),
        cmocka_unit_test (test_rule_env_reserved),
        cmocka_unit_test (test_rule_trainer_exclusive),
        cmocka_unit_test (test_rule_bad_regex),
        cmocka_unit_test (test_rule_slow_regex),
        cmocka_unit_test (test_rule_working_dir),
        cmocka_unit_test (test_rule_run_as),
        cmocka_unit_test (test_rule_containers),
        cmocka_unit_test (test_rule_evaluator_metrics_need_an_evaluator),
        cmocka_unit_test (test_rule_job_id),
        cmocka_unit_test (test_rule_priority_range),
        cmocka_unit_test (test_all_problems_at_once),
        cmocka_unit_test (test_json_pointer),
        cmocka_unit_test (test_syntax_errors),
        cmocka_unit_test (test_missing_file),
        cmocka_unit_test (test_did_you_mean),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
