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

    With --containers it runs the same job twice in one run, side by side:
    first as processes, then with the trainer in a container (an image made
    here with `podman import` from hpt-bench-trainer-static alone, run by
    the agent's --container-runtime): the difference is what a container
    costs a trial.

    hpt-bench trials --count N --parallel P [--algorithm random|grid|gp] [--json]
                     [--containers [--container-runtime CMD] [--container-run-arg ARG]...]
*/
#include "bench_cluster.h"
#include "hpt_store.h"
#include <czmq.h>
#include <unistd.h>
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

#define S_IMAGE "localhost/hpt-bench-trainer:1"

typedef struct {
    int count;             //  trials
    int parallel;          //  at once
    const char *algorithm; //  AI Platform's name
    const char *runtime;   //  container runtime prefix, NULL: processes
    const char **run_args; //  --container-run-arg values, NULL-terminated
} s_config_t;

typedef struct {
    double seconds; //  submission to SUCCEEDED
    double p50;     //  exit -> next start, ms
    double p99;
    size_t samples;
} s_result_t;

//  Makes S_IMAGE: a rootfs holding only the static trainer, imported.
static int
s_make_image (const s_config_t *config, const char *dir)
{
    char *bin = bench_bin_dir ();
    char *cmd = zsys_sprintf ("set -e; mkdir -p '%s/rootfs/tmp'; cp '%s/hpt-bench-trainer-static' "
                              "'%s/rootfs/trainer'; tar -C '%s/rootfs' -cf '%s/rootfs.tar' .; "
                              "%s import --change 'ENTRYPOINT [\"/trainer\"]' '%s/rootfs.tar' %s "
                              ">/dev/null 2>&1",
                              dir, bin, dir, dir, dir, config->runtime, dir, S_IMAGE);
    int rc = system (cmd);
    zstr_free (&cmd);
    free (bin);
    if (rc != 0) fprintf (stderr, "hpt-bench trials: could not make the image %s\n", S_IMAGE);
    return rc == 0 ? 0 : -1;
}

//  Exit -> next start latencies (ms) from the trainers' stamps in the
//  store, sorted, into result.
static int
s_latencies (bench_cluster_t *cluster, const s_config_t *config, s_result_t *result)
{
    char *db = zsys_sprintf ("%s/state/hpt.db", bench_cluster_dir (cluster));
    hpt_error_t error;
    hpt_store_t *store = hpt_store_new (db, &error);
    zstr_free (&db);
    if (!store) {
        fprintf (stderr, "hpt-bench trials: %s\n", error.message);
        return -1;
    }
    int rc = 0;
    s_stamp_t *stamps = calloc ((size_t)config->count, sizeof (s_stamp_t));
    size_t stamp_count = 0;
    for (int t = 1; t <= config->count; t++) {
        json_t *list = NULL;
        if (hpt_store_metrics_of_trial (store, "bench", t, NULL, &list, &error) != 0) {
            fprintf (stderr, "hpt-bench trials: %s\n", error.message);
            rc = -1;
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
    //  For every trial, the latest exit before its start is the exit that
    //  made room for it (with P in parallel, the first P started without
    //  waiting for anything).
    double *latency = calloc ((size_t)config->count + 1, sizeof (double));
    size_t latencies = 0;
    for (size_t i = 0; i < stamp_count; i++) {
        double before = -1;
        for (size_t j = 0; j < stamp_count; j++)
            if (stamps[j].end <= stamps[i].start && stamps[j].end > before) before = stamps[j].end;
        if (before > 0 && i >= (size_t)config->parallel)
            latency[latencies++] = (stamps[i].start - before) / 1000.0;
    }
    free (stamps);
    qsort (latency, latencies, sizeof (double), s_compare);
    result->p50 = s_percentile (latency, latencies, 0.50);
    result->p99 = s_percentile (latency, latencies, 0.99);
    result->samples = latencies;
    free (latency);
    return rc;
}

//  One job of count trials, as processes or (runtime set) in containers.
static int
s_measure (const s_config_t *config, s_result_t *result)
{
    const char *extra[80] = {NULL};
    size_t n = 0;
    if (config->runtime) {
        extra[n++] = "--container-runtime";
        extra[n++] = config->runtime;
        for (size_t i = 0; config->run_args[i] && n < 78; i++) {
            extra[n++] = "--container-run-arg";
            extra[n++] = config->run_args[i];
        }
    }
    bench_cluster_t *cluster =
        bench_cluster_new_with ("hpt-bench trials", config->parallel, false, NULL, extra);
    if (!cluster) return -1;
    if (config->runtime && s_make_image (config, bench_cluster_dir (cluster)) != 0) {
        bench_cluster_destroy (&cluster, true);
        return -1;
    }
    char *job = bench_cluster_job (cluster, "", config->count, config->parallel, config->algorithm);
    if (config->runtime) {
        //  The same job with the image as its trainer.
        char *command = strstr (job, "\"command\": [");
        char *end = command ? strstr (command, "], ") : NULL;
        char *image = end ? zsys_sprintf ("%.*s\"masterConfig\": {\"imageUri\": \"%s\"}, %s",
                                          (int)(command - job), job, S_IMAGE, end + 3)
                          : NULL;
        zstr_free (&job);
        job = image;
    }
    int rc = job && bench_cluster_run_job (cluster, "bench", job, &result->seconds) ? 0 : -1;
    zstr_free (&job);
    bench_cluster_stop (cluster);
    if (rc == 0) rc = s_latencies (cluster, config, result);
    if (config->runtime) {
        //  The image is this run's: leave nothing behind.
        char *cmd = zsys_sprintf ("%s rmi --force %s >/dev/null 2>&1", config->runtime, S_IMAGE);
        if (system (cmd) != 0) fprintf (stderr, "hpt-bench trials: could not remove %s\n", S_IMAGE);
        zstr_free (&cmd);
    }
    bench_cluster_destroy (&cluster, rc != 0);
    return rc;
}

static void
s_print (const s_config_t *config, const char *kind, const s_result_t *r, bool json)
{
    double rate = r->seconds > 0 ? config->count / r->seconds : 0;
    if (json)
        printf ("{\"trainer\": \"%s\", \"count\": %d, \"parallel\": %d, \"seconds\": %.3f, "
                "\"trials_per_s\": %.1f, \"next_launch_p50_ms\": %.3f, \"next_launch_p99_ms\": "
                "%.3f, \"samples\": %zu}\n",
                kind, config->count, config->parallel, r->seconds, rate, r->p50, r->p99,
                r->samples);
    else
        printf ("trials (%s): %d, parallel %d, %.3f s: %.1f trials/s; trial exit -> next trial "
                "start: p50 %.3f ms, p99 %.3f ms (%zu samples)\n",
                kind, config->count, config->parallel, r->seconds, rate, r->p50, r->p99,
                r->samples);
}

int
bench_trials (int argc, char *argv[])
{
    s_config_t config = {200, 4, "RANDOM_SEARCH", NULL, NULL};
    bool json = false, containers = false;
    const char *runtime = "podman";
    const char **run_args = calloc ((size_t)argc + 1, sizeof (char *));
    size_t run_arg_count = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv[i], "--count") == 0 && i + 1 < argc)
            config.count = atoi (argv[++i]);
        else if (strcmp (argv[i], "--parallel") == 0 && i + 1 < argc)
            config.parallel = atoi (argv[++i]);
        else if (strcmp (argv[i], "--algorithm") == 0 && i + 1 < argc) {
            const char *a = argv[++i];
            config.algorithm = strcmp (a, "gp") == 0     ? "ALGORITHM_UNSPECIFIED"
                               : strcmp (a, "grid") == 0 ? "GRID_SEARCH"
                                                         : "RANDOM_SEARCH";
        } else if (strcmp (argv[i], "--json") == 0)
            json = true;
        else if (strcmp (argv[i], "--containers") == 0)
            containers = true;
        else if (strcmp (argv[i], "--container-runtime") == 0 && i + 1 < argc)
            runtime = argv[++i];
        else if (strcmp (argv[i], "--container-run-arg") == 0 && i + 1 < argc)
            run_args[run_arg_count++] = argv[++i];
        else {
            printf ("Usage: hpt-bench trials --count N --parallel P [--algorithm random|grid|gp] "
                    "[--json]\n"
                    "                        [--containers [--container-runtime CMD] "
                    "[--container-run-arg ARG]...]\n");
            free (run_args);
            return strcmp (argv[i], "--help") == 0 ? 0 : 2;
        }
    }
    if (config.count < 1 || config.parallel < 1) {
        fprintf (stderr, "hpt-bench trials: --count and --parallel must be >= 1\n");
        free (run_args);
        return 2;
    }
    s_result_t process = {0, NAN, NAN, 0};
    int rc = s_measure (&config, &process);
    if (rc == 0) s_print (&config, "process", &process, json);
    if (rc == 0 && containers) {
        config.runtime = runtime;
        config.run_args = run_args;
        s_result_t container = {0, NAN, NAN, 0};
        rc = s_measure (&config, &container);
        if (rc == 0) s_print (&config, "container", &container, json);
    }
    free (run_args);
    return rc == 0 ? 0 : 1;
}
