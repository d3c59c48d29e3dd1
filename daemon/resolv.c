/* SPDX-License-Identifier: ISC */
/* The stub resolver of connect and send targets and of `server = system`:
 * the hosts file, then A and AAAA questions to resolv.conf's nameservers
 * over UDP, TCP after a truncated answer, as glibc's getaddrinfo() asks
 * them, on the loop and cancelable at once.
 *
 * Why not evdns_getaddrinfo(): libevent folds every DNS error but NXDOMAIN
 * into EAI_FAIL (a SERVFAIL, an answer without records and its own timeout
 * look the same), treats a SERVFAIL as a timeout that marks the nameserver
 * failed, has no TCP fallback, and runs the callbacks of cancelled
 * requests later from the loop, so a daemon that stops with look-ups in
 * flight leaks them. What glibc does, and this file follows:
 *
 *  - hosts file first: a name found there is answered from it alone (also
 *    with no address of the family asked: RESOLV_NOFAMILY), as evdns did;
 *  - resolv.conf: up to 3 `nameserver` lines (an address, or address:port
 *    as evdns also reads them; none: 127.0.0.1), `search` / `domain` (the
 *    last one wins; none: the domain of the host name), `options ndots:N
 *    timeout:N attempts:N rotate`, glibc's bounds and defaults (1, 5 s, 2);
 *    LOCALDOMAIN and RES_OPTIONS are not read;
 *  - the search list as res_search(): a name with ndots dots or more is
 *    asked as it is first, then with each search domain; a shorter one the
 *    other way round; a trailing dot asks it only as it is; an answer
 *    with an address ends it; NXDOMAIN, NODATA and SERVFAIL try the next
 *    name; no answer (timeout) or a nameserver that cannot be reached end
 *    it; at the end the name as it is says what it was, else NODATA if any
 *    name had no data, SERVFAIL if any failed, else NXDOMAIN;
 *  - A and AAAA in parallel on one socket for AF_UNSPEC; each nameserver
 *    in turn, `attempts` rounds, waiting timeout << round / nameservers
 *    (at least 1 s) as res_send(); SERVFAIL, REFUSED and NOTIMP move on to
 *    the next nameserver at once; a truncated answer is asked again over
 *    TCP of the same nameserver.
 *
 * The result keeps the DNS outcome (wsa.c maps NXDOMAIN 11001, SERVFAIL and
 * a timeout 11002, NODATA 11004 as glibc's getaddrinfo reports them) and the
 * nameserver that gave it. */
#include "resolv.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include <linux/errqueue.h>

#include "array.h"
#include "dns.h"
#include "errqueue.h"
#include "icmp.h"
#include "log.h"

#define RESOLV_NDOTS_MAX    15 /* glibc's RES_MAXNDOTS */
#define RESOLV_TIMEOUT_MAX  30 /* RES_MAXRETRANS, seconds */
#define RESOLV_ATTEMPTS_MAX 5  /* RES_MAXRETRY */
/* A hosts file beyond this is read this far (and said so): a file of a
 * few million lines must not cost the daemon unbounded memory. */
#define RESOLV_HOSTS_MAX_BYTES (64 * 1024 * 1024)
/* Datagrams read per wake-up: a flood cannot hold the loop. */
#define RESOLV_BURST 64

/* ---- the files ---------------------------------------------------------- */

struct hosts_name {
    uint32_t name; /* offset in the arena, lower case */
    uint32_t hash;
    uint32_t head, tail; /* first and last address (index + 1; 0: none) */
};

struct hosts_addr {
    uint32_t next; /* index + 1; 0: the last */
    uint8_t af_v6;
    uint8_t addr[16];
};

struct resolv_conf {
    unsigned refs; /* the resolver and its look-ups in flight (loop only) */
    union nd_sockaddr ns[RESOLV_MAXNS];
    socklen_t nslen[RESOLV_MAXNS];
    size_t nns;
    char search[RESOLV_MAXSEARCH][DNS_NAME_WIRE_MAX + 1];
    size_t nsearch;
    int ndots, timeout_s, attempts;
    bool rotate;

    char *arena;
    size_t arena_len, arena_cap;
    struct hosts_name *names;
    size_t nnames, names_cap;
    struct hosts_addr *addrs;
    size_t naddrs, addrs_cap;
    uint32_t *slots; /* open addressing: name index + 1; 0 empty */
    size_t nslots;   /* a power of two, at least twice nnames */
};

static uint32_t resolv_hash(const char *s, size_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a over the lower-case name */

    for (size_t i = 0; i < len; i++) {
        h ^= (uint8_t)tolower((unsigned char)s[i]);
        h *= 16777619u;
    }
    return h;
}

static bool hosts_rehash(struct resolv_conf *c, size_t nslots)
{
    uint32_t *s = calloc(nslots, sizeof(*s));

    if (s == NULL)
        return false;
    for (size_t i = 0; i < c->nnames; i++) {
        size_t j = c->names[i].hash & (nslots - 1);
        while (s[j] != 0)
            j = (j + 1) & (nslots - 1);
        s[j] = (uint32_t)i + 1;
    }
    free(c->slots);
    c->slots = s;
    c->nslots = nslots;
    return true;
}

/* The name's index + 1, 0 when it is not in the file. */
static uint32_t hosts_find(const struct resolv_conf *c, const char *name, size_t len, uint32_t h)
{
    if (c->nslots == 0)
        return 0;
    for (size_t j = h & (c->nslots - 1);; j = (j + 1) & (c->nslots - 1)) {
        uint32_t i = c->slots[j];
        const char *n;

        if (i == 0)
            return 0;
        n = c->arena + c->names[i - 1].name;
        if (c->names[i - 1].hash == h && strncasecmp(n, name, len) == 0 && n[len] == '\0')
            return i;
    }
}

