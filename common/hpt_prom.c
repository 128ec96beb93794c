/*  hpt_prom -- Prometheus metrics: registry and text exposition

    Each family keeps its series in an array sorted by key, the label
    values joined with the unit separator (0x1f, which no label value of
    ours contains; one that does is still kept apart from others, only
    sorted oddly). Finding a series is a binary search, adding one a
    memmove of pointers, so a scrape-time registry of a thousand nodes
    costs microseconds; rendering walks the arrays in order, which gives
    a stable output.

    Histograms keep a count per bucket (not cumulative) and render the
    running sum as the cumulative _bucket{le} series Prometheus expects,
    with le="+Inf" equal to _count.

    Values are doubles, rendered in the shortest form that reads back
    exactly (integers without a decimal point); non-finite values as NaN,
    +Inf, -Inf.
*/
#include "hpt_prom.h"
#include "hpt_alloc.h"
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

const double hpt_prom_latency_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                           0.5,   1,      2.5,   5,    10,    30,   60};
const size_t hpt_prom_latency_bucket_count =
    sizeof (hpt_prom_latency_buckets) / sizeof (hpt_prom_latency_buckets[0]);
const double hpt_prom_duration_buckets[] = {1,   5,    10,   30,   60,    120,   300,
                                            600, 1800, 3600, 7200, 14400, 28800, 86400};
const size_t hpt_prom_duration_bucket_count =
    sizeof (hpt_prom_duration_buckets) / sizeof (hpt_prom_duration_buckets[0]);

typedef struct {
    char *key;        //  label values joined by 0x1f
    char **values;    //  the label values, one per label name
    double value;     //  counter or gauge value; a histogram's sum
    uint64_t count;   //  a histogram's observations
    uint64_t *bucket; //  a histogram's count per bucket (not cumulative)
} s_series_t;

struct _hpt_prom_family_t {
    hpt_prom_t *owner;                   //  the registry (its mutex)
    char *name;                          //  metric name
    char *help;                          //  HELP text
    hpt_prom_type_t type;                //  counter, gauge or histogram
    char *labels[HPT_PROM_MAX_LABELS];   //  label names
    size_t label_count;                  //  entries in labels
    double bounds[HPT_PROM_MAX_BUCKETS]; //  histogram upper bounds
    size_t bound_count;                  //  entries in bounds
    s_series_t **series;                 //  sorted by key
    size_t series_count;                 //  entries in series
    size_t series_cap;                   //  allocated
};

struct _hpt_prom_t {
    pthread_mutex_t mutex;        //  guards everything below and every family
    hpt_prom_family_t **families; //  declaration order
    size_t family_count;          //  entries in families
    uint64_t series_dropped;      //  series refused past HPT_PROM_MAX_SERIES
};

hpt_prom_t *
hpt_prom_new (void)
{
    hpt_prom_t *self = hpt_calloc (1, sizeof (hpt_prom_t));
    pthread_mutex_init (&self->mutex, NULL);
    return self;
}

static void
s_series_free (s_series_t *series, size_t label_count)
{
    free (series->key);
    for (size_t i = 0; i < label_count; i++)
        free (series->values[i]);
    free (series->values);
    free (series->bucket);
    free (series);
}

void
hpt_prom_destroy (hpt_prom_t **self_p)
{
    if (!self_p || !*self_p) return;
    hpt_prom_t *self = *self_p;
    for (size_t f = 0; f < self->family_count; f++) {
        hpt_prom_family_t *family = self->families[f];
        for (size_t i = 0; i < family->series_count; i++)
            s_series_free (family->series[i], family->label_count);
        free (family->series);
        for (size_t i = 0; i < family->label_count; i++)
            free (family->labels[i]);
        free (family->name);
        free (family->help);
        free (family);
    }
    free (self->families);
    pthread_mutex_destroy (&self->mutex);
    free (self);
    *self_p = NULL;
}

static bool
s_name_ok (const char *name, bool colon)
{
    if (!name || !*name || (name[0] >= '0' && name[0] <= '9')) return false;
    for (const char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '_' || (colon && *c == ':')))
            return false;
    return true;
}

//  A bad name or shape is the caller's bug: stop rather than serve a
//  scrape Prometheus would reject whole.
static void
s_require (bool ok, const char *what, const char *name)
{
    if (ok) return;
    fprintf (stderr, "hpt_prom: invalid %s '%s'\n", what, name ? name : "(null)");
    abort ();
}

