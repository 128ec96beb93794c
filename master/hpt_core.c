/*  hpt_core -- the master's core loop: transactions, scheduling, timers,
    and the operations the API calls

    The loop
    --------
    zloop readers: the agents ROUTER (hpt_agent_link.c) and the API ROUTER
    (hpt_routes_handle). One timer, every heartbeat interval: heartbeat
    every connected agent, declare agents LOST that have been silent
    longer than agentTimeout (and nodes known before a restart that did
    not come back within agentTimeout plus twice the agents' longest HELLO
    backoff: an agent whose HELLOs backed off while the master was down
    must not be given up on), enforce the jobs' time limits, and finish
    drains. The longest any one event held the loop, and the longest a
    connected agent went unheard, are kept for /metrics: a loop held for
    seconds is what makes a healthy agent look lost.

    Liveness by arrival
    -------------------
    Silence is judged only over time the master was listening, so a busy
    master never declares healthy agents LOST (in bulk, and then drowns in
    their re-registrations). Two rules, both in the heartbeat round:
    1. Every agent frame already queued on the agents socket is read
       before silence is judged, and a READY agent counts as heard when
       a frame of its is read, not when it is handled ("Frames' wait"):
       a heartbeat that arrived while the loop was busy counts. The
       events read stay in the backlog, handled by the groups that
       follow, so the round itself stays short. This is bounded (half a
       heartbeat interval, and the backlog's size); a round that could
       not empty the socket judges no one, since the master is behind,
       not the agents (hpt_loop_rounds_behind_total).
    2. A round that runs later than its due time by more than one
       interval found the loop held (a long event, the process stopped):
       the time it was held is added to every READY agent's last-heard
       time, as if the master had heard them just before it stopped
       listening. An agent that really died then is declared LOST that
       much later, never sooner. Counted on /metrics (hpt_loop_stalls_total,
       hpt_loop_stalled_seconds_total).

    Frames' wait
    ------------
    Each group reads every frame queued on the agents' socket into a
    backlog in memory (at most S_BACKLOG_MAX, one connection's inbound
    high-water mark) before it handles the oldest, and reads again before
    each next one. A heartbeat of a READY agent is handled as it is read,
    ahead of the frames before it: it writes nothing to the store and
    nothing an earlier frame could change (what the agent says of its
    host). So heartbeats do not queue behind a burst of events, and each
    frame is read within one group (10 ms) plus whatever else the loop
    does in a turn. The other frames keep their order. A backlog left
    when a handler ends is handled by a zero-delay timer in the next turn,
    after whatever else is ready, since the poll cannot see it.

    How long a frame waited between its arrival and its handling is
    bounded from above without a clock on the frame: it arrived after the
    socket was last seen empty before it was read. The socket is looked at
    on every read ahead, at the end of every handler, and in the heartbeat
    round's drain; a handler that follows one which left socket and
    backlog empty starts the bound afresh, because the loop was then
    waiting in its poll, which returns as soon as a frame arrives — or
    when the next heartbeat round is due: a handler that starts later
    than that found the process not running (stopped, starved of CPU),
    and the bound starts from the due time instead. So it is never less
    than the real wait but for the operating system's wakeup of an idle
    master (short of the next round); reading ahead keeps it close, since
    the socket is found empty on nearly every read. /metrics:
    hpt_agent_frame_wait_seconds (a histogram) and
    hpt_agent_frame_wait_max_seconds; the target is that no heartbeat
    waits more than 100 ms (docs/targets.md).

    Transactions (docs/durability.md)
    ---------------------------------
    Each thing that happens (an agent's event, an API request that
    changes something, a timer round) is one transaction: hpt_core_begin,
    changes to memory and to the store together, hpt_core_commit. What the
    change makes the master do — LAUNCH, STOP, ACK, WELCOME, DRAIN — is
    posted to an outbox and sent only once the commit returned, and an API
    request is answered only then. So nothing is launched, acknowledged or
    answered that is not durably stored.

    Group commit: the agent frames queued when the loop reads its agents'
    socket are handled as one transaction, S_BATCH_MAX at most and for
    S_BATCH_MS at most. Each frame's changes go to memory and the store as
    before, but hpt_core_begin inside the group joins its transaction,
    hpt_core_commit only says the changes will be committed with it, and
    hpt_core_schedule waits for its end: one scheduling round and one
    commit then serve all the frames, and every ACK, WELCOME and LAUNCH
    they made goes out once that commit returned. A burst of events (the
    500 trials of a job starting together) costs one SQLite transaction
    per group instead of one per event, so the frames behind it, the
    heartbeats among them, wait less (docs/targets.md). A failed commit
    puts back everything the group changed, as for any transaction, and
    acknowledges none of it: the agents replay.

    The API goes first: a group ends early, after its first frame, when
    an API request is waiting, and the loop serves the API before the
    agents in a turn (its reader is registered first). Else a request
    that came during a group waited for it and for the next one or two
    (the backlog's timer runs before the readers); now it waits for one
    frame and one commit. Agents cannot be starved by it: every group
    handles at least one frame, and the API is rate-limited per caller.

    Suggestions are never computed in the loop (docs/optimizer.md
    "Suggestions off the loop"). A scheduling round that finds a job with
    room for k more trials sends the suggester actor one request, a
    snapshot of the job's optimizer history, and the job waits. The answer
    is an event of its own: one transaction stores the new trials
    PENDING, places them and posts their LAUNCHes, sent once it commits.
    The request itself stores nothing; an answer the job no longer
    expects (cancelled, finished, or rebuilt after a failed commit) is
    dropped.

    Failed commits
    --------------
    When a commit fails (a full disk, a read-only file, a statement that
    failed halfway), the store rolls the whole transaction back, and the
    core puts its memory back to what the store holds:
    - the outbox is dropped (the agent replays its unacknowledged events;
      the API answers 503);
    - every tuner that wrote in the transaction is rebuilt from the store
      (hpt_tuner_load: trials, tasks, optimizer history, early-stopping
      rules) and re-indexed;
    - nodes get back the durable fields they had before the transaction
      (state, drain, acked seq: hpt_core_touch_node recorded them), and
      nodes the transaction created are forgotten;
    - every node's reservations are recomputed from the tasks;
    - job logs are cut back to the lengths the store holds.
    The store is then marked failed: the master keeps its connections and
    heartbeats, answers reads, but changes nothing — agents' events are
    dropped unacknowledged (they are replayed later), HELLOs are refused
    with a retry, submissions and other changes get 503 — and says so in
    its log and on /metrics (hpt_store_healthy). Every heartbeat interval
    it probes the store with a small write; once that works it carries on
    by itself: agents retransmit what was not acknowledged, and scheduling
    resumes.

    Scheduling (hpt_core_schedule)
    ------------------------------
    Runs inside the transaction of every event that may free capacity or
    add work. Jobs are served by scheduling.priority (higher first), then
    submission order. A job's PENDING trials (new from a suggester answer,
    or requeued) are taken from its tuner and placed whole by
    hpt_scheduler; then, if it has room for more, it asks the suggester,
    and while it waits for the answer the jobs behind it wait too.
    When the trial at the head of the queue cannot be placed, jobs behind
    it get nothing (no backfill), so a large cluster is never starved by
    small trials; the reason is shown in `hpt jobs describe`
    (hptQueueReason).

    Lost agents (agentLostPolicy): "fail" fails their trials; "requeue"
    puts them back in the queue (not counted as failed) and stops their
    other tasks. The same rule applies whether the agent went silent or
    came back without its tasks (hpt_core_task_lost).
*/
#include "hpt_core_private.h"
#include "hpt_alloc.h"
#include "hpt_log.h"
#include "hpt_fs.h"
#include "hpt_keys.h"
#include "hpt_job_reader.h"
#include "hpt_json.h"
#include "hpt_launch.h"
#include "hpt_resume.h"
#include "hpt_routes.h"
#include "hpt_scheduler.h"
#include "hpt_tls.h"
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include <sys/stat.h>

//  Rendered Job resources kept for GETs of unchanged jobs, at most (a
//  Job of 20 trials with 1000 points each is about 2.3 MB).
#define S_ANSWERS_BYTES (64u * 1024 * 1024)

//  One group commit: at most this many agent frames, and none begun after
//  this many ms. Small enough that the API and the timers wait little
//  behind a group, big enough that a burst costs few commits.
#define S_BATCH_MAX 64
#define S_BATCH_MS 10

//  High-water marks of the agents' ROUTER, per connection (PROTOCOL.md
//  §2): outbound, room for the ACKs of an agent's replay (hptagent keeps
//  256 events in flight) many times over, plus its LAUNCHes and STOPs;
//  inbound, an agent has at most that window of events and a heartbeat in
//  flight, so 1000 queued messages mean one that floods.
#define S_AGENT_SNDHWM 10000
#define S_AGENT_RCVHWM 1000

//  Most agent frames read ahead of their handling ("Frames' wait"): as
//  many as one connection may queue, so reading ahead at most doubles
//  what the agents' socket may hold in memory.
#define S_BACKLOG_MAX S_AGENT_RCVHWM

//  A node's durable fields as they were before the open transaction.
typedef struct {
    char *name;              //  the node
    bool created;            //  the transaction added it
    hpt_host_state_t state;  //  connection state
    hpt_drain_state_t drain; //  drain state
    char *drain_reason;      //  drain reason, may be NULL
    char *drained_by;        //  who drained it, may be NULL
    int64_t drain_time;      //  when
    int64_t acked_seq;       //  events stored
} s_node_undo_t;

//  A message waiting for the commit.
typedef struct {
    char *node;     //  addressee
    hpt_msg_t *msg; //  owned
} s_outgoing_t;

//  An event or a commit that holds the loop this long is logged: it
//  delays every agent and API request behind it.
#define S_BUSY_WARN_US 1000000

int64_t
hpt_core_now (void)
{
    return zclock_time ();
}

void
hpt_core_drop (hpt_core_t *self, const char *kind)
{
    self->dropped++;
    uint64_t *count = zhashx_lookup (self->dropped_by_kind, kind);
    if (!count) {
        count = hpt_calloc (1, sizeof (uint64_t));
        zhashx_insert (self->dropped_by_kind, kind, count);
    }
    (*count)++;
    if (hpt_core_now () - self->last_drop_log >= 1000) {
        self->last_drop_log = hpt_core_now ();
        hpt_log_warning ("dropped an agent message (%s); %" PRIu64 " dropped so far", kind,
                         self->dropped);
    }
}

//  ---------------------------------------------------------------------
//  Indexes

static void
s_index_trial (hpt_core_t *self, hpt_tuner_t *tuner, hpt_trial_t *trial)
{
    for (size_t i = 0; i < trial->task_count; i++) {
        hpt_task_t *task = &trial->tasks[i];
        hpt_task_ref_t *ref = hpt_malloc (sizeof (hpt_task_ref_t));
        *ref = (hpt_task_ref_t){tuner, trial, task};
        zhashx_update (self->tasks, task->task_id, ref);
    }
}

static void
s_index_tuner (hpt_core_t *self, hpt_tuner_t *tuner)
{
    for (size_t t = 0; t < hpt_tuner_trial_count (tuner); t++)
        s_index_trial (self, tuner, hpt_tuner_trial (tuner, t));
}

