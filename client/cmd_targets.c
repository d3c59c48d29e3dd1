/* SPDX-License-Identifier: ISC */
/* `netdiag targets`: every target with its state and how long it has
 * held, its last failure with its time, and over the range its attempts,
 * failures, success rate and mean latency; failing ones first. */
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
#include "timefmt.h"
#include "util.h"
#include "wsa.h"

#define TARGETS_DEFAULT_SPAN_MS (24 * COUNTS_HOUR_MS)
/* Up to this many targets are listed failing first; more are streamed in
 * the order of their names as they are read (bounded memory, first rows
 * at once), and a line says so. */
#define TARGETS_SORT_MAX 20000

/* States, in the order targets are listed. */
enum targets_state {
    TARGETS_FAILING, /* the newest minute with attempts: all failed */
    TARGETS_MIXED,   /* some failed */
    TARGETS_OK,      /* none failed */
    TARGETS_NO_DATA, /* no attempt recorded (rollups pruned, or never probed) */
    TARGETS_RETIRED, /* no longer configured */
};

static const char *const targets_state_names[] = {"failing", "mixed", "ok", "no data", "retired"};

/* Counts of one target over the range, by index in db.targets. */
struct targets_stat {
    int64_t attempts, failures, latency_sum_us, latency_count;
};

/* What a row shows beyond its counts. */
struct targets_state_of {
    enum targets_state state;
    int64_t since_ms, seen_ms, last_failure_ms; /* -1: unknown */
    int last_code;                              /* -1: never failed */
};

/* A row kept for sorting (up to TARGETS_SORT_MAX). */
struct targets_row {
    size_t index; /* in db.targets */
    struct targets_state_of st;
    char *address;
};

struct targets {
    struct client *cl;
    struct db db;
    struct filter f;
    struct range r;
    struct counts_sink sink;
    struct targets_stat *stats; /* by index in db.targets */
    sqlite3_stmt *q[6];
};

enum targets_query {
    TQ_NEWEST_MINUTE, /* newest minute with attempts */
    TQ_NEWEST_HOUR,   /* the same per hour, once the minutes are pruned */
    TQ_LAST_FAILURE,  /* newest failure */
    TQ_LAST_SUCCESS,  /* newest minute with a success */
    TQ_FIRST_FAILURE, /* first failure at or after a time */
    TQ_LAST_UNMIXED,  /* newest minute all ok or all failed */
};

static const char *const targets_sql[] = {
    [TQ_NEWEST_MINUTE] = "SELECT minute, successes, failures FROM rollup_minute WHERE "
                         "target_id = ?1 ORDER BY minute DESC LIMIT 1",
    [TQ_NEWEST_HOUR] = "SELECT hour, successes, failures FROM rollup_hour WHERE target_id = ?1 "
                       "ORDER BY hour DESC LIMIT 1",
    [TQ_LAST_FAILURE] = "SELECT ts, wsa_code FROM failures WHERE target_id = ?1 ORDER BY ts "
                        "DESC LIMIT 1",
    [TQ_LAST_SUCCESS] = "SELECT max(minute) FROM rollup_minute WHERE target_id = ?1 AND "
                        "successes > 0",
    [TQ_FIRST_FAILURE] = "SELECT min(ts) FROM failures WHERE target_id = ?1 AND ts >= ?2",
    [TQ_LAST_UNMIXED] = "SELECT max(minute) FROM rollup_minute WHERE target_id = ?1 AND "
                        "(successes = 0 OR failures = 0)",
};

static struct targets_stat *targets_stat_of(struct targets *t, int64_t id)
{
    const struct db_target *tg = db_target_by_id(&t->db, id);

    return tg != NULL ? &t->stats[tg - t->db.targets] : NULL;
}

static void targets_attempts_cb(void *arg, int64_t target_id, const struct counts_attempts *a,
                                int64_t t_ms)
{
    struct targets_stat *st = targets_stat_of(arg, target_id);

    (void)t_ms;
    if (st == NULL)
        return;
    counts_add(&st->attempts, a->attempts);
    counts_add(&st->failures, a->failures);
    counts_add(&st->latency_sum_us, a->latency_sum_us);
    counts_add(&st->latency_count, a->latency_count);
}

/* Run query q for target id (and a time); the first row's columns in v,
 * false when there is none (or its first column is NULL). */
