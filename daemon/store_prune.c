/* SPDX-License-Identifier: ISC */
/* Retention: deletes the history older than `retention`, and the per-minute
 * rollups older than 7 days, by whole hours, a unit at a time, each unit
 * in one transaction across the tables, so that every committed state of
 * the file has failure rows, minute rollups and hour rollups that agree,
 * target by target and hour by hour; and gives free pages back to the file
 * system. Runs on the writer thread (store_writer.c), between batches. */
#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "log.h"
#include "store.h"
#include "store_int.h"
#include "util.h"

#define PRUNE_HOUR_MS 3600000LL
/* What a target's hour costs in a unit besides its failure rows: its
 * minute rows (60, and as many per code it failed with). */
#define PRUNE_TARGET_ROWS 120

/* Deletes the rows of a table in [?1, ?2) of its time column whose target
 * is in ?3..?4, at most ?5 (-1: all). The unary + keeps SQLite on the
 * primary key (time first) rather than an index on target_id. */
#define PRUNE_RANGE(table, key, unit)                                                              \
    "DELETE FROM " table " WHERE (" key ") IN (SELECT " key " FROM " table " WHERE " unit          \
    " >= ?1 AND " unit " < ?2 AND +target_id BETWEEN ?3 AND ?4 LIMIT ?5)"

#define PRUNE_COUNT(table, unit)                                                                   \
    "(SELECT count(*) FROM (SELECT 1 FROM " table " WHERE " unit " >= ?1 AND " unit " < ?2 "       \
    "LIMIT ?3))"

static const char *const store_prune_sql[PRUNE__COUNT] = {
    /* each min() is one look at the start of a primary key */
    [PRUNE_OLDEST_HISTORY] =
        "SELECT min(m) FROM (SELECT min(ts) AS m FROM failures UNION ALL SELECT min(minute) FROM "
        "rollup_minute UNION ALL SELECT min(minute) FROM rollup_minute_code UNION ALL "
        "SELECT min(hour) FROM rollup_hour UNION ALL SELECT min(hour) FROM rollup_hour_code)",
    [PRUNE_OLDEST_MINUTES] = "SELECT min(m) FROM (SELECT min(minute) AS m FROM rollup_minute "
                             "UNION ALL SELECT min(minute) FROM rollup_minute_code)",
    [PRUNE_COUNT_HISTORY] = "SELECT " PRUNE_COUNT("failures", "ts") " + " PRUNE_COUNT(
        "rollup_minute", "minute") " + " PRUNE_COUNT("rollup_minute_code", "minute"),
    [PRUNE_COUNT_MINUTES] = "SELECT " PRUNE_COUNT("rollup_minute", "minute") " + " PRUNE_COUNT(
        "rollup_minute_code", "minute"),
    [PRUNE_HOUR_TARGETS] = "SELECT target_id, failures FROM rollup_hour WHERE hour = ?1 AND "
                           "target_id > ?2 ORDER BY target_id",
    [PRUNE_FAILURES] = PRUNE_RANGE("failures", "ts, target_id, seq", "ts"),
    /* failures_target_ts: the target's rows of the hour, not the hour's */
    [PRUNE_FAILURES_TARGET] = "DELETE FROM failures WHERE target_id = ?3 AND ts >= ?1 AND ts < ?2",
    [PRUNE_MINUTE] = PRUNE_RANGE("rollup_minute", "minute, target_id", "minute"),
    [PRUNE_MINUTE_CODE] =
        PRUNE_RANGE("rollup_minute_code", "minute, target_id, wsa_code", "minute"),
    [PRUNE_HOUR] = PRUNE_RANGE("rollup_hour", "hour, target_id", "hour"),
    [PRUNE_HOUR_CODE] = PRUNE_RANGE("rollup_hour_code", "hour, target_id, wsa_code", "hour"),
    /* the commits that have no failure row left: every one before the
     * first (in commit order) whose newest row is not older than the
     * oldest failure; all of them when no failure is left */
    [PRUNE_COMMITS] =
        "DELETE FROM commits WHERE id IN (SELECT id FROM commits WHERE id < coalesce((SELECT id "
        "FROM commits WHERE ts_max >= (SELECT coalesce(min(ts), 9223372036854775807) FROM "
        "failures) ORDER BY id LIMIT 1), 9223372036854775807) ORDER BY id LIMIT ?1)",
    [PRUNE_ALERTS] = "DELETE FROM alerts WHERE id IN (SELECT id FROM alerts WHERE "
                     "resolved IS NOT NULL AND resolved < ?1 ORDER BY resolved LIMIT ?2)",
    [PRUNE_RUNS] = "DELETE FROM runs WHERE id IN (SELECT id FROM runs WHERE "
                   "coalesce(stopped, heartbeat) < ?1 ORDER BY id LIMIT ?2)",
    [PRUNE_PAGE_COUNT] = "PRAGMA page_count",
    [PRUNE_FREELIST_COUNT] = "PRAGMA freelist_count",
    [PRUNE_INCREMENTAL_VACUUM] = "PRAGMA incremental_vacuum(1024)",
};

