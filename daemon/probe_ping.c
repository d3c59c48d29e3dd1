/* SPDX-License-Identifier: ISC */
/* The ping probe: ICMP and ICMPv6 echo, `count` echoes an attempt spaced
 * by `spacing`, over the sockets every ping target of the engine shares
 * (ping_pool.c; as fping has one socket per family, not one per target),
 * and the attempt's figures: echoes sent and answered, min, median and
 * max RTT, duplicate, late and foreign replies, the first ICMP error. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <event2/event.h>

#include "icmp.h"
#include "log.h"
#include "ping_int.h"

#define PING_SEND_BURST 1024 /* echoes sent per wake-up of the send timer */
#define PING_SEND_TRIES 3

static void ping_end(struct ping_attempt *a);

/* ---- the send queues ---- */

static void pool_arm(struct ping_pool *pool, int64_t at)
{
    int64_t rel;
    struct timeval tv;

    if (at >= pool->send_at_us)
        return;
    pool->send_at_us = at;
    rel = at - util_mono_us() + 1; /* +1: timeval rounding never early */
    if (rel < 0)
        rel = 0;
    tv.tv_sec = rel / 1000000;
    tv.tv_usec = rel % 1000000;
    event_base_update_cache_time(pool->base);
    if (evtimer_add(pool->ev_send, &tv) < 0)
        fatalx("ping: cannot arm the echo timer (out of memory)");
}

static void queue_remove(struct ping_attempt *a)
{
    struct ping_queue *q = a->q;

    if (q == NULL)
        return;
    if (a->qprev != NULL)
        a->qprev->qnext = a->qnext;
    else
        q->head = a->qnext;
    if (a->qnext != NULL)
        a->qnext->qprev = a->qprev;
    else
        q->tail = a->qprev;
    a->qprev = a->qnext = NULL;
    a->q = NULL;
}

/* Wait for the next echo at a->next_us. Its place is at the tail but
 * for clock oddities (the walk back is bounded by what came later). */
static int queue_add(struct ping_attempt *a)
{
    struct ping_pool *pool = a->pool;
    int64_t sp = (int64_t)a->p->t->ping_spacing_ms * 1000;
    struct ping_queue *q = NULL;
    struct ping_attempt *after;

    for (size_t i = 0; i < pool->nqueues && q == NULL; i++)
        if (pool->queues[i]->spacing_us == sp)
            q = pool->queues[i];
    if (q == NULL) {
        struct ping_queue **qs = realloc(pool->queues, (pool->nqueues + 1) * sizeof(*qs));
        if (qs == NULL)
            return -1;
        pool->queues = qs;
        q = calloc(1, sizeof(*q));
        if (q == NULL)
            return -1;
        q->spacing_us = sp;
        pool->queues[pool->nqueues++] = q;
    }
    after = q->tail;
    while (after != NULL && after->next_us > a->next_us)
        after = after->qprev;
    a->q = q;
    a->qprev = after;
    a->qnext = after != NULL ? after->qnext : q->head;
    if (a->qnext != NULL)
        a->qnext->qprev = a;
    else
        q->tail = a;
    if (after != NULL)
        after->qnext = a;
    else
        q->head = a;
    pool_arm(pool, q->head->next_us);
    return 0;
}

/* ---- sending ---- */

void probe_ping_echo_error(struct ping_attempt *a, int err, bool icmp, uint8_t type, uint8_t code,
                           const struct sockaddr *from)
{
    a->nerr++;
    if (a->err != 0)
        return;
    a->err = err;
    a->err_icmp = icmp;
    a->err_type = type;
    a->err_code = code;
    memset(&a->err_from, 0, sizeof(a->err_from));
    if (from != NULL && (from->sa_family == AF_INET || from->sa_family == AF_INET6))
        memcpy(&a->err_from, from,
               from->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                           : sizeof(struct sockaddr_in));
}

/* Whether a sendto() that failed may have failed for another echo: an
 * ICMP error about any echo of a shared socket sets the socket's pending
 * error, which the next sendto() returns (and clears) in place of
 * sending. That error is in the error queue too (IP_RECVERR), so POLLERR
 * still shows; a local refusal (a route, netfilter's EPERM) leaves the
 * queue empty and is not tried again: that would send an echo a rule
 * meant to drop. */
static bool send_error_was_pending(int fd)
{
    struct pollfd pfd = {.fd = fd, .events = 0};

    return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLERR) != 0;
}

/* Send echo number a->nsent. Never ends the attempt
 * (probe_ping_maybe_done() does). */
