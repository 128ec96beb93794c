/*  hpt_tuner -- one hyperparameter-tuning job at run time

    Counting rules (docs/lifecycle.md, README "Job lifecycle"):
    - A trial is "in flight" while PENDING, PROVISIONING, RUNNING or
      STOPPING; at most maxParallelTrials are in flight.
    - A job creates at most maxTrials trials; it SUCCEEDED when none is in
      flight and either maxTrials were created or the optimizer has
      nothing left (an exhausted grid), provided at least one trial
      succeeded (otherwise it FAILED: nothing to report).
    - maxFailedTrials > 0: the job fails once that many trials failed.
      maxFailedTrials = 0 (service decides): the job fails when the first
      trial to finish failed, and later when failed >= 5 and failed > 2 x
      succeeded.
    - A failed or cancelled job stops every running task; its trials still
      in flight end CANCELLED once their tasks are gone.

    Trial outcome: the master replica decides. It exiting 0 after reporting
    the metric tag makes the trial SUCCEEDED; exiting 0 without a report,
    exiting non-zero, or being killed makes it FAILED. Any other replica
    exiting non-zero fails the trial too. When a trial ends, its remaining
    tasks (parameter servers never exit on their own) are stopped.
*/
#include "hpt_tuner.h"
#include "hpt_gpu_idle.h"
#include "hpt_alloc.h"
#include "hpt_base64.h"
#include "hpt_json.h"
#include "hpt_stopping.h"
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct _hpt_tuner_t {
    char *job_id;                 //  the job's id
    char *project;                //  REST project
    char *created_by;             //  the API user who submitted it, or NULL
    hpt_job_t *spec;              //  validated spec, owned
    hpt_hyperparameters_t *hp;    //  spec's hyperparameters (borrowed from spec)
    hpt_space_t *space;           //  parameter space, NULL without params
    hpt_optimizer_t *optimizer;   //  NULL without params
    hpt_stopping_t *stopping;     //  early-stopping rules, NULL when off
    hpt_task_request_t *requests; //  tasks of one trial, owned
    size_t request_count;         //  entries in requests
    hpt_job_state_t state;        //  job state
    char *message;                //  errorMessage
    char *queue_reason;           //  why it waits, for describe
    int64_t seq;                  //  submission order
    int64_t seed;                 //  optimizer seed
    int64_t priority;             //  scheduling.priority
    int64_t create_time;          //  epoch ms
    int64_t start_time;           //  epoch ms
    int64_t end_time;             //  epoch ms
    hpt_trial_t **trials;         //  by id - 1, owned
    size_t trial_count;           //  trials created
    size_t trial_cap;             //  allocated slots
    bool exhausted;               //  the optimizer has nothing left
    uint64_t asking;              //  the outstanding suggestion request's number, 0: none
    bool asked;                   //  it asked the suggester, which may hold its model
    bool any_finished;            //  a trial has finished (first-trial rule)
    uint64_t written_in;          //  the store transaction it last wrote in
    uint64_t version;             //  changes with every change of the Job resource
    hpt_tuner_hooks_t hooks;      //  the owner's metrics and log hooks
    json_t *evicted;              //  evicted: its trials' summary (s_trial_summary), else NULL
    int64_t used;                 //  when the core last needed its trials (eviction order)
    //  evicted: its trials by state
    size_t evicted_states[HPT_TRIAL_CANCELLED + 1];
};

//  Versions (hpt_tuner_version) come from one counter for the process
//  that starts at the wall clock in microseconds and takes the clock's
//  value whenever that is ahead. So a tuner rebuilt after a failed commit,
//  or by a restarted master, never reuses a number a client may hold as
//  an etag for other content: that would take more than one change per
//  microsecond, sustained. The tuners live in the core's thread only.
static uint64_t s_last_version;

static uint64_t
s_next_version (void)
{
    struct timespec now;
    clock_gettime (CLOCK_REALTIME, &now);
    uint64_t us = (uint64_t)now.tv_sec * 1000000u + (uint64_t)now.tv_nsec / 1000u;
    s_last_version = us > s_last_version ? us : s_last_version + 1;
    return s_last_version;
}

//  Every change to what the Job resource shows goes through here (the
//  store writes below, and the queue reason): it records the transaction
//  for failed-commit recovery and moves the version on.
static void
s_changed (hpt_tuner_t *self, hpt_store_t *store)
{
    if (store) self->written_in = hpt_store_transaction_id (store);
    self->version = s_next_version ();
}

//  Every change to what a trial's JSON shows goes through here too (its
//  store writes and its Slurm fields): its kept text is then stale.
static void
s_trial_changed (hpt_tuner_t *self, hpt_store_t *store, hpt_trial_t *trial)
{
    s_changed (self, store);
    trial->version = self->version;
}

char *
hpt_time_format (int64_t ms, char *buf, size_t size)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r (&secs, &tm);
    char date[32];
    strftime (date, sizeof (date), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf (buf, size, "%s.%03dZ", date, (int)(ms % 1000));
    return buf;
}

void
hpt_task_requests_destroy (hpt_task_request_t **requests_p, size_t count)
{
    if (!requests_p || !*requests_p) return;
    for (size_t i = 0; i < count; i++) {
        free ((*requests_p)[i].replica);
        free ((*requests_p)[i].machine_type);
        free ((*requests_p)[i].accel_type);
        free ((*requests_p)[i].image);
    }
    free (*requests_p);
    *requests_p = NULL;
}

//  ---------------------------------------------------------------------
//  Construction

static void
s_trial_destroy (hpt_trial_t **trial_p)
{
    hpt_trial_t *trial = *trial_p;
    if (!trial) return;
    free (trial->values);
    free (trial->hyperparameters);
    free (trial->message);
    free (trial->slurm_job_id);
    free (trial->slurm_reason);
    free (trial->text);
    hpt_gpu_idle_destroy (&trial->gpu_idle);
    for (size_t i = 0; i < trial->task_count; i++) {
        free (trial->tasks[i].task_id);
        free (trial->tasks[i].agent);
        json_decref (trial->tasks[i].placement);
    }
    free (trial->tasks);
    free (trial);
    *trial_p = NULL;
}

static hpt_tuner_t *
s_tuner_new (hpt_job_t *spec, const char *project, hpt_task_request_t *requests,
             size_t request_count)
{
    hpt_tuner_t *self = hpt_calloc (1, sizeof (hpt_tuner_t));
    self->job_id = hpt_strdup (spec->job_id);
    self->project = hpt_strdup (project);
    self->spec = spec;
    self->hp = spec->input.hyperparameters;
    self->requests = requests;
    self->request_count = request_count;
    self->priority = spec->input.scheduling.present ? spec->input.scheduling.priority : 0;
    return self;
}

static void
s_tuner_start_optimizer (hpt_tuner_t *self)
{
    if (self->hp && self->hp->param_count) {
        self->space = hpt_space_new (self->hp->params, self->hp->param_count);
        self->optimizer = hpt_optimizer_new (self->space, self->hp->goal, self->hp->algorithm,
                                             (uint64_t)self->seed);
        if (self->optimizer)
            hpt_optimizer_set_budget (self->optimizer, (uint64_t)self->hp->max_trials);
    }
    if (self->hp && self->hp->enable_trial_early_stopping) {
        const hpt_early_stopping_t *es = &self->hp->early_stopping;
        hpt_stop_config_t config;
        hpt_stop_config_defaults (&config, es->rule);
        if (es->min_completed_trials >= 0) config.min_completed_trials = es->min_completed_trials;
        if (es->warmup_steps >= 0) config.warmup_steps = es->warmup_steps;
        if (es->reduction_factor > 0) config.reduction_factor = es->reduction_factor;
        if (es->min_resource >= 0) config.min_resource = es->min_resource;
        if (es->max_resource >= 0) config.max_resource = es->max_resource;
        //  The job reader checks the same rules, so this cannot fail on
        //  a validated spec; say so loudly if it ever does.
        hpt_error_t why;
        if (hpt_stop_config_check (&config, &why) != 0)
            fprintf (stderr, "hptmaster: job %s: early stopping off: %s\n", self->job_id,
                     why.message);
        self->stopping = hpt_stopping_new (&config, self->hp->goal != HPT_GOAL_MINIMIZE);
    }
}

void
hpt_tuner_destroy (hpt_tuner_t **self_p)
{
    if (!self_p || !*self_p) return;
    hpt_tuner_t *self = *self_p;
    for (size_t i = 0; i < self->trial_count; i++)
        s_trial_destroy (&self->trials[i]);
    free (self->trials);
    hpt_optimizer_destroy (&self->optimizer);
    hpt_stopping_destroy (&self->stopping);
    hpt_space_destroy (&self->space);
    hpt_task_requests_destroy (&self->requests, self->request_count);
    hpt_job_destroy (&self->spec);
    json_decref (self->evicted);
    free (self->job_id);
    free (self->project);
    free (self->created_by);
    free (self->message);
    free (self->queue_reason);
    free (self);
    *self_p = NULL;
}