//  Every task the index holds for tuner is one of its trials' (trials are
//  never removed, and the index is built from them).
static void
s_unindex_tuner (hpt_core_t *self, hpt_tuner_t *tuner)
{
    for (size_t t = 0; t < hpt_tuner_trial_count (tuner); t++) {
        hpt_trial_t *trial = hpt_tuner_trial (tuner, t);
        for (size_t k = 0; k < trial->task_count; k++) {
            hpt_task_ref_t *ref = zhashx_lookup (self->tasks, trial->tasks[k].task_id);
            if (ref && ref->tuner == tuner) zhashx_delete (self->tasks, trial->tasks[k].task_id);
        }
    }
}

hpt_task_ref_t *
hpt_core_task (hpt_core_t *self, const char *task_id)
{
    return task_id ? zhashx_lookup (self->tasks, task_id) : NULL;
}

static void
s_free_item (void **item_p)
{
    free (*item_p);
    *item_p = NULL;
}

static void
s_add_tuner (hpt_core_t *self, hpt_tuner_t *tuner)
{
    if (self->tuner_count == self->tuner_cap) {
        self->tuner_cap = self->tuner_cap ? self->tuner_cap * 2 : 16;
        self->tuners = hpt_realloc (self->tuners, self->tuner_cap * sizeof (hpt_tuner_t *));
    }
    self->tuners[self->tuner_count++] = tuner;
    hpt_tuner_set_used (tuner, zclock_mono ());
}

//  ---------------------------------------------------------------------
//  Sending

//  The ROUTER never blocks the loop: with ZMQ_ROUTER_MANDATORY and a send
//  timeout of 0 (s_bind), a message for a connection that is gone fails
//  at once with EHOSTUNREACH, and one for an agent whose queue is full (it
//  does not read) with EAGAIN. Such a message is dropped and counted; the
//  agent's next HELLO (after a reconnection) or its timeout settles what
//  it missed.
void
hpt_core_send_to (hpt_core_t *self, zframe_t *routing_id, hpt_msg_t **msg_p)
{
    hpt_msg_set_routing_id (*msg_p, routing_id);
    errno = 0;
    if (hpt_msg_send (msg_p, self->agents) == 0) return;
    int code = errno;
    hpt_core_drop (self, code == EHOSTUNREACH ? "send_unroutable"
                         : code == EAGAIN     ? "send_full"
                                              : "send_failed");
}

void
hpt_core_send_now (hpt_core_t *self, hpt_host_t *node, hpt_msg_t **msg_p)
{
    if (!node || !node->routing_id || node->state != HPT_HOST_READY) {
        hpt_msg_destroy (msg_p);
        return;
    }
    hpt_core_send_to (self, node->routing_id, msg_p);
}

void
hpt_core_post (hpt_core_t *self, hpt_host_t *node, hpt_msg_t **msg_p)
{
    hpt_error_t error;
    if (hpt_msg_validate (*msg_p, &error) != 0) {
        hpt_log_error ("not sending an invalid %s: %s", hpt_msg_id_name (hpt_msg_id (*msg_p)),
                       error.message);
        hpt_msg_destroy (msg_p);
        return;
    }
    if (!node || !hpt_store_in_transaction (self->store)) {
        hpt_core_send_now (self, node, msg_p);
        return;
    }
    s_outgoing_t *out = hpt_malloc (sizeof (s_outgoing_t));
    out->node = hpt_strdup (node->name);
    out->msg = *msg_p;
    *msg_p = NULL;
    zlistx_add_end (self->outbox, out);
}

static void
s_outgoing_free (void **item_p)
{
    s_outgoing_t *out = *item_p;
    if (!out) return;
    hpt_msg_destroy (&out->msg);
    free (out->node);
    free (out);
    *item_p = NULL;
}

static void
s_stop (hpt_core_t *self, hpt_task_t *task, const char *reason)
{
    hpt_msg_t *msg = hpt_msg_new (HPT_MSG_STOP);
    hpt_msg_set_task_id (msg, task->task_id);
    hpt_msg_set_reason (msg, reason);
    hpt_msg_set_grace_ms (msg, self->settings->stop_grace_ms);
    hpt_core_post (self, hpt_fleet_get (self->fleet, task->agent), &msg);
}

static void
s_stop_tasks (hpt_core_t *self, hpt_task_t **tasks, size_t count, const char *reason)
{
    for (size_t i = 0; i < count; i++)
        s_stop (self, tasks[i], reason);
    free (tasks);
}

//  ---------------------------------------------------------------------
//  Transactions

int
hpt_core_begin (hpt_core_t *self)
{
    if (self->grouping && hpt_store_in_transaction (self->store)) return 0;
    if (!self->store_ok) return -1;
    hpt_error_t error;
    if (hpt_store_begin (self->store, &error) != 0) {
        hpt_log_error ("%s", error.message);
        return -1;
    }
    return 0;
}

void
hpt_core_touch_node (hpt_core_t *self, hpt_host_t *node, bool created)
{
    for (s_node_undo_t *u = zlistx_first (self->node_undo); u; u = zlistx_next (self->node_undo))
        if (strcmp (u->name, node->name) == 0) return;
    s_node_undo_t *undo = hpt_calloc (1, sizeof (s_node_undo_t));
    *undo = (s_node_undo_t){hpt_strdup (node->name),
                            created,
                            node->state,
                            node->drain,
                            node->drain_reason ? hpt_strdup (node->drain_reason) : NULL,
                            node->drained_by ? hpt_strdup (node->drained_by) : NULL,
                            node->drain_time,
                            node->acked_seq};
    zlistx_add_end (self->node_undo, undo);
}

static void
s_node_undo_free (void **item_p)
{
    s_node_undo_t *undo = *item_p;
    if (!undo) return;
    free (undo->name);
    free (undo->drain_reason);
    free (undo->drained_by);
    free (undo);
    *item_p = NULL;
}

void
hpt_core_log_written (hpt_core_t *self, const char *job_id, int64_t bytes)
{
    int64_t *size = zhashx_lookup (self->log_bytes, job_id);
    if (!size) {
        size = hpt_malloc (sizeof (int64_t));
        zhashx_insert (self->log_bytes, job_id, size);
    }
    *size = bytes;
}

void
hpt_core_log_event (hpt_core_t *self, hpt_tuner_t *tuner, hpt_trial_t *trial, const char *text)
{
    int64_t size = 0;
    hpt_error_t error;
    hpt_log (HPT_LOG_INFO,
             &(hpt_log_fields_t){.job = hpt_tuner_id (tuner), .trial = trial ? trial->id : 0}, "%s",
             text);
    if (hpt_joblog_event (self->joblog, hpt_tuner_id (tuner), trial ? trial->id : 0, text,
                          hpt_core_now (), &size, &error) != 0)
        hpt_store_fail (self->store, &error);
    else
        hpt_core_log_written (self, hpt_tuner_id (tuner), size);
}

//  The lengths of the logs written in the transaction go into the store
//  with it.
static void
s_store_log_lengths (hpt_core_t *self)
{
    for (int64_t *size = zhashx_first (self->log_bytes); size; size = zhashx_next (self->log_bytes))
        hpt_store_job_set_log_bytes (self->store, zhashx_cursor (self->log_bytes), *size, NULL);
}

static void s_restore (hpt_core_t *self, uint64_t failed_txn);

int
hpt_core_commit (hpt_core_t *self)
{
    if (self->grouping) return 0; //  with the group, at its end
    uint64_t txn = hpt_store_transaction_id (self->store);
    s_store_log_lengths (self);
    hpt_error_t error;
    int64_t start = zclock_usecs ();
    int rc = hpt_store_commit (self->store, &error);
    int64_t took = zclock_usecs () - start;
    hpt_master_metrics_commit (self->metrics, (double)took / 1e6, rc == 0);
    if (took >= S_BUSY_WARN_US)
        hpt_log_warning ("a commit took %" PRId64 " ms (the store's disk is slow to sync)",
                         took / 1000);
    if (rc == 0) {
        for (s_outgoing_t *out = zlistx_first (self->outbox); out; out = zlistx_next (self->outbox))
            hpt_core_send_now (self, hpt_fleet_get (self->fleet, out->node), &out->msg);
        hpt_slurm_committed (self, true);
    } else {
        self->commit_failures++;
        free (self->store_problem);
        self->store_problem = hpt_strdup (error.message);
        if (self->store_ok || hpt_core_now () - self->last_store_log >= 5000) {
            self->last_store_log = hpt_core_now ();
            hpt_log_error ("cannot store: %s; nothing of it was acted on, and the master "
                           "changes nothing until the store can be written again (%" PRIu64
                           " failed commits so far)",
                           error.message, self->commit_failures);
        }
        self->store_ok = false;
        s_restore (self, txn);
        hpt_slurm_committed (self, false);
    }
    zlistx_purge (self->outbox);
    zhashx_purge (self->log_bytes);
    zlistx_purge (self->node_undo);
    return rc;
}

//  Rebuilds one tuner from the store in place (its index too). A store
//  that cannot even be read leaves the master nothing true to go on: it
//  exits, and a restart loads the store afresh.
static hpt_tuner_t *s_load_tuner (hpt_core_t *self, json_t *row, hpt_error_t *error);

static void
s_reload_tuner (hpt_core_t *self, size_t index)
{
    hpt_tuner_t *old = self->tuners[index];
    json_t *row = NULL;
    hpt_error_t error;
    hpt_tuner_t *fresh = NULL;
    if (hpt_store_job_get (self->store, hpt_tuner_id (old), &row, &error) == 0)
        fresh = s_load_tuner (self, row, &error);
    json_decref (row);
    if (!fresh) {
        hpt_log_error ("cannot reload job %s from the store after a failed commit: %s; "
                       "exiting so that a restart reloads everything",
                       hpt_tuner_id (old), error.message);
        exit (70);
    }
    s_unindex_tuner (self, old);
    hpt_tuner_destroy (&old);
    self->tuners[index] = fresh;
    s_index_tuner (self, fresh);
}

static void
s_restore_nodes (hpt_core_t *self)
{
    for (s_node_undo_t *u = zlistx_first (self->node_undo); u; u = zlistx_next (self->node_undo)) {
        hpt_host_t *node = hpt_fleet_get (self->fleet, u->name);
        if (!node) continue;
        if (u->created) {
            hpt_fleet_remove (self->fleet, node);
            continue;
        }
        node->state = u->state;
        node->drain = u->drain;
        free (node->drain_reason);
        node->drain_reason = u->drain_reason ? hpt_strdup (u->drain_reason) : NULL;
        free (node->drained_by);
        node->drained_by = u->drained_by ? hpt_strdup (u->drained_by) : NULL;
        node->drain_time = u->drain_time;
        node->acked_seq = u->acked_seq;
    }
}

//  Every node's reservations, from the tasks that hold them.
static void
s_restore_reservations (hpt_core_t *self)
{
    size_t count;
    hpt_host_t **nodes = hpt_fleet_nodes (self->fleet, &count);
    for (size_t i = 0; i < count; i++)
        hpt_host_clear_reservations (nodes[i]);
    for (hpt_task_ref_t *ref = zhashx_first (self->tasks); ref; ref = zhashx_next (self->tasks))
        if (ref->task->agent && ref->task->state != HPT_TASK_EXITED)
            hpt_scheduler_restore (hpt_fleet_get (self->fleet, ref->task->agent), ref->task);
}

