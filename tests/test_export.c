/* test_export.c — the export formats without the daemon: .npy files (header bytes as NumPy
 * writes them, round trips, every malformed header refused), and the ONNX exporter: a small
 * trained run's encoder decoded back with protobuf-c into the expected graph (operators,
 * attributes, shapes, names, initialisers equal to the checkpoint's weights bit for bit), a
 * residual encoder from a checkpoint that predates the recorded input shape, and the
 * checkpoints it must refuse. */
#define _GNU_SOURCE /* memmem */
#include <onnx.pb-c.h>
#include <stdlib.h>
#include <string.h>

#include "gs/checkpoint.h"
#include "gs/config.h"
#include "gs/dataset.h"
#include "gs/export_onnx.h"
#include "gs/model.h"
#include "gs/npy.h"
#include "gs/pipeline.h"
#include "harness.h"

/* ---- npy -------------------------------------------------------------------------------- */

TEST(npy_header_is_numpys)
{
    float a[6] = {1, 2, 3, 4, 5, -0.5f};
    int64_t shape[2] = {2, 3};
    uint8_t *buf;
    size_t len;
    GsErr err;
    CHECK(npy_encode(NPY_F32, shape, 2, a, &buf, &len, &err) == 0);
    /* byte for byte what numpy.save (1.24) writes for np.float32 of shape (2, 3): the dict,
     * spaces up to a 128-byte header, a newline */
    const char want[] = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    CHECK_INT_EQ(len, 128 + sizeof a);
    CHECK(memcmp(buf, "\x93NUMPY\x01\x00", 8) == 0);
    CHECK_INT_EQ(buf[8] | buf[9] << 8, 128 - 10);
    CHECK(memcmp(buf + 10, want, sizeof want - 1) == 0);
    CHECK(buf[127] == '\n' && buf[126] == ' ' && buf[10 + sizeof want - 1] == ' ');
    CHECK(memcmp(buf + 128, a, sizeof a) == 0);
    NpyInfo info;
    CHECK(npy_parse(buf, len, &info, &err) == 0);
    CHECK(info.type == NPY_F32 && info.ndim == 2 && info.shape[0] == 2 && info.shape[1] == 3);
    CHECK_INT_EQ(info.data_offset, 128);
    CHECK_INT_EQ(info.data_bytes, sizeof a);
    free(buf);

    /* a vector is (n,) and int64 is <i8; an empty one is allowed */
    int64_t v[3] = {7, -1, 1LL << 40}, n3[1] = {3}, n0[1] = {0};
    CHECK(npy_encode(NPY_I64, n3, 1, v, &buf, &len, &err) == 0);
    CHECK(strstr((char *)buf + 10, "'descr': '<i8'") && strstr((char *)buf + 10, "(3,)"));
    CHECK(npy_parse(buf, len, &info, &err) == 0 && info.ndim == 1 && info.shape[0] == 3);
    CHECK(memcmp(buf + info.data_offset, v, sizeof v) == 0);
    free(buf);
    CHECK(npy_encode(NPY_I32, n0, 1, NULL, &buf, &len, &err) == 0);
    CHECK(len == 128 && npy_parse(buf, len, &info, &err) == 0 && info.shape[0] == 0);
    free(buf);
    /* what it cannot write */
    CHECK(npy_encode(NPY_F32, shape, 0, a, &buf, &len, &err) == -1 && !buf);
    int64_t neg[1] = {-1};
    CHECK(npy_encode(NPY_F32, neg, 1, a, &buf, &len, &err) == -1 && !buf);
}

