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

struct send_state {
    size_t sent;  /* payload bytes written (TCP) */
    size_t have;  /* bytes in buf */
    size_t total; /* bytes read in all */
    size_t cap;
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
    s->sent = s->have = s->total = 0;
    return s;
}

static void send_mismatch(struct probe *p, size_t total, const char *why)
{
    char detail[128];

    snprintf(detail, sizeof(detail), "%s after %zu bytes without the expected %zu bytes", why,
             total, p->t->expect_len);
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
    if (memmem(dgram, (size_t)n, t->expect, t->expect_len) != NULL)
        probe_complete_ok(p, "reply matched");
    else
        send_mismatch(p, (size_t)n, "datagram");
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
        send_mismatch(p, s->total, "peer closed");
        return;
    }
    s->have += (size_t)n;
    s->total += (size_t)n;
    if (memmem(s->buf, s->have, t->expect, t->expect_len) != NULL) {
        probe_complete_ok(p, "reply matched");
        return;
    }
    if (s->total >= SEND_MAX_READ) {
        send_mismatch(p, s->total, "read limit reached");
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
    bool udp = p->t->protocol == PROTO_UDP;

    if (send_state(p) == NULL) {
        probe_complete_errno(p, PHASE_SEND, ENOMEM, NULL);
        return;
    }
    p->phase = PHASE_CONNECT;
    err = sock_open_connect(p, udp ? SOCK_DGRAM : SOCK_STREAM, &fd);
    if (err != 0 && err != EINPROGRESS) {
        probe_complete_errno(p, PHASE_CONNECT, err, NULL);
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

const struct probe_ops probe_send_ops = {
    .kind = KIND_SEND,
    .name = "send",
    .needs_address = true,
    .start = send_start,
    .abort = NULL,
};
