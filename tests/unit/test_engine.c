/* SPDX-License-Identifier: ISC */
/* Unit tests of the probe engine (daemon/probe.c) and its stub resolver
 * (daemon/resolv.c): the gate that holds scheduled starts back and the
 * schedule statistics, every answer a look-up can end in (the hosts file
 * without the family, NXDOMAIN, SERVFAIL, NODATA, silence, a truncated
 * answer whose TCP retry fails, search domains), answers from inside the
 * call, cancellation at reload, deadline and shutdown with nothing left
 * for the loop, and a socket libevent cannot watch. Real probes on
 * loopback, a fake nameserver on loopback, a real libevent loop. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "log.h"
#include "probe.h"
#include "resolv.h"
#include "unit.h"
#include "util.h"

struct run {
    bool gate_open;
    uint64_t results_closed; /* results that came while the gate was shut */
    uint64_t results_open;
    uint64_t refused;
};

static void sink(const struct result *r, void *arg)
{
    struct run *run = arg;

    if (run->gate_open)
        run->results_open++;
    else
        run->results_closed++;
    if (r->wsa_code == 10061)
        run->refused++;
}

static bool gate(void *arg)
{
    return ((struct run *)arg)->gate_open;
}

static void open_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ((struct run *)arg)->gate_open = true;
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopexit(arg, NULL);
}

