/* SPDX-License-Identifier: ISC */
/* Unit tests for latency and loss alerts: the detector (alert_detect.c)
 * on synthetic series with the documented defaults of [alert] (a week of
 * windows with realistic jitter, delay and loss steps, drift, loopback
 * figures, hysteresis), and the engine (alert.c) on a real event loop
 * and database with made-up results carrying latencies and echoes: rows,
 * words, restart, reload, and a loss that a timeout alert covers. */
#include <inttypes.h>
#include <math.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "alert.h"
#include "alert_detect.h"
#include "config.h"
#include "log.h"
#include "probe.h"
#include "store.h"
#include "unit.h"
#include "util.h"
#include "wsa.h"

static char tmpdir[64];

static struct config *load_ini(const char *text)
{
    char path[128];
    FILE *f;
    struct config *cfg;
    int nerr = 0;

    snprintf(path, sizeof(path), "%s/t.ini", tmpdir);
    f = fopen(path, "w");
    if (f == NULL)
        return NULL;
    fputs(text, f);
    fclose(f);
    cfg = config_load(path, stderr, &nerr);
    if (cfg == NULL)
        fprintf(stderr, "config: %d errors in:\n%s", nerr, text);
    return cfg;
}

/* The documented defaults, through the real parser. */
static void default_params(struct alert_lat_params *lp, struct alert_params *loss)
{
    struct config *cfg = load_ini("[daemon]\ndatabase = /nonexistent/db\n");

    memset(lp, 0, sizeof(*lp));
    memset(loss, 0, sizeof(*loss));
    if (cfg == NULL)
        return;
    alert_lat_params_from_config(lp, &cfg->alert);
    alert_params_loss(loss, &cfg->alert);
    config_free(cfg);
}

/* xorshift64*: a fixed seed makes every random series the same each run */
static uint64_t rng_state;

static void rng_seed(uint64_t s)
{
    rng_state = s ? s : 1;
}

