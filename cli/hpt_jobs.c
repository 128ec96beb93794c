/*  hpt jobs -- describe, list, update, cancel and follow tuning jobs

    The gcloud ai-platform jobs commands over hpt's REST API (docs/interfaces.md):

        submit training JOB  POST   /v1/projects/P/jobs          (hpt_submit.c)
        describe JOB         GET    /v1/projects/P/jobs/JOB
        list                 GET    /v1/projects/P/jobs?filter=EXPR, every page
        update JOB           GET, then PATCH /v1/projects/P/jobs/JOB?updateMask=labels,etag
        cancel JOB           POST   /v1/projects/P/jobs/JOB:cancel
        stream-logs JOB      GET    .../jobs/JOB/logs?after=SEQ[&trial=N] (hpt_follow)

    Resources print through --format (hpt_projection). list sorts on the
    client (--sort-by), after reading every page, since gcloud sorts
    before it limits; repeated --filter flags are ANDed, as gcloud's are.
    describe --summarize prints a header and a table of trials (the best
    trial counted only among SUCCEEDED trials with a final metric,
    objectives to 6 significant digits, text from trainers made safe
    for a terminal), or with --format the same as a resource.
*/
#include "hpt_cli.h"
#include "hpt_alloc.h"
#include "hpt_client.h"
#include "hpt_follow.h"
#include "hpt_format.h"
#include "hpt_job_reader.h"
#include "hpt_json.h"
#include "hpt_projection.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

//  Builds "/v1/projects/P/jobs[/JOB]SUFFIX" with P and JOB escaped. The
//  caller frees the result; NULL when libcurl cannot escape them (it
//  allocates for itself, and may fail).
char *
hpt_cli_job_path (hpt_client_t *client, const char *project, const char *job, const char *suffix)
{
    char *p = hpt_client_escape (client, project);
    char *j = job ? hpt_client_escape (client, job) : hpt_strdup ("");
    char *path =
        p && j ? hpt_asprintf ("/v1/projects/%s/jobs%s%s%s", p, job ? "/" : "", j, suffix) : NULL;
    free (p);
    free (j);
    return path;
}

//  GETs or POSTs a job path; prints errors. The caller owns *reply.
int
hpt_cli_job_call (hpt_client_t *client, const char *method, const char *project, const char *job,
                  const char *suffix, json_t *body, json_t **reply)
{
    *reply = NULL;
    char *path = hpt_cli_job_path (client, project, job, suffix);
    if (!path) {
        hpt_client_error (client, "out of memory");
        return 1;
    }
    hpt_client_result_t result = hpt_client_call (client, method, path, body, false, reply);
    free (path);
    return result == HPT_CLIENT_OK ? 0 : 1;
}

//  Prints "Label: value" in the summary header when value is set.
static void
s_header (const char *label, const char *value)
{
    char *clean = hpt_format_clean (value, "            ");
    if (clean && *clean) printf ("%-12s%s\n", label, clean);
    free (clean);
}

//  An objective as the summary shows it: 6 significant digits, as
//  gcloud rounds, since a table of 0.93000000000000005 helps nobody.
static const char *
s_objective (json_t *value, char *buf, size_t size)
{
    if (json_is_number (value))
        snprintf (buf, size, "%.6g", json_number_value (value));
    else
        snprintf (buf, size, "-");
    return buf;
}

//  Adds name to the list of hyperparameter columns unless already there.
static void
s_add_column (json_t *columns, const char *name)
{
    size_t i;
    json_t *have;
    json_array_foreach (columns, i, have)
        if (strcmp (json_string_value (have), name) == 0) return;
    json_array_append_new (columns, json_string (name));
}

//  The best trial: only a SUCCEEDED one with a final metric counts (a
//  failed or running trial's last report is not a result), best by the
//  goal. Borrowed from job; NULL when none has finished yet.
json_t *
hpt_cli_best_trial (json_t *job)
{
    json_t *hp = json_object_get (json_object_get (job, "trainingInput"), "hyperparameters");
    const char *goal = json_string_value (json_object_get (hp, "goal"));
    bool minimize = goal && strcmp (goal, "MINIMIZE") == 0;
    json_t *trials = json_object_get (json_object_get (job, "trainingOutput"), "trials");
    json_t *best = NULL;
    double best_value = 0;
    size_t i;
    json_t *trial;
    json_array_foreach (trials, i, trial) {
        const char *state = json_string_value (json_object_get (trial, "state"));
        json_t *value = json_object_get (json_object_get (trial, "finalMetric"), "objectiveValue");
        if (!state || strcmp (state, "SUCCEEDED") != 0 || !json_is_number (value)) continue;
        double v = json_number_value (value);
        if (!best || (minimize ? v < best_value : v > best_value)) {
            best = trial;
            best_value = v;
        }
    }
    return best;
}

