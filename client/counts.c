/* SPDX-License-Identifier: ISC */
/* Exact counts over a range: the range is whole minutes (the smallest
 * rollup), whole hours where the minutes are pruned; whole hours come from
 * rollup_hour(_code), the other minutes from rollup_minute(_code), and
 * hours no rollup holds any more from the failure rows. Nothing is
 * pro-rated: a count is either what a stored row says or not printed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "client.h"
#include "counts.h"
#include "hist.h"

void counts_add(int64_t *acc, int64_t v)
{
    if (__builtin_add_overflow(*acc, v, acc))
        *acc = v > 0 ? INT64_MAX : INT64_MIN;
}

void range_from_client(const struct client *cl, int64_t default_span_ms, struct range *r)
{
    memset(r, 0, sizeof(*r));
    r->now_ms = cl->now_ms;
    r->until_ms = cl->has_until ? cl->until_ms : cl->now_ms;
    if (cl->has_since)
        r->since_ms = cl->since_ms;
    else if (__builtin_sub_overflow(r->until_ms, default_span_ms, &r->since_ms))
        r->since_ms = 0;
    if (r->since_ms < 0)
        r->since_ms = 0;
    if (r->until_ms < r->since_ms)
        r->until_ms = r->since_ms;
}

void range_from_client_all(const struct client *cl, struct range *r)
{
    memset(r, 0, sizeof(*r));
    r->now_ms = cl->now_ms;
    r->since_ms = cl->has_since && cl->since_ms > 0 ? cl->since_ms : 0;
    r->until_ms = cl->has_until ? cl->until_ms : INT64_MAX;
    if (r->until_ms < r->since_ms)
        r->until_ms = r->since_ms;
}

int64_t counts_floor(int64_t t, int64_t step, int64_t offset_ms)
{
    int64_t x, r, f;

    /* times at the ends of int64 (a database someone else wrote) stay
     * where they are rather than overflow */
    if (__builtin_add_overflow(t, offset_ms, &x))
        return t;
    r = x % step;
    if (r < 0)
        r += step;
    if (__builtin_sub_overflow(x, r, &f) || __builtin_sub_overflow(f, offset_ms, &f))
        return t;
    return f;
}

int64_t counts_ceil(int64_t t, int64_t step, int64_t offset_ms)
{
    int64_t f = counts_floor(t, step, offset_ms);

    return f == t || f > INT64_MAX - step ? f : f + step;
}

/* --- what the tables hold ------------------------------------------------ */

static int counts_first(struct db *db, const char *t1, const char *t2, const char *col,
                        int64_t *out)
{
    int64_t a, b;
    int rc;

    if ((rc = db_min_time(db, t1, col, &a)) != 0 || (rc = db_min_time(db, t2, col, &b)) != 0)
        return rc;
    /* the newer of the two: both tables are whole after it */
    *out = a == INT64_MAX ? b : b == INT64_MAX ? a : a > b ? a : b;
    return 0;
}

/* Whether every target's minutes of hour h add up to its hour rows. */
static int counts_hour_whole(struct db *db, int64_t h, bool *whole)
{
    /* total(), not sum(): rows someone else wrote may add up past int64,
     * which sum() reports as an error */
    static const char *const sql =
        "SELECT t, total(ma), total(ha), total(mc), total(hc) FROM ("
        "SELECT target_id AS t, attempts AS ma, 0 AS ha, 0 AS mc, 0 AS hc FROM rollup_minute "
        "WHERE minute >= ?1 AND minute < ?2 "
        "UNION ALL SELECT target_id, 0, attempts, 0, 0 FROM rollup_hour WHERE hour = ?1 "
        "UNION ALL SELECT target_id, 0, 0, count, 0 FROM rollup_minute_code "
        "WHERE minute >= ?1 AND minute < ?2 "
        "UNION ALL SELECT target_id, 0, 0, 0, count FROM rollup_hour_code WHERE hour = ?1"
        ") GROUP BY t";
    sqlite3_stmt *st;
    int rc;

    *whole = true;
    if ((rc = db_prepare(db, sql, &st)) != 0)
        return rc;
    sqlite3_bind_int64(st, 1, h);
    sqlite3_bind_int64(st, 2, fmt_add(h, COUNTS_HOUR_MS));
    while ((rc = db_step(db, st)) == SQLITE_ROW) {
        /* an hour row pruned before the minutes (retention under 7 days)
         * reads as 0: the minutes are then all there is */
        if (sqlite3_column_double(st, 1) < sqlite3_column_double(st, 2) ||
            sqlite3_column_double(st, 3) < sqlite3_column_double(st, 4))
            *whole = false;
    }
    sqlite3_finalize(st);
    return rc < 0 ? CLIENT_EXIT_RUNTIME : 0;
}

