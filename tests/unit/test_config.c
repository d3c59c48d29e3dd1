/* SPDX-License-Identifier: ISC */
/* Unit tests of config.c and config_opt.c: parsed values, defaults and
 * their inheritance, include directories and list files, and the exact
 * "file:line: message" lines of bad files. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <netinet/in.h>

#include "config.h"
#include "config_opt.h"
#include "log.h"
#include "unit.h"
#include "util.h"
#include "wsa.h"

/* Each test works in a fresh directory under /tmp, so that files have
 * short relative names and error lines are exact. */
static char sample_conf[PATH_MAX];
static char test_dir[PATH_MAX]; /* the directory the tests run in, resolved */

static void write_bytes(const char *name, const char *data, size_t len)
{
    FILE *fp = fopen(name, "w");

    UNIT_CHECK(fp != NULL);
    if (fp == NULL)
        return;
    UNIT_CHECK(fwrite(data, 1, len, fp) == len);
    fclose(fp);
}

static void write_file(const char *name, const char *text)
{
    write_bytes(name, text, strlen(text));
}

/* Load `name`; *errs gets everything config_load printed (free it). */
static struct config *load(const char *name, char **errs, int *nerr)
{
    size_t len = 0;
    FILE *mem;
    struct config *cfg;

    *errs = NULL;
    mem = open_memstream(errs, &len);
    UNIT_CHECK(mem != NULL);
    *nerr = -1;
    cfg = config_load(name, mem, nerr);
    fclose(mem);
    return cfg;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* Write `text` as t.ini, load it, and expect exactly `expected` on errs,
 * one error per line, and no config. */
#define EXPECT_ERRORS(text, expected)                                                              \
    do {                                                                                           \
        char *errs_;                                                                               \
        int nerr_;                                                                                 \
        struct config *cfg_;                                                                       \
        write_file("t.ini", (text));                                                               \
        cfg_ = load("t.ini", &errs_, &nerr_);                                                      \
        UNIT_CHECK(cfg_ == NULL);                                                                  \
        UNIT_EQ_STR(errs_, (expected));                                                            \
        UNIT_EQ_INT(nerr_, count_lines(expected));                                                 \
        config_free(cfg_);                                                                         \
        free(errs_);                                                                               \
    } while (0)

/* Load t.ini holding `text`; it must be valid. */
static struct config *load_ok(const char *text)
{
    char *errs;
    int nerr;
    struct config *cfg;

