/* fuzz_ckpt.c — libFuzzer target `ckpt`: the checkpoint reader (ckpt_open, ckpt_find) and the
 * resume path that reads every field of a checkpoint (pipeline_run with a checkpoint: the
 * stage, summary, pseudo-labels, weights, optimiser, RNG and SimCLR position readers of
 * server/pipeline/stage*.c) — the class of bug of issue 11's item 8, a stored double converted
 * to int out of range. Input: a mode byte (bit 0: put the right CRC-32 on the rest before
 * reading, so mutations reach the section walk and the stages' readers rather than stop at the
 * checksum; bit 1: resume a run of method simclr instead of gsimclr), then the checkpoint. The
 * run is the tiny run the seeds were written by (fuzz.h), with its cancel flag raised: a
 * checkpoint that restores stops at the first training step, so nothing trains. Whatever the
 * bytes, the answer is a result or an error with a message. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "gs/checkpoint.h"
#include "gs/pipeline.h"
#include "gs/zfile.h"

static Dataset g_train;
static RunConfig g_cfg[2];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    tiny_dataset(&g_train);
    tiny_config(&g_cfg[0], METHOD_GSIMCLR);
    tiny_config(&g_cfg[1], METHOD_SIMCLR);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int mode = data[0];
    size_t len = size - 1;
    /* an exact-size copy, so ASan sees a read one byte past the end */
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return 0;
    memcpy(buf, data + 1, len);
    if ((mode & 1) && len >= 4) {
        uint32_t crc = zfile_crc32(buf, len - 4);
        for (int i = 0; i < 4; i++)
            buf[len - 4 + (size_t)i] = (uint8_t)(crc >> (8 * i));
    }
    CkptReader r;
    GsErr err;
    err.msg[0] = 0;
    if (ckpt_open(&r, buf, len, &err) == 0) {
        /* every section the walk finds by name is inside the buffer */
        static const char *const names[] = {"stage", "summary", "assign", "sizes", "rng",
                                            "simclr.position"};
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
            size_t bytes = 0;
            const uint8_t *p = ckpt_find(&r, names[i], &bytes, NULL);
            if (p && (p < buf || p + bytes > buf + len))
                fuzz_fail("section %s lies outside the checkpoint", names[i]);
            volatile uint8_t sum = 0;
            for (size_t b = 0; p && b < bytes; b++)
                sum ^= p[b];
            (void)sum;
        }
    } else if (!err.msg[0]) {
        fuzz_fail("ckpt_open refused without a message");
    }

    RunResult res;
    atomic_int cancel = 1;
    Sink sink = {.cancel = &cancel};
    err.msg[0] = 0;
    int rc = pipeline_run(&g_cfg[(mode >> 1) & 1], &g_train, NULL, &sink, buf, len, &res, &err);
    if (rc != 0 && !err.msg[0])
        fuzz_fail("pipeline_run refused a checkpoint without a message");
    if (rc == 0 && res.assign)
        for (int i = 0; i < res.n_train; i++)
            if (res.assign[i] < 0 || res.assign[i] >= res.k)
                fuzz_fail("a resumed run has pseudo-label %d outside [0, %d)", res.assign[i],
                          res.k);
    run_result_free(&res);
    free(buf);
    return 0;
}
