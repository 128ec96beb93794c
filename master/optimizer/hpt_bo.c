/*  hpt_bo -- Bayesian optimization: the GP-based suggestions of hpt_optimizer

    Encoding. Each parameter is one GP input: numeric parameters (DOUBLE,
    INTEGER, DISCRETE) by their unit-cube coordinate (hpt_space_to_unit,
    so log scales are handled by the space), CATEGORICAL by the category
    index with a Hamming kernel term (hpt_gp), so all categories are
    equally far apart. INTEGER and DISCRETE coordinates are snapped to a
    legal level (from_unit then to_unit) everywhere inside the search, so
    the acquisition is always evaluated at points that can be run.

    Outputs. Objectives arrive in minimization orientation (hpt_optimizer
    flips a MAXIMIZE goal in one place). They are warped, then
    standardized to mean 0 and variance 1. The warp is
        w(y) = log (1 + (y - min) / (median - min)),
    linear near the best values and logarithmic for values far above the
    median, so outliers and values spanning orders of magnitude
    (rosenbrock) no longer dominate the fit, while the order and the
    resolution near the best value are kept. (A sharper log(y - min +
    eps) warp hurt branin and ackley; no warp at all hurt rosenbrock.)

    Hyperparameters (length scales, signal and noise variance) are fitted
    by MAP (hpt_gp_fit) from the prior mode and a few seeded starts. The
    log-normal length-scale prior is centred on 0.3 sqrt(d) in the unit
    cube (sd 1 in log): smooth enough at small n, short enough that ARD
    does not switch a relevant input off after a few points; the noise
    prior sits at 1e-4 of the standardized variance with a floor of 1e-6,
    as objectives are often nearly noiseless.

    A fit is a pure function of the data it sees, so to keep suggestions a
    pure function of the history while refitting rarely, the fit is done
    on the first m results (trial-id order) where m is the last
    "checkpoint" not above the number of results: every count up to 30,
    then every 10%, and past FIT_CAP every 25% (the fit then sees a
    subset of FIT_CAP results whose hyperparameters move slowly; refitting
    every 10% there cost a sixth of a 1500-trial job's suggestion time,
    and regret at 1000 and 2000 evaluations did not change). The latest
    fit is cached with a hash of its data; a rebuilt optimizer recomputes
    exactly the same fit once. The starts are
    the prior mode and seeded perturbations of it, not the previous fit:
    a warm start would make a fit depend on which earlier fits this
    process happened to run, and a rebuilt optimizer would then suggest
    differently. Past FIT_CAP results the fit uses a subset (the best
    half and an even spread of the rest), which bounds its O(n^3) cost;
    past MODEL_CAP results the model is conditioned on a subset chosen the
    same way, which bounds the O(n^2) cost of every score.

    Pending points and batches: kriging believer. Pending points join the
    model with their posterior mean as value, which collapses the variance
    (hence the expected improvement) around them; when that mean beats the
    best result, it becomes the value to improve on. Each point of a batch
    is added the same way before the next one is chosen, in O(n^2) (the
    factor grows by one row). (Constant liar at the best value, and the
    believer without the updated target, gave worse batches on
    rosenbrock4, hartmann6 and ackley5 at small budgets.) Only the newest
    PENDING_CAP pending points are believed; older ones repel like failures.

    Acquisition: log expected improvement over the best standardized
    value, computed stably far into the tail, plus a penalty
    log(1 - exp(-d^2 / 2 rho^2)) for each failed point at unit distance d,
    which discourages the neighbourhood of failures.

    Search, first point of a batch: quasi-random candidates (scrambled
    Halton) and Gaussian perturbations of the best results at several
    radii are scored; then a batched compass search runs from the best
    candidates and from the incumbent: each step tries +-h on every
    numeric coordinate (the next level for INTEGER/DISCRETE), every other
    category, moves to the best neighbour or halves h. The best point
    scored that is not pending, finished or failed wins.

    Later points of a batch reuse that work. The candidates and compass
    end points are kept with v = L^-1 k(X, x) each (hpt_gp_predict_keep);
    believing a point adds one row to the factor, so each kept posterior is
    brought up to date at O(n) (hpt_gp_update_kept: exact, not an
    approximation) instead of O(n^2) for a fresh score. Each later point
    then adds a few fresh quasi-random points and perturbations, runs
    compass searches from the best of those fresh points (not from the
    kept ones: starts drawn from the kept set kept returning to the same
    maxima, and rosenbrock4 at 1000 evaluations, 50 at a time, lost
    three times its regret) and from the incumbent, and picks the best
    unvisited point among everything scored. The fresh points are dropped
    afterwards, so the kept set, and the cost of each later point, stays
    bounded. A suggestion is a pure function of the history, the seed and
    its index in the batch, so a batch of k starts with the batch of k-1.

    Costs are bounded: candidate counts are fixed, the compass search has a
    step limit, its batch of neighbours is scored with one triangular solve
    (BLAS 3), and the model holds at most MODEL_CAP results and PENDING_CAP
    believed points, so a suggestion is O(n^2) past the cached fit, and a
    later point of a batch O(n) per kept candidate plus a short search.
*/
#include "hpt_bo.h"
#include "hpt_alloc.h"
#include "hpt_gp.h"
#include "hpt_halton.h"
#include "hpt_rng.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FIT_CAP 200       //  most results a hyperparameter fit sees
#define MODEL_CAP 200     //  most results the model is conditioned on
#define PENDING_CAP 64    //  most pending points the model believes (the newest)
#define FIT_ITER 60       //  L-BFGS steps per start
#define FIT_STARTS 3      //  prior mode plus seeded starts
#define N_QUASI 512       //  quasi-random candidates
#define N_LOCAL 256       //  perturbations of the best results
#define N_TOP 5           //  best results perturbed
#define N_STARTS 5        //  compass searches from the best candidates
#define REFINE_STARTS 1   //  compass searches for each later point of a batch
#define N_LOCAL_REFINE 64 //  perturbations added for each later point of a batch
#define N_QUASI_REFINE 64 //  quasi-random points added for each later point of a batch
#define MAX_STEPS 25      //  compass steps per search
#define MIN_STEP 1e-3     //  compass step at which a search stops (finer cost time, no regret)
#define FAIL_RADIUS 0.05  //  unit distance a failure discourages
#define FAR_D2 (80 * FAIL_RADIUS * FAIL_RADIUS) //  squared distance past which it does not
#define MAX_CAT_NEIGHBOURS 16