    write_file("t.ini", text);
    cfg = load("t.ini", &errs, &nerr);
    UNIT_CHECK(cfg != NULL);
    UNIT_EQ_STR(errs, "");
    UNIT_EQ_INT(nerr, 0);
    free(errs);
    return cfg;
}

#define TARGET_A "[target a]\nkind = resolve\nname = x\n"

static const char connect_target[] = "[target web]\nkind = connect\nhost = localhost\nport = 80\n";

/* Issue 16: a target's config is paid 100,000 times (memory per target at
 * most 1 KiB, all of it counted): 320 bytes before the codes became
 * int16_t, its numbers int32_t and the fields were ordered to pad less
 * (256), then 272 with the alert labels and severity of issue 19. */
static void test_target_size(void)
{
    UNIT_CHECK(sizeof(struct target) <= 272);
    UNIT_CHECK(sizeof(((struct target *)0)->alert_codes) == CONFIG_MAX_CODES * sizeof(int16_t));
    /* its numbers are int32_t: every key that writes one stays in range */
    for (size_t i = 0; i < CONFIG_NOPTS; i++) {
        const struct config_option *o = &config_options[i];
        if (o->section == SEC_TARGET && (o->type == OT_DURATION || o->type == OT_INT))
            UNIT_CHECK(o->min >= INT32_MIN && o->max <= INT32_MAX);
    }
}

static void test_builtin_defaults(void)
{
    struct config *cfg = load_ok(connect_target);
    struct target *t;

    if (cfg == NULL)
        return;
    UNIT_EQ_STR(cfg->path, "t.ini");
    UNIT_EQ_STR(cfg->database, "/var/lib/netdiag/netdiag.db");
    UNIT_EQ_INT(cfg->log_level, 6); /* LOG_LEVEL_INFO */
    UNIT_CHECK(cfg->metrics_listen == NULL);
    UNIT_EQ_INT(cfg->retention_ms, 30LL * 24 * 3600 * 1000);
    UNIT_CHECK(cfg->include == NULL);
    UNIT_EQ_INT(cfg->alert.ncodes, 2);
    UNIT_EQ_INT(cfg->alert.codes[0], WSAECONNREFUSED); /* "refused, timeout" */
    UNIT_EQ_INT(cfg->alert.codes[1], CONFIG_CODE_TIMEOUT);
    UNIT_EQ_INT(cfg->alert.window_ms, 60000);
    UNIT_EQ_INT(cfg->alert.baseline_ms, 3600000);
    UNIT_CHECK(cfg->alert.factor == 3.0);
    UNIT_EQ_INT(cfg->alert.min_failures, 5);
    UNIT_CHECK(cfg->alert.min_ratio == 0.15);
    UNIT_EQ_INT(cfg->alert.clear_after, 3);
    UNIT_CHECK(cfg->alert.exec == NULL);
    UNIT_CHECK(cfg->alert.alertmanager_url == NULL);
    UNIT_EQ_INT(cfg->alert.exec_timeout_ms, 10000);
    UNIT_EQ_INT(cfg->alert.renotify_ms, 4 * 3600000LL);
    UNIT_EQ_INT(cfg->alert.host_min_targets, 3);
    UNIT_CHECK(cfg->alert.host_ratio == 0.5);

    UNIT_EQ_INT(cfg->ntargets, 1);
    t = &cfg->targets[0];
    UNIT_EQ_STR(t->name, "web");
    UNIT_EQ_INT(t->kind, KIND_CONNECT);
    UNIT_EQ_STR(t->host, "localhost");
    UNIT_EQ_INT(t->port, 80);
    UNIT_EQ_INT(t->interval_ms, 10000);
    UNIT_EQ_INT(t->timeout_ms, 3000);
    UNIT_EQ_INT(t->family, FAMILY_ANY);
    UNIT_EQ_INT(t->addresses, ADDRSEL_FIRST);
    UNIT_EQ_INT(t->source_len, 0);
    UNIT_CHECK(t->source_str == NULL);
    UNIT_EQ_INT(t->alert_ncodes, 2);
    UNIT_EQ_INT(t->alert_codes[0], WSAECONNREFUSED);
    UNIT_EQ_INT(t->alert_codes[1], CONFIG_CODE_TIMEOUT);
    UNIT_EQ_STR(t->file, "t.ini");
    UNIT_EQ_INT(t->line, 1);
    UNIT_CHECK(t->probe == NULL);
    config_free(cfg);
}

/* The [alert] keys of the exec hook and Alertmanager. */
static void test_alert_keys(void)
{
    struct config *cfg = load_ok("[alert]\n"
                                 "exec = /usr/local/bin/hook $(x) `y`|z\n"
                                 "exec_timeout = 500ms\n"
                                 "renotify = 0s\n"
                                 "host_min_targets = 0\n"
                                 "host_ratio = 0.8\n");

    if (cfg == NULL)
        return;
    /* kept as written: the words go to the program, never to a shell */
    UNIT_EQ_STR(cfg->alert.exec, "/usr/local/bin/hook $(x) `y`|z");
    UNIT_EQ_INT(cfg->alert.exec_timeout_ms, 500);
    UNIT_EQ_INT(cfg->alert.renotify_ms, 0);
    UNIT_EQ_INT(cfg->alert.host_min_targets, 0);
    UNIT_CHECK(cfg->alert.host_ratio == 0.8);
    config_free(cfg);
}

static void test_values(void)
{
    struct config *cfg = load_ok("; comment\n"
                                 "# another\n"
                                 "[daemon]\n"
                                 "database = var/x.db\n"
                                 "log_level = debug\n"
                                 "metrics_listen = 9470\n"
                                 "retention = 7d\n"
                                 "[alert]\n"
                                 "codes = econnreset, 10065 WSAHOST_NOT_FOUND,ECONNRESET\n"
                                 "window = 30s\n"
                                 "baseline = 2h\n"
                                 "factor = 2.5\n"
                                 "min_failures = 1\n"
                                 "min_ratio = 0\n"
                                 "clear_after = 10\n"
                                 "exec = /usr/local/bin/page-me --now\n"
                                 "alertmanager_url = http://127.0.0.1:9093\n"
                                 "[target c]\n"
                                 "kind = connect\n"
                                 "host = ::1\n"
                                 "port = 65535\n"
                                 "source = ::1\n"
                                 "addresses = all\n"
                                 "family = ipv6\n"
                                 "interval = 250ms\n"
                                 "timeout = 249ms\n"
                                 "codes = WSAETIMEDOUT\n"
                                 "[target r]\n"
                                 "kind = resolve\n"
                                 "name = example.test.\n"
                                 "type = aaaa\n"
                                 "server = [::1]:5353\n"
                                 "expect = ::1\n"
                                 "interval = 1d\n"
                                 "timeout = 1ms\n"
                                 "[target r2]\n"
                                 "kind = resolve\n"
                                 "name = example.test\n"
                                 "type = MX\n"
                                 "server = 127.0.0.2\n"
                                 "[target s]\n"
                                 "kind = send\n"
                                 "protocol = tcp\n"
                                 "host = 127.0.0.1\n"
                                 "port = 7\n"
                                 "source = 127.0.0.1\n"
                                 "payload_hex = 68 65:6C6c6f\n"
                                 "expect_hex = 00ff\n"
                                 "codes =\n"
                                 "[target s2]\n"
                                 "kind = send\n"
                                 "host = h\n"
                                 "port = 9\n"
                                 "payload = a b=c\n"
                                 "expect = pong\n");
    struct target *t;

    if (cfg == NULL)
        return;
    {
        /* relative to the file's directory, made absolute */
        char want[PATH_MAX + 16];
        snprintf(want, sizeof(want), "%s/var/x.db", test_dir);
        UNIT_EQ_STR(cfg->database, want);
    }
    UNIT_EQ_INT(cfg->log_level, 7);
    UNIT_EQ_STR(cfg->metrics_listen, "127.0.0.1:9470");
    UNIT_EQ_INT(cfg->retention_ms, 7LL * 86400000);
    UNIT_EQ_INT(cfg->alert.ncodes, 3); /* ECONNRESET twice counts once */
    UNIT_EQ_INT(cfg->alert.codes[0], WSAECONNRESET);
    UNIT_EQ_INT(cfg->alert.codes[1], WSAEHOSTUNREACH);
    UNIT_EQ_INT(cfg->alert.codes[2], WSAHOST_NOT_FOUND);
    UNIT_EQ_INT(cfg->alert.window_ms, 30000);
    UNIT_EQ_INT(cfg->alert.baseline_ms, 7200000);
    UNIT_CHECK(cfg->alert.factor == 2.5);
    UNIT_EQ_INT(cfg->alert.min_failures, 1);
    UNIT_CHECK(cfg->alert.min_ratio == 0.0);
    UNIT_EQ_INT(cfg->alert.clear_after, 10);
    UNIT_EQ_STR(cfg->alert.exec, "/usr/local/bin/page-me --now");
    UNIT_EQ_STR(cfg->alert.alertmanager_url, "http://127.0.0.1:9093");
    UNIT_EQ_INT(cfg->ntargets, 5);

    t = config_find_target(cfg, "c");
    UNIT_CHECK(t == &cfg->targets[0]);
    if (t != NULL) {
        UNIT_EQ_STR(t->host, "::1");
        UNIT_EQ_INT(t->port, 65535);
        UNIT_EQ_INT(t->source.sa.sa_family, AF_INET6);
        UNIT_EQ_INT(t->source_len, sizeof(struct sockaddr_in6));
        UNIT_EQ_STR(t->source_str, "::1");
        UNIT_EQ_INT(t->addresses, ADDRSEL_ALL);
        UNIT_EQ_INT(t->family, FAMILY_IPV6);
        UNIT_EQ_INT(t->interval_ms, 250);
        UNIT_EQ_INT(t->timeout_ms, 249);
        UNIT_EQ_INT(t->alert_ncodes, 1);
        UNIT_EQ_INT(t->alert_codes[0], WSAETIMEDOUT);
        UNIT_EQ_INT(t->line, 18);
    }
    t = config_find_target(cfg, "r");
    UNIT_CHECK(t != NULL);
    if (t != NULL) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&t->server;
        UNIT_EQ_INT(t->kind, KIND_RESOLVE);
        UNIT_EQ_STR(t->qname, "example.test.");
        UNIT_EQ_INT(t->qtype, 28);
        UNIT_CHECK(!t->server_system);
        UNIT_EQ_INT(t->server.sa.sa_family, AF_INET6);
        UNIT_EQ_INT(ntohs(sin6->sin6_port), 5353);
        UNIT_EQ_STR(t->server_str, "[::1]:5353");
        UNIT_EQ_STR((const char *)t->expect, "::1");
        UNIT_EQ_INT(t->expect_len, 3);
        UNIT_EQ_INT(t->interval_ms, 86400000);
        UNIT_EQ_INT(t->timeout_ms, 1);
        UNIT_CHECK(t->host == NULL);
    }
    t = config_find_target(cfg, "r2");
    UNIT_CHECK(t != NULL);
    if (t != NULL) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)&t->server;
        UNIT_EQ_INT(t->qtype, 15);
        UNIT_EQ_INT(t->server.sa.sa_family, AF_INET);
        UNIT_EQ_INT(ntohs(sin->sin_port), 53); /* the default port */
        UNIT_EQ_INT(t->server_len, sizeof(struct sockaddr_in));
        UNIT_CHECK(t->expect == NULL);
    }
    t = config_find_target(cfg, "s");
    UNIT_CHECK(t != NULL);
    if (t != NULL) {
        UNIT_EQ_INT(t->protocol, PROTO_TCP);
        UNIT_EQ_INT(t->payload_len, 5);
        UNIT_CHECK(t->payload != NULL && memcmp(t->payload, "hello", 6) == 0);
        UNIT_EQ_INT(t->expect_len, 2);
        UNIT_CHECK(t->expect != NULL && t->expect[0] == 0 && t->expect[1] == 0xff &&
                   t->expect[2] == 0);
        UNIT_EQ_INT(t->source.sa.sa_family, AF_INET);
        UNIT_EQ_INT(t->alert_ncodes, 0); /* "codes =": this target raises no alert */
    }
    t = config_find_target(cfg, "s2");
    UNIT_CHECK(t != NULL);
    if (t != NULL) {
        UNIT_EQ_INT(t->protocol, PROTO_UDP); /* the default */
        UNIT_EQ_STR((const char *)t->payload, "a b=c");
        UNIT_EQ_INT(t->payload_len, 5);
        UNIT_EQ_STR((const char *)t->expect, "pong");
    }
    UNIT_CHECK(config_find_target(cfg, "nope") == NULL);
    config_free(cfg);
}

/* [defaults] fills what a target leaves out, only for keys its kind takes,
 * wherever [defaults] stands in the file; a target's payload_hex beats a
 * default payload. */
static void test_defaults_inheritance(void)
{
    struct config *cfg = load_ok("[target early]\n"
                                 "kind = send\n"
                                 "host = h\n"
                                 "port = 1\n"
                                 "payload_hex = 6869\n"
                                 "[defaults]\n"
                                 "interval = 2s\n"
                                 "timeout = 500ms\n"
                                 "family = ipv4\n"
                                 "protocol = tcp\n"
                                 "payload = hello\n"
                                 "codes = WSAEHOSTUNREACH\n"
                                 "type = AAAA\n"
                                 "server = 127.0.0.1:5300\n"
                                 "port = 443\n"
                                 "[target conn]\n"
                                 "kind = connect\n"
                                 "host = h\n"
                                 "interval = 1m\n"
                                 "[target res]\n"
                                 "kind = resolve\n"
                                 "name = localhost\n"
                                 "family = any\n"
                                 "codes = WSAETIMEDOUT\n"
                                 "[target snd]\n"
                                 "kind = send\n"
                                 "host = h\n"
                                 "port = 2\n");
    struct target *t;

    if (cfg == NULL)
        return;
    UNIT_EQ_INT(cfg->ntargets, 4);
    t = config_find_target(cfg, "early");
    if (t != NULL) {
        UNIT_EQ_INT(t->interval_ms, 2000);
        UNIT_EQ_INT(t->timeout_ms, 500);
        UNIT_EQ_INT(t->family, FAMILY_IPV4);
        UNIT_EQ_INT(t->protocol, PROTO_TCP);
        UNIT_EQ_INT(t->payload_len, 2);
        UNIT_CHECK(memcmp(t->payload, "hi", 3) == 0);
        UNIT_EQ_INT(t->port, 1);
        UNIT_EQ_INT(t->alert_ncodes, 1);
        UNIT_EQ_INT(t->alert_codes[0], WSAEHOSTUNREACH);
        UNIT_EQ_INT(t->qtype, 0); /* type is not a send key */
    }
    t = config_find_target(cfg, "conn");
    UNIT_CHECK(t != NULL);
    if (t != NULL) {
        UNIT_EQ_INT(t->port, 443); /* required, given by [defaults] */
        UNIT_EQ_INT(t->interval_ms, 60000);
        UNIT_EQ_INT(t->timeout_ms, 500);
        UNIT_EQ_INT(t->family, FAMILY_IPV4);
        UNIT_CHECK(t->payload == NULL);
        UNIT_EQ_INT(t->protocol, PROTO_UDP); /* untouched: not a connect key */
    }
    t = config_find_target(cfg, "res");
    UNIT_CHECK(t != NULL);
    if (t != NULL) {
        UNIT_EQ_INT(t->family, FAMILY_ANY);
        UNIT_EQ_INT(t->qtype, 28);
        UNIT_CHECK(!t->server_system);
        UNIT_EQ_STR(t->server_str, "127.0.0.1:5300");
        UNIT_EQ_INT(t->port, 0);
        UNIT_EQ_INT(t->alert_ncodes, 1);
        UNIT_EQ_INT(t->alert_codes[0], WSAETIMEDOUT);
    }
    t = config_find_target(cfg, "snd");
    UNIT_CHECK(t != NULL);
    if (t != NULL) {
        UNIT_EQ_STR((const char *)t->payload, "hello");
        UNIT_EQ_INT(t->payload_len, 5);
        UNIT_EQ_INT(t->port, 2);
    }
    config_free(cfg);

    /* Without [defaults] a resolve target asks the system for an A record. */
    cfg = load_ok("[target r]\nkind = resolve\nname = localhost\n");
    if (cfg != NULL) {
        t = &cfg->targets[0];
        UNIT_EQ_INT(t->qtype, 1);
        UNIT_CHECK(t->server_system);
        UNIT_EQ_STR(t->server_str, "system");
        UNIT_EQ_INT(t->server_len, 0);
    }
    config_free(cfg);
}

