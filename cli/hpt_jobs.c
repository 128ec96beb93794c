/*  hpt jobs -- submit, describe, list, cancel and follow tuning jobs

    The gcloud ai-platform jobs commands over hpt's REST API (docs/interfaces.md):

        submit training JOB  POST   /v1/projects/P/jobs          (Job JSON)
        describe JOB         GET    /v1/projects/P/jobs/JOB
        list                 GET    /v1/projects/P/jobs?filter=EXPR, every page
        cancel JOB           POST   /v1/projects/P/jobs/JOB:cancel
        stream-logs JOB      GET    /v1/projects/P/jobs/JOB/logs?after=SEQ[&trial=N]

    submit reads and validates the config exactly as `hpt validate` does,
    so an invalid config never reaches the master and its problems carry
    file positions. Output follows gcloud: status lines ("Job [J]
    submitted successfully.", the follow-up commands) go to stderr and the
    resource (jobId, state) to stdout, so scripts can read stdout as YAML.

    stream-logs polls: each answer carries the entries after the cursor,
    the next cursor and the job's state. It asks again at once while
    entries come or the cursor moves, waits 300 ms when neither happened,
    and stops when the job is final and a poll brings nothing more and
    leaves the cursor where it was, so the last lines written before the
    job ended are never lost (a page may hold no entry for --trial N yet
    move the cursor past other trials' lines). A master that cannot be reached is
    retried for a while (it may be restarting), because losing a long
    stream to a blip is worse than waiting; but for at most S_GIVE_UP_MS
    of failed polls, timed by the clock rather than counted, since one
    failed poll takes anything from a millisecond (refused) to the request
    timeout (a master that accepts and never answers).
*/
#include "hpt_cli.h"
#include "hpt_alloc.h"
#include "hpt_client.h"
#include "hpt_format.h"
#include "hpt_job_reader.h"
#include "hpt_json.h"
#include "hpt_tree.h"
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

//  Pause between polls that brought no log entries.
#define S_POLL_INTERVAL_MS 300
//  Pause between polls that could not reach the master.
#define S_RETRY_INTERVAL_MS 1000
//  How long polls may fail in a row before stream-logs gives up.
#define S_GIVE_UP_MS 30000

//  Builds "/v1/projects/P/jobs[/JOB]SUFFIX" with P and JOB escaped. The
//  caller frees the result; NULL when libcurl cannot escape them (it
//  allocates for itself, and may fail).
static char *
s_job_path (hpt_client_t *client, const char *project, const char *job, const char *suffix)
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
static int
s_job_call (hpt_client_t *client, const char *method, const char *project, const char *job,
            const char *suffix, json_t *body, json_t **reply)
{
    *reply = NULL;
    char *path = s_job_path (client, project, job, suffix);
    if (!path) {
        hpt_client_error (client, "out of memory");
        return 1;
    }
    hpt_client_result_t result = hpt_client_call (client, method, path, body, false, reply);
    free (path);
    return result == HPT_CLIENT_OK ? 0 : 1;
}

static bool
s_state_final (const char *state)
{
    return state && (strcmp (state, "SUCCEEDED") == 0 || strcmp (state, "FAILED") == 0 ||
                     strcmp (state, "CANCELLED") == 0);
}

static long long
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
s_sleep_ms (long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep (&ts, &ts) == -1 && errno == EINTR)
        ;
}

//  A JSON integer or an int64 in a string (proto3 JSON) as long long.
static bool
s_json_int (json_t *value, long long *out)
{
    if (json_is_integer (value)) {
        *out = json_integer_value (value);
        return true;
    }
    const char *text = json_string_value (value);
    if (!text || !*text) return false;
    char *end = NULL;
    errno = 0;
    long long v = strtoll (text, &end, 10);
    if (errno || *end) return false;
    *out = v;
    return true;
}

