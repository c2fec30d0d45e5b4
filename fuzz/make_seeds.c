/* make_seeds.c — writes the binary seed corpora of fuzz/corpus (`make fuzz-seeds`): the
 * checkpoints the tiny run of fuzz.h stores at every point it stores one (dae, kmeans, simclr
 * after an epoch and inside one, for both methods), and small valid and nearly valid IDX
 * (plain and gzip) and CIFAR-10/100 inputs, in the input layouts of fuzz_ckpt.c, fuzz_idx.c and
 * fuzz_cifar.c; small PNG files of every colour type and depth (interlaced too) and JPEG files
 * (gray, 4:2:0 and 4:4:4 colour, progressive, restart markers, arithmetic coding, CMYK), each
 * with a few nearly valid ones (cut short, a damaged chunk, a header declaring 3.6 Gpx), as
 * whole files for fuzz_png.c and fuzz_jpeg.c. Harness code: it includes png.h, jpeglib.h and
 * zlib.h to write what the product only reads. The text corpora (config, api_json, http) are
 * written by hand. A checkpoint holds the seconds its run took, so a new run gives new bytes:
 * rerun only when the format or the tiny run changes (the image seeds come out the same
 * every time). Usage: make_seeds CORPUS_DIR */
#include <setjmp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jpeglib.h>
#include <png.h>
#include <zlib.h>

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

/* ---- PNG and JPEG ------------------------------------------------------------------------- */

static void image_seed(const char *target, const char *name, const void *data, size_t len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", g_root, target);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/%s", g_root, target, name);
    fuzz_write_file(path, data, len);
}

/* Smooth gradients, so a JPEG of them stays small and close. */
static uint8_t sample(int x, int y, int k)
{
    return (uint8_t)(x * 23 + y * 11 + k * 70);
}

/* A w x h PNG of libpng colour type ctype and bit depth, into a malloc'd buffer (*len). */
typedef struct {
    uint8_t *p;
    size_t len, cap;
} Mem;

static void mem_write(png_structp png, png_bytep data, png_size_t n)
{
    Mem *m = png_get_io_ptr(png);
    if (m->len + n > m->cap) {
        m->cap = (m->len + n) * 2;
        if (!(m->p = realloc(m->p, m->cap)))
            abort();
    }
    memcpy(m->p + m->len, data, n);
    m->len += n;
}

static void mem_flush(png_structp png)
{
    (void)png;
}

