/*  hpt-bench api -- GET of a job with many metric points, and what it
    costs the master's loop

    Starts a real hptmaster (heartbeatInterval 0.5 s, agentTimeout 2 s)
    and one hptagent (bench_cluster), runs a job of T trials of
    hpt-bench-trainer (one report each), stops both daemons, inserts P
    points of the objective tag "m" per trial straight into the store (as
    the trials' master tasks, steps 1..P: what a trainer flooding metrics
    leaves behind, without waiting for it), and starts both again. Then:
      get_first_ms       the first GET of the job (the master renders it)
      get_p50_ms, p99    N more GETs in a row, each timed by the client
                         from connect to the answer's last byte
      answer_bytes       the size of one answer
      loop phase         C clients GET the job in a loop for S seconds
                         while the agent heartbeats every 0.5 s, and a
                         probe GETs /v1/nodes/bench every 100 ms:
        gets             answers the C clients got (all must be 200)
        probe_max_ms     the slowest probe: how long the API made a small
                         request wait behind the big ones
        loop_busy_max_ms the longest the master's core loop spent on one
                         event, from its /metrics
                         (hpt_loop_busy_max_seconds; -1 when the master
                         does not say)
        agent_silence_max_ms  the longest the master went without hearing
                         from the agent (hpt_agent_silence_max_seconds)
        agent_lost       whether the probe ever saw the agent not READY
    Exits 1 when a GET was not answered 200 or the agent was not READY
    throughout.

    hpt-bench api [--trials T] [--points P] [--gets N] [--clients C] [--seconds S] [--json]
*/
#include "bench_cluster.h"
#include "hpt_store.h"
#include <czmq.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_JOB_PATH "/v1/projects/bench/jobs/bench"

