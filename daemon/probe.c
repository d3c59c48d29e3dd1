/* SPDX-License-Identifier: ISC */
/* The probe engine: each target's attempts (started and timed out by the
 * schedule, sched.c), the asynchronous name resolution in front of
 * connect and send probes, and the one completion path every attempt
 * ends in. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/util.h>
#include <linux/errqueue.h>

#include "array.h"
#include "errqueue.h"
#include "icmp.h"
#include "log.h"
#include "probe.h"
#include "resolv.h"
#include "sched.h"
#include "util.h"

struct engine {
    struct event_base *base;
    struct resolv *rs; /* the stub resolver of host names (resolv.c) */
    probe_sink_fn sink;
    void *sink_arg;
    struct probe **probes; /* one per target of the current config */
    size_t nprobes;
    bool once;
    bool stopping;
    size_t once_next;  /* --once: next target index to start */
    size_t once_left;  /* --once: targets not finished yet */
    bool once_filling; /* --once: probe_engine_once_fill() is running */
    size_t in_flight;
    uint64_t attempts;
    int64_t log_second_us;         /* start of the current second of log lines */
    unsigned log_lines;            /* transition lines logged in that second */
    uint64_t log_unlogged;         /* transitions over the cap, not yet reported */
    struct sched *sched;           /* every probe's next start or deadline */
    size_t kept_fds, kept_fds_max; /* sockets kept between attempts */
    bool prio;                     /* libevent priorities are set up */
    /* I/O events no probe holds: a probe takes one while it has a socket
     * and gives it back when the socket closes, so 100,000 targets pay for
     * the sockets open at once, not one event each (ping targets never
     * hold one: their sockets are the pool's) */
    struct event **ev_free;
    size_t nev_free, ev_free_cap;
    size_t nev; /* events made: held by probes, or in ev_free */
};

/* libevent priorities: probe sockets first, then everything else (the
 * engine's timer among them). libevent runs a lower priority only in a
 * turn where no higher one is active, so under overload the answers that
 * came are always read before a deadline is judged: an overloaded prober
 * starts fewer probes, it never reports its own backlog as timeouts. */
/* (ENGINE_PRIO_IO and ENGINE_PRIO_OTHER are in probe.h: the resolver's
 * sockets get ENGINE_PRIO_IO too.) */

/* At most this many target transition lines a second: 10,000 targets
 * failing at start must not stall the loop on writing 10,000 log lines. */
#define ENGINE_LOG_LINES_PER_S 100

static void probe_wake(struct probe *p);
static void probe_begin(struct probe *p);
static void probe_attempt_address(struct probe *p);
static void probe_complete_errno_origin(struct probe *p, enum probe_phase phase, int err,
                                        const char *detail, const struct resolv_result *o);

static const struct probe_ops *probe_ops_for(enum target_kind kind)
{
    switch (kind) {
    case KIND_CONNECT:
        return &probe_connect_ops;
    case KIND_RESOLVE:
        return &probe_resolve_ops;
    case KIND_SEND:
        return &probe_send_ops;
    case KIND_PING:
        return &probe_ping_ops;
    }
    return NULL;
}

/* The probe whose schedule node n is. */
static struct probe *probe_of(struct sched_node *n)
{
    return (struct probe *)(void *)((char *)n - offsetof(struct probe, sn));
}

/* The schedule's call: p's wake-up has come. A start waits while the gate
 * is closed; a deadline never does. */
static bool probe_engine_wake(struct sched_node *n, bool open, void *arg)
{
    struct probe *p = probe_of(n);

    (void)arg;
    if (!open && !p->running)
        return false;
    probe_wake(p);
    return true;
}

int64_t probe_remaining_us(const struct probe *p)
{
    return p->deadline_us - util_mono_us();
}

void probe_shorten_deadline(struct probe *p, int64_t deadline_us)
{
    if (deadline_us < p->deadline_us) {
        p->deadline_us = deadline_us;
        sched_arm(p->eng->sched, &p->sn, deadline_us);
    }
}

/* Close the attempt's socket without TIME_WAIT: SO_LINGER 0 turns close()
 * into a RST, so a probe rate is not capped by the port range. */
static void probe_io_cb(evutil_socket_t fd, short what, void *arg);

/* Give p's I/O event back to the engine (it may be the event whose
 * callback runs now: libevent reads nothing of it after the callback). */
static void probe_event_put(struct probe *p)
{
    struct engine *eng = p->eng;

    if (p->ev_io == NULL)
        return;
    event_del(p->ev_io);
    /* room was made when the event was taken: this cannot fail */
    eng->ev_free[eng->nev_free++] = p->ev_io;
    p->ev_io = NULL;
}

/* An I/O event for p: one given back earlier, or a new one. Room for
 * every event made is kept in the free list, so giving one back never
 * allocates. */
static int probe_event_get(struct probe *p)
{
    struct engine *eng = p->eng;
    struct event *ev;

    if (p->ev_io != NULL)
        return 0;
    if (eng->nev_free > 0) {
        p->ev_io = eng->ev_free[--eng->nev_free];
        return 0;
    }
    if (ARRAY_RESERVE(eng->ev_free, eng->ev_free_cap, eng->nev + 1) < 0 ||
        (ev = malloc(event_get_struct_event_size())) == NULL)
        return -1;
    if (event_assign(ev, eng->base, -1, 0, probe_io_cb, p) < 0) {
        free(ev);
        return -1;
    }
    eng->nev++;
    p->ev_io = ev;
    return 0;
}