struct _hpt_bo_t {
    hpt_space_t *space;   //  borrowed search space
    size_t dim;           //  number of parameters = GP inputs
    uint64_t seed;        //  job seed
    bool *categorical;    //  per parameter: CATEGORICAL
    bool *snapped;        //  per parameter: INTEGER or DISCRETE
    bool has_continuous;  //  any DOUBLE parameter
    hpt_gp_t *gp;         //  the model
    hpt_halton_t *halton; //  candidate sequence
    bool fit_valid;       //  whether the cache below holds a fit
    size_t fit_count;     //  results the cached fit used
    uint64_t fit_key;     //  hash of those results
    double *fit_theta;    //  the cached hyperparameters
    bool model_valid;     //  whether the GP's first model_count points are current
    size_t model_count;   //  results the GP's factor was built on
    uint64_t model_key;   //  hash of their inputs and the hyperparameters
};

//  ---------------------------------------------------------------------
//  Encoding

static void
s_encode (hpt_bo_t *self, const double *values, double *x)
{
    for (size_t j = 0; j < self->dim; j++)
        x[j] = self->categorical[j] ? hpt_space_snap (self->space, j, values[j])
                                    : hpt_space_to_unit (self->space, j, values[j]);
}

static void
s_decode (hpt_bo_t *self, const double *x, double *values)
{
    for (size_t j = 0; j < self->dim; j++)
        values[j] = self->categorical[j] ? x[j] : hpt_space_from_unit (self->space, j, x[j]);
}

//  Moves an encoded coordinate onto a legal value.
static double
s_snap_coord (hpt_bo_t *self, size_t j, double u)
{
    if (self->categorical[j]) {
        double top = (double)hpt_space_param (self->space, j)->categorical_count - 1;
        return fmin (fmax (round (u), 0.0), top);
    }
    u = fmin (fmax (u, 0.0), 1.0);
    if (self->snapped[j])
        u = hpt_space_to_unit (self->space, j, hpt_space_from_unit (self->space, j, u));
    return u;
}

hpt_bo_t *
hpt_bo_new (hpt_space_t *space, uint64_t seed)
{
    hpt_bo_t *self = hpt_calloc (1, sizeof (hpt_bo_t));
    self->space = space;
    self->dim = hpt_space_size (space);
    self->seed = seed;
    self->categorical = hpt_calloc (self->dim, sizeof (bool));
    self->snapped = hpt_calloc (self->dim, sizeof (bool));
    for (size_t j = 0; j < self->dim; j++) {
        hpt_param_type_t type = hpt_space_param (space, j)->type;
        self->categorical[j] = type == HPT_PARAM_CATEGORICAL;
        self->snapped[j] = type == HPT_PARAM_INTEGER || type == HPT_PARAM_DISCRETE;
        if (type == HPT_PARAM_DOUBLE || (type == HPT_PARAM_INTEGER && !hpt_space_levels (space, j)))
            self->has_continuous = true;
    }
    //  Length scales live in the unit cube: centred so that a GP over d
    //  inputs is smooth at small n (typical distances grow like sqrt d).
    double d = (double)self->dim;
    hpt_gp_prior_t prior = {
        .ls_mean = log (0.3) + 0.5 * log (d),
        .ls_sd = 1.0,
        .ls_lo = log (0.01),
        .ls_hi = log (50.0),
        .sf_mean = 0.0,
        .sf_sd = 1.0,
        .sf_lo = log (0.05),
        .sf_hi = log (20.0),
        .sn_mean = log (1e-4),
        .sn_sd = 2.0,
        .sn_lo = log (1e-6),
        .sn_hi = log (0.5),
    };
    self->gp = hpt_gp_new (self->dim, self->categorical, &prior);
    self->halton = hpt_halton_new (self->dim, hpt_rng_mix (seed ^ 0xb0b0));
    self->fit_theta = hpt_calloc (self->dim + 2, sizeof (double));
    return self;
}

