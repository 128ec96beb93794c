/*  bench_swarm -- many fake agents in one thread (see bench_swarm.h)

    One zactor polls the pipe and every agent's DEALER with zmq_poll and
    keeps one timer heap for all agents: each agent has a tick (HELLO
    with backoff before WELCOME, HEARTBEAT after) and each pretend task
    its start and end. Agent i's first HELLO is due at i * connect_ms /
    count, so a storm (connect_ms 0) is every agent at once.

    Events are kept per agent with the time they were first sent until an
    ACK (or a WELCOME's ackedSeq, or a master HEARTBEAT's seq) covers
    them; that time to the ACK is the latency sample. After every WELCOME
    the unacknowledged events are sent again in order, as PROTOCOL.md
    §6.3 asks.
*/
#include "bench_swarm.h"
#include "hpt_msg.h"
#include <czmq.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_HELLO_MIN_MS 500
#define S_HELLO_MAX_MS 5000
#define S_TASKS_MAX 64

typedef enum { S_TICK, S_TASK_START, S_TASK_END, S_CONNECT } s_timer_kind_t;

typedef struct {
    int64_t due;         //  monotonic ms
    int agent;           //  index
    int slot;            //  task slot, for task timers
    uint32_t generation; //  the slot's generation when set (stale timers are ignored)
    s_timer_kind_t kind; //  what to do
} s_timer_t;

typedef struct {
    char *task_id;       //  NULL when the slot is free
    uint32_t generation; //  bumped whenever the slot changes hands
    double value;        //  the objective it will report
    bool stopping;       //  a STOP came
} s_task_t;

typedef struct {
    hpt_msg_t *msg; //  the event, seq set
    int64_t sent;   //  monotonic ms of its first send
} s_event_t;

typedef struct {
    zsock_t *dealer;             //  NULL until it connects
    char name[48];               //  agent name
    bool registered;             //  welcomed and not told otherwise since
    bool welcomed;               //  welcomed at least once
    bool lost;                   //  told NOT_REGISTERED after a welcome
    int64_t hello_backoff;       //  next HELLO wait
    int64_t heartbeat_ms;        //  from WELCOME
    int64_t next_seq;            //  the next event's seq
    int64_t acked;               //  highest seq acknowledged
    int64_t heard;               //  when the master last said anything
    zlistx_t *events;            //  s_event_t, unacknowledged, in seq order
    s_task_t tasks[S_TASKS_MAX]; //  pretend tasks
} s_agent_t;

struct _bench_swarm_t {
    zactor_t *actor; //  the swarm's thread
};

typedef struct {
    bench_swarm_config_t config; //  copied; strings owned below
    char *master;                //  endpoint (owned)
    char *prefix;                //  name prefix (owned)
    zsock_t *pipe;               //  to the caller
    s_agent_t *agents;           //  config.count
    zmq_pollitem_t *items;       //  pipe + one per agent
    s_timer_t *heap;             //  min-heap by due
    size_t heap_count;           //  entries
    size_t heap_cap;             //  allocated
    bench_swarm_stats_t stats;   //  counters (latencies computed on request)
    double *acks;                //  ACK latency samples (ms)
    size_t ack_count;            //  samples held
    size_t ack_cap;              //  allocated
    json_t *resources;           //  every agent's HELLO document
} s_swarm_t;

static int64_t
s_now (void)
{
    return zclock_mono ();
}

double
bench_swarm_objective (const double *x, size_t count)
{
    double sum = 0.0;
    for (size_t j = 0; j < count; j++) {
        double t = x[j] - (0.2 + 0.15 * (double)j);
        sum += t * t + 0.05 * (1.0 - cos (12.0 * t));
    }
    return sum;
}

//  ---------------------------------------------------------------------
//  Timer heap

