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

typedef struct {
    char tag[HPT_LINE_METRICS_TAG_MAX]; //  metric name
    double value;                       //  its value
    int64_t step;                       //  step, -1 when the line gives none
} hpt_line_point_t;

typedef struct _hpt_line_metrics_t hpt_line_metrics_t;

//  Compiles regex (NULL: the default pattern). NULL with error set
//  (HPT_E_INVALID) when it is not a valid pattern or has no value group.
hpt_line_metrics_t *hpt_line_metrics_new (const char *regex, hpt_error_t *error);

//  Destroys the collector and nulls the pointer.
void hpt_line_metrics_destroy (hpt_line_metrics_t **self_p);

//  Scans one line (without its newline). Writes at most max points to out;
//  a point without a tag group gets default_tag. Returns how many.
int hpt_line_metrics_scan (hpt_line_metrics_t *self, const char *line, const char *default_tag,
                           hpt_line_point_t *out, int max);

#endif
