/*  hpt_tfevents -- reads scalars from TensorFlow event files as they grow

    A trainer that logs with tf.summary (or Keras' TensorBoard callback)
    writes events.out.tfevents.* files under its job dir
    (docs/trainer-contract.md). The agent watches the task's directories
    with this reader and polls it from its loop, as it polls hpt_hypertune,
    and once more with at_exit when the task exits. Each poll reads only
    what was appended to each file since the last poll and returns the
    scalar summaries found there as points (tag, value, step, wall time),
    whichever of the three scalar encodings the writer used (simple_value,
    tensor float_val/double_val, tensor_content of one DT_FLOAT or
    DT_DOUBLE).
*/
#ifndef HPT_TFEVENTS_H_INCLUDED
#define HPT_TFEVENTS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

//  Room for a tag (with its terminating zero); longer tags are dropped.
#define HPT_TFEVENTS_TAG_MAX 256
//  Deepest directory level searched below each watched directory.
#define HPT_TFEVENTS_DEPTH_MAX 8
//  Most event files watched at once; more are ignored.
#define HPT_TFEVENTS_FILES_MAX 1000
//  Largest record accepted (TF's event records are far smaller); a longer
//  length, even with a valid length CRC, is treated as corruption.
#define HPT_TFEVENTS_RECORD_MAX (16 * 1024 * 1024)

//  One scalar summary value.
typedef struct {
    char tag[HPT_TFEVENTS_TAG_MAX]; //  Summary.Value.tag, scopes included
    double value;                   //  finite value (a float widened exactly)
    int64_t step;                   //  Event.step
    double time;                    //  Event.wall_time, seconds since the epoch
} hpt_tfevents_point_t;

typedef struct _hpt_tfevents_t hpt_tfevents_t;

//  A reader watching every events.out.tfevents.* file under each of dirs
//  (copied), recursively, down to HPT_TFEVENTS_DEPTH_MAX levels and at most
//  HPT_TFEVENTS_FILES_MAX files. The directories need not exist yet; NULL
//  entries and empty strings are skipped.
hpt_tfevents_t *hpt_tfevents_new (const char *const *dirs, size_t dir_count);

//  Watches dir (copied) too, searching depth levels below it (0: only the
//  files directly in it; at most HPT_TFEVENTS_DEPTH_MAX). The agent uses
//  depth 0 for a job dir that all trials share, so that it does not read
//  the event files of sibling trials in their own subdirectories. NULL or
//  empty dir: ignored.
void hpt_tfevents_add_dir (hpt_tfevents_t *self, const char *dir, int depth);

//  Ignores event files last modified before since (seconds since the
//  epoch; default 0: none ignored), e.g. the task's start, so that files
//  left by an earlier run in the same directory are not reported again. A
//  file ignored this way is watched once it is modified.
void hpt_tfevents_set_since (hpt_tfevents_t *self, double since);

//  Reads only event files owned by owner (the task's user, when the agent
//  runs the task as another user than itself): a file of someone else's,
//  reached through a link the trainer made, is not the task's report, and
//  the agent reading it for the task would be reading it on its behalf.
void hpt_tfevents_set_owner (hpt_tfevents_t *self, uid_t owner);

//  Destroys the reader and nulls the pointer.
void hpt_tfevents_destroy (hpt_tfevents_t **self_p);

//  Reads what was appended to every watched file since the last poll (the
//  directories are rescanned for new files at most once a second, and
//  always at_exit) and returns how many new points it found, in file
//  order; *points_p (may be NULL) is set to them, borrowed until the next
//  poll or destroy. tag_filter: only scalars whose tag equals it exactly
//  (NULL: all); scalars it excludes are passed over for good, so pass the
//  same filter on every poll. A partial record at the end of a file is left for a later
//  poll; at_exit it is skipped as corrupt, since the writer is gone.
//  Unreadable files are skipped.
int hpt_tfevents_poll (hpt_tfevents_t *self, const char *tag_filter,
                       const hpt_tfevents_point_t **points_p, bool at_exit);

//  ---------------------------------------------------------------------
//  The record and protobuf parser, exposed for the fuzz target and tests.

//  Called with each scalar point found (borrowed for the call).
typedef void (hpt_tfevents_sink_fn) (void *arg, const hpt_tfevents_point_t *point);

//  Parser state carried between buffers of one file.
typedef struct {
    bool resyncing;   //  looking for a valid record header after corruption
    size_t need;      //  bytes the next record needs from its start (0: unknown)
    uint64_t corrupt; //  records skipped so far
} hpt_tfevents_scan_t;

//  Parses TFRecord-framed events in data[0..size) (the bytes of a file
//  from the position where the last call stopped) and calls sink for each
//  scalar whose tag equals tag_filter (NULL: all). Returns the bytes
//  consumed; the caller passes the rest again, with more appended, next
//  time. at_end: no more bytes will come, so a trailing partial record is
//  consumed and counted as corrupt. Never reads outside data.
size_t hpt_tfevents_parse_buffer (hpt_tfevents_scan_t *scan, const uint8_t *data, size_t size,
                                  bool at_end, const char *tag_filter, hpt_tfevents_sink_fn *sink,
                                  void *arg);

//  Masked CRC-32C (Castagnoli) of data, as TFRecord frames carry it.
uint32_t hpt_tfevents_masked_crc (const uint8_t *data, size_t size);

#endif
