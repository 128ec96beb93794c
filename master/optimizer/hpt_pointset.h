/*  hpt_pointset -- a set of points of a search space, compared exactly

    The optimizer must never suggest a point that is already pending,
    finished or failed (unless the space is used up). Points are tuples of
    doubles in the space's value convention; two points are equal when all
    their values are equal (-0 equals 0). Open addressing on a hash of the
    bit patterns keeps a membership test O(dim).
*/
#ifndef HPT_POINTSET_H_INCLUDED
#define HPT_POINTSET_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

typedef struct _hpt_pointset_t hpt_pointset_t;

//  Creates an empty set of points with dim values each.
hpt_pointset_t *hpt_pointset_new (size_t dim);

//  Destroys the set and nulls the pointer.
void hpt_pointset_destroy (hpt_pointset_t **self_p);

//  Adds a copy of values (dim doubles, borrowed). Returns false when the
//  point was already in the set.
bool hpt_pointset_insert (hpt_pointset_t *self, const double *values);

//  Whether the point is in the set.
bool hpt_pointset_contains (hpt_pointset_t *self, const double *values);

//  Number of distinct points in the set.
size_t hpt_pointset_count (hpt_pointset_t *self);

#endif
