/* SPDX-License-Identifier: ISC */
/* The HTTP server of netdiagd's /metrics and of `netdiag web`: one request
 * per connection, answered from a body rendered once per key and shared
 * by the requests of a short window, then closed; every event at the
 * loop's lowest priority, so that the program's own sockets (netdiagd's
 * probes) are always served first.
 *
 * What a peer can do to it is bounded, and none of it reaches the
 * program's own work:
 * - connections: at most max_conns open. At the cap the listener stops
 *   accepting (nginx's worker_connections, OpenBSD httpd's pause): the
 *   kernel's listen queue holds the next ones and they are accepted as
 *   others close; nothing is read, no descriptor taken, no line logged per
 *   connection.
 * - time: one deadline per connection, counted from accept and never
 *   moved by the bytes that arrive (relayd's event_again): the request
 *   head within request_ms, the whole reply within total_ms. A peer
 *   dripping a byte a second, or never reading, is closed on time.
 * - memory: the head is read into a fixed buffer (HTTP_SERVER_HEAD_MAX,
 *   then 431) and holds HTTP_SERVER_HEADER_LINES header lines at most
 *   (then 431); only GET and HEAD are answered, a request body is never
 *   read; a body is rendered once per key (the route names it: /metrics has
 *   one) and shared by every connection that asks within max(share_ms, 20
 *   times its render time), so a flood of requests for one key costs at
 *   most 5 % of the loop in rendering; the bytes of all bodies held for
 *   slow readers and for sharing stay under body_budget (503 beyond, one
 *   body always allowed).
 * - descriptors: the reserve (one per probe target in netdiagd) and
 *   fd_spare more stay free below RLIMIT_NOFILE. The listener checks
 *   before accept() (the descriptors open when it started, plus its
 *   connections) and after it (accept() returns the lowest free number, so
 *   every one below is in use; the socket is closed at once, before
 *   anything else runs on the loop, so the program never sees it taken).
 *   When too few are left it stops accepting and looks again a second
 *   later; accept() failing (EMFILE, ENFILE, ENOBUFS) pauses it for a
 *   second too, instead of spinning on a listening socket that stays
 *   readable.
 * - log: one line per cause and HTTP_SERVER_LOG_MS, then one line with
 *   the count of what was held back. */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "http_server.h"
#include "util.h"
#include "wsa.h"

#define HS_ACCEPT_BURST      16    /* accepts per wake-up of the listener */
#define HS_RETRY_MS          1000  /* descriptors low or accept() failed */
#define HS_LINGER_MS         1000  /* after the reply, read what still comes */
#define HS_LINGER_MAX        65536 /* ... at most this many bytes */
#define HS_SHARE_COST_FACTOR 20    /* share a body 20 render times: <= 5 % of the loop */
#define HS_METHOD_MAX        16    /* the longest method token read */

#define HS_HEAD_MAX (HTTP_SERVER_HEADERS_MAX + 256) /* a reply's status and headers */

/* A rendered body, shared; freed when the last connection sending it and
 * the cache let go. Its bytes count in st.body_bytes while it lives. */
struct hs_body {
    size_t refs;
    struct evbuffer *buf;
    const char *data;
    size_t len;
    int status;
    const char *content_type;
};

enum hs_state {
    HS_READ,   /* reading the request head */
    HS_WRITE,  /* sending the reply */
    HS_LINGER, /* reply sent, write side shut: reading what still comes */
};

struct hs_conn {
    struct http_server *h;
    struct hs_conn *prev, *next;
    struct event *ev_read, *ev_write;
    int fd;
    enum hs_state state;
    int64_t accept_us;
    int64_t deadline_us; /* of the current state: absolute, never moves */
    size_t start;        /* empty lines skipped before the request line */
    size_t len;          /* bytes in req */
    size_t linger_bytes;
    struct iovec iov[2];  /* what is left to send: head, then body */
    struct hs_body *body; /* the shared body being sent, or NULL */
    char head[HS_HEAD_MAX];
    char req[HTTP_SERVER_HEAD_MAX];
};

/* One cause of a pause: when its next line may be written, and how many
 * were held back since the last one. */
struct hs_ratelog {
    int64_t next_us;
    uint64_t held;
    int err;
};

/* A body kept for the requests of its key that come within share_us. */
struct hs_cached {
    struct hs_body *body; /* NULL: a free slot */
    int64_t rendered_us;
    int64_t share_us;
    uint64_t used; /* the order of last use, for eviction */
    char key[HTTP_SERVER_KEY_MAX];
};

