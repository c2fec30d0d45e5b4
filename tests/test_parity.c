/* test_parity.c — our layers, NT-Xent and a whole SimCLR training step against PyTorch
 * fixtures (the .gsfx files in tests/fixtures, written by tests/ref/make_fixtures.py).
 * Tensors are compared with max|ours - torch| / max(max|torch|, 1e-6) <= 1e-4 and the measured
 * value is printed, so a drift shows up before it becomes a failure. The only exceptions are
 * quantities that are rounding noise on both sides (conv biases ahead of batch norm, Adam steps
 * on near-zero gradients); each is explained where it is checked. A missing fixture or tensor,
 * or a size that does not match, is a failure, never a skip. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixture.h"
#include "gs/layers.h"
#include "gs/loss.h"
#include "gs/model.h"
#include "gs/model.h"
#include "gs/net.h"
#include "gs/optim.h"
#include "harness.h"

#define PARITY_TOL 1e-4
/* Backward passes must add into their gradients; the buffers start at this value so a pass
 * that overwrites instead of adding fails. */
#define PREFILL 0.25f

static double max_abs(const float *x, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs((double)x[i]) > m)
            m = fabs((double)x[i]);
    return m;
}

/* max|a - b| / max(max|b|, floor); NaN anywhere in a makes it infinite, so NaN fails */
static double rel_err_floor(const float *a, const float *b, size_t n, double floor)
{
    double d = 0, s = max_abs(b, n);
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - (double)b[i]);
        if (isnan(e))
            return INFINITY;
        if (e > d)
            d = e;
    }
    return d / (s > floor ? s : floor);
}

static void expect_rel_at(const char *file, int line, const char *what, const float *ours,
                          const float *ref, size_t n, double tol)
{
    double r = rel_err_floor(ours, ref, n, 1e-6);
    printf("    parity %-26s rel %.2e\n", what, r);
    if (!(r <= tol))
        test_fail_at(file, line, "%s: relative error %.3e > %.1e", what, r, tol);
}
#define EXPECT_REL(what, ours, ref, n) \
    expect_rel_at(__FILE__, __LINE__, what, ours, ref, n, PARITY_TOL)

static void unprefill(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] -= PREFILL;
}

static float *alloc_floats(size_t n, float fill)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    if (p)
        for (size_t i = 0; i < n; i++)
            p[i] = fill;
    return p;
}

static int load_fixture(Fixture *fx, const char *file)
{
    char path[256];
    GsErr err = {{0}};
    snprintf(path, sizeof path, "%s/%s", TEST_FIXTURE_DIR, file);
    if (fixture_load(fx, path, &err) < 0) {
        CHECK_MSG(0, "%s", err.msg);
        return -1;
    }
    return 0;
}

/* The named tensor, which must hold count floats (count 0: any size); reports a failure and
 * returns NULL otherwise. */
static const FxTensor *need(const Fixture *fx, const char *name, size_t count)
{
    GsErr err = {{0}};
    const FxTensor *t = count ? fixture_get_n(fx, name, count, &err) : fixture_get(fx, name, &err);
    CHECK_MSG(t != NULL, "%s", err.msg);
    return t;
}

static const FxTensor *needf(const Fixture *fx, size_t count, const char *fmt, const char *tag)
{
    char name[128];
    snprintf(name, sizeof name, fmt, tag);
    return need(fx, name, count);
}

/* ------------------------------------------------------------------------------------------ */

