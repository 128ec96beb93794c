/*  hpt-bench agents -- one master and a fleet of fake agents

    Starts a real hptmaster alone (state under $TMPDIR, default /tmp) and
    COUNT fake agents in this process (bench_swarm: HPT/2 through the
    project's codec, one DEALER each, one CPU each), all connecting at
    once: a registration storm. Then, in order:

    1. registration: time until every agent was welcomed, the master's
       RSS right after;
    2. idle: SECONDS with every agent heartbeating and no API request:
       the master's CPU (% of one core); then SECONDS more with GET
       /v1/nodes (first page) and GET /metrics latencies sampled every
       100 ms, RSS at the end;
    3. with --job TRIALS: one job of TRIALS trials, PARALLEL at a time,
       each a pretend task of TRIAL_MS on one agent, of four DOUBLE
       parameters (bench_swarm_objective, MINIMIZE), with the algorithm
       asked. Prints the POST's latency, trials/s (submission to the job's
       end), succeeded and failed trials, agents lost (told NOT_REGISTERED
       after their welcome), the master's CPU, GET of the job (with all
       its trials) every 25 ms while it runs (p50, p99, max), the time
       from an agent's event to its ACK (p50/p99/max), the longest any
       agent heard nothing from the master, the master's own loop
       figures from /metrics (with the
       bound on how long agent frames waited to be handled: how many may
       have waited over 100 ms, and the longest), and RSS.

    4. with --soak MINUTES (and --job): jobs like the measured one back
       to back for MINUTES more, the master's RSS sampled every 10 s;
       prints the jobs and trials run, RSS at the soak's first sample,
       its highest and its last, and the master's CPU over the soak; then
       the time of a GET of the measured job (finished long before) and
       how many jobs have their trials in memory (hpt_jobs_resident).

    With --baseline DIR the same run is first made with DIR/hptmaster
    (another build, e.g. of main), and both are printed side by side.

    hpt-bench agents --count N [--seconds S] [--job TRIALS [--parallel P]
                     [--trial-ms MS] [--algorithm gp|random] [--soak MINUTES]]
                     [--heartbeat MS] [--agent-timeout MS] [--baseline DIR] [--json]
*/
#include "bench_cluster.h"
#include "bench_swarm.h"
#include "hpt_prom.h"
#include <czmq.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

typedef struct {
    int count;             //  agents
    int seconds;           //  idle window
    int trials;            //  job size, 0: no job
    int parallel;          //  maxParallelTrials
    int trial_ms;          //  pretend task length
    const char *algorithm; //  AI Platform's name
    int heartbeat_ms;      //  master.heartbeatInterval
    int timeout_ms;        //  master.agentTimeout
    int soak_minutes;      //  jobs back to back after the measured one, 0: none
    const char *baseline;  //  directory of another hptmaster, or NULL
    bool json;             //  one JSON object
} s_options_t;

//  Latency samples of one kind of request.
typedef struct {
    double *ms;   //  samples
    size_t count; //  held
    size_t cap;   //  allocated
    int failed;   //  requests without a 200
} s_samples_t;

//  Agent frames (or heartbeats alone) by how long they may have waited
//  (the cumulative buckets of hpt_agent_frame_wait_seconds, or of
//  hpt_agent_heartbeat_wait_seconds), over one phase of the run.
#define S_WAIT_BUCKETS 15
typedef struct {
    double frames;                 //  frames handled
    double within[S_WAIT_BUCKETS]; //  of them, those within each bound
} s_waits_t;