static double rng_unit(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

/* A standard normal (Box-Muller). */
static double rng_normal(void)
{
    double u = rng_unit(), v = rng_unit();

    if (u < 1e-300)
        u = 1e-300;
    return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

/* The jitter a steady path shows: one RTT is median x lognormal(sigma),
 * and now and then (outlier share) 3 to 10 times slower: a retransmitted
 * SYN, a busy peer, a scheduling hiccup. */
struct path {
    double median_us;
    double sigma;
    double outliers;
    int echoes; /* ping: an attempt's figure is the median of this many RTTs; 0: one RTT */
};

static double path_rtt(const struct path *p, double median_us)
{
    double x = median_us * exp(p->sigma * rng_normal());

    if (rng_unit() < p->outliers)
        x *= 3.0 + 7.0 * rng_unit();
    return x;
}

/* One attempt's latency_us: a single RTT, or the median of a ping's
 * echoes (as the ping kind reports it). */
static double path_attempt(const struct path *p, double median_us)
{
    double v[16];
    int n = p->echoes > 0 ? p->echoes : 1;

    if (n > 16)
        n = 16;
    for (int i = 0; i < n; i++)
        v[i] = path_rtt(p, median_us);
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return v[n / 2];
}

/* The figure of a window of n attempts at median_us. */
static double path_window(const struct path *p, const struct alert_lat_params *lp, int n,
                          double median_us)
{
    uint32_t v[1024];

    if (n > 1024)
        n = 1024;
    for (int i = 0; i < n; i++)
        v[i] = (uint32_t)path_attempt(p, median_us);
    return alert_lat_quantile(v, (size_t)n, lp->q);
}

struct tally {
    int fired, resolved;
    int first_fire, first_resolve; /* window index; -1: none */
};

static void tally_init(struct tally *t)
{
    memset(t, 0, sizeof(*t));
    t->first_fire = t->first_resolve = -1;
}

static void tally_step(struct tally *t, enum alert_step st, int w)
{
    if (st == ALERT_STEP_FIRED && t->fired++ == 0)
        t->first_fire = w;
    if (st == ALERT_STEP_RESOLVED && t->resolved++ == 0)
        t->first_resolve = w;
}

/* The engine's two ticks over one window of n samples in time order, the
 * way alert.c drives the detector (alert_half_cb, alert_evaluate): half-
 * way (after the first n / 2 samples, attempts being evenly spaced) the
 * last window length, the second half of the window before and the
 * first half of this one; at the end the whole window. The time of the
 * first fire, in windows, goes to *fired_at (w + 0.5 or w + 1; left
 * alone when it is set or nothing fired). */
struct lat_run {
    uint32_t tail[512]; /* the second half of the window before */
    size_t ntail;
    bool half_off; /* whole windows only: the detector before half ticks */
};

static enum alert_step lat_run_window(const struct alert_lat_params *lp, struct alert_series *s,
                                      struct lat_run *run, const uint32_t *v, size_t n, int w,
                                      double *fired_at)
{
    uint32_t buf[1024], all[512];
    size_t half = n / 2, m;
    enum alert_step st;
    bool fired = false;

    if (n > 512)
        n = 512;
    if (!run->half_off && run->ntail + half > 0) {
        memcpy(buf, run->tail, run->ntail * sizeof(*buf));
        memcpy(buf + run->ntail, v, half * sizeof(*buf));
        m = run->ntail + half;
        if (alert_lat_step_half(lp, s, alert_lat_quantile(buf, m, lp->q), (int64_t)m,
                                ALERT_HOLD_NONE) == ALERT_STEP_FIRED) {
            fired = true;
            if (*fired_at < 0)
                *fired_at = w + 0.5;
        }
    }
    memcpy(all, v, n * sizeof(*all));
    st = alert_lat_step(lp, s, alert_lat_quantile(all, n, lp->q), (int64_t)n, ALERT_HOLD_NONE);
    if (st == ALERT_STEP_FIRED && *fired_at < 0)
        *fired_at = w + 1.0;
    run->ntail = n - half;
    memcpy(run->tail, v + half, run->ntail * sizeof(*v));
    return fired ? ALERT_STEP_FIRED : st;
}

/* ---- the latency detector, with the defaults: percentile 50 (median),
 * factor 1.5, margin 5ms, min_samples 5, window 1m, baseline 1h,
 * clear_after 3 ---- */

static void test_lat_defaults_are_documented(void)
{
    struct alert_lat_params lp;
    struct alert_params loss;

    default_params(&lp, &loss);
    UNIT_CHECK(lp.q == 0.5);
    UNIT_CHECK(lp.factor == 1.5);
    UNIT_CHECK(lp.margin_us == 5000.0);
    UNIT_EQ_INT(lp.min_samples, 5);
    UNIT_EQ_INT(lp.clear_after, 3);
    UNIT_EQ_INT(lp.warmup, ALERT_WARMUP_WINDOWS);
    UNIT_CHECK(fabs(lp.alpha - 1.0 / 60) < 1e-12);
    /* the threshold: max(baseline x factor, baseline + margin) */
    UNIT_CHECK(fabs(alert_lat_threshold(&lp, 11000) - 16500) < 1e-6);
    UNIT_CHECK(fabs(alert_lat_threshold(&lp, 40) - 5040) < 1e-6);
    UNIT_CHECK(fabs(alert_lat_threshold(&lp, 2000) - 7000) < 1e-6);
    /* loss: the failure rule on echoes, confirmed over two windows */
    UNIT_CHECK(loss.factor == 3.0);
    UNIT_EQ_INT(loss.min_failures, 5);
    UNIT_CHECK(loss.min_ratio == 0.05);
    UNIT_CHECK(loss.confirm);
    UNIT_EQ_INT(loss.warmup, ALERT_WARMUP_WINDOWS);
    UNIT_CHECK(fabs(alert_detect_threshold(&loss, 0, 30) - 5) < 1e-9);
    UNIT_CHECK(fabs(alert_detect_threshold(&loss, 0, 300) - 15) < 1e-9);
}

static int cmp_u32(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return a < b ? -1 : a > b;
}

/* Nearest rank: the ceil(q x n)-th smallest, for any order, duplicates
 * and sizes, the same as sorting. */
static void test_lat_quantile(void)
{
    static const double qs[] = {0.01, 0.1, 0.5, 0.9, 0.99, 1.0};
    uint32_t six[] = {60, 10, 50, 20, 40, 30};

    UNIT_EQ_INT(alert_lat_quantile(six, 6, 0.5), 30); /* the lower middle */
    UNIT_EQ_INT(alert_lat_quantile(six, 6, 0.9), 60);
    UNIT_EQ_INT(alert_lat_quantile(six, 6, 0.1), 10);
    six[0] = 60;
    UNIT_EQ_INT(alert_lat_quantile(six, 1, 0.5), 60);
    UNIT_EQ_INT(alert_lat_quantile(six, 0, 0.5), 0);
    rng_seed(0x9a7);
    for (int trial = 0; trial < 2000; trial++) {
        uint32_t v[64], sorted[64];
        size_t n = 1 + (size_t)(rng_unit() * 63);
        uint32_t range = trial % 3 == 0 ? 4 : 1000000; /* many duplicates, or few */
        for (size_t i = 0; i < n; i++)
            v[i] = (uint32_t)(rng_unit() * range);
        memcpy(sorted, v, n * sizeof(*v));
        qsort(sorted, n, sizeof(*sorted), cmp_u32);
        for (size_t k = 0; k < ND_ARRAY_LEN(qs); k++) {
            size_t rank = (size_t)ceil(qs[k] * (double)n - 1e-9);
            uint32_t copy[64];
            memcpy(copy, v, n * sizeof(*v));
            UNIT_EQ_INT(alert_lat_quantile(copy, n, qs[k]), sorted[rank > 0 ? rank - 1 : 0]);
        }
    }
}

/* The steady paths of a simulated week (10,080 windows of 1m, each judged
 * half-way as a candidate's confirmation and whole), each with several
 * seeds: a connect target at the default 10s interval (6 single
 * RTTs a window, lognormal sigma 0.2 and 1 % outliers), the same probed
 * every second (60), a ping target at 10s (each attempt the median of 5
 * echoes, sigma 0.3, 2 % outliers), and slow paths (300 ms). None fires. */
static void test_lat_steady_week(void)
{
    static const struct {
        struct path p;
        int n;
    } paths[] = {
        {{11000, 0.2, 0.01, 0}, 6},  {{11000, 0.2, 0.01, 0}, 60}, {{11000, 0.3, 0.02, 5}, 6},
        {{300000, 0.2, 0.01, 0}, 6}, {{2500, 0.2, 0.01, 0}, 6},
    };
    struct alert_lat_params lp;
    struct alert_params loss;
    int fires = 0;

    default_params(&lp, &loss);
    for (size_t i = 0; i < ND_ARRAY_LEN(paths); i++) {
        for (uint64_t seed = 1; seed <= 3; seed++) {
            struct alert_series s;
            struct lat_run run;
            memset(&s, 0, sizeof(s));
            memset(&run, 0, sizeof(run));
            rng_seed(0x57ead + 100 * i + seed);
            for (int w = 0; w < 7 * 1440; w++) {
                uint32_t v[64];
                double at = -1;
                for (int k = 0; k < paths[i].n; k++)
                    v[k] = (uint32_t)path_attempt(&paths[i].p, paths[i].p.median_us);
                /* every window through both ticks: half-way and whole */
                if (lat_run_window(&lp, &s, &run, v, (size_t)paths[i].n, w, &at) ==
                    ALERT_STEP_FIRED) {
                    fprintf(stderr,
                            "path %zu seed %" PRIu64 ": fired at window %.1f (baseline %.0f)\n", i,
                            seed, at, s.baseline);
                    fires++;
                }
            }
            /* the baseline is the path's median, within the noise */
            UNIT_CHECK(s.baseline > 0.8 * paths[i].p.median_us);
            UNIT_CHECK(s.baseline < 1.25 * paths[i].p.median_us);
        }
    }
    UNIT_EQ_INT(fires, 0);
}

/* A real doubling (11 ms to 22 ms), starting with a window, fires within
 * two windows (the first window over the threshold only marks it: the
 * second confirms); starting anywhere inside a window, by the end of its
 * second whole window. It stays one alert while the delay lasts and
 * resolves clear_after windows after it ends. 500 trials of each at 6
 * attempts a window. */
static void test_lat_doubling(void)
{
    struct path p = {11000, 0.2, 0.01, 0};
    struct alert_lat_params lp;
    struct alert_params loss;
    int within2 = 0, whole2 = 0, on_time = 0, trials = 500;

    default_params(&lp, &loss);
    rng_seed(0xd0b1e);
    for (int trial = 0; trial < 2 * trials; trial++) {
        bool aligned = trial < trials;
        double phase = aligned ? 0.0 : rng_unit(); /* where in window 60 it starts */
        struct alert_series s;
        struct tally t;
        memset(&s, 0, sizeof(s));
        tally_init(&t);
        for (int w = 0; w < 130; w++) {
            uint32_t v[6];
            for (int i = 0; i < 6; i++) {
                double at = w + (i + 0.5) / 6.0; /* attempts every 10 s */
                bool slow = at >= 60 + phase && at < 100 + phase;
                v[i] = (uint32_t)path_attempt(&p, slow ? 22000 : 11000);
            }
            tally_step(
                &t, alert_lat_step(&lp, &s, alert_lat_quantile(v, 6, lp.q), 6, ALERT_HOLD_NONE), w);
        }
        UNIT_EQ_INT(t.fired, 1);
        UNIT_EQ_INT(t.resolved, 1);
        UNIT_CHECK(t.first_fire >= 60);
        if (aligned)
            within2 += t.first_fire <= 61;
        else
            whole2 += t.first_fire <= 62;
        /* the delay ends in window 100 (or inside it): clear_after (3)
         * clear windows, a few more when a noisy window is half-way */
        UNIT_CHECK(t.first_resolve >= 102 && t.first_resolve <= 110);
        on_time += t.first_resolve <= 104;
    }
    UNIT_CHECK(within2 >= trials * 99 / 100);
    UNIT_CHECK(whole2 >= trials * 99 / 100);
    UNIT_CHECK(on_time >= 2 * trials * 95 / 100);
    fprintf(stderr,
            "  doubling: %d/%d within two windows, %d/%d by the second whole window, "
            "%d/%d resolved clear_after windows after\n",
            within2, trials, whole2, trials, on_time, 2 * trials);
}

/* When a doubling (11 ms to 22 ms) starting at `start` (in windows) first
 * fires through both ticks (or whole windows alone with half_off), at n
 * samples a window; -1: never. */
static double lat_doubling_at(const struct path *p, const struct alert_lat_params *lp, int n,
                              double start, bool half_off)
{
    struct alert_series s;
    struct lat_run run;
    double at = -1;

    memset(&s, 0, sizeof(s));
    memset(&run, 0, sizeof(run));
    run.half_off = half_off;
    for (int w = 0; w < 70; w++) {
        uint32_t v[64];
        for (int i = 0; i < n; i++) {
            double t = w + (i + 0.5) / n;
            v[i] = (uint32_t)path_attempt(p, t >= start ? 22000 : 11000);
        }
        lat_run_window(lp, &s, &run, v, (size_t)n, w, &at);
    }
    return at;
}

/* A real doubling (11 ms to 22 ms) that starts anywhere in a window fires
 * within two window lengths of its start, plus the time between two
 * attempts (the median moves once more than half of a window is slow).
 * Deterministic first: no jitter, the delay starting at every twentieth
 * of a window, at 6 samples a window (connect, 10 s) and at 60 (every
 * second); whole windows alone (the detector before half-way ticks) fire
 * up to three windows after a start in a window's second half. Then with
 * jitter, 20 seeds at each start: at least 98 %. */
static void test_lat_doubling_anywhere(void)
{
    static const int sizes[] = {6, 60};
    struct path still = {11000, 0, 0, 0}, noisy = {11000, 0.2, 0.01, 0};
    struct alert_lat_params lp;
    struct alert_params loss;
    int late = 0, late_whole = 0, noisy_late = 0, noisy_trials = 0;

    default_params(&lp, &loss);
    for (size_t z = 0; z < ND_ARRAY_LEN(sizes); z++) {
        int n = sizes[z];
        double bound = 2.0 + 1.0 / n;
        for (int k = 0; k < 20; k++) {
            double start = 60 + k / 20.0, at = lat_doubling_at(&still, &lp, n, start, false);
            UNIT_CHECK(at >= start);
            if (at < 0 || at - start > bound) {
                fprintf(stderr, "  %d a window, delay at %.2f: fired at %.1f\n", n, start, at);
                late++;
            }
            at = lat_doubling_at(&still, &lp, n, start, true);
            late_whole += at < 0 || at - start > bound;
            for (int seed = 0; seed < 20; seed++) {
                rng_seed(0x5a1f + 1000 * z + 37 * (uint64_t)k + (uint64_t)seed);
                at = lat_doubling_at(&noisy, &lp, n, start, false);
                noisy_trials++;
                noisy_late += at < start || at - start > bound;
            }
        }
    }
    UNIT_EQ_INT(late, 0);
    /* what the half-way tick is for: whole windows alone miss about half */
    UNIT_CHECK(late_whole >= 10);
    UNIT_CHECK(noisy_late * 50 <= noisy_trials);
    fprintf(stderr,
            "  doubling anywhere: %d of %d starts late (whole windows alone: %d); with jitter "
            "%d of %d\n",
            late, (int)(2 * 20), late_whole, noisy_late, noisy_trials);
}

/* Loopback and LAN figures move by tens of µs: 40 µs to 120 µs, 300 µs
 * to 3 ms, tripling and tenfold, never page (the 5 ms margin); 11 ms to
 * 16 ms (x1.45) does not either, 11 ms to 17 ms does. */
static void test_lat_small_changes(void)
{
    static const struct {
        double from, to;
        bool fires;
    } cases[] = {
        {40, 120, false},      {40, 4000, false},    {300, 3000, false},
        {11000, 16000, false}, {11000, 17000, true}, {2000, 7100, true},
    };
    struct alert_lat_params lp;
    struct alert_params loss;

    default_params(&lp, &loss);
    for (size_t i = 0; i < ND_ARRAY_LEN(cases); i++) {
        struct alert_series s;
        struct tally t;
        memset(&s, 0, sizeof(s));
        tally_init(&t);
        for (int w = 0; w < 30; w++)
            tally_step(&t, alert_lat_step(&lp, &s, cases[i].from, 6, ALERT_HOLD_NONE), w);
        for (int w = 30; w < 60; w++)
            tally_step(&t, alert_lat_step(&lp, &s, cases[i].to, 6, ALERT_HOLD_NONE), w);
        UNIT_EQ_INT(t.fired, cases[i].fires ? 1 : 0);
        if (cases[i].fires)
            UNIT_EQ_INT(t.first_fire, 31);
    }
}

/* A slow drift is the new normal, not an incident: the median doubles
 * over a day, or over 6 hours, with the same jitter: nothing fires (the
 * baseline follows with about an hour's lag). */
static void test_lat_slow_drift(void)
{
    static const int hours[] = {24, 6};
    struct path p = {11000, 0.2, 0.01, 0};
    struct alert_lat_params lp;
    struct alert_params loss;

    default_params(&lp, &loss);
    for (size_t h = 0; h < ND_ARRAY_LEN(hours); h++) {
        struct alert_series s;
        struct tally t;
        int span = hours[h] * 60;
        memset(&s, 0, sizeof(s));
        tally_init(&t);
        rng_seed(0xd81f7 + h);
        for (int w = 0; w < span + 600; w++) {
            double m = 11000.0 * pow(2.0, (w < 120          ? 0
                                           : w - 120 > span ? span
                                                            : w - 120) /
                                              (double)span);
            tally_step(&t, alert_lat_step(&lp, &s, path_window(&p, &lp, 6, m), 6, ALERT_HOLD_NONE),
                       w);
        }
        UNIT_EQ_INT(t.fired, 0);
        UNIT_CHECK(s.baseline > 18000); /* it followed */
    }
}

/* Hysteresis, deterministic (baseline 10 ms: threshold 15 ms, half-way
 * 12.5 ms): one window over the threshold alone fires nothing and is not
 * learnt; two in a row fire; windows between half-way and the threshold
 * keep it firing for a day; clear_after clear windows resolve it, and a
 * window at half-way or more starts that count again. Too few samples
 * and the warm-up are no evidence either way. */
static void test_lat_hysteresis(void)
{
    struct alert_lat_params lp;
    struct alert_params loss;
    struct alert_series s;
    double b;

    default_params(&lp, &loss);
    memset(&s, 0, sizeof(s));
    /* warm-up: even 10 x the normal fires nothing and is learnt evenly */
    for (int w = 0; w < ALERT_WARMUP_WINDOWS; w++)
        UNIT_EQ_INT(alert_lat_step(&lp, &s, 10000, 6, ALERT_HOLD_NONE), ALERT_STEP_QUIET);
    UNIT_EQ_INT(alert_lat_level(&lp, &s, 100000, 6), ALERT_LEVEL_NONE);
    for (int w = 0; w < 60; w++)
        UNIT_EQ_INT(alert_lat_step(&lp, &s, 10000, 6, ALERT_HOLD_NONE), ALERT_STEP_QUIET);
    UNIT_CHECK(fabs(s.baseline - 10000) < 1);
    UNIT_EQ_INT(alert_lat_level(&lp, &s, 15000, 6), ALERT_LEVEL_FIRE);
    UNIT_EQ_INT(alert_lat_level(&lp, &s, 12500, 6), ALERT_LEVEL_WARM);
    UNIT_EQ_INT(alert_lat_level(&lp, &s, 12400, 6), ALERT_LEVEL_CLEAR);
    UNIT_EQ_INT(alert_lat_level(&lp, &s, 90000, 4), ALERT_LEVEL_NONE); /* 4 < min_samples */
    /* a lone slow window: nothing, and it is not learnt */
    UNIT_EQ_INT(alert_lat_step(&lp, &s, 80000, 6, ALERT_HOLD_NONE), ALERT_STEP_QUIET);
    UNIT_EQ_INT(alert_lat_step(&lp, &s, 10000, 6, ALERT_HOLD_NONE), ALERT_STEP_QUIET);
    UNIT_EQ_INT(alert_lat_step(&lp, &s, 10000, 6, ALERT_HOLD_NONE), ALERT_STEP_QUIET);
    UNIT_CHECK(fabs(s.baseline - 10000) < 1);
    /* too few samples between two slow windows: still two in a row */
    UNIT_EQ_INT(alert_lat_step(&lp, &s, 30000, 6, ALERT_HOLD_NONE), ALERT_STEP_QUIET);
    UNIT_EQ_INT(alert_lat_step(&lp, &s, 90000, 2, ALERT_HOLD_NONE), ALERT_STEP_QUIET);
    UNIT_EQ_INT(alert_lat_step(&lp, &s, 20000, 6, ALERT_HOLD_NONE), ALERT_STEP_FIRED);
    UNIT_CHECK(s.firing);
    UNIT_EQ_INT(s.fired_count, 30000); /* the higher of the two */
    UNIT_EQ_INT(s.fire_windows, 2);
    b = s.fire_baseline;
    UNIT_CHECK(fabs(b - 10000) < 1);
    /* a day between half-way and the threshold, and over it: one alert */
    for (int w = 0; w < 1440; w++)
        UNIT_EQ_INT(alert_lat_step(&lp, &s, w % 2 ? 12600 : 16000, 6, ALERT_HOLD_NONE),
                    ALERT_STEP_FIRING);
    UNIT_CHECK(s.fire_baseline == b); /* frozen */
    UNIT_EQ_INT(s.peak, 30000);
    /* clear, clear, half-way (the count starts again), then 3 clear */
    UNIT_EQ_INT(alert_lat_step(&lp, &s, 11000, 6, ALERT_HOLD_NONE), ALERT_STEP_FIRING);
    UNIT_EQ_INT(alert_lat_step(&lp, &s, 11000, 6, ALERT_HOLD_NONE), ALERT_STEP_FIRING);
    UNIT_EQ_INT(alert_lat_step(&lp, &s, 13000, 6, ALERT_HOLD_NONE), ALERT_STEP_FIRING);
    UNIT_EQ_INT(alert_lat_step(&lp, &s, 11000, 6, ALERT_HOLD_NONE), ALERT_STEP_FIRING);
    UNIT_EQ_INT(alert_lat_step(&lp, &s, 90000, 1, ALERT_HOLD_NONE), ALERT_STEP_FIRING);
    UNIT_EQ_INT(alert_lat_step(&lp, &s, 11000, 6, ALERT_HOLD_NONE), ALERT_STEP_FIRING);
    UNIT_EQ_INT(alert_lat_step(&lp, &s, 11000, 6, ALERT_HOLD_NONE), ALERT_STEP_RESOLVED);
    UNIT_CHECK(!s.firing);
    /* the alert taught the baseline nothing */
    UNIT_CHECK(fabs(s.baseline - 10000) < 1);
    /* held back by a host-wide alert: no fire, nothing learnt */
    memset(&s, 0, sizeof(s));
    for (int w = 0; w < 20; w++)
        alert_lat_step(&lp, &s, 10000, 6, ALERT_HOLD_NONE);
    UNIT_EQ_INT(alert_lat_step(&lp, &s, 30000, 6, ALERT_HOLD_ALL), ALERT_STEP_QUIET);
    UNIT_EQ_INT(alert_lat_step(&lp, &s, 30000, 6, ALERT_HOLD_ALL), ALERT_STEP_HELD);
    UNIT_EQ_INT(alert_lat_step(&lp, &s, 30000, 6, ALERT_HOLD_ALL), ALERT_STEP_HELD);
    UNIT_EQ_INT(alert_lat_step(&lp, &s, 30000, 6, ALERT_HOLD_NONE), ALERT_STEP_FIRED);
}

/* ---- the loss detector: threshold max(5 lost, 5 % of the echoes sent,
 * 3 x the baseline), confirmed over two windows ---- */

/* A steady week of random (independent) loss at 0, 0.1, 0.5, 1 and 2 %,
 * at 30 echoes a window (the defaults: 5 echoes every 10 s) and at 300
 * (every second): never a fire. */
static void test_loss_steady_week(void)
{
    static const double rates[] = {0, 0.001, 0.005, 0.01, 0.02};
    static const int sent[] = {30, 300};
    struct alert_lat_params lp;
    struct alert_params p;
    int fires = 0;

    default_params(&lp, &p);
    for (size_t r = 0; r < ND_ARRAY_LEN(rates); r++) {
        for (size_t n = 0; n < ND_ARRAY_LEN(sent); n++) {
            struct alert_series s;
            memset(&s, 0, sizeof(s));
            rng_seed(0x1055 + 10 * r + n);
            for (int w = 0; w < 7 * 1440; w++) {
                int64_t lost = 0;
                for (int e = 0; e < sent[n]; e++)
                    lost += rng_unit() < rates[r];
                if (alert_detect_step(&p, &s, lost, sent[n], ALERT_HOLD_NONE) == ALERT_STEP_FIRED) {
                    fprintf(stderr, "loss %.3f of %d: fired at window %d (%" PRId64 " lost)\n",
                            rates[r], sent[n], w, lost);
                    fires++;
                }
            }
            UNIT_CHECK(s.baseline < rates[r] * sent[n] * 2 + 0.05);
        }
    }
    UNIT_EQ_INT(fires, 0);
}

/* 0 % to 25 % (every 4th echo dropped: 7 or 8 of 30) fires in the second
 * window of the step and resolves once the loss ends (clear_after
 * windows); random 25 % fires within two windows most of the time and
 * within three nearly always. */
static void test_loss_step(void)
{
    struct alert_lat_params lp;
    struct alert_params p;
    struct alert_series s;
    struct tally t;
    int within2 = 0, within3 = 0, trials = 500;
    int64_t echo = 0;

    default_params(&lp, &p);
    memset(&s, 0, sizeof(s));
    tally_init(&t);
    for (int w = 0; w < 120; w++) {
        int64_t lost = 0;
        for (int e = 0; e < 30; e++, echo++)
            lost += w >= 60 && w < 90 && echo % 4 == 0;
        tally_step(&t, alert_detect_step(&p, &s, lost, 30, ALERT_HOLD_NONE), w);
    }
    UNIT_EQ_INT(t.fired, 1);
    UNIT_EQ_INT(t.first_fire, 61);
    UNIT_EQ_INT(t.resolved, 1);
    UNIT_EQ_INT(t.first_resolve, 92);
    UNIT_CHECK(s.fired_count == 7 || s.fired_count == 8);
    UNIT_EQ_INT(s.fired_attempts, 30);
    UNIT_CHECK(s.baseline < 0.01);

    rng_seed(0x25);
    for (int trial = 0; trial < trials; trial++) {
        memset(&s, 0, sizeof(s));
        tally_init(&t);
        for (int w = 0; w < 80; w++) {
            int64_t lost = 0;
            for (int e = 0; e < 30; e++)
                lost += rng_unit() < (w >= 60 ? 0.25 : 0.002);
            tally_step(&t, alert_detect_step(&p, &s, lost, 30, ALERT_HOLD_NONE), w);
        }
        UNIT_EQ_INT(t.fired, 1);
        UNIT_CHECK(t.first_fire >= 61);
        within2 += t.first_fire <= 61;
        within3 += t.first_fire <= 62;
    }
    fprintf(stderr,
            "  random 25%% loss at 30 echoes: %d/%d within two windows, %d/%d within three\n",
            within2, trials, within3, trials);
    UNIT_CHECK(within2 >= trials * 80 / 100);
    UNIT_CHECK(within3 >= trials * 95 / 100);
}

/* The loss baseline warms up evenly: a target that has lost 30 % since
 * the daemon started learns that as its normal (it is, for it), and a
 * step from there must pass three times it. */
static void test_loss_warmup(void)
{
    struct alert_lat_params lp;
    struct alert_params p;
    struct alert_series s;
    struct tally t;

    default_params(&lp, &p);
    memset(&s, 0, sizeof(s));
    tally_init(&t);
    for (int w = 0; w < 120; w++)
        tally_step(&t, alert_detect_step(&p, &s, 9, 30, ALERT_HOLD_NONE), w);
    UNIT_EQ_INT(t.fired, 0);
    UNIT_CHECK(fabs(s.baseline - 9) < 0.01);
    for (int w = 120; w < 130; w++)
        tally_step(&t, alert_detect_step(&p, &s, 28, 30, ALERT_HOLD_NONE), w);
    UNIT_EQ_INT(t.fired, 1);
    UNIT_EQ_INT(t.first_fire, 121);
}

/* ---- the engine on a real loop and database ---- */

static void loop_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

static void run_ms(struct event_base *base, int64_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    struct event *ev = evtimer_new(base, loop_cb, NULL);

    evtimer_add(ev, &tv);
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
    event_free(ev);
}

#define WINDOW_MS 400
static int64_t engine_t0_us;

/* Runs the loop past the end of the current window: one judgement. */
static void end_window(struct event_base *base)
{
    int64_t w_us = WINDOW_MS * 1000LL, now = util_mono_us();
    int64_t end = engine_t0_us + ((now - engine_t0_us) / w_us + 1) * w_us + 100000;

    run_ms(base, (end - now) / 1000);
}

/* n successful attempts of t at latency_us (a ping's, with its echoes,
 * when sent > 0). */
static void feed_ok(struct alert_engine *a, const struct target *t, int n, int64_t latency_us,
                    int sent, int recv)
{
    struct result r;

    memset(&r, 0, sizeof(r));
    r.target = t;
    r.ts_ms = util_now_ms();
    r.ok = true;
    r.latency_us = latency_us;
    r.echo_sent = (uint16_t)sent;
    r.echo_recv = (uint16_t)recv;
    r.rtt_min_us = r.rtt_max_us = sent > 0 ? latency_us : 0;
    for (int i = 0; i < n; i++)
        alert_observe(a, &r);
}

/* n ping attempts of t without a reply: WSAETIMEDOUT, every echo lost. */
static void feed_silent(struct alert_engine *a, const struct target *t, int n, int sent)
{
    struct result r;

    memset(&r, 0, sizeof(r));
    r.target = t;
    r.ts_ms = util_now_ms();
    r.phase = PHASE_RECV;
    r.wsa_code = WSAETIMEDOUT;
    r.raw_value = -1;
    util_strlcpy(r.raw, "TIMEOUT", sizeof(r.raw));
    util_strlcpy(r.remote, "127.0.0.1", sizeof(r.remote));
    r.latency_us = 1000000;
    r.echo_sent = (uint16_t)sent;
    for (int i = 0; i < n; i++)
        alert_observe(a, &r);
}

static int64_t q_int(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *s;
    int64_t n = -1;

    usleep(50000); /* the writer commits alert rows at once; give it a moment */
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK) {
        if (sqlite3_step(s) == SQLITE_ROW)
            n = sqlite3_column_int64(s, 0);
        sqlite3_finalize(s);
    } else {
        fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db));
    }
    sqlite3_close(db);
    return n;
}