static int targets_ask(struct targets *t, enum targets_query q, int64_t id, int64_t arg,
                       int64_t v[3], bool *found)
{
    sqlite3_stmt *st = t->q[q];
    int rc;

    *found = false;
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_bind_parameter_count(st) >= 2)
        sqlite3_bind_int64(st, 2, arg);
    rc = db_step(&t->db, st);
    if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
        *found = true;
        for (int i = 0; i < 3 && i < sqlite3_column_count(st); i++)
            v[i] = sqlite3_column_int64(st, i);
    }
    sqlite3_reset(st);
    return rc < 0 ? CLIENT_EXIT_RUNTIME : 0;
}

/* A target's state from its newest minute with attempts (hour, once the
 * minutes are pruned), and since when it has held: failing since its
 * first failure after the last minute with a success; ok since its last
 * failure; mixed since the last minute that was not. Minute precision:
 * the rollups count attempts per minute. */
static int targets_state_of(struct targets *t, const struct db_target *tg,
                            struct targets_state_of *s)
{
    int64_t v[3] = {0}, w[3] = {0};
    bool found, failed;
    int rc;

    s->since_ms = s->seen_ms = s->last_failure_ms = -1;
    s->last_code = -1;
    if ((rc = targets_ask(t, TQ_LAST_FAILURE, tg->id, 0, w, &failed)) != 0)
        return rc;
    if (failed) {
        s->last_failure_ms = w[0];
        s->last_code = w[1] >= 0 && w[1] <= INT32_MAX ? (int)w[1] : -1;
    }
    if (tg->retired_ms != 0) {
        s->state = TARGETS_RETIRED;
        s->since_ms = tg->retired_ms;
        return 0;
    }
    if ((rc = targets_ask(t, TQ_NEWEST_MINUTE, tg->id, 0, v, &found)) != 0)
        return rc;
    if (!found && (rc = targets_ask(t, TQ_NEWEST_HOUR, tg->id, 0, v, &found)) != 0)
        return rc;
    if (!found) {
        s->state = TARGETS_NO_DATA;
        return 0;
    }
    s->seen_ms = v[0];
    if (v[2] == 0) {
        s->state = TARGETS_OK;
        s->since_ms = failed ? s->last_failure_ms : -1;
    } else if (v[1] == 0) {
        s->state = TARGETS_FAILING;
        if ((rc = targets_ask(t, TQ_LAST_SUCCESS, tg->id, 0, w, &found)) != 0 ||
            (rc = targets_ask(t, TQ_FIRST_FAILURE, tg->id,
                              found ? fmt_add(w[0], COUNTS_MINUTE_MS) : 0, w, &found)) != 0)
            return rc;
        s->since_ms = found ? w[0] : -1;
    } else {
        s->state = TARGETS_MIXED;
        if ((rc = targets_ask(t, TQ_LAST_UNMIXED, tg->id, 0, w, &found)) != 0)
            return rc;
        s->since_ms = found ? fmt_add(w[0], COUNTS_MINUTE_MS) : -1;
    }
    return 0;
}

/* The table columns are the JSON and CSV names in capitals; the _ms twins
 * and retired (the state says it) are JSON and CSV only. */
static const struct output_column targets_cols[] = {
    {"target", OUTPUT_COL_KEEP, 0, NULL, 0},
    {"kind", 0, 7, NULL, 0},
    {"address", 0, 6, NULL, 0},
    {"state", OUTPUT_COL_KEEP | OUTPUT_COL_WHOLE, 0, NULL, 0},
    {"since_ms", OUTPUT_COL_HIDE, 0, NULL, 0},
    {"since", OUTPUT_COL_WHOLE, 1, NULL, 0},
    {"last_failure_ms", OUTPUT_COL_HIDE, 0, NULL, 0},
    {"last_failure", OUTPUT_COL_WHOLE, 5, NULL, 0},
    {"last_code", OUTPUT_COL_RIGHT, 9, NULL, 0}, /* last_name says it too */
    {"last_name", OUTPUT_COL_KEEP, 3, NULL, 0},
    {"attempts", OUTPUT_COL_RIGHT, 4, NULL, 0},
    {"failures", OUTPUT_COL_RIGHT, 8, NULL, 0},
    {"success_rate", OUTPUT_COL_KEEP | OUTPUT_COL_RIGHT, 0, NULL, 0},
    {"latency_us", OUTPUT_COL_RIGHT, 2, NULL, 0},
    {"last_seen_ms", OUTPUT_COL_HIDE, 0, NULL, 0},
    {"last_seen", OUTPUT_COL_HIDE, 0, NULL, 0},
    {"retired", OUTPUT_COL_HIDE, 0, NULL, 0},
};

