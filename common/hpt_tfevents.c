/*  hpt_tfevents -- reads scalars from TensorFlow event files as they grow

    File format. An event file is a sequence of TFRecord frames:

        u64   length            little-endian
        u32   masked CRC-32C of the 8 length bytes
        byte  data[length]      one serialized tensorflow.Event
        u32   masked CRC-32C of data

    mask(crc) = ((crc >> 15) | (crc << 17)) + 0xa282ead8, CRC-32C being the
    Castagnoli polynomial (0x82F63B78 reflected), computed here by table.

    Reading as the file grows. Each watched file remembers the offset up to
    which it was consumed, its device and inode. A poll stats the file; a
    different inode (file replaced) or a size below the offset (truncated)
    starts it over from 0. Otherwise the bytes from the offset on are read
    in chunks of S_CHUNK (larger when a single record needs more) and
    parsed; a record not yet complete stays for the next poll.

    Corruption. A data CRC mismatch skips that record (its length was
    validated, so the next frame is found) and counts it. A length CRC
    mismatch means the length cannot be trusted: the parser counts one
    corrupt record and resynchronises by scanning forward one byte at a time
    for the next offset whose 12 header bytes carry a valid length CRC and
    a length no larger than HPT_TFEVENTS_RECORD_MAX. The scan is bounded by
    the bytes available (a chunk per poll), remembers across polls that it
    is resynchronising (so one corruption is counted once), and a false
    match needs a 32-bit CRC to collide, after which the data CRC would
    almost surely fail too and resynchronise again. A length above
    HPT_TFEVENTS_RECORD_MAX with a valid CRC is treated the same way.

    Event decoding, by hand on the protobuf wire format, with field numbers
    from TensorFlow's event.proto, summary.proto and tensor.proto:

        Event         1 wall_time double, 2 step int64, 5 summary Summary
        Summary       1 value repeated Value
        Value         1 tag string, 2 simple_value float, 8 tensor TensorProto
                      (7 node_name, 9 metadata and the rest are skipped)
        TensorProto   1 dtype enum (1 DT_FLOAT, 2 DT_DOUBLE), 4 tensor_content,
                      5 float_val (packed or not), 6 double_val (packed or not)

    A scalar is simple_value; or tensor float_val[0] / double_val[0]; or a
    tensor_content of exactly 4 bytes (DT_FLOAT) or 8 bytes (DT_DOUBLE),
    little-endian. Unknown fields of every wire type are skipped (groups by
    matching their end tag, nested at most S_GROUP_DEPTH deep); a field
    whose wire type differs from the one expected is skipped as unknown.
    Every length is checked against the bytes left in its message, so a
    malformed event is dropped without reading outside the record. Values
    that are not finite and tags that are empty, contain NUL or do not fit
    HPT_TFEVENTS_TAG_MAX are dropped.

    Discovery. Each watched directory is walked (symbolic links to
    directories are not followed, so no cycles) down to its depth (at most
    HPT_TFEVENTS_DEPTH_MAX levels); regular files whose name starts with
    "events.out.tfevents." and whose mtime is not before the reader's
    "since" time are added, up to HPT_TFEVENTS_FILES_MAX. The walk happens
    on the first poll, then at most once a second, and at_exit. Deleted
    files are forgotten.
*/
#include "hpt_tfevents.h"
#include "hpt_alloc.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

//  Bytes read from a file per step of a poll.
#define S_CHUNK (1024 * 1024)
//  Frame overhead: length, length CRC, data CRC.
#define S_HEADER 12
#define S_FOOTER 4
//  A poll (not at exit) stops reading further chunks once this many points
//  are pending; the rest waits for the next poll.
#define S_POINTS_SOFT_MAX 65536
//  Deepest nesting of unknown groups skipped.
#define S_GROUP_DEPTH 16
//  Seconds between directory walks.
#define S_RESCAN_S 1.0
//  File name prefix TF's summary writers use.
#define S_PREFIX "events.out.tfevents."

