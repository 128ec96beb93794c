/*  hpt_store -- the master's durable state: jobs, trials, tasks, metrics
    and agents in one SQLite database (WAL)

    The store is the truth; the core's memory is a cache of it. Every
    change is written here, inside a transaction the core opens, before
    anything is acted on or acknowledged (see the comment at the top of
    hpt_store.c for the schema and the rules).

    Conventions of every function:
    - Returns 0 on success and -1 on failure with *error filled (error may
      be NULL; hpt_error.h). Codes: HPT_E_NOT_FOUND (no such row),
      HPT_E_EXISTS (a row with that key is already there), HPT_E_INVALID
      (bad arguments: a bug of the caller), HPT_E_UNAVAILABLE (SQLite could
      not read or write: full disk, read-only file, I/O error, or an
      earlier statement of the same transaction failed).
    - Writes happen only inside hpt_store_begin ... hpt_store_commit; a
      write outside a transaction is refused (HPT_E_INVALID). Once a write
      of a transaction fails, the transaction is failed: later writes are
      refused and commit rolls back and returns the first failure
      (HPT_E_UNAVAILABLE), so nothing is ever half-committed.
    - Strings passed in are borrowed (copied by SQLite as needed).
    - Times are epoch milliseconds (int64); 0 means "not set" and is stored
      as NULL. Metric times are epoch seconds as a double (the hypertune
      file's timestamp).
    - Reads give a json_t that the caller owns (json_decref): an object per
      row whose keys are the column names listed in hpt_store.c. Columns
      whose name ends in "_json" come back parsed (spec_json is the Job
      object, hyperparameters_json a map, ...); NULL columns come back as
      JSON null; BOOLEAN columns as true/false; a non-finite REAL as the
      string "NaN", "Infinity" or "-Infinity" (protobuf's JSON mapping).
    - The store is not thread-safe: one thread (the core loop) uses it.
*/
#ifndef HPT_STORE_H_INCLUDED
#define HPT_STORE_H_INCLUDED

#include "hpt_error.h"
#include "hpt_states.h"
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  The schema version this build writes (PRAGMA user_version).
#define HPT_STORE_SCHEMA_VERSION 5

typedef struct _hpt_store_t hpt_store_t;

//  A job as submitted. Used by hpt_store_job_insert.
typedef struct {
    const char *job_id;        //  REST jobId, required
    const char *project;       //  the {p} of /v1/projects/{p}/jobs, required
    const char *spec_json;     //  canonical Job JSON as submitted, required
    hpt_job_state_t state;     //  its state
    const char *error_message; //  may be NULL
    int64_t seq;               //  submission order; 0 = next free
    int64_t create_time;       //  epoch ms
    int64_t start_time;        //  epoch ms, 0 = not started
    int64_t end_time;          //  epoch ms, 0 = not ended
    int64_t seed;              //  the job's optimizer seed (>= 0)
    int64_t priority;          //  scheduling.priority
    const char *resumed_from;  //  resumePreviousJobId, or NULL
    const char *created_by;    //  the API user who submitted it, or NULL
} hpt_store_job_t;

//  One state-changing API request, as the audit trail keeps it.
typedef struct {
    int64_t time_ms;    //  when
    const char *user;   //  who ("loopback", "socket" or a user name)
    const char *method; //  POST, DELETE
    const char *route;  //  the path
    const char *target; //  the job or node it concerned, or NULL
    int status;         //  the HTTP status answered
} hpt_store_audit_t;

