/*  hpt_prom -- Prometheus metrics: a registry of counters, gauges and
    histograms, and the one writer of the text exposition format

    A registry holds metric families in the order they were declared; a
    family has a name, a help text, a type and the names of its labels,
    and one series per combination of label values. The master and the
    agent each own one registry: their event handlers count into it, and
    their /metrics routes render it (hpt_prom_render), together with
    gauges computed at scrape time from their state, which they set into a
    scratch registry rendered the same way, so every line served comes
    from this one writer and follows Prometheus's conventions (HELP and
    TYPE once per family, label values escaped, histograms with
    cumulative _bucket{le}, _sum and _count). Families with a series per
    node are streamed instead (hpt_prom_stream_*): written straight out by
    the same writer, since building thousands of series into a registry
    on every scrape was most of a big fleet's scrape.

    Invariants: a family's name and label names are fixed when declared
    (names match [a-zA-Z_:][a-zA-Z0-9_:]*, checked: a bad name is a bug of
    the caller and aborts); each family holds at most HPT_PROM_MAX_SERIES
    series, and values past that are dropped and counted
    (hpt_prom_series_dropped), so a label fed from outside cannot grow
    memory without bound. Every function is thread-safe (one mutex per
    registry): the master's HTTP thread counts API requests while its
    loop counts everything else.
*/
#ifndef HPT_PROM_H_INCLUDED
#define HPT_PROM_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

//  Most series (label combinations) one family holds.
#define HPT_PROM_MAX_SERIES 16384
//  Most labels a family has, and most buckets a histogram has.
#define HPT_PROM_MAX_LABELS 6
#define HPT_PROM_MAX_BUCKETS 24

typedef struct _hpt_prom_t hpt_prom_t;
typedef struct _hpt_prom_family_t hpt_prom_family_t;

typedef enum { HPT_PROM_COUNTER, HPT_PROM_GAUGE, HPT_PROM_HISTOGRAM } hpt_prom_type_t;

//  Bucket bounds (seconds) for latencies from a millisecond to a minute,
//  and for durations from a second to a day.
extern const double hpt_prom_latency_buckets[];
extern const size_t hpt_prom_latency_bucket_count;
extern const double hpt_prom_duration_buckets[];
extern const size_t hpt_prom_duration_bucket_count;

//  Creates an empty registry (the caller owns it).
hpt_prom_t *hpt_prom_new (void);

//  Destroys the registry and its families; nulls the pointer.
void hpt_prom_destroy (hpt_prom_t **self_p);

//  Declares a family. labels is a comma-separated list of label names
//  ("" or NULL: none). Declaring a name twice returns the first family
//  (the type and labels must agree). The family lives as long as the
//  registry (borrowed).
hpt_prom_family_t *hpt_prom_counter (hpt_prom_t *self, const char *name, const char *help,
                                     const char *labels);
hpt_prom_family_t *hpt_prom_gauge (hpt_prom_t *self, const char *name, const char *help,
                                   const char *labels);
//  bounds: ascending upper bounds (at most HPT_PROM_MAX_BUCKETS); +Inf is
//  implied.
hpt_prom_family_t *hpt_prom_histogram (hpt_prom_t *self, const char *name, const char *help,
                                       const char *labels, const double *bounds,
                                       size_t bound_count);

//  The family of that name, or NULL.
hpt_prom_family_t *hpt_prom_find (hpt_prom_t *self, const char *name);

//  Counters: adds value (>= 0) to the series of the label values that
//  follow (one const char * per label of the family).
void hpt_prom_add (hpt_prom_family_t *family, double value, ...);

//  Gauges: sets the series to value.
void hpt_prom_set (hpt_prom_family_t *family, double value, ...);

//  Histograms: records one observation.
void hpt_prom_observe (hpt_prom_family_t *family, double value, ...);

//  Makes a series exist with value 0 (so an alert on its rate sees 0
//  rather than nothing before the first event).
void hpt_prom_touch (hpt_prom_family_t *family, ...);

//  The value of a counter's or gauge's series (a histogram's count), 0
//  when it does not exist: for tests and for computed figures.
double hpt_prom_value (hpt_prom_family_t *family, ...);

//  Writes every family in declaration order, series sorted by label
//  values, in the text exposition format 0.0.4.
void hpt_prom_render (hpt_prom_t *self, FILE *out);

//  Streaming: the HELP and TYPE lines of a family whose samples follow
//  (type "gauge" or "counter"; name checked as for declared families).
void hpt_prom_stream_family (FILE *out, const char *name, const char *help, const char *type);

//  One sample of a streamed family: labels are its label names,
//  comma-separated (NULL: none), and one const char * value per label
//  follows value. The caller writes each label combination once.
void hpt_prom_stream_sample (FILE *out, const char *name, const char *labels, double value, ...);

//  How many series were refused because their family was full.
uint64_t hpt_prom_series_dropped (hpt_prom_t *self);

#endif
