/* SPDX-License-Identifier: ISC */
/* The spike detector's rule, hysteresis and baseline, per series and
 * host-wide, as pure functions of window counts (see alert_detect.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert_detect.h"
#include "wsa.h"

/* Floating-point slack for "at least": 0.15 x 60 must reach 9. */
#define ALERT_EPS 1e-9

void alert_params_from_config(struct alert_params *p, const struct alert_config *c)
{
    p->factor = c->factor;
    p->min_failures = c->min_failures;
    p->min_ratio = c->min_ratio;
    p->clear_after = c->clear_after > 0 ? c->clear_after : 1;
    p->alpha = c->baseline_ms > 0 ? (double)c->window_ms / (double)c->baseline_ms : 1.0;
    if (p->alpha > 1.0)
        p->alpha = 1.0;
    p->host_min_targets = c->host_min_targets;
    p->host_ratio = c->host_ratio;
    p->confirm = false;
    p->warmup = 0;
}

void alert_params_loss(struct alert_params *p, const struct alert_config *c)
{
    alert_params_from_config(p, c);
    p->factor = c->loss_factor;
    p->min_failures = c->loss_min_lost;
    p->min_ratio = c->loss_threshold;
    p->confirm = true;
    p->warmup = ALERT_WARMUP_WINDOWS;
}

void alert_lat_params_from_config(struct alert_lat_params *p, const struct alert_config *c)
{
    struct alert_params cp;

    alert_params_from_config(&cp, c);
    p->q = c->latency_percentile / 100.0;
    p->factor = c->latency_factor;
    p->margin_us = (double)c->latency_margin_ms * 1000.0;
    p->min_samples = c->latency_min_samples > 0 ? c->latency_min_samples : 1;
    p->clear_after = cp.clear_after;
    p->alpha = cp.alpha;
    p->warmup = ALERT_WARMUP_WINDOWS;
    p->host_min_targets = cp.host_min_targets;
    p->host_ratio = cp.host_ratio;
}

const char *alert_level_name(enum alert_level level)
{
    switch (level) {
    case ALERT_LEVEL_NONE:
        return "none";
    case ALERT_LEVEL_CLEAR:
        return "clear";
    case ALERT_LEVEL_WARM:
        return "warm";
    case ALERT_LEVEL_FIRE:
        return "fire";
    }
    return "?";
}

const char *alert_step_name(enum alert_step step)
{
    switch (step) {
    case ALERT_STEP_QUIET:
        return "quiet";
    case ALERT_STEP_HELD:
        return "held";
    case ALERT_STEP_FIRED:
        return "fired";
    case ALERT_STEP_FIRING:
        return "firing";
    case ALERT_STEP_RESOLVED:
        return "resolved";
    }
    return "?";
}

double alert_detect_threshold(const struct alert_params *p, double baseline, int64_t attempts)
{
    double t = (double)p->min_failures;

    if (p->factor * baseline > t)
        t = p->factor * baseline;
    if (p->min_ratio * (double)attempts > t)
        t = p->min_ratio * (double)attempts;
    return t;
}

enum alert_level alert_detect_level(const struct alert_params *p, const struct alert_series *s,
                                    int64_t count, int64_t attempts)
{
    double t;

    if (attempts <= 0 || (p->warmup > 0 && !s->firing && s->learnt < p->warmup))
        return ALERT_LEVEL_NONE;
    t = alert_detect_threshold(p, s->firing ? s->fire_baseline : s->baseline, attempts);
    if ((double)count + ALERT_EPS >= t)
        return ALERT_LEVEL_FIRE;
    /* Hysteresis (a Schmitt trigger): once firing, a window only counts as
     * clear below half the threshold, so a series hovering around the
     * threshold stays one alert instead of flapping. */
    if (2.0 * (double)count + ALERT_EPS >= t)
        return ALERT_LEVEL_WARM;
    return ALERT_LEVEL_CLEAR;
}

static void alert_learn(const struct alert_params *p, struct alert_series *s, double count)
{
    double w = p->alpha;

    /* with a warm-up, the first windows weigh 1/n each until that falls
     * below alpha: their plain mean, not a fraction of the first one */
    if (p->warmup > 0 && (double)s->learnt * p->alpha < 1.0) {
        s->learnt++;
        if (1.0 / (double)s->learnt > w)
            w = 1.0 / (double)s->learnt;
    }
    s->baseline += w * (count - s->baseline);
    if (s->baseline < 0)
        s->baseline = 0;
}