static void q_text(const char *path, const char *sql, char *buf, size_t len)
{
    sqlite3 *db;
    sqlite3_stmt *s;

    buf[0] = '\0';
    usleep(50000);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        return;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK) {
        if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0) != NULL)
            util_strlcpy(buf, (const char *)sqlite3_column_text(s, 0), len);
        sqlite3_finalize(s);
    }
    sqlite3_close(db);
}

struct rig {
    char db[128];
    struct event_base *base;
    struct config *cfg;
    struct store *st;
    struct alert_engine *a;
};

static bool rig_open(struct rig *r, const char *name, const char *text_fmt)
{
    char text[2048], err[512];

    memset(r, 0, sizeof(*r));
    snprintf(r->db, sizeof(r->db), "%s/%s.db", tmpdir, name);
    snprintf(text, sizeof(text), text_fmt, r->db);
    r->base = event_base_new();
    r->cfg = load_ini(text);
    if (r->base == NULL || r->cfg == NULL)
        return false;
    r->st = store_open(r->db, r->cfg, err, sizeof(err));
    if (r->st == NULL || store_sync_targets(r->st, r->cfg) != 0)
        return false;
    engine_t0_us = util_mono_us();
    r->a = alert_new(r->base, r->st, r->cfg, err, sizeof(err));
    if (r->a == NULL)
        fprintf(stderr, "alert_new: %s\n", err);
    return r->a != NULL;
}

