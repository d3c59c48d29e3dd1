/* SPDX-License-Identifier: ISC */
/* The resolve probe: one DNS question to a named server over UDP (and TCP
 * when the answer comes back truncated), or to the system's nameservers
 * through the stub resolver (resolv.c) for A/AAAA, classified by rcode,
 * answer count and `expect`. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/util.h>

#include "dns.h"
#include "log.h"
#include "probe.h"
#include "resolv.h"
#include "sock.h"
#include "util.h"

/* Reads per wake-up: a flood of spoofed packets cannot hold the loop; the
 * rest wait for the next turn. */
#define RESOLVE_BURST 64
/* TCP message buffer at first use; grows to the largest length seen. */
#define RESOLVE_TCP_INITIAL 4096

/* Kind state: one malloc'd block per target (the engine free()s it), built
 * at the first attempt and re-used, so an attempt allocates nothing but
 * what ldns needs to parse an answer. */
struct resolve_state {
    bool query_ok;
    char query_err[96];
    struct dns_query q; /* p->t never changes qname/qtype for a kept probe */

    union nd_sockaddr sys_server; /* server = system, non-address types */
    socklen_t sys_server_len;

    /* The UDP socket kept from the last attempt (p->fd), and its local
     * address: a fresh socket, connect and epoll registration per query
     * were two thirds of a query's CPU. */
    union nd_sockaddr local;
    socklen_t local_len;

    /* the current attempt */
    unsigned ignored; /* packets that were not our answer */
    enum dns_reject last_reject;
    bool tcp;                /* retrying over TCP after TC */
    size_t out_sent;         /* of the query's TCP frame */
    struct dns_tcp_frame in; /* the answer's TCP frame */
    size_t cap;              /* size of buf */
    uint8_t buf[];
};

/* One UDP datagram at a time, parsed before the next is read. */
static uint8_t resolve_dgram[65536];

static void resolve_tcp_write(struct probe *p, short what);
static void resolve_tcp_read(struct probe *p, short what);

static const char *resolve_qtype_name(uint16_t qtype, char *buf, size_t len)
{
    const char *name = config_qtype_name(qtype);

    if (name != NULL)
        return name;
    snprintf(buf, len, "TYPE%u", qtype);
    return buf;
}

static struct resolve_state *resolve_state(struct probe *p)
{
    struct resolve_state *ks = p->kstate;

    if (ks == NULL) {
        ks = calloc(1, sizeof(*ks));
        if (ks == NULL)
            return NULL;
        p->kstate = ks;
        ks->query_ok = dns_query_init(&ks->q, p->t->qname, p->t->qtype, ks->query_err,
                                      sizeof(ks->query_err)) == 0;
    }
    ks->ignored = 0;
    ks->last_reject = DNS_REJECT_NONE;
    ks->tcp = false;
    ks->out_sent = 0;
    ks->in = (struct dns_tcp_frame){0};
    return ks;
}

/* Append a ", "-separated list to buf, cut at an item boundary with ", ..."
 * when it does not fit whole (the result detail is short; half an address
 * would mislead). */
static void resolve_append_list(char *buf, size_t size, const char *list)
{
    size_t used = strlen(buf), len = strlen(list);
    const char *cut;

    if (used + len < size) {
        memcpy(buf + used, list, len + 1);
        return;
    }
    /* the last ", " that leaves room for ", ..." */
    for (cut = list + len; cut > list; cut--)
        if (cut[0] == ',' && cut[1] == ' ' && used + (size_t)(cut - list) + 6 < size)
            break;
    if (cut == list) {
        util_strlcpy(buf + used, "...", size - used);
        return;
    }
    memcpy(buf + used, list, (size_t)(cut - list));
    memcpy(buf + used + (size_t)(cut - list), ", ...", 6);
}

/* An answer came over UDP and was ours: the socket serves the next query
 * (a new id each time; a late or stray packet on it between queries makes
 * the engine close it). TCP connections are never kept. */
static void resolve_keep(struct probe *p)
{
    struct resolve_state *ks = p->kstate;

    if (ks->tcp || p->fd < 0)
        return;
    if (ks->local_len == 0) {
        socklen_t len = sizeof(ks->local);
        if (getsockname(p->fd, &ks->local.sa, &len) < 0)
            return;
        ks->local_len = len;
    }
    probe_set_local(p, &ks->local);
    probe_keep_socket(p);
}

/* The result of an accepted answer: outcome, then `expect`. Packets
 * ignored before it are mentioned last, the answers' list giving way. */
