/*  hpt_routes -- the master's REST API (AI Platform's paths)

    Every request passes hpt_routes_handle's guard before its handler:
    1. browser protections: the Host header must name this master
       (master.apiHostNames), so a DNS-rebinding page cannot reach it; a
       POST must be application/json and must not come from another
       Origin, so a page the user visits cannot submit or cancel;
    2. the caller (hpt_auth): 401 without a valid token once users exist;
    3. the right the route takes (read, submit, own job, admin): 403.
    The web console's browsers sign in once (POST /v1/auth/session with a
    token) and then send a session cookie (hpt_session.h) instead of the
    token; a request that authenticates by that cookie must also, to
    change anything, come from this very origin (Origin equal to the
    scheme and Host it was sent to), besides being application/json: a
    cookie is sent by the browser on its own, so without these checks a
    page of another site could act with the user's session (CSRF).
    Refusals are logged with the caller and route; every POST and DELETE,
    refused or not, goes into the audit trail. A Job shows its env values
    only to its owner and admins.
 */
#include "hpt_routes.h"
#include "hpt_alloc.h"
#include "hpt_log.h"
#include "hpt_auth.h"
#include "hpt_filter.h"
#include "hpt_insight.h"
#include "hpt_job_reader.h"
#include "hpt_json.h"
#include "hpt_page.h"
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Log entries returned per request at most, so one answer stays small.
#define S_LOG_PAGE_BYTES (256 * 1024)

//  The request being answered: the loop answers one at a time, and these
//  are set by hpt_routes_handle for its handlers (who asks) and by the
//  replies (what was answered, for the audit trail).
static hpt_caller_t s_caller;
static int s_status;
//  The request authenticates by the console's session cookie.
static bool s_by_cookie;

//  A Job resource as the caller may see it: env values only for the
//  job's owner and admins (others see the names, "<redacted>").
static json_t *
s_visible (json_t *job, const char *owner)
{
    if (hpt_auth_sees_secrets (&s_caller, owner)) return job;
    json_t *env = json_object_get (json_object_get (job, "trainingInput"), "env");
    const char *key;
    json_t *value;
    json_object_foreach (env, key, value) {
        json_object_set_new (env, key, json_string ("<redacted>"));
    }
    return job;
}

static json_t *
s_job_json (hpt_core_t *core, hpt_tuner_t *tuner, bool with_trials, bool *complete)
{
    return s_visible (hpt_tuner_to_json (tuner, hpt_core_store (core), with_trials, complete),
                      hpt_tuner_owner (tuner));
}

//  Lists (jobs, nodes): pageSize when none is given is Google's for
//  projects.jobs.list (20); Google caps it at 100, hpt at 1000.
#define S_LIST_PAGE 20
#define S_LIST_PAGE_MAX 1000

//  A trial's metric points per page: by default as many as allMetrics
//  shows, at most ten times that (about 1 MB of JSON).
#define S_METRICS_PAGE HPT_TUNER_ALL_METRICS
#define S_METRICS_PAGE_MAX (10 * HPT_TUNER_ALL_METRICS)

static void
s_reply_json (zsock_t *router, hpt_api_request_t *request, int status, json_t *body)
{
    s_status = status;
    char *text = hpt_json_dumps (body, true);
    hpt_api_reply (router, hpt_api_request_routing_id (request), status, NULL, text);
    free (text);
    json_decref (body);
}

static void
s_reply_error (zsock_t *router, hpt_api_request_t *request, int status, const char *status_name,
               const char *message, json_t *details)
{
    char *text = status_name ? hpt_api_error_json_status (status, status_name, message, details)
                             : hpt_api_error_json (status, message, details);
    s_status = status;
    hpt_api_reply (router, hpt_api_request_routing_id (request), status, NULL, text);
    free (text);
}

//  An hpt_error as Google's error shape, with the status its code maps to.
static void
s_reply_failure (zsock_t *router, hpt_api_request_t *request, const hpt_error_t *error)
{
    s_reply_error (router, request, hpt_error_http_status (error->code),
                   hpt_error_code_name (error->code), error->message, NULL);
}

//  Splits path into at most max segments at '/' (in place, in a copy the
//  caller frees). Returns the number of segments.
static size_t
s_split (const char *path, char **copy, char **segments, size_t max)
{
    *copy = hpt_strdup (path);
    size_t n = 0;
    char *save = NULL;
    for (char *seg = strtok_r (*copy, "/", &save); seg && n < max;
         seg = strtok_r (NULL, "/", &save))
        segments[n++] = seg;
    return n;
}

//  "name:verb" -> name, verb (in place). verb is NULL without a colon.
static char *
s_verb (char *segment)
{
    char *colon = strchr (segment, ':');
    if (!colon) return NULL;
    *colon = '\0';
    return colon + 1;
}

//  ---------------------------------------------------------------------
//  Jobs

//  400 INVALID_ARGUMENT with every problem of a request body as Google's
//  BadRequest fieldViolations; the message names the first problem's field
//  as the violations do (Google's field path). Destroys diag.
static void
s_reply_invalid (zsock_t *router, hpt_api_request_t *request, const char *what, hpt_diag_t **diag_p)
{
    hpt_diag_t *diag = *diag_p;
    const hpt_diag_entry_t *entry = hpt_diag_entry (diag, 0);
    char *first = entry && *entry->field ? hpt_asprintf ("%s: %s", entry->field, entry->message)
                                         : hpt_diag_format (diag, 0);
    char *message =
        hpt_asprintf ("Invalid %s: %zu problem%s; first: %s", what, hpt_diag_count (diag),
                      hpt_diag_count (diag) == 1 ? "" : "s", first ? first : "");
    json_t *details = hpt_diag_to_json (diag);
    s_reply_error (router, request, 400, NULL, message, details);
    json_decref (details);
    free (message);
    free (first);
    hpt_diag_destroy (diag_p);
}

static void
s_submit (hpt_core_t *core, zsock_t *router, hpt_api_request_t *request, const char *project)
{
    hpt_diag_t *diag = hpt_diag_new ("request", true);
    hpt_job_t *job = hpt_job_read_text (hpt_api_request_body (request),
                                        hpt_api_request_body_size (request), HPT_CONFIG_JSON, diag);
    if (job && !job->job_id)
        hpt_diag_add (diag, 0, 0, "jobId", "/jobId", "job_id", "required field is missing");
    //  What needs no cluster is checked here, as `hpt validate` does.
    if (job && (!hpt_job_check_submission (job, false, diag) || !job->job_id))
        hpt_job_destroy (&job);
    if (!job) {
        s_reply_invalid (router, request, "job", &diag);
        return;
    }
    hpt_diag_destroy (&diag);
    hpt_error_t error;
    //  A job belongs to the user who submitted it; callers trusted by where
    //  they are (socket, loopback without users) own nothing.
    bool user = strcmp (s_caller.name, "socket") != 0 && strcmp (s_caller.name, "loopback") != 0 &&
                strcmp (s_caller.name, "anonymous") != 0;
    hpt_tuner_t *tuner = hpt_core_submit (core, job, project, user ? s_caller.name : NULL, &error);
    if (!tuner) {
        s_reply_failure (router, request, &error);
        return;
    }
    s_reply_json (router, request, 200, s_job_json (core, tuner, true, NULL));
}

