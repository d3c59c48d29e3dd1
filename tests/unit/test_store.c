/* SPDX-License-Identifier: ISC */
/* Unit tests for store.c: a real database in a temporary directory, filled
 * through store_submit() and read back with plain sqlite3 calls; files that
 * must be refused (newer, foreign, garbage, corrupt, unwritable) are
 * compared byte for byte before and after. */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "hist.h"
#include "log.h"
#include "ndb.h"
#include "result.h"
#include "store.h"
#include "unit.h"
#include "util.h"
#include "wsa.h"

static char tmpdir[64];
static int dbn;

/* A fresh database path in the temporary directory. */
static const char *db_path(void)
{
    static char path[128];
    snprintf(path, sizeof(path), "%s/db%d.sqlite", tmpdir, ++dbn);
    return path;
}

static struct config *make_config(size_t n, const char *const *names)
{
    struct config *cfg = calloc(1, sizeof(*cfg));
    cfg->retention_ms = 30LL * 24 * 3600 * 1000;
    cfg->targets = calloc(n, sizeof(*cfg->targets));
    cfg->ntargets = n;
    for (size_t i = 0; i < n; i++) {
        struct target *t = &cfg->targets[i];
        t->name = strdup(names[i]);
        t->kind = i % 3 == 1 ? KIND_RESOLVE : i % 3 == 2 ? KIND_SEND : KIND_CONNECT;
        t->interval_ms = 10000;
        t->timeout_ms = 1000;
        t->host = strdup("127.0.0.1");
        t->port = (uint16_t)(8000 + i);
        t->qname = strdup("example.test");
        t->qtype = 1;
        t->server_str = strdup("127.0.0.1:5353");
    }
    return cfg;
}

static void free_config(struct config *cfg)
{
    for (size_t i = 0; i < cfg->ntargets; i++) {
        free(cfg->targets[i].name);
        free(cfg->targets[i].host);
        free(cfg->targets[i].qname);
        free(cfg->targets[i].server_str);
    }
    free(cfg->targets);
    free(cfg);
}

static const char *const three[] = {"web", "dns", "syslog"};

static void make_result(struct result *r, const struct target *t, int64_t ts_ms, bool ok, int code)
{
    memset(r, 0, sizeof(*r));
    r->target = t;
    r->ts_ms = ts_ms;
    r->ok = ok;
    r->phase = ok ? PHASE_NONE : PHASE_CONNECT;
    r->latency_us = 100 + ts_ms % 50;
    r->raw_value = -1;
    if (!ok) {
        r->wsa_code = code;
        snprintf(r->raw, sizeof(r->raw), "%s",
                 code == WSAECONNREFUSED ? "ECONNREFUSED" : "ETIMEDOUT");
        r->raw_value = code == WSAECONNREFUSED ? 111 : 110;
        snprintf(r->local, sizeof(r->local), "127.0.0.1:%d", 40000 + (int)(ts_ms % 20000));
    }
    snprintf(r->remote, sizeof(r->remote), "127.0.0.1:%d", t->port);
}

/* One integer from a read-only connection, as the client would open it. */
static int64_t q_int(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *s;
    int64_t v = -999;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        fprintf(stderr, "open %s: %s\n", path, sqlite3_errmsg(db));
        sqlite3_close(db);
        return v;
    }
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
        fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db));
    } else {
        if (sqlite3_step(s) == SQLITE_ROW)
            v = sqlite3_column_type(s, 0) == SQLITE_NULL ? -1 : sqlite3_column_int64(s, 0);
        sqlite3_finalize(s);
    }
    sqlite3_close(db);
    return v;
}

/* One text value (static buffer). */
static const char *q_text(const char *path, const char *sql)
{
    static char buf[256];
    sqlite3 *db;
    sqlite3_stmt *s;

    snprintf(buf, sizeof(buf), "(error)");
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK) {
        if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0) != NULL)
            snprintf(buf, sizeof(buf), "%s", (const char *)sqlite3_column_text(s, 0));
        sqlite3_finalize(s);
    }
    sqlite3_close(db);
    return buf;
}

static int exec_rw(const char *path, const char *sql)
{
    sqlite3 *db;
    int rc = sqlite3_open(path, &db);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db));
    sqlite3_close(db);
    return rc;
}

struct snapshot {
    unsigned char *bytes;
    size_t len;
    struct timespec mtime;
};

static void snap(const char *path, struct snapshot *s)
{
    struct stat sb;
    FILE *f = fopen(path, "rb");

    memset(s, 0, sizeof(*s));
    if (f == NULL || stat(path, &sb) < 0) {
        if (f)
            fclose(f);
        return;
    }
    s->len = (size_t)sb.st_size;
    s->mtime = sb.st_mtim;
    s->bytes = malloc(s->len + 1);
    if (fread(s->bytes, 1, s->len, f) != s->len)
        s->len = (size_t)-1;
    fclose(f);
}

static bool snap_same(const struct snapshot *a, const struct snapshot *b)
{
    return a->bytes && b->bytes && a->len == b->len && memcmp(a->bytes, b->bytes, a->len) == 0 &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

static void snap_free(struct snapshot *s)
{
    free(s->bytes);
    s->bytes = NULL;
}

static bool file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Opens, syncs and fills a database with n results per session; returns
 * how many of them failed. */
static uint64_t fill(const char *path, struct config *cfg, size_t n, int64_t base_ms)
{
    char err[512];
    struct store *st = store_open(path, cfg, err, sizeof(err));
    struct store_stats ss;
    uint64_t failed = 0;

    UNIT_CHECK(st != NULL);
    if (st == NULL) {
        fprintf(stderr, "store_open: %s\n", err);
        return 0;
    }
    UNIT_EQ_INT(store_sync_targets(st, cfg), 0);
    for (size_t i = 0; i < n; i++) {
        struct result r;
        /* four results a millisecond per target: seq must tell them apart;
         * 10% ok, the rest refused or timed out */
        const struct target *t = &cfg->targets[i % cfg->ntargets];
        bool ok = i % 10 == 0;
        make_result(&r, t, base_ms + (int64_t)(i / (4 * cfg->ntargets)), ok,
                    i % 3 == 0 ? WSAETIMEDOUT : WSAECONNREFUSED);
        store_submit(st, &r);
        failed += !ok;
    }
    store_stop(st);
    store_get_stats(st, &ss);
    UNIT_EQ_INT(ss.results_seen, n);
    UNIT_EQ_INT(ss.dropped, 0);
    UNIT_EQ_INT(ss.rows_written, failed);
    UNIT_EQ_INT(ss.queue_depth, 0);
    UNIT_CHECK(ss.batches >= 1);
    UNIT_CHECK(ss.writable);
    store_close(st);
    return failed;
}

/* A file of the source tree, NUL-terminated in s->bytes (the tests run
 * from the top of the tree or from a build directory below it). */
static bool load_source(const char *rel, struct snapshot *s)
{
    char path[256];

    memset(s, 0, sizeof(*s));
    for (int up = 0; up < 3 && s->bytes == NULL; up++) {
        snprintf(path, sizeof(path), "%.*s%s", 3 * up, "../../../", rel);
        snap(path, s);
    }
    if (s->bytes == NULL || s->len == (size_t)-1) {
        fprintf(stderr, "cannot read %s\n", rel);
        snap_free(s);
        return false;
    }
    s->bytes[s->len] = '\0';
    return true;
}

/* sql/NNN_*.sql of migration v, like load_source(); its name into name. */
static bool load_migration(int v, struct snapshot *s, char *name, size_t namelen)
{
    char pat[96];
    glob_t g;
    bool ok = false;

    memset(s, 0, sizeof(*s));
    for (int up = 0; up < 3 && !ok; up++) {
        snprintf(pat, sizeof(pat), "%.*ssql/%03d_*.sql", 3 * up, "../../../", v);
        if (glob(pat, 0, NULL, &g) == 0 && g.gl_pathc == 1) {
            snprintf(name, namelen, "%s", g.gl_pathv[0] + 3 * up);
            ok = load_source(name, s);
        }
        globfree(&g);
    }
    return ok;
}

/* A new, empty database, as netdiagd creates it. */
static void create_db(const char *path, struct config *cfg)
{
    char err[512];
    struct store *st = store_open(path, cfg, err, sizeof(err));

    if (st == NULL)
        fprintf(stderr, "store_open: %s\n", err);
    UNIT_CHECK(st != NULL);
    store_close(st);
}

static void test_schema_matches_file(void)
{
    struct snapshot s = {0};
    char name[96];

    UNIT_CHECK(load_source("sql/schema.sql", &s));
    if (s.bytes != NULL && strcmp((const char *)s.bytes, store_schema_sql) != 0) {
        fprintf(stderr, "daemon/store_schema.c differs from sql/schema.sql; regenerate it "
                        "(sql/README.md)\n");
        UNIT_CHECK(!"schema copy is current");
    }
    snap_free(&s);
    /* every version has its migration, compiled in as its file says */
    UNIT_CHECK(store_migration_sql[0] == NULL && store_migration_sql[1] == NULL);
    for (int v = 2; v <= STORE_SCHEMA_VERSION; v++) {
        UNIT_CHECK(load_migration(v, &s, name, sizeof(name)));
        UNIT_CHECK(store_migration_sql[v] != NULL);
        if (s.bytes != NULL && store_migration_sql[v] != NULL &&
            strcmp((const char *)s.bytes, store_migration_sql[v]) != 0) {
            fprintf(stderr,
                    "daemon/store_schema.c differs from %s; regenerate it "
                    "(sql/README.md)\n",
                    name);
            UNIT_CHECK(!"migration copy is current");
        }
        snap_free(&s);
    }
}

static void test_roundtrip(void)
{
    const char *path = db_path();
    struct config *cfg = make_config(3, three);
    /* recent (retention would prune older rows), on a minute boundary */
    int64_t base = util_now_ms() / 60000 * 60000 - 3600 * 1000;
    uint64_t failed;
    char sql[256], side[160], iso[32];
    struct stat sb;
    time_t secs = (time_t)(base / 1000);
    struct tm tm;

    failed = fill(path, cfg, 10000, base);
    UNIT_EQ_INT(failed, 9000);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM failures"), failed);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM failures_v WHERE target IS NOT NULL AND "
                            "wsa_name IS NOT NULL AND meaning IS NOT NULL AND phase = 'connect'"),
                failed);
    UNIT_EQ_INT(q_int(path, "SELECT sum(attempts) FROM rollup_minute"), 10000);
    UNIT_EQ_INT(q_int(path, "SELECT sum(successes) FROM rollup_minute"), 1000);
    UNIT_EQ_INT(q_int(path, "SELECT sum(failures) FROM rollup_minute"), failed);
    UNIT_EQ_INT(q_int(path, "SELECT sum(latency_count) FROM rollup_minute"), 1000);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM rollup_minute WHERE latency_min_us > "
                            "latency_max_us OR latency_min_us < 100 OR latency_max_us > 149"),
                0);
    UNIT_EQ_INT(q_int(path, "SELECT sum(attempts) FROM rollup_hour"), 10000);
    UNIT_EQ_INT(q_int(path, "SELECT sum(failures) FROM rollup_hour"), failed);
    UNIT_EQ_INT(q_int(path, "SELECT sum(count) FROM rollup_minute_code"), failed);
    UNIT_EQ_INT(q_int(path, "SELECT sum(count) FROM rollup_hour_code"), failed);
    /* i % 3 == 0 are timeouts, i % 10 == 0 are ok: 3334 - 334 timeouts */
    UNIT_EQ_INT(q_int(path, "SELECT sum(count) FROM rollup_minute_code WHERE wsa_code = 10060"),
                3000);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM failures WHERE wsa_code = 10060"), 3000);
    /* the per-minute rows line up with the failures table */
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM rollup_minute r WHERE failures != (SELECT "
                            "count(*) FROM failures f WHERE f.target_id = r.target_id AND f.ts "
                            ">= r.minute AND f.ts < r.minute + 60000)"),
                0);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM rollup_minute WHERE minute % 60000 != 0"), 0);
    UNIT_EQ_INT(q_int(path, "SELECT max(seq) FROM failures"), 3);
    UNIT_EQ_INT(q_int(path, "SELECT min(ts) FROM failures"), base);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM wsa_codes"), 53);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM wsa_codes WHERE os_dependent"), 10);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM wsa_codes WHERE code = 10061 AND name = "
                            "'WSAECONNREFUSED' AND meaning = 'Connection refused.'"),
                1);
    UNIT_EQ_INT(q_int(path, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    UNIT_EQ_INT(q_int(path, "PRAGMA application_id"), NDB_APPLICATION_ID);
    UNIT_EQ_INT(q_int(path, "PRAGMA auto_vacuum"), 2); /* incremental */
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM targets WHERE retired IS NULL"), 3);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM targets WHERE name = 'dns' AND kind = 'resolve' "
                            "AND qname = 'example.test' AND qtype = 'A' AND host IS NULL"),
                1);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM failures_v WHERE raw = 'ECONNREFUSED' AND "
                            "raw_value = 111 AND local LIKE '127.0.0.1:4%' AND detail IS NULL AND "
                            "remote IN ('127.0.0.1:8000', '127.0.0.1:8001', '127.0.0.1:8002')"),
                6000);
    /* each repeated string once: two raw names, one address */
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM raws"), 2);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM addrs"), 1);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM failures WHERE local_port IS NULL OR "
                            "remote_port IS NULL OR local_addr_id != remote_addr_id"),
                0);
    /* the phases table spells the numbers the writer stores */
    for (int p = PHASE_NONE; p <= PHASE_VERIFY; p++) {
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM phases WHERE phase = %d AND name = '%s'",
                 p, result_phase_name((enum probe_phase)p));
        UNIT_EQ_INT(q_int(path, sql), 1);
    }
    /* the view's ISO time */
    gmtime_r(&secs, &tm);
    strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%S.000Z", &tm);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM failures_v WHERE ts = %" PRId64 " AND time = '%s'", base, iso);
    UNIT_EQ_INT(q_int(path, sql), 10);

    /* 0640 under umask 022, the WAL kept for read-only readers */
    UNIT_CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0640);
    snprintf(side, sizeof(side), "%s-wal", path);
    UNIT_CHECK(stat(side, &sb) == 0 && (sb.st_mode & 0777) == 0640);
    snprintf(side, sizeof(side), "%s-shm", path);
    UNIT_CHECK(file_exists(side));

    /* a second session at the same instants: the seq guesses collide with
     * the stored rows and must find free ones */
    failed += fill(path, cfg, 1200, base);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM failures"), failed);
    UNIT_EQ_INT(q_int(path, "SELECT sum(attempts) FROM rollup_minute"), 11200);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM wsa_codes"), 53);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM targets"), 3);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM addrs"), 1);
    UNIT_EQ_STR(q_text(path, "PRAGMA integrity_check"), "ok");
    free_config(cfg);
}

