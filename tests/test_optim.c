/* test_optim.c — each optimiser against a reference written here in double, three steps with
 * a different gradient and learning rate each step, on an array split into a weight-decay
 * span and a no-decay span; LARS's trust ratio including the zero-norm case; the schedule's
 * landmarks; optim_init's validation. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "gs/blas.h"
#include "gs/optim.h"
#include "harness.h"

enum { NP = 9, NSTEPS = 3 };

/* params 0..5 are a weight (decay), 6..8 a bias (no decay) */
static const ParamSpan k_spans[] = {{0, 6, true}, {6, 3, false}};
static const float k_lr[NSTEPS] = {0.1f, 0.05f, 0.02f};

static void start(float p[NP], float g[NSTEPS][NP])
{
    gc_fill(p, NP, 21, -1.0f, 1.0f);
    for (int t = 0; t < NSTEPS; t++)
        gc_fill(g[t], NP, 22 + (unsigned)t, -1.0f, 1.0f);
}

static int decays(int i)
{
    return i < 6;
}

/* runs the optimiser and checks params and the first-moment state after every step
 * against ref_p / ref_m (NSTEPS, NP) */
static void run_and_compare(const OptConfig *cfg, double ref_p[NSTEPS][NP],
                            double ref_m[NSTEPS][NP], double ref_v[NSTEPS][NP], double tol)
{
    Optimizer o;
    GsErr err;
    float p[NP], g[NSTEPS][NP];
    start(p, g);
    if (optim_init(&o, cfg, NP, &err)) {
        CHECK_MSG(0, "optim_init: %s", err.msg);
        return;
    }
    for (int t = 0; t < NSTEPS; t++) {
        optim_step(&o, p, g[t], k_spans, 2, k_lr[t]);
        CHECK_INT_EQ(o.step, t + 1);
        for (int i = 0; i < NP; i++) {
            CHECK_MSG(fabs(p[i] - ref_p[t][i]) <= tol * fmax(1.0, fabs(ref_p[t][i])),
                      "kind %d step %d param %d: %.9g vs %.9g", (int)cfg->kind, t + 1, i,
                      (double)p[i], ref_p[t][i]);
            CHECK_MSG(fabs(o.m[i] - ref_m[t][i]) <= tol * fmax(1.0, fabs(ref_m[t][i])),
                      "kind %d step %d m[%d]: %.9g vs %.9g", (int)cfg->kind, t + 1, i,
                      (double)o.m[i], ref_m[t][i]);
            if (ref_v)
                CHECK_MSG(fabs(o.v[i] - ref_v[t][i]) <= tol * fmax(1.0, fabs(ref_v[t][i])),
                          "kind %d step %d v[%d]: %.9g vs %.9g", (int)cfg->kind, t + 1, i,
                          (double)o.v[i], ref_v[t][i]);
        }
    }
    optim_free(&o);
}

TEST(optim_sgd_reference)
{
    OptConfig cfg = optim_defaults(OPT_SGD);
    cfg.momentum = 0.8f;
    cfg.weight_decay = 0.3f;
    float p0[NP], g[NSTEPS][NP];
    double p[NP], buf[NP], ref_p[NSTEPS][NP], ref_m[NSTEPS][NP];
    start(p0, g);
    for (int i = 0; i < NP; i++)
        p[i] = p0[i];
    for (int t = 0; t < NSTEPS; t++)
        for (int i = 0; i < NP; i++) {
            double d = g[t][i] + (decays(i) ? 0.3 * p[i] : 0.0);
            buf[i] = t == 0 ? d : 0.8 * buf[i] + d;
            p[i] -= (double)k_lr[t] * buf[i];
            ref_p[t][i] = p[i];
            ref_m[t][i] = buf[i];
        }
    run_and_compare(&cfg, ref_p, ref_m, NULL, 2e-6);

    /* plain SGD: momentum 0 is p -= lr (g + wd p) */
    cfg.momentum = 0.0f;
    for (int i = 0; i < NP; i++)
        p[i] = p0[i];
    for (int t = 0; t < NSTEPS; t++)
        for (int i = 0; i < NP; i++) {
            double d = g[t][i] + (decays(i) ? 0.3 * p[i] : 0.0);
            p[i] -= (double)k_lr[t] * d;
            ref_p[t][i] = p[i];
            ref_m[t][i] = d;
        }
    run_and_compare(&cfg, ref_p, ref_m, NULL, 2e-6);
}