static void rig_close(struct rig *r)
{
    alert_free(r->a);
    r->a = NULL;
    store_close(r->st);
    r->st = NULL;
}

static void rig_free(struct rig *r)
{
    rig_close(r);
    config_free(r->cfg);
    if (r->base)
        event_base_free(r->base);
}

/* Reopens the database and the engine on the same config: a restart. */
static bool rig_restart(struct rig *r)
{
    char err[512];

    rig_close(r);
    r->st = store_open(r->db, r->cfg, err, sizeof(err));
    if (r->st == NULL || store_sync_targets(r->st, r->cfg) != 0)
        return false;
    engine_t0_us = util_mono_us();
    r->a = alert_new(r->base, r->st, r->cfg, err, sizeof(err));
    return r->a != NULL;
}

static const char rig_ini[] =
    "[daemon]\ndatabase = %s\n"
    "[alert]\nwindow = 400ms\nbaseline = 10s\nclear_after = 2\n"
    "[target web]\nkind = connect\nhost = 127.0.0.1\nport = 9\n"
    "[target quiet]\nkind = connect\nhost = 127.0.0.1\nport = 10\nalert_latency = off\n";

/* A delay step through the engine: warm-up, then 2 ms to 40 ms fires a
 * latency alert at the second slow window, stored as metric 'latency'
 * with wsa_code 0, the window's median as value and the baseline in µs,
 * and words with the numbers; a target with alert_latency = off says
 * nothing. A restart continues it (same row); the delay's end resolves
 * it. */
