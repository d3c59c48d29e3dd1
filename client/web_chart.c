/* SPDX-License-Identifier: ISC */
/* Inline SVG charts: shapes in a fixed viewBox that scales to the width
 * given by the page's style sheet, colours from its classes (so that dark
 * mode and the colour-blind-safe palette are the style sheet's), no text
 * that needs a zone (times go under the chart as <time> elements, which
 * the page's script shows in the viewer's zone). */
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "counts.h"
#include "fmt.h"
#include "web_chart.h"
#include "web_html.h"

#define SPARK_BAR 4 /* viewBox units per bucket: a bar of 3 and a gap of 1 */
#define SPARK_H   26

void chart_spark(FILE *fp, const int64_t *v, size_t n, const char *what)
{
    int64_t max = 0, sum = 0;

    for (size_t i = 0; i < n; i++) {
        if (v[i] > max)
            max = v[i];
        if (v[i] > 0)
            counts_add(&sum, v[i]);
    }
    fprintf(fp,
            "<svg class=\"spark\" viewBox=\"0 0 %zu %d\" preserveAspectRatio=\"none\" "
            "role=\"img\" aria-label=\"%" PRId64 " failures, at most %" PRId64 " in an %s\">"
            "<title>%" PRId64 " failures, at most %" PRId64 " in an %s</title>",
            n * SPARK_BAR, SPARK_H, sum, max, what, sum, max, what);
    /* one path for the empty buckets' base line, one for the bars */
    fputs("<path class=\"zero\" d=\"", fp);
    for (size_t i = 0; i < n; i++)
        if (v[i] == 0)
            fprintf(fp, "M%zu %dh3v1h-3z", i * SPARK_BAR, SPARK_H - 1);
    fputs("\"/><path class=\"fail\" d=\"", fp);
    for (size_t i = 0; i < n && max > 0; i++) {
        int h;
        if (v[i] <= 0)
            continue;
        /* any failure shows: at least 3 units of 26 */
        h = (int)((double)v[i] * (SPARK_H - 1) / (double)max + 0.5);
        h = h < 3 ? 3 : h;
        fprintf(fp, "M%zu %dh3v%dh-3z", i * SPARK_BAR, SPARK_H - h, h);
    }
    fputs("\"/></svg>", fp);
}

/* "10:30" / "11-24" of a bucket's start in UTC, for a bar's title. */
static void chart_utc(int64_t ms, bool day, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL) {
        snprintf(buf, len, "?");
        return;
    }
    strftime(buf, len, day ? "%m-%d %H:%M" : "%H:%M", &tm);
}

#define STACK_W    720
#define STACK_H    200
#define STACK_LEFT 40 /* room for the count labels */
#define STACK_TOP  8
#define STACK_BASE (STACK_H - 6)