static void adam_reference(int decoupled, double wd, double ref_p[NSTEPS][NP],
                           double ref_m[NSTEPS][NP], double ref_v[NSTEPS][NP])
{
    const double b1 = 0.8, b2 = 0.9, eps = 1e-3;
    float p0[NP], g[NSTEPS][NP];
    double p[NP], m[NP] = {0}, v[NP] = {0};
    start(p0, g);
    for (int i = 0; i < NP; i++)
        p[i] = p0[i];
    for (int t = 0; t < NSTEPS; t++) {
        double lr = k_lr[t];
        for (int i = 0; i < NP; i++) {
            double d = g[t][i];
            if (decays(i)) {
                if (decoupled)
                    p[i] *= 1.0 - lr * wd;
                else
                    d += wd * p[i];
            }
            m[i] = b1 * m[i] + (1 - b1) * d;
            v[i] = b2 * v[i] + (1 - b2) * d * d;
            double mhat = m[i] / (1 - pow(b1, t + 1));
            double vhat = v[i] / (1 - pow(b2, t + 1));
            p[i] -= lr * mhat / (sqrt(vhat) + eps);
            ref_p[t][i] = p[i];
            ref_m[t][i] = m[i];
            ref_v[t][i] = v[i];
        }
    }
}

TEST(optim_adam_reference)
{
    /* betas far from 1 and a large eps so that bias correction and eps both matter within
     * three steps (values exact in binary so float and double configs agree) */
    OptConfig cfg = optim_defaults(OPT_ADAM);
    cfg.beta1 = 0.8f;
    cfg.beta2 = 0.9f;
    cfg.eps = 1e-3f;
    cfg.weight_decay = 0.5f;
    double ref_p[NSTEPS][NP], ref_m[NSTEPS][NP], ref_v[NSTEPS][NP];
    adam_reference(0, 0.5, ref_p, ref_m, ref_v);
    run_and_compare(&cfg, ref_p, ref_m, ref_v, 2e-6);
}

TEST(optim_adamw_reference)
{
    OptConfig cfg = optim_defaults(OPT_ADAMW);
    cfg.beta1 = 0.8f;
    cfg.beta2 = 0.9f;
    cfg.eps = 1e-3f;
    cfg.weight_decay = 0.5f;
    double ref_p[NSTEPS][NP], ref_m[NSTEPS][NP], ref_v[NSTEPS][NP];
    adam_reference(1, 0.5, ref_p, ref_m, ref_v);
    run_and_compare(&cfg, ref_p, ref_m, ref_v, 2e-6);
}

TEST(optim_lars_reference)
{
    OptConfig cfg = optim_defaults(OPT_LARS);
    cfg.momentum = 0.9f;
    cfg.weight_decay = 0.25f;
    cfg.trust_coef = 0.5f; /* large, so the trust-scaled update is far above tolerance */
    float p0[NP], g[NSTEPS][NP];
    double p[NP], buf[NP] = {0}, ref_p[NSTEPS][NP], ref_m[NSTEPS][NP];
    start(p0, g);
    for (int i = 0; i < NP; i++)
        p[i] = p0[i];
    for (int t = 0; t < NSTEPS; t++) {
        double lr = k_lr[t], d[NP], pn = 0, gn = 0;
        for (int i = 0; i < NP; i++)
            d[i] = g[t][i] + (decays(i) ? 0.25 * p[i] : 0.0);
        for (int i = 0; i < 6; i++) {
            pn += p[i] * p[i];
            gn += d[i] * d[i];
        }
        double trust = 0.5 * sqrt(pn) / sqrt(gn);
        for (int i = 0; i < NP; i++) {
            buf[i] = 0.9 * buf[i] + lr * (decays(i) ? trust : 1.0) * d[i];
            p[i] -= buf[i];
            ref_p[t][i] = p[i];
            ref_m[t][i] = buf[i];
        }
    }
    run_and_compare(&cfg, ref_p, ref_m, NULL, 2e-6);
}

