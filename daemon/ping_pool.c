/* SPDX-License-Identifier: ISC */
/* The ICMP sockets the ping targets of an engine share: opening them (a
 * datagram socket where net.ipv4.ping_group_range admits us, else a raw
 * one), their sequence numbers, and reading the replies and the ICMP
 * errors the kernel queues (IP_RECVERR), each matched to its echo by
 * socket, sequence number and payload cookie. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/errqueue.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>

#include <event2/event.h>
#include <event2/util.h>

#include "errqueue.h"
#include "icmp.h"
#include "log.h"
#include "ping_int.h"

#ifndef SO_RXQ_OVFL
#define SO_RXQ_OVFL 40
#endif
#ifndef SOL_RAW
#define SOL_RAW 255
#endif
#define PING_ICMP_FILTER 1 /* <linux/icmp.h> ICMP_FILTER, a raw IPv4 socket's */

/* A socket's sequence numbers are slots of a ring that grows from
 * PING_RING_MIN to all 65536 as more echoes are in flight at once; a
 * family opens another socket (another identifier, a fresh ring) only
 * when a full ring has no free slot, so that 100,000 targets need a few
 * sockets, not 100,000. */
#define PING_RING_MIN 256
#define PING_RING_MAX 65536
#define PING_SCAN     64 /* slots looked at before the ring grows */
/* recvmmsg() batches read per wake-up (the level-triggered event comes
 * back for the rest after the loop has seen other I/O) */
#define PING_READ_BURST  8
#define PING_ERR_BURST   256
#define PING_RCVBUF      (4 << 20) /* replies of a burst wait here for the loop */
#define PING_RETRY_US    1000000   /* a family refused its socket is tried again after */
#define PING_DROP_LOG_US (60 * 1000000LL)

static struct ping_pool *ping_pools;

static void ping_read_cb(evutil_socket_t fd, short what, void *arg);

/* ---- the pool ---- */

struct ping_pool *ping_pool_get(struct probe *p)
{
    struct ping_pool *pool;

    for (pool = ping_pools; pool != NULL; pool = pool->next)
        if (pool->eng == p->eng)
            return pool;
    pool = calloc(1, sizeof(*pool));
    if (pool == NULL)
        return NULL;
    pool->eng = p->eng;
    pool->base = probe_event_base(p);
    pool->send_at_us = INT64_MAX;
    evutil_secure_rng_get_bytes(&pool->secret, sizeof(pool->secret));
    pool->ev_send = evtimer_new(pool->base, probe_ping_send_cb, pool);
    if (pool->ev_send == NULL) {
        free(pool);
        return NULL;
    }
    if (event_base_get_npriorities(pool->base) >= ENGINE_PRIORITIES)
        event_priority_set(pool->ev_send, ENGINE_PRIO_OTHER);
    pool->next = ping_pools;
    ping_pools = pool;
    return pool;
}

static void sock_free(struct ping_sock *s)
{
    event_free(s->ev);
    close(s->fd);
    free(s->ring);
    free(s);
}

void ping_pool_free(struct ping_pool *pool)
{
    struct ping_pool **pp;

    for (pp = &ping_pools; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == pool) {
            *pp = pool->next;
            break;
        }
    }
    for (int f = 0; f < 2; f++)
        for (size_t i = 0; i < pool->fam[f].nsocks; i++)
            sock_free(pool->fam[f].socks[i]);
    for (size_t i = 0; i < pool->nqueues; i++)
        free(pool->queues[i]);
    free(pool->queues);
    free(pool->owners);
    free(pool->free_h);
    free(pool->tx);
    event_free(pool->ev_send);
    free(pool);
}

int ping_pool_handle(struct ping_pool *pool, struct probe *p, uint32_t *h)
{
    if (pool->nfree > 0) {
        *h = pool->free_h[--pool->nfree];
    } else {
        if (pool->nowners == pool->owners_cap) {
            uint32_t cap = pool->owners_cap ? pool->owners_cap * 2 : 64;
            struct probe **o = realloc(pool->owners, cap * sizeof(*o));
            uint32_t *f;
            if (o == NULL)
                return -1;
            pool->owners = o;
            f = realloc(pool->free_h, cap * sizeof(*f));
            if (f == NULL)
                return -1;
            pool->free_h = f;
            pool->owners_cap = cap;
        }
        *h = pool->nowners++;
    }
    pool->owners[*h] = p;
    return 0;
}

/* Why a family has no ICMP socket: the datagram one wants the process's
 * group inside net.ipv4.ping_group_range (for ICMPv6 too), the raw one
 * CAP_NET_RAW. Read where the refusal happens, at most once a second. */