static void ping_send_echo(struct ping_attempt *a)
{
    struct probe *p = a->p;
    struct ping_pool *pool = a->pool;
    struct ping_echo *e = &a->echo[a->nsent];
    struct ping_sock *s = NULL;
    uint16_t seq = 0;
    size_t len;
    ssize_t n = -1;
    int err = ping_pool_echo_slot(a, &s, &seq);

    a->nsent++;
    e->rtt_us = 0;
    if (err != 0) {
        e->seq = 0;
        e->sock = UINT8_MAX; /* no slot: no reply can be this echo's */
        e->state = ECHO_ERROR;
        probe_ping_echo_error(a, err, false, 0, 0, NULL);
        return;
    }
    e->seq = seq;
    e->sock = (uint8_t)s->idx;
    len = icmp_echo_build(pool->tx, pool->txcap, s->af, s->raw ? s->id : 0, seq,
                          icmp_cookie(pool->secret, a->ps->serial, s->idx, seq),
                          (size_t)p->t->ping_size);
    for (int tries = 0; tries < PING_SEND_TRIES && n < 0; tries++) {
        e->sent_us = util_mono_us();
        n = sendto(s->fd, pool->tx, len, MSG_DONTWAIT, &p->addr.sa, p->addrlen);
        err = n < 0 ? errno : 0;
        if (err == EAGAIN || err == ENOBUFS || err == ENOMEM) {
            err = ENOBUFS; /* the socket's send buffer is full: no echo left */
            break;
        }
        if (n < 0 && err != EINTR && !send_error_was_pending(s->fd))
            break;
    }
    if (n < 0) {
        e->state = ECHO_ERROR;
        probe_ping_echo_error(a, err, false, 0, 0, NULL);
        return;
    }
    e->state = ECHO_WAIT;
    a->nwait++;
}

void probe_ping_maybe_done(struct ping_attempt *a)
{
    if (a->nsent == a->count && a->nwait == 0)
        ping_end(a);
}

void probe_ping_send_cb(evutil_socket_t fd, short what, void *arg)
{
    struct ping_pool *pool = arg;
    int64_t now = util_mono_us(), next = INT64_MAX;
    size_t budget = PING_SEND_BURST;

    (void)fd;
    (void)what;
    pool->send_at_us = INT64_MAX;
    for (size_t i = 0; i < pool->nqueues; i++) {
        struct ping_queue *q = pool->queues[i];
        struct ping_attempt *a;

        while ((a = q->head) != NULL && a->next_us <= now && budget > 0) {
            budget--;
            queue_remove(a);
            ping_send_echo(a);
            if (a->nsent < a->count) {
                /* on the schedule of the attempt's start; a loop that fell
                 * a whole spacing behind does not send the next at once */
                a->next_us += q->spacing_us;
                if (a->next_us < now)
                    a->next_us = now + q->spacing_us;
                if (queue_add(a) < 0) /* out of memory: no more echoes */
                    a->count = a->nsent;
            }
            if (a->nsent == a->count)
                probe_ping_maybe_done(a); /* may free a, may start the next address */
        }
        if (q->head != NULL && q->head->next_us < next)
            next = q->head->next_us;
    }
    if (next != INT64_MAX)
        pool_arm(pool, budget == 0 ? now : next);
}

/* ---- the attempt ---- */

static struct ping_state *ping_state(struct probe *p)
{
    struct ping_state *ps = p->kstate;
    struct ping_pool *pool;

    if (ps != NULL)
        return ps;
    pool = ping_pool_get(p);
    if (pool == NULL)
        return NULL;
    ps = calloc(1, sizeof(*ps));
    if (ps == NULL)
        return NULL;
    if (ping_pool_handle(pool, p, &ps->handle) < 0) {
        free(ps);
        return NULL;
    }
    ps->first_serial = pool->serial + 1;
    pool->refs++;
    p->kstate = ps;
    return ps;
}

/* The attempt's end without a result (abort, release): its slots are
 * free from now on. */
static void ping_drop_attempt(struct ping_state *ps)
{
    if (ps->att != NULL) {
        queue_remove(ps->att);
        free(ps->att);
        ps->att = NULL;
    }
}

