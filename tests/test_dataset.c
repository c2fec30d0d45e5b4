/* test_dataset.c — the dataset readers, dataset_info and subsets: all of Fashion-MNIST as
 * installed by dataset-fashion-mnist; small IDX and CIFAR files written in a temporary
 * directory, valid and malformed (plain and gzip), each bad one refused with a message naming
 * the file; and dataset_info's header-only facts about the same files. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "gs/dataset.h"
#include "harness.h"

#define FMNIST_DIR "/usr/share/datasets/fashion-mnist/"

/* ---- temporary files ---- */

static int make_tmpdir(char *dir, size_t len)
{
    snprintf(dir, len, "/tmp/gs_test_data_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static void remove_tmpdir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char path[512];
        while ((e = readdir(d))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

static int write_file(const char *path, const void *data, size_t len, int gz)
{
    if (gz) {
        gzFile f = gzopen(path, "wb");
        if (!f)
            return -1;
        int ok = len == 0 || gzwrite(f, data, (unsigned)len) == (int)len;
        return gzclose(f) == Z_OK && ok ? 0 : -1;
    }
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int ok = fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok ? 0 : -1;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* An IDX file in memory: magic, the dims, then n_data bytes of i % 251 (any count, so it can
 * be made short or long on purpose). Returns its length; buf must be large enough. */
static size_t make_idx(uint8_t *buf, uint32_t magic, const uint32_t *dims, int ndim,
                       size_t n_data)
{
    put_be32(buf, magic);
    for (int d = 0; d < ndim; d++)
        put_be32(buf + 4 + 4 * d, dims[d]);
    size_t head = 4 + 4 * (size_t)ndim;
    for (size_t i = 0; i < n_data; i++)
        buf[head + i] = (uint8_t)(i % 251);
    return head + n_data;
}

static int is_empty(const Dataset *ds)
{
    return ds->n == 0 && ds->c == 0 && ds->h == 0 && ds->w == 0 && !ds->pixels &&
           !ds->labels && ds->n_classes == 0;
}

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ---- Fashion-MNIST, all of it ---- */

static void check_fashion(const char *images, const char *labels, int n, int per_class)
{
    Dataset ds;
    GsErr err = {{0}};
    double t0 = now_seconds();
    int rc = idx_load(&ds, images, labels, &err);
    double t1 = now_seconds();
    CHECK_MSG(rc == 0, "idx_load: %s", err.msg);
    if (rc != 0)
        return;
    printf("    %s: %d images loaded in %.3f s\n", images, ds.n, t1 - t0);
    CHECK_INT_EQ(ds.n, n);
    CHECK_INT_EQ(ds.c, 1);
    CHECK_INT_EQ(ds.h, 28);
    CHECK_INT_EQ(ds.w, 28);
    CHECK_INT_EQ(ds.n_classes, 10);
    CHECK(ds.labels != NULL);
    int hist[10] = {0}, bad = 0;
    for (int i = 0; i < ds.n; i++) {
        if (ds.labels[i] < 0 || ds.labels[i] > 9)
            bad++;
        else
            hist[ds.labels[i]]++;
    }
    CHECK_INT_EQ(bad, 0);
    for (int k = 0; k < 10; k++)
        CHECK_INT_EQ(hist[k], per_class);
    /* The images are not blank: the mean pixel of Fashion-MNIST is about 73 (0.286). */
    double sum = 0;
    for (size_t i = 0; i < (size_t)ds.n * 28 * 28; i++)
        sum += ds.pixels[i];
    double mean = sum / ((double)ds.n * 28 * 28);
    CHECK_MSG(mean > 60 && mean < 85, "mean pixel %.2f", mean);
    dataset_free(&ds);
    CHECK(is_empty(&ds));
}

TEST(data_fashion_mnist_train)
{
    check_fashion(FMNIST_DIR "train-images-idx3-ubyte.gz", FMNIST_DIR "train-labels-idx1-ubyte.gz",
                  60000, 6000);
}

TEST(data_fashion_mnist_test)
{
    check_fashion(FMNIST_DIR "t10k-images-idx3-ubyte.gz", FMNIST_DIR "t10k-labels-idx1-ubyte.gz",
                  10000, 1000);
}

/* ---- IDX: valid small files ---- */

TEST(data_idx_small_plain_and_gzip)
{
    char dir[64], ipath[128], lpath[128];
    uint8_t buf[256];
    const uint32_t idims[3] = {3, 2, 4}, ldims[1] = {3};
    if (make_tmpdir(dir, sizeof dir) < 0) {
        CHECK_MSG(0, "mkdtemp failed");
        return;
    }
    for (int gz = 0; gz < 2; gz++) {
        Dataset ds;
        GsErr err = {{0}};
        snprintf(ipath, sizeof ipath, "%s/img%d", dir, gz);
        snprintf(lpath, sizeof lpath, "%s/lab%d", dir, gz);
        size_t len = make_idx(buf, 0x803, idims, 3, 24);
        CHECK(write_file(ipath, buf, len, gz) == 0);
        len = make_idx(buf, 0x801, ldims, 1, 0);
        buf[len++] = 4;
        buf[len++] = 0;
        buf[len++] = 2;
        CHECK(write_file(lpath, buf, len, gz) == 0);

        int rc = idx_load(&ds, ipath, lpath, &err);
        CHECK_MSG(rc == 0, "gz=%d: %s", gz, err.msg);
        if (rc != 0)
            continue;
        CHECK_INT_EQ(ds.n, 3);
        CHECK_INT_EQ(ds.c, 1);
        CHECK_INT_EQ(ds.h, 2);
        CHECK_INT_EQ(ds.w, 4);
        CHECK_INT_EQ(ds.n_classes, 5);
        for (int i = 0; i < 24; i++)
            CHECK_INT_EQ(ds.pixels[i], i);
        CHECK_INT_EQ(ds.labels[0], 4);
        CHECK_INT_EQ(ds.labels[1], 0);
        CHECK_INT_EQ(ds.labels[2], 2);
        dataset_free(&ds);

        /* Without labels. */
        rc = idx_load(&ds, ipath, NULL, &err);
        CHECK_MSG(rc == 0, "gz=%d: %s", gz, err.msg);
        CHECK_INT_EQ(ds.n, 3);
        CHECK(ds.labels == NULL);
        CHECK_INT_EQ(ds.n_classes, 0);
        dataset_free(&ds);
    }
    remove_tmpdir(dir);
}

/* ---- IDX: malformed files ---- */

typedef struct {
    const char *name;
    const char *expect; /* a word the message must contain */
    int bad_labels;     /* 1: the labels file is the bad one */
} IdxCase;

/* Writes case k's images and labels files (name-based), returns 0 or -1 if writing failed.
 * The images file is always 4 images of 3x3 unless the case says otherwise. */
static int write_idx_case(const char *name, const char *ipath, const char *lpath, int gz)
{
    static uint8_t buf[4096];
    uint32_t d3[3] = {4, 3, 3}, d1[1] = {4};
    size_t ilen, llen = make_idx(buf + 2048, 0x801, d1, 1, 4);
    uint8_t *lbuf = buf + 2048;
    for (int i = 0; i < 4; i++)
        lbuf[8 + i] = (uint8_t)i;

    if (strcmp(name, "wrong_magic") == 0) {
        ilen = make_idx(buf, 0x1f8b0803, d3, 3, 36);
    } else if (strcmp(name, "labels_magic_for_images") == 0) {
        ilen = make_idx(buf, 0x801, d3, 3, 36);
    } else if (strcmp(name, "wrong_dtype") == 0) {
        ilen = make_idx(buf, 0x0d03, d3, 3, 36);
    } else if (strcmp(name, "wrong_ndim") == 0) {
        uint32_t d2[2] = {4, 9};
        ilen = make_idx(buf, 0x802, d2, 2, 36);
    } else if (strcmp(name, "truncated_magic") == 0) {
        ilen = make_idx(buf, 0x803, d3, 3, 0);
        ilen = 2;
    } else if (strcmp(name, "truncated_header") == 0) {
        ilen = make_idx(buf, 0x803, d3, 3, 0);
        ilen = 10;
    } else if (strcmp(name, "truncated_pixels") == 0) {
        ilen = make_idx(buf, 0x803, d3, 3, 35);
    } else if (strcmp(name, "trailing_bytes") == 0) {
        ilen = make_idx(buf, 0x803, d3, 3, 37);
    } else if (strcmp(name, "empty_file") == 0) {
        ilen = 0;
    } else if (strcmp(name, "zero_images") == 0) {
        uint32_t d[3] = {0, 3, 3};
        ilen = make_idx(buf, 0x803, d, 3, 0);
    } else if (strcmp(name, "n_2_pow_31") == 0) {
        uint32_t d[3] = {0x80000000u, 28, 28};
        ilen = make_idx(buf, 0x803, d, 3, 36);
    } else if (strcmp(name, "n_huge_short_file") == 0) {
        /* Passes the limits, so only the short data can refuse it (without allocating it). */
        uint32_t d[3] = {0x7fffffffu, 28, 28};
        ilen = make_idx(buf, 0x803, d, 3, 36);
    } else if (strcmp(name, "absurd_side") == 0) {
        uint32_t d[3] = {4, 100000, 3};
        ilen = make_idx(buf, 0x803, d, 3, 36);
    } else if (strcmp(name, "absurd_image") == 0) {
        uint32_t d[3] = {4, 65536, 65536};
        ilen = make_idx(buf, 0x803, d, 3, 36);
    } else {
        ilen = make_idx(buf, 0x803, d3, 3, 36);
    }

    if (strcmp(name, "label_count_mismatch") == 0) {
        d1[0] = 5;
        llen = make_idx(lbuf, 0x801, d1, 1, 5);
    } else if (strcmp(name, "label_count_short") == 0) {
        d1[0] = 3;
        llen = make_idx(lbuf, 0x801, d1, 1, 3);
    } else if (strcmp(name, "labels_truncated") == 0) {
        llen -= 1;
    } else if (strcmp(name, "labels_trailing") == 0) {
        lbuf[llen++] = 0;
    } else if (strcmp(name, "labels_wrong_magic") == 0) {
        put_be32(lbuf, 0x803);
    }

    if (write_file(ipath, buf, ilen, gz) < 0)
        return -1;
    if (strcmp(name, "labels_absent") == 0)
        return 0;
    return write_file(lpath, lbuf, llen, gz);
}

TEST(data_idx_malformed)
{
    static const IdxCase cases[] = {
        {"wrong_magic", "magic", 0},
        {"labels_magic_for_images", "magic", 0},
        {"wrong_dtype", "magic", 0},
        {"wrong_ndim", "dimensions", 0},
        {"truncated_magic", "truncated", 0},
        {"truncated_header", "truncated", 0},
        {"truncated_pixels", "truncated", 0},
        {"trailing_bytes", "trailing", 0},
        {"empty_file", "truncated", 0},
        {"zero_images", "zero", 0},
        {"n_2_pow_31", "absurd", 0},
        {"n_huge_short_file", "truncated", 0},
        {"absurd_side", "absurd", 0},
        {"absurd_image", "absurd", 0},
        {"label_count_mismatch", "labels", 1},
        {"label_count_short", "labels", 1},
        {"labels_truncated", "truncated", 1},
        {"labels_trailing", "trailing", 1},
        {"labels_wrong_magic", "magic", 1},
        {"labels_absent", "No such file", 1},
    };
    char dir[64];
    if (make_tmpdir(dir, sizeof dir) < 0) {
        CHECK_MSG(0, "mkdtemp failed");
        return;
    }
    for (int gz = 0; gz < 2; gz++) {
        for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
            char ipath[160], lpath[160];
            const char *bad;
            Dataset ds;
            GsErr err = {{0}};
            snprintf(ipath, sizeof ipath, "%s/%s-images-%d", dir, cases[k].name, gz);
            snprintf(lpath, sizeof lpath, "%s/%s-labels-%d", dir, cases[k].name, gz);
            bad = strrchr(cases[k].bad_labels ? lpath : ipath, '/') + 1;
            if (write_idx_case(cases[k].name, ipath, lpath, gz) < 0) {
                CHECK_MSG(0, "%s: could not write the test file", cases[k].name);
                continue;
            }
            memset(&ds, 0x5a, sizeof ds);
            int rc = idx_load(&ds, ipath, lpath, &err);
            CHECK_MSG(rc == -1, "%s (gz=%d): accepted", cases[k].name, gz);
            CHECK_MSG(strstr(err.msg, bad) != NULL, "%s (gz=%d): message '%s' does not name %s",
                      cases[k].name, gz, err.msg, bad);
            CHECK_MSG(strstr(err.msg, cases[k].expect) != NULL,
                      "%s (gz=%d): message '%s' does not say '%s'", cases[k].name, gz, err.msg,
                      cases[k].expect);
            CHECK_MSG(is_empty(&ds), "%s (gz=%d): dataset not left empty", cases[k].name, gz);
            if (rc == 0)
                dataset_free(&ds);
        }
    }
    remove_tmpdir(dir);
}

TEST(data_idx_absent_file)
{
    Dataset ds;
    GsErr err = {{0}};
    const char *path = "/tmp/gs-no-such-dir/train-images-idx3-ubyte.gz";
    CHECK_INT_EQ(idx_load(&ds, path, NULL, &err), -1);
    CHECK_MSG(strstr(err.msg, path) && strstr(err.msg, "No such file"), "message '%s'", err.msg);
    CHECK(is_empty(&ds));
}

/* The messages quote what was found and what was expected. */
TEST(data_idx_message_details)
{
    char dir[64], path[128];
    uint8_t buf[128];
    const uint32_t d3[3] = {2, 2, 2};
    Dataset ds;
    GsErr err = {{0}};
    if (make_tmpdir(dir, sizeof dir) < 0) {
        CHECK_MSG(0, "mkdtemp failed");
        return;
    }
    snprintf(path, sizeof path, "%s/x.idx", dir);
    size_t len = make_idx(buf, 0x00000801, d3, 3, 8);
    CHECK(write_file(path, buf, len, 0) == 0);
    CHECK_INT_EQ(idx_load(&ds, path, NULL, &err), -1);
    CHECK_MSG(strstr(err.msg, "0x00000801") && strstr(err.msg, "0x00000803"), "'%s'", err.msg);
    len = make_idx(buf, 0x803, d3, 3, 5);
    CHECK(write_file(path, buf, len, 1) == 0);
    CHECK_INT_EQ(idx_load(&ds, path, NULL, &err), -1);
    CHECK_MSG(strstr(err.msg, "expected 8 pixel bytes, got 5"), "'%s'", err.msg);
    remove_tmpdir(dir);
}

/* A damaged gzip stream: cut in the middle, or cut before its 8-byte trailer (CRC and
 * length), which leaves all the data readable but unverified. */
TEST(data_idx_gzip_damaged)
{
    char dir[64], path[128], cut[128];
    static uint8_t raw[4096], gz[8192];
    const uint32_t d3[3] = {40, 10, 10};
    if (make_tmpdir(dir, sizeof dir) < 0) {
        CHECK_MSG(0, "mkdtemp failed");
        return;
    }
    snprintf(path, sizeof path, "%s/full.gz", dir);
    snprintf(cut, sizeof cut, "%s/cut.gz", dir);
    size_t len = make_idx(raw, 0x803, d3, 3, 4000);
    CHECK(write_file(path, raw, len, 1) == 0);
    FILE *f = fopen(path, "rb");
    size_t gz_len = f ? fread(gz, 1, sizeof gz, f) : 0;
    if (f)
        fclose(f);
    CHECK(gz_len > 20 && gz_len < sizeof gz);

    size_t cuts[] = {gz_len / 2, gz_len - 8, gz_len - 1};
    for (size_t k = 0; k < 3; k++) {
        Dataset ds;
        GsErr err = {{0}};
        CHECK(write_file(cut, gz, cuts[k], 0) == 0);
        int rc = idx_load(&ds, cut, NULL, &err);
        CHECK_MSG(rc == -1, "cut at %zu of %zu: accepted", cuts[k], gz_len);
        CHECK_MSG(strstr(err.msg, "cut.gz") != NULL, "'%s'", err.msg);
        CHECK_MSG(strstr(err.msg, k == 0 ? "truncated" : "corrupt gzip"), "'%s'", err.msg);
        CHECK(is_empty(&ds));
        if (rc == 0)
            dataset_free(&ds);
    }
    /* A flipped byte in the compressed data is refused too (CRC or inflate error). */
    gz[gz_len / 2] ^= 0x55;
    {
        Dataset ds;
        GsErr err = {{0}};
        CHECK(write_file(cut, gz, gz_len, 0) == 0);
        int rc = idx_load(&ds, cut, NULL, &err);
        CHECK_MSG(rc == -1, "corrupted byte accepted");
        CHECK_MSG(strstr(err.msg, "cut.gz") != NULL, "'%s'", err.msg);
        if (rc == 0)
            dataset_free(&ds);
    }
    remove_tmpdir(dir);
}

/* ---- CIFAR ---- */

#define REC_PIX 3072

/* n records; label of record i is labels[i]; pixel j of record i is (i * 7 + j) % 256.
 * With cifar100, the coarse label is label / 5. */
static int write_cifar(const char *path, const int *labels, int n, int cifar100, int first)
{
    size_t rec = (cifar100 ? 2 : 1) + REC_PIX;
    uint8_t *buf = malloc(rec * (size_t)(n > 0 ? n : 1));
    if (!buf)
        return -1;
    for (int i = 0; i < n; i++) {
        uint8_t *r = buf + rec * (size_t)i;
        if (cifar100)
            *r++ = (uint8_t)(labels[i] / 5);
        *r++ = (uint8_t)labels[i];
        for (int j = 0; j < REC_PIX; j++)
            r[j] = (uint8_t)(((first + i) * 7 + j) % 256);
    }
    int rc = write_file(path, buf, rec * (size_t)n, 0);
    free(buf);
    return rc;
}

TEST(data_cifar10_files_concatenated)
{
    char dir[64], p1[128], p2[128];
    int l1[3] = {3, 9, 0}, l2[2] = {7, 1};
    if (make_tmpdir(dir, sizeof dir) < 0) {
        CHECK_MSG(0, "mkdtemp failed");
        return;
    }
    snprintf(p1, sizeof p1, "%s/data_batch_1.bin", dir);
    snprintf(p2, sizeof p2, "%s/data_batch_2.bin", dir);
    CHECK(write_cifar(p1, l1, 3, 0, 0) == 0);
    CHECK(write_cifar(p2, l2, 2, 0, 3) == 0);
    const char *paths[2] = {p1, p2};
    Dataset ds;
    GsErr err = {{0}};
    int rc = cifar_load(&ds, paths, 2, 0, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    if (rc == 0) {
        int want[5] = {3, 9, 0, 7, 1}, bad = 0;
        CHECK_INT_EQ(ds.n, 5);
        CHECK_INT_EQ(ds.c, 3);
        CHECK_INT_EQ(ds.h, 32);
        CHECK_INT_EQ(ds.w, 32);
        CHECK_INT_EQ(ds.n_classes, 10);
        for (int i = 0; i < 5; i++) {
            CHECK_INT_EQ(ds.labels[i], want[i]);
            for (int j = 0; j < REC_PIX; j++)
                bad += ds.pixels[(size_t)i * REC_PIX + j] != (uint8_t)((i * 7 + j) % 256);
        }
        CHECK_INT_EQ(bad, 0);
        dataset_free(&ds);
    }
    /* The reverse order gives the records in the reverse file order. */
    const char *rev[2] = {p2, p1};
    rc = cifar_load(&ds, rev, 2, 0, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    if (rc == 0) {
        CHECK_INT_EQ(ds.labels[0], 7);
        CHECK_INT_EQ(ds.labels[2], 3);
        CHECK_INT_EQ(ds.pixels[2 * REC_PIX], (0 * 7) % 256);
        dataset_free(&ds);
    }
    remove_tmpdir(dir);
}

TEST(data_cifar100_fine_label)
{
    char dir[64], p[128];
    int fine[4] = {99, 42, 5, 0};
    if (make_tmpdir(dir, sizeof dir) < 0) {
        CHECK_MSG(0, "mkdtemp failed");
        return;
    }
    snprintf(p, sizeof p, "%s/train.bin", dir);
    CHECK(write_cifar(p, fine, 4, 1, 0) == 0);
    const char *paths[1] = {p};
    Dataset ds;
    GsErr err = {{0}};
    int rc = cifar_load(&ds, paths, 1, 1, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    if (rc == 0) {
        CHECK_INT_EQ(ds.n, 4);
        for (int i = 0; i < 4; i++)
            CHECK_INT_EQ(ds.labels[i], fine[i]);
        CHECK_INT_EQ(ds.n_classes, 100);
        CHECK_INT_EQ(ds.pixels[REC_PIX + 1], (7 + 1) % 256);
        dataset_free(&ds);
    }
    /* Read as CIFAR-10 the same file has the wrong record size. */
    rc = cifar_load(&ds, paths, 1, 0, &err);
    CHECK_INT_EQ(rc, -1);
    CHECK_MSG(strstr(err.msg, "train.bin") && strstr(err.msg, "12296"), "'%s'", err.msg);
    CHECK(is_empty(&ds));
    remove_tmpdir(dir);
}

TEST(data_cifar_malformed)
{
    char dir[64], good[128], bad[160];
    int ok_labels[2] = {1, 2};
    if (make_tmpdir(dir, sizeof dir) < 0) {
        CHECK_MSG(0, "mkdtemp failed");
        return;
    }
    snprintf(good, sizeof good, "%s/good.bin", dir);
    CHECK(write_cifar(good, ok_labels, 2, 0, 0) == 0);
    const char *paths[2] = {good, bad};
    Dataset ds;
    GsErr err = {{0}};

    /* Size not a whole number of records: one byte short, and one byte over. */
    static uint8_t junk[2 * 3073 + 1];
    for (int delta = -1; delta <= 1; delta += 2) {
        snprintf(bad, sizeof bad, "%s/bad_size%+d.bin", dir, delta);
        CHECK(write_file(bad, junk, (size_t)(2 * 3073 + delta), 0) == 0);
        CHECK_INT_EQ(cifar_load(&ds, paths, 2, 0, &err), -1);
        CHECK_MSG(strstr(err.msg, bad) && strstr(err.msg, delta < 0 ? "6145" : "6147"),
                  "'%s'", err.msg);
        CHECK(is_empty(&ds));
    }
    /* Empty file. */
    snprintf(bad, sizeof bad, "%s/empty.bin", dir);
    CHECK(write_file(bad, junk, 0, 0) == 0);
    CHECK_INT_EQ(cifar_load(&ds, paths, 2, 0, &err), -1);
    CHECK_MSG(strstr(err.msg, "empty.bin"), "'%s'", err.msg);
    CHECK(is_empty(&ds));

    /* Label out of range, in the second record of the second file. */
    int out_of_range[2] = {3, 10};
    snprintf(bad, sizeof bad, "%s/label10.bin", dir);
    CHECK(write_cifar(bad, out_of_range, 2, 0, 0) == 0);
    CHECK_INT_EQ(cifar_load(&ds, paths, 2, 0, &err), -1);
    CHECK_MSG(strstr(err.msg, "label10.bin") && strstr(err.msg, "label 10") &&
              strstr(err.msg, "record 1"), "'%s'", err.msg);
    CHECK(is_empty(&ds));

    /* CIFAR-100: fine label 100. */
    int fine100[1] = {100};
    snprintf(bad, sizeof bad, "%s/fine100.bin", dir);
    CHECK(write_cifar(bad, fine100, 1, 1, 0) == 0);
    const char *one[1] = {bad};
    CHECK_INT_EQ(cifar_load(&ds, one, 1, 1, &err), -1);
    CHECK_MSG(strstr(err.msg, "fine100.bin") && strstr(err.msg, "label 100"), "'%s'", err.msg);
    CHECK(is_empty(&ds));

    /* Absent file (after a good one: nothing of the good one may leak). */
    snprintf(bad, sizeof bad, "%s/absent.bin", dir);
    CHECK_INT_EQ(cifar_load(&ds, paths, 2, 0, &err), -1);
    CHECK_MSG(strstr(err.msg, "absent.bin") && strstr(err.msg, "No such file"), "'%s'", err.msg);
    CHECK(is_empty(&ds));

    /* A directory is not a batch file. */
    CHECK_INT_EQ(cifar_load(&ds, (const char *const[]){dir}, 1, 0, &err), -1);
    CHECK_MSG(strstr(err.msg, dir), "'%s'", err.msg);

    /* No files. */
    CHECK_INT_EQ(cifar_load(&ds, paths, 0, 0, &err), -1);
    CHECK(is_empty(&ds));
    remove_tmpdir(dir);
}

/* ---- subsets ---- */

/* 200 images of 1x2x2: pixel 0 and 1 hold the index (low, high byte), label = index % 7. */
static int make_synthetic(Dataset *ds, int n)
{
    memset(ds, 0, sizeof *ds);
    ds->pixels = malloc((size_t)n * 4);
    ds->labels = malloc((size_t)n * sizeof *ds->labels);
    if (!ds->pixels || !ds->labels) {
        dataset_free(ds);
        return -1;
    }
    ds->n = n;
    ds->c = 1;
    ds->h = 2;
    ds->w = 2;
    ds->n_classes = 7;
    for (int i = 0; i < n; i++) {
        ds->pixels[4 * i] = (uint8_t)(i & 0xff);
        ds->pixels[4 * i + 1] = (uint8_t)(i >> 8);
        ds->pixels[4 * i + 2] = ds->pixels[4 * i + 3] = (uint8_t)(i * 3);
        ds->labels[i] = i % 7;
    }
    return 0;
}

static int index_of(const Dataset *ds, int k)
{
    return ds->pixels[4 * k] | ds->pixels[4 * k + 1] << 8;
}

TEST(data_subset_first_n)
{
    Dataset ds;
    GsErr err = {{0}};
    if (make_synthetic(&ds, 200) < 0) {
        CHECK_MSG(0, "out of memory");
        return;
    }
    CHECK_INT_EQ(dataset_subset(&ds, 10, 0, &err), 0);
    CHECK_INT_EQ(ds.n, 10);
    CHECK_INT_EQ(ds.n_classes, 7);
    for (int k = 0; k < 10; k++) {
        CHECK_INT_EQ(index_of(&ds, k), k);
        CHECK_INT_EQ(ds.labels[k], k % 7);
    }
    /* All of it is allowed and changes nothing. */
    CHECK_INT_EQ(dataset_subset(&ds, 10, 0, &err), 0);
    CHECK_INT_EQ(ds.n, 10);
    dataset_free(&ds);
}

TEST(data_subset_random_reproducible_sorted_distinct)
{
    Dataset a, b, c;
    GsErr err = {{0}};
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    memset(&c, 0, sizeof c);
    if (make_synthetic(&a, 200) < 0 || make_synthetic(&b, 200) < 0 ||
        make_synthetic(&c, 200) < 0) {
        CHECK_MSG(0, "out of memory");
        dataset_free(&a);
        dataset_free(&b);
        dataset_free(&c);
        return;
    }
    CHECK_INT_EQ(dataset_subset(&a, 50, 1234, &err), 0);
    CHECK_INT_EQ(dataset_subset(&b, 50, 1234, &err), 0);
    CHECK_INT_EQ(dataset_subset(&c, 50, 99, &err), 0);
    CHECK_INT_EQ(a.n, 50);
    CHECK(memcmp(a.pixels, b.pixels, 50 * 4) == 0);
    CHECK(memcmp(a.labels, b.labels, 50 * sizeof *a.labels) == 0);
    CHECK(memcmp(a.pixels, c.pixels, 50 * 4) != 0);
    int not_first = 0;
    for (int k = 0; k < 50; k++) {
        int i = index_of(&a, k);
        if (k > 0)
            CHECK_MSG(i > index_of(&a, k - 1), "not strictly increasing at %d", k);
        CHECK_INT_EQ(a.labels[k], i % 7);
        CHECK_INT_EQ(a.pixels[4 * k + 2], (uint8_t)(i * 3));
        not_first += i >= 50;
    }
    CHECK(not_first > 0);
    dataset_free(&a);
    dataset_free(&b);
    dataset_free(&c);
}

/* Every image is equally likely to be kept: over many seeds each index is picked about
 * n / N of the time. */
TEST(data_subset_random_uniform)
{
    int counts[100] = {0}, trials = 4000;
    GsErr err = {{0}};
    for (int t = 0; t < trials; t++) {
        Dataset ds;
        if (make_synthetic(&ds, 100) < 0) {
            CHECK_MSG(0, "out of memory");
            return;
        }
        CHECK_INT_EQ(dataset_subset(&ds, 10, (uint64_t)t + 1, &err), 0);
        for (int k = 0; k < ds.n; k++)
            counts[index_of(&ds, k)]++;
        dataset_free(&ds);
    }
    /* Expected 400 each, standard deviation about 19. */
    for (int i = 0; i < 100; i++)
        CHECK_MSG(counts[i] > 300 && counts[i] < 500, "index %d picked %d times", i, counts[i]);
}

TEST(data_subset_bad_n)
{
    Dataset ds, empty;
    GsErr err = {{0}};
    if (make_synthetic(&ds, 20) < 0) {
        CHECK_MSG(0, "out of memory");
        return;
    }
    int bad_n[] = {0, -1, 21, -2147483647 - 1};
    for (size_t k = 0; k < sizeof bad_n / sizeof bad_n[0]; k++) {
        err.msg[0] = 0;
        CHECK_INT_EQ(dataset_subset(&ds, bad_n[k], 0, &err), -1);
        CHECK_INT_EQ(dataset_subset(&ds, bad_n[k], 5, &err), -1);
        CHECK_MSG(strstr(err.msg, "20") != NULL, "'%s'", err.msg);
        CHECK_INT_EQ(ds.n, 20);
    }
    for (int i = 0; i < 20; i++)
        CHECK_INT_EQ(index_of(&ds, i), i);
    dataset_free(&ds);
    memset(&empty, 0, sizeof empty);
    CHECK_INT_EQ(dataset_subset(&empty, 1, 0, &err), -1);
    dataset_free(&empty);
    dataset_free(&empty); /* twice is harmless */
}

/* ---- dataset_info: facts from headers and file sizes, nothing loaded ---- */

static int info_is_empty(const DatasetInfo *info)
{
    static const DatasetInfo zero;
    return memcmp(info, &zero, sizeof zero) == 0;
}

TEST(data_info_fashion_mnist)
{
    DatasetInfo info;
    GsErr err = {{0}};
    int rc = dataset_info("fashion-mnist", NULL, &info, &err);
    CHECK_MSG(rc == 0, "dataset_info: %s", err.msg);
    CHECK_INT_EQ(info.train.n, 60000);
    CHECK_INT_EQ(info.test.n, 10000);
    CHECK_INT_EQ(info.train.c, 1);
    CHECK_INT_EQ(info.train.h, 28);
    CHECK_INT_EQ(info.train.w, 28);
    CHECK_INT_EQ(info.test.h, 28);
    CHECK(info.train.labeled && info.test.labeled);
    CHECK_INT_EQ(info.classes, 10);
}

/* An IDX folder: gzip train images, plain train labels, test images without labels. The
 * test images' pixels are cut short: a header-only reader does not see it (a load would). */
TEST(data_info_idx_folder)
{
    char dir[64], path[160];
    static uint8_t buf[512];
    const uint32_t tr[3] = {5, 3, 2}, tl[1] = {5}, te[3] = {4, 3, 2};
    DatasetInfo info;
    GsErr err = {{0}};
    if (make_tmpdir(dir, sizeof dir) < 0) {
        CHECK_MSG(0, "mkdtemp failed");
        return;
    }
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", dir);
    CHECK(write_file(path, buf, make_idx(buf, 0x803, tr, 3, 30), 1) == 0);
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte", dir);
    CHECK(write_file(path, buf, make_idx(buf, 0x801, tl, 1, 5), 0) == 0);
    snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte", dir);
    CHECK(write_file(path, buf, make_idx(buf, 0x803, te, 3, 7), 0) == 0);

    int rc = dataset_info(dir, NULL, &info, &err);
    CHECK_MSG(rc == 0, "dataset_info: %s", err.msg);
    CHECK_INT_EQ(info.train.n, 5);
    CHECK_INT_EQ(info.train.c, 1);
    CHECK_INT_EQ(info.train.h, 3);
    CHECK_INT_EQ(info.train.w, 2);
    CHECK(info.train.labeled);
    CHECK_INT_EQ(info.test.n, 4);
    CHECK(!info.test.labeled);
    CHECK_INT_EQ(info.classes, 0); /* only the labels themselves would tell */

    /* the same folder under a data root, by a relative name; and refused outside it */
    char root[64];
    snprintf(root, sizeof root, "%s", dir);
    *strrchr(root, '/') = 0;
    rc = dataset_info(strrchr(dir, '/') + 1, root, &info, &err);
    CHECK_MSG(rc == 0 && info.train.n == 5, "relative: %s", err.msg);
    CHECK_INT_EQ(dataset_info("/etc", dir, &info, &err), -1);
    CHECK(info_is_empty(&info));

    /* a bad test header fails the whole answer, naming the file */
    snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte", dir);
    CHECK(write_file(path, buf, 6, 0) == 0);
    CHECK_INT_EQ(dataset_info(dir, NULL, &info, &err), -1);
    CHECK_MSG(strstr(err.msg, "t10k-images") && strstr(err.msg, "truncated"), "'%s'", err.msg);
    CHECK(info_is_empty(&info));
    remove_tmpdir(dir);
}

/* idx_info refuses what idx_load refuses at the header, plain and gzip, and passes what only
 * the data would betray. */
TEST(data_info_idx_headers)
{
    static const IdxCase header_bad[] = {
        {"wrong_magic", "magic", 0},
        {"wrong_ndim", "dimensions", 0},
        {"truncated_magic", "truncated", 0},
        {"truncated_header", "truncated", 0},
        {"empty_file", "truncated", 0},
        {"zero_images", "zero", 0},
        {"absurd_image", "absurd", 0},
        {"label_count_mismatch", "labels", 1},
        {"labels_wrong_magic", "magic", 1},
        {"labels_absent", "No such file", 1},
    };
    static const char *const data_bad[] = {"truncated_pixels", "trailing_bytes",
                                           "labels_truncated", "labels_trailing"};
    char dir[64], ipath[160], lpath[160];
    if (make_tmpdir(dir, sizeof dir) < 0) {
        CHECK_MSG(0, "mkdtemp failed");
        return;
    }
    for (int gz = 0; gz < 2; gz++) {
        for (size_t k = 0; k < sizeof header_bad / sizeof header_bad[0]; k++) {
            const IdxCase *c = &header_bad[k];
            SplitInfo info;
            GsErr err = {{0}};
            snprintf(ipath, sizeof ipath, "%s/%s-images-%d", dir, c->name, gz);
            snprintf(lpath, sizeof lpath, "%s/%s-labels-%d", dir, c->name, gz);
            if (write_idx_case(c->name, ipath, lpath, gz) < 0) {
                CHECK_MSG(0, "%s: could not write the test file", c->name);
                continue;
            }
            const char *bad = strrchr(c->bad_labels ? lpath : ipath, '/') + 1;
            memset(&info, 0x5a, sizeof info);
            CHECK_MSG(idx_info(&info, ipath, lpath, &err) == -1, "%s (gz=%d): accepted",
                      c->name, gz);
            CHECK_MSG(strstr(err.msg, bad) && strstr(err.msg, c->expect),
                      "%s (gz=%d): message '%s'", c->name, gz, err.msg);
            CHECK_MSG(info.n == 0 && info.h == 0 && !info.labeled, "%s: info not zeroed",
                      c->name);
        }
        for (size_t k = 0; k < sizeof data_bad / sizeof data_bad[0]; k++) {
            SplitInfo info;
            GsErr err = {{0}};
            snprintf(ipath, sizeof ipath, "%s/%s-images-%d", dir, data_bad[k], gz);
            snprintf(lpath, sizeof lpath, "%s/%s-labels-%d", dir, data_bad[k], gz);
            if (write_idx_case(data_bad[k], ipath, lpath, gz) < 0) {
                CHECK_MSG(0, "%s: could not write the test file", data_bad[k]);
                continue;
            }
            CHECK_MSG(idx_info(&info, ipath, lpath, &err) == 0, "%s (gz=%d): %s", data_bad[k],
                      gz, err.msg);
            CHECK(info.n > 0 && info.c == 1 && info.labeled);
        }
    }
    remove_tmpdir(dir);
}

TEST(data_info_missing)
{
    DatasetInfo info;
    SplitInfo split;
    GsErr err = {{0}};
    const char *path = "/tmp/gs-no-such-dir/train-images-idx3-ubyte.gz";
    CHECK_INT_EQ(idx_info(&split, path, NULL, &err), -1);
    CHECK_MSG(strstr(err.msg, path) && strstr(err.msg, "No such file"), "'%s'", err.msg);
    CHECK_INT_EQ(dataset_info("/tmp/gs-no-such-dir", NULL, &info, &err), -1);
    CHECK_MSG(strstr(err.msg, "gs-no-such-dir"), "'%s'", err.msg);
    CHECK(info_is_empty(&info));

    /* a folder without a training set */
    char dir[64];
    if (make_tmpdir(dir, sizeof dir) < 0) {
        CHECK_MSG(0, "mkdtemp failed");
        return;
    }
    CHECK_INT_EQ(dataset_info(dir, NULL, &info, &err), -1);
    CHECK_MSG(strstr(err.msg, "train-images-idx3-ubyte"), "'%s'", err.msg);
    CHECK(info_is_empty(&info));
    remove_tmpdir(dir);
}

/* A CIFAR-10 folder: counts from the batch sizes; a batch of another size is refused. */
TEST(data_info_cifar_folder)
{
    char dir[64], path[160];
    int labels[3] = {1, 2, 3};
    DatasetInfo info;
    GsErr err = {{0}};
    if (make_tmpdir(dir, sizeof dir) < 0) {
        CHECK_MSG(0, "mkdtemp failed");
        return;
    }
    for (int b = 1; b <= 5; b++) {
        snprintf(path, sizeof path, "%s/data_batch_%d.bin", dir, b);
        CHECK(write_cifar(path, labels, b <= 2 ? 3 : 1, 0, 0) == 0);
    }
    int rc = dataset_info(dir, NULL, &info, &err);
    CHECK_MSG(rc == 0, "dataset_info: %s", err.msg);
    CHECK_INT_EQ(info.train.n, 9);
    CHECK_INT_EQ(info.test.n, 0);
    CHECK_INT_EQ(info.train.c, 3);
    CHECK_INT_EQ(info.train.h, 32);
    CHECK_INT_EQ(info.train.w, 32);
    CHECK(info.train.labeled);
    CHECK_INT_EQ(info.classes, 10);

    snprintf(path, sizeof path, "%s/test_batch.bin", dir);
    CHECK(write_cifar(path, labels, 2, 0, 0) == 0);
    rc = dataset_info(dir, NULL, &info, &err);
    CHECK_MSG(rc == 0 && info.test.n == 2, "with test batch: %s", err.msg);

    static uint8_t junk[3074];
    snprintf(path, sizeof path, "%s/data_batch_4.bin", dir);
    CHECK(write_file(path, junk, sizeof junk, 0) == 0);
    CHECK_INT_EQ(dataset_info(dir, NULL, &info, &err), -1);
    CHECK_MSG(strstr(err.msg, "data_batch_4.bin") && strstr(err.msg, "3074"), "'%s'", err.msg);
    CHECK(info_is_empty(&info));
    remove_tmpdir(dir);
}