static char firing_seen[256];

static void firing_cb(void *arg, const char *target, const char *wsa_name)
{
    size_t n = strlen(firing_seen);

    (void)arg;
    snprintf(firing_seen + n, sizeof(firing_seen) - n, "%s/%s;", target, wsa_name);
}

static void test_engine_latency(void)
{
    struct rig r;
    char detail[400];

    if (!rig_open(&r, "lat", rig_ini)) {
        UNIT_CHECK(!"rig");
        rig_free(&r);
        return;
    }
    for (int w = 0; w < ALERT_WARMUP_WINDOWS + 3; w++) {
        feed_ok(r.a, &r.cfg->targets[0], 6, 2000 + 10 * w, 0, 0);
        feed_ok(r.a, &r.cfg->targets[1], 6, 2000, 0, 0);
        end_window(r.base);
    }
    UNIT_EQ_INT(alert_active(r.a), 0);
    feed_ok(r.a, &r.cfg->targets[0], 6, 40000, 0, 0);
    feed_ok(r.a, &r.cfg->targets[1], 6, 40000, 0, 0);
    end_window(r.base);
    UNIT_EQ_INT(alert_active(r.a), 0); /* one slow window is not enough */
    feed_ok(r.a, &r.cfg->targets[0], 6, 40000, 0, 0);
    feed_ok(r.a, &r.cfg->targets[1], 6, 40000, 0, 0);
    end_window(r.base);
    UNIT_EQ_INT(alert_active(r.a), 1);
    UNIT_EQ_INT(q_int(r.db, "SELECT count(*) FROM alerts WHERE metric = 'latency' AND "
                            "wsa_code = 0 AND value = 40000 AND resolved IS NULL AND "
                            "baseline BETWEEN 2000 AND 2100 AND count = 6 AND attempts = 6 AND "
                            "target_id = (SELECT id FROM targets WHERE name = 'web')"),
                1);
    UNIT_EQ_INT(q_int(r.db, "SELECT count(*) FROM alerts"), 1);
    q_text(r.db, "SELECT detail FROM alerts", detail, sizeof(detail));
    /* the baseline learnt 2000 to 2070 µs: "2.0x ms" */
    UNIT_CHECK(
        strncmp(detail, "median 40 ms, baseline 2.0", strlen("median 40 ms, baseline 2.0")) == 0);
    UNIT_CHECK(strstr(detail, " ms, 2 windows (threshold 7") != NULL);
    UNIT_CHECK(strstr(detail, " ms; 6 of 6 attempts answered in 400ms)") != NULL);
    /* alerts_v shows it too */
    UNIT_EQ_INT(q_int(r.db, "SELECT count(*) FROM alerts_v WHERE metric = 'latency' AND "
                            "target = 'web' AND value = 40000"),
                1);
    /* /metrics sees it firing as wsa_name "latency" (not "WSA?") */
    firing_seen[0] = '\0';
    alert_foreach_firing(r.a, firing_cb, NULL);
    UNIT_EQ_STR(firing_seen, "web/latency;");

    /* restart: the same alert goes on, warm */
    UNIT_CHECK(rig_restart(&r));
    if (r.a == NULL)
        goto out;
    UNIT_EQ_INT(alert_active(r.a), 1);
    feed_ok(r.a, &r.cfg->targets[0], 6, 60000, 0, 0);
    end_window(r.base);
    UNIT_EQ_INT(alert_active(r.a), 1);
    UNIT_EQ_INT(q_int(r.db, "SELECT count(*) FROM alerts"), 1);
    UNIT_EQ_INT(q_int(r.db, "SELECT peak FROM alerts"), 60000);
    q_text(r.db, "SELECT detail FROM alerts", detail, sizeof(detail));
    UNIT_CHECK(strstr(detail, "median 40 ms (peak 60 ms), baseline 2.0") == detail);
    UNIT_CHECK(strstr(detail, " ms, 2 windows (threshold") != NULL);
    /* back to 2 ms: two clear windows resolve it */
    feed_ok(r.a, &r.cfg->targets[0], 6, 2000, 0, 0);
    end_window(r.base);
    UNIT_EQ_INT(alert_active(r.a), 1);
    feed_ok(r.a, &r.cfg->targets[0], 6, 2000, 0, 0);
    end_window(r.base);
    UNIT_EQ_INT(alert_active(r.a), 0);
    UNIT_EQ_INT(q_int(r.db, "SELECT count(*) FROM alerts WHERE resolved IS NOT NULL AND "
                            "metric = 'latency' AND peak = 60000"),
                1);
out:
    rig_free(&r);
}

