/* SPDX-License-Identifier: ISC */
/* `netdiag failures`: the failure rows, newest first, filtered by time,
 * target, code, raw outcome, phase and kind; with --follow, the rows as
 * they are stored, oldest first, until interrupted. */
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>

#include "client.h"
#include "counts.h"
#include "db.h"
#include "filter.h"
#include "fmt.h"
#include "state.h"
#include "util.h"
#include "wsa.h"

#define FAILURES_DEFAULT_LIMIT 100
#define FOLLOW_DEFAULT_LIMIT   10 /* rows shown before following, as tail(1) */

/* An address as failures_v in sql/schema.sql shows it: the addrs text and
 * the port joined again into "127.0.0.1:40312" or "[::1]:53", the text
 * alone when there is no port (schema version 2). */
#define FAILURES_ADDR_SQL(addr, port)                                                              \
    "CASE WHEN " port " IS NULL THEN " addr " WHEN instr(" addr ", ':') THEN '[' || " addr         \
    " || ']:' || " port " ELSE " addr " || ':' || " port " END"

/* Table mode drops the ranked columns, highest first, when the rows do not
 * fit: what stays is when, where, which code and how long. */
static const struct output_column failures_cols[] = {
    {"ts_ms", OUTPUT_COL_HIDE, 0, NULL, 0},
    {"time", OUTPUT_COL_KEEP | OUTPUT_COL_WHOLE, 0, NULL, 14},
    {"target", OUTPUT_COL_KEEP, 0, NULL, 12},
    {"kind", 0, 9, NULL, 7},
    {"phase", OUTPUT_COL_KEEP, 2, NULL, 7},
    {"wsa_code", OUTPUT_COL_RIGHT, 10, "CODE", 5}, /* the name says it too */
    {"wsa_name", OUTPUT_COL_KEEP, 0, "NAME", 15},
    {"meaning", 0, 8, NULL, 20},
    {"raw", 0, 5, NULL, 12},
    {"raw_value", OUTPUT_COL_RIGHT, 7, "VALUE", 5},
    {"detail", 0, 1, NULL, 24},
    {"local", 0, 6, NULL, 21},
    {"remote", 0, 4, NULL, 21},
    {"latency_us", OUTPUT_COL_KEEP | OUTPUT_COL_RIGHT, 0, "LATENCY", 7},
    /* who sent the ICMP error the failure came from (schema version 9);
     * null: none, or a row stored before (unknown) */
    {"icmp_from", OUTPUT_COL_HIDE, 0, NULL, 0},
    {"icmp_type", OUTPUT_COL_HIDE, 0, NULL, 0},
    {"icmp_code", OUTPUT_COL_HIDE, 0, NULL, 0},
};

static int failures_limit(struct client *cl, int64_t *limit)
{
    const char *s = client_opt(cl, "limit");
    char err[128];

    *limit = FAILURES_DEFAULT_LIMIT;
    if (s != NULL && util_parse_int(s, 0, INT64_MAX, limit, err, sizeof(err)) < 0)
        return client_usage_error(cl, "--limit: %s", err);
    return 0;
}

static const char *failures_text(sqlite3_stmt *st, int col)
{
    return (const char *)sqlite3_column_text(st, col);
}