TEST(parity_fixture_reader)
{
    Fixture fx;
    GsErr err = {{0}};

    CHECK(fixture_load(&fx, TEST_FIXTURE_DIR "/no-such-file.gsfx", &err) < 0);
    CHECK_MSG(strstr(err.msg, "no-such-file.gsfx") != NULL, "error names the file: %s", err.msg);

    /* A small file written here: tensor "s" scalar 2.5, tensor "m" (2, 3) = 0..5. */
    unsigned char good[128];
    size_t n = 0;
#define PUT_U32(v)                                                        \
    do {                                                                  \
        uint32_t v_ = (v);                                                \
        for (int k_ = 0; k_ < 4; k_++)                                    \
            good[n++] = (unsigned char)(v_ >> (8 * k_));                  \
    } while (0)
#define PUT_F32(f)                                                        \
    do {                                                                  \
        float f_ = (f);                                                   \
        uint32_t b_;                                                      \
        memcpy(&b_, &f_, 4);                                              \
        PUT_U32(b_);                                                      \
    } while (0)
    memcpy(good, "GSFX", 4);
    n = 4;
    PUT_U32(1);
    PUT_U32(2);
    PUT_U32(1);
    good[n++] = 's';
    PUT_U32(0);
    PUT_F32(2.5f);
    PUT_U32(1);
    good[n++] = 'm';
    PUT_U32(2);
    PUT_U32(2);
    PUT_U32(3);
    for (int i = 0; i < 6; i++)
        PUT_F32((float)i);
#undef PUT_F32
#undef PUT_U32

    char path[] = "/tmp/gs_fixture_XXXXXX";
    int fd = mkstemp(path);
    CHECK_MSG(fd >= 0, "mkstemp failed");
    if (fd < 0)
        return;
    /* whole file, then cut at every shorter length, then a bad magic */
    for (size_t len = n + 1; len-- > 0;) {
        CHECK(ftruncate(fd, 0) == 0 && lseek(fd, 0, SEEK_SET) == 0);
        CHECK(write(fd, good, len) == (ssize_t)len);
        err.msg[0] = '\0';
        int rc = fixture_load(&fx, path, &err);
        if (len == n) {
            CHECK_MSG(rc == 0, "valid file rejected: %s", err.msg);
            if (rc != 0)
                continue;
            CHECK_INT_EQ(fx.n, 2);
            const FxTensor *s = fixture_get(&fx, "s", &err), *m = fixture_get_n(&fx, "m", 6, &err);
            CHECK(s && s->ndim == 0 && s->count == 1 && s->data[0] == 2.5f);
            CHECK(m && m->ndim == 2 && m->dims[0] == 2 && m->dims[1] == 3 && m->data[5] == 5.0f);
            CHECK(fixture_get(&fx, "zz", &err) == NULL);
            CHECK_MSG(strstr(err.msg, path) && strstr(err.msg, "zz"), "names file and tensor: %s",
                      err.msg);
            CHECK(fixture_get_n(&fx, "m", 5, &err) == NULL);
            fixture_free(&fx);
        } else {
            CHECK_MSG(rc < 0, "file cut to %zu of %zu bytes accepted", len, n);
            CHECK_MSG(strstr(err.msg, path) != NULL, "error names the file: %s", err.msg);
        }
    }
    good[0] = 'X';
    CHECK(ftruncate(fd, 0) == 0 && lseek(fd, 0, SEEK_SET) == 0);
    CHECK(write(fd, good, n) == (ssize_t)n);
    CHECK(fixture_load(&fx, path, &err) < 0);
    CHECK_MSG(strstr(err.msg, "magic") && strstr(err.msg, path), "bad magic: %s", err.msg);
    close(fd);
    unlink(path);
}

/* ------------------------------------------------------------------------------------------ */

