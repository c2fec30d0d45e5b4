/* net.h — a network as a small graph of layer nodes built from code or config, not hard-coded.
 * Building records the nodes; net_finalize sizes and makes the allocations: one for parameters,
 * one for their gradients, one for non-trained buffers (batch-norm running statistics), one for
 * activations, one for activation gradients, one for saved state and one scratch workspace.
 * After that, training steps allocate nothing. Nodes run in the order they were added.
 * A batch-norm whose only consumer is the ReLU right after it runs fused with that ReLU: both
 * nodes then share one activation buffer holding the ReLU's output. An upsample whose only
 * consumer is a convolution that can read its input upsampled (conv2d_reads_upsampled) is
 * folded into it: the upsampled map is never made (nor its gradient), and net_act of that
 * node is not its output. */
#ifndef GS_NET_H
#define GS_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gs/comm.h"
#include "gs/err.h"
#include "gs/layers.h"

/* One parameter tensor inside the flat parameter array, as the optimisers see it. decay:
 * weight decay and the LARS trust ratio apply (weights); false for biases and batch-norm
 * parameters. */
typedef struct {
    size_t offset, count;
    bool decay;
} ParamSpan;

typedef enum {
    NODE_INPUT, NODE_CONV, NODE_BN, NODE_RELU, NODE_MAXPOOL, NODE_UPSAMPLE, NODE_GAP,
    NODE_LINEAR, NODE_ADD, NODE_SIGMOID
} NodeKind;

typedef struct {
    NodeKind kind;
    int a, b;            /* input node ids (b: second input of add), -1 when unused */
    int C, H, W;         /* output shape of one image; dense outputs have H = W = 1 */
    ConvShape conv;      /* conv geometry */
    int k, stride;       /* max-pool window and stride; upsample factor in k */
    int in_features;     /* linear */
    bool bias;           /* conv, linear */
    bool relu;           /* bn: a following ReLU is fused in (set by net_finalize) */
    bool fused;          /* relu: computed by the bn before it; shares its buffers */
    bool folded;         /* upsample: read upsampled by the conv consuming it, which takes
                          * this node's input instead; no buffer of its own */
    int grad_writer;     /* conv, bn: the layer whose backward reaches this output's gradient
                          * first (the highest-numbered reader, through a fused relu too),
                          * when it is a bn or a max-pool: it writes (=) and any other reader
                          * adds after it, so net_backward_begin leaves the buffer alone; -1
                          * otherwise (set by net_finalize) */
    size_t w_off, b_off; /* parameters: conv/linear weight and bias, bn gamma and beta */
    size_t buf_off;      /* bn running mean (C) then running var (C), in buffers */
    size_t act_off;      /* output activation (max_batch, C, H, W) in acts and dacts */
    size_t save_off;     /* bn mean, rstd (2C) in saved; max-pool argmax in idx */
} Node;

typedef struct {
    Node *nodes;
    int n_nodes, cap_nodes;
    int max_batch;
    float bn_eps, bn_momentum;
    float *params, *grads;  /* (n_params) each */
    size_t n_params;
    ParamSpan *spans;       /* one per parameter tensor */
    int n_spans;
    float *buffers;         /* (n_buffers) bn running statistics */
    size_t n_buffers;
    float *acts, *dacts;    /* (n_acts) each */
    size_t n_acts;
    float *saved;           /* (n_saved) */
    size_t n_saved;
    int32_t *idx;           /* (n_idx) max-pool argmax */
    size_t n_idx;
    float *ws;              /* (n_ws) scratch shared by all nodes */
    size_t n_ws;
    int ws_threads;         /* thread count ws was sized for; never run with more */
    double *prof;           /* (2 * n_nodes) seconds in forward, backward; NULL = off */
    bool finalized;
    GsErr err;              /* first building error, reported by net_finalize */
    int failed;
    /* Data-parallel training (net_set_comm): the process group whose shares make up the
     * batch, NULL when this process has the whole batch; scratch for the statistics; the
     * first failed collective (net_comm_error). */
    const Comm *comm;
    double *comm_ws;
    size_t n_comm_ws;
    int comm_failed;
    GsErr comm_err;
} Net;

/* Building: each call returns the new node's id, or -1 (and the net remembers the error). */
void net_init(Net *n);
int net_input(Net *n, int C, int H, int W);
int net_conv(Net *n, int x, int Cout, int K, int stride, int pad, bool bias);
int net_bn(Net *n, int x);
int net_relu(Net *n, int x);
int net_maxpool(Net *n, int x, int K, int stride);
int net_upsample(Net *n, int x, int factor);
int net_gap(Net *n, int x);
int net_linear(Net *n, int x, int out_features, bool bias);
int net_add(Net *n, int x, int y);
int net_sigmoid(Net *n, int x);

/* Allocates everything for batches of up to max_batch images and initialises parameters
 * as PyTorch does (uniform +-1/sqrt(fan_in) for conv and linear weights and biases, gamma 1,
 * beta 0, running mean 0 and var 1) from seed. */
int net_finalize(Net *n, int max_batch, uint64_t seed, GsErr *err);
void net_free(Net *n);

/* Runs every node on B <= max_batch images; x (B, C, H, W) is copied into the input node.
 * train selects batch statistics (and updates running ones) or running statistics. */
void net_forward(Net *n, const float *x, int B, bool train);
/* Zeroes the activation gradients of the first B images; call before filling a loss gradient
 * into net_dact of an output node and calling net_backward. A caller may add to the gradient
 * of any node but a convolution's or a batch-norm's output whose last reader is a
 * batch-norm or max-pool: that layer writes those (Node.grad_writer), so they are not zeroed
 * (in the default encoder 89 % of the bytes zeroed, counted from the layer sizes; the step
 * 8 % faster without: BENCHMARKS.md). */
void net_backward_begin(Net *n, int B);
/* Back-propagates from every node's activation gradient, accumulating into grads. */
void net_backward(Net *n, int B);
void net_zero_grad(Net *n);

/* Training on a share of a batch split over the processes of c (NULL, or a group of one:
 * the whole batch is here, as without the call): the training-mode forward and backward of
 * every batch-norm then use the statistics of the whole batch (one all-gather per layer
 * forward, one sum all-reduce backward; every process calls net_forward and net_backward
 * with its own share, B = 0 included), so each share's activations and input gradients are
 * those of the whole batch at once. Parameter gradients stay this share's: the caller sums
 * them. Inference mode is unchanged. Returns -1 when out of memory. */
int net_set_comm(Net *n, const Comm *c, GsErr *err);
/* 0, or -1 with err set to the first collective that failed in a forward or backward since
 * the last call (which clears it). */
int net_comm_error(Net *n, GsErr *err);

float *net_act(const Net *n, int node);   /* (max_batch, C, H, W) */
float *net_dact(const Net *n, int node);
size_t net_node_size(const Net *n, int node); /* C * H * W */
const char *net_kind_name(NodeKind k);
/* Starts accumulating the wall time of each node's forward and backward (bench_step's
 * --profile); returns -1 when out of memory. */
int net_profile_enable(Net *n);

#endif
