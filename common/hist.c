/* SPDX-License-Identifier: ISC */
/* The log-linear histogram: bucket index from the value's highest bit and
 * the four bits below it; and its compact encoding, sparse pairs of
 * LEB128 numbers (gap to the previous bucket, count), checked as it is
 * read, since the database it comes from may be someone else's. */
#include <string.h>

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

unsigned hist_bucket(int64_t v)
{
    return hist_index(v < 0 ? 0 : (uint64_t)v);
}

int64_t hist_bucket_upper(unsigned i)
{
    if (i >= HIST_BUCKETS - 1)
        return INT64_MAX; /* the last bucket holds everything above */
    return hist_upper(i);
}

int64_t hist_bucket_lower(unsigned i)
{
    if (i == 0)
        return 0;
    if (i >= HIST_BUCKETS)
        i = HIST_BUCKETS - 1;
    return hist_upper(i - 1) + 1;
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
    uint64_t want;

    if (h->count == 0)
        return 0;
    want = (uint64_t)(q * (double)h->count);
    if (want >= h->count)
        want = h->count - 1;
    return hist_rank_value(h, want);
}

uint64_t hist_rank(uint64_t count, unsigned permille)
{
    unsigned __int128 r;

    if (count == 0)
        return 0;
    if (permille > 1000)
        permille = 1000;
    r = (unsigned __int128)count * permille / 1000;
    return r >= count ? count - 1 : (uint64_t)r;
}

int64_t hist_rank_value(const struct hist *h, uint64_t rank)
{
    uint64_t seen = 0;

    if (h->count == 0)
        return 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen > rank) {
            int64_t up = hist_bucket_upper(i);
            return up < h->max ? up : h->max;
        }
    }
    return h->max;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        dst->buckets[i] += src->buckets[i];
    dst->count += src->count;
    if (src->max > dst->max)
        dst->max = src->max;
}

/* ---- the encoding ---- */

/* Writes v as LEB128 at *o (room checked); false when it does not fit. */
static int hist_put_varint(uint8_t *out, size_t cap, size_t *o, uint64_t v)
{
    do {
        uint8_t b = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (*o >= cap)
            return 0;
        out[(*o)++] = v != 0 ? (uint8_t)(b | 0x80) : b;
    } while (v != 0);
    return 1;
}

/* One pair after the bucket `*prev` (-1 before the first). */
static int hist_put_pair(uint8_t *out, size_t cap, size_t *o, long *prev, unsigned bucket,
                         uint64_t count)
{
    if (!hist_put_varint(out, cap, o, (uint64_t)((long)bucket - *prev - 1)) ||
        !hist_put_varint(out, cap, o, count))
        return 0;
    *prev = (long)bucket;
    return 1;
}

size_t hist_encode(const struct hist *h, uint8_t *out, size_t cap)
{
    size_t o = 1;
    long prev = -1;
    uint64_t total = 0;

    if (cap < 1)
        return 0;
    out[0] = HIST_ENC_FORMAT;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        if (h->buckets[i] == 0)
            continue;
        total += h->buckets[i];
        if (total > HIST_COUNT_MAX || !hist_put_pair(out, cap, &o, &prev, i, h->buckets[i]))
            return 0;
    }
    return prev < 0 ? 0 : o;
}

size_t hist_encode_sorted(const uint16_t *buckets, size_t n, uint8_t *out, size_t cap)
{
    size_t o = 1, i = 0;
    long prev = -1;

    if (cap < 1 || n == 0 || n > HIST_COUNT_MAX)
        return 0;
    out[0] = HIST_ENC_FORMAT;
    while (i < n) {
        size_t j = i + 1;
        if (buckets[i] >= HIST_BUCKETS || (long)buckets[i] <= prev)
            return 0; /* not a bucket, or not sorted */
        while (j < n && buckets[j] == buckets[i])
            j++;
        if (!hist_put_pair(out, cap, &o, &prev, buckets[i], j - i))
            return 0;
        i = j;
    }
    return o;
}

/* One LEB128 number in its shortest form, at most 64 bits. */
static int hist_get_varint(struct hist_iter *it, uint64_t *out, const char **why)
{
    uint64_t v = 0;

    for (unsigned i = 0;; i++) {
        uint8_t b;
        if (it->p >= it->end) {
            *why = "truncated";
            return -1;
        }
        b = *it->p++;
        if (i == 9 && b > 1) { /* the tenth byte holds bit 63 only */
            *why = "a number longer than 64 bits";
            return -1;
        }
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if ((b & 0x80) == 0) {
            if (b == 0 && i > 0) {
                *why = "a number not in its shortest form";
                return -1;
            }
            break;
        }
    }
    *out = v;
    return 0;
}

