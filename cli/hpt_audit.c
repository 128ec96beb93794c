/*  hpt audit -- the master's audit trail, for admins

        audit list [--after ID] [--limit N]
            GET /v1/audit?after=ID&pageSize=P -> {entries: [{id, time, user, method,
                                                  route, target, status}], next}

    The master answers a page at a time (at most 1000 entries, oldest
    first) and `next` is the id to ask after for the following page; an
    empty or short page is the end. The CLI follows pages until it has N
    entries or the trail ends, and prints one table, so that the widths
    fit every row. A cursor that does not move is an error, not a loop.

    A listing cut by --limit says on stderr how to continue from where it
    stopped (--after LAST), since ids are the trail's own order.
*/
#include "hpt_cli.h"
#include "hpt_alloc.h"
#include "hpt_client.h"
#include "hpt_format.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

//  The master's largest page.
#define S_PAGE_MAX 1000

//  A decimal integer in [min, 10^18) from a flag; false when it is not one.
static bool
s_number (const char *text, long long min, long long *out)
{
    size_t len = strlen (text);
    if (len == 0 || len > 18 || strspn (text, "0123456789") != len) return false;
    *out = strtoll (text, NULL, 10);
    return *out >= min;
}

//  Adds one entry to the table.
static void
s_add_entry (hpt_format_table_t *table, json_t *entry)
{
    char text[7][256];
    const char *keys[] = {"id", "time", "user", "method", "route", "target", "status"};
    const char *cells[7];
    for (int k = 0; k < 7; k++)
        cells[k] =
            k == 1
                ? hpt_format_time_ms (json_object_get (entry, keys[k]), text[k], sizeof (text[k]))
                : hpt_format_cell (json_object_get (entry, keys[k]), text[k], sizeof (text[k]));
    hpt_format_table_add (table, cells);
}

//  Fetches pages after *after into table until limit entries (limit < 0:
//  no limit) or the end. Returns 0 with *after the last id read and
//  *count the entries added, or 1 after printing an error.
static int
s_fetch (hpt_client_t *client, hpt_format_table_t *table, long long limit, long long *after,
         long long *count)
{
    while (limit < 0 || *count < limit) {
        long long page = limit < 0 || limit - *count > S_PAGE_MAX ? S_PAGE_MAX : limit - *count;
        char path[96];
        snprintf (path, sizeof (path), "/v1/audit?after=%lld&pageSize=%lld", *after, page);
        json_t *reply = NULL;
        if (hpt_client_call (client, "GET", path, NULL, false, &reply) != HPT_CLIENT_OK) return 1;
        json_t *entries = json_object_get (reply, "entries");
        json_t *next = json_object_get (reply, "next");
        size_t size = json_array_size (entries);
        int rc = -1;
        if (!json_is_array (entries) || !json_is_integer (next)) {
            hpt_client_error (client, "the master's audit answer lacks entries or next");
            rc = 1;
        } else if (size > 0 && json_integer_value (next) <= *after) {
            hpt_client_error (client, "the master's audit cursor did not advance");
            rc = 1;
        } else {
            size_t i;
            json_t *entry;
            json_array_foreach (entries, i, entry)
                s_add_entry (table, entry);
            *count += (long long)size;
            if (size > 0) *after = json_integer_value (next);
            if (size < (size_t)page) rc = 0; //  the end of the trail
        }
        json_decref (reply);
        if (rc >= 0) return rc;
    }
    return 0;
}

static int
s_list (hpt_cli_context_t *context, int argc, char *argv[])
{
    const char *after_text = NULL, *limit_text = NULL;
    hpt_cli_option_t options[] = {
        {"--after", &after_text, NULL}, {"--limit", &limit_text, NULL}, {NULL, NULL, NULL}};
    hpt_cli_args_t args = {.command = "audit list", .options = options, .positional_max = 0};
    int parsed = hpt_cli_parse (context, &args, argc, argv);
    if (parsed >= 0) return parsed;
    long long after = 0, limit = -1, count = 0;
    if (after_text && !s_number (after_text, 0, &after)) {
        fprintf (stderr, "hpt audit list: --after must be an entry id (0 or more), not '%s'\n",
                 after_text);
        return 2;
    }
    if (limit_text && !s_number (limit_text, 1, &limit)) {
        fprintf (stderr,
                 "hpt audit list: --limit must be a number of entries (1 or more), "
                 "not '%s'\n",
                 limit_text);
        return 2;
    }
    hpt_client_t *client = hpt_client_new (context, "hpt.audit.list");
    if (!client) return 1;
    const char *headings[] = {"ID", "TIME", "USER", "METHOD", "ROUTE", "TARGET", "STATUS"};
    hpt_format_table_t *table = hpt_format_table_new (headings, 7);
    int rc = s_fetch (client, table, limit, &after, &count);
    if (rc == 0 && count == 0)
        fprintf (stderr, "Listed 0 items.\n");
    else if (rc == 0)
        hpt_format_table_print (table, stdout);
    if (rc == 0 && limit >= 0 && count == limit)
        fprintf (stderr, "Listed the first %lld; for later entries: hpt audit list --after %lld\n",
                 count, after);
    hpt_format_table_destroy (&table);
    hpt_client_destroy (&client);
    return rc;
}

int
hpt_cli_audit (hpt_cli_context_t *context, int argc, char *argv[])
{
    if (argc < 1 || strcmp (argv[0], "--help") == 0 || strcmp (argv[0], "-h") == 0) {
        hpt_cli_usage ("audit", argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    if (strcmp (argv[0], "list") == 0) return s_list (context, argc - 1, argv + 1);
    fprintf (stderr, "hpt audit: unknown command '%s' (see hpt audit --help)\n", argv[0]);
    return 2;
}
