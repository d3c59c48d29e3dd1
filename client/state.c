/* SPDX-License-Identifier: ISC */
/* The daemon's heartbeat as the runs table records it, judged as agreed
 * for schema 3 (sql/README.md): a stop recorded means stopped; no stop and
 * a heartbeat younger than 10 s means running (on this host, only while
 * its pid lives); anything else means killed or hung since the last
 * heartbeat. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "client.h"
#include "db.h"
#include "fmt.h"
#include "state.h"
#include "timefmt.h"
#include "util.h"

const char *state_name(enum state_kind kind)
{
    switch (kind) {
    case STATE_RUNNING:
        return "running";
    case STATE_STOPPED:
        return "stopped";
    case STATE_NOT_RUNNING:
        return "not_running";
    case STATE_UNKNOWN:
        break;
    }
    return "unknown";
}

static void state_text(sqlite3_stmt *st, int col, char *buf, size_t len)
{
    const unsigned char *s = sqlite3_column_text(st, col);

    util_strlcpy(buf, s != NULL ? (const char *)s : "", len);
}

int state_read(const struct client *cl, struct db *db, struct state *st)
{
    static const char *const sql =
        "SELECT id, pid, hostname, version, config, started, heartbeat, stopped, results, "
        "failures, dropped, targets FROM runs ORDER BY id DESC LIMIT 1";
    char host[256];
    sqlite3_stmt *q;
    int rc;

    memset(st, 0, sizeof(*st));
    st->kind = STATE_UNKNOWN;
    if (!db->has_runs) {
        snprintf(st->why, sizeof(st->why), "database schema %d has no heartbeat", db->version);
        return 0;
    }
    /* A runs table of another shape (someone else's file) is no error of
     * the command: the state is unknown. */
    if (sqlite3_prepare_v2(db->h, sql, -1, &q, NULL) != SQLITE_OK) {
        snprintf(st->why, sizeof(st->why), "the runs table is not as netdiag knows it");
        return 0;
    }
    rc = db_step(db, q);
    if (rc == SQLITE_ROW) {
        struct state_run *r = &st->run;
        st->have_run = true;
        r->id = sqlite3_column_int64(q, 0);
        r->pid = sqlite3_column_int64(q, 1);
        state_text(q, 2, r->hostname, sizeof(r->hostname));
        state_text(q, 3, r->version, sizeof(r->version));
        state_text(q, 4, r->config, sizeof(r->config));
        r->started_ms = sqlite3_column_int64(q, 5);
        r->heartbeat_ms = sqlite3_column_int64(q, 6);
        r->stopped_ms = sqlite3_column_type(q, 7) == SQLITE_NULL ? -1 : sqlite3_column_int64(q, 7);
        r->results = sqlite3_column_int64(q, 8);
        r->failures = sqlite3_column_int64(q, 9);
        r->dropped = sqlite3_column_int64(q, 10);
        r->targets = sqlite3_column_int64(q, 11);
    }
    sqlite3_finalize(q);
    if (rc < 0)
        return CLIENT_EXIT_RUNTIME;
    if (!st->have_run) {
        snprintf(st->why, sizeof(st->why), "netdiagd recorded no heartbeat here yet");
        return 0;
    }
    host[sizeof(host) - 1] = '\0';
    st->this_host = gethostname(host, sizeof(host) - 1) == 0 && strcmp(host, st->run.hostname) == 0;
    if (st->run.stopped_ms >= 0) {
        st->kind = STATE_STOPPED;
        st->since_ms = st->run.stopped_ms;
        return 0;
    }
    st->since_ms = st->run.heartbeat_ms;
    /* kill(pid, 0): 0 or EPERM, the process exists; ESRCH, it is gone */
    if (st->this_host && st->run.pid > 0 && st->run.pid <= INT32_MAX &&
        kill((pid_t)st->run.pid, 0) < 0 && errno == ESRCH)
        st->pid_gone = true;
    if (!st->pid_gone && st->run.heartbeat_ms > cl->now_ms - STATE_FRESH_MS &&
        st->run.heartbeat_ms < cl->now_ms + STATE_FRESH_MS)
        st->kind = STATE_RUNNING;
    else
        st->kind = STATE_NOT_RUNNING;
    return 0;
}

void state_line(const struct client *cl, const struct state *st, char *buf, size_t len)
{
    char when[64], ago[32];

    buf[0] = '\0';
    if (st->kind == STATE_RUNNING)
        return;
    if (st->kind == STATE_UNKNOWN) {
        snprintf(buf, len, "daemon state unknown (%s)", st->why);
        return;
    }
    fmt_time(st->since_ms, cl->utc, FMT_TIME_SHORT, when, sizeof(when));
    if (st->since_ms > cl->now_ms)
        snprintf(ago, sizeof(ago), "ahead of this clock");
    else
        timefmt_duration(fmt_sub(cl->now_ms, st->since_ms), TIMEFMT_ELAPSED, ago, sizeof(ago));
    if (st->since_ms <= cl->now_ms)
        strncat(ago, " ago", sizeof(ago) - strlen(ago) - 1);
    if (st->kind == STATE_STOPPED)
        snprintf(buf, len, "netdiagd stopped at %s %s (%s); nothing newer is recorded", when,
                 fmt_zone(st->since_ms, cl->utc), ago);
    else if (st->pid_gone)
        snprintf(buf, len,
                 "netdiagd is not running: its process %lld is gone without a stop recorded "
                 "(killed?); last heartbeat %s %s (%s)",
                 (long long)st->run.pid, when, fmt_zone(st->since_ms, cl->utc), ago);
    else
        snprintf(buf, len,
                 "netdiagd is not running: no heartbeat since %s %s (%s), no stop recorded "
                 "(killed or hung)",
                 when, fmt_zone(st->since_ms, cl->utc), ago);
}

int state_note(const struct client *cl, struct db *db, struct state *out)
{
    struct state st;
    char line[512];
    int rc;

    if ((rc = state_read(cl, db, &st)) != 0)
        return rc;
    state_line(cl, &st, line, sizeof(line));
    if (line[0] != '\0')
        client_note(cl, "%s", line);
    if (out != NULL)
        *out = st;
    return 0;
}
