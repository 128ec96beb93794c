/*  hpt_joblog -- each job's log: hpt's events and its tasks' output

    One file per job, DIR/JOB.log, of JSON lines: {"trialId", "taskId",
    "replica" ("master-0", or "hpt" for hpt's own events), "stream"
    ("stdout", "stderr" or "event"), "time" (RFC 3339), "text"}. One
    entry per output line, each keeping its newline, so a reader can tell
    a whole line from one still being written. This class alone knows the
    path and the format: the core writes through it, the API reads
    through it.

    Exactly once across crashes: the log is written inside the core's
    transactions, and the file's length after each transaction's writes
    is stored with the job (hpt_store_job_set_log_bytes) in the same
    transaction. A master restarted after a crash, or after a failed
    commit, cuts the file back to the stored length (hpt_joblog_truncate):
    lines of events that were never committed are gone, and the agent's
    replay of those events writes them once.

    Files are created 0600: trainer output may hold secrets.
*/
#ifndef HPT_JOBLOG_H_INCLUDED
#define HPT_JOBLOG_H_INCLUDED

#include "hpt_error.h"
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _hpt_joblog_t hpt_joblog_t;

//  Opens the log directory dir (created 0700 if missing). Returns NULL
//  with *error when it cannot be created.
hpt_joblog_t *hpt_joblog_new (const char *dir, hpt_error_t *error);

//  Destroys the object and nulls the pointer (the files stay).
void hpt_joblog_destroy (hpt_joblog_t **self_p);

//  Appends one of hpt's events about job (trial_id 0: the job itself).
//  *size_p gets the file's length after the write.
int hpt_joblog_event (hpt_joblog_t *self, const char *job_id, int64_t trial_id, const char *text,
                      int64_t now_ms, int64_t *size_p, hpt_error_t *error);

//  A chunk of a task's output.
typedef struct {
    int64_t trial_id;    //  its trial
    const char *task_id; //  its task
    const char *replica; //  "master-0", "worker-2", ...
    const char *stream;  //  "stdout" or "stderr"
    const char *data;    //  the bytes (not NUL-terminated)
    size_t size;         //  how many
} hpt_joblog_chunk_t;

//  Appends chunk as one entry per line (bytes that are not UTF-8 become
//  '?'). *size_p gets the file's length after the write.
int hpt_joblog_output (hpt_joblog_t *self, const char *job_id, const hpt_joblog_chunk_t *chunk,
                       int64_t now_ms, int64_t *size_p, hpt_error_t *error);

//  Cuts job's file back to bytes (bytes < 0: keep it as it is, for jobs
//  stored before lengths were recorded).
int hpt_joblog_truncate (hpt_joblog_t *self, const char *job_id, int64_t bytes, hpt_error_t *error);

//  A page of job's log: entries starting at byte offset after, of one
//  trial when trial is not NULL, up to about max_bytes of the file; each
//  entry gets "seq" (its offset). Returns {"entries": [...], "next": N}
//  (caller owns), N being where the next page starts. A job without a
//  file has no entries.
json_t *hpt_joblog_read (hpt_joblog_t *self, const char *job_id, int64_t after, const char *trial,
                         size_t max_bytes);

//  The end of job's log: the last max_lines entries (oldest first) of
//  trial, and of task and stream when they are not NULL, found by reading
//  the file backwards from its end, at most max_scan bytes of it. Returns
//  {"entries": [...], "next": N, "scannedFrom": S} (caller owns): N is the
//  file's length (continue live with hpt_joblog_read from there), S the
//  offset the backward read stopped at (0 when it read the whole file;
//  older entries of the trial may lie before a larger S). Each entry gets
//  "seq" as for hpt_joblog_read.
json_t *hpt_joblog_tail (hpt_joblog_t *self, const char *job_id, const char *trial,
                         const char *task, const char *stream, size_t max_lines, size_t max_scan);

#endif
