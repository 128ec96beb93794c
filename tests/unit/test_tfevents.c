/*  test_tfevents -- the event-file reader against files written by an
    independent encoder (tests/data/tfevents/make_fixtures.py: Debian's
    python3-protobuf with the TF messages declared from their published
    field numbers, and its own TFRecord framing), generated at test time:
    every scalar encoding, growing files, corrupted records, nested
    directories, rotation and replacement.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "hpt_tfevents.h"
#include "hpt_test_data.h"
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

//  Same constants as make_fixtures.py.
#define S_WALL0 1700000000.25

static char s_dir[256];        //  temp dir holding the fixtures
static char s_watch[PATH_MAX]; //  a per-test directory the reader watches

static int
s_setup_all (void **state)
{
    (void)state;
    const char *source = hpt_test_source_dir ();
    snprintf (s_dir, sizeof (s_dir), "/tmp/hpt-tfevents-XXXXXX");
    if (!mkdtemp (s_dir)) return -1;
    char command[3 * PATH_MAX];
    snprintf (command, sizeof (command),
              "/usr/bin/python3 '%s/tests/data/tfevents/make_fixtures.py' '%s/fx'", source, s_dir);
    return system (command) == 0 ? 0 : -1;
}

static int
s_teardown_all (void **state)
{
    (void)state;
    char command[PATH_MAX + 32];
    snprintf (command, sizeof (command), "rm -rf '%s'", s_dir);
    return system (command) == 0 ? 0 : -1;
}

//  Makes a fresh empty watched directory named name.
static const char *
s_fresh (const char *name)
{
    snprintf (s_watch, sizeof (s_watch), "%s/%s", s_dir, name);
    mkdir (s_watch, 0700);
    return s_watch;
}

//  Reads a fixture file; returns its bytes (caller frees) and size.
static uint8_t *
s_load (const char *name, size_t *size)
{
    char path[PATH_MAX + 64];
    snprintf (path, sizeof (path), "%s/fx/%s", s_dir, name);
    FILE *file = fopen (path, "rb");
    assert_non_null (file);
    uint8_t *data = malloc (1 << 20);
    assert_non_null (data);
    *size = fread (data, 1, 1 << 20, file);
    fclose (file);
    return data;
}

static void
s_append (const char *path, const uint8_t *data, size_t size)
{
    FILE *file = fopen (path, "ab");
    assert_non_null (file);
    assert_int_equal (fwrite (data, 1, size, file), size);
    fclose (file);
}

static hpt_tfevents_t *
s_reader (const char *dir)
{
    const char *dirs[] = {dir};
    hpt_tfevents_t *reader = hpt_tfevents_new (dirs, 1);
    assert_non_null (reader);
    return reader;
}

static const hpt_tfevents_point_t *
s_find (const hpt_tfevents_point_t *points, int count, const char *tag, int64_t step)
{
    for (int i = 0; i < count; i++)
        if (strcmp (points[i].tag, tag) == 0 && points[i].step == step) return &points[i];
    return NULL;
}

static void
s_count_sink (void *arg, const hpt_tfevents_point_t *point)
{
    (void)point;
    (*(int *)arg)++;
}

//  Keeps the last point and a count.
typedef struct {
    int count;                 //  points seen
    hpt_tfevents_point_t last; //  the last of them
} s_capture_t;

static void
s_capture_sink (void *arg, const hpt_tfevents_point_t *point)
{
    s_capture_t *capture = arg;
    capture->count++;
    capture->last = *point;
}

static void
test_crc (void **state)
{
    (void)state;
    //  CRC-32C check value of "123456789" is 0xE3069283; masked per TFRecord.
    uint32_t crc = 0xE3069283u;
    uint32_t masked = ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
    assert_int_equal (hpt_tfevents_masked_crc ((const uint8_t *)"123456789", 9), masked);
}

//  Records written by other implementations, as published in their own
//  tests: TensorFlow's event_file_loader_test (a file_version event) and
//  tensorboard_logger's serialization test (scalar "v/1" = 1.5 at step 1,
//  wall time 256.5).
static void
test_golden (void **state)
{
    (void)state;
    static const uint8_t records[] = {
        //  length 24, masked length CRC, Event{wall_time, file_version}, data CRC
        0x18, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xa3, 0x7f, 0x4b, 0x22, 0x09, 0x00, 0x00,
        0xc0, 0x25, 0xdd, 0x75, 0xd5, 0x41, 0x1a, 0x0d, 'b', 'r', 'a', 'i', 'n', '.', 'E', 'v', 'e',
        'n', 't', ':', '1', 0xec, 0xf3, 0x32, 0x8d,
        //  length 25, Event{wall_time 256.5, step 1, summary{value{tag, simple_value}}}
        0x19, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x8b, 0xf1, 0x08, 0x28, 0x09, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x08, 0x70, 0x40, 0x10, 0x01, 0x2a, 0x0c, 0x0a, 0x0a, 0x0a, 0x03, 'v',
        '/', '1', 0x15, 0x00, 0x00, 0xc0, 0x3f, 0x2c, 0xec, 0xc0, 0x87};
    hpt_tfevents_scan_t scan = {0};
    s_capture_t capture = {0};
    size_t used = hpt_tfevents_parse_buffer (&scan, records, sizeof (records), false, NULL,
                                             s_capture_sink, &capture);
    assert_int_equal (used, sizeof (records));
    assert_int_equal (scan.corrupt, 0);
    assert_int_equal (capture.count, 1);
    assert_string_equal (capture.last.tag, "v/1");
    assert_true (capture.last.value == 1.5);
    assert_int_equal (capture.last.step, 1);
    assert_true (capture.last.time == 256.5);
}

static void
test_encodings (void **state)
{
    (void)state;
    char dir[PATH_MAX + 16];
    snprintf (dir, sizeof (dir), "%s/fx/enc", s_dir);
    hpt_tfevents_t *reader = s_reader (dir);
    const hpt_tfevents_point_t *points;
    int count = hpt_tfevents_poll (reader, NULL, &points, false);
    //  7 scalar tags per step, 3 steps; non-scalars skipped.
    assert_int_equal (count, 21);
    for (int step = 1; step <= 3; step++) {
        double v = 0.1 * step;
        struct {
            const char *tag;
            double expect;
        } cases[] = {
            {"epoch_accuracy", (float)v},        {"validation/accuracy", (float)(v + 1)},
            {"training/hptuning/metric", v + 2}, {"content/float", (float)(v + 3)},
            {"content/double", v + 4},           {"unpacked/float", (float)(v + 5)},
            {"unpacked/double", v + 6},
        };
        for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
            const hpt_tfevents_point_t *point = s_find (points, count, cases[i].tag, step);
            assert_non_null (point);
            //  Exact: a float is widened, a double passes unchanged.
            assert_true (point->value == cases[i].expect);
            assert_true (point->time == S_WALL0 + step);
        }
        assert_null (s_find (points, count, "not/scalar", step));
        assert_null (s_find (points, count, "histogram", step));
        assert_null (s_find (points, count, "int/value", step));
    }
    //  Nothing new on the next poll.
    assert_int_equal (hpt_tfevents_poll (reader, NULL, &points, false), 0);
    hpt_tfevents_destroy (&reader);
    assert_null (reader);

    //  Exact tag matching, scopes included.
    reader = s_reader (dir);
    count = hpt_tfevents_poll (reader, "validation/accuracy", &points, false);
    assert_int_equal (count, 3);
    for (int i = 0; i < count; i++) {
        assert_string_equal (points[i].tag, "validation/accuracy");
        assert_int_equal (points[i].step, i + 1);
    }
    hpt_tfevents_destroy (&reader);
    reader = s_reader (dir);
    assert_int_equal (hpt_tfevents_poll (reader, "accuracy", &points, false), 0);
    hpt_tfevents_destroy (&reader);
    reader = s_reader (dir);
    assert_int_equal (hpt_tfevents_poll (reader, "training/hptuning/metric", &points, false), 3);
    assert_true (points[2].value == 0.1 * 3 + 2);
    hpt_tfevents_destroy (&reader);
}

static void
test_growing (void **state)
{
    (void)state;
    const char *dir = s_fresh ("grow");
    char path[PATH_MAX + 64];
    snprintf (path, sizeof (path), "%s/events.out.tfevents.5.host", dir);
    size_t size;
    uint8_t *data = s_load ("grow.bin", &size);
    size_t first = size / 2; //  the records are equal in size: ends mid-header of neither
    hpt_tfevents_t *reader = s_reader (dir);
    const hpt_tfevents_point_t *points;
    //  Half of record 1.
    s_append (path, data, first / 2);
    assert_int_equal (hpt_tfevents_poll (reader, NULL, &points, false), 0);
    //  Rest of record 1 and 5 bytes (a partial header) of record 2.
    s_append (path, data + first / 2, first - first / 2 + 5);
    assert_int_equal (hpt_tfevents_poll (reader, NULL, &points, false), 1);
    assert_string_equal (points[0].tag, "loss");
    assert_int_equal (points[0].step, 10);
    assert_true (points[0].value == 0.5);
    assert_true (points[0].time == S_WALL0 + 10);
    assert_int_equal (hpt_tfevents_poll (reader, NULL, &points, false), 0);
    //  All but the last byte of record 2 (its data CRC incomplete).
    s_append (path, data + first + 5, size - first - 6);
    assert_int_equal (hpt_tfevents_poll (reader, NULL, &points, false), 0);
    s_append (path, data + size - 1, 1);
    assert_int_equal (hpt_tfevents_poll (reader, NULL, &points, false), 1);
    assert_int_equal (points[0].step, 11);
    assert_true (points[0].value == 0.25);

    //  A partial record at exit is dropped: the writer is gone.
    s_append (path, data, 20);
    assert_int_equal (hpt_tfevents_poll (reader, NULL, &points, false), 0);
    assert_int_equal (hpt_tfevents_poll (reader, NULL, &points, true), 0);
    hpt_tfevents_destroy (&reader);
    free (data);
}

//  A trainer swapping an event file for a FIFO cannot block the reader
//  (and with it the agent's loop): the open waits for no writer.
static void
test_fifo_does_not_block (void **state)
{
    (void)state;
    const char *dir = s_fresh ("fifo");
    char path[PATH_MAX + 64];
    snprintf (path, sizeof (path), "%s/events.out.tfevents.7.host", dir);
    size_t size;
    uint8_t *data = s_load ("grow.bin", &size);
    hpt_tfevents_t *reader = s_reader (dir);
    const hpt_tfevents_point_t *points;
    s_append (path, data, size);
    assert_int_equal (hpt_tfevents_poll (reader, NULL, &points, false), 2);
    assert_int_equal (unlink (path), 0);
    assert_int_equal (mkfifo (path, 0600), 0);
    alarm (10); //  a blocked open fails the test instead of hanging it
    assert_int_equal (hpt_tfevents_poll (reader, NULL, &points, false), 0);
    assert_int_equal (hpt_tfevents_poll (reader, NULL, &points, true), 0);
    alarm (0);
    hpt_tfevents_destroy (&reader);
    free (data);
}

//  With an owner set, event files of anyone else's are not read (a
//  trainer could link to another user's).
static void
test_owner (void **state)
{
    (void)state;
    const char *dir = s_fresh ("owner");
    char path[PATH_MAX + 64];
    snprintf (path, sizeof (path), "%s/events.out.tfevents.8.host", dir);
    size_t size;
    uint8_t *data = s_load ("grow.bin", &size);
    s_append (path, data, size);
    hpt_tfevents_t *reader = s_reader (dir);
    const hpt_tfevents_point_t *points;
    hpt_tfevents_set_owner (reader, geteuid () + 1);
    assert_int_equal (hpt_tfevents_poll (reader, NULL, &points, true), 0);
    hpt_tfevents_destroy (&reader);
    reader = s_reader (dir);
    hpt_tfevents_set_owner (reader, geteuid ());
    assert_int_equal (hpt_tfevents_poll (reader, NULL, &points, true), 2);
    hpt_tfevents_destroy (&reader);
    free (data);
}

static void
s_check_corrupt (const char *name)
{
    char dir[PATH_MAX + 32];
    snprintf (dir, sizeof (dir), "%s/fx/%s", s_dir, name);
    hpt_tfevents_t *reader = s_reader (dir);
    const hpt_tfevents_point_t *points;
    int count = hpt_tfevents_poll (reader, "m", &points, false);
    assert_int_equal (count, 2);
    assert_int_equal (points[0].step, 1);
    assert_true (points[0].value == 0.5);
    assert_int_equal (points[1].step, 3);
    assert_true (points[1].value == 1.5);
    //  Skipped for good, however often polled, at exit too.
    assert_int_equal (hpt_tfevents_poll (reader, "m", &points, false), 0);
    assert_int_equal (hpt_tfevents_poll (reader, "m", &points, true), 0);
    hpt_tfevents_destroy (&reader);
}

static void
test_corrupt_data (void **state)
{
    (void)state;
    s_check_corrupt ("corrupt_data");
}

static void
test_corrupt_length (void **state)
{
    (void)state;
    s_check_corrupt ("corrupt_len");
}

//  A bad length seen in one poll, the rest of the file in a later one:
//  resynchronisation continues across polls and counts the damage once.
static void
test_resync_across_polls (void **state)
{
    (void)state;
    const char *dir = s_fresh ("resync");
    char path[PATH_MAX + 64];
    snprintf (path, sizeof (path), "%s/events.out.tfevents.9", dir);
    size_t size;
    uint8_t *data = s_load ("corrupt_len/events.out.tfevents.1", &size);
    size_t record = size / 3; //  three records of equal size
    hpt_tfevents_t *reader = s_reader (dir);
    const hpt_tfevents_point_t *points;
    for (size_t cut = record + 1; cut < size; cut += record / 3) {
        (void)unlink (path); //  absent the first time
        hpt_tfevents_destroy (&reader);
        reader = s_reader (dir);
        s_append (path, data, cut);
        int count = hpt_tfevents_poll (reader, "m", &points, false);
        assert_int_equal (count, 1);
        assert_int_equal (points[0].step, 1);
        s_append (path, data + cut, size - cut);
        count = hpt_tfevents_poll (reader, "m", &points, false);
        assert_int_equal (count, 1);
        assert_int_equal (points[0].step, 3);
    }
    hpt_tfevents_destroy (&reader);
    free (data);
}

//  A length above HPT_TFEVENTS_RECORD_MAX is corruption even with a valid
//  length CRC: the parser neither waits for it nor allocates it.
static void
test_oversized_length (void **state)
{
    (void)state;
    size_t size;
    uint8_t *good = s_load ("grow.bin", &size);
    uint8_t data[4096];
    assert_true (size + 16 <= sizeof (data));
    uint64_t length = (uint64_t)1 << 40;
    for (int i = 0; i < 8; i++)
        data[i] = (uint8_t)(length >> (8 * i));
    uint32_t crc = hpt_tfevents_masked_crc (data, 8);
    for (int i = 0; i < 4; i++)
        data[8 + i] = (uint8_t)(crc >> (8 * i));
    memset (data + 12, 0x11, 4);
    memcpy (data + 16, good, size);
    hpt_tfevents_scan_t scan = {0};
    int points = 0;
    size_t used =
        hpt_tfevents_parse_buffer (&scan, data, size + 16, false, "loss", s_count_sink, &points);
    assert_int_equal (points, 2);
    assert_int_equal (used, size + 16);
    assert_int_equal (scan.corrupt, 1);
    free (good);
}

//  Records larger than one read chunk, around a small one.
static void
test_big_records (void **state)
{
    (void)state;
    char dir[PATH_MAX + 32];
    snprintf (dir, sizeof (dir), "%s/fx/big", s_dir);
    hpt_tfevents_t *reader = s_reader (dir);
    const hpt_tfevents_point_t *points;
    int count = hpt_tfevents_poll (reader, "big", &points, false);
    assert_int_equal (count, 2);
    assert_int_equal (points[0].step, 7);
    assert_true (points[0].value == 7.0);
    assert_int_equal (points[1].step, 8);
    assert_true (points[1].value == 8.0);
    hpt_tfevents_destroy (&reader);
}

static void
test_nested (void **state)
{
    (void)state;
    char dir[PATH_MAX + 32];
    snprintf (dir, sizeof (dir), "%s/fx/nested", s_dir);
    const char *dirs[] = {NULL, "", dir, "/nonexistent/hpt-tfevents"};
    hpt_tfevents_t *reader = hpt_tfevents_new (dirs, 4);
    assert_non_null (reader);
    const hpt_tfevents_point_t *points;
    int count = hpt_tfevents_poll (reader, "n", &points, false);
    assert_int_equal (count, 2);
    assert_non_null (s_find (points, count, "n", 1));
    assert_true (s_find (points, count, "n", 1)->value == 1.5);
    assert_true (s_find (points, count, "n", 2)->value == 2.5);
    assert_null (s_find (points, count, "n", 3)); //  not an events.out.tfevents.* name
    hpt_tfevents_destroy (&reader);
}

//  Per-directory depth, and files older than the reader's start time.
static void
test_dir_options (void **state)
{
    (void)state;
    char dir[PATH_MAX + 32], sub[PATH_MAX + 32], path[PATH_MAX + 64];
    snprintf (dir, sizeof (dir), "%s/fx/nested", s_dir);
    snprintf (sub, sizeof (sub), "%s/fx/nested/a", s_dir);
    snprintf (path, sizeof (path), "%s/fx/nested/c/events.out.tfevents.2.host", s_dir);
    const hpt_tfevents_point_t *points;
    hpt_tfevents_t *reader = hpt_tfevents_new (NULL, 0);
    hpt_tfevents_add_dir (reader, dir, 0);
    hpt_tfevents_add_dir (reader, sub, 0);
    hpt_tfevents_add_dir (reader, NULL, 0);
    assert_int_equal (hpt_tfevents_poll (reader, NULL, &points, false), 0);
    hpt_tfevents_add_dir (reader, sub, 1); //  a/b/ is one level down
    assert_int_equal (hpt_tfevents_poll (reader, NULL, &points, false), 1);
    assert_true (points[0].value == 1.5);
    hpt_tfevents_destroy (&reader);

    //  Stale files are ignored until they are written to.
    reader = s_reader (dir);
    hpt_tfevents_set_since (reader, (double)time (NULL) + 60);
    assert_int_equal (hpt_tfevents_poll (reader, "n", &points, true), 0);
    struct timespec later[2] = {{.tv_sec = time (NULL) + 120}, {.tv_sec = time (NULL) + 120}};
    assert_int_equal (utimensat (AT_FDCWD, path, later, 0), 0);
    assert_int_equal (hpt_tfevents_poll (reader, "n", &points, true), 1);
    assert_true (points[0].value == 2.5);
    hpt_tfevents_destroy (&reader);
}

static void
test_rotation (void **state)
{
    (void)state;
    const char *dir = s_fresh ("rot");
    char sub[PATH_MAX + 16], path1[PATH_MAX + 64], path2[PATH_MAX + 64], tmp[PATH_MAX + 64];
    snprintf (sub, sizeof (sub), "%s/trial-1", dir);
    mkdir (sub, 0700);
    snprintf (path1, sizeof (path1), "%s/events.out.tfevents.1.host", sub);
    snprintf (path2, sizeof (path2), "%s/events.out.tfevents.2.host", sub);
    snprintf (tmp, sizeof (tmp), "%s/tmp", dir);
    size_t size1, size2;
    uint8_t *rot1 = s_load ("rot1.bin", &size1);
    uint8_t *rot2 = s_load ("rot2.bin", &size2);
    hpt_tfevents_t *reader = s_reader (dir);
    const hpt_tfevents_point_t *points;
    assert_int_equal (hpt_tfevents_poll (reader, "r", &points, false), 0);
    //  The file appears: found on the next walk (at most once a second).
    s_append (path1, rot1, size1);
    usleep (1100 * 1000);
    assert_int_equal (hpt_tfevents_poll (reader, "r", &points, false), 2);
    assert_int_equal (points[1].step, 2);
    //  TF rotates to a new file.
    s_append (path2, rot2, size2);
    usleep (1100 * 1000);
    assert_int_equal (hpt_tfevents_poll (reader, "r", &points, false), 1);
    assert_int_equal (points[0].step, 3);
    assert_true (points[0].value == 3.0);
    //  The first file is replaced (new inode) by a shorter one: start over.
    s_append (tmp, rot2, size2);
    assert_int_equal (rename (tmp, path1), 0);
    assert_int_equal (hpt_tfevents_poll (reader, "r", &points, false), 1);
    assert_int_equal (points[0].step, 3);
    //  Truncated in place and rewritten: start over too.
    assert_int_equal (truncate (path2, 0), 0);
    assert_int_equal (hpt_tfevents_poll (reader, "r", &points, false), 0);
    s_append (path2, rot1, size1);
    assert_int_equal (hpt_tfevents_poll (reader, "r", &points, true), 2);
    //  A deleted file is forgotten: no point, no error.
    assert_int_equal (unlink (path1), 0);
    assert_int_equal (hpt_tfevents_poll (reader, "r", &points, false), 0);
    hpt_tfevents_destroy (&reader);
    free (rot1);
    free (rot2);
}

static void
test_bad_input (void **state)
{
    (void)state;
    //  Every prefix and every single-byte corruption of a valid file parses
    //  without reading outside it (ASan/valgrind would tell) and never
    //  yields more points than the file holds.
    size_t size;
    char name[64];
    snprintf (name, sizeof (name), "enc/events.out.tfevents.1700000000.host");
    uint8_t *data = s_load (name, &size);
    for (size_t cut = 0; cut <= size; cut += 7) {
        hpt_tfevents_scan_t scan = {0};
        int points = 0;
        uint8_t *copy = malloc (cut ? cut : 1);
        memcpy (copy, data, cut);
        size_t used =
            hpt_tfevents_parse_buffer (&scan, copy, cut, false, NULL, s_count_sink, &points);
        assert_true (used <= cut);
        assert_true (points <= 21);
        free (copy);
    }
    for (size_t at = 0; at < size; at += 3) {
        hpt_tfevents_scan_t scan = {0};
        int points = 0;
        data[at] ^= 0x5a;
        size_t used =
            hpt_tfevents_parse_buffer (&scan, data, size, true, NULL, s_count_sink, &points);
        data[at] ^= 0x5a;
        assert_int_equal (used, size);
        assert_true (points <= 21);
        assert_true (scan.corrupt >= 1);
    }
    hpt_tfevents_destroy (NULL);
    assert_int_equal (hpt_tfevents_poll (NULL, NULL, NULL, false), 0);
    free (data);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_crc),
        cmocka_unit_test (test_golden),
        cmocka_unit_test (test_encodings),
        cmocka_unit_test (test_growing),
        cmocka_unit_test (test_fifo_does_not_block),
        cmocka_unit_test (test_owner),
        cmocka_unit_test (test_corrupt_data),
        cmocka_unit_test (test_corrupt_length),
        cmocka_unit_test (test_resync_across_polls),
        cmocka_unit_test (test_oversized_length),
        cmocka_unit_test (test_big_records),
        cmocka_unit_test (test_nested),
        cmocka_unit_test (test_dir_options),
        cmocka_unit_test (test_rotation),
        cmocka_unit_test (test_bad_input),
    };
    return cmocka_run_group_tests (tests, s_setup_all, s_teardown_all);
}
