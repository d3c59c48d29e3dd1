/* SPDX-License-Identifier: ISC */
/* `netdiag summary`: failures of a range counted by code, target or phase,
 * each with the attempts it is a share of, and each code's meaning. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "counts.h"
#include "db.h"
#include "filter.h"
#include "fmt.h"
#include "state.h"
#include "util.h"
#include "wsa.h"

#define SUMMARY_DEFAULT_SPAN_MS (24 * COUNTS_HOUR_MS)

enum summary_by {
    SUMMARY_BY_CODE,
    SUMMARY_BY_TARGET,
    SUMMARY_BY_PHASE,
    SUMMARY_BY_RAW,
};

#define SUMMARY_MAX_RAWS 4096 /* distinct raw names shown; the rest are "(more)" */

/* One output row: a code, a target or a phase. */
struct summary_row {
    int64_t key; /* code, target id or phase */
    int64_t failures;
    int64_t targets;  /* distinct targets with failures (by code, by phase) */
    int64_t attempts; /* by target: the target's own */
    int top_code;     /* the most frequent code (by target, by phase) */
    int64_t top_n;
    int64_t last_ms; /* newest failure; -1 when not looked up */
};

struct summary {
    struct client *cl;
    struct db db;
    struct filter f;
    struct range r;
    struct counts_sink sink;
    enum summary_by by;
    struct summary_row *rows;
    size_t nrows;
    struct counts_map index;               /* (key, 0) -> row index + 1 */
    struct counts_map pairs;               /* (target, code) -> failures of the codes shown */
    struct counts_map attempts;            /* (target, 0) -> attempts */
    char *raw_names[SUMMARY_MAX_RAWS + 1]; /* by raw: row key -> name (NULL: none) */
    size_t nraw_names;
    int64_t attempts_all;   /* of the selected targets */
    int64_t failures_shown; /* the codes --code selects */
    int ntargets;           /* selected targets with attempts */
};

static struct summary_row *summary_row_for(struct summary *s, int64_t key)
{
    struct counts_entry *e = counts_map_find(&s->index, key, 0);

    if (e != NULL)
        return &s->rows[e->n - 1];
    counts_map_add(&s->index, key, 0, (int64_t)s->nrows + 1);
    s->rows = fmt_alloc(s->rows, (s->nrows + 1) * sizeof(*s->rows));
    s->rows[s->nrows] = (struct summary_row){.key = key, .top_code = -1, .last_ms = -1};
    return &s->rows[s->nrows++];
}

static void summary_failures_cb(void *arg, int64_t target_id, int code, int64_t n, int64_t t_ms)
{
    struct summary *s = arg;

    (void)t_ms;
    if (filter_code_ok(&s->f, code))
        counts_map_add(&s->pairs, target_id, code, n);
}

static void summary_attempts_cb(void *arg, int64_t target_id, const struct counts_attempts *a,
                                int64_t t_ms)
{
    struct summary *s = arg;

    (void)t_ms;
    counts_map_add(&s->attempts, target_id, 0, a->attempts);
}

/* A row's top code from (row key, code) counts. */
static void summary_top_codes(struct summary *s, const struct counts_map *by_code)
{
    for (size_t i = 0; i < by_code->cap; i++) {
        const struct counts_entry *e = &by_code->e[i];
        struct summary_row *row;
        if (!e->used || e->n == 0)
            continue;
        row = summary_row_for(s, e->target_id);
        if (e->n > row->top_n || (e->n == row->top_n && e->key < row->top_code)) {
            row->top_n = e->n;
            row->top_code = e->key;
        }
    }
}