//  ---------------------------------------------------------------------
//  CRC-32C

static uint32_t s_crc_table[256];
static bool s_crc_ready;

static void
s_crc_init (void)
{
    //  Idempotent; a race between threads writes the same values.
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t crc = i;
        for (int bit = 0; bit < 8; bit++)
            crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
        s_crc_table[i] = crc;
    }
    s_crc_ready = true;
}

uint32_t
hpt_tfevents_masked_crc (const uint8_t *data, size_t size)
{
    if (!s_crc_ready) s_crc_init ();
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < size; i++)
        crc = s_crc_table[(crc ^ data[i]) & 0xFF] ^ (crc >> 8);
    crc ^= 0xFFFFFFFFu;
    return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

static uint32_t
s_le32 (const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t
s_le64 (const uint8_t *p)
{
    return (uint64_t)s_le32 (p) | (uint64_t)s_le32 (p + 4) << 32;
}

//  ---------------------------------------------------------------------
//  Protobuf wire reading. A cursor never moves past its end.

typedef struct {
    const uint8_t *pos; //  next byte
    const uint8_t *end; //  one past the last byte of the message
} s_cursor_t;

enum {
    S_WT_VARINT = 0,
    S_WT_FIXED64 = 1,
    S_WT_LEN = 2,
    S_WT_SGROUP = 3,
    S_WT_EGROUP = 4,
    S_WT_FIXED32 = 5
};

static bool
s_varint (s_cursor_t *cur, uint64_t *value)
{
    uint64_t result = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (cur->pos >= cur->end) return false;
        uint8_t byte = *cur->pos++;
        if (shift == 63 && byte > 1) return false; //  overflows 64 bits
        result |= (uint64_t)(byte & 0x7F) << shift;
        if (!(byte & 0x80)) {
            *value = result;
            return true;
        }
    }
    return false;
}

//  Reads a field key; false at the end of the message or on a bad key.
static bool
s_key (s_cursor_t *cur, uint32_t *field, int *wire_type)
{
    uint64_t key;
    if (!s_varint (cur, &key)) return false;
    if ((key >> 3) == 0 || (key >> 3) > 0x1FFFFFFF) return false;
    *field = (uint32_t)(key >> 3);
    *wire_type = (int)(key & 7);
    return true;
}

//  Takes a length-delimited payload into *sub.
static bool
s_bytes (s_cursor_t *cur, s_cursor_t *sub)
{
    uint64_t length;
    if (!s_varint (cur, &length)) return false;
    if (length > (uint64_t)(cur->end - cur->pos)) return false;
    sub->pos = cur->pos;
    sub->end = cur->pos + length;
    cur->pos += length;
    return true;
}

static bool
s_fixed (s_cursor_t *cur, size_t width, const uint8_t **at)
{
    if ((size_t)(cur->end - cur->pos) < width) return false;
    *at = cur->pos;
    cur->pos += width;
    return true;
}

static bool s_skip (s_cursor_t *cur, uint32_t field, int wire_type, int depth);

//  Skips the body of a group started by field, up to its end tag.
static bool
s_skip_group (s_cursor_t *cur, uint32_t field, int depth)
{
    if (depth >= S_GROUP_DEPTH) return false;
    uint32_t inner;
    int wire_type;
    while (s_key (cur, &inner, &wire_type)) {
        if (wire_type == S_WT_EGROUP) return inner == field;
        if (!s_skip (cur, inner, wire_type, depth + 1)) return false;
    }
    return false;
}

//  Skips the value of a field whose key was just read.
static bool
s_skip (s_cursor_t *cur, uint32_t field, int wire_type, int depth)
{
    uint64_t ignored;
    const uint8_t *at;
    s_cursor_t sub;
    switch (wire_type) {
        case S_WT_VARINT:
            return s_varint (cur, &ignored);
        case S_WT_FIXED64:
            return s_fixed (cur, 8, &at);
        case S_WT_LEN:
            return s_bytes (cur, &sub);
        case S_WT_SGROUP:
            return s_skip_group (cur, field, depth);
        case S_WT_FIXED32:
            return s_fixed (cur, 4, &at);
        default: //  a stray end-group or the reserved types 6 and 7
            return false;
    }
}