static bool hosts_add(struct resolv_conf *c, const char *name, bool v6, const uint8_t *addr)
{
    size_t len = strlen(name);
    uint32_t h = resolv_hash(name, len), i = hosts_find(c, name, len, h);
    struct hosts_addr *a;

    if (i == 0) {
        struct hosts_name *hn;

        if (c->arena_len + len + 1 > UINT32_MAX || c->nnames + 1 >= UINT32_MAX / 2 ||
            ARRAY_RESERVE(c->arena, c->arena_cap, c->arena_len + len + 1) < 0 ||
            ARRAY_RESERVE(c->names, c->names_cap, c->nnames + 1) < 0)
            return false;
        if ((c->nnames + 1) * 2 > c->nslots && !hosts_rehash(c, c->nslots ? c->nslots * 2 : 256))
            return false;
        for (size_t k = 0; k <= len; k++)
            c->arena[c->arena_len + k] = (char)tolower((unsigned char)name[k]);
        hn = &c->names[c->nnames];
        hn->name = (uint32_t)c->arena_len;
        hn->hash = h;
        hn->head = hn->tail = 0;
        c->arena_len += len + 1;
        i = (uint32_t)++c->nnames;
        for (size_t j = h & (c->nslots - 1);; j = (j + 1) & (c->nslots - 1)) {
            if (c->slots[j] == 0) {
                c->slots[j] = i;
                break;
            }
        }
    }
    if (c->names == NULL || c->naddrs + 1 >= UINT32_MAX ||
        ARRAY_RESERVE(c->addrs, c->addrs_cap, c->naddrs + 1) < 0)
        return false; /* (names is set whenever a name was found) */
    a = &c->addrs[c->naddrs++];
    a->next = 0;
    a->af_v6 = v6;
    memcpy(a->addr, addr, v6 ? 16 : 4);
    if (c->names[i - 1].tail != 0)
        c->addrs[c->names[i - 1].tail - 1].next = (uint32_t)c->naddrs;
    else
        c->names[i - 1].head = (uint32_t)c->naddrs;
    c->names[i - 1].tail = (uint32_t)c->naddrs;
    return true;
}

/* snprintf for details and notes: cut short at their size is fine (names
 * can be 253 bytes; a detail is 176). */
static void fmt(char *buf, size_t len, const char *f, ...) __attribute__((format(printf, 3, 4)));
static void fmt(char *buf, size_t len, const char *f, ...)
{
    va_list ap;

    va_start(ap, f);
    vsnprintf(buf, len, f, ap);
    va_end(ap);
}

static void note_add(char *note, size_t len, const char *what)
{
    size_t used = strlen(note);

    if (used > 0 && used + 2 < len) {
        note[used++] = ';';
        note[used++] = ' ';
        note[used] = '\0';
    }
    util_strlcpy(note + used, what, len - used);
}

/* "address name [aliases...]  # comment", as nss_files reads it. */
static void hosts_load(struct resolv_conf *c, const char *path, char *note, size_t notelen)
{
    FILE *f = fopen(path, "re");
    char *line = NULL, buf[96];
    size_t cap = 0, bytes = 0;
    ssize_t n;
    unsigned bad = 0;
    bool oom = false;

    if (f == NULL)
        return;
    while (!oom && (n = getline(&line, &cap, f)) >= 0) {
        char *save = NULL, *addr, *name;
        uint8_t a[16];
        bool v6;

        bytes += (size_t)n;
        if (bytes > RESOLV_HOSTS_MAX_BYTES) {
            fmt(buf, sizeof(buf), "%s read up to %d MiB only", path, RESOLV_HOSTS_MAX_BYTES >> 20);
            note_add(note, notelen, buf);
            break;
        }
        line[strcspn(line, "#")] = '\0';
        addr = strtok_r(line, " \t\r\n", &save);
        if (addr == NULL)
            continue;
        if (inet_pton(AF_INET, addr, a) == 1) {
            v6 = false;
        } else if (inet_pton(AF_INET6, addr, a) == 1) {
            v6 = true;
        } else {
            bad++;
            continue;
        }
        while ((name = strtok_r(NULL, " \t\r\n", &save)) != NULL)
            if (!hosts_add(c, name, v6, a)) {
                oom = true;
                break;
            }
    }
    free(line);
    fclose(f);
    if (oom) {
        fmt(buf, sizeof(buf), "%s: out of memory, read in part", path);
        note_add(note, notelen, buf);
    }
    if (bad > 0) {
        fmt(buf, sizeof(buf), "%s: %u line%s without an address skipped", path, bad,
            bad == 1 ? "" : "s");
        note_add(note, notelen, buf);
    }
}

static bool resolv_parse_ns(const char *val, union nd_sockaddr *ns, socklen_t *len)
{
    struct sockaddr_storage ss;
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
                             .ai_socktype = SOCK_DGRAM};
    struct addrinfo *ai = NULL;
    socklen_t sl;
    char err[64];
    bool ok = false;

    /* address, address:port, [v6]:port (evdns reads a port too) */
    if (util_parse_sockaddr(val, DNS_PORT, &ss, &sl, err, sizeof(err)) == 0 && sl <= sizeof(*ns)) {
        memcpy(ns, &ss, sl);
        *len = sl;
        return true;
    }
    /* a scoped address (fe80::1%eth0): numeric only, never blocks */
    if (getaddrinfo(val, "53", &hints, &ai) == 0 && ai != NULL && ai->ai_addrlen <= sizeof(*ns)) {
        memset(ns, 0, sizeof(*ns));
        memcpy(ns, ai->ai_addr, ai->ai_addrlen);
        *len = ai->ai_addrlen;
        ok = true;
    }
    if (ai != NULL)
        freeaddrinfo(ai);
    return ok;
}

static void resolv_parse_options(struct resolv_conf *c, char **save)
{
    const char *opt;

    while ((opt = strtok_r(NULL, " \t\r\n", save)) != NULL) {
        const char *colon = strchr(opt, ':');
        long v = colon != NULL ? strtol(colon + 1, NULL, 10) : 0;

        if (strncmp(opt, "ndots:", 6) == 0)
            c->ndots = v < 0 ? 0 : v > RESOLV_NDOTS_MAX ? RESOLV_NDOTS_MAX : (int)v;
        else if (strncmp(opt, "timeout:", 8) == 0)
            c->timeout_s = v < 1 ? 1 : v > RESOLV_TIMEOUT_MAX ? RESOLV_TIMEOUT_MAX : (int)v;
        else if (strncmp(opt, "attempts:", 9) == 0)
            c->attempts = v < 1 ? 1 : v > RESOLV_ATTEMPTS_MAX ? RESOLV_ATTEMPTS_MAX : (int)v;
        else if (strcmp(opt, "rotate") == 0)
            c->rotate = true;
    }
}

static void resolv_add_search(struct resolv_conf *c, const char *dom)
{
    size_t len = strlen(dom);

    while (len > 0 && dom[len - 1] == '.')
        len--;
    if (len == 0 || len > DNS_NAME_WIRE_MAX - 2 || c->nsearch >= RESOLV_MAXSEARCH)
        return;
    memcpy(c->search[c->nsearch], dom, len);
    c->search[c->nsearch][len] = '\0';
    c->nsearch++;
}

