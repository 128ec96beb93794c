/*  hpt_client -- one REST conversation with the hpt master (libcurl)

    One easy handle per client, reset before each request, so the
    connection is kept alive between the polls of stream-logs. The answer
    is collected into a buffer that refuses to grow past
    HPT_CLIENT_MAX_ANSWER: an announced Content-Length over it is refused
    before any byte is read (CURLOPT_MAXFILESIZE), and a chunked answer is
    cut when it passes it (the write callback returns short, which makes
    curl abort with CURLE_WRITE_ERROR). Only http and https are allowed and
    redirects are not followed, so a bad --master cannot make the CLI read
    files or wander.

    A unix: master is reached with CURLOPT_UNIX_SOCKET_PATH and requests
    to http://localhost (a name the master always accepts in Host), so the
    protocol rule above holds for it too. The token travels only in the
    Authorization header; the header's text is wiped when the client goes,
    and no message prints it (libcurl's error texts never quote headers).

    TLS: libcurl verifies an https:// master's chain and host name (its
    defaults, set again explicitly so that no later change of defaults can
    turn them off). With a CA file, that file is the only trust anchor:
    CURLOPT_CAPATH is cleared too, or the system's directory of CAs would
    still vouch for any certificate. Failures libcurl reports as codes
    (verification, an unreadable CA file, a handshake with a server that
    does not speak TLS, a TLS server asked in plain HTTP) get a hint
    saying what to change.

    Answers are judged in this order: no HTTP answer -> "cannot reach";
    body not a JSON object -> "not JSON" with a printable snippet; status
    not 2xx -> the error in Google's shape (status, message, and each
    BadRequest field violation on its own line), or the HTTP code and a
    snippet when the body has no such shape. A 401 adds which token was
    sent (its source, never its text) and where to set one.
*/
#include "hpt_client.h"
#include "hpt_alloc.h"
#include "hpt_json.h"
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct _hpt_client_t {
    CURL *curl;                       //  the easy handle, reused for keep-alive
    char *base_url;                   //  master URL without trailing slash, owned
    char *socket_path;                //  the master's Unix socket, owned; NULL: a network URL
    char *master_from;                //  where base_url came from, owned
    char *authorization;              //  "Authorization: Bearer TOKEN", owned; NULL: none
    char *token_from;                 //  where the token came from, owned; NULL: none
    char *config_path;                //  the config file, for hints, owned
    char *command;                    //  "hpt.jobs.submit", owned
    char *ca_cert;                    //  CA file to verify https with, owned; NULL: the system's
    char *answer;                     //  body of the current answer, owned
    size_t answer_size;               //  bytes in answer
    size_t answer_capacity;           //  bytes allocated for answer
    bool answer_too_large;            //  the write callback refused more bytes
    char curl_error[CURL_ERROR_SIZE]; //  libcurl's text for the last failure
    char failure[1024];               //  curl_error and what to do about it
    char hint[512];                   //  what to do about the last failure, or ""
};

//  How much of a bad answer to quote in a message.
#define S_SNIPPET_MAX 120
//  sun_path's size on Linux, its NUL included.
#define S_SOCKET_PATH_MAX 108

//  The socket path of a unix: URL (unix:///PATH or unix:PATH), borrowed
//  from url; NULL for any other URL, and for unix://HOST..., which names
//  no path.
static const char *
s_socket_path (const char *url)
{
    if (strncasecmp (url, "unix:", 5) != 0) return NULL;
    const char *rest = url + 5;
    if (strncmp (rest, "//", 2) != 0) return rest;
    return rest[2] == '/' ? rest + 2 : NULL;
}

bool
hpt_client_url_ok (const char *url, char *why, size_t size)
{
    if (strncasecmp (url, "unix:", 5) == 0) {
        const char *path = s_socket_path (url);
        if (path && *path && strlen (path) < S_SOCKET_PATH_MAX) return true;
        snprintf (why, size,
                  !path || !*path ? "'%.200s' names no socket: write unix:///ABSOLUTE/PATH or "
                                    "unix:PATH (the master's API socket, master.apiSocket)"
                                  : "'%.200s': a socket path is at most 107 bytes",
                  url);
        return false;
    }
    if ((strncasecmp (url, "http://", 7) == 0 && url[7]) ||
        (strncasecmp (url, "https://", 8) == 0 && url[8]))
        return true;
    snprintf (why, size,
              "'%.200s' is not a master URL: write http://HOST:PORT, https://HOST:PORT or "
              "unix:///PATH (the master's API socket)",
              url);
    return false;
}

