/*  hpt_rng -- small deterministic random numbers for the optimizer

    The optimizer must give the same suggestions for the same seed and
    history on any machine and after any restart, so it never reads a
    global or time-based source. Every random stream is derived from a seed
    and a few integers that the history carries (its size, a purpose tag)
    through a hash, then run as xoshiro256**. The generator is a value type:
    callers keep it on the stack.
*/
#ifndef HPT_RNG_H_INCLUDED
#define HPT_RNG_H_INCLUDED

#include <stdint.h>

typedef struct {
    uint64_t s[4]; //  xoshiro256** state, never all zero
} hpt_rng_t;

//  Seeds the generator from a seed and two integers that name the stream
//  (e.g. the history size and a purpose tag). Equal inputs, equal streams.
void hpt_rng_init (hpt_rng_t *self, uint64_t seed, uint64_t a, uint64_t b);

//  Next 64 random bits.
uint64_t hpt_rng_next (hpt_rng_t *self);

//  Uniform double in [0,1) with 53 random bits.
double hpt_rng_uniform (hpt_rng_t *self);

//  Standard normal deviate (Box-Muller, one value per call).
double hpt_rng_normal (hpt_rng_t *self);

//  Uniform integer in [0, n); n must be > 0.
uint64_t hpt_rng_below (hpt_rng_t *self, uint64_t n);

//  Mixes 64 bits into a well-spread 64-bit hash (splitmix64 finalizer).
uint64_t hpt_rng_mix (uint64_t x);

#endif