static hpt_prom_family_t *
s_find (hpt_prom_t *self, const char *name)
{
    for (size_t i = 0; i < self->family_count; i++)
        if (strcmp (self->families[i]->name, name) == 0) return self->families[i];
    return NULL;
}

hpt_prom_family_t *
hpt_prom_find (hpt_prom_t *self, const char *name)
{
    pthread_mutex_lock (&self->mutex);
    hpt_prom_family_t *family = s_find (self, name);
    pthread_mutex_unlock (&self->mutex);
    return family;
}

static void
s_parse_labels (hpt_prom_family_t *family, const char *labels)
{
    if (!labels || !*labels) return;
    char *copy = hpt_strdup (labels), *save = NULL;
    for (char *label = strtok_r (copy, ",", &save); label; label = strtok_r (NULL, ",", &save)) {
        s_require (family->label_count < HPT_PROM_MAX_LABELS && s_name_ok (label, false), "label",
                   label);
        family->labels[family->label_count++] = hpt_strdup (label);
    }
    free (copy);
}

static hpt_prom_family_t *
s_declare (hpt_prom_t *self, hpt_prom_type_t type, const char *name, const char *help,
           const char *labels, const double *bounds, size_t bound_count)
{
    s_require (s_name_ok (name, true) && bound_count <= HPT_PROM_MAX_BUCKETS, "metric", name);
    pthread_mutex_lock (&self->mutex);
    hpt_prom_family_t *family = s_find (self, name);
    if (!family) {
        family = hpt_calloc (1, sizeof (hpt_prom_family_t));
        family->owner = self;
        family->name = hpt_strdup (name);
        family->help = hpt_strdup (help ? help : "");
        family->type = type;
        s_parse_labels (family, labels);
        for (size_t i = 0; i < bound_count; i++)
            family->bounds[i] = bounds[i];
        family->bound_count = bound_count;
        self->families =
            hpt_realloc (self->families, (self->family_count + 1) * sizeof (hpt_prom_family_t *));
        self->families[self->family_count++] = family;
    }
    s_require (family->type == type, "redeclaration of", name);
    pthread_mutex_unlock (&self->mutex);
    return family;
}

hpt_prom_family_t *
hpt_prom_counter (hpt_prom_t *self, const char *name, const char *help, const char *labels)
{
    return s_declare (self, HPT_PROM_COUNTER, name, help, labels, NULL, 0);
}

hpt_prom_family_t *
hpt_prom_gauge (hpt_prom_t *self, const char *name, const char *help, const char *labels)
{
    return s_declare (self, HPT_PROM_GAUGE, name, help, labels, NULL, 0);
}

hpt_prom_family_t *
hpt_prom_histogram (hpt_prom_t *self, const char *name, const char *help, const char *labels,
                    const double *bounds, size_t bound_count)
{
    return s_declare (self, HPT_PROM_HISTOGRAM, name, help, labels, bounds, bound_count);
}

//  The key of the label values in args (one per label).
static char *
s_key (hpt_prom_family_t *family, va_list args, const char **values)
{
    size_t size = 1;
    for (size_t i = 0; i < family->label_count; i++) {
        values[i] = va_arg (args, const char *);
        if (!values[i]) values[i] = "";
        size += strlen (values[i]) + 1;
    }
    char *key = hpt_malloc (size), *at = key;
    for (size_t i = 0; i < family->label_count; i++) {
        size_t len = strlen (values[i]);
        memcpy (at, values[i], len);
        at += len;
        if (i + 1 < family->label_count) *at++ = 0x1f;
    }
    *at = 0;
    return key;
}

//  The index where key is, or would be inserted (*found says which).
static size_t
s_search (hpt_prom_family_t *family, const char *key, bool *found)
{
    size_t low = 0, high = family->series_count;
    while (low < high) {
        size_t mid = (low + high) / 2;
        int cmp = strcmp (family->series[mid]->key, key);
        if (cmp == 0) {
            *found = true;
            return mid;
        }
        if (cmp < 0)
            low = mid + 1;
        else
            high = mid;
    }
    *found = false;
    return low;
}