//  The summary as a resource, for --summarize --format: the header's
//  fields, bestTrial and the trials' rows. The caller owns it.
static json_t *
s_summary_json (json_t *job)
{
    json_t *hp = json_object_get (json_object_get (job, "trainingInput"), "hyperparameters");
    json_t *output = json_object_get (job, "trainingOutput");
    json_t *out = json_object ();
    const char *copied[] = {"jobId", "state", "hptQueueReason", "errorMessage"};
    for (size_t k = 0; k < 4; k++) {
        json_t *value = json_object_get (job, copied[k]);
        if (value) json_object_set (out, copied[k], value);
    }
    json_t *completed = json_object_get (output, "completedTrialCount");
    json_object_set_new (out, "completedTrialCount",
                         completed ? json_incref (completed) : json_integer (0));
    if (json_object_get (hp, "maxTrials"))
        json_object_set (out, "maxTrials", json_object_get (hp, "maxTrials"));
    json_t *tag = json_object_get (output, "hyperparameterMetricTag");
    if (!tag) tag = json_object_get (hp, "hyperparameterMetricTag");
    if (tag) json_object_set (out, "hyperparameterMetricTag", tag);
    if (json_object_get (hp, "goal")) json_object_set (out, "goal", json_object_get (hp, "goal"));
    json_t *best = hpt_cli_best_trial (job);
    if (best) json_object_set (out, "bestTrial", best);
    json_t *rows = json_array ();
    size_t i;
    json_t *trial;
    json_array_foreach (json_object_get (output, "trials"), i, trial) {
        json_t *row = json_object ();
        const char *keys[] = {
            "trialId",     "state", "hptState", "hyperparameters", "isTrialStoppedEarly",
            "errorMessage"};
        for (size_t k = 0; k < 6; k++)
            if (json_object_get (trial, keys[k]))
                json_object_set (row, keys[k], json_object_get (trial, keys[k]));
        json_t *metric = json_object_get (trial, "finalMetric");
        if (json_object_get (metric, "objectiveValue"))
            json_object_set (row, "objectiveValue", json_object_get (metric, "objectiveValue"));
        if (json_object_get (metric, "trainingStep"))
            json_object_set (row, "trainingStep", json_object_get (metric, "trainingStep"));
        json_array_append_new (rows, row);
    }
    json_object_set_new (out, "trials", rows);
    return out;
}

//  The table of trials in the master's order (best first), one column
//  per hyperparameter: the spec's order, then any name only the trials
//  know (a resumed job's spec may omit params).
static void
s_trial_table (json_t *hp, json_t *trials)
{
    json_t *columns = json_array ();
    size_t i;
    json_t *param, *trial;
    json_array_foreach (json_object_get (hp, "params"), i, param) {
        const char *name = json_string_value (json_object_get (param, "parameterName"));
        if (name) s_add_column (columns, name);
    }
    json_array_foreach (trials, i, trial) {
        const char *name;
        json_t *value;
        json_object_foreach (json_object_get (trial, "hyperparameters"), name, value)
            s_add_column (columns, name);
    }
    size_t count = 4 + json_array_size (columns);
    const char **cells = hpt_calloc (count, sizeof (char *));
    char (*text)[128] = hpt_calloc (count, sizeof (*text));
    const char *fixed[] = {"TRIAL", "STATE", "OBJECTIVE", "STEP"};
    for (size_t k = 0; k < count; k++)
        cells[k] = k < 4 ? fixed[k] : json_string_value (json_array_get (columns, k - 4));
    hpt_format_table_t *table = hpt_format_table_new (cells, count);
    json_array_foreach (trials, i, trial) {
        json_t *metric = json_object_get (trial, "finalMetric");
        json_t *values = json_object_get (trial, "hyperparameters");
        hpt_format_cell (json_object_get (trial, "trialId"), text[0], sizeof (text[0]));
        //  hpt's own trial state is finer than the API's (PROVISIONING, ...).
        json_t *state = json_object_get (trial, "hptState");
        hpt_format_cell (state ? state : json_object_get (trial, "state"), text[1],
                         sizeof (text[1]));
        s_objective (json_object_get (metric, "objectiveValue"), text[2], sizeof (text[2]));
        hpt_format_cell (json_object_get (metric, "trainingStep"), text[3], sizeof (text[3]));
        for (size_t k = 4; k < count; k++)
            hpt_format_cell (
                json_object_get (values, json_string_value (json_array_get (columns, k - 4))),
                text[k], sizeof (text[k]));
        for (size_t k = 0; k < count; k++)
            cells[k] = text[k];
        hpt_format_table_add (table, cells);
    }
    printf ("\n");
    hpt_format_table_print (table, stdout);
    hpt_format_table_destroy (&table);
    free (cells);
    free (text);
    json_decref (columns);
}

