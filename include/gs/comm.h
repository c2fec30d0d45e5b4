/* comm.h — the process group a run trains on: its rank and size, and the collectives the
 * data-parallel stages need (sum all-reduce, all-gather, broadcast). Two implementations:
 * comm_self() is one process alone (every collective copies or does nothing), and the Open
 * MPI world (comm_mpi.c, the only file that includes mpi.h) for a run started under mpirun.
 * Every process of a group must make the same collective calls in the same order with the
 * same sizes; a call returns 0, or -1 with err set when the transport failed (the caller
 * stops the run: a lost peer is not recoverable inside a run). Nothing here knows the
 * pipeline. */
#ifndef GS_COMM_H
#define GS_COMM_H

#include <stdbool.h>
#include <stddef.h>

#include "gs/err.h"

typedef struct Comm Comm;

/* The single-process group: rank 0 of 1. Never NULL, never freed. */
const Comm *comm_self(void);

int comm_rank(const Comm *c);
int comm_size(const Comm *c);

/* In place: buf (n values) becomes the element-wise sum over every process, the same bits on
 * every process. */
int comm_sum_f32(const Comm *c, float *buf, size_t n, GsErr *err);
int comm_sum_f64(const Comm *c, double *buf, size_t n, GsErr *err);
/* recv (size * bytes) gets every process's send (bytes each) in rank order. */
int comm_gather_all(const Comm *c, const void *send, size_t bytes, void *recv, GsErr *err);
/* buf (bytes) of process `root` is copied to every other process. */
int comm_broadcast(const Comm *c, void *buf, size_t bytes, int root, GsErr *err);
/* Bytes this process has sent and received through collectives since it started (0 for
 * comm_self), for the communication figures of bench-dist and the run's log. */
size_t comm_bytes(const Comm *c);
/* Seconds this process has spent inside collectives since it started (0 for comm_self):
 * transfer and waiting for the slowest process alike. */
double comm_seconds(const Comm *c);

/* True when this process was started by mpirun (Open MPI's environment says so); then
 * comm_mpi_start must run before anything else uses the group. */
bool comm_mpi_launched(void);
/* Initialises MPI (threads: funneled) and returns the world group, or NULL with err set. */
const Comm *comm_mpi_start(int *argc, char ***argv, GsErr *err);
/* Ends MPI after a run every process finished (collective). */
void comm_mpi_finish(const Comm *c);
/* Stops every process of the group at once (a process that cannot go on). */
void comm_mpi_abort(const Comm *c, int code);

#endif