static void
s_restore (hpt_core_t *self, uint64_t failed_txn)
{
    s_restore_nodes (self);
    for (size_t i = 0; i < self->tuner_count; i++)
        if (hpt_tuner_written_in (self->tuners[i]) == failed_txn) s_reload_tuner (self, i);
    for (int64_t *size = zhashx_first (self->log_bytes); size;
         size = zhashx_next (self->log_bytes)) {
        const char *job_id = zhashx_cursor (self->log_bytes);
        json_t *row = NULL;
        int64_t stored = 0;
        if (hpt_store_job_get (self->store, job_id, &row, NULL) == 0)
            stored = json_integer_value (json_object_get (row, "log_bytes"));
        json_decref (row);
        hpt_joblog_truncate (self->joblog, job_id, stored, NULL);
    }
    s_restore_reservations (self);
}

//  Once the store failed, a small write every heartbeat interval tells
//  when it works again.
static void
s_probe_store (hpt_core_t *self)
{
    hpt_error_t error;
    if (hpt_store_probe (self->store, &error) != 0) {
        free (self->store_problem);
        self->store_problem = hpt_strdup (error.message);
        if (hpt_core_now () - self->last_store_log >= 5000) {
            self->last_store_log = hpt_core_now ();
            hpt_log_error ("the store still cannot be written: %s", error.message);
        }
        return;
    }
    self->store_ok = true;
    hpt_log_info ("the store can be written again; carrying on");
}

//  ---------------------------------------------------------------------
//  Tasks

void
hpt_core_task_ended (hpt_core_t *self, hpt_task_ref_t *ref, const hpt_task_exit_t *exit)
{
    hpt_task_t *task = ref->task;
    if (task->state == HPT_TASK_EXITED) return;
    if (exit->signal && hpt_slurm_task_killed (self, ref, exit)) return;
    hpt_scheduler_release (hpt_fleet_get (self->fleet, task->agent), task);
    hpt_task_t **to_stop = NULL;
    size_t stop_count = 0;
    hpt_trial_state_t before = ref->trial->state;
    hpt_tuner_task_exited (ref->tuner, self->store, ref->trial, task, exit, hpt_core_now (),
                           &to_stop, &stop_count);
    if (ref->trial->state != before) {
        char *text = hpt_asprintf (
            "trial %" PRId64 " %s%s%s", ref->trial->id, hpt_trial_state_name (ref->trial->state),
            ref->trial->message ? ": " : "", ref->trial->message ? ref->trial->message : "");
        hpt_core_log_event (self, ref->tuner, ref->trial, text);
        free (text);
    }
    s_stop_tasks (self, to_stop, stop_count, "trial ended");
}

static void
s_requeue (hpt_core_t *self, hpt_task_ref_t *ref, const char *reason)
{
    hpt_trial_t *trial = ref->trial;
    hpt_tuner_t *tuner = ref->tuner;
    for (size_t i = 0; i < trial->task_count; i++) {
        hpt_task_t *task = &trial->tasks[i];
        if (task->state == HPT_TASK_EXITED || !task->agent) continue;
        s_stop (self, task, reason);
        hpt_scheduler_release (hpt_fleet_get (self->fleet, task->agent), task);
        zhashx_delete (self->tasks, task->task_id);
    }
    hpt_tuner_requeue_trial (tuner, self->store, trial, reason, hpt_core_now ());
    char *text = hpt_asprintf ("trial %" PRId64 " requeued: %s", trial->id, reason);
    hpt_core_log_event (self, tuner, trial, text);
    free (text);
}

void
hpt_core_task_lost (hpt_core_t *self, hpt_task_ref_t *ref, const char *reason)
{
    if (self->settings->agent_lost_policy == HPT_AGENT_LOST_REQUEUE &&
        ref->trial->state != HPT_TRIAL_STOPPING)
        s_requeue (self, ref, reason);
    else
        hpt_core_task_ended (self, ref, &(hpt_task_exit_t){-1, 0, reason, 0, false, NULL});
}

void
hpt_core_launch (hpt_core_t *self, hpt_task_ref_t *ref)
{
    hpt_error_t error;
    hpt_msg_t *msg = hpt_launch_build (hpt_tuner_spec (ref->tuner), ref->trial, ref->task, &error);
    if (!msg) {
        char *reason = hpt_asprintf ("cannot be launched: %s", error.message);
        hpt_core_task_ended (self, ref, &(hpt_task_exit_t){-1, 0, reason, 0, false, NULL});
        free (reason);
        return;
    }
    hpt_core_post (self, hpt_fleet_get (self->fleet, ref->task->agent), &msg);
}

//  The tasks on node that have not ended (collected first: ending them
//  changes the index).
static zlistx_t *
s_tasks_on (hpt_core_t *self, hpt_host_t *node)
{
    zlistx_t *refs = zlistx_new ();
    for (hpt_task_ref_t *ref = zhashx_first (self->tasks); ref; ref = zhashx_next (self->tasks))
        if (ref->task->agent && strcmp (ref->task->agent, node->name) == 0 &&
            ref->task->state != HPT_TASK_EXITED)
            zlistx_add_end (refs, ref);
    return refs;
}

//  What happens to the tasks of a node that is gone (agentLostPolicy) or
//  drained with --now (requeue).
static void
s_evict_node (hpt_core_t *self, hpt_host_t *node, bool drain_now, const char *reason)
{
    zlistx_t *refs = s_tasks_on (self, node);
    for (hpt_task_ref_t *ref = zlistx_first (refs); ref; ref = zlistx_next (refs)) {
        if (ref->task->state == HPT_TASK_EXITED) continue;
        if (drain_now && ref->trial->state != HPT_TRIAL_STOPPING)
            s_requeue (self, ref, reason);
        else if (drain_now)
            hpt_core_task_ended (self, ref, &(hpt_task_exit_t){-1, 0, reason, 0, false, NULL});
        else
            hpt_core_task_lost (self, ref, reason);
    }
    zlistx_destroy (&refs);
}

static void
s_store_agent (hpt_core_t *self, hpt_host_t *node)
{
    char *resources = node->resources ? hpt_json_dumps (node->resources, false) : NULL;
    hpt_store_agent_t row = {node->name, node->state, node->last_seen, resources};
    hpt_store_agent_upsert (self->store, &row, NULL);
    free (resources);
}

