/*  hpt_rng -- small deterministic random numbers for the optimizer

    xoshiro256** (Blackman and Vigna) seeded through splitmix64. Both are
    fully specified integer algorithms, so streams are identical across
    compilers and machines; only the double conversions use libm.
*/
#include "hpt_rng.h"
#include <math.h>

uint64_t
hpt_rng_mix (uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

void
hpt_rng_init (hpt_rng_t *self, uint64_t seed, uint64_t a, uint64_t b)
{
    uint64_t h = hpt_rng_mix (seed);
    h = hpt_rng_mix (h ^ a);
    h = hpt_rng_mix (h ^ (b * 0xd1342543de82ef95ULL));
    for (int i = 0; i < 4; i++) {
        h = hpt_rng_mix (h);
        self->s[i] = h;
    }
    if (!(self->s[0] | self->s[1] | self->s[2] | self->s[3])) self->s[0] = 1;
}

static uint64_t
s_rotl (uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t
hpt_rng_next (hpt_rng_t *self)
{
    uint64_t *s = self->s;
    uint64_t result = s_rotl (s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = s_rotl (s[3], 45);
    return result;
}

double
hpt_rng_uniform (hpt_rng_t *self)
{
    return (double)(hpt_rng_next (self) >> 11) * 0x1.0p-53;
}

double
hpt_rng_normal (hpt_rng_t *self)
{
    //  1 - u is in (0,1], so the log is finite.
    double u1 = 1.0 - hpt_rng_uniform (self);
    double u2 = hpt_rng_uniform (self);
    return sqrt (-2.0 * log (u1)) * cos (2.0 * M_PI * u2);
}

uint64_t
hpt_rng_below (hpt_rng_t *self, uint64_t n)
{
    //  Rejection keeps the result unbiased for any n.
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do
        x = hpt_rng_next (self);
    while (x >= limit);
    return x % n;
}
