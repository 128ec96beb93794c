/*  Unit tests for hpt_base64: RFC 4648's test vectors in both alphabets,
    round trips of every length and byte, and the refusal of anything
    that is not canonical (page tokens a client altered must not decode
    to something else).
*/
#include "hpt_base64.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static void
s_assert_encodes (const char *data, bool url, const char *want)
{
    char *text = hpt_base64_encode (data, strlen (data), url);
    assert_string_equal (text, want);
    size_t size = 0;
    unsigned char *back = hpt_base64_decode (text, url, &size);
    assert_non_null (back);
    assert_int_equal (size, strlen (data));
    assert_memory_equal (back, data, size);
    assert_int_equal (back[size], 0);
    free (back);
    free (text);
}

static void
test_rfc4648_vectors (void **state)
{
    const char *data[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *padded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    const char *bare[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        s_assert_encodes (data[i], false, padded[i]);
        s_assert_encodes (data[i], true, bare[i]);
    }
}

static void
test_alphabets_differ_in_62_and_63 (void **state)
{
    const unsigned char bytes[] = {0xfb, 0xff, 0xbf};
    char *standard = hpt_base64_encode (bytes, 3, false);
    char *url = hpt_base64_encode (bytes, 3, true);
    assert_string_equal (standard, "+/+/");
    assert_string_equal (url, "-_-_");
    size_t size;
    assert_null (hpt_base64_decode (standard, true, &size));
    assert_null (hpt_base64_decode (url, false, &size));
    free (standard);
    free (url);
}

static void
test_round_trip_every_length (void **state)
{
    unsigned char bytes[300];
    for (size_t i = 0; i < sizeof (bytes); i++)
        bytes[i] = (unsigned char)(i * 37 + 11);
    for (int url = 0; url < 2; url++)
        for (size_t n = 0; n <= sizeof (bytes); n += 1) {
            char *text = hpt_base64_encode (bytes, n, url);
            size_t size = 0;
            unsigned char *back = hpt_base64_decode (text, url, &size);
            assert_non_null (back);
            assert_int_equal (size, n);
            assert_memory_equal (back, bytes, n);
            free (back);
            free (text);
        }
}

static void
test_refuses_what_is_not_canonical (void **state)
{
    size_t size;
    const char *bad_padded[] = {
        "Zg=", "Zg", "Z===", "Zh==", "Zm9=", "Zm 9v", "Zm9v\n", "====", "Zg==Zg==", "Zm9vYmFy="};
    for (size_t i = 0; i < sizeof (bad_padded) / sizeof (bad_padded[0]); i++)
        assert_null (hpt_base64_decode (bad_padded[i], false, &size));
    //  "Zh" would decode to 'f' too if unused bits were ignored.
    const char *bad_url[] = {"Z", "Zh", "Zm9", "Zg==", "Zm9v!", "Zm+v", "abcde"};
    for (size_t i = 0; i < sizeof (bad_url) / sizeof (bad_url[0]); i++)
        assert_null (hpt_base64_decode (bad_url[i], true, &size));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_rfc4648_vectors),
        cmocka_unit_test (test_alphabets_differ_in_62_and_63),
        cmocka_unit_test (test_round_trip_every_length),
        cmocka_unit_test (test_refuses_what_is_not_canonical),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