/* The answer of counts_hour_whole() for a past hour, kept for the
 * process: `netdiag web` resolves ranges at every request, and the check
 * reads an hour of every target's minutes (46 ms at 1,000 targets). The
 * rows of an hour that is over do not change; the pruning that removes
 * some moves the first minute or hour, which are part of the key with
 * the file itself. */
static struct {
    bool valid, whole;
    dev_t dev;
    ino_t ino;
    int64_t first_minute, first_hour;
} counts_memo;

static int counts_hour_whole_memo(struct db *db, const struct counts_facts *fa, int64_t now_ms,
                                  bool *whole)
{
    int64_t h = counts_floor(fa->first_minute, COUNTS_HOUR_MS, 0);
    bool past = h < now_ms - COUNTS_HOUR_MS - COUNTS_RUN_SLACK_MS;
    struct stat sb;
    int rc;

    if (past && stat(db->path, &sb) == 0 && counts_memo.valid && counts_memo.dev == sb.st_dev &&
        counts_memo.ino == sb.st_ino && counts_memo.first_minute == fa->first_minute &&
        counts_memo.first_hour == fa->first_hour) {
        *whole = counts_memo.whole;
        return 0;
    }
    if ((rc = counts_hour_whole(db, h, whole)) != 0)
        return rc;
    if (past && stat(db->path, &sb) == 0) {
        counts_memo.valid = true;
        counts_memo.whole = *whole;
        counts_memo.dev = sb.st_dev;
        counts_memo.ino = sb.st_ino;
        counts_memo.first_minute = fa->first_minute;
        counts_memo.first_hour = fa->first_hour;
    }
    return 0;
}

static int counts_facts_read(struct db *db, struct counts_facts *fa, int64_t now_ms)
{
    int rc;

    memset(fa, 0, sizeof(*fa));
    fa->runs_since = INT64_MAX;
    if ((rc = counts_first(db, "rollup_minute", "rollup_minute_code", "minute",
                           &fa->first_minute)) != 0 ||
        (rc = counts_first(db, "rollup_hour", "rollup_hour_code", "hour", &fa->first_hour)) != 0)
        return rc;
    if (fa->first_minute != INT64_MAX &&
        (rc = counts_hour_whole_memo(db, fa, now_ms, &fa->first_minute_hour_whole)) != 0)
        return rc;
    if (db->has_runs && (rc = db_min_time(db, "runs", "started", &fa->runs_since)) != 0)
        return rc;
    return 0;
}

/* Hour h has all its minutes in the minute tables. */
static bool counts_minutes_ok(const struct counts_facts *fa, int64_t h)
{
    if (fa->first_minute == INT64_MAX)
        return false;
    if (h > fa->first_minute)
        return true;
    return h == counts_floor(fa->first_minute, COUNTS_HOUR_MS, 0) && fa->first_minute_hour_whole;
}

/* Hour h has its rows in the hour tables (the first hour may have lost
 * some targets' rows to retention; nothing better is left of it). */
static bool counts_hours_ok(const struct counts_facts *fa, int64_t h)
{
    return fa->first_hour != INT64_MAX && h >= fa->first_hour;
}

