/*  hpt_param -- one tunable hyperparameter (value type helpers)
 */
#include "hpt_param.h"
#include <stdlib.h>
#include <string.h>

void
hpt_param_spec_copy (hpt_param_spec_t *dest, const hpt_param_spec_t *src)
{
    *dest = *src;
    dest->name = src->name ? strdup (src->name) : NULL;
    dest->discrete_values = NULL;
    dest->categorical_values = NULL;
    if (src->discrete_count) {
        dest->discrete_values = malloc (src->discrete_count * sizeof (double));
        memcpy (dest->discrete_values, src->discrete_values, src->discrete_count * sizeof (double));
    }
    if (src->categorical_count) {
        dest->categorical_values = calloc (src->categorical_count, sizeof (char *));
        for (size_t i = 0; i < src->categorical_count; i++)
            dest->categorical_values[i] = strdup (src->categorical_values[i]);
    }
}

void
hpt_param_spec_clear (hpt_param_spec_t *self)
{
    free (self->name);
    free (self->discrete_values);
    for (size_t i = 0; i < self->categorical_count; i++)
        free (self->categorical_values[i]);
    free (self->categorical_values);
    memset (self, 0, sizeof (*self));
}

const char *
hpt_param_type_name (hpt_param_type_t type)
{
    switch (type) {
        case HPT_PARAM_TYPE_UNSPECIFIED:
            return "PARAMETER_TYPE_UNSPECIFIED";
        case HPT_PARAM_DOUBLE:
            return "DOUBLE";
        case HPT_PARAM_INTEGER:
            return "INTEGER";
        case HPT_PARAM_CATEGORICAL:
            return "CATEGORICAL";
        case HPT_PARAM_DISCRETE:
            return "DISCRETE";
    }
    return NULL;
}

const char *
hpt_scale_name (hpt_scale_t scale)
{
    switch (scale) {
        case HPT_SCALE_NONE:
            return "NONE";
        case HPT_SCALE_LINEAR:
            return "UNIT_LINEAR_SCALE";
        case HPT_SCALE_LOG:
            return "UNIT_LOG_SCALE";
        case HPT_SCALE_REVERSE_LOG:
            return "UNIT_REVERSE_LOG_SCALE";
    }
    return NULL;
}