/* What inih accepts around values: comments, CRLF, a BOM, ':' separators. */
static void test_syntax_accepted(void)
{
    struct config *cfg = load_ok("\xEF\xBB\xBF[daemon] ; the daemon\r\n"
                                 "log_level = warn ; inline comment\r\n"
                                 "\r\n"
                                 "[ target  web ]\r\n"
                                 "kind: connect\r\n"
                                 "host = localhost\r\n"
                                 "port = 80\r\n");

    if (cfg == NULL)
        return;
    UNIT_EQ_INT(cfg->log_level, 4);
    UNIT_EQ_INT(cfg->ntargets, 1);
    UNIT_EQ_STR(cfg->targets[0].name, "web");
    UNIT_EQ_INT(cfg->targets[0].line, 4);
    config_free(cfg);
}

/* 199 characters fit in Debian's inih buffer; 200 do not. */
static void test_line_length(void)
{
    char text[512], payload[256];
    struct config *cfg;
    char *errs;
    int nerr;

    memset(payload, 'x', sizeof(payload));
    payload[199 - strlen("payload = ")] = '\0';
    snprintf(text, sizeof(text), "[target s]\nkind = send\nhost = h\nport = 1\npayload = %s\n",
             payload);
    cfg = load_ok(text);
    if (cfg != NULL)
        UNIT_EQ_INT(cfg->targets[0].payload_len, 189);
    config_free(cfg);

    payload[200 - strlen("payload = ")] = '\0';
    memset(payload, 'y', 200 - strlen("payload = "));
    snprintf(text, sizeof(text),
             "[target s]\nkind = send\nhost = h\nport = 1\npayload = %s\nexpect = ok\n", payload);
    write_file("t.ini", text);
    cfg = load("t.ini", &errs, &nerr);
    UNIT_CHECK(cfg == NULL);
    UNIT_EQ_STR(errs, "t.ini:5: line too long (max 199 characters)\n");
    UNIT_EQ_INT(nerr, 1);
    free(errs);
}

/* [path]: the tracer's keys, their defaults, bounds and errors. */
static void test_path_section(void)
{
    struct config *cfg = load_ok(TARGET_A);

    UNIT_EQ_INT(cfg->tracing.trace, 1);
    UNIT_EQ_INT(cfg->tracing.max_hops, 30);
    UNIT_EQ_INT(cfg->tracing.probes, 2);
    UNIT_EQ_INT(cfg->tracing.hop_timeout_ms, 1000);
    UNIT_EQ_INT(cfg->tracing.max_traces, 4);
    UNIT_EQ_INT(cfg->tracing.hold_ms, 600000);
    UNIT_EQ_INT(cfg->tracing.refresh_ms, 6 * 3600 * 1000);
    config_free(cfg);
    cfg = load_ok("[path]\ntrace = off\nmax_hops = 8\nprobes = 3\nhop_timeout = 250ms\n"
                  "max_traces = 1\npath_hold = 30s\npath_refresh = 1h\n" TARGET_A);
    UNIT_EQ_INT(cfg->tracing.trace, 0);
    UNIT_EQ_INT(cfg->tracing.max_hops, 8);
    UNIT_EQ_INT(cfg->tracing.probes, 3);
    UNIT_EQ_INT(cfg->tracing.hop_timeout_ms, 250);
    UNIT_EQ_INT(cfg->tracing.max_traces, 1);
    UNIT_EQ_INT(cfg->tracing.hold_ms, 30000);
    UNIT_EQ_INT(cfg->tracing.refresh_ms, 3600000);
    config_free(cfg);
    EXPECT_ERRORS("[path]\nprobes = 4\nmax_hops = 0\nhop_timeout = 20s\nmax_traces = x\n"
                  "path_hold = 10\ncolour = red\n",
                  "t.ini:2: [path] probes: \"4\" is out of range (1 to 3)\n"
                  "t.ini:3: [path] max_hops: \"0\" is out of range (1 to 64)\n"
                  "t.ini:4: [path] hop_timeout: \"20s\" is out of range (10ms to 10s)\n"
                  "t.ini:5: [path] max_traces: expected a number, got \"x\"\n"
                  "t.ini:6: [path] path_hold: \"10\" has no unit (use ms, s, m, h or d, e.g. "
                  "\"10s\")\n"
                  "t.ini:7: [path] colour: unknown key\n");
}

