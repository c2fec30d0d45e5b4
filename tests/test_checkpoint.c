/* test_checkpoint.c — the checkpoint format: round trips (empty and multi-MB sections), every
 * corrupted byte and every truncation rejected, precise messages for bad magic, version,
 * checksum and overrunning sections, writer name rules, and the atomic file helpers; and the
 * resume side: every field a run's checkpoint gives is checked before use, so a checkpoint with
 * a valid checksum but an out-of-range value (k = 1e20, a negative epoch, a NaN count, a size
 * that overflows) fails the run with a message naming the field, never undefined behaviour. */
#include <float.h>
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "gs/checkpoint.h"
#include "gs/config.h"
#include "gs/pipeline.h"
#include "gs/rng.h"
#include "harness.h"

/* A small checkpoint with three sections, one of them empty. */
static int build_small(CkptWriter *w)
{
    float weights[6] = {1.5f, -2.0f, 0.25f, 3.0f, -0.5f, 8.0f};
    uint64_t step = 1234;
    GsErr err;
    ckpt_writer_init(w);
    if (ckpt_add(w, "weights", weights, sizeof weights, &err) != 0 ||
        ckpt_add(w, "empty", NULL, 0, &err) != 0 ||
        ckpt_add(w, "step", &step, sizeof step, &err) != 0 || ckpt_finish(w, &err) != 0)
        return -1;
    return 0;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Rewrites the trailing CRC after a test edits the body, so only the edit is wrong. */
static void reseal(uint8_t *buf, size_t len)
{
    put_le32(buf + len - 4, (uint32_t)crc32(0L, buf, (uInt)(len - 4)));
}

TEST(ckpt_round_trip)
{
    size_t big_n = 6u << 20;
    uint8_t *big = malloc(big_n);
    float w[1000], w2[1000];
    Rng rng, rng2;
    CkptWriter cw;
    CkptReader r;
    GsErr err;
    CHECK(big != NULL);
    if (!big)
        return;
    rng_seed(&rng, 9);
    for (size_t i = 0; i < big_n; i++)
        big[i] = (uint8_t)(i * 2654435761u >> 13);
    for (int i = 0; i < 1000; i++)
        w[i] = rng_normal(&rng);

    ckpt_writer_init(&cw);
    CHECK(ckpt_add(&cw, "model.w", w, sizeof w, &err) == 0);
    CHECK(ckpt_add(&cw, "empty", NULL, 0, &err) == 0);
    CHECK(ckpt_add(&cw, "opt.m", big, big_n, &err) == 0);
    CHECK(ckpt_add(&cw, "rng", &rng, sizeof rng, &err) == 0);
    CHECK_MSG(ckpt_finish(&cw, &err) == 0, "%s", err.msg);
    CHECK_INT_EQ(cw.len, 12 + 4 * 40 + sizeof w + big_n + sizeof rng + 4);

    CHECK_MSG(ckpt_open(&r, cw.data, cw.len, &err) == 0, "%s", err.msg);
    CHECK_INT_EQ(r.n_sections, 4);
    CHECK_INT_EQ(r.version, CKPT_VERSION);
    CHECK(ckpt_get(&r, "model.w", w2, sizeof w2, &err) == 0);
    CHECK(memcmp(w, w2, sizeof w) == 0);
    CHECK(ckpt_get(&r, "rng", &rng2, sizeof rng2, &err) == 0);
    CHECK(memcmp(&rng, &rng2, sizeof rng) == 0);
    CHECK(ckpt_get(&r, "empty", NULL, 0, &err) == 0);
    size_t n = 99;
    const void *p = ckpt_find(&r, "empty", &n, &err);
    CHECK(p != NULL);
    CHECK_INT_EQ(n, 0);
    p = ckpt_find(&r, "opt.m", &n, &err);
    CHECK(p != NULL && n == big_n && memcmp(p, big, big_n) == 0);
    CHECK(ckpt_find(&r, "opt.v", &n, &err) == NULL);
    CHECK_MSG(strcmp(err.msg, "checkpoint: no section 'opt.v'") == 0, "%s", err.msg);
    /* A name that is a prefix of a stored one is a different section. */
    CHECK(ckpt_find(&r, "model", &n, &err) == NULL);
    ckpt_writer_free(&cw);
    free(big);

    /* No sections at all is still a valid checkpoint. */
    ckpt_writer_init(&cw);
    CHECK(ckpt_finish(&cw, &err) == 0);
    CHECK_INT_EQ(cw.len, 16);
    CHECK(ckpt_open(&r, cw.data, cw.len, &err) == 0);
    CHECK_INT_EQ(r.n_sections, 0);
    ckpt_writer_free(&cw);
}

TEST(ckpt_every_byte_corruption_detected)
{
    CkptWriter w;
    CkptReader r;
    GsErr err;
    CHECK(build_small(&w) == 0);
    uint8_t *buf = malloc(w.len);
    CHECK(buf != NULL);
    if (!buf)
        return;
    int missed = 0;
    for (size_t i = 0; i < w.len; i++) {
        /* Each single-bit flip and the all-bits flip of byte i. */
        static const uint8_t masks[9] = {1, 2, 4, 8, 16, 32, 64, 128, 255};
        for (int m = 0; m < 9; m++) {
            memcpy(buf, w.data, w.len);
            buf[i] ^= masks[m];
            if (ckpt_open(&r, buf, w.len, &err) == 0) {
                missed++;
                CHECK_MSG(0, "byte %zu ^ 0x%02x accepted", i, masks[m]);
            }
        }
    }
    CHECK_INT_EQ(missed, 0);
    /* And the untouched copy still opens, so the loop above tested corruption only. */
    memcpy(buf, w.data, w.len);
    CHECK(ckpt_open(&r, buf, w.len, &err) == 0);
    free(buf);
    ckpt_writer_free(&w);
}

TEST(ckpt_every_truncation_rejected)
{
    CkptWriter w;
    CkptReader r;
    GsErr err;
    CHECK(build_small(&w) == 0);
    for (size_t len = 0; len < w.len; len++) {
        int rc = ckpt_open(&r, w.data, len, &err);
        CHECK_MSG(rc == -1, "truncation to %zu of %zu bytes accepted", len, w.len);
        if (rc == -1 && len >= 4)
            CHECK_MSG(strstr(err.msg, "truncated") != NULL, "len %zu: %s", len, err.msg);
    }
    /* Extra bytes at the end are not a valid checkpoint either. */
    uint8_t *longer = calloc(w.len + 8, 1);
    CHECK(longer != NULL);
    if (longer) {
        memcpy(longer, w.data, w.len);
        CHECK(ckpt_open(&r, longer, w.len + 8, &err) == -1);
        free(longer);
    }
    CHECK(ckpt_open(&r, NULL, 0, &err) == -1);
    ckpt_writer_free(&w);
}

TEST(ckpt_messages)
{
    CkptWriter w;
    CkptReader r;
    GsErr err;
    CHECK(build_small(&w) == 0);
    uint8_t *buf = malloc(w.len);
    CHECK(buf != NULL);
    if (!buf)
        return;

    memcpy(buf, w.data, w.len);
    buf[0] = 'X';
    CHECK(ckpt_open(&r, buf, w.len, &err) == -1);
    CHECK_MSG(strcmp(err.msg, "checkpoint: bad magic") == 0, "%s", err.msg);

    memcpy(buf, w.data, w.len);
    put_le32(buf + 4, 7);
    reseal(buf, w.len);
    CHECK(ckpt_open(&r, buf, w.len, &err) == -1);
    CHECK_MSG(strcmp(err.msg, "checkpoint: version 7, this build reads 1") == 0, "%s",
              err.msg);

    memcpy(buf, w.data, w.len);
    buf[12 + 40] ^= 0x10; /* first byte of the first section's data */
    CHECK(ckpt_open(&r, buf, w.len, &err) == -1);
    char want[128];
    uint32_t stored = 0, computed = (uint32_t)crc32(0L, buf, (uInt)(w.len - 4));
    for (int i = 0; i < 4; i++)
        stored |= (uint32_t)buf[w.len - 4 + i] << (8 * i);
    snprintf(want, sizeof want, "checkpoint: checksum mismatch (stored 0x%08x, computed 0x%08x)",
             stored, computed);
    CHECK_MSG(strcmp(err.msg, want) == 0, "%s", err.msg);
    free(buf);
    ckpt_writer_free(&w);

    /* A valid-CRC file whose section claims more than is there: the walk must catch it. */
    uint8_t data[100] = {0};
    ckpt_writer_init(&w);
    CHECK(ckpt_add(&w, "opt.m", data, sizeof data, &err) == 0);
    CHECK(ckpt_finish(&w, &err) == 0);
    w.data[12 + 32] = 0x00; /* length 4096 = 0x1000, little-endian */
    w.data[12 + 33] = 0x10;
    reseal(w.data, w.len);
    CHECK(ckpt_open(&r, w.data, w.len, &err) == -1);
    CHECK_MSG(strcmp(err.msg, "checkpoint: truncated: section 'opt.m' claims 4096 bytes, "
                              "100 remain") == 0, "%s", err.msg);
    /* A length near 2^64 must not wrap around into "fits". */
    memset(w.data + 12 + 32, 0xff, 8);
    reseal(w.data, w.len);
    CHECK(ckpt_open(&r, w.data, w.len, &err) == -1);
    CHECK_MSG(strstr(err.msg, "claims 18446744073709551615 bytes") != NULL, "%s", err.msg);
    /* A section count larger than the table. */
    memset(w.data + 12 + 32, 0, 8);
    w.data[12 + 32] = 100;
    put_le32(w.data + 8, 2);
    reseal(w.data, w.len);
    CHECK(ckpt_open(&r, w.data, w.len, &err) == -1);
    CHECK_MSG(strstr(err.msg, "section 2 of 2") != NULL, "%s", err.msg);
    /* A name with no terminating NUL. */
    put_le32(w.data + 8, 1);
    memset(w.data + 12, 'a', 32);
    reseal(w.data, w.len);
    CHECK(ckpt_open(&r, w.data, w.len, &err) == -1);
    CHECK_MSG(strstr(err.msg, "unterminated name") != NULL, "%s", err.msg);
    ckpt_writer_free(&w);
}

TEST(ckpt_writer_names)
{
    CkptWriter w;
    GsErr err;
    int x = 1;
    char name31[32], name32[33];
    memset(name31, 'n', 31);
    name31[31] = '\0';
    memset(name32, 'n', 32);
    name32[32] = '\0';

    ckpt_writer_init(&w);
    CHECK(ckpt_add(&w, "a", &x, sizeof x, &err) == 0);
    CHECK(ckpt_add(&w, name31, &x, sizeof x, &err) == 0);
    CHECK(ckpt_add(&w, "ab", &x, sizeof x, &err) == 0);
    CHECK(ckpt_finish(&w, &err) == 0);
    CkptReader r;
    CHECK(ckpt_open(&r, w.data, w.len, &err) == 0);
    CHECK(ckpt_find(&r, name31, NULL, &err) != NULL);
    ckpt_writer_free(&w);

    ckpt_writer_init(&w);
    CHECK(ckpt_add(&w, "a", &x, sizeof x, &err) == 0);
    CHECK(ckpt_add(&w, "a", &x, sizeof x, &err) == -1);
    CHECK_MSG(strcmp(err.msg, "checkpoint: duplicate section 'a'") == 0, "%s", err.msg);
    /* Sticky: the next add and the finish refuse too. */
    CHECK(ckpt_add(&w, "b", &x, sizeof x, &err) == -1);
    CHECK(ckpt_finish(&w, &err) == -1);
    CHECK_MSG(strstr(err.msg, "not finished") != NULL, "%s", err.msg);
    ckpt_writer_free(&w);

    ckpt_writer_init(&w);
    CHECK(ckpt_add(&w, name32, &x, sizeof x, &err) == -1);
    CHECK_MSG(strstr(err.msg, "limit is 31") != NULL, "%s", err.msg);
    CHECK(ckpt_finish(&w, &err) == -1);
    ckpt_writer_free(&w);

    ckpt_writer_init(&w);
    CHECK(ckpt_add(&w, "", &x, sizeof x, &err) == -1);
    ckpt_writer_free(&w);

    /* A size no buffer can hold fails cleanly (the allocation-failure path) and sticks. */
    ckpt_writer_init(&w);
    CHECK(ckpt_add(&w, "huge", &x, SIZE_MAX - 8, &err) == -1);
    CHECK_MSG(strstr(err.msg, "out of memory") != NULL, "%s", err.msg);
    CHECK(ckpt_finish(&w, &err) == -1);
    ckpt_writer_free(&w);

    /* Many small sections: doubling keeps the buffer growth cheap and the walk correct. */
    ckpt_writer_init(&w);
    char name[16];
    for (int i = 0; i < 500; i++) {
        snprintf(name, sizeof name, "s%d", i);
        CHECK(ckpt_add(&w, name, &i, sizeof i, &err) == 0);
    }
    CHECK(ckpt_finish(&w, &err) == 0);
    CHECK(w.cap < 2 * w.len + 256);
    CHECK(ckpt_open(&r, w.data, w.len, &err) == 0);
    int v = -1;
    CHECK(ckpt_get(&r, "s377", &v, sizeof v, &err) == 0);
    CHECK_INT_EQ(v, 377);
    ckpt_writer_free(&w);
}

TEST(ckpt_get_size_mismatch)
{
    CkptWriter w;
    CkptReader r;
    GsErr err;
    float f[4] = {1, 2, 3, 4}, g[3];
    ckpt_writer_init(&w);
    CHECK(ckpt_add(&w, "w", f, sizeof f, &err) == 0);
    CHECK(ckpt_finish(&w, &err) == 0);
    CHECK(ckpt_open(&r, w.data, w.len, &err) == 0);
    CHECK(ckpt_get(&r, "w", g, sizeof g, &err) == -1);
    CHECK_MSG(strcmp(err.msg, "checkpoint: section 'w' holds 16 bytes, expected 12") == 0, "%s",
              err.msg);
    CHECK(ckpt_get(&r, "x", g, sizeof g, &err) == -1);
    CHECK(strstr(err.msg, "no section 'x'") != NULL);
    ckpt_writer_free(&w);
}

TEST(ckpt_file_round_trip)
{
    char dir[] = "/tmp/gs_ckpt_XXXXXX", path[64], tmp[80], missing[80];
    GsErr err;
    CkptWriter a, b;
    CkptReader r;
    uint8_t *data = NULL;
    size_t len = 0;
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/run.ckpt", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    snprintf(missing, sizeof missing, "%s/absent.ckpt", dir);

    CHECK(build_small(&a) == 0);
    CHECK_MSG(ckpt_write_file(path, a.data, a.len, &err) == 0, "%s", err.msg);
    CHECK_MSG(ckpt_read_file(path, &data, &len, &err) == 0, "%s", err.msg);
    CHECK(len == a.len && memcmp(data, a.data, len) == 0);
    CHECK(ckpt_open(&r, data, len, &err) == 0);
    free(data);

    /* Replacing an existing file leaves exactly the new one and no temp file. */
    uint64_t step = 99;
    ckpt_writer_init(&b);
    CHECK(ckpt_add(&b, "step", &step, sizeof step, &err) == 0);
    CHECK(ckpt_finish(&b, &err) == 0);
    CHECK(ckpt_write_file(path, b.data, b.len, &err) == 0);
    CHECK(ckpt_read_file(path, &data, &len, &err) == 0);
    CHECK(len == b.len && memcmp(data, b.data, len) == 0);
    free(data);
    CHECK(access(tmp, F_OK) != 0);

    CHECK(ckpt_read_file(missing, &data, &len, &err) == -1);
    CHECK(data == NULL && len == 0);
    CHECK_MSG(strstr(err.msg, missing) != NULL, "%s", err.msg);
    CHECK(ckpt_read_file(dir, &data, &len, &err) == -1);
    CHECK_MSG(strstr(err.msg, "not a regular file") != NULL, "%s", err.msg);

    /* A directory that does not exist: the error names where it tried to write. */
    snprintf(missing, sizeof missing, "%s/no/such.ckpt", dir);
    CHECK(ckpt_write_file(missing, a.data, a.len, &err) == -1);
    CHECK_MSG(strstr(err.msg, missing) != NULL, "%s", err.msg);

    ckpt_writer_free(&a);
    ckpt_writer_free(&b);
    unlink(path);
    CHECK(rmdir(dir) == 0);
}

/* ---- resuming from a checkpoint whose fields are out of range ---------------------------- */

/* A run small enough to checkpoint every stage in well under a second: 24 random 8x8 images
 * of 3 classes, a one-block autoencoder, k = 3, SimCLR batches of 8 (3 steps an epoch). */
enum { R_N = 24, R_SIDE = 8, R_EPOCHS = 2, R_BATCH = 8, R_STEPS = R_N / R_BATCH };

static void resume_config(RunConfig *cfg)
{
    run_config_defaults(cfg);
    cfg->threads = 1;
    cfg->dae.net.filters[0] = 2;
    cfg->dae.net.n_filters = 1;
    cfg->dae.epochs = R_EPOCHS;
    cfg->dae.batch = R_BATCH;
    cfg->kmeans.k = 3;
    cfg->kmeans.n_init = 1;
    cfg->simclr.encoder = encoder_cnn3();
    cfg->simclr.encoder.width = 2;
    cfg->simclr.encoder.n_widths = 0;
    cfg->simclr.encoder.head[0] = 4;
    cfg->simclr.encoder.head[1] = 4;
    cfg->simclr.encoder.n_head = 2;
    cfg->simclr.epochs = R_EPOCHS;
    cfg->simclr.batch = R_BATCH;
    cfg->simclr.checkpoint_every = 1;
}

static int resume_data(Dataset *ds)
{
    Rng rng;
    memset(ds, 0, sizeof *ds);
    ds->n = R_N;
    ds->c = 1;
    ds->h = ds->w = R_SIDE;
    ds->pixels = malloc((size_t)R_N * R_SIDE * R_SIDE);
    ds->labels = malloc(sizeof(int32_t) * R_N);
    ds->n_classes = 3;
    if (!ds->pixels || !ds->labels) {
        dataset_free(ds);
        return -1;
    }
    rng_seed(&rng, 5);
    for (size_t i = 0; i < (size_t)R_N * R_SIDE * R_SIDE; i++)
        ds->pixels[i] = (uint8_t)rng_below(&rng, 256);
    for (int i = 0; i < R_N; i++)
        ds->labels[i] = i % 3;
    return 0;
}

/* The checkpoints a run stores: after dae epoch 1, after kmeans, inside simclr epoch 2 (at
 * its first step; the position the daemon's shutdown writes) and after simclr epoch 1. */
enum { CK_DAE, CK_KMEANS, CK_SIMCLR_INSIDE, CK_SIMCLR, CK_COUNT };
typedef struct {
    uint8_t *blob[CK_COUNT];
    size_t len[CK_COUNT];
    atomic_int cancel;
} Captured;

static int capture_checkpoint(void *ctx, int stage, int epoch, long step, const void *data,
                              size_t len)
{
    (void)step;
    Captured *c = ctx;
    int which = -1;
    CkptReader r;
    if (stage == STAGE_DAE && epoch == 1)
        which = CK_DAE;
    else if (stage == STAGE_KMEANS)
        which = CK_KMEANS;
    else if (stage == STAGE_SIMCLR && ckpt_open(&r, data, len, NULL) == 0 &&
             ckpt_find(&r, "simclr.position", NULL, NULL))
        which = CK_SIMCLR_INSIDE;
    else if (stage == STAGE_SIMCLR && epoch == 1)
        which = CK_SIMCLR;
    if (which < 0 || c->blob[which])
        return 0;
    c->blob[which] = malloc(len);
    if (!c->blob[which])
        return -1;
    memcpy(c->blob[which], data, len);
    c->len[which] = len;
    return 0;
}

/* Stops the run at the first step of simclr epoch 2, so it writes a position inside it. */
static void capture_progress(void *ctx, const StageProgress *p)
{
    Captured *c = ctx;
    if (p->stage == STAGE_SIMCLR && p->step == R_STEPS + 1)
        c->cancel = 1;
}

static int capture_all(Captured *c, const Dataset *train)
{
    RunConfig cfg;
    RunResult res;
    GsErr err;
    memset(c, 0, sizeof *c);
    resume_config(&cfg);
    Sink sink = {.checkpoint = capture_checkpoint, .progress = capture_progress, .ctx = c,
                 .cancel = &c->cancel};
    pipeline_run(&cfg, train, NULL, &sink, NULL, 0, &res, &err);
    run_result_free(&res);
    for (int i = 0; i < CK_COUNT; i++)
        if (!c->blob[i]) {
            CHECK_MSG(0, "checkpoint %d not captured (%s)", i, err.msg);
            return -1;
        }
    return 0;
}

static void captured_free(Captured *c)
{
    for (int i = 0; i < CK_COUNT; i++)
        free(c->blob[i]);
}

/* A copy of checkpoint blob with section name's bytes replaced by data (bytes long), or the
 * section left out when data is NULL; every other section as it was, the checksum recomputed,
 * so only the edit is wrong. The walk follows the format of checkpoint.h. */
static uint8_t *edit_section(const uint8_t *blob, size_t len, const char *name,
                             const void *data, size_t bytes, size_t *out_len)
{
    CkptWriter w;
    uint32_t n = 0;
    size_t pos = 12;
    for (int i = 0; i < 4; i++)
        n |= (uint32_t)blob[8 + i] << (8 * i);
    ckpt_writer_init(&w);
    for (uint32_t i = 0; i < n; i++) {
        const char *sec = (const char *)blob + pos;
        uint64_t sbytes = 0;
        for (int b = 0; b < 8; b++)
            sbytes |= (uint64_t)blob[pos + 32 + b] << (8 * b);
        const uint8_t *sdata = blob + pos + 40;
        if (strcmp(sec, name) != 0)
            ckpt_add(&w, sec, sdata, (size_t)sbytes, NULL);
        else if (data)
            ckpt_add(&w, sec, data, bytes, NULL);
        pos += 40 + (size_t)sbytes;
    }
    if (ckpt_finish(&w, NULL) != 0 || pos + 4 != len) {
        ckpt_writer_free(&w);
        return NULL;
    }
    *out_len = w.len;
    return w.data;
}

/* A section's bytes in the captured blob (a copy the caller edits and frees). */
static void *section_copy(const uint8_t *blob, size_t len, const char *name, size_t *bytes)
{
    CkptReader r;
    GsErr err;
    const void *p = NULL;
    if (ckpt_open(&r, blob, len, &err) == 0)
        p = ckpt_find(&r, name, bytes, &err);
    CHECK_MSG(p != NULL, "%s", err.msg);
    void *copy = p ? malloc(*bytes ? *bytes : 1) : NULL;
    if (copy)
        memcpy(copy, p, *bytes);
    return copy;
}

/* Resumes from blob with the cancel flag already raised, so a checkpoint that restores stops
 * at the first step with "canceled", and one that does not fails with its own message. */
static int resume_from(const RunConfig *cfg, const Dataset *train, const uint8_t *blob,
                       size_t len, GsErr *err)
{
    RunResult res;
    atomic_int cancel = 1;
    Sink sink = {.cancel = &cancel};
    int rc = pipeline_run(cfg, train, NULL, &sink, blob, len, &res, err);
    run_result_free(&res);
    return rc;
}

static void expect_refused(const RunConfig *cfg, const Dataset *train, const Captured *c,
                           int which, const char *section, const void *data, size_t bytes,
                           const char *want)
{
    size_t len = 0;
    GsErr err;
    uint8_t *b = edit_section(c->blob[which], c->len[which], section, data, bytes, &len);
    CHECK_MSG(b != NULL, "editing %s", section);
    if (!b)
        return;
    int rc = resume_from(cfg, train, b, len, &err);
    CHECK_MSG(rc != 0 && strstr(err.msg, want) != NULL,
              "checkpoint %d with %s edited: want an error with \"%s\", got rc %d \"%s\"", which,
              section, want, rc, rc ? err.msg : "");
    free(b);
}

/* Sets summary field i (the order of stage.c's list) of checkpoint which and expects want. */
static void expect_summary_refused(const RunConfig *cfg, const Dataset *train,
                                   const Captured *c, int which, int field, double v,
                                   const char *want)
{
    size_t bytes = 0;
    double *sum = section_copy(c->blob[which], c->len[which], "summary", &bytes);
    if (!sum)
        return;
    CHECK(bytes > sizeof(double) * (size_t)field);
    if (bytes > sizeof(double) * (size_t)field) {
        sum[field] = v;
        expect_refused(cfg, train, c, which, "summary", sum, bytes, want);
    }
    free(sum);
}

TEST(ckpt_resume_accepts_what_a_run_wrote)
{
    Dataset train;
    Captured c;
    RunConfig cfg;
    GsErr err;
    if (resume_data(&train))
        return;
    resume_config(&cfg);
    if (capture_all(&c, &train) == 0)
        for (int i = 0; i < CK_COUNT; i++) {
            int rc = resume_from(&cfg, &train, c.blob[i], c.len[i], &err);
            CHECK_MSG(rc != 0 && strcmp(err.msg, "canceled") == 0,
                      "checkpoint %d did not restore: %s", i, err.msg);
        }
    captured_free(&c);
    dataset_free(&train);
}

/* Summary order in stage.c: dae_loss, inertia, purity, nmi, k, repeat_batches, simclr_loss,
 * then the seconds of each stage. */
enum { S_DAE_LOSS, S_INERTIA, S_PURITY, S_NMI, S_K, S_REPEATS, S_SIMCLR_LOSS, S_SEC_DAE };

TEST(ckpt_resume_refuses_summary_out_of_range)
{
    Dataset train;
    Captured c;
    RunConfig cfg;
    if (resume_data(&train))
        return;
    resume_config(&cfg);
    if (capture_all(&c, &train) == 0) {
        /* the case: converting 1e20 to int was undefined behaviour */
        expect_summary_refused(&cfg, &train, &c, CK_KMEANS, S_K, 1e20, "summary k is 1e+20");
        expect_summary_refused(&cfg, &train, &c, CK_KMEANS, S_K, NAN, "summary k is nan");
        expect_summary_refused(&cfg, &train, &c, CK_KMEANS, S_K, -3, "summary k is -3");
        expect_summary_refused(&cfg, &train, &c, CK_KMEANS, S_K, 2.5, "summary k is 2.5");
        /* a k that fits an int but would make sizeof(int32_t) * k overflow or exceed n */
        expect_summary_refused(&cfg, &train, &c, CK_KMEANS, S_K, 2147483647.0,
                               "k = 2147483647 clusters for 24 training images");
        expect_summary_refused(&cfg, &train, &c, CK_SIMCLR, S_K, 2, "cluster sizes for k = 2");
        expect_summary_refused(&cfg, &train, &c, CK_DAE, S_DAE_LOSS, -1, "summary dae_loss");
        expect_summary_refused(&cfg, &train, &c, CK_DAE, S_INERTIA, INFINITY,
                               "summary inertia is inf");
        expect_summary_refused(&cfg, &train, &c, CK_KMEANS, S_PURITY, 1.5, "summary purity");
        expect_summary_refused(&cfg, &train, &c, CK_KMEANS, S_NMI, -0.5, "summary nmi");
        expect_summary_refused(&cfg, &train, &c, CK_SIMCLR, S_REPEATS, NAN,
                               "summary repeat_batches is nan");
        expect_summary_refused(&cfg, &train, &c, CK_SIMCLR, S_SIMCLR_LOSS, -INFINITY,
                               "summary simclr_loss");
        expect_summary_refused(&cfg, &train, &c, CK_SIMCLR, S_SEC_DAE, -5,
                               "summary dae_seconds is -5");
        double short_sum[3] = {0};
        expect_refused(&cfg, &train, &c, CK_DAE, "summary", short_sum, sizeof short_sum,
                       "summary holds 24 bytes");
    }
    captured_free(&c);
    dataset_free(&train);
}

TEST(ckpt_resume_refuses_stage_and_position_out_of_range)
{
    Dataset train;
    Captured c;
    RunConfig cfg, plain;
    if (resume_data(&train))
        return;
    resume_config(&cfg);
    plain = cfg;
    plain.method = METHOD_SIMCLR;
    if (capture_all(&c, &train) == 0) {
        static const struct {
            int which, stage, epoch;
            const char *want;
        } where[] = {
            {CK_DAE, STAGE_DAE, -1, "dae epoch -1 is outside 1..2"},
            {CK_DAE, STAGE_DAE, 0, "dae epoch 0 is outside 1..2"},
            {CK_DAE, STAGE_DAE, 3, "dae epoch 3 is outside 1..2"},
            {CK_DAE, STAGE_DAE, INT32_MIN, "is outside"},
            {CK_KMEANS, STAGE_KMEANS, 2, "kmeans epoch 2 is outside 1..1"},
            {CK_SIMCLR, STAGE_SIMCLR, 3, "simclr epoch 3 is outside 0..2"},
            {CK_SIMCLR, STAGE_SIMCLR, INT32_MAX, "is outside"},
            {CK_SIMCLR, STAGE_EVAL, 1, "stage 3 is not a stage that writes checkpoints"},
            {CK_SIMCLR, -1, 1, "stage -1 is not"},
            {CK_SIMCLR, 1000, 1, "stage 1000 is not"},
            /* epoch 0 of simclr exists only with a position inside it */
            {CK_SIMCLR, STAGE_SIMCLR, 0, "simclr epoch 0 without a position"},
            /* a position inside an epoch past the last */
            {CK_SIMCLR_INSIDE, STAGE_SIMCLR, 2, "simclr.position inside epoch 3 of a run of 2"},
        };
        for (size_t i = 0; i < sizeof where / sizeof where[0]; i++) {
            int32_t v[2] = {where[i].stage, where[i].epoch};
            expect_refused(&cfg, &train, &c, where[i].which, "stage", v, sizeof v,
                           where[i].want);
        }
        /* a dae or kmeans checkpoint for a method that runs neither */
        GsErr err;
        CHECK(resume_from(&plain, &train, c.blob[CK_DAE], c.len[CK_DAE], &err) != 0 &&
              strstr(err.msg, "stage dae, which method simclr does not run"));
        CHECK(resume_from(&plain, &train, c.blob[CK_KMEANS], c.len[CK_KMEANS], &err) != 0 &&
              strstr(err.msg, "stage kmeans, which method simclr does not run"));

        /* the step inside the epoch (1 .. 2 of 3 steps) and the loss sum so far */
        static const struct {
            double step, sum;
            const char *want;
        } pos[] = {
            {1e20, 1, "simclr.position is step 1e+20 of an epoch of 3 steps"},
            {-1, 1, "step -1 of"},
            {0, 1, "step 0 of"},
            {3, 1, "step 3 of"},
            {1.5, 1, "step 1.5 of"},
            {NAN, 1, "step nan of"},
            {-INFINITY, 1, "step -inf of"},
            {1, NAN, "loss sum is nan"},
            {1, INFINITY, "loss sum is inf"},
        };
        for (size_t i = 0; i < sizeof pos / sizeof pos[0]; i++) {
            double v[2] = {pos[i].step, pos[i].sum};
            expect_refused(&cfg, &train, &c, CK_SIMCLR_INSIDE, "simclr.position", v, sizeof v,
                           pos[i].want);
        }
        double one = 1;
        expect_refused(&cfg, &train, &c, CK_SIMCLR_INSIDE, "simclr.position", &one, sizeof one,
                       "simclr.position has 8 bytes");
        int32_t stage_short = STAGE_DAE;
        expect_refused(&cfg, &train, &c, CK_DAE, "stage", &stage_short, sizeof stage_short,
                       "section 'stage' holds 4 bytes, expected 8");
    }
    captured_free(&c);
    dataset_free(&train);
}

TEST(ckpt_resume_refuses_training_state_out_of_range)
{
    Dataset train;
    Captured c;
    RunConfig cfg;
    if (resume_data(&train))
        return;
    resume_config(&cfg);
    if (capture_all(&c, &train) == 0) {
        static const int64_t steps[] = {-1, INT64_MIN, 7, INT64_MAX};
        /* dae: 3 steps an epoch, 2 epochs: at most 6 optimiser steps */
        for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
            expect_refused(&cfg, &train, &c, CK_DAE, "opt.step", &steps[i], sizeof steps[i],
                           "opt.step is");
        int64_t over = 7;
        expect_refused(&cfg, &train, &c, CK_SIMCLR, "opt.step", &over, sizeof over,
                       "opt.step is 7, outside 0..6");
        uint64_t zero[4] = {0};
        expect_refused(&cfg, &train, &c, CK_SIMCLR, "rng", zero, sizeof zero,
                       "rng state is all zero");
        expect_refused(&cfg, &train, &c, CK_DAE, "rng", zero, 8,
                       "section 'rng' holds 8 bytes, expected 32");

        /* floats: a NaN or infinite weight, buffer or moment; a negative variance or
         * second moment */
        static const struct {
            int which;
            const char *section;
            size_t index; /* from the end when from_end */
            int from_end;
            float v;
            const char *want;
        } fl[] = {
            {CK_DAE, "net.params", 0, 0, NAN, "net.params[0] is nan"},
            {CK_SIMCLR, "net.params", 1, 1, INFINITY, "is inf (must be finite)"},
            {CK_SIMCLR, "net.buffers", 0, 0, -INFINITY, "net.buffers[0] is -inf"},
            /* the first batch-norm's running variance follows its C running means */
            {CK_DAE, "net.buffers", 1, 1, -1.0f, "running variance"},
            {CK_DAE, "opt.state", 0, 0, NAN, "opt.state[0] is nan"},
            /* Adam (the autoencoder's optimiser): m then v; the last float is a v */
            {CK_DAE, "opt.state", 1, 1, -1.0f, "second moment"},
        };
        for (size_t i = 0; i < sizeof fl / sizeof fl[0]; i++) {
            size_t bytes = 0;
            float *f = section_copy(c.blob[fl[i].which], c.len[fl[i].which], fl[i].section,
                                    &bytes);
            size_t n = bytes / sizeof(float);
            if (!f || n == 0) {
                CHECK_MSG(0, "no %s", fl[i].section);
                free(f);
                continue;
            }
            f[fl[i].from_end ? n - fl[i].index : fl[i].index] = fl[i].v;
            expect_refused(&cfg, &train, &c, fl[i].which, fl[i].section, f, bytes, fl[i].want);
            free(f);
        }
        float few[3] = {0};
        expect_refused(&cfg, &train, &c, CK_DAE, "net.params", few, sizeof few,
                       "section 'net.params' holds 12 bytes");
        expect_refused(&cfg, &train, &c, CK_SIMCLR, "opt.step", NULL, 0, "no section 'opt.step'");
    }
    captured_free(&c);
    dataset_free(&train);
}

TEST(ckpt_resume_refuses_pseudo_labels_out_of_range)
{
    Dataset train;
    Captured c;
    RunConfig cfg;
    if (resume_data(&train))
        return;
    resume_config(&cfg);
    if (capture_all(&c, &train) == 0) {
        size_t abytes = 0, sbytes = 0;
        int32_t *assign = section_copy(c.blob[CK_KMEANS], c.len[CK_KMEANS], "assign", &abytes);
        int32_t *sizes = section_copy(c.blob[CK_KMEANS], c.len[CK_KMEANS], "sizes", &sbytes);
        if (assign && sizes && abytes == sizeof(int32_t) * R_N && sbytes == sizeof(int32_t) * 3) {
            int32_t keep = assign[5];
            assign[5] = 3;
            expect_refused(&cfg, &train, &c, CK_KMEANS, "assign", assign, abytes,
                           "image 5 has pseudo-label 3 outside [0, 3)");
            assign[5] = INT32_MIN;
            expect_refused(&cfg, &train, &c, CK_SIMCLR, "assign", assign, abytes,
                           "image 5 has pseudo-label -2147483648");
            assign[5] = keep;
            /* labels in range, but not the counts the sizes claim */
            assign[5] = (keep + 1) % 3;
            expect_refused(&cfg, &train, &c, CK_KMEANS, "assign", assign, abytes,
                           "images carry its label");
            assign[5] = keep;
            expect_refused(&cfg, &train, &c, CK_KMEANS, "assign", assign, abytes - 4,
                           "92 bytes of pseudo-labels for 24 training images");
            sizes[0] = -sizes[0];
            expect_refused(&cfg, &train, &c, CK_KMEANS, "sizes", sizes, sbytes,
                           "cluster 0 has size -");
            expect_refused(&cfg, &train, &c, CK_KMEANS, "sizes", sizes, sbytes - 4,
                           "8 bytes of cluster sizes for k = 3");
            expect_refused(&cfg, &train, &c, CK_KMEANS, "sizes", NULL, 0, "no section 'sizes'");
        } else {
            CHECK_MSG(0, "the kmeans checkpoint lacks its pseudo-labels");
        }
        free(assign);
        free(sizes);
    }
    captured_free(&c);
    dataset_free(&train);
}
