/* SPDX-License-Identifier: ISC */
/* The stub resolver of connect and send targets and of `server = system`
 * (owned by resolv.c): the hosts file, then A and AAAA questions to the
 * nameservers of resolv.conf over UDP, TCP after a truncated answer, on
 * the engine's loop, with every outcome kept apart (NXDOMAIN, NODATA,
 * SERVFAIL, no answer, a nameserver that cannot be reached). */
#ifndef NETDIAG_RESOLV_H
#define NETDIAG_RESOLV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "util.h"
#include "wsa.h"

struct event_base;

#define RESOLV_CONF_PATH  "/etc/resolv.conf"
#define RESOLV_HOSTS_PATH "/etc/hosts"

#define RESOLV_MAXNS     3  /* glibc's MAXNS: further nameserver lines are ignored */
#define RESOLV_MAXSEARCH 6  /* glibc's MAXDNSRCH */
#define RESOLV_ADDR_MAX  64 /* addresses kept from one look-up */

/* What resolv.conf and the hosts file say, read once (at start and at each
 * reload), immutable afterwards. */
struct resolv_conf;

/* Read `resolv_path` and `hosts_path` as glibc does (see resolv.c for what
 * is honoured). A missing file is no error: no nameserver line means
 * 127.0.0.1, no hosts file no entries. `note` gets a few words on what was
 * skipped (a file too large, lines not understood), "" when nothing was.
 * Safe on any thread. NULL only when out of memory. */
struct resolv_conf *resolv_conf_load(const char *resolv_path, const char *hosts_path, char *note,
                                     size_t notelen);
void resolv_conf_free(struct resolv_conf *c);
/* The first nameserver (port 53 unless the file named one). */
void resolv_conf_first_ns(const struct resolv_conf *c, union nd_sockaddr *ns, socklen_t *len);
/* Counts, for the log line at start. */
size_t resolv_conf_nameservers(const struct resolv_conf *c);
size_t resolv_conf_hosts(const struct resolv_conf *c);

enum resolv_status {
    RESOLV_OK,       /* naddrs >= 1 */
    RESOLV_NOFAMILY, /* in the hosts file, with no address of the family asked */
    RESOLV_DNS,      /* the nameservers' answer: outcome NXDOMAIN, NODATA, SERVFAIL,
                      * TIMEOUT (their own tries ran out), REFUSED, MALFORMED, ... */
    RESOLV_ERRNO,    /* no nameserver could be asked: err (ENETUNREACH, ECONNREFUSED) */
};

struct resolv_result {
    enum resolv_status status;
    enum dns_outcome outcome; /* RESOLV_DNS */
    int rcode;                /* the answer's rcode, -1: none */
    int err;                  /* RESOLV_ERRNO */
    bool hosts;               /* answered from the hosts file */
    bool tcp;                 /* an answer came over TCP after a truncated one */
    size_t naddrs;            /* IPv4 first, then IPv6, port 0 */
    union nd_sockaddr addrs[RESOLV_ADDR_MAX];
    union nd_sockaddr server; /* the nameserver that answered or failed */
    socklen_t server_len;     /* 0: none (hosts file, literal) */
    char detail[176];         /* "resolving fail.test: SERVFAIL from 127.0.0.1:53 ..." */
    /* RESOLV_ERRNO from an ICMP error about a query: who sent it (as
     * struct result says it) */
    bool icmp;
    uint8_t icmp_type, icmp_code;
    char icmp_from[46];
};

/* The results of a look-up come to cb with the look-up's arg. */
typedef void (*resolv_cb)(const struct resolv_result *res, void *arg);

struct resolv;
struct resolv_lookup;

/* A resolver on `base` using `conf` (which it owns from here). Its sockets
 * get libevent priority `prio` (-1: the default). */
struct resolv *resolv_new(struct event_base *base, struct resolv_conf *conf, int prio);
/* A reload: `conf` replaces the current one (freed); look-ups in flight
 * finish with what they started with. */
void resolv_set_conf(struct resolv *r, struct resolv_conf *conf);
const struct resolv_conf *resolv_get_conf(const struct resolv *r);
/* Cancels every look-up in flight (no callback). */
void resolv_free(struct resolv *r);

/* Look `name` up for `family` (AF_INET, AF_INET6 or AF_UNSPEC for both,
 * asked in parallel as getaddrinfo does). An address literal and a hosts
 * file entry are answered at once: cb runs before this returns, which then
 * returns NULL; so does any failure to start. Otherwise the look-up runs on
 * the loop until cb is called (exactly once) or it is cancelled. */
struct resolv_lookup *resolv_lookup_start(struct resolv *r, const char *name, int family,
                                          resolv_cb cb, void *arg);
/* Stop a look-up in flight now: its sockets are closed, its memory freed,
 * cb is never called. Nothing is left for the loop to run later. */
void resolv_lookup_cancel(struct resolv_lookup *l);
/* What a look-up in flight has seen, for a deadline's detail ("asked
 * 127.0.0.1:53 3 times, 2 packets ignored: wrong id"). */
void resolv_lookup_describe(const struct resolv_lookup *l, char *buf, size_t len);

#endif
