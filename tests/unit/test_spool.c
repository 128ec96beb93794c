/*  Unit tests for the agent's spool: append, ack, replay after a restart,
    torn last line. */
#include "hpt_spool.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

static void
test_append_ack_replay (void **state)
{
    char dir[] = "/tmp/hpt-spool-XXXXXX";
    assert_non_null (mkdtemp (dir));
    hpt_error_t error;
    hpt_spool_t *spool = hpt_spool_new (dir, &error);
    assert_non_null (spool);
    assert_int_equal (hpt_spool_append (spool, "METRICS", "{\"a\": 1}"), 1);
    assert_int_equal (hpt_spool_append (spool, "TASK_EXITED", "{\"b\": 2}"), 2);
    assert_int_equal (hpt_spool_append (spool, "LOGS", "line\nwith newline"), 3);
    hpt_spool_ack (spool, 1);
    assert_int_equal (hpt_spool_size (spool), 2);
    assert_int_equal (hpt_spool_event (spool, 0)->seq, 2);
    hpt_spool_destroy (&spool);
    //  An agent restart replays what was not acknowledged, seqs go on.
    spool = hpt_spool_new (dir, &error);
    assert_int_equal (hpt_spool_size (spool), 2);
    assert_string_equal (hpt_spool_event (spool, 0)->kind, "TASK_EXITED");
    assert_string_equal (hpt_spool_event (spool, 1)->body, "line\nwith newline");
    assert_int_equal (hpt_spool_acked (spool), 1);
    assert_int_equal (hpt_spool_append (spool, "HEARTBEAT", "{}"), 4);
    hpt_spool_ack (spool, 4);
    assert_int_equal (hpt_spool_size (spool), 0);
    hpt_spool_destroy (&spool);
    spool = hpt_spool_new (dir, &error);
    assert_int_equal (hpt_spool_size (spool), 0);
    assert_int_equal (hpt_spool_append (spool, "X", "{}"), 5);
    hpt_spool_destroy (&spool);
    //  A torn last line (killed mid-write) is ignored.
    char path[256];
    snprintf (path, sizeof (path), "%s/spool.jsonl", dir);
    FILE *file = fopen (path, "a");
    fputs ("{\"seq\": 6, \"kind\": \"Y\", \"bo", file);
    fclose (file);
    spool = hpt_spool_new (dir, &error);
    assert_int_equal (hpt_spool_size (spool), 1);
    assert_int_equal (hpt_spool_event (spool, 0)->seq, 5);
    hpt_spool_destroy (&spool);
    char cmd[300];
    snprintf (cmd, sizeof (cmd), "rm -rf %s", dir);
    assert_int_equal (system (cmd), 0);
}

static void
test_many_events_compact (void **state)
{
    char dir[] = "/tmp/hpt-spool-XXXXXX";
    assert_non_null (mkdtemp (dir));
    hpt_spool_t *spool = hpt_spool_new (dir, NULL);
    for (int i = 1; i <= 5000; i++)
        hpt_spool_append (spool, "METRICS", "{\"points\": []}");
    hpt_spool_ack (spool, 4990);
    assert_int_equal (hpt_spool_size (spool), 10);
    hpt_spool_destroy (&spool);
    spool = hpt_spool_new (dir, NULL);
    assert_int_equal (hpt_spool_size (spool), 10);
    assert_int_equal (hpt_spool_event (spool, 0)->seq, 4991);
    hpt_spool_destroy (&spool);
    char cmd[300];
    snprintf (cmd, sizeof (cmd), "rm -rf %s", dir);
    assert_int_equal (system (cmd), 0);
}

static long
s_file_size (const char *dir, const char *name)
{
    char path[256];
    snprintf (path, sizeof (path), "%s/%s", dir, name);
    FILE *file = fopen (path, "r");
    if (!file) return -1;
    fseek (file, 0, SEEK_END);
    long size = ftell (file);
    fclose (file);
    return size;
}

