/* model.c — the project's networks assembled from net.h nodes according to a small config:
 * the 3-conv reference CNN and the residual CNN (CIFAR stem) with their MLP projection head,
 * and the denoising autoencoder. Building validates the config and reports bad values. */
#include "gs/model.h"

#include <string.h>

EncoderConfig encoder_defaults(void)
{
    EncoderConfig c = {.arch = ARCH_RESNET, .in_c = 1, .in_h = 28, .in_w = 28, .width = 32,
                       .stages = 3, .blocks = 1, .head = {128, 64}, .n_head = 2};
    return c;
}

EncoderConfig encoder_cnn3(void)
{
    EncoderConfig c = {.arch = ARCH_CNN3, .in_c = 1, .in_h = 28, .in_w = 28, .width = 32,
                       .stages = 3, .blocks = 1, .head = {128, 64}, .n_head = 2};
    return c;
}

int encoder_stage_width(const EncoderConfig *cfg, int stage)
{
    return cfg->n_widths > 0 ? cfg->widths[stage] : cfg->width << stage;
}

DaeConfig dae_defaults(void)
{
    DaeConfig c = {.in_c = 1, .in_h = 28, .in_w = 28, .filters = {32, 64, 128}, .n_filters = 3};
    return c;
}

static int conv_bn_relu(Net *n, int x, int c, int stride, bool bias)
{
    x = net_conv(n, x, c, 3, stride, 1, bias);
    x = net_bn(n, x);
    return net_relu(n, x);
}

/* A basic residual block: two 3x3 convs; a 1x1 strided conv + BN on the shortcut when the
 * shape changes. */
static int basic_block(Net *n, int x, int c, int stride)
{
    int y = conv_bn_relu(n, x, c, stride, false);
    y = net_bn(n, net_conv(n, y, c, 3, 1, 1, false));
    int shortcut = x;
    if (x >= 0 && (stride != 1 || n->nodes[x].C != c))
        shortcut = net_bn(n, net_conv(n, x, c, 1, stride, 0, false));
    return net_relu(n, net_add(n, y, shortcut));
}

static int check_input_shape(int c, int h, int w, GsErr *err)
{
    if (c < 1 || c > 4)
        return gs_errf(err, "model: in_c %d outside 1..4", c);
    if (h < 4 || w < 4 || h > 512 || w > 512)
        return gs_errf(err, "model: input %dx%d outside 4..512", h, w);
    return 0;
}

/* Every one of v[0..n) (layer widths) in 1..max; the message names the list and the place. */
static int check_each(const char *what, const int *v, int n, int max, GsErr *err)
{
    for (int i = 0; i < n; i++)
        if (v[i] < 1 || v[i] > max)
            return gs_errf(err, "model: %s[%d] %d outside 1..%d", what, i, v[i], max);
    return 0;
}

int model_build_encoder(Model *m, const EncoderConfig *cfg, int max_batch, uint64_t seed,
                        GsErr *err)
{
    memset(m, 0, sizeof *m);
    net_init(&m->net);
    if (check_input_shape(cfg->in_c, cfg->in_h, cfg->in_w, err))
        return -1;
    if (cfg->width < 1 || cfg->width > 1024)
        return gs_errf(err, "model: width %d outside 1..1024", cfg->width);
    if (cfg->stages < 1 || cfg->stages > MODEL_MAX_STAGES)
        return gs_errf(err, "model: stages %d outside 1..%d", cfg->stages, MODEL_MAX_STAGES);
    if (cfg->n_widths != 0 && cfg->n_widths != cfg->stages)
        return gs_errf(err, "model: %d widths for %d stages", cfg->n_widths, cfg->stages);
    if (check_each("widths", cfg->widths, cfg->n_widths, 1024, err))
        return -1;
    if (cfg->arch == ARCH_RESNET && (cfg->blocks < 1 || cfg->blocks > 16))
        return gs_errf(err, "model: blocks %d outside 1..16", cfg->blocks);
    if (cfg->n_head < 1 || cfg->n_head > MODEL_MAX_HEAD)
        return gs_errf(err, "model: head has %d layers, outside 1..%d", cfg->n_head,
                       MODEL_MAX_HEAD);
    if (check_each("head", cfg->head, cfg->n_head, 8192, err))
        return -1;

    Net *n = &m->net;
    int x = m->input = net_input(n, cfg->in_c, cfg->in_h, cfg->in_w);
    if (cfg->arch == ARCH_CNN3) {
        for (int s = 0; s < cfg->stages; s++) {
            x = conv_bn_relu(n, x, encoder_stage_width(cfg, s), 1, true);
            x = net_maxpool(n, x, 2, 2);
        }
    } else {
        /* CIFAR stem: 3x3 stride 1, no max-pool, so 28x28 inputs keep their detail */
        x = conv_bn_relu(n, x, encoder_stage_width(cfg, 0), 1, false);
        for (int s = 0; s < cfg->stages; s++)
            for (int b = 0; b < cfg->blocks; b++)
                x = basic_block(n, x, encoder_stage_width(cfg, s), (s > 0 && b == 0) ? 2 : 1);
    }
    x = m->feature = net_gap(n, x);
    for (int j = 0; j < cfg->n_head; j++) {
        x = net_linear(n, x, cfg->head[j], true);
        if (j < cfg->n_head - 1) {
            x = net_relu(n, x);
            m->head_hidden[m->n_head_hidden++] = x;
        }
    }
    m->output = x;
    if (net_finalize(n, max_batch, seed, err)) {
        net_free(n);
        return -1;
    }
    return 0;
}

int model_build_dae(Model *m, const DaeConfig *cfg, int max_batch, uint64_t seed, GsErr *err)
{
    bool pooled[MODEL_MAX_STAGES] = {false};

    memset(m, 0, sizeof *m);
    net_init(&m->net);
    if (check_input_shape(cfg->in_c, cfg->in_h, cfg->in_w, err))
        return -1;
    if (cfg->n_filters < 1 || cfg->n_filters > MODEL_MAX_STAGES)
        return gs_errf(err, "model: dae has %d blocks, outside 1..%d", cfg->n_filters,
                       MODEL_MAX_STAGES);
    if (check_each("dae filters", cfg->filters, cfg->n_filters, 1024, err))
        return -1;

    Net *n = &m->net;
    int x = m->input = net_input(n, cfg->in_c, cfg->in_h, cfg->in_w);
    int h = cfg->in_h, w = cfg->in_w;
    /* A block pools only while the plane is even, so the decoder's upsampling restores the
     * exact size (28 -> 14 -> 7, then 7 stays). */
    for (int i = 0; i < cfg->n_filters; i++) {
        x = conv_bn_relu(n, x, cfg->filters[i], 1, false);
        if (h % 2 == 0 && w % 2 == 0 && h >= 4 && w >= 4) {
            x = net_maxpool(n, x, 2, 2);
            pooled[i] = true;
            h /= 2;
            w /= 2;
        }
    }
    m->feature = net_gap(n, x);
    for (int i = cfg->n_filters - 1; i >= 0; i--) {
        if (pooled[i])
            x = net_upsample(n, x, 2);
        x = conv_bn_relu(n, x, cfg->filters[i > 0 ? i - 1 : 0], 1, false);
    }
    x = net_conv(n, x, cfg->in_c, 3, 1, 1, true);
    m->output = net_sigmoid(n, x);
    if (net_finalize(n, max_batch, seed, err)) {
        net_free(n);
        return -1;
    }
    return 0;
}

void model_free(Model *m)
{
    net_free(&m->net);
    memset(m, 0, sizeof *m);
}
