/* optim.c — SGD with momentum, Adam, AdamW and LARS over one flat parameter array, and the
 * warm-up + cosine learning-rate schedule. SGD, Adam and AdamW follow PyTorch 1.13's
 * single-tensor code operation by operation in float32, to reproduce torch.optim bit for bit:
 * scalars such as the bias corrections are computed in double and rounded once, as Python
 * does, and fmaf stands wherever ATen's CPU kernels fuse (add with alpha, addcmul; measured
 * against Debian's torch 1.13 on its AVX2 kernels), while addcdiv, mul and div round each
 * operation separately.
 * optim_step never allocates; element-wise loops may run on the OpenMP threads, which cannot
 * change results because each element is updated independently of the others.
 *
 * Per element, with g = grad and decay spans only where marked:
 *   SGD    g += wd p;  buf = g on the first step, else buf = mu buf + g;  p -= lr buf
 *   Adam   g += wd p;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g g;
 *          p += (-lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 *   AdamW  p *= 1 - lr wd;  then Adam with no wd in g
 *   LARS   (SimCLR's lars_optimizer.py, classic momentum, no Nesterov), per span:
 *          decay span:  g = grad + wd p;  trust = eta |p| / |g| if |p| > 0 and |g| > 0, else 1
 *          other spans: g = grad;         trust = 1
 *          buf = mu buf + (lr trust) g;  p -= buf       (buf starts at zero)
 *          |.| is the L2 norm over the span, summed in double. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "gs/optim.h"

/* Below this many elements a span is updated on one thread: the fork costs more. */
#define PAR_MIN 32768
/* M_PI is not in strict C11 */
#define PI 3.14159265358979323846

OptConfig optim_defaults(OptKind kind)
{
    OptConfig c = {
        .kind = kind,
        .momentum = 0.9f,
        .weight_decay = 0.0f,
        .beta1 = 0.9f,
        .beta2 = 0.999f,
        .eps = 1e-8f,
        .trust_coef = 0.001f,
    };
    /* torch.optim.AdamW's default decay, and SimCLR's LARS weight decay */
    if (kind == OPT_ADAMW)
        c.weight_decay = 0.01f;
    else if (kind == OPT_LARS)
        c.weight_decay = 1e-6f;
    return c;
}

static bool uses_adam(OptKind k)
{
    return k == OPT_ADAM || k == OPT_ADAMW;
}

/* in [0, 1); false for NaN */
static bool unit_interval(float x)
{
    return x >= 0.0f && x < 1.0f;
}

static int check_config(const OptConfig *c, GsErr *err)
{
    if (c->kind != OPT_SGD && c->kind != OPT_ADAM && c->kind != OPT_ADAMW &&
        c->kind != OPT_LARS)
        return gs_errf(err, "optimizer: unknown kind %d", (int)c->kind);
    if (!(c->weight_decay >= 0.0f && isfinite(c->weight_decay)))
        return gs_errf(err, "optimizer: weight_decay must be finite and >= 0, got %g",
                       (double)c->weight_decay);
    if ((c->kind == OPT_SGD || c->kind == OPT_LARS) && !unit_interval(c->momentum))
        return gs_errf(err, "optimizer: momentum must be in [0, 1), got %g",
                       (double)c->momentum);
    if (uses_adam(c->kind)) {
        if (!unit_interval(c->beta1))
            return gs_errf(err, "optimizer: beta1 must be in [0, 1), got %g", (double)c->beta1);
        if (!unit_interval(c->beta2))
            return gs_errf(err, "optimizer: beta2 must be in [0, 1), got %g", (double)c->beta2);
        if (!(c->eps > 0.0f && isfinite(c->eps)))
            return gs_errf(err, "optimizer: eps must be finite and > 0, got %g", (double)c->eps);
    }
    if (c->kind == OPT_LARS && !(c->trust_coef > 0.0f && isfinite(c->trust_coef)))
        return gs_errf(err, "optimizer: trust_coef must be finite and > 0, got %g",
                       (double)c->trust_coef);
    return 0;
}

int optim_init(Optimizer *o, const OptConfig *cfg, size_t n, GsErr *err)
{
    *o = (Optimizer){0};
    if (n == 0)
        return gs_errf(err, "optimizer: parameter count n is 0");
    if (check_config(cfg, err))
        return -1;
    size_t per = uses_adam(cfg->kind) ? 2 : 1;
    if (n > SIZE_MAX / sizeof(float) / per)
        return gs_errf(err, "optimizer: %zu parameters overflow the state size", n);
    float *mem = calloc(n * per, sizeof *mem);
    if (!mem)
        return gs_errf(err, "optimizer: out of memory for %zu floats of state", n * per);
    o->cfg = *cfg;
    o->n = n;
    o->step = 0;
    o->mem = mem;
    o->m = mem;
    o->v = per == 2 ? mem + n : NULL;
    return 0;
}

void optim_free(Optimizer *o)
{
    if (!o)
        return;
    free(o->mem);
    *o = (Optimizer){0};
}

size_t optim_state_floats(const Optimizer *o)
{
    return o->v ? 2 * o->n : o->n;
}

static void sgd_span(float *p, const float *grad, float *buf, size_t count, float lr, float wd,
                     float mu, bool first)
{
#pragma omp parallel for schedule(static) if (count >= PAR_MIN)
    for (size_t i = 0; i < count; i++) {
        float g = wd != 0.0f ? fmaf(wd, p[i], grad[i]) : grad[i];
        /* PyTorch keeps no buffer when momentum is 0 and starts it as a copy of g */
        float b = (first || mu == 0.0f) ? g : buf[i] * mu + g;
        buf[i] = b;
        p[i] = fmaf(-lr, b, p[i]);
    }
}