//  The series of the label values in args, created when create is set
//  (NULL when absent, or when the family is full). Mutex held.
static s_series_t *
s_series (hpt_prom_family_t *family, va_list args, bool create)
{
    const char *values[HPT_PROM_MAX_LABELS];
    char *key = s_key (family, args, values);
    bool found;
    size_t at = s_search (family, key, &found);
    if (found || !create || family->series_count >= HPT_PROM_MAX_SERIES) {
        if (!found && create) family->owner->series_dropped++;
        free (key);
        return found ? family->series[at] : NULL;
    }
    s_series_t *series = hpt_calloc (1, sizeof (s_series_t));
    series->key = key;
    series->values = hpt_calloc (family->label_count ? family->label_count : 1, sizeof (char *));
    for (size_t i = 0; i < family->label_count; i++)
        series->values[i] = hpt_strdup (values[i]);
    if (family->type == HPT_PROM_HISTOGRAM)
        series->bucket = hpt_calloc (family->bound_count + 1, sizeof (uint64_t));
    if (family->series_count == family->series_cap) {
        family->series_cap = family->series_cap ? 2 * family->series_cap : 8;
        family->series = hpt_realloc (family->series, family->series_cap * sizeof (s_series_t *));
    }
    memmove (family->series + at + 1, family->series + at,
             (family->series_count - at) * sizeof (s_series_t *));
    family->series[at] = series;
    family->series_count++;
    return series;
}

void
hpt_prom_add (hpt_prom_family_t *family, double value, ...)
{
    va_list args;
    va_start (args, value);
    pthread_mutex_lock (&family->owner->mutex);
    s_series_t *series = s_series (family, args, true);
    if (series && value > 0) series->value += value;
    pthread_mutex_unlock (&family->owner->mutex);
    va_end (args);
}

void
hpt_prom_set (hpt_prom_family_t *family, double value, ...)
{
    va_list args;
    va_start (args, value);
    pthread_mutex_lock (&family->owner->mutex);
    s_series_t *series = s_series (family, args, true);
    if (series) series->value = value;
    pthread_mutex_unlock (&family->owner->mutex);
    va_end (args);
}

void
hpt_prom_observe (hpt_prom_family_t *family, double value, ...)
{
    va_list args;
    va_start (args, value);
    pthread_mutex_lock (&family->owner->mutex);
    s_series_t *series = s_series (family, args, true);
    if (series && series->bucket) {
        size_t b = 0;
        while (b < family->bound_count && value > family->bounds[b])
            b++;
        series->bucket[b]++;
        series->count++;
        series->value += value;
    }
    pthread_mutex_unlock (&family->owner->mutex);
    va_end (args);
}

void
hpt_prom_touch (hpt_prom_family_t *family, ...)
{
    va_list args;
    va_start (args, family);
    pthread_mutex_lock (&family->owner->mutex);
    s_series (family, args, true);
    pthread_mutex_unlock (&family->owner->mutex);
    va_end (args);
}

double
hpt_prom_value (hpt_prom_family_t *family, ...)
{
    va_list args;
    va_start (args, family);
    pthread_mutex_lock (&family->owner->mutex);
    s_series_t *series = s_series (family, args, false);
    double value = !series                              ? 0
                   : family->type == HPT_PROM_HISTOGRAM ? (double)series->count
                                                        : series->value;
    pthread_mutex_unlock (&family->owner->mutex);
    va_end (args);
    return value;
}

//  ---------------------------------------------------------------------
//  Rendering

//  The shortest text that reads back as value ("0.1", not
//  "0.10000000000000001"). Whole numbers, most of what a scrape of a big
//  fleet prints (CPUs, bytes, counts), skip the search.
static void
s_shortest (char *text, size_t size, double value)
{
    if (fabs (value) < 1e15 && value == (double)(int64_t)value) {
        snprintf (text, size, "%" PRId64, (int64_t)value);
        return;
    }
    for (int precision = 1; precision <= 17; precision++) {
        snprintf (text, size, "%.*g", precision, value);
        if (strtod (text, NULL) == value) return;
    }
}

static void
s_number (FILE *out, double value)
{
    char text[32];
    if (isnan (value))
        fputs ("NaN", out);
    else if (isinf (value))
        fputs (value > 0 ? "+Inf" : "-Inf", out);
    else {
        s_shortest (text, sizeof (text), value);
        fputs (text, out);
    }
}