static void test_targets_retire(void)
{
    const char *path = db_path();
    const char *const two[] = {"web", "new"};
    struct config *a = make_config(3, three), *b = make_config(2, two);
    char err[512];
    struct store *st = store_open(path, a, err, sizeof(err));
    int64_t web_id, syslog_id;

    UNIT_CHECK(st != NULL);
    if (st == NULL) {
        free_config(a);
        free_config(b);
        return;
    }
    UNIT_EQ_INT(store_sync_targets(st, a), 0);
    web_id = a->targets[0].db_id;
    syslog_id = a->targets[2].db_id;
    UNIT_CHECK(web_id > 0 && syslog_id > 0 && web_id != syslog_id);
    /* reload: syslog and dns removed, new added, web kept */
    b->targets[0].port = 9999;
    UNIT_EQ_INT(store_sync_targets(st, b), 0);
    UNIT_EQ_INT(b->targets[0].db_id, web_id);
    UNIT_CHECK(b->targets[1].db_id > syslog_id);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM targets WHERE retired IS NOT NULL"), 2);
    UNIT_EQ_INT(q_int(path, "SELECT port FROM targets WHERE name = 'web'"), 9999);
    /* and back: the same rows come back active */
    UNIT_EQ_INT(store_sync_targets(st, a), 0);
    UNIT_EQ_INT(a->targets[2].db_id, syslog_id);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM targets WHERE retired IS NULL"), 3);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM targets"), 4);
    store_close(st);
    free_config(a);
    free_config(b);
}

/* store_open must fail with one line naming the file, leaving it as it was. */
static void expect_refused(const char *path, const char *what)
{
    struct config *cfg = make_config(1, three);
    struct snapshot before, after;
    char err[512] = "", side[160];
    bool had_wal;
    struct store *st;

    snprintf(side, sizeof(side), "%s-wal", path);
    had_wal = file_exists(side);
    snap(path, &before);
    st = store_open(path, cfg, err, sizeof(err));
    UNIT_CHECK(st == NULL);
    if (st != NULL)
        store_close(st);
    snap(path, &after);
    UNIT_CHECK(snap_same(&before, &after));
    UNIT_CHECK(strstr(err, path) != NULL);
    UNIT_CHECK(strstr(err, what) != NULL);
    UNIT_CHECK(strchr(err, '\n') == NULL);
    if (!had_wal)
        UNIT_CHECK(!file_exists(side));
    if (strstr(err, what) == NULL || getenv("TEST_VERBOSE"))
        fprintf(stderr, "message: %s\n", err);
    snap_free(&before);
    snap_free(&after);
    free_config(cfg);
}

static void test_newer_version_refused(void)
{
    const char *p = db_path();
    char path[128];
    struct config *cfg = make_config(3, three);

    snprintf(path, sizeof(path), "%s", p);
    fill(path, cfg, 100, util_now_ms());
    UNIT_EQ_INT(exec_rw(path, "PRAGMA user_version = 99"), SQLITE_OK);
    /* fold the WAL in so the bytes compared are the whole database */
    UNIT_EQ_INT(exec_rw(path, "PRAGMA wal_checkpoint(TRUNCATE)"), SQLITE_OK);
    expect_refused(path, "newer");
    UNIT_EQ_INT(q_int(path, "PRAGMA user_version"), 99);
    free_config(cfg);
}

static void test_foreign_refused(void)
{
    char path[128];

    snprintf(path, sizeof(path), "%s", db_path());
    UNIT_EQ_INT(exec_rw(path, "CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT); "
                              "INSERT INTO accounts (owner) VALUES ('alice')"),
                SQLITE_OK);
    expect_refused(path, "not a netdiag database");

    /* the same in WAL mode, with frames not yet checkpointed: closing our
     * connection must not fold them into the file */
    snprintf(path, sizeof(path), "%s", db_path());
    {
        sqlite3 *db;
        UNIT_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
        sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
        UNIT_EQ_INT(sqlite3_exec(db,
                                 "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; "
                                 "CREATE TABLE t (x); INSERT INTO t VALUES (1)",
                                 NULL, NULL, NULL),
                    SQLITE_OK);
        sqlite3_close(db);
    }
    expect_refused(path, "not a netdiag database");
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM t"), 1);
}

static void test_garbage_refused(void)
{
    char path[128];
    FILE *f;

    snprintf(path, sizeof(path), "%s", db_path());
    f = fopen(path, "wb");
    for (int i = 0; i < 8192; i++)
        fputc((i * 7919 + 13) & 0xff, f);
    fclose(f);
    expect_refused(path, "not an SQLite database");

    /* an SQLite header followed by garbage pages */
    snprintf(path, sizeof(path), "%s", db_path());
    f = fopen(path, "wb");
    fwrite("SQLite format 3", 1, 16, f);
    for (int i = 16; i < 16384; i++)
        fputc((i * 31 + 7) & 0xff, f);
    fclose(f);
    expect_refused(path, "not an SQLite database");
}

static void test_corrupt_refused(void)
{
    char path[128];
    struct config *cfg = make_config(3, three);
    int64_t pages;
    FILE *f;

    snprintf(path, sizeof(path), "%s", db_path());
    fill(path, cfg, 15000, util_now_ms());
    UNIT_EQ_INT(exec_rw(path, "PRAGMA wal_checkpoint(TRUNCATE)"), SQLITE_OK);
    pages = q_int(path, "PRAGMA page_count");
    UNIT_CHECK(pages > 20);
    /* scribble over a b-tree page in the middle of the file */
    f = fopen(path, "r+b");
    fseek(f, (long)(pages / 2) * 4096, SEEK_SET);
    for (int i = 0; i < 4096; i++)
        fputc((i * 131 + 3) & 0xff, f);
    fclose(f);
    expect_refused(path, "corrupt");
    free_config(cfg);
}

/* A failure inside the open transaction rolls all of it back. */
static void test_failed_migration_rolls_back(void)
{
    char path[128];
    struct config *cfg = make_config(3, three);

    snprintf(path, sizeof(path), "%s", db_path());
    fill(path, cfg, 100, util_now_ms());
    /* wsa_codes is missing: the stamp happens inside the transaction,
     * then the refresh fails and all of it must be rolled back */
    UNIT_EQ_INT(exec_rw(path, "DROP TABLE wsa_codes; PRAGMA wal_checkpoint(TRUNCATE)"), SQLITE_OK);
    expect_refused(path, "wsa_codes");
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM sqlite_schema WHERE name = 'wsa_codes'"), 0);
    UNIT_EQ_INT(q_int(path, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM failures"), 90);
    free_config(cfg);
}

/* Every row of a query as text, with each value's type: the content
 * compared before and after a migration (malloc'd; NULL on error). */
static char *dump(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *s;
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    int rc = SQLITE_ERROR;

    if (out == NULL)
        return NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK) {
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            for (int i = 0; i < sqlite3_column_count(s); i++) {
                int type = sqlite3_column_type(s, i); /* before the text conversion */
                const unsigned char *v = sqlite3_column_text(s, i);
                fprintf(out, "%s%d:%s", i ? "|" : "", type, v ? (const char *)v : "");
            }
            fputc('\n', out);
        }
        sqlite3_finalize(s);
    }
    if (rc != SQLITE_DONE)
        fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db));
    sqlite3_close(db);
    fclose(out);
    if (rc != SQLITE_DONE) {
        free(buf);
        return NULL;
    }
    return buf;
}

static bool same_dump(const char *a, const char *b)
{
    bool same = a != NULL && b != NULL && strcmp(a, b) == 0;

    if (!same)
        fprintf(stderr, "--- before\n%s--- after\n%s", a ? a : "(error)\n", b ? b : "(error)\n");
    return same;
}

/* Addresses as a probe may give them, and strings that only look like
 * them: each must come back from failures_v exactly, whether the writer
 * stored it or the migration from version 1 converted it. */
static const char *const addr_texts[] = {
    "127.0.0.1:40312",
    "[::1]:53",
    "[fe80::1]:1",
    "[2001:db8::10]:65535",
    "[::ffff:127.0.0.1]:8080",
    "127.0.0.1:0",
    "host.example:443",
    "h\xc3\xb4te:80",   /* UTF-8 */
    "127.0.0.1:00053",  /* a leading zero: kept whole */
    "127.0.0.1:65536",  /* not a port */
    "127.0.0.4:123456", /* six digits */
    "localhost",        /* no port */
    "::1",              /* a bare IPv6 address */
    "::1:53",           /* ambiguous without brackets */
    ":53",              /* no host */
    "[abc]:80",         /* brackets without ':' inside */
    "[]:80",            /* empty brackets */
    "[::1]",            /* brackets, no port */
    "[::1]:",           /* a ':' and no digits */
    "x:",               /* the same */
    "a:b:c",            /* ':' in the host */
    "[a]b:c]:9",        /* odd, but joins back */
    "abcdefghijklmnopqrstuvwxyz.abcdefghijklmnopqrstuvwxyz.abcd:1234", /* 63 bytes */
};
static const char *const raw_texts[] = {"ECONNREFUSED", "EAI_NONAME", "SERVFAIL",
                                        "MISMATCH",     "DNS",        "E2345678901234567890123"};

/* The writer splits and interns every form of address and gives it back
 * unchanged through failures_v, from a cold cache (SELECT) too. */
static void test_addresses_roundtrip(void)
{
    const char *path = db_path();
    struct config *cfg = make_config(2, three);
    const size_t n = ND_ARRAY_LEN(addr_texts);
    int64_t base = util_now_ms() - 60000, addrs = 0;
    char sql[256];

    UNIT_EQ_INT(strlen(addr_texts[n - 1]), 63);
    for (int session = 0; session < 2; session++) {
        char err[512];
        struct store *st = store_open(path, cfg, err, sizeof(err));
        UNIT_CHECK(st != NULL);
        if (st == NULL)
            break;
        UNIT_EQ_INT(store_sync_targets(st, cfg), 0);
        for (size_t i = 0; i < n; i++) {
            struct result r;
            make_result(&r, &cfg->targets[session], base + (int64_t)i, false, WSAECONNREFUSED);
            util_strlcpy(r.local, addr_texts[i], sizeof(r.local));
            util_strlcpy(r.remote, addr_texts[n - 1 - i], sizeof(r.remote));
            util_strlcpy(r.raw, raw_texts[i % ND_ARRAY_LEN(raw_texts)], sizeof(r.raw));
            r.latency_us = (int64_t)i;
            store_submit(st, &r);
        }
        /* and one without any: NULL, as for empty text always */
        {
            struct result r;
            make_result(&r, &cfg->targets[session], base + (int64_t)n, false, WSAECONNREFUSED);
            r.local[0] = r.remote[0] = r.raw[0] = '\0';
            r.latency_us = (int64_t)n;
            store_submit(st, &r);
        }
        store_close(st);
        for (size_t i = 0; i < n; i++) {
            snprintf(sql, sizeof(sql),
                     "SELECT local FROM failures_v WHERE target_id = %" PRId64
                     " AND latency_us = %zu",
                     cfg->targets[session].db_id, i);
            UNIT_EQ_STR(q_text(path, sql), addr_texts[i]);
            snprintf(sql, sizeof(sql),
                     "SELECT remote FROM failures_v WHERE target_id = %" PRId64
                     " AND latency_us = %zu",
                     cfg->targets[session].db_id, i);
            UNIT_EQ_STR(q_text(path, sql), addr_texts[n - 1 - i]);
            snprintf(sql, sizeof(sql),
                     "SELECT raw FROM failures_v WHERE target_id = %" PRId64
                     " AND latency_us = %zu",
                     cfg->targets[session].db_id, i);
            UNIT_EQ_STR(q_text(path, sql), raw_texts[i % ND_ARRAY_LEN(raw_texts)]);
        }
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM failures_v WHERE latency_us = %zu AND local IS NULL AND "
                 "remote IS NULL AND raw IS NULL",
                 n);
        UNIT_EQ_INT(q_int(path, sql), session + 1);
        /* the second session found every string already there */
        if (session == 0)
            addrs = q_int(path, "SELECT count(*) FROM addrs");
        UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM addrs"), addrs);
        UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM raws"), ND_ARRAY_LEN(raw_texts));
    }
    /* IPv4 and IPv6 addresses are stored without port and brackets */
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM addrs WHERE addr IN ('127.0.0.1', '::1', "
                            "'fe80::1', '2001:db8::10', '::ffff:127.0.0.1', 'host.example')"),
                6);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM failures_v WHERE local = '127.0.0.1:40312' AND "
                            "(SELECT local_port FROM failures AS f WHERE f.ts = failures_v.ts AND "
                            "f.target_id = failures_v.target_id) = 40312"),
                2);
    UNIT_EQ_STR(q_text(path, "PRAGMA integrity_check"), "ok");
    free_config(cfg);
}

/* A batch that rolls back takes the lookup rows it added with it: the
 * writer must not keep their ids (a row would point at nothing). */