static double
s_float_at (const uint8_t *p)
{
    uint32_t bits = s_le32 (p);
    float value;
    memcpy (&value, &bits, sizeof (value));
    return value;
}

static double
s_double_at (const uint8_t *p)
{
    uint64_t bits = s_le64 (p);
    double value;
    memcpy (&value, &bits, sizeof (value));
    return value;
}

//  What a TensorProto says, gathered before deciding on the value.
typedef struct {
    uint64_t dtype;         //  DataType (0 when absent)
    bool have_float;        //  float_val[0] seen
    double float_val;       //  float_val[0]
    bool have_double;       //  double_val[0] seen
    double double_val;      //  double_val[0]
    const uint8_t *content; //  tensor_content (borrowed) or NULL
    size_t content_size;    //  its size
} s_tensor_t;

//  Takes the first element of a repeated float (width 4) or double (8)
//  field in either encoding; another wire type is skipped as unknown.
static bool
s_first_of_repeated (s_cursor_t *cur, uint32_t field, int wire_type, size_t width, bool *have,
                     double *value)
{
    const uint8_t *at;
    if (wire_type == (width == 4 ? S_WT_FIXED32 : S_WT_FIXED64)) {
        if (!s_fixed (cur, width, &at)) return false;
    } else if (wire_type == S_WT_LEN) {
        s_cursor_t packed;
        if (!s_bytes (cur, &packed)) return false;
        if ((size_t)(packed.end - packed.pos) < width) return true; //  empty: nothing
        at = packed.pos;
    } else
        return s_skip (cur, field, wire_type, 0);
    if (!*have) {
        *have = true;
        *value = width == 4 ? s_float_at (at) : s_double_at (at);
    }
    return true;
}

static bool
s_parse_tensor (s_cursor_t cur, s_tensor_t *tensor)
{
    memset (tensor, 0, sizeof (*tensor));
    uint32_t field;
    int wire_type;
    while (cur.pos < cur.end) {
        if (!s_key (&cur, &field, &wire_type)) return false;
        bool ok;
        s_cursor_t sub;
        if (field == 1 && wire_type == S_WT_VARINT)
            ok = s_varint (&cur, &tensor->dtype);
        else if (field == 4 && wire_type == S_WT_LEN) {
            ok = s_bytes (&cur, &sub);
            tensor->content = sub.pos;
            tensor->content_size = (size_t)(sub.end - sub.pos);
        } else if (field == 5)
            ok = s_first_of_repeated (&cur, field, wire_type, 4, &tensor->have_float,
                                      &tensor->float_val);
        else if (field == 6)
            ok = s_first_of_repeated (&cur, field, wire_type, 8, &tensor->have_double,
                                      &tensor->double_val);
        else
            ok = s_skip (&cur, field, wire_type, 0);
        if (!ok) return false;
    }
    return true;
}

//  The scalar a TensorProto holds, if it holds one we understand.
static bool
s_tensor_scalar (const s_tensor_t *tensor, double *value)
{
    if (tensor->dtype == 1 || tensor->dtype == 0) {
        if (tensor->have_float) {
            *value = tensor->float_val;
            return true;
        }
        if (tensor->dtype == 1 && tensor->content && tensor->content_size == 4) {
            *value = s_float_at (tensor->content);
            return true;
        }
    }
    if (tensor->dtype == 2 || tensor->dtype == 0) {
        if (tensor->have_double) {
            *value = tensor->double_val;
            return true;
        }
        if (tensor->dtype == 2 && tensor->content && tensor->content_size == 8) {
            *value = s_double_at (tensor->content);
            return true;
        }
    }
    return false;
}

