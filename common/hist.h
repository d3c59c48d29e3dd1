/* SPDX-License-Identifier: ISC */
/* A log-linear histogram of non-negative µs values (16 steps per power of
 * two, so any quantile is within 1/16 of the truth), fixed size, no
 * allocation: for schedule lateness and latency figures (owned by hist.c). */
#ifndef NETDIAG_HIST_H
#define NETDIAG_HIST_H

#include <stdint.h>

#define HIST_SUB     16
#define HIST_BUCKETS (HIST_SUB + 40 * HIST_SUB)

struct hist {
    uint64_t count;
    int64_t max;
    uint64_t buckets[HIST_BUCKETS];
};

void hist_add(struct hist *h, int64_t v);
/* The value below which a fraction q (0..1) of the samples lie (the upper
 * edge of its bucket); 0 when empty. */
int64_t hist_quantile(const struct hist *h, double q);

#endif
