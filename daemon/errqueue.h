/* SPDX-License-Identifier: ISC */
/* A socket's error queue (IP_RECVERR / IPV6_RECVERR): turning it on, and
 * reading one queued error at a time with who sent it (owned by
 * errqueue.c; the ping pool, the probes and the path tracer read it). */
#ifndef NETDIAG_ERRQUEUE_H
#define NETDIAG_ERRQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* One queued error. origin is SO_EE_ORIGIN_NONE (0) when the read found
 * no extended error beside the datagram (then only quoted and dest are
 * filled). */
struct errq_msg {
    int err;            /* ee_errno */
    uint8_t origin;     /* SO_EE_ORIGIN_LOCAL/ICMP/ICMP6 */
    uint8_t type, code; /* ICMP type and code (origin ICMP/ICMP6) */
    uint32_t info;      /* ee_info (e.g. the MTU) */
    bool has_offender;  /* offender holds the sender of the ICMP */
    union nd_sockaddr offender;
    union nd_sockaddr dest;   /* msg_name: where the offending datagram went */
    unsigned char quoted[64]; /* start of the offending datagram's payload */
    size_t quoted_len;
};

/* Ask the kernel to queue the errors of fd, a socket of family af
 * (AF_INET: IP_RECVERR; AF_INET6: IPV6_RECVERR, which also covers the
 * IPv4-mapped traffic of a dual-stack socket). Set it before connect() or
 * the first send. 0, or -1 with errno. */
int errq_enable(int fd, int af);

/* Read one queued error of fd into *m: 1 one read, 0 none queued, -1
 * with errno (another failure of recvmsg). Never blocks. Reading clears
 * the socket's pending error (SO_ERROR) when the queue empties: read
 * SO_ERROR first where it matters. */
int errq_read(int fd, struct errq_msg *m);

#endif
