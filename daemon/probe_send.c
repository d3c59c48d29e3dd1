/* SPDX-License-Identifier: ISC */
/* The send probe: a payload over UDP or TCP, then optionally a reply that
 * must contain `expect`. UDP uses a connected socket so that an ICMP port
 * unreachable comes back as ECONNREFUSED on the next socket call. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "probe.h"
#include "sock.h"
#include "util.h"

/* Bytes read per TCP reply kept for matching, beyond expect_len. */
#define SEND_RBUF 4096
/* Most bytes read from a TCP peer before giving up on `expect`. */
#define SEND_MAX_READ (1 << 20)
/* A UDP send without `expect` waits this long (at most half the timeout)
 * for an ICMP error before calling the send a success. */
#define SEND_UDP_GRACE_MS 1000
/* The first bytes of a reply, shown (escaped) in a failure's detail. */
#define SEND_SHOW 40

struct send_state {
    size_t sent;  /* payload bytes written (TCP) */
    size_t have;  /* bytes in buf */
    size_t total; /* bytes read in all */
    size_t cap;
    size_t nfirst; /* bytes in first */
    unsigned char first[SEND_SHOW];
    unsigned char buf[];
};

static struct send_state *send_state(struct probe *p)
{
    struct send_state *s = p->kstate;

    if (s == NULL) {
        size_t cap = p->t->expect_len + SEND_RBUF;
        s = malloc(sizeof(*s) + cap);
        if (s == NULL)
            return NULL;
        s->cap = cap;
        p->kstate = s;
    }
    s->sent = s->have = s->total = s->nfirst = 0;
    return s;
}

/* What arrived, for the detail: `"HTTP/1.0 500 Internal..."`, quotes and
 * backslashes escaped, \r \n \t named, other bytes that are not printable
 * ASCII as \xNN (safe in a log line, a terminal and JSON); "..." when
 * more came than is shown. */
static void send_show(const unsigned char *b, size_t n, size_t total, char *out, size_t outlen)
{
    size_t o = 0, i;

    out[o++] = '"';
    for (i = 0; i < n; i++) {
        char e[8];
        unsigned char c = b[i];

        if (c == '"' || c == '\\')
            snprintf(e, sizeof(e), "\\%c", c);
        else if (c == '\n')
            snprintf(e, sizeof(e), "\\n");
        else if (c == '\r')
            snprintf(e, sizeof(e), "\\r");
        else if (c == '\t')
            snprintf(e, sizeof(e), "\\t");
        else if (c >= 0x20 && c < 0x7f)
            snprintf(e, sizeof(e), "%c", c);
        else
            snprintf(e, sizeof(e), "\\x%02x", c);
        if (o + strlen(e) + 5 > outlen)
            break; /* room for ...", the quote and the NUL */
        memcpy(out + o, e, strlen(e));
        o += strlen(e);
    }
    if (i < n || n < total) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o++] = '"';
    out[o] = '\0';
}

/* Keep the first bytes of a TCP reply for the detail. */
static void send_keep_first(struct send_state *s, const unsigned char *b, size_t n)
{
    size_t room = sizeof(s->first) - s->nfirst;

    if (room > 0) {
        size_t k = n < room ? n : room;
        memcpy(s->first + s->nfirst, b, k);
        s->nfirst += k;
    }
}

/* A reply that does not hold `expect`: phase verify, REPLY_MISMATCH, and
 * what came. `what` is e.g. "peer closed after 14 bytes". */
static void send_mismatch(struct probe *p, const char *lead, const unsigned char *b, size_t n,
                          size_t total)
{
    /* the lead is at most ~40 bytes: the whole fits the result's 192 */
    char detail[256], got[110];

    send_show(b, n, total, got, sizeof(got));
    snprintf(detail, sizeof(detail), "%s without the expected %zu bytes; got %s", lead,
             p->t->expect_len, got);
    probe_complete_mismatch(p, detail);
}

static void send_udp_read(struct probe *p, short what)
{
    static unsigned char dgram[65536];
    const struct target *t = p->t;
    ssize_t n;

    (void)what;
    n = recv(p->fd, dgram, sizeof(dgram), MSG_DONTWAIT);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return;
        /* an ICMP error about the datagram we sent */
        probe_complete_errno(p, PHASE_SEND, errno, NULL);
        return;
    }
    if (t->expect == NULL) {
        probe_complete_ok(p, "sent, reply received");
        return;
    }
    if (memmem(dgram, (size_t)n, t->expect, t->expect_len) != NULL) {
        probe_complete_ok(p, "reply matched");
    } else {
        char lead[64];
        snprintf(lead, sizeof(lead), "a datagram of %zd bytes", n);
        send_mismatch(p, lead, dgram, (size_t)n < SEND_SHOW ? (size_t)n : SEND_SHOW, (size_t)n);
    }
}

static void send_udp(struct probe *p)
{
    const struct target *t = p->t;
    ssize_t n;

    p->phase = PHASE_SEND;
    n = send(p->fd, t->payload, t->payload_len, MSG_NOSIGNAL);
    if (n < 0) {
        probe_complete_errno(p, PHASE_SEND, errno, NULL);
        return;
    }
    if (t->expect != NULL) {
        p->phase = PHASE_RECV;
    } else {
        int64_t grace =
            t->timeout_ms / 2 < SEND_UDP_GRACE_MS ? t->timeout_ms / 2 : SEND_UDP_GRACE_MS;
        p->ok_on_deadline = true;
        probe_shorten_deadline(p, p->start_us + grace * 1000);
    }
    if (probe_watch(p, p->fd, EV_READ, send_udp_read) < 0)
        probe_complete_errno(p, p->phase, errno, "cannot watch socket");
}

