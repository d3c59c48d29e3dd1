/* SPDX-License-Identifier: ISC */
/* The spike detector: pure arithmetic on per-window counts, with no clock,
 * no I/O and no libevent, so unit tests can feed it synthetic series
 * (owned by alert_detect.c; alert.c drives it once per window). */
#ifndef NETDIAG_ALERT_DETECT_H
#define NETDIAG_ALERT_DETECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* The rule's knobs, from [alert]. */
struct alert_params {
    double factor;
    int64_t min_failures;
    double min_ratio;
    int64_t clear_after;      /* clear windows in a row before a resolve */
    double alpha;             /* weight of one window in the baseline: window / baseline */
    int64_t host_min_targets; /* 0: no host-wide alerts */
    double host_ratio;
    /* fire only on two windows in a row (see alert_detect_step); the
     * loss rule asks for it, the failure rule does not */
    bool confirm;
    /* windows learnt before it may fire, the first ones averaged evenly
     * (loss); 0: none, a plain EWMA from 0 (failures, whose baselines
     * are seeded from the rollups at start) */
    int64_t warmup;
};

void alert_params_from_config(struct alert_params *p, const struct alert_config *c);

/* The loss rule is the failure rule on echoes (a lost echo is a failure,
 * a sent one an attempt): its knobs from [alert] loss_*. */
void alert_params_loss(struct alert_params *p, const struct alert_config *c);

/* The latency rule's knobs, from [alert] latency_*. */
struct alert_lat_params {
    double q;            /* the percentile as a fraction: 0.5 */
    double factor;       /* the window's figure must pass baseline x factor ... */
    double margin_us;    /* ... and baseline + margin */
    int64_t min_samples; /* fewer successful attempts: no evidence */
    int64_t clear_after; /* clear windows in a row before a resolve */
    double alpha;        /* weight of one window in the baseline */
    int64_t warmup;      /* windows learnt before it may fire */
    int64_t host_min_targets;
    double host_ratio;
};

/* Windows a latency or loss baseline learns before it may fire. */
#define ALERT_WARMUP_WINDOWS 5

void alert_lat_params_from_config(struct alert_lat_params *p, const struct alert_config *c);

/* Where one window stands against the rule. */
enum alert_level {
    ALERT_LEVEL_NONE,  /* no attempts: no evidence either way, the window is skipped */
    ALERT_LEVEL_CLEAR, /* below half the fire threshold */
    ALERT_LEVEL_WARM,  /* below the threshold, but at least half of it */
    ALERT_LEVEL_FIRE,  /* the rule holds */
};
const char *alert_level_name(enum alert_level level);

/* What a window did to a series. */
enum alert_step {
    ALERT_STEP_QUIET,    /* not firing, and did not fire */
    ALERT_STEP_HELD,     /* the rule holds but firing was held back (host-wide) */
    ALERT_STEP_FIRED,    /* started firing */
    ALERT_STEP_FIRING,   /* was firing and still is */
    ALERT_STEP_RESOLVED, /* stopped firing */
};
const char *alert_step_name(enum alert_step step);

/* Holding back a per-target fire while the host-wide view is pending or
 * firing, so a local outage raises one host alert and not one per target. */
enum alert_hold {
    ALERT_HOLD_NONE,
    ALERT_HOLD_ONCE, /* many targets look bad: wait one window (at most) */
    ALERT_HOLD_ALL,  /* the host-wide alert of this code fires: do not fire */
};

/* One series: a target and a watched code, or the host and a code. */
struct alert_series {
    double baseline; /* expected failures per window, an EWMA over `baseline` */
    bool firing;
    bool held;            /* the last window's fire was held back */
    double fire_baseline; /* baseline frozen when it fired: the rule while firing */
    int64_t clear_run;    /* clear windows in a row while firing */
    int64_t fired_count;  /* failures in the window that fired */
    int64_t fired_attempts;
    int64_t peak;     /* highest count in a window while firing */
    double threshold; /* the fire threshold of the last window evaluated */
    /* Learning runs one window behind: the last quiet window's count waits
     * here and is learnt only when the next window does not fire. */
    double pending;
    bool has_pending;
    /* latency series: windows learnt so far (counted while it matters) */
    int64_t learnt;
    /* windows at FIRE level since it fired (latency and loss) */
    int64_t fire_windows;
    /* confirmation (latency, loss): the last window with evidence was
     * at WARM or above, or at FIRE (a candidate, with its figures) */
    bool warm_before;
    bool cand;
    double cand_value;
    int64_t cand_attempts;
};

/* The failure count a window of `attempts` attempts must reach to fire:
 * max(min_failures, factor x baseline, min_ratio x attempts). */
double alert_detect_threshold(const struct alert_params *p, double baseline, int64_t attempts);

/* The level of a window (count failures of `attempts`) for series s, with
 * its frozen baseline while it fires; NONE without attempts and while
 * the baseline is still warming up. Does not change s. */
enum alert_level alert_detect_level(const struct alert_params *p, const struct alert_series *s,
                                    int64_t count, int64_t attempts);

