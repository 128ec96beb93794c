/*  hpt_api -- the master's HTTP front (libmicrohttpd) and its inproc link
    to the core loop

    How a request travels
    ---------------------
    libmicrohttpd runs one internal polling thread (the "API thread"); all
    callbacks below run in it. MHD calls s_handle several times per
    request:
      1. first call (no upload yet): a method other than GET, POST, PATCH
         or DELETE is refused (501 UNIMPLEMENTED, as Google's APIs answer
         a method they do not have), and so is a declared Content-Length over
         HPT_API_MAX_BODY (413). The refusal is sent at once when the
         client sent no body or waits for "100 Continue"; otherwise the
         body is read and dropped first, because a client that is still
         sending when the server answers and closes sees a reset, not the
         answer;
      2. zero or more calls with body bytes: they are appended to a buffer
         that never grows past HPT_API_MAX_BODY; the rest of a body that
         grows past it is read and dropped (MHD takes no response in the
         middle of a body), up to 64 MiB, then the connection is cut;
      3. a last call with no data: the request is forwarded.
    Forwarding uses one ZeroMQ REQ socket that the API thread creates on
    first use (ZeroMQ sockets belong to one thread; the czmq context is the
    process's, so inproc reaches the core's ROUTER). It sends the frames of
    the contract in hpt_api.h and polls for the reply in 100 ms slices, so
    that hpt_api_destroy never waits a whole timeout. If no reply comes in
    time, REQ's strict send/receive alternation makes the socket useless,
    so it is closed (linger 0) and a new one made for the next request;
    the client gets 503 UNAVAILABLE.

    Since there is one API thread and one REQ socket, requests reach the
    core one at a time: the core is single-threaded anyway, and answering
    from memory keeps each exchange in the sub-millisecond range.

    With a TLS pair in its options, MHD serves HTTPS (GnuTLS) in the same
    thread: handshakes and record encryption happen there, below
    s_handle, which sees the same requests either way.
*/
#include "hpt_api.h"
#include "hpt_alloc.h"
#include "hpt_console.h"
#include "hpt_log.h"
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netdb.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

//  Poll slice while waiting for the core, so destroy is prompt.
#define S_POLL_SLICE_MS 100

//  A too big chunked body is read to its end to answer 413, but only up to
//  this much; past it the connection is closed without an answer.
#define S_MAX_DROPPED (64u * 1024 * 1024)

//  Open connections the TCP server keeps, in all and per remote client
//  address. A client past its share is answered 429 and disconnected, so
//  one host (a runaway script, a dashboard with a connection leak) cannot
//  take every slot; the host's own tools (loopback, the Unix socket) are
//  not counted.
#define S_MAX_CONNECTIONS 512
#define S_MAX_CLIENT_CONNECTIONS 64

//  libmicrohttpd's own error lines: at most one in this time (ms).
#define S_MHD_LOG_INTERVAL_MS 10000

//  How long the API thread pauses after an accept that failed for want
//  of a file descriptor (ms).
#define S_ACCEPT_PAUSE_MS 100

struct _hpt_api_t {
    struct MHD_Daemon *daemon;     //  the HTTP server and its thread
    char *socket_path;             //  a Unix socket's path (removed on destroy), or NULL
    char *core_endpoint;           //  where the core's ROUTER is
    char *tls_cert;                //  HTTPS: the certificate PEM, NULL for plain HTTP
    char *tls_key;                 //  HTTPS: the key PEM (wiped on destroy)
    zsock_t *req;                  //  REQ to the core; API thread only, NULL until used
    zhashx_t *connections;         //  "remote ADDRESS" -> open connections; API thread only
    hpt_master_metrics_t *metrics; //  counts answered requests (borrowed), or NULL
    uint16_t port;                 //  bound TCP port
    atomic_int timeout_ms;         //  how long to wait for the core
    atomic_bool stopping;          //  set by destroy: stop waiting for the core
    int64_t mhd_logged;            //  when MHD's last line was written (mono ms); API thread
    uint64_t mhd_unlogged;         //  MHD lines left out since; API thread
};

//  One HTTP request while its body arrives.
typedef struct {
    char *body;     //  bytes received so far (malloc'd), NULL when none
    size_t size;    //  bytes in body
    bool answered;  //  a response is already queued
    int refusal;    //  501, 413 or 429 to answer once the body is drained, else 0
    size_t dropped; //  bytes of a too big body read and dropped
} s_upload_t;

struct _hpt_api_request_t {
    zframe_t *routing_id; //  the REQ peer's identity
    char *method;         //  GET, POST or DELETE
    char *path;           //  URL path
    char *body;           //  body plus a NUL
    size_t body_size;     //  body length without the NUL
    char *authorization;  //  Authorization header or ""
    char *client;         //  "loopback", "unix" or "remote ADDRESS"
    char *host;           //  Host header or ""
    char *origin;         //  Origin header or ""
    char *content_type;   //  Content-Type header or ""
    char *session;        //  the console's session cookie or ""
    char *if_none_match;  //  If-None-Match header or ""
    size_t param_count;   //  number of query arguments
    char **keys;          //  decoded keys
    char **values;        //  decoded values
};

//  ------------------------------------------------------- error shape

//  The HTTP methods the API has routes for.
static bool
s_method_served (const char *method)
{
    return streq (method, "GET") || streq (method, "POST") || streq (method, "PATCH") ||
           streq (method, "DELETE");
}

