/*  hpt_stopping -- early-stopping rules for the trials of one job

    The rules are stated in hpt_stopping.h. How they are computed:

    Each trial keeps its reports in arrival order (step, value), its best
    value so far, its state (running, completed, ended early) and, for
    ASHA, the index of the next rung it has not been recorded at. Each ASHA
    rung keeps the values recorded there in arrival order.

    MEDIAN, at a report at step s: walk the completed trials; a trial that
    reached s (its largest step >= s) and has at least one report at a step
    <= s contributes the mean of those reports. Sort the contributions and
    take the median (the mean of the two middle ones for an even count).
    A report at or past the budget (maxResource, else the largest last
    step of a completed trial) is never judged: the trial is done.
    A completed trial's curve never changes again, so on completion its
    points are sorted by step (stable: reports at the same step keep their
    order) and prefix sums are kept: the mean up to s is one binary search.
    Cost per report: O(completed trials x log(points)) plus the sort of the
    averages, so a 500-trial job with 1000 steps each stays cheap.

    ASHA, at a report at step s: for each rung r = min_resource * eta^k
    with r <= s that the trial has not been recorded at, in increasing
    order, and r < the budget (when known), record the trial's best so far
    at r and rank it among the rung's records: it continues if fewer than
    max(1, floor(n / eta)) records are strictly better. The first rung that
    says stop stops the trial (later rungs are not recorded: the trial
    never legitimately reached them).

    Every decision depends only on the calls so far, in their order, so a
    replay of the same calls rebuilds the same state and decisions.
*/
#include "hpt_stopping.h"
#include "hpt_alloc.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
    S_RUNNING,   //  reports are judged
    S_COMPLETED, //  ran its budget: a MEDIAN reference
    S_ENDED,     //  stopped or failed: no reference, rung records stay
} s_trial_state_t;

typedef struct {
    int64_t step; //  global_step, or the report's order when none
    double value; //  the objective as reported
} s_point_t;

typedef struct {
    int64_t id;            //  the job's trial id
    s_trial_state_t state; //  see above
    s_point_t *points;     //  reports in arrival order; once completed, by step; owned
    double *sums;          //  once completed: sums[i] = sum of the first i values by step,
                           //  then bests[i] = best of them (one allocation); owned
    double *bests;         //  inside sums, or NULL
    size_t count;          //  used entries of points
    size_t capacity;       //  allocated entries of points
    int64_t max_step;      //  largest step reported so far
    double best;           //  best value so far (valid when count > 0)
    size_t next_rung;      //  ASHA: index of the first rung not recorded yet
} s_trial_t;

typedef struct {
    double *values;  //  best-so-far values recorded at this rung; owned
    size_t count;    //  used entries
    size_t capacity; //  allocated entries
} s_rung_t;

struct _hpt_stopping_t {
    hpt_stop_config_t config; //  validated copy
    bool maximize;            //  goal of the objective
    s_trial_t *trials;        //  every trial seen, in first-seen order; owned
    size_t trial_count;       //  used entries of trials
    size_t trial_capacity;    //  allocated entries of trials
    size_t completed;         //  trials in S_COMPLETED
    int64_t learned_budget;   //  largest last step of a completed trial (0: none yet)
    s_rung_t *rungs;          //  ASHA rungs by index; owned
    size_t rung_count;        //  rungs allocated so far
    double *scratch;          //  MEDIAN: room for one average per trial; owned
};

void
hpt_stop_config_defaults (hpt_stop_config_t *config, hpt_early_stop_rule_t rule)
{
    memset (config, 0, sizeof (*config));
    config->rule = rule;
    config->reduction_factor = 3.0;
    config->min_resource = 1;
    config->max_resource = 0;
    if (rule == HPT_EARLY_STOP_MEDIAN) {
        config->min_completed_trials = 3;
        config->warmup_steps = 1;
    }
}