static void test_error_lines(void)
{
    EXPECT_ERRORS("[daemon]\ncolour = blue\n", "t.ini:2: [daemon] colour: unknown key\n");
    EXPECT_ERRORS("[daemon]\ninterval = 5s\n[alert]\nretention = 1d\n",
                  "t.ini:2: [daemon] interval: unknown key (it belongs in [defaults] or a [target "
                  "NAME] section)\n"
                  "t.ini:4: [alert] retention: unknown key (it belongs in [daemon])\n");
    EXPECT_ERRORS("[deamon]\nlog_level = info\n",
                  "t.ini:1: unknown section [deamon] (expected [daemon], [defaults], [alert], "
                  "[path], [export] or [target NAME])\n");
    /* [export]: only plain http (TLS through a local proxy), a port in range */
    EXPECT_ERRORS("[export]\nclickhouse_url = https://127.0.0.1:8443/\nbatch_rows = 0\n",
                  "t.ini:2: [export] clickhouse_url: \"https://127.0.0.1:8443/\": only "
                  "http://HOST[:PORT][/] (for TLS, a local proxy)\n"
                  "t.ini:3: [export] batch_rows: \"0\" is out of range (1 to 100000)\n");
    EXPECT_ERRORS("log_level = info\n",
                  "t.ini:1: log_level: key outside a section (put it under "
                  "[daemon], [defaults], [alert], [path], [export] or [target NAME])\n");
    EXPECT_ERRORS(
        "[daemon]\nretention = 10\nlog_level = loud\ndatabase =\n",
        "t.ini:2: [daemon] retention: \"10\" has no unit (use ms, s, m, h or d, e.g. "
        "\"10s\")\n"
        "t.ini:3: [daemon] log_level: \"loud\" is not one of error, warn, notice, info, debug\n"
        "t.ini:4: [daemon] database: must not be empty\n");
    EXPECT_ERRORS("[defaults]\ninterval = 10 s\ntimeout = 0ms\n",
                  "t.ini:2: [defaults] interval: \"10 s\" is not a duration (a whole number with "
                  "ms, s, m, h or d)\n"
                  "t.ini:3: [defaults] timeout: \"0ms\" is out of range (1ms to 1d)\n");
    EXPECT_ERRORS("[target web]\nkind = connect\nhost = localhost\nport = 99999\n",
                  "t.ini:4: [target web] port: \"99999\" is out of range (1 to 65535)\n");
    EXPECT_ERRORS("[target web]\nkind = connect\nhost = localhost\nport = http\nfamily = ip4\n",
                  "t.ini:4: [target web] port: expected a number, got \"http\"\n"
                  "t.ini:5: [target web] family: \"ip4\" is not one of any, ipv4, ipv6\n");
    EXPECT_ERRORS("[target d]\nkind = resolve\nname = example.test\ntype = AXFR\n",
                  "t.ini:4: [target d] type: \"AXFR\" is not a record type (A, AAAA, MX, TXT, "
                  "NS, CNAME, SOA, PTR, SRV, CAA or ANY)\n");
    EXPECT_ERRORS("[target web]\nkind = connect\nhost = h\nport = 1\ninterval = 5s\ntimeout = 5s\n",
                  "t.ini:6: [target web] timeout: 5s must be less than interval (5s)\n");
    EXPECT_ERRORS("[target web]\nkind = connect\nhost = h\nport = 1\ninterval = 2s\n",
                  "t.ini:5: [target web] interval: 2s must be longer than timeout (3s)\n");
    EXPECT_ERRORS("[target web]\nkind = connect\nhost = h\nport = 1\ninterval = 5ms\n"
                  "[target web2]\nkind = connect\nhost = h\nport = 1\ninterval = 2d\n",
                  "t.ini:5: [target web] interval: \"5ms\" is out of range (10ms to 1d)\n"
                  "t.ini:10: [target web2] interval: \"2d\" is out of range (10ms to 1d)\n");
    EXPECT_ERRORS("[target a]\nkind = connect\nhost = h\nport = 1\n"
                  "[target a]\nkind = resolve\nname = x\n",
                  "t.ini:5: [target a]: duplicate target name (first defined at t.ini:1)\n");
    EXPECT_ERRORS("[target web]\nkind = connect\nport = 80\n[target s]\nkind = send\n",
                  "t.ini:1: [target web] host: missing (a connect target needs it)\n"
                  "t.ini:4: [target s] host: missing (a send target needs it)\n"
                  "t.ini:4: [target s] port: missing (a send target needs it)\n");
    EXPECT_ERRORS("[target d]\nkind = resolve\ntype = A\n",
                  "t.ini:1: [target d] name: missing (a resolve target needs it)\n");
    EXPECT_ERRORS("[target d]\nname = x\n",
                  "t.ini:1: [target d] kind: missing (connect, resolve, send or ping)\n");
    EXPECT_ERRORS("[target d]\nkind = ping\nname = x\n",
                  "t.ini:3: [target d] name: not a key of a ping target (only resolve targets)\n"
                  "t.ini:1: [target d] host: missing (a ping target needs it)\n");
    EXPECT_ERRORS("[target d]\nkind = pong\n",
                  "t.ini:2: [target d] kind: \"pong\" is not one of connect, resolve, send, "
                  "ping\n");
    EXPECT_ERRORS("[target s]\nkind = send\nhost = h\nport = 1\npayload = hi\npayload_hex = 6869\n"
                  "expect_hex = 6869\nexpect = hi\n",
                  "t.ini:6: [target s] payload_hex: payload is already set (line 5); give only "
                  "one of them\n"
                  "t.ini:8: [target s] expect: expect_hex is already set (line 7); give only one "
                  "of them\n");
    EXPECT_ERRORS("[target s]\nkind = send\nhost = h\nport = 1\npayload_hex = 68656c6c6\n",
                  "t.ini:5: [target s] payload_hex: bad hex at offset 8 (pairs of 0-9a-f "
                  "expected)\n");
    EXPECT_ERRORS("[target web]\nkind = connect\nhost = h\nport = 1\ntype = A\nname = x\n"
                  "expect = y\n",
                  "t.ini:5: [target web] type: not a key of a connect target (only resolve "
                  "targets)\n"
                  "t.ini:6: [target web] name: not a key of a connect target (only resolve "
                  "targets)\n"
                  "t.ini:7: [target web] expect: not a key of a connect target (only resolve and "
                  "send targets)\n");
    EXPECT_ERRORS("[target d]\nkind = resolve\nname = x\nport = 53\nprotocol = tcp\n",
                  "t.ini:4: [target d] port: not a key of a resolve target (only connect and "
                  "send targets)\n"
                  "t.ini:5: [target d] protocol: not a key of a resolve target (only send "
                  "targets)\n");
    EXPECT_ERRORS("[target web]\nkind = connect\nhost = h\nport = 1\nhost = g\n",
                  "t.ini:5: [target web] host: duplicate key (first set on line 3)\n");
    EXPECT_ERRORS("[target web]\nkind = connect\n  host = h\nport = 1\n",
                  "t.ini:3: [target web] kind: indented line read as a continuation of the value "
                  "on line 2 (values cannot span lines; remove the indentation)\n"
                  "t.ini:1: [target web] host: missing (a connect target needs it)\n");
    EXPECT_ERRORS(
        "[alert]\ncodes = WSAECONNREFUSED, WSAEBOGUS\n",
        "t.ini:2: [alert] codes: \"WSAEBOGUS\" is not a Windows Sockets code (a name "
        "such as WSAECONNREFUSED or ECONNREFUSED, a number such as 10061, refused or timeout)\n");
    EXPECT_ERRORS(
        "[alert]\ncodes = 12345\nfactor = 0.5\nmin_ratio = 1.5\nmin_failures = 0\n"
        "factor = nan\n",
        "t.ini:2: [alert] codes: \"12345\" is not a Windows Sockets code (a name such "
        "as WSAECONNREFUSED or ECONNREFUSED, a number such as 10061, refused or timeout)\n"
        "t.ini:3: [alert] factor: \"0.5\" is out of range (1 to 1000)\n"
        "t.ini:4: [alert] min_ratio: \"1.5\" is out of range (0 to 1)\n"
        "t.ini:5: [alert] min_failures: \"0\" is out of range (1 to 1000000)\n"
        "t.ini:6: [alert] factor: duplicate key (first set on line 3)\n");
    EXPECT_ERRORS("[alert]\ncodes = 10004 10013 10014 10022 10024 10035 10036 10037 10038 10039 "
                  "10040 10041 10042 10043 10044 10045 10046\n",
                  "t.ini:2: [alert] codes: more than 16 codes\n");
    /* A section may appear twice, its keys still only once. */
    EXPECT_ERRORS("[daemon]\nlog_level = info\n[alert]\n[daemon]\nlog_level = debug\n",
                  "t.ini:5: [daemon] log_level: duplicate key (first set on line 2)\n");
    EXPECT_ERRORS("[alert]\nwindow = 2h\n",
                  "t.ini:2: [alert] window: 2h must be shorter than baseline (1h)\n");
    EXPECT_ERRORS("[alert]\nalertmanager_url = 127.0.0.1:9093\n[daemon]\nmetrics_listen = "
                  "localhost:9470\n",
                  "t.ini:2: [alert] alertmanager_url: \"127.0.0.1:9093\" is not a URL (write "
                  "http://HOST:PORT or https://HOST:PORT, e.g. http://127.0.0.1:9093)\n"
                  "t.ini:4: [daemon] metrics_listen: \"localhost:9470\" is not an IP address "
                  "(with optional :port, [v6]:port)\n");
    /* exec runs without a shell: only an absolute program path */
    EXPECT_ERRORS("[alert]\nexec = page-me --now\nalertmanager_url = https://u:pw@am.test:9093\n"
                  "exec_timeout = 2h\nhost_ratio = 1.5\n",
                  "t.ini:2: [alert] exec: \"page-me --now\" does not start with an absolute "
                  "program path (words after it are passed as they are, no shell)\n"
                  "t.ini:3: [alert] alertmanager_url: \"https://***@am.test:9093\": credentials "
                  "do not go in the URL; put them in a file named by alertmanager_basic_auth_file "
                  "(user:password) or alertmanager_bearer_token_file\n"
                  "t.ini:4: [alert] exec_timeout: \"2h\" is out of range (100ms to 1h)\n"
                  "t.ini:5: [alert] host_ratio: \"1.5\" is out of range (0 to 1)\n");
    EXPECT_ERRORS("[defaults]\ntimeout = 20s\nkind = connect\n",
                  "t.ini:3: [defaults] kind: not allowed here (each target sets its own kind)\n"
                  "t.ini:2: [defaults] timeout: 20s must be less than interval (10s)\n");
    EXPECT_ERRORS("[target web\nkind = connect\n[target]\nkind = connect\n[target a/b]\n",
                  "t.ini:1: section header without \"]\"\n"
                  "t.ini:3: [target]: needs a name: [target NAME]\n"
                  "t.ini:5: [target a/b]: target name may only hold letters, digits, \".\", \"_\" "
                  "and \"-\"\n");
    EXPECT_ERRORS("[daemon]\njust words\n= value\n",
                  "t.ini:2: expected \"key = value\", \"[section]\" or a comment\n"
                  "t.ini:3: missing key name before \"=\"\n");
    EXPECT_ERRORS("[target c]\nkind = connect\nhost = h\nport = 1\nfamily = ipv4\nsource = ::1\n"
                  "[target d]\nkind = connect\nhost = h\nport = 1\nsource = 127.0.0.1:5\n",
                  "t.ini:11: [target d] source: \"127.0.0.1:5\": no port allowed here\n"
                  "t.ini:6: [target c] source: \"::1\" is an IPv6 address, but family is ipv4\n");
    EXPECT_ERRORS("[target d]\nkind = resolve\nname = a..b\nserver = dns.example\n",
                  "t.ini:3: [target d] name: \"a..b\" is not a DNS name\n"
                  "t.ini:4: [target d] server: \"dns.example\" is not an IP address (with "
                  "optional :port, [v6]:port)\n");
    EXPECT_ERRORS("[target web]\nkind = connect\nhost = two words\nport = 1\n",
                  "t.ini:3: [target web] host: \"two words\" is not a host name or an IP "
                  "address\n");
}

