/* test_sampler.c — the epoch order: a permutation in both modes, guided batches keep clusters
 * distinct while they can and count exactly the batches that cannot, draws follow the
 * unused-member weights, determinism from the RNG state alone, speed, bad inputs. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gs/sampler.h"
#include "harness.h"

static int is_permutation(const int32_t *order, int n)
{
    char *seen = calloc((size_t)n, 1);
    int ok = seen != NULL;
    for (int i = 0; ok && i < n; i++) {
        if (order[i] < 0 || order[i] >= n || seen[order[i]])
            ok = 0;
        else
            seen[order[i]] = 1;
    }
    free(seen);
    return ok;
}

/* Batches (among the full ones) in which some cluster appears twice, recounted from scratch. */
static int count_dup_batches(const Sampler *s, const int32_t *assign, int k)
{
    int dups = 0;
    int *seen = calloc((size_t)k, sizeof *seen);
    if (!seen)
        return -1;
    for (int b = 0; b < s->n_batches; b++) {
        const int32_t *ids = sampler_batch(s, b);
        int dup = 0;
        for (int j = 0; j < s->batch; j++) {
            int c = assign[ids[j]];
            if (seen[c] == b + 1)
                dup = 1;
            seen[c] = b + 1;
        }
        dups += dup;
    }
    free(seen);
    return dups;
}

/* Cluster sizes given; images assigned in a shuffled order so ids and clusters are unrelated. */
static int32_t *make_assign(const int *sizes, int k, int n, uint64_t seed)
{
    int32_t *a = malloc((size_t)n * sizeof *a);
    if (!a)
        return NULL;
    int i = 0;
    for (int c = 0; c < k; c++)
        for (int m = 0; m < sizes[c]; m++)
            a[i++] = c;
    Rng r;
    rng_seed(&r, seed);
    for (int j = n - 1; j > 0; j--) {
        int t = (int)rng_below(&r, (uint64_t)j + 1);
        int32_t x = a[j];
        a[j] = a[t];
        a[t] = x;
    }
    return a;
}

TEST(sampler_permutation_both_modes)
{
    int n = 1000, k = 10, B = 64;
    int sizes[10] = {300, 200, 150, 100, 80, 60, 50, 30, 20, 10};
    int32_t *assign = make_assign(sizes, k, n, 1);
    Sampler s;
    GsErr err;
    Rng rng;
    rng_seed(&rng, 5);
    CHECK(assign != NULL);
    for (int guided = 0; guided <= 1; guided++) {
        CHECK(sampler_init(&s, assign, n, k, B, guided, &err) == 0);
        CHECK_INT_EQ(s.n_batches, 15);
        for (int e = 0; e < 5; e++) {
            sampler_epoch(&s, &rng);
            CHECK_MSG(is_permutation(s.order, n), "guided %d epoch %d not a permutation",
                      guided, e);
        }
        sampler_free(&s);
    }
    free(assign);
}

/* Random shapes: permutation, exact repeat count, and a batch repeats only once it has taken
 * every cluster that had members left when it began. */
TEST(sampler_random_shapes_invariants)
{
    Rng r;
    rng_seed(&r, 99);
    for (int trial = 0; trial < 60; trial++) {
        int k = 1 + (int)rng_below(&r, 40);
        int B = 1 + (int)rng_below(&r, 50);
        int sizes[40], n = 0;
        for (int c = 0; c < k; c++) {
            /* Some empty clusters, some large ones. */
            sizes[c] = rng_below(&r, 5) == 0 ? 0 : (int)rng_below(&r, 60);
            n += sizes[c];
        }
        if (n < B) {
            sizes[0] += B;
            n += B;
        }
        int32_t *assign = make_assign(sizes, k, n, (uint64_t)trial);
        int left[40];
        Sampler s;
        GsErr err;
        CHECK(sampler_init(&s, assign, n, k, B, true, &err) == 0);
        sampler_epoch(&s, &r);
        CHECK(is_permutation(s.order, n));
        CHECK_INT_EQ(s.repeat_batches, count_dup_batches(&s, assign, k));
        memcpy(left, sizes, sizeof left);
        for (int b = 0; b < s.n_batches; b++) {
            const int32_t *ids = sampler_batch(&s, b);
            int available = 0, distinct = 0, in_batch[40] = {0};
            for (int c = 0; c < k; c++)
                available += left[c] > 0;
            for (int j = 0; j < B; j++) {
                int c = assign[ids[j]];
                distinct += in_batch[c]++ == 0;
                left[c]--;
            }
            if (distinct < B)
                CHECK_MSG(distinct == available,
                          "trial %d batch %d: repeated with %d of %d clusters available",
                          trial, b, distinct, available);
        }
        sampler_free(&s);
        free(assign);
    }
}

