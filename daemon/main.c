/* SPDX-License-Identifier: ISC */
/* netdiagd: command line, signals and the daemon's lifecycle (load the
 * config, open the store, run the loop, reload, flush and stop). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <event2/event.h>

#include "alert.h"
#include "config.h"
#include "export.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "probe.h"
#include "reload.h"
#include "trace.h"
#include "resolv.h"
#include "result.h"
#include "store.h"
#include "util.h"

#define EXIT_FAILED 1 /* probe failures with --once, or a runtime error */
#define EXIT_USAGE  2 /* usage or configuration error */

enum out_format {
    OUT_TEXT,
    OUT_JSON,
};

struct daemon {
    const char *config_path;
    struct config *cfg;
    struct event_base *base;
    struct resolv *rs; /* the engine's stub resolver */
    struct engine *eng;
    struct store *st;
    struct metrics *metrics;    /* NULL: metrics_listen is off */
    struct alert_engine *alert; /* NULL with --once */
    struct tracer *tracer;      /* NULL with --once */
    struct export *exp;         /* NULL: [export] is off, or --once */
    bool once;
    bool debug;
    bool verbose; /* -v: info at least, also after a reload */
    enum out_format format;
    uint64_t results;
    uint64_t failures;
    uint64_t reloads_ok, reloads_failed;
    struct reload *reload; /* NULL with --once */
    struct event *ev_sig[4];
    struct event *ev_tick;
    uint64_t tick_attempts; /* probe_engine_attempts() at the last tick */
    struct event *ev_lag;   /* the loop-lag probe (not with --once) */
    int64_t lag_last_us;    /* when it last ran */
    int64_t lag_max_us;     /* its longest gap since the last status tick */
    int64_t lag_reload_us;  /* ... since the reload in progress began */
};

static void usage(FILE *f)
{
    fprintf(f, "usage: netdiagd [-c FILE] [-t] [--once [--format text|json]] [-d] [-v]\n"
               "       netdiagd -V | --help\n"
               "\n"
               "  -c, --config FILE   configuration file (default /etc/netdiag/netdiag.ini)\n"
               "  -t, --test          check the configuration, print \"configuration OK\", exit\n"
               "      --once          probe every target once, print the results, exit\n"
               "      --format FMT    output of --once: text (default) or json\n"
               "  -d, --debug         log at debug level\n"
               "  -v, --verbose       log at info level at least\n"
               "  -V, --version       print the version and exit\n"
               "  -h, --help          this help\n"
               "\n"
               "Exit status: 0 ok; 1 probe failures (--once) or runtime error;\n"
               "2 usage or configuration error.\n");
}

/* The engine's gate: hold scheduled starts back while the writer is
 * behind, its queue so full that the probes in flight (and a margin for
 * targets with several addresses) could fill it. Not while the database
 * is unwritable: then the daemon keeps probing, holds what fits and
 * counts what it drops, as the store's documentation says. */
#define DAEMON_GATE_MARGIN 1024

static bool daemon_gate(void *arg)
{
    struct daemon *d = arg;
    struct store_stats ss;

    if (d->st == NULL)
        return true;
    store_get_stats(d->st, &ss);
    return !ss.writable ||
           ss.queue_depth + probe_engine_in_flight(d->eng) + DAEMON_GATE_MARGIN < STORE_QUEUE_MAX;
}

static void daemon_sink(const struct result *r, void *arg)
{
    struct daemon *d = arg;
    char line[1400];

    d->results++;
    if (!r->ok)
        d->failures++;
    if (d->once) {
        if (d->format == OUT_JSON)
            result_format_json(r, line, sizeof(line));
        else
            result_format_text(r, line, sizeof(line));
        puts(line);
        return;
    }
    metrics_observe(d->metrics, r);
    alert_observe(d->alert, r);
    store_submit(d->st, r);
    tracer_observe(d->tracer, r);
}

/* A finished trace goes to the store. */
static void daemon_path_done(const struct trace_path *path, void *arg)
{
    struct daemon *d = arg;

    store_path_put(d->st, path);
}

/* What /metrics reads at scrape time. */
static void daemon_store_stats(void *arg, struct store_stats *out)
{
    struct daemon *d = arg;

    if (d->st != NULL)
        store_get_stats(d->st, out);
}