/* The window before this one was quiet and this one does not fire: it
 * was the normal, learn it; then this one waits its turn. */
static void alert_pend(const struct alert_params *p, struct alert_series *s, int64_t count)
{
    if (s->has_pending)
        alert_learn(p, s, s->pending);
    s->pending = (double)count;
    s->has_pending = true;
}

static void alert_fire(struct alert_series *s, int64_t count, int64_t attempts)
{
    s->firing = true;
    s->held = false;
    s->has_pending = false; /* the outage's start: never learnt */
    s->fire_baseline = s->baseline;
    s->clear_run = 0;
    s->fired_count = count;
    s->fired_attempts = attempts;
    s->peak = count;
    s->fire_windows = 1;
    s->cand = false;
    s->warm_before = false;
}

/* Two windows in a row (alert_detect_step): whether this window, at
 * `level`, fires a series that is not firing: it must be at FIRE, and
 * the window before at WARM or above. *count and *attempts become the
 * figures it fires with (the higher of the two windows when both were at
 * FIRE). A window at FIRE after a clear one is the candidate. */
static bool alert_confirm(struct alert_series *s, enum alert_level level, double *count,
                          int64_t *attempts)
{
    if (level == ALERT_LEVEL_FIRE && s->warm_before) {
        if (s->cand && s->cand_value > *count) {
            *count = s->cand_value;
            *attempts = s->cand_attempts;
        }
        return true;
    }
    s->cand = level == ALERT_LEVEL_FIRE;
    s->cand_value = *count;
    s->cand_attempts = *attempts;
    s->warm_before = level >= ALERT_LEVEL_WARM;
    return false;
}

/* One window of a firing series, counts and latency alike: the peak and
 * the windows at FIRE grow, a window not CLEAR restarts the clear run,
 * and clear_after CLEAR windows in a row resolve it. FIRING or RESOLVED;
 * on RESOLVED the caller learns the window (its own pend). */
static enum alert_step alert_step_firing(struct alert_series *s, enum alert_level level,
                                         int64_t clear_after, int64_t v)
{
    if (v > s->peak)
        s->peak = v;
    if (level == ALERT_LEVEL_FIRE)
        s->fire_windows++;
    if (level != ALERT_LEVEL_CLEAR) {
        s->clear_run = 0;
        return ALERT_STEP_FIRING;
    }
    if (++s->clear_run < clear_after)
        return ALERT_STEP_FIRING;
    s->firing = false;
    s->clear_run = 0;
    s->has_pending = false;
    return ALERT_STEP_RESOLVED;
}

enum alert_step alert_detect_step(const struct alert_params *p, struct alert_series *s,
                                  int64_t count, int64_t attempts, enum alert_hold hold)
{
    enum alert_level level = alert_detect_level(p, s, count, attempts);

    if (level == ALERT_LEVEL_NONE) {
        if (attempts > 0 && !s->firing && hold == ALERT_HOLD_NONE)
            alert_pend(p, s, count); /* warming up */
        return s->firing ? ALERT_STEP_FIRING : ALERT_STEP_QUIET;
    }
    s->threshold = alert_detect_threshold(p, s->firing ? s->fire_baseline : s->baseline, attempts);
    if (!s->firing && p->confirm) {
        double c = (double)count;
        int64_t att = attempts;
        if (alert_confirm(s, level, &c, &att)) {
            if (hold == ALERT_HOLD_ALL || (hold == ALERT_HOLD_ONCE && !s->held)) {
                s->held = true;
                s->has_pending = false;
                s->cand = false;
                s->warm_before = true; /* the next window decides alone */
                return ALERT_STEP_HELD;
            }
            int64_t fw = (s->cand ? 1 : 0) + (level == ALERT_LEVEL_FIRE ? 1 : 0);
            alert_fire(s, (int64_t)c, att);
            s->fire_windows = fw;
            return ALERT_STEP_FIRED;
        }
        s->held = false;
        if (s->cand || hold != ALERT_HOLD_NONE)
            s->has_pending = false; /* a candidate is never learnt, nor what led to it */
        else
            alert_pend(p, s, count);
        return ALERT_STEP_QUIET;
    }
    if (!s->firing) {
        if (level == ALERT_LEVEL_FIRE) {
            /* a window that would fire is never learnt: an outage must
             * not teach the baseline that outages are normal */
            if (hold == ALERT_HOLD_ALL || (hold == ALERT_HOLD_ONCE && !s->held)) {
                s->held = true;
                s->has_pending = false;
                return ALERT_STEP_HELD;
            }
            alert_fire(s, count, attempts);
            return ALERT_STEP_FIRED;
        }
        s->held = false;
        /* nor is a window of a host-wide incident (or its onset), whatever
         * this target's level */
        if (hold == ALERT_HOLD_NONE)
            alert_pend(p, s, count);
        else
            s->has_pending = false;
        return ALERT_STEP_QUIET;
    }
    /* firing: the baseline stays frozen until the alert resolves */
    if (alert_step_firing(s, level, p->clear_after, count) == ALERT_STEP_FIRING)
        return ALERT_STEP_FIRING;
    alert_pend(p, s, count);
    return ALERT_STEP_RESOLVED;
}

