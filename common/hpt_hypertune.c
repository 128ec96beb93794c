/*  hpt_hypertune -- reads the metric file that cloudml-hypertune writes

    The writer (cloudml-hypertune, or any trainer imitating it) truncates
    and rewrites the whole file on every report, keeping the last 100
    reports, so between two polls lines may have been added at the end and
    dropped at the front, and a poll may catch the file half rewritten
    (empty, or a prefix of the new contents). The reader therefore never
    trusts positions; it parses every complete line each time and keeps an
    identity set of what it has already returned:

    - a point's identity is (tag, timestamp, global_step as written, value);
      the writer re-serializes the same report the same way, and two
      distinct reports differ at least in their timestamp.
    - the set is a FIFO bounded at twice the points of the largest read
      (at least 4096): a line that has left the file never comes back,
      and every line still in it was reported after all the ones evicted,
      so evicting the oldest keys never re-reports a point.
    - a half-written last line (no newline yet) is left for a later poll;
      at_exit accepts it, since the writer is gone.

    A poll reads the file only when its identity (device, inode, size,
    mtime, ctime) changed, or when the last read happened within 0.5 s of
    the file's mtime: a rewrite within the file system's timestamp
    granularity that keeps the size would otherwise go unseen.
*/
#include "hpt_hypertune.h"
#include "hpt_alloc.h"
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

//  Smallest capacity of the identity FIFO.
#define S_SEEN_MIN 4096
//  A read this long after the file's mtime is trusted to have seen its
//  final contents.
#define S_SETTLE_S 0.5

struct _hpt_hypertune_t {
    char *path;                    //  the metric file (owned)
    bool have_stat;                //  the fields below describe the last read
    dev_t dev;                     //  device of the file last read
    ino_t ino;                     //  inode of the file last read
    off_t size;                    //  its size
    struct timespec mtime;         //  its modification time
    struct timespec ctime;         //  its status change time
    double read_at;                //  CLOCK_REALTIME seconds when it was read
    json_t *seen;                  //  identity set: key -> null
    char **fifo;                   //  keys of seen in insertion order (owned)
    size_t fifo_head;              //  first live entry of fifo
    size_t fifo_end;               //  one past the last live entry
    size_t fifo_alloc;             //  entries allocated
    size_t seen_cap;               //  most keys kept
    hpt_hypertune_point_t *points; //  new points of the last poll (owned)
    size_t point_count;            //  entries used in points
    size_t point_alloc;            //  entries allocated in points
    uint64_t bad_lines;            //  distinct bad lines seen
    uint64_t reports;              //  distinct reports seen
    bool truncated;                //  the last read was the file's tail only
    bool owner_set;                //  read only a file of owner
    uid_t owner;                   //  see hpt_hypertune_set_owner
};

hpt_hypertune_t *
hpt_hypertune_new (const char *path)
{
    if (!path || !*path || strlen (path) >= PATH_MAX) return NULL;
    hpt_hypertune_t *self = hpt_calloc (1, sizeof (*self));
    self->path = hpt_strdup (path);
    self->seen = json_object ();
    self->seen_cap = S_SEEN_MIN;
    return self;
}

void
hpt_hypertune_destroy (hpt_hypertune_t **self_p)
{
    if (!self_p || !*self_p) return;
    hpt_hypertune_t *self = *self_p;
    for (size_t i = self->fifo_head; i < self->fifo_end; i++)
        free (self->fifo[i]);
    free (self->fifo);
    json_decref (self->seen);
    free (self->points);
    free (self->path);
    free (self);
    *self_p = NULL;
}

uint64_t
hpt_hypertune_bad_lines (hpt_hypertune_t *self)
{
    return self->bad_lines;
}

//  Drops the oldest keys until the set holds at most seen_cap.
static void
s_evict (hpt_hypertune_t *self)
{
    while (self->fifo_end - self->fifo_head > self->seen_cap) {
        char *key = self->fifo[self->fifo_head++];
        json_object_del (self->seen, key);
        free (key);
    }
    if (self->fifo_head > 0 && self->fifo_head >= self->fifo_alloc / 2) {
        memmove (self->fifo, self->fifo + self->fifo_head,
                 (self->fifo_end - self->fifo_head) * sizeof (char *));
        self->fifo_end -= self->fifo_head;
        self->fifo_head = 0;
    }
}

//  True when key was seen before; otherwise remembers it (key is copied)
//  and returns false.
static bool
s_seen (hpt_hypertune_t *self, const char *key)
{
    if (json_object_get (self->seen, key)) return true;
    if (self->fifo_end == self->fifo_alloc) {
        self->fifo_alloc = self->fifo_alloc ? self->fifo_alloc * 2 : 256;
        self->fifo = hpt_realloc (self->fifo, self->fifo_alloc * sizeof (char *));
    }
    json_object_set_new (self->seen, key, json_null ());
    self->fifo[self->fifo_end++] = hpt_strdup (key);
    return false;
}