static const char *
s_status_name (int http_status)
{
    switch (http_status) {
        case 400:
        case 413:
            return "INVALID_ARGUMENT";
        case 401:
            return "UNAUTHENTICATED";
        case 403:
            return "PERMISSION_DENIED";
        case 404:
            return "NOT_FOUND";
        case 405:
        case 501:
            return "UNIMPLEMENTED";
        case 409:
            return "ALREADY_EXISTS";
        case 429:
            return "RESOURCE_EXHAUSTED";
        case 500:
            return "INTERNAL";
        case 503:
            return "UNAVAILABLE";
        case 504:
            return "DEADLINE_EXCEEDED";
        default:
            return "UNKNOWN";
    }
}

//  A JSON string of text; bytes that are not valid UTF-8 become '?', so
//  that a message quoting bad input never loses the whole error.
static json_t *
s_json_text (const char *text)
{
    json_t *string = json_string (text ? text : "");
    if (string) return string;
    char *copy = hpt_strdup (text);
    for (char *c = copy; *c; c++)
        if ((unsigned char)*c >= 0x80) *c = '?';
    string = json_string (copy);
    free (copy);
    return string;
}

char *
hpt_api_error_json_status (int http_status, const char *status_name, const char *message,
                           json_t *details)
{
    json_t *error = json_object ();
    json_object_set_new (error, "code", json_integer (http_status));
    json_object_set_new (error, "message", s_json_text (message));
    json_object_set_new (error, "status",
                         json_string (status_name ? status_name : s_status_name (http_status)));
    if (json_is_array (details))
        json_object_set (error, "details", details);
    else if (details) {
        json_t *list = json_array ();
        json_array_append (list, details);
        json_object_set_new (error, "details", list);
    }
    json_t *root = json_object ();
    json_object_set_new (root, "error", error);
    char *text = json_dumps (root, JSON_INDENT (2));
    json_decref (root);
    return text;
}

char *
hpt_api_error_json (int http_status, const char *message, json_t *details)
{
    return hpt_api_error_json_status (http_status, NULL, message, details);
}

//  --------------------------------------------------- percent encoding

static bool
s_unreserved (unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

//  Appends text percent-encoded to buffer.
static void
s_encode (zchunk_t *buffer, const char *text)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        if (s_unreserved (*c))
            zchunk_extend (buffer, c, 1);
        else {
            char escape[3] = {'%', hex[*c >> 4], hex[*c & 15]};
            zchunk_extend (buffer, escape, 3);
        }
    }
}

