/* SPDX-License-Identifier: ISC */
/* The alert engine: counts results per target and watched code, and
 * keeps each target's latencies and lost echoes, runs the detector
 * (alert_detect.c) once per window on one loop timer, raises one
 * host-wide alert when many targets fail (or slow down, or lose) alike,
 * and sends every fire and resolve to the alerts table, the log, the exec
 * hook and Alertmanager; firing alerts continue across restarts and
 * reloads. */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "alert.h"
#include "alert_am.h"
#include "alert_detect.h"
#include "alert_exec.h"
#include "alert_int.h"
#include "log.h"
#include "timefmt.h"
#include "util.h"
#include "wsa.h"

/* Alertmanager re-sends: every window, but at least every minute and at
 * most every second. */
#define ALERT_RESEND_MIN_MS 1000
#define ALERT_RESEND_MAX_MS 60000

/* Series that watch a figure rather than failures with a code (beside
 * CONFIG_CODE_TIMEOUT, -1): a target's latency and its lost echoes, and
 * the host-wide series of each. Their alerts are stored with wsa_code 0. */
#define ALERT_CODE_LATENCY (-2)
#define ALERT_CODE_LOSS    (-3)

static enum alert_metric alert_code_metric(int code)
{
    return code == ALERT_CODE_LATENCY ? ALERT_METRIC_LATENCY
           : code == ALERT_CODE_LOSS  ? ALERT_METRIC_LOSS
                                      : ALERT_METRIC_CODE;
}

const char *alert_metric_name(enum alert_metric m)
{
    return m == ALERT_METRIC_LATENCY ? "latency" : m == ALERT_METRIC_LOSS ? "loss" : "code";
}

/* One target and one watched code (or the class "timeout",
 * CONFIG_CODE_TIMEOUT), or its latency or loss (then count is the echoes
 * lost this window). */
struct alert_ser {
    int code;      /* what it watches */
    int real_code; /* the code its alert is stored and sent with */
    size_t hidx;   /* its code's host-wide series */
    struct alert_series s;
    int64_t count;     /* failures with the code in this window */
    int64_t count_dns; /* class timeout: of them, DNS queries without an answer */
    enum alert_level level;
    int64_t id; /* alerts.id while firing */
    int64_t started_ms;
    int64_t last_notified_ms;
    struct alert_text *txt; /* allocated at the first failure with the code */
};

/* The words of a series, kept out of line and each exactly as long as it
 * is: most targets never fail with a watched code, and one that does
 * should not cost half a kilobyte for two sentences. */
#define ALERT_FIRST_MAX  192 /* the window's first failure with the code */
#define ALERT_DETAIL_MAX 320 /* what the row and the notifications say */
struct alert_text {
    char *first;  /* NULL: none this window */
    char *host;   /* the remote host of that failure */
    char *detail; /* NULL: not fired */
    /* who sent the ICMP error of `first` (first_icmp), and of the failure
     * the alert fired with (icmp): the notices' NETDIAG_ICMP_* and
     * annotations */
    bool first_icmp, icmp;
    uint8_t first_icmp_type, first_icmp_code, icmp_type, icmp_code;
    char first_icmp_from[46], icmp_from[46];
};

static const char *ser_detail(const struct alert_ser *ser)
{
    return ser->txt != NULL && ser->txt->detail != NULL ? ser->txt->detail : "";
}

static const char *ser_first(const struct alert_ser *ser)
{
    return ser->txt != NULL && ser->txt->first != NULL ? ser->txt->first : "";
}

static const char *ser_host(const struct alert_ser *ser)
{
    return ser->txt != NULL && ser->txt->host != NULL ? ser->txt->host : "";
}

/* Replace *dst by a copy of src. */
static void text_set(char **dst, const char *src)
{
    char *n = strdup(src);

    if (n == NULL)
        fatalx("out of memory");
    free(*dst);
    *dst = n;
}

static void text_free(struct alert_text *txt)
{
    if (txt == NULL)
        return;
    free(txt->first);
    free(txt->host);
    free(txt->detail);
    free(txt);
}

static struct alert_text *ser_text(struct alert_ser *ser)
{
    if (ser->txt == NULL && (ser->txt = calloc(1, sizeof(*ser->txt))) == NULL)
        fatalx("out of memory");
    return ser->txt;
}

/* A target's latency series while it is near or in an alert. */
struct alert_lat_full {
    struct alert_ser ser;
    int64_t fired_attempts; /* attempts in the window that fired */
    int64_t half_attempts;  /* > 0: fired half-way through a window, with these */
};

/* A target's latency: this window's latencies and the series, from its
 * first successful attempt (the baseline learns from every window). Most
 * windows of most targets are plain (below half-way, nothing held): the
 * series is then these few fields, and `full` is NULL. A window at half-
 * way or above, an alert, or one restored makes `full` hold it, until a
 * plain window again (the series of 100k targets would take 27 MB). */
struct alert_lat {
    struct alert_lat_win w;
    double baseline;
    double pending;
    int32_t learnt;
    bool has_pending;
    uint16_t half;          /* samples of w that came before the last tick */
    uint32_t value_us;      /* the figure of the window being judged */
    uint32_t prev_attempts; /* attempts in the window before */
    struct alert_lat_full *full;
};
/* 88 bytes, 96 with malloc's header (112 before the window's samples
 * shared their room with its heap pointer): one for each target. */
_Static_assert(sizeof(struct alert_lat) <= 88, "a target's latency state grew");

struct alert_tgt {
    const char *name;              /* the config's: it outlives the table */
    const char *labels, *severity; /* the config's too; NULL: none */
    int64_t db_id;
    uint32_t attempts; /* this window, any outcome (a day at 10 ms: 8.64M) */
    uint32_t nser;
    /* nser entries, one per watched code; NULL until the target's first
     * failure with a watched code: a series that never saw one is all
     * zeros, so most of 100k targets need none (272 bytes each) */
    struct alert_ser *ser;
    struct alert_lat *lat;  /* NULL: latency alerts off, or no success yet */
    struct alert_ser *loss; /* NULL: loss alerts off, or no echo lost yet */
    uint32_t echo_sent;     /* this window */
    uint8_t windows;        /* windows with attempts so far, up to 255 */
};
/* one for each target: 56 bytes (64 with 64-bit counts), 72 with the
 * labels and severity of issue 19 */
_Static_assert(sizeof(struct alert_tgt) <= 72, "a target's alert state grew");

/* Series beyond a target's codes: its latency, then its loss. */
#define ALERT_TGT_METRICS 2

/* The k-th series of a target (k < nser + ALERT_TGT_METRICS): its codes',
 * then latency and loss; NULL where none is allocated. */
static struct alert_ser *alert_tgt_series(const struct alert_tgt *tg, size_t k)
{
    if (k < tg->nser)
        return tg->ser != NULL ? &tg->ser[k] : NULL;
    if (k == tg->nser)
        return tg->lat != NULL && tg->lat->full != NULL ? &tg->lat->full->ser : NULL;
    if (k == tg->nser + 1)
        return tg->loss;
    return NULL;
}

/* The host and one code (every code some target watches). */
struct alert_host {
    int code;      /* what it watches */
    int real_code; /* the code its alert is stored and sent with */
    bool local;    /* fired with evidence of the local network */
    struct alert_series s;
    struct alert_host_tally tally;
    int64_t count_dns;           /* class timeout: DNS failures of the targets at FIRE */
    struct alert_hostset remote; /* the remote hosts of the targets at FIRE */
    enum alert_hold hold;
    int64_t id;
    int64_t started_ms;
    int64_t last_notified_ms;
    char targets[512]; /* the targets at FIRE when it fired */
    char detail[320];
};

struct alert_engine {
    struct event_base *base;
    struct store *st; /* NULL: nothing stored */
    const struct config *cfg;
    struct alert_params p;
    struct alert_params lossp;  /* the failure rule on echoes */
    struct alert_lat_params lp; /* latency */
    uint64_t rng;               /* reservoirs of latencies */
    int64_t window_ms;
    struct alert_tgt *tg; /* parallel to cfg->targets */
    size_t ntg;
    struct alert_host *hs;
    size_t nhs;
    struct event *ev_window;
    struct event *ev_half; /* half-way through the window: candidates' confirmation */
    int64_t next_us;       /* the current window's end, CLOCK_MONOTONIC */
    size_t nactive;
    int64_t local_id; /* ids without a database */
    struct alert_exec *exec;
    struct alert_am **am; /* one per alertmanager_url */
    size_t nam;
    char *am_urls; /* alert_am_signature() of what they were made from */
    int64_t am_resend_ms;
    char instance[256]; /* this host's name, for the hook and Alertmanager */
};

static size_t alert_host_find(const struct alert_host *hs, size_t nhs, int code)
{
    for (size_t i = 0; i < nhs; i++)
        if (hs[i].code == code)
            return i;
    return SIZE_MAX;
}

/* Give a target its series (one per watched code of t), all zeros. */
static void alert_tgt_alloc(struct alert_tgt *tg, const struct target *t,
                            const struct alert_host *hs, size_t nhs)
{
    if (tg->ser != NULL || tg->nser == 0)
        return;
    tg->ser = calloc(tg->nser, sizeof(*tg->ser));
    if (tg->ser == NULL)
        fatalx("out of memory");
    for (size_t k = 0; k < tg->nser; k++) {
        tg->ser[k].code = t->alert_codes[k];
        tg->ser[k].real_code =
            t->alert_codes[k] == CONFIG_CODE_TIMEOUT ? WSAETIMEDOUT : t->alert_codes[k];
        tg->ser[k].hidx = alert_host_find(hs, nhs, t->alert_codes[k]);
    }
}

/* A target's latency, at its first success: learning from zero. */
static void alert_lat_alloc(struct alert_tgt *tg)
{
    tg->lat = calloc(1, sizeof(*tg->lat));
    if (tg->lat == NULL)
        fatalx("out of memory");
}

/* The plain latency series as the detector sees it. */
static void alert_lat_view(const struct alert_lat *l, struct alert_series *s)
{
    memset(s, 0, sizeof(*s));
    s->baseline = l->baseline;
    s->pending = l->pending;
    s->has_pending = l->has_pending;
    s->learnt = l->learnt;
}

/* The full series of a target's latency (made from the plain one). */
static struct alert_ser *alert_lat_full(const struct alert_engine *a, struct alert_tgt *tg)
{
    struct alert_lat *l = tg->lat;

    if (l->full == NULL) {
        if ((l->full = calloc(1, sizeof(*l->full))) == NULL)
            fatalx("out of memory");
        l->full->ser.code = ALERT_CODE_LATENCY;
        l->full->ser.real_code = 0;
        l->full->ser.hidx = alert_host_find(a->hs, a->nhs, ALERT_CODE_LATENCY);
        alert_lat_view(l, &l->full->ser.s);
    }
    return &l->full->ser;
}

