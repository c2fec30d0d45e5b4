/* net.c — a network as an ordered list of layer nodes. Building only records nodes and
 * per-image sizes; net_finalize makes the few big allocations, after which forward and
 * backward run the layer functions over them without allocating. It knows nothing of
 * datasets, losses or optimisers: callers put a loss gradient into an output node's dact. */
#include "gs/net.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <time.h>

#include "gs/blas.h"
#include "gs/rng.h"

static const char *const KIND_NAMES[] = {"input",   "conv", "bn",     "relu",   "maxpool",
                                         "upsample", "gap",  "linear", "add",    "sigmoid"};

void net_init(Net *n)
{
    memset(n, 0, sizeof *n);
    n->bn_eps = 1e-5f;
    n->bn_momentum = 0.1f;
}

/* Records the first building error; later calls then fail too, so a chain of builder calls
 * can be checked once at net_finalize. */
static int build_fail(Net *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int build_fail(Net *n, const char *fmt, ...)
{
    if (!n->failed) {
        char buf[400];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        gs_errf(&n->err, "net: %s", buf);
        n->failed = 1;
    }
    return -1;
}

static int check_input(Net *n, int x, const char *what)
{
    if (n->failed)
        return -1;
    if (n->finalized)
        return build_fail(n, "%s: network already finalised", what);
    if (x < 0 || x >= n->n_nodes)
        return build_fail(n, "%s: input node %d does not exist (%d nodes)", what, x, n->n_nodes);
    return 0;
}

static int push(Net *n, const Node *proto)
{
    if (n->n_nodes == n->cap_nodes) {
        int cap = n->cap_nodes ? 2 * n->cap_nodes : 32;
        Node *nodes = realloc(n->nodes, (size_t)cap * sizeof *nodes);
        if (!nodes)
            return build_fail(n, "out of memory for %d nodes", cap);
        n->nodes = nodes;
        n->cap_nodes = cap;
    }
    Node *nd = &n->nodes[n->n_nodes];
    *nd = *proto;
    return n->n_nodes++;
}

static Node proto_from(const Net *n, NodeKind kind, int x)
{
    Node p;
    memset(&p, 0, sizeof p);
    p.kind = kind;
    p.a = x;
    p.b = -1;
    if (x >= 0) {
        p.C = n->nodes[x].C;
        p.H = n->nodes[x].H;
        p.W = n->nodes[x].W;
    }
    return p;
}

static int add_span(Net *n, size_t count, bool decay)
{
    ParamSpan *s = realloc(n->spans, (size_t)(n->n_spans + 1) * sizeof *s);
    if (!s)
        return build_fail(n, "out of memory for parameter spans");
    n->spans = s;
    s[n->n_spans].offset = n->n_params;
    s[n->n_spans].count = count;
    s[n->n_spans].decay = decay;
    n->n_spans++;
    n->n_params += count;
    return 0;
}

/* A layer with weights: its n_w weights (decayed), then with a bias its n_b biases (not
 * decayed), laid out in that order, then the node. */
static int push_weighted(Net *n, Node *p, size_t n_w, size_t n_b)
{
    p->w_off = n->n_params;
    if (add_span(n, n_w, true))
        return -1;
    if (p->bias) {
        p->b_off = n->n_params;
        if (add_span(n, n_b, false))
            return -1;
    }
    return push(n, p);
}

int net_input(Net *n, int C, int H, int W)
{
    if (n->failed)
        return -1;
    if (C < 1 || H < 1 || W < 1 || (size_t)C * H * W > (1u << 26))
        return build_fail(n, "input: bad shape %dx%dx%d", C, H, W);
    Node p = proto_from(n, NODE_INPUT, -1);
    p.C = C;
    p.H = H;
    p.W = W;
    return push(n, &p);
}

int net_conv(Net *n, int x, int Cout, int K, int stride, int pad, bool bias)
{
    if (check_input(n, x, "conv"))
        return -1;
    Node p = proto_from(n, NODE_CONV, x);
    if (Cout < 1 || K < 1 || stride < 1 || pad < 0 || pad >= K)
        return build_fail(n, "conv: bad geometry Cout=%d K=%d stride=%d pad=%d", Cout, K, stride, pad);
    if (conv2d_shape(&p.conv, p.C, p.H, p.W, Cout, K, stride, pad))
        return build_fail(n, "conv: kernel %d does not fit a %dx%d plane", K, p.H, p.W);
    p.C = Cout;
    p.H = p.conv.Ho;
    p.W = p.conv.Wo;
    p.bias = bias;
    return push_weighted(n, &p, (size_t)Cout * p.conv.Cin * K * K, (size_t)Cout);
}

int net_bn(Net *n, int x)
{
    if (check_input(n, x, "bn"))
        return -1;
    Node p = proto_from(n, NODE_BN, x);
    p.w_off = n->n_params;
    if (add_span(n, (size_t)p.C, false))
        return -1;
    p.b_off = n->n_params;
    if (add_span(n, (size_t)p.C, false))
        return -1;
    p.buf_off = n->n_buffers;
    n->n_buffers += 2 * (size_t)p.C;
    p.save_off = n->n_saved;
    n->n_saved += 2 * (size_t)p.C;
    return push(n, &p);
}

int net_relu(Net *n, int x)
{
    if (check_input(n, x, "relu"))
        return -1;
    Node p = proto_from(n, NODE_RELU, x);
    return push(n, &p);
}

int net_sigmoid(Net *n, int x)
{
    if (check_input(n, x, "sigmoid"))
        return -1;
    Node p = proto_from(n, NODE_SIGMOID, x);
    return push(n, &p);
}

int net_maxpool(Net *n, int x, int K, int stride)
{
    if (check_input(n, x, "maxpool"))
        return -1;
    Node p = proto_from(n, NODE_MAXPOOL, x);
    if (K < 1 || stride < 1 || K > p.H || K > p.W)
        return build_fail(n, "maxpool: window %d stride %d does not fit a %dx%d plane", K, stride, p.H, p.W);
    p.k = K;
    p.stride = stride;
    p.H = (p.H - K) / stride + 1;
    p.W = (p.W - K) / stride + 1;
    /* per-image argmax offset; scaled by max_batch at finalize like activations */
    p.save_off = n->n_idx;
    n->n_idx += (size_t)p.C * p.H * p.W;
    return push(n, &p);
}

int net_upsample(Net *n, int x, int factor)
{
    if (check_input(n, x, "upsample"))
        return -1;
    Node p = proto_from(n, NODE_UPSAMPLE, x);
    if (factor < 1 || factor > 16)
        return build_fail(n, "upsample: factor %d outside 1..16", factor);
    p.k = factor;
    p.H *= factor;
    p.W *= factor;
    return push(n, &p);
}

int net_gap(Net *n, int x)
{
    if (check_input(n, x, "gap"))
        return -1;
    Node p = proto_from(n, NODE_GAP, x);
    p.H = p.W = 1;
    return push(n, &p);
}

int net_linear(Net *n, int x, int out_features, bool bias)
{
    if (check_input(n, x, "linear"))
        return -1;
    Node p = proto_from(n, NODE_LINEAR, x);
    if (out_features < 1)
        return build_fail(n, "linear: %d output features", out_features);
    p.in_features = p.C * p.H * p.W;
    p.C = out_features;
    p.H = p.W = 1;
    p.bias = bias;
    return push_weighted(n, &p, (size_t)out_features * p.in_features, (size_t)out_features);
}

int net_add(Net *n, int x, int y)
{
    if (check_input(n, x, "add") || check_input(n, y, "add"))
        return -1;
    Node p = proto_from(n, NODE_ADD, x);
    const Node *ny = &n->nodes[y];
    if (ny->C != p.C || ny->H != p.H || ny->W != p.W)
        return build_fail(n, "add: shapes differ (%dx%dx%d vs %dx%dx%d)", p.C, p.H, p.W, ny->C, ny->H, ny->W);
    p.b = y;
    return push(n, &p);
}

static void init_uniform(float *p, size_t count, float bound, Rng *rng)
{
    for (size_t i = 0; i < count; i++)
        p[i] = rng_range(rng, -bound, bound);
}

static void init_params(Net *n, uint64_t seed)
{
    Rng rng;
    rng_seed(&rng, seed);
    for (int i = 0; i < n->n_nodes; i++) {
        const Node *nd = &n->nodes[i];
        size_t fan_in, wcount;
        switch (nd->kind) {
        case NODE_CONV:
            fan_in = (size_t)nd->conv.Cin * nd->conv.K * nd->conv.K;
            wcount = (size_t)nd->C * fan_in;
            break;
        case NODE_LINEAR:
            fan_in = (size_t)nd->in_features;
            wcount = (size_t)nd->C * fan_in;
            break;
        case NODE_BN:
            for (int c = 0; c < nd->C; c++) {
                n->params[nd->w_off + c] = 1.0f;
                n->params[nd->b_off + c] = 0.0f;
                n->buffers[nd->buf_off + c] = 0.0f;
                n->buffers[nd->buf_off + nd->C + c] = 1.0f;
            }
            continue;
        default:
            continue;
        }
        /* PyTorch's default for conv and linear: kaiming_uniform(a = sqrt 5) on the weight
         * and uniform(+-1/sqrt(fan_in)) on the bias, both bound 1/sqrt(fan_in). */
        float bound = 1.0f / sqrtf((float)fan_in);
        init_uniform(n->params + nd->w_off, wcount, bound, &rng);
        if (nd->bias)
            init_uniform(n->params + nd->b_off, (size_t)nd->C, bound, &rng);
    }
}

static float *alloc_floats(size_t count)
{
    return calloc(count ? count : 1, sizeof(float));
}

/* The node whose activation (and gradient) buffer node i's output lives in: a fused relu's
 * is its bn's. */
static int buffer_owner(const Net *n, int i)
{
    return n->nodes[i].fused ? n->nodes[i].a : i;
}

/* The node whose output node i reads as its (first) input: a conv reading a folded upsample
 * takes the upsample's input. */
static int input_of(const Net *n, int i)
{
    int a = n->nodes[i].a;
    return a >= 0 && n->nodes[a].folded ? n->nodes[a].a : a;
}

/* Node.grad_writer of every node. Backward visits layers from the last to the first, so of
 * the layers reading a buffer the highest-numbered reaches its gradient first: when that one
 * is a bn or a max-pool (whose backwards can write their input's gradient whole) and the
 * buffer a conv's or a bn's output, it writes and the others add after it. */
static void mark_grad_writers(Net *n)
{
    for (int i = 0; i < n->n_nodes; i++)
        n->nodes[i].grad_writer = -1;
    for (int i = 1; i < n->n_nodes; i++) { /* rising: each buffer keeps its last reader */
        const Node *nd = &n->nodes[i];
        if (nd->fused || nd->folded)
            continue; /* computed by its bn or its conv; its readers reach that buffer */
        if (nd->a >= 0)
            n->nodes[buffer_owner(n, input_of(n, i))].grad_writer = i;
        if (nd->b >= 0)
            n->nodes[buffer_owner(n, nd->b)].grad_writer = i;
    }
    for (int i = 0; i < n->n_nodes; i++) {
        Node *o = &n->nodes[i];
        NodeKind w = o->grad_writer >= 0 ? n->nodes[o->grad_writer].kind : NODE_INPUT;
        if (!((o->kind == NODE_CONV || o->kind == NODE_BN) &&
              (w == NODE_BN || w == NODE_MAXPOOL)))
            o->grad_writer = -1;
    }
}

/* Fuses each batch-norm with a ReLU that is its only consumer, folds an upsample into the
 * conv that is its only consumer when that conv can read it upsampled, marks the gradients
 * written whole (mark_grad_writers), then lays out the activation buffers for max_batch
 * images; a fused ReLU shares its batch-norm's buffer, a folded upsample has none. */
static int fuse_and_place(Net *n)
{
    int *consumers = calloc((size_t)n->n_nodes, sizeof *consumers);
    if (!consumers)
        return -1;
    for (int i = 0; i < n->n_nodes; i++) {
        if (n->nodes[i].a >= 0)
            consumers[n->nodes[i].a]++;
        if (n->nodes[i].b >= 0)
            consumers[n->nodes[i].b]++;
    }
    for (int i = 0; i + 1 < n->n_nodes; i++) {
        Node *bn = &n->nodes[i], *relu = &n->nodes[i + 1];
        if (bn->kind == NODE_BN && relu->kind == NODE_RELU && relu->a == i && consumers[i] == 1) {
            bn->relu = true;
            relu->fused = true;
        }
    }
    for (int i = 0; i < n->n_nodes; i++) {
        Node *c = &n->nodes[i];
        if (c->kind == NODE_CONV && c->a >= 0 && n->nodes[c->a].kind == NODE_UPSAMPLE &&
            consumers[c->a] == 1 && conv2d_reads_upsampled(&c->conv, n->nodes[c->a].k))
            n->nodes[c->a].folded = true;
    }
    free(consumers);
    mark_grad_writers(n);
    n->n_acts = 0;
    for (int i = 0; i < n->n_nodes; i++) {
        Node *nd = &n->nodes[i];
        if (nd->fused || nd->folded) {
            nd->act_off = n->nodes[nd->a].act_off; /* a folded upsample: never used */
            continue;
        }
        nd->act_off = n->n_acts;
        n->n_acts += (size_t)n->max_batch * nd->C * nd->H * nd->W;
    }
    return 0;
}

int net_finalize(Net *n, int max_batch, uint64_t seed, GsErr *err)
{
    if (n->failed) {
        if (err)
            *err = n->err;
        return -1;
    }
    if (n->finalized)
        return gs_errf(err, "net: already finalised");
    if (n->n_nodes == 0 || n->nodes[0].kind != NODE_INPUT)
        return gs_errf(err, "net: the first node must be the input");
    if (max_batch < 1)
        return gs_errf(err, "net: max_batch %d < 1", max_batch);
    n->max_batch = max_batch;
    if (fuse_and_place(n))
        return gs_errf(err, "net: out of memory");
    for (int i = 0; i < n->n_nodes; i++) {
        Node *nd = &n->nodes[i];
        if (nd->kind == NODE_MAXPOOL)
            nd->save_off *= (size_t)max_batch;
        if (nd->kind == NODE_CONV) {
            size_t ws = conv2d_ws_floats(&nd->conv, max_batch);
            if (ws > n->n_ws)
                n->n_ws = ws;
        }
    }
    n->ws_threads = gs_threads_get();
    n->n_idx *= (size_t)max_batch;
    n->params = alloc_floats(n->n_params);
    n->grads = alloc_floats(n->n_params);
    n->buffers = alloc_floats(n->n_buffers);
    n->acts = alloc_floats(n->n_acts);
    n->dacts = alloc_floats(n->n_acts);
    n->saved = alloc_floats(n->n_saved);
    n->ws = alloc_floats(n->n_ws);
    n->idx = calloc(n->n_idx ? n->n_idx : 1, sizeof *n->idx);
    if (!n->params || !n->grads || !n->buffers || !n->acts || !n->dacts || !n->saved ||
        !n->ws || !n->idx) {
        size_t total = 2 * n->n_params + n->n_buffers + 2 * n->n_acts + n->n_saved + n->n_ws +
                       n->n_idx;
        net_free(n);
        return gs_errf(err, "net: out of memory for %zu MiB of buffers (max_batch %d)",
                       total * 4 >> 20, max_batch);
    }
    n->finalized = true;
    init_params(n, seed);
    return 0;
}

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int net_profile_enable(Net *n)
{
    if (!n->prof)
        n->prof = calloc(2 * (size_t)(n->n_nodes ? n->n_nodes : 1), sizeof *n->prof);
    return n->prof ? 0 : -1;
}

int net_set_comm(Net *n, const Comm *c, GsErr *err)
{
    free(n->comm_ws);
    n->comm_ws = NULL;
    n->n_comm_ws = 0;
    n->comm = NULL;
    n->comm_failed = 0;
    if (comm_size(c) <= 1)
        return 0;
    size_t P = (size_t)comm_size(c), maxc = 1;
    for (int i = 0; i < n->n_nodes; i++)
        if (n->nodes[i].kind == NODE_BN && (size_t)n->nodes[i].C > maxc)
            maxc = (size_t)n->nodes[i].C;
    /* forward: this share's (count, mean, m2), every share's, the combined mean and m2;
     * backward: this share's sums and their global sums */
    n->n_comm_ws = (P + 1) * (1 + 2 * maxc) + 2 * maxc + 4 * maxc + 1;
    n->comm_ws = malloc(sizeof(double) * n->n_comm_ws);
    if (!n->comm_ws) {
        n->n_comm_ws = 0;
        return gs_errf(err, "net: out of memory for the batch-norm statistics of %zu processes",
                       P);
    }
    n->comm = c;
    return 0;
}

int net_comm_error(Net *n, GsErr *err)
{
    if (!n->comm_failed)
        return 0;
    n->comm_failed = 0;
    if (err)
        *err = n->comm_err;
    return -1;
}

static void comm_fail(Net *n, const GsErr *e)
{
    if (!n->comm_failed) {
        n->comm_err = *e;
        n->comm_failed = 1;
    }
}

/* Training-mode batch-norm of this process's share with the whole batch's statistics: each
 * share's count, mean and sum of squared deviations, gathered from every process and
 * combined in rank order (Chan et al.), the same bits on every process. */
static void bn_forward_shared(Net *n, const Node *nd, float *out, const float *in, int B)
{
    const int C = nd->C, S = nd->H * nd->W, P = comm_size(n->comm);
    const size_t row = 1 + 2 * (size_t)C;
    double *mine = n->comm_ws, *all = mine + row, *gmean = all + (size_t)P * row,
           *gm2 = gmean + C;
    GsErr e;
    mine[0] = (double)B * S;
    batchnorm_share_moments(in, B, C, S, mine + 1, mine + 1 + C);
    if (comm_gather_all(n->comm, mine, sizeof(double) * row, all, &e)) {
        comm_fail(n, &e);
        memcpy(all, mine, sizeof(double) * row);
        for (int r = 1; r < P; r++)
            all[(size_t)r * row] = 0;
    }
    double gn = 0;
    for (int r = 0; r < P; r++)
        gn += all[(size_t)r * row];
    for (int c = 0; c < C; c++) {
        double na = 0, ma = 0, qa = 0;
        for (int r = 0; r < P; r++) {
            const double *s = all + (size_t)r * row;
            double nb = s[0], mb = s[1 + c], qb = s[1 + C + c];
            if (nb <= 0)
                continue;
            if (na == 0) {
                na = nb, ma = mb, qa = qb;
                continue;
            }
            double nt = na + nb, delta = mb - ma;
            ma += delta * (nb / nt);
            qa += qb + delta * delta * (na * nb / nt);
            na = nt;
        }
        gmean[c] = ma;
        gm2[c] = qa;
    }
    batchnorm_forward_global(out, n->saved + nd->save_off, n->saved + nd->save_off + C,
                             n->buffers + nd->buf_off, n->buffers + nd->buf_off + C, in,
                             n->params + nd->w_off, n->params + nd->b_off, B, C, S, gmean, gm2,
                             gn > 0 ? gn : 1, n->bn_eps, n->bn_momentum, nd->relu);
}

/* Its backward: this share's two sums per channel, summed over the processes for the input
 * gradient; dgamma and dbeta get this share's own (the parameter gradients are summed
 * later). The count of the whole batch is P shares' counts, as the forward saw. */
static void bn_backward_shared(Net *n, const Node *nd, float *dinp, const float *dout,
                               const float *out, const float *in, int B)
{
    const int C = nd->C, S = nd->H * nd->W, P = comm_size(n->comm);
    const size_t row = 1 + 2 * (size_t)C;
    double *sums = n->comm_ws + (size_t)(P + 1) * row + 2 * (size_t)C, *gsums = sums + 2 * C;
    const float *mean = n->saved + nd->save_off, *rstd = mean + C;
    GsErr e;
    batchnorm_share_dsums(dout, nd->relu ? out : NULL, in, mean, B, C, S, sums, sums + C);
    memcpy(gsums, sums, sizeof(double) * 2 * C);
    gsums[2 * C] = (double)B * S;
    if (comm_sum_f64(n->comm, gsums, 2 * (size_t)C + 1, &e))
        comm_fail(n, &e);
    double gn = gsums[2 * C] > 0 ? gsums[2 * C] : 1;
    batchnorm_backward_global(dinp, n->grads + nd->w_off, n->grads + nd->b_off, dout,
                              nd->relu ? out : NULL, in, mean, rstd, n->params + nd->w_off, B,
                              C, S, sums, sums + C, gsums, gsums + C, gn);
}

void net_free(Net *n)
{
    free(n->comm_ws);
    free(n->prof);
    free(n->nodes);
    free(n->spans);
    free(n->params);
    free(n->grads);
    free(n->buffers);
    free(n->acts);
    free(n->dacts);
    free(n->saved);
    free(n->idx);
    free(n->ws);
    net_init(n);
}

float *net_act(const Net *n, int node)
{
    return n->acts + n->nodes[node].act_off;
}

float *net_dact(const Net *n, int node)
{
    return n->dacts + n->nodes[node].act_off;
}

size_t net_node_size(const Net *n, int node)
{
    const Node *nd = &n->nodes[node];
    return (size_t)nd->C * nd->H * nd->W;
}

const char *net_kind_name(NodeKind k)
{
    return (unsigned)k < sizeof KIND_NAMES / sizeof KIND_NAMES[0] ? KIND_NAMES[k] : "?";
}

/* The conv scratch was sized for ws_threads threads; a caller that has raised the count
 * since would overrun it, so the count is brought back down for this thread. */
static void clamp_threads(const Net *n)
{
    if (gs_threads_get() > n->ws_threads)
        gs_threads_set(n->ws_threads);
}

void net_forward(Net *n, const float *x, int B, bool train)
{
    clamp_threads(n);
    for (int i = 0; i < n->n_nodes; i++) {
        const Node *nd = &n->nodes[i];
        float *out = n->acts + nd->act_off;
        const float *in = nd->a >= 0 ? n->acts + n->nodes[input_of(n, i)].act_off : NULL;
        const Node *src = nd->a >= 0 ? &n->nodes[nd->a] : NULL;
        size_t count = (size_t)B * nd->C * nd->H * nd->W;
        float *p = n->params;
        double t0 = n->prof ? now_seconds() : 0;
        switch (nd->kind) {
        case NODE_INPUT:
            memcpy(out, x, count * sizeof *out);
            break;
        case NODE_CONV:
            conv2d_forward(&nd->conv, B, out, in, p + nd->w_off, nd->bias ? p + nd->b_off : NULL,
                           n->ws);
            break;
        case NODE_BN:
            if (train && n->comm)
                bn_forward_shared(n, nd, out, in, B);
            else if (nd->relu && train)
                batchnorm_relu_forward_train(out, n->saved + nd->save_off,
                                             n->saved + nd->save_off + nd->C,
                                             n->buffers + nd->buf_off,
                                             n->buffers + nd->buf_off + nd->C, in,
                                             p + nd->w_off, p + nd->b_off, B, nd->C,
                                             nd->H * nd->W, n->bn_eps, n->bn_momentum);
            else if (nd->relu)
                batchnorm_relu_forward_infer(out, in, p + nd->w_off, p + nd->b_off,
                                             n->buffers + nd->buf_off,
                                             n->buffers + nd->buf_off + nd->C, B, nd->C,
                                             nd->H * nd->W, n->bn_eps);
            else if (train)
                batchnorm_forward_train(out, n->saved + nd->save_off,
                                        n->saved + nd->save_off + nd->C,
                                        n->buffers + nd->buf_off,
                                        n->buffers + nd->buf_off + nd->C, in, p + nd->w_off,
                                        p + nd->b_off, B, nd->C, nd->H * nd->W, n->bn_eps,
                                        n->bn_momentum);
            else
                batchnorm_forward_infer(out, in, p + nd->w_off, p + nd->b_off,
                                        n->buffers + nd->buf_off,
                                        n->buffers + nd->buf_off + nd->C, B, nd->C,
                                        nd->H * nd->W, n->bn_eps);
            break;
        case NODE_RELU:
            if (!nd->fused)
                relu_forward(out, in, count);
            break;
        case NODE_SIGMOID:
            sigmoid_forward(out, in, count);
            break;
        case NODE_MAXPOOL:
            maxpool_forward(out, n->idx + nd->save_off, in, B, src->C, src->H, src->W, nd->k,
                            nd->stride);
            break;
        case NODE_UPSAMPLE:
            if (!nd->folded)
                upsample_forward(out, in, B, src->C, src->H, src->W, nd->k);
            break;
        case NODE_GAP:
            gap_forward(out, in, B, src->C, src->H * src->W);
            break;
        case NODE_LINEAR:
            linear_forward(out, in, p + nd->w_off, nd->bias ? p + nd->b_off : NULL, B,
                           nd->in_features, nd->C);
            break;
        case NODE_ADD:
            add_forward(out, in, n->acts + n->nodes[nd->b].act_off, count);
            break;
        }
        if (n->prof)
            n->prof[2 * i] += now_seconds() - t0;
    }
}

/* Whether layer i (a bn or max-pool) writes its input's gradient whole. In a process group
 * a bn adds (its shared backward), so that buffer is zeroed first like the others. */
static bool writes_dinp(const Net *n, int i)
{
    const Node *nd = &n->nodes[i];
    return n->nodes[buffer_owner(n, nd->a)].grad_writer == i &&
           !(nd->kind == NODE_BN && n->comm);
}

void net_backward_begin(Net *n, int B)
{
    for (int i = 0; i < n->n_nodes; i++) {
        const Node *nd = &n->nodes[i];
        if (nd->fused || nd->folded || nd->kind == NODE_INPUT ||
            (nd->grad_writer >= 0 && writes_dinp(n, nd->grad_writer)))
            continue;
        memset(n->dacts + nd->act_off, 0, (size_t)B * net_node_size(n, i) * sizeof(float));
    }
}

void net_zero_grad(Net *n)
{
    memset(n->grads, 0, n->n_params * sizeof *n->grads);
}

/* The input node needs no gradient, so layers fed by it skip their input-gradient work
 * (for the first conv, a whole GEMM and col2im). */
static float *dinp_of(Net *n, int a)
{
    if (a < 0 || n->nodes[a].kind == NODE_INPUT)
        return NULL;
    return n->dacts + n->nodes[a].act_off;
}

void net_backward(Net *n, int B)
{
    clamp_threads(n);
    for (int i = n->n_nodes - 1; i > 0; i--) {
        const Node *nd = &n->nodes[i];
        const float *out = n->acts + nd->act_off;
        const float *dout = n->dacts + nd->act_off;
        const float *in = n->acts + n->nodes[input_of(n, i)].act_off;
        float *dinp = dinp_of(n, input_of(n, i));
        const Node *src = &n->nodes[nd->a];
        size_t count = (size_t)B * nd->C * nd->H * nd->W;
        float *p = n->params, *g = n->grads;
        double t0 = n->prof ? now_seconds() : 0;
        switch (nd->kind) {
        case NODE_INPUT:
            break;
        case NODE_CONV:
            conv2d_backward(&nd->conv, B, dinp, g + nd->w_off, nd->bias ? g + nd->b_off : NULL,
                            dout, in, p + nd->w_off, n->ws);
            break;
        case NODE_BN:
            /* dinp is NULL for a BN right on the input: only dgamma and dbeta are wanted */
            if (n->comm)
                bn_backward_shared(n, nd, dinp, dout, out, in, B);
            else if (nd->relu)
                (writes_dinp(n, i) ? batchnorm_relu_backward_set : batchnorm_relu_backward)(
                    dinp, g + nd->w_off, g + nd->b_off, dout, in, n->saved + nd->save_off,
                    n->saved + nd->save_off + nd->C, p + nd->w_off, p + nd->b_off, B, nd->C,
                    nd->H * nd->W);
            else
                (writes_dinp(n, i) ? batchnorm_backward_set : batchnorm_backward)(
                    dinp, g + nd->w_off, g + nd->b_off, dout, in, n->saved + nd->save_off,
                    n->saved + nd->save_off + nd->C, p + nd->w_off, B, nd->C, nd->H * nd->W);
            break;
        case NODE_RELU:
            if (dinp && !nd->fused)
                relu_backward(dinp, dout, out, count);
            break;
        case NODE_SIGMOID:
            if (dinp)
                sigmoid_backward(dinp, dout, out, count);
            break;
        case NODE_MAXPOOL:
            if (dinp)
                (writes_dinp(n, i) ? maxpool_backward_set : maxpool_backward)(
                    dinp, dout, n->idx + nd->save_off, B, src->C, src->H, src->W, nd->k,
                    nd->stride);
            break;
        case NODE_UPSAMPLE:
            if (dinp && !nd->folded)
                upsample_backward(dinp, dout, B, src->C, src->H, src->W, nd->k);
            break;
        case NODE_GAP:
            if (dinp)
                gap_backward(dinp, dout, B, src->C, src->H * src->W);
            break;
        case NODE_LINEAR:
            linear_backward(dinp, g + nd->w_off, nd->bias ? g + nd->b_off : NULL, dout, in,
                            p + nd->w_off, B, nd->in_features, nd->C);
            break;
        case NODE_ADD:
            add_backward(dinp, dinp_of(n, nd->b), dout, count);
            break;
        }
        if (n->prof)
            n->prof[2 * i + 1] += now_seconds() - t0;
    }
}
