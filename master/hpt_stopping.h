/*  hpt_stopping -- early-stopping rules for the trials of one job

    The master keeps one hpt_stopping_t per job with
    `enableTrialEarlyStopping: true`. The tuner feeds it every objective
    report of a running trial and tells it when a trial ends; a report may
    come back with "stop this trial now" and a reason, which the core turns
    into a STOP to the trial's agent. The module does no I/O and keeps no
    clock: its state is a pure function of the calls it was given, so the
    master rebuilds it after a restart by replaying the store's reports and
    endings in their original order (the return values of replayed reports
    are ignored by the caller for trials that already ended).

    Rules (docs/lifecycle.md; the `earlyStopping` block under `hyperparameters` is
    an hpt extension, `enableTrialEarlyStopping` alone means MEDIAN with the
    defaults below):

    MEDIAN (the default; Vizier's and Ray's median stopping rule, Katib's
    medianstop): at each new report of a running trial at step s, take the
    trial's best value so far (this report included). Over the COMPLETED
    trials that reached step s (a report at a step >= s), take each one's
    running average up to s (the mean of its reports at steps <= s) and the
    median of those averages. Stop the trial if its best is strictly worse
    than that median. The rule applies only when s >= warmup_steps, s is
    below the budget (max_resource, else the largest last step of a
    completed trial: a report there is the trial's last, and stopping it
    would save nothing) and at least min_completed_trials completed trials
    reached step s (so also only after that many completed).

    ASHA (asynchronous successive halving, Li et al. 2018, the stopping
    form used by Ray's AsyncHyperBand): rungs at steps min_resource *
    eta^k (k = 0, 1, ...) below max_resource. The first report of a trial
    at a step >= a rung records the trial's best value so far at that rung
    (once per rung, in report order). It continues only if it is in the top
    max(1, floor(n / eta)) of the n trials recorded at that rung so far (it
    included; ties count in its favour); with fewer than eta recorded, it
    continues. Records of stopped and failed trials stay: they are real
    measurements at that rung, and ASHA's promotion quantiles are over every
    trial that reached the rung. max_resource 0 means "learn it": the
    largest last step of the completed trials; until one completed, every
    rung applies.

    DECAY_CURVE is reserved for a curve-fitting predictor; it is not
    implemented: hpt_stopping_new refuses it.

    Trial endings: COMPLETED (ran its full budget) makes its curve reference
    data for MEDIAN and teaches ASHA the budget. STOPPED (early, by this
    module or otherwise) and FAILED trials are never MEDIAN references: a
    truncated curve has no running average at later steps, and the trials
    that get stopped are the bad ones, so counting them would lower the bar
    for everyone. Their ASHA rung records stay (see above). A report or an
    ending for a trial that already ended is ignored; so is a non-finite
    value.

    Steps: the caller passes the report's global_step. A step <= 0 means
    "the trainer reported no step": the trial's report count (1, 2, ...) is
    used instead, as the issue asks ("the report's order").
*/
#ifndef HPT_STOPPING_H_INCLUDED
#define HPT_STOPPING_H_INCLUDED

#include "hpt_error.h"
#include "hpt_types.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Defaults (hpt_stop_config_defaults) and why:
//
//  MEDIAN: min_completed_trials = 3, warmup_steps = 1.
//  - 3 references: Katib's medianstop (min_trials_required=3) and Ray's
//    MedianStoppingRule (min_samples_required=3). Optuna's MedianPruner
//    waits for n_startup_trials=5 but compares against the completed
//    trials' values AT step s, which is stricter on a rising curve; against
//    running averages 3 are enough not to stop on one lucky reference (with
//    2 the "median" is their mean, and one outlier moves it).
//  - Warm-up 1: judge from the first report after step 0. Step 0 (TF's
//    evaluation before any training) says nothing about the parameters, so
//    it is skipped. After it, the first reports are where this rule is
//    fair: a best-so-far against running averages is compared like with
//    like at step 1 and grows more lenient as the averages lag a rising
//    curve, so a later start (Katib's start_step=4) throws away the rule's
//    most informative comparisons. Optuna's n_warmup_steps=0 and Ray's
//    min_time_slice=0 also judge from the start. Measured on
//    tests/bench/early_stopping_compare.py (3 seeds): warm-up 4 saved 21 %
//    of the steps, warm-up 1 34-38 %, with the same best final value.
//
//  ASHA: min_completed_trials = 0 (ASHA needs no completed trial: it ranks
//  trials at the same rung), warmup_steps = 0, reduction_factor = 3
//  (Hyperband's and Ray ASHA's eta), min_resource = 1 (Ray ASHA's
//  grace_period=1, Hyperband's r_min), max_resource = 0 (learned from the
//  first completed trial's last step, which for a job of identical budgets
//  is the budget).
typedef struct {
    hpt_early_stop_rule_t rule;   //  which rule decides
    int64_t min_completed_trials; //  MEDIAN: needs this many completed references at step s;
                                  //  ASHA: no stop before this many trials completed
    int64_t warmup_steps;         //  no stop at a step below this (both rules)
    double reduction_factor;      //  ASHA eta, > 1
    int64_t min_resource;         //  ASHA: the first rung's step, >= 1
    int64_t max_resource;         //  ASHA: the trials' full budget in steps; 0 = learn it
} hpt_stop_config_t;

