/* SPDX-License-Identifier: ISC */
/* The table of netdiag.ini keys, one row per key with its type, bounds,
 * default and place in the structs (Redis standardConfig), and the strict
 * parsers of every value type. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "alert_am.h"
#include "config_opt.h"
#include "export.h"
#include "icmp.h"
#include "log.h"
#include "timefmt.h"
#include "util.h"
#include "wsa.h"

static const char *const kind_names[] = {"connect", "resolve", "send", "ping", NULL};
static const char *const family_names[] = {"any", "ipv4", "ipv6", NULL};
static const char *const addrsel_names[] = {"first", "all", NULL};
static const char *const proto_names[] = {"udp", "tcp", NULL};
static const char *const latency_names[] = {"histogram", "off", NULL};
static const char *const onoff_names[] = {"off", "on", NULL};

/* The names of a target's kind and family: the values the config takes
 * are the names everything else prints and stores. */
const char *target_kind_name(enum target_kind kind)
{
    return (size_t)kind < ND_ARRAY_LEN(kind_names) - 1 ? kind_names[kind] : "?";
}

const char *family_name(enum family family)
{
    return (size_t)family < ND_ARRAY_LEN(family_names) - 1 ? family_names[family] : "?";
}

static const struct {
    const char *name;
    uint16_t qtype;
} qtypes[] = {
    {"A", 1},    {"NS", 2},    {"CNAME", 5}, {"SOA", 6},   {"PTR", 12},  {"MX", 15},
    {"TXT", 16}, {"AAAA", 28}, {"SRV", 33},  {"ANY", 255}, {"CAA", 257},
};

uint16_t config_qtype_from_name(const char *name)
{
    for (size_t i = 0; i < ND_ARRAY_LEN(qtypes); i++)
        if (strcasecmp(name, qtypes[i].name) == 0)
            return qtypes[i].qtype;
    return 0;
}

const char *config_qtype_name(uint16_t qtype)
{
    for (size_t i = 0; i < ND_ARRAY_LEN(qtypes); i++)
        if (qtypes[i].qtype == qtype)
            return qtypes[i].name;
    return NULL;
}

_Static_assert(sizeof(enum target_kind) == sizeof(int), "enum fields are int-sized");
_Static_assert(sizeof(enum family) == sizeof(int), "enum fields are int-sized");
_Static_assert(sizeof(enum addr_select) == sizeof(int), "enum fields are int-sized");
_Static_assert(sizeof(enum send_proto) == sizeof(int), "enum fields are int-sized");
_Static_assert(sizeof(enum metrics_latency) == sizeof(int), "enum fields are int-sized");

#define CFG(f)    offsetof(struct config, f)
#define TGT(f)    offsetof(struct target, f)
#define K_CS      (K_CONNECT | K_SEND)
#define K_CSP     (K_CONNECT | K_SEND | K_PING)
#define MINUTE_MS (60 * 1000LL)
#define DAY_MS    CONFIG_DAY_MS

/* One row per key (Redis standardConfig). Durations in ms; min 1 on a string
 * means it may not be empty; K_CS: connect and send. */
