/*  hpt_store -- the master's durable state in SQLite

    Durability rule
    ---------------
    Every state change is committed before it is acted on or acknowledged:
    a trial is PROVISIONING in the store before LAUNCH goes out, a job is
    in the store before the API answers 200, a metric batch is committed
    before the agent's event seq is acknowledged. Each function below that
    writes commits when it returns OK (or, inside hpt_store_begin/commit,
    when the caller commits), so the core only has to order its calls.

    The database runs in WAL mode with synchronous=NORMAL: a commit is in
    the WAL file when it returns, so killing the master (SIGKILL, crash)
    at any moment loses nothing committed. Only an operating-system crash
    or power loss can lose the last commits (FULL would fsync each one;
    the contract is process crashes, and NORMAL keeps metric batches fast).

    Schema (version 2; PRAGMA user_version holds the version)
    ------------------------------------------------------------
    Times are epoch milliseconds in INTEGER columns, NULL when not set;
    metric times are epoch seconds (REAL) as trainers report them.
    Non-finite REAL values are stored as the text 'NaN', 'Infinity',
    '-Infinity' because SQLite turns NaN into NULL.

    jobs     job_id TEXT PK, seq INTEGER UNIQUE (submission order), project,
             spec_json (the canonical Job JSON as submitted), state,
             error_message, create_time, start_time, end_time, seed,
             priority, resumed_from (resumePreviousJobId; the previous
             job's trials seed the optimizer on resume).
    trials   PK (job_id, trial_id), FK job_id -> jobs. state, values_json
             (the optimizer's doubles), hyperparameters_json (name ->
             string as the trainer saw it), has_final, final_step,
             final_value, stopped_early, message, create_time, start_time,
             end_time, requeue_count (drain --now and agent loss requeue a
             trial without counting it failed), learned_value (version 2:
             for a trial stopped early, the projected final value the
             optimizer was told; NULL otherwise).
    tasks    task_id TEXT PK, FK (job_id, trial_id) -> trials.
             replica_type, replica_index, agent, state, pid, has_exit,
             exit_code, signal, start_time, end_time (NULL while the
             process may run), attempt, placement_json (the scheduler's
             placement: cores, accelerators, ports, so a restarted master
             knows what is in use). Indexed by trial and by agent.
    metrics  WITHOUT ROWID, PK (job_id, trial_id, tag, step, time, value,
             task_id), value REAL. The primary key is both the index the
             reads need (a trial's points of a tag by step) and the
             deduplication: an agent replaying a batch after a master
             restart, or the hypertune file rewritten whole, inserts the
             same key and INSERT OR IGNORE drops it.
    agents   name TEXT PK, state, drain_state NONE|DRAINING|DRAINED,
             drain_reason, drained_by, drained_at, drain_now (drain --now:
             a master restarted mid-drain goes on preempting), first_seen,
             last_seen,
             resources_json (what HELLO reported), last_acked_seq (the
             highest agent event seq stored: replays at or below it are
             duplicates).

    Migrations are an ordered list of SQL scripts; script i takes the
    schema from version i to i + 1 and runs in one transaction with the new
    user_version, so a crash mid-migration leaves the old version intact.
    A database with a user_version above HPT_STORE_SCHEMA_VERSION comes
    from a newer hpt and is refused rather than misread.

    One master per database: hpt_store_new takes an exclusive flock on
    PATH-lock (released by the kernel when the process dies, so a restart
    after SIGKILL is never blocked by a stale lock).

    Statements are prepared once (on first use) and cached in the object.
*/
#include "hpt_store.h"
#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

//  Migration i brings the schema from version i to i + 1.
static const char *s_migrations[] = {
    //  0 -> 1
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
    ");",
    //  2: what the optimizer learned from a trial stopped early (its
    //  projected final value), so a restarted master tells it the same.
    "ALTER TABLE trials ADD COLUMN learned_value REAL;",
};
#define S_MIGRATION_COUNT (sizeof (s_migrations) / sizeof (s_migrations[0]))

_Static_assert(S_MIGRATION_COUNT == HPT_STORE_SCHEMA_VERSION, "one migration per schema version");

//  Cached statements; s_sql[i] is the text of statement i.
typedef enum {
    ST_JOB_INSERT,
    ST_JOB_NEXT_SEQ,
    ST_JOB_SET_STATE,
    ST_JOB_GET,
    ST_JOB_LIST,
    ST_JOB_EXISTS,
    ST_TRIAL_INSERT,
    ST_TRIAL_UPDATE,
    ST_TRIAL_GET,
    ST_TRIAL_EXISTS,
    ST_TRIALS_OF_JOB,
    ST_TASK_INSERT,
    ST_TASK_UPDATE,
    ST_TASK_GET,
    ST_TASK_OF_TRIAL,
    ST_TASK_RUNNING_ON_AGENT,
    ST_METRIC_INSERT,
    ST_METRICS_OF_TRIAL,
    ST_AGENT_UPSERT,
    ST_AGENT_SET_DRAIN,
    ST_AGENT_SET_ACKED,
    ST_AGENT_GET,
    ST_AGENT_LIST,
    ST_COUNT
} s_stmt_id_t;

