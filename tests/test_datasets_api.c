/* test_datasets_api.c — the datasets as a user reaches them: a daemon started in-process on
 * port 0 over a data root holding a labelled colour image folder (with a stray image and a
 * text file), an unlabelled gray one, an empty folder, a link leading out of the root, a link
 * to a folder inside it and a plain file; then GET /v1/datasets, /v1/datasets/{name} and its
 * preview.png through real HTTP (figures, classes, bad files, the decoded-cache sizes, the
 * grid's pixels), every refusal (400 bad name, 403 a link out, 404 unknown or not a dataset,
 * 405), what is remembered and when it is forgotten, that nothing on disk changes; and
 * `gsimclr datasets` (the binary, GS_CLI or bin/gsimclr) against the same daemon. */
#define _XOPEN_SOURCE 700 /* mkdtemp, nftw, symlink, fmemopen */
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "apiclient.h"
#include "gs/dataset.h"
#include "gs/image.h"
#include "gs/service.h"
#include "harness.h"

/* ---- the data root ---------------------------------------------------------------------- */

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void mkdirs(const char *root, const char *rel)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    for (char *p = path + strlen(root) + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(path, 0755);
            *p = '/';
        }
    mkdir(path, 0755);
}

typedef struct {
    const uint8_t *px;
    int w, c;
} Rows;

static void rows_fill(void *ctx, long y, uint8_t *row)
{
    Rows *r = ctx;
    memcpy(row, r->px + (size_t)y * (size_t)r->w * (size_t)r->c, (size_t)r->w * (size_t)r->c);
}

/* A w x h PNG of one colour (c = 3: rgb; c = 1: rgb[0]), through the product's encoder. */
static void write_solid_png(const char *root, const char *rel, int w, int h, int c,
                            const uint8_t rgb[3])
{
    uint8_t *px = malloc((size_t)w * (size_t)h * (size_t)c), *png = NULL;
    size_t len = 0;
    GsErr err;
    char path[1024];
    for (int i = 0; px && i < w * h; i++)
        memcpy(px + (size_t)i * (size_t)c, rgb, (size_t)c);
    Rows r = {px, w, c};
    CHECK_MSG(px && image_png_encode(w, h, c, 6, rows_fill, &r, &png, &len, &err) == 0,
              "encoding %s", rel);
    snprintf(path, sizeof path, "%s/%s", root, rel);
    FILE *f = fopen(path, "wb");
    CHECK_MSG(f && png && fwrite(png, 1, len, f) == len, "writing %s", path);
    if (f)
        fclose(f);
    free(png);
    free(px);
}

static const uint8_t RED[3] = {200, 30, 30}, BLUE[3] = {20, 40, 220}, GREEN[3] = {30, 180, 60};

/* root/pics: train/cat 3 red, train/dog 2 blue, test/cat and test/dog 1 each, 20x16 RGB, plus
 * train/stray.png (an image outside any class: bad) and train/notes.txt (not an image);
 * root/loose: 5 gray 12x12, unlabelled; root/empty; root/escape -> /usr/share (outside);
 * root/inner -> pics; root/readme.txt. */
static void make_root(const char *root)
{
    char path[512];
    CHECK(mkdir(root, 0755) == 0);
    mkdirs(root, "pics/train/cat");
    mkdirs(root, "pics/train/dog");
    mkdirs(root, "pics/test/cat");
    mkdirs(root, "pics/test/dog");
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "pics/train/cat/%02d.png", i);
        write_solid_png(root, path, 20, 16, 3, RED);
    }
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "pics/train/dog/%02d.png", i);
        write_solid_png(root, path, 20, 16, 3, BLUE);
    }
    write_solid_png(root, "pics/test/cat/00.png", 20, 16, 3, RED);
    write_solid_png(root, "pics/test/dog/00.png", 20, 16, 3, BLUE);
    write_solid_png(root, "pics/train/stray.png", 20, 16, 3, GREEN);
    mkdirs(root, "loose");
    for (int i = 0; i < 5; i++) {
        const uint8_t gray[3] = {(uint8_t)(40 * i), 0, 0};
        snprintf(path, sizeof path, "loose/%02d.png", i);
        write_solid_png(root, path, 12, 12, 1, gray);
    }
    mkdirs(root, "empty");
    const char *texts[2] = {"pics/train/notes.txt", "readme.txt"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", root, texts[i]);
        FILE *f = fopen(path, "w");
        CHECK(f && fputs("not an image\n", f) >= 0);
        if (f)
            fclose(f);
    }
    snprintf(path, sizeof path, "%s/escape", root);
    CHECK(symlink("/usr/share", path) == 0);
    snprintf(path, sizeof path, "%s/inner", root);
    CHECK(symlink("pics", path) == 0);
}

