/* SPDX-License-Identifier: ISC */
/* Unit tests for hist.c: the buckets, quantiles against the sorted raw
 * values, the encoding of the rollups' lat_hist (round trip, one encoding
 * per histogram, the merge equal to the histogram of the union) and
 * encodings a tampered database may hold (cut off, overlong numbers,
 * buckets out of range, huge counts): refused with a reason, nothing
 * added, in bounded time. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hist.h"
#include "unit.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static uint64_t rng(void)
{
    /* xorshift64*: repeatable, no libc state */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

/* A latency as a network gives them: a base with jitter, the odd slow one. */
static int64_t rng_latency(int shape)
{
    switch (shape) {
    case 0: /* loopback: 40 to 300 µs */
        return 40 + (int64_t)(rng() % 260);
    case 1: /* a LAN with a tail */
        return rng() % 20 == 0 ? 5000 + (int64_t)(rng() % 200000) : 800 + (int64_t)(rng() % 400);
    case 2: /* anything, from 0 to 2^45 */
        return (int64_t)(rng() >> (19 + rng() % 45));
    default: /* tiny values, one bucket each */
        return (int64_t)(rng() % 20);
    }
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static struct hist *hist_new(void)
{
    return calloc(1, sizeof(struct hist));
}

static bool hist_same(const struct hist *a, const struct hist *b)
{
    return a->count == b->count && memcmp(a->buckets, b->buckets, sizeof(a->buckets)) == 0;
}

static void test_buckets(void)
{
    /* every bucket's edges map back to it, and buckets tile the values */
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        UNIT_EQ_INT(hist_bucket(hist_bucket_lower(i)), i);
        if (i + 1 < HIST_BUCKETS) {
            UNIT_EQ_INT(hist_bucket(hist_bucket_upper(i)), i);
            UNIT_EQ_INT(hist_bucket_upper(i) + 1, hist_bucket_lower(i + 1));
        }
        /* at most 1/16 wide from 16 on */
        if (i >= HIST_SUB && i + 1 < HIST_BUCKETS)
            UNIT_CHECK((hist_bucket_upper(i) - hist_bucket_lower(i) + 1) * HIST_SUB <=
                       hist_bucket_lower(i));
    }
    UNIT_EQ_INT(hist_bucket(-5), 0);
    UNIT_EQ_INT(hist_bucket(15), 15);
    UNIT_EQ_INT(hist_bucket(16), 16);
    UNIT_EQ_INT(hist_bucket(INT64_MAX), HIST_BUCKETS - 1);
    UNIT_EQ_INT(hist_bucket_upper(HIST_BUCKETS - 1), INT64_MAX);
}

static void test_rank(void)
{
    UNIT_EQ_INT(hist_rank(0, 500), 0);
    UNIT_EQ_INT(hist_rank(1, 990), 0);
    UNIT_EQ_INT(hist_rank(2, 500), 1);
    UNIT_EQ_INT(hist_rank(10, 900), 9);
    UNIT_EQ_INT(hist_rank(100, 990), 99);
    UNIT_EQ_INT(hist_rank(1000, 990), 990);
    UNIT_EQ_INT(hist_rank(7, 1000), 6);
    UNIT_EQ_INT(hist_rank(UINT64_MAX, 500), UINT64_MAX / 2);
}

/* hist_quantile (the scheduler's lateness) is the upper edge of the
 * bucket of rank floor(q * count), at most the largest value. */
static void test_quantile(void)
{
    struct hist h;

    memset(&h, 0, sizeof(h));
    UNIT_EQ_INT(hist_quantile(&h, 0.5), 0);
    for (int64_t v = 1; v <= 100; v++)
        hist_add(&h, v * 1000);
    UNIT_EQ_INT(hist_quantile(&h, 0.0), hist_bucket_upper(hist_bucket(1000)));
    UNIT_EQ_INT(hist_quantile(&h, 0.5), hist_bucket_upper(hist_bucket(51000)));
    UNIT_EQ_INT(hist_quantile(&h, 0.99), 100000);
    UNIT_EQ_INT(hist_quantile(&h, 1.0), 100000);
    hist_add(&h, 7);
    UNIT_EQ_INT(hist_quantile(&h, 0.0), 7);
}

/* Encode, decode, encode again: the same histogram and the same bytes;
 * the encoding from sorted buckets is the same too. */
