/* test_net.c — the network graph and the models: a whole-network finite-difference gradient
 * check of every parameter tensor of a small 3-conv CNN, building errors, inference mode and
 * the shapes of the default models. The residual encoder and the autoencoder, whose ReLU and
 * max-pool kinks spoil finite differences at network scale, are checked against autograd in
 * test_parity.c. */
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "gs/model.h"
#include "harness.h"

typedef struct {
    Model *m;
    const float *x;
    const float *r;
    int B;
} NetCtx;

static double net_loss(void *p)
{
    NetCtx *c = p;
    Net *n = &c->m->net;
    net_forward(n, c->x, c->B, true);
    return gc_dot(net_act(n, c->m->output), c->r, (size_t)c->B * net_node_size(n, c->m->output));
}

/* Checks d(sum out*r)/d(every parameter) of model m on a random batch. */
static void check_model_grads(Model *m, int B, const char *what)
{
    Net *n = &m->net;
    size_t in = net_node_size(n, m->input), out = net_node_size(n, m->output);
    float *x = malloc(sizeof(float) * in * B), *r = malloc(sizeof(float) * out * B);
    CHECK(x && r);
    if (!x || !r)
        goto done;
    gc_fill(x, in * B, 11, 0.0f, 1.0f);
    gc_fill(r, out * B, 12, -1.0f, 1.0f);
    NetCtx ctx = {m, x, r, B};

    net_zero_grad(n);
    net_forward(n, x, B, true);
    /* NaN in every activation gradient first: whatever net_backward_begin leaves unzeroed
     * must be written whole by the one layer reading it (Node.grad_writer), or NaN shows */
    memset(n->dacts, 0xff, sizeof(float) * n->n_acts);
    net_backward_begin(n, B);
    memcpy(net_dact(n, m->output), r, sizeof(float) * out * B);
    net_backward(n, B);
    /* and a second backward over what the first left gives the same gradients exactly */
    float *g1 = malloc(sizeof(float) * n->n_params);
    CHECK(g1 != NULL);
    if (g1) {
        memcpy(g1, n->grads, sizeof(float) * n->n_params);
        net_zero_grad(n);
        net_backward_begin(n, B);
        memcpy(net_dact(n, m->output), r, sizeof(float) * out * B);
        net_backward(n, B);
        CHECK_MSG(memcmp(g1, n->grads, sizeof(float) * n->n_params) == 0,
                  "%s: a second backward gave other gradients", what);
        free(g1);
    }

    /* The floor is a small fraction of the network's largest gradient: a conv bias right
     * before batch-norm has a true gradient of 0, and its float rounding noise must not count. */
    double gmax = 0;
    for (size_t i = 0; i < n->n_params; i++)
        if (fabs(n->grads[i]) > gmax)
            gmax = fabs(n->grads[i]);
    GcOpts o = gc_defaults();
    size_t kinked = 0, checked = 0;
    o.eps = 1e-3;
    o.max_checks = 40;
    o.abs_floor = 2e-3 * gmax;
    o.skip_kinks = true;
    o.kinked = &kinked;
    for (int s = 0; s < n->n_spans; s++) {
        char name[64];
        snprintf(name, sizeof name, "%s span %d", what, s);
        int bad = gradcheck(name, n->params + n->spans[s].offset, n->spans[s].count,
                            n->grads + n->spans[s].offset, net_loss, &ctx, o);
        CHECK_MSG(bad == 0, "%s: %d gradient elements off", name, bad);
        size_t count = n->spans[s].count, every = (count + o.max_checks - 1) / o.max_checks;
        checked += (count + every - 1) / every;
    }
    /* Most elements must be smooth enough to check, or the test would prove nothing. */
    CHECK_MSG(kinked * 5 <= checked, "%s: %zu of %zu elements sit on kinks", what, kinked,
              checked);
    printf("    %s: %zu elements checked, %zu skipped on kinks\n", what, checked, kinked);
done:
    free(x);
    free(r);
}

/* Builds the encoder cfg describes, shrunk to 8x8 inputs, width 2 and a 6-3 head, for a
 * batch of 4, and checks its gradients. */
