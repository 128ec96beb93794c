/*  hpt_param -- one tunable hyperparameter (AI Platform's ParameterSpec)

    A plain value type shared by the job model (which reads it from a config)
    and the parameter space (which maps it to the unit interval). Values of a
    parameter travel as doubles everywhere in hpt: a DOUBLE is itself, an
    INTEGER is an integral double, a DISCRETE value is one of the listed
    numbers and a CATEGORICAL value is the index of the category.
*/
#ifndef HPT_PARAM_H_INCLUDED
#define HPT_PARAM_H_INCLUDED

#include "hpt_enum.h"
#include <stdbool.h>
#include <stddef.h>

//  ParameterSpec.type. UNSPECIFIED is AI Platform's zero value; a config
//  may not name it.
#define HPT_PARAM_TYPE_LIST(X)                                                                     \
    X (HPT_PARAM_TYPE_UNSPECIFIED, "PARAMETER_TYPE_UNSPECIFIED")                                   \
    X (HPT_PARAM_DOUBLE, "DOUBLE")                                                                 \
    X (HPT_PARAM_INTEGER, "INTEGER")                                                               \
    X (HPT_PARAM_CATEGORICAL, "CATEGORICAL")                                                       \
    X (HPT_PARAM_DISCRETE, "DISCRETE")
HPT_ENUM_DECLARE (hpt_param_type, HPT_PARAM_TYPE_LIST)

//  ParameterSpec.scaleType. NONE (or omitted) is linear for numbers; the
//  log scales need min > 0.
#define HPT_SCALE_LIST(X)                                                                          \
    X (HPT_SCALE_NONE, "NONE")                                                                     \
    X (HPT_SCALE_LINEAR, "UNIT_LINEAR_SCALE")                                                      \
    X (HPT_SCALE_LOG, "UNIT_LOG_SCALE")                                                            \
    X (HPT_SCALE_REVERSE_LOG, "UNIT_REVERSE_LOG_SCALE")
HPT_ENUM_DECLARE (hpt_scale, HPT_SCALE_LIST)

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

#endif