static size_t daemon_alerts_active(void *arg)
{
    struct daemon *d = arg;

    return d->alert != NULL ? alert_active(d->alert) : 0;
}

static void daemon_alerts_firing(void *arg, alert_firing_fn fn, void *fnarg)
{
    struct daemon *d = arg;

    alert_foreach_firing(d->alert, fn, fnarg);
}

static size_t daemon_in_flight(void *arg)
{
    struct daemon *d = arg;

    return d->eng != NULL ? probe_engine_in_flight(d->eng) : 0;
}

static void daemon_export_stats(void *arg, struct export_stats *out)
{
    struct daemon *d = arg;

    export_get_stats(d->exp, out);
}

/* Start the /metrics listener on d->cfg->metrics_listen. */
static int daemon_metrics_start(struct daemon *d, char *err, size_t errlen)
{
    struct metrics_sources src = {.arg = d,
                                  .store_stats = daemon_store_stats,
                                  .alerts_active = daemon_alerts_active,
                                  .alerts_firing = daemon_alerts_firing,
                                  .in_flight = daemon_in_flight,
                                  .export_stats = daemon_export_stats};

    d->metrics = metrics_start(d->base, d->cfg->metrics_listen, &src, err, errlen);
    return d->metrics != NULL ? 0 : -1;
}

/* A reload may set, change or clear metrics_listen: the listener follows at
 * once (a move keeps the counters). When the new address cannot be bound
 * the error is logged and the rest of the reload stands. */
static void daemon_metrics_listen(struct daemon *d)
{
    char err[512];

    if (d->cfg->metrics_listen == NULL) {
        if (d->metrics != NULL)
            log_info("metrics: metrics_listen is empty now; /metrics is no longer served");
        metrics_stop(d->metrics);
        d->metrics = NULL;
    } else if (d->metrics == NULL) {
        if (daemon_metrics_start(d, err, sizeof(err)) < 0)
            log_error("%s", err);
    } else if (metrics_rebind(d->metrics, d->cfg->metrics_listen, err, sizeof(err)) < 0) {
        log_error("%s; the previous metrics listener is kept", err);
    }
}

/* The loop-lag probe: a 10 ms timer whose late runs measure how long the
 * loop was busy at a stretch (a reload's swap, a burst of completions).
 * A stall of 50 ms or more is logged at debug once a second, and a reload
 * says the longest one while it ran. A wake-up every 10 ms costs a few µs. */
#define LAG_TICK_US   10000
#define LAG_REPORT_US 50000

static void lag_cb(evutil_socket_t fd, short what, void *arg)
{
    struct daemon *d = arg;
    int64_t now = util_mono_us(), late = now - d->lag_last_us - LAG_TICK_US;

    (void)fd;
    (void)what;
    d->lag_last_us = now;
    if (late > d->lag_max_us)
        d->lag_max_us = late;
    if (late > d->lag_reload_us)
        d->lag_reload_us = late;
}

static void lag_start(struct daemon *d)
{
    struct timeval tv = {0, LAG_TICK_US};

    d->ev_lag = event_new(d->base, -1, EV_PERSIST, lag_cb, d);
    d->lag_last_us = util_mono_us();
    if (d->ev_lag == NULL || event_add(d->ev_lag, &tv) < 0)
        fatalx("cannot start the loop-lag timer");
}

/* Once a second, from the status tick. */
static void lag_report(struct daemon *d)
{
    if (d->lag_max_us >= LAG_REPORT_US)
        log_debug("loop: busy for %lld ms at a stretch in the last second (a 10 ms timer ran "
                  "that late)",
                  (long long)(d->lag_max_us / 1000));
    d->lag_max_us = 0;
}

/* The stub resolver's files, read at start and at each reload. */
static struct resolv_conf *daemon_resolv_conf(void)
{
    char note[256];
    struct resolv_conf *c =
        resolv_conf_load(RESOLV_CONF_PATH, RESOLV_HOSTS_PATH, note, sizeof(note));

    if (c == NULL)
        fatalx("out of memory");
    if (note[0] != '\0')
        log_warnx("dns: %s", note);
    log_debug("dns: %zu nameserver%s from %s, %zu names in %s", resolv_conf_nameservers(c),
              resolv_conf_nameservers(c) == 1 ? "" : "s", RESOLV_CONF_PATH, resolv_conf_hosts(c),
              RESOLV_HOSTS_PATH);
    return c;
}

