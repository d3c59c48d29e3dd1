/* SPDX-License-Identifier: ISC */
/* `netdiag alerts`: the alerts netdiagd raised, firing and resolved, and
 * those a stopped or dead daemon left firing shown as unknown since.
 * Latency and loss alerts (schema 6) show their metric as the name, and
 * their figures with units. */
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

static const struct output_column alerts_cols[] = {
    {"id", OUTPUT_COL_KEEP | OUTPUT_COL_RIGHT, 0, NULL, 0},
    {"state", OUTPUT_COL_KEEP, 0, NULL, 0},
    {"target", OUTPUT_COL_KEEP, 0, NULL, 0},
    {"wsa_code", OUTPUT_COL_RIGHT, 8, "CODE", 0},
    {"wsa_name", OUTPUT_COL_KEEP, 0, "NAME", 0},
    {"started_ms", OUTPUT_COL_HIDE, 0, NULL, 0},
    {"started", OUTPUT_COL_KEEP | OUTPUT_COL_WHOLE, 0, NULL, 0},
    {"resolved_ms", OUTPUT_COL_HIDE, 0, NULL, 0},
    {"resolved", OUTPUT_COL_WHOLE, 5, NULL, 0},
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
    /* 'code', 'latency' or 'loss'; the window's figure of the latter (µs,
     * or lost / sent), in the unit of baseline */
    {"metric", OUTPUT_COL_HIDE, 0, NULL, 0},
    {"value", OUTPUT_COL_HIDE, 0, NULL, 0},
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
    const char *metric = (const char *)sqlite3_column_text(st, 10);
    bool lat = metric != NULL && strcmp(metric, "latency") == 0;
    bool loss = metric != NULL && strcmp(metric, "loss") == 0;
    const struct wsa_code *wc = lat || loss ? NULL : wsa_by_code(code);
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
    if (lat || loss)
        output_str_shown(o, NULL, metric); /* no code: what fired */
    else
        output_str(o, wc ? wc->name : NULL);
    output_time(o, started, cl->utc, NULL);
    if (firing) {
        output_null(o);
        output_null(o);
        end = unknown ? ds->since_ms : cl->now_ms;
        if (end < started)
            end = started;
    } else {
        end = sqlite3_column_int64(st, 4);
        output_time(o, end, cl->utc, NULL);
    }
    if (__builtin_sub_overflow(end, started, &end))
        end = INT64_MAX; /* times someone else wrote */
    timefmt_duration(end, TIMEFMT_ELAPSED, dur, sizeof(dur));
    output_int_shown(o, end, dur);
    alerts_int(o, st, 5);
    if (lat && sqlite3_column_type(st, 6) != SQLITE_NULL) {
        char us[32];
        fmt_latency_us(sqlite3_column_int64(st, 6), us, sizeof(us));
        output_int_shown(o, sqlite3_column_int64(st, 6), us);
    } else {
        alerts_int(o, st, 6);
    }
    if (sqlite3_column_type(st, 7) == SQLITE_NULL) {
        output_null(o);
    } else if (lat || loss) {
        char fig[32];
        double b = sqlite3_column_double(st, 7);
        if (lat)
            fmt_latency_us((int64_t)b, fig, sizeof(fig));
        else
            fmt_percent(b, fig, sizeof(fig));
        output_double(o, b, lat ? 0 : 4, fig);
    } else {
        output_double(o, sqlite3_column_double(st, 7), 2, NULL);
    }
    alerts_int(o, st, 8);
    if (sqlite3_column_type(st, 12) != SQLITE_NULL) {
        /* the table says where the path stopped; JSON and CSV keep the
         * stored detail (`netdiag path` has the path itself) */
        const char *det = (const char *)sqlite3_column_text(st, 9);
        char d[512];
        snprintf(d, sizeof(d), "%s%s%s", det ? det : "", det && det[0] ? "; " : "",
                 (const char *)sqlite3_column_text(st, 12));
        output_str_shown(o, det, d);
    } else {
        output_str(o, (const char *)sqlite3_column_text(st, 9));
    }
    if (lat || loss) /* as netdiagd says it to the hook and Alertmanager */
        output_str(o, lat ? "Slower than the target's own baseline."
                          : "More echoes lost than the target's own baseline.");
    else
        output_str(o, wc ? wc->meaning : NULL);
    if (unknown) {
        fmt_time(ds->since_ms, cl->utc, FMT_TIME_ISO, iso, sizeof(iso));
        output_int(o, ds->since_ms);
        output_str(o, iso);
    } else {
        output_null(o);
        output_null(o);
    }
    output_str(o, metric != NULL ? metric : "code");
    if (sqlite3_column_type(st, 11) == SQLITE_NULL)
        output_null(o);
    else
        output_double(o, sqlite3_column_double(st, 11), lat ? 0 : 4, NULL);
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
    fmt_buf_add(&sql,
                "SELECT id, target_id, wsa_code, started, resolved, count, peak, baseline, "
                "attempts, detail, %s, %s FROM alerts WHERE started < ?2 AND (resolved IS NULL "
                "OR resolved >= ?1)",
                db.version >= 6 ? "metric, value" : "'code', NULL",
                /* the newest failure path of its target from an hour
                 * before it fired until it resolved */
                db.version >= 8 ? "(SELECT " CLIENT_PATH_STOP_SQL " FROM paths AS p WHERE "
                                  "p.target_id = alerts.target_id AND p.why = 'failure' AND "
                                  "p.ts >= alerts.started - 3600000 AND p.ts <= "
                                  "coalesce(alerts.resolved, 9223372036854775807) ORDER BY p.ts "
                                  "DESC LIMIT 1)"
                                : "NULL");
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
    {
        char range[160], text[256];
        counts_range_text(cl, &r, range, sizeof(range));
        snprintf(text, sizeof(text), "%s%s%s",
                 client_opt(cl, "active") != NULL ? "no alert is firing" : "no alerts",
                 cl->has_since || cl->has_until ? ", " : "",
                 cl->has_since || cl->has_until ? range : "");
        output_set_empty(o, text);
    }
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