static int
s_hex_value (char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

//  Decodes size bytes of percent-encoded text into a fresh string; a '%'
//  not followed by two hex digits stays as it is.
static char *
s_decode (const char *text, size_t size)
{
    char *out = hpt_malloc (size + 1);
    size_t n = 0;
    for (size_t i = 0; i < size; i++) {
        int high, low;
        if (text[i] == '%' && i + 2 < size && (high = s_hex_value (text[i + 1])) >= 0 &&
            (low = s_hex_value (text[i + 2])) >= 0) {
            out[n++] = (char)(high * 16 + low);
            i += 2;
        } else
            out[n++] = text[i];
    }
    out[n] = 0;
    return out;
}

//  ------------------------------------------------- core-side helpers

static char *
s_frame_string (zframe_t *frame)
{
    //  Text frames must not hide a NUL (the core compares them as C strings).
    if (memchr (zframe_data (frame), 0, zframe_size (frame))) return NULL;
    return zframe_strdup (frame);
}

static void
s_parse_query (hpt_api_request_t *self, const char *query)
{
    size_t length = strlen (query);
    size_t capacity = 1;
    for (size_t i = 0; i < length; i++)
        capacity += query[i] == '&';
    self->keys = hpt_calloc (capacity, sizeof (char *));
    self->values = hpt_calloc (capacity, sizeof (char *));
    const char *start = query;
    while (*start) {
        const char *end = strchr (start, '&');
        if (!end) end = query + length;
        if (end > start) {
            const char *equals = memchr (start, '=', (size_t)(end - start));
            const char *key_end = equals ? equals : end;
            self->keys[self->param_count] = s_decode (start, (size_t)(key_end - start));
            self->values[self->param_count] =
                equals ? s_decode (equals + 1, (size_t)(end - equals - 1)) : hpt_strdup ("");
            self->param_count++;
        }
        start = *end ? end + 1 : end;
    }
}

hpt_api_request_t *
hpt_api_request_recv (zsock_t *router)
{
    zmsg_t *msg = zmsg_recv (router);
    if (!msg) return NULL;
    hpt_api_request_t *self = NULL;
    if (zmsg_size (msg) != 13) goto done;
    self = hpt_calloc (1, sizeof (hpt_api_request_t));
    self->routing_id = zmsg_pop (msg);
    zframe_t *delimiter = zmsg_pop (msg);
    bool valid = zframe_size (delimiter) == 0;
    zframe_destroy (&delimiter);
    zframe_t *frames[11];
    for (size_t i = 0; i < 11; i++)
        frames[i] = zmsg_pop (msg);
    self->method = s_frame_string (frames[0]);
    self->path = s_frame_string (frames[1]);
    char *query = s_frame_string (frames[2]);
    self->authorization = s_frame_string (frames[4]);
    self->client = s_frame_string (frames[5]);
    self->host = s_frame_string (frames[6]);
    self->origin = s_frame_string (frames[7]);
    self->content_type = s_frame_string (frames[8]);
    self->session = s_frame_string (frames[9]);
    self->if_none_match = s_frame_string (frames[10]);
    self->body_size = zframe_size (frames[3]);
    self->body = hpt_malloc (self->body_size + 1);
    memcpy (self->body, zframe_data (frames[3]), self->body_size);
    self->body[self->body_size] = 0;
    for (size_t i = 0; i < 11; i++)
        zframe_destroy (&frames[i]);
    valid = valid && self->method && self->path && query && self->authorization && self->client &&
            self->host && self->origin && self->content_type && self->session &&
            self->if_none_match && s_method_served (self->method) && self->path[0] == '/';
    if (valid) s_parse_query (self, query);
    free (query);
    if (!valid) hpt_api_request_destroy (&self);
done:
    zmsg_destroy (&msg);
    return self;
}

void
hpt_api_request_destroy (hpt_api_request_t **self_p)
{
    if (!self_p || !*self_p) return;
    hpt_api_request_t *self = *self_p;
    zframe_destroy (&self->routing_id);
    free (self->method);
    free (self->path);
    free (self->body);
    free (self->authorization);
    free (self->client);
    free (self->host);
    free (self->origin);
    free (self->content_type);
    free (self->session);
    free (self->if_none_match);
    for (size_t i = 0; i < self->param_count; i++) {
        free (self->keys[i]);
        free (self->values[i]);
    }
    free (self->keys);
    free (self->values);
    free (self);
    *self_p = NULL;
}

zframe_t *
hpt_api_request_routing_id (hpt_api_request_t *self)
{
    return self->routing_id;
}

const char *
hpt_api_request_method (hpt_api_request_t *self)
{
    return self->method;
}

const char *
hpt_api_request_path (hpt_api_request_t *self)
{
    return self->path;
}

const char *
hpt_api_request_param (hpt_api_request_t *self, const char *key)
{
    for (size_t i = 0; key && i < self->param_count; i++)
        if (streq (self->keys[i], key)) return self->values[i];
    return NULL;
}

const char *
hpt_api_request_body (hpt_api_request_t *self)
{
    return self->body;
}

size_t
hpt_api_request_body_size (hpt_api_request_t *self)
{
    return self->body_size;
}

const char *
hpt_api_request_authorization (hpt_api_request_t *self)
{
    return self->authorization;
}

const char *
hpt_api_request_client (hpt_api_request_t *self)
{
    return self->client;
}

const char *
hpt_api_request_host (hpt_api_request_t *self)
{
    return self->host;
}

const char *
hpt_api_request_origin (hpt_api_request_t *self)
{
    return self->origin;
}

const char *
hpt_api_request_content_type (hpt_api_request_t *self)
{
    return self->content_type;
}

const char *
hpt_api_request_session (hpt_api_request_t *self)
{
    return self->session;
}

const char *
hpt_api_request_if_none_match (hpt_api_request_t *self)
{
    return self->if_none_match;
}

int
hpt_api_reply_with (zsock_t *router, zframe_t *routing_id, int status, const char *content_type,
                    const char *body, const char *headers)
{
    if (!router || !routing_id || status < 100 || status > 599) return -1;
    zmsg_t *msg = zmsg_new ();
    zmsg_append (msg, &(zframe_t *){zframe_dup (routing_id)});
    zmsg_addmem (msg, NULL, 0);
    zmsg_addstrf (msg, "%d", status);
    zmsg_addstr (msg, content_type ? content_type : "");
    zmsg_addstr (msg, body ? body : "");
    if (headers && *headers) zmsg_addstr (msg, headers);
    return zmsg_send (&msg, router);
}

int
hpt_api_reply (zsock_t *router, zframe_t *routing_id, int status, const char *content_type,
               const char *body)
{
    return hpt_api_reply_with (router, routing_id, status, content_type, body, NULL);
}

//  ---------------------------------------------------- the API thread

//  Adds headers ("Name: value" lines joined by '\n', NULL for none) to
//  response; they were checked by s_headers_safe.
static void
s_add_headers (struct MHD_Response *response, const char *headers)
{
    char *copy = hpt_strdup (headers ? headers : "");
    char *rest = copy;
    for (char *line = strsep (&rest, "\n"); line; line = strsep (&rest, "\n")) {
        char *colon = strstr (line, ": ");
        if (!colon) continue;
        *colon = 0;
        MHD_add_response_header (response, line, colon + 2);
    }
    free (copy);
}

static enum MHD_Result
s_respond_with (struct MHD_Connection *connection, unsigned int status, const char *content_type,
                const void *body, size_t size, const char *headers)
{
    struct MHD_Response *response =
        MHD_create_response_from_buffer (size, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!response) return MHD_NO;
    if (content_type)
        MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    if (status == MHD_HTTP_NOT_IMPLEMENTED)
        MHD_add_response_header (response, MHD_HTTP_HEADER_ALLOW, "GET, POST, PATCH, DELETE");
    s_add_headers (response, headers);
    enum MHD_Result result = MHD_queue_response (connection, status, response);
    MHD_destroy_response (response);
    return result;
}

static enum MHD_Result
s_respond (struct MHD_Connection *connection, unsigned int status, const char *content_type,
           const void *body, size_t size, bool close)
{
    return s_respond_with (connection, status, content_type, body, size,
                           close ? "Connection: close" : NULL);
}

static enum MHD_Result
s_respond_error (struct MHD_Connection *connection, int status, const char *message)
{
    char *body = hpt_api_error_json (status, message, NULL);
    enum MHD_Result result = s_respond (connection, (unsigned int)status, "application/json", body,
                                        strlen (body), false);
    free (body);
    return result;
}

static enum MHD_Result
s_collect_arg (void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    zchunk_t *query = cls;
    if (zchunk_size (query) > 0) zchunk_extend (query, "&", 1);
    s_encode (query, key ? key : "");
    zchunk_extend (query, "=", 1);
    s_encode (query, value ? value : "");
    return MHD_YES;
}

//  A reply's status frame must be three digits from 100 to 599.
static int
s_reply_status (zframe_t *frame)
{
    if (zframe_size (frame) != 3) return -1;
    const unsigned char *digits = zframe_data (frame);
    int status = 0;
    for (size_t i = 0; i < 3; i++) {
        if (digits[i] < '0' || digits[i] > '9') return -1;
        status = status * 10 + (digits[i] - '0');
    }
    return status >= 100 && status <= 599 ? status : -1;
}

//  A content type must be printable ASCII: it becomes a header line.
static bool
s_header_safe (zframe_t *frame)
{
    const unsigned char *data = zframe_data (frame);
    for (size_t i = 0; i < zframe_size (frame); i++)
        if (data[i] < 0x20 || data[i] > 0x7e) return false;
    return zframe_size (frame) < 256;
}

//  The reply's extra headers: "Name: value" lines joined by '\n', each
//  printable ASCII with a token for a name (no header can be smuggled in).
static bool
s_headers_safe (zframe_t *frame)
{
    const unsigned char *data = zframe_data (frame);
    size_t size = zframe_size (frame);
    if (size > 4096) return false;
    bool in_name = true;
    size_t name_length = 0;
    for (size_t i = 0; i < size; i++) {
        unsigned char c = data[i];
        if (c == '\n') {
            if (in_name) return false;
            in_name = true;
            name_length = 0;
        } else if (in_name && c == ':' && name_length > 0 && i + 1 < size && data[i + 1] == ' ')
            in_name = false;
        else if (in_name && !(isalnum (c) || c == '-'))
            return false;
        else if (c < 0x20 || c > 0x7e)
            return false;
        else
            name_length++;
    }
    return !in_name;
}

//  Waits for the core's reply on the REQ socket; NULL on timeout, stop or
//  error.
static zmsg_t *
s_wait_reply (hpt_api_t *self)
{
    int64_t deadline = zclock_mono () + atomic_load (&self->timeout_ms);
    zmq_pollitem_t item = {zsock_resolve (self->req), 0, ZMQ_POLLIN, 0};
    while (!atomic_load (&self->stopping)) {
        int64_t left = deadline - zclock_mono ();
        if (left <= 0) return NULL;
        int rc = zmq_poll (&item, 1, left < S_POLL_SLICE_MS ? left : S_POLL_SLICE_MS);
        if (rc < 0 && errno != EINTR) return NULL;
        if (rc > 0 && (item.revents & ZMQ_POLLIN)) return zmsg_recv (self->req);
    }
    return NULL;
}

//  Who is asking, for the core's access rules: a local socket, loopback,
//  or another host (with its address).
static void
s_client (struct MHD_Connection *connection, char *text, size_t size)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info (connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *address = info ? info->client_addr : NULL;
    char buf[INET6_ADDRSTRLEN] = "?";
    if (!address || address->sa_family == AF_UNIX)
        snprintf (text, size, "unix");
    else if (address->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)address;
        inet_ntop (AF_INET, &in->sin_addr, buf, sizeof (buf));
        bool loop = (ntohl (in->sin_addr.s_addr) >> 24) == 127;
        snprintf (text, size, loop ? "loopback" : "remote %s", buf);
    } else {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)address;
        inet_ntop (AF_INET6, &in6->sin6_addr, buf, sizeof (buf));
        bool loop = IN6_IS_ADDR_LOOPBACK (&in6->sin6_addr);
        snprintf (text, size, loop ? "loopback" : "remote %s", buf);
    }
}