double alert_lat_threshold(const struct alert_lat_params *p, double baseline_us)
{
    double t = baseline_us * p->factor;

    if (baseline_us + p->margin_us > t)
        t = baseline_us + p->margin_us;
    return t;
}

enum alert_level alert_lat_level(const struct alert_lat_params *p, const struct alert_series *s,
                                 double value_us, int64_t samples)
{
    double b, t;

    if (samples < p->min_samples || samples <= 0 || (!s->firing && s->learnt < p->warmup))
        return ALERT_LEVEL_NONE;
    b = s->firing ? s->fire_baseline : s->baseline;
    t = alert_lat_threshold(p, b);
    if (value_us + ALERT_EPS >= t)
        return ALERT_LEVEL_FIRE;
    /* hysteresis as for counts: clear only below half-way to the threshold */
    if (2.0 * (value_us - b) + ALERT_EPS >= t - b)
        return ALERT_LEVEL_WARM;
    return ALERT_LEVEL_CLEAR;
}

/* An EWMA of log(value): the first windows are averaged evenly (each
 * weighs 1/n until 1/n falls below alpha), so the baseline is the plain
 * geometric mean of the first ones rather than the first one alone. */
static void alert_lat_learn(const struct alert_lat_params *p, struct alert_series *s,
                            double value_us)
{
    double w;

    if (value_us < 1.0)
        value_us = 1.0; /* a sub-µs figure: log(0) is no baseline */
    if (s->learnt <= 0 || s->baseline < 1.0) {
        s->baseline = value_us;
        s->learnt = 1;
        return;
    }
    w = 1.0 / (double)(s->learnt + 1);
    if (w < p->alpha)
        w = p->alpha;
    s->baseline = exp(log(s->baseline) + w * (log(value_us) - log(s->baseline)));
    /* counts on only as far as the weights need it */
    if ((double)(s->learnt + 1) * p->alpha < 1.0 || s->learnt < p->warmup)
        s->learnt++;
}

static void alert_lat_pend(const struct alert_lat_params *p, struct alert_series *s,
                           double value_us)
{
    if (s->has_pending)
        alert_lat_learn(p, s, s->pending);
    s->pending = value_us;
    s->has_pending = true;
}

