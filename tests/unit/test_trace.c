/* SPDX-License-Identifier: ISC */
/* Unit tests for trace.c: the state machine of one trace played against a
 * made-up network (routers answering time exceeded, a router answering
 * unreachable, silent hops, retries per hop, max_hops), which failures
 * start a trace, and the tracer on a real loop against loopback peers:
 * a TCP trace to a closed port reaches it at hop 1, and traces of many
 * failing targets at once never exceed max_traces, hold a target to one
 * trace per path_hold, and catch up on owed targets later. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <event2/event.h>

#include "config.h"
#include "trace.h"
#include "unit.h"
#include "util.h"
#include "wsa.h"

static struct sockaddr_in v4(const char *a)
{
    struct sockaddr_in s = {.sin_family = AF_INET};
    inet_pton(AF_INET, a, &s.sin_addr);
    return s;
}

/* A made-up chain: hops[i] answers TTL i + 1 with said (HOP_SILENT: never). */
struct fake_hop {
    const char *addr;
    enum hop_said said;
    int answer_on_try; /* answers only from this try on (1: at once) */
};

static void play(struct trace_run *run, const struct fake_hop *hops, int nhops)
{
    int ttl, guard = 0;

    while ((ttl = trace_run_next(run)) != 0 && guard++ < 1000) {
        const struct fake_hop *h = ttl <= nhops ? &hops[ttl - 1] : NULL;
        if (h != NULL && h->said != HOP_SILENT && run->tries >= h->answer_on_try) {
            struct sockaddr_in a = v4(h->addr);
            trace_run_answer(run, h->said, (struct sockaddr *)&a, h->said != HOP_REACHED,
                             h->said == HOP_TTL ? 11 : 3, h->said == HOP_TTL ? 0 : 1, 100 * ttl);
        } else {
            trace_run_timeout(run);
        }
    }
    UNIT_CHECK(guard < 1000);
}

static void test_run_reaches(void)
{
    static const struct fake_hop chain[] = {
        {"10.99.1.2", HOP_TTL, 1}, {"10.99.2.2", HOP_TTL, 1}, {"10.99.3.2", HOP_REACHED, 1}};
    struct trace_path path;
    struct trace_run run;

    trace_run_init(&run, &path, 30, 2);
    play(&run, chain, 3);
    UNIT_CHECK(path.reached);
    UNIT_EQ_INT(path.nhops, 3);
    UNIT_EQ_INT(path.packets, 3); /* one probe per answering hop */
    UNIT_EQ_INT(path.hops[2].said, HOP_REACHED);
    UNIT_EQ_INT(trace_path_last_answer(&path), 2);
    UNIT_EQ_INT(path.hops[1].rtt_us, 200);
}

static void test_run_unreachable_stops(void)
{
    static const struct fake_hop chain[] = {
        {"10.99.1.2", HOP_TTL, 1}, {"10.99.2.2", HOP_UNREACH, 1}, {"10.99.3.2", HOP_REACHED, 1}};
    struct trace_path path;
    struct trace_run run;
    char a[64];

    trace_run_init(&run, &path, 30, 3);
    play(&run, chain, 3);
    UNIT_CHECK(!path.reached);
    UNIT_EQ_INT(path.nhops, 2);
    UNIT_EQ_INT(path.hops[1].said, HOP_UNREACH);
    UNIT_EQ_INT(path.hops[1].icmp_type, 3);
    UNIT_EQ_INT(path.hops[1].icmp_code, 1);
    trace_addr_text(&path.hops[1].from, a, sizeof(a));
    UNIT_EQ_STR(a, "10.99.2.2");
}

static void test_run_silent_gap_and_retries(void)
{
    /* hop 1 answers only its second probe; hop 2 on say nothing */
    static const struct fake_hop chain[] = {{"10.99.1.2", HOP_TTL, 2}};
    struct trace_path path;
    struct trace_run run;

    trace_run_init(&run, &path, 30, 2);
    play(&run, chain, 1);
    UNIT_CHECK(!path.reached);
    /* hop 1, then TRACE_SILENT_MAX silent hops, and no more */
    UNIT_EQ_INT(path.nhops, 1 + TRACE_SILENT_MAX);
    UNIT_EQ_INT(path.packets, 2 + 2 * TRACE_SILENT_MAX);
    UNIT_EQ_INT(path.hops[1].said, HOP_SILENT);
    UNIT_EQ_INT(path.hops[1].rtt_us, -1);
    UNIT_EQ_INT(trace_path_last_answer(&path), 0);
}

static void test_run_max_hops(void)
{
    static const struct fake_hop chain[] = {{"10.0.0.1", HOP_TTL, 1},
                                            {"10.0.0.2", HOP_TTL, 1},
                                            {"10.0.0.3", HOP_TTL, 1},
                                            {"10.0.0.4", HOP_TTL, 1},
                                            {"10.0.0.5", HOP_TTL, 1}};
    struct trace_path path;
    struct trace_run run;

    trace_run_init(&run, &path, 4, 1);
    play(&run, chain, 5);
    UNIT_EQ_INT(path.nhops, 4);
    UNIT_EQ_INT(path.packets, 4);
    UNIT_CHECK(!path.reached);
    /* an answer after the end changes nothing */
    trace_run_answer(&run, HOP_REACHED, NULL, false, 0, 0, 1);
    UNIT_EQ_INT(path.nhops, 4);
    UNIT_EQ_INT(trace_run_next(&run), 0);
}

