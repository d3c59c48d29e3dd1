/* SPDX-License-Identifier: ISC */
/* Unit tests for the alert detector (alert_detect.c) on synthetic series
 * with the documented defaults of [alert], and for the engine (alert.c)
 * on a real event loop and database: fire, store, restart, reload,
 * resolve. No network: results are made up and handed to alert_observe. */
#include <inttypes.h>
#include <math.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "alert.h"
#include "alert_am.h"
#include "alert_detect.h"
#include "alert_exec.h"
#include "alert_int.h"
#include "config.h"
#include "log.h"
#include "result.h"
#include "store.h"
#include "unit.h"
#include "util.h"
#include "wsa.h"

static char tmpdir[64];

/* A config from ini text (the real parser, so the defaults are the
 * documented ones). */
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

static void default_params(struct alert_params *p)
{
    struct config *cfg = load_ini("[daemon]\ndatabase = /nonexistent/db\n");

    memset(p, 0, sizeof(*p));
    if (cfg == NULL)
        return;
    alert_params_from_config(p, &cfg->alert);
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

/* Failures among n attempts that each fail with probability p. */
static int64_t binomial(int64_t n, double p)
{
    int64_t k = 0;

    for (int64_t i = 0; i < n; i++)
        k += rng_unit() < p;
    return k;
}

struct tally {
    int fired, resolved, held;
    int first_fire; /* window index of the first fire; -1: none */
};

static void tally_init(struct tally *t)
{
    memset(t, 0, sizeof(*t));
    t->first_fire = -1;
}

static void tally_step(struct tally *t, enum alert_step st, int w)
{
    if (st == ALERT_STEP_FIRED) {
        t->fired++;
        if (t->first_fire < 0)
            t->first_fire = w;
    } else if (st == ALERT_STEP_RESOLVED) {
        t->resolved++;
    } else if (st == ALERT_STEP_HELD) {
        t->held++;
    }
}

/* ---- the detector, with the defaults: window 1m, baseline 1h, factor 3,
 * min_failures 5, min_ratio 0.15, clear_after 3 ---- */

static void test_defaults_are_documented(void)
{
    struct alert_params p;

    default_params(&p);
    UNIT_CHECK(p.factor == 3.0);
    UNIT_EQ_INT(p.min_failures, 5);
    UNIT_CHECK(p.min_ratio == 0.15);
    UNIT_EQ_INT(p.clear_after, 3);
    UNIT_CHECK(fabs(p.alpha - 1.0 / 60) < 1e-12);
    UNIT_EQ_INT(p.host_min_targets, 3);
    UNIT_CHECK(p.host_ratio == 0.5);
    /* the threshold: max(min_failures, factor x baseline, min_ratio x attempts) */
    UNIT_CHECK(alert_detect_threshold(&p, 0, 6) == 5.0);
    UNIT_CHECK(fabs(alert_detect_threshold(&p, 0, 60) - 9.0) < 1e-9);
    UNIT_CHECK(fabs(alert_detect_threshold(&p, 4.0, 60) - 12.0) < 1e-9);
}

/* Steady 0 %: a week of windows at one attempt a second, never a fire. */
static void test_steady_zero(void)
{
    struct alert_params p;
    struct alert_series s;
    struct tally t;

    default_params(&p);
    memset(&s, 0, sizeof(s));
    tally_init(&t);
    for (int w = 0; w < 7 * 1440; w++)
        tally_step(&t, alert_detect_step(&p, &s, 0, 60, ALERT_HOLD_NONE), w);
    UNIT_EQ_INT(t.fired, 0);
    UNIT_CHECK(s.baseline == 0.0);
}

/* Steady 2 %, random (not evenly spaced), for a week: at one attempt a
 * second (60 a window), at the default 10 s interval (6) and at 10 a
 * second (600). It never fires, and the baseline learns the rate. */
static void test_steady_two_percent(void)
{
    static const int64_t rates[] = {6, 60, 600};
    struct alert_params p;

    default_params(&p);
    for (size_t r = 0; r < ND_ARRAY_LEN(rates); r++) {
        struct alert_series s;
        struct tally t;
        memset(&s, 0, sizeof(s));
        tally_init(&t);
        rng_seed(0x2002 + r);
        for (int w = 0; w < 7 * 1440; w++)
            tally_step(
                &t, alert_detect_step(&p, &s, binomial(rates[r], 0.02), rates[r], ALERT_HOLD_NONE),
                w);
        UNIT_EQ_INT(t.fired, 0);
        /* the EWMA sits near 2 % of the attempts (wide bounds: it is noisy) */
        UNIT_CHECK(s.baseline > 0.01 * (double)rates[r] * 0.3);
        UNIT_CHECK(s.baseline < 0.02 * (double)rates[r] * 2.5);
    }
}

/* A jump from 0 % to 20 % over one minute fires in that window (exactly
 * 20 %), and within two windows when the 20 % is random. */
static void test_jump_to_twenty_percent(void)
{
    struct alert_params p;
    struct alert_series s;
    struct tally t;
    int within2;

    default_params(&p);
    memset(&s, 0, sizeof(s));
    tally_init(&t);
    for (int w = 0; w < 120; w++)
        tally_step(&t, alert_detect_step(&p, &s, 0, 60, ALERT_HOLD_NONE), w);
    tally_step(&t, alert_detect_step(&p, &s, 12, 60, ALERT_HOLD_NONE), 120);
    UNIT_EQ_INT(t.fired, 1);
    UNIT_EQ_INT(t.first_fire, 120);
    UNIT_CHECK(s.firing);
    UNIT_EQ_INT(s.fired_count, 12);
    UNIT_EQ_INT(s.fired_attempts, 60);
    UNIT_CHECK(s.fire_baseline == 0.0);

    /* random 20 %: 200 trials. A window fires with probability 0.87
     * (P[Bin(60, 0.2) >= 9]), so about 98 % fire within two windows of the
     * jump, all within five; each stays one alert while the 20 % lasts */
    rng_seed(0x2020);
    within2 = 0;
    for (int trial = 0; trial < 200; trial++) {
        memset(&s, 0, sizeof(s));
        tally_init(&t);
        for (int w = 0; w < 60; w++)
            tally_step(&t, alert_detect_step(&p, &s, binomial(60, 0.005), 60, ALERT_HOLD_NONE), w);
        for (int w = 60; w < 120; w++)
            tally_step(&t, alert_detect_step(&p, &s, binomial(60, 0.2), 60, ALERT_HOLD_NONE), w);
        UNIT_EQ_INT(t.fired, 1);
        UNIT_CHECK(t.first_fire >= 60 && t.first_fire <= 64);
        within2 += t.first_fire <= 61;
        UNIT_EQ_INT(t.resolved, 0);
    }
    UNIT_CHECK(within2 >= 190);
}

/* A burst shorter than the window is diluted by the window's other
 * attempts: 5 refused in a row (5 s of 60) does not fire, wherever it
 * falls, even straddling two windows; a burst as long as the fire
 * threshold does. */
static void test_short_burst(void)
{
    struct alert_params p;

    default_params(&p);
    for (int offset = 0; offset < 60; offset += 7) {
        struct alert_series s;
        struct tally t;
        int fails[3] = {0, 0, 0};
        memset(&s, 0, sizeof(s));
        tally_init(&t);
        for (int i = 0; i < 5; i++)
            fails[(offset + 30 + i) / 60]++;
        for (int w = 0; w < 30; w++)
            tally_step(&t, alert_detect_step(&p, &s, 0, 60, ALERT_HOLD_NONE), w);
        for (int w = 0; w < 3; w++)
            tally_step(&t, alert_detect_step(&p, &s, fails[w], 60, ALERT_HOLD_NONE), 30 + w);
        UNIT_EQ_INT(t.fired, 0);
    }
    {
        struct alert_series s;
        memset(&s, 0, sizeof(s));
        UNIT_EQ_INT(alert_detect_step(&p, &s, 9, 60, ALERT_HOLD_NONE), ALERT_STEP_FIRED);
    }
    /* at 6 attempts a window (10 s interval) one or two failures never
     * fire: the min_failures floor of 5 */
    {
        struct alert_series s;
        memset(&s, 0, sizeof(s));
        UNIT_EQ_INT(alert_detect_step(&p, &s, 2, 6, ALERT_HOLD_NONE), ALERT_STEP_QUIET);
        UNIT_EQ_INT(alert_detect_step(&p, &s, 4, 6, ALERT_HOLD_NONE), ALERT_STEP_QUIET);
        UNIT_EQ_INT(alert_detect_step(&p, &s, 5, 6, ALERT_HOLD_NONE), ALERT_STEP_FIRED);
    }
}

/* A noisy series hovering around the threshold (mean 9 of 60, the fire
 * threshold itself) for a day: one fire, no resolve, no flapping; then
 * recovery resolves it once. The same with a deterministic zig-zag. */
static void test_noisy_no_flapping(void)
{
    struct alert_params p;
    struct alert_series s;
    struct tally t;
    int w = 0;

    default_params(&p);
    rng_seed(0x9009);
    for (int trial = 0; trial < 20; trial++) {
        memset(&s, 0, sizeof(s));
        tally_init(&t);
        for (w = 0; w < 1440; w++)
            tally_step(&t, alert_detect_step(&p, &s, binomial(60, 0.15), 60, ALERT_HOLD_NONE), w);
        UNIT_EQ_INT(t.fired, 1);
        UNIT_EQ_INT(t.resolved, 0);
        for (; w < 1440 + 10; w++)
            tally_step(&t, alert_detect_step(&p, &s, 0, 60, ALERT_HOLD_NONE), w);
        UNIT_EQ_INT(t.fired, 1);
        UNIT_EQ_INT(t.resolved, 1);
    }
    /* 8, 10, 8, 10, ...: crossing the threshold (9) every window */
    memset(&s, 0, sizeof(s));
    tally_init(&t);
    for (w = 0; w < 500; w++)
        tally_step(&t, alert_detect_step(&p, &s, w % 2 ? 10 : 8, 60, ALERT_HOLD_NONE), w);
    UNIT_EQ_INT(t.fired, 1);
    UNIT_EQ_INT(t.first_fire, 1);
    UNIT_EQ_INT(t.resolved, 0);
    /* bursts with quiet gaps shorter than clear_after: still one alert */
    memset(&s, 0, sizeof(s));
    tally_init(&t);
    for (w = 0; w < 500; w++)
        tally_step(&t, alert_detect_step(&p, &s, w % 3 == 0 ? 30 : 0, 60, ALERT_HOLD_NONE), w);
    UNIT_EQ_INT(t.fired, 1);
    UNIT_EQ_INT(t.resolved, 0);
}

/* Recovery: resolve after exactly clear_after clear windows; a window at
 * half the threshold or more during the countdown starts it again; a
 * sustained outage never resolves on its own (the baseline is frozen). */
static void test_recovery(void)
{
    struct alert_params p;
    struct alert_series s;

    default_params(&p);
    memset(&s, 0, sizeof(s));
    UNIT_EQ_INT(alert_detect_step(&p, &s, 60, 60, ALERT_HOLD_NONE), ALERT_STEP_FIRED);
    for (int w = 0; w < 24 * 60; w++)
        UNIT_EQ_INT(alert_detect_step(&p, &s, 60, 60, ALERT_HOLD_NONE), ALERT_STEP_FIRING);
    UNIT_CHECK(s.fire_baseline == 0.0);
    UNIT_EQ_INT(s.peak, 60);
    UNIT_EQ_INT(alert_detect_step(&p, &s, 0, 60, ALERT_HOLD_NONE), ALERT_STEP_FIRING);
    UNIT_EQ_INT(alert_detect_step(&p, &s, 1, 60, ALERT_HOLD_NONE), ALERT_STEP_FIRING);
    /* 5 of 60 is at least half of 9: not clear, the countdown restarts */
    UNIT_EQ_INT(alert_detect_step(&p, &s, 5, 60, ALERT_HOLD_NONE), ALERT_STEP_FIRING);
    UNIT_EQ_INT(s.clear_run, 0);
    UNIT_EQ_INT(alert_detect_step(&p, &s, 0, 60, ALERT_HOLD_NONE), ALERT_STEP_FIRING);
    UNIT_EQ_INT(alert_detect_step(&p, &s, 0, 60, ALERT_HOLD_NONE), ALERT_STEP_FIRING);
    UNIT_EQ_INT(alert_detect_step(&p, &s, 0, 60, ALERT_HOLD_NONE), ALERT_STEP_RESOLVED);
    UNIT_CHECK(!s.firing);
    /* the baseline was not taught the outage */
    UNIT_CHECK(s.baseline < 0.1);
    /* windows without attempts are no evidence: no countdown, no learning */
    memset(&s, 0, sizeof(s));
    UNIT_EQ_INT(alert_detect_step(&p, &s, 6, 6, ALERT_HOLD_NONE), ALERT_STEP_FIRED);
    for (int w = 0; w < 10; w++)
        UNIT_EQ_INT(alert_detect_step(&p, &s, 0, 0, ALERT_HOLD_NONE), ALERT_STEP_FIRING);
    UNIT_EQ_INT(s.clear_run, 0);
}

/* A target's own normal: at a steady 30 % the baseline learns about 18 a
 * window, so 50 % (30) is no spike, but 100 % (60 >= 3 x 18) is. */
static void test_baseline_own_normal(void)
{
    struct alert_params p;
    struct alert_series s;
    struct tally t;

    default_params(&p);
    memset(&s, 0, sizeof(s));
    s.baseline = 18; /* as restored from the rollups at start */
    tally_init(&t);
    rng_seed(0x3030);
    for (int w = 0; w < 600; w++)
        tally_step(&t, alert_detect_step(&p, &s, binomial(60, 0.3), 60, ALERT_HOLD_NONE), w);
    UNIT_EQ_INT(t.fired, 0);
    UNIT_CHECK(s.baseline > 15 && s.baseline < 21);
    UNIT_EQ_INT(alert_detect_step(&p, &s, 30, 60, ALERT_HOLD_NONE), ALERT_STEP_QUIET);
    UNIT_EQ_INT(alert_detect_step(&p, &s, 60, 60, ALERT_HOLD_NONE), ALERT_STEP_FIRED);
    UNIT_CHECK(s.fire_baseline > 15);
}

/* Host-wide: ten targets time out together. The window where half of
 * them fire holds the per-target alerts back once; the next window fires
 * one host alert and no per-target alert at all; recovery resolves it.
 * One target failing alone raises its own alert and no host alert. */
static void test_host_wide(void)
{
    enum { N = 10 };
    struct alert_params p;
    struct alert_series tg[N], host;
    struct tally tt, th;

    default_params(&p);
    memset(tg, 0, sizeof(tg));
    memset(&host, 0, sizeof(host));
    tally_init(&tt);
    tally_init(&th);
    for (int w = 0; w < 10; w++) {
        struct alert_host_tally ht;
        enum alert_hold hold;
        int64_t counts[N];
        memset(&ht, 0, sizeof(ht));
        for (int i = 0; i < N; i++) {
            /* window 3: the outage starts late in the window (3 targets
             * fire, 4 more are warm); windows 4-6: all of them; then
             * recovery */
            if (w == 3)
                counts[i] = i < 3 ? 30 : i < 7 ? 6 : 0;
            else
                counts[i] = w >= 4 && w <= 6 ? 60 : 0;
            enum alert_level lv = alert_detect_level(&p, &tg[i], counts[i], 60);
            ht.eligible++;
            ht.fire += lv == ALERT_LEVEL_FIRE;
            ht.warm += lv >= ALERT_LEVEL_WARM;
            ht.count += counts[i];
            ht.attempts += 60;
        }
        tally_step(&th, alert_detect_host_step(&p, &host, &ht), w);
        hold = alert_detect_host_hold(&p, &host, &ht);
        for (int i = 0; i < N; i++)
            tally_step(&tt, alert_detect_step(&p, &tg[i], counts[i], 60, hold), w);
    }
    UNIT_EQ_INT(th.fired, 1);
    UNIT_EQ_INT(th.first_fire, 4);
    UNIT_EQ_INT(th.resolved, 1);
    UNIT_EQ_INT(tt.fired, 0);
    UNIT_CHECK(tt.held >= 3 + 3 * N);
    for (int i = 0; i < N; i++)
        UNIT_CHECK(tg[i].baseline < 0.01); /* the incident was not learnt */

    /* one target alone */
    memset(tg, 0, sizeof(tg));
    memset(&host, 0, sizeof(host));
    tally_init(&tt);
    tally_init(&th);
    for (int w = 0; w < 3; w++) {
        struct alert_host_tally ht = {
            .eligible = N, .fire = 1, .warm = 1, .count = 60, .attempts = 60 * N};
        enum alert_hold hold;
        tally_step(&th, alert_detect_host_step(&p, &host, &ht), w);
        hold = alert_detect_host_hold(&p, &host, &ht);
        UNIT_EQ_INT(hold, ALERT_HOLD_NONE);
        tally_step(&tt, alert_detect_step(&p, &tg[0], 60, 60, hold), w);
    }
    UNIT_EQ_INT(th.fired, 0);
    UNIT_EQ_INT(tt.fired, 1);
    UNIT_EQ_INT(tt.first_fire, 0);

    /* "many": at least host_min_targets (3) and host_ratio (half) of the
     * targets watching the code; 0 turns it off; 1 counts as 2 */
    {
        struct alert_host_tally ht = {.eligible = 10};
        UNIT_CHECK(!alert_detect_host_many(&p, &ht, 4));
        UNIT_CHECK(alert_detect_host_many(&p, &ht, 5));
        ht.eligible = 3;
        UNIT_CHECK(!alert_detect_host_many(&p, &ht, 2));
        UNIT_CHECK(alert_detect_host_many(&p, &ht, 3));
        p.host_min_targets = 0;
        UNIT_CHECK(!alert_detect_host_many(&p, &ht, 3));
        p.host_min_targets = 1;
        UNIT_CHECK(!alert_detect_host_many(&p, &ht, 1));
        UNIT_CHECK(alert_detect_host_many(&p, &ht, 2));
    }
}

/* A held fire waits one window at most, even if many targets stay warm
 * without a host-wide fire. */
static void test_hold_once(void)
{
    struct alert_params p;
    struct alert_series s;

    default_params(&p);
    memset(&s, 0, sizeof(s));
    UNIT_EQ_INT(alert_detect_step(&p, &s, 60, 60, ALERT_HOLD_ONCE), ALERT_STEP_HELD);
    UNIT_EQ_INT(alert_detect_step(&p, &s, 60, 60, ALERT_HOLD_ONCE), ALERT_STEP_FIRED);
    memset(&s, 0, sizeof(s));
    for (int w = 0; w < 5; w++)
        UNIT_EQ_INT(alert_detect_step(&p, &s, 60, 60, ALERT_HOLD_ALL), ALERT_STEP_HELD);
    UNIT_EQ_INT(alert_detect_step(&p, &s, 60, 60, ALERT_HOLD_NONE), ALERT_STEP_FIRED);
}

/* A longer window after a reload: baselines are per window and scale. */
static void test_rescale(void)
{
    struct alert_series s = {.baseline = 2.0, .fire_baseline = 1.0};

    alert_detect_rescale(&s, 5.0);
    UNIT_CHECK(s.baseline == 10.0);
    UNIT_CHECK(s.fire_baseline == 5.0);
    alert_detect_rescale(&s, NAN);
    UNIT_CHECK(s.baseline == 10.0);
}

/* An outage that starts late in a window puts a few failures there,
 * below the threshold; the next window fires. Those few are the outage's
 * start, not the target's normal: the alert's baseline stays 0. (Learnt
 * at once, they made the baseline 1/60, and an integration test that
 * checks it flaky: where the onset fell in a window decided it.) A quiet
 * window that is not followed by a fire is learnt, one window late. */
static void test_onset_not_learnt(void)
{
    struct alert_params p;
    struct alert_series s;

    default_params(&p);
    memset(&s, 0, sizeof(s));
    for (int w = 0; w < 10; w++)
        UNIT_EQ_INT(alert_detect_step(&p, &s, 0, 10, ALERT_HOLD_NONE), ALERT_STEP_QUIET);
    UNIT_EQ_INT(alert_detect_step(&p, &s, 1, 10, ALERT_HOLD_NONE), ALERT_STEP_QUIET);
    UNIT_EQ_INT(alert_detect_step(&p, &s, 10, 10, ALERT_HOLD_NONE), ALERT_STEP_FIRED);
    UNIT_CHECK(s.fire_baseline == 0.0);
    UNIT_CHECK(s.baseline == 0.0);

    memset(&s, 0, sizeof(s));
    UNIT_EQ_INT(alert_detect_step(&p, &s, 1, 10, ALERT_HOLD_NONE), ALERT_STEP_QUIET);
    UNIT_CHECK(s.baseline == 0.0); /* not yet: the next window may fire */
    UNIT_EQ_INT(alert_detect_step(&p, &s, 0, 10, ALERT_HOLD_NONE), ALERT_STEP_QUIET);
    UNIT_CHECK(fabs(s.baseline - 1.0 / 60) < 1e-12);
    /* a held window (a host-wide incident's onset) drops the one before */
    memset(&s, 0, sizeof(s));
    UNIT_EQ_INT(alert_detect_step(&p, &s, 2, 10, ALERT_HOLD_NONE), ALERT_STEP_QUIET);
    UNIT_EQ_INT(alert_detect_step(&p, &s, 10, 10, ALERT_HOLD_ONCE), ALERT_STEP_HELD);
    UNIT_EQ_INT(alert_detect_step(&p, &s, 0, 10, ALERT_HOLD_NONE), ALERT_STEP_QUIET);
    UNIT_EQ_INT(alert_detect_step(&p, &s, 0, 10, ALERT_HOLD_NONE), ALERT_STEP_QUIET);
    UNIT_CHECK(s.baseline == 0.0);
}

/* Blaming the local network takes evidence: a code the local network can
 * cause (a refusal is an answer from a host), and failing targets spread
 * over distinct remote hosts, at least host_min_targets of them. */
static void test_host_evidence(void)
{
    struct alert_params p;
    struct alert_hostset hs;
    char name[32];

    default_params(&p);
    memset(&hs, 0, sizeof(hs));
    UNIT_CHECK(!alert_detect_code_local(WSAECONNREFUSED));
    UNIT_CHECK(!alert_detect_code_local(WSAECONNRESET));
    UNIT_CHECK(!alert_detect_code_local(WSAHOST_NOT_FOUND));
    UNIT_CHECK(alert_detect_code_local(WSAETIMEDOUT));
    UNIT_CHECK(alert_detect_code_local(CONFIG_CODE_TIMEOUT));
    UNIT_CHECK(alert_detect_code_local(WSAENETUNREACH));
    /* three closed ports of one host: one host */
    for (int i = 0; i < 3; i++)
        alert_hostset_add(&hs, "127.0.0.1");
    UNIT_EQ_INT(hs.n, 1);
    UNIT_EQ_STR(hs.names, "127.0.0.1");
    UNIT_CHECK(!alert_detect_host_local(&p, WSAETIMEDOUT, &hs));
    UNIT_CHECK(!alert_detect_host_local(&p, WSAECONNREFUSED, &hs));
    alert_hostset_add(&hs, "127.0.0.2");
    UNIT_CHECK(!alert_detect_host_local(&p, WSAETIMEDOUT, &hs)); /* 2 < host_min_targets */
    alert_hostset_add(&hs, "::1");
    UNIT_EQ_INT(hs.n, 3);
    UNIT_EQ_STR(hs.names, "127.0.0.1, 127.0.0.2, ::1");
    UNIT_CHECK(alert_detect_host_local(&p, WSAETIMEDOUT, &hs));
    UNIT_CHECK(alert_detect_host_local(&p, CONFIG_CODE_TIMEOUT, &hs));
    UNIT_CHECK(!alert_detect_host_local(&p, WSAECONNREFUSED, &hs));
    /* many hosts: counted exactly, the names cut short */
    alert_hostset_reset(&hs);
    UNIT_EQ_INT(hs.n, 0);
    UNIT_EQ_STR(hs.names, "");
    for (int i = 0; i < 3000; i++) {
        snprintf(name, sizeof(name), "10.%d.%d.1", i / 256, i % 256);
        alert_hostset_add(&hs, name);
        alert_hostset_add(&hs, name);
    }
    UNIT_EQ_INT(hs.n, 3000);
    UNIT_CHECK(strlen(hs.names) < sizeof(hs.names));
    UNIT_CHECK(strstr(hs.names, ", ...") != NULL);
    alert_hostset_free(&hs);
}

/* ---- the engine on a real loop and database ---- */

static void loop_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

/* Runs the loop for ms milliseconds (the window timer fires meanwhile). */
static void run_ms(struct event_base *base, int64_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    struct event *ev = evtimer_new(base, loop_cb, NULL);

    evtimer_add(ev, &tv);
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
    event_free(ev);
}

static void feed(struct alert_engine *a, const struct target *t, int n, bool ok, int code)
{
    struct result r;

    memset(&r, 0, sizeof(r));
    r.target = t;
    r.ts_ms = util_now_ms();
    r.ok = ok;
    r.phase = ok ? PHASE_NONE : PHASE_CONNECT;
    r.wsa_code = ok ? 0 : code;
    r.raw_value = -1;
    if (!ok) {
        util_strlcpy(r.raw, "ECONNREFUSED", sizeof(r.raw));
        util_strlcpy(r.remote, "127.0.0.1:9", sizeof(r.remote));
        util_strlcpy(r.detail, "Connection refused", sizeof(r.detail));
    }
    for (int i = 0; i < n; i++)
        alert_observe(a, &r);
}

/* n failures of target t with a given code, raw outcome and remote. */
static void feed_fail(struct alert_engine *a, const struct target *t, int n, int code,
                      const char *raw, const char *remote)
{
    struct result r;

    memset(&r, 0, sizeof(r));
    r.target = t;
    r.ts_ms = util_now_ms();
    r.phase = t->kind == KIND_RESOLVE ? PHASE_RESOLVE : PHASE_CONNECT;
    r.wsa_code = code;
    r.raw_value = -1;
    util_strlcpy(r.raw, raw, sizeof(r.raw));
    util_strlcpy(r.remote, remote, sizeof(r.remote));
    for (int i = 0; i < n; i++)
        alert_observe(a, &r);
}

/* The engine's windows end every WINDOW_MS after alert_new(), on
 * CLOCK_MONOTONIC; engine_t0_us is taken just before it. */
#define WINDOW_MS 400
static int64_t engine_t0_us;

static struct alert_engine *start_engine(struct event_base *base, struct store *st,
                                         const struct config *cfg)
{
    char err[512];
    struct alert_engine *a;

    engine_t0_us = util_mono_us();
    a = alert_new(base, st, cfg, err, sizeof(err));
    if (a == NULL)
        fprintf(stderr, "alert_new: %s\n", err);
    return a;
}

/* Feeds a window's worth of results, then runs the loop until the window
 * they fall in has ended (and 100 ms more): exactly one judgement. */
static void window(struct event_base *base, struct alert_engine *a, const struct target *t,
                   int fail, int ok)
{
    int64_t w_us = WINDOW_MS * 1000LL, now;
    int64_t end;

    feed(a, t, fail, false, WSAECONNREFUSED);
    feed(a, t, ok, true, 0);
    now = util_mono_us();
    end = engine_t0_us + ((now - engine_t0_us) / w_us + 1) * w_us + 100000;
    run_ms(base, (end - now) / 1000);
}

/* Runs the loop past the end of the current window (one judgement of
 * whatever was fed). */
static void end_window(struct event_base *base)
{
    int64_t w_us = WINDOW_MS * 1000LL, now = util_mono_us();
    int64_t end = engine_t0_us + ((now - engine_t0_us) / w_us + 1) * w_us + 100000;

    run_ms(base, (end - now) / 1000);
}

/* The text of the first column of the first row of sql, or "". */
static void query_text(const char *path, const char *sql, char *buf, size_t len)
{
    sqlite3 *db;
    sqlite3_stmt *s;

    buf[0] = '\0';
    usleep(50000); /* the writer commits alert rows at once; give it a moment */
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        return;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK) {
        if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0) != NULL)
            util_strlcpy(buf, (const char *)sqlite3_column_text(s, 0), len);
        sqlite3_finalize(s);
    }
    sqlite3_close(db);
}