static enum MHD_Result
s_to_core (hpt_api_t *self, struct MHD_Connection *connection, const char *method, const char *url,
           s_upload_t *upload, int *status_p)
{
    *status_p = 503;
    if (!self->req) {
        self->req = zsock_new (ZMQ_REQ);
        if (self->req) {
            zsock_set_linger (self->req, 0);
            zsock_set_sndtimeo (self->req, atomic_load (&self->timeout_ms));
            if (zsock_connect (self->req, "%s", self->core_endpoint) != 0)
                zsock_destroy (&self->req);
        }
        if (!self->req)
            return s_respond_error (connection, 503, "the master's core is not reachable");
    }
    zchunk_t *query = zchunk_new (NULL, 256);
    MHD_get_connection_values (connection, MHD_GET_ARGUMENT_KIND, s_collect_arg, query);
    const char *authorization =
        MHD_lookup_connection_value (connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    const char *host = MHD_lookup_connection_value (connection, MHD_HEADER_KIND, "Host");
    const char *origin = MHD_lookup_connection_value (connection, MHD_HEADER_KIND, "Origin");
    const char *sent_type =
        MHD_lookup_connection_value (connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    const char *session =
        MHD_lookup_connection_value (connection, MHD_COOKIE_KIND, HPT_API_SESSION_COOKIE);
    const char *if_none_match =
        MHD_lookup_connection_value (connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
    char client[INET6_ADDRSTRLEN + 16];
    s_client (connection, client, sizeof (client));

    zmsg_t *request = zmsg_new ();
    zmsg_addstr (request, method);
    zmsg_addstr (request, url);
    zmsg_addmem (request, zchunk_data (query), zchunk_size (query));
    zmsg_addmem (request, upload->body, upload->size);
    zmsg_addstr (request, authorization ? authorization : "");
    zmsg_addstr (request, client);
    zmsg_addstr (request, host ? host : "");
    zmsg_addstr (request, origin ? origin : "");
    zmsg_addstr (request, sent_type ? sent_type : "");
    zmsg_addstr (request, session ? session : "");
    zmsg_addstr (request, if_none_match ? if_none_match : "");
    zchunk_destroy (&query);

    zmsg_t *reply = NULL;
    if (zmsg_send (&request, self->req) == 0) reply = s_wait_reply (self);
    zmsg_destroy (&request);
    if (!reply) {
        //  REQ now expects a reply that may never come: start afresh.
        zsock_destroy (&self->req);
        return s_respond_error (connection, 503,
                                "the master's core did not answer in time; try again");
    }
    enum MHD_Result result;
    zframe_t *status_frame = zmsg_first (reply);
    zframe_t *type_frame = zmsg_next (reply);
    zframe_t *body_frame = zmsg_next (reply);
    zframe_t *headers_frame = zmsg_next (reply);
    int status = status_frame ? s_reply_status (status_frame) : -1;
    *status_p = status;
    if (zmsg_size (reply) < 3 || zmsg_size (reply) > 4 || status < 0 ||
        !s_header_safe (type_frame) || (headers_frame && !s_headers_safe (headers_frame))) {
        *status_p = 500;
        result = s_respond_error (connection, 500, "the master's core sent a malformed reply");
    } else {
        char *content_type =
            zframe_size (type_frame) ? zframe_strdup (type_frame) : hpt_strdup ("application/json");
        char *headers = headers_frame ? zframe_strdup (headers_frame) : NULL;
        //  304 carries no body and no content type.
        result = s_respond_with (connection, (unsigned int)status,
                                 status == 304 ? NULL : content_type, zframe_data (body_frame),
                                 status == 304 ? 0 : zframe_size (body_frame), headers);
        free (headers);
        free (content_type);
    }
    zmsg_destroy (&reply);
    return result;
}

//  Whether the client takes gzip (Accept-Encoding names it without q=0).
static bool
s_accepts_gzip (struct MHD_Connection *connection)
{
    const char *accept =
        MHD_lookup_connection_value (connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING);
    const char *gzip = accept ? strcasestr (accept, "gzip") : NULL;
    if (!gzip) return false;
    const char *q = strstr (gzip, "q=");
    const char *comma = strchr (gzip, ',');
    return !(q && (!comma || q < comma) && strtod (q + 2, NULL) == 0);
}

//  A file of the web console, answered by this thread from the binary
//  (the core is never asked: the files are the same for everyone and
//  hold no data). Revalidated by ETag; gzip when the client takes it.
static enum MHD_Result
s_asset (struct MHD_Connection *connection, const char *url)
{
    const hpt_console_asset_t *asset = hpt_console_asset (url);
    if (!asset) return s_respond_error (connection, 404, "no such file of the console");
    const char *match =
        MHD_lookup_connection_value (connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
    char *headers = hpt_console_headers (asset);
    enum MHD_Result result;
    if (match && strstr (match, asset->etag))
        result = s_respond_with (connection, 304, NULL, "", 0, headers);
    else if (asset->gzip && s_accepts_gzip (connection)) {
        char *zipped = hpt_asprintf ("%s\nContent-Encoding: gzip", headers);
        result =
            s_respond_with (connection, 200, asset->type, asset->gzip, asset->gzip_size, zipped);
        free (zipped);
    } else
        result = s_respond_with (connection, 200, asset->type, asset->data, asset->size, headers);
    free (headers);
    return result;
}

//  Forwards a request to the core and answers it; counts it in the
//  metrics with its status and the time it took.
static enum MHD_Result
s_forward (hpt_api_t *self, struct MHD_Connection *connection, const char *method, const char *url,
           s_upload_t *upload)
{
    int64_t start = zclock_usecs ();
    int status = 0;
    enum MHD_Result result = s_to_core (self, connection, method, url, upload, &status);
    if (self->metrics)
        hpt_master_metrics_api_request (self->metrics, method, url, status,
                                        (double)(zclock_usecs () - start) / 1e6);
    return result;
}

//  Content-Length as a number; false when absent or not a number.
static bool
s_content_length (struct MHD_Connection *connection, unsigned long long *length)
{
    const char *text =
        MHD_lookup_connection_value (connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (!text || !*text) return false;
    char *end = NULL;
    errno = 0;
    *length = strtoull (text, &end, 10);
    return errno == 0 && end && *end == 0;
}

//  Answers a refused request: 501 (method), 413 (body too big) or 429
//  (too many connections; the connection is then closed).
static enum MHD_Result
s_refuse (struct MHD_Connection *connection, int status, const char *method)
{
    char message[128];
    if (status == 501)
        snprintf (message, sizeof (message),
                  "method %.32s is not implemented; hpt serves GET, POST, PATCH and DELETE",
                  method);
    else if (status == 429)
        snprintf (message, sizeof (message),
                  "this client has more than %d connections open to the master; close some",
                  S_MAX_CLIENT_CONNECTIONS);
    else
        snprintf (message, sizeof (message), "the request body is larger than %d bytes",
                  HPT_API_MAX_BODY);
    char *body = hpt_api_error_json (status, message, NULL);
    enum MHD_Result result = s_respond (connection, (unsigned int)status, "application/json", body,
                                        strlen (body), status == 429);
    free (body);
    return result;
}

//  Whether a refusal can be answered before the body: the client sent
//  none, waits for "100 Continue" (and then never sends it), or announced
//  one too big to drain. Otherwise answering now would close the
//  connection under a client still sending, which sees a reset, not the
//  answer; so the body is read and dropped and the refusal comes after.
static bool
s_refuse_now (struct MHD_Connection *connection)
{
    const char *expect =
        MHD_lookup_connection_value (connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
    if (expect && strcasestr (expect, "100-continue")) return true;
    unsigned long long length = 0;
    if (s_content_length (connection, &length)) return length == 0 || length > S_MAX_DROPPED;
    return !MHD_lookup_connection_value (connection, MHD_HEADER_KIND,
                                         MHD_HTTP_HEADER_TRANSFER_ENCODING);
}

//  A remote client's connection, counted while open (its socket context).
typedef struct {
    char *client; //  "remote ADDRESS": the key in hpt_api_t.connections
    bool over;    //  opened while its client already had its share open
} s_counted_t;

//  Counts a remote client's connections as they open and close. A
//  connection opened past the client's share is marked, so its requests
//  are refused whatever closes later; the first ones stay served.
static void
s_notify_connection (void *cls, struct MHD_Connection *connection, void **socket_context,
                     enum MHD_ConnectionNotificationCode code)
{
    hpt_api_t *self = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        char client[INET6_ADDRSTRLEN + 16];
        s_client (connection, client, sizeof (client));
        if (strncmp (client, "remote ", 7) != 0) return;
        intptr_t count = (intptr_t)zhashx_lookup (self->connections, client);
        zhashx_update (self->connections, client, (void *)(count + 1));
        s_counted_t *counted = hpt_calloc (1, sizeof (s_counted_t));
        counted->client = hpt_strdup (client);
        counted->over = count >= S_MAX_CLIENT_CONNECTIONS;
        *socket_context = counted;
    } else if (*socket_context) {
        s_counted_t *counted = *socket_context;
        intptr_t count = (intptr_t)zhashx_lookup (self->connections, counted->client);
        if (count > 1)
            zhashx_update (self->connections, counted->client, (void *)(count - 1));
        else
            zhashx_delete (self->connections, counted->client);
        free (counted->client);
        free (counted);
        *socket_context = NULL;
    }
}

//  Whether this connection was opened past its client's share.
static bool
s_client_over_limit (struct MHD_Connection *connection)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info (connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    const s_counted_t *counted = info ? info->socket_context : NULL;
    return counted && counted->over;
}

static enum MHD_Result
s_handle (void *cls, struct MHD_Connection *connection, const char *url, const char *method,
          const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    hpt_api_t *self = cls;
    s_upload_t *upload = *con_cls;
    if (!upload) {
        //  First call: only the headers are in. MHD takes a response now
        //  (and then skips the body) or once the body is complete.
        upload = hpt_calloc (1, sizeof (s_upload_t));
        *con_cls = upload;
        unsigned long long length;
        if (!s_method_served (method))
            upload->refusal = 501;
        else if (s_content_length (connection, &length) && length > HPT_API_MAX_BODY)
            upload->refusal = 413;
        else if (s_client_over_limit (connection))
            upload->refusal = 429;
        if (upload->refusal && s_refuse_now (connection)) {
            upload->answered = true;
            return s_refuse (connection, upload->refusal, method);
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t chunk = *upload_data_size;
        *upload_data_size = 0;
        if (upload->refusal) {
            //  Drained, up to a bound; past it the connection is cut.
            upload->dropped += chunk;
            return upload->dropped > S_MAX_DROPPED ? MHD_NO : MHD_YES;
        }
        if (upload->size + chunk > HPT_API_MAX_BODY) {
            //  MHD takes no response mid-body: drain, answer at the end.
            upload->refusal = 413;
            upload->dropped = upload->size + chunk;
            free (upload->body);
            upload->body = NULL;
            upload->size = 0;
            return MHD_YES;
        }
        upload->body = hpt_realloc (upload->body, upload->size + chunk);
        memcpy (upload->body + upload->size, upload_data, chunk);
        upload->size += chunk;
        return MHD_YES;
    }
    if (upload->answered) return MHD_YES;
    upload->answered = true;
    if (upload->refusal) return s_refuse (connection, upload->refusal, method);
    if (streq (method, "GET") && hpt_console_serves (url)) return s_asset (connection, url);
    return s_forward (self, connection, method, url, upload);
}

static void
s_completed (void *cls, struct MHD_Connection *connection, void **con_cls,
             enum MHD_RequestTerminationCode code)
{
    s_upload_t *upload = *con_cls;
    if (upload) {
        free (upload->body);
        free (upload);
        *con_cls = NULL;
    }
}

//  ------------------------------------------------------ construction

//  Parses "HOST:PORT" / "[V6]:PORT" into a socket address. A malformed
//  address or a name that does not resolve is HPT_E_INVALID; a resolver
//  that cannot answer now is HPT_E_UNAVAILABLE.
static int
s_parse_listen (const char *listen, struct sockaddr_storage *address, hpt_error_t *error)
{
    char host[256];
    const char *port;
    if (listen[0] == '[') {
        const char *close = strchr (listen, ']');
        if (!close || close[1] != ':')
            return hpt_error_set (error, HPT_E_INVALID, "listen address '%s': expected [IPV6]:PORT",
                                  listen);
        size_t length = (size_t)(close - listen - 1);
        if (length == 0 || length >= sizeof (host))
            return hpt_error_set (error, HPT_E_INVALID, "listen address '%s': bad IPv6 address",
                                  listen);
        memcpy (host, listen + 1, length);
        host[length] = 0;
        port = close + 2;
    } else {
        const char *colon = strrchr (listen, ':');
        if (!colon || memchr (listen, ':', (size_t)(colon - listen)))
            return hpt_error_set (error, HPT_E_INVALID,
                                  "listen address '%s': expected HOST:PORT (IPv6 in brackets)",
                                  listen);
        size_t length = (size_t)(colon - listen);
        if (length >= sizeof (host))
            return hpt_error_set (error, HPT_E_INVALID, "listen address '%s': host name too long",
                                  listen);
        memcpy (host, listen, length);
        host[length] = 0;
        if (length == 0) strcpy (host, "127.0.0.1");
        port = colon + 1;
    }
    size_t digits = strspn (port, "0123456789");
    if (digits == 0 || digits > 5 || port[digits] != 0 || atoi (port) > 65535)
        return hpt_error_set (error, HPT_E_INVALID, "listen address '%s': port must be 0 to 65535",
                              listen);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | AI_PASSIVE};
    struct addrinfo *found = NULL;
    int rc = getaddrinfo (host, port, &hints, &found);
    if (rc != 0 || !found)
        return hpt_error_set (
            error, rc == EAI_AGAIN || rc == EAI_SYSTEM ? HPT_E_UNAVAILABLE : HPT_E_INVALID,
            "listen address '%s': %s", listen, gai_strerror (rc));
    memset (address, 0, sizeof (*address));
    memcpy (address, found->ai_addr, found->ai_addrlen);
    freeaddrinfo (found);
    return 0;
}

//  The TLS versions offered: 1.2 and 1.3 (every client hpt has speaks
//  them; 1.0 and 1.1 are deprecated, RFC 8996), GnuTLS's usual ciphers.
#define S_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

static void
s_free (hpt_api_t *self)
{
    if (self->socket_path) unlink (self->socket_path);
    free (self->socket_path);
    if (self->tls_key) explicit_bzero (self->tls_key, strlen (self->tls_key));
    free (self->tls_key);
    free (self->tls_cert);
    free (self->core_endpoint);
    zhashx_destroy (&self->connections);
    free (self);
}

//  MHD's error lines (MHD_OPTION_EXTERNAL_LOGGER; called in the API
//  thread): through hpt_log, at most one every S_MHD_LOG_INTERVAL_MS with
//  the count of those left out. Out of descriptors, MHD logs two lines per
//  failed accept, and with no connection open it "busy waits" (it cannot
//  suspend accepting until a connection closes, having none): it polls the
//  listening socket, which stays readable, and accepts again at once. The
//  pause here, when the line follows an accept that failed with EMFILE or
//  ENFILE (MHD logs right after it, errno intact), turns that spin into a
//  few tries a second; the master refuses new agents before it gets there
//  (hpt_fdlimit).
static void
s_mhd_log (void *arg, const char *format, va_list args)
{
    int code = errno;
    hpt_api_t *self = arg;
    if (code == EMFILE || code == ENFILE) zclock_sleep (S_ACCEPT_PAUSE_MS);
    int64_t now = zclock_mono ();
    if (self->mhd_logged && now - self->mhd_logged < S_MHD_LOG_INTERVAL_MS) {
        self->mhd_unlogged++;
        return;
    }
    char line[512];
    vsnprintf (line, sizeof (line), format, args);
    size_t length = strlen (line);
    while (length && (line[length - 1] == '\n' || line[length - 1] == ' '))
        line[--length] = '\0';
    if (self->mhd_unlogged)
        hpt_log_warning ("api: %s (%" PRIu64 " such lines left out in the last %d s)", line,
                         self->mhd_unlogged, S_MHD_LOG_INTERVAL_MS / 1000);
    else
        hpt_log_warning ("api: %s", line);
    self->mhd_logged = now;
    self->mhd_unlogged = 0;
}

//  Starts MHD with flags, adding the TLS options when the API has a pair.
//  MHD_OPTION_ARRAY lets one call take them or not.
static struct MHD_Daemon *
s_start_daemon (hpt_api_t *self, unsigned int flags, uint16_t port, struct sockaddr *address)
{
    struct MHD_OptionItem tls[] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, self->tls_cert},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, self->tls_key},
        {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)S_TLS_PRIORITIES},
        {MHD_OPTION_END, 0, NULL},
    };
    if (self->tls_cert) flags |= MHD_USE_TLS;
    //  The logger first: MHD logs through it only from the option after.
    return MHD_start_daemon (
        flags, port, NULL, NULL, s_handle, self, MHD_OPTION_EXTERNAL_LOGGER, s_mhd_log, self,
        MHD_OPTION_SOCK_ADDR, address, MHD_OPTION_NOTIFY_COMPLETED, s_completed, self,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)60, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned int)S_MAX_CONNECTIONS, MHD_OPTION_NOTIFY_CONNECTION, s_notify_connection, self,
        MHD_OPTION_ARRAY, self->tls_cert ? tls : tls + 3, MHD_OPTION_END);
}

