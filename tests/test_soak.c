/* test_soak.c — the short crash soak of `make test` (soak.h; `make soak` is the long one):
 * three disturbances of a small run through the real daemon, each resumed run identical to
 * its undisturbed twin (result, stage rows, pseudo-labels, log lines, every metric once),
 * its database sound. The first two are the doubling cases of issue 11: a kill inside the
 * first SimCLR epoch before any checkpoint (step_loss 20 and 40 were stored twice), and a
 * SIGTERM at step 9 then a kill after step 40 of the same epoch; the third kills the daemon
 * inside the transaction of the first autoencoder checkpoint, then right after the next one
 * committed (the stage row that stayed stale). */
#include <stdio.h>

#include "harness.h"
#include "soak.h"

TEST(soak_short_crashes_leave_runs_identical)
{
    Soak *s = NULL;
    char why[1024] = "";
    if (soak_open(&s, true, true, why, sizeof why) != 0) {
        CHECK_MSG(0, "the twins: %s", why);
        return;
    }
    const SoakTrial trials[] = {
        /* simclr's metrics: step_loss 20, step_loss 40, then the end of epoch 1 and its
         * checkpoint; killed between the second and the end */
        {.method = SOAK_SIMCLR, .n_hits = 1, .hits = {{.crash_at = "metric:2"}}},
        /* SIGTERM at step 9 leaves a checkpoint inside epoch 1; the restart is killed once
         * it has stored step_loss 20 and 40 again */
        {.method = SOAK_SIMCLR,
         .n_hits = 2,
         .hits = {{.crash_at = "step:9:term"}, {.crash_at = "metric:2"}}},
        {.method = SOAK_GSIMCLR,
         .n_hits = 2,
         .hits = {{.crash_at = "ckpt-commit:1"}, {.crash_at = "ckpt:2"}}},
    };
    for (size_t i = 0; i < sizeof trials / sizeof *trials; i++) {
        char report[8192];
        int rc = soak_trial(s, &trials[i], report, sizeof report);
        printf("    %s", report);
        CHECK_MSG(rc == 0, "trial %zu did not end identical to its twin", i + 1);
    }
    soak_close(s);
}