/* The runs table shows netdiagd probed nothing in [a, b). */
static int counts_idle(struct db *db, const struct counts_facts *fa, int64_t a, int64_t b,
                       bool *idle)
{
    sqlite3_stmt *st;
    int rc;

    *idle = false;
    if (a >= b) {
        *idle = true;
        return 0;
    }
    if (fa->runs_since == INT64_MAX || a < fa->runs_since)
        return 0; /* before the first recorded start nothing is known */
    if ((rc = db_prepare(db,
                         "SELECT count(*) FROM runs WHERE started < ?2 AND "
                         "coalesce(stopped, heartbeat) + ?3 > ?1",
                         &st)) != 0)
        return rc;
    sqlite3_bind_int64(st, 1, a);
    sqlite3_bind_int64(st, 2, b);
    sqlite3_bind_int64(st, 3, COUNTS_RUN_SLACK_MS);
    rc = db_step(db, st);
    if (rc == SQLITE_ROW)
        *idle = sqlite3_column_int64(st, 0) == 0;
    sqlite3_finalize(st);
    return rc < 0 ? CLIENT_EXIT_RUNTIME : 0;
}

enum counts_edge {
    COUNTS_EDGE_MINUTES, /* the minutes are there: nothing to decide */
    COUNTS_EDGE_HOUR,    /* the hour row lies all in the range */
    COUNTS_EDGE_EMPTY,   /* the hour holds nothing in the range */
    COUNTS_EDGE_WIDEN,   /* the hour row cannot be split: take the whole hour */
};

/* How to count hour h of which [a, b) is in the range. */
static int counts_edge(struct db *db, const struct range *r, int64_t h, int64_t a, int64_t b,
                       enum counts_edge *out)
{
    bool idle;
    int rc;

    *out = COUNTS_EDGE_MINUTES;
    if ((a == h && b == h + COUNTS_HOUR_MS) || counts_minutes_ok(&r->facts, h) ||
        !counts_hours_ok(&r->facts, h))
        return 0;
    if ((rc = counts_idle(db, &r->facts, a, b, &idle)) != 0)
        return rc;
    if (idle) {
        *out = COUNTS_EDGE_EMPTY;
        return 0;
    }
    if ((rc = counts_idle(db, &r->facts, h, a, &idle)) != 0)
        return rc;
    if (idle && (rc = counts_idle(db, &r->facts, b, h + COUNTS_HOUR_MS, &idle)) != 0)
        return rc;
    *out = idle ? COUNTS_EDGE_HOUR : COUNTS_EDGE_WIDEN;
    return 0;
}

/* Apply the decision for edge hour h. */
static void counts_edge_apply(struct range *r, int64_t h, enum counts_edge e)
{
    if (e == COUNTS_EDGE_EMPTY && r->nempty < 2) {
        r->empty_hours[r->nempty++] = h;
    } else if (e == COUNTS_EDGE_WIDEN) {
        if (r->from_ms > h)
            r->from_ms = h;
        if (r->to_ms < h + COUNTS_HOUR_MS)
            r->to_ms = h + COUNTS_HOUR_MS;
        r->widened_to_hours = true;
    }
}

int range_resolve(struct db *db, struct range *r)
{
    enum counts_edge e;
    int64_t h1, h2;
    int rc;

    if ((rc = counts_facts_read(db, &r->facts, r->now_ms)) != 0)
        return rc;
    r->from_ms = counts_floor(r->since_ms, COUNTS_MINUTE_MS, 0);
    r->to_ms = counts_ceil(r->until_ms, COUNTS_MINUTE_MS, 0);
    r->widened_to_hours = false;
    r->nempty = 0;
    if (r->failures_only || r->to_ms <= r->from_ms || r->to_ms > INT64_MAX - COUNTS_HOUR_MS)
        return 0;
    /* Each edge inside an hour whose minutes are gone but whose hour rows
     * remain: the hour row cannot be split, so the range takes the whole
     * hour, unless the runs table shows the daemon did not run in the part
     * left out (the row lies all inside) or in the part inside (nothing
     * of it is). */
    h1 = counts_floor(r->from_ms, COUNTS_HOUR_MS, 0);
    h2 = counts_floor(r->to_ms - 1, COUNTS_HOUR_MS, 0);
    if ((rc = counts_edge(db, r, h1, r->from_ms,
                          r->to_ms < h1 + COUNTS_HOUR_MS ? r->to_ms : h1 + COUNTS_HOUR_MS, &e)) !=
        0)
        return rc;
    counts_edge_apply(r, h1, e);
    if (h2 != h1) {
        if ((rc = counts_edge(db, r, h2, h2, r->to_ms, &e)) != 0)
            return rc;
        counts_edge_apply(r, h2, e);
    }
    return 0;
}

