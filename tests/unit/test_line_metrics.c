/*  Unit tests for hpt_line_metrics: the default NAME=VALUE pattern and
    custom patterns with named groups. */
#include "hpt_line_metrics.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
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

//  Constructs a POSIX matcher can take exponential time on are refused,
//  each named with its offset in the user's pattern; the one from the bug
//  report has both. Repetitions that cannot nest stay allowed.
static void
test_slow_constructs_are_refused (void **state)
{
    hpt_error_t error;
    assert_null (hpt_line_metrics_new ("(?<value>([0-9]+)+)\\2=", &error));
    assert_int_equal (error.code, HPT_E_INVALID);
    assert_non_null (strstr (error.message, "nested quantifier '([0-9]+)+' at offset 9"));
    assert_non_null (strstr (error.message, "back-reference '\\2' at offset 19"));
    assert_non_null (strstr (error.message, "exponential"));
    static const char *refused[] = {
        "(a+)+(?<value>x)",    "(?<value>(x*)*)", "(?<value>a+*)",         "(?<value>1)(b?)*",
        "(?<value>(a(bc)?)+)", "(?<value>1)\\1",  "(?<value>(a{1,3}){2})", "(?<value>1)(ab+){2,}"};
    for (size_t i = 0; i < sizeof (refused) / sizeof (refused[0]); i++) {
        hpt_line_metrics_t *m = hpt_line_metrics_new (refused[i], &error);
        if (m) fail_msg ("accepted %s", refused[i]);
    }
    static const char *allowed[] = {"(?<value>[0-9.]+)", "(step=(?<step>[0-9]+))?(?<value>[0-9]+)",
                                    "(?<value>(a|b)+)",  "(?<value>[[:digit:]]+)",
                                    "(?<value>[\\1]+)",  "(?<value>((ab)c)+)",
                                    "(?<value>a+?)",     HPT_LINE_METRICS_DEFAULT};
    for (size_t i = 0; i < sizeof (allowed) / sizeof (allowed[0]); i++) {
        hpt_line_metrics_t *m = hpt_line_metrics_new (allowed[i], &error);
        if (!m) fail_msg ("refused %s: %s", allowed[i], error.message);
        hpt_line_metrics_destroy (&m);
    }
    //  The protocol carries at most 1024 bytes of pattern.
    char longest[HPT_LINE_METRICS_REGEX_MAX + 2];
    memset (longest, 'a', sizeof (longest) - 1);
    longest[sizeof (longest) - 1] = '\0';
    memcpy (longest, "(?<value>1)", 11);
    assert_null (hpt_line_metrics_new (longest, &error));
    assert_non_null (strstr (error.message, "longer than 1024 bytes"));
    longest[HPT_LINE_METRICS_REGEX_MAX] = '\0';
    hpt_line_metrics_t *m = hpt_line_metrics_new (longest, &error);
    assert_non_null (m);
    hpt_line_metrics_destroy (&m);
}

//  A pattern sees the first HPT_LINE_METRICS_LINE_MAX bytes of a line.
static void
test_only_the_head_of_a_long_line_is_matched (void **state)
{
    hpt_error_t error;
    hpt_line_metrics_t *m = hpt_line_metrics_new ("v=(?<value>[0-9]+)", &error);
    assert_non_null (m);
    size_t size = 3 * HPT_LINE_METRICS_LINE_MAX;
    char *line = malloc (size + 1);
    memset (line, ' ', size);
    line[size] = '\0';
    memcpy (line, "v=1", 3);
    memcpy (line + HPT_LINE_METRICS_LINE_MAX - 3, "v=2", 3); //  ends at the cap
    memcpy (line + HPT_LINE_METRICS_LINE_MAX, "v=3", 3);     //  beyond it
    hpt_line_point_t points[8];
    assert_int_equal (hpt_line_metrics_scan (m, line, "t", points, 8), 2);
    assert_true (points[0].value == 1 && points[1].value == 2);
    free (line);
    hpt_line_metrics_destroy (&m);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_default_pattern),
        cmocka_unit_test (test_custom_pattern),
        cmocka_unit_test (test_hand_matcher_agrees_with_the_regex),
        cmocka_unit_test (test_bad_patterns),
        cmocka_unit_test (test_slow_constructs_are_refused),
        cmocka_unit_test (test_only_the_head_of_a_long_line_is_matched),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