/* Back to the plain fields when nothing but the baseline is left. */
static void alert_lat_plain(struct alert_lat *l, const struct alert_series *s)
{
    l->baseline = s->baseline;
    l->pending = s->pending;
    l->has_pending = s->has_pending;
    l->learnt = s->learnt > INT32_MAX ? INT32_MAX : (int32_t)s->learnt;
}

static bool alert_lat_is_plain(const struct alert_ser *ser)
{
    const struct alert_series *s = &ser->s;

    return !s->firing && !s->held && !s->cand && !s->warm_before && ser->id == 0;
}

/* A target's loss series, at its first lost echo: the windows before had
 * none, so its baseline is 0 and it has learnt that many. */
static void alert_loss_alloc(const struct alert_engine *a, struct alert_tgt *tg)
{
    tg->loss = calloc(1, sizeof(*tg->loss));
    if (tg->loss == NULL)
        fatalx("out of memory");
    tg->loss->code = ALERT_CODE_LOSS;
    tg->loss->real_code = 0;
    tg->loss->hidx = alert_host_find(a->hs, a->nhs, ALERT_CODE_LOSS);
    tg->loss->s.learnt = tg->windows;
}

/* A loss series that only remembers an echo lost long ago: its baseline
 * (under 0.01 lost a window) weighs nothing against the floors, so it
 * goes, and comes back at the next lost echo (most ping targets lose one
 * now and then: 100k series would take 20 MB). */
static bool alert_loss_is_spent(const struct alert_ser *ser)
{
    const struct alert_series *s = &ser->s;

    return !s->firing && !s->held && !s->cand && !s->warm_before && ser->id == 0 &&
           s->baseline < 0.01 && (!s->has_pending || s->pending == 0);
}

static void alert_ser_free(struct alert_ser *ser)
{
    if (ser != NULL)
        text_free(ser->txt);
}

static void alert_lat_free_full(struct alert_lat *l)
{
    if (l->full != NULL) {
        alert_ser_free(&l->full->ser);
        free(l->full);
        l->full = NULL;
    }
}

static void alert_lat_free(struct alert_lat *l)
{
    if (l == NULL)
        return;
    alert_lat_free_full(l);
    alert_lat_win_free(&l->w);
    free(l);
}

static const char *alert_code_name(int code)
{
    const struct wsa_code *c = wsa_by_code(code);
    return c ? c->name : "WSA?";
}

static const char *alert_code_meaning(int code)
{
    const struct wsa_code *c = wsa_by_code(code);
    return c ? c->meaning : "";
}

/* The class "timeout": WSAETIMEDOUT (a probe's own deadline, a connect
 * nobody answered), and a DNS query that got no answer in time, which is
 * stored as WSATRY_AGAIN with raw TIMEOUT as a Windows program's
 * getaddrinfo reports it; SERVFAIL shares 11002 and is an answer, not a
 * timeout. A class alert's row and detail start with this prefix, which
 * is how a restart tells it from an alert of the plain code. */
#define ALERT_CLASS_TIMEOUT "timeout"
#define ALERT_CLASS_PREFIX  "timeout: "

static const char *alert_watch_name(int watch)
{
    if (alert_code_metric(watch) != ALERT_METRIC_CODE)
        return alert_metric_name(alert_code_metric(watch));
    return watch == CONFIG_CODE_TIMEOUT ? ALERT_CLASS_TIMEOUT : alert_code_name(watch);
}

const char *alert_notice_name(const struct alert_notice *n)
{
    if (n->metric != ALERT_METRIC_CODE)
        return alert_metric_name(n->metric);
    return n->wsa_name != NULL ? n->wsa_name : "?";
}

static bool alert_is_dns_timeout(const struct result *r)
{
    return r->wsa_code == WSATRY_AGAIN && strcmp(r->raw, "TIMEOUT") == 0;
}

static bool alert_watch_match(int watch, const struct result *r)
{
    if (watch == CONFIG_CODE_TIMEOUT)
        return r->wsa_code == WSAETIMEDOUT || alert_is_dns_timeout(r);
    return watch == r->wsa_code;
}

/* Whether a stored alert of `code` (detail `detail`) belongs to a series
 * watching `watch`. */
static bool alert_watch_owns(int watch, int code, const char *detail)
{
    bool cls = strncmp(detail, ALERT_CLASS_PREFIX, strlen(ALERT_CLASS_PREFIX)) == 0;

    if (watch == CONFIG_CODE_TIMEOUT)
        return cls && (code == WSAETIMEDOUT || code == WSATRY_AGAIN);
    return !cls && watch == code;
}

/* "WSAECONNREFUSED (10061)", or for the class "timeout (11002
 * WSATRY_AGAIN)": what log lines name an alert by. */
static const char *alert_what(int watch, int real_code, char *buf, size_t len)
{
    if (alert_code_metric(watch) != ALERT_METRIC_CODE)
        snprintf(buf, len, "%s", alert_watch_name(watch));
    else if (watch == CONFIG_CODE_TIMEOUT)
        snprintf(buf, len, "%s (%d %s)", ALERT_CLASS_TIMEOUT, real_code,
                 alert_code_name(real_code));
    else
        snprintf(buf, len, "%s (%d)", alert_code_name(real_code), real_code);
    return buf;
}

/* The class's code for a window: the one most of its failures had. */
static int alert_class_code(int64_t count, int64_t count_dns)
{
    return 2 * count_dns > count ? WSATRY_AGAIN : WSAETIMEDOUT;
}

/* The remote host of a failure, for the host-wide evidence: the address
 * it failed against without its port, else the host the target names. */
static void alert_remote_host(const struct result *r, const struct target *t, char *buf, size_t len)
{
    const char *rem = r->remote, *end;

    if (rem[0] == '[' && (end = strchr(rem, ']')) != NULL) {
        snprintf(buf, len, "%.*s", (int)(end - rem - 1), rem + 1);
        return;
    }
    end = strrchr(rem, ':');
    if (rem[0] != '\0' && end != NULL && strchr(rem, ':') == end) {
        snprintf(buf, len, "%.*s", (int)(end - rem), rem);
        return;
    }
    if (rem[0] != '\0')
        snprintf(buf, len, "%s", rem);
    else if (t->kind == KIND_RESOLVE)
        snprintf(buf, len, "%s", t->server_system ? "system" : t->server_str);
    else
        snprintf(buf, len, "%s", t->host != NULL ? t->host : "?");
}

static void alert_fmt_ms(int64_t ms, char *buf, size_t len)
{
    if (ms < 120000)
        snprintf(buf, len, "%.1f s", (double)ms / 1000.0);
    else if (ms < 7200000)
        snprintf(buf, len, "%" PRId64 "m%02" PRId64 "s", ms / 60000, ms / 1000 % 60);
    else
        snprintf(buf, len, "%" PRId64 "h%02" PRId64 "m", ms / 3600000, ms / 60000 % 60);
}

static void alert_fmt_window(int64_t ms, char *buf, size_t len)
{
    if (ms % 60000 == 0)
        snprintf(buf, len, "%" PRId64 "m", ms / 60000);
    else if (ms % 1000 == 0)
        snprintf(buf, len, "%" PRId64 "s", ms / 1000);
    else
        snprintf(buf, len, "%" PRId64 "ms", ms);
}

static int64_t alert_new_id(struct alert_engine *a)
{
    return a->st != NULL ? store_alert_new_id(a->st) : ++a->local_id;
}

/* ---- notifications and rows ---- */

/* What a latency or loss alert means, for the hook and Alertmanager. */
#define ALERT_LATENCY_MEANING "Slower than the target's own baseline."
#define ALERT_LOSS_MEANING    "More echoes lost than the target's own baseline."

/* A notice's words for its metric (n->metric set): a code's WSA name and
 * meaning, with watch_class the class it fired under (NULL: none); the
 * meaning of a latency or loss alert, and the latency figure's name. */
static void alert_notice_words(const struct alert_engine *a, int real_code, const char *watch_class,
                               struct alert_notice *n)
{
    if (n->metric == ALERT_METRIC_CODE) {
        n->wsa_code = real_code;
        n->watch_class = watch_class;
        n->wsa_name = alert_code_name(real_code);
        n->meaning = alert_code_meaning(real_code);
        return;
    }
    n->meaning = n->metric == ALERT_METRIC_LATENCY ? ALERT_LATENCY_MEANING : ALERT_LOSS_MEANING;
    if (n->metric == ALERT_METRIC_LATENCY)
        n->figure = alert_lat_figure_name(a->lp.q, n->figure_buf, sizeof(n->figure_buf));
}

/* The metric fields of a notice from its series, the WSA ones for a code. */
static void alert_notice_figures(const struct alert_engine *a, const struct alert_series *s,
                                 int code, int real_code, int64_t fired_attempts,
                                 struct alert_notice *n)
{
    n->metric = alert_code_metric(code);
    n->count = s->fired_count;
    n->attempts = s->fired_attempts;
    n->peak = s->peak;
    n->baseline = s->fire_baseline;
    alert_notice_words(a, real_code, code == CONFIG_CODE_TIMEOUT ? ALERT_CLASS_TIMEOUT : NULL, n);
    if (n->metric == ALERT_METRIC_LATENCY) {
        n->value = (double)s->fired_count;
        n->count = s->fired_attempts; /* the samples */
        n->attempts = fired_attempts;
        n->threshold = alert_lat_threshold(&a->lp, s->fire_baseline);
        return;
    }
    if (n->metric == ALERT_METRIC_LOSS) {
        double sent = (double)(s->fired_attempts > 0 ? s->fired_attempts : 1);
        n->value = (double)s->fired_count / sent;
        n->baseline = s->fire_baseline / sent;
        n->threshold =
            alert_detect_threshold(&a->lossp, s->fire_baseline, s->fired_attempts) / sent;
        return;
    }
    n->threshold = alert_detect_threshold(&a->p, s->fire_baseline, s->fired_attempts);
}

static void alert_notice_target(const struct alert_engine *a, const struct alert_tgt *tg,
                                const struct alert_ser *ser, enum alert_event ev, int64_t now_ms,
                                struct alert_notice *n)
{
    memset(n, 0, sizeof(*n));
    n->event = ev;
    n->id = ser->id;
    util_strlcpy(n->target, tg->name, sizeof(n->target));
    alert_notice_figures(a, &ser->s, ser->code, ser->real_code,
                         tg->lat != NULL && tg->lat->full != NULL && ser == &tg->lat->full->ser
                             ? tg->lat->full->fired_attempts
                             : 0,
                         n);
    n->window_ms = a->window_ms;
    n->started_ms = ser->started_ms;
    n->resolved_ms = ev == ALERT_EVENT_RESOLVED ? now_ms : 0;
    util_strlcpy(n->targets, tg->name, sizeof(n->targets));
    util_strlcpy(n->detail, ser_detail(ser), sizeof(n->detail));
    n->labels = tg->labels;
    n->severity = tg->severity;
    if (ser->txt != NULL && ser->txt->icmp) {
        n->icmp = true;
        n->icmp_type = ser->txt->icmp_type;
        n->icmp_code = ser->txt->icmp_code;
        util_strlcpy(n->icmp_from, ser->txt->icmp_from, sizeof(n->icmp_from));
    }
}

