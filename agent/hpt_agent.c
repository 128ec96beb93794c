/*  hpt_agent -- the agent service: one host's link to the master

    Registration. The agent sends HELLO (resources, running tasks, the
    tasks whose exit still waits in the spool, the highest seq it saw
    acknowledged) and repeats it with backoff (0.5 s doubling to 5 s, or
    the master's retryMs) until WELCOME. WELCOME carries the heartbeat
    interval, the agent timeout and the highest seq the master stored: the
    spool forgets what is at or below it and replays the rest in order.
    Master silence longer than the agent timeout, or an ERROR
    NOT_REGISTERED (a master that restarted), starts registration again.
    A REJECT with retryMs disconnects the agent until then (the master
    may be refusing agents because it is short of file descriptors, and
    the connection holds one of them); it reconnects, then says HELLO.
    A REJECT without retryMs, or one whose protocols list no version this
    agent speaks (also one in another version's signature: a master of
    another version), is final: the agent stops and hptagent exits
    non-zero with the master's reason.
    The DEALER socket uses ZMQ_IMMEDIATE, so nothing is queued for a master
    that is not there: the spool is the only queue.
    ZeroMQ reconnects silently, so while unregistered the agent logs
    "waiting for the master at ENDPOINT (N s)" after 2 s, then at doubling
    intervals up to one a minute, and once per wait asks the endpoint what
    it is (hpt_probe, an actor): an HTTP port (the REST API given for the
    agents endpoint), nothing listening, or something that is not ZeroMQ
    is said, and repeated in each later waiting line.

    Events. TASK_STARTED, TASK_EXITED, METRICS and LOGS get the next spool
    seq, are appended to the spool, then sent when registered. ACK(seq)
    trims the spool. At most S_WINDOW events are in flight (sent, not yet
    acknowledged); the rest wait in the spool and go out, in order, as ACKs
    come back. The window is what keeps a trainer that prints 100k metric
    lines a second from overrunning the socket: the DEALER never blocks the
    loop (send timeout 0), so a message beyond ZeroMQ's high-water mark
    would be dropped, and the master, which stores events only in seq
    order, would then drop everything after it until a replay.
    Stdout metric points of one task are gathered per chunk of output into
    one METRICS event (up to HPT_MSG_POINTS_BATCH points), not one per line.

    Matching budget. A custom stdoutRegex is matched in this loop, on the
    first HPT_LINE_METRICS_LINE_MAX bytes of each line (the launcher hands
    longer lines over cut). Patterns that could take exponential time are
    refused (hpt_line_metrics), but glibc's matcher is still quadratic on
    some allowed ones, tens of ms per long line, and a trainer printing
    such lines must not stop the heartbeats. So matching gets a share of
    the loop's time: a credit that grows at 1/S_MATCH_SHARE of wall time up
    to S_MATCH_BURST_US, spent by the time each line took. A line arriving
    with no credit left is logged as usual but not matched; each task's
    unmatched lines are counted and logged (the first one, and the total at
    exit). The default pattern is matched by hand in linear time and is
    not budgeted.

    Tasks. A LAUNCH is ignored when the task id is already known (running
    or exited with its exit still in the spool), so a LAUNCH the master
    sends again after a restart never starts a task twice. Each task runs
    in WORKDIR/tasks/<id>/ (unless the job names a workingDir), its output
    in stdout.log/stderr.log there, its hypertune file at
    WORKDIR/tasks/<id>/hypertune/metric.json (CLOUD_ML_HP_METRIC_FILE). The
    metric file is polled every 200 ms and once more at exit, before the
    exit is reported, so a trial's last metric always precedes its end.
    The GPUs and TPU chips a LAUNCH names become the task's visibility
    variables here, not on the master: the agent knows its devices (later
    it can name a MIG instance by its UUID there), and fails a LAUNCH
    naming a device it does not offer.

    Users (docs/security.md). With --run-as, tasks run as that user; a
    LAUNCH's runAs is honoured when --allow-run-as (or --run-as) names it,
    else the task fails before it starts (also before any package fetch).
    The user is looked up at each launch (hpt_user), in this thread: the
    launcher's child only makes the system calls. The agent runs with
    umask 077; its workdir and tasks/ are 0711 (task users pass through),
    spool/ 0700; a task's directory and hypertune/ are its user's (0700),
    made without following what an earlier run left; its metric readers
    read only that user's files.

    Orphans. Tasks get SIGKILL when the agent dies (the launcher sets
    PR_SET_PDEATHSIG), so a restarted agent runs nothing and says so in
    HELLO; the master then fails (or requeues) what it thought was running.

    Containers (a LAUNCH with an image, hpt_container). The task's process
    is the runtime's attached run client, started by the launcher as the
    agent (the container gets the task's user), so output, exit and the
    SIGTERM of a stop work as for a process. What a process does not
    have: the image is pulled first, off the loop and once for every task
    waiting for it (such a task waits in `fetching`, as for packages); the
    job's env goes through a file in WORKDIR/containers/ (never argv);
    and a client that was killed, stopped or failed may leave its
    container, so its exit is reported only after the container was
    removed (task->removing). A SIGKILLed agent leaves containers: their
    env files tell the next start to remove them by label, before the
    processes outside containers are killed and before HELLO.
*/
#include "hpt_agent.h"
#include "hpt_agent_metrics.h"
#include "hpt_alloc.h"
#include "hpt_fdlimit.h"
#include "hpt_log.h"
#include "hpt_container.h"
#include "hpt_fetch.h"
#include "hpt_identity.h"
#include "hpt_fs.h"
#include "hpt_gpu_monitor.h"
#include "hpt_hypertune.h"
#include "hpt_job.h"
#include "hpt_launcher.h"
#include "hpt_line_metrics.h"
#include "hpt_msg.h"
#include "hpt_probe.h"
#include "hpt_spool.h"
#include "hpt_tfevents.h"
#include "hpt_user.h"
#include "hpt_version.h"
#include <czmq.h>
#include <dirent.h>
#include <sched.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#define S_METRIC_POLL_MS 200
//  Events in flight at most: well under ZeroMQ's default high-water mark
//  (1000 messages each side), with room for heartbeats.
#define S_WINDOW 256
#define S_HELLO_MIN_MS 500
#define S_HELLO_MAX_MS HPT_MSG_HELLO_MAX_MS

//  After reconnecting, the time the connection gets before HELLO (ms).
#define S_RECONNECT_HELLO_MS 200

//  The DEALER's high-water marks (PROTOCOL.md §2).
#define S_DEALER_SNDHWM 1000
#define S_DEALER_RCVHWM 10000
_Static_assert(S_DEALER_SNDHWM > S_WINDOW, "the DEALER must hold the window of events");
//  Custom stdout patterns get at most this share of the loop's time, in
//  bursts of at most S_MATCH_BURST_US (see the top).
#define S_MATCH_SHARE 4 //  one quarter
#define S_MATCH_BURST_US 100000
//  "waiting for the master" first after this long, then at doubling
//  intervals up to S_WAIT_LOG_MAX_MS apart.
#define S_WAIT_LOG_FIRST_MS 2000
#define S_WAIT_LOG_MAX_MS 60000
//  A master acknowledging events never sent is logged at most this often.
#define S_BOGUS_LOG_MS 1000

typedef struct {
    char *task_id;              //  the master's id, e.g. "job/3/master/0"
    char *lid;                  //  the launcher's id (task id with '/' -> ':')
    char *dir;                  //  WORKDIR/tasks/<lid>
    char *metric_file;          //  DIR/hypertune/metric.json (CLOUD_ML_HP_METRIC_FILE)
    hpt_hypertune_t *hypertune; //  reader of its metric file
    hpt_line_metrics_t *lines;  //  stdout metric pattern, NULL when off
    hpt_tfevents_t *events;     //  TensorFlow event files of the task
    zhashx_t *hypertune_tags;   //  tags the hypertune file reported (they win)
    char *metric_tag;           //  the job's objective tag
    int64_t pid;                //  its process
    bool exited;                //  exit reported (kept until its event is acked)
    int64_t exit_seq;           //  seq of its TASK_EXITED event
    hpt_msg_t *line_points;     //  METRICS from stdout lines not yet sent, or NULL
    uint64_t lines_unmatched;   //  stdout lines not matched: the matching budget was spent
    char *container;            //  its container's name, NULL for a process
    char *env_file;             //  the container's environment file (the agent's), or NULL
    bool removing;              //  exited; its container is being removed before the exit is told
    int exit_code;              //  while removing: how it exited
    int exit_signal;            //  while removing: the signal that ended the run client
    bool core_dumped;           //  while removing
    size_t gpu_count;           //  whole GPUs it was given
    int64_t *gpus;              //  their indexes (owned)
} s_task_t;

struct _hpt_agent_t {
    hpt_agent_config_t config;      //  copied (strings owned)
    char *spool_dir;                //  WORKDIR/spool
    zsock_t *dealer;                //  to the master
    zactor_t *monitor;              //  the dealer's CURVE handshakes (zmonitor), NULL without CURVE
    int64_t handshake_log;          //  when a failed handshake was last logged (monotonic ms)
    zloop_t *loop;                  //  the reactor
    hpt_launcher_t *launcher;       //  runs the tasks
    hpt_spool_t *spool;             //  events until acknowledged
    hpt_identity_t *identity;       //  the workdir's lock and this agent's id
    zhashx_t *tasks;                //  lid -> s_task_t (owned)
    hpt_fetch_t *fetch;             //  package fetcher (its own thread)
    zhashx_t *fetching;             //  task id -> LAUNCH waiting for packages or its image (owned)
    hpt_container_t *containers;    //  the container runtime
    char *containers_dir;           //  WORKDIR/containers: the containers' environment files
    zhashx_t *images;               //  images present (pulled or found) since the agent started
    zhashx_t *pulls;                //  image being pulled -> zlistx of the task ids waiting for it
    bool limits;                    //  containers get the machine type's CPU and memory limits
    json_t *resources;              //  HELLO's resources document
    bool registered;                //  WELCOME received, not lost since
    int64_t heartbeat_ms;           //  from WELCOME
    int64_t timeout_ms;             //  from WELCOME
    int64_t last_master;            //  monotonic ms of the master's last message
    int64_t next_hello;             //  monotonic ms of the next HELLO attempt
    bool disconnected;              //  off the master until next_hello (a REJECT's retryMs)
    int64_t hello_backoff;          //  current backoff
    int64_t last_heartbeat;         //  monotonic ms of our last HEARTBEAT
    int64_t oldest_seq;             //  oldest unacknowledged seq when last (re)sent
    int64_t oldest_sent;            //  monotonic ms it was last (re)sent
    int64_t sent_seq;               //  highest event seq sent since (re)registering or replaying
    int64_t master_epoch;           //  from the last WELCOME, 0 before the first
    int64_t wait_start;             //  monotonic ms this wait for registration began, 0 registered
    int64_t wait_log_at;            //  wait length at which "waiting for the master" is next logged
    zactor_t *probe;                //  asking the endpoint what it is (hpt_probe), NULL when not
    bool probed;                    //  the probe ran during this wait
    char *probe_advice;             //  what it found, for the waiting lines, or NULL
    char *refusal;                  //  why the master refused us for good, NULL while it has not
    char **allowed;                 //  --allow-run-as users, NULL-terminated (owned), or NULL
    mode_t task_umask;              //  the umask hptagent started with: the tasks get it
    int64_t task_nofile;            //  the soft open-file limit it started with: so do they
    int64_t bogus_logged;           //  monotonic ms an impossible ACK was last logged, 0 never
    int64_t match_credit;           //  microseconds custom stdout patterns may still spend now
    int64_t match_refilled;         //  monotonic microseconds the credit was last grown
    hpt_agent_metrics_t *metrics;   //  its /metrics (--metrics-listen), or NULL
    zhashx_t *launched;             //  task id -> monotonic ms its LAUNCH came (owned)
    hpt_gpu_monitor_t *gpu_monitor; //  NVML's watch over the GPUs, NULL without NVML
    zhashx_t *failed_gpus;          //  GPU index (decimal) -> why it failed (strings owned)
};

static int64_t
s_mono (void)
{
    return zclock_mono ();
}

static int64_t
s_wall (void)
{
    return zclock_time ();
}

static void
s_task_free (void **item_p)
{
    s_task_t *task = *item_p;
    if (!task) return;
    free (task->task_id);
    free (task->lid);
    free (task->dir);
    free (task->metric_file);
    hpt_hypertune_destroy (&task->hypertune);
    hpt_line_metrics_destroy (&task->lines);
    hpt_tfevents_destroy (&task->events);
    zhashx_destroy (&task->hypertune_tags);
    hpt_msg_destroy (&task->line_points);
    free (task->gpus);
    free (task->metric_tag);
    free (task->container);
    if (task->env_file) unlink (task->env_file);
    free (task->env_file);
    free (task);
    *item_p = NULL;
}

static char *
s_lid (const char *task_id)
{
    char *lid = hpt_strdup (task_id);
    for (char *c = lid; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '.' || *c == '_' || *c == '-'))
            *c = ':';
    return lid;
}

