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

    hpt-bench metrics [--points N] [--trials T] [--parallel P] [--json]
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

int
bench_metrics (int argc, char *argv[])
{
    long points = 100000;
    int trials = 4, parallel = 4;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv[i], "--points") == 0 && i + 1 < argc)
            points = atol (argv[++i]);
        else if (strcmp (argv[i], "--trials") == 0 && i + 1 < argc)
            trials = atoi (argv[++i]);
        else if (strcmp (argv[i], "--parallel") == 0 && i + 1 < argc)
            parallel = atoi (argv[++i]);
        else if (strcmp (argv[i], "--json") == 0)
            json = true;
        else {
            printf ("Usage: hpt-bench metrics [--points N] [--trials T] [--parallel P] [--json]\n"
                    "  N points per trial (default 100000), T trials (4), P in parallel (4)\n");
            return strcmp (argv[i], "--help") == 0 ? 0 : 2;
        }
    }
    if (points < 1 || trials < 1 || parallel < 1) {
        fprintf (stderr, "hpt-bench metrics: --points, --trials and --parallel must be >= 1\n");
        return 2;
    }
    bench_cluster_t *cluster = bench_cluster_new ("hpt-bench metrics", parallel);
    if (!cluster) return 1;
    //  The stdout collector reads every line the trainer prints.
    char *extra = zsys_sprintf (
        "\"env\": {\"BENCH_POINTS\": \"%ld\"}, \"metricCollector\": {\"stdout\": true}, ", points);
    char *job = bench_cluster_job (cluster, extra, trials, parallel, "RANDOM_SEARCH");
    zstr_free (&extra);
    double seconds = 0;
    int rc = bench_cluster_run_job (cluster, "bench", job, &seconds) ? 0 : 1;
    zstr_free (&job);
    bench_cluster_stop (cluster);
    long expected = points * trials;
    long stored = rc == 0 ? s_stored_points (bench_cluster_dir (cluster), trials) : -1;
    if (stored < 0) rc = 1;
    if (rc != 0) {
        bench_cluster_destroy (&cluster, true);
        return rc;
    }
    double rate = seconds > 0 ? (double)stored / seconds : 0;
    if (json)
        printf ("{\"points\": %ld, \"trials\": %d, \"parallel\": %d, \"seconds\": %.3f, "
                "\"points_per_s\": %.0f, \"stored\": %ld, \"lost\": %ld}\n",
                points, trials, parallel, seconds, rate, stored, expected - stored);
    else
        printf ("metrics: %d trials x %ld points, parallel %d, %.3f s: %.0f points/s stored, "
                "%ld lost\n",
                trials, points, parallel, seconds, rate, expected - stored);
    if (rc == 0 && stored != expected) rc = 1;
    bench_cluster_destroy (&cluster, rc != 0);
    return rc;
}
