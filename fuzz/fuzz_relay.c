/* fuzz_relay.c — libFuzzer target `relay`: the daemon's side of the relay (server/service/
 * relay.h), what rank 0 of a multi-process run sends. Input: frames one after another, each a
 * type byte, a little-endian u16 payload length and the payload (cut to what is left); each is
 * applied to a sink that only counts, as the daemon's worker thread applies it, until one is
 * refused or the run's end (a result or an error frame) arrives. A frame that parses must
 * reach the sink with sane values; any other must be refused with a message. Nothing may read
 * outside the payload, whatever its counts say. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../server/service/relay.h"
#include "fuzz.h"

/* what the sink read, summed so the reads are not optimised away (unsigned: wraps) */
static unsigned g_calls;

static void f_progress(void *ctx, const StageProgress *p)
{
    (void)ctx;
    if (p->stage < 0 || p->stage >= STAGE_COUNT)
        fuzz_fail("progress reached the sink with stage %d", p->stage);
    g_calls++;
}
static void f_metric(void *ctx, int stage, int epoch, long step, const char *name, double v)
{
    (void)ctx, (void)epoch, (void)step, (void)v;
    if (stage < 0 || stage >= STAGE_COUNT || !name)
        fuzz_fail("a metric reached the sink with stage %d", stage);
    g_calls += (unsigned)strlen(name);
}
static void f_log(void *ctx, int stage, int epoch, const char *line)
{
    (void)ctx, (void)epoch;
    if (stage < 0 || stage >= STAGE_COUNT || !line)
        fuzz_fail("a log line reached the sink with stage %d", stage);
    g_calls += (unsigned)strlen(line);
}
static int f_ckpt(void *ctx, int stage, int epoch, long step, const void *d, size_t n)
{
    (void)ctx, (void)epoch, (void)step;
    const volatile uint8_t *p = d;
    if (n)
        g_calls += (unsigned)p[0] + p[n - 1]; /* ASan sees a read past the payload */
    return stage == 3;
}
static int f_assign(void *ctx, const int32_t *a, const int32_t *l, int n, int k)
{
    (void)ctx, (void)k;
    if (n < 0)
        fuzz_fail("assignments with n = %d", n);
    if (n)
        g_calls += (unsigned)a[0] + (unsigned)a[n - 1] + (l ? (unsigned)l[n - 1] : 0u);
    return 0;
}
static int f_features(void *ctx, int d, const float *tr, const int32_t *trl, int ntr,
                      const float *te, const int32_t *tel, int nte)
{
    (void)ctx;
    if (d < 0 || ntr < 0 || nte < 0)
        fuzz_fail("features with a negative count");
    if (d && ntr)
        g_calls += (unsigned)isnan(tr[(size_t)ntr * (size_t)d - 1]) + (unsigned)trl[ntr - 1];
    if (d && nte)
        g_calls += (unsigned)isnan(te[(size_t)nte * (size_t)d - 1]) + (unsigned)tel[nte - 1];
    return 0;
}
static void f_hosts(void *ctx, const char *const *hosts, int n)
{
    (void)ctx;
    for (int i = 0; i < n; i++)
        g_calls += (unsigned)strlen(hosts[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Sink sink = {.progress = f_progress, .metric = f_metric, .checkpoint = f_ckpt,
                 .log = f_log, .assignments = f_assign, .features = f_features};
    RelayDaemon d = {.sink = &sink, .hosts = f_hosts};
    size_t at = 0;
    while (at + 3 <= size) {
        uint32_t type = data[at];
        size_t len = (size_t)data[at + 1] | (size_t)data[at + 2] << 8;
        at += 3;
        if (len > size - at)
            len = size - at;
        /* an exact-size copy, as relay_recv hands it over (4-byte aligned, malloc'd) */
        uint8_t *p = malloc(len + 1);
        if (!p)
            return 0;
        memcpy(p, data + at, len);
        p[len] = 0;
        at += len;
        GsErr err = {{0}};
        int rc = relay_apply(&d, type, p, len, &err);
        free(p);
        if (rc != 0 && !err.msg[0])
            fuzz_fail("a %s frame refused without a message", relay_type_name(type));
        if (rc != 0 || d.done)
            break;
    }
    if (d.done && d.ok) {
        char *json = run_result_to_json(&d.res);
        free(json);
        run_result_free(&d.res);
        relay_owned_free(&d.owned);
    }
    return 0;
}