static void alert_notice_host(const struct alert_engine *a, const struct alert_host *h,
                              enum alert_event ev, int64_t now_ms, struct alert_notice *n)
{
    memset(n, 0, sizeof(*n));
    n->event = ev;
    n->host = true;
    n->local = h->local;
    n->id = h->id;
    util_strlcpy(n->target, ALERT_HOST_TARGET, sizeof(n->target));
    n->metric = alert_code_metric(h->code);
    /* no value for latency or loss: the targets' figures differ, the
     * count of targets says it */
    alert_notice_words(a, h->real_code, h->code == CONFIG_CODE_TIMEOUT ? ALERT_CLASS_TIMEOUT : NULL,
                       n);
    n->count = h->s.fired_count;
    n->attempts = h->s.fired_attempts;
    n->peak = h->s.peak;
    n->baseline = h->s.fire_baseline;
    n->window_ms = a->window_ms;
    n->started_ms = h->started_ms;
    n->resolved_ms = ev == ALERT_EVENT_RESOLVED ? now_ms : 0;
    util_strlcpy(n->targets, h->targets, sizeof(n->targets));
    util_strlcpy(n->detail, h->detail, sizeof(n->detail));
}

static void alert_am_put_all(struct alert_engine *a, const struct alert_notice *n)
{
    for (size_t i = 0; i < a->nam; i++)
        alert_am_put(a->am[i], n);
}

static void alert_am_clear(struct alert_engine *a)
{
    for (size_t i = 0; i < a->nam; i++)
        alert_am_free(a->am[i]);
    free(a->am);
    /* it holds the Authorization header */
    if (a->am_urls != NULL)
        memset(a->am_urls, 0, strlen(a->am_urls));
    free(a->am_urls);
    a->am = NULL;
    a->am_urls = NULL;
    a->nam = 0;
}

/* The hook and Alertmanager. Returns whether anyone was told. */
static bool alert_notify(struct alert_engine *a, const struct alert_notice *n)
{
    const struct alert_config *c = &a->cfg->alert;
    bool told = false;

    if (c->exec != NULL) {
        alert_exec_run(a->exec, c->exec, c->exec_timeout_ms, a->instance, n);
        told = true;
    }
    if (a->nam > 0 && !n->repeat) {
        alert_am_put_all(a, n);
        told = true;
    }
    return told;
}

static void alert_store(struct alert_engine *a, const struct alert_notice *n, int64_t target_id,
                        int64_t last_notified_ms)
{
    struct store_alert row;

    if (a->st == NULL)
        return;
    memset(&row, 0, sizeof(row));
    row.id = n->id;
    row.target_id = n->host ? 0 : target_id;
    row.wsa_code = n->wsa_code;
    row.started_ms = n->started_ms;
    row.resolved_ms = n->resolved_ms;
    row.count = n->count;
    row.peak = n->peak;
    row.baseline = n->baseline;
    row.attempts = n->attempts;
    row.last_notified_ms = last_notified_ms;
    util_strlcpy(row.detail, n->detail, sizeof(row.detail));
    util_strlcpy(row.metric, alert_metric_name(n->metric), sizeof(row.metric));
    /* a host-wide latency or loss alert has no one figure */
    row.has_value = n->metric != ALERT_METRIC_CODE && !n->host;
    row.value = n->value;
    store_alert_put(a->st, &row);
}

/* ---- transitions of a target's series ---- */

/* The words of a firing latency or loss alert, again whenever its peak
 * or its count of windows changes (they carry both). */
static void alert_metric_detail(struct alert_engine *a, struct alert_tgt *tg, struct alert_ser *ser)
{
    char buf[ALERT_DETAIL_MAX], win[32];

    alert_fmt_window(a->window_ms, win, sizeof(win));
    if (ser->code == ALERT_CODE_LATENCY)
        alert_lat_words(&a->lp, &ser->s,
                        tg->lat != NULL && tg->lat->full != NULL ? tg->lat->full->fired_attempts
                                                                 : 0,
                        win, buf, sizeof(buf));
    else
        alert_loss_words(&a->lossp, &ser->s, win, buf, sizeof(buf));
    text_set(&ser_text(ser)->detail, buf);
}

static void alert_target_fired(struct alert_engine *a, struct alert_tgt *tg, struct alert_ser *ser,
                               int64_t now_ms)
{
    struct alert_notice n;
    char win[32], what[64];

    ser->id = alert_new_id(a);
    ser->started_ms = now_ms;
    alert_fmt_window(a->window_ms, win, sizeof(win));
    if (alert_code_metric(ser->code) != ALERT_METRIC_CODE) {
        /* the figure it fired with is this window's or, higher, the
         * window's before (alert_detect_step) */
        if (ser->code == ALERT_CODE_LATENCY && tg->lat != NULL && tg->lat->full != NULL) {
            struct alert_lat_full *f = tg->lat->full;
            if (f->half_attempts > 0) /* half-way through a window */
                f->fired_attempts = f->half_attempts;
            else
                f->fired_attempts = ser->s.fired_count == (int64_t)tg->lat->value_us
                                        ? tg->attempts
                                        : tg->lat->prev_attempts;
        }
        alert_metric_detail(a, tg, ser);
    } else {
        char buf[ALERT_DETAIL_MAX];
        const char *first = ser_first(ser);
        if (ser->code == CONFIG_CODE_TIMEOUT) {
            ser->real_code = alert_class_code(ser->count, ser->count_dns);
            util_snprintf_cut(buf, sizeof(buf),
                              ALERT_CLASS_PREFIX "%" PRId64 " of %" PRId64
                                                 " attempts got no answer in "
                                                 "time in %s (%" PRId64 " WSAETIMEDOUT, %" PRId64
                                                 " WSATRY_AGAIN with raw TIMEOUT; threshold %.1f, "
                                                 "baseline %.2f)%s%s",
                              ser->s.fired_count, ser->s.fired_attempts, win,
                              ser->count - ser->count_dns, ser->count_dns, ser->s.threshold,
                              ser->s.fire_baseline, first[0] ? "; first: " : "", first);
        } else {
            util_snprintf_cut(buf, sizeof(buf),
                              "%" PRId64 " of %" PRId64 " attempts failed with %s in %s (threshold "
                              "%.1f, baseline %.2f)%s%s",
                              ser->s.fired_count, ser->s.fired_attempts, alert_code_name(ser->code),
                              win, ser->s.threshold, ser->s.fire_baseline,
                              first[0] ? "; first: " : "", first);
        }
        text_set(&ser_text(ser)->detail, buf);
        ser->txt->icmp = ser->txt->first_icmp;
        ser->txt->icmp_type = ser->txt->first_icmp_type;
        ser->txt->icmp_code = ser->txt->first_icmp_code;
        memcpy(ser->txt->icmp_from, ser->txt->first_icmp_from, sizeof(ser->txt->icmp_from));
    }
    log_warnx("alert: %s %s firing: %s", tg->name,
              alert_what(ser->code, ser->real_code, what, sizeof(what)), ser_detail(ser));
    a->nactive++;
    alert_notice_target(a, tg, ser, ALERT_EVENT_FIRING, now_ms, &n);
    if (alert_notify(a, &n))
        ser->last_notified_ms = now_ms;
    alert_store(a, &n, tg->db_id, ser->last_notified_ms);
}

static void alert_target_resolved(struct alert_engine *a, struct alert_tgt *tg,
                                  struct alert_ser *ser, int64_t now_ms, const char *why)
{
    struct alert_notice n;
    char dur[32], what[64];

    alert_fmt_ms(now_ms - ser->started_ms, dur, sizeof(dur));
    if (ser->code == ALERT_CODE_LATENCY) {
        char pk[24];
        alert_fmt_us((double)ser->s.peak, pk, sizeof(pk));
        log_info("alert: %s %s resolved after %s (peak %s, %" PRId64 " window%s over the "
                 "threshold)%s%s",
                 tg->name, alert_what(ser->code, ser->real_code, what, sizeof(what)), dur, pk,
                 ser->s.fire_windows, ser->s.fire_windows == 1 ? "" : "s", why ? ": " : "",
                 why ? why : "");
    } else {
        log_info("alert: %s %s resolved after %s (peak %" PRId64 " in a window)%s%s", tg->name,
                 alert_what(ser->code, ser->real_code, what, sizeof(what)), dur, ser->s.peak,
                 why ? ": " : "", why ? why : "");
    }
    if (a->nactive > 0)
        a->nactive--;
    alert_notice_target(a, tg, ser, ALERT_EVENT_RESOLVED, now_ms, &n);
    if (alert_notify(a, &n))
        ser->last_notified_ms = now_ms;
    alert_store(a, &n, tg->db_id, ser->last_notified_ms);
    ser->id = 0;
    ser->s.firing = false;
}

/* Still firing: a new peak is stored, and the hook is reminded every
 * renotify (never more often). */
static void alert_target_firing(struct alert_engine *a, struct alert_tgt *tg, struct alert_ser *ser,
                                int64_t old_peak, int64_t old_windows, int64_t now_ms)
{
    const struct alert_config *c = &a->cfg->alert;
    struct alert_notice n;
    bool remind =
        c->exec != NULL && c->renotify_ms > 0 && now_ms - ser->last_notified_ms >= c->renotify_ms;
    bool metric = alert_code_metric(ser->code) != ALERT_METRIC_CODE;
    bool words = metric && (ser->s.peak != old_peak || ser->s.fire_windows != old_windows);

    if (words)
        alert_metric_detail(a, tg, ser);
    if (!remind && ser->s.peak == old_peak && !words)
        return;
    alert_notice_target(a, tg, ser, ALERT_EVENT_FIRING, now_ms, &n);
    if (remind) {
        n.repeat = true;
        alert_notify(a, &n);
        ser->last_notified_ms = now_ms;
    }
    if (ser->s.peak != old_peak) {
        n.repeat = false;
        alert_am_put_all(a, &n); /* the annotations carry the peak */
    }
    alert_store(a, &n, tg->db_id, ser->last_notified_ms);
}

/* ---- host-wide ---- */

/* What a many-target alert says: only what is known. The local network
 * is blamed only with evidence (alert_detect_host_local()); otherwise the
 * words name the hosts that answered or failed. */
#define ALERT_LOCAL_WORDS "the local network, not the targets"

static const char *alert_scope_word(const struct alert_host *h)
{
    return h->local ? "host-wide" : "several targets";
}