//  The members of a Job a list's filter may name (docs/interfaces.md,
//  "Filters"); state only with a job state's spelling.
static hpt_filter_t *
s_job_filter (const char *text, hpt_error_t *error)
{
    static const char *states[HPT_JOB_CANCELLED + 2];
    for (int i = 0; i <= HPT_JOB_CANCELLED; i++)
        states[i] = hpt_job_state_name ((hpt_job_state_t)i);
    static const hpt_filter_field_t fields[] = {
        {"jobId", NULL},          {"state", states},   {"labels", NULL},
        {"createTime", NULL},     {"startTime", NULL}, {"endTime", NULL},
        {"errorMessage", NULL},   {"etag", NULL},      {"trainingInput", NULL},
        {"trainingOutput", NULL}, {"createdBy", NULL}, {"hptQueueReason", NULL},
    };
    return hpt_filter_new (text, fields, sizeof (fields) / sizeof (fields[0]), error);
}

//  pageSize and pageToken of a list request: the size, and the position
//  to continue after (NULL: the first page). -1 with *error when either
//  is not valid.
static int
s_page_args (hpt_api_request_t *request, const char *kind, const char *shape, size_t default_size,
             size_t max_size, size_t *size, json_t **after, hpt_error_t *error)
{
    if (hpt_page_size (hpt_api_request_param (request, "pageSize"), "pageSize", default_size,
                       max_size, size, error))
        return -1;
    return hpt_page_position (hpt_api_request_param (request, "pageToken"), kind, shape, after,
                              error);
}

//  Jobs in submission order, a page at a time; the token holds the seq
//  of the last job returned. The filter applies before paging, so a page
//  is full unless it is the last.
static void
s_list (hpt_core_t *core, zsock_t *router, hpt_api_request_t *request, const char *project)
{
    size_t size;
    json_t *after = NULL;
    hpt_error_t error;
    if (s_page_args (request, "jobs", "i", S_LIST_PAGE, S_LIST_PAGE_MAX, &size, &after, &error)) {
        s_reply_failure (router, request, &error);
        return;
    }
    int64_t after_seq = after ? json_integer_value (json_array_get (after, 0)) : 0;
    json_decref (after);
    size_t count;
    hpt_tuner_t **tuners = hpt_core_jobs (core, &count);
    hpt_filter_t *filter = s_job_filter (hpt_api_request_param (request, "filter"), &error);
    if (!filter) {
        s_reply_failure (router, request, &error);
        return;
    }
    json_t *jobs = json_array ();
    int64_t last_seq = 0;
    bool more = false;
    for (size_t i = 0; i < count && !more; i++) {
        if (hpt_tuner_seq (tuners[i]) <= after_seq) continue;
        if (strcmp (hpt_tuner_project (tuners[i]), project) != 0) continue;
        //  The filter sees what the caller may see: no env values of
        //  others' jobs to probe.
        json_t *job = s_job_json (core, tuners[i], false, NULL);
        if (!hpt_filter_match (filter, job))
            json_decref (job);
        else if (json_array_size (jobs) == size) {
            json_decref (job);
            more = true;
        } else {
            json_array_append_new (jobs, job);
            last_seq = hpt_tuner_seq (tuners[i]);
        }
    }
    hpt_filter_destroy (&filter);
    json_t *body = json_object ();
    json_object_set_new (body, "jobs", jobs);
    if (more) {
        json_t *position = json_pack ("[I]", (json_int_t)last_seq);
        char *token = hpt_page_token ("jobs", position);
        json_object_set_new (body, "nextPageToken", json_string (token));
        free (token);
        json_decref (position);
    }
    s_reply_json (router, request, 200, body);
}

//  The Job with its trials: rendered once per version of the job and
//  kept, so a client polling an unchanged job costs the loop a copy. Who
//  may see env values and who may not get different texts, so each is
//  cached under its own key.
//  The Job's HTTP ETag: its etag, and whether env values were left out
//  (the two renderings of one version differ).
static char *
s_job_http_etag (hpt_tuner_t *tuner, bool secrets)
{
    char etag[32];
    hpt_tuner_etag (tuner, etag, sizeof (etag));
    return hpt_asprintf ("\"%s%s\"", etag, secrets ? "" : "-redacted");
}

//  Whether an If-None-Match header names etag (quoted; "*" or W/ too).
static bool
s_etag_matches (const char *header, const char *etag)
{
    if (!*header) return false;
    if (strcmp (header, "*") == 0) return true;
    const char *found = strstr (header, etag);
    return found != NULL;
}

static void
s_get_job (hpt_core_t *core, zsock_t *router, hpt_api_request_t *request, hpt_tuner_t *tuner)
{
    hpt_textcache_t *answers = hpt_core_answers (core);
    uint64_t version = hpt_tuner_version (tuner);
    bool secrets = hpt_auth_sees_secrets (&s_caller, hpt_tuner_owner (tuner));
    char *etag = s_job_http_etag (tuner, secrets);
    char *headers = hpt_asprintf ("ETag: %s\nCache-Control: private, no-cache", etag);
    zframe_t *id = hpt_api_request_routing_id (request);
    //  A client polling an unchanged job gets 304 and no body: the
    //  console's live job page polls like this.
    if (s_etag_matches (hpt_api_request_if_none_match (request), etag)) {
        s_status = 304;
        hpt_api_reply_with (router, id, 304, NULL, "", headers);
        free (headers);
        free (etag);
        return;
    }
    free (etag);
    char *key = hpt_asprintf ("%s%s", hpt_tuner_id (tuner), secrets ? "" : "\n<redacted>");
    const char *cached = hpt_textcache_get (answers, key, version);
    s_status = 200;
    hpt_error_t error;
    if (cached)
        hpt_api_reply_with (router, id, 200, NULL, cached, headers);
    else if (hpt_core_readmit (core, tuner, &error) != 0)
        s_reply_failure (router, request, &error);
    else {
        bool complete;
        json_t *frame = s_job_json (core, tuner, false, NULL);
        char *text = hpt_tuner_job_text (tuner, hpt_core_store (core), frame, &complete);
        json_decref (frame);
        hpt_api_reply_with (router, id, 200, NULL, text, headers);
        //  Points the store could not read this time must not stick.
        if (complete)
            hpt_textcache_put (answers, key, version, text);
        else
            free (text);
    }
    free (headers);
    free (key);
}

