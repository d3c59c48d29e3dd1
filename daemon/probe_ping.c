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

static void ping_end(struct ping_state *ps);

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

static void queue_remove(struct ping_state *ps)
{
    struct ping_queue *q = ps->q;

    if (q == NULL)
        return;
    if (ps->qprev != NULL)
        ps->qprev->qnext = ps->qnext;
    else
        q->head = ps->qnext;
    if (ps->qnext != NULL)
        ps->qnext->qprev = ps->qprev;
    else
        q->tail = ps->qprev;
    ps->qprev = ps->qnext = NULL;
    ps->q = NULL;
}

/* Wait for the next echo at ps->next_us. Its place is at the tail but
 * for clock oddities (the walk back is bounded by what came later). */
static int queue_add(struct ping_state *ps)
{
    struct ping_pool *pool = ps->pool;
    int64_t sp = ps->p->t->ping_spacing_ms * 1000;
    struct ping_queue *q = NULL;
    struct ping_state *after;

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
    while (after != NULL && after->next_us > ps->next_us)
        after = after->qprev;
    ps->q = q;
    ps->qprev = after;
    ps->qnext = after != NULL ? after->qnext : q->head;
    if (ps->qnext != NULL)
        ps->qnext->qprev = ps;
    else
        q->tail = ps;
    if (after != NULL)
        after->qnext = ps;
    else
        q->head = ps;
    pool_arm(pool, q->head->next_us);
    return 0;
}

/* ---- sending ---- */