void ping_pool_why_refused(char *buf, size_t len)
{
    char range[64] = "?";
    FILE *f = fopen("/proc/sys/net/ipv4/ping_group_range", "re");

    if (f != NULL) {
        if (fgets(range, sizeof(range), f) == NULL)
            util_strlcpy(range, "?", sizeof(range));
        fclose(f);
        range[strcspn(range, "\n")] = '\0';
        for (char *c = range; *c; c++)
            if (*c == '\t')
                *c = ' ';
    }
    snprintf(buf, len,
             "ICMP sockets refused: group %u is not in net.ipv4.ping_group_range (%s) and "
             "there is no CAP_NET_RAW; add the group to the sysctl (netdiagd(8))",
             (unsigned)getegid(), range);
}

/* An ICMP socket of family af: a datagram one where ping_group_range
 * admits us, else a raw one. Returns the fd (*raw set) or -1 with errno
 * set (EACCES for both refused). */
int ping_pool_socket(int af, bool *raw)
{
    int proto = af == AF_INET6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
    int fd = socket(af, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
    int derr;

    *raw = false;
    if (fd >= 0)
        return fd;
    derr = errno;
    if (derr != EACCES && derr != EPERM && derr != EPROTONOSUPPORT)
        return -1;
    fd = socket(af, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
    if (fd >= 0) {
        *raw = true;
        return fd;
    }
    if (errno == EPERM || errno == EACCES)
        errno = EACCES; /* both refused: the permission, not the errno of either */
    return -1;
}

static void sock_opt(int fd, int level, int name, int v)
{
    if (setsockopt(fd, level, name, &v, sizeof(v)) < 0)
        log_debug("ping: setsockopt(%d, %d): %s", level, name, strerror(errno));
}

static struct ping_sock *sock_open(struct ping_pool *pool, int af, int *err)
{
    struct ping_family *fam = &pool->fam[ping_family_index(af)];
    struct ping_sock *s;
    bool raw;
    int fd = ping_pool_socket(af, &raw);
    union nd_sockaddr sa;
    socklen_t sl = sizeof(sa);

    if (fd < 0) {
        *err = errno;
        return NULL;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL || (s->ring = calloc(PING_RING_MIN, sizeof(*s->ring))) == NULL) {
        free(s);
        close(fd);
        *err = ENOMEM;
        return NULL;
    }
    s->pool = pool;
    s->fd = fd;
    s->af = af;
    s->raw = raw;
    s->cap = PING_RING_MIN;
    s->idx = (uint16_t)fam->nsocks;
    if (af == AF_INET6) {
        sock_opt(fd, IPPROTO_IPV6, IPV6_RECVERR, 1);
        sock_opt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1);
    } else {
        sock_opt(fd, IPPROTO_IP, IP_RECVERR, 1);
        sock_opt(fd, IPPROTO_IP, IP_PKTINFO, 1);
    }
    sock_opt(fd, SOL_SOCKET, SO_TIMESTAMPNS, 1);
    sock_opt(fd, SOL_SOCKET, SO_RXQ_OVFL, 1);
    /* past net.core.rmem_max where we may (CAP_NET_ADMIN), else up to it */
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &(int){PING_RCVBUF}, sizeof(int)) < 0)
        sock_opt(fd, SOL_SOCKET, SO_RCVBUF, PING_RCVBUF);
    if (raw) {
        /* A raw socket sees every ICMP packet of the host: let only the
         * echo replies through (the errors come by the error queue), and
         * pick an identifier of our own. */
        if (af == AF_INET6) {
            struct icmp6_filter flt;
            ICMP6_FILTER_SETBLOCKALL(&flt);
            ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &flt);
            if (setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &flt, sizeof(flt)) < 0)
                log_debug("ping: ICMP6_FILTER: %s", strerror(errno));
        } else {
            sock_opt(fd, SOL_RAW, PING_ICMP_FILTER, (int)~(1u << 0)); /* echo reply: type 0 */
        }
        evutil_secure_rng_get_bytes(&s->id, sizeof(s->id));
    } else {
        /* the kernel picks the identifier (the socket's "port") and puts
         * it in every echo; it delivers the socket only replies with it */
        memset(&sa, 0, sizeof(sa));
        sa.sa.sa_family = (sa_family_t)af;
        if (bind(fd, &sa.sa, af == AF_INET6 ? sizeof(sa.sin6) : sizeof(sa.sin)) == 0 &&
            getsockname(fd, &sa.sa, &sl) == 0)
            s->id = ntohs(af == AF_INET6 ? sa.sin6.sin6_port : sa.sin.sin_port);
    }
    s->ev = event_new(pool->base, fd, EV_READ | EV_PERSIST, ping_read_cb, s);
    if (s->ev == NULL ||
        (event_base_get_npriorities(pool->base) >= ENGINE_PRIORITIES &&
         event_priority_set(s->ev, ENGINE_PRIO_IO) < 0) ||
        event_add(s->ev, NULL) < 0) {
        if (s->ev != NULL)
            event_free(s->ev);
        free(s->ring);
        free(s);
        close(fd);
        *err = ENOMEM;
        return NULL;
    }
    fam->socks[fam->nsocks++] = s;
    log_info("ping: %s echoes over a %s socket (identifier %u)%s",
             af == AF_INET6 ? "ICMPv6" : "ICMP", raw ? "raw" : "datagram", s->id,
             fam->nsocks > 1 ? ", one more for the echoes in flight" : "");
    return s;
}