static void check_small_encoder(EncoderConfig cfg, const char *what)
{
    Model m;
    GsErr err;
    cfg.in_h = cfg.in_w = 8;
    cfg.width = 2;
    cfg.head[0] = 6;
    cfg.head[1] = 3;
    CHECK_MSG(model_build_encoder(&m, &cfg, 4, 5, &err) == 0, "%s", err.msg);
    check_model_grads(&m, 4, what);
    model_free(&m);
}

TEST(net_gradcheck_cnn3_encoder)
{
    check_small_encoder(encoder_cnn3(), "cnn3");
}

/* The residual encoder (adds: buffers two layers write into) and the autoencoder (upsampling,
 * a conv that reads a bn without a relu): the checks above, including the NaN-poisoned
 * activation gradients that only the layers writing them whole may leave unzeroed. */
TEST(net_gradcheck_resnet_and_dae)
{
    Model m;
    GsErr err;
    check_small_encoder(encoder_defaults(), "resnet");
    /* a conv read by a max-pool and then by a bn: backward reaches the bn first, which
     * writes the conv's gradient; the max-pool must add to it */
    Model t = {0};
    net_init(&t.net);
    t.input = net_input(&t.net, 2, 8, 8);
    int c = net_conv(&t.net, t.input, 3, 3, 1, 1, true);
    int up = net_upsample(&t.net, net_maxpool(&t.net, c, 2, 2), 2);
    t.output = net_add(&t.net, net_bn(&t.net, c), up);
    t.feature = t.output;
    CHECK_MSG(net_finalize(&t.net, 3, 7, &err) == 0, "%s", err.msg);
    check_model_grads(&t, 3, "conv read twice");
    model_free(&t);
    DaeConfig dc = dae_defaults();
    dc.in_h = dc.in_w = 8;
    dc.filters[0] = 2;
    dc.filters[1] = 3;
    dc.filters[2] = 4;
    CHECK(model_build_dae(&m, &dc, 3, 6, &err) == 0);
    /* both of its upsamples are read by the conv after them, upsampled (the gradients
     * checked are those of that path) */
    int folded = 0;
    for (int i = 0; i < m.net.n_nodes; i++)
        folded += m.net.nodes[i].kind == NODE_UPSAMPLE && m.net.nodes[i].folded;
    CHECK_INT_EQ(folded, 2);
    check_model_grads(&m, 3, "dae");
    model_free(&m);
}

TEST(net_default_model_shapes)
{
    Model m;
    GsErr err;
    EncoderConfig e = encoder_defaults();
    CHECK(model_build_encoder(&m, &e, 2, 1, &err) == 0);
    CHECK_INT_EQ(net_node_size(&m.net, m.feature), 128);
    CHECK_INT_EQ(net_node_size(&m.net, m.output), 64);
    CHECK_INT_EQ(m.n_head_hidden, 1);
    model_free(&m);

    e = encoder_cnn3();
    CHECK(model_build_encoder(&m, &e, 2, 1, &err) == 0);
    CHECK_INT_EQ(net_node_size(&m.net, m.feature), 128);
    /* conv (w, b), bn (gamma, beta) per block, then two linears (w, b) */
    CHECK_INT_EQ(m.net.n_spans, 3 * 4 + 4);
    CHECK_INT_EQ(m.net.n_params, 1 * 9 * 32 + 32 + 64 + 32 * 9 * 64 + 64 + 128 + 64 * 9 * 128 +
                                     128 + 256 + 128 * 128 + 128 + 128 * 64 + 64);
    model_free(&m);

    DaeConfig d = dae_defaults();
    CHECK(model_build_dae(&m, &d, 2, 1, &err) == 0);
    CHECK_INT_EQ(net_node_size(&m.net, m.output), 28 * 28);
    CHECK_INT_EQ(net_node_size(&m.net, m.feature), 128);
    model_free(&m);
}