//  ?tail=N: the last N entries (1..S_LOG_TAIL_MAX) of a trial (and task,
//  stream), read backwards from the end of the log, at most
//  S_LOG_TAIL_SCAN bytes of it.
#define S_LOG_TAIL_MAX 1000
#define S_LOG_TAIL_SCAN (16 * 1024 * 1024)

static void
s_logs (hpt_core_t *core, zsock_t *router, hpt_api_request_t *request, hpt_tuner_t *tuner)
{
    const char *after = hpt_api_request_param (request, "after");
    const char *tail = hpt_api_request_param (request, "tail");
    const char *trial = hpt_api_request_param (request, "trial");
    json_t *body;
    if (tail) {
        size_t lines;
        hpt_error_t error;
        if (hpt_page_size (tail, "tail", 100, S_LOG_TAIL_MAX, &lines, &error)) {
            s_reply_failure (router, request, &error);
            return;
        }
        body = hpt_joblog_tail (hpt_core_joblog (core), hpt_tuner_id (tuner), trial,
                                hpt_api_request_param (request, "task"),
                                hpt_api_request_param (request, "stream"), lines, S_LOG_TAIL_SCAN);
    } else
        body = hpt_joblog_read (hpt_core_joblog (core), hpt_tuner_id (tuner),
                                after && *after ? strtoll (after, NULL, 10) : 0, trial,
                                S_LOG_PAGE_BYTES);
    json_object_set_new (body, "jobState",
                         json_string (hpt_job_state_name (hpt_tuner_state (tuner))));
    s_reply_json (router, request, 200, body);
}

//  A point's value from a page token back to the double the store
//  compares: a number, or the text a non-finite value is stored as.
static double
s_value_number (json_t *value)
{
    const char *text = json_string_value (value);
    if (!text) return json_number_value (value);
    return strcmp (text, "NaN") == 0 ? NAN : text[0] == '-' ? -INFINITY : INFINITY;
}

//  One stored point as the metrics route shows it.
static json_t *
s_point_json (json_t *row)
{
    json_t *point = json_object ();
    json_object_set (point, "tag", json_object_get (row, "tag"));
    char step[32], time[40];
    snprintf (step, sizeof (step), "%" PRId64,
              (int64_t)json_integer_value (json_object_get (row, "step")));
    json_object_set_new (point, "trainingStep", json_string (step));
    json_object_set (point, "value", json_object_get (row, "value"));
    double seconds = json_number_value (json_object_get (row, "time"));
    json_object_set_new (
        point, "time",
        json_string (hpt_time_format ((int64_t)llround (seconds * 1000.0), time, sizeof (time))));
    json_object_set (point, "taskId", json_object_get (row, "task_id"));
    return point;
}

//  The page token after row: the query it belongs to (job, trial, tag
//  asked for) and the row's key.
static char *
s_metrics_token (hpt_tuner_t *tuner, int64_t trial_id, const char *tag, json_t *row)
{
    json_t *position = json_pack ("[s, I, s?, O, O, O, O, O]", hpt_tuner_id (tuner),
                                  (json_int_t)trial_id, tag, json_object_get (row, "tag"),
                                  json_object_get (row, "step"), json_object_get (row, "time"),
                                  json_object_get (row, "value"), json_object_get (row, "task_id"));
    char *token = hpt_page_token ("metrics", position);
    json_decref (position);
    return token;
}

//  The cursor a metrics page token holds, checked against the query:
//  a token of another job, trial or tag is refused rather than read
//  as a position in this one. 0 with *has_cursor false for the first
//  page.
static int
s_metrics_cursor (hpt_api_request_t *request, hpt_tuner_t *tuner, int64_t trial_id, const char *tag,
                  json_t **position, hpt_store_metric_t *cursor, hpt_error_t *error)
{
    if (hpt_page_position (hpt_api_request_param (request, "pageToken"), "metrics", "siSsinvs",
                           position, error))
        return -1;
    if (!*position) return 0;
    json_t *p = *position;
    const char *asked = json_string_value (json_array_get (p, 2));
    if (strcmp (json_string_value (json_array_get (p, 0)), hpt_tuner_id (tuner)) != 0 ||
        json_integer_value (json_array_get (p, 1)) != trial_id ||
        (asked ? !tag || strcmp (asked, tag) != 0 : tag != NULL))
        return hpt_error_set (error, HPT_E_INVALID,
                              "pageToken belongs to another query; send the same job, trial "
                              "and tag as for the page it came from");
    *cursor = (hpt_store_metric_t){
        .tag = json_string_value (json_array_get (p, 3)),
        .step = json_integer_value (json_array_get (p, 4)),
        .time = json_number_value (json_array_get (p, 5)),
        .value = s_value_number (json_array_get (p, 6)),
        .task_id = json_string_value (json_array_get (p, 7)),
    };
    return 0;
}

//  hpt extension: every point a trial reported (of one tag with ?tag=),
//  a page at a time in (tag, step, time) order, continuing after the
//  last point of the previous page (keyset: no OFFSET, however deep).
static void
s_trial_metrics (hpt_core_t *core, zsock_t *router, hpt_api_request_t *request, hpt_tuner_t *tuner,
                 int64_t trial_id)
{
    const char *tag = hpt_api_request_param (request, "tag");
    if (tag && !*tag) tag = NULL;
    size_t size;
    json_t *position = NULL;
    hpt_store_metric_t cursor;
    hpt_error_t error;
    json_t *rows = NULL;
    int rc = hpt_page_size (hpt_api_request_param (request, "pageSize"), "pageSize", S_METRICS_PAGE,
                            S_METRICS_PAGE_MAX, &size, &error);
    if (rc == 0) rc = s_metrics_cursor (request, tuner, trial_id, tag, &position, &cursor, &error);
    //  One more than the page tells whether another page follows.
    if (rc == 0)
        rc = hpt_store_metrics_page (hpt_core_store (core), hpt_tuner_id (tuner), trial_id, tag,
                                     position ? &cursor : NULL, size + 1, &rows, &error);
    json_decref (position);
    if (rc != 0) {
        s_reply_failure (router, request, &error);
        return;
    }
    json_t *metrics = json_array ();
    for (size_t i = 0; i < json_array_size (rows) && i < size; i++)
        json_array_append_new (metrics, s_point_json (json_array_get (rows, i)));
    json_t *body = json_object ();
    json_object_set_new (body, "metrics", metrics);
    if (json_array_size (rows) > size) {
        char *token = s_metrics_token (tuner, trial_id, tag, json_array_get (rows, size - 1));
        json_object_set_new (body, "nextPageToken", json_string (token));
        free (token);
    }
    json_decref (rows);
    s_reply_json (router, request, 200, body);
}