TEST(sampler_balanced_no_repeats)
{
    /* k == batch: every batch must take every cluster, and equal sizes keep that possible to
     * the end. k == 2 batch with 6000 images: the 48 images past the last full batch give the
     * end of the epoch room. (With k > batch and n a multiple of batch, the last batch usually
     * repeats once: the final 64 images are rarely in 64 distinct clusters.) */
    int shapes[2][3] = {{64, 64, 64 * 40}, {128, 64, 6000}}; /* {k, batch, n} */
    for (int t = 0; t < 2; t++) {
        int k = shapes[t][0], B = shapes[t][1], n = shapes[t][2];
        int sizes[128];
        for (int c = 0; c < k; c++)
            sizes[c] = n / k + (c < n % k);
        int32_t *assign = make_assign(sizes, k, n, 3);
        Sampler s;
        GsErr err;
        Rng rng;
        rng_seed(&rng, 11 + (uint64_t)t);
        CHECK(sampler_init(&s, assign, n, k, B, true, &err) == 0);
        for (int e = 0; e < 3; e++) {
            sampler_epoch(&s, &rng);
            CHECK_INT_EQ(s.repeat_batches, 0);
            CHECK_INT_EQ(count_dup_batches(&s, assign, k), 0);
        }
        sampler_free(&s);
        free(assign);
    }
}

TEST(sampler_heavy_imbalance_counts_repeats)
{
    int k = 10, B = 8, n = 2000;
    int sizes[10] = {1800, 30, 25, 25, 25, 25, 20, 20, 15, 15};
    int32_t *assign = make_assign(sizes, k, n, 4);
    Sampler s;
    GsErr err;
    Rng rng;
    rng_seed(&rng, 12);
    CHECK(sampler_init(&s, assign, n, k, B, true, &err) == 0);
    for (int e = 0; e < 3; e++) {
        sampler_epoch(&s, &rng);
        int dups = count_dup_batches(&s, assign, k);
        CHECK_INT_EQ(s.repeat_batches, dups);
        /* 200 small-cluster images cannot fill 250 batches: at least 50 batches are all
         * cluster 0 past their first slot. */
        CHECK_MSG(s.repeat_batches >= 50, "only %d repeated batches", s.repeat_batches);
    }
    sampler_free(&s);
    free(assign);
}

TEST(sampler_k_equals_batch_uneven_mostly_repeats)
{
    int k = 16, B = 16, sizes[16], n = 0;
    for (int c = 0; c < k; c++) {
        sizes[c] = 40 + 12 * c;
        n += sizes[c];
    }
    int32_t *assign = make_assign(sizes, k, n, 5);
    Sampler s;
    GsErr err;
    Rng rng;
    rng_seed(&rng, 13);
    CHECK(sampler_init(&s, assign, n, k, B, true, &err) == 0);
    sampler_epoch(&s, &rng);
    CHECK_INT_EQ(s.repeat_batches, count_dup_batches(&s, assign, k));
    /* Only the first 40 batches can hold all 16 clusters; the rest must repeat. */
    CHECK_MSG(s.repeat_batches >= s.n_batches - 40 && s.repeat_batches > s.n_batches / 2,
              "%d of %d batches repeated", s.repeat_batches, s.n_batches);
    sampler_free(&s);
    free(assign);
}