/* "16:31 (7m)", "11-23 16:31 (1d02h)": a time with how long ago. */
static void targets_since_text(const struct targets *t, int64_t ms, char *buf, size_t len)
{
    char when[32], day[16], today[16], ago[32];

    fmt_time(ms, t->cl->utc, FMT_TIME_CLOCK, when, sizeof(when));
    fmt_time(ms, t->cl->utc, FMT_TIME_DAY, day, sizeof(day));
    fmt_time(t->cl->now_ms, t->cl->utc, FMT_TIME_DAY, today, sizeof(today));
    timefmt_duration(fmt_sub(t->cl->now_ms, ms), TIMEFMT_AGO, ago, sizeof(ago));
    if (strcmp(day, today) == 0)
        snprintf(buf, len, "%s (%s)", when, ago);
    else
        snprintf(buf, len, "%s %s (%s)", day, when, ago);
}

static void targets_time(const struct targets *t, struct output *o, int64_t ms, bool ago)
{
    char shown[160];

    if (ms < 0) {
        output_null(o);
        output_null(o);
        return;
    }
    if (ago)
        targets_since_text(t, ms, shown, sizeof(shown));
    output_time(o, ms, t->cl->utc, ago ? shown : NULL);
}

static void targets_row(struct targets *t, struct output *o, const struct db_target *tg,
                        const struct targets_state_of *ts, const char *address)
{
    const struct wsa_code *wc = ts->last_code >= 0 ? wsa_by_code(ts->last_code) : NULL;
    const struct targets_stat *st = &t->stats[tg - t->db.targets];
    char pct[32], lat[32];

    output_str(o, tg->name);
    output_str(o, tg->kind);
    output_str(o, address);
    output_str(o, targets_state_names[ts->state]);
    targets_time(t, o, ts->since_ms, true);
    targets_time(t, o, ts->last_failure_ms, false);
    if (ts->last_code >= 0)
        output_int(o, ts->last_code);
    else
        output_null(o);
    output_str(o, wc ? wc->name : NULL);
    output_int(o, st->attempts);
    output_int(o, st->failures);
    if (st->attempts > 0) {
        /* the complement of summary --by target's rate, from the same
         * counts */
        double rate = fmax(0.0, 1.0 - fmin(1.0, (double)st->failures / (double)st->attempts));
        fmt_percent1(rate, pct, sizeof(pct));
        output_double(o, rate, 6, pct);
    } else {
        output_null(o);
    }
    if (st->latency_count > 0 && st->latency_sum_us >= 0) {
        int64_t avg = st->latency_sum_us / st->latency_count;
        fmt_latency_us(avg, lat, sizeof(lat));
        output_int_shown(o, avg, lat);
    } else {
        output_null(o);
    }
    targets_time(t, o, ts->seen_ms, false);
    output_bool(o, tg->retired_ms != 0);
    output_end_row(o);
}

static const struct targets *targets_sort;

/* Failing first, then mixed, ok, no data, retired; by name within. */
static int targets_cmp(const void *pa, const void *pb)
{
    const struct targets_row *x = pa, *y = pb;

    if (x->st.state != y->st.state)
        return x->st.state < y->st.state ? -1 : 1;
    return strcmp(targets_sort->db.targets[x->index].name, targets_sort->db.targets[y->index].name);
}

/* Every selected target, read by name: up to TARGETS_SORT_MAX kept and
 * printed failing first, more printed as they are read. */
