/*  Unit tests for hpt_space: unit-cube mappings, snapping, formatting and
    the grid. */
#include "hpt_space.h"
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static double s_discrete[] = {1, 10, 100, 1000};
static char *s_categories[] = {"relu", "tanh", "logistic"};

static hpt_space_t *
s_space (void)
{
    hpt_param_spec_t params[] = {
        {"lr", HPT_PARAM_DOUBLE, 1e-4, 1e-1, NULL, 0, NULL, 0, HPT_SCALE_LOG},
        {"m", HPT_PARAM_DOUBLE, 0.5, 0.999, NULL, 0, NULL, 0, HPT_SCALE_REVERSE_LOG},
        {"units", HPT_PARAM_INTEGER, 8, 512, NULL, 0, NULL, 0, HPT_SCALE_LINEAR},
        {"bs", HPT_PARAM_DISCRETE, 0, 0, s_discrete, 4, NULL, 0, HPT_SCALE_LOG},
        {"act", HPT_PARAM_CATEGORICAL, 0, 0, NULL, 0, s_categories, 3, HPT_SCALE_NONE},
        {"x", HPT_PARAM_DOUBLE, -5, 10, NULL, 0, NULL, 0, HPT_SCALE_NONE},
    };
    return hpt_space_new (params, 6);
}

static void
test_linear_and_ends (void **state)
{
    hpt_space_t *space = s_space ();
    assert_float_equal (hpt_space_to_unit (space, 5, -5), 0.0, 1e-12);
    assert_float_equal (hpt_space_to_unit (space, 5, 10), 1.0, 1e-12);
    assert_float_equal (hpt_space_to_unit (space, 5, 2.5), 0.5, 1e-12);
    assert_float_equal (hpt_space_from_unit (space, 5, 0.5), 2.5, 1e-12);
    //  Ends are exact and out-of-range input clamps.
    assert_true (hpt_space_from_unit (space, 0, 0.0) == 1e-4);
    assert_true (hpt_space_from_unit (space, 0, 1.0) == 1e-1);
    assert_true (hpt_space_from_unit (space, 0, -3.0) == 1e-4);
    assert_true (hpt_space_from_unit (space, 0, NAN) == 1e-4);
    assert_float_equal (hpt_space_to_unit (space, 5, 99), 1.0, 1e-12);
    hpt_space_destroy (&space);
    assert_null (space);
}

static void
test_log_scale (void **state)
{
    hpt_space_t *space = s_space ();
    //  Geometric midpoint of [1e-4, 1e-1] is 10^-2.5.
    assert_float_equal (hpt_space_from_unit (space, 0, 0.5), pow (10, -2.5), 1e-15);
    assert_float_equal (hpt_space_to_unit (space, 0, 1e-2), 2.0 / 3.0, 1e-12);
    for (double u = 0; u <= 1.0; u += 0.01) {
        double v = hpt_space_from_unit (space, 0, u);
        assert_true (v >= 1e-4 && v <= 1e-1);
        assert_float_equal (hpt_space_to_unit (space, 0, v), u, 1e-9);
    }
    hpt_space_destroy (&space);
}

static void
test_reverse_log_scale (void **state)
{
    hpt_space_t *space = s_space ();
    //  Reverse log spreads values near max: the upper half of the unit
    //  interval covers less than half of [0.5, 0.999], near the top.
    double mid = hpt_space_from_unit (space, 1, 0.5);
    assert_true (mid > 0.5 + (0.999 - 0.5) / 2);
    assert_true (hpt_space_from_unit (space, 1, 0.0) == 0.5);
    assert_true (hpt_space_from_unit (space, 1, 1.0) == 0.999);
    for (double u = 0; u <= 1.0; u += 0.01) {
        double v = hpt_space_from_unit (space, 1, u);
        assert_true (v >= 0.5 && v <= 0.999);
        assert_float_equal (hpt_space_to_unit (space, 1, v), u, 1e-9);
    }
    //  Monotonic.
    assert_true (hpt_space_from_unit (space, 1, 0.3) < hpt_space_from_unit (space, 1, 0.31));
    hpt_space_destroy (&space);
}

