/*  Unit tests for the master's tuner (job/trial state machines and rules)
    and the gang scheduler, with an in-memory store. */
#include "hpt_job_reader.h"
#include "hpt_scheduler.h"
#include "hpt_tuner.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static hpt_job_t *
s_job (const char *id, int max_trials, int parallel, int max_failed)
{
    char text[1024];
    snprintf (
        text, sizeof (text),
        "{\"jobId\": \"%s\", \"trainingInput\": {\"command\": [\"t\"], \"hyperparameters\": "
        "{\"goal\": \"MINIMIZE\", \"hyperparameterMetricTag\": \"loss\", \"maxTrials\": %d, "
        "\"maxParallelTrials\": %d, \"maxFailedTrials\": %d, \"params\": [{\"parameterName\": "
        "\"x\", \"type\": \"DOUBLE\", \"minValue\": -1, \"maxValue\": 1}]}}}",
        id, max_trials, parallel, max_failed);
    hpt_diag_t *diag = hpt_diag_new ("t", true);
    hpt_job_t *job = hpt_job_read_text (text, strlen (text), HPT_CONFIG_JSON, diag);
    hpt_diag_print (diag, stderr);
    hpt_diag_destroy (&diag);
    assert_non_null (job);
    return job;
}

//  One master task per trial: 1 CPU, 100 MB.
static hpt_task_request_t *
s_requests (size_t *count, int workers)
{
    *count = 1 + (size_t)workers;
    hpt_task_request_t *r = calloc (*count, sizeof (hpt_task_request_t));
    for (size_t i = 0; i < *count; i++) {
        r[i].replica = strdup (i == 0 ? "master" : "worker");
        r[i].index = i == 0 ? 0 : (int)i - 1;
        r[i].machine_type = strdup ("standard");
        r[i].cpus = 1;
        r[i].memory_mb = 100;
    }
    return r;
}

typedef struct {
    hpt_store_t *store;
    hpt_tuner_t *tuner;
} s_fixture_t;

static hpt_tuner_t *
s_tuner (hpt_store_t *store, const char *id, int max_trials, int parallel, int max_failed,
         int workers)
{
    size_t count;
    hpt_task_request_t *requests = s_requests (&count, workers);
    char *error = NULL;
    hpt_tuner_t *tuner = hpt_tuner_new (store, s_job (id, max_trials, parallel, max_failed),
                                        "default", requests, count, 42, 1000, &error);
    assert_non_null (tuner);
    return tuner;
}

//  Places (fake agent "a"), starts and runs a trial to an exit; metric
//  NAN means none reported.
static void
s_run_trial (hpt_store_t *store, hpt_tuner_t *tuner, hpt_trial_t *trial, double metric,
             int exit_code)
{
    for (size_t i = 0; i < trial->task_count; i++)
        if (!trial->tasks[i].agent) trial->tasks[i].agent = strdup ("a");
    if (trial->state == HPT_TRIAL_PENDING)
        assert_int_equal (hpt_tuner_trial_placed (tuner, store, trial, 2000), 0);
    for (size_t i = 0; i < trial->task_count; i++)
        hpt_tuner_task_started (tuner, store, trial, &trial->tasks[i], 100 + (int64_t)i, 2100);
    if (metric == metric) {
        hpt_tuner_metric (tuner, trial, &trial->tasks[0], "loss", 5, metric + 1, 1.0, NULL, 0);
        hpt_tuner_metric (tuner, trial, &trial->tasks[0], "other", 9, 99, 2.0, NULL, 0);
        hpt_tuner_metric (tuner, trial, &trial->tasks[0], "loss", 10, metric, 3.0, NULL, 0);
    }
    hpt_task_t **to_stop = NULL;
    size_t stop_count = 0;
    hpt_tuner_task_exited (tuner, store, trial, &trial->tasks[0], exit_code, 0, NULL, 3000,
                           &to_stop, &stop_count);
    free (to_stop);
}

