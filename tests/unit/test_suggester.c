/*  test_suggester -- hpt_suggester: suggestions off the master's loop

    What the core relies on: a request (a snapshot) gives exactly what the
    optimizer it was taken from would have suggested, in a batch of k as
    one at a time; the actor answers every request, in order, with what
    hpt_suggest_compute gives, whatever it cached for the job before;
    and destroying the actor with requests queued or answers unread
    leaks nothing (the sanitizer run checks).
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hpt_alloc.h"
#include "hpt_suggester.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *s_cats[] = {"a", "b", "c"};

//  DOUBLE, log DOUBLE, INTEGER, CATEGORICAL.
static const hpt_param_spec_t s_params[4] = {
    {.name = "x", .type = HPT_PARAM_DOUBLE, .min_value = -2, .max_value = 3},
    {.name = "lr",
     .type = HPT_PARAM_DOUBLE,
     .min_value = 1e-5,
     .max_value = 1,
     .scale = HPT_SCALE_LOG},
    {.name = "n", .type = HPT_PARAM_INTEGER, .min_value = 1, .max_value = 9},
    {.name = "c",
     .type = HPT_PARAM_CATEGORICAL,
     .categorical_values = s_cats,
     .categorical_count = 3},
};

#define S_DIM 4

static double
s_objective (const double *v)
{
    return pow (v[0] - 1, 2) + pow (log10 (v[1]) + 2, 2) + 0.1 * pow (v[2] - 4, 2) +
           (v[3] == 1 ? 0 : 0.5);
}

//  An optimizer over space with results told trials 1..done, trials
//  done+1..done+pending pending and the last result failed instead.
static hpt_optimizer_t *
s_driven (hpt_space_t *space, hpt_algorithm_t algorithm, size_t done, size_t pending)
{
    hpt_optimizer_t *opt = hpt_optimizer_new (space, HPT_GOAL_MINIMIZE, algorithm, 7);
    hpt_optimizer_set_budget (opt, 100);
    double v[S_DIM];
    for (uint64_t id = 1; id <= done + pending; id++) {
        assert_int_equal (hpt_optimizer_suggest (opt, 1, v), 1);
        if (id > done)
            hpt_optimizer_add_pending (opt, id, v);
        else if (id == done)
            hpt_optimizer_add_failed (opt, id, v);
        else
            hpt_optimizer_add_result (opt, id, v, s_objective (v));
    }
    return opt;
}

static hpt_suggest_request_t *
s_request (hpt_optimizer_t *opt, const char *job_id, uint64_t id, size_t count)
{
    hpt_suggest_request_t *request = hpt_calloc (1, sizeof (hpt_suggest_request_t));
    request->job_id = hpt_strdup (job_id);
    request->id = id;
    request->space = hpt_space_new (s_params, S_DIM);
    request->history = hpt_optimizer_history (opt);
    request->count = count;
    return request;
}

static void
s_same_answer (const hpt_suggest_answer_t *a, const hpt_suggest_answer_t *b)
{
    assert_string_equal (a->job_id, b->job_id);
    assert_true (a->id == b->id);
    assert_int_equal (a->count, b->count);
    assert_int_equal (a->dim, b->dim);
    assert_memory_equal (a->values, b->values, a->count * a->dim * sizeof (double));
}

//  A snapshot suggests what its optimizer does, for each algorithm; the
//  snapshot is independent of the optimizer once taken.
static void
s_check_snapshot (hpt_algorithm_t algorithm)
{
    hpt_space_t *space = hpt_space_new (s_params, S_DIM);
    hpt_optimizer_t *opt = s_driven (space, algorithm, 24, 5);
    hpt_suggest_request_t *request = s_request (opt, "j", 1, 6);
    double direct[6 * S_DIM];
    assert_int_equal (hpt_optimizer_suggest (opt, 6, direct), 6);
    //  Changing the optimizer afterwards does not reach the snapshot.
    hpt_optimizer_add_result (opt, 99, direct, 0.0);
    hpt_suggest_answer_t *answer = hpt_suggest_compute (request);
    assert_int_equal (answer->asked, 6);
    assert_int_equal (answer->count, 6);
    assert_int_equal (answer->dim, S_DIM);
    assert_memory_equal (answer->values, direct, sizeof direct);
    //  The six are distinct points.
    for (size_t i = 0; i < 6; i++)
        for (size_t j = 0; j < i; j++)
            assert_memory_not_equal (answer->values + i * S_DIM, answer->values + j * S_DIM,
                                     S_DIM * sizeof (double));
    hpt_suggest_answer_destroy (&answer);
    hpt_suggest_request_destroy (&request);
    hpt_optimizer_destroy (&opt);
    hpt_space_destroy (&space);
}

static void
test_snapshot_suggests_as_its_optimizer (void **state)
{
    s_check_snapshot (HPT_ALGORITHM_UNSPECIFIED);
    s_check_snapshot (HPT_ALGORITHM_RANDOM_SEARCH);
}

//  Settings are part of the snapshot: an optimizer with another seed
//  refuses its history, and suggests otherwise.
static void
test_set_history_checks_settings (void **state)
{
    hpt_space_t *space = hpt_space_new (s_params, S_DIM);
    hpt_optimizer_t *opt = s_driven (space, HPT_ALGORITHM_UNSPECIFIED, 12, 2);
    hpt_optimizer_history_t *history = hpt_optimizer_history (opt);
    hpt_optimizer_t *other =
        hpt_optimizer_new (space, HPT_GOAL_MINIMIZE, HPT_ALGORITHM_UNSPECIFIED, 8);
    hpt_optimizer_set_budget (other, 100);
    assert_false (hpt_optimizer_set_history (other, history));
    hpt_optimizer_t *same =
        hpt_optimizer_new (space, HPT_GOAL_MINIMIZE, HPT_ALGORITHM_UNSPECIFIED, 7);
    assert_false (hpt_optimizer_set_history (same, history)); //  no budget yet
    hpt_optimizer_set_budget (same, 100);
    assert_true (hpt_optimizer_set_history (same, history));
    double a[2 * S_DIM], b[2 * S_DIM];
    assert_int_equal (hpt_optimizer_suggest (opt, 2, a), 2);
    assert_int_equal (hpt_optimizer_suggest (same, 2, b), 2);
    assert_memory_equal (a, b, sizeof a);
    hpt_optimizer_history_destroy (&history);
    hpt_optimizer_destroy (&opt);
    hpt_optimizer_destroy (&other);
    hpt_optimizer_destroy (&same);
    hpt_space_destroy (&space);
}

//  The next answer, waited for (hpt_suggester_recv never blocks).
static hpt_suggest_answer_t *
s_recv (hpt_suggester_t *suggester)
{
    zpoller_t *poller = zpoller_new (hpt_suggester_sock (suggester), NULL);
    assert_non_null (zpoller_wait (poller, 60000));
    zpoller_destroy (&poller);
    return hpt_suggester_recv (suggester);
}

//  The actor answers in order, each answer what hpt_suggest_compute
//  gives: for two jobs interleaved, and for a job whose cached optimizer
//  (and GP fit) held a shorter history before.
static void
test_actor_answers_as_compute (void **state)
{
    hpt_space_t *space = hpt_space_new (s_params, S_DIM);
    hpt_optimizer_t *a1 = s_driven (space, HPT_ALGORITHM_UNSPECIFIED, 20, 3);
    hpt_optimizer_t *b1 = s_driven (space, HPT_ALGORITHM_RANDOM_SEARCH, 10, 1);
    hpt_optimizer_t *a2 = s_driven (space, HPT_ALGORITHM_UNSPECIFIED, 26, 4);
    hpt_optimizer_t *sources[] = {a1, b1, a2, a1};
    const char *jobs[] = {"a", "b", "a", "a"};
    hpt_suggester_t *suggester = hpt_suggester_new ();
    assert_null (hpt_suggester_recv (suggester)); //  nothing asked: no wait
    for (size_t i = 0; i < 4; i++) {
        hpt_suggest_request_t *request = s_request (sources[i], jobs[i], 10 + i, 1 + i);
        assert_int_equal (hpt_suggester_ask (suggester, &request), 0);
        assert_null (request);
    }
    for (size_t i = 0; i < 4; i++) {
        hpt_suggest_answer_t *answer = s_recv (suggester);
        assert_non_null (answer);
        hpt_suggest_request_t *request = s_request (sources[i], jobs[i], 10 + i, 1 + i);
        hpt_suggest_answer_t *expected = hpt_suggest_compute (request);
        s_same_answer (answer, expected);
        assert_int_equal (answer->count, 1 + i);
        hpt_suggest_answer_destroy (&answer);
        hpt_suggest_answer_destroy (&expected);
        hpt_suggest_request_destroy (&request);
    }
    hpt_suggester_destroy (&suggester);
    assert_null (suggester);
    hpt_optimizer_destroy (&a1);
    hpt_optimizer_destroy (&b1);
    hpt_optimizer_destroy (&a2);
    hpt_space_destroy (&space);
}

//  The actor counts the jobs whose optimizer it holds; a forgotten job's
//  is dropped (a job it does not hold is no error), and asking for it
//  again answers as before, from a new optimizer.
static void
test_forget_drops_a_model (void **state)
{
    hpt_space_t *space = hpt_space_new (s_params, S_DIM);
    hpt_optimizer_t *opt = s_driven (space, HPT_ALGORITHM_UNSPECIFIED, 20, 3);
    hpt_suggester_t *suggester = hpt_suggester_new ();
    assert_int_equal (hpt_suggester_models (suggester), 0);
    const char *jobs[] = {"a", "b", "c", "a"};
    for (size_t i = 0; i < 4; i++) {
        if (i == 2) {
            hpt_suggester_forget (suggester, "a");
            hpt_suggester_forget (suggester, "never-asked");
        }
        hpt_suggest_request_t *request = s_request (opt, jobs[i], i + 1, 2);
        assert_int_equal (hpt_suggester_ask (suggester, &request), 0);
        hpt_suggest_answer_t *answer = s_recv (suggester);
        assert_non_null (answer);
        //  a; a, b; b, c (a forgotten); b, c, a again.
        static const size_t held[] = {1, 2, 2, 3};
        assert_int_equal (hpt_suggester_models (suggester), held[i]);
        request = s_request (opt, jobs[i], i + 1, 2);
        hpt_suggest_answer_t *expected = hpt_suggest_compute (request);
        s_same_answer (answer, expected);
        hpt_suggest_answer_destroy (&answer);
        hpt_suggest_answer_destroy (&expected);
        hpt_suggest_request_destroy (&request);
    }
    hpt_suggester_destroy (&suggester);
    hpt_optimizer_destroy (&opt);
    hpt_space_destroy (&space);
}

//  Destroying the actor with requests queued and answers unread frees
//  them all (ASan's leak check in the sanitizer run).
static void
test_destroy_with_work_queued (void **state)
{
    hpt_space_t *space = hpt_space_new (s_params, S_DIM);
    hpt_optimizer_t *opt = s_driven (space, HPT_ALGORITHM_UNSPECIFIED, 30, 5);
    hpt_suggester_t *suggester = hpt_suggester_new ();
    for (size_t i = 0; i < 6; i++) {
        hpt_suggest_request_t *request = s_request (opt, i % 2 ? "x" : "y", i + 1, 3);
        assert_int_equal (hpt_suggester_ask (suggester, &request), 0);
    }
    hpt_suggester_destroy (&suggester);
    hpt_optimizer_destroy (&opt);
    hpt_space_destroy (&space);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_snapshot_suggests_as_its_optimizer),
        cmocka_unit_test (test_set_history_checks_settings),
        cmocka_unit_test (test_actor_answers_as_compute),
        cmocka_unit_test (test_forget_drops_a_model),
        cmocka_unit_test (test_destroy_with_work_queued),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
