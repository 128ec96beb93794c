/*  test_optimizer -- hpt_optimizer: grid, random and Bayesian suggestions

    Behaviour the master relies on: determinism and rebuild from history,
    grid order and exhaustion, no duplicates, legal values for every type
    and scale, failed points avoided, NaN results harmless, and the GP
    actually optimizing a simple function.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hpt_optimizer.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *s_cats[] = {"a", "b", "c"};
static double s_levels[] = {0.001, 0.01, 0.1, 1.0};

//  INTEGER [1,3], CATEGORICAL {a,b,c}, DISCRETE {0.001..1}: 36 points.
static hpt_space_t *
s_finite_space (void)
{
    hpt_param_spec_t p[3] = {
        {.name = "n", .type = HPT_PARAM_INTEGER, .min_value = 1, .max_value = 3},
        {.name = "c",
         .type = HPT_PARAM_CATEGORICAL,
         .categorical_values = s_cats,
         .categorical_count = 3},
        {.name = "d",
         .type = HPT_PARAM_DISCRETE,
         .discrete_values = s_levels,
         .discrete_count = 4,
         .scale = HPT_SCALE_LOG},
    };
    return hpt_space_new (p, 3);
}

//  Every type and scale.
static hpt_space_t *
s_mixed_space (void)
{
    hpt_param_spec_t p[7] = {
        {.name = "lin", .type = HPT_PARAM_DOUBLE, .min_value = -2, .max_value = 3},
        {.name = "log",
         .type = HPT_PARAM_DOUBLE,
         .min_value = 1e-5,
         .max_value = 1,
         .scale = HPT_SCALE_LOG},
        {.name = "rlog",
         .type = HPT_PARAM_DOUBLE,
         .min_value = 0.5,
         .max_value = 0.999,
         .scale = HPT_SCALE_REVERSE_LOG},
        {.name = "int", .type = HPT_PARAM_INTEGER, .min_value = -3, .max_value = 7},
        {.name = "ilog",
         .type = HPT_PARAM_INTEGER,
         .min_value = 1,
         .max_value = 1000,
         .scale = HPT_SCALE_LOG},
        {.name = "disc",
         .type = HPT_PARAM_DISCRETE,
         .discrete_values = s_levels,
         .discrete_count = 4},
        {.name = "cat",
         .type = HPT_PARAM_CATEGORICAL,
         .categorical_values = s_cats,
         .categorical_count = 3},
    };
    return hpt_space_new (p, 7);
}

static double
s_mixed_objective (const double *v)
{
    return pow (v[0] - 1, 2) + pow (log10 (v[1]) + 2, 2) + v[2] + 0.1 * pow (v[3] - 2, 2) +
           0.01 * fabs (log (v[4]) - 3) + v[5] + (v[6] == 1 ? 0 : 0.5);
}

static void
s_assert_legal (hpt_space_t *space, const double *v)
{
    for (size_t j = 0; j < hpt_space_size (space); j++) {
        const hpt_param_spec_t *p = hpt_space_param (space, j);
        assert_true (isfinite (v[j]));
        switch (p->type) {
            case HPT_PARAM_DOUBLE:
                assert_true (v[j] >= p->min_value && v[j] <= p->max_value);
                break;
            case HPT_PARAM_INTEGER:
                assert_true (v[j] >= p->min_value && v[j] <= p->max_value);
                assert_true (v[j] == floor (v[j]));
                break;
            case HPT_PARAM_DISCRETE: {
                bool listed = false;
                for (size_t k = 0; k < p->discrete_count; k++)
                    listed = listed || p->discrete_values[k] == v[j];
                assert_true (listed);
                break;
            }
            case HPT_PARAM_CATEGORICAL:
                assert_true (v[j] >= 0 && v[j] < (double)p->categorical_count);
                assert_true (v[j] == floor (v[j]));
                break;
            default:
                fail ();
        }
    }
}

static bool
s_same (const double *a, const double *b, size_t d)
{
    return memcmp (a, b, d * sizeof (double)) == 0;
}

static void
test_grid_order_and_exhaustion (void **state)
{
    hpt_space_t *space = s_finite_space ();
    hpt_optimizer_t *opt =
        hpt_optimizer_new (space, HPT_GOAL_MAXIMIZE, HPT_ALGORITHM_GRID_SEARCH, 7);
    double out[40 * 3], expect[3];
    //  A point finished out of order is skipped, the rest keep their order.
    assert_true (hpt_space_grid_point (space, 4, expect));
    hpt_optimizer_add_result (opt, 100, expect, 1.0);
    assert_int_equal (hpt_optimizer_suggest (opt, 5, out), 5);
    for (uint64_t k = 0; k < 5; k++) {
        assert_true (hpt_space_grid_point (space, k < 4 ? k : 5, expect));
        assert_true (s_same (out + k * 3, expect, 3));
        hpt_optimizer_add_pending (opt, k, out + k * 3);
    }
    assert_false (hpt_optimizer_exhausted (opt));
    //  Asking for more than is left gives exactly what is left, in order.
    assert_int_equal (hpt_optimizer_suggest (opt, 40, out), 30);
    for (uint64_t k = 0; k < 30; k++) {
        assert_true (hpt_space_grid_point (space, k + 6, expect));
        assert_true (s_same (out + k * 3, expect, 3));
        hpt_optimizer_add_failed (opt, 10 + k, out + k * 3);
    }
    assert_true (hpt_optimizer_exhausted (opt));
    assert_int_equal (hpt_optimizer_suggest (opt, 1, out), 0);
    hpt_optimizer_destroy (&opt);
    assert_null (opt);
    hpt_space_destroy (&space);
}

static void
test_grid_needs_finite_space (void **state)
{
    hpt_space_t *space = s_mixed_space ();
    hpt_optimizer_t *opt =
        hpt_optimizer_new (space, HPT_GOAL_MINIMIZE, HPT_ALGORITHM_GRID_SEARCH, 1);
    double out[7];
    assert_true (hpt_optimizer_exhausted (opt));
    assert_int_equal (hpt_optimizer_suggest (opt, 1, out), 0);
    hpt_optimizer_destroy (&opt);
    hpt_space_destroy (&space);
}

//  Runs n sequential steps of alg on the mixed space; all suggestions are
//  checked legal and distinct.
static void
s_check_legal_run (hpt_algorithm_t alg, int steps, size_t batch)
{
    hpt_space_t *space = s_mixed_space ();
    hpt_optimizer_t *opt = hpt_optimizer_new (space, HPT_GOAL_MINIMIZE, alg, 3);
    double *all = calloc ((size_t)steps * batch * 7, sizeof (double));
    size_t count = 0;
    for (int s = 0; s < steps; s++) {
        double *out = all + count * 7;
        assert_int_equal (hpt_optimizer_suggest (opt, batch, out), batch);
        for (size_t i = 0; i < batch; i++) {
            s_assert_legal (space, out + i * 7);
            for (size_t k = 0; k < count + i; k++)
                assert_false (s_same (all + k * 7, out + i * 7, 7));
            hpt_optimizer_add_pending (opt, count + i, out + i * 7);
        }
        for (size_t i = 0; i < batch; i++)
            hpt_optimizer_add_result (opt, count + i, out + i * 7, s_mixed_objective (out + i * 7));
        count += batch;
    }
    free (all);
    hpt_optimizer_destroy (&opt);
    hpt_space_destroy (&space);
}

static void
test_random_values_legal (void **state)
{
    s_check_legal_run (HPT_ALGORITHM_RANDOM_SEARCH, 100, 3);
}

static void
test_gp_values_legal (void **state)
{
    s_check_legal_run (HPT_ALGORITHM_UNSPECIFIED, 12, 3);
}

//  Drives an optimizer for steps rounds of batch suggestions with a fixed
//  pattern of pending, failed and finished trials; the same calls go to
//  replay (when not NULL) in trial-id order reversed, as a store might.
static void
s_drive (hpt_optimizer_t *opt, hpt_space_t *space, int steps, size_t batch, double *log_values,
         int *log_kind, size_t *log_count)
{
    size_t d = hpt_space_size (space);
    double out[8 * 8];
    size_t id = 0;
    for (int s = 0; s < steps; s++) {
        size_t got = hpt_optimizer_suggest (opt, batch, out);
        assert_int_equal (got, batch);
        for (size_t i = 0; i < got; i++, id++) {
            double *v = out + i * d;
            int kind = id % 7 == 3 ? 1 : (s == steps - 1 && i == 0 ? 2 : 0);
            if (kind == 0)
                hpt_optimizer_add_result (opt, id, v, s_mixed_objective (v));
            else if (kind == 1)
                hpt_optimizer_add_failed (opt, id, v);
            else
                hpt_optimizer_add_pending (opt, id, v);
            memcpy (log_values + id * d, v, d * sizeof (double));
            log_kind[id] = kind;
        }
    }
    *log_count = id;
}

static void
s_replay (hpt_optimizer_t *opt, hpt_space_t *space, const double *log_values, const int *log_kind,
          size_t count, bool reversed)
{
    size_t d = hpt_space_size (space);
    for (size_t k = 0; k < count; k++) {
        size_t id = reversed ? count - 1 - k : k;
        const double *v = log_values + id * d;
        if (log_kind[id] == 0)
            hpt_optimizer_add_result (opt, id, v, s_mixed_objective (v));
        else if (log_kind[id] == 1)
            hpt_optimizer_add_failed (opt, id, v);
        else
            hpt_optimizer_add_pending (opt, id, v);
    }
}

static void
s_check_rebuild (hpt_algorithm_t alg)
{
    hpt_space_t *space = s_mixed_space ();
    double log_values[64 * 7];
    int log_kind[64];
    size_t count;
    hpt_optimizer_t *a = hpt_optimizer_new (space, HPT_GOAL_MINIMIZE, alg, 11);
    s_drive (a, space, 15, 3, log_values, log_kind, &count);
    double out_a[3 * 7], out_b[3 * 7], out_c[3 * 7], out_d[3 * 7];
    assert_int_equal (hpt_optimizer_suggest (a, 3, out_a), 3);
    //  Same history, told in order and in reverse: same suggestions.
    hpt_optimizer_t *b = hpt_optimizer_new (space, HPT_GOAL_MINIMIZE, alg, 11);
    s_replay (b, space, log_values, log_kind, count, false);
    assert_int_equal (hpt_optimizer_suggest (b, 3, out_b), 3);
    assert_true (s_same (out_a, out_b, 3 * 7));
    hpt_optimizer_t *c = hpt_optimizer_new (space, HPT_GOAL_MINIMIZE, alg, 11);
    s_replay (c, space, log_values, log_kind, count, true);
    assert_int_equal (hpt_optimizer_suggest (c, 3, out_c), 3);
    assert_true (s_same (out_a, out_c, 3 * 7));
    //  Asking twice without new history gives the same answer.
    assert_int_equal (hpt_optimizer_suggest (a, 3, out_b), 3);
    assert_true (s_same (out_a, out_b, 3 * 7));
    //  A smaller batch is the start of the larger one.
    assert_int_equal (hpt_optimizer_suggest (a, 2, out_b), 2);
    assert_true (s_same (out_a, out_b, 2 * 7));
    //  Another seed, other suggestions.
    hpt_optimizer_t *e = hpt_optimizer_new (space, HPT_GOAL_MINIMIZE, alg, 12);
    s_replay (e, space, log_values, log_kind, count, false);
    assert_int_equal (hpt_optimizer_suggest (e, 3, out_d), 3);
    assert_false (s_same (out_a, out_d, 3 * 7));
    hpt_optimizer_destroy (&a);
    hpt_optimizer_destroy (&b);
    hpt_optimizer_destroy (&c);
    hpt_optimizer_destroy (&e);
    hpt_space_destroy (&space);
}

static void
test_random_rebuild_and_determinism (void **state)
{
    s_check_rebuild (HPT_ALGORITHM_RANDOM_SEARCH);
}

static void
test_gp_rebuild_and_determinism (void **state)
{
    s_check_rebuild (HPT_ALGORITHM_UNSPECIFIED);
}

//  A finite space is used up without repeats, then suggestions stop;
//  failed points are never suggested again.
static void
s_check_finite (hpt_algorithm_t alg)
{
    hpt_space_t *space = s_finite_space ();
    hpt_optimizer_t *opt = hpt_optimizer_new (space, HPT_GOAL_MAXIMIZE, alg, 5);
    double failed[2][3] = {{2, 1, 0.01}, {3, 2, 1.0}};
    hpt_optimizer_add_failed (opt, 1000, failed[0]);
    hpt_optimizer_add_failed (opt, 1001, failed[1]);
    double seen[40 * 3], out[4 * 3];
    size_t count = 0;
    while (count < 34) {
        size_t got = hpt_optimizer_suggest (opt, 4, out);
        assert_true (got == 4 || (got == 34 - count && got > 0));
        for (size_t i = 0; i < got; i++) {
            double *v = out + i * 3;
            s_assert_legal (space, v);
            assert_false (s_same (v, failed[0], 3));
            assert_false (s_same (v, failed[1], 3));
            for (size_t k = 0; k < count; k++)
                assert_false (s_same (seen + k * 3, v, 3));
            memcpy (seen + count * 3, v, sizeof (double) * 3);
            hpt_optimizer_add_pending (opt, count, v);
            count++;
        }
        for (size_t i = 0; i < got; i++)
            hpt_optimizer_add_result (opt, count - got + i, out + i * 3,
                                      out[i * 3] + out[i * 3 + 2]);
    }
    assert_true (hpt_optimizer_exhausted (opt));
    assert_int_equal (hpt_optimizer_suggest (opt, 4, out), 0);
    hpt_optimizer_destroy (&opt);
    hpt_space_destroy (&space);
}

static void
test_random_finite_space (void **state)
{
    s_check_finite (HPT_ALGORITHM_RANDOM_SEARCH);
}

static void
test_gp_finite_space (void **state)
{
    s_check_finite (HPT_ALGORITHM_UNSPECIFIED);
}

static double
s_quadratic (const double *v)
{
    return pow (v[0] - 1.3, 2) + pow (v[1] + 2.1, 2);
}

static hpt_space_t *
s_square (void)
{
    hpt_param_spec_t p[2] = {
        {.name = "x", .type = HPT_PARAM_DOUBLE, .min_value = -5, .max_value = 5},
        {.name = "y", .type = HPT_PARAM_DOUBLE, .min_value = -5, .max_value = 5},
    };
    return hpt_space_new (p, 2);
}

static void
test_gp_finds_quadratic_minimum (void **state)
{
    hpt_space_t *space = s_square ();
    //  Maximizing the negated function also checks the goal handling.
    hpt_optimizer_t *opt =
        hpt_optimizer_new (space, HPT_GOAL_MAXIMIZE, HPT_ALGORITHM_UNSPECIFIED, 2);
    double best = INFINITY, v[2];
    for (uint64_t t = 0; t < 20; t++) {
        assert_int_equal (hpt_optimizer_suggest (opt, 1, v), 1);
        double y = s_quadratic (v);
        best = fmin (best, y);
        hpt_optimizer_add_result (opt, t, v, -y);
    }
    //  20 uniform random points get within about 1 (median) of the minimum.
    assert_true (best < 0.05);
    hpt_optimizer_destroy (&opt);
    hpt_space_destroy (&space);
}

static void
test_gp_survives_bad_results (void **state)
{
    hpt_space_t *space = s_square ();
    hpt_optimizer_t *opt =
        hpt_optimizer_new (space, HPT_GOAL_MINIMIZE, HPT_ALGORITHM_UNSPECIFIED, 4);
    double v[3 * 2];
    for (uint64_t t = 0; t < 30; t++) {
        assert_int_equal (hpt_optimizer_suggest (opt, 1, v), 1);
        double y = t % 5 == 2 ? NAN : t % 5 == 4 ? INFINITY : s_quadratic (v);
        if (t == 11 || t == 17) y = t == 11 ? 1e300 : -1e300; //  finite, but differences overflow
        //  The same point told twice with tiny noise stresses the Cholesky.
        hpt_optimizer_add_result (opt, t, v, y);
        hpt_optimizer_add_result (opt, 1000 + t, v, t % 3 ? y : y + 1e-9);
    }
    assert_int_equal (hpt_optimizer_suggest (opt, 3, v), 3);
    for (size_t i = 0; i < 6; i++)
        assert_true (isfinite (v[i]) && v[i] >= -5 && v[i] <= 5);
    hpt_optimizer_destroy (&opt);
    hpt_space_destroy (&space);
}

static void
test_failed_neighbourhood_avoided (void **state)
{
    //  A failed point at the minimum of the quadratic: the GP still
    //  approaches the minimum but never suggests the failed point.
    hpt_space_t *space = s_square ();
    hpt_optimizer_t *opt =
        hpt_optimizer_new (space, HPT_GOAL_MINIMIZE, HPT_ALGORITHM_UNSPECIFIED, 9);
    double bad[2] = {1.3, -2.1}, v[2];
    hpt_optimizer_add_failed (opt, 999, bad);
    for (uint64_t t = 0; t < 15; t++) {
        assert_int_equal (hpt_optimizer_suggest (opt, 1, v), 1);
        assert_false (s_same (v, bad, 2));
        hpt_optimizer_add_result (opt, t, v, s_quadratic (v));
    }
    hpt_optimizer_destroy (&opt);
    hpt_space_destroy (&space);
}

static void
test_failed_point_pushes_suggestion_away (void **state)
{
    //  The same history twice, the second time with a failure exactly at
    //  the first optimizer's suggestion: the next suggestion must not just
    //  sit next to the failed point.
    hpt_space_t *space = s_square ();
    hpt_optimizer_t *a =
        hpt_optimizer_new (space, HPT_GOAL_MINIMIZE, HPT_ALGORITHM_UNSPECIFIED, 21);
    hpt_optimizer_t *b =
        hpt_optimizer_new (space, HPT_GOAL_MINIMIZE, HPT_ALGORITHM_UNSPECIFIED, 21);
    double v[2], first[2], second[2];
    for (uint64_t t = 0; t < 14; t++) {
        assert_int_equal (hpt_optimizer_suggest (a, 1, v), 1);
        hpt_optimizer_add_result (a, t, v, s_quadratic (v));
        hpt_optimizer_add_result (b, t, v, s_quadratic (v));
    }
    assert_int_equal (hpt_optimizer_suggest (a, 1, first), 1);
    hpt_optimizer_add_failed (b, 100, first);
    assert_int_equal (hpt_optimizer_suggest (b, 1, second), 1);
    //  Unit-cube distance (the range is 10 wide).
    double dist = hypot (first[0] - second[0], first[1] - second[1]) / 10.0;
    assert_true (dist > 0.02);
    hpt_optimizer_destroy (&a);
    hpt_optimizer_destroy (&b);
    hpt_space_destroy (&space);
}

static void
test_gp_wide_space (void **state)
{
    //  24 parameters of every type, one categorical with 40 categories
    //  (more than the local search tries at once): still legal and new.
    static char *many[40];
    static char names[40][8];
    for (size_t k = 0; k < 40; k++) {
        snprintf (names[k], sizeof names[k], "c%zu", k);
        many[k] = names[k];
    }
    hpt_param_spec_t p[24];
    char pnames[24][8];
    for (size_t j = 0; j < 24; j++) {
        snprintf (pnames[j], sizeof pnames[j], "p%zu", j);
        if (j % 4 == 0)
            p[j] = (hpt_param_spec_t){.type = HPT_PARAM_DOUBLE,
                                      .min_value = 1e-3,
                                      .max_value = 10,
                                      .scale = HPT_SCALE_LOG};
        else if (j % 4 == 1)
            p[j] = (hpt_param_spec_t){.type = HPT_PARAM_INTEGER, .min_value = 0, .max_value = 50};
        else if (j % 4 == 2)
            p[j] = (hpt_param_spec_t){
                .type = HPT_PARAM_DISCRETE, .discrete_values = s_levels, .discrete_count = 4};
        else
            p[j] = (hpt_param_spec_t){.type = HPT_PARAM_CATEGORICAL,
                                      .categorical_values = j == 3 ? many : s_cats,
                                      .categorical_count = j == 3 ? 40 : 3};
        p[j].name = pnames[j];
    }
    hpt_space_t *space = hpt_space_new (p, 24);
    hpt_optimizer_t *opt =
        hpt_optimizer_new (space, HPT_GOAL_MAXIMIZE, HPT_ALGORITHM_UNSPECIFIED, 8);
    double out[4 * 24];
    uint64_t id = 0;
    for (int round = 0; round < 12; round++) {
        assert_int_equal (hpt_optimizer_suggest (opt, 4, out), 4);
        for (size_t i = 0; i < 4; i++, id++) {
            s_assert_legal (space, out + i * 24);
            double y = 0;
            for (size_t j = 0; j < 24; j++)
                y -= fabs (out[i * 24 + j] - 1);
            hpt_optimizer_add_result (opt, id, out + i * 24, y);
        }
    }
    hpt_optimizer_destroy (&opt);
    hpt_space_destroy (&space);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_grid_order_and_exhaustion),
        cmocka_unit_test (test_grid_needs_finite_space),
        cmocka_unit_test (test_random_values_legal),
        cmocka_unit_test (test_gp_values_legal),
        cmocka_unit_test (test_random_rebuild_and_determinism),
        cmocka_unit_test (test_gp_rebuild_and_determinism),
        cmocka_unit_test (test_random_finite_space),
        cmocka_unit_test (test_gp_finite_space),
        cmocka_unit_test (test_gp_finds_quadratic_minimum),
        cmocka_unit_test (test_gp_survives_bad_results),
        cmocka_unit_test (test_failed_neighbourhood_avoided),
        cmocka_unit_test (test_failed_point_pushes_suggestion_away),
        cmocka_unit_test (test_gp_wide_space),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
