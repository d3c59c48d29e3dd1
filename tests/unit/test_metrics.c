/* SPDX-License-Identifier: ISC */
/* Unit tests for metrics.c and metrics_http.c: the body a scrape returns
 * for synthetic results (exact counter, histogram, raw label and escaping
 * lines, checked by promtool when it is installed), series dropped on
 * reload, the hash table under many targets, the listener's bind, move and
 * failure paths, and the HTTP server's replies and bounds (connection
 * cap, deadlines from accept, shared bodies and their budget, descriptors,
 * accept() failing). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "config.h"
#include "log.h"
#include "metrics.h"
#include "metrics_http.h"
#include "result.h"
#include "unit.h"
#include "wsa.h"

#define PROMTOOL "/usr/bin/promtool"

static struct target make_target(const char *name, enum target_kind kind)
{
    struct target t;

    memset(&t, 0, sizeof(t));
    t.name = (char *)name;
    t.kind = kind;
    return t;
}

/* The start time of the next synthetic attempt: a second later each. */
static int64_t next_ts_ms = 1700000000000;

static void observe_raw(struct metrics *m, const struct target *t, bool ok, int wsa_code,
                        const char *raw, int64_t latency_us)
{
    struct result r;

    memset(&r, 0, sizeof(r));
    r.target = t;
    r.ts_ms = next_ts_ms;
    next_ts_ms += 1000;
    r.ok = ok;
    r.wsa_code = ok ? 0 : wsa_code;
    r.latency_us = latency_us;
    r.phase = ok ? PHASE_NONE : PHASE_CONNECT;
    snprintf(r.raw, sizeof(r.raw), "%s", ok ? "" : raw);
    /* detail may hold anything: it must never reach a label */
    snprintf(r.detail, sizeof(r.detail), "zq-detail \"quoted\"\n");
    metrics_observe(m, &r);
}

/* A result with the raw name the engine gives that code most often. */
static void observe(struct metrics *m, const struct target *t, bool ok, int wsa_code,
                    int64_t latency_us)
{
    const char *raw = wsa_code == WSAECONNREFUSED     ? "ECONNREFUSED"
                      : wsa_code == WSAETIMEDOUT      ? "ETIMEDOUT"
                      : wsa_code == WSAECONNRESET     ? "ECONNRESET"
                      : wsa_code == WSAHOST_NOT_FOUND ? "NXDOMAIN"
                                                      : "";

    observe_raw(m, t, ok, wsa_code, raw, latency_us);
}

/* The rendered body as a NUL-terminated string (caller frees). */
static char *render(struct metrics *m)
{
    struct evbuffer *b = evbuffer_new();
    size_t n;
    char *s;

    UNIT_EQ_INT(metrics_render(m, b), 0);
    n = evbuffer_get_length(b);
    s = malloc(n + 1);
    evbuffer_remove(b, s, n);
    s[n] = '\0';
    evbuffer_free(b);
    return s;
}

/* Whether `line` is one whole line of body. */
static bool has_line(const char *body, const char *line)
{
    size_t n = strlen(line);

    for (const char *p = body; (p = strstr(p, line)) != NULL; p++)
        if ((p == body || p[-1] == '\n') && p[n] == '\n')
            return true;
    return false;
}

#define CHECK_LINE(body, line)                                                                     \
    do {                                                                                           \
        if (!has_line((body), (line))) {                                                           \
            fprintf(stderr, "%s:%d: %s: missing line: %s\n", __FILE__, __LINE__, unit_cur, line);  \
            unit_cur_failed = 1;                                                                   \
        }                                                                                          \
    } while (0)

/* promtool's verdict on the body: 0 clean, -1 not installed, else its exit
 * status (problems printed on stderr). */
static int promtool_check(const char *body)
{
    FILE *p;
    int st;

    if (access(PROMTOOL, X_OK) != 0)
        return -1;
    p = popen(PROMTOOL " check metrics", "w");
    if (p == NULL)
        return 1;
    fputs(body, p);
    st = pclose(p);
    return st == 0 ? 0 : (st > 0 ? st : 1);
}

static void test_counters_and_histogram(void)
{
    struct metrics *m = metrics_new(NULL);
    struct target web = make_target("web", KIND_CONNECT);
    struct target dns = make_target("dns", KIND_RESOLVE);
    char *body;

    next_ts_ms = 1700000000000;
    /* the histogram holds successful attempts only */
    observe(m, &web, true, 0, 300);                   /* le 0.0005 */
    observe(m, &web, true, 0, 500);                   /* le 0.0005: bounds are inclusive */
    observe(m, &web, true, 0, 1500);                  /* le 0.0025 */
    observe(m, &web, true, 0, 20000000);              /* above 10 s: +Inf only */
    observe(m, &web, false, WSAECONNREFUSED, 50);     /* counted, not in the histogram */
    observe(m, &web, false, WSAECONNREFUSED, 60);     /* counted, not in the histogram */
    observe(m, &web, false, WSAETIMEDOUT, 3000000);   /* counted, not in the histogram */
    observe(m, &dns, false, WSAHOST_NOT_FOUND, 2000); /* counted, not in the histogram */
    observe(m, &dns, true, 0, 10000);                 /* le 0.01 */
    body = render(m);

    CHECK_LINE(body, "netdiag_probes_total{target=\"web\",kind=\"connect\",result=\"ok\"} 4");
    CHECK_LINE(body, "netdiag_probes_total{target=\"web\",kind=\"connect\",result=\"failed\"} 3");
    CHECK_LINE(body, "netdiag_probes_total{target=\"dns\",kind=\"resolve\",result=\"ok\"} 1");
    CHECK_LINE(body, "netdiag_probes_total{target=\"dns\",kind=\"resolve\",result=\"failed\"} 1");
    CHECK_LINE(body, "netdiag_failures_total{target=\"web\",wsa_code=\"10060\","
                     "wsa_name=\"WSAETIMEDOUT\",raw=\"ETIMEDOUT\"} 1");
    CHECK_LINE(body, "netdiag_failures_total{target=\"web\",wsa_code=\"10061\","
                     "wsa_name=\"WSAECONNREFUSED\",raw=\"ECONNREFUSED\"} 2");
    CHECK_LINE(body, "netdiag_failures_total{target=\"dns\",wsa_code=\"11001\","
                     "wsa_name=\"WSAHOST_NOT_FOUND\",raw=\"NXDOMAIN\"} 1");
    /* cumulative buckets, +Inf == _count, exact _sum */
    CHECK_LINE(body, "netdiag_target_latency_seconds_bucket{target=\"web\",kind=\"connect\","
                     "le=\"0.0005\"} 2");
    /* the last attempt decides up; the last ok one's start the timestamp */
    CHECK_LINE(body, "netdiag_target_up{target=\"web\",kind=\"connect\"} 0");
    CHECK_LINE(body, "netdiag_target_up{target=\"dns\",kind=\"resolve\"} 1");
    CHECK_LINE(body, "netdiag_target_last_success_timestamp_seconds{target=\"web\","
                     "kind=\"connect\"} 1700000003");
    CHECK_LINE(body, "netdiag_target_last_success_timestamp_seconds{target=\"dns\","
                     "kind=\"resolve\"} 1700000008");
    CHECK_LINE(body, "netdiag_target_latency_seconds_bucket{target=\"web\",kind=\"connect\","
                     "le=\"0.001\"} 2");
    CHECK_LINE(body, "netdiag_target_latency_seconds_bucket{target=\"web\",kind=\"connect\","
                     "le=\"0.0025\"} 3");
    CHECK_LINE(body, "netdiag_target_latency_seconds_bucket{target=\"web\",kind=\"connect\","
                     "le=\"10\"} 3");
    CHECK_LINE(body, "netdiag_target_latency_seconds_bucket{target=\"web\",kind=\"connect\","
                     "le=\"+Inf\"} 4");
    CHECK_LINE(body, "netdiag_target_latency_seconds_count{target=\"web\",kind=\"connect\"} 4");
    CHECK_LINE(body, "netdiag_target_latency_seconds_sum{target=\"web\",kind=\"connect\"} 20.0023");
    CHECK_LINE(body, "netdiag_target_latency_seconds_bucket{target=\"dns\",kind=\"resolve\","
                     "le=\"0.005\"} 0");
    CHECK_LINE(body, "netdiag_target_latency_seconds_bucket{target=\"dns\",kind=\"resolve\","
                     "le=\"0.01\"} 1");
    CHECK_LINE(body, "netdiag_target_latency_seconds_sum{target=\"dns\",kind=\"resolve\"} 0.01");
    CHECK_LINE(body, "netdiag_build_info{version=\"" NETDIAG_VERSION "\"} 1");
    CHECK_LINE(body, "netdiag_alerts_active 0"); /* no source: 0 */
    CHECK_LINE(body, "netdiag_probes_in_flight 0");
    CHECK_LINE(body, "# TYPE netdiag_target_latency_seconds histogram");
    CHECK_LINE(body, "# TYPE netdiag_probes_total counter");
    /* no store attached: no store families */
    UNIT_CHECK(strstr(body, "netdiag_store_") == NULL);
    /* detail strings never become labels */
    UNIT_CHECK(strstr(body, "zq-detail") == NULL);
    UNIT_CHECK(promtool_check(body) <= 0);
    free(body);
    metrics_stop(m);
}

