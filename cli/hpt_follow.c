/*  hpt_follow -- follows a job's logs, and narrates what happens to it

    Three parts: the line assembler (log text comes in chunks as an agent
    read it from a pipe; each task's stream keeps its unfinished line
    until the newline comes), the narrator (compares each new reading of
    the Job with what it already told) and the poll loop that drives both
    (see hpt_follow.h for its timing).
*/
#include "hpt_follow.h"
#include "hpt_alloc.h"
#include "hpt_cli.h"
#include "hpt_format.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

//  Pause between polls that could not reach the master.
#define S_RETRY_INTERVAL_MS 1000
//  The Job is read again at least this often for the narration.
#define S_JOB_POLL_MS 1000
//  ... and at most this often for log lines of a trial not yet told.
#define S_UNKNOWN_POLL_MS 200

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
    json_t *tail; //  the last lines of a trial's stderr, borrowed; NULL: not kept
} s_partial_t;

typedef struct {
    s_partial_t *items; //  tasks with an unfinished line, owned
    size_t count;       //  entries in items
} s_lines_t;

//  A line longer than this is printed in pieces rather than held.
#define S_LINE_MAX (64 * 1024)

//  How many lines of a trial's stderr are kept for the narration, and
//  how many bytes of each.
#define S_TAIL_LINES 5
#define S_TAIL_WIDTH 300

static void
s_partial_print (s_partial_t *p, const char *tail, size_t tail_len)
{
    printf ("%s%.*s%.*s\n", p->prefix, (int)p->size, p->text ? p->text : "", (int)tail_len, tail);
    if (p->tail) {
        char *line =
            hpt_asprintf ("%.*s%.*s", (int)p->size, p->text ? p->text : "", (int)tail_len, tail);
        if (strlen (line) > S_TAIL_WIDTH) line[S_TAIL_WIDTH] = 0;
        json_t *text = json_string (line); //  NULL for text that is not UTF-8
        json_array_append_new (p->tail, text ? text : json_string ("?"));
        free (line);
        while (json_array_size (p->tail) > S_TAIL_LINES)
            json_array_remove (p->tail, 0);
    }
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
    *p = (s_partial_t){hpt_strdup (key), hpt_strdup (prefix), NULL, 0, NULL};
    return p;
}

//  The size of a line's time stamp, its space included.
#define S_STAMP_MAX 64

//  A time in this machine's zone as gcloud prints log times
//  ("2026-12-04 10:22:31 +0100 ").
static void
s_stamp_at (time_t when, char *buf)
{
    struct tm local;
    *buf = '\0';
    if (when != (time_t)-1 && localtime_r (&when, &local))
        strftime (buf, S_STAMP_MAX, "%Y-%m-%d %H:%M:%S %z ", &local);
}

