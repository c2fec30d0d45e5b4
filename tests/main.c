/* main.c — the test runner behind `make test`: runs every registered test (or those whose
 * name starts with argv[1]), prints each failure with file:line, and ends with the line
 * "N passed, N failed" that CI reads. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gs/blas.h"
#include "harness.h"

#define MAX_TESTS 1024

static struct {
    const char *name;
    TestFn fn;
} g_tests[MAX_TESTS];
static int g_n_tests;
static int g_current_failed;

void test_register(const char *name, TestFn fn)
{
    if (g_n_tests >= MAX_TESTS) {
        fprintf(stderr, "harness: more than %d tests\n", MAX_TESTS);
        abort();
    }
    g_tests[g_n_tests].name = name;
    g_tests[g_n_tests].fn = fn;
    g_n_tests++;
}

void test_fail_at(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    g_current_failed = 1;
    fprintf(stdout, "    FAIL %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
}

static int by_name(const void *a, const void *b)
{
    const char *na = *(const char *const *)a, *nb = *(const char *const *)b;
    return strcmp(na, nb);
}

int main(int argc, char **argv)
{
    const char *prefix = argc > 1 ? argv[1] : "";
    const char *threads = getenv("GS_TEST_THREADS");
    int passed = 0, failed = 0;

    gs_threads_set(threads ? atoi(threads) : 2);
    /* Registration order depends on link order; run in name order so output is stable. */
    qsort(g_tests, (size_t)g_n_tests, sizeof g_tests[0], by_name);
    for (int i = 0; i < g_n_tests; i++) {
        struct timespec t0, t1;
        if (strncmp(g_tests[i].name, prefix, strlen(prefix)) != 0)
            continue;
        g_current_failed = 0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        g_tests[i].fn();
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        printf("%s %s (%.2fs)\n", g_current_failed ? "FAIL" : "ok  ", g_tests[i].name, secs);
        fflush(stdout);
        if (g_current_failed)
            failed++;
        else
            passed++;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
