/* Exact failure counts over any range from the rollups: whole hours from
 * rollup_hour_code, whole minutes of the partial hours from
 * rollup_minute_code, and the partial minutes at the edges (or minutes the
 * minute rollups no longer hold) from failures itself, so a 24-hour summary
 * reads a few tens of thousands of rollup rows instead of every failure. */
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "counts.h"

void range_from_client(const struct client *cl, int64_t default_span_ms, struct range *r)
{
    r->now_ms = cl->now_ms;
    r->until_ms = cl->has_until ? cl->until_ms : cl->now_ms;
    r->since_ms = cl->has_since ? cl->since_ms : r->until_ms - default_span_ms;
    if (r->since_ms < 0)
        r->since_ms = 0;
}

int64_t counts_floor(int64_t t, int64_t step, int64_t offset_ms)
{
    int64_t x = t + offset_ms, q = x / step;

    if (x % step != 0 && x < 0)
        q--;
    return q * step - offset_ms;
}

static int64_t counts_ceil(int64_t t, int64_t step)
{
    int64_t f = counts_floor(t, step, 0);

    return f == t ? t : f + step;
}

/* One piece of the range from one table. Rollup rows are summed here, not
 * in SQL: a GROUP BY sorts, which costs more than reading the rows (tens of
 * thousands for a day) into the caller's hash table. */
static int counts_piece(struct db *db, const struct filter *f, const char *table,
                        const char *time_col, const char *key_col, int64_t from, int64_t to,
                        counts_cb cb, void *arg)
{
    bool raw = strcmp(table, "failures") == 0;
    struct fmt_buf sql = {0};
    sqlite3_stmt *st;
    int rc;

    if (from >= to)
        return 0;
    fmt_buf_add(&sql, "SELECT target_id, %s, %s FROM %s WHERE %s >= ?1 AND %s < ?2", key_col,
                raw ? "count(*)" : "count", table, time_col, time_col);
    filter_sql(db, f, &sql, "target_id", "wsa_code", raw ? "phase" : NULL);
    if (raw)
        fmt_buf_add(&sql, " GROUP BY target_id, %s", key_col);
    rc = db_prepare(db, sql.s, &st);
    fmt_buf_free(&sql);
    if (rc != 0)
        return rc;
    sqlite3_bind_int64(st, 1, from);
    sqlite3_bind_int64(st, 2, to);
    while ((rc = db_step(db, st)) == SQLITE_ROW)
        cb(arg, sqlite3_column_int64(st, 0), sqlite3_column_int(st, 1),
           sqlite3_column_int64(st, 2));
    sqlite3_finalize(st);
    return rc < 0 ? CLIENT_EXIT_RUNTIME : 0;
}

static int counts_failures(struct db *db, const struct filter *f, int64_t from, int64_t to,
                           counts_cb cb, void *arg)
{
    return counts_piece(db, f, "failures", "ts", "wsa_code", from, to, cb, arg);
}

/* Whole minutes [from, to): from rollup_minute_code where it still holds
 * them (the daemon keeps minutes 7 days), from failures before that. */
static int counts_minutes(struct db *db, const struct filter *f, int64_t from, int64_t to,
                          int64_t first_minute, counts_cb cb, void *arg)
{
    int64_t split = first_minute < from ? from : first_minute > to ? to : first_minute;
    int rc;

    if ((rc = counts_failures(db, f, from, split, cb, arg)) != 0)
        return rc;
    return counts_piece(db, f, "rollup_minute_code", "minute", "wsa_code", split, to, cb, arg);
}