/* By code and by target: the (target, code) counts of the range. */
static void summary_group(struct summary *s)
{
    struct counts_map top = {0};

    for (size_t i = 0; i < s->pairs.cap; i++) {
        const struct counts_entry *e = &s->pairs.e[i];
        struct summary_row *row;
        if (!e->used || e->n == 0)
            continue;
        counts_add(&s->failures_shown, e->n);
        if (s->by == SUMMARY_BY_CODE) {
            row = summary_row_for(s, e->key);
            row->targets++;
        } else {
            row = summary_row_for(s, e->target_id);
            counts_map_add(&top, e->target_id, e->key, e->n);
        }
        counts_add(&row->failures, e->n);
    }
    if (s->by == SUMMARY_BY_TARGET) {
        summary_top_codes(s, &top);
        for (size_t i = 0; i < s->nrows; i++) {
            const struct counts_entry *e = counts_map_find(&s->attempts, s->rows[i].key, 0);
            s->rows[i].attempts = e != NULL ? e->n : 0;
        }
    }
    counts_map_free(&top);
}

/* The key of a raw name (an index into raw_names); NULL is a key of its
 * own, and names past SUMMARY_MAX_RAWS share the last one. */
static int64_t summary_raw_key(struct summary *s, const char *name)
{
    for (size_t i = 0; i < s->nraw_names; i++)
        if ((name == NULL && s->raw_names[i] == NULL) ||
            (name != NULL && s->raw_names[i] != NULL && strcmp(name, s->raw_names[i]) == 0))
            return (int64_t)i;
    if (s->nraw_names == SUMMARY_MAX_RAWS) {
        s->raw_names[s->nraw_names++] = fmt_strdup("(more)");
        return SUMMARY_MAX_RAWS;
    }
    if (s->nraw_names > SUMMARY_MAX_RAWS)
        return SUMMARY_MAX_RAWS;
    s->raw_names[s->nraw_names] = name != NULL ? fmt_strdup(name) : NULL;
    return (int64_t)s->nraw_names++;
}

/* By phase and by raw outcome: the rollups have neither, so the failure
 * rows of the range are read (grouped in SQL). */
static int summary_from_rows(struct summary *s)
{
    struct counts_map pairs = {0}, top = {0};
    struct fmt_buf sql = {0};
    sqlite3_stmt *st;
    int rc;

    if (s->by == SUMMARY_BY_PHASE)
        fmt_buf_add(&sql, "SELECT f.phase, f.wsa_code, f.target_id, count(*), max(f.ts) "
                          "FROM failures AS f WHERE f.ts >= ?1 AND f.ts < ?2");
    else if (s->db.version >= 2)
        fmt_buf_add(&sql, "SELECT r.name, f.wsa_code, f.target_id, count(*), max(f.ts) "
                          "FROM failures AS f LEFT JOIN raws AS r ON r.id = f.raw_id "
                          "WHERE f.ts >= ?1 AND f.ts < ?2");
    else /* schema 1: the name is in the row */
        fmt_buf_add(&sql, "SELECT f.raw, f.wsa_code, f.target_id, count(*), max(f.ts) "
                          "FROM failures AS f WHERE f.ts >= ?1 AND f.ts < ?2");
    filter_sql(&s->db, &s->f, &sql, "f.target_id", "f.wsa_code", "f.phase");
    filter_raw_sql(&s->db, &s->f, &sql, "f.");
    fmt_buf_add(&sql, " GROUP BY 1, f.wsa_code, f.target_id");
    rc = db_prepare(&s->db, sql.s, &st);
    fmt_buf_free(&sql);
    if (rc != 0)
        return rc;
    sqlite3_bind_int64(st, 1, s->r.from_ms);
    sqlite3_bind_int64(st, 2, s->r.to_ms);
    while ((rc = db_step(&s->db, st)) == SQLITE_ROW) {
        int64_t code = sqlite3_column_int64(st, 1), key;
        int64_t target = sqlite3_column_int64(st, 2), n = sqlite3_column_int64(st, 3);
        int64_t last = sqlite3_column_int64(st, 4);
        struct summary_row *row;
        if (code < 0 || code > INT32_MAX)
            continue;
        if (s->by == SUMMARY_BY_PHASE)
            key = sqlite3_column_int64(st, 0);
        else
            key = summary_raw_key(s, (const char *)sqlite3_column_text(st, 0));
        counts_add(&s->failures_shown, n);
        row = summary_row_for(s, key);
        counts_add(&row->failures, n);
        if (last > row->last_ms)
            row->last_ms = last;
        /* distinct targets: (key, target) pairs, the target folded into
         * the int key (a collision only merges two targets' pairs) */
        counts_map_add(&pairs, key, (int)(target & 0x7fffffff), n);
        counts_map_add(&top, key, (int)code, n);
    }
    sqlite3_finalize(st);
    if (rc < 0) {
        rc = CLIENT_EXIT_RUNTIME;
        goto out;
    }
    for (size_t i = 0; i < pairs.cap; i++)
        if (pairs.e[i].used)
            summary_row_for(s, pairs.e[i].target_id)->targets++;
    summary_top_codes(s, &top);
    rc = 0;
out:
    counts_map_free(&pairs);
    counts_map_free(&top);
    return rc;
}