void probe_ping_echo_error(struct ping_state *ps, int err, bool icmp, uint8_t type, uint8_t code,
                           const struct sockaddr *from)
{
    ps->nerr++;
    if (ps->err != 0)
        return;
    ps->err = err;
    ps->err_icmp = icmp;
    ps->err_type = type;
    ps->err_code = code;
    memset(&ps->err_from, 0, sizeof(ps->err_from));
    if (from != NULL && (from->sa_family == AF_INET || from->sa_family == AF_INET6))
        memcpy(&ps->err_from, from,
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

/* Send echo number ps->nsent. Never ends the attempt (probe_ping_maybe_done()
 * does). */
static void ping_send_echo(struct ping_state *ps)
{
    struct probe *p = ps->p;
    struct ping_pool *pool = ps->pool;
    struct ping_echo *e = &ps->echo[ps->nsent];
    struct ping_sock *s = NULL;
    uint16_t seq = 0;
    size_t len;
    ssize_t n = -1;
    int err = ping_pool_echo_slot(ps, p->addr.sa.sa_family, &s, &seq);

    ps->nsent++;
    e->rtt_us = 0;
    if (err != 0) {
        e->seq = 0;
        e->sock = UINT8_MAX; /* no slot: no reply can be this echo's */
        e->state = ECHO_ERROR;
        probe_ping_echo_error(ps, err, false, 0, 0, NULL);
        return;
    }
    e->seq = seq;
    e->sock = (uint8_t)s->idx;
    len = icmp_echo_build(pool->tx, pool->txcap, s->af, s->raw ? s->id : 0, seq,
                          icmp_cookie(pool->secret, ps->serial, s->idx, seq),
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
        probe_ping_echo_error(ps, err, false, 0, 0, NULL);
        return;
    }
    e->state = ECHO_WAIT;
    ps->nwait++;
}

void probe_ping_maybe_done(struct ping_state *ps)
{
    if (ps->active && ps->nsent == ps->count && ps->nwait == 0)
        ping_end(ps);
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
        struct ping_state *ps;

        while ((ps = q->head) != NULL && ps->next_us <= now && budget > 0) {
            budget--;
            queue_remove(ps);
            ping_send_echo(ps);
            if (ps->nsent < ps->count) {
                /* on the schedule of the attempt's start; a loop that fell
                 * a whole spacing behind does not send the next at once */
                ps->next_us += q->spacing_us;
                if (ps->next_us < now)
                    ps->next_us = now + q->spacing_us;
                if (queue_add(ps) < 0) /* out of memory: no more echoes */
                    ps->count = ps->nsent;
            }
            if (ps->nsent == ps->count)
                probe_ping_maybe_done(ps); /* may start the next address: ps is not ours after */
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
    size_t count = (size_t)p->t->ping_count;

    if (ps != NULL)
        return ps;
    pool = ping_pool_get(p);
    if (pool == NULL)
        return NULL;
    ps = calloc(1, sizeof(*ps) + count * sizeof(ps->echo[0]));
    if (ps == NULL)
        return NULL;
    if (ping_pool_handle(pool, p, &ps->handle) < 0) {
        free(ps);
        return NULL;
    }
    ps->pool = pool;
    ps->p = p;
    ps->count = (uint16_t)count;
    ps->first_serial = pool->serial + 1;
    pool->refs++;
    p->kstate = ps;
    return ps;
}

static void ping_start(struct probe *p)
{
    struct ping_state *ps = ping_state(p);
    struct ping_pool *pool;
    size_t need = ICMP_HDR_LEN + (size_t)p->t->ping_size;
    int err;

    p->phase = PHASE_SEND;
    if (ps == NULL) {
        probe_complete_errno(p, PHASE_SEND, ENOMEM, NULL);
        return;
    }
    pool = ps->pool;
    ps->report = false;
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
    if (++pool->serial == 0)
        pool->serial = 1;
    ps->serial = pool->serial;
    ps->count = (uint16_t)p->t->ping_count;
    ps->nsent = ps->nwait = ps->nrecv = ps->nerr = ps->ndup = ps->nforeign = 0;
    ps->err = 0;
    memset(&ps->local, 0, sizeof(ps->local));
    for (uint16_t i = 0; i < ps->count; i++)
        ps->echo[i].state = ECHO_UNSENT;
    ps->active = true;
    ping_send_echo(ps);
    if (ps->nsent < ps->count) {
        ps->next_us = p->start_us + p->t->ping_spacing_ms * 1000;
        if (queue_add(ps) == 0)
            return;
        ps->count = ps->nsent; /* out of memory: this echo is the only one */
    }
    probe_ping_maybe_done(ps);
}

/* The figures, the detail and the outcome of the attempt, and its end:
 * the last thing done with ps (the next address may start inside). */
static void ping_end(struct ping_state *ps)
{
    struct probe *p = ps->p;
    struct icmp_figures f;
    int32_t rtt[PING_COUNT_MAX];
    size_t n = 0;
    int64_t mn, md, mx;
    char detail[256], tail[160] = "";
    size_t off;

    queue_remove(ps);
    ps->active = false;
    ps->report = true;
    for (uint16_t i = 0; i < ps->nsent; i++)
        if (ps->echo[i].state == ECHO_REPLY)
            rtt[n++] = ps->echo[i].rtt_us;
    icmp_rtt_figures(rtt, n, &mn, &md, &mx);
    ps->min_us = (int32_t)mn;
    ps->med_us = (int32_t)md;
    ps->max_us = (int32_t)mx;
    memset(&f, 0, sizeof(f));
    f.sent = ps->nsent;
    f.received = ps->nrecv;
    f.errors = ps->nerr;
    f.dup = ps->ndup;
    f.late = ps->nlate;
    f.foreign = ps->nforeign;
    f.min_us = mn;
    f.med_us = md;
    f.max_us = mx;
    icmp_format_figures(&f, detail, sizeof(detail));
    if (ps->err != 0) {
        char what[80], text[64], from[INET6_ADDRSTRLEN + 8] = "";
        const void *a = ps->err_from.sa.sa_family == AF_INET6
                            ? (const void *)&ps->err_from.sin6.sin6_addr
                            : (const void *)&ps->err_from.sin.sin_addr;
        if (ps->err_from.sa.sa_family != 0) {
            char addr[INET6_ADDRSTRLEN];
            if (inet_ntop(ps->err_from.sa.sa_family, a, addr, sizeof(addr)) != NULL)
                snprintf(from, sizeof(from), " from %s", addr);
        }
        if (ps->err_icmp)
            snprintf(what, sizeof(what), "ICMP %s",
                     icmp_error_text(p->addr.sa.sa_family, ps->err_type, ps->err_code, text,
                                     sizeof(text)));
        else
            snprintf(what, sizeof(what), "not sent: %s", strerror(ps->err));
        if (ps->nerr > 1)
            snprintf(tail, sizeof(tail), "%u errors, first: %s%s", ps->nerr, what, from);
        else
            snprintf(tail, sizeof(tail), "%s%s", what, from);
    } else if (ps->nrecv == 0) {
        snprintf(tail, sizeof(tail), "no reply within %lld ms", (long long)p->t->timeout_ms);
    }
    off = strlen(detail);
    if (tail[0] != '\0' && off < sizeof(detail))
        snprintf(detail + off, sizeof(detail) - off, "; %s", tail);
    if (ps->nrecv > 0) {
        p->phase = PHASE_RECV; /* an ok result's phase: where it ended */
        if (ps->local.sa.sa_family != 0)
            probe_set_local(p, &ps->local);
        probe_complete_ok(p, detail);
    } else if (ps->err != 0) {
        probe_complete_errno(p, PHASE_SEND, ps->err, detail);
    } else {
        probe_complete_errno(p, PHASE_RECV, ETIMEDOUT, detail);
    }
}

/* The deadline: the echoes still unanswered are lost. */
static void ping_deadline(struct probe *p)
{
    struct ping_state *ps = p->kstate;

    if (ps == NULL || !ps->active) {
        probe_complete_errno(p, p->phase, ETIMEDOUT, NULL);
        return;
    }
    ping_end(ps);
}

/* An address without its port: "127.0.0.1", "::1". */
static void addr_only(char *buf, size_t len)
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
    (void)len;
}

static void ping_finish(struct probe *p, struct result *r)
{
    struct ping_state *ps = p->kstate;

    /* a ping has no port (a failed look-up's remote is its nameserver) */
    if (r->phase != PHASE_RESOLVE && r->remote[0] != '\0')
        addr_only(r->remote, sizeof(r->remote));
    if (r->phase != PHASE_RESOLVE && r->local[0] != '\0')
        addr_only(r->local, sizeof(r->local));
    if (ps == NULL || !ps->report)
        return;
    ps->report = false;
    r->echo_sent = ps->nsent;
    r->echo_recv = ps->nrecv;
    r->rtt_min_us = ps->min_us;
    r->rtt_max_us = ps->max_us;
    if (r->ok)
        r->latency_us = ps->med_us;
    ps->nlate = 0; /* told */
}

static void ping_abort(struct probe *p)
{
    struct ping_state *ps = p->kstate;

    if (ps == NULL)
        return;
    queue_remove(ps);
    ps->active = false;
    ps->report = false;
}

static void ping_release(struct probe *p)
{
    struct ping_state *ps = p->kstate;
    struct ping_pool *pool;

    if (ps == NULL)
        return;
    pool = ps->pool;
    queue_remove(ps);
    ps->active = false;
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