static void test_round_trip(void)
{
    uint8_t enc[HIST_ENC_MAX], enc2[HIST_ENC_MAX], enc3[HIST_ENC_MAX];
    uint16_t *sorted = malloc(5000 * sizeof(*sorted));
    struct hist *h = hist_new(), *d = hist_new();
    const char *why;

    for (int round = 0; round < 400; round++) {
        size_t n = 1 + rng() % (round % 10 == 0 ? 5000 : 60), len, len2, len3;
        int64_t *v = malloc(n * sizeof(*v));
        memset(h, 0, sizeof(*h));
        memset(d, 0, sizeof(*d));
        for (size_t i = 0; i < n; i++) {
            v[i] = rng_latency(round % 4);
            hist_add(h, v[i]);
        }
        qsort(v, n, sizeof(*v), cmp_i64);
        for (size_t i = 0; i < n; i++)
            sorted[i] = (uint16_t)hist_bucket(v[i]);
        len = hist_encode(h, enc, sizeof(enc));
        UNIT_CHECK(len > 1 && len <= HIST_ENC_MAX);
        UNIT_EQ_INT(hist_decode(d, enc, len, &why), 0);
        UNIT_CHECK(hist_same(h, d));
        /* the maximum an encoding gives: the top of the highest bucket */
        UNIT_EQ_INT(hist_bucket(d->max), hist_bucket(h->max));
        UNIT_CHECK(d->max >= h->max);
        len2 = hist_encode(d, enc2, sizeof(enc2));
        UNIT_EQ_INT(len2, len);
        UNIT_CHECK(memcmp(enc, enc2, len) == 0);
        len3 = hist_encode_sorted(sorted, n, enc3, sizeof(enc3));
        UNIT_EQ_INT(len3, len);
        UNIT_CHECK(memcmp(enc, enc3, len) == 0);
        free(v);
    }
    /* empty: nothing to store */
    memset(h, 0, sizeof(*h));
    UNIT_EQ_INT(hist_encode(h, enc, sizeof(enc)), 0);
    UNIT_EQ_INT(hist_encode_sorted(sorted, 0, enc, sizeof(enc)), 0);
    /* unsorted input to hist_encode_sorted is refused, not mis-encoded */
    sorted[0] = 40;
    sorted[1] = 30;
    UNIT_EQ_INT(hist_encode_sorted(sorted, 2, enc, sizeof(enc)), 0);
    free(sorted);
    free(h);
    free(d);
}

/* A steady target's minute (6 attempts at 10 s) takes a few bytes. */
static void test_compact(void)
{
    uint8_t enc[HIST_ENC_MAX];
    struct hist *h = hist_new();
    size_t len;

    for (int i = 0; i < 6; i++)
        hist_add(h, 200 + i * 3); /* 200..215 µs: two buckets */
    len = hist_encode(h, enc, sizeof(enc));
    UNIT_CHECK(len > 0 && len <= 6);
    /* every bucket full to the limit still fits HIST_ENC_MAX */
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        h->buckets[i] = HIST_COUNT_MAX / HIST_BUCKETS;
    h->count = HIST_COUNT_MAX / HIST_BUCKETS * HIST_BUCKETS;
    len = hist_encode(h, enc, sizeof(enc));
    UNIT_CHECK(len > 0 && len <= HIST_ENC_MAX);
    free(h);
}

/* The merge of two encodings is the encoding of the union of their
 * samples, and so is any order of merging many minutes into an hour. */
