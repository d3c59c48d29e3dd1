/* SPDX-License-Identifier: ISC */
/* Internals shared by the alert engine (alert.c), its latency and loss
 * helpers (alert_metric.c) and its two outside sinks: the facts of one
 * notification, the exec hook (alert_exec.c) and the Alertmanager client
 * (alert_am.c). The sinks depend on this, never on alert.c. */
#ifndef NETDIAG_ALERT_INT_H
#define NETDIAG_ALERT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum alert_event {
    ALERT_EVENT_FIRING,
    ALERT_EVENT_RESOLVED,
};
static inline const char *alert_event_name(enum alert_event ev)
{
    return ev == ALERT_EVENT_RESOLVED ? "resolved" : "firing";
}

/* The name Alertmanager and the hook see for a host-wide alert's target:
 * no target name can hold "*" (config.c allows [A-Za-z0-9._-]). */
#define ALERT_HOST_TARGET "*"

/* What an alert watches. */
enum alert_metric {
    ALERT_METRIC_CODE,    /* failures with a code (or the class timeout) */
    ALERT_METRIC_LATENCY, /* a window's latency percentile (µs) */
    ALERT_METRIC_LOSS,    /* a window's share of echoes lost */
};
/* "code", "latency", "loss": alerts.metric, NETDIAG_METRIC, the label */
const char *alert_metric_name(enum alert_metric m);

/* Everything a sink may say about one alert at one moment. For latency
 * and loss, wsa_code is 0 and wsa_name NULL; value, baseline and
 * threshold are in the unit of the metric (µs; share of echoes lost),
 * count and attempts are the window's samples and attempts (latency) or
 * echoes lost and sent (loss), peak the highest figure in µs (latency)
 * or echoes lost in a window (loss). */
struct alert_notice {
    enum alert_event event;
    enum alert_metric metric;
    double value;       /* latency, loss: the figure of the window that fired */
    const char *figure; /* latency: "median", "p90" (static or the notice's own) */
    char figure_buf[16];
    bool host;               /* many targets at once (target ALERT_HOST_TARGET) */
    bool local;              /* host: the evidence points at the local network */
    bool repeat;             /* a reminder of a still-firing alert (renotify) */
    int64_t id;              /* alerts.id; 0 without a database */
    char target[72];         /* the target's name, or ALERT_HOST_TARGET */
    int wsa_code;            /* the code of the failures (for a class: most of them) */
    const char *watch_class; /* "timeout" for the class, NULL for a plain code */
    const char *wsa_name;    /* static strings of the WSA table */
    const char *meaning;
    int64_t count;    /* failures in the window that fired */
    int64_t attempts; /* attempts in that window */
    int64_t peak;     /* highest count in a window so far */
    double baseline;  /* expected failures per window when it fired */
    double threshold; /* the count that fired it (target alerts) */
    int64_t window_ms;
    int64_t started_ms;
    int64_t resolved_ms; /* 0 while firing */
    char targets[512];   /* host-wide: the targets that failed, "a, b, c" */
    /* the target's own labels and severity (config_opt.c's forms), NULL
     * when it has none or for a host-wide alert */
    const char *labels;
    const char *severity;
    char detail[320]; /* summary and the last failure's detail */
    /* the failure a target's code alert fired with came from an ICMP
     * error: who sent it, its type and code (NETDIAG_ICMP_*, the
     * annotations icmp_from, icmp_type, icmp_code) */
    bool icmp;
    uint8_t icmp_type, icmp_code;
    char icmp_from[46];
};

/* The name a notice goes by in short texts: the WSA name, or the metric. */
const char *alert_notice_name(const struct alert_notice *n);

/* alert_metric.c: one target's successful attempts' latencies in the
 * last window length, in the order they came (judged whole at a window's
 * end and half-way through it); beyond ALERT_LAT_WIN_MAX of them a uniform sample. The
 * first ALERT_LAT_WIN_INLINE live in the struct (the defaults give 6 a
 * window), more on the heap. */
#define ALERT_LAT_WIN_MAX    4096
#define ALERT_LAT_WIN_INLINE 8
struct alert_lat_win {
    union {             /* one or the other: a target pays for both 100,000 times */
        uint32_t *heap; /* cap > 0 */
        uint32_t inl[ALERT_LAT_WIN_INLINE];
    };
    uint32_t n, cap; /* cap 0: the samples are in inl */
    uint32_t seen;   /* latencies added this window */
    uint32_t max;
};
void alert_lat_win_add(struct alert_lat_win *w, int64_t latency_us, uint64_t *rng);
/* The q-quantile of the window (0 when empty); the samples keep their
 * order. */
uint32_t alert_lat_win_figure(const struct alert_lat_win *w, double q);
/* Drop the `drop` oldest samples (latency is judged every half window on
 * the last window length: the half that has had its two turns goes). */
void alert_lat_win_slide(struct alert_lat_win *w, uint32_t drop);
void alert_lat_win_free(struct alert_lat_win *w);
/* "850 µs", "4.25 ms", "16.5 ms", "48 ms", "1.25 s" */
void alert_fmt_us(double us, char *buf, size_t len);
/* "0%", "0.30%", "4.5%", "27%" of a share 0..1 */
void alert_fmt_share(double share, char *buf, size_t len);
/* "median" for q = 0.5, else "p90", "p99.9" (written into buf) */
const char *alert_lat_figure_name(double q, char *buf, size_t len);
/* What a firing latency or loss alert says: "median 48 ms, baseline
 * 11 ms, 3 windows (...)", "loss 27% (8 of 30 echoes), baseline 0.30%,
 * 2 windows (...)". */
struct alert_lat_params;
struct alert_params;
struct alert_series;
void alert_lat_words(const struct alert_lat_params *p, const struct alert_series *s,
                     int64_t attempts, const char *win, char *buf, size_t len);
void alert_loss_words(const struct alert_params *p, const struct alert_series *s, const char *win,
                      char *buf, size_t len);

#endif