//  Log text arrives in chunks as the agent read it from a pipe, so a
//  line may be split over entries (even over pages) and an entry may hold
//  several lines. Each task's stream keeps its unfinished line here until
//  its newline comes; then the whole line is printed with its prefix.
//  Unfinished lines are printed when a poll finds nothing new (so a prompt
//  without newline still shows) and at the end.
typedef struct {
    char *key;    //  taskId (or trial/replica) and stream, owned
    char *prefix; //  "[trial N REPLICA] ", owned
    char *text;   //  the unfinished line, owned
    size_t size;  //  bytes in text
} s_partial_t;

typedef struct {
    s_partial_t *items; //  tasks with an unfinished line, owned
    size_t count;       //  entries in items
} s_lines_t;

//  A line longer than this is printed in pieces rather than held.
#define S_LINE_MAX (64 * 1024)

static void
s_partial_print (s_partial_t *p, const char *tail, size_t tail_len)
{
    printf ("%s%.*s%.*s\n", p->prefix, (int)p->size, p->text ? p->text : "", (int)tail_len, tail);
    p->size = 0;
}

static void
s_lines_drop (s_lines_t *self, size_t i)
{
    free (self->items[i].key);
    free (self->items[i].prefix);
    free (self->items[i].text);
    self->items[i] = self->items[--self->count];
}

//  Prints every unfinished line and forgets them.
static void
s_lines_flush (s_lines_t *self)
{
    while (self->count > 0) {
        s_partial_t *p = &self->items[self->count - 1];
        if (p->size > 0) s_partial_print (p, "", 0);
        s_lines_drop (self, self->count - 1);
    }
    free (self->items);
    self->items = NULL;
}

//  The unfinished line of key, made (with prefix, copied) when missing.
static s_partial_t *
s_lines_find (s_lines_t *self, const char *key, const char *prefix)
{
    for (size_t i = 0; i < self->count; i++)
        if (strcmp (self->items[i].key, key) == 0) return &self->items[i];
    self->items = hpt_realloc (self->items, (self->count + 1) * sizeof (s_partial_t));
    s_partial_t *p = &self->items[self->count++];
    *p = (s_partial_t){hpt_strdup (key), hpt_strdup (prefix), NULL, 0};
    return p;
}

//  Prints the complete lines of one entry; keeps its unfinished tail.
//  Entries that are not a task's output (the master's own events) are
//  whole messages and print at once.
static void
s_lines_feed (s_lines_t *self, json_t *entry)
{
    char trial[64], prefix[256], key[512];
    hpt_format_cell (json_object_get (entry, "trialId"), trial, sizeof (trial));
    const char *replica = json_string_value (json_object_get (entry, "replica"));
    const char *task = json_string_value (json_object_get (entry, "taskId"));
    const char *stream = json_string_value (json_object_get (entry, "stream"));
    const char *text = json_string_value (json_object_get (entry, "text"));
    if (!text || !*text) return;
    if (strcmp (trial, "-") != 0)
        snprintf (prefix, sizeof (prefix), "[trial %s %s] ", trial, replica ? replica : "-");
    else
        snprintf (prefix, sizeof (prefix), "[%s] ", replica ? replica : "-");
    bool output = stream && (strcmp (stream, "stdout") == 0 || strcmp (stream, "stderr") == 0);
    snprintf (key, sizeof (key), "%s/%s/%s", task ? task : trial, replica ? replica : "-",
              stream ? stream : "-");
    s_partial_t whole = {NULL, prefix, NULL, 0};
    s_partial_t *p = output ? s_lines_find (self, key, prefix) : &whole;
    for (const char *nl; (nl = strchr (text, '\n')); text = nl + 1)
        s_partial_print (p, text, (size_t)(nl - text));
    size_t len = strlen (text);
    if (len > 0 && (p == &whole || p->size + len > S_LINE_MAX)) {
        s_partial_print (p, text, len);
        len = 0;
    }
    if (len > 0) {
        p->text = hpt_realloc (p->text, p->size + len);
        memcpy (p->text + p->size, text, len);
        p->size += len;
    }
    if (p != &whole && p->size == 0) s_lines_drop (self, (size_t)(p - self->items));
}

