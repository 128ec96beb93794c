/*  Unit tests for hpt_fs: directory trees, and opening a path beneath a
    directory whatever symbolic links and '..' it holds (openat2, and the
    component walk used where the kernel has no openat2). */
#include "hpt_fs.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

static char s_base[64];

static int
s_setup (void **state)
{
    snprintf (s_base, sizeof (s_base), "/tmp/hpt-fs-XXXXXX");
    if (!mkdtemp (s_base)) return -1;
    char path[256];
    snprintf (path, sizeof (path), "%s/a/b", s_base);
    hpt_error_t error;
    if (hpt_mkdirs (path, 0700, &error) != 0) return -1;
    const char *links[][2] = {
        {"inside", "a/b"}, {"outside", "/etc"}, {"a/up", "../.."}, {"a/self", "../a"}};
    for (size_t i = 0; i < 4; i++) {
        snprintf (path, sizeof (path), "%s/%s", s_base, links[i][0]);
        if (symlink (links[i][1], path) != 0) return -1;
    }
    snprintf (path, sizeof (path), "%s/file", s_base);
    FILE *file = fopen (path, "w");
    if (!file) return -1;
    fclose (file);
    return 0;
}

static int
s_teardown (void **state)
{
    char command[128];
    snprintf (command, sizeof (command), "rm -rf %s", s_base);
    return system (command) == 0 ? 0 : -1;
}

//  Opens path beneath the base with both ways; returns 0 when opened, else
//  errno (each way's result in *walked and the return value).
static int
s_open (int (*open_fn) (int, const char *, int), const char *path)
{
    int base = open (s_base, O_PATH | O_DIRECTORY | O_CLOEXEC);
    assert_true (base >= 0);
    errno = 0;
    int fd = open_fn (base, path, O_PATH | O_DIRECTORY);
    int error = fd >= 0 ? 0 : errno;
    if (fd >= 0) close (fd);
    close (base);
    return error;
}

static void
test_open_beneath (void **state)
{
    //  What stays beneath opens; what leaves it, by any road, does not.
    static const char *fine[] = {"a/b", "a/./b/", ".", "a//b", "inside"};
    for (size_t i = 0; i < sizeof (fine) / sizeof (fine[0]); i++)
        if (s_open (hpt_fs_open_beneath, fine[i]) != 0) fail_msg ("%s refused", fine[i]);
    assert_int_equal (s_open (hpt_fs_open_beneath, "outside"), EXDEV);
    assert_int_equal (s_open (hpt_fs_open_beneath, "a/up"), EXDEV);
    assert_int_equal (s_open (hpt_fs_open_beneath, "../x"), EXDEV);
    assert_int_equal (s_open (hpt_fs_open_beneath, "/etc"), EXDEV);
    assert_int_equal (s_open (hpt_fs_open_beneath, "missing"), ENOENT);
    assert_int_equal (s_open (hpt_fs_open_beneath, "file/x"), ENOTDIR);
    assert_int_equal (s_open (hpt_fs_open_beneath, "file"), ENOTDIR);
}

static void
test_open_beneath_walk (void **state)
{
    //  The fallback refuses every symbolic link and every '..'.
    static const char *fine[] = {"a/b", "a/./b/", ".", "a//b"};
    for (size_t i = 0; i < sizeof (fine) / sizeof (fine[0]); i++)
        if (s_open (hpt_fs_open_beneath_walk, fine[i]) != 0) fail_msg ("%s refused", fine[i]);
    assert_int_equal (s_open (hpt_fs_open_beneath_walk, "inside"), ELOOP);
    assert_int_equal (s_open (hpt_fs_open_beneath_walk, "outside"), ELOOP);
    assert_int_equal (s_open (hpt_fs_open_beneath_walk, "a/up"), ELOOP);
    assert_int_equal (s_open (hpt_fs_open_beneath_walk, "a/self/b"), ELOOP);
    assert_int_equal (s_open (hpt_fs_open_beneath_walk, "a/../a"), EXDEV);
    assert_int_equal (s_open (hpt_fs_open_beneath_walk, "/etc"), EXDEV);
    assert_int_equal (s_open (hpt_fs_open_beneath_walk, "missing"), ENOENT);
    assert_int_equal (s_open (hpt_fs_open_beneath_walk, "file/x"), ENOTDIR);
}

static void
test_mkdirs (void **state)
{
    char path[256];
    snprintf (path, sizeof (path), "%s/x/y/z", s_base);
    hpt_error_t error;
    assert_int_equal (hpt_mkdirs (path, 0700, &error), 0);
    assert_int_equal (hpt_mkdirs (path, 0700, &error), 0);
    snprintf (path, sizeof (path), "%s/file/y", s_base);
    assert_int_equal (hpt_mkdirs (path, 0700, &error), -1);
    assert_int_equal (error.code, HPT_E_UNAVAILABLE);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_open_beneath, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_open_beneath_walk, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_mkdirs, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
