/* The spike detector's rule, hysteresis and baseline, per series and
 * host-wide, as pure functions of window counts (see alert_detect.h). */
#include <math.h>

#include "alert_detect.h"

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

    if (attempts <= 0)
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

static void alert_learn(const struct alert_params *p, struct alert_series *s, int64_t count)
{
    s->baseline += p->alpha * ((double)count - s->baseline);
    if (s->baseline < 0)
        s->baseline = 0;
}

static void alert_fire(struct alert_series *s, int64_t count, int64_t attempts)
{
    s->firing = true;
    s->held = false;
    s->fire_baseline = s->baseline;
    s->clear_run = 0;
    s->fired_count = count;
    s->fired_attempts = attempts;
    s->peak = count;
}

enum alert_step alert_detect_step(const struct alert_params *p, struct alert_series *s,
                                  int64_t count, int64_t attempts, enum alert_hold hold)
{
    enum alert_level level = alert_detect_level(p, s, count, attempts);

    if (level == ALERT_LEVEL_NONE)
        return s->firing ? ALERT_STEP_FIRING : ALERT_STEP_QUIET;
    s->threshold = alert_detect_threshold(p, s->firing ? s->fire_baseline : s->baseline, attempts);
    if (!s->firing) {
        if (level == ALERT_LEVEL_FIRE) {
            /* a window that would fire is never learnt: an outage must
             * not teach the baseline that outages are normal */
            if (hold == ALERT_HOLD_ALL || (hold == ALERT_HOLD_ONCE && !s->held)) {
                s->held = true;
                return ALERT_STEP_HELD;
            }
            alert_fire(s, count, attempts);
            return ALERT_STEP_FIRED;
        }
        s->held = false;
        /* nor is a window of a host-wide incident (or its onset), whatever
         * this target's level */
        if (hold == ALERT_HOLD_NONE)
            alert_learn(p, s, count);
        return ALERT_STEP_QUIET;
    }
    /* firing: the baseline stays frozen until the alert resolves */
    if (count > s->peak)
        s->peak = count;
    if (level != ALERT_LEVEL_CLEAR) {
        s->clear_run = 0;
        return ALERT_STEP_FIRING;
    }
    if (++s->clear_run < p->clear_after)
        return ALERT_STEP_FIRING;
    s->firing = false;
    s->clear_run = 0;
    alert_learn(p, s, count);
    return ALERT_STEP_RESOLVED;
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
}
