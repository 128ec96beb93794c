/*  Unit tests for the early-stopping rules (master/hpt_stopping): the
    median rule as the issue states it, ASHA rungs, the guards (completed
    trials, warm-up), both goals, and replay determinism. */
#include "hpt_stopping.h"
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define STEPS 20

//  The synthetic trainer's curve (examples/synthetic/trainer/task.py): rises to
//  final at step STEPS.
static double
s_curve (double final, int step)
{
    double left = 1.0 - (double)step / STEPS;
    return final - 0.5 * left * left;
}

static hpt_stopping_t *
s_median (int64_t min_completed, int64_t warmup, bool maximize)
{
    hpt_stop_config_t config;
    hpt_stop_config_defaults (&config, HPT_EARLY_STOP_MEDIAN);
    config.min_completed_trials = min_completed;
    config.warmup_steps = warmup;
    hpt_stopping_t *self = hpt_stopping_new (&config, maximize);
    assert_non_null (self);
    return self;
}

//  Runs a whole synthetic curve (sign -1 for a loss) and completes it.
static void
s_complete (hpt_stopping_t *self, int64_t id, double final, double sign)
{
    for (int step = 1; step <= STEPS; step++)
        assert_false (hpt_stopping_report (self, id, step, sign * s_curve (final, step), NULL, 0));
    hpt_stopping_completed (self, id);
}

//  Reports the curve until the module says stop; returns that step, or 0
//  when it ran to the end (then completes it).
static int
s_run (hpt_stopping_t *self, int64_t id, double final, double sign, char *reason, size_t size)
{
    for (int step = 1; step <= STEPS; step++)
        if (hpt_stopping_report (self, id, step, sign * s_curve (final, step), reason, size)) {
            hpt_stopping_stopped (self, id);
            return step;
        }
    hpt_stopping_completed (self, id);
    return 0;
}

static void
test_defaults_and_config (void **state)
{
    (void)state;
    hpt_stop_config_t config;
    hpt_stop_config_defaults (&config, HPT_EARLY_STOP_MEDIAN);
    assert_int_equal (config.min_completed_trials, 3);
    assert_int_equal (config.warmup_steps, 1);
    assert_int_equal (hpt_stop_config_check (&config, NULL), 0);
    hpt_stop_config_defaults (&config, HPT_EARLY_STOP_ASHA);
    assert_int_equal (config.min_completed_trials, 0);
    assert_true (config.reduction_factor == 3.0);
    assert_int_equal (config.min_resource, 1);
    assert_int_equal (config.max_resource, 0);
    assert_int_equal (hpt_stop_config_check (&config, NULL), 0);

    hpt_error_t error;
    hpt_stop_config_t bad = config;
    bad.min_completed_trials = -1;
    assert_int_equal (hpt_stop_config_check (&bad, &error), -1);
    assert_int_equal (error.code, HPT_E_INVALID);
    assert_non_null (strstr (error.message, "minCompletedTrials"));
    assert_null (hpt_stopping_new (&bad, true));
    bad = config;
    bad.warmup_steps = -2;
    assert_int_equal (hpt_stop_config_check (&bad, &error), -1);
    assert_non_null (strstr (error.message, "warmupSteps"));
    bad = config;
    bad.reduction_factor = 1.0;
    assert_int_equal (hpt_stop_config_check (&bad, &error), -1);
    assert_non_null (strstr (error.message, "reductionFactor"));
    bad.reduction_factor = NAN;
    assert_int_equal (hpt_stop_config_check (&bad, &error), -1);
    bad = config;
    bad.min_resource = 0;
    assert_int_equal (hpt_stop_config_check (&bad, &error), -1);
    assert_non_null (strstr (error.message, "minResource"));
    bad = config;
    bad.max_resource = 1;
    assert_int_equal (hpt_stop_config_check (&bad, &error), -1);
    assert_non_null (strstr (error.message, "maxResource"));
    bad = config;
    bad.rule = (hpt_early_stop_rule_t)42;
    assert_int_equal (hpt_stop_config_check (&bad, &error), -1);
    assert_non_null (strstr (error.message, "rule"));
    //  A caller that only wants the verdict passes no error.
    bad.rule = HPT_EARLY_STOP_ASHA;
    bad.min_resource = -5;
    assert_int_equal (hpt_stop_config_check (&bad, NULL), -1);

    //  DECAY_CURVE is reserved: refused rather than silently median.
    hpt_stop_config_defaults (&config, HPT_EARLY_STOP_DECAY_CURVE);
    assert_null (hpt_stopping_new (&config, true));

    hpt_early_stop_rule_t rule;
    assert_int_equal (hpt_early_stop_rule_parse ("median", &rule), 0);
    assert_int_equal (rule, HPT_EARLY_STOP_MEDIAN);
    assert_int_equal (hpt_early_stop_rule_parse ("asha", &rule), 0);
    assert_int_equal (rule, HPT_EARLY_STOP_ASHA);
    assert_int_equal (hpt_early_stop_rule_parse ("decay-curve", &rule), 0);
    assert_int_equal (rule, HPT_EARLY_STOP_DECAY_CURVE);
    assert_int_equal (hpt_early_stop_rule_parse ("Median", &rule), -1);
    assert_int_equal (hpt_early_stop_rule_parse ("", &rule), -1);
    assert_int_equal (hpt_early_stop_rule_parse (NULL, &rule), -1);
    assert_string_equal (hpt_early_stop_rule_name (HPT_EARLY_STOP_ASHA), "asha");

    hpt_stopping_t *self = NULL;
    hpt_stopping_destroy (&self);
    self = s_median (3, 4, true);
    hpt_stopping_destroy (&self);
    assert_null (self);
}

