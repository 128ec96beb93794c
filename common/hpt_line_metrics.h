/*  hpt_line_metrics -- metrics read from a trainer's output lines

    The hpt extension `metricCollector` reads metrics from what a trainer
    prints, for trainers that cannot write the hypertune file:

      metricCollector: {stdout: true}        the default pattern below
      metricCollector: {stdoutRegex: "..."}  a POSIX extended regex with
                                              named groups (?<tag>...),
                                              (?<value>...), (?<step>...)

    The default pattern finds every NAME=VALUE or NAME: VALUE pair of a
    line ("epoch 3 loss=0.41 accuracy=0.93 step=300", "metric1: 0.93"); a
    pair named step or global_step gives the step of the line's other
    pairs. A custom regex must have a value group; without a tag group its
    points take the job's metric tag; without a step group (or a step pair)
    the report's order is the step. Both are applied repeatedly along the
    line, so one line may carry several points.

    POSIX regexes have no named groups, so this class rewrites
    (?<name>...) and (?P<name>...) to plain groups and remembers their
    numbers; the job reader uses the same translation to validate.

    Matching time. A trainer's output is untrusted input to the agent, so
    a custom pattern must match in time polynomial in the line's length:
    back-references (\1..\9) and nested quantifiers ((a+)+, (x*)*, a
    repeated group holding any quantifier) are refused, naming the
    construct and its offset. A pattern is applied to the first
    HPT_LINE_METRICS_LINE_MAX bytes of a line only (the rest of a longer
    line is not matched); glibc's matcher is still quadratic on some
    allowed patterns (about 40 ms for a 4096-byte line on a 2020s core), so
    the agent also budgets the time its loop spends matching.
*/
#ifndef HPT_LINE_METRICS_H_INCLUDED
#define HPT_LINE_METRICS_H_INCLUDED

#include "hpt_error.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HPT_LINE_METRICS_DEFAULT                                                                   \
    "(?<tag>[A-Za-z_][A-Za-z0-9_./-]*)[ \t]*[=:][ \t]*"                                            \
    "(?<value>[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]+)?)"

#define HPT_LINE_METRICS_TAG_MAX 256
//  Longest pattern (the protocol's bound on stdoutRegex, PROTOCOL.md 4).
#define HPT_LINE_METRICS_REGEX_MAX 1024
//  Bytes of a line a pattern is applied to (the rest is not matched).
#define HPT_LINE_METRICS_LINE_MAX 4096

typedef struct {
    char tag[HPT_LINE_METRICS_TAG_MAX]; //  metric name
    double value;                       //  its value
    int64_t step;                       //  step, -1 when the line gives none
} hpt_line_point_t;

typedef struct _hpt_line_metrics_t hpt_line_metrics_t;

//  Compiles regex (NULL: the default pattern). NULL with error set
//  (HPT_E_INVALID) when it is not a valid pattern, has no value group, is
//  longer than HPT_LINE_METRICS_REGEX_MAX or holds a construct refused for
//  its matching time (see the top).
hpt_line_metrics_t *hpt_line_metrics_new (const char *regex, hpt_error_t *error);

//  True for a custom pattern (matched by regexec, whose time a caller
//  should budget); false for the default one (matched by hand, linear).
bool hpt_line_metrics_custom (hpt_line_metrics_t *self);

//  Destroys the collector and nulls the pointer.
void hpt_line_metrics_destroy (hpt_line_metrics_t **self_p);

//  Scans one line (without its newline), its first HPT_LINE_METRICS_LINE_MAX
//  bytes only. Writes at most max points to out;
//  a point without a tag group gets default_tag. Returns how many.
int hpt_line_metrics_scan (hpt_line_metrics_t *self, const char *line, const char *default_tag,
                           hpt_line_point_t *out, int max);

#endif