static void test_nul_byte(void)
{
    static const char text[] = "[daemon]\nlog_level = info\0debug\n";
    char *errs;
    int nerr;
    struct config *cfg;

    write_bytes("t.ini", text, sizeof(text) - 1);
    cfg = load("t.ini", &errs, &nerr);
    UNIT_CHECK(cfg == NULL);
    UNIT_EQ_STR(errs, "t.ini:2: line holds a NUL byte\n");
    free(errs);
}

/* include = a directory: *.ini files in name order, after the main file's
 * targets; dot files, other names and subdirectories are skipped. */
static void test_include_dir(void)
{
    struct config *cfg;

    UNIT_CHECK(mkdir("conf.d", 0700) == 0);
    UNIT_CHECK(mkdir("conf.d/sub.ini", 0700) == 0);
    write_file("conf.d/b.ini", "[target b1]\nkind = resolve\nname = localhost\n");
    write_file("conf.d/a.ini", "; first by name\n[target a1]\nkind = connect\nhost = h\nport = 1\n"
                               "\n[target a2]\nkind = send\nhost = h\nport = 2\n");
    write_file("conf.d/.hidden.ini", "[target hidden]\n");
    write_file("conf.d/notes.txt", "not a config\n");
    cfg = load_ok("[daemon]\ninclude = conf.d/\n[defaults]\nfamily = ipv6\n[target m]\n"
                  "kind = connect\nhost = h\nport = 3\n");
    if (cfg == NULL)
        return;
    UNIT_EQ_STR(cfg->include, "conf.d/");
    UNIT_EQ_INT(cfg->ntargets, 4);
    if (cfg->ntargets == 4) {
        UNIT_EQ_STR(cfg->targets[0].name, "m");
        UNIT_EQ_STR(cfg->targets[1].name, "a1");
        UNIT_EQ_STR(cfg->targets[1].file, "conf.d/a.ini");
        UNIT_EQ_INT(cfg->targets[1].line, 2);
        UNIT_EQ_STR(cfg->targets[2].name, "a2");
        UNIT_EQ_INT(cfg->targets[2].line, 7);
        UNIT_EQ_STR(cfg->targets[3].name, "b1");
        UNIT_EQ_INT(cfg->targets[3].family, FAMILY_IPV6); /* [defaults] reaches includes */
    }
    config_free(cfg);

    /* Only [target NAME] sections in an included file. */
    write_file("conf.d/c.ini", "[daemon]\nlog_level = debug\n[target c1]\nkind = resolve\n"
                               "name = x\nport = 1\n");
    EXPECT_ERRORS("[daemon]\ninclude = conf.d\n",
                  "conf.d/c.ini:1: [daemon] is not allowed in an included file (only [target "
                  "NAME] sections)\n"
                  "conf.d/c.ini:6: [target c1] port: not a key of a resolve target (only connect "
                  "and send targets)\n");
    /* Relative to the main file's directory, not the working directory. */
    UNIT_CHECK(mkdir("etc", 0700) == 0);
    UNIT_CHECK(mkdir("etc/more", 0700) == 0);
    write_file("etc/more/x.ini", "[target x]\nkind = resolve\nname = localhost\n");
    write_file("etc/main.ini", "[daemon]\ninclude = more\n");
    {
        char *errs;
        int nerr;
        cfg = load("etc/main.ini", &errs, &nerr);
        UNIT_CHECK(cfg != NULL);
        UNIT_EQ_STR(errs, "");
        if (cfg != NULL) {
            UNIT_EQ_INT(cfg->ntargets, 1);
            UNIT_EQ_STR(cfg->targets[0].file, "etc/more/x.ini");
        }
        config_free(cfg);
        free(errs);
    }
}

/* include = a file: a list file "NAME KIND key=value ...", or one .ini. */
static void test_include_list(void)
{
    struct config *cfg;

    write_file("targets.list", "# one target per line\n"
                               "\n"
                               "l1 connect host=localhost port=80 interval=4s # web\n"
                               "  l2 resolve name=localhost type=AAAA server=[::1]:5353\n"
                               "l3\tsend host=h port=7 payload_hex=68656c6c6f expect=hi\n");
    cfg = load_ok("[daemon]\ninclude = targets.list\n[target m]\nkind = resolve\nname = x\n");
    if (cfg == NULL)
        return;
    UNIT_EQ_INT(cfg->ntargets, 4);
    if (cfg->ntargets == 4) {
        struct target *t = &cfg->targets[1];
        UNIT_EQ_STR(t->name, "l1");
        UNIT_EQ_STR(t->file, "targets.list");
        UNIT_EQ_INT(t->line, 3);
        UNIT_EQ_INT(t->kind, KIND_CONNECT);
        UNIT_EQ_STR(t->host, "localhost");
        UNIT_EQ_INT(t->port, 80);
        UNIT_EQ_INT(t->interval_ms, 4000);
        t = &cfg->targets[2];
        UNIT_EQ_INT(t->line, 4);
        UNIT_EQ_INT(t->qtype, 28);
        UNIT_EQ_STR(t->server_str, "[::1]:5353");
        t = &cfg->targets[3];
        UNIT_EQ_INT(t->kind, KIND_SEND);
        UNIT_EQ_INT(t->payload_len, 5);
        UNIT_CHECK(memcmp(t->payload, "hello", 5) == 0);
        UNIT_EQ_STR((const char *)t->expect, "hi");
    }
    config_free(cfg);

    write_file("bad.list", "lonely\n"
                           "l4 bogus\n"
                           "l5 connect host=x port=0 kind=send junk\n"
                           "l6 resolve name=x port=5 window=1m\n"
                           "l7 connect host=h port=1 interval=2s\n"
                           "l1 connect host=h port=1\n"
                           "bad/name connect\n");
    EXPECT_ERRORS("[daemon]\ninclude = bad.list\n[target l1]\nkind = resolve\nname = x\n",
                  "bad.list:1: expected \"NAME KIND key=value ...\"\n"
                  "bad.list:2: [target l4] kind: \"bogus\" is not one of connect, resolve, send, "
                  "ping\n"
                  "bad.list:3: [target l5] port: \"0\" is out of range (1 to 65535)\n"
                  "bad.list:3: [target l5] kind: given twice\n"
                  "bad.list:3: [target l5] \"junk\": expected key=value\n"
                  "bad.list:4: [target l6] window: unknown key (it belongs in [alert])\n"
                  "bad.list:7: [target bad/name]: target name may only hold letters, digits, "
                  "\".\", \"_\" and \"-\"\n"
                  "bad.list:4: [target l6] port: not a key of a resolve target (only connect and "
                  "send targets)\n"
                  "bad.list:5: [target l7] interval: 2s must be longer than timeout (3s)\n"
                  "bad.list:6: [target l1]: duplicate target name (first defined at t.ini:3)\n");

    /* A single .ini file is read as INI, targets only. */
    write_file("one.ini", "[target o]\nkind = resolve\nname = localhost\n");
    cfg = load_ok("[daemon]\ninclude = one.ini\n");
    if (cfg != NULL) {
        UNIT_EQ_INT(cfg->ntargets, 1);
        UNIT_EQ_STR(cfg->targets[0].file, "one.ini");
    }
    config_free(cfg);

    EXPECT_ERRORS("[daemon]\ninclude = missing.d\n",
                  "t.ini:2: [daemon] include: \"missing.d\": No such file or directory\n");
}