/* Every sample's family has HELP and TYPE lines before it, once. */
static void test_help_and_type(void)
{
    struct metrics *m = metrics_new(NULL);
    struct target web = make_target("web", KIND_SEND);
    char *body, *save = NULL, fam[128], seen[8192] = " ";

    observe(m, &web, false, WSAECONNRESET, 42);
    body = render(m);
    for (char *line = strtok_r(body, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char key[160];
        size_t n;
        if (strncmp(line, "# HELP ", 7) == 0) {
            sscanf(line + 7, "%127s", fam);
            snprintf(key, sizeof(key), " H:%s ", fam);
            UNIT_CHECK(strstr(seen, key) == NULL);
            strncat(seen, key + 1, sizeof(seen) - strlen(seen) - 1);
            continue;
        }
        if (strncmp(line, "# TYPE ", 7) == 0) {
            sscanf(line + 7, "%127s", fam);
            snprintf(key, sizeof(key), " H:%s ", fam);
            UNIT_CHECK(strstr(seen, key) != NULL); /* HELP first */
            snprintf(key, sizeof(key), " T:%s ", fam);
            strncat(seen, key + 1, sizeof(seen) - strlen(seen) - 1);
            continue;
        }
        n = strcspn(line, "{ ");
        snprintf(fam, sizeof(fam), "%.*s", (int)n, line);
        snprintf(key, sizeof(key), " T:%s ", fam);
        if (strstr(seen, key) == NULL) {
            /* histogram series carry a suffix */
            for (const char *suf = "_bucket\0_sum\0_count\0"; *suf; suf += strlen(suf) + 1) {
                size_t sl = strlen(suf);
                if (n > sl && strcmp(fam + n - sl, suf) == 0) {
                    fam[n - sl] = '\0';
                    break;
                }
            }
            snprintf(key, sizeof(key), " T:%s ", fam);
        }
        if (strstr(seen, key) == NULL) {
            fprintf(stderr, "%s: sample without TYPE: %s\n", unit_cur, line);
            unit_cur_failed = 1;
        }
    }
    free(body);
    metrics_stop(m);
}

static void test_label_escaping(void)
{
    struct metrics *m = metrics_new(NULL);
    struct target odd = make_target("a\"b\\c\nd", KIND_CONNECT);
    char *body;

    observe(m, &odd, false, WSAECONNREFUSED, 1);
    body = render(m);
    CHECK_LINE(
        body,
        "netdiag_probes_total{target=\"a\\\"b\\\\c\\nd\",kind=\"connect\",result=\"failed\"} 1");
    CHECK_LINE(body, "netdiag_failures_total{target=\"a\\\"b\\\\c\\nd\",wsa_code=\"10061\","
                     "wsa_name=\"WSAECONNREFUSED\",raw=\"ECONNREFUSED\"} 1");
    UNIT_CHECK(promtool_check(body) <= 0);
    free(body);
    metrics_stop(m);
}

static size_t fake_alerts(void *arg)
{
    return *(size_t *)arg;
}

static void fake_store(void *arg, struct store_stats *out)
{
    (void)arg;
    out->rows_written = 1234;
    out->results_seen = 99999;
    out->dropped = 7;
    out->queue_depth = 42;
    out->batches = 55;
    out->last_batch_us = 2500;
    out->writable = true;
}

static size_t fake_in_flight(void *arg)
{
    (void)arg;
    return 3;
}

static void test_sources_and_reload(void)
{
    size_t alerts = 2;
    struct metrics_sources src = {&alerts, fake_store, fake_alerts, fake_in_flight, NULL, NULL};
    struct metrics *m = metrics_new(&src);
    char *body;

    body = render(m);
    CHECK_LINE(body, "netdiag_alerts_active 2");
    CHECK_LINE(body, "netdiag_probes_in_flight 3");
    CHECK_LINE(body, "netdiag_store_queue_depth 42");
    CHECK_LINE(body, "netdiag_store_rows_written_total 1234");
    CHECK_LINE(body, "netdiag_store_results_total 99999");
    CHECK_LINE(body, "netdiag_store_dropped_total 7");
    CHECK_LINE(body, "netdiag_store_batches_total 55");
    CHECK_LINE(body, "netdiag_store_last_batch_seconds 0.0025");
    CHECK_LINE(body, "netdiag_store_writable 1");
    /* the load at start counts as a successful one, not as a reload */
    CHECK_LINE(body, "netdiag_config_reloads_total{result=\"ok\"} 0");
    CHECK_LINE(body, "netdiag_config_reloads_total{result=\"failed\"} 0");
    CHECK_LINE(body, "netdiag_config_last_reload_success 1");
    CHECK_LINE(body, "netdiag_targets 0");
    free(body);

    metrics_reload(m, true, 1700000000456);
    metrics_reload(m, false, 1700000099123);
    alerts = 0;
    body = render(m);
    CHECK_LINE(body, "netdiag_config_reloads_total{result=\"ok\"} 1");
    CHECK_LINE(body, "netdiag_config_reloads_total{result=\"failed\"} 1");
    /* a failed reload keeps the previous configuration: the time of the
     * last success stays (it moved to the failure's time before) */
    CHECK_LINE(body, "netdiag_config_last_reload_success_timestamp_seconds 1700000000.456");
    CHECK_LINE(body, "netdiag_config_last_reload_success 0");
    CHECK_LINE(body, "netdiag_alerts_active 0");
    UNIT_CHECK(promtool_check(body) <= 0);
    free(body);
    metrics_stop(m);
}

static struct config *make_config(size_t n, const char *const *names, const enum target_kind *kinds)
{
    struct config *cfg = calloc(1, sizeof(*cfg));

    cfg->targets = calloc(n ? n : 1, sizeof(*cfg->targets));
    cfg->ntargets = n;
    for (size_t i = 0; i < n; i++)
        cfg->targets[i] = make_target(names[i], kinds[i]);
    return cfg;
}

static void free_config(struct config *cfg)
{
    free(cfg->targets);
    free(cfg);
}

/* What rules are written on: up, the last success, the interval, the
 * watched codes' failure counters at 0 from the start (so that increase()
 * sees the first failure), following a reload; the histogram switch. */
static void test_target_state(void)
{
    static const char *const names[] = {"web", "dns", "quiet"};
    static const enum target_kind kinds[] = {KIND_CONNECT, KIND_RESOLVE, KIND_SEND};
    struct config *c1 = make_config(3, names, kinds), *c2 = make_config(3, names, kinds);
    struct config *c3 = make_config(3, names, kinds);
    struct metrics *m = metrics_new(NULL);
    uint32_t same[3] = {0, 1, 2};
    char *body;

    for (size_t i = 0; i < 3; i++) {
        c1->targets[i].interval_ms = 1500;
        c1->targets[i].alert_codes[0] = WSAECONNREFUSED;
        c1->targets[i].alert_codes[1] = CONFIG_CODE_TIMEOUT;
        c1->targets[i].alert_ncodes = 2;
    }
    metrics_set_targets(m, c1);
    body = render(m);
    /* before any attempt: no up, no last success; counters at 0 */
    UNIT_CHECK(strstr(body, "netdiag_target_up{") == NULL);
    UNIT_CHECK(strstr(body, "netdiag_target_last_success_timestamp_seconds{") == NULL);
    CHECK_LINE(body, "netdiag_target_interval_seconds{target=\"web\",kind=\"connect\"} 1.5");
    CHECK_LINE(body, "netdiag_failures_total{target=\"web\",wsa_code=\"10060\","
                     "wsa_name=\"WSAETIMEDOUT\",raw=\"ETIMEDOUT\"} 0");
    CHECK_LINE(body, "netdiag_failures_total{target=\"web\",wsa_code=\"10061\","
                     "wsa_name=\"WSAECONNREFUSED\",raw=\"ECONNREFUSED\"} 0");
    /* a resolve target's timeout class is also the silent nameserver */
    CHECK_LINE(body, "netdiag_failures_total{target=\"dns\",wsa_code=\"11002\","
                     "wsa_name=\"WSATRY_AGAIN\",raw=\"TIMEOUT\"} 0");
    UNIT_CHECK(strstr(body, "target=\"web\",wsa_code=\"11002\"") == NULL);
    CHECK_LINE(body, "# TYPE netdiag_target_latency_seconds histogram");
    UNIT_CHECK(promtool_check(body) <= 0);
    free(body);

    next_ts_ms = 1700000000000;
    observe(m, &c1->targets[0], false, WSAECONNREFUSED, 80); /* first failure: 0 -> 1 */
    observe(m, &c1->targets[0], true, 0, 400);               /* ts ...01 */
    observe(m, &c1->targets[1], true, 0, 400);               /* ts ...02 */
    observe(m, &c1->targets[1], false, WSAETIMEDOUT, 3000);
    body = render(m);
    CHECK_LINE(body, "netdiag_failures_total{target=\"web\",wsa_code=\"10061\","
                     "wsa_name=\"WSAECONNREFUSED\",raw=\"ECONNREFUSED\"} 1");
    CHECK_LINE(body, "netdiag_target_up{target=\"web\",kind=\"connect\"} 1");
    CHECK_LINE(body, "netdiag_target_up{target=\"dns\",kind=\"resolve\"} 0");
    UNIT_CHECK(strstr(body, "netdiag_target_up{target=\"quiet\"") == NULL);
    CHECK_LINE(body, "netdiag_target_last_success_timestamp_seconds{target=\"web\","
                     "kind=\"connect\"} 1700000001");
    CHECK_LINE(body, "netdiag_target_last_success_timestamp_seconds{target=\"dns\","
                     "kind=\"resolve\"} 1700000002");
    free(body);

    /* a reload linked to the running config (as netdiagd's are): another
     * interval, another watched code, no histogram; the counts stay */
    for (size_t i = 0; i < 3; i++) {
        c2->targets[i].interval_ms = 250;
        c2->targets[i].alert_codes[0] = WSAEHOSTUNREACH;
        c2->targets[i].alert_ncodes = 1;
    }
    c2->metrics_latency = METRICS_LATENCY_OFF;
    c2->prev = c1;
    c2->prev_idx = same;
    metrics_set_targets(m, c2);
    c2->prev = NULL;
    c2->prev_idx = NULL;
    free_config(c1);
    body = render(m);
    CHECK_LINE(body, "netdiag_target_interval_seconds{target=\"quiet\",kind=\"send\"} 0.25");
    CHECK_LINE(body, "netdiag_failures_total{target=\"quiet\",wsa_code=\"10065\","
                     "wsa_name=\"WSAEHOSTUNREACH\",raw=\"EHOSTUNREACH\"} 0");
    CHECK_LINE(body, "netdiag_failures_total{target=\"web\",wsa_code=\"10061\","
                     "wsa_name=\"WSAECONNREFUSED\",raw=\"ECONNREFUSED\"} 1");
    CHECK_LINE(body, "netdiag_target_up{target=\"web\",kind=\"connect\"} 1");
    UNIT_CHECK(strstr(body, "netdiag_target_latency_seconds") == NULL);
    UNIT_CHECK(promtool_check(body) <= 0);
    free(body);

    /* and one matched by name: the same follows */
    for (size_t i = 0; i < 3; i++)
        c3->targets[i].interval_ms = 2000;
    metrics_set_targets(m, c3);
    free_config(c2);
    body = render(m);
    CHECK_LINE(body, "netdiag_target_interval_seconds{target=\"dns\",kind=\"resolve\"} 2");
    CHECK_LINE(body, "netdiag_target_latency_seconds_count{target=\"web\",kind=\"connect\"} 1");
    free(body);

    /* the wall clock stepped back an hour: the latest success counts, not
     * the highest time seen (that one would stand for an hour) */
    next_ts_ms = 1700000000000 - 3600000;
    observe(m, &c3->targets[0], true, 0, 400);
    body = render(m);
    CHECK_LINE(body, "netdiag_target_last_success_timestamp_seconds{target=\"web\","
                     "kind=\"connect\"} 1699996400");
    free(body);
    free_config(c3);
    metrics_stop(m);
}

/* The alert engine's firing alerts, as alert_foreach_firing() hands them. */
static void fake_firing(void *arg, void (*fn)(void *, const char *, const char *), void *fnarg)
{
    (void)arg;
    fn(fnarg, "web", "WSAECONNREFUSED");
    fn(fnarg, "web", "WSATRY_AGAIN"); /* the class timeout, fired as 11002 ... */
    fn(fnarg, "web", "WSATRY_AGAIN"); /* ... beside a watched WSATRY_AGAIN */
    fn(fnarg, "db", "WSAETIMEDOUT");
    fn(fnarg, "*", "WSAETIMEDOUT"); /* host-wide */
}

static void test_alert_firing(void)
{
    size_t alerts = 5;
    struct metrics_sources src = {&alerts, NULL, fake_alerts, NULL, fake_firing, NULL};
    struct metrics *m = metrics_new(&src), *none = metrics_new(NULL);
    char *body;
    int n = 0;

    body = render(m);
    CHECK_LINE(body, "netdiag_alert_firing{target=\"web\",wsa_name=\"WSAECONNREFUSED\"} 1");
    CHECK_LINE(body, "netdiag_alert_firing{target=\"web\",wsa_name=\"WSATRY_AGAIN\"} 1");
    CHECK_LINE(body, "netdiag_alert_firing{target=\"db\",wsa_name=\"WSAETIMEDOUT\"} 1");
    CHECK_LINE(body, "netdiag_alert_firing{target=\"*\",wsa_name=\"WSAETIMEDOUT\"} 1");
    for (const char *p = body; (p = strstr(p, "\nnetdiag_alert_firing{")) != NULL; p++)
        n++;
    UNIT_EQ_INT(n, 4); /* one line for the two WSATRY_AGAIN */
    UNIT_CHECK(promtool_check(body) <= 0);
    free(body);
    body = render(none);
    CHECK_LINE(body, "# TYPE netdiag_alert_firing gauge");
    UNIT_CHECK(strstr(body, "\nnetdiag_alert_firing{") == NULL);
    free(body);
    metrics_stop(m);
    metrics_stop(none);
}

/* A number on the line that starts with `name ` in body; -1 if none. */
static double body_value(const char *body, const char *name)
{
    char key[128];
    const char *p;

    snprintf(key, sizeof(key), "\n%s ", name);
    p = strstr(body, key);
    return p != NULL ? strtod(p + strlen(key), NULL) : -1;
}

/* process_* as Prometheus' client libraries name them, read from /proc. */
static void test_process(void)
{
    struct metrics *m = metrics_new(NULL);
    struct rlimit rl;
    double now = (double)util_now_ms() / 1000.0, start;
    char *body = render(m);
    int fd = open("/dev/null", O_RDONLY);
    long fds;

    UNIT_CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    UNIT_CHECK(body_value(body, "process_max_fds") == (double)rl.rlim_cur);
    fds = (long)body_value(body, "process_open_fds");
    UNIT_CHECK(fds >= 3);
    UNIT_CHECK(body_value(body, "process_resident_memory_bytes") > 1e5);
    UNIT_CHECK(body_value(body, "process_virtual_memory_bytes") >=
               body_value(body, "process_resident_memory_bytes"));
    UNIT_CHECK(body_value(body, "process_cpu_seconds_total") >= 0);
    start = body_value(body, "process_start_time_seconds");
    UNIT_CHECK(start > now - 3600 && start <= now + 1);
    CHECK_LINE(body, "# TYPE process_cpu_seconds_total counter");
    UNIT_CHECK(promtool_check(body) <= 0);
    free(body);
    /* one more descriptor is seen as one more */
    body = render(m);
    UNIT_EQ_INT((long)body_value(body, "process_open_fds"), fds + 1);
    free(body);
    close(fd);
    metrics_stop(m);
}

static void test_set_targets_drops_series(void)
{
    static const char *const names1[] = {"keep", "gone", "rekind"};
    static const enum target_kind kinds1[] = {KIND_CONNECT, KIND_CONNECT, KIND_CONNECT};
    static const char *const names2[] = {"new", "rekind", "keep"};
    static const enum target_kind kinds2[] = {KIND_SEND, KIND_RESOLVE, KIND_CONNECT};
    struct config *c1 = make_config(3, names1, kinds1), *c2 = make_config(3, names2, kinds2);
    struct metrics *m = metrics_new(NULL);
    char *body;

    metrics_set_targets(m, c1);
    for (size_t i = 0; i < 3; i++) {
        observe(m, &c1->targets[i], true, 0, 100);
        observe(m, &c1->targets[i], false, WSAECONNREFUSED, 100);
    }
    body = render(m);
    CHECK_LINE(body, "netdiag_targets 3");
    CHECK_LINE(body, "netdiag_probes_total{target=\"gone\",kind=\"connect\",result=\"ok\"} 1");
    free(body);

    metrics_set_targets(m, c2);
    free_config(c1); /* the metrics keep no pointer into an old config */
    observe(m, &c2->targets[2], true, 0, 100);
    body = render(m);
    CHECK_LINE(body, "netdiag_targets 3");
    UNIT_CHECK(strstr(body, "\"gone\"") == NULL);
    /* kept: counts carry over */
    CHECK_LINE(body, "netdiag_probes_total{target=\"keep\",kind=\"connect\",result=\"ok\"} 2");
    CHECK_LINE(body, "netdiag_probes_total{target=\"keep\",kind=\"connect\",result=\"failed\"} 1");
    CHECK_LINE(body, "netdiag_failures_total{target=\"keep\",wsa_code=\"10061\","
                     "wsa_name=\"WSAECONNREFUSED\",raw=\"ECONNREFUSED\"} 1");
    /* kind changed: a new series from zero, the old one gone */
    CHECK_LINE(body, "netdiag_probes_total{target=\"rekind\",kind=\"resolve\",result=\"ok\"} 0");
    UNIT_CHECK(strstr(body, "target=\"rekind\",kind=\"connect\"") == NULL);
    UNIT_CHECK(strstr(body, "netdiag_failures_total{target=\"rekind\"") == NULL);
    /* added: present at zero before any result */
    CHECK_LINE(body, "netdiag_probes_total{target=\"new\",kind=\"send\",result=\"failed\"} 0");
    CHECK_LINE(body, "netdiag_target_latency_seconds_count{target=\"new\",kind=\"send\"} 0");
    free(body);

    metrics_set_targets(m, c2); /* the same config again changes nothing */
    body = render(m);
    CHECK_LINE(body, "netdiag_probes_total{target=\"keep\",kind=\"connect\",result=\"ok\"} 2");
    free(body);
    free_config(c2);
    metrics_stop(m);
}

/* Many targets: slots added on the fly, the table rehashed, then a reload
 * that reverses the order; every count lands on its own target. */
static void test_many_targets(void)
{
    enum { N = 2000, ROUNDS = 50 };
    static char names[N][16];
    static const char *ptrs[N];
    static enum target_kind kinds[N];
    struct target *ts = calloc(N, sizeof(*ts));
    struct metrics *m = metrics_new(NULL);
    struct config *cfg;
    char *body, line[200];
    int bad = 0;

    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof(names[i]), "t%04d", i);
        ts[i] = make_target(names[i], KIND_CONNECT);
    }
    for (int r = 0; r < ROUNDS; r++)
        for (int i = 0; i < N; i++)
            if (r < 1 + i % ROUNDS)
                observe(m, &ts[i], (i + r) % 2 == 0, WSAECONNREFUSED, i);
    for (int i = 0; i < N; i++) {
        ptrs[i] = names[N - 1 - i];
        kinds[i] = KIND_CONNECT;
    }
    cfg = make_config(N, ptrs, kinds);
    metrics_set_targets(m, cfg);
    body = render(m);
    for (int i = 0; i < N && bad < 5; i++) {
        int ok = 0;
        for (int r = 0; r < 1 + i % ROUNDS; r++)
            ok += (i + r) % 2 == 0;
        snprintf(line, sizeof(line),
                 "netdiag_target_latency_seconds_count{target=\"%.15s\",kind=\"connect\"} %d",
                 names[i], ok);
        if (!has_line(body, line)) {
            fprintf(stderr, "%s: missing line: %s\n", unit_cur, line);
            bad++;
        }
    }
    UNIT_EQ_INT(bad, 0);
    /* config order: the reversed list starts with the last name */
    UNIT_CHECK(strstr(body, "target=\"t1999\"") < strstr(body, "target=\"t0000\""));
    free(body);
    free_config(cfg);
    free(ts);
    metrics_stop(m);
}

