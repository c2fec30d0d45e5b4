/* export_onnx.h — a run's trained encoder as an ONNX model (opset 13), for use outside
 * gsimclr: the backbone up to the feature h the linear probe reads, or with the projection
 * head up to z. One input "input", float32 N x C x H x W with a symbolic batch N, pixels
 * scaled to [0, 1] (the byte value / 255, no mean or std: what the pipeline feeds the
 * encoder); one output, "features" (N x D) or "projection" (N x Z, not L2-normalised). The
 * model's metadata repeats the input's scaling and names the run. Batch-norm runs in
 * inference mode (BatchNormalization with the running statistics). The exporter reads the
 * run's configuration and a simclr checkpoint; it knows nothing of HTTP or the store. */
#ifndef GS_EXPORT_ONNX_H
#define GS_EXPORT_ONNX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gs/config.h"
#include "gs/err.h"

#define ONNX_OPSET 13
#define ONNX_IR_VERSION 7   /* the IR version of opset 13 (ONNX 1.8) */

typedef struct {
    bool head;          /* up to the projection z instead of the backbone feature h */
    int64_t run_id;     /* named in the metadata when > 0 */
    /* The input shape the encoder was trained on, for checkpoints that do not record it
     * (written before they did); ignored when the checkpoint has it. 0: unknown, then the
     * configured shape, with the channel count the weights imply. */
    int in_c, in_h, in_w;
} OnnxExportOptions;

/* The serialized ModelProto (*out malloc'd, *len bytes) of the encoder whose weights are in
 * ckpt (ckpt_len bytes), a checkpoint of the simclr stage of a run configured as cfg.
 * Errors name what does not fit: a checkpoint of another stage, weights that do not match
 * the configured encoder, a shape that cannot be known. */
int export_onnx(const RunConfig *cfg, const void *ckpt, size_t ckpt_len,
                const OnnxExportOptions *opt, uint8_t **out, size_t *len, GsErr *err);

#endif
