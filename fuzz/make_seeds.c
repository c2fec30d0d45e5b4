/* make_seeds.c — writes the binary seed corpora of fuzz/corpus (`make fuzz-seeds`): the
 * checkpoints the tiny run of fuzz.h stores at every point it stores one (dae, kmeans, simclr
 * after an epoch and inside one, for both methods), and small valid and nearly valid IDX
 * (plain and gzip) and CIFAR-10/100 inputs, in the input layouts of fuzz_ckpt.c, fuzz_idx.c and
 * fuzz_cifar.c. The text corpora (config, api_json, http) are written by hand. A checkpoint
 * holds the seconds its run took, so a new run gives new bytes: rerun only when the format or
 * the tiny run changes. Usage: make_seeds CORPUS_DIR */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "gs/checkpoint.h"
#include "gs/pipeline.h"

static const char *g_root;

static void seed(const char *target, const char *name, uint8_t head, const void *data,
                 size_t len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", g_root, target);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/%s", g_root, target, name);
    uint8_t *buf = malloc(len + 1);
    if (!buf)
        abort();
    buf[0] = head;
    memcpy(buf + 1, data, len);
    fuzz_write_file(path, buf, len + 1);
    free(buf);
}

/* ---- checkpoints -------------------------------------------------------------------------- */

typedef struct {
    int mode;               /* the harness's mode byte for these checkpoints */
    const char *method;
    long stop_step;         /* raise cancel after this simclr step (0: never) */
    atomic_int cancel;
} Capture;

static int on_checkpoint(void *ctx, int stage, int epoch, long step, const void *data,
                         size_t len)
{
    (void)step;
    Capture *c = ctx;
    char name[64];
    CkptReader r;
    bool inside = ckpt_open(&r, data, len, NULL) == 0 &&
                  ckpt_find(&r, "simclr.position", NULL, NULL) != NULL;
    snprintf(name, sizeof name, "%s-%s-%d%s", c->method, STAGE_NAMES[stage], epoch,
             inside ? "-inside" : "");
    seed("ckpt", name, (uint8_t)c->mode, data, len);
    /* the same bytes for the raw mode, where the checksum guards them */
    if (stage == STAGE_KMEANS || inside) {
        snprintf(name + strlen(name), sizeof name - strlen(name), "-raw");
        seed("ckpt", name, (uint8_t)(c->mode & ~1), data, len);
    }
    return 0;
}

static void on_progress(void *ctx, const StageProgress *p)
{
    Capture *c = ctx;
    if (c->stop_step && p->stage == STAGE_SIMCLR && p->step == c->stop_step)
        c->cancel = 1;
}

static void checkpoints(void)
{
    Dataset train;
    tiny_dataset(&train);
    for (int m = 0; m < 2; m++)
        for (int stopped = 0; stopped < 2; stopped++) {
            RunConfig cfg;
            RunResult res;
            GsErr err;
            Capture c = {.mode = 1 | (m << 1), .method = m ? "simclr" : "gsimclr",
                         .stop_step = stopped ? 4 : 0};
            Sink sink = {.checkpoint = on_checkpoint, .progress = on_progress, .ctx = &c,
                         .cancel = &c.cancel};
            tiny_config(&cfg, m ? METHOD_SIMCLR : METHOD_GSIMCLR);
            int rc = pipeline_run(&cfg, &train, NULL, &sink, NULL, 0, &res, &err);
            if (rc != 0 && !stopped) {
                fprintf(stderr, "make_seeds: the tiny run failed: %s\n", err.msg);
                exit(1);
            }
            run_result_free(&res);
        }
    dataset_free(&train);
}

/* ---- IDX ---------------------------------------------------------------------------------- */

static size_t idx_file(uint8_t *out, uint32_t magic, const uint32_t *dims, int ndim,
                       size_t data_len, uint8_t fill)
{
    size_t n = 0;
    uint32_t words[4] = {magic, dims[0], ndim > 1 ? dims[1] : 0, ndim > 2 ? dims[2] : 0};
    for (int w = 0; w < 1 + ndim; w++)
        for (int b = 0; b < 4; b++)
            out[n++] = (uint8_t)(words[w] >> (24 - 8 * b));
    for (size_t i = 0; i < data_len; i++)
        out[n++] = (uint8_t)(fill + i * 37);
    return n;
}