static void test_merge_is_union(void)
{
    uint8_t ea[HIST_ENC_MAX], eb[HIST_ENC_MAX], eu[HIST_ENC_MAX], em[HIST_ENC_MAX];
    uint8_t hour[HIST_ENC_MAX], tmp[HIST_ENC_MAX];
    struct hist *a = hist_new(), *b = hist_new(), *u = hist_new(), *m = hist_new();
    const char *why;

    for (int round = 0; round < 300; round++) {
        size_t na = rng() % 80, nb = rng() % 80, la, lb, lu, lm;
        memset(a, 0, sizeof(*a));
        memset(b, 0, sizeof(*b));
        memset(u, 0, sizeof(*u));
        for (size_t i = 0; i < na; i++) {
            int64_t v = rng_latency(round % 4);
            hist_add(a, v);
            hist_add(u, v);
        }
        for (size_t i = 0; i < nb; i++) {
            int64_t v = rng_latency((round + 1) % 4);
            hist_add(b, v);
            hist_add(u, v);
        }
        la = hist_encode(a, ea, sizeof(ea));
        lb = hist_encode(b, eb, sizeof(eb));
        lu = hist_encode(u, eu, sizeof(eu));
        lm = hist_merge_encoded(la ? ea : NULL, la, lb ? eb : NULL, lb, em, sizeof(em), &why);
        UNIT_EQ_INT(lm, lu);
        UNIT_CHECK(lm == 0 || memcmp(em, eu, lm) == 0);
        if (lu == 0)
            UNIT_CHECK(why == NULL);
        /* the same in memory */
        memset(m, 0, sizeof(*m));
        hist_merge(m, a);
        hist_merge(m, b);
        UNIT_CHECK(hist_same(m, u));
        UNIT_EQ_INT(m->max, u->max);
    }
    /* 60 minutes merged one by one into an hour, as the writer does */
    {
        size_t lh = 0, lm;
        memset(u, 0, sizeof(*u));
        for (int minute = 0; minute < 60; minute++) {
            size_t lmin, lnew;
            memset(a, 0, sizeof(*a));
            for (int k = 0; k < 6; k++) {
                int64_t v = rng_latency(minute % 3);
                hist_add(a, v);
                hist_add(u, v);
            }
            lmin = hist_encode(a, ea, sizeof(ea));
            lnew = hist_merge_encoded(lh ? hour : NULL, lh, ea, lmin, tmp, sizeof(tmp), &why);
            UNIT_CHECK(lnew > 0);
            memcpy(hour, tmp, lnew);
            lh = lnew;
        }
        lm = hist_encode(u, eu, sizeof(eu));
        UNIT_EQ_INT(lh, lm);
        UNIT_CHECK(memcmp(hour, eu, lh) == 0);
    }
    free(a);
    free(b);
    free(u);
    free(m);
}

/* Each quantile is in the bucket of the raw value of the same rank, never
 * below it, and never above the maximum. */
static void test_quantiles_within_a_bucket(void)
{
    static const unsigned pms[] = {0, 100, 500, 900, 990, 999, 1000};
    struct hist *h = hist_new();

    for (int round = 0; round < 300; round++) {
        size_t n = 1 + rng() % (round % 7 == 0 ? 3000 : 40);
        int64_t *v = malloc(n * sizeof(*v));
        memset(h, 0, sizeof(*h));
        for (size_t i = 0; i < n; i++) {
            v[i] = rng_latency(round % 4);
            hist_add(h, v[i]);
        }
        qsort(v, n, sizeof(*v), cmp_i64);
        for (size_t k = 0; k < sizeof(pms) / sizeof(pms[0]); k++) {
            uint64_t r = hist_rank(n, pms[k]);
            int64_t got = hist_rank_value(h, r), want = v[r];
            UNIT_EQ_INT(hist_bucket(got), hist_bucket(want));
            UNIT_CHECK(got >= want);
            UNIT_CHECK(got <= v[n - 1]);
        }
        /* p100 is the maximum itself */
        UNIT_EQ_INT(hist_rank_value(h, hist_rank(n, 1000)), v[n - 1]);
        free(v);
    }
    free(h);
}

/* A damaged encoding: refused with a reason, nothing added, merge refused. */
static void expect_damaged(const uint8_t *b, size_t len, const char *what)
{
    struct hist *h = hist_new(), *before = hist_new();
    uint8_t ok[8] = {HIST_ENC_FORMAT, 100, 3}, out[HIST_ENC_MAX];
    const char *why = NULL;
    uint64_t total = 0;
    int failed_before = unit_cur_failed;

    unit_cur_failed = 0;
    hist_add(h, 1000);
    *before = *h;
    UNIT_EQ_INT(hist_check(b, len, &total, &why), -1);
    UNIT_CHECK(why != NULL);
    why = NULL;
    UNIT_EQ_INT(hist_decode(h, b, len, &why), -1);
    UNIT_CHECK(why != NULL);
    UNIT_CHECK(hist_same(h, before));
    UNIT_EQ_INT(h->max, before->max);
    /* (no bytes at all is "none" to a merge: a NULL column) */
    if (len > 0) {
        why = NULL;
        UNIT_EQ_INT(hist_merge_encoded(b, len, ok, 3, out, sizeof(out), &why), 0);
        UNIT_CHECK(why != NULL);
        why = NULL;
        UNIT_EQ_INT(hist_merge_encoded(ok, 3, b, len, out, sizeof(out), &why), 0);
        UNIT_CHECK(why != NULL);
    }
    if (unit_cur_failed)
        fprintf(stderr, "  (in the case: %s)\n", what);
    unit_cur_failed |= failed_before;
    free(h);
    free(before);
}