void
hpt_bo_destroy (hpt_bo_t **self_p)
{
    if (!self_p || !*self_p) return;
    hpt_bo_t *self = *self_p;
    free (self->categorical);
    free (self->snapped);
    hpt_gp_destroy (&self->gp);
    hpt_halton_destroy (&self->halton);
    free (self->fit_theta);
    free (self);
    *self_p = NULL;
}

//  ---------------------------------------------------------------------
//  Output warp

static int
s_compare_double (const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

//  Warps and standardizes n values of y into z (caller's arrays).
static void
s_transform (const double *y, size_t n, double *z)
{
    //  Objectives near the double range would overflow the differences.
    double amax = 0.0;
    for (size_t i = 0; i < n; i++)
        amax = fmax (amax, fabs (y[i]));
    double factor = amax > 1e100 ? 1.0 / amax : 1.0;
    double *sorted = hpt_malloc (n * sizeof (double));
    for (size_t i = 0; i < n; i++)
        sorted[i] = y[i] * factor;
    qsort (sorted, n, sizeof (double), s_compare_double);
    double lo = sorted[0], med = sorted[n / 2], hi = sorted[n - 1];
    free (sorted);
    double scale = med - lo > 0 ? med - lo : hi - lo;
    double mean = 0.0;
    for (size_t i = 0; i < n; i++) {
        z[i] = scale > 0 ? log1p ((y[i] * factor - lo) / scale) : 0.0;
        mean += z[i];
    }
    mean /= (double)n;
    double var = 0.0;
    for (size_t i = 0; i < n; i++)
        var += (z[i] - mean) * (z[i] - mean);
    double sd = n > 1 ? sqrt (var / (double)(n - 1)) : 0.0;
    for (size_t i = 0; i < n; i++)
        z[i] = sd > 0 ? (z[i] - mean) / sd : 0.0;
}

//  ---------------------------------------------------------------------
//  Hyperparameters

//  Largest refit checkpoint not above n: every count to 30, then +10%,
//  past FIT_CAP +25%.
static size_t
s_checkpoint (size_t n)
{
    size_t c = 2;
    while (true) {
        size_t next = c + (c < 30 ? 1 : c < FIT_CAP ? c / 10 : c / 4);
        if (next > n) return c;
        c = next;
    }
}

//  Hash of the bit patterns of na values of a and nb values of b.
static uint64_t
s_hash_data (const double *a, size_t na, const double *b, size_t nb)
{
    uint64_t h = hpt_rng_mix (na * 31 + nb);
    for (size_t i = 0; i < na + nb; i++) {
        uint64_t bits;
        memcpy (&bits, i < na ? &a[i] : &b[i - na], sizeof bits);
        h = hpt_rng_mix (h ^ bits);
    }
    return h;
}

static int
s_compare_by_value (const void *a, const void *b)
{
    const double *x = *(const double *const *)a, *y = *(const double *const *)b;
    return *x < *y ? -1 : *x > *y;
}

static int
s_compare_size (const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

//  Picks at most cap of the m rows: the best half of the cap by z, then an
//  even spread of the others, in ascending row order. Writes row indices
//  into rows (caller's, cap long) and returns their count.
static size_t
s_subset (const double *z, size_t m, size_t cap, size_t *rows)
{
    if (m <= cap) {
        for (size_t i = 0; i < m; i++)
            rows[i] = i;
        return m;
    }
    const double **order = hpt_malloc (m * sizeof (double *));
    for (size_t i = 0; i < m; i++)
        order[i] = &z[i];
    qsort (order, m, sizeof (double *), s_compare_by_value);
    size_t best = cap / 2, rest = cap - best;
    for (size_t i = 0; i < best; i++)
        rows[i] = (size_t)(order[i] - z);
    for (size_t k = 0; k < rest; k++)
        rows[best + k] = (size_t)(order[best + (k * (m - best)) / rest] - z);
    free (order);
    qsort (rows, cap, sizeof (size_t), s_compare_size);
    return cap;
}

//  Hyperparameters for the first m results (X encoded, y raw), cached.
static const double *
s_hyperparameters (hpt_bo_t *self, const double *X, const double *y, size_t m)
{
    size_t d = self->dim, p = d + 2;
    uint64_t key = s_hash_data (X, m * d, y, m);
    if (self->fit_valid && self->fit_count == m && self->fit_key == key) return self->fit_theta;
    double *z = hpt_malloc (m * sizeof (double));
    s_transform (y, m, z);
    size_t *rows = hpt_malloc (FIT_CAP * sizeof (size_t));
    size_t count = s_subset (z, m, FIT_CAP, rows);
    double *Xs = hpt_malloc (count * d * sizeof (double)),
           *zs = hpt_malloc (count * sizeof (double));
    for (size_t i = 0; i < count; i++) {
        memcpy (Xs + i * d, X + rows[i] * d, d * sizeof (double));
        zs[i] = z[rows[i]];
    }
    double *starts = hpt_malloc (FIT_STARTS * p * sizeof (double));
    hpt_gp_prior_mode (self->gp, starts);
    hpt_rng_t rng;
    hpt_rng_init (&rng, self->seed, m, 0xf17);
    for (size_t s = 1; s < FIT_STARTS; s++)
        for (size_t i = 0; i < p; i++)
            starts[s * p + i] = starts[i] + (i < d ? 1.0 : 0.5) * hpt_rng_normal (&rng);
    hpt_gp_fit (self->gp, Xs, zs, count, starts, FIT_STARTS, FIT_ITER, self->fit_theta);

    self->fit_valid = true;
    self->fit_count = m;
    self->fit_key = key;
    free (starts);
    free (Xs);
    free (zs);
    free (rows);
    free (z);
    return self->fit_theta;
}

//  ---------------------------------------------------------------------
//  Acquisition

//  log(phi(z) + z Phi(z)), stable for very negative z.
static double
s_log_h (double z)
{
    if (z > -5.0) {
        double phi = exp (-0.5 * z * z) / sqrt (2 * M_PI);
        double cdf = 0.5 * erfc (-z / M_SQRT2);
        return log (phi + z * cdf);
    }
    double t = -z, log_phi = -0.5 * z * z - 0.5 * log (2 * M_PI);
    double rest;
    if (t > 40.0) {
        double t2 = 1.0 / (t * t);
        rest = t2 * (1.0 - 3.0 * t2 + 15.0 * t2 * t2);
    } else {
        //  Mills ratio R(t) = Phi(-t) / phi(t) by its continued fraction;
        //  phi + z Phi = phi (1 - t R).
        double frac = t;
        for (int k = 60; k >= 1; k--)
            frac = t + k / frac;
        rest = 1.0 - t / frac;
    }
    return log_phi + log (rest);
}

typedef struct {
    double best;          //  best standardized result
    const double *failed; //  encoded failed points, by coordinate: [j * n_failed + f]
    size_t n_failed;      //  their count
    double *dist2;        //  scratch: squared distance to each failed point
    double *mean, *var;   //  scratch of the acquisition batch
    size_t scratch;       //  size of the scratch arrays
} s_acq_t;

//  The failed points are stored a coordinate at a time so that the
//  squared distances to all of them build up in loops that vectorize:
//  with hundreds of old pending points repelling, this sum was the
//  dearest part of a score after the triangular solve. Each distance is
//  summed in the same coordinate order as a point-at-a-time loop would,
//  so the penalty is the same to the last bit.
static double
s_failure_penalty (hpt_bo_t *self, const s_acq_t *acq, const double *x)
{
    size_t nf = acq->n_failed;
    if (nf == 0) return 0.0;
    double *d2 = acq->dist2;
    memset (d2, 0, nf * sizeof (double));
    for (size_t j = 0; j < self->dim; j++) {
        const double *q = acq->failed + j * nf;
        double xj = x[j];
        if (self->categorical[j])
            for (size_t f = 0; f < nf; f++)
                d2[f] += (double)(xj != q[f]);
        else
            for (size_t f = 0; f < nf; f++) {
                double t = xj - q[f];
                d2[f] += t * t;
            }
    }
    double penalty = 0.0;
    for (size_t f = 0; f < nf; f++)
        //  Past FAR_D2 the term is below 1e-17: not worth an exp and a log.
        if (d2[f] < FAR_D2)
            penalty += log (fmax (1.0 - exp (-d2[f] / (2 * FAIL_RADIUS * FAIL_RADIUS)), 1e-300));
    return penalty;
}

//  The acquisition of a point from its posterior and its failure penalty.
static double
s_acquisition (const s_acq_t *acq, double mean, double var, double penalty)
{
    double sd = sqrt (var);
    return log (sd) + s_log_h ((acq->best - mean) / sd) + penalty;
}

//  Scores m encoded points into out.
static void
s_score (hpt_bo_t *self, s_acq_t *acq, const double *X, size_t m, double *out)
{
    if (m > acq->scratch) {
        acq->scratch = m;
        acq->mean = hpt_realloc (acq->mean, m * sizeof (double));
        acq->var = hpt_realloc (acq->var, m * sizeof (double));
    }
    hpt_gp_predict (self->gp, X, m, acq->mean, acq->var);
    for (size_t i = 0; i < m; i++)
        out[i] = s_acquisition (acq, acq->mean[i], acq->var[i],
                                s_failure_penalty (self, acq, X + i * self->dim));
}

//  ---------------------------------------------------------------------
//  Acquisition search

//  A growing list of encoded points with their scores.
typedef struct {
    double *x;       //  count x dim
    double *score;   //  count
    size_t count;    //  points held
    size_t capacity; //  points the arrays can hold
} s_pool_t;

static double *
s_pool_add (s_pool_t *pool, size_t dim)
{
    if (pool->count == pool->capacity) {
        pool->capacity = pool->capacity ? 2 * pool->capacity : 256;
        pool->x = hpt_realloc (pool->x, pool->capacity * dim * sizeof (double));
        pool->score = hpt_realloc (pool->score, pool->capacity * sizeof (double));
    }
    return pool->x + pool->count++ * dim;
}

//  Neighbour of x along parameter j in direction dir (+1/-1) at step h;
//  returns false when there is none (at the bound).
static bool
s_neighbour (hpt_bo_t *self, const double *x, size_t j, int dir, double h, double *out)
{
    double u = x[j];
    double v = s_snap_coord (self, j, u + dir * h);
    if (self->snapped[j] && v == u) {
        //  The step was below one level: take the adjacent level.
        const hpt_param_spec_t *p = hpt_space_param (self->space, j);
        double cur = hpt_space_from_unit (self->space, j, u), next = cur;
        if (p->type == HPT_PARAM_INTEGER)
            next = cur + dir;
        else {
            for (size_t k = 0; k < p->discrete_count; k++)
                if (p->discrete_values[k] == cur) {
                    if (dir > 0 && k + 1 < p->discrete_count) next = p->discrete_values[k + 1];
                    if (dir < 0 && k > 0) next = p->discrete_values[k - 1];
                }
        }
        if (p->type == HPT_PARAM_INTEGER && (next < p->min_value || next > p->max_value))
            return false;
        v = hpt_space_to_unit (self->space, j, next);
    }
    if (v == u) return false;
    memcpy (out, x, self->dim * sizeof (double));
    out[j] = v;
    return true;
}

//  Batched compass search from count points (starts, their scores and
//  initial steps, all updated in place). Each round scores the neighbours
//  of every active search in one batch; a search moves to its best
//  neighbour when that improves, else halves its step. Every scored point
//  is added to all.
static void
s_compass (hpt_bo_t *self, s_acq_t *acq, double *starts, double *scores, double *steps,
           size_t count, s_pool_t *all, hpt_rng_t *rng)
{
    size_t d = self->dim;
    bool *active = hpt_calloc (count, sizeof (bool));
    size_t *begin = hpt_calloc (count, sizeof (size_t)), *end = hpt_calloc (count, sizeof (size_t));
    for (size_t s = 0; s < count; s++)
        active[s] = true;
    s_pool_t batch = {0};
    for (int round = 0; round < MAX_STEPS; round++) {
        batch.count = 0;
        for (size_t s = 0; s < count; s++) {
            begin[s] = end[s] = batch.count;
            if (!active[s]) continue;
            const double *x = starts + s * d;
            for (size_t j = 0; j < d; j++) {
                if (self->categorical[j]) {
                    size_t cats = hpt_space_param (self->space, j)->categorical_count;
                    for (size_t k = 0; k < cats && k < MAX_CAT_NEIGHBOURS; k++) {
                        double c = cats <= MAX_CAT_NEIGHBOURS ? (double)k
                                                              : (double)hpt_rng_below (rng, cats);
                        if (c == x[j]) continue;
                        double *y = s_pool_add (&batch, d);
                        memcpy (y, x, d * sizeof (double));
                        y[j] = c;
                    }
                } else
                    for (int dir = -1; dir <= 1; dir += 2) {
                        double *y = s_pool_add (&batch, d);
                        if (!s_neighbour (self, x, j, dir, steps[s], y)) batch.count--;
                    }
            }
            end[s] = batch.count;
        }
        if (batch.count == 0) break;
        s_score (self, acq, batch.x, batch.count, batch.score);
        for (size_t i = 0; i < batch.count; i++) {
            memcpy (s_pool_add (all, d), batch.x + i * d, d * sizeof (double));
            all->score[all->count - 1] = batch.score[i];
        }
        bool any = false;
        for (size_t s = 0; s < count; s++) {
            if (!active[s]) continue;
            size_t best = end[s];
            for (size_t i = begin[s]; i < end[s]; i++)
                if (batch.score[i] > scores[s] + 1e-12 &&
                    (best == end[s] || batch.score[i] > batch.score[best]))
                    best = i;
            if (best < end[s]) {
                memcpy (starts + s * d, batch.x + best * d, d * sizeof (double));
                scores[s] = batch.score[best];
            } else if (self->has_continuous && steps[s] > MIN_STEP)
                steps[s] *= 0.5;
            else
                active[s] = false;
            any = any || active[s];
        }
        if (!any) break;
    }
    free (active);
    free (begin);
    free (end);
    free (batch.x);
    free (batch.score);
}

//  Index of the best-scoring point of the pool whose decoded values are
//  not in visited, or pool->count when there is none. values receives the
//  decoded point.
static size_t
s_best_unvisited (hpt_bo_t *self, s_pool_t *pool, hpt_pointset_t *visited, double *values)
{
    size_t found = pool->count;
    //  Selection by repeated maximum is fine: the first few are nearly
    //  always unvisited.
    bool *used = hpt_calloc (pool->count ? pool->count : 1, sizeof (bool));
    for (size_t tries = 0; tries < pool->count && found == pool->count; tries++) {
        size_t best = pool->count;
        for (size_t i = 0; i < pool->count; i++)
            if (!used[i] && !isnan (pool->score[i]) &&
                (best == pool->count || pool->score[i] > pool->score[best]))
                best = i;
        if (best == pool->count) break;
        used[best] = true;
        s_decode (self, pool->x + best * self->dim, values);
        if (!hpt_pointset_contains (visited, values)) found = best;
    }
    free (used);
    return found;
}

//  Indices of the (at most N_TOP) lowest of n values of z, best first,
//  into top. Returns how many.
static size_t
s_best_rows (const double *z, size_t n, size_t *top)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        if (count == N_TOP && z[i] >= z[top[N_TOP - 1]]) continue;
        size_t k = count < N_TOP ? count++ : N_TOP - 1;
        while (k > 0 && z[top[k - 1]] > z[i]) {
            top[k] = top[k - 1];
            k--;
        }
        top[k] = i;
    }
    return count;
}

