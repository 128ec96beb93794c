/*  hpt_master_metrics -- the master's /metrics: counters of events,
    gauges of state, one renderer

    Counters and histograms count events as they happen (trial
    transitions, suggestions, commits, agent events, API requests,
    reloads) into the object's registry. Gauges describe the state at
    scrape time and are computed then from the core into a scratch
    registry: recomputing them costs one pass over the jobs' trials and
    the nodes, done only when Prometheus asks (a few times a minute).

    Trial transitions come from the tuners' hooks (hpt_tuner_hooks_t),
    called when a trial's new state is written to the store: a trial that
    enters PROVISIONING is started (its wait since PENDING is observed),
    one that enters SUCCEEDED, FAILED or CANCELLED finished (its run time
    since placement is observed), and a failed one is counted under a
    reason read from its message (agent_lost, no_metric, signal,
    exit_status, other). A transition stored in a transaction that then
    fails to commit was counted: counters say what the master did, and
    such a trial is counted again when the master redoes it.

    API requests are labelled by route template (hpt_master_metrics_route)
    and status code, never by a job or node name, so the series stay
    few whatever the clients send.
*/
#include "hpt_master_metrics.h"
#include "hpt_alloc.h"
#include "hpt_core.h"
#include "hpt_fdlimit.h"
#include "hpt_version.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct _hpt_master_metrics_t {
    hpt_prom_t *registry;               //  counters and histograms
    double started;                     //  when the master started (epoch s)
    hpt_prom_family_t *trials_started;  //  hpt_trials_started_total
    hpt_prom_family_t *trials_finished; //  hpt_trials_finished_total{state}
    hpt_prom_family_t *trials_failed;   //  hpt_trials_failed_total{reason}
    hpt_prom_family_t *trials_requeued; //  hpt_trials_requeued_total
    hpt_prom_family_t *queue_wait;      //  hpt_trial_queue_wait_seconds
    hpt_prom_family_t *run_time;        //  hpt_trial_run_seconds{state}
    hpt_prom_family_t *suggestion;      //  hpt_suggestion_seconds{algorithm}
    hpt_prom_family_t *commit;          //  hpt_store_commit_seconds
    hpt_prom_family_t *commit_failures; //  hpt_store_commit_failures_total
    hpt_prom_family_t *frame_wait;      //  hpt_agent_frame_wait_seconds
    hpt_prom_family_t *heartbeat_wait;  //  hpt_agent_heartbeat_wait_seconds
    hpt_prom_family_t *agent_events;    //  hpt_agent_events_total{kind,outcome}
    hpt_prom_family_t *api_requests;    //  hpt_api_requests_total{route,method,code}
    hpt_prom_family_t *api_latency;     //  hpt_api_request_seconds{route}
    hpt_prom_family_t *reloads;         //  hpt_config_reloads_total{result}
    hpt_prom_family_t *agents_refused;  //  hpt_agents_refused_total{reason}
};

static const char *s_failure_reasons[] = {"agent_lost", "no_metric", "signal", "exit_status",
                                          "other"};

//  Why a HELLO is refused (hpt_agent_link); every series exists from the
//  start, so that an alert can take its rate.
static const char *s_refusal_reasons[] = {
    "fd_limit",          "too_many_agents", "not_admitted",
    "name_mismatch",     "name_in_use",     "resources_too_large",
    "store_unavailable", "bad_resources",   "protocol"};

static void s_trial_changed (void *arg, hpt_tuner_t *tuner, const hpt_trial_t *trial, int from,
                             int64_t since_ms);
static void s_suggested (void *arg, hpt_tuner_t *tuner, double seconds);