TEST(net_build_errors_are_reported)
{
    Net n;
    GsErr err = {{0}};
    net_init(&n);
    int x = net_input(&n, 2, 8, 8);
    int y = net_conv(&n, x, 4, 3, 2, 1, true); /* 4x4 */
    CHECK(net_add(&n, x, y) < 0);              /* shapes differ */
    CHECK(net_relu(&n, y) < 0);                /* sticky after the first error */
    CHECK(net_finalize(&n, 4, 1, &err) < 0);
    CHECK_MSG(strstr(err.msg, "add") != NULL, "message: %s", err.msg);
    net_free(&n);

    net_init(&n);
    x = net_input(&n, 1, 4, 4);
    CHECK(net_conv(&n, x, 4, 7, 1, 0, false) < 0);
    CHECK(net_finalize(&n, 4, 1, &err) < 0);
    CHECK_MSG(strstr(err.msg, "conv") != NULL, "message: %s", err.msg);
    net_free(&n);

    net_init(&n);
    CHECK(net_relu(&n, 3) < 0);
    CHECK(net_finalize(&n, 4, 1, &err) < 0);
    net_free(&n);

    Model m;
    EncoderConfig e = encoder_defaults();
    e.width = 0;
    CHECK(model_build_encoder(&m, &e, 2, 1, &err) < 0);
    CHECK_MSG(strstr(err.msg, "width") != NULL, "message: %s", err.msg);
    e = encoder_cnn3();
    e.n_widths = 2;                      /* 2 widths for 3 stages */
    e.widths[0] = e.widths[1] = 4;
    CHECK(model_build_encoder(&m, &e, 2, 1, &err) < 0);
    CHECK_MSG(strstr(err.msg, "2 widths for 3 stages") != NULL, "message: %s", err.msg);
    e.n_widths = 3;
    e.widths[2] = 0;
    CHECK(model_build_encoder(&m, &e, 2, 1, &err) < 0);
    CHECK_MSG(strstr(err.msg, "widths[2] 0") != NULL, "message: %s", err.msg);
}

/* Stage widths given one by one: each conv has its stage's channels, the feature the last. */
TEST(net_encoder_stage_widths)
{
    Model m;
    GsErr err;
    EncoderConfig e = encoder_cnn3();
    e.n_widths = 3;
    e.widths[0] = 3;
    e.widths[1] = 5;
    e.widths[2] = 11;
    CHECK_MSG(model_build_encoder(&m, &e, 2, 1, &err) == 0, "%s", err.msg);
    CHECK_INT_EQ((int)net_node_size(&m.net, m.feature), 11);
    /* conv weights 3x1x3x3 + 5x3x3x3 + 11x5x3x3, biases, BN scale+shift, head 11->128->64 */
    size_t conv = 3 * 9 + 5 * 3 * 9 + 11 * 5 * 9 + 3 + 5 + 11, bn = 2 * (3 + 5 + 11);
    size_t head = 11 * 128 + 128 + 128 * 64 + 64;
    CHECK_INT_EQ((int)m.net.n_params, (int)(conv + bn + head));
    model_free(&m);
    e.n_widths = 0;                      /* back to doubling from width */
    e.width = 4;
    CHECK(model_build_encoder(&m, &e, 2, 1, &err) == 0);
    CHECK_INT_EQ((int)net_node_size(&m.net, m.feature), 16);
    model_free(&m);
}

TEST(net_inference_uses_running_stats)
{
    Model m;
    GsErr err;
    EncoderConfig e = encoder_cnn3();
    e.in_h = e.in_w = 8;
    e.width = 2;
    CHECK(model_build_encoder(&m, &e, 6, 1, &err) == 0);
    size_t in = net_node_size(&m.net, m.input), out = net_node_size(&m.net, m.output);
    float x[6 * 64], y_one[64], y_batch[64];
    gc_fill(x, 6 * in, 3, 0.0f, 1.0f);
    for (int i = 0; i < 5; i++)
        net_forward(&m.net, x, 6, true);
    /* in inference mode an image's output does not depend on the rest of the batch */
    net_forward(&m.net, x, 1, false);
    memcpy(y_one, net_act(&m.net, m.output), sizeof(float) * out);
    net_forward(&m.net, x, 6, false);
    memcpy(y_batch, net_act(&m.net, m.output), sizeof(float) * out);
    for (size_t i = 0; i < out; i++)
        CHECK_CLOSE(y_one[i], y_batch[i], 1e-6);
    /* while in training mode it does */
    net_forward(&m.net, x, 2, true);
    memcpy(y_one, net_act(&m.net, m.output), sizeof(float) * out);
    net_forward(&m.net, x, 6, true);
    double diff = 0;
    for (size_t i = 0; i < out; i++)
        diff += fabs(y_one[i] - net_act(&m.net, m.output)[i]);
    CHECK(diff > 1e-4);
    model_free(&m);
}