/* A family with at least one socket: 0, or the errno its refusal left
 * (the detail in fam->why). */
int ping_pool_family_ready(struct ping_pool *pool, int af)
{
    struct ping_family *fam = &pool->fam[ping_family_index(af)];
    int64_t now;
    int err;

    if (fam->nsocks > 0)
        return 0;
    now = util_mono_us();
    if (fam->err != 0 && now < fam->retry_us)
        return fam->err;
    if (sock_open(pool, af, &err) != NULL) {
        fam->err = 0;
        return 0;
    }
    fam->err = err;
    fam->retry_us = now + PING_RETRY_US;
    if (err == EACCES)
        ping_pool_why_refused(fam->why, sizeof(fam->why));
    else
        snprintf(fam->why, sizeof(fam->why), "cannot open an %s socket: %s",
                 af == AF_INET6 ? "ICMPv6" : "ICMP", strerror(err));
    return err;
}

/* ---- sequence numbers ---- */

static bool slot_busy(const struct ping_pool *pool, const struct ping_slot *sl)
{
    const struct probe *p;
    const struct ping_state *ps;

    if (sl->owner == 0 || (p = pool->owners[sl->owner - 1]) == NULL)
        return false;
    ps = p->kstate;
    return ps->att != NULL && ps->serial == sl->serial;
}

static bool ring_take(struct ping_sock *s, const struct ping_state *ps, uint16_t *seq)
{
    struct ping_pool *pool = s->pool;
    uint32_t i;

    for (uint32_t n = 0; n < PING_SCAN && n < s->cap; n++) {
        i = s->cursor;
        s->cursor = (i + 1) & (s->cap - 1);
        if (!slot_busy(pool, &s->ring[i]))
            goto take;
    }
    if (s->cap == 0 || s->cap >= PING_RING_MAX)
        return false;
    {
        struct ping_slot *r = realloc(s->ring, 2 * s->cap * sizeof(*r));
        if (r == NULL)
            return false;
        memset(r + s->cap, 0, s->cap * sizeof(*r));
        s->ring = r;
        i = s->cap;
        s->cap *= 2;
        s->cursor = i + 1;
    }
take:
    s->ring[i].owner = ps->handle + 1;
    s->ring[i].serial = ps->serial;
    *seq = (uint16_t)i;
    return true;
}

/* A sequence number for the next echo of ps: on the family's current
 * socket, the others, or one more. 0, or the errno. */
int ping_pool_echo_slot(struct ping_attempt *a, struct ping_sock **sp, uint16_t *seq)
{
    struct ping_pool *pool = a->pool;
    const struct ping_state *ps = a->ps;
    int af = a->p->addr.sa.sa_family;
    struct ping_family *fam = &pool->fam[ping_family_index(af)];
    int err = ENOBUFS;

    for (size_t n = 0; n < fam->nsocks; n++) {
        size_t i = (fam->cur + n) % fam->nsocks;
        if (ring_take(fam->socks[i], ps, seq)) {
            fam->cur = i;
            *sp = fam->socks[i];
            return 0;
        }
    }
    if (fam->nsocks < PING_SOCKS_MAX) {
        struct ping_sock *s = sock_open(pool, af, &err);
        if (s != NULL && ring_take(s, ps, seq)) {
            fam->cur = s->idx;
            *sp = s;
            return 0;
        }
    }
    return err != 0 ? err : ENOBUFS;
}

/* ---- receiving ---- */

static bool same_addr(const struct sockaddr *a, const union nd_sockaddr *b)
{
    if (a->sa_family != b->sa.sa_family)
        return false;
    if (a->sa_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr, &b->sin6.sin6_addr, 16) == 0;
    return ((const struct sockaddr_in *)a)->sin_addr.s_addr == b->sin.sin_addr.s_addr;
}

