/* SPDX-License-Identifier: ISC */
/* `netdiag status`: whether netdiagd runs and how fresh its data is, from
 * its heartbeat in the runs table, with what a script needs in one place
 * and an exit status it can test. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "client.h"
#include "counts.h"
#include "db.h"
#include "fmt.h"
#include "state.h"
#include "timefmt.h"
#include "util.h"

static const struct output_column status_cols[] = {
    {"state", 0, 0, NULL, 0},
    {"stale", 0, 0, NULL, 0},
    {"summary", OUTPUT_COL_HIDE, 0, NULL, 0},
    {"pid", 0, 0, NULL, 0},
    {"hostname", 0, 0, NULL, 0},
    {"version", 0, 0, NULL, 0},
    {"config", 0, 0, NULL, 0},
    {"started_ms", OUTPUT_COL_HIDE, 0, NULL, 0},
    {"started", 0, 0, NULL, 0},
    {"uptime_ms", 0, 0, "uptime", 0},
    {"heartbeat_ms", OUTPUT_COL_HIDE, 0, NULL, 0},
    {"heartbeat", 0, 0, NULL, 0},
    {"stopped_ms", OUTPUT_COL_HIDE, 0, NULL, 0},
    {"stopped", 0, 0, NULL, 0},
    {"newest_result_ms", OUTPUT_COL_HIDE, 0, NULL, 0},
    {"newest_result", 0, 0, NULL, 0},
    {"targets", 0, 0, NULL, 0},
    {"targets_failing", 0, 0, NULL, 0},
    {"targets_retired", 0, 0, NULL, 0},
    {"alerts_firing", 0, 0, NULL, 0},
    {"alerts_unknown", 0, 0, NULL, 0},
    {"results", 0, 0, NULL, 0},
    {"failures", 0, 0, NULL, 0},
    {"dropped", 0, 0, NULL, 0},
    {"database", 0, 0, NULL, 0},
    {"database_bytes", 0, 0, "database_size", 0},
    {"schema", 0, 0, NULL, 0},
    /* [export] (schema 10): failure rows ClickHouse acknowledged, those
     * stored since and not yet acknowledged, the last failed attempt */
    {"export_rows", 0, 0, NULL, 0},
    {"export_behind", 0, 0, NULL, 0},
    {"export_acked_ms", OUTPUT_COL_HIDE, 0, NULL, 0},
    {"export_acked", 0, 0, NULL, 0},
    {"export_error", 0, 0, NULL, 0},
};

/* One integer from a one-row query; 0 when it has no row or NULL. */
static int status_int(struct db *db, const char *sql, int64_t arg, int64_t *out)
{
    sqlite3_stmt *st;
    int rc;

    *out = 0;
    if ((rc = db_prepare(db, sql, &st)) != 0)
        return rc;
    sqlite3_bind_int64(st, 1, arg);
    rc = db_step(db, st);
    if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        *out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc < 0 ? CLIENT_EXIT_RUNTIME : 0;
}

static void status_time(const struct client *cl, struct output *o, bool known, int64_t ms, bool ago)
{
    char shown[128], dur[32];

    if (!known) {
        output_null(o);
        output_null(o);
        return;
    }
    if (ago) {
        fmt_time(ms, cl->utc, FMT_TIME_SHORT, shown, sizeof(shown));
        timefmt_duration(fmt_sub(cl->now_ms, ms), TIMEFMT_ELAPSED, dur, sizeof(dur));
        snprintf(shown + strlen(shown), sizeof(shown) - strlen(shown), " %s (%s ago)",
                 fmt_zone(ms, cl->utc), dur);
    }
    output_time(o, ms, cl->utc, ago ? shown : NULL);
}

static void status_opt_int(struct output *o, bool known, int64_t v)
{
    if (known)
        output_int(o, v);
    else
        output_null(o);
}

/* The file and its -wal: what the database takes on disk. */
static int64_t status_size(const struct db *db)
{
    char wal[PATH_MAX + 8];
    struct stat sb;
    int64_t n = 0;

    if (stat(db->path, &sb) == 0)
        n += sb.st_size;
    snprintf(wal, sizeof(wal), "%s-wal", db->path);
    if (stat(wal, &sb) == 0)
        n += sb.st_size;
    return n;
}

/* "12.3 MB" */
static void status_bytes(int64_t n, char *buf, size_t len)
{
    if (n < 1024 * 1024)
        snprintf(buf, len, "%.1f kB", (double)n / 1024.0);
    else if (n < 1024LL * 1024 * 1024)
        snprintf(buf, len, "%.1f MB", (double)n / (1024.0 * 1024.0));
    else
        snprintf(buf, len, "%.1f GB", (double)n / (1024.0 * 1024.0 * 1024.0));
}

struct status_counts {
    int64_t active, retired, failing, firing, newest_minute, newest_failure;
};

static int status_count(struct db *db, struct status_counts *c)
{
    int rc;

    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < db->ntargets; i++) {
        if (db->targets[i].retired_ms != 0) /* a NULL retired reads as 0 */
            c->retired++;
        else
            c->active++;
    }
    if ((rc = status_int(db, "SELECT max(minute) FROM rollup_minute", 0, &c->newest_minute)) != 0 ||
        (rc = status_int(db, "SELECT max(ts) FROM failures", 0, &c->newest_failure)) != 0 ||
        (rc = status_int(db, "SELECT count(*) FROM alerts WHERE resolved IS NULL", 0,
                         &c->firing)) != 0)
        return rc;
    /* failing: an active target with failures in the newest two minutes
     * stored (the current one is still filling) */
    return status_int(db,
                      "SELECT count(DISTINCT m.target_id) FROM rollup_minute AS m JOIN targets "
                      "AS t ON t.id = m.target_id WHERE m.minute >= ?1 AND m.failures > 0 AND "
                      "t.retired IS NULL",
                      fmt_sub(c->newest_minute, COUNTS_MINUTE_MS), &c->failing);
}