static void
s_declare (hpt_master_metrics_t *self)
{
    hpt_prom_t *r = self->registry;
    self->trials_started = hpt_prom_counter (r, "hpt_trials_started_total",
                                             "Trials placed and launched (PROVISIONING).", NULL);
    self->trials_finished = hpt_prom_counter (r, "hpt_trials_finished_total",
                                              "Trials that ended, by final state.", "state");
    self->trials_failed =
        hpt_prom_counter (r, "hpt_trials_failed_total", "Trials that failed, by reason.", "reason");
    self->trials_requeued = hpt_prom_counter (
        r, "hpt_trials_requeued_total",
        "Trials put back in the queue (agent lost with agentLostPolicy requeue, drain --now).",
        NULL);
    self->queue_wait = hpt_prom_histogram (
        r, "hpt_trial_queue_wait_seconds", "Time a trial waited from PENDING until it was placed.",
        NULL, hpt_prom_duration_buckets, hpt_prom_duration_bucket_count);
    self->run_time = hpt_prom_histogram (
        r, "hpt_trial_run_seconds", "Time from a trial's placement to its end, by final state.",
        "state", hpt_prom_duration_buckets, hpt_prom_duration_bucket_count);
    self->suggestion = hpt_prom_histogram (
        r, "hpt_suggestion_seconds", "Time the optimizer took for one suggestion.", "algorithm",
        hpt_prom_latency_buckets, hpt_prom_latency_bucket_count);
    self->commit = hpt_prom_histogram (r, "hpt_store_commit_seconds",
                                       "Time one store transaction took to commit.", NULL,
                                       hpt_prom_latency_buckets, hpt_prom_latency_bucket_count);
    self->frame_wait = hpt_prom_histogram (
        r, "hpt_agent_frame_wait_seconds",
        "How long agent frames waited between arrival and handling (an upper bound: since the "
        "master last saw its agents' socket empty before it read the frame).",
        NULL, hpt_prom_latency_buckets, hpt_prom_latency_bucket_count);
    self->heartbeat_wait = hpt_prom_histogram (
        r, "hpt_agent_heartbeat_wait_seconds",
        "How long agents' heartbeats waited between arrival and handling (the same upper bound).",
        NULL, hpt_prom_latency_buckets, hpt_prom_latency_bucket_count);
    self->commit_failures = hpt_prom_counter (
        r, "hpt_store_commit_failures_total",
        "Store transactions that could not be committed (rolled back, nothing acted on).", NULL);
    self->agent_events = hpt_prom_counter (
        r, "hpt_agent_events_total",
        "Agent events by kind and outcome: stored, replayed (already stored), dropped.",
        "kind,outcome");
    self->api_requests = hpt_prom_counter (r, "hpt_api_requests_total",
                                           "REST API requests answered, by route template, "
                                           "method and HTTP status.",
                                           "route,method,code");
    self->api_latency = hpt_prom_histogram (
        r, "hpt_api_request_seconds", "Time from a request's arrival to its answer, by route.",
        "route", hpt_prom_latency_buckets, hpt_prom_latency_bucket_count);
    self->reloads = hpt_prom_counter (r, "hpt_config_reloads_total",
                                      "cluster.yaml reloads (SIGHUP), by result.", "result");
    self->agents_refused = hpt_prom_counter (
        r, "hpt_agents_refused_total",
        "HELLOs refused with REJECT, by reason (fd_limit: fewer free file descriptors than "
        "the master's reserve).",
        "reason");
    //  Series that alerts take rates of exist from the start.
    for (size_t i = 0; i < sizeof (s_refusal_reasons) / sizeof (s_refusal_reasons[0]); i++)
        hpt_prom_touch (self->agents_refused, s_refusal_reasons[i]);
    hpt_prom_touch (self->trials_started);
    hpt_prom_touch (self->commit_failures);
    hpt_prom_touch (self->trials_requeued);
    for (size_t i = 0; i < sizeof (s_failure_reasons) / sizeof (s_failure_reasons[0]); i++)
        hpt_prom_touch (self->trials_failed, s_failure_reasons[i]);
    hpt_prom_touch (self->reloads, "ok");
    hpt_prom_touch (self->reloads, "refused");
}

hpt_master_metrics_t *
hpt_master_metrics_new (void)
{
    hpt_master_metrics_t *self = hpt_calloc (1, sizeof (hpt_master_metrics_t));
    self->registry = hpt_prom_new ();
    struct timespec now;
    clock_gettime (CLOCK_REALTIME, &now);
    self->started = (double)now.tv_sec + (double)now.tv_nsec / 1e9;
    s_declare (self);
    return self;
}

void
hpt_master_metrics_destroy (hpt_master_metrics_t **self_p)
{
    if (!self_p || !*self_p) return;
    hpt_prom_destroy (&(*self_p)->registry);
    free (*self_p);
    *self_p = NULL;
}