static struct ping_echo *echo_find(struct ping_attempt *a, const struct ping_sock *s, uint16_t seq)
{
    for (uint16_t i = 0; i < a->nsent; i++)
        if (a->echo[i].seq == seq && a->echo[i].sock == s->idx && a->echo[i].state != ECHO_UNSENT)
            return &a->echo[i];
    return NULL;
}

/* The target a sequence number of s was taken for, if it is still
 * configured; *sl is its slot. */
static struct probe *slot_owner(struct ping_sock *s, uint16_t seq, const struct ping_slot **sl)
{
    if (seq >= s->cap || s->ring[seq].owner == 0)
        return NULL;
    *sl = &s->ring[seq];
    return s->pool->owners[(*sl)->owner - 1];
}

/* An echo reply on s (from `from`, kernel receive time rx_us). */
static void ping_on_reply(struct ping_sock *s, const struct icmp_echo *e,
                          const struct sockaddr *from, int64_t rx_us,
                          const union nd_sockaddr *local)
{
    struct ping_pool *pool = s->pool;
    const struct ping_slot *sl = NULL;
    struct probe *p = slot_owner(s, e->seq, &sl);
    struct ping_state *ps;
    struct ping_attempt *a;
    struct ping_echo *ec;
    bool ours;

    if (p == NULL) {
        pool->stray++;
        return;
    }
    ps = p->kstate;
    /* the attempt the slot was taken for, if it is still running */
    a = ps->serial == sl->serial ? ps->att : NULL;
    /* a raw socket sees every echo reply of the host: another ping's has
     * another identifier; our own carry the cookie of their echo */
    ours = (!s->raw || e->id == s->id) &&
           icmp_cookie_match(e, icmp_cookie(pool->secret, sl->serial, s->idx, e->seq)) == 1;
    if (!ours) {
        /* with the sequence number of an echo in flight to that address:
         * a reply, but not to us (a wrong identifier, a wrong payload) */
        if (a != NULL && same_addr(from, &p->addr))
            a->nforeign++;
        else
            pool->stray++;
        return;
    }
    if (a == NULL) {
        /* an attempt of this target that has ended: counted into its
         * next result (a late reply, or a duplicate after the end) */
        if ((int32_t)(sl->serial - ps->first_serial) >= 0)
            ps->nlate++;
        else
            pool->stray++;
        return;
    }
    ec = echo_find(a, s, e->seq);
    if (ec == NULL) {
        pool->stray++;
        return;
    }
    if (!same_addr(from, &p->addr)) {
        a->nforeign++; /* our echo, answered by another address */
        return;
    }
    if (ec->state == ECHO_REPLY) {
        a->ndup++;
        return;
    }
    if (ec->state == ECHO_ERROR)
        a->nerr--; /* an error, then the reply after all: the reply counts */
    else
        a->nwait--;
    ec->state = ECHO_REPLY;
    if (rx_us < ec->sent_us)
        rx_us = ec->sent_us;
    ec->rtt_us = rx_us - ec->sent_us > INT32_MAX ? INT32_MAX : (int32_t)(rx_us - ec->sent_us);
    a->nrecv++;
    if (a->local.sa.sa_family == 0 && local->sa.sa_family != 0)
        a->local = *local;
    probe_ping_maybe_done(a);
}

/* The ICMP errors the kernel queued about our echoes (IP_RECVERR): each
 * quotes the echo it is about. */
static void ping_read_errors(struct ping_sock *s)
{
    struct ping_pool *pool = s->pool;
    struct errq_msg m;

    for (int i = 0; i < PING_ERR_BURST; i++) {
        const struct ping_slot *sl = NULL;
        struct probe *p;
        struct ping_attempt *a = NULL;
        struct ping_echo *ec;
        struct icmp_echo e;
        bool icmp;
        int err;

        if (errq_read(s->fd, &m) <= 0)
            return;
        if (m.origin == SO_EE_ORIGIN_NONE || !icmp_read_quoted(s->af, m.quoted, m.quoted_len, &e))
            continue;
        icmp = m.origin == SO_EE_ORIGIN_ICMP || m.origin == SO_EE_ORIGIN_ICMP6;
        err = icmp ? icmp_error_errno(s->af, m.type, m.code) : m.err;
        p = slot_owner(s, e.seq, &sl);
        if (p != NULL && ((struct ping_state *)p->kstate)->serial == sl->serial)
            a = ((struct ping_state *)p->kstate)->att;
        if (err == 0 || a == NULL || (s->raw && e.id != s->id) ||
            icmp_cookie_match(&e, icmp_cookie(pool->secret, sl->serial, s->idx, e.seq)) == 0 ||
            (m.dest.sa.sa_family != 0 && !same_addr(&m.dest.sa, &p->addr)) ||
            (ec = echo_find(a, s, e.seq)) == NULL || ec->state != ECHO_WAIT) {
            pool->stray++;
            continue;
        }
        ec->state = ECHO_ERROR;
        a->nwait--;
        probe_ping_echo_error(a, err, icmp, m.type, m.code, m.has_offender ? &m.offender.sa : NULL);
        probe_ping_maybe_done(a);
    }
}

