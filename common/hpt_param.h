/*  hpt_param -- one tunable hyperparameter (AI Platform's ParameterSpec)

    A plain value type shared by the job model (which reads it from a config)
    and the parameter space (which maps it to the unit interval). Values of a
    parameter travel as doubles everywhere in hpt: a DOUBLE is itself, an
    INTEGER is an integral double, a DISCRETE value is one of the listed
    numbers and a CATEGORICAL value is the index of the category.
*/
#ifndef HPT_PARAM_H_INCLUDED
#define HPT_PARAM_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    HPT_PARAM_TYPE_UNSPECIFIED = 0,
    HPT_PARAM_DOUBLE,
    HPT_PARAM_INTEGER,
    HPT_PARAM_CATEGORICAL,
    HPT_PARAM_DISCRETE,
} hpt_param_type_t;

typedef enum {
    HPT_SCALE_NONE = 0,    //  "NONE" or omitted: linear for numbers
    HPT_SCALE_LINEAR,      //  UNIT_LINEAR_SCALE
    HPT_SCALE_LOG,         //  UNIT_LOG_SCALE, needs min > 0
    HPT_SCALE_REVERSE_LOG, //  UNIT_REVERSE_LOG_SCALE, needs min > 0
} hpt_scale_t;

typedef struct {
    char *name;                //  parameterName, owned
    hpt_param_type_t type;     //  DOUBLE, INTEGER, CATEGORICAL or DISCRETE
    double min_value;          //  DOUBLE and INTEGER only
    double max_value;          //  DOUBLE and INTEGER only
    double *discrete_values;   //  DISCRETE only, strictly increasing, owned
    size_t discrete_count;     //  number of discrete_values
    char **categorical_values; //  CATEGORICAL only, owned strings
    size_t categorical_count;  //  number of categorical_values
    hpt_scale_t scale;         //  scaleType
} hpt_param_spec_t;

//  Deep-copies src into dest (dest's previous contents are not freed).
void hpt_param_spec_copy (hpt_param_spec_t *dest, const hpt_param_spec_t *src);

//  Frees what the spec owns and zeroes it; the struct itself is not freed.
void hpt_param_spec_clear (hpt_param_spec_t *self);

//  Enum names as in the REST API; NULL for values out of range.
const char *hpt_param_type_name (hpt_param_type_t type);
const char *hpt_scale_name (hpt_scale_t scale);

#endif