/* clang-format off */
const struct config_option config_options[CONFIG_NOPTS] = {
    /* section     key                 type         min                     max                     default                          offset                       offset2            names          kinds               required   group */
    {SEC_DAEMON, "database",         OT_STRING,   1,                      0,                      "/var/lib/netdiag/netdiag.db",   CFG(database),               0,                 NULL,          0,                  0,         0},
    {SEC_DAEMON, "log_level",        OT_LOGLEVEL, 0,                      0,                      "info",                          CFG(log_level),              0,                 NULL,          0,                  0,         0},
    {SEC_DAEMON, "metrics_listen",   OT_LISTEN,   0,                      0,                      "",                              CFG(metrics_listen),         0,                 NULL,          0,                  0,         0},
    {SEC_DAEMON, "metrics_latency",  OT_ENUM,     0,                      0,                      "histogram",                     CFG(metrics_latency),        0,                 latency_names, 0,                  0,         0},
    {SEC_DAEMON, "retention",        OT_DURATION, MINUTE_MS,              3650 * DAY_MS,          "30d",                           CFG(retention_ms),           0,                 NULL,          0,                  0,         0},
    {SEC_DAEMON, "include",          OT_STRING,   0,                      0,                      "",                              CFG(include),                0,                 NULL,          0,                  0,         0},
    {SEC_DAEMON, "labels",           OT_LABELS,   0,                      0,                      "",                              CFG(labels),                 0,                 NULL,          0,                  0,         0},
    {SEC_DAEMON, "web_url",          OT_WEBURL,   0,                      0,                      "",                              CFG(web_url),                0,                 NULL,          0,                  0,         0},
    {SEC_DAEMON, "min_targets",      OT_INT,      0,                      CONFIG_TARGETS_MAX,     "1",                             CFG(min_targets),            0,                 NULL,          0,                  0,         0},

    {SEC_ALERT,  "codes",            OT_CODES,    0,                      0,                      "refused, timeout",              CFG(alert.codes),            CFG(alert.ncodes), NULL,          0,                  0,         0},
    {SEC_ALERT,  "window",           OT_DURATION, 100,                    DAY_MS,                 "1m",                            CFG(alert.window_ms),        0,                 NULL,          0,                  0,         0},
    {SEC_ALERT,  "baseline",         OT_DURATION, 1000,                   30 * DAY_MS,            "1h",                            CFG(alert.baseline_ms),      0,                 NULL,          0,                  0,         0},
    {SEC_ALERT,  "factor",           OT_DOUBLE,   1,                      1000,                   "3",                             CFG(alert.factor),           0,                 NULL,          0,                  0,         0},
    {SEC_ALERT,  "min_failures",     OT_INT,      1,                      1000000,                "5",                             CFG(alert.min_failures),     0,                 NULL,          0,                  0,         0},
    {SEC_ALERT,  "min_ratio",        OT_DOUBLE,   0,                      1,                      "0.15",                          CFG(alert.min_ratio),        0,                 NULL,          0,                  0,         0},
    {SEC_ALERT,  "clear_after",      OT_INT,      1,                      1000,                   "3",                             CFG(alert.clear_after),      0,                 NULL,          0,                  0,         0},
    {SEC_ALERT,  "exec",             OT_EXEC,     0,                      0,                      "",                              CFG(alert.exec),             0,                 NULL,          0,                  0,         0},
    {SEC_ALERT,  "exec_timeout",     OT_DURATION, 100,                    3600 * 1000,            "10s",                           CFG(alert.exec_timeout_ms),  0,                 NULL,          0,                  0,         0},
    {SEC_ALERT,  "renotify",         OT_DURATION, 0,                      30 * DAY_MS,            "4h",                            CFG(alert.renotify_ms),      0,                 NULL,          0,                  0,         0},
    {SEC_ALERT,  "alertmanager_url", OT_URL,      0,                      0,                      "",                              CFG(alert.alertmanager_url), 0,                 NULL,          0,                  0,         0},
    {SEC_ALERT,  "alertmanager_ca_file", OT_CAFILE, 0,                    0,                      "",                              CFG(alert.am_ca_file),       0,                 NULL,          0,                  0,         0},
    {SEC_ALERT,  "alertmanager_bearer_token_file", OT_SECRET, ALERT_AM_BEARER, 0,             "",                              CFG(alert.am_auth),          0,                 NULL,          0,                  0,         0},
    {SEC_ALERT,  "alertmanager_basic_auth_file", OT_SECRET, ALERT_AM_BASIC, 0,                "",                              CFG(alert.am_auth),          0,                 NULL,          0,                  0,         0},
    {SEC_ALERT,  "severity",         OT_SEVERITY, 0,                      0,                      "",                              CFG(alert.severity),         0,                 NULL,          0,                  0,         0},
    {SEC_ALERT,  "host_min_targets", OT_INT,      0,                      1000000,                "3",                             CFG(alert.host_min_targets), 0,                 NULL,          0,                  0,         0},
    {SEC_ALERT,  "host_ratio",       OT_DOUBLE,   0,                      1,                      "0.5",                           CFG(alert.host_ratio),       0,                 NULL,          0,                  0,         0},
    {SEC_ALERT,  "latency",          OT_ENUM,     0,                      0,                      "on",                            CFG(alert.latency),          0,                 onoff_names,   0,                  0,         0},
    {SEC_ALERT,  "latency_percentile", OT_DOUBLE, 1,                      100,                    "50",                            CFG(alert.latency_percentile), 0,               NULL,          0,                  0,         0},
    {SEC_ALERT,  "latency_factor",   OT_DOUBLE,   1,                      1000,                   "1.5",                           CFG(alert.latency_factor),   0,                 NULL,          0,                  0,         0},
    {SEC_ALERT,  "latency_margin",   OT_DURATION, 0,                      3600 * 1000,            "5ms",                           CFG(alert.latency_margin_ms), 0,                NULL,          0,                  0,         0},
    {SEC_ALERT,  "latency_min_samples", OT_INT,   1,                      1000000,                "5",                             CFG(alert.latency_min_samples), 0,              NULL,          0,                  0,         0},
    {SEC_ALERT,  "loss",             OT_ENUM,     0,                      0,                      "on",                            CFG(alert.loss),             0,                 onoff_names,   0,                  0,         0},
    {SEC_ALERT,  "loss_threshold",   OT_DOUBLE,   0,                      1,                      "0.05",                          CFG(alert.loss_threshold),   0,                 NULL,          0,                  0,         0},
    {SEC_ALERT,  "loss_factor",      OT_DOUBLE,   1,                      1000,                   "3",                             CFG(alert.loss_factor),      0,                 NULL,          0,                  0,         0},
    {SEC_ALERT,  "loss_min_lost",    OT_INT,      1,                      1000000,                "5",                             CFG(alert.loss_min_lost),    0,                 NULL,          0,                  0,         0},

    {SEC_PATH,   "trace",            OT_ENUM,     0,                      0,                      "on",                            CFG(tracing.trace),             0,                 onoff_names,   0,                  0,         0},
    {SEC_PATH,   "max_hops",         OT_INT,      1,                      CONFIG_PATH_HOPS_MAX,   "30",                            CFG(tracing.max_hops),          0,                 NULL,          0,                  0,         0},
    {SEC_PATH,   "probes",           OT_INT,      1,                      3,                      "2",                             CFG(tracing.probes),            0,                 NULL,          0,                  0,         0},
    {SEC_PATH,   "hop_timeout",      OT_DURATION, 10,                     10 * 1000,              "1s",                            CFG(tracing.hop_timeout_ms),    0,                 NULL,          0,                  0,         0},
    {SEC_PATH,   "max_traces",       OT_INT,      1,                      1000,                   "4",                             CFG(tracing.max_traces),        0,                 NULL,          0,                  0,         0},
    {SEC_PATH,   "path_hold",        OT_DURATION, 1000,                   DAY_MS,                 "10m",                           CFG(tracing.hold_ms),           0,                 NULL,          0,                  0,         0},
    {SEC_PATH,   "path_refresh",     OT_DURATION, MINUTE_MS,              30 * DAY_MS,            "6h",                            CFG(tracing.refresh_ms),        0,                 NULL,          0,                  0,         0},

    {SEC_EXPORT, "clickhouse_url",   OT_CHURL,    0,                      0,                      "",                              CFG(exp.clickhouse_url),     0,                 NULL,          0,                  0,         0},
    {SEC_EXPORT, "clickhouse_database", OT_STRING, 1,                     0,                      "netdiag",                       CFG(exp.clickhouse_database), 0,                NULL,          0,                  0,         0},
    {SEC_EXPORT, "hostname",         OT_STRING,   0,                      0,                      "",                              CFG(exp.host),               0,                 NULL,          0,                  0,         0},
    {SEC_EXPORT, "batch_rows",       OT_INT,      1,                      100000,                 "10000",                         CFG(exp.batch_rows),         0,                 NULL,          0,                  0,         0},
    {SEC_EXPORT, "poll",             OT_DURATION, 100,                    3600 * 1000,            "1s",                            CFG(exp.interval_ms),        0,                 NULL,          0,                  0,         0},
    {SEC_EXPORT, "request_timeout",  OT_DURATION, 100,                    3600 * 1000,            "10s",                           CFG(exp.timeout_ms),         0,                 NULL,          0,                  0,         0},
    {SEC_EXPORT, "backoff_max",      OT_DURATION, 100,                    3600 * 1000,            "1m",                            CFG(exp.backoff_max_ms),     0,                 NULL,          0,                  0,         0},
    {SEC_EXPORT, "settle",           OT_DURATION, 0,                      DAY_MS,                 "2m",                            CFG(exp.settle_ms),          0,                 NULL,          0,                  0,         0},
    {SEC_TARGET, "kind",             OT_ENUM,     0,                      0,                      NULL,                            TGT(kind),                   0,                 kind_names,    K_ALL,              0,         0},
    {SEC_TARGET, "interval",         OT_DURATION, CONFIG_INTERVAL_MIN_MS, CONFIG_INTERVAL_MAX_MS, "10s",                           TGT(interval_ms),            0,                 NULL,          K_ALL,              0,         0},
    {SEC_TARGET, "timeout",          OT_DURATION, CONFIG_TIMEOUT_MIN_MS,  CONFIG_INTERVAL_MAX_MS, "3s",                            TGT(timeout_ms),             0,                 NULL,          K_ALL,              0,         0},
    {SEC_TARGET, "family",           OT_ENUM,     0,                      0,                      "any",                           TGT(family),                 0,                 family_names,  K_ALL,              0,         0},
    {SEC_TARGET, "codes",            OT_CODES,    0,                      0,                      NULL,                            TGT(alert_codes),            TGT(alert_ncodes), NULL,          K_ALL,              0,         0},
    {SEC_TARGET, "alert_latency",    OT_ENUM,     0,                      0,                      NULL,                            TGT(alert_latency),          0,                 onoff_names,   K_ALL,              0,         0},
    {SEC_TARGET, "alert_loss",       OT_ENUM,     0,                      0,                      NULL,                            TGT(alert_loss),             0,                 onoff_names,   K_ALL,              0,         0},
    {SEC_TARGET, "labels",           OT_LABELS,   0,                      0,                      NULL,                            TGT(labels),                 0,                 NULL,          K_ALL,              0,         0},
    {SEC_TARGET, "severity",         OT_SEVERITY, 0,                      0,                      NULL,                            TGT(severity),               0,                 NULL,          K_ALL,              0,         0},
    {SEC_TARGET, "host",             OT_HOST,     0,                      0,                      NULL,                            TGT(host),                   0,                 NULL,          K_CSP,              K_CSP,     0},
    {SEC_TARGET, "port",             OT_PORT,     1,                      65535,                  NULL,                            TGT(port),                   0,                 NULL,          K_CS,               K_CS,      0},
    {SEC_TARGET, "source",           OT_SOURCE,   0,                      0,                      NULL,                            0,                           0,                 NULL,          K_CS,               0,         0},
    {SEC_TARGET, "addresses",        OT_ENUM,     0,                      0,                      "first",                         TGT(addresses),              0,                 addrsel_names, K_CSP,              0,         0},
    {SEC_TARGET, "name",             OT_QNAME,    0,                      0,                      NULL,                            TGT(qname),                  0,                 NULL,          K_RESOLVE,          K_RESOLVE, 0},
    {SEC_TARGET, "type",             OT_QTYPE,    0,                      0,                      "A",                             TGT(qtype),                  0,                 NULL,          K_RESOLVE,          0,         0},
    {SEC_TARGET, "server",           OT_SERVER,   0,                      0,                      "system",                        0,                           0,                 NULL,          K_RESOLVE,          0,         0},
    {SEC_TARGET, "protocol",         OT_ENUM,     0,                      0,                      "udp",                           TGT(protocol),               0,                 proto_names,   K_SEND,             0,         0},
    {SEC_TARGET, "payload",          OT_BYTES,    0,                      0,                      NULL,                            TGT(payload),                TGT(payload_len),  NULL,          K_SEND,             0,         1},
    {SEC_TARGET, "payload_hex",      OT_HEX,      0,                      0,                      NULL,                            TGT(payload),                TGT(payload_len),  NULL,          K_SEND,             0,         1},
    {SEC_TARGET, "payload_size",     OT_INT,      0,                      CONFIG_PAYLOAD_MAX,     NULL,                            TGT(payload_size),           0,                 NULL,          K_SEND,             0,         0},
    {SEC_TARGET, "expect",           OT_BYTES,    0,                      0,                      NULL,                            TGT(expect),                 TGT(expect_len),   NULL,          K_RESOLVE | K_SEND, 0,         2},
    {SEC_TARGET, "expect_hex",       OT_HEX,      0,                      0,                      NULL,                            TGT(expect),                 TGT(expect_len),   NULL,          K_SEND,             0,         2},
    {SEC_TARGET, "count",            OT_INT,      1,                      PING_COUNT_MAX,         "5",                             TGT(ping_count),             0,                 NULL,          K_PING,             0,         0},
    {SEC_TARGET, "spacing",          OT_DURATION, 1,                      MINUTE_MS,              "200ms",                         TGT(ping_spacing_ms),        0,                 NULL,          K_PING,             0,         0},
    {SEC_TARGET, "size",             OT_INT,      ICMP_SIZE_MIN,          ICMP_SIZE_MAX,          "56",                            TGT(ping_size),              0,                 NULL,          K_PING,             0,         0},
};
/* clang-format on */

