/* SPDX-License-Identifier: ISC */
/* What the libFuzzer targets share: the entry point prototypes, a
 * NUL-terminated copy of an input, and the check that turns a broken
 * invariant into a crash the fuzzer keeps. */
#ifndef NETDIAG_FUZZ_H
#define NETDIAG_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libFuzzer calls these; declared here for -Wmissing-prototypes. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* An invariant of the code under test: abort() is a crash to libFuzzer, so
 * the input that broke it is saved as an artifact like any ASan report. */
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* The input as a C string (it stops at the first NUL byte, as a string
 * from argv or a config line would). Never NULL: out of memory aborts,
 * since a fuzzing run cannot go on without memory anyway. */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);

    if (s == NULL)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* Whether `s` (NUL-terminated) ends within `cap` bytes: every text buffer
 * the code fills must be a string when it returns. */
static inline int fuzz_terminated(const char *s, size_t cap)
{
    return memchr(s, '\0', cap) != NULL;
}

#endif