static int targets_print(struct targets *t)
{
    bool failing_only = client_opt(t->cl, "failing") != NULL;
    bool stream = t->db.nselected > TARGETS_SORT_MAX;
    struct targets_row *rows = NULL;
    size_t n = 0, cap = 0, shown = 0;
    struct output *o;
    sqlite3_stmt *st;
    char text[128];
    int rc;

    if ((rc = db_prepare(&t->db,
                         stream ? "SELECT id, name, kind, host, port, protocol, qname, "
                                  "qtype, server, retired FROM targets ORDER BY name"
                                : db_target_sql,
                         &st)) != 0)
        return rc;
    o = output_new(t->cl->out, t->cl->format, OUTPUT_LIST, targets_cols, ND_ARRAY_LEN(targets_cols),
                   t->cl->width_cols, t->cl->wide);
    output_set_empty(o, failing_only ? "no target is failing" : "no targets");
    if (stream) {
        if (t->cl->format == OUTPUT_TABLE) /* JSON and CSV write every row at once anyway */
            output_stream(o);
        snprintf(text, sizeof(text), "%zu targets: listed by name as they are read",
                 t->db.nselected);
        client_note(t->cl, "%s", text);
    }
    while ((rc = db_step(&t->db, st)) == SQLITE_ROW) {
        const struct db_target *tg = db_target_by_id(&t->db, sqlite3_column_int64(st, 0));
        struct targets_state_of ts;
        if (tg == NULL || !tg->selected)
            continue;
        if ((rc = targets_state_of(t, tg, &ts)) != 0)
            break;
        if (failing_only && ts.state != TARGETS_FAILING && ts.state != TARGETS_MIXED)
            continue;
        if (stream) {
            char *address = db_target_address(st);
            targets_row(t, o, tg, &ts, address);
            free(address);
            if (++shown % 256 == 0 && output_flush(o) != 0)
                break;
            continue;
        }
        FMT_RESERVE(rows, cap, n + 1);
        rows[n++] = (struct targets_row){
            .index = (size_t)(tg - t->db.targets), .st = ts, .address = db_target_address(st)};
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        output_finish(o);
        rc = rc < 0 ? CLIENT_EXIT_RUNTIME : rc;
        goto out;
    }
    targets_sort = t;
    if (n > 0)
        qsort(rows, n, sizeof(*rows), targets_cmp);
    for (size_t k = 0; k < n; k++)
        targets_row(t, o, &t->db.targets[rows[k].index], &rows[k].st, rows[k].address);
    rc = output_finish(o) == 0 ? CLIENT_EXIT_OK : client_write_error();
out:
    for (size_t k = 0; k < n; k++)
        free(rows[k].address);
    free(rows);
    return rc;
}

int cmd_targets_run(struct client *cl, int argc, char **argv)
{
    struct targets t = {.cl = cl};
    int rc;

    (void)argc;
    (void)argv;
    if ((rc = filter_parse(cl, FILTER_TARGET | FILTER_KIND, &t.f)) != 0)
        return rc;
    range_from_client(cl, TARGETS_DEFAULT_SPAN_MS, &t.r);
    if ((rc = db_open(cl, &t.db)) != 0)
        return rc;
    if ((rc = filter_select(cl, &t.db, &t.f)) != 0 || (rc = range_resolve(&t.db, &t.r)) != 0)
        goto out;
    for (size_t i = 0; i < ND_ARRAY_LEN(t.q); i++)
        if ((rc = db_prepare(&t.db, targets_sql[i], &t.q[i])) != 0)
            goto out;
    t.stats = fmt_alloc(NULL, (t.db.ntargets + 1) * sizeof(*t.stats));
    memset(t.stats, 0, (t.db.ntargets + 1) * sizeof(*t.stats));
    /* The failures of a target are its rollup rows' own column, in the
     * rows that give its attempts: the per-code tables (twice the rows
     * over a week of 1,000 targets) add up to the same, and only the
     * commands that show codes read them. */
    t.sink = (struct counts_sink){.arg = &t, .attempts = targets_attempts_cb};
    if ((rc = counts_run(&t.db, &t.f, &t.r, &t.sink)) != 0 ||
        (rc = state_note(cl, &t.db, NULL)) != 0)
        goto out;
    if (cl->format == OUTPUT_TABLE) {
        char range[160], line[256];
        counts_range_text(cl, &t.r, range, sizeof(range));
        snprintf(line, sizeof(line), "counts of %s", range);
        client_wrap(cl, line);
    }
    counts_range_notes(cl, &t.r, &t.sink);
    rc = targets_print(&t);
out:
    for (size_t i = 0; i < ND_ARRAY_LEN(t.q); i++)
        sqlite3_finalize(t.q[i]);
    free(t.stats);
    db_close(&t.db);
    return rc;
}
