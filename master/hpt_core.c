/*  hpt_core -- the master's core loop: jobs, agents, scheduling

    The loop
    --------
    zloop readers: the agents ROUTER (s_on_agent_message) and the API
    ROUTER (hpt_routes_handle). Timers: every heartbeat interval the core
    heartbeats every connected agent and declares agents LOST that have been
    silent longer than agentTimeout; once, agentTimeout after start, nodes
    that were known before a restart and did not come back are declared
    LOST too.

    Scheduling (s_schedule) runs after every event that may free capacity
    or add work. Jobs are served by scheduling.priority (higher first), then
    submission order. A job's next trial is taken from its tuner (a new
    suggestion or a requeued trial) and placed whole by hpt_scheduler. When
    the trial at the head of the queue cannot be placed, jobs behind it get
    nothing (no backfill), so a large cluster is never starved by small
    trials; the reason is shown in `hpt jobs describe` (hptQueueReason).

    Durability and ordering (docs/durability.md)
    -----------------------------------
    - A trial is PROVISIONING in the store (with its tasks and placement)
      before LAUNCH goes out.
    - Agent events carry a per-agent seq. The core applies an event, stores
      its effects and the agent's acked seq in one transaction, then ACKs.
      An event at or below the acked seq is a replay: ACKed again, not
      applied.
    - After a restart the core reloads every job and node from the store,
      re-reserves what placed tasks hold, and reconciles each agent's HELLO
      (the tasks it still runs and those whose exit it still holds in its
      spool) with the store: a task LAUNCHING in the store that its agent
      never heard of is launched again (it never ran, so it is not a second
      launch); a task RUNNING in the store that its agent does not know was
      lost; a task the agent runs that the store has finished is stopped.

    Lost agents (agentLostPolicy): "fail" fails their trials with "agent
    lost"; "requeue" puts them back in the queue (not counted as failed) and
    stops their other tasks.
*/
#include "hpt_core.h"
#include "hpt_api.h"
#include "hpt_job_reader.h"
#include "hpt_json.h"
#include "hpt_line_metrics.h"
#include "hpt_msg.h"
#include "hpt_routes.h"
#include "hpt_scheduler.h"
#include "hpt_tfconfig.h"
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>

//  Where a task id leads.
typedef struct {
    hpt_tuner_t *tuner; //  its job
    hpt_trial_t *trial; //  its trial
    hpt_task_t *task;   //  the task
} s_task_ref_t;

struct _hpt_core_t {
    hpt_cluster_config_t *config;          //  borrowed
    const hpt_master_settings_t *settings; //  borrowed from config
    hpt_store_t *store;                    //  the durable state
    zloop_t *loop;                         //  the reactor
    zsock_t *agents;                       //  ROUTER for agents
    char *agents_endpoint;                 //  what it is bound to
    zsock_t *api_router;                   //  ROUTER for the HTTP thread
    hpt_api_t *api;                        //  the HTTP server
    char *logs_dir;                        //  stateDir/logs
    hpt_tuner_t **tuners;                  //  every job, submission order
    size_t tuner_count;                    //  entries in tuners
    size_t tuner_cap;                      //  allocated
    hpt_host_t **nodes;                    //  every node, by name
    size_t node_count;                     //  entries in nodes
    zhashx_t *tasks;                       //  task id -> s_task_ref_t (owned)
    int64_t started;                       //  epoch ms of start
    uint64_t dropped;                      //  malformed/unexpected agent messages
    zhashx_t *dropped_by_kind;             //  kind -> count (uint64_t *, owned)
    int64_t last_drop_log;                 //  when a drop was last logged (ms)
    int64_t epoch;                         //  this run of the master (WELCOME)
};

static int64_t
s_now (void)
{
    return zclock_time ();
}

//  Counts an agent message dropped for kind (PROTOCOL.md 8): malformed
//  messages by their codec fault, then seq_gap, unknown_task,
//  not_registered, unexpected. Logged at most once a second.
static void
s_drop (hpt_core_t *self, const char *kind)
{
    self->dropped++;
    uint64_t *count = zhashx_lookup (self->dropped_by_kind, kind);
    if (!count) {
        count = calloc (1, sizeof (uint64_t));
        zhashx_insert (self->dropped_by_kind, kind, count);
    }
    (*count)++;
    if (s_now () - self->last_drop_log >= 1000) {
        self->last_drop_log = s_now ();
        zsys_warning ("hptmaster: dropped an agent message (%s); %" PRIu64 " dropped so far", kind,
                      self->dropped);
    }
}

//  ---------------------------------------------------------------------
//  Indexes

static void
s_index_task (hpt_core_t *self, hpt_tuner_t *tuner, hpt_trial_t *trial, hpt_task_t *task)
{
    if (!task->task_id) return;
    s_task_ref_t *ref = malloc (sizeof (s_task_ref_t));
    ref->tuner = tuner;
    ref->trial = trial;
    ref->task = task;
    zhashx_update (self->tasks, task->task_id, ref);
}

static void
s_index_trial (hpt_core_t *self, hpt_tuner_t *tuner, hpt_trial_t *trial)
{
    for (size_t i = 0; i < trial->task_count; i++)
        s_index_task (self, tuner, trial, &trial->tasks[i]);
}

static hpt_host_t *
s_node (hpt_core_t *self, const char *name)
{
    for (size_t i = 0; name && i < self->node_count; i++)
        if (strcmp (self->nodes[i]->name, name) == 0) return self->nodes[i];
    return NULL;
}

static int
s_node_compare (const void *a, const void *b)
{
    return strcmp ((*(hpt_host_t *const *)a)->name, (*(hpt_host_t *const *)b)->name);
}

static void
s_add_node (hpt_core_t *self, hpt_host_t *node)
{
    self->nodes = realloc (self->nodes, (self->node_count + 1) * sizeof (hpt_host_t *));
    self->nodes[self->node_count++] = node;
    qsort (self->nodes, self->node_count, sizeof (hpt_host_t *), s_node_compare);
}

static void
s_add_tuner (hpt_core_t *self, hpt_tuner_t *tuner)
{
    if (self->tuner_count == self->tuner_cap) {
        self->tuner_cap = self->tuner_cap ? self->tuner_cap * 2 : 16;
        self->tuners = realloc (self->tuners, self->tuner_cap * sizeof (hpt_tuner_t *));
    }
    self->tuners[self->tuner_count++] = tuner;
}

//  ---------------------------------------------------------------------
//  Logs: one JSON-lines file per job under stateDir/logs

//  The job's log file for appending (caller closes), or NULL.
static FILE *
s_log_open (hpt_core_t *self, const char *job_id)
{
    char path[4096];
    snprintf (path, sizeof (path), "%s/%s.log", self->logs_dir, job_id);
    return fopen (path, "a");
}

//  Writes one entry as a line of the job's log, opened with s_log_open.
static void
s_log_write (FILE *file, json_t *entry)
{
    char *line = hpt_json_dumps (entry, false);
    if (line) fprintf (file, "%s\n", line);
    free (line);
}

static void
s_log_append (hpt_core_t *self, const char *job_id, json_t *entry)
{
    FILE *file = s_log_open (self, job_id);
    if (!file) return;
    s_log_write (file, entry);
    fclose (file);
}

static void
s_log_event (hpt_core_t *self, hpt_tuner_t *tuner, hpt_trial_t *trial, const char *text)
{
    json_t *entry = json_object ();
    char buf[40];
    char id[32];
    snprintf (id, sizeof (id), "%" PRId64, trial ? trial->id : 0);
    if (trial) json_object_set_new (entry, "trialId", json_string (id));
    json_object_set_new (entry, "replica", json_string ("hpt"));
    json_object_set_new (entry, "stream", json_string ("event"));
    json_object_set_new (entry, "time",
                         json_string (hpt_time_format (s_now (), buf, sizeof (buf))));
    json_object_set_new (entry, "text", json_string (text));
    s_log_append (self, hpt_tuner_id (tuner), entry);
    json_decref (entry);
}

//  ---------------------------------------------------------------------
//  Sending to agents

static void
s_send (hpt_core_t *self, hpt_host_t *node, hpt_msg_t **msg_p)
{
    if (!node || !node->routing_id || node->state != HPT_HOST_READY) {
        hpt_msg_destroy (msg_p);
        return;
    }
    char error[256];
    if (hpt_msg_validate (*msg_p, error, sizeof (error)) != 0) {
        zsys_error ("hptmaster: not sending an invalid %s: %s",
                    hpt_msg_id_name (hpt_msg_id (*msg_p)), error);
        hpt_msg_destroy (msg_p);
        return;
    }
    hpt_msg_set_routing_id (*msg_p, node->routing_id);
    hpt_msg_send (msg_p, self->agents);
}