//  A trial: all of its columns. Insert writes every field; update writes
//  every mutable field (all but job_id, trial_id, values and
//  hyperparameters), so the caller passes the trial's whole current state.
typedef struct {
    const char *job_id;               //  required
    int64_t trial_id;                 //  1, 2, ... within the job
    hpt_trial_state_t state;          //  its state
    const char *values_json;          //  JSON array of the optimizer's doubles
    const char *hyperparameters_json; //  JSON object name -> string
    bool has_final;                   //  final_step/final_value/final_time are set
    int64_t final_step;               //  finalMetric.trainingStep
    double final_value;               //  finalMetric.objectiveValue
    double final_time;                //  report time of the final metric (epoch s)
    int64_t report_count;             //  objective reports so far (step when none given)
    bool stopped_early;               //  isTrialStoppedEarly
    const char *message;              //  why it failed/stopped, or NULL
    int64_t start_time;               //  epoch ms, 0 = not set
    int64_t end_time;                 //  epoch ms, 0 = not set
    int64_t requeue_count;            //  times requeued (drain --now, agent lost)
    bool has_learned;                 //  learned_value is set
    double learned_value;             //  what the optimizer was told (stopped early)
} hpt_store_trial_t;

//  A task: one replica process of a trial. Insert writes every field,
//  update every field but the identity (task_id, job_id, trial_id,
//  replica_type, replica_index). end_time stays unset while the process
//  may run.
typedef struct {
    const char *task_id;        //  e.g. "JOB/7/master/0", required
    const char *job_id;         //  required
    int64_t trial_id;           //  required
    const char *replica_type;   //  master, worker, ps, evaluator
    int64_t replica_index;      //  0, 1, ...
    const char *agent;          //  agent name, or NULL while unplaced
    hpt_task_state_t state;     //  its state
    int64_t pid;                //  0 = unknown
    bool has_exit;              //  exit_code/signal are set
    int64_t exit_code;          //  exit status when exited normally
    int64_t signal;             //  signal number when killed, else 0
    int64_t start_time;         //  epoch ms, 0 = not set
    int64_t end_time;           //  epoch ms, 0 = still running
    int64_t attempt;            //  0 for the first launch, +1 per requeue
    const char *placement_json; //  the core's placement (CPUs, GPUs, ports), or NULL
} hpt_store_task_t;

//  One metric point as an agent reported it.
typedef struct {
    const char *job_id;  //  required
    int64_t trial_id;    //  required
    const char *task_id; //  required
    const char *tag;     //  required
    int64_t step;        //  global_step, or report order when none
    double value;        //  may be non-finite
    double time;         //  epoch seconds
} hpt_store_metric_t;

//  An agent's registration. Upsert writes these fields and never touches
//  the drain fields nor last_acked_seq, which have their own setters.
typedef struct {
    const char *name;           //  required
    hpt_host_state_t state;     //  its connection state
    int64_t last_seen;          //  epoch ms
    const char *resources_json; //  HELLO resources, or NULL
} hpt_store_agent_t;

//  Opens or creates the database at path (its directory must exist),
//  switches on WAL, synchronous=NORMAL, foreign keys and a busy timeout,
//  and migrates the schema to HPT_STORE_SCHEMA_VERSION. A database written
//  by a newer hpt is refused. The store holds an exclusive flock on
//  PATH-lock while open, so a second master on the same database is
//  refused ("in use by another process"); the kernel drops the lock when
//  the process dies. ":memory:" gives a private in-memory store (no WAL,
//  no lock) for tests of other classes. Files are created 0600. Returns
//  NULL with *error on failure.
hpt_store_t *hpt_store_new (const char *path, hpt_error_t *error);

//  Opens the store as an operator's command does (hptmaster users ...):
//  without the one-master lock, so it works while the master runs. Fit
//  only for writing a row or two: SQLite's own locking orders them with
//  the master's transactions.
hpt_store_t *hpt_store_open_shared (const char *path, hpt_error_t *error);

//  Copies the whole database, consistent as of one moment, into a new
//  file out (0600; an existing file is refused, HPT_E_EXISTS), with
//  SQLite's online backup API: it reads one snapshot while the master
//  goes on writing (WAL readers do not block writers). The copy is
//  checked (PRAGMA quick_check) before this returns 0.
int hpt_store_backup (hpt_store_t *self, const char *out, hpt_error_t *error);

//  Replaces the whole content of this store with the database at in (a
//  backup): in must be an hpt store (its schema version at most this
//  build's, and quick_check ok); it is migrated forward after the copy.
//  Meant for a store opened with hpt_store_new (so no master runs on it).
int hpt_store_restore (hpt_store_t *self, const char *in, hpt_error_t *error);