static int64_t count_rows(const char *path, const char *where)
{
    sqlite3 *db;
    sqlite3_stmt *s;
    char sql[256];
    int64_t n = -1;

    /* the writer commits alert rows at once; give it a moment */
    usleep(50000);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        return -1;
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM alerts WHERE %s", where);
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK) {
        if (sqlite3_step(s) == SQLITE_ROW)
            n = sqlite3_column_int64(s, 0);
        sqlite3_finalize(s);
    }
    sqlite3_close(db);
    return n;
}

static const char engine_ini[] = "[daemon]\ndatabase = %s\n"
                                 "[alert]\nwindow = 400ms\nbaseline = 10s\nclear_after = 2\n"
                                 "[target web]\nkind = connect\nhost = 127.0.0.1\nport = 9\n"
                                 "%s";

static struct config *engine_config(const char *db, const char *more)
{
    char text[1024];

    snprintf(text, sizeof(text), engine_ini, db, more);
    return load_ini(text);
}

/* Fire, stored once; a restart continues the same alert (same row, no new
 * fire); a reload keeps it; recovery resolves the row. */
static void test_engine_restart_reload(void)
{
    char db[128], err[512];
    struct event_base *base = event_base_new();
    struct config *cfg = NULL, *cfg2 = NULL;
    struct store *st = NULL;
    struct alert_engine *a = NULL;

    snprintf(db, sizeof(db), "%s/engine.db", tmpdir);
    cfg = engine_config(db, "[target other]\nkind = connect\nhost = 127.0.0.1\nport = 10\n");
    UNIT_CHECK(cfg != NULL && base != NULL);
    if (cfg == NULL || base == NULL)
        goto out;
    st = store_open(db, cfg, err, sizeof(err));
    UNIT_CHECK(st != NULL);
    if (st == NULL)
        goto out;
    UNIT_EQ_INT(store_sync_targets(st, cfg), 0);
    a = start_engine(base, st, cfg);
    UNIT_CHECK(a != NULL);
    if (a == NULL)
        goto out;
    UNIT_EQ_INT(alert_active(a), 0);
    window(base, a, &cfg->targets[0], 10, 0);
    UNIT_EQ_INT(alert_active(a), 1);
    window(base, a, &cfg->targets[0], 10, 0);
    UNIT_EQ_INT(alert_active(a), 1);
    UNIT_EQ_INT(count_rows(db, "resolved IS NULL AND wsa_code = 10061"), 1);

    /* restart: the engine and the store go, and come back */
    alert_free(a);
    store_close(st);
    st = store_open(db, cfg, err, sizeof(err));
    UNIT_CHECK(st != NULL);
    if (st == NULL)
        goto out;
    store_sync_targets(st, cfg);
    a = start_engine(base, st, cfg);
    UNIT_CHECK(a != NULL);
    if (a == NULL)
        goto out;
    UNIT_EQ_INT(alert_active(a), 1);
    window(base, a, &cfg->targets[0], 10, 0);
    UNIT_EQ_INT(alert_active(a), 1);
    UNIT_EQ_INT(count_rows(db, "1"), 1);

    /* reload with the same target (a new config object) and "other"
     * removed: still one alert */
    cfg2 = engine_config(db, "");
    UNIT_CHECK(cfg2 != NULL);
    if (cfg2 == NULL)
        goto out;
    store_sync_targets(st, cfg2);
    alert_set_config(a, cfg2);
    config_free(cfg);
    cfg = cfg2;
    cfg2 = NULL;
    UNIT_EQ_INT(alert_active(a), 1);
    window(base, a, &cfg->targets[0], 10, 0);
    UNIT_EQ_INT(alert_active(a), 1);
    UNIT_EQ_INT(count_rows(db, "1"), 1);

    /* recovery: two clear windows */
    window(base, a, &cfg->targets[0], 0, 10);
    UNIT_EQ_INT(alert_active(a), 1);
    window(base, a, &cfg->targets[0], 0, 10);
    UNIT_EQ_INT(alert_active(a), 0);
    UNIT_EQ_INT(count_rows(db, "resolved IS NOT NULL AND peak = 10 AND count = 10"), 1);
    UNIT_EQ_INT(count_rows(db, "1"), 1);

    /* a new spike is a new alert */
    window(base, a, &cfg->targets[0], 10, 0);
    UNIT_EQ_INT(alert_active(a), 1);
    UNIT_EQ_INT(count_rows(db, "1"), 2);

    /* a reload that stops watching the code resolves it */
    cfg2 = engine_config(db, "");
    if (cfg2 != NULL) {
        cfg2->targets[0].alert_ncodes = 1;
        cfg2->targets[0].alert_codes[0] = WSAETIMEDOUT;
        store_sync_targets(st, cfg2);
        alert_set_config(a, cfg2);
        config_free(cfg);
        cfg = cfg2;
        cfg2 = NULL;
        UNIT_EQ_INT(alert_active(a), 0);
        UNIT_EQ_INT(count_rows(db, "resolved IS NULL"), 0);
    }
out:
    alert_free(a);
    store_close(st);
    config_free(cfg);
    config_free(cfg2);
    if (base)
        event_base_free(base);
}