static void
s_msg_free (void **item_p)
{
    hpt_msg_destroy ((hpt_msg_t **)item_p);
}

static s_task_t *
s_task_by_id (hpt_agent_t *self, const char *task_id)
{
    char *lid = s_lid (task_id);
    s_task_t *task = zhashx_lookup (self->tasks, lid);
    free (lid);
    return task;
}

//  ---------------------------------------------------------------------
//  Sending

//  Sends and destroys the message. Returns 0, or -1 when it was not sent
//  (invalid, no master connected, or the socket is full).
static int
s_send (hpt_agent_t *self, hpt_msg_t **msg_p)
{
    hpt_error_t error;
    if (hpt_msg_validate (*msg_p, &error) != 0) {
        hpt_log_error ("not sending an invalid %s: %s", hpt_msg_id_name (hpt_msg_id (*msg_p)),
                       error.message);
        hpt_msg_destroy (msg_p);
        return -1;
    }
    return hpt_msg_send (msg_p, self->dealer);
}

//  True when one more event may be in flight.
static bool
s_window_open (hpt_agent_t *self)
{
    return self->registered && self->sent_seq - hpt_spool_acked (self->spool) < S_WINDOW;
}

//  Sends spooled events after sent_seq, in order, while the window is open.
static void
s_pump (hpt_agent_t *self)
{
    if (self->sent_seq < hpt_spool_acked (self->spool))
        self->sent_seq = hpt_spool_acked (self->spool);
    size_t i = hpt_spool_find (self->spool, self->sent_seq + 1);
    for (; s_window_open (self) && i < hpt_spool_size (self->spool); i++) {
        const hpt_spool_event_t *event = hpt_spool_event (self->spool, i);
        hpt_error_t error;
        hpt_msg_t *msg = hpt_msg_body_load (hpt_msg_id_parse (event->kind), event->body, &error);
        if (!msg)
            hpt_log_warning ("spooled %s seq %lld unreadable: %s", event->kind,
                             (long long)event->seq, error.message);
        else if (s_send (self, &msg) != 0)
            break; //  the socket is full or the master gone: the next ACK or tick retries
        self->sent_seq = event->seq;
    }
}

//  Spools an event, then sends it when the window allows (else it waits
//  in the spool for s_pump). Takes the message.
static void
s_event (hpt_agent_t *self, hpt_msg_t **msg_p)
{
    hpt_msg_t *msg = *msg_p;
    int64_t seq = hpt_spool_next_seq (self->spool);
    hpt_msg_set_seq (msg, seq);
    char *body = hpt_msg_body_dump (msg);
    if (!body) {
        hpt_log_error ("cannot encode %s", hpt_msg_id_name (hpt_msg_id (msg)));
        hpt_msg_destroy (msg_p);
        return;
    }
    if (hpt_spool_append (self->spool, hpt_msg_id_name (hpt_msg_id (msg)), body) < 0)
        hpt_log_warning ("spool write failed (event kept in memory)");
    if (self->metrics) hpt_agent_metrics_event (self->metrics, hpt_msg_id_name (hpt_msg_id (msg)));
    free (body);
    //  The common case sends the message in hand instead of decoding it
    //  back from the spool.
    if (self->sent_seq == seq - 1 && s_window_open (self) && s_send (self, msg_p) == 0)
        self->sent_seq = seq;
    hpt_msg_destroy (msg_p);
}

//  Sends every spooled event again, in order, within the window (after
//  WELCOME, and when the oldest stays unacknowledged for an agent timeout:
//  PROTOCOL.md 6.3).
static void
s_replay (hpt_agent_t *self)
{
    const hpt_spool_event_t *oldest = hpt_spool_event (self->spool, 0);
    self->oldest_seq = oldest ? oldest->seq : 0;
    self->oldest_sent = s_mono ();
    self->sent_seq = hpt_spool_acked (self->spool);
    s_pump (self);
}

static void
s_send_hello (hpt_agent_t *self)
{
    hpt_msg_t *msg = hpt_msg_new (HPT_MSG_HELLO);
    hpt_msg_set_protocol (msg, HPT_MSG_PROTOCOL);
    hpt_msg_set_name (msg, self->config.name);
    hpt_msg_set_version (msg, HPT_VERSION);
    hpt_msg_set_advertise (msg, self->config.advertise);
    hpt_msg_set_ports (msg, self->config.port_low, self->config.port_high);
    hpt_msg_set_resources (msg, self->resources);
    hpt_msg_set_acked_seq (msg, hpt_spool_acked (self->spool));
    hpt_msg_set_last_seq (msg, hpt_spool_next_seq (self->spool) - 1);
    for (s_task_t *task = zhashx_first (self->tasks); task; task = zhashx_next (self->tasks))
        hpt_msg_add_task (msg, task->task_id, task->pid, task->exited ? "EXITED" : "RUNNING");
    s_send (self, &msg);
}

//  ---------------------------------------------------------------------
//  Tasks

//  Sends points of a task as METRICS events, in batches that always fit.
static void
s_send_points (hpt_agent_t *self, s_task_t *task, const char *const *tags, const double *values,
               const int64_t *steps, const double *times, int count)
{
    for (int start = 0; start < count; start += HPT_MSG_POINTS_BATCH) {
        hpt_msg_t *msg = hpt_msg_new (HPT_MSG_METRICS);
        hpt_msg_set_task_id (msg, task->task_id);
        for (int i = start; i < count && i < start + HPT_MSG_POINTS_BATCH; i++)
            hpt_msg_add_point (msg, tags[i], values[i], steps[i], (int64_t)(times[i] * 1000.0));
        s_event (self, &msg);
    }
}

//  Polls the task's metric sources. The hypertune file is the trainer's
//  explicit report for tuning, so it wins: once it reported a tag,
//  event-file points of that tag are dropped (those sent before stay).
static void
s_flush_metrics (hpt_agent_t *self, s_task_t *task, bool at_exit)
{
    const hpt_hypertune_point_t *points = NULL;
    int count = task->hypertune ? hpt_hypertune_poll (task->hypertune, &points, at_exit) : 0;
    const hpt_tfevents_point_t *events = NULL;
    int event_count =
        task->events ? hpt_tfevents_poll (task->events, task->metric_tag, &events, at_exit) : 0;
    if (count < 0) count = 0;
    if (event_count < 0) event_count = 0;
    if (count + event_count == 0) return;
    const char **tags = hpt_calloc ((size_t)(count + event_count), sizeof (char *));
    double *values = hpt_calloc ((size_t)(count + event_count), sizeof (double));
    int64_t *steps = hpt_calloc ((size_t)(count + event_count), sizeof (int64_t));
    double *times = hpt_calloc ((size_t)(count + event_count), sizeof (double));
    int n = 0;
    for (int i = 0; i < count; i++, n++) {
        if (!zhashx_lookup (task->hypertune_tags, points[i].tag))
            zhashx_insert (task->hypertune_tags, points[i].tag, (void *)"1");
        tags[n] = points[i].tag;
        values[n] = points[i].value;
        steps[n] = points[i].step;
        times[n] = points[i].time;
    }
    for (int i = 0; i < event_count; i++) {
        if (zhashx_lookup (task->hypertune_tags, events[i].tag)) continue;
        tags[n] = events[i].tag;
        values[n] = events[i].value;
        steps[n] = events[i].step;
        times[n] = events[i].time;
        n++;
    }
    s_send_points (self, task, tags, values, steps, times, n);
    free (tags);
    free (values);
    free (steps);
    free (times);
}

//  Sends the stdout metric points gathered so far as one event.
static void
s_flush_line_points (hpt_agent_t *self, s_task_t *task)
{
    if (task->line_points) s_event (self, &task->line_points);
}

//  A chunk of a task's output, after on_line saw its complete lines: their
//  points go first, then the chunk as LOGS.
static void
s_on_output (void *arg, const char *lid, hpt_launcher_stream_t stream, const char *data,
             size_t size)
{
    hpt_agent_t *self = arg;
    s_task_t *task = zhashx_lookup (self->tasks, lid);
    if (!task) return;
    s_flush_line_points (self, task);
    for (size_t done = 0; done < size; done += HPT_MSG_LOG_CHUNK_MAX) {
        size_t n = size - done < HPT_MSG_LOG_CHUNK_MAX ? size - done : HPT_MSG_LOG_CHUNK_MAX;
        hpt_msg_t *msg = hpt_msg_new (HPT_MSG_LOGS);
        hpt_msg_set_task_id (msg, task->task_id);
        hpt_msg_set_stream (msg, stream == HPT_LAUNCHER_STDERR ? "stderr" : "stdout");
        hpt_msg_set_data (msg, data + done, n);
        s_event (self, &msg);
    }
}

//  The matching credit now (microseconds), grown for the time since it
//  last was.
static int64_t
s_match_credit (hpt_agent_t *self)
{
    int64_t now = zclock_usecs ();
    self->match_credit += (now - self->match_refilled) / S_MATCH_SHARE;
    if (self->match_credit > S_MATCH_BURST_US) self->match_credit = S_MATCH_BURST_US;
    self->match_refilled = now;
    return self->match_credit;
}

//  A line of a task's output: metrics when the job reads stdout.
static void
s_on_line (void *arg, const char *lid, hpt_launcher_stream_t stream, const char *line, size_t size)
{
    hpt_agent_t *self = arg;
    s_task_t *task = zhashx_lookup (self->tasks, lid);
    if (!task || !task->lines || stream != HPT_LAUNCHER_STDOUT) return;
    hpt_line_point_t points[64];
    int count = 0;
    if (!hpt_line_metrics_custom (task->lines))
        count = hpt_line_metrics_scan (task->lines, line, task->metric_tag, points, 64);
    else if (s_match_credit (self) > 0) {
        int64_t start = zclock_usecs ();
        count = hpt_line_metrics_scan (task->lines, line, task->metric_tag, points, 64);
        self->match_credit -= zclock_usecs () - start;
    } else if (task->lines_unmatched++ == 0)
        hpt_log_warning ("task %s: stdout lines not matched for metrics: its stdoutRegex "
                         "took more than the agent's time budget for matching",
                         task->task_id);
    if (count <= 0) return;
    if (task->line_points &&
        hpt_msg_point_count (task->line_points) + (size_t)count > HPT_MSG_POINTS_BATCH)
        s_flush_line_points (self, task);
    if (!task->line_points) {
        task->line_points = hpt_msg_new (HPT_MSG_METRICS);
        hpt_msg_set_task_id (task->line_points, task->task_id);
    }
    int64_t now = s_wall ();
    for (int i = 0; i < count; i++)
        hpt_msg_add_point (task->line_points, points[i].tag, points[i].value, points[i].step, now);
}

