/*  bench_optimizer -- hpt-bench optimizer and suggest-latency

    optimizer: runs hpt_optimizer in-process on a test function for S seeds
    (seed i = i) with a budget of N evaluations, P suggestions at a time
    (each added as pending before the P results come back), and prints the
    best value and the regret (best - known optimum) of each run, or one
    JSON object with --json. All functions are minimized, with the
    definitions and bounds of Optuna's benchmark script:

      branin       x1 in [-5,10], x2 in [0,15], optimum 0.397887357729739
      hartmann6    [0,1]^6, optimum -3.32236801141551
      rosenbrock4  [-5,10]^4, optimum 0
      ackley5      [-5,10]^5, optimum 0
      mixed        lr DOUBLE log [1e-5,1], layers INTEGER [1,8], batch
                   DISCRETE {16,32,64,128,256}, optimizer CATEGORICAL
                   {sgd, adam, rmsprop}; a model-tuning-shaped bowl whose
                   best lr depends on the optimizer, optimum 0 at adam,
                   lr 1e-3, 5 layers, batch 64 (tests/bench/optuna_compare.py
                   has the same definition)

    With --algorithm grid every DOUBLE parameter becomes a DISCRETE one of
    k evenly spaced levels (on its scale) with k^doubles about the budget,
    since grid search needs a finite space; the grid is walked in its
    stable order until the budget is spent.

    suggest-latency: D DOUBLE parameters in [0,1], N observations of a
    smooth function at pseudo-random points and P pending points (trials
    in flight, --pending), then times several rounds of K suggestions at
    once (--batch, default 1) followed by their results. The first round
    includes the hyperparameter fit; later rounds reuse it until the next
    refit checkpoint, as a running job does. Prints p50 and max of a
    round, and of one suggestion amortized over its batch, in ms.
*/
#include "hpt_optimizer.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_DIM 6
#define MAX_SEEDS 1000
#define LATENCY_ROUNDS 9
#define MAX_GRID_LEVELS 64

typedef struct {
    const char *name;              //  as given to --function
    size_t dim;                    //  parameters
    double lo, hi;                 //  bounds of every DOUBLE parameter
    double optimum;                //  known minimum
    double (*f) (const double *x); //  the function on parameter values
} s_function_t;

static double
s_branin (const double *x)
{
    double a = 1.0, b = 5.1 / (4 * M_PI * M_PI), c = 5.0 / M_PI, r = 6.0, s = 10.0,
           t = 1.0 / (8 * M_PI);
    double u = x[1] - b * x[0] * x[0] + c * x[0] - r;
    return a * u * u + s * (1 - t) * cos (x[0]) + s;
}

static double
s_hartmann6 (const double *x)
{
    static const double alpha[4] = {1.0, 1.2, 3.0, 3.2};
    static const double A[4][6] = {{10, 3, 17, 3.5, 1.7, 8},
                                   {0.05, 10, 17, 0.1, 8, 14},
                                   {3, 3.5, 1.7, 10, 17, 8},
                                   {17, 8, 0.05, 10, 0.1, 14}};
    static const double P[4][6] = {{0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886},
                                   {0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991},
                                   {0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650},
                                   {0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381}};
    double sum = 0.0;
    for (int i = 0; i < 4; i++) {
        double inner = 0.0;
        for (int j = 0; j < 6; j++)
            inner += A[i][j] * (x[j] - P[i][j]) * (x[j] - P[i][j]);
        sum += alpha[i] * exp (-inner);
    }
    return -sum;
}

static double
s_rosenbrock4 (const double *x)
{
    double sum = 0.0;
    for (int i = 0; i < 3; i++)
        sum += 100 * pow (x[i + 1] - x[i] * x[i], 2) + pow (1 - x[i], 2);
    return sum;
}

