/* SPDX-License-Identifier: ISC */
/* The SQLite history: opening, checking and migrating the database,
 * recording the targets, and the loop thread's side of the bounded queue
 * (the writer thread behind it is store_writer.c). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "array.h"
#include "log.h"
#include "ndb.h"
#include "notify.h"
#include "store.h"
#include "store_int.h"
#include "util.h"
#include "wsa.h"

#define STORE_BUSY_CTL_MS    5000
#define STORE_BUSY_WRITER_MS 1000
/* quick_check reads the whole file; above this size only the header and
 * schema are checked at open (corruption then shows as errors later). */
#define STORE_QUICK_CHECK_MAX_BYTES (256 * 1024 * 1024LL)
#define STORE_JOURNAL_LIMIT_BYTES   (64 * 1024 * 1024LL)
/* Alert ids a start must be able to hand out (one per firing). */
#define STORE_ALERT_IDS_MIN 1000000000LL

/* SQL of enum store_ctl. */
static const char *const store_ctl_sql[CTL__COUNT] = {
    [CTL_BEGIN] = "BEGIN IMMEDIATE",
    [CTL_COMMIT] = "COMMIT",
    [CTL_ROLLBACK] = "ROLLBACK",
    [CTL_UPSERT_CODE] = "INSERT INTO wsa_codes (code, name, meaning, explanation, os_dependent) "
                        "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (code) DO UPDATE SET "
                        "name = excluded.name, meaning = excluded.meaning, "
                        "explanation = excluded.explanation, os_dependent = excluded.os_dependent "
                        "WHERE (name, meaning, explanation, os_dependent) IS NOT "
                        "(excluded.name, excluded.meaning, excluded.explanation, "
                        "excluded.os_dependent)",
    [CTL_LIST_CODES] = "SELECT code FROM wsa_codes",
    [CTL_DELETE_CODE] = "DELETE FROM wsa_codes WHERE code = ?1",
    [CTL_UPSERT_TARGET] =
        "INSERT INTO targets (name, kind, host, port, protocol, qname, qtype, server, family, "
        "interval_ms, timeout_ms, created, updated, retired) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, NULL) "
        "ON CONFLICT (name) DO UPDATE SET "
        "updated = CASE WHEN (kind, host, port, protocol, qname, qtype, server, family, "
        "interval_ms, timeout_ms) IS NOT (excluded.kind, excluded.host, excluded.port, "
        "excluded.protocol, excluded.qname, excluded.qtype, excluded.server, excluded.family, "
        "excluded.interval_ms, excluded.timeout_ms) THEN excluded.updated ELSE updated END, "
        "kind = excluded.kind, host = excluded.host, port = excluded.port, "
        "protocol = excluded.protocol, qname = excluded.qname, qtype = excluded.qtype, "
        "server = excluded.server, family = excluded.family, interval_ms = excluded.interval_ms, "
        "timeout_ms = excluded.timeout_ms, retired = NULL RETURNING id",
    [CTL_LIST_ACTIVE] = "SELECT id, name FROM targets WHERE retired IS NULL",
    [CTL_RETIRE_TARGET] = "UPDATE targets SET retired = ?2 WHERE id = ?1",
    [CTL_MAX_ALERT_ID] = "SELECT coalesce(max(id), 0) FROM alerts",
    [CTL_LIST_FIRING_ALERTS] =
        "SELECT a.id, a.target_id, a.wsa_code, a.started, a.count, a.peak, a.baseline, "
        "a.attempts, a.last_notified, a.detail, t.name, a.metric, a.value FROM alerts AS a "
        "LEFT JOIN targets AS t ON t.id = a.target_id WHERE a.resolved IS NULL ORDER BY a.id",
    [CTL_BASELINES] =
        "SELECT c.target_id, c.wsa_code, sum(c.count), (SELECT count(*) FROM rollup_minute AS m "
        "WHERE m.target_id = c.target_id AND m.minute >= ?1 AND m.attempts > 0) "
        "FROM rollup_minute_code AS c WHERE c.minute >= ?1 GROUP BY c.target_id, c.wsa_code",
    [CTL_INSERT_RUN] = "INSERT INTO runs (pid, hostname, version, config, started, "
                       "heartbeat, targets) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)",
};

static void store_finalize_all(sqlite3_stmt **s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        sqlite3_finalize(s[i]);
        s[i] = NULL;
    }
}

