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
#include "util.h"
#include "wsa.h"

#define TARGETS_DEFAULT_SPAN_MS (24 * COUNTS_HOUR_MS)

/* States, in the order targets are listed. */
enum targets_state {
    TARGETS_FAILING, /* the newest minute with attempts: all failed */
    TARGETS_MIXED,   /* some failed */
    TARGETS_OK,      /* none failed */
    TARGETS_NO_DATA, /* no attempt recorded (rollups pruned, or never probed) */
    TARGETS_RETIRED, /* no longer configured */
};

static const char *const targets_state_names[] = {"failing", "mixed", "ok", "no data", "retired"};

struct targets_stat {
    int64_t attempts, failures, latency_sum_us, latency_count;
    enum targets_state state;
    int64_t since_ms, seen_ms, last_failure_ms; /* -1: unknown */
    int last_code;                              /* -1: never failed */
};

struct targets {
    struct client *cl;
    struct db db;
    struct filter f;
    struct range r;
    struct counts_sink sink;
    struct targets_stat *stats; /* by index in db.targets */
    struct counts_map index;    /* (target id, 0) -> index + 1 */
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
    struct counts_entry *e = counts_map_find(&t->index, id, 0);

    return e != NULL ? &t->stats[e->n - 1] : NULL;
}

static void targets_failures_cb(void *arg, int64_t target_id, int code, int64_t n, int64_t t_ms)
{
    struct targets_stat *st = targets_stat_of(arg, target_id);

    (void)code;
    (void)t_ms;
    if (st != NULL)
        counts_add(&st->failures, n);
}

static void targets_attempts_cb(void *arg, int64_t target_id, const struct counts_attempts *a,
                                int64_t t_ms)
{
    struct targets_stat *st = targets_stat_of(arg, target_id);

    (void)t_ms;
    if (st == NULL)
        return;
    counts_add(&st->attempts, a->attempts);
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
static int targets_state_of(struct targets *t, const struct db_target *tg, struct targets_stat *s)
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
            (rc = targets_ask(t, TQ_FIRST_FAILURE, tg->id, found ? w[0] + COUNTS_MINUTE_MS : 0, w,
                              &found)) != 0)
            return rc;
        s->since_ms = found ? w[0] : -1;
    } else {
        s->state = TARGETS_MIXED;
        if ((rc = targets_ask(t, TQ_LAST_UNMIXED, tg->id, 0, w, &found)) != 0)
            return rc;
        s->since_ms = found ? w[0] + COUNTS_MINUTE_MS : -1;
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
    fmt_duration_short(t->cl->now_ms - ms, ago, sizeof(ago));
    if (strcmp(day, today) == 0)
        snprintf(buf, len, "%s (%s)", when, ago);
    else
        snprintf(buf, len, "%s %s (%s)", day, when, ago);
}

static void targets_time(const struct targets *t, struct output *o, int64_t ms, bool ago)
{
    char iso[64], shown[160];

    if (ms < 0) {
        output_null(o);
        output_null(o);
        return;
    }
    fmt_time(ms, t->cl->utc, FMT_TIME_ISO, iso, sizeof(iso));
    if (ago)
        targets_since_text(t, ms, shown, sizeof(shown));
    else
        fmt_time(ms, t->cl->utc, FMT_TIME_SHORT, shown, sizeof(shown));
    output_int(o, ms);
    output_str_shown(o, iso, shown);
}

static void targets_row(struct targets *t, struct output *o, const struct db_target *tg,
                        const struct targets_stat *st)
{
    const struct wsa_code *wc = st->last_code >= 0 ? wsa_by_code(st->last_code) : NULL;
    char pct[32], lat[32];

    output_str(o, tg->name);
    output_str(o, tg->kind);
    output_str(o, tg->address);
    output_str(o, targets_state_names[st->state]);
    targets_time(t, o, st->since_ms, true);
    targets_time(t, o, st->last_failure_ms, false);
    if (st->last_code >= 0)
        output_int(o, st->last_code);
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
    targets_time(t, o, st->seen_ms, false);
    output_bool(o, tg->retired_ms != 0);
    output_end_row(o);
}

static const struct targets *targets_sort;

/* Failing first, then mixed, ok, no data, retired; by name within. */
static int targets_cmp(const void *pa, const void *pb)
{
    size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
    const struct targets_stat *x = &targets_sort->stats[a], *y = &targets_sort->stats[b];

    if (x->state != y->state)
        return x->state < y->state ? -1 : 1;
    return strcmp(targets_sort->db.targets[a].name, targets_sort->db.targets[b].name);
}

static int targets_print(struct targets *t)
{
    bool failing_only = client_opt(t->cl, "failing") != NULL;
    size_t *order = fmt_alloc(NULL, (t->db.ntargets + 1) * sizeof(*order)), n = 0;
    struct output *o;
    int rc = 0;

    for (size_t i = 0; i < t->db.ntargets && rc == 0; i++) {
        if (!t->db.targets[i].selected)
            continue;
        rc = targets_state_of(t, &t->db.targets[i], &t->stats[i]);
        if (failing_only && t->stats[i].state != TARGETS_FAILING &&
            t->stats[i].state != TARGETS_MIXED)
            continue;
        order[n++] = i;
    }
    if (rc != 0) {
        free(order);
        return rc;
    }
    targets_sort = t;
    qsort(order, n, sizeof(*order), targets_cmp);
    if (n == 0 && t->cl->format == OUTPUT_TABLE) {
        free(order);
        client_wrap(t->cl, failing_only ? "no target is failing" : "no targets");
        return fflush(t->cl->out) == 0 ? CLIENT_EXIT_OK : client_write_error();
    }
    o = output_new(t->cl->out, t->cl->format, OUTPUT_LIST, targets_cols, ND_ARRAY_LEN(targets_cols),
                   t->cl->width_cols, t->cl->wide);
    for (size_t k = 0; k < n; k++)
        targets_row(t, o, &t->db.targets[order[k]], &t->stats[order[k]]);
    free(order);
    return output_finish(o) == 0 ? CLIENT_EXIT_OK : client_write_error();
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
    for (size_t i = 0; i < t.db.ntargets; i++)
        counts_map_add(&t.index, t.db.targets[i].id, 0, (int64_t)i + 1);
    t.sink = (struct counts_sink){
        .arg = &t, .failures = targets_failures_cb, .attempts = targets_attempts_cb};
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
    counts_map_free(&t.index);
    db_close(&t.db);
    return rc;
}