static bool null_ok(void)
{
    struct result r;

    memset(&r, 0, sizeof(r));
    metrics_observe(NULL, &r);
    metrics_set_targets(NULL, NULL);
    metrics_reload(NULL, true, 0);
    metrics_stop(NULL);
    return metrics_render(NULL, NULL) < 0 && metrics_rebind(NULL, "127.0.0.1:1", NULL, 0) == 0;
}

static void test_null_is_off(void)
{
    UNIT_CHECK(null_ok());
}

/* A loopback port nobody listens on (bound, then released). */
static int free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
        port = -1;
    else
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

/* A socket listening on 127.0.0.1 (a port someone else owns). */
static int occupy_port(int *port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(sa.sin_port);
    return fd;
}

/* Whether a TCP connect to 127.0.0.1:port succeeds: the kernel completes
 * the handshake into the backlog without the loop running. */
static bool accepts(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    bool ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;

    close(fd);
    return ok;
}

static void test_bind_in_use(void)
{
    struct event_base *base = event_base_new();
    char addr[64], want[128], err[256] = "";
    int port = 0, fd = occupy_port(&port);
    struct metrics *m;

    UNIT_CHECK(fd >= 0);
    if (fd < 0) {
        event_base_free(base);
        return;
    }
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    m = metrics_start(base, addr, NULL, err, sizeof(err));
    UNIT_CHECK(m == NULL);
    snprintf(want, sizeof(want), "metrics_listen %s: cannot listen", addr);
    UNIT_CHECK(strstr(err, want) == err);
    UNIT_CHECK(strstr(err, "WSAEADDRINUSE") != NULL);
    metrics_stop(m);
    close(fd);
    event_base_free(base);
}