typedef struct {
    const char *master;        //  "baseline" or "this build"
    bool ok;                   //  the run completed
    double register_s;         //  storm: every agent welcomed
    double rss_storm_mb;       //  right after the storm
    double idle_cpu_pct;       //  % of one core, idle window
    double rss_idle_mb;        //  end of the idle window
    s_samples_t nodes;         //  GET /v1/nodes (idle)
    s_samples_t metrics;       //  GET /metrics (idle)
    double submit_ms;          //  POST of the job
    double job_s;              //  submission to the end
    long succeeded;            //  trials
    long failed;               //  trials
    double job_cpu_pct;        //  % of one core while the job ran
    s_samples_t job_get;       //  GET of the job while it ran
    s_samples_t job_nodes;     //  GET /v1/nodes while it ran
    bench_swarm_stats_t swarm; //  at the end
    double busy_max_s;         //  hpt_loop_busy_max_seconds
    double silence_max_s;      //  hpt_agent_silence_max_seconds
    s_waits_t waits[3];        //  frames' waits: the storm, the idle window, the job and soak
    s_waits_t beats[3];        //  the same for heartbeats alone
    long soak_jobs;            //  jobs submitted during the soak
    long soak_succeeded;       //  trials that succeeded during the soak
    long soak_failed;          //  trials that failed during the soak
    double soak_rss_first_mb;  //  RSS at the soak's first sample
    double soak_rss_max_mb;    //  its highest sample
    double soak_rss_last_mb;   //  its last sample
    double soak_cpu_pct;       //  % of one core over the soak
    double soak_old_get_ms;    //  GET of the measured job after the soak (long finished)
    double soak_resident;      //  jobs whose trials are in memory after it (NAN: no such gauge)
    double rss_end_mb;         //  at the end
    double hwm_mb;             //  peak RSS
} s_result_t;

static void
s_sample (s_samples_t *s, double ms, bool ok)
{
    if (!ok) {
        s->failed++;
        return;
    }
    if (s->count == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 256;
        s->ms = realloc (s->ms, s->cap * sizeof (double));
    }
    s->ms[s->count++] = ms;
}

