/* common.c — the helpers of fuzz.h: the process's temporary folder, file writes, gzip
 * wrapping and the tiny run. The harnesses' own code, not the product's: it may abort on its
 * own failures (they are not findings), and it may include zlib.h, which the product reads only
 * through server/data/zfile.c. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "fuzz.h"
#include "gs/rng.h"

static char g_dir[64];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_tmpdir(void)
{
    if (g_dir[0])
        nftw(g_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *fuzz_tmpdir(void)
{
    if (g_dir[0])
        return g_dir;
    struct stat st;
    const char *base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";
    snprintf(g_dir, sizeof g_dir, "%s/gsfuzz-XXXXXX", base);
    if (!mkdtemp(g_dir)) {
        perror("fuzz: mkdtemp");
        abort();
    }
    atexit(remove_tmpdir);
    return g_dir;
}

void fuzz_write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        perror(path);
        abort();
    }
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w <= 0) {
            perror(path);
            abort();
        }
        p += w;
        len -= (size_t)w;
    }
    close(fd);
}

uint8_t *fuzz_gzip(const void *data, size_t len, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    /* windowBits 15 + 16: a gzip header and trailer around the deflate stream */
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
        Z_OK)
        abort();
    size_t cap = deflateBound(&z, (uLong)len) + 32;
    uint8_t *out = malloc(cap);
    if (!out)
        abort();
    z.next_in = (Bytef *)(uintptr_t)data;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END)
        abort();
    *out_len = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

void fuzz_fail(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "\nfuzz: invariant broken: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    abort();
}

void tiny_config(RunConfig *cfg, Method method)
{
    run_config_defaults(cfg);
    cfg->method = method;
    cfg->threads = 1;
    cfg->dae.net.filters[0] = 2;
    cfg->dae.net.n_filters = 1;
    cfg->dae.epochs = 2;
    cfg->dae.batch = 8;
    cfg->kmeans.k = 3;
    cfg->kmeans.n_init = 1;
    cfg->simclr.encoder = encoder_cnn3();
    cfg->simclr.encoder.width = 2;
    cfg->simclr.encoder.n_widths = 0;
    cfg->simclr.encoder.head[0] = 4;
    cfg->simclr.encoder.head[1] = 4;
    cfg->simclr.encoder.n_head = 2;
    cfg->simclr.epochs = 2;
    cfg->simclr.batch = 8;
    cfg->simclr.checkpoint_every = 1;
}

void tiny_dataset(Dataset *ds)
{
    Rng rng;
    memset(ds, 0, sizeof *ds);
    ds->n = TINY_N;
    ds->c = 1;
    ds->h = ds->w = TINY_SIDE;
    ds->pixels = malloc((size_t)TINY_N * TINY_SIDE * TINY_SIDE);
    ds->labels = malloc(sizeof(int32_t) * TINY_N);
    ds->n_classes = TINY_CLASSES;
    if (!ds->pixels || !ds->labels)
        abort();
    rng_seed(&rng, 5);
    for (size_t i = 0; i < (size_t)TINY_N * TINY_SIDE * TINY_SIDE; i++)
        ds->pixels[i] = (uint8_t)rng_below(&rng, 256);
    for (int i = 0; i < TINY_N; i++)
        ds->labels[i] = i % TINY_CLASSES;
}
