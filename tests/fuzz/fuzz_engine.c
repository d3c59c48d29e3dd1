/* SPDX-License-Identifier: ISC */
/* libFuzzer target: a whole netdiag.ini through config_load() and, when it
 * loads, through the real probe engine (probe.c and the kinds) as
 * `netdiagd --once` runs it, on a private event_base, against peers and a
 * name server this harness runs on loopback inside the same loop; then
 * what --once promises checked: every target ends, in bounded time, with
 * exactly the results its addresses call for, each one classified, and
 * nothing (memory, sockets) is left behind.
 *
 * Nothing leaves the machine, whatever the input says:
 *   - where it can, the harness runs in a network namespace of its own
 *     (unshare(2): a user and a network namespace, only lo in it), so
 *     nothing it sends can reach any other host or program; the rest holds
 *     everywhere, namespace or not:
 *   - the engine's resolver (resolv.c) reads only this harness's hosts file
 *     and resolv.conf, whose one nameserver is the harness's on 127.0.0.1,
 *     which answers with loopback addresses only (or an error, or nothing:
 *     the name picks); `server = system` asks it too;
 *   - an address literal that is not loopback becomes 127.0.0.1 or ::1
 *     (the engine and its resolver read literals with inet_pton only:
 *     "127.0.0.063" or "fe80::1%eth0" are names to them, asked of the
 *     harness's nameserver);
 *   - every port becomes one of the harness's (echo, accept-and-close,
 *     refused, the name server), so no other program on the machine is
 *     sent a fuzzed byte; so does a resolve target's server;
 *   - timeouts become 1-8 ms, so a run is short and races every step;
 *   - and every result's remote address is checked to be loopback.
 * Inputs that set `include` are skipped (fuzz_config covers includes; here
 * they could only read files), as are configs of more than
 * FUZZ_MAX_TARGETS targets (the engine's bounds are the bench's work). */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdbool.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/util.h>

#include "config.h"
#include "fuzz.h"
#include "log.h"
#include "probe.h"
#include "resolv.h"
#include "result.h"
#include "util.h"
#include "wsa.h"

#define FUZZ_MAX_TARGETS 48
#define FUZZ_MAX_CONNS   64   /* accepted connections held per input */
#define FUZZ_GUARD_MS    3000 /* the engine must be done long before */

/* The harness's ports, by role; a target's port p becomes fuzz_port[p % 4]. */
enum fuzz_role {
    ROLE_ECHO,    /* TCP: echoes what it reads; UDP: every datagram back */
    ROLE_CLOSE,   /* TCP: accepts and closes; UDP: bound, never read */
    ROLE_REFUSED, /* TCP: bound, not listening (RST); UDP: nothing (ICMP) */
    ROLE_DNS,     /* UDP: the name server below; TCP: accepts and closes */
    ROLE_N,
};

/* How the name server answers a name (FUZZ_NAMES, else a hash picks). */
enum fuzz_answer {
    ANS_BOTH,   /* A 127.0.0.1, AAAA ::1 */
    ANS_V4,     /* A 127.0.0.2; no AAAA */
    ANS_V6,     /* AAAA ::1; no A */
    ANS_MULTI,  /* A 127.0.0.1 127.0.0.2 127.0.0.3, AAAA ::1 */
    ANS_NODATA, /* NOERROR, nothing */
    ANS_NXDOMAIN,
    ANS_SERVFAIL,
    ANS_REFUSED,
    ANS_SILENT,
    ANS_TC,      /* an empty answer with TC set */
    ANS_CNAME,   /* CNAME ok.test, A 127.0.0.1 */
    ANS_WRONGID, /* the right answer with the ID + 1 */
    ANS_GARBAGE, /* our ID, then bytes that do not parse */
    ANS_N,
};

static const struct {
    const char *name;
    enum fuzz_answer ans;
} fuzz_names[] = {
    {"ok.test", ANS_BOTH},         {"v4.test", ANS_V4},           {"v6.test", ANS_V6},
    {"multi.test", ANS_MULTI},     {"nodata.test", ANS_NODATA},   {"nx.test", ANS_NXDOMAIN},
    {"fail.test", ANS_SERVFAIL},   {"refused.test", ANS_REFUSED}, {"silent.test", ANS_SILENT},
    {"tc.test", ANS_TC},           {"cname.test", ANS_CNAME},     {"wrongid.test", ANS_WRONGID},
    {"garbage.test", ANS_GARBAGE},
};

/* The engine's hosts file: localhost as on a machine without
 * "::1 localhost", names with the other family, both, three addresses. */
static const char fuzz_hosts_text[] = "127.0.0.1 localhost\n"
                                      "::1 v6only.hosts\n"
                                      "127.0.0.1 dual.hosts\n"
                                      "::1 dual.hosts\n"
                                      "127.0.0.1 multi.hosts\n"
                                      "127.0.0.2 multi.hosts\n"
                                      "::1 multi.hosts\n";