/* Results of a target from a config that is no longer current are not
 * counted (a reload race), and removing a firing target resolves it. */
static void test_engine_stale_and_removed(void)
{
    struct event_base *base = event_base_new();
    struct config *cfg = engine_config("/nonexistent/db", "");
    struct config *cfg2 =
        engine_config("/nonexistent/db", "[target other]\nkind = connect\nhost = 127.0.0.1\n"
                                         "port = 10\n");
    struct alert_engine *a = NULL;

    UNIT_CHECK(cfg != NULL && cfg2 != NULL && base != NULL);
    if (cfg == NULL || cfg2 == NULL || base == NULL)
        goto out;
    a = start_engine(base, NULL, cfg);
    UNIT_CHECK(a != NULL);
    if (a == NULL)
        goto out;
    window(base, a, &cfg2->targets[0], 10, 0); /* not a target of cfg */
    UNIT_EQ_INT(alert_active(a), 0);
    window(base, a, &cfg->targets[0], 10, 0);
    UNIT_EQ_INT(alert_active(a), 1);
    /* cfg2 names "web" too, plus "other": web keeps its alert */
    alert_set_config(a, cfg2);
    UNIT_EQ_INT(alert_active(a), 1);
    window(base, a, &cfg2->targets[1], 10, 0);
    UNIT_EQ_INT(alert_active(a), 2);
    /* back to cfg: "other" is gone, its alert resolves */
    alert_set_config(a, cfg);
    UNIT_EQ_INT(alert_active(a), 1);
out:
    alert_free(a);
    config_free(cfg);
    config_free(cfg2);
    if (base)
        event_base_free(base);
}