_Static_assert(ND_ARRAY_LEN(config_options) == CONFIG_NOPTS, "CONFIG_NOPTS is the row count");

/* Whether s is written as a whole number, so that a failed parse is a range
 * error rather than a syntax one. */
static bool looks_integer(const char *s)
{
    if (*s == '-' || *s == '+')
        s++;
    if (!isdigit((unsigned char)*s))
        return false;
    while (isdigit((unsigned char)*s))
        s++;
    return *s == '\0';
}

static int parse_int_range(const char *v, int64_t min, int64_t max, int64_t *out, char *err,
                           size_t errlen)
{
    if (util_parse_int(v, min, max, out, err, errlen) == 0)
        return 0;
    if (looks_integer(v))
        snprintf(err, errlen, "\"%s\" is out of range (%" PRId64 " to %" PRId64 ")", v, min, max);
    return -1;
}

static int parse_double(const char *v, double min, double max, double *out, char *err,
                        size_t errlen)
{
    char *end;
    double d;

    /* Plain decimals only: strtod would also take "inf", "nan" and hex. */
    for (const char *s = v; *s; s++) {
        if (!isdigit((unsigned char)*s) && *s != '.' && *s != '-' && *s != '+' && *s != 'e' &&
            *s != 'E') {
            snprintf(err, errlen, "expected a number, got \"%s\"", v);
            return -1;
        }
    }
    errno = 0;
    d = strtod(v, &end);
    if (*v == '\0' || *end != '\0' || errno == ERANGE || !isfinite(d)) {
        snprintf(err, errlen, "expected a number, got \"%s\"", v);
        return -1;
    }
    if (d < min || d > max) {
        snprintf(err, errlen, "\"%s\" is out of range (%g to %g)", v, min, max);
        return -1;
    }
    *out = d;
    return 0;
}

