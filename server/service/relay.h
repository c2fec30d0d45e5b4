/* relay.h — private to server/service: how rank 0 of a multi-process run (gsimclrd
 * --mpi-worker, under mpirun) and the daemon's worker thread that launched it talk, over one
 * TCP connection the daemon listens for. Frames: an 8-byte header (type, payload length, both
 * u32 little-endian) and the payload; integers little-endian, doubles as their IEEE bits,
 * strings as u32 length, the bytes and a NUL (no NUL inside). Every payload length is checked
 * against the limit of its type before anything is allocated, every field against what is
 * left of the frame; a frame that does not parse ends the run with an error.
 *
 *   rank 0 -> daemon: HELLO (u32 version, str token) first, within the connect bound;
 *     then PROGRESS, METRIC, LOG (fire-and-forget), CHECKPOINT, ASSIGNMENTS, FEATURES (the
 *     daemon answers each with ANSWER: i32 status, the sink callback's return), HOSTS (each
 *     rank's host name, in rank order), HEARTBEAT (every RELAY_HEARTBEAT_S while connected),
 *     and last RESULT (the RunResult) or ERROR (str: why the run failed or stopped).
 *   daemon -> rank 0: JOB once after HELLO (str config JSON, str data root, str cache dir
 *     (empty: none), u8 has_resume, bytes resume checkpoint), ANSWER, CANCEL (empty).
 *
 * On the daemon each frame calls the same Sink a local run uses, so the store cannot tell
 * the two apart. */
#ifndef GS_SERVICE_RELAY_H
#define GS_SERVICE_RELAY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gs/bytebuf.h"
#include "gs/comm.h"
#include "gs/err.h"
#include "gs/pipeline.h"

enum {
    RELAY_VERSION = 1,
    RELAY_HELLO = 1,
    RELAY_JOB,
    RELAY_CANCEL,
    RELAY_ANSWER,
    RELAY_PROGRESS,
    RELAY_METRIC,
    RELAY_LOG,
    RELAY_CHECKPOINT,
    RELAY_ASSIGNMENTS,
    RELAY_FEATURES,
    RELAY_HOSTS,
    RELAY_RESULT,
    RELAY_ERROR,
    RELAY_HEARTBEAT,
    RELAY_TYPES,
    RELAY_HEARTBEAT_S = 2,      /* rank 0 sends a heartbeat this often */
    RELAY_TOKEN_CHARS = 32,     /* hex characters of the one-time token */
};

/* The largest payload a frame of this type may have (0 for an unknown type). */
size_t relay_limit(uint32_t type);
const char *relay_type_name(uint32_t type);

/* A payload being built: grows as needed; oom is set (and stays set) when memory ran out. */
typedef ByteBuf RelayBuf;
void relay_put_u32(RelayBuf *b, uint32_t v);
void relay_put_i64(RelayBuf *b, int64_t v);
void relay_put_f64(RelayBuf *b, double v);
void relay_put_str(RelayBuf *b, const char *s);
void relay_put_bytes(RelayBuf *b, const void *p, size_t n);   /* u64 length, then the bytes */
void relay_buf_free(RelayBuf *b);

/* A payload being read: bad is set on the first read past the end or malformed field, after
 * which every read returns zero / NULL. */
typedef struct {
    const uint8_t *p;
    size_t len, at;
    bool bad;
} RelayIn;
uint32_t relay_get_u32(RelayIn *in);
int32_t relay_get_i32(RelayIn *in);
int64_t relay_get_i64(RelayIn *in);
double relay_get_f64(RelayIn *in);
const char *relay_get_str(RelayIn *in);                         /* points into the payload */
const void *relay_get_bytes(RelayIn *in, size_t *n);            /* likewise */
/* n elements of size each, as a pointer into the payload (n * size checked) */
const void *relay_get_array(RelayIn *in, size_t n, size_t size);

/* Sends one frame (all of it; EINTR retried, no SIGPIPE). 0, or -1 with err. */
int relay_send(int fd, uint32_t type, const void *payload, size_t len, GsErr *err);
/* Receives one frame: the header, its type and length checked, then the payload (malloc'd,
 * NUL-terminated one byte past len, NULL when len is 0). Each read waits at most
 * timeout_ms (<0: forever). 0; 1 when the peer closed before a header; -1 with err when
 * the transport failed (closed inside a frame, an error, the wait); -2 with err when the
 * header is malformed (an unknown type, a length over the type's limit). */
int relay_recv(int fd, uint32_t *type, uint8_t **payload, size_t *len, int timeout_ms,
               GsErr *err);

/* Encodes / decodes the RunResult every field jobs.c uses. The decoded result's arrays and
 * texts are owned by *owned (free with relay_result_free); its cluster_sizes and assign are
 * malloc'd as a local result's, for run_result_free. */
void relay_put_result(RelayBuf *b, const RunResult *res);
typedef struct {
    char *text;           /* every string of the result, one after another */
    char **skipped[2];
} RelayOwned;
int relay_get_result(RelayIn *in, RunResult *res, RelayOwned *owned, GsErr *err);
void relay_owned_free(RelayOwned *owned);

/* ---- the daemon's side: one frame from rank 0 applied to the run's sink ---------------- */

typedef struct {
    const Sink *sink;       /* the store-backed sink of the run */
    void (*hosts)(void *ctx, const char *const *hosts, int n); /* may be NULL */
    void *hosts_ctx;
    /* out */
    bool have_answer;       /* the frame wants an ANSWER: `answer` */
    int32_t answer;
    bool done;              /* RESULT or ERROR came */
    bool ok;                /* RESULT */
    RunResult res;          /* when ok */
    RelayOwned owned;
    char error[1024];       /* when done and not ok */
} RelayDaemon;
/* Applies a frame (anything but HELLO) to d. 0, or -1 with err when it is malformed or not
 * one rank 0 may send. */
int relay_apply(RelayDaemon *d, uint32_t type, const uint8_t *p, size_t len, GsErr *err);

/* ---- rank 0's side: the sink that sends --------------------------------------------- */

typedef struct RelayClient RelayClient;
/* Connects to addr ("HOST:PORT/TOKEN"), says hello and receives the job frame (its payload,
 * malloc'd, in *job and *job_len); starts the thread that reads the daemon's answers and
 * cancel and sends heartbeats. 0, or -1 with err. */
int relay_client_connect(RelayClient **out, const char *addr, uint8_t **job, size_t *job_len,
                         GsErr *err);
/* The sink whose callbacks send frames; its cancel flag is raised by a CANCEL frame or by
 * the connection closing. comm stays for the caller to set. */
Sink relay_client_sink(RelayClient *c);
int relay_client_hosts(RelayClient *c, const char *const *hosts, int n, GsErr *err);
int relay_client_result(RelayClient *c, const RunResult *res, GsErr *err);
int relay_client_error(RelayClient *c, const char *msg, GsErr *err);
void relay_client_close(RelayClient *c);

/* The job frame's fields. */
typedef struct {
    const char *config_json, *data_root, *cache_dir;   /* "" for none */
    const void *resume;
    size_t resume_len;
    bool has_resume;
} RelayJob;
void relay_put_job(RelayBuf *b, const RelayJob *job);
int relay_get_job(const uint8_t *p, size_t len, RelayJob *job, GsErr *err);

/* `gsimclrd --mpi-worker ADDR` (mpi_worker.c): one process of a launched run, on world (the
 * started MPI group, or comm_self()), which it finishes; the exit status. */
int mpi_worker_main(const Comm *world, const char *addr);

#endif