static void probe_close_fd_how(struct probe *p, bool linger)
{
    if (p->fd >= 0) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        if (p->fd_kept) {
            p->fd_kept = false;
            p->eng->kept_fds--;
        }
        probe_event_put(p);
        p->local = NULL; /* an override described this socket */
        if (linger)
            setsockopt(p->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        close(p->fd);
        p->fd = -1;
    }
}

static void probe_close_fd(struct probe *p)
{
    probe_close_fd_how(p, true);
}

void probe_close_socket(struct probe *p)
{
    probe_close_fd(p);
}

static void probe_io_cb(evutil_socket_t fd, short what, void *arg)
{
    struct probe *p = arg;

    (void)fd;
    if (p->running && p->ev_io_cb != NULL)
        p->ev_io_cb(p, what);
    else if (!p->running)
        probe_close_fd(p); /* a kept socket spoke between attempts */
}

#define ENGINE_KEEP_MAX_INTERVAL_MS 60000

bool probe_keep_socket(struct probe *p)
{
    struct engine *eng = p->eng;

    if (p->fd < 0 || p->t->interval_ms > ENGINE_KEEP_MAX_INTERVAL_MS)
        return false;
    if (!p->fd_kept) {
        if (eng->kept_fds >= eng->kept_fds_max)
            return false;
        p->fd_kept = true;
        eng->kept_fds++;
    }
    p->keep_fd = true;
    return true;
}

int probe_watch(struct probe *p, int fd, short what, probe_io_fn cb)
{
    if (p->fd >= 0 && p->fd != fd) {
        errno = EBUSY;
        return -1;
    }
    p->fd = fd; /* the engine closes it, watched or not */
    if (probe_event_get(p) < 0) {
        errno = ENOMEM;
        return -1;
    }
    event_del(p->ev_io);
    p->ev_io_cb = cb;
    if (event_assign(p->ev_io, p->eng->base, fd, (short)(what | EV_PERSIST), probe_io_cb, p) < 0) {
        errno = EINVAL;
        return -1;
    }
    if (p->eng->prio)
        event_priority_set(p->ev_io, ENGINE_PRIO_IO);
    errno = 0;
    if (event_add(p->ev_io, NULL) < 0) {
        /* epoll_ctl's errno (ENOMEM, ENOSPC: max_user_watches), unless
         * libevent lost it on the way: never report a failure as 0 */
        if (errno == 0)
            errno = ENOMEM;
        return -1;
    }
    return 0;
}

void probe_set_local(struct probe *p, const union nd_sockaddr *sa)
{
    p->local = sa;
}

struct event_base *probe_event_base(const struct probe *p)
{
    return p->eng->base;
}

struct resolv *probe_resolv(const struct probe *p)
{
    return p->eng->rs;
}

/* NOLINTBEGIN(misc-no-recursion): an attempt may end inside the call that
 * starts it (a refused connect, an answer from the hosts file, a
 * nameserver that cannot be reached), and its end starts what comes next:
 * probe_finish -> the target's next address, or probe_engine_once_fill ->
 * probe_begin. The depth is bounded: probe_engine_once_fill never nests
 * (once_filling), a target's next address is one level per address, and
 * outside --once the next start waits for its timer. */
static void probe_lookup_cb(const struct resolv_result *res, void *arg)
{
    struct probe *p = arg;
    probe_lookup_fn cb = p->lookup_cb;

    p->rl = NULL;
    p->lookup_cb = NULL;
    if (!p->running || cb == NULL)
        return; /* never: an attempt that ends cancels its look-up */
    cb(p, res);
}

void probe_lookup(struct probe *p, const char *name, int family, probe_lookup_fn cb)
{
    p->rl = NULL;
    p->lookup_cb = cb;
    if (p->eng->rs == NULL) { /* an engine without a resolver (benchmarks) */
        probe_complete_errno(p, PHASE_RESOLVE, ENOSYS, "no resolver");
        return;
    }
    /* may answer at once (a literal, the hosts file, no nameserver
     * reachable): cb has run then, and NULL comes back */
    p->rl = resolv_lookup_start(p->eng->rs, name, family, probe_lookup_cb, p);
}

static void probe_lookup_cancel(struct probe *p)
{
    struct resolv_lookup *l = p->rl;

    p->rl = NULL;
    p->lookup_cb = NULL;
    resolv_lookup_cancel(l); /* at once: nothing is left for the loop to run */
}

void probe_complete_lookup_error(struct probe *p, const struct resolv_result *res, int af)
{
    if (res->server_len > 0)
        probe_set_remote(p, &res->server.sa);
    switch (res->status) {
    case RESOLV_NOFAMILY:
        probe_complete_no_address(p, res->detail);
        (void)af;
        return;
    case RESOLV_ERRNO:
        probe_complete_errno_origin(p, PHASE_RESOLVE, res->err, res->detail, res);
        return;
    case RESOLV_DNS:
    case RESOLV_OK: /* no address of the family: as NODATA */
        probe_complete_dns(p, res->status == RESOLV_OK ? DNS_NODATA : res->outcome,
                           res->status == RESOLV_OK ? 0 : res->rcode, res->detail);
        return;
    }
}