static void resolv_conf_read(struct resolv_conf *c, const char *path)
{
    FILE *f = fopen(path, "re");
    char line[1024];
    bool have_search = false;

    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        char *save = NULL, *key, *val;

        if (strchr(line, '\n') == NULL && !feof(f)) {
            int ch;
            while ((ch = fgetc(f)) != EOF && ch != '\n')
                ; /* a line longer than the buffer: skipped */
            continue;
        }
        line[strcspn(line, "#;")] = '\0';
        key = strtok_r(line, " \t\r\n", &save);
        if (key == NULL)
            continue;
        if (strcmp(key, "options") == 0) {
            resolv_parse_options(c, &save);
            continue;
        }
        val = strtok_r(NULL, " \t\r\n", &save);
        if (val == NULL)
            continue;
        if (strcmp(key, "nameserver") == 0) {
            if (c->nns < RESOLV_MAXNS && resolv_parse_ns(val, &c->ns[c->nns], &c->nslen[c->nns]))
                c->nns++;
        } else if (strcmp(key, "domain") == 0 || strcmp(key, "search") == 0) {
            /* the last of them wins, as in glibc */
            have_search = true;
            c->nsearch = 0;
            resolv_add_search(c, val);
            if (key[0] == 's')
                while ((val = strtok_r(NULL, " \t\r\n", &save)) != NULL)
                    resolv_add_search(c, val);
        }
    }
    if (f != NULL)
        fclose(f);
    if (!have_search) {
        char host[256];
        const char *dot;

        if (gethostname(host, sizeof(host)) == 0 &&
            (host[sizeof(host) - 1] = '\0', (dot = strchr(host, '.')) != NULL))
            resolv_add_search(c, dot + 1);
    }
    if (c->nns == 0) {
        /* glibc's default: a nameserver on this host */
        c->ns[0].sin.sin_family = AF_INET;
        c->ns[0].sin.sin_port = htons(DNS_PORT);
        c->ns[0].sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        c->nslen[0] = sizeof(struct sockaddr_in);
        c->nns = 1;
    }
}

struct resolv_conf *resolv_conf_load(const char *resolv_path, const char *hosts_path, char *note,
                                     size_t notelen)
{
    struct resolv_conf *c = calloc(1, sizeof(*c));

    if (notelen > 0)
        note[0] = '\0';
    if (c == NULL)
        return NULL;
    c->refs = 1;
    c->ndots = 1;
    c->timeout_s = 5;
    c->attempts = 2;
    resolv_conf_read(c, resolv_path);
    hosts_load(c, hosts_path, note, notelen);
    return c;
}

static void resolv_conf_unref(struct resolv_conf *c)
{
    if (c == NULL || --c->refs > 0)
        return;
    free(c->arena);
    free(c->names);
    free(c->addrs);
    free(c->slots);
    free(c);
}

void resolv_conf_free(struct resolv_conf *c)
{
    resolv_conf_unref(c);
}

void resolv_conf_first_ns(const struct resolv_conf *c, union nd_sockaddr *ns, socklen_t *len)
{
    *ns = c->ns[0];
    *len = c->nslen[0];
}

size_t resolv_conf_nameservers(const struct resolv_conf *c)
{
    return c->nns;
}

size_t resolv_conf_hosts(const struct resolv_conf *c)
{
    return c->nnames;
}

/* ---- look-ups --------------------------------------------------------- */

/* One question of the current name: A or AAAA. After a truncated
 * answer it is asked again over a TCP connection of its own (many servers
 * answer one question per connection). */
struct rq {
    struct resolv_lookup *l;
    struct dns_query q;
    bool v6;
    bool done;    /* answered for good (addresses, NODATA, NXDOMAIN, ...) */
    bool settled; /* the current nameserver has said its last on it */
    bool tcp;     /* asked again over TCP after a truncated answer */
    enum dns_outcome outcome;
    int rcode;
    unsigned naddrs;
    uint8_t (*addrs)[16];
    /* TCP */
    int tcp_fd;
    struct event *ev_tcp;
    bool tcp_connected;
    size_t out_sent; /* of the length prefix and q.wire */
    struct dns_tcp_frame in;
    uint8_t *buf; /* DNS_MSG_MAX, at first use */
};

struct resolv {
    struct event_base *base;
    struct resolv_conf *conf;
    int prio;
    unsigned rotate_next;
    struct resolv_lookup *head; /* look-ups in flight */
    /* per nameserver of conf: the socket error that made it unreachable,
     * logged once, and its recovery */
    int ns_err[RESOLV_MAXNS];
};

struct resolv_lookup {
    struct resolv *r;
    struct resolv_lookup *prev, *next;
    struct resolv_conf *conf; /* a reference: a reload does not change it */
    resolv_cb cb;
    void *arg;
    char name[DNS_NAME_WIRE_MAX + 1];
    size_t namelen;
    bool absolute;      /* a trailing dot: only as it is */
    bool as_is_first;   /* ndots or more dots */
    size_t cand, ncand; /* the names: search domains and the name as it is */
    bool got_nodata, got_servfail;
    bool as_is_failed; /* the name as it is, asked first, failed: */
    enum dns_outcome as_is_outcome;
    int as_is_rcode;

    struct rq rq[2];
    size_t nrq;
    unsigned ns_first; /* rotate: the nameserver each name starts at */
    unsigned ns_idx, round;

    int udp_fd;
    struct event *ev_udp, *ev_timer;

    /* what went wrong at the nameservers, for the result */
    bool answered;  /* some nameserver answered something */
    bool timed_out; /* a nameserver's wait ran out with questions open */
    bool have_fail; /* a SERVFAIL, REFUSED, NOTIMP, FORMERR, a broken TCP answer */
    enum dns_outcome fail_outcome;
    int fail_rcode;
    unsigned fail_ns;
    int err; /* the last socket error */
    unsigned err_ns;
    bool err_tcp;
    /* err came from an ICMP error: who sent it, and in words */
    bool err_icmp;
    uint8_t err_icmp_type, err_icmp_code;
    char err_icmp_from[46];
    char err_icmp_words[80];
    unsigned sent, ignored, tcp_used;
    enum dns_reject last_reject;
};

static void lookup_free(struct resolv_lookup *l);
static void lookup_icmp_origin(struct resolv_lookup *l, int fd, int *err);
static void lookup_udp_cb(evutil_socket_t fd, short what, void *arg);
static void lookup_tcp_cb(evutil_socket_t fd, short what, void *arg);
static void lookup_timer_cb(evutil_socket_t fd, short what, void *arg);
static bool lookup_ask(struct resolv_lookup *l);
static bool lookup_next_name(struct resolv_lookup *l);

struct resolv *resolv_new(struct event_base *base, struct resolv_conf *conf, int prio)
{
    struct resolv *r = calloc(1, sizeof(*r));

