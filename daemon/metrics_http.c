/* SPDX-License-Identifier: ISC */
/* The /metrics HTTP server: one request per connection, answered from a
 * body rendered once and shared by the scrapes of a short window, then
 * closed; every event at the loop's lowest priority, so probe sockets are
 * always served first.
 *
 * What a local user can do to it is bounded, and none of it reaches the
 * probes:
 * - connections: at most max_conns open. At the cap the listener stops
 *   accepting (nginx's worker_connections, OpenBSD httpd's pause): the
 *   kernel's listen queue holds the next ones and they are accepted as
 *   others close; nothing is read, no descriptor taken, no line logged per
 *   connection.
 * - time: one deadline per connection, counted from accept and never
 *   moved by the bytes that arrive (relayd's event_again): the request
 *   head within request_ms, the whole reply within total_ms. A peer
 *   dripping a byte a second, or never reading, is closed on time.
 * - memory: the head is read into a fixed buffer (METRICS_HTTP_HEAD_MAX,
 *   then 431); a body is rendered once and shared by every connection that
 *   asks within max(share_ms, 20 times its render time), so a flood of
 *   scrapes costs at most 5 % of the loop in rendering; the bytes of all
 *   bodies held for slow readers stay under body_budget (503 beyond, one
 *   body always allowed).
 * - descriptors: one per configured target and fd_spare more stay free
 *   below RLIMIT_NOFILE for probing. The listener checks before accept()
 *   (the descriptors open when it started, plus its connections) and after
 *   it (accept() returns the lowest free number, so every one below is in
 *   use; the socket is closed at once, before anything else runs on the
 *   loop, so probing never sees it taken). When too few are left it stops
 *   accepting and looks again a second later; accept() failing (EMFILE,
 *   ENFILE, ENOBUFS) pauses it for a second too, instead of spinning on a
 *   listening socket that stays readable.
 * - log: one line per cause and METRICS_HTTP_LOG_MS, then one line with
 *   the count of what was held back. */
#include <dirent.h>
#include <errno.h>
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

#include "log.h"
#include "metrics_http.h"
#include "util.h"
#include "wsa.h"

#define MH_ACCEPT_BURST      16    /* accepts per wake-up of the listener */
#define MH_RETRY_MS          1000  /* descriptors low or accept() failed */
#define MH_LINGER_MS         1000  /* after the reply, read what still comes */
#define MH_LINGER_MAX        65536 /* ... at most this many bytes */
#define MH_SHARE_COST_FACTOR 20    /* share a body 20 render times: <= 5 % of the loop */
#define MH_METHOD_MAX        16    /* the longest method token read */

#define MH_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* A rendered body, shared; freed when the last connection sending it and
 * the cache let go. */
struct mh_body {
    size_t refs;
    struct evbuffer *buf;
    const char *data;
    size_t len;
};

enum mh_state {
    MH_READ,   /* reading the request head */
    MH_WRITE,  /* sending the reply */
    MH_LINGER, /* reply sent, write side shut: reading what still comes */
};

struct mh_conn {
    struct metrics_http *h;
    struct mh_conn *prev, *next;
    struct event *ev_read, *ev_write;
    int fd;
    enum mh_state state;
    int64_t accept_us;
    int64_t deadline_us; /* of the current state: absolute, never moves */
    size_t start;        /* empty lines skipped before the request line */
    size_t len;          /* bytes in req */
    size_t linger_bytes;
    struct iovec iov[2];  /* what is left to send: head, then body */
    struct mh_body *body; /* the shared body being sent, or NULL */
    char head[256];
    char req[METRICS_HTTP_HEAD_MAX];
};

/* One cause of a pause: when its next line may be written, and how many
 * were held back since the last one. */
struct mh_ratelog {
    int64_t next_us;
    uint64_t held;
    int err;
};

