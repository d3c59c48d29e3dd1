/* SPDX-License-Identifier: ISC */
/* What latency and loss alerts keep and say: a target's successful
 * attempts' latencies in the current window (bounded: a reservoir sample
 * beyond ALERT_LAT_WIN_MAX), and the words, figures and units of their
 * alerts (alert.c drives them; alert_detect.c holds the rule). */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert_detect.h"
#include "alert_int.h"
#include "log.h"

static uint32_t *alert_lat_win_data(struct alert_lat_win *w)
{
    return w->cap > 0 ? w->heap : w->inl;
}

void alert_lat_win_add(struct alert_lat_win *w, int64_t latency_us, uint64_t *rng)
{
    uint32_t v = latency_us <= 0 ? 0 : latency_us >= UINT32_MAX ? UINT32_MAX : (uint32_t)latency_us;
    uint32_t cap = w->cap > 0 ? w->cap : ALERT_LAT_WIN_INLINE;

    if (w->seen < UINT32_MAX)
        w->seen++;
    if (v > w->max)
        w->max = v;
    if (w->n < cap) {
        alert_lat_win_data(w)[w->n++] = v;
        return;
    }
    if (cap < ALERT_LAT_WIN_MAX) {
        uint32_t ncap = 2 * cap;
        uint32_t *nv = realloc(w->cap > 0 ? w->heap : NULL, ncap * sizeof(*nv));
        if (nv == NULL)
            fatalx("out of memory");
        if (w->cap == 0)
            memcpy(nv, w->inl, sizeof(w->inl));
        w->heap = nv;
        w->cap = ncap;
        w->heap[w->n++] = v;
        return;
    }
    /* Reservoir sampling (Vitter's algorithm R): every sample of the
     * window stays with the same chance, so the percentile of the kept
     * ones estimates the window's. xorshift64: no need for more here. */
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    {
        uint64_t j = *rng % w->seen;
        if (j < w->n)
            w->heap[j] = v;
    }
}

uint32_t alert_lat_win_figure(const struct alert_lat_win *w, double q)
{
    /* on a copy: the samples stay in the order they came, for the slide */
    static uint32_t scratch[ALERT_LAT_WIN_MAX];

    memcpy(scratch, w->cap > 0 ? w->heap : w->inl, w->n * sizeof(*scratch));
    return alert_lat_quantile(scratch, w->n, q);
}

void alert_lat_win_slide(struct alert_lat_win *w, uint32_t drop)
{
    uint32_t *v = alert_lat_win_data(w);

    if (drop > w->n)
        drop = w->n;
    memmove(v, v + drop, (w->n - drop) * sizeof(*v));
    w->n -= drop;
    /* what is left is the whole of what counts (a reservoir's share of a
     * busy half window counts as that half) */
    w->seen = w->n;
    w->max = 0;
    for (uint32_t i = 0; i < w->n; i++)
        if (v[i] > w->max)
            w->max = v[i];
}

void alert_lat_win_free(struct alert_lat_win *w)
{
    if (w->cap > 0)
        free(w->heap);
    memset(w, 0, sizeof(*w));
}

void alert_fmt_us(double us, char *buf, size_t len)
{
    /* three significant digits at most: 16.5 ms, 175 µs, 1.25 s */
    if (!isfinite(us) || us < 0)
        snprintf(buf, len, "?");
    else if (us < 999.5)
        snprintf(buf, len, "%.0f µs", us);
    else if (us < 999500)
        snprintf(buf, len, "%.3g ms", us / 1000.0);
    else if (us < 999.5e6)
        snprintf(buf, len, "%.3g s", us / 1e6);
    else
        snprintf(buf, len, "%.0f s", us / 1e6);
}

void alert_fmt_share(double share, char *buf, size_t len)
{
    double pct = share * 100.0;

    if (!isfinite(share) || share < 0)
        snprintf(buf, len, "?");
    else if (pct == 0 || pct >= 10)
        snprintf(buf, len, "%.0f%%", pct);
    else if (pct >= 1)
        snprintf(buf, len, "%.1f%%", pct);
    else
        snprintf(buf, len, "%.2f%%", pct);
}

const char *alert_lat_figure_name(double q, char *buf, size_t len)
{
    double pct = q * 100.0;

    if (fabs(pct - 50.0) < 1e-9)
        return "median";
    if (fabs(pct - round(pct)) < 1e-9)
        snprintf(buf, len, "p%.0f", pct);
    else
        snprintf(buf, len, "p%g", pct);
    return buf;
}

static void alert_words(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void alert_words(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

void alert_lat_words(const struct alert_lat_params *p, const struct alert_series *s,
                     int64_t attempts, const char *win, char *buf, size_t len)
{
    char name[16], v[24], pk[40] = "", b[24], t[24];

    alert_fmt_us((double)s->fired_count, v, sizeof(v));
    if (s->peak > s->fired_count) {
        char x[24];
        alert_fmt_us((double)s->peak, x, sizeof(x));
        snprintf(pk, sizeof(pk), " (peak %s)", x);
    }
    alert_fmt_us(s->fire_baseline, b, sizeof(b));
    alert_fmt_us(alert_lat_threshold(p, s->fire_baseline), t, sizeof(t));
    alert_words(buf, len,
                "%s %s%s, baseline %s, %" PRId64 " window%s (threshold %s; %" PRId64 " of %" PRId64
                " attempts answered in %s)",
                alert_lat_figure_name(p->q, name, sizeof(name)), v, pk, b, s->fire_windows,
                s->fire_windows == 1 ? "" : "s", t, s->fired_attempts, attempts, win);
}

void alert_loss_words(const struct alert_params *p, const struct alert_series *s, const char *win,
                      char *buf, size_t len)
{
    char v[16], b[16], pk[40] = "";
    double sent = (double)(s->fired_attempts > 0 ? s->fired_attempts : 1);

    alert_fmt_share((double)s->fired_count / sent, v, sizeof(v));
    alert_fmt_share(s->fire_baseline / sent, b, sizeof(b));
    if (s->peak > s->fired_count)
        snprintf(pk, sizeof(pk), "; peak %" PRId64 " lost", s->peak);
    alert_words(buf, len,
                "loss %s (%" PRId64 " of %" PRId64 " echoes%s), baseline %s, %" PRId64
                " window%s (threshold %.1f lost in %s)",
                v, s->fired_count, s->fired_attempts, pk, b, s->fire_windows,
                s->fire_windows == 1 ? "" : "s",
                alert_detect_threshold(p, s->fire_baseline, s->fired_attempts), win);
}
