/* A minimal unit-test harness: each tests/unit/test_*.c is one binary with
 * a main() that calls UNIT_RUN() per test and returns UNIT_END(). It prints
 * one "name: N passed, N failed" line, the form CI reads. */
#ifndef NETDIAG_UNIT_H
#define NETDIAG_UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_pass, unit_fail, unit_cur_failed;
static const char *unit_cur;

#define UNIT_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: %s: check failed: %s\n", __FILE__, __LINE__, unit_cur, #cond); \
            unit_cur_failed = 1;                                                                   \
        }                                                                                          \
    } while (0)

#define UNIT_EQ_INT(a, b)                                                                          \
    do {                                                                                           \
        long long unit_a_ = (long long)(a), unit_b_ = (long long)(b);                              \
        if (unit_a_ != unit_b_) {                                                                  \
            fprintf(stderr, "%s:%d: %s: %s == %lld, expected %s == %lld\n", __FILE__, __LINE__,    \
                    unit_cur, #a, unit_a_, #b, unit_b_);                                           \
            unit_cur_failed = 1;                                                                   \
        }                                                                                          \
    } while (0)

#define UNIT_EQ_STR(a, b)                                                                          \
    do {                                                                                           \
        const char *unit_a_ = (a), *unit_b_ = (b);                                                 \
        if (unit_a_ == NULL || unit_b_ == NULL || strcmp(unit_a_, unit_b_) != 0) {                 \
            fprintf(stderr, "%s:%d: %s: %s == \"%s\", expected \"%s\"\n", __FILE__, __LINE__,      \
                    unit_cur, #a, unit_a_ ? unit_a_ : "(null)", unit_b_ ? unit_b_ : "(null)");     \
            unit_cur_failed = 1;                                                                   \
        }                                                                                          \
    } while (0)

#define UNIT_RUN(fn)                                                                               \
    do {                                                                                           \
        unit_cur = #fn;                                                                            \
        unit_cur_failed = 0;                                                                       \
        fn();                                                                                      \
        if (unit_cur_failed)                                                                       \
            unit_fail++;                                                                           \
        else                                                                                       \
            unit_pass++;                                                                           \
    } while (0)

#define UNIT_END(suite)                                                                            \
    (printf("%s: %d passed, %d failed\n", (suite), unit_pass, unit_fail), unit_fail ? 1 : 0)

#endif