static void test_hostile(void)
{
    static const uint8_t unknown[] = {2, 0, 1};
    static const uint8_t cut_gap[] = {HIST_ENC_FORMAT, 0x80};
    static const uint8_t cut_count[] = {HIST_ENC_FORMAT, 5};
    static const uint8_t cut_count2[] = {HIST_ENC_FORMAT, 5, 0xff};
    static const uint8_t overlong[] = {HIST_ENC_FORMAT, 0x85, 0x00, 1};
    static const uint8_t overlong_count[] = {HIST_ENC_FORMAT, 5, 0x81, 0x80, 0x00};
    static const uint8_t past_last[] = {HIST_ENC_FORMAT, 0x90, 0x05, 1};        /* gap 656 */
    static const uint8_t past_last2[] = {HIST_ENC_FORMAT, 0x8f, 0x05, 1, 0, 1}; /* 655, 656 */
    static const uint8_t zero_count[] = {HIST_ENC_FORMAT, 5, 0};
    static const uint8_t bits65[] = {
        HIST_ENC_FORMAT, 5, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
    static const uint8_t huge_gap[] = {
        HIST_ENC_FORMAT, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 1};
    /* 2^48 + 1 samples over two buckets */
    static const uint8_t huge[] = {
        HIST_ENC_FORMAT, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40, 0, 1};
    uint8_t *longer = calloc(HIST_ENC_MAX + 2, 1);
    uint8_t enc[HIST_ENC_MAX];
    struct hist *h = hist_new();
    const char *why;
    size_t len;

    expect_damaged(NULL, 0, "NULL");
    expect_damaged(unknown, 0, "empty");
    expect_damaged(unknown, sizeof(unknown), "unknown format");
    expect_damaged(cut_gap, sizeof(cut_gap), "cut in a gap");
    expect_damaged(cut_count, sizeof(cut_count), "no count");
    expect_damaged(cut_count2, sizeof(cut_count2), "cut in a count");
    expect_damaged(overlong, sizeof(overlong), "overlong gap");
    expect_damaged(overlong_count, sizeof(overlong_count), "overlong count");
    expect_damaged(past_last, sizeof(past_last), "bucket 656");
    expect_damaged(past_last2, sizeof(past_last2), "a bucket after the last");
    expect_damaged(zero_count, sizeof(zero_count), "count 0");
    expect_damaged(bits65, sizeof(bits65), "65 bits");
    expect_damaged(huge_gap, sizeof(huge_gap), "a gap of 2^63");
    expect_damaged(huge, sizeof(huge), "counts over 2^48");
    longer[0] = HIST_ENC_FORMAT;
    expect_damaged(longer, HIST_ENC_MAX + 1, "longer than any");

    /* every proper prefix of a real encoding is refused or is itself a
     * smaller histogram (cut between pairs); never read past its end */
    for (int i = 0; i < 200; i++)
        hist_add(h, rng_latency(1));
    len = hist_encode(h, enc, sizeof(enc));
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1); /* exact size: ASan sees an overrun */
        uint64_t total = 0;
        memcpy(copy, enc, cut);
        why = NULL;
        if (hist_check(copy, cut, &total, &why) == 0)
            UNIT_CHECK(total < h->count);
        else
            UNIT_CHECK(why != NULL);
        free(copy);
    }
    /* random bytes: refused, or a valid histogram whose encoding is those
     * very bytes (one encoding per histogram) */
    for (int round = 0; round < 20000; round++) {
        size_t n = 1 + rng() % 24;
        uint8_t *b = malloc(n);
        struct hist *d = hist_new();
        for (size_t i = 0; i < n; i++)
            b[i] = (uint8_t)(rng() >> (rng() % 2 ? 56 : 60)); /* many small bytes */
        b[0] = rng() % 8 ? HIST_ENC_FORMAT : b[0];
        if (hist_decode(d, b, n, &why) == 0) {
            len = hist_encode(d, enc, sizeof(enc));
            if (d->count == 0)
                UNIT_EQ_INT(n, 1);
            else
                UNIT_CHECK(len == n && memcmp(enc, b, n) == 0);
        }
        free(b);
        free(d);
    }
    free(longer);
    free(h);
}

int main(int argc, char **argv)
{
    unit_init(argc, argv);
    UNIT_RUN(test_buckets);
    UNIT_RUN(test_rank);
    UNIT_RUN(test_quantile);
    UNIT_RUN(test_round_trip);
    UNIT_RUN(test_compact);
    UNIT_RUN(test_merge_is_union);
    UNIT_RUN(test_quantiles_within_a_bucket);
    UNIT_RUN(test_hostile);
    return UNIT_END("test_hist");
}
