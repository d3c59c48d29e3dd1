/* SPDX-License-Identifier: ISC */
/* Formatting shared by the query commands: times in the table styles
 * (ISO 8601 and durations are common/timefmt.c's), latencies, percentages,
 * and the string buffer SQL is built in. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "array.h"
#include "fmt.h"
#include "timefmt.h"

static void fmt_out_of_memory(void)
{
    fputs("netdiag: out of memory\n", stderr);
    exit(1);
}

void *fmt_alloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);

    if (q == NULL)
        fmt_out_of_memory();
    return q;
}

void fmt_reserve(void *arrp, size_t *cap, size_t need, size_t size)
{
    if (array_reserve(arrp, cap, need, size) < 0)
        fmt_out_of_memory();
}

char *fmt_strdup(const char *s)
{
    size_t n = strlen(s) + 1;

    return memcpy(fmt_alloc(NULL, n), s, n);
}

void fmt_time(int64_t ms, bool utc, enum fmt_time_style style, char *buf, size_t len)
{
    struct tm tm;

    if (style == FMT_TIME_ISO) {
        timefmt_iso(ms, utc, buf, len);
        return;
    }
    if (!timefmt_tm(ms, utc, &tm)) {
        snprintf(buf, len, "?");
        return;
    }
    switch (style) {
    case FMT_TIME_ISO:
        break; /* above */
    case FMT_TIME_SHORT:
        snprintf(buf, len, "%02d-%02d %02d:%02d:%02d", tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec);
        break;
    case FMT_TIME_CLOCK:
        snprintf(buf, len, "%02d:%02d", tm.tm_hour, tm.tm_min);
        break;
    case FMT_TIME_DAY:
        snprintf(buf, len, "%02d-%02d", tm.tm_mon + 1, tm.tm_mday);
        break;
    }
}

const char *fmt_zone(int64_t ms, bool utc)
{
    static char zone[64];
    struct tm tm;

    if (utc || !timefmt_tm(ms, false, &tm) || tm.tm_zone == NULL)
        return "UTC";
    snprintf(zone, sizeof(zone), "%s", tm.tm_zone);
    return zone;
}

int64_t fmt_utc_offset_ms(int64_t ms, bool utc)
{
    struct tm tm;

    if (utc || !timefmt_tm(ms, false, &tm))
        return 0;
    return (int64_t)tm.tm_gmtoff * 1000;
}

void fmt_latency_us(int64_t us, char *buf, size_t len)
{
    if (us < 0)
        snprintf(buf, len, "-");
    else if (us < 1000)
        snprintf(buf, len, "%lldus", (long long)us);
    else if (us < 10000)
        snprintf(buf, len, "%.2fms", (double)us / 1000.0);
    else if (us < 1000000)
        snprintf(buf, len, "%.1fms", (double)us / 1000.0);
    else
        snprintf(buf, len, "%.2fs", (double)us / 1e6);
}

/* The one percentage formatter: "-" for NaN; a little is "<" the
 * smallest step shown and almost all ">99.9%", never rounded to 0 or 100
 * when it is not. `fine`: two decimals below 1% and a whole "100%";
 * otherwise one decimal always. */
static void fmt_percent_as(double fraction, bool fine, char *buf, size_t len)
{
    double pct = fraction * 100.0;

    if (isnan(fraction))
        snprintf(buf, len, "-");
    else if (pct > 0 && pct < (fine ? 0.01 : 0.05))
        snprintf(buf, len, "%s", fine ? "<0.01%" : "<0.1%");
    else if (fine && pct < 1.0)
        snprintf(buf, len, "%.2f%%", pct);
    else if (pct >= 99.95 && fraction < 1.0)
        snprintf(buf, len, ">99.9%%");
    else if (fine && pct >= 99.95)
        snprintf(buf, len, "100%%");
    else
        snprintf(buf, len, "%.1f%%", pct);
}

void fmt_percent(double fraction, char *buf, size_t len)
{
    fmt_percent_as(fraction, true, buf, len);
}

void fmt_percent1(double fraction, char *buf, size_t len)
{
    fmt_percent_as(fraction, false, buf, len);
}

int64_t fmt_sub(int64_t a, int64_t b)
{
    int64_t r;

    if (__builtin_sub_overflow(a, b, &r))
        return b < 0 ? INT64_MAX : INT64_MIN;
    return r;
}

int64_t fmt_add(int64_t a, int64_t b)
{
    int64_t r;

    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

void fmt_buf_add(struct fmt_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    for (;;) {
        size_t room = b->cap - b->len;
        va_start(ap, fmt);
        n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? room : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            fputs("netdiag: internal error: bad format\n", stderr);
            abort();
        }
        if (b->s != NULL && (size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        b->cap = (b->len + (size_t)n + 1) * 2;
        b->s = fmt_alloc(b->s, b->cap);
        b->s[b->len] = '\0';
    }
}

void fmt_buf_free(struct fmt_buf *b)
{
    free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
}
