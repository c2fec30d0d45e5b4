/* main.c — gsimclrd's entry point. `--run CONFIG.json` runs one job in the foreground
 * without HTTP: it loads the dataset, runs the pipeline, prints progress on stderr and ends
 * with one JSON line of results on stdout. The HTTP service is issue #4. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gs/checkpoint.h"
#include "gs/config.h"
#include "gs/dataset.h"
#include "gs/pipeline.h"

static volatile int g_cancel;

static void on_signal(int sig)
{
    (void)sig;
    g_cancel = 1;
}

typedef struct {
    const char *ckpt_path; /* where checkpoints go, or NULL */
    double last_print;
    int last_stage, last_epoch;
    bool tty;
} RunCtx;

static void on_progress(void *ctx, const StageProgress *p)
{
    RunCtx *c = ctx;
    /* a terminal gets one line redrawn in place; a pipe gets a line per epoch */
    if (!c->tty && p->stage == c->last_stage && p->epoch == c->last_epoch)
        return;
    c->last_stage = p->stage;
    c->last_epoch = p->epoch;
    fprintf(stderr, "%s%-6s epoch %d/%d step %ld/%ld loss %.4f %.0f img/s eta %.0fs%s",
            c->tty ? "\r" : "", STAGE_NAMES[p->stage], p->epoch, p->epochs, p->step, p->steps,
            p->loss, p->items_per_s, isfinite(p->eta_s) ? p->eta_s : 0.0, c->tty ? "" : "\n");
}

static void on_log(void *ctx, const char *line)
{
    RunCtx *c = ctx;
    fprintf(stderr, "%s%s\n", c->tty ? "\r\033[K" : "", line);
}

static int on_checkpoint(void *ctx, int stage, int epoch, const void *data, size_t len)
{
    RunCtx *c = ctx;
    GsErr err;
    (void)stage;
    (void)epoch;
    if (!c->ckpt_path)
        return 0;
    if (ckpt_write_file(c->ckpt_path, data, len, &err)) {
        fprintf(stderr, "gsimclrd: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: gsimclrd --run CONFIG.json [--checkpoint FILE] [--resume] [--data-root DIR]\n"
            "  --run CONFIG.json   run one job in the foreground; last stdout line: results JSON\n"
            "  --checkpoint FILE   store each checkpoint in FILE (atomically replaced)\n"
            "  --resume            continue from FILE (given with --checkpoint) if it exists\n"
            "  --data-root DIR     dataset folders must lie under DIR\n"
            "  --status            what this build holds\n");
    return 2;
}

static int run_job(const char *config_path, const char *ckpt_path, bool resume,
                   const char *data_root)
{
    RunConfig cfg;
    GsErr err;
    Dataset train, test;
    RunResult res;
    size_t resume_len = 0;
    uint8_t *resume_buf = NULL;
    int rc = 1;

    if (run_config_load_file(&cfg, config_path, &err)) {
        fprintf(stderr, "gsimclrd: %s\n", err.msg);
        return 1;
    }
    if (pipeline_load_data(&cfg, data_root, &train, &test, &err)) {
        fprintf(stderr, "gsimclrd: %s\n", err.msg);
        return 1;
    }
    if (resume && ckpt_path && access(ckpt_path, F_OK) == 0 &&
        ckpt_read_file(ckpt_path, &resume_buf, &resume_len, &err)) {
        fprintf(stderr, "gsimclrd: %s\n", err.msg);
        goto done;
    }
    RunCtx ctx = {.ckpt_path = ckpt_path, .last_stage = -1, .tty = isatty(2)};
    Sink sink = {.progress = on_progress,
                 .checkpoint = on_checkpoint,
                 .log = on_log,
                 .ctx = &ctx,
                 .cancel = &g_cancel};
    fprintf(stderr, "gsimclrd: %s on %s: %d train, %d test images, %d threads\n",
            cfg.method == METHOD_GSIMCLR ? "gsimclr" : "simclr", cfg.dataset, train.n, test.n,
            cfg.threads);
    if (pipeline_run(&cfg, &train, &test, &sink, resume_buf, resume_len, &res, &err)) {
        fprintf(stderr, "%sgsimclrd: failed: %s\n", ctx.tty ? "\n" : "", err.msg);
        goto done;
    }
    char *out = run_result_to_json(&res);
    if (ctx.tty)
        fputc('\n', stderr);
    if (out)
        printf("%s\n", out);
    free(out);
    run_result_free(&res);
    rc = out ? 0 : 1;
done:
    free(resume_buf);
    dataset_free(&train);
    dataset_free(&test);
    return rc;
}

int main(int argc, char **argv)
{
    const char *config = NULL, *ckpt = NULL, *data_root = NULL;
    bool resume = false;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--status") == 0) {
            printf("gsimclrd: built: nn core, dataset readers, augmentations, the pipeline\n"
                   "          stages (dae, kmeans, simclr, eval) behind --run.\n"
                   "gsimclrd: not built yet: the HTTP service (issue #4), the CLI and web\n"
                   "          page (issue #5).\n");
            return 0;
        } else if (strcmp(argv[i], "--run") == 0 && i + 1 < argc) {
            config = argv[++i];
        } else if (strcmp(argv[i], "--checkpoint") == 0 && i + 1 < argc) {
            ckpt = argv[++i];
        } else if (strcmp(argv[i], "--data-root") == 0 && i + 1 < argc) {
            data_root = argv[++i];
        } else if (strcmp(argv[i], "--resume") == 0) {
            resume = true;
        } else {
            return usage();
        }
    }
    if (!config)
        return usage();
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    return run_job(config, ckpt, resume, data_root);
}