//  The notes on trials stopped early, failed or cancelled.
static void
s_trial_notes (json_t *trials)
{
    bool noted = false;
    size_t i;
    json_t *trial;
    char a[64];
    json_array_foreach (trials, i, trial) {
        const char *state = json_string_value (json_object_get (trial, "state"));
        char *message =
            hpt_format_clean (json_string_value (json_object_get (trial, "errorMessage")), "    ");
        bool early = json_is_true (json_object_get (trial, "isTrialStoppedEarly"));
        bool bad = state && (strcmp (state, "FAILED") == 0 || strcmp (state, "CANCELLED") == 0);
        if (early || bad) {
            if (!noted) printf ("\nNotes:\n");
            noted = true;
            hpt_format_cell (json_object_get (trial, "trialId"), a, sizeof (a));
            json_t *learned = json_object_get (trial, "hptEstimatedObjectiveValue");
            const char *why = message ? message : "no reason given";
            if (early && json_is_number (learned))
                printf ("  trial %s: stopped early (%s); the optimizer was told %.6g\n", a, why,
                        json_number_value (learned));
            else if (early)
                printf ("  trial %s: stopped early (%s)\n", a, why);
            else
                printf ("  trial %s: %s: %s\n", a, state, why);
        }
        free (message);
    }
}

//  The summary of describe: header, table of trials (in the master's
//  order, best first), notes on trials stopped early, failed or cancelled.
static void
s_summarize (json_t *job)
{
    json_t *input = json_object_get (job, "trainingInput");
    json_t *hp = json_object_get (input, "hyperparameters");
    json_t *output = json_object_get (job, "trainingOutput");
    json_t *trials = json_object_get (output, "trials");
    if (!json_is_array (trials)) trials = NULL;
    char buf[512], a[64], b[64], c[64];

    s_header ("Job:", json_string_value (json_object_get (job, "jobId")));
    s_header ("State:", json_string_value (json_object_get (job, "state")));
    s_header ("Waiting:", json_string_value (json_object_get (job, "hptQueueReason")));
    s_header ("Error:", json_string_value (json_object_get (job, "errorMessage")));
    json_t *completed = json_object_get (output, "completedTrialCount");
    snprintf (buf, sizeof (buf), "%s completed of %s (maxTrials)",
              completed ? hpt_format_cell (completed, a, sizeof (a)) : "0",
              hpt_format_cell (json_object_get (hp, "maxTrials"), b, sizeof (b)));
    s_header ("Trials:", buf);
    const char *tag = json_string_value (json_object_get (output, "hyperparameterMetricTag"));
    if (!tag) tag = json_string_value (json_object_get (hp, "hyperparameterMetricTag"));
    snprintf (buf, sizeof (buf), "%s (%s)", tag ? tag : "-",
              hpt_format_cell (json_object_get (hp, "goal"), a, sizeof (a)));
    s_header ("Metric:", buf);
    json_t *best = hpt_cli_best_trial (job);
    json_t *metric = json_object_get (best, "finalMetric");
    if (best)
        snprintf (buf, sizeof (buf), "%s (objective %s at step %s)",
                  hpt_format_cell (json_object_get (best, "trialId"), a, sizeof (a)),
                  s_objective (json_object_get (metric, "objectiveValue"), b, sizeof (b)),
                  hpt_format_cell (json_object_get (metric, "trainingStep"), c, sizeof (c)));
    else
        snprintf (buf, sizeof (buf), "none yet");
    s_header ("Best trial:", buf);
    if (!trials || json_array_size (trials) == 0) {
        printf ("\nNo trials yet.\n");
        return;
    }
    s_trial_table (hp, trials);
    s_trial_notes (trials);
}