static const char *s_sql[ST_COUNT] = {
    [ST_JOB_INSERT] = "INSERT INTO jobs (job_id, seq, project, spec_json, state, error_message,"
                      " create_time, start_time, end_time, seed, priority, resumed_from)"
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    [ST_JOB_NEXT_SEQ] = "SELECT COALESCE (MAX (seq), 0) + 1 FROM jobs",
    [ST_JOB_SET_STATE] = "UPDATE jobs SET state = ?2,"
                         " error_message = COALESCE (?3, error_message),"
                         " start_time = CASE WHEN ?5 AND start_time IS NULL THEN ?4"
                         "              ELSE start_time END,"
                         " end_time = CASE WHEN ?6 THEN ?4 ELSE end_time END"
                         " WHERE job_id = ?1",
    [ST_JOB_GET] = "SELECT * FROM jobs WHERE job_id = ?1",
    [ST_JOB_LIST] = "SELECT * FROM jobs WHERE (?1 IS NULL OR project = ?1)"
                    " AND (?2 IS NULL OR substr (job_id, 1, length (?2)) = ?2)"
                    " AND (?3 IS NULL OR state = ?3) ORDER BY seq",
    [ST_JOB_EXISTS] = "SELECT 1 FROM jobs WHERE job_id = ?1",
    [ST_TRIAL_INSERT] =
        "INSERT INTO trials (job_id, trial_id, state, values_json, hyperparameters_json,"
        " has_final, final_step, final_value, stopped_early, message, start_time, end_time,"
        " requeue_count, learned_value, create_time)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,"
        " CAST ((julianday ('now') - 2440587.5) * 86400000 AS INTEGER))",
    [ST_TRIAL_UPDATE] = "UPDATE trials SET state = ?3, has_final = ?6, final_step = ?7,"
                        " final_value = ?8, stopped_early = ?9, message = ?10, start_time = ?11,"
                        " end_time = ?12, requeue_count = ?13, learned_value = ?14"
                        " WHERE job_id = ?1 AND trial_id = ?2",
    [ST_TRIAL_GET] = "SELECT * FROM trials WHERE job_id = ?1 AND trial_id = ?2",
    [ST_TRIAL_EXISTS] = "SELECT 1 FROM trials WHERE job_id = ?1 AND trial_id = ?2",
    [ST_TRIALS_OF_JOB] = "SELECT * FROM trials WHERE job_id = ?1 ORDER BY trial_id",
    [ST_TASK_INSERT] = "INSERT INTO tasks (task_id, job_id, trial_id, replica_type,"
                       " replica_index, agent, state, pid, has_exit, exit_code, signal,"
                       " start_time, end_time, attempt, placement_json)"
                       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    [ST_TASK_UPDATE] = "UPDATE tasks SET agent = ?6, state = ?7, pid = ?8, has_exit = ?9,"
                       " exit_code = ?10, signal = ?11, start_time = ?12, end_time = ?13,"
                       " attempt = ?14, placement_json = ?15 WHERE task_id = ?1",
    [ST_TASK_GET] = "SELECT * FROM tasks WHERE task_id = ?1",
    [ST_TASK_OF_TRIAL] = "SELECT * FROM tasks WHERE job_id = ?1 AND trial_id = ?2"
                         " ORDER BY replica_type, replica_index, attempt, task_id",
    [ST_TASK_RUNNING_ON_AGENT] = "SELECT * FROM tasks WHERE agent = ?1 AND end_time IS NULL"
                                 " ORDER BY task_id",
    [ST_METRIC_INSERT] = "INSERT OR IGNORE INTO metrics (job_id, trial_id, task_id, tag, step,"
                         " value, time) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_METRICS_OF_TRIAL] = "SELECT task_id, tag, step, value, time FROM metrics"
                            " WHERE job_id = ?1 AND trial_id = ?2 AND (?3 IS NULL OR tag = ?3)"
                            " ORDER BY tag, step, time",
    [ST_AGENT_UPSERT] =
        "INSERT INTO agents (name, state, last_seen, resources_json, first_seen)"
        " VALUES (?1, ?2, ?3, ?4, ?3) ON CONFLICT (name) DO UPDATE SET state = excluded.state,"
        " last_seen = excluded.last_seen,"
        " resources_json = COALESCE (excluded.resources_json, resources_json)",
    [ST_AGENT_SET_DRAIN] = "UPDATE agents SET drain_state = ?2, drain_reason = ?3,"
                           " drained_by = ?4, drained_at = ?5, drain_now = ?6 WHERE name = ?1",
    [ST_AGENT_SET_ACKED] = "UPDATE agents SET last_acked_seq = MAX (last_acked_seq, ?2)"
                           " WHERE name = ?1",
    [ST_AGENT_GET] = "SELECT * FROM agents WHERE name = ?1",
    [ST_AGENT_LIST] = "SELECT * FROM agents ORDER BY name",
};

struct _hpt_store_t {
    sqlite3 *db;                   //  the connection
    char *path;                    //  database file, for messages
    sqlite3_stmt *stmts[ST_COUNT]; //  prepared on first use
    char error[512];               //  reason of the last failure
    int lock_fd;                   //  holds flock on PATH-lock, or -1
};

static const char *s_job_states[] = {"QUEUED", "PREPARING",  "RUNNING",   "SUCCEEDED",
                                     "FAILED", "CANCELLING", "CANCELLED", NULL};
