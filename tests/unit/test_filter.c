/*  Unit tests for hpt_filter: gcloud's examples for AI Platform jobs,
    every operator, lists and globs, times and numbers, grouping and the
    refusal to guess between AND and OR, and the errors that name the
    place.
*/
#include "hpt_filter.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static const char *const s_states[] = {"QUEUED", "RUNNING", "SUCCEEDED", "FAILED", NULL};
static const hpt_filter_field_t s_fields[] = {
    {"jobId", NULL},      {"state", s_states},     {"labels", NULL},
    {"createTime", NULL}, {"trainingInput", NULL}, {"trainingOutput", NULL},
};

static json_t *
s_job (const char *id, const char *state, const char *created, const char *team)
{
    return json_pack ("{s:s, s:s, s:s, s:{s:s}, s:{s:s, s:[s,s]}, s:{s:i}}", "jobId", id, "state",
                      state, "createTime", created, "labels", "team", team, "trainingInput",
                      "scaleTier", "BASIC_GPU", "args", "--epochs=3", "--Verbose", "trainingOutput",
                      "completedTrialCount", 12);
}

//  Whether filter matches job, failing the test when it does not parse.
static bool
s_matches (const char *filter, json_t *job)
{
    hpt_error_t error;
    hpt_filter_t *f = hpt_filter_new (filter, s_fields, 6, &error);
    if (!f) fail_msg ("'%s': %s", filter, error.message);
    bool match = hpt_filter_match (f, job);
    hpt_filter_destroy (&f);
    return match;
}

static void
s_assert_refused (const char *filter, const char *says)
{
    hpt_error_t error;
    hpt_filter_t *f = hpt_filter_new (filter, s_fields, 6, &error);
    if (f) fail_msg ("'%s' was accepted", filter);
    assert_int_equal (error.code, HPT_E_INVALID);
    if (!strstr (error.message, says))
        fail_msg ("'%s': '%s' lacks '%s'", filter, error.message, says);
}

static void
test_gcloud_examples (void **state)
{
    json_t *census = s_job ("census_1", "FAILED", "2026-12-01T10:00:00Z", "ads");
    json_t *rnn = s_job ("rnn_7", "FAILED", "2026-12-02T10:00:00.5Z", "nlp");
    assert_true (s_matches ("jobId:census*", census));
    assert_false (s_matches ("jobId:census*", rnn));
    assert_true (s_matches ("jobId:rnn* AND state:FAILED", rnn));
    assert_false (s_matches ("jobId:rnn* AND state:SUCCEEDED", rnn));
    assert_true (s_matches ("state=FAILED", rnn));
    assert_true (s_matches ("", rnn));
    assert_true (s_matches ("   ", rnn));
    json_decref (census);
    json_decref (rnn);
}

static void
test_operators (void **state)
{
    json_t *job = s_job ("census_1", "RUNNING", "2026-12-01T10:00:00Z", "ads");
    //  has: whole value or a word, any case; = is exact.
    assert_true (s_matches ("jobId:census", job));
    assert_true (s_matches ("jobId:CENSUS_1", job));
    assert_false (s_matches ("jobId:cens", job));
    assert_false (s_matches ("jobId=census", job));
    assert_true (s_matches ("jobId=census_1", job));
    assert_false (s_matches ("jobId=CENSUS_1", job));
    assert_true (s_matches ("jobId=*_1", job));
    assert_true (s_matches ("jobId!=census_2", job));
    assert_true (s_matches ("state:running", job));
    //  Nested keys, labels and lists.
    assert_true (s_matches ("labels.team=ads", job));
    assert_false (s_matches ("labels.team=nlp", job));
    assert_true (s_matches ("labels.team:*", job));
    assert_false (s_matches ("labels.owner:*", job));
    assert_true (s_matches ("labels.owner!=x", job));
    assert_true (s_matches ("trainingInput.args:verbose", job));
    assert_true (s_matches ("trainingInput.args=--epochs=3", job));
    assert_true (s_matches ("state:(QUEUED RUNNING)", job));
    assert_true (s_matches ("state:(QUEUED OR RUNNING)", job));
    assert_false (s_matches ("state:(QUEUED SUCCEEDED)", job));
    //  Numbers as numbers (12 > 9 though "12" < "9").
    assert_true (s_matches ("trainingOutput.completedTrialCount>9", job));
    assert_true (s_matches ("trainingOutput.completedTrialCount>=12", job));
    assert_false (s_matches ("trainingOutput.completedTrialCount<12", job));
    assert_true (s_matches ("trainingOutput.completedTrialCount<=12", job));
    json_decref (job);
}