void probe_complete_no_address(struct probe *p, const char *detail)
{
    const struct target *t = p->t;
    bool any = t->kind == KIND_RESOLVE ? false : t->family == FAMILY_ANY;

    /* glibc's manual defines EAI_ADDRFAMILY for exactly this: "the
     * specified network host does not have any network addresses in the
     * requested address family"; see wsa.c */
#ifdef EAI_ADDRFAMILY
    probe_complete_eai(p, any ? EVUTIL_EAI_NODATA : EAI_ADDRFAMILY, detail);
#else
    (void)any;
    probe_complete_eai(p, EVUTIL_EAI_NODATA, detail);
#endif
}

void probe_set_remote(struct probe *p, const struct sockaddr *sa)
{
    socklen_t len =
        sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    memcpy(&p->addr, sa, len);
    p->addrlen = len;
}

/* --once: start waiting targets up to the parallelism bound. A probe that
 * fails inside its start() completes at once and lands here again; that
 * nested call returns and this loop takes the freed slot, so 20,000
 * targets failing at once (no such source address) do not become 20,000
 * nested calls on the stack. */
static void probe_engine_once_fill(struct engine *eng)
{
    if (eng->once_filling)
        return;
    eng->once_filling = true;
    while (eng->once_next < eng->nprobes && eng->in_flight < ENGINE_ONCE_PARALLEL) {
        struct probe *p = eng->probes[eng->once_next++];
        p->started_once = true;
        probe_begin(p);
    }
    eng->once_filling = false;
}

/* The next start on the fixed-rate schedule, skipping slots already past
 * (a probe is never started twice to catch up). */
static void probe_schedule_next(struct probe *p)
{
    struct engine *eng = p->eng;

    if (eng->stopping)
        return;
    if (eng->once) {
        if (eng->once_left > 0 && --eng->once_left == 0)
            event_base_loopexit(eng->base, NULL);
        probe_engine_once_fill(eng);
        return;
    }
    sched_next(eng->sched, &p->sn, (int64_t)p->t->interval_ms * 1000);
}

/* Log a target's state changes, not its every result (as relayd logs
 * "host %s, check %s, state %s -> %s", and ntpd a repeated errno only at
 * debug): "target web: ok -> 10061 WSAECONNREFUSED (Connection refused.) ...".
 * A flapping target logs at most one line per ENGINE_LOG_HOLD_US; the
 * line after the hold-off compares with the last state logged, so the log
 * always ends on the real state. */
#define ENGINE_LOG_HOLD_US (10 * 1000000LL)

static void probe_log_transition(struct probe *p, const struct result *r)
{
    char from[48], more[48] = "";
    const struct wsa_code *wc;
    int64_t now;

    /* count changes from one result to the next, not results: a target
     * that went down and stayed down during the hold-off changed once */
    if (r->wsa_code != p->last_code && p->state_code >= 0 && p->changes_held < UINT16_MAX)
        p->changes_held++;
    p->last_code = (int16_t)r->wsa_code;
    if (p->state_code == r->wsa_code) {
        log_debug("target %s: %s in %lld us", p->t->name, r->ok ? "ok" : r->raw,
                  (long long)r->latency_us);
        return;
    }
    now = util_mono_us();
    if (p->state_code >= 0 && now < p->log_next_us)
        return;
    if (p->state_code < 0)
        util_strlcpy(from, "new", sizeof(from));
    else if (p->state_code == 0)
        util_strlcpy(from, "ok", sizeof(from));
    else
        snprintf(from, sizeof(from), "%d", p->state_code);
    /* the line itself tells one change; the others went unlogged */
    if (p->changes_held > 1)
        snprintf(more, sizeof(more), " [%u more change%s not logged]", p->changes_held - 1u,
                 p->changes_held == 2 ? "" : "s");
    p->state_code = r->wsa_code;
    p->log_next_us = now + ENGINE_LOG_HOLD_US;
    p->changes_held = 0;
    if (now - p->eng->log_second_us >= 1000000) {
        p->eng->log_second_us = now;
        p->eng->log_lines = 0;
    }
    if (p->eng->log_lines++ >= ENGINE_LOG_LINES_PER_S) {
        p->eng->log_unlogged++; /* counted; probe_engine_tick() says how many */
        return;
    }
    /* an outage is a warning and its end a notice, so that `journalctl -p
     * warning` lists the outages and -p notice their ends as well; a
     * target's first result when it is fine is plain information */
    if (r->ok && strcmp(from, "new") == 0) {
        log_info("target %s: %s -> ok (%s %s, %lld us)%s", p->t->name, from,
                 target_kind_name(p->t->kind), r->remote[0] ? r->remote : "-",
                 (long long)r->latency_us, more);
        return;
    }
    if (r->ok) {
        log_notice("target %s: %s -> ok (%s %s, %lld us)%s", p->t->name, from,
                   target_kind_name(p->t->kind), r->remote[0] ? r->remote : "-",
                   (long long)r->latency_us, more);
        return;
    }
    wc = wsa_by_code(r->wsa_code);
    log_warnx("target %s: %s -> %d %s (%s) in %s, %s %s%s%s%s", p->t->name, from, r->wsa_code,
              wc ? wc->name : "?", wc ? wc->meaning : "?", result_phase_name(r->phase), r->raw,
              r->remote[0] ? r->remote : "-", r->detail[0] ? ": " : "", r->detail, more);
}