static struct {
    int cfg_fd, hosts_fd, resolv_fd;
    char cfg_path[64], hosts_path[64], resolv_path[64];
    FILE *devnull;
    uint16_t port[ROLE_N];
    int tcp[ROLE_N][2]; /* [role][0: 127.0.0.1, 1: ::1], -1 when none */
    int udp[ROLE_N][2];
    bool warm;    /* fuzz_warm_up() has run */
    bool netns;   /* in a network namespace of its own */
    bool verbose; /* NETDIAG_FUZZ_VERBOSE set: every result to stderr */
} fz;

/* What one input's run collects. */
struct fuzz_run {
    struct config *cfg;
    struct event_base *base;
    unsigned *results; /* per target */
    bool *resolve_failed;
    size_t nresults;
    bool guard_fired;
    int conns[FUZZ_MAX_CONNS];
    struct event *conn_ev[FUZZ_MAX_CONNS];
    size_t nconns;
};

/* Open descriptors (less the directory's own); `show`: each to stderr. */
static int fuzz_count_fds(bool show)
{
    DIR *d = opendir("/proc/self/fd");
    const struct dirent *e;
    int n = 0;

    if (d == NULL)
        abort();
    while ((e = readdir(d)) != NULL) {
        char path[300], target[256];
        ssize_t len;
        if (e->d_name[0] == '.')
            continue;
        n++;
        if (!show)
            continue;
        snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
        len = readlink(path, target, sizeof(target) - 1);
        target[len > 0 ? len : 0] = '\0';
        fprintf(stderr, "  fd %s -> %s\n", e->d_name, target);
    }
    closedir(d);
    return n - 1;
}

static int fuzz_socket(int family, int type, uint16_t port, bool listening)
{
    union nd_sockaddr sa;
    socklen_t len;
    int one = 1;
    int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    memset(&sa, 0, sizeof(sa));
    if (family == AF_INET) {
        sa.sin.sin_family = AF_INET;
        sa.sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sa.sin.sin_port = htons(port);
        len = sizeof(sa.sin);
    } else {
        sa.sin6.sin6_family = AF_INET6;
        sa.sin6.sin6_addr = in6addr_loopback;
        sa.sin6.sin6_port = htons(port);
        len = sizeof(sa.sin6);
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, &sa.sa, len) < 0 || (listening && listen(fd, 128) < 0)) {
        close(fd);
        return -1;
    }
    return fd;
}

static uint16_t fuzz_port_of(int fd)
{
    union nd_sockaddr sa;
    socklen_t len = sizeof(sa);

    memset(&sa, 0, sizeof(sa));
    if (getsockname(fd, &sa.sa, &len) < 0)
        abort();
    return ntohs(sa.sin.sin_port); /* same offset in sin6 */
}

/* One port number per role, the same on 127.0.0.1 and ::1, TCP and UDP as
 * the role says; tried until a free number is found. */
static void fuzz_bind_role(enum fuzz_role role)
{
    for (int attempt = 0; attempt < 100; attempt++) {
        int t4 = fuzz_socket(AF_INET, SOCK_STREAM, 0, role != ROLE_REFUSED);
        uint16_t port;
        bool ok = true;

        if (t4 < 0)
            abort();
        port = fuzz_port_of(t4);
        fz.tcp[role][0] = t4;
        fz.tcp[role][1] = fuzz_socket(AF_INET6, SOCK_STREAM, port, role != ROLE_REFUSED);
        fz.udp[role][0] = fz.udp[role][1] = -1;
        if (role != ROLE_REFUSED) {
            fz.udp[role][0] = fuzz_socket(AF_INET, SOCK_DGRAM, port, false);
            fz.udp[role][1] = fuzz_socket(AF_INET6, SOCK_DGRAM, port, false);
            ok = fz.udp[role][0] >= 0;
        }
        if (ok) {
            fz.port[role] = port;
            return;
        }
        for (int i = 0; i < 2; i++) {
            if (fz.tcp[role][i] >= 0)
                close(fz.tcp[role][i]);
            if (fz.udp[role][i] >= 0)
                close(fz.udp[role][i]);
        }
    }
    fprintf(stderr, "fuzz_engine: no free loopback port\n");
    abort();
}

static bool fuzz_write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    bool ok = fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text);

    if (fd >= 0)
        close(fd);
    return ok;
}

/* A network namespace of the harness's own, with only lo (brought up):
 * as root a network namespace alone, otherwise inside a user namespace
 * mapping this uid to root. libFuzzer calls LLVMFuzzerInitialize before it
 * starts a thread, which unshare(CLONE_NEWUSER) needs. */
