/*  hpt_pointset -- a set of points of a search space, compared exactly

    Linear probing in a power-of-two table of indices into a flat array of
    stored points; the table doubles when it is half full.
*/
#include "hpt_pointset.h"
#include "hpt_alloc.h"
#include "hpt_rng.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct _hpt_pointset_t {
    size_t dim;        //  values per point
    double *points;    //  stored points, count x dim
    size_t count;      //  number of stored points
    size_t capacity;   //  points the array can hold
    size_t *slots;     //  hash table of point index + 1, 0 = empty
    size_t slot_count; //  table size, a power of two
};

hpt_pointset_t *
hpt_pointset_new (size_t dim)
{
    hpt_pointset_t *self = hpt_calloc (1, sizeof (hpt_pointset_t));
    self->dim = dim;
    self->capacity = 16;
    self->points = hpt_calloc (self->capacity * (dim ? dim : 1), sizeof (double));
    self->slot_count = 64;
    self->slots = hpt_calloc (self->slot_count, sizeof (size_t));
    return self;
}

void
hpt_pointset_destroy (hpt_pointset_t **self_p)
{
    if (!self_p || !*self_p) return;
    hpt_pointset_t *self = *self_p;
    free (self->points);
    free (self->slots);
    free (self);
    *self_p = NULL;
}

static uint64_t
s_hash (hpt_pointset_t *self, const double *values)
{
    uint64_t h = 0x1234567;
    for (size_t j = 0; j < self->dim; j++) {
        double v = values[j] == 0.0 ? 0.0 : values[j]; //  -0 hashes as 0
        uint64_t bits;
        memcpy (&bits, &v, sizeof bits);
        h = hpt_rng_mix (h ^ bits);
    }
    return h;
}

static bool
s_equal (hpt_pointset_t *self, const double *a, const double *b)
{
    for (size_t j = 0; j < self->dim; j++)
        if (a[j] != b[j]) return false;
    return true;
}

//  Slot holding the point, or the empty slot where it would go.
static size_t
s_find (hpt_pointset_t *self, const double *values)
{
    size_t mask = self->slot_count - 1;
    size_t slot = (size_t)s_hash (self, values) & mask;
    while (self->slots[slot]) {
        const double *stored = self->points + (self->slots[slot] - 1) * self->dim;
        if (s_equal (self, stored, values)) return slot;
        slot = (slot + 1) & mask;
    }
    return slot;
}

static void
s_grow_table (hpt_pointset_t *self)
{
    free (self->slots);
    self->slot_count *= 2;
    self->slots = hpt_calloc (self->slot_count, sizeof (size_t));
    for (size_t i = 0; i < self->count; i++)
        self->slots[s_find (self, self->points + i * self->dim)] = i + 1;
}

bool
hpt_pointset_insert (hpt_pointset_t *self, const double *values)
{
    size_t slot = s_find (self, values);
    if (self->slots[slot]) return false;
    if (self->count == self->capacity) {
        self->capacity *= 2;
        self->points = hpt_realloc (self->points,
                                    self->capacity * (self->dim ? self->dim : 1) * sizeof (double));
    }
    memcpy (self->points + self->count * self->dim, values, self->dim * sizeof (double));
    self->count++;
    self->slots[slot] = self->count;
    if (2 * self->count > self->slot_count) s_grow_table (self);
    return true;
}

bool
hpt_pointset_contains (hpt_pointset_t *self, const double *values)
{
    return self->slots[s_find (self, values)] != 0;
}

size_t
hpt_pointset_count (hpt_pointset_t *self)
{
    return self->count;
}