/* The open database and engine of a test, from ini text. */
struct rig {
    char db[128];
    struct event_base *base;
    struct config *cfg;
    struct store *st;
    struct alert_engine *a;
};

static bool rig_start(struct rig *r, const char *name, const char *targets)
{
    char text[2048], err[512];

    memset(r, 0, sizeof(*r));
    snprintf(r->db, sizeof(r->db), "%s/%s.db", tmpdir, name);
    snprintf(text, sizeof(text),
             "[daemon]\ndatabase = %s\n[alert]\nwindow = 400ms\nbaseline = 10s\n"
             "clear_after = 2\n%s",
             r->db, targets);
    r->base = event_base_new();
    r->cfg = load_ini(text);
    if (r->base == NULL || r->cfg == NULL)
        return false;
    r->st = store_open(r->db, r->cfg, err, sizeof(err));
    if (r->st == NULL || store_sync_targets(r->st, r->cfg) != 0)
        return false;
    r->a = start_engine(r->base, r->st, r->cfg);
    return r->a != NULL;
}

static void rig_stop(struct rig *r)
{
    alert_free(r->a);
    store_close(r->st);
    config_free(r->cfg);
    if (r->base)
        event_base_free(r->base);
}

/* The default codes are "refused, timeout": a silent nameserver (11002
 * with raw TIMEOUT) fires the timeout alert, stored and sent as what it
 * is (11002 WSATRY_AGAIN, its detail starting "timeout: "); SERVFAIL,
 * also 11002, does not; a plain list (WSAECONNREFUSED, 10060) means
 * exactly those codes. A restart continues the class alert. */