static void conv_case(const Fixture *fx, const char *tag)
{
    char what[64];
    const FxTensor *st = needf(fx, 1, "%s.stride", tag), *pd = needf(fx, 1, "%s.pad", tag);
    const FxTensor *x = needf(fx, 0, "%s.x", tag), *w = needf(fx, 0, "%s.w", tag);
    if (!st || !pd || !x || !w)
        return;
    CHECK_MSG(x->ndim == 4 && w->ndim == 4 && w->dims[1] == x->dims[1] && w->dims[2] == w->dims[3],
              "conv2d %s: unexpected fixture shapes", tag);
    if (!(x->ndim == 4 && w->ndim == 4 && w->dims[1] == x->dims[1] && w->dims[2] == w->dims[3]))
        return;
    int B = x->dims[0], Cin = x->dims[1], H = x->dims[2], W = x->dims[3];
    int Cout = w->dims[0], K = w->dims[2];
    ConvShape s;
    CHECK_INT_EQ(conv2d_shape(&s, Cin, H, W, Cout, K, (int)st->data[0], (int)pd->data[0]), 0);
    const FxTensor *out_ref = needf(fx, 0, "%s.out", tag);
    if (!out_ref)
        return;
    CHECK_INT_EQ(s.Ho, out_ref->dims[2]);
    CHECK_INT_EQ(s.Wo, out_ref->dims[3]);
    if (s.Ho != out_ref->dims[2] || s.Wo != out_ref->dims[3])
        return;
    size_t n_out = (size_t)B * Cout * s.Ho * s.Wo, n_w = w->count, n_x = x->count;
    const FxTensor *b = needf(fx, (size_t)Cout, "%s.b", tag);
    const FxTensor *dout = needf(fx, n_out, "%s.dout", tag), *dx_ref = needf(fx, n_x, "%s.dx", tag);
    const FxTensor *dw_ref = needf(fx, n_w, "%s.dw", tag);
    const FxTensor *db_ref = needf(fx, (size_t)Cout, "%s.db", tag);
    out_ref = needf(fx, n_out, "%s.out", tag);
    if (!b || !dout || !dx_ref || !dw_ref || !db_ref || !out_ref)
        return;

    float *ws = alloc_floats(conv2d_ws_floats(&s, B), 0.0f);
    float *out = alloc_floats(n_out, 0.0f), *dx = alloc_floats(n_x, PREFILL);
    float *dw = alloc_floats(n_w, PREFILL), *db = alloc_floats((size_t)Cout, PREFILL);
    float *dw2 = alloc_floats(n_w, 0.0f);
    CHECK(ws && out && dx && dw && db && dw2);
    if (ws && out && dx && dw && db && dw2) {
        conv2d_forward(&s, B, out, x->data, w->data, b->data, ws);
        snprintf(what, sizeof what, "conv2d %s out", tag);
        EXPECT_REL(what, out, out_ref->data, n_out);

        /* without bias the output is the same minus the bias of each channel */
        conv2d_forward(&s, B, out, x->data, w->data, NULL, ws);
        for (size_t i = 0; i < n_out; i++)
            out[i] += b->data[(i / ((size_t)s.Ho * s.Wo)) % (size_t)Cout];
        snprintf(what, sizeof what, "conv2d %s out (no bias)", tag);
        EXPECT_REL(what, out, out_ref->data, n_out);

        conv2d_backward(&s, B, dx, dw, db, dout->data, x->data, w->data, ws);
        unprefill(dx, n_x);
        unprefill(dw, n_w);
        unprefill(db, (size_t)Cout);
        snprintf(what, sizeof what, "conv2d %s dinp", tag);
        EXPECT_REL(what, dx, dx_ref->data, n_x);
        snprintf(what, sizeof what, "conv2d %s dw", tag);
        EXPECT_REL(what, dw, dw_ref->data, n_w);
        snprintf(what, sizeof what, "conv2d %s db", tag);
        EXPECT_REL(what, db, db_ref->data, (size_t)Cout);

        /* NULL gradients are "not wanted"; the weight gradient alone must still be right */
        conv2d_backward(&s, B, NULL, dw2, NULL, dout->data, x->data, w->data, ws);
        snprintf(what, sizeof what, "conv2d %s dw (alone)", tag);
        EXPECT_REL(what, dw2, dw_ref->data, n_w);
    }
    free(ws);
    free(out);
    free(dx);
    free(dw);
    free(db);
    free(dw2);
}

TEST(parity_conv2d)
{
    Fixture fx;
    if (load_fixture(&fx, "conv2d.gsfx") < 0)
        return;
    conv_case(&fx, "a");
    conv_case(&fx, "b");
    fixture_free(&fx);
}

/* ------------------------------------------------------------------------------------------ */

