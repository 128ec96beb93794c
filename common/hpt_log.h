/*  hpt_log -- the daemons' log: one line per event, a level and
    key=value fields, on stderr

    Every line the master and the agent log goes through here, in the
    logfmt shape that journald, Loki and grep all read:

        ts=2025-05-20T10:11:12.345Z level=warning node=gpu-07 msg="agent lost: silent past the agent
   timeout"

    The fields are the event's context, those of hpt_log_fields_t that are
    set (job, trial, task, node), then msg, quoted. When stderr is the
    journal (systemd sets JOURNAL_STREAM to its device and inode), the line
    starts with the syslog priority instead of the time ("<4>level=..."),
    so that journald records the level and adds its own time.

    --log-level LEVEL (debug, info, warning, error; default info) sets the
    least severe level written. Messages never carry secret values: a
    job's env values, API tokens and key material are not logged by any
    caller (tests/integration/test_ops_logs.py checks a run).
*/
#ifndef HPT_LOG_H_INCLUDED
#define HPT_LOG_H_INCLUDED

#include "hpt_enum.h"
#include <stdbool.h>
#include <stdint.h>

#define HPT_LOG_LEVEL_LIST(X)                                                                      \
    X (HPT_LOG_DEBUG, "debug")                                                                     \
    X (HPT_LOG_INFO, "info")                                                                       \
    X (HPT_LOG_WARNING, "warning")                                                                 \
    X (HPT_LOG_ERROR, "error")
HPT_ENUM_DECLARE (hpt_log_level, HPT_LOG_LEVEL_LIST)

//  An event's context: whichever of these are set become fields.
typedef struct {
    const char *job;  //  job id, or NULL
    int64_t trial;    //  trial id, 0 when none
    const char *task; //  task id, or NULL
    const char *node; //  agent name, or NULL
} hpt_log_fields_t;

//  Sets the least severe level written (default HPT_LOG_INFO).
void hpt_log_set_level (hpt_log_level_t level);

//  Whether a line of level would be written.
bool hpt_log_enabled (hpt_log_level_t level);

//  Writes one line: fields (may be NULL) and the message. A message is
//  cut at 4 KiB; control characters in it are escaped, so one event is
//  always one line.
void hpt_log (hpt_log_level_t level, const hpt_log_fields_t *fields, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

#define hpt_log_debug(...) hpt_log (HPT_LOG_DEBUG, NULL, __VA_ARGS__)
#define hpt_log_info(...) hpt_log (HPT_LOG_INFO, NULL, __VA_ARGS__)
#define hpt_log_warning(...) hpt_log (HPT_LOG_WARNING, NULL, __VA_ARGS__)
#define hpt_log_error(...) hpt_log (HPT_LOG_ERROR, NULL, __VA_ARGS__)

#endif
