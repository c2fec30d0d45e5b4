/* export_onnx.c — the trained encoder as an ONNX model (see export_onnx.h). The only file of
 * the product that includes the protobuf-c code protoc-c generates at build time from the
 * onnx.proto Debian ships (libonnx-dev), so the bytes are protobuf-c's, never a hand-written
 * wire encoder. The graph is read off the built Net, node by node, in the order the net runs
 * them: each net node becomes the standard ONNX operator that computes the same thing, with
 * its parameters as initialisers named like PyTorch's (conv3.weight, bn3.running_var, ...).
 * Must not: know HTTP or the store, change the weights, or map a node kind it cannot express
 * exactly (it refuses instead). */
#include "gs/export_onnx.h"

#include <onnx.pb-c.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gs/checkpoint.h"
#include "gs/model.h"
#include "gs/version.h"
#include "stage.h"

/* ---- every allocation of one export, freed together ------------------------------------ */

typedef struct {
    void **ptrs;
    size_t n, cap;
    bool oom;   /* sticky: checked once before packing */
} Arena;

static void *arena_calloc(Arena *a, size_t count, size_t size)
{
    if (a->oom)
        return NULL;
    if (a->n == a->cap) {
        size_t cap = a->cap ? 2 * a->cap : 256;
        void **p = realloc(a->ptrs, cap * sizeof *p);
        if (!p) {
            a->oom = true;
            return NULL;
        }
        a->ptrs = p;
        a->cap = cap;
    }
    void *m = calloc(count ? count : 1, size);
    if (!m) {
        a->oom = true;
        return NULL;
    }
    a->ptrs[a->n++] = m;
    return m;
}

