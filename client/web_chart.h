/* SPDX-License-Identifier: ISC */
/* The charts of the web view as inline SVG (owned by web_chart.c): a
 * sparkline of failures per bucket, failures by code stacked over time,
 * and latency as SmokePing draws it (the median as a line in a band from
 * the 10th to the 90th percentile, loss marked below), large and as a
 * sparkline. No script draws them; every bar has its numbers in a
 * <title>. */
#ifndef NETDIAG_WEB_CHART_H
#define NETDIAG_WEB_CHART_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CHART_COLOURS 8 /* classes c0..c7; the last is "other codes" */

/* n buckets of failures (-1: a bucket still to come, not drawn) as a
 * small bar chart; `what` says what a bucket is ("hour"). */
void chart_spark(FILE *fp, const int64_t *v, size_t n, const char *what);

/* One stacked series: a code and its count per bucket. */
struct chart_series {
    int code;
    const char *name;
    int colour; /* 0 .. CHART_COLOURS - 1 */
    int64_t total;
    int64_t *counts; /* nbuckets */
};

/* Failures by code, stacked per bucket of bucket_ms from start_ms; the
 * first `elapsed` buckets have begun, bucket `partial` is not over yet
 * (drawn paler: its count is no rate; SIZE_MAX: none). Axis times are UTC
 * in the bars' titles, and <time> elements under the chart. */
void chart_stack(FILE *fp, const struct chart_series *s, size_t ns, size_t nbuckets,
                 int64_t start_ms, int64_t bucket_ms, size_t elapsed, size_t partial);

/* One bucket of latency, as `netdiag latency --chart --format json`
 * gives it: percentiles in µs (-1: no successful attempt), the attempts
 * and successes, and the loss (ping: echoes lost / sent; NaN for other
 * kinds or without echoes). */
struct chart_lat {
    int64_t p10_us, p50_us, p90_us, max_us;
    int64_t attempts, successes;
    double loss;
    bool begun; /* the bucket has begun (elapsed_s > 0) */
};

/* The latency chart of one target: n buckets of bucket_ms from start_ms,
 * a linear scale from 0; below the plot, per bucket, the share lost (ping
 * echoes) or, for the other kinds, of attempts that failed, and an x for
 * a bucket whose attempts all failed. */
void chart_latency(FILE *fp, const struct chart_lat *b, size_t n, int64_t start_ms,
                   int64_t bucket_ms, bool ping);
/* The same small: the band and the median, failed buckets as a mark. */
void chart_latency_spark(FILE *fp, const struct chart_lat *b, size_t n);

#endif