static const char *s_trial_states[] = {"PENDING",   "PROVISIONING", "RUNNING",   "STOPPING",
                                       "SUCCEEDED", "FAILED",       "CANCELLED", NULL};
static const char *s_drain_states[] = {"NONE", "DRAINING", "DRAINED", NULL};

static bool
s_in_list (const char *word, const char **list)
{
    if (!word) return false;
    for (size_t i = 0; list[i]; i++)
        if (strcmp (word, list[i]) == 0) return true;
    return false;
}

//  Records a failure; always returns HPT_STORE_ERROR.
static int s_fail (hpt_store_t *self, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

static int
s_fail (hpt_store_t *self, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (self->error, sizeof (self->error), format, args);
    va_end (args);
    return HPT_STORE_ERROR;
}

//  Records SQLite's reason for the failure of what.
static int
s_fail_db (hpt_store_t *self, const char *what)
{
    return s_fail (self, "store %s: %s: %s", self->path, what, sqlite3_errmsg (self->db));
}

//  Returns the cached statement id, reset and with no bindings, or NULL.
static sqlite3_stmt *
s_stmt (hpt_store_t *self, s_stmt_id_t id)
{
    if (!self->stmts[id]) {
        if (sqlite3_prepare_v3 (self->db, s_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                &self->stmts[id], NULL) != SQLITE_OK) {
            s_fail_db (self, "prepare");
            self->stmts[id] = NULL;
            return NULL;
        }
    }
    sqlite3_reset (self->stmts[id]);
    sqlite3_clear_bindings (self->stmts[id]);
    return self->stmts[id];
}

static void
s_bind_text (sqlite3_stmt *stmt, int index, const char *text)
{
    if (text)
        sqlite3_bind_text (stmt, index, text, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null (stmt, index);
}

//  0 means "not set" for times, pids and the like.
static void
s_bind_optional (sqlite3_stmt *stmt, int index, int64_t value)
{
    if (value)
        sqlite3_bind_int64 (stmt, index, value);
    else
        sqlite3_bind_null (stmt, index);
}

//  SQLite stores NaN as NULL, so non-finite values go in as text.
static void
s_bind_double (sqlite3_stmt *stmt, int index, double value)
{
    if (isnan (value))
        sqlite3_bind_text (stmt, index, "NaN", -1, SQLITE_STATIC);
    else if (isinf (value))
        sqlite3_bind_text (stmt, index, value > 0 ? "Infinity" : "-Infinity", -1, SQLITE_STATIC);
    else
        sqlite3_bind_double (stmt, index, value);
}

static bool
s_ends_with (const char *text, const char *suffix)
{
    size_t n = strlen (text), m = strlen (suffix);
    return n >= m && strcmp (text + n - m, suffix) == 0;
}

//  The current row as a JSON object keyed by column names (see the header
//  for the mapping of types). Returns a new reference.
static json_t *
s_row_json (sqlite3_stmt *stmt)
{
    json_t *row = json_object ();
    int columns = sqlite3_column_count (stmt);
    for (int i = 0; i < columns; i++) {
        const char *name = sqlite3_column_name (stmt, i);
        const char *decl = sqlite3_column_decltype (stmt, i);
        json_t *value = NULL;
        switch (sqlite3_column_type (stmt, i)) {
            case SQLITE_INTEGER:
                if (decl && strcasecmp (decl, "BOOLEAN") == 0)
                    value = json_boolean (sqlite3_column_int64 (stmt, i) != 0);
                else
                    value = json_integer (sqlite3_column_int64 (stmt, i));
                break;
            case SQLITE_FLOAT:
                value = json_real (sqlite3_column_double (stmt, i));
                break;
            case SQLITE_TEXT: {
                const char *text = (const char *)sqlite3_column_text (stmt, i);
                size_t size = (size_t)sqlite3_column_bytes (stmt, i);
                if (s_ends_with (name, "_json"))
                    value = json_loadb (text, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
                if (!value) value = json_stringn (text, size);
                break;
            }
            default:
                break;
        }
        json_object_set_new (row, name, value ? value : json_null ());
    }
    return row;
}

//  Runs a bound query and collects every row into a new array in *list_p.
static int
s_query_rows (hpt_store_t *self, sqlite3_stmt *stmt, json_t **list_p)
{
    json_t *list = json_array ();
    int rc;
    while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
        json_array_append_new (list, s_row_json (stmt));
    sqlite3_reset (stmt);
    if (rc != SQLITE_DONE) {
        json_decref (list);
        return s_fail_db (self, "query");
    }
    *list_p = list;
    return HPT_STORE_OK;
}

//  Runs a bound query expected to give at most one row, into *row_p.
static int
s_query_one (hpt_store_t *self, sqlite3_stmt *stmt, json_t **row_p)
{
    int rc = sqlite3_step (stmt);
    if (rc == SQLITE_ROW) {
        *row_p = s_row_json (stmt);
        sqlite3_reset (stmt);
        return HPT_STORE_OK;
    }
    sqlite3_reset (stmt);
    if (rc == SQLITE_DONE) return HPT_STORE_NOT_FOUND;
    return s_fail_db (self, "query");
}

//  Runs a bound statement that returns no rows. A constraint violation on
//  a key is HPT_STORE_EXISTS; an UPDATE that touched nothing with
//  need_change is HPT_STORE_NOT_FOUND.
static int
s_exec_stmt (hpt_store_t *self, sqlite3_stmt *stmt, bool need_change)
{
    int rc = sqlite3_step (stmt);
    if (rc == SQLITE_DONE) {
        sqlite3_reset (stmt);
        if (need_change && sqlite3_changes (self->db) == 0) return HPT_STORE_NOT_FOUND;
        return HPT_STORE_OK;
    }
    int extended = sqlite3_extended_errcode (self->db);
    bool exists = extended == SQLITE_CONSTRAINT_PRIMARYKEY || extended == SQLITE_CONSTRAINT_UNIQUE;
    s_fail_db (self, exists ? "insert" : "write");
    sqlite3_reset (stmt);
    return exists ? HPT_STORE_EXISTS : HPT_STORE_ERROR;
}

//  Whether a bound "SELECT 1 ..." finds a row: OK, NOT_FOUND or ERROR.
static int
s_exists (hpt_store_t *self, sqlite3_stmt *stmt)
{
    int rc = sqlite3_step (stmt);
    sqlite3_reset (stmt);
    if (rc == SQLITE_ROW) return HPT_STORE_OK;
    if (rc == SQLITE_DONE) return HPT_STORE_NOT_FOUND;
    return s_fail_db (self, "query");
}

static int
s_exec (hpt_store_t *self, const char *sql)
{
    char *message = NULL;
    if (sqlite3_exec (self->db, sql, NULL, NULL, &message) != SQLITE_OK) {
        s_fail (self, "store %s: %s: %s", self->path, sql,
                message ? message : sqlite3_errmsg (self->db));
        sqlite3_free (message);
        return HPT_STORE_ERROR;
    }
    return HPT_STORE_OK;
}

static int
s_user_version (hpt_store_t *self, int *version)
{
    sqlite3_stmt *stmt;
    if (sqlite3_prepare_v2 (self->db, "PRAGMA user_version", -1, &stmt, NULL) != SQLITE_OK)
        return s_fail_db (self, "read schema version");
    int rc = sqlite3_step (stmt);
    if (rc == SQLITE_ROW) *version = sqlite3_column_int (stmt, 0);
    sqlite3_finalize (stmt);
    if (rc != SQLITE_ROW) return s_fail_db (self, "read schema version");
    return HPT_STORE_OK;
}

//  Brings the schema up to HPT_STORE_SCHEMA_VERSION, one migration per
//  transaction; refuses a newer database.
static int
s_migrate (hpt_store_t *self)
{
    int version;
    if (s_user_version (self, &version)) return HPT_STORE_ERROR;
    if (version > HPT_STORE_SCHEMA_VERSION)
        return s_fail (self,
                       "store %s: schema version %d is newer than this hpt supports (%d);"
                       " use a newer hptmaster or another stateDir",
                       self->path, version, HPT_STORE_SCHEMA_VERSION);
    if (version < 0)
        return s_fail (self, "store %s: invalid schema version %d", self->path, version);
    for (int v = version; v < HPT_STORE_SCHEMA_VERSION; v++) {
        char pragma[64];
        snprintf (pragma, sizeof (pragma), "PRAGMA user_version = %d", v + 1);
        if (s_exec (self, "BEGIN IMMEDIATE")) return HPT_STORE_ERROR;
        if (s_exec (self, s_migrations[v]) || s_exec (self, pragma)) {
            sqlite3_exec (self->db, "ROLLBACK", NULL, NULL, NULL);
            return HPT_STORE_ERROR;
        }
        if (s_exec (self, "COMMIT")) return HPT_STORE_ERROR;
    }
    return HPT_STORE_OK;
}

//  Checks that the directory of path exists, for a clearer message than
//  SQLite's "unable to open database file".
static int
s_check_dir (hpt_store_t *self, const char *path)
{
    char *copy = strdup (path);
    const char *dir = dirname (copy);
    struct stat info;
    int rc = HPT_STORE_OK;
    if (stat (dir, &info) != 0)
        rc = s_fail (self, "store %s: directory %s: %s", path, dir, strerror (errno));
    else if (!S_ISDIR (info.st_mode))
        rc = s_fail (self, "store %s: %s is not a directory", path, dir);
    free (copy);
    return rc;
}

//  Takes an exclusive lock on PATH-lock so that a second master on the
//  same stateDir fails at once instead of interleaving writes with the
//  first. flock is released by the kernel when the process dies, so a
//  master restarted after SIGKILL gets it back.
static int
s_lock (hpt_store_t *self, const char *path)
{
    char *lock_path = malloc (strlen (path) + 6);
    sprintf (lock_path, "%s-lock", path);
    int rc = HPT_STORE_OK;
    self->lock_fd = open (lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (self->lock_fd < 0)
        rc = s_fail (self, "store %s: lock file %s: %s", path, lock_path, strerror (errno));
    else if (flock (self->lock_fd, LOCK_EX | LOCK_NB) != 0)
        rc = s_fail (self, "store %s: %s (lock %s)", path,
                     errno == EWOULDBLOCK ? "in use by another process (another hptmaster?)"
                                          : strerror (errno),
                     lock_path);
    free (lock_path);
    return rc;
}

static int
s_open (hpt_store_t *self, const char *path)
{
    if (!path || !*path) return s_fail (self, "store: no database path given");
    bool memory = strcmp (path, ":memory:") == 0;
    if (!memory && (s_check_dir (self, path) || s_lock (self, path))) return HPT_STORE_ERROR;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2 (path, &self->db, flags, NULL) != SQLITE_OK)
        return self->db ? s_fail_db (self, "open")
                        : s_fail (self, "store %s: open: out of memory", path);
    sqlite3_extended_result_codes (self->db, 1);
    sqlite3_busy_timeout (self->db, 5000);
    //  journal_mode answers with the mode in force; anything but "wal"
    //  (a read-only medium, a file that is not a database) is a failure.
    sqlite3_stmt *stmt;
    if (sqlite3_prepare_v2 (self->db, "PRAGMA journal_mode = WAL", -1, &stmt, NULL) != SQLITE_OK)
        return s_fail_db (self, "set WAL mode");
    int rc = sqlite3_step (stmt);
    bool wal =
        rc == SQLITE_ROW && strcasecmp ((const char *)sqlite3_column_text (stmt, 0), "wal") == 0;
    sqlite3_finalize (stmt);
    if (rc != SQLITE_ROW) return s_fail_db (self, "set WAL mode");
    if (!wal && !memory) return s_fail (self, "store %s: the database refused WAL mode", path);
    if (s_exec (self, "PRAGMA synchronous = NORMAL") || s_exec (self, "PRAGMA foreign_keys = ON"))
        return HPT_STORE_ERROR;
    return s_migrate (self);
}

hpt_store_t *
hpt_store_new (const char *path, char **error)
{
    hpt_store_t *self = calloc (1, sizeof (hpt_store_t));
    if (!self) {
        if (error) *error = strdup ("store: out of memory");
        return NULL;
    }
    self->path = strdup (path ? path : "");
    self->lock_fd = -1;
    if (s_open (self, path)) {
        if (error) *error = strdup (self->error);
        hpt_store_destroy (&self);
    }
    return self;
}

void
hpt_store_destroy (hpt_store_t **self_p)
{
    if (!self_p || !*self_p) return;
    hpt_store_t *self = *self_p;
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize (self->stmts[i]);
    sqlite3_close_v2 (self->db);
    if (self->lock_fd >= 0) close (self->lock_fd); //  releases the flock
    free (self->path);
    free (self);
    *self_p = NULL;
}

const char *
hpt_store_error (hpt_store_t *self)
{
    return self->error;
}

int
hpt_store_schema_version (hpt_store_t *self)
{
    int version;
    return s_user_version (self, &version) ? -1 : version;
}

int
hpt_store_begin (hpt_store_t *self)
{
    if (!sqlite3_get_autocommit (self->db))
        return s_fail (self, "store %s: a transaction is already open", self->path);
    return s_exec (self, "BEGIN IMMEDIATE");
}

int
hpt_store_commit (hpt_store_t *self)
{
    if (sqlite3_get_autocommit (self->db))
        return s_fail (self, "store %s: commit without a transaction", self->path);
    return s_exec (self, "COMMIT");
}

int
hpt_store_rollback (hpt_store_t *self)
{
    if (sqlite3_get_autocommit (self->db))
        return s_fail (self, "store %s: rollback without a transaction", self->path);
    return s_exec (self, "ROLLBACK");
}

//  ---------------------------------------------------------------- jobs

int
hpt_store_job_next_seq (hpt_store_t *self, int64_t *seq_p)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_JOB_NEXT_SEQ);
    if (!stmt) return HPT_STORE_ERROR;
    int rc = sqlite3_step (stmt);
    if (rc == SQLITE_ROW) *seq_p = sqlite3_column_int64 (stmt, 0);
    sqlite3_reset (stmt);
    return rc == SQLITE_ROW ? HPT_STORE_OK : s_fail_db (self, "next seq");
}

int
hpt_store_job_insert (hpt_store_t *self, const hpt_store_job_t *job, int64_t *seq_p)
{
    if (!job || !job->job_id || !*job->job_id || !job->project || !job->spec_json)
        return s_fail (self, "store: job insert needs job_id, project and spec_json");
    if (!s_in_list (job->state, s_job_states))
        return s_fail (self, "store: unknown job state '%s'", job->state ? job->state : "");
    if (job->seed < 0 || job->seq < 0)
        return s_fail (self, "store: job seed and seq must not be negative");
    int64_t seq = job->seq;
    if (seq == 0 && hpt_store_job_next_seq (self, &seq)) return HPT_STORE_ERROR;
    sqlite3_stmt *stmt = s_stmt (self, ST_JOB_INSERT);
    if (!stmt) return HPT_STORE_ERROR;
    s_bind_text (stmt, 1, job->job_id);
    sqlite3_bind_int64 (stmt, 2, seq);
    s_bind_text (stmt, 3, job->project);
    s_bind_text (stmt, 4, job->spec_json);
    s_bind_text (stmt, 5, job->state);
    s_bind_text (stmt, 6, job->error_message);
    s_bind_optional (stmt, 7, job->create_time);
    s_bind_optional (stmt, 8, job->start_time);
    s_bind_optional (stmt, 9, job->end_time);
    sqlite3_bind_int64 (stmt, 10, job->seed);
    sqlite3_bind_int64 (stmt, 11, job->priority);
    s_bind_text (stmt, 12, job->resumed_from);
    int rc = s_exec_stmt (self, stmt, false);
    if (rc == HPT_STORE_OK && seq_p) *seq_p = seq;
    return rc;
}

int
hpt_store_job_set_state (hpt_store_t *self, const char *job_id, const char *state,
                         const char *message, int64_t time_ms)
{
    if (!job_id) return s_fail (self, "store: job set_state needs a job_id");
    if (!s_in_list (state, s_job_states))
        return s_fail (self, "store: unknown job state '%s'", state ? state : "");
    bool starts = strcmp (state, "PREPARING") == 0 || strcmp (state, "RUNNING") == 0;
    bool ends = strcmp (state, "SUCCEEDED") == 0 || strcmp (state, "FAILED") == 0 ||
                strcmp (state, "CANCELLED") == 0;
    sqlite3_stmt *stmt = s_stmt (self, ST_JOB_SET_STATE);
    if (!stmt) return HPT_STORE_ERROR;
    s_bind_text (stmt, 1, job_id);
    s_bind_text (stmt, 2, state);
    s_bind_text (stmt, 3, message);
    s_bind_optional (stmt, 4, time_ms);
    sqlite3_bind_int (stmt, 5, starts);
    sqlite3_bind_int (stmt, 6, ends);
    int rc = s_exec_stmt (self, stmt, true);
    if (rc == HPT_STORE_NOT_FOUND) s_fail (self, "store: no job '%s'", job_id);
    return rc;
}

int
hpt_store_job_get (hpt_store_t *self, const char *job_id, json_t **job_p)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_JOB_GET);
    if (!stmt) return HPT_STORE_ERROR;
    s_bind_text (stmt, 1, job_id);
    return s_query_one (self, stmt, job_p);
}