    if (r == NULL)
        return NULL;
    r->base = base;
    r->conf = conf;
    r->prio = prio;
    return r;
}

void resolv_set_conf(struct resolv *r, struct resolv_conf *conf)
{
    resolv_conf_unref(r->conf);
    r->conf = conf;
    memset(r->ns_err, 0, sizeof(r->ns_err));
}

const struct resolv_conf *resolv_get_conf(const struct resolv *r)
{
    return r->conf;
}

void resolv_free(struct resolv *r)
{
    if (r == NULL)
        return;
    for (struct resolv_lookup *l = r->head, *next; l != NULL; l = next) {
        next = l->next;
        lookup_free(l);
    }
    resolv_conf_unref(r->conf);
    free(r);
}

static void lookup_close_udp(struct resolv_lookup *l)
{
    if (l->udp_fd >= 0) {
        event_del(l->ev_udp);
        close(l->udp_fd);
        l->udp_fd = -1;
    }
}

static void rq_close_tcp(struct rq *q)
{
    if (q->tcp_fd >= 0) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        event_del(q->ev_tcp);
        setsockopt(q->tcp_fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        close(q->tcp_fd);
        q->tcp_fd = -1;
    }
    q->tcp_connected = false;
    q->out_sent = 0;
    q->in = (struct dns_tcp_frame){0};
}

static void lookup_close_tcp(struct resolv_lookup *l)
{
    for (size_t i = 0; i < 2; i++)
        rq_close_tcp(&l->rq[i]);
}

static void lookup_free(struct resolv_lookup *l)
{
    struct resolv *r = l->r;

    lookup_close_udp(l);
    lookup_close_tcp(l);
    event_del(l->ev_timer);
    if (l->prev != NULL)
        l->prev->next = l->next;
    else
        r->head = l->next;
    if (l->next != NULL)
        l->next->prev = l->prev;
    for (size_t i = 0; i < 2; i++) {
        free(l->rq[i].addrs);
        free(l->rq[i].buf);
    }
    resolv_conf_unref(l->conf);
    free(l);
}

void resolv_lookup_cancel(struct resolv_lookup *l)
{
    if (l != NULL)
        lookup_free(l);
}

static const char *ns_text(const struct resolv_conf *c, unsigned i, char *buf, size_t len)
{
    util_format_sockaddr(&c->ns[i].sa, buf, len);
    return buf;
}

void resolv_lookup_describe(const struct resolv_lookup *l, char *buf, size_t len)
{
    char ns[64];
    size_t used;

    fmt(buf, len, "%u quer%s to %s", l->sent, l->sent == 1 ? "y" : "ies",
        l->conf->nns == 1 ? ns_text(l->conf, 0, ns, sizeof(ns)) : "the nameservers");
    used = strlen(buf);
    if (l->tcp_used > 0 && used < len)
        snprintf(buf + used, len - used, ", TCP after a truncated answer");
    used = strlen(buf);
    if (l->ignored > 0 && used < len)
        snprintf(buf + used, len - used, ", %u packet%s ignored (last: %s)", l->ignored,
                 l->ignored == 1 ? "" : "s", dns_reject_name(l->last_reject));
}

/* The name being asked now: the name itself, or with a search domain. */
static void lookup_cand_name(const struct resolv_lookup *l, size_t cand, char *out, size_t len)
{
    size_t nsearch = l->absolute ? 0 : l->conf->nsearch;
    /* as it is first: cand 0 is the name; else the search domains first */
    bool as_is = l->as_is_first ? cand == 0 : cand == nsearch;
    size_t dom = l->as_is_first ? cand - 1 : cand;

    if (as_is)
        fmt(out, len, "%s", l->name);
    else
        fmt(out, len, "%s.%s", l->name, l->conf->search[dom]);
}

static bool lookup_cand_is_as_is(const struct resolv_lookup *l, size_t cand)
{
    size_t nsearch = l->absolute ? 0 : l->conf->nsearch;

    return l->as_is_first ? cand == 0 : cand == nsearch;
}

/* Hand the result over: the look-up is freed first, so that the callback
 * may start or cancel others. */
static void lookup_finish(struct resolv_lookup *l, struct resolv_result *res)
{
    resolv_cb cb = l->cb;
    void *arg = l->arg;

    lookup_free(l);
    cb(res, arg);
}

static void result_init(struct resolv_result *res, enum resolv_status st)
{
    memset(res, 0, sizeof(*res));
    res->status = st;
    res->rcode = -1;
}

static void result_server(struct resolv_result *res, const struct resolv_conf *c, unsigned ns)
{
    res->server = c->ns[ns];
    res->server_len = c->nslen[ns];
}

static void result_add(struct resolv_result *res, bool v6, const uint8_t *a)
{
    union nd_sockaddr *sa;

    if (res->naddrs >= RESOLV_ADDR_MAX)
        return;
    sa = &res->addrs[res->naddrs++];
    memset(sa, 0, sizeof(*sa));
    if (v6) {
        sa->sin6.sin6_family = AF_INET6;
        memcpy(&sa->sin6.sin6_addr, a, 16);
    } else {
        sa->sin.sin_family = AF_INET;
        memcpy(&sa->sin.sin_addr, a, 4);
    }
}

static const char *qtypes_text(const struct resolv_lookup *l)
{
    if (l->nrq == 2)
        return "A or AAAA";
    return l->rq[0].v6 ? "AAAA" : "A";
}

/* The look-up failed: the outcome for the whole name, with the nameserver
 * that said it. */
static void lookup_fail(struct resolv_lookup *l, enum dns_outcome outcome, int rcode, unsigned ns)
{
    struct resolv_result res;
    char nsbuf[64], rbuf[16], tried[64] = "";
    size_t nsearch = l->absolute ? 0 : l->conf->nsearch;

    result_init(&res, RESOLV_DNS);
    res.outcome = outcome;
    res.rcode = rcode;
    result_server(&res, l->conf, ns);
    ns_text(l->conf, ns, nsbuf, sizeof(nsbuf));
    if (nsearch > 0)
        fmt(tried, sizeof(tried), " (with %zu search domain%s)", nsearch, nsearch == 1 ? "" : "s");
    switch (outcome) {
    case DNS_NODATA:
        fmt(res.detail, sizeof(res.detail), "resolving %s: NOERROR from %s, no %s record%s",
            l->name, nsbuf, qtypes_text(l), tried);
        break;
    case DNS_TIMEOUT:
        fmt(res.detail, sizeof(res.detail), "resolving %s: no answer from %s (%d tr%s of %d s)%s",
            l->name, l->conf->nns == 1 ? nsbuf : "any nameserver", l->conf->attempts,
            l->conf->attempts == 1 ? "y" : "ies", l->conf->timeout_s, tried);
        res.server_len = l->conf->nns == 1 ? res.server_len : 0;
        break;
    case DNS_MALFORMED:
        fmt(res.detail, sizeof(res.detail),
            "resolving %s: %s closed the TCP connection without an answer (after a "
            "truncated one over UDP)",
            l->name, nsbuf);
        break;
    default:
        fmt(res.detail, sizeof(res.detail), "resolving %s: %s from %s%s", l->name,
            rcode >= 0 ? dns_rcode_name(rcode, rbuf, sizeof(rbuf)) : wsa_raw_dns(outcome), nsbuf,
            tried);
        break;
    }
    lookup_finish(l, &res);
}

