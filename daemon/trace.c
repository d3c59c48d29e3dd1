/* SPDX-License-Identifier: ISC */
/* The path tracer: which results start a trace, the state machine of one
 * trace, and its sockets on the loop. Unprivileged, as iputils' tracepath:
 * one probe at a time with a rising TTL (IP_TTL / IPV6_UNICAST_HOPS), the
 * routers' answers read from the socket's error queue (IP_RECVERR), the
 * destination's from the socket itself. Every probe has a socket of its
 * own (a fresh source port), so an answer is always the probe's. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/icmp6.h>
#include <netinet/ip_icmp.h>
#include <linux/errqueue.h>

#include <event2/event.h>

#include "config.h"
#include "errqueue.h"
#include "icmp.h"
#include "log.h"
#include "ping_int.h"
#include "trace.h"
#include "util.h"
#include "wsa.h"

const char *trace_why_name(enum trace_why why)
{
    return why == TRACE_FAILURE ? "failure" : "baseline";
}

const char *trace_proto_name(enum trace_proto proto)
{
    switch (proto) {
    case TRACE_TCP:
        return "tcp";
    case TRACE_UDP:
        return "udp";
    case TRACE_ICMP:
        return "icmp";
    }
    return "?";
}

const char *trace_hop_said_name(enum hop_said said)
{
    switch (said) {
    case HOP_SILENT:
        return "silent";
    case HOP_TTL:
        return "ttl";
    case HOP_UNREACH:
        return "unreachable";
    case HOP_REACHED:
        return "reached";
    }
    return "?";
}

void trace_addr_text(const union nd_sockaddr *a, char *buf, size_t len)
{
    char s[64];

    buf[0] = '\0';
    if (a->sa.sa_family != AF_INET && a->sa.sa_family != AF_INET6)
        return;
    util_format_sockaddr(&a->sa, s, sizeof(s));
    /* the address alone: "10.99.3.2:80" -> "10.99.3.2", "[fd99::2]:80" -> "fd99::2" */
    if (s[0] == '[') {
        char *e = strchr(s, ']');
        if (e != NULL)
            *e = '\0';
        util_strlcpy(buf, s + 1, len);
    } else {
        char *c = strrchr(s, ':');
        if (c != NULL && a->sa.sa_family == AF_INET)
            *c = '\0';
        util_strlcpy(buf, s, len);
    }
}

/* ---- one trace's state machine ---- */

void trace_run_init(struct trace_run *run, struct trace_path *path, int max_hops, int probes)
{
    memset(run, 0, sizeof(*run));
    run->max_hops = max_hops < 1                      ? 1
                    : max_hops > CONFIG_PATH_HOPS_MAX ? CONFIG_PATH_HOPS_MAX
                                                      : max_hops;
    run->probes = probes < 1 ? 1 : probes > 3 ? 3 : probes;
    run->path = path;
    path->nhops = 0;
    path->reached = false;
    path->packets = 0;
}

int trace_run_next(struct trace_run *run)
{
    if (run->done)
        return 0;
    if (run->ttl == 0 || run->tries >= run->probes) {
        /* the hop before is settled: the next one */
        if (run->ttl >= run->max_hops) {
            run->done = true;
            return 0;
        }
        run->ttl++;
        run->tries = 0;
    }
    run->tries++;
    run->path->packets++;
    return run->ttl;
}

static struct trace_hop *trace_run_hop(struct trace_run *run)
{
    struct trace_path *path = run->path;
    struct trace_hop *h = &path->hops[path->nhops++];

    memset(h, 0, sizeof(*h));
    h->ttl = (uint8_t)run->ttl;
    h->rtt_us = -1;
    return h;
}