static void test_intern_survives_rollback(void)
{
    char path[128], err[512];
    struct config *cfg = make_config(1, three);
    struct store_stats ss;
    struct store *st;
    int64_t base = util_now_ms() - 60000;

    snprintf(path, sizeof(path), "%s", db_path());
    create_db(path, cfg);
    /* every failure insert fails while `boom` has a row */
    UNIT_EQ_INT(exec_rw(path, "CREATE TABLE boom (x); INSERT INTO boom VALUES (1); "
                              "CREATE TRIGGER boom BEFORE INSERT ON failures WHEN "
                              "(SELECT count(*) FROM boom) > 0 BEGIN SELECT RAISE(ABORT, 'boom'); "
                              "END"),
                SQLITE_OK);
    st = store_open(path, cfg, err, sizeof(err));
    UNIT_CHECK(st != NULL);
    if (st == NULL) {
        free_config(cfg);
        return;
    }
    UNIT_EQ_INT(store_sync_targets(st, cfg), 0);
    for (int i = 0; i < 10; i++) {
        struct result r;
        make_result(&r, &cfg->targets[0], base + i, false, WSAECONNREFUSED);
        snprintf(r.remote, sizeof(r.remote), "[2001:db8::%d]:53", i % 2);
        store_submit(st, &r);
    }
    for (int i = 0; i < 50; i++) {
        store_get_stats(st, &ss);
        if (!ss.writable)
            break;
        usleep(100 * 1000);
    }
    UNIT_CHECK(!ss.writable);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM addrs"), 0);
    UNIT_EQ_INT(exec_rw(path, "DELETE FROM boom"), SQLITE_OK);
    store_close(st); /* retries at once, and flushes */
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM failures"), 10);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM failures AS f WHERE NOT EXISTS (SELECT 1 FROM "
                            "addrs AS a WHERE a.id = f.remote_addr_id) OR NOT EXISTS (SELECT 1 "
                            "FROM addrs AS a WHERE a.id = f.local_addr_id) OR NOT EXISTS "
                            "(SELECT 1 FROM raws AS r WHERE r.id = f.raw_id)"),
                0);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM failures_v WHERE remote IN ('[2001:db8::0]:53', "
                            "'[2001:db8::1]:53') AND raw = 'ECONNREFUSED' AND local LIKE "
                            "'127.0.0.1:%'"),
                10);
    free_config(cfg);
}

/* A database of schema version 1 (tests/unit/schema_v1.sql, as netdiagd
 * 0.1.0 made it) with its wsa_codes as the daemon fills them, two targets,
 * a failure per addr_texts entry (as local, and backwards as remote),
 * rows with NULLs, empty text and a second seq, a rollup and an alert;
 * false on error. */
static bool make_v1(const char *path, int64_t base)
{
    struct snapshot schema;
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    const size_t n = ND_ARRAY_LEN(addr_texts);
    char sql[512];
    bool ok = false;

    if (!load_source("tests/unit/schema_v1.sql", &schema))
        return false;
    if (sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_exec(db, "PRAGMA auto_vacuum = INCREMENTAL; PRAGMA journal_mode = WAL; BEGIN", NULL,
                     NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(db, (const char *)schema.bytes, NULL, NULL, NULL) != SQLITE_OK)
        goto out;
    snprintf(sql, sizeof(sql), "PRAGMA application_id = %d; PRAGMA user_version = 1",
             NDB_APPLICATION_ID);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO wsa_codes VALUES (?1, ?2, ?3, ?4, ?5)", -1, &s, NULL) !=
            SQLITE_OK)
        goto out;
    for (size_t i = 0; i < wsa_table_len; i++) {
        const struct wsa_code *c = &wsa_table[i];
        sqlite3_bind_int(s, 1, c->code);
        sqlite3_bind_text(s, 2, c->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 3, c->meaning, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 4, c->explanation ? c->explanation : "", -1, SQLITE_STATIC);
        sqlite3_bind_int(s, 5, c->os_dependent ? 1 : 0);
        if (sqlite3_step(s) != SQLITE_DONE)
            goto out;
        sqlite3_reset(s);
    }
    sqlite3_finalize(s);
    s = NULL;
    snprintf(sql, sizeof(sql),
             "INSERT INTO targets (id, name, kind, host, port, family, interval_ms, timeout_ms, "
             "created, updated) VALUES (1, 'web', 'connect', '127.0.0.1', 8000, 'any', 10000, "
             "1000, %" PRId64 ", %" PRId64 ")",
             base, base);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(db,
                     "INSERT INTO targets (id, name, kind, qname, qtype, server, family, "
                     "interval_ms, timeout_ms, created, updated, retired) VALUES (2, 'dns', "
                     "'resolve', 'example.test', 'A', '127.0.0.1:5353', 'any', 10000, 1000, 1, "
                     "2, 3)",
                     NULL, NULL, NULL) != SQLITE_OK)
        goto out;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO failures (ts, target_id, seq, phase, wsa_code, raw, "
                           "raw_value, detail, latency_us, local, remote) VALUES (?1, ?2, ?3, "
                           "?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                           -1, &s, NULL) != SQLITE_OK)
        goto out;
    for (size_t i = 0; i < n + 4; i++) {
        sqlite3_bind_int64(s, 1, base + (int64_t)(i < n + 3 ? i : n + 2));
        sqlite3_bind_int(s, 2, i % 3 == 2 ? 2 : 1);
        sqlite3_bind_int(s, 3, i < n + 3 ? 0 : 1);
        sqlite3_bind_int(s, 4, (int)(i % 6));
        sqlite3_bind_int(s, 5, i % 2 ? WSAECONNREFUSED : WSAHOST_NOT_FOUND);
        if (i < n) {
            sqlite3_bind_text(s, 6, raw_texts[i % ND_ARRAY_LEN(raw_texts)], -1, SQLITE_STATIC);
            sqlite3_bind_int(s, 7, (int)i - 3);
            if (i % 4)
                sqlite3_bind_text(s, 8, "no answer within 3000 ms (connect)", -1, SQLITE_STATIC);
            else
                sqlite3_bind_null(s, 8);
            sqlite3_bind_int64(s, 9, (int64_t)i * 1000);
            sqlite3_bind_text(s, 10, addr_texts[i], -1, SQLITE_STATIC);
            sqlite3_bind_text(s, 11, addr_texts[n - 1 - i], -1, SQLITE_STATIC);
        } else if (i == n) { /* all NULL */
            for (int k = 6; k <= 11; k++)
                sqlite3_bind_null(s, k);
        } else if (i == n + 1) { /* empty text: stays empty, not NULL */
            sqlite3_bind_text(s, 6, "", -1, SQLITE_STATIC);
            sqlite3_bind_int(s, 7, 0);
            sqlite3_bind_text(s, 8, "", -1, SQLITE_STATIC);
            sqlite3_bind_int(s, 9, 0);
            sqlite3_bind_text(s, 10, "", -1, SQLITE_STATIC);
            sqlite3_bind_text(s, 11, "", -1, SQLITE_STATIC);
        } else { /* two failures of one target in one millisecond */
            sqlite3_bind_text(s, 6, "ECONNREFUSED", -1, SQLITE_STATIC);
            sqlite3_bind_int(s, 7, 111);
            sqlite3_bind_null(s, 8);
            sqlite3_bind_int64(s, 9, 85 + (int64_t)i);
            sqlite3_bind_text(s, 10, i == n + 2 ? "127.0.0.1:40312" : "127.0.0.1:40313", -1,
                              SQLITE_STATIC);
            sqlite3_bind_text(s, 11, "127.0.0.1:8000", -1, SQLITE_STATIC);
        }
        if (sqlite3_step(s) != SQLITE_DONE)
            goto out;
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
    }
    sqlite3_finalize(s);
    s = NULL;
    snprintf(sql, sizeof(sql),
             "INSERT INTO rollup_minute VALUES (%" PRId64 ", 1, 10, 2, 8, 2, 300, 100, 200); "
             "INSERT INTO rollup_hour_code VALUES (%" PRId64 ", 1, 10061, 8); "
             "INSERT INTO alerts (target_id, wsa_code, started, count, baseline, detail) "
             "VALUES (1, 10061, %" PRId64 ", 8, 0.5, 'x')",
             base / 60000 * 60000, base / 3600000 * 3600000, base);
    ok = sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK &&
         sqlite3_exec(db, "COMMIT; PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL) == SQLITE_OK;
out:
    if (!ok)
        fprintf(stderr, "make_v1: %s\n", sqlite3_errmsg(db));
    sqlite3_finalize(s);
    sqlite3_close(db);
    snap_free(&schema);
    return ok;
}

/* the columns of version 1's failures_v (version 9 adds the ICMP origin,
 * NULL for every row stored before: checked apart) */
#define DUMP_FAILURES                                                                              \
    "SELECT ts, time, target_id, target, kind, phase, wsa_code, wsa_name, meaning, raw, "          \
    "raw_value, detail, latency_us, local, remote FROM failures_v ORDER BY ts, target_id, "        \
    "latency_us"
/* The tables the migration must leave alone (rollup_minute by the
 * columns of version 1: version 5 adds its own). */
#define DUMP_OTHERS                                                                                \
    "SELECT 't', * FROM targets UNION ALL SELECT 'c', code, name, meaning, explanation, "          \
    "os_dependent, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 FROM wsa_codes UNION ALL SELECT 'm', minute, "     \
    "target_id, attempts, successes, failures, latency_count, latency_sum_us, latency_min_us, "    \
    "latency_max_us, 0, 0, 0, 0, 0, 0 FROM rollup_minute UNION ALL SELECT 'h', *, 0, 0, 0, 0, 0, " \
    "0, 0, 0, 0, 0, 0 FROM rollup_hour_code UNION ALL SELECT 'a', id, target_id, wsa_code, "       \
    "started, resolved, count, peak, baseline, attempts, last_notified, detail, 0, 0, 0, 0 FROM "  \
    "alerts ORDER BY 1, 2"
#define DUMP_SCHEMA                                                                                \
    "SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' "          \
    "ORDER BY name"

/* netdiagd opens a version 1 database: it is migrated in place, every
 * failure reads back the same through failures_v, nothing else changes,
 * the schema is the one a new database gets, and writing goes on. */
static void test_migrate_v1(void)
{
    char path[128], err[512], fresh[128];
    struct config *cfg = make_config(1, three); /* "web", id 1 in the v1 rows */
    const size_t n = ND_ARRAY_LEN(addr_texts);
    int64_t base = util_now_ms() / 1000 * 1000 - 3600 * 1000, addrs;
    char *before, *after, *others, *others_after, *schema, *schema_fresh;
    struct store *st;

    snprintf(path, sizeof(path), "%s", db_path());
    snprintf(fresh, sizeof(fresh), "%s", db_path());
    UNIT_CHECK(make_v1(path, base));
    UNIT_EQ_INT(q_int(path, "PRAGMA user_version"), 1);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM failures"), n + 4);
    before = dump(path, DUMP_FAILURES);
    others = dump(path, DUMP_OTHERS);

    st = store_open(path, cfg, err, sizeof(err));
    if (st == NULL)
        fprintf(stderr, "store_open: %s\n", err);
    UNIT_CHECK(st != NULL);
    if (st != NULL)
        store_close(st);
    UNIT_EQ_INT(q_int(path, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM failures"), n + 4);
    after = dump(path, DUMP_FAILURES);
    others_after = dump(path, DUMP_OTHERS);
    UNIT_CHECK(same_dump(before, after));
    UNIT_CHECK(same_dump(others, others_after));
    /* who sent an ICMP error is unknown for every row stored before */
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM failures_v WHERE icmp_from IS NOT NULL OR "
                            "icmp_type IS NOT NULL OR icmp_code IS NOT NULL"),
                0);
    /* IPv4 and IPv6 without brackets and port, the rest whole */
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM failures AS f JOIN addrs AS a ON "
                            "a.id = f.local_addr_id WHERE a.addr = '::1' AND f.local_port = 53"),
                1);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM failures AS f JOIN addrs AS a ON "
                            "a.id = f.local_addr_id WHERE a.addr = '127.0.0.1:00053' AND "
                            "f.local_port IS NULL"),
                1);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM raws"), ND_ARRAY_LEN(raw_texts) + 1);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM sqlite_temp_schema"), 0);
    UNIT_EQ_STR(q_text(path, "PRAGMA integrity_check"), "ok");

    /* the same schema as a new database, to the byte */
    create_db(fresh, cfg);
    schema = dump(path, DUMP_SCHEMA);
    schema_fresh = dump(fresh, DUMP_SCHEMA);
    UNIT_CHECK(same_dump(schema_fresh, schema));

    /* the writer splits as the migration did: the same texts written anew
     * add no address */
    addrs = q_int(path, "SELECT count(*) FROM addrs");
    st = store_open(path, cfg, err, sizeof(err));
    UNIT_CHECK(st != NULL);
    if (st != NULL) {
        UNIT_EQ_INT(store_sync_targets(st, cfg), 0);
        for (size_t i = 0; i < n; i++) {
            struct result r;
            make_result(&r, &cfg->targets[0], base + 100000 + (int64_t)i, false, WSAECONNREFUSED);
            util_strlcpy(r.local, addr_texts[i], sizeof(r.local));
            util_strlcpy(r.remote, addr_texts[n - 1 - i], sizeof(r.remote));
            store_submit(st, &r);
        }
        store_close(st);
    }
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM failures"), 2 * n + 4);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM addrs"), addrs);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM failures_v AS a JOIN failures_v AS b ON "
                            "b.ts = a.ts + 100000 WHERE a.local IS b.local AND "
                            "a.remote IS b.remote"),
                n);
    free(before);
    free(after);
    free(others);
    free(others_after);
    free(schema);
    free(schema_fresh);
    free_config(cfg);
}

/* A migration that fails half-way leaves the version 1 database as it
 * was: here a table of the user's named like a new one. */
static void test_migrate_v1_fails_whole(void)
{
    char path[128];
    char *before, *after;

    snprintf(path, sizeof(path), "%s", db_path());
    UNIT_CHECK(make_v1(path, util_now_ms() - 3600 * 1000));
    UNIT_EQ_INT(exec_rw(path, "CREATE TABLE addrs (mine TEXT); INSERT INTO addrs VALUES ('x'); "
                              "PRAGMA wal_checkpoint(TRUNCATE)"),
                SQLITE_OK);
    before = dump(path, DUMP_FAILURES);
    expect_refused(path, "migration from version 1 to 2 failed");
    after = dump(path, DUMP_FAILURES);
    UNIT_CHECK(same_dump(before, after));
    UNIT_EQ_INT(q_int(path, "PRAGMA user_version"), 1);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM sqlite_schema WHERE name = 'raws'"), 0);
    free(before);
    free(after);
}