//  Decodes one Summary.Value into point->tag and point->value; false when
//  it is malformed or not a scalar we accept.
static bool
s_parse_value (s_cursor_t cur, hpt_tfevents_point_t *point)
{
    const uint8_t *tag = NULL;
    size_t tag_size = 0;
    bool have_value = false;
    uint32_t field;
    int wire_type;
    while (cur.pos < cur.end) {
        if (!s_key (&cur, &field, &wire_type)) return false;
        s_cursor_t sub;
        const uint8_t *at;
        if (field == 1 && wire_type == S_WT_LEN) {
            if (!s_bytes (&cur, &sub)) return false;
            tag = sub.pos;
            tag_size = (size_t)(sub.end - sub.pos);
        } else if (field == 2 && wire_type == S_WT_FIXED32) {
            if (!s_fixed (&cur, 4, &at)) return false;
            point->value = s_float_at (at);
            have_value = true; //  oneof: the last member written wins
        } else if (field == 8 && wire_type == S_WT_LEN) {
            s_tensor_t tensor;
            if (!s_bytes (&cur, &sub) || !s_parse_tensor (sub, &tensor)) return false;
            have_value = s_tensor_scalar (&tensor, &point->value);
        } else if (!s_skip (&cur, field, wire_type, 0))
            return false;
    }
    if (!tag || tag_size == 0 || tag_size >= HPT_TFEVENTS_TAG_MAX) return false;
    if (memchr (tag, 0, tag_size)) return false;
    memcpy (point->tag, tag, tag_size);
    point->tag[tag_size] = 0;
    return have_value && isfinite (point->value);
}

static void
s_parse_summary (s_cursor_t cur, hpt_tfevents_point_t *point, const char *tag_filter,
                 hpt_tfevents_sink_fn *sink, void *arg)
{
    uint32_t field;
    int wire_type;
    while (cur.pos < cur.end) {
        if (!s_key (&cur, &field, &wire_type)) return;
        s_cursor_t sub;
        if (field == 1 && wire_type == S_WT_LEN) {
            if (!s_bytes (&cur, &sub)) return;
            if (s_parse_value (sub, point) && (!tag_filter || strcmp (point->tag, tag_filter) == 0))
                sink (arg, point);
        } else if (!s_skip (&cur, field, wire_type, 0))
            return;
    }
}

//  Decodes one Event; the sink sees its scalars. Fields may come in any
//  order, so step and wall time are read before the summaries.
static void
s_parse_event (const uint8_t *data, size_t size, const char *tag_filter, hpt_tfevents_sink_fn *sink,
               void *arg)
{
    hpt_tfevents_point_t point;
    memset (&point, 0, sizeof (point));
    s_cursor_t cur = {data, data + size};
    uint32_t field;
    int wire_type;
    bool any_summary = false;
    while (cur.pos < cur.end) {
        if (!s_key (&cur, &field, &wire_type)) return;
        const uint8_t *at;
        uint64_t step;
        bool ok;
        if (field == 1 && wire_type == S_WT_FIXED64) {
            ok = s_fixed (&cur, 8, &at);
            if (ok) point.time = s_double_at (at);
        } else if (field == 2 && wire_type == S_WT_VARINT) {
            ok = s_varint (&cur, &step);
            if (ok) point.step = (int64_t)step;
        } else {
            any_summary |= field == 5 && wire_type == S_WT_LEN;
            ok = s_skip (&cur, field, wire_type, 0);
        }
        if (!ok) return; //  malformed: the whole event is dropped
    }
    if (!any_summary) return;
    if (!isfinite (point.time)) point.time = 0;
    cur.pos = data;
    while (cur.pos < cur.end) {
        s_cursor_t sub;
        if (!s_key (&cur, &field, &wire_type)) return;
        if (field == 5 && wire_type == S_WT_LEN) {
            if (!s_bytes (&cur, &sub)) return;
            s_parse_summary (sub, &point, tag_filter, sink, arg);
        } else if (!s_skip (&cur, field, wire_type, 0))
            return;
    }
}