void trace_run_answer(struct trace_run *run, enum hop_said said, const struct sockaddr *from,
                      bool icmp, uint8_t type, uint8_t code, int32_t rtt_us)
{
    struct trace_hop *h;

    if (run->done || run->ttl == 0 || run->tries == 0 || said == HOP_SILENT)
        return;
    h = trace_run_hop(run);
    h->said = (uint8_t)said;
    h->icmp = icmp;
    h->icmp_type = type;
    h->icmp_code = code;
    h->rtt_us = rtt_us;
    if (from != NULL && from->sa_family == AF_INET)
        memcpy(&h->from.sin, from, sizeof(h->from.sin));
    else if (from != NULL && from->sa_family == AF_INET6)
        memcpy(&h->from.sin6, from, sizeof(h->from.sin6));
    run->silent = 0;
    run->tries = run->probes; /* the hop is settled */
    if (said == HOP_REACHED) {
        run->path->reached = true;
        run->done = true;
    } else if (said == HOP_UNREACH) {
        run->done = true;
    }
}

void trace_run_timeout(struct trace_run *run)
{
    if (run->done || run->ttl == 0 || run->tries < run->probes)
        return;               /* another probe at this TTL comes first */
    (void)trace_run_hop(run); /* silent */
    if (++run->silent >= TRACE_SILENT_MAX)
        run->done = true;
}

int trace_path_last_answer(const struct trace_path *path)
{
    for (int i = (int)path->nhops - 1; i >= 0; i--)
        if (path->hops[i].said != HOP_SILENT)
            return i;
    return -1;
}

/* ---- which results start a trace ---- */

static bool remote_is(const struct result *r, const char *addr)
{
    size_t n = strlen(addr);
    const char *rem = r->remote[0] == '[' ? r->remote + 1 : r->remote;

    return n > 0 && strncmp(rem, addr, n) == 0 &&
           (rem[n] == '\0' || rem[n] == ':' || rem[n] == ']');
}

bool trace_cause_is_network(const struct result *r)
{
    if (r->ok || r->remote[0] == '\0')
        return false;
    if (r->target != NULL && r->target->kind != KIND_RESOLVE && r->phase == PHASE_RESOLVE)
        return false; /* the name did not resolve: no address to trace to */
    switch (r->wsa_code) {
    case WSAETIMEDOUT:
    case WSAEHOSTUNREACH:
    case WSAENETUNREACH:
    case WSAENETDOWN:
    case WSAEACCES: /* administratively prohibited */
        return true;
    case WSATRY_AGAIN: /* a DNS query without an answer in time */
        return strcmp(r->raw, "TIMEOUT") == 0;
    case WSAECONNREFUSED:
        /* refused by a router or firewall on the way, not by the target */
        return r->icmp && r->icmp_from[0] != '\0' && !remote_is(r, r->icmp_from);
    default:
        return false;
    }
}

/* ---- the tracer on the loop ---- */

enum tstate {
    TS_UNKNOWN,
    TS_OK,
    TS_FAILING,
};

/* Per target, by its row id (so a reload keeps it): 16 bytes, as every
 * target has one (issue 16: memory per target). Row ids above UINT32_MAX
 * (four billion targets ever made in one database) are not traced. The
 * times are whole seconds since the tracer's epoch, rounded up (see
 * tab_stamp): a hold or refresh lasts at most one second longer. */
#define TRACE_ID_MAX UINT32_MAX
struct tentry {
    uint32_t id;              /* 0: free slot */
    uint32_t last_failure_s;  /* 0: never */
    uint32_t last_baseline_s; /* 0: never */
    uint8_t state;            /* enum tstate */
    uint8_t want;             /* 0: nothing; 1 + enum trace_why: a trace still owed */
    bool running;
};
_Static_assert(sizeof(struct tentry) == 16, "a trace entry is paid by every target");

struct trace;

struct tracer {
    struct event_base *base;
    struct path_config pc;
    tracer_done_fn done;
    void *done_arg;
    struct tentry *tab;
    int64_t epoch_us; /* of the entries' times: a second before tracer_new */
    size_t tab_cap, tab_used;
    struct trace **running; /* pc.max_traces slots at most */
    size_t nrunning, running_cap;
    struct tracer_stats stats;
    uint64_t secret;
};

