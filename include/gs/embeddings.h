/* embeddings.h — the backbone features the eval stage computed (what the linear probe read),
 * kept as NumPy .npy files beside the database so they can be downloaded without computing
 * anything on a request: dir/run-ID/{train,test}.npy (N x D float32) and
 * {train,test}_labels.npy (N int64, when the split has labels). A run's set is written
 * whole or not at all (a temporary folder renamed into place), replaced when eval runs
 * again, and removed with the run. The store keeps no trace of them: the folder is the
 * record. */
#ifndef GS_EMBEDDINGS_H
#define GS_EMBEDDINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gs/err.h"
#include "gs/store.h"

typedef enum { EMB_TRAIN, EMB_TEST } EmbSplit;

/* Writes run's set under dir (created when absent), replacing an older one: train
 * (n_train, d) and test (n_test, d) features, each split's labels when not NULL; test may
 * be NULL with n_test 0. Files are flushed to disk before the set is renamed into place. */
int embeddings_write(const char *dir, int64_t run, int d, const float *train,
                     const int32_t *train_labels, int n_train, const float *test,
                     const int32_t *test_labels, int n_test, GsErr *err);

/* The whole .npy file of a split's features (labels false) or labels (labels true), checked
 * (a header this build wrote, the data exactly as long as it says): 0 with *data malloc'd,
 * STORE_NOT_FOUND when the run has no such file, -1 with err when it cannot be read. */
int embeddings_read(const char *dir, int64_t run, EmbSplit split, bool labels, uint8_t **data,
                    size_t *len, GsErr *err);

/* Whether the run has a stored set. */
bool embeddings_exist(const char *dir, int64_t run);

/* Removes the run's set (nothing when it has none). */
int embeddings_remove(const char *dir, int64_t run, GsErr *err);

/* At start-up: removes half-written sets a crash left behind, and the sets of runs the store
 * no longer has (deleted while a crash kept their files). */
int embeddings_sweep(const char *dir, Store *st, GsErr *err);

#endif