static void test_engine_timeout_class(void)
{
    static const char targets[] =
        "[target dns]\nkind = resolve\nname = x.test\nserver = 127.0.0.1:5399\n"
        "[target servfail]\nkind = resolve\nname = x.test\nserver = 127.0.0.1:5399\n"
        "[target plain]\nkind = resolve\nname = x.test\nserver = 127.0.0.1:5399\n"
        "codes = WSAECONNREFUSED, 10060\n";
    struct rig r;
    char buf[400];

    if (!rig_start(&r, "class", targets)) {
        UNIT_CHECK(!"rig");
        rig_stop(&r);
        return;
    }
    UNIT_EQ_INT(r.cfg->targets[2].alert_ncodes, 2);
    UNIT_EQ_INT(r.cfg->targets[2].alert_codes[1], WSAETIMEDOUT);
    feed_fail(r.a, &r.cfg->targets[0], 10, WSATRY_AGAIN, "TIMEOUT", "127.0.0.1:5399");
    feed_fail(r.a, &r.cfg->targets[1], 10, WSATRY_AGAIN, "SERVFAIL", "127.0.0.1:5399");
    feed_fail(r.a, &r.cfg->targets[2], 10, WSATRY_AGAIN, "TIMEOUT", "127.0.0.1:5399");
    end_window(r.base);
    UNIT_EQ_INT(alert_active(r.a), 1);
    query_text(r.db,
               "SELECT t.name || ' ' || a.wsa_code || ' ' || a.detail FROM alerts a "
               "JOIN targets t ON t.id = a.target_id",
               buf, sizeof(buf));
    UNIT_CHECK(strncmp(buf,
                       "dns 11002 timeout: 10 of 10 attempts got no answer in time in 400ms "
                       "(0 WSAETIMEDOUT, 10 WSATRY_AGAIN with raw TIMEOUT",
                       100) == 0);
    if (strncmp(buf, "dns 11002 timeout: ", 19) != 0)
        fprintf(stderr, "row: %s\n", buf);
    /* the plain list still watches WSAETIMEDOUT itself */
    feed_fail(r.a, &r.cfg->targets[2], 10, WSAETIMEDOUT, "ETIMEDOUT", "127.0.0.1:5399");
    end_window(r.base);
    UNIT_EQ_INT(alert_active(r.a), 2);
    UNIT_EQ_INT(count_rows(r.db, "wsa_code = 10060 AND detail LIKE '10 of 10 attempts failed with "
                                 "WSAETIMEDOUT%'"),
                1);

    /* restart: both continue (no new row), and the class one is the class's */
    alert_free(r.a);
    store_close(r.st);
    r.a = NULL;
    r.st = store_open(r.db, r.cfg, buf, sizeof(buf));
    UNIT_CHECK(r.st != NULL);
    if (r.st != NULL) {
        store_sync_targets(r.st, r.cfg);
        r.a = start_engine(r.base, r.st, r.cfg);
        UNIT_EQ_INT(alert_active(r.a), 2);
        feed_fail(r.a, &r.cfg->targets[0], 10, WSATRY_AGAIN, "TIMEOUT", "127.0.0.1:5399");
        end_window(r.base);
        UNIT_EQ_INT(alert_active(r.a), 2);
        UNIT_EQ_INT(count_rows(r.db, "1"), 2);
        /* dns recovers: its alert resolves after two clear windows */
        feed_fail(r.a, &r.cfg->targets[0], 0, 0, "", "");
        for (int w = 0; w < 2; w++) {
            struct result ok = {.target = &r.cfg->targets[0], .ok = true};
            for (int i = 0; i < 10; i++)
                alert_observe(r.a, &ok);
            end_window(r.base);
        }
        UNIT_EQ_INT(count_rows(r.db, "wsa_code = 11002 AND resolved IS NOT NULL"), 1);
    }
    rig_stop(&r);
}

