/* SPDX-License-Identifier: ISC */
/* The Alertmanager client: keeps each Alertmanager told about firing and
 * resolved alerts (POST /api/v2/alerts), re-sending while they fire and
 * retrying with backoff, on the loop and never blocking it; and the check
 * of alertmanager_url that `netdiagd -t` makes (owned by alert_am.c). */
#ifndef NETDIAG_ALERT_AM_H
#define NETDIAG_ALERT_AM_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct alert_notice;
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

/* alertmanager_url: one URL or several (an HA pair), separated by blanks
 * or commas, each plain http://host[:port][/path], with user:password@
 * sent as HTTP Basic. Returns 0, or -1 with a message in err that shows
 * no credentials. */
int alert_am_check_urls(const char *value, char *err, size_t errlen);
/* url with any user:password@ replaced by ***@, for messages. */
void alert_am_url_redact(const char *url, char *buf, size_t len);

#endif