int counts_by_code(struct db *db, const struct filter *f, const struct range *r, counts_cb cb,
                   void *arg)
{
    int64_t s = r->since_ms, u = r->until_ms, m1, m2, h1, h2, first_minute;
    int rc;

    if (u <= s)
        return 0;
    m1 = counts_ceil(s, COUNTS_MINUTE_MS);
    m2 = counts_floor(u, COUNTS_MINUTE_MS, 0);
    if (m1 >= m2)
        return counts_failures(db, f, s, u, cb, arg);
    if ((rc = counts_failures(db, f, s, m1, cb, arg)) != 0 ||
        (rc = counts_failures(db, f, m2, u, cb, arg)) != 0)
        return rc;
    /* Rows before the first minute the minute rollup holds are either
     * pruned or do not exist: failures has them if anything does. */
    if ((first_minute = db_min_time(db, "rollup_minute_code", "minute")) < 0)
        return CLIENT_EXIT_RUNTIME;
    h1 = counts_ceil(m1, COUNTS_HOUR_MS);
    h2 = counts_floor(m2, COUNTS_HOUR_MS, 0);
    if (h1 >= h2)
        return counts_minutes(db, f, m1, m2, first_minute, cb, arg);
    if ((rc = counts_minutes(db, f, m1, h1, first_minute, cb, arg)) != 0 ||
        (rc = counts_minutes(db, f, h2, m2, first_minute, cb, arg)) != 0)
        return rc;
    return counts_piece(db, f, "rollup_hour_code", "hour", "wsa_code", h1, h2, cb, arg);
}

int counts_attempts(struct db *db, const struct filter *f, const struct range *r,
                    counts_attempts_cb cb, void *arg)
{
    int64_t span = r->until_ms - r->since_ms, first_minute, step;
    const char *table, *col;
    struct fmt_buf sql = {0};
    sqlite3_stmt *st;
    int rc;

    if (span <= 0)
        return 0;
    if ((first_minute = db_min_time(db, "rollup_minute", "minute")) < 0)
        return CLIENT_EXIT_RUNTIME;
    if (span <= 2 * COUNTS_HOUR_MS &&
        first_minute <= counts_floor(r->since_ms, COUNTS_MINUTE_MS, 0)) {
        table = "rollup_minute";
        col = "minute";
        step = COUNTS_MINUTE_MS;
    } else {
        table = "rollup_hour";
        col = "hour";
        step = COUNTS_HOUR_MS;
    }
    fmt_buf_add(&sql,
                "SELECT %s, target_id, successes, latency_sum_us, latency_count FROM %s "
                "WHERE %s > ?1 AND %s < ?2",
                col, table, col, col);
    filter_sql(db, f, &sql, "target_id", NULL, NULL);
    rc = db_prepare(db, sql.s, &st);
    fmt_buf_free(&sql);
    if (rc != 0)
        return rc;
    sqlite3_bind_int64(st, 1, r->since_ms - step);
    sqlite3_bind_int64(st, 2, r->until_ms);
    while ((rc = db_step(db, st)) == SQLITE_ROW) {
        int64_t start = sqlite3_column_int64(st, 0);
        /* The share of the bucket inside the range, out of the part of the
         * bucket that has happened (the current one is still filling up):
         * attempts are spread evenly over a bucket. */
        int64_t lo = start > r->since_ms ? start : r->since_ms, end = start + step;
        int64_t seen = end < r->now_ms ? end : r->now_ms;
        int64_t hi = end < r->until_ms ? end : r->until_ms;
        double w;
        if (hi > seen)
            hi = seen;
        if (hi <= lo)
            continue;
        w = seen > start ? (double)(hi - lo) / (double)(seen - start) : 1.0;
        struct counts_attempts a = {
            .successes = w * (double)sqlite3_column_int64(st, 2),
            .latency_sum_us = w * (double)sqlite3_column_int64(st, 3),
            .latency_count = w * (double)sqlite3_column_int64(st, 4),
        };
        cb(arg, sqlite3_column_int64(st, 1), &a);
    }
    sqlite3_finalize(st);
    return rc < 0 ? CLIENT_EXIT_RUNTIME : 0;
}

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
    m->e[i].n += n;
}

void counts_map_add(void *map, int64_t target_id, int key, int64_t n)
{
    struct counts_map *m = map;

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
