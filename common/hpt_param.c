/*  hpt_param -- one tunable hyperparameter (value type helpers)
 */
#include "hpt_param.h"
#include "hpt_alloc.h"
#include <stdlib.h>
#include <string.h>

HPT_ENUM_DEFINE (hpt_param_type, HPT_PARAM_TYPE_LIST)
HPT_ENUM_DEFINE (hpt_scale, HPT_SCALE_LIST)

void
hpt_param_spec_copy (hpt_param_spec_t *dest, const hpt_param_spec_t *src)
{
    *dest = *src;
    dest->name = src->name ? hpt_strdup (src->name) : NULL;
    dest->discrete_values = NULL;
    dest->categorical_values = NULL;
    if (src->discrete_count) {
        dest->discrete_values = hpt_malloc (src->discrete_count * sizeof (double));
        memcpy (dest->discrete_values, src->discrete_values, src->discrete_count * sizeof (double));
    }
    if (src->categorical_count) {
        dest->categorical_values = hpt_calloc (src->categorical_count, sizeof (char *));
        for (size_t i = 0; i < src->categorical_count; i++)
            dest->categorical_values[i] = hpt_strdup (src->categorical_values[i]);
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