/* The export's position (sql/010_export.sql): NULLs when there is none
 * (an older schema, or [export] never acknowledged anything). */
static int status_export(const struct client *cl, struct db *db, struct output *o)
{
    sqlite3_stmt *st;
    int64_t behind = 0;
    int rc;

    if (db->version < 10 ||
        db_prepare(db,
                   "SELECT batch, rows, acked, error, error_at FROM export_cursor "
                   "WHERE stream = 'failures'",
                   &st) != 0) {
        for (int i = 0; i < 4; i++)
            output_null(o);
        output_str(o, NULL);
        return 0;
    }
    rc = db_step(db, st);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(st);
        if (rc < 0)
            return CLIENT_EXIT_RUNTIME;
        for (int i = 0; i < 4; i++)
            output_null(o);
        output_str(o, NULL);
        return 0;
    }
    if ((rc = status_int(db, "SELECT sum(rows) FROM commits WHERE id > ?1",
                         sqlite3_column_int64(st, 0), &behind)) != 0) {
        sqlite3_finalize(st);
        return rc;
    }
    output_int(o, sqlite3_column_int64(st, 1));
    output_int(o, behind);
    status_time(cl, o, sqlite3_column_int64(st, 2) > 0, sqlite3_column_int64(st, 2), true);
    if (sqlite3_column_type(st, 3) != SQLITE_NULL) {
        char why[320];
        char when[64] = "";
        timefmt_duration(fmt_sub(cl->now_ms, sqlite3_column_int64(st, 4)), TIMEFMT_ELAPSED, when,
                         sizeof(when));
        snprintf(why, sizeof(why), "%.250s (%s ago)", (const char *)sqlite3_column_text(st, 3),
                 when);
        output_str(o, why);
    } else {
        output_str(o, NULL);
    }
    sqlite3_finalize(st);
    return 0;
}

int cmd_status_run(struct client *cl, int argc, char **argv)
{
    struct status_counts c;
    struct state st;
    struct db db;
    struct output *o;
    char line[512], size[32], targets[64], shown[64];
    const struct state_run *r = &st.run;
    bool running, run, firing_known;
    int64_t newest, bytes;
    int rc;

    (void)argc;
    (void)argv;
    if ((rc = db_open(cl, &db)) != 0)
        return rc;
    if ((rc = state_read(cl, &db, &st)) != 0 || (rc = status_count(&db, &c)) != 0)
        goto out;
    running = st.kind == STATE_RUNNING;
    run = st.have_run;
    /* a firing alert of a daemon that is gone is unknown, not firing */
    firing_known = st.kind == STATE_RUNNING || st.kind == STATE_UNKNOWN;
    newest = c.newest_minute > c.newest_failure ? c.newest_minute : c.newest_failure;
    state_line(cl, &st, line, sizeof(line));
    if (running) {
        char up[32];
        timefmt_duration(fmt_sub(cl->now_ms, r->started_ms), TIMEFMT_ELAPSED, up, sizeof(up));
        snprintf(line, sizeof(line), "netdiagd is running: pid %lld on %s, up %s",
                 (long long)r->pid, r->hostname, up);
    }
    o = output_new(cl->out, cl->format, OUTPUT_RECORD, status_cols, ND_ARRAY_LEN(status_cols),
                   cl->width_cols, cl->wide);
    output_str_shown(o, state_name(st.kind), line);
    output_bool(o, !running);
    output_str(o, line);
    status_opt_int(o, run, r->pid);
    output_str(o, run ? r->hostname : NULL);
    output_str(o, run ? r->version : NULL);
    output_str(o, run ? r->config : NULL);
    status_time(cl, o, run, r->started_ms, false);
    if (running) {
        char up[32];
        timefmt_duration(fmt_sub(cl->now_ms, r->started_ms), TIMEFMT_ELAPSED, up, sizeof(up));
        output_int_shown(o, fmt_sub(cl->now_ms, r->started_ms), up);
    } else {
        output_null(o);
    }
    status_time(cl, o, run, r->heartbeat_ms, true);
    status_time(cl, o, run && r->stopped_ms >= 0, r->stopped_ms, true);
    status_time(cl, o, newest > 0, newest, true);
    snprintf(targets, sizeof(targets), "%lld configured", (long long)c.active);
    output_int_shown(o, c.active, targets);
    output_int(o, c.failing);
    output_int(o, c.retired);
    output_int(o, firing_known ? c.firing : 0);
    output_int(o, firing_known ? 0 : c.firing);
    status_opt_int(o, run, r->results);
    status_opt_int(o, run, r->failures);
    status_opt_int(o, run, r->dropped);
    output_str(o, db.path);
    bytes = status_size(&db);
    status_bytes(bytes, size, sizeof(size));
    output_int_shown(o, bytes, size);
    snprintf(shown, sizeof(shown), "%d", db.version);
    output_int_shown(o, db.version, shown);
    if ((rc = status_export(cl, &db, o)) != 0)
        goto out;
    output_end_row(o);
    if (output_finish(o) != 0) {
        rc = client_write_error();
        goto out;
    }
    rc = running ? CLIENT_EXIT_OK : CLIENT_EXIT_STALE;
out:
    db_close(&db);
    return rc;
}