static void
s_send_stop (hpt_core_t *self, hpt_task_t *task, const char *reason)
{
    hpt_host_t *node = s_node (self, task->agent);
    hpt_msg_t *msg = hpt_msg_new (HPT_MSG_STOP);
    hpt_msg_set_task_id (msg, task->task_id);
    hpt_msg_set_reason (msg, reason);
    hpt_msg_set_grace_ms (msg, self->settings->stop_grace_ms);
    s_send (self, node, &msg);
}

static void
s_stop_tasks (hpt_core_t *self, hpt_task_t **tasks, size_t count, const char *reason)
{
    for (size_t i = 0; i < count; i++)
        s_send_stop (self, tasks[i], reason);
    free (tasks);
}

//  ---------------------------------------------------------------------
//  Launching a placed trial

//  TF_CONFIG and CLUSTER_SPEC of one task of a placed trial: every task's
//  "host:port" by replica type and index (hpt_tfconfig leaves evaluators
//  out of "cluster"). Fresh strings the caller frees; NULL on error.
static void
s_tf_config (hpt_trial_t *trial, hpt_task_t *task, bool use_chief, const char *trial_id,
             json_t *training_input, char **tf_config, char **cluster_spec)
{
    size_t n = trial->task_count;
    char **addresses = calloc (n, sizeof (char *));
    const char **master = calloc (n, sizeof (char *)), **worker = calloc (n, sizeof (char *)),
               **ps = calloc (n, sizeof (char *));
    hpt_tfconfig_cluster_t cluster = {master, 0, worker, 0, ps, 0, 0, use_chief};
    for (size_t i = 0; i < n; i++) {
        hpt_task_t *t = &trial->tasks[i];
        if (asprintf (&addresses[i], "%s:%" JSON_INTEGER_FORMAT,
                      json_string_value (json_object_get (t->placement, "host")),
                      json_integer_value (json_object_get (t->placement, "port"))) < 0)
            addresses[i] = NULL;
        hpt_tfconfig_role_t role;
        if (hpt_tfconfig_role_from_name (t->request->replica, &role) != 0) continue;
        if (role == HPT_TFCONFIG_MASTER)
            master[cluster.master_count++] = addresses[i];
        else if (role == HPT_TFCONFIG_WORKER)
            worker[cluster.worker_count++] = addresses[i];
        else if (role == HPT_TFCONFIG_PS)
            ps[cluster.ps_count++] = addresses[i];
        else
            cluster.evaluator_count++;
    }
    hpt_tfconfig_task_t me = {HPT_TFCONFIG_MASTER, (size_t)task->request->index, trial_id};
    hpt_tfconfig_role_from_name (task->request->replica, &me.role);
    char *error = NULL;
    *tf_config = hpt_tfconfig_build (&cluster, &me, training_input, &error);
    free (error);
    error = NULL;
    *cluster_spec = hpt_tfconfig_cluster_spec (&cluster, &me, &error);
    free (error);
    for (size_t i = 0; i < n; i++)
        free (addresses[i]);
    free (addresses);
    free (master);
    free (worker);
    free (ps);
}

//  The trainer's argv (docs/trainer-contract.md): command (or python3 -m MODULE), args,
//  --job-dir, then one --NAME=VALUE per hyperparameter.
static json_t *
s_argv_json (hpt_job_t *spec, hpt_trial_t *trial)
{
    hpt_training_input_t *in = &spec->input;
    json_t *argv = json_array ();
    if (in->command_count)
        for (size_t i = 0; i < in->command_count; i++)
            json_array_append_new (argv, json_string (in->command[i]));
    else if (in->python_module) {
        json_array_append_new (argv, json_string ("python3"));
        json_array_append_new (argv, json_string ("-m"));
        json_array_append_new (argv, json_string (in->python_module));
    }
    for (size_t i = 0; i < in->arg_count; i++)
        json_array_append_new (argv, json_string (in->args[i]));
    if (in->job_dir) {
        char *arg = zsys_sprintf ("--job-dir=%s", in->job_dir);
        json_array_append_new (argv, json_string (arg));
        zstr_free (&arg);
    }
    hpt_hyperparameters_t *hp = in->hyperparameters;
    for (size_t i = 0; hp && i < hp->param_count; i++) {
        const char *name = hp->params[i].name;
        json_t *value = json_object_get (trial->hyperparameters, name);
        char *arg = zsys_sprintf ("--%s=%s", name, json_string_value (value));
        json_array_append_new (argv, json_string (arg));
        zstr_free (&arg);
    }
    return argv;
}

static void
s_launch_task (hpt_core_t *self, hpt_tuner_t *tuner, hpt_trial_t *trial, hpt_task_t *task)
{
    hpt_job_t *spec = hpt_tuner_spec (tuner);
    hpt_training_input_t *in = &spec->input;
    hpt_hyperparameters_t *hp = in->hyperparameters;
    const char *tag = hp && hp->metric_tag ? hp->metric_tag : HPT_DEFAULT_METRIC_TAG;
    char trial_id[32];
    snprintf (trial_id, sizeof (trial_id), "%" PRId64, trial->id);

    json_t *job_json = hpt_job_training_input_to_json (spec);
    char *tf_config = NULL, *cluster_spec = NULL;
    s_tf_config (trial, task, in->use_chief_in_tf_config, trial_id, job_json, &tf_config,
                 &cluster_spec);
    json_decref (job_json);

    json_t *env = json_object ();
    for (size_t i = 0; i < in->env_count; i++)
        json_object_set_new (env, in->env[i].name, json_string (in->env[i].value));
    json_object_set_new (env, "TF_CONFIG", json_string (tf_config ? tf_config : "{}"));
    json_object_set_new (env, "CLUSTER_SPEC", json_string (cluster_spec ? cluster_spec : "{}"));
    json_object_set_new (env, "CLOUD_ML_TRIAL_ID", json_string (trial_id));
    json_object_set_new (env, "CLOUD_ML_HP_METRIC_TAG", json_string (tag));
    json_object_set_new (env, "CLOUD_ML_JOB_ID", json_string (hpt_tuner_id (tuner)));
    json_object_set_new (env, "HPT_JOB_ID", json_string (hpt_tuner_id (tuner)));
    json_object_set_new (env, "HPT_TRIAL_ID", json_string (trial_id));
    json_object_set_new (env, "HPT_TASK_ID", json_string (task->task_id));
    json_t *gpus = json_object_get (task->placement, "gpus");
    if (json_array_size (gpus) > 0) {
        char list[1024] = "";
        size_t used = 0, i;
        json_t *g;
        json_array_foreach (gpus, i, g) {
            used += snprintf (list + used, used < sizeof (list) ? sizeof (list) - used : 0,
                              "%s%" JSON_INTEGER_FORMAT, i ? "," : "", json_integer_value (g));
        }
        json_object_set_new (env, "CUDA_VISIBLE_DEVICES", json_string (list));
        json_object_set_new (env, "CUDA_DEVICE_ORDER", json_string ("PCI_BUS_ID"));
    } else
        //  A task without GPUs must not grab the host's GPUs by default.
        json_object_set_new (env, "CUDA_VISIBLE_DEVICES", json_string (""));
    json_t *tpus = json_object_get (task->placement, "tpus");
    if (json_array_size (tpus) > 0) {
        //  libtpu's visibility variable: the chips this process may use
        //  (a TPU task owns its whole TPU host).
        char list[1024] = "";
        size_t used = 0, i;
        json_t *t;
        json_array_foreach (tpus, i, t) {
            used += snprintf (list + used, used < sizeof (list) ? sizeof (list) - used : 0,
                              "%s%" JSON_INTEGER_FORMAT, i ? "," : "", json_integer_value (t));
        }
        json_object_set_new (env, "TPU_VISIBLE_CHIPS", json_string (list));
    }

    hpt_msg_t *msg = hpt_msg_new (HPT_MSG_LAUNCH);
    hpt_msg_set_task_id (msg, task->task_id);
    hpt_msg_set_job_id (msg, hpt_tuner_id (tuner));
    hpt_msg_set_trial_id (msg, trial_id);
    json_t *argv = s_argv_json (spec, trial);
    size_t i;
    json_t *item;
    json_array_foreach (argv, i, item) {
        hpt_msg_add_arg (msg, json_string_value (item));
    }
    const char *key;
    json_object_foreach (env, key, item) {
        hpt_msg_set_env_var (msg, key, json_string_value (item));
    }
    if (in->working_dir) hpt_msg_set_working_dir (msg, in->working_dir);
    hpt_msg_set_metric_tag (msg, tag);
    hpt_msg_set_cpus (msg, task->request->cpus);
    hpt_msg_set_memory_mb (msg, task->request->memory_mb);
    json_array_foreach (json_object_get (task->placement, "gpus"), i, item) {
        hpt_msg_add_gpu (msg, json_integer_value (item));
    }
    json_array_foreach (json_object_get (task->placement, "tpus"), i, item) {
        hpt_msg_add_gpu (msg, json_integer_value (item));
    }
    json_array_foreach (json_object_get (task->placement, "cores"), i, item) {
        hpt_msg_add_core (msg, json_integer_value (item));
    }
    hpt_msg_set_grace_ms (msg, self->settings->stop_grace_ms);
    if (in->stdout_metrics)
        hpt_msg_set_stdout_regex (msg,
                                  in->stdout_regex ? in->stdout_regex : HPT_LINE_METRICS_DEFAULT);
    for (size_t k = 0; k < in->package_uri_count; k++)
        hpt_msg_add_package_uri (msg, in->package_uris[k]);
    json_decref (argv);
    json_decref (env);
    free (tf_config);
    free (cluster_spec);
    s_send (self, s_node (self, task->agent), &msg);
}