//  Closes the database and nulls the pointer.
void hpt_store_destroy (hpt_store_t **self_p);

//  Opens a transaction (BEGIN IMMEDIATE). Transactions do not nest.
int hpt_store_begin (hpt_store_t *self, hpt_error_t *error);

//  Commits the transaction; once it returns 0 the changes survive a crash
//  of the process. When any write of the transaction failed, or the
//  commit itself fails, everything is rolled back and -1 returned with
//  the first failure.
int hpt_store_commit (hpt_store_t *self, hpt_error_t *error);

//  Abandons the transaction (nothing of it is kept). Safe to call when
//  none is open.
void hpt_store_rollback (hpt_store_t *self);

//  Fails the open transaction with *failure (copied): a write of the
//  caller's own that belongs with the transaction (a log file) failed, so
//  the transaction must not commit. Returns -1.
int hpt_store_fail (hpt_store_t *self, const hpt_error_t *failure);

//  Whether a transaction is open (begun, not yet committed or rolled
//  back).
bool hpt_store_in_transaction (hpt_store_t *self);

//  A number that grows with every transaction begun: writers record it to
//  tell, after a failed commit, whether they wrote in that transaction.
uint64_t hpt_store_transaction_id (hpt_store_t *self);

//  Checks that the database can be written now: changes a probe row (a
//  counter, so the write is never a no-op) in a transaction of its own
//  and commits it. How a master that could not
//  store finds out that it can again.
int hpt_store_probe (hpt_store_t *self, hpt_error_t *error);

//  A value of the store's own bookkeeping table (meta): *value_p is set
//  to the stored integer, or to 0 when key is absent.
int hpt_store_meta_get (hpt_store_t *self, const char *key, int64_t *value_p, hpt_error_t *error);

//  Sets a bookkeeping value (inside a transaction).
int hpt_store_meta_set (hpt_store_t *self, const char *key, int64_t value, hpt_error_t *error);

//  ---------------------------------------------------------------- jobs

//  Stores a new job. When job->seq is 0 it gets the next free seq. The
//  seq stored is written to *seq_p when seq_p is not NULL. HPT_E_EXISTS
//  when the job id is taken.
int hpt_store_job_insert (hpt_store_t *self, const hpt_store_job_t *job, int64_t *seq_p,
                          hpt_error_t *error);

//  Sets a job's state. message, when not NULL, replaces error_message.
//  time_ms is recorded as start_time the first time the job enters
//  PREPARING or RUNNING, and as end_time when it enters a final state.
int hpt_store_job_set_state (hpt_store_t *self, const char *job_id, hpt_job_state_t state,
                             const char *message, int64_t time_ms, hpt_error_t *error);

//  Records how many bytes of the job's log file are committed (see
//  hpt_joblog.h: a restarted master cuts the file back to this length).
int hpt_store_job_set_log_bytes (hpt_store_t *self, const char *job_id, int64_t bytes,
                                 hpt_error_t *error);

//  Replaces the job's spec as submitted (a jobs.patch of its labels).
int hpt_store_job_set_spec (hpt_store_t *self, const char *job_id, const char *spec_json,
                            hpt_error_t *error);

//  One job as an object with the columns of table jobs in *job_p (caller
//  owns).
int hpt_store_job_get (hpt_store_t *self, const char *job_id, json_t **job_p, hpt_error_t *error);

//  Every job in submission order (seq) as an array in *list_p (caller
//  owns).
int hpt_store_job_list (hpt_store_t *self, json_t **list_p, hpt_error_t *error);

//  -------------------------------------------------------------- trials

//  Stores a new trial of an existing job. HPT_E_EXISTS when the id is
//  taken, HPT_E_NOT_FOUND when the job does not exist.
int hpt_store_trial_insert (hpt_store_t *self, const hpt_store_trial_t *trial, hpt_error_t *error);