//  hpt extension: the tags a trial reported.
static void
s_trial_tags (hpt_core_t *core, zsock_t *router, hpt_api_request_t *request, hpt_tuner_t *tuner,
              int64_t trial_id)
{
    json_t *tags = NULL;
    hpt_error_t error;
    if (hpt_store_metric_tags (hpt_core_store (core), hpt_tuner_id (tuner), trial_id, &tags,
                               &error)) {
        s_reply_failure (router, request, &error);
        return;
    }
    json_t *body = json_object ();
    json_object_set_new (body, "tags", tags);
    s_reply_json (router, request, 200, body);
}

//  hpt extension: one trial in detail, with its cluster (hpt_insight.h).
static void
s_trial_detail (hpt_core_t *core, zsock_t *router, hpt_api_request_t *request, hpt_tuner_t *tuner,
                int64_t trial_id)
{
    hpt_error_t error;
    json_t *body =
        hpt_insight_trial (core, tuner, hpt_tuner_trial (tuner, (size_t)trial_id - 1), &error);
    if (body)
        s_reply_json (router, request, 200, body);
    else
        s_reply_failure (router, request, &error);
}

//  .../jobs/J/trials/T (GET, hpt), .../trials/T/metrics and
//  .../metrics:tags (GET); what is NULL for the trial itself.
static void
s_trial_route (hpt_core_t *core, zsock_t *router, hpt_api_request_t *request, hpt_tuner_t *tuner,
               const char *trial, char *what)
{
    char *verb = what ? s_verb (what) : NULL;
    size_t digits = strspn (trial, "0123456789");
    int64_t id = digits && digits <= 18 && !trial[digits] ? strtoll (trial, NULL, 10) : 0;
    if (id < 1 || (uint64_t)id > hpt_tuner_trial_count (tuner)) {
        char *message = hpt_asprintf ("Trial %s not found in job %s", trial, hpt_tuner_id (tuner));
        s_reply_error (router, request, 404, NULL, message, NULL);
        free (message);
    } else if (strcmp (hpt_api_request_method (request), "GET") != 0 ||
               (what && strcmp (what, "metrics") != 0) || (verb && strcmp (verb, "tags") != 0))
        s_reply_error (router, request, 404, NULL, "no such method on a trial", NULL);
    else if (!what)
        s_trial_detail (core, router, request, tuner, id);
    else if (verb)
        s_trial_tags (core, router, request, tuner, id);
    else
        s_trial_metrics (core, router, request, tuner, id);
}

//  Which fields a jobs.patch changes: updateMask lists them, and Google
//  allows labels and etag only. With etag, the change is made only while
//  the job's etag is the one sent (else 409 ABORTED).
static int
s_update_mask (const char *mask, bool *check_etag, hpt_error_t *error)
{
    *check_etag = false;
    bool labels = false;
    char *copy = hpt_strdup (mask ? mask : "");
    char *rest = copy;
    int rc = 0;
    for (char *field = strsep (&rest, ","); field && rc == 0; field = strsep (&rest, ",")) {
        while (*field == ' ')
            field++;
        if (!*field) continue;
        if (strcmp (field, "labels") == 0)
            labels = true;
        else if (strcmp (field, "etag") == 0)
            *check_etag = true;
        else
            rc = hpt_error_set (error, HPT_E_INVALID,
                                "updateMask: '%.60s' cannot be updated (only labels and etag)",
                                field);
    }
    free (copy);
    if (rc == 0 && !labels)
        rc = hpt_error_set (error, HPT_E_INVALID,
                            "updateMask must name labels, the one field a patch changes "
                            "(updateMask=labels,etag)");
    return rc;
}

static void
s_patch_job (hpt_core_t *core, zsock_t *router, hpt_api_request_t *request, hpt_tuner_t *tuner)
{
    bool check_etag;
    hpt_error_t error;
    if (s_update_mask (hpt_api_request_param (request, "updateMask"), &check_etag, &error)) {
        s_reply_failure (router, request, &error);
        return;
    }
    hpt_diag_t *diag = hpt_diag_new ("request", true);
    char *etag = NULL;
    hpt_job_t *patch = hpt_job_read_patch (hpt_api_request_body (request),
                                           hpt_api_request_body_size (request), &etag, diag);
    if (!patch) {
        s_reply_invalid (router, request, "patch", &diag);
        return;
    }
    hpt_diag_destroy (&diag);
    if (check_etag && !etag)
        s_reply_error (router, request, 400, NULL,
                       "updateMask names etag, so the body must carry the etag read", NULL);
    else if (hpt_core_set_labels (core, tuner, patch, check_etag ? etag : NULL, &error) != 0)
        s_reply_failure (router, request, &error);
    else
        s_reply_json (router, request, 200, s_job_json (core, tuner, true, NULL));
    hpt_job_destroy (&patch);
    free (etag);
}

//  hpt extension: parameter importance, the early-stopping reference,
//  every trial's last value of every tag (hpt_insight.h).
static void
s_insights (hpt_core_t *core, zsock_t *router, hpt_api_request_t *request, hpt_tuner_t *tuner)
{
    hpt_error_t error;
    json_t *body = hpt_insight_job (tuner, hpt_core_store (core), &error);
    if (body)
        s_reply_json (router, request, 200, body);
    else
        s_reply_failure (router, request, &error);
}

static void
s_jobs (hpt_core_t *core, zsock_t *router, hpt_api_request_t *request, char **seg, size_t n)
{
    //  seg: v1 projects P jobs [J[:verb]] [logs | trials T metrics[:tags]]
    const char *method = hpt_api_request_method (request);
    const char *project = seg[2];
    if (n == 4) {
        if (strcmp (method, "POST") == 0)
            s_submit (core, router, request, project);
        else if (strcmp (method, "GET") == 0)
            s_list (core, router, request, project);
        else
            s_reply_error (router, request, 501, NULL,
                           "projects.jobs has create (POST) and list (GET) here", NULL);
        return;
    }
    char *verb = s_verb (seg[4]);
    hpt_tuner_t *tuner = hpt_core_job (core, seg[4]);
    if (!tuner || strcmp (hpt_tuner_project (tuner), project) != 0) {
        char *message = hpt_asprintf ("Job %s not found in project %s", seg[4], project);
        s_reply_error (router, request, 404, NULL, message, NULL);
        free (message);
        return;
    }
    //  A finished job's trials may be evicted: read them back for what
    //  shows them. A GET does so only when its answer is not cached.
    bool get = n == 5 && !verb && strcmp (method, "GET") == 0;
    bool logs = n == 6 && !verb && strcmp (seg[5], "logs") == 0;
    bool cancel = verb && strcmp (verb, "cancel") == 0;
    hpt_error_t error;
    if (!get && !logs && !cancel && hpt_core_readmit (core, tuner, &error) != 0) {
        s_reply_failure (router, request, &error);
        return;
    }
    if (get)
        s_get_job (core, router, request, tuner);
    else if (n == 5 && !verb && strcmp (method, "PATCH") == 0)
        s_patch_job (core, router, request, tuner);
    else if (n == 5 && cancel && strcmp (method, "POST") == 0) {
        if (hpt_core_cancel (core, tuner, &error) != 0)
            s_reply_failure (router, request, &error);
        else
            s_reply_json (router, request, 200, json_object ());
    } else if (logs && strcmp (method, "GET") == 0)
        s_logs (core, router, request, tuner);
    else if (n == 6 && !verb && strcmp (seg[5], "insights") == 0 && strcmp (method, "GET") == 0)
        s_insights (core, router, request, tuner);
    else if ((n == 7 || n == 8) && !verb && strcmp (seg[5], "trials") == 0)
        s_trial_route (core, router, request, tuner, seg[6], n == 8 ? seg[7] : NULL);
    else if (n == 5)
        s_reply_error (router, request, 501, NULL,
                       "a job has get (GET), patch (PATCH) and :cancel (POST) here", NULL);
    else
        s_reply_error (router, request, 404, NULL, "no such method on a job", NULL);
}

