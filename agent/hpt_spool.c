/*  hpt_spool -- the agent's on-disk queue of events not yet acknowledged

    An acknowledgement costs one 21-byte pwrite over the same bytes of
    spool.seq (a fixed-width number), never a truncate or a new file: on a
    host launching hundreds of short trials a second, truncating per ack
    freed and reallocated a block each time (a synchronous discard on
    filesystems mounted with -o discard). The event file is emptied only
    once it holds S_EMPTY_LINES lines or S_EMPTY_BYTES bytes, all
    acknowledged; until then acknowledged lines are skipped on load
    (seq <= the acked seq), so they cost disk space only.
 */
#include "hpt_spool.h"
#include "hpt_alloc.h"
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

//  Events kept in memory at most; beyond this the oldest unacknowledged
//  events are dropped (and counted) rather than exhausting memory while a
//  master is away for a very long time.
#define S_MAX_EVENTS 1000000

//  Acknowledged lines the event file may hold before it is emptied.
#define S_EMPTY_LINES 1024
#define S_EMPTY_BYTES (1024 * 1024)

//  spool.seq: the acked seq as 20 digits and a newline, rewritten in place.
#define S_SEQ_WIDTH 21

struct _hpt_spool_t {
    char *path;                //  DIR/spool.jsonl
    char *seq_path;            //  DIR/spool.seq
    int seq_fd;                //  spool.seq, open for rewriting in place
    FILE *file;                //  open for appending
    hpt_spool_event_t *events; //  unacknowledged, in seq order
    size_t count;              //  entries in events
    size_t cap;                //  allocated
    size_t lines;              //  lines in the file (acked or not)
    size_t bytes;              //  bytes in the file
    int64_t next_seq;          //  seq of the next append
    int64_t acked;             //  highest acknowledged seq
};

static void
s_push (hpt_spool_t *self, int64_t seq, const char *kind, const char *body)
{
    if (self->count == S_MAX_EVENTS) {
        free (self->events[0].kind);
        free (self->events[0].body);
        memmove (self->events, self->events + 1, (self->count - 1) * sizeof (hpt_spool_event_t));
        self->count--;
    }
    if (self->count == self->cap) {
        self->cap = self->cap ? self->cap * 2 : 64;
        self->events = hpt_realloc (self->events, self->cap * sizeof (hpt_spool_event_t));
    }
    hpt_spool_event_t *e = &self->events[self->count++];
    e->seq = seq;
    e->kind = hpt_strdup (kind);
    e->body = hpt_strdup (body);
}

//  Returns the bytes written, or -1.
static long
s_write_line (FILE *file, int64_t seq, const char *kind, const char *body)
{
    json_t *line = json_object ();
    json_object_set_new (line, "seq", json_integer (seq));
    json_object_set_new (line, "kind", json_string (kind));
    json_object_set_new (line, "body", json_string (body));
    char *text = json_dumps (line, JSON_COMPACT);
    json_decref (line);
    int written = text ? fprintf (file, "%s\n", text) : -1;
    long rc = written > 0 && fflush (file) == 0 ? written : -1;
    free (text);
    return rc;
}

static void
s_load (hpt_spool_t *self)
{
    FILE *seq_file = fopen (self->seq_path, "r");
    if (seq_file) {
        long long acked = 0;
        //  A mark no event could follow is corrupt: start from 0 and let
        //  HELLO repair it (see the header).
        if (fscanf (seq_file, "%lld", &acked) == 1 && acked > 0 && acked < HPT_SPOOL_SEQ_MAX)
            self->acked = acked;
        fclose (seq_file);
    }
    self->next_seq = self->acked + 1;
    FILE *file = fopen (self->path, "r");
    if (!file) return;
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    while ((got = getline (&line, &cap, file)) > 0) {
        if (line[got - 1] != '\n') break; //  torn last line
        json_t *event = json_loadb (line, (size_t)got, 0, NULL);
        json_int_t seq = json_integer_value (json_object_get (event, "seq"));
        const char *kind = json_string_value (json_object_get (event, "kind"));
        const char *body = json_string_value (json_object_get (event, "body"));
        if (seq > 0 && kind && body) {
            //  Keep unacknowledged events with strictly increasing seqs.
            if (seq > self->acked && (self->count == 0 || seq > self->events[self->count - 1].seq))
                s_push (self, seq, kind, body);
            if (seq >= self->next_seq) self->next_seq = seq + 1;
        }
        json_decref (event);
        self->lines++;
        self->bytes += (size_t)got;
    }
    free (line);
    fclose (file);
}