static char *arena_printf(Arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *arena_printf(Arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n >= 0 ? arena_calloc(a, (size_t)n + 1, 1) : NULL;
    if (!s)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

static void arena_free(Arena *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->ptrs[i]);
    free(a->ptrs);
    memset(a, 0, sizeof *a);
}

/* ---- protobuf messages ----------------------------------------------------------------- */

typedef struct {
    Arena *a;
    Onnx__NodeProto **nodes;
    size_t n_nodes, cap_nodes;
    Onnx__TensorProto **inits;
    size_t n_inits, cap_inits;
} Graph;

/* A named attribute of the given type, its value left for the caller to set. */
static Onnx__AttributeProto *attr_new(Arena *a, const char *name,
                                      Onnx__AttributeProto__AttributeType type)
{
    Onnx__AttributeProto *at = arena_calloc(a, 1, sizeof *at);
    if (!at)
        return NULL;
    onnx__attribute_proto__init(at);
    at->name = arena_printf(a, "%s", name);
    at->has_type = 1;
    at->type = type;
    return at;
}

static Onnx__AttributeProto *attr_ints(Arena *a, const char *name, int n, const int64_t *v)
{
    Onnx__AttributeProto *at = attr_new(a, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    int64_t *ints = arena_calloc(a, (size_t)n, sizeof *ints);
    if (!at || !ints)
        return NULL;
    memcpy(ints, v, sizeof *ints * (size_t)n);
    at->n_ints = (size_t)n;
    at->ints = ints;
    return at;
}

/* An INT attribute (is_float false: i) or a FLOAT one (f). */
static Onnx__AttributeProto *attr_scalar(Arena *a, const char *name, bool is_float, int64_t i,
                                         float f)
{
    Onnx__AttributeProto *at =
        attr_new(a, name, is_float ? ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT
                                   : ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    if (!at)
        return NULL;
    at->has_i = !is_float;
    at->i = is_float ? 0 : i;
    at->has_f = is_float;
    at->f = is_float ? f : 0.0f;
    return at;
}

static Onnx__AttributeProto *attr_int(Arena *a, const char *name, int64_t v)
{
    return attr_scalar(a, name, false, v, 0.0f);
}

static Onnx__AttributeProto *attr_float(Arena *a, const char *name, float v)
{
    return attr_scalar(a, name, true, 0, v);
}

/* Appends a node op(inputs...) -> output with up to 4 attributes (NULL-terminated list). */
static void emit(Graph *g, const char *op, const char *name, const char *const *in, int n_in,
                 const char *out, Onnx__AttributeProto *const *attrs)
{
    Arena *a = g->a;
    Onnx__NodeProto *nd = arena_calloc(a, 1, sizeof *nd);
    char **ins = arena_calloc(a, (size_t)n_in, sizeof *ins);
    char **outs = arena_calloc(a, 1, sizeof *outs);
    Onnx__AttributeProto **at = arena_calloc(a, 4, sizeof *at);
    if (!nd || !ins || !outs || !at || g->n_nodes == g->cap_nodes) {
        a->oom = true;
        return;
    }
    onnx__node_proto__init(nd);
    nd->op_type = arena_printf(a, "%s", op);
    nd->name = arena_printf(a, "%s", name);
    for (int i = 0; i < n_in; i++)
        ins[i] = arena_printf(a, "%s", in[i]);
    nd->n_input = (size_t)n_in;
    nd->input = ins;
    outs[0] = arena_printf(a, "%s", out);
    nd->n_output = 1;
    nd->output = outs;
    size_t n_at = 0; /* a NULL made by a failed allocation ends the list, and a->oom is set */
    for (; attrs && attrs[n_at] && n_at < 4; n_at++)
        at[n_at] = attrs[n_at];
    nd->n_attribute = n_at;
    nd->attribute = at;
    g->nodes[g->n_nodes++] = nd;
}

/* A float initialiser whose raw_data points at count floats of the net (not copied: the net
 * outlives the packing). Returns its name. */
static const char *init_tensor(Graph *g, const char *name, const float *data,
                               const int64_t *dims, int ndim)
{
    Arena *a = g->a;
    Onnx__TensorProto *t = arena_calloc(a, 1, sizeof *t);
    int64_t *d = arena_calloc(a, (size_t)ndim, sizeof *d);
    if (!t || !d || g->n_inits == g->cap_inits) {
        a->oom = true;
        return "";
    }
    onnx__tensor_proto__init(t);
    size_t count = 1;
    for (int i = 0; i < ndim; i++) {
        d[i] = dims[i];
        count *= (size_t)dims[i];
    }
    t->n_dims = (size_t)ndim;
    t->dims = d;
    t->has_data_type = 1;
    t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    t->name = arena_printf(a, "%s", name);
    t->has_raw_data = 1;
    t->raw_data.len = count * sizeof(float);
    t->raw_data.data = (uint8_t *)data;
    g->inits[g->n_inits++] = t;
    return t->name ? t->name : "";
}

/* A graph input or output: float32 with the given dims, the first one symbolic ("N"). */
static Onnx__ValueInfoProto *value_info(Arena *a, const char *name, const char *doc,
                                        const int64_t *dims, int ndim)
{
    Onnx__ValueInfoProto *vi = arena_calloc(a, 1, sizeof *vi);
    Onnx__TypeProto *tp = arena_calloc(a, 1, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = arena_calloc(a, 1, sizeof *tt);
    Onnx__TensorShapeProto *sh = arena_calloc(a, 1, sizeof *sh);
    Onnx__TensorShapeProto__Dimension **dim = arena_calloc(a, (size_t)ndim, sizeof *dim);
    if (!vi || !tp || !tt || !sh || !dim)
        return NULL;
    for (int i = 0; i < ndim; i++) {
        dim[i] = arena_calloc(a, 1, sizeof *dim[i]);
        if (!dim[i])
            return NULL;
        onnx__tensor_shape_proto__dimension__init(dim[i]);
        if (i == 0) {
            dim[i]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            dim[i]->dim_param = arena_printf(a, "N");
        } else {
            dim[i]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            dim[i]->dim_value = dims[i];
        }
    }
    onnx__tensor_shape_proto__init(sh);
    sh->n_dim = (size_t)ndim;
    sh->dim = dim;
    onnx__type_proto__tensor__init(tt);
    tt->has_elem_type = 1;
    tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tt->shape = sh;
    onnx__type_proto__init(tp);
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    onnx__value_info_proto__init(vi);
    vi->name = arena_printf(a, "%s", name);
    vi->doc_string = arena_printf(a, "%s", doc);
    vi->type = tp;
    return vi;
}

/* ---- the net as ONNX nodes ------------------------------------------------------------- */

/* Emits the nodes of net node i (whose inputs are already emitted, their outputs named in
 * names[]); its output tensor is called `out`. rank[] is each output's tensor rank, since a
 * global average pool is flattened to N x C as the net's dense layers see it. */
static int emit_node(Graph *g, const Net *net, int i, char **names, int *rank, const char *out,
                     int *counter, GsErr *err)
{
    Arena *a = g->a;
    const Node *nd = &net->nodes[i];
    const char *x = nd->a >= 0 ? names[nd->a] : NULL;
    char name[64], pname[96];
    int id;
    rank[i] = nd->a >= 0 ? rank[nd->a] : 4;
    switch (nd->kind) {
    case NODE_CONV: {
        id = ++counter[NODE_CONV];
        snprintf(name, sizeof name, "conv%d", id);
        const ConvShape *s = &nd->conv;
        int64_t wd[4] = {s->Cout, s->Cin, s->K, s->K}, bd[1] = {s->Cout};
        const char *in[3] = {x, NULL, NULL};
        snprintf(pname, sizeof pname, "%s.weight", name);
        in[1] = init_tensor(g, pname, net->params + nd->w_off, wd, 4);
        if (nd->bias) {
            snprintf(pname, sizeof pname, "%s.bias", name);
            in[2] = init_tensor(g, pname, net->params + nd->b_off, bd, 1);
        }
        int64_t k[2] = {s->K, s->K}, st[2] = {s->stride, s->stride};
        int64_t pads[4] = {s->pad, s->pad, s->pad, s->pad};
        Onnx__AttributeProto *at[] = {attr_ints(a, "kernel_shape", 2, k),
                                      attr_ints(a, "strides", 2, st),
                                      attr_ints(a, "pads", 4, pads), NULL};
        emit(g, "Conv", name, in, nd->bias ? 3 : 2, out, at);
        return 0;
    }
    case NODE_BN: {
        id = ++counter[NODE_BN];
        snprintf(name, sizeof name, "bn%d", id);
        int64_t cd[1] = {nd->C};
        const char *in[5] = {x};
        static const char *const suffix[4] = {"weight", "bias", "running_mean", "running_var"};
        const float *src[4] = {net->params + nd->w_off, net->params + nd->b_off,
                               net->buffers + nd->buf_off, net->buffers + nd->buf_off + nd->C};
        for (int j = 0; j < 4; j++) {
            snprintf(pname, sizeof pname, "%s.%s", name, suffix[j]);
            in[1 + j] = init_tensor(g, pname, src[j], cd, 1);
        }
        Onnx__AttributeProto *at[] = {attr_float(a, "epsilon", net->bn_eps), NULL};
        emit(g, "BatchNormalization", name, in, 5, out, at);
        return 0;
    }
    case NODE_RELU:
        snprintf(name, sizeof name, "relu%d", ++counter[NODE_RELU]);
        emit(g, "Relu", name, &x, 1, out, NULL);
        return 0;
    case NODE_MAXPOOL: {
        snprintf(name, sizeof name, "maxpool%d", ++counter[NODE_MAXPOOL]);
        int64_t k[2] = {nd->k, nd->k}, st[2] = {nd->stride, nd->stride};
        Onnx__AttributeProto *at[] = {attr_ints(a, "kernel_shape", 2, k),
                                      attr_ints(a, "strides", 2, st), NULL};
        emit(g, "MaxPool", name, &x, 1, out, at);
        return 0;
    }
    case NODE_GAP: {
        /* the net's pool gives C values per image; ONNX's keeps N x C x 1 x 1 */
        snprintf(name, sizeof name, "gap%d", ++counter[NODE_GAP]);
        snprintf(pname, sizeof pname, "%s.pooled", name);
        emit(g, "GlobalAveragePool", name, &x, 1, pname, NULL);
        const char *pooled = pname;
        snprintf(name + strlen(name), sizeof name - strlen(name), ".flatten");
        Onnx__AttributeProto *at[] = {attr_int(a, "axis", 1), NULL};
        emit(g, "Flatten", name, &pooled, 1, out, at);
        rank[i] = 2;
        return 0;
    }
    case NODE_LINEAR: {
        id = ++counter[NODE_LINEAR];
        snprintf(name, sizeof name, "fc%d", id);
        const char *src = x;
        if (rank[i] != 2) {
            /* a dense layer on a map reads it as C*H*W values per image, as Flatten does */
            snprintf(pname, sizeof pname, "%s.flat", name);
            char fname[80];
            snprintf(fname, sizeof fname, "%s.flatten", name);
            Onnx__AttributeProto *at[] = {attr_int(a, "axis", 1), NULL};
            emit(g, "Flatten", fname, &x, 1, pname, at);
            src = pname;
        }
        /* y = x W^T + b with W (O, I): Gemm's transB */
        int64_t wd[2] = {nd->C, nd->in_features}, bd[1] = {nd->C};
        char wname[96], bname[96];
        snprintf(wname, sizeof wname, "%s.weight", name);
        snprintf(bname, sizeof bname, "%s.bias", name);
        const char *in[3] = {src, init_tensor(g, wname, net->params + nd->w_off, wd, 2), NULL};
        if (nd->bias)
            in[2] = init_tensor(g, bname, net->params + nd->b_off, bd, 1);
        Onnx__AttributeProto *at[] = {attr_int(a, "transB", 1), NULL};
        emit(g, "Gemm", name, in, nd->bias ? 3 : 2, out, at);
        rank[i] = 2;
        return 0;
    }
    case NODE_ADD: {
        snprintf(name, sizeof name, "add%d", ++counter[NODE_ADD]);
        const char *in[2] = {x, names[nd->b]};
        emit(g, "Add", name, in, 2, out, NULL);
        return 0;
    }
    case NODE_INPUT:
    case NODE_UPSAMPLE:
    case NODE_SIGMOID:
        break;
    }
    return gs_errf(err, "export: a %s node has no ONNX counterpart here (node %d)",
                   net_kind_name(nd->kind), i);
}

/* ---- the checkpoint's encoder ---------------------------------------------------------- */

/* Builds the configured encoder for the input shape (c, h, w) and loads the checkpoint's
 * weights into it; 1 (nothing built) when the weights are not of that size. */
static int load_encoder(const RunConfig *cfg, int c, int h, int w, const CkptReader *rd,
                        Model *m, GsErr *err)
{
    EncoderConfig e = cfg->simclr.encoder;
    e.in_c = c;
    e.in_h = h;
    e.in_w = w;
    if (model_build_encoder(m, &e, 1, 0, err))
        return -1;
    size_t pbytes = 0, bbytes = 0;
    if (!ckpt_find(rd, "net.params", &pbytes, err) || !ckpt_find(rd, "net.buffers", &bbytes, err)) {
        model_free(m);
        return -1;
    }
    if (pbytes != sizeof(float) * m->net.n_params ||
        bbytes != sizeof(float) * m->net.n_buffers) {
        model_free(m);
        return 1;
    }
    if (ckpt_get(rd, "net.params", m->net.params, pbytes, err) ||
        ckpt_get(rd, "net.buffers", m->net.buffers, bbytes, err)) {
        model_free(m);
        return -1;
    }
    return 0;
}

static int open_encoder(const RunConfig *cfg, const CkptReader *rd,
                        const OnnxExportOptions *opt, Model *m, int *epoch, GsErr *err)
{
    int stage;
    if (state_stage(rd, cfg, &stage, epoch, err))
        return -1;
    if (stage < STAGE_SIMCLR)
        return gs_errf(err, "export: the checkpoint is of stage %s, which holds no trained "
                       "encoder (simclr does)", STAGE_NAMES[stage]);
    int32_t chw[3] = {0, 0, 0};
    size_t bytes;
    const void *rec = ckpt_find(rd, "net.input", &bytes, NULL);
    bool recorded = rec && bytes == sizeof chw;
    if (recorded) {
        memcpy(chw, rec, sizeof chw);
    } else {
        chw[0] = opt->in_c > 0 ? opt->in_c : cfg->simclr.encoder.in_c;
        chw[1] = opt->in_h > 0 ? opt->in_h : cfg->simclr.encoder.in_h;
        chw[2] = opt->in_w > 0 ? opt->in_w : cfg->simclr.encoder.in_w;
    }
    int rc = load_encoder(cfg, chw[0], chw[1], chw[2], rd, m, err);
    /* an older checkpoint: the first conv's weights tell the channel count */
    for (int c = 1; rc == 1 && !recorded && c <= 4; c++)
        if (c != chw[0] && (rc = load_encoder(cfg, c, chw[1], chw[2], rd, m, err)) == 0)
            chw[0] = c;
    if (rc == 1)
        return gs_errf(err, "export: the checkpoint's weights do not fit the configured "
                       "encoder (%s, input %dx%dx%d)",
                       cfg->simclr.encoder.arch == ARCH_CNN3 ? "cnn3" : "resnet", chw[0], chw[1],
                       chw[2]);
    return rc;
}

/* ---- the model ------------------------------------------------------------------------- */

static Onnx__StringStringEntryProto *meta(Arena *a, const char *key, const char *value)
{
    Onnx__StringStringEntryProto *e = arena_calloc(a, 1, sizeof *e);
    if (!e)
        return NULL;
    onnx__string_string_entry_proto__init(e);
    e->key = arena_printf(a, "%s", key);
    e->value = arena_printf(a, "%s", value);
    return e;
}

static int build_model(const RunConfig *cfg, const Model *m, int epoch,
                       const OnnxExportOptions *opt, Arena *a, Onnx__ModelProto *model,
                       GsErr *err)
{
    const Net *net = &m->net;
    const int target = opt->head ? m->output : m->feature;
    const char *out_name = opt->head ? "projection" : "features";
    bool *needed = arena_calloc(a, (size_t)net->n_nodes, sizeof *needed);
    char **names = arena_calloc(a, (size_t)net->n_nodes, sizeof *names);
    int *rank = arena_calloc(a, (size_t)net->n_nodes, sizeof *rank);
    Graph g = {.a = a, .cap_nodes = 3 * (size_t)net->n_nodes, .cap_inits = 4 * (size_t)net->n_nodes};
    g.nodes = arena_calloc(a, g.cap_nodes, sizeof *g.nodes);
    g.inits = arena_calloc(a, g.cap_inits, sizeof *g.inits);
    if (!needed || !names || !rank || !g.nodes || !g.inits)
        return gs_errf(err, "export: out of memory");

    /* the nodes the output depends on: nodes run in the order they were added, so a
     * backward sweep from the target finds them all */
    needed[target] = true;
    for (int i = target; i >= 0; i--) {
        if (!needed[i])
            continue;
        if (net->nodes[i].a >= 0)
            needed[net->nodes[i].a] = true;
        if (net->nodes[i].b >= 0)
            needed[net->nodes[i].b] = true;
    }
    const Node *in = &net->nodes[m->input];
    int counter[NODE_SIGMOID + 1] = {0};
    names[m->input] = "input";
    rank[m->input] = 4;
    for (int i = 0; i <= target; i++) {
        if (!needed[i] || i == m->input)
            continue;
        names[i] = i == target ? (char *)out_name
                               : arena_printf(a, "t%d_%s", i, net_kind_name(net->nodes[i].kind));
        if (!names[i])
            return gs_errf(err, "export: out of memory");
        if (emit_node(&g, net, i, names, rank, names[i], counter, err))
            return -1;
    }

    int64_t in_dims[4] = {0, in->C, in->H, in->W};
    int64_t out_dims[2] = {0, (int64_t)net_node_size(net, target)};
    char in_doc[256], out_doc[256];
    snprintf(in_doc, sizeof in_doc,
             "%s images, float32 N x %d x %d x %d, each pixel's byte value / 255, in [0, 1]; "
             "no mean or std is subtracted", in->C == 1 ? "grayscale" : in->C == 3 ? "RGB" : "",
             in->C, in->H, in->W);
    if (opt->head)
        snprintf(out_doc, sizeof out_doc, "the projection head's output z, %lld floats "
                 "(not L2-normalised; the NT-Xent loss normalises it)", (long long)out_dims[1]);
    else
        snprintf(out_doc, sizeof out_doc, "the backbone feature h (global average pool), %lld "
                 "floats: what the linear evaluation reads", (long long)out_dims[1]);

    Onnx__GraphProto *graph = arena_calloc(a, 1, sizeof *graph);
    Onnx__ValueInfoProto **gin = arena_calloc(a, 1, sizeof *gin);
    Onnx__ValueInfoProto **gout = arena_calloc(a, 1, sizeof *gout);
    Onnx__OperatorSetIdProto *opset = arena_calloc(a, 1, sizeof *opset);
    Onnx__OperatorSetIdProto **opsets = arena_calloc(a, 1, sizeof *opsets);
    if (!graph || !gin || !gout || !opset || !opsets)
        return gs_errf(err, "export: out of memory");
    gin[0] = value_info(a, "input", in_doc, in_dims, 4);
    gout[0] = value_info(a, out_name, out_doc, out_dims, 2);
    onnx__graph_proto__init(graph);
    graph->name = arena_printf(a, "gsimclr_encoder");
    graph->n_node = g.n_nodes;
    graph->node = g.nodes;
    graph->n_initializer = g.n_inits;
    graph->initializer = g.inits;
    graph->n_input = 1;
    graph->input = gin;
    graph->n_output = 1;
    graph->output = gout;

    onnx__operator_set_id_proto__init(opset);
    opset->domain = arena_printf(a, "%s", "");
    opset->has_version = 1;
    opset->version = ONNX_OPSET;
    opsets[0] = opset;

    char run[32] = "", epochs[64], shape[64];
    if (opt->run_id > 0)
        snprintf(run, sizeof run, "%lld", (long long)opt->run_id);
    snprintf(epochs, sizeof epochs, "%d of %d", epoch, cfg->simclr.epochs);
    snprintf(shape, sizeof shape, "%d,%d,%d", in->C, in->H, in->W);
    const char *mean = in->C == 1 ? "0" : in->C == 3 ? "0,0,0" : "0 per channel";
    const char *std = in->C == 1 ? "1" : in->C == 3 ? "1,1,1" : "1 per channel";
    const char *kv[][2] = {
        {"gsimclr.run", run},
        {"gsimclr.method", run_config_method_name(cfg->method)},
        {"gsimclr.dataset", cfg->dataset},
        {"gsimclr.simclr_epoch", epochs},
        {"gsimclr.output", out_name},
        {"gsimclr.input_shape", shape},
        {"gsimclr.input_channels", in->C == 1 ? "gray" : in->C == 3 ? "RGB" : "as the data"},
        /* the encoder sees x = byte / 255; a caller normalising (x - mean) / std needs these */
        {"gsimclr.input_scale", "1/255"},
        {"gsimclr.input_mean", mean},
        {"gsimclr.input_std", std},
    };
    size_t n_kv = sizeof kv / sizeof kv[0];
    Onnx__StringStringEntryProto **props = arena_calloc(a, n_kv, sizeof *props);
    if (!props)
        return gs_errf(err, "export: out of memory");
    size_t n_props = 0;
    for (size_t i = 0; i < n_kv; i++)
        if (kv[i][1][0])
            props[n_props++] = meta(a, kv[i][0], kv[i][1]);

    onnx__model_proto__init(model);
    model->has_ir_version = 1;
    model->ir_version = ONNX_IR_VERSION;
    model->n_opset_import = 1;
    model->opset_import = opsets;
    model->producer_name = arena_printf(a, "gsimclr");
    model->producer_version = arena_printf(a, "%s", GS_VERSION);
    model->doc_string = arena_printf(
        a, "G-SimCLR encoder%s%s: input %s; output %s", run[0] ? " of run " : "", run, in_doc,
        out_doc);
    model->graph = graph;
    model->n_metadata_props = n_props;
    model->metadata_props = props;
    if (a->oom)
        return gs_errf(err, "export: out of memory");
    return 0;
}

int export_onnx(const RunConfig *cfg, const void *ckpt, size_t ckpt_len,
                const OnnxExportOptions *opt, uint8_t **out, size_t *len, GsErr *err)
{
    static const uint16_t one = 1;
    *out = NULL;
    *len = 0;
    /* ONNX stores raw tensor data little-endian; the net's floats are written as they lie */
    if (*(const uint8_t *)&one != 1)
        return gs_errf(err, "export: ONNX export needs a little-endian host");
    CkptReader rd;
    Model m;
    int epoch;
    if (ckpt_open(&rd, ckpt, ckpt_len, err) || open_encoder(cfg, &rd, opt, &m, &epoch, err))
        return -1;
    Arena a = {0};
    Onnx__ModelProto model;
    int rc = build_model(cfg, &m, epoch, opt, &a, &model, err);
    if (rc == 0) {
        size_t n = onnx__model_proto__get_packed_size(&model);
        uint8_t *buf = malloc(n ? n : 1);
        if (!buf) {
            rc = gs_errf(err, "export: out of memory for %zu bytes", n);
        } else if (onnx__model_proto__pack(&model, buf) != n) {
            free(buf);
            rc = gs_errf(err, "export: protobuf-c packed a different size than it announced");
        } else {
            *out = buf;
            *len = n;
        }
    }
    arena_free(&a);
    model_free(&m);
    return rc;
}
