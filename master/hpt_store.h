/*  hpt_store -- the master's durable state: jobs, trials, tasks, metrics
    and agents in one SQLite database (WAL)

    The core loop owns all state in memory and writes every change here
    before it acts on it or acknowledges it (see the comment at the top of
    hpt_store.c for the schema and the durability rule). After a restart the
    core rebuilds its memory from the list functions below.

    Conventions of every function:
    - Returns an int: HPT_STORE_OK (0), HPT_STORE_NOT_FOUND (no such row),
      HPT_STORE_EXISTS (a row with that key is already there), or
      HPT_STORE_ERROR (-1) with the reason in hpt_store_error (self). Nothing
      aborts; bad arguments are errors too.
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

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HPT_STORE_OK 0
#define HPT_STORE_ERROR -1
#define HPT_STORE_NOT_FOUND 1
#define HPT_STORE_EXISTS 2

//  The schema version this build writes (PRAGMA user_version).
#define HPT_STORE_SCHEMA_VERSION 2

typedef struct _hpt_store_t hpt_store_t;

//  A job as submitted. Used by hpt_store_job_insert.
typedef struct {
    const char *job_id;        //  REST jobId, required
    const char *project;       //  the {p} of /v1/projects/{p}/jobs, required
    const char *spec_json;     //  canonical Job JSON as submitted, required
    const char *state;         //  a job state (QUEUED, ...), required
    const char *error_message; //  may be NULL
    int64_t seq;               //  submission order; 0 = next free (job_next_seq)
    int64_t create_time;       //  epoch ms
    int64_t start_time;        //  epoch ms, 0 = not started
    int64_t end_time;          //  epoch ms, 0 = not ended
    int64_t seed;              //  the job's optimizer seed (>= 0)
    int64_t priority;          //  scheduling.priority
    const char *resumed_from;  //  resumePreviousJobId, or NULL
} hpt_store_job_t;

//  A trial: all of its columns. Insert writes every field; update writes
//  every mutable field (all but job_id, trial_id, values and
//  hyperparameters), so the caller passes the trial's whole current state.
typedef struct {
    const char *job_id;               //  required
    int64_t trial_id;                 //  1, 2, ... within the job
    const char *state;                //  a trial state (PENDING, ...)
    const char *values_json;          //  JSON array of the optimizer's doubles
    const char *hyperparameters_json; //  JSON object name -> string
    bool has_final;                   //  final_step/final_value are set
    int64_t final_step;               //  finalMetric.trainingStep
    double final_value;               //  finalMetric.objectiveValue
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
//  replica_type, replica_index). A task counts as running (for
//  hpt_store_task_running_on_agent) until its end_time is set.
typedef struct {
    const char *task_id;        //  e.g. "JOB/7/master/0", required
    const char *job_id;         //  required
    int64_t trial_id;           //  required
    const char *replica_type;   //  master, worker, ps, evaluator
    int64_t replica_index;      //  0, 1, ...
    const char *agent;          //  agent name, or NULL while unplaced
    const char *state;          //  the core's task state, required
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
    const char *state;          //  the core's agent state (CONNECTED, LOST, ...)
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
//  no lock) for tests of other classes. On failure returns NULL and, when
//  error is not NULL, sets *error to a fresh message the caller frees.
hpt_store_t *hpt_store_new (const char *path, char **error);

//  Closes the database and nulls the pointer.
void hpt_store_destroy (hpt_store_t **self_p);

//  The reason of the last HPT_STORE_ERROR (borrowed; "" when none).
const char *hpt_store_error (hpt_store_t *self);

//  The database's schema version (PRAGMA user_version), or -1.
int hpt_store_schema_version (hpt_store_t *self);

//  Groups the following changes in one transaction (BEGIN IMMEDIATE).
//  Transactions do not nest; functions that write several rows use
//  savepoints, so they work inside or outside one.
int hpt_store_begin (hpt_store_t *self);

//  Commits the transaction opened by hpt_store_begin; once it returns OK
//  the changes survive a crash of the process.
int hpt_store_commit (hpt_store_t *self);

//  Abandons the transaction opened by hpt_store_begin.
int hpt_store_rollback (hpt_store_t *self);

//  ---------------------------------------------------------------- jobs

//  Stores a new job. When job->seq is 0 it gets the next free seq. The
//  seq stored is written to *seq_p when seq_p is not NULL. Returns
//  HPT_STORE_EXISTS when the job id is taken.
int hpt_store_job_insert (hpt_store_t *self, const hpt_store_job_t *job, int64_t *seq_p);

//  The next free submission seq (1 for an empty store) in *seq_p.
int hpt_store_job_next_seq (hpt_store_t *self, int64_t *seq_p);

//  Sets a job's state. message, when not NULL, replaces error_message.
//  time_ms is recorded as start_time the first time the job enters
//  PREPARING or RUNNING, and as end_time when it enters SUCCEEDED, FAILED
//  or CANCELLED. Unknown state names are an error.
int hpt_store_job_set_state (hpt_store_t *self, const char *job_id, const char *state,
                             const char *message, int64_t time_ms);

//  One job as an object with the columns of table jobs in *job_p (caller
//  owns).
int hpt_store_job_get (hpt_store_t *self, const char *job_id, json_t **job_p);

//  Jobs in submission order (seq) as an array in *list_p (caller owns).
//  Each filter is optional (NULL): project equal, job_id starting with
//  prefix (plain text, no wildcards), state equal.
int hpt_store_job_list (hpt_store_t *self, const char *project, const char *prefix,
                        const char *state, json_t **list_p);

//  -------------------------------------------------------------- trials

//  Stores a new trial of an existing job. HPT_STORE_EXISTS when the id is
//  taken, HPT_STORE_NOT_FOUND when the job does not exist.
int hpt_store_trial_insert (hpt_store_t *self, const hpt_store_trial_t *trial);

//  Writes the mutable fields of a trial (see hpt_store_trial_t).
int hpt_store_trial_update (hpt_store_t *self, const hpt_store_trial_t *trial);

//  One trial as an object in *trial_p (caller owns).
int hpt_store_trial_get (hpt_store_t *self, const char *job_id, int64_t trial_id, json_t **trial_p);

//  The trials of a job ordered by trial_id, as an array in *list_p
//  (caller owns); empty when the job has none or does not exist.
int hpt_store_trials_of_job (hpt_store_t *self, const char *job_id, json_t **list_p);

//  --------------------------------------------------------------- tasks

//  Stores a new task of an existing trial. HPT_STORE_EXISTS when the
//  task id is taken, HPT_STORE_NOT_FOUND when the trial does not exist.
int hpt_store_task_insert (hpt_store_t *self, const hpt_store_task_t *task);

//  Writes the mutable fields of a task (see hpt_store_task_t).
int hpt_store_task_update (hpt_store_t *self, const hpt_store_task_t *task);

//  One task as an object in *task_p (caller owns).
int hpt_store_task_get (hpt_store_t *self, const char *task_id, json_t **task_p);

//  The tasks of a trial ordered by replica type, index and attempt, as an
//  array in *list_p (caller owns).
int hpt_store_task_of_trial (hpt_store_t *self, const char *job_id, int64_t trial_id,
                             json_t **list_p);

//  The tasks placed on an agent that have not ended (end_time unset),
//  ordered by task_id, as an array in *list_p (caller owns).
int hpt_store_task_running_on_agent (hpt_store_t *self, const char *agent, json_t **list_p);

//  ------------------------------------------------------------- metrics

//  Appends count points in one transaction (a savepoint inside the
//  caller's transaction, if any). A point already stored (same job,
//  trial, task, tag, step, time and value) is skipped, so replayed
//  batches never duplicate. The number of points actually added is
//  written to *stored_p when not NULL. All or nothing: on error no point
//  of the batch is stored.
int hpt_store_metrics_append (hpt_store_t *self, const hpt_store_metric_t *points, size_t count,
                              size_t *stored_p);

//  The metric points of a trial (of one tag when tag is not NULL),
//  ordered by tag, step and time, as an array of objects {task_id, tag,
//  step, value, time} in *list_p (caller owns).
int hpt_store_metrics_of_trial (hpt_store_t *self, const char *job_id, int64_t trial_id,
                                const char *tag, json_t **list_p);

//  -------------------------------------------------------------- agents

//  Creates the agent or updates its state, last_seen and resources; drain
//  fields and last_acked_seq are kept.
int hpt_store_agent_upsert (hpt_store_t *self, const hpt_store_agent_t *agent);

//  Sets an agent's drain state: drain_state is NONE, DRAINING or
//  DRAINED; now is drain --now (its tasks are preempted and their trials
//  requeued); reason and by may be NULL; at_ms is when the drain was
//  asked. Going to NONE clears now, reason, by and time.
int hpt_store_agent_set_drain (hpt_store_t *self, const char *name, const char *drain_state,
                               bool now, const char *reason, const char *by, int64_t at_ms);

//  Records the highest agent event seq stored (never lowers it), so
//  events replayed after a restart can be recognised and dropped.
int hpt_store_agent_set_acked_seq (hpt_store_t *self, const char *name, int64_t seq);

//  One agent as an object in *agent_p (caller owns).
int hpt_store_agent_get (hpt_store_t *self, const char *name, json_t **agent_p);

//  Every agent ordered by name, as an array in *list_p (caller owns).
int hpt_store_agent_list (hpt_store_t *self, json_t **list_p);

#endif
