/* sampler.c — lays out each epoch's image order for SimCLR: a plain shuffle, or G-SimCLR's
 * guided batches (distinct pseudo-label clusters per batch, drawn by how many unused members
 * they have left). It must not allocate after sampler_init, and an epoch's order must depend
 * only on the RNG state at its start (resuming from a checkpoint replays it), so nothing
 * carried over from the previous epoch may influence it. */
#include "gs/sampler.h"

#include <stdlib.h>
#include <string.h>

/* Fisher-Yates over a[0..n): every permutation equally likely. */
static void shuffle_i32(int32_t *a, int n, Rng *rng)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)rng_below(rng, (uint64_t)i + 1);
        int32_t t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

/* Rebuilds members as init made it (ascending ids within each cluster). order serves as the
 * image -> cluster scratch and left as the fill cursors; both are rewritten afterwards. */
static void members_reset(Sampler *s)
{
    int32_t *cluster_of = s->order;
    for (int c = 0; c < s->k; c++)
        for (int32_t i = s->start[c]; i < s->start[c + 1]; i++)
            cluster_of[s->members[i]] = c;
    for (int c = 0; c < s->k; c++)
        s->left[c] = s->start[c];
    for (int32_t i = 0; i < s->n; i++)
        s->members[s->left[cluster_of[i]]++] = i;
}

/* Fenwick tree (1-based) over the cluster weights: point update and weighted search in
 * O(log k), so a batch of B draws costs O(B log k) instead of O(B k). */
static void fenwick_add(int32_t *tree, int k, int c, int32_t delta)
{
    for (int i = c + 1; i <= k; i += i & -i)
        tree[i] += delta;
}

/* The cluster c with prefix(c) <= u < prefix(c + 1); u must be below the total weight. */
static int fenwick_find(const int32_t *tree, int k, int top, int64_t u)
{
    int pos = 0;
    for (int step = top; step > 0; step >>= 1) {
        if (pos + step <= k && tree[pos + step] <= u) {
            pos += step;
            u -= tree[pos];
        }
    }
    return pos;
}

static void fenwick_build(int32_t *tree, int k, const int32_t *w)
{
    tree[0] = 0;
    for (int i = 1; i <= k; i++)
        tree[i] = w[i - 1];
    for (int i = 1; i <= k; i++) {
        int j = i + (i & -i);
        if (j <= k)
            tree[j] += tree[i];
    }
}

int sampler_init(Sampler *s, const int32_t *assign, int n, int k, int batch, bool guided,
                 GsErr *err)
{
    memset(s, 0, sizeof *s);
    if (batch < 1)
        return gs_errf(err, "sampler: batch size %d, must be at least 1", batch);
    if (n < batch)
        return gs_errf(err, "sampler: %d images, fewer than one batch of %d", n, batch);
    if (k < 1)
        return gs_errf(err, "sampler: %d clusters, must be at least 1", k);
    if (guided && !assign)
        return gs_errf(err, "sampler: guided mode needs the cluster assignment");
    if (guided) {
        for (int i = 0; i < n; i++)
            if (assign[i] < 0 || assign[i] >= k)
                return gs_errf(err, "sampler: image %d has cluster %d, outside [0, %d)", i,
                               (int)assign[i], k);
    }

    /* order (n); guided adds members (n), start (k+1), left (k), tree (k+1), picked (k). */
    size_t words = (size_t)n;
    if (guided)
        words += (size_t)n + 4 * (size_t)k + 2;
    int32_t *mem = malloc(words * sizeof *mem);
    if (!mem)
        return gs_errf(err, "sampler: out of memory for %d images, %d clusters", n, k);

    s->n = n;
    s->k = guided ? k : 1;
    s->batch = batch;
    s->guided = guided;
    s->n_batches = n / batch;
    s->mem = mem;
    s->order = mem;
    for (int i = 0; i < n; i++)
        s->order[i] = i;
    if (guided) {
        s->members = s->order + n;
        s->start = s->members + n;
        s->left = s->start + k + 1;
        s->tree = s->left + k;
        s->picked = s->tree + k + 1;
        /* Counting sort by cluster; ascending ids within a cluster is the canonical layout
         * that members_reset restores every epoch. */
        memset(s->start, 0, ((size_t)k + 1) * sizeof *s->start);
        for (int i = 0; i < n; i++)
            s->start[assign[i] + 1]++;
        for (int c = 0; c < k; c++)
            s->start[c + 1] += s->start[c];
        for (int c = 0; c < k; c++)
            s->left[c] = s->start[c];
        for (int i = 0; i < n; i++)
            s->members[s->left[assign[i]]++] = i;
    }
    return 0;
}

void sampler_free(Sampler *s)
{
    free(s->mem);
    memset(s, 0, sizeof *s);
}

static void epoch_guided(Sampler *s, Rng *rng)
{
    int k = s->k, B = s->batch, top = 1;
    int32_t *tree = s->tree, *left = s->left, *picked = s->picked;
    int64_t remaining = s->n;
    long pos = 0;

    while (top * 2 <= k)
        top *= 2;
    members_reset(s);
    for (int c = 0; c < k; c++) {
        left[c] = s->start[c + 1] - s->start[c];
        shuffle_i32(s->members + s->start[c], left[c], rng);
    }
    fenwick_build(tree, k, left);
    s->repeat_batches = 0;

    for (int b = 0; b < s->n_batches; b++) {
        /* unpicked = total weight of clusters not yet in this batch. */
        int64_t unpicked = remaining;
        int n_picked = 0, repeat = 0;
        for (int j = 0; j < B; j++) {
            int c;
            if (!repeat && unpicked == 0) {
                /* Every cluster with members left is already in this batch: give the picked
                 * ones back their weights and let clusters repeat for the rest of it. */
                repeat = 1;
                s->repeat_batches++;
                for (int p = 0; p < n_picked; p++)
                    fenwick_add(tree, k, picked[p], left[picked[p]]);
            }
            if (!repeat) {
                c = fenwick_find(tree, k, top, (int64_t)rng_below(rng, (uint64_t)unpicked));
                fenwick_add(tree, k, c, -left[c]);
                unpicked -= left[c];
                picked[n_picked++] = c;
            } else {
                c = fenwick_find(tree, k, top, (int64_t)rng_below(rng, (uint64_t)remaining));
                fenwick_add(tree, k, c, -1);
            }
            int32_t size = s->start[c + 1] - s->start[c];
            s->order[pos++] = s->members[s->start[c] + size - left[c]];
            left[c]--;
            remaining--;
        }
        if (!repeat)
            for (int p = 0; p < n_picked; p++)
                fenwick_add(tree, k, picked[p], left[picked[p]]);
    }
    /* The n % batch images that do not fill a batch go last, so order stays a permutation. */
    for (int c = 0; c < k; c++) {
        int32_t size = s->start[c + 1] - s->start[c];
        for (int32_t i = size - left[c]; i < size; i++)
            s->order[pos++] = s->members[s->start[c] + i];
        left[c] = 0;
    }
}

void sampler_epoch(Sampler *s, Rng *rng)
{
    if (!s->guided) {
        for (int i = 0; i < s->n; i++)
            s->order[i] = i;
        shuffle_i32(s->order, s->n, rng);
        s->repeat_batches = 0;
        return;
    }
    epoch_guided(s, rng);
}
