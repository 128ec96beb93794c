/*  Unit tests for hpt_user: looking users up for tasks to run as, and the
    search check that tells an operator why a task user could not reach
    the agent's directories. Uses root and nobody, which every Debian has. */
#include "hpt_user.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

static void
test_lookup (void **state)
{
    hpt_error_t error;
    hpt_user_t *root = hpt_user_lookup ("root", &error);
    assert_non_null (root);
    assert_string_equal (hpt_user_name (root), "root");
    assert_int_equal (hpt_user_uid (root), 0);
    assert_int_equal (hpt_user_gid (root), 0);
    assert_string_equal (hpt_user_home (root), "/root");
    size_t count = 0;
    const gid_t *groups = hpt_user_groups (root, &count);
    assert_true (count >= 1);
    bool primary = false;
    for (size_t i = 0; i < count; i++)
        primary = primary || groups[i] == 0;
    assert_true (primary);
    assert_int_equal (hpt_user_is_self (root), geteuid () == 0 && getegid () == 0);
    hpt_user_destroy (&root);
    assert_null (root);

    assert_null (hpt_user_lookup ("hpt-no-such-user", &error));
    assert_int_equal (error.code, HPT_E_NOT_FOUND);
    assert_non_null (strstr (error.message, "no user 'hpt-no-such-user'"));
    assert_null (hpt_user_lookup ("", &error));
    assert_int_equal (error.code, HPT_E_INVALID);
}

static void
test_can_search (void **state)
{
    hpt_error_t error;
    hpt_user_t *nobody = hpt_user_lookup ("nobody", &error);
    if (!nobody) skip ();
    char dir[] = "/tmp/hpt-user-XXXXXX";
    assert_non_null (mkdtemp (dir));
    char inner[64];
    snprintf (inner, sizeof (inner), "%s/a/b", dir);
    char command[128];
    snprintf (command, sizeof (command), "mkdir -p %s", inner);
    assert_int_equal (system (command), 0);
    //  mkdtemp made it 0700: whoever nobody is not cannot enter.
    assert_int_equal (chmod (dir, 0700), 0);
    if (geteuid () != hpt_user_uid (nobody)) {
        assert_int_equal (hpt_user_can_search (nobody, inner, &error), -1);
        assert_int_equal (error.code, HPT_E_FAILED_PRECONDITION);
        char want[128];
        snprintf (want, sizeof (want), "user 'nobody' cannot enter %s (mode 0700", dir);
        if (!strstr (error.message, want)) fail_msg ("%s", error.message);
    }
    assert_int_equal (chmod (dir, 0711), 0);
    snprintf (command, sizeof (command), "chmod 0755 %s/a %s", dir, inner);
    assert_int_equal (system (command), 0);
    assert_int_equal (hpt_user_can_search (nobody, inner, &error), 0);
    snprintf (inner, sizeof (inner), "%s//a/b/", dir);
    assert_int_equal (hpt_user_can_search (nobody, inner, &error), 0);
    assert_int_equal (hpt_user_can_search (nobody, "relative", &error), -1);
    assert_int_equal (error.code, HPT_E_INVALID);
    snprintf (command, sizeof (command), "rm -rf %s", dir);
    assert_int_equal (system (command), 0);
    hpt_user_destroy (&nobody);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_lookup),
        cmocka_unit_test (test_can_search),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