struct http_server {
    struct event_base *base;
    const struct http_server_ops *ops;
    void *arg;
    struct http_server_limits lim;
    int prio; /* the loop's lowest priority */
    int backlog;
    int lfd;
    char *addr;
    char headers[HTTP_SERVER_HEADERS_MAX + 1];
    struct event *ev_listen;
    struct event *ev_retry; /* resumes accepting after a timed pause */
    struct event *ev_log;   /* writes the lines held back */
    bool accepting;         /* ev_listen is added */
    bool retry_pending;
    struct hs_conn *conns;
    size_t reserve;  /* descriptors the program keeps for its own work */
    size_t base_fds; /* descriptors open, ours aside, when the listener started */
    struct hs_cached cache[HTTP_SERVER_CACHE];
    uint64_t uses;
    size_t last_len; /* the last body's size, to guess the next one */
    struct http_server_stats st;
    struct hs_ratelog log[HTTP_PAUSE_N];
};

static void hs_wait(struct hs_conn *c, struct event *ev);
static void hs_write(struct hs_conn *c);

const char *http_close_name(enum http_close why)
{
    static const char *const names[HTTP_CLOSE_N] = {"replied", "timeout", "peer", "error"};

    return (unsigned)why < HTTP_CLOSE_N ? names[why] : "?";
}

const char *http_pause_name(enum http_pause why)
{
    static const char *const names[HTTP_PAUSE_N] = {"limit", "descriptors", "accept_error"};

    return (unsigned)why < HTTP_PAUSE_N ? names[why] : "?";
}

static struct timeval tv_from_us(int64_t us)
{
    struct timeval tv;

    if (us < 0)
        us = 0;
    tv.tv_sec = (time_t)(us / 1000000);
    tv.tv_usec = (suseconds_t)(us % 1000000);
    return tv;
}

static void hs_prio(const struct http_server *h, struct event *ev)
{
    if (h->prio > 0)
        event_priority_set(ev, h->prio);
}

/* Log lines */

static void hs_log(const struct http_server *h, bool error, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void hs_log(const struct http_server *h, bool error, const char *fmt, ...)
{
    char line[512];
    int n;
    va_list ap;

    if (h->ops->log == NULL)
        return;
    n = snprintf(line, sizeof(line), "%s: ", h->ops->name);
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof(line))
        vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    h->ops->log(h->arg, error, line);
}

static void hs_log_line(const struct http_server *h, enum http_pause why, int err, uint64_t held)
{
    char tail[96];
    const struct wsa_code *w;

    if (held > 0)
        snprintf(tail, sizeof(tail), ": %llu more times since the previous such line",
                 (unsigned long long)held);
    else
        snprintf(tail, sizeof(tail), " (at most one such line in %d s)", HTTP_SERVER_LOG_MS / 1000);
    switch (why) {
    case HTTP_PAUSE_LIMIT:
        hs_log(h, false,
               "%zu connections open, the most allowed; new ones wait in the listen queue%s",
               h->lim.max_conns, tail);
        break;
    case HTTP_PAUSE_DESCRIPTORS:
        hs_log(h, false,
               "too few descriptors left below RLIMIT_NOFILE (%zu are kept %s and %zu "
               "spare); new connections wait%s",
               h->reserve + h->lim.fd_spare, h->ops->reserve_what, h->lim.fd_spare, tail);
        break;
    default:
        w = wsa_by_code(wsa_from_errno(err));
        hs_log(h, false, "accept: %s (%s); no new connection for %d s%s", strerror(err),
               w != NULL ? w->name : "?", HS_RETRY_MS / 1000, tail);
        break;
    }
}

/* Arm the log timer for the earliest cause with lines held back. */
static void hs_log_arm(struct http_server *h, int64_t now)
{
    int64_t next = INT64_MAX;
    struct timeval tv;

    for (int i = 0; i < HTTP_PAUSE_N; i++)
        if (h->log[i].held > 0 && h->log[i].next_us < next)
            next = h->log[i].next_us;
    if (next == INT64_MAX || h->ev_log == NULL)
        return;
    tv = tv_from_us(next - now);
    event_add(h->ev_log, &tv);
}

/* Write the held counts whose interval is over (all of them with
 * force); re-arm for the rest. */
static void hs_log_flush(struct http_server *h, bool force)
{
    int64_t now = util_mono_us();

    for (int i = 0; i < HTTP_PAUSE_N; i++) {
        struct hs_ratelog *rl = &h->log[i];
        if (rl->held > 0 && (force || now >= rl->next_us)) {
            hs_log_line(h, (enum http_pause)i, rl->err, rl->held);
            rl->held = 0;
            rl->next_us = now + HTTP_SERVER_LOG_MS * 1000LL;
        }
    }
    if (!force)
        hs_log_arm(h, now);
}

static void hs_log_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    hs_log_flush(arg, false);
}