static void alert_host_words(struct alert_host *h, const char *win)
{
    char verb[96], hosts[200];
    int64_t nh = (int64_t)h->remote.n;
    const char *pfx = h->code == CONFIG_CODE_TIMEOUT ? ALERT_CLASS_PREFIX : "";

    if (h->code == WSAECONNREFUSED)
        snprintf(verb, sizeof(verb), "refused by %" PRId64 " of %" PRId64 " targets", h->tally.fire,
                 h->tally.eligible);
    else if (h->code == CONFIG_CODE_TIMEOUT)
        snprintf(verb, sizeof(verb), "no answer in time from %" PRId64 " of %" PRId64 " targets",
                 h->tally.fire, h->tally.eligible);
    else if (h->code == ALERT_CODE_LATENCY)
        snprintf(verb, sizeof(verb), "latency up on %" PRId64 " of %" PRId64 " targets",
                 h->tally.fire, h->tally.eligible);
    else if (h->code == ALERT_CODE_LOSS)
        snprintf(verb, sizeof(verb), "echoes lost on %" PRId64 " of %" PRId64 " targets",
                 h->tally.fire, h->tally.eligible);
    else
        snprintf(verb, sizeof(verb), "%s on %" PRId64 " of %" PRId64 " targets",
                 alert_code_name(h->code), h->tally.fire, h->tally.eligible);
    if (nh == 1)
        util_snprintf_cut(hosts, sizeof(hosts), "on %s", h->remote.names);
    else
        util_snprintf_cut(hosts, sizeof(hosts), "%s %" PRId64 " hosts (%s)",
                          h->local ? "across" : "on", nh, h->remote.names);
    if (h->local)
        util_snprintf_cut(h->detail, sizeof(h->detail), "%s%s %s in %s (%s): " ALERT_LOCAL_WORDS,
                          pfx, verb, hosts, win, h->targets);
    else if (!alert_detect_code_local(h->code))
        util_snprintf_cut(h->detail, sizeof(h->detail),
                          "%s%s %s in %s (%s): answers from %s, not the "
                          "local network",
                          pfx, verb, hosts, win, h->targets, nh == 1 ? "that host" : "those hosts");
    else
        util_snprintf_cut(h->detail, sizeof(h->detail),
                          "%s%s %s in %s (%s): %s, too few to blame the "
                          "local network",
                          pfx, verb, hosts, win, h->targets, nh == 1 ? "one host" : "few hosts");
}

static void alert_host_fired(struct alert_engine *a, struct alert_host *h, int64_t now_ms)
{
    struct alert_notice n;
    char win[32], what[64];

    h->id = alert_new_id(a);
    h->started_ms = now_ms;
    h->local = alert_detect_host_local(&a->p, h->code, &h->remote);
    h->real_code =
        h->code == CONFIG_CODE_TIMEOUT ? alert_class_code(h->tally.count, h->count_dns) : h->code;
    alert_fmt_window(a->window_ms, win, sizeof(win));
    alert_host_words(h, win);
    log_warnx("alert: %s %s firing: %s", alert_scope_word(h),
              alert_what(h->code, h->real_code, what, sizeof(what)), h->detail);
    a->nactive++;
    alert_notice_host(a, h, ALERT_EVENT_FIRING, now_ms, &n);
    if (alert_notify(a, &n))
        h->last_notified_ms = now_ms;
    alert_store(a, &n, 0, h->last_notified_ms);
}

static void alert_host_resolved(struct alert_engine *a, struct alert_host *h, int64_t now_ms,
                                const char *why)
{
    struct alert_notice n;
    char dur[32], what[64];

    alert_fmt_ms(now_ms - h->started_ms, dur, sizeof(dur));
    log_info("alert: %s %s resolved after %s%s%s", alert_scope_word(h),
             alert_what(h->code, h->real_code, what, sizeof(what)), dur, why ? ": " : "",
             why ? why : "");
    if (a->nactive > 0)
        a->nactive--;
    alert_notice_host(a, h, ALERT_EVENT_RESOLVED, now_ms, &n);
    if (alert_notify(a, &n))
        h->last_notified_ms = now_ms;
    alert_store(a, &n, 0, h->last_notified_ms);
    h->id = 0;
    h->s.firing = false;
}

static void alert_host_firing(struct alert_engine *a, struct alert_host *h, int64_t old_peak,
                              int64_t now_ms)
{
    const struct alert_config *c = &a->cfg->alert;
    struct alert_notice n;
    bool remind =
        c->exec != NULL && c->renotify_ms > 0 && now_ms - h->last_notified_ms >= c->renotify_ms;

    if (!remind && h->s.peak == old_peak)
        return;
    alert_notice_host(a, h, ALERT_EVENT_FIRING, now_ms, &n);
    if (remind) {
        n.repeat = true;
        alert_notify(a, &n);
        h->last_notified_ms = now_ms;
    }
    if (h->s.peak != old_peak) {
        n.repeat = false;
        alert_am_put_all(a, &n);
    }
    alert_store(a, &n, 0, h->last_notified_ms);
}

static void alert_append_name(char *buf, size_t len, const char *name)
{
    size_t used = strlen(buf);

    if (used + strlen(name) + 8 >= len) {
        if (used + 5 < len && strstr(buf, ", ...") == NULL)
            util_strlcpy(buf + used, ", ...", len - used);
        return;
    }
    snprintf(buf + used, len - used, "%s%s", used ? ", " : "", name);
}

/* ---- the window ---- */

/* The debug line of a latency window (run: ", clear 1 of 2" or ""). */
static void alert_debug_lat(const struct alert_engine *a, const struct alert_tgt *tg,
                            enum alert_level level, enum alert_step step, double base,
                            const char *run)
{
    const struct alert_lat *l = tg->lat;
    char name[16];

    log_debug("alert: %s latency window: %s %" PRIu32 " us of %" PRIu32 " samples, max %" PRIu32
              " us, %s (threshold %.0f us, baseline %.0f us): %s%s",
              tg->name, alert_lat_figure_name(a->lp.q, name, sizeof(name)), l->value_us, l->w.seen,
              l->w.max, level == ALERT_LEVEL_NONE ? "learning" : alert_level_name(level),
              alert_lat_threshold(&a->lp, base), base, alert_step_name(step), run);
}

/* At debug level, one line per window for a series that failed or fires
 * (latency: that has a figure; loss: that lost echoes): what the detector
 * saw, so a test (or a person) can follow it window by window without
 * timing anything. */
static void alert_debug_window(const struct alert_engine *a, const struct alert_tgt *tg,
                               const struct alert_ser *ser, enum alert_step step)
{
    char what[64], run[48] = "";
    /* a class names the code most of this window's failures had */
    int code = ser->code == CONFIG_CODE_TIMEOUT && ser->count > 0
                   ? alert_class_code(ser->count, ser->count_dns)
                   : ser->real_code;
    double base = ser->s.firing ? ser->s.fire_baseline : ser->s.baseline;

    if (ser->s.firing && ser->level == ALERT_LEVEL_CLEAR)
        snprintf(run, sizeof(run), ", clear %" PRId64 " of %" PRId64, ser->s.clear_run,
                 a->p.clear_after);
    if (ser->code == ALERT_CODE_LATENCY) {
        alert_debug_lat(a, tg, ser->level, step, base, run);
        return;
    }
    if (ser->code == ALERT_CODE_LOSS) {
        log_debug("alert: %s loss window: %" PRId64 " of %" PRIu32 " echoes lost, %s (threshold "
                  "%.1f, baseline %.2f): %s%s",
                  tg->name, ser->count, tg->echo_sent,
                  ser->level == ALERT_LEVEL_NONE ? "learning" : alert_level_name(ser->level),
                  alert_detect_threshold(&a->lossp, base, tg->echo_sent), base,
                  alert_step_name(step), run);
        return;
    }
    log_debug("alert: %s %s window: %" PRId64 " of %" PRIu32 " attempts, %s (threshold %.1f, "
              "baseline %.2f): %s%s",
              tg->name, alert_what(ser->code, code, what, sizeof(what)), ser->count, tg->attempts,
              alert_level_name(ser->level), ser->s.threshold, base, alert_step_name(step), run);
}

/* The remote host a target's latency or loss is about: the host it names
 * (successes keep no address, so no other is known). */
static const char *alert_target_host(const struct target *t)
{
    if (t->kind == KIND_RESOLVE)
        return t->server_system ? "system" : t->server_str;
    return t->host != NULL ? t->host : "?";
}

/* A series' level for this window, by what it watches; a latency series
 * also takes its window's figure here. */
static enum alert_level alert_ser_level(struct alert_engine *a, struct alert_tgt *tg,
                                        struct alert_ser *ser)
{
    if (ser->code == ALERT_CODE_LATENCY) {
        if (tg->lat == NULL) /* a latency series lives in tg->lat */
            return ALERT_LEVEL_NONE;
        ser->count = (int64_t)tg->lat->w.seen;
        return alert_lat_level(&a->lp, &ser->s, (double)tg->lat->value_us, ser->count);
    }
    if (ser->code == ALERT_CODE_LOSS)
        return alert_detect_level(&a->lossp, &ser->s, ser->count, tg->echo_sent);
    return alert_detect_level(&a->p, &ser->s, ser->count, tg->attempts);
}

/* Feed the window to a series, by what it watches. A target's loss waits
 * while one of its codes fires or would: an attempt with no reply at all
 * is a timeout, and one outage is one alert. */
static enum alert_step alert_ser_step(struct alert_engine *a, struct alert_tgt *tg,
                                      struct alert_ser *ser, enum alert_hold hold)
{
    if (ser->code == ALERT_CODE_LATENCY)
        return tg->lat == NULL ? ALERT_STEP_QUIET
                               : alert_lat_step(&a->lp, &ser->s, (double)tg->lat->value_us,
                                                (int64_t)tg->lat->w.seen, hold);
    if (ser->code == ALERT_CODE_LOSS) {
        for (size_t k = 0; tg->ser != NULL && k < tg->nser; k++)
            if (tg->ser[k].s.firing || tg->ser[k].level == ALERT_LEVEL_FIRE)
                hold = ALERT_HOLD_ALL;
        return alert_detect_step(&a->lossp, &ser->s, ser->count, tg->echo_sent, hold);
    }
    return alert_detect_step(&a->p, &ser->s, ser->count, tg->attempts, hold);
}

/* A target's latency for this window before the host-wide view: its
 * figure, and its level when plain; one at half-way or above gets its
 * full series (and is judged with the others). */
static void alert_lat_prepare(struct alert_engine *a, struct alert_tgt *tg)
{
    struct alert_lat *l = tg->lat;
    struct alert_series v;
    enum alert_level level;
    size_t hidx;

    l->value_us = l->w.seen > 0 ? alert_lat_win_figure(&l->w, a->lp.q) : 0;
    if (l->full != NULL)
        return;
    alert_lat_view(l, &v);
    level = alert_lat_level(&a->lp, &v, (double)l->value_us, (int64_t)l->w.seen);
    if (level >= ALERT_LEVEL_WARM) {
        alert_lat_full(a, tg);
        return;
    }
    if (level == ALERT_LEVEL_CLEAR &&
        (hidx = alert_host_find(a->hs, a->nhs, ALERT_CODE_LATENCY)) != SIZE_MAX) {
        a->hs[hidx].tally.eligible++;
        a->hs[hidx].tally.count += (int64_t)l->w.seen;
        a->hs[hidx].tally.attempts += tg->attempts;
    }
}