//  ---------------------------------------------------------------------
//  Scheduling

static int
s_tuner_order (const void *a, const void *b)
{
    hpt_tuner_t *x = *(hpt_tuner_t *const *)a, *y = *(hpt_tuner_t *const *)b;
    if (hpt_tuner_priority (x) != hpt_tuner_priority (y))
        return hpt_tuner_priority (x) > hpt_tuner_priority (y) ? -1 : 1;
    return hpt_tuner_seq (x) < hpt_tuner_seq (y) ? -1 : hpt_tuner_seq (x) > hpt_tuner_seq (y);
}

static size_t
s_connected_nodes (hpt_core_t *self)
{
    size_t n = 0;
    for (size_t i = 0; i < self->node_count; i++)
        n += self->nodes[i]->state == HPT_HOST_READY;
    return n;
}

static void
s_fail_job (hpt_core_t *self, hpt_tuner_t *tuner, const char *message)
{
    hpt_task_t **to_stop = NULL;
    size_t stop_count = 0;
    hpt_tuner_fail (tuner, self->store, message, s_now (), &to_stop, &stop_count);
    s_log_event (self, tuner, NULL, message);
    s_stop_tasks (self, to_stop, stop_count, "job failed");
}

static void
s_schedule (hpt_core_t *self)
{
    if (self->tuner_count == 0) return;
    hpt_tuner_t **order = malloc (self->tuner_count * sizeof (hpt_tuner_t *));
    memcpy (order, self->tuners, self->tuner_count * sizeof (hpt_tuner_t *));
    qsort (order, self->tuner_count, sizeof (hpt_tuner_t *), s_tuner_order);
    const char *blocked_by = NULL;
    for (size_t j = 0; j < self->tuner_count; j++) {
        hpt_tuner_t *tuner = order[j];
        if (hpt_tuner_finished (tuner) || hpt_tuner_state (tuner) == HPT_JOB_CANCELLING) continue;
        //  A job that no connected agent could ever run fails at once.
        if (s_connected_nodes (self) > 0) {
            size_t request_count;
            const hpt_task_request_t *requests = hpt_tuner_requests (tuner, &request_count);
            char *why =
                hpt_scheduler_infeasible (self->nodes, self->node_count, requests, request_count);
            if (why) {
                char *message = zsys_sprintf ("No agent can ever run this job's trials: %s", why);
                s_fail_job (self, tuner, message);
                zstr_free (&message);
                free (why);
                continue;
            }
        }
        if (blocked_by) {
            char *reason =
                zsys_sprintf ("waiting behind job %s, which is first in the queue", blocked_by);
            hpt_tuner_set_queue_reason (tuner, reason);
            zstr_free (&reason);
            continue;
        }
        while (true) {
            hpt_trial_t *trial = hpt_tuner_next_trial (tuner, self->store, s_now ());
            if (!trial) break;
            if (!hpt_scheduler_place (self->nodes, self->node_count, trial)) {
                hpt_tuner_set_queue_reason (tuner, s_connected_nodes (self)
                                                       ? "waiting for free resources on the agents"
                                                       : "waiting for an agent to connect");
                blocked_by = hpt_tuner_id (tuner);
                break;
            }
            if (hpt_tuner_trial_placed (tuner, self->store, trial, s_now ()) != 0) {
                //  Not durable, so not launched: give the resources back
                //  and try again at the next event.
                for (size_t i = 0; i < trial->task_count; i++)
                    hpt_scheduler_release (s_node (self, trial->tasks[i].agent), &trial->tasks[i]);
                zsys_error ("hptmaster: cannot store trial: %s", hpt_store_error (self->store));
                break;
            }
            s_index_trial (self, tuner, trial);
            for (size_t i = 0; i < trial->task_count; i++)
                s_launch_task (self, tuner, trial, &trial->tasks[i]);
        }
    }
    free (order);
}

//  ---------------------------------------------------------------------
//  Task events

static void
s_task_ref_free (void **item_p)
{
    free (*item_p);
    *item_p = NULL;
}

static s_task_ref_t *
s_task (hpt_core_t *self, const char *task_id)
{
    return task_id ? zhashx_lookup (self->tasks, task_id) : NULL;
}

//  A task ended: release what it holds, let the tuner decide, stop what
//  must be stopped.
static void
s_task_ended (hpt_core_t *self, s_task_ref_t *ref, int exit_code, int signal, const char *reason)
{
    hpt_task_t *task = ref->task;
    if (task->state == HPT_TASK_EXITED) return;
    hpt_scheduler_release (s_node (self, task->agent), task);
    hpt_task_t **to_stop = NULL;
    size_t stop_count = 0;
    hpt_trial_state_t before = ref->trial->state;
    hpt_tuner_task_exited (ref->tuner, self->store, ref->trial, task, exit_code, signal, reason,
                           s_now (), &to_stop, &stop_count);
    if (ref->trial->state != before) {
        char *text = zsys_sprintf (
            "trial %" PRId64 " %s%s%s", ref->trial->id, hpt_trial_state_name (ref->trial->state),
            ref->trial->message ? ": " : "", ref->trial->message ? ref->trial->message : "");
        s_log_event (self, ref->tuner, ref->trial, text);
        zstr_free (&text);
    }
    s_stop_tasks (self, to_stop, stop_count, "trial ended");
}

static void
s_requeue (hpt_core_t *self, s_task_ref_t *ref, const char *reason)
{
    hpt_trial_t *trial = ref->trial;
    hpt_tuner_t *tuner = ref->tuner;
    for (size_t i = 0; i < trial->task_count; i++) {
        hpt_task_t *task = &trial->tasks[i];
        if (task->state == HPT_TASK_EXITED || !task->agent) continue;
        s_send_stop (self, task, reason);
        hpt_scheduler_release (s_node (self, task->agent), task);
        zhashx_delete (self->tasks, task->task_id);
    }
    hpt_tuner_requeue_trial (tuner, self->store, trial, reason, s_now ());
    char *text = zsys_sprintf ("trial %" PRId64 " requeued: %s", trial->id, reason);
    s_log_event (self, tuner, trial, text);
    zstr_free (&text);
}

//  Applies what happens to the tasks of a node that is gone or drained
//  with --now. requeue: their trials go back to the queue; otherwise they
//  fail with reason.
static void
s_evict_node (hpt_core_t *self, hpt_host_t *node, bool requeue, const char *reason)
{
    //  Collect first: ending tasks changes the index.
    zlistx_t *refs = zlistx_new ();
    for (s_task_ref_t *ref = zhashx_first (self->tasks); ref; ref = zhashx_next (self->tasks))
        if (ref->task->agent && strcmp (ref->task->agent, node->name) == 0 &&
            ref->task->state != HPT_TASK_EXITED)
            zlistx_add_end (refs, ref);
    for (s_task_ref_t *ref = zlistx_first (refs); ref; ref = zlistx_next (refs)) {
        if (ref->task->state == HPT_TASK_EXITED) continue;
        if (requeue && ref->trial->state != HPT_TRIAL_STOPPING)
            s_requeue (self, ref, reason);
        else
            s_task_ended (self, ref, -1, 0, reason);
    }
    zlistx_destroy (&refs);
}