/* A database of schema version 2 (tests/unit/schema_v2.sql) with a
 * target, failures, rollups and an alert; false on error. */
static bool make_v2(const char *path, int64_t base)
{
    struct snapshot schema;
    sqlite3 *db = NULL;
    char sql[1024];
    bool ok = false;

    if (!load_source("tests/unit/schema_v2.sql", &schema))
        return false;
    snprintf(sql, sizeof(sql),
             "PRAGMA application_id = %d; PRAGMA user_version = 2; "
             "INSERT INTO wsa_codes VALUES (10061, 'WSAECONNREFUSED', 'Connection refused.', '', "
             "0); INSERT INTO targets (id, name, kind, host, port, family, interval_ms, "
             "timeout_ms, created, updated) VALUES (1, 'web', 'connect', '127.0.0.1', 8000, "
             "'any', 10000, 1000, %" PRId64 ", %" PRId64 "); "
             "INSERT INTO raws VALUES (1, 'ECONNREFUSED'); INSERT INTO addrs VALUES (1, "
             "'127.0.0.1'); INSERT INTO failures VALUES (%" PRId64 ", 1, 0, 2, 10061, 1, 111, "
             "NULL, 85, 1, 40312, 1, 8000), (%" PRId64 ", 1, 0, 2, 10061, 1, 111, 'x', 90, 1, "
             "40313, 1, 8000); INSERT INTO rollup_minute VALUES (%" PRId64
             ", 1, 3, 1, 2, 1, 70, 70, 70); INSERT INTO rollup_minute_code VALUES (%" PRId64
             ", 1, 10061, 2); INSERT INTO alerts (target_id, wsa_code, started, count, baseline, "
             "detail) VALUES (1, 10061, %" PRId64 ", 2, 0.5, 'x'); COMMIT; "
             "PRAGMA wal_checkpoint(TRUNCATE)",
             NDB_APPLICATION_ID, base, base, base, base + 1, base / 60000 * 60000,
             base / 60000 * 60000, base);
    ok = sqlite3_open(path, &db) == SQLITE_OK &&
         sqlite3_exec(db, "PRAGMA auto_vacuum = INCREMENTAL; PRAGMA journal_mode = WAL; BEGIN",
                      NULL, NULL, NULL) == SQLITE_OK &&
         sqlite3_exec(db, (const char *)schema.bytes, NULL, NULL, NULL) == SQLITE_OK &&
         sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK;
    if (!ok)
        fprintf(stderr, "make_v2: %s\n", sqlite3_errmsg(db));
    sqlite3_close(db);
    snap_free(&schema);
    return ok;
}

#define DUMP_V2                                                                                    \
    "SELECT 'f', ts, target_id, time, phase, wsa_code, raw, raw_value, detail, latency_us, "       \
    "local, "                                                                                      \
    "remote FROM failures_v UNION ALL SELECT 'm', minute, target_id, attempts, successes, "        \
    "failures, latency_count, latency_sum_us, latency_min_us, latency_max_us, 0, 0 FROM "          \
    "rollup_minute UNION ALL SELECT 'c', minute, target_id, wsa_code, count, 0, 0, 0, 0, 0, 0, 0 " \
    "FROM rollup_minute_code UNION ALL SELECT 'a', id, target_id, wsa_code, started, resolved, "   \
    "count, peak, baseline, attempts, last_notified, detail FROM alerts UNION ALL SELECT 't', "    \
    "id, name, kind, host, port, created, updated, retired, 0, 0, 0 FROM targets ORDER BY 1, 2, 3"

/* Version 2 to 3 adds the table runs and changes nothing else; the schema
 * is then the one a new database gets, and this start has its row. */
static void test_migrate_v2(void)
{
    char path[128], fresh[128], err[512];
    struct config *cfg = make_config(1, three);
    int64_t base = util_now_ms() / 1000 * 1000 - 600 * 1000;
    char *before, *after, *schema, *schema_fresh;
    struct store *st;

    snprintf(path, sizeof(path), "%s", db_path());
    snprintf(fresh, sizeof(fresh), "%s", db_path());
    UNIT_CHECK(make_v2(path, base));
    UNIT_EQ_INT(q_int(path, "PRAGMA user_version"), 2);
    before = dump(path, DUMP_V2);
    st = store_open(path, cfg, err, sizeof(err));
    if (st == NULL)
        fprintf(stderr, "store_open: %s\n", err);
    UNIT_CHECK(st != NULL);
    if (st != NULL)
        store_close(st);
    UNIT_EQ_INT(q_int(path, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    after = dump(path, DUMP_V2);
    UNIT_CHECK(same_dump(before, after));
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM runs WHERE stopped IS NOT NULL"), 1);
    create_db(fresh, cfg);
    schema = dump(path, DUMP_SCHEMA);
    schema_fresh = dump(fresh, DUMP_SCHEMA);
    UNIT_CHECK(same_dump(schema_fresh, schema));
    UNIT_EQ_STR(q_text(path, "PRAGMA integrity_check"), "ok");
    free(before);
    free(after);
    free(schema);
    free(schema_fresh);
    free_config(cfg);
}

/* A table called runs made by hand in a version 2 database (a half-done
 * manual upgrade): the migration fails whole, nothing changes. */
static void test_migrate_v2_fails_whole(void)
{
    char path[128];
    char *before, *after;

    snprintf(path, sizeof(path), "%s", db_path());
    UNIT_CHECK(make_v2(path, util_now_ms() - 60000));
    UNIT_EQ_INT(exec_rw(path, "CREATE TABLE runs (mine TEXT); PRAGMA wal_checkpoint(TRUNCATE)"),
                SQLITE_OK);
    before = dump(path, DUMP_V2);
    expect_refused(path, "migration from version 2 to 3 failed");
    after = dump(path, DUMP_V2);
    UNIT_CHECK(same_dump(before, after));
    UNIT_EQ_INT(q_int(path, "PRAGMA user_version"), 2);
    free(before);
    free(after);
}

/* A database of schema version 3 (tests/unit/schema_v3.sql): make_v2's
 * rows and a stopped run; false on error. */
static bool make_v3(const char *path, int64_t base)
{
    struct snapshot schema;
    sqlite3 *db = NULL;
    char sql[1280];
    bool ok = false;

    if (!load_source("tests/unit/schema_v3.sql", &schema))
        return false;
    snprintf(sql, sizeof(sql),
             "PRAGMA application_id = %d; PRAGMA user_version = 3; "
             "INSERT INTO wsa_codes VALUES (10061, 'WSAECONNREFUSED', 'Connection refused.', '', "
             "0); INSERT INTO targets (id, name, kind, host, port, family, interval_ms, "
             "timeout_ms, created, updated) VALUES (1, 'web', 'connect', '127.0.0.1', 8000, "
             "'any', 10000, 1000, %" PRId64 ", %" PRId64 "); "
             "INSERT INTO raws VALUES (1, 'ECONNREFUSED'); INSERT INTO addrs VALUES (1, "
             "'127.0.0.1'); INSERT INTO failures VALUES (%" PRId64 ", 1, 0, 2, 10061, 1, 111, "
             "NULL, 85, 1, 40312, 1, 8000), (%" PRId64 ", 1, 0, 2, 10061, 1, 111, 'x', 90, 1, "
             "40313, 1, 8000); INSERT INTO rollup_minute VALUES (%" PRId64
             ", 1, 3, 1, 2, 1, 70, 70, 70); INSERT INTO rollup_minute_code VALUES (%" PRId64
             ", 1, 10061, 2); INSERT INTO alerts (target_id, wsa_code, started, count, baseline, "
             "detail) VALUES (1, 10061, %" PRId64 ", 2, 0.5, 'x'); INSERT INTO runs (pid, "
             "hostname, version, config, started, heartbeat, stopped, results, failures) VALUES "
             "(7, 'h', '0.1.0', '/etc/netdiag/netdiag.ini', %" PRId64 ", %" PRId64 ", %" PRId64
             ", 3, 2); COMMIT; PRAGMA wal_checkpoint(TRUNCATE)",
             NDB_APPLICATION_ID, base, base, base, base + 1, base / 60000 * 60000,
             base / 60000 * 60000, base, base, base + 5, base + 5);
    ok = sqlite3_open(path, &db) == SQLITE_OK &&
         sqlite3_exec(db, "PRAGMA auto_vacuum = INCREMENTAL; PRAGMA journal_mode = WAL; BEGIN",
                      NULL, NULL, NULL) == SQLITE_OK &&
         sqlite3_exec(db, (const char *)schema.bytes, NULL, NULL, NULL) == SQLITE_OK &&
         sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK;
    if (!ok)
        fprintf(stderr, "make_v3: %s\n", sqlite3_errmsg(db));
    sqlite3_close(db);
    snap_free(&schema);
    return ok;
}

/* Version 3 to 4 adds failures.batch (NULL in the rows already there) and
 * the table commits, and changes nothing else; the schema is then the one
 * a new database gets, and the rows written after it have their commit. */
static void test_migrate_v3(void)
{
    char path[128], fresh[128], err[512];
    struct config *cfg = make_config(1, three);
    int64_t base = util_now_ms() / 1000 * 1000 - 600 * 1000;
    char *before, *after, *schema, *schema_fresh;
    struct store *st;

    snprintf(path, sizeof(path), "%s", db_path());
    snprintf(fresh, sizeof(fresh), "%s", db_path());
    UNIT_CHECK(make_v3(path, base));
    UNIT_EQ_INT(q_int(path, "PRAGMA user_version"), 3);
    before = dump(path, DUMP_V2);
    st = store_open(path, cfg, err, sizeof(err));
    if (st == NULL)
        fprintf(stderr, "store_open: %s\n", err);
    UNIT_CHECK(st != NULL);
    if (st != NULL)
        store_close(st);
    UNIT_EQ_INT(q_int(path, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    after = dump(path, DUMP_V2);
    UNIT_CHECK(same_dump(before, after));
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM failures WHERE batch IS NULL"), 2);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM commits"), 0);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM runs WHERE pid = 7 AND results = 3"), 1);
    create_db(fresh, cfg);
    schema = dump(path, DUMP_SCHEMA);
    schema_fresh = dump(fresh, DUMP_SCHEMA);
    UNIT_CHECK(same_dump(schema_fresh, schema));
    UNIT_EQ_STR(q_text(path, "PRAGMA integrity_check"), "ok");
    /* writing goes on: 4 failures and a success, one commit */
    st = store_open(path, cfg, err, sizeof(err));
    UNIT_CHECK(st != NULL);
    if (st != NULL) {
        UNIT_EQ_INT(store_sync_targets(st, cfg), 0);
        for (int i = 0; i < 5; i++) {
            struct result r;
            make_result(&r, &cfg->targets[0], base + 300000 + i, i == 4, WSAECONNREFUSED);
            store_submit(st, &r);
        }
        store_close(st);
    }
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM failures WHERE batch IS NULL"), 2);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM commits"), 1);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM failures AS f JOIN commits AS c ON "
                            "c.id = f.batch AND f.ts BETWEEN c.ts_min AND c.ts_max"),
                4);
    UNIT_EQ_INT(q_int(path, "SELECT rows * 1000 + ts_max - ts_min FROM commits"), 4003);
    free(before);
    free(after);
    free(schema);
    free(schema_fresh);
    free_config(cfg);
}

/* A table called commits made by hand in a version 3 database: the
 * migration fails whole, nothing changes. */
static void test_migrate_v3_fails_whole(void)
{
    char path[128];
    char *before, *after;

    snprintf(path, sizeof(path), "%s", db_path());
    UNIT_CHECK(make_v3(path, util_now_ms() - 60000));
    UNIT_EQ_INT(exec_rw(path, "CREATE TABLE commits (mine TEXT); PRAGMA wal_checkpoint(TRUNCATE)"),
                SQLITE_OK);
    before = dump(path, DUMP_V2);
    expect_refused(path, "migration from version 3 to 4 failed");
    after = dump(path, DUMP_V2);
    UNIT_CHECK(same_dump(before, after));
    UNIT_EQ_INT(q_int(path, "PRAGMA user_version"), 3);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM pragma_table_info('failures') WHERE "
                            "name = 'batch'"),
                0);
    free(before);
    free(after);
}

/* A database of schema version 4 (tests/unit/schema_v4.sql): make_v3's
 * rows, a commit its failures belong to, hour rows, and minute rows with
 * latencies as version 4 kept them (count, sum, min, max); false on
 * error. */
static bool make_v4(const char *path, int64_t base)
{
    struct snapshot schema;
    sqlite3 *db = NULL;
    char sql[2048];
    int64_t m = base / 60000 * 60000, h = base / 3600000 * 3600000;
    bool ok = false;

    if (!load_source("tests/unit/schema_v4.sql", &schema))
        return false;
    snprintf(sql, sizeof(sql),
             "PRAGMA application_id = %d; PRAGMA user_version = 4; "
             "INSERT INTO wsa_codes VALUES (10061, 'WSAECONNREFUSED', 'Connection refused.', '', "
             "0); INSERT INTO targets (id, name, kind, host, port, family, interval_ms, "
             "timeout_ms, created, updated) VALUES (1, 'web', 'connect', '127.0.0.1', 8000, "
             "'any', 10000, 1000, %" PRId64 ", %" PRId64 "); "
             "INSERT INTO raws VALUES (1, 'ECONNREFUSED'); INSERT INTO addrs VALUES (1, "
             "'127.0.0.1'); INSERT INTO commits (id, ts_min, ts_max, rows, committed) VALUES (7, "
             "%" PRId64 ", %" PRId64 ", 2, %" PRId64 "); INSERT INTO failures VALUES (%" PRId64
             ", 1, 0, 2, 10061, 1, 111, NULL, 85, 1, 40312, 1, 8000, 7), (%" PRId64
             ", 1, 0, 2, 10061, 1, 111, 'x', 90, 1, 40313, 1, 8000, 7); "
             "INSERT INTO rollup_minute VALUES (%" PRId64 ", 1, 3, 1, 2, 1, 70, 70, 70), (%" PRId64
             ", 1, 6, 6, 0, 6, 1200, 150, 250); INSERT INTO rollup_minute_code VALUES (%" PRId64
             ", 1, 10061, 2); INSERT INTO rollup_hour VALUES (%" PRId64
             ", 1, 9, 7, 2, 7, 1270, 70, 250); INSERT INTO rollup_hour_code VALUES (%" PRId64
             ", 1, 10061, 2); INSERT INTO alerts (target_id, wsa_code, started, count, baseline, "
             "detail) VALUES (1, 10061, %" PRId64 ", 2, 0.5, 'x'); INSERT INTO runs (pid, "
             "hostname, version, config, started, heartbeat, stopped, results, failures) VALUES "
             "(7, 'h', '0.1.0', '/etc/netdiag/netdiag.ini', %" PRId64 ", %" PRId64 ", %" PRId64
             ", 9, 2); COMMIT; PRAGMA wal_checkpoint(TRUNCATE)",
             NDB_APPLICATION_ID, base, base, base, base + 1, base, base, base + 1, m, m - 60000, m,
             h, h, base, base, base + 5, base + 5);
    ok = sqlite3_open(path, &db) == SQLITE_OK &&
         sqlite3_exec(db, "PRAGMA auto_vacuum = INCREMENTAL; PRAGMA journal_mode = WAL; BEGIN",
                      NULL, NULL, NULL) == SQLITE_OK &&
         sqlite3_exec(db, (const char *)schema.bytes, NULL, NULL, NULL) == SQLITE_OK &&
         sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK;
    if (!ok)
        fprintf(stderr, "make_v4: %s\n", sqlite3_errmsg(db));
    sqlite3_close(db);
    snap_free(&schema);
    return ok;
}