//  A clearly bad trial is stopped at the first step past warm-up; a good
//  one runs to the end. Both goals.
static void
test_median_bad_stopped_good_not (void **state)
{
    (void)state;
    for (int goal = 0; goal < 2; goal++) {
        bool maximize = goal == 0;
        double sign = maximize ? 1.0 : -1.0;
        hpt_stopping_t *self = s_median (3, 4, maximize);
        s_complete (self, 1, 0.8, sign);
        s_complete (self, 2, 0.7, sign);
        s_complete (self, 3, 0.75, sign);
        assert_int_equal (hpt_stopping_completed_count (self), 3);
        char reason[256];
        assert_int_equal (s_run (self, 4, 0.2, sign, reason, sizeof (reason)), 4);
        assert_non_null (strstr (reason, "median rule: best"));
        assert_non_null (strstr (reason, "at step 4"));
        assert_non_null (strstr (reason, "of 3 completed trials"));
        assert_int_equal (s_run (self, 5, 0.95, sign, reason, sizeof (reason)), 0);
        assert_string_equal (reason, "");
        //  The stopped trial is no reference: 4 completed now (1, 2, 3, 5).
        assert_int_equal (hpt_stopping_completed_count (self), 4);
        hpt_stopping_destroy (&self);
    }
}

static void
test_median_waits_for_completed_trials (void **state)
{
    (void)state;
    hpt_stopping_t *self = s_median (3, 4, true);
    s_complete (self, 1, 0.8, 1);
    s_complete (self, 2, 0.7, 1);
    //  Two completed: a bad trial goes on (for its first 10 steps).
    for (int step = 1; step <= 10; step++)
        assert_false (hpt_stopping_report (self, 9, step, s_curve (0.1, step), NULL, 0));
    //  A third one completes: the same bad trial is stopped at its next report.
    s_complete (self, 3, 0.75, 1);
    assert_true (hpt_stopping_report (self, 9, 11, s_curve (0.1, 11), NULL, 0));
    //  Stopped and failed trials are no references.
    hpt_stopping_destroy (&self);
    self = s_median (3, 4, true);
    s_complete (self, 1, 0.8, 1);
    s_complete (self, 2, 0.7, 1);
    assert_false (hpt_stopping_report (self, 3, 1, 0.9, NULL, 0));
    hpt_stopping_failed (self, 3);
    assert_false (hpt_stopping_report (self, 4, 1, 0.9, NULL, 0));
    hpt_stopping_stopped (self, 4);
    assert_int_equal (hpt_stopping_completed_count (self), 2);
    for (int step = 1; step <= STEPS; step++)
        assert_false (hpt_stopping_report (self, 5, step, s_curve (0.1, step), NULL, 0));
    //  min_completed_trials 0 still needs one reference to take a median.
    hpt_stopping_destroy (&self);
    self = s_median (0, 0, true);
    assert_false (hpt_stopping_report (self, 1, 1, -100, NULL, 0));
    hpt_stopping_destroy (&self);
}