/* A port nothing listens on: bound, then closed. */
static int closed_port(void)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;

    if (fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
        port = ntohs(sin.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static struct config *targets_config(int n, const char *interval)
{
    char path[] = "/tmp/test_engine.XXXXXX";
    int fd = mkstemp(path), port = closed_port(), nerr = 0;
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    struct config *cfg;

    if (f == NULL || port == 0)
        return NULL;

    fprintf(f,
            "[daemon]\ndatabase = /nonexistent/x.db\n[defaults]\ninterval = %s\n"
            "timeout = 40ms\n",
            interval);
    for (int i = 0; i < n; i++)
        fprintf(f, "[target t%03d]\nkind = connect\nhost = 127.0.0.1\nport = %d\n", i, port);
    fclose(f);
    cfg = config_load(path, stderr, &nerr);
    unlink(path);
    return cfg;
}

/* Starts the gate holds back wait (they are not started, nor dropped) and
 * count as late; once it opens every target runs. */
static void test_gate_holds_scheduled_starts(void)
{
    struct event_base *base = event_base_new();
    struct config *cfg = targets_config(20, "50ms");
    struct run run = {.gate_open = false};
    struct timeval open_at = {0, 300000}, stop_at = {0, 700000};
    struct event *ev_open = evtimer_new(base, open_cb, &run);
    struct event *ev_stop = evtimer_new(base, stop_cb, base);
    struct engine *eng = probe_engine_new(base, NULL, sink, &run);
    struct sched_stats ss;

    UNIT_CHECK(cfg != NULL);
    if (cfg == NULL)
        return;
    probe_engine_set_gate(eng, gate, &run);
    probe_engine_set_targets(eng, cfg, false);
    evtimer_add(ev_open, &open_at);
    evtimer_add(ev_stop, &stop_at);
    event_base_dispatch(base);
    probe_engine_schedule_stats(eng, &ss);

    UNIT_EQ_INT(run.results_closed, 0);
    /* 20 targets at 50 ms for the 400 ms the gate was open: ~160 */
    UNIT_CHECK(run.results_open >= 40);
    UNIT_EQ_INT(run.refused, run.results_open);
    UNIT_CHECK(ss.held >= 20);
    /* every first slot came within 50 ms and waited till 300 ms */
    UNIT_CHECK(ss.max_us >= 200000);

    probe_engine_stop(eng);
    probe_engine_free(eng);
    event_free(ev_open);
    event_free(ev_stop);
    config_free(cfg);
    event_base_free(base);
}

/* Without a gate nothing is held, every target runs on its interval. */
static void test_no_gate_runs_every_target(void)
{
    struct event_base *base = event_base_new();
    struct config *cfg = targets_config(20, "50ms");
    struct run run = {.gate_open = true};
    struct timeval stop_at = {0, 500000};
    struct event *ev_stop = evtimer_new(base, stop_cb, base);
    struct engine *eng = probe_engine_new(base, NULL, sink, &run);
    struct sched_stats ss;

    UNIT_CHECK(cfg != NULL);
    if (cfg == NULL)
        return;
    probe_engine_set_targets(eng, cfg, false);
    evtimer_add(ev_stop, &stop_at);
    event_base_dispatch(base);
    probe_engine_schedule_stats(eng, &ss);

    UNIT_EQ_INT(ss.held, 0);
    /* 500 ms at 50 ms: about 10 each, the first slot anywhere in the first
     * 50 ms; a loaded sanitizer build may lose a few */
    UNIT_CHECK(run.results_open >= 20 * 6);
    UNIT_CHECK(run.results_open <= 20 * 11);
    UNIT_EQ_INT(run.refused, run.results_open);
    UNIT_EQ_INT(ss.starts, run.results_open + probe_engine_in_flight(eng));
    /* a probe holds an I/O event only while it has a socket: 100,000
     * targets pay for the sockets open at once, not for one event each */
    for (size_t i = 0; i < cfg->ntargets; i++) {
        const struct probe *p = cfg->targets[i].probe;
        UNIT_CHECK(p != NULL && (p->fd >= 0 || p->ev_io == NULL));
    }

    probe_engine_stop(eng);
    probe_engine_free(eng);
    event_free(ev_stop);
    config_free(cfg);
    event_base_free(base);
}

/* ---- libevent's answers ---------------------------------------------- */

/* libevent's allocations, failing on demand (event_set_mem_functions is
 * set before libevent allocates anything). */
static bool mem_fail;

static void *mem_malloc(size_t n)
{
    return mem_fail ? NULL : malloc(n);
}

static void *mem_realloc(void *p, size_t n)
{
    return mem_fail ? NULL : realloc(p, n);
}

/* Results by target name, as the sink saw them. */
#define MAX_SEEN 64
struct seen {
    int n;
    char name[MAX_SEEN][32];
    struct result r[MAX_SEEN];
};

static void seen_sink(const struct result *r, void *arg)
{
    struct seen *s = arg;

    if (s->n < MAX_SEEN) {
        snprintf(s->name[s->n], sizeof(s->name[0]), "%s", r->target->name);
        s->r[s->n] = *r;
        s->r[s->n].target = NULL;
        s->n++;
    }
}

static const struct result *seen_get(const struct seen *s, const char *name)
{
    const struct result *found = NULL;
    int count = 0;

    for (int i = 0; i < s->n; i++)
        if (strcmp(s->name[i], name) == 0) {
            found = &s->r[i];
            count++;
        }
    if (count != 1)
        fprintf(stderr, "target %s: %d results, expected 1\n", name, count);
    return count == 1 ? found : NULL;
}

static char *write_temp(const char *text)
{
    static char path[64];
    int fd;

    snprintf(path, sizeof(path), "/tmp/test_engine.XXXXXX");
    fd = mkstemp(path);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
        perror("write_temp");
        abort();
    }
    close(fd);
    return path;
}

static struct config *config_from(const char *text)
{
    char *path = write_temp(text);
    int nerr = 0;
    struct config *cfg = config_load(path, stderr, &nerr);

    unlink(path);
    return cfg;
}

/* A fake nameserver on 127.0.0.1 in the test's own loop (UDP only),
 * answering by name: nx.test NXDOMAIN, fail.test SERVFAIL, empty.test
 * NOERROR without records, ok.test A 127.0.0.1, tc.test an empty answer
 * with TC (and no TCP listener: the retry is refused), silent.test
 * nothing, anything else NXDOMAIN. It keeps the names asked. */
struct fakens {
    int fd;
    struct sockaddr_in sin;
    struct event *ev;
    unsigned queries;
    char asked[64][64];
};

static void fakens_cb(evutil_socket_t fd, short what, void *arg)
{
    struct fakens *ns = arg;
    uint8_t q[512], out[600];
    struct sockaddr_storage from;
    socklen_t fl = sizeof(from);
    ssize_t n = recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fl);
    char name[256];
    size_t i = 12, o = 0, qend;
    int rcode = 0, answers = 0;

    (void)what;
    if (n < 17)
        return;
    ns->queries++;
    while (i < (size_t)n && q[i] != 0 && o + q[i] + 1 < sizeof(name)) {
        for (size_t k = 1; k <= q[i]; k++)
            name[o++] = (char)(q[i + k] | 0x20); /* evdns mixes the case */
        name[o++] = '.';
        i += q[i] + 1u;
    }
    name[o] = '\0';
    if (ns->queries <= 64)
        snprintf(ns->asked[ns->queries - 1], sizeof(ns->asked[0]), "%.60s", name);
    qend = i + 5;
    if (qend > (size_t)n)
        return;
    if (strcmp(name, "silent.test.") == 0)
        return;
    if (strcmp(name, "fail.test.") == 0)
        rcode = 2;
    else if (strcmp(name, "ok.test.") == 0 && q[qend - 3] == 1)
        answers = 1;
    else if (strcmp(name, "ok.test.") != 0 && strcmp(name, "empty.test.") != 0 &&
             strcmp(name, "tc.test.") != 0)
        rcode = 3;
    memcpy(out, q, qend);
    out[2] = (uint8_t)(0x80 | (q[2] & 0x01)); /* QR, RD echoed */
    if (strcmp(name, "tc.test.") == 0)
        out[2] |= 0x02;               /* TC */
    out[3] = (uint8_t)(0x80 | rcode); /* RA */
    out[6] = 0;
    out[7] = (uint8_t)answers;
    out[8] = out[9] = out[10] = out[11] = 0;
    if (answers) {
        static const uint8_t a[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1};
        memcpy(out + qend, a, sizeof(a));
        qend += sizeof(a);
    }
    sendto(fd, out, qend, 0, (struct sockaddr *)&from, fl);
}