static void
test_steady_acks_keep_the_files_small (void **state)
{
    //  The common case: every event is acknowledged soon after it is
    //  appended. The event file must stay bounded and the seq file must be
    //  rewritten in place at a fixed width.
    char dir[] = "/tmp/hpt-spool-XXXXXX";
    assert_non_null (mkdtemp (dir));
    hpt_spool_t *spool = hpt_spool_new (dir, NULL);
    long largest = 0;
    for (int i = 1; i <= 5000; i++) {
        int64_t seq = hpt_spool_append (spool, "TASK_EXITED", "{\"code\": 0}");
        assert_int_equal (seq, i);
        hpt_spool_ack (spool, seq);
        long size = s_file_size (dir, "spool.jsonl");
        if (size > largest) largest = size;
        assert_int_equal (s_file_size (dir, "spool.seq"), 21);
    }
    //  1024 short lines at most between emptyings.
    assert_true (largest > 0 && largest < 1024 * 64);
    hpt_spool_append (spool, "LOGS", "not acknowledged");
    hpt_spool_destroy (&spool);
    //  Acknowledged lines still in the file are not replayed.
    spool = hpt_spool_new (dir, NULL);
    assert_int_equal (hpt_spool_acked (spool), 5000);
    assert_int_equal (hpt_spool_size (spool), 1);
    assert_string_equal (hpt_spool_event (spool, 0)->body, "not acknowledged");
    assert_int_equal (hpt_spool_append (spool, "X", "{}"), 5002);
    hpt_spool_destroy (&spool);
    //  A seq file in the earlier free-width format ("12\n") still loads,
    //  and the first ack overwrites all of it.
    char path[256];
    snprintf (path, sizeof (path), "%s/spool.seq", dir);
    FILE *file = fopen (path, "w");
    fputs ("5001\n", file);
    fclose (file);
    spool = hpt_spool_new (dir, NULL);
    assert_int_equal (hpt_spool_acked (spool), 5001);
    assert_int_equal (hpt_spool_size (spool), 1);
    hpt_spool_ack (spool, 5002);
    hpt_spool_destroy (&spool);
    spool = hpt_spool_new (dir, NULL);
    assert_int_equal (hpt_spool_acked (spool), 5002);
    assert_int_equal (hpt_spool_size (spool), 0);
    hpt_spool_destroy (&spool);
    char cmd[300];
    snprintf (cmd, sizeof (cmd), "rm -rf %s", dir);
    assert_int_equal (system (cmd), 0);
}

//  An acknowledgement above the last seq assigned is refused and changes
//  nothing: one ACK of 2^53 - 1 used to be written as the mark, after which
//  every event got a seq the codec cannot encode. A mark like that already
//  on disk reads as 0 (HELLO repairs it with the master).
static void
test_ack_beyond_the_last_seq_is_refused (void **state)
{
    char dir[] = "/tmp/hpt-spool-XXXXXX";
    assert_non_null (mkdtemp (dir));
    hpt_error_t error;
    hpt_spool_t *spool = hpt_spool_new (dir, &error);
    assert_non_null (spool);
    assert_int_equal (hpt_spool_ack (spool, 1), -1); //  nothing assigned yet
    assert_int_equal (hpt_spool_acked (spool), 0);
    assert_int_equal (hpt_spool_append (spool, "METRICS", "{}"), 1);
    assert_int_equal (hpt_spool_append (spool, "METRICS", "{}"), 2);
    assert_int_equal (hpt_spool_ack (spool, HPT_SPOOL_SEQ_MAX), -1);
    assert_int_equal (hpt_spool_ack (spool, 3), -1);
    assert_int_equal (hpt_spool_acked (spool), 0);
    assert_int_equal (hpt_spool_size (spool), 2);
    assert_int_equal (hpt_spool_ack (spool, 2), 0);
    assert_int_equal (hpt_spool_ack (spool, 1), 0); //  an old mark: nothing to do
    assert_int_equal (hpt_spool_acked (spool), 2);
    hpt_spool_destroy (&spool);
    spool = hpt_spool_new (dir, &error);
    assert_int_equal (hpt_spool_acked (spool), 2);
    assert_int_equal (hpt_spool_append (spool, "LOGS", "{}"), 3);
    hpt_spool_destroy (&spool);
    //  A corrupt mark left by an older agent.
    char path[256];
    snprintf (path, sizeof (path), "%s/spool.seq", dir);
    FILE *file = fopen (path, "w");
    fprintf (file, "%020lld\n", (long long)HPT_SPOOL_SEQ_MAX);
    fclose (file);
    spool = hpt_spool_new (dir, &error);
    assert_int_equal (hpt_spool_acked (spool), 0);
    assert_int_equal (hpt_spool_size (spool), 1); //  seq 3, never acknowledged
    assert_int_equal (hpt_spool_append (spool, "LOGS", "{}"), 4);
    hpt_spool_destroy (&spool);
    char cmd[300];
    snprintf (cmd, sizeof (cmd), "rm -rf %s", dir);
    assert_int_equal (system (cmd), 0);
}

//  A spool that cannot be opened says which file and why.
static void
test_unopenable_spool (void **state)
{
    hpt_error_t error;
    assert_null (hpt_spool_new ("/nonexistent/hpt-spool", &error));
    assert_int_equal (error.code, HPT_E_UNAVAILABLE);
    assert_non_null (strstr (error.message, "/nonexistent/hpt-spool/spool."));
    assert_non_null (strstr (error.message, "No such file"));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_append_ack_replay),
        cmocka_unit_test (test_many_events_compact),
        cmocka_unit_test (test_steady_acks_keep_the_files_small),
        cmocka_unit_test (test_unopenable_spool),
        cmocka_unit_test (test_ack_beyond_the_last_seq_is_refused),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