//  ---------------------------------------------------------------------
//  The candidates of a batch

//  Points scored for the first suggestion of a batch, and the end points
//  of every compass search since, whose posteriors are kept current
//  (hpt_gp_update_kept) as each suggestion joins the model: a later
//  suggestion of the batch rescores them at O(n) each instead of scoring
//  a fresh candidate set at O(n^2) per point.
typedef struct {
    double *x;       //  count x dim, encoded
    double *mean;    //  posterior mean of each
    double *var;     //  posterior variance of each
    double *penalty; //  failure penalty of each (fixed within a batch)
    double *score;   //  acquisition of each
    double *v;       //  count x vcap kept vectors
    size_t vcap;     //  model size the kept vectors can reach
    size_t count;    //  points held
    size_t capacity; //  points the arrays hold
} s_cands_t;

static void
s_cands_reserve (s_cands_t *cands, size_t dim, size_t want)
{
    if (want <= cands->capacity) return;
    size_t cap = cands->capacity ? cands->capacity : 1024;
    while (cap < want)
        cap *= 2;
    cands->x = hpt_realloc (cands->x, cap * dim * sizeof (double));
    cands->mean = hpt_realloc (cands->mean, cap * sizeof (double));
    cands->var = hpt_realloc (cands->var, cap * sizeof (double));
    cands->penalty = hpt_realloc (cands->penalty, cap * sizeof (double));
    cands->score = hpt_realloc (cands->score, cap * sizeof (double));
    cands->v = hpt_realloc (cands->v, cap * cands->vcap * sizeof (double));
    cands->capacity = cap;
}