/* The one completion path every attempt ends in (relayd's
 * hce_notify_done): time-stamp, addresses, hand on, release the socket,
 * then the next address or the next slot. */
static void probe_finish(struct probe *p, struct result *r)
{
    struct engine *eng = p->eng;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);

    r->target = p->t;
    r->ts_ms = p->ts_ms;
    r->latency_us = util_mono_us() - p->start_us;
    /* The addresses are read for a failure (stored, alerted), by --once and
     * by the transition line; a success in a steady ok state needs neither
     * a getsockname() nor two formatted addresses on the loop. */
    if (!r->ok || eng->once || p->state_code != 0) {
        if (p->local != NULL)
            util_format_sockaddr(&p->local->sa, r->local, sizeof(r->local));
        else if (p->fd >= 0 && getsockname(p->fd, (struct sockaddr *)&ss, &sl) == 0)
            util_format_sockaddr((struct sockaddr *)&ss, r->local, sizeof(r->local));
        if (p->addrlen > 0)
            util_format_sockaddr((struct sockaddr *)&p->addr, r->remote, sizeof(r->remote));
    }
    if (p->ops->finish != NULL)
        p->ops->finish(p, r);

    /* a socket that never connected leaves no TIME_WAIT behind */
    if (p->keep_fd)
        p->keep_fd = false; /* the kind asked: it serves the next attempt */
    else
        probe_close_fd_how(p, r->ok || r->phase > PHASE_CONNECT);
    sched_cancel(eng->sched, &p->sn);
    p->running = false;
    eng->in_flight--;
    eng->attempts++;
    probe_log_transition(p, r);
    eng->sink(r, eng->sink_arg);

    if (!eng->stopping && p->addr_idx + 1 < p->naddrs) {
        p->addr_idx++;
        probe_attempt_address(p);
        return;
    }
    probe_schedule_next(p);
}

static void result_init(struct result *r, enum probe_phase phase, int wsa, const char *raw,
                        int raw_value, const char *detail)
{
    memset(r, 0, sizeof(*r));
    r->phase = phase;
    r->ok = wsa == 0;
    r->wsa_code = wsa;
    util_strlcpy(r->raw, raw ? raw : "", sizeof(r->raw));
    r->raw_value = raw_value;
    util_strlcpy(r->detail, detail ? detail : "", sizeof(r->detail));
}

void probe_complete_ok(struct probe *p, const char *detail)
{
    struct result r;

    if (!p->running)
        return;
    result_init(&r, p->phase, 0, "", 0, detail);
    probe_finish(p, &r);
}

/* The errnos an ICMP error sets on a socket (the kernel's
 * icmp_err_convert[] and icmpv6_err_convert()): only after one of them is
 * the error queue worth a look. A timeout, a reset or a local refusal never
 * costs a system call more. */
static bool probe_icmp_errno(int err)
{
    switch (err) {
    case ENETUNREACH:
    case EHOSTUNREACH:
    case ECONNREFUSED:
    case EACCES:
    case EMSGSIZE:
    case ENOPROTOOPT:
    case EOPNOTSUPP:
    case EHOSTDOWN:
    case ENONET:
    case EPROTO:
        return true;
    default:
        return false;
    }
}

/* When the failure came from an ICMP or ICMPv6 error (the socket asked for
 * them, sock_open_connect()): the first one queued fills r's icmp fields
 * and its words go before the kind's detail, and the errno becomes what
 * its own type and code stand for (a prohibition is EACCES where the
 * kernel says EHOSTUNREACH), as the ping kind classifies its errors.
 * Returns the errno; r->icmp stays false for any other failure. */
static int probe_icmp_origin(struct probe *p, int err, struct result *r)
{
    struct errq_msg m;
    int got = 0, af, icmp_err;
    char words[sizeof(r->detail)];
    const void *a;

    /* bounded: the kernel bounds the queue too (the receive buffer) */
    for (int i = 0; i < 8 && (got = errq_read(p->fd, &m)) > 0; i++)
        if (m.origin == SO_EE_ORIGIN_ICMP || m.origin == SO_EE_ORIGIN_ICMP6)
            break;
    if (got <= 0 || (m.origin != SO_EE_ORIGIN_ICMP && m.origin != SO_EE_ORIGIN_ICMP6))
        return err;
    af = m.origin == SO_EE_ORIGIN_ICMP6 ? AF_INET6 : AF_INET;
    r->icmp = true;
    r->icmp_type = m.type;
    r->icmp_code = m.code;
    a = m.offender.sa.sa_family == AF_INET6 ? (const void *)&m.offender.sin6.sin6_addr
                                            : (const void *)&m.offender.sin.sin_addr;
    if (!m.has_offender ||
        inet_ntop(m.offender.sa.sa_family, a, r->icmp_from, sizeof(r->icmp_from)) == NULL)
        r->icmp_from[0] = '\0';
    icmp_error_origin(af, m.type, m.code, r->icmp_from, words, sizeof(words));
    if (r->detail[0] != '\0')
        util_snprintf_cut(words + strlen(words), sizeof(words) - strlen(words), "; %s", r->detail);
    memcpy(r->detail, words, sizeof(r->detail));
    icmp_err = icmp_error_errno(af, m.type, m.code);
    return icmp_err != 0 ? icmp_err : err;
}

/* probe_complete_errno(), with the ICMP origin the resolver found for its
 * own socket (o; NULL: look at the probe's socket). */
