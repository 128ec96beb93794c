/*  Unit tests for hpt_textcache: a text is returned only for its key and
    version, a new version replaces the old, the byte budget drops the
    least recently used texts first, and forget drops one version's.
*/
#include "hpt_textcache.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

//  A fresh text of size bytes of c.
static char *
s_text (char c, size_t size)
{
    char *text = malloc (size + 1);
    memset (text, c, size);
    text[size] = 0;
    return text;
}

static void
test_key_and_version_must_match (void **state)
{
    hpt_textcache_t *cache = hpt_textcache_new (1000);
    assert_null (hpt_textcache_get (cache, "a", 1));
    hpt_textcache_put (cache, "a", 7, s_text ('x', 10));
    assert_string_equal (hpt_textcache_get (cache, "a", 7), "xxxxxxxxxx");
    assert_null (hpt_textcache_get (cache, "a", 8));
    assert_null (hpt_textcache_get (cache, "a", 6));
    assert_null (hpt_textcache_get (cache, "b", 7));
    //  A new version replaces the old one's text.
    hpt_textcache_put (cache, "a", 8, s_text ('y', 20));
    assert_null (hpt_textcache_get (cache, "a", 7));
    assert_string_equal (hpt_textcache_get (cache, "a", 8), "yyyyyyyyyyyyyyyyyyyy");
    assert_int_equal (hpt_textcache_count (cache), 1);
    assert_int_equal (hpt_textcache_bytes (cache), 20);
    hpt_textcache_destroy (&cache);
    assert_null (cache);
}

static void
test_budget_drops_least_recently_used (void **state)
{
    hpt_textcache_t *cache = hpt_textcache_new (300);
    hpt_textcache_put (cache, "a", 1, s_text ('a', 100));
    hpt_textcache_put (cache, "b", 1, s_text ('b', 100));
    hpt_textcache_put (cache, "c", 1, s_text ('c', 100));
    assert_int_equal (hpt_textcache_bytes (cache), 300);
    //  "a" is used, so "b" is the least recently used when "d" comes.
    assert_non_null (hpt_textcache_get (cache, "a", 1));
    hpt_textcache_put (cache, "d", 1, s_text ('d', 100));
    assert_null (hpt_textcache_get (cache, "b", 1));
    assert_non_null (hpt_textcache_get (cache, "a", 1));
    assert_non_null (hpt_textcache_get (cache, "c", 1));
    assert_non_null (hpt_textcache_get (cache, "d", 1));
    assert_int_equal (hpt_textcache_bytes (cache), 300);
    //  A big one drops as many as it takes, never itself.
    hpt_textcache_put (cache, "e", 1, s_text ('e', 250));
    assert_int_equal (hpt_textcache_count (cache), 1);
    assert_non_null (hpt_textcache_get (cache, "e", 1));
    //  One larger than the budget is not kept, and drops nothing else
    //  but the key's old text.
    hpt_textcache_put (cache, "f", 1, s_text ('f', 30));
    hpt_textcache_put (cache, "f", 2, s_text ('f', 301));
    assert_null (hpt_textcache_get (cache, "f", 2));
    assert_null (hpt_textcache_get (cache, "f", 1));
    assert_int_equal (hpt_textcache_count (cache), 1);
    assert_int_equal (hpt_textcache_bytes (cache), 250);
    hpt_textcache_destroy (&cache);
}

static void
test_forget_drops_one_version (void **state)
{
    hpt_textcache_t *cache = hpt_textcache_new (1000);
    //  A job's two renderings (with and without env values) share its
    //  version; another job has another.
    hpt_textcache_put (cache, "a", 5, s_text ('a', 10));
    hpt_textcache_put (cache, "b", 6, s_text ('b', 20));
    hpt_textcache_put (cache, "a\n<redacted>", 5, s_text ('r', 30));
    hpt_textcache_forget (cache, 5);
    assert_null (hpt_textcache_get (cache, "a", 5));
    assert_null (hpt_textcache_get (cache, "a\n<redacted>", 5));
    assert_non_null (hpt_textcache_get (cache, "b", 6));
    assert_int_equal (hpt_textcache_count (cache), 1);
    assert_int_equal (hpt_textcache_bytes (cache), 20);
    hpt_textcache_forget (cache, 6);
    assert_int_equal (hpt_textcache_count (cache), 0);
    assert_int_equal (hpt_textcache_bytes (cache), 0);
    hpt_textcache_destroy (&cache);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_key_and_version_must_match),
        cmocka_unit_test (test_budget_drops_least_recently_used),
        cmocka_unit_test (test_forget_drops_one_version),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
