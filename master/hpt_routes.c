/*  hpt_routes -- the master's REST API (AI Platform's paths)
 */
#include "hpt_routes.h"
#include "hpt_alloc.h"
#include "hpt_job_reader.h"
#include "hpt_json.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Log entries returned per request at most, so one answer stays small.
#define S_LOG_PAGE_BYTES (256 * 1024)

static void
s_reply_json (zsock_t *router, hpt_api_request_t *request, int status, json_t *body)
{
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

static void
s_submit (hpt_core_t *core, zsock_t *router, hpt_api_request_t *request, const char *project)
{
    hpt_diag_t *diag = hpt_diag_new ("request", true);
    hpt_job_t *job = hpt_job_read_text (hpt_api_request_body (request),
                                        hpt_api_request_body_size (request), HPT_CONFIG_JSON, diag);
    if (job && !job->job_id) {
        hpt_diag_add (diag, 0, 0, "jobId", "/jobId", "required field is missing");
        hpt_job_destroy (&job);
    }
    if (!job) {
        char *first = hpt_diag_format (diag, 0);
        char *message =
            hpt_asprintf ("Invalid job: %zu problem%s; first: %s", hpt_diag_count (diag),
                          hpt_diag_count (diag) == 1 ? "" : "s", first ? first : "");
        json_t *details = hpt_diag_to_json (diag);
        s_reply_error (router, request, 400, NULL, message, details);
        json_decref (details);
        free (message);
        free (first);
        hpt_diag_destroy (&diag);
        return;
    }
    hpt_diag_destroy (&diag);
    hpt_error_t error;
    hpt_tuner_t *tuner = hpt_core_submit (core, job, project, &error);
    if (!tuner) {
        s_reply_failure (router, request, &error);
        return;
    }
    s_reply_json (router, request, 200, hpt_tuner_to_json (tuner, hpt_core_store (core), true));
}

//  Whether tuner passes the filter: terms "state=S" or "jobId=PREFIX*"
//  (or "jobId=ID"), joined by " AND ". Unknown terms are an error
//  (HPT_E_INVALID).
static int
s_filter_match (hpt_tuner_t *tuner, const char *filter, bool *match, hpt_error_t *error)
{
    *match = true;
    if (!filter || !*filter) return 0;
    char *copy = hpt_strdup (filter);
    char *rest = copy;
    int rc = 0;
    while (rest && *rest) {
        char *and = strstr (rest, " AND ");
        if (and) *and = '\0';
        char *term = rest;
        rest = and? and+5 : NULL;
        while (*term == ' ')
            term++;
        char *eq = strchr (term, '=');
        if (!eq) {
            rc = hpt_error_set (error, HPT_E_INVALID, "filter term '%s' is not NAME=VALUE", term);
            break;
        }
        *eq = '\0';
        char *value = eq + 1;
        size_t len = strlen (value);
        while (len && value[len - 1] == ' ')
            value[--len] = '\0';
        if (len >= 2 && value[0] == '"' && value[len - 1] == '"') {
            value[len - 1] = '\0';
            value++;
            len -= 2;
        }
        hpt_job_state_t state;
        if (strcmp (term, "state") == 0) {
            if (hpt_job_state_parse (value, &state) != 0) {
                rc =
                    hpt_error_set (error, HPT_E_INVALID, "unknown job state '%s' in filter", value);
                break;
            }
            *match &= hpt_tuner_state (tuner) == state;
        } else if (strcmp (term, "jobId") == 0) {
            if (len && value[len - 1] == '*')
                *match &= strncmp (hpt_tuner_id (tuner), value, len - 1) == 0;
            else
                *match &= strcmp (hpt_tuner_id (tuner), value) == 0;
        } else {
            rc = hpt_error_set (error, HPT_E_INVALID,
                                "cannot filter on '%s' (use state= or jobId=)", term);
            break;
        }
    }
    free (copy);
    return rc;
}

static void
s_list (hpt_core_t *core, zsock_t *router, hpt_api_request_t *request, const char *project)
{
    size_t count;
    hpt_tuner_t **tuners = hpt_core_jobs (core, &count);
    const char *filter = hpt_api_request_param (request, "filter");
    json_t *jobs = json_array ();
    for (size_t i = 0; i < count; i++) {
        if (strcmp (hpt_tuner_project (tuners[i]), project) != 0) continue;
        bool match;
        hpt_error_t error;
        if (s_filter_match (tuners[i], filter, &match, &error) != 0) {
            json_decref (jobs);
            s_reply_failure (router, request, &error);
            return;
        }
        if (match)
            json_array_append_new (jobs,
                                   hpt_tuner_to_json (tuners[i], hpt_core_store (core), false));
    }
    json_t *body = json_object ();
    json_object_set_new (body, "jobs", jobs);
    s_reply_json (router, request, 200, body);
}

static void
s_logs (hpt_core_t *core, zsock_t *router, hpt_api_request_t *request, hpt_tuner_t *tuner)
{
    const char *after = hpt_api_request_param (request, "after");
    json_t *body = hpt_joblog_read (hpt_core_joblog (core), hpt_tuner_id (tuner),
                                    after && *after ? strtoll (after, NULL, 10) : 0,
                                    hpt_api_request_param (request, "trial"), S_LOG_PAGE_BYTES);
    json_object_set_new (body, "jobState",
                         json_string (hpt_job_state_name (hpt_tuner_state (tuner))));
    s_reply_json (router, request, 200, body);
}

static void
s_jobs (hpt_core_t *core, zsock_t *router, hpt_api_request_t *request, char **seg, size_t n)
{
    //  seg: v1 projects P jobs [J[:verb]] [logs]
    const char *method = hpt_api_request_method (request);
    const char *project = seg[2];
    if (n == 4) {
        if (strcmp (method, "POST") == 0)
            s_submit (core, router, request, project);
        else if (strcmp (method, "GET") == 0)
            s_list (core, router, request, project);
        else
            s_reply_error (router, request, 405, NULL, "use GET or POST on jobs", NULL);
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
    if (n == 5 && !verb && strcmp (method, "GET") == 0)
        s_reply_json (router, request, 200, hpt_tuner_to_json (tuner, hpt_core_store (core), true));
    else if (n == 5 && verb && strcmp (verb, "cancel") == 0 && strcmp (method, "POST") == 0) {
        hpt_error_t error;
        if (hpt_core_cancel (core, tuner, &error) != 0)
            s_reply_failure (router, request, &error);
        else
            s_reply_json (router, request, 200, json_object ());
    } else if (n == 6 && !verb && strcmp (seg[5], "logs") == 0 && strcmp (method, "GET") == 0)
        s_logs (core, router, request, tuner);
    else
        s_reply_error (router, request, 404, NULL, "no such method on a job", NULL);
}

//  ---------------------------------------------------------------------
//  Nodes

static void
s_nodes (hpt_core_t *core, zsock_t *router, hpt_api_request_t *request, char **seg, size_t n)
{
    const char *method = hpt_api_request_method (request);
    if (n == 2 && strcmp (method, "GET") == 0) {
        size_t count;
        hpt_host_t **nodes = hpt_core_nodes (core, &count);
        json_t *list = json_array ();
        for (size_t i = 0; i < count; i++)
            json_array_append_new (list, hpt_host_to_json (nodes[i]));
        json_t *body = json_object ();
        json_object_set_new (body, "nodes", list);
        s_reply_json (router, request, 200, body);
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
    size_t count;
    hpt_tuner_t **tuners = hpt_core_jobs (core, &count);
    size_t jobs[HPT_JOB_CANCELLED + 1] = {0};
    size_t trials[HPT_TRIAL_CANCELLED + 1] = {0};
    for (size_t i = 0; i < count; i++) {
        jobs[hpt_tuner_state (tuners[i])]++;
        for (size_t t = 0; t < hpt_tuner_trial_count (tuners[i]); t++)
            trials[hpt_tuner_trial (tuners[i], t)->state]++;
    }
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    fprintf (out, "# HELP hpt_jobs Jobs known to the master, by state.\n# TYPE hpt_jobs gauge\n");
    for (int s = 0; s <= HPT_JOB_CANCELLED; s++)
        fprintf (out, "hpt_jobs{state=\"%s\"} %zu\n", hpt_job_state_name (s), jobs[s]);
    fprintf (out, "# HELP hpt_trials Trials, by state.\n# TYPE hpt_trials gauge\n");
    for (int s = 0; s <= HPT_TRIAL_CANCELLED; s++)
        fprintf (out, "hpt_trials{state=\"%s\"} %zu\n", hpt_trial_state_name (s), trials[s]);
    size_t ncount;
    hpt_host_t **nodes = hpt_core_nodes (core, &ncount);
    size_t ready = 0;
    for (size_t i = 0; i < ncount; i++)
        ready += nodes[i]->state == HPT_HOST_READY;
    fprintf (out, "# HELP hpt_agents_ready Agents connected.\n# TYPE hpt_agents_ready gauge\n");
    fprintf (out, "hpt_agents_ready %zu\n", ready);
    fprintf (out, "# HELP hpt_agent_messages_dropped_total Malformed or unexpected agent "
                  "messages dropped.\n# TYPE hpt_agent_messages_dropped_total counter\n");
    fprintf (out, "hpt_agent_messages_dropped_total %" PRIu64 "\n",
             hpt_core_dropped_messages (core));
    fprintf (out, "# HELP hpt_proto_dropped_total Agent messages dropped, by kind.\n"
                  "# TYPE hpt_proto_dropped_total counter\n");
    zhashx_t *kinds = hpt_core_dropped_by_kind (core);
    for (uint64_t *n = zhashx_first (kinds); n; n = zhashx_next (kinds))
        fprintf (out, "hpt_proto_dropped_total{kind=\"%s\"} %" PRIu64 "\n",
                 (const char *)zhashx_cursor (kinds), *n);
    uint64_t handshakes[3], refused;
    hpt_core_security_counts (core, handshakes, &refused);
    fprintf (out, "# HELP hpt_agent_handshakes_failed_total Connections to the agents endpoint "
                  "that failed the CURVE handshake, by reason.\n"
                  "# TYPE hpt_agent_handshakes_failed_total counter\n");
    const char *reasons[] = {"auth", "protocol", "other"};
    for (int i = 0; i < 3; i++)
        fprintf (out, "hpt_agent_handshakes_failed_total{reason=\"%s\"} %" PRIu64 "\n", reasons[i],
                 handshakes[i]);
    fprintf (out, "# HELP hpt_agent_keys_refused_total Connections whose CURVE key is not in "
                  "agentCerts.\n# TYPE hpt_agent_keys_refused_total counter\n");
    fprintf (out, "hpt_agent_keys_refused_total %" PRIu64 "\n", refused);
    fprintf (out, "# HELP hpt_store_healthy 1 when the master can write its store, 0 while it "
                  "cannot (it then changes nothing).\n# TYPE hpt_store_healthy gauge\n");
    fprintf (out, "hpt_store_healthy %d\n", hpt_core_store_ok (core) ? 1 : 0);
    fprintf (out, "# HELP hpt_store_commit_failures_total Store transactions that could not be "
                  "committed (rolled back, nothing acted on).\n"
                  "# TYPE hpt_store_commit_failures_total counter\n");
    fprintf (out, "hpt_store_commit_failures_total %" PRIu64 "\n", hpt_core_commit_failures (core));
    double busy, silence;
    hpt_core_loop_figures (core, &busy, &silence);
    fprintf (out, "# HELP hpt_loop_busy_max_seconds The longest the master's loop spent on one "
                  "event (an API request, an agent message, a timer round) since it started.\n"
                  "# TYPE hpt_loop_busy_max_seconds gauge\n");
    fprintf (out, "hpt_loop_busy_max_seconds %.6f\n", busy);
    fprintf (out, "# HELP hpt_agent_silence_max_seconds The longest a connected agent went "
                  "unheard, between two of its messages as the master's loop saw them, since the "
                  "master started.\n# TYPE hpt_agent_silence_max_seconds gauge\n");
    fprintf (out, "hpt_agent_silence_max_seconds %.3f\n", silence);
    fclose (out);
    hpt_api_reply (router, hpt_api_request_routing_id (request), 200, "text/plain; version=0.0.4",
                   text);
    free (text);
}

void
hpt_routes_handle (hpt_core_t *core, zsock_t *router, hpt_api_request_t *request)
{
    const char *path = hpt_api_request_path (request);
    char *copy = NULL;
    char *seg[8];
    size_t n = s_split (path, &copy, seg, 8);
    if (n == 1 && strcmp (seg[0], "metrics") == 0 &&
        strcmp (hpt_api_request_method (request), "GET") == 0)
        s_metrics (core, router, request);
    else if (n >= 4 && n <= 6 && strcmp (seg[0], "v1") == 0 && strcmp (seg[1], "projects") == 0 &&
             strcmp (seg[3], "jobs") == 0)
        s_jobs (core, router, request, seg, n);
    else if (n >= 2 && n <= 3 && strcmp (seg[0], "v1") == 0 && strncmp (seg[1], "nodes", 5) == 0 &&
             strcmp (seg[1], "nodes") == 0)
        s_nodes (core, router, request, seg, n);
    else {
        char *message = hpt_asprintf ("No such path: %s", path);
        s_reply_error (router, request, 404, NULL, message, NULL);
        free (message);
    }
    free (copy);
}