static void fakens_start(struct fakens *ns, struct event_base *base)
{
    socklen_t len = sizeof(ns->sin);

    memset(ns, 0, sizeof(*ns));
    ns->sin.sin_family = AF_INET;
    ns->sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ns->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (ns->fd < 0 || bind(ns->fd, (struct sockaddr *)&ns->sin, sizeof(ns->sin)) < 0 ||
        getsockname(ns->fd, (struct sockaddr *)&ns->sin, &len) < 0) {
        perror("fakens");
        abort();
    }
    ns->ev = event_new(base, ns->fd, EV_READ | EV_PERSIST, fakens_cb, ns);
    event_add(ns->ev, NULL);
}

static void fakens_stop(struct fakens *ns)
{
    event_free(ns->ev);
    close(ns->fd);
}

static const char hosts_text[] = "127.0.0.1 v4only.test\n"
                                 "::1 v6only.test\n"
                                 "127.0.0.1 both.test\n"
                                 "::1 both.test\n";

/* A resolver that reads the test's own files: the hosts file above and a
 * resolv.conf naming `ns` (NULL: a closed port on 127.0.0.1) with `extra`
 * lines (search, options). */
static struct resolv *resolver_for(struct event_base *base, const struct fakens *ns,
                                   const char *extra)
{
    char conf[512], rpath[64], hpath[64], note[128];
    struct resolv_conf *c;
    struct resolv *r;

    snprintf(conf, sizeof(conf), "nameserver 127.0.0.1:%d\n%s",
             ns != NULL ? ntohs(ns->sin.sin_port) : closed_port(), extra);
    snprintf(rpath, sizeof(rpath), "%s", write_temp(conf));
    snprintf(hpath, sizeof(hpath), "%s", write_temp(hosts_text));
    c = resolv_conf_load(rpath, hpath, note, sizeof(note));
    unlink(rpath);
    unlink(hpath);
    r = c != NULL ? resolv_new(base, c, ENGINE_PRIO_IO) : NULL;
    if (r == NULL) {
        fprintf(stderr, "cannot set up the resolver\n");
        abort();
    }
    return r;
}

static void run_once(struct event_base *base, struct engine *eng, struct config *cfg)
{
    struct timeval limit = {10, 0};

    probe_engine_set_targets(eng, cfg, true);
    event_base_loopexit(base, &limit); /* a hang fails the test, never the run */
    event_base_dispatch(base);
}

/* A name the hosts file has only with the other family (libevent once
 * answered that with result 0 and a NULL list, which crashed the engine):
 * a resolve failure, WSANO_DATA, raw EAI_ADDRFAMILY, and the detail says
 * what happened; no nameserver is asked. A name the file has with the
 * family asked is answered from inside the call and the probe goes on to
 * connect. */