static int
s_compare (const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double
s_percentile (double *sorted, size_t n, double p)
{
    if (n == 0) return NAN;
    size_t i = (size_t)ceil (p * (double)n) - 1;
    return sorted[i < n ? i : n - 1];
}

//  Inserts points of tag "m" for each trial's master task, in batches of
//  one transaction each. 0, or 1 (said why) on a store error.
static int
s_insert_points (const char *dir, int trials, long points)
{
    char *db = zsys_sprintf ("%s/state/hpt.db", dir);
    hpt_error_t error;
    hpt_store_t *store = hpt_store_new (db, &error);
    zstr_free (&db);
    if (!store) {
        fprintf (stderr, "hpt-bench api: %s\n", error.message);
        return 1;
    }
    const size_t batch = 50000;
    hpt_store_metric_t *rows = calloc (batch, sizeof (hpt_store_metric_t));
    double t0 = (double)zclock_time () / 1000.0;
    int rc = 0;
    for (int t = 1; t <= trials && rc == 0; t++) {
        char *task = zsys_sprintf ("bench/%d/master/0", t);
        for (long first = 1; first <= points && rc == 0; first += (long)batch) {
            size_t n = 0;
            for (long step = first; step <= points && n < batch; step++, n++)
                rows[n] = (hpt_store_metric_t){
                    "bench", t, task, "m", step, 1.0 / (double)step, t0 + (double)step * 1e-3};
            if (hpt_store_begin (store, &error) ||
                hpt_store_metrics_append (store, rows, n, NULL, &error) ||
                hpt_store_commit (store, &error)) {
                fprintf (stderr, "hpt-bench api: %s\n", error.message);
                rc = 1;
            }
        }
        zstr_free (&task);
    }
    free (rows);
    hpt_store_destroy (&store);
    return rc;
}

//  One GET of path: milliseconds; *failed counts an answer other than 200.
static double
s_timed_get (bench_cluster_t *cluster, const char *path, size_t *size, long *failed)
{
    int64_t t0 = zclock_usecs ();
    char *reply = NULL;
    int status = bench_cluster_http (cluster, "GET", path, NULL, &reply, size);
    double ms = (double)(zclock_usecs () - t0) / 1000.0;
    free (reply);
    if (status != 200) (*failed)++;
    return ms;
}

//  One of the clients of the loop phase.
typedef struct {
    bench_cluster_t *cluster; //  where to GET
    int64_t until;            //  monotonic ms to stop at
    long gets;                //  answers
    long failed;              //  answers other than 200
} s_client_t;

static void *
s_client_run (void *arg)
{
    s_client_t *client = arg;
    while (zclock_mono () < client->until) {
        s_timed_get (client->cluster, S_JOB_PATH, NULL, &client->failed);
        client->gets++;
    }
    return NULL;
}

//  A gauge of the master's /metrics in milliseconds, -1 when absent.
static double
s_gauge_ms (bench_cluster_t *cluster, const char *name)
{
    char *text = NULL;
    double ms = -1;
    if (bench_cluster_http (cluster, "GET", "/metrics", NULL, &text, NULL) == 200) {
        char *key = zsys_sprintf ("\n%s ", name);
        const char *at = strstr (text, key);
        if (at) ms = strtod (at + strlen (key), NULL) * 1000.0;
        zstr_free (&key);
    }
    free (text);
    return ms;
}

//  What one run measured.
typedef struct {
    double first_ms;       //  the first GET
    double p50_ms, p99_ms; //  the GETs after it
    size_t bytes;          //  one answer's size
    long get_failed;       //  sequential GETs answered other than 200
    long gets, failed;     //  loop phase: answers, and those other than 200
    double probe_max_ms;   //  slowest probe of /v1/nodes/bench
    double busy_max_ms;    //  hpt_loop_busy_max_seconds
    double silence_max_ms; //  hpt_agent_silence_max_seconds
    bool lost;             //  the agent was seen not READY
} s_figures_t;

//  The sequential GETs; a failed one (e.g. 503 when the master's core
//  did not answer within the API's 10 s) counts as its time.
static void
s_sequential (bench_cluster_t *cluster, int count, s_figures_t *out)
{
    out->first_ms = s_timed_get (cluster, S_JOB_PATH, &out->bytes, &out->get_failed);
    double *ms = calloc ((size_t)count, sizeof (double));
    for (int i = 0; i < count; i++)
        ms[i] = s_timed_get (cluster, S_JOB_PATH, NULL, &out->get_failed);
    qsort (ms, (size_t)count, sizeof (double), s_compare);
    out->p50_ms = s_percentile (ms, (size_t)count, 0.50);
    out->p99_ms = s_percentile (ms, (size_t)count, 0.99);
    free (ms);
}

//  The loop phase: clients GET for seconds while the main thread probes.
static void
s_loop_phase (bench_cluster_t *cluster, int clients, int seconds, s_figures_t *out)
{
    s_client_t *state = calloc ((size_t)clients, sizeof (s_client_t));
    pthread_t *threads = calloc ((size_t)clients, sizeof (pthread_t));
    int64_t until = zclock_mono () + (int64_t)seconds * 1000;
    for (int i = 0; i < clients; i++) {
        state[i] = (s_client_t){cluster, until, 0, 0};
        pthread_create (&threads[i], NULL, s_client_run, &state[i]);
    }
    while (zclock_mono () < until) {
        int64_t t0 = zclock_usecs ();
        char *reply = NULL;
        int status = bench_cluster_http (cluster, "GET", "/v1/nodes/bench", NULL, &reply, NULL);
        double ms = (double)(zclock_usecs () - t0) / 1000.0;
        if (ms > out->probe_max_ms) out->probe_max_ms = ms;
        if (status != 200 || !strstr (reply, "\"READY\"")) out->lost = true;
        free (reply);
        zclock_sleep (100);
    }
    for (int i = 0; i < clients; i++) {
        pthread_join (threads[i], NULL);
        out->gets += state[i].gets;
        out->failed += state[i].failed;
    }
    free (threads);
    free (state);
    out->busy_max_ms = s_gauge_ms (cluster, "hpt_loop_busy_max_seconds");
    out->silence_max_ms = s_gauge_ms (cluster, "hpt_agent_silence_max_seconds");
}

static void
s_print (int trials, long points, int gets, int clients, int seconds, const s_figures_t *f,
         bool json)
{
    if (json)
        printf ("{\"trials\": %d, \"points_per_trial\": %ld, \"answer_bytes\": %zu, "
                "\"get_first_ms\": %.2f, \"gets\": %d, \"get_p50_ms\": %.2f, "
                "\"get_p99_ms\": %.2f, \"get_failed\": %ld, \"clients\": %d, \"seconds\": %d, "
                "\"loop_gets\": %ld, "
                "\"loop_failed\": %ld, \"probe_max_ms\": %.1f, \"loop_busy_max_ms\": %.1f, "
                "\"agent_silence_max_ms\": %.1f, \"agent_lost\": %s}\n",
                trials, points, f->bytes, f->first_ms, gets, f->p50_ms, f->p99_ms, f->get_failed,
                clients, seconds, f->gets, f->failed, f->probe_max_ms, f->busy_max_ms,
                f->silence_max_ms, f->lost ? "true" : "false");
    else
        printf ("api: job of %d trials x %ld points, answer %zu bytes\n"
                "  GET: first %.2f ms; next %d: p50 %.2f ms, p99 %.2f ms; %ld not 200\n"
                "  %d clients for %d s: %ld GETs (%ld failed); probe max %.1f ms; "
                "master loop busy max %.1f ms; agent silence max %.1f ms; agent %s\n",
                trials, points, f->bytes, f->first_ms, gets, f->p50_ms, f->p99_ms, f->get_failed,
                clients, seconds, f->gets, f->failed, f->probe_max_ms, f->busy_max_ms,
                f->silence_max_ms, f->lost ? "LOST (not READY at some probe)" : "READY throughout");
}

//  Makes the job: trials ended, points inserted, daemons up again.
static bench_cluster_t *
s_setup (int trials, long points)
{
    bench_cluster_t *cluster = bench_cluster_new_with (
        "hpt-bench api", 4, false, "  heartbeatInterval: 0.5s\n  agentTimeout: 2s\n", NULL);
    if (!cluster) return NULL;
    char *job = bench_cluster_job (cluster, "", trials, 4, "RANDOM_SEARCH");
    double seconds;
    bool ok = bench_cluster_run_job (cluster, "bench", job, &seconds);
    zstr_free (&job);
    bench_cluster_stop (cluster);
    ok = ok && s_insert_points (bench_cluster_dir (cluster), trials, points) == 0;
    ok = ok && bench_cluster_start (cluster);
    if (!ok) bench_cluster_destroy (&cluster, true);
    return cluster;
}

int
bench_api (int argc, char *argv[])
{
    int trials = 20, gets = 50, clients = 3, seconds = 30;
    long points = 30000;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv[i], "--trials") == 0 && i + 1 < argc)
            trials = atoi (argv[++i]);
        else if (strcmp (argv[i], "--points") == 0 && i + 1 < argc)
            points = atol (argv[++i]);
        else if (strcmp (argv[i], "--gets") == 0 && i + 1 < argc)
            gets = atoi (argv[++i]);
        else if (strcmp (argv[i], "--clients") == 0 && i + 1 < argc)
            clients = atoi (argv[++i]);
        else if (strcmp (argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = atoi (argv[++i]);
        else if (strcmp (argv[i], "--json") == 0)
            json = true;
        else {
            printf ("Usage: hpt-bench api [--trials T] [--points P] [--gets N] [--clients C]\n"
                    "                     [--seconds S] [--json]\n");
            return strcmp (argv[i], "--help") == 0 ? 0 : 2;
        }
    }
    if (trials < 1 || points < 1 || gets < 1 || clients < 0 || seconds < 0) {
        fprintf (stderr, "hpt-bench api: --trials, --points and --gets must be >= 1, --clients "
                         "and --seconds >= 0\n");
        return 2;
    }
    bench_cluster_t *cluster = s_setup (trials, points);
    if (!cluster) return 1;
    s_figures_t figures = {0};
    s_sequential (cluster, gets, &figures);
    s_loop_phase (cluster, clients, seconds, &figures);
    s_print (trials, points, gets, clients, seconds, &figures, json);
    int rc = figures.get_failed || figures.failed || figures.lost ? 1 : 0;
    bench_cluster_destroy (&cluster, rc != 0);
    return rc;
}
