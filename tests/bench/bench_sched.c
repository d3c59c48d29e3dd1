/* SPDX-License-Identifier: ISC */
/* Benchmark of the scheduler alone: the real engine (daemon/probe.c) with
 * a connect kind that completes at once, so the CPU measured is what the
 * schedule costs (wake-ups, the heap, the completion path), not sockets
 * or storage. This program defines probe_connect_ops itself and is linked
 * without probe_connect.o. Loopback addresses only; nothing is sent.
 *
 * usage: bench_sched [TARGETS [INTERVAL_MS [SECONDS]]]  (default 10000 1000 20) */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "log.h"
#include "probe.h"
#include "util.h"

static uint64_t bench_results;

static void null_start(struct probe *p)
{
    probe_complete_ok(p, NULL);
}

const struct probe_ops probe_connect_ops = {
    .kind = KIND_CONNECT,
    .name = "connect",
    .needs_address = true,
    .start = null_start,
};

static void bench_sink(const struct result *r, void *arg)
{
    (void)r;
    (void)arg;
    bench_results++;
}

static int64_t cpu_us(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (int64_t)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec +
           (int64_t)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
}

static void bench_stop_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopexit(arg, NULL);
}

/* Run the loop for `seconds`. */
static void bench_run(struct event_base *base, double seconds)
{
    struct timeval tv = {(time_t)seconds, (suseconds_t)((seconds - (double)(time_t)seconds) * 1e6)};
    struct event *ev = evtimer_new(base, bench_stop_cb, base);

    evtimer_add(ev, &tv);
    event_base_dispatch(base);
    event_free(ev);
}

int main(int argc, char **argv)
{
    long targets = argc > 1 ? atol(argv[1]) : 10000;
    long interval_ms = argc > 2 ? atol(argv[2]) : 1000;
    double seconds = argc > 3 ? atof(argv[3]) : 20.0;
    char path[] = "/tmp/bench_sched.XXXXXX";
    struct event_config *ecfg;
    struct event_base *base;
    struct engine *eng;
    struct sched_stats ss;
    struct config *cfg;
    int64_t c0, c1, w0, w1;
    uint64_t r0;
    int nerr = 0, fd;
    FILE *f;

    if (targets < 1 || interval_ms < 10 || seconds <= 0) {
        fprintf(stderr, "usage: bench_sched [TARGETS [INTERVAL_MS [SECONDS]]]\n");
        return 2;
    }
    log_init(LOG_LEVEL_WARN);
    fd = mkstemp(path);
    if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
        perror("mkstemp");
        return 1;
    }
    fprintf(f, "[daemon]\ndatabase = /nonexistent/bench_sched.db\n");
    fprintf(f, "[defaults]\ninterval = %ldms\ntimeout = %ldms\n", interval_ms, interval_ms / 2);
    for (long i = 0; i < targets; i++)
        fprintf(f, "[target s%06ld]\nkind = connect\nhost = 127.0.0.1\nport = 9\n", i);
    fclose(f);
    cfg = config_load(path, stderr, &nerr);
    unlink(path);
    if (cfg == NULL)
        return 1;

    ecfg = event_config_new();
    event_config_set_flag(ecfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    base = event_base_new_with_config(ecfg);
    event_config_free(ecfg);
    eng = probe_engine_new(base, NULL, bench_sink, NULL);
    probe_engine_set_targets(eng, cfg, false);

    /* the first slots are spread over one interval: measure after it */
    bench_run(base, (double)interval_ms / 1000.0 + 0.5);
    c0 = cpu_us();
    w0 = util_mono_us();
    r0 = bench_results;
    bench_run(base, seconds);
    c1 = cpu_us();
    w1 = util_mono_us();
    probe_engine_schedule_stats(eng, &ss);

    printf("{\"figure\":\"scheduler_cpu_percent\",\"value\":%.2f,\"unit\":\"%%\","
           "\"targets\":%ld,\"interval_ms\":%ld,\"starts_per_s\":%.0f,\"cpu_us_per_start\":%.2f,"
           "\"lateness_p50_us\":%" PRId64 ",\"lateness_p99_us\":%" PRId64
           ",\"lateness_max_us\":%" PRId64 ",\"early_wakeups\":%" PRIu64 "}\n",
           100.0 * (double)(c1 - c0) / (double)(w1 - w0), targets, interval_ms,
           (double)(bench_results - r0) * 1e6 / (double)(w1 - w0),
           (double)(c1 - c0) / (double)(bench_results - r0 ? bench_results - r0 : 1), ss.p50_us,
           ss.p99_us, ss.max_us, ss.early_wakeups);
    probe_engine_stop(eng);
    probe_engine_free(eng);
    config_free(cfg);
    event_base_free(base);
    return 0;
}