//  The last line the task wrote to stderr.log (at most 512 bytes), as a
//  fresh string; "" when there is none. For a container the runtime's
//  own message ("Error: ...") is the last thing it prints.
static char *
s_last_stderr_line (s_task_t *task)
{
    char *path = hpt_asprintf ("%s/stderr.log", task->dir);
    int fd = open (path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    free (path);
    char tail[513];
    ssize_t got = 0;
    if (fd >= 0) {
        off_t size = lseek (fd, 0, SEEK_END);
        off_t from = size > 512 ? size - 512 : 0;
        got = pread (fd, tail, 512, from);
        close (fd);
    }
    if (got < 0) got = 0;
    while (got > 0 && (tail[got - 1] == '\n' || tail[got - 1] == '\r'))
        got--;
    tail[got] = '\0';
    char *start = strrchr (tail, '\n');
    return hpt_strdup (start ? start + 1 : tail);
}

//  Reports how a task ended (its output and metrics were sent before).
static void
s_report_exit (hpt_agent_t *self, s_task_t *task, int exit_code, int signal, bool core_dumped)
{
    hpt_msg_t *msg = hpt_msg_new (HPT_MSG_TASK_EXITED);
    hpt_msg_set_task_id (msg, task->task_id);
    hpt_msg_set_exit_code (msg, exit_code);
    hpt_msg_set_signal (msg, signal);
    hpt_msg_set_core_dumped (msg, core_dumped);
    hpt_msg_set_end_time (msg, s_wall ());
    hpt_msg_set_reason (msg, "");
    if (exit_code == 127 || exit_code == 126)
        hpt_msg_set_reason (msg, exit_code == 127 ? "could not execute the trainer (not found; "
                                                    "see its stderr.log)"
                                                  : "could not execute the trainer (see its "
                                                    "stderr.log)");
    if (task->container && exit_code == 125) {
        //  The runtime's own failure (an image it cannot run, an option
        //  this host refuses): its message says what to fix.
        char *line = s_last_stderr_line (task);
        char *reason = hpt_asprintf ("the container runtime failed: %.900s", line);
        hpt_msg_set_reason (msg, reason);
        free (reason);
        free (line);
    }
    //  The container is gone: its environment file goes too.
    if (task->env_file) unlink (task->env_file);
    task->exit_seq = hpt_spool_next_seq (self->spool);
    task->exited = true;
    task->removing = false;
    s_event (self, &msg);
}

static void
s_on_exit (void *arg, const hpt_launcher_exit_t *exit)
{
    hpt_agent_t *self = arg;
    s_task_t *task = zhashx_lookup (self->tasks, exit->id);
    if (!task) return;
    if (task->lines_unmatched)
        hpt_log_warning ("task %s: %llu stdout lines were not matched for metrics (the "
                         "matching budget was spent)",
                         task->task_id, (unsigned long long)task->lines_unmatched);
    s_flush_line_points (self, task);
    s_flush_metrics (self, task, true);
    //  A run client that was killed (a stop's grace ran out), stopped, or
    //  failed may leave its container: remove it before the exit is told,
    //  so that no container outlives its task. A client that exited by
    //  itself removed it (--rm).
    if (task->container && (exit->signal != 0 || exit->exit_code == 125 || exit->stop_requested) &&
        hpt_container_remove (self->containers, task->container) == 0) {
        task->removing = true;
        task->exit_code = exit->exit_code;
        task->exit_signal = exit->signal;
        task->core_dumped = exit->core_dumped;
        return;
    }
    s_report_exit (self, task, exit->exit_code, exit->signal, exit->core_dumped);
}

//  Reports a task that could not be started at all.
static void
s_refuse (hpt_agent_t *self, const char *task_id, const char *reason)
{
    hpt_msg_t *msg = hpt_msg_new (HPT_MSG_TASK_EXITED);
    hpt_msg_set_task_id (msg, task_id);
    hpt_msg_set_exit_code (msg, 127);
    hpt_msg_set_signal (msg, 0);
    hpt_msg_set_reason (msg, reason);
    hpt_msg_set_end_time (msg, s_wall ());
    s_event (self, &msg);
}

//  The CPUs of a Linux cpulist ("0-3,8") that this agent may run on (a
//  host described by --topology may list CPUs this machine lacks). A fresh
//  cpulist, or NULL when none is usable.
static char *
s_usable_cpus (const char *list)
{
    cpu_set_t mine;
    if (!list || sched_getaffinity (0, sizeof (mine), &mine) != 0) return NULL;
    //  Every CPU number fits in 6 characters with its comma.
    char *out = hpt_calloc (1, (size_t)CPU_SETSIZE * 6 + 1);
    size_t used = 0;
    const char *at = list;
    while (*at) {
        char *end = NULL;
        long lo = strtol (at, &end, 10), hi = lo;
        if (end == at) break;
        if (*end == '-') hi = strtol (end + 1, &end, 10);
        for (long cpu = lo < 0 ? 0 : lo; cpu <= hi && cpu < CPU_SETSIZE; cpu++)
            if (CPU_ISSET ((int)cpu, &mine))
                used += (size_t)sprintf (out + used, "%s%ld", used ? "," : "", cpu);
        if (*end != ',') break;
        at = end + 1;
    }
    if (used == 0) {
        free (out);
        return NULL;
    }
    return out;
}

//  Gives the directory fd to user (when not the agent's own), mode 0700.
//  0, or -1 with *error naming path.
static int
s_own (int fd, hpt_user_t *user, const char *path, hpt_error_t *error)
{
    if ((user && fchown (fd, hpt_user_uid (user), hpt_user_gid (user)) != 0) ||
        fchmod (fd, 0700) != 0)
        return hpt_error_set (error, HPT_E_UNAVAILABLE, "cannot give %s to its task: %s", path,
                              strerror (errno));
    return 0;
}

//  Opens DIR/name as a directory (made if missing), never through a link;
//  whatever else an earlier run left under that name is removed first.
//  The descriptor, or -1 with *error.
static int
s_task_subdir (int dir, const char *path, const char *name, hpt_error_t *error)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (mkdirat (dir, name, 0700) != 0 && errno != EEXIST) break;
        int fd = openat (dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0 || (errno != ENOTDIR && errno != ELOOP)) return fd;
        if (unlinkat (dir, name, 0) != 0) break;
    }
    return hpt_error_set (error, HPT_E_UNAVAILABLE, "cannot make %s/%s: %s", path, name,
                          strerror (errno));
}

//  Makes the task's directory and its hypertune/ (mode 0700, the task
//  user's when it has one: the metric file is the trainer's to write) and
//  removes a metric file an earlier run left, so a relaunch of the same
//  id after an agent restart starts afresh. The directory may hold what
//  that run's trainer left: nothing in it is followed. 0, or -1 with
//  *error.
static int
s_task_dirs (s_task_t *task, hpt_user_t *user, hpt_error_t *error)
{
    if (mkdir (task->dir, 0700) != 0 && errno != EEXIST)
        return hpt_error_set (error, HPT_E_UNAVAILABLE, "cannot make %s: %s", task->dir,
                              strerror (errno));
    int dir = open (task->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dir < 0)
        return hpt_error_set (error, HPT_E_UNAVAILABLE, "cannot open %s: %s", task->dir,
                              strerror (errno));
    int metric = s_task_subdir (dir, task->dir, "hypertune", error);
    int rc = metric < 0 || s_own (dir, user, task->dir, error) ||
                     s_own (metric, user, task->metric_file, error)
                 ? -1
                 : 0;
    const char *metric_name = strrchr (task->metric_file, '/') + 1;
    if (rc == 0 && unlinkat (metric, metric_name, 0) != 0 && errno != ENOENT)
        rc = hpt_error_set (error, HPT_E_UNAVAILABLE, "cannot remove %s: %s", task->metric_file,
                            strerror (errno));
    if (metric >= 0) close (metric);
    close (dir);
    return rc;
}

//  The record of a task about to start, with its metric sources: the
//  hypertune file at DIR/hypertune/metric.json, TensorFlow event files
//  and the stdout pattern. A task run as another user than the agent
//  has only files of that user read as its metrics.
static s_task_t *
s_task_new (hpt_agent_t *self, hpt_msg_t *msg, hpt_user_t *user)
{
    const char *task_id = hpt_msg_task_id (msg);
    s_task_t *task = hpt_calloc (1, sizeof (s_task_t));
    task->task_id = hpt_strdup (task_id);
    task->lid = s_lid (task_id);
    task->dir = hpt_asprintf ("%s/tasks/%s", self->config.workdir, task->lid);
    //  A container's metric directory is mounted where cloudml-hypertune
    //  writes by default, under the name it writes there.
    task->metric_file = hpt_asprintf ("%s/hypertune/%s", task->dir,
                                      hpt_msg_image (msg) ? "output.metrics" : "metric.json");
    task->hypertune = hpt_hypertune_new (task->metric_file);
    if (user) hpt_hypertune_set_owner (task->hypertune, hpt_user_uid (user));
    task->metric_tag = hpt_strdup (hpt_msg_metric_tag (msg) ? hpt_msg_metric_tag (msg) : "");
    task->hypertune_tags = zhashx_new ();
    task->gpu_count = hpt_msg_gpu_count (msg);
    task->gpus = hpt_calloc (task->gpu_count + 1, sizeof (int64_t));
    for (size_t i = 0; i < task->gpu_count; i++)
        task->gpus[i] = hpt_msg_gpu (msg, i);
    //  TensorFlow event files: under the job dir (only its own files, not
    //  sibling trials'), the job dir's trial subdirectory as AI Platform's
    //  samples write it, and the task's working directory; files older
    //  than the task are an earlier run's.
    task->events = hpt_tfevents_new (NULL, 0);
    if (user) hpt_tfevents_set_owner (task->events, hpt_user_uid (user));
    const char *working = hpt_msg_working_dir (msg);
    char *working_path = working && *working ? hpt_asprintf ("%s/%s", self->config.workdir, working)
                                             : hpt_strdup (task->dir);
    hpt_tfevents_add_dir (task->events, working_path, 8);
    free (working_path);
    for (size_t i = 0; i < hpt_msg_arg_count (msg); i++)
        if (strncmp (hpt_msg_arg (msg, i), "--job-dir=", 10) == 0) {
            const char *job_dir = hpt_msg_arg (msg, i) + 10;
            hpt_tfevents_add_dir (task->events, job_dir, 0);
            char *trial_dir = hpt_asprintf ("%s/%s", job_dir,
                                            hpt_msg_trial_id (msg) ? hpt_msg_trial_id (msg) : "");
            hpt_tfevents_add_dir (task->events, trial_dir, 8);
            free (trial_dir);
        }
    hpt_tfevents_set_since (task->events, (double)s_wall () / 1000.0 - 1.0);
    const char *regex = hpt_msg_stdout_regex (msg);
    if (regex && *regex) {
        hpt_error_t why;
        task->lines = hpt_line_metrics_new (regex, &why);
        if (!task->lines) hpt_log_warning ("task %s: stdout metrics off: %s", task_id, why.message);
    }
    return task;
}

//  "NAME=i,j,k" of the LAUNCH's gpus (or tpus), after checking that each
//  is a device of that kind this agent offers. NULL with *error otherwise.
static char *
s_device_list (hpt_agent_t *self, hpt_msg_t *msg, bool tpus, const char *name, hpt_error_t *error)
{
    const hpt_resources_t *r = hpt_topology_resources (self->config.topology);
    size_t count = tpus ? hpt_msg_tpu_count (msg) : hpt_msg_gpu_count (msg);
    char *list = hpt_asprintf ("%s=", name);
    for (size_t i = 0; i < count; i++) {
        int64_t index = tpus ? hpt_msg_tpu (msg, i) : hpt_msg_gpu (msg, i);
        bool offered = false;
        for (size_t k = 0; k < r->accelerator_count && !offered; k++)
            offered = r->accelerators[k].is_tpu == tpus && r->accelerators[k].index == index;
        if (!offered) {
            free (list);
            hpt_error_set (error, HPT_E_INVALID, "%s %lld is not on this agent",
                           tpus ? "TPU chip" : "GPU", (long long)index);
            return NULL;
        }
        char key[24];
        snprintf (key, sizeof (key), "%lld", (long long)index);
        const char *failed =
            !tpus && self->failed_gpus ? zhashx_lookup (self->failed_gpus, key) : NULL;
        if (failed) {
            free (list);
            hpt_error_set (error, HPT_E_UNAVAILABLE, "GPU %lld failed: %s", (long long)index,
                           failed);
            return NULL;
        }
        char *longer = hpt_asprintf ("%s%s%lld", list, i ? "," : "", (long long)index);
        free (list);
        list = longer;
    }
    return list;
}

//  The MIG instance a LAUNCH's i-th migs entry names (its GPU in *gpu), or
//  NULL when this host has no such instance.
static const hpt_nvml_mig_t *
s_launch_mig (hpt_agent_t *self, hpt_msg_t *msg, size_t i, unsigned *gpu)
{
    int64_t index = hpt_msg_mig (msg, i);
    return index >= 0 && index <= UINT32_MAX
               ? hpt_topology_mig (self->config.topology, (unsigned)index, gpu)
               : NULL;
}

//  "CUDA_VISIBLE_DEVICES=MIG-...,..." of the LAUNCH's MIG instances (CUDA
//  takes MIG instances by UUID only), or NULL with *error when one is not
//  an instance of this agent's.
static char *
s_mig_list (hpt_agent_t *self, hpt_msg_t *msg, hpt_error_t *error)
{
    char *list = hpt_strdup ("CUDA_VISIBLE_DEVICES=");
    for (size_t i = 0; i < hpt_msg_mig_count (msg); i++) {
        unsigned gpu = 0;
        const hpt_nvml_mig_t *mig = s_launch_mig (self, msg, i, &gpu);
        const char *uuid = mig ? mig->uuid : NULL;
        if (!uuid || !*uuid) {
            free (list);
            hpt_error_set (error, HPT_E_INVALID, "MIG instance %lld is not on this agent",
                           (long long)index);
            return NULL;
        }
        char *longer = hpt_asprintf ("%s%s%s", list, i ? "," : "", uuid);
        free (list);
        list = longer;
    }
    return list;
}

//  The visibility variables of the accelerators the LAUNCH gives the task:
//  it is the agent that knows its devices. CUDA_VISIBLE_DEVICES is set
//  even when empty, so that a task without GPUs does not grab the host's
//  by default; CUDA_DEVICE_ORDER makes CUDA number GPUs as hpt does (PCI
//  bus order); TPU_VISIBLE_CHIPS is libtpu's. Appended to env at *n (room
//  for three). -1 with *error when the LAUNCH names a device not here.
static int
s_device_env (hpt_agent_t *self, hpt_msg_t *msg, char **env, size_t *n, hpt_error_t *error)
{
    char *gpus = hpt_msg_mig_count (msg)
                     ? s_mig_list (self, msg, error)
                     : s_device_list (self, msg, false, "CUDA_VISIBLE_DEVICES", error);
    char *tpus = gpus ? s_device_list (self, msg, true, "TPU_VISIBLE_CHIPS", error) : NULL;
    if (!tpus) {
        free (gpus);
        return -1;
    }
    env[(*n)++] = gpus;
    if (hpt_msg_gpu_count (msg) > 0) env[(*n)++] = hpt_strdup ("CUDA_DEVICE_ORDER=PCI_BUS_ID");
    if (hpt_msg_tpu_count (msg) > 0)
        env[(*n)++] = tpus;
    else
        free (tpus);
    return 0;
}