static int
s_describe (hpt_cli_context_t *context, int argc, char *argv[])
{
    const char *format = NULL;
    bool summarize = false;
    hpt_cli_option_t options[] = {{"--format", &format, NULL, NULL},
                                  {"--summarize", NULL, &summarize, NULL},
                                  {NULL, NULL, NULL, NULL}};
    hpt_cli_args_t args = {.command = "jobs describe", .options = options, .positional_max = 1};
    int parsed = hpt_cli_parse (context, &args, argc, argv);
    if (parsed >= 0) return parsed;
    if (args.positional_count != 1) {
        fprintf (stderr, "hpt jobs describe: JOB is required (see hpt jobs describe --help)\n");
        return 2;
    }
    hpt_projection_t *projection =
        hpt_projection_option ("jobs describe", format ? format : "yaml", NULL);
    if (!projection) return 2;
    hpt_client_t *client = hpt_client_new (context, "hpt.jobs.describe");
    json_t *reply = NULL;
    int rc = client ? hpt_cli_job_call (client, "GET", context->project, args.positional[0], "",
                                        NULL, &reply)
                    : 1;
    //  --summarize prints the summary text, or with --format the summary
    //  as a resource (so scripts can read the best trial).
    json_t *summary = rc == 0 && summarize && format ? s_summary_json (reply) : NULL;
    if (rc == 0 && summarize && !format)
        s_summarize (reply);
    else if (rc == 0 && !hpt_projection_print (projection, summary ? summary : reply, stdout)) {
        hpt_client_error (client, "cannot print the master's answer");
        rc = 1;
    }
    json_decref (summary);
    json_decref (reply);
    hpt_projection_destroy (&projection);
    hpt_client_destroy (&client);
    return rc;
}

//  A --page-size or --limit value: a positive number, or NULL (not
//  given) for 0.
static bool
s_count_option (const char *command, const char *flag, const char *text, long *value)
{
    *value = 0;
    if (!text) return true;
    char *end = NULL;
    errno = 0;
    *value = strtol (text, &end, 10);
    if (errno == 0 && end != text && *end == 0 && *value > 0) return true;
    fprintf (stderr, "hpt %s: %s must be a positive number, not '%s'\n", command, flag, text);
    return false;
}

//  The default columns of jobs list, as gcloud prints them.
#define S_LIST_KEYS "jobId:label=JOB_ID, state:label=STATUS, createTime:label=CREATED"

//  The --filter expressions ANDed: gcloud joins repeated --filter flags
//  with AND. Each is parenthesized when there is more than one, so an OR
//  inside one stays inside it. The caller frees the result; NULL for none.
static char *
s_join_filters (const hpt_cli_multi_t *filters)
{
    if (filters->count == 0) return NULL;
    if (filters->count == 1) return hpt_strdup (filters->values[0]);
    char *joined = hpt_strdup ("");
    for (int i = 0; i < filters->count; i++) {
        char *next = hpt_asprintf ("%s%s(%s)", joined, i > 0 ? " AND " : "", filters->values[i]);
        free (joined);
        joined = next;
    }
    return joined;
}

//  One --sort-by key: a field path, '~' in front for descending.
typedef struct {
    const char *path; //  borrowed from the sort text copy
    bool descending;  //  whether '~' was given
} s_sort_key_t;

#define S_SORT_KEYS_MAX 8

//  What qsort compares: an item and its place, for a stable sort.
typedef struct {
    json_t *item;             //  borrowed
    size_t place;             //  its index before sorting
    const s_sort_key_t *keys; //  the sort keys, borrowed
    size_t key_count;         //  entries in keys
} s_sort_item_t;

