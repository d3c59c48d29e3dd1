/* SPDX-License-Identifier: ISC */
/* The validated configuration: inih -> struct config, every error with
 * file:line (owned by config.c). */
#ifndef NETDIAG_CONFIG_H
#define NETDIAG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "util.h"

#define CONFIG_INTERVAL_MIN_MS 10
#define CONFIG_INTERVAL_MAX_MS (24LL * 3600 * 1000)
#define CONFIG_TIMEOUT_MIN_MS  1
#define CONFIG_MAX_CODES       16
/* In a list of watched codes, the class "timeout": WSAETIMEDOUT, and a DNS
 * query with no answer in time (WSATRY_AGAIN with raw TIMEOUT; SERVFAIL,
 * also 11002, is not one). "refused" is WSAECONNREFUSED itself. */
#define CONFIG_CODE_TIMEOUT (-1)
#define CONFIG_PAYLOAD_MAX  (1 << 20) /* bytes, decoded */
#define PING_COUNT_MAX      100       /* echoes per ping attempt */
/* What one configuration may make netdiagd read: the main file and every
 * file it includes together (a 200,000-target file of [target] sections
 * with comments is about 40 MiB), the *.ini files of an include
 * directory, and targets. Beyond these it is not a configuration but a
 * mistake (a log file, a disk image) that would cost memory and time. */
#define CONFIG_BYTES_MAX         (64 << 20)
#define CONFIG_INCLUDE_FILES_MAX 10000
#define CONFIG_TARGETS_MAX       1000000
#define CONFIG_NO_PREV           UINT32_MAX

enum target_kind {
    KIND_CONNECT,
    KIND_RESOLVE,
    KIND_SEND,
    KIND_PING,
};
const char *target_kind_name(enum target_kind kind); /* config_opt.c */

enum family {
    FAMILY_ANY,
    FAMILY_IPV4,
    FAMILY_IPV6,
};
const char *family_name(enum family family); /* config_opt.c */

enum addr_select {
    ADDRSEL_FIRST,
    ADDRSEL_ALL,
};

enum send_proto {
    PROTO_UDP,
    PROTO_TCP,
};

/* metrics_latency: the per-target latency histogram on /metrics, or not
 * (17 series a target; off for large fleets). */
enum metrics_latency {
    METRICS_LATENCY_HISTOGRAM,
    METRICS_LATENCY_OFF,
};

/* One configured target. Strings are owned by the target. Every byte
 * counts 100,000 times (issue 16: memory per target): fields are ordered
 * so that little pads, and tests/unit/test_config.c bounds the size. */
struct target {
    char *name;
    enum target_kind kind;
    enum family family;
    /* the numbers of struct target are int32_t (issue 16: a target's
     * memory); config_opt.c writes its durations and integers so */
    int32_t interval_ms;
    int32_t timeout_ms;

    /* connect, send and ping */
    char *host;               /* name or address literal */
    char *source_str;         /* as written, for messages; NULL if none */
    union nd_sockaddr source; /* local address to bind */
    socklen_t source_len;     /* 0: do not bind */
    enum addr_select addresses;
    uint16_t port;

    /* resolve */
    uint16_t qtype; /* DNS type number: 1 A, 28 AAAA, ... */
    union nd_sockaddr server;
    socklen_t server_len;
    enum send_proto protocol; /* send */
    char *qname;              /* key "name" */
    char *server_str;
    bool server_system; /* server = system */

    /* alerting: watched codes for this target (from [alert] unless set) */
    uint8_t alert_ncodes;
    int16_t alert_codes[CONFIG_MAX_CODES];
    /* latency and loss alerts, 0 off, 1 on (from [alert] unless set) */
    int alert_latency, alert_loss;

    /* where the target was defined, for messages */
    int line;
    char *file;
    /* labels added to its alerts, and its severities (config_opt.c's
     * forms); NULL: none of its own */
    char *labels;
    char *severity;

    /* send */
    unsigned char *payload;
    size_t payload_len;
    int32_t payload_size; /* pad/repeat the payload to this many bytes; 0: as is */

    /* ping */
    int32_t ping_count;      /* key "count": echoes per attempt */
    int32_t ping_spacing_ms; /* key "spacing": between two echoes' sends */
    int32_t ping_size;       /* key "size": payload bytes of one echo */

    /* resolve: a string the answers must contain; send: bytes the reply must
     * contain. NULL: no expectation. Always NUL-terminated as well. */
    unsigned char *expect;
    size_t expect_len;

    /* runtime state owned by the probe engine (probe.c); NULL in config */
    struct probe *probe;
    /* row id in the database's targets table (store.c); 0 until synced */
    int64_t db_id;
};

struct ssl_ctx_st;

struct alert_config {
    int16_t codes[CONFIG_MAX_CODES]; /* as struct target's alert_codes */
    uint8_t ncodes;
    int64_t window_ms;
    int64_t baseline_ms;
    double factor;
    int64_t min_failures;
    double min_ratio;
    int64_t clear_after;      /* windows */
    char *exec;               /* NULL: none; a program path and fixed words, no shell */
    char *alertmanager_url;   /* NULL: none */
    int64_t renotify_ms;      /* re-run exec for a still-firing alert; 0: never */
    int64_t exec_timeout_ms;  /* a hook still running then is killed */
    int64_t host_min_targets; /* host-wide alert needs this many targets; 0: off */
    double host_ratio;        /* ... and this share of the targets watching the code */
    /* latency and loss alerts (alert_detect.h says the rule) */
    int latency;                 /* 0 off, 1 on: for targets that do not say */
    double latency_percentile;   /* the window's figure: 50 = the median */
    double latency_factor;       /* over baseline x this ... */
    int64_t latency_margin_ms;   /* ... and over baseline + this */
    int64_t latency_min_samples; /* fewer successful attempts: no evidence */
    int loss;                    /* 0 off, 1 on: for targets that do not say */
    double loss_threshold;       /* share of a window's echoes lost */
    double loss_factor;          /* times the baseline's lost echoes */
    int64_t loss_min_lost;       /* the fewest lost echoes that fire */