//  Rewrites the file with only the unacknowledged events.
static void
s_compact (hpt_spool_t *self)
{
    char *tmp = hpt_asprintf ("%s.tmp", self->path);
    FILE *file = fopen (tmp, "w");
    bool ok = file != NULL;
    size_t bytes = 0;
    for (size_t i = 0; ok && i < self->count; i++) {
        long written =
            s_write_line (file, self->events[i].seq, self->events[i].kind, self->events[i].body);
        ok = written > 0;
        bytes += ok ? (size_t)written : 0;
    }
    if (file && fclose (file) != 0) ok = false;
    if (ok && rename (tmp, self->path) == 0) {
        if (self->file) fclose (self->file);
        self->file = fopen (self->path, "a");
        self->lines = self->count;
        self->bytes = bytes;
    } else
        unlink (tmp);
    free (tmp);
}

hpt_spool_t *
hpt_spool_new (const char *dir, hpt_error_t *error)
{
    hpt_spool_t *self = hpt_calloc (1, sizeof (hpt_spool_t));
    self->seq_fd = -1;
    self->path = hpt_asprintf ("%s/spool.jsonl", dir);
    self->seq_path = hpt_asprintf ("%s/spool.seq", dir);
    s_load (self);
    s_compact (self);
    if (!self->file) self->file = fopen (self->path, "a");
    self->seq_fd = open (self->seq_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (!self->file || self->seq_fd < 0) {
        const char *which = self->file ? self->seq_path : self->path;
        hpt_error_set (error, HPT_E_UNAVAILABLE, "cannot open %s: %s", which, strerror (errno));
        hpt_spool_destroy (&self);
        return NULL;
    }
    return self;
}

void
hpt_spool_destroy (hpt_spool_t **self_p)
{
    if (!self_p || !*self_p) return;
    hpt_spool_t *self = *self_p;
    if (self->file) fclose (self->file);
    if (self->seq_fd >= 0) close (self->seq_fd);
    for (size_t i = 0; i < self->count; i++) {
        free (self->events[i].kind);
        free (self->events[i].body);
    }
    free (self->events);
    free (self->path);
    free (self->seq_path);
    free (self);
    *self_p = NULL;
}

int64_t
hpt_spool_append (hpt_spool_t *self, const char *kind, const char *body)
{
    int64_t seq = self->next_seq++;
    s_push (self, seq, kind, body);
    long written = s_write_line (self->file, seq, kind, body);
    if (written < 0) return -1;
    self->lines++;
    self->bytes += (size_t)written;
    return seq;
}

int64_t
hpt_spool_next_seq (hpt_spool_t *self)
{
    return self->next_seq;
}

int
hpt_spool_ack (hpt_spool_t *self, int64_t seq)
{
    if (seq >= self->next_seq) return -1; //  never assigned: refused (see the header)
    if (seq <= self->acked) return 0;
    self->acked = seq;
    size_t drop = 0;
    while (drop < self->count && self->events[drop].seq <= seq) {
        free (self->events[drop].kind);
        free (self->events[drop].body);
        drop++;
    }
    if (drop && self->count > drop)
        memmove (self->events, self->events + drop,
                 (self->count - drop) * sizeof (hpt_spool_event_t));
    self->count -= drop;
    //  Same length every time, so no stale digits survive a shorter value.
    char text[S_SEQ_WIDTH + 1];
    snprintf (text, sizeof (text), "%020lld\n", (long long)seq);
    if (pwrite (self->seq_fd, text, S_SEQ_WIDTH, 0) != S_SEQ_WIDTH) {
        //  Not fatal: on reload the master drops the replayed events by seq.
    }
    if (self->count == 0 && (self->lines >= S_EMPTY_LINES || self->bytes >= S_EMPTY_BYTES)) {
        //  Everything acknowledged: empty the file in place.
        if (ftruncate (fileno (self->file), 0) == 0) self->lines = self->bytes = 0;
    } else if (self->lines > S_EMPTY_LINES && self->count * 4 < self->lines)
        //  Acknowledged lines dominate the file: rewrite it without them.
        s_compact (self);
    return 0;
}

size_t
hpt_spool_find (hpt_spool_t *self, int64_t seq)
{
    size_t low = 0, high = self->count;
    while (low < high) {
        size_t mid = low + (high - low) / 2;
        if (self->events[mid].seq < seq)
            low = mid + 1;
        else
            high = mid;
    }
    return low;
}

size_t
hpt_spool_size (hpt_spool_t *self)
{
    return self->count;
}

const hpt_spool_event_t *
hpt_spool_event (hpt_spool_t *self, size_t i)
{
    return i < self->count ? &self->events[i] : NULL;
}

int64_t
hpt_spool_acked (hpt_spool_t *self)
{
    return self->acked;
}
