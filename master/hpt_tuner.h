/*  hpt_tuner -- one hyperparameter-tuning job at run time

    The master's core keeps one tuner per job that is not finished. A tuner
    owns the job's spec, its parameter space and optimizer, and its trials
    with their tasks (one task per replica of the trial's cluster). It
    implements the job and trial state machines of docs/lifecycle.md and the
    failure rules, and renders the Job resource with trainingOutput for the
    API. It knows nothing of sockets or agents: the core places tasks and
    talks to agents, then tells the tuner what happened; the tuner says
    what to do next (which tasks to stop, whether the job is over).

    Every change is written to the store, inside the transaction the core
    has open, before the function that made it returns; the core acts on
    it only once the transaction is committed. A write that fails fails
    the transaction (hpt_store.h): the function returns -1 and the core,
    whose commit then fails, rebuilds the tuner from the store
    (hpt_tuner_load), so memory never keeps what the store lost. The
    states are those of hpt_states.h.
*/
#ifndef HPT_TUNER_H_INCLUDED
#define HPT_TUNER_H_INCLUDED

#include "hpt_gpu_idle.h"
#include "hpt_job.h"
#include "hpt_optimizer.h"
#include "hpt_space.h"
#include "hpt_states.h"
#include "hpt_stopping.h"
#include "hpt_store.h"
#include "hpt_suggester.h"
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

//  What one replica of a trial cluster asks for (same for every trial of
//  a job).
typedef struct {
    char *replica;      //  "master", "worker", "ps" or "evaluator"
    int index;          //  index within its replica type
    char *machine_type; //  machine type name
    double cpus;        //  CPUs requested
    int64_t memory_mb;  //  memory requested
    char *accel_type;   //  accelerator type, NULL for none
    int accel_count;    //  accelerators requested
    char *image;        //  the container image it runs in, NULL for a process
} hpt_task_request_t;

typedef struct {
    char *task_id;                     //  "JOB/TRIAL/REPLICA/INDEX"
    const hpt_task_request_t *request; //  the job's request (borrowed)
    char *agent;                       //  agent it runs on, NULL before placement
    json_t *placement;                 //  what the scheduler reserved (cores, gpus, port);
                                       //  NULL once exited in a finished job (it is stored)
    hpt_task_state_t state;            //  lifecycle
    int64_t pid;                       //  0 until started
    bool has_exit;                     //  exit_code/signal are set
    int exit_code;                     //  exit status
    int signal;                        //  killing signal, 0 if none
    int64_t start_time;                //  epoch ms
    int64_t end_time;                  //  epoch ms, 0 while it may run
    int attempt;                       //  launches of this task so far - 1
} hpt_task_t;

typedef struct {
    int64_t id;               //  1, 2, ... within the job
    hpt_trial_state_t state;  //  lifecycle
    double *values;           //  one per parameter, the optimizer's convention
    char *hyperparameters;    //  {name: string} as the trainer sees them, compact JSON (owned):
                              //  text, not a tree, since every trial of every job keeps it
    bool has_final;           //  a value of the metric tag was reported
    int64_t final_step;       //  step of the last report
    double final_value;       //  value of the last report
    double final_time;        //  report time of the last report (epoch s)
    int64_t reports;          //  objective reports so far (the step when none is given)
    bool stopped_early;       //  ended by early stopping
    bool has_learned;         //  learned_value is set (stopped early, with reports)
    double learned_value;     //  the projected final value the optimizer was told
    char *message;            //  why it failed or stopped
    int64_t start_time;       //  epoch ms
    int64_t end_time;         //  epoch ms
    int64_t requeue_count;    //  times it went back to PENDING
    int observed_state;       //  the state the hooks last saw (-1: none yet)
    int64_t observed_since;   //  when it entered that state (epoch ms)
    hpt_task_t *tasks;        //  one per request, same order
    size_t task_count;        //  number of tasks
    char *slurm_job_id;       //  the Slurm job it runs in (hptSlurmJobId), NULL when none
    char *slurm_reason;       //  why that job is pending in Slurm, NULL when it is not
    hpt_gpu_idle_t *gpu_idle; //  its GPUs' idle runs (owned), NULL before a sample
    uint64_t version;         //  moves with every change of what its JSON shows
    char *text;               //  its JSON as nested in the Job (owned), NULL: none kept
    uint64_t text_version;    //  the version text renders
} hpt_trial_t;