//  Writes the mutable fields of a trial (see hpt_store_trial_t).
int hpt_store_trial_update (hpt_store_t *self, const hpt_store_trial_t *trial, hpt_error_t *error);

//  One trial as an object in *trial_p (caller owns).
int hpt_store_trial_get (hpt_store_t *self, const char *job_id, int64_t trial_id, json_t **trial_p,
                         hpt_error_t *error);

//  The trials of a job ordered by trial_id, as an array in *list_p
//  (caller owns); empty when the job has none or does not exist.
int hpt_store_trials_of_job (hpt_store_t *self, const char *job_id, json_t **list_p,
                             hpt_error_t *error);

//  --------------------------------------------------------------- tasks

//  Stores a new task of an existing trial, or, when a task with that id
//  is already stored, updates it (a task placed again after a failed
//  placement keeps its row). HPT_E_NOT_FOUND when the trial does not
//  exist.
int hpt_store_task_put (hpt_store_t *self, const hpt_store_task_t *task, hpt_error_t *error);

//  One task as an object in *task_p (caller owns).
int hpt_store_task_get (hpt_store_t *self, const char *task_id, json_t **task_p,
                        hpt_error_t *error);

//  The tasks of a trial ordered by replica type, index and attempt, as an
//  array in *list_p (caller owns).
int hpt_store_task_of_trial (hpt_store_t *self, const char *job_id, int64_t trial_id,
                             json_t **list_p, hpt_error_t *error);

//  ------------------------------------------------------------- metrics

//  Appends count points (a savepoint inside the transaction). A point
//  already stored (same job, trial, task, tag, step, time and value) is
//  skipped, so replayed batches never duplicate. The number of points
//  actually added is written to *stored_p when not NULL.
int hpt_store_metrics_append (hpt_store_t *self, const hpt_store_metric_t *points, size_t count,
                              size_t *stored_p, hpt_error_t *error);

//  The metric points of a trial (of one tag when tag is not NULL),
//  ordered by tag, step and time, as an array of objects {task_id, tag,
//  step, value, time} in *list_p (caller owns).
int hpt_store_metrics_of_trial (hpt_store_t *self, const char *job_id, int64_t trial_id,
                                const char *tag, json_t **list_p, hpt_error_t *error);

//  The last count points of tag (required) of a trial, of one task when
//  task_id is not NULL, oldest first (by step, then time), as for
//  metrics_of_trial: the end of a curve. It is read backwards along the
//  primary key, so it costs the points returned (and other tasks' points
//  of the tag among them), not every point of the trial.
int hpt_store_metrics_last (hpt_store_t *self, const char *job_id, int64_t trial_id,
                            const char *tag, const char *task_id, size_t count, json_t **list_p,
                            hpt_error_t *error);

//  One page of a trial's points (of one tag when tag is not NULL): at
//  most count, in primary-key order (tag, step, time, value, task_id),
//  starting after the point after (its tag, step, time, value and
//  task_id; NULL: from the first). Keyset paging: a page costs what it
//  returns wherever it starts, and points stored meanwhile never shift
//  it. Rows as for metrics_of_trial; the caller continues after the last
//  row of a full page.
int hpt_store_metrics_page (hpt_store_t *self, const char *job_id, int64_t trial_id,
                            const char *tag, const hpt_store_metric_t *after, size_t count,
                            json_t **list_p, hpt_error_t *error);

//  The tags a trial reported, sorted, as an array of strings in *list_p
//  (caller owns). One index seek per tag, whatever the number of points.
int hpt_store_metric_tags (hpt_store_t *self, const char *job_id, int64_t trial_id, json_t **list_p,
                           hpt_error_t *error);

//  SQLite's virtual-machine steps for the last read that returned rows
//  (sqlite3_stmt_status VM_STEP): lets tests check that a query reads
//  about what it returns rather than a whole table.
uint64_t hpt_store_last_read_steps (hpt_store_t *self);

//  -------------------------------------------------------------- agents