enum alert_step alert_lat_step(const struct alert_lat_params *p, struct alert_series *s,
                               double value_us, int64_t samples, enum alert_hold hold)
{
    enum alert_level level = alert_lat_level(p, s, value_us, samples);

    if (samples < p->min_samples || samples <= 0)
        return s->firing ? ALERT_STEP_FIRING : ALERT_STEP_QUIET;
    if (level == ALERT_LEVEL_NONE) {
        /* still learning what normal is: nothing to judge against yet */
        alert_lat_pend(p, s, value_us);
        return ALERT_STEP_QUIET;
    }
    s->threshold = alert_lat_threshold(p, s->firing ? s->fire_baseline : s->baseline);
    if (!s->firing) {
        double v = value_us;
        int64_t n = samples;
        if (alert_confirm(s, level, &v, &n)) {
            if (hold == ALERT_HOLD_ALL || (hold == ALERT_HOLD_ONCE && !s->held)) {
                s->held = true;
                s->has_pending = false;
                s->cand = false;
                s->warm_before = true;
                return ALERT_STEP_HELD;
            }
            int64_t fw = (s->cand ? 1 : 0) + (level == ALERT_LEVEL_FIRE ? 1 : 0);
            alert_fire(s, (int64_t)v, n);
            s->fire_windows = fw;
            /* the window that confirmed it may be lower than the candidate */
            if ((int64_t)value_us > s->peak)
                s->peak = (int64_t)value_us;
            return ALERT_STEP_FIRED;
        }
        s->held = false;
        if (s->cand || hold != ALERT_HOLD_NONE)
            s->has_pending = false;
        else
            alert_lat_pend(p, s, value_us);
        return ALERT_STEP_QUIET;
    }
    if (alert_step_firing(s, level, p->clear_after, (int64_t)value_us) == ALERT_STEP_FIRING)
        return ALERT_STEP_FIRING;
    alert_lat_pend(p, s, value_us);
    return ALERT_STEP_RESOLVED;
}

enum alert_step alert_lat_step_half(const struct alert_lat_params *p, struct alert_series *s,
                                    double value_us, int64_t samples, enum alert_hold hold)
{
    double v = value_us;
    int64_t n = samples;

    if (s->firing)
        return ALERT_STEP_FIRING;
    /* nothing else changes the series: learning, WARM and CLEAR are for
     * whole windows; a host-wide view is judged at whole windows */
    if (hold != ALERT_HOLD_NONE || alert_lat_level(p, s, value_us, samples) != ALERT_LEVEL_FIRE)
        return ALERT_STEP_QUIET;
    /* only a candidate: a half window at FIRE after a quiet whole one is
     * left to the whole windows (as a candidate of its own it would fire
     * on noise now and then: two overlapping figures are not two
     * windows' evidence) */
    if (!s->cand)
        return ALERT_STEP_QUIET;
    if (s->cand_value > v) {
        v = s->cand_value;
        n = s->cand_attempts;
    }
    s->threshold = alert_lat_threshold(p, s->baseline);
    alert_fire(s, (int64_t)v, n);
    if ((int64_t)value_us > s->peak)
        s->peak = (int64_t)value_us;
    return ALERT_STEP_FIRED;
}

/* Hoare's selection: the k-th smallest (0-based) of v[0..n), in place;
 * O(n) on average. */
static uint32_t alert_select(uint32_t *v, size_t n, size_t k)
{
    long lo = 0, hi = (long)n - 1, kk = (long)k;

    while (lo < hi) {
        uint32_t pivot = v[lo + (hi - lo) / 2];
        long i = lo - 1, j = hi + 1;
        for (;;) {
            do
                i++;
            while (v[i] < pivot);
            do
                j--;
            while (v[j] > pivot);
            if (i >= j)
                break;
            uint32_t t = v[i];
            v[i] = v[j];
            v[j] = t;
        }
        /* v[lo..j] <= pivot <= v[j+1..hi] */
        if (kk <= j)
            hi = j;
        else
            lo = j + 1;
    }
    return v[kk];
}

uint32_t alert_lat_quantile(uint32_t *v, size_t n, double q)
{
    double r;
    size_t k;

    if (n == 0)
        return 0;
    r = ceil(q * (double)n - ALERT_EPS);
    k = r < 1.0 ? 0 : (size_t)r - 1;
    if (k >= n)
        k = n - 1;
    return alert_select(v, n, k);
}

bool alert_detect_host_many(const struct alert_params *p, const struct alert_host_tally *t,
                            int64_t n)
{
    /* one target is never "the host": below 2 (other than 0, off) counts as 2 */
    int64_t min = p->host_min_targets < 2 ? 2 : p->host_min_targets;

    if (p->host_min_targets <= 0 || t->eligible <= 0)
        return false;
    return n >= min && (double)n + ALERT_EPS >= p->host_ratio * (double)t->eligible;
}

