/*  hpt-bench trials -- throughput and scheduling overhead, end to end

    Starts a real hptmaster and one hptagent on loopback (bench_cluster:
    state in a temporary directory under $TMPDIR, default /tmp), submits one job of N trivial trials
    (hpt-bench-trainer: one metric, then exit) with P in parallel, and
    waits for it. Prints:
      trials_per_s        N / (submission to job SUCCEEDED)
      next_launch_p50_ms  from a trial's process exit to the start of the
      next_launch_p99_ms  next trial's process (the trainer stamps both
                          ends itself; wall clock, one host), over every
                          trial that started after another one exited
    Then stops both daemons and reads the stamps from the store.

    hpt-bench trials --count N --parallel P [--algorithm random|grid|gp] [--json]
*/
#include "bench_cluster.h"
#include "hpt_store.h"
#include <czmq.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

typedef struct {
    double start; //  t_start_us
    double end;   //  t_end_us
} s_stamp_t;

static int
s_by_start (const void *a, const void *b)
{
    double x = ((const s_stamp_t *)a)->start, y = ((const s_stamp_t *)b)->start;
    return x < y ? -1 : x > y;
}

int
bench_trials (int argc, char *argv[])
{
    int count = 200, parallel = 4;
    bool json = false;
    const char *algorithm = "RANDOM_SEARCH";
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv[i], "--count") == 0 && i + 1 < argc)
            count = atoi (argv[++i]);
        else if (strcmp (argv[i], "--parallel") == 0 && i + 1 < argc)
            parallel = atoi (argv[++i]);
        else if (strcmp (argv[i], "--algorithm") == 0 && i + 1 < argc) {
            const char *a = argv[++i];
            algorithm = strcmp (a, "gp") == 0     ? "ALGORITHM_UNSPECIFIED"
                        : strcmp (a, "grid") == 0 ? "GRID_SEARCH"
                                                  : "RANDOM_SEARCH";
        } else if (strcmp (argv[i], "--json") == 0)
            json = true;
        else {
            printf ("Usage: hpt-bench trials --count N --parallel P [--algorithm random|grid|gp] "
                    "[--json]\n");
            return strcmp (argv[i], "--help") == 0 ? 0 : 2;
        }
    }
    if (count < 1 || parallel < 1) {
        fprintf (stderr, "hpt-bench trials: --count and --parallel must be >= 1\n");
        return 2;
    }
    bench_cluster_t *cluster = bench_cluster_new ("hpt-bench trials", parallel, false);
    if (!cluster) return 1;
    char *job = bench_cluster_job (cluster, "", count, parallel, algorithm);
    double seconds = 0;
    int rc = bench_cluster_run_job (cluster, "bench", job, &seconds) ? 0 : 1;
    zstr_free (&job);
    bench_cluster_stop (cluster);

    //  The trainers' own stamps, from the store.
    double *latency = calloc ((size_t)count + 1, sizeof (double));
    size_t latencies = 0;
    if (rc == 0) {
        char *db = zsys_sprintf ("%s/state/hpt.db", bench_cluster_dir (cluster));
        hpt_error_t error;
        hpt_store_t *store = hpt_store_new (db, &error);
        zstr_free (&db);
        if (!store) {
            fprintf (stderr, "hpt-bench trials: %s\n", error.message);
            rc = 1;
        }
        s_stamp_t *stamps = calloc ((size_t)count, sizeof (s_stamp_t));
        size_t stamp_count = 0;
        for (int t = 1; store && t <= count; t++) {
            json_t *list = NULL;
            if (hpt_store_metrics_of_trial (store, "bench", t, NULL, &list, &error) != 0) {
                fprintf (stderr, "hpt-bench trials: %s\n", error.message);
                rc = 1;
                break;
            }
            size_t i;
            json_t *point;
            s_stamp_t stamp = {0, 0};
            json_array_foreach (list, i, point) {
                const char *tag = json_string_value (json_object_get (point, "tag"));
                double value = json_number_value (json_object_get (point, "value"));
                if (tag && strcmp (tag, "t_start_us") == 0) stamp.start = value;
                if (tag && strcmp (tag, "t_end_us") == 0) stamp.end = value;
            }
            json_decref (list);
            if (stamp.start > 0 && stamp.end > 0) stamps[stamp_count++] = stamp;
        }
        hpt_store_destroy (&store);
        qsort (stamps, stamp_count, sizeof (s_stamp_t), s_by_start);
        //  For every trial, the latest exit before its start is the exit
        //  that made room for it (with P in parallel, the first P started
        //  without waiting for anything).
        for (size_t i = 0; i < stamp_count; i++) {
            double before = -1;
            for (size_t j = 0; j < stamp_count; j++)
                if (stamps[j].end <= stamps[i].start && stamps[j].end > before)
                    before = stamps[j].end;
            if (before > 0 && i >= (size_t)parallel)
                latency[latencies++] = (stamps[i].start - before) / 1000.0;
        }
        free (stamps);
    }
    qsort (latency, latencies, sizeof (double), s_compare);
    double p50 = s_percentile (latency, latencies, 0.50),
           p99 = s_percentile (latency, latencies, 0.99);
    double rate = rc == 0 && seconds > 0 ? count / seconds : 0;
    if (json)
        printf ("{\"count\": %d, \"parallel\": %d, \"seconds\": %.3f, \"trials_per_s\": %.1f, "
                "\"next_launch_p50_ms\": %.3f, \"next_launch_p99_ms\": %.3f, \"samples\": %zu}\n",
                count, parallel, seconds, rate, p50, p99, latencies);
    else
        printf ("trials: %d, parallel %d, %.3f s: %.1f trials/s; trial exit -> next trial start: "
                "p50 %.3f ms, p99 %.3f ms (%zu samples)\n",
                count, parallel, seconds, rate, p50, p99, latencies);
    free (latency);
    bench_cluster_destroy (&cluster, rc != 0);
    return rc;
}