/* fuzz_idx.c's layout: flags, u16 images length, images, labels. */
static void idx_seed(const char *name, int flags, const uint8_t *img, size_t ni,
                     const uint8_t *lab, size_t nl)
{
    uint8_t buf[4096];
    if (2 + ni + nl > sizeof buf)
        abort();
    buf[0] = (uint8_t)(ni & 0xff);
    buf[1] = (uint8_t)(ni >> 8);
    memcpy(buf + 2, img, ni);
    if (nl)
        memcpy(buf + 2 + ni, lab, nl);
    seed("idx", name, (uint8_t)flags, buf, 2 + ni + nl);
}

static void idx_seeds(void)
{
    uint8_t img[1024], lab[64], bad[64];
    uint32_t d3[3] = {3, 4, 5}, d1[1] = {3}, d1_short[1] = {2}, big[3] = {0x7fffffff, 1, 1};
    size_t ni = idx_file(img, 0x803, d3, 3, 3 * 4 * 5, 1);
    size_t nl = idx_file(lab, 0x801, d1, 1, 3, 0);
    for (size_t i = 8; i < nl; i++)
        lab[i] = (uint8_t)(i % 3);
    idx_seed("plain-labeled", 4, img, ni, lab, nl);
    idx_seed("plain-unlabeled", 0, img, ni, NULL, 0);
    idx_seed("gzip-both", 4 | 1 | 2, img, ni, lab, nl);
    idx_seed("gzip-images", 1, img, ni, NULL, 0);
    /* already gzip in the input, so the mutations fall on the gzip stream itself */
    size_t zn;
    uint8_t *z = fuzz_gzip(img, ni, &zn);
    idx_seed("raw-gzip", 0, z, zn, NULL, 0);
    free(z);
    /* nearly valid: fewer labels than images, a truncated body, a claim of 2^31 images, a
     * wrong element type */
    size_t nb = idx_file(bad, 0x801, d1_short, 1, 2, 0);
    idx_seed("label-count", 4, img, ni, bad, nb);
    idx_seed("truncated", 0, img, ni - 7, NULL, 0);
    nb = idx_file(bad, 0x803, big, 3, 8, 0);
    idx_seed("huge-count", 1, bad, nb, NULL, 0);
    nb = idx_file(bad, 0x0d03, d3, 3, 4, 0);
    idx_seed("float-type", 0, bad, nb, NULL, 0);
}

/* ---- CIFAR -------------------------------------------------------------------------------- */

static void cifar_seeds(void)
{
    enum { PIX = 3 * 32 * 32 };
    static uint8_t buf[2 + 3 * (2 + PIX)];
    for (int cifar100 = 0; cifar100 < 2; cifar100++) {
        size_t rec = (size_t)(1 + cifar100) + PIX, n = 0;
        buf[n++] = 0;
        buf[n++] = 0;
        for (int r = 0; r < 2; r++) {
            if (cifar100)
                buf[n++] = (uint8_t)(r + 3);   /* coarse */
            buf[n++] = (uint8_t)(r * 7 + 1);   /* fine */
            for (int i = 0; i < PIX; i++)
                buf[n++] = (uint8_t)(i * 13 + r);
        }
        const char *name = cifar100 ? "cifar100-two-records" : "cifar10-two-records";
        seed("cifar", name, (uint8_t)cifar100, buf, n);
        /* the same records as two files of one record each */
        buf[0] = (uint8_t)(rec & 0xff);
        buf[1] = (uint8_t)(rec >> 8);
        seed("cifar", cifar100 ? "cifar100-two-files" : "cifar10-two-files",
             (uint8_t)(cifar100 | 2), buf, n);
        /* one byte short of two records */
        buf[0] = buf[1] = 0;
        seed("cifar", cifar100 ? "cifar100-short" : "cifar10-short", (uint8_t)cifar100, buf,
             n - 1);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_seeds CORPUS_DIR\n");
        return 2;
    }
    g_root = argv[1];
    mkdir(g_root, 0755);
    checkpoints();
    idx_seeds();
    cifar_seeds();
    return 0;
}