//  Reads a number from a JSON number or a numeric string (surrounding
//  blanks allowed). Returns 0 and *value, or -1.
static int
s_number (json_t *json, double *value)
{
    if (json_is_number (json)) {
        *value = json_number_value (json);
        return 0;
    }
    if (!json_is_string (json)) return -1;
    const char *text = json_string_value (json);
    char *end = NULL;
    errno = 0;
    double parsed = strtod (text, &end);
    if (end == text) return -1;
    while (*end == ' ' || *end == '\t')
        end++;
    if (*end) return -1;
    *value = parsed;
    return 0;
}

//  FNV-1a, to name a bad line in the identity set without storing it.
static uint64_t
s_hash (const char *data, size_t size)
{
    uint64_t hash = 1469598103934665603ULL;
    for (size_t i = 0; i < size; i++) {
        hash ^= (unsigned char)data[i];
        hash *= 1099511628211ULL;
    }
    return hash;
}

//  Counts a bad line once, by its content.
static void
s_bad_line (hpt_hypertune_t *self, const char *line, size_t size)
{
    char key[64];
    snprintf (key, sizeof (key), "\x01%016llx:%zu", (unsigned long long)s_hash (line, size), size);
    if (!s_seen (self, key)) self->bad_lines++;
}

//  Appends a point to the poll's result.
static void
s_push (hpt_hypertune_t *self, const hpt_hypertune_point_t *point)
{
    if (self->point_count == self->point_alloc) {
        self->point_alloc = self->point_alloc ? self->point_alloc * 2 : 64;
        self->points = hpt_realloc (self->points, self->point_alloc * sizeof (*self->points));
    }
    self->points[self->point_count++] = *point;
}

static bool
s_reserved (const char *key)
{
    return !strcmp (key, "timestamp") || !strcmp (key, "trial") || !strcmp (key, "global_step") ||
           !strcmp (key, "checkpoint_path");
}

//  The step as the writer spelled it, for identity, and its value; has_step
//  false when absent or not an integer.
static void
s_step (json_t *json, char *text, size_t text_size, int64_t *step, bool *has_step)
{
    *has_step = false;
    *text = 0;
    if (!json) return;
    if (json_is_string (json)) {
        //  Hashed, not cut: a cut could split a UTF-8 sequence (the set's
        //  keys must be UTF-8) or merge two long steps.
        const char *step_text = json_string_value (json);
        snprintf (text, text_size, "s%016llx",
                  (unsigned long long)s_hash (step_text, strlen (step_text)));
    } else if (json_is_integer (json))
        snprintf (text, text_size, "i%lld", (long long)json_integer_value (json));
    else if (json_is_real (json))
        snprintf (text, text_size, "r%.17g", json_real_value (json));
    double value;
    if (s_number (json, &value) == 0 && isfinite (value) && value == floor (value) &&
        fabs (value) < 9e18) {
        *step = (int64_t)value;
        *has_step = true;
    }
}

//  Parses one complete line and pushes its new points. Returns the number
//  of points the line holds (new or not), or -1 when it is bad.
static int
s_parse_line (hpt_hypertune_t *self, const char *line, size_t size)
{
    while (size > 0 && (line[size - 1] == '\r' || line[size - 1] == ' ' || line[size - 1] == '\t'))
        size--;
    if (size == 0) return 0;
    if (size > HPT_HYPERTUNE_LINE_MAX) return -1;
    json_t *root = json_loadb (line, size, JSON_REJECT_DUPLICATES, NULL);
    double timestamp;
    if (!json_is_object (root) || s_number (json_object_get (root, "timestamp"), &timestamp) ||
        !isfinite (timestamp)) {
        json_decref (root);
        return -1;
    }
    char step_text[64];
    int64_t step = 0;
    bool has_step;
    s_step (json_object_get (root, "global_step"), step_text, sizeof (step_text), &step, &has_step);

    size_t first = self->point_count;
    int points = 0;
    bool bad = false;
    const char *key;
    json_t *member;
    json_object_foreach (root, key, member) {
        double value;
        if (s_reserved (key) || s_number (member, &value)) continue;
        points++;
        if (!isfinite (value) || strlen (key) >= HPT_HYPERTUNE_TAG_MAX) {
            bad = true;
            continue;
        }
        char identity[HPT_HYPERTUNE_TAG_MAX + 160];
        snprintf (identity, sizeof (identity), "%s\x1f%.17g\x1f%s\x1f%.17g", key, timestamp,
                  step_text, value);
        if (s_seen (self, identity)) continue;
        hpt_hypertune_point_t point = {.value = value, .step = step, .time = timestamp};
        snprintf (point.tag, sizeof (point.tag), "%s", key);
        s_push (self, &point);
    }
    json_decref (root);
    if (self->point_count > first) {
        self->reports++;
        if (!has_step)
            for (size_t i = first; i < self->point_count; i++)
                self->points[i].step = (int64_t)self->reports;
    }
    return bad ? -1 : points;
}