/* One trace in flight. */
struct trace {
    struct tracer *tr;
    int64_t target_id;
    char name[72];
    struct trace_run run;
    struct trace_path path;
    int af;
    int fd;
    bool raw; /* ICMP: a raw socket */
    bool connected;
    uint16_t seq, echo_id;
    int64_t sent_us, start_us;
    int64_t hop_timeout_us;
    union nd_sockaddr source;
    socklen_t source_len;
    unsigned char payload[512];
    size_t payload_len;
    struct event *ev_io, *ev_timer;
};

#define TRACE_TAB_MIN 64

/* The slot of id in a table of cap (a power of two) slots: its own, or
 * the free one where it goes. */
static struct tentry *tab_slot(struct tentry *tab, size_t cap, uint32_t id)
{
    size_t i = (size_t)((uint64_t)id * 0x9E3779B97F4A7C15ULL >> 20) & (cap - 1);

    while (tab[i].id != id && tab[i].id != 0)
        i = (i + 1) & (cap - 1);
    return &tab[i];
}

static int tab_grow(struct tracer *tr)
{
    size_t ncap = tr->tab_cap ? tr->tab_cap * 2 : TRACE_TAB_MIN;
    struct tentry *nt = calloc(ncap, sizeof(*nt));

    if (nt == NULL)
        return -1;
    for (size_t i = 0; i < tr->tab_cap; i++)
        if (tr->tab[i].id != 0)
            *tab_slot(nt, ncap, tr->tab[i].id) = tr->tab[i];
    free(tr->tab);
    tr->tab = nt;
    tr->tab_cap = ncap;
    return 0;
}

/* The entry of target row id; insert: made when missing (NULL: out of
 * memory). The table only grows: a target removed keeps its 16 bytes
 * until the daemon stops (a reload may bring it back, with its hold). */
static struct tentry *tab_find(struct tracer *tr, int64_t id64, bool insert)
{
    struct tentry *e;
    uint32_t id = (uint32_t)id64;

    if (id64 <= 0 || id64 > TRACE_ID_MAX)
        return NULL;
    if (insert && (tr->tab_used + 1) * 2 > tr->tab_cap && tab_grow(tr) < 0)
        return NULL;
    if (tr->tab_cap == 0)
        return NULL;
    e = tab_slot(tr->tab, tr->tab_cap, id);
    if (e->id == id)
        return e;
    if (!insert)
        return NULL;
    e->id = id;
    tr->tab_used++;
    return e;
}

/* An entry's time: CLOCK_MONOTONIC us -> whole seconds after the epoch,
 * rounded up (never 0), and back. */
static uint32_t tab_stamp(const struct tracer *tr, int64_t us)
{
    int64_t s = (us - tr->epoch_us + 999999) / 1000000;

    return s < 1 ? 1 : s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
}

static int64_t tab_time_us(const struct tracer *tr, uint32_t stamp)
{
    return tr->epoch_us + (int64_t)stamp * 1000000;
}

struct tracer *tracer_new(struct event_base *base, const struct config *cfg, tracer_done_fn done,
                          void *arg)
{
    struct tracer *tr = calloc(1, sizeof(*tr));

    if (tr == NULL)
        return NULL;
    tr->base = base;
    tr->done = done;
    tr->done_arg = arg;
    tr->secret = ((uint64_t)util_mono_us() << 17) ^ (uint64_t)getpid();
    tr->epoch_us = util_mono_us() - 1000000;
    tracer_set_config(tr, cfg);
    return tr;
}

void tracer_set_config(struct tracer *tr, const struct config *cfg)
{
    if (tr == NULL)
        return;
    tr->pc = cfg->tracing;
}

void tracer_get_stats(const struct tracer *tr, struct tracer_stats *out)
{
    *out = tr->stats;
    out->in_flight = tr->nrunning;
}

static void trace_send(struct trace *t);