static void
s_env_free (char ***env_p)
{
    for (char **entry = *env_p; entry && *entry; entry++)
        free (*entry);
    free (*env_p);
    *env_p = NULL;
}

//  The task's additions to the agent's environment: the LAUNCH's env,
//  then what only the agent knows (later entries win). pythonpath (may be
//  NULL) goes in front of the task's PYTHONPATH. A NULL-terminated array
//  of fresh strings (free with s_env_free), or NULL with *error when the
//  LAUNCH names an accelerator this agent does not have.
static char **
s_task_env (hpt_agent_t *self, hpt_msg_t *msg, s_task_t *task, const char *pythonpath,
            hpt_user_t *user, hpt_error_t *error)
{
    json_t *env_json = hpt_msg_env (msg);
    char **env = hpt_calloc (json_object_size (env_json) + 11, sizeof (char *));
    size_t n = 0;
    const char *key;
    json_t *value;
    json_object_foreach (env_json, key, value) {
        env[n++] = hpt_asprintf ("%s=%s", key, json_string_value (value));
    }
    if (pythonpath && *pythonpath) {
        const char *theirs = hpt_msg_env_var (msg, "PYTHONPATH");
        if (!theirs) theirs = getenv ("PYTHONPATH");
        env[n++] = theirs && *theirs ? hpt_asprintf ("PYTHONPATH=%s:%s", pythonpath, theirs)
                                     : hpt_asprintf ("PYTHONPATH=%s", pythonpath);
        //  No byte code is written into the cached packages (the cache is
        //  verified against its digest before every use). Not a cache
        //  prefix in the task's directory: Python then looks for every
        //  module's byte code there, and compiles the standard library and
        //  site packages again at each start (importing scikit-learn took
        //  3.6 s instead of 0.7 s).
        if (!hpt_msg_env_var (msg, "PYTHONPYCACHEPREFIX") &&
            !hpt_msg_env_var (msg, "PYTHONDONTWRITEBYTECODE"))
            env[n++] = hpt_strdup ("PYTHONDONTWRITEBYTECODE=1");
    }
    if (user) {
        env[n++] = hpt_asprintf ("HOME=%s", hpt_user_home (user));
        env[n++] = hpt_asprintf ("USER=%s", hpt_user_name (user));
        env[n++] = hpt_asprintf ("LOGNAME=%s", hpt_user_name (user));
    }
    env[n++] = hpt_asprintf ("CLOUD_ML_HP_METRIC_FILE=%s", task->metric_file);
    env[n++] = hpt_asprintf ("HPT_TASK_DIR=%s", task->dir);
    if (s_device_env (self, msg, env, &n, error) != 0) s_env_free (&env);
    return env;
}

//  The cpulist of the LAUNCH's cpuSet that this agent can bind to, or
//  NULL (run unbound) when none is given or none is usable.
static char *
s_task_cpus (hpt_agent_t *self, hpt_msg_t *msg)
{
    size_t cores = hpt_msg_core_count (msg);
    if (cores == 0) return NULL;
    unsigned *list = hpt_calloc (cores, sizeof (unsigned));
    for (size_t i = 0; i < cores; i++)
        list[i] = (unsigned)hpt_msg_core (msg, i);
    char *cpus = hpt_topology_cpu_list (self->config.topology, list, cores);
    free (list);
    char *usable = s_usable_cpus (cpus);
    if (cpus && !usable)
        hpt_log_warning ("task %s: none of CPUs %s is available here; running it unbound",
                         hpt_msg_task_id (msg), cpus);
    free (cpus);
    return usable;
}

//  True when the agent may run tasks as the user called name: its
//  --run-as user or one of --allow-run-as.
static bool
s_user_allowed (hpt_agent_t *self, const char *name)
{
    if (self->config.run_as && strcmp (self->config.run_as, name) == 0) return true;
    for (char **allowed = self->allowed; allowed && *allowed; allowed++)
        if (strcmp (*allowed, name) == 0) return true;
    return false;
}

//  The user a LAUNCH's task runs as: its runAs when this agent allows that
//  user, else the agent's --run-as; *user NULL when neither (the agent's
//  own user). 0, or -1 with *error saying why the task cannot start.
static int
s_task_user (hpt_agent_t *self, hpt_msg_t *msg, hpt_user_t **user, hpt_error_t *error)
{
    *user = NULL;
    const char *name = hpt_msg_run_as (msg);
    if (name && !s_user_allowed (self, name))
        return hpt_error_set (error, HPT_E_FAILED_PRECONDITION,
                              "runAs user '%s' is not allowed on this agent (hptagent "
                              "--allow-run-as %s would allow it)",
                              name, name);
    if (!name) name = self->config.run_as;
    if (!name) return 0;
    *user = hpt_user_lookup (name, error);
    return *user ? 0 : -1;
}

//  Refuses the task of a LAUNCH: could not start it, because of error.
//  A launch ended (started or refused): its latency for /metrics.
static void
s_launch_done (hpt_agent_t *self, const char *task_id, bool ok)
{
    int64_t *since = zhashx_lookup (self->launched, task_id);
    if (since && self->metrics)
        hpt_agent_metrics_launch (self->metrics, (double)(s_mono () - *since) / 1000.0, ok);
    zhashx_delete (self->launched, task_id);
}

static void
s_refuse_start (hpt_agent_t *self, const char *task_id, const hpt_error_t *error)
{
    s_launch_done (self, task_id, false);
    char *reason = hpt_asprintf ("could not start the task: %s", error->message);
    s_refuse (self, task_id, reason);
    free (reason);
}

//  Prepares the task of a LAUNCH: its user, record, directories and
//  environment. NULL with *error when it cannot start.
static s_task_t *
s_task_prepare (hpt_agent_t *self, hpt_msg_t *msg, const char *pythonpath, hpt_user_t **user,
                char ***env, hpt_error_t *error)
{
    if (s_task_user (self, msg, user, error) != 0) return NULL;
    //  The agent's own user needs no change, nor an owner for its files.
    hpt_user_t *other = *user && !hpt_user_is_self (*user) ? *user : NULL;
    s_task_t *task = s_task_new (self, msg, other);
    *env = s_task_dirs (task, other, error) == 0
               ? s_task_env (self, msg, task, pythonpath, *user, error)
               : NULL;
    if (*env) return task;
    void *item = task;
    s_task_free (&item);
    hpt_user_destroy (user);
    return NULL;
}

