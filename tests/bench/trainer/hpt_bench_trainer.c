/*  hpt-bench-trainer -- the trivial trainer of `hpt-bench trials`

    Writes one hypertune report to $CLOUD_ML_HP_METRIC_FILE: the metric
    tag $CLOUD_ML_HP_METRIC_TAG with value 1, plus "t_start_us" and
    "t_end_us" (wall clock, microseconds) taken as the process starts and
    just before it exits, and exits 0. Plain libc: it starts in well under
    a millisecond.

    With BENCH_POINTS=N (hpt-bench metrics) it instead prints N lines
    "m=VALUE step=K" (K = 1..N) to stdout, for the stdout collector, and
    exits 0.
*/
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static long long
s_now_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

static int
s_print_points (long count)
{
    for (long k = 1; k <= count; k++)
        if (printf ("m=%.6f step=%ld\n", (double)k * 1e-6, k) < 0) return 4;
    return fflush (stdout) == 0 ? 0 : 4;
}

int
main (void)
{
    long long start = s_now_us ();
    const char *points = getenv ("BENCH_POINTS");
    if (points) return s_print_points (atol (points));
    const char *path = getenv ("CLOUD_ML_HP_METRIC_FILE");
    const char *tag = getenv ("CLOUD_ML_HP_METRIC_TAG");
    if (!path || !tag) return 2;
    FILE *file = fopen (path, "w");
    if (!file) return 3;
    long long end = s_now_us ();
    fprintf (file,
             "{\"timestamp\": %.6f, \"%s\": \"1\", \"global_step\": \"1\", \"t_start_us\": %lld, "
             "\"t_end_us\": %lld}\n",
             (double)end / 1e6, tag, start, end);
    return fclose (file) == 0 ? 0 : 4;
}