//  Missing values first, numbers by value, strings by bytes, other
//  kinds by their JSON text.
static int
s_compare_values (json_t *a, json_t *b)
{
    if (!a || !b || json_is_null (a) || json_is_null (b))
        return (a && !json_is_null (a)) - (b && !json_is_null (b));
    if (json_is_number (a) && json_is_number (b)) {
        double x = json_number_value (a), y = json_number_value (b);
        return (x > y) - (x < y);
    }
    if (json_is_string (a) && json_is_string (b))
        return strcmp (json_string_value (a), json_string_value (b));
    char *x = hpt_json_dumps (a, false), *y = hpt_json_dumps (b, false);
    int order = strcmp (x ? x : "", y ? y : "");
    free (x);
    free (y);
    return order;
}

static int
s_compare_items (const void *a, const void *b)
{
    const s_sort_item_t *x = a, *y = b;
    for (size_t k = 0; k < x->key_count; k++) {
        int order = s_compare_values (hpt_projection_get (x->item, x->keys[k].path),
                                      hpt_projection_get (y->item, y->keys[k].path));
        if (order != 0) return x->keys[k].descending ? -order : order;
    }
    return (x->place > y->place) - (x->place < y->place);
}

//  Parses --sort-by "KEY[,~KEY...]" into keys (paths point into text,
//  which the function cuts up). Prints the problem and returns false when
//  a key is not a field path.
static bool
s_sort_parse (char *text, s_sort_key_t *keys, size_t *count)
{
    *count = 0;
    for (char *save = NULL, *key = strtok_r (text, ",", &save); key;
         key = strtok_r (NULL, ",", &save)) {
        while (*key == ' ')
            key++;
        bool descending = *key == '~';
        if (descending) key++;
        for (size_t n = strlen (key); n > 0 && key[n - 1] == ' '; n--)
            key[n - 1] = 0;
        hpt_error_t error;
        if (*count == S_SORT_KEYS_MAX) {
            fprintf (stderr, "hpt jobs list: --sort-by takes at most %d keys\n", S_SORT_KEYS_MAX);
            return false;
        }
        if (!hpt_projection_path_ok (key, &error)) {
            fprintf (stderr, "hpt jobs list: --sort-by: %s\n", error.message);
            return false;
        }
        keys[(*count)++] = (s_sort_key_t){key, descending};
    }
    if (*count == 0) fprintf (stderr, "hpt jobs list: --sort-by needs a field, e.g. ~createTime\n");
    return *count > 0;
}

//  Sorts items (a JSON array, in place) by keys.
static void
s_sort_items (json_t *items, const s_sort_key_t *keys, size_t key_count)
{
    size_t n = json_array_size (items);
    if (n < 2) return;
    s_sort_item_t *sorted = hpt_calloc (n, sizeof (s_sort_item_t));
    for (size_t i = 0; i < n; i++)
        sorted[i] = (s_sort_item_t){json_incref (json_array_get (items, i)), i, keys, key_count};
    qsort (sorted, n, sizeof (s_sort_item_t), s_compare_items);
    json_array_clear (items);
    for (size_t i = 0; i < n; i++)
        json_array_append_new (items, sorted[i].item);
    free (sorted);
}

//  Prints each job's URI, as gcloud's --uri does.
static void
s_print_uris (hpt_client_t *client, const char *project, json_t *jobs)
{
    size_t i;
    json_t *job;
    json_array_foreach (jobs, i, job) {
        const char *id = json_string_value (json_object_get (job, "jobId"));
        char *path = id ? hpt_cli_job_path (client, project, id, "") : NULL;
        if (path) printf ("%s%s\n", hpt_client_url (client), path);
        free (path);
    }
}

//  Fetches the jobs matching filter: every page, then sorted, then the
//  first limit (gcloud sorts before it limits, so a sorted list needs
//  every page). The caller owns *jobs.
static int
s_fetch_jobs (hpt_client_t *client, const char *project, const char *filter, long size, long limit,
              const s_sort_key_t *keys, size_t key_count, json_t **jobs)
{
    *jobs = NULL;
    char *escaped = filter ? hpt_client_escape (client, filter) : NULL;
    char *suffix = hpt_asprintf ("%s%s", escaped ? "?filter=" : "", escaped ? escaped : "");
    char *path = escaped || !filter ? hpt_cli_job_path (client, project, NULL, suffix) : NULL;
    int rc = 1;
    if (path)
        rc = hpt_client_list (client, path, "jobs", size, key_count ? 0 : limit, jobs) ==
                     HPT_CLIENT_OK
                 ? 0
                 : 1;
    else
        hpt_client_error (client, "out of memory");
    if (rc == 0 && key_count > 0) s_sort_items (*jobs, keys, key_count);
    while (rc == 0 && limit > 0 && json_array_size (*jobs) > (size_t)limit)
        json_array_remove (*jobs, json_array_size (*jobs) - 1);
    free (path);
    free (suffix);
    free (escaped);
    return rc;
}