/* The window of a plain latency series: it learns (or waits while a
 * host-wide alert holds it), and stays plain. */
static void alert_lat_step_plain(struct alert_engine *a, struct alert_tgt *tg, bool debug)
{
    struct alert_lat *l = tg->lat;
    size_t hidx = alert_host_find(a->hs, a->nhs, ALERT_CODE_LATENCY);
    enum alert_hold hold = hidx != SIZE_MAX ? a->hs[hidx].hold : ALERT_HOLD_NONE;
    struct alert_series v;
    enum alert_level level;
    enum alert_step step;

    alert_lat_view(l, &v);
    level = alert_lat_level(&a->lp, &v, (double)l->value_us, (int64_t)l->w.seen);
    step = alert_lat_step(&a->lp, &v, (double)l->value_us, (int64_t)l->w.seen, hold);
    alert_lat_plain(l, &v);
    if (debug && l->w.seen > 0)
        alert_debug_lat(a, tg, level, step, v.baseline, "");
}

/* O(targets x watched codes): levels first (the host-wide view needs all
 * of them), then the host-wide series, then each target's. */
static void alert_evaluate(struct alert_engine *a)
{
    int64_t now_ms = util_now_ms();

    bool debug = log_get_level() >= LOG_LEVEL_DEBUG;

    for (size_t h = 0; h < a->nhs; h++) {
        memset(&a->hs[h].tally, 0, sizeof(a->hs[h].tally));
        a->hs[h].targets[0] = '\0';
        a->hs[h].count_dns = 0;
        alert_hostset_reset(&a->hs[h].remote);
    }
    for (size_t i = 0; i < a->ntg; i++) {
        struct alert_tgt *tg = &a->tg[i];
        const struct target *t = &a->cfg->targets[i];
        if (tg->ser == NULL) {
            /* all-zero series, no failure: each is a clear window when the
             * target ran (min_failures >= 1), counted as eligible */
            for (size_t k = 0; k < tg->nser && tg->attempts > 0; k++) {
                size_t hidx = alert_host_find(a->hs, a->nhs, t->alert_codes[k]);
                if (hidx == SIZE_MAX)
                    continue;
                a->hs[hidx].tally.eligible++;
                a->hs[hidx].tally.attempts += tg->attempts;
            }
        }
        if (tg->lat != NULL)
            alert_lat_prepare(a, tg);
        /* no echo lost yet: a clear window once warm, like a code's */
        if (tg->loss == NULL && tg->echo_sent > 0 && tg->windows >= a->lossp.warmup) {
            size_t hidx = alert_host_find(a->hs, a->nhs, ALERT_CODE_LOSS);
            if (hidx != SIZE_MAX) {
                a->hs[hidx].tally.eligible++;
                a->hs[hidx].tally.attempts += tg->echo_sent;
            }
        }
        for (size_t k = 0; k < tg->nser + ALERT_TGT_METRICS; k++) {
            struct alert_ser *ser = alert_tgt_series(tg, k);
            struct alert_host *h;
            if (ser == NULL)
                continue;
            ser->level = alert_ser_level(a, tg, ser);
            if (ser->level == ALERT_LEVEL_NONE || ser->hidx == SIZE_MAX)
                continue;
            h = &a->hs[ser->hidx];
            h->tally.eligible++;
            h->tally.count += ser->count;
            h->count_dns += ser->count_dns;
            h->tally.attempts += ser->code == ALERT_CODE_LOSS ? tg->echo_sent : tg->attempts;
            if (ser->level >= ALERT_LEVEL_WARM)
                h->tally.warm++;
            if (ser->level == ALERT_LEVEL_FIRE) {
                h->tally.fire++;
                alert_append_name(h->targets, sizeof(h->targets), tg->name);
                alert_hostset_add(&h->remote, alert_code_metric(ser->code) == ALERT_METRIC_CODE
                                                  ? ser_host(ser)
                                                  : alert_target_host(t));
            }
        }
    }
    for (size_t i = 0; i < a->nhs; i++) {
        struct alert_host *h = &a->hs[i];
        int64_t old_peak = h->s.peak;
        switch (alert_detect_host_step(&a->p, &h->s, &h->tally)) {
        case ALERT_STEP_FIRED:
            alert_host_fired(a, h, now_ms);
            break;
        case ALERT_STEP_RESOLVED:
            alert_host_resolved(a, h, now_ms, NULL);
            break;
        case ALERT_STEP_FIRING:
            alert_host_firing(a, h, old_peak, now_ms);
            break;
        default:
            break;
        }
        h->hold = alert_detect_host_hold(&a->p, &h->s, &h->tally);
    }
    for (size_t i = 0; i < a->ntg; i++) {
        struct alert_tgt *tg = &a->tg[i];
        if (tg->lat != NULL && tg->lat->full == NULL)
            alert_lat_step_plain(a, tg, debug);
        /* a zero series with no failure steps to itself: nothing to do */
        for (size_t k = 0; k < tg->nser + ALERT_TGT_METRICS; k++) {
            struct alert_ser *ser = alert_tgt_series(tg, k);
            int64_t old_peak, old_windows;
            bool was_firing;
            enum alert_step step;
            if (ser == NULL)
                continue;
            old_peak = ser->s.peak;
            old_windows = ser->s.fire_windows;
            was_firing = ser->s.firing;
            step = alert_ser_step(a, tg, ser,
                                  ser->hidx != SIZE_MAX ? a->hs[ser->hidx].hold : ALERT_HOLD_NONE);
            if (debug && (ser->count > 0 || was_firing))
                alert_debug_window(a, tg, ser, step);
            switch (step) {
            case ALERT_STEP_FIRED:
                alert_target_fired(a, tg, ser, now_ms);
                break;
            case ALERT_STEP_RESOLVED:
                alert_target_resolved(a, tg, ser, now_ms, NULL);
                break;
            case ALERT_STEP_FIRING:
                alert_target_firing(a, tg, ser, old_peak, old_windows, now_ms);
                break;
            case ALERT_STEP_HELD: {
                enum alert_hold hh =
                    ser->hidx != SIZE_MAX ? a->hs[ser->hidx].hold : ALERT_HOLD_NONE;
                log_debug("alert: %s %s held back: %s", tg->name, alert_watch_name(ser->code),
                          hh == ALERT_HOLD_ALL ? "the alert of many targets covers it"
                          : hh == ALERT_HOLD_ONCE
                              ? "many targets fail alike, waiting a window for the view of all "
                                "of them"
                              : "an alert of its failures covers it");
                break;
            }
            default:
                break;
            }
            ser->count = 0;
            ser->count_dns = 0;
            if (ser->txt != NULL) {
                free(ser->txt->first);
                free(ser->txt->host);
                ser->txt->first = ser->txt->host = NULL;
                ser->txt->first_icmp = false;
            }
            if (ser->code == ALERT_CODE_LATENCY && tg->lat != NULL && alert_lat_is_plain(ser)) {
                alert_lat_plain(tg->lat, &ser->s);
                alert_lat_free_full(tg->lat);
            } else if (ser->code == ALERT_CODE_LOSS && alert_loss_is_spent(ser)) {
                alert_ser_free(tg->loss);
                free(tg->loss);
                tg->loss = NULL;
            }
        }
        if (tg->lat != NULL) {
            /* its first half has been judged twice: the second half stays
             * for the next half-way tick */
            alert_lat_win_slide(&tg->lat->w, tg->lat->half);
            tg->lat->half = (uint16_t)tg->lat->w.n;
            tg->lat->prev_attempts = tg->attempts;
        }
        if (tg->attempts > 0 && tg->windows < UINT8_MAX)
            tg->windows++;
        tg->attempts = 0;
        tg->echo_sent = 0;
    }
}

static void alert_arm(struct alert_engine *a)
{
    int64_t now = util_mono_us(), wait_us;
    struct timeval tv;

    /* a stalled loop skips windows rather than running several at once */
    if (a->next_us <= now)
        a->next_us = now + a->window_ms * 1000;
    wait_us = a->next_us - now;
    tv.tv_sec = (time_t)(wait_us / 1000000);
    tv.tv_usec = (suseconds_t)(wait_us % 1000000);
    evtimer_add(a->ev_window, &tv);
    /* and half-way through it (none when that is past already) */
    wait_us -= a->window_ms * 500;
    evtimer_del(a->ev_half);
    if (wait_us > 0) {
        tv.tv_sec = (time_t)(wait_us / 1000000);
        tv.tv_usec = (suseconds_t)(wait_us % 1000000);
        evtimer_add(a->ev_half, &tv);
    }
}

/* Half-way through a window: every latency series is judged on the last
 * window length (the second half of the window before and the first
 * half of this one) by alert_lat_step_half: at FIRE it fires a candidate
 * now, or becomes one for the window's end to confirm. So a delay that
 * starts anywhere in a window fires within two window lengths, where
 * whole windows alone take up to three when it starts in a window's
 * second half. When more than one target is at FIRE and host-wide
 * latency alerts are on, nothing happens: many targets slowing at once
 * are the host-wide view's, judged at the window's end. */
static void alert_half_cb(evutil_socket_t fd, short what, void *arg)
{
    struct alert_engine *a = arg;
    int64_t now_ms = util_now_ms();
    bool debug = log_get_level() >= LOG_LEVEL_DEBUG;
    size_t hidx = alert_host_find(a->hs, a->nhs, ALERT_CODE_LATENCY), nfire = 0;
    enum alert_hold hold = hidx != SIZE_MAX ? a->hs[hidx].hold : ALERT_HOLD_NONE;

    (void)fd;
    (void)what;
    /* the figures, and how many are at FIRE */
    for (size_t i = 0; i < a->ntg; i++) {
        struct alert_lat *l = a->tg[i].lat;
        struct alert_series v;
        if (l == NULL)
            continue;
        l->value_us = l->w.seen > 0 ? alert_lat_win_figure(&l->w, a->lp.q) : 0;
        if (l->full != NULL)
            v = l->full->ser.s;
        else
            alert_lat_view(l, &v);
        if (!v.firing && alert_lat_level(&a->lp, &v, (double)l->value_us, (int64_t)l->w.seen) ==
                             ALERT_LEVEL_FIRE)
            nfire++;
    }
    if (hidx != SIZE_MAX && nfire > 1 && hold == ALERT_HOLD_NONE)
        hold = ALERT_HOLD_ONCE;
    for (size_t i = 0; i < a->ntg; i++) {
        struct alert_tgt *tg = &a->tg[i];
        struct alert_lat *l = tg->lat;
        struct alert_series v;
        struct alert_ser *ser;
        enum alert_step step;
        if (l == NULL)
            continue;
        if (nfire > 0 && hold == ALERT_HOLD_NONE) {
            if (l->full != NULL)
                v = l->full->ser.s;
            else
                alert_lat_view(l, &v);
            if (!v.firing && alert_lat_level(&a->lp, &v, (double)l->value_us, (int64_t)l->w.seen) ==
                                 ALERT_LEVEL_FIRE) {
                ser = alert_lat_full(a, tg);
                /* its samples stand for its attempts: the failed ones of
                 * half a window are not counted apart */
                l->full->half_attempts = (int64_t)l->w.seen;
                step = alert_lat_step_half(&a->lp, &ser->s, (double)l->value_us, (int64_t)l->w.seen,
                                           hold);
                if (debug) {
                    char name[16];
                    log_debug("alert: %s latency half window: %s %" PRIu32 " us of %" PRIu32
                              " samples (threshold %.0f us, baseline %.0f us): %s",
                              tg->name, alert_lat_figure_name(a->lp.q, name, sizeof(name)),
                              l->value_us, l->w.seen, alert_lat_threshold(&a->lp, ser->s.baseline),
                              ser->s.baseline, alert_step_name(step));
                }
                if (step == ALERT_STEP_FIRED)
                    alert_target_fired(a, tg, ser, now_ms);
                l->full->half_attempts = 0;
            }
        }
        alert_lat_win_slide(&l->w, l->half);
        l->half = (uint16_t)l->w.n;
    }
}