static void test_hosts_name_without_the_family(void)
{
    struct event_base *base = event_base_new();
    struct resolv *rs = resolver_for(base, NULL, "");
    struct seen seen = {0};
    struct engine *eng = probe_engine_new(base, rs, seen_sink, &seen);
    char text[2048];
    struct config *cfg;
    const struct result *r;
    int port = closed_port();

    snprintf(text, sizeof(text),
             "[daemon]\ndatabase = /nonexistent/x.db\n[defaults]\ntimeout = 2s\n"
             "[target c4v6]\nkind = connect\nhost = v4only.test\nport = %d\nfamily = ipv6\n"
             "[target c6v4]\nkind = connect\nhost = v6only.test\nport = %d\nfamily = ipv4\n"
             "[target s4v6]\nkind = send\nprotocol = udp\nhost = v4only.test\nport = %d\n"
             "payload = x\nfamily = ipv6\n"
             "[target r4v6]\nkind = resolve\nname = v4only.test\ntype = AAAA\nserver = system\n"
             "[target both]\nkind = connect\nhost = both.test\nport = %d\nfamily = ipv4\n",
             port, port, port, port);
    cfg = config_from(text);
    UNIT_CHECK(cfg != NULL);
    if (cfg == NULL)
        return;
    run_once(base, eng, cfg);
    UNIT_EQ_INT(seen.n, 5);
    for (int i = 0; i < 4; i++) {
        static const char *const names[] = {"c4v6", "c6v4", "s4v6", "r4v6"};
        r = seen_get(&seen, names[i]);
        UNIT_CHECK(r != NULL);
        if (r == NULL)
            continue;
        UNIT_EQ_INT(r->phase, PHASE_RESOLVE);
        UNIT_EQ_INT(r->wsa_code, 11004);
        UNIT_EQ_STR(r->raw, "EAI_ADDRFAMILY");
        UNIT_CHECK(strstr(r->detail, "in the hosts file, but with no IPv") != NULL);
    }
    r = seen_get(&seen, "c4v6");
    UNIT_CHECK(r != NULL && strcmp(r->detail, "v4only.test: in the hosts file, but with no IPv6 "
                                              "address") == 0);
    r = seen_get(&seen, "c6v4");
    UNIT_CHECK(r != NULL && strstr(r->detail, "no IPv4 address") != NULL);
    r = seen_get(&seen, "both");
    UNIT_CHECK(r != NULL && r->phase == PHASE_CONNECT && r->wsa_code == 10061);
    UNIT_EQ_INT(probe_engine_in_flight(eng), 0);

    probe_engine_free(eng);
    config_free(cfg);
    resolv_free(rs);
    event_base_free(base);
}

/* The nameserver's answers, each kept apart (evdns folded all but NXDOMAIN
 * into EAI_FAIL): NXDOMAIN 11001, SERVFAIL 11002 at once (not after a
 * timeout), NOERROR without records NODATA 11004 (also for server =
 * system), an address, silence ended by the probe's deadline (TIMEOUT
 * 11002), a truncated answer whose TCP retry is refused. Each failure
 * names the nameserver as its remote address. */