static void failures_row(struct client *cl, struct db *db, struct output *o, sqlite3_stmt *st)
{
    int64_t ts = sqlite3_column_int64(st, 0);
    const struct db_target *t = db_target_by_id(db, sqlite3_column_int64(st, 1));
    int phase = sqlite3_column_int(st, 2), code = sqlite3_column_int(st, 3);
    const struct wsa_code *wc = wsa_by_code(code);
    const char *name = failures_text(st, 4), *meaning = failures_text(st, 5);
    char when[64], shown[64], lat[32];

    output_int(o, ts);
    fmt_time(ts, cl->utc, FMT_TIME_ISO, when, sizeof(when));
    fmt_time(ts, cl->utc, FMT_TIME_SHORT, shown, sizeof(shown));
    output_str_shown(o, when, shown);
    output_str(o, t ? t->name : db_target_name(db, sqlite3_column_int64(st, 1)));
    output_str(o, t ? t->kind : NULL);
    output_str(o, filter_phase_name(phase));
    output_int(o, code);
    /* The database's own code table first: a newer netdiagd may know
     * codes this client does not. */
    output_str(o, name ? name : wc ? wc->name : NULL);
    output_str(o, meaning ? meaning : wc ? wc->meaning : NULL);
    output_str(o, failures_text(st, 6));
    if (sqlite3_column_type(st, 7) == SQLITE_NULL)
        output_null(o);
    else
        output_int(o, sqlite3_column_int64(st, 7));
    if (sqlite3_column_count(st) > 16 && sqlite3_column_type(st, 16) != SQLITE_NULL) {
        /* the table says where the path stopped; JSON and CSV keep the
         * stored detail (`netdiag path` has the path itself) */
        char d[512];
        const char *det = failures_text(st, 8);
        snprintf(d, sizeof(d), "%s%s%s", det ? det : "", det && det[0] ? "; " : "",
                 failures_text(st, 16));
        output_str_shown(o, det, d);
    } else {
        output_str(o, failures_text(st, 8));
    }
    output_str(o, failures_text(st, 9));
    output_str(o, failures_text(st, 10));
    if (sqlite3_column_type(st, 11) == SQLITE_NULL) {
        output_null(o);
    } else {
        fmt_latency_us(sqlite3_column_int64(st, 11), lat, sizeof(lat));
        output_int_shown(o, sqlite3_column_int64(st, 11), lat);
    }
    output_str(o, failures_text(st, 13));
    for (int col = 14; col <= 15; col++) {
        if (sqlite3_column_type(st, col) == SQLITE_NULL)
            output_null(o);
        else
            output_int(o, sqlite3_column_int64(st, col));
    }
    output_end_row(o);
}

/* Where the path traced for a failure stopped (schema 8), as the table's
 * detail says it after the stored detail. */
#define FAILURES_PATH_SQL                                                                          \
    "(SELECT " CLIENT_PATH_STOP_SQL " FROM paths AS p "                                            \
    "WHERE p.target_id = f.target_id AND p.failure_ts = f.ts AND p.why = 'failure' "               \
    "ORDER BY p.id DESC LIMIT 1)"

/* The SELECT of failure rows with their names and text: the columns
 * failures_row() reads, seq (the key is ts, target_id, seq) at 12, the
 * ICMP origin at 13-15 (NULL before schema version 9), then where the
 * failure's path stopped at 16 (NULL: not traced, or before version 8). */
static void failures_select(struct db *db, struct fmt_buf *sql)
{
    bool icmp = db->version >= 9;

    /* the lookup tables are joined on their primary keys */
    if (db->version >= 2)
        fmt_buf_add(
            sql,
            "SELECT f.ts, f.target_id, f.phase, f.wsa_code, c.name, c.meaning, "
            "r.name, f.raw_value, f.detail, %s, %s, f.latency_us, f.seq, %s, %s FROM failures "
            "AS f LEFT JOIN wsa_codes AS c ON c.code = f.wsa_code "
            "LEFT JOIN raws AS r ON r.id = f.raw_id "
            "LEFT JOIN addrs AS la ON la.id = f.local_addr_id "
            "LEFT JOIN addrs AS ra ON ra.id = f.remote_addr_id %s",
            FAILURES_ADDR_SQL("la.addr", "f.local_port"),
            FAILURES_ADDR_SQL("ra.addr", "f.remote_port"),
            icmp ? "ia.addr, f.icmp_type, f.icmp_code" : "NULL, NULL, NULL",
            db->version >= 8 ? FAILURES_PATH_SQL : "NULL",
            icmp ? "LEFT JOIN addrs AS ia ON ia.id = f.icmp_from_addr_id " : "");
    else /* schema version 1: netdiagd has not migrated it yet */
        fmt_buf_add(sql, "SELECT f.ts, f.target_id, f.phase, f.wsa_code, c.name, c.meaning, "
                         "f.raw, f.raw_value, f.detail, f.local, f.remote, f.latency_us, f.seq, "
                         "NULL, NULL, NULL, NULL "
                         "FROM failures AS f LEFT JOIN wsa_codes AS c ON c.code = f.wsa_code ");
}