static bool fuzz_enter_netns(void)
{
    uid_t uid = geteuid();
    gid_t gid = getegid();
    struct ifreq ifr;
    char map[64];
    int s;
    bool up;

    if (unshare(CLONE_NEWNET) < 0) {
        if (unshare(CLONE_NEWUSER | CLONE_NEWNET) < 0)
            return false;
        snprintf(map, sizeof(map), "0 %u 1", (unsigned)uid);
        if (!fuzz_write_file("/proc/self/setgroups", "deny") ||
            !fuzz_write_file("/proc/self/uid_map", map))
            abort(); /* half in: files written now would belong to nobody */
        snprintf(map, sizeof(map), "0 %u 1", (unsigned)gid);
        if (!fuzz_write_file("/proc/self/gid_map", map))
            abort();
    }
    s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    memset(&ifr, 0, sizeof(ifr));
    memcpy(ifr.ifr_name, "lo", 3);
    up = s >= 0 && ioctl(s, SIOCGIFFLAGS, &ifr) == 0 &&
         (ifr.ifr_flags |= IFF_UP, ioctl(s, SIOCSIFFLAGS, &ifr) == 0);
    if (s >= 0)
        close(s);
    if (!up) {
        perror("fuzz_engine: bringing lo up in the new network namespace");
        abort();
    }
    return true;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_init(LOG_LEVEL_ERROR);
    fz.netns = fuzz_enter_netns();
    if (!fz.netns)
        fprintf(stderr,
                "fuzz_engine: no network namespace (%s); the config rewriting alone "
                "keeps the probes on loopback\n",
                strerror(errno));
    fz.cfg_fd = memfd_create("netdiag-fuzz-engine.ini", MFD_CLOEXEC);
    fz.hosts_fd = memfd_create("netdiag-fuzz-engine.hosts", MFD_CLOEXEC);
    fz.resolv_fd = memfd_create("netdiag-fuzz-engine.resolv", MFD_CLOEXEC);
    fz.devnull = fopen("/dev/null", "we");
    if (fz.cfg_fd < 0 || fz.hosts_fd < 0 || fz.resolv_fd < 0 || fz.devnull == NULL ||
        write(fz.hosts_fd, fuzz_hosts_text, sizeof(fuzz_hosts_text) - 1) !=
            (ssize_t)(sizeof(fuzz_hosts_text) - 1)) {
        perror("fuzz_engine: setup");
        abort();
    }
    snprintf(fz.cfg_path, sizeof(fz.cfg_path), "/proc/self/fd/%d", fz.cfg_fd);
    snprintf(fz.hosts_path, sizeof(fz.hosts_path), "/proc/self/fd/%d", fz.hosts_fd);
    snprintf(fz.resolv_path, sizeof(fz.resolv_path), "/proc/self/fd/%d", fz.resolv_fd);
    for (int r = 0; r < ROLE_N; r++)
        fuzz_bind_role((enum fuzz_role)r);
    /* its nameserver: ours (an address:port, as the resolver reads it) */
    if (dprintf(fz.resolv_fd, "nameserver 127.0.0.1:%u\n", fz.port[ROLE_DNS]) < 0)
        abort();
    fz.verbose = getenv("NETDIAG_FUZZ_VERBOSE") != NULL;
    return 0;
}

static int fuzz_one(const uint8_t *data, size_t size);

/* Whether a line sets `include` to something (an empty value is fine):
 * the config then lives in a memfd, and an include would read whatever
 * file the input names, /proc/self/fd/0 among them. */
static bool fuzz_includes(const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *end = data + size;

    while (p < end) {
        const uint8_t *eol = memchr(p, '\n', (size_t)(end - p));
        const uint8_t *q = p;
        if (eol == NULL)
            eol = end;
        while (q < eol && (*q == ' ' || *q == '\t'))
            q++;
        if (eol - q >= 7 && memcmp(q, "include", 7) == 0) {
            q += 7;
            while (q < eol && (*q == ' ' || *q == '\t' || *q == '='))
                q++;
            if (q < eol && *q != '\r' && *q != ';' && *q != '#')
                return true;
        }
        p = eol + 1;
    }
    return false;
}

/* One run before any input, so that what libevent and libc open once and
 * keep is open before descriptors are counted. */
static void fuzz_warm_up(void)
{
    static const char warm[] = "[target a]\nkind = connect\nhost = dual.hosts\nport = 1\n"
                               "addresses = all\n[target b]\nkind = send\nhost = ok.test\n"
                               "port = 4\npayload = x\nexpect = x\n[target c]\n"
                               "kind = resolve\nname = ok.test\nserver = 127.0.0.1:3\n";

    fuzz_one((const uint8_t *)warm, sizeof(warm) - 1);
    fz.warm = true;
}

/* --- the name server -------------------------------------------------- */

static enum fuzz_answer fuzz_answer_for(const char *name)
{
    uint32_t h = 2166136261u; /* FNV-1a */

    for (size_t i = 0; i < sizeof(fuzz_names) / sizeof(fuzz_names[0]); i++)
        if (strcasecmp(name, fuzz_names[i].name) == 0)
            return fuzz_names[i].ans;
    for (const char *s = name; *s; s++)
        h = (h ^ (uint8_t)(*s | 0x20)) * 16777619u;
    return (enum fuzz_answer)(h % ANS_N);
}

