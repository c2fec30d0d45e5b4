/* eval_common.h — what the two evaluators of frozen features (linear_probe.c, knn.c) share,
 * private to server/pipeline: the checks on their inputs and the size below which their
 * row-wise loops stay on one thread. It must not hold either evaluator's maths. */
#ifndef GS_PIPELINE_EVAL_COMMON_H
#define GS_PIPELINE_EVAL_COMMON_H

#include <stdint.h>

#include "gs/err.h"

/* Below this many floats a row-wise loop runs on one thread: waking the team costs more, and
 * far more when other jobs share the cores. */
#define EVAL_PAR_MIN 65536

/* Rejects, naming who ("linear_eval", "knn") and the offending row: NULL arrays, fewer than
 * min_ntr training rows or no test row, d < 1, fewer than 2 classes, sizes that overflow,
 * labels outside [0, n_classes) and non-finite features, in train xtr (ntr, d) and test
 * xte (nte, d). */
int eval_check_features(const char *who, const float *xtr, const int32_t *ytr, int ntr,
                        const float *xte, const int32_t *yte, int nte, int d, int n_classes,
                        int min_ntr, GsErr *err);

#endif