/* Every path under root with its size and mtime, one line each, in walk order: equal texts,
 * nothing changed. */
static char tree_text[1 << 16];

static int tree_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)flag;
    (void)ftw;
    size_t len = strlen(tree_text);
    snprintf(tree_text + len, sizeof tree_text - len, "%s %lld %lld.%09ld\n", path,
             (long long)sb->st_size, (long long)sb->st_mtim.tv_sec, sb->st_mtim.tv_nsec);
    return 0;
}

static char *tree(const char *root)
{
    tree_text[0] = 0;
    nftw(root, tree_one, 16, FTW_PHYS);
    return strdup(tree_text);
}

/* ---- the daemon ------------------------------------------------------------------------- */

typedef struct {
    char dir[64], root[96], db[96], url[64];
    Service *svc;
    int port;
} Fixture;

static bool fixture_start(Fixture *fx)
{
    GsErr err;
    memset(fx, 0, sizeof *fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/gs_dsapi_XXXXXX");
    if (!mkdtemp(fx->dir)) {
        CHECK_MSG(0, "mkdtemp");
        return false;
    }
    snprintf(fx->root, sizeof fx->root, "%s/root", fx->dir);
    snprintf(fx->db, sizeof fx->db, "%s/db", fx->dir);
    make_root(fx->root);
    ServiceConfig sc;
    service_config_defaults(&sc);
    sc.listen = "127.0.0.1:0";
    sc.data_dir = fx->db;
    sc.data_root = fx->root;
    sc.web_dir = fx->dir;
    sc.examples_dir = "examples";
    if (service_start(&fx->svc, &sc, &err) != 0) {
        CHECK_MSG(0, "service_start: %s", err.msg);
        nftw(fx->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        return false;
    }
    fx->port = service_port(fx->svc);
    snprintf(fx->url, sizeof fx->url, "http://127.0.0.1:%d", fx->port);
    return true;
}

static void fixture_stop(Fixture *fx)
{
    service_stop(fx->svc);
    nftw(fx->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static cJSON *get_json(int port, const char *path, long *status)
{
    ApiResp r;
    apic_request(port, "GET", path, NULL, 0, NULL, &r);
    *status = r.status;
    cJSON *j = cJSON_Parse(r.body);
    CHECK_MSG(j != NULL, "%s: not JSON: %s", path, r.body);
    apic_free(&r);
    return j;
}

static const char *jstr(const cJSON *o, const char *key)
{
    return cJSON_GetStringValue(cJSON_GetObjectItem(o, key));
}

static double jnum(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static const cJSON *by_name(const cJSON *arr, const char *name)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
        if (jstr(it, "name") && strcmp(jstr(it, "name"), name) == 0)
            return it;
    return NULL;
}

/* The status and error code of a GET. */
static void expect_error(int port, const char *path, long status, const char *code,
                         const char *text)
{
    ApiResp r;
    apic_request(port, "GET", path, NULL, 0, NULL, &r);
    CHECK_MSG(r.status == status, "%s: %ld, want %ld: %s", path, r.status, status, r.body);
    cJSON *j = cJSON_Parse(r.body);
    const char *got = cJSON_GetStringValue(
        cJSON_GetObjectItem(cJSON_GetObjectItem(j, "error"), "code"));
    CHECK_MSG(got && strcmp(got, code) == 0, "%s: code %s, want %s", path, got ? got : "-", code);
    CHECK_MSG(!text || strstr(r.body, text), "%s: '%s' not in %s", path, text, r.body);
    cJSON_Delete(j);
    apic_free(&r);
}

/* A PNG answer decoded: 0 and buf filled, or -1. */
static int get_png(int port, const char *path, ImageBuf *buf)
{
    ApiResp r;
    char hdr[64];
    GsErr err;
    apic_request(port, "GET", path, NULL, 0, NULL, &r);
    CHECK_MSG(r.status == 200, "%s: %ld %s", path, r.status, r.body);
    CHECK(apic_header(&r, "Content-Type", hdr, sizeof hdr) && strcmp(hdr, "image/png") == 0);
    FILE *f = r.status == 200 ? fmemopen(r.body, r.len, "rb") : NULL;
    int rc = f ? image_decode(f, path, IMAGE_MAX_PIXELS, 0, buf, &err) : -1;
    CHECK_MSG(rc == 0, "%s: %s", path, f ? err.msg : "no body");
    if (f)
        fclose(f);
    apic_free(&r);
    return rc;
}

/* The RGB pixel at (x, y) of a decoded image. */
static bool pixel_is(const ImageBuf *b, int x, int y, const uint8_t rgb[3])
{
    const uint8_t *p = b->px + ((size_t)y * (size_t)b->w + (size_t)x) * (size_t)b->c;
    for (int k = 0; k < b->c; k++)
        if (abs((int)p[k] - (int)rgb[k]) > 2)
            return false;
    return true;
}

/* The centre of cell (row, col) of a preview grid of side-pixel images drawn scale times. */
static void cell_centre(int row, int col, int side, int scale, int *x, int *y)
{
    *x = (col * (side + 1) + side / 2) * scale;
    *y = (row * (side + 1) + side / 2) * scale;
}

/* ---- the routes ------------------------------------------------------------------------- */

TEST(datasets_api_list_details_preview)
{
    Fixture fx;
    long status;
    if (!fixture_start(&fx))
        return;
    char *before = tree(fx.root);

    /* a decoded cache at size 16, as a run would leave it beside the database */
    DatasetOptions o;
    Dataset tr, te;
    GsErr err;
    dataset_options_defaults(&o);
    o.data_root = fx.root;
    o.cache_dir = fx.db;
    o.size = 16;
    o.skip_bad = true;
    CHECK_MSG(dataset_load("pics", &o, &tr, &te, NULL, &err) == 0, "%s", err.msg);
    dataset_free(&tr);
    dataset_free(&te);

    cJSON *j = get_json(fx.port, "/v1/datasets", &status);
    CHECK_INT_EQ(status, 200);
    const cJSON *list = cJSON_GetObjectItem(j, "datasets");
    /* fashion-mnist first, then the folders by name; a plain file is no dataset */
    const char *order[] = {"fashion-mnist", "empty", "escape", "inner", "loose", "pics"};
    CHECK_INT_EQ(cJSON_GetArraySize(list), 6);
    for (int i = 0; i < 6; i++) {
        const char *got = jstr(cJSON_GetArrayItem(list, i), "name");
        CHECK_MSG(got && strcmp(got, order[i]) == 0, "#%d: %s, want %s", i, got, order[i]);
    }
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(j, "truncated")));
    const cJSON *pics = by_name(list, "pics");
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(pics, "available")));
    CHECK(jstr(pics, "kind") && strcmp(jstr(pics, "kind"), "folder") == 0);
    CHECK_INT_EQ((int)jnum(pics, "classes"), 2);
    CHECK_INT_EQ((int)jnum(pics, "test"), 2);
    CHECK_INT_EQ((int)jnum(pics, "channels"), 3);
    CHECK_INT_EQ((int)jnum(pics, "width"), 20);
    CHECK_INT_EQ((int)jnum(pics, "height"), 16);
    CHECK_INT_EQ((int)jnum(pics, "ignored"), 1);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(pics, "labelled")));
    const cJSON *cached = cJSON_GetObjectItem(pics, "cached");
    CHECK_MSG(cJSON_GetArraySize(cached) == 1 && cJSON_IsNumber(cJSON_GetArrayItem(cached, 0)) &&
                  cJSON_GetArrayItem(cached, 0)->valuedouble == 16,
              "cached: %d sizes", cJSON_GetArraySize(cached));
    char path[256];
    CHECK(jstr(pics, "path") && strstr(jstr(pics, "path"), "/root/pics"));
    const cJSON *loose = by_name(list, "loose");
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(loose, "labelled")));
    CHECK_INT_EQ((int)jnum(loose, "train"), 5);
    CHECK_INT_EQ((int)jnum(loose, "test"), 0);
    CHECK_INT_EQ((int)jnum(loose, "channels"), 1);
    CHECK_INT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(loose, "cached")), 0);
    const cJSON *empty = by_name(list, "empty");
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(empty, "available")));
    CHECK(jstr(empty, "error") && strstr(jstr(empty, "error"), "no images"));
    const cJSON *escape = by_name(list, "escape");
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(escape, "available")));
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(escape, "forbidden")));
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(by_name(list, "inner"), "available")));
    const cJSON *fm = by_name(list, "fashion-mnist");
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(fm, "builtin")));
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(fm, "path")));
    CHECK_INT_EQ((int)jnum(fm, "train"), 60000);
    cJSON_Delete(j);

    /* one dataset: its classes, counts per split, the bad file, the same figures */
    j = get_json(fx.port, "/v1/datasets/pics", &status);
    CHECK_INT_EQ(status, 200);
    const cJSON *names = cJSON_GetObjectItem(j, "class_names");
    CHECK(cJSON_GetArraySize(names) == 2 &&
          strcmp(cJSON_GetArrayItem(names, 0)->valuestring, "cat") == 0 &&
          strcmp(cJSON_GetArrayItem(names, 1)->valuestring, "dog") == 0);
    const cJSON *counts = cJSON_GetObjectItem(j, "class_counts");
    const cJSON *cat = by_name(counts, "cat"), *dog = by_name(counts, "dog");
    CHECK(jnum(cat, "train") == 3 && jnum(cat, "test") == 1);
    CHECK(jnum(dog, "train") == 2 && jnum(dog, "test") == 1);
    const cJSON *bad = cJSON_GetObjectItem(j, "bad_files");
    CHECK_MSG(cJSON_GetArraySize(bad) == 1 &&
                  strncmp(cJSON_GetArrayItem(bad, 0)->valuestring, "train/stray.png: ", 17) == 0,
              "bad_files %s", cJSON_PrintUnformatted(bad));
    CHECK_INT_EQ((int)jnum(j, "classes"), 2);
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(j, "cached")) == 1);
    cJSON_Delete(j);
    j = get_json(fx.port, "/v1/datasets/fashion-mnist", &status);
    CHECK_INT_EQ(status, 200);
    const cJSON *tshirt = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "class_counts"), 0);
    CHECK(jstr(tshirt, "name") && strcmp(jstr(tshirt, "name"), "T-shirt/top") == 0);
    CHECK(jnum(tshirt, "train") == 6000 && jnum(tshirt, "test") == 1000);
    cJSON_Delete(j);
    /* a folder that is no dataset has details saying why; its preview does not exist */
    j = get_json(fx.port, "/v1/datasets/empty", &status);
    CHECK_INT_EQ(status, 200);
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(j, "available")) && jstr(j, "error"));
    cJSON_Delete(j);

    /* refusals */
    expect_error(fx.port, "/v1/datasets/escape", 403, "forbidden", "outside the data root");
    expect_error(fx.port, "/v1/datasets/escape/preview.png", 403, "forbidden", NULL);
    expect_error(fx.port, "/v1/datasets/nope", 404, "not_found", "no dataset nope");
    expect_error(fx.port, "/v1/datasets/readme.txt", 404, "not_found", NULL);
    expect_error(fx.port, "/v1/datasets/empty/preview.png", 404, "not_found", "no images");
    expect_error(fx.port, "/v1/datasets/..", 400, "bad_request", "dataset name");
    expect_error(fx.port, "/v1/datasets/%2e%2e", 400, "bad_request", NULL);
    expect_error(fx.port, "/v1/datasets/.hidden", 400, "bad_request", NULL);
    expect_error(fx.port, "/v1/datasets/a%5cb", 400, "bad_request", NULL);
    expect_error(fx.port, "/v1/datasets/a%01b", 400, "bad_request", NULL);
    expect_error(fx.port, "/v1/datasets/pics/preview.png?per_class=0", 400, "bad_request",
                 "per_class");
    expect_error(fx.port, "/v1/datasets/pics/other", 404, "not_found", "no route");
    ApiResp r;
    apic_json(fx.port, "POST", "/v1/datasets/pics", "{}", NULL, &r);
    CHECK_INT_EQ(r.status, 405);
    apic_free(&r);

    /* the preview: a row per class of 8 cells, the class's images then white; 20x16 images
     * drawn as their centred 16x16 square, 3 times over */
    ImageBuf img = {0};
    const uint8_t white[3] = {255, 255, 255};
    int x, y;
    if (get_png(fx.port, "/v1/datasets/pics/preview.png", &img) == 0) {
        CHECK_MSG(img.w == (8 * 17 - 1) * 3 && img.h == (2 * 17 - 1) * 3 && img.c == 3,
                  "%dx%dx%d", img.w, img.h, img.c);
        for (int col = 0; col < 8; col++) {
            cell_centre(0, col, 16, 3, &x, &y);
            CHECK_MSG(pixel_is(&img, x, y, col < 3 ? RED : white), "cat cell %d", col);
            cell_centre(1, col, 16, 3, &x, &y);
            CHECK_MSG(pixel_is(&img, x, y, col < 2 ? BLUE : white), "dog cell %d", col);
        }
    }
    if (get_png(fx.port, "/v1/datasets/pics/preview.png?per_class=2", &img) == 0)
        CHECK(img.w == (2 * 17 - 1) * 3 && img.h == (2 * 17 - 1) * 3);
    /* unlabelled: just the images, in rows of 8; 12 px drawn 4 times over */
    if (get_png(fx.port, "/v1/datasets/loose/preview.png", &img) == 0) {
        CHECK_MSG(img.w == (5 * 13 - 1) * 4 && img.h == 12 * 4, "%dx%d", img.w, img.h);
        for (int i = 0; i < 5; i++) {
            const uint8_t g[3] = {(uint8_t)(40 * i), (uint8_t)(40 * i), (uint8_t)(40 * i)};
            cell_centre(0, i, 12, 4, &x, &y);
            CHECK_MSG(pixel_is(&img, x, y, g), "loose cell %d", i);
        }
    }

    /* remembered by the folder's stamp: an image rewritten in place (no file added, removed
     * or renamed) is not seen... */
    write_solid_png(fx.root, "pics/train/cat/00.png", 20, 16, 3, GREEN);
    if (get_png(fx.port, "/v1/datasets/pics/preview.png", &img) == 0) {
        cell_centre(0, 0, 16, 3, &x, &y);
        CHECK_MSG(pixel_is(&img, x, y, RED), "the preview was drawn again");
    }
    /* ...until the folder changes: a file added to a class */
    struct timespec pause = {0, 50 * 1000 * 1000};
    nanosleep(&pause, NULL);
    write_solid_png(fx.root, "pics/train/cat/03.png", 20, 16, 3, RED);
    if (get_png(fx.port, "/v1/datasets/pics/preview.png", &img) == 0) {
        cell_centre(0, 0, 16, 3, &x, &y);
        CHECK_MSG(pixel_is(&img, x, y, GREEN), "the preview was not drawn again");
        cell_centre(0, 3, 16, 3, &x, &y);
        CHECK(pixel_is(&img, x, y, RED));
    }
    j = get_json(fx.port, "/v1/datasets/pics", &status);
    CHECK_MSG(jnum(by_name(cJSON_GetObjectItem(j, "class_counts"), "cat"), "train") == 4,
              "the counts were not read again");
    CHECK_INT_EQ((int)jnum(j, "train"), 7);
    cJSON_Delete(j);
    image_buf_free(&img);

    /* nothing the routes did changed the data root (the two writes above aside) */
    unlink(strcat(strcpy(path, fx.root), "/pics/train/cat/03.png"));
    free(before);
    before = tree(fx.root);
    for (int i = 0; i < 3; i++) {
        const char *again[3] = {"/v1/datasets", "/v1/datasets/pics",
                                "/v1/datasets/loose/preview.png?per_class=3"};
        apic_request(fx.port, "GET", again[i], NULL, 0, NULL, &r);
        CHECK_INT_EQ(r.status, 200);
        apic_free(&r);
    }
    char *after = tree(fx.root);
    CHECK_MSG(strcmp(before, after) == 0, "the data root changed:\n%s\n---\n%s", before, after);
    free(before);
    free(after);
    fixture_stop(&fx);
}

