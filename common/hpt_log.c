/*  hpt_log -- one line per event, logfmt, on stderr

    A line is built whole in a buffer and written with one write(2), so
    lines of the master's two threads never interleave. Values of the
    context fields are written bare when they are made of safe characters
    (letters, digits and -_./:@), quoted otherwise; the message is always
    quoted, with backslash, quote and control characters escaped.

    Journal detection follows sd_journal_stream_fd's contract: systemd
    puts "DEVICE:INODE" of the stream in JOURNAL_STREAM, and the line gets
    the "<N>" priority prefix only when stderr is that very stream (a
    program started from a unit but writing to a file keeps timestamps).
*/
#include "hpt_log.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

HPT_ENUM_DEFINE (hpt_log_level, HPT_LOG_LEVEL_LIST)

#define S_LINE_MAX 8192
#define S_MESSAGE_MAX 4096

static hpt_log_level_t s_level = HPT_LOG_INFO;
//  -1 not checked yet, 0 plain stderr, 1 the journal.
static int s_journal = -1;

void
hpt_log_set_level (hpt_log_level_t level)
{
    s_level = level;
}

bool
hpt_log_enabled (hpt_log_level_t level)
{
    return level >= s_level;
}

static bool
s_stderr_is_journal (void)
{
    const char *stream = getenv ("JOURNAL_STREAM");
    unsigned long long device, inode;
    struct stat info;
    if (!stream || sscanf (stream, "%llu:%llu", &device, &inode) != 2 || fstat (2, &info) != 0)
        return false;
    return (unsigned long long)info.st_dev == device && (unsigned long long)info.st_ino == inode;
}

//  Appends to line (at *len, bounded by S_LINE_MAX).
static void
s_append (char *line, size_t *len, const char *format, ...)
{
    if (*len >= S_LINE_MAX - 1) return;
    va_list args;
    va_start (args, format);
    int n = vsnprintf (line + *len, S_LINE_MAX - *len, format, args);
    va_end (args);
    if (n > 0) *len += (size_t)n < S_LINE_MAX - *len ? (size_t)n : S_LINE_MAX - 1 - *len;
}

static bool
s_bare (const char *value)
{
    if (!*value) return false;
    for (const char *c = value; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              strchr ("-_./:@", *c)))
            return false;
    return true;
}

static void
s_quoted (char *line, size_t *len, const char *value)
{
    s_append (line, len, "\"");
    for (const unsigned char *c = (const unsigned char *)value; *c; c++) {
        if (*c == '"' || *c == '\\')
            s_append (line, len, "\\%c", *c);
        else if (*c == '\n')
            s_append (line, len, "\\n");
        else if (*c < 0x20 || *c == 0x7f)
            s_append (line, len, "\\x%02x", *c);
        else
            s_append (line, len, "%c", *c);
    }
    s_append (line, len, "\"");
}

static void
s_field (char *line, size_t *len, const char *key, const char *value)
{
    if (!value) return;
    s_append (line, len, " %s=", key);
    if (s_bare (value))
        s_append (line, len, "%s", value);
    else
        s_quoted (line, len, value);
}

void
hpt_log (hpt_log_level_t level, const hpt_log_fields_t *fields, const char *format, ...)
{
    if (!hpt_log_enabled (level)) return;
    if (s_journal < 0) s_journal = s_stderr_is_journal ();
    static const int priority[] = {7, 6, 4, 3};
    char line[S_LINE_MAX];
    size_t len = 0;
    if (s_journal)
        s_append (line, &len, "<%d>level=%s", priority[level], hpt_log_level_name (level));
    else {
        struct timespec now;
        clock_gettime (CLOCK_REALTIME, &now);
        struct tm utc;
        gmtime_r (&now.tv_sec, &utc);
        char stamp[32];
        strftime (stamp, sizeof (stamp), "%Y-%m-%dT%H:%M:%S", &utc);
        s_append (line, &len, "ts=%s.%03ldZ level=%s", stamp, now.tv_nsec / 1000000,
                  hpt_log_level_name (level));
    }
    if (fields) {
        s_field (line, &len, "job", fields->job);
        if (fields->trial) s_append (line, &len, " trial=%lld", (long long)fields->trial);
        s_field (line, &len, "task", fields->task);
        s_field (line, &len, "node", fields->node);
    }
    char message[S_MESSAGE_MAX];
    va_list args;
    va_start (args, format);
    vsnprintf (message, sizeof (message), format, args);
    va_end (args);
    s_append (line, &len, " msg=");
    s_quoted (line, &len, message);
    if (len >= S_LINE_MAX - 1) len = S_LINE_MAX - 2;
    line[len++] = '\n';
    ssize_t written = write (2, line, len);
    (void)written;
}
