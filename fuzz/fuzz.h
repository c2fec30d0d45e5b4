/* fuzz.h — what the libFuzzer harnesses of fuzz/ share: a private temporary folder per
 * process, whole-file writes, gzip compression of an input (so the readers see valid gzip
 * around mutated content), the tiny run every checkpoint seed comes from, and a failed
 * invariant that stops the fuzzer with a message. Harness code, never linked into the product.
 * A harness must give the same answer for the same input: any state carried from one input to
 * the next is reset before the next one runs. */
#ifndef GS_FUZZ_H
#define GS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "gs/config.h"
#include "gs/dataset.h"

/* The libFuzzer entry points every harness defines (declared here for -Wmissing-prototypes). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A folder of this process (under /dev/shm when it exists, else /tmp), created on the first
 * call and removed at exit with everything in it. */
const char *fuzz_tmpdir(void);
/* Writes len bytes to path (replacing it); aborts on failure, which is the harness's, not a
 * finding. */
void fuzz_write_file(const char *path, const void *data, size_t len);
/* data as one gzip member, malloc'd, length in *out_len; aborts when out of memory. */
uint8_t *fuzz_gzip(const void *data, size_t len, size_t *out_len);
/* Reports a broken promise of the product (an invariant a harness checks) and aborts, which
 * libFuzzer records as a crash with the input. */
void fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* The run behind the checkpoint seeds and the checkpoint harness: TINY_N random 8x8 images of
 * 3 classes, a one-block autoencoder, k = 3, 2 epochs of each training stage in batches of 8
 * (3 steps an epoch). The harness and the seeds must agree on it, or no seed would restore. */
enum { TINY_N = 24, TINY_SIDE = 8, TINY_CLASSES = 3 };
void tiny_config(RunConfig *cfg, Method method);
/* Fills ds (malloc'd pixels and labels, seeded, the same every call); aborts when out of
 * memory. */
void tiny_dataset(Dataset *ds);

#endif