typedef struct _hpt_tuner_t hpt_tuner_t;

//  What a tuner tells its owner for metrics and the log (all optional):
//  every change of a trial's state as it is stored (from: the state
//  before, -1 for a new trial; since_ms: when the trial entered from),
//  and how long each suggestion of its optimizer took.
typedef struct {
    void *arg; //  passed back
    void (*trial_changed) (void *arg, hpt_tuner_t *tuner, const hpt_trial_t *trial, int from,
                           int64_t since_ms);
    void (*suggested) (void *arg, hpt_tuner_t *tuner, double seconds);
} hpt_tuner_hooks_t;

//  Creates the tuner of a new job and stores the job (QUEUED). spec is the
//  validated job (ownership passes to the tuner); requests (ownership
//  passes too) are the tasks of one trial cluster; created_by is the API
//  user who submitted it (NULL: none, e.g. before users existed). On a
//  store error returns NULL with *error and frees spec and requests.
hpt_tuner_t *hpt_tuner_new (hpt_store_t *store, hpt_job_t *spec, const char *project,
                            const char *created_by, hpt_task_request_t *requests,
                            size_t request_count, uint64_t seed, int64_t now_ms,
                            hpt_error_t *error);

//  Sets the hooks (copied; NULL: none). Trials loaded from the store
//  count as seen in their stored state.
void hpt_tuner_set_hooks (hpt_tuner_t *self, const hpt_tuner_hooks_t *hooks);

//  Who submitted the job (borrowed), or NULL.
const char *hpt_tuner_owner (hpt_tuner_t *self);

//  Rebuilds a tuner from the store (job row, its trials and tasks): after
//  a restart, and after a failed commit. spec and requests as for new.
//  Returns NULL with *error on a store error (spec and requests freed).
hpt_tuner_t *hpt_tuner_load (hpt_store_t *store, json_t *job_row, hpt_job_t *spec,
                             hpt_task_request_t *requests, size_t request_count,
                             hpt_error_t *error);

//  Destroys the tuner and nulls the pointer.
void hpt_tuner_destroy (hpt_tuner_t **self_p);

const char *hpt_tuner_id (hpt_tuner_t *self);
const char *hpt_tuner_project (hpt_tuner_t *self);
hpt_job_state_t hpt_tuner_state (hpt_tuner_t *self);
hpt_job_t *hpt_tuner_spec (hpt_tuner_t *self);
int64_t hpt_tuner_seq (hpt_tuner_t *self);
int64_t hpt_tuner_priority (hpt_tuner_t *self);
bool hpt_tuner_finished (hpt_tuner_t *self);

//  The tasks one trial needs (borrowed).
const hpt_task_request_t *hpt_tuner_requests (hpt_tuner_t *self, size_t *count);

//  Trials (borrowed; the pointers stay valid until the tuner is destroyed
//  or evicted, so the core may keep them in indexes). An evicted tuner
//  has none in memory.
size_t hpt_tuner_trial_count (hpt_tuner_t *self);
hpt_trial_t *hpt_tuner_trial (hpt_tuner_t *self, size_t i);

//  Adds the job's trials to by_state (HPT_TRIAL_CANCELLED + 1 counts),
//  evicted or not.
void hpt_tuner_count_trials (hpt_tuner_t *self, double *by_state);

//  Eviction. A finished job whose trials have all ended, whose tasks have
//  all exited and whose model the suggester was told to forget is
//  evictable: hpt_tuner_evict frees its trials (and their optimizer,
//  early-stopping state and space), keeping what the Job shows without
//  them (hpt_tuner_to_json without trials, hpt_tuner_count_trials). The
//  owner must drop every pointer to its trials and tasks first.
//  hpt_tuner_readmit reads them back from the store, as hpt_tuner_load
//  does; the version stays (nothing it shows changed). -1 with *error
//  when the store cannot be read (it stays evicted).
bool hpt_tuner_evictable (hpt_tuner_t *self);
void hpt_tuner_evict (hpt_tuner_t *self);
bool hpt_tuner_evicted (hpt_tuner_t *self);
int hpt_tuner_readmit (hpt_tuner_t *self, hpt_store_t *store, hpt_error_t *error);