typedef struct {
    float omb1, omb2;   /* 1 - beta1, 1 - beta2 */
    float bc2_sqrt;     /* sqrt(1 - beta2^t) */
    float neg_step;     /* -lr / (1 - beta1^t) */
    float shrink;       /* AdamW's 1 - lr wd */
} AdamScalars;

static void adam_span(float *p, const float *grad, float *m, float *v, size_t count,
                      const OptConfig *c, const AdamScalars *s, float wd, bool decoupled)
{
    const float b1 = c->beta1, b2 = c->beta2, eps = c->eps;
#pragma omp parallel for schedule(static) if (count >= PAR_MIN)
    for (size_t i = 0; i < count; i++) {
        float pi = p[i], g = grad[i];
        if (decoupled)
            pi = pi * s->shrink;
        else if (wd != 0.0f)
            g = fmaf(wd, pi, g);
        float mi = fmaf(s->omb1, g, m[i] * b1);
        float vi = fmaf(s->omb2 * g, g, v[i] * b2);
        float denom = sqrtf(vi) / s->bc2_sqrt + eps;
        m[i] = mi;
        v[i] = vi;
        p[i] = pi + s->neg_step * mi / denom;
    }
}

static void lars_span(float *p, const float *grad, float *buf, size_t count, float lr,
                      const OptConfig *c, bool decay)
{
    const float wd = decay ? c->weight_decay : 0.0f, mu = c->momentum;
    double trust = 1.0;
    if (decay) {
        double pn = 0, gn = 0;
        for (size_t i = 0; i < count; i++) {
            float g = wd != 0.0f ? grad[i] + wd * p[i] : grad[i];
            pn += (double)p[i] * (double)p[i];
            gn += (double)g * (double)g;
        }
        pn = sqrt(pn);
        gn = sqrt(gn);
        if (pn > 0 && gn > 0)
            trust = (double)c->trust_coef * pn / gn;
    }
    const float local_lr = (float)((double)lr * trust);
#pragma omp parallel for schedule(static) if (count >= PAR_MIN)
    for (size_t i = 0; i < count; i++) {
        float g = grad[i];
        if (wd != 0.0f)
            g = g + wd * p[i];
        float b = mu * buf[i] + local_lr * g;
        buf[i] = b;
        p[i] = p[i] - b;
    }
}

/* A NULL or empty span list means one decaying span over all n parameters. Spans are clipped
 * to [0, n); parameters outside every span are left alone. */
void optim_step(Optimizer *o, float *params, const float *grads, const ParamSpan *spans,
                int n_spans, float lr)
{
    const OptConfig *c = &o->cfg;
    const ParamSpan all = {.offset = 0, .count = o->n, .decay = true};
    if (!spans || n_spans <= 0) {
        spans = &all;
        n_spans = 1;
    }
    const bool first = o->step == 0;
    o->step++;

    AdamScalars as = {0};
    if (uses_adam(c->kind)) {
        /* Python evaluates these in double and the float kernels see them rounded once. */
        double t = (double)o->step;
        double bc1 = 1.0 - pow((double)c->beta1, t);
        double bc2 = 1.0 - pow((double)c->beta2, t);
        as.omb1 = (float)(1.0 - (double)c->beta1);
        as.omb2 = (float)(1.0 - (double)c->beta2);
        as.bc2_sqrt = (float)sqrt(bc2);
        as.neg_step = (float)(-((double)lr / bc1));
        as.shrink = (float)(1.0 - (double)lr * (double)c->weight_decay);
    }

    for (int s = 0; s < n_spans; s++) {
        size_t off = spans[s].offset, cnt = spans[s].count;
        if (off >= o->n)
            continue;
        if (cnt > o->n - off)
            cnt = o->n - off;
        bool decay = spans[s].decay;
        float wd = decay ? c->weight_decay : 0.0f;
        float *p = params + off;       // (cnt)
        const float *g = grads + off;  // (cnt)
        float *m = o->m + off;         // (cnt)
        switch (c->kind) {
        case OPT_SGD:
            sgd_span(p, g, m, cnt, lr, wd, c->momentum, first);
            break;
        case OPT_ADAM:
            adam_span(p, g, m, o->v + off, cnt, c, &as, wd, false);
            break;
        case OPT_ADAMW:
            adam_span(p, g, m, o->v + off, cnt, c, &as, 0.0f, decay && wd != 0.0f);
            break;
        case OPT_LARS:
            lars_span(p, g, m, cnt, lr, c, decay);
            break;
        }
    }
}

/* Linear warm-up to base_lr over warmup_steps (step 0 already gets base_lr / warmup), then
 * half a cosine from base_lr to final_lr over the remaining steps, final_lr from total_steps
 * on. A schedule with no room left after warm-up goes straight to final_lr. */
float schedule_lr(const Schedule *s, long step)
{
    const double base = s->base_lr, final = s->final_lr;
    if (step < 0)
        step = 0;
    if (s->warmup_steps > 0 && step < s->warmup_steps)
        return (float)(base * (double)(step + 1) / (double)s->warmup_steps);
    long warm = s->warmup_steps > 0 ? s->warmup_steps : 0;
    long T = s->total_steps - warm;
    long t = step - warm;
    if (T <= 0 || t >= T)
        return (float)final;
    return (float)(final + 0.5 * (base - final) * (1.0 + cos(PI * (double)t / (double)T)));
}