static void test_resolver_answers(void)
{
    struct event_base *base = event_base_new();
    struct fakens ns;
    struct resolv *rs;
    struct seen seen = {0};
    struct engine *eng;
    char text[2048], nsaddr[32];
    struct config *cfg;
    const struct result *r;
    int port = closed_port();

    fakens_start(&ns, base);
    rs = resolver_for(base, &ns, "");
    eng = probe_engine_new(base, rs, seen_sink, &seen);
    snprintf(nsaddr, sizeof(nsaddr), "127.0.0.1:%d", ntohs(ns.sin.sin_port));
    snprintf(text, sizeof(text),
             "[daemon]\ndatabase = /nonexistent/x.db\n[defaults]\ntimeout = 3s\nfamily = ipv4\n"
             "[target nx]\nkind = connect\nhost = nx.test\nport = %d\n"
             "[target fail]\nkind = connect\nhost = fail.test\nport = %d\n"
             "[target empty]\nkind = send\nprotocol = tcp\nhost = empty.test\nport = %d\n"
             "[target ok]\nkind = connect\nhost = ok.test\nport = %d\n"
             "[target silent]\nkind = connect\nhost = silent.test\nport = %d\ntimeout = 300ms\n"
             "[target rsilent]\nkind = resolve\nname = silent.test\ntype = A\nserver = system\n"
             "timeout = 300ms\n"
             "[target rempty]\nkind = resolve\nname = empty.test\ntype = A\nserver = system\n"
             "[target tc]\nkind = connect\nhost = tc.test\nport = %d\n",
             port, port, port, port, port, port);
    cfg = config_from(text);
    UNIT_CHECK(cfg != NULL);
    if (cfg == NULL)
        return;
    run_once(base, eng, cfg);
    UNIT_EQ_INT(seen.n, 8);
    r = seen_get(&seen, "nx");
    UNIT_CHECK(r != NULL && r->phase == PHASE_RESOLVE && r->wsa_code == 11001);
    UNIT_CHECK(r != NULL && strcmp(r->raw, "NXDOMAIN") == 0 && r->raw_value == 3);
    UNIT_CHECK(r != NULL && strcmp(r->remote, nsaddr) == 0);
    UNIT_CHECK(r != NULL &&
               strstr(r->detail, "resolving nx.test: NXDOMAIN from 127.0.0.1:") == r->detail);
    r = seen_get(&seen, "fail");
    UNIT_CHECK(r != NULL && r->phase == PHASE_RESOLVE && r->wsa_code == 11002);
    UNIT_CHECK(r != NULL && strcmp(r->raw, "SERVFAIL") == 0 && r->latency_us < 1000000);
    UNIT_CHECK(r != NULL &&
               strstr(r->detail, "resolving fail.test: SERVFAIL from 127.0.0.1:") == r->detail);
    r = seen_get(&seen, "empty");
    UNIT_CHECK(r != NULL && r->phase == PHASE_RESOLVE && r->wsa_code == 11004);
    UNIT_CHECK(r != NULL && strcmp(r->raw, "NODATA") == 0);
    UNIT_CHECK(r != NULL && strstr(r->detail, ", no A record") != NULL);
    r = seen_get(&seen, "rempty");
    UNIT_CHECK(r != NULL && r->phase == PHASE_RESOLVE && r->wsa_code == 11004);
    r = seen_get(&seen, "tc");
    UNIT_CHECK(r != NULL && r->phase == PHASE_RESOLVE && r->wsa_code == 10061);
    UNIT_CHECK(r != NULL && strstr(r->detail, "TCP retry after a truncated answer") != NULL);
    r = seen_get(&seen, "ok");
    UNIT_CHECK(r != NULL && r->phase == PHASE_CONNECT && r->wsa_code == 10061);
    r = seen_get(&seen, "silent");
    UNIT_CHECK(r != NULL && r->phase == PHASE_RESOLVE && strcmp(r->raw, "TIMEOUT") == 0 &&
               r->latency_us < 2000000);
    r = seen_get(&seen, "rsilent");
    UNIT_CHECK(r != NULL && strcmp(r->raw, "TIMEOUT") == 0);
    UNIT_EQ_INT(probe_engine_in_flight(eng), 0);

    probe_engine_free(eng);
    config_free(cfg);
    fakens_stop(&ns);
    resolv_free(rs);
    event_base_free(base);
}

/* resolv.conf's search list and ndots, as res_search(): "nx" (no dot,
 * ndots 1) is asked with each search domain, then as it is, and is
 * NXDOMAIN after all three; "ok" is found as ok.test; "ok.test" (a dot)
 * is asked as it is first; "fail.test." (absolute) only as it is. */
