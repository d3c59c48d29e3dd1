/* SPDX-License-Identifier: ISC */
/* The Windows Sockets code table and the mappings from Linux errno,
 * getaddrinfo EAI_* and DNS outcomes onto it (owned by wsa.c). */
#ifndef NETDIAG_WSA_H
#define NETDIAG_WSA_H

#include <stdbool.h>
#include <stddef.h>

/* Codes referred to by name in the rest of the code. */
#define WSA_OK                0
#define WSAEINTR              10004
#define WSAEACCES             10013
#define WSAEINVAL             10022
#define WSAEMFILE             10024
#define WSAEMSGSIZE           10040
#define WSAEAFNOSUPPORT       10047
#define WSAEADDRINUSE         10048
#define WSAEADDRNOTAVAIL      10049
#define WSAENETDOWN           10050
#define WSAENETUNREACH        10051
#define WSAECONNABORTED       10053
#define WSAECONNRESET         10054
#define WSAENOBUFS            10055
#define WSAETIMEDOUT          10060
#define WSAECONNREFUSED       10061
#define WSAEHOSTUNREACH       10065
#define WSAEDISCON            10101
#define WSAHOST_NOT_FOUND     11001
#define WSATRY_AGAIN          11002
#define WSANO_RECOVERY        11003
#define WSANO_DATA            11004
#define WSA_OPERATION_ABORTED 995
#define WSASYSCALLFAILURE     10107

struct wsa_code {
    int code;                /* Windows value, e.g. 10061 */
    const char *name;        /* "WSAECONNREFUSED" */
    const char *meaning;     /* standard short message, "Connection refused." */
    const char *explanation; /* our own words, for a Linux operator */
    bool os_dependent;       /* one of the 10 "OS dependent" codes */
};

/* All 53 codes, in the order of the source table. */
extern const struct wsa_code wsa_table[];
extern const size_t wsa_table_len;

/* Look-ups; NULL when unknown. wsa_by_name() ignores case and accepts the
 * name with or without its "WSA" prefix ("econnrefused", "WSAECONNREFUSED",
 * "host_not_found"). */
const struct wsa_code *wsa_by_code(int code);
const struct wsa_code *wsa_by_name(const char *name);

/* Outcomes of a DNS exchange, as seen by a resolve probe. */
enum dns_outcome {
    DNS_OK,        /* NOERROR with at least one answer of the asked type */
    DNS_NXDOMAIN,  /* rcode 3 */
    DNS_SERVFAIL,  /* rcode 2 */
    DNS_REFUSED,   /* rcode 5 */
    DNS_FORMERR,   /* rcode 1 */
    DNS_NOTIMP,    /* rcode 4 */
    DNS_NODATA,    /* NOERROR, no answer of the asked type */
    DNS_TIMEOUT,   /* no answer in time */
    DNS_CANCELLED, /* the request was cancelled (shutdown, reload) */
    DNS_MALFORMED, /* an answer that could not be parsed or did not match */
    DNS_OTHER,     /* any other rcode (YXDOMAIN, NOTAUTH, ...) */
};

/* Mappings. Anything unmapped is WSASYSCALLFAILURE, never 0; the caller
 * keeps the raw value beside the code. */
int wsa_from_errno(int err);
int wsa_from_eai(int eai); /* EAI_* and libevent's EVUTIL_EAI_CANCEL */
int wsa_from_dns(enum dns_outcome outcome);

/* Names of raw values: "ECONNREFUSED", "EAI_NONAME", "NXDOMAIN". NULL when
 * the value has no name we know. */
const char *wsa_errno_name(int err);
const char *wsa_eai_name(int eai);
const char *wsa_dns_outcome_name(enum dns_outcome outcome);

/* An answer that did not hold `expect` (phase verify): raw MISMATCH for
 * a DNS answer (resolve), REPLY_MISMATCH for a peer's reply (send); see
 * wsa.c for the codes and why. */
#define WSA_RAW_MISMATCH       "MISMATCH"
#define WSA_RAW_REPLY_MISMATCH "REPLY_MISMATCH"
int wsa_from_mismatch(bool dns_answer);
const char *wsa_mismatch_name(bool dns_answer);

/* The raw names a result carries, as stored: the errno's name (also for
 * errnos without a mapping, "ENOENT"), else "errno 123"; the EAI name,
 * else "EAI -42"; the DNS outcome's name. buf holds at least 24 bytes. */
const char *wsa_raw_errno(int err, char *buf, size_t len);
const char *wsa_raw_eai(int eai, char *buf, size_t len);
const char *wsa_raw_dns(enum dns_outcome outcome);

/* The code of any raw name a result can carry (every form above, and
 * MISMATCH / REPLY_MISMATCH), case-insensitive, with a few words on what
 * it is in `how`; -1 when the name is none of them. */
int wsa_raw_lookup(const char *raw, char *how, size_t howlen);

/* Reverse look-ups for `netdiag explain`; case-insensitive. Return false
 * when the name is unknown. */
bool wsa_errno_from_name(const char *name, int *err);
bool wsa_eai_from_name(const char *name, int *eai);

/* The raw values that map onto `code`, for `netdiag explain`: fills up to
 * `max` entries and returns how many exist. */
size_t wsa_errnos_for(int code, int *out, size_t max);
size_t wsa_eais_for(int code, int *out, size_t max);
size_t wsa_dns_for(int code, enum dns_outcome *out, size_t max);

#endif