static void
test_median_warmup (void **state)
{
    (void)state;
    for (int64_t warmup = 0; warmup <= 12; warmup += 4) {
        hpt_stopping_t *self = s_median (3, warmup, true);
        s_complete (self, 1, 0.8, 1);
        s_complete (self, 2, 0.7, 1);
        s_complete (self, 3, 0.75, 1);
        int stopped = s_run (self, 4, 0.1, 1, NULL, 0);
        assert_int_equal (stopped, warmup > 1 ? warmup : 1);
        hpt_stopping_destroy (&self);
    }
}

//  References rise linearly 0.1, 0.2, ... 1.0 over steps 1..10: at step s
//  the value is s/10, the running average (s+1)/20.
static hpt_stopping_t *
s_linear_references (bool maximize)
{
    double sign = maximize ? 1 : -1;
    hpt_stopping_t *self = s_median (3, 0, maximize);
    for (int64_t id = 1; id <= 3; id++) {
        for (int step = 1; step <= 10; step++)
            assert_false (hpt_stopping_report (self, id, step, sign * step / 10.0, NULL, 0));
        hpt_stopping_completed (self, id);
    }
    return self;
}

//  A report at the budget (the references' last step, 10) or past it is
//  the trial's last: never a stop, however bad; one step before, it is.
static void
test_median_not_at_the_budget (void **state)
{
    (void)state;
    hpt_stopping_t *self = s_linear_references (true);
    assert_false (hpt_stopping_report (self, 4, 10, -5.0, NULL, 0));
    assert_false (hpt_stopping_report (self, 4, 11, -5.0, NULL, 0));
    assert_true (hpt_stopping_report (self, 5, 9, -5.0, NULL, 0));
    hpt_stopping_destroy (&self);
    //  A given maxResource is the budget too.
    hpt_stop_config_t config;
    hpt_stop_config_defaults (&config, HPT_EARLY_STOP_MEDIAN);
    config.max_resource = 8;
    config.warmup_steps = 0;
    self = hpt_stopping_new (&config, true);
    for (int64_t id = 1; id <= 3; id++) {
        for (int step = 1; step <= 10; step++)
            hpt_stopping_report (self, id, step, step / 10.0, NULL, 0);
        hpt_stopping_completed (self, id);
    }
    assert_false (hpt_stopping_report (self, 4, 8, -5.0, NULL, 0));
    assert_true (hpt_stopping_report (self, 5, 7, -5.0, NULL, 0));
    hpt_stopping_destroy (&self);
}

static void
test_median_running_average (void **state)
{
    (void)state;
    for (int goal = 0; goal < 2; goal++) {
        bool maximize = goal == 0;
        double sign = maximize ? 1 : -1;
        hpt_stopping_t *self = s_linear_references (maximize);
        //  Good on average with one dip: 0.5 for steps 1..4, 0.1 at step 5.
        //  Its current value 0.1 is below the running average median 0.3 at
        //  step 5 (and the references' value 0.5 there), but its best 0.5
        //  is above: not stopped.
        for (int step = 1; step <= 4; step++)
            assert_false (hpt_stopping_report (self, 10, step, sign * 0.5, NULL, 0));
        assert_false (hpt_stopping_report (self, 10, 5, sign * 0.1, NULL, 0));
        //  Flat 0.4 at step 6: worse than the references' value 0.6 there
        //  but better than their running average 0.35: the rule averages.
        for (int step = 1; step <= 6; step++)
            assert_false (hpt_stopping_report (self, 11, step, sign * 0.4, NULL, 0));
        //  Flat 0.25: its best is worse than the running average 0.3 at step 5.
        for (int step = 1; step <= 4; step++)
            assert_false (hpt_stopping_report (self, 12, step, sign * 0.25, NULL, 0));
        char reason[256];
        assert_true (hpt_stopping_report (self, 12, 5, sign * 0.25, reason, sizeof (reason)));
        char expected[128];
        snprintf (expected, sizeof (expected), "median %.6g of 3", sign * 0.3);
        assert_non_null (strstr (reason, expected));
        //  Equal to the median is not worse: 0.3 at step 5 goes on.
        assert_false (hpt_stopping_report (self, 13, 5, sign * 0.3, NULL, 0));
        hpt_stopping_destroy (&self);
    }
}