static void hs_note(struct http_server *h, enum http_pause why, int err)
{
    struct hs_ratelog *rl = &h->log[why];
    int64_t now = util_mono_us();

    rl->err = err;
    if (now >= rl->next_us && rl->held == 0) {
        hs_log_line(h, why, err, 0);
        rl->next_us = now + HTTP_SERVER_LOG_MS * 1000LL;
        return;
    }
    if (rl->held++ == 0)
        hs_log_arm(h, now);
}

/* Accepting */

static void hs_resume(struct http_server *h)
{
    if (h->ev_listen == NULL || h->accepting || h->retry_pending)
        return;
    if (event_add(h->ev_listen, NULL) == 0)
        h->accepting = true;
}

/* Stop accepting: until a connection closes (the cap), or for
 * HS_RETRY_MS (descriptors, accept errors). */
static void hs_pause(struct http_server *h, enum http_pause why, int err)
{
    if (h->accepting) {
        event_del(h->ev_listen);
        h->accepting = false;
    }
    h->st.paused[why]++;
    if (why != HTTP_PAUSE_LIMIT && !h->retry_pending) {
        struct timeval tv = tv_from_us(HS_RETRY_MS * 1000LL);
        if (event_add(h->ev_retry, &tv) == 0)
            h->retry_pending = true;
    }
    hs_note(h, why, err);
}

static void hs_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct http_server *h = arg;

    (void)fd;
    (void)what;
    h->retry_pending = false;
    hs_resume(h);
}

/* Descriptors open now, from /proc/self/fd; `fallback` (the lowest free
 * number when it was taken) without /proc. */
static size_t hs_count_fds(int fallback)
{
    DIR *d = opendir("/proc/self/fd");
    const struct dirent *e;
    size_t n = 0;

    if (d == NULL)
        return fallback >= 0 ? (size_t)fallback : 0;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n > 0 ? n - 1 : 0; /* the directory's own */
}

/* Whether taking one more descriptor (fd_taken: the one accept() just
 * gave, or -1 before) would leave fewer than the reserve free. */
static bool hs_fds_low(const struct http_server *h, int fd_taken)
{
    struct rlimit rl;
    size_t limit, reserve = h->reserve + h->lim.fd_spare;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
        return false;
    limit = (size_t)rl.rlim_cur;
    if (h->base_fds + h->st.open + 1 + reserve > limit)
        return true;
    return fd_taken >= 0 && (size_t)fd_taken + 1 + reserve > limit;
}

/* Errors accept() reports for one connection that went away (accept(2):
 * Linux passes pending network errors of the new socket). */
static bool hs_accept_transient(int e)
{
    return e == ECONNABORTED || e == EPROTO || e == ENETDOWN || e == ENOPROTOOPT ||
           e == EHOSTDOWN || e == ENONET || e == EHOSTUNREACH || e == EOPNOTSUPP ||
           e == ENETUNREACH || e == EPERM;
}

static void hs_read_cb(evutil_socket_t fd, short what, void *arg);
static void hs_write_cb(evutil_socket_t fd, short what, void *arg);

static void hs_conn_new(struct http_server *h, int fd)
{
    struct hs_conn *c = calloc(1, sizeof(*c));

    h->st.accepted++;
    if (c == NULL)
        goto oom;
    c->h = h;
    c->fd = fd;
    c->ev_read = event_new(h->base, fd, EV_READ, hs_read_cb, c);
    c->ev_write = event_new(h->base, fd, EV_WRITE, hs_write_cb, c);
    if (c->ev_read == NULL || c->ev_write == NULL)
        goto oom;
    hs_prio(h, c->ev_read);
    hs_prio(h, c->ev_write);
    c->next = h->conns;
    if (h->conns != NULL)
        h->conns->prev = c;
    h->conns = c;
    h->st.open++;
    c->state = HS_READ;
    c->accept_us = util_mono_us();
    c->deadline_us = c->accept_us + h->lim.request_ms * 1000;
    hs_wait(c, c->ev_read);
    return;
oom:
    if (c != NULL) {
        if (c->ev_read != NULL)
            event_free(c->ev_read);
        if (c->ev_write != NULL)
            event_free(c->ev_write);
        free(c);
    }
    close(fd);
    h->st.closed[HTTP_CLOSE_ERROR]++;
}