static void
test_job_succeeds_with_best_first (void **state)
{
    hpt_store_t *store = hpt_store_new (":memory:", NULL);
    hpt_tuner_t *tuner = s_tuner (store, "j1", 3, 2, 0, 0);
    assert_int_equal (hpt_tuner_state (tuner), HPT_JOB_QUEUED);
    hpt_trial_t *t1 = hpt_tuner_next_trial (tuner, store, 1500);
    assert_non_null (t1);
    //  A trial not placed yet is offered again rather than a new one.
    assert_ptr_equal (hpt_tuner_next_trial (tuner, store, 1500), t1);
    t1->tasks[0].agent = strdup ("a");
    assert_int_equal (hpt_tuner_trial_placed (tuner, store, t1, 1600), 0);
    hpt_trial_t *t2 = hpt_tuner_next_trial (tuner, store, 1500);
    assert_non_null (t2);
    t2->tasks[0].agent = strdup ("a");
    assert_int_equal (hpt_tuner_trial_placed (tuner, store, t2, 1600), 0);
    //  maxParallelTrials = 2: no third one while two are in flight.
    assert_null (hpt_tuner_next_trial (tuner, store, 1500));
    assert_int_equal (t1->id, 1);
    assert_int_equal (t2->id, 2);
    s_run_trial (store, tuner, t1, 0.5, 0);
    assert_int_equal (hpt_tuner_state (tuner), HPT_JOB_RUNNING);
    assert_int_equal (t1->state, HPT_TRIAL_SUCCEEDED);
    assert_true (t1->has_final && t1->final_value == 0.5 && t1->final_step == 10);
    hpt_trial_t *t3 = hpt_tuner_next_trial (tuner, store, 3000);
    assert_non_null (t3);
    s_run_trial (store, tuner, t2, 0.1, 0);
    s_run_trial (store, tuner, t3, 0.3, 0);
    assert_null (hpt_tuner_next_trial (tuner, store, 4000));
    assert_int_equal (hpt_tuner_state (tuner), HPT_JOB_SUCCEEDED);
    json_t *json = hpt_tuner_to_json (tuner, store, true);
    json_t *trials = json_object_get (json_object_get (json, "trainingOutput"), "trials");
    assert_int_equal (json_array_size (trials), 3);
    //  MINIMIZE: 0.1 (trial 2), 0.3 (trial 3), 0.5 (trial 1).
    assert_string_equal (
        json_string_value (json_object_get (json_array_get (trials, 0), "trialId")), "2");
    assert_string_equal (
        json_string_value (json_object_get (json_array_get (trials, 1), "trialId")), "3");
    assert_string_equal (json_string_value (json_object_get (
                             json_object_get (json, "trainingOutput"), "completedTrialCount")),
                         "3");
    json_t *final = json_object_get (json_array_get (trials, 0), "finalMetric");
    assert_string_equal (json_string_value (json_object_get (final, "trainingStep")), "10");
    assert_true (json_real_value (json_object_get (final, "objectiveValue")) == 0.1);
    json_decref (json);
    hpt_tuner_destroy (&tuner);
    hpt_store_destroy (&store);
}

static void
test_first_failure_fails_job (void **state)
{
    hpt_store_t *store = hpt_store_new (":memory:", NULL);
    hpt_tuner_t *tuner = s_tuner (store, "j2", 5, 1, 0, 0);
    hpt_trial_t *t1 = hpt_tuner_next_trial (tuner, store, 1500);
    s_run_trial (store, tuner, t1, 0.5, 3);
    assert_int_equal (t1->state, HPT_TRIAL_FAILED);
    assert_non_null (strstr (t1->message, "exited with status 3"));
    assert_int_equal (hpt_tuner_state (tuner), HPT_JOB_FAILED);
    json_t *json = hpt_tuner_to_json (tuner, store, false);
    assert_non_null (strstr (json_string_value (json_object_get (json, "errorMessage")),
                             "first trial to finish failed"));
    json_decref (json);
    hpt_tuner_destroy (&tuner);
    hpt_store_destroy (&store);
}

