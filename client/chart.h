/* SPDX-License-Identifier: ISC */
/* The time axis the terminal charts share (`timeline`, `latency
 * --chart`): bucket widths, whole buckets aligned on local time, the
 * bucket the present falls in, time labels over the chart, and cells of
 * a fixed width (owned by chart.c). */
#ifndef NETDIAG_CHART_H
#define NETDIAG_CHART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct client;
struct output;

#define CHART_MAX_BUCKETS 100000
#define CHART_LABEL_GAP   6 /* columns between two time labels at least */
#define CHART_DAY_MS      (24 * 3600000LL)

/* Bucket widths a default is chosen from (1m to 7d), and label intervals. */
extern const int64_t chart_widths[];
extern const size_t chart_nwidths;

struct chart_axis {
    bool utc;
    int64_t bucket_ms; /* 0 before chart_layout(): choose */
    int64_t origin_ms; /* start of the first bucket */
    int64_t offset_ms; /* local time's offset the buckets are aligned on */
    size_t nbuckets;
    int64_t data_end_ms; /* now, or when the daemon stopped or died */
};

/* --bucket (NULL: none) into ax->bucket_ms: whole minutes from 1m to 7d.
 * --color (NULL: auto) into *color: auto colours a table on a terminal
 * without NO_COLOR and with a TERM other than dumb. 0 or a usage error. */
int chart_parse_options(struct client *cl, const char *bucket, const char *color,
                        struct chart_axis *ax, bool *color_out);

/* Buckets covering [since_ms, until_ms) whole, aligned on local time; a
 * width not given is the narrowest of chart_widths at least min_bucket_ms
 * wide whose chart fits the table width less label_cols (80 columns for a
 * pipe). 0, or a usage error (an empty range, too many buckets). */
int chart_layout(struct client *cl, int64_t since_ms, int64_t until_ms, size_t label_cols,
                 int64_t min_bucket_ms, struct chart_axis *ax);

/* What bucket b has run of its width by data_end_ms: its width, less for
 * the bucket being filled, 0 for one still to come. */
int64_t chart_elapsed(const struct chart_axis *ax, size_t b);
/* The bucket the present falls in (partly run), or SIZE_MAX. */
size_t chart_partial(const struct chart_axis *ax);

/* The buckets a table chart shows, [*first, *first + *ncols): all of
 * them with --wide or on a pipe; else, to fit the terminal, the label
 * (*label_w, its width wanted) gives way first, down to 8 columns, then
 * the oldest buckets, down to one. fixed: the columns beside the label
 * and the buckets. */
void chart_fit(const struct client *cl, const struct chart_axis *ax, size_t fixed, size_t *label_w,
               size_t *first, size_t *ncols);
/* "; the last bucket has run 2m10s of its 5m" and tail when the bucket
 * the present falls in is at or after first; "" otherwise. */
void chart_partial_note(const struct chart_axis *ax, size_t first, const char *tail, char *buf,
                        size_t len);
/* Bucket b's first fields in a record: start_ms, start (ISO), bucket_s,
 * elapsed_s. */
void chart_put_bucket(const struct chart_axis *ax, struct output *o, size_t b);

/* "1m", "30m", "6h", "1d". */
void chart_width_name(int64_t ms, char *buf, size_t len);
/* Time labels over buckets [first, first + ncols): at buckets that start
 * on a round interval, CHART_LABEL_GAP columns apart at least; a label at
 * midnight is the date when the chart crosses one; a chart too short for
 * any gets its first bucket's time. No newline. */
void chart_axis_labels(const struct chart_axis *ax, FILE *fp, size_t first, size_t ncols);

void chart_pad(FILE *fp, size_t n);
/* s in exactly w columns, cut with an ellipsis. */
void chart_cell(FILE *fp, const char *s, size_t w);

#endif