/* The newest failure of each row, through failures_code_ts or
 * failures_target_ts: one short index walk per row. */
static int summary_last(struct summary *s)
{
    struct fmt_buf sql = {0};
    sqlite3_stmt *st;
    int rc = 0;

    if (s->by == SUMMARY_BY_PHASE || s->by == SUMMARY_BY_RAW || s->nrows == 0)
        return 0;
    fmt_buf_add(&sql, "SELECT max(ts) FROM failures WHERE %s = ?1 AND ts >= ?2 AND ts < ?3",
                s->by == SUMMARY_BY_CODE ? "wsa_code" : "target_id");
    filter_sql(&s->db, &s->f, &sql, s->by == SUMMARY_BY_CODE ? "target_id" : NULL,
               s->by == SUMMARY_BY_TARGET ? "wsa_code" : NULL, "phase");
    filter_raw_sql(&s->db, &s->f, &sql, "");
    rc = db_prepare(&s->db, sql.s, &st);
    fmt_buf_free(&sql);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < s->nrows && rc == 0; i++) {
        sqlite3_bind_int64(st, 1, s->rows[i].key);
        sqlite3_bind_int64(st, 2, s->r.from_ms);
        sqlite3_bind_int64(st, 3, s->r.to_ms);
        if (db_step(&s->db, st) == SQLITE_ROW) {
            if (sqlite3_column_type(st, 0) != SQLITE_NULL)
                s->rows[i].last_ms = sqlite3_column_int64(st, 0);
        } else {
            rc = CLIENT_EXIT_RUNTIME;
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return rc;
}

static const struct summary *summary_sort;

/* Most failures first; ties by code, target name or phase. */
static int summary_cmp(const void *pa, const void *pb)
{
    const struct summary_row *a = pa, *b = pb;

    if (a->failures != b->failures)
        return a->failures > b->failures ? -1 : 1;
    if (summary_sort->by == SUMMARY_BY_TARGET)
        return strcmp(db_target_name(&summary_sort->db, a->key),
                      db_target_name(&summary_sort->db, b->key));
    if (summary_sort->by == SUMMARY_BY_RAW) {
        const char *x = summary_sort->raw_names[a->key], *y = summary_sort->raw_names[b->key];
        return x == NULL ? (y != NULL) : y == NULL ? -1 : strcmp(x, y);
    }
    return a->key < b->key ? -1 : a->key > b->key;
}

/* failures / attempts; NaN when there were no attempts. A failure count
 * above the attempts (rows someone else wrote) shows as 100 %. */
static double summary_rate(int64_t failures, int64_t attempts)
{
    if (attempts <= 0)
        return NAN;
    return fmin(1.0, (double)failures / (double)attempts);
}

static void summary_put_rate(struct output *o, double rate)
{
    char pct[32];

    fmt_percent1(rate, pct, sizeof(pct));
    output_double(o, rate, 6, pct);
}

static void summary_put_time(const struct summary *s, struct output *o, int64_t ms)
{
    if (ms < 0) {
        output_null(o);
        output_null(o);
        return;
    }
    output_time(o, ms, s->cl->utc, NULL);
}

static void summary_put_code(struct output *o, int code, bool meaning_too)
{
    const struct wsa_code *wc = code >= 0 ? wsa_by_code(code) : NULL;

    if (code < 0)
        output_null(o);
    else
        output_int(o, code);
    output_str(o, wc ? wc->name : NULL);
    if (meaning_too)
        output_str(o, wc ? wc->meaning : NULL);
}

static const struct output_column summary_code_cols[] = {
    {"wsa_code", OUTPUT_COL_RIGHT, 4, "CODE", 0},
    {"wsa_name", OUTPUT_COL_KEEP, 0, "NAME", 0},
    {"failures", OUTPUT_COL_KEEP | OUTPUT_COL_RIGHT, 0, NULL, 0},
    {"attempts", OUTPUT_COL_RIGHT, 3, NULL, 0},
    {"rate", OUTPUT_COL_KEEP | OUTPUT_COL_RIGHT, 0, NULL, 0},
    {"targets", OUTPUT_COL_RIGHT, 2, NULL, 0},
    {"last_ms", OUTPUT_COL_HIDE, 0, NULL, 0},
    {"last", OUTPUT_COL_WHOLE, 1, NULL, 0},
    {"meaning", 0, 0, NULL, 0},
};

static const struct output_column summary_target_cols[] = {
    {"target", OUTPUT_COL_KEEP, 0, NULL, 0},
    {"kind", 0, 3, NULL, 0},
    {"failures", OUTPUT_COL_KEEP | OUTPUT_COL_RIGHT, 0, NULL, 0},
    {"attempts", OUTPUT_COL_RIGHT, 2, NULL, 0},
    {"rate", OUTPUT_COL_KEEP | OUTPUT_COL_RIGHT, 0, NULL, 0},
    {"wsa_code", OUTPUT_COL_RIGHT, 4, "CODE", 0},
    {"wsa_name", OUTPUT_COL_KEEP, 0, "NAME", 0},
    {"meaning", 0, 0, NULL, 0},
    {"last_ms", OUTPUT_COL_HIDE, 0, NULL, 0},
    {"last", OUTPUT_COL_WHOLE, 1, NULL, 0},
};

static const struct output_column summary_raw_cols[] = {
    {"raw", OUTPUT_COL_KEEP, 0, NULL, 0},
    {"failures", OUTPUT_COL_KEEP | OUTPUT_COL_RIGHT, 0, NULL, 0},
    {"attempts", OUTPUT_COL_RIGHT, 3, NULL, 0},
    {"rate", OUTPUT_COL_KEEP | OUTPUT_COL_RIGHT, 0, NULL, 0},
    {"targets", OUTPUT_COL_RIGHT, 2, NULL, 0},
    {"wsa_code", OUTPUT_COL_RIGHT, 4, "CODE", 0},
    {"wsa_name", OUTPUT_COL_KEEP, 0, "NAME", 0},
    {"meaning", 0, 0, NULL, 0},
    {"last_ms", OUTPUT_COL_HIDE, 0, NULL, 0},
    {"last", OUTPUT_COL_WHOLE, 1, NULL, 0},
};

static const struct output_column summary_phase_cols[] = {
    {"phase", OUTPUT_COL_KEEP, 0, NULL, 0},
    {"failures", OUTPUT_COL_KEEP | OUTPUT_COL_RIGHT, 0, NULL, 0},
    {"attempts", OUTPUT_COL_RIGHT, 3, NULL, 0},
    {"rate", OUTPUT_COL_KEEP | OUTPUT_COL_RIGHT, 0, NULL, 0},
    {"targets", OUTPUT_COL_RIGHT, 2, NULL, 0},
    {"wsa_code", OUTPUT_COL_RIGHT, 4, "CODE", 0},
    {"wsa_name", OUTPUT_COL_KEEP, 0, "NAME", 0},
    {"meaning", 0, 0, NULL, 0},
    {"last_ms", OUTPUT_COL_HIDE, 0, NULL, 0},
    {"last", OUTPUT_COL_WHOLE, 1, NULL, 0},
};

/* Table mode: what the rows count and what each rate is a share of;
 * widened edges and attempt counts lost to retention are said in every
 * format. */
static void summary_heading(const struct summary *s)
{
    char pct[32], line[512];

    fmt_percent1(summary_rate(s->failures_shown, s->attempts_all), pct, sizeof(pct));
    if (s->cl->format == OUTPUT_TABLE) {
        char range[160];
        counts_range_text(s->cl, &s->r, range, sizeof(range));
        if (s->attempts_all == 0 && s->failures_shown == 0) {
            snprintf(line, sizeof(line), "no attempts and no failures, %s", range);
            client_wrap(s->cl, line);
            counts_range_notes(s->cl, &s->r, &s->sink);
            return;
        }
        snprintf(line, sizeof(line), "%lld failures in %lld attempts (%s), %s",
                 (long long)s->failures_shown, (long long)s->attempts_all, pct, range);
        client_wrap(s->cl, line);
        if (s->by == SUMMARY_BY_TARGET)
            snprintf(line, sizeof(line), "RATE is a share of each target's own attempts.");
        else
            snprintf(line, sizeof(line),
                     "RATE is a share of all %lld attempts of the %d target%s probed in the range.",
                     (long long)s->attempts_all, s->ntargets, s->ntargets == 1 ? "" : "s");
        client_wrap(s->cl, line);
    }
    counts_range_notes(s->cl, &s->r, &s->sink);
}

static int summary_print(struct summary *s)
{
    const struct output_column *cols;
    size_t ncols;
    struct output *o;

    if (s->by == SUMMARY_BY_CODE) {
        cols = summary_code_cols;
        ncols = ND_ARRAY_LEN(summary_code_cols);
    } else if (s->by == SUMMARY_BY_TARGET) {
        cols = summary_target_cols;
        ncols = ND_ARRAY_LEN(summary_target_cols);
    } else if (s->by == SUMMARY_BY_RAW) {
        cols = summary_raw_cols;
        ncols = ND_ARRAY_LEN(summary_raw_cols);
    } else {
        cols = summary_phase_cols;
        ncols = ND_ARRAY_LEN(summary_phase_cols);
    }
    summary_heading(s);
    o = output_new(s->cl->out, s->cl->format, OUTPUT_LIST, cols, ncols, s->cl->width_cols,
                   s->cl->wide);
    output_set_empty(o, NULL); /* the first line says "0 failures" */
    for (size_t i = 0; i < s->nrows; i++) {
        const struct summary_row *row = &s->rows[i];
        int64_t a = s->by == SUMMARY_BY_TARGET ? row->attempts : s->attempts_all;
        if (row->failures == 0)
            continue;
        if (s->by == SUMMARY_BY_CODE) {
            const struct wsa_code *wc = wsa_by_code((int)row->key);
            output_int(o, row->key);
            output_str(o, wc ? wc->name : NULL);
        } else if (s->by == SUMMARY_BY_TARGET) {
            const struct db_target *t = db_target_by_id(&s->db, row->key);
            output_str(o, db_target_name(&s->db, row->key));
            output_str(o, t ? t->kind : NULL);
        } else if (s->by == SUMMARY_BY_RAW) {
            output_str(o, s->raw_names[row->key]);
        } else {
            output_str(o, filter_phase_name((int)row->key));
        }
        output_int(o, row->failures);
        output_int(o, a);
        summary_put_rate(o, summary_rate(row->failures, a));
        if (s->by == SUMMARY_BY_CODE) {
            const struct wsa_code *wc = wsa_by_code((int)row->key);
            output_int(o, row->targets);
            summary_put_time(s, o, row->last_ms);
            output_str(o, wc ? wc->meaning : NULL);
        } else {
            if (s->by == SUMMARY_BY_PHASE || s->by == SUMMARY_BY_RAW)
                output_int(o, row->targets);
            summary_put_code(o, row->top_code, true);
            summary_put_time(s, o, row->last_ms);
        }
        output_end_row(o);
    }
    return output_finish(o) == 0 ? CLIENT_EXIT_OK : client_write_error();
}

static int summary_parse_by(struct client *cl, enum summary_by *by)
{
    const char *v = client_opt(cl, "by");

    *by = SUMMARY_BY_CODE;
    if (v == NULL || strcmp(v, "code") == 0)
        return 0;
    if (strcmp(v, "target") == 0)
        *by = SUMMARY_BY_TARGET;
    else if (strcmp(v, "phase") == 0)
        *by = SUMMARY_BY_PHASE;
    else if (strcmp(v, "raw") == 0)
        *by = SUMMARY_BY_RAW;
    else
        return client_usage_error(cl, "--by: \"%s\" is not code, target, phase or raw", v);
    return 0;
}

static int summary_count(struct summary *s)
{
    int rc;

    s->sink = (struct counts_sink){
        .arg = s,
        .attempts = summary_attempts_cb,
        .failures =
            s->by == SUMMARY_BY_PHASE || s->by == SUMMARY_BY_RAW ? NULL : summary_failures_cb,
        .failures_from_rows = filter_needs_rows(&s->f),
    };
    if ((rc = counts_run(&s->db, &s->f, &s->r, &s->sink)) != 0)
        return rc;
    for (size_t i = 0; i < s->attempts.cap; i++) {
        if (!s->attempts.e[i].used || s->attempts.e[i].n <= 0)
            continue;
        counts_add(&s->attempts_all, s->attempts.e[i].n);
        s->ntargets++;
    }
    if (s->by == SUMMARY_BY_PHASE || s->by == SUMMARY_BY_RAW)
        return summary_from_rows(s);
    summary_group(s);
    return 0;
}

int cmd_summary_run(struct client *cl, int argc, char **argv)
{
    struct summary s = {.cl = cl};
    int rc;

    (void)argc;
    (void)argv;
    if ((rc = summary_parse_by(cl, &s.by)) != 0 ||
        (rc = filter_parse(cl, FILTER_TARGET | FILTER_CODE | FILTER_KIND | FILTER_RAW, &s.f)) != 0)
        return rc;
    range_from_client(cl, SUMMARY_DEFAULT_SPAN_MS, &s.r);
    if ((rc = db_open(cl, &s.db)) != 0)
        return rc;
    if ((rc = filter_select(cl, &s.db, &s.f)) != 0 || (rc = range_resolve(&s.db, &s.r)) != 0 ||
        (rc = summary_count(&s)) != 0)
        goto out;
    summary_sort = &s;
    if (s.nrows > 0)
        qsort(s.rows, s.nrows, sizeof(*s.rows), summary_cmp);
    while (s.nrows > 0 && s.rows[s.nrows - 1].failures == 0)
        s.nrows--;
    if ((rc = summary_last(&s)) != 0 || (rc = state_note(cl, &s.db, NULL)) != 0)
        goto out;
    rc = summary_print(&s);
out:
    free(s.rows);
    counts_map_free(&s.index);
    counts_map_free(&s.pairs);
    counts_map_free(&s.attempts);
    for (size_t i = 0; i < s.nraw_names; i++)
        free(s.raw_names[i]);
    db_close(&s.db);
    return rc;
}
