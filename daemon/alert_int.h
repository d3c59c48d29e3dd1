/* SPDX-License-Identifier: ISC */
/* What the alert engine (alert.c) tells its two outside sinks, the exec
 * hook (alert_exec.c) and the Alertmanager client (alert_am.c): the facts
 * of one notification. The sinks depend on this, never on alert.c. */
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

/* Everything a sink may say about one alert at one moment. */
struct alert_notice {
    enum alert_event event;
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
    char detail[320];    /* summary and the last failure's detail */
};

#endif