/* payload_size repeats the payload (or zero bytes) to an exact length, so
 * a datagram over 65507 bytes can be sent on purpose (WSAEMSGSIZE). */
static void test_payload_size(void)
{
    struct config *cfg = load_ok("[target big]\nkind = send\nhost = 127.0.0.1\nport = 9\n"
                                 "payload = ab\npayload_size = 65508\n\n"
                                 "[target zero]\nkind = send\nhost = 127.0.0.1\nport = 9\n"
                                 "payload_size = 3\n");

    UNIT_CHECK(cfg != NULL);
    if (cfg == NULL)
        return;
    UNIT_EQ_INT(cfg->targets[0].payload_len, 65508);
    UNIT_CHECK(memcmp(cfg->targets[0].payload, "abab", 4) == 0);
    UNIT_EQ_INT(cfg->targets[0].payload[65507], 'b');
    UNIT_EQ_INT(cfg->targets[1].payload_len, 3);
    UNIT_CHECK(memcmp(cfg->targets[1].payload, "\0\0\0", 3) == 0);
    config_free(cfg);
    EXPECT_ERRORS(
        "[target big]\nkind = send\nhost = 127.0.0.1\nport = 9\n"
        "payload_size = 2000000\n",
        "t.ini:5: [target big] payload_size: \"2000000\" is out of range (0 to 1048576)\n");
}

static void test_missing_file(void)
{
    char *errs;
    int nerr;
    struct config *cfg = load("nothere.ini", &errs, &nerr);

    UNIT_CHECK(cfg == NULL);
    UNIT_EQ_STR(errs, "nothere.ini: cannot open: No such file or directory\n");
    UNIT_EQ_INT(nerr, 1);
    free(errs);
}

/* A file made by mkstemp: messages carry the path as given, errs may be
 * NULL, and two loads print the same lines. */
static void test_mkstemp_path(void)
{
    char path[] = "/tmp/netdiag-test-config-XXXXXX";
    int fd = mkstemp(path);
    static const char text[] = "[target web]\nkind = connect\nhost = h\nport = 0\n";
    char want[128], *errs1, *errs2;
    int nerr = 0;

    UNIT_CHECK(fd >= 0);
    if (fd < 0)
        return;
    UNIT_CHECK(write(fd, text, sizeof(text) - 1) == (ssize_t)sizeof(text) - 1);
    close(fd);
    snprintf(want, sizeof(want), "%s:4: [target web] port: \"0\" is out of range (1 to 65535)\n",
             path);
    UNIT_CHECK(load(path, &errs1, &nerr) == NULL);
    UNIT_EQ_STR(errs1, want);
    UNIT_CHECK(load(path, &errs2, &nerr) == NULL);
    UNIT_EQ_STR(errs2, errs1);
    UNIT_CHECK(config_load(path, NULL, &nerr) == NULL);
    UNIT_EQ_INT(nerr, 1);
    UNIT_CHECK(config_load(path, NULL, NULL) == NULL);
    free(errs1);
    free(errs2);
    unlink(path);
}

static void test_qtype_names(void)
{
    static const struct {
        const char *name;
        uint16_t qtype;
    } all[] = {{"A", 1},    {"NS", 2},    {"CNAME", 5}, {"SOA", 6},   {"PTR", 12}, {"MX", 15},
               {"TXT", 16}, {"AAAA", 28}, {"SRV", 33},  {"ANY", 255}, {"CAA", 257}};

    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        UNIT_EQ_INT(config_qtype_from_name(all[i].name), all[i].qtype);
        UNIT_EQ_STR(config_qtype_name(all[i].qtype), all[i].name);
    }
    UNIT_EQ_INT(config_qtype_from_name("mx"), 15);
    UNIT_EQ_INT(config_qtype_from_name("AXFR"), 0);
    UNIT_EQ_INT(config_qtype_from_name(""), 0);
    UNIT_CHECK(config_qtype_name(0) == NULL);
    UNIT_CHECK(config_qtype_name(99) == NULL);
    UNIT_EQ_STR(target_kind_name(KIND_SEND), "send");
    UNIT_EQ_STR(family_name(FAMILY_IPV6), "ipv6");
}

/* The shipped example must load and keep to loopback. */
static void test_sample_conf(void)
{
    char *errs;
    int nerr;
    struct config *cfg;

    UNIT_CHECK(sample_conf[0] != '\0'); /* run from the repository root */
    if (sample_conf[0] == '\0')
        return;
    cfg = load(sample_conf, &errs, &nerr);
    UNIT_CHECK(cfg != NULL);
    UNIT_EQ_STR(errs, "");
    free(errs);
    if (cfg == NULL)
        return;
    {
        /* ../var/netdiag.db beside conf/: the checkout's var/ */
        char want[PATH_MAX + 16], *slash;
        util_strlcpy(want, sample_conf, sizeof(want));
        slash = strrchr(want, '/');
        if (slash != NULL)
            *slash = '\0';
        slash = strrchr(want, '/');
        if (slash != NULL)
            strcpy(slash, "/var/netdiag.db");
        UNIT_EQ_STR(cfg->database, want);
    }
    UNIT_CHECK(config_check_run(cfg, false, stderr) == 0); /* make run's var/ is there */
    UNIT_CHECK(cfg->metrics_listen == NULL);
    UNIT_CHECK(cfg->ntargets >= 4);
    UNIT_CHECK(config_find_target(cfg, "web-closed") != NULL);
    UNIT_CHECK(config_find_target(cfg, "dns-nobody") != NULL);
    for (size_t i = 0; i < cfg->ntargets; i++) {
        const struct target *t = &cfg->targets[i];
        if (t->host != NULL)
            UNIT_CHECK(strcmp(t->host, "127.0.0.1") == 0 || strcmp(t->host, "localhost") == 0);
        if (t->kind == KIND_RESOLVE && t->server_system)
            UNIT_EQ_STR(t->qname, "localhost");
    }
    config_free(cfg);
}

/* Only regular, non-empty files within CONFIG_BYTES_MAX are read: an
 * empty file (an editor's truncate-then-write) would retire every target,
 * a FIFO would block the daemon, /dev/zero never ends. */
static void test_not_a_config_file(void)
{
    char *errs;
    int nerr;
    struct config *cfg;
    int fd;

    write_file("empty.ini", "");
    UNIT_CHECK(load("empty.ini", &errs, &nerr) == NULL);
    UNIT_EQ_STR(errs, "empty.ini: the file is empty (being rewritten? write the new file beside "
                      "it and rename it over this one; a file holding only a comment is "
                      "accepted)\n");
    free(errs);
    cfg = load_ok("; nothing yet\n"); /* no targets: config_check_run() judges */
    UNIT_CHECK(cfg != NULL && cfg->ntargets == 0);
    config_free(cfg);

    UNIT_CHECK(mkfifo("fifo.ini", 0600) == 0);
    UNIT_CHECK(load("fifo.ini", &errs, &nerr) == NULL); /* at once: nobody writes it */
    UNIT_EQ_STR(errs, "fifo.ini: a FIFO, not a regular file: netdiagd reads only regular files\n");
    free(errs);
    UNIT_CHECK(symlink("/dev/zero", "zero.ini") == 0);
    UNIT_CHECK(load("zero.ini", &errs, &nerr) == NULL);
    UNIT_EQ_STR(errs, "zero.ini: a character device, not a regular file: netdiagd reads only "
                      "regular files\n");
    free(errs);
    UNIT_CHECK(mkdir("dir.ini", 0700) == 0);
    UNIT_CHECK(load("dir.ini", &errs, &nerr) == NULL);
    UNIT_EQ_STR(errs, "dir.ini: a directory, not a regular file: netdiagd reads only regular "
                      "files\n");
    free(errs);

    /* includes alike: an empty list file, an empty *.ini in a directory */
    write_file("empty.list", "");
    EXPECT_ERRORS("[daemon]\ninclude = empty.list\n[target m]\nkind = resolve\nname = x\n",
                  "empty.list: the file is empty (being rewritten? write the new file beside it "
                  "and rename it over this one; a file holding only a comment is accepted)\n");
    UNIT_CHECK(mkdir("inc.d", 0700) == 0);
    write_file("inc.d/a.ini", "");
    EXPECT_ERRORS("[daemon]\ninclude = inc.d\n[target m]\nkind = resolve\nname = x\n",
                  "inc.d/a.ini: the file is empty (being rewritten? write the new file beside "
                  "it and rename it over this one; a file holding only a comment is "
                  "accepted)\n");

    /* sizes: one file, then the main file and its include together
     * (sparse files: nothing is read) */
    fd = open("big.ini", O_WRONLY | O_CREAT | O_TRUNC, 0600);
    UNIT_CHECK(fd >= 0 && ftruncate(fd, CONFIG_BYTES_MAX + 1) == 0);
    close(fd);
    UNIT_CHECK(load("big.ini", &errs, &nerr) == NULL);
    UNIT_EQ_STR(errs, "big.ini: 67108865 bytes: a configuration (the main file and what it "
                      "includes) may hold at most 64 MiB\n");
    free(errs);
    UNIT_CHECK(truncate("big.ini", CONFIG_BYTES_MAX) == 0);
    EXPECT_ERRORS("[daemon]\ninclude = big.ini\n[target m]\nkind = resolve\nname = x\n",
                  "big.ini: 67108864 bytes: a configuration (the main file and what it "
                  "includes) may hold at most 64 MiB\n");
    unlink("big.ini");
}