static void resolve_finish(struct probe *p, const struct dns_answer *a)
{
    const struct resolve_state *ks = p->kstate;
    const struct target *t = p->t;
    char detail[sizeof(((struct result *)0)->detail)], rbuf[16], tbuf[16], ignored[64];
    const char *rname = dns_rcode_name(a->rcode, rbuf, sizeof(rbuf));
    const char *proto = ks->tcp ? " over TCP after TC" : "";
    const char *via = a->nchain > 0 ? " via " : "";
    size_t room;

    ignored[0] = '\0';
    if (ks->ignored > 0)
        snprintf(ignored, sizeof(ignored), " (%u packet%s ignored: %s)", ks->ignored,
                 ks->ignored == 1 ? "" : "s", dns_reject_name(ks->last_reject));
    room = sizeof(detail) - strlen(ignored);

    if (a->outcome == DNS_OK && !a->expect_found) {
        util_snprintf_cut(detail, room, "expected %s, got ", (const char *)t->expect);
        resolve_append_list(detail, room, a->text);
    } else if (a->outcome == DNS_OK) {
        util_snprintf_cut(detail, room, "%s%s, %u answer%s%s%s: ", rname, proto, a->nmatch,
                          a->nmatch == 1 ? "" : "s", via, a->chain_end);
        resolve_append_list(detail, room, a->text);
    } else if (a->outcome == DNS_NODATA) {
        util_snprintf_cut(detail, room, "%s%s, no %s answer%s%s (%u record%s)", rname, proto,
                          resolve_qtype_name(t->qtype, tbuf, sizeof(tbuf)), via, a->chain_end,
                          a->ancount, a->ancount == 1 ? "" : "s");
    } else {
        util_snprintf_cut(detail, room, "%s (rcode %d)%s", rname, a->rcode, proto);
    }
    strcat(detail, ignored);
    resolve_keep(p);
    if (a->outcome == DNS_OK && !a->expect_found)
        probe_complete_mismatch(p, detail);
    else
        probe_complete_dns(p, a->outcome, a->rcode, detail);
}

/* A packet that is not our answer: counted and dropped, the wait goes on
 * (an off-path spoofer or a late answer to an earlier attempt must not
 * decide the result). If nothing better comes the deadline ends it. */
static void resolve_ignore(struct probe *p, enum dns_reject why, size_t len)
{
    struct resolve_state *ks = p->kstate;

    ks->ignored++;
    ks->last_reject = why;
    log_debug("target %s: ignored a %zu-byte %s packet (%s)", p->t->name, len,
              ks->tcp ? "TCP" : "UDP", dns_reject_name(why));
}

/* Retry over TCP after a truncated UDP answer, within the same deadline. */
static void resolve_start_tcp(struct probe *p)
{
    struct resolve_state *ks = p->kstate;
    int fd, err;
    char detail[128];

    probe_close_socket(p); /* the UDP socket; TCP takes its place */
    ks->tcp = true;
    ks->out_sent = 0;
    ks->in = (struct dns_tcp_frame){0};
    /* same remote (p->addr), same absolute deadline: the engine's timer is
     * still armed for the attempt's start + timeout */
    err = sock_open_connect(p, SOCK_STREAM, &fd, detail, sizeof(detail));
    if (err != 0 && err != EINPROGRESS) {
        probe_complete_errno(p, PHASE_RESOLVE, err,
                             detail[0] ? detail
                                       : "TCP retry after a truncated answer: cannot connect");
        return;
    }
    if (probe_watch(p, fd, EV_WRITE, resolve_tcp_write) < 0)
        probe_complete_errno(p, PHASE_RESOLVE, errno, "cannot watch socket");
}

/* A message that arrived whole (UDP datagram or TCP frame). Returns true
 * when it ended the attempt. */
static bool resolve_handle(struct probe *p, const uint8_t *msg, size_t len)
{
    struct resolve_state *ks = p->kstate;
    struct dns_answer a;
    enum dns_reject why;

    why = dns_parse_response(&ks->q, msg, len, (const char *)p->t->expect, &a);
    if (why != DNS_REJECT_NONE) {
        resolve_ignore(p, why, len);
        return false;
    }
    if (a.tc && !ks->tcp) {
        resolve_start_tcp(p);
        return true;
    }
    if (a.cut) {
        /* over TCP a message must come whole: a cut one is no answer */
        resolve_ignore(p, DNS_REJECT_UNPARSABLE, len);
        return false;
    }
    resolve_finish(p, &a);
    return true;
}