/* Many targets failing alike: the alert says what is known. Three closed
 * ports of 127.0.0.1 are refused by that host, not "the local network";
 * timeouts on as many distinct hosts as host_min_targets are. */
static void test_engine_host_words(void)
{
    static const char targets[] = "[target a]\nkind = connect\nhost = 127.0.0.1\nport = 9\n"
                                  "[target b]\nkind = connect\nhost = 127.0.0.1\nport = 10\n"
                                  "[target c]\nkind = connect\nhost = 127.0.0.1\nport = 11\n";
    static const char *const remote[3] = {"127.0.0.2:9", "127.0.0.3:10", "[::1]:11"};
    struct rig r;
    char buf[400];

    if (!rig_start(&r, "hostwords", targets)) {
        UNIT_CHECK(!"rig");
        rig_stop(&r);
        return;
    }
    for (int i = 0; i < 3; i++)
        feed_fail(r.a, &r.cfg->targets[i], 10, WSAECONNREFUSED, "ECONNREFUSED", "127.0.0.1:9");
    end_window(r.base);
    UNIT_EQ_INT(alert_active(r.a), 1);
    query_text(r.db, "SELECT detail FROM alerts WHERE target_id IS NULL", buf, sizeof(buf));
    UNIT_EQ_STR(buf, "refused by 3 of 3 targets on 127.0.0.1 in 400ms (a, b, c): answers from "
                     "that host, not the local network");
    for (int w = 0; w < 2; w++)
        end_window(r.base); /* no attempts: no evidence, still firing */
    for (int w = 0; w < 2; w++) {
        struct result ok = {.ok = true};
        for (int i = 0; i < 3; i++) {
            ok.target = &r.cfg->targets[i];
            alert_observe(r.a, &ok);
        }
        end_window(r.base);
    }
    UNIT_EQ_INT(alert_active(r.a), 0);

    /* timeouts, all against 127.0.0.1: one host */
    for (int i = 0; i < 3; i++)
        feed_fail(r.a, &r.cfg->targets[i], 10, WSAETIMEDOUT, "ETIMEDOUT", "127.0.0.1:9");
    end_window(r.base);
    query_text(r.db, "SELECT detail FROM alerts WHERE target_id IS NULL AND resolved IS NULL", buf,
               sizeof(buf));
    UNIT_EQ_STR(buf, "timeout: no answer in time from 3 of 3 targets on 127.0.0.1 in 400ms (a, "
                     "b, c): one host, too few to blame the local network");
    for (int w = 0; w < 2; w++) {
        struct result ok = {.ok = true};
        for (int i = 0; i < 3; i++) {
            ok.target = &r.cfg->targets[i];
            alert_observe(r.a, &ok);
        }
        end_window(r.base);
    }
    UNIT_EQ_INT(alert_active(r.a), 0);

    /* timeouts on three distinct hosts: the local network */
    for (int i = 0; i < 3; i++)
        feed_fail(r.a, &r.cfg->targets[i], 10, WSAETIMEDOUT, "ETIMEDOUT", remote[i]);
    end_window(r.base);
    query_text(r.db,
               "SELECT wsa_code || ' ' || detail FROM alerts WHERE target_id IS NULL AND "
               "resolved IS NULL",
               buf, sizeof(buf));
    UNIT_EQ_STR(buf, "10060 timeout: no answer in time from 3 of 3 targets across 3 hosts "
                     "(127.0.0.2, 127.0.0.3, ::1) in 400ms (a, b, c): the local network, not the "
                     "targets");
    UNIT_EQ_INT(count_rows(r.db, "target_id IS NOT NULL"), 0);
    rig_stop(&r);
}

