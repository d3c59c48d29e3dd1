/* Internals shared by the alert engine (alert.c) and its two outside
 * sinks: the facts of one notification, the exec hook (alert_exec.c) and
 * the Alertmanager client (alert_am.c). No other file includes this. */
#ifndef NETDIAG_ALERT_INT_H
#define NETDIAG_ALERT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;

enum alert_event {
    ALERT_EVENT_FIRING,
    ALERT_EVENT_RESOLVED,
};
const char *alert_event_name(enum alert_event ev);

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

/* alert_exec.c: runs the [alert] exec program, at most a few at a time,
 * never blocking the loop; logs each exit status. */
struct alert_exec;
struct alert_exec *alert_exec_new(struct event_base *base);
/* command: the exec value (an absolute path, then words split on blanks). */
void alert_exec_run(struct alert_exec *ex, const char *command, int64_t timeout_ms,
                    const char *instance, const struct alert_notice *n);
size_t alert_exec_running(const struct alert_exec *ex);
/* Stops watching (running hooks are left to finish on their own). */
void alert_exec_free(struct alert_exec *ex);

/* alert_am.c: keeps Alertmanager told about firing and resolved alerts
 * (POST /api/v2/alerts), re-sending while they fire and retrying with
 * backoff, on the loop and never blocking it. */
struct alert_am;
struct alert_am *alert_am_new(struct event_base *base, const char *url, int64_t resend_ms,
                              const char *instance, char *err, size_t errlen);
/* Adds or updates the alert n->id (a resolve is delivered, then dropped). */
void alert_am_put(struct alert_am *am, const struct alert_notice *n);
/* What separates the URLs of alertmanager_url. */
#define ALERT_AM_URL_SEP " ,\t"
/* Alerts waiting to be delivered, firing or resolved (for tests). */
size_t alert_am_pending(const struct alert_am *am);
void alert_am_free(struct alert_am *am);

#endif