static void alert_window_cb(evutil_socket_t fd, short what, void *arg)
{
    struct alert_engine *a = arg;

    (void)fd;
    (void)what;
    alert_evaluate(a);
    a->next_us += a->window_ms * 1000;
    alert_arm(a);
}

/* ---- results ---- */

void alert_observe(struct alert_engine *a, const struct result *r)
{
    uintptr_t first, t;
    struct alert_tgt *tg;

    if (a == NULL || r->target == NULL || a->cfg == NULL || a->ntg == 0)
        return;
    /* the result's target is an element of cfg->targets (O(1)); one of a
     * config that is no longer current is not counted */
    first = (uintptr_t)a->cfg->targets;
    t = (uintptr_t)r->target;
    if (t < first || t >= first + a->ntg * sizeof(struct target) ||
        (t - first) % sizeof(struct target) != 0)
        return;
    tg = &a->tg[(t - first) / sizeof(struct target)];
    tg->attempts++;
    if (r->ok && r->target->alert_latency) {
        if (tg->lat == NULL)
            alert_lat_alloc(tg);
        alert_lat_win_add(&tg->lat->w, r->latency_us, &a->rng);
    }
    if (r->echo_sent > 0 && r->target->alert_loss) {
        uint32_t lost = r->echo_recv < r->echo_sent ? (uint32_t)(r->echo_sent - r->echo_recv) : 0;
        tg->echo_sent += r->echo_sent;
        if (lost > 0) {
            if (tg->loss == NULL)
                alert_loss_alloc(a, tg);
            tg->loss->count += lost;
        }
    }
    if (r->ok)
        return;
    if (tg->ser == NULL) {
        const struct target *tt = &a->cfg->targets[tg - a->tg];
        size_t k = 0;
        while (k < tt->alert_ncodes && !alert_watch_match(tt->alert_codes[k], r))
            k++;
        if (k == tt->alert_ncodes)
            return; /* not a watched code */
        alert_tgt_alloc(tg, tt, a->hs, a->nhs);
    }
    /* every series it matches: a DNS timeout counts for "timeout" and for
     * 11002 when both are watched */
    for (size_t k = 0; k < tg->nser; k++) {
        struct alert_ser *ser = &tg->ser[k];
        if (!alert_watch_match(ser->code, r))
            continue;
        if (ser->code == CONFIG_CODE_TIMEOUT && r->wsa_code == WSATRY_AGAIN)
            ser->count_dns++;
        /* one example per window: formatting every failure would cost the
         * loop more than counting it */
        if (ser->count++ == 0) {
            char buf[ALERT_FIRST_MAX];
            util_snprintf_cut(buf, sizeof(buf), "%s%s%s %s%s%s", result_phase_name(r->phase),
                              r->remote[0] ? " " : "", r->remote, r->raw, r->detail[0] ? ": " : "",
                              r->detail);
            text_set(&ser_text(ser)->first, buf);
            ser->txt->first_icmp = r->icmp;
            ser->txt->first_icmp_type = r->icmp_type;
            ser->txt->first_icmp_code = r->icmp_code;
            util_strlcpy(ser->txt->first_icmp_from, r->icmp_from,
                         sizeof(ser->txt->first_icmp_from));
            alert_remote_host(r, r->target, buf, sizeof(buf));
            text_set(&ser_text(ser)->host, buf);
        }
    }
}

size_t alert_active(const struct alert_engine *a)
{
    return a != NULL ? a->nactive : 0;
}

/* The wsa_name label of a firing series: the code's name, or "latency" /
 * "loss" for those alerts (they have no code). */
static const char *alert_firing_name(int code, int real_code)
{
    enum alert_metric m = alert_code_metric(code);

    return m != ALERT_METRIC_CODE ? alert_metric_name(m) : alert_code_name(real_code);
}

void alert_foreach_firing(const struct alert_engine *a, alert_firing_fn fn, void *arg)
{
    for (size_t i = 0; a != NULL && i < a->ntg; i++)
        for (size_t k = 0; k < a->tg[i].nser + ALERT_TGT_METRICS; k++) {
            const struct alert_ser *ser = alert_tgt_series(&a->tg[i], k);
            if (ser != NULL && ser->s.firing)
                fn(arg, a->tg[i].name, alert_firing_name(ser->code, ser->real_code));
        }
    for (size_t h = 0; a != NULL && h < a->nhs; h++)
        if (a->hs[h].s.firing)
            fn(arg, ALERT_HOST_TARGET, alert_firing_name(a->hs[h].code, a->hs[h].real_code));
}

/* ---- building the tables from a config ---- */

static size_t alert_host_index(struct alert_host **hs, size_t *nhs, int code)
{
    struct alert_host *n;

    for (size_t i = 0; i < *nhs; i++)
        if ((*hs)[i].code == code)
            return i;
    n = realloc(*hs, (*nhs + 1) * sizeof(*n));
    if (n == NULL)
        fatalx("out of memory");
    *hs = n;
    memset(&n[*nhs], 0, sizeof(n[*nhs]));
    n[*nhs].code = code;
    n[*nhs].real_code = code == CONFIG_CODE_TIMEOUT ? WSAETIMEDOUT : code;
    return (*nhs)++;
}

/* Fresh per-target and host-wide tables for cfg (no state yet). */
static void alert_build(const struct config *cfg, struct alert_tgt **tgp, size_t *ntgp,
                        struct alert_host **hsp, size_t *nhsp)
{
    struct alert_tgt *tg = calloc(cfg->ntargets ? cfg->ntargets : 1, sizeof(*tg));
    struct alert_host *hs = NULL;
    size_t nhs = 0;

    if (tg == NULL)
        fatalx("out of memory");
    for (size_t i = 0; i < cfg->ntargets; i++) {
        const struct target *t = &cfg->targets[i];
        tg[i].name = t->name;
        tg[i].labels = t->labels;
        tg[i].severity = t->severity;
        tg[i].db_id = t->db_id;
        tg[i].nser = t->alert_ncodes;
        for (size_t k = 0; k < t->alert_ncodes; k++)
            alert_host_index(&hs, &nhs, t->alert_codes[k]); /* series come later */
        if (t->alert_latency)
            alert_host_index(&hs, &nhs, ALERT_CODE_LATENCY);
        if (t->alert_loss)
            alert_host_index(&hs, &nhs, ALERT_CODE_LOSS);
    }
    *tgp = tg;
    *ntgp = cfg->ntargets;
    *hsp = hs;
    *nhsp = nhs;
}

static void alert_free_tables(struct alert_tgt *tg, size_t ntg, struct alert_host *hs, size_t nhs)
{
    for (size_t h = 0; h < nhs; h++)
        alert_hostset_free(&hs[h].remote);
    for (size_t i = 0; i < ntg; i++) {
        for (size_t k = 0; tg[i].ser != NULL && k < tg[i].nser; k++)
            text_free(tg[i].ser[k].txt);
        free(tg[i].ser);
        alert_lat_free(tg[i].lat);
        alert_ser_free(tg[i].loss);
        free(tg[i].loss);
    }
    free(tg);
    free(hs);
}

/* alert_build()'s tables for a reload, made on the reload thread: at
 * 200,000 targets their allocation and first touch were a third of the
 * swap's time on the loop. */
struct alert_prepared {
    struct alert_tgt *tg;
    size_t ntg;
    struct alert_host *hs;
    size_t nhs;
};

struct alert_prepared *alert_prepare(const struct config *cfg)
{
    struct alert_prepared *ap = calloc(1, sizeof(*ap));

    if (ap != NULL)
        alert_build(cfg, &ap->tg, &ap->ntg, &ap->hs, &ap->nhs);
    return ap;
}

void alert_prepared_free(struct alert_prepared *ap)
{
    if (ap == NULL)
        return;
    alert_free_tables(ap->tg, ap->ntg, ap->hs, ap->nhs);
    free(ap);
}

/* What the Alertmanager clients are made from, as one string: the
 * clients are made anew when it changes. The targets' labels and
 * severities are in it by a hash, so that a reload that changes them
 * re-sends every firing alert with its new labels. */
static char *alert_am_signature(const struct alert_engine *a, int64_t resend)
{
    const struct config *cfg = a->cfg;
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    char *sig;

    for (size_t i = 0; i < cfg->ntargets; i++) {
        const char *parts[] = {cfg->targets[i].name, cfg->targets[i].labels,
                               cfg->targets[i].severity};
        /* a target that says neither leaves it alone: adding or removing
         * one keeps the clients, their queues and their backoff */
        if (parts[1] == NULL && parts[2] == NULL)
            continue;
        for (size_t k = 0; k < 3; k++) {
            for (const char *c = parts[k] ? parts[k] : ""; *c; c++)
                h = (h ^ (unsigned char)*c) * 1099511628211ULL;
            h = (h ^ 0x1f) * 1099511628211ULL;
        }
    }
    if (asprintf(&sig, "%s\x1f%" PRId64 "\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%" PRIx64,
                 cfg->alert.alertmanager_url, resend, cfg->labels ? cfg->labels : "",
                 cfg->alert.severity ? cfg->alert.severity : "", cfg->web_url ? cfg->web_url : "",
                 cfg->alert.am_ca_file ? cfg->alert.am_ca_file : "", cfg->alert.am_tls_id,
                 cfg->alert.am_auth ? cfg->alert.am_auth : "", h) < 0)
        fatalx("out of memory");
    return sig;
}

/* Alertmanager follows alertmanager_url and the keys that shape what is
 * posted (and the window, which sets the re-send period); a new client is
 * told about every firing alert. Alerts a client still held for a peer
 * that was down go with it: Alertmanager ends them at their endsAt. */