//  When its owner last needed its trials (any clock; the eviction order).
int64_t hpt_tuner_used (hpt_tuner_t *self);
void hpt_tuner_set_used (hpt_tuner_t *self, int64_t when);

//  The store transaction (hpt_store_transaction_id) the tuner last wrote
//  in: after a failed commit, the core rebuilds the tuners that wrote in
//  it.
uint64_t hpt_tuner_written_in (hpt_tuner_t *self);

//  Replaces the job's labels with patch's (a jobs.patch; patch keeps
//  none): stored with the spec first, then changed in memory. -1 with
//  *error when the store refuses (nothing changed).
int hpt_tuner_set_labels (hpt_tuner_t *self, hpt_store_t *store, hpt_job_t *patch,
                          hpt_error_t *error);

//  Why the job waits (shown by describe), or NULL. Copied.
void hpt_tuner_set_queue_reason (hpt_tuner_t *self, const char *reason);

//  The Slurm job a trial runs in and why it is pending there (either may
//  be NULL): shown as hptSlurmJobId and hptSlurmPendingReason. Kept in
//  memory only (the store's slurm_jobs rows are the truth; hpt_slurm sets
//  them again from those).
void hpt_tuner_set_trial_slurm (hpt_tuner_t *self, hpt_trial_t *trial, const char *job_id,
                                const char *reason);

//  The trial that should be placed next: a PENDING trial (requeued, or
//  created by hpt_tuner_answer), or, for a job without parameters (no
//  optimizer), a new one when the job may start another (in flight <
//  maxParallelTrials, created < maxTrials), stored PENDING; NULL when
//  none (or on a store error). A job with parameters gets new trials only
//  through hpt_tuner_ask and hpt_tuner_answer.
hpt_trial_t *hpt_tuner_next_trial (hpt_tuner_t *self, hpt_store_t *store);

//  Most suggestions one request asks for: one refit serves them all, but
//  each is suggested without the results that come in meanwhile, and a
//  large batch holds the answers of the other jobs.
#define HPT_TUNER_BATCH_MAX 64

//  How many new trials the job asks for now: min(maxParallelTrials - in
//  flight, maxTrials - created, max(1, in flight), HPT_TUNER_BATCH_MAX);
//  0 for a job without parameters, one that is finished, cancelling or
//  exhausted, while a trial waits PENDING (the cluster is full: a
//  suggestion made now would only go stale), and while a request of the
//  job is outstanding. Asking for at most as many as are in flight (all
//  placed, since none waits) makes batches double while the cluster takes
//  every trial, and keeps them about one batch ahead of the capacity to
//  run them; it depends on the stored trials alone, so a master restarted
//  from the store asks the same question.
size_t hpt_tuner_wanted (hpt_tuner_t *self);

//  A request for count suggestions (1 <= count <= wanted): a snapshot of
//  the optimizer's history with a copy of the space, numbered from a
//  process-wide counter. The tuner notes it as outstanding; it stays so
//  until its answer comes. Caller owns; NULL when nothing is wanted.
hpt_suggest_request_t *hpt_tuner_ask (hpt_tuner_t *self, size_t count);

//  Whether a request of the job is outstanding.
bool hpt_tuner_asking (hpt_tuner_t *self);

//  True once, for a finished job that asked for suggestions since this
//  tuner was built: the suggester may hold its model, and should drop it.
bool hpt_tuner_forget_model (hpt_tuner_t *self);

//  The answer to a request (borrowed): its suggestions become new trials,
//  stored PENDING in this order (at most as many as the job may still
//  start), and are told to the optimizer as pending. An answer to
//  another request than the outstanding one (one sent before a failed
//  commit rebuilt the tuner), or that comes when the job is finished or
//  cancelling, is dropped: no trial. Fewer suggestions than asked means
//  the space is used up: the job ends when its trials in flight do.
//  Returns the trials created, or -1 on a store error.
int hpt_tuner_answer (hpt_tuner_t *self, hpt_store_t *store, const hpt_suggest_answer_t *answer,
                      int64_t now_ms);