static void hs_accept_cb(evutil_socket_t lfd, short what, void *arg)
{
    struct http_server *h = arg;

    (void)what;
    for (int i = 0; i < HS_ACCEPT_BURST; i++) {
        int fd, e;

        if (h->st.open >= h->lim.max_conns) {
            hs_pause(h, HTTP_PAUSE_LIMIT, 0);
            return;
        }
        if (hs_fds_low(h, -1)) {
            hs_pause(h, HTTP_PAUSE_DESCRIPTORS, 0);
            return;
        }
        fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            e = errno;
            if (e == EAGAIN || e == EWOULDBLOCK || e == EINTR)
                return;
            if (hs_accept_transient(e))
                continue;
            hs_pause(h, HTTP_PAUSE_ERROR, e);
            return;
        }
        if (hs_fds_low(h, fd)) {
            close(fd); /* nothing ran meanwhile: probing never saw it taken */
            hs_pause(h, HTTP_PAUSE_DESCRIPTORS, 0);
            return;
        }
        hs_conn_new(h, fd);
    }
}

/* Bodies */

static void hs_body_unref(struct http_server *h, struct hs_body *b)
{
    if (b == NULL || --b->refs > 0)
        return;
    h->st.body_bytes -= b->len;
    evbuffer_free(b->buf);
    free(b);
}

/* The cache slot for key: its own, else a free one, else the one used
 * least recently. */
static struct hs_cached *hs_cache_slot(struct http_server *h, const char *key)
{
    struct hs_cached *free_slot = NULL, *oldest = &h->cache[0];

    for (size_t i = 0; i < HTTP_SERVER_CACHE; i++) {
        struct hs_cached *c = &h->cache[i];
        if (c->body == NULL) {
            if (free_slot == NULL)
                free_slot = c;
            continue;
        }
        if (strcmp(c->key, key) == 0)
            return c;
        if (c->used < oldest->used)
            oldest = c;
    }
    return free_slot != NULL ? free_slot : oldest;
}

/* The body of `key` now: the shared one while it is young, else a new
 * render. NULL with *status 503 when the budget has no room for another
 * (the bodies still being sent to slow readers fill it), 500 when out of
 * memory. */
static struct hs_body *hs_body_get(struct http_server *h, const char *key, int *status)
{
    int64_t t0 = util_mono_us(), cost;
    struct hs_cached *slot = hs_cache_slot(h, key);
    bool mine = slot->body != NULL && strcmp(slot->key, key) == 0;
    size_t held = h->st.body_bytes, guess = mine ? slot->body->len : h->last_len;
    struct http_meta meta = {200, h->ops->content_type};
    struct hs_body *b;
    const unsigned char *data;

    if (mine && t0 - slot->rendered_us < slot->share_us) {
        slot->body->refs++;
        slot->used = ++h->uses;
        return slot->body;
    }
    if (slot->body != NULL && slot->body->refs == 1)
        held -= slot->body->len; /* only the cache holds it: it goes */
    if (held > 0 && held + guess > h->lim.body_budget) {
        *status = 503;
        return NULL;
    }
    b = calloc(1, sizeof(*b));
    if (b == NULL || (b->buf = evbuffer_new()) == NULL ||
        h->ops->render(h->arg, key, b->buf, &meta) < 0)
        goto oom;
    b->len = evbuffer_get_length(b->buf);
    data = b->len > 0 ? evbuffer_pullup(b->buf, -1) : (const unsigned char *)"";
    if (data == NULL)
        goto oom;
    b->data = (const char *)data;
    b->status = meta.status;
    b->content_type = meta.content_type;
    cost = util_mono_us() - t0;
    b->refs = 2; /* the cache and the caller */
    hs_body_unref(h, slot->body);
    slot->body = b;
    util_strlcpy(slot->key, key, sizeof(slot->key));
    slot->rendered_us = t0;
    slot->share_us = h->lim.share_ms * 1000;
    if (cost * HS_SHARE_COST_FACTOR > slot->share_us)
        slot->share_us = cost * HS_SHARE_COST_FACTOR;
    slot->used = ++h->uses;
    h->last_len = b->len;
    h->st.body_bytes += b->len;
    h->st.renders++;
    return b;
oom:
    if (b != NULL) {
        if (b->buf != NULL)
            evbuffer_free(b->buf);
        free(b);
    }
    *status = 500;
    return NULL;
}

/* Connections */

static void hs_close(struct hs_conn *c, enum http_close why)
{
    struct http_server *h = c->h;

    event_free(c->ev_read);
    event_free(c->ev_write);
    close(c->fd);
    hs_body_unref(h, c->body);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        h->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    h->st.open--;
    h->st.closed[why]++;
    free(c);
    hs_resume(h); /* a slot is free (a no-op unless paused at the cap) */
}

