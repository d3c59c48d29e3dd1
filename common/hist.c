/* SPDX-License-Identifier: ISC */
/* The log-linear histogram: bucket index from the value's highest bit and
 * the four bits below it. */
#include "hist.h"

static unsigned hist_index(uint64_t v)
{
    unsigned e;

    if (v < HIST_SUB)
        return (unsigned)v;
    e = 63u - (unsigned)__builtin_clzll(v); /* v >= 16, so e >= 4 */
    if (e >= 4 + 40)
        return HIST_BUCKETS - 1;
    return HIST_SUB + (e - 4) * HIST_SUB + (unsigned)((v >> (e - 4)) & (HIST_SUB - 1));
}

/* The largest value that falls into bucket i. */
static int64_t hist_upper(unsigned i)
{
    unsigned e, sub;

    if (i < HIST_SUB)
        return i;
    e = (i - HIST_SUB) / HIST_SUB + 4;
    sub = (i - HIST_SUB) % HIST_SUB;
    return (int64_t)((((uint64_t)HIST_SUB + sub + 1) << (e - 4)) - 1);
}

void hist_add(struct hist *h, int64_t v)
{
    if (v < 0)
        v = 0;
    h->buckets[hist_index((uint64_t)v)]++;
    h->count++;
    if (v > h->max)
        h->max = v;
}

int64_t hist_quantile(const struct hist *h, double q)
{
    uint64_t want, seen = 0;

    if (h->count == 0)
        return 0;
    want = (uint64_t)(q * (double)h->count);
    if (want >= h->count)
        want = h->count - 1;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen > want) {
            int64_t up = hist_upper(i);
            return up < h->max ? up : h->max;
        }
    }
    return h->max;
}