static void probe_complete_errno_origin(struct probe *p, enum probe_phase phase, int err,
                                        const char *detail, const struct resolv_result *o)
{
    struct result r;
    char rawbuf[24];

    if (!p->running)
        return;
    /* no detail that only repeats strerror(raw): the raw name and the WSA
     * meaning say it already, and every stored byte counts at 100k rows/s */
    result_init(&r, phase, 0, "", err, detail);
    if (o != NULL && o->icmp) {
        r.icmp = true;
        r.icmp_type = o->icmp_type;
        r.icmp_code = o->icmp_code;
        memcpy(r.icmp_from, o->icmp_from, sizeof(r.icmp_from));
    } else if (p->fd >= 0 && probe_icmp_errno(err)) {
        err = probe_icmp_origin(p, err, &r);
    }
    r.wsa_code = wsa_from_errno(err);
    r.ok = r.wsa_code == 0;
    util_strlcpy(r.raw, wsa_raw_errno(err, rawbuf, sizeof(rawbuf)), sizeof(r.raw));
    r.raw_value = err;
    probe_finish(p, &r);
}

void probe_complete_errno(struct probe *p, enum probe_phase phase, int err, const char *detail)
{
    probe_complete_errno_origin(p, phase, err, detail, NULL);
}

void probe_complete_eai(struct probe *p, int eai, const char *detail)
{
    struct result r;
    char rawbuf[24];

    if (!p->running)
        return;
    result_init(&r, PHASE_RESOLVE, wsa_from_eai(eai), wsa_raw_eai(eai, rawbuf, sizeof(rawbuf)), eai,
                detail ? detail : evutil_gai_strerror(eai));
    probe_finish(p, &r);
}

void probe_complete_dns(struct probe *p, enum dns_outcome outcome, int rcode, const char *detail)
{
    struct result r;

    if (!p->running)
        return;
    if (outcome == DNS_OK) {
        probe_complete_ok(p, detail);
        return;
    }
    result_init(&r, PHASE_RESOLVE, wsa_from_dns(outcome), wsa_raw_dns(outcome), rcode, detail);
    probe_finish(p, &r);
}

void probe_complete_mismatch(struct probe *p, const char *detail)
{
    struct result r;
    bool dns = p->t->kind == KIND_RESOLVE;

    if (!p->running)
        return;
    result_init(&r, PHASE_VERIFY, wsa_from_mismatch(dns), wsa_mismatch_name(dns), -1, detail);
    probe_finish(p, &r);
}

/* Abort the attempt in flight without a result: kind state, engine-owned
 * socket, and a pending name look-up. */
static void probe_abort(struct probe *p)
{
    if (!p->running)
        return;
    if (p->ops->abort != NULL)
        p->ops->abort(p);
    probe_lookup_cancel(p);
    probe_close_fd(p);
    p->running = false;
    p->eng->in_flight--;
}

/* The deadline passed: the attempt is WSAETIMEDOUT in the phase it was in
 * (for name resolution: the DNS timeout, WSATRY_AGAIN, as getaddrinfo's
 * EAI_AGAIN would say). A kind may mark the wait as the success case. */
static void probe_deadline(struct probe *p)
{
    char detail[192];
    enum probe_phase phase = p->phase;
    bool ok = p->ok_on_deadline;

    char note[150] = "";
    bool partial = false;

    if (p->rl == NULL && p->ops->deadline != NULL) {
        p->ops->deadline(p);
        return;
    }
    if (p->rl != NULL)
        resolv_lookup_describe(p->rl, note, sizeof(note));
    else if (p->ops->describe != NULL)
        partial = p->ops->describe(p, note, sizeof(note));
    snprintf(detail, sizeof(detail), "%s %lld ms (%s)%s%s",
             partial ? "timed out after" : "no answer within", (long long)p->t->timeout_ms,
             result_phase_name(phase), note[0] ? "; " : "", note);
    if (p->ops->abort != NULL)
        p->ops->abort(p);
    probe_lookup_cancel(p);
    if (ok)
        probe_complete_ok(p, "sent, no error reported");
    else if (phase == PHASE_RESOLVE)
        probe_complete_dns(p, DNS_TIMEOUT, -1, detail);
    else
        probe_complete_errno(p, phase, ETIMEDOUT, detail);
}

/* A probe's wake-up has come (never early: the heap pops only what is
 * due): its deadline when running, else its next scheduled start. */
static void probe_wake(struct probe *p)
{
    if (p->running) {
        probe_deadline(p);
        return;
    }
    if (!p->eng->once)
        sched_count_start(p->eng->sched, &p->sn);
    probe_begin(p);
}

/* Arm the deadline once the kind's start() has returned and only if the
 * attempt is still running: most refused loopback connects fail inside
 * connect(), and a timer set and deleted per probe costs more than the
 * probe. The deadline itself was fixed at the start and never moves. */
static void probe_arm_deadline(struct probe *p)
{
    if (p->running)
        sched_arm(p->eng->sched, &p->sn, p->deadline_us);
}

/* The attempt is in flight from now: its start on both clocks, and its
 * one absolute deadline, which never moves later. */
static void probe_mark_running(struct probe *p)
{
    p->running = true;
    p->eng->in_flight++;
    p->start_us = util_mono_us();
    p->ts_ms = util_now_ms();
    p->deadline_us = p->start_us + (int64_t)p->t->timeout_ms * 1000;
}