/* " AND <every filter>" on the failures table f. */
static void failures_where(struct db *db, const struct filter *f, struct fmt_buf *sql)
{
    filter_sql(db, f, sql, "f.target_id", "f.wsa_code", "f.phase");
    filter_raw_sql(db, f, sql, "f.");
}

/* Prepare SELECT <row> [WHERE where] [filters] [order]. */
static int failures_prepare(struct db *db, const struct filter *f, bool row, const char *where,
                            const char *order, sqlite3_stmt **st)
{
    struct fmt_buf sql = {0};
    int rc;

    if (row)
        failures_select(db, &sql);
    else
        fmt_buf_add(&sql, "SELECT f.ts, f.target_id, f.seq FROM failures AS f ");
    fmt_buf_add(&sql, "WHERE %s", where);
    failures_where(db, f, &sql);
    fmt_buf_add(&sql, "%s", order);
    rc = db_prepare(db, sql.s, st);
    fmt_buf_free(&sql);
    return rc;
}

/* --- failures --follow -------------------------------------------------------- */

/* Rows are committed in batches up to a second apart, each row stamped
 * with the start of its attempt, which may be a probe timeout older, or
 * much older when the writer was held up (a locked database: the daemon
 * keeps its results queued), or newer than the next batch's when the
 * clock was stepped back: a row can arrive with a key below rows already
 * printed, by any amount.
 *
 * From schema version 4 follow reads commit by commit: every transaction
 * of netdiagd that stores failures has a row in `commits`, numbered in
 * commit order, and its failure rows carry that number (failures.batch)
 * and lie in its ts_min..ts_max. Follow remembers the last number it read
 * and reads each newer commit's rows through the primary key's ts range:
 * every row once, whatever its ts, across batches, restarts and
 * retention (which deletes a commit's row only with its last failure).
 *
 * Older schemas (a database netdiagd has not migrated yet) are followed
 * by key: follow remembers every key of the last FOLLOW_WINDOW ms (at
 * least; twice the longest timeout more when targets have long ones) and
 * looks for keys it has not seen there at every commit. A row committed
 * later than that after rows with later keys is not found there. When
 * the database is migrated while followed, follow reads once more by key
 * and goes on by commit from that same snapshot. */
#define FOLLOW_WINDOW_MS 60000LL
#define FOLLOW_POLL_MS   250
#define FOLLOW_STATE_MS  2000      /* how often the daemon's state is checked */
#define FOLLOW_MAX_KEYS  (1 << 20) /* keys remembered at most (24 MB) */
#define FOLLOW_BATCH     4096      /* new rows read per query */
#define FOLLOW_COMMITS   256       /* commits read per query */

struct fkey {
    int64_t ts, target_id, seq;
};

struct follow {
    struct client *cl;
    struct db *db;
    const struct filter *f;
    struct output *o;
    int64_t from_ms, window_ms;
    struct fkey last; /* the greatest key printed or known */
    bool have_last;
    struct fkey *keys; /* seen, sorted, keys[head..n) */
    size_t head, n, cap;
    bool said_full;
    int64_t printed;
    bool by_commit; /* schema 4: commit by commit */
    int64_t commit; /* the last commits.id read */
};

static volatile sig_atomic_t follow_stop;

static void follow_signal(int sig)
{
    (void)sig;
    follow_stop = 1;
}