/* A comma or space separated list of WSA names (with or without the "WSA"
 * prefix) or numbers, "refused" (WSAECONNREFUSED) and the class "timeout"
 * (which takes in WSAETIMEDOUT). Repeats are dropped; empty means no code
 * is watched. */
static const struct wsa_code code_timeout = {CONFIG_CODE_TIMEOUT, "timeout", "", "", false};
static int parse_codes(const char *v, int16_t *codes, uint8_t *ncodes, char *err, size_t errlen)
{
    char *copy = strdup(v), *save = NULL;
    int out[CONFIG_MAX_CODES];
    size_t n = 0;
    int rc = -1;

    if (copy == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (char *tok = strtok_r(copy, ", \t", &save); tok != NULL;
         tok = strtok_r(NULL, ", \t", &save)) {
        const struct wsa_code *c = NULL;
        int64_t num;
        bool seen = false;

        if (isdigit((unsigned char)tok[0])) {
            if (util_parse_int(tok, 0, 100000, &num, err, errlen) == 0)
                c = wsa_by_code((int)num);
        } else {
            c = strcasecmp(tok, "timeout") == 0
                    ? &code_timeout
                    : wsa_by_name(strcasecmp(tok, "refused") == 0 ? "WSAECONNREFUSED" : tok);
        }
        if (c == NULL) {
            snprintf(err, errlen,
                     "\"%s\" is not a Windows Sockets code (a name such as WSAECONNREFUSED or "
                     "ECONNREFUSED, a number such as 10061, refused or timeout)",
                     tok);
            goto out;
        }
        for (size_t i = 0; i < n; i++)
            seen = seen || out[i] == c->code;
        if (seen)
            continue;
        if (n == CONFIG_MAX_CODES) {
            snprintf(err, errlen, "more than %d codes", CONFIG_MAX_CODES);
            goto out;
        }
        out[n++] = c->code;
    }
    /* the class "timeout" takes in WSAETIMEDOUT: one failure, one series */
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; out[i] == WSAETIMEDOUT && j < n; j++)
            if (out[j] == CONFIG_CODE_TIMEOUT) {
                memmove(&out[i], &out[i + 1], (n - i - 1) * sizeof(out[0]));
                n--;
                break;
            }
    for (size_t i = 0; i < n; i++)
        codes[i] = (int16_t)out[i]; /* Windows Sockets codes: 10004 .. 11031 */
    *ncodes = (uint8_t)n;
    rc = 0;
out:
    free(copy);
    return rc;
}

/* Whether every dot-separated part of h is a number as inet_aton(3) reads
 * them (decimal, 0-octal, 0x-hex), with no empty part: "127.1", "010.0.0.1",
 * "0x7f.1". *odd is set when a part has a leading zero or is hex, which
 * programs read differently. */
static bool host_numeric(const char *h, bool *odd)
{
    const char *s = h;

    *odd = false;
    for (;;) {
        size_t n = strspn(s, "0123456789");
        if ((s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))) {
            n = 2 + strspn(s + 2, "0123456789abcdefABCDEF");
            if (n == 2)
                return false;
            *odd = true;
        } else if (n == 0) {
            return false;
        } else if (n > 1 && s[0] == '0') {
            *odd = true;
        }
        s += n;
        if (*s == '\0')
            return true;
        if (*s != '.' || s[1] == '\0')
            return false;
        s++;
    }
}

/* The dotted quad of h read as plain decimal parts, or "" when that is no
 * IPv4 address (a part over 255, not four parts, hex). */