/* The steps of a retention pass, one per writer iteration, in this order. */
enum prune_step {
    PRUNE_STEP_HISTORY,
    PRUNE_STEP_MINUTES,
    PRUNE_STEP_ALERTS,
    PRUNE_STEP_RUNS,
    PRUNE_STEP__COUNT,
};

int store_prune_prepare(struct store *st, char *err, size_t errlen)
{
    for (int k = 0; k < STORE_PRUNE__SCOPES; k++)
        st->prune_hour[k] = st->prune_target[k] = INT64_MIN;
    return store_prepare_all(st->db, store_prune_sql, st->prune_stmt, PRUNE__COUNT, st->path, err,
                             errlen);
}

/* The start of the hour of t, and of the next (times at the ends of int64,
 * in a file someone else wrote, make one unit of their own). */
static void prune_hour_of(int64_t t, int64_t *h0, int64_t *h1)
{
    int64_t r = t % PRUNE_HOUR_MS;

    if (t < INT64_MIN + 2 * PRUNE_HOUR_MS) {
        *h0 = INT64_MIN;
        *h1 = INT64_MIN + 2 * PRUNE_HOUR_MS;
        return;
    }
    *h0 = r < 0 ? t - r - PRUNE_HOUR_MS : t - r;
    *h1 = *h0 + PRUNE_HOUR_MS;
}

/* Deletes [h0, h1) of one table for targets lo..hi, at most limit rows
 * (-1: all). */
static int prune_range(struct store *st, enum store_prune_stmt which, int64_t h0, int64_t h1,
                       int64_t lo, int64_t hi, int64_t limit)
{
    sqlite3_stmt *s = st->prune_stmt[which];

    sqlite3_bind_int64(s, 1, h0);
    sqlite3_bind_int64(s, 2, h1);
    sqlite3_bind_int64(s, 3, lo);
    sqlite3_bind_int64(s, 4, hi);
    sqlite3_bind_int64(s, 5, limit);
    return store_step_done(s);
}

/* Within the open transaction, the failure rows of hour [h0, h1) of the
 * next targets after the scope's cursor, in target order, as many as make
 * about STORE_PRUNE_ROWS rows (one at least; history only: the minute
 * scope keeps the failures), and their target range in *lo..*hi. *n is 0
 * when no target with an hour row is left after the cursor. */
