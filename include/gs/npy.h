/* npy.h — NumPy's .npy file format, version 1.0, for arrays the daemon hands out (embeddings,
 * labels, pseudo-labels): a magic "\x93NUMPY", version 1.0, a little-endian u16 header length,
 * a Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (N, D), } padded
 * with spaces and a newline so the data starts at a multiple of 64 bytes, then the data in C
 * order, little-endian whatever the host. numpy.load reads it back. It knows nothing of
 * models or runs: an array in, bytes out, and the reverse for files this module wrote. */
#ifndef GS_NPY_H
#define GS_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "gs/err.h"

typedef enum { NPY_F32, NPY_I32, NPY_I64 } NpyType;

#define NPY_MAX_DIMS 4

/* The whole file for a C-order array of ndim (1..NPY_MAX_DIMS) dimensions: *out (malloc'd,
 * *len bytes). data holds prod(shape) elements of type in host byte order. */
int npy_encode(NpyType type, const int64_t *shape, int ndim, const void *data, uint8_t **out,
               size_t *len, GsErr *err);

/* What a file's header says, and where its data starts. */
typedef struct {
    NpyType type;
    int ndim;
    int64_t shape[NPY_MAX_DIMS];
    size_t data_offset, data_bytes;
} NpyInfo;

/* Reads the header of buf (len bytes) as npy_encode writes it (version 1.0, '<f4', '<i4' or
 * '<i8', C order) and checks that the data after it is exactly prod(shape) elements long:
 * a truncated or padded file is an error saying so. */
int npy_parse(const uint8_t *buf, size_t len, NpyInfo *info, GsErr *err);

#endif