void chart_stack(FILE *fp, const struct chart_series *s, size_t ns, size_t nbuckets,
                 int64_t start_ms, int64_t bucket_ms, size_t elapsed, size_t partial)
{
    int64_t max = 0;
    double bw;
    bool day = bucket_ms >= 3600000LL;

    for (size_t b = 0; b < nbuckets; b++) {
        int64_t sum = 0;
        for (size_t k = 0; k < ns; k++)
            counts_add(&sum, s[k].counts[b]);
        if (sum > max)
            max = sum;
    }
    bw = nbuckets > 0 ? (double)(STACK_W - STACK_LEFT) / (double)nbuckets : 1;
    fprintf(fp,
            "<svg class=\"chart\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"failures by "
            "code over time, at most %" PRId64 " in a bucket\">",
            STACK_W, STACK_H, max);
    /* the scale: 0 and the highest bucket, and a line between */
    fprintf(fp,
            "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>"
            "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>"
            "<text class=\"lbl\" x=\"%d\" y=\"%d\" text-anchor=\"end\">%" PRId64 "</text>"
            "<text class=\"lbl\" x=\"%d\" y=\"%d\" text-anchor=\"end\">0</text>",
            STACK_LEFT, STACK_BASE, STACK_W, STACK_BASE, STACK_LEFT, STACK_TOP, STACK_W, STACK_TOP,
            STACK_LEFT - 4, STACK_TOP + 10, max, STACK_LEFT - 4, STACK_BASE);
    for (size_t b = 0; b < nbuckets && b < elapsed && max > 0; b++) {
        double x = STACK_LEFT + (double)b * bw, y = STACK_BASE;
        int64_t sum = 0;
        char from[24], to[24];
        for (size_t k = 0; k < ns; k++)
            counts_add(&sum, s[k].counts[b]);
        if (sum == 0)
            continue;
        chart_utc(fmt_add(start_ms, (int64_t)b * bucket_ms), day, from, sizeof(from));
        chart_utc(fmt_add(start_ms, (int64_t)(b + 1) * bucket_ms), day, to, sizeof(to));
        fprintf(fp, "<g%s><title>%s\xe2\x80\x93%s UTC: %" PRId64 " failures%s",
                b == partial ? " class=\"part\"" : "", from, to, sum,
                b == partial ? " so far (the bucket is not over)" : "");
        for (size_t k = 0; k < ns; k++) {
            if (s[k].counts[b] == 0)
                continue;
            fprintf(fp, "; %" PRId64 " %d ", s[k].counts[b], s[k].code);
            html_text(fp, s[k].name);
        }
        fputs("</title>", fp);
        for (size_t k = 0; k < ns; k++) {
            double h;
            if (s[k].counts[b] == 0)
                continue;
            h = (double)s[k].counts[b] * (STACK_BASE - STACK_TOP) / (double)max;
            if (h < 1.5)
                h = 1.5; /* any failure shows */
            y -= h;
            fprintf(fp,
                    "<rect class=\"c%d\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>",
                    s[k].colour, x + bw * 0.1, y, bw * 0.8, h);
        }
        fputs("</g>", fp);
    }
    fputs("</svg>", fp);
}

/* --- latency ------------------------------------------------------------- */

#define LAT_W     720
#define LAT_H     200
#define LAT_LEFT  58 /* room for the latency labels */
#define LAT_TOP   8
#define LAT_BASE  150 /* the plot's 0 */
#define LAT_LOSS  182 /* the bottom of the loss strip; its top is LAT_BASE + 8 */
#define LAT_LOSSH (LAT_LOSS - LAT_BASE - 8)

/* A bucket that has samples. */
static bool lat_has(const struct chart_lat *b)
{
    return b->begun && b->p50_us >= 0 && b->p10_us >= 0 && b->p90_us >= 0;
}

/* The share of the bucket lost, or of its attempts failed (NaN: none). */
static double lat_lost(const struct chart_lat *b, bool ping)
{
    if (!b->begun)
        return NAN;
    if (ping)
        return b->loss;
    if (b->attempts <= 0 || b->successes < 0 || b->successes > b->attempts)
        return NAN;
    return (double)(b->attempts - b->successes) / (double)b->attempts;
}

/* A round top for the scale: 1, 2 or 5 times a power of ten, at least v. */
static int64_t lat_nice(int64_t v)
{
    int64_t p = 1;

    if (v < 1)
        return 1;
    while (p <= INT64_MAX / 10 && p * 10 <= v)
        p *= 10;
    if (v <= p)
        return p;
    if (p <= INT64_MAX / 2 && v <= 2 * p)
        return 2 * p;
    if (p <= INT64_MAX / 5 && v <= 5 * p)
        return 5 * p;
    return p <= INT64_MAX / 10 ? 10 * p : INT64_MAX;
}

/* The loss class: none, up to 5 %, up to 20 %, more (SmokePing's steps). */
static int lat_loss_class(double lost)
{
    return !(lost > 0) ? 0 : lost <= 0.05 ? 1 : lost <= 0.20 ? 2 : 3;
}