static int prune_next_targets(struct store *st, enum store_prune_scope sc, int64_t h0, int64_t h1,
                              int64_t *lo, int64_t *hi, int *n)
{
    sqlite3_stmt *s = st->prune_stmt[PRUNE_HOUR_TARGETS];
    sqlite3_stmt *del = st->prune_stmt[PRUNE_FAILURES_TARGET];
    int64_t cost = 0;
    int rc;

    *n = 0;
    sqlite3_bind_int64(s, 1, h0);
    sqlite3_bind_int64(s, 2, st->prune_target[sc]);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t tid = sqlite3_column_int64(s, 0), fails = sqlite3_column_int64(s, 1);
        int64_t c = PRUNE_TARGET_ROWS;
        if (sc == STORE_PRUNE_HISTORY && fails > 0) /* capped: a number someone wrote */
            c += fails < STORE_PRUNE_ROWS ? fails : STORE_PRUNE_ROWS;
        if (*n > 0 && cost + c > STORE_PRUNE_ROWS)
            break;
        if (sc == STORE_PRUNE_HISTORY) {
            sqlite3_bind_int64(del, 1, h0);
            sqlite3_bind_int64(del, 2, h1);
            sqlite3_bind_int64(del, 3, tid);
            if ((rc = store_step_done(del)) != SQLITE_OK)
                break;
        }
        if (*n == 0)
            *lo = tid;
        *hi = tid;
        cost += c;
        (*n)++;
    }
    sqlite3_reset(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* One unit of a scope older than cut (a whole hour): in one transaction,
 * the oldest hour of every target when it is small enough, else of the
 * next targets (prune_next_targets), so that a target's hour is either
 * whole or gone in every table of the scope at every commit. Rows that no
 * target's hour row covers (a file netdiagd did not write alone) go last,
 * STORE_PRUNE_ROWS at a time. Hours before `from` are left to the
 * history units, which take them whole. *did: something was deleted (more
 * may be left). */
static int prune_unit(struct store *st, enum store_prune_scope sc, int64_t from, int64_t cut,
                      bool *did)
{
    bool hist = sc == STORE_PRUNE_HISTORY;
    sqlite3_int64 changes = sqlite3_total_changes64(st->db);
    sqlite3_stmt *s;
    int64_t h0 = INT64_MAX, h1 = INT64_MAX, lo = INT64_MIN, hi = INT64_MAX, limit = -1, count;
    int n = -1, rc, type;

    *did = false;
    if ((rc = store_step_done(st->stmt[STMT_BEGIN])) != SQLITE_OK)
        goto fail;
    s = st->prune_stmt[hist ? PRUNE_OLDEST_HISTORY : PRUNE_OLDEST_MINUTES];
    rc = sqlite3_step(s);
    type = rc == SQLITE_ROW ? sqlite3_column_type(s, 0) : SQLITE_NULL;
    /* empty, or not a number (a text someone wrote, which no range
     * deletes): nothing to do */
    if (type == SQLITE_INTEGER || type == SQLITE_FLOAT)
        prune_hour_of(sqlite3_column_int64(s, 0), &h0, &h1);
    sqlite3_reset(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        goto fail;
    if (h0 >= cut || h0 < from)
        return store_step_done(st->stmt[STMT_COMMIT]);
    if (st->prune_hour[sc] != h0) {
        st->prune_hour[sc] = h0;
        st->prune_target[sc] = INT64_MIN;
    }
    s = st->prune_stmt[hist ? PRUNE_COUNT_HISTORY : PRUNE_COUNT_MINUTES];
    sqlite3_bind_int64(s, 1, h0);
    sqlite3_bind_int64(s, 2, h1);
    sqlite3_bind_int64(s, 3, STORE_PRUNE_ROWS + 1);
    count = store_step_int(s, &rc);
    if (rc != SQLITE_OK)
        goto fail;
    if (count > STORE_PRUNE_ROWS) {
        if ((rc = prune_next_targets(st, sc, h0, h1, &lo, &hi, &n)) != SQLITE_OK)
            goto fail;
        if (n == 0) { /* rows of no target's hour row: a bounded bite */
            lo = INT64_MIN;
            hi = INT64_MAX;
            limit = STORE_PRUNE_ROWS;
        } else {
            st->prune_target[sc] = hi;
        }
    }
    /* the failure rows: the whole hour, or a bounded bite of it; a chunk
     * of targets had theirs deleted target by target above */
    if (hist && n <= 0 &&
        (rc = prune_range(st, PRUNE_FAILURES, h0, h1, lo, hi, limit)) != SQLITE_OK)
        goto fail;
    if ((rc = prune_range(st, PRUNE_MINUTE, h0, h1, lo, hi, limit)) != SQLITE_OK ||
        (rc = prune_range(st, PRUNE_MINUTE_CODE, h0, h1, lo, hi, limit)) != SQLITE_OK)
        goto fail;
    if (hist && ((rc = prune_range(st, PRUNE_HOUR, h0, h1, lo, hi, limit)) != SQLITE_OK ||
                 (rc = prune_range(st, PRUNE_HOUR_CODE, h0, h1, lo, hi, limit)) != SQLITE_OK))
        goto fail;
    if (hist) {
        s = st->prune_stmt[PRUNE_COMMITS];
        sqlite3_bind_int64(s, 1, STORE_PRUNE_ROWS);
        if ((rc = store_step_done(s)) != SQLITE_OK)
            goto fail;
    }
    if ((rc = store_step_done(st->stmt[STMT_COMMIT])) != SQLITE_OK)
        goto fail;
    /* progress: rows deleted, or the cursor moved past some targets */
    *did = n > 0 || sqlite3_total_changes64(st->db) != changes;
    if (n > 0)
        log_debug("database %s: retention removed the %s of targets %" PRId64 " to %" PRId64
                  " in the hour of %" PRId64,
                  st->path, hist ? "history" : "minute counts", lo, hi, h0);
    else
        log_debug("database %s: retention removed the %s of the hour of %" PRId64 "%s", st->path,
                  hist ? "history" : "minute counts", h0, limit > 0 ? " (rows of no target)" : "");
    return SQLITE_OK;
fail:
    store_rollback_failed(st); /* lookup tables untouched: no cache to clear */
    return rc;
}

/* Alerts or runs older than cut, at most STORE_PRUNE_ROWS, in a
 * transaction of their own (no count depends on them). */
static int prune_rows(struct store *st, enum store_prune_stmt which, int64_t cut, bool *more)
{
    sqlite3_stmt *s = st->prune_stmt[which];
    int rc;

    if ((rc = store_step_done(st->stmt[STMT_BEGIN])) != SQLITE_OK)
        goto fail;
    sqlite3_bind_int64(s, 1, cut);
    sqlite3_bind_int(s, 2, STORE_PRUNE_ROWS);
    if ((rc = store_step_done(s)) != SQLITE_OK)
        goto fail;
    *more = sqlite3_changes(st->db) >= STORE_PRUNE_ROWS;
    if ((rc = store_step_done(st->stmt[STMT_COMMIT])) != SQLITE_OK)
        goto fail;
    return SQLITE_OK;
fail:
    store_rollback_failed(st);
    return rc;
}

/* The start of the hour `age` before now: what is older goes. */
static int64_t prune_cut(int64_t now_ms, int64_t age_ms)
{
    int64_t h0, h1;

    prune_hour_of(now_ms - age_ms, &h0, &h1);
    return h0;
}

/* One step of the pass. Returns SQLITE_OK, or an error (the step is
 * retried next time). */
static int prune_step(struct store *st, int64_t retention_ms)
{
    int64_t now = util_now_ms();
    int64_t minute_keep = retention_ms < STORE_MINUTE_KEEP_MS ? retention_ms : STORE_MINUTE_KEEP_MS;
    int64_t cut = prune_cut(now, retention_ms), cut_minutes = prune_cut(now, minute_keep);
    bool more = false;
    int rc = SQLITE_OK;

    switch ((enum prune_step)st->prune_idx) {
    case PRUNE_STEP_HISTORY:
        rc = prune_unit(st, STORE_PRUNE_HISTORY, INT64_MIN, cut, &more);
        break;
    case PRUNE_STEP_MINUTES:
        /* retention under 7 days: the history units take the minutes */
        if (cut_minutes > cut)
            rc = prune_unit(st, STORE_PRUNE_MINUTES, cut, cut_minutes, &more);
        break;
    case PRUNE_STEP_ALERTS:
        rc = prune_rows(st, PRUNE_ALERTS, now - retention_ms, &more);
        break;
    case PRUNE_STEP_RUNS:
    case PRUNE_STEP__COUNT:
        rc = prune_rows(st, PRUNE_RUNS, now - retention_ms, &more);
        break;
    }
    if (rc != SQLITE_OK)
        return rc;
    if (more)
        st->prune_more = true;
    st->prune_idx = (st->prune_idx + 1) % PRUNE_STEP__COUNT;
    return SQLITE_OK;
}

/* When more than a quarter of the file is free pages, give some back. */
static void prune_vacuum(struct store *st)
{
    int rc1, rc2;
    int64_t pages = store_step_int(st->prune_stmt[PRUNE_PAGE_COUNT], &rc1);
    int64_t free_pages = store_step_int(st->prune_stmt[PRUNE_FREELIST_COUNT], &rc2);

    if (rc1 != SQLITE_OK || rc2 != SQLITE_OK)
        return;
    if (free_pages > STORE_VACUUM_PAGES && free_pages * 4 > pages) {
        if (store_step_done(st->prune_stmt[PRUNE_INCREMENTAL_VACUUM]) != SQLITE_OK)
            log_debug("database %s: incremental_vacuum: %s", st->path, sqlite3_errmsg(st->db));
    }
}

/* Runs the prune state machine when due: one step per call, passes once a
 * minute, back-to-back while a step still finds something to delete. */
void store_prune_due(struct store *st, int64_t now_us)
{
    int64_t retention_ms;
    int rc;

    if (now_us < st->next_prune_us)
        return;
    pthread_mutex_lock(&st->mu);
    retention_ms = st->retention_ms;
    pthread_mutex_unlock(&st->mu);
    if (retention_ms <= 0) {
        st->next_prune_us = now_us + STORE_PRUNE_INTERVAL_US;
        return;
    }
    rc = prune_step(st, retention_ms);
    if (rc != SQLITE_OK) {
        /* logged when the cause changes, not every minute; a lock held
         * by another process just means trying again next minute */
        if (rc != st->prune_err)
            log_warnx("database %s: retention step failed: %s; retrying every minute", st->path,
                      st->errmsg);
        st->prune_err = rc;
        st->next_prune_us = now_us + STORE_PRUNE_INTERVAL_US;
        return;
    }
    if (st->prune_err != 0) {
        log_info("database %s: retention works again", st->path);
        st->prune_err = 0;
    }
    if (st->prune_idx == 0) { /* a pass is over */
        if (st->prune_more) {
            st->prune_more = false;
            st->next_prune_us = now_us; /* again right away, between batches */
        } else {
            prune_vacuum(st);
            st->next_prune_us = now_us + STORE_PRUNE_INTERVAL_US;
        }
    }
}
