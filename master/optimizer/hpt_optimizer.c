/*  hpt_optimizer -- suggests the next trials of a job from its history

    History: three lists (pending, finished, failed), each sorted by trial
    id, with values snapped to legal ones. A result with a NaN or infinite
    objective is a failure. The goal's direction is handled here and only
    here: a MAXIMIZE objective is negated, so everything below minimizes.

    Visited points: before each suggestion the points of all three lists go
    into a point set, and each suggestion joins it, so no suggestion
    repeats a pending, finished or failed point or another one of its
    batch. A finite space (no DOUBLE parameter) is exhausted when the set
    holds all of its points.

    GRID_SEARCH walks hpt_space_grid_point from index 0 and takes the first
    points not visited: stable, complete, no repeats.

    RANDOM_SEARCH takes point number h, h+1, ... of a scrambled Halton
    sequence (h = number of trials in the history, so a restart continues
    the sequence) and decodes it through hpt_space_from_unit, skipping
    visited points. In a finite space where the sequence keeps hitting
    visited points, it falls back to the first unvisited grid point after
    a seeded offset.

    ALGORITHM_UNSPECIFIED: an initial design of min(3 (d + 1), 30) points from
    the same Halton sequence (indexed the same way), then hpt_bo. Whatever
    hpt_bo cannot provide (a nearly used-up finite space) comes from the
    random path.
*/
#include "hpt_optimizer.h"
#include "hpt_alloc.h"
#include "hpt_bo.h"
#include "hpt_halton.h"
#include "hpt_pointset.h"
#include "hpt_rng.h"
#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

//  Random search gives up on the Halton sequence after this many visited
//  points in a row and walks the grid instead.
#define RANDOM_MISSES 64

//  Most points of the initial design of Bayesian optimization, which has
//  3 (d + 1) points below that: a larger design finds the global basin of
//  multi-modal functions (hartmann6) far more often than d + 1.
#define INIT_MAX 30

typedef struct {
    uint64_t *ids;   //  trial ids, ascending
    double *values;  //  count x dim values
    double *y;       //  objectives (finished list only), minimization orientation
    size_t count;    //  entries held
    size_t capacity; //  entries the arrays can hold
} s_list_t;

struct _hpt_optimizer_t {
    hpt_space_t *space;        //  borrowed search space
    size_t dim;                //  number of parameters
    hpt_goal_t goal;           //  direction of the objective
    hpt_algorithm_t algorithm; //  grid, random or Bayesian
    uint64_t seed;             //  job seed
    uint64_t grid_size;        //  points of a finite space, 0 when infinite
    s_list_t pending;          //  launched, no result yet
    s_list_t done;             //  finished with a finite objective
    s_list_t failed;           //  failed, infeasible or non-finite result
    hpt_halton_t *halton;      //  random search and initial design
    hpt_bo_t *bo;              //  Bayesian optimization model, or NULL
    uint64_t budget;           //  the job's maxTrials, 0 when unknown
};

static void
s_pin_blas (void)
{
    openblas_set_num_threads (1);
}

hpt_optimizer_t *
hpt_optimizer_new (hpt_space_t *space, hpt_goal_t goal, hpt_algorithm_t algorithm, uint64_t seed)
{
    if (!space || hpt_space_size (space) == 0) return NULL;
    //  Suggestions are small problems, computed one at a time (in the
    //  master's suggester thread): OpenBLAS threads would only add
    //  latency and jitter. Once per process, whichever thread comes first.
    static pthread_once_t pinned = PTHREAD_ONCE_INIT;
    pthread_once (&pinned, s_pin_blas);
    hpt_optimizer_t *self = hpt_calloc (1, sizeof (hpt_optimizer_t));
    self->space = space;
    self->dim = hpt_space_size (space);
    self->goal = goal;
    self->algorithm = algorithm;
    self->seed = seed;
    self->grid_size = hpt_space_grid_size (space);
    self->halton = hpt_halton_new (self->dim, seed);
    if (algorithm == HPT_ALGORITHM_UNSPECIFIED) self->bo = hpt_bo_new (space, seed);
    return self;
}

static void
s_list_free (s_list_t *list)
{
    free (list->ids);
    free (list->values);
    free (list->y);
    memset (list, 0, sizeof *list);
}

void
hpt_optimizer_destroy (hpt_optimizer_t **self_p)
{
    if (!self_p || !*self_p) return;
    hpt_optimizer_t *self = *self_p;
    s_list_free (&self->pending);
    s_list_free (&self->done);
    s_list_free (&self->failed);
    hpt_halton_destroy (&self->halton);
    hpt_bo_destroy (&self->bo);
    free (self);
    *self_p = NULL;
}