hpt_prom_t *
hpt_master_metrics_registry (hpt_master_metrics_t *self)
{
    return self->registry;
}

hpt_tuner_hooks_t
hpt_master_metrics_tuner_hooks (hpt_master_metrics_t *self)
{
    return (hpt_tuner_hooks_t){self, s_trial_changed, s_suggested};
}

//  ---------------------------------------------------------------------
//  Events

static const char *
s_failure_reason (const char *message)
{
    if (!message) return "other";
    if (strstr (message, "was lost with its agent")) return "agent_lost";
    if (strstr (message, "without reporting the metric")) return "no_metric";
    if (strstr (message, "was killed by signal")) return "signal";
    if (strstr (message, "exited with status")) return "exit_status";
    return "other";
}

static int64_t
s_now_ms (void)
{
    struct timespec now;
    clock_gettime (CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static void
s_trial_changed (void *arg, hpt_tuner_t *tuner, const hpt_trial_t *trial, int from,
                 int64_t since_ms)
{
    hpt_master_metrics_t *self = arg;
    int64_t now = s_now_ms ();
    hpt_trial_state_t to = trial->state;
    if (to == HPT_TRIAL_PROVISIONING) {
        hpt_prom_add (self->trials_started, 1);
        if (from == HPT_TRIAL_PENDING && since_ms > 0)
            hpt_prom_observe (self->queue_wait, (double)(now - since_ms) / 1000.0);
    } else if (to == HPT_TRIAL_PENDING && from >= 0)
        hpt_prom_add (self->trials_requeued, 1);
    else if (to == HPT_TRIAL_SUCCEEDED || to == HPT_TRIAL_FAILED || to == HPT_TRIAL_CANCELLED) {
        hpt_prom_add (self->trials_finished, 1, hpt_trial_state_name (to));
        if (to == HPT_TRIAL_FAILED)
            hpt_prom_add (self->trials_failed, 1, s_failure_reason (trial->message));
        if (trial->start_time > 0 && trial->end_time >= trial->start_time)
            hpt_prom_observe (self->run_time,
                              (double)(trial->end_time - trial->start_time) / 1000.0,
                              hpt_trial_state_name (to));
    }
}

static void
s_suggested (void *arg, hpt_tuner_t *tuner, double seconds)
{
    hpt_master_metrics_t *self = arg;
    hpt_hyperparameters_t *hp = hpt_tuner_spec (tuner)->input.hyperparameters;
    const char *algorithm =
        hp ? hpt_algorithm_name (hp->algorithm) : hpt_algorithm_name (HPT_ALGORITHM_UNSPECIFIED);
    hpt_prom_observe (self->suggestion, seconds, algorithm);
}

void
hpt_master_metrics_commit (hpt_master_metrics_t *self, double seconds, bool ok)
{
    hpt_prom_observe (self->commit, seconds);
    if (!ok) hpt_prom_add (self->commit_failures, 1);
}

void
hpt_master_metrics_frame_wait (hpt_master_metrics_t *self, double seconds, bool heartbeat)
{
    hpt_prom_observe (self->frame_wait, seconds);
    if (heartbeat) hpt_prom_observe (self->heartbeat_wait, seconds);
}

void
hpt_master_metrics_agent_event (hpt_master_metrics_t *self, const char *kind, const char *outcome)
{
    hpt_prom_add (self->agent_events, 1, kind, outcome);
}

void
hpt_master_metrics_reload (hpt_master_metrics_t *self, bool ok)
{
    hpt_prom_add (self->reloads, 1, ok ? "ok" : "refused");
}

void
hpt_master_metrics_agent_refused (hpt_master_metrics_t *self, const char *reason)
{
    hpt_prom_add (self->agents_refused, 1, reason);
}

//  Whether the verb after ':' is one the API has (others are "{verb}").
static const char *
s_verb (const char *verb)
{
    static const char *known[] = {"cancel", "tags", "drain", "undrain", "revoke", "token"};
    for (size_t i = 0; i < sizeof (known) / sizeof (known[0]); i++)
        if (strcmp (verb, known[i]) == 0) return known[i];
    return "{verb}";
}

//  Segment i of a path split on '/', with its ":verb" split off.
typedef struct {
    char text[64]; //  the segment (cut)
    char verb[16]; //  its verb, "" when none
} s_segment_t;

static size_t
s_split (const char *path, s_segment_t *seg, size_t max)
{
    size_t n = 0;
    const char *at = path;
    while (*at == '/')
        at++;
    while (*at && *at != '?' && n < max) {
        size_t len = strcspn (at, "/?");
        s_segment_t *s = &seg[n++];
        snprintf (s->text, sizeof (s->text), "%.*s", (int)(len < 63 ? len : 63), at);
        char *colon = strchr (s->text, ':');
        s->verb[0] = 0;
        if (colon) {
            *colon = 0;
            snprintf (s->verb, sizeof (s->verb), "%s", s_verb (colon + 1));
        }
        at += len;
        while (*at == '/')
            at++;
    }
    return *at && *at != '?' ? max + 1 : n;
}

const char *
hpt_master_metrics_route (const char *path)
{
    //  Templates, longest first within each root; a verb is appended.
    static __thread char route[128];
    s_segment_t seg[8];
    size_t n = s_split (path ? path : "", seg, 8);
    const char *base = NULL;
    const char *verb = n >= 1 && n <= 8 ? seg[n - 1].verb : "";
    bool v1 = n >= 2 && strcmp (seg[0].text, "v1") == 0;
    if (n == 1 && strcmp (seg[0].text, "metrics") == 0)
        base = "/metrics";
    else if (v1 && n >= 4 && strcmp (seg[1].text, "projects") == 0 &&
             strcmp (seg[3].text, "jobs") == 0) {
        static const char *jobs[] = {"/v1/projects/{project}/jobs",
                                     "/v1/projects/{project}/jobs/{job}",
                                     "/v1/projects/{project}/jobs/{job}/logs", NULL,
                                     "/v1/projects/{project}/jobs/{job}/trials/{trial}/metrics"};
        if (n == 6 && strcmp (seg[5].text, "logs") != 0) return "other";
        if (n == 8 && (strcmp (seg[5].text, "trials") != 0 || strcmp (seg[7].text, "metrics")))
            return "other";
        base = n - 4 < 5 ? jobs[n - 4] : NULL;
    } else if (v1 && n <= 3 && strcmp (seg[1].text, "nodes") == 0)
        base = n == 2 ? "/v1/nodes" : "/v1/nodes/{node}";
    else if (v1 && n <= 3 && strcmp (seg[1].text, "users") == 0)
        base = n == 2 ? "/v1/users" : "/v1/users/{user}";
    else if (v1 && n == 2 && strcmp (seg[1].text, "audit") == 0)
        base = "/v1/audit";
    else if (v1 && n == 3 && strcmp (seg[1].text, "auth") == 0 &&
             strcmp (seg[2].text, "whoami") == 0)
        base = "/v1/auth/whoami";
    if (!base) return "other";
    snprintf (route, sizeof (route), "%s%s%s", base, *verb ? ":" : "", verb);
    return route;
}

void
hpt_master_metrics_api_request (hpt_master_metrics_t *self, const char *method, const char *path,
                                int status, double seconds)
{
    const char *route = hpt_master_metrics_route (path);
    static const char *methods[] = {"GET", "POST", "PATCH", "DELETE"};
    const char *m = "other";
    for (size_t i = 0; i < 4; i++)
        if (method && strcmp (method, methods[i]) == 0) m = methods[i];
    char code[16];
    snprintf (code, sizeof (code), "%d", status);
    hpt_prom_add (self->api_requests, 1, route, m, code);
    hpt_prom_observe (self->api_latency, seconds, route);
}

//  ---------------------------------------------------------------------
//  State at scrape time

static void
s_job_gauges (hpt_prom_t *scratch, hpt_core_t *core)
{
    hpt_prom_family_t *jobs =
        hpt_prom_gauge (scratch, "hpt_jobs", "Jobs known to the master, by state.", "state");
    hpt_prom_family_t *trials =
        hpt_prom_gauge (scratch, "hpt_trials", "Trials, by state.", "state");
    size_t count;
    hpt_tuner_t **tuners = hpt_core_jobs (core, &count);
    double by_job[HPT_JOB_CANCELLED + 1] = {0};
    double by_trial[HPT_TRIAL_CANCELLED + 1] = {0};
    hpt_prom_family_t *resident = hpt_prom_gauge (
        scratch, "hpt_jobs_resident",
        "Jobs whose trials are in memory; a finished job's are read back from the store when "
        "needed.",
        NULL);
    double in_memory = 0;
    for (size_t i = 0; i < count; i++) {
        by_job[hpt_tuner_state (tuners[i])]++;
        hpt_tuner_count_trials (tuners[i], by_trial);
        in_memory += !hpt_tuner_evicted (tuners[i]);
    }
    hpt_prom_set (resident, in_memory);
    for (int s = 0; s <= HPT_JOB_CANCELLED; s++)
        hpt_prom_set (jobs, by_job[s], hpt_job_state_name (s));
    for (int s = 0; s <= HPT_TRIAL_CANCELLED; s++)
        hpt_prom_set (trials, by_trial[s], hpt_trial_state_name (s));
}

//  The per-node families, streamed (hpt_prom.h): a series each per node
//  of a fleet of thousands, written straight out instead of built into
//  the scratch registry on every scrape.
typedef enum {
    S_NODE_STATE,
    S_NODE_AGE,
    S_NODE_CPUS,
    S_NODE_CPUS_USED,
    S_NODE_MEMORY,
    S_NODE_MEMORY_USED,
    S_NODE_ACCELS,
    S_NODE_ACCELS_USED,
    S_NODE_TASKS,
    S_NODE_FAMILIES
} s_node_family_t;

static const struct {
    const char *name;   //  metric name
    const char *help;   //  its HELP text
    const char *labels; //  its label names
} s_node_families[S_NODE_FAMILIES] = {
    {"hpt_node_state", "1 for each node in its connection state and drain state.",
     "node,state,drain"},
    {"hpt_node_heartbeat_age_seconds", "Seconds since the node's agent was last heard from.",
     "node"},
    {"hpt_node_cpus", "CPUs a node offers.", "node"},
    {"hpt_node_cpus_allocated", "CPUs reserved by tasks on a node.", "node"},
    {"hpt_node_memory_bytes", "Memory a node offers.", "node"},
    {"hpt_node_memory_allocated_bytes", "Memory reserved by tasks on a node.", "node"},
    {"hpt_node_accelerators", "Accelerators a node offers, by type.", "node,type"},
    {"hpt_node_accelerators_allocated", "Accelerators reserved by tasks on a node, by type.",
     "node,type"},
    {"hpt_node_tasks", "Tasks placed on a node and not exited.", "node"},
};

//  Accelerators of one type on a node, offered (or reserved): a sample
//  per type, at its first accelerator.
static void
s_node_accels (FILE *out, s_node_family_t f, hpt_host_t *node)
{
    for (size_t a = 0; a < node->accel_count; a++) {
        const char *type = node->accels[a].type;
        double value = 0;
        bool first = true;
        for (size_t b = 0; b < node->accel_count; b++) {
            if (strcmp (node->accels[b].type, type) != 0) continue;
            if (b < a) first = false;
            value += f == S_NODE_ACCELS_USED ? node->accels[b].used : 1;
        }
        if (first)
            hpt_prom_stream_sample (out, s_node_families[f].name, s_node_families[f].labels, value,
                                    node->name, type);
    }
}

//  One node's sample of family f: its value (false: none, e.g. a node
//  never heard from has no heartbeat age).
static bool
s_node_value (s_node_family_t f, hpt_host_t *node, int64_t now_ms, double *value)
{
    switch (f) {
        case S_NODE_AGE:
            *value = (double)(now_ms - node->last_seen) / 1000.0;
            return node->last_seen > 0;
        case S_NODE_CPUS:
            *value = node->cpus;
            return true;
        case S_NODE_CPUS_USED:
            *value = node->used_cpus;
            return true;
        case S_NODE_MEMORY:
            *value = (double)node->memory_mb * 1048576.0;
            return true;
        case S_NODE_MEMORY_USED:
            *value = (double)node->used_memory_mb * 1048576.0;
            return true;
        default:
            *value = (double)node->running_tasks;
            return true;
    }
}

//  One node's sample(s) of family f.
static void
s_node_sample (FILE *out, s_node_family_t f, hpt_host_t *node, int64_t now_ms)
{
    const char *name = s_node_families[f].name, *labels = s_node_families[f].labels;
    double value;
    if (f == S_NODE_STATE)
        hpt_prom_stream_sample (out, name, labels, 1, node->name, hpt_host_state_name (node->state),
                                hpt_drain_state_name (node->drain));
    else if (f == S_NODE_ACCELS || f == S_NODE_ACCELS_USED)
        s_node_accels (out, f, node);
    else if (s_node_value (f, node, now_ms, &value))
        hpt_prom_stream_sample (out, name, labels, value, node->name);
}

static void
s_node_gauges (FILE *out, hpt_core_t *core, int64_t now_ms)
{
    size_t count;
    hpt_host_t **nodes = hpt_core_nodes (core, &count);
    for (int f = 0; f < S_NODE_FAMILIES; f++) {
        hpt_prom_stream_family (out, s_node_families[f].name, s_node_families[f].help, "gauge");
        for (size_t i = 0; i < count; i++)
            s_node_sample (out, (s_node_family_t)f, nodes[i], now_ms);
    }
}

static void
s_agents_ready (hpt_prom_t *scratch, hpt_core_t *core)
{
    size_t count, connected = 0;
    hpt_host_t **nodes = hpt_core_nodes (core, &count);
    for (size_t i = 0; i < count; i++)
        connected += nodes[i]->state == HPT_HOST_READY;
    hpt_prom_set (hpt_prom_gauge (scratch, "hpt_agents_ready", "Agents connected.", NULL),
                  (double)connected);
}

//  How the loop kept up: stalls forgiven to the agents, rounds too busy
//  to judge silence, agents lost (docs/durability.md, "Liveness by
//  arrival").
static void
s_loop_counters (hpt_prom_t *r, const hpt_core_loop_figures_t *loop)
{
    hpt_prom_family_t *family = hpt_prom_counter (
        r, "hpt_loop_stalls_total",
        "Heartbeat rounds that found the loop held past an interval (that time is not counted as "
        "the agents' silence).",
        NULL);
    hpt_prom_touch (family);
    hpt_prom_add (family, (double)loop->stalls);
    family =
        hpt_prom_counter (r, "hpt_loop_stalled_seconds_total",
                          "The time the loop was held past its heartbeat rounds, in all.", NULL);
    hpt_prom_touch (family);
    hpt_prom_add (family, loop->stalled_s);
    family = hpt_prom_counter (r, "hpt_agents_lost_total",
                               "Agents declared LOST since the master started.", NULL);
    hpt_prom_touch (family);
    hpt_prom_add (family, (double)loop->agents_lost);
    family = hpt_prom_counter (r, "hpt_loop_rounds_behind_total",
                               "Heartbeat rounds that could not handle every queued agent frame in "
                               "half an interval, and so judged no agent silent.",
                               NULL);
    hpt_prom_touch (family);
    hpt_prom_add (family, (double)loop->rounds_behind);
}

static void
s_health_gauges (hpt_prom_t *r, hpt_master_metrics_t *self, hpt_core_t *core)
{
    hpt_prom_set (hpt_prom_gauge (r, "hpt_build_info",
                                  "1, labelled with the version of this hptmaster.", "version"),
                  1, HPT_VERSION);
    hpt_prom_set (hpt_prom_gauge (r, "hpt_master_start_time_seconds",
                                  "When this master started (epoch seconds).", NULL),
                  self->started);
    hpt_prom_set (hpt_prom_gauge (r, "hpt_store_healthy",
                                  "1 when the master can write its store, 0 while it cannot (it "
                                  "then changes nothing).",
                                  NULL),
                  hpt_core_store_ok (core) ? 1 : 0);
    //  The standard names of Prometheus's process collectors: how close
    //  the master is to its open-file limit (it refuses new agents within
    //  a reserve of it, hpt_agents_refused_total{reason="fd_limit"}).
    int64_t open_fds = hpt_fdlimit_open ();
    if (open_fds >= 0)
        hpt_prom_set (hpt_prom_gauge (r, "process_open_fds", "File descriptors open.", NULL),
                      (double)open_fds);
    hpt_prom_set (hpt_prom_gauge (r, "process_max_fds",
                                  "The open-file limit (soft RLIMIT_NOFILE; 0: unlimited).", NULL),
                  (double)hpt_fdlimit_soft ());
    hpt_prom_set (hpt_prom_gauge (r, "hpt_suggester_models",
                                  "Jobs whose optimizer (its fitted model) the suggester thread "
                                  "holds in memory.",
                                  NULL),
                  (double)hpt_core_suggester_models (core));
    hpt_core_loop_figures_t loop;
    hpt_core_loop_figures (core, &loop);
    hpt_prom_set (hpt_prom_gauge (r, "hpt_loop_busy_max_seconds",
                                  "The longest the master's loop spent on one event (an API "
                                  "request, an agent message, a timer round) since it started.",
                                  NULL),
                  loop.busy_max_s);
    hpt_prom_set (hpt_prom_gauge (r, "hpt_agent_silence_max_seconds",
                                  "The longest a connected agent went unheard, between two of "
                                  "its messages as the master's loop saw them, since the master "
                                  "started.",
                                  NULL),
                  loop.silence_max_s);
    hpt_prom_set (hpt_prom_gauge (r, "hpt_agent_frame_wait_max_seconds",
                                  "The longest an agent frame waited between its arrival and its "
                                  "handling (an upper bound), since the master started.",
                                  NULL),
                  loop.frame_wait_max_s);
    s_loop_counters (r, &loop);
}

static void
s_drop_counters (hpt_prom_t *r, hpt_master_metrics_t *self, hpt_prom_t *scratch_so_far,
                 hpt_core_t *core)
{
    hpt_prom_add (hpt_prom_counter (r, "hpt_agent_messages_dropped_total",
                                    "Malformed or unexpected agent messages dropped.", NULL),
                  (double)hpt_core_dropped_messages (core));
    hpt_prom_family_t *by_kind =
        hpt_prom_counter (r, "hpt_proto_dropped_total", "Agent messages dropped, by kind.", "kind");
    zhashx_t *kinds = hpt_core_dropped_by_kind (core);
    for (uint64_t *n = zhashx_first (kinds); n; n = zhashx_next (kinds))
        hpt_prom_add (by_kind, (double)*n, (const char *)zhashx_cursor (kinds));
    uint64_t handshakes[3], refused;
    hpt_core_security_counts (core, handshakes, &refused);
    hpt_prom_family_t *failed = hpt_prom_counter (
        r, "hpt_agent_handshakes_failed_total",
        "Connections to the agents endpoint that failed the CURVE handshake, by reason.", "reason");
    const char *reasons[] = {"auth", "protocol", "other"};
    for (int i = 0; i < 3; i++)
        hpt_prom_add (failed, (double)handshakes[i], reasons[i]);
    hpt_prom_family_t *keys =
        hpt_prom_counter (r, "hpt_agent_keys_refused_total",
                          "Connections whose CURVE key is not in agentCerts.", NULL);
    hpt_prom_touch (keys);
    hpt_prom_add (keys, (double)refused);
    hpt_prom_family_t *dropped =
        hpt_prom_counter (r, "hpt_metrics_series_dropped_total",
                          "Metric series not kept because their family was full.", NULL);
    hpt_prom_touch (dropped);
    hpt_prom_add (dropped, (double)(hpt_prom_series_dropped (self->registry) +
                                    hpt_prom_series_dropped (scratch_so_far)));
}

char *
hpt_master_metrics_render (hpt_master_metrics_t *self, hpt_core_t *core)
{
    struct timespec now;
    clock_gettime (CLOCK_REALTIME, &now);
    int64_t now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    hpt_prom_t *scratch = hpt_prom_new ();
    s_health_gauges (scratch, self, core);
    s_job_gauges (scratch, core);
    s_agents_ready (scratch, core);
    s_drop_counters (scratch, self, scratch, core);
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    hpt_prom_render (scratch, out);
    s_node_gauges (out, core, now_ms);
    hpt_prom_render (self->registry, out);
    fclose (out);
    hpt_prom_destroy (&scratch);
    return text;
}