//  A completed trial reached step s only with a report at a step >= s;
//  its average uses only reports at steps <= s.
static void
test_median_reached_step (void **state)
{
    (void)state;
    hpt_stopping_t *self = s_linear_references (true);
    //  Two short completed trials (steps 1..3) with huge values.
    for (int64_t id = 4; id <= 5; id++) {
        for (int step = 1; step <= 3; step++)
            hpt_stopping_report (self, id, step, 10.0, NULL, 0);
        hpt_stopping_completed (self, id);
    }
    //  At step 3 they count: median of {0.2, 0.2, 0.2, 10, 10} is 0.2... and
    //  with 0.25 the trial goes on; at step 3 with 0.15 it stops.
    assert_false (hpt_stopping_report (self, 6, 3, 0.25, NULL, 0));
    char reason[256];
    assert_true (hpt_stopping_report (self, 7, 3, 0.15, reason, sizeof (reason)));
    assert_non_null (strstr (reason, "of 5 completed"));
    //  At step 5 only the three long ones count (median 0.3).
    assert_true (hpt_stopping_report (self, 8, 5, 0.29, reason, sizeof (reason)));
    assert_non_null (strstr (reason, "median 0.3 of 3 completed"));
    //  A sparse reference: reports at steps 2 and 8 only. At step 5 its
    //  average is its step-2 value alone.
    hpt_stopping_destroy (&self);
    self = s_median (1, 0, true);
    hpt_stopping_report (self, 1, 2, 0.4, NULL, 0);
    hpt_stopping_report (self, 1, 8, 1.0, NULL, 0);
    hpt_stopping_completed (self, 1);
    assert_false (hpt_stopping_report (self, 2, 5, 0.4, NULL, 0));
    assert_true (hpt_stopping_report (self, 3, 5, 0.39, NULL, 0));
    //  At step 1 it has no report <= 1: no average, no reference, no stop.
    assert_false (hpt_stopping_report (self, 4, 1, -5, NULL, 0));
    //  At step 9 it did not reach: no stop either.
    assert_false (hpt_stopping_report (self, 5, 9, -5, NULL, 0));
    hpt_stopping_destroy (&self);
}

//  Without a global_step (step <= 0) the report order is the step.
static void
test_median_report_order (void **state)
{
    (void)state;
    hpt_stopping_t *self = s_median (3, 4, true);
    for (int64_t id = 1; id <= 3; id++) {
        for (int i = 1; i <= STEPS; i++)
            hpt_stopping_report (self, id, 0, s_curve (0.8, i), NULL, 0);
        hpt_stopping_completed (self, id);
    }
    char reason[256];
    int stopped = 0;
    for (int i = 1; i <= STEPS && !stopped; i++)
        if (hpt_stopping_report (self, 4, -1, s_curve (0.1, i), reason, sizeof (reason)))
            stopped = i;
    assert_int_equal (stopped, 4);
    assert_non_null (strstr (reason, "at step 4 "));
    hpt_stopping_destroy (&self);
}

static void
test_ignored_inputs (void **state)
{
    (void)state;
    hpt_stopping_t *self = s_median (1, 0, true);
    s_complete (self, 1, 0.8, 1);
    //  Non-finite values never count or stop.
    assert_false (hpt_stopping_report (self, 2, 5, NAN, NULL, 0));
    assert_false (hpt_stopping_report (self, 2, 5, -INFINITY, NULL, 0));
    //  After its end a trial's reports are ignored, and a second end too.
    s_complete (self, 3, 0.8, 1);
    assert_false (hpt_stopping_report (self, 3, 5, -100, NULL, 0));
    hpt_stopping_stopped (self, 3);
    assert_int_equal (hpt_stopping_completed_count (self), 2);
    hpt_stopping_stopped (self, 4);
    hpt_stopping_completed (self, 4);
    assert_int_equal (hpt_stopping_completed_count (self), 2);
    //  NULL self and NULL reason are harmless.
    assert_false (hpt_stopping_report (NULL, 1, 1, 1, NULL, 0));
    hpt_stopping_completed (NULL, 1);
    assert_int_equal (hpt_stopping_completed_count (NULL), 0);
    //  A short reason buffer is terminated.
    char tiny[8];
    assert_true (hpt_stopping_report (self, 5, 5, -100, tiny, sizeof (tiny)));
    assert_int_equal (strlen (tiny), 7);
    hpt_stopping_destroy (&self);
}

static hpt_stopping_t *
s_asha (int64_t min_resource, int64_t max_resource, bool maximize)
{
    hpt_stop_config_t config;
    hpt_stop_config_defaults (&config, HPT_EARLY_STOP_ASHA);
    config.min_resource = min_resource;
    config.max_resource = max_resource;
    hpt_stopping_t *self = hpt_stopping_new (&config, maximize);
    assert_non_null (self);
    return self;
}