static void
test_integer_rounding (void **state)
{
    hpt_space_t *space = s_space ();
    for (double u = 0; u <= 1.0; u += 0.001) {
        double v = hpt_space_from_unit (space, 2, u);
        assert_true (v == floor (v) && v >= 8 && v <= 512);
    }
    assert_true (hpt_space_snap (space, 2, 9.49) == 9);
    assert_true (hpt_space_snap (space, 2, 9.5) == 10);
    assert_true (hpt_space_snap (space, 2, 1000) == 512);
    assert_int_equal (hpt_space_levels (space, 2), 505);
    hpt_space_destroy (&space);
}

static void
test_discrete_snapping (void **state)
{
    hpt_space_t *space = s_space ();
    //  On a log scale 30 is nearer 10 than 100 (log distance 0.48 vs 0.52).
    assert_true (hpt_space_snap (space, 3, 30) == 10);
    assert_true (hpt_space_snap (space, 3, 35) == 100);
    assert_true (hpt_space_from_unit (space, 3, 0.0) == 1);
    assert_true (hpt_space_from_unit (space, 3, 1.0) == 1000);
    assert_true (hpt_space_from_unit (space, 3, 1.0 / 3.0) == 10);
    for (double u = 0; u <= 1.0; u += 0.01) {
        double v = hpt_space_from_unit (space, 3, u);
        assert_true (v == 1 || v == 10 || v == 100 || v == 1000);
    }
    assert_int_equal (hpt_space_levels (space, 3), 4);
    hpt_space_destroy (&space);
}

static void
test_categorical (void **state)
{
    hpt_space_t *space = s_space ();
    assert_true (hpt_space_from_unit (space, 4, 0.0) == 0);
    assert_true (hpt_space_from_unit (space, 4, 0.34) == 1);
    assert_true (hpt_space_from_unit (space, 4, 1.0) == 2);
    for (int k = 0; k < 3; k++)
        assert_true (hpt_space_from_unit (space, 4, hpt_space_to_unit (space, 4, k)) == k);
    assert_int_equal (hpt_space_levels (space, 4), 3);
    assert_int_equal (hpt_space_levels (space, 0), 0);
    hpt_space_destroy (&space);
}

static void
test_format_and_parse (void **state)
{
    hpt_space_t *space = s_space ();
    char *text = hpt_space_format (space, 0, pow (10, -2.5));
    assert_string_equal (text, "0.0031622776601683794");
    double back;
    assert_true (hpt_space_parse (space, 0, text, &back));
    assert_true (back == pow (10, -2.5));
    free (text);
    text = hpt_space_format (space, 2, 123);
    assert_string_equal (text, "123");
    free (text);
    text = hpt_space_format (space, 4, 1);
    assert_string_equal (text, "tanh");
    assert_true (hpt_space_parse (space, 4, "logistic", &back) && back == 2);
    free (text);
    text = hpt_space_format (space, 3, 100);
    assert_string_equal (text, "100");
    free (text);
    text = hpt_space_format (space, 0, 0.1);
    assert_string_equal (text, "0.1");
    free (text);
    assert_false (hpt_space_parse (space, 4, "gelu", &back));
    assert_false (hpt_space_parse (space, 2, "12.5", &back));
    assert_false (hpt_space_parse (space, 2, "1000", &back));
    assert_false (hpt_space_parse (space, 3, "11", &back));
    assert_false (hpt_space_parse (space, 0, "nan", &back));
    assert_false (hpt_space_parse (space, 0, "", &back));
    hpt_space_destroy (&space);
}

