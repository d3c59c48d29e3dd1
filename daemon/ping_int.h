/* SPDX-License-Identifier: ISC */
/* What probe_ping.c and ping_pool.c share: the sockets every ping target
 * of an engine uses, their sequence numbers, and a ping target's state
 * (ping_pool.c owns the sockets and the reading, probe_ping.c the attempt
 * and the sending). */
#ifndef NETDIAG_PING_INT_H
#define NETDIAG_PING_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <event2/util.h>

#include "probe.h"
#include "util.h"

#define PING_SOCKS_MAX 32 /* per family: each holds 65536 echoes in flight */
/* Reads: recvmmsg() batches of PING_BATCH; the first PING_RX_LEN bytes
 * of a reply are all it needs. */
#define PING_BATCH   32
#define PING_RX_LEN  2048
#define PING_CTL_LEN 256

struct ping_pool;
struct ping_state;

/* Which attempt owns a sequence number: a handle (index + 1 into the
 * pool's owners; 0: never used) and that attempt's serial. A slot stays
 * as it is after its attempt ends, so that a late reply is still known
 * for whose it is, until the ring needs the slot again. */
struct ping_slot {
    uint32_t owner;
    uint32_t serial;
};

struct ping_sock {
    struct ping_pool *pool;
    struct event *ev;
    struct ping_slot *ring;
    uint32_t cap, cursor;
    uint32_t drops; /* SO_RXQ_OVFL: replies the kernel dropped, so far */
    int fd, af;
    bool raw;
    uint16_t id;  /* raw: the identifier we send; datagram: the kernel's */
    uint16_t idx; /* place in its family's socks[] */
};

struct ping_family {
    struct ping_sock *socks[PING_SOCKS_MAX];
    size_t nsocks, cur;
    int err; /* the last socket() refusal, until retry_us */
    int64_t retry_us;
    char why[192]; /* what that refusal means, for the detail */
};

/* Targets of one spacing wait for their next echo in one list: each is
 * appended at its last echo + spacing, so the list stays in time order
 * and the next due is always its head. */
struct ping_queue {
    int64_t spacing_us;
    struct ping_attempt *head, *tail;
};

struct ping_pool {
    struct ping_pool *next; /* the pools of every engine */
    const struct engine *eng;
    struct event_base *base;
    size_t refs; /* ping targets with state */
    uint64_t secret;
    uint32_t serial; /* of the last attempt started */
    struct ping_family fam[2];
    struct probe **owners;
    uint32_t nowners, owners_cap;
    uint32_t *free_h;
    uint32_t nfree;
    struct ping_queue **queues;
    size_t nqueues;
    struct event *ev_send;
    int64_t send_at_us; /* when ev_send fires; INT64_MAX: not armed */
    unsigned char *tx;
    size_t txcap;
    uint64_t stray; /* replies and errors of no attempt we know */
    /* the figures of the attempt ending now, for its result (the engine
     * asks for them inside the completion: ping_finish()) */
    struct {
        const struct ping_state *ps;
        uint16_t sent, recv;
        int32_t min_us, med_us, max_us;
    } report;
    int64_t drop_log_us;
    /* one recvmmsg() batch */
    struct mmsghdr msgs[PING_BATCH];
    struct iovec iov[PING_BATCH];
    struct sockaddr_in6 from[PING_BATCH];
    unsigned char ctl[PING_BATCH][PING_CTL_LEN];
    unsigned char rx[PING_BATCH][PING_RX_LEN];
};

enum echo_state {
    ECHO_UNSENT,
    ECHO_WAIT,
    ECHO_REPLY,
    ECHO_ERROR,
};

struct ping_echo {
    int64_t sent_us; /* CLOCK_MONOTONIC just before sendto() */
    int32_t rtt_us;
    uint16_t seq;
    uint8_t sock; /* index of the socket in its family */
    uint8_t state;
};

/* One attempt of a ping target, allocated at its start and freed at its
 * end: about 120 bytes and 16 per echo, for the attempts in flight only. */
struct ping_attempt {
    struct ping_state *ps;
    struct probe *p;
    struct ping_pool *pool;
    struct ping_attempt *qprev, *qnext;
    struct ping_queue *q; /* the queue it waits in for its next echo; NULL */
    int64_t next_us;      /* when its next echo is due */
    uint16_t count, nsent, nwait, nrecv, nerr, ndup, nforeign;
    bool err_icmp;
    uint8_t err_type, err_code;
    int err;                    /* the first error of the attempt, 0: none */
    union nd_sockaddr err_from; /* who sent that ICMP error */
    union nd_sockaddr local;    /* our address, from the first reply */
    struct ping_echo echo[];
};

/* A ping target's state (its probe's kstate), made at its first attempt
 * and kept while the target is configured: only what must outlive an
 * attempt, in 24 bytes (every one counts at 100,000 targets). */
struct ping_state {
    struct ping_attempt *att; /* the attempt running (its slots are taken); NULL */
    uint32_t handle;          /* in pool->owners */
    uint32_t serial;          /* of its last attempt */
    uint32_t first_serial;    /* of its first: older slots are another's */
    uint16_t nlate;           /* replies after their attempt ended, not yet told */
};

static inline int ping_family_index(int af)
{
    return af == AF_INET6 ? 1 : 0;
}

/* ping_pool.c */
/* The pool of p's engine, made at its first ping target's first attempt;
 * NULL when out of memory. */
struct ping_pool *ping_pool_get(struct probe *p);
/* When its last ping target goes (refs 0): closes every socket. */
void ping_pool_free(struct ping_pool *pool);
/* A handle for p, the owner of its echoes' sequence numbers. */
int ping_pool_handle(struct ping_pool *pool, struct probe *p, uint32_t *h);
/* The family has a socket: 0, or the errno of its refusal (what it
 * means in pool->fam[].why). */
int ping_pool_family_ready(struct ping_pool *pool, int af);
/* A socket and a sequence number for the attempt's next echo: 0, or the
 * errno. */
int ping_pool_echo_slot(struct ping_attempt *a, struct ping_sock **sp, uint16_t *seq);
/* An ICMP socket of family af, datagram or else raw; -1 with errno
 * (EACCES: both refused). */
int ping_pool_socket(int af, bool *raw);
/* What a refusal of both sockets means, with the sysctl's value. */
void ping_pool_why_refused(char *buf, size_t len);

/* probe_ping.c */
/* An echo of the attempt answered by an error (ICMP: its type and code,
 * and who sent it) or refused locally; the attempt keeps the first. */
void probe_ping_echo_error(struct ping_attempt *a, int err, bool icmp, uint8_t type, uint8_t code,
                           const struct sockaddr *from);
/* End the attempt when every echo is sent and none is awaited (a is
 * freed then). */
void probe_ping_maybe_done(struct ping_attempt *a);
/* The pool's timer: send the echoes that are due. */
void probe_ping_send_cb(evutil_socket_t fd, short what, void *arg);

#endif