/* Start one address of the attempt (the first one starts the attempt's
 * clock; the others share its deadline). */
static void probe_attempt_address(struct probe *p)
{
    if (!p->literal)
        p->addr = p->addrs[p->addr_idx];
    p->addrlen =
        p->addr.sa.sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (!p->running)
        probe_mark_running(p);
    p->phase = PHASE_CONNECT;
    p->ok_on_deadline = false;
    p->local = NULL;
    p->ops->start(p);
    probe_arm_deadline(p);
}

static bool family_ok(const struct target *t, int af)
{
    return t->family == FAMILY_ANY || (t->family == FAMILY_IPV4 && af == AF_INET) ||
           (t->family == FAMILY_IPV6 && af == AF_INET6);
}

static int probe_addrs_reserve(struct probe *p, size_t n)
{
    if (n > p->addrs_cap) {
        union nd_sockaddr *a = realloc(p->addrs, n * sizeof(*a));
        if (a == NULL)
            return -1;
        p->addrs = a;
        p->addrs_cap = n;
    }
    return 0;
}

/* The resolver's answer for a connect or send target's host name. */
static void probe_looked_up(struct probe *p, const struct resolv_result *res)
{
    size_t n = 0;

    if (res->status != RESOLV_OK) {
        probe_complete_lookup_error(p, res, 0);
        return;
    }
    for (size_t i = 0; i < res->naddrs; i++)
        if (family_ok(p->t, res->addrs[i].sa.sa_family))
            n++;
    if (n == 0) {
        /* the resolver asks only for the family configured: never */
        probe_complete_dns(p, DNS_NODATA, 0, "no address of the family asked");
        return;
    }
    if (probe_addrs_reserve(p, p->t->addresses == ADDRSEL_ALL ? n : 1) < 0) {
        char detail[160];
        snprintf(detail, sizeof(detail), "resolving %s: out of memory for %zu addresses",
                 p->t->host, n);
        probe_complete_errno(p, PHASE_RESOLVE, ENOMEM, detail);
        return;
    }
    p->naddrs = 0;
    for (size_t i = 0; i < res->naddrs && p->naddrs < p->addrs_cap; i++) {
        union nd_sockaddr *a = &p->addrs[p->naddrs];
        if (!family_ok(p->t, res->addrs[i].sa.sa_family))
            continue;
        *a = res->addrs[i];
        a->sin.sin_port = htons(p->t->port); /* same offset in sin6 */
        p->naddrs++;
    }
    p->addr_idx = 0;
    probe_attempt_address(p);
}

/* Begin one scheduled attempt: resolve the host (literals need no look-up)
 * or hand straight to the kind. */
static void probe_begin(struct probe *p)
{
    struct engine *eng = p->eng;
    struct target *t = p->t;

    if (eng->stopping || p->running)
        return;
    p->naddrs = 0;
    p->addr_idx = 0;
    p->ok_on_deadline = false;
    p->local = NULL;
    if (!p->literal)
        p->addrlen = 0;
    if (!p->ops->needs_address) {
        probe_mark_running(p);
        p->phase = PHASE_RESOLVE;
        p->ops->start(p);
        probe_arm_deadline(p);
        return;
    }
    if (p->literal) {
        p->naddrs = 1;
        probe_attempt_address(p);
        return;
    }
    probe_mark_running(p);
    p->phase = PHASE_RESOLVE;
    probe_lookup(p, t->host,
                 t->family == FAMILY_IPV4   ? AF_INET
                 : t->family == FAMILY_IPV6 ? AF_INET6
                                            : AF_UNSPEC,
                 probe_looked_up);
    probe_arm_deadline(p);
}

/* NOLINTEND(misc-no-recursion) */

/* A probe's block, set up for t, not yet t's nor in the heap: safe on the
 * reload thread (it reads only eng->base, which never changes). */
static struct probe *probe_alloc(struct engine *eng, struct target *t)
{
    struct probe *p = calloc(1, sizeof(*p));

    if (p == NULL)
        fatalx("out of memory");
    p->t = t;
    p->ops = probe_ops_for(t->kind);
    p->eng = eng;
    p->fd = -1;
    p->state_code = -1;
    p->last_code = -1;
    if (p->ops->needs_address) {
        /* an address literal is parsed once, not at every attempt */
        struct sockaddr_storage ss;
        socklen_t sl;
        char err[8];
        if (util_parse_sockaddr(t->host, 0, &ss, &sl, err, sizeof(err)) == 0) {
            memcpy(&p->addr, &ss, sl);
            p->addr.sin.sin_port = htons(t->port); /* same offset in sin6 */
            p->addrlen = sl;
            p->literal = true;
        }
    }
    p->sn.idx = SCHED_NONE;
    return p;
}

static struct probe *probe_new(struct engine *eng, struct target *t)
{
    struct probe *p = probe_alloc(eng, t);

    t->probe = p;
    return p;
}

static void probe_free(struct probe *p)
{
    probe_abort(p);
    probe_close_fd(p); /* a socket kept between attempts */
    sched_cancel(p->eng->sched, &p->sn);
    probe_event_put(p); /* an event taken without a socket (watch failed) */
    free(p->addrs);
    if (p->ops->release != NULL)
        p->ops->release(p);
    free(p->kstate);
    if (p->t != NULL && p->t->probe == p)
        p->t->probe = NULL;
    free(p);
}

