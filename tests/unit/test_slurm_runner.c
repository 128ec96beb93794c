/*  Unit tests for hpt_slurm_runner: a command's exit status, output and
    standard input; the time limit kills the command's whole process
    group; output is bounded; a command that cannot start says why;
    requests sent while a command runs are answered in order; destroying
    the actor ends a command still running.
*/
#include "hpt_slurm_runner.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

typedef struct {
    char *tag, *status, *out, *err;
} s_reply_t;

static void
s_send (zactor_t *runner, const char *tag, int64_t timeout_ms, const char *input,
        const char *const *argv)
{
    zmsg_t *msg = hpt_slurm_runner_request (tag, timeout_ms, input, argv);
    assert_int_equal (zmsg_send (&msg, runner), 0);
}

static s_reply_t
s_recv (zactor_t *runner)
{
    s_reply_t r = {0};
    assert_int_equal (zstr_recvx (runner, &r.tag, &r.status, &r.out, &r.err, NULL), 4);
    return r;
}

static void
s_free (s_reply_t *r)
{
    zstr_free (&r->tag);
    zstr_free (&r->status);
    zstr_free (&r->out);
    zstr_free (&r->err);
}

static void
test_status_output_and_stdin (void **state)
{
    zactor_t *runner = zactor_new (hpt_slurm_runner_actor, NULL);
    const char *argv[] = {"sh", "-c", "cat; echo oops >&2; exit 3", NULL};
    s_send (runner, "submit x", 5000, "#!/bin/bash\necho hi\n", argv);
    s_reply_t r = s_recv (runner);
    assert_string_equal (r.tag, "submit x");
    assert_string_equal (r.status, "3");
    assert_string_equal (r.out, "#!/bin/bash\necho hi\n");
    assert_string_equal (r.err, "oops\n");
    s_free (&r);
    const char *missing[] = {"/nonexistent/sbatch", NULL};
    s_send (runner, "t", 5000, NULL, missing);
    r = s_recv (runner);
    assert_string_equal (r.status, "error");
    assert_non_null (strstr (r.err, "cannot run /nonexistent/sbatch"));
    s_free (&r);
    zactor_destroy (&runner);
}

static void
test_time_limit_kills_the_group (void **state)
{
    zactor_t *runner = zactor_new (hpt_slurm_runner_actor, NULL);
    //  A child that keeps the pipes open after its parent is killed would
    //  hang a runner that waited for end of file.
    const char *argv[] = {"sh", "-c", "sleep 30 & sleep 30", NULL};
    int64_t start = zclock_mono ();
    s_send (runner, "slow", 300, NULL, argv);
    s_reply_t r = s_recv (runner);
    assert_string_equal (r.status, "timeout");
    assert_true (zclock_mono () - start < 5000);
    s_free (&r);
    //  Its output closed but it does not exit: the limit still holds.
    const char *closer[] = {"sh", "-c", "exec >&- 2>&-; sleep 30", NULL};
    start = zclock_mono ();
    s_send (runner, "closer", 300, NULL, closer);
    r = s_recv (runner);
    assert_string_equal (r.status, "timeout");
    assert_true (zclock_mono () - start < 5000);
    s_free (&r);
    zactor_destroy (&runner);
}

static void
test_output_is_bounded (void **state)
{
    zactor_t *runner = zactor_new (hpt_slurm_runner_actor, NULL);
    const char *argv[] = {"sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' x", NULL};
    s_send (runner, "big", 10000, NULL, argv);
    s_reply_t r = s_recv (runner);
    assert_string_equal (r.status, "0");
    assert_int_equal (strlen (r.out), HPT_SLURM_RUNNER_OUTPUT_MAX);
    s_free (&r);
    zactor_destroy (&runner);
}

static void
test_requests_queue_in_order (void **state)
{
    zactor_t *runner = zactor_new (hpt_slurm_runner_actor, NULL);
    const char *slow[] = {"sh", "-c", "sleep 0.3; echo one", NULL};
    const char *two[] = {"echo", "two", NULL};
    const char *three[] = {"echo", "three", NULL};
    s_send (runner, "1", 5000, NULL, slow);
    s_send (runner, "2", 5000, NULL, two);
    s_send (runner, "3", 5000, NULL, three);
    const char *want[][2] = {{"1", "one\n"}, {"2", "two\n"}, {"3", "three\n"}};
    for (int i = 0; i < 3; i++) {
        s_reply_t r = s_recv (runner);
        assert_string_equal (r.tag, want[i][0]);
        assert_string_equal (r.out, want[i][1]);
        s_free (&r);
    }
    //  Destroyed mid-command: it returns at once, the command killed.
    const char *hang[] = {"sleep", "30", NULL};
    s_send (runner, "hang", 60000, NULL, hang);
    zclock_sleep (100);
    int64_t start = zclock_mono ();
    zactor_destroy (&runner);
    assert_true (zclock_mono () - start < 5000);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_status_output_and_stdin),
        cmocka_unit_test (test_time_limit_kills_the_group),
        cmocka_unit_test (test_output_is_bounded),
        cmocka_unit_test (test_requests_queue_in_order),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
