/* optim.h — optimisers over one flat parameter array (SGD with momentum, Adam, AdamW, LARS)
 * and the learning-rate schedule (linear warm-up then cosine decay). The parameter array is
 * described by the network's ParamSpans (net.h), one per parameter tensor, so weight decay and
 * LARS's trust ratio can skip biases and batch-norm parameters as SimCLR does. State lives in
 * one allocation. */
#ifndef GS_OPTIM_H
#define GS_OPTIM_H

#include <stdbool.h>
#include <stddef.h>

#include "gs/err.h"
#include "gs/net.h"

typedef enum { OPT_SGD, OPT_ADAM, OPT_ADAMW, OPT_LARS } OptKind;

typedef struct {
    OptKind kind;
    float momentum;      /* SGD and LARS (PyTorch convention: buf = mu * buf + g) */
    float weight_decay;  /* SGD, Adam (added to the gradient), AdamW (decoupled), LARS */
    float beta1, beta2, eps; /* Adam, AdamW */
    float trust_coef;    /* LARS eta, e.g. 0.001 */
} OptConfig;

typedef struct {
    OptConfig cfg;
    size_t n;
    long step;    /* steps taken, for Adam's bias correction */
    float *m;     /* (n) momentum / first moment */
    float *v;     /* (n) second moment (Adam, AdamW); NULL otherwise */
    float *mem;   /* the one allocation behind m and v */
} Optimizer;

/* Default settings for a kind (Adam betas 0.9/0.999, eps 1e-8, momentum 0.9, eta 0.001). */
OptConfig optim_defaults(OptKind kind);
int optim_init(Optimizer *o, const OptConfig *cfg, size_t n, GsErr *err);
void optim_free(Optimizer *o);
/* One update of params (n) from grads (n) at learning rate lr. */
void optim_step(Optimizer *o, float *params, const float *grads, const ParamSpan *spans,
                int n_spans, float lr);
/* floats of state (m and v) and a pointer to them, for checkpoints */
size_t optim_state_floats(const Optimizer *o);

typedef struct {
    float base_lr;
    long warmup_steps;  /* lr rises linearly from base_lr/warmup to base_lr */
    long total_steps;   /* then cosine decay to final_lr at total_steps */
    float final_lr;
} Schedule;

/* learning rate at 0-based step */
float schedule_lr(const Schedule *s, long step);

#endif