/* Every nameserver failed with a socket error: report the error, as the
 * resolve kind does for its own server. */
static void lookup_fail_errno(struct resolv_lookup *l)
{
    struct resolv_result res;
    char nsbuf[64];

    result_init(&res, RESOLV_ERRNO);
    res.err = l->err;
    result_server(&res, l->conf, l->err_ns);
    ns_text(l->conf, l->err_ns, nsbuf, sizeof(nsbuf));
    if (l->err_tcp)
        fmt(res.detail, sizeof(res.detail),
            "resolving %s: TCP retry after a truncated answer from %s failed", l->name, nsbuf);
    else
        fmt(res.detail, sizeof(res.detail), "resolving %s: nameserver %s cannot be reached%s%s%s",
            l->name, nsbuf, l->conf->nns > 1 ? ", nor any other" : "", l->err_icmp ? ": " : "",
            l->err_icmp ? l->err_icmp_words : "");
    if (l->err_icmp) {
        res.icmp = true;
        res.icmp_type = l->err_icmp_type;
        res.icmp_code = l->err_icmp_code;
        memcpy(res.icmp_from, l->err_icmp_from, sizeof(res.icmp_from));
    }
    lookup_finish(l, &res);
}

static void lookup_ok(struct resolv_lookup *l)
{
    struct resolv_result res;

    result_init(&res, RESOLV_OK);
    result_server(&res, l->conf, l->ns_idx);
    res.tcp = l->tcp_used > 0;
    for (size_t i = 0; i < l->nrq; i++) /* A before AAAA, as evdns gave them */
        for (unsigned k = 0; k < l->rq[i].naddrs; k++)
            result_add(&res, l->rq[i].v6, l->rq[i].addrs[k]);
    lookup_finish(l, &res);
}

/* A socket error reached the nameserver's state: logged once per outage. */
static void ns_unreachable(struct resolv_lookup *l, unsigned ns, int err, bool tcp)
{
    struct resolv *r = l->r;
    char nsbuf[64];

    l->err = err;
    l->err_ns = ns;
    l->err_tcp = tcp;
    l->err_icmp = false;
    if (l->conf == r->conf && !tcp && r->ns_err[ns] == 0) {
        r->ns_err[ns] = err;
        log_warnx("dns: nameserver %s cannot be reached: %s",
                  ns_text(l->conf, ns, nsbuf, sizeof(nsbuf)), strerror(err));
    }
}

static void ns_answered(struct resolv_lookup *l, unsigned ns)
{
    struct resolv *r = l->r;
    char nsbuf[64];

    l->answered = true;
    if (l->conf == r->conf && r->ns_err[ns] != 0) {
        r->ns_err[ns] = 0;
        log_notice("dns: nameserver %s answers again", ns_text(l->conf, ns, nsbuf, sizeof(nsbuf)));
    }
}

/* NOLINTBEGIN(misc-no-recursion): a name given up on starts the next one
 * of the search list (lookup_name_done -> lookup_next_name -> lookup_ask),
 * which may be given up on at once (no nameserver reachable): the depth
 * is bounded by the list, at most RESOLV_MAXSEARCH + 1 names. */
/* The current name is answered or given up on: the look-up ends, or goes
 * on with the next name of the search list (res_search's rules). Returns
 * whether it goes on (false: it has ended and is freed). */
static bool lookup_name_done(struct resolv_lookup *l, bool exhausted)
{
    bool any_addr = false, any_nodata = false, all_nx = true, other = false;
    enum dns_outcome other_outcome = DNS_OTHER;
    int other_rcode = -1;
    enum dns_outcome outcome;
    int rcode = -1;
    bool go_on;

    for (size_t i = 0; i < l->nrq; i++) {
        const struct rq *q = &l->rq[i];
        if (!q->done) {
            all_nx = false;
            continue;
        }
        if (q->naddrs > 0)
            any_addr = true;
        if (q->outcome == DNS_NODATA || (q->outcome == DNS_OK && q->naddrs == 0))
            any_nodata = true;
        if (q->outcome != DNS_NXDOMAIN)
            all_nx = false;
        if (q->outcome != DNS_NXDOMAIN && q->outcome != DNS_NODATA && q->outcome != DNS_OK) {
            other = true;
            other_outcome = q->outcome;
            other_rcode = q->rcode;
        }
    }
    if (any_addr) {
        lookup_ok(l);
        return false;
    }
    if (exhausted) {
        /* a question the nameservers never answered for good */
        if (l->have_fail) {
            outcome = l->fail_outcome;
            rcode = l->fail_rcode;
        } else if (!l->timed_out && l->err != 0) {
            lookup_fail_errno(l);
            return false;
        } else {
            lookup_fail(l, DNS_TIMEOUT, -1, l->ns_idx);
            return false;
        }
    } else if (other) {
        outcome = other_outcome;
        rcode = other_rcode;
    } else if (any_nodata) {
        outcome = DNS_NODATA;
        rcode = 0;
    } else if (all_nx) {
        outcome = DNS_NXDOMAIN;
        rcode = 3;
    } else {
        outcome = DNS_OTHER;
    }
    /* NXDOMAIN, NODATA and SERVFAIL try the next name; anything else ends
     * the search with what it is */
    go_on = outcome == DNS_NXDOMAIN || outcome == DNS_NODATA || outcome == DNS_SERVFAIL;
    if (outcome == DNS_NODATA)
        l->got_nodata = true;
    if (outcome == DNS_SERVFAIL)
        l->got_servfail = true;
    if (lookup_cand_is_as_is(l, l->cand) && l->as_is_first) {
        l->as_is_failed = true;
        l->as_is_outcome = outcome;
        l->as_is_rcode = rcode;
    }
    if (go_on && l->cand + 1 < l->ncand) {
        l->cand++;
        return lookup_next_name(l);
    }
    if (go_on) {
        if (l->as_is_failed) {
            outcome = l->as_is_outcome;
            rcode = l->as_is_rcode;
        } else if (l->got_nodata) {
            outcome = DNS_NODATA;
            rcode = 0;
        } else if (l->got_servfail) {
            outcome = DNS_SERVFAIL;
            rcode = 2;
        }
    }
    lookup_fail(l, outcome, rcode, l->have_fail ? l->fail_ns : l->ns_idx);
    return false;
}