/* Feed one window to a series: fire, hold, stay, resolve, and learn the
 * baseline from windows that are not part of an alert (nor the window
 * just before one: an outage that starts late in a window puts a few
 * failures there, below the threshold, and they are its start, not the
 * normal). With p->confirm, one window at FIRE is not enough: it fires
 * at a window at FIRE when the window before was at WARM or above (a
 * lone window over the threshold, which chance gives now and then, fires
 * nothing and is never learnt), with the higher of the two windows'
 * counts. */
enum alert_step alert_detect_step(const struct alert_params *p, struct alert_series *s,
                                  int64_t count, int64_t attempts, enum alert_hold hold);

/* One code's window across the targets that watch it. */
struct alert_host_tally {
    int64_t eligible; /* targets watching the code that made attempts */
    int64_t fire;     /* of them, at ALERT_LEVEL_FIRE */
    int64_t warm;     /* of them, at ALERT_LEVEL_WARM or FIRE */
    int64_t count;    /* their failures with the code */
    int64_t attempts; /* their attempts */
};

/* Whether `n` of the tally's eligible targets are "many": at least
 * host_min_targets and at least host_ratio of them. */
bool alert_detect_host_many(const struct alert_params *p, const struct alert_host_tally *t,
                            int64_t n);

/* Feed one window to a host-wide series: fires when many targets are at
 * FIRE, stays while many are at least WARM, resolves after clear_after
 * windows without that. */
enum alert_step alert_detect_host_step(const struct alert_params *p, struct alert_series *h,
                                       const struct alert_host_tally *t);

/* The hold per-target series of the code get after the host step. */
enum alert_hold alert_detect_host_hold(const struct alert_params *p, const struct alert_series *h,
                                       const struct alert_host_tally *t);

/* Latency series reuse struct alert_series with these units: baseline,
 * fire_baseline, threshold, pending, peak and fired_count hold µs (the
 * baseline is a geometric mean: an EWMA of the logarithm of each
 * window's figure, so one slow window moves it by a factor, not by its
 * size), fired_attempts the samples of the window that fired. */

/* The figure a window must reach to fire: max(baseline x factor,
 * baseline + margin). */
double alert_lat_threshold(const struct alert_lat_params *p, double baseline_us);

/* The level of a window whose percentile is value_us over `samples`
 * successful attempts: NONE below min_samples and while the baseline is
 * still learning (nothing to judge against), FIRE at the threshold, WARM
 * at least half-way from the baseline to it, CLEAR below. */
enum alert_level alert_lat_level(const struct alert_lat_params *p, const struct alert_series *s,
                                 double value_us, int64_t samples);

/* Feed one window to a latency series: as alert_detect_step() with
 * confirmation, learning (one window behind) from every window that is
 * not part of a fire. */
enum alert_step alert_lat_step(const struct alert_lat_params *p, struct alert_series *s,
                               double value_us, int64_t samples, enum alert_hold hold);

/* Half-way through a window (alert.c evaluates latency every half
 * window): value_us is the figure of the last window length, the second
 * half of the window before and the first half of this one. At FIRE it
 * fires a candidate (the window before at FIRE after a quiet one) now,
 * with the higher of the two figures, rather than at this window's end.
 * Anything else changes nothing: learning, WARM, CLEAR and new
 * candidates are for whole windows. So a delay that starts anywhere in a
 * window fires within two window lengths (plus the time between two
 * attempts: the median needs more than half of a window slow), where
 * whole windows alone take up to three. */
enum alert_step alert_lat_step_half(const struct alert_lat_params *p, struct alert_series *s,
                                    double value_us, int64_t samples, enum alert_hold hold);

/* The q-quantile (0..1) of n values, nearest rank (the ceil(q x n)-th
 * smallest: for the median of an even count, the lower middle one, so a
 * window's figure is always one of its samples and half the window at
 * least must be slow to move it). Reorders v. 0 when n is 0. */
uint32_t alert_lat_quantile(uint32_t *v, size_t n, double q);

/* A new window length: baselines are per window, so they scale with it. */
void alert_detect_rescale(struct alert_series *s, double ratio);

/* Evidence for blaming the local network. Many targets failing alike is
 * not enough: their failures must be spread over distinct remote hosts
 * (not one host's ports), at least host_min_targets of them (2 at the
 * least), and the code must be one the local network can cause. A
 * refusal, a reset, "no such name" and "no such record" are answers
 * from a remote host, so they never are. */
bool alert_detect_code_local(int code);

/* The distinct remote hosts of one window's failing targets: a set of
 * hashes of the host names, and the first few names for the words. */
struct alert_hostset {
    uint64_t *h; /* open addressing, 0 = empty slot */
    size_t cap;
    size_t n;
    char names[160]; /* "a, b, c, ..." */
};
void alert_hostset_reset(struct alert_hostset *hs);
/* Adds a host; returns whether it was new. */
bool alert_hostset_add(struct alert_hostset *hs, const char *host);
void alert_hostset_free(struct alert_hostset *hs);

/* Whether the many targets at FIRE of a window (tally t, their hosts in
 * hs) point at the local network for `code`. */
bool alert_detect_host_local(const struct alert_params *p, int code,
                             const struct alert_hostset *hs);

#endif
