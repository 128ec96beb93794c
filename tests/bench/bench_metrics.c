/*  hpt-bench metrics -- metric points per second, agent -> master -> SQLite

    Starts a real hptmaster and one hptagent on loopback (bench_cluster),
    submits one job of T trials, P in parallel, whose trainer
    (hpt-bench-trainer with BENCH_POINTS=N) prints N lines
    "m=VALUE step=K" as fast as it can; the job's metricCollector reads
    stdout, so every line is parsed by the agent, spooled, sent in METRICS
    batches, stored by the master and acknowledged. Then it stops both
    daemons and counts the points in the store. Prints:
      points_per_s   stored points / (submission to job SUCCEEDED)
      lost           T * N - stored points (must be 0)

    hpt-bench metrics [--points N] [--trials T] [--parallel P] [--curve off|on|both] [--json]

    --curve on runs the same with the agent channel under CURVE (keys
    made in the run's directory); both runs plaintext then CURVE and
    prints their ratios (throughput, CPU seconds of each daemon).
*/
#include "bench_cluster.h"
#include "hpt_store.h"
#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Points of tag "m" stored for trials 1..trials, or -1 when the store
//  cannot be read.
static long
s_stored_points (const char *dir, int trials)
{
    char *db = zsys_sprintf ("%s/state/hpt.db", dir);
    hpt_error_t error;
    hpt_store_t *store = hpt_store_new (db, &error);
    zstr_free (&db);
    if (!store) {
        fprintf (stderr, "hpt-bench metrics: %s\n", error.message);
        return -1;
    }
    long stored = 0;
    for (int t = 1; t <= trials; t++) {
        json_t *list = NULL;
        if (hpt_store_metrics_of_trial (store, "bench", t, "m", &list, &error) != 0) {
            fprintf (stderr, "hpt-bench metrics: %s\n", error.message);
            hpt_store_destroy (&store);
            return -1;
        }
        stored += (long)json_array_size (list);
        json_decref (list);
    }
    hpt_store_destroy (&store);
    return stored;
}

//  One measured run.
typedef struct {
    double seconds;    //  submission to SUCCEEDED
    double rate;       //  stored points per second
    long lost;         //  expected - stored
    double master_cpu; //  the master's CPU seconds during the run
    double agent_cpu;  //  the agent's CPU seconds during the run
} s_run_t;

//  Runs the job once on a fresh cluster (CURVE or not). 0, or 1 when the
//  cluster, the job or the count failed (its directory is kept).
static int
s_measure (long points, int trials, int parallel, bool curve, s_run_t *run)
{
    bench_cluster_t *cluster = bench_cluster_new ("hpt-bench metrics", parallel, curve);
    if (!cluster) return 1;
    //  The stdout collector reads every line the trainer prints.
    char *extra = zsys_sprintf (
        "\"env\": {\"BENCH_POINTS\": \"%ld\"}, \"metricCollector\": {\"stdout\": true}, ", points);
    char *job = bench_cluster_job (cluster, extra, trials, parallel, "RANDOM_SEARCH");
    zstr_free (&extra);
    double master0, agent0, master1, agent1;
    bench_cluster_cpu (cluster, &master0, &agent0);
    int rc = bench_cluster_run_job (cluster, "bench", job, &run->seconds) ? 0 : 1;
    bench_cluster_cpu (cluster, &master1, &agent1);
    zstr_free (&job);
    bench_cluster_stop (cluster);
    long stored = rc == 0 ? s_stored_points (bench_cluster_dir (cluster), trials) : -1;
    if (stored < 0) rc = 1;
    run->rate = rc == 0 && run->seconds > 0 ? (double)stored / run->seconds : 0;
    run->lost = points * trials - stored;
    run->master_cpu = master1 - master0;
    run->agent_cpu = agent1 - agent0;
    if (rc == 0 && run->lost != 0) rc = 1;
    bench_cluster_destroy (&cluster, rc != 0);
    return rc;
}

static void
s_print (long points, int trials, int parallel, const char *mode, const s_run_t *r, bool json)
{
    double per_million = r->rate > 0 ? 1e6 / ((double)points * trials) : 0;
    if (json)
        printf ("{\"channel\": \"%s\", \"points\": %ld, \"trials\": %d, \"parallel\": %d, "
                "\"seconds\": %.3f, \"points_per_s\": %.0f, \"lost\": %ld, "
                "\"master_cpu_s_per_mpoint\": %.2f, \"agent_cpu_s_per_mpoint\": %.2f}\n",
                mode, points, trials, parallel, r->seconds, r->rate, r->lost,
                r->master_cpu * per_million, r->agent_cpu * per_million);
    else
        printf ("metrics (%s): %d trials x %ld points, parallel %d, %.3f s: %.0f points/s "
                "stored, %ld lost; CPU per million points: master %.2f s, agent %.2f s\n",
                mode, trials, points, parallel, r->seconds, r->rate, r->lost,
                r->master_cpu * per_million, r->agent_cpu * per_million);
}

int
bench_metrics (int argc, char *argv[])
{
    long points = 100000;
    int trials = 4, parallel = 4;
    bool json = false;
    const char *curve = "off";
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv[i], "--points") == 0 && i + 1 < argc)
            points = atol (argv[++i]);
        else if (strcmp (argv[i], "--trials") == 0 && i + 1 < argc)
            trials = atoi (argv[++i]);
        else if (strcmp (argv[i], "--parallel") == 0 && i + 1 < argc)
            parallel = atoi (argv[++i]);
        else if (strcmp (argv[i], "--curve") == 0 && i + 1 < argc)
            curve = argv[++i];
        else if (strcmp (argv[i], "--json") == 0)
            json = true;
        else {
            printf ("Usage: hpt-bench metrics [--points N] [--trials T] [--parallel P]\n"
                    "                         [--curve off|on|both] [--json]\n");
            return strcmp (argv[i], "--help") == 0 ? 0 : 2;
        }
    }
    bool plain = strcmp (curve, "off") == 0 || strcmp (curve, "both") == 0;
    bool secure = strcmp (curve, "on") == 0 || strcmp (curve, "both") == 0;
    if (points < 1 || trials < 1 || parallel < 1 || (!plain && !secure)) {
        fprintf (stderr, "hpt-bench metrics: --points, --trials and --parallel must be >= 1, "
                         "--curve off, on or both\n");
        return 2;
    }
    s_run_t runs[2] = {{0}};
    int rc = 0;
    if (plain && (rc = s_measure (points, trials, parallel, false, &runs[0])) == 0)
        s_print (points, trials, parallel, "plaintext", &runs[0], json);
    if (secure && rc == 0 && (rc = s_measure (points, trials, parallel, true, &runs[1])) == 0)
        s_print (points, trials, parallel, "curve", &runs[1], json);
    if (plain && secure && rc == 0 && !json)
        printf ("curve / plaintext: throughput %.2f, master CPU %.2f, agent CPU %.2f\n",
                runs[1].rate / runs[0].rate, runs[1].master_cpu / runs[0].master_cpu,
                runs[1].agent_cpu / runs[0].agent_cpu);
    return rc;
}