static void trace_close_fd(struct trace *t)
{
    if (t->fd >= 0) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        event_del(t->ev_io);
        if (t->path.proto == TRACE_TCP) /* a RST, not a FIN: nothing left open */
            setsockopt(t->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        close(t->fd);
        t->fd = -1;
    }
}

static void trace_free(struct trace *t)
{
    trace_close_fd(t);
    if (t->ev_io != NULL)
        event_free(t->ev_io);
    if (t->ev_timer != NULL)
        event_free(t->ev_timer);
    free(t);
}

static void trace_release(struct tracer *tr, struct trace *t)
{
    struct tentry *e = tab_find(tr, t->target_id, false);

    if (e != NULL)
        e->running = false;
    for (size_t i = 0; i < tr->nrunning; i++)
        if (tr->running[i] == t) {
            tr->running[i] = tr->running[--tr->nrunning];
            break;
        }
    trace_free(t);
}

static void trace_finish(struct trace *t)
{
    struct tracer *tr = t->tr;
    int last = trace_path_last_answer(&t->path);
    char addr[64] = "-";

    t->path.duration_us = util_mono_us() - t->start_us;
    tr->stats.finished++;
    tr->stats.packets += t->path.packets;
    if (last >= 0)
        trace_addr_text(&t->path.hops[last].from, addr, sizeof(addr));
    if (t->path.why != TRACE_FAILURE)
        log_debug("target %s: baseline path, %d hops, %s", t->name, last + 1,
                  t->path.reached ? "reached" : "not reached");
    else if (t->path.reached)
        log_info("target %s: path reaches %s at hop %d (%u probes, %lld ms)", t->name, addr,
                 t->path.hops[last].ttl, t->path.packets, (long long)(t->path.duration_us / 1000));
    else if (last >= 0)
        log_info("target %s: path stops after hop %d (%s%s) (%u probes, %lld ms)", t->name,
                 t->path.hops[last].ttl, addr,
                 t->path.hops[last].said == HOP_UNREACH ? ", unreachable" : "", t->path.packets,
                 (long long)(t->path.duration_us / 1000));
    else
        log_info("target %s: path: no answer from hop 1 on (%u probes, %lld ms)", t->name,
                 t->path.packets, (long long)(t->path.duration_us / 1000));
    if (tr->done != NULL)
        tr->done(&t->path, tr->done_arg);
    trace_release(tr, t);
}

/* The hop at run.ttl answered: the machine goes on, then the next probe. */
static void trace_answered(struct trace *t, enum hop_said said, const struct sockaddr *from,
                           bool icmp, uint8_t type, uint8_t code)
{
    int64_t rtt = util_mono_us() - t->sent_us;

    trace_close_fd(t);
    event_del(t->ev_timer);
    trace_run_answer(&t->run, said, from, icmp, type, code,
                     (int32_t)(rtt > INT32_MAX ? INT32_MAX : rtt));
    trace_send(t);
}

static bool addr_same(const union nd_sockaddr *a, const union nd_sockaddr *b)
{
    if (a->sa.sa_family != b->sa.sa_family)
        return false;
    if (a->sa.sa_family == AF_INET)
        return a->sin.sin_addr.s_addr == b->sin.sin_addr.s_addr;
    if (a->sa.sa_family == AF_INET6)
        return memcmp(&a->sin6.sin6_addr, &b->sin6.sin6_addr, sizeof(struct in6_addr)) == 0;
    return false;
}

