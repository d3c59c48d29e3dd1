/* SPDX-License-Identifier: ISC */
/* ICMP and ICMPv6 echo without sockets: building a request, reading a
 * reply or the request an ICMP error quotes, naming and classifying the
 * errors, and the figures and detail of a ping attempt (owned by icmp.c;
 * the sockets are probe_ping.c's). */
#ifndef NETDIAG_ICMP_H
#define NETDIAG_ICMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ICMP_HDR_LEN    8 /* type, code, checksum, identifier, sequence */
#define ICMP_COOKIE_LEN 8 /* the first payload bytes: which echo this is */
/* `size`, the payload bytes of one echo: room for the cookie, and what
 * one IPv4 datagram holds (65535 - 20 - 8). */
#define ICMP_SIZE_MIN 8
#define ICMP_SIZE_MAX 65507

/* One echo request or reply as read from the wire (id and seq in host
 * order); data points at the payload, len bytes of it were read. */
struct icmp_echo {
    uint8_t type, code;
    uint16_t id, seq;
    const unsigned char *data;
    size_t len;
};

uint16_t icmp_checksum(const void *buf, size_t len);

/* An echo request for family af (AF_INET, AF_INET6) into buf: the
 * header, the cookie, then `size` - ICMP_COOKIE_LEN bytes of a fixed
 * pattern. The IPv4 checksum is filled in (a raw socket sends it as it
 * is); IPv6 leaves it to the kernel, which must compute it over the
 * pseudo-header. Returns the length, or 0 when cap is too small. */
size_t icmp_echo_build(unsigned char *buf, size_t cap, int af, uint16_t id, uint16_t seq,
                       uint64_t cookie, size_t size);

/* What a received datagram is. */
enum icmp_read {
    ICMP_READ_REPLY, /* an echo reply: *out is filled */
    ICMP_READ_OTHER, /* another ICMP type: not ours to look at */
    ICMP_READ_BAD,   /* too short, a bad IPv4 header or a bad checksum */
};

/* A datagram from an ICMP socket: n bytes in buf of a packet of full_len
 * bytes (larger when the read was truncated; the checksum is checked
 * only on a whole packet). ip_header: an IPv4 raw socket, whose reads
 * begin with the IP header. */
enum icmp_read icmp_read_reply(int af, bool ip_header, const unsigned char *buf, size_t n,
                               size_t full_len, struct icmp_echo *out);

/* The echo request an ICMP error quotes (IP_RECVERR gives it from its
 * ICMP header on): false when it is not a request of family af. */
bool icmp_read_quoted(int af, const unsigned char *buf, size_t n, struct icmp_echo *out);

/* Which echo a request is, keyed by a secret of the prober: the attempt's
 * serial, the socket it went out on and its sequence number. */
uint64_t icmp_cookie(uint64_t secret, uint32_t serial, uint16_t sock, uint16_t seq);
/* 1: the payload starts with the cookie; 0: it does not; -1: too little
 * of the payload came to tell (an error quoting only 8 bytes). */
int icmp_cookie_match(const struct icmp_echo *e, uint64_t cookie);

/* The errno an ICMP error stands for, chosen by its own type and code
 * (the kernel's ee_errno says EHOSTUNREACH for "administratively
 * prohibited", which WSAEACCES says better): ENETUNREACH, EHOSTUNREACH,
 * EACCES, ECONNREFUSED, EMSGSIZE, ... 0: not an error about the echo
 * (a redirect, a source quench). */
int icmp_error_errno(int af, uint8_t type, uint8_t code);
/* "host unreachable", "administratively prohibited", "time exceeded",
 * or "type 3 code 99" written into buf. */
const char *icmp_error_text(int af, uint8_t type, uint8_t code, char *buf, size_t len);

/* Who refused, in words, for a result's detail: "host unreachable,
 * reported by 10.99.2.2 (ICMP 3/1)"; a prohibition (an errno of EACCES)
 * "administratively prohibited by 10.99.1.2 (ICMP 3/13)"; "(ICMPv6 1/0)"
 * for af AF_INET6; without a sender (from "") only the words and the
 * numbers. */
const char *icmp_error_origin(int af, uint8_t type, uint8_t code, const char *from, char *buf,
                              size_t len);

/* The figures of one attempt. */
struct icmp_figures {
    unsigned sent, received;     /* echoes sent, echoes answered by a reply */
    unsigned errors;             /* echoes answered by an ICMP error or refused locally */
    unsigned dup, late, foreign; /* replies that were no answer (see probe_ping.c) */
    int64_t min_us, med_us, max_us;
};

/* min, median (the mean of the two middle ones for an even count) and
 * max of n RTTs; sorts rtt. All 0 when n is 0. */
void icmp_rtt_figures(int32_t *rtt, size_t n, int64_t *min_us, int64_t *med_us, int64_t *max_us);

/* "5 sent, 4 received, 20% loss, rtt min/med/max 0.031/0.040/0.052 ms",
 * then ", 1 duplicate", ", 2 late", ", 1 foreign" where they happened. */
void icmp_format_figures(const struct icmp_figures *f, char *buf, size_t len);

#endif
