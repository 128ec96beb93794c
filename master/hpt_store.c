/*  hpt_store -- the master's durable state in SQLite

    Store before acting
    -------------------
    The store is the truth and the core's memory a cache of it. The core
    opens one transaction per thing that happens (an agent's message, an
    API request, a timer's round), makes every change in memory and here,
    and commits; only after the commit returns does it act: send LAUNCH,
    STOP or ACK, answer the API. When the commit fails the transaction is
    rolled back and the core rebuilds the memory it touched from the store
    (hpt_core.c, "Failed commits"), so memory never holds what the store
    does not.

    Enforced here: writes happen only inside a transaction; the first
    write that fails makes the transaction failed ("sticky"): every later
    write of it is refused, and commit rolls back and reports the first
    failure. So a statement that fails halfway through an event can never
    be followed by a commit of the rest. SQLite rolls a whole transaction
    back by itself on some errors (a full disk, an I/O error) and the
    connection returns to autocommit: the sticky flag also keeps the rest
    of the event's writes from being committed one by one.

    Derived values (the rule, one of two per value)
    ------------------------------------------------
    Stored in the same transaction as the events they derive from: a
    trial's final metric (value, step, report time), its report count, its
    learned value, and the job log's committed length (jobs.log_bytes).
    Rebuilt on load from what is stored: everything else the core keeps in
    memory (job counts, best trial, the early-stopping rules' state, the
    optimizer's history, the reservations on nodes).

    The database runs in WAL mode with synchronous=NORMAL: a commit is in
    the WAL file when it returns, so killing the master (SIGKILL, crash)
    at any moment loses nothing committed. Only an operating-system crash
    or power loss can lose the last commits (FULL would fsync each one;
    the contract is process crashes, and NORMAL keeps metric batches fast).

    Schema (version 5; PRAGMA user_version holds the version)
    ------------------------------------------------------------
    Times are epoch milliseconds in INTEGER columns, NULL when not set;
    metric times are epoch seconds (REAL) as trainers report them.
    Non-finite REAL values are stored as the text 'NaN', 'Infinity',
    '-Infinity' because SQLite turns NaN into NULL.

    jobs     job_id TEXT PK, seq INTEGER UNIQUE (submission order), project,
             spec_json (the canonical Job JSON as submitted), state,
             error_message, create_time, start_time, end_time, seed,
             priority, resumed_from (resumePreviousJobId; the previous
             job's trials seed the optimizer on resume), log_bytes (v3:
             the job log's committed length; -1 for jobs stored before v3,
             whose logs are kept as they are).
    trials   PK (job_id, trial_id), FK job_id -> jobs. state, values_json
             (the optimizer's doubles), hyperparameters_json (name ->
             string as the trainer saw it), has_final, final_step,
             final_value, final_time (v3), report_count (v3),
             stopped_early, message, create_time, start_time, end_time,
             requeue_count (drain --now and agent loss requeue a trial
             without counting it failed), learned_value (v2: for a trial
             stopped early, the projected final value the optimizer was
             told; NULL otherwise).
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
             last_seen, resources_json (what HELLO reported),
             last_acked_seq (the highest agent event seq stored: replays
             at or below it are duplicates).
    meta     key TEXT PK, value INTEGER (v3): the store's bookkeeping
             ("probe": how many write probes ran; "slurm_seq": the last
             number given to a Slurm job's name).
    slurm_jobs (v5) name TEXT PK (the Slurm job's --job-name, stored
             before sbatch runs), job_id, trial_id, slurm_id (NULL until
             sbatch answered), tasks (the trial's), agent_key (the public
             key its agents use with CURVE), state SUBMITTING|QUEUED|PLACED|
             ENDING, created. A row is deleted once its Slurm job is
             gone.

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
#include "hpt_alloc.h"
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
    //  3: the trial's final metric is stored whole with the points it
    //  derives from (its report time and the report count too), the job
    //  log's committed length, and the store's own bookkeeping.
    "ALTER TABLE trials ADD COLUMN final_time REAL;"
    "ALTER TABLE trials ADD COLUMN report_count INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE jobs ADD COLUMN log_bytes INTEGER NOT NULL DEFAULT -1;"
    "CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value INTEGER);",
    //  4: API users (tokens as hashes only), the audit trail of changes,
    //  and who submitted each job.
    "CREATE TABLE users ("
    "  name       TEXT PRIMARY KEY NOT NULL,"
    "  role       TEXT NOT NULL CHECK (role IN ('viewer', 'user', 'admin')),"
    "  token_hash TEXT NOT NULL UNIQUE,"
    "  created    INTEGER,"
    "  revoked    BOOLEAN NOT NULL DEFAULT 0"
    ");"
    "CREATE TABLE audit ("
    "  id     INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  time   INTEGER NOT NULL,"
    "  user   TEXT NOT NULL,"
    "  method TEXT NOT NULL,"
    "  route  TEXT NOT NULL,"
    "  target TEXT,"
    "  status INTEGER NOT NULL"
    ");"
    "ALTER TABLE jobs ADD COLUMN created_by TEXT;",
    //  5: the Slurm jobs trials run in (docs/slurm.md).
    "CREATE TABLE slurm_jobs ("
    "  name     TEXT PRIMARY KEY NOT NULL,"
    "  job_id   TEXT NOT NULL,"
    "  trial_id INTEGER NOT NULL,"
    "  slurm_id TEXT,"
    "  tasks    INTEGER NOT NULL,"
    "  agent_key TEXT,"
    "  state    TEXT NOT NULL,"
    "  created  INTEGER NOT NULL"
    ");",
};
#define S_MIGRATION_COUNT (sizeof (s_migrations) / sizeof (s_migrations[0]))

_Static_assert(S_MIGRATION_COUNT == HPT_STORE_SCHEMA_VERSION, "one migration per schema version");

//  Cached statements; s_sql[i] is the text of statement i.
typedef enum {
    ST_JOB_INSERT,
    ST_JOB_NEXT_SEQ,
    ST_JOB_SET_STATE,
    ST_JOB_SET_LOG_BYTES,
    ST_JOB_SET_SPEC,
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
    ST_METRIC_INSERT,
    ST_METRICS_OF_TRIAL,
    ST_METRICS_LAST,
    ST_METRICS_PAGE_ALL,
    ST_METRICS_PAGE_ALL_AFTER,
    ST_METRICS_PAGE_TAG,
    ST_METRICS_PAGE_TAG_AFTER,
    ST_METRIC_TAGS,
    ST_AGENT_UPSERT,
    ST_AGENT_SET_DRAIN,
    ST_AGENT_SET_ACKED,
    ST_AGENT_GET,
    ST_AGENT_LIST,
    ST_AGENT_DELETE,
    ST_USER_PUT,
    ST_USER_REVOKE,
    ST_USER_BY_TOKEN,
    ST_USER_LIST,
    ST_AUDIT_APPEND,
    ST_AUDIT_LIST,
    ST_META_GET,
    ST_META_SET,
    ST_SLURM_PUT,
    ST_SLURM_LIST,
    ST_SLURM_DELETE,
    ST_COUNT
} s_stmt_id_t;

static const char *s_sql[ST_COUNT] = {
    [ST_JOB_INSERT] = "INSERT INTO jobs (job_id, seq, project, spec_json, state, error_message,"
                      " create_time, start_time, end_time, seed, priority, resumed_from,"
                      " log_bytes, created_by)"
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 0, ?13)",
    [ST_JOB_NEXT_SEQ] = "SELECT COALESCE (MAX (seq), 0) + 1 FROM jobs",
    [ST_JOB_SET_STATE] = "UPDATE jobs SET state = ?2,"
                         " error_message = COALESCE (?3, error_message),"
                         " start_time = CASE WHEN ?5 AND start_time IS NULL THEN ?4"
                         "              ELSE start_time END,"
                         " end_time = CASE WHEN ?6 THEN ?4 ELSE end_time END"
                         " WHERE job_id = ?1",
    [ST_JOB_SET_LOG_BYTES] = "UPDATE jobs SET log_bytes = ?2 WHERE job_id = ?1",
    [ST_JOB_SET_SPEC] = "UPDATE jobs SET spec_json = ?2 WHERE job_id = ?1",
    [ST_JOB_GET] = "SELECT * FROM jobs WHERE job_id = ?1",
    [ST_JOB_LIST] = "SELECT * FROM jobs ORDER BY seq",
    [ST_JOB_EXISTS] = "SELECT 1 FROM jobs WHERE job_id = ?1",
    [ST_TRIAL_INSERT] =
        "INSERT INTO trials (job_id, trial_id, state, values_json, hyperparameters_json,"
        " has_final, final_step, final_value, stopped_early, message, start_time, end_time,"
        " requeue_count, learned_value, final_time, report_count, create_time)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,"
        " CAST ((julianday ('now') - 2440587.5) * 86400000 AS INTEGER))",
    [ST_TRIAL_UPDATE] = "UPDATE trials SET state = ?3, has_final = ?6, final_step = ?7,"
                        " final_value = ?8, stopped_early = ?9, message = ?10, start_time = ?11,"
                        " end_time = ?12, requeue_count = ?13, learned_value = ?14,"
                        " final_time = ?15, report_count = ?16"
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
    [ST_METRIC_INSERT] = "INSERT OR IGNORE INTO metrics (job_id, trial_id, task_id, tag, step,"
                         " value, time) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_METRICS_OF_TRIAL] = "SELECT task_id, tag, step, value, time FROM metrics"
                            " WHERE job_id = ?1 AND trial_id = ?2 AND (?3 IS NULL OR tag = ?3)"
                            " ORDER BY tag, step, time",
    //  The reads below walk the primary key (job_id, trial_id, tag, step,
    //  time, value, task_id) from where they start and stop at their
    //  LIMIT, so they cost what they return however many points the
    //  trial has. The paging ones number their parameters alike (?4 the
    //  tag of the point to continue after, ?5..?8 its step, time, value
    //  and task, ?9 the page size) so that one binder serves all four.
    [ST_METRICS_LAST] = "SELECT task_id, tag, step, value, time FROM metrics"
                        " WHERE job_id = ?1 AND trial_id = ?2 AND tag = ?3"
                        " AND (?4 IS NULL OR task_id = ?4)"
                        " ORDER BY step DESC, time DESC, value DESC, task_id DESC LIMIT ?5",
    [ST_METRICS_PAGE_ALL] = "SELECT task_id, tag, step, value, time FROM metrics"
                            " WHERE job_id = ?1 AND trial_id = ?2"
                            " ORDER BY tag, step, time, value, task_id LIMIT ?9",
    [ST_METRICS_PAGE_ALL_AFTER] = "SELECT task_id, tag, step, value, time FROM metrics"
                                  " WHERE job_id = ?1 AND trial_id = ?2"
                                  " AND (tag, step, time, value, task_id) > (?4, ?5, ?6, ?7, ?8)"
                                  " ORDER BY tag, step, time, value, task_id LIMIT ?9",
    [ST_METRICS_PAGE_TAG] = "SELECT task_id, tag, step, value, time FROM metrics"
                            " WHERE job_id = ?1 AND trial_id = ?2 AND tag = ?3"
                            " ORDER BY tag, step, time, value, task_id LIMIT ?9",
    [ST_METRICS_PAGE_TAG_AFTER] = "SELECT task_id, tag, step, value, time FROM metrics"
                                  " WHERE job_id = ?1 AND trial_id = ?2 AND tag = ?3"
                                  " AND (step, time, value, task_id) > (?5, ?6, ?7, ?8)"
                                  " ORDER BY tag, step, time, value, task_id LIMIT ?9",
    //  DISTINCT would read every point of the trial; each step of this
    //  walk is one seek to the next tag instead.
    [ST_METRIC_TAGS] =
        "WITH RECURSIVE tags (tag) AS ("
        " SELECT MIN (tag) FROM metrics WHERE job_id = ?1 AND trial_id = ?2"
        " UNION ALL SELECT (SELECT MIN (tag) FROM metrics WHERE job_id = ?1"
        " AND trial_id = ?2 AND tag > tags.tag) FROM tags WHERE tags.tag IS NOT NULL)"
        " SELECT tag FROM tags WHERE tag IS NOT NULL",
    [ST_AGENT_UPSERT] =
        "INSERT INTO agents (name, state, last_seen, resources_json, first_seen)"
        " VALUES (?1, ?2, ?3, ?4, ?3) ON CONFLICT (name) DO UPDATE SET state = excluded.state,"
        " last_seen = excluded.last_seen,"
        " resources_json = COALESCE (excluded.resources_json, resources_json)",
    [ST_AGENT_SET_DRAIN] = "UPDATE agents SET drain_state = ?2, drain_reason = ?3,"
                           " drained_by = ?4, drained_at = ?5, drain_now = ?6 WHERE name = ?1",
    [ST_AGENT_SET_ACKED] = "UPDATE agents SET last_acked_seq = ?2 WHERE name = ?1",
    [ST_AGENT_GET] = "SELECT * FROM agents WHERE name = ?1",
    [ST_AGENT_LIST] = "SELECT * FROM agents ORDER BY name",
    [ST_AGENT_DELETE] = "DELETE FROM agents WHERE name = ?1",
    [ST_USER_PUT] = "INSERT INTO users (name, role, token_hash, created) VALUES (?1, ?2, ?3, ?4)"
                    " ON CONFLICT (name) DO UPDATE SET role = excluded.role,"
                    " token_hash = excluded.token_hash, created = excluded.created, revoked = 0",
    [ST_USER_REVOKE] = "UPDATE users SET revoked = 1 WHERE name = ?1",
    [ST_USER_BY_TOKEN] = "SELECT name, role FROM users WHERE token_hash = ?1 AND NOT revoked",
    [ST_USER_LIST] = "SELECT name, role, created, revoked FROM users ORDER BY name",
    [ST_AUDIT_APPEND] = "INSERT INTO audit (time, user, method, route, target, status)"
                        " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_AUDIT_LIST] = "SELECT * FROM audit WHERE id > ?1 ORDER BY id LIMIT ?2",
    [ST_SLURM_PUT] =
        "INSERT INTO slurm_jobs (name, job_id, trial_id, slurm_id, tasks, state,"
        " created, agent_key) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (name) DO UPDATE"
        " SET slurm_id = excluded.slurm_id, state = excluded.state",
    [ST_SLURM_LIST] = "SELECT * FROM slurm_jobs ORDER BY created, name",
    [ST_SLURM_DELETE] = "DELETE FROM slurm_jobs WHERE name = ?1",
    [ST_META_GET] = "SELECT value FROM meta WHERE key = ?1",
    [ST_META_SET] = "INSERT INTO meta (key, value) VALUES (?1, ?2)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
};

struct _hpt_store_t {
    sqlite3 *db;                   //  the connection
    char *path;                    //  database file, for messages
    sqlite3_stmt *stmts[ST_COUNT]; //  prepared on first use
    int lock_fd;                   //  holds flock on PATH-lock, or -1
    bool in_txn;                   //  hpt_store_begin succeeded, not yet ended
    uint64_t txn_id;               //  transactions begun so far
    bool txn_failed;               //  a write of the open transaction failed
    hpt_error_t txn_error;         //  the first failure of the open transaction
    uint64_t last_read_steps;      //  VM steps of the last s_query_rows
};

//  Records SQLite's reason for the failure of what; returns -1.
static int
s_fail_db (hpt_store_t *self, hpt_error_t *error, const char *what)
{
    return hpt_error_set (error, HPT_E_UNAVAILABLE, "store %s: %s: %s", self->path, what,
                          sqlite3_errmsg (self->db));
}

//  A write failed: the open transaction is failed from now on (the first
//  failure is the one commit reports). Returns -1.
static int
s_write_failed (hpt_store_t *self, const hpt_error_t *failure, hpt_error_t *error)
{
    if (self->in_txn && !self->txn_failed) {
        self->txn_failed = true;
        self->txn_error = *failure;
    }
    if (error) *error = *failure;
    return -1;
}

//  Refuses a write (code and message) and fails the open transaction: a
//  write that did not happen must not be followed by a commit of the
//  others. Returns -1.
static int s_refuse (hpt_store_t *self, hpt_error_t *error, hpt_error_code_t code,
                     const char *format, ...) __attribute__ ((format (printf, 4, 5)));

static int
s_refuse (hpt_store_t *self, hpt_error_t *error, hpt_error_code_t code, const char *format, ...)
{
    hpt_error_t failure;
    failure.code = code;
    va_list args;
    va_start (args, format);
    vsnprintf (failure.message, sizeof (failure.message), format, args);
    va_end (args);
    return s_write_failed (self, &failure, error);
}

//  Whether a write may run now: only inside a transaction that has not
//  failed. Returns 0, or -1 with *error.
static int
s_may_write (hpt_store_t *self, hpt_error_t *error)
{
    if (!self->in_txn)
        return hpt_error_set (error, HPT_E_INVALID, "store %s: write outside a transaction",
                              self->path);
    if (self->txn_failed) {
        if (error) {
            *error = self->txn_error;
            error->code = HPT_E_UNAVAILABLE;
        }
        return -1;
    }
    return 0;
}

//  Returns the cached statement id, reset and with no bindings, or NULL.
static sqlite3_stmt *
s_stmt (hpt_store_t *self, s_stmt_id_t id, hpt_error_t *error)
{
    if (!self->stmts[id]) {
        if (sqlite3_prepare_v3 (self->db, s_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                &self->stmts[id], NULL) != SQLITE_OK) {
            s_fail_db (self, error, "prepare");
            self->stmts[id] = NULL;
            return NULL;
        }
    }
    sqlite3_reset (self->stmts[id]);
    sqlite3_clear_bindings (self->stmts[id]);
    return self->stmts[id];
}

//  The statement of a write, or NULL when no write may run now (the
//  failure is then recorded for the transaction).
static sqlite3_stmt *
s_write_stmt (hpt_store_t *self, s_stmt_id_t id, hpt_error_t *error)
{
    if (s_may_write (self, error)) return NULL;
    hpt_error_t failure;
    sqlite3_stmt *stmt = s_stmt (self, id, &failure);
    if (!stmt) s_write_failed (self, &failure, error);
    return stmt;
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
s_query_rows (hpt_store_t *self, sqlite3_stmt *stmt, json_t **list_p, hpt_error_t *error)
{
    json_t *list = json_array ();
    int rc;
    sqlite3_stmt_status (stmt, SQLITE_STMTSTATUS_VM_STEP, 1);
    while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
        json_array_append_new (list, s_row_json (stmt));
    self->last_read_steps = (uint64_t)sqlite3_stmt_status (stmt, SQLITE_STMTSTATUS_VM_STEP, 1);
    sqlite3_reset (stmt);
    if (rc != SQLITE_DONE) {
        json_decref (list);
        return s_fail_db (self, error, "query");
    }
    *list_p = list;
    return 0;
}

//  Runs a bound query expected to give one row, into *row_p;
//  HPT_E_NOT_FOUND (naming what) when there is none.
static int
s_query_one (hpt_store_t *self, sqlite3_stmt *stmt, json_t **row_p, const char *what,
             hpt_error_t *error)
{
    int rc = sqlite3_step (stmt);
    if (rc == SQLITE_ROW) {
        *row_p = s_row_json (stmt);
        sqlite3_reset (stmt);
        return 0;
    }
    sqlite3_reset (stmt);
    if (rc == SQLITE_DONE) return hpt_error_set (error, HPT_E_NOT_FOUND, "store: no %s", what);
    return s_fail_db (self, error, "query");
}

//  Runs a bound write; any failure fails the transaction (a key
//  violation as HPT_E_EXISTS about what). *changes_p, when not NULL, gets
//  the number of rows changed.
static int
s_exec_write (hpt_store_t *self, sqlite3_stmt *stmt, const char *what, int *changes_p,
              hpt_error_t *error)
{
    int rc = sqlite3_step (stmt);
    sqlite3_reset (stmt);
    if (rc == SQLITE_DONE) {
        if (changes_p) *changes_p = sqlite3_changes (self->db);
        return 0;
    }
    int extended = sqlite3_extended_errcode (self->db);
    if (extended == SQLITE_CONSTRAINT_PRIMARYKEY || extended == SQLITE_CONSTRAINT_UNIQUE)
        return s_refuse (self, error, HPT_E_EXISTS, "store: %s already exists", what);
    hpt_error_t failure;
    s_fail_db (self, &failure, what);
    return s_write_failed (self, &failure, error);
}

//  Runs a bound UPDATE of one row; HPT_E_NOT_FOUND (failing the
//  transaction) when there is no such row.
static int
s_exec_update (hpt_store_t *self, sqlite3_stmt *stmt, const char *what, hpt_error_t *error)
{
    int changes = 0;
    if (s_exec_write (self, stmt, what, &changes, error)) return -1;
    return changes ? 0 : s_refuse (self, error, HPT_E_NOT_FOUND, "store: no such %s", what);
}

//  Inside a write: requires the row a bound "SELECT 1 ..." looks for;
//  its absence (HPT_E_NOT_FOUND) or a failed query fails the transaction.
static int
s_require (hpt_store_t *self, sqlite3_stmt *stmt, const char *what, hpt_error_t *error)
{
    int rc = sqlite3_step (stmt);
    sqlite3_reset (stmt);
    if (rc == SQLITE_ROW) return 0;
    if (rc == SQLITE_DONE)
        return s_refuse (self, error, HPT_E_NOT_FOUND, "store: no such %s", what);
    hpt_error_t failure;
    s_fail_db (self, &failure, "query");
    return s_write_failed (self, &failure, error);
}

//  Runs SQL text outside the statement cache (setup, migrations, savepoints).
static int
s_exec (hpt_store_t *self, const char *sql, hpt_error_t *error)
{
    char *message = NULL;
    if (sqlite3_exec (self->db, sql, NULL, NULL, &message) != SQLITE_OK) {
        hpt_error_set (error, HPT_E_UNAVAILABLE, "store %s: %s: %s", self->path, sql,
                       message ? message : sqlite3_errmsg (self->db));
        sqlite3_free (message);
        return -1;
    }
    return 0;
}

static int
s_user_version (hpt_store_t *self, int *version, hpt_error_t *error)
{
    sqlite3_stmt *stmt;
    if (sqlite3_prepare_v2 (self->db, "PRAGMA user_version", -1, &stmt, NULL) != SQLITE_OK)
        return s_fail_db (self, error, "read schema version");
    int rc = sqlite3_step (stmt);
    if (rc == SQLITE_ROW) *version = sqlite3_column_int (stmt, 0);
    sqlite3_finalize (stmt);
    if (rc != SQLITE_ROW) return s_fail_db (self, error, "read schema version");
    return 0;
}

//  Brings the schema up to HPT_STORE_SCHEMA_VERSION, one migration per
//  transaction; refuses a newer database.
static int
s_migrate (hpt_store_t *self, hpt_error_t *error)
{
    int version = 0;
    if (s_user_version (self, &version, error)) return -1;
    if (version > HPT_STORE_SCHEMA_VERSION)
        return hpt_error_set (error, HPT_E_FAILED_PRECONDITION,
                              "store %s: schema version %d is newer than this hpt supports (%d);"
                              " use a newer hptmaster or another stateDir",
                              self->path, version, HPT_STORE_SCHEMA_VERSION);
    if (version < 0)
        return hpt_error_set (error, HPT_E_FAILED_PRECONDITION,
                              "store %s: invalid schema version %d", self->path, version);
    for (int v = version; v < HPT_STORE_SCHEMA_VERSION; v++) {
        char pragma[64];
        snprintf (pragma, sizeof (pragma), "PRAGMA user_version = %d", v + 1);
        if (s_exec (self, "BEGIN IMMEDIATE", error)) return -1;
        if (s_exec (self, s_migrations[v], error) || s_exec (self, pragma, error)) {
            sqlite3_exec (self->db, "ROLLBACK", NULL, NULL, NULL);
            return -1;
        }
        if (s_exec (self, "COMMIT", error)) return -1;
    }
    return 0;
}

//  Checks that the directory of path exists, for a clearer message than
//  SQLite's "unable to open database file".
static int
s_check_dir (const char *path, hpt_error_t *error)
{
    char *copy = hpt_strdup (path);
    const char *dir = dirname (copy);
    struct stat info;
    int rc = 0;
    if (stat (dir, &info) != 0)
        rc = hpt_error_set (error, HPT_E_UNAVAILABLE, "store %s: directory %s: %s", path, dir,
                            strerror (errno));
    else if (!S_ISDIR (info.st_mode))
        rc = hpt_error_set (error, HPT_E_UNAVAILABLE, "store %s: %s is not a directory", path, dir);
    free (copy);
    return rc;
}

//  Takes an exclusive lock on PATH-lock so that a second master on the
//  same stateDir fails at once instead of interleaving writes with the
//  first. flock is released by the kernel when the process dies, so a
//  master restarted after SIGKILL gets it back.
static int
s_lock (hpt_store_t *self, const char *path, hpt_error_t *error)
{
    char *lock_path = hpt_asprintf ("%s-lock", path);
    int rc = 0;
    self->lock_fd = open (lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (self->lock_fd < 0)
        rc = hpt_error_set (error, HPT_E_UNAVAILABLE, "store %s: lock file %s: %s", path, lock_path,
                            strerror (errno));
    else if (flock (self->lock_fd, LOCK_EX | LOCK_NB) != 0)
        rc = hpt_error_set (error, HPT_E_FAILED_PRECONDITION, "store %s: %s (lock %s)", path,
                            errno == EWOULDBLOCK ? "in use by another process (another hptmaster?)"
                                                 : strerror (errno),
                            lock_path);
    free (lock_path);
    return rc;
}

static int
s_open (hpt_store_t *self, const char *path, bool exclusive, hpt_error_t *error)
{
    if (!path || !*path) return hpt_error_set (error, HPT_E_INVALID, "store: no database path");
    bool memory = strcmp (path, ":memory:") == 0;
    if (!memory && (s_check_dir (path, error) || (exclusive && s_lock (self, path, error))))
        return -1;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2 (path, &self->db, flags, NULL) != SQLITE_OK)
        return self->db ? s_fail_db (self, error, "open")
                        : hpt_error_set (error, HPT_E_UNAVAILABLE, "store %s: cannot open", path);
    sqlite3_extended_result_codes (self->db, 1);
    sqlite3_busy_timeout (self->db, 5000);
    if (!memory && s_exec (self, "PRAGMA journal_mode = WAL", error)) return -1;
    if (s_exec (self, "PRAGMA synchronous = NORMAL", error) ||
        s_exec (self, "PRAGMA foreign_keys = ON", error))
        return -1;
    return s_migrate (self, error);
}

static hpt_store_t *
s_store_new (const char *path, bool exclusive, hpt_error_t *error)
{
    hpt_store_t *self = hpt_calloc (1, sizeof (hpt_store_t));
    self->path = hpt_strdup (path ? path : "");
    self->lock_fd = -1;
    //  The database holds every job's env values: nobody else reads it.
    mode_t old_mask = umask (077);
    int rc = s_open (self, path, exclusive, error);
    umask (old_mask);
    if (rc != 0) hpt_store_destroy (&self);
    return self;
}

hpt_store_t *
hpt_store_new (const char *path, hpt_error_t *error)
{
    return s_store_new (path, true, error);
}

hpt_store_t *
hpt_store_open_shared (const char *path, hpt_error_t *error)
{
    return s_store_new (path, false, error);
}

//  ------------------------------------------------------ backup, restore

//  Copies every page of from's main database into to's (one step: one
//  consistent snapshot of from). what names the copy in messages.
static int
s_copy_db (sqlite3 *to, sqlite3 *from, const char *what, hpt_error_t *error)
{
    sqlite3_backup *backup = sqlite3_backup_init (to, "main", from, "main");
    if (!backup)
        return hpt_error_set (error, HPT_E_UNAVAILABLE, "%s: %s", what, sqlite3_errmsg (to));
    int step = sqlite3_backup_step (backup, -1);
    int finish = sqlite3_backup_finish (backup);
    if (step != SQLITE_DONE || finish != SQLITE_OK)
        return hpt_error_set (error, HPT_E_UNAVAILABLE, "%s: %s", what,
                              sqlite3_errstr (step != SQLITE_DONE ? step : finish));
    return 0;
}

//  PRAGMA quick_check of db: 0 when "ok".
static int
s_quick_check (sqlite3 *db, const char *what, hpt_error_t *error)
{
    sqlite3_stmt *stmt = NULL;
    int rc = hpt_error_set (error, HPT_E_INVALID, "%s: not an hpt store (%s)", what,
                            sqlite3_errmsg (db));
    if (sqlite3_prepare_v2 (db, "PRAGMA quick_check", -1, &stmt, NULL) == SQLITE_OK &&
        sqlite3_step (stmt) == SQLITE_ROW) {
        const char *result = (const char *)sqlite3_column_text (stmt, 0);
        rc = result && strcmp (result, "ok") == 0
                 ? 0
                 : hpt_error_set (error, HPT_E_INVALID, "%s: damaged: %s", what,
                                  result ? result : "no result");
    }
    sqlite3_finalize (stmt);
    return rc;
}

int
hpt_store_backup (hpt_store_t *self, const char *out, hpt_error_t *error)
{
    struct stat info;
    if (lstat (out, &info) == 0)
        return hpt_error_set (error, HPT_E_EXISTS, "backup %s: the file exists; name a new one",
                              out);
    mode_t old_mask = umask (077);
    sqlite3 *copy = NULL;
    int rc = sqlite3_open_v2 (out, &copy, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    umask (old_mask);
    char *what = hpt_asprintf ("backup of %s to %s", self->path, out);
    if (rc != SQLITE_OK)
        rc = hpt_error_set (error, HPT_E_UNAVAILABLE, "%s: %s", what,
                            copy ? sqlite3_errmsg (copy) : "cannot open");
    else {
        sqlite3_busy_timeout (copy, 5000);
        rc = s_copy_db (copy, self->db, what, error);
        //  A single file, whatever the source's journal mode.
        if (rc == 0) sqlite3_exec (copy, "PRAGMA journal_mode = DELETE", NULL, NULL, NULL);
        if (rc == 0) rc = s_quick_check (copy, what, error);
    }
    sqlite3_close (copy);
    if (rc != 0) unlink (out);
    free (what);
    return rc;
}

//  Refuses a file that is not an hpt store of a version this build reads.
static int
s_restorable (sqlite3 *db, const char *in, hpt_error_t *error)
{
    if (s_quick_check (db, in, error)) return -1;
    sqlite3_stmt *stmt = NULL;
    int version = -1, tables = 0;
    if (sqlite3_prepare_v2 (db, "PRAGMA user_version", -1, &stmt, NULL) == SQLITE_OK &&
        sqlite3_step (stmt) == SQLITE_ROW)
        version = sqlite3_column_int (stmt, 0);
    sqlite3_finalize (stmt);
    if (sqlite3_prepare_v2 (db, "SELECT count(*) FROM sqlite_master WHERE name = 'jobs'", -1, &stmt,
                            NULL) == SQLITE_OK &&
        sqlite3_step (stmt) == SQLITE_ROW)
        tables = sqlite3_column_int (stmt, 0);
    sqlite3_finalize (stmt);
    if (version < 1 || tables != 1)
        return hpt_error_set (error, HPT_E_INVALID, "restore from %s: not an hpt store", in);
    if (version > HPT_STORE_SCHEMA_VERSION)
        return hpt_error_set (error, HPT_E_INVALID,
                              "restore from %s: schema version %d is newer than this hpt "
                              "supports (%d); restore it with a newer hptmaster",
                              in, version, HPT_STORE_SCHEMA_VERSION);
    return 0;
}

int
hpt_store_restore (hpt_store_t *self, const char *in, hpt_error_t *error)
{
    if (self->in_txn)
        return hpt_error_set (error, HPT_E_INVALID, "store %s: restore inside a transaction",
                              self->path);
    sqlite3 *source = NULL;
    int rc = sqlite3_open_v2 (in, &source, SQLITE_OPEN_READONLY, NULL);
    if (rc != SQLITE_OK)
        rc = hpt_error_set (error, HPT_E_UNAVAILABLE, "restore from %s: %s", in,
                            source ? sqlite3_errmsg (source) : "cannot open");
    else
        rc = s_restorable (source, in, error);
    if (rc == 0) {
        for (int i = 0; i < ST_COUNT; i++) {
            sqlite3_finalize (self->stmts[i]);
            self->stmts[i] = NULL;
        }
        char *what = hpt_asprintf ("restore of %s from %s", self->path, in);
        rc = s_copy_db (self->db, source, what, error);
        free (what);
    }
    sqlite3_close (source);
    return rc == 0 ? s_migrate (self, error) : rc;
}

void
hpt_store_destroy (hpt_store_t **self_p)
{
    if (!self_p || !*self_p) return;
    hpt_store_t *self = *self_p;
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize (self->stmts[i]);
    if (self->db) sqlite3_close (self->db);
    if (self->lock_fd >= 0) close (self->lock_fd);
    free (self->path);
    free (self);
    *self_p = NULL;
}

//  ------------------------------------------------------- transactions

int
hpt_store_begin (hpt_store_t *self, hpt_error_t *error)
{
    if (self->in_txn)
        return hpt_error_set (error, HPT_E_INVALID, "store %s: a transaction is already open",
                              self->path);
    if (s_exec (self, "BEGIN IMMEDIATE", error)) return -1;
    self->in_txn = true;
    self->txn_id++;
    self->txn_failed = false;
    hpt_error_clear (&self->txn_error);
    return 0;
}

void
hpt_store_rollback (hpt_store_t *self)
{
    //  SQLite may have rolled back already (a full disk, an I/O error);
    //  ROLLBACK then fails harmlessly.
    if (!sqlite3_get_autocommit (self->db)) sqlite3_exec (self->db, "ROLLBACK", NULL, NULL, NULL);
    self->in_txn = false;
    self->txn_failed = false;
}

int
hpt_store_commit (hpt_store_t *self, hpt_error_t *error)
{
    if (!self->in_txn)
        return hpt_error_set (error, HPT_E_INVALID, "store %s: commit without a transaction",
                              self->path);
    if (self->txn_failed) {
        hpt_error_t failure = self->txn_error;
        hpt_store_rollback (self);
        if (error) *error = failure;
        return -1;
    }
    if (sqlite3_get_autocommit (self->db)) {
        //  SQLite ended the transaction on its own: nothing of it is kept.
        hpt_store_rollback (self);
        return hpt_error_set (error, HPT_E_UNAVAILABLE,
                              "store %s: the transaction was rolled back by SQLite", self->path);
    }
    if (s_exec (self, "COMMIT", error)) {
        hpt_store_rollback (self);
        return -1;
    }
    self->in_txn = false;
    return 0;
}

int
hpt_store_fail (hpt_store_t *self, const hpt_error_t *failure)
{
    return s_write_failed (self, failure, NULL);
}

bool
hpt_store_in_transaction (hpt_store_t *self)
{
    return self->in_txn;
}

uint64_t
hpt_store_transaction_id (hpt_store_t *self)
{
    return self->txn_id;
}

int
hpt_store_meta_get (hpt_store_t *self, const char *key, int64_t *value_p, hpt_error_t *error)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_META_GET, error);
    if (!stmt) return -1;
    s_bind_text (stmt, 1, key);
    int rc = sqlite3_step (stmt);
    *value_p = rc == SQLITE_ROW ? sqlite3_column_int64 (stmt, 0) : 0;
    sqlite3_reset (stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return s_fail_db (self, error, "query");
    return 0;
}

int
hpt_store_meta_set (hpt_store_t *self, const char *key, int64_t value, hpt_error_t *error)
{
    sqlite3_stmt *stmt = s_write_stmt (self, ST_META_SET, error);
    if (!stmt) return -1;
    s_bind_text (stmt, 1, key);
    sqlite3_bind_int64 (stmt, 2, value);
    return s_exec_write (self, stmt, "meta value", NULL, error);
}

int
hpt_store_probe (hpt_store_t *self, hpt_error_t *error)
{
    if (hpt_store_begin (self, error)) return -1;
    int64_t count = 0;
    hpt_store_meta_get (self, "probe", &count, NULL);
    hpt_store_meta_set (self, "probe", count + 1, NULL);
    return hpt_store_commit (self, error);
}

//  ---------------------------------------------------------------- jobs

static int
s_job_next_seq (hpt_store_t *self, int64_t *seq_p, hpt_error_t *error)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_JOB_NEXT_SEQ, error);
    if (!stmt) return -1;
    int rc = sqlite3_step (stmt);
    if (rc == SQLITE_ROW) *seq_p = sqlite3_column_int64 (stmt, 0);
    sqlite3_reset (stmt);
    return rc == SQLITE_ROW ? 0 : s_fail_db (self, error, "next seq");
}

int
hpt_store_job_insert (hpt_store_t *self, const hpt_store_job_t *job, int64_t *seq_p,
                      hpt_error_t *error)
{
    if (!job || !job->job_id || !*job->job_id || !job->project || !job->spec_json)
        return s_refuse (self, error, HPT_E_INVALID,
                         "store: job insert needs job_id, project and spec_json");
    if (job->seed < 0 || job->seq < 0)
        return s_refuse (self, error, HPT_E_INVALID,
                         "store: job seed and seq must not be negative");
    sqlite3_stmt *stmt = s_write_stmt (self, ST_JOB_INSERT, error);
    if (!stmt) return -1;
    int64_t seq = job->seq;
    hpt_error_t failure;
    if (seq == 0 && s_job_next_seq (self, &seq, &failure))
        return s_write_failed (self, &failure, error);
    s_bind_text (stmt, 1, job->job_id);
    sqlite3_bind_int64 (stmt, 2, seq);
    s_bind_text (stmt, 3, job->project);
    s_bind_text (stmt, 4, job->spec_json);
    s_bind_text (stmt, 5, hpt_job_state_name (job->state));
    s_bind_text (stmt, 6, job->error_message);
    s_bind_optional (stmt, 7, job->create_time);
    s_bind_optional (stmt, 8, job->start_time);
    s_bind_optional (stmt, 9, job->end_time);
    sqlite3_bind_int64 (stmt, 10, job->seed);
    sqlite3_bind_int64 (stmt, 11, job->priority);
    s_bind_text (stmt, 12, job->resumed_from);
    s_bind_text (stmt, 13, job->created_by);
    int rc = s_exec_write (self, stmt, "job", NULL, error);
    if (rc == 0 && seq_p) *seq_p = seq;
    return rc;
}

int
hpt_store_job_set_state (hpt_store_t *self, const char *job_id, hpt_job_state_t state,
                         const char *message, int64_t time_ms, hpt_error_t *error)
{
    if (!job_id || (size_t)state >= hpt_job_state_count ())
        return s_refuse (self, error, HPT_E_INVALID,
                         "store: job set_state needs a job and a state");
    bool starts = state == HPT_JOB_PREPARING || state == HPT_JOB_RUNNING;
    sqlite3_stmt *stmt = s_write_stmt (self, ST_JOB_SET_STATE, error);
    if (!stmt) return -1;
    s_bind_text (stmt, 1, job_id);
    s_bind_text (stmt, 2, hpt_job_state_name (state));
    s_bind_text (stmt, 3, message);
    s_bind_optional (stmt, 4, time_ms);
    sqlite3_bind_int (stmt, 5, starts);
    sqlite3_bind_int (stmt, 6, hpt_job_state_final (state));
    return s_exec_update (self, stmt, "job", error);
}

int
hpt_store_job_set_log_bytes (hpt_store_t *self, const char *job_id, int64_t bytes,
                             hpt_error_t *error)
{
    sqlite3_stmt *stmt = s_write_stmt (self, ST_JOB_SET_LOG_BYTES, error);
    if (!stmt) return -1;
    s_bind_text (stmt, 1, job_id);
    sqlite3_bind_int64 (stmt, 2, bytes);
    return s_exec_update (self, stmt, "job", error);
}

int
hpt_store_job_set_spec (hpt_store_t *self, const char *job_id, const char *spec_json,
                        hpt_error_t *error)
{
    if (!spec_json)
        return s_refuse (self, error, HPT_E_INVALID, "store: a job's spec_json may not be NULL");
    sqlite3_stmt *stmt = s_write_stmt (self, ST_JOB_SET_SPEC, error);
    if (!stmt) return -1;
    s_bind_text (stmt, 1, job_id);
    s_bind_text (stmt, 2, spec_json);
    return s_exec_update (self, stmt, "job", error);
}

int
hpt_store_job_get (hpt_store_t *self, const char *job_id, json_t **job_p, hpt_error_t *error)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_JOB_GET, error);
    if (!stmt) return -1;
    s_bind_text (stmt, 1, job_id);
    return s_query_one (self, stmt, job_p, "such job", error);
}

int
hpt_store_job_list (hpt_store_t *self, json_t **list_p, hpt_error_t *error)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_JOB_LIST, error);
    if (!stmt) return -1;
    return s_query_rows (self, stmt, list_p, error);
}

//  -------------------------------------------------------------- trials

static void
s_bind_trial (sqlite3_stmt *stmt, const hpt_store_trial_t *trial)
{
    s_bind_text (stmt, 1, trial->job_id);
    sqlite3_bind_int64 (stmt, 2, trial->trial_id);
    s_bind_text (stmt, 3, hpt_trial_state_name (trial->state));
    s_bind_text (stmt, 4, trial->values_json);
    s_bind_text (stmt, 5, trial->hyperparameters_json);
    sqlite3_bind_int (stmt, 6, trial->has_final);
    if (trial->has_final) {
        sqlite3_bind_int64 (stmt, 7, trial->final_step);
        s_bind_double (stmt, 8, trial->final_value);
        sqlite3_bind_double (stmt, 15, trial->final_time);
    }
    sqlite3_bind_int (stmt, 9, trial->stopped_early);
    s_bind_text (stmt, 10, trial->message);
    s_bind_optional (stmt, 11, trial->start_time);
    s_bind_optional (stmt, 12, trial->end_time);
    sqlite3_bind_int64 (stmt, 13, trial->requeue_count);
    if (trial->has_learned) s_bind_double (stmt, 14, trial->learned_value);
    sqlite3_bind_int64 (stmt, 16, trial->report_count);
}

static int
s_check_trial (hpt_store_t *self, const hpt_store_trial_t *trial, hpt_error_t *error)
{
    if (!trial || !trial->job_id || trial->trial_id < 1 ||
        (size_t)trial->state >= hpt_trial_state_count ())
        return s_refuse (self, error, HPT_E_INVALID,
                         "store: a trial needs a job_id, a trial_id >= 1 and a state");
    return 0;
}

int
hpt_store_trial_insert (hpt_store_t *self, const hpt_store_trial_t *trial, hpt_error_t *error)
{
    if (s_check_trial (self, trial, error)) return -1;
    if (!trial->values_json || !trial->hyperparameters_json)
        return s_refuse (self, error, HPT_E_INVALID,
                         "store: a new trial needs values_json and hyperparameters_json");
    sqlite3_stmt *stmt = s_write_stmt (self, ST_TRIAL_INSERT, error);
    if (!stmt) return -1;
    sqlite3_stmt *exists = s_stmt (self, ST_JOB_EXISTS, error);
    if (!exists) return -1;
    s_bind_text (exists, 1, trial->job_id);
    if (s_require (self, exists, "job", error)) return -1;
    s_bind_trial (stmt, trial);
    return s_exec_write (self, stmt, "trial", NULL, error);
}

int
hpt_store_trial_update (hpt_store_t *self, const hpt_store_trial_t *trial, hpt_error_t *error)
{
    if (s_check_trial (self, trial, error)) return -1;
    sqlite3_stmt *stmt = s_write_stmt (self, ST_TRIAL_UPDATE, error);
    if (!stmt) return -1;
    s_bind_trial (stmt, trial);
    return s_exec_update (self, stmt, "trial", error);
}

int
hpt_store_trial_get (hpt_store_t *self, const char *job_id, int64_t trial_id, json_t **trial_p,
                     hpt_error_t *error)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_TRIAL_GET, error);
    if (!stmt) return -1;
    s_bind_text (stmt, 1, job_id);
    sqlite3_bind_int64 (stmt, 2, trial_id);
    return s_query_one (self, stmt, trial_p, "such trial", error);
}

int
hpt_store_trials_of_job (hpt_store_t *self, const char *job_id, json_t **list_p, hpt_error_t *error)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_TRIALS_OF_JOB, error);
    if (!stmt) return -1;
    s_bind_text (stmt, 1, job_id);
    return s_query_rows (self, stmt, list_p, error);
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
    s_bind_text (stmt, 7, hpt_task_state_name (task->state));
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

int
hpt_store_task_put (hpt_store_t *self, const hpt_store_task_t *task, hpt_error_t *error)
{
    if (!task || !task->task_id || !*task->task_id || !task->job_id || task->trial_id < 1 ||
        !task->replica_type || task->replica_index < 0 ||
        (size_t)task->state >= hpt_task_state_count ())
        return s_refuse (self, error, HPT_E_INVALID,
                         "store: a task needs an id, job, trial, replica type, index and "
                         "state");
    sqlite3_stmt *update = s_write_stmt (self, ST_TASK_UPDATE, error);
    if (!update) return -1;
    s_bind_task (update, task);
    int changes = 0;
    if (s_exec_write (self, update, "task", &changes, error)) return -1;
    if (changes) return 0;
    sqlite3_stmt *exists = s_stmt (self, ST_TRIAL_EXISTS, error);
    if (!exists) return -1;
    s_bind_text (exists, 1, task->job_id);
    sqlite3_bind_int64 (exists, 2, task->trial_id);
    if (s_require (self, exists, "trial", error)) return -1;
    sqlite3_stmt *insert = s_write_stmt (self, ST_TASK_INSERT, error);
    if (!insert) return -1;
    s_bind_task (insert, task);
    return s_exec_write (self, insert, "task", NULL, error);
}

int
hpt_store_task_get (hpt_store_t *self, const char *task_id, json_t **task_p, hpt_error_t *error)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_TASK_GET, error);
    if (!stmt) return -1;
    s_bind_text (stmt, 1, task_id);
    return s_query_one (self, stmt, task_p, "such task", error);
}

int
hpt_store_task_of_trial (hpt_store_t *self, const char *job_id, int64_t trial_id, json_t **list_p,
                         hpt_error_t *error)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_TASK_OF_TRIAL, error);
    if (!stmt) return -1;
    s_bind_text (stmt, 1, job_id);
    sqlite3_bind_int64 (stmt, 2, trial_id);
    return s_query_rows (self, stmt, list_p, error);
}

//  ------------------------------------------------------------- metrics

//  Inserts the points with the prepared statement; counts new rows.
static int
s_metrics_insert (hpt_store_t *self, const hpt_store_metric_t *points, size_t count, size_t *stored,
                  hpt_error_t *error)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_METRIC_INSERT, error);
    if (!stmt) return -1;
    for (size_t i = 0; i < count; i++) {
        const hpt_store_metric_t *point = &points[i];
        if (!point->job_id || !point->task_id || !point->tag || point->trial_id < 1)
            return s_refuse (self, error, HPT_E_INVALID,
                             "store: metric point %zu lacks job, trial, task or tag", i);
        if (!isfinite (point->time))
            return s_refuse (self, error, HPT_E_INVALID,
                             "store: metric point %zu has a non-finite time", i);
        sqlite3_reset (stmt);
        s_bind_text (stmt, 1, point->job_id);
        sqlite3_bind_int64 (stmt, 2, point->trial_id);
        s_bind_text (stmt, 3, point->task_id);
        s_bind_text (stmt, 4, point->tag);
        sqlite3_bind_int64 (stmt, 5, point->step);
        s_bind_double (stmt, 6, point->value);
        sqlite3_bind_double (stmt, 7, point->time);
        int rc = sqlite3_step (stmt);
        sqlite3_reset (stmt);
        if (rc != SQLITE_DONE) return s_fail_db (self, error, "metrics");
        *stored += (size_t)sqlite3_changes (self->db);
    }
    return 0;
}

int
hpt_store_metrics_append (hpt_store_t *self, const hpt_store_metric_t *points, size_t count,
                          size_t *stored_p, hpt_error_t *error)
{
    size_t stored = 0;
    if (count > 0 && !points)
        return s_refuse (self, error, HPT_E_INVALID, "store: metrics append without points");
    if (s_may_write (self, error)) return -1;
    if (count > 0) {
        hpt_error_t failure;
        if (s_exec (self, "SAVEPOINT metrics_batch", &failure))
            return s_write_failed (self, &failure, error);
        if (s_metrics_insert (self, points, count, &stored, &failure)) {
            sqlite3_exec (self->db, "ROLLBACK TO metrics_batch", NULL, NULL, NULL);
            sqlite3_exec (self->db, "RELEASE metrics_batch", NULL, NULL, NULL);
            return s_write_failed (self, &failure, error);
        }
        if (s_exec (self, "RELEASE metrics_batch", &failure))
            return s_write_failed (self, &failure, error);
    }
    if (stored_p) *stored_p = stored;
    return 0;
}

int
hpt_store_metrics_of_trial (hpt_store_t *self, const char *job_id, int64_t trial_id,
                            const char *tag, json_t **list_p, hpt_error_t *error)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_METRICS_OF_TRIAL, error);
    if (!stmt) return -1;
    s_bind_text (stmt, 1, job_id);
    sqlite3_bind_int64 (stmt, 2, trial_id);
    s_bind_text (stmt, 3, tag);
    return s_query_rows (self, stmt, list_p, error);
}

//  LIMIT takes a signed 64-bit count.
static sqlite3_int64
s_limit (size_t count)
{
    return count > (size_t)INT64_MAX ? INT64_MAX : (sqlite3_int64)count;
}

int
hpt_store_metrics_last (hpt_store_t *self, const char *job_id, int64_t trial_id, const char *tag,
                        const char *task_id, size_t count, json_t **list_p, hpt_error_t *error)
{
    if (!tag) return hpt_error_set (error, HPT_E_INVALID, "store: metrics_last needs a tag");
    sqlite3_stmt *stmt = s_stmt (self, ST_METRICS_LAST, error);
    if (!stmt) return -1;
    s_bind_text (stmt, 1, job_id);
    sqlite3_bind_int64 (stmt, 2, trial_id);
    s_bind_text (stmt, 3, tag);
    s_bind_text (stmt, 4, task_id);
    sqlite3_bind_int64 (stmt, 5, s_limit (count));
    json_t *newest_first = NULL;
    if (s_query_rows (self, stmt, &newest_first, error)) return -1;
    //  Read backwards along the key; the caller wants the curve in order.
    json_t *list = json_array ();
    for (size_t i = json_array_size (newest_first); i-- > 0;)
        json_array_append (list, json_array_get (newest_first, i));
    json_decref (newest_first);
    *list_p = list;
    return 0;
}

int
hpt_store_metrics_page (hpt_store_t *self, const char *job_id, int64_t trial_id, const char *tag,
                        const hpt_store_metric_t *after, size_t count, json_t **list_p,
                        hpt_error_t *error)
{
    if (after && (!after->tag || !after->task_id))
        return hpt_error_set (error, HPT_E_INVALID, "store: a page cursor needs a tag and a task");
    s_stmt_id_t id = tag ? (after ? ST_METRICS_PAGE_TAG_AFTER : ST_METRICS_PAGE_TAG)
                         : (after ? ST_METRICS_PAGE_ALL_AFTER : ST_METRICS_PAGE_ALL);
    sqlite3_stmt *stmt = s_stmt (self, id, error);
    if (!stmt) return -1;
    s_bind_text (stmt, 1, job_id);
    sqlite3_bind_int64 (stmt, 2, trial_id);
    s_bind_text (stmt, 3, tag);
    if (after) {
        s_bind_text (stmt, 4, after->tag);
        sqlite3_bind_int64 (stmt, 5, after->step);
        sqlite3_bind_double (stmt, 6, after->time);
        //  As stored: a non-finite value is text, and compares as text.
        s_bind_double (stmt, 7, after->value);
        s_bind_text (stmt, 8, after->task_id);
    }
    sqlite3_bind_int64 (stmt, 9, s_limit (count));
    return s_query_rows (self, stmt, list_p, error);
}

int
hpt_store_metric_tags (hpt_store_t *self, const char *job_id, int64_t trial_id, json_t **list_p,
                       hpt_error_t *error)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_METRIC_TAGS, error);
    if (!stmt) return -1;
    s_bind_text (stmt, 1, job_id);
    sqlite3_bind_int64 (stmt, 2, trial_id);
    json_t *rows = NULL;
    if (s_query_rows (self, stmt, &rows, error)) return -1;
    json_t *list = json_array ();
    size_t i;
    json_t *row;
    json_array_foreach (rows, i, row)
        json_array_append (list, json_object_get (row, "tag"));
    json_decref (rows);
    *list_p = list;
    return 0;
}

uint64_t
hpt_store_last_read_steps (hpt_store_t *self)
{
    return self->last_read_steps;
}

//  -------------------------------------------------------------- agents

int
hpt_store_agent_upsert (hpt_store_t *self, const hpt_store_agent_t *agent, hpt_error_t *error)
{
    if (!agent || !agent->name || !*agent->name || (size_t)agent->state >= hpt_host_state_count ())
        return s_refuse (self, error, HPT_E_INVALID, "store: an agent needs a name and a state");
    sqlite3_stmt *stmt = s_write_stmt (self, ST_AGENT_UPSERT, error);
    if (!stmt) return -1;
    s_bind_text (stmt, 1, agent->name);
    s_bind_text (stmt, 2, hpt_host_state_name (agent->state));
    s_bind_optional (stmt, 3, agent->last_seen);
    s_bind_text (stmt, 4, agent->resources_json);
    return s_exec_write (self, stmt, "agent", NULL, error);
}

int
hpt_store_agent_set_drain (hpt_store_t *self, const char *name, hpt_drain_state_t drain, bool now,
                           const char *reason, const char *by, int64_t at_ms, hpt_error_t *error)
{
    if (!name || (size_t)drain >= hpt_drain_state_count ())
        return s_refuse (self, error, HPT_E_INVALID, "store: set_drain needs an agent and a state");
    bool none = drain == HPT_DRAIN_NONE;
    sqlite3_stmt *stmt = s_write_stmt (self, ST_AGENT_SET_DRAIN, error);
    if (!stmt) return -1;
    s_bind_text (stmt, 1, name);
    s_bind_text (stmt, 2, hpt_drain_state_name (drain));
    s_bind_text (stmt, 3, none ? NULL : reason);
    s_bind_text (stmt, 4, none ? NULL : by);
    s_bind_optional (stmt, 5, none ? 0 : at_ms);
    sqlite3_bind_int (stmt, 6, !none && now);
    return s_exec_update (self, stmt, "agent", error);
}

int
hpt_store_agent_set_acked_seq (hpt_store_t *self, const char *name, int64_t seq, hpt_error_t *error)
{
    if (!name || seq < 0)
        return s_refuse (self, error, HPT_E_INVALID, "store: set_acked_seq needs an agent and seq");
    sqlite3_stmt *stmt = s_write_stmt (self, ST_AGENT_SET_ACKED, error);
    if (!stmt) return -1;
    s_bind_text (stmt, 1, name);
    sqlite3_bind_int64 (stmt, 2, seq);
    return s_exec_update (self, stmt, "agent", error);
}

int
hpt_store_agent_get (hpt_store_t *self, const char *name, json_t **agent_p, hpt_error_t *error)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_AGENT_GET, error);
    if (!stmt) return -1;
    s_bind_text (stmt, 1, name);
    return s_query_one (self, stmt, agent_p, "such agent", error);
}

int
hpt_store_agent_delete (hpt_store_t *self, const char *name, hpt_error_t *error)
{
    sqlite3_stmt *stmt = s_write_stmt (self, ST_AGENT_DELETE, error);
    if (!stmt) return -1;
    s_bind_text (stmt, 1, name);
    return s_exec_update (self, stmt, "agent", error);
}

//  --------------------------------------------------------------- users

int
hpt_store_user_put (hpt_store_t *self, const char *name, hpt_role_t role, const char *token_hash,
                    int64_t created_ms, hpt_error_t *error)
{
    if (!name || !*name || !token_hash || (size_t)role >= hpt_role_count ())
        return s_refuse (self, error, HPT_E_INVALID, "store: a user needs a name, role and token");
    sqlite3_stmt *stmt = s_write_stmt (self, ST_USER_PUT, error);
    if (!stmt) return -1;
    s_bind_text (stmt, 1, name);
    s_bind_text (stmt, 2, hpt_role_name (role));
    s_bind_text (stmt, 3, token_hash);
    s_bind_optional (stmt, 4, created_ms);
    return s_exec_write (self, stmt, "user", NULL, error);
}

int
hpt_store_user_revoke (hpt_store_t *self, const char *name, hpt_error_t *error)
{
    sqlite3_stmt *stmt = s_write_stmt (self, ST_USER_REVOKE, error);
    if (!stmt) return -1;
    s_bind_text (stmt, 1, name);
    return s_exec_update (self, stmt, "user", error);
}

int
hpt_store_user_by_token (hpt_store_t *self, const char *token_hash, json_t **user_p,
                         hpt_error_t *error)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_USER_BY_TOKEN, error);
    if (!stmt) return -1;
    s_bind_text (stmt, 1, token_hash);
    return s_query_one (self, stmt, user_p, "such user", error);
}

int
hpt_store_user_list (hpt_store_t *self, json_t **list_p, hpt_error_t *error)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_USER_LIST, error);
    if (!stmt) return -1;
    return s_query_rows (self, stmt, list_p, error);
}

//  --------------------------------------------------------------- audit

int
hpt_store_audit_append (hpt_store_t *self, const hpt_store_audit_t *entry, hpt_error_t *error)
{
    if (!entry || !entry->user || !entry->method || !entry->route)
        return s_refuse (self, error, HPT_E_INVALID, "store: an audit entry needs user and route");
    sqlite3_stmt *stmt = s_write_stmt (self, ST_AUDIT_APPEND, error);
    if (!stmt) return -1;
    sqlite3_bind_int64 (stmt, 1, entry->time_ms);
    s_bind_text (stmt, 2, entry->user);
    s_bind_text (stmt, 3, entry->method);
    s_bind_text (stmt, 4, entry->route);
    s_bind_text (stmt, 5, entry->target);
    sqlite3_bind_int (stmt, 6, entry->status);
    return s_exec_write (self, stmt, "audit entry", NULL, error);
}

int
hpt_store_audit_list (hpt_store_t *self, int64_t after_id, int64_t limit, json_t **list_p,
                      hpt_error_t *error)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_AUDIT_LIST, error);
    if (!stmt) return -1;
    sqlite3_bind_int64 (stmt, 1, after_id);
    sqlite3_bind_int64 (stmt, 2, limit);
    return s_query_rows (self, stmt, list_p, error);
}

//  --------------------------------------------------------------- slurm jobs

int
hpt_store_slurm_put (hpt_store_t *self, const hpt_store_slurm_t *row, hpt_error_t *error)
{
    if (!row || !row->name || !row->job_id || !row->state)
        return s_refuse (self, error, HPT_E_INVALID, "store: a Slurm job needs a name and state");
    sqlite3_stmt *stmt = s_write_stmt (self, ST_SLURM_PUT, error);
    if (!stmt) return -1;
    s_bind_text (stmt, 1, row->name);
    s_bind_text (stmt, 2, row->job_id);
    sqlite3_bind_int64 (stmt, 3, row->trial_id);
    s_bind_text (stmt, 4, row->slurm_id);
    sqlite3_bind_int64 (stmt, 5, row->tasks);
    s_bind_text (stmt, 6, row->state);
    sqlite3_bind_int64 (stmt, 7, row->created_ms);
    s_bind_text (stmt, 8, row->agent_key);
    return s_exec_write (self, stmt, "Slurm job", NULL, error);
}

int
hpt_store_slurm_list (hpt_store_t *self, json_t **list_p, hpt_error_t *error)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_SLURM_LIST, error);
    if (!stmt) return -1;
    return s_query_rows (self, stmt, list_p, error);
}

int
hpt_store_slurm_delete (hpt_store_t *self, const char *name, hpt_error_t *error)
{
    sqlite3_stmt *stmt = s_write_stmt (self, ST_SLURM_DELETE, error);
    if (!stmt) return -1;
    s_bind_text (stmt, 1, name);
    return s_exec_write (self, stmt, "Slurm job", NULL, error);
}

int
hpt_store_agent_list (hpt_store_t *self, json_t **list_p, hpt_error_t *error)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_AGENT_LIST, error);
    if (!stmt) return -1;
    return s_query_rows (self, stmt, list_p, error);
}