static void
s_timer_add (s_swarm_t *self, s_timer_t timer)
{
    if (self->heap_count == self->heap_cap) {
        self->heap_cap = self->heap_cap ? self->heap_cap * 2 : 1024;
        self->heap = realloc (self->heap, self->heap_cap * sizeof (s_timer_t));
    }
    size_t i = self->heap_count++;
    while (i > 0 && self->heap[(i - 1) / 2].due > timer.due) {
        self->heap[i] = self->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    self->heap[i] = timer;
}

static s_timer_t
s_timer_pop (s_swarm_t *self)
{
    s_timer_t top = self->heap[0], last = self->heap[--self->heap_count];
    size_t i = 0;
    while (true) {
        size_t child = 2 * i + 1;
        if (child >= self->heap_count) break;
        if (child + 1 < self->heap_count && self->heap[child + 1].due < self->heap[child].due)
            child++;
        if (self->heap[child].due >= last.due) break;
        self->heap[i] = self->heap[child];
        i = child;
    }
    if (self->heap_count) self->heap[i] = last;
    return top;
}

//  ---------------------------------------------------------------------
//  Sending

static void
s_send (s_swarm_t *self, s_agent_t *agent, hpt_msg_t **msg_p)
{
    if (hpt_msg_send (msg_p, agent->dealer) == 0) self->stats.sent++;
}

static void
s_hello (s_swarm_t *self, s_agent_t *agent)
{
    hpt_msg_t *msg = hpt_msg_new (HPT_MSG_HELLO);
    hpt_msg_set_protocol (msg, HPT_MSG_PROTOCOL);
    hpt_msg_set_name (msg, agent->name);
    hpt_msg_set_version (msg, "bench-swarm");
    hpt_msg_set_advertise (msg, "127.0.0.1");
    hpt_msg_set_ports (msg, 20000, 20999);
    hpt_msg_set_resources (msg, self->resources);
    hpt_msg_set_acked_seq (msg, agent->acked);
    hpt_msg_set_last_seq (msg, agent->next_seq - 1);
    for (int s = 0; s < S_TASKS_MAX; s++)
        if (agent->tasks[s].task_id)
            hpt_msg_add_task (msg, agent->tasks[s].task_id, 1000 + s,
                              agent->tasks[s].stopping ? "STOPPING" : "RUNNING");
    s_send (self, agent, &msg);
}

//  Numbers the event, keeps it until acknowledged and sends it while
//  registered (otherwise it goes after the next WELCOME).
static void
s_event (s_swarm_t *self, s_agent_t *agent, hpt_msg_t *msg)
{
    hpt_msg_set_seq (msg, agent->next_seq++);
    s_event_t *event = calloc (1, sizeof (s_event_t));
    event->msg = msg;
    event->sent = s_now ();
    zlistx_add_end (agent->events, event);
    if (agent->registered) {
        hpt_msg_t *copy = hpt_msg_dup (msg);
        s_send (self, agent, &copy);
    }
}

static void
s_acked (s_swarm_t *self, s_agent_t *agent, int64_t seq)
{
    if (seq > agent->acked) agent->acked = seq;
    int64_t now = s_now ();
    s_event_t *event = zlistx_first (agent->events);
    while (event && hpt_msg_seq (event->msg) <= seq) {
        if (self->ack_count == self->ack_cap) {
            self->ack_cap = self->ack_cap ? self->ack_cap * 2 : 4096;
            self->acks = realloc (self->acks, self->ack_cap * sizeof (double));
        }
        self->acks[self->ack_count++] = (double)(now - event->sent);
        zlistx_delete (agent->events, zlistx_cursor (agent->events));
        event = zlistx_first (agent->events);
    }
}

//  ---------------------------------------------------------------------
//  Pretend tasks

static void
s_task_exit (s_swarm_t *self, s_agent_t *agent, int slot, int signal)
{
    s_task_t *task = &agent->tasks[slot];
    if (signal == 0) {
        hpt_msg_t *metrics = hpt_msg_new (HPT_MSG_METRICS);
        hpt_msg_set_task_id (metrics, task->task_id);
        hpt_msg_add_point (metrics, "m", task->value, 1, zclock_time ());
        s_event (self, agent, metrics);
    }
    hpt_msg_t *exited = hpt_msg_new (HPT_MSG_TASK_EXITED);
    hpt_msg_set_task_id (exited, task->task_id);
    hpt_msg_set_exit_code (exited, signal ? -1 : 0);
    hpt_msg_set_signal (exited, signal);
    hpt_msg_set_reason (exited, "");
    hpt_msg_set_end_time (exited, zclock_time ());
    s_event (self, agent, exited);
    self->stats.exits++;
    free (task->task_id);
    task->task_id = NULL;
    task->stopping = false;
    task->generation++;
}

//  The objective of a LAUNCH's --xJ=VALUE arguments.
static double
s_value_of (hpt_msg_t *msg)
{
    double x[16] = {0};
    size_t count = 0;
    for (size_t i = 0; i < hpt_msg_arg_count (msg); i++) {
        unsigned j;
        double v;
        if (sscanf (hpt_msg_arg (msg, i), "--x%u=%lf", &j, &v) == 2 && j < 16) {
            x[j] = v;
            if (j + 1 > count) count = j + 1;
        }
    }
    return bench_swarm_objective (x, count);
}

static void
s_on_launch (s_swarm_t *self, int index, hpt_msg_t *msg)
{
    s_agent_t *agent = &self->agents[index];
    self->stats.launches++;
    int free_slot = -1;
    for (int s = 0; s < S_TASKS_MAX; s++) {
        if (agent->tasks[s].task_id && strcmp (agent->tasks[s].task_id, hpt_msg_task_id (msg)) == 0)
            return; //  a LAUNCH sent again: already running (PROTOCOL.md §5.7)
        if (!agent->tasks[s].task_id && free_slot < 0) free_slot = s;
    }
    if (free_slot < 0) return;
    s_task_t *task = &agent->tasks[free_slot];
    task->task_id = strdup (hpt_msg_task_id (msg));
    task->value = s_value_of (msg);
    task->generation++;
    int64_t now = s_now ();
    s_timer_add (self, (s_timer_t){now, index, free_slot, task->generation, S_TASK_START});
    s_timer_add (self, (s_timer_t){now + self->config.trial_ms, index, free_slot, task->generation,
                                   S_TASK_END});
}

static void
s_on_stop (s_swarm_t *self, int index, hpt_msg_t *msg)
{
    s_agent_t *agent = &self->agents[index];
    for (int s = 0; s < S_TASKS_MAX; s++)
        if (agent->tasks[s].task_id && strcmp (agent->tasks[s].task_id, hpt_msg_task_id (msg)) == 0)
            s_task_exit (self, agent, s, 15);
}

//  ---------------------------------------------------------------------
//  Receiving

static void
s_on_welcome (s_swarm_t *self, int index, hpt_msg_t *msg)
{
    s_agent_t *agent = &self->agents[index];
    self->stats.welcomes++;
    if (!agent->welcomed) self->stats.registered++;
    if (!agent->registered) self->stats.ready++;
    agent->welcomed = agent->registered = true;
    agent->hello_backoff = S_HELLO_MIN_MS;
    agent->heartbeat_ms = hpt_msg_heartbeat_ms (msg) > 0 ? hpt_msg_heartbeat_ms (msg) : 1000;
    s_acked (self, agent, hpt_msg_acked_seq (msg));
    for (s_event_t *event = zlistx_first (agent->events); event;
         event = zlistx_next (agent->events)) {
        hpt_msg_t *copy = hpt_msg_dup (event->msg);
        s_send (self, agent, &copy);
    }
}

static void
s_unregistered (s_swarm_t *self, s_agent_t *agent)
{
    if (agent->registered) self->stats.ready--;
    if (agent->welcomed && !agent->lost) {
        agent->lost = true;
        self->stats.lost++;
    }
    agent->registered = false;
}

static void
s_on_message (s_swarm_t *self, int index, hpt_msg_t *msg)
{
    s_agent_t *agent = &self->agents[index];
    self->stats.received++;
    int64_t now = s_now ();
    if (agent->registered && now - agent->heard > self->stats.master_silence_max_ms)
        self->stats.master_silence_max_ms = (double)(now - agent->heard);
    agent->heard = now;
    switch (hpt_msg_id (msg)) {
        case HPT_MSG_WELCOME:
            s_on_welcome (self, index, msg);
            break;
        case HPT_MSG_REJECT:
            self->stats.rejects++;
            s_unregistered (self, agent);
            break;
        case HPT_MSG_ERROR:
            if (hpt_msg_code (msg) && strcmp (hpt_msg_code (msg), "NOT_REGISTERED") == 0) {
                self->stats.not_registered++;
                s_unregistered (self, agent);
                s_hello (self, agent);
            }
            break;
        case HPT_MSG_ACK:
        case HPT_MSG_HEARTBEAT:
            s_acked (self, agent, hpt_msg_seq (msg));
            break;
        case HPT_MSG_LAUNCH:
            s_on_launch (self, index, msg);
            break;
        case HPT_MSG_STOP:
            s_on_stop (self, index, msg);
            break;
        default:
            break;
    }
}

static void
s_drain (s_swarm_t *self, int index)
{
    s_agent_t *agent = &self->agents[index];
    while (zsock_events (agent->dealer) & ZMQ_POLLIN) {
        hpt_msg_fault_t fault;
        memset (&fault, 0, sizeof fault);
        hpt_msg_t *msg = hpt_msg_recv_fault (agent->dealer, &fault);
        hpt_msg_fault_reset (&fault);
        if (!msg) continue;
        s_on_message (self, index, msg);
        hpt_msg_destroy (&msg);
    }
}

//  ---------------------------------------------------------------------
//  Timers

static void
s_connect (s_swarm_t *self, int index)
{
    s_agent_t *agent = &self->agents[index];
    agent->dealer = zsock_new (ZMQ_DEALER);
    //  hptagent's options (agent/hpt_agent.c).
    zsock_set_immediate (agent->dealer, 1);
    zsock_set_sndtimeo (agent->dealer, 0);
    zsock_set_linger (agent->dealer, 0);
    zsock_set_reconnect_ivl (agent->dealer, 100);
    zsock_set_reconnect_ivl_max (agent->dealer, 2000);
    zsock_connect (agent->dealer, "%s", self->master);
    self->items[index + 1] = (zmq_pollitem_t){zsock_resolve (agent->dealer), 0, ZMQ_POLLIN, 0};
    s_timer_add (self, (s_timer_t){s_now (), index, 0, 0, S_TICK});
}

static void
s_on_timer (s_swarm_t *self, s_timer_t timer)
{
    s_agent_t *agent = &self->agents[timer.agent];
    int64_t now = s_now ();
    if (timer.kind == S_CONNECT) {
        s_connect (self, timer.agent);
        return;
    }
    if (timer.kind == S_TICK) {
        int64_t next;
        if (agent->registered) {
            hpt_msg_t *msg = hpt_msg_new (HPT_MSG_HEARTBEAT);
            hpt_msg_set_seq (msg, agent->next_seq - 1);
            int running = 0;
            for (int s = 0; s < S_TASKS_MAX; s++)
                running += agent->tasks[s].task_id != NULL;
            hpt_msg_set_running_tasks (msg, running);
            hpt_msg_set_load (msg, 0.5);
            s_send (self, agent, &msg);
            next = agent->heartbeat_ms;
        } else {
            s_hello (self, agent);
            next = agent->hello_backoff;
            agent->hello_backoff = agent->hello_backoff * 2 > S_HELLO_MAX_MS
                                       ? S_HELLO_MAX_MS
                                       : agent->hello_backoff * 2;
        }
        s_timer_add (self, (s_timer_t){now + next, timer.agent, 0, 0, S_TICK});
        return;
    }
    s_task_t *task = &agent->tasks[timer.slot];
    if (!task->task_id || task->generation != timer.generation) return;
    if (timer.kind == S_TASK_START) {
        hpt_msg_t *msg = hpt_msg_new (HPT_MSG_TASK_STARTED);
        hpt_msg_set_task_id (msg, task->task_id);
        hpt_msg_set_pid (msg, 1000 + timer.slot);
        hpt_msg_set_start_time (msg, zclock_time ());
        s_event (self, agent, msg);
    } else
        s_task_exit (self, agent, timer.slot, 0);
}

//  ---------------------------------------------------------------------
//  The actor

static int
s_compare (const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void
s_reply_stats (s_swarm_t *self)
{
    bench_swarm_stats_t stats = self->stats;
    if (self->ack_count) {
        double *sorted = malloc (self->ack_count * sizeof (double));
        memcpy (sorted, self->acks, self->ack_count * sizeof (double));
        qsort (sorted, self->ack_count, sizeof (double), s_compare);
        stats.ack_p50_ms = sorted[(self->ack_count - 1) / 2];
        stats.ack_p99_ms = sorted[(size_t)((double)(self->ack_count - 1) * 0.99)];
        stats.ack_max_ms = sorted[self->ack_count - 1];
        free (sorted);
    }
    stats.ack_samples = self->ack_count;
    zsock_send (self->pipe, "b", &stats, sizeof stats);
}

//  Handles a command from the caller; returns false on $TERM.
static bool
s_on_pipe (s_swarm_t *self)
{
    char *command = zstr_recv (self->pipe);
    if (!command) return false;
    bool go_on = strcmp (command, "$TERM") != 0;
    if (strcmp (command, "STATS") == 0)
        s_reply_stats (self);
    else if (strcmp (command, "RESET") == 0) {
        self->ack_count = 0;
        self->stats.master_silence_max_ms = 0;
        zsock_signal (self->pipe, 0);
    }
    zstr_free (&command);
    return go_on;
}

static void
s_swarm_free (s_swarm_t *self)
{
    for (int i = 0; i < self->config.count; i++) {
        s_agent_t *agent = &self->agents[i];
        zsock_destroy (&agent->dealer);
        zlistx_destroy (&agent->events);
        for (int s = 0; s < S_TASKS_MAX; s++)
            free (agent->tasks[s].task_id);
    }
    json_decref (self->resources);
    free (self->agents);
    free (self->items);
    free (self->heap);
    free (self->acks);
    free (self->master);
    free (self->prefix);
    free (self);
}

static void
s_event_free (void **item_p)
{
    s_event_t *event = *item_p;
    if (!event) return;
    hpt_msg_destroy (&event->msg);
    free (event);
    *item_p = NULL;
}

static void
s_actor (zsock_t *pipe, void *arg)
{
    s_swarm_t *self = arg;
    self->pipe = pipe;
    int n = self->config.count;
    self->items = calloc ((size_t)n + 1, sizeof (zmq_pollitem_t));
    self->items[0] = (zmq_pollitem_t){zsock_resolve (pipe), 0, ZMQ_POLLIN, 0};
    for (int i = 0; i < n; i++) {
        s_agent_t *agent = &self->agents[i];
        snprintf (agent->name, sizeof agent->name, "%s-%05d", self->prefix, i + 1);
        agent->hello_backoff = S_HELLO_MIN_MS;
        agent->next_seq = 1;
        agent->events = zlistx_new ();
        zlistx_set_destructor (agent->events, s_event_free);
        //  Not yet connected: a poll item on no socket is skipped.
        self->items[i + 1] = (zmq_pollitem_t){NULL, -1, 0, 0};
        int64_t offset = self->config.connect_ms * i / n;
        s_timer_add (self, (s_timer_t){s_now () + offset, i, 0, 0, S_CONNECT});
    }
    zsock_signal (pipe, 0);
    bool running = true;
    while (running) {
        int64_t now = s_now ();
        while (self->heap_count && self->heap[0].due <= now)
            s_on_timer (self, s_timer_pop (self));
        long timeout = self->heap_count ? (long)(self->heap[0].due - now) : 1000;
        if (timeout < 0) timeout = 0;
        if (zmq_poll (self->items, n + 1, timeout) < 0) break;
        if (self->items[0].revents & ZMQ_POLLIN) running = s_on_pipe (self);
        for (int i = 0; running && i < n; i++)
            if (self->items[i + 1].revents & ZMQ_POLLIN) s_drain (self, i);
    }
    s_swarm_free (self);
}

bench_swarm_t *
bench_swarm_new (const bench_swarm_config_t *config)
{
    s_swarm_t *swarm = calloc (1, sizeof (s_swarm_t));
    swarm->config = *config;
    swarm->master = strdup (config->master);
    swarm->prefix = strdup (config->prefix ? config->prefix : "fake");
    swarm->agents = calloc ((size_t)config->count, sizeof (s_agent_t));
    swarm->resources = json_pack ("{s:i, s:f}", "cpus", config->cpus, "memoryGb", 64.0);
    bench_swarm_t *self = calloc (1, sizeof (bench_swarm_t));
    self->actor = zactor_new (s_actor, swarm);
    return self;
}

void
bench_swarm_destroy (bench_swarm_t **self_p)
{
    if (!self_p || !*self_p) return;
    zactor_destroy (&(*self_p)->actor);
    free (*self_p);
    *self_p = NULL;
}

void
bench_swarm_stats (bench_swarm_t *self, bench_swarm_stats_t *stats)
{
    memset (stats, 0, sizeof *stats);
    zstr_send (self->actor, "STATS");
    zframe_t *frame = zframe_recv (self->actor);
    if (frame && zframe_size (frame) == sizeof *stats)
        memcpy (stats, zframe_data (frame), sizeof *stats);
    zframe_destroy (&frame);
}

void
bench_swarm_reset (bench_swarm_t *self)
{
    zstr_send (self->actor, "RESET");
    zsock_wait (self->actor);
}