//  Follows a job's logs until it is final. On success returns 0 and the
//  final state in *state_out (caller frees); 1 after an error was printed.
static int
s_follow_logs (hpt_client_t *client, const char *project, const char *job, const char *trial,
               char **state_out)
{
    *state_out = NULL;
    long long after = 0;
    long long failing_since = -1; //  when the first of the failed polls in a row began
    s_lines_t lines = {NULL, 0};
    char *trial_escaped = trial ? hpt_client_escape (client, trial) : NULL;
    int rc = -1;
    while (rc < 0) {
        char suffix[160];
        snprintf (suffix, sizeof (suffix), "/logs?after=%lld%s%s", after,
                  trial_escaped ? "&trial=" : "", trial_escaped ? trial_escaped : "");
        char *path = s_job_path (client, project, job, suffix);
        json_t *reply = NULL;
        long long started = s_now_ms ();
        hpt_client_result_t result =
            path ? hpt_client_call (client, "GET", path, NULL, true, &reply) : HPT_CLIENT_FAILED;
        free (path);
        if (result == HPT_CLIENT_UNREACHABLE) {
            if (failing_since < 0) {
                failing_since = started;
                fprintf (stderr, "WARNING: lost the hpt master at %s (%s); retrying for %d s\n",
                         hpt_client_url (client), hpt_client_last_error (client),
                         S_GIVE_UP_MS / 1000);
            }
            if (s_now_ms () - failing_since >= S_GIVE_UP_MS) {
                hpt_client_report_unreachable (client);
                fprintf (stderr,
                         "  gave up after %d s without an answer; the job is not affected: "
                         "hpt jobs stream-logs %s follows it again\n",
                         S_GIVE_UP_MS / 1000, job);
                rc = 1;
            } else
                s_sleep_ms (S_RETRY_INTERVAL_MS);
            continue;
        }
        if (result != HPT_CLIENT_OK) {
            rc = 1;
            continue;
        }
        failing_since = -1;
        json_t *entries = json_object_get (reply, "entries");
        const char *state = json_string_value (json_object_get (reply, "jobState"));
        long long next = 0;
        if ((entries && !json_is_array (entries)) || !state ||
            !s_json_int (json_object_get (reply, "next"), &next)) {
            hpt_client_error (client, "the master's logs answer lacks entries, next or jobState");
            json_decref (reply);
            rc = 1;
            continue;
        }
        size_t i;
        json_t *entry;
        json_array_foreach (entries, i, entry)
            s_lines_feed (&lines, entry);
        size_t count = json_array_size (entries);
        if (count == 0 && next <= after) s_lines_flush (&lines);
        fflush (stdout);
        if (count > 0 && next <= after) {
            hpt_client_error (client, "the master's log cursor did not advance");
            rc = 1;
        } else if (count == 0 && next <= after && s_state_final (state)) {
            *state_out = hpt_strdup (state);
            rc = 0;
        } else {
            //  The cursor may move without entries (a page of other
            //  trials' lines under --trial): read on without waiting.
            if (count == 0 && next <= after) s_sleep_ms (S_POLL_INTERVAL_MS);
            after = next;
        }
        json_decref (reply);
    }
    s_lines_flush (&lines);
    fflush (stdout);
    free (trial_escaped);
    return rc;
}

//  Reads and validates the config as `hpt validate` does; prints problems.
//  Returns the job (caller owns) or NULL.
static hpt_job_t *
s_read_config (const char *config)
{
    hpt_error_t error;
    size_t size = 0;
    char *text = hpt_read_file (config, HPT_TREE_MAX_BYTES, &size, &error);
    if (!text) {
        fprintf (stderr, "%s: %s\n", config, error.message);
        return NULL;
    }
    hpt_config_format_t kind = hpt_config_format_guess (config, text, size);
    hpt_diag_t *diag = hpt_diag_new (config, kind == HPT_CONFIG_JSON);
    hpt_job_t *job = diag ? hpt_job_read_text (text, size, kind, diag) : NULL;
    free (text);
    if (!job && diag) {
        hpt_diag_print (diag, stderr);
        fprintf (stderr, "%zu problem%s found\n", hpt_diag_count (diag),
                 hpt_diag_count (diag) == 1 ? "" : "s");
    }
    hpt_diag_destroy (&diag);
    return job;
}

