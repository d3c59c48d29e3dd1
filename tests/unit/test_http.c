/* SPDX-License-Identifier: ISC */
/* Unit tests for common/http_server.c through its own interface (the
 * /metrics layer has tests/unit/test_metrics.c): routes and keys, bodies
 * shared per key across more keys than one page has, the status and
 * content type a render sets, the extra headers, bounded header lines. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "http_server.h"
#include "unit.h"
#include "util.h"

struct fake {
    int renders;
    char last_key[HTTP_SERVER_KEY_MAX];
    int logs;
};

/* /k/ANYTHING: key "k:ANYTHING"; /teapot: a render that says 418 in
 * JSON; the rest 404 from the route with its own text. */
static void fake_route(void *arg, const struct http_request *req, struct http_route *out)
{
    (void)arg;
    if (req->path_len > 3 && memcmp(req->path, "/k/", 3) == 0) {
        out->status = 200;
        snprintf(out->key, sizeof(out->key), "k:%.*s", (int)(req->path_len - 3), req->path + 3);
        return;
    }
    if (req->path_len == 7 && memcmp(req->path, "/teapot", 7) == 0) {
        out->status = 200;
        snprintf(out->key, sizeof(out->key), "teapot");
        return;
    }
    out->status = 404;
    out->text = "nothing here\n";
}

static int fake_render(void *arg, const char *key, struct evbuffer *out, struct http_meta *meta)
{
    struct fake *f = arg;

    f->renders++;
    snprintf(f->last_key, sizeof(f->last_key), "%s", key);
    if (strcmp(key, "teapot") == 0) {
        meta->status = 418;
        meta->content_type = "application/json";
    }
    return evbuffer_add_printf(out, "body of %s\n", key) < 0 ? -1 : 0;
}

static void fake_log(void *arg, bool error, const char *line)
{
    (void)error;
    (void)line;
    ((struct fake *)arg)->logs++;
}

static const struct http_server_ops fake_ops = {
    .name = "test",
    .listen_what = "--listen",
    .reserve_what = "for nothing",
    .content_type = "text/plain; charset=utf-8",
    .route = fake_route,
    .render = fake_render,
    .log = fake_log,
};

static int free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
        port = -1;
    else
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

/* One request on a new connection, the loop turned until the server
 * closed it (at most 5 s); the reply in out. */
static size_t exchange(struct event_base *base, int port, const char *req, char *out, size_t cap)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    size_t len = 0;
    int64_t end = util_mono_us() + 5000000;

    out[0] = '\0';
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    fcntl(fd, F_SETFL, O_NONBLOCK);
    (void)send(fd, req, strlen(req), MSG_NOSIGNAL);
    while (util_mono_us() < end) {
        char buf[4096];
        ssize_t n;
        event_base_loop(base, EVLOOP_NONBLOCK);
        n = recv(fd, buf, sizeof(buf), 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
            break;
        if (n > 0) {
            for (ssize_t i = 0; i < n && len + 1 < cap; i++)
                out[len++] = buf[i];
            out[len] = '\0';
            continue;
        }
        poll(NULL, 0, 1);
    }
    close(fd);
    return len;
}

static struct http_server *start(struct event_base *base, struct fake *f, int *port)
{
    struct http_server *h = http_server_new(base, &fake_ops, f);
    struct http_server_limits lim = {
        .max_conns = HTTP_SERVER_MAX_CONNS,
        .request_ms = HTTP_SERVER_REQUEST_MS,
        .total_ms = HTTP_SERVER_TOTAL_MS,
        .fd_spare = HTTP_SERVER_FD_SPARE,
        .body_budget = HTTP_SERVER_BODY_BUDGET,
        .share_ms = 600000, /* everything within the test is shared */
    };
    char addr[64], err[256];

