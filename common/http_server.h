/* SPDX-License-Identifier: ISC */
/* A small HTTP/1.1 server on a libevent loop (owned by http_server.c):
 * one GET or HEAD per connection, answered with a rendered body and
 * closed, within bounds a peer cannot push: a cap on connections, one
 * deadline per connection counted from accept, a fixed buffer for the
 * request head, a budget of bytes held for slow readers, descriptors left
 * for the program's own work, and rate-limited log lines. netdiagd's
 * /metrics (daemon/metrics_http.c) and `netdiag web` (client/web.c) serve
 * through it; each says what a path means (route) and what its body is
 * (render). */
#ifndef NETDIAG_HTTP_SERVER_H
#define NETDIAG_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct evbuffer;
struct http_server;

/* Defaults (tests shorten the times through the limits). */
#define HTTP_SERVER_MAX_CONNS    16          /* connections open at once */
#define HTTP_SERVER_REQUEST_MS   5000        /* from accept: the request head in */
#define HTTP_SERVER_TOTAL_MS     15000       /* from accept: the whole reply out */
#define HTTP_SERVER_FD_SPARE     32          /* descriptors kept free beside the reserve */
#define HTTP_SERVER_BODY_BUDGET  (64u << 20) /* bytes of bodies held at once */
#define HTTP_SERVER_HEAD_MAX     8192        /* request line and headers */
#define HTTP_SERVER_HEADER_LINES 64          /* header lines of a request */
#define HTTP_SERVER_LOG_MS       60000       /* one line per reason and interval */
#define HTTP_SERVER_SHARE_MS     250         /* requests of one key this close share a body */
#define HTTP_SERVER_KEY_MAX      1024        /* a cache key, NUL included */
#define HTTP_SERVER_CACHE        32          /* bodies kept for sharing, by key */
#define HTTP_SERVER_HEADERS_MAX  768         /* the extra header lines of every reply */
#define HTTP_SERVER_BACKLOG      64          /* the listen queue (connections past the cap wait) */

struct http_server_limits {
    size_t max_conns;
    int64_t request_ms;
    int64_t total_ms;
    size_t fd_spare;
    size_t body_budget;
    int64_t share_ms; /* at least; 20 times the render time when longer */
};

/* Why a connection ended. */
enum http_close {
    HTTP_CLOSE_REPLIED, /* the whole reply was sent (any status) */
    HTTP_CLOSE_TIMEOUT, /* its deadline passed first */
    HTTP_CLOSE_PEER,    /* the peer closed or reset before the reply was out */
    HTTP_CLOSE_ERROR,   /* out of memory on our side */
    HTTP_CLOSE_N,
};
const char *http_close_name(enum http_close why);

/* Why the listener stopped accepting for a while. */
enum http_pause {
    HTTP_PAUSE_LIMIT,       /* max_conns open: resumes when one closes */
    HTTP_PAUSE_DESCRIPTORS, /* too few descriptors left: retried each second */
    HTTP_PAUSE_ERROR,       /* accept() failed (EMFILE, ENFILE, ENOBUFS...): 1 s */
    HTTP_PAUSE_N,
};
const char *http_pause_name(enum http_pause why);

struct http_server_stats {
    size_t open;       /* connections open now */
    size_t body_bytes; /* bytes of rendered bodies held now (cache and replies) */
    uint64_t accepted; /* connections accepted */
    uint64_t closed[HTTP_CLOSE_N];
    uint64_t paused[HTTP_PAUSE_N];
    uint64_t renders; /* bodies rendered (requests of one key within a short time share one) */
};

/* A request as the route sees it: its method was GET or HEAD, its head
 * well formed. */
struct http_request {
    bool head;        /* HEAD: the reply goes without its body */
    const char *path; /* the path, not decoded, not NUL-terminated (absolute form reduced) */
    size_t path_len;
    const char *query; /* after '?', not decoded; NULL when there is none */
    size_t query_len;
    const char *host; /* the Host header's value, trimmed; NULL when there is none */
    size_t host_len;
};

/* What the route decided: render the body of `key` (status 200, the body
 * of a recent request of the same key shared), or answer `status` at once
 * with `text` (static; NULL: a line naming the status). */
struct http_route {
    int status;
    char key[HTTP_SERVER_KEY_MAX];
    const char *text;
    const char *content_type; /* of text; NULL: text/plain */
};

/* What a render says of its body; preset to 200 and the server's default
 * content type. content_type must be static. */
struct http_meta {
    int status;
    const char *content_type;
};

struct http_server_ops {
    const char *name;         /* "metrics", "web": the start of every log line */
    const char *listen_what;  /* "metrics_listen", "--listen": names the address in errors */
    const char *reserve_what; /* "for probing: one per target": what the reserve is for */
    const char *content_type; /* of rendered bodies, unless the render says otherwise */
    /* Decide from the request alone; never blocks. */
    void (*route)(void *arg, const struct http_request *req, struct http_route *out);
    /* The body of `key` into out; 0, or -1 when out of memory. */
    int (*render)(void *arg, const char *key, struct evbuffer *out, struct http_meta *meta);
    /* One line for the log; error: the listener is gone, else a warning. */
    void (*log)(void *arg, bool error, const char *line);
};

struct http_server *http_server_new(struct event_base *base, const struct http_server_ops *ops,
                                    void *arg);
/* Listen on `addr` ("127.0.0.1:9470", "[::1]:9470") instead of the current
 * address, if any: 0, a no-op when it is the same; 1 when it changed.
 * Returns -1 with a message naming the address in err when it cannot be
 * bound; the old listener then keeps serving (when the new address
 * collides with the old one, the old is closed first and reopened on
 * failure). Open connections stay. */
int http_server_listen(struct http_server *h, const char *addr, char *err, size_t errlen);
/* The address listened on, as given ("" before the first listen). */
const char *http_server_addr(const struct http_server *h);
/* The listen queue of the next listen: where connections past max_conns
 * wait, costing the kernel's memory and none of ours; past it a client's
 * SYN is dropped and retried a second later. */
void http_server_set_backlog(struct http_server *h, int backlog);
/* Descriptors the program needs for its own work (one per probe target):
 * these and fd_spare more stay free below RLIMIT_NOFILE. */
void http_server_set_reserve(struct http_server *h, size_t fds);
/* Extra header lines for every reply, each ending in CR LF (at most
 * HTTP_SERVER_HEADERS_MAX bytes; -1 when longer). Copied. */
int http_server_set_headers(struct http_server *h, const char *lines);
/* What was rendered is out of date: the next request renders anew. */
void http_server_invalidate(struct http_server *h);
void http_server_set_limits(struct http_server *h, const struct http_server_limits *lim);
void http_server_get_stats(const struct http_server *h, struct http_server_stats *out);
/* Closes the listener and every connection; writes the log lines held. */
void http_server_free(struct http_server *h);

#endif