static double
s_ackley5 (const double *x)
{
    double sq = 0.0, cs = 0.0;
    for (int i = 0; i < 5; i++) {
        sq += x[i] * x[i];
        cs += cos (2 * M_PI * x[i]);
    }
    return -20 * exp (-0.2 * sqrt (sq / 5)) - exp (cs / 5) + 20 + M_E;
}

//  x = {lr, layers, batch, optimizer index}
static double
s_mixed (const double *x)
{
    static const double best_lr[3] = {3e-2, 1e-3, 3e-4}; //  sgd, adam, rmsprop
    static const double offset[3] = {0.3, 0.0, 0.15};
    int k = (int)x[3];
    double lr = log10 (x[0]) - log10 (best_lr[k]);
    double layers = x[1] - 5, batch = log2 (x[2]) - 6;
    return lr * lr + 0.1 * layers * layers + 0.25 * batch * batch + offset[k];
}

static const s_function_t s_functions[] = {
    {"branin", 2, -5, 10, 0.397887357729739, s_branin},
    {"hartmann6", 6, 0, 1, -3.32236801141551, s_hartmann6},
    {"rosenbrock4", 4, -5, 10, 0.0, s_rosenbrock4},
    {"ackley5", 5, -5, 10, 0.0, s_ackley5},
    {"mixed", 4, 0, 0, 0.0, s_mixed},
};

static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

//  Replaces each DOUBLE parameter of params by a DISCRETE one of levels
//  values evenly spaced on its scale, so grid search has a grid. The values
//  are stored in storage (count x levels).
static void
s_discretize (hpt_param_spec_t *params, size_t count, size_t levels, double *storage)
{
    for (size_t j = 0; j < count; j++) {
        hpt_param_spec_t *p = &params[j];
        if (p->type != HPT_PARAM_DOUBLE) continue;
        double *v = storage + j * levels;
        bool logs = p->scale == HPT_SCALE_LOG;
        double lo = logs ? log (p->min_value) : p->min_value;
        double hi = logs ? log (p->max_value) : p->max_value;
        for (size_t k = 0; k < levels; k++) {
            double s = lo + (hi - lo) * (double)k / (double)(levels - 1);
            v[k] = logs ? exp (s) : s;
        }
        v[0] = p->min_value; //  exact ends, free of exp/log round-off
        v[levels - 1] = p->max_value;
        p->type = HPT_PARAM_DISCRETE;
        p->discrete_values = v;
        p->discrete_count = levels;
    }
}

//  The space of a function; the caller destroys it. With grid_levels > 0
//  every DOUBLE parameter becomes a DISCRETE one of that many levels.
static hpt_space_t *
s_space_of (const s_function_t *fn, size_t grid_levels)
{
    double storage[MAX_DIM * MAX_GRID_LEVELS];
    hpt_param_spec_t params[MAX_DIM];
    memset (params, 0, sizeof params);
    char names[MAX_DIM][8];
    if (strcmp (fn->name, "mixed") == 0) {
        static double batches[] = {16, 32, 64, 128, 256};
        static char *optimizers[] = {"sgd", "adam", "rmsprop"};
        params[0] = (hpt_param_spec_t){.name = "lr",
                                       .type = HPT_PARAM_DOUBLE,
                                       .min_value = 1e-5,
                                       .max_value = 1.0,
                                       .scale = HPT_SCALE_LOG};
        params[1] = (hpt_param_spec_t){
            .name = "layers", .type = HPT_PARAM_INTEGER, .min_value = 1, .max_value = 8};
        params[2] = (hpt_param_spec_t){.name = "batch",
                                       .type = HPT_PARAM_DISCRETE,
                                       .discrete_values = batches,
                                       .discrete_count = 5};
        params[3] = (hpt_param_spec_t){.name = "optimizer",
                                       .type = HPT_PARAM_CATEGORICAL,
                                       .categorical_values = optimizers,
                                       .categorical_count = 3};
        if (grid_levels) s_discretize (params, 4, grid_levels, storage);
        return hpt_space_new (params, 4);
    }
    for (size_t j = 0; j < fn->dim; j++) {
        snprintf (names[j], sizeof names[j], "x%hu", (unsigned short)j);
        params[j] = (hpt_param_spec_t){
            .name = names[j], .type = HPT_PARAM_DOUBLE, .min_value = fn->lo, .max_value = fn->hi};
    }
    if (grid_levels) s_discretize (params, fn->dim, grid_levels, storage);
    return hpt_space_new (params, fn->dim);
}