int
hpt_stop_config_check (const hpt_stop_config_t *config, hpt_error_t *error)
{
    const char *message = NULL;
    if (!config)
        message = "no early-stopping config";
    else if (config->rule != HPT_EARLY_STOP_MEDIAN && config->rule != HPT_EARLY_STOP_ASHA &&
             config->rule != HPT_EARLY_STOP_DECAY_CURVE)
        message = "rule: must be median, asha or decay-curve";
    else if (config->min_completed_trials < 0 || config->min_completed_trials > 1000000)
        message = "minCompletedTrials: must be 0..1000000";
    else if (config->warmup_steps < 0)
        message = "warmupSteps: must be >= 0";
    else if (!isfinite (config->reduction_factor) || config->reduction_factor <= 1.0 ||
             config->reduction_factor > 1000.0)
        message = "reductionFactor: must be a number > 1 and <= 1000";
    else if (config->min_resource < 1)
        message = "minResource: must be >= 1";
    else if (config->max_resource < 0)
        message = "maxResource: must be >= 0 (0: learned from completed trials)";
    else if (config->max_resource > 0 && config->max_resource <= config->min_resource)
        message = "maxResource: must be greater than minResource";
    return message ? hpt_error_set (error, HPT_E_INVALID, "%s", message) : 0;
}

hpt_stopping_t *
hpt_stopping_new (const hpt_stop_config_t *config, bool maximize)
{
    if (hpt_stop_config_check (config, NULL) != 0 || config->rule == HPT_EARLY_STOP_DECAY_CURVE)
        return NULL;
    hpt_stopping_t *self = hpt_calloc (1, sizeof (hpt_stopping_t));
    self->config = *config;
    self->maximize = maximize;
    return self;
}

void
hpt_stopping_destroy (hpt_stopping_t **self_p)
{
    if (!self_p || !*self_p) return;
    hpt_stopping_t *self = *self_p;
    for (size_t i = 0; i < self->trial_count; i++) {
        free (self->trials[i].points);
        free (self->trials[i].sums);
    }
    free (self->trials);
    for (size_t i = 0; i < self->rung_count; i++)
        free (self->rungs[i].values);
    free (self->rungs);
    free (self->scratch);
    free (self);
    *self_p = NULL;
}

//  True when a is strictly better than b for the goal.
static bool
s_better (const hpt_stopping_t *self, double a, double b)
{
    return self->maximize ? a > b : a < b;
}

static s_trial_t *
s_find (hpt_stopping_t *self, int64_t trial_id)
{
    for (size_t i = 0; i < self->trial_count; i++)
        if (self->trials[i].id == trial_id) return &self->trials[i];
    return NULL;
}

//  Returns the trial, creating it (running, no reports) if new. The
//  pointer is valid until the next creation.
static s_trial_t *
s_find_or_add (hpt_stopping_t *self, int64_t trial_id)
{
    s_trial_t *trial = s_find (self, trial_id);
    if (trial) return trial;
    if (self->trial_count == self->trial_capacity) {
        self->trial_capacity = self->trial_capacity ? self->trial_capacity * 2 : 16;
        self->trials = hpt_realloc (self->trials, self->trial_capacity * sizeof (s_trial_t));
        self->scratch = hpt_realloc (self->scratch, self->trial_capacity * sizeof (double));
    }
    trial = &self->trials[self->trial_count++];
    memset (trial, 0, sizeof (*trial));
    trial->id = trial_id;
    trial->state = S_RUNNING;
    return trial;
}

static void
s_append_point (s_trial_t *trial, int64_t step, double value)
{
    if (trial->count == trial->capacity) {
        trial->capacity = trial->capacity ? trial->capacity * 2 : 32;
        trial->points = hpt_realloc (trial->points, trial->capacity * sizeof (s_point_t));
    }
    trial->points[trial->count++] = (s_point_t){step, value};
}

static int
s_compare_doubles (const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

//  How many points of a completed (sorted) trial have a step <= step.
static size_t
s_upto (const s_trial_t *trial, int64_t step)
{
    size_t low = 0, high = trial->count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (trial->points[middle].step <= step)
            low = middle + 1;
        else
            high = middle;
    }
    return low;
}