struct metrics_http {
    struct event_base *base;
    metrics_http_render_fn render;
    void *render_arg;
    struct metrics_http_limits lim;
    int prio; /* the loop's lowest priority */
    int lfd;
    char *addr;
    struct event *ev_listen;
    struct event *ev_retry; /* resumes accepting after a timed pause */
    struct event *ev_log;   /* writes the lines held back */
    bool accepting;         /* ev_listen is added */
    bool retry_pending;
    struct mh_conn *conns;
    size_t ntargets;
    size_t base_fds; /* descriptors open, ours aside, when the listener started */
    struct mh_body *cache;
    int64_t cache_us; /* when the cache was rendered */
    int64_t share_us; /* how long it is shared */
    size_t last_len;  /* the last body's size, to guess the next one */
    struct metrics_http_stats st;
    struct mh_ratelog log[MH_PAUSE_N];
};

static void mh_wait(struct mh_conn *c, struct event *ev);
static void mh_write(struct mh_conn *c);

const char *metrics_http_close_name(enum metrics_http_close why)
{
    static const char *const names[MH_CLOSE_N] = {"replied", "timeout", "peer", "error"};

    return (unsigned)why < MH_CLOSE_N ? names[why] : "?";
}

const char *metrics_http_pause_name(enum metrics_http_pause why)
{
    static const char *const names[MH_PAUSE_N] = {"limit", "descriptors", "accept_error"};

    return (unsigned)why < MH_PAUSE_N ? names[why] : "?";
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

static void mh_prio(const struct metrics_http *h, struct event *ev)
{
    if (h->prio > 0)
        event_priority_set(ev, h->prio);
}

/* Log lines */

static void mh_log_line(const struct metrics_http *h, enum metrics_http_pause why, int err,
                        uint64_t held)
{
    char tail[96];
    const struct wsa_code *w;

    if (held > 0)
        snprintf(tail, sizeof(tail), ": %llu more times since the previous such line",
                 (unsigned long long)held);
    else
        snprintf(tail, sizeof(tail), " (at most one such line in %d s)",
                 METRICS_HTTP_LOG_MS / 1000);
    switch (why) {
    case MH_PAUSE_LIMIT:
        log_warnx("metrics: %zu connections open, the most allowed; new ones wait in the "
                  "listen queue%s",
                  h->lim.max_conns, tail);
        break;
    case MH_PAUSE_DESCRIPTORS:
        log_warnx("metrics: too few descriptors left below RLIMIT_NOFILE (%zu are kept for "
                  "probing: one per target and %zu spare); new connections wait%s",
                  h->ntargets + h->lim.fd_spare, h->lim.fd_spare, tail);
        break;
    default:
        w = wsa_by_code(wsa_from_errno(err));
        log_warnx("metrics: accept: %s (%s); no new connection for %d s%s", strerror(err),
                  w != NULL ? w->name : "?", MH_RETRY_MS / 1000, tail);
        break;
    }
}

/* Arm the log timer for the earliest cause with lines held back. */
static void mh_log_arm(struct metrics_http *h, int64_t now)
{
    int64_t next = INT64_MAX;
    struct timeval tv;

    for (int i = 0; i < MH_PAUSE_N; i++)
        if (h->log[i].held > 0 && h->log[i].next_us < next)
            next = h->log[i].next_us;
    if (next == INT64_MAX || h->ev_log == NULL)
        return;
    tv = tv_from_us(next - now);
    event_add(h->ev_log, &tv);
}

/* Write the held counts whose interval is over (all of them with
 * force); re-arm for the rest. */
static void mh_log_flush(struct metrics_http *h, bool force)
{
    int64_t now = util_mono_us();

    for (int i = 0; i < MH_PAUSE_N; i++) {
        struct mh_ratelog *rl = &h->log[i];
        if (rl->held > 0 && (force || now >= rl->next_us)) {
            mh_log_line(h, (enum metrics_http_pause)i, rl->err, rl->held);
            rl->held = 0;
            rl->next_us = now + METRICS_HTTP_LOG_MS * 1000LL;
        }
    }
    if (!force)
        mh_log_arm(h, now);
}

static void mh_log_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    mh_log_flush(arg, false);
}

static void mh_note(struct metrics_http *h, enum metrics_http_pause why, int err)
{
    struct mh_ratelog *rl = &h->log[why];
    int64_t now = util_mono_us();

    rl->err = err;
    if (now >= rl->next_us && rl->held == 0) {
        mh_log_line(h, why, err, 0);
        rl->next_us = now + METRICS_HTTP_LOG_MS * 1000LL;
        return;
    }
    if (rl->held++ == 0)
        mh_log_arm(h, now);
}