/* Wait this long for the current nameserver (res_send's rule). */
static int64_t lookup_wait_ms(const struct resolv_lookup *l)
{
    int64_t ms = (int64_t)l->conf->timeout_s * 1000 << l->round;

    if (l->round > 0)
        ms /= (int64_t)l->conf->nns;
    return ms < 1000 ? 1000 : ms;
}

/* Every question the current nameserver has not answered for good has
 * been failed by it: on to the next one. Returns false when the look-up
 * has ended. */
static bool lookup_advance(struct resolv_lookup *l)
{
    lookup_close_udp(l);
    lookup_close_tcp(l);
    event_del(l->ev_timer);
    l->ns_idx = (l->ns_idx + 1) % (unsigned)l->conf->nns;
    if (l->ns_idx == l->ns_first)
        l->round++;
    if ((int)l->round >= l->conf->attempts)
        return lookup_name_done(l, true);
    return lookup_ask(l);
}

static bool lookup_watch(struct resolv_lookup *l, struct event *ev, int fd, short what,
                         event_callback_fn cb, void *arg)
{
    event_del(ev);
    if (event_assign(ev, l->r->base, fd, (short)(what | EV_PERSIST), cb, arg) < 0)
        return false;
    if (l->r->prio >= 0)
        event_priority_set(ev, l->r->prio);
    return event_add(ev, NULL) == 0;
}

/* Ask the current nameserver every question not answered for good, over
 * UDP. A nameserver that cannot be asked (no route, no socket) is passed
 * over at once. Returns false when the look-up has ended. */