static const char ping_ini[] =
    "[daemon]\ndatabase = %s\n"
    "[alert]\nwindow = 400ms\nbaseline = 10s\nclear_after = 2\nhost_min_targets = 0\n"
    "[target p]\nkind = connect\nhost = 127.0.0.1\nport = 9\n"
    "[target nolat]\nkind = connect\nhost = 127.0.0.1\nport = 10\nalert_loss = off\n";

/* Ping results (echoes sent and answered): 0 loss, then every 4th echo
 * lost (6 attempts of 4 echoes, 1 lost each: 25 %) fires a loss alert at
 * the second lossy window, stored as metric 'loss' with value 0.25 and
 * the words; it resolves when loss ends. A target answering nothing at
 * all is a timeout alert, and its 100 % loss raises no second alert. A
 * reload turning alert_loss off resolves a firing loss alert. */
static void test_engine_loss(void)
{
    struct rig r;
    char detail[400];
    struct config *cfg2;

    if (!rig_open(&r, "loss", ping_ini)) {
        UNIT_CHECK(!"rig");
        rig_free(&r);
        return;
    }
    for (int w = 0; w < ALERT_WARMUP_WINDOWS + 2; w++) {
        feed_ok(r.a, &r.cfg->targets[0], 6, 500, 4, 4);
        feed_ok(r.a, &r.cfg->targets[1], 6, 500, 4, 4);
        end_window(r.base);
    }
    for (int w = 0; w < 2; w++) {
        feed_ok(r.a, &r.cfg->targets[0], 6, 500, 4, 3);
        feed_ok(r.a, &r.cfg->targets[1], 6, 500, 4, 3);
        end_window(r.base);
        UNIT_EQ_INT(alert_active(r.a), w);
    }
    UNIT_EQ_INT(q_int(r.db, "SELECT count(*) FROM alerts WHERE metric = 'loss' AND wsa_code = 0 "
                            "AND value = 0.25 AND count = 6 AND attempts = 24 AND baseline = 0 "
                            "AND resolved IS NULL"),
                1);
    UNIT_EQ_INT(q_int(r.db, "SELECT count(*) FROM alerts"), 1);
    q_text(r.db, "SELECT detail FROM alerts", detail, sizeof(detail));
    UNIT_CHECK(strstr(detail, "loss 25% (6 of 24 echoes), baseline 0%, 2 windows (threshold 5.0 "
                              "lost in 400ms)") == detail);
    for (int w = 0; w < 2; w++) {
        feed_ok(r.a, &r.cfg->targets[0], 6, 500, 4, 4);
        end_window(r.base);
    }
    UNIT_EQ_INT(alert_active(r.a), 0);
    UNIT_EQ_INT(q_int(r.db, "SELECT count(*) FROM alerts WHERE resolved IS NOT NULL"), 1);

    /* silence: the timeout alert, not also a loss one */
    for (int w = 0; w < 3; w++) {
        feed_silent(r.a, &r.cfg->targets[0], 6, 4);
        end_window(r.base);
    }
    UNIT_EQ_INT(alert_active(r.a), 1);
    UNIT_EQ_INT(q_int(r.db, "SELECT count(*) FROM alerts WHERE resolved IS NULL AND "
                            "metric = 'code' AND wsa_code = 10060"),
                1);
    UNIT_EQ_INT(q_int(r.db, "SELECT count(*) FROM alerts WHERE metric = 'loss'"), 1);
    for (int w = 0; w < 3; w++) {
        feed_ok(r.a, &r.cfg->targets[0], 6, 500, 4, 4);
        end_window(r.base);
    }
    UNIT_EQ_INT(alert_active(r.a), 0);

    /* loss again, then a reload that turns it off for the target */
    for (int w = 0; w < 2; w++) {
        feed_ok(r.a, &r.cfg->targets[0], 6, 500, 4, 2);
        end_window(r.base);
    }
    UNIT_EQ_INT(alert_active(r.a), 1);
    {
        char text[1024];
        snprintf(text, sizeof(text),
                 "[daemon]\ndatabase = %s\n[alert]\nwindow = 400ms\nbaseline = 10s\n"
                 "clear_after = 2\nhost_min_targets = 0\n"
                 "[target p]\nkind = connect\nhost = 127.0.0.1\nport = 9\nalert_loss = off\n",
                 r.db);
        cfg2 = load_ini(text);
    }
    UNIT_CHECK(cfg2 != NULL);
    if (cfg2 != NULL) {
        store_sync_targets(r.st, cfg2);
        alert_set_config(r.a, cfg2);
        config_free(r.cfg);
        r.cfg = cfg2;
        UNIT_EQ_INT(alert_active(r.a), 0);
        UNIT_EQ_INT(q_int(r.db, "SELECT count(*) FROM alerts WHERE resolved IS NULL"), 0);
        feed_ok(r.a, &r.cfg->targets[0], 6, 500, 4, 0);
        end_window(r.base);
        feed_ok(r.a, &r.cfg->targets[0], 6, 500, 4, 0);
        end_window(r.base);
        UNIT_EQ_INT(alert_active(r.a), 0);
    }
    rig_free(&r);
}