static void bn_case(const Fixture *fx, const char *tag)
{
    char what[64];
    const FxTensor *x = needf(fx, 0, "%s.x", tag);
    const FxTensor *eps = needf(fx, 1, "%s.eps", tag), *mom = needf(fx, 1, "%s.momentum", tag);
    if (!x || !eps || !mom)
        return;
    CHECK_MSG(x->ndim == 4 || x->ndim == 2, "batchnorm %s: x has %d dims", tag, x->ndim);
    if (x->ndim != 4 && x->ndim != 2)
        return;
    int B = x->dims[0], C = x->dims[1], S = x->ndim == 4 ? x->dims[2] * x->dims[3] : 1;
    size_t n = x->count, nc = (size_t)C;
    const FxTensor *gamma = needf(fx, nc, "%s.gamma", tag), *beta = needf(fx, nc, "%s.beta", tag);
    const FxTensor *out_ref = needf(fx, n, "%s.out", tag);
    const FxTensor *mean_ref = needf(fx, nc, "%s.mean", tag);
    const FxTensor *rstd_ref = needf(fx, nc, "%s.rstd", tag);
    const FxTensor *rm_ref = needf(fx, nc, "%s.run_mean", tag);
    const FxTensor *rv_ref = needf(fx, nc, "%s.run_var", tag);
    const FxTensor *dout = needf(fx, n, "%s.dout", tag), *dx_ref = needf(fx, n, "%s.dx", tag);
    const FxTensor *dg_ref = needf(fx, nc, "%s.dgamma", tag);
    const FxTensor *db_ref = needf(fx, nc, "%s.dbeta", tag);
    const FxTensor *x_inf = needf(fx, n, "%s.x_inf", tag);
    const FxTensor *inf_ref = needf(fx, n, "%s.out_inf", tag);
    if (!gamma || !beta || !out_ref || !mean_ref || !rstd_ref || !rm_ref || !rv_ref || !dout ||
        !dx_ref || !dg_ref || !db_ref || !x_inf || !inf_ref)
        return;

    float *out = alloc_floats(n, 0.0f), *dx = alloc_floats(n, PREFILL);
    float *mean = alloc_floats(nc, 0.0f), *rstd = alloc_floats(nc, 0.0f);
    float *rm = alloc_floats(nc, 0.0f), *rv = alloc_floats(nc, 1.0f);
    float *dg = alloc_floats(nc, PREFILL), *dbt = alloc_floats(nc, PREFILL);
    CHECK(out && dx && mean && rstd && rm && rv && dg && dbt);
    if (out && dx && mean && rstd && rm && rv && dg && dbt) {
        batchnorm_forward_train(out, mean, rstd, rm, rv, x->data, gamma->data, beta->data, B, C,
                                S, eps->data[0], mom->data[0]);
#define BN_EXPECT(label, ours, ref, cnt)                                  \
    do {                                                                  \
        snprintf(what, sizeof what, "%s %s", tag, label);                 \
        EXPECT_REL(what, ours, ref, cnt);                                 \
    } while (0)
        BN_EXPECT("out", out, out_ref->data, n);
        BN_EXPECT("saved mean", mean, mean_ref->data, nc);
        BN_EXPECT("saved rstd", rstd, rstd_ref->data, nc);
        BN_EXPECT("running mean", rm, rm_ref->data, nc);
        BN_EXPECT("running var", rv, rv_ref->data, nc);

        batchnorm_backward(dx, dg, dbt, dout->data, x->data, mean, rstd, gamma->data, B, C, S);
        unprefill(dx, n);
        unprefill(dg, nc);
        unprefill(dbt, nc);
        BN_EXPECT("dinp", dx, dx_ref->data, n);
        BN_EXPECT("dgamma", dg, dg_ref->data, nc);
        BN_EXPECT("dbeta", dbt, db_ref->data, nc);

        /* torch's running statistics, so an error here is the inference path's own */
        batchnorm_forward_infer(out, x_inf->data, gamma->data, beta->data, rm_ref->data,
                                rv_ref->data, B, C, S, eps->data[0]);
        BN_EXPECT("inference out", out, inf_ref->data, n);
#undef BN_EXPECT
    }
    free(out);
    free(dx);
    free(mean);
    free(rstd);
    free(rm);
    free(rv);
    free(dg);
    free(dbt);
}

TEST(parity_batchnorm)
{
    Fixture fx;
    if (load_fixture(&fx, "batchnorm.gsfx") < 0)
        return;
    bn_case(&fx, "bn2d");
    bn_case(&fx, "bn1d");
    fixture_free(&fx);
}

/* ------------------------------------------------------------------------------------------ */

TEST(parity_ntxent)
{
    Fixture fx;
    char what[64];
    if (load_fixture(&fx, "ntxent.gsfx") < 0)
        return;
    const FxTensor *z = need(&fx, "z", 0);
    if (!z || z->ndim != 2 || z->dims[0] % 2) {
        CHECK_MSG(0, "ntxent.gsfx: z must be (2N, D)");
        fixture_free(&fx);
        return;
    }
    int N = z->dims[0] / 2, D = z->dims[1];
    size_t nz = z->count;
    float *ws = alloc_floats(ntxent_ws_floats(N, D), 0.0f);
    float *dz = alloc_floats(nz, PREFILL), *dz2 = alloc_floats(nz, 0.0f);
    CHECK(ws && dz && dz2);
    const char *tags[] = {"a", "b"};
    for (int c = 0; c < 2 && ws && dz && dz2; c++) {
        const FxTensor *tau = needf(&fx, 1, "%s.tau", tags[c]);
        const FxTensor *loss_ref = needf(&fx, 1, "%s.loss", tags[c]);
        const FxTensor *dz_ref = needf(&fx, nz, "%s.dz", tags[c]);
        if (!tau || !loss_ref || !dz_ref)
            continue;
        NtXent nt;
        ntxent_bind(&nt, N, D, tau->data[0], ws);
        float loss = ntxent_forward(&nt, z->data);
        snprintf(what, sizeof what, "ntxent tau %g loss", tau->data[0]);
        EXPECT_REL(what, &loss, loss_ref->data, 1);

        for (size_t i = 0; i < nz; i++) {
            dz[i] = PREFILL;
            dz2[i] = 0.0f;
        }
        ntxent_backward(&nt, dz, 1.0f);
        unprefill(dz, nz);
        snprintf(what, sizeof what, "ntxent tau %g dz", tau->data[0]);
        EXPECT_REL(what, dz, dz_ref->data, nz);

        /* the scale multiplies the gradient (a weighted loss or a -1 for ascent) */
        ntxent_backward(&nt, dz2, -0.5f);
        for (size_t i = 0; i < nz; i++)
            dz2[i] *= -2.0f;
        snprintf(what, sizeof what, "ntxent tau %g dz scale", tau->data[0]);
        EXPECT_REL(what, dz2, dz_ref->data, nz);
    }
    free(ws);
    free(dz);
    free(dz2);
    fixture_free(&fx);
}