int
hpt_store_job_list (hpt_store_t *self, const char *project, const char *prefix, const char *state,
                    json_t **list_p)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_JOB_LIST);
    if (!stmt) return HPT_STORE_ERROR;
    s_bind_text (stmt, 1, project);
    s_bind_text (stmt, 2, prefix);
    s_bind_text (stmt, 3, state);
    return s_query_rows (self, stmt, list_p);
}

//  -------------------------------------------------------------- trials

static int
s_job_exists (hpt_store_t *self, const char *job_id)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_JOB_EXISTS);
    if (!stmt) return HPT_STORE_ERROR;
    s_bind_text (stmt, 1, job_id);
    int rc = s_exists (self, stmt);
    if (rc == HPT_STORE_NOT_FOUND) s_fail (self, "store: no job '%s'", job_id);
    return rc;
}

static int
s_trial_exists (hpt_store_t *self, const char *job_id, int64_t trial_id)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_TRIAL_EXISTS);
    if (!stmt) return HPT_STORE_ERROR;
    s_bind_text (stmt, 1, job_id);
    sqlite3_bind_int64 (stmt, 2, trial_id);
    int rc = s_exists (self, stmt);
    if (rc == HPT_STORE_NOT_FOUND)
        s_fail (self, "store: no trial %s/%lld", job_id, (long long)trial_id);
    return rc;
}