/* Values and file names reach a terminal or the journal: control bytes
 * and bytes that are not UTF-8 are escaped, one error stays one line. */
static void test_control_bytes_escaped(void)
{
    EXPECT_ERRORS("[daemon]\nlog_level = \x1b[2J\x07loud\n",
                  "t.ini:2: [daemon] log_level: \"\\x1b[2J\\x07loud\" is not one of error, warn, "
                  "notice, info, debug\n");
    EXPECT_ERRORS("[target a\tb]\nkind = resolve\nname = x\n",
                  "t.ini:1: [target a\\tb]: target name may only hold letters, digits, \".\", "
                  "\"_\" and \"-\"\n");
    /* valid UTF-8 stays, a lone byte and a C1 control (CSI) do not */
    EXPECT_ERRORS("[target caf\xc3\xa9\xff\xc2\x9b]\nkind = resolve\nname = x\n",
                  "t.ini:1: [target caf\xc3\xa9\\xff\\xc2\\x9b]: target name may only hold "
                  "letters, digits, \".\", \"_\" and \"-\"\n");
    EXPECT_ERRORS("[target x]\nkind = resolve\nname = a\rb\n",
                  "t.ini:3: [target x] name: \"a\\rb\" is not a DNS name\n");
}

/* What config_check_run() prints for cfg (and frees cfg). */
static char *check_run(struct config *cfg, bool once, int *n)
{
    char *out = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&out, &len);

    UNIT_CHECK(mem != NULL && cfg != NULL);
    *n = cfg != NULL && mem != NULL ? config_check_run(cfg, once, mem) : -1;
    if (mem != NULL)
        fclose(mem);
    config_free(cfg);
    return out;
}

#define EXPECT_RUN(text, once, expected)                                                           \
    do {                                                                                           \
        int n_;                                                                                    \
        char *out_ = check_run(load_ok(text), (once), &n_);                                        \
        UNIT_EQ_STR(out_, (expected));                                                             \
        UNIT_EQ_INT(n_, count_lines(expected));                                                    \
        free(out_);                                                                                \
    } while (0)

/* What running a valid file needs: enough targets (a reload that would
 * retire every target is refused unless the file says min_targets = 0),
 * the exec hook, the database's directory. */
static void test_check_run(void)
{
    char want[3 * PATH_MAX], text[2 * PATH_MAX];

    EXPECT_RUN("[daemon]\ndatabase = x.db\n", false,
               "t.ini: no targets: add [target NAME] sections (or an include), or set [daemon] "
               "min_targets = 0 to run without any\n");
    EXPECT_RUN("[daemon]\ndatabase = x.db\nmin_targets = 0\n", false, "");
    EXPECT_RUN("[daemon]\ndatabase = x.db\nmin_targets = 3\n[target a]\nkind = resolve\n"
               "name = x\n[target b]\nkind = resolve\nname = x\n",
               false, "t.ini:3: 2 targets, fewer than [daemon] min_targets (3)\n");
    EXPECT_RUN("[daemon]\ndatabase = x.db\n[target a]\nkind = resolve\nname = x\n", false, "");

    /* the hook: missing, a directory, not executable, fine */
    EXPECT_RUN("[daemon]\ndatabase = x.db\n[alert]\nexec = /nonexistent/hook --now\n" TARGET_A,
               false, "t.ini:4: [alert] exec: \"/nonexistent/hook\": No such file or directory\n");
    EXPECT_RUN("[daemon]\ndatabase = x.db\n[alert]\nexec = /\n" TARGET_A, false,
               "t.ini:4: [alert] exec: \"/\" is a directory, not a program\n");
    write_file("hook.sh", "#!/bin/sh\n");
    UNIT_CHECK(chmod("hook.sh", 0644) == 0);
    snprintf(text, sizeof(text), "[daemon]\ndatabase = x.db\n[alert]\nexec = %s/hook.sh\n" TARGET_A,
             test_dir);
    snprintf(want, sizeof(want),
             "t.ini:4: [alert] exec: \"%s/hook.sh\" is not executable (Permission denied)\n",
             test_dir);
    EXPECT_RUN(text, false, want);
    EXPECT_RUN(text, true, ""); /* --once runs no hook */
    UNIT_CHECK(chmod("hook.sh", 0755) == 0);
    EXPECT_RUN(text, false, "");

    /* the database's directory: made by the package or systemd, not us */
    snprintf(want, sizeof(want),
             "t.ini:2: [daemon] database: the directory \"%s/nodir\" does not exist (netdiagd "
             "creates the database file, not its directory)\n",
             test_dir);
    EXPECT_RUN("[daemon]\ndatabase = nodir/x.db\n" TARGET_A, false, want);
    EXPECT_RUN("[daemon]\ndatabase = nodir/x.db\n" TARGET_A, true, "");
    snprintf(want, sizeof(want),
             "t.ini:2: [daemon] database: \"%s/t.ini\" is a file, not a directory\n", test_dir);
    EXPECT_RUN("[daemon]\ndatabase = t.ini/x.db\n" TARGET_A, false, want);
    UNIT_CHECK(mkdir("db.d", 0700) == 0);
    snprintf(want, sizeof(want), "t.ini:2: [daemon] database: \"%s/db.d\" is a directory\n",
             test_dir);
    EXPECT_RUN("[daemon]\ndatabase = db.d\n" TARGET_A, false, want);
}

/* alertmanager_url: what alert_am.c can post to, checked at -t. */
static void test_alertmanager_url(void)
{
    static const char *const ok[] = {
        "http://127.0.0.1:9093", "http://am.example.test:9093/prefix/",
        "http://[::1]:9093",     "http://am-1.test",
        "https://am.test:9093",  "https://[::1]/am",
    };
    static const struct {
        const char *url, *err;
    } bad[] = {
        {"am.test:9093", "\"am.test:9093\" is not a URL (write http://HOST:PORT or "
                         "https://HOST:PORT, e.g. http://127.0.0.1:9093)"},
        {"ftp://am.test",
         "\"ftp://am.test\": the scheme \"ftp\" is not supported (http:// or https://)"},
        {"http://am.test:99999", "\"http://am.test:99999\" is not a valid URL "
                                 "(http[s]://HOST[:PORT][/PATH], the port 1 to 65535)"},
        /* blanks separate URLs: the second word is no URL */
        {"http://am .test", "\".test\" is not a URL (write http://HOST:PORT or "
                            "https://HOST:PORT, e.g. http://127.0.0.1:9093)"},
        {"http://", "\"http://\" has no host"},
        {"http://am.test:0", "\"http://am.test:0\": port 0 (1 to 65535, or none for 80 or 443)"},
        {"http://am.test/?x=1", "\"http://am.test/?x=1\": a query or fragment is not sent "
                                "(alerts go to PATH/api/v2/alerts)"},
        {"http://a!b:9093", "\"http://a!b:9093\": \"a!b\" is not a host name or an IP address"},
        {"http://127.0.0.1.5",
         "\"http://127.0.0.1.5\": \"127.0.0.1.5\" is not a host name or an IP "
         "address"},
        /* credentials never reach a message */
        {"http://user:secret@:9093", "\"http://***@:9093\" has no host"},
        {"https://user:secret@am.test",
         "\"https://***@am.test\": credentials do not go in the URL; put them in a file named by "
         "alertmanager_basic_auth_file (user:password) or alertmanager_bearer_token_file"},
    };
    char text[512], want[1024];

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct config *cfg;
        snprintf(text, sizeof(text), "[alert]\nalertmanager_url = %s\n", ok[i]);
        cfg = load_ok(text);
        UNIT_CHECK(cfg != NULL && strcmp(cfg->alert.alertmanager_url, ok[i]) == 0);
        config_free(cfg);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), "[alert]\nalertmanager_url = %s\n", bad[i].url);
        snprintf(want, sizeof(want), "t.ini:2: [alert] alertmanager_url: %s\n", bad[i].err);
        EXPECT_ERRORS(text, want);
    }
}

