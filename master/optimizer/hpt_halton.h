/*  hpt_halton -- a scrambled Halton sequence over the unit cube

    Quasi-random points fill the cube more evenly than independent uniform
    ones, which is what random search and the initial design of Bayesian
    optimization want. Dimension j uses the j-th prime as base; each digit
    position of each dimension gets its own random permutation of the
    digits (drawn from the seed), which breaks the correlations of plain
    Halton between high dimensions. Point i depends only on (seed, i), so
    a restarted optimizer continues the same sequence.
*/
#ifndef HPT_HALTON_H_INCLUDED
#define HPT_HALTON_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

typedef struct _hpt_halton_t hpt_halton_t;

//  Creates the sequence for dim dimensions (dim >= 1), scrambled by seed.
hpt_halton_t *hpt_halton_new (size_t dim, uint64_t seed);

//  Destroys the sequence and nulls the pointer.
void hpt_halton_destroy (hpt_halton_t **self_p);

//  Writes point number index into out (dim values in [0,1)); out is the
//  caller's.
void hpt_halton_point (hpt_halton_t *self, uint64_t index, double *out);

#endif