static void hs_timeout(struct hs_conn *c)
{
    static const char msg[] = "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n"
                              "Connection: close\r\n\r\n";

    switch (c->state) {
    case HS_READ:
        /* best effort: a fresh socket's buffer takes it, or nothing */
        (void)send(c->fd, msg, sizeof(msg) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
        hs_close(c, HTTP_CLOSE_TIMEOUT);
        break;
    case HS_WRITE:
        hs_close(c, HTTP_CLOSE_TIMEOUT);
        break;
    default:
        hs_close(c, HTTP_CLOSE_REPLIED);
        break;
    }
}

/* Wait for `ev` until the current deadline; may close c. */
static void hs_wait(struct hs_conn *c, struct event *ev)
{
    int64_t left = c->deadline_us - util_mono_us();
    struct timeval tv;

    if (left <= 0) {
        hs_timeout(c);
        return;
    }
    tv = tv_from_us(left);
    if (event_add(ev, &tv) < 0)
        hs_close(c, HTTP_CLOSE_ERROR);
}

static bool is_tchar(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* The end of the head (just past its empty line) in req[from..len), or 0. */
static size_t hs_head_end(const struct hs_conn *c, size_t from)
{
    for (size_t i = from; i < c->len; i++) {
        if (c->req[i] != '\n')
            continue;
        if (i + 1 < c->len && c->req[i + 1] == '\n')
            return i + 2;
        if (i + 2 < c->len && c->req[i + 1] == '\r' && c->req[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

/* The length of the line at p (within end), without its CR LF or LF, and
 * where the next starts; -1 for a CR anywhere but before the LF. */
static long hs_line(const char *p, const char *end, const char **next)
{
    const char *lf = memchr(p, '\n', (size_t)(end - p));
    const char *stop = lf != NULL ? lf : end;
    size_t n = (size_t)(stop - p);

    *next = lf != NULL ? lf + 1 : end;
    if (n > 0 && p[n - 1] == '\r')
        n--;
    if (memchr(p, '\r', n) != NULL)
        return -1;
    return (long)n;
}

/* Parse the head in req[start..end): the HTTP status to answer with (200:
 * a GET or HEAD to pass to the route, in *req). RFC 9112 as far as a GET
 * needs: a request line of token, target and HTTP/1.x separated by single
 * spaces, then header lines "name: value" without control characters; no
 * line folding. */
static int hs_parse(const struct hs_conn *c, size_t end, struct http_request *req)
{
    const char *p = c->req + c->start, *e = c->req + end, *next, *target, *q, *path;
    long n;
    size_t mlen, tlen, nheaders = 0;
    bool get;

    memset(req, 0, sizeof(*req));
    n = hs_line(p, e, &next);
    if (n <= 0)
        return 400;
    for (mlen = 0; mlen < (size_t)n && is_tchar((unsigned char)p[mlen]); mlen++)
        ;
    if (mlen == 0 || mlen > HS_METHOD_MAX || mlen >= (size_t)n || p[mlen] != ' ')
        return 400;
    get = mlen == 3 && memcmp(p, "GET", 3) == 0;
    req->head = mlen == 4 && memcmp(p, "HEAD", 4) == 0;
    target = p + mlen + 1;
    for (q = target; q<p + n && * q> ' ' && *q < 0x7f; q++)
        ;
    tlen = (size_t)(q - target);
    if (tlen == 0 || q >= p + n || *q != ' ')
        return 400;
    q++; /* the version: HTTP/d.d */
    if (p + n - q != 8 || memcmp(q, "HTTP/", 5) != 0 || q[5] < '0' || q[5] > '9' || q[6] != '.' ||
        q[7] < '0' || q[7] > '9')
        return 400;
    if (q[5] != '1')
        return 505;
    /* header lines up to the empty one */
    for (p = next; p < e; p = next) {
        const char *colon;
        n = hs_line(p, e, &next);
        if (n < 0)
            return 400;
        if (n == 0)
            break;
        if (++nheaders > HTTP_SERVER_HEADER_LINES)
            return 431;
        colon = memchr(p, ':', (size_t)n);
        if (colon == NULL || colon == p)
            return 400; /* also obsolete line folding: it starts with a space */
        for (q = p; q < colon; q++)
            if (!is_tchar((unsigned char)*q))
                return 400;
        for (q = colon + 1; q < p + n; q++)
            if (((unsigned char)*q < ' ' && *q != '\t') || *q == 0x7f)
                return 400;
        if (colon - p == 4 && strncasecmp(p, "Host", 4) == 0) {
            if (req->host != NULL)
                return 400; /* two of them (RFC 9112 3.2) */
            for (q = colon + 1; q < p + n && (*q == ' ' || *q == '\t'); q++)
                ;
            req->host = q;
            for (req->host_len = (size_t)(p + n - q);
                 req->host_len > 0 && (q[req->host_len - 1] == ' ' || q[req->host_len - 1] == '\t');
                 req->host_len--)
                ;
        }
    }
    if (!get && !req->head)
        return 405;
    /* the path: origin form, or absolute form (http://host/path) */
    path = target;
    if (tlen > 7 && strncasecmp(target, "http://", 7) == 0) {
        path = memchr(target + 7, '/', tlen - 7);
        if (path == NULL)
            return 404;
    }
    if (*path != '/')
        return 400; /* "*" or an authority: not for a GET */
    tlen -= (size_t)(path - target);
    req->path = path;
    req->path_len = tlen;
    q = memchr(path, '?', tlen);
    if (q != NULL) {
        req->path_len = (size_t)(q - path);
        req->query = q + 1;
        req->query_len = tlen - req->path_len - 1;
    }
    return 200;
}

static const char *hs_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 431:
        return "Request Header Fields Too Large";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Internal Server Error";
    }
}

static const char *hs_error_text(int status)
{
    switch (status) {
    case 404:
        return "404 not found\n";
    case 405:
        return "405 method not allowed: use GET or HEAD\n";
    case 431:
        return "431 request head too large (8192 bytes and 64 header lines at most)\n";
    case 503:
        return "503 busy: too many replies still being sent; try again\n";
    case 505:
        return "505 HTTP version not supported: use HTTP/1.1 or 1.0\n";
    case 500:
        return "500 out of memory\n";
    default:
        return "400 bad request\n";
    }
}

/* Send a shared body (whose reference c takes over) with its status, or
 * `status` with a static text (NULL: the status's own line), and close
 * after it. May close c. */
static void hs_reply(struct hs_conn *c, int status, struct hs_body *body, const char *text,
                     const char *ctype, bool head_only)
{
    size_t len;
    int n;

    if (body != NULL) {
        status = body->status;
        text = body->data;
        len = body->len;
        ctype = body->content_type;
    } else {
        if (text == NULL)
            text = hs_error_text(status);
        len = strlen(text);
    }
    if (ctype == NULL)
        ctype = "text/plain; charset=utf-8";
    n = snprintf(c->head, sizeof(c->head),
                 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s%s"
                 "Connection: close\r\n\r\n",
                 status, hs_reason(status), ctype, len, status == 405 ? "Allow: GET, HEAD\r\n" : "",
                 status == 503 ? "Retry-After: 1\r\n" : "", c->h->headers);
    c->iov[0].iov_base = c->head;
    c->iov[0].iov_len = n > 0 && (size_t)n < sizeof(c->head) ? (size_t)n : 0;
    c->iov[1].iov_base = (void *)(uintptr_t)text;
    c->iov[1].iov_len = head_only ? 0 : len;
    if (head_only || body == NULL)
        hs_body_unref(c->h, body);
    else
        c->body = body;
    c->state = HS_WRITE;
    c->deadline_us = c->accept_us + c->h->lim.total_ms * 1000;
    event_del(c->ev_read);
    hs_write(c);
}

static void hs_answer(struct hs_conn *c, size_t end)
{
    struct http_request req;
    struct http_route route;
    int status = hs_parse(c, end, &req);
    struct hs_body *body = NULL;

    if (status != 200) {
        hs_reply(c, status, NULL, NULL, NULL, req.head);
        return;
    }
    memset(&route, 0, sizeof(route));
    route.status = 404;
    c->h->ops->route(c->h->arg, &req, &route);
    if (route.status != 200) {
        hs_reply(c, route.status, NULL, route.text, route.content_type, req.head);
        return;
    }
    route.key[sizeof(route.key) - 1] = '\0';
    body = hs_body_get(c->h, route.key, &status);
    hs_reply(c, status, body, NULL, NULL, req.head);
}

static void hs_read_request(struct hs_conn *c)
{
    size_t old = c->len, end;
    ssize_t n = recv(c->fd, c->req + c->len, sizeof(c->req) - c->len, 0);

    if (n == 0) {
        hs_close(c, HTTP_CLOSE_PEER);
        return;
    }
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            hs_wait(c, c->ev_read);
        else
            hs_close(c, HTTP_CLOSE_PEER);
        return;
    }
    c->len += (size_t)n;
    /* empty lines before the request line are ignored (RFC 9112 2.2) */
    if (c->start == old)
        while (c->start < c->len && (c->req[c->start] == '\r' || c->req[c->start] == '\n'))
            c->start++;
    if (old < c->start + 3)
        old = c->start;
    else
        old -= 3; /* the empty line may have begun in the last read */
    end = hs_head_end(c, old);
    if (end > 0)
        hs_answer(c, end);
    else if (c->len == sizeof(c->req))
        hs_reply(c, 431, NULL, NULL, NULL, false);
    else
        hs_wait(c, c->ev_read);
}

static void hs_linger(struct hs_conn *c)
{
    ssize_t n = recv(c->fd, c->req, sizeof(c->req), 0);
    bool more;

    if (n > 0)
        more = (c->linger_bytes += (size_t)n) <= HS_LINGER_MAX;
    else
        more = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
    if (more)
        hs_wait(c, c->ev_read);
    else
        hs_close(c, HTTP_CLOSE_REPLIED);
}

/* Send what the socket takes; when all is out, shut the write side and
 * read what the peer still sends for a moment, so that a request body we
 * never read does not turn our close into a reset that loses the reply. */
static void hs_write(struct hs_conn *c)
{
    int64_t linger_us;

    while (c->iov[0].iov_len + c->iov[1].iov_len > 0) {
        struct msghdr msg;
        size_t sent;
        ssize_t n;

        memset(&msg, 0, sizeof(msg));
        msg.msg_iov = c->iov[0].iov_len > 0 ? &c->iov[0] : &c->iov[1];
        msg.msg_iovlen = c->iov[0].iov_len > 0 ? 2 : 1;
        n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                hs_wait(c, c->ev_write);
            else
                hs_close(c, HTTP_CLOSE_PEER);
            return;
        }
        sent = (size_t)n;
        for (int i = 0; i < 2 && sent > 0; i++) {
            size_t k = sent < c->iov[i].iov_len ? sent : c->iov[i].iov_len;
            c->iov[i].iov_base = (char *)c->iov[i].iov_base + k;
            c->iov[i].iov_len -= k;
            sent -= k;
        }
    }
    hs_body_unref(c->h, c->body); /* sent: let it go now, not at close */
    c->body = NULL;
    shutdown(c->fd, SHUT_WR);
    c->state = HS_LINGER;
    linger_us = util_mono_us() + HS_LINGER_MS * 1000LL;
    if (linger_us < c->deadline_us)
        c->deadline_us = linger_us;
    hs_wait(c, c->ev_read);
}

static void hs_read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct hs_conn *c = arg;

    (void)fd;
    if ((what & EV_TIMEOUT) != 0) {
        hs_wait(c, c->ev_read); /* times out unless it fired early */
        return;
    }
    if (c->state == HS_READ)
        hs_read_request(c);
    else
        hs_linger(c);
}

static void hs_write_cb(evutil_socket_t fd, short what, void *arg)
{
    struct hs_conn *c = arg;

    (void)fd;
    if ((what & EV_TIMEOUT) != 0)
        hs_wait(c, c->ev_write);
    else
        hs_write(c);
}

/* The listener */

/* A listening, non-blocking socket on `addr` (an address literal with a
 * port). Returns the fd, or -1 with errno set and a message naming the
 * address (as `what`, the option that gave it) in err. */
static int hs_listen_open(const char *what, const char *addr, int backlog, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    char perr[160];
    int fd, one = 1, e;
    const struct wsa_code *w;

    if (util_parse_sockaddr(addr, -1, &ss, &sslen, perr, sizeof(perr)) < 0) {
        snprintf(err, errlen, "%s %s: %s", what, addr, perr);
        errno = EINVAL;
        return -1;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto bad;
    /* connections of a previous run in TIME_WAIT must not block a restart */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
        goto bad;
    if (bind(fd, (struct sockaddr *)&ss, sslen) < 0 || listen(fd, backlog) < 0)
        goto bad;
    return fd;
bad:
    e = errno;
    w = wsa_by_code(wsa_from_errno(e));
    snprintf(err, errlen, "%s %s: cannot listen: %s (%s)", what, addr, strerror(e),
             w != NULL ? w->name : "?");
    if (fd >= 0)
        close(fd);
    errno = e;
    return -1;
}

static void hs_listener_close(struct http_server *h)
{
    if (h->ev_listen != NULL)
        event_free(h->ev_listen);
    h->ev_listen = NULL;
    h->accepting = false;
    if (h->lfd >= 0)
        close(h->lfd);
    h->lfd = -1;
}

/* Serve on `fd` (bound to addr) instead of the current listener. */
static int hs_listener_attach(struct http_server *h, int fd, const char *addr, char *err,
                              size_t errlen)
{
    struct event *ev = event_new(h->base, fd, EV_READ | EV_PERSIST, hs_accept_cb, h);
    char *copy = strdup(addr);

    if (ev == NULL || copy == NULL) {
        if (ev != NULL)
            event_free(ev);
        free(copy);
        close(fd);
        snprintf(err, errlen, "%s %s: out of memory", h->ops->listen_what, addr);
        return -1;
    }
    hs_prio(h, ev);
    hs_listener_close(h);
    free(h->addr);
    h->addr = copy;
    h->lfd = fd;
    h->ev_listen = ev;
    /* what is open beside our connections: the store, the resolver, the
     * loop, and the probes' sockets if any (then counted twice: safe) */
    h->base_fds = hs_count_fds(fd + 1);
    h->base_fds = h->base_fds > h->st.open ? h->base_fds - h->st.open : 0;
    hs_resume(h);
    return 0;
}

int http_server_listen(struct http_server *h, const char *addr, char *err, size_t errlen)
{
    const char *what = h->ops->listen_what;
    char old_err[256];
    int fd;

    if (h->addr != NULL && h->lfd >= 0 && strcmp(h->addr, addr) == 0)
        return 0;
    fd = hs_listen_open(what, addr, h->backlog, err, errlen);
    if (fd < 0 && errno == EADDRINUSE && h->lfd >= 0 && h->addr != NULL) {
        /* probably our own socket (127.0.0.1:P -> 0.0.0.0:P): let go of
         * it, try again, and take it back if that fails too */
        hs_listener_close(h);
        fd = hs_listen_open(what, addr, h->backlog, err, errlen);
        if (fd < 0) {
            int ofd = hs_listen_open(what, h->addr, h->backlog, old_err, sizeof(old_err));
            if (ofd < 0 || hs_listener_attach(h, ofd, h->addr, old_err, sizeof(old_err)) < 0)
                hs_log(h, true, "%s; nothing is served", old_err);
            return -1;
        }
    }
    if (fd < 0 || hs_listener_attach(h, fd, addr, err, errlen) < 0)
        return -1;
    return 1;
}

const char *http_server_addr(const struct http_server *h)
{
    return h->addr != NULL ? h->addr : "";
}

struct http_server *http_server_new(struct event_base *base, const struct http_server_ops *ops,
                                    void *arg)
{
    struct http_server *h = calloc(1, sizeof(*h));
    int np;

    if (h == NULL)
        return NULL;
    h->base = base;
    h->ops = ops;
    h->arg = arg;
    h->lfd = -1;
    h->backlog = HTTP_SERVER_BACKLOG;
    h->lim.max_conns = HTTP_SERVER_MAX_CONNS;
    h->lim.request_ms = HTTP_SERVER_REQUEST_MS;
    h->lim.total_ms = HTTP_SERVER_TOTAL_MS;
    h->lim.fd_spare = HTTP_SERVER_FD_SPARE;
    h->lim.body_budget = HTTP_SERVER_BODY_BUDGET;
    h->lim.share_ms = HTTP_SERVER_SHARE_MS;
    np = event_base_get_npriorities(base);
    h->prio = np > 1 ? np - 1 : 0;
    h->ev_retry = evtimer_new(base, hs_retry_cb, h);
    h->ev_log = evtimer_new(base, hs_log_cb, h);
    if (h->ev_retry == NULL || h->ev_log == NULL) {
        http_server_free(h);
        return NULL;
    }
    hs_prio(h, h->ev_retry);
    hs_prio(h, h->ev_log);
    return h;
}

void http_server_set_backlog(struct http_server *h, int backlog)
{
    if (h != NULL && backlog > 0)
        h->backlog = backlog;
}

void http_server_set_reserve(struct http_server *h, size_t fds)
{
    if (h != NULL)
        h->reserve = fds;
}

int http_server_set_headers(struct http_server *h, const char *lines)
{
    if (strlen(lines) > HTTP_SERVER_HEADERS_MAX)
        return -1;
    util_strlcpy(h->headers, lines, sizeof(h->headers));
    return 0;
}

void http_server_invalidate(struct http_server *h)
{
    if (h == NULL)
        return;
    for (size_t i = 0; i < HTTP_SERVER_CACHE; i++) {
        hs_body_unref(h, h->cache[i].body);
        h->cache[i].body = NULL;
    }
}

void http_server_set_limits(struct http_server *h, const struct http_server_limits *lim)
{
    if (h != NULL && lim != NULL)
        h->lim = *lim;
}

void http_server_get_stats(const struct http_server *h, struct http_server_stats *out)
{
    if (h != NULL)
        *out = h->st;
    else
        memset(out, 0, sizeof(*out));
}

void http_server_free(struct http_server *h)
{
    if (h == NULL)
        return;
    hs_listener_close(h);
    if (h->ev_retry != NULL)
        event_free(h->ev_retry);
    h->ev_retry = NULL;
    h->retry_pending = true; /* hs_close() must not start accepting again */
    for (struct hs_conn *c = h->conns, *next; c != NULL; c = next) {
        next = c->next;
        hs_close(c, HTTP_CLOSE_ERROR);
    }
    http_server_invalidate(h);
    hs_log_flush(h, true);
    if (h->ev_log != NULL)
        event_free(h->ev_log);
    free(h->addr);
    free(h);
}