TEST(optim_lars_trust_ratio_cases)
{
    OptConfig cfg = optim_defaults(OPT_LARS);
    cfg.momentum = 0.0f;
    cfg.weight_decay = 0.0f;
    cfg.trust_coef = 0.01f;
    Optimizer o;
    GsErr err;
    if (optim_init(&o, &cfg, 6, &err)) {
        CHECK_MSG(0, "optim_init: %s", err.msg);
        return;
    }
    /* span 0: |p| = 5, |g| = 0.5 -> trust 0.01 * 10 = 0.1; span 1: p = 0 -> trust 1;
     * span 2: g = 0 -> nothing moves */
    float p[6] = {3, 4, 0, 0, 1, 2};
    float g[6] = {0.3f, 0.4f, 0.6f, -0.8f, 0, 0};
    ParamSpan spans[3] = {{0, 2, true}, {2, 2, true}, {4, 2, true}};
    optim_step(&o, p, g, spans, 3, 2.0f);
    CHECK_CLOSE(p[0], 3 - 2.0 * 0.1 * 0.3, 1e-6);
    CHECK_CLOSE(p[1], 4 - 2.0 * 0.1 * 0.4, 1e-6);
    CHECK_CLOSE(p[2], 0 - 2.0 * 0.6, 1e-6);
    CHECK_CLOSE(p[3], 0 + 2.0 * 0.8, 1e-6);
    CHECK(p[4] == 1.0f && p[5] == 2.0f);
    optim_free(&o);
    CHECK(o.mem == NULL);
}

TEST(optim_null_spans_decay_everything)
{
    OptConfig cfg = optim_defaults(OPT_SGD);
    cfg.momentum = 0.0f;
    cfg.weight_decay = 0.5f;
    Optimizer o;
    GsErr err;
    float p[3] = {1, 2, -4}, g[3] = {0, 0, 0};
    if (optim_init(&o, &cfg, 3, &err)) {
        CHECK_MSG(0, "optim_init: %s", err.msg);
        return;
    }
    optim_step(&o, p, g, NULL, 0, 0.1f);
    CHECK_CLOSE(p[0], 0.95, 1e-7);
    CHECK_CLOSE(p[1], 1.9, 1e-7);
    CHECK_CLOSE(p[2], -3.8, 1e-7);
    optim_free(&o);
}

TEST(optim_large_spans_thread_independent)
{
    /* spans big enough for the parallel loops give the same bits on 1 and 3 threads */
    enum { N = 100000 };
    OptKind kinds[] = {OPT_SGD, OPT_ADAM, OPT_ADAMW, OPT_LARS};
    float *p1 = malloc(sizeof(float) * N), *p3 = malloc(sizeof(float) * N);
    float *g = malloc(sizeof(float) * N);
    int keep = gs_threads_get();
    if (!p1 || !p3 || !g) {
        CHECK_MSG(0, "out of memory");
        free(p1), free(p3), free(g);
        return;
    }
    ParamSpan spans[2] = {{0, 70000, true}, {70000, 30000, false}};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        OptConfig cfg = optim_defaults(kinds[k]);
        cfg.weight_decay = 0.01f;
        Optimizer a, b;
        GsErr err;
        if (optim_init(&a, &cfg, N, &err) || optim_init(&b, &cfg, N, &err)) {
            CHECK_MSG(0, "optim_init: %s", err.msg);
            break;
        }
        gc_fill(p1, N, 31, -1.0f, 1.0f);
        memcpy(p3, p1, sizeof(float) * N);
        for (int t = 0; t < 2; t++) {
            gc_fill(g, N, 32 + (unsigned)t, -1.0f, 1.0f);
            gs_threads_set(1);
            optim_step(&a, p1, g, spans, 2, 0.1f);
            gs_threads_set(3);
            optim_step(&b, p3, g, spans, 2, 0.1f);
        }
        gs_threads_set(keep);
        CHECK_MSG(memcmp(p1, p3, sizeof(float) * N) == 0, "kind %d differs", (int)kinds[k]);
        CHECK(memcmp(a.mem, b.mem, sizeof(float) * optim_state_floats(&a)) == 0);
        optim_free(&a);
        optim_free(&b);
    }
    free(p1), free(p3), free(g);
}