/* Runs a pragma or other statement with sqlite3_exec; logs nothing. */
static int store_exec(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* ---- open: checks before anything is written ---- */

/* Looks at an existing file through a read-only connection, which can
 * neither checkpoint nor roll back a journal into it: is it a netdiag
 * database of a version we know, or an empty file? *fresh is set for an
 * empty database. Without a -wal file beside it, the file is opened as
 * immutable, so not even -wal and -shm files are left behind when it is
 * refused. */
static int store_inspect(const char *path, const char *cpath, bool *fresh, char *err, size_t errlen)
{
    sqlite3 *ro = NULL;
    struct ndb_ids ids;
    int64_t npages = 0, page_size = 0;
    int rc, ret = -1;
    struct stat sb;
    char side[PATH_MAX + 8], uri[3 * PATH_MAX + 32];

    *fresh = false;
    snprintf(side, sizeof(side), "%s-wal", cpath);
    if (access(side, F_OK) < 0 && errno == ENOENT) {
        ndb_uri(cpath, "?immutable=1", uri, sizeof(uri));
        rc = sqlite3_open_v2(uri, &ro,
                             SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI |
                                 SQLITE_OPEN_NOFOLLOW,
                             NULL);
    } else {
        rc = sqlite3_open_v2(
            cpath, &ro, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW, NULL);
    }
    if (rc != SQLITE_OK) {
        int e = ro ? sqlite3_system_errno(ro) : 0;
        store_err(err, errlen, path, "cannot open: %s%s%s", ro ? sqlite3_errmsg(ro) : "",
                  e ? ": " : "", e ? strerror(e) : "");
        goto out;
    }
    sqlite3_db_config(ro, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
    sqlite3_busy_timeout(ro, STORE_BUSY_CTL_MS);
    if ((rc = ndb_read_ids(ro, &ids)) != SQLITE_OK ||
        (rc = ndb_int(ro, "PRAGMA page_count", &npages)) != SQLITE_OK ||
        (rc = ndb_int(ro, "PRAGMA page_size", &page_size)) != SQLITE_OK) {
        if (rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT)
            store_err(err, errlen, path, "not an SQLite database or corrupt (%s); left unchanged",
                      sqlite3_errmsg(ro));
        else
            store_err(err, errlen, path, "cannot read: %s", sqlite3_errmsg(ro));
        goto out;
    }
    switch (ndb_check(&ids, STORE_SCHEMA_VERSION)) {
    case NDB_EMPTY:
        *fresh = true;
        ret = 0;
        goto out;
    case NDB_FOREIGN:
        store_err(err, errlen, path,
                  "not a netdiag database (application_id %" PRId64 ", expected %d); "
                  "left unchanged",
                  ids.app_id, NDB_APPLICATION_ID);
        goto out;
    case NDB_TOO_NEW:
        store_err(err, errlen, path,
                  "schema version %" PRId64 " is newer than this netdiagd knows (%d); "
                  "upgrade netdiagd; left unchanged",
                  ids.version, STORE_SCHEMA_VERSION);
        goto out;
    case NDB_NO_VERSION:
        store_err(err, errlen, path, "netdiag database without a schema version; left unchanged");
        goto out;
    case NDB_OURS:
        break;
    }
    if (stat(cpath, &sb) == 0 && sb.st_size <= STORE_QUICK_CHECK_MAX_BYTES &&
        npages * page_size <= STORE_QUICK_CHECK_MAX_BYTES) {
        sqlite3_stmt *s;
        if (sqlite3_prepare_v2(ro, "PRAGMA quick_check(1)", -1, &s, NULL) != SQLITE_OK) {
            store_err(err, errlen, path, "corrupt (%s); left unchanged", sqlite3_errmsg(ro));
            goto out;
        }
        rc = sqlite3_step(s);
        /* NULL text: out of memory, or a row that is not text */
        const char *res = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(s, 0) : NULL;
        if (res == NULL || strcmp(res, "ok") != 0) {
            store_err(err, errlen, path, "corrupt (quick_check: %s); left unchanged",
                      res != NULL ? res : sqlite3_errmsg(ro));
            sqlite3_finalize(s);
            goto out;
        }
        sqlite3_finalize(s);
    }
    ret = 0;
out:
    sqlite3_close(ro);
    return ret;
}

/* Per-connection settings. The WAL is kept when the daemon exits so a
 * client without write access to the directory can still read. */
static int store_configure(sqlite3 *db, int busy_ms)
{
    int persist = 1;
    char sql[96];

    sqlite3_busy_timeout(db, busy_ms);
    sqlite3_extended_result_codes(db, 1);
    if (sqlite3_file_control(db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist) != SQLITE_OK)
        return -1;
    snprintf(sql, sizeof(sql), "PRAGMA journal_size_limit = %lld", STORE_JOURNAL_LIMIT_BYTES);
    if (store_exec(db, "PRAGMA synchronous = NORMAL") != SQLITE_OK ||
        store_exec(db, sql) != SQLITE_OK)
        return -1;
    return 0;
}

static int store_refresh_codes(struct store *st, char *err, size_t errlen)
{
    sqlite3_stmt *up = st->ctl_stmt[CTL_UPSERT_CODE], *ls = st->ctl_stmt[CTL_LIST_CODES];
    int rc;

    for (size_t i = 0; i < wsa_table_len; i++) {
        const struct wsa_code *c = &wsa_table[i];
        sqlite3_bind_int(up, 1, c->code);
        sqlite3_bind_text(up, 2, c->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(up, 3, c->meaning, -1, SQLITE_STATIC);
        sqlite3_bind_text(up, 4, c->explanation ? c->explanation : "", -1, SQLITE_STATIC);
        sqlite3_bind_int(up, 5, c->os_dependent ? 1 : 0);
        if (store_step_done(up) != SQLITE_OK)
            goto fail;
    }
    /* codes no longer in the table; collected first, the table is small */
    for (;;) {
        int64_t stale = 0;
        while ((rc = sqlite3_step(ls)) == SQLITE_ROW) {
            if (wsa_by_code(sqlite3_column_int(ls, 0)) == NULL) {
                stale = sqlite3_column_int64(ls, 0);
                break;
            }
        }
        sqlite3_reset(ls);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            goto fail;
        if (stale == 0)
            break;
        sqlite3_bind_int64(st->ctl_stmt[CTL_DELETE_CODE], 1, stale);
        if (store_step_done(st->ctl_stmt[CTL_DELETE_CODE]) != SQLITE_OK)
            goto fail;
    }
    return 0;
fail:
    store_err(err, errlen, st->path, "cannot refresh wsa_codes: %s", sqlite3_errmsg(st->ctl));
    return -1;
}

/* The first alert id to hand out, read in the open transaction. */
static int store_read_alert_ids(struct store *st, char *err, size_t errlen)
{
    int rc;
    int64_t max_id = store_step_int(st->ctl_stmt[CTL_MAX_ALERT_ID], &rc);

    if (rc != SQLITE_OK) {
        store_err(err, errlen, st->path, "cannot read the alerts: %s", sqlite3_errmsg(st->ctl));
        return -1;
    }
    /* ids are ours, from 1 up; a row someone else wrote may hold any
     * integer, the largest one included */
    if (max_id >= INT64_MAX - STORE_ALERT_IDS_MIN) {
        store_err(err, errlen, st->path,
                  "alerts.id %" PRId64 " leaves no room for new alert ids (not written by "
                  "netdiagd); renumber or delete that row",
                  max_id);
        return -1;
    }
    st->alert_next_id = (max_id > 0 ? max_id : 0) + 1;
    return 0;
}

/* This start's row of runs, in the open transaction: a second netdiagd
 * that finds the database locked reads the pid from it. */
static int store_insert_run(struct store *st, char *err, size_t errlen)
{
    sqlite3_stmt *s = st->ctl_stmt[CTL_INSERT_RUN];
    size_t ntargets;

    pthread_mutex_lock(&st->mu);
    ntargets = st->ntargets;
    pthread_mutex_unlock(&st->mu);
    sqlite3_bind_int64(s, 1, st->run.pid);
    sqlite3_bind_text(s, 2, st->run.hostname, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, NETDIAG_VERSION, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, st->run.config, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, st->run.started_ms);
    sqlite3_bind_int64(s, 6, (int64_t)ntargets);
    if (store_step_done(s) != SQLITE_OK) {
        store_err(err, errlen, st->path, "cannot record this start in runs: %s",
                  sqlite3_errmsg(st->ctl));
        return -1;
    }
    st->run.id = sqlite3_last_insert_rowid(st->ctl);
    st->stats.run_id = st->run.id;
    return 0;
}

/* In one BEGIN IMMEDIATE transaction: check the header again (another
 * process may have got there first), create or migrate, stamp the
 * version, refresh wsa_codes. Any failure rolls all of it back. */
/* systemd stops a start that takes longer than TimeoutStartSec (90 s by
 * default), and migrating tens of millions of failures can take longer:
 * while SQLite works, ask for 30 s more every 10 s (EXTEND_TIMEOUT_USEC;
 * nothing without $NOTIFY_SOCKET). */
#define STORE_EXTEND_EVERY_US 10000000LL
#define STORE_EXTEND_BY_US    30000000LL

static int store_migrate_progress(void *arg)
{
    int64_t *next_us = arg;
    int64_t now = util_mono_us();

    if (now >= *next_us) {
        notify_send("EXTEND_TIMEOUT_USEC=%lld", STORE_EXTEND_BY_US);
        *next_us = now + STORE_EXTEND_EVERY_US;
    }
    return 0;
}

static int store_migrate(struct store *st, char *err, size_t errlen)
{
    sqlite3 *db = st->ctl;
    struct ndb_ids ids;
    enum ndb_kind kind;
    char sql[96];
    int rc;

    if ((rc = store_exec(db, "BEGIN IMMEDIATE")) != SQLITE_OK) {
        if ((rc & 0xff) == SQLITE_BUSY)
            store_err(err, errlen, st->path,
                      "locked by another process (sqlite3, a backup?) that held its write lock "
                      "for more than %d s; left unchanged, try again",
                      STORE_BUSY_CTL_MS / 1000);
        else
            store_err(err, errlen, st->path, "cannot begin: %s", sqlite3_errmsg(db));
        return -1;
    }
    if (ndb_read_ids(db, &ids) != SQLITE_OK) {
        store_err(err, errlen, st->path, "cannot read: %s", sqlite3_errmsg(db));
        goto fail;
    }
    kind = ndb_check(&ids, STORE_SCHEMA_VERSION);
    if (kind == NDB_EMPTY) {
        if (store_exec(db, store_schema_sql) != SQLITE_OK) {
            store_err(err, errlen, st->path, "cannot create the schema: %s", sqlite3_errmsg(db));
            goto fail;
        }
        log_info("database %s: created, schema version %d", st->path, STORE_SCHEMA_VERSION);
    } else if (kind != NDB_OURS) {
        store_err(err, errlen, st->path,
                  "changed while opening (application_id %" PRId64 ", version %" PRId64
                  "); left unchanged",
                  ids.app_id, ids.version);
        goto fail;
    } else {
        /* A new database gets store_schema_sql, always the newest; an
         * older one each migration after its version, in order. */
        int64_t next_us = util_mono_us() + STORE_EXTEND_EVERY_US;
        for (int v = (int)ids.version + 1; v <= STORE_SCHEMA_VERSION; v++) {
            const char *m = store_migration_sql[v];
            log_info("database %s: migrating from schema version %d to %d (about 4 s per "
                     "million failures)",
                     st->path, v - 1, v);
            notify_send("STATUS=migrating the database to schema version %d", v);
            sqlite3_progress_handler(db, 100000, store_migrate_progress, &next_us);
            rc = m != NULL ? store_exec(db, m) : SQLITE_ERROR;
            sqlite3_progress_handler(db, 0, NULL, NULL);
            if (rc != SQLITE_OK) {
                store_err(err, errlen, st->path, "migration from version %d to %d failed: %s",
                          v - 1, v, m ? sqlite3_errmsg(db) : "no migration in this build");
                goto fail;
            }
            log_info("database %s: migrated from schema version %d to %d", st->path, v - 1, v);
        }
    }
    snprintf(sql, sizeof(sql), "PRAGMA application_id = %d", NDB_APPLICATION_ID);
    if (store_exec(db, sql) != SQLITE_OK) {
        store_err(err, errlen, st->path, "cannot stamp: %s", sqlite3_errmsg(db));
        goto fail;
    }
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", STORE_SCHEMA_VERSION);
    if (store_exec(db, sql) != SQLITE_OK) {
        store_err(err, errlen, st->path, "cannot stamp: %s", sqlite3_errmsg(db));
        goto fail;
    }
    if (store_prepare_all(db, store_ctl_sql, st->ctl_stmt, CTL__COUNT, st->path, err, errlen) < 0 ||
        store_refresh_codes(st, err, errlen) < 0 || store_read_alert_ids(st, err, errlen) < 0 ||
        store_insert_run(st, err, errlen) < 0)
        goto fail;
    if (store_exec(db, "COMMIT") != SQLITE_OK) {
        store_err(err, errlen, st->path, "cannot commit: %s", sqlite3_errmsg(db));
        goto fail;
    }
    return 0;
fail:
    store_finalize_all(st->ctl_stmt, CTL__COUNT);
    if (!sqlite3_get_autocommit(db))
        store_exec(db, "ROLLBACK");
    {
        size_t l = strlen(err);
        snprintf(err + l, errlen - l, "; rolled back, left unchanged");
    }
    return -1;
}

/* A read-write connection to cpath, which has no link in it (the check
 * is SQLite's too: SQLITE_OPEN_NOFOLLOW); messages name path. */
static sqlite3 *store_connect(const char *path, const char *cpath, int busy_ms, char *err,
                              size_t errlen)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(
        cpath, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW, NULL);

    if (rc != SQLITE_OK) {
        int e = db ? sqlite3_system_errno(db) : 0;
        store_err(err, errlen, path, "cannot open for writing: %s%s%s",
                  db ? sqlite3_errmsg(db) : "out of memory", e ? ": " : "", e ? strerror(e) : "");
        sqlite3_close(db);
        return NULL;
    }
    if (sqlite3_db_readonly(db, "main") == 1) {
        store_err(err, errlen, path, "not writable by this user (uid %ld); left unchanged",
                  (long)geteuid());
        sqlite3_close(db);
        return NULL;
    }
    if (store_configure(db, busy_ms) < 0) {
        store_err(err, errlen, path, "cannot configure: %s", sqlite3_errmsg(db));
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

/* Closes everything; with remove, deletes the files this open created
 * first (while the lock is still held). */
static void store_free(struct store *st, bool remove)
{
    if (st == NULL)
        return;
    store_finalize_all(st->stmt, STMT__COUNT);
    store_finalize_all(st->prune_stmt, PRUNE__COUNT);
    store_finalize_all(st->ctl_stmt, CTL__COUNT);
    /* the writer's connection first: the last close checkpoints the WAL */
    sqlite3_close(st->db);
    sqlite3_close(st->ctl);
    if (remove)
        store_file_remove(&st->file);
    /* the lock last, once SQLite is done with the file */
    store_file_close(&st->file);
    pthread_cond_destroy(&st->cond);
    pthread_mutex_destroy(&st->mu);
    free(st->ring);
    free(st->aq);
    free(st->acc);
    free(st->acc_slot);
    free(st->lat_keys);
    free(st->lat_buckets);
    store_writer_free(st);
    free(st->path);
    free(st);
}

/* Who is starting: pid, host name, the config file's absolute path. */
static void store_run_init(struct store_run *run, const struct config *cfg)
{
    char abs[PATH_MAX];

    run->pid = (int64_t)getpid();
    run->started_ms = util_now_ms();
    if (gethostname(run->hostname, sizeof(run->hostname)) < 0)
        util_strlcpy(run->hostname, "localhost", sizeof(run->hostname));
    run->hostname[sizeof(run->hostname) - 1] = '\0';
    run->config[0] = '\0';
    if (cfg == NULL || cfg->path == NULL)
        return;
    if (realpath(cfg->path, abs) != NULL)
        util_strlcpy(run->config, abs, sizeof(run->config));
    else if (cfg->path[0] == '/' || getcwd(abs, sizeof(abs)) == NULL ||
             snprintf(run->config, sizeof(run->config), "%s/%s", abs, cfg->path) >=
                 (int)sizeof(run->config))
        util_strlcpy(run->config, cfg->path, sizeof(run->config));
}

struct store *store_open(const char *path, const struct config *cfg, char *err, size_t errlen)
{
    struct store *st = NULL;
    bool fresh = false;
    pthread_condattr_t ca;
    sigset_t all, old;

    if (path == NULL || path[0] == '\0') {
        snprintf(err, errlen, "database: no path configured");
        return NULL;
    }
    st = calloc(1, sizeof(*st));
    if (st == NULL || (st->path = strdup(path)) == NULL) {
        free(st);
        store_err(err, errlen, path, "out of memory");
        return NULL;
    }
    if (store_file_open(path, &st->file, err, errlen) < 0) {
        free(st->path);
        free(st);
        return NULL;
    }
    if (store_inspect(path, st->file.cpath, &fresh, err, errlen) < 0) {
        store_file_remove(&st->file);
        store_file_close(&st->file);
        free(st->path);
        free(st);
        return NULL;
    }
    pthread_mutex_init(&st->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&st->cond, &ca);
    pthread_condattr_destroy(&ca);
    st->retention_ms = cfg ? cfg->retention_ms : 0;
    st->ntargets = cfg ? cfg->ntargets : 0;
    store_run_init(&st->run, cfg);
    st->cap = STORE_QUEUE_MAX;
    st->ring = calloc(st->cap, sizeof(*st->ring));
    st->aq = calloc(STORE_ALERT_QUEUE_MAX, sizeof(*st->aq));
    st->acc = calloc(STORE_ACC_MAX, sizeof(*st->acc));
    st->acc_slot = malloc(STORE_ACC_SLOTS * sizeof(*st->acc_slot));
    st->lat_keys = malloc(STORE_BATCH_MAX * sizeof(*st->lat_keys));
    st->lat_buckets = malloc(STORE_BATCH_MAX * sizeof(*st->lat_buckets));
    if (st->ring == NULL || st->aq == NULL || st->acc == NULL || st->acc_slot == NULL ||
        st->lat_keys == NULL || st->lat_buckets == NULL) {
        store_err(err, errlen, path, "out of memory");
        goto fail;
    }

    st->ctl = store_connect(path, st->file.cpath, STORE_BUSY_CTL_MS, err, errlen);
    if (st->ctl == NULL)
        goto fail;
    if (fresh && store_exec(st->ctl, "PRAGMA auto_vacuum = INCREMENTAL") != SQLITE_OK) {
        store_err(err, errlen, path, "cannot set auto_vacuum: %s", sqlite3_errmsg(st->ctl));
        goto fail;
    }
    {
        sqlite3_stmt *s;
        const char *mode = NULL;
        if (sqlite3_prepare_v2(st->ctl, "PRAGMA journal_mode = WAL", -1, &s, NULL) == SQLITE_OK) {
            if (sqlite3_step(s) == SQLITE_ROW)
                mode = (const char *)sqlite3_column_text(s, 0);
            if (mode == NULL || strcmp(mode, "wal") != 0) {
                store_err(err, errlen, path, "cannot switch to WAL mode: %s",
                          mode ? mode : sqlite3_errmsg(st->ctl));
                sqlite3_finalize(s);
                goto fail;
            }
            sqlite3_finalize(s);
        } else {
            store_err(err, errlen, path, "cannot switch to WAL mode: %s", sqlite3_errmsg(st->ctl));
            goto fail;
        }
    }
    if (store_migrate(st, err, errlen) < 0)
        goto fail;

    st->db = store_connect(path, st->file.cpath, STORE_BUSY_WRITER_MS, err, errlen);
    if (st->db == NULL)
        goto fail;
    if (store_file_changed(&st->file) != 0) {
        store_err(err, errlen, path, "replaced while opening; try again");
        goto fail;
    }
    /* KiB: room for the indexes' hot pages. The (target_id, ts) index takes
     * each batch's rows at one leaf per target: with 2,000 targets failing
     * 60 times a second an 8 MiB cache read pages back between batches and
     * the writer fell behind (bench: drops at 126k rows/s; none at 32 MiB).
     * SQLite fills it only as pages are used. */
    store_exec(st->db, "PRAGMA cache_size = -32768");
    if (store_writer_prepare(st, err, errlen) < 0)
        goto fail;

    st->stats.writable = true;
    /* the writer takes no signals: they belong to the loop thread */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    st->stats.writer_alive_us = util_mono_us();
    errno = pthread_create(&st->thread, NULL, store_writer_main, st);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (errno != 0) {
        store_err(err, errlen, path, "cannot start the writer thread: %s", strerror(errno));
        goto fail;
    }
    st->thread_started = true;
    return st;
fail : {
    /* let the last close remove the -wal and -shm this call made */
    int persist = 0;
    if (st->db)
        sqlite3_file_control(st->db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
    if (st->ctl)
        sqlite3_file_control(st->ctl, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
}
    store_free(st, true);
    return NULL;
}

/* ---- targets ---- */

static void store_bind_target(sqlite3_stmt *s, const struct target *t, int64_t now_ms)
{
    bool hostport = t->kind == KIND_CONNECT || t->kind == KIND_SEND;

    sqlite3_bind_text(s, 1, t->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, target_kind_name(t->kind), -1, SQLITE_STATIC);
    store_bind_text(s, 3, hostport || t->kind == KIND_PING ? t->host : NULL);
    if (hostport)
        sqlite3_bind_int(s, 4, t->port);
    else
        sqlite3_bind_null(s, 4);
    store_bind_text(s, 5, t->kind == KIND_SEND ? (t->protocol == PROTO_TCP ? "tcp" : "udp") : NULL);
    if (t->kind == KIND_RESOLVE) {
        store_bind_text(s, 6, t->qname);
        store_bind_text(s, 7, config_qtype_name(t->qtype));
        store_bind_text(s, 8, t->server_system ? "system" : t->server_str);
    } else {
        sqlite3_bind_null(s, 6);
        sqlite3_bind_null(s, 7);
        sqlite3_bind_null(s, 8);
    }
    sqlite3_bind_text(s, 9, family_name(t->family), -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 10, t->interval_ms);
    sqlite3_bind_int64(s, 11, t->timeout_ms);
    sqlite3_bind_int64(s, 12, now_ms);
}

static int store_cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* upsert: record cfg's targets (ids); retire: mark the others retired.
 * A reload does the two apart, around its swap (store.h). */
static int store_sync(struct store *st, struct config *cfg, bool upsert, bool retire_others)
{
    sqlite3_stmt *up = st->ctl_stmt[CTL_UPSERT_TARGET], *ls = st->ctl_stmt[CTL_LIST_ACTIVE];
    int64_t now_ms = util_now_ms();
    int64_t *retire = NULL, *ids = NULL;
    size_t nretire = 0, cap_retire = 0;
    int rc;

    if ((rc = store_step_done(st->ctl_stmt[CTL_BEGIN])) != SQLITE_OK)
        goto fail;
    for (size_t i = 0; i < cfg->ntargets && upsert; i++) {
        struct target *t = &cfg->targets[i];
        store_bind_target(up, t, now_ms);
        rc = sqlite3_step(up);
        if (rc == SQLITE_ROW) {
            t->db_id = sqlite3_column_int64(up, 0);
            rc = sqlite3_step(up);
        }
        sqlite3_reset(up);
        sqlite3_clear_bindings(up);
        if (rc != SQLITE_DONE)
            goto fail;
    }
    if (!retire_others)
        goto commit;
    /* collected first: updating the table while stepping over it is legal
     * in SQLite but may visit rows twice */
    ids = malloc((cfg->ntargets ? cfg->ntargets : 1) * sizeof(*ids));
    if (ids == NULL) {
        rc = SQLITE_NOMEM;
        goto fail;
    }
    for (size_t i = 0; i < cfg->ntargets; i++)
        ids[i] = cfg->targets[i].db_id;
    qsort(ids, cfg->ntargets, sizeof(*ids), store_cmp_id); /* 100k targets: no n^2 */
    while ((rc = sqlite3_step(ls)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(ls, 0);
        if (bsearch(&id, ids, cfg->ntargets, sizeof(*ids), store_cmp_id) != NULL)
            continue;
        if (ARRAY_RESERVE(retire, cap_retire, nretire + 1) < 0) {
            rc = SQLITE_NOMEM;
            break;
        }
        retire[nretire++] = id;
        {
            const unsigned char *name = sqlite3_column_text(ls, 1);
            log_debug("database %s: target %s retired", st->path,
                      name ? (const char *)name : "(no name)");
        }
    }
    sqlite3_reset(ls);
    if (rc != SQLITE_DONE)
        goto fail;
    for (size_t i = 0; i < nretire; i++) {
        sqlite3_bind_int64(st->ctl_stmt[CTL_RETIRE_TARGET], 1, retire[i]);
        sqlite3_bind_int64(st->ctl_stmt[CTL_RETIRE_TARGET], 2, now_ms);
        if ((rc = store_step_done(st->ctl_stmt[CTL_RETIRE_TARGET])) != SQLITE_OK)
            goto fail;
    }
commit:
    if ((rc = store_step_done(st->ctl_stmt[CTL_COMMIT])) != SQLITE_OK)
        goto fail;
    /* only now: a reload that fails here keeps the old config whole */
    pthread_mutex_lock(&st->mu);
    st->retention_ms = cfg->retention_ms;
    st->ntargets = cfg->ntargets;
    pthread_mutex_unlock(&st->mu);
    free(retire);
    free(ids);
    return 0;
fail:
    log_error("database %s: cannot record the targets: %s", st->path,
              rc == SQLITE_NOMEM ? "out of memory" : sqlite3_errmsg(st->ctl));
    if (!sqlite3_get_autocommit(st->ctl))
        store_step_done(st->ctl_stmt[CTL_ROLLBACK]);
    free(retire);
    free(ids);
    return -1;
}

int store_sync_targets(struct store *st, struct config *cfg)
{
    return store_sync(st, cfg, true, true);
}

int store_upsert_targets(struct store *st, struct config *cfg)
{
    return store_sync(st, cfg, true, false);
}

int store_retire_targets(struct store *st, struct config *cfg)
{
    return store_sync(st, cfg, false, true);
}

/* ---- the loop thread's side of the queue ---- */

void store_submit(struct store *st, const struct result *res)
{
    int64_t target_id = res->target ? res->target->db_id : 0;
    bool wake = false;
    struct store_rec *rec;

    pthread_mutex_lock(&st->mu);
    st->stats.results_seen++;
    if (!res->ok)
        st->stats.failures_seen++;
    if (st->stopping || target_id <= 0 || st->count == st->cap) {
        st->stats.dropped++;
        if (target_id <= 0)
            st->dropped_unsynced++;
        else if (!st->stopping)
            st->dropped_full++;
        pthread_mutex_unlock(&st->mu);
        return;
    }
    rec = &st->ring[(st->head + st->count) % st->cap];
    rec->target_id = target_id;
    rec->res = *res;
    rec->res.target = NULL;
    if (st->count == 0) {
        st->first_us = util_mono_us();
        wake = true;
    }
    st->count++;
    if (st->count == STORE_BATCH_MAX)
        wake = true;
    pthread_mutex_unlock(&st->mu);
    /* the writer only needs to hear about the first result (to start the
     * batch clock) and a full batch */
    if (wake)
        pthread_cond_signal(&st->cond);
}

void store_get_stats(struct store *st, struct store_stats *out)
{
    pthread_mutex_lock(&st->mu);
    *out = st->stats;
    out->queue_depth = st->count;
    pthread_mutex_unlock(&st->mu);
}
void store_stop(struct store *st)
{
    if (st == NULL || !st->thread_started)
        return;
    pthread_mutex_lock(&st->mu);
    st->stopping = true;
    st->stop_deadline_us = util_mono_us() + STORE_CLOSE_TIMEOUT_US;
    st->retry_at_us = 0; /* try at once */
    pthread_cond_signal(&st->cond);
    pthread_mutex_unlock(&st->mu);
    pthread_join(st->thread, NULL);
    st->thread_started = false;
}

void store_close(struct store *st)
{
    if (st == NULL)
        return;
    store_stop(st);
    store_free(st, false);
}

/* ---- alerts: the loop thread's side ---- */

int64_t store_alert_new_id(struct store *st)
{
    return st->alert_next_id++;
}

void store_alert_put(struct store *st, const struct store_alert *a)
{
    pthread_mutex_lock(&st->mu);
    if (st->stopping || st->aq_count == STORE_ALERT_QUEUE_MAX) {
        st->aq_dropped++;
        pthread_mutex_unlock(&st->mu);
        return;
    }
    st->aq[(st->aq_head + st->aq_count) % STORE_ALERT_QUEUE_MAX] = *a;
    st->aq_count++;
    pthread_mutex_unlock(&st->mu);
    /* alerts are rare and people look for them at once: no batch delay */
    pthread_cond_signal(&st->cond);
}

/* The end of a read by sqlite3_step: the statement reset, and the last
 * step's rc logged, naming what was read, unless it is SQLITE_DONE.
 * 0, or -1 after an error. */
static int store_read_end(struct store *st, sqlite3_stmt *s, int rc, const char *what)
{
    sqlite3_reset(s);
    if (rc == SQLITE_DONE)
        return 0;
    log_error("database %s: cannot read %s: %s", st->path, what,
              rc == SQLITE_NOMEM ? "out of memory" : sqlite3_errmsg(st->ctl));
    return -1;
}

const char *const store_export_names[STORE_EXPORT__COUNT] = {
    [STORE_EXPORT_FAILURES] = "failures",
    [STORE_EXPORT_ROLLUPS] = "rollups",
    [STORE_EXPORT_ALERTS] = "alerts",
};

void store_export_put(struct store *st, enum store_export_stream s,
                      const struct store_export_pos *p)
{
    if ((unsigned)s >= STORE_EXPORT__COUNT)
        return;
    pthread_mutex_lock(&st->mu);
    st->export_pos[s] = *p;
    st->export_dirty[s] = true;
    pthread_mutex_unlock(&st->mu);
}

int store_load_alerts(struct store *st, struct store_alert **out, size_t *n)
{
    sqlite3_stmt *s = st->ctl_stmt[CTL_LIST_FIRING_ALERTS];
    struct store_alert *v = NULL;
    size_t cnt = 0, cap = 0;
    int rc;

    *out = NULL;
    *n = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_alert *a;
        const unsigned char *detail;
        if (ARRAY_RESERVE(v, cap, cnt + 1) < 0) {
            rc = SQLITE_NOMEM;
            break;
        }
        a = &v[cnt++];
        memset(a, 0, sizeof(*a));
        a->id = sqlite3_column_int64(s, 0);
        a->target_id = sqlite3_column_int64(s, 1); /* NULL reads as 0: host-wide */
        a->wsa_code = sqlite3_column_int(s, 2);
        a->started_ms = sqlite3_column_int64(s, 3);
        a->count = sqlite3_column_int64(s, 4);
        a->peak = sqlite3_column_int64(s, 5);
        a->baseline = sqlite3_column_double(s, 6);
        a->attempts = sqlite3_column_int64(s, 7);
        a->last_notified_ms = sqlite3_column_int64(s, 8);
        detail = sqlite3_column_text(s, 9);
        if (detail != NULL)
            util_strlcpy(a->detail, (const char *)detail, sizeof(a->detail));
        detail = sqlite3_column_text(s, 10);
        if (detail != NULL)
            util_strlcpy(a->target_name, (const char *)detail, sizeof(a->target_name));
        detail = sqlite3_column_text(s, 11);
        util_strlcpy(a->metric, detail != NULL ? (const char *)detail : "code", sizeof(a->metric));
        a->has_value = sqlite3_column_type(s, 12) != SQLITE_NULL;
        a->value = sqlite3_column_double(s, 12);
    }
    if (store_read_end(st, s, rc, "the firing alerts") < 0) {
        free(v);
        return -1;
    }
    *out = v;
    *n = cnt;
    return 0;
}

int store_load_baselines(struct store *st, int64_t since_ms, struct store_baseline **out, size_t *n)
{
    sqlite3_stmt *s = st->ctl_stmt[CTL_BASELINES];
    struct store_baseline *v = NULL;
    size_t cnt = 0, cap = 0;
    int rc;

    *out = NULL;
    *n = 0;
    sqlite3_bind_int64(s, 1, since_ms);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (ARRAY_RESERVE(v, cap, cnt + 1) < 0) {
            rc = SQLITE_NOMEM;
            break;
        }
        v[cnt].target_id = sqlite3_column_int64(s, 0);
        v[cnt].wsa_code = sqlite3_column_int(s, 1);
        v[cnt].failures = sqlite3_column_int64(s, 2);
        v[cnt].minutes = sqlite3_column_int64(s, 3);
        cnt++;
    }
    if (store_read_end(st, s, rc, "the rollups for the alert baselines") < 0) {
        free(v);
        return -1;
    }
    *out = v;
    *n = cnt;
    return 0;
}