static void test_rebind(void)
{
    struct event_base *base = event_base_new();
    char a1[64], a2[64], a3[64], err[256] = "";
    int p1 = free_port(), p2 = free_port(), p3 = 0, fd3 = occupy_port(&p3);
    struct metrics *m;
    struct target web = make_target("web", KIND_CONNECT);
    char *body;

    snprintf(a1, sizeof(a1), "127.0.0.1:%d", p1);
    snprintf(a2, sizeof(a2), "127.0.0.1:%d", p2);
    snprintf(a3, sizeof(a3), "127.0.0.1:%d", p3);
    m = metrics_start(base, a1, NULL, err, sizeof(err));
    UNIT_CHECK(m != NULL);
    if (m == NULL) {
        fprintf(stderr, "%s: %s\n", unit_cur, err);
        close(fd3);
        event_base_free(base);
        return;
    }
    observe(m, &web, true, 0, 1);
    UNIT_CHECK(accepts(p1));
    UNIT_EQ_INT(metrics_rebind(m, a1, err, sizeof(err)), 0); /* same: nothing to do */
    UNIT_CHECK(accepts(p1));
    UNIT_EQ_INT(metrics_rebind(m, a2, err, sizeof(err)), 0);
    UNIT_CHECK(!accepts(p1));
    UNIT_CHECK(accepts(p2));
    /* someone else's port: refused, and the current listener stays */
    UNIT_EQ_INT(metrics_rebind(m, a3, err, sizeof(err)), -1);
    UNIT_CHECK(strstr(err, a3) != NULL);
    UNIT_CHECK(accepts(p2));
    /* counters survive the moves */
    body = render(m);
    CHECK_LINE(body, "netdiag_probes_total{target=\"web\",kind=\"connect\",result=\"ok\"} 1");
    free(body);
    metrics_stop(m);
    UNIT_CHECK(!accepts(p2));
    close(fd3);
    event_base_free(base);
}