//  ---------------------------------------------------------------------
//  Nodes

//  Nodes by name, a page at a time; the token holds the last name
//  returned.
static void
s_list_nodes (hpt_core_t *core, zsock_t *router, hpt_api_request_t *request)
{
    size_t size;
    json_t *after = NULL;
    hpt_error_t error;
    if (s_page_args (request, "nodes", "s", S_LIST_PAGE, S_LIST_PAGE_MAX, &size, &after, &error)) {
        s_reply_failure (router, request, &error);
        return;
    }
    const char *after_name = after ? json_string_value (json_array_get (after, 0)) : NULL;
    size_t count;
    hpt_host_t **nodes = hpt_core_nodes (core, &count);
    json_t *list = json_array ();
    const char *last = NULL;
    bool more = false;
    for (size_t i = 0; i < count && !more; i++) {
        if (after_name && strcmp (nodes[i]->name, after_name) <= 0) continue;
        if (json_array_size (list) == size)
            more = true;
        else {
            json_t *node = hpt_host_to_json (nodes[i]);
            hpt_insight_node_holders (core, nodes[i], node);
            json_array_append_new (list, node);
            last = nodes[i]->name;
        }
    }
    json_t *body = json_object ();
    json_object_set_new (body, "nodes", list);
    if (more) {
        json_t *position = json_pack ("[s]", last);
        char *token = hpt_page_token ("nodes", position);
        json_object_set_new (body, "nextPageToken", json_string (token));
        free (token);
        json_decref (position);
    }
    json_decref (after);
    s_reply_json (router, request, 200, body);
}

static void
s_nodes (hpt_core_t *core, zsock_t *router, hpt_api_request_t *request, char **seg, size_t n)
{
    const char *method = hpt_api_request_method (request);
    if (n == 2 && strcmp (method, "GET") == 0) {
        s_list_nodes (core, router, request);
        return;
    }
    if (n != 3) {
        s_reply_error (router, request, 404, NULL, "no such path", NULL);
        return;
    }
    char *verb = s_verb (seg[2]);
    hpt_host_t *node = hpt_core_node (core, seg[2]);
    if (!node) {
        char *message = hpt_asprintf ("Node %s not found", seg[2]);
        s_reply_error (router, request, 404, NULL, message, NULL);
        free (message);
        return;
    }
    if (!verb && strcmp (method, "DELETE") == 0) {
        hpt_error_t error;
        if (hpt_core_delete_node (core, node, &error) != 0)
            s_reply_failure (router, request, &error);
        else
            s_reply_json (router, request, 200, json_object ());
    } else if (!verb && strcmp (method, "GET") == 0) {
        json_t *body = hpt_host_to_json (node);
        hpt_insight_node_holders (core, node, body);
        json_object_set (body, "resources", node->resources);
        s_reply_json (router, request, 200, body);
    } else if (verb && strcmp (verb, "drain") == 0 && strcmp (method, "POST") == 0) {
        json_t *body = NULL;
        if (hpt_api_request_body_size (request) > 0) {
            body = json_loadb (hpt_api_request_body (request), hpt_api_request_body_size (request),
                               0, NULL);
            if (!json_is_object (body)) {
                json_decref (body);
                s_reply_error (router, request, 400, NULL,
                               "drain body must be a JSON object {reason, now, by}", NULL);
                return;
            }
        }
        const char *reason = json_string_value (json_object_get (body, "reason"));
        const char *by = json_string_value (json_object_get (body, "by"));
        bool now = json_is_true (json_object_get (body, "now"));
        hpt_error_t error;
        int rc = hpt_core_drain (core, node, reason, by, now, &error);
        json_decref (body);
        if (rc != 0)
            s_reply_failure (router, request, &error);
        else
            s_reply_json (router, request, 200, hpt_host_to_json (node));
    } else if (verb && strcmp (verb, "undrain") == 0 && strcmp (method, "POST") == 0) {
        hpt_error_t error;
        if (hpt_core_undrain (core, node, &error) != 0)
            s_reply_failure (router, request, &error);
        else
            s_reply_json (router, request, 200, hpt_host_to_json (node));
    } else
        s_reply_error (router, request, 404, NULL, "no such method on a node", NULL);
}

//  ---------------------------------------------------------------------
//  Prometheus metrics

static void
s_metrics (hpt_core_t *core, zsock_t *router, hpt_api_request_t *request)
{
    char *text = hpt_master_metrics_render (hpt_core_metrics (core), core);
    hpt_api_reply (router, hpt_api_request_routing_id (request), 200, "text/plain; version=0.0.4",
                   text);
    free (text);
}

//  ---------------------------------------------------------------------
//  Users, whoami, audit

static void
s_whoami (zsock_t *router, hpt_api_request_t *request)
{
    s_reply_json (
        router, request, 200,
        json_pack ("{s:s, s:s}", "name", s_caller.name, "role", hpt_role_name (s_caller.role)));
}

//  A new token for name with role, stored (hash only) before it is shown.
static void
s_issue_token (hpt_core_t *core, zsock_t *router, hpt_api_request_t *request, const char *name,
               hpt_role_t role)
{
    char token[HPT_AUTH_TOKEN_SIZE], hash[65];
    hpt_error_t error;
    if (hpt_auth_new_token (token, &error) != 0) {
        s_reply_failure (router, request, &error);
        return;
    }
    hpt_auth_hash (token, hash);
    if (hpt_core_put_user (core, name, role, hash, &error) != 0) {
        s_reply_failure (router, request, &error);
        return;
    }
    s_reply_json (
        router, request, 200,
        json_pack ("{s:s, s:s, s:s}", "name", name, "role", hpt_role_name (role), "token", token));
}