TEST(npy_parse_refuses_what_it_did_not_write)
{
    float a[4] = {0};
    int64_t shape[2] = {2, 2};
    uint8_t *good;
    size_t len;
    GsErr err;
    NpyInfo info;
    CHECK(npy_encode(NPY_F32, shape, 2, a, &good, &len, &err) == 0);
    uint8_t *b = malloc(len + 8);
    if (!b)
        return;
    struct {
        const char *what, *from, *to; /* header text replaced (same length) */
        long cut;                     /* or bytes removed (< 0) / added (> 0) at the end */
        const char *msg;
    } cases[] = {
        {"magic", "\x93NUMPY", "\x93NUMPX", 0, "magic"},
        {"descr", "'<f4'", "'>f4'", 0, "element type"},
        {"descr f8", "'<f4'", "'<f8'", 0, "element type"},
        {"fortran", "False", "True ", 0, "C-order"},
        {"shape", "(2, 2)", "(2, x)", 0, "shape"},
        {"truncated", NULL, NULL, -1, "truncated"},
        {"trailing", NULL, NULL, 4, "trailing"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memcpy(b, good, len);
        size_t n = len;
        if (cases[i].from) {
            char *at = memmem(b, len, cases[i].from, strlen(cases[i].from));
            CHECK(at != NULL);
            if (at)
                memcpy(at, cases[i].to, strlen(cases[i].to));
        } else {
            n = (size_t)((long)len + cases[i].cut);
        }
        err.msg[0] = 0;
        CHECK_MSG(npy_parse(b, n, &info, &err) == -1 && strstr(err.msg, cases[i].msg),
                  "%s: %s", cases[i].what, err.msg);
    }
    memcpy(b, good, len);
    b[6] = 2; /* version 2.0 has a 4-byte header length */
    CHECK(npy_parse(b, len, &info, &err) == -1 && strstr(err.msg, "version 2.0"));
    memcpy(b, good, len);
    b[8] = 0xff; /* header length past the end */
    CHECK(npy_parse(b, len, &info, &err) == -1 && strstr(err.msg, "past the end"));
    CHECK(npy_parse(b, 5, &info, &err) == -1);
    free(b);
    free(good);
}

/* ---- ONNX ------------------------------------------------------------------------------- */

typedef struct {
    uint8_t *ckpt;      /* the newest simclr checkpoint */
    size_t len;
    float *feat;        /* the eval stage's test features */
    int d, n;
} Trained;

static int keep_ckpt(void *ctx, int stage, int epoch, long step, const void *data, size_t len)
{
    Trained *t = ctx;
    (void)epoch;
    (void)step;
    if (stage != STAGE_SIMCLR)
        return 0;
    free(t->ckpt);
    t->ckpt = malloc(len);
    if (!t->ckpt)
        return -1;
    memcpy(t->ckpt, data, len);
    t->len = len;
    return 0;
}

/* The small run: plain SimCLR, the 3-conv encoder (width 4, head 16-8), 300 images. */
static void small_config(RunConfig *cfg)
{
    GsErr err;
    const char *json =
        "{\"method\": \"simclr\", \"subset\": 300, \"test_subset\": 100, \"threads\": 2,"
        " \"simclr\": {\"encoder\": {\"arch\": \"cnn3\", \"width\": 4, \"head\": [16, 8]},"
        "              \"epochs\": 1, \"batch\": 32},"
        " \"eval\": {\"linear\": {\"epochs\": 1}, \"knn_k\": 10}}";
    CHECK(run_config_parse(cfg, json, strlen(json), &err) == 0);
}

static bool train_small(RunConfig *cfg, Trained *t)
{
    Dataset train = {0}, test = {0};
    GsErr err;
    RunResult res;
    small_config(cfg);
    if (pipeline_load_data(cfg, NULL, NULL, &train, &test, &err) != 0) {
        CHECK_MSG(0, "loading Fashion-MNIST: %s", err.msg);
        return false;
    }
    Sink sink = {.checkpoint = keep_ckpt, .ctx = t};
    int rc = pipeline_run(cfg, &train, &test, &sink, NULL, 0, &res, &err);
    CHECK_MSG(rc == 0, "pipeline: %s", err.msg);
    if (rc == 0)
        run_result_free(&res);
    dataset_free(&train);
    dataset_free(&test);
    return rc == 0 && t->ckpt;
}

static const Onnx__AttributeProto *attr(const Onnx__NodeProto *n, const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (strcmp(n->attribute[i]->name, name) == 0)
            return n->attribute[i];
    return NULL;
}

static bool ints_are(const Onnx__AttributeProto *a, int n, const int64_t *v)
{
    if (!a || a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS || a->n_ints != (size_t)n)
        return false;
    return memcmp(a->ints, v, sizeof *v * (size_t)n) == 0;
}

/* The value info's dims as text, a symbolic one by its name: "N,1,28,28". */
static void dims_text(const Onnx__ValueInfoProto *vi, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = 0;
    if (!vi->type || vi->type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE ||
        !vi->type->tensor_type->shape)
        return;
    const Onnx__TensorShapeProto *s = vi->type->tensor_type->shape;
    for (size_t i = 0; i < s->n_dim && len < cap; i++) {
        const Onnx__TensorShapeProto__Dimension *d = s->dim[i];
        if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM)
            len += (size_t)snprintf(out + len, cap - len, "%s%s", i ? "," : "", d->dim_param);
        else
            len += (size_t)snprintf(out + len, cap - len, "%s%lld", i ? "," : "",
                                    (long long)d->dim_value);
    }
}

