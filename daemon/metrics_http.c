/* SPDX-License-Identifier: ISC */
/* /metrics over the shared HTTP server (common/http_server.c): the one
 * path it serves, the body netdiagd's counters render into, the log lines
 * through the daemon's logger, and the descriptors kept for probing. The
 * bounds (connections, deadlines from accept, head size, body budget,
 * descriptor reserve, rate-limited log) are the server's. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "http_server.h"
#include "log.h"
#include "metrics_http.h"

#define MH_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define MH_NOT_FOUND    "404 not found: netdiagd serves /metrics\n"

struct metrics_http {
    struct http_server *srv;
    metrics_http_render_fn render;
    void *render_arg;
    size_t ntargets;
    size_t last_len; /* the last body's size, to guess the next one */
};

/* /metrics, with any query: one key, so that every scrape shares the body
 * of the last render for a while. */
static void mh_route(void *arg, const struct http_request *req, struct http_route *out)
{
    (void)arg;
    if (req->path_len != 8 || memcmp(req->path, "/metrics", 8) != 0) {
        out->status = 404;
        out->text = MH_NOT_FOUND;
        return;
    }
    out->status = 200;
    memcpy(out->key, "/metrics", sizeof("/metrics"));
}

static int mh_render(void *arg, const char *key, struct evbuffer *out, struct http_meta *meta)
{
    struct metrics_http *h = arg;

    (void)key;
    (void)meta;
    /* room for the whole body in one chunk, so that making it contiguous
     * costs no copy (a third of the time at 100,000 targets): the last
     * size and a margin, or about 2 KB a target the first time */
    if (evbuffer_expand(out, h->last_len > 0 ? h->last_len + h->last_len / 8 + 4096
                                             : h->ntargets * 2048 + 16384) < 0 ||
        h->render(h->render_arg, out) < 0)
        return -1;
    h->last_len = evbuffer_get_length(out);
    return 0;
}

static void mh_log(void *arg, bool error, const char *line)
{
    (void)arg;
    if (error)
        log_error("%s", line);
    else
        log_warnx("%s", line);
}

static const struct http_server_ops mh_ops = {
    .name = "metrics",
    .listen_what = "metrics_listen",
    .reserve_what = "for probing: one per target",
    .content_type = MH_CONTENT_TYPE,
    .route = mh_route,
    .render = mh_render,
    .log = mh_log,
};

struct metrics_http *metrics_http_new(struct event_base *base, metrics_http_render_fn render,
                                      void *arg)
{
    struct metrics_http *h = calloc(1, sizeof(*h));

    if (h == NULL)
        return NULL;
    h->render = render;
    h->render_arg = arg;
    if ((h->srv = http_server_new(base, &mh_ops, h)) == NULL) {
        free(h);
        return NULL;
    }
    return h;
}

int metrics_http_listen(struct metrics_http *h, const char *addr, char *err, size_t errlen)
{
    return http_server_listen(h->srv, addr, err, errlen);
}

void metrics_http_set_targets(struct metrics_http *h, size_t ntargets)
{
    if (h == NULL)
        return;
    h->ntargets = ntargets;
    http_server_set_reserve(h->srv, ntargets);
}

void metrics_http_invalidate(struct metrics_http *h)
{
    if (h != NULL)
        http_server_invalidate(h->srv);
}

void metrics_http_set_limits(struct metrics_http *h, const struct http_server_limits *lim)
{
    if (h != NULL && lim != NULL)
        http_server_set_limits(h->srv, lim);
}

void metrics_http_get_stats(const struct metrics_http *h, struct http_server_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (h != NULL)
        http_server_get_stats(h->srv, out);
}

void metrics_http_free(struct metrics_http *h)
{
    if (h == NULL)
        return;
    http_server_free(h->srv);
    free(h);
}