/* The reload's steps (reload.c runs the thread). */
static void daemon_reload_begin(void *arg)
{
    struct daemon *d = arg;

    /* systemd >= 253 (Type=notify-reload) wants the CLOCK_MONOTONIC time
     * of the reload beside RELOADING=1; older ones ignore it */
    notify_send("RELOADING=1\nMONOTONIC_USEC=%lld", (long long)util_mono_us());
    log_info("reloading %s", d->config_path);
    d->lag_reload_us = 0;
}

/* What a reload builds on its thread for the swap: the resolver's files
 * read again, the alert engine's tables for the new targets. */
struct daemon_prepared {
    struct resolv_conf *rc;
    struct probe_engine_prepared *ep;
    struct alert_prepared *ap;
};

static void *daemon_reload_prepare(void *arg, struct config *ncfg)
{
    struct daemon *d = arg;
    struct daemon_prepared *dp = calloc(1, sizeof(*dp));

    if (dp == NULL)
        return NULL; /* the swap does it all then */
    dp->rc = daemon_resolv_conf();
    dp->ep = probe_engine_prepare(d->eng, ncfg);
    dp->ap = alert_prepare(ncfg);
    return dp;
}

static void daemon_reload_discard(void *arg, void *prepared)
{
    struct daemon_prepared *dp = prepared;

    (void)arg;
    resolv_conf_free(dp->rc);
    probe_engine_prepared_free(dp->ep);
    alert_prepared_free(dp->ap);
    free(dp);
}

/* On the loop: everything here is O(targets) without a sort, a search or
 * a file read (the reload thread linked ncfg to the running config and
 * built the tables), and the old config is freed by the thread. */
static struct config *daemon_reload_swap(void *arg, struct config *ncfg, void *prepared)
{
    struct daemon *d = arg;
    struct config *old = d->cfg;
    struct daemon_prepared *dp = prepared;
    int64_t t0 = util_mono_us(), t1, t2, t3;

    resolv_set_conf(d->rs, dp != NULL ? dp->rc : daemon_resolv_conf());
    probe_engine_set_targets_prepared(d->eng, ncfg, false, dp != NULL ? dp->ep : NULL);
    t1 = util_mono_us();
    alert_set_config_prepared(d->alert, ncfg, dp != NULL ? dp->ap : NULL);
    tracer_set_config(d->tracer, ncfg);
    free(dp);
    t2 = util_mono_us();
    if (!d->debug)
        log_set_level((enum log_level)ncfg->log_level);
    if (d->verbose && log_get_level() < LOG_LEVEL_INFO)
        log_set_level(LOG_LEVEL_INFO);
    d->cfg = ncfg;
    d->reloads_ok++;
    daemon_metrics_listen(d);
    metrics_set_targets(d->metrics, ncfg);
    t3 = util_mono_us();
    log_info("reloaded: %zu targets", ncfg->ntargets);
    notify_send("READY=1\nSTATUS=reloaded, %zu targets", ncfg->ntargets);
    metrics_reload(d->metrics, true, util_now_ms());
    log_debug("reload: the swap's parts: engine %lld ms, alerts %lld ms, metrics %lld ms",
              (long long)(t1 - t0) / 1000, (long long)(t2 - t1) / 1000,
              (long long)(t3 - t2) / 1000);
    return old;
}