static bool counts_hour_empty(const struct range *r, int64_t h)
{
    for (int i = 0; i < r->nempty; i++)
        if (r->empty_hours[i] == h)
            return true;
    return false;
}

void counts_range_text(const struct client *cl, const struct range *r, char *buf, size_t len)
{
    char from[32], to[32], day_from[16], day_to[16];

    fmt_time(r->from_ms, cl->utc, FMT_TIME_DAY, day_from, sizeof(day_from));
    fmt_time(r->from_ms, cl->utc, FMT_TIME_CLOCK, from, sizeof(from));
    if (r->to_ms > r->now_ms && r->from_ms <= r->now_ms) {
        snprintf(buf, len, "%s %s to now %s", day_from, from, fmt_zone(r->now_ms, cl->utc));
        return;
    }
    if (r->to_ms == INT64_MAX) {
        snprintf(buf, len, "from %s %s %s on", day_from, from, fmt_zone(r->from_ms, cl->utc));
        return;
    }
    fmt_time(r->to_ms, cl->utc, FMT_TIME_DAY, day_to, sizeof(day_to));
    fmt_time(r->to_ms, cl->utc, FMT_TIME_CLOCK, to, sizeof(to));
    /* the end shows its day when it is another one (midnight ends the day
     * before, "11-24 00:00" would read as the next) */
    if (strcmp(day_from, day_to) == 0)
        snprintf(buf, len, "%s %s to %s %s", day_from, from, to, fmt_zone(r->to_ms, cl->utc));
    else
        snprintf(buf, len, "%s %s to %s %s %s", day_from, from, day_to, to,
                 fmt_zone(r->to_ms, cl->utc));
}

void counts_range_notes(const struct client *cl, const struct range *r, const struct counts_sink *s)
{
    if (r->widened_to_hours)
        client_note(cl, "the range is widened to whole hours at its edges: the per-minute "
                        "counts of that time are gone (netdiagd keeps them 7 days)");
    if (s != NULL && s->orphan_failures > 0) {
        char when[32];
        fmt_time(s->orphans_until_ms, cl->utc, FMT_TIME_SHORT, when, sizeof(when));
        client_note(cl,
                    "%lld failures before %s have no attempt counts left (retention removed "
                    "them first); each counts as one attempt",
                    (long long)s->orphan_failures, when);
    }
}

/* --- counting --------------------------------------------------------------- */

enum counts_src {
    COUNTS_SRC_MINUTE, /* rollup_minute, rollup_minute_code */
    COUNTS_SRC_HOUR,   /* rollup_hour, rollup_hour_code */
    COUNTS_SRC_ROWS,   /* failures only: no rollup left */
};

struct counts_piece {
    int64_t from, to;
    enum counts_src src;
};

/* The query built in sql (freed here) with ?1 = from and ?2 = to; 0 or an
 * exit code (printed). */
static int counts_prepare_range(struct db *db, struct fmt_buf *sql, int64_t from, int64_t to,
                                sqlite3_stmt **st)
{
    int rc = db_prepare(db, sql->s, st);

    fmt_buf_free(sql);
    if (rc != 0)
        return rc;
    sqlite3_bind_int64(*st, 1, from);
    sqlite3_bind_int64(*st, 2, to);
    return 0;
}

/* The rollup rows of one source over [from, to): attempts, then failures
 * by code (unless they come from the failure rows). */
static int counts_rollup(struct db *db, const struct filter *f, struct counts_sink *s,
                         enum counts_src src, int64_t from, int64_t to, bool failures)
{
    bool hour = src == COUNTS_SRC_HOUR;
    const char *col = hour ? "hour" : "minute";
    struct fmt_buf sql = {0};
    sqlite3_stmt *st;
    int rc;