static void send_tcp_read(struct probe *p, short what)
{
    struct send_state *s = p->kstate;
    const struct target *t = p->t;
    ssize_t n;

    (void)what;
    n = recv(p->fd, s->buf + s->have, s->cap - s->have, MSG_DONTWAIT);
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR)
            probe_complete_errno(p, PHASE_RECV, errno, NULL);
        return;
    }
    if (n == 0) {
        char lead[64];
        snprintf(lead, sizeof(lead), "peer closed after %zu bytes", s->total);
        send_mismatch(p, lead, s->first, s->nfirst, s->total);
        return;
    }
    send_keep_first(s, s->buf + s->have, (size_t)n);
    s->have += (size_t)n;
    s->total += (size_t)n;
    if (memmem(s->buf, s->have, t->expect, t->expect_len) != NULL) {
        probe_complete_ok(p, "reply matched");
        return;
    }
    if (s->total >= SEND_MAX_READ) {
        char lead[64];
        snprintf(lead, sizeof(lead), "read limit reached after %zu bytes", s->total);
        send_mismatch(p, lead, s->first, s->nfirst, s->total);
        return;
    }
    /* keep the tail that could begin a match split across reads */
    if (s->have >= t->expect_len) {
        size_t keep = t->expect_len - 1;
        memmove(s->buf, s->buf + s->have - keep, keep);
        s->have = keep;
    }
}

static void send_tcp_write(struct probe *p, short what)
{
    struct send_state *s = p->kstate;
    const struct target *t = p->t;

    (void)what;
    if (p->phase == PHASE_CONNECT) {
        int err = sock_connect_result(p->fd);
        if (err == EINPROGRESS)
            return;
        if (err == ECONNRESET || err == EPIPE) {
            /* Linux files a RST as ECONNREFUSED while the handshake is in
             * flight (SYN_SENT) and as ECONNRESET (EPIPE in CLOSE_WAIT)
             * only once it has completed: the peer accepted, then reset
             * before this callback could send. That is the send phase;
             * under load the RST often beats the loop to this socket. */
            probe_complete_errno(p, PHASE_SEND, err,
                                 "reset by the peer before the payload went out");
            return;
        }
        if (err != 0) {
            probe_complete_errno(p, PHASE_CONNECT, err, NULL);
            return;
        }
        p->phase = PHASE_SEND;
    }
    while (s->sent < t->payload_len) {
        ssize_t n = send(p->fd, t->payload + s->sent, t->payload_len - s->sent,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return; /* wait for EV_WRITE again */
            probe_complete_errno(p, PHASE_SEND, errno, NULL);
            return;
        }
        s->sent += (size_t)n;
    }
    if (t->expect == NULL) {
        char detail[64];
        snprintf(detail, sizeof(detail), "sent %zu bytes", s->sent);
        probe_complete_ok(p, detail);
        return;
    }
    p->phase = PHASE_RECV;
    if (probe_watch(p, p->fd, EV_READ, send_tcp_read) < 0)
        probe_complete_errno(p, PHASE_RECV, errno, "cannot watch socket");
}

static void send_start(struct probe *p)
{
    int fd, err;
    char detail[128];
    bool udp = p->t->protocol == PROTO_UDP;

    if (send_state(p) == NULL) {
        probe_complete_errno(p, PHASE_SEND, ENOMEM, NULL);
        return;
    }
    p->phase = PHASE_CONNECT;
    err = sock_open_connect(p, udp ? SOCK_DGRAM : SOCK_STREAM, &fd, detail, sizeof(detail));
    if (err != 0 && err != EINPROGRESS) {
        probe_complete_errno(p, PHASE_CONNECT, err, detail[0] ? detail : NULL);
        return;
    }
    if (udp) {
        send_udp(p);
        return;
    }
    if (err == 0)
        p->phase = PHASE_SEND;
    if (probe_watch(p, fd, EV_WRITE, send_tcp_write) < 0)
        probe_complete_errno(p, p->phase, errno, "cannot watch socket");
}

/* For the timeout's detail: how far the exchange got. A peer that
 * trickled bytes and went quiet is not "no answer". */
static bool send_describe(struct probe *p, char *buf, size_t len)
{
    const struct send_state *s = p->kstate;
    char got[100];

    if (s == NULL)
        return false;
    if (p->phase == PHASE_SEND && p->t->protocol == PROTO_TCP) {
        snprintf(buf, len, "sent %zu of %zu bytes", s->sent, p->t->payload_len);
        return false;
    }
    if (p->phase != PHASE_RECV || s->total == 0 || p->t->protocol != PROTO_TCP)
        return false;
    send_show(s->first, s->nfirst, s->total, got, sizeof(got));
    snprintf(buf, len, "%zu byte%s arrived without the expected %zu; got %s", s->total,
             s->total == 1 ? "" : "s", p->t->expect_len, got);
    return true;
}

const struct probe_ops probe_send_ops = {
    .kind = KIND_SEND,
    .name = "send",
    .needs_address = true,
    .start = send_start,
    .abort = NULL,
    .describe = send_describe,
};
