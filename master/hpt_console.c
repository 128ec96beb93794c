/*  hpt_console -- serving the web console's embedded files (see
    hpt_console.h)

    Lookup is a linear scan of a few dozen paths: cheaper than the HTTP
    parsing around it. The page's Content-Security-Policy allows scripts,
    data requests, fonts and images from the master only ('self'), so a
    string from a job (a label, a trainer's log line) can never run as
    script even if the console inserted it as HTML, which it does not.
    Styles allow 'unsafe-inline' because the charting library styles its
    tooltips with inline style attributes; styles cannot run code.
*/
#include "hpt_console.h"
#include "hpt_alloc.h"
#include <string.h>

#define S_PREFIX "/console/"

#define S_PAGE_POLICY                                                                              \
    "default-src 'none'; script-src 'self'; connect-src 'self'; img-src 'self' data:; "            \
    "style-src 'self' 'unsafe-inline'; font-src 'self'; base-uri 'none'; form-action 'self'; "     \
    "frame-ancestors 'none'"

bool
hpt_console_serves (const char *path)
{
    return path && (strcmp (path, "/") == 0 || strncmp (path, S_PREFIX, strlen (S_PREFIX)) == 0);
}

const hpt_console_asset_t *
hpt_console_asset (const char *path)
{
    if (!hpt_console_serves (path)) return NULL;
    if (strcmp (path, "/") == 0) path = S_PREFIX "index.html";
    for (size_t i = 0; i < hpt_console_asset_count; i++)
        if (strcmp (hpt_console_assets[i].path, path) == 0) return &hpt_console_assets[i];
    return NULL;
}

char *
hpt_console_headers (const hpt_console_asset_t *asset)
{
    bool page = strncmp (asset->type, "text/html", 9) == 0;
    return hpt_asprintf ("ETag: %s\nCache-Control: no-cache\nVary: Accept-Encoding\n"
                         "X-Content-Type-Options: nosniff%s",
                         asset->etag,
                         page ? "\nContent-Security-Policy: " S_PAGE_POLICY
                                "\nX-Frame-Options: DENY\nReferrer-Policy: no-referrer"
                              : "");
}