/* Accepting */

static void mh_resume(struct metrics_http *h)
{
    if (h->ev_listen == NULL || h->accepting || h->retry_pending)
        return;
    if (event_add(h->ev_listen, NULL) == 0)
        h->accepting = true;
}

/* Stop accepting: until a connection closes (the cap), or for
 * MH_RETRY_MS (descriptors, accept errors). */
static void mh_pause(struct metrics_http *h, enum metrics_http_pause why, int err)
{
    if (h->accepting) {
        event_del(h->ev_listen);
        h->accepting = false;
    }
    h->st.paused[why]++;
    if (why != MH_PAUSE_LIMIT && !h->retry_pending) {
        struct timeval tv = tv_from_us(MH_RETRY_MS * 1000LL);
        if (event_add(h->ev_retry, &tv) == 0)
            h->retry_pending = true;
    }
    mh_note(h, why, err);
}

static void mh_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct metrics_http *h = arg;

    (void)fd;
    (void)what;
    h->retry_pending = false;
    mh_resume(h);
}

/* Descriptors open now, from /proc/self/fd; `fallback` (the lowest free
 * number when it was taken) without /proc. */
static size_t mh_count_fds(int fallback)
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
static bool mh_fds_low(const struct metrics_http *h, int fd_taken)
{
    struct rlimit rl;
    size_t limit, reserve = h->ntargets + h->lim.fd_spare;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
        return false;
    limit = (size_t)rl.rlim_cur;
    if (h->base_fds + h->st.open + 1 + reserve > limit)
        return true;
    return fd_taken >= 0 && (size_t)fd_taken + 1 + reserve > limit;
}

/* Errors accept() reports for one connection that went away (accept(2):
 * Linux passes pending network errors of the new socket). */
static bool mh_accept_transient(int e)
{
    return e == ECONNABORTED || e == EPROTO || e == ENETDOWN || e == ENOPROTOOPT ||
           e == EHOSTDOWN || e == ENONET || e == EHOSTUNREACH || e == EOPNOTSUPP ||
           e == ENETUNREACH || e == EPERM;
}

static void mh_read_cb(evutil_socket_t fd, short what, void *arg);
static void mh_write_cb(evutil_socket_t fd, short what, void *arg);

static void mh_conn_new(struct metrics_http *h, int fd)
{
    struct mh_conn *c = calloc(1, sizeof(*c));

    h->st.accepted++;
    if (c == NULL)
        goto oom;
    c->h = h;
    c->fd = fd;
    c->ev_read = event_new(h->base, fd, EV_READ, mh_read_cb, c);
    c->ev_write = event_new(h->base, fd, EV_WRITE, mh_write_cb, c);
    if (c->ev_read == NULL || c->ev_write == NULL)
        goto oom;
    mh_prio(h, c->ev_read);
    mh_prio(h, c->ev_write);
    c->next = h->conns;
    if (h->conns != NULL)
        h->conns->prev = c;
    h->conns = c;
    h->st.open++;
    c->state = MH_READ;
    c->accept_us = util_mono_us();
    c->deadline_us = c->accept_us + h->lim.request_ms * 1000;
    mh_wait(c, c->ev_read);
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
    h->st.closed[MH_CLOSE_ERROR]++;
}

static void mh_accept_cb(evutil_socket_t lfd, short what, void *arg)
{
    struct metrics_http *h = arg;

    (void)what;
    for (int i = 0; i < MH_ACCEPT_BURST; i++) {
        int fd, e;

        if (h->st.open >= h->lim.max_conns) {
            mh_pause(h, MH_PAUSE_LIMIT, 0);
            return;
        }
        if (mh_fds_low(h, -1)) {
            mh_pause(h, MH_PAUSE_DESCRIPTORS, 0);
            return;
        }
        fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            e = errno;
            if (e == EAGAIN || e == EWOULDBLOCK || e == EINTR)
                return;
            if (mh_accept_transient(e))
                continue;
            mh_pause(h, MH_PAUSE_ERROR, e);
            return;
        }
        if (mh_fds_low(h, fd)) {
            close(fd); /* nothing ran meanwhile: probing never saw it taken */
            mh_pause(h, MH_PAUSE_DESCRIPTORS, 0);
            return;
        }
        mh_conn_new(h, fd);
    }
}