static void s_node_lost (hpt_core_t *self, hpt_host_t *node, const char *why);

//  ---------------------------------------------------------------------
//  Agent messages

static void
s_store_agent (hpt_core_t *self, hpt_host_t *node)
{
    char *resources = node->resources ? hpt_json_dumps (node->resources, false) : NULL;
    hpt_store_agent_t row = {node->name, hpt_host_state_name (node->state), node->last_seen,
                             resources};
    hpt_store_agent_upsert (self->store, &row);
    free (resources);
}

static void
s_reject (hpt_core_t *self, zframe_t *routing_id, const char *reason)
{
    hpt_msg_t *msg = hpt_msg_new (HPT_MSG_REJECT);
    hpt_msg_set_reason (msg, reason);
    //  The agent may try again once the cause may have gone.
    hpt_msg_set_retry_ms (msg, self->settings->agent_timeout_ms);
    hpt_msg_set_routing_id (msg, routing_id);
    hpt_msg_send (&msg, self->agents);
}

static void
s_send_ack (hpt_core_t *self, hpt_host_t *node, int64_t seq)
{
    hpt_msg_t *msg = hpt_msg_new (HPT_MSG_ACK);
    hpt_msg_set_seq (msg, seq);
    s_send (self, node, &msg);
}

static void
s_on_hello (hpt_core_t *self, hpt_msg_t *msg)
{
    zframe_t *routing_id = hpt_msg_routing_id (msg);
    const char *name = hpt_msg_name (msg);
    if (hpt_msg_protocol (msg) != HPT_MSG_PROTOCOL) {
        char *why = zsys_sprintf ("protocol version %d is not supported (this master speaks %d)",
                                  (int)hpt_msg_protocol (msg), HPT_MSG_PROTOCOL);
        s_reject (self, routing_id, why);
        zstr_free (&why);
        return;
    }
    hpt_host_t *node = s_node (self, name);
    if (node && node->state == HPT_HOST_READY && node->routing_id &&
        !zframe_eq (node->routing_id, routing_id))
        //  The last HELLO for a name wins (PROTOCOL.md): usually an agent
        //  restarted before its old connection timed out.
        zsys_warning ("hptmaster: agent %s registered again from a new connection", name);
    char *error = NULL;
    //  The node's view: the topology document plus where its tasks are
    //  reached (advertise, port range).
    json_t *resources = json_deep_copy (hpt_msg_resources (msg));
    if (!json_is_object (resources)) {
        json_decref (resources);
        resources = json_object ();
    }
    if (hpt_msg_advertise (msg))
        json_object_set_new (resources, "advertise", json_string (hpt_msg_advertise (msg)));
    if (hpt_msg_port_low (msg) > 0)
        json_object_set_new (resources, "ports",
                             json_pack ("[I,I]", (json_int_t)hpt_msg_port_low (msg),
                                        (json_int_t)hpt_msg_port_high (msg)));
    hpt_host_t *fresh = hpt_host_new (name, resources, &error);
    json_decref (resources);
    if (!fresh) {
        s_reject (self, routing_id, error);
        free (error);
        return;
    }
    if (!node) {
        node = fresh;
        s_add_node (self, node);
        hpt_store_agent_set_drain (self->store, name, "NONE", false, NULL, NULL, 0);
    } else {
        //  A returning agent: keep drain state and reservations, take the
        //  resources it reports now when nothing is placed on it.
        if (node->running_tasks == 0) {
            fresh->drain = node->drain;
            fresh->drain_reason = node->drain_reason, node->drain_reason = NULL;
            fresh->drained_by = node->drained_by, node->drained_by = NULL;
            fresh->drain_time = node->drain_time;
            fresh->acked_seq = node->acked_seq;
            for (size_t i = 0; i < self->node_count; i++)
                if (self->nodes[i] == node) self->nodes[i] = fresh;
            hpt_host_destroy (&node);
            node = fresh;
        } else
            hpt_host_destroy (&fresh);
    }
    //  Repair the stored mark when it disagrees with the agent's spool
    //  (PROTOCOL.md 6.3, rule 5): a master older than the agent's view,
    //  or an agent that lost its spool and counts from a lower number.
    int64_t agent_acked = hpt_msg_acked_seq (msg), agent_last = hpt_msg_last_seq (msg);
    if (node->acked_seq < agent_acked || node->acked_seq > agent_last) {
        zsys_warning ("hptmaster: agent %s: stored seq %lld repaired to %lld (agent acked %lld, "
                      "last %lld)",
                      node->name, (long long)node->acked_seq, (long long)agent_acked,
                      (long long)agent_acked, (long long)agent_last);
        node->acked_seq = agent_acked;
    }
    zframe_destroy (&node->routing_id);
    node->routing_id = zframe_dup (routing_id);
    node->state = HPT_HOST_READY;
    node->last_seen = s_now ();
    s_store_agent (self, node);
    hpt_store_agent_set_acked_seq (self->store, node->name, node->acked_seq);

    hpt_msg_t *welcome = hpt_msg_new (HPT_MSG_WELCOME);
    hpt_msg_set_heartbeat_ms (welcome, self->settings->heartbeat_interval_ms);
    hpt_msg_set_agent_timeout_ms (welcome, self->settings->agent_timeout_ms);
    hpt_msg_set_master_epoch (welcome, self->epoch);
    hpt_msg_set_protocol (welcome, HPT_MSG_PROTOCOL);
    hpt_msg_set_acked_seq (welcome, node->acked_seq);
    s_send (self, node, &welcome);
    if (node->drain != HPT_DRAIN_NONE) {
        hpt_msg_t *drain = hpt_msg_new (HPT_MSG_DRAIN);
        hpt_msg_set_draining (drain, true);
        hpt_msg_set_reason (drain, node->drain_reason ? node->drain_reason : "");
        s_send (self, node, &drain);
    }

    //  Reconcile what the agent runs with what the store says it should.
    zhashx_t *known = zhashx_new ();
    for (size_t i = 0; i < hpt_msg_task_count (msg); i++) {
        const char *task_id = NULL, *state = NULL;
        int64_t pid = 0;
        if (hpt_msg_task_at (msg, i, &task_id, &pid, &state) != 0 || !task_id) continue;
        zhashx_update (known, task_id, (void *)task_id);
        s_task_ref_t *ref = s_task (self, task_id);
        bool exited = state && strcmp (state, "EXITED") == 0;
        if (!ref || ref->task->state == HPT_TASK_EXITED || !ref->task->agent ||
            strcmp (ref->task->agent, node->name) != 0) {
            if (!exited) {
                //  Runs, but the master has finished with it: stop it.
                hpt_msg_t *stop = hpt_msg_new (HPT_MSG_STOP);
                hpt_msg_set_task_id (stop, task_id);
                hpt_msg_set_reason (stop, "the master does not know this task");
                hpt_msg_set_grace_ms (stop, self->settings->stop_grace_ms);
                s_send (self, node, &stop);
            }
            continue;
        }
        if (!exited && ref->task->state == HPT_TASK_LAUNCHING)
            hpt_tuner_task_started (ref->tuner, self->store, ref->trial, ref->task, pid, s_now ());
    }
    zlistx_t *lost = zlistx_new ();
    for (s_task_ref_t *ref = zhashx_first (self->tasks); ref; ref = zhashx_next (self->tasks))
        if (ref->task->agent && strcmp (ref->task->agent, node->name) == 0 &&
            ref->task->state != HPT_TASK_EXITED && !zhashx_lookup (known, ref->task->task_id))
            zlistx_add_end (lost, ref);
    for (s_task_ref_t *ref = zlistx_first (lost); ref; ref = zlistx_next (lost)) {
        if (ref->task->state == HPT_TASK_LAUNCHING)
            //  Stored, but its LAUNCH never reached the agent: this is its
            //  first launch, not a second one.
            s_launch_task (self, ref->tuner, ref->trial, ref->task);
        else if (ref->task->state == HPT_TASK_STOPPING)
            s_task_ended (self, ref, -1, SIGKILL, NULL);
        else
            s_task_ended (self, ref, -1, 0, "was lost: its agent no longer runs it");
    }
    zlistx_destroy (&lost);
    zhashx_destroy (&known);
}