static double
s_median_of (double *values, size_t n)
{
    qsort (values, n, sizeof (double), s_compare_doubles);
    return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

//  The median of the running averages up to step of the completed trials
//  that reached step; *count gets how many there were (median undefined
//  when 0).
static double
s_reference_median (hpt_stopping_t *self, int64_t step, size_t *count)
{
    size_t n = 0;
    for (size_t i = 0; i < self->trial_count; i++) {
        const s_trial_t *trial = &self->trials[i];
        if (trial->state != S_COMPLETED || trial->max_step < step || !trial->sums) continue;
        size_t used = s_upto (trial, step);
        if (used > 0) self->scratch[n++] = trial->sums[used] / (double)used;
    }
    *count = n;
    if (n == 0) return 0;
    return s_median_of (self->scratch, n);
}

static int64_t
s_budget (const hpt_stopping_t *self)
{
    return self->config.max_resource > 0 ? self->config.max_resource : self->learned_budget;
}

static bool
s_median_rule (hpt_stopping_t *self, const s_trial_t *trial, int64_t step, char *reason,
               size_t reason_size)
{
    if (step < self->config.warmup_steps ||
        self->completed < (size_t)self->config.min_completed_trials)
        return false;
    //  A report at the budget is the trial's last: stopping it saves
    //  nothing and would mark a finished trial as stopped.
    int64_t budget = s_budget (self);
    if (budget > 0 && step >= budget) return false;
    size_t count;
    double median = s_reference_median (self, step, &count);
    if (count == 0 || count < (size_t)self->config.min_completed_trials) return false;
    if (!s_better (self, median, trial->best)) return false;
    if (reason && reason_size > 0)
        snprintf (reason, reason_size,
                  "median rule: best %.6g at step %lld is worse than the median %.6g of %zu "
                  "completed trials' running averages",
                  trial->best, (long long)step, median, count);
    return true;
}

//  The step of rung k, or -1 when it does not fit in an int64_t.
static int64_t
s_rung_step (const hpt_stopping_t *self, size_t k)
{
    double step =
        (double)self->config.min_resource * pow (self->config.reduction_factor, (double)k);
    if (!(step < 9.0e18)) return -1;
    return (int64_t)llround (step);
}

static s_rung_t *
s_rung (hpt_stopping_t *self, size_t k)
{
    if (k >= self->rung_count) {
        size_t count = k + 1;
        self->rungs = hpt_realloc (self->rungs, count * sizeof (s_rung_t));
        memset (self->rungs + self->rung_count, 0, (count - self->rung_count) * sizeof (s_rung_t));
        self->rung_count = count;
    }
    return &self->rungs[k];
}

static void
s_rung_record (s_rung_t *rung, double value)
{
    if (rung->count == rung->capacity) {
        rung->capacity = rung->capacity ? rung->capacity * 2 : 16;
        rung->values = hpt_realloc (rung->values, rung->capacity * sizeof (double));
    }
    rung->values[rung->count++] = value;
}

static bool
s_asha_rule (hpt_stopping_t *self, s_trial_t *trial, int64_t step, char *reason, size_t reason_size)
{
    int64_t budget = s_budget (self);
    bool may_stop = step >= self->config.warmup_steps &&
                    self->completed >= (size_t)self->config.min_completed_trials;
    double eta = self->config.reduction_factor;
    for (;;) {
        size_t k = trial->next_rung;
        int64_t rung_step = s_rung_step (self, k);
        if (rung_step < 0 || rung_step > step || (budget > 0 && rung_step >= budget)) return false;
        s_rung_t *rung = s_rung (self, k);
        s_rung_record (rung, trial->best);
        trial->next_rung = k + 1;
        if (!may_stop || (double)rung->count < eta) continue;
        size_t keep = (size_t)floor ((double)rung->count / eta);
        if (keep < 1) keep = 1;
        size_t better = 0;
        for (size_t i = 0; i < rung->count; i++)
            if (s_better (self, rung->values[i], trial->best)) better++;
        if (better < keep) continue;
        if (reason && reason_size > 0)
            snprintf (reason, reason_size,
                      "asha: best %.6g at rung %lld (step %lld) is not in the top 1/%g: %zu of "
                      "%zu trials recorded at the rung are better",
                      trial->best, (long long)rung_step, (long long)step, eta, better, rung->count);
        return true;
    }
}

bool
hpt_stopping_report (hpt_stopping_t *self, int64_t trial_id, int64_t step, double value,
                     char *reason, size_t reason_size)
{
    if (reason && reason_size > 0) reason[0] = '\0';
    if (!self || !isfinite (value)) return false;
    s_trial_t *trial = s_find_or_add (self, trial_id);
    if (trial->state != S_RUNNING) return false;
    if (step <= 0) step = (int64_t)trial->count + 1;
    s_append_point (trial, step, value);
    if (trial->count == 1 || s_better (self, value, trial->best)) trial->best = value;
    if (trial->count == 1 || step > trial->max_step) trial->max_step = step;
    if (self->config.rule == HPT_EARLY_STOP_ASHA)
        return s_asha_rule (self, trial, step, reason, reason_size);
    return s_median_rule (self, trial, step, reason, reason_size);
}

//  Sorts a completed trial's points by step, stably (insertion sort: the
//  points nearly always arrive in step order, so this is linear), and
//  builds its prefix sums (a trial completed without points has none).
static void
s_freeze (hpt_stopping_t *self, s_trial_t *trial)
{
    for (size_t i = 1; i < trial->count; i++) {
        s_point_t point = trial->points[i];
        size_t j = i;
        while (j > 0 && trial->points[j - 1].step > point.step) {
            trial->points[j] = trial->points[j - 1];
            j--;
        }
        trial->points[j] = point;
    }
    trial->sums = hpt_malloc (2 * (trial->count + 1) * sizeof (double));
    trial->bests = trial->sums + trial->count + 1;
    trial->sums[0] = 0;
    trial->bests[0] = trial->points[0].value; //  unused: no best of no points
    for (size_t i = 0; i < trial->count; i++) {
        double value = trial->points[i].value;
        trial->sums[i + 1] = trial->sums[i] + value;
        trial->bests[i + 1] =
            i == 0 || s_better (self, value, trial->bests[i]) ? value : trial->bests[i];
    }
}

static void
s_end (hpt_stopping_t *self, int64_t trial_id, s_trial_state_t state)
{
    if (!self) return;
    s_trial_t *trial = s_find_or_add (self, trial_id);
    if (trial->state != S_RUNNING) return;
    trial->state = state;
    if (state != S_COMPLETED) return;
    self->completed++;
    if (trial->count > 0) s_freeze (self, trial);
    if (trial->count > 0 && trial->max_step > self->learned_budget)
        self->learned_budget = trial->max_step;
}

void
hpt_stopping_completed (hpt_stopping_t *self, int64_t trial_id)
{
    s_end (self, trial_id, S_COMPLETED);
}

void
hpt_stopping_stopped (hpt_stopping_t *self, int64_t trial_id)
{
    s_end (self, trial_id, S_ENDED);
}

void
hpt_stopping_failed (hpt_stopping_t *self, int64_t trial_id)
{
    s_end (self, trial_id, S_ENDED);
}

void
hpt_stopping_forget (hpt_stopping_t *self, int64_t trial_id)
{
    s_trial_t *trial = self ? s_find (self, trial_id) : NULL;
    if (!trial) return;
    if (trial->state == S_COMPLETED) self->completed--;
    free (trial->sums);
    trial->sums = NULL;
    trial->bests = NULL;
    trial->count = 0;
    trial->max_step = 0;
    trial->best = 0;
    trial->state = S_RUNNING;
    //  next_rung stays: the rungs it was judged at keep their records, and
    //  recording the new attempt there again would count one trial twice.
}

bool
hpt_stopping_estimate (hpt_stopping_t *self, int64_t trial_id, double *estimate, size_t *references)
{
    s_trial_t *trial = self ? s_find (self, trial_id) : NULL;
    if (references) *references = 0;
    if (!trial || trial->count == 0 || !estimate) return false;
    int64_t step = trial->max_step;
    size_t n = 0;
    for (size_t i = 0; i < self->trial_count; i++) {
        const s_trial_t *other = &self->trials[i];
        if (other == trial || other->state != S_COMPLETED || !other->sums || other->max_step < step)
            continue;
        size_t used = s_upto (other, step);
        if (used > 0)
            self->scratch[n++] = other->points[other->count - 1].value - other->bests[used];
    }
    double projected = trial->best + (n > 0 ? s_median_of (self->scratch, n) : 0);
    //  The cap: the median final value of all completed trials.
    size_t finals = 0;
    for (size_t i = 0; i < self->trial_count; i++) {
        const s_trial_t *other = &self->trials[i];
        if (other != trial && other->state == S_COMPLETED && other->count > 0)
            self->scratch[finals++] = other->points[other->count - 1].value;
    }
    if (finals > 0) {
        double cap = s_median_of (self->scratch, finals);
        if (s_better (self, projected, cap)) projected = cap;
    }
    *estimate = projected;
    if (references) *references = n;
    return true;
}

size_t
hpt_stopping_completed_count (hpt_stopping_t *self)
{
    return self ? self->completed : 0;
}

int64_t
hpt_stopping_max_resource (hpt_stopping_t *self)
{
    return self ? s_budget (self) : 0;
}

const hpt_stop_config_t *
hpt_stopping_config (hpt_stopping_t *self)
{
    return &self->config;
}

static int
s_compare_steps (const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

size_t
hpt_stopping_median_curve (hpt_stopping_t *self, hpt_stop_reference_t *out, size_t max)
{
    if (!self || max == 0) return 0;
    size_t total = 0;
    for (size_t i = 0; i < self->trial_count; i++)
        if (self->trials[i].state == S_COMPLETED && self->trials[i].sums)
            total += self->trials[i].count;
    if (total == 0) return 0;
    int64_t *steps = hpt_malloc (total * sizeof (int64_t));
    size_t n = 0;
    for (size_t i = 0; i < self->trial_count; i++) {
        const s_trial_t *trial = &self->trials[i];
        if (trial->state != S_COMPLETED || !trial->sums) continue;
        for (size_t k = 0; k < trial->count; k++)
            steps[n++] = trial->points[k].step;
    }
    qsort (steps, n, sizeof (int64_t), s_compare_steps);
    size_t unique = 0;
    for (size_t k = 0; k < n; k++)
        if (unique == 0 || steps[unique - 1] != steps[k]) steps[unique++] = steps[k];
    size_t written = 0;
    for (size_t j = 0; j < max && j < unique; j++) {
        //  Evenly spread over the steps, the first and the last included.
        size_t k =
            unique <= max ? j : (size_t)((double)j * (double)(unique - 1) / (double)(max - 1));
        size_t count;
        double median = s_reference_median (self, steps[k], &count);
        if (count == 0) continue;
        if (written > 0 && out[written - 1].step == steps[k]) continue;
        out[written++] = (hpt_stop_reference_t){steps[k], median, true, count, 0};
    }
    free (steps);
    return written;
}

size_t
hpt_stopping_rungs (hpt_stopping_t *self, hpt_stop_reference_t *out, size_t max)
{
    if (!self) return 0;
    double eta = self->config.reduction_factor;
    size_t written = 0;
    for (size_t k = 0; k < self->rung_count && written < max; k++) {
        const s_rung_t *rung = &self->rungs[k];
        if (rung->count == 0) continue;
        hpt_stop_reference_t *r = &out[written++];
        *r = (hpt_stop_reference_t){s_rung_step (self, k), 0, false, rung->count, rung->count};
        if ((double)rung->count < eta) continue;
        size_t keep = (size_t)floor ((double)rung->count / eta);
        if (keep < 1) keep = 1;
        double *sorted = hpt_malloc (rung->count * sizeof (double));
        memcpy (sorted, rung->values, rung->count * sizeof (double));
        qsort (sorted, rung->count, sizeof (double), s_compare_doubles);
        //  Ascending: the keep-th best is from the top when maximizing.
        r->value = self->maximize ? sorted[rung->count - keep] : sorted[keep - 1];
        r->has_value = true;
        r->keep = keep;
        free (sorted);
    }
    return written;
}