//  Whether the store has a user called name, with its role and whether
//  its token is revoked (revoked may be NULL).
static bool
s_find_user (hpt_core_t *core, const char *name, hpt_role_t *role, bool *revoked)
{
    json_t *users = NULL;
    bool found = false;
    if (hpt_store_user_list (hpt_core_store (core), &users, NULL) == 0) {
        size_t i;
        json_t *user;
        json_array_foreach (users, i, user) {
            if (strcmp (json_string_value (json_object_get (user, "name")), name) != 0) continue;
            found = hpt_role_parse (json_string_value (json_object_get (user, "role")), role) == 0;
            if (revoked) *revoked = json_is_true (json_object_get (user, "revoked"));
        }
    }
    json_decref (users);
    return found;
}

//  POST /v1/users {name, role}: a new user and its first token. An
//  existing user is 409: a new token is :token, a new role revoke + add,
//  so nobody's token is replaced by a typo.
static void
s_add_user (hpt_core_t *core, zsock_t *router, hpt_api_request_t *request)
{
    json_t *body =
        json_loadb (hpt_api_request_body (request), hpt_api_request_body_size (request), 0, NULL);
    const char *name = json_string_value (json_object_get (body, "name"));
    hpt_role_t role;
    bool revoked = false;
    if (!hpt_auth_name_ok (name))
        s_reply_error (router, request, 400, NULL,
                       "name: 1-64 of a-z, 0-9, '.', '_' and '-', a letter or digit first", NULL);
    else if (hpt_role_parse (json_string_value (json_object_get (body, "role")), &role) != 0)
        s_reply_error (router, request, 400, NULL, "role: one of viewer, user, admin", NULL);
    else if (s_find_user (core, name, &(hpt_role_t){0}, &revoked) && !revoked) {
        char *message = hpt_asprintf ("user %s already exists (a new token: POST "
                                      "/v1/users/%s:token; another role: revoke, then add)",
                                      name, name);
        s_reply_error (router, request, 409, NULL, message, NULL);
        free (message);
    } else
        s_issue_token (core, router, request, name, role);
    json_decref (body);
}

static void
s_users (hpt_core_t *core, zsock_t *router, hpt_api_request_t *request, char **seg, size_t n)
{
    const char *method = hpt_api_request_method (request);
    hpt_error_t error;
    if (n == 2 && strcmp (method, "GET") == 0) {
        json_t *users = NULL;
        if (hpt_store_user_list (hpt_core_store (core), &users, &error) != 0)
            s_reply_failure (router, request, &error);
        else
            s_reply_json (router, request, 200, json_pack ("{s:o}", "users", users));
        return;
    }
    if (n == 2 && strcmp (method, "POST") == 0) {
        s_add_user (core, router, request);
        return;
    }
    char *verb = n == 3 ? s_verb (seg[2]) : NULL;
    if (verb && strcmp (method, "POST") == 0 && strcmp (verb, "revoke") == 0) {
        if (hpt_core_revoke_user (core, seg[2], &error) != 0)
            s_reply_failure (router, request, &error);
        else
            s_reply_json (router, request, 200, json_object ());
    } else if (verb && strcmp (method, "POST") == 0 && strcmp (verb, "token") == 0) {
        hpt_role_t role;
        if (s_find_user (core, seg[2], &role, NULL))
            s_issue_token (core, router, request, seg[2], role);
        else
            s_reply_error (router, request, 404, NULL, "no such user", NULL);
    } else
        s_reply_error (router, request, 404, NULL, "no such method on users", NULL);
}

//  GET /v1/audit?after=ID&pageSize=N: the audit trail, oldest first.
static void
s_audit (hpt_core_t *core, zsock_t *router, hpt_api_request_t *request)
{
    const char *after = hpt_api_request_param (request, "after");
    const char *size = hpt_api_request_param (request, "pageSize");
    long long from = after ? strtoll (after, NULL, 10) : 0;
    long long limit = size ? strtoll (size, NULL, 10) : 100;
    if (limit < 1 || limit > 1000) limit = limit < 1 ? 100 : 1000;
    json_t *entries = NULL;
    hpt_error_t error;
    if (hpt_store_audit_list (hpt_core_store (core), from, limit, &entries, &error) != 0) {
        s_reply_failure (router, request, &error);
        return;
    }
    json_t *last = json_array_get (entries, json_array_size (entries) - 1);
    json_int_t next = last ? json_integer_value (json_object_get (last, "id")) : from;
    s_reply_json (router, request, 200, json_pack ("{s:o, s:I}", "entries", entries, "next", next));
}

//  ---------------------------------------------------------------------
//  The guard: browser protections, the caller, the right the route takes

//  Whether the Host header (or an Origin's host) names this master.
static bool
s_host_allowed (hpt_core_t *core, const char *host, size_t len)
{
    const hpt_master_settings_t *m = hpt_core_settings (core);
    //  "[::1]:7470" -> "[::1]", "name:7470" -> "name".
    const char *end = host[0] == '[' ? memchr (host, ']', len) : memchr (host, ':', len);
    size_t n = end ? (size_t)(end - host) + (host[0] == '[') : len;
    const char *defaults[] = {"localhost", "127.0.0.1", "[::1]", m->api_host};
    for (size_t i = 0; i < 4; i++)
        if (strlen (defaults[i]) == n && strncasecmp (host, defaults[i], n) == 0) return true;
    if (n == strlen (m->api_host) + 2 && host[0] == '[' &&
        strncmp (host + 1, m->api_host, n - 2) == 0)
        return true;
    for (size_t i = 0; i < m->api_host_name_count; i++)
        if (strlen (m->api_host_names[i]) == n && strncasecmp (host, m->api_host_names[i], n) == 0)
            return true;
    return false;
}

//  Whether origin is exactly this master as the request addressed it:
//  the scheme it serves and the Host header (name and port).
static bool
s_same_origin (hpt_core_t *core, const char *origin, const char *host)
{
    const char *scheme = hpt_core_settings (core)->tls_cert ? "https://" : "http://";
    size_t length = strlen (scheme);
    return *host && strncasecmp (origin, scheme, length) == 0 &&
           strcasecmp (origin + length, host) == 0;
}

static int
s_browser_checks (hpt_core_t *core, hpt_api_request_t *request, hpt_error_t *error)
{
    if (strcmp (hpt_api_request_client (request), "unix") == 0) return 0;
    const char *host = hpt_api_request_host (request);
    if (*host && !s_host_allowed (core, host, strlen (host)))
        return hpt_error_set (error, HPT_E_PERMISSION_DENIED,
                              "Host '%.100s' is not a name of this master (master.apiHostNames)",
                              host);
    if (strcmp (hpt_api_request_method (request), "GET") == 0) return 0;
    const char *origin = hpt_api_request_origin (request);
    const char *scheme = strstr (origin, "://");
    if (*origin && (!scheme || !s_host_allowed (core, scheme + 3, strlen (scheme + 3))))
        return hpt_error_set (error, HPT_E_PERMISSION_DENIED,
                              "a request from another site (Origin '%.100s') may not change "
                              "anything",
                              origin);
    //  A browser sends the session cookie by itself: a change made with it
    //  must come from the console's own origin.
    if (s_by_cookie && !s_same_origin (core, origin, hpt_api_request_host (request)))
        return hpt_error_set (error, HPT_E_PERMISSION_DENIED,
                              "a change made with the console's session must come from the "
                              "console's own page (Origin '%.100s', Host '%.100s')",
                              origin, hpt_api_request_host (request));
    //  A form cannot send JSON, so a page cannot make these.
    const char *type = hpt_api_request_content_type (request);
    const char *method = hpt_api_request_method (request);
    if ((strcmp (method, "POST") == 0 || strcmp (method, "PATCH") == 0) &&
        strncasecmp (type, "application/json", 16) != 0)
        return hpt_error_set (error, HPT_E_INVALID,
                              "a %s must be Content-Type: application/json (got '%.60s')", method,
                              type);
    return 0;
}

