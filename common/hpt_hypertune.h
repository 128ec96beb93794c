/*  hpt_hypertune -- reads the metric file that cloudml-hypertune writes

    A trainer reports metrics by writing JSON lines to the file named by
    CLOUD_ML_HP_METRIC_FILE (docs/trainer-contract.md):

        {"timestamp": 1.7e9, "trial": "7", "accuracy": "0.93",
         "global_step": "100", "checkpoint_path": ""}

    The writer rewrites the whole file on every report and keeps only the
    last 100 reports, so the agent polls the file and this reader returns
    each report's points once: every numeric member other than timestamp,
    trial, global_step and checkpoint_path is a point (tag, value, step,
    time), so non-objective metrics are collected too. Values and steps may
    be JSON numbers or numeric strings.

    The agent calls hpt_hypertune_poll from its loop (a timer) and once
    more with at_exit when the task exits. A poll is one stat() and, only
    when the file may have changed, one read of the whole file (at most
    HPT_HYPERTUNE_FILE_MAX bytes, the tail when larger).
*/
#ifndef HPT_HYPERTUNE_H_INCLUDED
#define HPT_HYPERTUNE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

//  Most bytes read from the file per poll (its tail when larger).
#define HPT_HYPERTUNE_FILE_MAX (4 * 1024 * 1024)
//  Longest line accepted; longer lines are bad lines.
#define HPT_HYPERTUNE_LINE_MAX (64 * 1024)
//  Room for a tag (with its terminating zero); longer tags are dropped.
#define HPT_HYPERTUNE_TAG_MAX 256

//  One reported metric value.
typedef struct {
    char tag[HPT_HYPERTUNE_TAG_MAX]; //  the member name, e.g. "accuracy"
    double value;                    //  finite value
    int64_t step;                    //  global_step, or the report's ordinal (1..) without one
    double time;                     //  the report's timestamp, seconds since the epoch
} hpt_hypertune_point_t;

typedef struct _hpt_hypertune_t hpt_hypertune_t;

//  A reader of the file at path (copied). The file need not exist yet.
//  NULL when path is NULL, empty or longer than PATH_MAX.
hpt_hypertune_t *hpt_hypertune_new (const char *path);

//  Reads the file only when owner owns it (the task's user, when the agent
//  runs the task as another user than itself): a file of someone else's is
//  no report of the task. The file is never read through a symbolic link.
void hpt_hypertune_set_owner (hpt_hypertune_t *self, uid_t owner);

//  Destroys the reader and nulls the pointer.
void hpt_hypertune_destroy (hpt_hypertune_t **self_p);

//  Reads the file if it may have changed and returns how many new points
//  it holds, in file order; *points_p (may be NULL) is set to them,
//  borrowed until the next poll or destroy. A missing file gives 0.
//  Returns -1 when the file exists but cannot be read (errno set).
//  at_exit: the writer is gone, so an unterminated last line is parsed
//  too (otherwise it is left for a later poll, as it may be half written).
int hpt_hypertune_poll (hpt_hypertune_t *self, const hpt_hypertune_point_t **points_p,
                        bool at_exit);

//  Lines that were not reports (not JSON objects, too long, no numeric
//  timestamp, a non-finite value or an overlong tag) since the reader was
//  made. A bad line is counted once, however often it is read again.
uint64_t hpt_hypertune_bad_lines (hpt_hypertune_t *self);

#endif