//  ---------------------------------------------------------------------
//  History lists

//  Position of trial_id in the list, or where it would be inserted.
static size_t
s_list_find (s_list_t *list, uint64_t trial_id, bool *found)
{
    size_t lo = 0, hi = list->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (list->ids[mid] < trial_id)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < list->count && list->ids[lo] == trial_id;
    return lo;
}

//  Inserts or replaces the entry of trial_id (values: dim doubles, copied).
static void
s_list_put (s_list_t *list, size_t dim, uint64_t trial_id, const double *values, double y)
{
    bool found;
    size_t at = s_list_find (list, trial_id, &found);
    if (!found) {
        if (list->count == list->capacity) {
            list->capacity = list->capacity ? 2 * list->capacity : 16;
            list->ids = hpt_realloc (list->ids, list->capacity * sizeof (uint64_t));
            list->values = hpt_realloc (list->values, list->capacity * dim * sizeof (double));
            list->y = hpt_realloc (list->y, list->capacity * sizeof (double));
        }
        size_t tail = list->count - at;
        memmove (list->ids + at + 1, list->ids + at, tail * sizeof (uint64_t));
        memmove (list->values + (at + 1) * dim, list->values + at * dim,
                 tail * dim * sizeof (double));
        memmove (list->y + at + 1, list->y + at, tail * sizeof (double));
        list->count++;
    }
    list->ids[at] = trial_id;
    memcpy (list->values + at * dim, values, dim * sizeof (double));
    list->y[at] = y;
}

static void
s_list_remove (s_list_t *list, size_t dim, uint64_t trial_id)
{
    bool found;
    size_t at = s_list_find (list, trial_id, &found);
    if (!found) return;
    size_t tail = list->count - at - 1;
    memmove (list->ids + at, list->ids + at + 1, tail * sizeof (uint64_t));
    memmove (list->values + at * dim, list->values + (at + 1) * dim, tail * dim * sizeof (double));
    memmove (list->y + at, list->y + at + 1, tail * sizeof (double));
    list->count--;
}

//  Snaps caller values into legal ones (dim doubles into the caller's out).
//  A NaN value becomes the parameter's lowest value, so it cannot poison
//  the model.
static void
s_snap (hpt_optimizer_t *self, const double *values, double *out)
{
    for (size_t j = 0; j < self->dim; j++)
        out[j] = isnan (values[j]) ? hpt_space_from_unit (self->space, j, 0.0)
                                   : hpt_space_snap (self->space, j, values[j]);
}

void
hpt_optimizer_add_pending (hpt_optimizer_t *self, uint64_t trial_id, const double *values)
{
    if (!self || !values) return;
    double *snapped = hpt_malloc (self->dim * sizeof (double));
    s_snap (self, values, snapped);
    s_list_put (&self->pending, self->dim, trial_id, snapped, 0.0);
    free (snapped);
}

void
hpt_optimizer_add_failed (hpt_optimizer_t *self, uint64_t trial_id, const double *values)
{
    if (!self || !values) return;
    double *snapped = hpt_malloc (self->dim * sizeof (double));
    s_snap (self, values, snapped);
    s_list_remove (&self->pending, self->dim, trial_id);
    s_list_remove (&self->done, self->dim, trial_id);
    s_list_put (&self->failed, self->dim, trial_id, snapped, 0.0);
    free (snapped);
}

void
hpt_optimizer_add_result (hpt_optimizer_t *self, uint64_t trial_id, const double *values,
                          double objective)
{
    if (!self || !values) return;
    if (!isfinite (objective)) {
        hpt_optimizer_add_failed (self, trial_id, values);
        return;
    }
    double *snapped = hpt_malloc (self->dim * sizeof (double));
    s_snap (self, values, snapped);
    s_list_remove (&self->pending, self->dim, trial_id);
    s_list_remove (&self->failed, self->dim, trial_id);
    double y = self->goal == HPT_GOAL_MAXIMIZE ? -objective : objective;
    s_list_put (&self->done, self->dim, trial_id, snapped, y);
    free (snapped);
}

//  ---------------------------------------------------------------------
//  Suggestions

static uint64_t
s_history_size (hpt_optimizer_t *self)
{
    return self->pending.count + self->done.count + self->failed.count;
}