hpt_client_t *
hpt_client_new (const hpt_cli_context_t *context, const char *command)
{
    const char *url = context->master ? context->master : HPT_CLI_DEFAULT_MASTER;
    const char *from = context->master_from ? context->master_from : "the default";
    char why[512];
    if (!hpt_client_url_ok (url, why, sizeof (why))) {
        fprintf (stderr, "ERROR: (%s) %s (the URL came from %s)\n", command, why, from);
        return NULL;
    }
    if (curl_global_init (CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf (stderr, "ERROR: (%s) cannot initialise libcurl\n", command);
        return NULL;
    }
    hpt_client_t *self = hpt_calloc (1, sizeof (hpt_client_t));
    self->curl = curl_easy_init ();
    self->base_url = hpt_strdup (url);
    self->master_from = hpt_strdup (from);
    self->command = hpt_strdup (command);
    self->ca_cert = context->ca_cert && *context->ca_cert ? hpt_strdup (context->ca_cert) : NULL;
    self->config_path =
        hpt_strdup (context->config_path ? context->config_path : "the config file");
    if (context->token && *context->token) {
        self->authorization = hpt_asprintf ("Authorization: Bearer %s", context->token);
        self->token_from = hpt_strdup (context->token_from ? context->token_from : "?");
    }
    if (!self->curl) {
        fprintf (stderr, "ERROR: (%s) cannot initialise libcurl\n", command);
        hpt_client_destroy (&self);
        return NULL;
    }
    const char *path = s_socket_path (url);
    if (path) {
        self->socket_path = hpt_strdup (path);
        return self;
    }
    size_t len = strlen (self->base_url);
    while (len > 0 && self->base_url[len - 1] == '/')
        self->base_url[--len] = '\0';
    return self;
}

void
hpt_client_destroy (hpt_client_t **self_p)
{
    if (!self_p || !*self_p) return;
    hpt_client_t *self = *self_p;
    if (self->curl) curl_easy_cleanup (self->curl);
    if (self->authorization) explicit_bzero (self->authorization, strlen (self->authorization));
    free (self->authorization);
    free (self->token_from);
    free (self->master_from);
    free (self->config_path);
    free (self->socket_path);
    free (self->base_url);
    free (self->command);
    free (self->ca_cert);
    free (self->answer);
    free (self);
    curl_global_cleanup ();
    *self_p = NULL;
}

//  libcurl write callback: appends to the answer, refusing to pass the
//  limit (returning less than given aborts the transfer).
static size_t
s_collect (char *data, size_t size, size_t nmemb, void *userp)
{
    hpt_client_t *self = (hpt_client_t *)userp;
    size_t bytes = size * nmemb;
    if (bytes > HPT_CLIENT_MAX_ANSWER - self->answer_size) {
        self->answer_too_large = true;
        return 0;
    }
    if (self->answer_size + bytes + 1 > self->answer_capacity) {
        //  Doubling keeps a large answer, which arrives in 16 KiB pieces,
        //  from being copied over and over.
        size_t capacity = self->answer_capacity ? self->answer_capacity : 4096;
        while (capacity < self->answer_size + bytes + 1)
            capacity *= 2;
        self->answer = hpt_realloc (self->answer, capacity);
        self->answer_capacity = capacity;
    }
    memcpy (self->answer + self->answer_size, data, bytes);
    self->answer_size += bytes;
    self->answer[self->answer_size] = '\0';
    return bytes;
}

void
hpt_client_error (hpt_client_t *self, const char *text)
{
    fprintf (stderr, "ERROR: (%s) %s\n", self->command, text);
}

const char *
hpt_client_last_error (hpt_client_t *self)
{
    return self->failure;
}

const char *
hpt_client_url (hpt_client_t *self)
{
    return self->base_url;
}

//  Writes a printable, one-line quote of the answer into buf.
static void
s_snippet (hpt_client_t *self, char *buf, size_t size)
{
    size_t n = 0;
    for (size_t i = 0; i < self->answer_size && n + 4 < size && i < S_SNIPPET_MAX; i++) {
        unsigned char c = (unsigned char)self->answer[i];
        buf[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : (c == '\n' || c == '\t') ? ' ' : '?';
    }
    if (self->answer_size > S_SNIPPET_MAX && n + 4 < size) {
        memcpy (buf + n, "...", 3);
        n += 3;
    }
    buf[n] = '\0';
}

//  What to do about a 401: which token was sent (its source: the text is
//  a secret) and where a good one goes.
static void
s_token_hint (hpt_client_t *self)
{
    if (self->token_from)
        fprintf (stderr,
                 "  the master refused the token from %s: set HPT_TOKEN, or token: in %s, to a "
                 "valid one (an admin issues a new one with hpt users token NAME)\n",
                 self->token_from, self->config_path);
    else
        fprintf (stderr,
                 "  hpt sent no token: set HPT_TOKEN, or token: in %s (chmod 600), to your "
                 "token (an admin makes one with hpt users add NAME --role ROLE)\n",
                 self->config_path);
}

//  Prints an error answer: Google's shape when the answer has it,
//  otherwise the HTTP code and a quote of the body.
static void
s_print_error_body (hpt_client_t *self, long code, json_t *answer)
{
    json_t *error = answer ? json_object_get (answer, "error") : NULL;
    const char *message = json_string_value (json_object_get (error, "message"));
    if (!json_is_object (error) || !message) {
        char snippet[S_SNIPPET_MAX + 8];
        s_snippet (self, snippet, sizeof (snippet));
        fprintf (stderr, "ERROR: (%s) HTTP %ld from the hpt master at %s: %s\n", self->command,
                 code, self->base_url, *snippet ? snippet : "(empty answer)");
        return;
    }
    const char *status = json_string_value (json_object_get (error, "status"));
    if (status)
        fprintf (stderr, "ERROR: (%s) %s: %s\n", self->command, status, message);
    else
        fprintf (stderr, "ERROR: (%s) HTTP %ld: %s\n", self->command, code, message);
    size_t i;
    json_t *detail;
    json_array_foreach (json_object_get (error, "details"), i, detail) {
        size_t j;
        json_t *violation;
        json_array_foreach (json_object_get (detail, "fieldViolations"), j, violation) {
            const char *field = json_string_value (json_object_get (violation, "field"));
            const char *description =
                json_string_value (json_object_get (violation, "description"));
            fprintf (stderr, "  %s: %s\n", field ? field : "(no field)",
                     description ? description : "(no description)");
        }
    }
}

//  An error answer and, for a 401, what to do about the token.
static void
s_print_error_answer (hpt_client_t *self, long code, json_t *answer)
{
    s_print_error_body (self, code, answer);
    if (code == 401) s_token_hint (self);
}

//  Sets the handle up for one request; returns false when libcurl refuses.
static bool
s_prepare (hpt_client_t *self, const char *method, const char *url, const char *payload,
           struct curl_slist *headers)
{
    CURL *c = self->curl;
    curl_easy_reset (c);
    bool ok = curl_easy_setopt (c, CURLOPT_URL, url) == CURLE_OK &&
              curl_easy_setopt (c, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
              curl_easy_setopt (c, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
              curl_easy_setopt (c, CURLOPT_CONNECTTIMEOUT_MS, 5000L) == CURLE_OK &&
              curl_easy_setopt (c, CURLOPT_TIMEOUT_MS, 30000L) == CURLE_OK &&
              curl_easy_setopt (c, CURLOPT_ERRORBUFFER, self->curl_error) == CURLE_OK &&
              curl_easy_setopt (c, CURLOPT_WRITEFUNCTION, s_collect) == CURLE_OK &&
              curl_easy_setopt (c, CURLOPT_WRITEDATA, self) == CURLE_OK &&
              curl_easy_setopt (c, CURLOPT_HTTPHEADER, headers) == CURLE_OK &&
              curl_easy_setopt (c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)HPT_CLIENT_MAX_ANSWER) ==
                  CURLE_OK &&
              curl_easy_setopt (c, CURLOPT_USERAGENT, "hpt-cli") == CURLE_OK &&
              curl_easy_setopt (c, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK &&
              curl_easy_setopt (c, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK;
    if (ok && self->ca_cert)
        ok = curl_easy_setopt (c, CURLOPT_CAINFO, self->ca_cert) == CURLE_OK &&
             curl_easy_setopt (c, CURLOPT_CAPATH, NULL) == CURLE_OK;
    if (ok && self->socket_path)
        ok = curl_easy_setopt (c, CURLOPT_UNIX_SOCKET_PATH, self->socket_path) == CURLE_OK;
    if (!ok) return false;
    if (strcmp (method, "GET") == 0) return curl_easy_setopt (c, CURLOPT_HTTPGET, 1L) == CURLE_OK;
    if (strcmp (method, "POST") == 0)
        return curl_easy_setopt (c, CURLOPT_POST, 1L) == CURLE_OK &&
               curl_easy_setopt (c, CURLOPT_POSTFIELDS, payload ? payload : "") == CURLE_OK &&
               curl_easy_setopt (c, CURLOPT_POSTFIELDSIZE,
                                 (long)(payload ? strlen (payload) : 0)) == CURLE_OK;
    return curl_easy_setopt (c, CURLOPT_CUSTOMREQUEST, method) == CURLE_OK;
}

//  What to do about a TLS failure, or "" when hpt has nothing to add.
//  A certificate for another host is told apart by libcurl's message:
//  its host name check is its own, after the chain was verified, and
//  every TLS backend's message for it speaks of the "target host name".
static const char *
s_tls_hint (hpt_client_t *self, CURLcode rc, char *hint, size_t size)
{
    bool https = strncasecmp (self->base_url, "https:", 6) == 0;
    if (rc == CURLE_PEER_FAILED_VERIFICATION && strstr (self->curl_error, "host name"))
        snprintf (hint, size,
                  "its certificate is not for the host in %s: use a --master URL with a name or "
                  "address the certificate has, or give the master a certificate for this one "
                  "(hptmaster certgen --host NAME)",
                  self->base_url);
    else if (rc == CURLE_PEER_FAILED_VERIFICATION && self->ca_cert)
        snprintf (hint, size,
                  "its certificate does not verify against the CA in %s (--ca-cert or "
                  "HPT_CA_CERT): give the CA that signed it, e.g. DIR/ca.pem from the hptmaster "
                  "certgen that made it",
                  self->ca_cert);
    else if (rc == CURLE_PEER_FAILED_VERIFICATION)
        snprintf (hint, size,
                  "its certificate is not signed by a CA this client trusts (the system's CAs): "
                  "give --ca-cert FILE (or HPT_CA_CERT) with the CA that signed it, e.g. "
                  "DIR/ca.pem from hptmaster certgen");
    else if (rc == CURLE_SSL_CACERT_BADFILE && self->ca_cert)
        snprintf (hint, size,
                  "cannot use the CA file %s (--ca-cert or HPT_CA_CERT): give a readable PEM "
                  "file such as DIR/ca.pem from hptmaster certgen",
                  self->ca_cert);
    else if (rc == CURLE_SSL_CACERT_BADFILE)
        snprintf (hint, size,
                  "cannot read the system's CAs (is ca-certificates installed?): give "
                  "--ca-cert FILE (or HPT_CA_CERT) with the CA that signed the master's "
                  "certificate");
    else if (https && rc == CURLE_SSL_CONNECT_ERROR)
        snprintf (hint, size,
                  "no TLS handshake: if the master serves plain HTTP (no master.tls; its ready "
                  "line says api=http://), use an http:// URL");
    else if (!https && (rc == CURLE_GOT_NOTHING || rc == CURLE_RECV_ERROR ||
                        rc == CURLE_WEIRD_SERVER_REPLY || rc == CURLE_UNSUPPORTED_PROTOCOL))
        snprintf (hint, size,
                  "if the master serves HTTPS (master.tls; its ready line says api=https://), "
                  "use an https:// URL");
    else
        hint[0] = 0;
    return hint;
}

void
hpt_client_report_unreachable (hpt_client_t *self)
{
    fprintf (stderr, "ERROR: cannot reach the hpt master at %s: %s\n", self->base_url,
             self->curl_error);
    if (self->hint[0]) fprintf (stderr, "  %s\n", self->hint);
    if (self->socket_path)
        fprintf (stderr,
                 "  %s came from %s: it must be the master's API socket (master.apiSocket, by "
                 "default STATEDIR/api.sock), which only its owner and group may open\n",
                 self->base_url, self->master_from);
    else
        fprintf (stderr,
                 "  %s came from %s: it must be the address of the master's REST API "
                 "(master.api; its ready line says api=...), not its agents endpoint "
                 "(master.agents)\n",
                 self->base_url, self->master_from);
}

//  Reports a transfer that got no usable answer. A master whose
//  certificate cannot be verified, or a CA file that cannot be used, is
//  not going to change by retrying: those fail; the rest is unreachable
//  (a transfer that broke after the status line still got no answer: the
//  master went away or timed out).
static hpt_client_result_t
s_transport_failure (hpt_client_t *self, CURLcode rc, bool quiet)
{
    if (!self->curl_error[0])
        snprintf (self->curl_error, sizeof (self->curl_error), "%s", curl_easy_strerror (rc));
    s_tls_hint (self, rc, self->hint, sizeof (self->hint));
    snprintf (self->failure, sizeof (self->failure), "%s%s%s", self->curl_error,
              self->hint[0] ? "; " : "", self->hint);
    if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE) {
        fprintf (stderr, "ERROR: (%s) cannot verify the hpt master at %s: %s\n  %s\n",
                 self->command, self->base_url, self->curl_error, self->hint);
        return HPT_CLIENT_FAILED;
    }
    if (!quiet) hpt_client_report_unreachable (self);
    return HPT_CLIENT_UNREACHABLE;
}

hpt_client_result_t
hpt_client_call (hpt_client_t *self, const char *method, const char *path, json_t *body, bool quiet,
                 json_t **reply)
{
    *reply = NULL;
    free (self->answer);
    self->answer = NULL;
    self->answer_size = 0;
    self->answer_capacity = 0;
    self->answer_too_large = false;
    self->curl_error[0] = '\0';
    self->failure[0] = '\0';
    self->hint[0] = '\0';

    //  The socket's requests go to http://localhost: the URL's only job
    //  there is the path, and the master accepts that Host.
    const char *base = self->socket_path ? "http://localhost" : self->base_url;
    size_t url_size = strlen (base) + strlen (path) + 1;
    char *url = hpt_malloc (url_size);
    char *payload = body ? hpt_json_dumps (body, false) : NULL;
    struct curl_slist *headers = curl_slist_append (NULL, "Accept: application/json");
    //  The master takes changes only as JSON (a browser's cross-site form
    //  cannot send that without asking first), bodiless ones too.
    if (headers && (body || strcmp (method, "GET") != 0))
        headers = curl_slist_append (headers, "Content-Type: application/json");
    if (headers) headers = curl_slist_append (headers, "Expect:");
    if (headers && self->authorization) headers = curl_slist_append (headers, self->authorization);
    if (!headers) { //  libcurl allocates its lists itself, and may fail
        free (url);
        free (payload);
        hpt_client_error (self, "out of memory");
        return HPT_CLIENT_FAILED;
    }
    snprintf (url, url_size, "%s%s", base, path);

    hpt_client_result_t result = HPT_CLIENT_OK;
    CURLcode rc = CURLE_FAILED_INIT;
    if (s_prepare (self, method, url, payload, headers))
        rc = curl_easy_perform (self->curl);
    else
        snprintf (self->curl_error, sizeof (self->curl_error),
                  "libcurl refused the request options");
    long code = 0;
    curl_easy_getinfo (self->curl, CURLINFO_RESPONSE_CODE, &code);
    free (payload);
    curl_slist_free_all (headers);

    if (self->answer_too_large || rc == CURLE_FILESIZE_EXCEEDED) {
        fprintf (stderr, "ERROR: (%s) the answer from the hpt master at %s is larger than %u MiB\n",
                 self->command, self->base_url, HPT_CLIENT_MAX_ANSWER / (1024 * 1024));
        free (url);
        return HPT_CLIENT_FAILED;
    }
    if (rc != CURLE_OK) {
        free (url);
        return s_transport_failure (self, rc, quiet);
    }
    free (url);

    json_t *answer = NULL;
    if (self->answer_size == 0)
        answer = json_object ();
    else {
        json_error_t error;
        answer = json_loadb (self->answer, self->answer_size, 0, &error);
        if (answer && !json_is_object (answer)) {
            json_decref (answer);
            answer = NULL;
        }
    }
    if (code < 200 || code > 299) {
        s_print_error_answer (self, code, answer);
        result = HPT_CLIENT_FAILED;
    } else if (!answer) {
        char snippet[S_SNIPPET_MAX + 8];
        s_snippet (self, snippet, sizeof (snippet));
        fprintf (stderr,
                 "ERROR: (%s) the hpt master at %s answered HTTP %ld with something that is not "
                 "a JSON object: %s\n",
                 self->command, self->base_url, code, snippet);
        result = HPT_CLIENT_FAILED;
    }
    if (result == HPT_CLIENT_OK)
        *reply = answer;
    else
        json_decref (answer);
    return result;
}

char *
hpt_client_escape (hpt_client_t *self, const char *text)
{
    char *escaped = curl_easy_escape (self->curl, text, 0);
    if (!escaped) return NULL;
    char *copy = hpt_strdup (escaped);
    curl_free (escaped);
    return copy;
}

//  The path of the next page: path with pageSize and pageToken added.
static char *
s_page_path (hpt_client_t *self, const char *path, long page_size, const char *token)
{
    char *escaped = token ? hpt_client_escape (self, token) : NULL;
    if (token && !escaped) return NULL;
    char size[32] = "";
    if (page_size > 0) snprintf (size, sizeof (size), "pageSize=%ld", page_size);
    char *out = hpt_asprintf (
        "%s%s%s%s%s%s", path, *size || token ? (strchr (path, '?') ? "&" : "?") : "", size,
        *size && token ? "&" : "", token ? "pageToken=" : "", token ? escaped : "");
    free (escaped);
    return out;
}

hpt_client_result_t
hpt_client_list (hpt_client_t *self, const char *path, const char *key, long page_size, long limit,
                 json_t **items)
{
    *items = NULL;
    json_t *all = json_array ();
    char *token = NULL;
    hpt_client_result_t result = HPT_CLIENT_OK;
    do {
        char *page_path = s_page_path (self, path, page_size, token);
        json_t *reply = NULL;
        if (!page_path) {
            hpt_client_error (self, "out of memory");
            result = HPT_CLIENT_FAILED;
        } else
            result = hpt_client_call (self, "GET", page_path, NULL, false, &reply);
        free (page_path);
        json_t *page = json_object_get (reply, key);
        const char *next = json_string_value (json_object_get (reply, "nextPageToken"));
        if (result == HPT_CLIENT_OK && page && !json_is_array (page)) {
            char *message = hpt_asprintf ("the master's answer has no list of %s", key);
            hpt_client_error (self, message);
            free (message);
            result = HPT_CLIENT_FAILED;
        } else if (result == HPT_CLIENT_OK && next && token && strcmp (next, token) == 0) {
            //  A master that hands back the token it was sent would never end.
            hpt_client_error (self, "the master answered the same page again");
            result = HPT_CLIENT_FAILED;
        }
        if (result == HPT_CLIENT_OK && page) json_array_extend (all, page);
        free (token);
        token = result == HPT_CLIENT_OK && next && *next ? hpt_strdup (next) : NULL;
        json_decref (reply);
    } while (token && (limit <= 0 || (long)json_array_size (all) < limit));
    free (token);
    if (result != HPT_CLIENT_OK) {
        json_decref (all);
        return result;
    }
    while (limit > 0 && (long)json_array_size (all) > limit)
        json_array_remove (all, json_array_size (all) - 1);
    *items = all;
    return HPT_CLIENT_OK;
}