//  The right a request takes; for a change of a job, *owner is its owner.
static hpt_access_t
s_access (hpt_core_t *core, hpt_api_request_t *request, char **seg, size_t n, const char **owner,
          bool *found)
{
    *found = true;
    bool read = strcmp (hpt_api_request_method (request), "GET") == 0;
    if (n >= 2 && strcmp (seg[0], "v1") == 0 &&
        (strcmp (seg[1], "users") == 0 || strcmp (seg[1], "audit") == 0))
        return HPT_ACCESS_ADMIN;
    if (read) return HPT_ACCESS_READ;
    if (n >= 2 && strcmp (seg[0], "v1") == 0 && strncmp (seg[1], "nodes", 5) == 0)
        return HPT_ACCESS_ADMIN;
    if (n == 4) return HPT_ACCESS_SUBMIT;
    if (n >= 5) {
        char *name = hpt_strdup (seg[4]);
        s_verb (name);
        hpt_tuner_t *tuner = hpt_core_job (core, name);
        free (name);
        *found = tuner != NULL;
        *owner = tuner ? hpt_tuner_owner (tuner) : NULL;
    }
    return HPT_ACCESS_OWN_JOB;
}

//  Requests of one remote client: a token bucket.
typedef struct {
    double tokens;   //  requests it may make now
    int64_t last_ms; //  when the bucket was last filled
} s_bucket_t;

//  Whether a remote client may make one more request now: at most
//  master.apiRequestsPerSecond, in bursts of twice that. Local callers
//  (loopback, the socket) are the operator's own tools and not limited.
static bool
s_rate_ok (hpt_core_t *core, const char *client)
{
    static zhashx_t *buckets;
    if (strncmp (client, "remote ", 7) != 0) return true;
    if (!buckets) {
        buckets = zhashx_new ();
        zhashx_set_destructor (buckets, (zhashx_destructor_fn *)zstr_free);
    }
    //  A flood of new addresses must not grow the table without bound.
    if (zhashx_size (buckets) > 10000) zhashx_purge (buckets);
    double rate = (double)hpt_core_settings (core)->api_rate;
    int64_t now = zclock_mono ();
    s_bucket_t *bucket = zhashx_lookup (buckets, client);
    if (!bucket) {
        bucket = hpt_calloc (1, sizeof (s_bucket_t));
        *bucket = (s_bucket_t){2 * rate, now};
        zhashx_insert (buckets, client, bucket);
    }
    bucket->tokens += (double)(now - bucket->last_ms) * rate / 1000.0;
    if (bucket->tokens > 2 * rate) bucket->tokens = 2 * rate;
    bucket->last_ms = now;
    if (bucket->tokens < 1) return false;
    bucket->tokens -= 1;
    return true;
}

//  Who is asking: by token, by the console's session cookie, or by
//  where the request comes from (hpt_auth_caller). A session that ended
//  counts as no credential: a loopback caller of a master without users
//  is still the local admin, anyone else is asked to sign in again.
static int
s_identify (hpt_core_t *core, hpt_api_request_t *request, hpt_error_t *error)
{
    hpt_store_t *store = hpt_core_store (core);
    const char *client = hpt_api_request_client (request);
    bool insecure = hpt_core_settings (core)->insecure;
    if (!s_by_cookie)
        return hpt_auth_caller (store, client, hpt_api_request_authorization (request), insecure,
                                &s_caller, error);
    const char *session = hpt_api_request_session (request);
    const char *token_hash =
        hpt_session_token_hash (hpt_core_sessions (core), session, zclock_time ());
    if (token_hash && hpt_auth_caller_by_hash (store, token_hash, &s_caller, error) == 0) return 0;
    if (token_hash) hpt_session_close (hpt_core_sessions (core), session);
    s_by_cookie = false;
    if (hpt_auth_caller (store, client, "", insecure, &s_caller, error) == 0) return 0;
    return hpt_error_set (error, HPT_E_UNAUTHENTICATED,
                          "the console's session ended (signed out, expired, its token revoked, "
                          "or the master restarted): sign in again");
}

//  Whether the request may go on; when not, the refusal is answered.
static bool
s_guard (hpt_core_t *core, zsock_t *router, hpt_api_request_t *request, char **seg, size_t n)
{
    hpt_error_t error;
    const char *owner = NULL;
    bool found = true;
    snprintf (s_caller.name, sizeof (s_caller.name), "unknown");
    int rc = s_rate_ok (core, hpt_api_request_client (request))
                 ? s_browser_checks (core, request, &error)
                 : hpt_error_set (&error, HPT_E_RESOURCE_EXHAUSTED,
                                  "too many requests from this client: at most %" PRId64
                                  " a second (master.apiRequestsPerSecond); try again shortly",
                                  hpt_core_settings (core)->api_rate);
    if (rc == 0) rc = s_identify (core, request, &error);
    if (rc == 0) {
        hpt_access_t access = s_access (core, request, seg, n, &owner, &found);
        //  A job that does not exist is the handler's 404, not a refusal.
        if (found) rc = hpt_auth_check (&s_caller, access, owner, &error);
    }
    if (rc == 0) return true;
    hpt_log_warning ("refused %s %s from %s (%s): %s", hpt_api_request_method (request),
                     hpt_api_request_path (request), s_caller.name,
                     hpt_api_request_client (request), error.message);
    s_reply_failure (router, request, &error);
    return false;
}

//  Every POST and DELETE, answered or refused, goes into the audit trail.
static void
s_audit_change (hpt_core_t *core, hpt_api_request_t *request, char **seg, size_t n)
{
    if (strcmp (hpt_api_request_method (request), "GET") == 0) return;
    //  The name without its verb (a handler strips it in place; a refused
    //  request still has it), so one target reads the same either way.
    const char *target = n >= 5 ? seg[4] : n == 3 ? seg[2] : NULL;
    char *name = target ? hpt_strdup (target) : NULL;
    if (name) s_verb (name);
    hpt_store_audit_t entry = {zclock_time (),
                               s_caller.name,
                               hpt_api_request_method (request),
                               hpt_api_request_path (request),
                               name,
                               s_status};
    hpt_core_audit (core, &entry);
    free (name);
}