static void host_decimal(const char *h, char *out, size_t outlen)
{
    unsigned long part[4];
    int n = 0;
    const char *s = h;

    out[0] = '\0';
    while (n < 4) {
        char *end;
        if (*s < '0' || *s > '9' || (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')))
            return;
        part[n++] = strtoul(s, &end, 10);
        if (part[n - 1] > 255)
            return;
        if (*end == '\0')
            break;
        s = end + 1;
    }
    if (n == 4 && s[strspn(s, "0123456789")] == '\0')
        snprintf(out, outlen, "%lu.%lu.%lu.%lu", part[0], part[1], part[2], part[3]);
}

/* `host`: a host name, or an IP address literal as inet_pton(3) reads it.
 * Where programs disagree on what a value means, it is refused with what
 * to write instead; the rest is written to out as the engine reads it:
 *  - "127.1", "10.1.2", "2130706433": the short forms inet_aton(3), ping
 *    and glibc's getaddrinfo read as 127.0.0.1 (and libevent too) are
 *    taken as that address, and stored as the dotted quad;
 *  - "010.0.0.1", "0x7f.0.0.1": a leading 0 means octal and 0x hex to
 *    inet_aton and ping (8.0.0.1), decimal to libevent and others
 *    (10.0.0.1), an error to inet_pton: refused, both readings named;
 *  - "[::1]": brackets belong around an address in a URL, not here;
 *  - "fe80::1%eth0": a scoped address the engine cannot use. */
static int check_host(const char *v, char *out, size_t outlen, char *err, size_t errlen)
{
    unsigned char a[16];
    struct in_addr a4;
    char dec[INET_ADDRSTRLEN], oct[INET_ADDRSTRLEN];
    bool odd;
    size_t len = strlen(v);

    if (*v == '\0') {
        snprintf(err, errlen, "must not be empty");
        return -1;
    }
    if (v[0] == '[') {
        const char *close = strchr(v, ']');
        char inner[INET6_ADDRSTRLEN + 1];
        size_t n = close != NULL ? (size_t)(close - v - 1) : 0;

        if (close != NULL && n < sizeof(inner)) {
            memcpy(inner, v + 1, n);
            inner[n] = '\0';
            if (inet_pton(AF_INET6, inner, a) == 1 || inet_pton(AF_INET, inner, a) == 1) {
                snprintf(err, errlen, "\"%s\": write the address without brackets (host = %s)%s", v,
                         inner, close[1] == ':' ? " and the port as port =" : "");
                return -1;
            }
        }
        goto bad;
    }
    if (len > 253)
        goto bad;
    if (inet_pton(AF_INET, v, a) == 1 || inet_pton(AF_INET6, v, a) == 1) {
        util_strlcpy(out, v, outlen);
        return 0;
    }
    if (strchr(v, '%') != NULL && strchr(v, ':') != NULL) {
        snprintf(err, errlen,
                 "\"%s\": a scoped IPv6 address (%%interface) is not supported; use a global "
                 "or unique local address, or a name",
                 v);
        return -1;
    }
    if (host_numeric(v, &odd)) {
        host_decimal(v, dec, sizeof(dec));
        oct[0] = '\0';
        if (inet_aton(v, &a4) != 0)
            inet_ntop(AF_INET, &a4, oct, sizeof(oct));
        if (oct[0] != '\0' && (!odd || strcmp(oct, dec) == 0)) {
            /* 127.1, or 01.02.03.04: the same address to every reader */
            util_strlcpy(out, oct, outlen);
            return 0;
        }
        if (odd && oct[0] != '\0' && dec[0] != '\0' && strcmp(oct, dec) != 0) {
            snprintf(err, errlen,
                     "\"%s\" is ambiguous: ping and inet_aton read a leading 0 as octal "
                     "(%s), other programs as decimal (%s); write %s or %s",
                     v, oct, dec, dec, oct);
            return -1;
        }
        if (odd && (oct[0] != '\0' || dec[0] != '\0')) {
            const char *w = dec[0] != '\0' ? dec : oct;
            snprintf(err, errlen,
                     "\"%s\" is ambiguous (a leading 0 is octal to some programs, 0x hex); "
                     "write %s",
                     v, w);
            return -1;
        }
        snprintf(err, errlen, "\"%s\" is not an IPv4 address (four numbers 0 to 255: a.b.c.d)", v);
        return -1;
    }
    if (!util_host_name_ok(v))
        goto bad;
    util_strlcpy(out, v, outlen);
    return 0;
bad:
    snprintf(err, errlen, "\"%s\" is not a host name or an IP address", v);
    return -1;
}

static int check_qname(const char *v, char *err, size_t errlen)
{
    size_t len = strlen(v), label = 0;

    if (len == 0) {
        snprintf(err, errlen, "must not be empty");
        return -1;
    }
    if (strcmp(v, ".") == 0)
        return 0; /* the root */
    if (v[len - 1] == '.')
        len--;
    if (len > 253)
        goto bad;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c == '.') {
            if (label == 0)
                goto bad;
            label = 0;
        } else if (c <= ' ' || c >= 0x7f || ++label > 63) {
            goto bad;
        }
    }
    if (label == 0)
        goto bad;
    return 0;
bad:
    snprintf(err, errlen, "\"%s\" is not a DNS name", v);
    return -1;
}

/* A number within o's bounds: int32_t in struct target (every target's
 * bytes count), int64_t elsewhere. */
static void set_number(const struct config_option *o, void *field, int64_t n)
{
    if (o->section == SEC_TARGET) {
        int32_t n32 = (int32_t)n;
        memcpy(field, &n32, sizeof(n32));
    } else {
        memcpy(field, &n, sizeof(n));
    }
}

static void set_enum(void *field, int v)
{
    memcpy(field, &v, sizeof(v));
}

static void replace_str(char **field, char *v)
{
    free(*field);
    *field = v;
}

/* Labels netdiagd sets itself: a configured label may not take their
 * place (Alertmanager would see two alerts, or ours lose their name). */
static const char *const label_reserved[] = {
    "alertname", "instance", "scope",  "target",   "wsa_code",
    "wsa_name",  "class",    "metric", "severity", NULL,
};
#define LABELS_MAX      32
#define LABEL_NAME_MAX  64
#define LABEL_VALUE_MAX 256