//  Appends user arguments (copied) to trainingInput.args.
static void
s_append_args (hpt_job_t *job, char **words, int count)
{
    if (count <= 0) return;
    job->input.args =
        hpt_realloc (job->input.args, (job->input.arg_count + count) * sizeof (char *));
    for (int i = 0; i < count; i++)
        job->input.args[job->input.arg_count++] = hpt_strdup (words[i]);
}

static int
s_submit (hpt_cli_context_t *context, int argc, char *argv[])
{
    const char *config = NULL;
    bool stream = false;
    hpt_cli_option_t options[] = {
        {"--config", &config, NULL}, {"--stream-logs", NULL, &stream}, {NULL, NULL, NULL}};
    hpt_cli_args_t args = {
        .command = "jobs submit", .options = options, .positional_max = 2, .rest_allowed = true};
    int parsed = hpt_cli_parse (context, &args, argc, argv);
    if (parsed >= 0) return parsed;
    if (args.positional_count != 2 || strcmp (args.positional[0], "training") != 0) {
        fprintf (stderr, "hpt jobs submit: usage: hpt jobs submit training JOB --config FILE "
                         "(see hpt jobs submit --help)\n");
        return 2;
    }
    const char *job_id = args.positional[1];
    if (!config) {
        fprintf (stderr, "hpt jobs submit: --config FILE is required\n");
        return 2;
    }
    if (!hpt_job_id_valid (job_id)) {
        fprintf (stderr,
                 "hpt jobs submit: invalid job id '%s': it must start with a letter and "
                 "contain only letters, digits and underscores (at most 128)\n",
                 job_id);
        return 2;
    }
    hpt_job_t *job = s_read_config (config);
    if (!job) return 2;
    hpt_job_set_id (job, job_id);
    s_append_args (job, args.rest, args.rest_count);
    json_t *body = hpt_job_to_json (job);
    hpt_job_destroy (&job);
    hpt_client_t *client = hpt_client_new (context, "hpt.jobs.submit");
    if (!client) {
        json_decref (body);
        return 1;
    }
    json_t *reply = NULL;
    int rc = s_job_call (client, "POST", context->project, NULL, "", body, &reply);
    json_decref (body);
    if (rc == 0) {
        const char *state = json_string_value (json_object_get (reply, "state"));
        fprintf (stderr, "Job [%s] submitted successfully.\n", job_id);
        if (stream) {
            char *final = NULL;
            rc = s_follow_logs (client, context->project, job_id, NULL, &final);
            if (rc == 0) {
                printf ("jobId: %s\nstate: %s\n", job_id, final);
                rc = strcmp (final, "SUCCEEDED") == 0 ? 0 : 1;
                //  Say why, as gcloud does for a job that did not succeed.
                json_t *job_now = NULL;
                if (rc != 0 &&
                    s_job_call (client, "GET", context->project, job_id, "", NULL, &job_now) == 0) {
                    const char *why = json_string_value (json_object_get (job_now, "errorMessage"));
                    if (why) fprintf (stderr, "ERROR: (hpt.jobs.submit) %s\n", why);
                }
                json_decref (job_now);
            }
            free (final);
        } else {
            fprintf (stderr,
                     "Your job is still active. You may view the status of your job with the "
                     "command\n\n  $ hpt jobs describe %s\n\nor continue streaming the logs "
                     "with the command\n\n  $ hpt jobs stream-logs %s\n",
                     job_id, job_id);
            printf ("jobId: %s\n", job_id);
            if (state) printf ("state: %s\n", state);
        }
    }
    json_decref (reply);
    hpt_client_destroy (&client);
    return rc;
}

