/* launch.h — private to server/service: a run of P processes started through the daemon's
 * launcher (mpirun) and followed through the relay (relay.h). launch_run stands where a local
 * run calls pipeline_run: it listens for rank 0 on a fresh port with a one-time token,
 * starts `LAUNCHER -np P TRAIN_EXE --mpi-worker HOST:PORT/TOKEN` (words split on blanks, no
 * shell) in a process group of its own, sends the job, applies every frame rank 0 sends to
 * the run's sink, and returns the result. It never waits without a bound: the launcher's exit
 * without a result, the connection closing, or silence (no frame, not even a heartbeat) for
 * silence_s end it as LAUNCH_LOST; a cancel is sent to rank 0 and, when the processes have
 * not ended within cancel_wait_s, the group gets SIGTERM, then SIGKILL. */
#ifndef GS_SERVICE_LAUNCH_H
#define GS_SERVICE_LAUNCH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "gs/err.h"
#include "gs/pipeline.h"
#include "relay.h"

typedef struct {
    const char *mpirun;       /* launcher words; NULL: launch_default_mpirun */
    const char *train_exe;    /* NULL: this executable (/proc/self/exe) */
    const char *relay_listen; /* "HOST" or "HOST:PORT" to listen on; NULL: 127.0.0.1, any port */
    const char *relay_host;   /* the host name ranks connect to; NULL: the listen host (or
                               * this host's name when that is 0.0.0.0 / ::) */
    int silence_s;            /* default 60 */
    int connect_s;            /* rank 0 must say hello within this; default 120 */
    int cancel_wait_s;        /* default 30 */
} LaunchConfig;

enum { LAUNCH_LOST = -2 };

/* The default launcher for p processes of `threads` threads each: mpirun on this host only,
 * over loopback, processes not bound to cores (each runs its own threads), with
 * --allow-run-as-root when running as root and --oversubscribe when p exceeds the cores.
 * Written to buf. */
void launch_default_mpirun(int p, char *buf, size_t cap);

typedef struct {
    RunResult res;            /* when launch_run returned 0 */
    RelayOwned owned;
} LaunchResult;
void launch_result_free(LaunchResult *r);

/* slot: this worker's index (a fixed relay port is PORT + slot). hosts: called once the
 * processes' host names are known. Returns 0 with *out filled; -1 with err (the run's own
 * error from rank 0, a malformed frame, a launcher that cannot start, or canceled when
 * *cancel was raised); LAUNCH_LOST with err when a process was lost. */
int launch_run(const LaunchConfig *lc, int slot, int processes, const char *config_json,
               const char *data_root, const char *cache_dir, const Sink *sink,
               const void *resume, size_t resume_len,
               void (*hosts)(void *ctx, const char *const *hosts, int n), void *hosts_ctx,
               LaunchResult *out, GsErr *err);

#endif