hpt_tuner_t *
hpt_tuner_new (hpt_store_t *store, hpt_job_t *spec, const char *project, const char *created_by,
               hpt_task_request_t *requests, size_t request_count, uint64_t seed, int64_t now_ms,
               hpt_error_t *error)
{
    hpt_tuner_t *self = s_tuner_new (spec, project, requests, request_count);
    self->created_by = created_by ? hpt_strdup (created_by) : NULL;
    self->seed = (int64_t)(seed & INT64_MAX);
    self->create_time = now_ms;
    self->state = HPT_JOB_QUEUED;
    json_t *json = hpt_job_to_json (spec);
    char *text = hpt_json_dumps (json, false);
    json_decref (json);
    hpt_store_job_t row = {
        .job_id = self->job_id,
        .project = project,
        .spec_json = text,
        .state = HPT_JOB_QUEUED,
        .create_time = now_ms,
        .seed = self->seed,
        .priority = self->priority,
        .resumed_from = self->hp ? self->hp->resume_previous_job_id : NULL,
        .created_by = created_by,
    };
    s_changed (self, store);
    int rc = hpt_store_job_insert (store, &row, &self->seq, error);
    free (text);
    if (rc != 0) {
        hpt_tuner_destroy (&self);
        return NULL;
    }
    s_tuner_start_optimizer (self);
    return self;
}

//  ---------------------------------------------------------------------
//  Accessors

const char *
hpt_tuner_id (hpt_tuner_t *self)
{
    return self->job_id;
}
const char *
hpt_tuner_owner (hpt_tuner_t *self)
{
    return self->created_by;
}

const char *
hpt_tuner_project (hpt_tuner_t *self)
{
    return self->project;
}
hpt_job_state_t
hpt_tuner_state (hpt_tuner_t *self)
{
    return self->state;
}
hpt_job_t *
hpt_tuner_spec (hpt_tuner_t *self)
{
    return self->spec;
}
int64_t
hpt_tuner_seq (hpt_tuner_t *self)
{
    return self->seq;
}
int64_t
hpt_tuner_priority (hpt_tuner_t *self)
{
    return self->priority;
}
bool
hpt_tuner_finished (hpt_tuner_t *self)
{
    return hpt_job_state_final (self->state);
}
const hpt_task_request_t *
hpt_tuner_requests (hpt_tuner_t *self, size_t *count)
{
    *count = self->request_count;
    return self->requests;
}
size_t
hpt_tuner_trial_count (hpt_tuner_t *self)
{
    return self->trial_count;
}
hpt_trial_t *
hpt_tuner_trial (hpt_tuner_t *self, size_t i)
{
    return i < self->trial_count ? self->trials[i] : NULL;
}
uint64_t
hpt_tuner_written_in (hpt_tuner_t *self)
{
    return self->written_in;
}

uint64_t
hpt_tuner_version (hpt_tuner_t *self)
{
    return self->version;
}

int
hpt_tuner_set_labels (hpt_tuner_t *self, hpt_store_t *store, hpt_job_t *patch, hpt_error_t *error)
{
    json_t *spec = hpt_job_to_json (self->spec);
    json_t *labels = json_object ();
    for (size_t i = 0; i < patch->label_count; i++)
        json_object_set_new (labels, patch->labels[i].name, json_string (patch->labels[i].value));
    if (patch->label_count)
        json_object_set_new (spec, "labels", labels);
    else {
        json_decref (labels);
        json_object_del (spec, "labels");
    }
    char *text = hpt_json_dumps (spec, false);
    json_decref (spec);
    int rc = hpt_store_job_set_spec (store, self->job_id, text, error);
    free (text);
    if (rc != 0) return -1;
    hpt_job_take_labels (self->spec, patch);
    s_changed (self, store);
    return 0;
}

void
hpt_tuner_set_queue_reason (hpt_tuner_t *self, const char *reason)
{
    bool same = reason && self->queue_reason ? strcmp (reason, self->queue_reason) == 0
                                             : reason == self->queue_reason;
    if (same) return;
    free (self->queue_reason);
    self->queue_reason = reason ? hpt_strdup (reason) : NULL;
    //  Not stored (it is recomputed every scheduling round), but shown.
    s_changed (self, NULL);
}

static bool
s_same_text (const char *a, const char *b)
{
    return a && b ? strcmp (a, b) == 0 : a == b;
}

void
hpt_tuner_set_trial_slurm (hpt_tuner_t *self, hpt_trial_t *trial, const char *job_id,
                           const char *reason)
{
    if (s_same_text (trial->slurm_job_id, job_id) && s_same_text (trial->slurm_reason, reason))
        return;
    free (trial->slurm_job_id);
    free (trial->slurm_reason);
    trial->slurm_job_id = job_id ? hpt_strdup (job_id) : NULL;
    trial->slurm_reason = reason ? hpt_strdup (reason) : NULL;
    s_trial_changed (self, NULL, trial);
}

//  ---------------------------------------------------------------------
//  Store writes

//  A finished job's exited tasks keep no placement in memory: nothing
//  reads it any more but the console's view of a trial, which reads it
//  from the store (hpt_insight), and every trial of every job would
//  otherwise hold a few hundred bytes of it. Their reservations were
//  released when they exited; a task still stopping keeps its own until
//  it exits too.
static void
s_forget_placement (hpt_tuner_t *self, hpt_task_t *task)
{
    if (!hpt_tuner_finished (self) || task->state != HPT_TASK_EXITED) return;
    json_decref (task->placement);
    task->placement = NULL;
}

//  What a finished job's trials need no more: their own texts (the job's
//  text is cached whole, by version) and their exited tasks' placements.
static void
s_trim_finished (hpt_tuner_t *self)
{
    if (!hpt_tuner_finished (self)) return;
    for (size_t i = 0; i < self->trial_count; i++) {
        hpt_trial_t *trial = self->trials[i];
        free (trial->text);
        trial->text = NULL;
        for (size_t k = 0; k < trial->task_count; k++)
            s_forget_placement (self, &trial->tasks[k]);
    }
}

static int
s_set_job_state (hpt_tuner_t *self, hpt_store_t *store, hpt_job_state_t state, const char *message,
                 int64_t now_ms)
{
    if (self->state == state) return 0;
    self->state = state;
    if (message) {
        free (self->message);
        self->message = hpt_strdup (message);
    }
    if ((state == HPT_JOB_PREPARING || state == HPT_JOB_RUNNING) && !self->start_time)
        self->start_time = now_ms;
    if (hpt_tuner_finished (self)) {
        self->end_time = now_ms;
        s_trim_finished (self);
    }
    //  A job that starts may still wait to start more trials; the
    //  scheduler clears the reason once nothing waits.
    if (hpt_tuner_finished (self) || state == HPT_JOB_CANCELLING)
        hpt_tuner_set_queue_reason (self, NULL);
    s_changed (self, store);
    return hpt_store_job_set_state (store, self->job_id, self->state, self->message, now_ms, NULL);
}

static char *
s_values_json (hpt_tuner_t *self, hpt_trial_t *trial)
{
    json_t *array = json_array ();
    size_t dim = self->space ? hpt_space_size (self->space) : 0;
    for (size_t i = 0; i < dim; i++)
        json_array_append_new (array, json_real (trial->values[i]));
    char *text = hpt_json_dumps (array, false);
    json_decref (array);
    return text;
}