static void alert_am_follow(struct alert_engine *a)
{
    const char *url = a->cfg->alert.alertmanager_url;
    int64_t resend = a->window_ms;
    char err[512];
    int64_t now_ms = util_now_ms();
    struct alert_am_opts o;
    char *copy, *save = NULL, *sig;

    if (resend < ALERT_RESEND_MIN_MS)
        resend = ALERT_RESEND_MIN_MS;
    if (resend > ALERT_RESEND_MAX_MS)
        resend = ALERT_RESEND_MAX_MS;
    if (url == NULL && a->am_urls == NULL)
        return;
    sig = url != NULL ? alert_am_signature(a, resend) : NULL;
    if (sig != NULL && a->am_urls != NULL && strcmp(a->am_urls, sig) == 0) {
        free(sig);
        return;
    }
    alert_am_clear(a);
    a->am_resend_ms = resend;
    if (url == NULL)
        return;
    a->am_urls = sig;
    if ((copy = strdup(url)) == NULL)
        fatalx("out of memory");
    o = (struct alert_am_opts){.resend_ms = resend,
                               .instance = a->instance,
                               .labels = a->cfg->labels,
                               .severity = a->cfg->alert.severity,
                               .web_url = a->cfg->web_url,
                               .ca_file = a->cfg->alert.am_ca_file,
                               .auth = a->cfg->alert.am_auth,
                               .tls = a->cfg->alert.am_tls};
    /* one client per URL: each has its own connection, queue, deadline
     * and backoff, so a slow one never holds back another */
    for (char *w = strtok_r(copy, ALERT_AM_URL_SEP, &save); w != NULL;
         w = strtok_r(NULL, ALERT_AM_URL_SEP, &save)) {
        struct alert_am *am;
        struct alert_am **n;
        o.url = w;
        am = alert_am_new(a->base, &o, err, sizeof(err));
        if (am == NULL) {
            log_error("%s; alerts are not sent there", err);
            continue;
        }
        if ((n = realloc(a->am, (a->nam + 1) * sizeof(*n))) == NULL)
            fatalx("out of memory");
        a->am = n;
        a->am[a->nam++] = am;
    }
    free(copy);
    for (size_t i = 0; i < a->nhs; i++) {
        struct alert_notice n;
        if (!a->hs[i].s.firing)
            continue;
        alert_notice_host(a, &a->hs[i], ALERT_EVENT_FIRING, now_ms, &n);
        alert_am_put_all(a, &n);
    }
    for (size_t i = 0; i < a->ntg; i++) {
        for (size_t k = 0; k < a->tg[i].nser + ALERT_TGT_METRICS; k++) {
            struct alert_ser *ser = alert_tgt_series(&a->tg[i], k);
            struct alert_notice n;
            if (ser == NULL || !ser->s.firing)
                continue;
            alert_notice_target(a, &a->tg[i], ser, ALERT_EVENT_FIRING, now_ms, &n);
            alert_am_put_all(a, &n);
        }
    }
}

/* ---- start: alerts still firing in the database, baselines ---- */

static struct alert_tgt *alert_tgt_by_db_id(struct alert_engine *a, int64_t id)
{
    for (size_t i = 0; i < a->ntg; i++)
        if (a->tg[i].db_id == id && id > 0)
            return &a->tg[i];
    return NULL;
}

static struct alert_ser *alert_ser_by_code(struct alert_tgt *tg, int code)
{
    for (size_t k = 0; tg != NULL && tg->ser != NULL && k < tg->nser; k++)
        if (tg->ser[k].code == code)
            return &tg->ser[k];
    return NULL;
}

/* The target's series that owns a stored alert of `code` with `detail`
 * (made if the target watches it). */
static struct alert_ser *alert_ser_for_row(struct alert_engine *a, struct alert_tgt *tg, int code,
                                           const char *detail)
{
    if (tg == NULL)
        return NULL;
    alert_tgt_alloc(tg, &a->cfg->targets[tg - a->tg], a->hs, a->nhs);
    for (size_t k = 0; tg->ser != NULL && k < tg->nser; k++)
        if (alert_watch_owns(tg->ser[k].code, code, detail))
            return &tg->ser[k];
    return NULL;
}

/* The series a code's per-minute history seeds: the code's own, or the
 * class "timeout" for WSAETIMEDOUT. The rollups keep no raw outcome, so
 * WSATRY_AGAIN history (SERVFAIL and silence alike) seeds nothing there:
 * a baseline too low only leaves the min_failures floor to hold, one too
 * high would hide a real outage for hours. */
static struct alert_ser *alert_ser_for_history(struct alert_engine *a, struct alert_tgt *tg,
                                               int code)
{
    struct alert_ser *ser = alert_ser_for_row(a, tg, code, "");

    if (ser == NULL && code == WSAETIMEDOUT)
        ser = alert_ser_by_code(tg, CONFIG_CODE_TIMEOUT);
    return ser;
}

static struct alert_host *alert_host_for_row(struct alert_engine *a, int code, const char *detail)
{
    for (size_t i = 0; i < a->nhs; i++)
        if (alert_code_metric(code) != ALERT_METRIC_CODE
                ? a->hs[i].code == code
                : alert_watch_owns(a->hs[i].code, code, detail))
            return &a->hs[i];
    return NULL;
}

/* The latency or loss series a stored row of tg belongs to (made if the
 * target has it on). */
static struct alert_ser *alert_metric_ser_for_row(struct alert_engine *a, struct alert_tgt *tg,
                                                  int code)
{
    const struct target *t;

    if (tg == NULL)
        return NULL;
    t = &a->cfg->targets[tg - a->tg];
    if (code == ALERT_CODE_LATENCY && t->alert_latency) {
        if (tg->lat == NULL)
            alert_lat_alloc(tg);
        return alert_lat_full(a, tg);
    }
    if (code == ALERT_CODE_LOSS && t->alert_loss) {
        if (tg->loss == NULL)
            alert_loss_alloc(a, tg);
        return tg->loss;
    }
    return NULL;
}

static void alert_restore_series(struct alert_series *s, const struct store_alert *row)
{
    s->firing = true;
    s->baseline = row->baseline;
    s->fire_baseline = row->baseline;
    s->fired_count = row->count;
    s->fired_attempts = row->attempts;
    s->peak = row->peak;
    s->clear_run = 0;
}

/* A latency or loss row's figures back into the units of its series
 * (see alert_notice_figures). It is warm: it fired. The count of
 * windows over the threshold starts again at 1. */
static void alert_restore_metric(struct alert_tgt *tg, struct alert_ser *ser,
                                 const struct store_alert *row)
{
    if (ser->code == ALERT_CODE_LATENCY) {
        ser->s.fired_count = row->has_value ? (int64_t)row->value : row->peak;
        ser->s.fired_attempts = row->count;
        tg->lat->full->fired_attempts = row->attempts;
    } else if (ser->code == ALERT_CODE_LOSS) {
        ser->s.baseline = ser->s.fire_baseline = row->baseline * (double)row->attempts;
    } else {
        return;
    }
    ser->s.learnt = ALERT_WARMUP_WINDOWS;
    ser->s.fire_windows = 1;
}

/* An alert of the database whose target or code is no longer watched:
 * resolved now, with the usual notifications. */
/* The pseudo code of a stored row's series: its metric's, or its code. */
static int alert_row_code(const struct store_alert *row)
{
    if (strcmp(row->metric, "latency") == 0)
        return ALERT_CODE_LATENCY;
    if (strcmp(row->metric, "loss") == 0)
        return ALERT_CODE_LOSS;
    return row->wsa_code;
}

static void alert_resolve_orphan(struct alert_engine *a, const struct store_alert *row,
                                 int64_t now_ms)
{
    struct alert_notice n;
    int64_t notified = row->last_notified_ms;
    int code = alert_row_code(row);
    char t[64];

    memset(&n, 0, sizeof(n));
    n.event = ALERT_EVENT_RESOLVED;
    n.host = row->target_id == 0;
    n.id = row->id;
    util_strlcpy(n.target, ALERT_HOST_TARGET, sizeof(n.target));
    n.metric = alert_code_metric(code);
    n.local = n.host && strstr(row->detail, ALERT_LOCAL_WORDS) != NULL;
    alert_notice_words(a, row->wsa_code,
                       n.metric == ALERT_METRIC_CODE &&
                               alert_watch_owns(CONFIG_CODE_TIMEOUT, row->wsa_code, row->detail)
                           ? ALERT_CLASS_TIMEOUT
                           : NULL,
                       &n);
    if (n.metric != ALERT_METRIC_CODE)
        n.value = row->value;
    n.count = row->count;
    n.attempts = row->attempts;
    n.peak = row->peak;
    n.baseline = row->baseline;
    n.window_ms = a->window_ms;
    n.started_ms = row->started_ms;
    n.resolved_ms = now_ms;
    util_strlcpy(n.detail, row->detail, sizeof(n.detail));
    /* the name it fired with, so Alertmanager sees the same labels */
    if (!n.host && row->target_name[0] != '\0')
        util_strlcpy(n.target, row->target_name, sizeof(n.target));
    else if (!n.host)
        snprintf(n.target, sizeof(n.target), "#%" PRId64, row->target_id);
    util_strlcpy(n.targets, n.target, sizeof(n.targets));
    log_info(
        "alert: %s %s resolved: no longer watched",
        n.host ? (n.local ? "host-wide" : "several targets") : n.target,
        alert_what(n.watch_class != NULL ? CONFIG_CODE_TIMEOUT : code, n.wsa_code, t, sizeof(t)));
    if (alert_notify(a, &n))
        notified = now_ms;
    alert_store(a, &n, row->target_id, notified);
}