/* A database of schema version 6 (tests/unit/schema_v6.sql): a target,
 * its failures' codes per minute and hour, and a minute's counts with a
 * latency histogram; false on error. */
static bool make_v6(const char *path, int64_t base)
{
    struct snapshot schema;
    sqlite3 *db = NULL;
    char sql[2048];
    int64_t m = base / 60000 * 60000, h = base / 3600000 * 3600000;
    bool ok = false;

    if (!load_source("tests/unit/schema_v6.sql", &schema))
        return false;
    snprintf(sql, sizeof(sql),
             "PRAGMA application_id = %d; PRAGMA user_version = 6; "
             "INSERT INTO wsa_codes VALUES (10061, 'WSAECONNREFUSED', 'Connection refused.', '', "
             "0); INSERT INTO targets (id, name, kind, host, port, family, interval_ms, "
             "timeout_ms, created, updated) VALUES (1, 'web', 'connect', '127.0.0.1', 8000, "
             "'any', 10000, 1000, %" PRId64 ", %" PRId64 "); "
             "INSERT INTO rollup_minute VALUES (%" PRId64 ", 1, 3, 1, 2, 1, 70, 70, 70, "
             "x'01460101', 0, 0); INSERT INTO rollup_minute_code VALUES (%" PRId64
             ", 1, 10061, 2); INSERT INTO rollup_hour VALUES (%" PRId64
             ", 1, 3, 1, 2, 1, 70, 70, 70, x'01460101', 0, 0); INSERT INTO rollup_hour_code "
             "VALUES (%" PRId64 ", 1, 10061, 2); COMMIT; PRAGMA wal_checkpoint(TRUNCATE)",
             NDB_APPLICATION_ID, base, base, m, m, h, h);
    ok = sqlite3_open(path, &db) == SQLITE_OK &&
         sqlite3_exec(db, "PRAGMA auto_vacuum = INCREMENTAL; PRAGMA journal_mode = WAL; BEGIN",
                      NULL, NULL, NULL) == SQLITE_OK &&
         sqlite3_exec(db, (const char *)schema.bytes, NULL, NULL, NULL) == SQLITE_OK &&
         sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK;
    if (!ok)
        fprintf(stderr, "make_v6: %s\n", sqlite3_errmsg(db));
    sqlite3_close(db);
    snap_free(&schema);
    return ok;
}

/* How SQLite reads one target's codes over a range: the detail of its
 * query plan (static buffer). */
static const char *code_plan(const char *path, const char *table, const char *col)
{
    static char plan[512];
    char sql[256];
    sqlite3 *db;
    sqlite3_stmt *s;
    size_t o = 0;

    snprintf(plan, sizeof(plan), "(error)");
    snprintf(sql, sizeof(sql),
             "EXPLAIN QUERY PLAN SELECT wsa_code, count FROM %s WHERE target_id = 1 AND %s >= 0 "
             "AND %s < 1",
             table, col, col);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK) {
        plan[0] = '\0';
        while (sqlite3_step(s) == SQLITE_ROW && o + 1 < sizeof(plan))
            o += (size_t)snprintf(plan + o, sizeof(plan) - o, "%s; ",
                                  (const char *)sqlite3_column_text(s, 3));
        sqlite3_finalize(s);
    }
    sqlite3_close(db);
    return plan;
}

/* Version 6 to 7 adds the indexes rollup_minute_code_target and
 * rollup_hour_code_target and changes nothing else: one target's codes
 * over a range are read through them (before, every target's rows of the
 * range were), and the schema is the one a new database gets. */
static void test_migrate_v6(void)
{
    char path[128], fresh[128], err[512];
    struct config *cfg = make_config(1, three);
    int64_t base = util_now_ms() / 60000 * 60000 - 600 * 1000 + 500;
    char *before, *after, *schema, *schema_fresh;
    struct store *st;

    snprintf(path, sizeof(path), "%s", db_path());
    snprintf(fresh, sizeof(fresh), "%s", db_path());
    UNIT_CHECK(make_v6(path, base));
    UNIT_EQ_INT(q_int(path, "PRAGMA user_version"), 6);
    UNIT_CHECK(strstr(code_plan(path, "rollup_hour_code", "hour"), "SCAN") != NULL ||
               strstr(code_plan(path, "rollup_hour_code", "hour"), "PRIMARY KEY") != NULL);
    UNIT_CHECK(strstr(code_plan(path, "rollup_hour_code", "hour"), "_target") == NULL);
    before = dump(path, DUMP_V2);
    st = store_open(path, cfg, err, sizeof(err));
    if (st == NULL)
        fprintf(stderr, "store_open: %s\n", err);
    UNIT_CHECK(st != NULL);
    if (st != NULL)
        store_close(st);
    UNIT_EQ_INT(q_int(path, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    after = dump(path, DUMP_V2);
    UNIT_CHECK(same_dump(before, after));
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM rollup_hour_code WHERE count = 2"), 1);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM rollup_hour WHERE lat_hist = x'01460101'"), 1);
    create_db(fresh, cfg);
    schema = dump(path, DUMP_SCHEMA);
    schema_fresh = dump(fresh, DUMP_SCHEMA);
    UNIT_CHECK(same_dump(schema_fresh, schema));
    UNIT_EQ_STR(q_text(path, "PRAGMA integrity_check"), "ok");
    UNIT_CHECK(strstr(code_plan(path, "rollup_hour_code", "hour"),
                      "USING INDEX rollup_hour_code_target") != NULL);
    UNIT_CHECK(strstr(code_plan(path, "rollup_minute_code", "minute"),
                      "USING INDEX rollup_minute_code_target") != NULL);
    UNIT_CHECK(strstr(code_plan(fresh, "rollup_hour_code", "hour"),
                      "USING INDEX rollup_hour_code_target") != NULL);
    free(before);
    free(after);
    free(schema);
    free(schema_fresh);
    free_config(cfg);
}

/* The histogram in a lat_hist (NULL: none); count -1 when damaged. */
static void q_hist(const char *path, const char *sql, struct hist *h)
{
    sqlite3 *db;
    sqlite3_stmt *s;
    const char *why;

    memset(h, 0, sizeof(*h));
    h->count = (uint64_t)-1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK) {
        if (sqlite3_step(s) == SQLITE_ROW) {
            h->count = 0;
            if (sqlite3_column_type(s, 0) != SQLITE_NULL &&
                hist_decode(h, sqlite3_column_blob(s, 0), (size_t)sqlite3_column_bytes(s, 0),
                            &why) < 0)
                h->count = (uint64_t)-1;
        }
        sqlite3_finalize(s);
    } else {
        fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db));
    }
    sqlite3_close(db);
}

static bool same_buckets(const struct hist *a, const struct hist *b)
{
    return a->count == b->count && memcmp(a->buckets, b->buckets, sizeof(a->buckets)) == 0;
}

/* Version 4 to 5 adds lat_hist, echo_sent and echo_lost to the minute and
 * hour rollups (NULL and 0 in the rows already there) and changes nothing
 * else; the schema is then the one a new database gets; a row of before
 * the migration that gets new attempts keeps its old counts beside a
 * histogram of the new ones only. */
static void test_migrate_v4(void)
{
    char path[128], fresh[128], err[512], sql[256];
    struct config *cfg = make_config(1, three);
    int64_t base = util_now_ms() / 60000 * 60000 - 600 * 1000 + 500;
    int64_t m = base / 60000 * 60000;
    char *before, *after, *schema, *schema_fresh;
    struct hist *h = calloc(2, sizeof(*h)), *want = h + 1;
    struct store *st;

    snprintf(path, sizeof(path), "%s", db_path());
    snprintf(fresh, sizeof(fresh), "%s", db_path());
    UNIT_CHECK(make_v4(path, base));
    UNIT_EQ_INT(q_int(path, "PRAGMA user_version"), 4);
    before = dump(path, DUMP_V2);
    st = store_open(path, cfg, err, sizeof(err));
    if (st == NULL)
        fprintf(stderr, "store_open: %s\n", err);
    UNIT_CHECK(st != NULL);
    if (st != NULL)
        store_close(st);
    UNIT_EQ_INT(q_int(path, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    after = dump(path, DUMP_V2);
    UNIT_CHECK(same_dump(before, after));
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM rollup_minute WHERE lat_hist IS NULL AND "
                            "echo_sent = 0 AND echo_lost = 0"),
                2);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM rollup_hour WHERE lat_hist IS NULL AND "
                            "echo_sent = 0 AND echo_lost = 0 AND attempts = 9 AND "
                            "latency_sum_us = 1270"),
                1);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM failures WHERE batch = 7"), 2);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM runs WHERE pid = 7 AND results = 9"), 1);
    create_db(fresh, cfg);
    schema = dump(path, DUMP_SCHEMA);
    schema_fresh = dump(fresh, DUMP_SCHEMA);
    UNIT_CHECK(same_dump(schema_fresh, schema));
    UNIT_EQ_STR(q_text(path, "PRAGMA integrity_check"), "ok");
    /* writing goes on: 4 successes in the old minute, 2 in a new one */
    st = store_open(path, cfg, err, sizeof(err));
    UNIT_CHECK(st != NULL);
    if (st != NULL) {
        UNIT_EQ_INT(store_sync_targets(st, cfg), 0);
        for (int i = 0; i < 6; i++) {
            struct result r;
            make_result(&r, &cfg->targets[0], i < 4 ? m + 100 + i : m + 60000 + i, true, 0);
            r.latency_us = 1000 * (i + 1);
            store_submit(st, &r);
            if (i < 4)
                hist_add(want, r.latency_us);
        }
        store_close(st);
    }
    snprintf(sql, sizeof(sql), "SELECT lat_hist FROM rollup_minute WHERE minute = %" PRId64, m);
    q_hist(path, sql, h);
    UNIT_CHECK(same_buckets(h, want));
    snprintf(sql, sizeof(sql),
             "SELECT latency_count * 1000000 + latency_min_us * 1000 + successes FROM "
             "rollup_minute WHERE minute = %" PRId64,
             m);
    UNIT_EQ_INT(q_int(path, sql), 5 * 1000000 + 70 * 1000 + 5);
    UNIT_EQ_INT(q_int(path, "SELECT sum(latency_count) FROM rollup_hour"), 7 + 6);
    free(before);
    free(after);
    free(schema);
    free(schema_fresh);
    free(h);
    free_config(cfg);
}

/* A column called lat_hist made by hand in rollup_hour of a version 4
 * database: the migration fails at its fourth statement, and the first
 * three, on rollup_minute, are rolled back with it. */
static void test_migrate_v4_fails_whole(void)
{
    char path[128];
    char *before, *after;

    snprintf(path, sizeof(path), "%s", db_path());
    UNIT_CHECK(make_v4(path, util_now_ms() - 60000));
    UNIT_EQ_INT(exec_rw(path, "ALTER TABLE rollup_hour ADD COLUMN lat_hist TEXT; "
                              "PRAGMA wal_checkpoint(TRUNCATE)"),
                SQLITE_OK);
    before = dump(path, DUMP_V2);
    expect_refused(path, "migration from version 4 to 5 failed");
    after = dump(path, DUMP_V2);
    UNIT_CHECK(same_dump(before, after));
    UNIT_EQ_INT(q_int(path, "PRAGMA user_version"), 4);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM pragma_table_info('rollup_minute') WHERE "
                            "name IN ('lat_hist', 'echo_sent', 'echo_lost')"),
                0);
    free(before);
    free(after);
}

/* Every successful attempt's latency goes into the histogram of its
 * minute and of its hour, in the transaction of its batch: a minute's
 * histogram is that of its samples, whatever batches they came in, the
 * hour's is the merge of its minutes, the counts agree with
 * latency_count, failures add nothing, and ping echoes are summed. */