/* labels, severity and web_url: what Alertmanager gets is checked at -t
 * and kept in one plain form. */
static void test_alert_labels(void)
{
    struct config *cfg;
    size_t len = 0;
    const char *v;

    cfg = load_ok("[daemon]\nlabels = env=prod , site = fra1,,\nweb_url = https://nd.test/x//\n"
                  "[alert]\nseverity = warning, refused=critical, TIMEOUT = info, host=page, "
                  "WSAEHOSTUNREACH=critical, latency=info\n"
                  "[target a]\nkind = connect\nhost = 127.0.0.1\nport = 1\nlabels = team=db\n"
                  "severity = page\n");
    UNIT_CHECK(cfg != NULL);
    UNIT_EQ_STR(cfg->labels, "env=prod,site=fra1");
    UNIT_EQ_STR(cfg->web_url, "https://nd.test/x");
    UNIT_EQ_STR(cfg->alert.severity,
                "*=warning,10061=critical,-1=info,host=page,10065=critical,latency=info");
    v = config_severity_find(cfg->alert.severity, "10065", &len);
    UNIT_CHECK(v != NULL && len == 8 && strncmp(v, "critical", len) == 0);
    UNIT_CHECK(config_severity_find(cfg->alert.severity, "loss", &len) == NULL);
    UNIT_EQ_STR(cfg->targets[0].labels, "team=db");
    UNIT_EQ_STR(cfg->targets[0].severity, "*=page");
    config_free(cfg);
    EXPECT_ERRORS("[daemon]\nlabels = env\n",
                  "t.ini:2: [daemon] labels: \"env\" is not name=value\n");
    EXPECT_ERRORS("[daemon]\nlabels = instance=x\n",
                  "t.ini:2: [daemon] labels: \"instance\" is a label netdiagd sets itself\n");
    EXPECT_ERRORS("[daemon]\nlabels = a=1, a=2\n",
                  "t.ini:2: [daemon] labels: \"a\" is given twice\n");
    EXPECT_ERRORS("[daemon]\nlabels = 9a=1\n",
                  "t.ini:2: [daemon] labels: \"9a\" is not a label name (letters, digits and _, "
                  "not first a digit, at most 64)\n");
    EXPECT_ERRORS(
        "[daemon]\nlabels = __x=1\n",
        "t.ini:2: [daemon] labels: \"__x\": names starting with __ are Prometheus' own\n");
    EXPECT_ERRORS("[daemon]\nlabels = a=\n",
                  "t.ini:2: [daemon] labels: a: the value must have 1 to 256 bytes\n");
    EXPECT_ERRORS("[daemon]\nweb_url = netdiag.test\n",
                  "t.ini:2: [daemon] web_url: \"netdiag.test\" is not an http:// or https:// URL "
                  "of at most 512 bytes\n");
    EXPECT_ERRORS("[alert]\nseverity = bogus=page\n",
                  "t.ini:2: [alert] severity: \"bogus\" is not a code (refused, timeout, a WSA "
                  "name or number), latency, loss or host\n");
    EXPECT_ERRORS("[alert]\nseverity = refused=a b\n",
                  "t.ini:2: [alert] severity: \"a b\" is not a severity (letters, digits, _ and "
                  "-: critical, warning, info)\n");
    EXPECT_ERRORS("[alert]\nseverity = page, critical\n",
                  "t.ini:2: [alert] severity: \"*\" is given twice\n");
    EXPECT_ERRORS("[alert]\nalertmanager_ca_file = ca.pem\n",
                  "t.ini:2: [alert] alertmanager_ca_file: \"ca.pem\" is not an absolute path\n");
    EXPECT_ERRORS("[alert]\nalertmanager_bearer_token_file = /nonexistent/token\n",
                  "t.ini:2: [alert] alertmanager_bearer_token_file: /nonexistent/token: No such "
                  "file or directory\n");
}

/* The rule netdiagd and netdiag -c share for a relative path. */
static void test_path_beside(void)
{
    static const struct {
        const char *config, *path, *want; /* want: below test_dir unless absolute */
    } cases[] = {
        {"/etc/netdiag/netdiag.ini", "/abs/x.db", "/abs/x.db"},
        {"t.ini", "x.db", "x.db"},
        {"pb/etc/main.ini", "../var/x.db", "pb/var/x.db"},
        {"pb/etc/main.ini", "./a/../b.db", "pb/etc/a/../b.db"}, /* only leading ./ and ../ */
        {"pb/etc/main.ini", "../../../../../../../../../../x.db", "/x.db"},
        {"/netdiag.ini", "../x.db", "/x.db"},
        {"pb/link/n.ini", "../x.db", "pb/real/x.db"}, /* the directory's links resolved */
        {"pb/gone/n.ini", "x.db", "pb/gone/x.db"},    /* a directory that is not there */
    };

    UNIT_CHECK(mkdir("pb", 0700) == 0 && mkdir("pb/etc", 0700) == 0);
    UNIT_CHECK(mkdir("pb/real", 0700) == 0 && mkdir("pb/real/conf", 0700) == 0);
    UNIT_CHECK(symlink("real/conf", "pb/link") == 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char want[2 * PATH_MAX];
        char *got = config_path_beside(cases[i].config, cases[i].path);
        if (cases[i].want[0] == '/')
            util_strlcpy(want, cases[i].want, sizeof(want));
        else
            snprintf(want, sizeof(want), "%s/%s", test_dir, cases[i].want);
        UNIT_EQ_STR(got, want);
        free(got);
    }
}

/* A reload names each target's namesake in the running config. */
static void test_link_prev(void)
{
    struct config *old = load_ok("[target a]\nkind = resolve\nname = x\n[target b]\nkind = "
                                 "resolve\nname = x\n[target c]\nkind = resolve\nname = x\n"
                                 "[target d]\nkind = resolve\nname = x\n");
    struct config *cfg = load_ok("[target d]\nkind = connect\nhost = h\nport = 1\n[target x]\n"
                                 "kind = resolve\nname = x\n[target b]\nkind = resolve\nname = "
                                 "y\n");

    if (old == NULL || cfg == NULL)
        goto out;
    UNIT_EQ_INT(config_link_prev(cfg, old), 0);
    UNIT_CHECK(cfg->prev == old);
    if (cfg->prev_idx != NULL) {
        UNIT_EQ_INT(cfg->prev_idx[0], 3);              /* d: by name, whatever changed */
        UNIT_EQ_INT(cfg->prev_idx[1], CONFIG_NO_PREV); /* x: new */
        UNIT_EQ_INT(cfg->prev_idx[2], 1);              /* b */
    }
    config_unlink_prev(cfg);
    UNIT_CHECK(cfg->prev == NULL && cfg->prev_idx == NULL);
out:
    config_free(old);
    config_free(cfg);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int main(int argc, char **argv)
{
    char dir[] = "/tmp/netdiag-test-config-XXXXXX";
    char cwd[PATH_MAX];

    unit_init(argc, argv);
    log_set_fd(unit_log_fd());
    if (realpath("conf/netdiag.ini", sample_conf) == NULL)
        sample_conf[0] = '\0';
    if (getcwd(cwd, sizeof(cwd)) == NULL || mkdtemp(dir) == NULL || chdir(dir) < 0 ||
        realpath(dir, test_dir) == NULL) {
        perror("test_config: temporary directory");
        return 1;
    }
    UNIT_RUN(test_target_size);
    UNIT_RUN(test_builtin_defaults);
    UNIT_RUN(test_values);
    UNIT_RUN(test_alert_keys);
    UNIT_RUN(test_defaults_inheritance);
    UNIT_RUN(test_syntax_accepted);
    UNIT_RUN(test_line_length);
    UNIT_RUN(test_error_lines);
    UNIT_RUN(test_path_section);
    UNIT_RUN(test_nul_byte);
    UNIT_RUN(test_include_dir);
    UNIT_RUN(test_include_list);
    UNIT_RUN(test_payload_size);
    UNIT_RUN(test_missing_file);
    UNIT_RUN(test_mkstemp_path);
    UNIT_RUN(test_qtype_names);
    UNIT_RUN(test_sample_conf);
    UNIT_RUN(test_not_a_config_file);
    UNIT_RUN(test_control_bytes_escaped);
    UNIT_RUN(test_check_run);
    UNIT_RUN(test_alertmanager_url);
    UNIT_RUN(test_alert_labels);
    UNIT_RUN(test_path_beside);
    UNIT_RUN(test_link_prev);
    if (chdir(cwd) == 0)
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return UNIT_END("test_config");
}