static void test_search_domains(void)
{
    struct event_base *base = event_base_new();
    struct fakens ns;
    struct resolv *rs;
    struct seen seen = {0};
    struct engine *eng;
    char text[1024];
    struct config *cfg;
    const struct result *r;
    int port = closed_port();

    fakens_start(&ns, base);
    rs = resolver_for(base, &ns, "search a.example test\noptions ndots:1 attempts:1\n");
    eng = probe_engine_new(base, rs, seen_sink, &seen);
    snprintf(text, sizeof(text),
             "[daemon]\ndatabase = /nonexistent/x.db\n[defaults]\ntimeout = 3s\nfamily = ipv4\n"
             "[target nx]\nkind = connect\nhost = nx\nport = %d\n",
             port);
    cfg = config_from(text);
    UNIT_CHECK(cfg != NULL);
    if (cfg == NULL)
        return;
    run_once(base, eng, cfg);
    r = seen_get(&seen, "nx");
    UNIT_CHECK(r != NULL && r->wsa_code == 11001 && strcmp(r->raw, "NXDOMAIN") == 0);
    UNIT_EQ_INT(ns.queries, 3);
    UNIT_EQ_STR(ns.asked[0], "nx.a.example.");
    UNIT_EQ_STR(ns.asked[1], "nx.test.");
    UNIT_EQ_STR(ns.asked[2], "nx.");
    probe_engine_free(eng);
    config_free(cfg);

    seen.n = 0;
    ns.queries = 0;
    eng = probe_engine_new(base, rs, seen_sink, &seen);
    snprintf(text, sizeof(text),
             "[daemon]\ndatabase = /nonexistent/x.db\n[defaults]\ntimeout = 3s\nfamily = ipv4\n"
             "[target ok]\nkind = connect\nhost = ok\nport = %d\n"
             "[target okdot]\nkind = connect\nhost = ok.test\nport = %d\n"
             "[target abs]\nkind = connect\nhost = fail.test.\nport = %d\n",
             port, port, port);
    cfg = config_from(text);
    UNIT_CHECK(cfg != NULL);
    if (cfg == NULL)
        return;
    run_once(base, eng, cfg);
    r = seen_get(&seen, "ok");
    UNIT_CHECK(r != NULL && r->phase == PHASE_CONNECT && r->wsa_code == 10061);
    r = seen_get(&seen, "okdot");
    UNIT_CHECK(r != NULL && r->phase == PHASE_CONNECT && r->wsa_code == 10061);
    r = seen_get(&seen, "abs");
    UNIT_CHECK(r != NULL && r->wsa_code == 11002 && strcmp(r->raw, "SERVFAIL") == 0);
    /* ok: ok.a.example (NXDOMAIN), ok.test; ok.test: as it is; fail.test.:
     * as it is, one attempt */
    UNIT_EQ_INT(ns.queries, 4);
    probe_engine_free(eng);
    config_free(cfg);
    fakens_stop(&ns);
    resolv_free(rs);
    event_base_free(base);
}

static void exit_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopexit(arg, NULL);
}

static void run_for(struct event_base *base, long ms)
{
    struct timeval t = {ms / 1000, (ms % 1000) * 1000};
    struct event *ev = evtimer_new(base, exit_cb, base);

    evtimer_add(ev, &t);
    event_base_dispatch(base);
    event_free(ev);
}

/* Look-ups in flight when a reload retires their targets, and when the
 * engine stops: they are cancelled at once, no result comes for them,
 * nothing touches the freed probes (ASan) and nothing is left for the
 * loop to run (evdns ran the callbacks of cancelled requests later from
 * the loop, and a daemon that left the loop first leaked them). */
static void test_cancel_on_reload_and_stop(void)
{
    struct event_base *base = event_base_new();
    struct seen seen = {0};
    struct fakens ns;
    struct resolv *rs;
    struct engine *eng;
    char text[4096];
    size_t used;
    struct config *cfg, *none;

    fakens_start(&ns, base);
    rs = resolver_for(base, &ns, "");
    eng = probe_engine_new(base, rs, seen_sink, &seen);
    used = (size_t)snprintf(text, sizeof(text),
                            "[daemon]\ndatabase = /nonexistent/x.db\n[defaults]\ntimeout = 5s\n"
                            "interval = 10s\n");
    for (int i = 0; i < 20; i++)
        used += (size_t)snprintf(text + used, sizeof(text) - used, "[target s%02d]\n%s", i,
                                 i % 2 ? "kind = connect\nhost = silent.test\nport = 9\n"
                                       : "kind = resolve\nname = silent.test\ntype = A\n"
                                         "server = system\n");
    cfg = config_from(text);
    none = config_from("[daemon]\ndatabase = /nonexistent/x.db\n");
    UNIT_CHECK(cfg != NULL && none != NULL);
    if (cfg == NULL || none == NULL)
        return;

    probe_engine_set_targets(eng, cfg, true); /* all 20 start at once, all pending */
    run_for(base, 200);
    UNIT_EQ_INT(probe_engine_in_flight(eng), 20);
    probe_engine_set_targets(eng, none, false); /* reload: every target retired */
    UNIT_EQ_INT(probe_engine_in_flight(eng), 0);
    run_for(base, 200); /* the cancellations arrive */
    UNIT_EQ_INT(seen.n, 0);

    probe_engine_set_targets(eng, cfg, true);
    run_for(base, 200);
    UNIT_EQ_INT(probe_engine_in_flight(eng), 20);
    probe_engine_stop(eng);
    probe_engine_free(eng);
    run_for(base, 100);
    UNIT_EQ_INT(seen.n, 0);

    config_free(cfg);
    config_free(none);
    fakens_stop(&ns);
    resolv_free(rs);
    event_base_free(base);
}