TEST(optim_init_state_and_errors)
{
    Optimizer o;
    GsErr err;
    OptConfig cfg = optim_defaults(OPT_ADAM);
    CHECK_INT_EQ(optim_init(&o, &cfg, 10, &err), 0);
    CHECK_INT_EQ(optim_state_floats(&o), 20);
    CHECK(o.m == o.mem && o.v == o.mem + 10);
    int zero = 1;
    for (int i = 0; i < 20; i++)
        zero &= o.mem[i] == 0.0f;
    CHECK(zero);
    optim_free(&o);
    cfg = optim_defaults(OPT_LARS);
    CHECK_INT_EQ(optim_init(&o, &cfg, 10, &err), 0);
    CHECK_INT_EQ(optim_state_floats(&o), 10);
    CHECK(o.v == NULL);
    optim_free(&o);
    optim_free(&o); /* freeing twice is harmless */

    static const struct {
        OptKind kind;
        const char *field;
        float momentum, beta1, beta2, eps, wd, eta;
        size_t n;
    } bad[] = {
        {OPT_SGD, "n is 0", 0.9f, 0.9f, 0.999f, 1e-8f, 0, 1e-3f, 0},
        {OPT_SGD, "momentum", 1.0f, 0.9f, 0.999f, 1e-8f, 0, 1e-3f, 4},
        {OPT_LARS, "momentum", -0.1f, 0.9f, 0.999f, 1e-8f, 0, 1e-3f, 4},
        {OPT_SGD, "momentum", NAN, 0.9f, 0.999f, 1e-8f, 0, 1e-3f, 4},
        {OPT_ADAM, "beta1", 0.9f, 1.0f, 0.999f, 1e-8f, 0, 1e-3f, 4},
        {OPT_ADAMW, "beta2", 0.9f, 0.9f, -0.5f, 1e-8f, 0, 1e-3f, 4},
        {OPT_ADAM, "eps", 0.9f, 0.9f, 0.999f, 0.0f, 0, 1e-3f, 4},
        {OPT_ADAM, "eps", 0.9f, 0.9f, 0.999f, NAN, 0, 1e-3f, 4},
        {OPT_SGD, "weight_decay", 0.9f, 0.9f, 0.999f, 1e-8f, -1.0f, 1e-3f, 4},
        {OPT_LARS, "trust_coef", 0.9f, 0.9f, 0.999f, 1e-8f, 0, 0.0f, 4},
        {(OptKind)42, "kind", 0.9f, 0.9f, 0.999f, 1e-8f, 0, 1e-3f, 4},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        OptConfig c = optim_defaults(OPT_SGD);
        c.kind = bad[i].kind;
        c.momentum = bad[i].momentum;
        c.beta1 = bad[i].beta1;
        c.beta2 = bad[i].beta2;
        c.eps = bad[i].eps;
        c.weight_decay = bad[i].wd;
        c.trust_coef = bad[i].eta;
        err.msg[0] = '\0';
        CHECK_MSG(optim_init(&o, &c, bad[i].n, &err) == -1, "case %zu accepted", i);
        CHECK_MSG(strstr(err.msg, bad[i].field) != NULL, "case %zu: message '%s' lacks '%s'",
                  i, err.msg, bad[i].field);
        CHECK(o.mem == NULL);
        optim_free(&o);
    }
    /* fields a kind does not use are not held against it */
    cfg = optim_defaults(OPT_SGD);
    cfg.beta1 = 2.0f;
    CHECK_INT_EQ(optim_init(&o, &cfg, 3, &err), 0);
    optim_free(&o);
}

TEST(optim_schedule_landmarks)
{
    Schedule s = {.base_lr = 0.1f, .warmup_steps = 10, .total_steps = 110, .final_lr = 0.001f};
    CHECK_CLOSE(schedule_lr(&s, 0), 0.01, 1e-7);
    CHECK_CLOSE(schedule_lr(&s, 4), 0.05, 1e-7);
    CHECK_CLOSE(schedule_lr(&s, 9), 0.1, 1e-7);   /* last warm-up step reaches base */
    CHECK_CLOSE(schedule_lr(&s, 10), 0.1, 1e-7);  /* cosine starts at base */
    CHECK_CLOSE(schedule_lr(&s, 60), 0.0505, 1e-7); /* midpoint of the cosine */
    /* a quarter of the way through the cosine: cos(pi / 4) */
    CHECK_CLOSE(schedule_lr(&s, 35), 0.001 + 0.5 * 0.099 * (1 + sqrt(0.5)), 1e-7);
    CHECK(schedule_lr(&s, 109) > 0.001f && schedule_lr(&s, 109) < 0.0011f);
    CHECK_CLOSE(schedule_lr(&s, 110), 0.001, 1e-9);
    CHECK_CLOSE(schedule_lr(&s, 100000), 0.001, 1e-9);
    for (long t = 11; t < 110; t++)
        CHECK(schedule_lr(&s, t) <= schedule_lr(&s, t - 1));

    /* no warm-up: cosine from step 0 */
    Schedule nw = {.base_lr = 1.0f, .warmup_steps = 0, .total_steps = 100, .final_lr = 0.0f};
    CHECK_CLOSE(schedule_lr(&nw, 0), 1.0, 1e-7);
    CHECK_CLOSE(schedule_lr(&nw, 50), 0.5, 1e-7);
    CHECK_CLOSE(schedule_lr(&nw, 100), 0.0, 1e-9);

    /* total <= warm-up: warm-up as usual, then final; nothing divides by zero */
    Schedule sh = {.base_lr = 1.0f, .warmup_steps = 10, .total_steps = 5, .final_lr = 0.25f};
    CHECK_CLOSE(schedule_lr(&sh, 3), 0.4, 1e-7);
    CHECK_CLOSE(schedule_lr(&sh, 10), 0.25, 1e-9);
    CHECK_CLOSE(schedule_lr(&sh, 50), 0.25, 1e-9);
    Schedule z = {.base_lr = 1.0f, .warmup_steps = 0, .total_steps = 0, .final_lr = 0.5f};
    CHECK(isfinite(schedule_lr(&z, 0)));
    CHECK_CLOSE(schedule_lr(&z, 0), 0.5, 1e-9);
}

