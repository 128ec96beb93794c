/*  hpt_space -- the search space of a job: parameters to and from [0,1]

    The optimizer works in the unit cube; trainers see real values. This
    class is the only place that knows how one maps onto the other:

      DOUBLE       u = (s(v) - s(min)) / (s(max) - s(min)) with s the scale:
                   identity (NONE, UNIT_LINEAR_SCALE), log (UNIT_LOG_SCALE),
                   or reverse log (UNIT_REVERSE_LOG_SCALE:
                   s(v) = -log(max + min - v), which spreads values near max)
      INTEGER      as DOUBLE, then rounded to the nearest integer in range
      DISCRETE     as DOUBLE over [first, last], then snapped to the listed
                   value nearest in the scaled space
      CATEGORICAL  index k of n maps to (k + 0.5) / n; u maps back to
                   floor(u * n)

    It also formats values for the trainer's command line and enumerates
    the grid of a space without DOUBLE parameters in a stable order (the
    first parameter varies slowest, values in ascending order).
*/
#ifndef HPT_SPACE_H_INCLUDED
#define HPT_SPACE_H_INCLUDED

#include "hpt_param.h"
#include <stdint.h>

typedef struct _hpt_space_t hpt_space_t;

//  Creates a space from count parameter specs; the specs are deep-copied, so
//  the caller keeps ownership of params. The specs must be valid (the job
//  validator guarantees it). Returns NULL when count is 0.
hpt_space_t *hpt_space_new (const hpt_param_spec_t *params, size_t count);

//  Destroys the space and nulls the pointer.
void hpt_space_destroy (hpt_space_t **self_p);

//  Number of parameters.
size_t hpt_space_size (hpt_space_t *self);

//  The spec of parameter i (borrowed, lives as long as the space).
const hpt_param_spec_t *hpt_space_param (hpt_space_t *self, size_t i);

//  Maps a value of parameter i into [0,1]. Values outside the range clamp.
double hpt_space_to_unit (hpt_space_t *self, size_t i, double value);

//  Maps u in [0,1] (clamped) to a legal value of parameter i: snapped for
//  INTEGER and DISCRETE, an index for CATEGORICAL.
double hpt_space_from_unit (hpt_space_t *self, size_t i, double u);

//  Snaps any value to the nearest legal value of parameter i.
double hpt_space_snap (hpt_space_t *self, size_t i, double value);

//  Number of distinct values of parameter i, or 0 for DOUBLE (continuous).
//  INTEGER ranges wider than 2^53 count as continuous too.
uint64_t hpt_space_levels (hpt_space_t *self, size_t i);

//  The value of parameter i as the trainer gets it after "--NAME=":
//  integers without a decimal point, doubles with the shortest text that
//  reads back to the same double, categoricals verbatim. Fresh string, the
//  caller frees it.
char *hpt_space_format (hpt_space_t *self, size_t i, double value);

//  Parses the text form of a value of parameter i (as hpt_space_format
//  writes it, or as a user writes it) into *value. Returns false when the
//  text is not a legal value of the parameter.
bool hpt_space_parse (hpt_space_t *self, size_t i, const char *text, double *value);

//  Number of points of the grid (product of levels), or 0 when the space has
//  a DOUBLE parameter or the product overflows uint64.
uint64_t hpt_space_grid_size (hpt_space_t *self);

//  Writes grid point number index (0 <= index < grid size) into values (one
//  per parameter). The first parameter varies slowest. Returns false when
//  index is out of range.
bool hpt_space_grid_point (hpt_space_t *self, uint64_t index, double *values);

//  Shortest decimal text that reads back to exactly d ("%.17g" at worst).
//  Writes into buf (at least 32 bytes) and returns buf.
char *hpt_format_double (double d, char *buf, size_t size);

#endif