/* A silent nameserver (TIMEOUT) and SERVFAIL share WSATRY_AGAIN: the raw
 * label tells them apart; raw values outside the fixed set all count as
 * "other", so no input can grow the label set. */
static void test_raw_label(void)
{
    struct metrics *m = metrics_new(NULL);
    struct target dns = make_target("dns", KIND_RESOLVE);
    char raw[24], *body;
    size_t series = 0;

    for (int i = 0; i < 3; i++)
        observe_raw(m, &dns, false, WSATRY_AGAIN, "TIMEOUT", 300000);
    observe_raw(m, &dns, false, WSATRY_AGAIN, "SERVFAIL", 1000);
    observe_raw(m, &dns, false, WSATRY_AGAIN, "SERVFAIL", 1000);
    observe_raw(m, &dns, false, WSATRY_AGAIN, "EAI_AGAIN", 1000);
    observe_raw(m, &dns, false, 10035, "EWOULDBLOCK", 1); /* alias: one name */
    observe_raw(m, &dns, false, 10035, "EAGAIN", 1);
    observe_raw(m, &dns, false, WSANO_DATA, "MISMATCH", 1);
    for (int i = 0; i < 500; i++) {
        snprintf(raw, sizeof(raw), "errno %d", 1000 + i);
        observe_raw(m, &dns, false, WSASYSCALLFAILURE, raw, 1);
    }
    observe_raw(m, &dns, false, WSASYSCALLFAILURE, "bad\"raw\\\n", 1);
    body = render(m);
    CHECK_LINE(body, "netdiag_failures_total{target=\"dns\",wsa_code=\"11002\","
                     "wsa_name=\"WSATRY_AGAIN\",raw=\"TIMEOUT\"} 3");
    CHECK_LINE(body, "netdiag_failures_total{target=\"dns\",wsa_code=\"11002\","
                     "wsa_name=\"WSATRY_AGAIN\",raw=\"SERVFAIL\"} 2");
    CHECK_LINE(body, "netdiag_failures_total{target=\"dns\",wsa_code=\"11002\","
                     "wsa_name=\"WSATRY_AGAIN\",raw=\"EAI_AGAIN\"} 1");
    CHECK_LINE(body, "netdiag_failures_total{target=\"dns\",wsa_code=\"10035\","
                     "wsa_name=\"WSAEWOULDBLOCK\",raw=\"EAGAIN\"} 2");
    CHECK_LINE(body, "netdiag_failures_total{target=\"dns\",wsa_code=\"11004\","
                     "wsa_name=\"WSANO_DATA\",raw=\"MISMATCH\"} 1");
    CHECK_LINE(body, "netdiag_failures_total{target=\"dns\",wsa_code=\"10107\","
                     "wsa_name=\"WSASYSCALLFAILURE\",raw=\"other\"} 501");
    for (const char *p = body; (p = strstr(p, "\nnetdiag_failures_total{")) != NULL; p++)
        series++;
    UNIT_EQ_INT(series, 6);
    UNIT_CHECK(strstr(body, "bad\"") == NULL && strstr(body, "errno 1") == NULL);
    UNIT_CHECK(promtool_check(body) <= 0);
    free(body);
    metrics_stop(m);
}

/* The HTTP server alone, serving a body of `size` bytes. */
struct fake_body {
    int renders;
    size_t size;
};