//  Scores m encoded points X and keeps them.
static void
s_cands_add (hpt_bo_t *self, const s_acq_t *acq, s_cands_t *cands, const double *X, size_t m)
{
    size_t d = self->dim, at = cands->count;
    s_cands_reserve (cands, d, at + m);
    memcpy (cands->x + at * d, X, m * d * sizeof (double));
    hpt_gp_predict_keep (self->gp, X, m, cands->mean + at, cands->var + at,
                         cands->v + at * cands->vcap, cands->vcap);
    for (size_t i = at; i < at + m; i++) {
        cands->penalty[i] = s_failure_penalty (self, acq, cands->x + i * d);
        cands->score[i] = s_acquisition (acq, cands->mean[i], cands->var[i], cands->penalty[i]);
    }
    cands->count += m;
}

//  After a suggestion joined the model (and maybe lowered acq->best):
//  every candidate's posterior and score.
static void
s_cands_update (hpt_bo_t *self, const s_acq_t *acq, s_cands_t *cands)
{
    hpt_gp_update_kept (self->gp, cands->x, cands->count, cands->mean, cands->var, cands->v,
                        cands->vcap);
    for (size_t i = 0; i < cands->count; i++)
        cands->score[i] = s_acquisition (acq, cands->mean[i], cands->var[i], cands->penalty[i]);
}

