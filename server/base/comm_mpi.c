/* comm_mpi.c — the process group of a run started by mpirun: Open MPI's world communicator.
 * The only file that includes mpi.h. MPI is initialised with MPI_THREAD_FUNNELED: every
 * collective must come from the thread that called comm_mpi_start (the pipeline's OpenMP
 * loops never call one). Errors return (MPI_ERRORS_RETURN) so a failed collective becomes
 * the run's error; a lost peer usually makes Open MPI end the whole job, which is what its
 * launcher and the daemon see. Sums use MPI_Allreduce. */
#include <limits.h>
#include <stdlib.h>

#include <mpi.h>

#include "comm_impl.h"

static Comm g_world;
static bool g_started;
static size_t g_bytes; /* sent and received through collectives (estimated per algorithm) */
static double g_seconds; /* inside collectives */

static double now(void)
{
    return MPI_Wtime();
}

static int mpi_fail(int code, const char *what, GsErr *err)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(code, msg, &len) != MPI_SUCCESS)
        len = 0;
    msg[len < MPI_MAX_ERROR_STRING ? len : MPI_MAX_ERROR_STRING - 1] = 0;
    return gs_errf(err, "comm: %s failed: %s", what, len ? msg : "MPI error");
}

/* Counts above INT_MAX go in chunks: MPI counts are ints. */
enum { CHUNK = 1 << 28 };

static int sum_typed(void *buf, size_t n, size_t elem, MPI_Datatype t, GsErr *err)
{
    char *p = buf;
    double t0 = now();
    for (size_t off = 0; off < n; off += CHUNK) {
        int cnt = (int)(n - off < CHUNK ? n - off : CHUNK);
        int rc = MPI_Allreduce(MPI_IN_PLACE, p + off * elem, cnt, t, MPI_SUM, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            return mpi_fail(rc, "all-reduce", err);
    }
    g_seconds += now() - t0;
    /* a ring all-reduce sends and receives about 2 (P-1)/P of the buffer each way */
    g_bytes += 2 * 2 * n * elem * (size_t)(g_world.size - 1) / (size_t)g_world.size;
    return 0;
}

static int mpi_sum_f32(const Comm *c, float *buf, size_t n, GsErr *err)
{
    (void)c;
    return sum_typed(buf, n, sizeof *buf, MPI_FLOAT, err);
}

static int mpi_sum_f64(const Comm *c, double *buf, size_t n, GsErr *err)
{
    (void)c;
    return sum_typed(buf, n, sizeof *buf, MPI_DOUBLE, err);
}

static int mpi_gather_all(const Comm *c, const void *send, size_t bytes, void *recv, GsErr *err)
{
    if (bytes > INT_MAX)
        return gs_errf(err, "comm: all-gather of %zu bytes per process", bytes);
    double t0 = now();
    int rc = MPI_Allgather(send, (int)bytes, MPI_BYTE, recv, (int)bytes, MPI_BYTE,
                           MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS)
        return mpi_fail(rc, "all-gather", err);
    g_seconds += now() - t0;
    g_bytes += 2 * bytes * (size_t)(c->size - 1);
    return 0;
}

static int mpi_broadcast(const Comm *c, void *buf, size_t bytes, int root, GsErr *err)
{
    char *p = buf;
    double t0 = now();
    for (size_t off = 0; off < bytes; off += CHUNK) {
        int cnt = (int)(bytes - off < CHUNK ? bytes - off : CHUNK);
        int rc = MPI_Bcast(p + off, cnt, MPI_BYTE, root, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            return mpi_fail(rc, "broadcast", err);
    }
    g_seconds += now() - t0;
    g_bytes += c->rank == root ? bytes * (size_t)(c->size - 1) : bytes;
    return 0;
}

static size_t mpi_bytes(const Comm *c)
{
    (void)c;
    return g_bytes;
}

static double mpi_seconds(const Comm *c)
{
    (void)c;
    return g_seconds;
}

static const CommOps MPI_OPS = {mpi_sum_f32, mpi_sum_f64, mpi_gather_all, mpi_broadcast,
                                mpi_bytes, mpi_seconds};

bool comm_mpi_launched(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") != NULL || getenv("PMIX_RANK") != NULL;
}

const Comm *comm_mpi_start(int *argc, char ***argv, GsErr *err)
{
    if (g_started)
        return &g_world;
    int provided = 0, rank = 0, size = 0;
    int rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS) {
        gs_errf(err, "comm: MPI_Init_thread failed (code %d)", rc);
        return NULL;
    }
    if (provided < MPI_THREAD_FUNNELED) {
        gs_errf(err, "comm: this MPI gives thread level %d, funneled (%d) is needed", provided,
                MPI_THREAD_FUNNELED);
        MPI_Finalize();
        return NULL;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    g_world.rank = rank;
    g_world.size = size;
    g_world.ops = &MPI_OPS;
    g_started = true;
    return &g_world;
}

void comm_mpi_finish(const Comm *c)
{
    (void)c;
    if (!g_started)
        return;
    MPI_Finalize();
    g_started = false;
}

void comm_mpi_abort(const Comm *c, int code)
{
    (void)c;
    if (g_started)
        MPI_Abort(MPI_COMM_WORLD, code);
    exit(code);
}
