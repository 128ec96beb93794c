/*  hpt_space -- the search space of a job: parameters to and from [0,1]

    See hpt_space.h for the mapping. Two details matter for the optimizer:

    - The scaled coordinate of a numeric parameter is s(v) with s = identity,
      log, or reverse log (s(v) = -log(max + min - v)). Reverse log is the
      mirror of log: equal steps in u near the top of the range are small
      steps in v, so values close to max are explored finely.
    - DISCRETE values snap to the nearest listed value in the scaled space,
      so that on a log scale 0.001 and 0.01 are as far apart as 0.1 and 1.
*/
#include "hpt_space.h"
#include "hpt_alloc.h"
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _hpt_space_t {
    hpt_param_spec_t *params; //  deep copies of the specs
    size_t count;             //  number of params
};

hpt_space_t *
hpt_space_new (const hpt_param_spec_t *params, size_t count)
{
    if (count == 0) return NULL;
    hpt_space_t *self = hpt_calloc (1, sizeof (hpt_space_t));
    self->params = hpt_calloc (count, sizeof (hpt_param_spec_t));
    self->count = count;
    for (size_t i = 0; i < count; i++)
        hpt_param_spec_copy (&self->params[i], &params[i]);
    return self;
}

void
hpt_space_destroy (hpt_space_t **self_p)
{
    if (!self_p || !*self_p) return;
    hpt_space_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++)
        hpt_param_spec_clear (&self->params[i]);
    free (self->params);
    free (self);
    *self_p = NULL;
}

size_t
hpt_space_size (hpt_space_t *self)
{
    return self->count;
}

const hpt_param_spec_t *
hpt_space_param (hpt_space_t *self, size_t i)
{
    return i < self->count ? &self->params[i] : NULL;
}

static double
s_clamp01 (double u)
{
    if (!(u >= 0.0)) //  also maps NaN to 0
        return 0.0;
    return u > 1.0 ? 1.0 : u;
}

//  Range of a numeric parameter: [min,max] or, for DISCRETE, [first,last].
static void
s_range (const hpt_param_spec_t *p, double *lo, double *hi)
{
    if (p->type == HPT_PARAM_DISCRETE) {
        *lo = p->discrete_values[0];
        *hi = p->discrete_values[p->discrete_count - 1];
    } else {
        *lo = p->min_value;
        *hi = p->max_value;
    }
}

//  The scaled coordinate s(v) of a numeric value.
static double
s_scaled (const hpt_param_spec_t *p, double v)
{
    double lo, hi;
    s_range (p, &lo, &hi);
    if (v < lo) v = lo;
    if (v > hi) v = hi;
    switch (p->scale) {
        case HPT_SCALE_LOG:
            return log (v);
        case HPT_SCALE_REVERSE_LOG:
            return -log (hi + lo - v);
        default:
            return v;
    }
}

static double
s_unscaled (const hpt_param_spec_t *p, double s)
{
    double lo, hi;
    s_range (p, &lo, &hi);
    switch (p->scale) {
        case HPT_SCALE_LOG:
            return exp (s);
        case HPT_SCALE_REVERSE_LOG:
            return hi + lo - exp (-s);
        default:
            return s;
    }
}

//  Nearest listed DISCRETE value to v, measured in the scaled space.
static double
s_snap_discrete (const hpt_param_spec_t *p, double v)
{
    double target = s_scaled (p, v);
    size_t best = 0;
    double best_dist = INFINITY;
    for (size_t k = 0; k < p->discrete_count; k++) {
        double dist = fabs (s_scaled (p, p->discrete_values[k]) - target);
        if (dist < best_dist) {
            best_dist = dist;
            best = k;
        }
    }
    return p->discrete_values[best];
}

double
hpt_space_snap (hpt_space_t *self, size_t i, double value)
{
    const hpt_param_spec_t *p = &self->params[i];
    if (isnan (value)) value = p->type == HPT_PARAM_DISCRETE ? p->discrete_values[0] : p->min_value;
    switch (p->type) {
        case HPT_PARAM_CATEGORICAL: {
            double k = floor (value + 0.5);
            if (k < 0) k = 0;
            if (k > (double)p->categorical_count - 1) k = (double)p->categorical_count - 1;
            return k;
        }
        case HPT_PARAM_DISCRETE:
            return s_snap_discrete (p, value);
        case HPT_PARAM_INTEGER: {
            double v = floor (value + 0.5);
            if (v < p->min_value) v = p->min_value;
            if (v > p->max_value) v = p->max_value;
            return v;
        }
        default:
            if (value < p->min_value) return p->min_value;
            if (value > p->max_value) return p->max_value;
            return value;
    }
}

double
hpt_space_to_unit (hpt_space_t *self, size_t i, double value)
{
    const hpt_param_spec_t *p = &self->params[i];
    if (p->type == HPT_PARAM_CATEGORICAL) {
        double k = hpt_space_snap (self, i, value);
        return (k + 0.5) / (double)p->categorical_count;
    }
    double lo, hi;
    s_range (p, &lo, &hi);
    if (hi <= lo) return 0.5;
    double slo = s_scaled (p, lo), shi = s_scaled (p, hi);
    return s_clamp01 ((s_scaled (p, value) - slo) / (shi - slo));
}