/* ---- the client ------------------------------------------------------------------------- */

typedef struct {
    int code;
    char *out, *err;
} Ran;

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = malloc(1 << 16);
    size_t n = f && buf ? fread(buf, 1, (1 << 16) - 1, f) : 0;
    if (buf)
        buf[n] = 0;
    if (f)
        fclose(f);
    return buf;
}

/* bin/gsimclr (or GS_CLI) --server URL ARGS..., its exit code and output. */
static Ran run_cli(const char *url, const char *const *args)
{
    Ran r = {-1, NULL, NULL};
    const char *cli = getenv("GS_CLI") && *getenv("GS_CLI") ? getenv("GS_CLI") : "bin/gsimclr";
    char out[] = "/tmp/gs_dscli_out_XXXXXX", err[] = "/tmp/gs_dscli_err_XXXXXX";
    int fo = mkstemp(out), fe = mkstemp(err);
    const char *argv[32] = {cli, "--server", url};
    int na = 3;
    for (int i = 0; args[i] && na < 31; i++)
        argv[na++] = args[i];
    argv[na] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fo, 1);
        dup2(fe, 2);
        execv(cli, (char *const *)argv);
        _exit(121);
    }
    int st = 0;
    if (pid > 0 && waitpid(pid, &st, 0) == pid)
        r.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    close(fo);
    close(fe);
    r.out = slurp(out);
    r.err = slurp(err);
    unlink(out);
    unlink(err);
    CHECK_MSG(r.code != 121, "could not run %s (make bin/gsimclr, or set GS_CLI)", cli);
    return r;
}