static void
test_no_metric_fails_trial (void **state)
{
    hpt_store_t *store = hpt_store_new (":memory:", NULL);
    hpt_tuner_t *tuner = s_tuner (store, "j3", 2, 1, 2, 0);
    hpt_trial_t *t1 = hpt_tuner_next_trial (tuner, store, 1500);
    s_run_trial (store, tuner, t1, NAN, 0);
    assert_int_equal (t1->state, HPT_TRIAL_FAILED);
    assert_non_null (strstr (t1->message, "without reporting the metric 'loss'"));
    //  maxFailedTrials = 2: one failure is tolerated.
    assert_int_equal (hpt_tuner_state (tuner), HPT_JOB_RUNNING);
    hpt_trial_t *t2 = hpt_tuner_next_trial (tuner, store, 3000);
    s_run_trial (store, tuner, t2, NAN, 0);
    assert_int_equal (hpt_tuner_state (tuner), HPT_JOB_FAILED);
    hpt_tuner_destroy (&tuner);
    hpt_store_destroy (&store);
}

static void
test_default_rule_later_failures (void **state)
{
    hpt_store_t *store = hpt_store_new (":memory:", NULL);
    hpt_tuner_t *tuner = s_tuner (store, "j4", 20, 1, 0, 0);
    s_run_trial (store, tuner, hpt_tuner_next_trial (tuner, store, 1), 1.0, 0);
    s_run_trial (store, tuner, hpt_tuner_next_trial (tuner, store, 1), 1.0, 0);
    //  2 succeeded: failing needs >= 5 failures and > 2 x 2.
    for (int i = 0; i < 4; i++) {
        s_run_trial (store, tuner, hpt_tuner_next_trial (tuner, store, 1), 1.0, 1);
        assert_int_not_equal (hpt_tuner_state (tuner), HPT_JOB_FAILED);
    }
    s_run_trial (store, tuner, hpt_tuner_next_trial (tuner, store, 1), 1.0, 1);
    assert_int_equal (hpt_tuner_state (tuner), HPT_JOB_FAILED);
    hpt_tuner_destroy (&tuner);
    hpt_store_destroy (&store);
}

static void
test_worker_failure_stops_siblings (void **state)
{
    hpt_store_t *store = hpt_store_new (":memory:", NULL);
    hpt_tuner_t *tuner = s_tuner (store, "j5", 2, 1, 2, 2);
    hpt_trial_t *t = hpt_tuner_next_trial (tuner, store, 1);
    for (size_t i = 0; i < t->task_count; i++)
        t->tasks[i].agent = strdup ("a");
    hpt_tuner_trial_placed (tuner, store, t, 2);
    for (size_t i = 0; i < t->task_count; i++)
        hpt_tuner_task_started (tuner, store, t, &t->tasks[i], 10, 3);
    hpt_task_t **to_stop = NULL;
    size_t n = 0;
    hpt_tuner_task_exited (tuner, store, t, &t->tasks[2], 1, 0, NULL, 4, &to_stop, &n);
    assert_int_equal (t->state, HPT_TRIAL_FAILED);
    assert_non_null (strstr (t->message, "worker-1 exited with status 1"));
    assert_int_equal (n, 2); //  master and worker 0
    free (to_stop);
    hpt_tuner_destroy (&tuner);
    hpt_store_destroy (&store);
}

static void
test_cancel (void **state)
{
    hpt_store_t *store = hpt_store_new (":memory:", NULL);
    hpt_tuner_t *tuner = s_tuner (store, "j6", 4, 2, 0, 0);
    hpt_trial_t *t = hpt_tuner_next_trial (tuner, store, 1);
    t->tasks[0].agent = strdup ("a");
    hpt_tuner_trial_placed (tuner, store, t, 2);
    hpt_tuner_task_started (tuner, store, t, &t->tasks[0], 10, 3);
    hpt_trial_t *pending = hpt_tuner_next_trial (tuner, store, 4);
    hpt_task_t **to_stop = NULL;
    size_t n = 0;
    assert_int_equal (hpt_tuner_cancel (tuner, store, 5, &to_stop, &n), 0);
    assert_int_equal (n, 1);
    assert_int_equal (hpt_tuner_state (tuner), HPT_JOB_CANCELLING);
    assert_int_equal (pending->state, HPT_TRIAL_CANCELLED);
    assert_int_equal (t->state, HPT_TRIAL_STOPPING);
    free (to_stop);
    to_stop = NULL;
    n = 0;
    hpt_tuner_task_exited (tuner, store, t, &t->tasks[0], 0, 15, NULL, 6, &to_stop, &n);
    assert_int_equal (t->state, HPT_TRIAL_CANCELLED);
    assert_int_equal (hpt_tuner_state (tuner), HPT_JOB_CANCELLED);
    assert_int_equal (hpt_tuner_cancel (tuner, store, 7, &to_stop, &n), -1);
    free (to_stop);
    hpt_tuner_destroy (&tuner);
    hpt_store_destroy (&store);
}