/* An ICMP message about our probe: time exceeded goes on, the rest ends. */
static void trace_icmp(struct trace *t, const struct errq_msg *m)
{
    bool v6 = m->origin == SO_EE_ORIGIN_ICMP6;
    bool ttl = v6 ? m->type == ICMP6_TIME_EXCEEDED : m->type == ICMP_TIME_EXCEEDED;
    bool unreach = v6 ? m->type == ICMP6_DST_UNREACH : m->type == ICMP_DEST_UNREACH;
    const struct sockaddr *from = m->has_offender ? &m->offender.sa : NULL;
    enum hop_said said;

    if (ttl)
        said = HOP_TTL;
    else if (unreach && m->has_offender && addr_same(&m->offender, &t->path.dest))
        said = HOP_REACHED; /* port unreachable (or prohibited) from the end itself */
    else if (unreach)
        said = HOP_UNREACH;
    else
        return; /* a redirect, a source quench, packet too big: not an answer */
    trace_answered(t, said, from, true, m->type, m->code);
}

static void trace_io_cb(evutil_socket_t fd, short what, void *arg)
{
    struct trace *t = arg;
    struct errq_msg m;

    /* the error queue first: a router's ICMP also sets the socket's error */
    for (int i = 0; i < 8 && errq_read((int)fd, &m) == 1; i++) {
        if (m.origin == SO_EE_ORIGIN_ICMP || m.origin == SO_EE_ORIGIN_ICMP6) {
            trace_icmp(t, &m);
            return;
        }
        if (m.origin == SO_EE_ORIGIN_LOCAL && m.err != 0 && m.err != EMSGSIZE) {
            trace_answered(t, HOP_UNREACH, NULL, false, 0, 0);
            return;
        }
    }
    if (t->path.proto == TRACE_TCP) {
        int err = 0;
        socklen_t el = sizeof(err);
        if (getsockopt((int)fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
            err = errno;
        /* connected, or a RST: the end answered */
        if ((err == 0 && (what & EV_WRITE)) || err == ECONNREFUSED || err == ECONNRESET)
            trace_answered(t, HOP_REACHED, &t->path.dest.sa, false, 0, 0);
        else if (err != 0 && err != EINPROGRESS && err != EAGAIN)
            trace_answered(t, HOP_UNREACH, NULL, false, 0, 0);
        return;
    }
    {
        unsigned char buf[PING_RX_LEN];
        ssize_t r = recv((int)fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);
        if (r < 0) {
            if (errno == ECONNREFUSED) /* a port unreachable without its message */
                trace_answered(t, HOP_REACHED, &t->path.dest.sa, false, 0, 0);
            return;
        }
        if (t->path.proto == TRACE_ICMP) {
            struct icmp_echo e;
            size_t got = (size_t)r < sizeof(buf) ? (size_t)r : sizeof(buf);
            if (icmp_read_reply(t->af, t->raw && t->af == AF_INET, buf, got, (size_t)r, &e) !=
                    ICMP_READ_REPLY ||
                e.seq != t->seq || (t->raw && e.id != t->echo_id))
                return; /* not our echo's reply */
        }
        trace_answered(t, HOP_REACHED, &t->path.dest.sa, false, 0, 0);
    }
}

static void trace_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct trace *t = arg;

    (void)fd;
    (void)what;
    trace_close_fd(t);
    trace_run_timeout(&t->run);
    trace_send(t);
}

static int trace_set_ttl(int fd, int af, int ttl)
{
    if (af == AF_INET6)
        return setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &ttl, sizeof(ttl));
    return setsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, sizeof(ttl));
}