int hist_iter_init(struct hist_iter *it, const void *buf, size_t len, const char **why)
{
    const uint8_t *b = buf;

    memset(it, 0, sizeof(*it));
    if (buf == NULL || len == 0) {
        *why = "empty";
        return -1;
    }
    if (len > HIST_ENC_MAX) {
        *why = "longer than any histogram";
        return -1;
    }
    if (b[0] != HIST_ENC_FORMAT) {
        *why = "unknown format";
        return -1;
    }
    it->p = b + 1;
    it->end = b + len;
    return 0;
}

int hist_iter_next(struct hist_iter *it, unsigned *bucket, uint64_t *count, const char **why)
{
    uint64_t gap, n;

    if (it->p >= it->end)
        return 0;
    if (hist_get_varint(it, &gap, why) < 0 || hist_get_varint(it, &n, why) < 0)
        return -1;
    if (it->next >= HIST_BUCKETS || gap >= (uint64_t)(HIST_BUCKETS - it->next)) {
        *why = "a bucket past the last";
        return -1;
    }
    if (n == 0) {
        *why = "an empty bucket";
        return -1;
    }
    if (n > HIST_COUNT_MAX - it->total) {
        *why = "counts too large";
        return -1;
    }
    *bucket = it->next + (unsigned)gap;
    *count = n;
    it->next = *bucket + 1;
    it->total += n;
    return 1;
}

int hist_check(const void *buf, size_t len, uint64_t *total, const char **why)
{
    struct hist_iter it;
    unsigned b;
    uint64_t n;
    int rc;

    if (hist_iter_init(&it, buf, len, why) < 0)
        return -1;
    while ((rc = hist_iter_next(&it, &b, &n, why)) > 0)
        ;
    if (rc < 0)
        return -1;
    if (total != NULL)
        *total = it.total;
    return 0;
}

int hist_decode(struct hist *h, const void *buf, size_t len, const char **why)
{
    struct hist_iter it;
    unsigned b;
    uint64_t n;

    if (hist_check(buf, len, NULL, why) < 0)
        return -1;
    hist_iter_init(&it, buf, len, why);
    while (hist_iter_next(&it, &b, &n, why) > 0) {
        int64_t up = hist_bucket_upper(b);
        h->buckets[b] += n;
        h->count += n;
        if (up > h->max)
            h->max = up;
    }
    return 0;
}

size_t hist_merge_encoded(const void *a, size_t alen, const void *b, size_t blen, uint8_t *out,
                          size_t cap, const char **why)
{
    struct hist_iter ia, ib;
    unsigned ka = 0, kb = 0;
    uint64_t na = 0, nb = 0, total = 0;
    int ra = 0, rb = 0;
    size_t o = 1;
    long prev = -1;

    *why = NULL;
    if (cap < 1)
        return 0;
    if (a != NULL && alen > 0 &&
        (hist_iter_init(&ia, a, alen, why) < 0 || (ra = hist_iter_next(&ia, &ka, &na, why)) < 0))
        return 0;
    if (b != NULL && blen > 0 &&
        (hist_iter_init(&ib, b, blen, why) < 0 || (rb = hist_iter_next(&ib, &kb, &nb, why)) < 0))
        return 0;
    out[0] = HIST_ENC_FORMAT;
    while (ra > 0 || rb > 0) {
        unsigned k;
        uint64_t n = 0;
        if (ra > 0 && (rb == 0 || ka <= kb)) {
            k = ka;
            n += na;
            if ((ra = hist_iter_next(&ia, &ka, &na, why)) < 0)
                return 0;
            if (rb > 0 && kb == k) {
                n += nb;
                if ((rb = hist_iter_next(&ib, &kb, &nb, why)) < 0)
                    return 0;
            }
        } else {
            k = kb;
            n += nb;
            if ((rb = hist_iter_next(&ib, &kb, &nb, why)) < 0)
                return 0;
        }
        total += n; /* each side at most HIST_COUNT_MAX: no overflow */
        if (total > HIST_COUNT_MAX) {
            *why = "counts too large";
            return 0;
        }
        if (!hist_put_pair(out, cap, &o, &prev, k, n)) {
            *why = "too long";
            return 0;
        }
    }
    return prev < 0 ? 0 : o;
}