//  A fresh set of every pending, finished and failed point. Caller owns it.
static hpt_pointset_t *
s_visited (hpt_optimizer_t *self)
{
    hpt_pointset_t *set = hpt_pointset_new (self->dim);
    const s_list_t *lists[] = {&self->pending, &self->done, &self->failed};
    for (size_t l = 0; l < 3; l++)
        for (size_t i = 0; i < lists[l]->count; i++)
            hpt_pointset_insert (set, lists[l]->values + i * self->dim);
    return set;
}

static bool
s_used_up (hpt_optimizer_t *self, hpt_pointset_t *visited)
{
    return self->grid_size > 0 && hpt_pointset_count (visited) >= self->grid_size;
}

//  First unvisited grid point at or after index start (cyclically), into
//  values. Returns false when there is none.
static bool
s_grid_unvisited (hpt_optimizer_t *self, hpt_pointset_t *visited, uint64_t start, double *values)
{
    for (uint64_t k = 0; k < self->grid_size; k++) {
        uint64_t index = (start + k) % self->grid_size;
        hpt_space_grid_point (self->space, index, values);
        if (!hpt_pointset_contains (visited, values)) return true;
    }
    return false;
}

static size_t
s_suggest_grid (hpt_optimizer_t *self, hpt_pointset_t *visited, size_t n, double *out)
{
    size_t produced = 0;
    for (uint64_t index = 0; index < self->grid_size && produced < n; index++) {
        double *values = out + produced * self->dim;
        hpt_space_grid_point (self->space, index, values);
        if (hpt_pointset_insert (visited, values)) produced++;
    }
    return produced;
}

//  Quasi-random points number index, index + 1, ... that are not visited,
//  into out; *index advances past the points used.
static size_t
s_suggest_random (hpt_optimizer_t *self, hpt_pointset_t *visited, uint64_t *index, size_t n,
                  double *out)
{
    size_t produced = 0, misses = 0;
    double *u = hpt_malloc (self->dim * sizeof (double));
    hpt_rng_t rng;
    hpt_rng_init (&rng, self->seed, s_history_size (self), 0x9a1d);
    while (produced < n && !s_used_up (self, visited)) {
        double *values = out + produced * self->dim;
        if (misses < RANDOM_MISSES) {
            hpt_halton_point (self->halton, (*index)++, u);
            for (size_t j = 0; j < self->dim; j++)
                values[j] = hpt_space_from_unit (self->space, j, u[j]);
        } else if (!s_grid_unvisited (self, visited, hpt_rng_below (&rng, self->grid_size), values))
            break;
        if (hpt_pointset_insert (visited, values)) {
            produced++;
            misses = 0;
        } else
            misses++;
    }
    free (u);
    return produced;
}

static size_t
s_suggest_bayes (hpt_optimizer_t *self, hpt_pointset_t *visited, size_t n, double *out)
{
    uint64_t history = s_history_size (self);
    size_t n_init = 3 * (self->dim + 1) < INIT_MAX ? 3 * (self->dim + 1) : INIT_MAX;
    //  A small budget must not be spent on the design alone: at most a
    //  third of it, and never fewer than d + 1 points.
    if (self->budget > 0 && n_init > self->budget / 3) {
        n_init = (size_t)(self->budget / 3);
        if (n_init < self->dim + 1) n_init = self->dim + 1;
    }
    size_t produced = 0;
    uint64_t index = history;
    //  Initial design while the history (with this batch) is small.
    if (history < n_init || self->done.count < 2) {
        size_t want = self->done.count < 2 ? n : (size_t)(n_init - history);
        if (want > n) want = n;
        produced = s_suggest_random (self, visited, &index, want, out);
    }
    if (produced < n) {
        hpt_bo_history_t h = {
            .done_values = self->done.values,
            .done_y = self->done.y,
            .n_done = self->done.count,
            .pending_values = self->pending.values,
            .n_pending = self->pending.count,
            .failed_values = self->failed.values,
            .n_failed = self->failed.count,
            .history_size = history,
        };
        produced +=
            hpt_bo_suggest (self->bo, &h, visited, n - produced, out + produced * self->dim);
    }
    if (produced < n)
        produced +=
            s_suggest_random (self, visited, &index, n - produced, out + produced * self->dim);
    return produced;
}

size_t
hpt_optimizer_suggest (hpt_optimizer_t *self, size_t n, double *out)
{
    if (!self || !out || n == 0) return 0;
    hpt_pointset_t *visited = s_visited (self);
    size_t produced;
    if (self->algorithm == HPT_ALGORITHM_GRID_SEARCH)
        produced = s_suggest_grid (self, visited, n, out);
    else if (self->algorithm == HPT_ALGORITHM_RANDOM_SEARCH) {
        uint64_t index = s_history_size (self);
        produced = s_suggest_random (self, visited, &index, n, out);
    } else
        produced = s_suggest_bayes (self, visited, n, out);
    hpt_pointset_destroy (&visited);
    return produced;
}

