/* comm.c — the process group's accessors and collectives: a group of one (comm_self, or any
 * group whose size is 1) is handled here without a transport; larger groups go through
 * their implementation's CommOps (comm_mpi.c). */
#include <string.h>

#include "comm_impl.h"

static const Comm SELF = {.rank = 0, .size = 1, .ops = NULL};

const Comm *comm_self(void)
{
    return &SELF;
}

int comm_rank(const Comm *c)
{
    return c ? c->rank : 0;
}

int comm_size(const Comm *c)
{
    return c ? c->size : 1;
}

static bool alone(const Comm *c)
{
    return !c || c->size <= 1 || !c->ops;
}

int comm_sum_f32(const Comm *c, float *buf, size_t n, GsErr *err)
{
    return alone(c) || n == 0 ? 0 : c->ops->sum_f32(c, buf, n, err);
}

int comm_sum_f64(const Comm *c, double *buf, size_t n, GsErr *err)
{
    return alone(c) || n == 0 ? 0 : c->ops->sum_f64(c, buf, n, err);
}

int comm_gather_all(const Comm *c, const void *send, size_t bytes, void *recv, GsErr *err)
{
    if (alone(c)) {
        if (bytes && recv != send)
            memmove(recv, send, bytes);
        return 0;
    }
    return c->ops->gather_all(c, send, bytes, recv, err);
}

int comm_broadcast(const Comm *c, void *buf, size_t bytes, int root, GsErr *err)
{
    if (root < 0 || root >= comm_size(c))
        return gs_errf(err, "comm: broadcast from rank %d of a group of %d", root,
                       comm_size(c));
    return alone(c) || bytes == 0 ? 0 : c->ops->broadcast(c, buf, bytes, root, err);
}

size_t comm_bytes(const Comm *c)
{
    return alone(c) ? 0 : c->ops->bytes(c);
}

double comm_seconds(const Comm *c)
{
    return alone(c) ? 0 : c->ops->seconds(c);
}