//  Applies one seq'd agent event inside a transaction with the acked seq,
//  then ACKs. Returns false when it is a replay (ACKed again) or comes
//  after a gap (dropped: only seq = acked + 1 is stored).
static bool
s_event_begin (hpt_core_t *self, hpt_host_t *node, int64_t seq)
{
    if (seq <= node->acked_seq) {
        //  A replay of something stored (PROTOCOL.md 6.3).
        s_send_ack (self, node, node->acked_seq);
        return false;
    }
    if (seq > node->acked_seq + 1) {
        //  A gap: an earlier event was lost on a broken connection. Store
        //  nothing out of order; the agent retransmits in order.
        s_drop (self, "seq_gap");
        return false;
    }
    hpt_store_begin (self->store);
    return true;
}

static void
s_event_end (hpt_core_t *self, hpt_host_t *node, int64_t seq)
{
    node->acked_seq = seq;
    hpt_store_agent_set_acked_seq (self->store, node->name, seq);
    if (hpt_store_commit (self->store) != HPT_STORE_OK) {
        //  Not durable: do not ACK, the agent will replay it.
        zsys_error ("hptmaster: store commit failed: %s", hpt_store_error (self->store));
        hpt_store_rollback (self->store);
        return;
    }
    s_send_ack (self, node, seq);
}

static void
s_on_task_started (hpt_core_t *self, hpt_host_t *node, hpt_msg_t *msg)
{
    int64_t seq = hpt_msg_seq (msg);
    if (!s_event_begin (self, node, seq)) return;
    s_task_ref_t *ref = s_task (self, hpt_msg_task_id (msg));
    if (ref && ref->task->agent && strcmp (ref->task->agent, node->name) == 0)
        hpt_tuner_task_started (ref->tuner, self->store, ref->trial, ref->task, hpt_msg_pid (msg),
                                s_now ());
    else
        s_drop (self, "unknown_task");
    s_event_end (self, node, seq);
}

static void
s_on_task_exited (hpt_core_t *self, hpt_host_t *node, hpt_msg_t *msg)
{
    int64_t seq = hpt_msg_seq (msg);
    if (!s_event_begin (self, node, seq)) return;
    s_task_ref_t *ref = s_task (self, hpt_msg_task_id (msg));
    if (ref && ref->task->agent && strcmp (ref->task->agent, node->name) == 0) {
        const char *reason = hpt_msg_reason (msg);
        //  An exec failure or similar is the agent's own explanation.
        s_task_ended (self, ref, hpt_msg_exit_code (msg), hpt_msg_signal (msg),
                      reason && *reason && hpt_msg_exit_code (msg) == 127 ? reason : NULL);
    } else
        s_drop (self, "unknown_task");
    s_event_end (self, node, seq);
}

static void
s_on_metrics (hpt_core_t *self, hpt_host_t *node, hpt_msg_t *msg)
{
    int64_t seq = hpt_msg_seq (msg);
    if (!s_event_begin (self, node, seq)) return;
    s_task_ref_t *ref = s_task (self, hpt_msg_task_id (msg));
    //  An agent speaks only for its own tasks.
    if (ref && (!ref->task->agent || strcmp (ref->task->agent, node->name) != 0)) ref = NULL;
    size_t count = hpt_msg_point_count (msg);
    if (ref && count) {
        hpt_store_metric_t *batch = calloc (count, sizeof (hpt_store_metric_t));
        char *stop_reason = NULL;
        for (size_t i = 0; i < count; i++) {
            int64_t step = -1, time_ms = 0;
            hpt_msg_point_at (msg, i, &batch[i].tag, &batch[i].value, &step, &time_ms);
            batch[i].job_id = hpt_tuner_id (ref->tuner);
            batch[i].trial_id = ref->trial->id;
            batch[i].task_id = ref->task->task_id;
            //  No step from the trainer: the report's order stands in.
            batch[i].step = step >= 0 ? step : ref->trial->reports + 1;
            batch[i].time = (double)time_ms / 1000.0;
            char reason[512];
            if (hpt_tuner_metric (ref->tuner, ref->trial, ref->task, batch[i].tag, batch[i].step,
                                  batch[i].value, batch[i].time, reason, sizeof (reason)) &&
                !stop_reason)
                stop_reason = strdup (reason);
        }
        hpt_store_metrics_append (self->store, batch, count, NULL);
        free (batch);
        if (stop_reason) {
            //  Early stopping: stored first (STOPPING, the reason), then
            //  the STOPs go out.
            char *why = zsys_sprintf ("stopped early: %s", stop_reason);
            hpt_task_t **to_stop = NULL;
            size_t stop_count = 0;
            hpt_tuner_stop_early (ref->tuner, self->store, ref->trial, why, s_now (), &to_stop,
                                  &stop_count);
            char *text = zsys_sprintf ("trial %" PRId64 " %s", ref->trial->id, why);
            s_log_event (self, ref->tuner, ref->trial, text);
            zstr_free (&text);
            s_stop_tasks (self, to_stop, stop_count, "early stopping");
            zstr_free (&why);
            free (stop_reason);
        }
    } else if (!ref)
        s_drop (self, "unknown_task");
    s_event_end (self, node, seq);
}

static void
s_on_logs (hpt_core_t *self, hpt_host_t *node, hpt_msg_t *msg)
{
    int64_t seq = hpt_msg_seq (msg);
    if (!s_event_begin (self, node, seq)) return;
    s_task_ref_t *ref = s_task (self, hpt_msg_task_id (msg));
    if (ref && (!ref->task->agent || strcmp (ref->task->agent, node->name) != 0)) ref = NULL;
    if (ref) {
        //  One log entry per line, so readers can prefix and filter lines.
        size_t size = 0;
        const char *data = hpt_msg_data (msg, &size);
        char *replica =
            zsys_sprintf ("%s-%d", ref->task->request->replica, ref->task->request->index);
        char buf[40], id[32];
        snprintf (id, sizeof (id), "%" PRId64, ref->trial->id);
        hpt_time_format (s_now (), buf, sizeof (buf));
        //  Opened once per chunk, not per line: a chunk may hold thousands.
        FILE *file = s_log_open (self, hpt_tuner_id (ref->tuner));
        size_t start = 0;
        while (file && data && start < size) {
            //  Each entry keeps its newline, so a reader can tell a whole
            //  line from the start of one still being written.
            const char *nl = memchr (data + start, '\n', size - start);
            size_t len = nl ? (size_t)(nl - (data + start)) + 1 : size - start;
            json_t *text = json_stringn (data + start, len);
            if (!text) {
                //  Not UTF-8: keep ASCII, mark the rest, so the log stays JSON.
                char *clean = malloc (len + 1);
                for (size_t k = 0; k < len; k++) {
                    unsigned char c = (unsigned char)data[start + k];
                    clean[k] = (c >= 0x20 && c < 0x7f) || c == '\n' || c == '\t' ? (char)c : '?';
                }
                text = json_stringn (clean, len);
                free (clean);
            }
            json_t *entry = json_object ();
            json_object_set_new (entry, "trialId", json_string (id));
            json_object_set_new (entry, "taskId", json_string (ref->task->task_id));
            json_object_set_new (entry, "replica", json_string (replica));
            json_object_set_new (entry, "stream", json_string (hpt_msg_stream (msg)));
            json_object_set_new (entry, "time", json_string (buf));
            json_object_set_new (entry, "text", text ? text : json_string (""));
            s_log_write (file, entry);
            json_decref (entry);
            start += len;
        }
        if (file) fclose (file);
        zstr_free (&replica);
    } else
        s_drop (self, "unknown_task");
    s_event_end (self, node, seq);
}