//  A listening Unix socket at path, mode 0660 (its group decides who may
//  use it). A socket file left by a dead master is replaced; one that a
//  live process answers on is not. -1 with *error.
static int
s_unix_listen (const char *path, hpt_error_t *error)
{
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    if (strlen (path) >= sizeof (address.sun_path))
        return hpt_error_set (error, HPT_E_INVALID, "api: socket path %s is too long", path);
    strcpy (address.sun_path, path);
    int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect (fd, (struct sockaddr *)&address, sizeof (address)) == 0) {
        close (fd);
        return hpt_error_set (error, HPT_E_UNAVAILABLE, "api: %s is in use by a live process",
                              path);
    }
    if (fd >= 0) close (fd);
    unlink (path);
    fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    mode_t old_mask = umask (0117);
    int rc = fd < 0 ? -1 : bind (fd, (struct sockaddr *)&address, sizeof (address));
    umask (old_mask);
    if (rc != 0 || listen (fd, 64) != 0) {
        int code = errno;
        if (fd >= 0) close (fd);
        return hpt_error_set (error, HPT_E_UNAVAILABLE, "api: cannot listen on %s: %s", path,
                              strerror (code));
    }
    return fd;
}

//  The API on a Unix socket ("unix:PATH"): plain HTTP, callers are
//  whoever may open the socket file.
static hpt_api_t *
s_new_unix (hpt_api_t *self, const char *path, hpt_error_t *error)
{
    int fd = s_unix_listen (path, error);
    if (fd < 0) {
        s_free (self);
        return NULL;
    }
    self->socket_path = hpt_strdup (path);
    self->daemon = MHD_start_daemon (
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG, 0, NULL, NULL, s_handle,
        self, MHD_OPTION_EXTERNAL_LOGGER, s_mhd_log, self, MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_NOTIFY_COMPLETED, s_completed, self, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)60, MHD_OPTION_CONNECTION_LIMIT, (unsigned int)64, MHD_OPTION_END);
    if (!self->daemon) {
        close (fd);
        hpt_error_set (error, HPT_E_UNAVAILABLE, "api: cannot serve on %s", path);
        s_free (self);
    }
    return self;
}