void
hpt_core_node_lost (hpt_core_t *self, hpt_host_t *node, const char *why)
{
    hpt_core_touch_node (self, node, false);
    node->state = HPT_HOST_LOST;
    s_store_agent (self, node);
    self->agents_lost++;
    hpt_log (HPT_LOG_WARNING, &(hpt_log_fields_t){.node = node->name}, "agent lost: %s", why);
    //  The agent of a Slurm job: Slurm says why (usually the job ended).
    if (hpt_slurm_agent_lost (self, node)) return;
    char *reason = hpt_asprintf ("was lost with its agent %s (%s)", node->name, why);
    s_evict_node (self, node, false, reason);
    free (reason);
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

static void
s_fail_job (hpt_core_t *self, hpt_tuner_t *tuner, const char *message)
{
    hpt_task_t **to_stop = NULL;
    size_t stop_count = 0;
    hpt_tuner_fail (tuner, self->store, message, hpt_core_now (), &to_stop, &stop_count);
    hpt_core_log_event (self, tuner, NULL, message);
    s_stop_tasks (self, to_stop, stop_count, "job failed");
}

//  A job that no connected agent could ever run fails at once. Returns
//  whether it did.
static bool
s_fail_if_infeasible (hpt_core_t *self, hpt_tuner_t *tuner)
{
    size_t node_count, request_count;
    hpt_host_t **nodes = hpt_fleet_nodes (self->fleet, &node_count);
    //  With Slurm, what the agents cannot hold goes to Slurm.
    if (hpt_fleet_ready (self->fleet) == 0 || self->slurm) return false;
    const hpt_task_request_t *requests = hpt_tuner_requests (tuner, &request_count);
    char *why = hpt_scheduler_infeasible (nodes, node_count, requests, request_count);
    if (!why) return false;
    char *message = hpt_asprintf ("No agent can ever run this job's trials: %s", why);
    s_fail_job (self, tuner, message);
    free (message);
    free (why);
    return true;
}

//  The nodes the queue places on, in name order: every node but the
//  agents Slurm jobs started (they run their own trial only). A fresh
//  array the caller frees.
static hpt_host_t **
s_queue_nodes (hpt_core_t *self, size_t *count)
{
    size_t all;
    hpt_host_t **nodes = hpt_fleet_nodes (self->fleet, &all);
    hpt_host_t **usable = hpt_calloc (all ? all : 1, sizeof (hpt_host_t *));
    *count = 0;
    for (size_t i = 0; i < all; i++)
        if (!hpt_slurm_owns_node (self, nodes[i]->name)) usable[(*count)++] = nodes[i];
    return usable;
}

//  Why a trial of tuner does not fit the agents now, naming the other
//  jobs whose tasks hold them (sorted, at most three, so the reason is
//  the same text from one round to the next while nothing changes).
static char *
s_busy_reason (hpt_core_t *self, hpt_tuner_t *tuner)
{
    if (!hpt_fleet_ready (self->fleet)) return hpt_strdup ("waiting for an agent to connect");
    zlistx_t *holders = zlistx_new ();
    zlistx_set_comparator (holders, (zlistx_comparator_fn *)strcmp);
    for (hpt_task_ref_t *ref = zhashx_first (self->tasks); ref; ref = zhashx_next (self->tasks)) {
        const char *job = hpt_tuner_id (ref->tuner);
        if (ref->tuner != tuner && ref->task->state != HPT_TASK_EXITED && ref->task->agent &&
            !zlistx_find (holders, (void *)job))
            zlistx_add_end (holders, (void *)job);
    }
    zlistx_sort (holders);
    char *names = hpt_strdup ("");
    size_t shown = 0, count = zlistx_size (holders);
    for (const char *job = zlistx_first (holders); job && shown < 3; job = zlistx_next (holders)) {
        char *longer = hpt_asprintf ("%s%s%s", names, shown++ ? ", " : "", job);
        free (names);
        names = longer;
    }
    char *reason =
        count == 0 ? hpt_strdup ("waiting for free resources on the agents")
        : count <= 3
            ? hpt_asprintf ("waiting for free resources on the agents, held by job%s %s",
                            count > 1 ? "s" : "", names)
            : hpt_asprintf ("waiting for free resources on the agents, held by jobs %s and %zu "
                            "more",
                            names, count - 3);
    free (names);
    zlistx_destroy (&holders);
    return reason;
}

//  Places one trial: on the agents, or in a Slurm job (hpt_slurm.c).
//  Returns false when it must wait (and so must the jobs behind).
static bool
s_place_trial (hpt_core_t *self, hpt_tuner_t *tuner, hpt_trial_t *trial, hpt_host_t **nodes,
               size_t node_count)
{
    bool always = self->slurm && self->slurm->use == HPT_SLURM_USE_ALWAYS;
    bool placed = !always && hpt_scheduler_place (nodes, node_count, trial);
    if (!placed && hpt_slurm_wanted (self, placed)) {
        if (!hpt_slurm_submit (self, tuner, trial)) return false;
        s_index_trial (self, tuner, trial);
        return true;
    }
    if (!placed) {
        char *reason = s_busy_reason (self, tuner);
        hpt_tuner_set_queue_reason (tuner, reason);
        free (reason);
        return false;
    }
    if (hpt_tuner_trial_placed (tuner, self->store, trial, hpt_core_now ()) != 0)
        return false; //  the commit fails and puts everything back
    s_index_trial (self, tuner, trial);
    for (size_t i = 0; i < trial->task_count; i++)
        hpt_core_launch (self, hpt_core_task (self, trial->tasks[i].task_id));
    return true;
}

//  When the job could start trials it has no parameters for, asks the
//  suggester for them (a snapshot of its history: hpt_tuner_ask). The
//  answer comes as an event of its own (s_on_suggestion). A request sent
//  in a transaction that then fails is answered to a rebuilt tuner,
//  which drops it (hpt_tuner_answer).
static void
s_ask_suggestions (hpt_core_t *self, hpt_tuner_t *tuner)
{
    size_t wanted = hpt_tuner_wanted (tuner);
    hpt_suggest_request_t *request = wanted ? hpt_tuner_ask (tuner, wanted) : NULL;
    if (!request) return;
    uint64_t id = request->id;
    if (hpt_suggester_ask (self->suggester, &request) == 0) return;
    //  Not sent: the job must not wait for an answer that cannot come.
    hpt_log_warning ("job %s: cannot ask the suggester; trying again at the next event",
                     hpt_tuner_id (tuner));
    hpt_suggest_answer_t none = {.id = id};
    hpt_tuner_answer (tuner, self->store, &none, hpt_core_now ());
}

//  Places and launches the trials of tuner that can start now. Returns
//  false when the job at the head of the queue is blocked (or the
//  transaction failed), so the jobs behind it must wait.
static bool
s_schedule_job (hpt_core_t *self, hpt_tuner_t *tuner)
{
    size_t node_count;
    hpt_host_t **nodes = s_queue_nodes (self, &node_count);
    bool go_on = true;
    hpt_trial_t *trial;
    while (go_on && (trial = hpt_tuner_next_trial (tuner, self->store)))
        go_on = s_place_trial (self, tuner, trial, nodes, node_count);
    free (nodes);
    if (go_on) s_ask_suggestions (self, tuner);
    //  A job waiting for its suggestions holds the jobs behind it, as it
    //  would if it had them: they would take the capacity it is about to
    //  use (docs/scheduling.md).
    if (go_on && hpt_tuner_asking (tuner)) {
        hpt_tuner_set_queue_reason (tuner, "waiting for the optimizer's suggestions");
        return false;
    }
    //  Every trial it wants now is placed: it waits for nothing.
    if (go_on) hpt_tuner_set_queue_reason (tuner, NULL);
    return go_on;
}

void
hpt_core_schedule (hpt_core_t *self)
{
    if (self->grouping) {
        self->group_schedule = true;
        return;
    }
    hpt_slurm_sweep (self);
    if (self->tuner_count == 0) return;
    hpt_tuner_t **order = hpt_malloc (self->tuner_count * sizeof (hpt_tuner_t *));
    memcpy (order, self->tuners, self->tuner_count * sizeof (hpt_tuner_t *));
    qsort (order, self->tuner_count, sizeof (hpt_tuner_t *), s_tuner_order);
    const char *blocked_by = NULL;
    for (size_t j = 0; j < self->tuner_count; j++) {
        hpt_tuner_t *tuner = order[j];
        if (hpt_tuner_forget_model (tuner))
            hpt_suggester_forget (self->suggester, hpt_tuner_id (tuner));
        if (hpt_tuner_finished (tuner) || hpt_tuner_state (tuner) == HPT_JOB_CANCELLING) continue;
        if (s_fail_if_infeasible (self, tuner)) continue;
        if (blocked_by) {
            char *reason =
                hpt_asprintf ("waiting behind job %s, which is first in the queue", blocked_by);
            hpt_tuner_set_queue_reason (tuner, reason);
            free (reason);
        } else if (!s_schedule_job (self, tuner))
            blocked_by = hpt_tuner_id (tuner);
    }
    free (order);
}

//  ---------------------------------------------------------------------
//  Timers

//  scheduling.maxWaitTime: a job still QUEUED or PREPARING that long after
//  its submission is cancelled; scheduling.maxRunningTime: a job running
//  longer than that since it started fails. Both with a message.
static void
s_enforce_limits (hpt_core_t *self, int64_t now)
{
    for (size_t i = 0; i < self->tuner_count; i++) {
        hpt_tuner_t *tuner = self->tuners[i];
        hpt_scheduling_t *sched = &hpt_tuner_spec (tuner)->input.scheduling;
        if (hpt_tuner_finished (tuner) || !sched->present) continue;
        hpt_job_state_t state = hpt_tuner_state (tuner);
        double waited = (double)(now - hpt_tuner_create_time (tuner)) / 1000.0;
        double ran = hpt_tuner_start_time (tuner)
                         ? (double)(now - hpt_tuner_start_time (tuner)) / 1000.0
                         : 0;
        if (sched->max_wait_time > 0 && waited > sched->max_wait_time &&
            (state == HPT_JOB_QUEUED || state == HPT_JOB_PREPARING)) {
            char *message = hpt_asprintf ("Job cancelled: still %s after scheduling.maxWaitTime "
                                          "(%gs)",
                                          hpt_job_state_name (state), sched->max_wait_time);
            hpt_task_t **to_stop = NULL;
            size_t stop_count = 0;
            hpt_tuner_cancel (tuner, self->store, message, now, &to_stop, &stop_count, NULL);
            hpt_core_log_event (self, tuner, NULL, message);
            free (message);
            s_stop_tasks (self, to_stop, stop_count, "maxWaitTime exceeded");
        } else if (sched->max_running_time > 0 && ran > sched->max_running_time &&
                   state != HPT_JOB_CANCELLING) {
            char *message = hpt_asprintf ("Job failed: it ran longer than "
                                          "scheduling.maxRunningTime (%gs)",
                                          sched->max_running_time);
            s_fail_job (self, tuner, message);
            free (message);
        }
    }
}

//  Agents silent past the timeout, and nodes known before a restart that
//  did not come back, are lost; drains whose last task ended are done.
static void
s_check_nodes (hpt_core_t *self, int64_t now)
{
    size_t count;
    hpt_host_t **nodes = hpt_fleet_nodes (self->fleet, &count);
    for (size_t i = 0; i < count; i++) {
        hpt_host_t *node = nodes[i];
        if (node->state == HPT_HOST_READY &&
            now - node->last_seen > self->settings->agent_timeout_ms)
            hpt_core_node_lost (self, node, "silent past the agent timeout");
        else if (node->state == HPT_HOST_DISCONNECTED &&
                 now - self->started > self->settings->agent_timeout_ms + 2 * HPT_MSG_HELLO_MAX_MS)
            hpt_core_node_lost (self, node, "did not come back after the master restarted");
        if (node->drain == HPT_DRAIN_DRAINING && node->running_tasks == 0) {
            hpt_core_touch_node (self, node, false);
            node->drain = HPT_DRAIN_DRAINED;
            hpt_store_agent_set_drain (self->store, node->name, HPT_DRAIN_DRAINED, false,
                                       node->drain_reason, node->drained_by, node->drain_time,
                                       NULL);
        }
    }
}

//  SIGHUP must never interrupt the loop's poll: zloop ends on EINTR. So
//  hptmaster blocks it before starting threads (hpt_core_block_sighup),
//  and the loop reads it from a signalfd. Threads that libraries started
//  before main (OpenBLAS's workers) have it unblocked; the kernel gives
//  the signal to one of those when there is one, and then the handler
//  below notes it. Either way the reload runs at the next heartbeat
//  round, inside its transaction.
static volatile sig_atomic_t s_sighup_caught;

static void
s_on_sighup_signal (int signal)
{
    s_sighup_caught = 1;
}

static int
s_on_sighup (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    hpt_core_t *self = arg;
    struct signalfd_siginfo info;
    while (read (item->fd, &info, sizeof (info)) == (ssize_t)sizeof (info))
        self->reload_requested = true;
    return 0;
}

void
hpt_core_block_sighup (void)
{
    struct sigaction action = {.sa_handler = s_on_sighup_signal, .sa_flags = SA_RESTART};
    sigfillset (&action.sa_mask);
    sigaction (SIGHUP, &action, NULL);
    sigset_t hup;
    sigemptyset (&hup);
    sigaddset (&hup, SIGHUP);
    pthread_sigmask (SIG_BLOCK, &hup, NULL);
}

static void
s_watch_sighup (hpt_core_t *self)
{
    sigset_t hup;
    sigemptyset (&hup);
    sigaddset (&hup, SIGHUP);
    self->sighup_fd = signalfd (-1, &hup, SFD_NONBLOCK | SFD_CLOEXEC);
    if (self->sighup_fd < 0) return;
    zmq_pollitem_t item = {NULL, self->sighup_fd, ZMQ_POLLIN, 0};
    zloop_poller (self->loop, &item, s_on_sighup, self);
}

//  SIGTERM and SIGINT end the loop at once. The kernel gives a process's
//  signal to any one thread that does not block it (the API's, the
//  suggester's, libzmq's); only in the loop's own thread does it
//  interrupt the poll, so otherwise the loop slept on to its next timer,
//  up to a heartbeat interval. So the handler (czmq's, replaced: it only
//  raised zsys_interrupted) also writes to an eventfd the loop polls.
static int s_stop_fd = -1;

static void
s_on_stop_signal (int signal)
{
    zsys_interrupted = 1;
    uint64_t one = 1;
    if (s_stop_fd >= 0 && write (s_stop_fd, &one, sizeof one) < 0) {
        //  Nothing to do in a handler: the flag is set all the same.
    }
}

static int
s_on_stop (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    return -1; //  ends zloop_start
}

static void
s_watch_stop (hpt_core_t *self)
{
    self->stop_fd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (self->stop_fd < 0) return;
    zmq_pollitem_t item = {NULL, self->stop_fd, ZMQ_POLLIN, 0};
    zloop_poller (self->loop, &item, s_on_stop, self);
    s_stop_fd = self->stop_fd;
    zsys_handler_set (s_on_stop_signal);
}

//  Reads agentCerts again when it changed (or on SIGHUP); a connected
//  agent whose key is no longer admitted is gone at once.
static void
s_check_keys (hpt_core_t *self)
{
    bool force = self->reload_requested || s_sighup_caught;
    self->reload_requested = false;
    s_sighup_caught = 0;
    if (force) hpt_core_reload_config (self);
    if (!self->admission || !hpt_admission_reload (self->admission, force)) return;
    size_t count;
    hpt_host_t **nodes = hpt_fleet_nodes (self->fleet, &count);
    for (size_t i = 0; i < count; i++) {
        hpt_host_t *node = nodes[i];
        if (node->state != HPT_HOST_READY ||
            hpt_admission_allows (self->admission, node->key, node->name))
            continue;
        hpt_core_node_lost (self, node, "its key was revoked (no longer in agentCerts)");
        hpt_fleet_set_route (self->fleet, node, NULL);
    }
}

static int s_on_backlog (zloop_t *loop, int timer_id, void *arg);

//  Frames read ahead wait in the backlog, where the loop's poll cannot
//  see them: a zero-delay timer has the next turn handle more of them,
//  after whatever else is ready.
static void
s_arm_backlog (hpt_core_t *self)
{
    if (self->backlog_count == 0 || self->backlog_timer) return;
    self->backlog_timer = zloop_timer (self->loop, 0, 1, s_on_backlog, self) >= 0;
}

//  An event handler is done: keeps the longest time one held the loop,
//  and names one that held it long enough to delay the API and the
//  agents (what an operator, or a failed test, needs to know first).
int64_t
hpt_core_wake (hpt_core_t *self)
{
    int64_t now = zclock_usecs ();
    if (self->agents_idle) {
        //  The loop was waiting in its poll, which returns when a frame
        //  arrives or, at the latest, when the heartbeat round is due. Past
        //  that, the process itself was not running (stopped, starved of
        //  CPU), and what arrived meanwhile waited since then.
        int64_t due = self->last_round
                          ? (self->last_round + self->settings->heartbeat_interval_ms) * 1000
                          : now;
        if (now <= due)
            self->agents_empty_at = now;
        else if (due > self->agents_empty_at)
            self->agents_empty_at = due;
        self->agents_idle = false;
    }
    return now;
}

void
hpt_core_busy (hpt_core_t *self, int64_t start_us, const char *what)
{
    int64_t end = zclock_usecs (), took = end - start_us;
    if (took > self->busy_max_us) self->busy_max_us = took;
    if (took >= S_BUSY_WARN_US)
        hpt_log_warning ("%s held the loop for %" PRId64 " ms", what, took / 1000);
    if (!(zsock_events (self->agents) & ZMQ_POLLIN)) {
        self->agents_empty_at = end;
        self->agents_idle = self->backlog_count == 0;
    }
    s_arm_backlog (self);
}

//  An agent frame msg that arrived after since_us is about to be handled:
//  records the bound on its wait ("Frames' wait").
static void
s_frame_waited (hpt_core_t *self, hpt_msg_t *msg, int64_t since_us)
{
    int64_t waited = zclock_usecs () - since_us;
    if (waited > self->frame_wait_max_us) self->frame_wait_max_us = waited;
    hpt_master_metrics_frame_wait (self->metrics, (double)waited / 1e6,
                                   hpt_msg_id (msg) == HPT_MSG_HEARTBEAT);
}

void
hpt_core_heard (hpt_core_t *self, hpt_host_t *node)
{
    int64_t now = hpt_core_now ();
    if (node->last_seen && now - node->last_seen > self->silence_max_ms)
        self->silence_max_ms = now - node->last_seen;
    node->last_seen = now;
}

void
hpt_core_loop_figures (hpt_core_t *self, hpt_core_loop_figures_t *figures)
{
    figures->busy_max_s = (double)self->busy_max_us / 1e6;
    figures->silence_max_s = (double)self->silence_max_ms / 1e3;
    figures->frame_wait_max_s = (double)self->frame_wait_max_us / 1e6;
    figures->stalls = self->stalls;
    figures->stalled_s = (double)self->stalled_ms / 1e3;
    figures->agents_lost = self->agents_lost;
    figures->rounds_behind = self->rounds_behind;
}

hpt_textcache_t *
hpt_core_answers (hpt_core_t *self)
{
    return self->answers;
}

hpt_session_t *
hpt_core_sessions (hpt_core_t *self)
{
    return self->sessions;
}

static void s_heartbeat_round (hpt_core_t *self);

static int
s_on_heartbeat_timer (zloop_t *loop, int timer_id, void *arg)
{
    int64_t start = hpt_core_wake (arg);
    s_heartbeat_round (arg);
    hpt_core_busy (arg, start, "the heartbeat round");
    return 0;
}

void
hpt_core_arm_heartbeat (hpt_core_t *self)
{
    if (self->heartbeat_timer >= 0) zloop_timer_end (self->loop, self->heartbeat_timer);
    self->heartbeat_timer = zloop_timer (self->loop, (size_t)self->settings->heartbeat_interval_ms,
                                         0, s_on_heartbeat_timer, self);
}

void
hpt_core_set_config_file (hpt_core_t *self, const char *path)
{
    free (self->config_path);
    self->config_path = path ? hpt_strdup (path) : NULL;
}

//  Reads the frames queued on the agents' socket into the backlog until
//  the socket is empty, the backlog full or the group's time (until,
//  zclock_mono) is up ("Frames' wait"). A READY agent is heard when a
//  frame of its is read, and its heartbeat handled then
//  (hpt_agent_link_arrived). Returns whether the socket was found empty.
static bool
s_read_ahead (hpt_core_t *self, int64_t until)
{
    while (self->backlog_count < S_BACKLOG_MAX && zclock_mono () < until) {
        if (!(zsock_events (self->agents) & ZMQ_POLLIN)) {
            self->agents_empty_at = zclock_usecs ();
            return true;
        }
        hpt_msg_t *msg = hpt_agent_link_recv (self);
        if (!msg) continue;
        if (hpt_agent_link_arrived (self, msg)) {
            s_frame_waited (self, msg, self->agents_empty_at);
            hpt_agent_link_handle (self, msg);
            continue;
        }
        size_t tail = (self->backlog_head + self->backlog_count) % S_BACKLOG_MAX;
        self->backlog[tail] = (hpt_core_frame_t){.msg = msg, .since_us = self->agents_empty_at};
        self->backlog_count++;
    }
    return false;
}

//  Handles the agent frames read ahead and queued as one group commit
//  (the top comment): at most max of them, and none after until
//  (zclock_mono), nor after the first when yield and an API request
//  waits ("Transactions"). Returns how many; *empty says whether the
//  socket and the backlog were found empty.
static size_t
s_handle_group (hpt_core_t *self, size_t max, int64_t until, bool yield, bool *empty)
{
    size_t handled = 0;
    *empty = false;
    self->grouping = true;
    while (handled < max && zclock_mono () < until &&
           !(yield && handled && (zsock_events (self->api_router) & ZMQ_POLLIN))) {
        bool drained = s_read_ahead (self, until);
        if (self->backlog_count == 0) {
            *empty = drained;
            break;
        }
        hpt_core_frame_t frame = self->backlog[self->backlog_head];
        self->backlog_head = (self->backlog_head + 1) % S_BACKLOG_MAX;
        self->backlog_count--;
        s_frame_waited (self, frame.msg, frame.since_us);
        hpt_agent_link_handle (self, frame.msg);
        handled++;
    }
    self->grouping = false;
    bool schedule = self->group_schedule;
    self->group_schedule = false;
    if (hpt_store_in_transaction (self->store)) {
        if (schedule) hpt_core_schedule (self);
        hpt_core_commit (self);
    }
    return handled;
}

//  Reads the agent frames already queued (rule 1 of "Liveness by
//  arrival"), handling groups only when the backlog is full, for at most
//  half a heartbeat interval so that the round itself never holds the
//  loop long. Returns false when frames still wait on the socket: the
//  master is behind, and silence cannot be judged this round.
static bool
s_drain_agents (hpt_core_t *self)
{
    int64_t until = zclock_mono () + self->settings->heartbeat_interval_ms / 2;
    bool empty;
    while (!(empty = s_read_ahead (self, until)) && zclock_mono () < until) {
        bool unused;
        s_handle_group (self, S_BATCH_MAX, until, false, &unused);
    }
    if (empty) return true;
    self->rounds_behind++;
    return false;
}

//  Rule 2 of "Liveness by arrival": the time the loop was held past this
//  round's due time does not count as the agents' silence.
static void
s_forgive_stall (hpt_core_t *self, int64_t now)
{
    int64_t mono = zclock_mono (), interval = self->settings->heartbeat_interval_ms;
    int64_t held = self->last_round ? mono - self->last_round - interval : 0;
    self->last_round = mono;
    if (held <= interval) return;
    self->stalls++;
    self->stalled_ms += held;
    hpt_log_warning ("the loop was held for %" PRId64 " ms; agents' silence over that "
                     "time is not held against them",
                     held);
    size_t count;
    hpt_host_t **nodes = hpt_fleet_nodes (self->fleet, &count);
    for (size_t i = 0; i < count; i++)
        if (nodes[i]->state == HPT_HOST_READY && nodes[i]->last_seen)
            nodes[i]->last_seen =
                nodes[i]->last_seen + held < now ? nodes[i]->last_seen + held : now;
}

//  Memory: a finished job's trials are read back from the store when a
//  request needs them (hpt_core_readmit), so only the S_RESIDENT_FINISHED
//  finished jobs used last keep theirs; the others are evicted here, in a
//  turn of their own, when no handler holds a pointer to their trials.
//  What lists and metrics show of them stays (hpt_tuner_evict); their
//  cached answers go with their trials, else the answer cache would keep
//  job after job up to its whole budget.
#define S_RESIDENT_FINISHED 4

static int
s_used_later (const void *a, const void *b)
{
    int64_t x = hpt_tuner_used (*(hpt_tuner_t *const *)a);
    int64_t y = hpt_tuner_used (*(hpt_tuner_t *const *)b);
    return x > y ? -1 : x < y;
}

static void
s_evict_finished (hpt_core_t *self)
{
    size_t count = 0;
    hpt_tuner_t **finished = hpt_malloc ((self->tuner_count + 1) * sizeof (hpt_tuner_t *));
    for (size_t i = 0; i < self->tuner_count; i++)
        if (hpt_tuner_evictable (self->tuners[i])) finished[count++] = self->tuners[i];
    if (count > S_RESIDENT_FINISHED) {
        qsort (finished, count, sizeof (hpt_tuner_t *), s_used_later);
        for (size_t i = S_RESIDENT_FINISHED; i < count; i++) {
            s_unindex_tuner (self, finished[i]);
            hpt_textcache_forget (self->answers, hpt_tuner_version (finished[i]));
            hpt_tuner_evict (finished[i]);
        }
    }
    free (finished);
}

static void
s_heartbeat_round (hpt_core_t *self)
{
    s_forgive_stall (self, hpt_core_now ());
    bool drained = s_drain_agents (self);
    int64_t now = hpt_core_now ();
    size_t count;
    hpt_host_t **nodes = hpt_fleet_nodes (self->fleet, &count);
    for (size_t i = 0; i < count; i++)
        if (nodes[i]->state == HPT_HOST_READY) {
            hpt_msg_t *msg = hpt_msg_new (HPT_MSG_HEARTBEAT);
            hpt_msg_set_seq (msg, nodes[i]->acked_seq);
            hpt_core_send_now (self, nodes[i], &msg);
        }
    if (!self->store_ok) s_probe_store (self);
    if (hpt_core_begin (self) != 0) return;
    s_check_keys (self);
    s_enforce_limits (self, now);
    if (drained) s_check_nodes (self, now);
    hpt_core_schedule (self);
    hpt_core_commit (self);
    s_evict_finished (self);
}

static int
s_on_handshake (zloop_t *loop, zsock_t *reader, void *arg)
{
    hpt_core_t *self = arg;
    int64_t start = hpt_core_wake (self);
    char *event = NULL, *value = NULL, *address = NULL;
    if (zstr_recvx (reader, &event, &value, &address, NULL) < 0) {
        hpt_core_busy (self, start, "nothing");
        return 0;
    }
    int kind = strcmp (event, "HANDSHAKE_FAILED_AUTH") == 0       ? 0
               : strcmp (event, "HANDSHAKE_FAILED_PROTOCOL") == 0 ? 1
                                                                  : 2;
    self->handshake_failures[kind]++;
    if (hpt_core_now () - self->last_handshake_log >= 1000) {
        self->last_handshake_log = hpt_core_now ();
        hpt_log_warning ("a connection from %s failed its secure handshake (%s): no "
                         "CURVE, a key not admitted, or not an hpt agent",
                         address, event);
    }
    zstr_free (&event);
    zstr_free (&value);
    zstr_free (&address);
    hpt_core_busy (self, start, "a failed handshake");
    return 0;
}

static int
s_on_zap_request (zloop_t *loop, zsock_t *reader, void *arg)
{
    int64_t start = hpt_core_wake (arg);
    hpt_admission_handle (((hpt_core_t *)arg)->admission);
    hpt_core_busy (arg, start, "a key check");
    return 0;
}

static int
s_on_api_request (zloop_t *loop, zsock_t *reader, void *arg)
{
    hpt_core_t *self = arg;
    int64_t start = hpt_core_wake (self);
    hpt_api_request_t *request = hpt_api_request_recv (reader);
    if (!request) {
        hpt_core_busy (self, start, "nothing");
        return 0;
    }
    hpt_routes_handle (self, reader, request);
    hpt_api_request_destroy (&request);
    hpt_core_busy (self, start, "an API request");
    return 0;
}

//  The suggester answered: one transaction stores the new trials
//  (PENDING), then the scheduling round places and launches them, and the
//  commit sends the LAUNCHes. Store, then act. An answer the store cannot
//  take now is dropped: the tuner is rebuilt without its request, and the
//  next event asks again.
static int
s_on_suggestion (zloop_t *loop, zsock_t *reader, void *arg)
{
    hpt_core_t *self = arg;
    int64_t start = hpt_core_wake (self);
    hpt_suggest_answer_t *answer = hpt_suggester_recv (self->suggester);
    hpt_tuner_t *tuner = answer ? hpt_core_job (self, answer->job_id) : NULL;
    if (tuner && hpt_core_begin (self) == 0) {
        hpt_tuner_answer (tuner, self->store, answer, hpt_core_now ());
        hpt_core_schedule (self);
        hpt_core_commit (self);
    } else if (tuner) {
        //  The store is failed: nothing may change. The job asks again
        //  once it works (the probe's scheduling round).
        hpt_suggest_answer_t none = {.id = answer->id};
        hpt_tuner_answer (tuner, NULL, &none, hpt_core_now ());
    }
    hpt_suggest_answer_destroy (&answer);
    hpt_core_busy (self, start, "a suggester answer");
    return 0;
}

static int
s_on_backlog (zloop_t *loop, int timer_id, void *arg)
{
    hpt_core_t *self = arg;
    self->backlog_timer = false;
    int64_t start = hpt_core_wake (self);
    bool empty;
    s_handle_group (self, S_BATCH_MAX, zclock_mono () + S_BATCH_MS, true, &empty);
    hpt_core_busy (self, start, "agents' messages");
    return 0;
}

static int
s_on_agent_message (zloop_t *loop, zsock_t *reader, void *arg)
{
    //  zloop calls readers with what its poll saw, after the timers ran:
    //  the heartbeat round may have read the queue empty meanwhile
    //  (s_drain_agents), and a blocking receive would then hold the loop
    //  until some agent speaks, which may be never.
    hpt_core_t *self = arg;
    int64_t start = hpt_core_wake (self);
    bool empty;
    s_handle_group (self, S_BATCH_MAX, zclock_mono () + S_BATCH_MS, true, &empty);
    hpt_core_busy (self, start, "agents' messages");
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
s_requests (hpt_core_t *self, hpt_job_t *spec, size_t *count, hpt_error_t *error)
{
    hpt_task_spec_t *specs = NULL;
    if (hpt_cluster_config_tasks (self->config, spec, &specs, count, error) != 0) return NULL;
    hpt_task_request_t *requests = hpt_calloc (*count, sizeof (hpt_task_request_t));
    for (size_t i = 0; i < *count; i++) {
        requests[i].replica = hpt_strdup (specs[i].replica);
        requests[i].index = (int)specs[i].index;
        requests[i].machine_type = hpt_strdup (specs[i].machine_type);
        requests[i].cpus = specs[i].cpus;
        requests[i].memory_mb = specs[i].memory_mb;
        requests[i].accel_type =
            specs[i].accelerator_type ? hpt_strdup (specs[i].accelerator_type) : NULL;
        requests[i].accel_count = (int)specs[i].accelerator_count;
        hpt_container_spec_t container;
        if (hpt_job_container (spec, specs[i].replica, &container))
            requests[i].image = hpt_strdup (container.image);
    }
    hpt_task_specs_destroy (&specs, *count);
    return requests;
}

//  Why no trial of a job with these requests could ever run, or NULL:
//  on the agents (the queue's, while one is connected), and with Slurm on
//  its partition (as sinfo described it). use: always needs Slurm only;
//  overflow needs either. The caller frees the message.
static char *
s_infeasible (hpt_core_t *self, const hpt_task_request_t *requests, size_t count)
{
    bool always = self->slurm && self->slurm->use == HPT_SLURM_USE_ALWAYS;
    size_t node_count, ready = 0;
    hpt_host_t **nodes = always ? NULL : s_queue_nodes (self, &node_count);
    for (size_t i = 0; nodes && i < node_count; i++)
        ready += nodes[i]->state == HPT_HOST_READY;
    char *agents = ready ? hpt_scheduler_infeasible (nodes, node_count, requests, count) : NULL;
    free (nodes);
    char *slurm = hpt_slurm_infeasible (self, requests, count);
    char *why = NULL;
    if (!self->slurm && agents)
        why = hpt_asprintf ("No agent can ever run this job's trials: %s", agents);
    else if (always && slurm)
        why = hpt_asprintf ("Slurm can never run this job's trials: %s", slurm);
    else if (self->slurm && agents && slurm)
        why = hpt_asprintf ("Neither an agent nor Slurm can ever run this job's trials: %s; %s",
                            agents, slurm);
    free (agents);
    free (slurm);
    return why;
}

//  Whether spec can be submitted: a valid resume, tasks that some
//  connected agent can run. Fills *requests_p on success.
static int
s_check_submission (hpt_core_t *self, hpt_job_t *spec, hpt_task_request_t **requests_p,
                    size_t *count, hpt_error_t *error)
{
    hpt_training_input_t *in = &spec->input;
    if (hpt_core_job (self, spec->job_id))
        return hpt_error_set (error, HPT_E_EXISTS, "Job %s already exists", spec->job_id);
    if (in->hyperparameters && in->hyperparameters->resume_previous_job_id &&
        hpt_resume_merge (spec, hpt_core_job (self, in->hyperparameters->resume_previous_job_id),
                          error))
        return -1;
    //  A trainer was checked with the request (hpt_job_check_submission).
    if (in->hyperparameters &&
        in->hyperparameters->max_parallel_trials > self->settings->max_parallel_trials)
        return hpt_error_set (error, HPT_E_INVALID,
                              "trainingInput.hyperparameters.maxParallelTrials is %" PRId64
                              "; this master allows at most %" PRId64
                              " trials in flight per job (master.maxParallelTrials)",
                              in->hyperparameters->max_parallel_trials,
                              self->settings->max_parallel_trials);
    *requests_p = s_requests (self, spec, count, error);
    if (!*requests_p) return -1;
    char *why = s_infeasible (self, *requests_p, *count);
    if (!why) return 0;
    hpt_error_set (error, HPT_E_INVALID, "%s", why);
    free (why);
    hpt_task_requests_destroy (requests_p, *count);
    return -1;
}

//  The answer to a change asked while the store cannot be written.
static int
s_unavailable (hpt_core_t *self, hpt_error_t *error)
{
    return hpt_error_set (error, HPT_E_UNAVAILABLE,
                          "The master cannot write its store now (%s); nothing was changed. Try "
                          "again later",
                          self->store_problem ? self->store_problem : "unknown");
}

hpt_tuner_t *
hpt_core_submit (hpt_core_t *self, hpt_job_t *spec, const char *project, const char *created_by,
                 hpt_error_t *error)
{
    hpt_task_request_t *requests = NULL;
    size_t count = 0;
    if (s_check_submission (self, spec, &requests, &count, error) != 0) {
        hpt_job_destroy (&spec);
        return NULL;
    }
    hpt_hyperparameters_t *hp = spec->input.hyperparameters;
    hpt_tuner_t *previous = hp ? hpt_core_job (self, hp->resume_previous_job_id) : NULL;
    if (previous && hpt_core_readmit (self, previous, error)) {
        hpt_task_requests_destroy (&requests, count);
        hpt_job_destroy (&spec);
        return NULL;
    }
    uint64_t seed = self->settings->seed ^ s_fnv1a (spec->job_id);
    if (hpt_core_begin (self) != 0) {
        s_unavailable (self, error);
        hpt_task_requests_destroy (&requests, count);
        hpt_job_destroy (&spec);
        return NULL;
    }
    hpt_tuner_t *tuner = hpt_tuner_new (self->store, spec, project, created_by, requests, count,
                                        seed, hpt_core_now (), error);
    if (tuner) hpt_core_log_event (self, tuner, NULL, "job submitted");
    if (hpt_core_commit (self) != 0) {
        hpt_tuner_destroy (&tuner);
        s_unavailable (self, error);
        return NULL;
    }
    if (previous) hpt_tuner_seed_from (tuner, previous);
    hpt_tuner_hooks_t hooks = hpt_master_metrics_tuner_hooks (self->metrics);
    hpt_tuner_set_hooks (tuner, &hooks);
    s_add_tuner (self, tuner);
    //  The job is stored; placing its first trials is a change of its own.
    if (hpt_core_begin (self) == 0) {
        hpt_core_schedule (self);
        hpt_core_commit (self);
    }
    return tuner;
}

int
hpt_core_readmit (hpt_core_t *self, hpt_tuner_t *tuner, hpt_error_t *error)
{
    hpt_tuner_set_used (tuner, zclock_mono ());
    if (!hpt_tuner_evicted (tuner)) return 0;
    if (hpt_tuner_readmit (tuner, self->store, error)) return -1;
    //  As when it was loaded at start (s_load_tuner): a resumed job's
    //  model holds its previous job's results too.
    hpt_hyperparameters_t *hp = hpt_tuner_spec (tuner)->input.hyperparameters;
    hpt_tuner_t *previous = hp ? hpt_core_job (self, hp->resume_previous_job_id) : NULL;
    if (previous && hpt_core_readmit (self, previous, NULL) == 0)
        hpt_tuner_seed_from (tuner, previous);
    s_index_tuner (self, tuner);
    return 0;
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
hpt_core_cancel (hpt_core_t *self, hpt_tuner_t *tuner, hpt_error_t *error)
{
    if (hpt_tuner_finished (tuner))
        return hpt_error_set (error, HPT_E_FAILED_PRECONDITION,
                              "Job %s is already %s and cannot be cancelled", hpt_tuner_id (tuner),
                              hpt_job_state_name (hpt_tuner_state (tuner)));
    if (hpt_core_begin (self) != 0) return s_unavailable (self, error);
    hpt_task_t **to_stop = NULL;
    size_t stop_count = 0;
    hpt_tuner_cancel (tuner, self->store, "Job cancelled by the user", hpt_core_now (), &to_stop,
                      &stop_count, NULL);
    hpt_core_log_event (self, tuner, NULL, "job cancelled");
    s_stop_tasks (self, to_stop, stop_count, "job cancelled");
    if (hpt_core_commit (self) != 0) return s_unavailable (self, error);
    return 0;
}

int
hpt_core_set_labels (hpt_core_t *self, hpt_tuner_t *tuner, hpt_job_t *patch, const char *etag,
                     hpt_error_t *error)
{
    char current[32];
    hpt_tuner_etag (tuner, current, sizeof (current));
    if (etag && strcmp (etag, current) != 0)
        return hpt_error_set (error, HPT_E_ABORTED,
                              "Job %s changed since etag %.40s was read (now %s); read it again",
                              hpt_tuner_id (tuner), etag, current);
    if (hpt_core_begin (self) != 0) return s_unavailable (self, error);
    //  A refused write makes the transaction fail at commit (sticky).
    if (hpt_tuner_set_labels (tuner, self->store, patch, NULL) == 0)
        hpt_core_log_event (self, tuner, NULL, "labels changed");
    if (hpt_core_commit (self) != 0) return s_unavailable (self, error);
    return 0;
}

//  ---------------------------------------------------------------------
//  Nodes

hpt_host_t **
hpt_core_nodes (hpt_core_t *self, size_t *count)
{
    return hpt_fleet_nodes (self->fleet, count);
}

hpt_host_t *
hpt_core_node (hpt_core_t *self, const char *name)
{
    return hpt_fleet_get (self->fleet, name);
}

//  Sets node's drain fields in memory and the store, and tells the agent.
static void
s_set_drain (hpt_core_t *self, hpt_host_t *node, hpt_drain_state_t drain, const char *reason,
             const char *by, bool now)
{
    hpt_core_touch_node (self, node, false);
    node->drain = drain;
    free (node->drain_reason);
    node->drain_reason = drain == HPT_DRAIN_NONE ? NULL : hpt_strdup (reason ? reason : "");
    free (node->drained_by);
    node->drained_by = drain == HPT_DRAIN_NONE ? NULL : hpt_strdup (by ? by : "");
    node->drain_time = drain == HPT_DRAIN_NONE ? 0 : hpt_core_now ();
    hpt_store_agent_set_drain (self->store, node->name, drain, now, node->drain_reason,
                               node->drained_by, node->drain_time, NULL);
    hpt_msg_t *msg = hpt_msg_new (HPT_MSG_DRAIN);
    hpt_msg_set_draining (msg, drain != HPT_DRAIN_NONE);
    hpt_msg_set_reason (msg, node->drain_reason ? node->drain_reason : "");
    hpt_core_post (self, node, &msg);
}

int
hpt_core_drain (hpt_core_t *self, hpt_host_t *node, const char *reason, const char *by, bool now,
                hpt_error_t *error)
{
    if (hpt_core_begin (self) != 0) return s_unavailable (self, error);
    s_set_drain (self, node, node->running_tasks ? HPT_DRAIN_DRAINING : HPT_DRAIN_DRAINED, reason,
                 by, now);
    if (now) {
        char *why = hpt_asprintf ("was preempted: node %s drained with --now", node->name);
        s_evict_node (self, node, true, why);
        free (why);
        hpt_core_schedule (self);
    }
    if (hpt_core_commit (self) != 0) return s_unavailable (self, error);
    return 0;
}

int
hpt_core_undrain (hpt_core_t *self, hpt_host_t *node, hpt_error_t *error)
{
    if (hpt_core_begin (self) != 0) return s_unavailable (self, error);
    s_set_drain (self, node, HPT_DRAIN_NONE, NULL, NULL, false);
    //  Undrain also returns failed GPUs to service (after their repair).
    if (json_object_get (node->resources, "failedGpus")) {
        hpt_host_clear_failures (node);
        s_store_agent (self, node);
    }
    hpt_core_schedule (self);
    if (hpt_core_commit (self) != 0) return s_unavailable (self, error);
    return 0;
}

//  ---------------------------------------------------------------------
//  Users and the audit trail

int
hpt_core_put_user (hpt_core_t *self, const char *name, hpt_role_t role, const char *token_hash,
                   hpt_error_t *error)
{
    if (hpt_core_begin (self) != 0) return s_unavailable (self, error);
    hpt_store_user_put (self->store, name, role, token_hash, hpt_core_now (), NULL);
    if (hpt_core_commit (self) != 0) return s_unavailable (self, error);
    hpt_log_info ("user %s (%s) has a new token", name, hpt_role_name (role));
    return 0;
}

int
hpt_core_revoke_user (hpt_core_t *self, const char *name, hpt_error_t *error)
{
    if (hpt_core_begin (self) != 0) return s_unavailable (self, error);
    hpt_error_t problem;
    int rc = hpt_store_user_revoke (self->store, name, &problem);
    if (rc != 0 && problem.code == HPT_E_NOT_FOUND) {
        hpt_store_rollback (self->store);
        return hpt_error_set (error, HPT_E_NOT_FOUND, "no user %s", name);
    }
    if (hpt_core_commit (self) != 0) return s_unavailable (self, error);
    hpt_log_info ("user %s revoked", name);
    return 0;
}

void
hpt_core_audit (hpt_core_t *self, const hpt_store_audit_t *entry)
{
    if (hpt_core_begin (self) == 0) {
        hpt_store_audit_append (self->store, entry, NULL);
        if (hpt_core_commit (self) == 0) return;
    }
    hpt_log_error ("audit (not stored): %s %s %s by %s -> %d", entry->method, entry->route,
                   entry->target ? entry->target : "-", entry->user, entry->status);
}

int
hpt_core_delete_node (hpt_core_t *self, hpt_host_t *node, hpt_error_t *error)
{
    if (node->state == HPT_HOST_READY || node->running_tasks)
        return hpt_error_set (error, HPT_E_FAILED_PRECONDITION,
                              "Node %s is %s: drain it and stop its agent first (a node can be "
                              "deleted once it is LOST)",
                              node->name,
                              node->running_tasks ? "still holding tasks" : "connected");
    if (hpt_core_begin (self) != 0) return s_unavailable (self, error);
    hpt_store_agent_delete (self->store, node->name, NULL);
    if (hpt_core_commit (self) != 0) return s_unavailable (self, error);
    hpt_log_info ("node %s deleted", node->name);
    hpt_fleet_remove (self->fleet, node);
    return 0;
}

//  ---------------------------------------------------------------------
//  Accessors

hpt_joblog_t *
hpt_core_joblog (hpt_core_t *self)
{
    return self->joblog;
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

hpt_master_metrics_t *
hpt_core_metrics (hpt_core_t *self)
{
    return self->metrics;
}

const hpt_master_settings_t *
hpt_core_settings (hpt_core_t *self)
{
    return self->settings;
}

size_t
hpt_core_suggester_models (hpt_core_t *self)
{
    return hpt_suggester_models (self->suggester);
}

bool
hpt_core_store_ok (hpt_core_t *self)
{
    return self->store_ok;
}

const char *
hpt_core_store_problem (hpt_core_t *self)
{
    return self->store_problem;
}

void
hpt_core_security_counts (hpt_core_t *self, uint64_t handshakes[3], uint64_t *refused)
{
    memcpy (handshakes, self->handshake_failures, sizeof (self->handshake_failures));
    *refused = self->admission ? hpt_admission_refused (self->admission) : 0;
}

uint64_t
hpt_core_commit_failures (hpt_core_t *self)
{
    return self->commit_failures;
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
//  Start: load what the store holds

static hpt_tuner_t *
s_load_tuner (hpt_core_t *self, json_t *row, hpt_error_t *error)
{
    char *text = hpt_json_dumps (json_object_get (row, "spec_json"), false);
    hpt_diag_t *diag = hpt_diag_new ("store", true);
    hpt_job_t *spec = hpt_job_read_text (text, strlen (text), HPT_CONFIG_JSON, diag);
    free (text);
    hpt_diag_destroy (&diag);
    if (!spec) {
        hpt_error_set (error, HPT_E_INTERNAL, "its stored spec is invalid");
        return NULL;
    }
    size_t count = 0;
    hpt_task_request_t *requests = s_requests (self, spec, &count, error);
    if (!requests) {
        hpt_job_destroy (&spec);
        return NULL;
    }
    hpt_tuner_t *tuner = hpt_tuner_load (self->store, row, spec, requests, count, error);
    if (!tuner) return NULL;
    hpt_tuner_hooks_t hooks = hpt_master_metrics_tuner_hooks (self->metrics);
    hpt_tuner_set_hooks (tuner, &hooks);
    hpt_hyperparameters_t *hp = hpt_tuner_spec (tuner)->input.hyperparameters;
    hpt_tuner_t *previous = hp ? hpt_core_job (self, hp->resume_previous_job_id) : NULL;
    if (previous && hpt_core_readmit (self, previous, error)) {
        hpt_tuner_destroy (&tuner);
        return NULL;
    }
    if (previous) hpt_tuner_seed_from (tuner, previous);
    return tuner;
}

static void
s_load_node (hpt_core_t *self, json_t *row)
{
    const char *name = json_string_value (json_object_get (row, "name"));
    hpt_host_t *node =
        name ? hpt_host_new (name, json_object_get (row, "resources_json"), NULL) : NULL;
    if (!node) return;
    node->state = HPT_HOST_DISCONNECTED;
    hpt_drain_state_parse (json_string_value (json_object_get (row, "drain_state")), &node->drain);
    const char *reason = json_string_value (json_object_get (row, "drain_reason"));
    const char *by = json_string_value (json_object_get (row, "drained_by"));
    node->drain_reason = reason ? hpt_strdup (reason) : NULL;
    node->drained_by = by ? hpt_strdup (by) : NULL;
    node->drain_time = json_integer_value (json_object_get (row, "drained_at"));
    node->acked_seq = json_integer_value (json_object_get (row, "last_acked_seq"));
    node->last_seen = json_integer_value (json_object_get (row, "last_seen"));
    hpt_fleet_add (self->fleet, node);
}

//  Loads every node and job from the store, cuts job logs back to their
//  committed lengths, and re-reserves what placed tasks hold.
static int
s_load (hpt_core_t *self, hpt_error_t *error)
{
    json_t *rows = NULL;
    if (hpt_store_agent_list (self->store, &rows, error)) return -1;
    size_t i;
    json_t *row;
    json_array_foreach (rows, i, row) {
        s_load_node (self, row);
    }
    json_decref (rows);
    if (hpt_store_job_list (self->store, &rows, error)) return -1;
    json_array_foreach (rows, i, row) {
        hpt_error_t problem;
        hpt_tuner_t *tuner = s_load_tuner (self, row, &problem);
        if (!tuner) {
            hpt_log_error ("cannot reload job %s: %s",
                           json_string_value (json_object_get (row, "job_id")), problem.message);
            continue;
        }
        hpt_joblog_truncate (self->joblog, hpt_tuner_id (tuner),
                             json_integer_value (json_object_get (row, "log_bytes")), NULL);
        s_add_tuner (self, tuner);
        //  A finished job comes back evicted: a store of many jobs must
        //  not all be in memory at once.
        hpt_tuner_evict (tuner);
        if (!hpt_tuner_evicted (tuner)) s_index_tuner (self, tuner);
    }
    json_decref (rows);
    s_restore_reservations (self);
    return 0;
}

//  With master.security.curve: the agents socket is a CURVE server with
//  the master's certificate, and only admitted keys get through ZAP.
static int
s_secure (hpt_core_t *self, hpt_error_t *error)
{
    const char *path = self->settings->curve_cert;
    if (!path) {
        if (self->settings->insecure)
            hpt_log_warning ("master.security.insecure is set: anyone who can reach %s "
                             "can register as an agent and run this cluster's jobs",
                             self->settings->agents);
        return 0;
    }
    hpt_error_t problem;
    zcert_t *cert = hpt_keys_load (path, true, &problem);
    if (!cert)
        return hpt_error_set (error, HPT_E_INVALID,
                              "master.security.curve.cert: %s (make a pair with hptmaster keygen "
                              "DIR; use DIR/master.cert_secret)",
                              problem.message);
    self->admission = hpt_admission_new (self->settings->curve_agent_certs, error);
    //  Slurm jobs' agents get the master's public key in their script.
    self->slurm_master_key = hpt_strdup (zcert_public_txt (cert));
    if (self->admission) {
        zsock_set_zap_domain (self->agents, "hpt");
        zcert_apply (cert, self->agents);
        zsock_set_curve_server (self->agents, 1);
        //  A peer without the right keys never gets as far as a message:
        //  its failed handshake is the only trace, so it is counted.
        self->handshakes = zactor_new (zmonitor, self->agents);
        zstr_sendx (self->handshakes, "LISTEN", "HANDSHAKE_FAILED_AUTH",
                    "HANDSHAKE_FAILED_PROTOCOL", "HANDSHAKE_FAILED_NO_DETAIL", NULL);
        zstr_send (self->handshakes, "START");
        zsock_wait (self->handshakes);
    }
    zcert_destroy (&cert);
    return self->admission ? 0 : -1;
}

//  Starts the HTTP API, serving HTTPS with master.tls. The pair is checked
//  here, at start, so that a bad file is one error naming its field
//  instead of a failed handshake on every connection.
static hpt_api_t *
s_start_api (hpt_core_t *self, const char *listen, const char *inproc, hpt_error_t *error)
{
    const hpt_master_settings_t *settings = self->settings;
    hpt_api_options_t plain = {.metrics = self->metrics};
    if (!settings->tls_cert) return hpt_api_new (listen, inproc, &plain, error);
    hpt_tls_pair_t pair;
    if (hpt_tls_pair_load (&pair, settings->tls_cert, "master.tls.cert", settings->tls_key,
                           "master.tls.key", error))
        return NULL;
    //  An expired certificate still serves: refusing to start would take
    //  the agents' master down with the API. Clients will refuse it.
    if (pair.not_after <= time (NULL))
        hpt_log_warning ("master.tls.cert: %s has expired: clients will refuse it (a "
                         "new one from the same CA: move server.pem and server.key away and run "
                         "hptmaster certgen on the same DIR)",
                         settings->tls_cert);
    hpt_api_options_t options = {
        .tls_cert_pem = pair.cert_pem, .tls_key_pem = pair.key_pem, .metrics = self->metrics};
    hpt_api_t *api = hpt_api_new (listen, inproc, &options, error);
    hpt_tls_pair_clear (&pair);
    return api;
}

static int
s_bind (hpt_core_t *self, hpt_error_t *error)
{
    self->agents = zsock_new (ZMQ_ROUTER);
    zsock_set_router_handover (self->agents, 1);
    zsock_set_maxmsgsize (self->agents, 4 * 1024 * 1024);
    zsock_set_linger (self->agents, 0);
    //  PROTOCOL.md §2: a send to a connection that is gone, or to a full
    //  queue, fails at once instead of vanishing or blocking the loop
    //  (hpt_core_send_to counts it); each agent may have S_AGENT_SNDHWM
    //  messages queued, and the master reads at most S_AGENT_RCVHWM of
    //  one agent's before ZeroMQ stops reading its connection.
    zsock_set_router_mandatory (self->agents, 1);
    zsock_set_sndtimeo (self->agents, 0);
    zsock_set_sndhwm (self->agents, S_AGENT_SNDHWM);
    zsock_set_rcvhwm (self->agents, S_AGENT_RCVHWM);
    if (s_secure (self, error)) return -1;
    if (zsock_bind (self->agents, "%s", self->settings->agents) < 0)
        return hpt_error_set (error, HPT_E_UNAVAILABLE, "cannot bind the agents endpoint %s: %s",
                              self->settings->agents, zmq_strerror (zmq_errno ()));
    self->agents_endpoint = zsock_last_endpoint (self->agents);
    char *inproc = hpt_asprintf ("inproc://hpt-api-%p", (void *)self);
    self->api_router = zsock_new_router (inproc);
    const char *host = self->settings->api_host;
    bool v6 = strchr (host, ':') != NULL;
    char *listen =
        hpt_asprintf ("%s%s%s:%u", v6 ? "[" : "", host, v6 ? "]" : "", self->settings->api_port);
    self->api = s_start_api (self, listen, inproc, error);
    free (listen);
    //  The Unix socket: the operator's tools on this host, trusted as
    //  admins by the socket file's mode (0660) and group.
    const char *socket = self->settings->api_socket;
    char *path =
        socket ? hpt_strdup (socket) : hpt_asprintf ("%s/api.sock", self->settings->state_dir);
    if (self->api && *path) {
        char *unix_listen = hpt_asprintf ("unix:%s", path);
        hpt_api_options_t local = {.metrics = self->metrics};
        self->api_socket = hpt_api_new (unix_listen, inproc, &local, error);
        free (unix_listen);
    }
    free (path);
    free (inproc);
    return self->api && (self->api_socket || (socket && !*socket)) ? 0 : -1;
}

//  An API other hosts can reach needs TLS and at least one user (else
//  anyone who connects would be an admin), or an explicit insecure.
static int
s_api_allowed (hpt_core_t *self, hpt_error_t *error)
{
    const hpt_master_settings_t *m = self->settings;
    const char *host = m->api_host;
    bool local = !*host || strncmp (host, "127.", 4) == 0 || strcmp (host, "::1") == 0 ||
                 strcmp (host, "localhost") == 0;
    if (local) return 0;
    if (m->insecure) {
        hpt_log_warning ("master.security.insecure is set: the API on %s accepts anyone "
                         "while no user exists, in plaintext without master.tls",
                         m->api);
        return 0;
    }
    json_t *users = NULL;
    size_t active = 0, i;
    json_t *user;
    if (hpt_store_user_list (self->store, &users, NULL) == 0)
        json_array_foreach (users, i, user) {
            active += !json_is_true (json_object_get (user, "revoked"));
        }
    json_decref (users);
    if (m->tls_cert && active > 0) return 0;
    return hpt_error_set (error, HPT_E_FAILED_PRECONDITION,
                          "master.api %s can be reached from other hosts: it needs master.tls "
                          "(hptmaster certgen) and at least one user (hptmaster users add NAME "
                          "--role admin), or master.security.insecure: true (docs/security.md)%s",
                          m->api, !m->tls_cert ? "; master.tls is not set" : "; there is no user");
}

static hpt_core_t *
s_core_new (hpt_cluster_config_t *config)
{
    hpt_core_t *self = hpt_calloc (1, sizeof (hpt_core_t));
    self->config = config;
    self->settings = hpt_cluster_config_master (config);
    self->started = hpt_core_now ();
    self->epoch = self->started;
    self->store_ok = true;
    self->fleet = hpt_fleet_new ();
    self->tasks = zhashx_new ();
    zhashx_set_destructor (self->tasks, s_free_item);
    self->dropped_by_kind = zhashx_new ();
    zhashx_set_destructor (self->dropped_by_kind, s_free_item);
    self->refused_at = zhashx_new ();
    zhashx_set_destructor (self->refused_at, s_free_item);
    self->log_bytes = zhashx_new ();
    zhashx_set_destructor (self->log_bytes, s_free_item);
    self->outbox = zlistx_new ();
    zlistx_set_destructor (self->outbox, s_outgoing_free);
    self->node_undo = zlistx_new ();
    zlistx_set_destructor (self->node_undo, s_node_undo_free);
    self->answers = hpt_textcache_new (S_ANSWERS_BYTES);
    self->sessions = hpt_session_new (0);
    self->metrics = hpt_master_metrics_new ();
    self->heartbeat_timer = -1;
    self->agents_idle = true; //  the first frame starts its own bound
    self->backlog = hpt_calloc (S_BACKLOG_MAX, sizeof (hpt_core_frame_t));
    self->sighup_fd = -1;
    self->stop_fd = -1;
    self->suggester = hpt_suggester_new ();
    return self;
}

hpt_core_t *
hpt_core_new (hpt_cluster_config_t *config, hpt_error_t *error)
{
    const hpt_master_settings_t *settings = hpt_cluster_config_master (config);
    //  0700: the store and the logs hold every job's env values.
    if (hpt_mkdirs (settings->state_dir, 0700, error)) return NULL;
    hpt_core_t *self = s_core_new (config);
    char *logs = hpt_asprintf ("%s/logs", settings->state_dir);
    char *db = hpt_asprintf ("%s/hpt.db", settings->state_dir);
    self->joblog = hpt_joblog_new (logs, error);
    self->store = self->joblog ? hpt_store_new (db, error) : NULL;
    free (logs);
    free (db);
    if (!self->store || s_api_allowed (self, error) || s_bind (self, error) ||
        s_load (self, error)) {
        hpt_core_destroy (&self);
        return NULL;
    }
    self->loop = zloop_new ();
    //  The API first in a turn ("Transactions").
    zloop_reader (self->loop, self->api_router, s_on_api_request, self);
    zloop_reader (self->loop, self->agents, s_on_agent_message, self);
    zloop_reader (self->loop, hpt_suggester_sock (self->suggester), s_on_suggestion, self);
    if (self->admission) {
        zloop_reader (self->loop, hpt_admission_zap (self->admission), s_on_zap_request, self);
        zloop_reader (self->loop, zactor_sock (self->handshakes), s_on_handshake, self);
    }
    hpt_core_arm_heartbeat (self);
    s_watch_sighup (self);
    s_watch_stop (self);
    if (hpt_slurm_start (self, error)) {
        hpt_core_destroy (&self);
        return NULL;
    }
    if (hpt_core_begin (self) == 0) {
        hpt_core_schedule (self);
        hpt_core_commit (self);
    }
    return self;
}

void
hpt_core_destroy (hpt_core_t **self_p)
{
    if (!self_p || !*self_p) return;
    hpt_core_t *self = *self_p;
    hpt_api_destroy (&self->api);
    hpt_api_destroy (&self->api_socket);
    zloop_destroy (&self->loop);
    hpt_suggester_destroy (&self->suggester);
    hpt_slurm_stop (self);
    zactor_destroy (&self->handshakes);
    hpt_admission_destroy (&self->admission);
    zsock_destroy (&self->api_router);
    zsock_destroy (&self->agents);
    for (size_t i = 0; i < self->backlog_count; i++)
        hpt_msg_destroy (&self->backlog[(self->backlog_head + i) % S_BACKLOG_MAX].msg);
    free (self->backlog);
    for (size_t i = 0; i < self->tuner_count; i++)
        hpt_tuner_destroy (&self->tuners[i]);
    free (self->tuners);
    hpt_fleet_destroy (&self->fleet);
    zhashx_destroy (&self->tasks);
    zhashx_destroy (&self->dropped_by_kind);
    zhashx_destroy (&self->refused_at);
    zhashx_destroy (&self->log_bytes);
    zlistx_destroy (&self->outbox);
    zlistx_destroy (&self->node_undo);
    hpt_textcache_destroy (&self->answers);
    hpt_session_destroy (&self->sessions);
    hpt_master_metrics_destroy (&self->metrics);
    if (self->sighup_fd >= 0) close (self->sighup_fd);
    if (self->stop_fd >= 0 && s_stop_fd == self->stop_fd) {
        zsys_handler_reset ();
        s_stop_fd = -1;
    }
    if (self->stop_fd >= 0) close (self->stop_fd);
    hpt_cluster_config_destroy (&self->reloaded);
    free (self->config_path);
    hpt_store_destroy (&self->store);
    hpt_joblog_destroy (&self->joblog);
    zstr_free (&self->agents_endpoint);
    free (self->store_problem);
    free (self);
    *self_p = NULL;
}

int
hpt_core_run (hpt_core_t *self)
{
    zloop_start (self->loop);
    return 0;
}