//  Prints "Label: value" in the summary header when value is set.
static void
s_header (const char *label, const char *value)
{
    if (value && *value) printf ("%-12s%s\n", label, value);
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
    snprintf (buf, sizeof (buf), "none yet");
    size_t i;
    json_t *trial;
    json_array_foreach (trials, i, trial) {
        json_t *metric = json_object_get (trial, "finalMetric");
        if (json_is_number (json_object_get (metric, "objectiveValue"))) {
            snprintf (buf, sizeof (buf), "%s (objective %s at step %s)",
                      hpt_format_cell (json_object_get (trial, "trialId"), a, sizeof (a)),
                      hpt_format_cell (json_object_get (metric, "objectiveValue"), b, sizeof (b)),
                      hpt_format_cell (json_object_get (metric, "trainingStep"), c, sizeof (c)));
            break;
        }
    }
    s_header ("Best trial:", buf);
    if (!trials || json_array_size (trials) == 0) {
        printf ("\nNo trials yet.\n");
        return;
    }

    //  Hyperparameter columns: the spec's order, then any name only the
    //  trials know (a resumed job's spec may omit params).
    json_t *columns = json_array ();
    json_t *param;
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
        hpt_format_cell (json_object_get (metric, "objectiveValue"), text[2], sizeof (text[2]));
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

    bool noted = false;
    json_array_foreach (trials, i, trial) {
        const char *state = json_string_value (json_object_get (trial, "state"));
        const char *message = json_string_value (json_object_get (trial, "errorMessage"));
        bool early = json_is_true (json_object_get (trial, "isTrialStoppedEarly"));
        bool bad = state && (strcmp (state, "FAILED") == 0 || strcmp (state, "CANCELLED") == 0);
        if (!early && !bad) continue;
        if (!noted) printf ("\nNotes:\n");
        noted = true;
        hpt_format_cell (json_object_get (trial, "trialId"), a, sizeof (a));
        json_t *learned = json_object_get (trial, "hptEstimatedObjectiveValue");
        if (early && json_is_number (learned))
            printf ("  trial %s: stopped early (%s); the optimizer was told %.6g\n", a,
                    message ? message : "no reason given", json_number_value (learned));
        else if (early)
            printf ("  trial %s: stopped early (%s)\n", a, message ? message : "no reason given");
        else
            printf ("  trial %s: %s: %s\n", a, state, message ? message : "no reason given");
    }
}

