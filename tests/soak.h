/* soak.h — the crash soak: a small run trained by the real daemon (bin/gsimclrd as a child
 * process, driven through its HTTP API) is disturbed by kill -9, SIGTERM, or the daemon's
 * own GSIMCLRD_CRASH_AT hook at chosen moments, restarted each time, and must end equal to
 * its undisturbed twin: the same status, result fields bit for bit (timings aside), stage
 * rows, pseudo-labels, log lines, and metric rows per (stage, epoch, step, name), none
 * missing, none twice (timings such as images_per_s compared for presence only); and the
 * database must pass PRAGMA integrity_check. Used by test_soak.c (three fixed trials in
 * `make test`) and tests/soak/soak.c (`make soak`, seeded random trials). Harness-free: it
 * reports, the callers judge. */
#ifndef GS_TEST_SOAK_H
#define GS_TEST_SOAK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { SOAK_GSIMCLR, SOAK_SIMCLR, SOAK_METHODS } SoakMethod;
extern const char *const SOAK_METHOD_NAMES[SOAK_METHODS];

/* One disturbance: the daemon life it ends either starts with a crash point (crash_at, e.g.
 * "ckpt-commit:2" or "step:9:term", see server/service/crashpoint.h) and ends by itself, or
 * is ended from outside with signal sig (SIGKILL, SIGTERM) once the run has reached stage
 * (STAGE_*) with at least step steps done in it, and delay_s more seconds have passed. */
typedef struct {
    const char *crash_at;
    int stage;
    long step;
    double delay_s;
    int sig;
} SoakHit;

typedef struct {
    SoakMethod method;
    int n_hits;             /* 1..SOAK_MAX_HITS, one daemon restart after each */
    SoakHit hits[3];
    char crash_buf[3][48];  /* storage for generated crash_at texts */
} SoakTrial;
#define SOAK_MAX_HITS 3

/* What a twin tells a trial planner about its method's run. */
typedef struct {
    long steps[4], epochs[4];   /* per stage (STAGE_*): steps done and epochs, as stored */
    double seconds[4];          /* per stage: wall time of the twin */
    int checkpoints;            /* checkpoints the run writes */
    int metrics;                /* metric rows it stores */
} SoakTwinInfo;

typedef struct Soak Soak;

/* Trains the undisturbed twin of each method asked for (each in a daemon of its own, whose
 * folder is kept until soak_close). -1 with why (cap bytes) filled when one fails. */
int soak_open(Soak **out, bool gsimclr, bool simclr, char *why, size_t cap);
void soak_close(Soak *s);
const SoakTwinInfo *soak_twin(const Soak *s, SoakMethod m);

/* Runs one trial: 0 when the disturbed run ended identical to its twin and the database is
 * sound; 1 when not (report says what differed), -1 when the trial could not be run (report
 * says why). report (cap bytes) also gets one line describing what happened. */
int soak_trial(Soak *s, const SoakTrial *t, char *report, size_t cap);

/* Trial number `index` of method m, its moments drawn from *rng. The kinds take turns
 * (index % SOAK_KINDS), and within a kind its variants (index / SOAK_KINDS): 0 kill -9 at a
 * random moment of each stage in turn; 1 a crash inside a random checkpoint's transaction;
 * 2 a crash at another narrow point in turn (after the pseudo-labels, after a checkpoint,
 * after a metric, after the start transaction, at the end of training, right after the
 * claim); 3 two kills, the second right after the restart's start transaction, inside the
 * next checkpoint write, or at a later random moment; 4 SIGTERM inside a SimCLR epoch, then
 * kill -9 later in the same epoch. */
enum { SOAK_KINDS = 5 };
void soak_random_trial(const Soak *s, SoakMethod m, int index, uint64_t *rng, SoakTrial *t);
/* "kill -9 at simclr step 57; then crash at resume:1" (into buf). */
void soak_describe(const SoakTrial *t, char *buf, size_t cap);

#endif
