/* SPDX-License-Identifier: ISC */
/* `netdiag export`: the failure rows as JSON lines for a log shipper
 * (Vector, Fluent Bit, rsyslog), in the order they were stored, each with
 * its position, the host and the labels given; --after POSITION resumes
 * after a row, --follow goes on with new rows until interrupted. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "db.h"
#include "json.h"
#include "timefmt.h"

/* Rows read per query (the output is written as they come: memory stays
 * this small however long the history), and how often --follow looks. */
#define EXPORT_ROWS    4096
#define EXPORT_POLL_MS 250

/* A position: the commit (commits.id) and the row's key in it. */
struct export_pos {
    int64_t commit, ts, target_id, seq;
};

static volatile sig_atomic_t export_stop_flag;

static void export_signal(int sig)
{
    (void)sig;
    export_stop_flag = 1;
}

static void put_file(const char *p, size_t n, void *arg)
{
    fwrite(p, 1, n, arg);
}

static void put_str(FILE *f, const char *key, const unsigned char *v)
{
    fprintf(f, ",\"%s\":", key);
    if (v == NULL)
        fputs("null", f);
    else
        json_write((const char *)v, put_file, f);
}

/* "C:TS:TARGET:SEQ", four integers (the commit not negative); -1 when it
 * is not one. */
static int export_parse_pos(const char *s, struct export_pos *p)
{
    int64_t *field[4] = {&p->commit, &p->ts, &p->target_id, &p->seq};

    for (int i = 0; i < 4; i++) {
        char *end;
        long long v;
        errno = 0;
        v = strtoll(s, &end, 10);
        if (end == s || errno != 0 || *end != (i < 3 ? ':' : '\0'))
            return -1;
        *field[i] = (int64_t)v;
        s = end + 1;
    }
    return p->commit < 0 ? -1 : 0;
}

struct exporter {
    struct client *cl;
    struct db *db;
    struct export_pos pos;
    const char *host;
    const char *const *labels;
    size_t nlabels;
    uint64_t rows;
};

static void export_row(struct exporter *ex, sqlite3_stmt *st, int64_t commit)
{
    FILE *f = ex->cl->out;
    char iso[40];

    ex->pos.commit = commit;
    ex->pos.ts = sqlite3_column_int64(st, 0);
    ex->pos.target_id = sqlite3_column_int64(st, 1);
    ex->pos.seq = sqlite3_column_int64(st, 2);
    timefmt_iso(ex->pos.ts, true, iso, sizeof(iso));
    fprintf(f, "{\"position\":\"%" PRId64 ":%" PRId64 ":%" PRId64 ":%" PRId64 "\"", commit,
            ex->pos.ts, ex->pos.target_id, ex->pos.seq);
    put_str(f, "host", (const unsigned char *)ex->host);
    fputs(",\"labels\":{", f);
    for (size_t i = 0; i < ex->nlabels; i++) {
        const char *eq = strchr(ex->labels[i], '=');
        char key[128];
        size_t kl = (size_t)(eq - ex->labels[i]);
        snprintf(key, sizeof(key), "%.*s", (int)(kl < sizeof(key) ? kl : sizeof(key) - 1),
                 ex->labels[i]);
        if (i > 0)
            fputc(',', f);
        json_write(key, put_file, f);
        fputc(':', f);
        json_write(eq + 1, put_file, f);
    }
    fprintf(f, "},\"ts\":\"%s\",\"ts_ms\":%" PRId64 ",\"seq\":%" PRId64, iso, ex->pos.ts,
            ex->pos.seq);
    put_str(f, "target", sqlite3_column_text(st, 3));
    put_str(f, "kind", sqlite3_column_text(st, 4));
    put_str(f, "phase", sqlite3_column_text(st, 5));
    fprintf(f, ",\"wsa_code\":%d", sqlite3_column_int(st, 6));
    put_str(f, "wsa_name", sqlite3_column_text(st, 7));
    put_str(f, "meaning", sqlite3_column_text(st, 8));
    put_str(f, "raw", sqlite3_column_text(st, 9));
    if (sqlite3_column_type(st, 10) == SQLITE_NULL)
        fputs(",\"raw_value\":null", f);
    else
        fprintf(f, ",\"raw_value\":%lld", (long long)sqlite3_column_int64(st, 10));
    put_str(f, "detail", sqlite3_column_text(st, 11));
    if (sqlite3_column_type(st, 12) == SQLITE_NULL)
        fputs(",\"latency_us\":null", f);
    else
        fprintf(f, ",\"latency_us\":%lld", (long long)sqlite3_column_int64(st, 12));
    put_str(f, "local", sqlite3_column_text(st, 13));
    put_str(f, "remote", sqlite3_column_text(st, 14));
    fputs("}\n", f);
    ex->rows++;
}

/* Every row stored after the position, commit by commit, in one read
 * snapshot per call. */
