/* crashpoint.h — a test hook for the crash tests (tests/soak.c, tests/test_daemon.c): with
 * GSIMCLRD_CRASH_AT="NAME:N" in its environment, the daemon kills itself with SIGKILL the
 * N-th time it reaches the point NAME, exactly as a kill -9 from outside would, but inside
 * windows too narrow to hit from outside; "NAME:N:term" sends itself SIGTERM instead (a clean
 * stop, as an operator's). Several: "NAME:N,NAME:N:term". Counts are per daemon process.
 * Compiled in always, inert unless the variable is set (one relaxed atomic load per point).
 * The points:
 *   claim        jobs.c: a run was claimed (running), before the transaction that starts it
 *   resume       jobs.c: that transaction committed, before the pipeline starts
 *   step         jobs.c: the pipeline reported progress (every training step)
 *   metric       jobs.c: a metric committed
 *   assign       jobs.c: the pseudo-labels committed, before the kmeans checkpoint
 *   ckpt-commit  store_ckpt.c: inside a checkpoint's transaction, everything written but
 *                the COMMIT
 *   ckpt         jobs.c: a checkpoint (and its stage row) committed
 *   done         jobs.c: the pipeline finished every stage, before the result is stored
 * Private to server/service. */
#ifndef GS_SERVICE_CRASHPOINT_H
#define GS_SERVICE_CRASHPOINT_H

/* Kills the process (SIGKILL, or SIGTERM for ":term") when GSIMCLRD_CRASH_AT names this
 * point and this is the N-th time it is reached; otherwise does nothing. Thread-safe. */
void crash_point(const char *name);

#endif