/* Addresses the server gives a name for a family, to bound the results. */
static unsigned fuzz_dns_addrs(enum fuzz_answer a, enum family fam)
{
    unsigned v4 = 0, v6 = 0;

    switch (a) {
    case ANS_BOTH:
        v4 = v6 = 1;
        break;
    case ANS_V4:
    case ANS_CNAME:
        v4 = 1;
        break;
    case ANS_V6:
        v6 = 1;
        break;
    case ANS_MULTI:
        v4 = 3;
        v6 = 1;
        break;
    default:
        break;
    }
    return fam == FAMILY_IPV4 ? v4 : fam == FAMILY_IPV6 ? v6 : v4 + v6;
}

static size_t fuzz_put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return 2;
}

/* One record whose owner is the question name (pointer to offset 12). */
static size_t fuzz_put_rr(uint8_t *p, unsigned type, const void *rdata, unsigned rdlen)
{
    size_t n = 0;

    n += fuzz_put16(p + n, 0xc00c);
    n += fuzz_put16(p + n, type);
    n += fuzz_put16(p + n, 1); /* IN */
    n += fuzz_put16(p + n, 0);
    n += fuzz_put16(p + n, 60); /* TTL */
    n += fuzz_put16(p + n, rdlen);
    memcpy(p + n, rdata, rdlen);
    return n + rdlen;
}

static void fuzz_dns_cb(evutil_socket_t fd, short what, void *arg)
{
    uint8_t q[512], r[1024];
    char name[256];
    struct sockaddr_storage peer;
    socklen_t plen = sizeof(peer);
    ssize_t n;
    size_t off = 12, nl = 0, rlen, an = 0;
    unsigned qtype, rcode = 0;
    enum fuzz_answer a;

    (void)what;
    (void)arg;
    n = recvfrom(fd, q, sizeof(q), MSG_DONTWAIT, (struct sockaddr *)&peer, &plen);
    if (n < 12 || (q[2] & 0x80)) /* not a query */
        return;
    /* the question: labels, no compression in a query */
    while (off < (size_t)n && q[off] != 0) {
        size_t l = q[off];
        if (l > 63 || off + 1 + l >= (size_t)n || nl + l + 1 >= sizeof(name))
            return;
        if (nl > 0)
            name[nl++] = '.';
        memcpy(name + nl, q + off + 1, l);
        nl += l;
        off += 1 + l;
    }
    name[nl] = '\0';
    if (off + 5 > (size_t)n)
        return;
    qtype = (unsigned)q[off + 1] << 8 | q[off + 2];
    off += 5;
    a = fuzz_answer_for(name);
    if (a == ANS_SILENT)
        return;
    memcpy(r, q, off);                      /* header and question */
    r[2] = (uint8_t)(0x80 | (q[2] & 0x01)); /* QR, RD as asked */
    r[3] = 0x80;                            /* RA */
    fuzz_put16(r + 4, 1);
    memset(r + 6, 0, 6);
    rlen = off;
    switch (a) {
    case ANS_NXDOMAIN:
        rcode = 3;
        break;
    case ANS_SERVFAIL:
        rcode = 2;
        break;
    case ANS_REFUSED:
        rcode = 5;
        break;
    case ANS_TC:
        r[2] |= 0x02;
        break;
    case ANS_GARBAGE:
        fuzz_put16(r + 6, 3); /* three answers promised, none there */
        r[rlen++] = 0xc0;     /* an owner name, then the record is cut */
        r[rlen++] = 0x0c;
        r[rlen++] = 0xff;
        break;
    case ANS_CNAME: {
        static const uint8_t target[] = "\x02ok\x04test";
        static const uint8_t lo4[] = {127, 0, 0, 1};
        rlen += fuzz_put_rr(r + rlen, 5, target, sizeof(target));
        an++;
        if (qtype == 1) {
            rlen += fuzz_put_rr(r + rlen, 1, lo4, 4);
            an++;
        }
        break;
    }
    default: {
        static const uint8_t lo6[16] = {[15] = 1};
        unsigned nv4 = fuzz_dns_addrs(a, FAMILY_IPV4), nv6 = fuzz_dns_addrs(a, FAMILY_IPV6);
        for (unsigned i = 0; qtype == 1 && i < nv4; i++) {
            const uint8_t v4[4] = {127, 0, 0, (uint8_t)(a == ANS_V4 ? 2 : i + 1)};
            rlen += fuzz_put_rr(r + rlen, 1, v4, 4);
            an++;
        }
        if (qtype == 28 && nv6 > 0) {
            rlen += fuzz_put_rr(r + rlen, 28, lo6, 16);
            an++;
        }
        break;
    }
    }
    if (a == ANS_WRONGID)
        fuzz_put16(r, ((unsigned)q[0] << 8 | q[1]) + 1);
    r[3] |= (uint8_t)rcode;
    if (a != ANS_GARBAGE)
        fuzz_put16(r + 6, (unsigned)an);
    sendto(fd, r, rlen, MSG_DONTWAIT, (struct sockaddr *)&peer, plen);
}

/* --- the other peers -------------------------------------------------- */

