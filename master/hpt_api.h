/*  hpt_api -- the master's HTTP front: libmicrohttpd in its own thread,
    forwarding every request to the core loop over inproc ZeroMQ

    The API holds no state. It checks what HTTP can check (method, body
    size), turns each request into a ZeroMQ message, waits for the core's
    answer and writes it back. Everything the REST API means (routes, job
    JSON, errors) is the core's business; the core never sees HTTP.

    Frame contract (the core implements the other side)
    ---------------------------------------------------
    The core binds a ROUTER socket on core_endpoint (e.g.
    "inproc://hpt-api") in its zloop. The API connects one REQ socket from
    its thread, so one request is in flight at a time.

    Request, API -> core, as the ROUTER receives it:
        [routing id] [empty delimiter] [method] [path] [query] [body] [authorization]
        [client] [host] [origin] [content type] [session] [if none match]
      method         "GET", "POST" or "DELETE" (nothing else reaches the core)
      path           the URL path, percent-decoded, e.g.
                     "/v1/projects/p/jobs/j:cancel"; never empty
      query          the query arguments as key=value pairs joined by '&',
                     each key and value percent-encoded again so that the
                     frame is unambiguous (a value may contain '&' or '=');
                     empty when there are none
      body           the request body as sent (at most HPT_API_MAX_BODY
                     bytes; may be empty; not NUL-terminated on the wire)
      authorization  the Authorization header's value, empty when absent
                     (for API tokens)
      client         who is asking: "unix" (the local socket), "loopback", or
                     "remote ADDRESS"
      host, origin, content type
                     those headers' values, empty when absent (the core's
                     browser protections)
      session        the web console's session cookie (HPT_API_SESSION_COOKIE),
                     empty when absent
      if none match  the If-None-Match header, empty when absent

    Reply, core -> API, as the ROUTER sends it:
        [routing id] [empty delimiter] [status] [content type] [body] [headers]
      status         the HTTP status as decimal text, "100" to "599"
      content type   e.g. "application/json"; empty means application/json
      body           the response body (may be empty; none is sent with 304)
      headers        optional: more response headers, "Name: value" lines
                     joined by '\n' (Set-Cookie, ETag, ...), at most 4 KiB

    The core should use hpt_api_request_recv and hpt_api_reply below and
    never build or parse these frames itself. The core must answer every
    request exactly once and soon: the API waits HPT_API_TIMEOUT_MS (10 s by
    default), then answers 503 UNAVAILABLE itself and drops its socket, so a
    late reply is discarded by ZeroMQ. A reply that breaks the contract
    becomes 500 INTERNAL.

    The web console's files (hpt_console.h: "/" and "/console/...") are
    answered by the API thread itself, for GET, without the core.

    Errors the API answers without asking the core, all in Google's error
    shape (see hpt_api_error_json): 501 for methods other than GET, POST,
    PATCH and DELETE, 413 for a body over HPT_API_MAX_BODY,
    503 when the core does not answer in time, 500 for a malformed reply.
*/
#ifndef HPT_API_H_INCLUDED
#define HPT_API_H_INCLUDED

#include "hpt_error.h"
#include "hpt_master_metrics.h"
#include <czmq.h>
#include <jansson.h>
#include <stdint.h>

//  Largest request body accepted (1 MiB); larger is 413.
#define HPT_API_MAX_BODY (1024 * 1024)

//  The web console's session cookie (hpt_session.h).
#define HPT_API_SESSION_COOKIE "hpt_session"

//  Default time the API waits for the core's reply.
#define HPT_API_TIMEOUT_MS 10000

typedef struct _hpt_api_t hpt_api_t;
typedef struct _hpt_api_request_t hpt_api_request_t;

//  How the server is started, beyond where it listens. Every member may be
//  left zero (NULL options mean all zero).
typedef struct {
    //  HTTPS: the server's certificate (chain) and key as PEM text, both
    //  or neither (checked beforehand: hpt_tls_pair_load). The server
    //  keeps its own copies. Only TLS 1.2 and 1.3 are offered.
    const char *tls_cert_pem;
    const char *tls_key_pem;
    hpt_master_metrics_t *metrics; //  counts the requests answered (borrowed), or NULL
} hpt_api_options_t;

//  Starts the HTTP server on listen, "HOST:PORT" with HOST an IPv4
//  address, a bracketed IPv6 address ("[::1]:7470") or a name that
//  resolves locally; an empty HOST means 127.0.0.1. PORT 0 picks a free
//  port (see hpt_api_port). Or "unix:PATH": plain HTTP on a Unix socket
//  made at PATH, mode 0660 (a stale one is replaced, a live one refused;
//  removed on destroy). Requests go to core_endpoint, where the core
//  binds (or will bind) its ROUTER. options (borrowed, may be NULL) add
//  HTTPS. On failure returns NULL with error set: HPT_E_INVALID for a
//  malformed listen address, no core endpoint or half a TLS pair,
//  HPT_E_UNAVAILABLE when the address cannot be listened on (in use, not
//  this machine's), the resolver cannot answer now or the TLS pair is
//  refused.
hpt_api_t *hpt_api_new (const char *listen, const char *core_endpoint,
                        const hpt_api_options_t *options, hpt_error_t *error);

