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
    hpt_error_t error;
    hpt_line_metrics_t *m = hpt_line_metrics_new (NULL, &error);
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
    hpt_error_t error;
    hpt_line_metrics_t *m = hpt_line_metrics_new (
        "Step (?<step>[0-9]+): (?P<tag>[a-z_]+) is (?<value>[0-9.]+)", &error);
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
    m = hpt_line_metrics_new ("acc[(]%[)] (?<value>[0-9]+)", &error);
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
    hpt_error_t error;
    assert_null (hpt_line_metrics_new ("loss=([0-9]+)", &error));
    assert_int_equal (error.code, HPT_E_INVALID);
    assert_non_null (strstr (error.message, "value"));
    assert_null (hpt_line_metrics_new ("(?<value>[0-9]+", &error));
    assert_non_null (strstr (error.message, "regular expression"));
    assert_null (hpt_line_metrics_new ("(?<size>[0-9]+)", &error));
    assert_non_null (strstr (error.message, "unknown group name 'size'"));
    assert_null (hpt_line_metrics_new ("(?=x)(?<value>1)", &error));
    assert_null (hpt_line_metrics_new ("(?<value", &error));
    assert_null (hpt_line_metrics_new ("(?<value", NULL));
}

static void
test_hand_matcher_agrees_with_the_regex (void **state)
{
    //  The default pattern is matched by hand for speed; on random lines
    //  over the characters that matter it must find exactly what the
    //  compiled regex finds. The same pattern spelled differently ("[:=]"
    //  for "[=:]") is a custom one, compiled and run through regexec; the
    //  one thing only the default does, taking the step from a step pair,
    //  cannot happen on these lines (no 't' or 'p' in the alphabet).
    hpt_error_t error;
    char respelled[sizeof (HPT_LINE_METRICS_DEFAULT)] = HPT_LINE_METRICS_DEFAULT;
    char *separator = strstr (respelled, "[=:]");
    assert_non_null (separator);
    memcpy (separator, "[:=]", 4);
    hpt_line_metrics_t *fast = hpt_line_metrics_new (NULL, &error);
    hpt_line_metrics_t *slow = hpt_line_metrics_new (respelled, &error);
    assert_non_null (fast);
    assert_non_null (slow);
    static const char alphabet[] = "aZ_s9.-/=: \t+eE05x,";
    unsigned state_ = 12345;
    int with_points = 0;
    for (int trial = 0; trial < 100000; trial++) {
        char line[40];
        state_ = state_ * 1103515245u + 12345u;
        int length = 1 + (int)((state_ >> 16) % (sizeof (line) - 1));
        for (int i = 0; i < length; i++) {
            state_ = state_ * 1103515245u + 12345u;
            line[i] = alphabet[(state_ >> 16) % (sizeof (alphabet) - 1)];
        }
        line[length] = '\0';
        hpt_line_point_t a[16], b[16];
        int na = hpt_line_metrics_scan (fast, line, "t", a, 16);
        int nb = hpt_line_metrics_scan (slow, line, "t", b, 16);
        if (na != nb) fail_msg ("'%s': %d points by hand, %d by regex", line, na, nb);
        for (int i = 0; i < na; i++) {
            if (strcmp (a[i].tag, b[i].tag) != 0 || a[i].value != b[i].value ||
                a[i].step != b[i].step)
                fail_msg ("'%s': point %d differs: %s=%g@%lld vs %s=%g@%lld", line, i, a[i].tag,
                          a[i].value, (long long)a[i].step, b[i].tag, b[i].value,
                          (long long)b[i].step);
        }
        with_points += na > 0;
    }
    //  The lines must exercise matches, not only misses.
    assert_true (with_points > 10000);
    hpt_line_metrics_destroy (&fast);
    hpt_line_metrics_destroy (&slow);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_default_pattern),
        cmocka_unit_test (test_custom_pattern),
        cmocka_unit_test (test_hand_matcher_agrees_with_the_regex),
        cmocka_unit_test (test_bad_patterns),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