/* Open the probe's socket for ttl and send it: 0, or an errno. */
static int trace_open(struct trace *t, int ttl)
{
    socklen_t dl = t->af == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    int type = t->path.proto == TRACE_TCP ? SOCK_STREAM : SOCK_DGRAM;
    short what = EV_READ;
    int fd;

    if (t->path.proto == TRACE_ICMP)
        fd = ping_pool_socket(t->af, &t->raw);
    else
        fd = socket(t->af, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errno;
    t->fd = fd;
    if (trace_set_ttl(fd, t->af, ttl) < 0 || errq_enable(fd, t->af) < 0)
        return errno;
    if (t->source_len > 0 && t->path.proto != TRACE_ICMP &&
        bind(fd, &t->source.sa, t->source_len) < 0)
        return errno;
    t->sent_us = util_mono_us();
    if (t->path.proto == TRACE_TCP) {
        if (connect(fd, &t->path.dest.sa, dl) < 0 && errno != EINPROGRESS)
            return errno;
        what = EV_READ | EV_WRITE;
    } else if (t->path.proto == TRACE_UDP) {
        if (connect(fd, &t->path.dest.sa, dl) < 0 || send(fd, t->payload, t->payload_len, 0) < 0)
            return errno;
    } else {
        unsigned char buf[128];
        size_t n;
        t->seq++;
        n = icmp_echo_build(buf, sizeof(buf), t->af, t->echo_id, t->seq,
                            icmp_cookie(t->tr->secret, 0, 0, t->seq), 56);
        if (n == 0 || sendto(fd, buf, n, 0, &t->path.dest.sa, dl) < 0)
            return errno;
    }
    if (event_assign(t->ev_io, t->tr->base, fd, (short)(what | EV_PERSIST), trace_io_cb, t) < 0 ||
        event_add(t->ev_io, NULL) < 0)
        return ENOMEM;
    return 0;
}

/* The next probe, or the end of the trace. */
static void trace_send(struct trace *t)
{
    for (;;) {
        int ttl = trace_run_next(&t->run);
        int err;
        struct timeval tv;

        if (ttl == 0) {
            trace_finish(t);
            return;
        }
        err = trace_open(t, ttl);
        if (err == 0) {
            tv.tv_sec = (time_t)(t->hop_timeout_us / 1000000);
            tv.tv_usec = (suseconds_t)(t->hop_timeout_us % 1000000);
            evtimer_add(t->ev_timer, &tv);
            return;
        }
        trace_close_fd(t);
        if (err == ECONNREFUSED) /* refused at once: the end is on this host */
            trace_run_answer(&t->run, HOP_REACHED, &t->path.dest.sa, false, 0, 0, 0);
        else /* no route here, no socket: the path stops on this host */
            trace_run_answer(&t->run, HOP_UNREACH, NULL, false, 0, 0, 0);
    }
}

/* A DNS query for the root's NS records: what a nameserver answers. */
static size_t trace_dns_query(unsigned char *buf, size_t cap, uint16_t id)
{
    static const unsigned char q[] = {0, 0, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1};

    if (cap < sizeof(q))
        return 0;
    memcpy(buf, q, sizeof(q));
    buf[0] = (unsigned char)(id >> 8);
    buf[1] = (unsigned char)id;
    return sizeof(q);
}

static void trace_start(struct tracer *tr, struct tentry *e, const struct result *r,
                        enum trace_why why)
{
    const struct target *tg = r->target;
    struct sockaddr_storage ss;
    socklen_t sl;
    char err[64];
    struct trace *t;
    int port = tg->kind == KIND_PING ? 0 : -1;

    if (util_parse_sockaddr(r->remote, port, &ss, &sl, err, sizeof(err)) < 0)
        return;
    t = calloc(1, sizeof(*t));
    if (t == NULL)
        return;
    t->tr = tr;
    t->fd = -1;
    t->target_id = tg->db_id;
    util_strlcpy(t->name, tg->name, sizeof(t->name));
    memcpy(&t->path.dest, &ss, sl);
    t->af = t->path.dest.sa.sa_family;
    t->path.target_id = tg->db_id;
    t->path.ts_ms = util_now_ms();
    t->path.failure_ts_ms = why == TRACE_FAILURE ? r->ts_ms : 0;
    t->path.why = why;
    t->path.port =
        t->af == AF_INET6 ? ntohs(t->path.dest.sin6.sin6_port) : ntohs(t->path.dest.sin.sin_port);
    switch (tg->kind) {
    case KIND_CONNECT:
        t->path.proto = TRACE_TCP;
        break;
    case KIND_SEND:
        t->path.proto = tg->protocol == PROTO_TCP ? TRACE_TCP : TRACE_UDP;
        t->payload_len =
            tg->payload_len < sizeof(t->payload) ? tg->payload_len : sizeof(t->payload);
        if (t->payload_len > 0)
            memcpy(t->payload, tg->payload, t->payload_len);
        break;
    case KIND_RESOLVE:
        t->path.proto = TRACE_UDP;
        t->payload_len = trace_dns_query(t->payload, sizeof(t->payload), (uint16_t)tr->secret);
        break;
    case KIND_PING:
        t->path.proto = TRACE_ICMP;
        t->path.port = 0;
        t->echo_id = (uint16_t)(tr->secret ^ (uint64_t)tg->db_id);
        break;
    }
    if (tg->source_len > 0 && tg->source.sa.sa_family == t->af) {
        t->source = tg->source;
        t->source.sin.sin_port = 0; /* same offset in sin6 */
        t->source_len = tg->source_len;
    }
    t->hop_timeout_us = tr->pc.hop_timeout_ms * 1000;
    t->ev_io = event_new(tr->base, -1, 0, trace_io_cb, t);
    t->ev_timer = evtimer_new(tr->base, trace_timer_cb, t);
    if (t->ev_io == NULL || t->ev_timer == NULL) {
        trace_free(t);
        return;
    }
    trace_run_init(&t->run, &t->path, (int)tr->pc.max_hops, (int)tr->pc.probes);
    t->start_us = util_mono_us();
    if (why == TRACE_FAILURE)
        e->last_failure_s = tab_stamp(tr, t->start_us);
    else
        e->last_baseline_s = tab_stamp(tr, t->start_us);
    e->want = 0;
    e->running = true;
    tr->running[tr->nrunning++] = t;
    if (tr->nrunning > tr->stats.in_flight_max)
        tr->stats.in_flight_max = tr->nrunning;
    tr->stats.started++;
    trace_send(t); /* may finish at once (no route): t is gone then */
}

void tracer_observe(struct tracer *tr, const struct result *r)
{
    const struct target *tg = r->target;
    struct tentry *e;
    int64_t now;

    if (tr == NULL || !tr->pc.trace || tg == NULL || tg->db_id <= 0 || tg->db_id > TRACE_ID_MAX)
        return;
    e = tab_find(tr, tg->db_id, true);
    if (e == NULL)
        return;
    now = util_mono_us();
    if (r->ok) {
        e->state = TS_OK;
        if (e->want == 1 + TRACE_FAILURE)
            e->want = 0; /* healed before it could be traced */
        if (e->last_baseline_s == 0 ||
            now - tab_time_us(tr, e->last_baseline_s) >= tr->pc.refresh_ms * 1000)
            e->want = 1 + TRACE_BASELINE;
    } else {
        if (e->state != TS_FAILING && trace_cause_is_network(r) &&
            (e->last_failure_s == 0 ||
             now - tab_time_us(tr, e->last_failure_s) >= tr->pc.hold_ms * 1000))
            e->want = 1 + TRACE_FAILURE;
        else if (e->want == 1 + TRACE_BASELINE)
            e->want = 0; /* no baseline of a failing target */
        e->state = TS_FAILING;
    }
    if (e->want == 0 || e->running)
        return;
    if (tr->nrunning >= (size_t)tr->pc.max_traces) {
        tr->stats.skipped_busy++; /* owed: the target's next result asks again */
        return;
    }
    if (tr->nrunning >= tr->running_cap) {
        size_t ncap = tr->running_cap ? tr->running_cap * 2 : 8;
        struct trace **nr = realloc(tr->running, ncap * sizeof(*nr));
        if (nr == NULL)
            return;
        tr->running = nr;
        tr->running_cap = ncap;
    }
    trace_start(tr, e, r, (enum trace_why)(e->want - 1));
}

void tracer_free(struct tracer *tr)
{
    if (tr == NULL)
        return;
    while (tr->nrunning > 0)
        trace_free(tr->running[--tr->nrunning]);
    free(tr->running);
    free(tr->tab);
    free(tr);
}
