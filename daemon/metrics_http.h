/* SPDX-License-Identifier: ISC */
/* The HTTP side of /metrics (owned by metrics_http.c): the shared HTTP/1.1
 * server of common/http_server.c on the daemon's loop, answering GET and
 * HEAD /metrics with a rendered body and closing, within bounds that a
 * local user cannot push: a cap on connections, one deadline per
 * connection counted from accept, a budget of bytes held for slow
 * readers, descriptors left for probing, and rate-limited log lines. */
#ifndef NETDIAG_METRICS_HTTP_H
#define NETDIAG_METRICS_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "http_server.h"

struct event_base;
struct evbuffer;
struct metrics_http;

/* Defaults: the server's (the unit tests shorten the times through the
 * limits). */
#define METRICS_HTTP_MAX_CONNS   HTTP_SERVER_MAX_CONNS
#define METRICS_HTTP_REQUEST_MS  HTTP_SERVER_REQUEST_MS
#define METRICS_HTTP_TOTAL_MS    HTTP_SERVER_TOTAL_MS
#define METRICS_HTTP_FD_SPARE    HTTP_SERVER_FD_SPARE /* beside one descriptor per target */
#define METRICS_HTTP_BODY_BUDGET HTTP_SERVER_BODY_BUDGET
#define METRICS_HTTP_HEAD_MAX    HTTP_SERVER_HEAD_MAX
#define METRICS_HTTP_LOG_MS      HTTP_SERVER_LOG_MS
#define METRICS_HTTP_SHARE_MS    HTTP_SERVER_SHARE_MS

/* Renders the body of GET /metrics into out: 0, or -1 when out of memory. */
typedef int (*metrics_http_render_fn)(void *arg, struct evbuffer *out);

struct metrics_http *metrics_http_new(struct event_base *base, metrics_http_render_fn render,
                                      void *arg);
/* Listen on `addr` ("127.0.0.1:9470", "[::1]:9470") instead of the current
 * address, if any: a no-op when it is the same. Returns -1 with a message
 * naming the address in err when it cannot be bound; the old listener then
 * keeps serving (when the new address collides with the old one, the old
 * is closed first and reopened on failure). Open connections stay. */
int metrics_http_listen(struct metrics_http *h, const char *addr, char *err, size_t errlen);
/* The number of configured targets: one descriptor each, plus fd_spare,
 * stays free for probing. */
void metrics_http_set_targets(struct metrics_http *h, size_t ntargets);
/* The counters changed in a way a scraper must see at once (a reload):
 * the next request renders a new body. */
void metrics_http_invalidate(struct metrics_http *h);
/* The server's limits and counters (common/http_server.h). */
void metrics_http_set_limits(struct metrics_http *h, const struct http_server_limits *lim);
void metrics_http_get_stats(const struct metrics_http *h, struct http_server_stats *out);
/* Closes the listener and every connection; writes the log lines held. */
void metrics_http_free(struct metrics_http *h);

#endif