static int64_t
s_wall_ms (void)
{
    struct timespec now;
    clock_gettime (CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

void
hpt_tuner_set_hooks (hpt_tuner_t *self, const hpt_tuner_hooks_t *hooks)
{
    self->hooks = hooks ? *hooks : (hpt_tuner_hooks_t){0};
}

//  A stored trial in a state the hooks have not seen: tell them.
static void
s_observe_trial (hpt_tuner_t *self, hpt_trial_t *trial)
{
    if ((int)trial->state == trial->observed_state) return;
    int64_t now = s_wall_ms ();
    if (self->hooks.trial_changed)
        self->hooks.trial_changed (self->hooks.arg, self, trial, trial->observed_state,
                                   trial->observed_since);
    trial->observed_state = (int)trial->state;
    trial->observed_since = now;
}

static int
s_store_trial (hpt_tuner_t *self, hpt_store_t *store, hpt_trial_t *trial, bool insert)
{
    s_trial_changed (self, store, trial);
    s_observe_trial (self, trial);
    char *values = s_values_json (self, trial);
    hpt_store_trial_t row = {
        .job_id = self->job_id,
        .trial_id = trial->id,
        .state = trial->state,
        .values_json = values,
        .hyperparameters_json = trial->hyperparameters,
        .has_final = trial->has_final,
        .final_step = trial->final_step,
        .final_value = trial->final_value,
        .final_time = trial->final_time,
        .report_count = trial->reports,
        .stopped_early = trial->stopped_early,
        .message = trial->message,
        .start_time = trial->start_time,
        .end_time = trial->end_time,
        .requeue_count = trial->requeue_count,
        .has_learned = trial->has_learned,
        .learned_value = trial->learned_value,
    };
    int rc = insert ? hpt_store_trial_insert (store, &row, NULL)
                    : hpt_store_trial_update (store, &row, NULL);
    free (values);
    return rc;
}

static int
s_store_task (hpt_tuner_t *self, hpt_store_t *store, hpt_trial_t *trial, hpt_task_t *task)
{
    s_trial_changed (self, store, trial);
    char *placement = task->placement ? hpt_json_dumps (task->placement, false) : NULL;
    hpt_store_task_t row = {
        .task_id = task->task_id,
        .job_id = self->job_id,
        .trial_id = trial->id,
        .replica_type = task->request->replica,
        .replica_index = task->request->index,
        .agent = task->agent,
        .state = task->state,
        .pid = task->pid,
        .has_exit = task->has_exit,
        .exit_code = task->exit_code,
        .signal = task->signal,
        .start_time = task->start_time,
        .end_time = task->end_time,
        .attempt = task->attempt,
        .placement_json = placement,
    };
    int rc = hpt_store_task_put (store, &row, NULL);
    free (placement);
    s_forget_placement (self, task);
    return rc;
}

//  ---------------------------------------------------------------------
//  Trials

static bool
s_in_flight (hpt_trial_t *trial)
{
    return trial->state == HPT_TRIAL_PENDING || trial->state == HPT_TRIAL_PROVISIONING ||
           trial->state == HPT_TRIAL_RUNNING || trial->state == HPT_TRIAL_STOPPING;
}

static size_t
s_count (hpt_tuner_t *self, hpt_trial_state_t state)
{
    size_t n = 0;
    for (size_t i = 0; i < self->trial_count; i++)
        n += self->trials[i]->state == state;
    return n;
}

static size_t
s_count_in_flight (hpt_tuner_t *self)
{
    size_t n = 0;
    for (size_t i = 0; i < self->trial_count; i++)
        n += s_in_flight (self->trials[i]);
    return n;
}

static int s_check_job (hpt_tuner_t *self, hpt_store_t *store, hpt_trial_t *last, int64_t now_ms,
                        hpt_task_t ***to_stop, size_t *stop_count);

static hpt_trial_t *
s_trial_new (hpt_tuner_t *self, int64_t id, const double *values)
{
    hpt_trial_t *trial = hpt_calloc (1, sizeof (hpt_trial_t));
    trial->id = id;
    trial->observed_state = -1;
    trial->version = s_next_version ();
    size_t dim = self->space ? hpt_space_size (self->space) : 0;
    trial->values = hpt_calloc (dim ? dim : 1, sizeof (double));
    json_t *hyperparameters = json_object ();
    for (size_t i = 0; i < dim; i++) {
        trial->values[i] = hpt_space_snap (self->space, i, values[i]);
        char *text = hpt_space_format (self->space, i, trial->values[i]);
        json_object_set_new (hyperparameters, hpt_space_param (self->space, i)->name,
                             json_string (text));
        free (text);
    }
    trial->hyperparameters = hpt_json_dumps (hyperparameters, false);
    json_decref (hyperparameters);
    trial->task_count = self->request_count;
    trial->tasks = hpt_calloc (self->request_count ? self->request_count : 1, sizeof (hpt_task_t));
    for (size_t i = 0; i < self->request_count; i++) {
        hpt_task_t *task = &trial->tasks[i];
        task->request = &self->requests[i];
        task->task_id = hpt_asprintf ("%s/%" PRId64 "/%s/%d", self->job_id, id,
                                      self->requests[i].replica, self->requests[i].index);
    }
    if (self->trial_count == self->trial_cap) {
        self->trial_cap = self->trial_cap ? self->trial_cap * 2 : 16;
        self->trials = hpt_realloc (self->trials, self->trial_cap * sizeof (hpt_trial_t *));
    }
    self->trials[self->trial_count++] = trial;
    return trial;
}

//  The first PENDING trial, or NULL.
static hpt_trial_t *
s_first_pending (hpt_tuner_t *self)
{
    for (size_t i = 0; i < self->trial_count; i++)
        if (self->trials[i]->state == HPT_TRIAL_PENDING) return self->trials[i];
    return NULL;
}

//  How many more trials the job may create now (parallel and total
//  limits), without asking whether it has their parameters.
static size_t
s_room (hpt_tuner_t *self)
{
    if (hpt_tuner_finished (self) || self->state == HPT_JOB_CANCELLING || self->exhausted) return 0;
    int64_t max_trials = self->hp ? self->hp->max_trials : 1;
    int64_t max_parallel = self->hp ? self->hp->max_parallel_trials : 1;
    int64_t parallel = max_parallel - (int64_t)s_count_in_flight (self);
    int64_t total = max_trials - (int64_t)self->trial_count;
    int64_t room = parallel < total ? parallel : total;
    return room > 0 ? (size_t)room : 0;
}

//  Creates and stores a new PENDING trial with values (the optimizer's
//  convention; NULL for a job without parameters) and tells the
//  optimizer. NULL on a store error.
static hpt_trial_t *
s_create_trial (hpt_tuner_t *self, hpt_store_t *store, const double *values)
{
    static const double none[1] = {0};
    hpt_trial_t *trial = s_trial_new (self, (int64_t)self->trial_count + 1, values ? values : none);
    trial->state = HPT_TRIAL_PENDING;
    if (self->optimizer)
        hpt_optimizer_add_pending (self->optimizer, (uint64_t)trial->id, trial->values);
    return s_store_trial (self, store, trial, true) == 0 ? trial : NULL;
}

hpt_trial_t *
hpt_tuner_next_trial (hpt_tuner_t *self, hpt_store_t *store)
{
    if (hpt_tuner_finished (self) || self->state == HPT_JOB_CANCELLING) return NULL;
    hpt_trial_t *pending = s_first_pending (self);
    if (pending || self->optimizer || s_room (self) == 0) return pending;
    return s_create_trial (self, store, NULL);
}

//  Numbers of suggestion requests, for the process (tuners live in the
//  core's thread only): a tuner rebuilt after a failed commit never takes
//  a number an answer still on its way carries.
static uint64_t s_last_request;

size_t
hpt_tuner_wanted (hpt_tuner_t *self)
{
    if (!self->optimizer || self->asking || s_first_pending (self)) return 0;
    size_t room = s_room (self);
    size_t in_flight = s_count_in_flight (self);
    size_t batch = in_flight < 1 ? 1 : in_flight;
    if (batch > HPT_TUNER_BATCH_MAX) batch = HPT_TUNER_BATCH_MAX;
    return room < batch ? room : batch;
}

hpt_suggest_request_t *
hpt_tuner_ask (hpt_tuner_t *self, size_t count)
{
    size_t wanted = hpt_tuner_wanted (self);
    if (wanted == 0 || count == 0) return NULL;
    hpt_suggest_request_t *request = hpt_calloc (1, sizeof (hpt_suggest_request_t));
    request->job_id = hpt_strdup (self->job_id);
    request->id = ++s_last_request;
    request->space = hpt_space_new (self->hp->params, self->hp->param_count);
    request->history = hpt_optimizer_history (self->optimizer);
    request->count = count < wanted ? count : wanted;
    self->asking = request->id;
    self->asked = true;
    return request;
}

bool
hpt_tuner_forget_model (hpt_tuner_t *self)
{
    if (!self->asked || !hpt_tuner_finished (self)) return false;
    self->asked = false;
    return true;
}

bool
hpt_tuner_asking (hpt_tuner_t *self)
{
    return self->asking != 0;
}

int
hpt_tuner_answer (hpt_tuner_t *self, hpt_store_t *store, const hpt_suggest_answer_t *answer,
                  int64_t now_ms)
{
    if (!self->asking || answer->id != self->asking) return 0;
    self->asking = 0;
    size_t room = s_room (self);
    size_t dim = hpt_space_size (self->space);
    if (room == 0 || answer->dim != dim) return 0;
    int created = 0;
    for (size_t i = 0; i < answer->count && (size_t)created < room; i++) {
        if (!s_create_trial (self, store, answer->values + i * dim)) return -1;
        created++;
        //  The batch's time, shared among its suggestions.
        if (self->hooks.suggested)
            self->hooks.suggested (self->hooks.arg, self, answer->seconds / (double)answer->count);
    }
    if (answer->count < answer->asked) {
        //  Nothing left to try (a finished grid): the job ends once the
        //  trials in flight do.
        self->exhausted = true;
        hpt_task_t **to_stop = NULL;
        size_t stop_count = 0;
        int rc = s_check_job (self, store, NULL, now_ms, &to_stop, &stop_count);
        free (to_stop);
        if (rc != 0) return -1;
    }
    return created;
}

int
hpt_tuner_trial_placed (hpt_tuner_t *self, hpt_store_t *store, hpt_trial_t *trial, int64_t now_ms)
{
    int rc = 0;
    trial->state = HPT_TRIAL_PROVISIONING;
    if (!trial->start_time) trial->start_time = now_ms;
    rc |= s_store_trial (self, store, trial, false);
    for (size_t i = 0; i < trial->task_count; i++) {
        hpt_task_t *task = &trial->tasks[i];
        task->state = HPT_TASK_LAUNCHING;
        task->has_exit = false;
        task->pid = 0;
        task->start_time = 0;
        task->end_time = 0;
        rc |= s_store_task (self, store, trial, task);
    }
    if (self->state == HPT_JOB_QUEUED)
        rc |= s_set_job_state (self, store, HPT_JOB_PREPARING, NULL, now_ms);
    return rc;
}

int
hpt_tuner_task_started (hpt_tuner_t *self, hpt_store_t *store, hpt_trial_t *trial, hpt_task_t *task,
                        int64_t pid, int64_t start_ms, int64_t now_ms)
{
    if (task->state != HPT_TASK_LAUNCHING) return 0;
    int rc = 0;
    task->state = HPT_TASK_RUNNING;
    task->pid = pid;
    task->start_time = start_ms ? start_ms : now_ms;
    rc |= s_store_task (self, store, trial, task);
    if (trial->state == HPT_TRIAL_PROVISIONING) {
        trial->state = HPT_TRIAL_RUNNING;
        rc |= s_store_trial (self, store, trial, false);
    }
    if (self->state == HPT_JOB_PREPARING || self->state == HPT_JOB_QUEUED)
        rc |= s_set_job_state (self, store, HPT_JOB_RUNNING, NULL, now_ms);
    return rc;
}

static bool
s_is_master (hpt_task_t *task)
{
    return strcmp (task->request->replica, "master") == 0;
}

//  Whether task's reports are the objective: the master replica's, or
//  evaluator 0's with the extension metricCollector.replica: evaluator.
static bool
s_is_objective_task (hpt_tuner_t *self, const hpt_task_t *task)
{
    bool evaluator = self->spec->input.metrics_from_evaluator;
    return strcmp (task->request->replica, evaluator ? "evaluator" : "master") == 0 &&
           task->request->index == 0;
}

static const char *
s_metric_tag (hpt_tuner_t *self)
{
    return self->hp && self->hp->metric_tag ? self->hp->metric_tag : HPT_DEFAULT_METRIC_TAG;
}

//  One objective report: the trial's final metric moves to it, unless it
//  is older than the final one ("last reported" is by report time, so a
//  replay of old points never moves it back). Returns whether it moved.
static bool
s_objective_report (hpt_trial_t *trial, int64_t step, double value, double time)
{
    if (trial->has_final && time < trial->final_time) return false;
    trial->reports++;
    trial->has_final = true;
    trial->final_step = step;
    trial->final_value = value;
    trial->final_time = time;
    return true;
}

int
hpt_tuner_report (hpt_tuner_t *self, hpt_store_t *store, hpt_trial_t *trial, hpt_task_t *task,
                  const hpt_tuner_point_t *points, size_t count, char **stop_reason)
{
    *stop_reason = NULL;
    if (count == 0) return 0;
    bool objective_task = s_is_objective_task (self, task);
    bool judged = self->stopping &&
                  (trial->state == HPT_TRIAL_RUNNING || trial->state == HPT_TRIAL_PROVISIONING);
    bool moved = false;
    hpt_store_metric_t *batch = hpt_calloc (count, sizeof (hpt_store_metric_t));
    for (size_t i = 0; i < count; i++) {
        if (strncmp (points[i].tag, "hpt/gpu/", 8) == 0) {
            if (!trial->gpu_idle) trial->gpu_idle = hpt_gpu_idle_new ();
            hpt_gpu_idle_point (trial->gpu_idle, points[i].tag, points[i].value, points[i].time);
        }
        batch[i] = (hpt_store_metric_t){self->job_id,
                                        trial->id,
                                        task->task_id,
                                        points[i].tag,
                                        points[i].step >= 0 ? points[i].step : trial->reports + 1,
                                        points[i].value,
                                        points[i].time};
        if (!objective_task || strcmp (points[i].tag, s_metric_tag (self)) != 0 ||
            !s_objective_report (trial, batch[i].step, batch[i].value, batch[i].time))
            continue;
        moved = true;
        char reason[512];
        if (judged && !*stop_reason &&
            hpt_stopping_report (self->stopping, trial->id, batch[i].step, batch[i].value, reason,
                                 sizeof (reason)))
            *stop_reason = hpt_strdup (reason);
    }
    s_trial_changed (self, store, trial);
    int rc = hpt_store_metrics_append (store, batch, count, NULL, NULL);
    free (batch);
    //  The final metric is stored with the points it comes from, so a
    //  master restarted between this batch and the task's exit knows it.
    if (moved) rc |= s_store_trial (self, store, trial, false);
    return rc;
}

//  Collects the tasks of trial that still run (or are being launched) and
//  marks them STOPPING (stored, so a restarted master knows it asked).
static int
s_collect_stop (hpt_tuner_t *self, hpt_store_t *store, hpt_trial_t *trial, hpt_task_t ***to_stop,
                size_t *stop_count)
{
    int rc = 0;
    for (size_t i = 0; i < trial->task_count; i++) {
        hpt_task_t *task = &trial->tasks[i];
        if (task->state == HPT_TASK_LAUNCHING || task->state == HPT_TASK_RUNNING) {
            task->state = HPT_TASK_STOPPING;
            rc |= s_store_task (self, store, trial, task);
            *to_stop = hpt_realloc (*to_stop, (*stop_count + 1) * sizeof (hpt_task_t *));
            (*to_stop)[(*stop_count)++] = task;
        }
    }
    return rc;
}

static bool
s_all_exited (hpt_trial_t *trial)
{
    for (size_t i = 0; i < trial->task_count; i++)
        if (trial->tasks[i].state != HPT_TASK_EXITED) return false;
    return true;
}

//  Tasks that never reached an agent (unplaced) need no STOP: they are
//  over at once.
//  (They have no row in the store: rows are written when a task is
//  placed.)
static void
s_settle_unlaunched (hpt_trial_t *trial, int64_t now_ms)
{
    for (size_t i = 0; i < trial->task_count; i++)
        if (!trial->tasks[i].agent && trial->tasks[i].state != HPT_TASK_EXITED) {
            trial->tasks[i].state = HPT_TASK_EXITED;
            trial->tasks[i].end_time = now_ms;
        }
}

//  Why the job fails now that trial last failed, into message (empty when
//  it goes on): the failure rules of docs/lifecycle.md.
static void
s_failure_rule (hpt_tuner_t *self, hpt_trial_t *last, char *message, size_t size)
{
    size_t failed = s_count (self, HPT_TRIAL_FAILED);
    size_t succeeded = s_count (self, HPT_TRIAL_SUCCEEDED);
    int64_t max_failed = self->hp ? self->hp->max_failed_trials : 0;
    const char *why = last->message ? last->message : "failed";
    *message = '\0';
    if (max_failed > 0 && (int64_t)failed >= max_failed)
        snprintf (message, size,
                  "%zu trials failed, reaching maxFailedTrials (%" PRId64
                  "). Last failure, trial %" PRId64 ": %s",
                  failed, max_failed, last->id, why);
    else if (max_failed == 0 && !self->any_finished)
        snprintf (message, size,
                  "The first trial to finish failed, so the job fails (maxFailedTrials "
                  "is 0; see README). Trial %" PRId64 ": %s",
                  last->id, why);
    else if (max_failed == 0 && failed >= 5 && failed > 2 * succeeded)
        snprintf (message, size,
                  "%zu trials failed against %zu succeeded (maxFailedTrials is 0: the job "
                  "fails when failed >= 5 and failed > 2 x succeeded). Last failure, trial "
                  "%" PRId64 ": %s",
                  failed, succeeded, last->id, why);
}

//  Applies the job-level rules after a trial finished.
static int
s_check_job (hpt_tuner_t *self, hpt_store_t *store, hpt_trial_t *last, int64_t now_ms,
             hpt_task_t ***to_stop, size_t *stop_count)
{
    if (hpt_tuner_finished (self)) return 0;
    if (self->state == HPT_JOB_CANCELLING) {
        for (size_t i = 0; i < self->trial_count; i++)
            if (s_in_flight (self->trials[i])) return 0;
        return s_set_job_state (self, store, HPT_JOB_CANCELLED, NULL, now_ms);
    }
    char message[1024] = "";
    if (last && last->state == HPT_TRIAL_FAILED)
        s_failure_rule (self, last, message, sizeof (message));
    if (last) self->any_finished = true;
    if (*message) return hpt_tuner_fail (self, store, message, now_ms, to_stop, stop_count);
    int64_t max_trials = self->hp ? self->hp->max_trials : 1;
    if (s_count_in_flight (self) > 0) return 0;
    if ((int64_t)self->trial_count < max_trials && !self->exhausted) return 0;
    if (s_count (self, HPT_TRIAL_SUCCEEDED) == 0)
        return s_set_job_state (self, store, HPT_JOB_FAILED,
                                "No trial succeeded: every trial failed (see the trials' "
                                "errorMessage)",
                                now_ms);
    return s_set_job_state (self, store, HPT_JOB_SUCCEEDED, NULL, now_ms);
}

//  The objective value the optimizer learns from a succeeded trial: the
//  stored projection for one stopped early, else its final report.
static double
s_learned_value (const hpt_trial_t *trial)
{
    return trial->has_learned ? trial->learned_value : trial->final_value;
}

//  Tells the optimizer how a finished trial ended (nothing for a trial
//  cancelled or without a report: it says nothing about its point).
static void
s_tell_optimizer (hpt_tuner_t *self, const hpt_trial_t *trial, uint64_t id)
{
    if (trial->state == HPT_TRIAL_SUCCEEDED && trial->has_final)
        hpt_optimizer_add_result (self->optimizer, id, trial->values, s_learned_value (trial));
    else if (trial->state == HPT_TRIAL_FAILED)
        hpt_optimizer_add_failed (self->optimizer, id, trial->values);
}

static int
s_finish_trial (hpt_tuner_t *self, hpt_store_t *store, hpt_trial_t *trial, hpt_trial_state_t state,
                const char *message, int64_t now_ms)
{
    trial->state = state;
    if (message && !trial->message) trial->message = hpt_strdup (message);
    trial->end_time = now_ms;
    if (self->stopping) {
        if (state == HPT_TRIAL_SUCCEEDED && !trial->stopped_early)
            hpt_stopping_completed (self->stopping, trial->id);
        else if (state == HPT_TRIAL_FAILED)
            hpt_stopping_failed (self->stopping, trial->id);
        else
            hpt_stopping_stopped (self->stopping, trial->id);
    }
    //  A trial stopped early did not run its budget, so its last report is
    //  not what it would have finished at: the optimizer is told the
    //  rules' projection instead (hpt_stopping_estimate: best so far plus
    //  the completed trials' typical gain after that step, capped at their
    //  median final). It is stored with the trial, so a restarted master
    //  tells a rebuilt optimizer the same value (README "Early stopping").
    double estimate;
    if (state == HPT_TRIAL_SUCCEEDED && trial->stopped_early && trial->has_final &&
        hpt_stopping_estimate (self->stopping, trial->id, &estimate, NULL) && isfinite (estimate)) {
        trial->has_learned = true;
        trial->learned_value = estimate;
    }
    if (self->optimizer) s_tell_optimizer (self, trial, (uint64_t)trial->id);
    return s_store_trial (self, store, trial, false);
}

static void
s_exit_text (char *buf, size_t size, hpt_task_t *task, int exit_code, int signal,
             const char *reason, bool core_dumped)
{
    if (reason && *reason)
        snprintf (buf, size, "%s-%d %s", task->request->replica, task->request->index, reason);
    else if (signal)
        snprintf (buf, size, "%s-%d was killed by signal %d%s", task->request->replica,
                  task->request->index, signal, core_dumped ? " (core dumped)" : "");
    else
        snprintf (buf, size, "%s-%d exited with status %d", task->request->replica,
                  task->request->index, exit_code);
}

//  Why a task failed, and what its stderr said last (as AI Platform's
//  errorMessage carries the traceback), with where the rest is.
static void
s_failure_text (hpt_tuner_t *self, hpt_trial_t *trial, char *buf, size_t size, hpt_task_t *task,
                const hpt_task_exit_t *exit)
{
    s_exit_text (buf, size, task, exit->exit_code, exit->signal, exit->reason, exit->core_dumped);
    if (!exit->stderr_tail || !*exit->stderr_tail) return;
    size_t used = strlen (buf);
    snprintf (buf + used, size - used,
              "\nlast lines of its stderr:\n%s\nits whole log: hpt jobs stream-logs %s --trial "
              "%" PRId64,
              exit->stderr_tail, self->job_id, trial->id);
}

//  How the exit of a task decides a trial still in flight: the state it
//  ends in, with the reason in text; PENDING when it does not decide (a
//  worker finished first, or a sibling the core stopped has gone).
static hpt_trial_state_t
s_exit_verdict (hpt_tuner_t *self, hpt_trial_t *trial, hpt_task_t *task, bool we_stopped,
                const hpt_task_exit_t *exit, char *text, size_t size)
{
    int exit_code = exit->exit_code, signal = exit->signal;
    const char *reason = exit->reason;
    bool failed = exit_code != 0 || signal != 0 || (reason && *reason);
    if (s_is_master (task)) {
        if (!failed && trial->has_final) return HPT_TRIAL_SUCCEEDED;
        if (!failed)
            snprintf (text, size,
                      "The trial's master task exited with status 0 without reporting the "
                      "metric '%s' (hyperparameterMetricTag)",
                      s_metric_tag (self));
        else
            s_failure_text (self, trial, text, size, task, exit);
        return HPT_TRIAL_FAILED;
    }
    if (failed && !we_stopped) {
        s_failure_text (self, trial, text, size, task, exit);
        return HPT_TRIAL_FAILED;
    }
    return HPT_TRIAL_PENDING;
}

int
hpt_tuner_task_exited (hpt_tuner_t *self, hpt_store_t *store, hpt_trial_t *trial, hpt_task_t *task,
                       const hpt_task_exit_t *exit, int64_t now_ms, hpt_task_t ***to_stop,
                       size_t *stop_count)
{
    if (task->state == HPT_TASK_EXITED) return 0;
    bool we_stopped = task->state == HPT_TASK_STOPPING;
    task->state = HPT_TASK_EXITED;
    task->has_exit = true;
    task->exit_code = exit->exit_code;
    task->signal = exit->signal;
    task->end_time = exit->end_ms ? exit->end_ms : now_ms;
    int rc = s_store_task (self, store, trial, task);
    if (trial->state == HPT_TRIAL_STOPPING) {
        //  The trial was cancelled or stopped early: it ends when its last
        //  task is gone.
        if (s_all_exited (trial)) {
            hpt_trial_state_t end =
                trial->stopped_early ? HPT_TRIAL_SUCCEEDED : HPT_TRIAL_CANCELLED;
            rc |= s_finish_trial (self, store, trial, end, NULL, now_ms);
            rc |= s_check_job (self, store, NULL, now_ms, to_stop, stop_count);
        }
        return rc;
    }
    if (!s_in_flight (trial)) return rc; //  already decided; a sibling we stopped has gone
    char text[4096] = "";
    hpt_trial_state_t verdict =
        s_exit_verdict (self, trial, task, we_stopped, exit, text, sizeof (text));
    if (verdict == HPT_TRIAL_PENDING) return rc;
    rc |= s_finish_trial (self, store, trial, verdict, *text ? text : NULL, now_ms);
    s_settle_unlaunched (trial, now_ms);
    rc |= s_collect_stop (self, store, trial, to_stop, stop_count);
    rc |= s_check_job (self, store, trial, now_ms, to_stop, stop_count);
    return rc;
}

int
hpt_tuner_stop_early (hpt_tuner_t *self, hpt_store_t *store, hpt_trial_t *trial, const char *reason,
                      int64_t now_ms, hpt_task_t ***to_stop, size_t *stop_count)
{
    if (trial->state != HPT_TRIAL_RUNNING && trial->state != HPT_TRIAL_PROVISIONING) return 0;
    trial->stopped_early = true;
    free (trial->message);
    trial->message = reason ? hpt_strdup (reason) : NULL;
    trial->state = HPT_TRIAL_STOPPING;
    s_settle_unlaunched (trial, now_ms);
    int rc = s_collect_stop (self, store, trial, to_stop, stop_count);
    return rc | s_store_trial (self, store, trial, false);
}

int
hpt_tuner_requeue_trial (hpt_tuner_t *self, hpt_store_t *store, hpt_trial_t *trial,
                         const char *reason, int64_t now_ms)
{
    if (!s_in_flight (trial) || trial->state == HPT_TRIAL_STOPPING) return 0;
    int rc = 0;
    trial->state = HPT_TRIAL_PENDING;
    trial->requeue_count++;
    if (self->stopping) hpt_stopping_forget (self->stopping, trial->id);
    free (trial->message);
    trial->message = reason ? hpt_strdup (reason) : NULL;
    trial->has_final = false;
    trial->has_learned = false;
    hpt_gpu_idle_destroy (&trial->gpu_idle);
    trial->reports = 0;
    trial->final_time = 0;
    for (size_t i = 0; i < trial->task_count; i++) {
        hpt_task_t *task = &trial->tasks[i];
        if (task->agent) {
            if (task->state != HPT_TASK_EXITED) {
                task->state = HPT_TASK_EXITED;
                task->end_time = now_ms;
                rc |= s_store_task (self, store, trial, task);
            }
            free (task->agent);
            task->agent = NULL;
        }
        json_decref (task->placement);
        task->placement = NULL;
        task->attempt++;
        //  A new attempt is a new task row: the id carries the attempt.
        free (task->task_id);
        task->task_id = hpt_asprintf ("%s/%" PRId64 "/%s/%d.%d", self->job_id, trial->id,
                                      task->request->replica, task->request->index, task->attempt);
    }
    return rc | s_store_trial (self, store, trial, false);
}

//  Stops every trial in flight because the job ends; why is each trial's
//  message, so that a trial cancelled for another's failure says so
//  rather than leaving its reader guessing.
static int
s_stop_all (hpt_tuner_t *self, hpt_store_t *store, int64_t now_ms, const char *why,
            hpt_task_t ***to_stop, size_t *stop_count)
{
    int rc = 0;
    for (size_t i = 0; i < self->trial_count; i++) {
        hpt_trial_t *trial = self->trials[i];
        if (!s_in_flight (trial)) continue;
        free (trial->message);
        trial->message = hpt_strdup (why);
        s_settle_unlaunched (trial, now_ms);
        size_t before = *stop_count;
        rc |= s_collect_stop (self, store, trial, to_stop, stop_count);
        bool waiting = *stop_count > before;
        for (size_t k = 0; k < trial->task_count && !waiting; k++)
            waiting = trial->tasks[k].state == HPT_TASK_STOPPING;
        if (waiting) {
            trial->state = HPT_TRIAL_STOPPING;
            rc |= s_store_trial (self, store, trial, false);
        } else
            rc |= s_finish_trial (self, store, trial, HPT_TRIAL_CANCELLED, NULL, now_ms);
    }
    return rc;
}

int
hpt_tuner_cancel (hpt_tuner_t *self, hpt_store_t *store, const char *message, int64_t now_ms,
                  hpt_task_t ***to_stop, size_t *stop_count, hpt_error_t *error)
{
    if (hpt_tuner_finished (self))
        return hpt_error_set (error, HPT_E_FAILED_PRECONDITION,
                              "Job %s is already %s and cannot be cancelled", self->job_id,
                              hpt_job_state_name (self->state));
    if (self->state == HPT_JOB_CANCELLING) return 0;
    int rc = s_set_job_state (self, store, HPT_JOB_CANCELLING, message, now_ms);
    rc |=
        s_stop_all (self, store, now_ms, message ? message : "Job cancelled", to_stop, stop_count);
    rc |= s_check_job (self, store, NULL, now_ms, to_stop, stop_count);
    if (rc) hpt_error_set (error, HPT_E_UNAVAILABLE, "Cannot store the cancellation");
    return rc;
}

void
hpt_tuner_seed_from (hpt_tuner_t *self, hpt_tuner_t *previous)
{
    if (!self->optimizer || !previous->space) return;
    size_t dim = hpt_space_size (self->space);
    double *values = hpt_calloc (dim, sizeof (double));
    for (size_t t = 0; t < previous->trial_count; t++) {
        hpt_trial_t *trial = previous->trials[t];
        bool ok = trial->state == HPT_TRIAL_SUCCEEDED && trial->has_final;
        json_t *hyperparameters = ok ? json_loads (trial->hyperparameters, 0, NULL) : NULL;
        for (size_t i = 0; ok && i < dim; i++) {
            //  Same parameter by name, read through its text form so a
            //  value must be legal in this job's space too.
            const char *name = hpt_space_param (self->space, i)->name;
            const char *text = json_string_value (json_object_get (hyperparameters, name));
            ok = text && hpt_space_parse (self->space, i, text, &values[i]);
        }
        json_decref (hyperparameters);
        //  Ids above any of this job's own keep the histories apart.
        if (ok)
            hpt_optimizer_add_result (self->optimizer, (uint64_t)1 << 40 | (uint64_t)trial->id,
                                      values, s_learned_value (trial));
    }
    free (values);
}

int64_t
hpt_tuner_create_time (hpt_tuner_t *self)
{
    return self->create_time;
}

int64_t
hpt_tuner_start_time (hpt_tuner_t *self)
{
    return self->start_time;
}

int
hpt_tuner_fail (hpt_tuner_t *self, hpt_store_t *store, const char *message, int64_t now_ms,
                hpt_task_t ***to_stop, size_t *stop_count)
{
    if (hpt_tuner_finished (self)) return 0;
    int rc = s_set_job_state (self, store, HPT_JOB_FAILED, message, now_ms);
    //  The first line: the rest (a stderr tail) is the failed trial's own.
    char *why = hpt_asprintf ("Cancelled because the job failed: %.*s",
                              (int)strcspn (message, "\n"), message);
    rc |= s_stop_all (self, store, now_ms, why, to_stop, stop_count);
    free (why);
    return rc;
}

//  ---------------------------------------------------------------------
//  Loading from the store (after a restart, or a failed commit)

//  The task id of the current attempt of trial's objective replica, or
//  NULL (borrowed).
static const char *
s_objective_task_id (hpt_tuner_t *self, hpt_trial_t *trial)
{
    for (size_t k = 0; k < trial->task_count; k++)
        if (s_is_objective_task (self, &trial->tasks[k])) return trial->tasks[k].task_id;
    return NULL;
}

//  Rebuilds the early-stopping state: each trial's objective reports (its
//  objective replica's current attempt) in step order, then how it ended,
//  trial by trial. Decisions returned while replaying are ignored; trials
//  still running are judged again at their next report.
static int
s_replay_stopping (hpt_tuner_t *self, hpt_store_t *store, hpt_error_t *error)
{
    if (!self->stopping) return 0;
    for (size_t t = 0; t < self->trial_count; t++) {
        hpt_trial_t *trial = self->trials[t];
        const char *objective_task = s_objective_task_id (self, trial);
        json_t *points = NULL;
        if (hpt_store_metrics_of_trial (store, self->job_id, trial->id, s_metric_tag (self),
                                        &points, error))
            return -1;
        size_t i;
        json_t *p;
        json_array_foreach (points, i, p) {
            const char *task_id = json_string_value (json_object_get (p, "task_id"));
            if (objective_task && task_id && strcmp (task_id, objective_task) != 0) continue;
            hpt_stopping_report (self->stopping, trial->id,
                                 json_integer_value (json_object_get (p, "step")),
                                 json_number_value (json_object_get (p, "value")), NULL, 0);
        }
        json_decref (points);
        if (trial->state == HPT_TRIAL_SUCCEEDED && !trial->stopped_early)
            hpt_stopping_completed (self->stopping, trial->id);
        else if (trial->state == HPT_TRIAL_FAILED)
            hpt_stopping_failed (self->stopping, trial->id);
        else if (trial->state == HPT_TRIAL_SUCCEEDED || trial->state == HPT_TRIAL_CANCELLED)
            hpt_stopping_stopped (self->stopping, trial->id);
    }
    return 0;
}

//  A stored REAL: a number, or the text a non-finite value is stored as.
static double
s_real (json_t *value)
{
    const char *text = json_string_value (value);
    if (text) return strcmp (text, "NaN") == 0 ? NAN : text[0] == '-' ? -INFINITY : INFINITY;
    return json_number_value (value);
}

static char *
s_text_copy (json_t *row, const char *key)
{
    const char *text = json_string_value (json_object_get (row, key));
    return text ? hpt_strdup (text) : NULL;
}

//  Fills a trial from its row.
static void
s_load_trial_row (hpt_trial_t *trial, json_t *t)
{
    hpt_trial_state_t state = HPT_TRIAL_FAILED;
    hpt_trial_state_parse (json_string_value (json_object_get (t, "state")), &state);
    trial->state = state;
    trial->observed_state = (int)state;
    trial->observed_since = s_wall_ms ();
    trial->has_final = json_is_true (json_object_get (t, "has_final"));
    trial->final_step = json_integer_value (json_object_get (t, "final_step"));
    trial->final_value = s_real (json_object_get (t, "final_value"));
    trial->final_time = json_number_value (json_object_get (t, "final_time"));
    trial->reports = json_integer_value (json_object_get (t, "report_count"));
    trial->stopped_early = json_is_true (json_object_get (t, "stopped_early"));
    json_t *learned = json_object_get (t, "learned_value");
    trial->has_learned = learned && !json_is_null (learned);
    trial->learned_value = s_real (learned);
    trial->message = s_text_copy (t, "message");
    trial->start_time = json_integer_value (json_object_get (t, "start_time"));
    trial->end_time = json_integer_value (json_object_get (t, "end_time"));
    trial->requeue_count = json_integer_value (json_object_get (t, "requeue_count"));
}

//  Fills a task from its row.
static void
s_load_task_row (hpt_task_t *task, json_t *row)
{
    free (task->task_id);
    task->task_id = s_text_copy (row, "task_id");
    free (task->agent);
    task->agent = s_text_copy (row, "agent");
    json_decref (task->placement);
    json_t *placement = json_object_get (row, "placement_json");
    task->placement = json_is_object (placement) ? json_incref (placement) : NULL;
    hpt_task_state_t state = HPT_TASK_EXITED;
    hpt_task_state_parse (json_string_value (json_object_get (row, "state")), &state);
    task->state = state;
    task->pid = json_integer_value (json_object_get (row, "pid"));
    task->has_exit = json_is_true (json_object_get (row, "has_exit"));
    task->exit_code = (int)json_integer_value (json_object_get (row, "exit_code"));
    task->signal = (int)json_integer_value (json_object_get (row, "signal"));
    task->start_time = json_integer_value (json_object_get (row, "start_time"));
    task->end_time = json_integer_value (json_object_get (row, "end_time"));
    task->attempt = (int)json_integer_value (json_object_get (row, "attempt"));
}

//  Loads the tasks of trial: the latest attempt of each replica.
static int
s_load_tasks (hpt_tuner_t *self, hpt_store_t *store, hpt_trial_t *trial, hpt_error_t *error)
{
    json_t *tasks = NULL;
    if (hpt_store_task_of_trial (store, self->job_id, trial->id, &tasks, error)) return -1;
    size_t j;
    json_t *row;
    json_array_foreach (tasks, j, row) {
        const char *replica = json_string_value (json_object_get (row, "replica_type"));
        int index = (int)json_integer_value (json_object_get (row, "replica_index"));
        int attempt = (int)json_integer_value (json_object_get (row, "attempt"));
        for (size_t k = 0; k < trial->task_count; k++) {
            hpt_task_t *task = &trial->tasks[k];
            if (replica && strcmp (task->request->replica, replica) == 0 &&
                task->request->index == index && attempt >= task->attempt)
                s_load_task_row (task, row);
        }
    }
    json_decref (tasks);
    return 0;
}

//  Loads every trial of the job with its tasks, and tells the optimizer
//  the same history as before.
static int
s_load_trials (hpt_tuner_t *self, hpt_store_t *store, hpt_error_t *error)
{
    json_t *trials = NULL;
    if (hpt_store_trials_of_job (store, self->job_id, &trials, error)) return -1;
    size_t dim = self->space ? hpt_space_size (self->space) : 0;
    double *values = hpt_calloc (dim ? dim : 1, sizeof (double));
    int rc = 0;
    size_t i;
    json_t *t;
    json_array_foreach (trials, i, t) {
        json_t *vals = json_object_get (t, "values_json");
        for (size_t k = 0; k < dim; k++)
            values[k] = json_number_value (json_array_get (vals, k));
        int64_t id = json_integer_value (json_object_get (t, "trial_id"));
        if (id != (int64_t)self->trial_count + 1)
            continue; //  ids are dense by construction; anything else is not ours
        hpt_trial_t *trial = s_trial_new (self, id, values);
        s_load_trial_row (trial, t);
        if (trial->state == HPT_TRIAL_SUCCEEDED || trial->state == HPT_TRIAL_FAILED)
            self->any_finished = true;
        if ((rc = s_load_tasks (self, store, trial, error)) != 0) break;
        if (self->optimizer) {
            if (s_in_flight (trial))
                hpt_optimizer_add_pending (self->optimizer, (uint64_t)id, trial->values);
            else
                s_tell_optimizer (self, trial, (uint64_t)id);
        }
    }
    free (values);
    json_decref (trials);
    return rc;
}

hpt_tuner_t *
hpt_tuner_load (hpt_store_t *store, json_t *row, hpt_job_t *spec, hpt_task_request_t *requests,
                size_t request_count, hpt_error_t *error)
{
    hpt_tuner_t *self = s_tuner_new (spec, json_string_value (json_object_get (row, "project")),
                                     requests, request_count);
    self->seq = json_integer_value (json_object_get (row, "seq"));
    self->seed = json_integer_value (json_object_get (row, "seed"));
    hpt_job_state_t state = HPT_JOB_FAILED;
    hpt_job_state_parse (json_string_value (json_object_get (row, "state")), &state);
    self->state = state;
    self->message = s_text_copy (row, "error_message");
    self->created_by = s_text_copy (row, "created_by");
    self->create_time = json_integer_value (json_object_get (row, "create_time"));
    self->start_time = json_integer_value (json_object_get (row, "start_time"));
    self->end_time = json_integer_value (json_object_get (row, "end_time"));
    s_tuner_start_optimizer (self);
    s_changed (self, NULL);
    if (s_load_trials (self, store, error) || s_replay_stopping (self, store, error))
        hpt_tuner_destroy (&self);
    else
        s_trim_finished (self);
    return self;
}

//  ---------------------------------------------------------------------
//  The Job resource

static int s_sort_goal; //  qsort has no context argument: set just before sorting

//  Best first: succeeded trials with a metric by objective (goal), ties to
//  the cheaper trial (fewer steps, then shorter run); then the others by id.
static int
s_compare_trials (const void *a, const void *b)
{
    const hpt_trial_t *x = *(hpt_trial_t *const *)a;
    const hpt_trial_t *y = *(hpt_trial_t *const *)b;
    bool rx = x->state == HPT_TRIAL_SUCCEEDED && x->has_final && isfinite (x->final_value);
    bool ry = y->state == HPT_TRIAL_SUCCEEDED && y->has_final && isfinite (y->final_value);
    if (rx != ry) return rx ? -1 : 1;
    if (rx) {
        if (x->final_value != y->final_value) {
            bool x_better = s_sort_goal == HPT_GOAL_MINIMIZE ? x->final_value < y->final_value
                                                             : x->final_value > y->final_value;
            return x_better ? -1 : 1;
        }
        if (x->final_step != y->final_step) return x->final_step < y->final_step ? -1 : 1;
        int64_t dx = x->end_time - x->start_time, dy = y->end_time - y->start_time;
        if (dx != dy) return dx < dy ? -1 : 1;
    }
    return x->id < y->id ? -1 : x->id > y->id;
}

static json_t *
s_int64_json (int64_t value)
{
    char buf[32];
    snprintf (buf, sizeof (buf), "%" PRId64, value);
    return json_string (buf);
}

static void
s_set_time (json_t *object, const char *key, int64_t ms)
{
    char buf[40];
    if (ms > 0)
        json_object_set_new (object, key, json_string (hpt_time_format (ms, buf, sizeof (buf))));
}

//  allMetrics: the last HPT_TUNER_ALL_METRICS points of the objective as
//  the trial's objective replica (its current attempt) reported them, not
//  other replicas' reports nor a requeued attempt's. One more is read to
//  tell whether there were more. false when the store could not be read.
static bool
s_all_metrics (hpt_tuner_t *self, hpt_store_t *store, hpt_trial_t *trial, const char *tag,
               json_t *out)
{
    json_t *all = json_array ();
    json_object_set_new (out, "allMetrics", all);
    json_t *metrics = NULL;
    if (!store || hpt_store_metrics_last (store, self->job_id, trial->id, tag,
                                          s_objective_task_id (self, trial),
                                          HPT_TUNER_ALL_METRICS + 1, &metrics, NULL) != 0)
        return false;
    size_t first = json_array_size (metrics) > HPT_TUNER_ALL_METRICS ? 1 : 0;
    //  hpt extension: the series is longer than allMetrics; the metrics
    //  route pages through all of it.
    if (first) json_object_set_new (out, "hptMetricsTruncated", json_true ());
    for (size_t i = first; i < json_array_size (metrics); i++) {
        json_t *m = json_array_get (metrics, i);
        json_t *point = json_object ();
        json_object_set_new (point, "trainingStep",
                             s_int64_json (json_integer_value (json_object_get (m, "step"))));
        json_object_set (point, "objectiveValue", json_object_get (m, "value"));
        json_array_append_new (all, point);
    }
    json_decref (metrics);
    return true;
}

//  The agent a trial's master replica was placed on (borrowed), or NULL.
static const char *
s_master_node (hpt_trial_t *trial)
{
    for (size_t k = 0; k < trial->task_count; k++)
        if (strcmp (trial->tasks[k].request->replica, "master") == 0) return trial->tasks[k].agent;
    return trial->task_count ? trial->tasks[0].agent : NULL;
}

//  What trainingOutput says of the trials as a whole, shown in lists too
//  (the console's jobs page): completedTrialCount, and the hpt extensions
//  hptTrialCounts {total, finished, inFlight, failed} and hptBestTrial
//  {trialId, objectiveValue}, the first trial of the best-first order
//  when it has a result. A new object; an evicted job keeps it.
static json_t *
s_trial_summary (hpt_tuner_t *self)
{
    size_t finished = 0, flying = 0, failed = 0, completed = 0;
    hpt_trial_t *best = NULL;
    s_sort_goal = self->hp ? self->hp->goal : HPT_GOAL_MAXIMIZE;
    for (size_t i = 0; i < self->trial_count; i++) {
        hpt_trial_t *trial = self->trials[i];
        flying += s_in_flight (trial);
        failed += trial->state == HPT_TRIAL_FAILED;
        completed += trial->state == HPT_TRIAL_SUCCEEDED;
        finished += trial->state == HPT_TRIAL_SUCCEEDED || trial->state == HPT_TRIAL_FAILED ||
                    trial->state == HPT_TRIAL_CANCELLED;
        if (!best || s_compare_trials (&trial, &best) < 0) best = trial;
    }
    json_t *summary = json_object ();
    json_object_set_new (summary, "completedTrialCount", s_int64_json ((int64_t)completed));
    json_object_set_new (summary, "hptTrialCounts",
                         json_pack ("{s:I, s:I, s:I, s:I}", "total", (json_int_t)self->trial_count,
                                    "finished", (json_int_t)finished, "inFlight",
                                    (json_int_t)flying, "failed", (json_int_t)failed));
    if (best && best->state == HPT_TRIAL_SUCCEEDED && best->has_final &&
        isfinite (best->final_value))
        json_object_set_new (summary, "hptBestTrial",
                             json_pack ("{s:o, s:f}", "trialId", s_int64_json (best->id),
                                        "objectiveValue", best->final_value));
    return summary;
}

//  One trial of trainingOutput; *complete becomes false when its points
//  could not be read.
static json_t *
s_trial_json (hpt_tuner_t *self, hpt_store_t *store, hpt_trial_t *trial, const char *tag,
              bool *complete)
{
    json_t *out = json_object ();
    json_object_set_new (out, "trialId", s_int64_json (trial->id));
    json_t *hyperparameters = json_loads (trial->hyperparameters, 0, NULL);
    json_object_set_new (out, "hyperparameters",
                         hyperparameters ? hyperparameters : json_object ());
    if (trial->has_final) {
        json_t *final = json_object ();
        json_object_set_new (final, "trainingStep", s_int64_json (trial->final_step));
        json_object_set_new (final, "objectiveValue", json_real (trial->final_value));
        json_object_set_new (out, "finalMetric", final);
    }
    if (!s_all_metrics (self, store, trial, tag, out)) *complete = false;
    json_object_set_new (out, "isTrialStoppedEarly", json_boolean (trial->stopped_early));
    //  hpt extension: what the optimizer learned from a trial stopped early.
    if (trial->has_learned)
        json_object_set_new (out, "hptEstimatedObjectiveValue", json_real (trial->learned_value));
    s_set_time (out, "startTime", trial->start_time);
    s_set_time (out, "endTime", trial->end_time);
    json_object_set_new (out, "state",
                         json_string (hpt_job_state_name (hpt_trial_state_public (trial->state))));
    //  hpt extension: the trial's own finer state (docs/lifecycle.md).
    json_object_set_new (out, "hptState", json_string (hpt_trial_state_name (trial->state)));
    if (trial->message) json_object_set_new (out, "errorMessage", json_string (trial->message));
    //  hpt extension: the agents its tasks were placed on, each once, the
    //  master replica's first, so `hpt jobs stream-logs` and the console
    //  can say where a trial runs.
    json_t *nodes = json_array ();
    const char *master = s_master_node (trial);
    if (master) json_array_append_new (nodes, json_string (master));
    for (size_t i = 0; i < trial->task_count; i++) {
        const char *agent = trial->tasks[i].agent;
        bool seen = !agent;
        for (size_t k = 0; k < json_array_size (nodes) && !seen; k++)
            seen = strcmp (json_string_value (json_array_get (nodes, k)), agent) == 0;
        if (!seen) json_array_append_new (nodes, json_string (agent));
    }
    if (json_array_size (nodes) > 0)
        json_object_set_new (out, "hptNodes", nodes);
    else
        json_decref (nodes);
    //  hpt extensions: the Slurm job it runs in, and why it waits there.
    if (trial->slurm_job_id)
        json_object_set_new (out, "hptSlurmJobId", json_string (trial->slurm_job_id));
    if (trial->slurm_reason)
        json_object_set_new (out, "hptSlurmPendingReason", json_string (trial->slurm_reason));
    //  hpt extension: a notice on how it uses what it holds.
    const char *notice = trial->gpu_idle && trial->state == HPT_TRIAL_RUNNING
                             ? hpt_gpu_idle_notice (trial->gpu_idle)
                             : NULL;
    if (notice) json_object_set_new (out, "hptNotice", json_string (notice));
    return out;
}

void
hpt_tuner_etag (hpt_tuner_t *self, char *buf, size_t size)
{
    unsigned char bytes[8];
    for (int i = 0; i < 8; i++)
        bytes[i] = (unsigned char)(self->version >> (56 - 8 * i));
    char *text = hpt_base64_encode (bytes, sizeof (bytes), false);
    snprintf (buf, size, "%s", text);
    free (text);
}

//  The trials best first, as the Job lists them; the caller frees the array.
static hpt_trial_t **
s_sorted_trials (hpt_tuner_t *self)
{
    hpt_trial_t **sorted =
        hpt_malloc ((self->trial_count ? self->trial_count : 1) * sizeof (void *));
    if (self->trial_count) memcpy (sorted, self->trials, self->trial_count * sizeof (void *));
    s_sort_goal = self->hp ? self->hp->goal : HPT_GOAL_MAXIMIZE;
    qsort (sorted, self->trial_count, sizeof (void *), s_compare_trials);
    return sorted;
}

static json_t *
s_job_json (hpt_tuner_t *self, hpt_store_t *store, bool with_trials, bool *complete)
{
    json_t *out = hpt_job_to_json (self->spec);
    s_set_time (out, "createTime", self->create_time);
    //  hpt extension: who submitted it.
    if (self->created_by) json_object_set_new (out, "createdBy", json_string (self->created_by));
    s_set_time (out, "startTime", self->start_time);
    s_set_time (out, "endTime", self->end_time);
    json_object_set_new (out, "state", json_string (hpt_job_state_name (self->state)));
    if (self->message) json_object_set_new (out, "errorMessage", json_string (self->message));
    //  Why it waits: to start at all, or (running) to start more trials.
    if (self->queue_reason && (self->state == HPT_JOB_QUEUED || self->state == HPT_JOB_PREPARING ||
                               self->state == HPT_JOB_RUNNING))
        json_object_set_new (out, "hptQueueReason", json_string (self->queue_reason));
    char etag[32];
    hpt_tuner_etag (self, etag, sizeof (etag));
    json_object_set_new (out, "etag", json_string (etag));
    json_t *output = json_object ();
    json_object_set_new (output, "isHyperparameterTuningJob", json_boolean (self->hp != NULL));
    json_t *summary = self->evicted ? json_incref (self->evicted) : s_trial_summary (self);
    json_object_set (output, "completedTrialCount",
                     json_object_get (summary, "completedTrialCount"));
    const char *tag = s_metric_tag (self);
    json_object_set_new (output, "hyperparameterMetricTag", json_string (tag));
    json_object_update (output, summary);
    json_decref (summary);
    if (with_trials) {
        hpt_trial_t **sorted = s_sorted_trials (self);
        json_t *trials = json_array ();
        for (size_t i = 0; i < self->trial_count; i++)
            json_array_append_new (trials, s_trial_json (self, store, sorted[i], tag, complete));
        free (sorted);
        json_object_set_new (output, "trials", trials);
    }
    json_object_set_new (out, "trainingOutput", output);
    return out;
}

//  The text of trial as nested in the Job: the kept one while current,
//  else rendered again, and kept when keep and its points could be read.
static const char *
s_trial_text (hpt_tuner_t *self, hpt_store_t *store, hpt_trial_t *trial, const char *tag, bool keep,
              bool *complete)
{
    if (trial->text && trial->text_version == trial->version) return trial->text;
    bool read = true;
    json_t *json = s_trial_json (self, store, trial, tag, &read);
    free (trial->text);
    trial->text = hpt_json_dumps_nested (json, 3);
    json_decref (json);
    //  version is never 0 (s_trial_new), so 0 marks a text to drop.
    trial->text_version = keep && read ? trial->version : 0;
    if (!read) *complete = false;
    return trial->text;
}

char *
hpt_tuner_job_text (hpt_tuner_t *self, hpt_store_t *store, json_t *frame, bool *complete)
{
    *complete = true;
    //  The frame's text with an empty trials list, which the pretty
    //  printer puts last: trainingOutput is the resource's last member and
    //  trials its last. Each trial then goes in as the printer would put
    //  it: a comma between, a newline and six spaces before each.
    static const char empty[] = "\"trials\": []\n  }\n}\n";
    static const char close[] = "\n    ]\n  }\n}\n";
    json_t *output = json_object_get (frame, "trainingOutput");
    if (!json_is_object (output)) return hpt_json_dumps (frame, true);
    json_object_set_new (output, "trials", json_array ());
    char *head = hpt_json_dumps (frame, true);
    json_object_del (output, "trials");
    size_t head_size = strlen (head), empty_size = sizeof (empty) - 1;
    if (head_size < empty_size || strcmp (head + head_size - empty_size, empty) != 0 ||
        self->trial_count == 0)
        return head;
    bool keep = !hpt_tuner_finished (self);
    const char *tag = s_metric_tag (self);
    hpt_trial_t **sorted = s_sorted_trials (self);
    size_t size = head_size - empty_size + strlen ("\"trials\": [") + sizeof (close);
    for (size_t i = 0; i < self->trial_count; i++)
        size += strlen (s_trial_text (self, store, sorted[i], tag, keep, complete)) + 8;
    char *text = hpt_malloc (size), *at = text;
    at += sprintf (at, "%.*s\"trials\": [", (int)(head_size - empty_size), head);
    for (size_t i = 0; i < self->trial_count; i++) {
        hpt_trial_t *trial = sorted[i];
        at += sprintf (at, "%s\n      %s", i ? "," : "", trial->text);
        if (!keep || trial->text_version == 0) {
            free (trial->text);
            trial->text = NULL;
        }
    }
    memcpy (at, close, sizeof (close));
    free (sorted);
    free (head);
    return text;
}

json_t *
hpt_tuner_trial_to_json (hpt_tuner_t *self, hpt_store_t *store, hpt_trial_t *trial)
{
    bool complete = true;
    return s_trial_json (self, store, trial, s_metric_tag (self), &complete);
}

hpt_optimizer_t *
hpt_tuner_optimizer (hpt_tuner_t *self)
{
    return self->optimizer;
}

hpt_space_t *
hpt_tuner_space (hpt_tuner_t *self)
{
    return self->space;
}

hpt_stopping_t *
hpt_tuner_stopping (hpt_tuner_t *self)
{
    return self->stopping;
}

const char *
hpt_tuner_metric_tag (hpt_tuner_t *self)
{
    return s_metric_tag (self);
}

const char *
hpt_tuner_objective_task (hpt_tuner_t *self, hpt_trial_t *trial)
{
    return s_objective_task_id (self, trial);
}

json_t *
hpt_tuner_to_json (hpt_tuner_t *self, hpt_store_t *store, bool with_trials, bool *complete)
{
    bool ignored;
    if (!complete) complete = &ignored;
    *complete = true;
    return s_job_json (self, store, with_trials, complete);
}

//  ---------------------------------------------------------------------
//  Eviction: a finished job's trials leave memory, and come back from the
//  store when something needs them. What the job shows without its
//  trials (lists, metrics) is kept: the summary and the count by state.

//  Frees the trials and what was built from them (optimizer, early
//  stopping, the space they are points of).
static void
s_drop_trials (hpt_tuner_t *self)
{
    for (size_t i = 0; i < self->trial_count; i++)
        s_trial_destroy (&self->trials[i]);
    free (self->trials);
    self->trials = NULL;
    self->trial_count = self->trial_cap = 0;
    hpt_optimizer_destroy (&self->optimizer);
    hpt_stopping_destroy (&self->stopping);
    hpt_space_destroy (&self->space);
}

bool
hpt_tuner_evictable (hpt_tuner_t *self)
{
    if (self->evicted || !hpt_tuner_finished (self) || self->asked || self->asking) return false;
    for (size_t i = 0; i < self->trial_count; i++) {
        hpt_trial_t *trial = self->trials[i];
        if (s_in_flight (trial)) return false;
        for (size_t k = 0; k < trial->task_count; k++)
            if (trial->tasks[k].agent && trial->tasks[k].state != HPT_TASK_EXITED) return false;
    }
    return true;
}

void
hpt_tuner_evict (hpt_tuner_t *self)
{
    if (!hpt_tuner_evictable (self)) return;
    self->evicted = s_trial_summary (self);
    memset (self->evicted_states, 0, sizeof (self->evicted_states));
    for (size_t i = 0; i < self->trial_count; i++)
        self->evicted_states[self->trials[i]->state]++;
    s_drop_trials (self);
}

bool
hpt_tuner_evicted (hpt_tuner_t *self)
{
    return self->evicted != NULL;
}

//  The same steps as hpt_tuner_load, on the tuner in place: its version
//  stays, since what it shows has not changed.
int
hpt_tuner_readmit (hpt_tuner_t *self, hpt_store_t *store, hpt_error_t *error)
{
    if (!self->evicted) return 0;
    s_tuner_start_optimizer (self);
    if (s_load_trials (self, store, error) || s_replay_stopping (self, store, error)) {
        s_drop_trials (self);
        return -1;
    }
    s_trim_finished (self);
    json_decref (self->evicted);
    self->evicted = NULL;
    return 0;
}

void
hpt_tuner_count_trials (hpt_tuner_t *self, double *by_state)
{
    for (int s = 0; s <= HPT_TRIAL_CANCELLED; s++)
        by_state[s] += (double)self->evicted_states[s];
    for (size_t i = 0; i < self->trial_count; i++)
        by_state[self->trials[i]->state]++;
}

int64_t
hpt_tuner_used (hpt_tuner_t *self)
{
    return self->used;
}

void
hpt_tuner_set_used (hpt_tuner_t *self, int64_t when)
{
    self->used = when;
}