static void ping_start(struct probe *p)
{
    struct ping_state *ps = ping_state(p);
    struct ping_pool *pool;
    struct ping_attempt *a;
    size_t count = (size_t)p->t->ping_count;
    size_t need = ICMP_HDR_LEN + (size_t)p->t->ping_size;
    int err;

    p->phase = PHASE_SEND;
    if (ps == NULL) {
        probe_complete_errno(p, PHASE_SEND, ENOMEM, NULL);
        return;
    }
    pool = ping_pool_get(p); /* found: ps has a handle in it */
    ping_drop_attempt(ps);   /* never: an attempt always ends first */
    err = ping_pool_family_ready(pool, p->addr.sa.sa_family);
    if (err != 0) {
        probe_complete_errno(p, PHASE_SEND, err,
                             pool->fam[ping_family_index(p->addr.sa.sa_family)].why);
        return;
    }
    if (pool->txcap < need) {
        unsigned char *tx = realloc(pool->tx, need);
        if (tx == NULL) {
            probe_complete_errno(p, PHASE_SEND, ENOMEM, NULL);
            return;
        }
        pool->tx = tx;
        pool->txcap = need;
    }
    a = calloc(1, sizeof(*a) + count * sizeof(a->echo[0]));
    if (a == NULL) {
        probe_complete_errno(p, PHASE_SEND, ENOMEM, NULL);
        return;
    }
    a->ps = ps;
    a->p = p;
    a->pool = pool;
    a->count = (uint16_t)count;
    if (++pool->serial == 0)
        pool->serial = 1;
    ps->serial = pool->serial;
    ps->att = a;
    ping_send_echo(a);
    if (a->nsent < a->count) {
        a->next_us = p->start_us + (int64_t)p->t->ping_spacing_ms * 1000;
        if (queue_add(a) == 0)
            return;
        a->count = a->nsent; /* out of memory: this echo is the only one */
    }
    probe_ping_maybe_done(a);
}

/* The attempt ending now, for ping_finish() inside its completion (the
 * ICMP error its result names); NULL otherwise. */
static const struct ping_attempt *ping_ending;

/* "; host unreachable, reported by 10.1.0.2 (ICMP 3/1)", "; 5 errors,
 * first: not sent: Permission denied", "; no reply within 3000 ms", or
 * nothing. */
static void ping_tail(const struct ping_attempt *a, const struct probe *p, char *buf, size_t len)
{
    char what[120], from[INET6_ADDRSTRLEN] = "";

    buf[0] = '\0';
    if (a->err == 0) {
        if (a->nrecv == 0)
            snprintf(buf, len, "; no reply within %lld ms", (long long)p->t->timeout_ms);
        return;
    }
    if (a->err_from.sa.sa_family != 0) {
        char addr[INET6_ADDRSTRLEN];
        const void *ip = a->err_from.sa.sa_family == AF_INET6
                             ? (const void *)&a->err_from.sin6.sin6_addr
                             : (const void *)&a->err_from.sin.sin_addr;
        if (inet_ntop(a->err_from.sa.sa_family, ip, addr, sizeof(addr)) != NULL)
            util_strlcpy(from, addr, sizeof(from));
    }
    if (a->err_icmp)
        icmp_error_origin(p->addr.sa.sa_family, a->err_type, a->err_code, from, what, sizeof(what));
    else
        snprintf(what, sizeof(what), "not sent: %s%s%s", strerror(a->err), from[0] ? " from " : "",
                 from);
    if (a->nerr > 1)
        snprintf(buf, len, "; %u errors, first: %s", a->nerr, what);
    else
        snprintf(buf, len, "; %s", what);
}

/* The figures, the detail and the outcome of the attempt, and its end.
 * The attempt is taken off the target first and freed last: inside the
 * completion the next address of the target may start its own. */
static void ping_end(struct ping_attempt *a)
{
    struct ping_state *ps = a->ps;
    struct probe *p = a->p;
    struct ping_pool *pool = a->pool;
    struct icmp_figures f;
    int32_t rtt[PING_COUNT_MAX];
    size_t n = 0, off;
    char detail[256], tail[160];

    queue_remove(a);
    ps->att = NULL;
    for (uint16_t i = 0; i < a->nsent; i++)
        if (a->echo[i].state == ECHO_REPLY)
            rtt[n++] = a->echo[i].rtt_us;
    memset(&f, 0, sizeof(f));
    icmp_rtt_figures(rtt, n, &f.min_us, &f.med_us, &f.max_us);
    f.sent = a->nsent;
    f.received = a->nrecv;
    f.errors = a->nerr;
    f.dup = a->ndup;
    f.late = ps->nlate;
    f.foreign = a->nforeign;
    icmp_format_figures(&f, detail, sizeof(detail));
    ping_tail(a, p, tail, sizeof(tail));
    off = strlen(detail);
    if (tail[0] != '\0')
        util_strlcpy(detail + off, tail, sizeof(detail) - off);
    pool->report.ps = ps;
    pool->report.sent = a->nsent;
    pool->report.recv = a->nrecv;
    pool->report.min_us = (int32_t)f.min_us;
    pool->report.med_us = (int32_t)f.med_us;
    pool->report.max_us = (int32_t)f.max_us;
    if (a->nrecv > 0) {
        p->phase = PHASE_RECV; /* an ok result's phase: where it ended */
        if (a->local.sa.sa_family != 0)
            probe_set_local(p, &a->local); /* read inside the completion */
        probe_complete_ok(p, detail);
    } else if (a->err != 0) {
        ping_ending = a;
        probe_complete_errno(p, PHASE_SEND, a->err, detail);
        ping_ending = NULL;
    } else {
        probe_complete_errno(p, PHASE_RECV, ETIMEDOUT, detail);
    }
    pool->report.ps = NULL;
    free(a);
}