static void
test_times (void **state)
{
    json_t *job = s_job ("a", "RUNNING", "2026-12-01T10:00:00.250Z", "ads");
    assert_true (s_matches ("createTime>2026-12-01T09:59:59Z", job));
    assert_true (s_matches ("createTime<2026-12-01T10:00:01Z", job));
    assert_true (s_matches ("createTime>2026-12-01", job));
    assert_false (s_matches ("createTime<2026-12-01", job));
    //  An offset is honoured: 11:00+01:00 is 10:00Z.
    assert_true (s_matches ("createTime>=\"2026-12-01T11:00:00+01:00\"", job));
    assert_false (
        s_matches ("createTime>2026-12-01T11:00:00+01:00 AND createTime>2026-12-02", job));
    json_decref (job);
}

static void
test_grouping (void **state)
{
    json_t *job = s_job ("census_1", "FAILED", "2026-12-01T10:00:00Z", "ads");
    assert_true (s_matches ("state:FAILED OR state:RUNNING", job));
    assert_true (s_matches ("(state:RUNNING OR state:FAILED) AND labels.team=ads", job));
    assert_false (s_matches ("(state:RUNNING OR state:FAILED) AND labels.team=nlp", job));
    assert_false (s_matches ("NOT state:FAILED", job));
    assert_false (s_matches ("-state:FAILED", job));
    assert_true (s_matches ("NOT (state:RUNNING)", job));
    //  Juxtaposed terms are ANDed.
    assert_true (s_matches ("state:FAILED labels.team=ads", job));
    assert_false (s_matches ("state:FAILED labels.team=nlp", job));
    assert_true (s_matches ("((((jobId:census*))))", job));
    json_decref (job);
}

static void
test_refusals (void **state)
{
    s_assert_refused ("state:FAILED AND jobId:a OR jobId:b", "parentheses are required");
    s_assert_refused ("colour=red", "unknown field 'colour'");
    s_assert_refused ("state:RUNING", "'RUNING' is not a value of state");
    s_assert_refused ("state=running", "'running' is not a value of state");
    s_assert_refused ("state", "expected an operator");
    s_assert_refused ("jobId:", "a value is missing");
    s_assert_refused ("(state:FAILED", "expected ')'");
    s_assert_refused ("state:FAILED)", "unexpected ')'");
    s_assert_refused ("jobId:\"abc", "unterminated");
    s_assert_refused ("jobId:()", "empty list");
    s_assert_refused ("= x", "expected a key");
    s_assert_refused ("AND", "expected an operator");
    //  The column of the problem is named.
    s_assert_refused ("jobId:a AND colour=red", "column");
    //  Bounded nesting and size.
    char deep[200] = "";
    for (int i = 0; i < 40; i++)
        strcat (deep, "(");
    strcat (deep, "jobId:a");
    s_assert_refused (deep, "too deeply nested");
    char *long_text = malloc (HPT_FILTER_MAX_TEXT + 10);
    memset (long_text, 'a', HPT_FILTER_MAX_TEXT + 9);
    long_text[HPT_FILTER_MAX_TEXT + 9] = '\0';
    s_assert_refused (long_text, "longer than");
    free (long_text);
}

//  Hostile texts: anything parses or is refused, never crashes or leaks.
static void
test_garbage (void **state)
{
    const char *pieces[] = {"(",   ")",  "NOT ",  "-",  "jobId", ":",       "=",
                            "!=",  "<",  ">=",    "\"", "'",     " ",       "AND ",
                            "OR ", "x*", "state", ".",  "\\",    "labels.a"};
    unsigned seed = 7;
    json_t *job = s_job ("a", "RUNNING", "2026-12-01T10:00:00Z", "ads");
    for (int round = 0; round < 20000; round++) {
        char text[256] = "";
        int count = (int)(rand_r (&seed) % 12);
        for (int i = 0; i < count; i++)
            strcat (text, pieces[rand_r (&seed) % 20]);
        hpt_error_t error;
        hpt_filter_t *f = hpt_filter_new (text, s_fields, 6, &error);
        if (f) hpt_filter_match (f, job);
        hpt_filter_destroy (&f);
    }
    json_decref (job);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_gcloud_examples), cmocka_unit_test (test_operators),
        cmocka_unit_test (test_times),           cmocka_unit_test (test_grouping),
        cmocka_unit_test (test_refusals),        cmocka_unit_test (test_garbage),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