static void daemon_reload_end(void *arg, bool ok, int nerr, int64_t read_us, int64_t swap_us)
{
    struct daemon *d = arg;

    if (ok) {
        log_debug("reload: read, checked and recorded in %lld ms off the loop; the swap held "
                  "the loop %lld ms; the loop's longest stall meanwhile %lld ms",
                  (long long)(read_us / 1000), (long long)(swap_us / 1000),
                  (long long)(d->lag_reload_us / 1000));
        return;
    }
    d->reloads_failed++;
    if (nerr == 0) {
        log_error("reload failed: cannot record targets in the database; previous "
                  "configuration kept");
        notify_send("READY=1");
    } else {
        log_error("reload failed: %d error%s in %s; still running the previous configuration", nerr,
                  nerr == 1 ? "" : "s", d->config_path);
        notify_send("READY=1\nSTATUS=reload failed, previous configuration kept");
    }
    metrics_reload(d->metrics, false, util_now_ms());
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
    struct daemon *d = arg;

    (void)what;
    if (sig == SIGHUP) {
        if (d->reload != NULL)
            reload_request(d->reload, d->cfg);
        return;
    }
    log_info("received %s, stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    notify_send("STOPPING=1");
    probe_engine_stop(d->eng);
    event_base_loopexit(d->base, NULL);
}

/* Once a second: STATUS= for systemd, and the watchdog only while the loop
 * runs (this timer) and the writer keeps up (its queue is not stuck). */
static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct daemon *d = arg;
    uint64_t att = probe_engine_attempts(d->eng);
    struct store_stats ss;

    (void)fd;
    (void)what;
    memset(&ss, 0, sizeof(ss));
    if (d->st != NULL)
        store_get_stats(d->st, &ss);
    notify_send("STATUS=%zu targets, %llu probes/s, %zu alerts firing, %llu failures stored, "
                "%llu dropped",
                d->cfg->ntargets, (unsigned long long)(att - d->tick_attempts),
                d->alert != NULL ? alert_active(d->alert) : (size_t)0,
                (unsigned long long)ss.rows_written, (unsigned long long)ss.dropped);
    d->tick_attempts = att;
    probe_engine_tick(d->eng);
    lag_report(d);
    /* the writer thread wakes at least once a second; a database that is
     * full or locked is a condition to report, not a hang to restart */
    if (notify_watchdog_usec() > 0 &&
        (d->st == NULL || util_mono_us() - ss.writer_alive_us < 5 * 1000000LL))
        notify_send("WATCHDOG=1");
}

