/*  test_api -- the HTTP front of the master, driven with real HTTP
    (libcurl) against a fake core: a zactor with a ROUTER on inproc that
    answers through hpt_api_request_recv / hpt_api_reply like the real core.

    The fake core's routes:
      /silent...   never answers (the API must give 503 in its timeout)
      /malformed   answers frames that break the contract (500)
      /missing...  404 in Google's error shape
      anything     200 with an echo of what the core received
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hpt_api.h"
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  ----------------------------------------------------------- fake core

static json_t *
s_param_json (hpt_api_request_t *request, const char *key)
{
    const char *value = hpt_api_request_param (request, key);
    return value ? json_string (value) : json_null ();
}

static void
s_echo (zsock_t *router, hpt_api_request_t *request)
{
    json_t *echo = json_object ();
    json_object_set_new (echo, "method", json_string (hpt_api_request_method (request)));
    json_object_set_new (echo, "path", json_string (hpt_api_request_path (request)));
    json_object_set_new (echo, "body_size",
                         json_integer ((json_int_t)hpt_api_request_body_size (request)));
    if (hpt_api_request_body_size (request) < 4096)
        json_object_set_new (echo, "body", json_string (hpt_api_request_body (request)));
    json_object_set_new (echo, "filter", s_param_json (request, "filter"));
    json_object_set_new (echo, "pageSize", s_param_json (request, "pageSize"));
    json_object_set_new (echo, "flag", s_param_json (request, "flag"));
    json_object_set_new (echo, "absent", s_param_json (request, "absent"));
    json_object_set_new (echo, "authorization",
                         json_string (hpt_api_request_authorization (request)));
    json_object_set_new (echo, "client", json_string (hpt_api_request_client (request)));
    json_object_set_new (echo, "host", json_string (hpt_api_request_host (request)));
    char *text = json_dumps (echo, 0);
    hpt_api_reply (router, hpt_api_request_routing_id (request), 200, NULL, text);
    free (text);
    json_decref (echo);
}

static void
s_fake_core (zsock_t *pipe, void *args)
{
    //  No cmocka asserts in this thread: they long-jump across threads.
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    if (zsock_bind (router, "%s", (const char *)args) != 0) {
        zsock_destroy (&router);
        zsock_signal (pipe, 1);
        return;
    }
    zsock_signal (pipe, 0);
    zpoller_t *poller = zpoller_new (pipe, router, NULL);
    while (true) {
        zsock_t *which = zpoller_wait (poller, -1);
        if (which == router) {
            hpt_api_request_t *request = hpt_api_request_recv (router);
            if (!request) continue;
            const char *path = hpt_api_request_path (request);
            zframe_t *id = hpt_api_request_routing_id (request);
            if (strncmp (path, "/silent", 7) == 0)
                ; //  a stuck core
            else if (streq (path, "/malformed")) {
                zmsg_t *bad = zmsg_new ();
                zmsg_append (bad, &(zframe_t *){zframe_dup (id)});
                zmsg_addmem (bad, NULL, 0);
                zmsg_addstr (bad, "two hundred");
                zmsg_send (&bad, router);
            } else if (strncmp (path, "/missing", 8) == 0) {
                char *error = hpt_api_error_json (404, "Job missing not found", NULL);
                hpt_api_reply (router, id, 404, "application/json", error);
                free (error);
            } else
                s_echo (router, request);
            hpt_api_request_destroy (&request);
        } else {
            //  $TERM from the pipe, or interrupted
            break;
        }
    }
    zpoller_destroy (&poller);
    zsock_destroy (&router);
}

//  --------------------------------------------------------- HTTP client

typedef struct {
    long status;        //  HTTP status
    char *body;         //  response body, NUL-terminated
    size_t size;        //  body length
    char *content_type; //  Content-Type, or NULL
    char *allow;        //  Allow header, or NULL
    double seconds;     //  total time
} s_response_t;

static size_t
s_write (char *data, size_t size, size_t count, void *user)
{
    s_response_t *response = user;
    size_t n = size * count;
    response->body = realloc (response->body, response->size + n + 1);
    memcpy (response->body + response->size, data, n);
    response->size += n;
    response->body[response->size] = 0;
    return n;
}

static size_t
s_header (char *data, size_t size, size_t count, void *user)
{
    s_response_t *response = user;
    size_t n = size * count;
    if (n > 7 && strncasecmp (data, "Allow: ", 7) == 0) {
        free (response->allow);
        response->allow = strndup (data + 7, n - 7);
    }
    return n;
}

static size_t
s_discard (char *data, size_t size, size_t count, void *user)
{
    return size * count;
}

//  A chunked upload of a fixed number of bytes.
typedef struct {
    size_t left; //  bytes still to send
} s_source_t;

static size_t
s_read (char *buffer, size_t size, size_t count, void *user)
{
    s_source_t *source = user;
    size_t n = size * count < source->left ? size * count : source->left;
    memset (buffer, 'x', n);
    source->left -= n;
    return n;
}

static void
s_response_free (s_response_t *response)
{
    free (response->body);
    free (response->content_type);
    free (response->allow);
    memset (response, 0, sizeof (*response));
}

//  Sends one request; body may be NULL. chunked > 0 streams that many
//  bytes with chunked encoding instead of body. expect false sends the
//  body at once, without waiting for "100 Continue" (as Python's clients
//  do).
static s_response_t
s_http_ex (uint16_t port, const char *method, const char *target, const char *body,
           size_t body_size, size_t chunked, bool expect)
{
    s_response_t response = {0};
    char url[512];
    snprintf (url, sizeof (url), "http://127.0.0.1:%u%s", port, target);
    CURL *curl = curl_easy_init ();
    assert_non_null (curl);
    struct curl_slist *headers = NULL;
    headers = curl_slist_append (headers, "Authorization: Bearer t0k3n");
    if (!expect) headers = curl_slist_append (headers, "Expect:");
    s_source_t source = {chunked};
    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_easy_setopt (curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_write);
    curl_easy_setopt (curl, CURLOPT_WRITEDATA, &response);
    curl_easy_setopt (curl, CURLOPT_HEADERFUNCTION, s_header);
    curl_easy_setopt (curl, CURLOPT_HEADERDATA, &response);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
    if (chunked) {
        headers = curl_slist_append (headers, "Transfer-Encoding: chunked");
        curl_easy_setopt (curl, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt (curl, CURLOPT_READFUNCTION, s_read);
        curl_easy_setopt (curl, CURLOPT_READDATA, &source);
    } else if (body) {
        curl_easy_setopt (curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt (curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_size);
    }
    curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
    CURLcode rc = curl_easy_perform (curl);
    if (rc != CURLE_OK) fail_msg ("%s %s: %s", method, target, curl_easy_strerror (rc));
    curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &response.status);
    curl_easy_getinfo (curl, CURLINFO_TOTAL_TIME, &response.seconds);
    char *type = NULL;
    curl_easy_getinfo (curl, CURLINFO_CONTENT_TYPE, &type);
    response.content_type = type ? strdup (type) : NULL;
    curl_slist_free_all (headers);
    curl_easy_cleanup (curl);
    return response;
}

static s_response_t
s_http (uint16_t port, const char *method, const char *target, const char *body)
{
    return s_http_ex (port, method, target, body, body ? strlen (body) : 0, 0, true);
}

//  The response body as JSON (caller owns).
static json_t *
s_json (s_response_t *response)
{
    json_error_t error;
    json_t *root = json_loadb (response->body ? response->body : "", response->size, 0, &error);
    if (!root) fail_msg ("response is not JSON (%s): %s", error.text, response->body);
    return root;
}

static void
s_assert_google_error (s_response_t *response, int code, const char *status)
{
    json_t *root = s_json (response);
    json_t *error = json_object_get (root, "error");
    assert_true (json_is_object (error));
    assert_int_equal (json_integer_value (json_object_get (error, "code")), code);
    assert_string_equal (json_string_value (json_object_get (error, "status")), status);
    assert_true (json_is_string (json_object_get (error, "message")));
    json_decref (root);
}

//  ------------------------------------------------------------ fixture

typedef struct {
    zactor_t *core; //  the fake core
    hpt_api_t *api; //  the API under test
    uint16_t port;  //  its port
} fixture_t;

static int s_endpoint_count = 0;

static int
s_setup (void **state)
{
    fixture_t *fixture = calloc (1, sizeof (fixture_t));
    char *endpoint = zsys_sprintf ("inproc://test-api-core-%d", ++s_endpoint_count);
    fixture->core = zactor_new (s_fake_core, endpoint);
    hpt_error_t error;
    fixture->api = hpt_api_new ("127.0.0.1:0", endpoint, NULL, &error);
    if (!fixture->api) fail_msg ("hpt_api_new: %s", error.message);
    fixture->port = hpt_api_port (fixture->api);
    assert_true (fixture->port > 0);
    zstr_free (&endpoint);
    *state = fixture;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *fixture = *state;
    hpt_api_destroy (&fixture->api);
    assert_null (fixture->api);
    zactor_destroy (&fixture->core);
    free (fixture);
    return 0;
}

//  -------------------------------------------------------------- tests

static void
test_get_round_trip_with_query (void **state)
{
    fixture_t *fixture = *state;
    s_response_t response =
        s_http (fixture->port, "GET",
                "/v1/projects/p/jobs?filter=state%3DRUNNING%20AND%20a%26b&pageSize=10&flag", NULL);
    assert_int_equal (response.status, 200);
    assert_string_equal (response.content_type, "application/json");
    json_t *echo = s_json (&response);
    assert_string_equal (json_string_value (json_object_get (echo, "method")), "GET");
    assert_string_equal (json_string_value (json_object_get (echo, "path")), "/v1/projects/p/jobs");
    //  '=' and '&' inside a value survive the trip to the core.
    assert_string_equal (json_string_value (json_object_get (echo, "filter")),
                         "state=RUNNING AND a&b");
    assert_string_equal (json_string_value (json_object_get (echo, "pageSize")), "10");
    assert_string_equal (json_string_value (json_object_get (echo, "flag")), "");
    assert_true (json_is_null (json_object_get (echo, "absent")));
    assert_string_equal (json_string_value (json_object_get (echo, "authorization")),
                         "Bearer t0k3n");
    //  The core learns who asks: a loopback client, and the Host it named.
    assert_string_equal (json_string_value (json_object_get (echo, "client")), "loopback");
    assert_non_null (strstr (json_string_value (json_object_get (echo, "host")), "127.0.0.1:"));
    assert_int_equal (json_integer_value (json_object_get (echo, "body_size")), 0);
    json_decref (echo);
    s_response_free (&response);
}

static void
test_post_and_delete_with_body (void **state)
{
    fixture_t *fixture = *state;
    const char *job = "{\"jobId\": \"j1\", \"trainingInput\": {\"scaleTier\": \"BASIC\"}}";
    s_response_t response = s_http (fixture->port, "POST", "/v1/projects/p/jobs?x=1", job);
    assert_int_equal (response.status, 200);
    json_t *echo = s_json (&response);
    assert_string_equal (json_string_value (json_object_get (echo, "method")), "POST");
    assert_string_equal (json_string_value (json_object_get (echo, "body")), job);
    json_decref (echo);
    s_response_free (&response);

    response = s_http (fixture->port, "DELETE", "/v1/projects/p/jobs/j1", NULL);
    assert_int_equal (response.status, 200);
    echo = s_json (&response);
    assert_string_equal (json_string_value (json_object_get (echo, "method")), "DELETE");
    assert_string_equal (json_string_value (json_object_get (echo, "path")),
                         "/v1/projects/p/jobs/j1");
    json_decref (echo);
    s_response_free (&response);

    //  A body of exactly the limit is accepted.
    char *big = malloc (HPT_API_MAX_BODY);
    memset (big, 'a', HPT_API_MAX_BODY);
    response = s_http_ex (fixture->port, "POST", "/big", big, HPT_API_MAX_BODY, 0, false);
    assert_int_equal (response.status, 200);
    echo = s_json (&response);
    assert_int_equal (json_integer_value (json_object_get (echo, "body_size")), HPT_API_MAX_BODY);
    json_decref (echo);
    s_response_free (&response);
    free (big);
}

static void
test_not_found_passes_through (void **state)
{
    fixture_t *fixture = *state;
    s_response_t response = s_http (fixture->port, "GET", "/missing/thing", NULL);
    assert_int_equal (response.status, 404);
    s_assert_google_error (&response, 404, "NOT_FOUND");
    assert_non_null (strstr (response.body, "Job missing not found"));
    s_response_free (&response);
}

static void
test_oversized_body_is_413 (void **state)
{
    fixture_t *fixture = *state;
    size_t size = HPT_API_MAX_BODY + 1;
    char *big = malloc (size);
    memset (big, 'a', size);
    //  A client waiting for "100 Continue" is refused before it sends.
    s_response_t response =
        s_http_ex (fixture->port, "POST", "/v1/projects/p/jobs", big, size, 0, true);
    assert_int_equal (response.status, 413);
    s_assert_google_error (&response, 413, "INVALID_ARGUMENT");
    s_response_free (&response);
    //  A client sending at once still reads its 413 (no reset mid-body).
    response = s_http_ex (fixture->port, "POST", "/v1/projects/p/jobs", big, size, 0, false);
    assert_int_equal (response.status, 413);
    s_assert_google_error (&response, 413, "INVALID_ARGUMENT");
    s_response_free (&response);
    free (big);

    //  Without a Content-Length the limit holds while the body streams.
    response = s_http_ex (fixture->port, "POST", "/v1/projects/p/jobs", NULL, 0, 3 * size, true);
    assert_int_equal (response.status, 413);
    s_assert_google_error (&response, 413, "INVALID_ARGUMENT");
    s_response_free (&response);

    //  The server is still fine.
    response = s_http (fixture->port, "GET", "/after", NULL);
    assert_int_equal (response.status, 200);
    s_response_free (&response);
}

static void
test_silent_core_is_503_then_recovers (void **state)
{
    fixture_t *fixture = *state;
    hpt_api_set_timeout (fixture->api, 300);
    s_response_t response = s_http (fixture->port, "GET", "/silent", NULL);
    assert_int_equal (response.status, 503);
    s_assert_google_error (&response, 503, "UNAVAILABLE");
    assert_true (response.seconds >= 0.25);
    assert_true (response.seconds < 3.0);
    s_response_free (&response);

    //  The REQ socket was replaced, so the next request goes through.
    response = s_http (fixture->port, "GET", "/echo", NULL);
    assert_int_equal (response.status, 200);
    s_response_free (&response);
}

//  A client stuck on a silent core, in its own thread.
typedef struct {
    uint16_t port; //  API port
    long status;   //  what the client got (0 = connection closed)
} s_client_t;

static void *
s_client_thread (void *args)
{
    s_client_t *client = args;
    char url[64];
    snprintf (url, sizeof (url), "http://127.0.0.1:%u/silent", client->port);
    CURL *curl = curl_easy_init ();
    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_discard);
    if (curl_easy_perform (curl) == CURLE_OK)
        curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &client->status);
    curl_easy_cleanup (curl);
    return NULL;
}

static void
test_destroy_does_not_wait_for_the_core (void **state)
{
    fixture_t *fixture = *state;
    //  With the default 10 s timeout, destroy must still be prompt.
    s_client_t client = {fixture->port, -1};
    pthread_t thread;
    assert_int_equal (pthread_create (&thread, NULL, s_client_thread, &client), 0);
    zclock_sleep (300); //  the request is now waiting for the core
    int64_t start = zclock_mono ();
    hpt_api_destroy (&fixture->api);
    int64_t elapsed = zclock_mono () - start;
    pthread_join (thread, NULL);
    assert_true (elapsed < 2000);
    //  The waiting client got an answer (503) or a closed connection.
    assert_true (client.status == 503 || client.status == -1);
}

static void
test_no_core_is_503 (void **state)
{
    hpt_error_t error;
    hpt_api_t *api = hpt_api_new ("127.0.0.1:0", "inproc://test-api-nobody", NULL, &error);
    assert_non_null (api);
    hpt_api_set_timeout (api, 200);
    s_response_t response = s_http (hpt_api_port (api), "GET", "/v1/nodes", NULL);
    assert_int_equal (response.status, 503);
    s_assert_google_error (&response, 503, "UNAVAILABLE");
    s_response_free (&response);
    hpt_api_destroy (&api);
}

static void
test_malformed_reply_is_500 (void **state)
{
    fixture_t *fixture = *state;
    s_response_t response = s_http (fixture->port, "GET", "/malformed", NULL);
    assert_int_equal (response.status, 500);
    s_assert_google_error (&response, 500, "INTERNAL");
    s_response_free (&response);
}

static void
test_bad_method_is_501 (void **state)
{
    fixture_t *fixture = *state;
    const char *methods[] = {"PUT", "OPTIONS", "TRACE"};
    for (size_t i = 0; i < 3; i++) {
        s_response_t response = s_http (fixture->port, methods[i], "/v1/projects/p/jobs", "{}");
        assert_int_equal (response.status, 501);
        s_assert_google_error (&response, 501, "UNIMPLEMENTED");
        assert_non_null (response.allow);
        assert_non_null (strstr (response.allow, "PATCH"));
        s_response_free (&response);
    }
    //  A big body sent at once is drained, so the client reads the 501.
    size_t size = 200 * 1000;
    char *body = malloc (size);
    memset (body, 'b', size);
    s_response_t response = s_http_ex (fixture->port, "PUT", "/x", body, size, 0, false);
    assert_int_equal (response.status, 501);
    s_assert_google_error (&response, 501, "UNIMPLEMENTED");
    s_response_free (&response);
    free (body);
}

static void
test_error_json_shape (void **state)
{
    char *text = hpt_api_error_json (400, "bad spec", NULL);
    json_t *root = json_loads (text, 0, NULL);
    json_t *error = json_object_get (root, "error");
    assert_int_equal (json_integer_value (json_object_get (error, "code")), 400);
    assert_string_equal (json_string_value (json_object_get (error, "status")), "INVALID_ARGUMENT");
    assert_string_equal (json_string_value (json_object_get (error, "message")), "bad spec");
    assert_null (json_object_get (error, "details"));
    json_decref (root);
    free (text);

    struct {
        int code;
        const char *status;
    } names[] = {{404, "NOT_FOUND"}, {409, "ALREADY_EXISTS"}, {413, "INVALID_ARGUMENT"},
                 {500, "INTERNAL"},  {503, "UNAVAILABLE"},    {401, "UNAUTHENTICATED"},
                 {418, "UNKNOWN"}};
    for (size_t i = 0; i < sizeof (names) / sizeof (names[0]); i++) {
        text = hpt_api_error_json (names[i].code, "m", NULL);
        root = json_loads (text, 0, NULL);
        assert_string_equal (
            json_string_value (json_object_get (json_object_get (root, "error"), "status")),
            names[i].status);
        json_decref (root);
        free (text);
    }

    //  One object of details becomes a one-element list; a list stays.
    json_t *violation =
        json_pack ("{s:s, s:[{s:s, s:s}]}", "@type", "type.googleapis.com/google.rpc.BadRequest",
                   "fieldViolations", "field", "/trainingInput/hyperparameters/maxTrials",
                   "description", "must be positive");
    text = hpt_api_error_json_status (400, "FAILED_PRECONDITION", "bad \xff byte", violation);
    root = json_loads (text, 0, NULL);
    assert_non_null (root);
    error = json_object_get (root, "error");
    assert_string_equal (json_string_value (json_object_get (error, "status")),
                         "FAILED_PRECONDITION");
    assert_string_equal (json_string_value (json_object_get (error, "message")), "bad ? byte");
    json_t *details = json_object_get (error, "details");
    assert_int_equal (json_array_size (details), 1);
    assert_true (json_equal (json_array_get (details, 0), violation));
    json_decref (root);
    free (text);
    json_t *list = json_pack ("[o]", violation); //  steals violation
    text = hpt_api_error_json (400, "m", list);
    root = json_loads (text, 0, NULL);
    assert_true (json_equal (json_object_get (json_object_get (root, "error"), "details"), list));
    json_decref (root);
    json_decref (list);
    free (text);
}

static void
test_listen_addresses (void **state)
{
    const char *bad[] = {"nonsense", "127.0.0.1:99999", "127.0.0.1:", "::1:80",
                         "[::1]80",  "127.0.0.1:8x",    "[]:80"};
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++) {
        hpt_error_t error;
        hpt_api_t *api = hpt_api_new (bad[i], "inproc://x", NULL, &error);
        assert_null (api);
        assert_int_equal (error.code, HPT_E_INVALID);
        assert_non_null (strstr (error.message, "listen address"));
    }
    hpt_error_t error;
    assert_null (hpt_api_new ("127.0.0.1:0", NULL, NULL, &error));
    assert_int_equal (error.code, HPT_E_INVALID);
    assert_non_null (strstr (error.message, "no core endpoint"));

    //  A port in use is a clear error, not a crash.
    hpt_api_t *first = hpt_api_new ("127.0.0.1:0", "inproc://x", NULL, NULL);
    assert_non_null (first);
    char address[64];
    snprintf (address, sizeof (address), "127.0.0.1:%u", hpt_api_port (first));
    assert_null (hpt_api_new (address, "inproc://x", NULL, &error));
    assert_int_equal (error.code, HPT_E_UNAVAILABLE);
    assert_non_null (strstr (error.message, "cannot listen"));
    hpt_api_destroy (&first);

    //  IPv6 loopback in brackets (this machine has ::1).
    hpt_api_t *v6 = hpt_api_new ("[::1]:0", "inproc://test-api-nobody", NULL, &error);
    if (!v6) fail_msg ("[::1]:0: %s", error.message);
    assert_true (hpt_api_port (v6) > 0);
    hpt_api_destroy (&v6);
}

static void
test_request_recv_rejects_bad_frames (void **state)
{
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    assert_int_equal (zsock_bind (router, "inproc://test-api-frames"), 0);
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    assert_int_equal (zsock_connect (dealer, "inproc://test-api-frames"), 0);
    zsock_set_rcvtimeo (router, 2000);

    //  Too few frames.
    zstr_sendx (dealer, "", "GET", "/x", NULL);
    assert_null (hpt_api_request_recv (router));
    //  A method the API never forwards.
    zstr_sendx (dealer, "", "PUT", "/x", "", "", "", "loopback", "", "", "", "", "", NULL);
    assert_null (hpt_api_request_recv (router));
    //  A path that is not a path.
    zstr_sendx (dealer, "", "GET", "x", "", "", "", "loopback", "", "", "", "", "", NULL);
    assert_null (hpt_api_request_recv (router));
    //  The frames of the contract before the session and If-None-Match.
    zstr_sendx (dealer, "", "GET", "/x", "", "", "", "loopback", "", "", "", NULL);
    assert_null (hpt_api_request_recv (router));
    //  A good one, with an odd query.
    zstr_sendx (dealer, "", "GET", "/x", "a=1&&b&c=%zz&d=%41%42", "body", "", "loopback", "h:1", "",
                "application/json", "sid", "\"e1\"", NULL);
    hpt_api_request_t *request = hpt_api_request_recv (router);
    assert_non_null (request);
    assert_string_equal (hpt_api_request_client (request), "loopback");
    assert_string_equal (hpt_api_request_host (request), "h:1");
    assert_string_equal (hpt_api_request_origin (request), "");
    assert_string_equal (hpt_api_request_content_type (request), "application/json");
    assert_string_equal (hpt_api_request_session (request), "sid");
    assert_string_equal (hpt_api_request_if_none_match (request), "\"e1\"");
    assert_string_equal (hpt_api_request_param (request, "a"), "1");
    assert_string_equal (hpt_api_request_param (request, "b"), "");
    assert_string_equal (hpt_api_request_param (request, "c"), "%zz");
    assert_string_equal (hpt_api_request_param (request, "d"), "AB");
    assert_null (hpt_api_request_param (request, "e"));
    assert_string_equal (hpt_api_request_body (request), "body");
    assert_int_equal (hpt_api_request_body_size (request), 4);
    assert_int_equal (hpt_api_reply (router, hpt_api_request_routing_id (request), 99, NULL, ""),
                      -1);
    assert_int_equal (hpt_api_reply (router, hpt_api_request_routing_id (request), 201, NULL, "{}"),
                      0);
    hpt_api_request_destroy (&request);
    assert_null (request);
    zsock_set_rcvtimeo (dealer, 2000);
    char *delimiter, *status, *type, *body;
    assert_int_equal (zstr_recvx (dealer, &delimiter, &status, &type, &body, NULL), 4);
    assert_string_equal (status, "201");
    assert_string_equal (type, "");
    assert_string_equal (body, "{}");
    zstr_free (&delimiter);
    zstr_free (&status);
    zstr_free (&type);
    zstr_free (&body);
    zsock_destroy (&dealer);
    zsock_destroy (&router);
}

int
main (void)
{
    curl_global_init (CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_get_round_trip_with_query, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_post_and_delete_with_body, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_not_found_passes_through, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_oversized_body_is_413, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_silent_core_is_503_then_recovers, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_destroy_does_not_wait_for_the_core, s_setup,
                                         s_teardown),
        cmocka_unit_test (test_no_core_is_503),
        cmocka_unit_test_setup_teardown (test_malformed_reply_is_500, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_bad_method_is_501, s_setup, s_teardown),
        cmocka_unit_test (test_error_json_shape),
        cmocka_unit_test (test_listen_addresses),
        cmocka_unit_test (test_request_recv_rejects_bad_frames),
    };
    int failed = cmocka_run_group_tests (tests, NULL, NULL);
    curl_global_cleanup ();
    return failed;
}
