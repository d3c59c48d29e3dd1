/* SPDX-License-Identifier: ISC */
/* The time axis of the terminal charts: whole buckets of a width chosen to
 * fit, aligned on local time, and the labels over them, as `timeline`
 * and `latency --chart` draw them. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chart.h"
#include "client.h"
#include "counts.h"
#include "fmt.h"
#include "timefmt.h"
#include "util.h"

const int64_t chart_widths[] = {
    COUNTS_MINUTE_MS,      2 * COUNTS_MINUTE_MS,  5 * COUNTS_MINUTE_MS, 10 * COUNTS_MINUTE_MS,
    15 * COUNTS_MINUTE_MS, 30 * COUNTS_MINUTE_MS, COUNTS_HOUR_MS,       2 * COUNTS_HOUR_MS,
    3 * COUNTS_HOUR_MS,    6 * COUNTS_HOUR_MS,    12 * COUNTS_HOUR_MS,  CHART_DAY_MS,
    2 * CHART_DAY_MS,      7 * CHART_DAY_MS,
};
const size_t chart_nwidths = ND_ARRAY_LEN(chart_widths);

int chart_parse_options(struct client *cl, const char *bucket, const char *color,
                        struct chart_axis *ax, bool *color_out)
{
    char err[128];

    ax->utc = cl->utc;
    if (bucket != NULL) {
        if (util_parse_duration_ms(bucket, &ax->bucket_ms, err, sizeof(err)) < 0)
            return client_usage_error(cl, "--bucket: %s", err);
        if (ax->bucket_ms < COUNTS_MINUTE_MS || ax->bucket_ms % COUNTS_MINUTE_MS != 0 ||
            ax->bucket_ms > 7 * CHART_DAY_MS)
            return client_usage_error(cl,
                                      "--bucket: \"%s\" is not a whole number of minutes from 1m "
                                      "to 7d",
                                      bucket);
    }
    *color_out = false;
    if (color == NULL || strcmp(color, "auto") == 0) {
        const char *term = getenv("TERM");
        *color_out = cl->format == OUTPUT_TABLE && isatty(fileno(cl->out)) &&
                     getenv("NO_COLOR") == NULL && (term == NULL || strcmp(term, "dumb") != 0);
    } else if (strcmp(color, "always") == 0) {
        *color_out = true;
    } else if (strcmp(color, "never") != 0) {
        return client_usage_error(cl, "--color: \"%s\" is not auto, always or never", color);
    }
    return 0;
}

int chart_layout(struct client *cl, int64_t since_ms, int64_t until_ms, size_t label_cols,
                 int64_t min_bucket_ms, struct chart_axis *ax)
{
    int64_t span, end;
    size_t chart_cols;

    ax->utc = cl->utc;
    ax->offset_ms = fmt_utc_offset_ms(since_ms, cl->utc);
    span = until_ms - since_ms;
    if (span <= 0)
        return client_usage_error(cl, "the range is empty");
    if (ax->bucket_ms == 0) {
        /* a pipe is not cut, but the chart is drawn for 80 columns */
        int width = cl->width_cols > 0 ? cl->width_cols : 80;
        chart_cols = width > (int)label_cols + 10 ? (size_t)width - label_cols : 10;
        ax->bucket_ms = chart_widths[chart_nwidths - 1];
        for (size_t i = 0; i < chart_nwidths; i++) {
            /* +1: a range rarely starts on a bucket boundary */
            if (chart_widths[i] >= min_bucket_ms &&
                (size_t)(span / chart_widths[i]) + 1 <= chart_cols) {
                ax->bucket_ms = chart_widths[i];
                break;
            }
        }
    }
    ax->origin_ms = counts_floor(since_ms, ax->bucket_ms, ax->offset_ms);
    end = counts_floor(until_ms, ax->bucket_ms, ax->offset_ms);
    if (end < until_ms)
        end += ax->bucket_ms;
    if ((end - ax->origin_ms) / ax->bucket_ms > CHART_MAX_BUCKETS)
        return client_usage_error(cl, "more than %d buckets; choose a wider --bucket",
                                  CHART_MAX_BUCKETS);
    ax->nbuckets = (size_t)((end - ax->origin_ms) / ax->bucket_ms);
    return 0;
}

int64_t chart_elapsed(const struct chart_axis *ax, size_t b)
{
    int64_t start = ax->origin_ms + (int64_t)b * ax->bucket_ms;

    if (ax->data_end_ms >= start + ax->bucket_ms)
        return ax->bucket_ms;
    return ax->data_end_ms > start ? ax->data_end_ms - start : 0;
}

size_t chart_partial(const struct chart_axis *ax)
{
    size_t partial = SIZE_MAX;

    for (size_t b = 0; b < ax->nbuckets; b++)
        if (chart_elapsed(ax, b) > 0 && chart_elapsed(ax, b) < ax->bucket_ms)
            partial = b;
    return partial;
}