static void
test_asha_rungs (void **state)
{
    (void)state;
    for (int goal = 0; goal < 2; goal++) {
        bool maximize = goal == 0;
        double sign = maximize ? 1 : -1;
        //  eta 3, rungs at 1 and 3 (9 is the budget: no decision there).
        hpt_stopping_t *self = s_asha (1, 9, maximize);
        char reason[256];
        //  Fewer than eta recorded at rung 1: both continue, even the worse.
        assert_false (hpt_stopping_report (self, 1, 1, sign * 0.9, NULL, 0));
        assert_false (hpt_stopping_report (self, 2, 1, sign * 0.5, NULL, 0));
        //  The third is the worst of 3: keep 1, 2 better -> stop.
        assert_true (hpt_stopping_report (self, 3, 1, sign * 0.4, reason, sizeof (reason)));
        assert_non_null (strstr (reason, "asha: best"));
        assert_non_null (strstr (reason, "rung 1 (step 1)"));
        assert_non_null (strstr (reason, "2 of 3"));
        hpt_stopping_stopped (self, 3);
        //  The best so far at the rung: top of 4 -> continues.
        assert_false (hpt_stopping_report (self, 4, 1, sign * 0.95, NULL, 0));
        //  Ties count in the trial's favour: 0.95 equals trial 4 (none
        //  better of 5, keep 1) -> continues.
        assert_false (hpt_stopping_report (self, 5, 1, sign * 0.95, NULL, 0));
        //  Third of 6 (keep 2) stops; the best of 7 (keep 2) continues.
        assert_true (hpt_stopping_report (self, 6, 1, sign * 0.93, NULL, 0));
        assert_false (hpt_stopping_report (self, 7, 1, sign * 0.96, NULL, 0));
        //  A rung is judged once: trial 1 at step 2 (no rung) goes on; at
        //  step 3 it is recorded at rung 3 (1 recorded: continues).
        assert_false (hpt_stopping_report (self, 1, 2, sign * 0.1, NULL, 0));
        assert_false (hpt_stopping_report (self, 1, 3, sign * 0.1, NULL, 0));
        assert_false (hpt_stopping_report (self, 7, 3, sign * 0.97, NULL, 0));
        assert_true (hpt_stopping_report (self, 2, 3, sign * 0.92, reason, sizeof (reason)));
        assert_non_null (strstr (reason, "rung 3 (step 3)"));
        //  No rung at the budget (9) nor beyond.
        for (int step = 4; step <= 12; step++)
            assert_false (hpt_stopping_report (self, 1, step, sign * -1.0, NULL, 0));
        hpt_stopping_destroy (&self);

        //  A rung records the best so far, not the last value: rungs 3, 9.
        self = s_asha (3, 27, maximize);
        assert_false (hpt_stopping_report (self, 1, 1, sign * 0.9, NULL, 0));
        assert_false (hpt_stopping_report (self, 1, 3, sign * 0.1, NULL, 0)); //  records 0.9
        assert_false (hpt_stopping_report (self, 2, 3, sign * 0.2, NULL, 0));
        //  0.5 would top {0.1, 0.2}; against {0.9, 0.2} it is not in the top 1.
        assert_true (hpt_stopping_report (self, 3, 3, sign * 0.5, NULL, 0));
        hpt_stopping_destroy (&self);
    }
}

