/* embeddings.c — the eval stage's features as .npy files beside the database (see
 * embeddings.h). A set is written into run-ID.tmp/, every file flushed, then the folder is
 * renamed to run-ID: a crash leaves the old set, no set, or a .tmp folder that the next
 * start sweeps away, never a mix. Must not: know HTTP, or hold a file open across calls. */
#define _XOPEN_SOURCE 700 /* fsync, dirfd */
#include "gs/embeddings.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gs/npy.h"

static const char *const FILES[2][2] = {{"train.npy", "train_labels.npy"},
                                        {"test.npy", "test_labels.npy"}};

static int run_dir(char *out, size_t cap, const char *dir, int64_t run, const char *suffix)
{
    int n = snprintf(out, cap, "%s/run-%" PRId64 "%s", dir, run, suffix);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

static int fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* Removes folder path and the set's files in it (nothing else is ever put there). */
static int remove_set(const char *path)
{
    char f[4200];
    for (int s = 0; s < 2; s++)
        for (int l = 0; l < 2; l++) {
            snprintf(f, sizeof f, "%s/%s", path, FILES[s][l]);
            if (unlink(f) != 0 && errno != ENOENT)
                return -1;
        }
    return rmdir(path) == 0 || errno == ENOENT ? 0 : -1;
}

static int write_npy(const char *path, NpyType type, int64_t rows, int64_t cols,
                     const void *data, GsErr *err)
{
    int64_t shape[2] = {rows, cols};
    uint8_t *buf;
    size_t len;
    if (npy_encode(type, shape, cols > 0 ? 2 : 1, data, &buf, &len, err))
        return -1;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        free(buf);
        return gs_errf(err, "embeddings: %s: %s", path, strerror(errno));
    }
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, buf + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    int bad = done < len || fsync(fd) != 0;
    int e = errno;
    free(buf);
    if (close(fd) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    if (bad)
        return gs_errf(err, "embeddings: writing %s: %s", path, strerror(e));
    return 0;
}

/* The labels as int64, what NumPy and PyTorch take as class indices. */
static int write_labels(const char *path, const int32_t *labels, int n, GsErr *err)
{
    int64_t *wide = malloc(sizeof *wide * (size_t)(n > 0 ? n : 1));
    if (!wide)
        return gs_errf(err, "embeddings: out of memory for %d labels", n);
    for (int i = 0; i < n; i++)
        wide[i] = labels[i];
    int rc = write_npy(path, NPY_I64, n, 0, wide, err);
    free(wide);
    return rc;
}

int embeddings_write(const char *dir, int64_t run, int d, const float *train,
                     const int32_t *train_labels, int n_train, const float *test,
                     const int32_t *test_labels, int n_test, GsErr *err)
{
    char tmp[4096], final[4096], f[4200];
    if (d < 1 || n_train < 0 || n_test < 0 || (n_test > 0 && !test))
        return gs_errf(err, "embeddings: %d x %d train and %d test features make no set",
                       n_train, d, n_test);
    if (run_dir(tmp, sizeof tmp, dir, run, ".tmp") || run_dir(final, sizeof final, dir, run, ""))
        return gs_errf(err, "embeddings: the folder name is too long");
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return gs_errf(err, "embeddings: cannot create %s: %s", dir, strerror(errno));
    if (remove_set(tmp) != 0 || mkdir(tmp, 0755) != 0)
        return gs_errf(err, "embeddings: cannot create %s: %s", tmp, strerror(errno));

    const float *feat[2] = {train, test};
    const int32_t *lab[2] = {train_labels, test_labels};
    const int n[2] = {n_train, n_test};
    for (int s = 0; s < 2; s++) {
        if (s == EMB_TEST && !test)
            continue;
        snprintf(f, sizeof f, "%s/%s", tmp, FILES[s][0]);
        if (write_npy(f, NPY_F32, n[s], d, feat[s], err))
            goto fail;
        snprintf(f, sizeof f, "%s/%s", tmp, FILES[s][1]);
        if (lab[s] && write_labels(f, lab[s], n[s], err))
            goto fail;
    }
    /* the new set replaces the old one: rename() cannot replace a folder that is not empty,
     * so the old set goes first (a crash between the two leaves no set, never a mixed one) */
    if (fsync_path(tmp) != 0 || remove_set(final) != 0 || rename(tmp, final) != 0) {
        gs_errf(err, "embeddings: cannot put %s in place: %s", final, strerror(errno));
        goto fail;
    }
    fsync_path(dir);
    return 0;
fail:
    remove_set(tmp);
    return -1;
}

int embeddings_read(const char *dir, int64_t run, EmbSplit split, bool labels, uint8_t **data,
                    size_t *len, GsErr *err)
{
    char path[4200], rd[4096];
    *data = NULL;
    *len = 0;
    if ((unsigned)split > EMB_TEST || run_dir(rd, sizeof rd, dir, run, ""))
        return gs_errf(err, "embeddings: no such split");
    snprintf(path, sizeof path, "%s/%s", rd, FILES[split][labels]);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return errno == ENOENT ? STORE_NOT_FOUND
                               : gs_errf(err, "embeddings: %s: %s", path, strerror(errno));
    struct stat sb;
    uint8_t *buf = NULL;
    if (fstat(fileno(fp), &sb) != 0 || sb.st_size < 0) {
        gs_errf(err, "embeddings: %s: %s", path, strerror(errno));
        goto fail;
    }
    size_t size = (size_t)sb.st_size;
    buf = malloc(size ? size : 1);
    if (!buf) {
        gs_errf(err, "embeddings: out of memory for %zu bytes", size);
        goto fail;
    }
    if (fread(buf, 1, size, fp) != size) {
        gs_errf(err, "embeddings: %s: short read", path);
        goto fail;
    }
    NpyInfo info;
    GsErr why;
    if (npy_parse(buf, size, &info, &why)) {
        gs_errf(err, "embeddings: %s is damaged: %s", path, why.msg);
        goto fail;
    }
    fclose(fp);
    *data = buf;
    *len = size;
    return 0;
fail:
    free(buf);
    fclose(fp);
    return -1;
}

bool embeddings_exist(const char *dir, int64_t run)
{
    char rd[4096];
    struct stat sb;
    return run_dir(rd, sizeof rd, dir, run, "") == 0 && stat(rd, &sb) == 0 &&
           S_ISDIR(sb.st_mode);
}

int embeddings_remove(const char *dir, int64_t run, GsErr *err)
{
    char rd[4096];
    if (run_dir(rd, sizeof rd, dir, run, "") || remove_set(rd) != 0)
        return gs_errf(err, "embeddings: cannot remove the set of run %" PRId64 ": %s", run,
                       strerror(errno));
    return 0;
}

int embeddings_sweep(const char *dir, Store *st, GsErr *err)
{
    DIR *dp = opendir(dir);
    if (!dp)
        return errno == ENOENT ? 0 : gs_errf(err, "embeddings: %s: %s", dir, strerror(errno));
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(dp))) {
        long long id;
        int used = 0;
        if (sscanf(e->d_name, "run-%lld%n", &id, &used) != 1 || id <= 0)
            continue;
        bool tmp = strcmp(e->d_name + used, ".tmp") == 0;
        if (!tmp && e->d_name[used])
            continue;
        StoreRun r = {0};
        GsErr ignored;
        int found = tmp ? STORE_NOT_FOUND : store_run_get(st, id, &r, &ignored);
        store_run_free(&r);
        if (found != STORE_NOT_FOUND)
            continue; /* kept: the run is there (or the store could not say) */
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (remove_set(path) != 0)
            rc = gs_errf(err, "embeddings: cannot remove %s: %s", path, strerror(errno));
    }
    closedir(dp);
    return rc;
}