//  Removes the count candidates from index from, keeping the order of
//  the rest.
static void
s_cands_drop (s_cands_t *cands, size_t dim, size_t from, size_t count)
{
    size_t tail = cands->count - from - count, to = from, at = from + count;
    memmove (cands->x + to * dim, cands->x + at * dim, tail * dim * sizeof (double));
    memmove (cands->mean + to, cands->mean + at, tail * sizeof (double));
    memmove (cands->var + to, cands->var + at, tail * sizeof (double));
    memmove (cands->penalty + to, cands->penalty + at, tail * sizeof (double));
    memmove (cands->score + to, cands->score + at, tail * sizeof (double));
    memmove (cands->v + to * cands->vcap, cands->v + at * cands->vcap,
             tail * cands->vcap * sizeof (double));
    cands->count -= count;
}

static void
s_cands_free (s_cands_t *cands)
{
    free (cands->x);
    free (cands->mean);
    free (cands->var);
    free (cands->penalty);
    free (cands->score);
    free (cands->v);
}

//  Compass searches from the nstarts best candidates (at step) and from
//  extra (encoded, at a finer step) when not NULL; their end points join
//  the candidates. Writes the best point not in visited, among the
//  candidates and every point the searches scored, decoded into values;
//  returns false when there is none.
static bool
s_search (hpt_bo_t *self, s_acq_t *acq, s_cands_t *cands, size_t from, size_t nstarts, double step,
          const double *extra, hpt_rng_t *rng, hpt_pointset_t *visited, double *values)
{
    size_t d = self->dim, count = 0;
    double *starts = hpt_malloc ((nstarts + 1) * d * sizeof (double));
    double *scores = hpt_malloc ((nstarts + 1) * sizeof (double));
    double *steps = hpt_malloc ((nstarts + 1) * sizeof (double));
    bool *taken = hpt_calloc (cands->count ? cands->count : 1, sizeof (bool));
    for (size_t s = 0; s < nstarts; s++) {
        size_t best = cands->count;
        for (size_t i = from; i < cands->count; i++)
            if (!taken[i] && (best == cands->count || cands->score[i] > cands->score[best]))
                best = i;
        if (best == cands->count) break;
        taken[best] = true;
        memcpy (starts + count * d, cands->x + best * d, d * sizeof (double));
        scores[count] = cands->score[best];
        steps[count++] = step;
    }
    if (extra) {
        memcpy (starts + count * d, extra, d * sizeof (double));
        s_score (self, acq, starts + count * d, 1, scores + count);
        steps[count++] = 0.02;
    }
    s_pool_t all = {0};
    s_compass (self, acq, starts, scores, steps, count, &all, rng);
    s_cands_add (self, acq, cands, starts, count);
    for (size_t i = 0; i < cands->count; i++) {
        memcpy (s_pool_add (&all, d), cands->x + i * d, d * sizeof (double));
        all.score[all.count - 1] = cands->score[i];
    }
    size_t found = s_best_unvisited (self, &all, visited, values);
    bool ok = found < all.count;
    free (taken);
    free (starts);
    free (scores);
    free (steps);
    free (all.x);
    free (all.score);
    return ok;
}