static void
test_grid (void **state)
{
    double discrete[] = {1, 2, 4};
    char *cats[] = {"a", "b"};
    hpt_param_spec_t params[] = {
        {"i", HPT_PARAM_INTEGER, 1, 3, NULL, 0, NULL, 0, HPT_SCALE_NONE},
        {"d", HPT_PARAM_DISCRETE, 0, 0, discrete, 3, NULL, 0, HPT_SCALE_NONE},
        {"c", HPT_PARAM_CATEGORICAL, 0, 0, NULL, 0, cats, 2, HPT_SCALE_NONE},
    };
    hpt_space_t *space = hpt_space_new (params, 3);
    assert_int_equal (hpt_space_grid_size (space), 18);
    double v[3];
    //  First parameter slowest, last fastest, values ascending.
    assert_true (hpt_space_grid_point (space, 0, v));
    assert_true (v[0] == 1 && v[1] == 1 && v[2] == 0);
    assert_true (hpt_space_grid_point (space, 1, v));
    assert_true (v[0] == 1 && v[1] == 1 && v[2] == 1);
    assert_true (hpt_space_grid_point (space, 2, v));
    assert_true (v[0] == 1 && v[1] == 2 && v[2] == 0);
    assert_true (hpt_space_grid_point (space, 17, v));
    assert_true (v[0] == 3 && v[1] == 4 && v[2] == 1);
    assert_false (hpt_space_grid_point (space, 18, v));
    //  Every combination exactly once.
    int seen[3][3][2] = {{{0}}};
    for (uint64_t i = 0; i < 18; i++) {
        assert_true (hpt_space_grid_point (space, i, v));
        int d = v[1] == 1 ? 0 : v[1] == 2 ? 1 : 2;
        seen[(int)v[0] - 1][d][(int)v[2]]++;
    }
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++)
            for (int c = 0; c < 2; c++)
                assert_int_equal (seen[a][b][c], 1);
    hpt_space_destroy (&space);
    //  A DOUBLE makes the grid infinite.
    space = s_space ();
    assert_int_equal (hpt_space_grid_size (space), 0);
    assert_false (hpt_space_grid_point (space, 0, v));
    hpt_space_destroy (&space);
}

static void
test_format_double_shortest (void **state)
{
    char buf[64];
    assert_string_equal (hpt_format_double (0.1, buf, sizeof (buf)), "0.1");
    assert_string_equal (hpt_format_double (7200, buf, sizeof (buf)), "7200");
    assert_string_equal (hpt_format_double (1e-5, buf, sizeof (buf)), "1e-05");
    assert_string_equal (hpt_format_double (1.0 / 3.0, buf, sizeof (buf)), "0.3333333333333333");
    assert_true (strtod (hpt_format_double (2.0 / 3.0, buf, sizeof (buf)), NULL) == 2.0 / 3.0);
    //  Only precisions 15 to 17 are tried (the API renders thousands of
    //  metric values per Job); the text is still the shortest of all.
    uint64_t bits = 88172645463325252u;
    for (int i = 0; i < 200000; i++) {
        bits ^= bits << 13, bits ^= bits >> 7, bits ^= bits << 17;
        double d;
        memcpy (&d, &bits, sizeof (d));
        if (!isfinite (d) || d == floor (d)) continue;
        char shortest[64];
        for (int precision = 1; precision <= 17; precision++) {
            snprintf (shortest, sizeof (shortest), "%.*g", precision, d);
            if (strtod (shortest, NULL) == d) break;
        }
        assert_string_equal (hpt_format_double (d, buf, sizeof (buf)), shortest);
        double step = 1.0 / (double)(i + 1);
        for (int precision = 1; precision <= 17; precision++) {
            snprintf (shortest, sizeof (shortest), "%.*g", precision, step);
            if (strtod (shortest, NULL) == step) break;
        }
        assert_string_equal (hpt_format_double (step, buf, sizeof (buf)), shortest);
    }
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_linear_and_ends),        cmocka_unit_test (test_log_scale),
        cmocka_unit_test (test_reverse_log_scale),      cmocka_unit_test (test_integer_rounding),
        cmocka_unit_test (test_discrete_snapping),      cmocka_unit_test (test_categorical),
        cmocka_unit_test (test_format_and_parse),       cmocka_unit_test (test_grid),
        cmocka_unit_test (test_format_double_shortest),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