static void
s_bind_trial (sqlite3_stmt *stmt, const hpt_store_trial_t *trial)
{
    s_bind_text (stmt, 1, trial->job_id);
    sqlite3_bind_int64 (stmt, 2, trial->trial_id);
    s_bind_text (stmt, 3, trial->state);
    s_bind_text (stmt, 4, trial->values_json);
    s_bind_text (stmt, 5, trial->hyperparameters_json);
    sqlite3_bind_int (stmt, 6, trial->has_final);
    if (trial->has_final) {
        sqlite3_bind_int64 (stmt, 7, trial->final_step);
        s_bind_double (stmt, 8, trial->final_value);
    }
    sqlite3_bind_int (stmt, 9, trial->stopped_early);
    s_bind_text (stmt, 10, trial->message);
    s_bind_optional (stmt, 11, trial->start_time);
    s_bind_optional (stmt, 12, trial->end_time);
    sqlite3_bind_int64 (stmt, 13, trial->requeue_count);
    if (trial->has_learned) s_bind_double (stmt, 14, trial->learned_value);
}

static int
s_check_trial (hpt_store_t *self, const hpt_store_trial_t *trial)
{
    if (!trial || !trial->job_id || trial->trial_id < 1)
        return s_fail (self, "store: a trial needs a job_id and a trial_id >= 1");
    if (!s_in_list (trial->state, s_trial_states))
        return s_fail (self, "store: unknown trial state '%s'", trial->state ? trial->state : "");
    return HPT_STORE_OK;
}