bool
hpt_optimizer_exhausted (hpt_optimizer_t *self)
{
    if (!self) return true;
    if (self->algorithm == HPT_ALGORITHM_GRID_SEARCH && self->grid_size == 0) return true;
    if (self->grid_size == 0) return false;
    hpt_pointset_t *visited = s_visited (self);
    bool used_up = s_used_up (self, visited);
    hpt_pointset_destroy (&visited);
    return used_up;
}

void
hpt_optimizer_set_budget (hpt_optimizer_t *self, uint64_t max_trials)
{
    self->budget = max_trials;
}

size_t
hpt_optimizer_length_scales (hpt_optimizer_t *self, double *scales, size_t *results)
{
    if (results) *results = self ? self->done.count : 0;
    if (!self || self->done.count < 2) return 0;
    //  Grid and random search fit no model of their own: they get one for
    //  this question, seeded alike, so the answer is as deterministic.
    if (!self->bo) self->bo = hpt_bo_new (self->space, self->seed);
    return hpt_bo_length_scales (self->bo, self->done.values, self->done.y, self->done.count,
                                 scales);
}

//  ---------------------------------------------------------------------
//  Snapshots

struct _hpt_optimizer_history_t {
    size_t dim;                //  number of parameters
    hpt_goal_t goal;           //  direction of the objective
    hpt_algorithm_t algorithm; //  grid, random or Bayesian
    uint64_t seed;             //  job seed
    uint64_t budget;           //  maxTrials, 0 when unknown
    s_list_t pending;          //  copies of the optimizer's lists
    s_list_t done;             //  (y already in minimization orientation)
    s_list_t failed;           //  failed points
};

//  Copies list from into the empty list to (dim doubles per entry).
static void
s_list_copy (s_list_t *to, const s_list_t *from, size_t dim)
{
    size_t count = from->count;
    to->capacity = count ? count : 1;
    to->count = count;
    to->ids = hpt_malloc (to->capacity * sizeof (uint64_t));
    to->values = hpt_malloc (to->capacity * (dim ? dim : 1) * sizeof (double));
    to->y = hpt_malloc (to->capacity * sizeof (double));
    if (!count) return;
    memcpy (to->ids, from->ids, count * sizeof (uint64_t));
    memcpy (to->values, from->values, count * dim * sizeof (double));
    memcpy (to->y, from->y, count * sizeof (double));
}

hpt_optimizer_history_t *
hpt_optimizer_history (hpt_optimizer_t *self)
{
    if (!self) return NULL;
    hpt_optimizer_history_t *history = hpt_calloc (1, sizeof (hpt_optimizer_history_t));
    history->dim = self->dim;
    history->goal = self->goal;
    history->algorithm = self->algorithm;
    history->seed = self->seed;
    history->budget = self->budget;
    s_list_copy (&history->pending, &self->pending, self->dim);
    s_list_copy (&history->done, &self->done, self->dim);
    s_list_copy (&history->failed, &self->failed, self->dim);
    return history;
}

void
hpt_optimizer_history_destroy (hpt_optimizer_history_t **self_p)
{
    if (!self_p || !*self_p) return;
    hpt_optimizer_history_t *self = *self_p;
    s_list_free (&self->pending);
    s_list_free (&self->done);
    s_list_free (&self->failed);
    free (self);
    *self_p = NULL;
}

hpt_optimizer_t *
hpt_optimizer_new_from (hpt_space_t *space, const hpt_optimizer_history_t *history)
{
    if (!space || !history || hpt_space_size (space) != history->dim) return NULL;
    hpt_optimizer_t *self =
        hpt_optimizer_new (space, history->goal, history->algorithm, history->seed);
    if (self) {
        self->budget = history->budget;
        hpt_optimizer_set_history (self, history);
    }
    return self;
}

bool
hpt_optimizer_set_history (hpt_optimizer_t *self, const hpt_optimizer_history_t *history)
{
    if (!self || !history || history->dim != self->dim || history->goal != self->goal ||
        history->algorithm != self->algorithm || history->seed != self->seed ||
        history->budget != self->budget)
        return false;
    s_list_free (&self->pending);
    s_list_free (&self->done);
    s_list_free (&self->failed);
    s_list_copy (&self->pending, &history->pending, self->dim);
    s_list_copy (&self->done, &history->done, self->dim);
    s_list_copy (&self->failed, &history->failed, self->dim);
    return true;
}