static int
s_on_agent_message (zloop_t *loop, zsock_t *reader, void *arg)
{
    hpt_core_t *self = arg;
    hpt_msg_fault_t fault;
    memset (&fault, 0, sizeof (fault));
    hpt_msg_t *msg = hpt_msg_recv_fault (reader, &fault);
    if (!msg) {
        if (fault.kind != HPT_MSG_FAULT_INTERRUPTED) {
            //  Counted and dropped, never fatal; the sender learns why.
            s_drop (self, hpt_msg_fault_name (fault.kind));
            if (fault.routing_id) {
                hpt_msg_t *reply = hpt_msg_new (
                    fault.kind == HPT_MSG_FAULT_VERSION ? HPT_MSG_REJECT : HPT_MSG_ERROR);
                hpt_msg_set_reason (reply, fault.text);
                if (fault.kind == HPT_MSG_FAULT_VERSION)
                    hpt_msg_add_protocol (reply, HPT_MSG_PROTOCOL);
                else
                    hpt_msg_set_code (reply, "MALFORMED");
                hpt_msg_set_routing_id (reply, fault.routing_id);
                hpt_msg_send (&reply, self->agents);
            }
        }
        hpt_msg_fault_reset (&fault);
        return 0;
    }
    int id = hpt_msg_id (msg);
    if (id == HPT_MSG_HELLO) {
        s_on_hello (self, msg);
        hpt_msg_destroy (&msg);
        s_schedule (self);
        return 0;
    }
    //  Everything else must come from a registered connection.
    hpt_host_t *node = NULL;
    for (size_t i = 0; i < self->node_count && !node; i++)
        if (self->nodes[i]->routing_id &&
            zframe_eq (self->nodes[i]->routing_id, hpt_msg_routing_id (msg)))
            node = self->nodes[i];
    if (!node || node->state == HPT_HOST_LOST) {
        //  Unknown peer (or one we gave up on): make it say HELLO again.
        s_drop (self, "not_registered");
        hpt_msg_t *reply = hpt_msg_new (HPT_MSG_ERROR);
        hpt_msg_set_code (reply, "NOT_REGISTERED");
        hpt_msg_set_reason (reply, "not registered: send HELLO");
        hpt_msg_set_routing_id (reply, hpt_msg_routing_id (msg));
        hpt_msg_send (&reply, self->agents);
        hpt_msg_destroy (&msg);
        return 0;
    }
    node->last_seen = s_now ();
    switch (id) {
        case HPT_MSG_HEARTBEAT:
            break;
        case HPT_MSG_TASK_STARTED:
            s_on_task_started (self, node, msg);
            break;
        case HPT_MSG_TASK_EXITED:
            s_on_task_exited (self, node, msg);
            break;
        case HPT_MSG_METRICS:
            s_on_metrics (self, node, msg);
            break;
        case HPT_MSG_LOGS:
            s_on_logs (self, node, msg);
            break;
        case HPT_MSG_BYE: {
            //  Leaving on purpose: gone now, not after the timeout.
            char *why =
                zsys_sprintf ("said BYE: %s", hpt_msg_reason (msg) ? hpt_msg_reason (msg) : "");
            s_node_lost (self, node, why);
            zstr_free (&why);
            zframe_destroy (&node->routing_id);
            break;
        }
        default:
            s_drop (self, "unexpected");
    }
    hpt_msg_destroy (&msg);
    if (id == HPT_MSG_TASK_EXITED || id == HPT_MSG_BYE) s_schedule (self);
    return 0;
}

//  ---------------------------------------------------------------------
//  Timers

static void
s_node_lost (hpt_core_t *self, hpt_host_t *node, const char *why)
{
    node->state = HPT_HOST_LOST;
    s_store_agent (self, node);
    char *reason = zsys_sprintf ("was lost with its agent %s (%s)", node->name, why);
    s_evict_node (self, node, self->settings->agent_lost_policy == HPT_AGENT_LOST_REQUEUE, reason);
    zstr_free (&reason);
    zsys_warning ("hptmaster: agent %s lost: %s", node->name, why);
}

//  scheduling.maxWaitTime: a job still QUEUED or PREPARING that long after
//  its submission is cancelled; scheduling.maxRunningTime: a job running
//  longer than that since it started fails. Both with a message.
static bool
s_enforce_limits (hpt_core_t *self, int64_t now)
{
    bool changed = false;
    for (size_t i = 0; i < self->tuner_count; i++) {
        hpt_tuner_t *tuner = self->tuners[i];
        hpt_scheduling_t *sched = &hpt_tuner_spec (tuner)->input.scheduling;
        if (hpt_tuner_finished (tuner) || !sched->present) continue;
        hpt_job_state_t state = hpt_tuner_state (tuner);
        double waited = (double)(now - hpt_tuner_create_time (tuner)) / 1000.0;
        double ran = hpt_tuner_start_time (tuner)
                         ? (double)(now - hpt_tuner_start_time (tuner)) / 1000.0
                         : 0;
        hpt_task_t **to_stop = NULL;
        size_t stop_count = 0;
        if (sched->max_wait_time > 0 && waited > sched->max_wait_time &&
            (state == HPT_JOB_QUEUED || state == HPT_JOB_PREPARING)) {
            char *message = zsys_sprintf ("Job cancelled: still %s after scheduling.maxWaitTime "
                                          "(%gs)",
                                          hpt_job_state_name (state), sched->max_wait_time);
            hpt_tuner_cancel_because (tuner, self->store, message, now, &to_stop, &stop_count);
            s_log_event (self, tuner, NULL, message);
            zstr_free (&message);
            s_stop_tasks (self, to_stop, stop_count, "maxWaitTime exceeded");
            changed = true;
        } else if (sched->max_running_time > 0 && ran > sched->max_running_time &&
                   state != HPT_JOB_CANCELLING) {
            char *message = zsys_sprintf ("Job failed: it ran longer than "
                                          "scheduling.maxRunningTime (%gs)",
                                          sched->max_running_time);
            s_fail_job (self, tuner, message);
            zstr_free (&message);
            changed = true;
        }
    }
    return changed;
}

static int
s_on_heartbeat_timer (zloop_t *loop, int timer_id, void *arg)
{
    hpt_core_t *self = arg;
    int64_t now = s_now ();
    bool changed = s_enforce_limits (self, now);
    for (size_t i = 0; i < self->node_count; i++) {
        hpt_host_t *node = self->nodes[i];
        if (node->state == HPT_HOST_READY) {
            if (now - node->last_seen > self->settings->agent_timeout_ms) {
                s_node_lost (self, node, "silent past the agent timeout");
                changed = true;
                continue;
            }
            hpt_msg_t *msg = hpt_msg_new (HPT_MSG_HEARTBEAT);
            hpt_msg_set_seq (msg, node->acked_seq);
            s_send (self, node, &msg);
        } else if (node->state == HPT_HOST_DISCONNECTED &&
                   now - self->started > self->settings->agent_timeout_ms) {
            s_node_lost (self, node, "did not come back after the master restarted");
            changed = true;
        }
        if (node->drain == HPT_DRAIN_DRAINING && node->running_tasks == 0) {
            node->drain = HPT_DRAIN_DRAINED;
            hpt_store_agent_set_drain (self->store, node->name, "DRAINED", false,
                                       node->drain_reason, node->drained_by, node->drain_time);
        }
    }
    if (changed) s_schedule (self);
    return 0;
}

static int
s_on_api_request (zloop_t *loop, zsock_t *reader, void *arg)
{
    hpt_core_t *self = arg;
    hpt_api_request_t *request = hpt_api_request_recv (reader);
    if (!request) return 0;
    hpt_routes_handle (self, reader, request);
    hpt_api_request_destroy (&request);
    return 0;
}

//  ---------------------------------------------------------------------
//  Jobs

static uint64_t
s_fnv1a (const char *text)
{
    uint64_t hash = 1469598103934665603ULL;
    for (const unsigned char *c = (const unsigned char *)text; *c; c++)
        hash = (hash ^ *c) * 1099511628211ULL;
    return hash;
}

//  The tasks of one trial of spec, from the cluster configuration.
static hpt_task_request_t *
s_requests (hpt_core_t *self, hpt_job_t *spec, size_t *count, char **error)
{
    hpt_task_spec_t *specs = NULL;
    if (hpt_cluster_config_tasks (self->config, spec, &specs, count, error) != 0) return NULL;
    hpt_task_request_t *requests = calloc (*count ? *count : 1, sizeof (hpt_task_request_t));
    for (size_t i = 0; i < *count; i++) {
        requests[i].replica = strdup (specs[i].replica);
        requests[i].index = (int)specs[i].index;
        requests[i].machine_type = strdup (specs[i].machine_type);
        requests[i].cpus = specs[i].cpus;
        requests[i].memory_mb = specs[i].memory_mb;
        requests[i].accel_type =
            specs[i].accelerator_type ? strdup (specs[i].accelerator_type) : NULL;
        requests[i].accel_count = (int)specs[i].accelerator_count;
    }
    hpt_task_specs_destroy (&specs, *count);
    return requests;
}