//  A Slurm job hpt submitted for a trial (docs/slurm.md).
typedef struct {
    const char *name;      //  its --job-name, unique
    const char *job_id;    //  the hpt job
    int64_t trial_id;      //  the trial it runs
    const char *slurm_id;  //  Slurm's job id, NULL until sbatch answered
    int64_t tasks;         //  tasks of the trial
    const char *agent_key; //  public key (Z85) of its agents, NULL without CURVE
    const char *state;     //  SUBMITTING, QUEUED, PLACED or ENDING
    int64_t created_ms;    //  when it was stored
} hpt_store_slurm_t;

//  Inserts the Slurm job, or updates its slurm_id and state.
int hpt_store_slurm_put (hpt_store_t *self, const hpt_store_slurm_t *row, hpt_error_t *error);

//  Every Slurm job stored, oldest first.
int hpt_store_slurm_list (hpt_store_t *self, json_t **list_p, hpt_error_t *error);

//  Forgets a Slurm job (once it is gone from Slurm).
int hpt_store_slurm_delete (hpt_store_t *self, const char *name, hpt_error_t *error);

//  Creates the agent or updates its state, last_seen and resources; drain
//  fields and last_acked_seq are kept.
int hpt_store_agent_upsert (hpt_store_t *self, const hpt_store_agent_t *agent, hpt_error_t *error);

//  Sets an agent's drain state; now is drain --now (its tasks are
//  preempted and their trials requeued); reason and by may be NULL; at_ms
//  is when the drain was asked. Going to NONE clears now, reason, by and
//  time.
int hpt_store_agent_set_drain (hpt_store_t *self, const char *name, hpt_drain_state_t drain,
                               bool now, const char *reason, const char *by, int64_t at_ms,
                               hpt_error_t *error);

//  Records the highest agent event seq stored, so events replayed after a
//  restart can be recognised and dropped. Unlike every other column it
//  may go down: HELLO repairs it when the agent lost its spool.
int hpt_store_agent_set_acked_seq (hpt_store_t *self, const char *name, int64_t seq,
                                   hpt_error_t *error);

//  One agent as an object in *agent_p (caller owns).
int hpt_store_agent_get (hpt_store_t *self, const char *name, json_t **agent_p, hpt_error_t *error);

//  Forgets an agent (its tasks keep its name, so the trials' history
//  stays). HPT_E_NOT_FOUND when there is none.
int hpt_store_agent_delete (hpt_store_t *self, const char *name, hpt_error_t *error);

//  --------------------------------------------------------------- users

//  Creates a user, or gives an existing one a new role and token (the old
//  token stops working); revoked is cleared. Only the token's hash is
//  ever stored.
int hpt_store_user_put (hpt_store_t *self, const char *name, hpt_role_t role,
                        const char *token_hash, int64_t created_ms, hpt_error_t *error);

//  Revokes a user's token. HPT_E_NOT_FOUND when there is no such user.
int hpt_store_user_revoke (hpt_store_t *self, const char *name, hpt_error_t *error);

//  The user {name, role} whose unrevoked token hashes to token_hash, in
//  *user_p (caller owns); HPT_E_NOT_FOUND when none.
int hpt_store_user_by_token (hpt_store_t *self, const char *token_hash, json_t **user_p,
                             hpt_error_t *error);

//  Every user {name, role, created, revoked} ordered by name (no hashes).
int hpt_store_user_list (hpt_store_t *self, json_t **list_p, hpt_error_t *error);

//  --------------------------------------------------------------- audit

//  Appends an entry to the audit trail.
int hpt_store_audit_append (hpt_store_t *self, const hpt_store_audit_t *entry, hpt_error_t *error);

//  At most limit entries with id > after_id, oldest first (objects with
//  the columns id, time, user, method, route, target, status).
int hpt_store_audit_list (hpt_store_t *self, int64_t after_id, int64_t limit, json_t **list_p,
                          hpt_error_t *error);

//  Every agent ordered by name, as an array in *list_p (caller owns).
int hpt_store_agent_list (hpt_store_t *self, json_t **list_p, hpt_error_t *error);

#endif
