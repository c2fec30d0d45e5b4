/* test_checkpoint.c — the checkpoint format: round trips (empty and multi-MB sections), every
 * corrupted byte and every truncation rejected, precise messages for bad magic, version,
 * checksum and overrunning sections, writer name rules, and the atomic file helpers. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "gs/checkpoint.h"
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
