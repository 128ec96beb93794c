/*  hpt_halton -- a scrambled Halton sequence over the unit cube

    Coordinate j of point i is sum_k perm_jk(digit_k(i)) * b^-(k+1) with b
    the j-th prime and digit_k the k-th base-b digit of i (least
    significant first). Positions beyond the digits of i count as digit 0,
    whose permuted value is generally not 0, so every coordinate carries
    enough positions (b^-K < 2^-40) to look continuous.
*/
#include "hpt_halton.h"
#include "hpt_alloc.h"
#include "hpt_rng.h"
#include <stdbool.h>
#include <stdlib.h>

struct _hpt_halton_t {
    size_t dim;      //  number of dimensions
    uint32_t *base;  //  base of each dimension (the j-th prime)
    size_t *digits;  //  digit positions of each dimension
    uint16_t **perm; //  perm[j]: digits[j] permutations of base[j] digits, row-major
};

static void
s_first_primes (uint32_t *out, size_t count)
{
    size_t found = 0;
    for (uint32_t c = 2; found < count; c++) {
        bool prime = true;
        for (size_t k = 0; k < found && out[k] * out[k] <= c; k++)
            if (c % out[k] == 0) {
                prime = false;
                break;
            }
        if (prime) out[found++] = c;
    }
}

hpt_halton_t *
hpt_halton_new (size_t dim, uint64_t seed)
{
    if (dim == 0 || dim > 6000) return NULL; //  bases must fit the uint16 permutations
    hpt_halton_t *self = hpt_calloc (1, sizeof (hpt_halton_t));
    self->dim = dim;
    self->base = hpt_calloc (dim, sizeof (uint32_t));
    self->digits = hpt_calloc (dim, sizeof (size_t));
    self->perm = hpt_calloc (dim, sizeof (uint16_t *));
    s_first_primes (self->base, dim);
    for (size_t j = 0; j < dim; j++) {
        uint32_t b = self->base[j];
        size_t k = 0;
        for (double scale = 1.0; scale > 0x1.0p-40; scale /= b)
            k++;
        self->digits[j] = k;
        self->perm[j] = hpt_calloc (k * b, sizeof (uint16_t));
        hpt_rng_t rng;
        hpt_rng_init (&rng, seed, 0x4a17, j);
        for (size_t pos = 0; pos < k; pos++) {
            uint16_t *p = self->perm[j] + pos * b;
            for (uint32_t v = 0; v < b; v++)
                p[v] = (uint16_t)v;
            for (uint32_t v = b - 1; v > 0; v--) {
                uint32_t w = (uint32_t)hpt_rng_below (&rng, v + 1);
                uint16_t t = p[v];
                p[v] = p[w];
                p[w] = t;
            }
        }
    }
    return self;
}

void
hpt_halton_destroy (hpt_halton_t **self_p)
{
    if (!self_p || !*self_p) return;
    hpt_halton_t *self = *self_p;
    for (size_t j = 0; j < self->dim; j++)
        free (self->perm[j]);
    free (self->perm);
    free (self->digits);
    free (self->base);
    free (self);
    *self_p = NULL;
}

void
hpt_halton_point (hpt_halton_t *self, uint64_t index, double *out)
{
    for (size_t j = 0; j < self->dim; j++) {
        uint32_t b = self->base[j];
        double inv = 1.0 / b, scale = inv, u = 0.0;
        uint64_t i = index;
        for (size_t pos = 0; pos < self->digits[j]; pos++) {
            u += self->perm[j][pos * b + i % b] * scale;
            i /= b;
            scale *= inv;
        }
        out[j] = u < 1.0 ? u : 0x1.fffffffffffffp-1;
    }
}