static void resolve_udp_read(struct probe *p, short what)
{
    (void)what;
    for (int i = 0; i < RESOLVE_BURST; i++) {
        ssize_t n = recv(p->fd, resolve_dgram, sizeof(resolve_dgram), MSG_DONTWAIT);

        if (n < 0) {
            int err = errno;

            if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR)
                return;
            /* An ICMP error about our query. Port unreachable comes back as
             * ECONNREFUSED on the connected socket: nothing serves DNS at
             * that address and port. We report it as such (WSAECONNREFUSED
             * 10061, raw ECONNREFUSED) rather than waiting for the timeout
             * a retransmitting stub resolver would end in: the cause is
             * known and precise, and it feeds the connection-refused alert
             * where an operator looks for "the service is down". */
            probe_complete_errno(p, PHASE_RESOLVE, err,
                                 err == ECONNREFUSED ? "no DNS server on that port" : NULL);
            return;
        }
        if (resolve_handle(p, resolve_dgram, (size_t)n))
            return;
    }
}

static void resolve_tcp_read(struct probe *p, short what)
{
    struct resolve_state *ks = p->kstate;

    (void)what;
    /* bounded like the UDP side: a peer streaming frames that are not ours
     * gets the loop back after a burst, and the deadline still fires */
    for (int i = 0; i < RESOLVE_BURST; i++) {
        size_t len = 0;

        switch (dns_tcp_recv(p->fd, &ks->in, ks->buf, &len)) {
        case DNS_TCP_AGAIN:
            return;
        case DNS_TCP_ERROR:
            probe_complete_errno(p, PHASE_RESOLVE, errno, "TCP retry after a truncated answer");
            return;
        case DNS_TCP_CLOSED:
            probe_complete_dns(p, DNS_MALFORMED, -1,
                               "TCP retry after a truncated answer: the server closed the "
                               "connection without an answer");
            return;
        case DNS_TCP_PARTIAL:
            break;
        case DNS_TCP_EMPTY: /* not an answer */
            resolve_ignore(p, DNS_REJECT_UNPARSABLE, 0);
            break;
        case DNS_TCP_LENGTH:
            if (ks->in.need > ks->cap) {
                size_t cap = ks->in.need > RESOLVE_TCP_INITIAL ? ks->in.need : RESOLVE_TCP_INITIAL;
                struct resolve_state *grown = realloc(ks, sizeof(*ks) + cap);
                if (grown == NULL) {
                    probe_complete_errno(p, PHASE_RESOLVE, ENOMEM, NULL);
                    return;
                }
                p->kstate = ks = grown;
                ks->cap = cap;
            }
            break;
        case DNS_TCP_MESSAGE: /* the frame is ready for another if this one is not ours */
            if (resolve_handle(p, ks->buf, len))
                return;
            break;
        }
    }
}

static void resolve_tcp_write(struct probe *p, short what)
{
    struct resolve_state *ks = p->kstate;

    (void)what;
    if (ks->out_sent == 0) {
        int err = sock_connect_result(p->fd);
        if (err == EINPROGRESS)
            return;
        if (err != 0) {
            probe_complete_errno(p, PHASE_RESOLVE, err,
                                 "TCP retry after a truncated answer: cannot connect");
            return;
        }
    }
    switch (dns_tcp_send(p->fd, &ks->q, &ks->out_sent)) {
    case 0:
        return; /* EV_WRITE again */
    case -1:
        probe_complete_errno(p, PHASE_RESOLVE, errno, "TCP retry after a truncated answer");
        return;
    default:
        break;
    }
    if (probe_watch(p, p->fd, EV_READ, resolve_tcp_read) < 0)
        probe_complete_errno(p, PHASE_RESOLVE, errno, "cannot watch socket");
}

/* The stub resolver's answer (through probe_lookup): the addresses, or
 * what went wrong, as the kinds that connect report it. */