/* Three steps of torch.optim (Debian's PyTorch 1.13.1, CPU) on the 1024 parameters built below,
 * with two param groups (weight_decay 0.01 for the first 640, 0 for the rest) and the float32
 * value of every hyperparameter (float(np.float32(0.9)), ...), as OptConfig holds floats:
 * SGD(momentum=0.9), Adam(betas=(0.9, 0.999), eps=1e-8), AdamW(same); lr 0.1, 0.05, 0.02.
 * Inputs come from an LCG as dyadic fractions, so Python and C build the same floats. Stored:
 * FNV-1a 64 of the final parameters' bytes (bit-for-bit agreement, which depends on using fmaf
 * exactly where ATen fuses) and their sum (to tell a rounding change from a wrong formula).
 * With fewer parameters some of the fused operations never change a rounding and go unchecked. */
static const struct {
    uint64_t fnv;
    double sum;
} k_torch_final[3] = {
    /* SGD */ {0x240bdb7b311dffe2u, 24.72922009578906},
    /* Adam */ {0x78949b55a763e7ebu, 26.862861576955765},
    /* AdamW */ {0x9c4226d65a65501cu, 27.219644264318049},
};

static float lcg_next(uint32_t *s)
{
    *s = (uint32_t)((1103515245u * (uint64_t)*s + 12345u) % (1u << 31));
    return (float)((*s >> 8) & 0xFFFF) / 32768.0f - 1.0f;
}

TEST(optim_matches_torch_bits)
{
    enum { N = 1024, ND = 640 };
    const OptKind kinds[3] = {OPT_SGD, OPT_ADAM, OPT_ADAMW};
    const float lr[3] = {0.1f, 0.05f, 0.02f};
    const ParamSpan spans[2] = {{0, ND, true}, {ND, N - ND, false}};
    for (int k = 0; k < 3; k++) {
        OptConfig cfg = optim_defaults(kinds[k]);
        cfg.momentum = 0.9f;
        cfg.beta1 = 0.9f;
        cfg.beta2 = 0.999f;
        cfg.eps = 1e-8f;
        cfg.weight_decay = 0.01f;
        Optimizer o;
        GsErr err;
        static float p[N], g[3][N];
        uint32_t seed = 12345;
        if (optim_init(&o, &cfg, N, &err)) {
            CHECK_MSG(0, "optim_init: %s", err.msg);
            return;
        }
        for (int i = 0; i < N; i++)
            p[i] = lcg_next(&seed);
        for (int t = 0; t < 3; t++)
            for (int i = 0; i < N; i++)
                g[t][i] = lcg_next(&seed);
        for (int t = 0; t < 3; t++)
            optim_step(&o, p, g[t], spans, 2, lr[t]);
        uint64_t h = 0xcbf29ce484222325u;
        const unsigned char *bytes = (const unsigned char *)p;
        for (size_t i = 0; i < sizeof p; i++)
            h = (h ^ bytes[i]) * 0x100000001b3u;
        double sum = 0;
        for (int i = 0; i < N; i++)
            sum += p[i];
        CHECK_CLOSE(sum, k_torch_final[k].sum, 1e-6);
        CHECK_MSG(h == k_torch_final[k].fnv, "kind %d: parameters are not torch's bits (sum %.17g)",
                  (int)kinds[k], sum);
        optim_free(&o);
    }
}
