/* fixture.h — reads the PyTorch parity fixtures written by tests/ref/make_fixtures.py: a file
 * is a list of named float32 tensors (magic "GSFX", version 1; the script documents the
 * layout). Tests only; a load failure is a GsErr naming the file, never an exit. */
#ifndef GS_TEST_FIXTURE_H
#define GS_TEST_FIXTURE_H

#include <stddef.h>

#include "gs/err.h"

#define FIXTURE_MAX_DIMS 8

typedef struct {
    char *name;
    int ndim;                    /* 0 for a scalar */
    int dims[FIXTURE_MAX_DIMS];
    size_t count;                /* product of dims (1 for a scalar) */
    float *data;                 /* (count) */
} FxTensor;

typedef struct {
    char path[256];
    FxTensor *t;                 /* (n) in file order */
    int n;
} Fixture;

/* Loads every tensor of the file at path. On failure fx holds nothing to free. */
int fixture_load(Fixture *fx, const char *path, GsErr *err);
void fixture_free(Fixture *fx);
/* The tensor called name, or NULL with an error naming the file and the tensor. */
const FxTensor *fixture_get(const Fixture *fx, const char *name, GsErr *err);
/* Like fixture_get, but also fails unless the tensor holds exactly count floats. */
const FxTensor *fixture_get_n(const Fixture *fx, const char *name, size_t count, GsErr *err);

#endif