    *port = free_port();
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", *port);
    http_server_set_limits(h, &lim);
    if (http_server_listen(h, addr, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s: %s\n", unit_cur, err);
        http_server_free(h);
        return NULL;
    }
    return h;
}

/* Sixteen keys asked round and round, as the web view's routes are by a
 * crowd: each rendered once, not once per turn (with 8 bodies kept, every
 * turn evicted what the next needed: 32 renders). */
static void test_keys_shared(void)
{
    struct event_base *base = event_base_new();
    struct fake f = {0};
    struct http_server_stats st;
    struct http_server *h;
    static char reply[8192];
    char req[128];
    int port;

    h = start(base, &f, &port);
    UNIT_CHECK(h != NULL);
    if (h == NULL) {
        event_base_free(base);
        return;
    }
    for (int turn = 0; turn < 2; turn++) {
        for (int k = 0; k < 16; k++) {
            snprintf(req, sizeof(req), "GET /k/%d HTTP/1.1\r\n\r\n", k);
            exchange(base, port, req, reply, sizeof(reply));
            UNIT_CHECK(strncmp(reply, "HTTP/1.1 200 OK\r\n", 17) == 0);
        }
    }
    UNIT_EQ_INT(f.renders, 16);
    http_server_get_stats(h, &st);
    UNIT_EQ_INT(st.renders, 16);
    /* a different key is its own body */
    exchange(base, port, "GET /k/3?x HTTP/1.1\r\n\r\n", reply, sizeof(reply));
    UNIT_CHECK(strstr(reply, "\r\n\r\nbody of k:3\n") != NULL);
    UNIT_EQ_INT(f.renders, 16); /* the route ignores the query: the same key */
    http_server_invalidate(h);
    exchange(base, port, "GET /k/3 HTTP/1.1\r\n\r\n", reply, sizeof(reply));
    UNIT_EQ_INT(f.renders, 17);
    http_server_free(h);
    event_base_free(base);
}

/* The render's status and type, the route's own text, the extra headers
 * on every reply, and no more than 64 header lines. */
static void test_replies(void)
{
    struct event_base *base = event_base_new();
    struct fake f = {0};
    struct http_server *h;
    static char reply[16384], many[16384];
    size_t o = 0;
    int port;

    h = start(base, &f, &port);
    UNIT_CHECK(h != NULL);
    if (h == NULL) {
        event_base_free(base);
        return;
    }
    UNIT_EQ_INT(http_server_set_headers(h, "X-Test: 1\r\n"), 0);
    exchange(base, port, "GET /teapot HTTP/1.1\r\n\r\n", reply, sizeof(reply));
    UNIT_CHECK(strncmp(reply, "HTTP/1.1 418 ", 13) == 0);
    UNIT_CHECK(strstr(reply, "\r\nContent-Type: application/json\r\n") != NULL);
    UNIT_CHECK(strstr(reply, "\r\nX-Test: 1\r\n") != NULL);
    exchange(base, port, "GET /none HTTP/1.1\r\n\r\n", reply, sizeof(reply));
    UNIT_CHECK(strncmp(reply, "HTTP/1.1 404 Not Found\r\n", 24) == 0);
    UNIT_CHECK(strstr(reply, "\r\n\r\nnothing here\n") != NULL);
    UNIT_CHECK(strstr(reply, "\r\nX-Test: 1\r\n") != NULL);
    exchange(base, port, "DELETE /k/1 HTTP/1.1\r\n\r\n", reply, sizeof(reply));
    UNIT_CHECK(strncmp(reply, "HTTP/1.1 405 ", 13) == 0);
    /* 64 header lines pass, 65 do not */
    for (int n = 64; n <= 65; n++) {
        o = (size_t)snprintf(many, sizeof(many), "GET /k/h HTTP/1.1\r\n");
        for (int i = 0; i < n; i++)
            o += (size_t)snprintf(many + o, sizeof(many) - o, "X%d: 1\r\n", i);
        snprintf(many + o, sizeof(many) - o, "\r\n");
        exchange(base, port, many, reply, sizeof(reply));
        UNIT_CHECK(strncmp(reply, n == 64 ? "HTTP/1.1 200 " : "HTTP/1.1 431 ", 13) == 0);
    }
    UNIT_EQ_INT(http_server_set_headers(h,
                                        "X: " /* too long */
                                        "0123456789012345678901234567890123456789012345678901"
                                        "0123456789012345678901234567890123456789012345678901"
                                        "0123456789012345678901234567890123456789012345678901"
                                        "0123456789012345678901234567890123456789012345678901"
                                        "0123456789012345678901234567890123456789012345678901"
                                        "0123456789012345678901234567890123456789012345678901"
                                        "0123456789012345678901234567890123456789012345678901"
                                        "0123456789012345678901234567890123456789012345678901"
                                        "0123456789012345678901234567890123456789012345678901"
                                        "0123456789012345678901234567890123456789012345678901"
                                        "0123456789012345678901234567890123456789012345678901"
                                        "0123456789012345678901234567890123456789012345678901"
                                        "0123456789012345678901234567890123456789012345678901"
                                        "0123456789012345678901234567890123456789012345678901"
                                        "0123456789012345678901234567890123456789012345678901\r\n"),
                -1);
    http_server_free(h);
    event_base_free(base);
}

int main(void)
{
    UNIT_RUN(test_keys_shared);
    UNIT_RUN(test_replies);
    return UNIT_END("test_http");
}