int
hpt_store_trial_insert (hpt_store_t *self, const hpt_store_trial_t *trial)
{
    if (s_check_trial (self, trial)) return HPT_STORE_ERROR;
    if (!trial->values_json || !trial->hyperparameters_json)
        return s_fail (self, "store: a new trial needs values_json and hyperparameters_json");
    int rc = s_job_exists (self, trial->job_id);
    if (rc != HPT_STORE_OK) return rc;
    sqlite3_stmt *stmt = s_stmt (self, ST_TRIAL_INSERT);
    if (!stmt) return HPT_STORE_ERROR;
    s_bind_trial (stmt, trial);
    return s_exec_stmt (self, stmt, false);
}

int
hpt_store_trial_update (hpt_store_t *self, const hpt_store_trial_t *trial)
{
    if (s_check_trial (self, trial)) return HPT_STORE_ERROR;
    sqlite3_stmt *stmt = s_stmt (self, ST_TRIAL_UPDATE);
    if (!stmt) return HPT_STORE_ERROR;
    s_bind_trial (stmt, trial);
    int rc = s_exec_stmt (self, stmt, true);
    if (rc == HPT_STORE_NOT_FOUND)
        s_fail (self, "store: no trial %s/%lld", trial->job_id, (long long)trial->trial_id);
    return rc;
}