static int
s_describe (hpt_cli_context_t *context, int argc, char *argv[])
{
    const char *format = "yaml";
    bool summarize = false;
    hpt_cli_option_t options[] = {
        {"--format", &format, NULL}, {"--summarize", NULL, &summarize}, {NULL, NULL, NULL}};
    hpt_cli_args_t args = {.command = "jobs describe", .options = options, .positional_max = 1};
    int parsed = hpt_cli_parse (context, &args, argc, argv);
    if (parsed >= 0) return parsed;
    if (args.positional_count != 1) {
        fprintf (stderr, "hpt jobs describe: JOB is required (see hpt jobs describe --help)\n");
        return 2;
    }
    hpt_format_style_t style;
    if (!hpt_format_style_option ("jobs describe", format, &style)) return 2;
    hpt_client_t *client = hpt_client_new (context, "hpt.jobs.describe");
    if (!client) return 1;
    json_t *reply = NULL;
    int rc = s_job_call (client, "GET", context->project, args.positional[0], "", NULL, &reply);
    if (rc == 0) {
        if (summarize)
            s_summarize (reply);
        else if (!hpt_format_print (reply, style, stdout)) {
            hpt_client_error (client, "cannot print the master's answer");
            rc = 1;
        }
    }
    json_decref (reply);
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

static int
s_list (hpt_cli_context_t *context, int argc, char *argv[])
{
    const char *filter = NULL, *page_size = NULL, *limit = NULL;
    hpt_cli_option_t options[] = {{"--filter", &filter, NULL},
                                  {"--page-size", &page_size, NULL},
                                  {"--limit", &limit, NULL},
                                  {NULL, NULL, NULL}};
    hpt_cli_args_t args = {.command = "jobs list", .options = options, .positional_max = 0};
    int parsed = hpt_cli_parse (context, &args, argc, argv);
    if (parsed >= 0) return parsed;
    long size, most;
    if (!s_count_option ("jobs list", "--page-size", page_size, &size) ||
        !s_count_option ("jobs list", "--limit", limit, &most))
        return 2;
    hpt_client_t *client = hpt_client_new (context, "hpt.jobs.list");
    if (!client) return 1;
    char *escaped = filter ? hpt_client_escape (client, filter) : NULL;
    char *suffix = hpt_asprintf ("%s%s", escaped ? "?filter=" : "", escaped ? escaped : "");
    char *path = escaped || !filter ? s_job_path (client, context->project, NULL, suffix) : NULL;
    json_t *jobs = NULL;
    int rc = 1;
    //  Every page: a list that stops at the master's first page would
    //  hide jobs without saying so.
    if (path)
        rc = hpt_client_list (client, path, "jobs", size, most, &jobs) == HPT_CLIENT_OK ? 0 : 1;
    else
        hpt_client_error (client, "out of memory");
    if (rc == 0 && json_array_size (jobs) == 0)
        fprintf (stderr, "Listed 0 items.\n");
    else if (rc == 0) {
        const char *headings[] = {"JOB_ID", "STATUS", "CREATED"};
        hpt_format_table_t *table = hpt_format_table_new (headings, 3);
        size_t i;
        json_t *job;
        json_array_foreach (jobs, i, job) {
            char id[256], state[64], created[64];
            const char *cells[] = {
                hpt_format_cell (json_object_get (job, "jobId"), id, sizeof (id)),
                hpt_format_cell (json_object_get (job, "state"), state, sizeof (state)),
                hpt_format_cell (json_object_get (job, "createTime"), created, sizeof (created))};
            hpt_format_table_add (table, cells);
        }
        hpt_format_table_print (table, stdout);
        hpt_format_table_destroy (&table);
    }
    json_decref (jobs);
    free (path);
    free (suffix);
    free (escaped);
    hpt_client_destroy (&client);
    return rc;
}

static int
s_cancel (hpt_cli_context_t *context, int argc, char *argv[])
{
    hpt_cli_option_t options[] = {{NULL, NULL, NULL}};
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
    int rc =
        s_job_call (client, "POST", context->project, args.positional[0], ":cancel", NULL, &reply);
    if (rc == 0) fprintf (stderr, "Cancelled job [%s].\n", args.positional[0]);
    json_decref (reply);
    hpt_client_destroy (&client);
    return rc;
}

static int
s_stream_logs (hpt_cli_context_t *context, int argc, char *argv[])
{
    const char *trial = NULL;
    hpt_cli_option_t options[] = {{"--trial", &trial, NULL}, {NULL, NULL, NULL}};
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
    hpt_client_t *client = hpt_client_new (context, "hpt.jobs.stream-logs");
    if (!client) return 1;
    char *final = NULL;
    int rc = s_follow_logs (client, context->project, args.positional[0], trial, &final);
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
    if (strcmp (argv[0], "submit") == 0) return s_submit (context, argc - 1, argv + 1);
    if (strcmp (argv[0], "describe") == 0) return s_describe (context, argc - 1, argv + 1);
    if (strcmp (argv[0], "list") == 0) return s_list (context, argc - 1, argv + 1);
    if (strcmp (argv[0], "cancel") == 0) return s_cancel (context, argc - 1, argv + 1);
    if (strcmp (argv[0], "stream-logs") == 0) return s_stream_logs (context, argc - 1, argv + 1);
    fprintf (stderr, "hpt jobs: unknown command '%s' (see hpt jobs --help)\n", argv[0]);
    return 2;
}