TEST(sampler_deterministic_from_rng_state)
{
    int k = 20, B = 32, sizes[20], n = 0;
    for (int c = 0; c < k; c++) {
        sizes[c] = 10 + 7 * c;
        n += sizes[c];
    }
    int32_t *assign = make_assign(sizes, k, n, 6);
    int32_t *first = malloc((size_t)n * sizeof *first);
    int32_t *second = malloc((size_t)n * sizeof *second);
    CHECK(assign && first && second);
    for (int guided = 0; guided <= 1; guided++) {
        Sampler a, b;
        GsErr err;
        Rng ra, rb, saved;
        CHECK(sampler_init(&a, assign, n, k, B, guided, &err) == 0);
        CHECK(sampler_init(&b, assign, n, k, B, guided, &err) == 0);
        rng_seed(&ra, 77);
        sampler_epoch(&a, &ra);
        memcpy(first, a.order, (size_t)n * sizeof *first);
        saved = ra;
        sampler_epoch(&a, &ra);
        memcpy(second, a.order, (size_t)n * sizeof *second);
        CHECK_MSG(memcmp(first, second, (size_t)n * sizeof *first) != 0,
                  "guided %d: two epochs gave the same order", guided);

        /* A fresh sampler given the RNG state saved before epoch 2 replays epoch 2: the
         * order must not depend on what earlier epochs did (checkpoint resume). */
        rb = saved;
        sampler_epoch(&b, &rb);
        CHECK_MSG(memcmp(b.order, second, (size_t)n * sizeof *second) == 0,
                  "guided %d: epoch not reproduced from its RNG state", guided);
        CHECK_INT_EQ(b.repeat_batches, a.repeat_batches);
        CHECK(memcmp(&ra, &rb, sizeof ra) == 0);

        rng_seed(&rb, 78);
        sampler_epoch(&b, &rb);
        CHECK(memcmp(b.order, first, (size_t)n * sizeof *first) != 0);
        sampler_free(&a);
        sampler_free(&b);
    }
    free(first);
    free(second);
    free(assign);
}

TEST(sampler_plain_uniform)
{
    int n = 10, epochs = 20000, counts[10] = {0}, last[10] = {0};
    Sampler s;
    GsErr err;
    Rng rng;
    rng_seed(&rng, 21);
    CHECK(sampler_init(&s, NULL, n, 1, 3, false, &err) == 0);
    CHECK_INT_EQ(s.n_batches, 3);
    for (int e = 0; e < epochs; e++) {
        sampler_epoch(&s, &rng);
        CHECK(is_permutation(s.order, n));
        counts[s.order[0]]++;
        last[s.order[n - 1]]++;
        CHECK_INT_EQ(s.repeat_batches, 0);
    }
    /* Expected 2000 each; sd about 42, so +-200 is far beyond chance. */
    for (int i = 0; i < n; i++) {
        CHECK_MSG(abs(counts[i] - epochs / n) < 200, "image %d first %d times", i, counts[i]);
        CHECK_MSG(abs(last[i] - epochs / n) < 200, "image %d last %d times", i, last[i]);
    }
    sampler_free(&s);
}

