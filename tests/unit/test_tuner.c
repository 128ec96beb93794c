/*  Unit tests for the master's tuner (job/trial state machines and rules)
    and the gang scheduler, with a store (in memory, or a file where a test
    reopens it). The tuner never begins or commits: like the core, each
    test wraps every event that writes in a transaction of its own. */
#include "hpt_alloc.h"
#include "hpt_job_reader.h"
#include "hpt_json.h"
#include "hpt_scheduler.h"
#include "hpt_tuner.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

//  Asserts that a call returning 0 / -1 with an hpt_error_t succeeded.
#define assert_ok(call, error)                                                                     \
    do {                                                                                           \
        if ((call) != 0) fail_msg ("%s failed: %s", #call, (error)->message);                      \
    } while (0)

static hpt_store_t *
s_store (const char *path)
{
    hpt_error_t error;
    hpt_store_t *store = hpt_store_new (path, &error);
    if (!store) fail_msg ("store %s: %s", path, error.message);
    return store;
}

static void
s_begin (hpt_store_t *store)
{
    hpt_error_t error;
    assert_ok (hpt_store_begin (store, &error), &error);
}

static void
s_commit (hpt_store_t *store)
{
    hpt_error_t error;
    assert_ok (hpt_store_commit (store, &error), &error);
}

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

static hpt_tuner_t *
s_tuner (hpt_store_t *store, const char *id, int max_trials, int parallel, int max_failed,
         int workers)
{
    size_t count;
    hpt_task_request_t *requests = s_requests (&count, workers);
    hpt_error_t error;
    s_begin (store);
    hpt_tuner_t *tuner = hpt_tuner_new (store, s_job (id, max_trials, parallel, max_failed),
                                        "default", NULL, requests, count, 42, 1000, &error);
    if (!tuner) fail_msg ("tuner: %s", error.message);
    s_commit (store);
    return tuner;
}

//  Rebuilds the tuner of job id from the store, as the core does after a
//  restart or a failed commit.
static hpt_tuner_t *
s_reload (hpt_store_t *store, const char *id, int max_trials, int parallel, int max_failed,
          int workers)
{
    json_t *row = NULL;
    hpt_error_t error;
    assert_ok (hpt_store_job_get (store, id, &row, &error), &error);
    size_t count;
    hpt_task_request_t *requests = s_requests (&count, workers);
    hpt_tuner_t *tuner = hpt_tuner_load (store, row, s_job (id, max_trials, parallel, max_failed),
                                         requests, count, &error);
    json_decref (row);
    if (!tuner) fail_msg ("load %s: %s", id, error.message);
    return tuner;
}

//  The next trial inside the open transaction, as the core gets it: a
//  PENDING one, else one new suggestion, asked and answered at once
//  (hpt_suggest_compute is what the suggester actor computes).
static hpt_trial_t *
s_next_in (hpt_store_t *store, hpt_tuner_t *tuner, int64_t now_ms)
{
    hpt_trial_t *trial = hpt_tuner_next_trial (tuner, store);
    if (trial || hpt_tuner_wanted (tuner) == 0) return trial;
    hpt_suggest_request_t *request = hpt_tuner_ask (tuner, 1);
    assert_non_null (request);
    assert_true (hpt_tuner_asking (tuner));
    hpt_suggest_answer_t *answer = hpt_suggest_compute (request);
    assert_true (hpt_tuner_answer (tuner, store, answer, now_ms) >= 0);
    assert_false (hpt_tuner_asking (tuner));
    hpt_suggest_answer_destroy (&answer);
    hpt_suggest_request_destroy (&request);
    return hpt_tuner_next_trial (tuner, store);
}

//  The next trial, in a transaction of its own.
static hpt_trial_t *
s_next (hpt_store_t *store, hpt_tuner_t *tuner, int64_t now_ms)
{
    s_begin (store);
    hpt_trial_t *trial = s_next_in (store, tuner, now_ms);
    s_commit (store);
    return trial;
}

//  Places every task of trial on agent "a" and starts them, one event
//  (transaction) each.
static void
s_place_and_start (hpt_store_t *store, hpt_tuner_t *tuner, hpt_trial_t *trial)
{
    for (size_t i = 0; i < trial->task_count; i++)
        if (!trial->tasks[i].agent) trial->tasks[i].agent = strdup ("a");
    if (trial->state == HPT_TRIAL_PENDING) {
        s_begin (store);
        assert_int_equal (hpt_tuner_trial_placed (tuner, store, trial, 2000), 0);
        s_commit (store);
    }
    s_begin (store);
    for (size_t i = 0; i < trial->task_count; i++)
        assert_int_equal (hpt_tuner_task_started (tuner, store, trial, &trial->tasks[i],
                                                  100 + (int64_t)i, 2050, 2100),
                          0);
    s_commit (store);
}

//  One batch of points of trial's task, in a transaction of its own.
static void
s_report (hpt_store_t *store, hpt_tuner_t *tuner, hpt_trial_t *trial, hpt_task_t *task,
          const hpt_tuner_point_t *points, size_t count)
{
    char *stop_reason = NULL;
    s_begin (store);
    assert_int_equal (hpt_tuner_report (tuner, store, trial, task, points, count, &stop_reason), 0);
    s_commit (store);
    assert_null (stop_reason);
}

//  A task of trial ends, in a transaction of its own.
static void
s_exit (hpt_store_t *store, hpt_tuner_t *tuner, hpt_trial_t *trial, hpt_task_t *task, int exit_code,
        int signal, int64_t now_ms, size_t *stop_count)
{
    hpt_task_exit_t exit = {.exit_code = exit_code, .signal = signal};
    hpt_task_t **to_stop = NULL;
    size_t n = 0;
    s_begin (store);
    assert_int_equal (
        hpt_tuner_task_exited (tuner, store, trial, task, &exit, now_ms, &to_stop, &n), 0);
    s_commit (store);
    free (to_stop);
    if (stop_count) *stop_count = n;
}

//  Places (fake agent "a"), starts and runs a trial to an exit; metric
//  NAN means none reported.
static void
s_run_trial (hpt_store_t *store, hpt_tuner_t *tuner, hpt_trial_t *trial, double metric,
             int exit_code)
{
    s_place_and_start (store, tuner, trial);
    if (metric == metric) {
        hpt_tuner_point_t points[] = {
            {"loss", metric + 1, 5, 1.0}, {"other", 99, 9, 2.0}, {"loss", metric, 10, 3.0}};
        s_report (store, tuner, trial, &trial->tasks[0], points, 3);
    }
    s_exit (store, tuner, trial, &trial->tasks[0], exit_code, 0, 3000, NULL);
}

static char *s_job_text (hpt_tuner_t *tuner, hpt_store_t *store, bool *complete);

//  The API's text of the job equals the tree's (s_job_text checks).
static void
s_check_text (hpt_tuner_t *tuner, hpt_store_t *store)
{
    bool complete;
    free (s_job_text (tuner, store, &complete));
}

static void
test_job_succeeds_with_best_first (void **state)
{
    hpt_store_t *store = s_store (":memory:");
    hpt_tuner_t *tuner = s_tuner (store, "j1", 3, 2, 0, 0);
    assert_int_equal (hpt_tuner_state (tuner), HPT_JOB_QUEUED);
    hpt_trial_t *t1 = s_next (store, tuner, 1500);
    assert_non_null (t1);
    //  A trial not placed yet is offered again rather than a new one.
    assert_ptr_equal (s_next (store, tuner, 1500), t1);
    t1->tasks[0].agent = strdup ("a");
    s_begin (store);
    assert_int_equal (hpt_tuner_trial_placed (tuner, store, t1, 1600), 0);
    s_commit (store);
    s_check_text (tuner, store);
    hpt_trial_t *t2 = s_next (store, tuner, 1500);
    assert_non_null (t2);
    t2->tasks[0].agent = strdup ("a");
    s_begin (store);
    assert_int_equal (hpt_tuner_trial_placed (tuner, store, t2, 1600), 0);
    s_commit (store);
    //  maxParallelTrials = 2: no third one while two are in flight.
    assert_null (s_next (store, tuner, 1500));
    assert_int_equal (t1->id, 1);
    assert_int_equal (t2->id, 2);
    s_check_text (tuner, store);
    s_run_trial (store, tuner, t1, 0.5, 0);
    s_check_text (tuner, store);
    assert_int_equal (hpt_tuner_state (tuner), HPT_JOB_RUNNING);
    assert_int_equal (t1->state, HPT_TRIAL_SUCCEEDED);
    assert_true (t1->has_final && t1->final_value == 0.5 && t1->final_step == 10);
    hpt_trial_t *t3 = s_next (store, tuner, 3000);
    assert_non_null (t3);
    s_run_trial (store, tuner, t2, 0.1, 0);
    s_check_text (tuner, store);
    s_run_trial (store, tuner, t3, 0.3, 0);
    assert_null (s_next (store, tuner, 4000));
    s_check_text (tuner, store);
    assert_int_equal (hpt_tuner_state (tuner), HPT_JOB_SUCCEEDED);
    json_t *json = hpt_tuner_to_json (tuner, store, true, NULL);
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
    //  allMetrics: the objective's points from the store, not other tags.
    json_t *all = json_object_get (json_array_get (trials, 0), "allMetrics");
    assert_int_equal (json_array_size (all), 2);
    json_decref (json);
    hpt_tuner_destroy (&tuner);
    hpt_store_destroy (&store);
}

static void
test_first_failure_fails_job (void **state)
{
    hpt_store_t *store = s_store (":memory:");
    hpt_tuner_t *tuner = s_tuner (store, "j2", 5, 1, 0, 0);
    hpt_trial_t *t1 = s_next (store, tuner, 1500);
    s_run_trial (store, tuner, t1, 0.5, 3);
    assert_int_equal (t1->state, HPT_TRIAL_FAILED);
    assert_non_null (strstr (t1->message, "exited with status 3"));
    assert_int_equal (hpt_tuner_state (tuner), HPT_JOB_FAILED);
    json_t *json = hpt_tuner_to_json (tuner, store, false, NULL);
    assert_non_null (strstr (json_string_value (json_object_get (json, "errorMessage")),
                             "first trial to finish failed"));
    json_decref (json);
    hpt_tuner_destroy (&tuner);
    hpt_store_destroy (&store);
}

//  A trainer that crashed says so: the signal, and whether it dumped core
//  (TASK_EXITED coreDumped).
static void
test_signal_and_core_dump_in_failure_text (void **state)
{
    hpt_store_t *store = s_store (":memory:");
    hpt_tuner_t *tuner = s_tuner (store, "j2c", 5, 2, 5, 0);
    hpt_trial_t *trials[2];
    hpt_task_exit_t exits[2] = {{.exit_code = -1, .signal = 11, .core_dumped = true},
                                {.exit_code = -1, .signal = 9}};
    for (int i = 0; i < 2; i++) {
        trials[i] = s_next (store, tuner, 1500);
        assert_non_null (trials[i]);
        s_place_and_start (store, tuner, trials[i]);
        hpt_task_t **to_stop = NULL;
        size_t n = 0;
        s_begin (store);
        assert_int_equal (hpt_tuner_task_exited (tuner, store, trials[i], &trials[i]->tasks[0],
                                                 &exits[i], 3000, &to_stop, &n),
                          0);
        s_commit (store);
        free (to_stop);
        assert_int_equal (trials[i]->state, HPT_TRIAL_FAILED);
    }
    assert_non_null (strstr (trials[0]->message, "was killed by signal 11 (core dumped)"));
    assert_non_null (strstr (trials[1]->message, "was killed by signal 9"));
    assert_null (strstr (trials[1]->message, "core"));
    hpt_tuner_destroy (&tuner);
    hpt_store_destroy (&store);
}

static void
test_no_metric_fails_trial (void **state)
{
    hpt_store_t *store = s_store (":memory:");
    hpt_tuner_t *tuner = s_tuner (store, "j3", 2, 1, 2, 0);
    hpt_trial_t *t1 = s_next (store, tuner, 1500);
    s_run_trial (store, tuner, t1, NAN, 0);
    assert_int_equal (t1->state, HPT_TRIAL_FAILED);
    assert_non_null (strstr (t1->message, "without reporting the metric 'loss'"));
    //  maxFailedTrials = 2: one failure is tolerated.
    assert_int_equal (hpt_tuner_state (tuner), HPT_JOB_RUNNING);
    hpt_trial_t *t2 = s_next (store, tuner, 3000);
    s_run_trial (store, tuner, t2, NAN, 0);
    assert_int_equal (hpt_tuner_state (tuner), HPT_JOB_FAILED);
    hpt_tuner_destroy (&tuner);
    hpt_store_destroy (&store);
}

static void
test_default_rule_later_failures (void **state)
{
    hpt_store_t *store = s_store (":memory:");
    hpt_tuner_t *tuner = s_tuner (store, "j4", 20, 1, 0, 0);
    s_run_trial (store, tuner, s_next (store, tuner, 1), 1.0, 0);
    s_run_trial (store, tuner, s_next (store, tuner, 1), 1.0, 0);
    //  2 succeeded: failing needs >= 5 failures and > 2 x 2.
    for (int i = 0; i < 4; i++) {
        s_run_trial (store, tuner, s_next (store, tuner, 1), 1.0, 1);
        assert_int_not_equal (hpt_tuner_state (tuner), HPT_JOB_FAILED);
    }
    s_run_trial (store, tuner, s_next (store, tuner, 1), 1.0, 1);
    assert_int_equal (hpt_tuner_state (tuner), HPT_JOB_FAILED);
    hpt_tuner_destroy (&tuner);
    hpt_store_destroy (&store);
}

static void
test_worker_failure_stops_siblings (void **state)
{
    hpt_store_t *store = s_store (":memory:");
    hpt_tuner_t *tuner = s_tuner (store, "j5", 2, 1, 2, 2);
    hpt_trial_t *t = s_next (store, tuner, 1);
    s_place_and_start (store, tuner, t);
    size_t n = 0;
    s_exit (store, tuner, t, &t->tasks[2], 1, 0, 4, &n);
    assert_int_equal (t->state, HPT_TRIAL_FAILED);
    assert_non_null (strstr (t->message, "worker-1 exited with status 1"));
    assert_int_equal (n, 2); //  master and worker 0
    assert_int_equal (t->tasks[0].state, HPT_TASK_STOPPING);
    assert_int_equal (t->tasks[1].state, HPT_TASK_STOPPING);
    hpt_tuner_destroy (&tuner);
    hpt_store_destroy (&store);
}

static void
test_cancel (void **state)
{
    hpt_store_t *store = s_store (":memory:");
    hpt_tuner_t *tuner = s_tuner (store, "j6", 4, 2, 0, 0);
    hpt_trial_t *t = s_next (store, tuner, 1);
    s_place_and_start (store, tuner, t);
    hpt_trial_t *pending = s_next (store, tuner, 4);
    hpt_task_t **to_stop = NULL;
    size_t n = 0;
    hpt_error_t error;
    s_begin (store);
    assert_ok (
        hpt_tuner_cancel (tuner, store, "Job cancelled by the user", 5, &to_stop, &n, &error),
        &error);
    s_commit (store);
    assert_int_equal (n, 1);
    assert_ptr_equal (to_stop[0], &t->tasks[0]);
    assert_int_equal (hpt_tuner_state (tuner), HPT_JOB_CANCELLING);
    assert_int_equal (pending->state, HPT_TRIAL_CANCELLED);
    assert_int_equal (t->state, HPT_TRIAL_STOPPING);
    free (to_stop);
    to_stop = NULL;
    n = 0;
    s_exit (store, tuner, t, &t->tasks[0], 0, 15, 6, NULL);
    assert_int_equal (t->state, HPT_TRIAL_CANCELLED);
    assert_int_equal (hpt_tuner_state (tuner), HPT_JOB_CANCELLED);
    json_t *row = NULL;
    assert_ok (hpt_store_job_get (store, "j6", &row, &error), &error);
    assert_string_equal (json_string_value (json_object_get (row, "state")), "CANCELLED");
    assert_string_equal (json_string_value (json_object_get (row, "error_message")),
                         "Job cancelled by the user");
    json_decref (row);
    s_begin (store);
    hpt_error_clear (&error);
    assert_int_equal (hpt_tuner_cancel (tuner, store, "again", 7, &to_stop, &n, &error), -1);
    assert_int_equal (error.code, HPT_E_FAILED_PRECONDITION);
    s_commit (store);
    free (to_stop);
    hpt_tuner_destroy (&tuner);
    hpt_store_destroy (&store);
}

static void
test_reload_gives_same_state (void **state)
{
    hpt_store_t *store = s_store (":memory:");
    hpt_tuner_t *tuner = s_tuner (store, "j7", 4, 2, 0, 0);
    s_run_trial (store, tuner, s_next (store, tuner, 1), 0.7, 0);
    hpt_trial_t *running = s_next (store, tuner, 1);
    running->tasks[0].agent = strdup ("a");
    s_begin (store);
    assert_int_equal (hpt_tuner_trial_placed (tuner, store, running, 2), 0);
    s_commit (store);
    hpt_tuner_t *again = s_reload (store, "j7", 4, 2, 0, 0);
    assert_int_equal (hpt_tuner_trial_count (again), 2);
    assert_int_equal (hpt_tuner_state (again), hpt_tuner_state (tuner));
    assert_int_equal (hpt_tuner_state (again), HPT_JOB_RUNNING);
    assert_int_equal (hpt_tuner_seq (again), hpt_tuner_seq (tuner));
    hpt_trial_t *t2 = hpt_tuner_trial (again, 1);
    assert_int_equal (t2->id, 2);
    assert_int_equal (t2->state, HPT_TRIAL_PROVISIONING);
    assert_string_equal (t2->tasks[0].agent, "a");
    assert_int_equal (t2->tasks[0].state, HPT_TASK_LAUNCHING);
    hpt_trial_t *t1 = hpt_tuner_trial (again, 0);
    assert_int_equal (t1->state, HPT_TRIAL_SUCCEEDED);
    assert_true (t1->final_value == 0.7);
    assert_null (hpt_tuner_trial (again, 2));
    hpt_tuner_destroy (&tuner);
    hpt_tuner_destroy (&again);
    hpt_store_destroy (&store);
}

//  The tuner writes only inside the caller's transaction: outside one it
//  fails and stores nothing.
static void
test_tuner_needs_a_transaction (void **state)
{
    hpt_store_t *store = s_store (":memory:");
    size_t count;
    hpt_task_request_t *requests = s_requests (&count, 0);
    hpt_error_t error;
    hpt_error_clear (&error);
    hpt_tuner_t *tuner = hpt_tuner_new (store, s_job ("n1", 1, 1, 0), "default", NULL, requests,
                                        count, 42, 1000, &error);
    assert_null (tuner);
    assert_int_equal (error.code, HPT_E_INVALID);
    json_t *row = NULL;
    assert_int_equal (hpt_store_job_get (store, "n1", &row, NULL), -1);
    hpt_store_destroy (&store);
}

//  A temporary directory for a store file: *state is the database path.
static int
s_file_setup (void **state)
{
    char dir[] = "/tmp/hpt-test-tuner-XXXXXX";
    if (!mkdtemp (dir)) return -1;
    char *path = malloc (64);
    snprintf (path, 64, "%s/hpt.db", dir);
    *state = path;
    return 0;
}

static int
s_file_teardown (void **state)
{
    char *path = *state;
    const char *suffixes[] = {"", "-wal", "-shm", "-lock"};
    for (size_t i = 0; i < 4; i++) {
        char file[80];
        snprintf (file, sizeof (file), "%s%s", path, suffixes[i]);
        unlink (file);
    }
    *strrchr (path, '/') = '\0';
    rmdir (path);
    free (path);
    return 0;
}

//  "The final metric was only in memory": a report of the objective is
//  stored with the trial's final metric and report count in the same
//  transaction, so a tuner loaded from the store after a restart has them
//  as before, and the trial succeeds when its master exits 0.
static void
test_final_metric_survives_reload (void **state)
{
    const char *path = *state;
    hpt_store_t *store = s_store (path);
    hpt_tuner_t *tuner = s_tuner (store, "f1", 1, 1, 1, 0);
    hpt_trial_t *t = s_next (store, tuner, 1500);
    s_place_and_start (store, tuner, t);
    hpt_tuner_point_t points[] = {
        {"loss", 0.4, 3, 100.5}, {"other", 9, 1, 100.75}, {"loss", 0.3, 7, 101.25}};
    s_report (store, tuner, t, &t->tasks[0], points, 3);
    assert_true (t->has_final);
    assert_true (t->final_value == 0.3);
    assert_int_equal (t->final_step, 7);
    assert_true (t->final_time == 101.25);
    assert_int_equal (t->reports, 2);
    hpt_tuner_destroy (&tuner);
    hpt_store_destroy (&store);

    store = s_store (path);
    tuner = s_reload (store, "f1", 1, 1, 1, 0);
    assert_int_equal (hpt_tuner_trial_count (tuner), 1);
    t = hpt_tuner_trial (tuner, 0);
    assert_int_equal (t->state, HPT_TRIAL_RUNNING);
    assert_int_equal (t->tasks[0].state, HPT_TASK_RUNNING);
    assert_true (t->has_final);
    assert_true (t->final_value == 0.3);
    assert_int_equal (t->final_step, 7);
    assert_true (t->final_time == 101.25);
    assert_int_equal (t->reports, 2);
    //  The report time is what orders reports: a replayed older point does
    //  not move the final metric back, after the reload too.
    hpt_tuner_point_t old = {"loss", 0.9, 2, 100.9};
    s_report (store, tuner, t, &t->tasks[0], &old, 1);
    assert_true (t->final_value == 0.3);
    assert_int_equal (t->final_step, 7);
    assert_int_equal (t->reports, 2);
    //  The master exiting 0 after reporting succeeds the trial.
    s_exit (store, tuner, t, &t->tasks[0], 0, 0, 3000, NULL);
    assert_int_equal (t->state, HPT_TRIAL_SUCCEEDED);
    assert_int_equal (hpt_tuner_state (tuner), HPT_JOB_SUCCEEDED);
    json_t *json = hpt_tuner_to_json (tuner, store, true, NULL);
    json_t *trial =
        json_array_get (json_object_get (json_object_get (json, "trainingOutput"), "trials"), 0);
    json_t *final = json_object_get (trial, "finalMetric");
    assert_string_equal (json_string_value (json_object_get (final, "trainingStep")), "7");
    assert_true (json_real_value (json_object_get (final, "objectiveValue")) == 0.3);
    json_decref (json);
    hpt_tuner_destroy (&tuner);
    hpt_store_destroy (&store);
}

static void
s_assert_steps (hpt_store_t *store, const char *job_id, const int64_t *steps, size_t count)
{
    json_t *list = NULL;
    hpt_error_t error;
    assert_ok (hpt_store_metrics_of_trial (store, job_id, 1, "loss", &list, &error), &error);
    assert_int_equal (json_array_size (list), count);
    for (size_t i = 0; i < count; i++)
        assert_int_equal (json_integer_value (json_object_get (json_array_get (list, i), "step")),
                          steps[i]);
    json_decref (list);
}

//  A point without a step gets the trial's report count + 1 as its step,
//  and the count goes on from where it was after a reload.
static void
test_stepless_points_count_reports (void **state)
{
    hpt_store_t *store = s_store (":memory:");
    hpt_tuner_t *tuner = s_tuner (store, "s1", 1, 1, 1, 0);
    hpt_trial_t *t = s_next (store, tuner, 1500);
    s_place_and_start (store, tuner, t);
    hpt_tuner_point_t points[] = {{"loss", 0.5, -1, 10.0}, {"loss", 0.4, -1, 11.0}};
    s_report (store, tuner, t, &t->tasks[0], points, 2);
    assert_int_equal (t->reports, 2);
    assert_int_equal (t->final_step, 2);
    const int64_t two[] = {1, 2};
    s_assert_steps (store, "s1", two, 2);
    hpt_tuner_destroy (&tuner);

    tuner = s_reload (store, "s1", 1, 1, 1, 0);
    t = hpt_tuner_trial (tuner, 0);
    assert_int_equal (t->reports, 2);
    hpt_tuner_point_t third = {"loss", 0.3, -1, 12.0};
    s_report (store, tuner, t, &t->tasks[0], &third, 1);
    assert_int_equal (t->reports, 3);
    assert_int_equal (t->final_step, 3);
    assert_true (t->final_value == 0.3);
    const int64_t three[] = {1, 2, 3};
    s_assert_steps (store, "s1", three, 3);
    hpt_tuner_destroy (&tuner);

    tuner = s_reload (store, "s1", 1, 1, 1, 0);
    t = hpt_tuner_trial (tuner, 0);
    assert_int_equal (t->reports, 3);
    assert_int_equal (t->final_step, 3);
    hpt_tuner_destroy (&tuner);
    hpt_store_destroy (&store);
}

//  hpt_tuner_written_in is the store transaction the tuner last wrote
//  in, so the core knows which tuners to rebuild after a failed commit.
static void
test_written_in_follows_transaction (void **state)
{
    hpt_store_t *store = s_store (":memory:");
    hpt_tuner_t *tuner = s_tuner (store, "w1", 2, 1, 2, 0);
    s_begin (store);
    hpt_trial_t *t = s_next_in (store, tuner, 1500);
    assert_non_null (t);
    assert_true (hpt_tuner_written_in (tuner) == hpt_store_transaction_id (store));
    s_commit (store);
    t->tasks[0].agent = strdup ("a");
    s_begin (store);
    assert_true (hpt_tuner_written_in (tuner) != hpt_store_transaction_id (store));
    assert_int_equal (hpt_tuner_trial_placed (tuner, store, t, 2000), 0);
    assert_true (hpt_tuner_written_in (tuner) == hpt_store_transaction_id (store));
    s_commit (store);
    s_begin (store);
    assert_int_equal (hpt_tuner_task_started (tuner, store, t, &t->tasks[0], 10, 2050, 2100), 0);
    assert_true (hpt_tuner_written_in (tuner) == hpt_store_transaction_id (store));
    s_commit (store);
    s_begin (store);
    hpt_tuner_point_t point = {"other", 1, 1, 5.0};
    char *stop_reason = NULL;
    assert_int_equal (hpt_tuner_report (tuner, store, t, &t->tasks[0], &point, 1, &stop_reason), 0);
    assert_true (hpt_tuner_written_in (tuner) == hpt_store_transaction_id (store));
    uint64_t last = hpt_store_transaction_id (store);
    s_commit (store);
    //  A transaction it did not write in is not its.
    s_begin (store);
    assert_true (hpt_tuner_written_in (tuner) == last);
    s_commit (store);
    hpt_tuner_destroy (&tuner);
    hpt_store_destroy (&store);
}

//  A report whose transaction fails is gone from the store, and the tuner
//  rebuilt from the store (what the core does after a failed commit)
//  does not have it either.
static void
test_failed_commit_forgets_report (void **state)
{
    hpt_store_t *store = s_store (":memory:");
    hpt_tuner_t *tuner = s_tuner (store, "r1", 1, 1, 1, 0);
    hpt_trial_t *t = s_next (store, tuner, 1500);
    s_place_and_start (store, tuner, t);
    s_begin (store);
    uint64_t txn = hpt_store_transaction_id (store);
    hpt_tuner_point_t point = {"loss", 0.25, 4, 10.0};
    char *stop_reason = NULL;
    assert_int_equal (hpt_tuner_report (tuner, store, t, &t->tasks[0], &point, 1, &stop_reason), 0);
    assert_true (t->has_final); //  in memory
    hpt_error_t failure, error;
    hpt_error_set (&failure, HPT_E_UNAVAILABLE, "job log: disk full");
    hpt_store_fail (store, &failure);
    assert_int_equal (hpt_store_commit (store, &error), -1);
    assert_true (hpt_tuner_written_in (tuner) == txn);
    hpt_tuner_destroy (&tuner);
    tuner = s_reload (store, "r1", 1, 1, 1, 0);
    t = hpt_tuner_trial (tuner, 0);
    assert_false (t->has_final);
    assert_int_equal (t->reports, 0);
    s_assert_steps (store, "r1", NULL, 0);
    hpt_tuner_destroy (&tuner);
    hpt_store_destroy (&store);
}

//  n points of "loss" from task, steps first.., in one batch.
static void
s_report_many (hpt_store_t *store, hpt_tuner_t *tuner, hpt_trial_t *trial, hpt_task_t *task,
               int64_t first, size_t n)
{
    hpt_tuner_point_t *points = calloc (n, sizeof (hpt_tuner_point_t));
    for (size_t i = 0; i < n; i++)
        points[i] = (hpt_tuner_point_t){"loss", (double)i, first + (int64_t)i,
                                        10.0 + (double)(first + (int64_t)i)};
    s_report (store, tuner, trial, task, points, n);
    free (points);
}

//  The trial whose trialId is id in the Job resource json.
static json_t *
s_trial_of (json_t *json, const char *id)
{
    json_t *trials = json_object_get (json_object_get (json, "trainingOutput"), "trials");
    size_t i;
    json_t *trial;
    json_array_foreach (trials, i, trial)
        if (strcmp (json_string_value (json_object_get (trial, "trialId")), id) == 0) return trial;
    fail_msg ("no trial %s", id);
    return NULL;
}

//  allMetrics shows the last HPT_TUNER_ALL_METRICS points of the
//  objective replica and says when there were more.
static void
test_all_metrics_are_the_last_points (void **state)
{
    hpt_store_t *store = s_store (":memory:");
    hpt_tuner_t *tuner = s_tuner (store, "m1", 2, 2, 0, 1);
    hpt_trial_t *t1 = s_next (store, tuner, 1500);
    s_place_and_start (store, tuner, t1);
    hpt_trial_t *t2 = s_next (store, tuner, 1500);
    s_place_and_start (store, tuner, t2);
    s_report_many (store, tuner, t1, &t1->tasks[0], 1, 2500);
    //  A worker's reports of the same tag are not the objective's curve.
    s_report_many (store, tuner, t1, &t1->tasks[1], 1, 3000);
    s_report_many (store, tuner, t2, &t2->tasks[0], 1, HPT_TUNER_ALL_METRICS);
    json_t *json = hpt_tuner_to_json (tuner, store, true, NULL);
    json_t *trial = s_trial_of (json, "1");
    json_t *all = json_object_get (trial, "allMetrics");
    assert_int_equal (json_array_size (all), HPT_TUNER_ALL_METRICS);
    for (size_t i = 0; i < json_array_size (all); i++) {
        json_t *point = json_array_get (all, i);
        char step[16];
        snprintf (step, sizeof (step), "%zu", 1501 + i);
        assert_string_equal (json_string_value (json_object_get (point, "trainingStep")), step);
        assert_true (json_number_value (json_object_get (point, "objectiveValue")) ==
                     (double)(1500 + i));
    }
    assert_true (json_is_true (json_object_get (trial, "hptMetricsTruncated")));
    trial = s_trial_of (json, "2");
    assert_int_equal (json_array_size (json_object_get (trial, "allMetrics")),
                      HPT_TUNER_ALL_METRICS);
    assert_null (json_object_get (trial, "hptMetricsTruncated"));
    json_decref (json);
    hpt_tuner_destroy (&tuner);
    hpt_store_destroy (&store);
}

//  The Job resource with its trials as the API's text. The API's
//  incremental rendering (kept trial texts joined into the frame) must
//  print it byte for byte, whatever changed since its last call.
static char *
s_job_text (hpt_tuner_t *tuner, hpt_store_t *store, bool *complete)
{
    json_t *json = hpt_tuner_to_json (tuner, store, true, complete);
    char *text = hpt_json_dumps (json, true);
    json_decref (json);
    json_t *frame = hpt_tuner_to_json (tuner, store, false, NULL);
    bool joined_complete;
    char *joined = hpt_tuner_job_text (tuner, store, frame, &joined_complete);
    json_decref (frame);
    assert_string_equal (joined, text);
    assert_true (joined_complete == *complete);
    free (joined);
    return text;
}

//  The version moves with every change the Job resource shows, and only
//  then; the etag follows it; a rebuilt tuner never reuses one.
static void
test_version_and_etag_follow_changes (void **state)
{
    hpt_store_t *store = s_store (":memory:");
    hpt_tuner_t *tuner = s_tuner (store, "v1", 1, 1, 1, 0);
    uint64_t seen = hpt_tuner_version (tuner);
    assert_true (seen > 0);
    bool complete = false;
    char *before = s_job_text (tuner, store, &complete);
    assert_true (complete);
    char *again = s_job_text (tuner, store, &complete);
    assert_string_equal (before, again);
    assert_true (hpt_tuner_version (tuner) == seen);
    free (again);

    //  The etag in the resource is the version in base64.
    json_t *json = hpt_tuner_to_json (tuner, store, false, NULL);
    char etag[32];
    hpt_tuner_etag (tuner, etag, sizeof (etag));
    assert_string_equal (json_string_value (json_object_get (json, "etag")), etag);
    assert_int_equal (strlen (etag), 12);
    json_decref (json);

    //  The queue reason is shown, so it is a change; the same one is not.
    hpt_tuner_set_queue_reason (tuner, "no agent");
    assert_true (hpt_tuner_version (tuner) > seen);
    seen = hpt_tuner_version (tuner);
    hpt_tuner_set_queue_reason (tuner, "no agent");
    assert_true (hpt_tuner_version (tuner) == seen);

    //  Each event that writes moves it on, and the text with it.
    hpt_trial_t *t = s_next (store, tuner, 1500);
    assert_true (hpt_tuner_version (tuner) > seen);
    seen = hpt_tuner_version (tuner);
    s_place_and_start (store, tuner, t);
    assert_true (hpt_tuner_version (tuner) > seen);
    seen = hpt_tuner_version (tuner);
    char old_etag[32];
    hpt_tuner_etag (tuner, old_etag, sizeof (old_etag));
    s_report_many (store, tuner, t, &t->tasks[0], 1, 3);
    assert_true (hpt_tuner_version (tuner) > seen);
    hpt_tuner_etag (tuner, etag, sizeof (etag));
    assert_string_not_equal (etag, old_etag);
    char *after = s_job_text (tuner, store, &complete);
    assert_string_not_equal (before, after);
    //  A point older than the final metric moves nothing of the trial,
    //  but it is one more point of the curve: a change all the same.
    seen = hpt_tuner_version (tuner);
    hpt_tuner_point_t late = {"loss", 9, 2, 0.5};
    s_report (store, tuner, t, &t->tasks[0], &late, 1);
    assert_true (hpt_tuner_version (tuner) > seen);
    char *later = s_job_text (tuner, store, &complete);
    assert_string_not_equal (after, later);
    free (before);
    free (after);
    free (later);

    //  A tuner rebuilt from the store (failed commit, restart) starts at
    //  a version no earlier tuner of the job had.
    seen = hpt_tuner_version (tuner);
    hpt_tuner_destroy (&tuner);
    tuner = s_reload (store, "v1", 1, 1, 1, 0);
    assert_true (hpt_tuner_version (tuner) > seen);
    hpt_tuner_destroy (&tuner);
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
    hpt_store_t *store = s_store (":memory:");
    //  Master + 2 workers, 1 CPU each; two nodes with 1 CPU each: no fit.
    hpt_tuner_t *tuner = s_tuner (store, "g1", 1, 1, 0, 2);
    hpt_host_t *nodes[2] = {s_node ("a", "{\"cpus\": 1, \"memoryGb\": 1}"),
                            s_node ("b", "{\"cpus\": 1, \"memoryGb\": 1}")};
    hpt_trial_t *t = s_next (store, tuner, 1);
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
    hpt_task_request_t req = {"master", 0, "x", 4, 1000, "NVIDIA_TESLA_V100", 2, NULL};
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
    hpt_task_request_t big = {"master", 0, "x", 4, 1000, "NVIDIA_TESLA_V100", 8, NULL};
    char *why = hpt_scheduler_infeasible (nodes, 1, &big, 1);
    assert_non_null (strstr (why, "needs 8 x NVIDIA_TESLA_V100"));
    free (why);
    free (t1.agent);
    free (t2.agent);
    json_decref (t1.placement);
    json_decref (t2.placement);
    hpt_host_destroy (&node);
}

//  Two agents advertising one host address (two on one machine) draw
//  TF_CONFIG ports from one pool: their tasks never share ADDRESS:PORT,
//  also once a port is released and taken again; agents on other
//  addresses keep their own ranges.
static hpt_task_t *
s_place_one (hpt_host_t **nodes, size_t count, hpt_task_request_t *req, const char *id)
{
    hpt_task_t *task = hpt_calloc (1, sizeof (hpt_task_t));
    task->task_id = (char *)id;
    task->request = req;
    hpt_trial_t trial = {.tasks = task, .task_count = 1};
    assert_true (hpt_scheduler_place (nodes, count, &trial));
    return task;
}

static void
test_ports_one_pool_per_address (void **state)
{
    const char *same = "{\"cpus\": 1, \"memoryGb\": 1, \"advertise\": \"vm\", \"ports\": "
                       "[20000, 20003]}";
    hpt_host_t *a = s_node ("a", same), *b = s_node ("b", same),
               *c = s_node ("c", "{\"cpus\": 1, \"memoryGb\": 1, \"advertise\": \"VM\", "
                                 "\"ports\": [20002, 20005]}"),
               *other = s_node ("z", "{\"cpus\": 4, \"memoryGb\": 4, \"advertise\": "
                                     "\"vm2\", \"ports\": [20000, 20003]}");
    hpt_task_request_t req = {"master", 0, "x", 1, 100, NULL, 0, NULL};
    hpt_host_t *nodes[4] = {a, b, c, other};
    hpt_task_t *tasks[7];
    //  a, b and c fill up (one CPU each), then z takes the rest.
    for (int i = 0; i < 7; i++)
        tasks[i] = s_place_one (nodes, 4, &req, "t");
    char seen[7][64];
    for (int i = 0; i < 7; i++) {
        json_t *p = tasks[i]->placement;
        snprintf (seen[i], sizeof (seen[i]), "%s:%lld",
                  json_string_value (json_object_get (p, "host")),
                  (long long)json_integer_value (json_object_get (p, "port")));
    }
    assert_string_equal (seen[0], "vm:20000");
    assert_string_equal (seen[1], "vm:20001");
    assert_string_equal (seen[2], "VM:20002");
    //  z's range is its own: the same numbers on another address.
    assert_string_equal (seen[3], "vm2:20000");
    //  a's task ends; b then takes a port none of a, c holds.
    hpt_scheduler_release (a, tasks[0]);
    hpt_scheduler_release (b, tasks[1]);
    hpt_task_t *again = s_place_one (nodes, 4, &req, "t");
    assert_string_equal (again->agent, "a");
    assert_int_equal (json_integer_value (json_object_get (again->placement, "port")), 20001);
    hpt_task_t *next = s_place_one (nodes, 4, &req, "t");
    assert_string_equal (next->agent, "b");
    assert_int_equal (json_integer_value (json_object_get (next->placement, "port")), 20003);
    //  Every port of b's range is now held on its address: b has none.
    assert_true (hpt_host_holds_port (a, 20001) && !hpt_host_holds_port (a, 20000));
    assert_int_equal (hpt_host_take_port (b, nodes, 4), 20000);
    assert_int_equal (hpt_host_take_port (b, nodes, 4), -1);
    hpt_task_t *all[9] = {tasks[0], tasks[1], tasks[2], tasks[3], tasks[4],
                          tasks[5], tasks[6], again,    next};
    for (int i = 0; i < 9; i++) {
        free (all[i]->agent);
        json_decref (all[i]->placement);
        free (all[i]);
    }
    for (int i = 0; i < 4; i++)
        hpt_host_destroy (&nodes[i]);
}

//  A running trial whose GPU reports utilization under 1% for 5 minutes
//  gets a notice in its Trial resource; a busy sample clears it.
static const char *
s_notice (hpt_tuner_t *tuner, hpt_store_t *store, json_t **json)
{
    json_decref (*json);
    *json = hpt_tuner_to_json (tuner, store, true, NULL);
    json_t *trial =
        json_array_get (json_object_get (json_object_get (*json, "trainingOutput"), "trials"), 0);
    return json_string_value (json_object_get (trial, "hptNotice"));
}

static void
test_idle_gpu_notice (void **state)
{
    hpt_store_t *store = s_store (":memory:");
    hpt_tuner_t *tuner = s_tuner (store, "idle", 1, 1, 1, 0);
    hpt_trial_t *t = s_next (store, tuner, 1500);
    s_place_and_start (store, tuner, t);
    json_t *json = NULL;
    //  Idle for 4 minutes: nothing yet; GPU 1 busy meanwhile.
    hpt_tuner_point_t early[] = {{"hpt/gpu/3/utilization", 0, -1, 1000.0},
                                 {"hpt/gpu/1/utilization", 80, -1, 1000.0},
                                 {"hpt/gpu/3/utilization", 0.5, -1, 1240.0}};
    s_report (store, tuner, t, &t->tasks[0], early, 3);
    assert_null (s_notice (tuner, store, &json));
    //  5 minutes: GPU 3 is named, not GPU 1.
    hpt_tuner_point_t later[] = {{"hpt/gpu/3/utilization", 0, -1, 1300.0},
                                 {"hpt/gpu/1/utilization", 90, -1, 1300.0}};
    s_report (store, tuner, t, &t->tasks[0], later, 2);
    const char *notice = s_notice (tuner, store, &json);
    assert_non_null (notice);
    assert_non_null (strstr (notice, "GPU 3 idle"));
    assert_null (strstr (notice, "GPU 1"));
    //  Busy again: the notice goes.
    hpt_tuner_point_t busy = {"hpt/gpu/3/utilization", 60, -1, 1310.0};
    s_report (store, tuner, t, &t->tasks[0], &busy, 1);
    assert_null (s_notice (tuner, store, &json));
    //  The points are stored like any other.
    json_decref (json);
    hpt_tuner_destroy (&tuner);
    hpt_store_destroy (&store);
}

//  Asks for every trial the tuner wants, answers at once and places and
//  starts the new trials, one transaction each; returns how many came.
static size_t
s_fill (hpt_store_t *store, hpt_tuner_t *tuner)
{
    size_t wanted = hpt_tuner_wanted (tuner);
    if (!wanted) return 0;
    size_t before = hpt_tuner_trial_count (tuner);
    hpt_suggest_request_t *request = hpt_tuner_ask (tuner, wanted);
    hpt_suggest_answer_t *answer = hpt_suggest_compute (request);
    s_begin (store);
    assert_int_equal (hpt_tuner_answer (tuner, store, answer, 3500), (int)wanted);
    s_commit (store);
    hpt_suggest_answer_destroy (&answer);
    hpt_suggest_request_destroy (&request);
    for (size_t i = before; i < hpt_tuner_trial_count (tuner); i++)
        s_place_and_start (store, tuner, hpt_tuner_trial (tuner, i));
    return wanted;
}

//  Batched suggestions and restarts (docs/optimizer.md "Suggestions off
//  the loop"): batches grow with the trials in flight; a request is a
//  snapshot of what the store holds, so a master that died with a request
//  in flight asks its rebuilt tuner the same question and gets the same
//  batch; once the answer is stored, a tuner rebuilt from the store has
//  the same trials and asks the same next question. Late answers (to a
//  request a rebuilt tuner never made, or for a cancelled job) create no
//  trial.
static void
test_batched_suggestions_survive_restart (void **state)
{
    hpt_store_t *store = s_store (":memory:");
    hpt_tuner_t *tuner = s_tuner (store, "b1", 30, 8, 0, 0);
    //  Six results, one at a time: the initial design is done.
    for (int i = 0; i < 6; i++) {
        hpt_trial_t *t = s_next (store, tuner, 1500);
        assert_non_null (t);
        s_run_trial (store, tuner, t, pow (t->values[0] - 0.3, 2), 0);
    }
    //  Batches of 1, 1, 2 while the cluster takes them all.
    assert_int_equal (s_fill (store, tuner), 1);
    assert_int_equal (s_fill (store, tuner), 1);
    assert_int_equal (s_fill (store, tuner), 2);
    assert_int_equal (hpt_tuner_wanted (tuner), 4);
    hpt_suggest_request_t *lost = hpt_tuner_ask (tuner, 4);
    assert_int_equal (lost->count, 4);
    assert_int_equal (hpt_tuner_wanted (tuner), 0);
    hpt_suggest_answer_t *lost_answer = hpt_suggest_compute (lost);
    size_t dim = lost_answer->dim;
    assert_int_equal (lost_answer->count, 4);
    //  The master dies before the answer: the rebuilt tuner has no
    //  request, drops the late answer, and asks the same question.
    hpt_tuner_destroy (&tuner);
    tuner = s_reload (store, "b1", 30, 8, 0, 0);
    assert_false (hpt_tuner_asking (tuner));
    s_begin (store);
    assert_int_equal (hpt_tuner_answer (tuner, store, lost_answer, 4000), 0);
    s_commit (store);
    assert_int_equal (hpt_tuner_trial_count (tuner), 10);
    assert_int_equal (hpt_tuner_wanted (tuner), 4);
    hpt_suggest_request_t *again = hpt_tuner_ask (tuner, 4);
    assert_true (again->id != lost->id);
    hpt_suggest_answer_t *answer = hpt_suggest_compute (again);
    assert_int_equal (answer->count, 4);
    assert_memory_equal (answer->values, lost_answer->values, 4 * dim * sizeof (double));
    s_begin (store);
    assert_int_equal (hpt_tuner_answer (tuner, store, answer, 4000), 4);
    s_commit (store);
    assert_false (hpt_tuner_asking (tuner));
    assert_int_equal (hpt_tuner_trial_count (tuner), 14);
    for (size_t i = 0; i < 4; i++) {
        hpt_trial_t *t = hpt_tuner_trial (tuner, 10 + i);
        assert_int_equal (t->id, 11 + (int64_t)i);
        assert_int_equal (t->state, HPT_TRIAL_PENDING);
        assert_true (t->values[0] == answer->values[i * dim]);
    }
    //  While trials wait PENDING, nothing more is asked.
    assert_int_equal (hpt_tuner_wanted (tuner), 0);
    for (size_t i = 0; i < 4; i++)
        s_place_and_start (store, tuner, hpt_tuner_trial (tuner, 10 + i));
    //  Two end; restarted then: same trials, same question.
    for (size_t i = 6; i < 8; i++) {
        hpt_trial_t *t = hpt_tuner_trial (tuner, i);
        hpt_tuner_point_t point = {"loss", pow (t->values[0] - 0.3, 2), 10, 3.0};
        s_report (store, tuner, t, &t->tasks[0], &point, 1);
        s_exit (store, tuner, t, &t->tasks[0], 0, 0, 3000, NULL);
    }
    hpt_tuner_t *rebuilt = s_reload (store, "b1", 30, 8, 0, 0);
    assert_int_equal (hpt_tuner_trial_count (rebuilt), 14);
    for (size_t i = 0; i < 14; i++)
        assert_memory_equal (hpt_tuner_trial (rebuilt, i)->values,
                             hpt_tuner_trial (tuner, i)->values, dim * sizeof (double));
    assert_int_equal (hpt_tuner_wanted (tuner), 2);
    assert_int_equal (hpt_tuner_wanted (rebuilt), 2);
    hpt_suggest_request_t *next_a = hpt_tuner_ask (tuner, 2);
    hpt_suggest_request_t *next_b = hpt_tuner_ask (rebuilt, 2);
    hpt_suggest_answer_t *answer_a = hpt_suggest_compute (next_a);
    hpt_suggest_answer_t *answer_b = hpt_suggest_compute (next_b);
    assert_int_equal (answer_a->count, 2);
    assert_memory_equal (answer_a->values, answer_b->values, 2 * dim * sizeof (double));
    //  Cancelled while its request is in flight: the answer makes no trial.
    hpt_task_t **to_stop = NULL;
    size_t n = 0;
    hpt_error_t error;
    s_begin (store);
    assert_ok (
        hpt_tuner_cancel (tuner, store, "Job cancelled by the user", 5000, &to_stop, &n, &error),
        &error);
    assert_int_equal (hpt_tuner_answer (tuner, store, answer_a, 5000), 0);
    s_commit (store);
    free (to_stop);
    assert_int_equal (hpt_tuner_trial_count (tuner), 14);
    hpt_suggest_answer_destroy (&lost_answer);
    hpt_suggest_answer_destroy (&answer);
    hpt_suggest_answer_destroy (&answer_a);
    hpt_suggest_answer_destroy (&answer_b);
    hpt_suggest_request_destroy (&lost);
    hpt_suggest_request_destroy (&again);
    hpt_suggest_request_destroy (&next_a);
    hpt_suggest_request_destroy (&next_b);
    hpt_tuner_destroy (&rebuilt);
    hpt_tuner_destroy (&tuner);
    hpt_store_destroy (&store);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_job_succeeds_with_best_first),
        cmocka_unit_test (test_batched_suggestions_survive_restart),
        cmocka_unit_test (test_first_failure_fails_job),
        cmocka_unit_test (test_signal_and_core_dump_in_failure_text),
        cmocka_unit_test (test_no_metric_fails_trial),
        cmocka_unit_test (test_default_rule_later_failures),
        cmocka_unit_test (test_worker_failure_stops_siblings),
        cmocka_unit_test (test_cancel),
        cmocka_unit_test (test_reload_gives_same_state),
        cmocka_unit_test (test_tuner_needs_a_transaction),
        cmocka_unit_test_setup_teardown (test_final_metric_survives_reload, s_file_setup,
                                         s_file_teardown),
        cmocka_unit_test (test_stepless_points_count_reports),
        cmocka_unit_test (test_written_in_follows_transaction),
        cmocka_unit_test (test_failed_commit_forgets_report),
        cmocka_unit_test (test_all_metrics_are_the_last_points),
        cmocka_unit_test (test_version_and_etag_follow_changes),
        cmocka_unit_test (test_gang_placement_all_or_nothing),
        cmocka_unit_test (test_gpu_numa_locality),
        cmocka_unit_test (test_ports_one_pool_per_address),
        cmocka_unit_test (test_idle_gpu_notice),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