/* ------------------------------------------------------------------------------------------ */

/* Final parameters after three Adam steps, against torch's float64 run of the same steps.
 * Adam's update g / (sqrt(v) + eps) divides by the gradient's own size, so three steps amplify
 * rounding chaotically in some elements: two float32 runs whose rounding differs end up to
 * 1e-2 of a tensor's scale apart there. Two allowances follow from that, both chosen from
 * torch's runs, never from ours, so a wrong implementation cannot widen them:
 * - elements whose gradient is noise (|torch's step-1 gradient| <= 1e-3 of the tensor's
 *   largest, zeros included: a unit dead at step 1 may wake at step 2 with a gradient of pure
 *   noise) and whole tensors whose gradient is zero in exact arithmetic (a conv bias followed
 *   by batch norm) are held only to what Adam guarantees: in three steps with betas
 *   0.9/0.999 no element moves more than 3.01 lr (Cauchy-Schwarz on m and v);
 * - every other element is held to the usual 1e-4 of the tensor's scale plus four times its
 *   spread: how far five float32 torch runs (one as is, four with the start moved by about
 *   one rounding) landed from the float64 run (tests/ref/make_fixtures.py). The spread is
 *   below 1e-5 of the scale for all but about one element in a hundred. */
static void expect_final_param(int k, const float *ours, const float *ref, const float *init,
                               const float *grad1, size_t n, const FxTensor *spread,
                               bool structural_zero, double lr)
{
    double scale = max_abs(ref, n), gmax = max_abs(grad1, n), bound = 3.05 * lr;
    double worst_tight = 0, worst_move = 0, worst_diff = 0, worst_over = 0;
    size_t loose = 0, spread_rows = spread ? (size_t)spread->count / 2 : 0, r = 0;
    double floor = PARITY_TOL * (scale > 1e-6 ? scale : 1e-6);
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)ours[i] - (double)ref[i]), allow = floor;
        if (isnan(e))
            e = INFINITY;
        /* the rows are sorted by index */
        while (r < spread_rows && spread->data[2 * r] < (float)i)
            r++;
        if (r < spread_rows && spread->data[2 * r] == (float)i)
            allow += 4.0 * spread->data[2 * r + 1];
        if (structural_zero || fabs((double)grad1[i]) <= 1e-3 * gmax) {
            double mv = fabs((double)ours[i] - (double)init[i]);
            if (isnan(mv))
                mv = INFINITY;
            loose++;
            worst_move = mv > worst_move ? mv : worst_move;
            worst_diff = e > worst_diff ? e : worst_diff;
        } else {
            worst_tight = e > worst_tight ? e : worst_tight;
            worst_over = e / allow > worst_over ? e / allow : worst_over;
        }
    }
    printf("    parity final.%-2d (%6zu) rel %.2e, %.2f of its allowance (%zu spread); %zu "
           "noise-limited: moved <= %.1e (bound %.1e), |diff| <= %.1e\n",
           k, n, worst_tight / (scale > 1e-6 ? scale : 1e-6), worst_over, spread_rows, loose,
           worst_move, bound, worst_diff);
    CHECK_MSG(worst_over <= 1.0, "final.%d: an element is %.2f times its allowance away", k,
              worst_over);
    CHECK_MSG(worst_move <= bound, "final.%d: a noise-limited element moved %.3e > %.1e", k,
              worst_move, bound);
}