    if (hour) { /* a partial hour here holds all its counts in the range */
        from = counts_floor(from, COUNTS_HOUR_MS, 0);
        to = counts_ceil(to, COUNTS_HOUR_MS, 0);
    }
    if (!failures && s->latency && db->version >= 5)
        /* a histogram is read only when it is a blob no longer than any
         * histogram: length() and typeof() do not load a large one */
        fmt_buf_add(&sql,
                    "SELECT target_id, %s, attempts, successes, failures, latency_sum_us, "
                    "latency_count, latency_max_us, CASE WHEN typeof(lat_hist) = 'blob' AND "
                    "length(lat_hist) <= %d THEN lat_hist END, typeof(lat_hist) != 'null', "
                    "echo_sent, echo_lost FROM rollup_%s WHERE %s >= ?1 AND %s < ?2",
                    col, HIST_ENC_MAX, col, col, col);
    else if (!failures && s->latency)
        fmt_buf_add(&sql,
                    "SELECT target_id, %s, attempts, successes, failures, latency_sum_us, "
                    "latency_count, latency_max_us, NULL, 0, 0, 0 FROM rollup_%s WHERE %s >= ?1 "
                    "AND %s < ?2",
                    col, col, col, col);
    else if (!failures)
        fmt_buf_add(&sql,
                    "SELECT target_id, %s, attempts, successes, failures, latency_sum_us, "
                    "latency_count FROM rollup_%s WHERE %s >= ?1 AND %s < ?2",
                    col, col, col, col);
    else
        fmt_buf_add(&sql,
                    "SELECT target_id, %s, wsa_code, count FROM rollup_%s_code WHERE %s >= ?1 "
                    "AND %s < ?2",
                    col, col, col, col);
    filter_sql(db, f, &sql, "target_id", failures && s->codes_in_sql ? "wsa_code" : NULL, NULL);
    if ((rc = counts_prepare_range(db, &sql, from, to, &st)) != 0)
        return rc;
    while ((rc = db_step(db, st)) == SQLITE_ROW) {
        int64_t target = sqlite3_column_int64(st, 0), t = sqlite3_column_int64(st, 1);
        if (failures) {
            int64_t code = sqlite3_column_int64(st, 2), n = sqlite3_column_int64(st, 3);
            if (n > 0 && code >= 0 && code <= INT32_MAX)
                s->failures(s->arg, target, (int)code, n, t);
        } else {
            struct counts_attempts a = {
                .attempts = sqlite3_column_int64(st, 2),
                .successes = sqlite3_column_int64(st, 3),
                .failures = sqlite3_column_int64(st, 4),
                .latency_sum_us = sqlite3_column_int64(st, 5),
                .latency_count = sqlite3_column_int64(st, 6),
                .span_ms = hour ? COUNTS_HOUR_MS : COUNTS_MINUTE_MS,
                .latency_max_us = -1,
            };
            if (s->latency) {
                if (sqlite3_column_type(st, 7) != SQLITE_NULL)
                    a.latency_max_us = sqlite3_column_int64(st, 7);
                if (sqlite3_column_type(st, 8) == SQLITE_BLOB) {
                    a.lat_hist = sqlite3_column_blob(st, 8);
                    a.lat_hist_len = (size_t)sqlite3_column_bytes(st, 8);
                }
                a.lat_hist_other = a.lat_hist == NULL && sqlite3_column_int(st, 9) != 0;
                a.echo_sent = sqlite3_column_int64(st, 10);
                a.echo_lost = sqlite3_column_int64(st, 11);
            }
            s->attempts(s->arg, target, &a, t);
        }
    }
    sqlite3_finalize(st);
    return rc < 0 ? CLIENT_EXIT_RUNTIME : 0;
}

/* The failure rows of [from, to): one call per row when the sink places
 * failures in time, else one per (target, code). Orphans (no rollup) also
 * count as attempts. */