//  Writes the container's environment to its file (the agent's, 0600):
//  env's entries, with the container's own view where it differs from a
//  process's: no HOME (the host's home is not in the container), the
//  metric file where the mount puts it, and the GPUs as the container
//  numbers them (it sees only its own, from 0, in PCI bus order). 0, or
//  -1 with *error (a value with a newline cannot be written).
static int
s_write_env_file (s_task_t *task, hpt_msg_t *msg, char **env, hpt_error_t *error)
{
    unlink (task->env_file);
    int fd = open (task->env_file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    FILE *file = fd >= 0 ? fdopen (fd, "w") : NULL;
    if (!file) {
        if (fd >= 0) close (fd);
        return hpt_error_set (error, HPT_E_UNAVAILABLE, "cannot write %s: %s", task->env_file,
                              strerror (errno));
    }
    int rc = 0;
    for (char **entry = env; *entry && rc == 0; entry++) {
        size_t name = strcspn (*entry, "=");
        if (strchr (*entry, '\n'))
            rc = hpt_error_set (error, HPT_E_INVALID,
                                "the value of %.*s holds a newline, which a container's "
                                "environment cannot be given",
                                (int)(name > 256 ? 256 : name), *entry);
        else if (strncmp (*entry, "HOME=", 5) && strncmp (*entry, "CLOUD_ML_HP_METRIC_FILE=", 24) &&
                 (strncmp (*entry, "CUDA_VISIBLE_DEVICES=", 21) || hpt_msg_mig_count (msg)))
            fprintf (file, "%s\n", *entry); //  MIG UUIDs are the same inside
    }
    fprintf (file, "CLOUD_ML_HP_METRIC_FILE=%s\n", HPT_CONTAINER_METRIC_FILE);
    if (!hpt_msg_mig_count (msg)) {
        fprintf (file, "CUDA_VISIBLE_DEVICES=");
        for (size_t i = 0; i < hpt_msg_gpu_count (msg); i++)
            fprintf (file, "%s%zu", i ? "," : "", i);
        fprintf (file, "\n");
    }
    if (fclose (file) != 0 && rc == 0)
        rc = hpt_error_set (error, HPT_E_UNAVAILABLE, "cannot write %s: %s", task->env_file,
                            strerror (errno));
    return rc;
}

//  Adds the bind mount of host directory path at target (NULL: the same
//  path) to mounts at *n. The runtime's --mount takes ',' as a separator,
//  so a path holding one cannot be given: -1 with *error.
static int
s_mount (char **mounts, size_t *n, const char *path, const char *target, hpt_error_t *error)
{
    if (strchr (path, ',') || (target && strchr (target, ',')))
        return hpt_error_set (error, HPT_E_INVALID,
                              "'%.200s' holds a ',', which a container mount cannot name", path);
    mounts[(*n)++] = hpt_strdup (path);
    mounts[(*n)++] = hpt_strdup (target ? target : path);
    return 0;
}

//  The host directories a container task sees: its task directory (at its
//  own path, as HPT_TASK_DIR says), its metric directory where
//  cloudml-hypertune writes by default, its workingDir (resolved beneath
//  the workdir, else *error) and an absolute --job-dir (made when
//  missing, and given to the task's user then), each at its own path.
//  Appended to mounts (room for eight) from *n; the container's working
//  directory in *cwd (fresh). 0, or -1 with *error.
static int
s_container_mounts (hpt_agent_t *self, hpt_msg_t *msg, s_task_t *task, hpt_user_t *user,
                    char **mounts, size_t *n, char **cwd, hpt_error_t *error)
{
    char *metric_dir = hpt_asprintf ("%s/hypertune", task->dir);
    int rc = s_mount (mounts, n, task->dir, NULL, error) ||
                     s_mount (mounts, n, metric_dir, HPT_CONTAINER_METRIC_DIR, error)
                 ? -1
                 : 0;
    free (metric_dir);
    const char *working = hpt_msg_working_dir (msg);
    *cwd = hpt_strdup (task->dir);
    if (rc == 0 && working && *working) {
        int root = open (self->config.workdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int fd = root >= 0 ? hpt_fs_open_beneath (root, working, O_RDONLY | O_DIRECTORY) : -1;
        if (root >= 0) close (root);
        if (fd < 0)
            return hpt_error_set (error, HPT_E_FAILED_PRECONDITION,
                                  "working directory '%.200s' is no directory beneath %s", working,
                                  self->config.workdir);
        close (fd);
        free (*cwd);
        *cwd = hpt_asprintf ("%s/%s", self->config.workdir, working);
        rc = s_mount (mounts, n, *cwd, NULL, error);
    }
    for (size_t i = 0; rc == 0 && i < hpt_msg_arg_count (msg); i++) {
        const char *arg = hpt_msg_arg (msg, i);
        if (strncmp (arg, "--job-dir=/", 11) != 0) continue;
        const char *dir = arg + 10;
        struct stat st;
        bool made = stat (dir, &st) != 0;
        hpt_error_t why;
        if (made && hpt_mkdirs (dir, 0755, &why) == 0 && user && !hpt_user_is_self (user) &&
            chown (dir, hpt_user_uid (user), hpt_user_gid (user)) != 0)
            hpt_log_warning ("cannot give the job dir %s to its task: %s", dir, strerror (errno));
        rc = s_mount (mounts, n, dir, NULL, error);
        break;
    }
    return rc;
}

//  The CDI device names of the LAUNCH's MIG instances (NULL-terminated,
//  fresh; empty without any), or NULL with *error when a CDI spec names
//  one of them neither way (hpt_container_mig_device).
static char **
s_mig_devices (hpt_agent_t *self, hpt_msg_t *msg, hpt_error_t *error)
{
    size_t count = hpt_msg_mig_count (msg);
    char **devices = hpt_calloc (count + 1, sizeof (char *));
    for (size_t i = 0; i < count; i++) {
        unsigned gpu = 0;
        const hpt_nvml_mig_t *mig = s_launch_mig (self, msg, i, &gpu);
        devices[i] =
            mig ? hpt_container_mig_device (self->containers, mig->uuid, gpu, mig->slot, error)
                : NULL;
        if (!mig)
            hpt_error_set (error, HPT_E_INVALID, "MIG instance %lld is not on this agent",
                           (long long)index);
        if (!devices[i]) {
            s_env_free (&devices);
            return NULL;
        }
    }
    return devices;
}

//  Starts a container task: its environment file, then the runtime's
//  run client as the launcher's process. The pid, or -1 with *error.
static pid_t
s_start_container (hpt_agent_t *self, hpt_msg_t *msg, s_task_t *task, hpt_user_t *user, char **env,
                   hpt_error_t *error)
{
    char **devices = s_mig_devices (self, msg, error);
    if (!devices) return -1;
    task->container = hpt_container_name (self->containers, task->lid);
    task->env_file = hpt_asprintf ("%s/%s.env", self->containers_dir, task->container);
    char *mounts[9] = {NULL};
    size_t mount_count = 0;
    char *cwd = NULL;
    if (s_write_env_file (task, msg, env, error) != 0 ||
        s_container_mounts (self, msg, task, user, mounts, &mount_count, &cwd, error) != 0) {
        for (size_t i = 0; i < mount_count; i++)
            free (mounts[i]);
        free (cwd);
        s_env_free (&devices);
        return -1;
    }
    size_t gpu_count = hpt_msg_gpu_count (msg);
    int64_t *gpus = hpt_calloc (gpu_count + 1, sizeof (int64_t));
    for (size_t i = 0; i < gpu_count; i++)
        gpus[i] = hpt_msg_gpu (msg, i);
    char *labels[4] = {hpt_asprintf ("hpt.job=%s", hpt_msg_env_var (msg, "HPT_JOB_ID")
                                                       ? hpt_msg_env_var (msg, "HPT_JOB_ID")
                                                       : ""),
                       hpt_asprintf ("hpt.trial=%s", hpt_msg_trial_id (msg)),
                       hpt_asprintf ("hpt.task=%s", task->task_id), NULL};
    char *as =
        user && !hpt_user_is_self (user)
            ? hpt_asprintf ("%u:%u", (unsigned)hpt_user_uid (user), (unsigned)hpt_user_gid (user))
            : NULL;
    char *cpuset = s_task_cpus (self, msg);
    size_t command_count = hpt_msg_container_command_count (msg);
    size_t argc = hpt_msg_arg_count (msg);
    const char **command = hpt_calloc (command_count + 1, sizeof (char *));
    const char **args = hpt_calloc (argc + 1, sizeof (char *));
    for (size_t i = 0; i < command_count; i++)
        command[i] = hpt_msg_container_command (msg, i);
    for (size_t i = 0; i < argc; i++)
        args[i] = hpt_msg_arg (msg, i);
    hpt_container_run_t run = {
        .name = task->container,
        .image = hpt_msg_image (msg),
        .command = command,
        .command_count = command_count,
        .args = args,
        .arg_count = argc,
        .env_file = task->env_file,
        .mounts = (const char *const *)mounts,
        .workdir = cwd,
        .user = as,
        .labels = (const char *const *)labels,
        .cpuset = self->limits ? cpuset : NULL,
        .cpus = self->limits ? hpt_msg_cpus (msg) : 0,
        .memory_mb = self->limits ? hpt_msg_memory_mb (msg) : 0,
        .gpus = gpus,
        .gpu_count = gpu_count,
        .devices = (const char *const *)devices,
        .tpu = hpt_msg_tpu_count (msg) > 0,
    };
    char **argv = hpt_container_run_argv (self->containers, &run);
    //  The client runs as the agent (the runtime needs it); the container
    //  runs as the task's user (--user).
    hpt_launch_t launch = {
        .id = task->lid,
        .argv = (const char *const *)argv,
        .workdir = task->dir,
        .log_dir = task->dir,
    };
    pid_t pid = hpt_launcher_start (self->launcher, &launch, s_mono (), error);
    hpt_container_argv_free (&argv);
    for (size_t i = 0; i < mount_count; i++)
        free (mounts[i]);
    for (size_t i = 0; i < 3; i++)
        free (labels[i]);
    free (cwd);
    free (gpus);
    s_env_free (&devices);
    free (as);
    free (cpuset);
    free (command);
    free (args);
    return pid;
}

//  Starts a process task (the launcher runs argv as the task's user).
static pid_t
s_start_process (hpt_agent_t *self, hpt_msg_t *msg, s_task_t *task, hpt_user_t *user, char **env,
                 hpt_error_t *error)
{
    size_t argc = hpt_msg_arg_count (msg);
    if (argc == 0) return hpt_error_set (error, HPT_E_INVALID, "empty command line");
    const char **argv = hpt_calloc (argc + 1, sizeof (char *));
    for (size_t i = 0; i < argc; i++)
        argv[i] = hpt_msg_arg (msg, i);
    char *cpus = s_task_cpus (self, msg);
    const char *working_dir = hpt_msg_working_dir (msg);
    hpt_launch_user_t as = {0};
    if (user && !hpt_user_is_self (user)) {
        as.name = hpt_user_name (user);
        as.uid = hpt_user_uid (user);
        as.gid = hpt_user_gid (user);
        as.groups = hpt_user_groups (user, &as.group_count);
    }
    bool elsewhere = working_dir && *working_dir;
    hpt_launch_t launch = {
        .id = task->lid,
        .argv = argv,
        .env = (const char *const *)env,
        .workdir = elsewhere ? working_dir : task->dir,
        .log_dir = task->dir,
        .cpus = cpus,
        .user = as.name ? &as : NULL,
        .beneath = elsewhere ? self->config.workdir : NULL,
    };
    pid_t pid = hpt_launcher_start (self->launcher, &launch, s_mono (), error);
    free (cpus);
    free (argv);
    return pid;
}

//  Starts the task of a LAUNCH; pythonpath (may be NULL) goes in front of
//  the task's PYTHONPATH (the fetched packages). A workingDir is resolved
//  beneath the agent's workdir by the launcher, which refuses one that
//  does not exist there or leaves it.
static void
s_start_task (hpt_agent_t *self, hpt_msg_t *msg, const char *pythonpath)
{
    const char *task_id = hpt_msg_task_id (msg);
    hpt_error_t error;
    hpt_user_t *user = NULL;
    char **env = NULL;
    s_task_t *task = s_task_prepare (self, msg, pythonpath, &user, &env, &error);
    if (!task) {
        s_refuse_start (self, task_id, &error);
        return;
    }
    zhashx_insert (self->tasks, task->lid, task);
    pid_t pid = hpt_msg_image (msg) ? s_start_container (self, msg, task, user, env, &error)
                                    : s_start_process (self, msg, task, user, env, &error);
    if (pid < 0) {
        zhashx_delete (self->tasks, task->lid);
        s_refuse_start (self, task_id, &error);
    } else {
        task->pid = pid;
        hpt_msg_t *started = hpt_msg_new (HPT_MSG_TASK_STARTED);
        hpt_msg_set_task_id (started, task_id);
        hpt_msg_set_pid (started, pid);
        hpt_msg_set_start_time (started, s_wall ());
        s_event (self, &started);
        s_launch_done (self, task_id, true);
    }
    s_env_free (&env);
    hpt_user_destroy (&user);
}

//  A line about a task that is the agent's, not the trainer's (the
//  image being pulled), in the task's stderr as the master logs it.
static void
s_note (hpt_agent_t *self, const char *task_id, const char *text)
{
    hpt_msg_t *msg = hpt_msg_new (HPT_MSG_LOGS);
    hpt_msg_set_task_id (msg, task_id);
    hpt_msg_set_stream (msg, "stderr");
    hpt_msg_set_data (msg, text, strlen (text));
    s_event (self, &msg);
}

//  A LAUNCH with an image: refused when this agent cannot give it what it
//  needs; started at once when the image is here; else it waits for the
//  image, which is pulled once however many tasks want it.
static void
s_launch_container (hpt_agent_t *self, hpt_msg_t *msg)
{
    const char *task_id = hpt_msg_task_id (msg);
    const char *image = hpt_msg_image (msg);
    hpt_error_t error;
    const char *problem = hpt_container_problem (self->containers);
    size_t gpu_count = hpt_msg_gpu_count (msg);
    int64_t *gpus = hpt_calloc (gpu_count + 1, sizeof (int64_t));
    for (size_t i = 0; i < gpu_count; i++)
        gpus[i] = hpt_msg_gpu (msg, i);
    int rc = problem ? hpt_error_set (&error, HPT_E_FAILED_PRECONDITION,
                                      "this agent cannot run containers: %s", problem)
                     : hpt_container_check_gpus (self->containers, gpus, gpu_count, &error);
    free (gpus);
    if (rc != 0) {
        s_refuse_start (self, task_id, &error);
        return;
    }
    if (zhashx_lookup (self->images, image)) {
        s_start_task (self, msg, NULL);
        return;
    }
    zhashx_insert (self->fetching, task_id, hpt_msg_dup (msg));
    char *note = hpt_asprintf ("hpt: pulling image %s\n", image);
    s_note (self, task_id, note);
    free (note);
    zlistx_t *waiting = zhashx_lookup (self->pulls, image);
    if (!waiting) {
        waiting = zlistx_new ();
        zlistx_set_destructor (waiting, (zlistx_destructor_fn *)zstr_free);
        zhashx_insert (self->pulls, image, waiting);
        hpt_log_info ("pulling image %s", image);
        hpt_container_pull (self->containers, image);
    }
    zlistx_add_end (waiting, hpt_strdup (task_id));
}

//  An image was pulled (or found), or could not be: its waiting tasks
//  start, or fail with the runtime's message. A task stopped meanwhile
//  is no longer waiting.
static void
s_on_pulled (hpt_agent_t *self, const char *image, bool ok, const char *message)
{
    zlistx_t *waiting = zhashx_lookup (self->pulls, image);
    if (ok)
        zhashx_insert (self->images, image, (void *)"present");
    else
        hpt_log_warning ("could not pull image %s: %s", image, message);
    for (char *task_id = waiting ? zlistx_first (waiting) : NULL; task_id;
         task_id = zlistx_next (waiting)) {
        hpt_msg_t *msg = zhashx_lookup (self->fetching, task_id);
        if (!msg) continue;
        if (ok)
            s_start_task (self, msg, NULL);
        else {
            char *reason = hpt_asprintf ("could not pull image %s: %.800s", image, message);
            s_refuse (self, task_id, reason);
            free (reason);
        }
        zhashx_delete (self->fetching, task_id);
    }
    zhashx_delete (self->pulls, image);
}

//  A container was removed after its task exited: now the exit is told.
static void
s_on_removed (hpt_agent_t *self, const char *name, bool ok, const char *message)
{
    if (!ok) hpt_log_warning ("could not remove container %s: %s", name, message);
    for (s_task_t *task = zhashx_first (self->tasks); task; task = zhashx_next (self->tasks))
        if (task->removing && task->container && strcmp (task->container, name) == 0) {
            s_report_exit (self, task, task->exit_code, task->exit_signal, task->core_dumped);
            break;
        }
}

static int
s_on_container (zloop_t *loop, zsock_t *reader, void *arg)
{
    hpt_agent_t *self = arg;
    hpt_container_done_t kind;
    char *what = NULL, *message = NULL;
    bool ok = false;
    if (hpt_container_recv (reader, &kind, &what, &ok, &message) != 0) return 0;
    if (kind == HPT_CONTAINER_PULLED)
        s_on_pulled (self, what, ok, message);
    else
        s_on_removed (self, what, ok, message);
    free (what);
    free (message);
    return 0;
}

static void
s_on_launch (hpt_agent_t *self, hpt_msg_t *msg)
{
    const char *task_id = hpt_msg_task_id (msg);
    //  Already started (or fetching): a LAUNCH repeated after a master
    //  restart must not start the task twice.
    if (s_task_by_id (self, task_id) || zhashx_lookup (self->fetching, task_id)) return;
    if (!zhashx_lookup (self->launched, task_id)) {
        int64_t *now = hpt_malloc (sizeof (int64_t));
        *now = s_mono ();
        zhashx_insert (self->launched, task_id, now);
    }
    //  A user it may not run as fails the task before any download.
    hpt_error_t error;
    hpt_user_t *user = NULL;
    if (s_task_user (self, msg, &user, &error) != 0) {
        s_refuse_start (self, task_id, &error);
        return;
    }
    hpt_user_destroy (&user);
    if (hpt_msg_image (msg)) {
        s_launch_container (self, msg);
        return;
    }
    size_t count = hpt_msg_package_uri_count (msg);
    if (count == 0) {
        s_start_task (self, msg, NULL);
        return;
    }
    //  pythonModule with packageUris: fetch first (never in this thread),
    //  launch when the packages are there.
    const char **uris = hpt_calloc (count, sizeof (char *));
    for (size_t i = 0; i < count; i++)
        uris[i] = hpt_msg_package_uri (msg, i);
    if (hpt_fetch_request (self->fetch, task_id, uris, count) == 0)
        zhashx_insert (self->fetching, task_id, hpt_msg_dup (msg));
    else
        s_refuse (self, task_id, "invalid packageUris");
    free (uris);
}

static int
s_on_fetched (zloop_t *loop, zsock_t *reader, void *arg)
{
    hpt_agent_t *self = arg;
    char *task_id = NULL, *pythonpath = NULL;
    hpt_error_t error;
    bool ok = false;
    if (hpt_fetch_result_recv (self->fetch, &task_id, &ok, &pythonpath, &error) != 0) return 0;
    hpt_msg_t *msg = task_id ? zhashx_lookup (self->fetching, task_id) : NULL;
    if (msg) {
        if (ok)
            s_start_task (self, msg, pythonpath);
        else {
            char *reason = hpt_asprintf ("could not fetch the packages: %s", error.message);
            s_refuse (self, task_id, reason);
            free (reason);
        }
        zhashx_delete (self->fetching, task_id);
    }
    free (task_id);
    free (pythonpath);
    return 0;
}

//  Reports the end of a task that a STOP found not running: exit -1, no
//  signal, with why.
static void
s_stopped_unstarted (hpt_agent_t *self, const char *task_id, const char *reason)
{
    hpt_msg_t *exited = hpt_msg_new (HPT_MSG_TASK_EXITED);
    hpt_msg_set_task_id (exited, task_id);
    hpt_msg_set_exit_code (exited, -1);
    hpt_msg_set_signal (exited, 0);
    hpt_msg_set_reason (exited, reason);
    hpt_msg_set_end_time (exited, s_wall ());
    s_event (self, &exited);
}

static void
s_on_stop (hpt_agent_t *self, hpt_msg_t *msg)
{
    const char *task_id = hpt_msg_task_id (msg);
    hpt_msg_t *waiting = zhashx_lookup (self->fetching, task_id);
    if (waiting) {
        //  Stopped while its packages or image were on their way: never
        //  started (a pull goes on for the other tasks that want it).
        s_stopped_unstarted (self, task_id,
                             hpt_msg_image (waiting) ? "stopped while its image was being pulled"
                                                     : "stopped before its packages were fetched");
        zhashx_delete (self->fetching, task_id);
        return;
    }
    s_task_t *task = s_task_by_id (self, task_id);
    if (task && !task->exited) {
        //  Why a trainer got SIGTERM is the first question in its logs.
        hpt_log_info ("stopping task %s (%s), SIGKILL after %lld ms", task_id, hpt_msg_reason (msg),
                      (long long)hpt_msg_grace_ms (msg));
        hpt_launcher_stop (self->launcher, task->lid, hpt_msg_grace_ms (msg), s_mono ());
        return;
    }
    //  Never ran here (its LAUNCH was lost): say it is gone, so the master
    //  does not wait for an exit that cannot come.
    if (!task) s_stopped_unstarted (self, task_id, "not running on this agent");
}

//  Forgets exited tasks whose exit the master has stored.
static void
s_forget_acked (hpt_agent_t *self)
{
    int64_t acked = hpt_spool_acked (self->spool);
    zlistx_t *gone = zlistx_new ();
    for (s_task_t *task = zhashx_first (self->tasks); task; task = zhashx_next (self->tasks))
        if (task->exited && task->exit_seq <= acked) zlistx_add_end (gone, task->lid);
    for (char *lid = zlistx_first (gone); lid; lid = zlistx_next (gone))
        zhashx_delete (self->tasks, lid);
    zlistx_destroy (&gone);
}

//  ---------------------------------------------------------------------
//  The loop

//  The master says it stored every event up to seq (ACK, HEARTBEAT or
//  WELCOME, named by what). A mark above the last seq this agent assigned
//  is ignored and logged (at most every S_BOGUS_LOG_MS): no master stored
//  events never sent, and taking it would make the master drop every later
//  event as a replay (PROTOCOL.md 6.3; hpt_spool.h).
static void
s_acked (hpt_agent_t *self, int64_t seq, const char *what)
{
    if (hpt_spool_ack (self->spool, seq) != 0) {
        int64_t now = s_mono ();
        if (self->bogus_logged == 0 || now - self->bogus_logged >= S_BOGUS_LOG_MS) {
            hpt_log_warning ("ignored an acknowledgement of seq %lld (%s): this agent's "
                             "last event is seq %lld",
                             (long long)seq, what, (long long)hpt_spool_next_seq (self->spool) - 1);
            self->bogus_logged = now;
        }
        return;
    }
    s_forget_acked (self);
}

static void
s_on_welcome (hpt_agent_t *self, hpt_msg_t *msg)
{
    self->registered = true;
    self->hello_backoff = S_HELLO_MIN_MS;
    self->wait_start = 0;
    self->probed = false;
    free (self->probe_advice);
    self->probe_advice = NULL;
    if (hpt_msg_heartbeat_ms (msg) > 0) self->heartbeat_ms = hpt_msg_heartbeat_ms (msg);
    if (hpt_msg_agent_timeout_ms (msg) > 0) self->timeout_ms = hpt_msg_agent_timeout_ms (msg);
    s_acked (self, hpt_msg_acked_seq (msg), "WELCOME");
    s_replay (self);
    //  The epoch grows with every master start: a new one means the master
    //  restarted (not merely that the connection broke), which is what an
    //  operator reading this log wants to know.
    int64_t epoch = hpt_msg_master_epoch (msg);
    if (self->master_epoch && epoch != self->master_epoch)
        hpt_log_warning ("the master restarted (epoch %lld, was %lld)", (long long)epoch,
                         (long long)self->master_epoch);
    self->master_epoch = epoch;
    hpt_log_info ("registered with the master, epoch %lld (%zu events replayed)", (long long)epoch,
                  hpt_spool_size (self->spool));
}

//  A REJECT: retried after retryMs, or final (no retryMs, or the master
//  speaks no version this agent does, PROTOCOL.md §6.1 and §7). Returns
//  -1 when final, which ends the loop; hpt_agent_run then says why.
static int
s_on_reject (hpt_agent_t *self, hpt_msg_t *msg)
{
    self->registered = false;
    bool common = hpt_msg_signature_version (msg) == HPT_MSG_PROTOCOL;
    char *versions = hpt_strdup ("");
    for (size_t i = 0; i < hpt_msg_protocol_count (msg); i++) {
        int64_t version = hpt_msg_protocol_at (msg, i);
        char *longer = hpt_asprintf ("%s%sHPT/%lld", versions, i ? ", " : "", (long long)version);
        free (versions);
        versions = longer;
        common = common || version == HPT_MSG_PROTOCOL;
    }
    if (hpt_msg_protocol_count (msg) > 0 && !common) {
        char *longer =
            hpt_asprintf (" (the master speaks %s, this agent HPT/%d)", versions, HPT_MSG_PROTOCOL);
        free (versions);
        versions = longer;
    } else
        versions[0] = '\0';
    char *why = hpt_asprintf ("%s%s", hpt_msg_reason (msg), versions);
    free (versions);
    int64_t retry_ms = hpt_msg_retry_ms (msg);
    if (common && retry_ms > 0) {
        hpt_log_error ("the master refused registration: %s (trying again in %lld ms)", why,
                       (long long)retry_ms);
        self->next_hello = s_mono () + retry_ms;
        //  Off the master while it waits: its connection is one of the
        //  master's file descriptors, and a master short of them refuses
        //  agents for that reason (PROTOCOL.md §6.1).
        if (!self->disconnected && zsock_disconnect (self->dealer, "%s", self->config.master) == 0)
            self->disconnected = true;
        free (why);
        return 0;
    }
    hpt_log_error ("the master refused registration for good: %s", why);
    free (self->refusal);
    self->refusal = why;
    return -1;
}

static int
s_on_master (zloop_t *loop, zsock_t *reader, void *arg)
{
    hpt_agent_t *self = arg;
    hpt_msg_fault_t fault;
    memset (&fault, 0, sizeof (fault));
    hpt_msg_t *msg = hpt_msg_recv_fault (reader, &fault);
    if (!msg) {
        if (fault.kind != HPT_MSG_FAULT_INTERRUPTED)
            hpt_log_warning ("dropped a malformed message from the master: %s", fault.text);
        hpt_msg_fault_reset (&fault);
        return 0;
    }
    self->last_master = s_mono ();
    int rc = 0;
    switch (hpt_msg_id (msg)) {
        case HPT_MSG_WELCOME:
            s_on_welcome (self, msg);
            break;
        case HPT_MSG_REJECT:
            rc = s_on_reject (self, msg);
            break;
        case HPT_MSG_ERROR:
            if (hpt_msg_code (msg) && strcmp (hpt_msg_code (msg), "NOT_REGISTERED") == 0) {
                //  A master that restarted: register again now.
                self->registered = false;
                self->next_hello = 0;
            } else
                hpt_log_warning ("the master refused a message: %s",
                                 hpt_msg_reason (msg) ? hpt_msg_reason (msg) : "");
            break;
        case HPT_MSG_ACK:
            s_acked (self, hpt_msg_seq (msg), "ACK");
            s_pump (self);
            break;
        case HPT_MSG_HEARTBEAT:
            //  The master's heartbeat carries its stored mark: an implicit ACK.
            s_acked (self, hpt_msg_seq (msg), "HEARTBEAT");
            s_pump (self);
            break;
        case HPT_MSG_LAUNCH:
            if (self->registered) s_on_launch (self, msg);
            break;
        case HPT_MSG_STOP:
            s_on_stop (self, msg);
            break;
        case HPT_MSG_DRAIN:
            hpt_log_info ("%s%s%s", hpt_msg_draining (msg) ? "drained" : "undrained",
                          hpt_msg_reason (msg) && *hpt_msg_reason (msg) ? ": " : "",
                          hpt_msg_reason (msg) ? hpt_msg_reason (msg) : "");
            break;
        default:
            break;
    }
    hpt_msg_destroy (&msg);
    return rc;
}

static int
s_on_launcher (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    hpt_agent_t *self = arg;
    hpt_launcher_handle (self->launcher, s_mono ());
    return 0;
}

static void
s_heartbeat (hpt_agent_t *self)
{
    hpt_msg_t *msg = hpt_msg_new (HPT_MSG_HEARTBEAT);
    hpt_msg_set_seq (msg, hpt_spool_next_seq (self->spool) - 1);
    hpt_msg_set_running_tasks (msg, (int64_t)hpt_launcher_size (self->launcher));
    double load = 0;
    if (getloadavg (&load, 1) == 1 && load >= 0 && load <= 1e6) hpt_msg_set_load (msg, load);
    s_send (self, &msg);
}

//  The probe's answer: what the endpoint is, said now and in each later
//  waiting line.
static int
s_on_probe (zloop_t *loop, zsock_t *reader, void *arg)
{
    hpt_agent_t *self = arg;
    char *answer = zstr_recv (reader);
    zloop_reader_end (loop, reader);
    zactor_destroy (&self->probe);
    int result = answer ? atoi (answer) : HPT_PROBE_UNPROBED;
    zstr_free (&answer);
    free (self->probe_advice);
    self->probe_advice = self->registered
                             ? NULL
                             : hpt_probe_advice ((hpt_probe_result_t)result, self->config.master);
    if (self->probe_advice) hpt_log_error ("%s", self->probe_advice);
    return 0;
}

//  While unregistered: "waiting for the master" with backoff, and the
//  probe once per wait (see the top).
static void
s_waiting (hpt_agent_t *self, int64_t now)
{
    if (!self->wait_start) {
        self->wait_start = now;
        self->wait_log_at = S_WAIT_LOG_FIRST_MS;
    }
    int64_t waited = now - self->wait_start;
    if (waited < self->wait_log_at) return;
    self->wait_log_at +=
        self->wait_log_at < S_WAIT_LOG_MAX_MS ? self->wait_log_at : S_WAIT_LOG_MAX_MS;
    hpt_log_warning ("waiting for the master at %s (%lld s)%s%s", self->config.master,
                     (long long)(waited / 1000), self->probe_advice ? ": " : "",
                     self->probe_advice ? self->probe_advice : "");
    if (!self->probed && !self->probe) {
        self->probed = true;
        self->probe = zactor_new (hpt_probe_actor, (void *)self->config.master);
        zloop_reader (self->loop, zactor_sock (self->probe), s_on_probe, self);
    }
}

static int
s_on_tick (zloop_t *loop, int timer_id, void *arg)
{
    hpt_agent_t *self = arg;
    int64_t now = s_mono ();
    hpt_launcher_tick (self->launcher, now);
    size_t running = 0;
    for (s_task_t *task = zhashx_first (self->tasks); task; task = zhashx_next (self->tasks))
        if (!task->exited) {
            s_flush_metrics (self, task, false);
            running++;
        }
    if (self->metrics)
        hpt_agent_metrics_state (self->metrics, self->registered, hpt_spool_size (self->spool),
                                 running);
    if (self->registered && now - self->last_master > self->timeout_ms) {
        hpt_log_warning ("the master is silent; registering again");
        self->registered = false;
        self->next_hello = now;
    }
    const hpt_spool_event_t *oldest = hpt_spool_event (self->spool, 0);
    if (oldest && oldest->seq != self->oldest_seq) {
        self->oldest_seq = oldest->seq;
        self->oldest_sent = now;
    } else if (self->registered && oldest && now - self->oldest_sent > self->timeout_ms) {
        hpt_log_info ("events from seq %lld unacknowledged; sending them again",
                      (long long)oldest->seq);
        s_replay (self);
    }
    s_pump (self); //  what a full socket refused earlier
    if (self->registered && now - self->last_heartbeat >= self->heartbeat_ms) {
        s_heartbeat (self);
        self->last_heartbeat = now;
    }
    if (!self->registered) s_waiting (self, now);
    if (!self->registered && self->disconnected && now >= self->next_hello) {
        //  Back after a REJECT's retryMs: the HELLO goes out once the
        //  connection is up (ZMQ_IMMEDIATE queues nothing before).
        if (zsock_connect (self->dealer, "%s", self->config.master) == 0)
            self->disconnected = false;
        self->next_hello = now + S_RECONNECT_HELLO_MS;
    }
    if (!self->registered && now >= self->next_hello) {
        s_send_hello (self);
        self->next_hello = now + self->hello_backoff;
        self->hello_backoff =
            self->hello_backoff * 2 > S_HELLO_MAX_MS ? S_HELLO_MAX_MS : self->hello_backoff * 2;
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  GPU samples and health (hpt_gpu_monitor)

//  A GPU's sample becomes metric points of the running task that holds
//  it, under the reserved tags hpt/gpu/<index>/<figure> (the trainer's
//  own points never carry them: the job reader refuses such objectives).
static void
s_on_gpu_sample (hpt_agent_t *self, const hpt_gpu_monitor_report_t *report)
{
    static const char *const names[] = {"utilization", "memory_used_gb", "power_watts",
                                        "temperature_c"};
    const double figures[] = {report->utilization, report->memory_used_gb, report->power_watts,
                              report->temperature};
    for (s_task_t *task = zhashx_first (self->tasks); task; task = zhashx_next (self->tasks)) {
        bool holds = false;
        for (size_t i = 0; i < task->gpu_count && !holds; i++)
            holds = task->gpus[i] == (int64_t)report->gpu;
        if (!holds || task->exited || task->pid <= 0) continue;
        char tags[4][48];
        const char *tag_list[4];
        double values[4], times[4];
        int64_t steps[4];
        int n = 0;
        for (int k = 0; k < 4; k++) {
            if (figures[k] < 0) continue;
            snprintf (tags[n], sizeof (tags[n]), "%s%s/%u/%s", HPT_RESERVED_TAG_PREFIX, "gpu",
                      report->gpu, names[k]);
            tag_list[n] = tags[n];
            values[n] = figures[k];
            steps[n] = -1;
            times[n] = (double)s_wall () / 1000.0;
            n++;
        }
        s_send_points (self, task, tag_list, values, steps, times, n);
    }
}

//  An unhealthy GPU: no task is started on it any more, and the master
//  is told (an event: it survives restarts until stored), which takes
//  the GPU out of its pool and ends the tasks holding it.
static void
s_on_gpu_failed (hpt_agent_t *self, const hpt_gpu_monitor_report_t *report)
{
    zsys_error ("hptagent: GPU %u is unhealthy: %s", report->gpu, report->why);
    char key[16];
    snprintf (key, sizeof (key), "%u", report->gpu);
    zhashx_update (self->failed_gpus, key, (void *)report->why);
    hpt_msg_t *msg = hpt_msg_new (HPT_MSG_GPU_FAILED);
    hpt_msg_set_gpu_index (msg, report->gpu);
    hpt_msg_set_reason (msg, report->why);
    if (report->xid >= 0 && report->xid <= 65535) hpt_msg_set_xid (msg, report->xid);
    hpt_msg_set_time (msg, s_wall ());
    s_event (self, &msg);
}

static int
s_on_gpu_report (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void)loop;
    (void)reader;
    hpt_agent_t *self = arg;
    hpt_gpu_monitor_report_t report;
    if (hpt_gpu_monitor_recv (self->gpu_monitor, &report) != 0) return 0;
    if (report.kind == HPT_GPU_MONITOR_SAMPLE)
        s_on_gpu_sample (self, &report);
    else if (report.kind == HPT_GPU_MONITOR_FAILED)
        s_on_gpu_failed (self, &report);
    else
        zsys_info ("hptagent: GPUs not monitored: %s", report.why);
    return 0;
}

//  Starts the GPU monitor when NVML found this host's GPUs (an XML
//  topology's GPUs are not this machine's, unless a test's fake NVML
//  serves them) and sampling is on.
static void
s_start_gpu_monitor (hpt_agent_t *self)
{
    self->failed_gpus = zhashx_new ();
    zhashx_set_duplicator (self->failed_gpus, (zhashx_duplicator_fn *)hpt_strdup);
    zhashx_set_destructor (self->failed_gpus, (zhashx_destructor_fn *)zstr_free);
    const char *discovery = hpt_topology_discovery (self->config.topology);
    if (self->config.gpu_sample_ms < 0 || !strstr (discovery, "+nvml")) return;
    const hpt_resources_t *r = hpt_topology_resources (self->config.topology);
    const char **buses = hpt_calloc (r->accelerator_count + 1, sizeof (char *));
    unsigned *indexes = hpt_calloc (r->accelerator_count + 1, sizeof (unsigned));
    size_t count = 0;
    for (size_t i = 0; i < r->accelerator_count; i++)
        if (!r->accelerators[i].is_tpu && *r->accelerators[i].pci_bus_id) {
            buses[count] = r->accelerators[i].pci_bus_id;
            indexes[count++] = r->accelerators[i].index;
        }
    if (count) {
        int period = self->config.gpu_sample_ms ? self->config.gpu_sample_ms : 5000;
        self->gpu_monitor = hpt_gpu_monitor_new (buses, indexes, count, period);
        zloop_reader (self->loop, hpt_gpu_monitor_socket (self->gpu_monitor), s_on_gpu_report,
                      self);
    }
    free (buses);
    free (indexes);
}

//  Kills what an earlier run of this agent left behind. A task's leader
//  dies with its agent (PR_SET_PDEATHSIG), but processes it started may
//  outlive a SIGKILLed agent. Every task process inherits HPT_TASK_DIR
//  under this agent's workdir, so a restarted agent finds them by their
//  environment (no pid file can go stale) and kills them.
static void
s_reap_leftovers (const char *workdir)
{
    char *marker = hpt_asprintf ("HPT_TASK_DIR=%s/tasks/", workdir);
    size_t marker_len = strlen (marker);
    DIR *proc = opendir ("/proc");
    struct dirent *entry;
    int killed = 0;
    while (proc && (entry = readdir (proc))) {
        char *end = NULL;
        long pid = strtol (entry->d_name, &end, 10);
        if (*end || pid <= 1 || pid == (long)getpid ()) continue;
        char path[64];
        snprintf (path, sizeof (path), "/proc/%ld/environ", pid);
        FILE *file = fopen (path, "r");
        if (!file) continue;
        //  NUL-separated NAME=VALUE entries; read at most 1 MiB.
        char *buf = hpt_malloc (1 << 20);
        size_t got = fread (buf, 1, (1 << 20) - 1, file);
        fclose (file);
        bool ours = false;
        for (size_t i = 0; i < got && !ours; i += strlen (buf + i) + 1) {
            buf[got] = '\0';
            ours = strncmp (buf + i, marker, marker_len) == 0;
        }
        free (buf);
        if (ours && kill ((pid_t)pid, SIGKILL) == 0) killed++;
    }
    if (proc) closedir (proc);
    if (killed)
        hpt_log_warning ("killed %d process(es) left by an earlier run of this agent", killed);
    free (marker);
}

//  ---------------------------------------------------------------------
//  Life cycle

//  Sets the mode of the agent's directory path, which must be the agent's
//  own: a directory someone else owns could be changed under it. 0, or -1
//  with *error.
static int
s_secure_dir (const char *path, mode_t mode, hpt_error_t *error)
{
    struct stat st;
    if (lstat (path, &st) != 0 || !S_ISDIR (st.st_mode))
        return hpt_error_set (error, HPT_E_UNAVAILABLE, "%s is not a directory", path);
    if (st.st_uid != geteuid ())
        return hpt_error_set (error, HPT_E_FAILED_PRECONDITION,
                              "%s belongs to uid %u, not to this agent (uid %u)", path,
                              (unsigned)st.st_uid, (unsigned)geteuid ());
    if (chmod (path, mode) != 0)
        return hpt_error_set (error, HPT_E_UNAVAILABLE, "cannot set the mode of %s: %s", path,
                              strerror (errno));
    return 0;
}

//  Creates the workdir's tasks/ and spool/ and makes the workdir absolute,
//  so task paths (and HPT_TASK_DIR, by which leftovers are recognised) do
//  not depend on the cwd. Modes (docs/security.md): the workdir and tasks/
//  0711, so task users reach their own directories (0700 each) and the
//  package cache but list nothing; spool/ 0700 (it holds the tasks' logs
//  and metrics until the master has them).
static int
s_prepare_workdir (hpt_agent_t *self, hpt_error_t *error)
{
    char *tasks = hpt_asprintf ("%s/tasks", self->config.workdir);
    int rc = hpt_mkdirs (tasks, 0700, error);
    if (rc == 0) {
        char *absolute = realpath (self->config.workdir, NULL);
        if (absolute) {
            free ((char *)self->config.workdir);
            self->config.workdir = absolute;
        }
        rc = s_secure_dir (self->config.workdir, 0711, error);
    }
    if (rc == 0) rc = s_secure_dir (tasks, 0711, error);
    free (tasks);
    if (rc != 0) return rc;
    //  Before anything in the workdir is touched: leftovers are reaped and
    //  the spool replayed only by the one agent that owns it.
    self->identity = hpt_identity_new (self->config.workdir, error);
    if (!self->identity) return -1;
    self->spool_dir = hpt_asprintf ("%s/spool", self->config.workdir);
    rc = hpt_mkdirs (self->spool_dir, 0700, error);
    return rc == 0 ? s_secure_dir (self->spool_dir, 0700, error) : rc;
}

//  Removes the containers an earlier run (or this one, stopping) left: a
//  run client dies with its agent, its container does not. Each container
//  task has an environment file in containers/ until its container is
//  gone, so an empty directory means there is nothing to ask the runtime.
static void
s_reap_containers (hpt_agent_t *self)
{
    DIR *dir = opendir (self->containers_dir);
    struct dirent *entry;
    bool any = false;
    while (dir && (entry = readdir (dir)))
        any |= entry->d_name[0] != '.';
    if (dir) closedir (dir);
    if (!any) return;
    hpt_error_t error;
    if (hpt_container_reap (self->containers, &error) != 0) {
        hpt_log_warning ("%s", error.message);
        return;
    }
    hpt_log_info ("removed the containers left by an earlier run of this agent");
    dir = opendir (self->containers_dir);
    while (dir && (entry = readdir (dir)))
        if (entry->d_name[0] != '.') unlinkat (dirfd (dir), entry->d_name, 0);
    if (dir) closedir (dir);
}

//  The container runtime: its directory for environment files (0700, the
//  agent's: it holds the tasks' env values), leftovers removed, and
//  whether limits can be enforced (logged: a host whose cgroups refuse
//  them still runs containers, unlimited). 0, or -1 with *error.
static int
s_prepare_containers (hpt_agent_t *self, const hpt_agent_config_t *config, hpt_error_t *error)
{
    self->containers_dir = hpt_asprintf ("%s/containers", self->config.workdir);
    if (hpt_mkdirs (self->containers_dir, 0700, error) != 0 ||
        s_secure_dir (self->containers_dir, 0700, error) != 0)
        return -1;
    hpt_container_config_t cconfig = {
        .runtime = config->container_runtime,
        .run_args = config->container_run_args,
        .gpu_kind = config->gpu_kind,
        .cdi_dirs = config->cdi_dirs,
        .workdir = self->config.workdir,
        .agent = self->config.name,
        .actors = true,
    };
    self->containers = hpt_container_new (&cconfig);
    self->images = zhashx_new ();
    self->pulls = zhashx_new ();
    zhashx_set_destructor (self->pulls, (zhashx_destructor_fn *)zlistx_destroy);
    const char *problem = hpt_container_problem (self->containers);
    if (problem) {
        hpt_log_info ("container tasks cannot run here: %s", problem);
        return 0;
    }
    s_reap_containers (self);
    const char *why = NULL;
    self->limits = hpt_container_limits (self->containers, &why);
    if (!self->limits) hpt_log_warning ("containers run without CPU and memory limits: %s", why);
    return 0;
}

//  Adds what the master places container tasks by to the resources
//  document: the runtime and whether GPUs can be given (PROTOCOL.md 5.1).
static void
s_containers_resources (hpt_agent_t *self, json_t *resources)
{
    const hpt_resources_t *r = hpt_topology_resources (self->config.topology);
    int64_t *gpus = hpt_calloc (r->accelerator_count + 1, sizeof (int64_t));
    size_t count = 0;
    for (size_t k = 0; k < r->accelerator_count; k++)
        if (!r->accelerators[k].is_tpu) gpus[count++] = r->accelerators[k].index;
    json_t *containers = hpt_container_resources (self->containers, gpus, count);
    free (gpus);
    if (containers) json_object_set_new (resources, "containers", containers);
    const char *gpu_problem = json_string_value (json_object_get (containers, "gpuProblem"));
    if (gpu_problem) hpt_log_warning ("GPU container tasks cannot run here: %s", gpu_problem);
}

//  Checks --run-as and --allow-run-as: the agent must be root to change
//  user, and every user named must exist and reach the agent's task and
//  package directories. Splits the allowed list. 0, or -1 with *error.
static int
s_prepare_users (hpt_agent_t *self, const hpt_agent_config_t *config, hpt_error_t *error)
{
    if (!config->run_as && !config->allow_run_as) return 0;
    if (geteuid () != 0)
        return hpt_error_set (error, HPT_E_FAILED_PRECONDITION,
                              "--run-as and --allow-run-as need hptagent to run as root (it runs "
                              "as uid %u)",
                              (unsigned)geteuid ());
    zlistx_t *names = zlistx_new ();
    char *list = hpt_strdup (config->allow_run_as ? config->allow_run_as : "");
    for (char *save = NULL, *name = strtok_r (list, ",", &save); name;
         name = strtok_r (NULL, ",", &save))
        zlistx_add_end (names, name);
    self->allowed = hpt_calloc (zlistx_size (names) + 1, sizeof (char *));
    size_t n = 0;
    for (char *name = zlistx_first (names); name; name = zlistx_next (names))
        self->allowed[n++] = hpt_strdup (name);
    if (config->run_as) zlistx_add_start (names, (void *)config->run_as);
    char *tasks = hpt_asprintf ("%s/tasks", self->config.workdir);
    char *packages = hpt_asprintf ("%s/packages", self->config.workdir);
    int rc = 0;
    for (char *name = zlistx_first (names); name && rc == 0; name = zlistx_next (names)) {
        hpt_user_t *user = hpt_user_lookup (name, error);
        rc = !user || hpt_user_can_search (user, tasks, error) ||
                     hpt_user_can_search (user, packages, error)
                 ? -1
                 : 0;
        hpt_user_destroy (&user);
    }
    free (tasks);
    free (packages);
    free (list);
    zlistx_destroy (&names);
    return rc;
}

//  With CURVE, what the master's side of a handshake says is the only
//  sign that it refused this agent (ZeroMQ retries silently): a monitor
//  reports it, and the agent says what to do about it.
static void
s_watch_handshakes (hpt_agent_t *self, const char *master)
{
    self->monitor = zactor_new (zmonitor, self->dealer);
    zstr_sendx (self->monitor, "LISTEN", "HANDSHAKE_SUCCEEDED", "HANDSHAKE_FAILED_AUTH",
                "HANDSHAKE_FAILED_PROTOCOL", "HANDSHAKE_FAILED_NO_DETAIL", NULL);
    zstr_send (self->monitor, "START");
    zsock_wait (self->monitor);
}

static int
s_on_handshake (zloop_t *loop, zsock_t *reader, void *arg)
{
    hpt_agent_t *self = arg;
    char *event = NULL, *value = NULL, *address = NULL;
    if (zstr_recvx (reader, &event, &value, &address, NULL) < 0) return 0;
    bool ok = strcmp (event, "HANDSHAKE_SUCCEEDED") == 0;
    if (ok)
        hpt_log_info ("secure connection to the master at %s", address);
    else if (s_mono () - self->handshake_log >= 10000) {
        self->handshake_log = s_mono ();
        if (strcmp (event, "HANDSHAKE_FAILED_AUTH") == 0)
            hpt_log_error ("the master at %s refused this agent's key: copy this agent's "
                           "NAME.cert (the public half of --cert) into the master's agentCerts "
                           "directory",
                           address);
        else
            hpt_log_error ("the secure handshake with %s failed (%s): is --master-cert the "
                           "certificate of the master at that address? This agent speaks to no "
                           "other",
                           address, event);
    }
    zstr_free (&event);
    zstr_free (&value);
    zstr_free (&address);
    return 0;
}

//  The launcher that runs the tasks, its callbacks this agent's.
static int
s_start_launcher (hpt_agent_t *self, hpt_error_t *error)
{
    hpt_launcher_config_t lconfig = {0};
    lconfig.on_output = s_on_output;
    lconfig.on_exit = s_on_exit;
    lconfig.on_line = s_on_line;
    lconfig.arg = self;
    lconfig.log_max_bytes = 1024 * 1024 * 1024;
    //  Patterns see a line's head only (hpt_line_metrics.h).
    lconfig.line_max = HPT_LINE_METRICS_LINE_MAX;
    lconfig.line_cut = true;
    lconfig.task_umask_set = true;
    lconfig.task_umask = self->task_umask;
    lconfig.task_nofile = self->task_nofile > 0 ? (uint64_t)self->task_nofile : 0;
    self->launcher = hpt_launcher_new (&lconfig, error);
    return self->launcher ? 0 : -1;
}

//  The DEALER to the master (a CURVE client when the agent has keys).
static int
s_connect_master (hpt_agent_t *self, const hpt_agent_config_t *config, hpt_error_t *error)
{
    self->dealer = zsock_new (ZMQ_DEALER);
    zsock_set_immediate (self->dealer, 1);
    zsock_set_sndtimeo (self->dealer, 0);
    zsock_set_linger (self->dealer, 0);
    zsock_set_reconnect_ivl (self->dealer, 100);
    zsock_set_reconnect_ivl_max (self->dealer, 2000);
    zsock_set_maxmsgsize (self->dealer, 4 * 1024 * 1024);
    //  PROTOCOL.md §2: what the master may queue for this agent (its
    //  ROUTER's SNDHWM), and room for the window of events plus HELLO and
    //  heartbeats outbound (a full socket refuses; the spool keeps them).
    zsock_set_rcvhwm (self->dealer, S_DEALER_RCVHWM);
    zsock_set_sndhwm (self->dealer, S_DEALER_SNDHWM);
    if (config->curve_secret) {
        //  CURVE: the connection proves this agent's key to the master, and
        //  goes nowhere but to a master holding master_key's secret half.
        zsock_set_curve_publickey (self->dealer, config->curve_public);
        zsock_set_curve_secretkey (self->dealer, config->curve_secret);
        zsock_set_curve_serverkey (self->dealer, config->master_key);
        s_watch_handshakes (self, config->master);
    }
    if (zsock_connect (self->dealer, "%s", config->master) != 0)
        return hpt_error_set (error, HPT_E_INVALID, "cannot connect to %s", config->master);
    return 0;
}

hpt_agent_t *
hpt_agent_new (const hpt_agent_config_t *config, hpt_error_t *error)
{
    hpt_agent_t *self = hpt_calloc (1, sizeof (hpt_agent_t));
    self->config = *config;
    self->config.master = hpt_strdup (config->master);
    self->config.name = hpt_strdup (config->name);
    self->config.workdir = hpt_strdup (config->workdir);
    self->config.advertise = hpt_strdup (config->advertise);
    self->config.run_as = config->run_as ? hpt_strdup (config->run_as) : NULL;
    self->config.allow_run_as = NULL; //  split into allowed
    //  Everything the agent writes is its own: task logs and metrics wait
    //  in the spool, env values pass through. Tasks get the umask it had.
    self->task_umask = umask (077);
    //  Every task's pipes and logs are the agent's descriptors: its soft
    //  limit goes up to the hard one; its tasks get the one it had.
    self->task_nofile = hpt_fdlimit_soft ();
    hpt_fdlimit_raise ("hptagent");
    self->heartbeat_ms = 1000;
    self->timeout_ms = 10000;
    self->hello_backoff = S_HELLO_MIN_MS;
    self->match_credit = S_MATCH_BURST_US;
    self->match_refilled = zclock_usecs ();
    self->tasks = zhashx_new ();
    zhashx_set_destructor (self->tasks, s_task_free);
    self->launched = zhashx_new ();
    zhashx_set_destructor (self->launched, (zhashx_destructor_fn *)zstr_free);
    if (config->metrics_listen) {
        self->metrics = hpt_agent_metrics_new (config->metrics_listen, error);
        if (!self->metrics) {
            hpt_agent_destroy (&self);
            return NULL;
        }
        hpt_log_info ("metrics on http://%s/metrics", config->metrics_listen);
    }
    if (s_prepare_workdir (self, error) != 0) {
        hpt_agent_destroy (&self);
        return NULL;
    }
    //  Containers first: their runtime stops them cleanly; the processes
    //  left outside containers are then found by their environment.
    if (s_prepare_containers (self, config, error) != 0) {
        hpt_agent_destroy (&self);
        return NULL;
    }
    s_reap_leftovers (self->config.workdir);
    self->spool = hpt_spool_new (self->spool_dir, error);
    if (!self->spool) {
        hpt_agent_destroy (&self);
        return NULL;
    }
    char *packages = hpt_asprintf ("%s/packages", self->config.workdir);
    self->fetch = hpt_fetch_new (packages, HPT_FETCH_MAX_BYTES, error);
    free (packages);
    if (self->fetch && s_prepare_users (self, config, error) != 0) hpt_fetch_destroy (&self->fetch);
    if (!self->fetch) {
        hpt_agent_destroy (&self);
        return NULL;
    }
    self->fetching = zhashx_new ();
    zhashx_set_destructor (self->fetching, s_msg_free);
    if (s_start_launcher (self, error) != 0) {
        hpt_agent_destroy (&self);
        return NULL;
    }
    //  Why a GPU got a generic name, for instance, starts here.
    const char *nvml = hpt_topology_nvml_error (config->topology);
    hpt_log_info ("resources found by %s%s%s", hpt_topology_discovery (config->topology),
                  nvml ? "; NVML not used: " : "", nvml ? nvml : "");
    self->resources = hpt_topology_to_json (config->topology);
    s_containers_resources (self, self->resources);
    json_object_set_new (self->resources, "agentId",
                         json_string (hpt_identity_id (self->identity)));
    if (config->cpus > 0) json_object_set_new (self->resources, "cpus", json_real (config->cpus));
    if (config->memory_gb >= 0)
        json_object_set_new (self->resources, "memoryGb", json_real (config->memory_gb));
    if (s_connect_master (self, config, error) != 0) {
        hpt_agent_destroy (&self);
        return NULL;
    }
    self->loop = zloop_new ();
    zloop_reader (self->loop, self->dealer, s_on_master, self);
    if (self->monitor) zloop_reader (self->loop, zactor_sock (self->monitor), s_on_handshake, self);
    zmq_pollitem_t item = {NULL, hpt_launcher_fd (self->launcher), ZMQ_POLLIN, 0};
    zloop_poller (self->loop, &item, s_on_launcher, self);
    zloop_reader (self->loop, hpt_fetch_socket (self->fetch), s_on_fetched, self);
    if (hpt_container_pull_socket (self->containers)) {
        zloop_reader (self->loop, hpt_container_pull_socket (self->containers), s_on_container,
                      self);
        zloop_reader (self->loop, hpt_container_remove_socket (self->containers), s_on_container,
                      self);
    }
    s_start_gpu_monitor (self);
    zloop_timer (self->loop, 50, 0, s_on_tick, self);
    return self;
}

void
hpt_agent_destroy (hpt_agent_t **self_p)
{
    if (!self_p || !*self_p) return;
    hpt_agent_t *self = *self_p;
    zloop_destroy (&self->loop);
    zactor_destroy (&self->monitor);
    zactor_destroy (&self->probe);
    free (self->probe_advice);
    hpt_gpu_monitor_destroy (&self->gpu_monitor);
    zhashx_destroy (&self->failed_gpus);
    hpt_launcher_destroy (&self->launcher);
    //  The run clients are gone; their containers must go too.
    if (self->containers) s_reap_containers (self);
    hpt_container_destroy (&self->containers);
    zhashx_destroy (&self->images);
    zhashx_destroy (&self->pulls);
    free (self->containers_dir);
    hpt_fetch_destroy (&self->fetch);
    zhashx_destroy (&self->fetching);
    zsock_destroy (&self->dealer);
    hpt_spool_destroy (&self->spool);
    hpt_identity_destroy (&self->identity);
    zhashx_destroy (&self->tasks);
    zhashx_destroy (&self->launched);
    hpt_agent_metrics_destroy (&self->metrics);
    json_decref (self->resources);
    free ((char *)self->config.master);
    free ((char *)self->config.name);
    free ((char *)self->config.workdir);
    free ((char *)self->config.advertise);
    free ((char *)self->config.run_as);
    for (char **name = self->allowed; name && *name; name++)
        free (*name);
    free (self->allowed);
    free (self->spool_dir);
    free (self->refusal);
    free (self);
    *self_p = NULL;
}

int
hpt_agent_run (hpt_agent_t *self, hpt_error_t *error)
{
    s_send_hello (self);
    self->next_hello = s_mono () + self->hello_backoff;
    zloop_start (self->loop);
    if (self->refusal)
        return hpt_error_set (error, HPT_E_FAILED_PRECONDITION,
                              "the master refused registration: %s", self->refusal);
    if (self->registered) {
        //  Tell the master now rather than let it wait for the timeout;
        //  the tasks die with the agent (see the comment at the top).
        hpt_msg_t *bye = hpt_msg_new (HPT_MSG_BYE);
        hpt_msg_set_reason (bye, "agent shutting down");
        zsock_set_linger (self->dealer, 500);
        s_send (self, &bye);
    }
    return 0;
}