/* The reproducer of the leak at exit: 200 connect targets whose name the
 * nameserver never answers, a 200 ms timeout, --once. Every look-up is
 * cancelled at its deadline; the loop ends with the last result, and
 * everything is freed right after without running the loop again, as
 * main.c does. LeakSanitizer finds anything left behind. */
static void test_deadline_cancels_leave_nothing(void)
{
    struct event_base *base = event_base_new();
    struct seen seen = {0};
    struct fakens ns;
    struct resolv *rs;
    struct engine *eng;
    char *text = malloc(200 * 80 + 256);
    size_t used;
    struct config *cfg;

    fakens_start(&ns, base);
    rs = resolver_for(base, &ns, "");
    eng = probe_engine_new(base, rs, seen_sink, &seen);
    used = (size_t)sprintf(text, "[daemon]\ndatabase = /nonexistent/x.db\n[defaults]\n"
                                 "timeout = 200ms\n");
    for (int i = 0; i < 200; i++)
        used += (size_t)sprintf(
            text + used, "[target s%03d]\nkind = connect\nhost = silent.test\nport = 9\n", i);
    cfg = config_from(text);
    free(text);
    UNIT_CHECK(cfg != NULL);
    if (cfg == NULL)
        return;
    run_once(base, eng, cfg);
    UNIT_EQ_INT(seen.n, MAX_SEEN); /* 200 results, the first 64 kept */
    UNIT_CHECK(strcmp(seen.r[0].raw, "TIMEOUT") == 0);
    UNIT_EQ_INT(probe_engine_in_flight(eng), 0);
    probe_engine_free(eng);
    config_free(cfg);
    fakens_stop(&ns);
    resolv_free(rs);
    event_base_free(base);
}

/* A reload's share done on the reload thread (probe_engine_prepare): an
 * unchanged target keeps its probe (and schedule), a changed or new one
 * gets the probe prepared for it, a removed one's probe goes; prepared
 * probes no target takes, and a preparation never used, are freed
 * (LeakSanitizer). */