static int export_new(struct exporter *ex)
{
    static const char rows_sql[] =
        "SELECT f.ts, f.target_id, f.seq, t.name, t.kind, p.name, f.wsa_code, c.name, "
        "c.meaning, r.name, f.raw_value, f.detail, f.latency_us, "
        "CASE WHEN f.local_port IS NULL THEN la.addr WHEN instr(la.addr, ':') THEN '[' || "
        "la.addr || ']:' || f.local_port ELSE la.addr || ':' || f.local_port END, "
        "CASE WHEN f.remote_port IS NULL THEN ra.addr WHEN instr(ra.addr, ':') THEN '[' || "
        "ra.addr || ']:' || f.remote_port ELSE ra.addr || ':' || f.remote_port END "
        "FROM failures AS f LEFT JOIN targets AS t ON t.id = f.target_id "
        "LEFT JOIN phases AS p ON p.phase = f.phase LEFT JOIN wsa_codes AS c ON c.code = "
        "f.wsa_code LEFT JOIN raws AS r ON r.id = f.raw_id LEFT JOIN addrs AS la ON la.id = "
        "f.local_addr_id LEFT JOIN addrs AS ra ON ra.id = f.remote_addr_id "
        "WHERE f.ts BETWEEN ?1 AND ?2 AND f.batch = ?3 AND (f.ts, f.target_id, f.seq) > (?4, "
        "?5, ?6) ORDER BY f.ts, f.target_id, f.seq LIMIT ?7";
    sqlite3_stmt *cs = NULL, *rs = NULL;
    int rc;

    if (sqlite3_exec(ex->db->h, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return db_fail(ex->db, "begin");
    if ((rc = db_prepare(ex->db,
                         "SELECT id, ts_min, ts_max FROM commits WHERE id >= ?1 ORDER BY id "
                         "LIMIT 256",
                         &cs)) != 0 ||
        (rc = db_prepare(ex->db, rows_sql, &rs)) != 0)
        goto out;
    for (;;) {
        int64_t ncommits = 0;
        sqlite3_bind_int64(cs, 1, ex->pos.commit);
        while (!export_stop_flag && (rc = db_step(ex->db, cs)) == SQLITE_ROW) {
            int64_t id = sqlite3_column_int64(cs, 0), n;
            ncommits++;
            if (id != ex->pos.commit) {
                ex->pos.commit = id;
                ex->pos.ts = ex->pos.target_id = ex->pos.seq = INT64_MIN;
            }
            do {
                n = 0;
                sqlite3_bind_int64(rs, 1, sqlite3_column_int64(cs, 1));
                sqlite3_bind_int64(rs, 2, sqlite3_column_int64(cs, 2));
                sqlite3_bind_int64(rs, 3, id);
                sqlite3_bind_int64(rs, 4, ex->pos.ts);
                sqlite3_bind_int64(rs, 5, ex->pos.target_id);
                sqlite3_bind_int64(rs, 6, ex->pos.seq);
                sqlite3_bind_int(rs, 7, EXPORT_ROWS);
                while ((rc = db_step(ex->db, rs)) == SQLITE_ROW) {
                    export_row(ex, rs, id);
                    n++;
                }
                sqlite3_reset(rs);
            } while (rc >= 0 && n == EXPORT_ROWS && !export_stop_flag);
            if (rc < 0)
                break;
            if (fflush(ex->cl->out) != 0 || ferror(ex->cl->out)) {
                rc = client_write_error();
                goto out;
            }
        }
        sqlite3_reset(cs);
        /* a full page of commits: the last one again, then the rest */
        if (rc < 0 || ncommits < 256 || export_stop_flag)
            break;
    }
    rc = rc < 0 ? CLIENT_EXIT_RUNTIME : 0;
out:
    sqlite3_finalize(cs);
    sqlite3_finalize(rs);
    sqlite3_exec(ex->db->h, "COMMIT", NULL, NULL, NULL);
    return rc;
}

/* The host the rows come from: --host, else the daemon's own name in its
 * newest runs row, else this host's. */
static void export_host(struct exporter *ex, char *buf, size_t len)
{
    sqlite3_stmt *st;

    buf[0] = '\0';
    if (ex->db->version >= 3 &&
        db_prepare(ex->db, "SELECT hostname FROM runs ORDER BY id DESC LIMIT 1", &st) == 0) {
        if (db_step(ex->db, st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
            snprintf(buf, len, "%s", (const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
    }
    if (buf[0] == '\0' && gethostname(buf, len - 1) < 0)
        snprintf(buf, len, "localhost");
    buf[len - 1] = '\0';
}

int cmd_export_run(struct client *cl, int argc, char **argv)
{
    struct exporter ex = {.cl = cl};
    const char *after = client_opt(cl, "after"), *host = client_opt(cl, "host");
    bool follow = client_opt(cl, "follow") != NULL;
    char hostbuf[256];
    struct db db;
    int rc;

    (void)argc;
    (void)argv;
    ex.labels = client_opt_list(cl, "label", &ex.nlabels);
    for (size_t i = 0; i < ex.nlabels; i++) {
        const char *eq = strchr(ex.labels[i], '=');
        if (eq == NULL || eq == ex.labels[i] || (size_t)(eq - ex.labels[i]) >= 128)
            return client_usage_error(cl, "--label \"%s\": NAME=VALUE, please", ex.labels[i]);
    }
    ex.pos.ts = ex.pos.target_id = ex.pos.seq = INT64_MIN;
    if (after != NULL && export_parse_pos(after, &ex.pos) < 0)
        return client_usage_error(cl,
                                  "--after \"%s\": a position as export prints it "
                                  "(COMMIT:TS:TARGET:SEQ)",
                                  after);
    if ((rc = db_open(cl, &db)) != 0)
        return rc;
    ex.db = &db;
    if (db.version < 4) {
        fprintf(stderr,
                "netdiag: export: schema version %d has no stored order (commits, schema 4); "
                "let netdiagd migrate the database first\n",
                db.version);
        rc = CLIENT_EXIT_BAD_DB;
        goto out;
    }
    if (host == NULL) {
        export_host(&ex, hostbuf, sizeof(hostbuf));
        host = hostbuf;
    }
    ex.host = host;
    if (follow) {
        struct sigaction sa = {.sa_handler = export_signal};
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
    }
    while ((rc = export_new(&ex)) == 0 && follow && !export_stop_flag) {
        struct timespec ts = {0, EXPORT_POLL_MS * 1000000L};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !export_stop_flag)
            ;
    }
out:
    db_close(&db);
    return rc;
}