/* alertmanager_url: credentials never shown (nor taken); several URLs. */
static void test_am_urls(void)
{
    char buf[256], err[512];
    struct config *cfg;

    alert_am_url_redact("http://user:s3cret@127.0.0.1:9093/am", buf, sizeof(buf));
    UNIT_EQ_STR(buf, "http://***@127.0.0.1:9093/am");
    alert_am_url_redact("http://127.0.0.1:9093/a@b", buf, sizeof(buf));
    UNIT_EQ_STR(buf, "http://127.0.0.1:9093/a@b");
    alert_am_url_redact("nonsense:s3cret@x", buf, sizeof(buf));
    UNIT_EQ_STR(buf, "nonsense:s3cret@x");
    UNIT_EQ_INT(alert_am_check_urls("http://127.0.0.1:9093 http://[::1]:9094/x,"
                                    "https://localhost:9095",
                                    err, sizeof(err)),
                0);
    /* credentials come from a file, never the URL */
    UNIT_EQ_INT(
        alert_am_check_urls("http://127.0.0.1:9093, https://u:s3cret@am.test", err, sizeof(err)),
        -1);
    UNIT_CHECK(strstr(err, "s3cret") == NULL && strstr(err, "https://***@am.test") != NULL);
    UNIT_EQ_INT(alert_am_check_urls("ftp://u:s3cret@am.test", err, sizeof(err)), -1);
    UNIT_CHECK(strstr(err, "s3cret") == NULL);
    /* the config's own message too (it goes to stderr: checked by eye) */
    cfg = load_ini("[daemon]\ndatabase = /nonexistent/db\n[alert]\n"
                   "alertmanager_url = http://127.0.0.1:9093 http://127.0.0.1:9094\n");
    UNIT_CHECK(cfg != NULL);
    config_free(cfg);
}