static int
s_compare (const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double
s_pct (s_samples_t *s, double p)
{
    if (!s->count) return NAN;
    qsort (s->ms, s->count, sizeof (double), s_compare);
    return s->ms[(size_t)ceil (p * (double)s->count) - 1 < s->count
                     ? (size_t)ceil (p * (double)s->count) - 1
                     : s->count - 1];
}

//  VmRSS or VmHWM of pid in MB.
static double
s_memory_mb (pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf (path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *file = fopen (path, "r");
    double kb = 0;
    size_t len = strlen (field);
    while (file && fgets (line, sizeof line, file))
        if (strncmp (line, field, len) == 0 && line[len] == ':') kb = atof (line + len + 1);
    if (file) fclose (file);
    return kb / 1024.0;
}

//  Times one GET; returns its body (caller frees) when it answered 200.
static char *
s_get (bench_cluster_t *cluster, const char *path, s_samples_t *samples)
{
    char *body = NULL;
    int64_t t0 = zclock_usecs ();
    int status = bench_cluster_http (cluster, "GET", path, NULL, &body, NULL);
    if (samples) s_sample (samples, (double)(zclock_usecs () - t0) / 1e3, status == 200);
    if (status != 200) {
        free (body);
        return NULL;
    }
    return body;
}

//  A gauge or counter of /metrics text (the first line that starts with
//  name), or NAN.
static double
s_metric (const char *text, const char *name)
{
    size_t len = strlen (name);
    for (const char *line = text; line && *line; line = strchr (line, '\n')) {
        if (*line == '\n') line++;
        if (strncmp (line, name, len) == 0 && line[len] == ' ') return atof (line + len + 1);
    }
    return NAN;
}

//  The waits so far of family's frames, from metrics (/metrics; NAN
//  where the master has no such family).
static void
s_waits_of (const char *metrics, const char *family, s_waits_t *w)
{
    char *name = zsys_sprintf ("%s_count", family);
    w->frames = metrics ? s_metric (metrics, name) : NAN;
    zstr_free (&name);
    for (size_t b = 0; b < S_WAIT_BUCKETS; b++) {
        name = zsys_sprintf ("%s_bucket{le=\"%g\"}", family, hpt_prom_latency_buckets[b]);
        w->within[b] = metrics ? s_metric (metrics, name) : NAN;
        zstr_free (&name);
    }
}

//  The waits so far of all frames and of heartbeats alone.
static void
s_waits_now (bench_cluster_t *cluster, s_waits_t *frames, s_waits_t *beats)
{
    char *metrics = s_get (cluster, "/metrics", NULL);
    s_waits_of (metrics, "hpt_agent_frame_wait_seconds", frames);
    s_waits_of (metrics, "hpt_agent_heartbeat_wait_seconds", beats);
    free (metrics);
}

//  What happened between two snapshots: *w = later - *w.
static void
s_waits_since (s_waits_t *w, const s_waits_t *later)
{
    w->frames = later->frames - w->frames;
    for (size_t b = 0; b < S_WAIT_BUCKETS; b++)
        w->within[b] = later->within[b] - w->within[b];
}

//  Frames of a phase that may have waited longer than 100 ms.
static double
s_waits_late (const s_waits_t *w)
{
    for (size_t b = 0; b < S_WAIT_BUCKETS; b++)
        if (hpt_prom_latency_buckets[b] == 0.1) return w->frames - w->within[b];
    return NAN;
}

//  The least bound no frame of the phase may have waited past, in ms
//  (NAN without figures).
static double
s_waits_worst_ms (const s_waits_t *w)
{
    for (size_t b = 0; b < S_WAIT_BUCKETS; b++)
        if (w->frames > 0 && w->within[b] >= w->frames) return hpt_prom_latency_buckets[b] * 1e3;
    return NAN;
}

static char *
s_job_text (const s_options_t *o, const char *job_id)
{
    return zsys_sprintf (
        "{\"jobId\": \"%s\", \"trainingInput\": {\"command\": [\"/bin/true\"], "
        "\"hyperparameters\": {\"goal\": \"MINIMIZE\", \"hyperparameterMetricTag\": \"m\", "
        "\"maxTrials\": %d, \"maxParallelTrials\": %d, \"maxFailedTrials\": %d, "
        "\"algorithm\": \"%s\", \"params\": ["
        "{\"parameterName\": \"x0\", \"type\": \"DOUBLE\", \"minValue\": 0, \"maxValue\": 1}, "
        "{\"parameterName\": \"x1\", \"type\": \"DOUBLE\", \"minValue\": 0, \"maxValue\": 1}, "
        "{\"parameterName\": \"x2\", \"type\": \"DOUBLE\", \"minValue\": 0, \"maxValue\": 1}, "
        "{\"parameterName\": \"x3\", \"type\": \"DOUBLE\", \"minValue\": 0, \"maxValue\": 1}]}}}",
        job_id, o->trials, o->parallel, o->trials, o->algorithm);
}

//  Waits until every agent was welcomed (at most 120 s).
static bool
s_wait_registered (bench_swarm_t *swarm, int count, double *seconds)
{
    int64_t t0 = zclock_mono ();
    bench_swarm_stats_t stats;
    do {
        zclock_sleep (50);
        bench_swarm_stats (swarm, &stats);
    } while (stats.registered < count && zclock_mono () - t0 < 120000);
    *seconds = (double)(zclock_mono () - t0) / 1e3;
    return stats.registered >= count;
}

static void
s_idle (bench_cluster_t *cluster, const s_options_t *o, s_result_t *r)
{
    pid_t pid = bench_cluster_master_pid (cluster);
    //  CPU first, with nothing but heartbeats: the API sampling below
    //  (a /metrics render every 100 ms, where Prometheus would scrape
    //  every 15 s or more) would otherwise be most of what it measures.
    double cpu0 = bench_cpu_seconds (pid);
    int64_t t0 = zclock_mono ();
    zclock_sleep (o->seconds * 1000);
    double wall = (double)(zclock_mono () - t0) / 1e3;
    r->idle_cpu_pct = 100.0 * (bench_cpu_seconds (pid) - cpu0) / wall;
    t0 = zclock_mono ();
    while (zclock_mono () - t0 < (int64_t)o->seconds * 1000) {
        free (s_get (cluster, "/v1/nodes", &r->nodes));
        free (s_get (cluster, "/metrics", &r->metrics));
        zclock_sleep (100);
    }
    r->rss_idle_mb = s_memory_mb (pid, "VmRSS");
}

//  Counts the trials of a state in /metrics text.
static long
s_trials (const char *metrics, const char *state)
{
    char *name = zsys_sprintf ("hpt_trials{state=\"%s\"}", state);
    double v = s_metric (metrics, name);
    zstr_free (&name);
    return isnan (v) ? 0 : (long)v;
}

//  Whether the Job resource's own state (not a trial's) is final.
static bool
s_job_ended (const char *body)
{
    json_t *job = json_loads (body, 0, NULL);
    const char *state = json_string_value (json_object_get (job, "state"));
    bool ended = state && (strcmp (state, "SUCCEEDED") == 0 || strcmp (state, "FAILED") == 0 ||
                           strcmp (state, "CANCELLED") == 0);
    json_decref (job);
    return ended;
}

static bool
s_job (bench_cluster_t *cluster, bench_swarm_t *swarm, const s_options_t *o, s_result_t *r)
{
    pid_t pid = bench_cluster_master_pid (cluster);
    bench_swarm_reset (swarm);
    char *job = s_job_text (o, "swarm");
    char *reply = NULL;
    double cpu0 = bench_cpu_seconds (pid);
    int64_t t0 = zclock_usecs ();
    int status = bench_cluster_http (cluster, "POST", "/v1/projects/bench/jobs", job, &reply, NULL);
    r->submit_ms = (double)(zclock_usecs () - t0) / 1e3;
    zstr_free (&job);
    if (status != 200) {
        fprintf (stderr, "hpt-bench agents: submission refused (%d): %s\n", status,
                 reply ? reply : "");
        free (reply);
        return false;
    }
    free (reply);
    //  The job every 25 ms, so that its p99 is one of a few hundred
    //  samples, not their maximum; the nodes every 100 ms as before.
    bool ended = false;
    for (long polls = 0; !ended && zclock_usecs () - t0 < 600 * 1000000LL; polls++) {
        zclock_sleep (25);
        char *body = s_get (cluster, "/v1/projects/bench/jobs/swarm", &r->job_get);
        ended = body && s_job_ended (body);
        free (body);
        if (polls % 4 == 3) free (s_get (cluster, "/v1/nodes", &r->job_nodes));
    }
    r->job_s = (double)(zclock_usecs () - t0) / 1e6;
    r->job_cpu_pct = 100.0 * (bench_cpu_seconds (pid) - cpu0) / r->job_s;
    return ended;
}

//  Succeeded and failed trials of every job so far, from /metrics.
static void
s_trial_totals (bench_cluster_t *cluster, long *succeeded, long *failed)
{
    char *metrics = s_get (cluster, "/metrics", NULL);
    *succeeded = metrics ? s_trials (metrics, "SUCCEEDED") : 0;
    *failed = metrics ? s_trials (metrics, "FAILED") : 0;
    free (metrics);
}

//  One RSS sample of the soak.
static void
s_soak_sample (pid_t pid, s_result_t *r)
{
    double rss = s_memory_mb (pid, "VmRSS");
    if (isnan (r->soak_rss_first_mb)) r->soak_rss_first_mb = rss;
    r->soak_rss_max_mb = isnan (r->soak_rss_max_mb) ? rss : fmax (r->soak_rss_max_mb, rss);
    r->soak_rss_last_mb = rss;
}

//  --soak: jobs like the measured one back to back, RSS every 10 s.
static bool
s_soak (bench_cluster_t *cluster, const s_options_t *o, s_result_t *r)
{
    pid_t pid = bench_cluster_master_pid (cluster);
    long succeeded0, failed0;
    s_trial_totals (cluster, &succeeded0, &failed0);
    double cpu0 = bench_cpu_seconds (pid);
    int64_t t0 = zclock_mono (), next_sample = t0, end = t0 + o->soak_minutes * 60000LL;
    r->soak_rss_first_mb = r->soak_rss_max_mb = r->soak_rss_last_mb = NAN;
    char job_id[32] = "";
    bool running = false, ok = true;
    while (ok && zclock_mono () < end) {
        if (!running) {
            snprintf (job_id, sizeof job_id, "soak_%ld", ++r->soak_jobs);
            char *job = s_job_text (o, job_id), *reply = NULL;
            int status =
                bench_cluster_http (cluster, "POST", "/v1/projects/bench/jobs", job, &reply, NULL);
            ok = running = status == 200;
            if (!ok) fprintf (stderr, "hpt-bench agents: soak job refused (%d)\n", status);
            zstr_free (&job);
            free (reply);
            if (!ok) break;
        }
        zclock_sleep (1000);
        char *path = zsys_sprintf ("/v1/projects/bench/jobs/%s", job_id);
        char *body = s_get (cluster, path, NULL);
        running = !(body && s_job_ended (body));
        free (body);
        zstr_free (&path);
        if (zclock_mono () >= next_sample) {
            s_soak_sample (pid, r);
            next_sample += 10000;
        }
    }
    double wall = (double)(zclock_mono () - t0) / 1e3;
    r->soak_cpu_pct = 100.0 * (bench_cpu_seconds (pid) - cpu0) / wall;
    //  The measured job, finished jobs ago: a master that evicts finished
    //  jobs reads it back from its store for this.
    int64_t get0 = zclock_usecs ();
    free (s_get (cluster, "/v1/projects/bench/jobs/swarm", NULL));
    r->soak_old_get_ms = (double)(zclock_usecs () - get0) / 1e3;
    char *metrics = s_get (cluster, "/metrics", NULL);
    r->soak_resident = metrics ? s_metric (metrics, "hpt_jobs_resident") : NAN;
    free (metrics);
    s_trial_totals (cluster, &r->soak_succeeded, &r->soak_failed);
    r->soak_succeeded -= succeeded0;
    r->soak_failed -= failed0;
    return ok;
}

static void
s_finish (bench_cluster_t *cluster, bench_swarm_t *swarm, s_result_t *r)
{
    pid_t pid = bench_cluster_master_pid (cluster);
    char *metrics = s_get (cluster, "/metrics", NULL);
    if (metrics) {
        r->busy_max_s = s_metric (metrics, "hpt_loop_busy_max_seconds");
        r->silence_max_s = s_metric (metrics, "hpt_agent_silence_max_seconds");
    }
    free (metrics);
    bench_swarm_stats (swarm, &r->swarm);
    r->rss_end_mb = s_memory_mb (pid, "VmRSS");
    r->hwm_mb = s_memory_mb (pid, "VmHWM");
}

static void
s_run (const s_options_t *o, const char *master_bin, s_result_t *r)
{
    char *lines = zsys_sprintf ("  heartbeatInterval: %dms\n  agentTimeout: %dms\n"
                                "  maxAgents: %d\n",
                                o->heartbeat_ms, o->timeout_ms, o->count + 16);
    bench_cluster_t *cluster = bench_cluster_new_master ("hpt-bench agents", lines, master_bin);
    zstr_free (&lines);
    if (!cluster) return;
    char *endpoint = bench_cluster_agents_endpoint (cluster);
    bench_swarm_config_t config = {o->count, endpoint, 1, o->trial_ms, "fake", 0};
    bench_swarm_t *swarm = bench_swarm_new (&config);
    r->ok = s_wait_registered (swarm, o->count, &r->register_s);
    if (!r->ok) fprintf (stderr, "hpt-bench agents: not every agent was welcomed within 120 s\n");
    r->rss_storm_mb = s_memory_mb (bench_cluster_master_pid (cluster), "VmRSS");
    s_waits_t after_storm, after_idle, end, beats_storm, beats_idle, beats_end;
    s_waits_now (cluster, &after_storm, &beats_storm);
    if (r->ok) s_idle (cluster, o, r);
    s_waits_now (cluster, &after_idle, &beats_idle);
    if (r->ok && o->trials) r->ok = s_job (cluster, swarm, o, r);
    if (r->ok && o->trials) s_trial_totals (cluster, &r->succeeded, &r->failed);
    if (r->ok && o->trials && o->soak_minutes) r->ok = s_soak (cluster, o, r);
    s_waits_now (cluster, &end, &beats_end);
    r->waits[0] = after_storm;
    r->waits[1] = after_storm;
    s_waits_since (&r->waits[1], &after_idle);
    r->waits[2] = after_idle;
    s_waits_since (&r->waits[2], &end);
    r->beats[0] = beats_storm;
    r->beats[1] = beats_storm;
    s_waits_since (&r->beats[1], &beats_idle);
    r->beats[2] = beats_idle;
    s_waits_since (&r->beats[2], &beats_end);
    s_finish (cluster, swarm, r);
    bench_swarm_destroy (&swarm);
    zstr_free (&endpoint);
    bench_cluster_destroy (&cluster, !r->ok);
}

//  ---------------------------------------------------------------------
//  Output

#define S_ROWS(X)                                                                                  \
    X ("register_s", "registration storm, s", r->register_s)                                       \
    X ("rss_storm_mb", "RSS after the storm, MB", r->rss_storm_mb)                                 \
    X ("idle_cpu_pct", "idle: master CPU, % of a core", r->idle_cpu_pct)                           \
    X ("rss_idle_mb", "idle: RSS, MB", r->rss_idle_mb)                                             \
    X ("nodes_p50_ms", "idle: GET /v1/nodes p50, ms", s_pct (&r->nodes, 0.5))                      \
    X ("nodes_p99_ms", "idle: GET /v1/nodes p99, ms", s_pct (&r->nodes, 0.99))                     \
    X ("metrics_p50_ms", "idle: GET /metrics p50, ms", s_pct (&r->metrics, 0.5))                   \
    X ("metrics_p99_ms", "idle: GET /metrics p99, ms", s_pct (&r->metrics, 0.99))

#define S_JOB_ROWS(X)                                                                              \
    X ("submit_ms", "job: POST answered, ms", r->submit_ms)                                        \
    X ("job_s", "job: submission to end, s", r->job_s)                                             \
    X ("trials_per_s", "job: trials/s", r->job_s > 0 ? (double)o->trials / r->job_s : NAN)         \
    X ("succeeded", "job: trials succeeded", (double)r->succeeded)                                 \
    X ("failed", "job: trials failed", (double)r->failed)                                          \
    X ("agents_lost", "agents lost (NOT_REGISTERED after WELCOME)", (double)r->swarm.lost)         \
    X ("not_registered", "NOT_REGISTERED received", (double)r->swarm.not_registered)               \
    X ("welcomes", "WELCOMEs received", (double)r->swarm.welcomes)                                 \
    X ("job_cpu_pct", "job: master CPU, % of a core", r->job_cpu_pct)                              \
    X ("job_get_p50_ms", "job: GET of the job p50, ms", s_pct (&r->job_get, 0.5))                  \
    X ("job_get_p99_ms", "job: GET of the job p99, ms", s_pct (&r->job_get, 0.99))                 \
    X ("job_get_max_ms", "job: GET of the job max, ms", s_pct (&r->job_get, 1.0))                  \
    X ("job_gets", "job: GETs of the job", (double)r->job_get.count)                               \
    X ("job_nodes_p99_ms", "job: GET /v1/nodes p99, ms", s_pct (&r->job_nodes, 0.99))              \
    X ("ack_p50_ms", "job: event -> ACK p50, ms", r->swarm.ack_p50_ms)                             \
    X ("ack_p99_ms", "job: event -> ACK p99, ms", r->swarm.ack_p99_ms)                             \
    X ("ack_max_ms", "job: event -> ACK max, ms", r->swarm.ack_max_ms)                             \
    X ("master_silence_max_ms", "job: longest master silence at an agent, ms",                     \
       r->swarm.master_silence_max_ms)

#define S_SOAK_ROWS(X)                                                                             \
    X ("soak_jobs", "soak: jobs", (double)r->soak_jobs)                                            \
    X ("soak_succeeded", "soak: trials succeeded", (double)r->soak_succeeded)                      \
    X ("soak_failed", "soak: trials failed", (double)r->soak_failed)                               \
    X ("soak_cpu_pct", "soak: master CPU, % of a core", r->soak_cpu_pct)                           \
    X ("soak_rss_first_mb", "soak: RSS at the first sample, MB", r->soak_rss_first_mb)             \
    X ("soak_rss_max_mb", "soak: highest RSS, MB", r->soak_rss_max_mb)                             \
    X ("soak_rss_last_mb", "soak: RSS at the last sample, MB", r->soak_rss_last_mb)                \
    X ("soak_old_get_ms", "soak: GET of the first job afterwards, ms", r->soak_old_get_ms)         \
    X ("soak_resident", "soak: jobs with their trials in memory", r->soak_resident)

#define S_END_ROWS(X)                                                                              \
    X ("loop_busy_max_s", "master: longest event (/metrics), s", r->busy_max_s)                    \
    X ("agent_silence_max_s", "master: longest agent silence (/metrics), s", r->silence_max_s)     \
    X ("storm_frames_late", "storm: agent frames that may have waited > 100 ms",                   \
       s_waits_late (&r->waits[0]))                                                                \
    X ("storm_wait_worst_ms", "storm: no frame waited more than, ms",                              \
       s_waits_worst_ms (&r->waits[0]))                                                            \
    X ("idle_frames", "idle: agent frames handled", r->waits[1].frames)                            \
    X ("idle_frames_late", "idle: frames that may have waited > 100 ms",                           \
       s_waits_late (&r->waits[1]))                                                                \
    X ("idle_wait_worst_ms", "idle: no frame waited more than, ms",                                \
       s_waits_worst_ms (&r->waits[1]))                                                            \
    X ("job_frames", "job: agent frames handled", r->waits[2].frames)                              \
    X ("job_frames_late", "job: frames that may have waited > 100 ms",                             \
       s_waits_late (&r->waits[2]))                                                                \
    X ("job_wait_worst_ms", "job: no frame waited more than, ms", s_waits_worst_ms (&r->waits[2])) \
    X ("storm_beats_late", "storm: heartbeats that may have waited > 100 ms",                      \
       s_waits_late (&r->beats[0]))                                                                \
    X ("storm_beat_worst_ms", "storm: no heartbeat waited more than, ms",                          \
       s_waits_worst_ms (&r->beats[0]))                                                            \
    X ("idle_beats_late", "idle: heartbeats that may have waited > 100 ms",                        \
       s_waits_late (&r->beats[1]))                                                                \
    X ("idle_beat_worst_ms", "idle: no heartbeat waited more than, ms",                            \
       s_waits_worst_ms (&r->beats[1]))                                                            \
    X ("job_beats_late", "job: heartbeats that may have waited > 100 ms",                          \
       s_waits_late (&r->beats[2]))                                                                \
    X ("job_beat_worst_ms", "job: no heartbeat waited more than, ms",                              \
       s_waits_worst_ms (&r->beats[2]))                                                            \
    X ("rss_end_mb", "RSS at the end, MB", r->rss_end_mb)                                          \
    X ("rss_peak_mb", "peak RSS (VmHWM), MB", r->hwm_mb)

static void
s_print_json (const s_options_t *o, s_result_t *runs, size_t n)
{
    printf ("{\"count\": %d, \"seconds\": %d, \"trials\": %d, \"parallel\": %d, \"trial_ms\": %d, "
            "\"algorithm\": \"%s\", \"runs\": [",
            o->count, o->seconds, o->trials, o->parallel, o->trial_ms, o->algorithm);
    for (size_t i = 0; i < n; i++) {
        s_result_t *r = &runs[i];
        printf ("%s{\"master\": \"%s\", \"ok\": %s", i ? ", " : "", r->master,
                r->ok ? "true" : "false");
#define X_JSON(key, label, value)                                                                  \
    if (isfinite (value)) printf (", \"%s\": %.3f", key, (double)(value));
        S_ROWS (X_JSON)
        if (o->trials) {
            S_JOB_ROWS (X_JSON)
        }
        if (o->soak_minutes) {
            S_SOAK_ROWS (X_JSON)
        }
        S_END_ROWS (X_JSON)
        printf ("}");
    }
    printf ("]}\n");
}

static void
s_print_text (const s_options_t *o, s_result_t *runs, size_t n)
{
    printf ("%d fake agents, heartbeat %d ms, idle %d s", o->count, o->heartbeat_ms, o->seconds);
    if (o->trials)
        printf ("; job: %d trials, %d parallel, %d ms each, %s", o->trials, o->parallel,
                o->trial_ms, o->algorithm);
    printf ("\n%-46s", "");
    for (size_t i = 0; i < n; i++)
        printf (" %14s", runs[i].master);
    printf ("\n");
#define X_TEXT(key, label, value)                                                                  \
    printf ("%-46s", label);                                                                       \
    for (size_t i = 0; i < n; i++) {                                                               \
        s_result_t *r = &runs[i];                                                                  \
        printf (" %14.3f", (double)(value));                                                       \
    }                                                                                              \
    printf ("\n");
    S_ROWS (X_TEXT)
    if (o->trials) {
        S_JOB_ROWS (X_TEXT)
    }
    if (o->soak_minutes) {
        S_SOAK_ROWS (X_TEXT)
    }
    S_END_ROWS (X_TEXT)
}

static bool
s_parse (int argc, char *argv[], s_options_t *o)
{
    for (int i = 1; i < argc; i++) {
        bool value = i + 1 < argc;
        if (strcmp (argv[i], "--count") == 0 && value)
            o->count = atoi (argv[++i]);
        else if (strcmp (argv[i], "--seconds") == 0 && value)
            o->seconds = atoi (argv[++i]);
        else if (strcmp (argv[i], "--job") == 0 && value)
            o->trials = atoi (argv[++i]);
        else if (strcmp (argv[i], "--parallel") == 0 && value)
            o->parallel = atoi (argv[++i]);
        else if (strcmp (argv[i], "--trial-ms") == 0 && value)
            o->trial_ms = atoi (argv[++i]);
        else if (strcmp (argv[i], "--heartbeat") == 0 && value)
            o->heartbeat_ms = atoi (argv[++i]);
        else if (strcmp (argv[i], "--agent-timeout") == 0 && value)
            o->timeout_ms = atoi (argv[++i]);
        else if (strcmp (argv[i], "--soak") == 0 && value)
            o->soak_minutes = atoi (argv[++i]);
        else if (strcmp (argv[i], "--baseline") == 0 && value)
            o->baseline = argv[++i];
        else if (strcmp (argv[i], "--algorithm") == 0 && value) {
            const char *a = argv[++i];
            o->algorithm = strcmp (a, "random") == 0 ? "RANDOM_SEARCH" : "ALGORITHM_UNSPECIFIED";
        } else if (strcmp (argv[i], "--json") == 0)
            o->json = true;
        else
            return false;
    }
    return o->count >= 1 && o->count <= 100000 && o->seconds >= 1 && o->trials >= 0 &&
           o->parallel >= 1 && o->trial_ms >= 0 && o->soak_minutes >= 0 &&
           (o->soak_minutes == 0 || o->trials > 0) && o->heartbeat_ms >= 1 &&
           o->timeout_ms > 2 * o->heartbeat_ms;
}

int
bench_agents (int argc, char *argv[])
{
    s_options_t o = {1000, 10, 0, 500, 1000, "ALGORITHM_UNSPECIFIED", 1000, 10000, 0, NULL, false};
    if (!s_parse (argc, argv, &o)) {
        bool help = argc > 1 && strcmp (argv[1], "--help") == 0;
        fprintf (help ? stdout : stderr,
                 "Usage: hpt-bench agents --count N [--seconds S] [--job TRIALS [--parallel P] "
                 "[--trial-ms MS] [--algorithm gp|random] [--soak MINUTES]]\n"
                 "                        [--heartbeat MS] [--agent-timeout MS] [--baseline DIR] "
                 "[--json]\n");
        return help ? 0 : 2;
    }
    //  Two descriptors per agent here (socket and mailbox), one per agent
    //  in the master, which inherits the limit.
    struct rlimit limit;
    if (getrlimit (RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit (RLIMIT_NOFILE, &limit);
    }
    zsys_set_max_sockets ((size_t)o.count + 64);
    s_result_t runs[2];
    memset (runs, 0, sizeof runs);
    size_t n = 0;
    if (o.baseline) {
        char *bin = zsys_sprintf ("%s/hptmaster", o.baseline);
        runs[n].master = "baseline";
        s_run (&o, bin, &runs[n++]);
        zstr_free (&bin);
    }
    runs[n].master = "this build";
    s_run (&o, NULL, &runs[n++]);
    if (o.json)
        s_print_json (&o, runs, n);
    else
        s_print_text (&o, runs, n);
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        ok = ok && runs[i].ok;
        free (runs[i].nodes.ms);
        free (runs[i].metrics.ms);
        free (runs[i].job_get.ms);
        free (runs[i].job_nodes.ms);
    }
    return ok ? 0 : 1;
}
