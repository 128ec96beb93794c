/*  hpt_client -- one REST conversation with the hpt master (libcurl)

    The CLI's only way to the master. A client is made for one command
    ("hpt.jobs.submit") and one master URL; each call sends a request with
    an optional JSON body and hands back the JSON answer. Everything that
    can go wrong on the way (master unreachable, timeouts, an answer too
    large, an answer that is not JSON, an error in Google's shape) is
    printed on stderr in gcloud's form, so commands only decide what to do
    next:

        ERROR: (hpt.jobs.submit) INVALID_ARGUMENT: the job spec is invalid
          /trainingInput/hyperparameters/maxTrials: must be at least 1

    Limits: connect timeout 5 s, total 30 s per request, answers up to
    HPT_CLIENT_MAX_ANSWER bytes.

    The master is an http:// or https:// URL, or its Unix socket
    (master.apiSocket) as unix:///PATH or unix:PATH, spoken to in plain
    HTTP as http://localhost. The token, when there is one, goes in an
    `Authorization: Bearer` header of every request, never in a URL, and
    is never printed. Messages that people act on say where the URL or the
    token came from (a flag, the environment, the config file or the
    default: hpt_settings), so they know what to change:

        ERROR: cannot reach the hpt master at http://head:7460: ...
          http://head:7460 came from HPT_MASTER: it must be the address of the
          master's REST API (master.api, ...), not its agents endpoint (master.agents)

    An https:// master is verified (its certificate chain and that it is
    for the URL's host) against the system's CAs, or against only the CA
    file the client is given (hpt --ca-cert, HPT_CA_CERT). A failed
    verification is never retried and says what failed and what to do:

        ERROR: (hpt.jobs.list) cannot verify the hpt master at https://...:
          SSL certificate problem: unable to get local issuer certificate
          its certificate is not signed by a CA this client trusts (the
          system's CAs): give --ca-cert FILE (or HPT_CA_CERT) with the CA
          that signed it, e.g. DIR/ca.pem from hptmaster certgen
*/
#ifndef HPT_CLIENT_H_INCLUDED
#define HPT_CLIENT_H_INCLUDED

#include "hpt_cli.h"
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define HPT_CLIENT_MAX_ANSWER (64u * 1024 * 1024)

typedef struct _hpt_client_t hpt_client_t;

typedef enum {
    HPT_CLIENT_OK = 0,      //  2xx with a JSON answer
    HPT_CLIENT_UNREACHABLE, //  no HTTP answer at all (refused, timeout, DNS)
    HPT_CLIENT_FAILED,      //  the master answered with an error or garbage
} hpt_client_result_t;

//  Creates a client for the master of context (its URL, e.g.
//  http://127.0.0.1:7470, a trailing slash ignored; its CA file for an
//  https:// master, NULL or "" for the system's CAs; its token, NULL for
//  none; and where they came from) on behalf of command (used in
//  messages, e.g. "hpt.jobs.submit"). Everything is copied. Returns NULL
//  (message printed) when the URL is not one hpt can use or libcurl
//  cannot be set up. The caller owns the client.
hpt_client_t *hpt_client_new (const hpt_cli_context_t *context, const char *command);

//  Whether url is a master URL hpt can use: http://..., https://...,
//  unix:///PATH or unix:PATH. When not, writes why (for people) into why.
bool hpt_client_url_ok (const char *url, char *why, size_t size);

//  Destroys the client and nulls the pointer.
void hpt_client_destroy (hpt_client_t **self_p);

//  Sends method ("GET", "POST") to base_url + path. path must already be
//  escaped (see hpt_client_escape). body (borrowed) is sent as compact
//  JSON; NULL sends no body. On HPT_CLIENT_OK *reply is the answer (the
//  caller owns it; an empty answer reads as {}). On any other result
//  *reply is NULL and the error has been printed, unless quiet is true
//  for HPT_CLIENT_UNREACHABLE (callers that retry print it themselves).
hpt_client_result_t hpt_client_call (hpt_client_t *self, const char *method, const char *path,
                                     json_t *body, bool quiet, json_t **reply);

//  GETs every page of a Google-style list (docs/interfaces.md, "Paging"):
//  path (escaped, with or without a query) is asked again with
//  pageToken=nextPageToken until an answer has none, or until limit items
//  were collected (0: no limit). page_size, when > 0, is sent as
//  pageSize. Each answer's key member (absent: no items) must be an
//  array. On HPT_CLIENT_OK *items is every item in order, at most limit
//  (the caller owns it); otherwise *items is NULL and the error has been
//  printed.
hpt_client_result_t hpt_client_list (hpt_client_t *self, const char *path, const char *key,
                                     long page_size, long limit, json_t **items);

//  The last transport error text with what to do about it when hpt knows
//  (for callers that retry quietly); never NULL, borrowed.
const char *hpt_client_last_error (hpt_client_t *self);

//  Prints the "cannot reach the hpt master" error of the last call, with
//  where the URL came from and what it must be, as a call that is not
//  quiet does; for callers that retried quietly and now give up.
void hpt_client_report_unreachable (hpt_client_t *self);

//  The master's base URL as used in requests; borrowed.
const char *hpt_client_url (hpt_client_t *self);

//  Percent-encodes text for use as one path segment or query value. The
//  caller frees the result; NULL only when libcurl runs out of memory.
char *hpt_client_escape (hpt_client_t *self, const char *text);

//  Prints "ERROR: (command) text" on stderr, for commands that find a
//  problem in an answer the client accepted (a missing field).
void hpt_client_error (hpt_client_t *self, const char *text);

#endif