//  count perturbations of the best results (X encoded, z standardized, n
//  of them) at radii from wide to fine, into pts (count x dim).
static void
s_perturb (hpt_bo_t *self, const double *X, const double *z, size_t n, hpt_rng_t *rng, size_t count,
           double *pts)
{
    size_t d = self->dim, top[N_TOP];
    size_t ntop = s_best_rows (z, n, top);
    static const double radii[] = {0.2, 0.05, 0.01, 0.002};
    for (size_t i = 0; i < count; i++) {
        const double *base = X + top[i % ntop] * d;
        double r = radii[(i / ntop) % 4];
        double *x = pts + i * d;
        for (size_t j = 0; j < d; j++) {
            if (self->categorical[j]) {
                size_t cats = hpt_space_param (self->space, j)->categorical_count;
                x[j] = hpt_rng_uniform (rng) < 1.0 / (double)d ? (double)hpt_rng_below (rng, cats)
                                                               : base[j];
            } else
                x[j] = s_snap_coord (self, j, base[j] + r * hpt_rng_normal (rng));
        }
    }
}

//  count quasi-random points from index first of the job's sequence,
//  snapped to legal values, into pts (count x dim).
static void
s_quasi (hpt_bo_t *self, uint64_t first, size_t count, double *pts)
{
    size_t d = self->dim;
    for (size_t i = 0; i < count; i++) {
        double *x = pts + i * d;
        hpt_halton_point (self->halton, first + i, x);
        for (size_t j = 0; j < d; j++) {
            if (self->categorical[j])
                x[j] = floor (x[j] * (double)hpt_space_param (self->space, j)->categorical_count);
            x[j] = s_snap_coord (self, j, x[j]);
        }
    }
}

//  One suggestion of a batch (X encoded, z standardized, n results). The
//  first scores N_QUASI quasi-random points and N_LOCAL perturbations of
//  the best results, which stay the batch's candidates, and searches from
//  the N_STARTS best of them. A later one scores a few fresh points,
//  searches from the best fresh one and drops them after: kept, they
//  would make every later suggestion of the batch dearer. Both also
//  search from the incumbent.
static bool
s_suggest_one (hpt_bo_t *self, s_acq_t *acq, s_cands_t *cands, const double *X, const double *z,
               size_t n, uint64_t stream, bool first, hpt_pointset_t *visited, double *values)
{
    size_t d = self->dim, top[N_TOP], from = cands->count;
    size_t nquasi = first ? N_QUASI : N_QUASI_REFINE, nlocal = first ? N_LOCAL : N_LOCAL_REFINE;
    hpt_rng_t rng;
    hpt_rng_init (&rng, self->seed, stream, 0xacc);
    double *pts = hpt_malloc ((nquasi + nlocal) * d * sizeof (double));
    s_quasi (self, stream * N_QUASI, nquasi, pts);
    s_perturb (self, X, z, n, &rng, nlocal, pts + nquasi * d);
    s_cands_add (self, acq, cands, pts, nquasi + nlocal);
    free (pts);
    s_best_rows (z, n, top);
    bool ok = s_search (self, acq, cands, from, first ? N_STARTS : REFINE_STARTS, 0.05,
                        X + top[0] * d, &rng, visited, values);
    if (!first) s_cands_drop (cands, d, from, nquasi + nlocal);
    return ok;
}

//  Conditions the GP on the n results (X encoded, z standardized) with
//  theta. The Cholesky factor depends only on X and theta, so while they
//  are unchanged (no new result, e.g. a second suggest or a batch) the
//  factor is kept and only the targets are solved again: O(n^3) work
//  happens only when the data changed. Returns false when the kernel
//  matrix cannot be factorized.
static bool
s_condition (hpt_bo_t *self, const double *X, const double *z, size_t n, const double *theta)
{
    uint64_t key = s_hash_data (X, n * self->dim, theta, self->dim + 2);
    if (self->model_valid && self->model_key == key && self->model_count == n &&
        hpt_gp_count (self->gp) >= n) {
        hpt_gp_truncate (self->gp, n);
        hpt_gp_set_targets (self->gp, z);
        return true;
    }
    self->model_valid = hpt_gp_condition (self->gp, X, z, n, theta);
    self->model_key = key;
    self->model_count = n;
    return self->model_valid;
}