//  resumePreviousJobId: the previous job must exist and be finished; goal,
//  params, metric tag and algorithm the spec leaves out are taken from it,
//  and a value the spec gives must agree with it. Returns the previous
//  job, or NULL with *error (the field and what is wrong).
static hpt_tuner_t *
s_resume_merge (hpt_core_t *self, hpt_job_t *spec, char **error)
{
    hpt_hyperparameters_t *hp = spec->input.hyperparameters;
    const char *id = hp->resume_previous_job_id;
    hpt_tuner_t *previous = hpt_core_job (self, id);
    if (!previous) {
        *error = zsys_sprintf ("trainingInput.hyperparameters.resumePreviousJobId: job %s not "
                               "found",
                               id);
        return NULL;
    }
    if (!hpt_tuner_finished (previous)) {
        *error = zsys_sprintf ("trainingInput.hyperparameters.resumePreviousJobId: job %s is %s; "
                               "only a finished job can be resumed",
                               id, hpt_job_state_name (hpt_tuner_state (previous)));
        return NULL;
    }
    hpt_hyperparameters_t *old = hpt_tuner_spec (previous)->input.hyperparameters;
    if (!old || !old->param_count) {
        *error = zsys_sprintf ("trainingInput.hyperparameters.resumePreviousJobId: job %s was not "
                               "a hyperparameter tuning job",
                               id);
        return NULL;
    }
    if (hp->goal == HPT_GOAL_UNSPECIFIED)
        hp->goal = old->goal;
    else if (hp->goal != old->goal) {
        *error = zsys_sprintf ("trainingInput.hyperparameters.goal: %s conflicts with the resumed "
                               "job %s (%s)",
                               hpt_goal_name (hp->goal), id, hpt_goal_name (old->goal));
        return NULL;
    }
    if (!hp->metric_tag)
        hp->metric_tag = strdup (old->metric_tag);
    else if (strcmp (hp->metric_tag, old->metric_tag) != 0) {
        *error = zsys_sprintf ("trainingInput.hyperparameters.hyperparameterMetricTag: '%s' "
                               "conflicts with the resumed job %s ('%s')",
                               hp->metric_tag, id, old->metric_tag);
        return NULL;
    }
    if (!hp->has_algorithm) {
        hp->algorithm = old->algorithm;
        hp->has_algorithm = true;
    } else if (hp->algorithm != old->algorithm) {
        *error = zsys_sprintf ("trainingInput.hyperparameters.algorithm: %s conflicts with the "
                               "resumed job %s (%s)",
                               hpt_algorithm_name (hp->algorithm), id,
                               hpt_algorithm_name (old->algorithm));
        return NULL;
    }
    if (hp->param_count == 0) {
        free (hp->params);
        hp->params = calloc (old->param_count, sizeof (hpt_param_spec_t));
        for (size_t i = 0; i < old->param_count; i++)
            hpt_param_spec_copy (&hp->params[i], &old->params[i]);
        hp->param_count = old->param_count;
        return previous;
    }
    //  Given again: they must be the same parameters, since the previous
    //  history only means something in the same space.
    json_t *a = hpt_job_to_json (spec), *b = hpt_job_to_json (hpt_tuner_spec (previous));
    json_t *pa = json_object_get (
        json_object_get (json_object_get (a, "trainingInput"), "hyperparameters"), "params");
    json_t *pb = json_object_get (
        json_object_get (json_object_get (b, "trainingInput"), "hyperparameters"), "params");
    bool same = json_equal (pa, pb);
    json_decref (a);
    json_decref (b);
    if (!same) {
        *error = zsys_sprintf ("trainingInput.hyperparameters.params: differ from the resumed job "
                               "%s; leave them out to inherit them",
                               id);
        return NULL;
    }
    return previous;
}

hpt_tuner_t *
hpt_core_submit (hpt_core_t *self, hpt_job_t *spec, const char *project, int *status, char **error)
{
    *status = 400;
    hpt_training_input_t *in = &spec->input;
    if (hpt_core_job (self, spec->job_id)) {
        *status = 409;
        *error = zsys_sprintf ("Job %s already exists", spec->job_id);
        hpt_job_destroy (&spec);
        return NULL;
    }
    if (!in->command_count && !in->python_module) {
        *error = strdup ("No trainer: set trainingInput.command (hpt extension: the program to "
                         "run) or trainingInput.pythonModule");
        hpt_job_destroy (&spec);
        return NULL;
    }
    hpt_tuner_t *previous = NULL;
    if (in->hyperparameters && in->hyperparameters->resume_previous_job_id) {
        previous = s_resume_merge (self, spec, error);
        if (!previous) {
            hpt_job_destroy (&spec);
            return NULL;
        }
    }
    size_t count = 0;
    hpt_task_request_t *requests = s_requests (self, spec, &count, error);
    if (!requests) {
        hpt_job_destroy (&spec);
        return NULL;
    }
    if (s_connected_nodes (self) > 0) {
        char *why = hpt_scheduler_infeasible (self->nodes, self->node_count, requests, count);
        if (why) {
            *error = zsys_sprintf ("No agent can ever run this job's trials: %s", why);
            free (why);
            hpt_task_requests_destroy (&requests, count);
            hpt_job_destroy (&spec);
            return NULL;
        }
    }
    uint64_t seed = self->settings->seed ^ s_fnv1a (spec->job_id);
    char *store_error = NULL;
    hpt_tuner_t *tuner =
        hpt_tuner_new (self->store, spec, project, requests, count, seed, s_now (), &store_error);
    if (!tuner) {
        *status = store_error && strcmp (store_error, "exists") == 0 ? 409 : 500;
        *error = zsys_sprintf ("Cannot store the job: %s", store_error ? store_error : "?");
        free (store_error);
        return NULL;
    }
    if (previous) hpt_tuner_seed_from (tuner, previous);
    s_add_tuner (self, tuner);
    s_log_event (self, tuner, NULL, "job submitted");
    s_schedule (self);
    *status = 200;
    return tuner;
}

hpt_tuner_t *
hpt_core_job (hpt_core_t *self, const char *job_id)
{
    for (size_t i = 0; job_id && i < self->tuner_count; i++)
        if (strcmp (hpt_tuner_id (self->tuners[i]), job_id) == 0) return self->tuners[i];
    return NULL;
}

hpt_tuner_t **
hpt_core_jobs (hpt_core_t *self, size_t *count)
{
    *count = self->tuner_count;
    return self->tuners;
}

int
hpt_core_cancel (hpt_core_t *self, hpt_tuner_t *tuner)
{
    hpt_task_t **to_stop = NULL;
    size_t stop_count = 0;
    if (hpt_tuner_cancel (tuner, self->store, s_now (), &to_stop, &stop_count) != 0) return -1;
    s_log_event (self, tuner, NULL, "job cancelled");
    s_stop_tasks (self, to_stop, stop_count, "job cancelled");
    return 0;
}

//  ---------------------------------------------------------------------
//  Nodes

hpt_host_t **
hpt_core_nodes (hpt_core_t *self, size_t *count)
{
    *count = self->node_count;
    return self->nodes;
}

hpt_host_t *
hpt_core_node (hpt_core_t *self, const char *name)
{
    return s_node (self, name);
}

int
hpt_core_drain (hpt_core_t *self, hpt_host_t *node, const char *reason, const char *by, bool now)
{
    node->drain = node->running_tasks ? HPT_DRAIN_DRAINING : HPT_DRAIN_DRAINED;
    free (node->drain_reason);
    node->drain_reason = strdup (reason ? reason : "");
    free (node->drained_by);
    node->drained_by = strdup (by ? by : "");
    node->drain_time = s_now ();
    hpt_store_agent_set_drain (self->store, node->name, hpt_drain_state_name (node->drain), now,
                               node->drain_reason, node->drained_by, node->drain_time);
    hpt_msg_t *msg = hpt_msg_new (HPT_MSG_DRAIN);
    hpt_msg_set_draining (msg, true);
    hpt_msg_set_reason (msg, node->drain_reason);
    s_send (self, node, &msg);
    if (now) {
        char *why = zsys_sprintf ("was preempted: node %s drained with --now", node->name);
        s_evict_node (self, node, true, why);
        zstr_free (&why);
        s_schedule (self);
    }
    return 0;
}