static void
s_dispatch (hpt_core_t *core, zsock_t *router, hpt_api_request_t *request, char **seg, size_t n)
{
    const char *path = hpt_api_request_path (request);
    bool v1 = n >= 2 && strcmp (seg[0], "v1") == 0;
    if (n == 1 && strcmp (seg[0], "metrics") == 0 &&
        strcmp (hpt_api_request_method (request), "GET") == 0)
        s_metrics (core, router, request);
    else if (v1 && n >= 4 && n <= 8 && strcmp (seg[1], "projects") == 0 &&
             strcmp (seg[3], "jobs") == 0)
        s_jobs (core, router, request, seg, n);
    else if (v1 && n <= 3 && strcmp (seg[1], "nodes") == 0)
        s_nodes (core, router, request, seg, n);
    else if (v1 && n <= 3 && strcmp (seg[1], "users") == 0)
        s_users (core, router, request, seg, n);
    else if (v1 && n == 2 && strcmp (seg[1], "audit") == 0)
        s_audit (core, router, request);
    else if (v1 && n == 3 && strcmp (seg[1], "auth") == 0 && strcmp (seg[2], "whoami") == 0)
        s_whoami (router, request);
    else {
        char *message = hpt_asprintf ("No such path: %s", path);
        s_reply_error (router, request, 404, NULL, message, NULL);
        free (message);
    }
}

//  ---------------------------------------------------------------------
//  The console's sign-in: POST /v1/auth/session {"token"} and DELETE

//  Set-Cookie for the session cookie: HttpOnly (no script reads it),
//  SameSite=Strict (no other site's page sends it), Secure under TLS.
static char *
s_cookie_header (hpt_core_t *core, const char *value, int64_t max_age_s)
{
    return hpt_asprintf ("Set-Cookie: " HPT_API_SESSION_COOKIE "=%s; Path=/; Max-Age=%" PRId64
                         "; HttpOnly; SameSite=Strict%s\nCache-Control: no-store",
                         value, max_age_s, hpt_core_settings (core)->tls_cert ? "; Secure" : "");
}

static void
s_sign_in (hpt_core_t *core, zsock_t *router, hpt_api_request_t *request)
{
    json_t *body =
        json_loadb (hpt_api_request_body (request), hpt_api_request_body_size (request), 0, NULL);
    const char *token = json_string_value (json_object_get (body, "token"));
    char hash[65], id[HPT_SESSION_ID_SIZE];
    hpt_error_t error;
    int rc = 0;
    if (!token || !*token || strlen (token) > 256)
        rc = hpt_error_set (&error, HPT_E_INVALID,
                            "the body must be {\"token\": \"...\"}: an API token "
                            "(hptmaster users add NAME)");
    if (rc == 0) {
        hpt_auth_hash (token, hash);
        rc = hpt_auth_caller_by_hash (hpt_core_store (core), hash, &s_caller, &error);
    }
    json_decref (body);
    if (rc == 0) rc = hpt_session_open (hpt_core_sessions (core), hash, zclock_time (), id, &error);
    if (rc != 0) {
        hpt_log_warning ("refused a console sign-in from %s: %s", hpt_api_request_client (request),
                         error.message);
        s_reply_failure (router, request, &error);
        return;
    }
    char *headers = s_cookie_header (core, id, HPT_SESSION_TTL_MS / 1000);
    json_t *answer = json_pack ("{s:s, s:s, s:b}", "name", s_caller.name, "role",
                                hpt_role_name (s_caller.role), "session", true);
    char *text = hpt_json_dumps (answer, true);
    s_status = 200;
    hpt_api_reply_with (router, hpt_api_request_routing_id (request), 200, NULL, text, headers);
    explicit_bzero (id, sizeof (id));
    free (text);
    json_decref (answer);
    free (headers);
}

static void
s_sign_out (hpt_core_t *core, zsock_t *router, hpt_api_request_t *request)
{
    hpt_session_close (hpt_core_sessions (core), hpt_api_request_session (request));
    char *headers = s_cookie_header (core, "", 0);
    s_status = 200;
    hpt_api_reply_with (router, hpt_api_request_routing_id (request), 200, NULL, "{}", headers);
    free (headers);
}

//  GET: who the browser is, or that it must sign in: 200 either way, so
//  the console learns it without a failed request.
static void
s_session_state (hpt_core_t *core, zsock_t *router, hpt_api_request_t *request)
{
    hpt_error_t error;
    if (s_identify (core, request, &error) == 0)
        s_reply_json (router, request, 200,
                      json_pack ("{s:s, s:s, s:b}", "name", s_caller.name, "role",
                                 hpt_role_name (s_caller.role), "session", s_by_cookie));
    else if (error.code == HPT_E_UNAUTHENTICATED)
        s_reply_json (router, request, 200,
                      json_pack ("{s:b, s:s}", "signInRequired", true, "reason", error.message));
    else
        s_reply_failure (router, request, &error);
}

//  The session route needs no credential (it is how a browser gets
//  one), but the browser protections and the rate limit apply.
static void
s_session_route (hpt_core_t *core, zsock_t *router, hpt_api_request_t *request)
{
    hpt_error_t error;
    const char *method = hpt_api_request_method (request);
    snprintf (s_caller.name, sizeof (s_caller.name), "unknown");
    int rc = s_rate_ok (core, hpt_api_request_client (request))
                 ? s_browser_checks (core, request, &error)
                 : hpt_error_set (&error, HPT_E_RESOURCE_EXHAUSTED,
                                  "too many requests from this client; try again shortly");
    if (rc != 0)
        s_reply_failure (router, request, &error);
    else if (strcmp (method, "GET") == 0)
        s_session_state (core, router, request);
    else if (strcmp (method, "POST") == 0)
        s_sign_in (core, router, request);
    else if (strcmp (method, "DELETE") == 0)
        s_sign_out (core, router, request);
    else
        s_reply_error (router, request, 501, NULL,
                       "a session is read with GET, opened with POST, ended with DELETE", NULL);
}

void
hpt_routes_handle (hpt_core_t *core, zsock_t *router, hpt_api_request_t *request)
{
    char *copy = NULL;
    //  One more segment than any route has, so a longer path is no route.
    char *seg[9];
    size_t n = s_split (hpt_api_request_path (request), &copy, seg, 9);
    s_status = 0;
    s_by_cookie = !*hpt_api_request_authorization (request) && *hpt_api_request_session (request);
    if (n == 3 && strcmp (seg[0], "v1") == 0 && strcmp (seg[1], "auth") == 0 &&
        strcmp (seg[2], "session") == 0)
        s_session_route (core, router, request);
    else if (s_guard (core, router, request, seg, n))
        s_dispatch (core, router, request, seg, n);
    s_audit_change (core, request, seg, n);
    free (copy);
}