int
hpt_store_trial_get (hpt_store_t *self, const char *job_id, int64_t trial_id, json_t **trial_p)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_TRIAL_GET);
    if (!stmt) return HPT_STORE_ERROR;
    s_bind_text (stmt, 1, job_id);
    sqlite3_bind_int64 (stmt, 2, trial_id);
    return s_query_one (self, stmt, trial_p);
}

int
hpt_store_trials_of_job (hpt_store_t *self, const char *job_id, json_t **list_p)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_TRIALS_OF_JOB);
    if (!stmt) return HPT_STORE_ERROR;
    s_bind_text (stmt, 1, job_id);
    return s_query_rows (self, stmt, list_p);
}

//  --------------------------------------------------------------- tasks

static void
s_bind_task (sqlite3_stmt *stmt, const hpt_store_task_t *task)
{
    s_bind_text (stmt, 1, task->task_id);
    s_bind_text (stmt, 2, task->job_id);
    sqlite3_bind_int64 (stmt, 3, task->trial_id);
    s_bind_text (stmt, 4, task->replica_type);
    sqlite3_bind_int64 (stmt, 5, task->replica_index);
    s_bind_text (stmt, 6, task->agent);
    s_bind_text (stmt, 7, task->state);
    s_bind_optional (stmt, 8, task->pid);
    sqlite3_bind_int (stmt, 9, task->has_exit);
    if (task->has_exit) {
        sqlite3_bind_int64 (stmt, 10, task->exit_code);
        sqlite3_bind_int64 (stmt, 11, task->signal);
    }
    s_bind_optional (stmt, 12, task->start_time);
    s_bind_optional (stmt, 13, task->end_time);
    sqlite3_bind_int64 (stmt, 14, task->attempt);
    s_bind_text (stmt, 15, task->placement_json);
}

static int
s_check_task (hpt_store_t *self, const hpt_store_task_t *task)
{
    if (!task || !task->task_id || !*task->task_id || !task->state || !*task->state)
        return s_fail (self, "store: a task needs a task_id and a state");
    return HPT_STORE_OK;
}

int
hpt_store_task_insert (hpt_store_t *self, const hpt_store_task_t *task)
{
    if (s_check_task (self, task)) return HPT_STORE_ERROR;
    if (!task->job_id || task->trial_id < 1 || !task->replica_type || task->replica_index < 0)
        return s_fail (self, "store: task %s needs job_id, trial_id, replica type and index",
                       task->task_id);
    int rc = s_trial_exists (self, task->job_id, task->trial_id);
    if (rc != HPT_STORE_OK) return rc;
    sqlite3_stmt *stmt = s_stmt (self, ST_TASK_INSERT);
    if (!stmt) return HPT_STORE_ERROR;
    s_bind_task (stmt, task);
    return s_exec_stmt (self, stmt, false);
}

int
hpt_store_task_update (hpt_store_t *self, const hpt_store_task_t *task)
{
    if (s_check_task (self, task)) return HPT_STORE_ERROR;
    sqlite3_stmt *stmt = s_stmt (self, ST_TASK_UPDATE);
    if (!stmt) return HPT_STORE_ERROR;
    s_bind_task (stmt, task);
    int rc = s_exec_stmt (self, stmt, true);
    if (rc == HPT_STORE_NOT_FOUND) s_fail (self, "store: no task '%s'", task->task_id);
    return rc;
}

int
hpt_store_task_get (hpt_store_t *self, const char *task_id, json_t **task_p)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_TASK_GET);
    if (!stmt) return HPT_STORE_ERROR;
    s_bind_text (stmt, 1, task_id);
    return s_query_one (self, stmt, task_p);
}

int
hpt_store_task_of_trial (hpt_store_t *self, const char *job_id, int64_t trial_id, json_t **list_p)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_TASK_OF_TRIAL);
    if (!stmt) return HPT_STORE_ERROR;
    s_bind_text (stmt, 1, job_id);
    sqlite3_bind_int64 (stmt, 2, trial_id);
    return s_query_rows (self, stmt, list_p);
}

int
hpt_store_task_running_on_agent (hpt_store_t *self, const char *agent, json_t **list_p)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_TASK_RUNNING_ON_AGENT);
    if (!stmt) return HPT_STORE_ERROR;
    s_bind_text (stmt, 1, agent);
    return s_query_rows (self, stmt, list_p);
}

//  ------------------------------------------------------------- metrics