static void test_latency_rollups(void)
{
    char path[128], err[512], sql[256];
    struct config *cfg = make_config(2, three);
    int64_t m0 = util_now_ms() / 3600000 * 3600000 - 3600000; /* the last whole hour */
    struct hist *h = calloc(4, sizeof(*h)), *want = h + 1, *hour = h + 2, *merged = h + 3;
    int64_t sent = 0, lost = 0;
    struct store *st;

    snprintf(path, sizeof(path), "%s", db_path());
    for (int session = 0; session < 3; session++) {
        st = store_open(path, cfg, err, sizeof(err));
        UNIT_CHECK(st != NULL);
        if (st == NULL)
            break;
        UNIT_EQ_INT(store_sync_targets(st, cfg), 0);
        for (int i = 0; i < 400; i++) {
            struct result r;
            int minute = i % 5;
            bool ok = i % 7 != 0;
            make_result(&r, &cfg->targets[0], m0 + minute * 60000 + session * 1000 + i, ok,
                        WSAECONNREFUSED);
            /* from 40 µs to 200 ms, a different spread per minute */
            r.latency_us = 40 + (int64_t)((i * 7919 + session * 104729) % (1000 << minute));
            r.echo_sent = (uint16_t)(i % 6);
            r.echo_recv = (uint16_t)(i % 6 > 1 ? i % 6 - 1 : i % 6);
            sent += r.echo_sent;
            lost += r.echo_sent - r.echo_recv;
            store_submit(st, &r);
            if (ok)
                hist_add(minute == 2 ? want : merged, r.latency_us);
            if (ok)
                hist_add(hour, r.latency_us);
            /* half of the session's results in a batch of their own */
            if (i == 200)
                for (int k = 0; k < 100 && q_int(path, "SELECT coalesce(sum(attempts), 0) FROM "
                                                       "rollup_minute") < session * 400 + 201;
                     k++)
                    usleep(20 * 1000);
        }
        store_close(st);
    }
    snprintf(sql, sizeof(sql),
             "SELECT lat_hist FROM rollup_minute WHERE target_id = %" PRId64
             " AND minute = %" PRId64,
             cfg->targets[0].db_id, m0 + 2 * 60000);
    q_hist(path, sql, h);
    UNIT_CHECK(same_buckets(h, want));
    snprintf(sql, sizeof(sql), "SELECT lat_hist FROM rollup_hour WHERE hour = %" PRId64, m0);
    q_hist(path, sql, h);
    UNIT_CHECK(same_buckets(h, hour));
    UNIT_EQ_INT(q_int(path, "SELECT sum(latency_count) FROM rollup_hour"), hour->count);
    /* the hour row is the merge of its minute rows, every minute's
     * histogram holds latency_count samples */
    {
        sqlite3 *db;
        sqlite3_stmt *s;
        const char *why;
        memset(merged, 0, sizeof(*merged));
        UNIT_CHECK(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
        UNIT_CHECK(sqlite3_prepare_v2(db, "SELECT lat_hist, latency_count FROM rollup_minute", -1,
                                      &s, NULL) == SQLITE_OK);
        while (sqlite3_step(s) == SQLITE_ROW) {
            uint64_t before = merged->count;
            UNIT_EQ_INT(hist_decode(merged, sqlite3_column_blob(s, 0),
                                    (size_t)sqlite3_column_bytes(s, 0), &why),
                        0);
            UNIT_EQ_INT(merged->count - before, sqlite3_column_int64(s, 1));
        }
        sqlite3_finalize(s);
        sqlite3_close(db);
        UNIT_CHECK(same_buckets(merged, hour));
    }
    UNIT_EQ_INT(q_int(path, "SELECT sum(echo_sent) FROM rollup_minute"), sent);
    UNIT_EQ_INT(q_int(path, "SELECT sum(echo_lost) FROM rollup_minute"), lost);
    UNIT_EQ_INT(q_int(path, "SELECT sum(echo_sent) * 1000 + sum(echo_lost) FROM rollup_hour"),
                sent * 1000 + lost);
    /* the other target: no attempt, no row; an all-failed minute: NULL */
    free(h);
    free_config(cfg);
}

/* A lat_hist that is not netdiagd's encoding (someone else wrote to the
 * database): the next batch for that row replaces it with its own
 * histogram, and is committed; the batch is never retried for ever. */
static void test_damaged_hist_replaced(void)
{
    char path[128], err[512], sql[256];
    struct config *cfg = make_config(1, three);
    int64_t m = util_now_ms() / 60000 * 60000 - 120000;
    struct hist *h = calloc(2, sizeof(*h)), *want = h + 1;
    struct store *st;

    snprintf(path, sizeof(path), "%s", db_path());
    st = store_open(path, cfg, err, sizeof(err));
    UNIT_CHECK(st != NULL);
    if (st == NULL)
        goto out;
    UNIT_EQ_INT(store_sync_targets(st, cfg), 0);
    for (int i = 0; i < 3; i++) {
        struct result r;
        make_result(&r, &cfg->targets[0], m + i, true, 0);
        store_submit(st, &r);
    }
    store_close(st);
    /* cut off, a count of 0, text, a bucket past the last */
    static const char *const bad[] = {"X'0185'", "X'010500'", "'hello'", "X'01900501'"};
    for (size_t k = 0; k < ND_ARRAY_LEN(bad); k++) {
        snprintf(sql, sizeof(sql),
                 "UPDATE rollup_minute SET lat_hist = %s; UPDATE rollup_hour "
                 "SET lat_hist = %s",
                 bad[k], bad[k]);
        UNIT_EQ_INT(exec_rw(path, sql), SQLITE_OK);
        st = store_open(path, cfg, err, sizeof(err));
        UNIT_CHECK(st != NULL);
        if (st == NULL)
            goto out;
        memset(want, 0, sizeof(*want));
        for (int i = 0; i < 2; i++) {
            struct result r;
            make_result(&r, &cfg->targets[0], m + 10 + i, true, 0);
            r.latency_us = 5000 + (int64_t)k * 1000;
            hist_add(want, r.latency_us);
            store_submit(st, &r);
        }
        store_close(st);
        snprintf(sql, sizeof(sql), "SELECT lat_hist FROM rollup_minute WHERE minute = %" PRId64, m);
        q_hist(path, sql, h);
        UNIT_CHECK(same_buckets(h, want));
        q_hist(path, "SELECT lat_hist FROM rollup_hour", h);
        UNIT_CHECK(same_buckets(h, want));
        UNIT_EQ_INT(q_int(path, "SELECT attempts FROM rollup_minute"), 3 + 2 * (k + 1));
    }
out:
    free(h);
    free_config(cfg);
}

/* Every transaction that stores failures adds one row to commits, numbered
 * in commit order, with the range and the number of its rows, and each row
 * carries its number; a batch of successes adds none; numbers go on
 * increasing across restarts and after retention emptied the table. */
static void test_commits(void)
{
    char path[128], err[512];
    struct config *cfg = make_config(2, three);
    struct store *st;
    int64_t now = util_now_ms(), last;

    snprintf(path, sizeof(path), "%s", db_path());
    for (int round = 0; round < 3; round++) {
        st = store_open(path, cfg, err, sizeof(err));
        UNIT_CHECK(st != NULL);
        if (st == NULL)
            break;
        UNIT_EQ_INT(store_sync_targets(st, cfg), 0);
        /* a batch of 300 with a late row (an older ts), then one of
         * successes only, each committed before the next is queued */
        for (int i = 0; i < 300; i++) {
            struct result r;
            make_result(&r, &cfg->targets[i % 2], now + round * 10000 + i - (i == 299 ? 5000 : 0),
                        i % 3 == 0, WSAECONNREFUSED);
            store_submit(st, &r);
        }
        for (int i = 0; i < 100 && q_int(path, "SELECT count(*) FROM failures") < 200 * (round + 1);
             i++)
            usleep(50 * 1000);
        for (int i = 0; i < 10; i++) {
            struct result r;
            make_result(&r, &cfg->targets[0], now + round * 10000 + 500 + i, true, 0);
            store_submit(st, &r);
        }
        store_close(st);
    }
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM failures"), 600);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM commits"), 3);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM failures WHERE batch IS NULL"), 0);
    /* each commit's rows: its count, all inside its range, one of them
     * 5 s older than the others */
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM commits AS c WHERE rows = 200 AND rows = "
                            "(SELECT count(*) FROM failures AS f WHERE f.batch = c.id AND "
                            "f.ts BETWEEN c.ts_min AND c.ts_max) AND ts_max - ts_min = 4999"),
                3);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM commits AS a JOIN commits AS b ON b.id > a.id "
                            "WHERE b.committed < a.committed OR b.ts_min < a.ts_min"),
                0);
    last = q_int(path, "SELECT max(id) FROM commits");
    UNIT_CHECK(last >= 3);
    /* retention takes everything (and the commits without rows left); the
     * next commit still gets a new number */
    UNIT_EQ_INT(exec_rw(path, "UPDATE failures SET ts = ts - 40 * 86400000; UPDATE rollup_minute "
                              "SET minute = minute - 40 * 86400000; UPDATE rollup_minute_code SET "
                              "minute = minute - 40 * 86400000; UPDATE rollup_hour SET hour = "
                              "hour - 40 * 86400000; UPDATE rollup_hour_code SET hour = "
                              "hour - 40 * 86400000"),
                SQLITE_OK);
    st = store_open(path, cfg, err, sizeof(err));
    UNIT_CHECK(st != NULL);
    if (st != NULL) {
        struct result r;
        for (int i = 0; i < 100 && q_int(path, "SELECT count(*) FROM commits") != 0; i++)
            usleep(50 * 1000);
        UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM failures"), 0);
        UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM commits"), 0);
        UNIT_EQ_INT(store_sync_targets(st, cfg), 0);
        make_result(&r, &cfg->targets[0], util_now_ms(), false, WSAECONNREFUSED);
        store_submit(st, &r);
        store_close(st);
    }
    UNIT_CHECK(q_int(path, "SELECT min(id) FROM commits") > last);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM failures AS f JOIN commits AS c ON "
                            "c.id = f.batch"),
                1);
    free_config(cfg);
}

/* One row of runs per start: written at open, its heartbeat and counters
 * rewritten by the writer at least every 2 s (also while nothing
 * happens), stopped and the final counters written at store_stop(). */
static void test_runs_heartbeat(void)
{
    char path[128], err[512], cfgpath[160], host[256] = "", sql[512];
    struct config *cfg = make_config(3, three);
    struct store_stats ss;
    struct store *st;
    int64_t t0 = util_now_ms(), id, hb0, hb = 0;

    snprintf(path, sizeof(path), "%s", db_path());
    snprintf(cfgpath, sizeof(cfgpath), "%s/netdiag.ini", tmpdir);
    cfg->path = cfgpath;
    gethostname(host, sizeof(host) - 1);
    st = store_open(path, cfg, err, sizeof(err));
    UNIT_CHECK(st != NULL);
    if (st == NULL) {
        fprintf(stderr, "store_open: %s\n", err);
        cfg->path = NULL;
        free_config(cfg);
        return;
    }
    store_get_stats(st, &ss);
    id = ss.run_id;
    UNIT_CHECK(id > 0);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM runs WHERE id = %" PRId64 " AND pid = %ld AND version = '%s' "
             "AND config = '%s' AND started >= %" PRId64 " AND heartbeat = started AND "
             "stopped IS NULL AND targets = 3 AND results = 0",
             id, (long)getpid(), NETDIAG_VERSION, cfgpath, t0);
    UNIT_EQ_INT(q_int(path, sql), 1);
    snprintf(sql, sizeof(sql), "SELECT hostname FROM runs WHERE id = %" PRId64, id);
    UNIT_EQ_STR(q_text(path, sql), host);
    snprintf(sql, sizeof(sql), "SELECT heartbeat FROM runs WHERE id = %" PRId64, id);
    hb0 = q_int(path, sql);
    UNIT_EQ_INT(store_sync_targets(st, cfg), 0);
    for (int i = 0; i < 100; i++) {
        struct result r;
        make_result(&r, &cfg->targets[i % 3], util_now_ms(), i % 10 == 0, WSAECONNREFUSED);
        store_submit(st, &r);
    }
    /* idle after that: the heartbeat goes on (bounded wait, 10 s) */
    for (int i = 0; i < 100 && (hb = q_int(path, sql)) <= hb0 + 1000; i++)
        usleep(100 * 1000);
    UNIT_CHECK(hb > hb0 + 1000);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM runs WHERE id = %" PRId64 " AND results = 100 AND "
             "failures = 90 AND dropped = 0 AND stopped IS NULL",
             id);
    for (int i = 0; i < 50 && q_int(path, sql) != 1; i++)
        usleep(100 * 1000);
    UNIT_EQ_INT(q_int(path, sql), 1);
    store_stop(st);
    store_get_stats(st, &ss);
    UNIT_CHECK(ss.heartbeats >= 2);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM runs WHERE id = %" PRId64 " AND results = %" PRIu64
             " AND failures = %" PRIu64 " AND dropped = %" PRIu64 " AND targets = 3 AND "
             "stopped BETWEEN started AND heartbeat",
             id, ss.results_seen, ss.failures_seen, ss.dropped);
    UNIT_EQ_INT(q_int(path, sql), 1);
    store_close(st);
    /* a second start: a row of its own, the first one kept */
    st = store_open(path, cfg, err, sizeof(err));
    UNIT_CHECK(st != NULL);
    if (st != NULL) {
        store_get_stats(st, &ss);
        UNIT_EQ_INT(ss.run_id, id + 1);
        store_close(st);
    }
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM runs WHERE stopped IS NOT NULL"), 2);
    cfg->path = NULL;
    free_config(cfg);
}

/* One netdiagd per database: a second open, even in the same process,
 * finds the lock held and names the holder; a reader sees the lock from a
 * read-only descriptor; it goes with the first store. */
static void test_second_open_refused(void)
{
    char path[128], err[512] = "", want[256];
    struct config *cfg = make_config(1, three);
    struct store *a, *b;
    int rfd;

    snprintf(path, sizeof(path), "%s", db_path());
    a = store_open(path, cfg, err, sizeof(err));
    UNIT_CHECK(a != NULL);
    if (a == NULL) {
        free_config(cfg);
        return;
    }
    rfd = open(path, O_RDONLY | O_CLOEXEC);
    UNIT_CHECK(rfd >= 0);
    UNIT_EQ_INT(store_lock_held(rfd), 1);
    b = store_open(path, cfg, err, sizeof(err));
    UNIT_CHECK(b == NULL);
    if (b != NULL)
        store_close(b);
    snprintf(want, sizeof(want), "database %s is in use by netdiagd pid %ld (started ", path,
             (long)getpid());
    UNIT_CHECK(strncmp(err, want, strlen(want)) == 0);
    if (strncmp(err, want, strlen(want)) != 0)
        fprintf(stderr, "message: %s\n", err);
    UNIT_CHECK(strchr(err, '\n') == NULL);
    /* the refused open wrote nothing: no second row in runs */
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM runs"), 1);
    store_close(a);
    UNIT_EQ_INT(store_lock_held(rfd), 0);
    close(rfd);
    /* and the next one opens */
    b = store_open(path, cfg, err, sizeof(err));
    UNIT_CHECK(b != NULL);
    store_close(b);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM runs"), 2);
    free_config(cfg);
}