static void alert_restore(struct alert_engine *a)
{
    struct store_alert *rows = NULL;
    struct store_baseline *bl = NULL;
    struct alert_notice note;
    size_t n = 0, nbl = 0;
    int64_t now_ms = util_now_ms();
    char t[40], what[64];

    if (a->st == NULL)
        return;
    /* baselines first: a restored alert then puts back its own */
    if (store_load_baselines(a->st, now_ms - a->cfg->alert.baseline_ms, &bl, &nbl) == 0) {
        for (size_t i = 0; i < nbl; i++) {
            struct alert_ser *ser =
                bl[i].failures > 0 && bl[i].minutes > 0
                    ? alert_ser_for_history(a, alert_tgt_by_db_id(a, bl[i].target_id),
                                            bl[i].wsa_code)
                    : NULL;
            if (ser != NULL)
                ser->s.baseline =
                    (double)bl[i].failures / (double)bl[i].minutes * (double)a->window_ms / 60000.0;
        }
    }
    free(bl);
    if (store_load_alerts(a->st, &rows, &n) < 0)
        return;
    for (size_t i = 0; i < n; i++) {
        const struct store_alert *row = &rows[i];
        int code = alert_row_code(row);
        struct alert_tgt *tg = row->target_id > 0 ? alert_tgt_by_db_id(a, row->target_id) : NULL;
        struct alert_ser *ser = alert_code_metric(code) != ALERT_METRIC_CODE
                                    ? alert_metric_ser_for_row(a, tg, code)
                                    : alert_ser_for_row(a, tg, row->wsa_code, row->detail);
        struct alert_host *h =
            row->target_id == 0 ? alert_host_for_row(a, code, row->detail) : NULL;

        timefmt_iso(row->started_ms, true, t, sizeof(t));
        if (ser != NULL && tg != NULL && !ser->s.firing) {
            alert_restore_series(&ser->s, row);
            alert_restore_metric(tg, ser, row);
            ser->real_code = row->wsa_code;
            ser->id = row->id;
            ser->started_ms = row->started_ms;
            ser->last_notified_ms = row->last_notified_ms;
            {
                char buf[ALERT_DETAIL_MAX];
                util_strlcpy(buf, row->detail, sizeof(buf));
                text_set(&ser_text(ser)->detail, buf);
            }
            log_info("alert: %s %s still firing since %s", tg->name,
                     alert_what(ser->code, ser->real_code, what, sizeof(what)), t);
            alert_notice_target(a, tg, ser, ALERT_EVENT_FIRING, now_ms, &note);
            alert_am_put_all(a, &note);
        } else if (h != NULL && !h->s.firing && a->p.host_min_targets > 0) {
            alert_restore_series(&h->s, row);
            h->real_code = row->wsa_code;
            h->local = strstr(row->detail, ALERT_LOCAL_WORDS) != NULL;
            h->id = row->id;
            h->started_ms = row->started_ms;
            h->last_notified_ms = row->last_notified_ms;
            util_strlcpy(h->detail, row->detail, sizeof(h->detail));
            log_info("alert: %s %s still firing since %s", alert_scope_word(h),
                     alert_what(h->code, h->real_code, what, sizeof(what)), t);
            alert_notice_host(a, h, ALERT_EVENT_FIRING, now_ms, &note);
            alert_am_put_all(a, &note);
        } else {
            alert_resolve_orphan(a, row, now_ms);
            continue;
        }
        a->nactive++;
    }
    free(rows);
}

struct alert_engine *alert_new(struct event_base *base, struct store *st, const struct config *cfg,
                               char *err, size_t errlen)
{
    struct alert_engine *a = calloc(1, sizeof(*a));

    if (a == NULL) {
        snprintf(err, errlen, "alert: out of memory");
        return NULL;
    }
    a->base = base;
    a->st = st;
    a->cfg = cfg;
    a->window_ms = cfg->alert.window_ms;
    a->rng = 0x9e3779b97f4a7c15ULL;
    alert_params_from_config(&a->p, &cfg->alert);
    alert_params_loss(&a->lossp, &cfg->alert);
    alert_lat_params_from_config(&a->lp, &cfg->alert);
    if (gethostname(a->instance, sizeof(a->instance) - 1) < 0 || a->instance[0] == '\0')
        util_strlcpy(a->instance, "localhost", sizeof(a->instance));
    alert_build(cfg, &a->tg, &a->ntg, &a->hs, &a->nhs);
    a->exec = alert_exec_new(base);
    a->ev_window = evtimer_new(base, alert_window_cb, a);
    a->ev_half = evtimer_new(base, alert_half_cb, a);
    if (a->exec == NULL || a->ev_window == NULL || a->ev_half == NULL) {
        snprintf(err, errlen, "alert: cannot create the engine's events");
        alert_free(a);
        return NULL;
    }
    /* Alertmanager first: restored alerts are re-sent, orphans resolved */
    alert_am_follow(a);
    alert_restore(a);
    a->next_us = util_mono_us() + a->window_ms * 1000;
    alert_arm(a);
    return a;
}

/* ---- reload ---- */

/* An old series whose state moved to the new table (no code is this). */
#define ALERT_SER_TAKEN INT_MIN

static int alert_cmp_name(const void *x, const void *y, void *arg)
{
    const struct alert_tgt *tg = arg;
    return strcmp(tg[*(const size_t *)x].name, tg[*(const size_t *)y].name);
}

/* The old target of that name, by binary search over sorted indexes. */
static struct alert_tgt *alert_find_old(struct alert_tgt *old, const size_t *idx, size_t n,
                                        const char *name)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(old[idx[mid]].name, name);
        if (c == 0)
            return &old[idx[mid]];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

void alert_set_config(struct alert_engine *a, const struct config *cfg)
{
    alert_set_config_prepared(a, cfg, NULL);
}

void alert_set_config_prepared(struct alert_engine *a, const struct config *cfg,
                               struct alert_prepared *ap)
{
    struct alert_tgt *otg = a->tg, *ntg;
    struct alert_host *ohs = a->hs, *nhs;
    size_t on = a->ntg, ohn = a->nhs, nn, nhn;
    size_t *idx = malloc((on ? on : 1) * sizeof(*idx));
    bool *moved = calloc(on ? on : 1, sizeof(*moved));
    int64_t now_ms = util_now_ms();
    double rescale = (double)cfg->alert.window_ms / (double)a->window_ms;

    /* a reload linked to the running config (config_link_prev, off the
     * loop) names each target's namesake by index: no sort on the loop */
    bool linked = cfg->prev_idx != NULL && cfg->prev == a->cfg && cfg->prev->ntargets == on;

    if (idx == NULL || moved == NULL)
        fatalx("out of memory");
    for (size_t i = 0; i < on; i++)
        idx[i] = i;
    if (!linked)
        qsort_r(idx, on, sizeof(*idx), alert_cmp_name, otg);
    if (ap != NULL && ap->ntg == cfg->ntargets) {
        ntg = ap->tg;
        nn = ap->ntg;
        nhs = ap->hs;
        nhn = ap->nhs;
        free(ap);
    } else {
        alert_prepared_free(ap);
        alert_build(cfg, &ntg, &nn, &nhs, &nhn);
    }

    /* targets kept: their window counts, baselines and firing alerts move */
    for (size_t i = 0; i < nn; i++) {
        struct alert_tgt *o;
        if (!linked)
            o = alert_find_old(otg, idx, on, ntg[i].name);
        else
            o = cfg->prev_idx[i] != CONFIG_NO_PREV ? &otg[cfg->prev_idx[i]] : NULL;
        if (o == NULL)
            continue;
        moved[o - otg] = true;
        ntg[i].attempts = o->attempts;
        ntg[i].echo_sent = o->echo_sent;
        ntg[i].windows = o->windows;
        /* latency and loss move whole while the target keeps them on;
         * a latency baseline is per attempt, not per window: no rescale */
        if (o->lat != NULL && cfg->targets[i].alert_latency) {
            ntg[i].lat = o->lat;
            if (ntg[i].lat->full != NULL)
                ntg[i].lat->full->ser.hidx = alert_host_find(nhs, nhn, ALERT_CODE_LATENCY);
            o->lat = NULL;
        }
        if (o->loss != NULL && cfg->targets[i].alert_loss) {
            ntg[i].loss = o->loss;
            ntg[i].loss->hidx = alert_host_find(nhs, nhn, ALERT_CODE_LOSS);
            alert_detect_rescale(&ntg[i].loss->s, rescale);
            o->loss = NULL;
        }
        if (o->ser == NULL)
            continue; /* nothing to carry: its series are all zeros */
        alert_tgt_alloc(&ntg[i], &cfg->targets[i], nhs, nhn);
        for (size_t k = 0; ntg[i].ser != NULL && k < ntg[i].nser; k++) {
            struct alert_ser *os = alert_ser_by_code(o, ntg[i].ser[k].code);
            size_t hidx = ntg[i].ser[k].hidx;
            if (os == NULL)
                continue;
            ntg[i].ser[k] = *os; /* its text block moves with it */
            ntg[i].ser[k].hidx = hidx;
            alert_detect_rescale(&ntg[i].ser[k].s, rescale);
            os->code = ALERT_SER_TAKEN;
            os->txt = NULL;
        }
    }
    /* what did not move resolves: removed targets, codes no longer watched */
    for (size_t i = 0; i < on; i++) {
        for (size_t k = 0; k < otg[i].nser + ALERT_TGT_METRICS; k++) {
            struct alert_ser *os = alert_tgt_series(&otg[i], k);
            if (os != NULL && os->code != ALERT_SER_TAKEN && os->s.firing)
                alert_target_resolved(a, &otg[i], os, now_ms,
                                      moved[i] ? "no longer watched" : "target removed");
        }
    }
    for (size_t h = 0; h < ohn; h++) {
        bool kept = false;
        for (size_t j = 0; j < nhn && !kept; j++) {
            if (nhs[j].code != ohs[h].code)
                continue;
            nhs[j].s = ohs[h].s;
            nhs[j].real_code = ohs[h].real_code;
            nhs[j].local = ohs[h].local;
            nhs[j].id = ohs[h].id;
            nhs[j].started_ms = ohs[h].started_ms;
            nhs[j].last_notified_ms = ohs[h].last_notified_ms;
            memcpy(nhs[j].targets, ohs[h].targets, sizeof(nhs[j].targets));
            memcpy(nhs[j].detail, ohs[h].detail, sizeof(nhs[j].detail));
            alert_detect_rescale(&nhs[j].s, rescale);
            kept = true;
        }
        if (!kept && ohs[h].s.firing)
            alert_host_resolved(a, &ohs[h], now_ms, "no target watches the code any more");
    }
    alert_free_tables(otg, on, ohs, ohn);
    free(idx);
    free(moved);

    a->tg = ntg;
    a->ntg = nn;
    a->hs = nhs;
    a->nhs = nhn;
    a->cfg = cfg;
    for (size_t i = 0; i < nn; i++)
        a->tg[i].db_id = cfg->targets[i].db_id;
    alert_params_from_config(&a->p, &cfg->alert);
    alert_params_loss(&a->lossp, &cfg->alert);
    alert_lat_params_from_config(&a->lp, &cfg->alert);
    /* host-wide alerts turned off: the firing ones resolve */
    for (size_t h = 0; h < a->nhs && a->p.host_min_targets <= 0; h++)
        if (a->hs[h].s.firing)
            alert_host_resolved(a, &a->hs[h], now_ms, "host-wide alerts are off");
    if (cfg->alert.window_ms != a->window_ms) {
        a->window_ms = cfg->alert.window_ms;
        a->next_us = util_mono_us() + a->window_ms * 1000;
        evtimer_del(a->ev_window);
        alert_arm(a);
    }
    alert_am_follow(a);
}

void alert_free(struct alert_engine *a)
{
    if (a == NULL)
        return;
    if (a->ev_window)
        event_free(a->ev_window);
    if (a->ev_half)
        event_free(a->ev_half);
    alert_exec_free(a->exec);
    alert_am_clear(a);
    alert_free_tables(a->tg, a->ntg, a->hs, a->nhs);
    free(a);
}