static int counts_rows(struct db *db, const struct filter *f, struct counts_sink *s, int64_t from,
                       int64_t to, bool orphans)
{
    bool each = s->bucket_ms > 0 || (orphans && s->attempts != NULL);
    struct fmt_buf sql = {0};
    sqlite3_stmt *st;
    int rc;

    if (from >= to)
        return 0;
    if (each)
        fmt_buf_add(&sql, "SELECT target_id, wsa_code, 1, ts FROM failures "
                          "WHERE ts >= ?1 AND ts < ?2");
    else
        fmt_buf_add(&sql, "SELECT target_id, wsa_code, count(*), 0 FROM failures "
                          "WHERE ts >= ?1 AND ts < ?2");
    filter_sql(db, f, &sql, "target_id", s->codes_in_sql ? "wsa_code" : NULL, "phase");
    filter_raw_sql(db, f, &sql, "");
    if (!each)
        fmt_buf_add(&sql, " GROUP BY target_id, wsa_code");
    if ((rc = counts_prepare_range(db, &sql, from, to, &st)) != 0)
        return rc;
    while ((rc = db_step(db, st)) == SQLITE_ROW) {
        int64_t target = sqlite3_column_int64(st, 0), code = sqlite3_column_int64(st, 1);
        int64_t n = sqlite3_column_int64(st, 2), t = sqlite3_column_int64(st, 3);
        if (code < 0 || code > INT32_MAX)
            continue;
        if (s->failures != NULL)
            s->failures(s->arg, target, (int)code, n, t);
        if (orphans) {
            struct counts_attempts a = {.attempts = n, .failures = n, .latency_max_us = -1};
            if (s->attempts != NULL)
                s->attempts(s->arg, target, &a, t);
            counts_add(&s->orphan_failures, n);
            if (to > s->orphans_until_ms)
                s->orphans_until_ms = to;
        }
    }
    sqlite3_finalize(st);
    return rc < 0 ? CLIENT_EXIT_RUNTIME : 0;
}

/* Hour rows can feed buckets when every hour lies in one bucket. */
static bool counts_hours_fit(const struct counts_sink *s)
{
    return s->bucket_ms == 0 ||
           (s->bucket_ms % COUNTS_HOUR_MS == 0 && s->offset_ms % COUNTS_HOUR_MS == 0);
}

static int counts_piece_run(struct db *db, const struct filter *f, struct counts_sink *s,
                            const struct counts_piece *p)
{
    int rc;

    if (p->src == COUNTS_SRC_ROWS)
        return counts_rows(db, f, s, p->from, p->to, true);
    if (s->attempts != NULL && (rc = counts_rollup(db, f, s, p->src, p->from, p->to, false)) != 0)
        return rc;
    if (s->failures == NULL)
        return 0;
    if (s->failures_from_rows || (p->src == COUNTS_SRC_HOUR && !counts_hours_fit(s)))
        return counts_rows(db, f, s, p->from, p->to, false);
    return counts_rollup(db, f, s, p->src, p->from, p->to, true);
}

bool counts_needs_hours(const struct range *r)
{
    for (int64_t h = counts_floor(r->from_ms, COUNTS_HOUR_MS, 0); h < r->to_ms;) {
        if (!counts_minutes_ok(&r->facts, h) && counts_hours_ok(&r->facts, h) &&
            !counts_hour_empty(r, h))
            return true;
        /* every hour after the first minute's has its minutes */
        if (r->facts.first_minute != INT64_MAX && h > r->facts.first_minute)
            return false;
        if (__builtin_add_overflow(h, COUNTS_HOUR_MS, &h))
            break;
    }
    return false;
}

