/* comm_impl.h — private to server/base: what a process-group implementation provides
 * (comm.c is the single-process one and the dispatcher; comm_mpi.c the Open MPI one). The
 * collectives are only called through comm.c, which handles a group of one itself. */
#ifndef GS_BASE_COMM_IMPL_H
#define GS_BASE_COMM_IMPL_H

#include "gs/comm.h"

typedef struct {
    int (*sum_f32)(const Comm *c, float *buf, size_t n, GsErr *err);
    int (*sum_f64)(const Comm *c, double *buf, size_t n, GsErr *err);
    int (*gather_all)(const Comm *c, const void *send, size_t bytes, void *recv, GsErr *err);
    int (*broadcast)(const Comm *c, void *buf, size_t bytes, int root, GsErr *err);
    size_t (*bytes)(const Comm *c);
    double (*seconds)(const Comm *c);
} CommOps;

struct Comm {
    int rank, size;
    const CommOps *ops; /* NULL for comm_self */
};

#endif