static bool lookup_ask(struct resolv_lookup *l)
{
    for (;;) {
        const struct resolv_conf *c = l->conf;
        unsigned ns = l->ns_idx;
        int fd, err = 0;
        struct timeval tv;
        int64_t ms;

        for (size_t i = 0; i < l->nrq; i++) {
            l->rq[i].settled = l->rq[i].done;
            l->rq[i].tcp = false;
        }
        fd = socket(c->ns[ns].sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        /* ICMP errors with their sender (errqueue.c), as the probes ask */
        if (fd >= 0)
            (void)errq_enable(fd, c->ns[ns].sa.sa_family);
        /* no route: connect() says ENETUNREACH at once */
        if (fd < 0 || connect(fd, &c->ns[ns].sa, c->nslen[ns]) < 0)
            err = errno;
        for (size_t i = 0; err == 0 && i < l->nrq; i++) {
            if (l->rq[i].done)
                continue;
            dns_query_new_id(&l->rq[i].q);
            if (send(fd, l->rq[i].q.wire, l->rq[i].q.wire_len, MSG_NOSIGNAL) < 0)
                err = errno;
            else
                l->sent++;
        }
        if (err == 0) {
            l->udp_fd = fd;
            if (!lookup_watch(l, l->ev_udp, fd, EV_READ, lookup_udp_cb, l)) {
                err = ENOMEM;
                l->udp_fd = -1;
            }
        }
        if (err != 0) {
            /* a send may already meet the ICMP error of the query before
             * it (a near router answers within the first send) */
            if (fd >= 0)
                lookup_icmp_origin(l, fd, &err);
            else
                ns_unreachable(l, ns, err, false);
            if (fd >= 0)
                close(fd);
            l->ns_idx = (ns + 1) % (unsigned)c->nns;
            if (l->ns_idx == l->ns_first)
                l->round++;
            if ((int)l->round >= c->attempts)
                return lookup_name_done(l, true);
            continue;
        }
        ms = lookup_wait_ms(l);
        tv.tv_sec = (time_t)(ms / 1000);
        tv.tv_usec = (suseconds_t)(ms % 1000 * 1000);
        event_add(l->ev_timer, &tv);
        return true;
    }
}

/* Start asking the current name of the search list, from the first (or,
 * with rotate, the next) nameserver. Returns false when the look-up has
 * ended. */
static bool lookup_next_name(struct resolv_lookup *l)
{
    char name[DNS_NAME_WIRE_MAX + 2], err[96];

    lookup_close_udp(l);
    lookup_close_tcp(l);
    event_del(l->ev_timer);
    lookup_cand_name(l, l->cand, name, sizeof(name));
    l->ns_idx = l->ns_first;
    l->round = 0;
    l->have_fail = false;
    l->answered = false;
    l->timed_out = false;
    l->err = 0;
    for (size_t i = 0; i < l->nrq; i++) {
        struct rq *q = &l->rq[i];
        free(q->addrs);
        q->addrs = NULL;
        q->naddrs = 0;
        q->done = q->settled = q->tcp = false;
        q->rcode = -1;
        if (dns_query_init(&q->q, name, q->v6 ? DNS_TYPE_AAAA : DNS_TYPE_A, err, sizeof(err)) < 0) {
            /* a search domain that makes the name too long: no such name */
            q->done = true;
            q->outcome = DNS_NXDOMAIN;
        }
    }
    for (size_t i = 0; i < l->nrq; i++)
        if (!l->rq[i].done)
            return lookup_ask(l);
    return lookup_name_done(l, false);
}

/* After an answer or failure from the current nameserver: on when every
 * open question is settled there. Returns false when the look-up ended. */
static bool lookup_check(struct resolv_lookup *l)
{
    bool all_done = true, all_settled = true;

    for (size_t i = 0; i < l->nrq; i++) {
        if (!l->rq[i].done)
            all_done = false;
        if (!l->rq[i].settled)
            all_settled = false;
    }
    if (all_done)
        return lookup_name_done(l, false);
    if (all_settled)
        return lookup_advance(l);
    return true;
}

/* NOLINTEND(misc-no-recursion) */

/* The nameserver failed the question over TCP: it is settled there. */
static void rq_tcp_failed(struct rq *q, int err)
{
    struct resolv_lookup *l = q->l;

    if (err != 0) {
        ns_unreachable(l, l->ns_idx, err, true);
    } else {
        /* closed without an answer: a broken answer of this server */
        l->have_fail = true;
        l->fail_outcome = DNS_MALFORMED;
        l->fail_rcode = -1;
        l->fail_ns = l->ns_idx;
    }
    rq_close_tcp(q);
    q->settled = true;
}

/* Ask the question again over TCP of the current nameserver. */
static void rq_tcp_ask(struct rq *q)
{
    struct resolv_lookup *l = q->l;
    const struct resolv_conf *c = l->conf;
    unsigned ns = l->ns_idx;
    int err = 0;

    rq_close_tcp(q);
    q->tcp = true;
    l->tcp_used++;
    if (q->buf == NULL && (q->buf = malloc(DNS_MSG_MAX)) == NULL) {
        err = ENOMEM;
        goto fail;
    }
    q->tcp_fd = socket(c->ns[ns].sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (q->tcp_fd < 0) {
        err = errno;
        goto fail;
    }
    if (connect(q->tcp_fd, &c->ns[ns].sa, c->nslen[ns]) < 0 && errno != EINPROGRESS) {
        err = errno;
        goto fail;
    }
    if (!lookup_watch(l, q->ev_tcp, q->tcp_fd, EV_WRITE, lookup_tcp_cb, q)) {
        err = ENOMEM;
        goto fail;
    }
    return;
fail:
    rq_tcp_failed(q, err);
}

/* A whole message from the current nameserver, over UDP, or over the TCP
 * connection of question `tq`. Returns false when the look-up ended. */
static bool lookup_message(struct resolv_lookup *l, const uint8_t *msg, size_t len, struct rq *tq)
{
    static struct dns_answer a; /* the loop's thread only; 1.2 kB off the stack */
    enum dns_reject why = DNS_REJECT_WRONG_ID;
    struct rq *q = NULL;
    bool tcp = tq != NULL;

    for (size_t i = 0; i < l->nrq; i++) {
        if (l->rq[i].done || l->rq[i].tcp != tcp || (tq != NULL && tq != &l->rq[i]))
            continue;
        why = dns_parse_response(&l->rq[i].q, msg, len, NULL, &a);
        if (why == DNS_REJECT_NONE) {
            q = &l->rq[i];
            break;
        }
    }
    if (q == NULL) {
        l->ignored++;
        l->last_reject = why;
        return true;
    }
    ns_answered(l, l->ns_idx);
    if (a.tc && !tcp) {
        rq_tcp_ask(q);
        return lookup_check(l);
    }
    if (a.cut) { /* over TCP a message comes whole: this one is no answer */
        l->ignored++;
        l->last_reject = DNS_REJECT_UNPARSABLE;
        return true;
    }
    switch (a.outcome) {
    case DNS_SERVFAIL:
    case DNS_REFUSED:
    case DNS_NOTIMP:
    case DNS_FORMERR:
        /* this nameserver cannot answer it: the next one may */
        q->settled = true;
        l->have_fail = true;
        l->fail_outcome = a.outcome;
        l->fail_rcode = a.rcode;
        l->fail_ns = l->ns_idx;
        break;
    default:
        q->done = q->settled = true;
        rq_close_tcp(q); /* its answer came */
        q->outcome = a.outcome;
        q->rcode = a.rcode;
        if (a.naddrs > 0 && a.addr_len == (q->v6 ? 16 : 4)) {
            q->addrs = malloc(a.naddrs * sizeof(*q->addrs));
            if (q->addrs != NULL) {
                for (unsigned k = 0; k < a.naddrs; k++)
                    memcpy(q->addrs[k], a.addrs[k], a.addr_len);
                q->naddrs = a.naddrs;
            }
        }
        if (a.outcome == DNS_OK && q->naddrs == 0)
            q->outcome = DNS_NODATA; /* records, none usable as an address */
        break;
    }
    return lookup_check(l);
}

/* A socket error of the nameserver's UDP socket: when an ICMP error
 * caused it, the errno its type and code stand for and who sent it (as
 * probe.c says it for the probes' own sockets). */
static void lookup_icmp_origin(struct resolv_lookup *l, int fd, int *err)
{
    struct errq_msg m;
    int got = 0, af, e;
    const void *a;

    for (int i = 0; i < 8 && (got = errq_read(fd, &m)) > 0; i++)
        if (m.origin == SO_EE_ORIGIN_ICMP || m.origin == SO_EE_ORIGIN_ICMP6)
            break;
    if (got <= 0 || (m.origin != SO_EE_ORIGIN_ICMP && m.origin != SO_EE_ORIGIN_ICMP6)) {
        ns_unreachable(l, l->ns_idx, *err, false);
        return;
    }
    af = m.origin == SO_EE_ORIGIN_ICMP6 ? AF_INET6 : AF_INET;
    if ((e = icmp_error_errno(af, m.type, m.code)) != 0)
        *err = e;
    ns_unreachable(l, l->ns_idx, *err, false);
    l->err_icmp = true;
    l->err_icmp_type = m.type;
    l->err_icmp_code = m.code;
    a = m.offender.sa.sa_family == AF_INET6 ? (const void *)&m.offender.sin6.sin6_addr
                                            : (const void *)&m.offender.sin.sin_addr;
    if (!m.has_offender ||
        inet_ntop(m.offender.sa.sa_family, a, l->err_icmp_from, sizeof(l->err_icmp_from)) == NULL)
        l->err_icmp_from[0] = '\0';
    icmp_error_origin(af, m.type, m.code, l->err_icmp_from, l->err_icmp_words,
                      sizeof(l->err_icmp_words));
}

static void lookup_udp_cb(evutil_socket_t fd, short what, void *arg)
{
    static uint8_t dgram[65536];
    struct resolv_lookup *l = arg;

    (void)what;
    for (int i = 0; i < RESOLV_BURST; i++) {
        ssize_t n = recv(fd, dgram, sizeof(dgram), MSG_DONTWAIT);

        if (n < 0) {
            int err = errno;
            if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR)
                return;
            /* an ICMP error about our query (port unreachable: nothing
             * serves DNS there): this nameserver fails the UDP questions */
            lookup_icmp_origin(l, fd, &err);
            lookup_close_udp(l);
            for (size_t k = 0; k < l->nrq; k++)
                if (!l->rq[k].tcp)
                    l->rq[k].settled = true;
            lookup_check(l);
            return;
        }
        if (!lookup_message(l, dgram, (size_t)n, NULL))
            return;
        if (l->udp_fd != fd)
            return; /* moved on to another nameserver */
    }
}

static void lookup_tcp_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rq *q = arg;
    struct resolv_lookup *l = q->l;
    size_t total = 2 + q->q.wire_len;

    if (!q->tcp_connected && (what & EV_WRITE)) {
        int err = 0;
        socklen_t elen = sizeof(err);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
            err = errno;
        if (err == EINPROGRESS)
            return;
        if (err != 0) {
            rq_tcp_failed(q, err);
            lookup_check(l);
            return;
        }
        q->tcp_connected = true;
    }
    if (q->tcp_connected && q->out_sent < total) {
        switch (dns_tcp_send(fd, &q->q, &q->out_sent)) {
        case 0:
            return; /* EV_WRITE again */
        case -1:
            rq_tcp_failed(q, errno);
            lookup_check(l);
            return;
        default:
            l->sent++;
            if (!lookup_watch(l, q->ev_tcp, fd, EV_READ, lookup_tcp_cb, q)) {
                rq_tcp_failed(q, ENOMEM);
                lookup_check(l);
            }
            return;
        }
    }
    if (!(what & EV_READ))
        return;
    for (int i = 0; i < RESOLV_BURST; i++) {
        size_t len = 0;

        switch (dns_tcp_recv(fd, &q->in, q->buf, &len)) {
        case DNS_TCP_AGAIN:
            return;
        case DNS_TCP_ERROR:
            rq_tcp_failed(q, errno);
            lookup_check(l);
            return;
        case DNS_TCP_CLOSED:
            rq_tcp_failed(q, 0);
            lookup_check(l);
            return;
        case DNS_TCP_EMPTY:
            l->ignored++;
            l->last_reject = DNS_REJECT_UNPARSABLE;
            break;
        case DNS_TCP_PARTIAL:
        case DNS_TCP_LENGTH: /* q->buf holds DNS_MSG_MAX */
            break;
        case DNS_TCP_MESSAGE:
            if (!lookup_message(l, q->buf, len, q) || q->tcp_fd != fd)
                return;
            break;
        }
    }
}