//  Records that every task of trial was placed (task->agent and placement
//  set by the core) and is about to be launched: the trial becomes
//  PROVISIONING and its tasks are stored.
int hpt_tuner_trial_placed (hpt_tuner_t *self, hpt_store_t *store, hpt_trial_t *trial,
                            int64_t now_ms);

//  A task's process started (start_ms: when, as its agent saw it).
int hpt_tuner_task_started (hpt_tuner_t *self, hpt_store_t *store, hpt_trial_t *trial,
                            hpt_task_t *task, int64_t pid, int64_t start_ms, int64_t now_ms);

//  One metric point as a task reported it: step < 0 when the trainer gave
//  none, time in epoch seconds.
typedef struct {
    const char *tag; //  borrowed
    double value;    //  may be non-finite
    int64_t step;    //  the trainer's step, or -1
    double time;     //  epoch seconds
} hpt_tuner_point_t;

//  A batch of metric points of a task: stores the points and, when they
//  move the objective (the master replica's, or evaluator 0's with
//  metricCollector.replica, points of the job's metric tag), the trial's
//  final metric and report count, in the same transaction. A point
//  without a step gets the trial's report count + 1. When early stopping
//  says the trial should stop now, *stop_reason gets the reason (a fresh
//  string the caller frees) and the caller calls hpt_tuner_stop_early.
int hpt_tuner_report (hpt_tuner_t *self, hpt_store_t *store, hpt_trial_t *trial, hpt_task_t *task,
                      const hpt_tuner_point_t *points, size_t count, char **stop_reason);

//  Stops a running trial early: STOPPING (its tasks to stop go into
//  *to_stop as for task_exited), then SUCCEEDED with isTrialStoppedEarly
//  once they are gone, its last report as finalMetric.
int hpt_tuner_stop_early (hpt_tuner_t *self, hpt_store_t *store, hpt_trial_t *trial,
                          const char *reason, int64_t now_ms, hpt_task_t ***to_stop,
                          size_t *stop_count);

//  How a task ended.
typedef struct {
    int exit_code;           //  exit status; -1 when killed or never started
    int signal;              //  the signal that killed it, 0 if none
    const char *reason;      //  the agent's or the master's explanation, or NULL
    int64_t end_ms;          //  when, by its agent's clock (0: now)
    bool core_dumped;        //  the signal made it dump core
    const char *stderr_tail; //  the last lines of its stderr, "\n"-separated, or NULL
} hpt_task_exit_t;

//  A task ended. Decides the trial (docs/lifecycle.md) and the job. Writes
//  every task that must now be stopped (siblings of a failed task,
//  workers and parameter servers once the master is done) into *to_stop
//  (an array the caller frees, of borrowed task pointers) and their count
//  into *stop_count.
int hpt_tuner_task_exited (hpt_tuner_t *self, hpt_store_t *store, hpt_trial_t *trial,
                           hpt_task_t *task, const hpt_task_exit_t *exit, int64_t now_ms,
                           hpt_task_t ***to_stop, size_t *stop_count);

//  Puts a trial whose tasks were lost back to PENDING to be placed again
//  (drain --now, agent lost with the requeue policy); not counted failed.
int hpt_tuner_requeue_trial (hpt_tuner_t *self, hpt_store_t *store, hpt_trial_t *trial,
                             const char *reason, int64_t now_ms);

//  Cancels the job: CANCELLING while tasks run, then CANCELLED, with
//  message as its errorMessage (the user's cancel, or why a time limit
//  cancelled it). Tasks to stop as for task_exited. A job already
//  finished is refused with HPT_E_FAILED_PRECONDITION.
int hpt_tuner_cancel (hpt_tuner_t *self, hpt_store_t *store, const char *message, int64_t now_ms,
                      hpt_task_t ***to_stop, size_t *stop_count, hpt_error_t *error);