static void fuzz_udp_echo_cb(evutil_socket_t fd, short what, void *arg)
{
    uint8_t buf[2048];
    struct sockaddr_storage peer;
    socklen_t plen = sizeof(peer);
    ssize_t n;

    (void)what;
    (void)arg;
    n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&peer, &plen);
    if (n >= 0)
        sendto(fd, buf, (size_t)n, MSG_DONTWAIT, (struct sockaddr *)&peer, plen);
}

static void fuzz_conn_close(struct fuzz_run *run, size_t i)
{
    if (run->conns[i] < 0)
        return;
    event_free(run->conn_ev[i]);
    close(run->conns[i]);
    run->conns[i] = -1;
}

static void fuzz_echo_conn_cb(evutil_socket_t fd, short what, void *arg)
{
    struct fuzz_run *run = arg;
    uint8_t buf[4096];
    ssize_t n;

    (void)what;
    n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n > 0) {
        send(fd, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL); /* what fits */
        return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    for (size_t i = 0; i < run->nconns; i++)
        if (run->conns[i] == fd)
            fuzz_conn_close(run, i);
}

static void fuzz_accept_cb(evutil_socket_t fd, short what, void *arg)
{
    struct fuzz_run *run = arg;
    int c;

    (void)what;
    while ((c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        bool echo = fd == fz.tcp[ROLE_ECHO][0] || fd == fz.tcp[ROLE_ECHO][1];
        if (!echo || run->nconns == FUZZ_MAX_CONNS) {
            close(c);
            continue;
        }
        run->conns[run->nconns] = c;
        run->conn_ev[run->nconns] =
            event_new(run->base, c, EV_READ | EV_PERSIST, fuzz_echo_conn_cb, run);
        if (run->conn_ev[run->nconns] == NULL || event_add(run->conn_ev[run->nconns], NULL) < 0)
            abort();
        run->nconns++;
    }
}

/* UDP sent to the accept-and-close port is never read; empty it between
 * inputs so that it cannot fill up. */
static void fuzz_drain(int fd)
{
    uint8_t buf[2048];

    while (fd >= 0 && recv(fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
        ;
}

/* --- keeping the input on loopback ------------------------------------- */

static bool fuzz_is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return false;
}

/* The text of a remote address in a result ("127.0.0.1:80", "[::1]:53"). */
static bool fuzz_text_is_loopback(const char *s)
{
    struct sockaddr_storage ss;
    socklen_t len;
    char err[8];

    if (s[0] == '\0')
        return true;
    return util_parse_sockaddr(s, 1, &ss, &len, err, sizeof(err)) == 0 &&
           fuzz_is_loopback((const struct sockaddr *)&ss);
}

static void fuzz_replace(char **field, const char *v)
{
    char *n = strdup(v);

    if (n == NULL)
        abort();
    free(*field);
    *field = n;
}

static uint16_t fuzz_clamp_port(unsigned port)
{
    return fz.port[port % ROLE_N];
}

static void fuzz_clamp_sockaddr(union nd_sockaddr *sa)
{
    unsigned port = ntohs(sa->sin.sin_port);

    if (!fuzz_is_loopback(&sa->sa)) {
        if (sa->sa.sa_family == AF_INET)
            sa->sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        else
            sa->sin6.sin6_addr = in6addr_loopback;
    }
    sa->sin.sin_port = htons(fuzz_clamp_port(port)); /* same offset in sin6 */
}

static void fuzz_clamp_target(struct target *t)
{
    struct sockaddr_storage ss;
    socklen_t len;
    char err[8];

    /* 1-8 ms: short runs, and deadlines that race every step */
    t->timeout_ms = 1 + t->timeout_ms % 8;
    if (t->kind == KIND_RESOLVE) {
        /* server = system asks the harness's resolv.conf: its nameserver */
        if (!t->server_system)
            fuzz_clamp_sockaddr(&t->server);
        return;
    }
    t->port = fuzz_clamp_port(t->port);
    if (util_parse_sockaddr(t->host, 0, &ss, &len, err, sizeof(err)) == 0 &&
        !fuzz_is_loopback((const struct sockaddr *)&ss))
        fuzz_replace(&t->host, ss.ss_family == AF_INET ? "127.0.0.1" : "::1");
}

/* How many results a target may give: [min, max]. */
static void fuzz_expected(const struct target *t, unsigned *min, unsigned *max)
{
    static const struct {
        const char *name;
        unsigned v4, v6;
    } hosts[] = {
        {"localhost", 1, 0}, {"v6only.hosts", 0, 1}, {"dual.hosts", 1, 1}, {"multi.hosts", 2, 1}};
    struct sockaddr_storage ss;
    socklen_t len;
    char err[8];

    *min = *max = 1;
    if (t->kind == KIND_RESOLVE || t->addresses == ADDRSEL_FIRST ||
        util_parse_sockaddr(t->host, 0, &ss, &len, err, sizeof(err)) == 0)
        return;
    for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
        if (strcasecmp(t->host, hosts[i].name) == 0) {
            /* answered from the file at once: every address is probed */
            unsigned n = t->family == FAMILY_IPV4   ? hosts[i].v4
                         : t->family == FAMILY_IPV6 ? hosts[i].v6
                                                    : hosts[i].v4 + hosts[i].v6;
            *min = *max = n > 0 ? n : 1;
            return;
        }
    }
    /* from the name server: all of them, or one failure (the look-up
     * timed out or failed) */
    *max = fuzz_dns_addrs(fuzz_answer_for(t->host), t->family);
    if (*max == 0)
        *max = 1;
}

/* --- the run ----------------------------------------------------------- */

static void fuzz_sink(const struct result *r, void *arg)
{
    struct fuzz_run *run = arg;
    const struct target *t = r->target;
    size_t i;

    FUZZ_CHECK(t >= run->cfg->targets && t < run->cfg->targets + run->cfg->ntargets);
    i = (size_t)(t - run->cfg->targets);
    if (fz.verbose) {
        char line[1400];
        result_format_text(r, line, sizeof(line));
        fprintf(stderr, "%s\n", line);
    }
    run->results[i]++;
    run->nresults++;
    FUZZ_CHECK(fuzz_terminated(r->raw, sizeof(r->raw)));
    FUZZ_CHECK(fuzz_terminated(r->detail, sizeof(r->detail)));
    FUZZ_CHECK(fuzz_terminated(r->local, sizeof(r->local)));
    FUZZ_CHECK(fuzz_terminated(r->remote, sizeof(r->remote)));
    FUZZ_CHECK(r->latency_us >= 0);
    /* a result is ok exactly when its code is 0; a failure is classified */
    FUZZ_CHECK(r->ok == (r->wsa_code == 0));
    if (!r->ok) {
        FUZZ_CHECK(r->raw[0] != '\0');
        FUZZ_CHECK(r->phase != PHASE_NONE);
        FUZZ_CHECK(wsa_by_code(r->wsa_code) != NULL);
    }
    switch (t->kind) {
    case KIND_CONNECT:
        FUZZ_CHECK(r->phase == PHASE_RESOLVE || r->phase == PHASE_CONNECT);
        break;
    case KIND_RESOLVE:
        FUZZ_CHECK(r->phase == PHASE_RESOLVE || r->phase == PHASE_VERIFY);
        break;
    case KIND_SEND:
        break;
    case KIND_PING:
        FUZZ_CHECK(r->phase == PHASE_RESOLVE || r->phase == PHASE_SEND || r->phase == PHASE_RECV);
        FUZZ_CHECK(r->echo_recv <= r->echo_sent && r->echo_sent <= t->ping_count);
        FUZZ_CHECK(r->ok == (r->echo_recv > 0));
        break;
    }
    if (r->phase == PHASE_RESOLVE && t->kind != KIND_RESOLVE) {
        FUZZ_CHECK(!r->ok);
        run->resolve_failed[i] = true;
    }
    /* the harness promise: nothing was sent off the machine */
    FUZZ_CHECK(fuzz_text_is_loopback(r->remote));
}

static void fuzz_guard_cb(evutil_socket_t fd, short what, void *arg)
{
    struct fuzz_run *run = arg;

    (void)fd;
    (void)what;
    run->guard_fired = true;
    event_base_loopexit(run->base, NULL);
}

static void fuzz_run_config(struct config *cfg)
{
    struct fuzz_run run;
    struct event *peers[ROLE_N * 4], *guard;
    size_t npeers = 0;
    struct resolv *rs;
    struct engine *eng;
    char note[128];
    struct timeval tv = {FUZZ_GUARD_MS / 1000, (FUZZ_GUARD_MS % 1000) * 1000};

    memset(&run, 0, sizeof(run));
    run.cfg = cfg;
    run.results = calloc(cfg->ntargets + 1, sizeof(*run.results));
    run.resolve_failed = calloc(cfg->ntargets + 1, sizeof(*run.resolve_failed));
    run.base = event_base_new();
    if (run.results == NULL || run.resolve_failed == NULL || run.base == NULL ||
        event_base_priority_init(run.base, ENGINE_PRIORITIES) < 0)
        abort();
    for (size_t i = 0; i < FUZZ_MAX_CONNS; i++)
        run.conns[i] = -1;
    /* the peers, on this input's loop */
    for (int role = 0; role < ROLE_N; role++) {
        for (int f = 0; f < 2; f++) {
            if (fz.tcp[role][f] >= 0 && role != ROLE_REFUSED)
                peers[npeers++] = event_new(run.base, fz.tcp[role][f], EV_READ | EV_PERSIST,
                                            fuzz_accept_cb, &run);
            if (fz.udp[role][f] >= 0 && role == ROLE_ECHO)
                peers[npeers++] = event_new(run.base, fz.udp[role][f], EV_READ | EV_PERSIST,
                                            fuzz_udp_echo_cb, &run);
            if (fz.udp[role][f] >= 0 && role == ROLE_DNS)
                peers[npeers++] =
                    event_new(run.base, fz.udp[role][f], EV_READ | EV_PERSIST, fuzz_dns_cb, &run);
        }
    }
    for (size_t i = 0; i < npeers; i++)
        if (peers[i] == NULL || event_add(peers[i], NULL) < 0)
            abort();
    /* the engine's resolver: this harness's hosts file and name server only */
    rs = resolv_new(run.base, resolv_conf_load(fz.resolv_path, fz.hosts_path, note, sizeof(note)),
                    ENGINE_PRIO_IO);
    if (rs == NULL || resolv_get_conf(rs) == NULL)
        abort();
    guard = evtimer_new(run.base, fuzz_guard_cb, &run);
    if (guard == NULL || evtimer_add(guard, &tv) < 0)
        abort();

    eng = probe_engine_new(run.base, rs, fuzz_sink, &run);
    FUZZ_CHECK(probe_engine_set_targets(eng, cfg, true) == 0);
    event_base_dispatch(run.base);
    /* --once ends by itself when every target has its results */
    FUZZ_CHECK(!run.guard_fired);
    FUZZ_CHECK(probe_engine_idle(eng));
    for (size_t i = 0; i < cfg->ntargets; i++) {
        unsigned min, max;
        fuzz_expected(&cfg->targets[i], &min, &max);
        if (run.resolve_failed[i])
            min = max = 1; /* nothing was probed after the look-up failed */
        if (run.results[i] < min || run.results[i] > max) {
            fprintf(stderr, "target %s: %u results, want %u to %u\n", cfg->targets[i].name,
                    run.results[i], min, max);
            FUZZ_CHECK(run.results[i] >= min && run.results[i] <= max);
        }
    }

    /* main.c's order: the engine, the resolver, then the loop; the loop
     * does not run again (a look-up cancelled at its deadline must leave
     * nothing for it: evdns's did, more than 32 of them leaked) */
    probe_engine_free(eng);
    resolv_free(rs);
    event_free(guard);
    for (size_t i = 0; i < run.nconns; i++)
        fuzz_conn_close(&run, i);
    for (size_t i = 0; i < npeers; i++)
        event_free(peers[i]);
    event_base_free(run.base);
    free(run.results);
    free(run.resolve_failed);
    fuzz_drain(fz.udp[ROLE_CLOSE][0]);
    fuzz_drain(fz.udp[ROLE_CLOSE][1]);
}

static int fuzz_one(const uint8_t *data, size_t size)
{
    struct config *cfg;
    int nerrors = -1;

    if (fuzz_includes(data, size))
        return 0;
    if (ftruncate(fz.cfg_fd, 0) < 0 || pwrite(fz.cfg_fd, data, size, 0) != (ssize_t)size)
        abort();
    cfg = config_load(fz.cfg_path, fz.devnull, &nerrors);
    FUZZ_CHECK((cfg == NULL) == (nerrors > 0));
    if (cfg == NULL)
        return 0;
    if (cfg->ntargets > 0 && cfg->ntargets <= FUZZ_MAX_TARGETS) {
        /* counted per input: between inputs libFuzzer may start the
         * symbolizer (for NEW_FUNC lines), which keeps two pipes open */
        int before = fz.warm ? fuzz_count_fds(false) : -1;
        for (size_t i = 0; i < cfg->ntargets; i++)
            fuzz_clamp_target(&cfg->targets[i]);
        fuzz_run_config(cfg);
        /* every probe socket and accepted connection is closed again */
        if (before >= 0 && fuzz_count_fds(false) != before) {
            fprintf(stderr, "%d descriptors open, %d before the input:\n", fuzz_count_fds(true),
                    before);
            FUZZ_CHECK(fuzz_count_fds(false) == before);
        }
    }
    config_free(cfg);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fz.warm)
        fuzz_warm_up();
    return fuzz_one(data, size);
}