//  Levels per DOUBLE parameter for a grid of at most about budget points:
//  the largest k with k^doubles <= budget (at least 2).
static size_t
s_grid_levels (const s_function_t *fn, long budget)
{
    size_t doubles = strcmp (fn->name, "mixed") == 0 ? 1 : fn->dim;
    //  mixed has 8 * 5 * 3 points besides its one DOUBLE.
    double room = strcmp (fn->name, "mixed") == 0 ? (double)budget / 120.0 : (double)budget;
    size_t k = 2;
    while (k < MAX_GRID_LEVELS && pow ((double)(k + 1), (double)doubles) <= room)
        k++;
    return k;
}

static hpt_algorithm_t
s_algorithm (const char *name, bool *ok)
{
    *ok = true;
    if (strcmp (name, "gp") == 0) return HPT_ALGORITHM_UNSPECIFIED;
    if (strcmp (name, "random") == 0) return HPT_ALGORITHM_RANDOM_SEARCH;
    if (strcmp (name, "grid") == 0) return HPT_ALGORITHM_GRID_SEARCH;
    *ok = false;
    return HPT_ALGORITHM_UNSPECIFIED;
}

//  Parses a positive integer option value into *out; false on bad text.
static bool
s_parse_count (const char *text, long max, long *out)
{
    char *end;
    long v = strtol (text, &end, 10);
    if (end == text || *end || v < 1 || v > max) return false;
    *out = v;
    return true;
}