hpt_api_t *
hpt_api_new (const char *listen, const char *core_endpoint, const hpt_api_options_t *options,
             hpt_error_t *error)
{
    struct sockaddr_storage address;
    hpt_api_options_t none = {0};
    if (!options) options = &none;
    if (!listen || !*listen) listen = "127.0.0.1:7470";
    if (!core_endpoint || !*core_endpoint) {
        hpt_error_set (error, HPT_E_INVALID, "api: no core endpoint given");
        return NULL;
    }
    if (!options->tls_cert_pem != !options->tls_key_pem) {
        hpt_error_set (error, HPT_E_INVALID, "api: HTTPS needs both a certificate and its key");
        return NULL;
    }
    if (strncmp (listen, "unix:", 5) != 0 && s_parse_listen (listen, &address, error)) return NULL;

    //  The czmq context must exist before the API thread makes a socket:
    //  zsys_init is not safe to race from two threads.
    zsys_init ();
    hpt_api_t *self = hpt_calloc (1, sizeof (hpt_api_t));
    self->core_endpoint = hpt_strdup (core_endpoint);
    self->metrics = options->metrics;
    if (options->tls_cert_pem) {
        self->tls_cert = hpt_strdup (options->tls_cert_pem);
        self->tls_key = hpt_strdup (options->tls_key_pem);
    }
    atomic_init (&self->timeout_ms, HPT_API_TIMEOUT_MS);
    atomic_init (&self->stopping, false);
    if (strncmp (listen, "unix:", 5) == 0) return s_new_unix (self, listen + 5, error);
    self->connections = zhashx_new ();
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
    if (address.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    //  MHD binds the address given; the port argument only names it in
    //  MHD's own log lines.
    uint16_t port = address.ss_family == AF_INET6
                        ? ntohs (((struct sockaddr_in6 *)&address)->sin6_port)
                        : ntohs (((struct sockaddr_in *)&address)->sin_port);
    errno = 0;
    self->daemon = s_start_daemon (self, flags, port, (struct sockaddr *)&address);
    if (!self->daemon) {
        int code = errno;
        hpt_error_set (error, HPT_E_UNAVAILABLE, "api: cannot listen on %s%s%s%s", listen,
                       self->tls_cert ? " with HTTPS" : "", code ? ": " : "",
                       code ? strerror (code) : "");
        s_free (self);
        return NULL;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info (self->daemon, MHD_DAEMON_INFO_BIND_PORT);
    self->port = info ? info->port : 0;
    return self;
}

void
hpt_api_destroy (hpt_api_t **self_p)
{
    if (!self_p || !*self_p) return;
    hpt_api_t *self = *self_p;
    atomic_store (&self->stopping, true);
    MHD_stop_daemon (self->daemon);
    //  The API thread has ended, so its socket may be closed from here.
    zsock_destroy (&self->req);
    s_free (self);
    *self_p = NULL;
}

uint16_t
hpt_api_port (hpt_api_t *self)
{
    return self->port;
}

void
hpt_api_set_timeout (hpt_api_t *self, int timeout_ms)
{
    if (timeout_ms > 0) atomic_store (&self->timeout_ms, timeout_ms);
}