/* Many targets slow down together across distinct hosts: one host-wide
 * latency alert (it names the local network) instead of one per target,
 * stored with no target, metric 'latency' and no value. */
static void test_engine_host_latency(void)
{
    static const char ini[] = "[daemon]\ndatabase = %s\n"
                              "[alert]\nwindow = 400ms\nbaseline = 10s\nclear_after = 2\n"
                              "[target a]\nkind = connect\nhost = 127.0.0.1\nport = 9\n"
                              "[target b]\nkind = connect\nhost = 127.0.0.2\nport = 9\n"
                              "[target c]\nkind = connect\nhost = 127.0.0.3\nport = 9\n";
    struct rig r;
    char detail[400];

    if (!rig_open(&r, "hostlat", ini)) {
        UNIT_CHECK(!"rig");
        rig_free(&r);
        return;
    }
    for (int w = 0; w < ALERT_WARMUP_WINDOWS + 2; w++) {
        for (int t = 0; t < 3; t++)
            feed_ok(r.a, &r.cfg->targets[t], 6, 3000, 0, 0);
        end_window(r.base);
    }
    for (int w = 0; w < 3; w++) {
        for (int t = 0; t < 3; t++)
            feed_ok(r.a, &r.cfg->targets[t], 6, 30000, 0, 0);
        end_window(r.base);
    }
    UNIT_EQ_INT(alert_active(r.a), 1);
    UNIT_EQ_INT(q_int(r.db, "SELECT count(*) FROM alerts WHERE target_id IS NULL AND "
                            "metric = 'latency' AND value IS NULL AND wsa_code = 0"),
                1);
    UNIT_EQ_INT(q_int(r.db, "SELECT count(*) FROM alerts"), 1);
    q_text(r.db, "SELECT detail FROM alerts", detail, sizeof(detail));
    UNIT_CHECK(strstr(detail, "latency up on 3 of 3 targets across 3 hosts") == detail);
    UNIT_CHECK(strstr(detail, "the local network, not the targets") != NULL);
    rig_free(&r);
}

/* netdiagd opens a version 4 database (tests/unit/schema_v4.sql) with a
 * firing code alert: the migration keeps the row as metric 'code' with
 * no value, the schema of alerts is a new database's, and the engine
 * continues the alert. */
