/* SPDX-License-Identifier: ISC */
/* A log-linear histogram of non-negative µs values (16 steps per power of
 * two, so any quantile is within 1/16 of the truth), fixed size, no
 * allocation: for schedule lateness and latency figures; and its compact
 * encoding, the lat_hist of the rollups, which netdiagd writes and
 * netdiag reads (owned by hist.c). */
#ifndef NETDIAG_HIST_H
#define NETDIAG_HIST_H

#include <stddef.h>
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

/* The bucket of v (a negative v counts as 0), and the values a bucket
 * holds: 0 to 15 one each, then 16 buckets per power of two up to 2^44 µs
 * (203 days); the last bucket also holds everything above. */
unsigned hist_bucket(int64_t v);
int64_t hist_bucket_lower(unsigned i);
int64_t hist_bucket_upper(unsigned i);

/* The rank (0-based, in ascending order) a quantile of `permille`
 * thousandths stands for among `count` values: floor(count * permille /
 * 1000), at most count - 1, in integers (p99 of 100 values is the 100th).
 * The value of that rank is the upper edge of its bucket, at most h->max:
 * never below the true value, and in its bucket. */
uint64_t hist_rank(uint64_t count, unsigned permille);
int64_t hist_rank_value(const struct hist *h, uint64_t rank);

/* Adds src to dst: the histogram of the union of their samples, exact. */
void hist_merge(struct hist *dst, const struct hist *src);

/* The encoding (sql/README.md, "Latency histograms"): byte 0 is
 * HIST_ENC_FORMAT; then, for every non-empty bucket in ascending order,
 * two unsigned LEB128 numbers, each in its shortest form: the gap to the
 * previous non-empty bucket (index - previous index - 1; for the first,
 * its index) and the count (at least 1). A steady target's minute takes a
 * few bytes; no encoding is longer than HIST_ENC_MAX. A histogram whose
 * counts add up to more than HIST_COUNT_MAX is refused (no honest hour
 * comes near: 2^48 samples). */
#define HIST_ENC_FORMAT 1
#define HIST_ENC_MAX    (1 + HIST_BUCKETS * 12)
#define HIST_COUNT_MAX  (1ULL << 48)

/* Encode into out (cap bytes, HIST_ENC_MAX is always enough): the
 * length, 0 for an empty histogram (stored as NULL) or one that does not
 * fit. */
size_t hist_encode(const struct hist *h, uint8_t *out, size_t cap);
/* The same from the bucket indexes of n samples, sorted ascending. */
size_t hist_encode_sorted(const uint16_t *buckets, size_t n, uint8_t *out, size_t cap);

/* Walking an encoding pair by pair, checking it as it goes. */
struct hist_iter {
    const uint8_t *p, *end;
    unsigned next;  /* the lowest index the next bucket may have */
    uint64_t total; /* counts so far */
};
/* 0, or -1 with *why set ("truncated", "unknown format", ...: static
 * text) for an encoding that cannot be one. */
int hist_iter_init(struct hist_iter *it, const void *buf, size_t len, const char **why);
/* 1 with the next non-empty bucket and its count, 0 at the end, -1 with
 * *why for damage: a number cut off or not in its shortest form, an index
 * past the last bucket, a count of 0, counts over HIST_COUNT_MAX. */
int hist_iter_next(struct hist_iter *it, unsigned *bucket, uint64_t *count, const char **why);

/* Check a whole encoding (bounded: linear in len, and len is refused past
 * HIST_ENC_MAX before anything is read): 0 with the sum of its counts in
 * *total (may be NULL), or -1 with *why. */
int hist_check(const void *buf, size_t len, uint64_t *total, const char **why);
/* Add an encoding to h (checked first: a damaged one adds nothing and
 * returns -1 with *why). h->max rises to the upper edge of the highest
 * bucket, the most an encoding says of its maximum; a caller that knows
 * the true maximum sets it. */
int hist_decode(struct hist *h, const void *buf, size_t len, const char **why);
/* The encoding of the union of two encodings (either may be NULL or of
 * length 0: none), into out: its length, or 0 with *why when one of them
 * is damaged or the sum too large (out is then undefined). Both empty: 0
 * and *why NULL. */
size_t hist_merge_encoded(const void *a, size_t alen, const void *b, size_t blen, uint8_t *out,
                          size_t cap, const char **why);

#endif