//  ---------------------------------------------------------------------
//  TFRecord framing

//  True when a frame header starts at p (at least S_HEADER bytes there)
//  with a valid length CRC and an acceptable length.
static bool
s_header_ok (const uint8_t *p, uint64_t *length)
{
    if (hpt_tfevents_masked_crc (p, 8) != s_le32 (p + 8)) return false;
    *length = s_le64 (p);
    return *length <= HPT_TFEVENTS_RECORD_MAX;
}

size_t
hpt_tfevents_parse_buffer (hpt_tfevents_scan_t *scan, const uint8_t *data, size_t size, bool at_end,
                           const char *tag_filter, hpt_tfevents_sink_fn *sink, void *arg)
{
    size_t pos = 0;
    scan->need = 0;
    while (pos < size) {
        size_t left = size - pos;
        uint64_t length;
        if (scan->resyncing) {
            //  Slide one byte at a time to the next plausible header.
            while (left >= S_HEADER && !s_header_ok (data + pos, &length)) {
                pos++;
                left--;
            }
            if (left < S_HEADER) break; //  keep the tail: a header may start there
            scan->resyncing = false;
        }
        if (left < S_HEADER) {
            scan->need = S_HEADER;
            break;
        }
        if (!s_header_ok (data + pos, &length)) {
            scan->corrupt++;
            scan->resyncing = true;
            pos++;
            continue;
        }
        size_t frame = S_HEADER + (size_t)length + S_FOOTER;
        if (left < frame) {
            scan->need = frame;
            break;
        }
        const uint8_t *record = data + pos + S_HEADER;
        if (hpt_tfevents_masked_crc (record, (size_t)length) == s_le32 (record + length))
            s_parse_event (record, (size_t)length, tag_filter, sink, arg);
        else
            scan->corrupt++; //  the length was verified, so the next frame follows
        pos += frame;
    }
    if (at_end && pos < size) {
        //  A partial frame or unmatched tail the writer will never finish.
        if (!scan->resyncing) scan->corrupt++;
        scan->resyncing = false;
        scan->need = 0;
        pos = size;
    }
    return pos;
}

//  ---------------------------------------------------------------------
//  Watched files and directories

typedef struct {
    char *path;               //  the event file (owned)
    bool known;               //  dev and ino below identify the file read so far
    dev_t dev;                //  its device
    ino_t ino;                //  its inode
    uint64_t offset;          //  bytes consumed so far
    hpt_tfevents_scan_t scan; //  parser state at offset
    bool gone;                //  the file no longer exists; drop it
} s_file_t;

struct _hpt_tfevents_t {
    char **dirs;                  //  watched directories (owned)
    int *depths;                  //  levels searched below each of dirs
    size_t dir_count;             //  entries in dirs
    size_t dir_alloc;             //  entries allocated in dirs and depths
    double since;                 //  files last modified before this are stale
    s_file_t *files;              //  watched files (owned)
    size_t file_count;            //  entries in files
    double scanned_at;            //  CLOCK_MONOTONIC seconds of the last walk, < 0: never
    uint8_t *buffer;              //  read buffer (owned)
    size_t buffer_size;           //  its allocated size
    hpt_tfevents_point_t *points; //  points of the last poll (owned)
    size_t point_count;           //  entries used
    size_t point_alloc;           //  entries allocated
    bool owner_set;               //  read only files of owner
    uid_t owner;                  //  see hpt_tfevents_set_owner
};

static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

hpt_tfevents_t *
hpt_tfevents_new (const char *const *dirs, size_t dir_count)
{
    hpt_tfevents_t *self = hpt_calloc (1, sizeof (*self));
    self->scanned_at = -1;
    for (size_t i = 0; dirs && i < dir_count; i++)
        hpt_tfevents_add_dir (self, dirs[i], HPT_TFEVENTS_DEPTH_MAX);
    return self;
}