//  Fills config with the defaults of rule (see above).
void hpt_stop_config_defaults (hpt_stop_config_t *config, hpt_early_stop_rule_t rule);

//  Checks config: 0 when it is valid, else -1 with error (HPT_E_INVALID,
//  a message naming the field) set; error may be NULL.
int hpt_stop_config_check (const hpt_stop_config_t *config, hpt_error_t *error);

typedef struct _hpt_stopping_t hpt_stopping_t;

//  Creates the rules state of one job; config is copied. maximize: the
//  objective's goal is MAXIMIZE. Returns NULL if config fails
//  hpt_stop_config_check or names DECAY_CURVE. Caller owns the result.
hpt_stopping_t *hpt_stopping_new (const hpt_stop_config_t *config, bool maximize);

//  Destroys the state and nulls *self_p.
void hpt_stopping_destroy (hpt_stopping_t **self_p);

//  A report of the objective by a running trial at step (global_step; <= 0
//  for "none": the report order is used). Returns true when the trial
//  should be stopped now, and then writes why into reason (reason_size
//  bytes, always terminated; reason may be NULL). A trial told to stop
//  stays "running" here until the caller says it stopped; further reports
//  of it are judged again.
bool hpt_stopping_report (hpt_stopping_t *self, int64_t trial_id, int64_t step, double value,
                          char *reason, size_t reason_size);

//  The trial finished its full budget: its curve becomes MEDIAN reference
//  data, and its last step teaches ASHA the budget when max_resource is 0.
void hpt_stopping_completed (hpt_stopping_t *self, int64_t trial_id);

//  The trial was stopped early (by this module or by a user): no MEDIAN
//  reference; its ASHA rung records stay.
void hpt_stopping_stopped (hpt_stopping_t *self, int64_t trial_id);

//  The trial failed: as stopped.
void hpt_stopping_failed (hpt_stopping_t *self, int64_t trial_id);

//  The trial starts over (requeued after its agent was lost, or retried):
//  its reports so far are dropped and it is running again, so its new
//  attempt's curve is judged alone; a completed trial stops being a
//  reference. Its ASHA rung records stay, and its new attempt is not
//  recorded again at those rungs (one trial, one record per rung).
void hpt_stopping_forget (hpt_stopping_t *self, int64_t trial_id);

//  An estimate of the final value a trial (typically just stopped) would
//  have reached at its full budget, for the optimizer: its best so far
//  plus the median, over the completed trials that reached its last step
//  s, of (their final value - their best up to s), i.e. the typical gain
//  of a completed curve after step s. With no such completed trial, the
//  best so far alone (pessimistic for a rising curve). The estimate is
//  never better than the median final value of the completed trials: a
//  stopped trial was judged worse than the typical completed one, and a
//  projection must not make it look like a new best the optimizer would
//  then exploit without evidence. references gets how
//  many completed trials the median used (may be NULL). Returns false for
//  an unknown trial or one without reports.
bool hpt_stopping_estimate (hpt_stopping_t *self, int64_t trial_id, double *estimate,
                            size_t *references);

//  How many trials completed so far (for tests and the API's status).
size_t hpt_stopping_completed_count (hpt_stopping_t *self);

//  The budget ASHA uses now: max_resource, or the learned one (0: unknown).
int64_t hpt_stopping_max_resource (hpt_stopping_t *self);

//  The rule's reference, as the console draws it beside the learning
//  curves: one point per step.
typedef struct {
    int64_t step;   //  the step (MEDIAN) or the rung's step (ASHA)
    double value;   //  MEDIAN: the median running average; ASHA: the cutoff
    bool has_value; //  ASHA: false while the rung has fewer than eta records
    size_t count;   //  completed trials that reached the step / records at the rung
    size_t keep;    //  ASHA: how many of the records continue
} hpt_stop_reference_t;

//  The rules as configured (borrowed).
const hpt_stop_config_t *hpt_stopping_config (hpt_stopping_t *self);

//  MEDIAN's reference curve: at the steps the completed trials reported
//  (at most max of them, evenly spread when there are more), the median
//  of their running averages up to the step, over those that reached it
//  (what a running trial's best so far is compared with there). Written
//  into out, by step; returns how many.
size_t hpt_stopping_median_curve (hpt_stopping_t *self, hpt_stop_reference_t *out, size_t max);

//  ASHA's rungs recorded so far (at most max): the rung's step, how many
//  trials were recorded there, how many of them continue, and the cutoff:
//  the worst best-so-far that still continues (the keep-th best record).
//  Returns how many.
size_t hpt_stopping_rungs (hpt_stopping_t *self, hpt_stop_reference_t *out, size_t max);

#endif