static struct result failed(const struct target *t, int code, const char *raw, const char *remote)
{
    struct result r;

    memset(&r, 0, sizeof(r));
    r.target = t;
    r.ok = false;
    r.phase = PHASE_CONNECT;
    r.wsa_code = code;
    util_strlcpy(r.raw, raw, sizeof(r.raw));
    util_strlcpy(r.remote, remote, sizeof(r.remote));
    return r;
}

static void test_cause(void)
{
    struct target t = {.name = (char *)"web", .kind = KIND_CONNECT, .port = 80};
    struct target d = {.name = (char *)"dns", .kind = KIND_RESOLVE};
    struct result r;

    r = failed(&t, WSAETIMEDOUT, "ETIMEDOUT", "10.99.3.2:80");
    UNIT_CHECK(trace_cause_is_network(&r));
    r = failed(&t, WSAEHOSTUNREACH, "EHOSTUNREACH", "10.99.3.2:80");
    UNIT_CHECK(trace_cause_is_network(&r));
    r = failed(&t, WSAEACCES, "EACCES", "10.99.3.2:80");
    UNIT_CHECK(trace_cause_is_network(&r));
    /* refused by the target itself: its service, not the network */
    r = failed(&t, WSAECONNREFUSED, "ECONNREFUSED", "10.99.3.2:80");
    UNIT_CHECK(!trace_cause_is_network(&r));
    r.icmp = true;
    util_strlcpy(r.icmp_from, "10.99.3.2", sizeof(r.icmp_from));
    UNIT_CHECK(!trace_cause_is_network(&r));
    /* ... by a router on the way (an ICMP port unreachable from it) */
    util_strlcpy(r.icmp_from, "10.99.1.2", sizeof(r.icmp_from));
    UNIT_CHECK(trace_cause_is_network(&r));
    /* a name that did not resolve has no address to trace to */
    r = failed(&t, WSAETIMEDOUT, "ETIMEDOUT", "127.0.0.53:53");
    r.phase = PHASE_RESOLVE;
    UNIT_CHECK(!trace_cause_is_network(&r));
    /* a silent nameserver is; a SERVFAIL is an answer */
    r = failed(&d, WSATRY_AGAIN, "TIMEOUT", "10.99.3.2:53");
    r.phase = PHASE_RESOLVE;
    UNIT_CHECK(trace_cause_is_network(&r));
    r = failed(&d, WSATRY_AGAIN, "SERVFAIL", "10.99.3.2:53");
    r.phase = PHASE_RESOLVE;
    UNIT_CHECK(!trace_cause_is_network(&r));
    r = failed(&t, WSAETIMEDOUT, "ETIMEDOUT", "");
    UNIT_CHECK(!trace_cause_is_network(&r));
}

/* ---- the tracer on a loop, against loopback ---- */

#define NPATHS 64
static struct trace_path got[NPATHS];
static size_t ngot;

static void done(const struct trace_path *p, void *arg)
{
    (void)arg;
    if (ngot < NPATHS)
        got[ngot++] = *p;
}

static struct config pathcfg(int64_t max_traces, int64_t hop_timeout_ms, int64_t max_hops)
{
    struct config c;

    memset(&c, 0, sizeof(c));
    c.tracing.trace = 1;
    c.tracing.max_hops = max_hops;
    c.tracing.probes = 1;
    c.tracing.hop_timeout_ms = hop_timeout_ms;
    c.tracing.max_traces = max_traces;
    c.tracing.hold_ms = 600000;
    c.tracing.refresh_ms = 6 * 3600 * 1000;
    return c;
}

static void run_until(struct event_base *base, struct tracer *tr, size_t n)
{
    struct tracer_stats s;
    int64_t end = util_mono_us() + 10 * 1000000LL;

    do {
        event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        tracer_get_stats(tr, &s);
        if (s.in_flight == 0 && ngot >= n)
            return;
        usleep(1000);
    } while (util_mono_us() < end);
}