/* --- a mutator that knows the config's values -------------------------- */

/* libFuzzer's own byte mutations rarely turn "ipv4" into "ipv6" or one host
 * into another (an exact byte at an exact place), yet those are the
 * combinations the engine must survive. Half the mutations here replace
 * the value of a known key with another value of its kind, or add such a
 * line under a section header; the other half are libFuzzer's. The inputs
 * stay plain configs, so every crash file replays as it is. */
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);

static const char *const fuzz_v_family[] = {"any", "ipv4", "ipv6", NULL};
static const char *const fuzz_v_addresses[] = {"first", "all", NULL};
static const char *const fuzz_v_kind[] = {"connect", "resolve", "send", "ping", NULL};
static const char *const fuzz_v_count[] = {"1", "2", "5", "100", NULL};
static const char *const fuzz_v_spacing[] = {"1ms", "2ms", "200ms", NULL};
static const char *const fuzz_v_protocol[] = {"udp", "tcp", NULL};
static const char *const fuzz_v_host[] = {
    "127.0.0.1",    "::1",          "::ffff:127.0.0.1", "localhost",   "LOCALHOST",  "v6only.hosts",
    "dual.hosts",   "multi.hosts",  "ok.test",          "v4.test",     "v6.test",    "multi.test",
    "nodata.test",  "nx.test",      "fail.test",        "silent.test", "tc.test",    "cname.test",
    "garbage.test", "wrongid.test", "refused.test",     "127.1",       "localhost.", NULL};