static void
test_reload_gives_same_state (void **state)
{
    hpt_store_t *store = hpt_store_new (":memory:", NULL);
    hpt_tuner_t *tuner = s_tuner (store, "j7", 4, 2, 0, 0);
    s_run_trial (store, tuner, hpt_tuner_next_trial (tuner, store, 1), 0.7, 0);
    hpt_trial_t *running = hpt_tuner_next_trial (tuner, store, 1);
    running->tasks[0].agent = strdup ("a");
    hpt_tuner_trial_placed (tuner, store, running, 2);
    json_t *row = NULL;
    assert_int_equal (hpt_store_job_get (store, "j7", &row), HPT_STORE_OK);
    size_t count;
    hpt_task_request_t *requests = s_requests (&count, 0);
    char *error = NULL;
    hpt_tuner_t *again =
        hpt_tuner_load (store, row, s_job ("j7", 4, 2, 0), requests, count, &error);
    json_decref (row);
    assert_non_null (again);
    assert_int_equal (hpt_tuner_trial_count (again), 2);
    hpt_trial_t *t2 = hpt_tuner_trial_by_id (again, 2);
    assert_int_equal (t2->state, HPT_TRIAL_PROVISIONING);
    assert_string_equal (t2->tasks[0].agent, "a");
    assert_int_equal (t2->tasks[0].state, HPT_TASK_LAUNCHING);
    assert_true (hpt_tuner_trial_by_id (again, 1)->final_value == 0.7);
    //  The next suggestion is the same from the original and the reload.
    hpt_trial_t *next_a = hpt_tuner_next_trial (tuner, store, 3);
    hpt_tuner_destroy (&tuner);
    (void)next_a;
    hpt_tuner_destroy (&again);
    hpt_store_destroy (&store);
}

static hpt_host_t *
s_node (const char *name, const char *json)
{
    json_t *resources = json_loads (json, 0, NULL);
    hpt_host_t *node = hpt_host_new (name, resources, NULL);
    json_decref (resources);
    assert_non_null (node);
    return node;
}

static void
test_gang_placement_all_or_nothing (void **state)
{
    hpt_store_t *store = hpt_store_new (":memory:", NULL);
    //  Master + 2 workers, 1 CPU each; two nodes with 1 CPU each: no fit.
    hpt_tuner_t *tuner = s_tuner (store, "g1", 1, 1, 0, 2);
    hpt_host_t *nodes[2] = {s_node ("a", "{\"cpus\": 1, \"memoryGb\": 1}"),
                            s_node ("b", "{\"cpus\": 1, \"memoryGb\": 1}")};
    hpt_trial_t *t = hpt_tuner_next_trial (tuner, store, 1);
    assert_false (hpt_scheduler_place (nodes, 2, t));
    //  Nothing is held half-placed.
    assert_true (nodes[0]->used_cpus == 0 && nodes[1]->used_cpus == 0);
    assert_null (t->tasks[0].agent);
    hpt_host_t *bigger[2] = {nodes[0], s_node ("c", "{\"cpus\": 2, \"memoryGb\": 1}")};
    assert_true (hpt_scheduler_place (bigger, 2, t));
    assert_string_equal (t->tasks[0].agent, "a");
    assert_string_equal (t->tasks[1].agent, "c");
    assert_string_equal (t->tasks[2].agent, "c");
    //  Distinct ports on one node.
    assert_int_not_equal (json_integer_value (json_object_get (t->tasks[1].placement, "port")),
                          json_integer_value (json_object_get (t->tasks[2].placement, "port")));
    hpt_scheduler_release (bigger[1], &t->tasks[1]);
    assert_true (bigger[1]->used_cpus == 1);
    size_t count;
    const hpt_task_request_t *req = hpt_tuner_requests (tuner, &count);
    char *why = hpt_scheduler_infeasible (nodes, 2, req, count);
    assert_null (why); //  every single task fits somewhere
    hpt_host_destroy (&nodes[0]);
    hpt_host_destroy (&nodes[1]);
    hpt_host_destroy (&bigger[1]);
    hpt_tuner_destroy (&tuner);
    hpt_store_destroy (&store);
}