static void lat_title(FILE *fp, const struct chart_lat *b, bool ping, int64_t from, int64_t to,
                      bool day)
{
    char f[24], t[24], v[32];
    double lost = lat_lost(b, ping);

    chart_utc(from, day, f, sizeof(f));
    chart_utc(to, day, t, sizeof(t));
    fprintf(fp, "<title>%s\xe2\x80\x93%s UTC: ", f, t);
    if (lat_has(b)) {
        fmt_latency_us(b->p50_us, v, sizeof(v));
        fprintf(fp, "median %s", v);
        fmt_latency_us(b->p10_us, v, sizeof(v));
        fprintf(fp, ", 10th percentile %s", v);
        fmt_latency_us(b->p90_us, v, sizeof(v));
        fprintf(fp, ", 90th %s", v);
        if (b->max_us >= 0) {
            fmt_latency_us(b->max_us, v, sizeof(v));
            fprintf(fp, ", max %s", v);
        }
    } else if (b->attempts > 0) {
        fputs("no successful attempt", fp);
    } else {
        fputs("no attempt", fp);
    }
    if (b->attempts > 0)
        fprintf(fp, "; %" PRId64 " attempts, %" PRId64 " succeeded", b->attempts, b->successes);
    if (!isnan(lost)) {
        fmt_percent1(lost, v, sizeof(v));
        fprintf(fp, "; %s %s", v, ping ? "of echoes lost" : "failed");
    }
    fputs("</title>", fp);
}

/* The band (p10 to p90) and the median of the runs of buckets with
 * samples, as two paths; x0, bw and y() place them. */
static void lat_paths(FILE *fp, const struct chart_lat *b, size_t n, double x0, double bw,
                      double base, double top, int64_t scale, const char *band_cls,
                      const char *line_cls)
{
#define LAT_Y(v) (base - (double)((v) > scale ? scale : (v)) * (base - top) / (double)scale)
    fprintf(fp, "<path class=\"%s\" d=\"", band_cls);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        if (!lat_has(&b[i])) {
            i++;
            continue;
        }
        while (j < n && lat_has(&b[j]))
            j++;
        /* along the 90th percentile, back along the 10th: each bucket
         * a flat step, as SmokePing draws it */
        for (size_t k = i; k < j; k++)
            fprintf(fp, "%c%.1f %.1fH%.1f", k == i ? 'M' : 'L', x0 + (double)k * bw,
                    LAT_Y(b[k].p90_us), x0 + (double)(k + 1) * bw);
        for (size_t k = j; k > i; k--)
            fprintf(fp, "L%.1f %.1fH%.1f", x0 + (double)k * bw, LAT_Y(b[k - 1].p10_us),
                    x0 + (double)(k - 1) * bw);
        fputs("Z", fp);
        i = j;
    }
    fprintf(fp, "\"/><path class=\"%s\" d=\"", line_cls);
    for (size_t i = 0; i < n; i++)
        if (lat_has(&b[i]))
            fprintf(fp, "%c%.1f %.1fH%.1f", i == 0 || !lat_has(&b[i - 1]) ? 'M' : 'L',
                    x0 + (double)i * bw, LAT_Y(b[i].p50_us), x0 + (double)(i + 1) * bw);
    fputs("\"/>", fp);
#undef LAT_Y
}