static const char *const fuzz_v_type[] = {"A",   "AAAA", "MX",  "TXT", "ANY", "PTR",
                                          "SOA", "NS",   "SRV", "CAA", NULL};
static const char *const fuzz_v_server[] = {"system",      "127.0.0.1:7", "[::1]:7",
                                            "127.0.0.1:6", "127.0.0.1:4", NULL};
static const char *const fuzz_v_source[] = {"", "127.0.0.1", "::1", "192.0.2.1", "127.0.0.2", NULL};
static const char *const fuzz_v_timeout[] = {"1ms", "2ms", "5ms", "8ms", NULL};
static const char *const fuzz_v_port[] = {"4", "5", "6", "7", NULL};
static const char *const fuzz_v_expect[] = {"", "127.0.0.1", "::1", "x", "ping", "ok.test", NULL};
static const char *const fuzz_v_size[] = {"0", "1", "1400", "65507", "65508", "70000", NULL};

static const struct {
    const char *key;
    const char *const *values;
} fuzz_keys[] = {
    {"family", fuzz_v_family},     {"addresses", fuzz_v_addresses}, {"kind", fuzz_v_kind},
    {"protocol", fuzz_v_protocol}, {"host", fuzz_v_host},           {"name", fuzz_v_host},
    {"type", fuzz_v_type},         {"server", fuzz_v_server},       {"source", fuzz_v_source},
    {"timeout", fuzz_v_timeout},   {"port", fuzz_v_port},           {"expect", fuzz_v_expect},
    {"payload_size", fuzz_v_size}, {"count", fuzz_v_count},         {"spacing", fuzz_v_spacing},
    {"size", fuzz_v_size},
};
#define FUZZ_NKEYS (sizeof(fuzz_keys) / sizeof(fuzz_keys[0]))