TEST(parity_simclr_adam_steps)
{
    Fixture fx;
    GsErr err = {{0}};
    Model m;
    Optimizer opt;
    bool have_model = false, have_opt = false;
    float *nt_ws = NULL, *bias_seen = NULL, *rm_adj = NULL;
    char what[64];
    enum { BATCH = 16, STEPS = 3, MAX_BN = 8 };

    memset(&m, 0, sizeof m);
    memset(&opt, 0, sizeof opt);
    if (load_fixture(&fx, "simclr_adam.gsfx") < 0)
        return;
    const FxTensor *x = need(&fx, "x", (size_t)BATCH * 1 * 28 * 28);
    const FxTensor *tau = need(&fx, "tau", 1), *lr = need(&fx, "lr", 1);
    const FxTensor *np = need(&fx, "n_params", 1), *loss_ref = need(&fx, "loss", STEPS);
    if (!x || !tau || !lr || !np || !loss_ref)
        goto out;

    EncoderConfig cfg = encoder_cnn3();
    if (model_build_encoder(&m, &cfg, BATCH, 7, &err) < 0) {
        CHECK_MSG(0, "model_build_encoder: %s", err.msg);
        goto out;
    }
    have_model = true;
    Net *net = &m.net;
    CHECK_MSG(net->nodes[m.input].C == 1 && net->nodes[m.input].H == 28 &&
                  net->nodes[m.input].W == 28,
              "cnn3 input is not (1, 28, 28)");
    CHECK_INT_EQ(net_node_size(net, m.feature), 128);
    CHECK_INT_EQ(net_node_size(net, m.output), 64);
    CHECK_CLOSE(net->bn_eps, 1e-5, 1e-6);
    CHECK_CLOSE(net->bn_momentum, 0.1, 1e-6);
    int n_spans = (int)np->data[0];
    CHECK_MSG(net->n_spans == n_spans, "cnn3 has %d parameter tensors, the fixture %d",
              net->n_spans, n_spans);
    if (net->n_spans != n_spans || net_node_size(net, m.output) != 64)
        goto out;

    /* span k is the k-th parameter tensor in node order, the fixture's order */
    const FxTensor *init[64], *grad1[64], *final[64], *spread[64];
    if (n_spans > 64) {
        CHECK_MSG(0, "more parameter tensors (%d) than this test handles", n_spans);
        goto out;
    }
    bool ok = true;
    for (int k = 0; k < n_spans; k++) {
        size_t cnt = net->spans[k].count;
        char name[32];
        snprintf(name, sizeof name, "init.%d", k);
        init[k] = need(&fx, name, cnt);
        snprintf(name, sizeof name, "grad1.%d", k);
        grad1[k] = need(&fx, name, cnt);
        snprintf(name, sizeof name, "final.%d", k);
        final[k] = need(&fx, name, cnt);
        snprintf(name, sizeof name, "spread.%d", k);
        spread[k] = need(&fx, name, 0);
        if (spread[k] && spread[k]->count % 2 != 0) {
            CHECK_MSG(0, "spread.%d is not a list of (index, spread) rows", k);
            spread[k] = NULL;
        }
        if (!init[k] || !grad1[k] || !final[k] || !spread[k] ||
            net->spans[k].offset + cnt > net->n_params) {
            CHECK_MSG(0, "span %d (offset %zu, %zu floats) does not match the fixture", k,
                      net->spans[k].offset, cnt);
            ok = false;
        }
    }
    if (!ok)
        goto out;
    for (int k = 0; k < n_spans; k++)
        memcpy(net->params + net->spans[k].offset, init[k]->data,
               net->spans[k].count * sizeof(float));

    /* the net's gradient scale: conv biases before BN are measured against it (see below) */
    double gall = 0;
    for (int k = 0; k < n_spans; k++) {
        double g = max_abs(grad1[k]->data, grad1[k]->count);
        gall = g > gall ? g : gall;
    }

    OptConfig oc = optim_defaults(OPT_ADAM);
    CHECK_CLOSE(oc.beta1, 0.9, 1e-7);
    CHECK_CLOSE(oc.beta2, 0.999, 1e-7);
    CHECK_CLOSE(oc.eps, 1e-8, 1e-12);
    oc.weight_decay = 0.0f;  /* torch.optim.Adam's default, whatever ours is */
    if (optim_init(&opt, &oc, net->n_params, &err) < 0) {
        CHECK_MSG(0, "optim_init: %s", err.msg);
        goto out;
    }
    have_opt = true;

    const int N = BATCH / 2, D = 64;
    nt_ws = alloc_floats(ntxent_ws_floats(N, D), 0.0f);
    CHECK(nt_ws != NULL);
    if (!nt_ws)
        goto out;
    NtXent nt;
    ntxent_bind(&nt, N, D, tau->data[0], nt_ws);

    /* Each BN follows a biased conv; remember the bias every forward used (see below). */
    int bn_nodes[MAX_BN], n_bn = 0;
    size_t bias_total = 0;
    for (int i = 0; i < net->n_nodes; i++) {
        const Node *nd = &net->nodes[i];
        if (nd->kind != NODE_BN)
            continue;
        const Node *src = nd->a >= 0 ? &net->nodes[nd->a] : NULL;
        CHECK_MSG(src && src->kind == NODE_CONV && src->bias && n_bn < MAX_BN,
                  "batch norm node %d does not follow a biased conv", i);
        if (!(src && src->kind == NODE_CONV && src->bias && n_bn < MAX_BN))
            goto out;
        bn_nodes[n_bn++] = i;
        bias_total += (size_t)nd->C;
    }
    CHECK_INT_EQ(n_bn, 3);
    bias_seen = alloc_floats(STEPS * bias_total, 0.0f);
    rm_adj = alloc_floats(2 * bias_total, 0.0f);
    CHECK(bias_seen && rm_adj);
    if (!bias_seen || !rm_adj)
        goto out;

    float losses[STEPS];
    for (int step = 0; step < STEPS; step++) {
        for (int b = 0, off = 0; b < n_bn; b++) {
            const Node *nd = &net->nodes[bn_nodes[b]];
            memcpy(bias_seen + step * bias_total + off,
                   net->params + net->nodes[nd->a].b_off, (size_t)nd->C * sizeof(float));
            off += nd->C;
        }
        net_zero_grad(net);
        net_forward(net, x->data, BATCH, true);
        losses[step] = ntxent_forward(&nt, net_act(net, m.output));
        net_backward_begin(net, BATCH);
        ntxent_backward(&nt, net_dact(net, m.output), 1.0f);
        net_backward(net, BATCH);
        if (step == 0) {
            for (int k = 0; k < n_spans; k++) {
                const float *g = net->grads + net->spans[k].offset;
                size_t cnt = net->spans[k].count;
                /* A conv bias followed by BN has a gradient that is exactly zero; both sides
                 * hold rounding noise, so it is measured on the scale of the net's largest
                 * gradient rather than its own. */
                bool structural = max_abs(grad1[k]->data, cnt) <= 1e-4 * gall;
                double r = rel_err_floor(g, grad1[k]->data, cnt, structural ? gall : 1e-6);
                printf("    parity grad1.%-2d (%6zu)%s rel %.2e\n", k, cnt,
                       structural ? " [zero in exact arithmetic]" : "", r);
                CHECK_MSG(r <= PARITY_TOL, "grad1.%d: relative error %.3e > %.1e", k, r,
                          PARITY_TOL);
            }
        }
        optim_step(&opt, net->params, net->grads, net->spans, net->n_spans, lr->data[0]);
    }
    for (int step = 0; step < STEPS; step++) {
        snprintf(what, sizeof what, "loss step %d (%.6f)", step + 1, (double)losses[step]);
        EXPECT_REL(what, &losses[step], &loss_ref->data[step], 1);
    }
    for (int k = 0; k < n_spans; k++) {
        size_t cnt = net->spans[k].count;
        bool structural = max_abs(grad1[k]->data, cnt) <= 1e-4 * gall;
        expect_final_param(k, net->params + net->spans[k].offset, final[k]->data, init[k]->data,
                           grad1[k]->data, cnt, spread[k], structural, lr->data[0]);
    }

    /* Running statistics after three training-mode forwards. The running mean carries the
     * conv bias, whose trajectory is rounding noise (its gradient is zero in exact arithmetic),
     * so each side's own biases, weighted as the momentum weighted them, are taken out first:
     * run_mean = sum_t momentum (1 - momentum)^(STEPS-1-t) batch_mean_t, starting from 0.
     * The running variance does not see the bias and is compared as it is. */
    for (int b = 0, off = 0; b < n_bn; b++) {
        const Node *nd = &net->nodes[bn_nodes[b]];
        size_t C = (size_t)nd->C;
        char name[32];
        snprintf(name, sizeof name, "run_mean.%d", b);
        const FxTensor *rm = need(&fx, name, C);
        snprintf(name, sizeof name, "run_var.%d", b);
        const FxTensor *rv = need(&fx, name, C);
        snprintf(name, sizeof name, "bias_steps.%d", b);
        const FxTensor *bs = need(&fx, name, STEPS * C);
        if (rm && rv && bs) {
            const float *ours = net->buffers + nd->buf_off;
            float *adj_ours = rm_adj, *adj_ref = rm_adj + C;
            for (size_t c = 0; c < C; c++) {
                double mo = ours[c], mr = rm->data[c];
                for (int t = 0; t < STEPS; t++) {
                    double w = net->bn_momentum * pow(1.0 - net->bn_momentum, STEPS - 1 - t);
                    mo -= w * bias_seen[t * bias_total + off + c];
                    mr -= w * bs->data[t * C + c];
                }
                adj_ours[c] = (float)mo;
                adj_ref[c] = (float)mr;
            }
            snprintf(what, sizeof what, "bn %d running mean - bias", b);
            EXPECT_REL(what, adj_ours, adj_ref, C);
            snprintf(what, sizeof what, "bn %d running var", b);
            EXPECT_REL(what, ours + C, rv->data, C);
        }
        off += nd->C;
    }

out:
    free(nt_ws);
    free(bias_seen);
    free(rm_adj);
    if (have_opt)
        optim_free(&opt);
    if (have_model)
        model_free(&m);
    fixture_free(&fx);
}