static int
s_compare (const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double
s_median (const double *v, size_t n)
{
    double *s = malloc (n * sizeof (double));
    memcpy (s, v, n * sizeof (double));
    qsort (s, n, sizeof (double), s_compare);
    double m = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    free (s);
    return m;
}

//  One run; returns the best value found and adds suggest time/count.
static double
s_run (const s_function_t *fn, hpt_space_t *space, hpt_algorithm_t alg, uint64_t seed, long budget,
       long parallel, double *seconds, long *suggested)
{
    hpt_optimizer_t *opt = hpt_optimizer_new (space, HPT_GOAL_MINIMIZE, alg, seed);
    size_t d = hpt_space_size (space);
    double *out = malloc ((size_t)parallel * d * sizeof (double));
    double best = INFINITY;
    long evaluated = 0;
    uint64_t trial = 0;
    while (evaluated < budget) {
        size_t want = (size_t)(budget - evaluated < parallel ? budget - evaluated : parallel);
        double t0 = s_now ();
        size_t got = hpt_optimizer_suggest (opt, want, out);
        *seconds += s_now () - t0;
        *suggested += (long)got;
        if (got == 0) break;
        for (size_t i = 0; i < got; i++)
            hpt_optimizer_add_pending (opt, trial + i, out + i * d);
        for (size_t i = 0; i < got; i++) {
            double y = fn->f (out + i * d);
            hpt_optimizer_add_result (opt, trial + i, out + i * d, y);
            if (y < best) best = y;
        }
        trial += got;
        evaluated += (long)got;
    }
    free (out);
    hpt_optimizer_destroy (&opt);
    return best;
}

int
bench_optimizer (int argc, char *argv[])
{
    const char *function = NULL, *algorithm = "gp";
    long budget = 0, seeds = 5, parallel = 1;
    bool json = false, help = false;
    for (int i = 1; i < argc; i++) {
        bool has_value = i + 1 < argc;
        if (strcmp (argv[i], "--function") == 0 && has_value)
            function = argv[++i];
        else if (strcmp (argv[i], "--algorithm") == 0 && has_value)
            algorithm = argv[++i];
        else if (strcmp (argv[i], "--budget") == 0 && has_value) {
            if (!s_parse_count (argv[++i], 1000000, &budget)) goto usage;
        } else if (strcmp (argv[i], "--seeds") == 0 && has_value) {
            if (!s_parse_count (argv[++i], MAX_SEEDS, &seeds)) goto usage;
        } else if (strcmp (argv[i], "--parallel") == 0 && has_value) {
            if (!s_parse_count (argv[++i], 1000, &parallel)) goto usage;
        } else if (strcmp (argv[i], "--json") == 0)
            json = true;
        else if (strcmp (argv[i], "--help") == 0)
            help = true;
        else
            goto usage;
    }
    if (help) goto usage;
    const s_function_t *fn = NULL;
    for (size_t k = 0; function && k < sizeof s_functions / sizeof s_functions[0]; k++)
        if (strcmp (function, s_functions[k].name) == 0) fn = &s_functions[k];
    bool alg_ok;
    hpt_algorithm_t alg = s_algorithm (algorithm, &alg_ok);
    if (!fn || !alg_ok || budget == 0) goto usage;

    //  Grid search needs a finite space: the DOUBLE parameters become even
    //  grids of about budget points in all.
    hpt_space_t *space =
        s_space_of (fn, alg == HPT_ALGORITHM_GRID_SEARCH ? s_grid_levels (fn, budget) : 0);
    double regrets[MAX_SEEDS], seconds = 0.0;
    long suggested = 0;
    for (long s = 0; s < seeds; s++) {
        double best = s_run (fn, space, alg, (uint64_t)s, budget, parallel, &seconds, &suggested);
        regrets[s] = best - fn->optimum;
        if (!json) printf ("seed %ld: best %.10g regret %.6g\n", s, best, regrets[s]);
    }
    hpt_space_destroy (&space);
    double median = s_median (regrets, (size_t)seeds);
    double per = suggested ? seconds / (double)suggested : 0.0;
    if (json) {
        printf ("{\"function\": \"%s\", \"algorithm\": \"%s\", \"budget\": %ld, \"parallel\": %ld, "
                "\"seeds\": %ld, \"median_regret\": %.6g, \"regrets\": [",
                fn->name, algorithm, budget, parallel, seeds, isfinite (median) ? median : -1.0);
        for (long s = 0; s < seeds; s++)
            if (isfinite (regrets[s]))
                printf ("%s%.6g", s ? ", " : "", regrets[s]);
            else
                printf ("%snull", s ? ", " : ""); //  no evaluation at all
        printf ("], \"seconds_per_suggestion\": %.6g}\n", per);
    } else
        printf ("%s %s budget %ld parallel %ld: median regret %.6g, %.3f ms per suggestion\n",
                fn->name, algorithm, budget, parallel, median, per * 1e3);
    return 0;
usage:
    fprintf (help ? stdout : stderr,
             "Usage: hpt-bench optimizer --function "
             "branin|hartmann6|rosenbrock4|ackley5|mixed --budget N [--seeds S] "
             "[--algorithm gp|random|grid] [--parallel P] [--json]\n");
    return help ? 0 : 2;
}

//  A smooth function of the unit cube for the latency benchmark.
static double
s_smooth (const double *x, size_t d)
{
    double sum = 0.0;
    for (size_t j = 0; j < d; j++)
        sum += sin (3.0 * x[j] + (double)j) + (x[j] - 0.3) * (x[j] - 0.3);
    return sum;
}

//  A pseudo-random point of the unit cube (a 64-bit LCG, so the figures
//  are the same on every run).
static void
s_lcg_point (uint64_t *state, double *x, size_t d)
{
    for (size_t j = 0; j < d; j++) {
        *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
        x[j] = (double)(*state >> 11) * 0x1.0p-53;
    }
}

int
bench_suggest_latency (int argc, char *argv[])
{
    long observations = 0, dim = 0, pending = 0, batch = 1;
    bool json = false, help = false;
    for (int i = 1; i < argc; i++) {
        bool has_value = i + 1 < argc;
        if (strcmp (argv[i], "--observations") == 0 && has_value) {
            if (!s_parse_count (argv[++i], 100000, &observations)) goto usage;
        } else if (strcmp (argv[i], "--dim") == 0 && has_value) {
            if (!s_parse_count (argv[++i], 1000, &dim)) goto usage;
        } else if (strcmp (argv[i], "--pending") == 0 && has_value) {
            if (!s_parse_count (argv[++i], 100000, &pending)) goto usage;
        } else if (strcmp (argv[i], "--batch") == 0 && has_value) {
            if (!s_parse_count (argv[++i], 10000, &batch)) goto usage;
        } else if (strcmp (argv[i], "--json") == 0)
            json = true;
        else if (strcmp (argv[i], "--help") == 0)
            help = true;
        else
            goto usage;
    }
    if (help || !observations || !dim || !batch) goto usage;
    size_t d = (size_t)dim, k = (size_t)batch;
    hpt_param_spec_t *params = calloc (d, sizeof (hpt_param_spec_t));
    char (*names)[16] = calloc (d, sizeof *names);
    for (size_t j = 0; j < d; j++) {
        snprintf (names[j], sizeof names[j], "x%hu", (unsigned short)j);
        params[j] = (hpt_param_spec_t){
            .name = names[j], .type = HPT_PARAM_DOUBLE, .min_value = 0, .max_value = 1};
    }
    hpt_space_t *space = hpt_space_new (params, d);
    hpt_optimizer_t *opt =
        hpt_optimizer_new (space, HPT_GOAL_MINIMIZE, HPT_ALGORITHM_UNSPECIFIED, 1);
    double *x = malloc (k * d * sizeof (double));
    uint64_t state = 12345, id = 0;
    for (long i = 0; i < observations; i++) {
        s_lcg_point (&state, x, d);
        hpt_optimizer_add_result (opt, id++, x, s_smooth (x, d));
    }
    for (long i = 0; i < pending; i++) {
        s_lcg_point (&state, x, d);
        hpt_optimizer_add_pending (opt, id++, x);
    }
    double ms[LATENCY_ROUNDS];
    for (int r = 0; r < LATENCY_ROUNDS; r++) {
        double t0 = s_now ();
        size_t got = hpt_optimizer_suggest (opt, k, x);
        ms[r] = (s_now () - t0) * 1e3;
        for (size_t i = 0; i < got; i++)
            hpt_optimizer_add_result (opt, id++, x + i * d, s_smooth (x + i * d, d));
    }
    double p50 = s_median (ms, LATENCY_ROUNDS), max = 0.0;
    for (int r = 0; r < LATENCY_ROUNDS; r++)
        max = fmax (max, ms[r]);
    if (json)
        printf ("{\"observations\": %ld, \"dim\": %ld, \"pending\": %ld, \"batch\": %ld, "
                "\"p50_ms\": %.3f, \"max_ms\": %.3f, \"per_suggestion_p50_ms\": %.3f}\n",
                observations, dim, pending, batch, p50, max, p50 / (double)k);
    else {
        printf ("suggest latency after %ld observations, %ld pending, dim %ld, batch %ld:",
                observations, pending, dim, batch);
        for (int r = 0; r < LATENCY_ROUNDS; r++)
            printf (" %.2f", ms[r]);
        printf (" ms\nround p50 %.3f ms, max %.3f ms; per suggestion p50 %.3f ms\n", p50, max,
                p50 / (double)k);
    }
    free (x);
    hpt_optimizer_destroy (&opt);
    hpt_space_destroy (&space);
    free (params);
    free (names);
    return 0;
usage:
    fprintf (help ? stdout : stderr, "Usage: hpt-bench suggest-latency --observations N --dim D "
                                     "[--pending P] [--batch K] [--json]\n");
    return help ? 0 : 2;
}