/* The items of a comma-separated list, blanks around each taken off;
 * empty items are skipped. f returns -1 to stop. */
static int each_item(const char *v, int (*f)(const char *item, size_t len, void *arg), void *arg)
{
    while (*v != '\0') {
        const char *end = v + strcspn(v, ",");
        const char *b = v, *e = end;
        while (b < e && (*b == ' ' || *b == '\t'))
            b++;
        while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (e > b && f(b, (size_t)(e - b), arg) < 0)
            return -1;
        v = *end ? end + 1 : end;
    }
    return 0;
}

struct list_out {
    char buf[LABELS_MAX * (LABEL_NAME_MAX + LABEL_VALUE_MAX + 2) + 1];
    size_t len, n;
    char *err;
    size_t errlen;
};

static bool list_has_key(const struct list_out *o, const char *k, size_t klen)
{
    for (const char *p = o->buf; p < o->buf + o->len;) {
        size_t il = strcspn(p, ",");
        if (il > klen && p[klen] == '=' && memcmp(p, k, klen) == 0)
            return true;
        p += il + (p[il] == ',');
    }
    return false;
}

static int list_add(struct list_out *o, const char *k, size_t klen, const char *val, size_t vlen)
{
    if (list_has_key(o, k, klen)) {
        snprintf(o->err, o->errlen, "\"%.*s\" is given twice", (int)klen, k);
        return -1;
    }
    if (o->n == LABELS_MAX) {
        snprintf(o->err, o->errlen, "more than %d entries", LABELS_MAX);
        return -1;
    }
    o->len += (size_t)snprintf(o->buf + o->len, sizeof(o->buf) - o->len, "%s%.*s=%.*s",
                               o->n ? "," : "", (int)klen, k, (int)vlen, val);
    o->n++;
    return 0;
}

/* name=value: a Prometheus label name (not one netdiagd sets, not
 * __reserved) and a value of printable text. */
static int label_item(const char *item, size_t len, void *arg)
{
    struct list_out *o = arg;
    const char *eq = memchr(item, '=', len), *val;
    size_t klen, vlen;

    if (eq == NULL) {
        snprintf(o->err, o->errlen, "\"%.*s\" is not name=value", (int)(len < 80 ? len : 80), item);
        return -1;
    }
    klen = (size_t)(eq - item);
    while (klen > 0 && (item[klen - 1] == ' ' || item[klen - 1] == '\t'))
        klen--;
    val = eq + 1;
    vlen = len - (size_t)(val - item);
    while (vlen > 0 && (*val == ' ' || *val == '\t'))
        val++, vlen--;
    if (klen == 0 || klen > LABEL_NAME_MAX || isdigit((unsigned char)item[0])) {
        snprintf(o->err, o->errlen,
                 "\"%.*s\" is not a label name (letters, digits and _, not first a digit, at "
                 "most %d)",
                 (int)(klen < 80 ? klen : 80), item, LABEL_NAME_MAX);
        return -1;
    }
    for (size_t i = 0; i < klen; i++)
        if (!isalnum((unsigned char)item[i]) && item[i] != '_') {
            snprintf(o->err, o->errlen,
                     "\"%.*s\" is not a label name (letters, digits and _, not first a digit, "
                     "at most %d)",
                     (int)(klen < 80 ? klen : 80), item, LABEL_NAME_MAX);
            return -1;
        }
    if (klen >= 2 && item[0] == '_' && item[1] == '_') {
        snprintf(o->err, o->errlen, "\"%.*s\": names starting with __ are Prometheus' own",
                 (int)klen, item);
        return -1;
    }
    for (size_t i = 0; label_reserved[i] != NULL; i++)
        if (strlen(label_reserved[i]) == klen && memcmp(label_reserved[i], item, klen) == 0) {
            snprintf(o->err, o->errlen, "\"%.*s\" is a label netdiagd sets itself%s", (int)klen,
                     item,
                     strcmp(label_reserved[i], "severity") == 0 ? " (see [alert] severity)" : "");
            return -1;
        }
    if (vlen == 0 || vlen > LABEL_VALUE_MAX) {
        snprintf(o->err, o->errlen, "%.*s: the value must have 1 to %d bytes", (int)klen, item,
                 LABEL_VALUE_MAX);
        return -1;
    }
    for (size_t i = 0; i < vlen; i++)
        if ((unsigned char)val[i] < 0x20 || val[i] == 0x7f) {
            snprintf(o->err, o->errlen, "%.*s: the value holds a control character", (int)klen,
                     item);
            return -1;
        }
    return list_add(o, item, klen, val, vlen);
}

/* KEY=LEVEL or a bare LEVEL (the default): KEY a code as `codes` takes it
 * (refused, timeout, WSAEHOSTUNREACH, 10065), latency, loss or host. */