static int
s_list (hpt_cli_context_t *context, int argc, char *argv[])
{
    const char *page_size = NULL, *limit = NULL, *format = NULL, *sort_by = NULL;
    hpt_cli_multi_t filters = {0};
    bool uri = false;
    hpt_cli_option_t options[] = {{"--filter", NULL, NULL, &filters},
                                  {"--page-size", &page_size, NULL, NULL},
                                  {"--limit", &limit, NULL, NULL},
                                  {"--sort-by", &sort_by, NULL, NULL},
                                  {"--format", &format, NULL, NULL},
                                  {"--uri", NULL, &uri, NULL},
                                  {NULL, NULL, NULL, NULL}};
    hpt_cli_args_t args = {.command = "jobs list", .options = options, .positional_max = 0};
    int parsed = hpt_cli_parse (context, &args, argc, argv);
    if (parsed >= 0) return parsed;
    long size, most;
    if (!s_count_option ("jobs list", "--page-size", page_size, &size) ||
        !s_count_option ("jobs list", "--limit", limit, &most))
        return 2;
    s_sort_key_t keys[S_SORT_KEYS_MAX];
    size_t key_count = 0;
    char *sort_text = sort_by ? hpt_strdup (sort_by) : NULL;
    hpt_projection_t *projection =
        hpt_projection_option ("jobs list", format ? format : "table", S_LIST_KEYS);
    bool usage_ok = projection && (!sort_text || s_sort_parse (sort_text, keys, &key_count));
    hpt_client_t *client = usage_ok ? hpt_client_new (context, "hpt.jobs.list") : NULL;
    int rc = usage_ok ? 1 : 2;
    if (client) {
        char *filter = s_join_filters (&filters);
        json_t *jobs = NULL;
        rc = s_fetch_jobs (client, context->project, filter, size, most, keys, key_count, &jobs);
        bool table = hpt_projection_kind (projection) == HPT_PROJECTION_TABLE;
        if (rc == 0 && uri)
            s_print_uris (client, context->project, jobs);
        else if (rc == 0 && json_array_size (jobs) == 0 && table)
            fprintf (stderr, "Listed 0 items.\n");
        else if (rc == 0 && !hpt_projection_print_list (projection, jobs, stdout)) {
            hpt_client_error (client, "cannot print the master's answer");
            rc = 1;
        }
        json_decref (jobs);
        free (filter);
    }
    free (sort_text);
    hpt_projection_destroy (&projection);
    hpt_client_destroy (&client);
    return rc;
}

static int
s_cancel (hpt_cli_context_t *context, int argc, char *argv[])
{
    hpt_cli_option_t options[] = {{NULL, NULL, NULL, NULL}};
    hpt_cli_args_t args = {.command = "jobs cancel", .options = options, .positional_max = 1};
    int parsed = hpt_cli_parse (context, &args, argc, argv);
    if (parsed >= 0) return parsed;
    if (args.positional_count != 1) {
        fprintf (stderr, "hpt jobs cancel: JOB is required (see hpt jobs cancel --help)\n");
        return 2;
    }
    hpt_client_t *client = hpt_client_new (context, "hpt.jobs.cancel");
    if (!client) return 1;
    json_t *reply = NULL;
    int rc = hpt_cli_job_call (client, "POST", context->project, args.positional[0], ":cancel",
                               NULL, &reply);
    if (rc == 0) fprintf (stderr, "Cancelled job [%s].\n", args.positional[0]);
    json_decref (reply);
    hpt_client_destroy (&client);
    return rc;
}

