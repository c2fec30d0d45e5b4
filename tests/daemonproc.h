/* daemonproc.h — gsimclrd as a child process for the black-box crash tests (test_daemon.c,
 * test_soak.c, the `make soak` program): started on a free port over a folder of its own
 * (bin/gsimclrd, or $GS_DAEMON), optionally with the GSIMCLRD_CRASH_AT test hook set, then
 * signalled or waited for; and the few API calls those tests share. Nothing here checks
 * anything: callers decide what a failure means. */
#ifndef GS_TEST_DAEMONPROC_H
#define GS_TEST_DAEMONPROC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

typedef struct {
    pid_t pid;              /* 0 when not running */
    int port;
    char dir[128];          /* the test's folder: the log (daemon.log) is kept there */
    char db[192];           /* --data-dir; dproc_start sets dir/db when it is empty */
    char log[192];
    const char *crash_at;   /* GSIMCLRD_CRASH_AT for the next start (NULL: none) */
    int threads;            /* --threads (0: 2) */
    const char *mpirun;     /* --mpirun (NULL: the daemon's default launcher) */
    int status;             /* how the last daemon ended: exit status, or 128 + signal */
} Daemon;

/* A fresh folder /tmp/gs-daemon-XXXXXX into d->dir (d is zeroed first). -1 when it cannot be
 * made. */
int dproc_mkdir(Daemon *d);
/* Starts the daemon over d->db (one worker) and reads its port from the log: 0 when it
 * listens; 1 when it ended before it did (a crash point that fired at once: d->status says
 * how); -1 when it could not be started or did not listen within 20 s (it is killed). */
int dproc_start(Daemon *d);
/* Sends sig and waits up to timeout_s for the exit; returns the exit status (or 128 +
 * signal), or -2 after killing a daemon that did not exit in time. */
int dproc_signal(Daemon *d, int sig, double timeout_s);
/* Waits up to timeout_s for the daemon to end by itself: its exit status (or 128 + signal),
 * or -2 when it is still running (it is left running). */
int dproc_wait_exit(Daemon *d, double timeout_s);
/* Kills the daemon if it runs and removes d->dir. */
void dproc_cleanup(Daemon *d);

/* GET path: the parsed body of a 200 answer, or NULL. */
cJSON *dproc_get_json(int port, const char *path);
/* POST /v1/runs with config: the new run's id, or 0 (the status answered in *status when
 * status is not NULL). */
int64_t dproc_submit(int port, const char *config, long *status);
/* GET /v1/runs/{id}, or NULL. */
cJSON *dproc_get_run(int port, int64_t id);
/* The run's status string into buf once it has ended ("?" when it stalled for stall_s
 * seconds or could not be read). */
const char *dproc_wait_done(int port, int64_t id, double stall_s, char *buf, size_t cap);

#endif