/* The current nameserver had its time: what it did not settle, it failed. */
static void lookup_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct resolv_lookup *l = arg;

    (void)fd;
    (void)what;
    l->timed_out = true;
    lookup_advance(l);
}

/* An address literal, answered without asking anyone. */
static bool lookup_literal(const char *name, int family, struct resolv_result *res)
{
    uint8_t a[16];

    result_init(res, RESOLV_OK);
    if (family != AF_INET6 && inet_pton(AF_INET, name, a) == 1) {
        result_add(res, false, a);
        return true;
    }
    if (family != AF_INET && inet_pton(AF_INET6, name, a) == 1) {
        result_add(res, true, a);
        return true;
    }
    return false;
}

/* A name in the hosts file: answered from it alone. */
static bool lookup_hosts(const struct resolv_conf *c, const char *name, int family,
                         struct resolv_result *res)
{
    size_t len = strlen(name);
    uint32_t i = hosts_find(c, name, len, resolv_hash(name, len));

    if (i == 0)
        return false;
    result_init(res, RESOLV_OK);
    res->hosts = true;
    for (int pass = 0; pass < 2; pass++) { /* IPv4 first, then IPv6 */
        bool v6 = pass == 1;
        if ((v6 && family == AF_INET) || (!v6 && family == AF_INET6))
            continue;
        for (uint32_t k = c->names[i - 1].head; k != 0; k = c->addrs[k - 1].next)
            if (c->addrs[k - 1].af_v6 == v6)
                result_add(res, v6, c->addrs[k - 1].addr);
    }
    if (res->naddrs == 0) {
        res->status = RESOLV_NOFAMILY;
        fmt(res->detail, sizeof(res->detail), "%s: in the hosts file, but with no %s address", name,
            family == AF_INET6 ? "IPv6" : "IPv4");
    }
    return true;
}

struct resolv_lookup *resolv_lookup_start(struct resolv *r, const char *name, int family,
                                          resolv_cb cb, void *arg)
{
    struct resolv_result res;
    struct resolv_lookup *l;
    size_t evsize = event_get_struct_event_size(), dots = 0, len = strlen(name);
    struct resolv_conf *c = r->conf;

    if (lookup_literal(name, family, &res) || lookup_hosts(c, name, family, &res)) {
        cb(&res, arg);
        return NULL;
    }
    if (len == 0 || len > DNS_NAME_WIRE_MAX - 2 || (len == 1 && name[0] == '.')) {
        result_init(&res, RESOLV_DNS);
        res.outcome = DNS_NXDOMAIN;
        fmt(res.detail, sizeof(res.detail), "\"%.100s\" cannot be a DNS name", name);
        cb(&res, arg);
        return NULL;
    }
    l = calloc(1, sizeof(*l) + 4 * evsize);
    if (l == NULL) {
        result_init(&res, RESOLV_ERRNO);
        res.err = ENOMEM;
        fmt(res.detail, sizeof(res.detail), "resolving %.100s: out of memory", name);
        cb(&res, arg);
        return NULL;
    }
    l->r = r;
    l->conf = c;
    c->refs++;
    l->cb = cb;
    l->arg = arg;
    l->udp_fd = -1;
    l->ev_udp = (struct event *)(l + 1);
    l->ev_timer = (struct event *)((char *)(l + 1) + evsize);
    event_assign(l->ev_udp, r->base, -1, 0, lookup_udp_cb, l);
    /* the default priority, after the sockets': an answer that came is
     * read before the wait for it is judged over */
    evtimer_assign(l->ev_timer, r->base, lookup_timer_cb, l);
    for (size_t i = 0; i < 2; i++) {
        struct rq *q = &l->rq[i];
        q->l = l;
        q->tcp_fd = -1;
        q->ev_tcp = (struct event *)((char *)(l + 1) + (2 + i) * evsize);
        event_assign(q->ev_tcp, r->base, -1, 0, lookup_tcp_cb, q);
    }
    memcpy(l->name, name, len + 1);
    if (name[len - 1] == '.') {
        l->absolute = true;
        l->name[--len] = '\0';
    }
    l->namelen = len;
    for (size_t i = 0; i < len; i++)
        dots += name[i] == '.';
    l->as_is_first = l->absolute || dots >= (size_t)c->ndots;
    l->ncand = 1 + (l->absolute ? 0 : c->nsearch);
    if (family != AF_INET6)
        l->rq[l->nrq++].v6 = false;
    if (family != AF_INET)
        l->rq[l->nrq++].v6 = true;
    l->ns_first = c->rotate ? r->rotate_next++ % (unsigned)c->nns : 0;
    l->next = r->head;
    if (r->head != NULL)
        r->head->prev = l;
    r->head = l;
    /* the look-up may end at once (no nameserver can be reached): then it
     * is freed and its callback has run */
    return lookup_next_name(l) ? l : NULL;
}