//  Inserts the points with the prepared statement; counts new rows.
static int
s_metrics_insert (hpt_store_t *self, const hpt_store_metric_t *points, size_t count, size_t *stored)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_METRIC_INSERT);
    if (!stmt) return HPT_STORE_ERROR;
    for (size_t i = 0; i < count; i++) {
        const hpt_store_metric_t *point = &points[i];
        if (!point->job_id || !point->task_id || !point->tag || point->trial_id < 1)
            return s_fail (self, "store: metric point %zu lacks job, trial, task or tag", i);
        if (!isfinite (point->time))
            return s_fail (self, "store: metric point %zu has a non-finite time", i);
        sqlite3_reset (stmt);
        s_bind_text (stmt, 1, point->job_id);
        sqlite3_bind_int64 (stmt, 2, point->trial_id);
        s_bind_text (stmt, 3, point->task_id);
        s_bind_text (stmt, 4, point->tag);
        sqlite3_bind_int64 (stmt, 5, point->step);
        s_bind_double (stmt, 6, point->value);
        sqlite3_bind_double (stmt, 7, point->time);
        int rc = s_exec_stmt (self, stmt, false);
        if (rc != HPT_STORE_OK) return HPT_STORE_ERROR;
        *stored += (size_t)sqlite3_changes (self->db);
    }
    return HPT_STORE_OK;
}

int
hpt_store_metrics_append (hpt_store_t *self, const hpt_store_metric_t *points, size_t count,
                          size_t *stored_p)
{
    size_t stored = 0;
    if (count > 0 && !points) return s_fail (self, "store: metrics append without points");
    if (count > 0) {
        if (s_exec (self, "SAVEPOINT metrics_batch")) return HPT_STORE_ERROR;
        if (s_metrics_insert (self, points, count, &stored)) {
            //  Keep the reason: the rollback statements must not replace it.
            sqlite3_exec (self->db, "ROLLBACK TO metrics_batch", NULL, NULL, NULL);
            sqlite3_exec (self->db, "RELEASE metrics_batch", NULL, NULL, NULL);
            return HPT_STORE_ERROR;
        }
        if (s_exec (self, "RELEASE metrics_batch")) return HPT_STORE_ERROR;
    }
    if (stored_p) *stored_p = stored;
    return HPT_STORE_OK;
}

int
hpt_store_metrics_of_trial (hpt_store_t *self, const char *job_id, int64_t trial_id,
                            const char *tag, json_t **list_p)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_METRICS_OF_TRIAL);
    if (!stmt) return HPT_STORE_ERROR;
    s_bind_text (stmt, 1, job_id);
    sqlite3_bind_int64 (stmt, 2, trial_id);
    s_bind_text (stmt, 3, tag);
    return s_query_rows (self, stmt, list_p);
}

//  -------------------------------------------------------------- agents

int
hpt_store_agent_upsert (hpt_store_t *self, const hpt_store_agent_t *agent)
{
    if (!agent || !agent->name || !*agent->name || !agent->state || !*agent->state)
        return s_fail (self, "store: an agent needs a name and a state");
    sqlite3_stmt *stmt = s_stmt (self, ST_AGENT_UPSERT);
    if (!stmt) return HPT_STORE_ERROR;
    s_bind_text (stmt, 1, agent->name);
    s_bind_text (stmt, 2, agent->state);
    s_bind_optional (stmt, 3, agent->last_seen);
    s_bind_text (stmt, 4, agent->resources_json);
    return s_exec_stmt (self, stmt, false);
}

int
hpt_store_agent_set_drain (hpt_store_t *self, const char *name, const char *drain_state, bool now,
                           const char *reason, const char *by, int64_t at_ms)
{
    if (!name) return s_fail (self, "store: agent set_drain needs a name");
    if (!s_in_list (drain_state, s_drain_states))
        return s_fail (self, "store: unknown drain state '%s'", drain_state ? drain_state : "");
    bool none = strcmp (drain_state, "NONE") == 0;
    sqlite3_stmt *stmt = s_stmt (self, ST_AGENT_SET_DRAIN);
    if (!stmt) return HPT_STORE_ERROR;
    s_bind_text (stmt, 1, name);
    s_bind_text (stmt, 2, drain_state);
    s_bind_text (stmt, 3, none ? NULL : reason);
    s_bind_text (stmt, 4, none ? NULL : by);
    s_bind_optional (stmt, 5, none ? 0 : at_ms);
    sqlite3_bind_int (stmt, 6, !none && now);
    int rc = s_exec_stmt (self, stmt, true);
    if (rc == HPT_STORE_NOT_FOUND) s_fail (self, "store: no agent '%s'", name);
    return rc;
}

int
hpt_store_agent_set_acked_seq (hpt_store_t *self, const char *name, int64_t seq)
{
    if (!name) return s_fail (self, "store: agent set_acked_seq needs a name");
    sqlite3_stmt *stmt = s_stmt (self, ST_AGENT_SET_ACKED);
    if (!stmt) return HPT_STORE_ERROR;
    s_bind_text (stmt, 1, name);
    sqlite3_bind_int64 (stmt, 2, seq);
    int rc = s_exec_stmt (self, stmt, true);
    if (rc == HPT_STORE_NOT_FOUND) s_fail (self, "store: no agent '%s'", name);
    return rc;
}

int
hpt_store_agent_get (hpt_store_t *self, const char *name, json_t **agent_p)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_AGENT_GET);
    if (!stmt) return HPT_STORE_ERROR;
    s_bind_text (stmt, 1, name);
    return s_query_one (self, stmt, agent_p);
}

int
hpt_store_agent_list (hpt_store_t *self, json_t **list_p)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_AGENT_LIST);
    if (!stmt) return HPT_STORE_ERROR;
    return s_query_rows (self, stmt, list_p);
}