/* Bodies */

static void mh_body_unref(struct metrics_http *h, struct mh_body *b)
{
    if (b == NULL || --b->refs > 0)
        return;
    h->st.body_bytes -= b->len;
    evbuffer_free(b->buf);
    free(b);
}

/* The body for a scrape now: the shared one while it is young, else a new
 * render. NULL with *status 503 when the budget has no room for another
 * (the bodies still being sent to slow readers fill it), 500 when out of
 * memory. */
static struct mh_body *mh_body_get(struct metrics_http *h, int *status)
{
    int64_t t0 = util_mono_us(), cost;
    size_t held = h->st.body_bytes;
    struct mh_body *b;
    const unsigned char *data;

    if (h->cache != NULL && t0 - h->cache_us < h->share_us) {
        h->cache->refs++;
        return h->cache;
    }
    if (h->cache != NULL && h->cache->refs == 1)
        held -= h->cache->len; /* only the cache holds it: it goes */
    if (held > 0 && held + h->last_len > h->lim.body_budget) {
        *status = 503;
        return NULL;
    }
    b = calloc(1, sizeof(*b));
    if (b == NULL || (b->buf = evbuffer_new()) == NULL)
        goto oom;
    /* room for the whole body in one chunk, so that making it contiguous
     * costs no copy (a third of the time at 100,000 targets): the last
     * size and a margin, or about 2 KB a target the first time */
    if (evbuffer_expand(b->buf, h->last_len > 0 ? h->last_len + h->last_len / 8 + 4096
                                                : h->ntargets * 2048 + 16384) < 0 ||
        h->render(h->render_arg, b->buf) < 0)
        goto oom;
    b->len = evbuffer_get_length(b->buf);
    data = b->len > 0 ? evbuffer_pullup(b->buf, -1) : (const unsigned char *)"";
    if (data == NULL)
        goto oom;
    b->data = (const char *)data;
    cost = util_mono_us() - t0;
    h->share_us = h->lim.share_ms * 1000;
    if (cost * MH_SHARE_COST_FACTOR > h->share_us)
        h->share_us = cost * MH_SHARE_COST_FACTOR;
    b->refs = 2; /* the cache and the caller */
    mh_body_unref(h, h->cache);
    h->cache = b;
    h->cache_us = t0;
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

static void mh_close(struct mh_conn *c, enum metrics_http_close why)
{
    struct metrics_http *h = c->h;

    event_free(c->ev_read);
    event_free(c->ev_write);
    close(c->fd);
    mh_body_unref(h, c->body);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        h->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    h->st.open--;
    h->st.closed[why]++;
    free(c);
    mh_resume(h); /* a slot is free (a no-op unless paused at the cap) */
}

static void mh_timeout(struct mh_conn *c)
{
    static const char msg[] = "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n"
                              "Connection: close\r\n\r\n";

    switch (c->state) {
    case MH_READ:
        /* best effort: a fresh socket's buffer takes it, or nothing */
        (void)send(c->fd, msg, sizeof(msg) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
        mh_close(c, MH_CLOSE_TIMEOUT);
        break;
    case MH_WRITE:
        mh_close(c, MH_CLOSE_TIMEOUT);
        break;
    default:
        mh_close(c, MH_CLOSE_REPLIED);
        break;
    }
}

/* Wait for `ev` until the current deadline; may close c. */
static void mh_wait(struct mh_conn *c, struct event *ev)
{
    int64_t left = c->deadline_us - util_mono_us();
    struct timeval tv;

    if (left <= 0) {
        mh_timeout(c);
        return;
    }
    tv = tv_from_us(left);
    if (event_add(ev, &tv) < 0)
        mh_close(c, MH_CLOSE_ERROR);
}

static bool is_tchar(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* The end of the head (just past its empty line) in req[from..len), or 0. */
static size_t mh_head_end(const struct mh_conn *c, size_t from)
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
static long mh_line(const char *p, const char *end, const char **next)
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

/* Parse the head in req[start..end): the HTTP status to answer with, and
 * whether the method was HEAD. RFC 9112 as far as a GET needs: a request
 * line of token, target and HTTP/1.x separated by single spaces, then
 * header lines "name: value" without control characters; no line folding. */
static int mh_parse(const struct mh_conn *c, size_t end, bool *head_only)
{
    const char *p = c->req + c->start, *e = c->req + end, *next, *target, *q, *path;
    long n;
    size_t mlen, tlen;
    bool get;

    *head_only = false;
    n = mh_line(p, e, &next);
    if (n <= 0)
        return 400;
    for (mlen = 0; mlen < (size_t)n && is_tchar((unsigned char)p[mlen]); mlen++)
        ;
    if (mlen == 0 || mlen > MH_METHOD_MAX || mlen >= (size_t)n || p[mlen] != ' ')
        return 400;
    get = mlen == 3 && memcmp(p, "GET", 3) == 0;
    *head_only = mlen == 4 && memcmp(p, "HEAD", 4) == 0;
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
        n = mh_line(p, e, &next);
        if (n < 0)
            return 400;
        if (n == 0)
            break;
        colon = memchr(p, ':', (size_t)n);
        if (colon == NULL || colon == p)
            return 400; /* also obsolete line folding: it starts with a space */
        for (q = p; q < colon; q++)
            if (!is_tchar((unsigned char)*q))
                return 400;
        for (q = colon + 1; q < p + n; q++)
            if (((unsigned char)*q < ' ' && *q != '\t') || *q == 0x7f)
                return 400;
    }
    /* the path: origin form, or absolute form (http://host/path) */
    path = target;
    if (tlen > 7 && strncasecmp(target, "http://", 7) == 0) {
        path = memchr(target + 7, '/', tlen - 7);
        if (path == NULL)
            return 404;
    }
    tlen -= (size_t)(path - target);
    q = memchr(path, '?', tlen);
    if (q != NULL)
        tlen = (size_t)(q - path);
    if (tlen != 8 || memcmp(path, "/metrics", 8) != 0)
        return 404;
    return get || *head_only ? 200 : 405;
}

static const char *mh_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
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

static const char *mh_error_text(int status)
{
    switch (status) {
    case 404:
        return "404 not found: netdiagd serves /metrics\n";
    case 405:
        return "405 method not allowed: use GET or HEAD\n";
    case 431:
        return "431 request head too large\n";
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

/* Send `status` with body (a shared one, whose reference c takes over, or
 * a static text) and close after it. May close c. */
static void mh_reply(struct mh_conn *c, int status, struct mh_body *body, bool head_only)
{
    const char *text = body != NULL ? body->data : mh_error_text(status);
    size_t len = body != NULL ? body->len : strlen(text);
    int n;

    n = snprintf(c->head, sizeof(c->head),
                 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s"
                 "Connection: close\r\n\r\n",
                 status, mh_reason(status),
                 status == 200 ? MH_CONTENT_TYPE : "text/plain; charset=utf-8", len,
                 status == 405 ? "Allow: GET, HEAD\r\n" : "",
                 status == 503 ? "Retry-After: 1\r\n" : "");
    c->iov[0].iov_base = c->head;
    c->iov[0].iov_len = n > 0 && (size_t)n < sizeof(c->head) ? (size_t)n : 0;
    c->iov[1].iov_base = (void *)(uintptr_t)text;
    c->iov[1].iov_len = head_only ? 0 : len;
    if (head_only || body == NULL)
        mh_body_unref(c->h, body);
    else
        c->body = body;
    c->state = MH_WRITE;
    c->deadline_us = c->accept_us + c->h->lim.total_ms * 1000;
    event_del(c->ev_read);
    mh_write(c);
}

static void mh_answer(struct mh_conn *c, size_t end)
{
    bool head_only;
    int status = mh_parse(c, end, &head_only);
    struct mh_body *body = NULL;

    if (status == 200)
        body = mh_body_get(c->h, &status);
    mh_reply(c, status, body, head_only);
}

static void mh_read_request(struct mh_conn *c)
{
    size_t old = c->len, end;
    ssize_t n = recv(c->fd, c->req + c->len, sizeof(c->req) - c->len, 0);

    if (n == 0) {
        mh_close(c, MH_CLOSE_PEER);
        return;
    }
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            mh_wait(c, c->ev_read);
        else
            mh_close(c, MH_CLOSE_PEER);
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
    end = mh_head_end(c, old);
    if (end > 0)
        mh_answer(c, end);
    else if (c->len == sizeof(c->req))
        mh_reply(c, 431, NULL, false);
    else
        mh_wait(c, c->ev_read);
}

static void mh_linger(struct mh_conn *c)
{
    ssize_t n = recv(c->fd, c->req, sizeof(c->req), 0);
    bool more;

    if (n > 0)
        more = (c->linger_bytes += (size_t)n) <= MH_LINGER_MAX;
    else
        more = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
    if (more)
        mh_wait(c, c->ev_read);
    else
        mh_close(c, MH_CLOSE_REPLIED);
}

/* Send what the socket takes; when all is out, shut the write side and
 * read what the peer still sends for a moment, so that a request body we
 * never read does not turn our close into a reset that loses the reply. */
static void mh_write(struct mh_conn *c)
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
                mh_wait(c, c->ev_write);
            else
                mh_close(c, MH_CLOSE_PEER);
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
    mh_body_unref(c->h, c->body); /* sent: let it go now, not at close */
    c->body = NULL;
    shutdown(c->fd, SHUT_WR);
    c->state = MH_LINGER;
    linger_us = util_mono_us() + MH_LINGER_MS * 1000LL;
    if (linger_us < c->deadline_us)
        c->deadline_us = linger_us;
    mh_wait(c, c->ev_read);
}

static void mh_read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct mh_conn *c = arg;

    (void)fd;
    if ((what & EV_TIMEOUT) != 0) {
        mh_wait(c, c->ev_read); /* times out unless it fired early */
        return;
    }
    if (c->state == MH_READ)
        mh_read_request(c);
    else
        mh_linger(c);
}

static void mh_write_cb(evutil_socket_t fd, short what, void *arg)
{
    struct mh_conn *c = arg;

    (void)fd;
    if ((what & EV_TIMEOUT) != 0)
        mh_wait(c, c->ev_write);
    else
        mh_write(c);
}

/* The listener */

/* A listening, non-blocking socket on `addr` (an address literal with a
 * port, as config.c validated it). Returns the fd, or -1 with errno set
 * and a message naming the address in err. */
static int mh_listen_open(const char *addr, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    char perr[160];
    int fd, one = 1, e;
    const struct wsa_code *w;

    if (util_parse_sockaddr(addr, -1, &ss, &sslen, perr, sizeof(perr)) < 0) {
        snprintf(err, errlen, "metrics_listen %s: %s", addr, perr);
        errno = EINVAL;
        return -1;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto bad;
    /* connections of a previous run in TIME_WAIT must not block a restart */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
        goto bad;
    if (bind(fd, (struct sockaddr *)&ss, sslen) < 0 || listen(fd, 64) < 0)
        goto bad;
    return fd;
bad:
    e = errno;
    w = wsa_by_code(wsa_from_errno(e));
    snprintf(err, errlen, "metrics_listen %s: cannot listen: %s (%s)", addr, strerror(e),
             w != NULL ? w->name : "?");
    if (fd >= 0)
        close(fd);
    errno = e;
    return -1;
}

static void mh_listener_close(struct metrics_http *h)
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
static int mh_listener_attach(struct metrics_http *h, int fd, const char *addr, char *err,
                              size_t errlen)
{
    struct event *ev = event_new(h->base, fd, EV_READ | EV_PERSIST, mh_accept_cb, h);
    char *copy = strdup(addr);

    if (ev == NULL || copy == NULL) {
        if (ev != NULL)
            event_free(ev);
        free(copy);
        close(fd);
        snprintf(err, errlen, "metrics_listen %s: out of memory", addr);
        return -1;
    }
    mh_prio(h, ev);
    mh_listener_close(h);
    free(h->addr);
    h->addr = copy;
    h->lfd = fd;
    h->ev_listen = ev;
    /* what is open beside our connections: the store, the resolver, the
     * loop, and the probes' sockets if any (then counted twice: safe) */
    h->base_fds = mh_count_fds(fd + 1);
    h->base_fds = h->base_fds > h->st.open ? h->base_fds - h->st.open : 0;
    mh_resume(h);
    return 0;
}

int metrics_http_listen(struct metrics_http *h, const char *addr, char *err, size_t errlen)
{
    char old_err[256];
    int fd;

    if (h->addr != NULL && h->lfd >= 0 && strcmp(h->addr, addr) == 0)
        return 0;
    fd = mh_listen_open(addr, err, errlen);
    if (fd < 0 && errno == EADDRINUSE && h->lfd >= 0 && h->addr != NULL) {
        /* probably our own socket (127.0.0.1:P -> 0.0.0.0:P): let go of
         * it, try again, and take it back if that fails too */
        mh_listener_close(h);
        fd = mh_listen_open(addr, err, errlen);
        if (fd < 0) {
            int ofd = mh_listen_open(h->addr, old_err, sizeof(old_err));
            if (ofd < 0 || mh_listener_attach(h, ofd, h->addr, old_err, sizeof(old_err)) < 0)
                log_error("metrics: %s; /metrics is not served", old_err);
            return -1;
        }
    }
    if (fd < 0 || mh_listener_attach(h, fd, addr, err, errlen) < 0)
        return -1;
    return 1;
}

struct metrics_http *metrics_http_new(struct event_base *base, metrics_http_render_fn render,
                                      void *arg)
{
    struct metrics_http *h = calloc(1, sizeof(*h));
    int np;

    if (h == NULL)
        return NULL;
    h->base = base;
    h->render = render;
    h->render_arg = arg;
    h->lfd = -1;
    h->lim.max_conns = METRICS_HTTP_MAX_CONNS;
    h->lim.request_ms = METRICS_HTTP_REQUEST_MS;
    h->lim.total_ms = METRICS_HTTP_TOTAL_MS;
    h->lim.fd_spare = METRICS_HTTP_FD_SPARE;
    h->lim.body_budget = METRICS_HTTP_BODY_BUDGET;
    h->lim.share_ms = METRICS_HTTP_SHARE_MS;
    np = event_base_get_npriorities(base);
    h->prio = np > 1 ? np - 1 : 0;
    h->ev_retry = evtimer_new(base, mh_retry_cb, h);
    h->ev_log = evtimer_new(base, mh_log_cb, h);
    if (h->ev_retry == NULL || h->ev_log == NULL) {
        metrics_http_free(h);
        return NULL;
    }
    mh_prio(h, h->ev_retry);
    mh_prio(h, h->ev_log);
    return h;
}

void metrics_http_set_targets(struct metrics_http *h, size_t ntargets)
{
    if (h != NULL)
        h->ntargets = ntargets;
}

void metrics_http_invalidate(struct metrics_http *h)
{
    if (h == NULL)
        return;
    mh_body_unref(h, h->cache);
    h->cache = NULL;
}

void metrics_http_set_limits(struct metrics_http *h, const struct metrics_http_limits *lim)
{
    if (h != NULL && lim != NULL)
        h->lim = *lim;
}

void metrics_http_get_stats(const struct metrics_http *h, struct metrics_http_stats *out)
{
    if (h != NULL)
        *out = h->st;
    else
        memset(out, 0, sizeof(*out));
}

void metrics_http_free(struct metrics_http *h)
{
    if (h == NULL)
        return;
    mh_listener_close(h);
    if (h->ev_retry != NULL)
        event_free(h->ev_retry);
    h->ev_retry = NULL;
    h->retry_pending = true; /* mh_close() must not start accepting again */
    for (struct mh_conn *c = h->conns, *next; c != NULL; c = next) {
        next = c->next;
        mh_close(c, MH_CLOSE_ERROR);
    }
    metrics_http_invalidate(h);
    mh_log_flush(h, true);
    if (h->ev_log != NULL)
        event_free(h->ev_log);
    free(h->addr);
    free(h);
}