static unsigned fuzz_rand(unsigned *state)
{
    *state = *state * 1103515245u + 12345u;
    return *state >> 16;
}

static const char *fuzz_pick(const char *const *values, unsigned *state)
{
    size_t n = 0;

    while (values[n] != NULL)
        n++;
    return n > 0 ? values[fuzz_rand(state) % n] : "";
}

/* Replace data[from, to) by `text`; 0 when the result would not fit. */
static size_t fuzz_splice(uint8_t *data, size_t size, size_t max_size, size_t from, size_t to,
                          const char *text)
{
    size_t len = strlen(text);

    if (size - (to - from) + len > max_size)
        return 0;
    memmove(data + from + len, data + to, size - to);
    for (size_t i = 0; i < len; i++) /* no NUL: the bytes go inside the input */
        data[from + i] = (uint8_t)text[i];
    return size - (to - from) + len;
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
    unsigned state = seed;
    size_t starts[512], n = 0, pick, eol;
    char line[96];

    if (fuzz_rand(&state) % 2 == 0)
        return LLVMFuzzerMutate(data, size, max_size);
    for (size_t i = 0; i < size && n < sizeof(starts) / sizeof(starts[0]); i++)
        if (i == 0 || data[i - 1] == '\n')
            starts[n++] = i;
    if (n == 0)
        return LLVMFuzzerMutate(data, size, max_size);
    pick = starts[fuzz_rand(&state) % n];
    for (eol = pick; eol < size && data[eol] != '\n'; eol++)
        ;
    if (data[pick] == '[') {
        /* a new "key = value" line under this section header */
        size_t k = fuzz_rand(&state) % FUZZ_NKEYS, out;
        snprintf(line, sizeof(line), "\n%s = %s", fuzz_keys[k].key,
                 fuzz_pick(fuzz_keys[k].values, &state));
        out = fuzz_splice(data, size, max_size, eol, eol, line);
        return out > 0 ? out : LLVMFuzzerMutate(data, size, max_size);
    }
    for (size_t k = 0; k < FUZZ_NKEYS; k++) {
        size_t klen = strlen(fuzz_keys[k].key), v;
        if (eol - pick <= klen || memcmp(data + pick, fuzz_keys[k].key, klen) != 0)
            continue;
        for (v = pick + klen; v < eol && (data[v] == ' ' || data[v] == '\t'); v++)
            ;
        if (v == eol || data[v] != '=')
            continue;
        for (v++; v < eol && (data[v] == ' ' || data[v] == '\t'); v++)
            ;
        {
            size_t out =
                fuzz_splice(data, size, max_size, v, eol, fuzz_pick(fuzz_keys[k].values, &state));
            return out > 0 ? out : LLVMFuzzerMutate(data, size, max_size);
        }
    }
    return LLVMFuzzerMutate(data, size, max_size);
}
