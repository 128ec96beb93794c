/*  hpt_fetch -- the agent's package fetcher for pythonModule jobs

    A job with `pythonModule` and `packageUris` runs `python3 -m MODULE`
    with its packages on PYTHONPATH. The agent asks this class for a task's
    packages and launches the task when the answer comes; the downloads run
    in a czmq actor (one background thread), so they never block the
    agent's zloop:

        hpt_fetch_t *fetch = hpt_fetch_new ("/var/lib/hpt/packages", 0, &error);
        zloop_reader (loop, hpt_fetch_socket (fetch), s_on_fetched, agent);
        hpt_fetch_request (fetch, task_id, uris, count);
        //  s_on_fetched: hpt_fetch_result_recv (fetch, &task_id, &ok,
        //  &pythonpath, &error), then launch with PYTHONPATH=pythonpath
        //  prefixed, or report the task failed with error.message.

    Requests are served one at a time in the order they came; one result
    per request. A task whose URIs all succeed gets ok and the PYTHONPATH
    entries (absolute paths, in the URIs' order, joined with ':'); the
    first URI that fails fails the task with an error naming that URI and
    the cause (curl's error text, the HTTP status, the size cap, an unpack
    failure).

    URIs: http, https and file only (file URLs name a local path, host
    empty or localhost); redirects followed (at most 5, to http/https
    only); HTTP status >= 400 fails; connect timeout 30 s, total 600 s;
    at most HPT_FETCH_MAX_BYTES per package (or the cap given to
    hpt_fetch_new). The file name (the URL path's
    last segment) says the kind: .tar.gz, .tgz and .tar are unpacked with
    /bin/tar (no -P, so absolute and `..` members are refused; no owners
    or permissions taken from the archive), .whl and .zip with
    `/usr/bin/python3 -I -m zipfile -e` (which strips absolute and `..`
    parts of member names). After unpacking, the tree is walked: a
    symbolic link that is absolute or resolves outside it, or a special
    file (device, fifo, socket), fails the package. Any other name fails
    before downloading; so does any other scheme (gs://, s3://).

    PYTHONPATH entry: for a wheel, the unpacked directory itself. For a
    tar or zip archive, when it holds exactly one top-level directory and
    that directory is not itself a Python package (no __init__.py), it is
    an sdist-style `name-1.0/` root and the entry is that directory;
    otherwise the unpacked directory itself (an archive of `trainer/`).

    One fetcher per cache directory (tmp/ is cleared when it starts).
    Nothing is evicted: the operator prunes HASH directories when needed.

    Cache layout under cache_dir (0711: task users reach their packages,
    list nothing):
        tmp/                    downloads in progress (cleared at start), 0700
        HASH/                   0711
        HASH/NAME               the package, HASH its SHA-256 in hex, 0600
        HASH/unpacked/          its contents, unpacked once; every directory
                                0755 and file 0644 (0755 if executable): the
                                agent's, readable by every task, writable by
                                none
        HASH/unpacked.done      the SHA-256 digest of the unpacked tree
                                (names, modes, contents, link targets),
                                written after a complete unpack; without it
                                the unpack is redone from scratch (so a
                                crash halfway is repaired)
        index                   lines "HASH SIZE MTIME_NS FETCHED_S URL",
                                the last line for a URL wins

    Verification (the decision): a task gets a cached package only after
    it was checked, on every reuse: NAME against the SHA-256 it is named
    by (changed: the entry is removed and the URL fetched again; if that
    fails the error says the cached copy changed), and the unpacked tree
    against its digest (changed: unpacked again from the checked file).
    That reads the package and its tree once per task start, the price of
    never handing a task a package someone changed on disk. Tasks must not
    write byte code into the tree (the agent sets PYTHONDONTWRITEBYTECODE).

    Freshness (the decision): content is identified by its hash, never by
    its URL, so a changed package is always noticed when it is downloaded
    again. An http(s) URL is downloaded again on every request, except
    when the same URL was downloaded less than HPT_FETCH_FRESH_S seconds
    ago (so a burst of trials launching together downloads once); the
    unpack is redone only when the hash is new. A file URL is reused
    without reading it while its size and modification time (to the
    nanosecond) are those recorded in the index, and copied again when
    either changed.
*/
#ifndef HPT_FETCH_H_INCLUDED
#define HPT_FETCH_H_INCLUDED

#include "hpt_error.h"
#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Largest package accepted (2 GiB).
#define HPT_FETCH_MAX_BYTES (2LL * 1024 * 1024 * 1024)
//  An http(s) URL downloaded less than this long ago is not downloaded again.
#define HPT_FETCH_FRESH_S 60
//  Most URIs in one request, and longest URL and task id accepted.
#define HPT_FETCH_MAX_URIS 64
#define HPT_FETCH_MAX_URL 4096
#define HPT_FETCH_MAX_TASK_ID 256

typedef struct _hpt_fetch_t hpt_fetch_t;

//  Creates the cache directory (and parents, mode 0711) if needed and
//  starts the fetcher's thread. cache_dir must not contain ':' (it goes
//  into PYTHONPATH). max_bytes caps one package (<= 0: HPT_FETCH_MAX_BYTES).
//  Returns NULL with *error on failure (HPT_E_INVALID for an unusable
//  path, HPT_E_UNAVAILABLE when it cannot be made or the thread started).
hpt_fetch_t *hpt_fetch_new (const char *cache_dir, int64_t max_bytes, hpt_error_t *error);

//  Stops the fetcher (a download in progress is aborted, an unpack in
//  progress killed) and nulls the pointer. Results not yet read are lost.
void hpt_fetch_destroy (hpt_fetch_t **self_p);

//  Asks for the packages of one task; task_id and uris are copied. Does not
//  wait for the fetch. count may be 0 (the result is ok with an empty
//  PYTHONPATH). Returns 0, or -1 when the arguments are invalid (NULL,
//  empty or over-long task id or URL, more than HPT_FETCH_MAX_URIS): then
//  no result will come.
int hpt_fetch_request (hpt_fetch_t *self, const char *task_id, const char *const *uris,
                       size_t count);

//  The socket the agent's zloop polls; readable when a result is ready.
//  Owned by the fetcher: read it only with hpt_fetch_result_recv.
zsock_t *hpt_fetch_socket (hpt_fetch_t *self);

//  Reads one result (blocks if none is ready): the task id, ok, and either
//  the PYTHONPATH entries joined with ':' (ok) or why the packages could
//  not be had in *error (not ok; *pythonpath NULL): HPT_E_INVALID for a
//  URL or package hpt refuses, HPT_E_NOT_FOUND for one that is not there,
//  HPT_E_UNAVAILABLE for a failing network or disk, HPT_E_ABORTED when
//  the fetcher stopped. Fresh strings the caller frees. Returns 0, or -1
//  when the socket was interrupted (outputs untouched).
int hpt_fetch_result_recv (hpt_fetch_t *self, char **task_id, bool *ok, char **pythonpath,
                           hpt_error_t *error);

#endif