static void test_prepared_reload(void)
{
    struct event_base *base = event_base_new();
    struct seen seen = {0};
    struct engine *eng = probe_engine_new(base, NULL, seen_sink, &seen);
    struct config *a, *b, *c;
    struct probe_engine_prepared *ep;
    const struct probe *same, *changed;

    a = config_from("[daemon]\ndatabase = /nonexistent/x.db\n[defaults]\ninterval = 1h\n"
                    "[target same]\nkind = connect\nhost = 127.0.0.1\nport = 9\n"
                    "[target changed]\nkind = connect\nhost = 127.0.0.1\nport = 9\n"
                    "[target removed]\nkind = connect\nhost = 127.0.0.1\nport = 9\n");
    b = config_from("[daemon]\ndatabase = /nonexistent/x.db\n[defaults]\ninterval = 1h\n"
                    "[target same]\nkind = connect\nhost = 127.0.0.1\nport = 9\n"
                    "[target changed]\nkind = connect\nhost = 127.0.0.1\nport = 10\n"
                    "[target added]\nkind = connect\nhost = ::1\nport = 9\n");
    c = config_from("[daemon]\ndatabase = /nonexistent/x.db\n[defaults]\ninterval = 1h\n"
                    "[target same]\nkind = connect\nhost = 127.0.0.1\nport = 9\n");
    UNIT_CHECK(a != NULL && b != NULL && c != NULL);
    if (a == NULL || b == NULL || c == NULL)
        return;
    UNIT_EQ_INT(probe_engine_set_targets(eng, a, false), 0);
    same = a->targets[0].probe;
    changed = a->targets[1].probe;
    UNIT_EQ_INT(config_link_prev(b, a), 0);
    ep = probe_engine_prepare(eng, b); /* as the reload thread does */
    UNIT_CHECK(ep != NULL);
    UNIT_EQ_INT(probe_engine_set_targets_prepared(eng, b, false, ep), 0);
    config_unlink_prev(b);
    UNIT_CHECK(b->targets[0].probe == same);
    UNIT_CHECK(b->targets[1].probe != NULL && b->targets[1].probe != changed);
    UNIT_CHECK(b->targets[0].probe != NULL && b->targets[0].probe->t == &b->targets[0]);
    UNIT_CHECK(b->targets[2].probe != NULL && b->targets[2].probe->t == &b->targets[2] &&
               b->targets[2].probe->literal);

    /* prepared, then the daemon stops before the swap */
    UNIT_EQ_INT(config_link_prev(c, b), 0);
    probe_engine_prepared_free(probe_engine_prepare(eng, c));
    /* prepared for another config: not used, freed */
    ep = probe_engine_prepare(eng, c);
    config_unlink_prev(c);
    UNIT_EQ_INT(probe_engine_set_targets_prepared(eng, c, false, ep), 0);
    UNIT_CHECK(c->targets[0].probe == same);
    UNIT_EQ_INT(seen.n, 0);

    probe_engine_stop(eng);
    probe_engine_free(eng);
    config_free(a);
    config_free(b);
    config_free(c);
    event_base_free(base);
}

/* libevent cannot watch the socket (event_add fails: out of memory for
 * its fd map). The attempt ends at once as a classified failure with a
 * real errno, never as a success with errno 0. */
static void test_socket_libevent_cannot_watch(void)
{
    struct event_base *base = event_base_new(); /* a fresh, empty fd map */
    struct seen seen = {0};
    struct engine *eng = probe_engine_new(base, NULL, seen_sink, &seen);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    char text[512];
    struct config *cfg;
    const struct result *r;

    /* a listener: connect() says EINPROGRESS and the probe must watch */
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(lfd, 16) < 0 ||
        getsockname(lfd, (struct sockaddr *)&sin, &len) < 0) {
        perror("listener");
        abort();
    }
    snprintf(text, sizeof(text),
             "[daemon]\ndatabase = /nonexistent/x.db\n[target w]\nkind = connect\n"
             "host = 127.0.0.1\nport = %d\n",
             ntohs(sin.sin_port));
    cfg = config_from(text);
    UNIT_CHECK(cfg != NULL);
    if (cfg == NULL)
        return;
    mem_fail = true;
    probe_engine_set_targets(eng, cfg, true);
    mem_fail = false;
    r = seen_get(&seen, "w");
    UNIT_CHECK(r != NULL);
    if (r != NULL) {
        UNIT_CHECK(!r->ok);
        UNIT_EQ_INT(r->phase, PHASE_CONNECT);
        UNIT_CHECK(r->wsa_code != 0);
        UNIT_EQ_STR(r->raw, "ENOMEM");
        UNIT_EQ_STR(r->detail, "cannot watch socket");
    }
    UNIT_EQ_INT(probe_engine_in_flight(eng), 0);
    probe_engine_free(eng);
    config_free(cfg);
    close(lfd);
    event_base_free(base);
}

int main(int argc, char **argv)
{
    unit_init(argc, argv);
    log_set_fd(unit_log_fd());
    event_set_mem_functions(mem_malloc, mem_realloc, free);
    log_init(LOG_LEVEL_ERROR);
    UNIT_RUN(test_gate_holds_scheduled_starts);
    UNIT_RUN(test_no_gate_runs_every_target);
    UNIT_RUN(test_hosts_name_without_the_family);
    UNIT_RUN(test_resolver_answers);
    UNIT_RUN(test_search_domains);
    UNIT_RUN(test_cancel_on_reload_and_stop);
    UNIT_RUN(test_deadline_cancels_leave_nothing);
    UNIT_RUN(test_prepared_reload);
    UNIT_RUN(test_socket_libevent_cannot_watch);
    return UNIT_END("test_engine");
}
