/* `netdiag failures`: the failure rows, newest first, filtered by time,
 * target, code, phase and kind. */
#include <limits.h>
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

/* An address as failures_v in sql/schema.sql shows it: the addrs text and
 * the port joined again into "127.0.0.1:40312" or "[::1]:53", the text
 * alone when there is no port (schema version 2). */
#define FAILURES_ADDR_SQL(addr, port)                                                              \
    "CASE WHEN " port " IS NULL THEN " addr " WHEN instr(" addr ", ':') THEN '[' || " addr         \
    " || ']:' || " port " ELSE " addr " || ':' || " port " END"

/* Table mode drops the ranked columns, highest first, when the rows do not
 * fit: what stays is when, where, which code and how long. */
static const struct output_column failures_cols[] = {
    {"ts_ms", OUTPUT_COL_HIDE, 0, NULL},
    {"time", OUTPUT_COL_KEEP, 0, NULL},
    {"target", OUTPUT_COL_KEEP, 0, NULL},
    {"kind", 0, 7, NULL},
    {"phase", OUTPUT_COL_KEEP, 0, NULL},
    {"wsa_code", OUTPUT_COL_KEEP | OUTPUT_COL_RIGHT, 0, "CODE"},
    {"wsa_name", OUTPUT_COL_KEEP, 0, "NAME"},
    {"meaning", 0, 6, NULL},
    {"raw", 0, 3, NULL},
    {"raw_value", OUTPUT_COL_RIGHT, 5, "VALUE"},
    {"detail", 0, 0, NULL},
    {"local", 0, 4, NULL},
    {"remote", 0, 2, NULL},
    {"latency_us", OUTPUT_COL_KEEP | OUTPUT_COL_RIGHT, 0, "LATENCY"},
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
    output_str(o, failures_text(st, 8));
    output_str(o, failures_text(st, 9));
    output_str(o, failures_text(st, 10));
    if (sqlite3_column_type(st, 11) == SQLITE_NULL) {
        output_null(o);
    } else {
        fmt_latency_us(sqlite3_column_int64(st, 11), lat, sizeof(lat));
        output_int_shown(o, sqlite3_column_int64(st, 11), lat);
    }
    output_end_row(o);
}

int cmd_failures_run(struct client *cl, int argc, char **argv)
{
    struct filter f;
    struct db db;
    struct range r;
    struct fmt_buf sql = {0};
    struct output *o;
    sqlite3_stmt *st;
    int64_t limit, shown = 0;
    bool more = false;
    int rc;

    (void)argc;
    (void)argv;
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
    /* Newest first is the primary key backwards, or failures_target_ts /
     * failures_code_ts backwards when a target or code narrows it down;
     * the lookup tables are joined on their primary keys. */
    if (db.version >= 2)
        fmt_buf_add(&sql,
                    "SELECT f.ts, f.target_id, f.phase, f.wsa_code, c.name, c.meaning, "
                    "r.name, f.raw_value, f.detail, %s, %s, f.latency_us FROM failures AS f "
                    "LEFT JOIN wsa_codes AS c ON c.code = f.wsa_code "
                    "LEFT JOIN raws AS r ON r.id = f.raw_id "
                    "LEFT JOIN addrs AS la ON la.id = f.local_addr_id "
                    "LEFT JOIN addrs AS ra ON ra.id = f.remote_addr_id "
                    "WHERE f.ts >= ?1 AND f.ts < ?2",
                    FAILURES_ADDR_SQL("la.addr", "f.local_port"),
                    FAILURES_ADDR_SQL("ra.addr", "f.remote_port"));
    else /* schema version 1: netdiagd has not migrated it yet */
        fmt_buf_add(&sql, "SELECT f.ts, f.target_id, f.phase, f.wsa_code, c.name, c.meaning, "
                          "f.raw, f.raw_value, f.detail, f.local, f.remote, f.latency_us "
                          "FROM failures AS f LEFT JOIN wsa_codes AS c ON c.code = f.wsa_code "
                          "WHERE f.ts >= ?1 AND f.ts < ?2");
    filter_sql(&db, &f, &sql, "f.target_id", "f.wsa_code", "f.phase");
    filter_raw_sql(&db, &f, &sql, "f.");
    fmt_buf_add(&sql, " ORDER BY f.ts DESC, f.target_id DESC, f.seq DESC LIMIT ?3");
    rc = db_prepare(&db, sql.s, &st);
    fmt_buf_free(&sql);
    if (rc != 0)
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