//  Applies --clear-labels, --remove-labels KEY,... and --update-labels
//  KEY=VALUE,... (in gcloud's order: clear, remove, update) to labels (an
//  object, changed in place). Prints the problem and returns false for a
//  word that is not KEY=VALUE.
static bool
s_edit_labels (json_t *labels, bool clear, const hpt_cli_multi_t *remove,
               const hpt_cli_multi_t *update)
{
    if (clear) json_object_clear (labels);
    for (int i = 0; i < remove->count; i++) {
        char *copy = hpt_strdup (remove->values[i]);
        for (char *save = NULL, *key = strtok_r (copy, ",", &save); key;
             key = strtok_r (NULL, ",", &save))
            json_object_del (labels, key);
        free (copy);
    }
    bool ok = true;
    for (int i = 0; i < update->count && ok; i++) {
        char *copy = hpt_strdup (update->values[i]);
        for (char *save = NULL, *pair = strtok_r (copy, ",", &save); pair && ok;
             pair = strtok_r (NULL, ",", &save)) {
            char *eq = strchr (pair, '=');
            json_t *value = eq ? json_string ((*eq = 0, eq + 1)) : NULL;
            if (!eq || eq == pair || !value) {
                fprintf (stderr,
                         "hpt jobs update: --update-labels takes KEY=VALUE[,KEY=VALUE...], "
                         "not '%s'\n",
                         update->values[i]);
                ok = false;
            } else
                json_object_set_new (labels, pair, value);
        }
        free (copy);
    }
    return ok;
}

//  Checks a patch body as the master will (hpt_job_read_patch: label
//  keys and values), so a bad label is refused before anything is sent.
static bool
s_patch_ok (json_t *body)
{
    char *text = hpt_json_dumps (body, false);
    hpt_diag_t *diag = hpt_diag_new ("labels", true);
    char *etag = NULL;
    hpt_job_t *patch = text && diag ? hpt_job_read_patch (text, strlen (text), &etag, diag) : NULL;
    if (!patch && diag) hpt_diag_print (diag, stderr);
    bool ok = patch != NULL;
    hpt_job_destroy (&patch);
    hpt_diag_destroy (&diag);
    free (etag);
    free (text);
    return ok;
}

//  update: read the job's labels and etag, change them, send them back
//  with updateMask=labels,etag, so a change made meanwhile by someone
//  else is refused (409 ABORTED) rather than overwritten.
static int
s_update (hpt_cli_context_t *context, int argc, char *argv[])
{
    hpt_cli_multi_t update = {0}, remove = {0};
    bool clear = false;
    const char *format = "yaml(jobId, labels, etag)";
    hpt_cli_option_t options[] = {{"--update-labels", NULL, NULL, &update},
                                  {"--remove-labels", NULL, NULL, &remove},
                                  {"--clear-labels", NULL, &clear, NULL},
                                  {"--format", &format, NULL, NULL},
                                  {NULL, NULL, NULL, NULL}};
    hpt_cli_args_t args = {.command = "jobs update", .options = options, .positional_max = 1};
    int parsed = hpt_cli_parse (context, &args, argc, argv);
    if (parsed >= 0) return parsed;
    if (args.positional_count != 1 || (!clear && update.count == 0 && remove.count == 0)) {
        fprintf (stderr, "hpt jobs update: usage: hpt jobs update JOB [--update-labels K=V,...] "
                         "[--remove-labels K,...] [--clear-labels]\n");
        return 2;
    }
    const char *job_id = args.positional[0];
    hpt_projection_t *projection = hpt_projection_option ("jobs update", format, "jobId, labels");
    if (!projection) return 2;
    json_t *labels = json_object ();
    if (!s_edit_labels (labels, false, &remove, &update)) { //  the words, before any call
        json_decref (labels);
        hpt_projection_destroy (&projection);
        return 2;
    }
    json_decref (labels);
    hpt_client_t *client = hpt_client_new (context, "hpt.jobs.update");
    json_t *job = NULL, *reply = NULL, *body = NULL;
    int rc =
        client ? hpt_cli_job_call (client, "GET", context->project, job_id, "", NULL, &job) : 1;
    if (rc == 0) {
        json_t *had = json_object_get (job, "labels");
        labels = json_is_object (had) ? json_deep_copy (had) : json_object ();
        s_edit_labels (labels, clear, &remove, &update);
        body = json_pack ("{s:o}", "labels", labels);
        json_t *etag = json_object_get (job, "etag");
        if (json_is_string (etag)) json_object_set (body, "etag", etag);
        rc = s_patch_ok (body) ? 0 : 2;
    }
    if (rc == 0)
        rc = hpt_cli_job_call (client, "PATCH", context->project, job_id,
                               json_is_string (json_object_get (job, "etag"))
                                   ? "?updateMask=labels,etag"
                                   : "?updateMask=labels",
                               body, &reply);
    if (rc == 0) {
        fprintf (stderr, "Updated job [%s].\n", job_id);
        hpt_projection_print (projection, reply, stdout);
    }
    json_decref (body);
    json_decref (job);
    json_decref (reply);
    hpt_projection_destroy (&projection);
    hpt_client_destroy (&client);
    return rc;
}