struct engine *probe_engine_new(struct event_base *base, struct resolv *rs, probe_sink_fn sink,
                                void *sink_arg)
{
    struct engine *eng = calloc(1, sizeof(*eng));

    if (eng == NULL)
        fatalx("out of memory");
    eng->base = base;
    eng->rs = rs;
    eng->sink = sink;
    eng->sink_arg = sink_arg;
    {
        /* main.c raised the soft limit to the hard one already */
        struct rlimit rl;
        eng->kept_fds_max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
                                ? (size_t)rl.rlim_cur / 4
                                : 256;
    }
    /* main.c sets the priorities up before any event exists (the others
     * then get the default, ENGINE_PRIO_OTHER); bench_sched relies on this */
    eng->prio = event_base_get_npriorities(base) >= ENGINE_PRIORITIES ||
                event_base_priority_init(base, ENGINE_PRIORITIES) == 0;
    if (!eng->prio)
        log_debug("engine: libevent priorities unavailable; I/O and timers share one");
    eng->sched = sched_new(base, eng->prio ? ENGINE_PRIO_OTHER : -1, probe_engine_wake, eng);
    if (eng->sched == NULL)
        fatalx("out of memory");
    return eng;
}

static bool str_same(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool bytes_same(const unsigned char *a, size_t alen, const unsigned char *b, size_t blen)
{
    return alen == blen && (alen == 0 || (a != NULL && b != NULL && memcmp(a, b, alen) == 0)) &&
           (a == NULL) == (b == NULL);
}

/* Whether a reloaded target probes exactly what the running one does. */
static bool target_same(const struct target *a, const struct target *b)
{
    return strcmp(a->name, b->name) == 0 && a->kind == b->kind &&
           a->interval_ms == b->interval_ms && a->timeout_ms == b->timeout_ms &&
           a->family == b->family && str_same(a->host, b->host) && a->port == b->port &&
           a->source_len == b->source_len && memcmp(&a->source, &b->source, a->source_len) == 0 &&
           a->addresses == b->addresses && str_same(a->qname, b->qname) && a->qtype == b->qtype &&
           a->server_system == b->server_system && a->server_len == b->server_len &&
           memcmp(&a->server, &b->server, a->server_len) == 0 && a->protocol == b->protocol &&
           bytes_same(a->payload, a->payload_len, b->payload, b->payload_len) &&
           bytes_same(a->expect, a->expect_len, b->expect, b->expect_len) &&
           a->ping_count == b->ping_count && a->ping_spacing_ms == b->ping_spacing_ms &&
           a->ping_size == b->ping_size;
}

static int target_cmp_name(const void *a, const void *b)
{
    const struct target *x = *(const struct target *const *)a;
    const struct target *y = *(const struct target *const *)b;
    return strcmp(x->name, y->name);
}

/* What a reload can settle off the loop (probe_engine_prepare): for each target
 * of cfg, whether it probes exactly what its namesake in the running
 * config does, and a fresh probe for each one that does not. */
struct probe_engine_prepared {
    const struct config *cfg, *prev;
    bool *same;
    struct probe **fresh;
    struct probe **np; /* the new probe array, zeroed */
};

struct probe_engine_prepared *probe_engine_prepare(struct engine *eng, struct config *cfg)
{
    struct probe_engine_prepared *ep;
    size_t n = cfg->ntargets ? cfg->ntargets : 1;

    if (cfg->prev_idx == NULL || cfg->prev == NULL)
        return NULL;
    ep = calloc(1, sizeof(*ep));
    if (ep == NULL)
        return NULL;
    ep->cfg = cfg;
    ep->prev = cfg->prev;
    ep->same = calloc(n, sizeof(*ep->same));
    ep->fresh = calloc(n, sizeof(*ep->fresh));
    ep->np = calloc(n, sizeof(*ep->np));
    if (ep->same == NULL || ep->fresh == NULL || ep->np == NULL) {
        probe_engine_prepared_free(ep);
        return NULL;
    }
    for (size_t i = 0; i < cfg->ntargets; i++) {
        uint32_t j = cfg->prev_idx[i];
        /* the running config's definitions never change while it runs */
        ep->same[i] = j != CONFIG_NO_PREV && target_same(&cfg->prev->targets[j], &cfg->targets[i]);
        if (!ep->same[i])
            ep->fresh[i] = probe_alloc(eng, &cfg->targets[i]);
    }
    return ep;
}

void probe_engine_prepared_free(struct probe_engine_prepared *ep)
{
    if (ep == NULL)
        return;
    for (size_t i = 0; ep->fresh != NULL && i < ep->cfg->ntargets; i++)
        free(ep->fresh[i]); /* never watched, never in the heap */
    free(ep->same);
    free(ep->fresh);
    free(ep->np);
    free(ep);
}

int probe_engine_set_targets(struct engine *eng, struct config *cfg, bool once)
{
    return probe_engine_set_targets_prepared(eng, cfg, once, NULL);
}

int probe_engine_set_targets_prepared(struct engine *eng, struct config *cfg, bool once,
                                      struct probe_engine_prepared *ep)
{
    bool linked = cfg->prev_idx != NULL && cfg->prev->ntargets == eng->nprobes;
    struct probe **np;
    struct target **byname = NULL;
    size_t kept = 0;

    if (ep != NULL && (!linked || ep->cfg != cfg || ep->prev != cfg->prev)) {
        probe_engine_prepared_free(ep); /* made for another pair of configs */
        ep = NULL;
    }
    if (ep != NULL) {
        np = ep->np;
        ep->np = NULL;
    } else {
        np = calloc(cfg->ntargets ? cfg->ntargets : 1, sizeof(*np));
    }
    if (np == NULL) {
        probe_engine_prepared_free(ep);
        return -1;
    }
    eng->once = once;
    /* a reload linked to the running config (config_link_prev, off the
     * loop): each target's namesake by index, no sort on the loop; with
     * ep, no comparison either */
    if (linked) {
        for (size_t i = 0; i < cfg->ntargets; i++) {
            uint32_t j = cfg->prev_idx[i];
            struct probe *p = j != CONFIG_NO_PREV ? eng->probes[j] : NULL;
            if (p != NULL && p->t == &cfg->prev->targets[j] &&
                (ep != NULL ? ep->same[i] : target_same(p->t, &cfg->targets[i]))) {
                p->t = &cfg->targets[i];
                cfg->targets[i].probe = p;
                eng->probes[j] = NULL;
                kept++;
            }
        }
    } else if (eng->nprobes > 0 && cfg->ntargets > 0) {
        /* carry over unchanged targets: new targets sorted by name, then
         * one binary search per running probe (O(n log n) for 100k) */
        byname = malloc(cfg->ntargets * sizeof(*byname));
        if (byname == NULL) {
            free(np);
            return -1;
        }
        for (size_t i = 0; i < cfg->ntargets; i++)
            byname[i] = &cfg->targets[i];
        qsort(byname, cfg->ntargets, sizeof(*byname), target_cmp_name);
    }
    for (size_t i = 0; i < eng->nprobes && byname != NULL; i++) {
        struct probe *p = eng->probes[i];
        struct target key = {.name = p->t->name}, *kp = &key, **hit;
        struct target *nt;

        hit = bsearch(&kp, byname, cfg->ntargets, sizeof(*byname), target_cmp_name);
        nt = hit != NULL ? *hit : NULL;
        if (nt != NULL && nt->probe == NULL && target_same(p->t, nt)) {
            p->t = nt;
            nt->probe = p;
            eng->probes[i] = NULL;
            kept++;
        }
    }
    free(byname);
    for (size_t i = 0; i < eng->nprobes; i++)
        if (eng->probes[i] != NULL)
            probe_free(eng->probes[i]);
    free(eng->probes);

    for (size_t i = 0; i < cfg->ntargets; i++) {
        struct target *t = &cfg->targets[i];
        if (t->probe != NULL) {
            np[i] = t->probe;
            continue;
        }
        if (ep != NULL && ep->fresh[i] != NULL) {
            np[i] = t->probe = ep->fresh[i]; /* set up on the reload thread */
            ep->fresh[i] = NULL;
        } else {
            np[i] = probe_new(eng, t);
        }
        if (!once) /* the first start anywhere in the first interval */
            sched_first(eng->sched, &np[i]->sn, (int64_t)t->interval_ms * 1000);
    }
    probe_engine_prepared_free(ep); /* what no target took */
    eng->probes = np;
    eng->nprobes = cfg->ntargets;
    if (once) {
        eng->once_left = eng->nprobes;
        eng->once_next = 0;
        if (eng->nprobes == 0)
            event_base_loopexit(eng->base, NULL);
        probe_engine_once_fill(eng);
    }
    log_debug("engine: %zu targets, %zu kept from the previous config", cfg->ntargets, kept);
    return 0;
}

bool probe_engine_idle(const struct engine *eng)
{
    return eng->in_flight == 0;
}

void probe_engine_stop(struct engine *eng)
{
    eng->stopping = true;
    for (size_t i = 0; i < eng->nprobes; i++) {
        probe_abort(eng->probes[i]);
        probe_close_fd(eng->probes[i]); /* a socket kept between attempts */
        sched_cancel(eng->sched, &eng->probes[i]->sn);
    }
}

void probe_engine_free(struct engine *eng)
{
    if (eng == NULL)
        return;
    eng->stopping = true;
    for (size_t i = 0; i < eng->nprobes; i++)
        probe_free(eng->probes[i]);
    free(eng->probes);
    for (size_t i = 0; i < eng->nev_free; i++)
        free(eng->ev_free[i]);
    free(eng->ev_free);
    sched_free(eng->sched);
    free(eng);
}

void probe_engine_schedule_stats(const struct engine *eng, struct sched_stats *out)
{
    sched_stats(eng->sched, out);
}

void probe_engine_set_gate(struct engine *eng, sched_gate_fn fn, void *arg)
{
    sched_set_gate(eng->sched, fn, arg);
}

void probe_engine_tick(struct engine *eng)
{
    if (eng->log_unlogged > 0) {
        log_warnx("%llu more target state changes not logged (over %d lines a second); "
                  "netdiag targets shows every target's state",
                  (unsigned long long)eng->log_unlogged, ENGINE_LOG_LINES_PER_S);
        eng->log_unlogged = 0;
    }
}

uint64_t probe_engine_attempts(const struct engine *eng)
{
    return eng->attempts;
}

size_t probe_engine_in_flight(const struct engine *eng)
{
    return eng->in_flight;
}
