/* SPDX-License-Identifier: ISC */
/* The Prometheus /metrics endpoint, served on the daemon's loop by the
 * bounded HTTP server of metrics_http.c (owned by metrics.c). Off unless
 * metrics_listen is set. */
#ifndef NETDIAG_METRICS_H
#define NETDIAG_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "result.h"
#include "export.h"
#include "store.h"

struct event_base;
struct evbuffer;
struct metrics;

/* Figures read at scrape time from the other modules (loop thread). */
struct metrics_sources {
    void *arg;
    void (*store_stats)(void *arg, struct store_stats *out); /* may be NULL */
    size_t (*alerts_active)(void *arg);                      /* may be NULL */
    size_t (*in_flight)(void *arg);                          /* may be NULL */
    /* calls fn once per alert firing now, a target's one after another
     * (alert_foreach_firing); may be NULL */
    void (*alerts_firing)(void *arg,
                          void (*fn)(void *fnarg, const char *target, const char *wsa_name),
                          void *fnarg);
    /* the export sink's figures; NULL, or running false: no series */
    void (*export_stats)(void *arg, struct export_stats *out);
};

/* Bind `listen` ("127.0.0.1:9470", "[::1]:9470") and serve GET /metrics.
 * Returns NULL with a message in err when the address cannot be bound. */
struct metrics *metrics_start(struct event_base *base, const char *listen,
                              const struct metrics_sources *src, char *err, size_t errlen);

/* Count one result (loop thread, called for every result: keep it cheap). */
void metrics_observe(struct metrics *m, const struct result *r);

/* A new config is running: series of targets no longer configured are
 * dropped so label sets stay bounded; each target's interval, its watched
 * codes' failure counters (created at 0) and metrics_latency follow it. */
void metrics_set_targets(struct metrics *m, const struct config *cfg);

/* A reload finished (ok or not), at wall-clock time now_ms. Only a
 * successful one moves the last-success timestamp. */
void metrics_reload(struct metrics *m, bool ok, int64_t now_ms);

void metrics_stop(struct metrics *m);

/* Move the listener to `listen` (a reload changed metrics_listen), keeping
 * every counter. A no-op returning 0 when `listen` is the current address.
 * Returns -1 with a message in err when it cannot be bound; the old
 * listener then keeps serving (when the new address collides with the old
 * one, the old is closed first and reopened on failure). */
int metrics_rebind(struct metrics *m, const char *listen, char *err, size_t errlen);

/* For the unit tests: a metrics object with no listener, and the body a
 * scrape returns (appended to out). metrics_stop() frees either kind.
 * Every metrics_* function accepts m == NULL and then does nothing. */
struct metrics *metrics_new(const struct metrics_sources *src);
int metrics_render(struct metrics *m, struct evbuffer *out);

#endif