static void
test_gpu_numa_locality (void **state)
{
    const char *host = "{\"cpus\": 16, \"memoryGb\": 64, \"accelerators\": ["
                       "{\"type\": \"NVIDIA_TESLA_V100\", \"index\": 0, \"numaNode\": 0, \"cpus\": "
                       "[0,1,2,3,4,5,6,7]},"
                       "{\"type\": \"NVIDIA_TESLA_V100\", \"index\": 1, \"numaNode\": 1, \"cpus\": "
                       "[8,9,10,11,12,13,14,15]},"
                       "{\"type\": \"NVIDIA_TESLA_V100\", \"index\": 2, \"numaNode\": 0, \"cpus\": "
                       "[0,1,2,3,4,5,6,7]},"
                       "{\"type\": \"NVIDIA_TESLA_V100\", \"index\": 3, \"numaNode\": 1, \"cpus\": "
                       "[8,9,10,11,12,13,14,15]}]}";
    hpt_host_t *node = s_node ("gpu", host);
    hpt_task_request_t req = {"master", 0, "x", 4, 1000, "NVIDIA_TESLA_V100", 2};
    hpt_task_t t1 = {.task_id = "t1", .request = &req}, t2 = {.task_id = "t2", .request = &req};
    hpt_trial_t trial1 = {.tasks = &t1, .task_count = 1}, trial2 = {.tasks = &t2, .task_count = 1};
    hpt_host_t *nodes[1] = {node};
    assert_true (hpt_scheduler_place (nodes, 1, &trial1));
    assert_true (hpt_scheduler_place (nodes, 1, &trial2));
    json_t *g1 = json_object_get (t1.placement, "gpus"),
           *g2 = json_object_get (t2.placement, "gpus");
    //  Each pair on one NUMA node (0,2 or 1,3), and disjoint.
    int a = (int)json_integer_value (json_array_get (g1, 0)),
        b = (int)json_integer_value (json_array_get (g1, 1));
    int c = (int)json_integer_value (json_array_get (g2, 0)),
        d = (int)json_integer_value (json_array_get (g2, 1));
    assert_int_equal (a % 2, b % 2);
    assert_int_equal (c % 2, d % 2);
    assert_int_not_equal (a % 2, c % 2);
    //  CPUs bound to cores of the GPUs' NUMA node.
    json_t *cores = json_object_get (t1.placement, "cores");
    assert_int_equal (json_array_size (cores), 4);
    int first = (int)json_integer_value (json_array_get (cores, 0));
    assert_true ((a % 2 == 0) ? first < 8 : first >= 8);
    //  A third 2-GPU task does not fit.
    hpt_task_t t3 = {.task_id = "t3", .request = &req};
    hpt_trial_t trial3 = {.tasks = &t3, .task_count = 1};
    assert_false (hpt_scheduler_place (nodes, 1, &trial3));
    hpt_task_request_t big = {"master", 0, "x", 4, 1000, "NVIDIA_TESLA_V100", 8};
    char *why = hpt_scheduler_infeasible (nodes, 1, &big, 1);
    assert_non_null (strstr (why, "needs 8 x NVIDIA_TESLA_V100"));
    free (why);
    free (t1.agent);
    free (t2.agent);
    json_decref (t1.placement);
    json_decref (t2.placement);
    hpt_host_destroy (&node);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_job_succeeds_with_best_first),
        cmocka_unit_test (test_first_failure_fails_job),
        cmocka_unit_test (test_no_metric_fails_trial),
        cmocka_unit_test (test_default_rule_later_failures),
        cmocka_unit_test (test_worker_failure_stops_siblings),
        cmocka_unit_test (test_cancel),
        cmocka_unit_test (test_reload_gives_same_state),
        cmocka_unit_test (test_gang_placement_all_or_nothing),
        cmocka_unit_test (test_gpu_numa_locality),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