double
hpt_space_from_unit (hpt_space_t *self, size_t i, double u)
{
    const hpt_param_spec_t *p = &self->params[i];
    u = s_clamp01 (u);
    if (p->type == HPT_PARAM_CATEGORICAL) {
        double k = floor (u * (double)p->categorical_count);
        if (k > (double)p->categorical_count - 1) k = (double)p->categorical_count - 1;
        return k;
    }
    double lo, hi;
    s_range (p, &lo, &hi);
    double slo = s_scaled (p, lo), shi = s_scaled (p, hi);
    double v;
    if (u <= 0.0)
        v = lo; //  exact ends, free of exp/log round-off
    else if (u >= 1.0)
        v = hi;
    else
        v = s_unscaled (p, slo + u * (shi - slo));
    return hpt_space_snap (self, i, v);
}

uint64_t
hpt_space_levels (hpt_space_t *self, size_t i)
{
    const hpt_param_spec_t *p = &self->params[i];
    switch (p->type) {
        case HPT_PARAM_CATEGORICAL:
            return p->categorical_count;
        case HPT_PARAM_DISCRETE:
            return p->discrete_count;
        case HPT_PARAM_INTEGER: {
            double n = p->max_value - p->min_value + 1.0;
            if (n > 9007199254740992.0) //  2^53
                return 0;
            return (uint64_t)n;
        }
        default:
            return 0;
    }
}

char *
hpt_format_double (double d, char *buf, size_t size)
{
    //  Whole numbers read best without an exponent (7200, not 7.2e+03).
    if (d == floor (d) && fabs (d) < 1e15) {
        snprintf (buf, size, "%.0f", d);
        return buf;
    }
    //  The shortest text that reads back as d. For a normal double, when
    //  some precision below 16 round-trips, %.15g gives that same text
    //  (d is within 2^-53 of its shortest decimal, far inside half a unit
    //  of the 15th digit, and %g drops the trailing zeros), so only 15, 16
    //  and 17 need trying: the API renders thousands of metric values per
    //  Job. Subnormals carry fewer bits, so they try every precision.
    for (int precision = isnormal (d) ? 15 : 1; precision <= 17; precision++) {
        snprintf (buf, size, "%.*g", precision, d);
        if (strtod (buf, NULL) == d) return buf;
    }
    snprintf (buf, size, "%.17g", d);
    return buf;
}

char *
hpt_space_format (hpt_space_t *self, size_t i, double value)
{
    const hpt_param_spec_t *p = &self->params[i];
    char buf[64];
    switch (p->type) {
        case HPT_PARAM_CATEGORICAL:
            return hpt_strdup (p->categorical_values[(size_t)hpt_space_snap (self, i, value)]);
        case HPT_PARAM_INTEGER:
            snprintf (buf, sizeof (buf), "%" PRId64, (int64_t)hpt_space_snap (self, i, value));
            return hpt_strdup (buf);
        default: {
            double v = hpt_space_snap (self, i, value);
            //  Integral DISCRETE values read better without an exponent.
            if (v == floor (v) && fabs (v) < 1e15)
                snprintf (buf, sizeof (buf), "%" PRId64, (int64_t)v);
            else
                hpt_format_double (v, buf, sizeof (buf));
            return hpt_strdup (buf);
        }
    }
}

bool
hpt_space_parse (hpt_space_t *self, size_t i, const char *text, double *value)
{
    const hpt_param_spec_t *p = &self->params[i];
    if (!text) return false;
    if (p->type == HPT_PARAM_CATEGORICAL) {
        for (size_t k = 0; k < p->categorical_count; k++)
            if (strcmp (p->categorical_values[k], text) == 0) {
                *value = (double)k;
                return true;
            }
        return false;
    }
    char *end = NULL;
    errno = 0;
    double v = strtod (text, &end);
    if (end == text || *end || errno || !isfinite (v)) return false;
    switch (p->type) {
        case HPT_PARAM_INTEGER:
            if (v != floor (v) || v < p->min_value || v > p->max_value) return false;
            break;
        case HPT_PARAM_DISCRETE: {
            bool listed = false;
            for (size_t k = 0; k < p->discrete_count; k++)
                listed |= p->discrete_values[k] == v;
            if (!listed) return false;
            break;
        }
        default:
            if (v < p->min_value || v > p->max_value) return false;
    }
    *value = v;
    return true;
}

uint64_t
hpt_space_grid_size (hpt_space_t *self)
{
    uint64_t size = 1;
    for (size_t i = 0; i < self->count; i++) {
        uint64_t levels = hpt_space_levels (self, i);
        if (levels == 0 || size > UINT64_MAX / levels) return 0;
        size *= levels;
    }
    return size;
}

bool
hpt_space_grid_point (hpt_space_t *self, uint64_t index, double *values)
{
    uint64_t size = hpt_space_grid_size (self);
    if (size == 0 || index >= size) return false;
    //  Mixed radix with the last parameter as the fastest digit.
    for (size_t j = self->count; j-- > 0;) {
        const hpt_param_spec_t *p = &self->params[j];
        uint64_t levels = hpt_space_levels (self, j);
        uint64_t digit = index % levels;
        index /= levels;
        switch (p->type) {
            case HPT_PARAM_CATEGORICAL:
                values[j] = (double)digit;
                break;
            case HPT_PARAM_DISCRETE:
                values[j] = p->discrete_values[digit];
                break;
            default:
                values[j] = p->min_value + (double)digit;
        }
    }
    return true;
}