void chart_fit(const struct client *cl, const struct chart_axis *ax, size_t fixed, size_t *label_w,
               size_t *first, size_t *ncols)
{
    size_t need, avail, cut;

    *first = 0;
    *ncols = ax->nbuckets;
    if (cl->wide || cl->width_cols <= 0)
        return;
    need = *label_w + fixed + *ncols;
    avail = (size_t)cl->width_cols;
    /* the label gives way first (down to 8 columns), then the oldest
     * buckets (down to one) */
    if (need > avail && *label_w > 8) {
        cut = need - avail < *label_w - 8 ? need - avail : *label_w - 8;
        *label_w -= cut;
        need -= cut;
    }
    if (need > avail)
        *ncols = avail > *label_w + fixed + 1 ? avail - *label_w - fixed : 1;
    *first = ax->nbuckets - *ncols;
}

void chart_partial_note(const struct chart_axis *ax, size_t first, const char *tail, char *buf,
                        size_t len)
{
    size_t partial = chart_partial(ax);
    char ran[32], width[32];

    buf[0] = '\0';
    if (partial == SIZE_MAX || partial < first)
        return;
    chart_width_name(ax->bucket_ms, width, sizeof(width));
    timefmt_duration(chart_elapsed(ax, partial), TIMEFMT_ELAPSED, ran, sizeof(ran));
    snprintf(buf, len, "; the last bucket has run %s of its %s%s", ran, width, tail);
}

void chart_put_bucket(const struct chart_axis *ax, struct output *o, size_t b)
{
    int64_t start = ax->origin_ms + (int64_t)b * ax->bucket_ms;
    char iso[64];

    fmt_time(start, ax->utc, FMT_TIME_ISO, iso, sizeof(iso));
    output_int(o, start);
    output_str(o, iso);
    output_int(o, ax->bucket_ms / 1000);
    output_int(o, chart_elapsed(ax, b) / 1000);
}

void chart_width_name(int64_t ms, char *buf, size_t len)
{
    if (ms % CHART_DAY_MS == 0)
        snprintf(buf, len, "%lldd", (long long)(ms / CHART_DAY_MS));
    else if (ms % COUNTS_HOUR_MS == 0)
        snprintf(buf, len, "%lldh", (long long)(ms / COUNTS_HOUR_MS));
    else
        snprintf(buf, len, "%lldm", (long long)(ms / COUNTS_MINUTE_MS));
}

void chart_pad(FILE *fp, size_t n)
{
    while (n-- > 0)
        fputc(' ', fp);
}

void chart_cell(FILE *fp, const char *s, size_t w)
{
    size_t tw = output_text_width(s);

    if (tw <= w) {
        fputs(s, fp);
        chart_pad(fp, w - tw);
        return;
    }
    for (size_t cols = 0; *s && cols + 1 < w; cols++) {
        fputc(*s++, fp);
        while (((unsigned char)*s & 0xc0) == 0x80)
            fputc(*s++, fp);
    }
    if (w > 0)
        fputs("\xe2\x80\xa6", fp);
}

/* Whether [from, to) holds a local midnight after its start. */
static bool chart_crosses_midnight(const struct chart_axis *ax, int64_t from, int64_t to)
{
    int64_t off = fmt_utc_offset_ms(from, ax->utc);

    return counts_floor(to - 1, CHART_DAY_MS, off) > counts_floor(from, CHART_DAY_MS, off);
}

void chart_axis_labels(const struct chart_axis *ax, FILE *fp, size_t first, size_t ncols)
{
    int64_t interval = 0, from = ax->origin_ms + (int64_t)first * ax->bucket_ms;
    bool days = chart_crosses_midnight(ax, from, from + (int64_t)ncols * ax->bucket_ms);
    size_t col = 0, placed = 0;
    char label[32];

    for (size_t i = 0; i < chart_nwidths && interval == 0; i++)
        if (chart_widths[i] % ax->bucket_ms == 0 &&
            chart_widths[i] / ax->bucket_ms >= CHART_LABEL_GAP)
            interval = chart_widths[i];
    if (interval == 0)
        interval = ax->bucket_ms * CHART_LABEL_GAP;
    for (size_t b = first; b < first + ncols; b++) {
        int64_t start = ax->origin_ms + (int64_t)b * ax->bucket_ms;
        size_t pos = b - first;
        bool midnight =
            counts_floor(start, CHART_DAY_MS, fmt_utc_offset_ms(start, ax->utc)) == start;
        if (counts_floor(start, interval, ax->offset_ms) != start ||
            (placed > 0 && pos < col + 1) || pos + 5 > ncols)
            continue;
        fmt_time(start, ax->utc,
                 ax->bucket_ms >= CHART_DAY_MS || (days && midnight) ? FMT_TIME_DAY
                                                                     : FMT_TIME_CLOCK,
                 label, sizeof(label));
        chart_pad(fp, pos - col);
        fputs(label, fp);
        col = pos + output_text_width(label); /* the cursor */
        placed++;
    }
    if (placed == 0) {
        fmt_time(from, ax->utc,
                 ax->bucket_ms >= CHART_DAY_MS || days ? FMT_TIME_DAY : FMT_TIME_CLOCK, label,
                 sizeof(label));
        fputs(label, fp);
    }
}