static int fake_render(void *arg, struct evbuffer *out)
{
    static const char line[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\n";
    struct fake_body *fb = arg;

    fb->renders++;
    for (size_t i = 0; i < fb->size; i += sizeof(line) - 1)
        evbuffer_add(out, line, fb->size - i < sizeof(line) - 1 ? fb->size - i : sizeof(line) - 1);
    return 0;
}

static struct http_server_limits test_limits(void)
{
    struct http_server_limits lim = {
        .max_conns = METRICS_HTTP_MAX_CONNS,
        .request_ms = METRICS_HTTP_REQUEST_MS,
        .total_ms = METRICS_HTTP_TOTAL_MS,
        .fd_spare = METRICS_HTTP_FD_SPARE,
        .body_budget = METRICS_HTTP_BODY_BUDGET,
        .share_ms = METRICS_HTTP_SHARE_MS,
    };
    return lim;
}

static struct metrics_http *http_start(struct event_base *base, struct fake_body *fb,
                                       const struct http_server_limits *lim, int *port)
{
    struct metrics_http *h = metrics_http_new(base, fake_render, fb);
    char addr[64], err[256];

    *port = free_port();
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", *port);
    if (lim != NULL)
        metrics_http_set_limits(h, lim);
    if (metrics_http_listen(h, addr, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s: %s\n", unit_cur, err);
        metrics_http_free(h);
        return NULL;
    }
    return h;
}

/* A connected client socket (the kernel completes the handshake into the
 * backlog), non-blocking; rcvbuf > 0 shrinks its receive buffer first. */
static int client(int port, int rcvbuf)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0)
        return -1;
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

/* Turn the loop for about `ms` (one non-blocking pass a millisecond). */
static void spin(struct event_base *base, int ms)
{
    int64_t end = util_mono_us() + ms * 1000LL;

    do {
        event_base_loop(base, EVLOOP_NONBLOCK);
        poll(NULL, 0, 1);
    } while (util_mono_us() < end);
}

/* Read what fd has (appending to out, NUL-terminated, at most cap - 1
 * bytes kept): 1 at end of stream, 0 when more may come. */
static int drain(int fd, char *out, size_t cap, size_t *len)
{
    char buf[65536];

    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
            return 1;
        if (n < 0)
            return 0;
        for (ssize_t i = 0; i < n && *len + 1 < cap; i++)
            out[(*len)++] = buf[i];
        out[*len] = '\0';
    }
}

/* One request on a new connection; the loop runs until the server has
 * closed it (at most 5 s). Returns the bytes of the reply kept in out. */
static size_t exchange(struct event_base *base, int port, const char *req, size_t reqlen, char *out,
                       size_t cap)
{
    int fd = client(port, 0);
    size_t len = 0;
    int64_t end = util_mono_us() + 5000000;

    out[0] = '\0';
    if (fd < 0)
        return 0;
    (void)send(fd, req, reqlen, MSG_NOSIGNAL);
    while (util_mono_us() < end) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        if (drain(fd, out, cap, &len))
            break;
        poll(NULL, 0, 1);
    }
    close(fd);
    return len;
}