static uint8_t *png_file(int w, int h, int depth, int ctype, int interlace, size_t *len)
{
    Mem m = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info || setjmp(png_jmpbuf(png)))
        abort();
    png_set_write_fn(png, &m, mem_write, mem_flush);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, ctype, interlace,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (ctype == PNG_COLOR_TYPE_PALETTE) {
        png_color pal[16];
        png_byte alpha[3] = {0, 128, 255};
        for (int i = 0; i < 16; i++)
            pal[i] = (png_color){sample(i, 0, 0), sample(i, 1, 1), sample(i, 2, 2)};
        png_set_PLTE(png, info, pal, 1 << (depth < 4 ? depth : 4));
        png_set_tRNS(png, info, alpha, 3, NULL);
    }
    if (ctype == PNG_COLOR_TYPE_GRAY && depth == 8) {
        png_color_16 key = {0, 0, 0, 0, 23};
        png_set_tRNS(png, info, NULL, 0, &key);
    }
    png_set_gAMA(png, info, 0.45455);
    png_write_info(png, info);
    int channels = png_get_channels(png, info);
    size_t row_bytes = ((size_t)w * channels * depth + 7) / 8;
    uint8_t *row = malloc(row_bytes);
    if (!row)
        abort();
    int passes = png_set_interlace_handling(png);
    for (int pass = 0; pass < passes; pass++)
        for (int y = 0; y < h; y++) {
            /* packed samples: any bit pattern is a valid sample of the depth */
            for (size_t i = 0; i < row_bytes; i++)
                row[i] = sample((int)i, y, 0);
            if (ctype == PNG_COLOR_TYPE_PALETTE && depth == 8) /* 16 palette entries */
                for (size_t i = 0; i < row_bytes; i++)
                    row[i] &= 0x0f;
            png_write_row(png, row);
        }
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    free(row);
    *len = m.len;
    return m.p;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void png_seeds(void)
{
    static const struct {
        const char *name;
        int w, h, depth, ctype, interlace;
    } kinds[] = {
        {"gray8.png", 5, 3, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE},
        {"gray1-adam7.png", 13, 9, 1, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_ADAM7},
        {"gray4.png", 7, 4, 4, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE},
        {"gray16.png", 4, 4, 16, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE},
        {"gray-alpha16.png", 3, 5, 16, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_INTERLACE_NONE},
        {"rgb8.png", 8, 8, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE},
        {"rgb16-adam7.png", 9, 6, 16, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_ADAM7},
        {"rgba8.png", 6, 5, 8, PNG_COLOR_TYPE_RGB_ALPHA, PNG_INTERLACE_NONE},
        {"palette4-trns.png", 10, 3, 4, PNG_COLOR_TYPE_PALETTE, PNG_INTERLACE_NONE},
        {"palette8-adam7.png", 11, 7, 8, PNG_COLOR_TYPE_PALETTE, PNG_INTERLACE_ADAM7},
        {"one-pixel.png", 1, 1, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        size_t len;
        uint8_t *p = png_file(kinds[i].w, kinds[i].h, kinds[i].depth, kinds[i].ctype,
                              kinds[i].interlace, &len);
        image_seed("png", kinds[i].name, p, len);
        free(p);
    }
    /* nearly valid: cut inside the image data, cut before IEND, a damaged IHDR CRC, and a
     * header (CRC made right) declaring 60000 x 60000 */
    size_t len;
    uint8_t *p = png_file(8, 8, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, &len);
    image_seed("png", "cut-in-idat.png", p, len / 2);
    image_seed("png", "cut-before-iend.png", p, len - 12);
    p[29] ^= 0x55;
    image_seed("png", "bad-ihdr-crc.png", p, len);
    p[29] ^= 0x55;
    put_be32(p + 16, 60000);
    put_be32(p + 20, 60000);
    put_be32(p + 29, (uint32_t)crc32(0, p + 12, 17));
    image_seed("png", "declares-3.6gpx.png", p, len);
    free(p);
}

typedef struct {
    int c;              /* 1 gray, 3 RGB, 4 CMYK */
    int w, h;
    int h_samp;         /* luma sampling: 2 = 4:2:0, 1 = 4:4:4 */
    int progressive, restart, arith;
} JpegKind;

static uint8_t *jpeg_file(const JpegKind *k, size_t *len)
{
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr jerr;
    unsigned char *out = NULL;
    unsigned long n = 0;
    ci.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&ci);
    jpeg_mem_dest(&ci, &out, &n);
    ci.image_width = (JDIMENSION)k->w;
    ci.image_height = (JDIMENSION)k->h;
    ci.input_components = k->c;
    ci.in_color_space = k->c == 1 ? JCS_GRAYSCALE : k->c == 3 ? JCS_RGB : JCS_CMYK;
    jpeg_set_defaults(&ci);
    jpeg_set_quality(&ci, 75, TRUE);
    if (k->c == 3) {
        ci.comp_info[0].h_samp_factor = k->h_samp;
        ci.comp_info[0].v_samp_factor = k->h_samp;
    }
    if (k->progressive)
        jpeg_simple_progression(&ci);
    ci.restart_in_rows = k->restart;
    ci.arith_code = k->arith ? TRUE : FALSE;
    jpeg_start_compress(&ci, TRUE);
    uint8_t *row = malloc((size_t)k->w * k->c);
    if (!row)
        abort();
    while (ci.next_scanline < ci.image_height) {
        for (int x = 0; x < k->w; x++)
            for (int c = 0; c < k->c; c++)
                row[x * k->c + c] = sample(x, (int)ci.next_scanline, c);
        JSAMPROW r = row;
        jpeg_write_scanlines(&ci, &r, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    free(row);
    *len = n;
    return out;
}

static void jpeg_seeds(void)
{
    static const struct {
        const char *name;
        JpegKind k;
    } kinds[] = {
        {"gray.jpg", {1, 16, 16, 1, 0, 0, 0}},
        {"rgb420-odd.jpg", {3, 33, 17, 2, 0, 0, 0}},
        {"rgb444.jpg", {3, 8, 8, 1, 0, 0, 0}},
        {"progressive.jpg", {3, 24, 16, 2, 1, 0, 0}},
        {"restart.jpg", {3, 16, 32, 2, 0, 1, 0}},
        {"arithmetic.jpg", {1, 16, 8, 1, 0, 0, 1}},
        {"cmyk.jpg", {4, 8, 8, 1, 0, 0, 0}},
        {"one-pixel.jpg", {3, 1, 1, 1, 0, 0, 0}},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        size_t len;
        uint8_t *p = jpeg_file(&kinds[i].k, &len);
        image_seed("jpeg", kinds[i].name, p, len);
        free(p);
    }
    /* nearly valid: cut inside the scan, cut before the end marker, and a frame header
     * declaring 60000 x 60000 */
    JpegKind rgb = {3, 32, 32, 2, 0, 0, 0};
    size_t len;
    uint8_t *p = jpeg_file(&rgb, &len);
    image_seed("jpeg", "cut-in-scan.jpg", p, len * 3 / 4);
    image_seed("jpeg", "cut-before-eoi.jpg", p, len - 2);
    for (size_t i = 2; i + 9 < len; i++)
        if (p[i] == 0xff && p[i + 1] == 0xc0) {
            p[i + 5] = p[i + 7] = 60000 >> 8;
            p[i + 6] = p[i + 8] = 60000 & 0xff;
            break;
        }
    image_seed("jpeg", "declares-3.6gpx.jpg", p, len);
    free(p);
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
    png_seeds();
    jpeg_seeds();
    return 0;
}