int
hpt_core_undrain (hpt_core_t *self, hpt_host_t *node)
{
    node->drain = HPT_DRAIN_NONE;
    free (node->drain_reason);
    node->drain_reason = NULL;
    free (node->drained_by);
    node->drained_by = NULL;
    node->drain_time = 0;
    hpt_store_agent_set_drain (self->store, node->name, "NONE", false, NULL, NULL, 0);
    hpt_msg_t *msg = hpt_msg_new (HPT_MSG_DRAIN);
    hpt_msg_set_draining (msg, false);
    hpt_msg_set_reason (msg, "");
    s_send (self, node, &msg);
    s_schedule (self);
    return 0;
}

const char *
hpt_core_logs_dir (hpt_core_t *self)
{
    return self->logs_dir;
}

zhashx_t *
hpt_core_dropped_by_kind (hpt_core_t *self)
{
    return self->dropped_by_kind;
}

uint64_t
hpt_core_dropped_messages (hpt_core_t *self)
{
    return self->dropped;
}

hpt_store_t *
hpt_core_store (hpt_core_t *self)
{
    return self->store;
}

uint16_t
hpt_core_api_port (hpt_core_t *self)
{
    return hpt_api_port (self->api);
}

const char *
hpt_core_agents_endpoint (hpt_core_t *self)
{
    return self->agents_endpoint;
}

//  ---------------------------------------------------------------------
//  Start, reload, run

static int
s_mkdirs (const char *path)
{
    char buf[4096];
    snprintf (buf, sizeof (buf), "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir (buf, 0755) != 0 && errno != EEXIST) return -1;
            *p = '/';
        }
    return mkdir (buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static void
s_reload (hpt_core_t *self)
{
    json_t *agents = NULL;
    if (hpt_store_agent_list (self->store, &agents) == HPT_STORE_OK) {
        size_t i;
        json_t *row;
        json_array_foreach (agents, i, row) {
            const char *name = json_string_value (json_object_get (row, "name"));
            json_t *resources = json_object_get (row, "resources_json");
            hpt_host_t *node = name ? hpt_host_new (name, resources, NULL) : NULL;
            if (!node) continue;
            node->state = HPT_HOST_DISCONNECTED;
            int drain =
                hpt_drain_state_parse (json_string_value (json_object_get (row, "drain_state")));
            node->drain = drain < 0 ? HPT_DRAIN_NONE : (hpt_drain_state_t)drain;
            const char *reason = json_string_value (json_object_get (row, "drain_reason"));
            const char *by = json_string_value (json_object_get (row, "drained_by"));
            node->drain_reason = reason ? strdup (reason) : NULL;
            node->drained_by = by ? strdup (by) : NULL;
            node->drain_time = json_integer_value (json_object_get (row, "drained_at"));
            node->acked_seq = json_integer_value (json_object_get (row, "last_acked_seq"));
            node->last_seen = json_integer_value (json_object_get (row, "last_seen"));
            s_add_node (self, node);
        }
    }
    json_decref (agents);
    json_t *jobs = NULL;
    if (hpt_store_job_list (self->store, NULL, NULL, NULL, &jobs) != HPT_STORE_OK) return;
    size_t i;
    json_t *row;
    json_array_foreach (jobs, i, row) {
        json_t *spec_json = json_object_get (row, "spec_json");
        char *text = hpt_json_dumps (spec_json, false);
        hpt_diag_t *diag = hpt_diag_new ("store", true);
        hpt_job_t *spec = hpt_job_read_text (text, strlen (text), HPT_CONFIG_JSON, diag);
        free (text);
        hpt_diag_destroy (&diag);
        char *error = NULL;
        size_t count = 0;
        hpt_task_request_t *requests = spec ? s_requests (self, spec, &count, &error) : NULL;
        hpt_tuner_t *tuner =
            requests ? hpt_tuner_load (self->store, row, spec, requests, count, &error) : NULL;
        if (!tuner) {
            zsys_error ("hptmaster: cannot reload job %s: %s",
                        json_string_value (json_object_get (row, "job_id")),
                        error ? error : "its stored spec is invalid");
            free (error);
            if (!requests) hpt_job_destroy (&spec);
            continue;
        }
        hpt_hyperparameters_t *hp = hpt_tuner_spec (tuner)->input.hyperparameters;
        hpt_tuner_t *previous = hp && hp->resume_previous_job_id
                                    ? hpt_core_job (self, hp->resume_previous_job_id)
                                    : NULL;
        if (previous) hpt_tuner_seed_from (tuner, previous);
        s_add_tuner (self, tuner);
        for (size_t t = 0; t < hpt_tuner_trial_count (tuner); t++) {
            hpt_trial_t *trial = hpt_tuner_trial (tuner, t);
            s_index_trial (self, tuner, trial);
            for (size_t k = 0; k < trial->task_count; k++) {
                hpt_task_t *task = &trial->tasks[k];
                if (task->agent && task->state != HPT_TASK_EXITED)
                    hpt_scheduler_restore (s_node (self, task->agent), task);
            }
        }
    }
    json_decref (jobs);
}

hpt_core_t *
hpt_core_new (hpt_cluster_config_t *config, char **error)
{
    const hpt_master_settings_t *settings = hpt_cluster_config_master (config);
    if (s_mkdirs (settings->state_dir) != 0) {
        *error =
            zsys_sprintf ("cannot create stateDir %s: %s", settings->state_dir, strerror (errno));
        return NULL;
    }
    hpt_core_t *self = calloc (1, sizeof (hpt_core_t));
    self->config = config;
    self->settings = settings;
    self->started = s_now ();
    self->epoch = self->started;
    self->tasks = zhashx_new ();
    self->dropped_by_kind = zhashx_new ();
    zhashx_set_destructor (self->dropped_by_kind, s_task_ref_free);
    zhashx_set_destructor (self->tasks, s_task_ref_free);
    self->logs_dir = zsys_sprintf ("%s/logs", settings->state_dir);
    s_mkdirs (self->logs_dir);
    char *db = zsys_sprintf ("%s/hpt.db", settings->state_dir);
    self->store = hpt_store_new (db, error);
    zstr_free (&db);
    if (!self->store) {
        hpt_core_destroy (&self);
        return NULL;
    }
    self->agents = zsock_new (ZMQ_ROUTER);
    zsock_set_router_handover (self->agents, 1);
    zsock_set_maxmsgsize (self->agents, 4 * 1024 * 1024);
    zsock_set_linger (self->agents, 0);
    if (zsock_bind (self->agents, "%s", settings->agents) < 0) {
        *error = zsys_sprintf ("cannot bind the agents endpoint %s: %s", settings->agents,
                               zmq_strerror (zmq_errno ()));
        hpt_core_destroy (&self);
        return NULL;
    }
    self->agents_endpoint = zsock_last_endpoint (self->agents);
    char *inproc = zsys_sprintf ("inproc://hpt-api-%p", (void *)self);
    self->api_router = zsock_new_router (inproc);
    char listen[300];
    snprintf (listen, sizeof (listen), "%s%s%s:%u", strchr (settings->api_host, ':') ? "[" : "",
              settings->api_host, strchr (settings->api_host, ':') ? "]" : "", settings->api_port);
    self->api = hpt_api_new (listen, inproc, error);
    zstr_free (&inproc);
    if (!self->api) {
        hpt_core_destroy (&self);
        return NULL;
    }
    s_reload (self);
    self->loop = zloop_new ();
    zloop_reader (self->loop, self->agents, s_on_agent_message, self);
    zloop_reader (self->loop, self->api_router, s_on_api_request, self);
    zloop_timer (self->loop, (size_t)settings->heartbeat_interval_ms, 0, s_on_heartbeat_timer,
                 self);
    s_schedule (self);
    return self;
}

void
hpt_core_destroy (hpt_core_t **self_p)
{
    if (!self_p || !*self_p) return;
    hpt_core_t *self = *self_p;
    hpt_api_destroy (&self->api);
    zloop_destroy (&self->loop);
    zsock_destroy (&self->api_router);
    zsock_destroy (&self->agents);
    for (size_t i = 0; i < self->tuner_count; i++)
        hpt_tuner_destroy (&self->tuners[i]);
    free (self->tuners);
    for (size_t i = 0; i < self->node_count; i++)
        hpt_host_destroy (&self->nodes[i]);
    free (self->nodes);
    zhashx_destroy (&self->tasks);
    zhashx_destroy (&self->dropped_by_kind);
    hpt_store_destroy (&self->store);
    zstr_free (&self->agents_endpoint);
    zstr_free (&self->logs_dir);
    free (self);
    *self_p = NULL;
}

int
hpt_core_run (hpt_core_t *self)
{
    zloop_start (self->loop);
    return 0;
}