static bool starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void test_http_replies(void)
{
    static const struct {
        const char *req;
        const char *status;
    } cases[] = {
        {"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 200 OK\r\n"},
        {"GET /metrics?x=1 HTTP/1.0\n\n", "HTTP/1.1 200 OK\r\n"},
        {"\r\n\r\nGET /metrics HTTP/1.1\r\n\r\n", "HTTP/1.1 200 OK\r\n"},
        {"GET http://h:1/metrics HTTP/1.1\r\n\r\n", "HTTP/1.1 200 OK\r\n"},
        {"GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 404 Not Found\r\n"},
        {"GET /metricsx HTTP/1.1\r\n\r\n", "HTTP/1.1 404 Not Found\r\n"},
        {"POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nx=1", "HTTP/1.1 405 "},
        {"GET /metrics HTTP/2.0\r\n\r\n", "HTTP/1.1 505 "},
        {"GET /metrics\r\n\r\n", "HTTP/1.1 400 "},
        {"GET  /metrics HTTP/1.1\r\n\r\n", "HTTP/1.1 400 "},
        {"G\x01T /metrics HTTP/1.1\r\n\r\n", "HTTP/1.1 400 "},
        {"GET /metrics HTTP/1.1\r\nX\x01: 1\r\n\r\n", "HTTP/1.1 400 "},
        {"GET /metrics HTTP/1.1\r\nX: a\rb\r\n\r\n", "HTTP/1.1 400 "},
        {"GET /metrics HTTP/1.1\r\nX: 1\r\n folded\r\n\r\n", "HTTP/1.1 400 "},
        {"GET /metrics HTTP/1.1\r\nno colon\r\n\r\n", "HTTP/1.1 400 "},
        {"GET /m\xc3\xa9trics HTTP/1.1\r\n\r\n", "HTTP/1.1 400 "},
    };
    struct event_base *base = event_base_new();
    struct fake_body fb = {0, 1000};
    struct http_server_stats st;
    struct metrics_http *h;
    static char reply[1 << 16], big[METRICS_HTTP_HEAD_MAX + 100];
    int port;
    size_t n;

    h = http_start(base, &fb, NULL, &port);
    UNIT_CHECK(h != NULL);
    if (h == NULL) {
        event_base_free(base);
        return;
    }
    for (size_t i = 0; i < ND_ARRAY_LEN(cases); i++) {
        exchange(base, port, cases[i].req, strlen(cases[i].req), reply, sizeof(reply));
        if (!starts(reply, cases[i].status)) {
            fprintf(stderr, "%s: case %zu: %.40s\n", unit_cur, i, reply);
            unit_cur_failed = 1;
        }
    }
    /* the whole reply of a GET */
    n = exchange(base, port, cases[0].req, strlen(cases[0].req), reply, sizeof(reply));
    UNIT_CHECK(strstr(reply, "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
    UNIT_CHECK(strstr(reply, "\r\nContent-Length: 1000\r\n"));
    UNIT_CHECK(strstr(reply, "\r\nConnection: close\r\n"));
    UNIT_CHECK(strstr(reply, "\r\n\r\n") != NULL &&
               n == (size_t)(strstr(reply, "\r\n\r\n") + 4 - reply) + 1000);
    /* HEAD: the length, no body */
    n = exchange(base, port, "HEAD /metrics HTTP/1.1\r\n\r\n", 26, reply, sizeof(reply));
    UNIT_CHECK(starts(reply, "HTTP/1.1 200 OK\r\n") && strstr(reply, "Content-Length: 1000\r\n"));
    UNIT_CHECK(n == (size_t)(strstr(reply, "\r\n\r\n") + 4 - reply));
    /* 405 says what is allowed */
    exchange(base, port, "PUT /metrics HTTP/1.1\r\n\r\n", 25, reply, sizeof(reply));
    UNIT_CHECK(strstr(reply, "\r\nAllow: GET, HEAD\r\n") != NULL);
    /* a head over the buffer: 431 */
    static const char big_head[] = "GET /metrics HTTP/1.1\r\nX: ";
    memset(big, 'a', sizeof(big));
    memcpy(big, big_head, sizeof(big_head) - 1); /* no NUL: a head that goes on */
    exchange(base, port, big, sizeof(big), reply, sizeof(reply));
    UNIT_CHECK(starts(reply, "HTTP/1.1 431 "));
    /* the server closes its side once it sees ours closed */
    for (int64_t end = util_mono_us() + 5000000; util_mono_us() < end;) {
        spin(base, 10);
        metrics_http_get_stats(h, &st);
        if (st.open == 0)
            break;
    }
    metrics_http_get_stats(h, &st);
    UNIT_EQ_INT(st.closed[HTTP_CLOSE_REPLIED], ND_ARRAY_LEN(cases) + 4);
    UNIT_EQ_INT(st.closed[HTTP_CLOSE_TIMEOUT], 0);
    UNIT_EQ_INT(st.open, 0);
    metrics_http_free(h);
    event_base_free(base);
}

/* Scrapes within the sharing time get one render; invalidate() forces a
 * new one. */
static void test_http_shares_body(void)
{
    struct event_base *base = event_base_new();
    struct fake_body fb = {0, 5000};
    struct http_server_limits lim = test_limits();
    struct http_server_stats st;
    struct metrics_http *h;
    static char reply[1 << 14];
    int port;

    lim.share_ms = 600000;
    h = http_start(base, &fb, &lim, &port);
    UNIT_CHECK(h != NULL);
    if (h == NULL) {
        event_base_free(base);
        return;
    }
    for (int i = 0; i < 5; i++) {
        exchange(base, port, "GET /metrics HTTP/1.1\r\n\r\n", 25, reply, sizeof(reply));
        UNIT_CHECK(starts(reply, "HTTP/1.1 200 OK\r\n"));
    }
    UNIT_EQ_INT(fb.renders, 1);
    metrics_http_invalidate(h);
    exchange(base, port, "GET /metrics HTTP/1.1\r\n\r\n", 25, reply, sizeof(reply));
    UNIT_EQ_INT(fb.renders, 2);
    metrics_http_get_stats(h, &st);
    UNIT_EQ_INT(st.renders, 2);
    UNIT_EQ_INT(st.body_bytes, 5000); /* the cache only */
    metrics_http_free(h);
    event_base_free(base);
}

/* More clients than the cap: the cap is served, the rest wait in the
 * listen queue and are accepted as others close. */
static void test_http_cap(void)
{
    enum { CAP = 3, CLIENTS = 8 };
    struct event_base *base = event_base_new();
    struct fake_body fb = {0, 100};
    struct http_server_limits lim = test_limits();
    struct http_server_stats st;
    struct metrics_http *h;
    int port, fds[CLIENTS];
    int64_t end;

    lim.max_conns = CAP;
    h = http_start(base, &fb, &lim, &port);
    UNIT_CHECK(h != NULL);
    if (h == NULL) {
        event_base_free(base);
        return;
    }
    for (int i = 0; i < CLIENTS; i++)
        fds[i] = client(port, 0);
    spin(base, 100);
    metrics_http_get_stats(h, &st);
    UNIT_EQ_INT(st.open, CAP);
    UNIT_EQ_INT(st.accepted, CAP);
    UNIT_CHECK(st.paused[HTTP_PAUSE_LIMIT] >= 1);
    /* two leave: two more come in, never more than CAP at once */
    close(fds[0]);
    close(fds[1]);
    fds[0] = fds[1] = -1;
    end = util_mono_us() + 5000000;
    do {
        spin(base, 10);
        metrics_http_get_stats(h, &st);
        UNIT_CHECK(st.open <= CAP);
    } while (st.accepted < CAP + 2 && util_mono_us() < end);
    UNIT_EQ_INT(st.accepted, CAP + 2);
    UNIT_EQ_INT(st.open, CAP);
    UNIT_EQ_INT(st.closed[HTTP_CLOSE_PEER], 2);
    for (int i = 0; i < CLIENTS; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    metrics_http_free(h);
    event_base_free(base);
}

/* A byte every 20 ms of a head that never ends: the deadline counts from
 * accept and is not moved by the bytes (evhttp's timeout was, per read). */
static void test_http_deadline_from_accept(void)
{
    struct event_base *base = event_base_new();
    struct fake_body fb = {0, 100};
    struct http_server_limits lim = test_limits();
    struct http_server_stats st;
    struct metrics_http *h;
    static const char head[] = "GET /metrics HTTP/1.1\r\nX-Slow: ";
    char reply[256];
    size_t len = 0, sent = 0;
    int port, fd, closed = 0;
    int64_t t0, end, elapsed_us;

    lim.request_ms = 300;
    lim.total_ms = 2000;
    h = http_start(base, &fb, &lim, &port);
    UNIT_CHECK(h != NULL);
    if (h == NULL) {
        event_base_free(base);
        return;
    }
    fd = client(port, 0);
    t0 = util_mono_us();
    end = t0 + 5000000;
    while (!closed && util_mono_us() < end) {
        char ch = 'a';
        if (sent < sizeof(head) - 1)
            ch = head[sent];
        if (send(fd, &ch, 1, MSG_NOSIGNAL) == 1)
            sent++;
        spin(base, 20);
        closed = drain(fd, reply, sizeof(reply), &len);
    }
    elapsed_us = util_mono_us() - t0;
    UNIT_CHECK(closed);
    UNIT_CHECK(starts(reply, "HTTP/1.1 408 Request Timeout\r\n"));
    UNIT_CHECK(elapsed_us >= 290000); /* not before its time */
    metrics_http_get_stats(h, &st);
    UNIT_EQ_INT(st.closed[HTTP_CLOSE_TIMEOUT], 1);
    close(fd);
    metrics_http_free(h);
    event_base_free(base);
}

/* A scraper that never reads a large body: closed at total_ms, and its
 * body let go. */
static void test_http_slow_reader(void)
{
    struct event_base *base = event_base_new();
    struct fake_body fb = {0, 8u << 20};
    struct http_server_limits lim = test_limits();
    struct http_server_stats st;
    struct metrics_http *h;
    int port, fd;
    int64_t end;

    lim.total_ms = 500;
    h = http_start(base, &fb, &lim, &port);
    UNIT_CHECK(h != NULL);
    if (h == NULL) {
        event_base_free(base);
        return;
    }
    fd = client(port, 4096);
    (void)send(fd, "GET /metrics HTTP/1.1\r\n\r\n", 25, MSG_NOSIGNAL);
    end = util_mono_us() + 5000000;
    do {
        spin(base, 10);
        metrics_http_get_stats(h, &st);
    } while (st.closed[HTTP_CLOSE_TIMEOUT] == 0 && util_mono_us() < end);
    UNIT_EQ_INT(st.closed[HTTP_CLOSE_TIMEOUT], 1);
    UNIT_EQ_INT(st.open, 0);
    metrics_http_invalidate(h);
    metrics_http_get_stats(h, &st);
    UNIT_EQ_INT(st.body_bytes, 0);
    close(fd);
    metrics_http_free(h);
    event_base_free(base);
}

/* Bodies held for slow readers stay within the budget: a second body that
 * would pass it is refused with 503 while the first is still being sent. */
static void test_http_budget(void)
{
    struct event_base *base = event_base_new();
    struct fake_body fb = {0, 4u << 20};
    struct http_server_limits lim = test_limits();
    struct http_server_stats st;
    struct metrics_http *h;
    static char reply[1 << 14];
    int port, fd;

    lim.body_budget = 6u << 20;
    h = http_start(base, &fb, &lim, &port);
    UNIT_CHECK(h != NULL);
    if (h == NULL) {
        event_base_free(base);
        return;
    }
    fd = client(port, 4096); /* reads nothing: holds its body */
    (void)send(fd, "GET /metrics HTTP/1.1\r\n\r\n", 25, MSG_NOSIGNAL);
    spin(base, 100);
    metrics_http_invalidate(h); /* the next scrape would render anew */
    exchange(base, port, "GET /metrics HTTP/1.1\r\n\r\n", 25, reply, sizeof(reply));
    UNIT_CHECK(starts(reply, "HTTP/1.1 503 Service Unavailable\r\n"));
    UNIT_CHECK(strstr(reply, "\r\nRetry-After: 1\r\n") != NULL);
    metrics_http_get_stats(h, &st);
    UNIT_EQ_INT(st.renders, 1);
    UNIT_CHECK(st.body_bytes <= lim.body_budget);
    close(fd);
    metrics_http_free(h);
    event_base_free(base);
}

/* Descriptors: with fewer than the reserve left the listener takes none
 * and looks again a second later; accept() failing with EMFILE pauses it
 * instead of spinning on a socket that stays readable. */
static void test_http_descriptors(void)
{
    struct event_base *base = event_base_new();
    struct fake_body fb = {0, 100};
    struct http_server_limits lim = test_limits();
    struct http_server_stats st;
    struct metrics_http *h;
    struct rlimit old, low;
    int port, fd, fillers[64], nfill = 0;
    int64_t end;

    lim.fd_spare = 100000; /* more than any limit here: never accept */
    h = http_start(base, &fb, &lim, &port);
    UNIT_CHECK(h != NULL && getrlimit(RLIMIT_NOFILE, &old) == 0);
    if (h == NULL) {
        event_base_free(base);
        return;
    }
    fd = client(port, 0);
    spin(base, 200);
    metrics_http_get_stats(h, &st);
    UNIT_EQ_INT(st.accepted, 0);
    UNIT_CHECK(st.paused[HTTP_PAUSE_DESCRIPTORS] >= 1);
    UNIT_CHECK(st.paused[HTTP_PAUSE_DESCRIPTORS] <= 2); /* a retry a second, no spin */
    lim.fd_spare = 0;
    metrics_http_set_limits(h, &lim);
    end = util_mono_us() + 5000000;
    do {
        spin(base, 10);
        metrics_http_get_stats(h, &st);
    } while (st.accepted == 0 && util_mono_us() < end);
    UNIT_EQ_INT(st.accepted, 1);
    close(fd);
    spin(base, 50);

    /* now every descriptor below a lowered limit in use: accept() fails */
    fd = client(port, 0);
    low = old;
    low.rlim_cur = (rlim_t)fcntl(0, F_DUPFD, 0); /* the lowest free number */
    close((int)low.rlim_cur);
    low.rlim_cur += 8;
    UNIT_CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0);
    while (nfill < (int)ND_ARRAY_LEN(fillers) && (fillers[nfill] = dup(0)) >= 0)
        nfill++;
    spin(base, 300);
    metrics_http_get_stats(h, &st);
    UNIT_EQ_INT(st.paused[HTTP_PAUSE_ERROR], 1); /* once: paused, not spinning */
    UNIT_EQ_INT(st.accepted, 1);
    while (nfill > 0)
        close(fillers[--nfill]);
    UNIT_CHECK(setrlimit(RLIMIT_NOFILE, &old) == 0);
    end = util_mono_us() + 5000000;
    do {
        spin(base, 10);
        metrics_http_get_stats(h, &st);
    } while (st.accepted < 2 && util_mono_us() < end);
    UNIT_EQ_INT(st.accepted, 2); /* served after the pause */
    close(fd);
    metrics_http_free(h);
    event_base_free(base);
}

/* A reload linked to the running config (how netdiagd reloads) that adds
 * targets: the endpoint keeps one more descriptor per new target for
 * probing. It kept the old count, so /metrics connections could take the
 * descriptors the new targets' probes need. */
static void test_linked_reload_keeps_descriptors(void)
{
    static const char *const names1[] = {"t0"};
    static const enum target_kind kinds[1] = {KIND_CONNECT};
    enum { N2 = 80 };
    static char names2[N2][8];
    const char *ptrs2[N2];
    enum target_kind kinds2[N2];
    struct event_base *base = event_base_new();
    struct config *c1 = make_config(1, names1, kinds), *c2;
    uint32_t *same = calloc(N2, sizeof(*same));
    struct rlimit old, low;
    char addr[64], err[256] = "", *body;
    int port = free_port(), fd1, fd2;
    struct metrics *m;

    for (int i = 0; i < N2; i++) {
        snprintf(names2[i], sizeof(names2[i]), "t%d", i);
        ptrs2[i] = names2[i];
        kinds2[i] = KIND_CONNECT;
        same[i] = i == 0 ? 0 : CONFIG_NO_PREV;
    }
    c2 = make_config(N2, ptrs2, kinds2);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    UNIT_CHECK(getrlimit(RLIMIT_NOFILE, &old) == 0);
    /* 60 descriptors above those open now: room for 1 target and the 32
     * spare, not for 80 targets */
    low = old;
    low.rlim_cur = (rlim_t)fcntl(0, F_DUPFD, 0);
    close((int)low.rlim_cur);
    low.rlim_cur += 60;
    UNIT_CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0);
    m = metrics_start(base, addr, NULL, err, sizeof(err));
    UNIT_CHECK(m != NULL);
    if (m == NULL) {
        fprintf(stderr, "%s: %s\n", unit_cur, err);
        goto out;
    }
    metrics_set_targets(m, c1);
    fd1 = client(port, 0);
    spin(base, 200);
    body = render(m);
    CHECK_LINE(body, "netdiag_metrics_accept_paused_total{reason=\"descriptors\"} 0");
    free(body);

    c2->prev = c1;
    c2->prev_idx = same;
    metrics_set_targets(m, c2);
    fd2 = client(port, 0);
    spin(base, 300);
    body = render(m);
    UNIT_CHECK(strstr(body, "netdiag_metrics_accept_paused_total{reason=\"descriptors\"} 0") ==
               NULL);
    free(body);
    close(fd1);
    close(fd2);
    metrics_stop(m);
out:
    UNIT_CHECK(setrlimit(RLIMIT_NOFILE, &old) == 0);
    c2->prev = NULL;
    c2->prev_idx = NULL;
    free_config(c1);
    free_config(c2);
    free(same);
    event_base_free(base);
}

int main(int argc, char **argv)
{
    unit_init(argc, argv);
    log_set_fd(unit_log_fd());
    log_init(LOG_LEVEL_ERROR);
    if (access(PROMTOOL, X_OK) != 0)
        printf("test_metrics: %s not installed; bodies not checked by promtool\n", PROMTOOL);
    UNIT_RUN(test_counters_and_histogram);
    UNIT_RUN(test_help_and_type);
    UNIT_RUN(test_label_escaping);
    UNIT_RUN(test_sources_and_reload);
    UNIT_RUN(test_target_state);
    UNIT_RUN(test_alert_firing);
    UNIT_RUN(test_process);
    UNIT_RUN(test_set_targets_drops_series);
    UNIT_RUN(test_many_targets);
    UNIT_RUN(test_null_is_off);
    UNIT_RUN(test_bind_in_use);
    UNIT_RUN(test_rebind);
    UNIT_RUN(test_raw_label);
    UNIT_RUN(test_http_replies);
    UNIT_RUN(test_http_shares_body);
    UNIT_RUN(test_http_cap);
    UNIT_RUN(test_http_deadline_from_accept);
    UNIT_RUN(test_http_slow_reader);
    UNIT_RUN(test_http_budget);
    UNIT_RUN(test_http_descriptors);
    UNIT_RUN(test_linked_reload_keeps_descriptors);
    return UNIT_END("test_metrics");
}
