/*  hpt_joblog -- job logs as JSON lines (see hpt_joblog.h)
 */
#include "hpt_joblog.h"
#include "hpt_alloc.h"
#include "hpt_fs.h"
#include "hpt_json.h"
#include "hpt_tuner.h"
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct _hpt_joblog_t {
    char *dir; //  where the files are
};

hpt_joblog_t *
hpt_joblog_new (const char *dir, hpt_error_t *error)
{
    if (hpt_mkdirs (dir, 0700, error)) return NULL;
    hpt_joblog_t *self = hpt_calloc (1, sizeof (hpt_joblog_t));
    self->dir = hpt_strdup (dir);
    return self;
}

void
hpt_joblog_destroy (hpt_joblog_t **self_p)
{
    if (!self_p || !*self_p) return;
    free ((*self_p)->dir);
    free (*self_p);
    *self_p = NULL;
}

//  Job ids are names ([A-Za-z0-9_], validated at submission), so they are
//  safe as file names.
static char *
s_path (hpt_joblog_t *self, const char *job_id)
{
    return hpt_asprintf ("%s/%s.log", self->dir, job_id);
}

static FILE *
s_open_append (hpt_joblog_t *self, const char *job_id, hpt_error_t *error)
{
    char *path = s_path (self, job_id);
    mode_t old_mask = umask (077);
    FILE *file = fopen (path, "a");
    umask (old_mask);
    if (!file)
        hpt_error_set (error, HPT_E_UNAVAILABLE, "cannot open the job log %s: %s", path,
                       strerror (errno));
    free (path);
    return file;
}

//  Writes entry as a line of file.
static void
s_write (FILE *file, json_t *entry)
{
    char *line = hpt_json_dumps (entry, false);
    fprintf (file, "%s\n", line);
    free (line);
}

//  Flushes and closes file, reporting its length in *size_p.
static int
s_close (FILE *file, const char *job_id, int64_t *size_p, hpt_error_t *error)
{
    int rc = fflush (file);
    long size = ftell (file);
    if (fclose (file) != 0 || rc != 0 || size < 0)
        return hpt_error_set (error, HPT_E_UNAVAILABLE, "cannot write the log of job %s: %s",
                              job_id, strerror (errno));
    if (size_p) *size_p = size;
    return 0;
}

static json_t *
s_entry (int64_t trial_id, const char *task_id, const char *replica, const char *stream,
         int64_t now_ms)
{
    json_t *entry = json_object ();
    if (trial_id > 0) {
        char id[32];
        snprintf (id, sizeof (id), "%" PRId64, trial_id);
        json_object_set_new (entry, "trialId", json_string (id));
    }
    if (task_id) json_object_set_new (entry, "taskId", json_string (task_id));
    json_object_set_new (entry, "replica", json_string (replica));
    json_object_set_new (entry, "stream", json_string (stream));
    char time[40];
    json_object_set_new (entry, "time",
                         json_string (hpt_time_format (now_ms, time, sizeof (time))));
    return entry;
}

int
hpt_joblog_event (hpt_joblog_t *self, const char *job_id, int64_t trial_id, const char *text,
                  int64_t now_ms, int64_t *size_p, hpt_error_t *error)
{
    FILE *file = s_open_append (self, job_id, error);
    if (!file) return -1;
    json_t *entry = s_entry (trial_id, NULL, "hpt", "event", now_ms);
    json_object_set_new (entry, "text", json_string (text));
    s_write (file, entry);
    json_decref (entry);
    return s_close (file, job_id, size_p, error);
}

//  One line of output as a JSON string: kept when it is UTF-8, else ASCII
//  with '?' for the rest, so the log stays JSON.
static json_t *
s_text (const char *data, size_t len)
{
    json_t *text = json_stringn (data, len);
    if (text) return text;
    char *clean = hpt_malloc (len + 1);
    for (size_t k = 0; k < len; k++) {
        unsigned char c = (unsigned char)data[k];
        clean[k] = (c >= 0x20 && c < 0x7f) || c == '\n' || c == '\t' ? (char)c : '?';
    }
    text = json_stringn (clean, len);
    free (clean);
    return text ? text : json_string ("");
}

int
hpt_joblog_output (hpt_joblog_t *self, const char *job_id, const hpt_joblog_chunk_t *chunk,
                   int64_t now_ms, int64_t *size_p, hpt_error_t *error)
{
    //  Opened once per chunk, not per line: a chunk may hold thousands.
    FILE *file = s_open_append (self, job_id, error);
    if (!file) return -1;
    size_t start = 0;
    while (chunk->data && start < chunk->size) {
        const char *nl = memchr (chunk->data + start, '\n', chunk->size - start);
        size_t len = nl ? (size_t)(nl - (chunk->data + start)) + 1 : chunk->size - start;
        json_t *entry =
            s_entry (chunk->trial_id, chunk->task_id, chunk->replica, chunk->stream, now_ms);
        json_object_set_new (entry, "text", s_text (chunk->data + start, len));
        s_write (file, entry);
        json_decref (entry);
        start += len;
    }
    return s_close (file, job_id, size_p, error);
}