static void ran_free(Ran *r)
{
    free(r->out);
    free(r->err);
}

#define CHECK_RAN(r, want)                                                                   \
    CHECK_MSG((r).code == (want), "exit %d, want %d\nstdout:\n%s\nstderr:\n%s", (r).code,     \
              (want), (r).out, (r).err)

/* The line of text that starts with `start`, copied into line; false when none. */
static bool line_of(const char *text, const char *start, char *line, size_t cap)
{
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, start, strlen(start)) == 0) {
            snprintf(line, cap, "%.*s", (int)strcspn(p, "\n"), p);
            return true;
        }
    return false;
}

/* Whether line holds these words in this order, separated by blanks only. */
static bool columns(const char *line, const char *const *words)
{
    const char *p = line;
    for (int i = 0; words[i]; i++) {
        while (*p == ' ')
            p++;
        size_t n = strlen(words[i]);
        if (strncmp(p, words[i], n) != 0 || (p[n] != ' ' && p[n] != 0))
            return false;
        p += n;
    }
    return true;
}

TEST(datasets_cli)
{
    Fixture fx;
    char line[256];
    if (access(getenv("GS_CLI") && *getenv("GS_CLI") ? getenv("GS_CLI") : "bin/gsimclr",
               X_OK) != 0) {
        CHECK_MSG(0, "bin/gsimclr is missing: run `make bin/gsimclr`, or set GS_CLI");
        return;
    }
    if (!fixture_start(&fx))
        return;

    Ran r = run_cli(fx.url, (const char *[]){"datasets", NULL});
    CHECK_RAN(r, 0);
    CHECK_MSG(line_of(r.out, "NAME ", line, sizeof line) &&
                  columns(line, (const char *[]){"NAME", "KIND", "TRAIN", "TEST", "CLASSES",
                                                 "CH", "SIZE", "CACHED", NULL}),
              "%s", r.out);
    CHECK_MSG(line_of(r.out, "pics ", line, sizeof line) &&
                  columns(line, (const char *[]){"pics", "folder", "6", "2", "2", "3", "20x16",
                                                 "no", NULL}),
              "%s", r.out);
    CHECK_MSG(line_of(r.out, "loose ", line, sizeof line) &&
                  columns(line, (const char *[]){"loose", "folder", "5", "0", "none", "1",
                                                 "12x12", "no", NULL}),
              "%s", r.out);
    CHECK_MSG(line_of(r.out, "fashion-mnist ", line, sizeof line) &&
                  columns(line, (const char *[]){"fashion-mnist", "idx", "60000", "10000", "10",
                                                 "1", "28x28", "-", NULL}),
              "%s", r.out);
    CHECK(line_of(r.out, "escape: ", line, sizeof line) && strstr(line, "outside the data root"));
    CHECK(line_of(r.out, "empty: ", line, sizeof line) && strstr(line, "no images"));
    for (const char *p = r.out; *p; p += strcspn(p, "\n") + (p[strcspn(p, "\n")] != 0))
        CHECK_MSG(strcspn(p, "\n") <= 80 || strncmp(p, "empty: ", 7) == 0,
                  "wider than 80: %.*s", (int)strcspn(p, "\n"), p);
    ran_free(&r);

    r = run_cli(fx.url, (const char *[]){"datasets", "pics", NULL});
    CHECK_RAN(r, 0);
    CHECK(line_of(r.out, "kind ", line, sizeof line) && strstr(line, "folder, labelled"));
    CHECK(line_of(r.out, "images ", line, sizeof line) && strstr(line, "train 6, test 2"));
    CHECK(line_of(r.out, "cat ", line, sizeof line) &&
          columns(line, (const char *[]){"cat", "3", "1", NULL}));
    CHECK(line_of(r.out, "dog ", line, sizeof line) &&
          columns(line, (const char *[]){"dog", "2", "1", NULL}));
    CHECK_MSG(strstr(r.out, "1 bad file") && strstr(r.out, "  train/stray.png: "), "%s", r.out);
    ran_free(&r);

    r = run_cli(fx.url, (const char *[]){"--json", "datasets", "pics", NULL});
    CHECK_RAN(r, 0);
    cJSON *j = cJSON_Parse(r.out);
    CHECK(j && jstr(j, "name") && strcmp(jstr(j, "name"), "pics") == 0 &&
          cJSON_GetArraySize(cJSON_GetObjectItem(j, "class_counts")) == 2);
    cJSON_Delete(j);
    ran_free(&r);

    /* the preview saved is the bytes the route serves */
    char file[160];
    snprintf(file, sizeof file, "%s/p.png", fx.dir);
    r = run_cli(fx.url, (const char *[]){"datasets", "pics", "-o", file, NULL});
    CHECK_RAN(r, 0);
    ran_free(&r);
    ApiResp api;
    apic_request(fx.port, "GET", "/v1/datasets/pics/preview.png", NULL, 0, NULL, &api);
    char *saved = slurp(file);
    struct stat st;
    CHECK(stat(file, &st) == 0 && (size_t)st.st_size == api.len && api.len < (1 << 16) &&
          memcmp(saved, api.body, api.len) == 0);
    free(saved);
    apic_free(&api);

    /* refusals: the daemon's (exit 4, its message) and the command line's (exit 2) */
    r = run_cli(fx.url, (const char *[]){"datasets", "escape", NULL});
    CHECK_RAN(r, 4);
    CHECK(strstr(r.err, "outside the data root") != NULL);
    ran_free(&r);
    r = run_cli(fx.url, (const char *[]){"datasets", "nope", NULL});
    CHECK_RAN(r, 4);
    CHECK(strstr(r.err, "no dataset nope") != NULL);
    ran_free(&r);
    r = run_cli(fx.url, (const char *[]){"datasets", ".x", NULL});
    CHECK_RAN(r, 4);
    CHECK(strstr(r.err, "dataset name \".x\"") != NULL);
    ran_free(&r);
    const char *const usage[][4] = {{"datasets", "..", NULL},
                                    {"datasets", "a/b", NULL},
                                    {"datasets", "pics", "loose", NULL},
                                    {"datasets", "-o", "x.png", NULL}};
    for (int i = 0; i < 4; i++) {
        r = run_cli(fx.url, usage[i]);
        CHECK_RAN(r, 2);
        CHECK_MSG(strncmp(r.err, "gsimclr datasets: ", 18) == 0, "%s", r.err);
        ran_free(&r);
    }
    fixture_stop(&fx);
}