int counts_run(struct db *db, const struct filter *f, const struct range *r, struct counts_sink *s)
{
    const struct counts_facts *fa = &r->facts;
    struct counts_piece cur = {0};
    bool have = false;
    int rc;

    s->orphan_failures = 0;
    s->orphans_until_ms = 0;
    if (r->to_ms <= r->from_ms)
        return 0;
    /* One source per hour, adjacent hours of one source in one piece; a
     * range of years is a few thousand steps of this loop, not queries. */
    for (int64_t h = counts_floor(r->from_ms, COUNTS_HOUR_MS, 0), next; h < r->to_ms; h = next) {
        int64_t a = h > r->from_ms ? h : r->from_ms, b;
        bool whole, mins = counts_minutes_ok(fa, h);
        enum counts_src src;
        if (__builtin_add_overflow(h, COUNTS_HOUR_MS, &next))
            break; /* the end of time */
        b = next < r->to_ms ? next : r->to_ms;
        whole = a == h && b == next;
        if (counts_hour_empty(r, h))
            continue;
        /* attempts placed in buckets narrower than an hour come from the
         * minutes while there are any */
        bool hours_fit = !mins || s->attempts == NULL || counts_hours_fit(s);
        if (whole && counts_hours_ok(fa, h) && (h > fa->first_hour || !mins) && hours_fit) {
            src = COUNTS_SRC_HOUR;
            /* every whole hour after the first hour row is one of these
             * (unless bucketed attempts take the minutes where there are) */
            if (h > fa->first_hour && (s->attempts == NULL || counts_hours_fit(s))) {
                int64_t last = counts_floor(r->to_ms, COUNTS_HOUR_MS, 0);
                if (last > b)
                    b = next = last;
            }
        } else if (mins)
            src = COUNTS_SRC_MINUTE;
        else if (counts_hours_ok(fa, h))
            src = COUNTS_SRC_HOUR; /* partial: range_resolve() found the rest idle */
        else
            src = COUNTS_SRC_ROWS;
        if (have && cur.src == src && cur.to == a) {
            cur.to = b;
        } else {
            if (have && (rc = counts_piece_run(db, f, s, &cur)) != 0)
                return rc;
            cur = (struct counts_piece){.from = a, .to = b, .src = src};
            have = true;
        }
    }
    return have ? counts_piece_run(db, f, s, &cur) : 0;
}

/* --- (target, key) -> count ------------------------------------------------ */

static size_t counts_hash(int64_t target_id, int key, size_t cap)
{
    uint64_t h = (uint64_t)target_id * 0x9e3779b97f4a7c15ULL ^
                 (uint64_t)(unsigned)key * 0xff51afd7ed558ccdULL;

    return (size_t)(h ^ (h >> 29)) & (cap - 1);
}

static void counts_map_put(struct counts_map *m, int64_t target_id, int key, int64_t n)
{
    size_t i = counts_hash(target_id, key, m->cap);

    while (m->e[i].used && (m->e[i].target_id != target_id || m->e[i].key != key))
        i = (i + 1) & (m->cap - 1);
    if (!m->e[i].used) {
        m->e[i] = (struct counts_entry){.target_id = target_id, .key = key, .used = true};
        m->len++;
    }
    counts_add(&m->e[i].n, n);
}

void counts_map_add(struct counts_map *m, int64_t target_id, int key, int64_t n)
{
    if ((m->len + 1) * 2 > m->cap) { /* keep the load under one half */
        struct counts_map bigger = {.cap = m->cap ? m->cap * 2 : 256};
        bigger.e = fmt_alloc(NULL, bigger.cap * sizeof(*bigger.e));
        memset(bigger.e, 0, bigger.cap * sizeof(*bigger.e));
        for (size_t i = 0; i < m->cap; i++)
            if (m->e[i].used)
                counts_map_put(&bigger, m->e[i].target_id, m->e[i].key, m->e[i].n);
        free(m->e);
        *m = bigger;
    }
    counts_map_put(m, target_id, key, n);
}

struct counts_entry *counts_map_find(const struct counts_map *m, int64_t target_id, int key)
{
    size_t i;

    if (m->cap == 0)
        return NULL;
    for (i = counts_hash(target_id, key, m->cap); m->e[i].used; i = (i + 1) & (m->cap - 1))
        if (m->e[i].target_id == target_id && m->e[i].key == key)
            return &m->e[i];
    return NULL;
}

void counts_map_free(struct counts_map *m)
{
    free(m->e);
    m->e = NULL;
    m->len = m->cap = 0;
}