static const char *meta_value(const Onnx__ModelProto *m, const char *key)
{
    for (size_t i = 0; i < m->n_metadata_props; i++)
        if (strcmp(m->metadata_props[i]->key, key) == 0)
            return m->metadata_props[i]->value;
    return NULL;
}

/* The operators in order, space-separated. */
static void ops_text(const Onnx__GraphProto *g, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = 0;
    for (size_t i = 0; i < g->n_node && len < cap; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s%s", i ? " " : "", g->node[i]->op_type);
}

/* Concatenates the raw data of the initialisers whose name ends in one of the suffixes, in
 * graph order; true when that equals want (n floats) bit for bit. */
static bool inits_equal(const Onnx__GraphProto *g, const char *const *suffixes, int n_suffixes,
                        const float *want, size_t n)
{
    size_t at = 0;
    for (size_t i = 0; i < g->n_initializer; i++) {
        const Onnx__TensorProto *t = g->initializer[i];
        const char *dot = strrchr(t->name, '.');
        bool match = false;
        for (int s = 0; dot && s < n_suffixes; s++)
            match |= strcmp(dot + 1, suffixes[s]) == 0;
        if (!match)
            continue;
        if (t->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT || !t->has_raw_data ||
            t->raw_data.len % 4 || at + t->raw_data.len / 4 > n ||
            memcmp(t->raw_data.data, want + at, t->raw_data.len) != 0)
            return false;
        at += t->raw_data.len / 4;
    }
    return at == n;
}

/* Every node reads tensors that exist before it: the graph input, an initialiser, or an
 * earlier node's output; and the last node writes the graph's output. */
static bool wired_in_order(const Onnx__GraphProto *g)
{
    for (size_t i = 0; i < g->n_node; i++) {
        for (size_t k = 0; k < g->node[i]->n_input; k++) {
            const char *in = g->node[i]->input[k];
            bool found = strcmp(in, g->input[0]->name) == 0;
            for (size_t j = 0; !found && j < g->n_initializer; j++)
                found = strcmp(in, g->initializer[j]->name) == 0;
            for (size_t j = 0; !found && j < i; j++)
                found = strcmp(in, g->node[j]->output[0]) == 0;
            if (!found)
                return false;
        }
    }
    return g->n_node > 0 && strcmp(g->node[g->n_node - 1]->output[0], g->output[0]->name) == 0;
}

TEST(export_onnx_decodes_to_the_trained_encoder)
{
    RunConfig cfg;
    Trained t = {0};
    GsErr err;
    if (!train_small(&cfg, &t)) {
        free(t.ckpt);
        return;
    }
    CkptReader rd;
    size_t pbytes = 0, bbytes = 0;
    CHECK(ckpt_open(&rd, t.ckpt, t.len, &err) == 0);
    const float *params = ckpt_find(&rd, "net.params", &pbytes, &err);
    const float *buffers = ckpt_find(&rd, "net.buffers", &bbytes, &err);
    CHECK(params && buffers);

    for (int head = 0; head < 2 && params && buffers; head++) {
        OnnxExportOptions opt = {.head = head, .run_id = 42};
        uint8_t *bytes = NULL;
        size_t len = 0;
        CHECK_MSG(export_onnx(&cfg, t.ckpt, t.len, &opt, &bytes, &len, &err) == 0, "%s",
                  err.msg);
        Onnx__ModelProto *m = bytes ? onnx__model_proto__unpack(NULL, len, bytes) : NULL;
        CHECK_MSG(m != NULL, "protobuf-c cannot decode the export");
        free(bytes);
        if (!m)
            continue;
        CHECK(m->has_ir_version && m->ir_version == ONNX_IR_VERSION);
        CHECK(m->n_opset_import == 1 && strcmp(m->opset_import[0]->domain, "") == 0 &&
              m->opset_import[0]->version == 13);
        CHECK(strcmp(m->producer_name, "gsimclr") == 0);
        CHECK(meta_value(m, "gsimclr.input_scale") &&
              strcmp(meta_value(m, "gsimclr.input_scale"), "1/255") == 0);
        CHECK(meta_value(m, "gsimclr.run") && strcmp(meta_value(m, "gsimclr.run"), "42") == 0);
        const Onnx__GraphProto *g = m->graph;
        char text[512];
        CHECK(g && g->n_input == 1 && g->n_output == 1);
        if (!g || g->n_input != 1 || g->n_output != 1) {
            onnx__model_proto__free_unpacked(m, NULL);
            continue;
        }
        CHECK(strcmp(g->input[0]->name, "input") == 0);
        CHECK(g->input[0]->type->tensor_type->elem_type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT);
        dims_text(g->input[0], text, sizeof text);
        CHECK_MSG(strcmp(text, "N,1,28,28") == 0, "input dims %s", text);
        CHECK(strcmp(g->output[0]->name, head ? "projection" : "features") == 0);
        dims_text(g->output[0], text, sizeof text);
        CHECK_MSG(strcmp(text, head ? "N,8" : "N,16") == 0, "output dims %s", text);

        ops_text(g, text, sizeof text);
        const char *want =
            head ? "Conv BatchNormalization Relu MaxPool Conv BatchNormalization Relu MaxPool "
                   "Conv BatchNormalization Relu MaxPool GlobalAveragePool Flatten Gemm Relu Gemm"
                 : "Conv BatchNormalization Relu MaxPool Conv BatchNormalization Relu MaxPool "
                   "Conv BatchNormalization Relu MaxPool GlobalAveragePool Flatten";
        CHECK_MSG(strcmp(text, want) == 0, "operators: %s", text);
        CHECK(wired_in_order(g));
        const int64_t k3[2] = {3, 3}, one[2] = {1, 1}, pad1[4] = {1, 1, 1, 1}, two[2] = {2, 2};
        const Onnx__NodeProto *conv = g->node[0], *bn = g->node[1], *pool = g->node[3];
        CHECK(conv->n_input == 3 && strcmp(conv->input[0], "input") == 0);
        CHECK(ints_are(attr(conv, "kernel_shape"), 2, k3) && ints_are(attr(conv, "strides"), 2, one) &&
              ints_are(attr(conv, "pads"), 4, pad1));
        CHECK(bn->n_input == 5 && attr(bn, "epsilon") && attr(bn, "epsilon")->f == 1e-5f);
        CHECK(strcmp(bn->input[3], "bn1.running_mean") == 0 &&
              strcmp(bn->input[4], "bn1.running_var") == 0);
        CHECK(ints_are(attr(pool, "kernel_shape"), 2, two) && ints_are(attr(pool, "strides"), 2, two));
        if (head) {
            const Onnx__NodeProto *fc = g->node[14];
            CHECK(attr(fc, "transB") && attr(fc, "transB")->i == 1 && fc->n_input == 3);
            CHECK(strcmp(fc->input[1], "fc1.weight") == 0);
        }
        /* the weights: every weight and bias in graph order is the checkpoint's parameter
         * array (all of it with the head, the backbone's part without), the running
         * statistics its buffer array */
        static const char *const wb[2] = {"weight", "bias"};
        static const char *const stats[2] = {"running_mean", "running_var"};
        size_t n_params = pbytes / 4;
        if (!head)
            n_params -= 16 * 16 + 16 + 8 * 16 + 8; /* the head's two linear layers */
        CHECK(inits_equal(g, wb, 2, params, n_params));
        CHECK(inits_equal(g, stats, 2, buffers, bbytes / 4));
        CHECK_INT_EQ(g->n_initializer, 3 * 2 + 3 * 4 + (head ? 4 : 0));
        for (size_t i = 0; i < g->n_initializer; i++)
            if (strcmp(g->initializer[i]->name, "fc2.weight") == 0)
                CHECK(g->initializer[i]->n_dims == 2 && g->initializer[i]->dims[0] == 8 &&
                      g->initializer[i]->dims[1] == 16);
        onnx__model_proto__free_unpacked(m, NULL);
    }
    free(t.ckpt);
}

/* A checkpoint as the simclr stage writes one, of a freshly built encoder; without the
 * recorded input shape when chw is NULL (as checkpoints were before it was recorded). */
static uint8_t *fake_checkpoint(const EncoderConfig *e, int stage, const int32_t *chw,
                                size_t *len)
{
    Model m;
    GsErr err;
    CkptWriter w;
    int32_t where[2] = {stage, 3};
    if (model_build_encoder(&m, e, 1, 7, &err) != 0)
        return NULL;
    ckpt_writer_init(&w);
    int bad = ckpt_add(&w, "stage", where, sizeof where, &err) ||
              ckpt_add(&w, "net.params", m.net.params, 4 * m.net.n_params, &err) ||
              ckpt_add(&w, "net.buffers", m.net.buffers, 4 * m.net.n_buffers, &err) ||
              (chw && ckpt_add(&w, "net.input", chw, 3 * sizeof *chw, &err)) ||
              ckpt_finish(&w, &err);
    model_free(&m);
    if (bad) {
        ckpt_writer_free(&w);
        return NULL;
    }
    *len = w.len;
    return w.data; /* the writer's buffer, now the caller's */
}

static int count_ops(const Onnx__GraphProto *g, const char *op)
{
    int n = 0;
    for (size_t i = 0; i < g->n_node; i++)
        n += strcmp(g->node[i]->op_type, op) == 0;
    return n;
}

TEST(export_onnx_resnet_from_an_older_checkpoint)
{
    RunConfig cfg;
    GsErr err;
    run_config_defaults(&cfg);
    EncoderConfig e = encoder_defaults(); /* resnet */
    e.width = 4;
    e.stages = 2;
    e.blocks = 1;
    e.head[0] = 8;
    e.n_head = 1;
    cfg.simclr.encoder = e;
    /* trained on 3 x 32 x 32 images; the config still says 1 x 28 x 28 (the dataset's shape
     * is not part of it), and the checkpoint does not record it */
    e.in_c = 3;
    e.in_h = e.in_w = 32;
    size_t len = 0;
    uint8_t *ck = fake_checkpoint(&e, STAGE_SIMCLR, NULL, &len);
    CHECK(ck != NULL);
    if (!ck)
        return;
    OnnxExportOptions opt = {.in_h = 32, .in_w = 32};
    uint8_t *bytes = NULL;
    size_t n = 0;
    CHECK_MSG(export_onnx(&cfg, ck, len, &opt, &bytes, &n, &err) == 0, "%s", err.msg);
    Onnx__ModelProto *m = bytes ? onnx__model_proto__unpack(NULL, n, bytes) : NULL;
    free(bytes);
    CHECK(m && m->graph);
    if (m && m->graph) {
        const Onnx__GraphProto *g = m->graph;
        char text[512];
        dims_text(g->input[0], text, sizeof text);
        CHECK_MSG(strcmp(text, "N,3,32,32") == 0, "input dims %s (channels from the weights)",
                  text);
        dims_text(g->output[0], text, sizeof text);
        CHECK_MSG(strcmp(text, "N,8") == 0, "output dims %s", text);
        CHECK(meta_value(m, "gsimclr.run") == NULL); /* no run id given */
        /* stem, a block at stride 1 (identity shortcut), a block at stride 2 with a 1x1
         * projection shortcut */
        CHECK_INT_EQ(count_ops(g, "Add"), 2);
        CHECK_INT_EQ(count_ops(g, "Conv"), 1 + 2 + 3);
        CHECK_INT_EQ(count_ops(g, "BatchNormalization"), 6);
        CHECK_INT_EQ(count_ops(g, "MaxPool"), 0);
        CHECK(wired_in_order(g));
        const Onnx__NodeProto *add1 = NULL, *short_conv = NULL;
        for (size_t i = 0; i < g->n_node; i++) {
            if (!add1 && strcmp(g->node[i]->op_type, "Add") == 0)
                add1 = g->node[i];
            if (strcmp(g->node[i]->op_type, "Conv") == 0 &&
                ints_are(attr(g->node[i], "kernel_shape"), 2, (const int64_t[]){1, 1}))
                short_conv = g->node[i];
        }
        /* the first block adds its input, the stem's ReLU output, unchanged */
        CHECK(add1 && strcmp(add1->input[1], g->node[2]->output[0]) == 0);
        CHECK(short_conv && ints_are(attr(short_conv, "strides"), 2, (const int64_t[]){2, 2}) &&
              ints_are(attr(short_conv, "pads"), 4, (const int64_t[]){0, 0, 0, 0}) &&
              short_conv->n_input == 2);
    }
    if (m)
        onnx__model_proto__free_unpacked(m, NULL);

    /* the recorded shape wins over a hint */
    free(ck);
    int32_t chw[3] = {3, 32, 32};
    ck = fake_checkpoint(&e, STAGE_SIMCLR, chw, &len);
    OnnxExportOptions wrong = {.in_c = 1, .in_h = 28, .in_w = 28, .head = true};
    CHECK(ck && export_onnx(&cfg, ck, len, &wrong, &bytes, &n, &err) == 0);
    m = bytes ? onnx__model_proto__unpack(NULL, n, bytes) : NULL;
    free(bytes);
    if (m) {
        char text[64];
        dims_text(m->graph->input[0], text, sizeof text);
        CHECK_MSG(strcmp(text, "N,3,32,32") == 0, "input dims %s", text);
        onnx__model_proto__free_unpacked(m, NULL);
    }
    free(ck);
}

TEST(export_onnx_refuses_what_is_not_a_trained_encoder)
{
    RunConfig cfg;
    GsErr err;
    uint8_t *bytes = (uint8_t *)"untouched";
    size_t n = 5, len = 0;
    run_config_defaults(&cfg);
    EncoderConfig e = encoder_cnn3();
    e.width = 4;
    cfg.simclr.encoder = e;
    OnnxExportOptions opt = {0};
    int32_t chw[3] = {1, 28, 28};

    /* a checkpoint of the autoencoder's stage */
    uint8_t *ck = fake_checkpoint(&e, STAGE_DAE, chw, &len);
    CHECK(ck && export_onnx(&cfg, ck, len, &opt, &bytes, &n, &err) == -1);
    CHECK_MSG(strstr(err.msg, "dae") && strstr(err.msg, "no trained encoder"), "%s", err.msg);
    CHECK(bytes == NULL && n == 0);
    /* a damaged one: the checksum says so */
    if (ck) {
        ck[len / 2] ^= 0x40;
        CHECK(export_onnx(&cfg, ck, len, &opt, &bytes, &n, &err) == -1);
        CHECK_MSG(strstr(err.msg, "checksum") || strstr(err.msg, "CRC"), "%s", err.msg);
    }
    free(ck);
    /* weights of another encoder than the configured one (width 8 against 4) */
    EncoderConfig wider = e;
    wider.width = 8;
    ck = fake_checkpoint(&wider, STAGE_SIMCLR, chw, &len);
    CHECK(ck && export_onnx(&cfg, ck, len, &opt, &bytes, &n, &err) == -1);
    CHECK_MSG(strstr(err.msg, "do not fit"), "%s", err.msg);
    free(ck);
    /* a recorded shape is not second-guessed: 3-channel weights, 1 channel recorded */
    EncoderConfig rgb = e;
    rgb.in_c = 3;
    ck = fake_checkpoint(&rgb, STAGE_SIMCLR, chw, &len);
    CHECK(ck && export_onnx(&cfg, ck, len, &opt, &bytes, &n, &err) == -1);
    CHECK_MSG(strstr(err.msg, "do not fit"), "%s", err.msg);
    free(ck);
    /* not a checkpoint at all */
    CHECK(export_onnx(&cfg, "GSCKnonsense", 12, &opt, &bytes, &n, &err) == -1);
}