//  A report that jumps over several rungs records each in order and stops
//  at the first that says so; the budget is learned from completed trials.
static void
test_asha_jump_and_learned_budget (void **state)
{
    (void)state;
    hpt_stopping_t *self = s_asha (1, 0, true);
    assert_int_equal (hpt_stopping_max_resource (self), 0);
    for (int64_t id = 1; id <= 3; id++) {
        for (int step = 1; step <= 9; step++)
            assert_false (hpt_stopping_report (self, id, step, 1.0 + (double)id, NULL, 0));
        hpt_stopping_completed (self, id);
    }
    assert_int_equal (hpt_stopping_max_resource (self), 9);
    //  Jumps to step 9 with the worst value: rung 1 stops it (rung 3 is not
    //  recorded); 9 is the learned budget, so never a rung.
    char reason[256];
    assert_true (hpt_stopping_report (self, 4, 9, 0.0, reason, sizeof (reason)));
    assert_non_null (strstr (reason, "rung 1 (step 9)"));
    hpt_stopping_stopped (self, 4);
    //  Rung 3 has 3 records: a trial at step 3 better than one of them...
    //  is 2nd of 4 (keep 1) -> stopped; the best goes on.
    assert_true (hpt_stopping_report (self, 5, 3, 3.5, NULL, 0));
    assert_false (hpt_stopping_report (self, 6, 3, 4.5, NULL, 0));
    //  Until a trial completed, every rung applies: min_resource 2, eta
    //  4, rungs 2, 8, 32 (minimize).
    hpt_stopping_destroy (&self);
    hpt_stop_config_t config;
    hpt_stop_config_defaults (&config, HPT_EARLY_STOP_ASHA);
    config.min_resource = 2;
    config.reduction_factor = 4;
    self = hpt_stopping_new (&config, false);
    for (int64_t id = 1; id <= 3; id++)
        assert_false (hpt_stopping_report (self, id, 8, 0.8 + 0.05 * (double)id, NULL, 0));
    //  Trial 4 jumps to step 8 as the best: rungs 2 and 8, continues.
    assert_false (hpt_stopping_report (self, 4, 8, 0.7, NULL, 0));
    for (int64_t id = 1; id <= 3; id++)
        assert_false (hpt_stopping_report (self, id, 32, 0.1 + 0.05 * (double)id, NULL, 0));
    //  At rung 32 its best 0.6 is the worst of 4: stopped there.
    assert_true (hpt_stopping_report (self, 4, 32, 0.65, reason, sizeof (reason)));
    assert_non_null (strstr (reason, "rung 32 (step 32)"));
    hpt_stopping_destroy (&self);
}

static void
test_asha_guards (void **state)
{
    (void)state;
    hpt_stop_config_t config;
    hpt_stop_config_defaults (&config, HPT_EARLY_STOP_ASHA);
    config.warmup_steps = 3;
    config.min_completed_trials = 1;
    hpt_stopping_t *self = hpt_stopping_new (&config, true);
    //  Rung 1 is below the warm-up: recorded, never a stop.
    for (int64_t id = 1; id <= 4; id++)
        assert_false (hpt_stopping_report (self, id, 1, (double)-id, NULL, 0));
    //  Rung 3 with no trial completed: recorded, no stop.
    for (int64_t id = 1; id <= 3; id++)
        assert_false (hpt_stopping_report (self, id, 3, (double)-id, NULL, 0));
    hpt_stopping_report (self, 9, 30, 5.0, NULL, 0);
    hpt_stopping_completed (self, 9);
    //  Now trial 4 reaches rung 3 as the worst of 4: stopped.
    assert_true (hpt_stopping_report (self, 4, 3, -4.0, NULL, 0));
    hpt_stopping_destroy (&self);
}

//  The state is a pure function of the calls: a pseudo-random interleaving
//  of reports and endings, played twice on fresh instances, gives the same
//  decisions and reasons for both rules.
static void
test_determinism (void **state)
{
    (void)state;
    for (int rule = 0; rule < 2; rule++) {
        hpt_stop_config_t config;
        hpt_stop_config_defaults (&config, rule == 0 ? HPT_EARLY_STOP_MEDIAN : HPT_EARLY_STOP_ASHA);
        char log[2][8192];
        int stops[2] = {0, 0};
        for (int play = 0; play < 2; play++) {
            hpt_stopping_t *self = hpt_stopping_new (&config, true);
            uint64_t seed = 12345;
            int step[8] = {0};
            double final[8];
            bool alive[8];
            int64_t next_id = 0;
            int64_t id[8];
            for (int i = 0; i < 8; i++) {
                id[i] = ++next_id;
                alive[i] = true;
                final[i] = (double)(i % 5) / 5.0;
            }
            size_t used = 0;
            log[play][0] = '\0';
            for (int event = 0; event < 600; event++) {
                seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
                int slot = (int)((seed >> 33) % 8);
                if (!alive[slot] || step[slot] == STEPS) {
                    if (alive[slot]) hpt_stopping_completed (self, id[slot]);
                    id[slot] = ++next_id;
                    alive[slot] = true;
                    step[slot] = 0;
                    final[slot] = (double)((seed >> 40) % 100) / 100.0;
                    continue;
                }
                step[slot]++;
                char reason[128];
                if (hpt_stopping_report (self, id[slot], step[slot],
                                         s_curve (final[slot], step[slot]), reason,
                                         sizeof (reason))) {
                    hpt_stopping_stopped (self, id[slot]);
                    alive[slot] = false;
                    stops[play]++;
                    used += (size_t)snprintf (
                        log[play] + used, used < sizeof (log[play]) ? sizeof (log[play]) - used : 0,
                        "%lld@%d:%s\n", (long long)id[slot], step[slot], reason);
                    if (used >= sizeof (log[play])) used = sizeof (log[play]);
                }
            }
            hpt_stopping_destroy (&self);
        }
        //  The sequence must actually exercise stops, or the comparison is empty.
        assert_true (stops[0] > 3);
        assert_int_equal (stops[0], stops[1]);
        assert_string_equal (log[0], log[1]);
    }
}

