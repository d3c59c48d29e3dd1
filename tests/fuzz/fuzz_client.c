/* SPDX-License-Identifier: ISC */
/* libFuzzer target: a netdiag command line, through the client's own
 * client_main() (client/main.c, included so that it is reachable: it is
 * static) and each command's value parsing (--since/--until times,
 * --code names, --phase, --kind, --limit, --by, --bucket, --color,
 * --format, `explain WHAT`), and a database someone else wrote: the
 * commands run on a file made from the real schema (version 2, and the
 * runs table of version 3) and then changed by SQL in the input (numbers
 * at the ends of their range, text that is not UTF-8 or holds control
 * bytes, tables replaced by views, an endless view...).
 *
 * Input: the arguments after "netdiag", one per line; then, optionally, a
 * line "--sql" and SQL run on the database (errors ignored). Without it
 * every database command is pointed at a path that does not exist. */
#define main netdiag_client_main
int main(int argc, char **argv);
#include "../../client/main.c"
#undef main

#include <sqlite3.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "fuzz.h"
#include "store.h"

#define FUZZ_MAX_ARGS 32
/* Commands that reach db_open() stop here with CLIENT_EXIT_NO_DB. */
#define FUZZ_NO_DB "/nonexistent/netdiag-fuzz/netdiag.db"

static FILE *fuzz_devnull;
static char fuzz_db[64];

/* The runs table agreed for schema 3. */
static const char fuzz_runs_sql[] =
    "CREATE TABLE IF NOT EXISTS runs (id INTEGER PRIMARY KEY, pid INTEGER NOT NULL, hostname "
    "TEXT NOT NULL, version TEXT NOT NULL, config TEXT NOT NULL, started INTEGER NOT NULL, "
    "heartbeat INTEGER NOT NULL, stopped INTEGER, results INTEGER NOT NULL DEFAULT 0, "
    "failures INTEGER NOT NULL DEFAULT 0, dropped INTEGER NOT NULL DEFAULT 0, targets INTEGER "
    "NOT NULL DEFAULT 0);";

/* A fresh database of the real schema, then the input's SQL. */
static void fuzz_make_db(const char *sql)
{
    sqlite3 *h;

    unlink(fuzz_db);
    FUZZ_CHECK(sqlite3_open(fuzz_db, &h) == SQLITE_OK);
    FUZZ_CHECK(sqlite3_exec(h, "BEGIN", NULL, NULL, NULL) == SQLITE_OK);
    FUZZ_CHECK(sqlite3_exec(h, store_schema_sql, NULL, NULL, NULL) == SQLITE_OK);
    FUZZ_CHECK(sqlite3_exec(h, fuzz_runs_sql, NULL, NULL, NULL) == SQLITE_OK);
    FUZZ_CHECK(sqlite3_exec(h,
                            "PRAGMA application_id = 1313097031; PRAGMA user_version = 2; "
                            "COMMIT",
                            NULL, NULL, NULL) == SQLITE_OK);
    (void)sqlite3_exec(h, sql, NULL, NULL, NULL); /* what fails, fails */
    sqlite3_close(h);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* Help and command output go to stdout: away with it. Messages go to
     * stderr, which `make fuzz` closes with -close_fd_mask (libFuzzer keeps
     * its own copy for reports). */
    fuzz_devnull = fopen("/dev/null", "w");
    if (fuzz_devnull == NULL || freopen("/dev/null", "w", stdout) == NULL) {
        perror("fuzz_client: setup");
        abort();
    }
    /* "now" fixed (the client's own test hook), and a zone with summer
     * time spelled as a POSIX rule, so runs repeat. */
    setenv(CLIENT_NOW_ENV, "2026-11-24T10:00:00Z", 1);
    /* an endless view ends the command, not the run */
    setenv(DB_TIMEOUT_ENV, "1", 1);
    snprintf(fuzz_db, sizeof(fuzz_db), "/tmp/netdiag-fuzz-%ld.db", (long)getpid());
    setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", 1);
    tzset();
    return 0;
}

/* The client's own client_main() runs the input; this hook, called just
 * before the command, points it at the fuzzed database (or at none). */
static bool fuzz_with_db;

static bool fuzz_before_run(struct client *cl)
{
    FUZZ_CHECK(!cl->has_since || !cl->has_until || cl->since_ms <= cl->until_ms);
    if (cl->cmd->run == cmd_failures_run && client_opt(cl, "follow") != NULL)
        return false; /* it would follow for ever */
    if (cl->cmd->run == cmd_web_run)
        return false; /* it would serve for ever */
    cl->db_path = fuzz_with_db ? fuzz_db : FUZZ_NO_DB;
    cl->config_path = NULL;
    cl->width_cols = 80;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct client cl = {.out = fuzz_devnull, .format = OUTPUT_TABLE, .before_run = fuzz_before_run};
    char *argv[FUZZ_MAX_ARGS + 2], *s = fuzz_cstr(data, size), *p = s;
    char *sql = strstr(s, "\n--sql\n");
    int argc = 0, rc;

    if (sql != NULL) {
        *sql = '\0';
        fuzz_make_db(sql + 7);
    }
    argv[argc++] = "netdiag";
    while (p != NULL && argc <= FUZZ_MAX_ARGS) {
        argv[argc++] = p;
        p = strchr(p, '\n');
        if (p != NULL)
            *p++ = '\0';
    }
    argv[argc] = NULL;
    fuzz_with_db = sql != NULL;
    rc = client_main(&cl, argc, argv);
    client_free_lists(&cl);
    /* netdiag(1) EXIT STATUS: nothing else (5 from status only) */
    FUZZ_CHECK(rc == CLIENT_EXIT_OK || rc == CLIENT_EXIT_RUNTIME || rc == CLIENT_EXIT_USAGE ||
               rc == CLIENT_EXIT_NO_DB || (sql != NULL && rc == CLIENT_EXIT_BAD_DB) ||
               (rc == CLIENT_EXIT_STALE && strcmp(cl.cmd->name, "status") == 0));
    free(s);
    return 0;
}
