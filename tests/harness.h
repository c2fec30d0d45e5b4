/* harness.h — the project's small test runner. A test is a function registered with TEST();
 * CHECK-style macros report file:line and mark the running test failed without stopping it.
 * The runner ends with the line "N passed, N failed" and exits non-zero when any failed.
 * Run one test or a group with `run_tests NAME_PREFIX`. */
#ifndef GS_TEST_HARNESS_H
#define GS_TEST_HARNESS_H

#include <math.h>
#include <stdio.h>

typedef void (*TestFn)(void);
void test_register(const char *name, TestFn fn);
void test_fail_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define TEST(name)                                                        \
    static void name(void);                                               \
    __attribute__((constructor)) static void register_##name(void)        \
    {                                                                     \
        test_register(#name, name);                                       \
    }                                                                     \
    static void name(void)

#define CHECK(cond)                                                       \
    do {                                                                  \
        if (!(cond))                                                      \
            test_fail_at(__FILE__, __LINE__, "CHECK(%s)", #cond);         \
    } while (0)

#define CHECK_MSG(cond, ...)                                              \
    do {                                                                  \
        if (!(cond))                                                      \
            test_fail_at(__FILE__, __LINE__, __VA_ARGS__);                \
    } while (0)

#define CHECK_INT_EQ(a, b)                                                \
    do {                                                                  \
        long long va_ = (long long)(a), vb_ = (long long)(b);             \
        if (va_ != vb_)                                                   \
            test_fail_at(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, va_, vb_); \
    } while (0)

/* |a - b| <= tol * max(1, |b|) */
#define CHECK_CLOSE(a, b, tol)                                            \
    do {                                                                  \
        double va_ = (double)(a), vb_ = (double)(b);                      \
        double sc_ = fabs(vb_) > 1.0 ? fabs(vb_) : 1.0;                   \
        if (!(fabs(va_ - vb_) <= (tol) * sc_))                            \
            test_fail_at(__FILE__, __LINE__, "%s ~ %s: %.9g vs %.9g (tol %g)", #a, #b, va_, \
                         vb_, (double)(tol));                             \
    } while (0)

/* Path of a file the tests read, relative to the repository root. */
#define TEST_FIXTURE_DIR "tests/fixtures"

#endif