/* A word as a shell reads it back: single quotes unless it is plain. */
static void shell_word(const char *w, char *out, size_t len)
{
    size_t o = 0;

    if (w[strspn(w, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./-+:,@")] ==
        '\0') {
        util_strlcpy(out, w, len);
        return;
    }
    if (len < 3)
        return;
    out[o++] = '\'';
    for (; *w != '\0' && o + 5 < len; w++) {
        if (*w == '\'') {
            memcpy(out + o, "'\\''", 4);
            o += 4;
        } else {
            out[o++] = *w;
        }
    }
    out[o++] = '\'';
    out[o] = '\0';
}

/* In the foreground on a terminal (`make run`), the start ends with how
 * to read what the daemon writes: the client beside this program when
 * there is one (build/netdiag), and the database relative to the working
 * directory when it lies below it. */
static void hint_query(const char *argv0, const char *db)
{
    const char *slash = strrchr(argv0, '/');
    char client[PATH_MAX] = "netdiag", cw[PATH_MAX + 8], dw[PATH_MAX + 8];
    char *cwd = getcwd(NULL, 0);
    size_t n = cwd != NULL ? strlen(cwd) : 0;

    if (slash != NULL) {
        snprintf(client, sizeof(client), "%.*s/netdiag", (int)(slash - argv0), argv0);
        if (access(client, X_OK) != 0)
            util_strlcpy(client, "netdiag", sizeof(client));
    }
    if (cwd != NULL && n > 1 && strncmp(db, cwd, n) == 0 && db[n] == '/')
        db += n + 1;
    free(cwd);
    shell_word(client, cw, sizeof(cw));
    shell_word(db, dw, sizeof(dw));
    log_info("query it with: %s --db %s summary", cw, dw);
}

/* Probing thousands of targets needs more descriptors than the usual soft
 * limit of 1024: raise it to the hard limit. */
static void raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            log_warn("cannot raise the open file limit");
    }
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"test", no_argument, NULL, 't'},
        {"once", no_argument, NULL, 'o'},
        {"format", required_argument, NULL, 'f'},
        {"debug", no_argument, NULL, 'd'},
        {"verbose", no_argument, NULL, 'v'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static const int sigs[] = {SIGTERM, SIGINT, SIGHUP};
    struct daemon d;
    bool test_only = false, journal;
    int c, nerr = 0, rc = 0;
    struct event_config *ecfg;

    memset(&d, 0, sizeof(d));
    d.config_path = "/etc/netdiag/netdiag.ini";
    log_init(LOG_LEVEL_INFO);
    while ((c = getopt_long(argc, argv, "c:tdvVh", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            d.config_path = optarg;
            break;
        case 't':
            test_only = true;
            break;
        case 'o':
            d.once = true;
            break;
        case 'f':
            if (strcmp(optarg, "json") == 0) {
                d.format = OUT_JSON;
            } else if (strcmp(optarg, "text") == 0) {
                d.format = OUT_TEXT;
            } else {
                fprintf(stderr, "netdiagd: --format: \"%s\" is not text or json\n", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'd':
            d.debug = true;
            break;
        case 'v':
            d.verbose = true;
            break;
        case 'V':
            printf("netdiagd %s\n", NETDIAG_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "netdiagd: unexpected argument \"%s\" (see --help)\n", argv[optind]);
        return EXIT_USAGE;
    }

    /* under journald (ExecStartPre= -t, then the start) the errors go
     * through the logger so that they carry their level, <3> */
    journal = log_is_journal();
    d.cfg = journal ? reload_load_logged(d.config_path, d.once, &nerr)
                    : reload_load(d.config_path, d.once, stderr, &nerr);
    if (d.cfg == NULL) {
        if (journal)
            log_error("%d error%s in %s", nerr, nerr == 1 ? "" : "s", d.config_path);
        else
            fprintf(stderr, "netdiagd: %d error%s in %s\n", nerr, nerr == 1 ? "" : "s",
                    d.config_path);
        return EXIT_USAGE;
    }
    if (test_only) {
        char why[256];
        /* ping targets that would fail with WSAEACCES: said, not refused */
        if (probe_ping_check(d.cfg, why, sizeof(why)) < 0) {
            if (journal)
                log_warnx("%s", why);
            else
                fprintf(stderr, "netdiagd: warning: %s\n", why);
        }
        printf("configuration OK\n");
        config_free(d.cfg);
        return 0;
    }
    log_set_level(d.debug ? LOG_LEVEL_DEBUG : (enum log_level)d.cfg->log_level);
    if (d.verbose && log_get_level() < LOG_LEVEL_INFO)
        log_set_level(LOG_LEVEL_INFO);
    if (d.once && !d.debug)
        log_set_level(LOG_LEVEL_WARN);
    if (!d.once) {
        char why[256];
        if (probe_ping_check(d.cfg, why, sizeof(why)) < 0)
            log_warnx("%s", why);
    }
    notify_init();
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();

    /* precise timers: the default coarse clock fires ~4 ms early or late */
    ecfg = event_config_new();
    if (ecfg == NULL)
        fatalx("out of memory");
    event_config_set_flag(ecfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    d.base = event_base_new_with_config(ecfg);
    event_config_free(ecfg);
    if (d.base == NULL)
        fatalx("cannot create the event loop");
    /* two priorities before any event exists: probe sockets (the engine
     * sets them) before everything else, see probe.c */
    if (event_base_priority_init(d.base, ENGINE_PRIORITIES) < 0)
        log_warnx("cannot set event priorities; an overloaded loop may report timeouts");
    d.rs = resolv_new(d.base, daemon_resolv_conf(), ENGINE_PRIO_IO);
    if (d.rs == NULL)
        fatalx("cannot create the DNS resolver");

    if (!d.once) {
        char err[512];
        d.st = store_open(d.cfg->database, d.cfg, err, sizeof(err));
        if (d.st == NULL) {
            log_error("%s", err);
            rc = EXIT_FAILED;
            goto out;
        }
        if (store_sync_targets(d.st, d.cfg) < 0) {
            log_error("%s: cannot record the targets", d.cfg->database);
            rc = EXIT_FAILED;
            goto out;
        }
        if (d.cfg->metrics_listen != NULL && daemon_metrics_start(&d, err, sizeof(err)) < 0) {
            log_error("%s", err);
            rc = EXIT_FAILED;
            goto out;
        }
        metrics_set_targets(d.metrics, d.cfg);
        d.exp = export_start(d.cfg, d.st, err, sizeof(err));
        if (d.exp == NULL && err[0] != '\0') {
            log_error("%s", err);
            rc = EXIT_FAILED;
            goto out;
        }
        d.alert = alert_new(d.base, d.st, d.cfg, err, sizeof(err));
        if (d.alert == NULL) {
            log_error("%s", err);
            rc = EXIT_FAILED;
            goto out;
        }
        d.tracer = tracer_new(d.base, d.cfg, daemon_path_done, &d);
        if (d.tracer == NULL)
            fatalx("out of memory");
    }
    if (!d.once) {
        static const struct reload_ops ops = {.begin = daemon_reload_begin,
                                              .prepare = daemon_reload_prepare,
                                              .discard = daemon_reload_discard,
                                              .swap = daemon_reload_swap,
                                              .end = daemon_reload_end};
        struct reload_ops o = ops;
        o.arg = &d;
        d.reload = reload_new(d.base, d.config_path, d.st, &o);
        if (d.reload == NULL)
            fatal("cannot set up reloading");
    }
    for (size_t i = 0; i < ND_ARRAY_LEN(sigs); i++) {
        d.ev_sig[i] = evsignal_new(d.base, sigs[i], signal_cb, &d);
        if (d.ev_sig[i] == NULL || evsignal_add(d.ev_sig[i], NULL) < 0)
            fatalx("cannot install the signal handlers");
    }
    d.eng = probe_engine_new(d.base, d.rs, daemon_sink, &d);
    probe_engine_set_gate(d.eng, daemon_gate, &d);
    if (!d.once) {
        struct timeval one = {1, 0};
        d.ev_tick = event_new(d.base, -1, EV_PERSIST, tick_cb, &d);
        if (d.ev_tick == NULL || event_add(d.ev_tick, &one) < 0)
            fatalx("cannot start the status timer");
        log_info("started: %zu targets, database %s", d.cfg->ntargets, d.cfg->database);
        if (!journal && isatty(STDERR_FILENO))
            hint_query(argv[0], d.cfg->database);
        lag_start(&d);
        notify_send("READY=1\nSTATUS=%zu targets", d.cfg->ntargets);
    }
    probe_engine_set_targets(d.eng, d.cfg, d.once);
    log_async_start(); /* from here no log line waits for stderr's reader */
    event_base_dispatch(d.base);

    if (d.once) {
        rc = d.failures > 0 ? EXIT_FAILED : 0;
    } else {
        struct store_stats ss;
        struct sched_stats es;

        probe_engine_schedule_stats(d.eng, &es);
        reload_stop(d.reload); /* before the store: its thread writes there */
        alert_free(d.alert);   /* before the store: it queues rows */
        d.alert = NULL;
        tracer_free(d.tracer); /* the same; traces in flight are dropped */
        d.tracer = NULL;
        export_stop(d.exp); /* before the store: it hands positions over */
        d.exp = NULL;
        store_stop(d.st); /* flushes everything queued, then final figures */
        store_get_stats(d.st, &ss);
        log_debug("schedule: %llu starts, lateness p50 %lld us, p99 %lld us, max %lld us, "
                  "%llu early wake-ups re-armed, %llu starts held while the store caught up",
                  (unsigned long long)es.starts, (long long)es.p50_us, (long long)es.p99_us,
                  (long long)es.max_us, (unsigned long long)es.early_wakeups,
                  (unsigned long long)es.held);
        log_info("stopped: %llu results, %llu failures, %llu failure rows stored, %llu dropped",
                 (unsigned long long)d.results, (unsigned long long)d.failures,
                 (unsigned long long)ss.rows_written, (unsigned long long)ss.dropped);
        store_close(d.st);
        d.st = NULL;
    }
out:
    reload_free(d.reload);
    alert_free(d.alert);
    tracer_free(d.tracer);
    export_stop(d.exp);
    probe_engine_free(d.eng);
    if (d.ev_tick)
        event_free(d.ev_tick);
    if (d.ev_lag)
        event_free(d.ev_lag);
    for (size_t i = 0; i < ND_ARRAY_LEN(d.ev_sig); i++)
        if (d.ev_sig[i])
            event_free(d.ev_sig[i]);
    if (d.st)
        store_close(d.st);
    metrics_stop(d.metrics); /* before the event base it serves on */
    /* the engine cancelled its look-ups (synchronously: nothing waits in
     * the loop for them); the resolver's own are none by now */
    resolv_free(d.rs);
    if (d.base)
        event_base_free(d.base);
    config_free(d.cfg);
    return rc;
}