    /* what Alertmanager is sent, and how (alert_am.h) */
    char *am_ca_file;          /* https: CA certificates; NULL: the system's */
    char *am_auth;             /* the Authorization header, read from a file; NULL: none */
    char *severity;            /* "KEY=LEVEL,..." (config_opt.c); NULL: warning */
    struct ssl_ctx_st *am_tls; /* https URLs: alert_am_tls_new()'s; NULL: none */
    char am_tls_id[24];        /* the CA file's contents as a hash, for a reload to compare */
};

/* [path]: the tracer's bounds (trace.c). */
#define CONFIG_PATH_HOPS_MAX 64
struct path_config {
    int trace;        /* 0 off, 1 on */
    int64_t max_hops; /* TTLs tried: 1 .. max_hops */
    int64_t probes;   /* probes per hop before it counts as silent (1-3) */
    int64_t hop_timeout_ms;
    int64_t max_traces; /* traces in flight at once, all targets */
    int64_t hold_ms;    /* at most one failure trace per target per hold */
    int64_t refresh_ms; /* a healthy target's baseline at most this often */
};

/* [export]: the failure rows, rollups and alerts sent to ClickHouse
 * (export.c). Read at start only: a reload keeps the running sink. */
struct export_config {
    char *clickhouse_url;      /* http://HOST:PORT[/]; NULL: off */
    char *clickhouse_database; /* the database holding the tables */
    char *host;                /* the host column; NULL: gethostname() */
    int64_t batch_rows;        /* rows per INSERT at most */
    int64_t interval_ms;       /* how often it looks for new rows */
    int64_t timeout_ms;        /* one INSERT, connect to answer */
    int64_t backoff_max_ms;    /* the longest wait after failures */
    int64_t settle_ms;         /* a minute's rollups ship this long after it ended */
};

struct config {
    char *path; /* the main file as given */

    /* [daemon] */
    char *database;
    int log_level;        /* enum log_level */
    char *metrics_listen; /* NULL: off */
    int metrics_latency;  /* enum metrics_latency */
    int64_t retention_ms;
    char *include;       /* NULL: none */
    int64_t min_targets; /* fewer targets: refused (config_check_run) */
    char *labels;        /* "name=value,..." added to every alert; NULL: none */
    char *web_url;       /* where `netdiag web` shows this host; NULL: unknown */

    struct alert_config alert;
    struct path_config tracing;
    struct export_config exp;

    struct target *targets;
    size_t ntargets;

    /* the file names targets point at (t->file), one copy per file */
    char **files;
    size_t nfiles;

    /* lines of the keys config_check_run() names (0: not in the file) */
    int line_database, line_exec, line_min_targets;

    /* target indices sorted by name */
    uint32_t *byname;
    /* config_link_prev(): the config this one replaces, and for each
     * target the index of its namesake there (CONFIG_NO_PREV: new), so
     * that the swap on the loop matches 200,000 targets without a sort */
    const struct config *prev;
    uint32_t *prev_idx;
};

/* Parse and validate `path` (and its include). Every error is printed to
 * `errs` as "file:line: message" (control bytes escaped) and parsing goes
 * on to find the rest. Only regular, non-empty files are read, within
 * CONFIG_BYTES_MAX. A relative `database` becomes config_path_beside().
 * Returns the config, or NULL when any error was found (*nerrors is set). */
struct config *config_load(const char *path, FILE *errs, int *nerrors);
void config_free(struct config *cfg);

/* What running cfg needs beyond a valid file (netdiagd -t, its start and
 * every reload): at least min_targets targets, and unless `once`, what
 * the machine must hold: the exec hook (an executable regular file) and
 * the database's directory. Errors as config_load() prints them; returns
 * their number. Only for a config without errors, so that a broken file
 * is reported the same on every machine. */
int config_check_run(const struct config *cfg, bool once, FILE *errs);

/* A path written in the configuration file `config_path`, as netdiagd and
 * netdiag -c both read it: an absolute path as it is; a relative one
 * relative to the directory that holds the file, with symbolic links in
 * that directory resolved (realpath) and leading "./" and "../" taken off
 * lexically, so the result is absolute and the same from any working
 * directory. malloc'd; NULL when out of memory. */
char *config_path_beside(const char *config_path, const char *path);

/* Reload: link cfg to the running config it replaces (see prev_idx).
 * Off the loop; prev must not change meanwhile. Returns 0, -1 when out of
 * memory (the swap then matches by name itself). */
int config_link_prev(struct config *cfg, const struct config *prev);
/* Forget prev (before it is freed). */
void config_unlink_prev(struct config *cfg);

/* Looks a target up by name; NULL if absent. */
struct target *config_find_target(const struct config *cfg, const char *name);

/* DNS record type names <-> numbers for the `type` key: A AAAA MX TXT NS
 * CNAME SOA PTR (plus SRV, CAA, ANY). 0 / NULL when unknown (config_opt.c). */
uint16_t config_qtype_from_name(const char *name);
const char *config_qtype_name(uint16_t qtype);

/* severity lists as config_opt.c keeps them ("*=warning,10061=critical,
 * host=page"): the level for key ("host", "latency", "loss", a code's
 * number, "-1" for the class timeout, "*" for any), with its length in
 * *len; NULL when the list has none. */
const char *config_severity_find(const char *list, const char *key, size_t *len);

#endif
