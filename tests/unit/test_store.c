/*  test_store -- the master's SQLite store: durability across reopen,
    schema versioning, state updates, ordering, metric batches and their
    deduplication, filters, drain fields, errors.

    Each test works in its own temporary directory.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hpt_store.h"
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    char dir[64];   //  temporary directory
    char path[128]; //  database file inside it
} fixture_t;

static int
s_setup (void **state)
{
    fixture_t *fixture = calloc (1, sizeof (fixture_t));
    strcpy (fixture->dir, "/tmp/hpt-test-store-XXXXXX");
    assert_non_null (mkdtemp (fixture->dir));
    snprintf (fixture->path, sizeof (fixture->path), "%s/hpt.db", fixture->dir);
    *state = fixture;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *fixture = *state;
    const char *suffixes[] = {"", "-wal", "-shm", "-journal", "-lock"};
    for (size_t i = 0; i < 5; i++) {
        char file[160];
        snprintf (file, sizeof (file), "%s%s", fixture->path, suffixes[i]);
        unlink (file);
    }
    rmdir (fixture->dir);
    free (fixture);
    return 0;
}

static hpt_store_t *
s_open (fixture_t *fixture)
{
    char *error = NULL;
    hpt_store_t *store = hpt_store_new (fixture->path, &error);
    if (!store) fail_msg ("open failed: %s", error ? error : "(no message)");
    assert_null (error);
    return store;
}

static void
s_insert_job (hpt_store_t *store, const char *job_id, const char *project, const char *state)
{
    hpt_store_job_t job = {.job_id = job_id,
                           .project = project,
                           .spec_json = "{\"jobId\": \"x\", \"trainingInput\": {}}",
                           .state = state,
                           .create_time = 1700000000000,
                           .seed = 42};
    int64_t seq = 0;
    assert_int_equal (hpt_store_job_insert (store, &job, &seq), HPT_STORE_OK);
    assert_true (seq > 0);
}

static void
s_insert_trial (hpt_store_t *store, const char *job_id, int64_t trial_id)
{
    hpt_store_trial_t trial = {.job_id = job_id,
                               .trial_id = trial_id,
                               .state = "PENDING",
                               .values_json = "[0.25, 3]",
                               .hyperparameters_json = "{\"lr\": \"0.25\", \"units\": \"3\"}"};
    assert_int_equal (hpt_store_trial_insert (store, &trial), HPT_STORE_OK);
}

static const char *
s_str (json_t *object, const char *key)
{
    json_t *value = json_object_get (object, key);
    assert_true (json_is_string (value));
    return json_string_value (value);
}

static json_int_t
s_int (json_t *object, const char *key)
{
    json_t *value = json_object_get (object, key);
    assert_true (json_is_integer (value));
    return json_integer_value (value);
}

static void
test_create_reopen_keeps_everything (void **state)
{
    fixture_t *fixture = *state;
    hpt_store_t *store = s_open (fixture);
    s_insert_job (store, "job1", "proj", "QUEUED");
    s_insert_trial (store, "job1", 1);
    hpt_store_task_t task = {.task_id = "job1/1/master/0",
                             .job_id = "job1",
                             .trial_id = 1,
                             .replica_type = "master",
                             .agent = "a1",
                             .state = "LAUNCHING",
                             .placement_json = "{\"cpus\": [0, 1]}"};
    assert_int_equal (hpt_store_task_insert (store, &task), HPT_STORE_OK);
    hpt_store_metric_t point = {.job_id = "job1",
                                .trial_id = 1,
                                .task_id = "job1/1/master/0",
                                .tag = "accuracy",
                                .step = 10,
                                .value = 0.5,
                                .time = 1700000000.25};
    size_t stored = 0;
    assert_int_equal (hpt_store_metrics_append (store, &point, 1, &stored), HPT_STORE_OK);
    assert_int_equal (stored, 1);
    hpt_store_agent_t agent = {.name = "a1", .state = "CONNECTED", .last_seen = 5};
    assert_int_equal (hpt_store_agent_upsert (store, &agent), HPT_STORE_OK);
    hpt_store_destroy (&store);
    assert_null (store);

    store = s_open (fixture);
    json_t *job = NULL;
    assert_int_equal (hpt_store_job_get (store, "job1", &job), HPT_STORE_OK);
    assert_string_equal (s_str (job, "project"), "proj");
    assert_string_equal (s_str (job, "state"), "QUEUED");
    assert_int_equal (s_int (job, "seed"), 42);
    assert_int_equal (s_int (job, "seq"), 1);
    assert_int_equal (s_int (job, "create_time"), 1700000000000);
    assert_true (json_is_null (json_object_get (job, "start_time")));
    //  spec_json comes back parsed
    json_t *spec = json_object_get (job, "spec_json");
    assert_true (json_is_object (spec));
    assert_string_equal (s_str (spec, "jobId"), "x");
    json_decref (job);

    json_t *trial = NULL;
    assert_int_equal (hpt_store_trial_get (store, "job1", 1, &trial), HPT_STORE_OK);
    assert_string_equal (s_str (json_object_get (trial, "hyperparameters_json"), "lr"), "0.25");
    assert_true (json_is_array (json_object_get (trial, "values_json")));
    assert_true (json_is_false (json_object_get (trial, "has_final")));
    json_decref (trial);

    json_t *tasks = NULL;
    assert_int_equal (hpt_store_task_of_trial (store, "job1", 1, &tasks), HPT_STORE_OK);
    assert_int_equal (json_array_size (tasks), 1);
    assert_string_equal (s_str (json_array_get (tasks, 0), "agent"), "a1");
    json_decref (tasks);

    json_t *metrics = NULL;
    assert_int_equal (hpt_store_metrics_of_trial (store, "job1", 1, NULL, &metrics), HPT_STORE_OK);
    assert_int_equal (json_array_size (metrics), 1);
    json_t *m = json_array_get (metrics, 0);
    assert_int_equal (s_int (m, "step"), 10);
    assert_float_equal (json_real_value (json_object_get (m, "value")), 0.5, 0);
    assert_float_equal (json_real_value (json_object_get (m, "time")), 1700000000.25, 0);
    json_decref (metrics);

    json_t *agents = NULL;
    assert_int_equal (hpt_store_agent_list (store, &agents), HPT_STORE_OK);
    assert_int_equal (json_array_size (agents), 1);
    json_decref (agents);

    //  The next job continues the submission order.
    int64_t seq = 0;
    assert_int_equal (hpt_store_job_next_seq (store, &seq), HPT_STORE_OK);
    assert_int_equal (seq, 2);
    hpt_store_destroy (&store);
}

static void
test_schema_version_and_pragmas (void **state)
{
    fixture_t *fixture = *state;
    hpt_store_t *store = s_open (fixture);
    assert_int_equal (hpt_store_schema_version (store), HPT_STORE_SCHEMA_VERSION);
    hpt_store_destroy (&store);

    //  WAL is persistent in the file: an independent connection sees it.
    sqlite3 *db = NULL;
    assert_int_equal (sqlite3_open (fixture->path, &db), SQLITE_OK);
    sqlite3_stmt *stmt = NULL;
    assert_int_equal (sqlite3_prepare_v2 (db, "PRAGMA journal_mode", -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal (sqlite3_step (stmt), SQLITE_ROW);
    assert_string_equal ((const char *)sqlite3_column_text (stmt, 0), "wal");
    sqlite3_finalize (stmt);
    sqlite3_close (db);

    //  Reopening an up-to-date database does not migrate again.
    store = s_open (fixture);
    assert_int_equal (hpt_store_schema_version (store), HPT_STORE_SCHEMA_VERSION);
    hpt_store_destroy (&store);
}

//  A version-1 database (before learned_value) opens, migrates to the
//  current version, keeps its trials, and stores learned values after.
static void
test_version_1_database_migrates (void **state)
{
    fixture_t *fixture = *state;
    hpt_store_t *store = s_open (fixture);
    s_insert_job (store, "job1", "proj", "RUNNING");
    s_insert_trial (store, "job1", 1);
    hpt_store_destroy (&store);
    sqlite3 *db = NULL;
    assert_int_equal (sqlite3_open (fixture->path, &db), SQLITE_OK);
    assert_int_equal (sqlite3_exec (db,
                                    "ALTER TABLE trials DROP COLUMN learned_value;"
                                    "PRAGMA user_version = 1",
                                    NULL, NULL, NULL),
                      SQLITE_OK);
    sqlite3_close (db);

    store = s_open (fixture);
    assert_int_equal (hpt_store_schema_version (store), 2);
    json_t *row = NULL;
    assert_int_equal (hpt_store_trial_get (store, "job1", 1, &row), HPT_STORE_OK);
    assert_true (json_is_null (json_object_get (row, "learned_value")));
    json_decref (row);
    hpt_store_trial_t trial = {.job_id = "job1",
                               .trial_id = 1,
                               .state = "SUCCEEDED",
                               .has_final = true,
                               .final_step = 4,
                               .final_value = 0.25,
                               .stopped_early = true,
                               .has_learned = true,
                               .learned_value = 0.75};
    assert_int_equal (hpt_store_trial_update (store, &trial), HPT_STORE_OK);
    assert_int_equal (hpt_store_trial_get (store, "job1", 1, &row), HPT_STORE_OK);
    assert_true (json_number_value (json_object_get (row, "learned_value")) == 0.75);
    assert_true (json_number_value (json_object_get (row, "final_value")) == 0.25);
    json_decref (row);
    hpt_store_destroy (&store);
}

static void
test_newer_schema_is_refused (void **state)
{
    fixture_t *fixture = *state;
    hpt_store_t *store = s_open (fixture);
    hpt_store_destroy (&store);
    sqlite3 *db = NULL;
    assert_int_equal (sqlite3_open (fixture->path, &db), SQLITE_OK);
    assert_int_equal (sqlite3_exec (db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close (db);

    char *error = NULL;
    store = hpt_store_new (fixture->path, &error);
    assert_null (store);
    assert_non_null (error);
    assert_non_null (strstr (error, "newer"));
    assert_non_null (strstr (error, "99"));
    free (error);
}

static void
test_missing_directory_is_a_clear_error (void **state)
{
    fixture_t *fixture = *state;
    char path[192];
    snprintf (path, sizeof (path), "%s/no-such-dir/hpt.db", fixture->dir);
    char *error = NULL;
    hpt_store_t *store = hpt_store_new (path, &error);
    assert_null (store);
    assert_non_null (error);
    assert_non_null (strstr (error, "no-such-dir"));
    assert_non_null (strstr (error, "No such file or directory"));
    free (error);

    //  A file that is not a database is refused too, without a crash.
    FILE *file = fopen (fixture->path, "w");
    assert_non_null (file);
    fputs ("this is not a database, just some text long enough to be a header....\n", file);
    fclose (file);
    error = NULL;
    store = hpt_store_new (fixture->path, &error);
    assert_null (store);
    assert_non_null (error);
    free (error);
}

//  The contract: SIGKILL of the master loses nothing committed, and the
//  lock is free again for the restarted master.
static void
test_sigkill_loses_nothing_committed (void **state)
{
    fixture_t *fixture = *state;
    int ready[2];
    assert_int_equal (pipe (ready), 0);
    pid_t child = fork ();
    assert_true (child >= 0);
    if (child == 0) {
        close (ready[0]);
        hpt_store_t *store = hpt_store_new (fixture->path, NULL);
        if (!store) _exit (1);
        hpt_store_job_t job = {
            .job_id = "killed", .project = "p", .spec_json = "{}", .state = "RUNNING"};
        hpt_store_trial_t trial = {.job_id = "killed",
                                   .trial_id = 1,
                                   .state = "PROVISIONING",
                                   .values_json = "[]",
                                   .hyperparameters_json = "{}"};
        hpt_store_metric_t points[1000];
        for (int i = 0; i < 1000; i++)
            points[i] = (hpt_store_metric_t){
                .job_id = "killed", .trial_id = 1, .task_id = "t", .tag = "m", .step = i};
        if (hpt_store_job_insert (store, &job, NULL) || hpt_store_trial_insert (store, &trial) ||
            hpt_store_metrics_append (store, points, 1000, NULL))
            _exit (2);
        //  An open, uncommitted transaction must vanish.
        hpt_store_begin (store);
        trial.trial_id = 2;
        hpt_store_trial_insert (store, &trial);
        if (write (ready[1], "k", 1) != 1) _exit (3);
        pause ();
        _exit (0);
    }
    close (ready[1]);
    char byte = 0;
    assert_int_equal (read (ready[0], &byte, 1), 1);
    close (ready[0]);
    kill (child, SIGKILL);
    int status = 0;
    assert_int_equal (waitpid (child, &status, 0), child);
    assert_true (WIFSIGNALED (status));

    hpt_store_t *store = s_open (fixture);
    json_t *trials = NULL;
    assert_int_equal (hpt_store_trials_of_job (store, "killed", &trials), HPT_STORE_OK);
    assert_int_equal (json_array_size (trials), 1);
    assert_string_equal (s_str (json_array_get (trials, 0), "state"), "PROVISIONING");
    json_decref (trials);
    json_t *metrics = NULL;
    assert_int_equal (hpt_store_metrics_of_trial (store, "killed", 1, "m", &metrics), HPT_STORE_OK);
    assert_int_equal (json_array_size (metrics), 1000);
    json_decref (metrics);
    hpt_store_destroy (&store);
}

static void
test_one_master_per_store (void **state)
{
    fixture_t *fixture = *state;
    hpt_store_t *store = s_open (fixture);
    char *error = NULL;
    hpt_store_t *second = hpt_store_new (fixture->path, &error);
    assert_null (second);
    assert_non_null (error);
    assert_non_null (strstr (error, "in use"));
    free (error);
    hpt_store_destroy (&store);
    //  Closing releases the lock.
    store = s_open (fixture);
    hpt_store_destroy (&store);

    //  An in-memory store (for tests of other classes) needs no file.
    error = NULL;
    store = hpt_store_new (":memory:", &error);
    assert_non_null (store);
    s_insert_job (store, "j", "p", "QUEUED");
    hpt_store_destroy (&store);
}

static void
test_job_state_updates (void **state)
{
    fixture_t *fixture = *state;
    hpt_store_t *store = s_open (fixture);
    s_insert_job (store, "j", "p", "QUEUED");

    hpt_store_job_t dup = {.job_id = "j", .project = "p", .spec_json = "{}", .state = "QUEUED"};
    assert_int_equal (hpt_store_job_insert (store, &dup, NULL), HPT_STORE_EXISTS);

    assert_int_equal (hpt_store_job_set_state (store, "j", "PREPARING", NULL, 1000), HPT_STORE_OK);
    assert_int_equal (hpt_store_job_set_state (store, "j", "RUNNING", NULL, 2000), HPT_STORE_OK);
    json_t *job = NULL;
    assert_int_equal (hpt_store_job_get (store, "j", &job), HPT_STORE_OK);
    assert_string_equal (s_str (job, "state"), "RUNNING");
    assert_int_equal (s_int (job, "start_time"), 1000); //  the first start counts
    assert_true (json_is_null (json_object_get (job, "end_time")));
    json_decref (job);

    assert_int_equal (hpt_store_job_set_state (store, "j", "FAILED", "trial 1 failed", 3000),
                      HPT_STORE_OK);
    assert_int_equal (hpt_store_job_get (store, "j", &job), HPT_STORE_OK);
    assert_string_equal (s_str (job, "state"), "FAILED");
    assert_string_equal (s_str (job, "error_message"), "trial 1 failed");
    assert_int_equal (s_int (job, "end_time"), 3000);
    json_decref (job);

    assert_int_equal (hpt_store_job_set_state (store, "j", "BOGUS", NULL, 1), HPT_STORE_ERROR);
    assert_non_null (strstr (hpt_store_error (store), "BOGUS"));
    assert_int_equal (hpt_store_job_set_state (store, "nope", "RUNNING", NULL, 1),
                      HPT_STORE_NOT_FOUND);
    assert_int_equal (hpt_store_job_get (store, "nope", &job), HPT_STORE_NOT_FOUND);
    hpt_store_destroy (&store);
}

static void
test_trials_ordered_and_updated (void **state)
{
    fixture_t *fixture = *state;
    hpt_store_t *store = s_open (fixture);
    s_insert_job (store, "j", "p", "RUNNING");
    s_insert_trial (store, "j", 3);
    s_insert_trial (store, "j", 1);
    s_insert_trial (store, "j", 2);
    hpt_store_trial_t dup = {.job_id = "j",
                             .trial_id = 2,
                             .state = "PENDING",
                             .values_json = "[]",
                             .hyperparameters_json = "{}"};
    assert_int_equal (hpt_store_trial_insert (store, &dup), HPT_STORE_EXISTS);
    dup.job_id = "missing";
    assert_int_equal (hpt_store_trial_insert (store, &dup), HPT_STORE_NOT_FOUND);

    hpt_store_trial_t update = {.job_id = "j",
                                .trial_id = 2,
                                .state = "SUCCEEDED",
                                .has_final = true,
                                .final_step = 100,
                                .final_value = 0.875,
                                .stopped_early = true,
                                .message = "stopped by the median rule",
                                .start_time = 10,
                                .end_time = 20,
                                .requeue_count = 1};
    assert_int_equal (hpt_store_trial_update (store, &update), HPT_STORE_OK);
    update.trial_id = 3;
    update.final_value = NAN;
    update.stopped_early = false;
    assert_int_equal (hpt_store_trial_update (store, &update), HPT_STORE_OK);
    update.trial_id = 9;
    assert_int_equal (hpt_store_trial_update (store, &update), HPT_STORE_NOT_FOUND);

    json_t *trials = NULL;
    assert_int_equal (hpt_store_trials_of_job (store, "j", &trials), HPT_STORE_OK);
    assert_int_equal (json_array_size (trials), 3);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal (s_int (json_array_get (trials, i), "trial_id"), (json_int_t)i + 1);
    json_t *two = json_array_get (trials, 1);
    assert_string_equal (s_str (two, "state"), "SUCCEEDED");
    assert_true (json_is_true (json_object_get (two, "has_final")));
    assert_true (json_is_true (json_object_get (two, "stopped_early")));
    assert_int_equal (s_int (two, "final_step"), 100);
    assert_float_equal (json_real_value (json_object_get (two, "final_value")), 0.875, 0);
    assert_int_equal (s_int (two, "requeue_count"), 1);
    //  The values are untouched by an update.
    assert_string_equal (s_str (json_object_get (two, "hyperparameters_json"), "units"), "3");
    //  NaN survives as protobuf's JSON spelling.
    assert_string_equal (s_str (json_array_get (trials, 2), "final_value"), "NaN");
    assert_true (json_is_null (json_object_get (json_array_get (trials, 0), "final_value")));
    json_decref (trials);

    assert_int_equal (hpt_store_trials_of_job (store, "missing", &trials), HPT_STORE_OK);
    assert_int_equal (json_array_size (trials), 0);
    json_decref (trials);
    hpt_store_destroy (&store);
}

static void
test_tasks_running_on_agent (void **state)
{
    fixture_t *fixture = *state;
    hpt_store_t *store = s_open (fixture);
    s_insert_job (store, "j", "p", "RUNNING");
    s_insert_trial (store, "j", 1);
    hpt_store_task_t master = {.task_id = "j/1/master/0",
                               .job_id = "j",
                               .trial_id = 1,
                               .replica_type = "master",
                               .agent = "a1",
                               .state = "RUNNING",
                               .pid = 1234,
                               .start_time = 5};
    hpt_store_task_t worker = master;
    worker.task_id = "j/1/worker/0";
    worker.replica_type = "worker";
    worker.agent = "a2";
    assert_int_equal (hpt_store_task_insert (store, &master), HPT_STORE_OK);
    assert_int_equal (hpt_store_task_insert (store, &worker), HPT_STORE_OK);
    assert_int_equal (hpt_store_task_insert (store, &worker), HPT_STORE_EXISTS);
    hpt_store_task_t orphan = master;
    orphan.task_id = "j/2/master/0";
    orphan.trial_id = 2;
    assert_int_equal (hpt_store_task_insert (store, &orphan), HPT_STORE_NOT_FOUND);

    json_t *list = NULL;
    assert_int_equal (hpt_store_task_running_on_agent (store, "a1", &list), HPT_STORE_OK);
    assert_int_equal (json_array_size (list), 1);
    assert_int_equal (s_int (json_array_get (list, 0), "pid"), 1234);
    json_decref (list);

    master.state = "EXITED";
    master.has_exit = true;
    master.exit_code = 0;
    master.signal = 0;
    master.end_time = 9;
    assert_int_equal (hpt_store_task_update (store, &master), HPT_STORE_OK);
    assert_int_equal (hpt_store_task_running_on_agent (store, "a1", &list), HPT_STORE_OK);
    assert_int_equal (json_array_size (list), 0);
    json_decref (list);

    json_t *task = NULL;
    assert_int_equal (hpt_store_task_get (store, "j/1/master/0", &task), HPT_STORE_OK);
    assert_true (json_is_true (json_object_get (task, "has_exit")));
    assert_int_equal (s_int (task, "exit_code"), 0);
    assert_int_equal (s_int (task, "end_time"), 9);
    json_decref (task);

    assert_int_equal (hpt_store_task_of_trial (store, "j", 1, &list), HPT_STORE_OK);
    assert_int_equal (json_array_size (list), 2);
    assert_string_equal (s_str (json_array_get (list, 0), "replica_type"), "master");
    json_decref (list);
    hpt_store_destroy (&store);
}

static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
test_metric_batch_and_replay (void **state)
{
    fixture_t *fixture = *state;
    hpt_store_t *store = s_open (fixture);
    s_insert_job (store, "j", "p", "RUNNING");
    s_insert_trial (store, "j", 1);

    enum { N = 100000 };
    hpt_store_metric_t *points = calloc (N, sizeof (hpt_store_metric_t));
    for (size_t i = 0; i < N; i++) {
        points[i] = (hpt_store_metric_t){.job_id = "j",
                                         .trial_id = 1,
                                         .task_id = "j/1/master/0",
                                         .tag = i % 2 ? "loss" : "accuracy",
                                         .step = (int64_t)(i / 2),
                                         .value = (double)i / N,
                                         .time = 1700000000.0 + (double)i * 1e-3};
    }
    double start = s_now ();
    size_t stored = 0;
    assert_int_equal (hpt_store_metrics_append (store, points, N, &stored), HPT_STORE_OK);
    double elapsed = s_now () - start;
    assert_int_equal (stored, N);
    //  Information only: the rate depends on the machine and its load.
    printf ("store: %d metric points in one batch in %.3f s = %.0f points/s\n", N, elapsed,
            N / elapsed);

    //  An agent replaying the same batch after a restart adds nothing.
    assert_int_equal (hpt_store_metrics_append (store, points, N, &stored), HPT_STORE_OK);
    assert_int_equal (stored, 0);
    //  A partly new batch adds only what is new.
    points[0].step = -1;
    assert_int_equal (hpt_store_metrics_append (store, points, 10, &stored), HPT_STORE_OK);
    assert_int_equal (stored, 1);

    json_t *list = NULL;
    assert_int_equal (hpt_store_metrics_of_trial (store, "j", 1, "loss", &list), HPT_STORE_OK);
    assert_int_equal (json_array_size (list), N / 2);
    for (size_t i = 1; i < json_array_size (list); i++)
        assert_true (s_int (json_array_get (list, i - 1), "step") <
                     s_int (json_array_get (list, i), "step"));
    json_decref (list);
    assert_int_equal (hpt_store_metrics_of_trial (store, "j", 1, NULL, &list), HPT_STORE_OK);
    assert_int_equal (json_array_size (list), N + 1);
    json_decref (list);

    //  A batch with a bad point stores nothing of it (all or nothing).
    points[5].tag = NULL;
    points[0].step = -2;
    assert_int_equal (hpt_store_metrics_append (store, points, 10, &stored), HPT_STORE_ERROR);
    assert_non_null (strstr (hpt_store_error (store), "point 5"));
    assert_int_equal (hpt_store_metrics_of_trial (store, "j", 1, NULL, &list), HPT_STORE_OK);
    assert_int_equal (json_array_size (list), N + 1);
    json_decref (list);

    //  Non-finite values are kept and deduplicated like any other.
    hpt_store_metric_t odd[2] = {
        {.job_id = "j", .trial_id = 1, .task_id = "t", .tag = "x", .step = 1, .value = NAN},
        {.job_id = "j", .trial_id = 1, .task_id = "t", .tag = "x", .step = 2, .value = -INFINITY}};
    assert_int_equal (hpt_store_metrics_append (store, odd, 2, &stored), HPT_STORE_OK);
    assert_int_equal (stored, 2);
    assert_int_equal (hpt_store_metrics_append (store, odd, 2, &stored), HPT_STORE_OK);
    assert_int_equal (stored, 0);
    assert_int_equal (hpt_store_metrics_of_trial (store, "j", 1, "x", &list), HPT_STORE_OK);
    assert_int_equal (json_array_size (list), 2);
    assert_string_equal (s_str (json_array_get (list, 0), "value"), "NaN");
    assert_string_equal (s_str (json_array_get (list, 1), "value"), "-Infinity");
    json_decref (list);
    free (points);
    hpt_store_destroy (&store);
}

static void
test_job_list_filters (void **state)
{
    fixture_t *fixture = *state;
    hpt_store_t *store = s_open (fixture);
    s_insert_job (store, "mnist_2", "p", "RUNNING");
    s_insert_job (store, "cifar_1", "p", "SUCCEEDED");
    s_insert_job (store, "mnist_1", "p", "SUCCEEDED");
    s_insert_job (store, "mnist_3", "other", "SUCCEEDED");
    s_insert_job (store, "mn%_x", "p", "QUEUED");

    json_t *list = NULL;
    assert_int_equal (hpt_store_job_list (store, NULL, NULL, NULL, &list), HPT_STORE_OK);
    assert_int_equal (json_array_size (list), 5);
    //  submission order, not name order
    assert_string_equal (s_str (json_array_get (list, 0), "job_id"), "mnist_2");
    assert_string_equal (s_str (json_array_get (list, 1), "job_id"), "cifar_1");
    json_decref (list);

    assert_int_equal (hpt_store_job_list (store, "p", "mnist", NULL, &list), HPT_STORE_OK);
    assert_int_equal (json_array_size (list), 2);
    assert_string_equal (s_str (json_array_get (list, 0), "job_id"), "mnist_2");
    assert_string_equal (s_str (json_array_get (list, 1), "job_id"), "mnist_1");
    json_decref (list);

    assert_int_equal (hpt_store_job_list (store, NULL, "mnist", "SUCCEEDED", &list), HPT_STORE_OK);
    assert_int_equal (json_array_size (list), 2);
    json_decref (list);

    //  The prefix is plain text: % and _ are not wildcards.
    assert_int_equal (hpt_store_job_list (store, NULL, "mn%", NULL, &list), HPT_STORE_OK);
    assert_int_equal (json_array_size (list), 1);
    assert_string_equal (s_str (json_array_get (list, 0), "job_id"), "mn%_x");
    json_decref (list);

    assert_int_equal (hpt_store_job_list (store, NULL, NULL, "CANCELLED", &list), HPT_STORE_OK);
    assert_int_equal (json_array_size (list), 0);
    json_decref (list);
    hpt_store_destroy (&store);
}

static void
test_agent_drain_survives_reopen (void **state)
{
    fixture_t *fixture = *state;
    hpt_store_t *store = s_open (fixture);
    hpt_store_agent_t agent = {.name = "gpu-1",
                               .state = "CONNECTED",
                               .last_seen = 100,
                               .resources_json = "{\"cpus\": 16}"};
    assert_int_equal (hpt_store_agent_upsert (store, &agent), HPT_STORE_OK);
    assert_int_equal (
        hpt_store_agent_set_drain (store, "gpu-1", "DRAINING", true, "bad fan", "alice", 1234),
        HPT_STORE_OK);
    assert_int_equal (hpt_store_agent_set_drain (store, "gpu-1", "SIDEWAYS", false, NULL, NULL, 0),
                      HPT_STORE_ERROR);
    assert_int_equal (hpt_store_agent_set_drain (store, "nobody", "DRAINED", false, NULL, NULL, 0),
                      HPT_STORE_NOT_FOUND);
    assert_int_equal (hpt_store_agent_set_acked_seq (store, "gpu-1", 77), HPT_STORE_OK);
    assert_int_equal (hpt_store_agent_set_acked_seq (store, "gpu-1", 12), HPT_STORE_OK);
    hpt_store_destroy (&store);

    store = s_open (fixture);
    //  A reconnect (upsert) keeps the drain and the acked seq.
    agent.state = "CONNECTED";
    agent.last_seen = 200;
    agent.resources_json = NULL;
    assert_int_equal (hpt_store_agent_upsert (store, &agent), HPT_STORE_OK);
    json_t *row = NULL;
    assert_int_equal (hpt_store_agent_get (store, "gpu-1", &row), HPT_STORE_OK);
    assert_string_equal (s_str (row, "drain_state"), "DRAINING");
    assert_string_equal (s_str (row, "drain_reason"), "bad fan");
    assert_string_equal (s_str (row, "drained_by"), "alice");
    assert_int_equal (s_int (row, "drained_at"), 1234);
    assert_true (json_is_true (json_object_get (row, "drain_now")));
    assert_int_equal (s_int (row, "last_acked_seq"), 77);
    assert_int_equal (s_int (row, "last_seen"), 200);
    assert_int_equal (s_int (row, "first_seen"), 100);
    assert_int_equal (s_int (json_object_get (row, "resources_json"), "cpus"), 16);
    json_decref (row);

    assert_int_equal (hpt_store_agent_set_drain (store, "gpu-1", "NONE", true, "ignored", "bob", 9),
                      HPT_STORE_OK);
    assert_int_equal (hpt_store_agent_get (store, "gpu-1", &row), HPT_STORE_OK);
    assert_string_equal (s_str (row, "drain_state"), "NONE");
    assert_true (json_is_null (json_object_get (row, "drain_reason")));
    assert_true (json_is_false (json_object_get (row, "drain_now")));
    json_decref (row);
    assert_int_equal (hpt_store_agent_get (store, "nobody", &row), HPT_STORE_NOT_FOUND);
    hpt_store_destroy (&store);
}

static void
test_transactions (void **state)
{
    fixture_t *fixture = *state;
    hpt_store_t *store = s_open (fixture);
    assert_int_equal (hpt_store_commit (store), HPT_STORE_ERROR);
    assert_int_equal (hpt_store_begin (store), HPT_STORE_OK);
    assert_int_equal (hpt_store_begin (store), HPT_STORE_ERROR);
    s_insert_job (store, "gone", "p", "QUEUED");
    assert_int_equal (hpt_store_rollback (store), HPT_STORE_OK);
    json_t *job = NULL;
    assert_int_equal (hpt_store_job_get (store, "gone", &job), HPT_STORE_NOT_FOUND);

    assert_int_equal (hpt_store_begin (store), HPT_STORE_OK);
    s_insert_job (store, "kept", "p", "QUEUED");
    s_insert_trial (store, "kept", 1);
    //  A metric batch inside the caller's transaction joins it.
    hpt_store_metric_t point = {
        .job_id = "kept", .trial_id = 1, .task_id = "t", .tag = "m", .step = 1, .value = 1};
    assert_int_equal (hpt_store_metrics_append (store, &point, 1, NULL), HPT_STORE_OK);
    assert_int_equal (hpt_store_commit (store), HPT_STORE_OK);
    hpt_store_destroy (&store);

    store = s_open (fixture);
    assert_int_equal (hpt_store_job_get (store, "kept", &job), HPT_STORE_OK);
    json_decref (job);
    json_t *list = NULL;
    assert_int_equal (hpt_store_metrics_of_trial (store, "kept", 1, NULL, &list), HPT_STORE_OK);
    assert_int_equal (json_array_size (list), 1);
    json_decref (list);
    hpt_store_destroy (&store);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_create_reopen_keeps_everything, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_schema_version_and_pragmas, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_newer_schema_is_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_version_1_database_migrates, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_missing_directory_is_a_clear_error, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_one_master_per_store, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_sigkill_loses_nothing_committed, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_job_state_updates, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_trials_ordered_and_updated, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_tasks_running_on_agent, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_metric_batch_and_replay, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_job_list_filters, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_agent_drain_survives_reopen, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_transactions, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
