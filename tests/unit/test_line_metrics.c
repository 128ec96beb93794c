/*  Unit tests for hpt_line_metrics: the default NAME=VALUE pattern and
    custom patterns with named groups. */
#include "hpt_line_metrics.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

static void
test_default_pattern (void **state)
{
    char error[256];
    hpt_line_metrics_t *m = hpt_line_metrics_new (NULL, error, sizeof (error));
    assert_non_null (m);
    hpt_line_point_t p[8];
    int n = hpt_line_metrics_scan (m, "metric1=0.93 step=100", "metric1", p, 8);
    assert_int_equal (n, 1);
    assert_string_equal (p[0].tag, "metric1");
    assert_true (p[0].value == 0.93);
    assert_int_equal (p[0].step, 100);
    n = hpt_line_metrics_scan (m, "metric1: 0.93", "metric1", p, 8);
    assert_int_equal (n, 1);
    assert_int_equal (p[0].step, -1);
    n = hpt_line_metrics_scan (m, "epoch 3 loss=0.41 val/accuracy = 9.3e-1 global_step: 300", "x",
                               p, 8);
    assert_int_equal (n, 2);
    assert_string_equal (p[0].tag, "loss");
    assert_string_equal (p[1].tag, "val/accuracy");
    assert_true (p[1].value == 0.93);
    assert_int_equal (p[0].step, 300);
    assert_int_equal (p[1].step, 300);
    //  Lines without pairs give nothing; max bounds the output.
    assert_int_equal (hpt_line_metrics_scan (m, "starting training", "x", p, 8), 0);
    assert_int_equal (hpt_line_metrics_scan (m, "a=1 b=2 c=3", "x", p, 2), 2);
    hpt_line_metrics_destroy (&m);
    assert_null (m);
}

static void
test_custom_pattern (void **state)
{
    char error[256];
    hpt_line_metrics_t *m = hpt_line_metrics_new (
        "Step (?<step>[0-9]+): (?P<tag>[a-z_]+) is (?<value>[0-9.]+)", error, sizeof (error));
    assert_non_null (m);
    hpt_line_point_t p[4];
    int n = hpt_line_metrics_scan (m, "Step 12: accuracy is 0.5 | Step 13: loss is 2", "t", p, 4);
    assert_int_equal (n, 2);
    assert_string_equal (p[0].tag, "accuracy");
    assert_int_equal (p[0].step, 12);
    assert_string_equal (p[1].tag, "loss");
    assert_int_equal (p[1].step, 13);
    hpt_line_metrics_destroy (&m);
    //  Without a tag group the job's tag is used; brackets with '(' are
    //  not groups.
    m = hpt_line_metrics_new ("acc[(]%[)] (?<value>[0-9]+)", error, sizeof (error));
    assert_non_null (m);
    n = hpt_line_metrics_scan (m, "acc(%) 97", "accuracy", p, 4);
    assert_int_equal (n, 1);
    assert_string_equal (p[0].tag, "accuracy");
    assert_true (p[0].value == 97);
    hpt_line_metrics_destroy (&m);
}

static void
test_bad_patterns (void **state)
{
    char error[256];
    assert_null (hpt_line_metrics_new ("loss=([0-9]+)", error, sizeof (error)));
    assert_non_null (strstr (error, "value"));
    assert_null (hpt_line_metrics_new ("(?<value>[0-9]+", error, sizeof (error)));
    assert_non_null (strstr (error, "regular expression"));
    assert_null (hpt_line_metrics_new ("(?<size>[0-9]+)", error, sizeof (error)));
    assert_non_null (strstr (error, "unknown group name 'size'"));
    assert_null (hpt_line_metrics_new ("(?=x)(?<value>1)", error, sizeof (error)));
    assert_null (hpt_line_metrics_new ("(?<value", error, sizeof (error)));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_default_pattern),
        cmocka_unit_test (test_custom_pattern),
        cmocka_unit_test (test_bad_patterns),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