TEST(sampler_weighted_first_draw)
{
    /* Sizes 50 : 100 : 50, so the first slot of an epoch is cluster 1 half the time. */
    int k = 3, B = 2, sizes[3] = {50, 100, 50}, n = 200, epochs = 6000, counts[3] = {0};
    int second_given_1[3] = {0};
    int32_t *assign = make_assign(sizes, k, n, 7);
    Sampler s;
    GsErr err;
    Rng rng;
    rng_seed(&rng, 31);
    CHECK(sampler_init(&s, assign, n, k, B, true, &err) == 0);
    for (int e = 0; e < epochs; e++) {
        sampler_epoch(&s, &rng);
        int c0 = assign[s.order[0]], c1 = assign[s.order[1]];
        counts[c0]++;
        if (c0 == 1)
            second_given_1[c1]++;
    }
    double ratio = (double)counts[1] / counts[0];
    CHECK_MSG(ratio > 1.8 && ratio < 2.2, "cluster sizes 2:1 drawn %d:%d", counts[1], counts[0]);
    CHECK_MSG(abs(counts[0] - counts[2]) < 250, "equal clusters drawn %d vs %d", counts[0],
              counts[2]);
    /* Without replacement: after cluster 1, the second slot is never cluster 1 and splits
     * evenly between the two others. */
    CHECK_INT_EQ(second_given_1[1], 0);
    CHECK_MSG(abs(second_given_1[0] - second_given_1[2]) < 250, "second slot %d vs %d",
              second_given_1[0], second_given_1[2]);
    sampler_free(&s);
    free(assign);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

TEST(sampler_speed_60k)
{
    int n = 60000, shapes[3][2] = {{1024, 1024}, {64, 256}, {256, 256}};
    int32_t *assign = malloc((size_t)n * sizeof *assign);
    Rng rng;
    rng_seed(&rng, 41);
    CHECK(assign != NULL);
    for (int t = 0; t < 3; t++) {
        int k = shapes[t][0], B = shapes[t][1];
        /* Uneven sizes: cluster c's share grows with c. */
        for (int i = 0; i < n; i++) {
            uint64_t u = rng_below(&rng, (uint64_t)k * k);
            int c = 0;
            while ((uint64_t)(c + 1) * (c + 1) <= u)
                c++;
            assign[i] = c;
        }
        Sampler s;
        GsErr err;
        CHECK(sampler_init(&s, assign, n, k, B, true, &err) == 0);
        double best = 1e9;
        for (int e = 0; e < 3; e++) {
            double t0 = now_ms();
            sampler_epoch(&s, &rng);
            double dt = now_ms() - t0;
            best = dt < best ? dt : best;
        }
        CHECK(is_permutation(s.order, n));
        CHECK_MSG(best < 50.0, "k %d batch %d: %.1f ms per epoch", k, B, best);
        sampler_free(&s);
    }
    free(assign);
}

TEST(sampler_bad_inputs)
{
    int32_t assign[8] = {0, 1, 2, 0, 1, 2, 0, 1};
    Sampler s;
    GsErr err;
    CHECK(sampler_init(&s, assign, 8, 3, 0, true, &err) == -1);
    CHECK(strstr(err.msg, "batch") != NULL);
    CHECK(sampler_init(&s, assign, 8, 3, 9, true, &err) == -1);
    CHECK(strstr(err.msg, "fewer than one batch") != NULL);
    CHECK(sampler_init(&s, assign, 0, 3, 1, true, &err) == -1);
    CHECK(sampler_init(&s, assign, 8, 0, 2, true, &err) == -1);
    CHECK(strstr(err.msg, "clusters") != NULL);
    CHECK(sampler_init(&s, NULL, 8, 3, 2, true, &err) == -1);
    CHECK(strstr(err.msg, "assignment") != NULL);
    assign[5] = 3;
    CHECK(sampler_init(&s, assign, 8, 3, 2, true, &err) == -1);
    CHECK_MSG(strstr(err.msg, "image 5") != NULL, "message: %s", err.msg);
    assign[5] = -1;
    CHECK(sampler_init(&s, assign, 8, 3, 2, true, &err) == -1);
    CHECK_MSG(strstr(err.msg, "image 5 has cluster -1") != NULL, "message: %s", err.msg);
    /* A failed init leaves nothing to free, and freeing it is harmless. */
    CHECK(s.mem == NULL);
    sampler_free(&s);
    /* Plain mode ignores the assignment. */
    CHECK(sampler_init(&s, assign, 8, 3, 2, false, &err) == 0);
    sampler_free(&s);
}