/* The hook's NETDIAG_WINDOW is written as the config writes durations
 * (netdiag.ini(5): "the window, as 1m"): a one-minute window was "60s". */
static void test_exec_window_as_written(void)
{
    struct event_base *base = event_base_new();
    struct alert_exec *ex = base ? alert_exec_new(base) : NULL;
    struct alert_notice n = {.event = ALERT_EVENT_FIRING,
                             .target = "web",
                             .wsa_code = WSAECONNREFUSED,
                             .wsa_name = "WSAECONNREFUSED",
                             .meaning = "Connection refused.",
                             .window_ms = 60000,
                             .started_ms = 1795600800000};
    char hook[96], out[96], cmd[200], got[32] = "";
    FILE *f;

    UNIT_CHECK(ex != NULL);
    if (ex == NULL)
        return;
    snprintf(hook, sizeof(hook), "%s/hook.sh", tmpdir);
    snprintf(out, sizeof(out), "%s/hook.out", tmpdir);
    f = fopen(hook, "w");
    UNIT_CHECK(f != NULL);
    if (f == NULL)
        return;
    fputs("#!/bin/sh\nprintf '%s' \"$NETDIAG_WINDOW\" > \"$1.tmp\" && mv \"$1.tmp\" \"$1\"\n", f);
    fclose(f);
    chmod(hook, 0755);
    snprintf(cmd, sizeof(cmd), "%s %s", hook, out);
    alert_exec_run(ex, cmd, 10000, "host", &n);
    /* the loop reaps it; 30 s at the most */
    for (int i = 0; i < 300 && alert_exec_running(ex) > 0; i++) {
        struct timeval tv = {0, 100000};
        event_base_loopexit(base, &tv);
        event_base_dispatch(base);
    }
    UNIT_EQ_INT(alert_exec_running(ex), 0);
    f = fopen(out, "r");
    UNIT_CHECK(f != NULL);
    if (f != NULL) {
        UNIT_CHECK(fgets(got, sizeof(got), f) != NULL);
        fclose(f);
    }
    UNIT_EQ_STR(got, "1m");
    alert_exec_free(ex);
    event_base_free(base);
}

int main(int argc, char **argv)
{
    char dir[] = "/tmp/netdiag-test-alert-XXXXXX";

    unit_init(argc, argv);
    log_set_fd(unit_log_fd());
    log_init(LOG_LEVEL_ERROR); /* fires are logged at warn */
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    util_strlcpy(tmpdir, dir, sizeof(tmpdir));
    UNIT_RUN(test_defaults_are_documented);
    UNIT_RUN(test_steady_zero);
    UNIT_RUN(test_steady_two_percent);
    UNIT_RUN(test_jump_to_twenty_percent);
    UNIT_RUN(test_short_burst);
    UNIT_RUN(test_noisy_no_flapping);
    UNIT_RUN(test_recovery);
    UNIT_RUN(test_baseline_own_normal);
    UNIT_RUN(test_host_wide);
    UNIT_RUN(test_hold_once);
    UNIT_RUN(test_rescale);
    UNIT_RUN(test_onset_not_learnt);
    UNIT_RUN(test_host_evidence);
    UNIT_RUN(test_engine_restart_reload);
    UNIT_RUN(test_engine_stale_and_removed);
    UNIT_RUN(test_engine_timeout_class);
    UNIT_RUN(test_engine_host_words);
    UNIT_RUN(test_am_urls);
    UNIT_RUN(test_exec_window_as_written);
    {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", tmpdir);
    }
    return UNIT_END("test_alert");
}
