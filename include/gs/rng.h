/* rng.h — the project's only source of randomness: xoshiro256** seeded through splitmix64.
 * The whole state is the plain struct, so saving and restoring it is a copy. It knows nothing
 * of who draws from it: the streams of a run and their seeds are the pipeline's table
 * (RngStream in server/pipeline/stage.h). */
#ifndef GS_RNG_H
#define GS_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
} Rng;

void rng_seed(Rng *r, uint64_t seed);
uint64_t rng_u64(Rng *r);
/* Uniform in [0, 1) with 24 random bits. */
float rng_uniform(Rng *r);
/* Uniform in [lo, hi). */
float rng_range(Rng *r, float lo, float hi);
/* Uniform integer in [0, n), n > 0, without modulo bias. */
uint64_t rng_below(Rng *r, uint64_t n);
/* Standard normal (Box-Muller, one value per call so the state stays the four words). */
float rng_normal(Rng *r);
/* An independent stream for substream i (e.g. per thread or per image): seeds from r's
 * next output mixed with i, advancing r once. */
void rng_split(Rng *r, uint64_t i, Rng *out);

#endif