/* store_open fails with one line naming the path and containing what;
 * nothing is created (the checks come before any file is made). */
static void expect_open_refused(const char *path, const char *what)
{
    struct config *cfg = make_config(1, three);
    char err[768] = "";
    struct store *st = store_open(path, cfg, err, sizeof(err));

    UNIT_CHECK(st == NULL);
    if (st != NULL)
        store_close(st);
    UNIT_CHECK(strstr(err, path) != NULL);
    UNIT_CHECK(strstr(err, what) != NULL);
    UNIT_CHECK(strchr(err, '\n') == NULL);
    if (strstr(err, what) == NULL || getenv("TEST_VERBOSE"))
        fprintf(stderr, "message: %s\n", err);
    free_config(cfg);
}

/* No symbolic link is followed, neither as the database (existing target
 * or dangling) nor as its -wal, -shm or -journal; links in the directory
 * part of the path are the administrator's and are followed. */
static void test_symlinks_refused(void)
{
    char real[128], link[160], victim[160], side[192], dir[160], dirlink[160], via[200];
    struct config *cfg = make_config(1, three);
    struct snapshot before, after;
    static const char *const sfx[] = {"-wal", "-shm", "-journal"};

    snprintf(real, sizeof(real), "%s", db_path());
    fill(real, cfg, 50, util_now_ms());
    UNIT_EQ_INT(exec_rw(real, "PRAGMA wal_checkpoint(TRUNCATE)"), SQLITE_OK);
    snprintf(victim, sizeof(victim), "%s/victim", tmpdir);
    {
        FILE *f = fopen(victim, "w");
        fputs("precious\n", f);
        fclose(f);
    }

    /* the database path is a link to a netdiag database, or to nothing */
    snprintf(link, sizeof(link), "%s/link.db", tmpdir);
    UNIT_EQ_INT(symlink(real, link), 0);
    snap(real, &before);
    expect_open_refused(link, "symbolic link");
    snap(real, &after);
    UNIT_CHECK(snap_same(&before, &after));
    snap_free(&before);
    snap_free(&after);
    unlink(link);
    UNIT_EQ_INT(symlink("/nonexistent/netdiag.db", link), 0);
    expect_open_refused(link, "symbolic link");
    unlink(link);

    /* a side file is a link to someone's file */
    snap(victim, &before);
    for (size_t i = 0; i < ND_ARRAY_LEN(sfx); i++) {
        snprintf(side, sizeof(side), "%s%s", real, sfx[i]);
        unlink(side);
        UNIT_EQ_INT(symlink(victim, side), 0);
        expect_open_refused(real, sfx[i]);
        unlink(side);
    }
    snap(victim, &after);
    UNIT_CHECK(snap_same(&before, &after));
    snap_free(&before);
    snap_free(&after);

    /* a link in the directory part: followed, the file made in the real
     * directory */
    snprintf(dir, sizeof(dir), "%s/real-dir", tmpdir);
    snprintf(dirlink, sizeof(dirlink), "%s/dir-link", tmpdir);
    UNIT_EQ_INT(mkdir(dir, 0700), 0);
    UNIT_EQ_INT(symlink(dir, dirlink), 0);
    snprintf(via, sizeof(via), "%s/nd.db", dirlink);
    create_db(via, cfg);
    snprintf(via, sizeof(via), "%s/nd.db", dir);
    UNIT_EQ_INT(q_int(via, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    free_config(cfg);
}

/* A directory others may write is refused, sticky or not, before any file
 * is made in it. */
static void test_shared_dir_refused(void)
{
    char dir[160], path[200];
    static const mode_t modes[] = {0777, 01777, 0773};

    snprintf(dir, sizeof(dir), "%s/shared", tmpdir);
    UNIT_EQ_INT(mkdir(dir, 0700), 0);
    snprintf(path, sizeof(path), "%s/nd.db", dir);
    for (size_t i = 0; i < ND_ARRAY_LEN(modes); i++) {
        UNIT_EQ_INT(chmod(dir, modes[i]), 0);
        expect_open_refused(path, "writable by every user");
        UNIT_CHECK(!file_exists(path));
    }
    chmod(dir, 0700);
}

/* Files of another user (as root: chown'd to nobody) are never adopted:
 * an empty database put there first, or its -shm; nor a directory of
 * another user. */
static void test_foreign_owner_refused(void)
{
    char path[128], side[160], dir[160], inner[200];
    struct config *cfg;
    struct snapshot before, after;
    struct stat sb;
    int fd;

    if (geteuid() != 0) {
        fprintf(stderr, "test_foreign_owner_refused: skipped (needs root to chown)\n");
        return;
    }
    cfg = make_config(1, three);
    /* an empty file of nobody's, writable by all */
    snprintf(path, sizeof(path), "%s", db_path());
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0666);
    UNIT_CHECK(fd >= 0);
    close(fd);
    UNIT_EQ_INT(chown(path, 65534, 65534), 0);
    UNIT_EQ_INT(chmod(path, 0666), 0);
    snap(path, &before);
    expect_open_refused(path, "belongs to uid 65534");
    snap(path, &after);
    UNIT_CHECK(snap_same(&before, &after));
    UNIT_CHECK(stat(path, &sb) == 0 && sb.st_uid == 65534 && sb.st_size == 0);
    snprintf(side, sizeof(side), "%s-wal", path);
    UNIT_CHECK(!file_exists(side));
    snap_free(&before);
    snap_free(&after);

    /* a database of ours whose -shm is nobody's */
    snprintf(path, sizeof(path), "%s", db_path());
    fill(path, cfg, 20, util_now_ms());
    snprintf(side, sizeof(side), "%s-shm", path);
    UNIT_EQ_INT(chown(side, 65534, 65534), 0);
    expect_open_refused(path, "-shm belongs to uid 65534");
    UNIT_EQ_INT(chown(side, 0, 0), 0);

    /* a directory of another user */
    snprintf(dir, sizeof(dir), "%s/nobodys", tmpdir);
    UNIT_EQ_INT(mkdir(dir, 0755), 0);
    UNIT_EQ_INT(chown(dir, 65534, 65534), 0);
    snprintf(inner, sizeof(inner), "%s/nd.db", dir);
    expect_open_refused(inner, "belongs to uid 65534");
    UNIT_CHECK(!file_exists(inner));
    free_config(cfg);
}

/* alerts rows someone else wrote: ids at the very top (the next id would
 * overflow) are refused in one line; negative ones do not make the next
 * id negative. */
static void test_alert_ids_from_elsewhere(void)
{
    char path[128], err[512];
    struct config *cfg = make_config(1, three);
    struct store *st;

    snprintf(path, sizeof(path), "%s", db_path());
    create_db(path, cfg);
    UNIT_EQ_INT(exec_rw(path, "INSERT INTO alerts (id, wsa_code, started) VALUES (-7, 10061, 1); "
                              "PRAGMA wal_checkpoint(TRUNCATE)"),
                SQLITE_OK);
    st = store_open(path, cfg, err, sizeof(err));
    UNIT_CHECK(st != NULL);
    if (st != NULL) {
        UNIT_EQ_INT(store_alert_new_id(st), 1);
        store_close(st);
    }
    UNIT_EQ_INT(exec_rw(path, "INSERT INTO alerts (id, wsa_code, started) VALUES "
                              "(9223372036854775807, 10061, 1); PRAGMA wal_checkpoint(TRUNCATE)"),
                SQLITE_OK);
    expect_refused(path, "alerts.id 9223372036854775807 leaves no room");
    free_config(cfg);
}

/* Another process holds the write lock through the whole start: the open
 * gives up after its busy timeout with a line that says so. */
static void test_locked_at_open(void)
{
    char path[128], err[512] = "";
    struct config *cfg = make_config(1, three);
    struct store *st;
    sqlite3 *other;

    snprintf(path, sizeof(path), "%s", db_path());
    create_db(path, cfg);
    UNIT_EQ_INT(sqlite3_open(path, &other), SQLITE_OK);
    UNIT_EQ_INT(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    st = store_open(path, cfg, err, sizeof(err));
    UNIT_CHECK(st == NULL);
    if (st != NULL)
        store_close(st);
    UNIT_CHECK(strstr(err, path) != NULL && strstr(err, "locked by another process") != NULL);
    if (strstr(err, "locked by another process") == NULL)
        fprintf(stderr, "message: %s\n", err);
    UNIT_EQ_INT(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    st = store_open(path, cfg, err, sizeof(err));
    UNIT_CHECK(st != NULL);
    store_close(st);
    free_config(cfg);
}

static void test_unwritable_refused(void)
{
    char path[128], side[160];
    struct config *cfg = make_config(3, three);
    pid_t pid;
    int status = -1;

    snprintf(path, sizeof(path), "%s", db_path());
    fill(path, cfg, 100, util_now_ms());
    UNIT_EQ_INT(exec_rw(path, "PRAGMA wal_checkpoint(TRUNCATE)"), SQLITE_OK);
    /* readable, not writable, by whoever runs store_open */
    chmod(path, 0444);
    snprintf(side, sizeof(side), "%s-wal", path);
    chmod(side, 0444);
    snprintf(side, sizeof(side), "%s-shm", path);
    chmod(side, 0444);
    chmod(tmpdir, 0755);
    pid = fork();
    if (pid == 0) {
        /* root writes anyway: become nobody for the check */
        int failed;
        if (geteuid() == 0 && (setgid(65534) < 0 || setuid(65534) < 0))
            _exit(3);
        unit_cur_failed = 0;
        expect_refused(path, "writ");
        failed = unit_cur_failed;
        free_config(cfg); /* the child's copy: valgrind counts it otherwise */
        _exit(failed ? 1 : 0);
    }
    UNIT_CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    UNIT_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    chmod(tmpdir, 0700);
    chmod(path, 0640);
    free_config(cfg);
}

static void test_missing_dir_refused(void)
{
    char path[160], err[512] = "";
    struct config *cfg = make_config(1, three);

    snprintf(path, sizeof(path), "%s/no/such/dir/db.sqlite", tmpdir);
    UNIT_CHECK(store_open(path, cfg, err, sizeof(err)) == NULL);
    UNIT_CHECK(strstr(err, path) != NULL);
    UNIT_CHECK(!file_exists(path));
    free_config(cfg);
}

/* Another connection holds the write lock: results wait in the queue up to
 * its bound, the rest is counted as dropped, and everything queued lands
 * once the lock is gone. */
static void test_locked_queue_overflow(void)
{
    char path[128], err[512];
    struct config *cfg = make_config(2, three);
    struct store_stats ss;
    struct store *st;
    sqlite3 *other;
    int64_t base = util_now_ms();
    const size_t extra = 1000;

    snprintf(path, sizeof(path), "%s", db_path());
    st = store_open(path, cfg, err, sizeof(err));
    UNIT_CHECK(st != NULL);
    if (st == NULL) {
        free_config(cfg);
        return;
    }
    UNIT_EQ_INT(store_sync_targets(st, cfg), 0);
    UNIT_EQ_INT(sqlite3_open(path, &other), SQLITE_OK);
    sqlite3_busy_timeout(other, 5000); /* the writer may be in its first retention pass */
    UNIT_EQ_INT(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    for (size_t i = 0; i < STORE_QUEUE_MAX + extra; i++) {
        struct result r;
        make_result(&r, &cfg->targets[i % 2], base + (int64_t)i, false, WSAECONNREFUSED);
        store_submit(st, &r);
    }
    store_get_stats(st, &ss);
    UNIT_EQ_INT(ss.dropped, extra);
    UNIT_EQ_INT(ss.queue_depth, STORE_QUEUE_MAX);
    UNIT_EQ_INT(ss.results_seen, STORE_QUEUE_MAX + extra);
    /* the writer's first attempt gives up after its 1 s busy timeout */
    for (int i = 0; i < 50; i++) {
        store_get_stats(st, &ss);
        if (!ss.writable)
            break;
        usleep(100 * 1000);
    }
    UNIT_CHECK(!ss.writable);
    UNIT_EQ_INT(ss.rows_written, 0);
    UNIT_EQ_INT(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    /* it resumes on its own, before any close */
    for (int i = 0; i < 100; i++) {
        store_get_stats(st, &ss);
        if (ss.queue_depth == 0)
            break;
        usleep(100 * 1000);
    }
    UNIT_EQ_INT(ss.queue_depth, 0);
    UNIT_CHECK(ss.writable);
    store_close(st);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM failures"), STORE_QUEUE_MAX);
    UNIT_EQ_INT(q_int(path, "SELECT sum(attempts) FROM rollup_minute"), STORE_QUEUE_MAX);
    free_config(cfg);
}

static void test_unsynced_dropped(void)
{
    char path[128], err[512];
    struct config *cfg = make_config(1, three);
    struct store_stats ss;
    struct store *st;
    struct result r;

    snprintf(path, sizeof(path), "%s", db_path());
    st = store_open(path, cfg, err, sizeof(err));
    UNIT_CHECK(st != NULL);
    if (st == NULL) {
        free_config(cfg);
        return;
    }
    make_result(&r, &cfg->targets[0], util_now_ms(), false, WSAECONNREFUSED);
    store_submit(st, &r); /* db_id 0: never synced */
    store_stop(st);
    store_get_stats(st, &ss);
    UNIT_EQ_INT(ss.dropped, 1);
    UNIT_EQ_INT(ss.rows_written, 0);
    store_close(st);
    free_config(cfg);
}

static void test_retention(void)
{
    char path[128], err[512];
    struct config *cfg = make_config(2, three);
    struct store *st;
    int64_t now = util_now_ms(), day = 24 * 3600 * 1000LL;
    const int64_t ages[] = {40 * day, 10 * day, 3 * day, 0};

    snprintf(path, sizeof(path), "%s", db_path());
    st = store_open(path, cfg, err, sizeof(err));
    UNIT_CHECK(st != NULL);
    if (st == NULL) {
        free_config(cfg);
        return;
    }
    UNIT_EQ_INT(store_sync_targets(st, cfg), 0);
    for (size_t a = 0; a < ND_ARRAY_LEN(ages); a++) {
        for (int i = 0; i < 500; i++) {
            struct result r;
            make_result(&r, &cfg->targets[i % 2], now - ages[a] + i * 10, i % 5 == 0,
                        WSAECONNREFUSED);
            store_submit(st, &r);
        }
    }
    store_close(st);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM failures"), 4 * 400);

    /* the next start prunes: failures and hours beyond 30 days, minutes
     * beyond 7 days */
    st = store_open(path, cfg, err, sizeof(err));
    UNIT_CHECK(st != NULL);
    if (st == NULL)
        return;
    store_close(st);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM failures"), 3 * 400);
    UNIT_EQ_INT(q_int(path, "SELECT sum(attempts) FROM rollup_hour"), 3 * 500);
    UNIT_EQ_INT(q_int(path, "SELECT sum(count) FROM rollup_hour_code"), 3 * 400);
    UNIT_EQ_INT(q_int(path, "SELECT sum(attempts) FROM rollup_minute"), 2 * 500);
    UNIT_EQ_INT(q_int(path, "SELECT sum(count) FROM rollup_minute_code"), 2 * 400);
    free_config(cfg);
}

/* An hour of one target holding more rows than a retention unit should
 * (12000) goes in one transaction all the same, and at start. */
static void test_retention_backlog(void)
{
    char path[128], err[512];
    struct config *cfg = make_config(1, three);
    struct store *st;
    int64_t old = util_now_ms() - 60 * 24 * 3600 * 1000LL;

    snprintf(path, sizeof(path), "%s", db_path());
    st = store_open(path, cfg, err, sizeof(err));
    UNIT_CHECK(st != NULL);
    if (st == NULL) {
        free_config(cfg);
        return;
    }
    UNIT_EQ_INT(store_sync_targets(st, cfg), 0);
    for (int i = 0; i < 12000; i++) {
        struct result r;
        make_result(&r, &cfg->targets[0], old + i, false, WSAECONNREFUSED);
        store_submit(st, &r);
    }
    store_close(st);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM failures"), 12000);
    st = store_open(path, cfg, err, sizeof(err));
    UNIT_CHECK(st != NULL);
    if (st == NULL)
        return;
    store_close(st);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM failures"), 0);
    free_config(cfg);
}

/* Rows of the history that disagree, in one read transaction (a state
 * a reader can see): a target's hour whose failure rows are not its hour
 * row's count (in all or by code), failure rows without their hour row,
 * minutes of a target's hour that do not add up to its hour row. */
static int64_t disagreements(const char *path)
{
    static const char *const sql[] = {
        "SELECT count(*) FROM rollup_hour AS h WHERE h.failures <> (SELECT count(*) FROM "
        "failures AS f WHERE f.target_id = h.target_id AND f.ts >= h.hour AND "
        "f.ts < h.hour + 3600000)",
        "SELECT count(*) FROM rollup_hour_code AS c WHERE c.count <> (SELECT count(*) FROM "
        "failures AS f WHERE f.target_id = c.target_id AND f.wsa_code = c.wsa_code AND "
        "f.ts >= c.hour AND f.ts < c.hour + 3600000)",
        "SELECT count(*) FROM failures AS f WHERE NOT EXISTS (SELECT 1 FROM rollup_hour AS h "
        "WHERE h.hour = f.ts - f.ts % 3600000 AND h.target_id = f.target_id)",
        "SELECT count(*) FROM (SELECT minute - minute % 3600000 AS hour, target_id, "
        "sum(attempts) AS a, sum(failures) AS n FROM rollup_minute GROUP BY 1, 2) AS m "
        "LEFT JOIN rollup_hour AS h USING (hour, target_id) WHERE h.attempts IS NOT m.a OR "
        "h.failures IS NOT m.n",
    };
    sqlite3 *db;
    int64_t bad = 0;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return -1;
    }
    for (size_t i = 0; i < ND_ARRAY_LEN(sql); i++) {
        sqlite3_stmt *s;
        if (sqlite3_prepare_v2(db, sql[i], -1, &s, NULL) != SQLITE_OK) {
            fprintf(stderr, "%s: %s\n", sql[i], sqlite3_errmsg(db));
            bad = -1;
            break;
        }
        if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_int64(s, 0) != 0) {
            fprintf(stderr, "disagree (%zu): %lld\n", i, (long long)sqlite3_column_int64(s, 0));
            bad += sqlite3_column_int64(s, 0);
        }
        sqlite3_finalize(s);
    }
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(db);
    return bad;
}

/* Opens the store on path (its first retention pass starts at once) and
 * watches it prune until `done` (an SQL count) is 0: every state seen has
 * a history that agrees with itself. Bounded: 20 s. */
static void watch_prune(const char *path, struct config *cfg, const char *done)
{
    char err[512];
    struct store *st = store_open(path, cfg, err, sizeof(err));
    int64_t left = -1, looks = 0;

    UNIT_CHECK(st != NULL);
    if (st == NULL) {
        fprintf(stderr, "store_open: %s\n", err);
        return;
    }
    for (int i = 0; i < 2000 && (left = q_int(path, done)) != 0; i++, looks++) {
        UNIT_EQ_INT(disagreements(path), 0);
        usleep(10 * 1000);
    }
    UNIT_EQ_INT(left, 0);
    store_close(st);
    UNIT_EQ_INT(disagreements(path), 0);
    (void)looks;
}

/* Retention deletes whole hours: the hour the cut falls in stays whole,
 * its rows before the cut too, until the hour has ended `retention` ago;
 * the hour before goes, every table of it. */
static void test_retention_whole_hours(void)
{
    char path[128], err[512];
    struct config *cfg = make_config(2, three);
    struct store *st;
    int64_t now = util_now_ms(), hour = 3600 * 1000LL, min = 60 * 1000LL;
    int64_t h = now - now % hour - 3 * hour; /* the cut at h + 30 min */
    const int64_t at[] = {h - 20 * min, h + 10 * min, h + 40 * min, now - 10 * min};

    snprintf(path, sizeof(path), "%s", db_path());
    st = store_open(path, cfg, err, sizeof(err));
    UNIT_CHECK(st != NULL);
    if (st == NULL) {
        free_config(cfg);
        return;
    }
    UNIT_EQ_INT(store_sync_targets(st, cfg), 0);
    for (size_t a = 0; a < ND_ARRAY_LEN(at); a++) {
        for (int i = 0; i < 100; i++) {
            struct result r;
            make_result(&r, &cfg->targets[i % 2], at[a] + i * 100, i % 4 == 0, WSAECONNREFUSED);
            store_submit(st, &r);
        }
    }
    store_close(st);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM failures"), 4 * 75);
    cfg->retention_ms = now - (h + 30 * min);
    watch_prune(path, cfg,
                "SELECT count(*) FROM rollup_hour WHERE hour < (SELECT max(hour) - "
                "3 * 3600000 FROM rollup_hour)");
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM failures"), 3 * 75);
    {
        char sql[256];
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM failures WHERE ts < %" PRId64,
                 now - cfg->retention_ms);
        UNIT_EQ_INT(q_int(path, sql), 75); /* older than retention, its hour not yet */
        snprintf(sql, sizeof(sql), "SELECT min(hour) FROM rollup_hour");
        UNIT_EQ_INT(q_int(path, sql), h);
        snprintf(sql, sizeof(sql), "SELECT min(minute) FROM rollup_minute");
        UNIT_EQ_INT(q_int(path, sql), h + 10 * min);
    }
    UNIT_EQ_INT(q_int(path, "SELECT sum(attempts) FROM rollup_hour"), 3 * 100);
    UNIT_EQ_INT(q_int(path, "SELECT sum(attempts) FROM rollup_minute"), 3 * 100);
    free_config(cfg);
}

/* An hour too large for one transaction goes a few targets at a time,
 * each target's hour whole in every table at every commit: the history
 * (failures and rollups, beyond retention) and the minute counts (beyond
 * 7 days, the hour counts staying). */
static void test_retention_units_agree(void)
{
    char path[128], err[512];
    char(*names)[16] = calloc(100, sizeof(*names));
    const char *ptrs[100];
    struct config *cfg;
    struct store *st;
    int64_t now = util_now_ms(), hour = 3600 * 1000LL, day = 24 * hour;
    int64_t old = now - now % hour - 40 * day, week = now - now % hour - 10 * day;

    for (int i = 0; i < 100; i++) {
        snprintf(names[i], sizeof(names[i]), "t%02d", i);
        ptrs[i] = names[i];
    }
    cfg = make_config(100, ptrs);
    snprintf(path, sizeof(path), "%s", db_path());
    st = store_open(path, cfg, err, sizeof(err));
    UNIT_CHECK(st != NULL);
    if (st == NULL) {
        free_config(cfg);
        free(names);
        return;
    }
    UNIT_EQ_INT(store_sync_targets(st, cfg), 0);
    /* 40 days ago: 3 targets, 2500 failures each in one hour */
    for (int i = 0; i < 7500; i++) {
        struct result r;
        make_result(&r, &cfg->targets[i % 3], old + i * 400, false,
                    i % 7 == 0 ? WSAETIMEDOUT : WSAECONNREFUSED);
        store_submit(st, &r);
    }
    /* 10 days ago: 100 targets, one attempt a minute for an hour */
    for (int m = 0; m < 60; m++) {
        for (int t = 0; t < 100; t++) {
            struct result r;
            make_result(&r, &cfg->targets[t], week + m * 60000 + t, (m + t) % 5 != 0,
                        WSAECONNREFUSED);
            store_submit(st, &r);
        }
    }
    store_close(st);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM failures"), 7500 + 1200);
    UNIT_EQ_INT(disagreements(path), 0);
    watch_prune(path, cfg,
                "SELECT (SELECT count(*) FROM failures WHERE ts < unixepoch() * 1000 - 30 * "
                "86400000) + (SELECT count(*) FROM rollup_minute WHERE minute < unixepoch() * "
                "1000 - 7 * 86400000)");
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM failures"), 1200);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM rollup_minute_code"), 0);
    UNIT_EQ_INT(q_int(path, "SELECT sum(attempts) FROM rollup_hour"), 6000);
    UNIT_EQ_INT(q_int(path, "SELECT sum(count) FROM rollup_hour_code"), 1200);
    /* the commits of the rows deleted went with them */
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM commits AS c WHERE NOT EXISTS (SELECT 1 FROM "
                            "failures AS f WHERE f.batch = c.id)"),
                0);
    free_config(cfg);
    free(names);
}