//  Reads the file (its tail beyond the cap) into a new buffer; *size_p
//  gets its length. NULL with errno set on failure; ENOENT when absent.
static char *
s_read (hpt_hypertune_t *self, size_t *size_p, struct stat *st)
{
    //  The directory is the task's: it may have put a link there.
    int fd = open (self->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | O_NOFOLLOW);
    if (fd < 0) return NULL;
    int error = 0;
    char *buffer = NULL;
    size_t size = 0;
    if (fstat (fd, st))
        error = errno;
    else if (!S_ISREG (st->st_mode))
        error = EINVAL; //  a FIFO or device is not a metric file
    else if (self->owner_set && st->st_uid != self->owner)
        error = EPERM;
    if (!error) {
        self->truncated = st->st_size > HPT_HYPERTUNE_FILE_MAX;
        if (self->truncated && lseek (fd, st->st_size - HPT_HYPERTUNE_FILE_MAX, SEEK_SET) < 0)
            error = errno;
    }
    //  Room for what fstat saw plus some growth; a line cut by the limit is
    //  an unterminated last line, left for the next poll.
    size_t room = self->truncated ? HPT_HYPERTUNE_FILE_MAX : (size_t)st->st_size + 4096;
    if (!error) buffer = hpt_malloc (room + 1);
    while (!error && size < room) {
        ssize_t got = read (fd, buffer + size, room - size);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) error = errno;
        if (got <= 0) break;
        size += (size_t)got;
    }
    close (fd);
    if (error) {
        free (buffer);
        errno = error;
        return NULL;
    }
    *size_p = size;
    return buffer;
}

static bool
s_same_time (struct timespec a, struct timespec b)
{
    return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

static double
s_realtime (void)
{
    struct timespec now;
    clock_gettime (CLOCK_REALTIME, &now);
    return (double)now.tv_sec + now.tv_nsec / 1e9;
}

//  True when the file is known to hold what the last read saw.
static bool
s_unchanged (hpt_hypertune_t *self, const struct stat *st)
{
    if (!self->have_stat || st->st_dev != self->dev || st->st_ino != self->ino ||
        st->st_size != self->size || !s_same_time (st->st_mtim, self->mtime) ||
        !s_same_time (st->st_ctim, self->ctime))
        return false;
    double mtime = (double)st->st_mtim.tv_sec + st->st_mtim.tv_nsec / 1e9;
    return self->read_at - mtime > S_SETTLE_S;
}

void
hpt_hypertune_set_owner (hpt_hypertune_t *self, uid_t owner)
{
    self->owner_set = true;
    self->owner = owner;
}

int
hpt_hypertune_poll (hpt_hypertune_t *self, const hpt_hypertune_point_t **points_p, bool at_exit)
{
    self->point_count = 0;
    if (points_p) *points_p = self->points;
    struct stat st;
    if (stat (self->path, &st)) return errno == ENOENT ? 0 : -1;
    if (!at_exit && s_unchanged (self, &st)) return 0;

    double read_at = s_realtime ();
    size_t size = 0;
    char *buffer = s_read (self, &size, &st);
    if (!buffer) return errno == ENOENT ? 0 : -1;
    self->have_stat = true;
    self->dev = st.st_dev;
    self->ino = st.st_ino;
    self->size = st.st_size;
    self->mtime = st.st_mtim;
    self->ctime = st.st_ctim;
    self->read_at = read_at;

    const char *cursor = buffer;
    const char *end = buffer + size;
    if (self->truncated) {
        //  The tail starts mid-line: skip to the first whole line.
        const char *newline = memchr (cursor, '\n', (size_t)(end - cursor));
        cursor = newline ? newline + 1 : end;
    }
    size_t points_in_file = 0;
    while (cursor < end) {
        const char *newline = memchr (cursor, '\n', (size_t)(end - cursor));
        if (!newline && !at_exit) break;
        const char *line_end = newline ? newline : end;
        int points = s_parse_line (self, cursor, (size_t)(line_end - cursor));
        if (points < 0)
            s_bad_line (self, cursor, (size_t)(line_end - cursor));
        else
            points_in_file += (size_t)points;
        cursor = newline ? newline + 1 : end;
    }
    free (buffer);
    if (2 * points_in_file > self->seen_cap) self->seen_cap = 2 * points_in_file;
    s_evict (self);
    if (points_p) *points_p = self->points;
    return (int)self->point_count;
}