//  Kriging believer: a pending point (x, encoded) joins the model with its
//  posterior mean as value, which collapses the variance (so the expected
//  improvement) around it; when that mean beats the best result, later
//  points of the batch must beat it too.
static void
s_believe (hpt_bo_t *self, s_acq_t *acq, const double *x)
{
    double mean, var;
    hpt_gp_predict (self->gp, x, 1, &mean, &var);
    hpt_gp_append (self->gp, x, mean);
    acq->best = fmin (acq->best, mean);
}

size_t
hpt_bo_suggest (hpt_bo_t *self, const hpt_bo_history_t *history, hpt_pointset_t *visited, size_t n,
                double *out)
{
    size_t d = self->dim, n_done = history->n_done;
    if (n_done < 2 || n == 0) return 0;
    size_t total = n_done + history->n_pending + 1;
    double *X = hpt_malloc (total * d * sizeof (double));
    double *y = hpt_malloc (total * sizeof (double));
    double *z = hpt_malloc (total * sizeof (double));
    for (size_t i = 0; i < n_done; i++)
        s_encode (self, history->done_values + i * d, X + i * d);
    memcpy (y, history->done_y, n_done * sizeof (double));
    const double *theta = s_hyperparameters (self, X, y, s_checkpoint (n_done));
    s_transform (y, n_done, z);
    if (n_done > MODEL_CAP) {
        //  Bound the O(n^2) scoring and O(n^3) factorization of huge
        //  histories: the best results and a spread of the rest. Rows only
        //  move down, so compaction in place is safe.
        size_t *rows = hpt_malloc (MODEL_CAP * sizeof (size_t));
        n_done = s_subset (z, n_done, MODEL_CAP, rows);
        for (size_t i = 0; i < n_done; i++) {
            memmove (X + i * d, X + rows[i] * d, d * sizeof (double));
            z[i] = z[rows[i]];
        }
        free (rows);
    }
    s_acq_t acq = {.best = INFINITY};
    for (size_t i = 0; i < n_done; i++)
        acq.best = fmin (acq.best, z[i]);
    //  Only the most recent PENDING_CAP pending points join the model (an
    //  O(n^2) step each, and a larger model makes every score dearer); the
    //  older ones repel suggestions as failures do, at O(d) per score.
    size_t n_believed = history->n_pending < PENDING_CAP ? history->n_pending : PENDING_CAP;
    size_t n_repelled = history->n_pending - n_believed;
    size_t n_far = history->n_failed + n_repelled;
    double *failed = hpt_malloc ((n_far ? n_far : 1) * d * sizeof (double));
    double *point = hpt_malloc (d * sizeof (double));
    for (size_t f = 0; f < n_far; f++) {
        const double *values = f < history->n_failed
                                   ? history->failed_values + f * d
                                   : history->pending_values + (f - history->n_failed) * d;
        s_encode (self, values, point);
        for (size_t j = 0; j < d; j++)
            failed[j * n_far + f] = point[j];
    }
    free (point);
    acq.failed = failed;
    acq.n_failed = n_far;
    acq.dist2 = hpt_malloc ((n_far ? n_far : 1) * sizeof (double));
    bool ok = s_condition (self, X, z, n_done, theta);
    for (size_t i = 0; ok && i < n_believed; i++) {
        const double *pending = history->pending_values + (n_repelled + i) * d;
        s_encode (self, pending, X + (n_done + i) * d);
        s_believe (self, &acq, X + (n_done + i) * d);
    }
    //  The candidates of the batch are kept through every append below.
    s_cands_t cands = {.vcap = hpt_gp_count (self->gp) + n};
    size_t produced = 0;
    while (ok && produced < n) {
        double *values = out + produced * d;
        uint64_t stream = history->history_size * 64 + produced;
        bool found = s_suggest_one (self, &acq, &cands, X, z, n_done, stream, produced == 0,
                                    visited, values);
        if (!found) break;
        hpt_pointset_insert (visited, values);
        produced++;
        if (produced < n) {
            double *x = X + (n_done + n_believed) * d;
            s_encode (self, values, x);
            s_believe (self, &acq, x);
            s_cands_update (self, &acq, &cands);
        }
    }
    s_cands_free (&cands);
    free (acq.mean);
    free (acq.var);
    free (acq.dist2);
    free (failed);
    free (X);
    free (y);
    free (z);
    return produced;
}

size_t
hpt_bo_length_scales (hpt_bo_t *self, const double *done_values, const double *done_y,
                      size_t n_done, double *scales)
{
    size_t d = self->dim;
    if (n_done < 2) return 0;
    double *X = hpt_malloc (n_done * d * sizeof (double));
    for (size_t i = 0; i < n_done; i++)
        s_encode (self, done_values + i * d, X + i * d);
    size_t m = s_checkpoint (n_done);
    //  The same fit the suggestions use (and cache): the first m results.
    const double *theta = s_hyperparameters (self, X, done_y, m);
    for (size_t j = 0; j < d; j++)
        scales[j] = exp (theta[j]);
    free (X);
    return m;
}
