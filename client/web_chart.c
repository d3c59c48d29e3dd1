/* SPDX-License-Identifier: ISC */
/* Inline SVG charts: shapes in a fixed viewBox that scales to the width
 * given by the page's style sheet, colours from its classes (so that dark
 * mode and the colour-blind-safe palette are the style sheet's), no text
 * that needs a zone (times go under the chart as <time> elements, which
 * the page's script shows in the viewer's zone). */
#include <inttypes.h>
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