/* The deadline: the echoes still unanswered are lost. */
static void ping_deadline(struct probe *p)
{
    struct ping_state *ps = p->kstate;

    if (ps == NULL || ps->att == NULL) {
        probe_complete_errno(p, p->phase, ETIMEDOUT, NULL);
        return;
    }
    ping_end(ps->att);
}

/* An address without its port: "127.0.0.1", "::1". */
static void addr_only(char *buf)
{
    char *colon;

    if (buf[0] == '[') {
        char *close = strchr(buf, ']');
        if (close != NULL) {
            size_t n = (size_t)(close - buf - 1);
            memmove(buf, buf + 1, n);
            buf[n] = '\0';
        }
    } else if ((colon = strrchr(buf, ':')) != NULL) {
        *colon = '\0';
    }
}

static void ping_finish(struct probe *p, struct result *r)
{
    struct ping_state *ps = p->kstate;
    struct ping_pool *pool;

    /* a ping has no port (a failed look-up's remote is its nameserver) */
    if (r->phase != PHASE_RESOLVE && r->remote[0] != '\0')
        addr_only(r->remote);
    if (r->phase != PHASE_RESOLVE && r->local[0] != '\0')
        addr_only(r->local);
    if (ping_ending != NULL && ping_ending->p == p && ping_ending->err_icmp && !r->ok) {
        const struct ping_attempt *a = ping_ending;
        const void *ip = a->err_from.sa.sa_family == AF_INET6
                             ? (const void *)&a->err_from.sin6.sin6_addr
                             : (const void *)&a->err_from.sin.sin_addr;
        r->icmp = true;
        r->icmp_type = a->err_type;
        r->icmp_code = a->err_code;
        if (a->err_from.sa.sa_family == 0 ||
            inet_ntop(a->err_from.sa.sa_family, ip, r->icmp_from, sizeof(r->icmp_from)) == NULL)
            r->icmp_from[0] = '\0';
    }
    if (ps == NULL || (pool = ping_pool_get(p)) == NULL || pool->report.ps != ps)
        return; /* no echo went out: a look-up or the socket failed */
    pool->report.ps = NULL;
    r->echo_sent = pool->report.sent;
    r->echo_recv = pool->report.recv;
    r->rtt_min_us = pool->report.min_us;
    r->rtt_max_us = pool->report.max_us;
    if (r->ok)
        r->latency_us = pool->report.med_us;
    ps->nlate = 0; /* told */
}

static void ping_abort(struct probe *p)
{
    struct ping_state *ps = p->kstate;

    if (ps == NULL)
        return;
    ping_drop_attempt(ps);
}

static void ping_release(struct probe *p)
{
    struct ping_state *ps = p->kstate;
    struct ping_pool *pool;

    if (ps == NULL)
        return;
    ping_drop_attempt(ps);
    pool = ping_pool_get(p); /* found: ps has a handle in it */
    if (pool == NULL)
        return;
    pool->owners[ps->handle] = NULL;
    pool->free_h[pool->nfree++] = ps->handle;
    if (--pool->refs == 0)
        ping_pool_free(pool);
}

int probe_ping_check(const struct config *cfg, char *msg, size_t len)
{
    bool v4 = false, v6 = false, raw;
    int af, fd;

    for (size_t i = 0; i < cfg->ntargets; i++) {
        const struct target *t = &cfg->targets[i];
        unsigned char a[16];
        if (t->kind != KIND_PING)
            continue;
        if (t->family == FAMILY_IPV6 || inet_pton(AF_INET6, t->host, a) == 1)
            v6 = true;
        else
            v4 = true;
    }
    if (!v4 && !v6)
        return 0;
    /* ping_group_range and CAP_NET_RAW decide for both families alike */
    af = v4 ? AF_INET : AF_INET6;
    fd = ping_pool_socket(af, &raw);
    if (fd >= 0) {
        close(fd);
        return 0;
    }
    if (errno == EACCES)
        ping_pool_why_refused(msg, len);
    else
        snprintf(msg, len, "ping targets: cannot open an %s socket: %s",
                 af == AF_INET6 ? "ICMPv6" : "ICMP", strerror(errno));
    return -1;
}

const struct probe_ops probe_ping_ops = {
    .kind = KIND_PING,
    .name = "ping",
    .needs_address = true,
    .start = ping_start,
    .abort = ping_abort,
    .deadline = ping_deadline,
    .finish = ping_finish,
    .release = ping_release,
};