//  --polling-interval SECONDS: a positive number of seconds, at most an
//  hour, as milliseconds.
static bool
s_interval_option (const char *text, long *ms)
{
    if (!text) return true;
    char *end = NULL;
    errno = 0;
    double seconds = strtod (text, &end);
    if (errno == 0 && end != text && *end == 0 && seconds > 0 && seconds <= 3600) {
        *ms = (long)(seconds * 1000 + 0.5);
        if (*ms < 1) *ms = 1;
        return true;
    }
    fprintf (stderr,
             "hpt jobs stream-logs: --polling-interval must be seconds (more than 0, at most "
             "3600), not '%s'\n",
             text);
    return false;
}

static int
s_stream_logs (hpt_cli_context_t *context, int argc, char *argv[])
{
    const char *trial = NULL, *interval = NULL, *task_name = NULL;
    bool multiline = false;
    hpt_cli_option_t options[] = {{"--trial", &trial, NULL, NULL},
                                  {"--polling-interval", &interval, NULL, NULL},
                                  {"--task-name", &task_name, NULL, NULL},
                                  {"--allow-multiline-logs", NULL, &multiline, NULL},
                                  {NULL, NULL, NULL, NULL}};
    hpt_cli_args_t args = {.command = "jobs stream-logs", .options = options, .positional_max = 1};
    int parsed = hpt_cli_parse (context, &args, argc, argv);
    if (parsed >= 0) return parsed;
    if (args.positional_count != 1) {
        fprintf (stderr,
                 "hpt jobs stream-logs: JOB is required (see hpt jobs stream-logs --help)\n");
        return 2;
    }
    if (trial && (strlen (trial) == 0 || strlen (trial) > 18 ||
                  strspn (trial, "0123456789") != strlen (trial))) {
        fprintf (stderr, "hpt jobs stream-logs: --trial must be a trial number, not '%s'\n", trial);
        return 2;
    }
    hpt_follow_options_t follow = {trial, task_name, multiline, true, 300};
    if (!s_interval_option (interval, &follow.interval_ms)) return 2;
    hpt_client_t *client = hpt_client_new (context, "hpt.jobs.stream-logs");
    if (!client) return 1;
    char *final = NULL;
    int rc = hpt_follow_run (client, context->project, args.positional[0], &follow, &final);
    if (rc == 0 && strcmp (final, "SUCCEEDED") != 0) {
        fprintf (stderr, "Job [%s] ended %s.\n", args.positional[0], final);
        rc = 1;
    }
    free (final);
    hpt_client_destroy (&client);
    return rc;
}

int
hpt_cli_jobs (hpt_cli_context_t *context, int argc, char *argv[])
{
    if (argc < 1 || strcmp (argv[0], "--help") == 0 || strcmp (argv[0], "-h") == 0) {
        hpt_cli_usage ("jobs", argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    if (strcmp (argv[0], "submit") == 0) return hpt_cli_jobs_submit (context, argc - 1, argv + 1);
    if (strcmp (argv[0], "describe") == 0) return s_describe (context, argc - 1, argv + 1);
    if (strcmp (argv[0], "list") == 0) return s_list (context, argc - 1, argv + 1);
    if (strcmp (argv[0], "cancel") == 0) return s_cancel (context, argc - 1, argv + 1);
    if (strcmp (argv[0], "update") == 0) return s_update (context, argc - 1, argv + 1);
    if (strcmp (argv[0], "stream-logs") == 0) return s_stream_logs (context, argc - 1, argv + 1);
    fprintf (stderr, "hpt jobs: unknown command '%s' (see hpt jobs --help)\n", argv[0]);
    return 2;
}