//  Seeds the optimizer with the finished trials of previous (a job this
//  one resumes): their results are known before the first suggestion.
//  Parameters are matched by name; trials whose values do not fit this
//  job's space are skipped.
void hpt_tuner_seed_from (hpt_tuner_t *self, hpt_tuner_t *previous);

//  When the job was created and when it started (PREPARING), epoch ms;
//  0 when it has not started.
int64_t hpt_tuner_create_time (hpt_tuner_t *self);
int64_t hpt_tuner_start_time (hpt_tuner_t *self);

//  Fails the job with message (e.g. nothing can ever fit it), stopping its
//  tasks as cancel does.
int hpt_tuner_fail (hpt_tuner_t *self, hpt_store_t *store, const char *message, int64_t now_ms,
                    hpt_task_t ***to_stop, size_t *stop_count);

//  Points of the objective a trial's allMetrics shows at most: the last
//  ones. A trial with more says "hptMetricsTruncated": true, and the
//  metrics route (GET .../trials/T/metrics) pages through all of them.
#define HPT_TUNER_ALL_METRICS 1000

//  The Job resource (docs/lifecycle.md): spec fields, state, times,
//  errorMessage, etag, trainingOutput with trials best first. allMetrics
//  (the last HPT_TUNER_ALL_METRICS points of the objective of each
//  trial) come from the store, a bounded read per trial. The caller owns
//  the result. *complete (when not NULL) is set false when the store could
//  not be read (some allMetrics are then empty): such a resource must not
//  be cached as the job's current version. With trials, the tuner must
//  not be evicted.
json_t *hpt_tuner_to_json (hpt_tuner_t *self, hpt_store_t *store, bool with_trials, bool *complete);

//  The Job resource's text with its trials, byte for byte what the pretty
//  hpt_json_dumps of hpt_tuner_to_json (with trials) prints. frame is the
//  resource hpt_tuner_to_json gave without trials, possibly edited
//  (borrowed; left as it was). While the job runs each trial's text is
//  kept and rendered again only when the trial changed, so a GET of a
//  large running job costs its changed trials, not all of them; a
//  finished job keeps none (its whole text is cached by version). Sets
//  *complete as hpt_tuner_to_json does. The caller frees the text. The
//  tuner must not be evicted.
char *hpt_tuner_job_text (hpt_tuner_t *self, hpt_store_t *store, json_t *frame, bool *complete);

//  The version of the Job resource: it changes whenever anything the
//  resource shows changes (every store write of the tuner, the queue
//  reason), never goes back, and is never reused for other content, not
//  by a tuner rebuilt from the store nor by a restarted master. Equal
//  versions of a job mean equal resources, so the API caches the
//  rendered resource by it.
uint64_t hpt_tuner_version (hpt_tuner_t *self);

//  The version as the Job's etag (base64 of its 8 bytes, as Google's
//  etags are base64) into buf (at least 16 bytes).
void hpt_tuner_etag (hpt_tuner_t *self, char *buf, size_t size);

//  Formats epoch milliseconds as RFC 3339 UTC ("2026-11-29T03:04:42.123Z")
//  into buf (at least 32 bytes); returns buf.
char *hpt_time_format (int64_t ms, char *buf, size_t size);

//  One trial as trainingOutput.trials shows it (caller owns).
json_t *hpt_tuner_trial_to_json (hpt_tuner_t *self, hpt_store_t *store, hpt_trial_t *trial);

//  What the console's insights read (hpt_insight.h), all borrowed: the
//  optimizer and the parameter space (NULL for a job without
//  parameters), the early-stopping rules (NULL when off), the objective's
//  metric tag, and the task whose reports are a trial's objective (NULL
//  before placement).
hpt_optimizer_t *hpt_tuner_optimizer (hpt_tuner_t *self);
hpt_space_t *hpt_tuner_space (hpt_tuner_t *self);
hpt_stopping_t *hpt_tuner_stopping (hpt_tuner_t *self);
const char *hpt_tuner_metric_tag (hpt_tuner_t *self);
const char *hpt_tuner_objective_task (hpt_tuner_t *self, hpt_trial_t *trial);

//  Frees an array of task requests.
void hpt_task_requests_destroy (hpt_task_request_t **requests_p, size_t count);

#endif
