/*  Unit tests for hpt_page: page sizes as Google's lists read them, and
    page tokens that round-trip their position exactly and refuse
    anything else (another list's token, an altered one, a wrong shape).
*/
#include "hpt_base64.h"
#include "hpt_page.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static void
test_page_size (void **state)
{
    hpt_error_t error;
    size_t size = 0;
    const char *defaults[] = {NULL, "", "0", "000"};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal (hpt_page_size (defaults[i], "pageSize", 20, 1000, &size, &error), 0);
        assert_int_equal (size, 20);
    }
    assert_int_equal (hpt_page_size ("7", "pageSize", 20, 1000, &size, &error), 0);
    assert_int_equal (size, 7);
    assert_int_equal (hpt_page_size ("1000", "pageSize", 20, 1000, &size, &error), 0);
    assert_int_equal (size, 1000);
    //  More is capped, however much more.
    const char *big[] = {"1001", "999999999999999999999999999999"};
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal (hpt_page_size (big[i], "pageSize", 20, 1000, &size, &error), 0);
        assert_int_equal (size, 1000);
    }
    const char *bad[] = {"-1", "abc", "1.5", " 5", "5 ", "+5", "0x10", "1e3"};
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++) {
        hpt_error_clear (&error);
        assert_int_equal (hpt_page_size (bad[i], "pageSize", 20, 1000, &size, &error), -1);
        assert_int_equal (error.code, HPT_E_INVALID);
        assert_non_null (strstr (error.message, "pageSize"));
    }
}

static void
test_tokens_round_trip (void **state)
{
    hpt_error_t error;
    json_t *position =
        json_pack ("[s, i, n, f, s, f]", "loss/1 &=?", 42, 1700000000.123456789, "NaN", 0.1 + 0.2);
    char *token = hpt_page_token ("metrics", position);
    //  Query-string safe as it is.
    assert_int_equal (strspn (token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                     "0123456789-_"),
                      strlen (token));
    json_t *back = NULL;
    assert_int_equal (hpt_page_position (token, "metrics", "siSnvn", &back, &error), 0);
    assert_true (json_equal (back, position));
    //  Doubles come back bit for bit.
    assert_true (json_real_value (json_array_get (back, 3)) == 1700000000.123456789);
    assert_true (json_real_value (json_array_get (back, 5)) == 0.1 + 0.2);
    json_decref (back);
    json_decref (position);
    free (token);

    //  No token: the first page.
    assert_int_equal (hpt_page_position (NULL, "jobs", "i", &back, &error), 0);
    assert_null (back);
    assert_int_equal (hpt_page_position ("", "jobs", "i", &back, &error), 0);
    assert_null (back);
}

static void
s_assert_refused (const char *token, const char *kind, const char *shape)
{
    hpt_error_t error;
    json_t *position = (json_t *)1;
    hpt_error_clear (&error);
    assert_int_equal (hpt_page_position (token, kind, shape, &position, &error), -1);
    assert_int_equal (error.code, HPT_E_INVALID);
    assert_non_null (strstr (error.message, "pageToken"));
    assert_null (position);
}

static void
test_tokens_refuse_what_they_did_not_write (void **state)
{
    json_t *seq = json_pack ("[i]", 7);
    char *jobs = hpt_page_token ("jobs", seq);
    //  Another list's token.
    s_assert_refused (jobs, "nodes", "i");
    //  The wrong shape for this list.
    s_assert_refused (jobs, "jobs", "s");
    s_assert_refused (jobs, "jobs", "ii");
    //  Altered: not base64url, not canonical, not JSON, not an array.
    s_assert_refused ("!!!", "jobs", "i");
    char *altered = strdup (jobs);
    altered[strlen (altered) - 1] ^= 1;
    s_assert_refused (altered, "jobs", "i");
    const char *texts[] = {"[\"jobs\", 7", "{\"jobs\": 7}", "[\"jobs\", 7.5]", "[7, \"jobs\"]",
                           "[\"metrics\", \"x\"]"};
    for (size_t i = 0; i < sizeof (texts) / sizeof (texts[0]); i++) {
        char *token = hpt_base64_encode (texts[i], strlen (texts[i]), true);
        s_assert_refused (token, "jobs", "i");
        s_assert_refused (token, "metrics", "v");
        free (token);
    }
    free (altered);
    free (jobs);
    json_decref (seq);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_page_size),
        cmocka_unit_test (test_tokens_round_trip),
        cmocka_unit_test (test_tokens_refuse_what_they_did_not_write),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