static int
s_compare (const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

//  The median rule against a brute-force reading of its definition, on
//  random completed curves with steps out of order, repeated and sparse.
static void
test_median_matches_definition (void **state)
{
    (void)state;
    enum { TRIALS = 9, POINTS = 12 };
    int64_t steps[TRIALS][POINTS];
    double values[TRIALS][POINTS];
    uint64_t seed = 42;
    hpt_stopping_t *self = s_median (1, 0, true);
    for (int t = 0; t < TRIALS; t++) {
        for (int i = 0; i < POINTS; i++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            steps[t][i] = 1 + (int64_t)((seed >> 33) % 15);
            values[t][i] = (double)((seed >> 20) % 1000) / 1000.0;
            hpt_stopping_report (self, t + 1, steps[t][i], values[t][i], NULL, 0);
        }
        hpt_stopping_completed (self, t + 1);
    }
    //  The budget: the largest step of a completed trial; no stop there.
    int64_t budget = 0;
    for (int t = 0; t < TRIALS; t++)
        for (int i = 0; i < POINTS; i++)
            if (steps[t][i] > budget) budget = steps[t][i];
    int64_t probe = 100;
    int stops = 0, goes = 0;
    for (int64_t s = 1; s <= 16; s++) {
        double averages[TRIALS];
        size_t n = 0;
        for (int t = 0; t < TRIALS; t++) {
            int64_t reached = 0;
            double sum = 0;
            int used = 0;
            for (int i = 0; i < POINTS; i++) {
                if (steps[t][i] > reached) reached = steps[t][i];
                if (steps[t][i] <= s) {
                    sum += values[t][i];
                    used++;
                }
            }
            if (reached >= s && used > 0) averages[n++] = sum / used;
        }
        qsort (averages, n, sizeof (double), s_compare);
        for (int k = 0; k <= 20; k++) {
            double v = (double)k / 20.0;
            bool expected = false;
            if (n > 0 && s < budget) {
                double median =
                    n % 2 ? averages[n / 2] : (averages[n / 2 - 1] + averages[n / 2]) / 2;
                //  Skip values within rounding of the median: the module sums in
                //  step order, the brute force in report order.
                if (fabs (v - median) < 1e-9) continue;
                expected = v < median;
            }
            bool got = hpt_stopping_report (self, ++probe, s, v, NULL, 0);
            hpt_stopping_stopped (self, probe);
            assert_int_equal (got, expected);
            if (got)
                stops++;
            else
                goes++;
        }
    }
    assert_true (stops > 20 && goes > 20);
    hpt_stopping_destroy (&self);
}

//  A requeued trial starts over: its first attempt's points are gone; a
//  completed one stops being a reference.
static void
test_forget (void **state)
{
    (void)state;
    hpt_stopping_t *self = s_median (3, 0, true);
    s_complete (self, 1, 0.8, 1);
    s_complete (self, 2, 0.7, 1);
    s_complete (self, 3, 0.75, 1);
    //  Trial 4's first attempt reported a great value; the new attempt's
    //  bad curve is judged alone.
    assert_false (hpt_stopping_report (self, 4, 1, 5.0, NULL, 0));
    hpt_stopping_forget (self, 4);
    assert_true (hpt_stopping_report (self, 4, 1, s_curve (0.1, 1), NULL, 0));
    //  Forgetting a reference: two left, below min_completed_trials.
    hpt_stopping_forget (self, 3);
    assert_int_equal (hpt_stopping_completed_count (self), 2);
    assert_false (hpt_stopping_report (self, 5, 1, -5.0, NULL, 0));
    //  Its new attempt completes and is a reference again.
    s_complete (self, 3, 0.75, 1);
    assert_true (hpt_stopping_report (self, 6, 1, -5.0, NULL, 0));
    hpt_stopping_forget (self, 99); //  unknown: nothing
    hpt_stopping_forget (NULL, 1);
    hpt_stopping_destroy (&self);

    //  ASHA: a forgotten trial is not recorded twice at a rung.
    hpt_stop_config_t config;
    hpt_stop_config_defaults (&config, HPT_EARLY_STOP_ASHA);
    self = hpt_stopping_new (&config, true);
    assert_false (hpt_stopping_report (self, 1, 1, 0.9, NULL, 0));
    assert_false (hpt_stopping_report (self, 2, 1, 0.1, NULL, 0));
    hpt_stopping_forget (self, 2);
    //  Had trial 2 been recorded again, rung 1 would hold 3 and stop it.
    assert_false (hpt_stopping_report (self, 2, 1, 0.1, NULL, 0));
    hpt_stopping_destroy (&self);
}

//  The estimate of a stopped trial's final value: its best plus the median
//  gain of completed curves after its last step, capped at their median
//  final value.
static void
test_estimate (void **state)
{
    (void)state;
    for (int goal = 0; goal < 2; goal++) {
        bool maximize = goal == 0;
        double sign = maximize ? 1 : -1;
        hpt_stopping_t *self = s_median (3, 0, maximize);
        double estimate = 0;
        size_t references = 99;
        assert_false (hpt_stopping_estimate (self, 1, &estimate, &references));
        assert_int_equal (references, 0);
        //  Before any completed trial: the best so far.
        hpt_stopping_report (self, 9, 1, sign * 0.2, NULL, 0);
        hpt_stopping_report (self, 9, 2, sign * 0.1, NULL, 0);
        assert_true (hpt_stopping_estimate (self, 9, &estimate, &references));
        assert_true (fabs (estimate - sign * 0.2) < 1e-12);
        assert_int_equal (references, 0);
        //  Linear references f * s / 10 with f = 1.0, 0.8, 0.9: after step 5
        //  they gain f / 2, median 0.45. A fourth one stops at step 3.
        const double finals[] = {1.0, 0.8, 0.9};
        for (int64_t id = 1; id <= 3; id++) {
            for (int step = 1; step <= 10; step++)
                hpt_stopping_report (self, id, step, sign * finals[id - 1] * step / 10, NULL, 0);
            hpt_stopping_completed (self, id);
        }
        for (int step = 1; step <= 5; step++)
            hpt_stopping_report (self, 4, step, sign * 0.6 * step / 10, NULL, 0);
        hpt_stopping_stopped (self, 4);
        assert_true (hpt_stopping_estimate (self, 4, &estimate, NULL));
        assert_true (fabs (estimate - sign * 0.75) < 1e-12);
        //  A trial past every reference's last step: no reference, its best.
        hpt_stopping_report (self, 5, 11, sign * 0.5, NULL, 0);
        assert_true (hpt_stopping_estimate (self, 5, &estimate, &references));
        assert_int_equal (references, 0);
        assert_true (fabs (estimate - sign * 0.5) < 1e-12);
        //  A projection better than the median final (0.9) is capped there:
        //  0.8 at step 5 + 0.45 would claim a new best.
        for (int step = 1; step <= 5; step++)
            hpt_stopping_report (self, 6, step, sign * 0.8 * step / 5, NULL, 0);
        hpt_stopping_stopped (self, 6);
        assert_true (hpt_stopping_estimate (self, 6, &estimate, &references));
        assert_int_equal (references, 3);
        assert_true (fabs (estimate - sign * 0.9) < 1e-12);
        assert_false (hpt_stopping_estimate (NULL, 5, &estimate, NULL));
        hpt_stopping_destroy (&self);
    }
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_defaults_and_config),
        cmocka_unit_test (test_median_bad_stopped_good_not),
        cmocka_unit_test (test_median_waits_for_completed_trials),
        cmocka_unit_test (test_median_warmup),
        cmocka_unit_test (test_median_not_at_the_budget),
        cmocka_unit_test (test_median_running_average),
        cmocka_unit_test (test_median_reached_step),
        cmocka_unit_test (test_median_report_order),
        cmocka_unit_test (test_ignored_inputs),
        cmocka_unit_test (test_asha_rungs),
        cmocka_unit_test (test_asha_jump_and_learned_budget),
        cmocka_unit_test (test_asha_guards),
        cmocka_unit_test (test_determinism),
        cmocka_unit_test (test_median_matches_definition),
        cmocka_unit_test (test_forget),
        cmocka_unit_test (test_estimate),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