//  Stops the server (waits for its thread) and nulls the pointer.
void hpt_api_destroy (hpt_api_t **self_p);

//  The TCP port the server listens on.
uint16_t hpt_api_port (hpt_api_t *self);

//  Sets how long the API waits for the core's reply (milliseconds, > 0).
//  Takes effect from the next request; safe to call from any thread.
void hpt_api_set_timeout (hpt_api_t *self, int timeout_ms);

//  ------------------------------------------------- for the core's side

//  Receives one request from the core's ROUTER. Returns NULL when the
//  message breaks the contract (it is consumed and dropped: a REQ peer
//  then times out) or on interrupt. The caller owns the request and
//  destroys it with hpt_api_request_destroy.
hpt_api_request_t *hpt_api_request_recv (zsock_t *router);

//  Destroys a request and nulls the pointer.
void hpt_api_request_destroy (hpt_api_request_t **self_p);

//  The routing id to answer to (borrowed; valid as long as the request).
zframe_t *hpt_api_request_routing_id (hpt_api_request_t *self);

//  "GET", "POST" or "DELETE" (borrowed).
const char *hpt_api_request_method (hpt_api_request_t *self);

//  The URL path (borrowed).
const char *hpt_api_request_path (hpt_api_request_t *self);

//  The decoded value of query argument key, the first when repeated;
//  NULL when absent, "" for "?key" or "?key=" (borrowed).
const char *hpt_api_request_param (hpt_api_request_t *self, const char *key);

//  The body, NUL-terminated for convenience (borrowed); it may contain
//  NUL bytes, so hpt_api_request_body_size gives its length.
const char *hpt_api_request_body (hpt_api_request_t *self);

size_t hpt_api_request_body_size (hpt_api_request_t *self);

//  The Authorization header, "" when absent (borrowed).
const char *hpt_api_request_authorization (hpt_api_request_t *self);

//  Who is asking: "unix", "loopback" or "remote ADDRESS" (borrowed).
const char *hpt_api_request_client (hpt_api_request_t *self);

//  The Host, Origin and Content-Type headers, "" when absent (borrowed).
const char *hpt_api_request_host (hpt_api_request_t *self);
const char *hpt_api_request_origin (hpt_api_request_t *self);
const char *hpt_api_request_content_type (hpt_api_request_t *self);

//  The console's session cookie and the If-None-Match header, "" when
//  absent (borrowed).
const char *hpt_api_request_session (hpt_api_request_t *self);
const char *hpt_api_request_if_none_match (hpt_api_request_t *self);

//  Sends a reply to the request from routing_id (borrowed, not consumed).
//  content_type NULL means application/json; body NULL means empty.
//  Returns 0, or -1 when the status is outside 100..599 or sending fails.
int hpt_api_reply (zsock_t *router, zframe_t *routing_id, int status, const char *content_type,
                   const char *body);

//  The same with more headers (NULL or "" for none): "Name: value" lines
//  joined by '\n'; a line with a control character or a name that is not
//  a token makes the API answer 500 instead.
int hpt_api_reply_with (zsock_t *router, zframe_t *routing_id, int status, const char *content_type,
                        const char *body, const char *headers);

//  Google's error shape as a fresh string the caller frees:
//  {"error": {"code": 404, "message": "...", "status": "NOT_FOUND",
//  "details": [...]}}. The status name follows the HTTP code: 400
//  INVALID_ARGUMENT, 401 UNAUTHENTICATED, 403 PERMISSION_DENIED, 404
//  NOT_FOUND, 405 UNIMPLEMENTED, 409 ALREADY_EXISTS, 413
//  INVALID_ARGUMENT, 429 RESOURCE_EXHAUSTED, 500 INTERNAL, 501
//  UNIMPLEMENTED, 503 UNAVAILABLE, 504 DEADLINE_EXCEEDED, other codes
//  UNKNOWN. details (borrowed, may be NULL) is an array, or one object
//  that becomes a one-element array; "details" is left out when NULL.
char *hpt_api_error_json (int http_status, const char *message, json_t *details);

//  As hpt_api_error_json with an explicit status name, for the codes that
//  share an HTTP status (e.g. 400 FAILED_PRECONDITION, 409 ABORTED).
char *hpt_api_error_json_status (int http_status, const char *status_name, const char *message,
                                 json_t *details);

#endif
