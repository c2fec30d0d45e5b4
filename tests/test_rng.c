/* test_rng.c — the RNG: reproducible for a seed, state save/restore, distribution sanity. */
#include <string.h>

#include "gs/rng.h"
#include "harness.h"

TEST(rng_same_seed_same_stream)
{
    Rng a, b;
    rng_seed(&a, 42);
    rng_seed(&b, 42);
    for (int i = 0; i < 1000; i++)
        CHECK(rng_u64(&a) == rng_u64(&b));
    rng_seed(&b, 43);
    CHECK(rng_u64(&a) != rng_u64(&b));
}

TEST(rng_state_save_restore)
{
    Rng r, saved;
    uint64_t first[16];
    rng_seed(&r, 7);
    for (int i = 0; i < 100; i++)
        rng_u64(&r);
    memcpy(&saved, &r, sizeof r);
    for (int i = 0; i < 16; i++)
        first[i] = rng_u64(&r);
    memcpy(&r, &saved, sizeof r);
    for (int i = 0; i < 16; i++)
        CHECK(rng_u64(&r) == first[i]);
}

TEST(rng_distributions)
{
    Rng r;
    double sum = 0, sumsq = 0, usum = 0;
    int n = 200000, counts[7] = {0};
    rng_seed(&r, 1);
    for (int i = 0; i < n; i++) {
        double x = rng_normal(&r);
        float u = rng_uniform(&r);
        sum += x;
        sumsq += x * x;
        usum += u;
        CHECK(u >= 0.0f && u < 1.0f);
        counts[rng_below(&r, 7)]++;
    }
    CHECK_CLOSE(sum / n, 0.0, 0.01);
    CHECK_CLOSE(sumsq / n, 1.0, 0.02);
    CHECK_CLOSE(usum / n, 0.5, 0.01);
    for (int k = 0; k < 7; k++)
        CHECK_CLOSE(counts[k] / (double)n, 1.0 / 7, 0.01);
}
