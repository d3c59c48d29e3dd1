/* SPDX-License-Identifier: ISC */
/* The DNS wire format of resolve probes: building a query and deciding
 * whether a response answers it (owned by dns.c; ldns, no libevent, so it
 * can be unit-tested and fuzzed). */
#ifndef NETDIAG_DNS_H
#define NETDIAG_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "wsa.h"

#define DNS_PORT          53
#define DNS_NAME_WIRE_MAX 255 /* RFC 1035 3.1 */
/* header + name + type + class; no EDNS, so answers stay within 512 bytes
 * on UDP and a large answer comes back truncated (TC) and is retried over
 * TCP, as a stub resolver does. */
#define DNS_QUERY_MAX (12 + DNS_NAME_WIRE_MAX + 4)
#define DNS_MSG_MAX   65535 /* the largest message TCP's length prefix allows */
#define DNS_TEXT_MAX  320   /* answers as text, for the result detail */
#define DNS_ADDRS_MAX 64    /* A/AAAA answers kept as addresses */

#define DNS_TYPE_A     1
#define DNS_TYPE_NS    2
#define DNS_TYPE_CNAME 5
#define DNS_TYPE_SOA   6
#define DNS_TYPE_PTR   12
#define DNS_TYPE_MX    15
#define DNS_TYPE_TXT   16
#define DNS_TYPE_AAAA  28
#define DNS_TYPE_ANY   255

/* A query, built once per target and re-used: each attempt only draws a
 * new ID (dns_query_new_id), so an attempt allocates nothing. */
struct dns_query {
    uint16_t id;
    uint16_t qtype;
    uint8_t qname[DNS_NAME_WIRE_MAX]; /* wire form, as sent */
    size_t qname_len;
    uint8_t wire[DNS_QUERY_MAX];
    size_t wire_len;
};

/* Build a query for `name` (absolute or not; "." is the root) and `qtype`,
 * class IN, RD set, with a fresh random ID. Returns 0, or -1 with a
 * message in err (a name ldns cannot encode). */
int dns_query_init(struct dns_query *q, const char *name, uint16_t qtype, char *err, size_t errlen);
/* Draw a new random ID (arc4random: getrandom(2)-backed, unpredictable, so
 * an off-path spoofer has to guess it) and patch it into the wire form. */
void dns_query_new_id(struct dns_query *q);

/* Why a packet was not accepted as the answer to our query. */
enum dns_reject {
    DNS_REJECT_NONE,         /* it is our answer */
    DNS_REJECT_UNPARSABLE,   /* ldns could not parse it (truncated, loop, counts) */
    DNS_REJECT_NOT_RESPONSE, /* QR clear, or an opcode other than QUERY */
    DNS_REJECT_WRONG_ID,
    DNS_REJECT_WRONG_QUESTION, /* question section is not exactly ours */
};
const char *dns_reject_name(enum dns_reject reject);

/* What an accepted response says. */
struct dns_answer {
    enum dns_outcome outcome; /* DNS_OK, DNS_NODATA, DNS_NXDOMAIN, ... */
    int rcode;                /* header rcode, 0..15 */
    bool tc;                  /* truncated: retry over TCP */
    bool cut;                 /* TC and cut inside a record: only the header
                               * and the question were read (outcome stays
                               * DNS_MALFORMED, rcode from the header) */
    unsigned ancount;         /* records in the answer section */
    unsigned nmatch;          /* of those, of the asked type at the end of the CNAME chain */
    unsigned nchain;          /* CNAMEs followed from the asked name */
    /* The matching answers as text, ", "-separated: "127.0.0.1",
     * "10 mail.example.", TXT strings unquoted; "..." ends a list that did
     * not fit. */
    char text[DNS_TEXT_MAX];
    /* The last name of the CNAME chain ("ok.test."), "" without one. */
    char chain_end[DNS_TEXT_MAX / 2];
    /* Whether `expect` (given to dns_parse_response) is in any matching
     * answer or chain name; see there. True when no expectation. */
    bool expect_found;
    /* The matching A (4 bytes) or AAAA (16 bytes) answers, in order, the
     * first DNS_ADDRS_MAX of them (the stub resolver's addresses). */
    unsigned naddrs;
    uint8_t addr_len; /* 4 or 16: the asked type's */
    uint8_t addrs[DNS_ADDRS_MAX][16];
};

/* Decide whether buf[0..len) answers `q` and summarise it. Accepted when it
 * parses, QR is set, the opcode is QUERY, the ID is ours and the question
 * section is exactly our question (name compared case-insensitively, type,
 * class IN) -- or empty with FORMERR/NOTIMP, the two rcodes with which a
 * server may fail to echo a question it could not handle (dnspython's
 * is_response() accepts the same). A packet with TC set whose records are
 * cut short is accepted on its header and question alone (tc and cut
 * set). Anything else is not ours: the caller ignores it and keeps
 * waiting.
 *
 * `expect` (NULL: none) is looked for in every matching answer and chain
 * name: an address literal is compared as an address against A/AAAA
 * answers (so 127.0.0.1 does not match 127.0.0.10); any other string is a
 * case-insensitive substring match ("mail.example" matches
 * "10 mail.example.").
 *
 * Safe on arbitrary bytes (the fuzz entry point): no globals, no output,
 * everything ldns allocates is freed; writes only *ans. */
enum dns_reject dns_parse_response(const struct dns_query *q, const uint8_t *buf, size_t len,
                                   const char *expect, struct dns_answer *ans);

/* Whether an address answer (af AF_INET/AF_INET6, 4/16 bytes at addr)
 * satisfies `expect`: equal addresses when expect is an address literal of
 * that family, else a case-insensitive substring of the address as text.
 * True when expect is NULL or empty. */
bool dns_expect_match_addr(const char *expect, int af, const void *addr);

/* Outcome of a NOERROR/other rcode and a match count (DNS_OK needs >= 1). */
enum dns_outcome dns_outcome_from_rcode(int rcode, unsigned nmatch);
/* "NOERROR", "FORMERR", ..., "RCODE12" for unnamed values (buf >= 16). */
const char *dns_rcode_name(int rcode, char *buf, size_t len);

/* DNS over TCP (RFC 1035 4.2.2): each message behind a 2-byte length, read
 * and written without blocking, a little at a time. */
struct dns_tcp_frame {
    uint8_t lenbuf[2]; /* the current frame's length prefix */
    size_t have;       /* bytes of the prefix, then of the message */
    size_t need;       /* the message's length from the prefix, 0: not known yet */
};
enum dns_tcp_read {
    DNS_TCP_AGAIN,   /* nothing to read now: wait for EV_READ */
    DNS_TCP_ERROR,   /* recv failed: errno */
    DNS_TCP_CLOSED,  /* the peer closed the connection */
    DNS_TCP_PARTIAL, /* some bytes came: call again */
    DNS_TCP_LENGTH,  /* the prefix came: buf must hold f->need bytes from now on */
    DNS_TCP_EMPTY,   /* a frame of length 0: no message */
    DNS_TCP_MESSAGE, /* buf[0..*len) is a whole message; f is ready for the next */
};
/* One recv(2) of at most the rest of the prefix or of the message (buf is
 * only written once the prefix is known, so it may be NULL before). */
enum dns_tcp_read dns_tcp_recv(int fd, struct dns_tcp_frame *f, uint8_t *buf, size_t *len);
/* Send q behind its length prefix, from byte *sent of the frame on (0 at
 * first). 1: all of it is sent; 0: the socket is full, call again on
 * EV_WRITE; -1: errno. */
int dns_tcp_send(int fd, const struct dns_query *q, size_t *sent);

#endif
