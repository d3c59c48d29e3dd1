/* SPDX-License-Identifier: ISC */
/* Benchmark of the /metrics body: N targets, each with results of a known
 * mix (every target ok with a latency, every tenth also refused, every
 * hundredth also timed out), rendered ROUNDS times; prints one JSON line
 * with the body's bytes, its series (sample lines) per target and the
 * render time (median and worst) on the loop; with the latency
 * histogram (metrics_latency = histogram) or without (off).
 *
 * usage: bench_metrics [TARGETS [ROUNDS [histogram|off]]]
 *        (default 10000 20 histogram) */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "config.h"
#include "log.h"
#include "metrics.h"
#include "probe.h"
#include "util.h"
#include "wsa.h"

#define BENCH_TARGETS_MAX 1000000

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void observe(struct metrics *m, const struct target *t, int wsa, const char *raw,
                    int64_t latency_us)
{
    struct result r;

    memset(&r, 0, sizeof(r));
    r.target = t;
    r.ts_ms = util_now_ms();
    r.ok = wsa == 0;
    r.wsa_code = wsa;
    r.latency_us = latency_us;
    r.phase = wsa == 0 ? PHASE_NONE : PHASE_CONNECT;
    util_strlcpy(r.raw, raw, sizeof(r.raw));
    metrics_observe(m, &r);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 10000;
    int rounds = argc > 2 ? atoi(argv[2]) : 20;
    const char *hist = argc > 3 ? argv[3] : "histogram";
    struct config cfg;
    struct metrics *m;
    char(*names)[16];
    int64_t *us;
    size_t bytes = 0, lines = 0;

    log_init(LOG_LEVEL_WARN);
    if (n < 1 || n > BENCH_TARGETS_MAX || rounds < 1 || rounds > 1000) {
        fprintf(stderr, "bench_metrics: TARGETS 1 to %d, ROUNDS 1 to 1000\n", BENCH_TARGETS_MAX);
        return 2;
    }
    memset(&cfg, 0, sizeof(cfg));
    cfg.metrics_latency =
        strcmp(hist, "off") == 0 ? METRICS_LATENCY_OFF : METRICS_LATENCY_HISTOGRAM;
    cfg.targets = calloc((size_t)n, sizeof(*cfg.targets));
    names = calloc((size_t)n, sizeof(*names));
    us = calloc((size_t)rounds, sizeof(*us));
    if (cfg.targets == NULL || names == NULL || us == NULL)
        return 1;
    cfg.ntargets = (size_t)n;
    for (long i = 0; i < n; i++) {
        struct target *t = &cfg.targets[i];
        snprintf(names[i], sizeof(names[i]), "t%06ld", i);
        t->name = names[i];
        t->kind = KIND_CONNECT;
        t->interval_ms = 10000;
        t->alert_codes[0] = WSAECONNREFUSED;
        t->alert_codes[1] = CONFIG_CODE_TIMEOUT;
        t->alert_ncodes = 2;
    }
    m = metrics_new(NULL);
    metrics_set_targets(m, &cfg);
    for (long i = 0; i < n; i++) {
        observe(m, &cfg.targets[i], 0, "", 300 + i % 5000);
        if (i % 10 == 0)
            observe(m, &cfg.targets[i], WSAECONNREFUSED, "ECONNREFUSED", 80);
        if (i % 100 == 0)
            observe(m, &cfg.targets[i], WSAETIMEDOUT, "ETIMEDOUT", 3000000);
    }
    for (int r = 0; r < rounds; r++) {
        struct evbuffer *b = evbuffer_new();
        int64_t t0 = util_mono_us();
        if (b == NULL || metrics_render(m, b) < 0)
            return 1;
        us[r] = util_mono_us() - t0;
        if (r == 0) {
            struct evbuffer_ptr p;
            bytes = evbuffer_get_length(b);
            /* sample lines: every line that does not start with '#' */
            evbuffer_ptr_set(b, &p, 0, EVBUFFER_PTR_SET);
            for (;;) {
                char c;
                if (evbuffer_copyout_from(b, &p, &c, 1) != 1)
                    break;
                if (c != '#')
                    lines++;
                p = evbuffer_search(b, "\n", 1, &p);
                if (p.pos < 0 || evbuffer_ptr_set(b, &p, 1, EVBUFFER_PTR_ADD) < 0)
                    break;
            }
        }
        evbuffer_free(b);
    }
    qsort(us, (size_t)rounds, sizeof(*us), cmp_i64);
    printf("{\"targets\": %ld, \"latency\": \"%s\", \"bytes\": %zu, \"bytes_per_target\": %.1f, "
           "\"series\": %zu, \"series_per_target\": %.2f, \"render_ms_median\": %.2f, "
           "\"render_ms_max\": %.2f, \"rounds\": %d}\n",
           n, hist, bytes, (double)bytes / (double)n, lines, (double)lines / (double)n,
           (double)us[rounds / 2] / 1000.0, (double)us[rounds - 1] / 1000.0, rounds);
    metrics_stop(m);
    free(cfg.targets);
    free(names);
    free(us);
    return 0;
}
