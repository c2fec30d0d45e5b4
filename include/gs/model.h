/* model.h — the project's networks, built on net.h from a small config: the SimCLR encoder
 * (the 3-conv reference CNN of DESIGN.md section 5, or a residual CNN with a CIFAR stem) with
 * its MLP projection head, and the denoising autoencoder. */
#ifndef GS_MODEL_H
#define GS_MODEL_H

#include "gs/net.h"

typedef enum { ARCH_CNN3, ARCH_RESNET } Arch;

#define MODEL_MAX_HEAD 4
#define MODEL_MAX_STAGES 4

typedef struct {
    Arch arch;
    int in_c, in_h, in_w;
    int width;               /* channels of the first stage; each later stage doubles them */
    int widths[MODEL_MAX_STAGES]; /* when n_widths > 0: the channels of each stage instead */
    int n_widths;            /* 0 (width doubling) or stages */
    int stages;              /* cnn3: 3 conv blocks; resnet: stages, the first at stride 1 */
    int blocks;              /* resnet: residual blocks per stage */
    int head[MODEL_MAX_HEAD];/* projection head widths, last = z dimension; ReLU between */
    int n_head;
} EncoderConfig;

typedef struct {
    int in_c, in_h, in_w;
    int filters[MODEL_MAX_STAGES]; /* encoder blocks conv-BN-ReLU-maxpool2; decoder mirrors */
    int n_filters;
} DaeConfig;

/* A built network and the ids of the nodes callers need. */
typedef struct {
    Net net;
    int input;
    int feature;  /* encoder: h, the global average pool; dae: latent (GAP of last block) */
    int output;   /* encoder: z, the projection; dae: reconstruction (sigmoid) */
    int head_hidden[MODEL_MAX_HEAD]; /* encoder: the ReLU outputs inside the head */
    int n_head_hidden;
} Model;

EncoderConfig encoder_defaults(void);   /* resnet, width 32, 3 stages, 1 block, head 128-64 */
EncoderConfig encoder_cnn3(void);       /* the 3-conv reference CNN 32/64/128, head 128-64 */
DaeConfig dae_defaults(void);           /* filters 32, 64, 128 */
int encoder_stage_width(const EncoderConfig *cfg, int stage); /* widths[s] or width << s */

int model_build_encoder(Model *m, const EncoderConfig *cfg, int max_batch, uint64_t seed,
                        GsErr *err);
int model_build_dae(Model *m, const DaeConfig *cfg, int max_batch, uint64_t seed, GsErr *err);
void model_free(Model *m);

#endif