//  text, an RFC 3339 UTC time as the master writes it ("time" of a log
//  entry, "endTime" of a Job), as a stamp; false (buf untouched) when
//  there is none to read.
static bool
s_stamp (const char *text, char *buf)
{
    struct tm tm = {0};
    if (!text || sscanf (text, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                         &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
        return false;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    s_stamp_at (timegm (&tm), buf);
    return true;
}

//  A follower: the options, the lines being assembled, what was told.
typedef struct {
    const hpt_follow_options_t *options; //  borrowed
    hpt_client_t *client;                //  borrowed
    const char *project;                 //  borrowed
    const char *job;                     //  borrowed
    s_lines_t lines;                     //  unfinished lines
    json_t *tails;                       //  trialId -> its last stderr lines
    json_t *told;                        //  trialId -> "started" | "stopped" | "ended"
    char *job_state;                     //  the job state last told, owned
    char *queue_reason;                  //  the queue reason last told, owned
    long long job_polled;                //  when the Job was last read (ms), -1: never
    char stamp[S_STAMP_MAX];             //  the narration's time: the last entry's, or now
    bool timed;                          //  entries have times (then so does the narration)
} s_follower_t;

//  Whether entry belongs to the task --task-name names: its replica
//  (master-0), its kind (master), gcloud's task name (master-replica-0)
//  or hpt's task id. Entries of no task (the master's events) always do.
static bool
s_task_matches (const char *name, json_t *entry)
{
    const char *replica = json_string_value (json_object_get (entry, "replica"));
    const char *task = json_string_value (json_object_get (entry, "taskId"));
    if (!name || !task) return true;
    if (strcmp (name, task) == 0) return true;
    if (!replica) return false;
    const char *dash = strrchr (replica, '-');
    size_t kind = dash ? (size_t)(dash - replica) : strlen (replica);
    char gcloud[256];
    snprintf (gcloud, sizeof (gcloud), "%.*s-replica-%s", (int)kind, replica,
              dash ? dash + 1 : "0");
    return strcmp (name, replica) == 0 || strcmp (name, gcloud) == 0 ||
           (strlen (name) == kind && strncmp (name, replica, kind) == 0);
}

//  Whether an event of the master is one the narration tells better:
//  "trial N SUCCEEDED|FAILED|CANCELLED|stopped early...".
static bool
s_event_narrated (const char *text)
{
    if (strncmp (text, "trial ", 6) != 0) return false;
    const char *rest = text + 6 + strspn (text + 6, "0123456789");
    const char *words[] = {" SUCCEEDED", " FAILED", " CANCELLED", " stopped early"};
    for (size_t i = 0; i < 4; i++)
        if (strncmp (rest, words[i], strlen (words[i])) == 0) return true;
    return false;
}

static json_t *s_poll_job (s_follower_t *self, const char *ending);

//  Prints the complete lines of one entry; keeps its unfinished tail.
//  Entries that are not a task's output (the master's own events) are
//  whole messages and print at once. The narration keeps its place: a
//  trial's start is told before its first line (the Job is read then),
//  its end where the master's event about it comes.
static void
s_feed (s_follower_t *self, json_t *entry)
{
    char trial[64], prefix[256 + S_STAMP_MAX], key[512];
    hpt_format_cell (json_object_get (entry, "trialId"), trial, sizeof (trial));
    const char *replica = json_string_value (json_object_get (entry, "replica"));
    const char *task = json_string_value (json_object_get (entry, "taskId"));
    const char *stream = json_string_value (json_object_get (entry, "stream"));
    const char *text = json_string_value (json_object_get (entry, "text"));
    bool event = stream && strcmp (stream, "event") == 0;
    if (!text || !*text || !s_task_matches (self->options->task_name, entry)) return;
    //  The entry's lines, and what is told of it, carry its time.
    if (s_stamp (json_string_value (json_object_get (entry, "time")), self->stamp))
        self->timed = true;
    else
        self->stamp[0] = '\0';
    bool known = strcmp (trial, "-") == 0 || json_object_get (self->told, trial);
    if (self->options->narrate && event && s_event_narrated (text)) {
        s_lines_flush (&self->lines); //  the trial's last partial lines first
        char id[32];
        snprintf (id, sizeof (id), "%.*s", (int)strspn (text + 6, "0123456789"), text + 6);
        json_t *job = s_poll_job (self, id);
        json_decref (job);
        if (job) return; //  told; without the Job the event prints as it is
    }
    //  At most one reading per S_UNKNOWN_POLL_MS for lines of trials the
    //  Job does not show started (a requeued trial's last lines).
    if (self->options->narrate && !known && s_now_ms () - self->job_polled >= S_UNKNOWN_POLL_MS)
        json_decref (s_poll_job (self, NULL));
    if (strcmp (trial, "-") != 0)
        snprintf (prefix, sizeof (prefix), "%s[trial %s %s] ", self->stamp, trial,
                  replica ? replica : "-");
    else
        snprintf (prefix, sizeof (prefix), "%s[%s] ", self->stamp, replica ? replica : "-");
    bool output = stream && (strcmp (stream, "stdout") == 0 || strcmp (stream, "stderr") == 0);
    snprintf (key, sizeof (key), "%s/%s/%s", task ? task : trial, replica ? replica : "-",
              stream ? stream : "-");
    s_partial_t whole = {NULL, prefix, NULL, 0, NULL};
    s_partial_t *p =
        output && !self->options->multiline ? s_lines_find (&self->lines, key, prefix) : &whole;
    if (strcmp (stream ? stream : "", "stderr") == 0 && strcmp (trial, "-") != 0) {
        json_t *tail = json_object_get (self->tails, trial);
        if (!tail) json_object_set_new (self->tails, trial, tail = json_array ());
        p->tail = tail;
    }
    if (p == &whole) { //  one record: the text as it came, its last newline dropped
        size_t len = strlen (text);
        s_partial_print (p, text, len > 0 && text[len - 1] == '\n' ? len - 1 : len);
        return;
    }
    for (const char *nl; (nl = strchr (text, '\n')); text = nl + 1)
        s_partial_print (p, text, (size_t)(nl - text));
    size_t len = strlen (text);
    if (len > 0 && p->size + len > S_LINE_MAX) {
        s_partial_print (p, text, len);
        len = 0;
    }
    if (len > 0) {
        p->text = hpt_realloc (p->text, p->size + len);
        memcpy (p->text + p->size, text, len);
        p->size += len;
    }
    if (p->size == 0) s_lines_drop (&self->lines, (size_t)(p - self->lines.items));
}

//  "x=0.27, y=5" of a trial's hyperparameters, reals to 6 digits.
static char *
s_params (json_t *trial)
{
    char *out = hpt_strdup ("");
    const char *name;
    json_t *value;
    json_object_foreach (json_object_get (trial, "hyperparameters"), name, value) {
        char cell[128];
        const char *text = hpt_format_cell (value, cell, sizeof (cell));
        char *end = NULL;
        double number = strtod (text, &end);
        if (end != text && *end == 0 && strpbrk (text, ".eE"))
            snprintf (cell, sizeof (cell), "%.6g", number);
        else if (text != cell)
            snprintf (cell, sizeof (cell), "%s", text);
        char *next = hpt_asprintf ("%s%s%s=%s", out, *out ? ", " : "", name, cell);
        free (out);
        out = next;
    }
    char *clean = hpt_format_clean (out, "");
    free (out);
    return clean;
}

//  "objective 0.931 at step 100", or "no final metric".
static const char *
s_result (json_t *trial, char *buf, size_t size)
{
    json_t *metric = json_object_get (trial, "finalMetric");
    json_t *value = json_object_get (metric, "objectiveValue");
    char step[64];
    if (!json_is_number (value)) return snprintf (buf, size, "no final metric"), buf;
    snprintf (buf, size, "objective %.6g at step %s", json_number_value (value),
              hpt_format_cell (json_object_get (metric, "trainingStep"), step, sizeof (step)));
    return buf;
}

//  Tells a trial's start: its node(s) and parameters.
static void
s_tell_started (s_follower_t *self, json_t *trial, const char *id)
{
    char *params = s_params (trial);
    json_t *nodes = json_object_get (trial, "hptNodes");
    char *on = hpt_strdup ("");
    size_t i;
    json_t *node;
    json_array_foreach (nodes, i, node) {
        char *next = hpt_asprintf ("%s%s%s", on, i ? ", " : " on ",
                                   json_string_value (node) ? json_string_value (node) : "?");
        free (on);
        on = next;
    }
    char *clean_on = hpt_format_clean (on, "");
    printf ("%s[hpt] trial %s started%s: %s\n", self->stamp, id, clean_on,
            *params ? params : "(no parameters)");
    free (clean_on);
    free (on);
    free (params);
}

//  Tells a trial's end: the objective, or the reason and its stderr tail.
static void
s_tell_ended (s_follower_t *self, json_t *trial, const char *id, const char *state)
{
    char result[160];
    const char *said = json_string_value (json_object_get (trial, "errorMessage"));
    char *message = hpt_format_clean (said, "      ");
    //  A master that tells the stderr tail with the failure has the last
    //  word on it (it read all of it; this command may have read less).
    bool told = said && strstr (said, "\nlast lines of its stderr:\n");
    if (strcmp (state, "SUCCEEDED") == 0)
        printf ("%s[hpt] trial %s SUCCEEDED: %s\n", self->stamp, id,
                s_result (trial, result, sizeof (result)));
    else
        printf ("%s[hpt] trial %s %s: %s\n", self->stamp, id, state,
                message ? message : "no reason given");
    json_t *tail = json_object_get (self->tails, id);
    if (strcmp (state, "SUCCEEDED") != 0 && json_array_size (tail) > 0 && !told) {
        printf ("      last lines of its stderr:\n");
        size_t i;
        json_t *line;
        json_array_foreach (tail, i, line) {
            char *clean = hpt_format_clean (json_string_value (line), "");
            printf ("        %s\n", clean ? clean : "");
            free (clean);
        }
    }
    if (strcmp (state, "SUCCEEDED") != 0 && !told)
        printf ("      its whole log: hpt jobs stream-logs %s --trial %s\n", self->job, id);
    free (message);
}

//  Tells what changed for one trial since the last reading: its start,
//  and when ending is true (the master's event about it came, in its
//  place among the log lines, or the job is over) its early stop and end.
static void
s_narrate_trial (s_follower_t *self, json_t *trial, bool ending)
{
    char id[64];
    hpt_format_cell (json_object_get (trial, "trialId"), id, sizeof (id));
    json_t *own = json_object_get (trial, "hptState");
    const char *state = json_string_value (own ? own : json_object_get (trial, "state"));
    const char *told = json_string_value (json_object_get (self->told, id));
    if (!state || strcmp (id, "-") == 0) return;
    if (strcmp (state, "PENDING") == 0 || strcmp (state, "QUEUED") == 0) {
        //  Requeued (the master's event says why): its start is told again.
        if (told && strcmp (told, "ended") != 0) json_object_del (self->told, id);
        return;
    }
    if (!told) {
        s_tell_started (self, trial, id);
        json_object_set_new (self->told, id, json_string (told = "started"));
    }
    if (!ending) return;
    bool early = json_is_true (json_object_get (trial, "isTrialStoppedEarly"));
    if (early && strcmp (told, "started") == 0) {
        char *message = hpt_format_clean (
            json_string_value (json_object_get (trial, "errorMessage")), "          ");
        const char *why = message ? message : "no reason given";
        printf ("%s[hpt] trial %s %s%s\n", self->stamp, id,
                strncmp (why, "stopped early", 13) == 0 ? "" : "stopped early: ", why);
        free (message);
        json_object_set_new (self->told, id, json_string (told = "stopped"));
    }
    bool final = strcmp (state, "SUCCEEDED") == 0 || strcmp (state, "FAILED") == 0 ||
                 strcmp (state, "CANCELLED") == 0;
    if (final && strcmp (told, "ended") != 0) {
        s_tell_ended (self, trial, id, state);
        json_object_set_new (self->told, id, json_string ("ended"));
    }
}

//  Orders trials by id, the order in which they were made.
static int
s_by_id (const void *a, const void *b)
{
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    char p[64], q[64];
    hpt_format_cell (json_object_get (x, "trialId"), p, sizeof (p));
    hpt_format_cell (json_object_get (y, "trialId"), q, sizeof (q));
    long long i = strtoll (p, NULL, 10), j = strtoll (q, NULL, 10);
    return (i > j) - (i < j);
}

//  Tells the job's state and queue reason when they changed, then each
//  trial's changes (in id order; the master lists best first); ending
//  names the trial whose end may be told ("*": all; NULL: none).
static void
s_narrate (s_follower_t *self, json_t *job, const char *ending)
{
    const char *state = json_string_value (json_object_get (job, "state"));
    const char *reason = json_string_value (json_object_get (job, "hptQueueReason"));
    bool state_changed = state && (!self->job_state || strcmp (state, self->job_state) != 0);
    bool reason_changed =
        reason && (!self->queue_reason || strcmp (reason, self->queue_reason) != 0);
    bool final = state && (strcmp (state, "SUCCEEDED") == 0 || strcmp (state, "FAILED") == 0 ||
                           strcmp (state, "CANCELLED") == 0);
    if ((state_changed || reason_changed) && !final) {
        char *why = hpt_format_clean (reason, "");
        printf ("%s[hpt] job %s%s%s\n", self->stamp, state, why ? ": " : "", why ? why : "");
        free (why);
    }
    if (state_changed) {
        free (self->job_state);
        self->job_state = hpt_strdup (state);
    }
    free (self->queue_reason);
    self->queue_reason = reason ? hpt_strdup (reason) : NULL;
    json_t *trials = json_object_get (json_object_get (job, "trainingOutput"), "trials");
    size_t count = json_array_size (trials);
    json_t **sorted = hpt_calloc (count ? count : 1, sizeof (json_t *));
    for (size_t i = 0; i < count; i++)
        sorted[i] = json_array_get (trials, i);
    qsort (sorted, count, sizeof (json_t *), s_by_id);
    for (size_t i = 0; i < count; i++) {
        char id[64];
        hpt_format_cell (json_object_get (sorted[i], "trialId"), id, sizeof (id));
        if (json_is_object (sorted[i]) &&
            (!self->options->trial || strcmp (self->options->trial, id) == 0))
            s_narrate_trial (self, sorted[i],
                             ending && (strcmp (ending, "*") == 0 || strcmp (ending, id) == 0));
    }
    free (sorted);
}

//  Reads the Job and narrates; quiet about a failed read (the logs poll
//  reports an unreachable master). Returns the Job (caller owns) or NULL.
static json_t *
s_poll_job (s_follower_t *self, const char *ending)
{
    self->job_polled = s_now_ms ();
    char *path = hpt_cli_job_path (self->client, self->project, self->job, "");
    json_t *job = NULL;
    hpt_client_set_silent (self->client, true); //  the logs poll reports what matters
    if (path && hpt_client_call (self->client, "GET", path, NULL, true, &job) != HPT_CLIENT_OK)
        job = NULL;
    hpt_client_set_silent (self->client, false);
    free (path);
    if (job) s_narrate (self, job, ending);
    return job;
}

//  The last words: the job's end and its best trial.
static void
s_tell_end (s_follower_t *self)
{
    json_t *job = s_poll_job (self, "*");
    if (!job) return;
    const char *state = json_string_value (json_object_get (job, "state"));
    char *error =
        hpt_format_clean (json_string_value (json_object_get (job, "errorMessage")), "      ");
    json_t *best = hpt_cli_best_trial (job);
    char id[64], result[160];
    if (self->timed) s_stamp (json_string_value (json_object_get (job, "endTime")), self->stamp);
    printf ("%s[hpt] job %s%s%s", self->stamp, state ? state : "?", error ? ": " : "",
            error ? error : "");
    if (best) {
        char *params = s_params (best);
        printf ("; best trial %s: %s%s%s%s\n",
                hpt_format_cell (json_object_get (best, "trialId"), id, sizeof (id)),
                s_result (best, result, sizeof (result)), *params ? " (" : "", params,
                *params ? ")" : "");
        free (params);
    } else if (json_object_get (json_object_get (job, "trainingInput"), "hyperparameters"))
        printf ("; no trial succeeded with a final metric\n");
    else
        printf ("\n");
    free (error);
    json_decref (job);
}

//  Handles a poll that could not reach the master. Returns 1 (error
//  printed) when it is time to give up, else waits and returns -1.
static int
s_unreachable (s_follower_t *self, bool reached, long long started, long long *failing_since)
{
    long long limit = reached ? HPT_FOLLOW_GIVE_UP_MS : HPT_FOLLOW_FIRST_MS;
    if (*failing_since < 0) {
        *failing_since = started;
        fprintf (stderr, "WARNING: %s the hpt master at %s (%s); retrying for %lld s\n",
                 reached ? "lost" : "cannot reach", hpt_client_url (self->client),
                 hpt_client_last_error (self->client), limit / 1000);
    }
    if (s_now_ms () - *failing_since < limit) {
        s_sleep_ms (S_RETRY_INTERVAL_MS);
        return -1;
    }
    hpt_client_report_unreachable (self->client);
    if (reached)
        fprintf (stderr,
                 "  gave up after %lld s without an answer; the job is not affected: "
                 "hpt jobs stream-logs %s follows it again\n",
                 limit / 1000, self->job);
    else
        fprintf (stderr, "  gave up after %lld s: the master never answered\n", limit / 1000);
    return 1;
}

int
hpt_follow_run (hpt_client_t *client, const char *project, const char *job,
                const hpt_follow_options_t *options, char **state_out)
{
    *state_out = NULL;
    s_follower_t self = {.options = options,
                         .client = client,
                         .project = project,
                         .job = job,
                         .tails = json_object (),
                         .told = json_object (),
                         .job_polled = -1};
    long long after = 0;
    long long failing_since = -1; //  when the first of the failed polls in a row began
    bool reached = false;
    char *trial_escaped = options->trial ? hpt_client_escape (client, options->trial) : NULL;
    int rc = -1;
    while (rc < 0) {
        char suffix[160];
        snprintf (suffix, sizeof (suffix), "/logs?after=%lld%s%s", after,
                  trial_escaped ? "&trial=" : "", trial_escaped ? trial_escaped : "");
        char *path = hpt_cli_job_path (client, project, job, suffix);
        json_t *reply = NULL;
        long long started = s_now_ms ();
        hpt_client_result_t result =
            path ? hpt_client_call (client, "GET", path, NULL, true, &reply) : HPT_CLIENT_FAILED;
        free (path);
        if (result == HPT_CLIENT_UNREACHABLE) {
            rc = s_unreachable (&self, reached, started, &failing_since);
            continue;
        }
        if (result != HPT_CLIENT_OK) {
            rc = 1;
            continue;
        }
        failing_since = -1;
        reached = true;
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
            s_feed (&self, entry);
        size_t count = json_array_size (entries);
        if (count == 0 && next <= after) s_lines_flush (&self.lines);
        //  What a poll finds without a new entry happened about now.
        if (count == 0 && self.timed) s_stamp_at (time (NULL), self.stamp);
        if (options->narrate &&
            (self.job_polled < 0 || s_now_ms () - self.job_polled >= S_JOB_POLL_MS))
            json_decref (s_poll_job (&self, NULL));
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
            if (count == 0 && next <= after) s_sleep_ms (options->interval_ms);
            after = next;
        }
        json_decref (reply);
    }
    s_lines_flush (&self.lines);
    if (rc == 0 && options->narrate) s_tell_end (&self);
    fflush (stdout);
    free (trial_escaped);
    json_decref (self.tails);
    json_decref (self.told);
    free (self.job_state);
    free (self.queue_reason);
    return rc;
}
