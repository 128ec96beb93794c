/*  test_store -- the master's SQLite store: durability across reopen,
    schema versioning and migrations (from databases built by hand with the
    old schemas), state updates, ordering, metric batches and their
    deduplication, drain fields, errors, and the transaction contract:
    writes only inside a transaction, a failed write fails the whole
    transaction (sticky), a failed commit keeps nothing, the write probe.

    Each test works in its own temporary directory. Where a test needs the
    database to fail, it makes it fail for real: a trigger installed by a
    second connection (SQLite re-prepares the store's statements on the
    schema change), or files that cannot grow (RLIMIT_FSIZE of this process
    set to 0, so every write(2) to a regular file fails as on a full disk).
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hpt_store.h"
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

//  Asserts that a store call succeeded, showing its error when not.
#define assert_ok(call, error)                                                                     \
    do {                                                                                           \
        if ((call) != 0) fail_msg ("%s failed: %s", #call, (error)->message);                      \
    } while (0)

//  Asserts that a store call returned -1 with the error code expected.
#define assert_fails(call, error, expected)                                                        \
    do {                                                                                           \
        hpt_error_clear (error);                                                                   \
        if ((call) != -1) fail_msg ("%s did not fail", #call);                                     \
        if ((error)->code != (expected))                                                           \
            fail_msg ("%s failed with %s (%s), expected %s", #call,                                \
                      hpt_error_code_name ((error)->code), (error)->message,                       \
                      hpt_error_code_name (expected));                                             \
    } while (0)

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
    DIR *dir = opendir (fixture->dir);
    struct dirent *entry;
    while (dir && (entry = readdir (dir)) != NULL) {
        if (strcmp (entry->d_name, ".") == 0 || strcmp (entry->d_name, "..") == 0) continue;
        char file[400];
        snprintf (file, sizeof (file), "%s/%s", fixture->dir, entry->d_name);
        unlink (file);
    }
    if (dir) closedir (dir);
    rmdir (fixture->dir);
    free (fixture);
    return 0;
}

static hpt_store_t *
s_open (fixture_t *fixture)
{
    hpt_error_t error;
    hpt_error_clear (&error);
    hpt_store_t *store = hpt_store_new (fixture->path, &error);
    if (!store) fail_msg ("open failed: %s", error.message);
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

//  Helpers write in the open transaction, or in one of their own when
//  none is open.
static bool
s_own_begin (hpt_store_t *store)
{
    if (hpt_store_in_transaction (store)) return false;
    s_begin (store);
    return true;
}

static void
s_own_commit (hpt_store_t *store, bool own)
{
    if (own) s_commit (store);
}

static void
s_insert_job (hpt_store_t *store, const char *job_id, const char *project, hpt_job_state_t state)
{
    hpt_store_job_t job = {.job_id = job_id,
                           .project = project,
                           .spec_json = "{\"jobId\": \"x\", \"trainingInput\": {}}",
                           .state = state,
                           .create_time = 1700000000000,
                           .seed = 42};
    bool own = s_own_begin (store);
    hpt_error_t error;
    int64_t seq = 0;
    assert_ok (hpt_store_job_insert (store, &job, &seq, &error), &error);
    assert_true (seq > 0);
    s_own_commit (store, own);
}

static void
s_insert_trial (hpt_store_t *store, const char *job_id, int64_t trial_id)
{
    hpt_store_trial_t trial = {.job_id = job_id,
                               .trial_id = trial_id,
                               .state = HPT_TRIAL_PENDING,
                               .values_json = "[0.25, 3]",
                               .hyperparameters_json = "{\"lr\": \"0.25\", \"units\": \"3\"}"};
    bool own = s_own_begin (store);
    hpt_error_t error;
    assert_ok (hpt_store_trial_insert (store, &trial, &error), &error);
    s_own_commit (store, own);
}

static const char *
s_str (json_t *object, const char *key)
{
    json_t *value = json_object_get (object, key);
    if (!json_is_string (value)) fail_msg ("%s is not a string", key);
    return json_string_value (value);
}

static json_int_t
s_int (json_t *object, const char *key)
{
    json_t *value = json_object_get (object, key);
    if (!json_is_integer (value)) fail_msg ("%s is not an integer", key);
    return json_integer_value (value);
}

static double
s_real (json_t *object, const char *key)
{
    json_t *value = json_object_get (object, key);
    if (!json_is_real (value)) fail_msg ("%s is not a real", key);
    return json_real_value (value);
}

//  ------------------------------------------------------------------
//  A connection of the test's own to the database file (not the store's)

static sqlite3 *
s_raw_open (const char *path)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
        fail_msg ("sqlite3_open %s: %s", path, sqlite3_errmsg (db));
    sqlite3_busy_timeout (db, 5000);
    return db;
}

static void
s_raw_exec (const char *path, const char *sql)
{
    sqlite3 *db = s_raw_open (path);
    char *message = NULL;
    int rc = sqlite3_exec (db, sql, NULL, NULL, &message);
    if (rc != SQLITE_OK) fail_msg ("%s: %s", sql, message ? message : sqlite3_errstr (rc));
    sqlite3_close (db);
}

//  The first column of the first row of sql, or -1 when there is no row.
static int64_t
s_raw_int (const char *path, const char *sql)
{
    sqlite3 *db = s_raw_open (path);
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL) != SQLITE_OK)
        fail_msg ("%s: %s", sql, sqlite3_errmsg (db));
    int64_t value = sqlite3_step (stmt) == SQLITE_ROW ? sqlite3_column_int64 (stmt, 0) : -1;
    sqlite3_finalize (stmt);
    sqlite3_close (db);
    return value;
}

//  ------------------------------------------------------------------
//  A disk that is full: no regular file of this process can be written
//  (RLIMIT_FSIZE 0; SIGXFSZ ignored so write(2) fails with EFBIG). No
//  cmocka assertion may run in between: it could not write its report
//  and would leave the limit set.

typedef struct {
    struct rlimit limit;
    void (*handler) (int);
} s_disk_t;

static void
s_disk_full (s_disk_t *saved)
{
    assert_int_equal (getrlimit (RLIMIT_FSIZE, &saved->limit), 0);
    saved->handler = signal (SIGXFSZ, SIG_IGN);
    struct rlimit none = {0, saved->limit.rlim_max};
    assert_int_equal (setrlimit (RLIMIT_FSIZE, &none), 0);
}

static void
s_disk_back (s_disk_t *saved)
{
    setrlimit (RLIMIT_FSIZE, &saved->limit);
    signal (SIGXFSZ, saved->handler);
}

//  ------------------------------------------------------------------
//  Databases of older versions, built by hand with the schema SQL those
//  versions wrote (the migrations of hpt_store.c up to that version)

static const char s_schema_v1[] =
    "CREATE TABLE jobs ("
    "  job_id        TEXT PRIMARY KEY NOT NULL,"
    "  seq           INTEGER NOT NULL UNIQUE,"
    "  project       TEXT NOT NULL,"
    "  spec_json     TEXT NOT NULL,"
    "  state         TEXT NOT NULL,"
    "  error_message TEXT,"
    "  create_time   INTEGER,"
    "  start_time    INTEGER,"
    "  end_time      INTEGER,"
    "  seed          INTEGER NOT NULL DEFAULT 0,"
    "  priority      INTEGER NOT NULL DEFAULT 0,"
    "  resumed_from  TEXT"
    ");"
    "CREATE TABLE trials ("
    "  job_id               TEXT NOT NULL REFERENCES jobs (job_id),"
    "  trial_id             INTEGER NOT NULL,"
    "  state                TEXT NOT NULL,"
    "  values_json          TEXT NOT NULL,"
    "  hyperparameters_json TEXT NOT NULL,"
    "  has_final            BOOLEAN NOT NULL DEFAULT 0,"
    "  final_step           INTEGER,"
    "  final_value          REAL,"
    "  stopped_early        BOOLEAN NOT NULL DEFAULT 0,"
    "  message              TEXT,"
    "  create_time          INTEGER,"
    "  start_time           INTEGER,"
    "  end_time             INTEGER,"
    "  requeue_count        INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (job_id, trial_id)"
    ");"
    "CREATE TABLE tasks ("
    "  task_id        TEXT PRIMARY KEY NOT NULL,"
    "  job_id         TEXT NOT NULL,"
    "  trial_id       INTEGER NOT NULL,"
    "  replica_type   TEXT NOT NULL,"
    "  replica_index  INTEGER NOT NULL,"
    "  agent          TEXT,"
    "  state          TEXT NOT NULL,"
    "  pid            INTEGER,"
    "  has_exit       BOOLEAN NOT NULL DEFAULT 0,"
    "  exit_code      INTEGER,"
    "  signal         INTEGER,"
    "  start_time     INTEGER,"
    "  end_time       INTEGER,"
    "  attempt        INTEGER NOT NULL DEFAULT 0,"
    "  placement_json TEXT,"
    "  FOREIGN KEY (job_id, trial_id) REFERENCES trials (job_id, trial_id)"
    ");"
    "CREATE INDEX tasks_by_trial ON tasks (job_id, trial_id);"
    "CREATE INDEX tasks_by_agent ON tasks (agent, end_time);"
    "CREATE TABLE metrics ("
    "  job_id   TEXT NOT NULL,"
    "  trial_id INTEGER NOT NULL,"
    "  tag      TEXT NOT NULL,"
    "  step     INTEGER NOT NULL,"
    "  time     REAL NOT NULL,"
    "  value    REAL NOT NULL,"
    "  task_id  TEXT NOT NULL,"
    "  PRIMARY KEY (job_id, trial_id, tag, step, time, value, task_id)"
    ") WITHOUT ROWID;"
    "CREATE TABLE agents ("
    "  name           TEXT PRIMARY KEY NOT NULL,"
    "  state          TEXT NOT NULL,"
    "  drain_state    TEXT NOT NULL DEFAULT 'NONE'"
    "                 CHECK (drain_state IN ('NONE', 'DRAINING', 'DRAINED')),"
    "  drain_reason   TEXT,"
    "  drained_by     TEXT,"
    "  drained_at     INTEGER,"
    "  drain_now      BOOLEAN NOT NULL DEFAULT 0,"
    "  first_seen     INTEGER,"
    "  last_seen      INTEGER,"
    "  resources_json TEXT,"
    "  last_acked_seq INTEGER NOT NULL DEFAULT 0"
    ");";

//  Version 2 added what the optimizer learned from a trial stopped early.
static const char s_schema_v2[] = "ALTER TABLE trials ADD COLUMN learned_value REAL;";

//  One of everything, as an old master stored it.
static const char s_old_rows[] =
    "INSERT INTO jobs (job_id, seq, project, spec_json, state, create_time, seed, priority)"
    " VALUES ('old', 1, 'proj', '{\"jobId\": \"old\"}', 'RUNNING', 1000, 7, 3);"
    "INSERT INTO trials (job_id, trial_id, state, values_json, hyperparameters_json, has_final,"
    " final_step, final_value, stopped_early, requeue_count)"
    " VALUES ('old', 1, 'SUCCEEDED', '[0.5]', '{\"x\": \"0.5\"}', 1, 10, 0.25, 1, 1);"
    "INSERT INTO tasks (task_id, job_id, trial_id, replica_type, replica_index, agent, state, pid,"
    " has_exit, exit_code, signal, start_time, end_time)"
    " VALUES ('old/1/master/0', 'old', 1, 'master', 0, 'a1', 'EXITED', 99, 1, 0, 0, 5, 9);"
    "INSERT INTO metrics (job_id, trial_id, tag, step, time, value, task_id)"
    " VALUES ('old', 1, 'loss', 10, 1700000000.5, 0.25, 'old/1/master/0');"
    "INSERT INTO agents (name, state, drain_state, drain_reason, drained_by, drained_at,"
    " drain_now, first_seen, last_seen, last_acked_seq)"
    " VALUES ('a1', 'CONNECTED', 'DRAINING', 'fan', 'alice', 77, 1, 1, 2, 41);";

//  Writes a database of version 1 or 2 at path, with s_old_rows, plus
//  extra (SQL, or NULL).
static void
s_build_old (const char *path, int version, const char *extra)
{
    sqlite3 *db = s_raw_open (path);
    char *message = NULL;
    char pragma[64];
    snprintf (pragma, sizeof (pragma), "PRAGMA user_version = %d", version);
    const char *steps[] = {"PRAGMA journal_mode = WAL",
                           s_schema_v1,
                           version >= 2 ? s_schema_v2 : "",
                           s_old_rows,
                           version >= 2 ? "UPDATE trials SET learned_value = 0.75" : "",
                           extra ? extra : "",
                           pragma};
    for (size_t i = 0; i < sizeof (steps) / sizeof (steps[0]); i++)
        if (sqlite3_exec (db, steps[i], NULL, NULL, &message) != SQLITE_OK)
            fail_msg ("building a version %d database: %s", version, message);
    sqlite3_close (db);
}

//  What s_old_rows stored is all there after the migration.
static void
s_check_old_rows (hpt_store_t *store)
{
    hpt_error_t error;
    json_t *row = NULL;
    assert_ok (hpt_store_job_get (store, "old", &row, &error), &error);
    assert_string_equal (s_str (row, "state"), "RUNNING");
    assert_int_equal (s_int (row, "seq"), 1);
    assert_int_equal (s_int (row, "seed"), 7);
    assert_int_equal (s_int (row, "priority"), 3);
    assert_int_equal (s_int (row, "create_time"), 1000);
    assert_string_equal (s_str (json_object_get (row, "spec_json"), "jobId"), "old");
    //  A job stored before version 3: its log is kept as it is.
    assert_int_equal (s_int (row, "log_bytes"), -1);
    json_decref (row);

    assert_ok (hpt_store_trial_get (store, "old", 1, &row, &error), &error);
    assert_string_equal (s_str (row, "state"), "SUCCEEDED");
    assert_true (json_is_true (json_object_get (row, "has_final")));
    assert_true (json_is_true (json_object_get (row, "stopped_early")));
    assert_int_equal (s_int (row, "final_step"), 10);
    assert_true (s_real (row, "final_value") == 0.25);
    assert_int_equal (s_int (row, "requeue_count"), 1);
    assert_string_equal (s_str (json_object_get (row, "hyperparameters_json"), "x"), "0.5");
    //  Version 3's columns: unknown report time, no reports counted.
    assert_true (json_is_null (json_object_get (row, "final_time")));
    assert_int_equal (s_int (row, "report_count"), 0);
    json_decref (row);

    assert_ok (hpt_store_task_get (store, "old/1/master/0", &row, &error), &error);
    assert_string_equal (s_str (row, "state"), "EXITED");
    assert_int_equal (s_int (row, "pid"), 99);
    assert_int_equal (s_int (row, "end_time"), 9);
    json_decref (row);

    assert_ok (hpt_store_metrics_of_trial (store, "old", 1, "loss", &row, &error), &error);
    assert_int_equal (json_array_size (row), 1);
    assert_true (s_real (json_array_get (row, 0), "time") == 1700000000.5);
    json_decref (row);

    assert_ok (hpt_store_agent_get (store, "a1", &row, &error), &error);
    assert_string_equal (s_str (row, "drain_state"), "DRAINING");
    assert_string_equal (s_str (row, "drain_reason"), "fan");
    assert_int_equal (s_int (row, "last_acked_seq"), 41);
    json_decref (row);

    //  The new table is there.
    int64_t value = -1;
    assert_ok (hpt_store_meta_get (store, "epoch", &value, &error), &error);
    assert_int_equal (value, 0);
}

//  ------------------------------------------------------------------
//  Durability, schema, migrations

static void
test_create_reopen_keeps_everything (void **state)
{
    fixture_t *fixture = *state;
    hpt_error_t error;
    hpt_store_t *store = s_open (fixture);
    s_begin (store);
    s_insert_job (store, "job1", "proj", HPT_JOB_QUEUED);
    s_insert_trial (store, "job1", 1);
    hpt_store_task_t task = {.task_id = "job1/1/master/0",
                             .job_id = "job1",
                             .trial_id = 1,
                             .replica_type = "master",
                             .agent = "a1",
                             .state = HPT_TASK_LAUNCHING,
                             .placement_json = "{\"cpus\": [0, 1]}"};
    assert_ok (hpt_store_task_put (store, &task, &error), &error);
    hpt_store_metric_t point = {.job_id = "job1",
                                .trial_id = 1,
                                .task_id = "job1/1/master/0",
                                .tag = "accuracy",
                                .step = 10,
                                .value = 0.5,
                                .time = 1700000000.25};
    size_t stored = 0;
    assert_ok (hpt_store_metrics_append (store, &point, 1, &stored, &error), &error);
    assert_int_equal (stored, 1);
    hpt_store_agent_t agent = {.name = "a1", .state = HPT_HOST_READY, .last_seen = 5};
    assert_ok (hpt_store_agent_upsert (store, &agent, &error), &error);
    s_commit (store);
    hpt_store_destroy (&store);
    assert_null (store);

    store = s_open (fixture);
    json_t *job = NULL;
    assert_ok (hpt_store_job_get (store, "job1", &job, &error), &error);
    assert_string_equal (s_str (job, "project"), "proj");
    assert_string_equal (s_str (job, "state"), "QUEUED");
    assert_int_equal (s_int (job, "seed"), 42);
    assert_int_equal (s_int (job, "seq"), 1);
    assert_int_equal (s_int (job, "create_time"), 1700000000000);
    assert_int_equal (s_int (job, "log_bytes"), 0);
    assert_true (json_is_null (json_object_get (job, "start_time")));
    //  spec_json comes back parsed
    json_t *spec = json_object_get (job, "spec_json");
    assert_true (json_is_object (spec));
    assert_string_equal (s_str (spec, "jobId"), "x");
    json_decref (job);

    json_t *trial = NULL;
    assert_ok (hpt_store_trial_get (store, "job1", 1, &trial, &error), &error);
    assert_string_equal (s_str (trial, "state"), "PENDING");
    assert_string_equal (s_str (json_object_get (trial, "hyperparameters_json"), "lr"), "0.25");
    assert_true (json_is_array (json_object_get (trial, "values_json")));
    assert_true (json_is_false (json_object_get (trial, "has_final")));
    json_decref (trial);

    json_t *tasks = NULL;
    assert_ok (hpt_store_task_of_trial (store, "job1", 1, &tasks, &error), &error);
    assert_int_equal (json_array_size (tasks), 1);
    assert_string_equal (s_str (json_array_get (tasks, 0), "agent"), "a1");
    assert_string_equal (s_str (json_array_get (tasks, 0), "state"), "LAUNCHING");
    json_t *placement = json_object_get (json_array_get (tasks, 0), "placement_json");
    assert_int_equal (json_array_size (json_object_get (placement, "cpus")), 2);
    json_decref (tasks);

    json_t *metrics = NULL;
    assert_ok (hpt_store_metrics_of_trial (store, "job1", 1, NULL, &metrics, &error), &error);
    assert_int_equal (json_array_size (metrics), 1);
    json_t *m = json_array_get (metrics, 0);
    assert_int_equal (s_int (m, "step"), 10);
    assert_float_equal (s_real (m, "value"), 0.5, 0);
    assert_float_equal (s_real (m, "time"), 1700000000.25, 0);
    assert_string_equal (s_str (m, "task_id"), "job1/1/master/0");
    json_decref (metrics);

    json_t *agents = NULL;
    assert_ok (hpt_store_agent_list (store, &agents, &error), &error);
    assert_int_equal (json_array_size (agents), 1);
    assert_string_equal (s_str (json_array_get (agents, 0), "state"), "READY");
    json_decref (agents);

    //  The next job continues the submission order; an explicit seq is
    //  kept, and the one after it follows it.
    s_begin (store);
    hpt_store_job_t next = {.job_id = "job2", .project = "p", .spec_json = "{}"};
    int64_t seq = 0;
    assert_ok (hpt_store_job_insert (store, &next, &seq, &error), &error);
    assert_int_equal (seq, 2);
    next.job_id = "job3";
    next.seq = 10;
    assert_ok (hpt_store_job_insert (store, &next, &seq, &error), &error);
    assert_int_equal (seq, 10);
    next.job_id = "job4";
    next.seq = 0;
    assert_ok (hpt_store_job_insert (store, &next, &seq, &error), &error);
    assert_int_equal (seq, 11);
    s_commit (store);
    assert_ok (hpt_store_job_get (store, "job4", &job, &error), &error);
    assert_int_equal (s_int (job, "seq"), 11);
    json_decref (job);
    hpt_store_destroy (&store);
}

static void
test_schema_version_and_pragmas (void **state)
{
    fixture_t *fixture = *state;
    hpt_error_t error;
    hpt_store_t *store = s_open (fixture);
    s_begin (store);
    assert_ok (hpt_store_meta_set (store, "epoch", 3, &error), &error);
    assert_ok (hpt_store_meta_set (store, "epoch", 4, &error), &error);
    s_commit (store);
    hpt_store_destroy (&store);

    //  The version and WAL are in the file: an independent connection
    //  sees them.
    assert_int_equal (s_raw_int (fixture->path, "PRAGMA user_version"), HPT_STORE_SCHEMA_VERSION);
    assert_int_equal (HPT_STORE_SCHEMA_VERSION, 5);
    sqlite3 *db = s_raw_open (fixture->path);
    sqlite3_stmt *stmt = NULL;
    assert_int_equal (sqlite3_prepare_v2 (db, "PRAGMA journal_mode", -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal (sqlite3_step (stmt), SQLITE_ROW);
    assert_string_equal ((const char *)sqlite3_column_text (stmt, 0), "wal");
    sqlite3_finalize (stmt);
    sqlite3_close (db);
    //  Nobody else may read the database (it holds every job's env).
    struct stat info;
    assert_int_equal (stat (fixture->path, &info), 0);
    assert_int_equal (info.st_mode & 0777, 0600);

    //  Reopening an up-to-date database does not migrate again and keeps
    //  the bookkeeping.
    store = s_open (fixture);
    assert_int_equal (s_raw_int (fixture->path, "PRAGMA user_version"), HPT_STORE_SCHEMA_VERSION);
    int64_t value = 0;
    assert_ok (hpt_store_meta_get (store, "epoch", &value, &error), &error);
    assert_int_equal (value, 4);
    assert_ok (hpt_store_meta_get (store, "absent", &value, &error), &error);
    assert_int_equal (value, 0);
    hpt_store_destroy (&store);
}

//  A version-1 database (built with version 1's schema) migrates to the
//  current version keeping everything, and stores learned values after.
static void
test_version_1_database_migrates (void **state)
{
    fixture_t *fixture = *state;
    hpt_error_t error;
    s_build_old (fixture->path, 1, NULL);
    hpt_store_t *store = s_open (fixture);
    assert_int_equal (s_raw_int (fixture->path, "PRAGMA user_version"), HPT_STORE_SCHEMA_VERSION);
    s_check_old_rows (store);
    json_t *row = NULL;
    assert_ok (hpt_store_trial_get (store, "old", 1, &row, &error), &error);
    assert_true (json_is_null (json_object_get (row, "learned_value")));
    json_decref (row);

    hpt_store_trial_t trial = {.job_id = "old",
                               .trial_id = 1,
                               .state = HPT_TRIAL_SUCCEEDED,
                               .has_final = true,
                               .final_step = 4,
                               .final_value = 0.25,
                               .final_time = 1700000000.5,
                               .report_count = 4,
                               .stopped_early = true,
                               .has_learned = true,
                               .learned_value = 0.75};
    s_begin (store);
    assert_ok (hpt_store_trial_update (store, &trial, &error), &error);
    s_commit (store);
    hpt_store_destroy (&store);
    store = s_open (fixture);
    assert_ok (hpt_store_trial_get (store, "old", 1, &row, &error), &error);
    assert_true (s_real (row, "learned_value") == 0.75);
    assert_true (s_real (row, "final_value") == 0.25);
    assert_int_equal (s_int (row, "report_count"), 4);
    json_decref (row);
    hpt_store_destroy (&store);
}

//  Version 2 -> 3 keeps the data (learned values too); jobs stored
//  before have log_bytes -1, new ones 0; the final metric's report time
//  and the report count round-trip through trial insert and update.
static void
test_version_2_database_migrates (void **state)
{
    fixture_t *fixture = *state;
    hpt_error_t error;
    s_build_old (fixture->path, 2, NULL);
    hpt_store_t *store = s_open (fixture);
    assert_int_equal (s_raw_int (fixture->path, "PRAGMA user_version"), HPT_STORE_SCHEMA_VERSION);
    s_check_old_rows (store);
    json_t *row = NULL;
    assert_ok (hpt_store_trial_get (store, "old", 1, &row, &error), &error);
    assert_true (s_real (row, "learned_value") == 0.75);
    json_decref (row);

    s_begin (store);
    s_insert_job (store, "new", "proj", HPT_JOB_QUEUED);
    hpt_store_trial_t trial = {.job_id = "new",
                               .trial_id = 1,
                               .state = HPT_TRIAL_RUNNING,
                               .values_json = "[1]",
                               .hyperparameters_json = "{}",
                               .has_final = true,
                               .final_step = 7,
                               .final_value = 0.5,
                               .final_time = 1700000000.75,
                               .report_count = 7};
    assert_ok (hpt_store_trial_insert (store, &trial, &error), &error);
    trial.trial_id = 2;
    trial.has_final = false;
    trial.report_count = 0;
    assert_ok (hpt_store_trial_insert (store, &trial, &error), &error);
    //  The old job's log gets a length once it is written again.
    assert_ok (hpt_store_job_set_log_bytes (store, "old", 123, &error), &error);
    s_commit (store);

    assert_ok (hpt_store_job_get (store, "new", &row, &error), &error);
    assert_int_equal (s_int (row, "log_bytes"), 0);
    assert_int_equal (s_int (row, "seq"), 2); //  after the old job
    json_decref (row);
    assert_ok (hpt_store_job_get (store, "old", &row, &error), &error);
    assert_int_equal (s_int (row, "log_bytes"), 123);
    json_decref (row);
    assert_ok (hpt_store_trial_get (store, "new", 1, &row, &error), &error);
    assert_true (s_real (row, "final_time") == 1700000000.75);
    assert_int_equal (s_int (row, "report_count"), 7);
    assert_int_equal (s_int (row, "final_step"), 7);
    json_decref (row);
    assert_ok (hpt_store_trial_get (store, "new", 2, &row, &error), &error);
    assert_true (json_is_null (json_object_get (row, "final_time")));
    assert_int_equal (s_int (row, "report_count"), 0);
    json_decref (row);

    trial.trial_id = 1;
    trial.has_final = true;
    trial.final_step = 8;
    trial.final_value = 0.375;
    trial.final_time = 1700000001.25;
    trial.report_count = 8;
    s_begin (store);
    assert_ok (hpt_store_trial_update (store, &trial, &error), &error);
    s_commit (store);
    hpt_store_destroy (&store);

    store = s_open (fixture);
    assert_ok (hpt_store_trial_get (store, "new", 1, &row, &error), &error);
    assert_true (s_real (row, "final_time") == 1700000001.25);
    assert_true (s_real (row, "final_value") == 0.375);
    assert_int_equal (s_int (row, "report_count"), 8);
    assert_int_equal (s_int (row, "final_step"), 8);
    json_decref (row);
    hpt_store_destroy (&store);
}

//  A migration that fails leaves the database at its old version,
//  untouched (it runs in one transaction), and the store is not opened.
static void
test_failed_migration_keeps_old_version (void **state)
{
    fixture_t *fixture = *state;
    hpt_error_t error;
    //  A stray table "meta" makes migration 3 fail after its ALTERs.
    s_build_old (fixture->path, 2, "CREATE TABLE meta (stray TEXT);");
    hpt_store_t *store = hpt_store_new (fixture->path, &error);
    assert_null (store);
    assert_int_not_equal (error.code, HPT_E_OK);
    assert_non_null (strstr (error.message, "meta"));
    assert_int_equal (s_raw_int (fixture->path, "PRAGMA user_version"), 2);
    assert_int_equal (s_raw_int (fixture->path, "SELECT COUNT (*) FROM pragma_table_info ('trials')"
                                                " WHERE name = 'final_time'"),
                      0);
    assert_int_equal (s_raw_int (fixture->path, "SELECT COUNT (*) FROM pragma_table_info ('jobs')"
                                                " WHERE name = 'log_bytes'"),
                      0);
    //  Without the stray table it migrates (the failed open left no lock).
    s_raw_exec (fixture->path, "DROP TABLE meta");
    store = s_open (fixture);
    s_check_old_rows (store);
    hpt_store_destroy (&store);
}

static void
test_newer_schema_is_refused (void **state)
{
    fixture_t *fixture = *state;
    hpt_store_t *store = s_open (fixture);
    hpt_store_destroy (&store);
    s_raw_exec (fixture->path, "PRAGMA user_version = 99");

    hpt_error_t error;
    hpt_error_clear (&error);
    store = hpt_store_new (fixture->path, &error);
    assert_null (store);
    assert_int_equal (error.code, HPT_E_FAILED_PRECONDITION);
    assert_non_null (strstr (error.message, "newer"));
    assert_non_null (strstr (error.message, "99"));
    //  and left as it is
    assert_int_equal (s_raw_int (fixture->path, "PRAGMA user_version"), 99);
}

static void
test_missing_directory_is_a_clear_error (void **state)
{
    fixture_t *fixture = *state;
    char path[192];
    snprintf (path, sizeof (path), "%s/no-such-dir/hpt.db", fixture->dir);
    hpt_error_t error;
    hpt_error_clear (&error);
    hpt_store_t *store = hpt_store_new (path, &error);
    assert_null (store);
    assert_int_equal (error.code, HPT_E_UNAVAILABLE);
    assert_non_null (strstr (error.message, "no-such-dir"));
    assert_non_null (strstr (error.message, "No such file or directory"));

    //  A file that is not a database is refused too, without a crash.
    FILE *file = fopen (fixture->path, "w");
    assert_non_null (file);
    fputs ("this is not a database, just some text long enough to be a header....\n", file);
    fclose (file);
    hpt_error_clear (&error);
    store = hpt_store_new (fixture->path, &error);
    assert_null (store);
    assert_int_not_equal (error.code, HPT_E_OK);
    assert_true (strlen (error.message) > 0);

    //  No path at all is the caller's mistake.
    store = hpt_store_new (NULL, &error);
    assert_null (store);
    assert_int_equal (error.code, HPT_E_INVALID);
}

//  The contract: SIGKILL of the master loses nothing committed, keeps
//  nothing uncommitted, and the lock is free again for the restarted
//  master.
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
            .job_id = "killed", .project = "p", .spec_json = "{}", .state = HPT_JOB_RUNNING};
        hpt_store_trial_t trial = {.job_id = "killed",
                                   .trial_id = 1,
                                   .state = HPT_TRIAL_PROVISIONING,
                                   .values_json = "[]",
                                   .hyperparameters_json = "{}"};
        static hpt_store_metric_t points[1000];
        for (int i = 0; i < 1000; i++)
            points[i] = (hpt_store_metric_t){
                .job_id = "killed", .trial_id = 1, .task_id = "t", .tag = "m", .step = i};
        if (hpt_store_begin (store, NULL) || hpt_store_job_insert (store, &job, NULL, NULL) ||
            hpt_store_trial_insert (store, &trial, NULL) ||
            hpt_store_metrics_append (store, points, 1000, NULL, NULL) ||
            hpt_store_commit (store, NULL))
            _exit (2);
        //  An open, uncommitted transaction must vanish.
        if (hpt_store_begin (store, NULL)) _exit (3);
        trial.trial_id = 2;
        hpt_store_trial_insert (store, &trial, NULL);
        if (write (ready[1], "k", 1) != 1) _exit (4);
        pause ();
        _exit (0);
    }
    close (ready[1]);
    char byte = 0;
    ssize_t got = read (ready[0], &byte, 1);
    close (ready[0]);
    kill (child, SIGKILL);
    int status = 0;
    assert_int_equal (waitpid (child, &status, 0), child);
    if (got != 1) fail_msg ("the child exited with %d", WEXITSTATUS (status));
    assert_true (WIFSIGNALED (status));

    hpt_error_t error;
    hpt_store_t *store = s_open (fixture);
    json_t *trials = NULL;
    assert_ok (hpt_store_trials_of_job (store, "killed", &trials, &error), &error);
    assert_int_equal (json_array_size (trials), 1);
    assert_string_equal (s_str (json_array_get (trials, 0), "state"), "PROVISIONING");
    json_decref (trials);
    json_t *metrics = NULL;
    assert_ok (hpt_store_metrics_of_trial (store, "killed", 1, "m", &metrics, &error), &error);
    assert_int_equal (json_array_size (metrics), 1000);
    json_decref (metrics);
    hpt_store_destroy (&store);
}

static void
test_one_master_per_store (void **state)
{
    fixture_t *fixture = *state;
    hpt_store_t *store = s_open (fixture);
    hpt_error_t error;
    hpt_error_clear (&error);
    hpt_store_t *second = hpt_store_new (fixture->path, &error);
    assert_null (second);
    assert_int_equal (error.code, HPT_E_FAILED_PRECONDITION);
    assert_non_null (strstr (error.message, "in use"));
    hpt_store_destroy (&store);
    //  Closing releases the lock.
    store = s_open (fixture);
    hpt_store_destroy (&store);

    //  An in-memory store (for tests of other classes) needs no file.
    store = hpt_store_new (":memory:", &error);
    if (!store) fail_msg ("memory store: %s", error.message);
    s_insert_job (store, "j", "p", HPT_JOB_QUEUED);
    json_t *job = NULL;
    assert_ok (hpt_store_job_get (store, "j", &job, &error), &error);
    json_decref (job);
    hpt_store_destroy (&store);
}

//  ------------------------------------------------------------------
//  Rows

static void
test_job_state_updates (void **state)
{
    fixture_t *fixture = *state;
    hpt_error_t error;
    hpt_store_t *store = s_open (fixture);
    s_insert_job (store, "j", "p", HPT_JOB_QUEUED);

    hpt_store_job_t dup = {.job_id = "j", .project = "p", .spec_json = "{}"};
    s_begin (store);
    assert_fails (hpt_store_job_insert (store, &dup, NULL, &error), &error, HPT_E_EXISTS);
    hpt_store_rollback (store);
    hpt_store_job_t bad = {.job_id = "k", .project = "p", .spec_json = "{}", .seed = -1};
    s_begin (store);
    assert_fails (hpt_store_job_insert (store, &bad, NULL, &error), &error, HPT_E_INVALID);
    hpt_store_rollback (store);
    bad.seed = 0;
    bad.spec_json = NULL;
    s_begin (store);
    assert_fails (hpt_store_job_insert (store, &bad, NULL, &error), &error, HPT_E_INVALID);
    hpt_store_rollback (store);

    s_begin (store);
    assert_ok (hpt_store_job_set_state (store, "j", HPT_JOB_PREPARING, NULL, 1000, &error), &error);
    assert_ok (hpt_store_job_set_state (store, "j", HPT_JOB_RUNNING, NULL, 2000, &error), &error);
    s_commit (store);
    json_t *job = NULL;
    assert_ok (hpt_store_job_get (store, "j", &job, &error), &error);
    assert_string_equal (s_str (job, "state"), "RUNNING");
    assert_int_equal (s_int (job, "start_time"), 1000); //  the first start counts
    assert_true (json_is_null (json_object_get (job, "end_time")));
    json_decref (job);

    s_begin (store);
    assert_ok (hpt_store_job_set_state (store, "j", HPT_JOB_FAILED, "trial 1 failed", 3000, &error),
               &error);
    s_commit (store);
    assert_ok (hpt_store_job_get (store, "j", &job, &error), &error);
    assert_string_equal (s_str (job, "state"), "FAILED");
    assert_string_equal (s_str (job, "error_message"), "trial 1 failed");
    assert_int_equal (s_int (job, "end_time"), 3000);
    json_decref (job);

    s_begin (store);
    assert_fails (hpt_store_job_set_state (store, "j", (hpt_job_state_t)99, NULL, 1, &error),
                  &error, HPT_E_INVALID);
    hpt_store_rollback (store);
    s_begin (store);
    assert_fails (hpt_store_job_set_state (store, "nope", HPT_JOB_RUNNING, NULL, 1, &error), &error,
                  HPT_E_NOT_FOUND);
    hpt_store_rollback (store);
    s_begin (store);
    assert_fails (hpt_store_job_set_log_bytes (store, "nope", 1, &error), &error, HPT_E_NOT_FOUND);
    hpt_store_rollback (store);
    assert_fails (hpt_store_job_get (store, "nope", &job, &error), &error, HPT_E_NOT_FOUND);
    hpt_store_destroy (&store);
}

static void
test_trials_ordered_and_updated (void **state)
{
    fixture_t *fixture = *state;
    hpt_error_t error;
    hpt_store_t *store = s_open (fixture);
    s_begin (store);
    s_insert_job (store, "j", "p", HPT_JOB_RUNNING);
    s_insert_trial (store, "j", 3);
    s_insert_trial (store, "j", 1);
    s_insert_trial (store, "j", 2);
    s_commit (store);
    hpt_store_trial_t dup = {.job_id = "j",
                             .trial_id = 2,
                             .state = HPT_TRIAL_PENDING,
                             .values_json = "[]",
                             .hyperparameters_json = "{}"};
    s_begin (store);
    assert_fails (hpt_store_trial_insert (store, &dup, &error), &error, HPT_E_EXISTS);
    hpt_store_rollback (store);
    dup.job_id = "missing";
    s_begin (store);
    assert_fails (hpt_store_trial_insert (store, &dup, &error), &error, HPT_E_NOT_FOUND);
    hpt_store_rollback (store);
    dup.job_id = "j";
    dup.trial_id = 0;
    s_begin (store);
    assert_fails (hpt_store_trial_insert (store, &dup, &error), &error, HPT_E_INVALID);
    hpt_store_rollback (store);

    hpt_store_trial_t update = {.job_id = "j",
                                .trial_id = 2,
                                .state = HPT_TRIAL_SUCCEEDED,
                                .has_final = true,
                                .final_step = 100,
                                .final_value = 0.875,
                                .final_time = 1700000000.5,
                                .report_count = 12,
                                .stopped_early = true,
                                .message = "stopped by the median rule",
                                .start_time = 10,
                                .end_time = 20,
                                .requeue_count = 1};
    s_begin (store);
    assert_ok (hpt_store_trial_update (store, &update, &error), &error);
    update.trial_id = 3;
    update.final_value = NAN;
    update.stopped_early = false;
    assert_ok (hpt_store_trial_update (store, &update, &error), &error);
    s_commit (store);
    update.trial_id = 9;
    s_begin (store);
    assert_fails (hpt_store_trial_update (store, &update, &error), &error, HPT_E_NOT_FOUND);
    hpt_store_rollback (store);

    json_t *trials = NULL;
    assert_ok (hpt_store_trials_of_job (store, "j", &trials, &error), &error);
    assert_int_equal (json_array_size (trials), 3);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal (s_int (json_array_get (trials, i), "trial_id"), (json_int_t)i + 1);
    json_t *two = json_array_get (trials, 1);
    assert_string_equal (s_str (two, "state"), "SUCCEEDED");
    assert_true (json_is_true (json_object_get (two, "has_final")));
    assert_true (json_is_true (json_object_get (two, "stopped_early")));
    assert_int_equal (s_int (two, "final_step"), 100);
    assert_float_equal (s_real (two, "final_value"), 0.875, 0);
    assert_float_equal (s_real (two, "final_time"), 1700000000.5, 0);
    assert_int_equal (s_int (two, "report_count"), 12);
    assert_int_equal (s_int (two, "requeue_count"), 1);
    assert_string_equal (s_str (two, "message"), "stopped by the median rule");
    //  The values are untouched by an update.
    assert_string_equal (s_str (json_object_get (two, "hyperparameters_json"), "units"), "3");
    //  NaN survives as protobuf's JSON spelling.
    assert_string_equal (s_str (json_array_get (trials, 2), "final_value"), "NaN");
    assert_true (json_is_null (json_object_get (json_array_get (trials, 0), "final_value")));
    json_decref (trials);

    assert_ok (hpt_store_trials_of_job (store, "missing", &trials, &error), &error);
    assert_int_equal (json_array_size (trials), 0);
    json_decref (trials);
    hpt_store_destroy (&store);
}

//  task_put inserts a task, and the same id again updates that row (its
//  identity stays); a task of no trial is refused.
static void
test_task_put_inserts_then_updates (void **state)
{
    fixture_t *fixture = *state;
    hpt_error_t error;
    hpt_store_t *store = s_open (fixture);
    s_begin (store);
    s_insert_job (store, "j", "p", HPT_JOB_RUNNING);
    s_insert_trial (store, "j", 1);
    hpt_store_task_t master = {.task_id = "j/1/master/0",
                               .job_id = "j",
                               .trial_id = 1,
                               .replica_type = "master",
                               .agent = "a1",
                               .state = HPT_TASK_LAUNCHING,
                               .placement_json = "{\"port\": 2222}"};
    assert_ok (hpt_store_task_put (store, &master, &error), &error);
    s_commit (store);
    json_t *list = NULL;
    assert_ok (hpt_store_task_of_trial (store, "j", 1, &list, &error), &error);
    assert_int_equal (json_array_size (list), 1);
    json_t *row = json_array_get (list, 0);
    assert_string_equal (s_str (row, "state"), "LAUNCHING");
    assert_true (json_is_null (json_object_get (row, "pid")));
    assert_true (json_is_null (json_object_get (row, "end_time")));
    assert_true (json_is_false (json_object_get (row, "has_exit")));
    assert_int_equal (s_int (json_object_get (row, "placement_json"), "port"), 2222);
    json_decref (list);

    //  The same id again: the row is updated, not duplicated; the
    //  identity (replica type and index) is not rewritten.
    master.state = HPT_TASK_RUNNING;
    master.pid = 1234;
    master.start_time = 5;
    master.agent = "a2";
    master.attempt = 1;
    master.placement_json = "{\"port\": 3333}";
    master.replica_type = "worker";
    master.replica_index = 7;
    s_begin (store);
    assert_ok (hpt_store_task_put (store, &master, &error), &error);
    s_commit (store);
    assert_ok (hpt_store_task_of_trial (store, "j", 1, &list, &error), &error);
    assert_int_equal (json_array_size (list), 1);
    row = json_array_get (list, 0);
    assert_string_equal (s_str (row, "task_id"), "j/1/master/0");
    assert_string_equal (s_str (row, "state"), "RUNNING");
    assert_string_equal (s_str (row, "agent"), "a2");
    assert_int_equal (s_int (row, "pid"), 1234);
    assert_int_equal (s_int (row, "start_time"), 5);
    assert_int_equal (s_int (row, "attempt"), 1);
    assert_int_equal (s_int (json_object_get (row, "placement_json"), "port"), 3333);
    assert_string_equal (s_str (row, "replica_type"), "master");
    assert_int_equal (s_int (row, "replica_index"), 0);
    json_decref (list);

    master.state = HPT_TASK_EXITED;
    master.has_exit = true;
    master.exit_code = 0;
    master.signal = 0;
    master.end_time = 9;
    hpt_store_task_t worker = {.task_id = "j/1/worker/0",
                               .job_id = "j",
                               .trial_id = 1,
                               .replica_type = "worker",
                               .agent = "a2",
                               .state = HPT_TASK_RUNNING};
    s_begin (store);
    assert_ok (hpt_store_task_put (store, &master, &error), &error);
    assert_ok (hpt_store_task_put (store, &worker, &error), &error);
    s_commit (store);
    hpt_store_destroy (&store);

    store = s_open (fixture);
    json_t *task = NULL;
    assert_ok (hpt_store_task_get (store, "j/1/master/0", &task, &error), &error);
    assert_string_equal (s_str (task, "state"), "EXITED");
    assert_true (json_is_true (json_object_get (task, "has_exit")));
    assert_int_equal (s_int (task, "exit_code"), 0);
    assert_int_equal (s_int (task, "signal"), 0);
    assert_int_equal (s_int (task, "end_time"), 9);
    json_decref (task);
    assert_ok (hpt_store_task_of_trial (store, "j", 1, &list, &error), &error);
    assert_int_equal (json_array_size (list), 2);
    assert_string_equal (s_str (json_array_get (list, 0), "replica_type"), "master");
    assert_string_equal (s_str (json_array_get (list, 1), "replica_type"), "worker");
    json_decref (list);

    hpt_store_task_t orphan = worker;
    orphan.task_id = "j/2/master/0";
    orphan.trial_id = 2;
    s_begin (store);
    assert_fails (hpt_store_task_put (store, &orphan, &error), &error, HPT_E_NOT_FOUND);
    hpt_store_rollback (store);
    orphan.trial_id = 1;
    orphan.replica_type = NULL;
    s_begin (store);
    assert_fails (hpt_store_task_put (store, &orphan, &error), &error, HPT_E_INVALID);
    hpt_store_rollback (store);
    assert_fails (hpt_store_task_get (store, "j/2/master/0", &task, &error), &error,
                  HPT_E_NOT_FOUND);
    hpt_store_destroy (&store);
}

static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t
s_metric_count (hpt_store_t *store, const char *tag)
{
    hpt_error_t error;
    json_t *list = NULL;
    assert_ok (hpt_store_metrics_of_trial (store, "j", 1, tag, &list, &error), &error);
    size_t count = json_array_size (list);
    json_decref (list);
    return count;
}

static void
test_metric_batch_and_replay (void **state)
{
    fixture_t *fixture = *state;
    hpt_error_t error;
    hpt_store_t *store = s_open (fixture);
    s_begin (store);
    s_insert_job (store, "j", "p", HPT_JOB_RUNNING);
    s_insert_trial (store, "j", 1);
    s_commit (store);

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
    s_begin (store);
    assert_ok (hpt_store_metrics_append (store, points, N, &stored, &error), &error);
    s_commit (store);
    double elapsed = s_now () - start;
    assert_int_equal (stored, N);
    //  Information only: the rate depends on the machine and its load.
    printf ("store: %d metric points in one batch in %.3f s = %.0f points/s\n", N, elapsed,
            N / elapsed);

    //  An agent replaying the same batch after a restart adds nothing.
    s_begin (store);
    assert_ok (hpt_store_metrics_append (store, points, N, &stored, &error), &error);
    assert_int_equal (stored, 0);
    //  A partly new batch adds only what is new.
    points[0].step = -1;
    assert_ok (hpt_store_metrics_append (store, points, 10, &stored, &error), &error);
    assert_int_equal (stored, 1);
    s_commit (store);

    json_t *list = NULL;
    assert_ok (hpt_store_metrics_of_trial (store, "j", 1, "loss", &list, &error), &error);
    assert_int_equal (json_array_size (list), N / 2);
    for (size_t i = 1; i < json_array_size (list); i++)
        assert_true (s_int (json_array_get (list, i - 1), "step") <
                     s_int (json_array_get (list, i), "step"));
    json_decref (list);
    assert_int_equal (s_metric_count (store, NULL), N + 1);

    //  A batch with a bad point stores nothing of it (all or nothing), and
    //  fails its transaction.
    points[5].tag = NULL;
    points[0].step = -2;
    s_begin (store);
    assert_fails (hpt_store_metrics_append (store, points, 10, &stored, &error), &error,
                  HPT_E_INVALID);
    assert_non_null (strstr (error.message, "point 5"));
    assert_int_equal (hpt_store_commit (store, &error), -1);
    assert_int_equal (s_metric_count (store, NULL), N + 1);
    points[5].tag = "loss";
    points[5].time = INFINITY;
    s_begin (store);
    assert_fails (hpt_store_metrics_append (store, points, 10, &stored, &error), &error,
                  HPT_E_INVALID);
    assert_non_null (strstr (error.message, "non-finite time"));
    hpt_store_rollback (store);
    assert_int_equal (s_metric_count (store, NULL), N + 1);

    //  Non-finite values are kept and deduplicated like any other.
    hpt_store_metric_t odd[3] = {
        {.job_id = "j", .trial_id = 1, .task_id = "t", .tag = "x", .step = 1, .value = NAN},
        {.job_id = "j", .trial_id = 1, .task_id = "t", .tag = "x", .step = 2, .value = -INFINITY},
        {.job_id = "j", .trial_id = 1, .task_id = "t", .tag = "x", .step = 3, .value = INFINITY}};
    s_begin (store);
    assert_ok (hpt_store_metrics_append (store, odd, 3, &stored, &error), &error);
    assert_int_equal (stored, 3);
    assert_ok (hpt_store_metrics_append (store, odd, 3, &stored, &error), &error);
    assert_int_equal (stored, 0);
    //  An empty batch is a no-op.
    assert_ok (hpt_store_metrics_append (store, NULL, 0, &stored, &error), &error);
    assert_int_equal (stored, 0);
    s_commit (store);
    hpt_store_destroy (&store);
    store = s_open (fixture);
    assert_ok (hpt_store_metrics_of_trial (store, "j", 1, "x", &list, &error), &error);
    assert_int_equal (json_array_size (list), 3);
    assert_string_equal (s_str (json_array_get (list, 0), "value"), "NaN");
    assert_string_equal (s_str (json_array_get (list, 1), "value"), "-Infinity");
    assert_string_equal (s_str (json_array_get (list, 2), "value"), "Infinity");
    json_decref (list);
    free (points);
    hpt_store_destroy (&store);
}

//  ---------------------------------------------------------------------
//  Reading big curves: the last points, pages, tags

//  Stores n points of tag for task in trial 1 of job "j": steps first..,
//  values 1/step, times 1e9 + step.
static void
s_curve (hpt_store_t *store, const char *tag, const char *task, int64_t first, size_t n)
{
    hpt_error_t error;
    hpt_store_metric_t *points = calloc (n, sizeof (hpt_store_metric_t));
    for (size_t i = 0; i < n; i++) {
        int64_t step = first + (int64_t)i;
        points[i] =
            (hpt_store_metric_t){"j", 1, task, tag, step, 1.0 / (double)step, 1e9 + (double)step};
    }
    bool own = s_own_begin (store);
    assert_ok (hpt_store_metrics_append (store, points, n, NULL, &error), &error);
    s_own_commit (store, own);
    free (points);
}

//  A store with job "j" trial 1: 50 000 points of "loss" from the master,
//  the same steps' "loss" from a worker for the last 100 steps, 50 000 of
//  "acc", and trial 2 with a few points of "zz" that trial 1 must not see.
static hpt_store_t *
s_big_trial (fixture_t *fixture)
{
    hpt_store_t *store = s_open (fixture);
    s_begin (store);
    s_insert_job (store, "j", "p", HPT_JOB_RUNNING);
    s_insert_trial (store, "j", 1);
    s_insert_trial (store, "j", 2);
    s_curve (store, "loss", "j/1/master/0", 1, 50000);
    s_curve (store, "loss", "j/1/worker/0", 49901, 100);
    s_curve (store, "acc", "j/1/master/0", 1, 50000);
    hpt_error_t error;
    hpt_store_metric_t other = {"j", 2, "j/2/master/0", "zz", 1, 1, 1e9};
    assert_ok (hpt_store_metrics_append (store, &other, 1, NULL, &error), &error);
    s_commit (store);
    return store;
}

static void
test_metrics_last_reads_the_end_of_a_curve (void **state)
{
    fixture_t *fixture = *state;
    hpt_error_t error;
    hpt_store_t *store = s_big_trial (fixture);
    json_t *all = NULL;
    assert_ok (hpt_store_metrics_of_trial (store, "j", 1, "loss", &all, &error), &error);
    uint64_t all_steps = hpt_store_last_read_steps (store);
    json_decref (all);

    json_t *last = NULL;
    assert_ok (hpt_store_metrics_last (store, "j", 1, "loss", "j/1/master/0", 1000, &last, &error),
               &error);
    uint64_t last_steps = hpt_store_last_read_steps (store);
    assert_int_equal (json_array_size (last), 1000);
    for (size_t i = 0; i < 1000; i++) {
        json_t *point = json_array_get (last, i);
        assert_int_equal (s_int (point, "step"), 49001 + (int64_t)i);
        assert_string_equal (s_str (point, "task_id"), "j/1/master/0");
        assert_string_equal (s_str (point, "tag"), "loss");
    }
    json_decref (last);
    //  It walks the key from the end: the 100 worker points it skips and
    //  the 1000 it returns, not the 50 100 of the tag.
    assert_true (last_steps > 0);
    assert_true (last_steps * 20 < all_steps);

    //  Every task's points when no task is named: the worker's interleave.
    assert_ok (hpt_store_metrics_last (store, "j", 1, "loss", NULL, 150, &last, &error), &error);
    assert_int_equal (json_array_size (last), 150);
    assert_int_equal (s_int (json_array_get (last, 0), "step"), 49926);
    assert_int_equal (s_int (json_array_get (last, 149), "step"), 50000);
    json_decref (last);
    //  Fewer points than asked for: all of them; none asked: none.
    assert_ok (hpt_store_metrics_last (store, "j", 1, "loss", "j/1/worker/0", 1000, &last, &error),
               &error);
    assert_int_equal (json_array_size (last), 100);
    assert_int_equal (s_int (json_array_get (last, 0), "step"), 49901);
    json_decref (last);
    assert_ok (hpt_store_metrics_last (store, "j", 1, "loss", NULL, 0, &last, &error), &error);
    assert_int_equal (json_array_size (last), 0);
    json_decref (last);
    assert_ok (hpt_store_metrics_last (store, "j", 2, "loss", NULL, 10, &last, &error), &error);
    assert_int_equal (json_array_size (last), 0);
    json_decref (last);
    assert_fails (hpt_store_metrics_last (store, "j", 1, NULL, NULL, 10, &last, &error), &error,
                  HPT_E_INVALID);
    hpt_store_destroy (&store);
}

//  The page of size after the row `after` (NULL: the first), as a cursor.
static json_t *
s_page (hpt_store_t *store, const char *tag, json_t *after, size_t size)
{
    hpt_error_t error;
    hpt_store_metric_t cursor = {0};
    if (after) {
        cursor.tag = s_str (after, "tag");
        cursor.task_id = s_str (after, "task_id");
        cursor.step = s_int (after, "step");
        cursor.time = json_number_value (json_object_get (after, "time"));
        json_t *value = json_object_get (after, "value");
        const char *text = json_string_value (value);
        cursor.value = !text                             ? json_number_value (value)
                       : strcmp (text, "NaN") == 0       ? NAN
                       : strcmp (text, "-Infinity") == 0 ? -INFINITY
                                                         : INFINITY;
    }
    json_t *page = NULL;
    assert_ok (
        hpt_store_metrics_page (store, "j", 1, tag, after ? &cursor : NULL, size, &page, &error),
        &error);
    return page;
}

//  Walks every page of tag (NULL: all) and checks they join into what
//  metrics_of_trial gives; returns the number of points.
static size_t
s_walk (hpt_store_t *store, const char *tag, size_t size)
{
    hpt_error_t error;
    json_t *all = NULL;
    assert_ok (hpt_store_metrics_of_trial (store, "j", 1, tag, &all, &error), &error);
    json_t *joined = json_array ();
    json_t *page = s_page (store, tag, NULL, size);
    while (json_array_size (page) > 0) {
        json_array_extend (joined, page);
        json_t *last = json_incref (json_array_get (page, json_array_size (page) - 1));
        bool full = json_array_size (page) == size;
        json_decref (page);
        page = full ? s_page (store, tag, last, size) : json_array ();
        json_decref (last);
    }
    json_decref (page);
    assert_true (json_equal (joined, all));
    size_t count = json_array_size (all);
    json_decref (joined);
    json_decref (all);
    return count;
}

static void
test_metrics_pages_walk_the_key (void **state)
{
    fixture_t *fixture = *state;
    hpt_error_t error;
    hpt_store_t *store = s_big_trial (fixture);
    assert_int_equal (s_walk (store, "loss", 7777), 50100);
    assert_int_equal (s_walk (store, "acc", 50000), 50000);
    assert_int_equal (s_walk (store, NULL, 9999), 100100);
    assert_int_equal (s_walk (store, "nope", 10), 0);

    //  A page from deep inside costs what it returns (keyset, no OFFSET).
    json_t *all = NULL;
    assert_ok (hpt_store_metrics_of_trial (store, "j", 1, NULL, &all, &error), &error);
    uint64_t all_steps = hpt_store_last_read_steps (store);
    json_t *page = s_page (store, NULL, json_array_get (all, 90000), 10);
    uint64_t page_steps = hpt_store_last_read_steps (store);
    assert_int_equal (json_array_size (page), 10);
    assert_true (json_equal (json_array_get (page, 0), json_array_get (all, 90001)));
    assert_true (page_steps * 1000 < all_steps);
    json_decref (page);
    page = s_page (store, "loss", json_array_get (all, 60000), 10);
    assert_true (hpt_store_last_read_steps (store) * 1000 < all_steps);
    json_decref (page);

    //  Points stored before the cursor meanwhile do not shift the pages.
    json_t *first = s_page (store, "acc", NULL, 3);
    s_curve (store, "acc", "j/1/master/0", -5, 5);
    page = s_page (store, "acc", json_array_get (first, 2), 2);
    assert_int_equal (s_int (json_array_get (page, 0), "step"), 4);
    json_decref (page);
    json_decref (first);
    json_decref (all);

    //  Non-finite values (stored as text) page like any other.
    hpt_store_metric_t odd[5] = {{"j", 1, "t", "odd", 1, NAN, 1e9},
                                 {"j", 1, "t", "odd", 1, INFINITY, 1e9},
                                 {"j", 1, "t", "odd", 1, -INFINITY, 1e9},
                                 {"j", 1, "t", "odd", 1, 0.5, 1e9},
                                 {"j", 1, "t", "odd", 1, -2, 1e9}};
    s_begin (store);
    assert_ok (hpt_store_metrics_append (store, odd, 5, NULL, &error), &error);
    s_commit (store);
    assert_int_equal (s_walk (store, "odd", 1), 5);
    assert_int_equal (s_walk (store, "odd", 2), 5);

    hpt_store_metric_t bad = {.tag = "loss"};
    assert_fails (hpt_store_metrics_page (store, "j", 1, NULL, &bad, 10, &page, &error), &error,
                  HPT_E_INVALID);
    hpt_store_destroy (&store);
}

static void
test_metric_tags_seek_each_tag (void **state)
{
    fixture_t *fixture = *state;
    hpt_error_t error;
    hpt_store_t *store = s_big_trial (fixture);
    json_t *tags = NULL;
    assert_ok (hpt_store_metric_tags (store, "j", 1, &tags, &error), &error);
    assert_int_equal (json_array_size (tags), 2);
    assert_string_equal (json_string_value (json_array_get (tags, 0)), "acc");
    assert_string_equal (json_string_value (json_array_get (tags, 1)), "loss");
    json_decref (tags);
    //  A few seeks, not a read of the 100 100 points.
    assert_true (hpt_store_last_read_steps (store) < 1000);
    assert_ok (hpt_store_metric_tags (store, "j", 2, &tags, &error), &error);
    assert_int_equal (json_array_size (tags), 1);
    assert_string_equal (json_string_value (json_array_get (tags, 0)), "zz");
    json_decref (tags);
    assert_ok (hpt_store_metric_tags (store, "j", 3, &tags, &error), &error);
    assert_int_equal (json_array_size (tags), 0);
    json_decref (tags);
    hpt_store_destroy (&store);
}

static void
test_job_list_in_submission_order (void **state)
{
    fixture_t *fixture = *state;
    hpt_error_t error;
    hpt_store_t *store = s_open (fixture);
    s_begin (store);
    s_insert_job (store, "mnist_2", "p", HPT_JOB_RUNNING);
    s_insert_job (store, "cifar_1", "p", HPT_JOB_SUCCEEDED);
    s_insert_job (store, "mnist_1", "other", HPT_JOB_QUEUED);
    s_commit (store);

    json_t *list = NULL;
    assert_ok (hpt_store_job_list (store, &list, &error), &error);
    assert_int_equal (json_array_size (list), 3);
    //  submission order, not name order
    assert_string_equal (s_str (json_array_get (list, 0), "job_id"), "mnist_2");
    assert_string_equal (s_str (json_array_get (list, 1), "job_id"), "cifar_1");
    assert_string_equal (s_str (json_array_get (list, 2), "job_id"), "mnist_1");
    assert_string_equal (s_str (json_array_get (list, 1), "state"), "SUCCEEDED");
    assert_string_equal (s_str (json_array_get (list, 2), "project"), "other");
    json_decref (list);
    hpt_store_destroy (&store);
}

static void
test_agent_drain_survives_reopen (void **state)
{
    fixture_t *fixture = *state;
    hpt_error_t error;
    hpt_store_t *store = s_open (fixture);
    hpt_store_agent_t agent = {.name = "gpu-1",
                               .state = HPT_HOST_READY,
                               .last_seen = 100,
                               .resources_json = "{\"cpus\": 16}"};
    s_begin (store);
    assert_ok (hpt_store_agent_upsert (store, &agent, &error), &error);
    assert_ok (hpt_store_agent_set_drain (store, "gpu-1", HPT_DRAIN_DRAINING, true, "bad fan",
                                          "alice", 1234, &error),
               &error);
    assert_ok (hpt_store_agent_set_acked_seq (store, "gpu-1", 77, &error), &error);
    s_commit (store);
    s_begin (store);
    assert_fails (hpt_store_agent_set_drain (store, "gpu-1", (hpt_drain_state_t)7, false, NULL,
                                             NULL, 0, &error),
                  &error, HPT_E_INVALID);
    hpt_store_rollback (store);
    s_begin (store);
    assert_fails (hpt_store_agent_set_drain (store, "nobody", HPT_DRAIN_DRAINED, false, NULL, NULL,
                                             0, &error),
                  &error, HPT_E_NOT_FOUND);
    hpt_store_rollback (store);
    hpt_store_agent_t nameless = {.name = "", .state = HPT_HOST_READY};
    s_begin (store);
    assert_fails (hpt_store_agent_upsert (store, &nameless, &error), &error, HPT_E_INVALID);
    hpt_store_rollback (store);
    hpt_store_destroy (&store);

    store = s_open (fixture);
    //  A reconnect (upsert) keeps the drain and the acked seq.
    agent.state = HPT_HOST_READY;
    agent.last_seen = 200;
    agent.resources_json = NULL;
    s_begin (store);
    assert_ok (hpt_store_agent_upsert (store, &agent, &error), &error);
    s_commit (store);
    json_t *row = NULL;
    assert_ok (hpt_store_agent_get (store, "gpu-1", &row, &error), &error);
    assert_string_equal (s_str (row, "state"), "READY");
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

    agent.state = HPT_HOST_LOST;
    s_begin (store);
    assert_ok (hpt_store_agent_upsert (store, &agent, &error), &error);
    assert_ok (hpt_store_agent_set_drain (store, "gpu-1", HPT_DRAIN_NONE, true, "ignored", "bob", 9,
                                          &error),
               &error);
    s_commit (store);
    assert_ok (hpt_store_agent_get (store, "gpu-1", &row, &error), &error);
    assert_string_equal (s_str (row, "state"), "LOST");
    assert_string_equal (s_str (row, "drain_state"), "NONE");
    assert_true (json_is_null (json_object_get (row, "drain_reason")));
    assert_true (json_is_null (json_object_get (row, "drained_by")));
    assert_true (json_is_null (json_object_get (row, "drained_at")));
    assert_true (json_is_false (json_object_get (row, "drain_now")));
    json_decref (row);
    assert_fails (hpt_store_agent_get (store, "nobody", &row, &error), &error, HPT_E_NOT_FOUND);
    hpt_store_destroy (&store);
}

//  The acked seq is set, not maxed: HELLO lowers it when an agent lost
//  its spool.
static void
test_acked_seq_can_go_down (void **state)
{
    fixture_t *fixture = *state;
    hpt_error_t error;
    hpt_store_t *store = s_open (fixture);
    hpt_store_agent_t agent = {.name = "a", .state = HPT_HOST_READY, .last_seen = 1};
    s_begin (store);
    assert_ok (hpt_store_agent_upsert (store, &agent, &error), &error);
    assert_ok (hpt_store_agent_set_acked_seq (store, "a", 77, &error), &error);
    s_commit (store);
    s_begin (store);
    assert_ok (hpt_store_agent_set_acked_seq (store, "a", 12, &error), &error);
    s_commit (store);
    hpt_store_destroy (&store);

    store = s_open (fixture);
    json_t *row = NULL;
    assert_ok (hpt_store_agent_get (store, "a", &row, &error), &error);
    assert_int_equal (s_int (row, "last_acked_seq"), 12);
    json_decref (row);
    s_begin (store);
    assert_ok (hpt_store_agent_set_acked_seq (store, "a", 0, &error), &error);
    s_commit (store);
    assert_ok (hpt_store_agent_get (store, "a", &row, &error), &error);
    assert_int_equal (s_int (row, "last_acked_seq"), 0);
    json_decref (row);
    s_begin (store);
    assert_fails (hpt_store_agent_set_acked_seq (store, "a", -1, &error), &error, HPT_E_INVALID);
    hpt_store_rollback (store);
    s_begin (store);
    assert_fails (hpt_store_agent_set_acked_seq (store, "nobody", 5, &error), &error,
                  HPT_E_NOT_FOUND);
    hpt_store_rollback (store);
    hpt_store_destroy (&store);
}

//  ------------------------------------------------------------------
//  Transactions

static void
test_transactions (void **state)
{
    fixture_t *fixture = *state;
    hpt_error_t error;
    hpt_store_t *store = s_open (fixture);
    assert_false (hpt_store_in_transaction (store));
    assert_fails (hpt_store_commit (store, &error), &error, HPT_E_INVALID);
    hpt_store_rollback (store); //  none open: harmless
    uint64_t before = hpt_store_transaction_id (store);
    s_begin (store);
    assert_true (hpt_store_in_transaction (store));
    assert_true (hpt_store_transaction_id (store) == before + 1);
    //  Transactions do not nest; the open one goes on.
    assert_fails (hpt_store_begin (store, &error), &error, HPT_E_INVALID);
    assert_true (hpt_store_in_transaction (store));
    assert_true (hpt_store_transaction_id (store) == before + 1);
    s_insert_job (store, "gone", "p", HPT_JOB_QUEUED);
    hpt_store_rollback (store);
    assert_false (hpt_store_in_transaction (store));
    json_t *job = NULL;
    assert_fails (hpt_store_job_get (store, "gone", &job, &error), &error, HPT_E_NOT_FOUND);

    s_begin (store);
    assert_true (hpt_store_transaction_id (store) == before + 2);
    s_insert_job (store, "kept", "p", HPT_JOB_QUEUED);
    s_insert_trial (store, "kept", 1);
    //  A metric batch inside the caller's transaction joins it.
    hpt_store_metric_t point = {
        .job_id = "kept", .trial_id = 1, .task_id = "t", .tag = "m", .step = 1, .value = 1};
    assert_ok (hpt_store_metrics_append (store, &point, 1, NULL, &error), &error);
    //  Reads inside the transaction see its writes.
    assert_ok (hpt_store_job_get (store, "kept", &job, &error), &error);
    json_decref (job);
    s_commit (store);
    assert_false (hpt_store_in_transaction (store));
    //  An empty transaction commits.
    s_begin (store);
    s_commit (store);
    hpt_store_destroy (&store);

    store = s_open (fixture);
    assert_ok (hpt_store_job_get (store, "kept", &job, &error), &error);
    json_decref (job);
    json_t *list = NULL;
    assert_ok (hpt_store_metrics_of_trial (store, "kept", 1, NULL, &list, &error), &error);
    assert_int_equal (json_array_size (list), 1);
    json_decref (list);
    hpt_store_destroy (&store);
}

//  Every write outside a transaction is refused (HPT_E_INVALID) and
//  writes nothing; it does not spoil the next transaction.
static void
test_write_outside_transaction_is_refused (void **state)
{
    fixture_t *fixture = *state;
    hpt_error_t error;
    hpt_store_t *store = s_open (fixture);
    s_begin (store);
    s_insert_job (store, "j", "p", HPT_JOB_QUEUED);
    s_insert_trial (store, "j", 1);
    hpt_store_task_t task = {.task_id = "j/1/master/0",
                             .job_id = "j",
                             .trial_id = 1,
                             .replica_type = "master",
                             .state = HPT_TASK_LAUNCHING};
    assert_ok (hpt_store_task_put (store, &task, &error), &error);
    hpt_store_agent_t agent = {.name = "a", .state = HPT_HOST_READY, .last_seen = 1};
    assert_ok (hpt_store_agent_upsert (store, &agent, &error), &error);
    assert_ok (hpt_store_meta_set (store, "k", 1, &error), &error);
    s_commit (store);
    const char *count_sql = "SELECT (SELECT COUNT (*) FROM jobs) + (SELECT COUNT (*) FROM trials)"
                            " + (SELECT COUNT (*) FROM tasks) + (SELECT COUNT (*) FROM metrics)"
                            " + (SELECT COUNT (*) FROM agents) + (SELECT COUNT (*) FROM meta)";
    assert_int_equal (s_raw_int (fixture->path, count_sql), 5);

    hpt_store_job_t job = {.job_id = "x", .project = "p", .spec_json = "{}"};
    assert_fails (hpt_store_job_insert (store, &job, NULL, &error), &error, HPT_E_INVALID);
    assert_non_null (strstr (error.message, "outside a transaction"));
    assert_fails (hpt_store_job_set_state (store, "j", HPT_JOB_RUNNING, "m", 5, &error), &error,
                  HPT_E_INVALID);
    assert_fails (hpt_store_job_set_log_bytes (store, "j", 5, &error), &error, HPT_E_INVALID);
    hpt_store_trial_t trial = {.job_id = "j",
                               .trial_id = 2,
                               .state = HPT_TRIAL_RUNNING,
                               .values_json = "[]",
                               .hyperparameters_json = "{}"};
    assert_fails (hpt_store_trial_insert (store, &trial, &error), &error, HPT_E_INVALID);
    trial.trial_id = 1;
    assert_fails (hpt_store_trial_update (store, &trial, &error), &error, HPT_E_INVALID);
    task.state = HPT_TASK_RUNNING;
    assert_fails (hpt_store_task_put (store, &task, &error), &error, HPT_E_INVALID);
    task.task_id = "j/1/worker/0";
    task.replica_type = "worker";
    assert_fails (hpt_store_task_put (store, &task, &error), &error, HPT_E_INVALID);
    hpt_store_metric_t point = {
        .job_id = "j", .trial_id = 1, .task_id = "t", .tag = "m", .step = 1, .value = 1};
    assert_fails (hpt_store_metrics_append (store, &point, 1, NULL, &error), &error, HPT_E_INVALID);
    agent.name = "b";
    assert_fails (hpt_store_agent_upsert (store, &agent, &error), &error, HPT_E_INVALID);
    assert_fails (
        hpt_store_agent_set_drain (store, "a", HPT_DRAIN_DRAINING, true, "r", "u", 5, &error),
        &error, HPT_E_INVALID);
    assert_fails (hpt_store_agent_set_acked_seq (store, "a", 9, &error), &error, HPT_E_INVALID);
    assert_fails (hpt_store_meta_set (store, "k", 2, &error), &error, HPT_E_INVALID);
    assert_false (hpt_store_in_transaction (store));

    //  Nothing was written: not seen by another connection, nor by the
    //  store.
    assert_int_equal (s_raw_int (fixture->path, count_sql), 5);
    json_t *row = NULL;
    assert_ok (hpt_store_job_get (store, "j", &row, &error), &error);
    assert_string_equal (s_str (row, "state"), "QUEUED");
    assert_int_equal (s_int (row, "log_bytes"), 0);
    assert_true (json_is_null (json_object_get (row, "error_message")));
    json_decref (row);
    assert_ok (hpt_store_trial_get (store, "j", 1, &row, &error), &error);
    assert_string_equal (s_str (row, "state"), "PENDING");
    json_decref (row);
    assert_ok (hpt_store_task_get (store, "j/1/master/0", &row, &error), &error);
    assert_string_equal (s_str (row, "state"), "LAUNCHING");
    json_decref (row);
    assert_ok (hpt_store_agent_get (store, "a", &row, &error), &error);
    assert_string_equal (s_str (row, "drain_state"), "NONE");
    assert_int_equal (s_int (row, "last_acked_seq"), 0);
    json_decref (row);
    int64_t value = 0;
    assert_ok (hpt_store_meta_get (store, "k", &value, &error), &error);
    assert_int_equal (value, 1);

    //  The refusals do not fail the next transaction.
    s_begin (store);
    assert_ok (hpt_store_job_set_state (store, "j", HPT_JOB_RUNNING, NULL, 5, &error), &error);
    s_commit (store);
    hpt_store_destroy (&store);
    assert_int_equal (s_raw_int (fixture->path, count_sql), 5);
    assert_int_equal (s_raw_int (fixture->path, "SELECT start_time FROM jobs WHERE job_id = 'j'"),
                      5);
}

//  Sticky failure: a statement that really fails inside a transaction
//  (here a trigger another connection installed) fails the transaction.
//  Later writes, valid as they are, are refused with the first failure;
//  commit rolls everything back, the writes before the failing one too,
//  and reports the first failure.
static void
test_failed_statement_fails_the_transaction (void **state)
{
    fixture_t *fixture = *state;
    hpt_error_t error;
    hpt_store_t *store = s_open (fixture);
    s_insert_job (store, "before", "p", HPT_JOB_QUEUED);
    //  The store has prepared its statements already; SQLite re-prepares
    //  them on the schema change.
    hpt_store_metric_t point = {
        .job_id = "j", .trial_id = 1, .task_id = "t", .tag = "m", .step = 1, .value = 1};
    s_raw_exec (fixture->path, "CREATE TRIGGER no_metrics BEFORE INSERT ON metrics"
                               " BEGIN SELECT RAISE (ABORT, 'injected failure'); END;");
    s_begin (store);
    s_insert_job (store, "j", "p", HPT_JOB_RUNNING);
    s_insert_trial (store, "j", 1);
    assert_fails (hpt_store_metrics_append (store, &point, 1, NULL, &error), &error,
                  HPT_E_UNAVAILABLE);
    assert_non_null (strstr (error.message, "injected failure"));

    hpt_store_agent_t agent = {.name = "a", .state = HPT_HOST_READY, .last_seen = 1};
    assert_fails (hpt_store_agent_upsert (store, &agent, &error), &error, HPT_E_UNAVAILABLE);
    assert_non_null (strstr (error.message, "injected failure"));
    assert_fails (hpt_store_job_set_state (store, "before", HPT_JOB_RUNNING, NULL, 5, &error),
                  &error, HPT_E_UNAVAILABLE);
    assert_fails (hpt_store_meta_set (store, "k", 1, &error), &error, HPT_E_UNAVAILABLE);
    hpt_store_job_t job = {.job_id = "after", .project = "p", .spec_json = "{}"};
    assert_fails (hpt_store_job_insert (store, &job, NULL, &error), &error, HPT_E_UNAVAILABLE);
    assert_non_null (strstr (error.message, "injected failure"));
    assert_true (hpt_store_in_transaction (store));

    assert_fails (hpt_store_commit (store, &error), &error, HPT_E_UNAVAILABLE);
    assert_non_null (strstr (error.message, "injected failure"));
    assert_false (hpt_store_in_transaction (store));

    //  Nothing of the transaction is there: not for the store, not for
    //  another connection, not after reopening.
    json_t *row = NULL;
    assert_fails (hpt_store_job_get (store, "j", &row, &error), &error, HPT_E_NOT_FOUND);
    assert_int_equal (s_raw_int (fixture->path, "SELECT COUNT (*) FROM jobs"), 1);
    hpt_store_destroy (&store);
    store = s_open (fixture);
    assert_fails (hpt_store_job_get (store, "j", &row, &error), &error, HPT_E_NOT_FOUND);
    assert_fails (hpt_store_job_get (store, "after", &row, &error), &error, HPT_E_NOT_FOUND);
    assert_fails (hpt_store_trial_get (store, "j", 1, &row, &error), &error, HPT_E_NOT_FOUND);
    assert_fails (hpt_store_agent_get (store, "a", &row, &error), &error, HPT_E_NOT_FOUND);
    assert_ok (hpt_store_job_get (store, "before", &row, &error), &error);
    assert_string_equal (s_str (row, "state"), "QUEUED");
    json_decref (row);
    int64_t value = -1;
    assert_ok (hpt_store_meta_get (store, "k", &value, &error), &error);
    assert_int_equal (value, 0);

    //  The failure belonged to that transaction only: once the cause is
    //  gone, the same writes commit.
    s_raw_exec (fixture->path, "DROP TRIGGER no_metrics");
    s_begin (store);
    s_insert_job (store, "j", "p", HPT_JOB_RUNNING);
    s_insert_trial (store, "j", 1);
    assert_ok (hpt_store_metrics_append (store, &point, 1, NULL, &error), &error);
    s_commit (store);
    assert_int_equal (s_raw_int (fixture->path, "SELECT COUNT (*) FROM metrics"), 1);
    hpt_store_destroy (&store);
}

//  A write the store refuses inside a transaction (a key that exists, a
//  row that does not) fails the transaction as well: the others of it
//  are not committed without it.
static void
test_refused_write_fails_the_transaction (void **state)
{
    fixture_t *fixture = *state;
    hpt_error_t error;
    hpt_store_t *store = s_open (fixture);
    s_insert_job (store, "j", "p", HPT_JOB_QUEUED);

    s_begin (store);
    s_insert_job (store, "k", "p", HPT_JOB_QUEUED);
    hpt_store_job_t dup = {.job_id = "j", .project = "p", .spec_json = "{}"};
    assert_fails (hpt_store_job_insert (store, &dup, NULL, &error), &error, HPT_E_EXISTS);
    hpt_store_job_t next = {.job_id = "l", .project = "p", .spec_json = "{}"};
    assert_fails (hpt_store_job_insert (store, &next, NULL, &error), &error, HPT_E_UNAVAILABLE);
    assert_non_null (strstr (error.message, "already exists"));
    assert_int_equal (hpt_store_commit (store, &error), -1);
    assert_non_null (strstr (error.message, "already exists"));
    assert_false (hpt_store_in_transaction (store));

    s_begin (store);
    s_insert_job (store, "m", "p", HPT_JOB_QUEUED);
    assert_fails (hpt_store_job_set_state (store, "nope", HPT_JOB_RUNNING, NULL, 1, &error), &error,
                  HPT_E_NOT_FOUND);
    assert_int_equal (hpt_store_commit (store, &error), -1);
    assert_non_null (strstr (error.message, "no such job"));
    hpt_store_destroy (&store);

    store = s_open (fixture);
    json_t *list = NULL;
    assert_ok (hpt_store_job_list (store, &list, &error), &error);
    assert_int_equal (json_array_size (list), 1);
    assert_string_equal (s_str (json_array_get (list, 0), "job_id"), "j");
    json_decref (list);
    hpt_store_destroy (&store);
}

//  hpt_store_fail: a write of the caller's own that belongs with the
//  transaction failed; the transaction must not commit.
static void
test_fail_keeps_the_transaction_from_committing (void **state)
{
    fixture_t *fixture = *state;
    hpt_error_t error;
    hpt_store_t *store = s_open (fixture);
    hpt_error_t failure;
    hpt_error_set (&failure, HPT_E_UNAVAILABLE, "job log: No space left on device");

    s_begin (store);
    s_insert_job (store, "j", "p", HPT_JOB_QUEUED);
    assert_int_equal (hpt_store_fail (store, &failure), -1);
    assert_true (hpt_store_in_transaction (store));
    hpt_store_job_t job = {.job_id = "k", .project = "p", .spec_json = "{}"};
    assert_fails (hpt_store_job_insert (store, &job, NULL, &error), &error, HPT_E_UNAVAILABLE);
    assert_non_null (strstr (error.message, "job log: No space left on device"));
    //  The first failure is the one reported, not a later one.
    hpt_error_t second;
    hpt_error_set (&second, HPT_E_INTERNAL, "second failure");
    assert_int_equal (hpt_store_fail (store, &second), -1);
    assert_fails (hpt_store_commit (store, &error), &error, HPT_E_UNAVAILABLE);
    assert_string_equal (error.message, "job log: No space left on device");
    assert_false (hpt_store_in_transaction (store));
    json_t *row = NULL;
    assert_fails (hpt_store_job_get (store, "j", &row, &error), &error, HPT_E_NOT_FOUND);

    //  A fail outside any transaction spoils nothing later.
    assert_int_equal (hpt_store_fail (store, &failure), -1);
    s_begin (store);
    s_insert_job (store, "l", "p", HPT_JOB_QUEUED);
    s_commit (store);
    hpt_store_destroy (&store);

    store = s_open (fixture);
    assert_fails (hpt_store_job_get (store, "j", &row, &error), &error, HPT_E_NOT_FOUND);
    assert_fails (hpt_store_job_get (store, "k", &row, &error), &error, HPT_E_NOT_FOUND);
    assert_ok (hpt_store_job_get (store, "l", &row, &error), &error);
    json_decref (row);
    hpt_store_destroy (&store);
}

//  SQLite itself rolls the whole transaction back (RAISE (ROLLBACK) here;
//  a full disk or an I/O error in production) and its connection is back
//  in autocommit: a later write of the same transaction must not be
//  committed on its own, and commit reports the failure.
static void
test_rollback_by_sqlite_is_not_committed (void **state)
{
    fixture_t *fixture = *state;
    hpt_error_t error;
    hpt_store_t *store = s_open (fixture);
    s_raw_exec (fixture->path, "CREATE TRIGGER rollback_agents BEFORE INSERT ON agents"
                               " BEGIN SELECT RAISE (ROLLBACK, 'rolled back by SQLite'); END;");
    s_begin (store);
    s_insert_job (store, "j", "p", HPT_JOB_QUEUED);
    hpt_store_agent_t agent = {.name = "a", .state = HPT_HOST_READY, .last_seen = 1};
    assert_fails (hpt_store_agent_upsert (store, &agent, &error), &error, HPT_E_UNAVAILABLE);
    assert_non_null (strstr (error.message, "rolled back by SQLite"));
    hpt_store_job_t job = {.job_id = "k", .project = "p", .spec_json = "{}"};
    assert_fails (hpt_store_job_insert (store, &job, NULL, &error), &error, HPT_E_UNAVAILABLE);
    //  Neither is visible to anyone, even before the commit.
    assert_int_equal (s_raw_int (fixture->path, "SELECT COUNT (*) FROM jobs"), 0);
    assert_fails (hpt_store_commit (store, &error), &error, HPT_E_UNAVAILABLE);
    assert_non_null (strstr (error.message, "rolled back by SQLite"));
    assert_false (hpt_store_in_transaction (store));
    hpt_store_destroy (&store);

    assert_int_equal (s_raw_int (fixture->path, "SELECT COUNT (*) FROM jobs"), 0);
    store = s_open (fixture);
    s_insert_job (store, "l", "p", HPT_JOB_QUEUED);
    json_t *row = NULL;
    assert_ok (hpt_store_job_get (store, "l", &row, &error), &error);
    json_decref (row);
    hpt_store_destroy (&store);
}

//  A disk that fills up in the middle of a transaction: the batch that
//  cannot be written fails, the writes after it are refused, the commit
//  fails, nothing of the transaction is kept, and once there is room
//  again the store works on.
static void
test_full_disk_mid_transaction (void **state)
{
    fixture_t *fixture = *state;
    hpt_error_t error;
    hpt_store_t *store = s_open (fixture);
    s_begin (store);
    s_insert_job (store, "before", "p", HPT_JOB_QUEUED);
    s_insert_trial (store, "before", 1);
    s_commit (store);

    //  More than SQLite's page cache holds, so pages must go to the WAL
    //  file before the commit.
    enum { N = 200000 };
    hpt_store_metric_t *points = calloc (N, sizeof (hpt_store_metric_t));
    for (size_t i = 0; i < N; i++)
        points[i] = (hpt_store_metric_t){.job_id = "before",
                                         .trial_id = 1,
                                         .task_id = "before/1/master/0",
                                         .tag = "loss",
                                         .step = (int64_t)i,
                                         .value = (double)i,
                                         .time = 1700000000.0 + (double)i};
    s_begin (store);
    s_insert_job (store, "j", "p", HPT_JOB_QUEUED);
    hpt_error_t append_error, insert_error, commit_error;
    hpt_store_job_t job = {.job_id = "k", .project = "p", .spec_json = "{}"};
    s_disk_t disk;
    s_disk_full (&disk);
    int append_rc = hpt_store_metrics_append (store, points, N, NULL, &append_error);
    int insert_rc = hpt_store_job_insert (store, &job, NULL, &insert_error);
    int commit_rc = hpt_store_commit (store, &commit_error);
    bool open_after = hpt_store_in_transaction (store);
    s_disk_back (&disk);
    free (points);

    if (append_rc != -1) fail_msg ("the batch was written to a full disk");
    assert_int_equal (append_error.code, HPT_E_UNAVAILABLE);
    assert_int_equal (insert_rc, -1);
    assert_int_equal (insert_error.code, HPT_E_UNAVAILABLE);
    assert_int_equal (commit_rc, -1);
    assert_int_equal (commit_error.code, HPT_E_UNAVAILABLE);
    assert_false (open_after);
    json_t *row = NULL;
    assert_fails (hpt_store_job_get (store, "j", &row, &error), &error, HPT_E_NOT_FOUND);
    assert_int_equal (s_raw_int (fixture->path, "SELECT COUNT (*) FROM metrics"), 0);

    //  Room again: the store works on.
    assert_ok (hpt_store_probe (store, &error), &error);
    s_insert_job (store, "after", "p", HPT_JOB_QUEUED);
    hpt_store_destroy (&store);
    store = s_open (fixture);
    json_t *list = NULL;
    assert_ok (hpt_store_job_list (store, &list, &error), &error);
    assert_int_equal (json_array_size (list), 2);
    assert_string_equal (s_str (json_array_get (list, 0), "job_id"), "before");
    assert_string_equal (s_str (json_array_get (list, 1), "job_id"), "after");
    json_decref (list);
    assert_int_equal (s_raw_int (fixture->path, "SELECT COUNT (*) FROM metrics"), 0);
    hpt_store_destroy (&store);
}

//  The probe writes and commits when the database can be written, fails
//  when it cannot (a full disk), and succeeds again once it can.
static void
test_probe (void **state)
{
    fixture_t *fixture = *state;
    hpt_error_t error;
    hpt_store_t *store = s_open (fixture);
    uint64_t before = hpt_store_transaction_id (store);
    assert_ok (hpt_store_probe (store, &error), &error);
    assert_false (hpt_store_in_transaction (store));
    assert_true (hpt_store_transaction_id (store) > before);
    int64_t first = 0;
    assert_ok (hpt_store_meta_get (store, "probe", &first, &error), &error);
    assert_true (first > 0);
    assert_int_equal (s_raw_int (fixture->path, "SELECT value FROM meta WHERE key = 'probe'"),
                      first);

    //  Not inside an open transaction: refused, and the open one goes on.
    s_begin (store);
    assert_fails (hpt_store_probe (store, &error), &error, HPT_E_INVALID);
    assert_true (hpt_store_in_transaction (store));
    s_insert_job (store, "j", "p", HPT_JOB_QUEUED);
    s_commit (store);

    //  Right after the last probe: the probe row must still change (a probe
    //  that wrote the same bytes would write nothing and succeed even on a
    //  full disk).
    s_disk_t disk;
    hpt_error_t full_error;
    s_disk_full (&disk);
    int full_rc = hpt_store_probe (store, &full_error);
    bool open_after = hpt_store_in_transaction (store);
    s_disk_back (&disk);
    assert_int_equal (full_rc, -1);
    assert_int_equal (full_error.code, HPT_E_UNAVAILABLE);
    assert_false (open_after);

    assert_ok (hpt_store_probe (store, &error), &error);
    int64_t again = 0;
    assert_ok (hpt_store_meta_get (store, "probe", &again, &error), &error);
    assert_true (again > first);
    hpt_store_destroy (&store);
}

//  Users (schema v4): put, look up by token hash, revoke, list without
//  hashes; the audit trail in id order, paged; a job's owner.
static void
test_users_audit_and_owner (void **state)
{
    fixture_t *fixture = *state;
    hpt_error_t error;
    hpt_store_t *store = s_open (fixture);
    s_begin (store);
    assert_ok (hpt_store_user_put (store, "alice", HPT_ROLE_USER, "hash-a", 1, &error), &error);
    assert_ok (hpt_store_user_put (store, "root", HPT_ROLE_ADMIN, "hash-r", 2, &error), &error);
    hpt_store_job_t job = {.job_id = "j", .project = "p", .spec_json = "{}", .created_by = "alice"};
    assert_ok (hpt_store_job_insert (store, &job, NULL, &error), &error);
    for (int i = 0; i < 5; i++) {
        hpt_store_audit_t entry = {100 + i, "alice", "POST", "/v1/x", i % 2 ? "j" : NULL, 200};
        assert_ok (hpt_store_audit_append (store, &entry, &error), &error);
    }
    s_commit (store);
    json_t *user = NULL;
    assert_ok (hpt_store_user_by_token (store, "hash-a", &user, &error), &error);
    assert_string_equal (json_string_value (json_object_get (user, "name")), "alice");
    assert_string_equal (json_string_value (json_object_get (user, "role")), "user");
    json_decref (user);
    //  A new token replaces the old one.
    s_begin (store);
    assert_ok (hpt_store_user_put (store, "alice", HPT_ROLE_USER, "hash-a2", 3, &error), &error);
    assert_ok (hpt_store_user_revoke (store, "root", &error), &error);
    s_commit (store);
    assert_fails (hpt_store_user_by_token (store, "hash-a", &user, &error), &error,
                  HPT_E_NOT_FOUND);
    assert_fails (hpt_store_user_by_token (store, "hash-r", &user, &error), &error,
                  HPT_E_NOT_FOUND);
    json_t *list = NULL;
    assert_ok (hpt_store_user_list (store, &list, &error), &error);
    assert_int_equal (json_array_size (list), 2);
    assert_null (json_object_get (json_array_get (list, 0), "token_hash"));
    assert_true (json_is_true (json_object_get (json_array_get (list, 1), "revoked")));
    json_decref (list);
    assert_ok (hpt_store_audit_list (store, 2, 2, &list, &error), &error);
    assert_int_equal (json_array_size (list), 2);
    assert_int_equal (json_integer_value (json_object_get (json_array_get (list, 0), "id")), 3);
    json_decref (list);
    json_t *row = NULL;
    assert_ok (hpt_store_job_get (store, "j", &row, &error), &error);
    assert_string_equal (json_string_value (json_object_get (row, "created_by")), "alice");
    json_decref (row);
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
        cmocka_unit_test_setup_teardown (test_version_2_database_migrates, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_users_audit_and_owner, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_failed_migration_keeps_old_version, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_missing_directory_is_a_clear_error, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_one_master_per_store, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_sigkill_loses_nothing_committed, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_job_state_updates, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_trials_ordered_and_updated, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_task_put_inserts_then_updates, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_metric_batch_and_replay, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_job_list_in_submission_order, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_agent_drain_survives_reopen, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_acked_seq_can_go_down, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_transactions, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_write_outside_transaction_is_refused, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_failed_statement_fails_the_transaction, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_refused_write_fails_the_transaction, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_fail_keeps_the_transaction_from_committing, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_rollback_by_sqlite_is_not_committed, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_full_disk_mid_transaction, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_probe, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_metrics_last_reads_the_end_of_a_curve, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_metrics_pages_walk_the_key, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_metric_tags_seek_each_tag, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