//  HELP text escapes backslash and newline; label values also the quote.
//  Written a run of plain characters at a time: a scrape of a big fleet
//  escapes a node name into every one of its series.
static void
s_escaped (FILE *out, const char *text, bool quote)
{
    const char *specials = quote ? "\\\n\"" : "\\\n";
    while (*text) {
        size_t plain = strcspn (text, specials);
        fwrite (text, 1, plain, out);
        text += plain;
        if (!*text) break;
        fputs (*text == '\\' ? "\\\\" : *text == '\n' ? "\\n" : "\\\"", out);
        text++;
    }
}

//  NAME{labels[,le="x"]} for one series.
static void
s_sample_name (FILE *out, hpt_prom_family_t *family, s_series_t *series, const char *suffix,
               const char *le)
{
    fputs (family->name, out);
    fputs (suffix, out);
    if (family->label_count == 0 && !le) return;
    fputc ('{', out);
    for (size_t i = 0; i < family->label_count; i++) {
        if (i) fputc (',', out);
        fputs (family->labels[i], out);
        fputs ("=\"", out);
        s_escaped (out, series->values[i], true);
        fputc ('"', out);
    }
    if (le) fprintf (out, "%sle=\"%s\"", family->label_count ? "," : "", le);
    fputc ('}', out);
}

static void
s_render_histogram (FILE *out, hpt_prom_family_t *family, s_series_t *series)
{
    uint64_t cumulative = 0;
    for (size_t b = 0; b <= family->bound_count; b++) {
        cumulative += series->bucket[b];
        char le[32];
        if (b < family->bound_count)
            s_shortest (le, sizeof (le), family->bounds[b]);
        else
            snprintf (le, sizeof (le), "+Inf");
        s_sample_name (out, family, series, "_bucket", le);
        fprintf (out, " %" PRIu64 "\n", cumulative);
    }
    s_sample_name (out, family, series, "_sum", NULL);
    fputc (' ', out);
    s_number (out, series->value);
    fputc ('\n', out);
    s_sample_name (out, family, series, "_count", NULL);
    fprintf (out, " %" PRIu64 "\n", series->count);
}

void
hpt_prom_render (hpt_prom_t *self, FILE *out)
{
    static const char *types[] = {"counter", "gauge", "histogram"};
    pthread_mutex_lock (&self->mutex);
    for (size_t f = 0; f < self->family_count; f++) {
        hpt_prom_family_t *family = self->families[f];
        fprintf (out, "# HELP %s ", family->name);
        s_escaped (out, family->help, false);
        fprintf (out, "\n# TYPE %s %s\n", family->name, types[family->type]);
        for (size_t i = 0; i < family->series_count; i++) {
            s_series_t *series = family->series[i];
            if (family->type == HPT_PROM_HISTOGRAM) {
                s_render_histogram (out, family, series);
                continue;
            }
            s_sample_name (out, family, series, "", NULL);
            fputc (' ', out);
            s_number (out, series->value);
            fputc ('\n', out);
        }
    }
    pthread_mutex_unlock (&self->mutex);
}

void
hpt_prom_stream_family (FILE *out, const char *name, const char *help, const char *type)
{
    s_require (s_name_ok (name, true), "metric name", name);
    fprintf (out, "# HELP %s ", name);
    s_escaped (out, help, false);
    fprintf (out, "\n# TYPE %s %s\n", name, type);
}

void
hpt_prom_stream_sample (FILE *out, const char *name, const char *labels, double value, ...)
{
    va_list args;
    va_start (args, value);
    fputs (name, out);
    if (labels && *labels) {
        fputc ('{', out);
        for (const char *label = labels; *label;) {
            size_t length = strcspn (label, ",");
            if (label != labels) fputc (',', out);
            fwrite (label, 1, length, out);
            fputs ("=\"", out);
            s_escaped (out, va_arg (args, const char *), true);
            fputc ('"', out);
            label += length;
            if (*label == ',') label++;
        }
        fputc ('}', out);
    }
    va_end (args);
    fputc (' ', out);
    s_number (out, value);
    fputc ('\n', out);
}

uint64_t
hpt_prom_series_dropped (hpt_prom_t *self)
{
    pthread_mutex_lock (&self->mutex);
    uint64_t dropped = self->series_dropped;
    pthread_mutex_unlock (&self->mutex);
    return dropped;
}