static void test_reader_while_writing(void)
{
    char path[128], err[512];
    struct config *cfg = make_config(1, three);
    struct store *st;
    sqlite3 *ro;
    int64_t base = util_now_ms();

    snprintf(path, sizeof(path), "%s", db_path());
    st = store_open(path, cfg, err, sizeof(err));
    UNIT_CHECK(st != NULL);
    if (st == NULL) {
        free_config(cfg);
        return;
    }
    UNIT_EQ_INT(store_sync_targets(st, cfg), 0);
    /* a reader in the middle of a read transaction does not block the
     * writer (WAL) */
    UNIT_EQ_INT(sqlite3_open_v2(path, &ro, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    UNIT_EQ_INT(sqlite3_exec(ro, "BEGIN; SELECT count(*) FROM failures", NULL, NULL, NULL),
                SQLITE_OK);
    for (int i = 0; i < 6000; i++) {
        struct result r;
        make_result(&r, &cfg->targets[0], base + i, false, WSAECONNREFUSED);
        store_submit(st, &r);
    }
    store_stop(st);
    {
        struct store_stats ss;
        store_get_stats(st, &ss);
        UNIT_EQ_INT(ss.rows_written, 6000);
        UNIT_EQ_INT(ss.dropped, 0);
    }
    sqlite3_exec(ro, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(ro);
    store_close(st);
    UNIT_EQ_INT(q_int(path, "SELECT count(*) FROM failures"), 6000);
    free_config(cfg);
}

int main(int argc, char **argv)
{
    unit_init(argc, argv);
    log_set_fd(unit_log_fd());
    log_init(LOG_LEVEL_ERROR);
    umask(022);
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_store.XXXXXX");
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    UNIT_RUN(test_schema_matches_file);
    UNIT_RUN(test_roundtrip);
    UNIT_RUN(test_targets_retire);
    UNIT_RUN(test_newer_version_refused);
    UNIT_RUN(test_foreign_refused);
    UNIT_RUN(test_garbage_refused);
    UNIT_RUN(test_corrupt_refused);
    UNIT_RUN(test_failed_migration_rolls_back);
    UNIT_RUN(test_addresses_roundtrip);
    UNIT_RUN(test_intern_survives_rollback);
    UNIT_RUN(test_migrate_v1);
    UNIT_RUN(test_migrate_v1_fails_whole);
    UNIT_RUN(test_migrate_v2);
    UNIT_RUN(test_migrate_v2_fails_whole);
    UNIT_RUN(test_migrate_v3);
    UNIT_RUN(test_migrate_v3_fails_whole);
    UNIT_RUN(test_migrate_v4);
    UNIT_RUN(test_migrate_v4_fails_whole);
    UNIT_RUN(test_migrate_v6);
    UNIT_RUN(test_latency_rollups);
    UNIT_RUN(test_damaged_hist_replaced);
    UNIT_RUN(test_commits);
    UNIT_RUN(test_runs_heartbeat);
    UNIT_RUN(test_second_open_refused);
    UNIT_RUN(test_symlinks_refused);
    UNIT_RUN(test_shared_dir_refused);
    UNIT_RUN(test_foreign_owner_refused);
    UNIT_RUN(test_alert_ids_from_elsewhere);
    UNIT_RUN(test_locked_at_open);
    UNIT_RUN(test_unwritable_refused);
    UNIT_RUN(test_missing_dir_refused);
    UNIT_RUN(test_locked_queue_overflow);
    UNIT_RUN(test_unsynced_dropped);
    UNIT_RUN(test_retention);
    UNIT_RUN(test_retention_backlog);
    UNIT_RUN(test_retention_whole_hours);
    UNIT_RUN(test_retention_units_agree);
    UNIT_RUN(test_reader_while_writing);
    {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", tmpdir);
    }
    return UNIT_END("test_store");
}