int
hpt_joblog_truncate (hpt_joblog_t *self, const char *job_id, int64_t bytes, hpt_error_t *error)
{
    if (bytes < 0) return 0;
    char *path = s_path (self, job_id);
    struct stat info;
    int rc = 0;
    if (stat (path, &info) == 0 && info.st_size > bytes && truncate (path, bytes) != 0)
        rc = hpt_error_set (error, HPT_E_UNAVAILABLE, "cannot cut the job log %s back: %s", path,
                            strerror (errno));
    free (path);
    return rc;
}

json_t *
hpt_joblog_read (hpt_joblog_t *self, const char *job_id, int64_t after, const char *trial,
                 size_t max_bytes)
{
    json_t *entries = json_array ();
    int64_t next = after < 0 ? 0 : after;
    char *path = s_path (self, job_id);
    FILE *file = fopen (path, "r");
    free (path);
    if (file && fseeko (file, (off_t)next, SEEK_SET) == 0) {
        char *line = NULL;
        size_t cap = 0, bytes = 0;
        ssize_t got;
        while (bytes < max_bytes && (got = getline (&line, &cap, file)) > 0) {
            if (line[got - 1] != '\n') break; //  a line still being written
            int64_t offset = next;
            next += got;
            bytes += (size_t)got;
            json_t *entry = json_loadb (line, (size_t)got, 0, NULL);
            const char *entry_trial = json_string_value (json_object_get (entry, "trialId"));
            if (!entry || (trial && *trial && (!entry_trial || strcmp (entry_trial, trial) != 0))) {
                json_decref (entry);
                continue;
            }
            json_object_set_new (entry, "seq", json_integer (offset));
            json_array_append_new (entries, entry);
        }
        free (line);
    }
    if (file) fclose (file);
    json_t *page = json_object ();
    json_object_set_new (page, "entries", entries);
    json_object_set_new (page, "next", json_integer (next));
    return page;
}

//  Whether a log line (JSON) is an entry of trial (and task, stream); the
//  entry is returned (caller owns) or NULL.
static json_t *
s_tail_match (const char *line, size_t length, const char *trial, const char *task,
              const char *stream)
{
    json_t *entry = json_loadb (line, length, 0, NULL);
    const char *values[3] = {trial, task, stream};
    const char *keys[3] = {"trialId", "taskId", "stream"};
    for (int i = 0; entry && i < 3; i++) {
        if (!values[i] || !*values[i]) continue;
        const char *have = json_string_value (json_object_get (entry, keys[i]));
        if (!have || strcmp (have, values[i]) != 0) json_decref (entry), entry = NULL;
    }
    return entry;
}

//  Reading backwards: blocks of this size, each holding the start of the
//  line that crossed its end (carried into the next read).
#define S_TAIL_BLOCK (64 * 1024)

json_t *
hpt_joblog_tail (hpt_joblog_t *self, const char *job_id, const char *trial, const char *task,
                 const char *stream, size_t max_lines, size_t max_scan)
{
    json_t *found = json_array (); //  newest first
    char *path = s_path (self, job_id);
    FILE *file = fopen (path, "r");
    free (path);
    int64_t end = 0, start = 0;
    if (file && fseeko (file, 0, SEEK_END) == 0) end = (int64_t)ftello (file);
    //  buffer holds [start, start + length): whole lines but the first.
    char *buffer = NULL;
    size_t length = 0;
    start = end;
    while (file && start > 0 && (size_t)(end - start) < max_scan &&
           json_array_size (found) < max_lines) {
        size_t block = start > S_TAIL_BLOCK ? S_TAIL_BLOCK : (size_t)start;
        char *grown = hpt_malloc (block + length);
        if (fseeko (file, (off_t)(start - (int64_t)block), SEEK_SET) != 0 ||
            fread (grown, 1, block, file) != block) {
            free (grown);
            break;
        }
        if (length) memcpy (grown + block, buffer, length); //  buffer is NULL at first
        free (buffer);
        buffer = grown;
        length += block;
        start -= (int64_t)block;
        //  Lines wholly inside the buffer, newest first; the first line
        //  may be cut unless the buffer starts the file.
        size_t stop = length;
        for (size_t i = length; i-- > 0 && json_array_size (found) < max_lines;) {
            if (buffer[i] != '\n' || i + 1 >= stop) {
                if (i == 0 && start == 0 && stop > 0) {
                    json_t *entry = s_tail_match (buffer, stop, trial, task, stream);
                    if (entry) {
                        json_object_set_new (entry, "seq", json_integer (start));
                        json_array_append_new (found, entry);
                    }
                    stop = 0;
                }
                continue;
            }
            json_t *entry = s_tail_match (buffer + i + 1, stop - i - 1, trial, task, stream);
            if (entry) {
                json_object_set_new (entry, "seq", json_integer (start + (int64_t)i + 1));
                json_array_append_new (found, entry);
            }
            stop = i + 1;
        }
        //  Keep only the cut first line for the next block.
        length = stop;
    }
    free (buffer);
    if (file) fclose (file);
    json_t *entries = json_array ();
    for (size_t i = json_array_size (found); i-- > 0;)
        json_array_append (entries, json_array_get (found, i));
    json_decref (found);
    json_t *page = json_object ();
    json_object_set_new (page, "entries", entries);
    json_object_set_new (page, "next", json_integer (end));
    json_object_set_new (page, "scannedFrom", json_integer (start));
    return page;
}