void
hpt_tfevents_add_dir (hpt_tfevents_t *self, const char *dir, int depth)
{
    if (!self || !dir || !*dir || strlen (dir) >= PATH_MAX || depth < 0) return;
    if (depth > HPT_TFEVENTS_DEPTH_MAX) depth = HPT_TFEVENTS_DEPTH_MAX;
    if (self->dir_count == self->dir_alloc) {
        self->dir_alloc = self->dir_alloc ? self->dir_alloc * 2 : 4;
        self->dirs = hpt_realloc (self->dirs, self->dir_alloc * sizeof (*self->dirs));
        self->depths = hpt_realloc (self->depths, self->dir_alloc * sizeof (*self->depths));
    }
    self->dirs[self->dir_count] = hpt_strdup (dir);
    self->depths[self->dir_count++] = depth;
    self->scanned_at = -1; //  walk it on the next poll
}

void
hpt_tfevents_set_since (hpt_tfevents_t *self, double since)
{
    if (self) self->since = since;
}

void
hpt_tfevents_destroy (hpt_tfevents_t **self_p)
{
    if (!self_p || !*self_p) return;
    hpt_tfevents_t *self = *self_p;
    for (size_t i = 0; i < self->dir_count; i++)
        free (self->dirs[i]);
    free (self->dirs);
    free (self->depths);
    for (size_t i = 0; i < self->file_count; i++)
        free (self->files[i].path);
    free (self->files);
    free (self->buffer);
    free (self->points);
    free (self);
    *self_p = NULL;
}

static bool
s_watched (hpt_tfevents_t *self, const char *path)
{
    for (size_t i = 0; i < self->file_count; i++)
        if (strcmp (self->files[i].path, path) == 0) return true;
    return false;
}

static void
s_add_file (hpt_tfevents_t *self, const char *path)
{
    if (self->file_count >= HPT_TFEVENTS_FILES_MAX || s_watched (self, path)) return;
    self->files = hpt_realloc (self->files, (self->file_count + 1) * sizeof (*self->files));
    s_file_t *file = &self->files[self->file_count++];
    memset (file, 0, sizeof (*file));
    file->path = hpt_strdup (path);
}

void
hpt_tfevents_set_owner (hpt_tfevents_t *self, uid_t owner)
{
    self->owner_set = true;
    self->owner = owner;
}

static double
s_mtime (const struct stat *st)
{
    return (double)st->st_mtim.tv_sec + st->st_mtim.tv_nsec / 1e9;
}

//  Adds the event files in dir and, depth levels down, below it.
static void
s_walk (hpt_tfevents_t *self, const char *dir, int depth)
{
    DIR *handle = opendir (dir);
    if (!handle) return;
    struct dirent *entry;
    char path[PATH_MAX];
    while ((entry = readdir (handle)) && self->file_count < HPT_TFEVENTS_FILES_MAX) {
        const char *name = entry->d_name;
        if (strcmp (name, ".") == 0 || strcmp (name, "..") == 0) continue;
        int length = snprintf (path, sizeof (path), "%s/%s", dir, name);
        if (length < 0 || (size_t)length >= sizeof (path)) continue;
        struct stat st;
        if (lstat (path, &st)) continue;
        if (S_ISDIR (st.st_mode)) {
            if (depth > 0) s_walk (self, path, depth - 1);
        } else if (strncmp (name, S_PREFIX, strlen (S_PREFIX)) == 0) {
            //  A link to an event file is followed; only directories are not.
            if (S_ISLNK (st.st_mode) && (stat (path, &st) || !S_ISREG (st.st_mode))) continue;
            //  A stale file is looked at again on later walks: if it is
            //  written to, its mtime makes it current.
            if (S_ISREG (st.st_mode) && s_mtime (&st) >= self->since) s_add_file (self, path);
        }
    }
    closedir (handle);
}