static int severity_item(const char *item, size_t len, void *arg)
{
    struct list_out *o = arg;
    const char *eq = memchr(item, '=', len), *lvl = item;
    size_t llen = len;
    char key[64] = "*", tok[64];

    if (eq != NULL) {
        size_t klen = (size_t)(eq - item);
        while (klen > 0 && (item[klen - 1] == ' ' || item[klen - 1] == '\t'))
            klen--;
        lvl = eq + 1;
        llen = len - (size_t)(lvl - item);
        while (llen > 0 && (*lvl == ' ' || *lvl == '\t'))
            lvl++, llen--;
        if (klen == 0 || klen >= sizeof(tok)) {
            snprintf(o->err, o->errlen, "\"%.*s\" names no alert", (int)(len < 80 ? len : 80),
                     item);
            return -1;
        }
        memcpy(tok, item, klen);
        tok[klen] = '\0';
        if (strcasecmp(tok, "latency") == 0 || strcasecmp(tok, "loss") == 0 ||
            strcasecmp(tok, "host") == 0) {
            for (size_t i = 0; i <= klen; i++)
                key[i] = (char)tolower((unsigned char)tok[i]);
        } else {
            int16_t codes[CONFIG_MAX_CODES];
            uint8_t n = 0;
            if (strpbrk(tok, " \t") != NULL || parse_codes(tok, codes, &n, o->err, o->errlen) < 0 ||
                n != 1) {
                snprintf(o->err, o->errlen,
                         "\"%s\" is not a code (refused, timeout, a WSA name or number), "
                         "latency, loss or host",
                         tok);
                return -1;
            }
            snprintf(key, sizeof(key), "%d", codes[0]);
        }
    }
    if (llen == 0 || llen > 32) {
        snprintf(o->err, o->errlen, "\"%.*s\": a severity has 1 to 32 characters",
                 (int)(len < 80 ? len : 80), item);
        return -1;
    }
    for (size_t i = 0; i < llen; i++)
        if (!isalnum((unsigned char)lvl[i]) && lvl[i] != '_' && lvl[i] != '-') {
            snprintf(o->err, o->errlen,
                     "\"%.*s\" is not a severity (letters, digits, _ and -: critical, warning, "
                     "info)",
                     (int)llen, lvl);
            return -1;
        }
    return list_add(o, key, strlen(key), lvl, llen);
}

const char *config_severity_find(const char *list, const char *key, size_t *len)
{
    size_t klen = strlen(key);

    for (const char *p = list; p != NULL && *p;) {
        size_t il = strcspn(p, ",");
        if (il > klen && p[klen] == '=' && memcmp(p, key, klen) == 0) {
            *len = il - klen - 1;
            return p + klen + 1;
        }
        p += il + (p[il] == ',');
    }
    return NULL;
}

