/* SPDX-License-Identifier: ISC */
/* A minimal unit-test harness: each tests/unit/test_*.c is one binary with
 * a main() that calls unit_init() first, UNIT_RUN() per test and returns
 * UNIT_END(). It prints one "name: N passed, N failed" line, the form CI
 * reads, and the failed checks on standard error.
 *
 * What the code under test writes to standard error (the client's
 * messages; the daemon's log, with log_set_fd(unit_log_fd())) is kept in
 * a temporary file, the errors the tests provoke on purpose among it: it
 * is shown only when a test failed. With -d it goes to standard error as
 * it comes, as chrony's unit tests do. Sanitizer reports always go to
 * standard error (file descriptor 2 is never redirected). */
#ifndef NETDIAG_UNIT_H
#define NETDIAG_UNIT_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int unit_pass, unit_fail, unit_cur_failed;
static const char *unit_cur;
static FILE *unit_stderr; /* the real standard error: failed checks */
static FILE *unit_kept;   /* what went to stderr meanwhile; NULL with -d */

/* Where failed checks are written. */
static inline FILE *unit_err(void)
{
    return unit_stderr != NULL ? unit_stderr : stderr;
}

/* The kept lines, to the real standard error. */
static inline void unit_show_kept(const char *why)
{
    char buf[4096];
    size_t n;

    if (unit_kept == NULL || unit_stderr == NULL)
        return; /* unit_init() was not called: nothing was kept */
    fflush(unit_kept);
    rewind(unit_kept);
    fprintf(unit_stderr, "%s; what the tests wrote to standard error:\n", why);
    while ((n = fread(buf, 1, sizeof(buf), unit_kept)) > 0)
        fwrite(buf, 1, n, unit_stderr);
}

/* A test program that exits before UNIT_END (its set-up failed) shows
 * what it wrote. */
static inline void unit_atexit(void)
{
    if (unit_kept != NULL) {
        stderr = unit_stderr;
        unit_show_kept("exit before the end of the tests");
    }
}

static inline void unit_init(int argc, char **argv)
{
    bool debug = false;

    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "-d") == 0)
            debug = true;
    unit_stderr = stderr;
    if (!debug && (unit_kept = tmpfile()) != NULL) {
        stderr = unit_kept; /* glibc: stderr is a variable of its own */
        atexit(unit_atexit);
    }
}

/* The descriptor the code under test should write its lines to. */
static inline int unit_log_fd(void)
{
    return unit_kept != NULL ? fileno(unit_kept) : STDERR_FILENO;
}

/* At the end: the kept lines, when a test failed (they may say why). */
static inline int unit_end(const char *suite)
{
    if (unit_kept != NULL) {
        stderr = unit_stderr;
        if (unit_fail > 0)
            unit_show_kept(suite);
        fclose(unit_kept);
        unit_kept = NULL;
    }
    printf("%s: %d passed, %d failed\n", suite, unit_pass, unit_fail);
    return unit_fail ? 1 : 0;
}

#define UNIT_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(unit_err(), "%s:%d: %s: check failed: %s\n", __FILE__, __LINE__, unit_cur,     \
                    #cond);                                                                        \
            unit_cur_failed = 1;                                                                   \
        }                                                                                          \
    } while (0)

#define UNIT_EQ_INT(a, b)                                                                          \
    do {                                                                                           \
        long long unit_a_ = (long long)(a), unit_b_ = (long long)(b);                              \
        if (unit_a_ != unit_b_) {                                                                  \
            fprintf(unit_err(), "%s:%d: %s: %s == %lld, expected %s == %lld\n", __FILE__,          \
                    __LINE__, unit_cur, #a, unit_a_, #b, unit_b_);                                 \
            unit_cur_failed = 1;                                                                   \
        }                                                                                          \
    } while (0)

#define UNIT_EQ_STR(a, b)                                                                          \
    do {                                                                                           \
        const char *unit_a_ = (a), *unit_b_ = (b);                                                 \
        if (unit_a_ == NULL || unit_b_ == NULL || strcmp(unit_a_, unit_b_) != 0) {                 \
            fprintf(unit_err(), "%s:%d: %s: %s == \"%s\", expected \"%s\"\n", __FILE__, __LINE__,  \
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

#define UNIT_END(suite) unit_end(suite)

#endif