static void
s_sink (void *arg, const hpt_tfevents_point_t *point)
{
    hpt_tfevents_t *self = arg;
    if (self->point_count == self->point_alloc) {
        self->point_alloc = self->point_alloc ? self->point_alloc * 2 : 64;
        self->points = hpt_realloc (self->points, self->point_alloc * sizeof (*self->points));
    }
    self->points[self->point_count++] = *point;
}

static void
s_reserve (hpt_tfevents_t *self, size_t size)
{
    if (self->buffer_size >= size) return;
    self->buffer = hpt_realloc (self->buffer, size);
    self->buffer_size = size;
}

//  Reads and parses what file gained since the last poll.
static void
s_read_file (hpt_tfevents_t *self, s_file_t *file, const char *tag_filter, bool at_exit)
{
    //  Non-blocking: the trainer owns the directory and may have put a
    //  FIFO where the file was, whose open would wait for a writer forever.
    int fd = open (file->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        //  Deleted: forget it, so it stops counting toward the file limit
        //  (a file made again under that name is found by the next walk).
        if (errno == ENOENT) file->gone = true;
        return;
    }
    struct stat st;
    if (fstat (fd, &st) || !S_ISREG (st.st_mode) || (self->owner_set && st.st_uid != self->owner)) {
        close (fd);
        return;
    }
    if (!file->known || st.st_dev != file->dev || st.st_ino != file->ino ||
        (uint64_t)st.st_size < file->offset) {
        //  New, replaced or truncated: read it from the start.
        memset (&file->scan, 0, sizeof (file->scan));
        file->offset = 0;
        file->known = true;
        file->dev = st.st_dev;
        file->ino = st.st_ino;
    }
    while (file->offset < (uint64_t)st.st_size) {
        if (!at_exit && self->point_count >= S_POINTS_SOFT_MAX) break;
        uint64_t available = (uint64_t)st.st_size - file->offset;
        size_t want = file->scan.need > S_CHUNK ? file->scan.need : S_CHUNK;
        if (available < want) want = (size_t)available;
        s_reserve (self, want);
        ssize_t got = pread (fd, self->buffer, want, (off_t)file->offset);
        if (got <= 0) break;
        bool at_end = at_exit && (uint64_t)got == available;
        size_t used = hpt_tfevents_parse_buffer (&file->scan, self->buffer, (size_t)got, at_end,
                                                 tag_filter, s_sink, self);
        file->offset += used;
        //  A short read (the file shrank meanwhile): the next poll sees why.
        if ((size_t)got < want) break;
        //  Nothing consumed and no larger read would help: the next record
        //  is incomplete in the file, wait for the writer.
        if (used == 0 && (file->scan.need <= (size_t)got || file->scan.need > available)) break;
    }
    close (fd);
}

//  Removes the files found deleted.
static void
s_drop_gone (hpt_tfevents_t *self)
{
    size_t kept = 0;
    for (size_t i = 0; i < self->file_count; i++) {
        s_file_t *file = &self->files[i];
        if (file->gone)
            free (file->path);
        else
            self->files[kept++] = *file;
    }
    self->file_count = kept;
}

int
hpt_tfevents_poll (hpt_tfevents_t *self, const char *tag_filter,
                   const hpt_tfevents_point_t **points_p, bool at_exit)
{
    if (points_p) *points_p = NULL;
    if (!self) return 0;
    self->point_count = 0;
    double now = s_now ();
    if (at_exit || self->scanned_at < 0 || now - self->scanned_at >= S_RESCAN_S) {
        for (size_t i = 0; i < self->dir_count; i++)
            s_walk (self, self->dirs[i], self->depths[i]);
        self->scanned_at = now;
    }
    for (size_t i = 0; i < self->file_count; i++)
        s_read_file (self, &self->files[i], tag_filter, at_exit);
    s_drop_gone (self);
    if (points_p) *points_p = self->points;
    return (int)self->point_count;
}
