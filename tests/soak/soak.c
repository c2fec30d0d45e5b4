/* soak.c — `make soak`: the long crash soak (../soak.h). For each method, G-SimCLR and plain
 * SimCLR, N trials (default 20) of a small run through the real daemon, each disturbed at
 * random moments drawn from a seeded generator and spread over the kinds of soak_random_trial
 * (kill -9 in any stage, inside a checkpoint's transaction, at other narrow points, double
 * kills, SIGTERM then kill -9); every resumed run is compared with its undisturbed twin.
 * Prints the seed first and, last, "soak: trials=N identical=N failed=N". Exits non-zero
 * when any trial failed.
 * Usage: soak [TRIALS_PER_METHOD [SEED]]   (or GS_SOAK_TRIALS, GS_SOAK_SEED) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../soak.h"

int main(int argc, char **argv)
{
    const char *n_arg = argc > 1 ? argv[1] : getenv("GS_SOAK_TRIALS");
    const char *seed_arg = argc > 2 ? argv[2] : getenv("GS_SOAK_SEED");
    int per_method = n_arg ? atoi(n_arg) : 20;
    uint64_t seed = seed_arg ? strtoull(seed_arg, NULL, 0) : (uint64_t)time(NULL);
    if (per_method < 1) {
        fprintf(stderr, "usage: soak [TRIALS_PER_METHOD [SEED]]\n");
        return 2;
    }
    printf("soak: seed=%llu, %d trials per method (repeat: make soak SOAK_TRIALS=%d "
           "SOAK_SEED=%llu)\n",
           (unsigned long long)seed, per_method, per_method, (unsigned long long)seed);
    fflush(stdout);

    Soak *s = NULL;
    char why[1024] = "";
    if (soak_open(&s, true, true, why, sizeof why) != 0) {
        printf("soak: the undisturbed twins failed: %s\n", why);
        printf("soak: trials=0 identical=0 failed=1\n");
        return 1;
    }
    int trials = 0, identical = 0, failed = 0;
    uint64_t rng = seed;
    for (int m = 0; m < SOAK_METHODS; m++)
        for (int i = 0; i < per_method; i++) {
            SoakTrial t;
            char report[16384];
            soak_random_trial(s, (SoakMethod)m, i, &rng, &t);
            int rc = soak_trial(s, &t, report, sizeof report);
            trials++;
            if (rc == 0)
                identical++;
            else
                failed++;
            printf("soak: %d/%d %s", trials, SOAK_METHODS * per_method, report);
            fflush(stdout);
        }
    soak_close(s);
    printf("soak: trials=%d identical=%d failed=%d\n", trials, identical, failed);
    return failed ? 1 : 0;
}
