/*  test_gp -- hpt_gp: marginal-likelihood gradient, fit and prediction

    The analytic gradient is what the MAP fit follows, so it is checked
    against central differences; prediction must interpolate noiseless
    data and a fit must recover a short length scale on the input that
    matters and a long one on the input that does not.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hpt_gp.h"
#include "hpt_rng.h"
#include <math.h>
#include <stdlib.h>

static const hpt_gp_prior_t s_prior = {
    .ls_mean = -0.5,
    .ls_sd = 1.0,
    .ls_lo = -4.6,
    .ls_hi = 3.9,
    .sf_mean = 0.0,
    .sf_sd = 1.0,
    .sf_lo = -3.0,
    .sf_hi = 3.0,
    .sn_mean = -9.0,
    .sn_sd = 2.0,
    .sn_lo = -13.8,
    .sn_hi = -0.7,
};

//  n points: inputs 0, 1 numeric in [0,1], input 2 a category of 3.
static void
s_data (size_t n, double *X, double *y)
{
    hpt_rng_t rng;
    hpt_rng_init (&rng, 1, 2, 3);
    for (size_t i = 0; i < n; i++) {
        X[i * 3] = hpt_rng_uniform (&rng);
        X[i * 3 + 1] = hpt_rng_uniform (&rng);
        X[i * 3 + 2] = (double)hpt_rng_below (&rng, 3);
        y[i] = sin (6 * X[i * 3]) + 0.5 * X[i * 3 + 2] + 0.01 * X[i * 3 + 1];
    }
}

static void
test_gradient_matches_differences (void **state)
{
    bool categorical[3] = {false, false, true};
    hpt_gp_t *gp = hpt_gp_new (3, categorical, &s_prior);
    double X[30 * 3], y[30];
    s_data (30, X, y);
    double theta[5] = {-1.0, 0.3, 0.2, 0.1, -5.0}, grad[5];
    double f = hpt_gp_neg_log_posterior (gp, X, y, 30, theta, grad);
    assert_true (isfinite (f));
    for (size_t i = 0; i < 5; i++) {
        double h = 1e-5, save = theta[i];
        theta[i] = save + h;
        double up = hpt_gp_neg_log_posterior (gp, X, y, 30, theta, NULL);
        theta[i] = save - h;
        double down = hpt_gp_neg_log_posterior (gp, X, y, 30, theta, NULL);
        theta[i] = save;
        double numeric = (up - down) / (2 * h);
        assert_true (fabs (numeric - grad[i]) < 1e-4 * (1 + fabs (numeric)));
    }
    hpt_gp_destroy (&gp);
    assert_null (gp);
}

static void
test_fit_and_predict (void **state)
{
    bool categorical[3] = {false, false, true};
    hpt_gp_t *gp = hpt_gp_new (3, categorical, &s_prior);
    double X[40 * 3], y[40];
    s_data (40, X, y);
    double start[5], theta[5];
    hpt_gp_prior_mode (gp, start);
    double f = hpt_gp_fit (gp, X, y, 40, start, 1, 100, theta);
    assert_true (isfinite (f));
    //  Input 0 drives the function, input 1 barely does.
    assert_true (theta[0] < theta[1]);
    assert_true (hpt_gp_condition (gp, X, y, 40, theta));
    assert_int_equal (hpt_gp_count (gp), 40);
    double mean[40], var[40];
    hpt_gp_predict (gp, X, 40, mean, var);
    for (size_t i = 0; i < 40; i++) {
        assert_true (fabs (mean[i] - y[i]) < 0.02);
        assert_true (var[i] >= 0 && var[i] < 1e-2);
    }
    //  Far from the data the variance grows back towards the signal.
    double far[3] = {0.5, 0.5, 1}, m, v;
    hpt_gp_predict (gp, far, 1, &m, &v);
    assert_true (isfinite (m) && v > 0);
    hpt_gp_destroy (&gp);
}

static void
test_duplicates_do_not_break_cholesky (void **state)
{
    hpt_gp_t *gp = hpt_gp_new (3, NULL, &s_prior);
    double X[20 * 3], y[20];
    s_data (10, X, y);
    for (size_t i = 0; i < 10; i++) {
        for (size_t j = 0; j < 3; j++)
            X[(10 + i) * 3 + j] = X[i * 3 + j];
        y[10 + i] = y[i] + 0.5; //  contradicting duplicates
    }
    double theta[5] = {-1, -1, -1, 0, -13.8};
    assert_true (hpt_gp_condition (gp, X, y, 20, theta));
    double m, v;
    hpt_gp_predict (gp, X, 1, &m, &v);
    assert_true (isfinite (m) && isfinite (v));
    hpt_gp_destroy (&gp);
}

static void
test_append_matches_full_factorization (void **state)
{
    bool categorical[3] = {false, false, true};
    hpt_gp_t *full = hpt_gp_new (3, categorical, &s_prior);
    hpt_gp_t *grown = hpt_gp_new (3, categorical, &s_prior);
    double X[60 * 3], y[60];
    s_data (60, X, y);
    double theta[5] = {-1.0, 0.3, 0.2, 0.1, -6.0};
    assert_true (hpt_gp_condition (full, X, y, 60, theta));
    //  20 points, then 40 appended one by one (past the initial capacity).
    assert_true (hpt_gp_condition (grown, X, y, 20, theta));
    double before[5], var_before[5], m1[5], v1[5], m2[5], v2[5];
    hpt_gp_predict (grown, X + 50 * 3, 5, before, var_before);
    for (size_t i = 20; i < 60; i++)
        hpt_gp_append (grown, X + i * 3, y[i]);
    assert_int_equal (hpt_gp_count (grown), 60);
    hpt_gp_predict (full, X + 50 * 3, 5, m1, v1);
    hpt_gp_predict (grown, X + 50 * 3, 5, m2, v2);
    for (size_t i = 0; i < 5; i++) {
        assert_true (fabs (m1[i] - m2[i]) < 1e-6);
        assert_true (fabs (v1[i] - v2[i]) < 1e-6);
    }
    //  Truncating restores the 20-point model exactly.
    hpt_gp_truncate (grown, 20);
    hpt_gp_predict (grown, X + 50 * 3, 5, m2, v2);
    for (size_t i = 0; i < 5; i++) {
        assert_true (m2[i] == before[i]);
        assert_true (v2[i] == var_before[i]);
    }
    //  New targets on the same inputs: same as conditioning afresh.
    double shifted[20];
    for (size_t i = 0; i < 20; i++)
        shifted[i] = y[i] + 1.0;
    hpt_gp_set_targets (grown, shifted);
    assert_true (hpt_gp_condition (full, X, shifted, 20, theta));
    hpt_gp_predict (full, X + 50 * 3, 5, m1, v1);
    hpt_gp_predict (grown, X + 50 * 3, 5, m2, v2);
    for (size_t i = 0; i < 5; i++)
        assert_true (m1[i] == m2[i] && v1[i] == v2[i]);
    hpt_gp_destroy (&full);
    hpt_gp_destroy (&grown);
}

//  Kept predictions follow appends (with arbitrary targets, and with a
//  believer's target, which leaves every mean where it was) exactly as a
//  fresh prediction on the grown model would.
static void
test_kept_predictions_follow_appends (void **state)
{
    bool categorical[3] = {false, false, true};
    hpt_gp_t *gp = hpt_gp_new (3, categorical, &s_prior);
    double X[60 * 3], y[60];
    s_data (60, X, y);
    double theta[5] = {-1.0, 0.3, 0.2, 0.1, -6.0};
    assert_true (hpt_gp_condition (gp, X, y, 20, theta));
    size_t ldv = 40;
    double mean[10], var[10], V[10 * 40], m[10], v[10];
    const double *Xs = X + 50 * 3;
    hpt_gp_predict_keep (gp, Xs, 10, mean, var, V, ldv);
    for (size_t i = 20; i < 40; i++) {
        double target = y[i];
        if (i % 2) hpt_gp_predict (gp, X + i * 3, 1, &target, v);
        hpt_gp_append (gp, X + i * 3, target);
        hpt_gp_update_kept (gp, Xs, 10, mean, var, V, ldv);
        hpt_gp_predict (gp, Xs, 10, m, v);
        for (size_t c = 0; c < 10; c++) {
            assert_true (fabs (mean[c] - m[c]) < 1e-8);
            assert_true (fabs (var[c] - v[c]) < 1e-8);
        }
    }
    hpt_gp_destroy (&gp);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_gradient_matches_differences),
        cmocka_unit_test (test_fit_and_predict),
        cmocka_unit_test (test_duplicates_do_not_break_cholesky),
        cmocka_unit_test (test_append_matches_full_factorization),
        cmocka_unit_test (test_kept_predictions_follow_appends),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