/* ------------------------------------------------------------------------------------------ */
/* Whole networks: one training-mode forward and backward of a small residual encoder and a
 * small autoencoder for the loss sum(out * r), against autograd. Finite differences cannot
 * check these well (the ReLU and max-pool kinks of a whole network spoil the quotients), so
 * PyTorch is the independent reference for the graph code. */

static void net_parity(Model *m, const char *file)
{
    Fixture fx;
    if (load_fixture(&fx, file))
        return;
    Net *n = &m->net;
    const FxTensor *x = need(&fx, "x", 0), *r = need(&fx, "r", 0), *out = need(&fx, "out", 0);
    const FxTensor *np = need(&fx, "n_params", 1);
    if (!x || !r || !out || !np)
        goto done;
    int B = x->dims[0];
    size_t out_n = net_node_size(n, m->output) * (size_t)B;
    CHECK_INT_EQ((int)np->data[0], n->n_spans);
    CHECK_INT_EQ(x->count, net_node_size(n, m->input) * (size_t)B);
    CHECK_INT_EQ(out->count, out_n);
    CHECK_INT_EQ(r->count, out_n);
    if ((int)np->data[0] != n->n_spans || out->count != out_n || r->count != out_n ||
        x->count != net_node_size(n, m->input) * (size_t)B)
        goto done;
    for (int k = 0; k < n->n_spans; k++) {
        char name[32];
        snprintf(name, sizeof name, "init.%d", k);
        const FxTensor *t = need(&fx, name, n->spans[k].count);
        if (!t)
            goto done;
        memcpy(n->params + n->spans[k].offset, t->data, t->count * sizeof(float));
    }
    for (size_t i = 0; i < n->n_params; i++)
        n->grads[i] = PREFILL;
    net_forward(n, x->data, B, true);
    EXPECT_REL("net output", net_act(n, m->output), out->data, out_n);
    net_backward_begin(n, B);
    memcpy(net_dact(n, m->output), r->data, out_n * sizeof(float));
    net_backward(n, B);
    unprefill(n->grads, n->n_params);
    for (int k = 0; k < n->n_spans; k++) {
        char name[32];
        snprintf(name, sizeof name, "grad.%d", k);
        const FxTensor *t = need(&fx, name, n->spans[k].count);
        if (t)
            EXPECT_REL(name, n->grads + n->spans[k].offset, t->data, t->count);
    }
done:
    fixture_free(&fx);
}

TEST(parity_net_resnet)
{
    EncoderConfig cfg = encoder_defaults();
    Model m;
    GsErr err;
    cfg.in_h = 10;
    cfg.in_w = 8;
    cfg.width = 4;
    cfg.stages = 2;
    cfg.blocks = 2;
    cfg.head[0] = 6;
    cfg.head[1] = 5;
    CHECK(model_build_encoder(&m, &cfg, 6, 1, &err) == 0);
    net_parity(&m, "net_resnet.gsfx");
    model_free(&m);
}

TEST(parity_net_dae)
{
    DaeConfig cfg = dae_defaults();
    Model m;
    GsErr err;
    cfg.in_h = cfg.in_w = 12;
    cfg.filters[0] = 4;
    cfg.filters[1] = 6;
    cfg.filters[2] = 8;
    CHECK(model_build_dae(&m, &cfg, 4, 1, &err) == 0);
    net_parity(&m, "net_dae.gsfx");
    model_free(&m);
}