static void test_tracer_tcp_closed_port(void)
{
    struct event_base *base = event_base_new();
    struct config c = pathcfg(4, 500, 5);
    struct target t = {.name = (char *)"web", .kind = KIND_CONNECT, .db_id = 7};
    struct tracer *tr = tracer_new(base, &c, done, NULL);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = v4("127.0.0.1");
    socklen_t al = sizeof(a);
    char remote[64];
    struct result r;

    ngot = 0;
    UNIT_CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
               getsockname(fd, (struct sockaddr *)&a, &al) == 0);
    close(fd); /* a port nothing listens on: the RST comes from the end */
    snprintf(remote, sizeof(remote), "127.0.0.1:%u", ntohs(a.sin_port));
    r = failed(&t, WSAETIMEDOUT, "ETIMEDOUT", remote);
    r.ts_ms = 1234;
    tracer_observe(tr, &r);
    run_until(base, tr, 1);
    UNIT_EQ_INT(ngot, 1);
    UNIT_CHECK(got[0].reached);
    UNIT_EQ_INT(got[0].why, TRACE_FAILURE);
    UNIT_EQ_INT(got[0].failure_ts_ms, 1234);
    UNIT_EQ_INT(got[0].proto, TRACE_TCP);
    UNIT_EQ_INT(got[0].port, ntohs(a.sin_port));
    UNIT_EQ_INT(got[0].nhops, 1);
    UNIT_EQ_INT(got[0].hops[0].said, HOP_REACHED);
    UNIT_EQ_INT(got[0].target_id, 7);
    tracer_free(tr);
    event_base_free(base);
}

static void test_tracer_bounds(void)
{
    struct event_base *base = event_base_new();
    /* a UDP port that takes datagrams and never answers: every hop silent */
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = v4("127.0.0.1");
    socklen_t al = sizeof(a);
    struct config c = pathcfg(2, 30, 2);
    struct target t[6];
    struct tracer *tr = tracer_new(base, &c, done, NULL);
    struct tracer_stats s;
    char remote[64];

    ngot = 0;
    UNIT_CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
               getsockname(fd, (struct sockaddr *)&a, &al) == 0);
    snprintf(remote, sizeof(remote), "127.0.0.1:%u", ntohs(a.sin_port));
    memset(t, 0, sizeof(t));
    for (int i = 0; i < 6; i++) {
        struct result r;
        t[i].name = (char *)"udp";
        t[i].kind = KIND_SEND;
        t[i].protocol = PROTO_UDP;
        t[i].db_id = 100 + i;
        r = failed(&t[i], WSAETIMEDOUT, "ETIMEDOUT", remote);
        tracer_observe(tr, &r);
    }
    tracer_get_stats(tr, &s);
    UNIT_EQ_INT(s.in_flight, 2);
    UNIT_EQ_INT(s.started, 2);
    UNIT_EQ_INT(s.skipped_busy, 4);
    run_until(base, tr, 2);
    tracer_get_stats(tr, &s);
    UNIT_EQ_INT(ngot, 2);
    UNIT_EQ_INT(s.in_flight_max, 2);
    /* the 2 hops of max_hops, each silent, one probe each */
    UNIT_EQ_INT(got[0].nhops, 2);
    UNIT_EQ_INT(got[0].packets, 2);
    UNIT_CHECK(!got[0].reached);
    /* the targets still failing: the owed ones are traced now, two at a
     * time; the two traced already are held (path_hold) */
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 6; i++) {
            struct result r = failed(&t[i], WSAETIMEDOUT, "ETIMEDOUT", remote);
            tracer_observe(tr, &r);
        }
        tracer_get_stats(tr, &s);
        UNIT_CHECK(s.in_flight <= 2);
        run_until(base, tr, ngot + s.in_flight);
    }
    tracer_get_stats(tr, &s);
    UNIT_EQ_INT(s.started, 6);
    UNIT_EQ_INT(s.in_flight_max, 2);
    UNIT_EQ_INT(ngot, 6);
    /* ok, then failing again within path_hold: no second failure trace,
     * but a baseline at the first success */
    {
        struct result ok = failed(&t[0], 0, "", remote);
        struct result bad = failed(&t[0], WSAETIMEDOUT, "ETIMEDOUT", remote);
        ok.ok = true;
        tracer_observe(tr, &ok);
        run_until(base, tr, 7);
        UNIT_EQ_INT(ngot, 7);
        UNIT_EQ_INT(got[6].why, TRACE_BASELINE);
        tracer_observe(tr, &bad);
        tracer_get_stats(tr, &s);
        UNIT_EQ_INT(s.started, 7);
    }
    /* off: nothing */
    c.tracing.trace = 0;
    tracer_set_config(tr, &c);
    {
        struct target x = {.name = (char *)"x", .kind = KIND_SEND, .db_id = 999};
        struct result r = failed(&x, WSAETIMEDOUT, "ETIMEDOUT", remote);
        tracer_observe(tr, &r);
        tracer_get_stats(tr, &s);
        UNIT_EQ_INT(s.started, 7);
    }
    close(fd);
    tracer_free(tr);
    event_base_free(base);
}

int main(int argc, char **argv)
{
    unit_init(argc, argv);
    UNIT_RUN(test_run_reaches);
    UNIT_RUN(test_run_unreachable_stops);
    UNIT_RUN(test_run_silent_gap_and_retries);
    UNIT_RUN(test_run_max_hops);
    UNIT_RUN(test_cause);
    UNIT_RUN(test_tracer_tcp_closed_port);
    UNIT_RUN(test_tracer_bounds);
    return UNIT_END("trace");
}
