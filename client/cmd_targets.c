/* `netdiag targets` (every target with its last result and success rate)
 * and `netdiag alerts` (active and past alerts). */
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

struct targets_stat {
    int64_t attempts, failures, latency_sum_us, latency_count;
};

struct targets {
    struct client *cl;
    struct db db;
    struct filter f;
    struct range r;
    struct counts_sink sink;
    struct targets_stat *stats; /* by index in db.targets */
    struct counts_map index;    /* (target id, 0) -> index + 1 */
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

static const struct output_column targets_cols[] = {
    {"target", OUTPUT_COL_KEEP, 0, NULL, 0},
    {"kind", 0, 8, NULL, 0},
    {"address", 0, 0, NULL, 0},
    {"last", OUTPUT_COL_KEEP, 0, NULL, 0},
    {"last_seen_ms", OUTPUT_COL_HIDE, 0, NULL, 0},
    {"last_seen", 0, 5, "SEEN", 0},
    {"last_failure_ms", OUTPUT_COL_HIDE, 0, NULL, 0},
    {"last_failure", 0, 4, "FAILED", 0},
    {"last_code", OUTPUT_COL_RIGHT, 6, "CODE", 0},
    {"last_name", OUTPUT_COL_KEEP, 0, "LAST_FAILURE", 0},
    {"attempts", OUTPUT_COL_RIGHT, 7, NULL, 0},
    {"failures", OUTPUT_COL_RIGHT, 3, NULL, 0},
    {"success_rate", OUTPUT_COL_KEEP | OUTPUT_COL_RIGHT, 0, "SUCCESS", 0},
    {"latency_avg_us", OUTPUT_COL_KEEP | OUTPUT_COL_RIGHT, 0, "LATENCY", 0},
    {"retired", 0, 9, NULL, 0},
};

static void targets_time(const struct targets *t, struct output *o, bool known, int64_t ms)
{
    char iso[64], shown[64];

    if (!known) {
        output_null(o);
        output_null(o);
        return;
    }
    fmt_time(ms, t->cl->utc, FMT_TIME_ISO, iso, sizeof(iso));
    fmt_time(ms, t->cl->utc, FMT_TIME_SHORT, shown, sizeof(shown));
    output_int(o, ms);
    output_str_shown(o, iso, shown);
}

/* The target's newest minute with attempts (hour, once the minutes are
 * pruned): "ok", "failing" or "mixed", and when. */
static int targets_last(struct targets *t, sqlite3_stmt *minute, sqlite3_stmt *hour, int64_t id,
                        const char **state, int64_t *seen_ms)
{
    sqlite3_stmt *q[2] = {minute, hour};
    int rc = SQLITE_DONE;

    *state = NULL;
    for (int i = 0; i < 2 && *state == NULL; i++) {
        sqlite3_bind_int64(q[i], 1, id);
        rc = db_step(&t->db, q[i]);
        if (rc == SQLITE_ROW) {
            int64_t ok = sqlite3_column_int64(q[i], 1), bad = sqlite3_column_int64(q[i], 2);
            *seen_ms = sqlite3_column_int64(q[i], 0);
            *state = bad == 0 ? "ok" : ok == 0 ? "failing" : "mixed";
        }
        sqlite3_reset(q[i]);
        if (rc < 0)
            return CLIENT_EXIT_RUNTIME;
    }
    return 0;
}

static int targets_print(struct targets *t)
{
    sqlite3_stmt *minute = NULL, *hour = NULL, *fail = NULL;
    struct output *o = NULL;
    int rc;

    if ((rc = db_prepare(&t->db,
                         "SELECT minute, successes, failures FROM rollup_minute WHERE "
                         "target_id = ?1 ORDER BY minute DESC LIMIT 1",
                         &minute)) != 0 ||
        (rc = db_prepare(&t->db,
                         "SELECT hour, successes, failures FROM rollup_hour WHERE "
                         "target_id = ?1 ORDER BY hour DESC LIMIT 1",
                         &hour)) != 0 ||
        (rc = db_prepare(&t->db,
                         "SELECT ts, wsa_code FROM failures WHERE target_id = ?1 ORDER BY ts "
                         "DESC LIMIT 1",
                         &fail)) != 0)
        goto out;
    o = output_new(t->cl->out, t->cl->format, OUTPUT_LIST, targets_cols, ND_ARRAY_LEN(targets_cols),
                   t->cl->width_cols, t->cl->wide);
    for (size_t i = 0; i < t->db.ntargets; i++) {
        const struct db_target *tg = &t->db.targets[i];
        const struct targets_stat *st = &t->stats[i];
        const struct wsa_code *wc = NULL;
        const char *state;
        int64_t seen_ms = 0, failed_ms = 0, code = -1;
        char pct[32], lat[32];
        if (!tg->selected)
            continue;
        if ((rc = targets_last(t, minute, hour, tg->id, &state, &seen_ms)) != 0)
            goto out;
        sqlite3_bind_int64(fail, 1, tg->id);
        if ((rc = db_step(&t->db, fail)) == SQLITE_ROW) {
            failed_ms = sqlite3_column_int64(fail, 0);
            code = sqlite3_column_int64(fail, 1);
            wc = wsa_by_code((int)code);
        }
        sqlite3_reset(fail);
        if (rc < 0) {
            rc = CLIENT_EXIT_RUNTIME;
            goto out;
        }
        output_str(o, tg->name);
        output_str(o, tg->kind);
        output_str(o, tg->address);
        output_str(o, state);
        targets_time(t, o, state != NULL, seen_ms);
        targets_time(t, o, code >= 0, failed_ms);
        if (code >= 0)
            output_int(o, code);
        else
            output_null(o);
        output_str(o, wc ? wc->name : NULL);
        output_int(o, st->attempts);
        output_int(o, st->failures);
        if (st->attempts > 0) {
            /* the complement of summary --by target's rate, from the
             * same counts */
            double rate = fmax(0.0, 1.0 - fmin(1.0, (double)st->failures / (double)st->attempts));
            fmt_percent(rate, pct, sizeof(pct));
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
        output_bool(o, tg->retired_ms != 0);
        output_end_row(o);
    }
    rc = output_finish(o) == 0 ? CLIENT_EXIT_OK : client_write_error();
    o = NULL;
out:
    if (o != NULL)
        output_finish(o);
    sqlite3_finalize(minute);
    sqlite3_finalize(hour);
    sqlite3_finalize(fail);
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
    t.stats = fmt_alloc(NULL, (t.db.ntargets + 1) * sizeof(*t.stats));
    memset(t.stats, 0, (t.db.ntargets + 1) * sizeof(*t.stats));
    for (size_t i = 0; i < t.db.ntargets; i++)
        counts_map_add(&t.index, t.db.targets[i].id, 0, (int64_t)i + 1);
    t.sink = (struct counts_sink){
        .arg = &t, .failures = targets_failures_cb, .attempts = targets_attempts_cb};
    if ((rc = counts_run(&t.db, &t.f, &t.r, &t.sink)) != 0)
        goto out;
    if ((rc = state_note(cl, &t.db, NULL)) != 0)
        goto out;
    counts_range_notes(cl, &t.r, &t.sink);
    rc = targets_print(&t);
out:
    free(t.stats);
    counts_map_free(&t.index);
    db_close(&t.db);
    return rc;
}

static const struct output_column alerts_cols[] = {
    {"id", OUTPUT_COL_KEEP | OUTPUT_COL_RIGHT, 0, NULL, 0},
    {"state", OUTPUT_COL_KEEP, 0, NULL, 0},
    {"target", OUTPUT_COL_KEEP, 0, NULL, 0},
    {"wsa_code", OUTPUT_COL_KEEP | OUTPUT_COL_RIGHT, 0, "CODE", 0},
    {"wsa_name", OUTPUT_COL_KEEP, 0, "NAME", 0},
    {"started_ms", OUTPUT_COL_HIDE, 0, NULL, 0},
    {"started", OUTPUT_COL_KEEP, 0, NULL, 0},
    {"resolved_ms", OUTPUT_COL_HIDE, 0, NULL, 0},
    {"resolved", 0, 5, NULL, 0},
    {"duration_ms", OUTPUT_COL_RIGHT, 0, "DURATION", 0},
    {"count", OUTPUT_COL_RIGHT, 4, NULL, 0},
    {"peak", OUTPUT_COL_RIGHT, 3, NULL, 0},
    {"baseline", OUTPUT_COL_RIGHT, 6, NULL, 0},
    {"attempts", OUTPUT_COL_RIGHT, 7, NULL, 0},
    {"detail", 0, 2, NULL, 0},
    {"meaning", 0, 1, NULL, 0},
    /* a firing alert of a daemon that stopped or died: since when its
     * state is unknown (the table says it in the state column) */
    {"unknown_since_ms", OUTPUT_COL_HIDE, 0, NULL, 0},
    {"unknown_since", OUTPUT_COL_HIDE, 0, NULL, 0},
};

static void alerts_int(struct output *o, sqlite3_stmt *st, int col)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        output_null(o);
    else
        output_int(o, sqlite3_column_int64(st, col));
}

static void alerts_row(struct client *cl, struct db *db, const struct state *ds, struct output *o,
                       sqlite3_stmt *st)
{
    int code = sqlite3_column_int(st, 2);
    const struct wsa_code *wc = wsa_by_code(code);
    int64_t started = sqlite3_column_int64(st, 3), end;
    bool firing = sqlite3_column_type(st, 4) == SQLITE_NULL;
    /* Nobody watches an alert of a daemon that stopped or died: whether
     * it still holds is unknown since then, not a growing outage. */
    bool unknown = firing && (ds->kind == STATE_STOPPED || ds->kind == STATE_NOT_RUNNING);
    char iso[64], shown[64], dur[32], state[96];

    output_int(o, sqlite3_column_int64(st, 0));
    if (unknown) {
        fmt_time(ds->since_ms, cl->utc, FMT_TIME_SHORT, shown, sizeof(shown));
        snprintf(state, sizeof(state), "unknown since %s", shown);
        output_str_shown(o, "unknown", state);
    } else {
        output_str(o, firing ? "firing" : "resolved");
    }
    if (sqlite3_column_type(st, 1) == SQLITE_NULL)
        output_str_shown(o, NULL, "(all)"); /* a host-wide alert */
    else
        output_str(o, db_target_name(db, sqlite3_column_int64(st, 1)));
    output_int(o, code);
    output_str(o, wc ? wc->name : NULL);
    output_int(o, started);
    fmt_time(started, cl->utc, FMT_TIME_ISO, iso, sizeof(iso));
    fmt_time(started, cl->utc, FMT_TIME_SHORT, shown, sizeof(shown));
    output_str_shown(o, iso, shown);
    if (firing) {
        output_null(o);
        output_null(o);
        end = unknown ? ds->since_ms : cl->now_ms;
        if (end < started)
            end = started;
    } else {
        end = sqlite3_column_int64(st, 4);
        output_int(o, end);
        fmt_time(end, cl->utc, FMT_TIME_ISO, iso, sizeof(iso));
        fmt_time(end, cl->utc, FMT_TIME_SHORT, shown, sizeof(shown));
        output_str_shown(o, iso, shown);
    }
    if (__builtin_sub_overflow(end, started, &end))
        end = INT64_MAX; /* times someone else wrote */
    fmt_duration_ms(end, dur, sizeof(dur));
    output_int_shown(o, end, dur);
    alerts_int(o, st, 5);
    alerts_int(o, st, 6);
    if (sqlite3_column_type(st, 7) == SQLITE_NULL)
        output_null(o);
    else
        output_double(o, sqlite3_column_double(st, 7), 2, NULL);
    alerts_int(o, st, 8);
    output_str(o, (const char *)sqlite3_column_text(st, 9));
    output_str(o, wc ? wc->meaning : NULL);
    if (unknown) {
        fmt_time(ds->since_ms, cl->utc, FMT_TIME_ISO, iso, sizeof(iso));
        output_int(o, ds->since_ms);
        output_str(o, iso);
    } else {
        output_null(o);
        output_null(o);
    }
    output_end_row(o);
}

int cmd_alerts_run(struct client *cl, int argc, char **argv)
{
    struct filter f;
    struct db db;
    struct range r;
    struct state ds;
    struct fmt_buf sql = {0};
    sqlite3_stmt *st;
    struct output *o;
    int rc;

    (void)argc;
    (void)argv;
    if ((rc = filter_parse(cl, FILTER_TARGET | FILTER_CODE, &f)) != 0)
        return rc;
    if ((rc = db_open(cl, &db)) != 0)
        return rc;
    range_from_client_all(cl, &r);
    if ((rc = filter_select(cl, &db, &f)) != 0 || (rc = range_resolve(&db, &r)) != 0 ||
        (rc = state_note(cl, &db, &ds)) != 0)
        goto out;
    /* An alert belongs to the range when its firing overlaps it. */
    fmt_buf_add(&sql, "SELECT id, target_id, wsa_code, started, resolved, count, peak, baseline, "
                      "attempts, detail FROM alerts WHERE started < ?2 AND (resolved IS NULL OR "
                      "resolved >= ?1)");
    if (client_opt(cl, "active") != NULL)
        fmt_buf_add(&sql, " AND resolved IS NULL");
    filter_sql(&db, &f, &sql, "target_id", "wsa_code", NULL);
    fmt_buf_add(&sql, " ORDER BY started DESC, id DESC");
    rc = db_prepare(&db, sql.s, &st);
    fmt_buf_free(&sql);
    if (rc != 0)
        goto out;
    sqlite3_bind_int64(st, 1, r.from_ms);
    sqlite3_bind_int64(st, 2, r.to_ms);
    o = output_new(cl->out, cl->format, OUTPUT_LIST, alerts_cols, ND_ARRAY_LEN(alerts_cols),
                   cl->width_cols, cl->wide);
    while ((rc = db_step(&db, st)) == SQLITE_ROW)
        alerts_row(cl, &db, &ds, o, st);
    sqlite3_finalize(st);
    if (rc < 0) {
        output_finish(o);
        rc = CLIENT_EXIT_RUNTIME;
        goto out;
    }
    rc = output_finish(o) == 0 ? CLIENT_EXIT_OK : client_write_error();
out:
    db_close(&db);
    return rc;
}
