/* SPDX-License-Identifier: ISC */
/* Benchmark of the store: drives store_submit() as fast as the writer
 * keeps up, for a bounded count or time, and prints JSON lines with the
 * sustained failure rows per second and the bytes each stored row costs
 * (table, indexes and the lookup tables, split out as extra fields), then
 * what the heartbeat of an idle daemon costs per write, and what the
 * rollups (with their latency histograms) cost per target-minute of
 * steady targets probed every 10 s and every second.
 *
 * usage: bench_store [ROWS [SECONDS [DIR [TARGETS]]]]
 *        (default 2000000 10 /tmp 50; the rollups cost more with more
 *        targets, the failure rows do not) */
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "result.h"
#include "store.h"
#include "util.h"
#include "wsa.h"

#define BENCH_TARGETS     50
#define BENCH_TARGETS_MAX 100000

static int64_t bench_q_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s;
    int64_t v = -1;

    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

/* What the rollups cost per target and minute for targets with a steady
 * latency (each its own base, a few per cent of jitter, the odd slow one):
 * `per_minute` successful attempts a minute for `minutes` minutes ending an
 * hour ago, written as the daemon writes them; the rollup tables and their
 * indexes (minute and hour rows) divided by target-minutes. */
static int bench_rollups(const char *dir, struct target *targets, long ntargets, int per_minute,
                         int minutes)
{
    struct config cfg = {
        .targets = targets, .ntargets = (size_t)ntargets, .retention_ms = 30LL * 24 * 3600 * 1000};
    int64_t start = (util_now_ms() / 3600000 - 1) * 3600000 - (int64_t)minutes * 60000;
    char path[300], err[512];
    struct store_stats ss;
    struct store *st;
    struct result r;
    uint64_t seed = 88172645463325252ULL, n = 0;
    int64_t t0 = util_mono_us(), t1;
    sqlite3 *db;

    snprintf(path, sizeof(path), "%s/rollups-%d.db", dir, per_minute);
    if ((st = store_open(path, &cfg, err, sizeof(err))) == NULL ||
        store_sync_targets(st, &cfg) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    memset(&r, 0, sizeof(r));
    r.ok = true;
    r.raw_value = -1;
    snprintf(r.remote, sizeof(r.remote), "127.0.0.1:80");
    for (int m = 0; m < minutes; m++) {
        for (int k = 0; k < per_minute; k++) {
            for (long t = 0; t < ntargets; t++) {
                int64_t base = 150 + (t * 7919) % 20000; /* 150 µs to 20 ms */
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                if ((n++ & 255) == 0) {
                    for (;;) {
                        store_get_stats(st, &ss);
                        if (ss.queue_depth + 512 < STORE_QUEUE_MAX)
                            break;
                        usleep(200);
                    }
                }
                r.target = &targets[t];
                r.ts_ms = start + m * 60000LL + k * (60000 / per_minute) + t % 1000;
                r.latency_us = base + (int64_t)(seed % (uint64_t)(base / 20 + 1)) +
                               (seed % 100 == 0 ? base : 0);
                store_submit(st, &r);
            }
        }
    }
    store_stop(st);
    t1 = util_mono_us();
    store_get_stats(st, &ss);
    store_close(st);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        return 1;
    {
        double tm = (double)ntargets * minutes;
        int64_t minute = bench_q_int(db, "SELECT sum(pgsize) FROM dbstat WHERE name IN "
                                         "('rollup_minute', 'rollup_minute_target')");
        int64_t hour = bench_q_int(db, "SELECT sum(pgsize) FROM dbstat WHERE name IN "
                                       "('rollup_hour', 'rollup_hour_target')");
        int64_t hist = bench_q_int(db, "SELECT coalesce(sum(length(lat_hist)), 0) FROM "
                                       "rollup_minute");
        int64_t rows = bench_q_int(db, "SELECT count(*) FROM rollup_minute");
        if (hist < 0) /* a database of schema 4: no histograms */
            hist = 0;
        printf("{\"figure\":\"rollup_bytes_per_target_minute\",\"value\":%.1f,"
               "\"per_minute\":%d,\"targets\":%ld,\"minutes\":%d,\"minute_rows\":%.1f,"
               "\"hour_rows\":%.1f,\"lat_hist\":%.1f,\"rows\":%" PRId64 ",\"dropped\":%" PRIu64
               ",\"results_per_s\":%.0f}\n",
               (double)(minute + hour) / tm, per_minute, ntargets, minutes, (double)minute / tm,
               (double)hour / tm, rows > 0 ? (double)hist / (double)rows : 0.0, rows, ss.dropped,
               (double)n / ((double)(t1 - t0) / 1e6));
    }
    sqlite3_close(db);
    return 0;
}

int main(int argc, char **argv)
{
    long long max_rows = argc > 1 ? atoll(argv[1]) : 2000000;
    double max_s = argc > 2 ? atof(argv[2]) : 10.0;
    const char *base = argc > 3 ? argv[3] : "/tmp";
    long ntargets = argc > 4 ? atol(argv[4]) : BENCH_TARGETS;
    char dir[256], path[300], err[512], cmd[320];
    struct config cfg = {0};
    struct target *targets;
    char(*names)[16];
    struct store_stats ss;
    struct store *st;
    struct result r;
    int64_t t0, t1, submitted = 0;
    sqlite3 *db;

    log_init(LOG_LEVEL_WARN);
    if (ntargets < 1 || ntargets > BENCH_TARGETS_MAX) {
        fprintf(stderr, "bench_store: TARGETS must be 1 to %d\n", BENCH_TARGETS_MAX);
        return 2;
    }
    targets = calloc((size_t)ntargets, sizeof(*targets));
    names = calloc((size_t)ntargets, sizeof(*names));
    if (targets == NULL || names == NULL)
        return 1;
    snprintf(dir, sizeof(dir), "%s/bench_store.XXXXXX", base);
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(path, sizeof(path), "%s/bench.db", dir);
    for (int i = 0; i < ntargets; i++) {
        snprintf(names[i], sizeof(names[i]), "target%02d", i);
        targets[i].name = names[i];
        targets[i].kind = KIND_CONNECT;
        targets[i].host = "127.0.0.1";
        targets[i].port = (uint16_t)(20000 + i % 40000);
        targets[i].interval_ms = 1000;
        targets[i].timeout_ms = 500;
    }
    cfg.targets = targets;
    cfg.ntargets = (size_t)ntargets;
    cfg.retention_ms = 30LL * 24 * 3600 * 1000;

    st = store_open(path, &cfg, err, sizeof(err));
    if (st == NULL) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    if (store_sync_targets(st, &cfg) < 0)
        return 1;
    /* commit numbers as in a database in use for weeks (a million commits,
     * one a second when failures come in slowly): failures.batch then
     * takes 3 bytes, as it does for most of a database's life */
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
        sqlite3_exec(db, "INSERT INTO sqlite_sequence (name, seq) VALUES ('commits', 1000000)",
                     NULL, NULL, NULL) != SQLITE_OK) {
        fprintf(stderr, "bench_store: %s\n", sqlite3_errmsg(db));
        return 1;
    }
    sqlite3_close(db);

    /* what a refused connect on loopback looks like */
    memset(&r, 0, sizeof(r));
    r.phase = PHASE_CONNECT;
    r.wsa_code = WSAECONNREFUSED;
    snprintf(r.raw, sizeof(r.raw), "ECONNREFUSED");
    r.raw_value = 111;

    t0 = util_mono_us();
    for (int64_t i = 0; i < max_rows; i++) {
        const struct target *t = &targets[i % ntargets];
        /* pace on the queue: never let it fill, so nothing is dropped and
         * the figure is what the writer sustains */
        if ((i & 255) == 0) {
            for (;;) {
                store_get_stats(st, &ss);
                if (ss.queue_depth + 512 < STORE_QUEUE_MAX)
                    break;
                usleep(200);
            }
            if ((double)(util_mono_us() - t0) / 1e6 >= max_s)
                break;
        }
        r.target = t;
        r.ts_ms = util_now_ms();
        r.latency_us = 60 + i % 200;
        snprintf(r.local, sizeof(r.local), "127.0.0.1:%d", 32768 + (int)(i % 28000));
        snprintf(r.remote, sizeof(r.remote), "127.0.0.1:%d", t->port);
        store_submit(st, &r);
        submitted++;
    }
    store_stop(st); /* flushes: the time includes the last commit */
    t1 = util_mono_us();
    store_get_stats(st, &ss);
    store_close(st);

    printf("{\"figure\":\"store_rows_per_s\",\"value\":%.0f,\"rows\":%" PRIu64
           ",\"seconds\":%.3f,\"dropped\":%" PRIu64 ",\"batches\":%" PRIu64 ",\"targets\":%ld}\n",
           (double)ss.rows_written / ((double)(t1 - t0) / 1e6), ss.rows_written,
           (double)(t1 - t0) / 1e6, ss.dropped, ss.batches, ntargets);

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        int64_t rows = bench_q_int(db, "SELECT count(*) FROM failures");
        /* everything a failure row costs, from the dbstat virtual table:
         * the table, its indexes, and the lookup tables its ids point
         * into (raws, addrs) with their UNIQUE indexes */
        int64_t bytes = bench_q_int(db, "SELECT sum(pgsize) FROM dbstat WHERE name IN (SELECT name "
                                        "FROM sqlite_schema WHERE tbl_name IN ('failures', "
                                        "'raws', 'addrs'))");
        int64_t table = bench_q_int(db, "SELECT sum(pgsize) FROM dbstat WHERE name = 'failures'");
        int64_t lookups = bench_q_int(db, "SELECT sum(pgsize) FROM dbstat WHERE name IN (SELECT "
                                          "name FROM sqlite_schema WHERE tbl_name IN ('raws', "
                                          "'addrs'))");
        int64_t file = bench_q_int(db, "SELECT page_count * page_size FROM pragma_page_count, "
                                       "pragma_page_size");
        if (rows > 0 && bytes > 0)
            printf("{\"figure\":\"bytes_per_failure_row\",\"value\":%.1f,\"rows\":%" PRId64
                   ",\"table\":%.1f,\"indexes\":%.1f,\"lookups\":%.1f}\n",
                   (double)bytes / (double)rows, rows, (double)table / (double)rows,
                   (double)(bytes - table - lookups) / (double)rows,
                   (double)lookups / (double)rows);
        if (rows > 0 && file > 0)
            printf("{\"figure\":\"file_bytes_per_failure_row\",\"value\":%.1f}\n",
                   (double)file / (double)rows);
        {
            /* the position followers read: one row of commits per batch */
            int64_t commits = bench_q_int(db, "SELECT count(*) FROM commits");
            int64_t cbytes = bench_q_int(db, "SELECT sum(pgsize) FROM dbstat WHERE name = "
                                             "'commits'");
            int64_t cpayload = bench_q_int(db, "SELECT sum(payload) FROM dbstat WHERE name = "
                                               "'commits'");
            if (commits > 0 && cbytes > 0)
                printf("{\"figure\":\"commit_row_bytes\",\"value\":%.1f,\"commits\":%" PRId64
                       ",\"payload\":%.1f,\"per_failure_row\":%.3f}\n",
                       (double)cbytes / (double)commits, commits,
                       (double)cpayload / (double)commits, (double)cbytes / (double)rows);
        }
        sqlite3_close(db);
    }
    /* the heartbeat of an idle daemon: a transaction of its own each
     * second, timed by the writer */
    st = store_open(path, &cfg, err, sizeof(err));
    if (st == NULL) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    usleep(5500 * 1000);
    store_stop(st);
    store_get_stats(st, &ss);
    store_close(st);
    if (ss.heartbeats > 0)
        printf("{\"figure\":\"heartbeat_write_us\",\"value\":%.0f,\"heartbeats\":%" PRIu64
               ",\"idle_seconds\":5.5}\n",
               (double)ss.heartbeat_us / (double)ss.heartbeats, ss.heartbeats);
    /* the rollups of steady targets: every 10 s, and every second */
    if (!getenv("BENCH_NO_ROLLUPS") &&
        (bench_rollups(dir, targets, ntargets < 1000 ? ntargets : 1000, 6, 180) != 0 ||
         bench_rollups(dir, targets, ntargets < 200 ? ntargets : 200, 60, 120) != 0))
        return 1;
    (void)submitted;
    free(targets);
    free(names);
    if (getenv("BENCH_KEEP"))
        return 0;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