void chart_latency(FILE *fp, const struct chart_lat *b, size_t n, int64_t start_ms,
                   int64_t bucket_ms, bool ping)
{
    int64_t top = 0, scale;
    double bw = n > 0 ? (double)(LAT_W - LAT_LEFT) / (double)n : 1;
    bool day = bucket_ms >= 3600000LL;
    char lbl[32];

    for (size_t i = 0; i < n; i++)
        if (lat_has(&b[i]) && b[i].p90_us > top)
            top = b[i].p90_us;
    scale = lat_nice(top + top / 10);
    fprintf(fp,
            "<svg class=\"chart lat\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"latency "
            "over time: the median as a line, the 10th to 90th percentile as a band, %s below\">",
            LAT_W, LAT_H, ping ? "echoes lost" : "failed attempts");
    /* the scale: 0, half and the top, and the loss strip's base */
    for (int k = 0; k <= 2; k++) {
        double y = LAT_BASE - (double)k * (LAT_BASE - LAT_TOP) / 2.0;
        fmt_latency_us(scale / 2 * k + (k == 2 ? scale % 2 : 0), lbl, sizeof(lbl));
        fprintf(fp,
                "<line class=\"axis\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>"
                "<text class=\"lbl\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">",
                LAT_LEFT, y, LAT_W, y, LAT_LEFT - 4,
                y + (k == 2   ? 10
                     : k == 0 ? 0
                              : 4));
        html_text(fp, k == 0 ? "0" : lbl);
        fputs("</text>", fp);
    }
    fprintf(fp,
            "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>"
            "<text class=\"lbl\" x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>",
            LAT_LEFT, LAT_LOSS, LAT_W, LAT_LOSS, LAT_LEFT - 4, LAT_LOSS, ping ? "loss" : "failed");
    lat_paths(fp, b, n, LAT_LEFT, bw, LAT_BASE, LAT_TOP, scale, "band", "med");
    /* per bucket: the loss bar, an x where every attempt failed, and
     * the figures on hover */
    for (size_t i = 0; i < n; i++) {
        double x = LAT_LEFT + (double)i * bw, lost = lat_lost(&b[i], ping);
        if (!b[i].begun)
            continue;
        fputs("<g>", fp);
        lat_title(fp, &b[i], ping, fmt_add(start_ms, (int64_t)i * bucket_ms),
                  fmt_add(start_ms, (int64_t)(i + 1) * bucket_ms), day);
        fprintf(fp, "<rect class=\"hov\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\"/>", x,
                LAT_TOP, bw, LAT_LOSS - LAT_TOP);
        if (lost > 0) {
            double h = lost * LAT_LOSSH;
            if (h < 2)
                h = 2; /* any loss shows */
            fprintf(fp,
                    "<rect class=\"loss l%d\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                    "height=\"%.1f\"/>",
                    lat_loss_class(lost), x + bw * 0.1, LAT_LOSS - h, bw * 0.8, h);
        }
        if (!lat_has(&b[i]) && b[i].attempts > 0)
            fprintf(fp, "<path class=\"nolat\" d=\"M%.1f %dl6 6m0 -6l-6 6\"/>", x + bw / 2 - 3,
                    LAT_TOP + 2);
        fputs("</g>", fp);
    }
    fputs("</svg>", fp);
}

#define LSPARK_H 26

void chart_latency_spark(FILE *fp, const struct chart_lat *b, size_t n)
{
    int64_t top = 0, scale;
    size_t with = 0, failed = 0;
    char med[32];

    for (size_t i = 0; i < n; i++) {
        if (lat_has(&b[i])) {
            with++;
            if (b[i].p90_us > top)
                top = b[i].p90_us;
        } else if (b[i].begun && b[i].attempts > 0) {
            failed++;
        }
    }
    scale = top > 0 ? top : 1;
    /* the median of the newest bucket with one, for the title */
    snprintf(med, sizeof(med), "-");
    for (size_t i = n; i > 0; i--)
        if (lat_has(&b[i - 1])) {
            fmt_latency_us(b[i - 1].p50_us, med, sizeof(med));
            break;
        }
    fprintf(fp,
            "<svg class=\"spark\" viewBox=\"0 0 %zu %d\" preserveAspectRatio=\"none\" "
            "role=\"img\" aria-label=\"latency: newest median %s, %zu buckets without a "
            "successful attempt\"><title>latency: newest median %s; the band from the 10th "
            "to the 90th percentile, up to %" PRId64 " \xc2\xb5s; %zu buckets without a "
            "successful attempt</title>",
            n * SPARK_BAR, LSPARK_H, med, failed, med, top, failed);
    if (with > 0)
        lat_paths(fp, b, n, 0, SPARK_BAR, LSPARK_H - 1, 1, scale, "band", "med");
    fputs("<path class=\"fail\" d=\"", fp);
    for (size_t i = 0; i < n; i++)
        if (!lat_has(&b[i]) && b[i].begun && b[i].attempts > 0)
            fprintf(fp, "M%zu 0h3v%dh-3z", i * SPARK_BAR, LSPARK_H);
    fputs("\"/></svg>", fp);
}