static void test_migrate_alerts_v4(void)
{
    char path[128], fresh[128], err[512], a[4096], b[4096];
    struct config *cfg = NULL;
    struct store *st;
    sqlite3 *db = NULL;
    char *sql = NULL;
    long len;
    FILE *f = fopen("tests/unit/schema_v4.sql", "r");

    snprintf(path, sizeof(path), "%s/v4.db", tmpdir);
    snprintf(fresh, sizeof(fresh), "%s/v6.db", tmpdir);
    UNIT_CHECK(f != NULL);
    if (f == NULL)
        return;
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    rewind(f);
    sql = calloc(1, (size_t)len + 1);
    if (sql == NULL || fread(sql, 1, (size_t)len, f) != (size_t)len) {
        UNIT_CHECK(!"read schema_v4.sql");
        goto out;
    }
    UNIT_CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    UNIT_CHECK(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK);
    UNIT_CHECK(sqlite3_exec(db,
                            "PRAGMA application_id = 1313097031; PRAGMA user_version = 4;"
                            "INSERT INTO targets (id, name, kind, created, updated) VALUES "
                            "(1, 'web', 'connect', 1, 1);"
                            "INSERT INTO alerts (id, target_id, wsa_code, started, count, peak, "
                            "baseline, attempts, detail) VALUES (7, 1, 10061, 1000, 9, 9, 0.5, 9, "
                            "'9 of 9 attempts failed');",
                            NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    db = NULL;
    {
        char text[512];
        snprintf(text, sizeof(text),
                 "[daemon]\ndatabase = %s\n[target web]\nkind = connect\nhost = 127.0.0.1\n"
                 "port = 9\n",
                 path);
        cfg = load_ini(text);
    }
    UNIT_CHECK(cfg != NULL);
    if (cfg == NULL)
        goto out;
    st = store_open(path, cfg, err, sizeof(err));
    if (st == NULL)
        fprintf(stderr, "store_open: %s\n", err);
    UNIT_CHECK(st != NULL);
    if (st != NULL)
        store_close(st);
    UNIT_EQ_INT(q_int(path, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM alerts WHERE id = 7 AND metric = 'code' AND "
                            "value IS NULL AND wsa_code = 10061 AND count = 9 AND "
                            "detail = '9 of 9 attempts failed' AND resolved IS NULL"),
                1);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM alerts_v WHERE id = 7 AND metric = 'code' AND "
                            "target = 'web'"),
                1);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM sqlite_schema WHERE name = 'alerts_v5'"), 0);
    st = store_open(fresh, cfg, err, sizeof(err));
    UNIT_CHECK(st != NULL);
    if (st != NULL)
        store_close(st);
    for (int i = 0; i < 4; i++) {
        static const char *const names[] = {"alerts", "alerts_v", "alerts_started",
                                            "alerts_target"};
        char q[160];
        snprintf(q, sizeof(q), "SELECT sql FROM sqlite_schema WHERE name = '%s'", names[i]);
        q_text(path, q, a, sizeof(a));
        q_text(fresh, q, b, sizeof(b));
        UNIT_CHECK(a[0] != '\0');
        UNIT_EQ_STR(a, b);
    }
out:
    if (db != NULL)
        sqlite3_close(db);
    free(sql);
    if (f != NULL)
        fclose(f);
    config_free(cfg);
}

/* [alert] latency_* and loss_* and the target switches: values, ranges
 * and errors with file:line. */
static void test_config_keys(void)
{
    struct config *cfg =
        load_ini("[daemon]\ndatabase = /nonexistent/db\n[alert]\nlatency = off\n"
                 "latency_percentile = 90\nlatency_factor = 2\nlatency_margin = 20ms\n"
                 "latency_min_samples = 10\nloss_threshold = 0.1\nloss_factor = 4\n"
                 "loss_min_lost = 3\n"
                 "[defaults]\nalert_loss = off\n"
                 "[target a]\nkind = connect\nhost = 127.0.0.1\nport = 9\n"
                 "[target b]\nkind = connect\nhost = 127.0.0.1\nport = 9\nalert_latency = on\n"
                 "alert_loss = on\n");
    struct alert_lat_params lp;
    struct alert_params p;

    UNIT_CHECK(cfg != NULL);
    if (cfg != NULL) {
        alert_lat_params_from_config(&lp, &cfg->alert);
        alert_params_loss(&p, &cfg->alert);
        UNIT_CHECK(fabs(lp.q - 0.9) < 1e-12);
        UNIT_CHECK(lp.factor == 2.0 && lp.margin_us == 20000.0);
        UNIT_EQ_INT(lp.min_samples, 10);
        UNIT_CHECK(p.min_ratio == 0.1 && p.factor == 4.0);
        UNIT_EQ_INT(p.min_failures, 3);
        UNIT_EQ_INT(cfg->targets[0].alert_latency, 0); /* [alert] latency = off */
        UNIT_EQ_INT(cfg->targets[0].alert_loss, 0);    /* [defaults] */
        UNIT_EQ_INT(cfg->targets[1].alert_latency, 1);
        UNIT_EQ_INT(cfg->targets[1].alert_loss, 1);
        config_free(cfg);
    }
    cfg = load_ini("[daemon]\ndatabase = /nonexistent/db\n[target a]\nkind = connect\n"
                   "host = 127.0.0.1\nport = 9\n");
    UNIT_CHECK(cfg != NULL);
    if (cfg != NULL) {
        UNIT_EQ_INT(cfg->targets[0].alert_latency, 1); /* on by default */
        UNIT_EQ_INT(cfg->targets[0].alert_loss, 1);
        config_free(cfg);
    }
    {
        char path[128], line[512];
        FILE *errs = tmpfile(), *f;
        int nerr = 0, n = 0;
        snprintf(path, sizeof(path), "%s/bad.ini", tmpdir);
        f = fopen(path, "w");
        UNIT_CHECK(f != NULL && errs != NULL);
        if (f == NULL || errs == NULL) {
            if (f)
                fclose(f);
            if (errs)
                fclose(errs);
            return;
        }
        fputs("[daemon]\ndatabase = /nonexistent/db\n[alert]\nlatency = maybe\n"
              "latency_percentile = 0\nlatency_factor = 0.5\nlatency_margin = 5\n"
              "loss_threshold = 1.5\nloss_min_lost = 0\n"
              "[target a]\nkind = connect\nhost = 127.0.0.1\nport = 9\nalert_loss = yes\n",
              f);
        fclose(f);
        cfg = config_load(path, errs, &nerr);
        UNIT_CHECK(cfg == NULL);
        UNIT_EQ_INT(nerr, 7);
        rewind(errs);
        while (fgets(line, sizeof(line), errs) != NULL) {
            int ln = 0;
            char *colon = strstr(line, "bad.ini:");
            UNIT_CHECK(colon != NULL);
            if (colon != NULL)
                ln = (int)strtol(colon + strlen("bad.ini:"), NULL, 10);
            UNIT_CHECK(ln >= 4 && ln <= 14);
            n++;
        }
        UNIT_EQ_INT(n, 7);
        fclose(errs);
    }
}

int main(int argc, char **argv)
{
    char dir[] = "/tmp/netdiag-test-alert-metric-XXXXXX";

    unit_init(argc, argv);
    log_set_fd(unit_log_fd());
    log_init(LOG_LEVEL_ERROR); /* fires are logged at warn */
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    util_strlcpy(tmpdir, dir, sizeof(tmpdir));
    UNIT_RUN(test_lat_defaults_are_documented);
    UNIT_RUN(test_lat_quantile);
    UNIT_RUN(test_lat_steady_week);
    UNIT_RUN(test_lat_doubling);
    UNIT_RUN(test_lat_doubling_anywhere);
    UNIT_RUN(test_lat_small_changes);
    UNIT_RUN(test_lat_slow_drift);
    UNIT_RUN(test_lat_hysteresis);
    UNIT_RUN(test_loss_steady_week);
    UNIT_RUN(test_loss_step);
    UNIT_RUN(test_loss_warmup);
    UNIT_RUN(test_config_keys);
    UNIT_RUN(test_migrate_alerts_v4);
    UNIT_RUN(test_engine_latency);
    UNIT_RUN(test_engine_loss);
    UNIT_RUN(test_engine_host_latency);
    {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", tmpdir);
    }
    return UNIT_END("test_alert_metric");
}