static void resolve_looked_up(struct probe *p, const struct resolv_result *res)
{
    const struct target *t = p->t;
    char detail[sizeof(((struct result *)0)->detail)], list[DNS_TEXT_MAX];
    unsigned n = 0;
    bool found, cut = false;

    if (res->status != RESOLV_OK || res->naddrs == 0) {
        probe_complete_lookup_error(p, res, t->qtype == DNS_TYPE_AAAA ? AF_INET6 : AF_INET);
        return;
    }
    if (res->server_len > 0)
        probe_set_remote(p, &res->server.sa);
    list[0] = '\0';
    found = t->expect == NULL;
    for (size_t i = 0; i < res->naddrs; i++) {
        const union nd_sockaddr *sa = &res->addrs[i];
        int af = sa->sa.sa_family;
        const void *addr =
            af == AF_INET6 ? (const void *)&sa->sin6.sin6_addr : (const void *)&sa->sin.sin_addr;
        char text[INET6_ADDRSTRLEN + 8];
        size_t used = strlen(list);

        n++;
        if (!found && dns_expect_match_addr((const char *)t->expect, af, addr))
            found = true;
        if (inet_ntop(af, addr, text, sizeof(text)) == NULL)
            continue;
        /* keep room for a closing ", ..." */
        if (!cut && used + 2 + strlen(text) + 6 < sizeof(list)) {
            snprintf(list + used, sizeof(list) - used, "%s%s", used > 0 ? ", " : "", text);
        } else if (!cut) {
            util_strlcpy(list + used, ", ...", sizeof(list) - used);
            cut = true;
        }
    }
    if (!found) {
        util_snprintf_cut(detail, sizeof(detail), "expected %s, got ", (const char *)t->expect);
        resolve_append_list(detail, sizeof(detail), list);
        probe_complete_mismatch(p, detail);
    } else {
        util_snprintf_cut(detail, sizeof(detail),
                          "system resolver%s, %u address%s: ", res->tcp ? " (TCP after TC)" : "", n,
                          n == 1 ? "" : "es");
        resolve_append_list(detail, sizeof(detail), list);
        probe_complete_ok(p, detail);
    }
}

/* server = system, A/AAAA: what an application on this host would get,
 * /etc/hosts included, through the engine's stub resolver. */
static void resolve_system(struct probe *p)
{
    probe_lookup(p, p->t->qname, p->t->qtype == DNS_TYPE_AAAA ? AF_INET6 : AF_INET,
                 resolve_looked_up);
}

static void resolve_start(struct probe *p)
{
    struct resolve_state *ks = resolve_state(p);
    const struct target *t = p->t;
    const struct sockaddr *server;
    int fd, err;
    char detail[128];

    p->phase = PHASE_RESOLVE;
    if (ks == NULL) {
        probe_complete_errno(p, PHASE_RESOLVE, ENOMEM, NULL);
        return;
    }
    if (!ks->query_ok) {
        probe_complete_errno(p, PHASE_RESOLVE, EINVAL, ks->query_err);
        return;
    }
    if (t->server_system && (t->qtype == DNS_TYPE_A || t->qtype == DNS_TYPE_AAAA)) {
        resolve_system(p);
        return;
    }
    if (t->server_system) {
        /* the stub resolver asks only for addresses; other types go
         * straight to the first nameserver of its resolv.conf */
        resolv_conf_first_ns(resolv_get_conf(probe_resolv(p)), &ks->sys_server,
                             &ks->sys_server_len);
        server = &ks->sys_server.sa;
    } else {
        server = &t->server.sa;
    }
    probe_set_remote(p, server);
    dns_query_new_id(&ks->q);

    if (p->fd >= 0) {
        /* the socket kept from the last answer, still connected to the
         * same server and watched: only the query goes out */
        probe_set_local(p, &ks->local);
        if (send(p->fd, ks->q.wire, ks->q.wire_len, MSG_NOSIGNAL) >= 0)
            return;
        probe_close_socket(p); /* an error left on it: start afresh */
    }
    ks->local_len = 0;
    err = sock_open_connect(p, SOCK_DGRAM, &fd, detail, sizeof(detail));
    if (err != 0) {
        probe_complete_errno(p, PHASE_RESOLVE, err, detail[0] ? detail : NULL);
        return;
    }
    if (send(fd, ks->q.wire, ks->q.wire_len, MSG_NOSIGNAL) < 0) {
        probe_complete_errno(p, PHASE_RESOLVE, errno, "sending the query");
        return;
    }
    if (probe_watch(p, fd, EV_READ, resolve_udp_read) < 0)
        probe_complete_errno(p, PHASE_RESOLVE, errno, "cannot watch socket");
}

/* For the timeout's detail: packets that came but were not our answer. */
static bool resolve_describe(struct probe *p, char *buf, size_t len)
{
    const struct resolve_state *ks = p->kstate;

    if (ks != NULL && ks->ignored > 0)
        snprintf(buf, len, "%u packet%s ignored (last: %s)", ks->ignored,
                 ks->ignored == 1 ? "" : "s", dns_reject_name(ks->last_reject));
    return false; /* packets that were not our answer are no part of one */
}

const struct probe_ops probe_resolve_ops = {
    .kind = KIND_RESOLVE,
    .name = "resolve",
    .needs_address = false,
    .start = resolve_start,
    .abort = NULL, /* the engine cancels a system look-up and closes p->fd */
    .describe = resolve_describe,
};
