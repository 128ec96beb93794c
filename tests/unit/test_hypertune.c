/*  test_hypertune -- the metric file reader against a simulated
    cloudml-hypertune writer (whole-file rewrite, last 100 reports kept),
    half-written files, garbage, value spellings and oversized files.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "hpt_hypertune.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_KEEP 100

//  A writer that behaves like cloudml-hypertune: a queue of the last 100
//  reports, the whole queue rewritten on each report.
typedef struct {
    char path[512];          //  the metric file
    char lines[S_KEEP][256]; //  ring of serialized reports
    size_t count;            //  reports made so far
} s_writer_t;

static void
s_writer_init (s_writer_t *writer, const char *dir)
{
    memset (writer, 0, sizeof (*writer));
    snprintf (writer->path, sizeof (writer->path), "%s/metrics", dir);
}

//  Serializes the queue into text (static buffer); drop_tail cuts that many
//  bytes off the end, as a reader would see a rewrite in progress.
static const char *
s_writer_text (s_writer_t *writer, size_t drop_tail)
{
    static char text[S_KEEP * 256 + 1];
    size_t first = writer->count > S_KEEP ? writer->count - S_KEEP : 0;
    size_t size = 0;
    for (size_t i = first; i < writer->count; i++)
        size +=
            (size_t)snprintf (text + size, sizeof (text) - size, "%s\n", writer->lines[i % S_KEEP]);
    text[size > drop_tail ? size - drop_tail : 0] = 0;
    return text;
}

static void
s_write_file (const char *path, const char *text)
{
    FILE *file = fopen (path, "w");
    assert_non_null (file);
    fputs (text, file);
    fclose (file);
}

static void
s_report (s_writer_t *writer, const char *tag, double value, long step)
{
    //  The same member order and spellings as the package's json.dumps
    //  with sort_keys: strings for value and step.
    snprintf (writer->lines[writer->count % S_KEEP], 256,
              "{\"%s\": \"%.6g\", \"checkpoint_path\": \"\", \"global_step\": \"%ld\", "
              "\"timestamp\": %.6f, \"trial\": \"7\"}",
              tag, value, step, 1700000000.0 + (double)writer->count * 0.001);
    writer->count++;
    s_write_file (writer->path, s_writer_text (writer, 0));
}

static char s_dir[256];

static int
s_setup (void **state)
{
    snprintf (s_dir, sizeof (s_dir), "/tmp/hpt-test-hypertune-XXXXXX");
    assert_non_null (mkdtemp (s_dir));
    return 0;
}

static int
s_teardown (void **state)
{
    char command[512];
    snprintf (command, sizeof (command), "rm -rf '%s'", s_dir);
    assert_int_equal (system (command), 0);
    return 0;
}

static void
test_rewrite_last_100 (void **state)
{
    s_writer_t writer;
    s_writer_init (&writer, s_dir);
    hpt_hypertune_t *reader = hpt_hypertune_new (writer.path);
    assert_non_null (reader);
    const hpt_hypertune_point_t *points;
    assert_int_equal (hpt_hypertune_poll (reader, &points, false), 0);

    //  Polls at irregular intervals (1..13 reports apart, always fewer than
    //  100): every report comes back exactly once, in order.
    long expected = 0;
    for (long step = 1; step <= 450; step++) {
        s_report (&writer, "accuracy", (double)step / 1000.0, step);
        if (step % 13 == 0 || step % 7 == 0 || step == 450) {
            int count = hpt_hypertune_poll (reader, &points, false);
            assert_true (count > 0);
            for (int i = 0; i < count; i++) {
                expected++;
                assert_string_equal (points[i].tag, "accuracy");
                assert_int_equal (points[i].step, expected);
                assert_true (points[i].value > expected / 1000.0 - 1e-9 &&
                             points[i].value < expected / 1000.0 + 1e-9);
                assert_true (points[i].time >= 1.7e9);
            }
            //  Polling again right away finds nothing new.
            assert_int_equal (hpt_hypertune_poll (reader, &points, false), 0);
        }
    }
    assert_int_equal (expected, 450);
    assert_int_equal (hpt_hypertune_bad_lines (reader), 0);
    hpt_hypertune_destroy (&reader);
    assert_null (reader);
}

static void
test_half_written (void **state)
{
    s_writer_t writer;
    s_writer_init (&writer, s_dir);
    hpt_hypertune_t *reader = hpt_hypertune_new (writer.path);
    const hpt_hypertune_point_t *points;
    s_report (&writer, "loss", 0.5, 10);
    s_report (&writer, "loss", 0.4, 20);
    assert_int_equal (hpt_hypertune_poll (reader, &points, false), 2);

    //  A rewrite caught half-way: the file holds a prefix of the new
    //  contents, ending inside the new report, then the empty file of the
    //  truncation. Nothing is returned twice, nothing half-read.
    s_report (&writer, "loss", 0.3, 30);
    s_write_file (writer.path, s_writer_text (&writer, 20));
    assert_int_equal (hpt_hypertune_poll (reader, &points, false), 0);
    s_write_file (writer.path, "");
    assert_int_equal (hpt_hypertune_poll (reader, &points, false), 0);
    s_write_file (writer.path, s_writer_text (&writer, 0));
    assert_int_equal (hpt_hypertune_poll (reader, &points, false), 1);
    assert_int_equal (points[0].step, 30);

    //  A complete last line without its newline waits for the newline, but
    //  is taken at exit.
    s_report (&writer, "loss", 0.2, 40);
    s_write_file (writer.path, s_writer_text (&writer, 1));
    assert_int_equal (hpt_hypertune_poll (reader, &points, false), 0);
    assert_int_equal (hpt_hypertune_poll (reader, &points, true), 1);
    assert_int_equal (points[0].step, 40);
    assert_int_equal (hpt_hypertune_poll (reader, &points, true), 0);
    assert_int_equal (hpt_hypertune_bad_lines (reader), 0);
    hpt_hypertune_destroy (&reader);
}

static void
test_garbage_and_spellings (void **state)
{
    char path[512];
    snprintf (path, sizeof (path), "%s/mixed", s_dir);
    hpt_hypertune_t *reader = hpt_hypertune_new (path);
    const hpt_hypertune_point_t *points;
    const char *text =
        "garbage\n"
        "[1, 2]\n"
        "{\"accuracy\": \"0.5\"}\n"                                //  no timestamp
        "{\"timestamp\": 5, \"accuracy\": \"nan\", \"loss\": 2}\n" //  non-finite value
        "\n"
        "{\"timestamp\": \"6.5\", \"accuracy\": 0.75, \"loss\": \"1e-3\", \"model\": \"cnn\", "
        "\"trial\": \"7\", \"checkpoint_path\": \"/x\"}\n"
        "{\"timestamp\": 7, \"accuracy\": \" 0.8 \", \"global_step\": 300}\n"
        "{\"timestamp\": 8, \"accuracy\": 0.9, \"global_step\": \"abc\"}\n";
    s_write_file (path, text);
    int count = hpt_hypertune_poll (reader, &points, false);
    assert_int_equal (count, 5);
    //  The line with a NaN keeps its finite point and is counted bad.
    assert_string_equal (points[0].tag, "loss");
    assert_true (points[0].value == 2.0);
    assert_int_equal (points[0].step, 1);
    //  No global_step: the report's ordinal.
    assert_string_equal (points[1].tag, "accuracy");
    assert_true (points[1].value == 0.75);
    assert_int_equal (points[1].step, 2);
    assert_true (points[1].time == 6.5);
    assert_string_equal (points[2].tag, "loss");
    assert_true (points[2].value == 1e-3);
    assert_int_equal (points[3].step, 300);
    assert_true (points[3].value == 0.8);
    //  A step that is not a number: the ordinal too.
    assert_string_equal (points[4].tag, "accuracy");
    assert_int_equal (points[4].step, 4);
    assert_int_equal (hpt_hypertune_bad_lines (reader), 4);
    //  Read again (same contents, new inode): nothing new, bad lines not
    //  counted twice.
    s_write_file (path, text);
    assert_int_equal (hpt_hypertune_poll (reader, &points, true), 0);
    assert_int_equal (hpt_hypertune_bad_lines (reader), 4);
    hpt_hypertune_destroy (&reader);
}

static void
test_same_size_rewrite (void **state)
{
    char path[512];
    snprintf (path, sizeof (path), "%s/same", s_dir);
    hpt_hypertune_t *reader = hpt_hypertune_new (path);
    const hpt_hypertune_point_t *points;
    s_write_file (path, "{\"timestamp\": 1, \"m\": \"0.1\"}\n");
    assert_int_equal (hpt_hypertune_poll (reader, &points, false), 1);
    //  Same size, written at once (likely the same mtime tick).
    s_write_file (path, "{\"timestamp\": 2, \"m\": \"0.2\"}\n");
    assert_int_equal (hpt_hypertune_poll (reader, &points, false), 1);
    assert_true (points[0].value == 0.2);
    hpt_hypertune_destroy (&reader);
}

static void
test_odd_step_strings (void **state)
{
    char path[512];
    snprintf (path, sizeof (path), "%s/steps", s_dir);
    hpt_hypertune_t *reader = hpt_hypertune_new (path);
    const hpt_hypertune_point_t *points;
    //  Long non-ASCII steps sharing a long prefix, same timestamp and value:
    //  still two reports, each once.
    const char *text = "{\"timestamp\": 1, \"m\": 1, \"global_step\": "
                       "\"Ã©Ã©Ã©Ã©Ã©Ã©Ã©Ã©Ã©"
                       "Ã©Ã©Ã©Ã©Ã©Ã©Ã©Ã©Ã©"
                       "Ã©Ã©Ã©Ã©Ã©Ã©Ã©Ã©A\"}\n"
                       "{\"timestamp\": 1, \"m\": 1, \"global_step\": "
                       "\"Ã©Ã©Ã©Ã©Ã©Ã©Ã©Ã©Ã©"
                       "Ã©Ã©Ã©Ã©Ã©Ã©Ã©Ã©Ã©"
                       "Ã©Ã©Ã©Ã©Ã©Ã©Ã©Ã©B\"}\n";
    s_write_file (path, text);
    assert_int_equal (hpt_hypertune_poll (reader, &points, false), 2);
    assert_int_equal (points[0].step, 1);
    assert_int_equal (points[1].step, 2);
    s_write_file (path, text);
    assert_int_equal (hpt_hypertune_poll (reader, &points, true), 0);
    hpt_hypertune_destroy (&reader);
}

static void
test_huge_file (void **state)
{
    char path[512];
    snprintf (path, sizeof (path), "%s/huge", s_dir);
    FILE *file = fopen (path, "w");
    assert_non_null (file);
    //  About 10 MiB of reports: only the tail (4 MiB) is read.
    long lines = 0;
    for (long written = 0; written < 10L * 1024 * 1024; lines++)
        written += fprintf (file, "{\"timestamp\": %ld, \"acc\": \"0.%06ld\"}\n", lines, lines);
    fclose (file);
    hpt_hypertune_t *reader = hpt_hypertune_new (path);
    const hpt_hypertune_point_t *points;
    int count = hpt_hypertune_poll (reader, &points, false);
    assert_true (count > 50000 && count < lines / 2);
    assert_true (points[count - 1].time == (double)(lines - 1));
    assert_int_equal (hpt_hypertune_bad_lines (reader), 0);
    assert_int_equal (hpt_hypertune_poll (reader, &points, true), 0);
    hpt_hypertune_destroy (&reader);

    //  One 5 MiB line with no newline: bad at exit, never a crash.
    file = fopen (path, "w");
    fputs ("{\"timestamp\": 1, \"x\": \"", file);
    for (int i = 0; i < 5 * 1024 * 1024; i++)
        fputc ('a', file);
    fclose (file);
    reader = hpt_hypertune_new (path);
    assert_int_equal (hpt_hypertune_poll (reader, &points, false), 0);
    assert_int_equal (hpt_hypertune_poll (reader, &points, true), 0);
    assert_int_equal (hpt_hypertune_bad_lines (reader), 0);
    //  A long complete line (over 64 KiB) is bad.
    file = fopen (path, "w");
    fputs ("{\"timestamp\": 1, \"x\": 1, \"pad\": \"", file);
    for (int i = 0; i < 100 * 1024; i++)
        fputc ('a', file);
    fputs ("\"}\n", file);
    fclose (file);
    assert_int_equal (hpt_hypertune_poll (reader, &points, false), 0);
    assert_int_equal (hpt_hypertune_bad_lines (reader), 1);
    hpt_hypertune_destroy (&reader);
}

static void
test_missing_and_not_a_file (void **state)
{
    char path[512];
    snprintf (path, sizeof (path), "%s/absent", s_dir);
    hpt_hypertune_t *reader = hpt_hypertune_new (path);
    const hpt_hypertune_point_t *points;
    assert_int_equal (hpt_hypertune_poll (reader, &points, false), 0);
    assert_int_equal (mkdir (path, 0700), 0);
    assert_int_equal (hpt_hypertune_poll (reader, &points, false), -1);
    assert_int_equal (errno, EINVAL);
    assert_int_equal (rmdir (path), 0);
    hpt_hypertune_destroy (&reader);
    assert_null (hpt_hypertune_new (NULL));
    assert_null (hpt_hypertune_new (""));
    hpt_hypertune_destroy (&reader); //  twice is harmless
}

//  The trainer owns the directory: a link it puts there is not read
//  through, and with an owner set a file of anyone else's is not read.
static void
test_links_and_owners (void **state)
{
    s_writer_t writer;
    s_writer_init (&writer, s_dir);
    char target[512];
    snprintf (target, sizeof (target), "%s/secret", s_dir);
    s_write_file (target, "{\"timestamp\": 1, \"secret\": 42}\n");
    assert_int_equal (symlink (target, writer.path), 0);
    hpt_hypertune_t *reader = hpt_hypertune_new (writer.path);
    const hpt_hypertune_point_t *points;
    assert_int_equal (hpt_hypertune_poll (reader, &points, true), -1);
    assert_int_equal (errno, ELOOP);
    assert_int_equal (unlink (writer.path), 0);
    s_report (&writer, "loss", 0.5, 1);
    hpt_hypertune_set_owner (reader, geteuid () + 1);
    assert_int_equal (hpt_hypertune_poll (reader, &points, true), -1);
    assert_int_equal (errno, EPERM);
    hpt_hypertune_set_owner (reader, geteuid ());
    assert_int_equal (hpt_hypertune_poll (reader, &points, true), 1);
    assert_string_equal (points[0].tag, "loss");
    hpt_hypertune_destroy (&reader);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_rewrite_last_100, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_half_written, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_garbage_and_spellings, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_same_size_rewrite, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_odd_step_strings, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_huge_file, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_missing_and_not_a_file, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_links_and_owners, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