static int fkey_cmp(const struct fkey *a, const struct fkey *b)
{
    if (a->ts != b->ts)
        return a->ts < b->ts ? -1 : 1;
    if (a->target_id != b->target_id)
        return a->target_id < b->target_id ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Index of the first key >= k in keys[head..n). */
static size_t follow_lower(const struct follow *fw, const struct fkey *k)
{
    size_t lo = fw->head, hi = fw->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (fkey_cmp(&fw->keys[mid], k) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool follow_seen(const struct follow *fw, const struct fkey *k)
{
    size_t i = follow_lower(fw, k);

    return i < fw->n && fkey_cmp(&fw->keys[i], k) == 0;
}

/* Forget keys older than the window; at most FOLLOW_MAX_KEYS are kept, the
 * window narrowing (once said) when more arrive within it. */
static void follow_prune(struct follow *fw)
{
    struct fkey low = {.ts = INT64_MIN, .target_id = INT64_MIN, .seq = INT64_MIN};

    if (fw->have_last && fw->last.ts > INT64_MIN + fw->window_ms)
        low.ts = fw->last.ts - fw->window_ms;
    fw->head = follow_lower(fw, &low);
    if (fw->n - fw->head > FOLLOW_MAX_KEYS) {
        fw->head = fw->n - FOLLOW_MAX_KEYS;
        if (!fw->said_full) {
            fw->said_full = true;
            client_note(fw->cl,
                        "more than %d failures within %lld s: a row stored later than the "
                        "newest %d after its attempt began may be missed",
                        FOLLOW_MAX_KEYS, (long long)(fw->window_ms / 1000), FOLLOW_MAX_KEYS);
        }
    }
    if (fw->head > fw->cap / 2) { /* move the live keys to the front */
        memmove(fw->keys, fw->keys + fw->head, (fw->n - fw->head) * sizeof(*fw->keys));
        fw->n -= fw->head;
        fw->head = 0;
    }
}

static void follow_remember(struct follow *fw, const struct fkey *k)
{
    size_t i;

    FMT_RESERVE(fw->keys, fw->cap, fw->n + 1);
    /* nearly always the greatest: appended; a late row is inserted */
    if (fw->n == fw->head || fkey_cmp(&fw->keys[fw->n - 1], k) < 0) {
        fw->keys[fw->n++] = *k;
    } else {
        i = follow_lower(fw, k);
        if (i < fw->n && fkey_cmp(&fw->keys[i], k) == 0)
            return;
        memmove(fw->keys + i + 1, fw->keys + i, (fw->n - i) * sizeof(*fw->keys));
        fw->keys[i] = *k;
        fw->n++;
    }
    if (!fw->have_last || fkey_cmp(&fw->last, k) < 0) {
        fw->last = *k;
        fw->have_last = true;
    }
}

static void follow_key_of(sqlite3_stmt *st, int ts_col, int seq_col, struct fkey *k)
{
    k->ts = sqlite3_column_int64(st, ts_col);
    k->target_id = sqlite3_column_int64(st, ts_col + 1);
    k->seq = sqlite3_column_int64(st, seq_col);
}

static void follow_bind_key(sqlite3_stmt *st, int first, const struct fkey *k)
{
    sqlite3_bind_int64(st, first, k->ts);
    sqlite3_bind_int64(st, first + 1, k->target_id);
    sqlite3_bind_int64(st, first + 2, k->seq);
}

/* Print the rows of a prepared statement (row columns) not seen yet. */
static int follow_print(struct follow *fw, sqlite3_stmt *st, size_t *nrows)
{
    int rc;

    *nrows = 0;
    while ((rc = db_step(fw->db, st)) == SQLITE_ROW) {
        struct fkey k;
        follow_key_of(st, 0, 12, &k);
        (*nrows)++;
        if (follow_seen(fw, &k))
            continue;
        failures_row(fw->cl, fw->db, fw->o, st);
        follow_remember(fw, &k);
        fw->printed++;
    }
    return rc < 0 ? CLIENT_EXIT_RUNTIME : 0;
}

/* Rows above the greatest key known, in key order, FOLLOW_BATCH at a time. */
static int follow_new(struct follow *fw)
{
    sqlite3_stmt *st;
    size_t n;
    int rc;

    if ((rc = failures_prepare(fw->db, fw->f, true,
                               "f.ts >= ?1 AND f.ts >= ?2 AND (f.ts, f.target_id, f.seq) > "
                               "(?2, ?3, ?4)",
                               " ORDER BY f.ts, f.target_id, f.seq LIMIT ?5", &st)) != 0)
        return rc;
    do {
        struct fkey last =
            fw->have_last ? fw->last : (struct fkey){INT64_MIN, INT64_MIN, INT64_MIN};
        sqlite3_bind_int64(st, 1, fw->from_ms);
        follow_bind_key(st, 2, &last);
        sqlite3_bind_int(st, 5, FOLLOW_BATCH);
        rc = follow_print(fw, st, &n);
        sqlite3_reset(st);
    } while (rc == 0 && n == FOLLOW_BATCH && !follow_stop);
    sqlite3_finalize(st);
    return rc;
}

/* Keys of the window up to the greatest known: print those not seen (rows
 * committed after rows with greater keys), or, at the start, only
 * remember them (rows that were there before following began). */
static int follow_late(struct follow *fw, bool print)
{
    sqlite3_stmt *keys, *row = NULL;
    int64_t low;
    int rc;

    if (!fw->have_last)
        return 0;
    low = fw->last.ts > INT64_MIN + fw->window_ms ? fw->last.ts - fw->window_ms : INT64_MIN;
    if ((rc = failures_prepare(fw->db, fw->f, false,
                               "f.ts >= ?1 AND f.ts >= ?2 AND (f.ts, f.target_id, f.seq) <= "
                               "(?3, ?4, ?5)",
                               " ORDER BY f.ts, f.target_id, f.seq", &keys)) != 0)
        return rc;
    if (print &&
        (rc = failures_prepare(fw->db, fw->f, true, "f.ts = ?1 AND f.target_id = ?2 AND f.seq = ?3",
                               "", &row)) != 0) {
        sqlite3_finalize(keys);
        return rc;
    }
    sqlite3_bind_int64(keys, 1, fw->from_ms);
    sqlite3_bind_int64(keys, 2, low);
    follow_bind_key(keys, 3, &fw->last);
    while (rc == 0 && (rc = db_step(fw->db, keys)) == SQLITE_ROW) {
        struct fkey k;
        size_t n;
        follow_key_of(keys, 0, 2, &k);
        rc = 0;
        if (follow_seen(fw, &k))
            continue;
        if (!print) {
            follow_remember(fw, &k);
            continue;
        }
        follow_bind_key(row, 1, &k);
        rc = follow_print(fw, row, &n);
        sqlite3_reset(row);
    }
    sqlite3_finalize(keys);
    sqlite3_finalize(row);
    if (rc < 0)
        return CLIENT_EXIT_RUNTIME;
    return rc == SQLITE_DONE ? 0 : rc;
}

static int follow_first(struct follow *fw, int64_t limit);

/* Whether the database has what following by commit needs (schema 4: the
 * table commits and the column failures.batch; a file someone stamped 4
 * without them is followed by key). */
static int follow_can_commit(struct db *db, bool *yes)
{
    sqlite3_stmt *st;
    int rc;

    *yes = false;
    if (db->version < 4)
        return 0;
    if ((rc = db_prepare(db,
                         "SELECT (SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND "
                         "name = 'commits') AND (SELECT count(*) FROM pragma_table_info("
                         "'failures') WHERE name = 'batch')",
                         &st)) != 0)
        return rc;
    rc = db_step(db, st);
    *yes = rc == SQLITE_ROW && sqlite3_column_int64(st, 0) != 0;
    sqlite3_finalize(st);
    return rc < 0 ? CLIENT_EXIT_RUNTIME : 0;
}

/* The newest commit number there is: where following by commit starts
 * (in the snapshot of the rows shown before). */
static int follow_last_commit(struct follow *fw)
{
    sqlite3_stmt *st;
    int rc;

    if ((rc = db_prepare(fw->db, "SELECT coalesce(max(id), 0) FROM commits", &st)) != 0)
        return rc;
    rc = db_step(fw->db, st);
    if (rc == SQLITE_ROW)
        fw->commit = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc < 0 ? CLIENT_EXIT_RUNTIME : 0;
}

/* The rows of every commit after the last one read, commit by commit,
 * each commit's rows in key order. */
static int follow_commits(struct follow *fw)
{
    sqlite3_stmt *cs, *rs;
    int64_t n;
    int rc;

    if ((rc = db_prepare(fw->db,
                         "SELECT id, ts_min, ts_max FROM commits WHERE id > ?1 ORDER BY id "
                         "LIMIT ?2",
                         &cs)) != 0)
        return rc;
    /* the primary key's ts range, then the commit's own rows in it */
    if ((rc = failures_prepare(fw->db, fw->f, true,
                               "f.ts >= ?1 AND f.ts >= ?2 AND f.ts <= ?3 AND f.batch = ?4",
                               " ORDER BY f.ts, f.target_id, f.seq", &rs)) != 0) {
        sqlite3_finalize(cs);
        return rc;
    }
    do {
        n = 0;
        sqlite3_bind_int64(cs, 1, fw->commit);
        sqlite3_bind_int(cs, 2, FOLLOW_COMMITS);
        while (!follow_stop && (rc = db_step(fw->db, cs)) == SQLITE_ROW) {
            int64_t id = sqlite3_column_int64(cs, 0);
            n++;
            sqlite3_bind_int64(rs, 1, fw->from_ms);
            sqlite3_bind_int64(rs, 2, sqlite3_column_int64(cs, 1));
            sqlite3_bind_int64(rs, 3, sqlite3_column_int64(cs, 2));
            sqlite3_bind_int64(rs, 4, id);
            while ((rc = db_step(fw->db, rs)) == SQLITE_ROW) {
                failures_row(fw->cl, fw->db, fw->o, rs);
                fw->printed++;
            }
            sqlite3_reset(rs);
            if (rc < 0)
                break;
            fw->commit = id; /* all of it printed */
        }
        sqlite3_reset(cs);
    } while (rc >= 0 && n == FOLLOW_COMMITS && !follow_stop);
    sqlite3_finalize(cs);
    sqlite3_finalize(rs);
    return rc < 0 ? CLIENT_EXIT_RUNTIME : 0;
}

/* Schema older than 4 when following began: by key, until the database is
 * migrated; then once more by key and the last commit number, in one
 * snapshot, and by commit from there. */
static int follow_keys_or_switch(struct follow *fw)
{
    bool now4 = false;
    int rc;

    if (sqlite3_exec(fw->db->h, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return db_fail(fw->db, "begin");
    /* user_version of this snapshot: the first read begins it */
    {
        sqlite3_stmt *st;
        if ((rc = db_prepare(fw->db, "PRAGMA user_version", &st)) != 0)
            goto out;
        rc = db_step(fw->db, st);
        /* migrated: the rows read from now on have the new version's
         * columns (a newer one than this client knows is not read) */
        if (rc == SQLITE_ROW && sqlite3_column_int64(st, 0) > fw->db->version &&
            sqlite3_column_int64(st, 0) <= CLIENT_SCHEMA_VERSION)
            fw->db->version = (int)sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        if (rc < 0) {
            rc = CLIENT_EXIT_RUNTIME;
            goto out;
        }
    }
    if ((rc = follow_can_commit(fw->db, &now4)) != 0 || (rc = follow_new(fw)) != 0 ||
        (rc = follow_late(fw, true)) != 0)
        goto out;
    follow_prune(fw);
    if (now4 && (rc = follow_last_commit(fw)) == 0)
        fw->by_commit = true;
out:
    sqlite3_exec(fw->db->h, "COMMIT", NULL, NULL, NULL);
    return rc;
}

/* The first rows: all of the range with --since (or the newest `limit`),
 * else the newest `limit` (10 without --limit), oldest first. */
static int follow_start(struct follow *fw, int64_t limit)
{
    int rc;

    /* the rows shown and the position followed from: one snapshot */
    if (sqlite3_exec(fw->db->h, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return db_fail(fw->db, "begin");
    if ((rc = follow_can_commit(fw->db, &fw->by_commit)) == 0 &&
        (!fw->by_commit || (rc = follow_last_commit(fw)) == 0))
        rc = follow_first(fw, limit);
    sqlite3_exec(fw->db->h, "COMMIT", NULL, NULL, NULL);
    return rc;
}

static int follow_first(struct follow *fw, int64_t limit)
{
    sqlite3_stmt *st;
    struct fkey from = {fw->from_ms, INT64_MIN, INT64_MIN};
    size_t n;
    int rc;

    if (limit > 0) { /* the key of the limit-th newest row, if there are that many */
        if ((rc = failures_prepare(fw->db, fw->f, false, "f.ts >= ?1",
                                   " ORDER BY f.ts DESC, f.target_id DESC, f.seq DESC LIMIT 1 "
                                   "OFFSET ?2",
                                   &st)) != 0)
            return rc;
        sqlite3_bind_int64(st, 1, fw->from_ms);
        sqlite3_bind_int64(st, 2, limit - 1);
        if ((rc = db_step(fw->db, st)) == SQLITE_ROW)
            follow_key_of(st, 0, 2, &from);
        sqlite3_finalize(st);
        if (rc < 0)
            return CLIENT_EXIT_RUNTIME;
    }
    if ((rc = failures_prepare(fw->db, fw->f, true,
                               "f.ts >= ?1 AND f.ts >= ?2 AND (f.ts, f.target_id, f.seq) >= "
                               "(?2, ?3, ?4)",
                               " ORDER BY f.ts, f.target_id, f.seq", &st)) != 0)
        return rc;
    sqlite3_bind_int64(st, 1, fw->from_ms);
    follow_bind_key(st, 2, &from);
    rc = follow_print(fw, st, &n);
    sqlite3_finalize(st);
    if (rc != 0 || fw->by_commit)
        return rc;
    /* the greatest key there is, printed or not, and every key of the
     * window below it: rows before following began, never printed */
    if ((rc = failures_prepare(fw->db, fw->f, false, "f.ts >= ?1",
                               " ORDER BY f.ts DESC, f.target_id DESC, f.seq DESC LIMIT 1", &st)) !=
        0)
        return rc;
    sqlite3_bind_int64(st, 1, fw->from_ms);
    if ((rc = db_step(fw->db, st)) == SQLITE_ROW) {
        struct fkey k;
        follow_key_of(st, 0, 2, &k);
        if (!fw->have_last || fkey_cmp(&fw->last, &k) < 0) {
            fw->last = k;
            fw->have_last = true;
        }
    }
    sqlite3_finalize(st);
    if (rc < 0)
        return CLIENT_EXIT_RUNTIME;
    return follow_late(fw, false);
}

static int64_t follow_data_version(struct db *db)
{
    sqlite3_stmt *st;
    int64_t v = -1;

    if (sqlite3_prepare_v2(db->h, "PRAGMA data_version", -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* The window: at least FOLLOW_WINDOW_MS, more for targets with long
 * timeouts (their rows arrive up to a timeout after their stamp). */
static int64_t follow_window(struct db *db)
{
    sqlite3_stmt *st;
    int64_t w = FOLLOW_WINDOW_MS, t = 0;

    if (sqlite3_prepare_v2(db->h, "SELECT max(timeout_ms) FROM targets", -1, &st, NULL) ==
        SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW)
            t = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    if (t > 0 && t < 24 * COUNTS_HOUR_MS && 2 * t + 10000 > w)
        w = 2 * t + 10000;
    return w;
}

static void follow_sleep(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL); /* a signal ends it early: then follow_stop is set */
}

static int failures_follow(struct client *cl, struct db *db, const struct filter *f,
                           const struct range *r, int64_t limit)
{
    struct follow fw = {.cl = cl, .db = db, .f = f, .from_ms = r->from_ms};
    struct sigaction sa = {.sa_handler = follow_signal}, old_int, old_term;
    struct state st, now;
    int64_t version = -1, next_state = 0;
    int rc;

    fw.window_ms = follow_window(db); /* schema before 4 */
    if ((rc = state_note(cl, db, &st)) != 0)
        return rc;
    counts_range_notes(cl, r, NULL);
    fw.o = output_new(cl->out, cl->format, OUTPUT_LIST, failures_cols, ND_ARRAY_LEN(failures_cols),
                      cl->width_cols, cl->wide);
    output_stream(fw.o);
    sigemptyset(&sa.sa_mask);
    follow_stop = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    rc = follow_start(&fw, limit);
    while (rc == 0 && !follow_stop) {
        int64_t v;
        if (output_flush(fw.o) != 0) {
            rc = client_write_error();
            break;
        }
        follow_sleep(FOLLOW_POLL_MS);
        if (follow_stop)
            break;
        db_deadline_restart(db); /* each look has the whole time bound */
        /* the daemon's state, and a line when it changes */
        if (util_mono_us() / 1000 >= next_state) {
            char line[512];
            next_state = util_mono_us() / 1000 + FOLLOW_STATE_MS;
            cl->now_ms = util_now_ms();
            if ((rc = state_read(cl, db, &now)) != 0)
                break;
            if (now.kind != st.kind || now.run.id != st.run.id) {
                state_line(cl, &now, line, sizeof(line));
                if (now.kind == STATE_RUNNING)
                    snprintf(line, sizeof(line), "netdiagd is running again (pid %lld)",
                             (long long)now.run.pid);
                client_note(cl, "%s", line);
                st = now;
            }
        }
        /* nothing committed since the last look: nothing to read */
        v = follow_data_version(db);
        if (v == version && v != -1)
            continue;
        version = v;
        rc = fw.by_commit ? follow_commits(&fw) : follow_keys_or_switch(&fw);
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (output_finish(fw.o) != 0 && rc == 0)
        rc = client_write_error();
    free(fw.keys);
    return rc;
}

int cmd_failures_run(struct client *cl, int argc, char **argv)
{
    struct filter f;
    struct db db;
    struct range r;
    struct output *o;
    sqlite3_stmt *st;
    int64_t limit, shown = 0;
    bool more = false, follow = client_opt(cl, "follow") != NULL;
    int rc;

    (void)argc;
    (void)argv;
    if (follow && cl->has_until)
        return client_usage_error(cl, "--follow and --until do not go together");
    if ((rc = filter_parse(
             cl, FILTER_TARGET | FILTER_CODE | FILTER_PHASE | FILTER_KIND | FILTER_RAW, &f)) != 0 ||
        (rc = failures_limit(cl, &limit)) != 0)
        return rc;
    if ((rc = db_open(cl, &db)) != 0)
        return rc;
    /* the range every command counts: whole minutes (whole hours where
     * summary can only count hours), so the rows listed are the rows it
     * counts */
    range_from_client_all(cl, &r);
    if ((rc = filter_select(cl, &db, &f)) != 0 || (rc = range_resolve(&db, &r)) != 0)
        goto out;
    if (follow) {
        rc = failures_follow(cl, &db, &f, &r,
                             client_opt(cl, "limit") != NULL ? limit
                             : cl->has_since                 ? 0
                                                             : FOLLOW_DEFAULT_LIMIT);
        goto out;
    }
    /* Newest first is the primary key backwards, or failures_target_ts /
     * failures_code_ts backwards when a target or code narrows it down. */
    if ((rc = failures_prepare(&db, &f, true, "f.ts >= ?1 AND f.ts < ?2",
                               " ORDER BY f.ts DESC, f.target_id DESC, f.seq DESC LIMIT ?3",
                               &st)) != 0)
        goto out;
    sqlite3_bind_int64(st, 1, r.from_ms);
    sqlite3_bind_int64(st, 2, r.to_ms);
    /* One row more than shown tells whether the limit cut anything. */
    sqlite3_bind_int64(st, 3, limit == 0 || limit == INT64_MAX ? -1 : limit + 1);
    if ((rc = state_note(cl, &db, NULL)) != 0) {
        sqlite3_finalize(st);
        goto out;
    }
    counts_range_notes(cl, &r, NULL);
    o = output_new(cl->out, cl->format, OUTPUT_LIST, failures_cols, ND_ARRAY_LEN(failures_cols),
                   cl->width_cols, cl->wide);
    {
        char range[160], text[256];
        counts_range_text(cl, &r, range, sizeof(range));
        snprintf(text, sizeof(text), "no failures%s%s", cl->has_since || cl->has_until ? ", " : "",
                 cl->has_since || cl->has_until ? range : "");
        output_set_empty(o, text);
    }
    while ((rc = db_step(&db, st)) == SQLITE_ROW) {
        if (limit != 0 && shown == limit) {
            more = true;
            break;
        }
        failures_row(cl, &db, o, st);
        shown++;
    }
    sqlite3_finalize(st);
    if (rc < 0) {
        /* What was printed stays (JSON and CSV stream); the error says why
         * it stops there. */
        output_finish(o);
        rc = CLIENT_EXIT_RUNTIME;
        goto out;
    }
    if (output_finish(o) != 0) {
        rc = client_write_error();
        goto out;
    }
    if (more && cl->format == OUTPUT_TABLE &&
        (printf("(the newest %lld shown; --limit 0 shows all)\n", (long long)limit) < 0 ||
         fflush(stdout) != 0)) {
        rc = client_write_error();
        goto out;
    }
    rc = CLIENT_EXIT_OK;
out:
    db_close(&db);
    return rc;
}
