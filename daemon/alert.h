/* SPDX-License-Identifier: ISC */
/* Spike detection on connection-refused / timeout (or any watched) codes
 * per target against its own baseline, host-wide alerts, and where alerts
 * go: the alerts table, the log, an exec hook, Alertmanager (owned by
 * alert.c and its helpers). Runs on the loop thread; never blocks. */
#ifndef NETDIAG_ALERT_H
#define NETDIAG_ALERT_H

#include <stddef.h>

#include "config.h"
#include "result.h"
#include "store.h"

struct event_base;
struct alert_engine;

/* Create the engine for cfg's targets, restoring alerts still firing from
 * the database (a restart continues them, it does not open new ones).
 * Returns NULL with a message in err. */
struct alert_engine *alert_new(struct event_base *base, struct store *st, const struct config *cfg,
                               char *err, size_t errlen);

/* Count one result (every result, ok or not; O(1)). */
void alert_observe(struct alert_engine *a, const struct result *r);

/* A reloaded config: unchanged targets keep their windows, baselines and
 * firing alerts; removed targets' alerts resolve. cfg stays valid until
 * the next call. */
void alert_set_config(struct alert_engine *a, const struct config *cfg);
/* A reload's tables, built from cfg alone off the loop (the reload
 * thread); alert_set_config_prepared() takes them (NULL: built there). */
struct alert_prepared;
struct alert_prepared *alert_prepare(const struct config *cfg);
void alert_prepared_free(struct alert_prepared *ap);
void alert_set_config_prepared(struct alert_engine *a, const struct config *cfg,
                               struct alert_prepared *ap);

/* Alerts firing now (for STATUS= and metrics). */
size_t alert_active(const struct alert_engine *a);
/* Each alert firing now, a target's one after another: the target's name
 * ("*" for a host-wide alert) and the code's name it fires with. O(targets);
 * for /metrics at scrape time. */
typedef void (*alert_firing_fn)(void *arg, const char *target, const char *wsa_name);
void alert_foreach_firing(const struct alert_engine *a, alert_firing_fn fn, void *arg);

/* Shutdown: stop timers, end running hooks (and what they started), free. */
void alert_free(struct alert_engine *a);

#endif