static void ping_drops(struct ping_sock *s, uint32_t drops)
{
    struct ping_pool *pool = s->pool;
    int64_t now;

    if (drops == s->drops)
        return;
    now = util_mono_us();
    if (now >= pool->drop_log_us) {
        log_warnx("ping: the kernel dropped %u echo replies, the socket's receive buffer was "
                  "full (net.core.rmem_max); they count as lost",
                  drops - s->drops);
        pool->drop_log_us = now + PING_DROP_LOG_US;
        s->drops = drops;
    }
}

static void ping_read_batch(struct ping_sock *s, int n)
{
    struct ping_pool *pool = s->pool;
    struct timespec rt;
    int64_t now_us = util_mono_us(), now_rt_ns;

    clock_gettime(CLOCK_REALTIME, &rt);
    now_rt_ns = (int64_t)rt.tv_sec * 1000000000 + rt.tv_nsec;
    for (int i = 0; i < n; i++) {
        struct msghdr *mh = &pool->msgs[i].msg_hdr;
        size_t full = pool->msgs[i].msg_len;
        size_t got = full < PING_RX_LEN ? full : PING_RX_LEN;
        int64_t rx_us = now_us;
        union nd_sockaddr local;
        struct icmp_echo e;

        memset(&local, 0, sizeof(local));
        for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c != NULL; c = CMSG_NXTHDR(mh, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
                /* the kernel's receive time, on the wall clock: moved onto
                 * the monotonic one by their distance now */
                struct timespec ts;
                memcpy(&ts, CMSG_DATA(c), sizeof(ts));
                int64_t ago_us =
                    (now_rt_ns - ((int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec)) / 1000;
                if (ago_us >= 0 && ago_us < 10 * 1000000)
                    rx_us = now_us - ago_us;
            } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
                uint32_t d;
                memcpy(&d, CMSG_DATA(c), sizeof(d));
                ping_drops(s, d);
            } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
                struct in_pktinfo pi;
                memcpy(&pi, CMSG_DATA(c), sizeof(pi));
                local.sin.sin_family = AF_INET;
                local.sin.sin_addr = pi.ipi_addr;
            } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
                struct in6_pktinfo pi;
                memcpy(&pi, CMSG_DATA(c), sizeof(pi));
                local.sin6.sin6_family = AF_INET6;
                local.sin6.sin6_addr = pi.ipi6_addr;
            }
        }
        if (icmp_read_reply(s->af, s->raw && s->af == AF_INET, pool->rx[i], got, full, &e) !=
            ICMP_READ_REPLY)
            continue;
        ping_on_reply(s, &e, (const struct sockaddr *)&pool->from[i], rx_us, &local);
    }
}

static void ping_read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct ping_sock *s = arg;
    struct ping_pool *pool = s->pool;

    (void)fd;
    (void)what;
    ping_read_errors(s); /* first: it clears the socket's pending error */
    for (int burst = 0; burst < PING_READ_BURST; burst++) {
        int n;
        for (int i = 0; i < PING_BATCH; i++) {
            pool->iov[i].iov_base = pool->rx[i];
            pool->iov[i].iov_len = PING_RX_LEN;
            pool->msgs[i].msg_hdr = (struct msghdr){.msg_name = &pool->from[i],
                                                    .msg_namelen = sizeof(pool->from[i]),
                                                    .msg_iov = &pool->iov[i],
                                                    .msg_iovlen = 1,
                                                    .msg_control = pool->ctl[i],
                                                    .msg_controllen = PING_CTL_LEN};
        }
        n = recvmmsg(s->fd, pool->msgs, PING_BATCH, MSG_DONTWAIT | MSG_TRUNC, NULL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return;
            ping_read_errors(s); /* an error arrived meanwhile, and was returned */
            continue;
        }
        ping_read_batch(s, n);
        if (n < PING_BATCH)
            return;
    }
}