enum alert_step alert_detect_host_step(const struct alert_params *p, struct alert_series *h,
                                       const struct alert_host_tally *t)
{
    if (!h->firing) {
        if (!alert_detect_host_many(p, t, t->fire))
            return ALERT_STEP_QUIET;
        alert_fire(h, t->count, t->attempts);
        return ALERT_STEP_FIRED;
    }
    if (t->count > h->peak)
        h->peak = t->count;
    if (t->eligible <= 0)
        return ALERT_STEP_FIRING; /* no attempts at all: no evidence */
    if (alert_detect_host_many(p, t, t->warm)) {
        h->clear_run = 0;
        return ALERT_STEP_FIRING;
    }
    if (++h->clear_run < p->clear_after)
        return ALERT_STEP_FIRING;
    h->firing = false;
    h->clear_run = 0;
    return ALERT_STEP_RESOLVED;
}

enum alert_hold alert_detect_host_hold(const struct alert_params *p, const struct alert_series *h,
                                       const struct alert_host_tally *t)
{
    if (h->firing)
        return ALERT_HOLD_ALL;
    if (alert_detect_host_many(p, t, t->warm))
        return ALERT_HOLD_ONCE;
    return ALERT_HOLD_NONE;
}

void alert_detect_rescale(struct alert_series *s, double ratio)
{
    if (!isfinite(ratio) || ratio <= 0)
        return;
    s->baseline *= ratio;
    s->fire_baseline *= ratio;
    s->pending *= ratio;
}

bool alert_detect_code_local(int code)
{
    switch (code) {
    case WSAECONNREFUSED:   /* a RST or ICMP port unreachable from the host */
    case WSAECONNRESET:     /* the peer (or its side's middlebox) reset it */
    case WSAHOST_NOT_FOUND: /* NXDOMAIN: a nameserver's answer */
    case WSANO_DATA:        /* NOERROR without the record: an answer too */
        return false;
    default:
        return true;
    }
}

void alert_hostset_reset(struct alert_hostset *hs)
{
    if (hs->n > 0 && hs->h != NULL)
        memset(hs->h, 0, hs->cap * sizeof(*hs->h));
    hs->n = 0;
    hs->names[0] = '\0';
}

void alert_hostset_free(struct alert_hostset *hs)
{
    free(hs->h);
    memset(hs, 0, sizeof(*hs));
}

/* FNV-1a, never 0 (0 marks an empty slot). Two names with the same 64-bit
 * hash would count as one host: that errs towards not blaming the local
 * network. */
static uint64_t alert_hostset_hash(const char *s)
{
    uint64_t h = 14695981039346656037ULL;

    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h != 0 ? h : 1;
}

static bool alert_hostset_insert(uint64_t *tab, size_t cap, uint64_t h)
{
    size_t i = (size_t)h & (cap - 1);

    while (tab[i] != 0) {
        if (tab[i] == h)
            return false;
        i = (i + 1) & (cap - 1);
    }
    tab[i] = h;
    return true;
}

bool alert_hostset_add(struct alert_hostset *hs, const char *host)
{
    uint64_t h = alert_hostset_hash(host);
    size_t used;

    /* at most half full */
    if (2 * (hs->n + 1) > hs->cap) {
        size_t ncap = hs->cap ? 2 * hs->cap : 16;
        uint64_t *n = calloc(ncap, sizeof(*n));
        if (n == NULL)
            return false; /* out of memory: counted as known, errs the safe way */
        for (size_t i = 0; i < hs->cap && hs->n > 0; i++)
            if (hs->h[i] != 0)
                alert_hostset_insert(n, ncap, hs->h[i]);
        free(hs->h);
        hs->h = n;
        hs->cap = ncap;
    }
    if (!alert_hostset_insert(hs->h, hs->cap, h))
        return false;
    hs->n++;
    used = strlen(hs->names);
    if (used + strlen(host) + 8 < sizeof(hs->names))
        snprintf(hs->names + used, sizeof(hs->names) - used, "%s%s", used ? ", " : "", host);
    else if (used + 5 < sizeof(hs->names) && strstr(hs->names, ", ...") == NULL)
        snprintf(hs->names + used, sizeof(hs->names) - used, ", ...");
    return true;
}

bool alert_detect_host_local(const struct alert_params *p, int code, const struct alert_hostset *hs)
{
    int64_t min = p->host_min_targets < 2 ? 2 : p->host_min_targets;

    return alert_detect_code_local(code) && (int64_t)hs->n >= min;
}
