/*  hpt_console -- the web console's files, built into hptmaster

    The console (console/ in the repository: HTML, CSS, plain JavaScript
    modules and the vendored charting library with its license) is
    embedded at build time by console/embed.cmake, so the master serves it
    with nothing installed beside it and nothing fetched at run time (an
    air-gapped cluster gets the same console). The API thread answers
    GET / (the console's page) and GET /console/FILE from this table
    without asking the core: the files are the same for every caller and
    hold no data; everything the console shows comes from the REST API,
    with the caller's rights.

    Invariants: the table is constant; each file has its SHA-256 (first
    128 bits, quoted) as ETag, so a browser revalidates it with one
    request and gets 304; text files have a gzip'ed copy.
*/
#ifndef HPT_CONSOLE_H_INCLUDED
#define HPT_CONSOLE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    const char *path;          //  "/console/js/app.js"
    const char *type;          //  Content-Type
    const unsigned char *data; //  the file's bytes
    size_t size;               //  how many
    const unsigned char *gzip; //  the same gzip'ed, NULL for binary files
    size_t gzip_size;          //  its size
    const char *etag;          //  "\"HEX\"", quoted as HTTP wants it
} hpt_console_asset_t;

//  The generated table (hpt_console_assets.c in the build tree).
extern const hpt_console_asset_t hpt_console_assets[];
extern const size_t hpt_console_asset_count;

//  Whether path is the console's to answer: "/" or under "/console/".
bool hpt_console_serves (const char *path);

//  The file for path ("/" is the console's index.html), or NULL.
const hpt_console_asset_t *hpt_console_asset (const char *path);

//  The response headers of asset besides its Content-Type: ETag,
//  revalidation, no sniffing, Vary; for the page also the
//  Content-Security-Policy (scripts and data only from the master, no
//  framing) and no referrer. "Name: value" lines joined by '\n', a fresh
//  string the caller frees.
char *hpt_console_headers (const hpt_console_asset_t *asset);

#endif