/* labels and severity: the list checked, then kept in its plain form. */
static int parse_list(const char *v, int (*item)(const char *, size_t, void *), char **field,
                      char *err, size_t errlen)
{
    struct list_out *o = calloc(1, sizeof(*o));
    char *out;

    if (o == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    o->err = err;
    o->errlen = errlen;
    if (each_item(v, item, o) < 0) {
        free(o);
        return -1;
    }
    out = o->n > 0 ? strdup(o->buf) : NULL;
    free(o);
    replace_str(field, out);
    return 0;
}

/* web_url: where `netdiag web` shows this host, as people reach it. */
static int parse_web_url(const char *v, char **field, char *err, size_t errlen)
{
    size_t n = strlen(v);
    char *out;

    if (n == 0) {
        replace_str(field, NULL);
        return 0;
    }
    if ((strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0) ||
        v[strcspn(v, "://") + 3] == '\0' || n > 512) {
        snprintf(err, errlen, "\"%.80s\" is not an http:// or https:// URL of at most 512 bytes",
                 v);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] <= 0x20 || (unsigned char)v[i] >= 0x7f || v[i] == '"' ||
            v[i] == '?' || v[i] == '#') {
            snprintf(err, errlen,
                     "\"%.80s\": a blank, quote, ?, # or non-ASCII byte has no place in it", v);
            return -1;
        }
    while (n > 0 && v[n - 1] == '/')
        n--;
    out = strndup(v, n);
    if (out == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    replace_str(field, out);
    return 0;
}

int config_opt_parse(const struct config_option *o, void *base, const char *v, char *err,
                     size_t errlen)
{
    char *field = (char *)base + o->offset;
    struct target *t = base;
    int64_t n;
    int rc;

    switch (o->type) {
    case OT_STRING:
        if (*v == '\0' && o->min > 0) {
            snprintf(err, errlen, "must not be empty");
            return -1;
        }
        replace_str((char **)field, *v ? strdup(v) : NULL);
        return 0;
    case OT_DURATION:
        if (util_parse_duration_ms(v, &n, err, errlen) < 0)
            return -1;
        if (n < o->min || n > o->max) {
            char lo[32], hi[32];
            timefmt_duration(o->min, TIMEFMT_EXACT, lo, sizeof(lo));
            timefmt_duration(o->max, TIMEFMT_EXACT, hi, sizeof(hi));
            snprintf(err, errlen, "\"%s\" is out of range (%s to %s)", v, lo, hi);
            return -1;
        }
        set_number(o, field, n);
        return 0;
    case OT_INT:
        if (parse_int_range(v, o->min, o->max, &n, err, errlen) < 0)
            return -1;
        set_number(o, field, n);
        return 0;
    case OT_PORT: {
        uint16_t port;
        if (parse_int_range(v, o->min, o->max, &n, err, errlen) < 0)
            return -1;
        port = (uint16_t)n;
        memcpy(field, &port, sizeof(port));
        return 0;
    }
    case OT_DOUBLE: {
        double d;
        if (parse_double(v, (double)o->min, (double)o->max, &d, err, errlen) < 0)
            return -1;
        memcpy(field, &d, sizeof(d));
        return 0;
    }
    case OT_LOGLEVEL:
        rc = log_level_from_name(v);
        if (rc < 0) {
            snprintf(err, errlen, "\"%s\" is not one of error, warn, notice, info, debug", v);
            return -1;
        }
        memcpy(field, &rc, sizeof(rc));
        return 0;
    case OT_ENUM: {
        size_t off = 0;
        for (int i = 0; o->names[i] != NULL; i++) {
            if (strcmp(v, o->names[i]) == 0) {
                set_enum(field, i);
                return 0;
            }
        }
        off += (size_t)snprintf(err, errlen, "\"%s\" is not one of", v);
        for (int i = 0; o->names[i] != NULL && off < errlen; i++)
            off += (size_t)snprintf(err + off, errlen - off, "%s %s", i ? "," : "", o->names[i]);
        return -1;
    }
    case OT_CODES:
        return parse_codes(v, (int16_t *)field, (uint8_t *)((char *)base + o->offset2), err,
                           errlen);
    case OT_HOST: {
        char host[256];
        if (check_host(v, host, sizeof(host), err, errlen) < 0)
            return -1;
        replace_str((char **)field, strdup(host));
        return 0;
    }
    case OT_QNAME:
        if (check_qname(v, err, errlen) < 0)
            return -1;
        replace_str((char **)field, strdup(v));
        return 0;
    case OT_QTYPE: {
        uint16_t q = config_qtype_from_name(v);
        if (q == 0) {
            snprintf(err, errlen,
                     "\"%s\" is not a record type (A, AAAA, MX, TXT, NS, CNAME, SOA, PTR, SRV, "
                     "CAA or ANY)",
                     v);
            return -1;
        }
        memcpy(field, &q, sizeof(q));
        return 0;
    }
    case OT_SOURCE: {
        struct sockaddr_storage ss;
        socklen_t len = 0;
        if (*v != '\0' && util_parse_sockaddr(v, 0, &ss, &len, err, errlen) < 0)
            return -1;
        if (*v != '\0')
            memcpy(&t->source, &ss, len);
        t->source_len = len;
        replace_str(&t->source_str, *v ? strdup(v) : NULL);
        return 0;
    }
    case OT_SERVER: {
        struct sockaddr_storage ss;
        socklen_t len = 0;
        if (*v == '\0') {
            snprintf(err, errlen, "must not be empty (an address, or \"system\")");
            return -1;
        }
        if (strcmp(v, "system") != 0) {
            if (util_parse_sockaddr(v, 53, &ss, &len, err, errlen) < 0)
                return -1;
            memcpy(&t->server, &ss, len);
        }
        t->server_system = len == 0;
        t->server_len = len;
        replace_str(&t->server_str, strdup(v));
        return 0;
    }
    case OT_BYTES:
    case OT_HEX: {
        unsigned char *buf = NULL;
        size_t len = 0;
        if (o->type == OT_HEX && *v != '\0') {
            unsigned char *grown;
            if (util_hex_decode(v, &buf, &len, err, errlen) < 0)
                return -1;
            grown = realloc(buf, len + 1); /* room for the NUL */
            if (grown == NULL) {
                free(buf);
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            buf = grown;
        } else if (*v != '\0') {
            len = strlen(v);
            buf = (unsigned char *)strdup(v);
        }
        if (len > CONFIG_PAYLOAD_MAX) {
            free(buf);
            snprintf(err, errlen, "%zu bytes is more than the %d allowed", len, CONFIG_PAYLOAD_MAX);
            return -1;
        }
        if (buf != NULL && len == 0) { /* hex of only separators */
            free(buf);
            buf = NULL;
        }
        if (buf != NULL)
            buf[len] = '\0';
        free(*(unsigned char **)field);
        *(unsigned char **)field = buf;
        *(size_t *)((char *)base + o->offset2) = len;
        return 0;
    }
    case OT_LISTEN: {
        struct sockaddr_storage ss;
        socklen_t len;
        char *val;
        if (*v == '\0') {
            replace_str((char **)field, NULL);
            return 0;
        }
        if (looks_integer(v)) { /* a bare port: loopback only, the safe choice */
            if (parse_int_range(v, 1, 65535, &n, err, errlen) < 0)
                return -1;
            if (asprintf(&val, "127.0.0.1:%" PRId64, n) < 0)
                val = NULL;
        } else {
            if (util_parse_sockaddr(v, -1, &ss, &len, err, errlen) < 0)
                return -1;
            val = strdup(v);
        }
        replace_str((char **)field, val);
        return 0;
    }
    case OT_URL:
        /* alertmanager_url, checked as the client will take it (no
         * credentials in the message) */
        if (*v != '\0' && alert_am_check_urls(v, err, errlen) < 0)
            return -1;
        replace_str((char **)field, *v ? strdup(v) : NULL);
        return 0;
    case OT_WEBURL:
        return parse_web_url(v, (char **)field, err, errlen);
    case OT_LABELS:
        return parse_list(v, label_item, (char **)field, err, errlen);
    case OT_SEVERITY:
        return parse_list(v, severity_item, (char **)field, err, errlen);
    case OT_CAFILE:
        if (*v != '\0' && alert_am_check_ca(v, err, errlen) < 0)
            return -1;
        replace_str((char **)field, *v ? strdup(v) : NULL);
        return 0;
    case OT_SECRET: {
        char *hdr = NULL;
        if (*v != '\0' &&
            alert_am_read_secret(v, (enum alert_am_auth)o->min, &hdr, err, errlen) < 0)
            return -1;
        if (*(char **)field != NULL)
            memset(*(char **)field, 0, strlen(*(char **)field));
        replace_str((char **)field, hdr);
        return 0;
    }
    case OT_CHURL:
        if (*v != '\0' && export_parse_url(v, NULL, err, errlen) < 0)
            return -1;
        replace_str((char **)field, *v ? strdup(v) : NULL);
        return 0;
    case OT_EXEC:
        /* Run without a shell: a relative name would depend on the daemon's
         * cwd and PATH, so only an absolute path is taken. */
        if (*v != '\0' && *v != '/') {
            snprintf(err, errlen,
                     "\"%s\" does not start with an absolute program path (words after it are "
                     "passed as they are, no shell)",
                     v);
            return -1;
        }
        replace_str((char **)field, *v ? strdup(v) : NULL);
        return 0;
    }
    snprintf(err, errlen, "internal error: option type %d", (int)o->type);
    return -1;
}

const struct config_option *config_opt_find(enum opt_section sec, const char *key)
{
    for (size_t i = 0; i < CONFIG_NOPTS; i++)
        if (config_options[i].section == sec && strcmp(config_options[i].key, key) == 0)
            return &config_options[i];
    return NULL;
}

size_t config_opt_index(const struct config_option *o)
{
    return (size_t)(o - config_options);
}
