/* SPDX-License-Identifier: ISC */
/* The netdiag database as the query commands see it: found, opened
 * read-only, checked to be a netdiag database this client can read, its
 * targets loaded; SQLite errors turned into one line and an exit code
 * (owned by db.c). */
#ifndef NETDIAG_DB_H
#define NETDIAG_DB_H

#include <limits.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct client;
struct fmt_buf;

/* One row of `targets`, as every command needs it: 40 bytes and its name
 * (2 million targets take about 100 MB). */
struct db_target {
    int64_t id;
    const char *name;   /* in the arena */
    const char *kind;   /* "connect" | "resolve" | "send", or the arena */
    int64_t retired_ms; /* 0: still configured */
    bool selected;      /* passes the command's --target/--kind filters */
};

/* Strings of the targets, in a few large blocks. */
struct db_arena {
    char **blocks;
    size_t nblocks, used; /* used: bytes of the last block */
};

struct db {
    sqlite3 *h;
    char path[PATH_MAX];
    bool immutable;            /* opened with ?immutable=1, see db_open() */
    int version;               /* PRAGMA user_version */
    bool has_runs;             /* the runs table (schema 3) is there */
    struct db_target *targets; /* sorted by id, for db_target_by_id() */
    size_t ntargets, nselected;
    struct db_arena arena;
    int64_t deadline_us; /* util_mono_us() */
    int64_t timeout_s;
};

/* Find the database (--db, else the [daemon] database of -c or of
 * CLIENT_DEFAULT_CONFIG when readable, else CLIENT_DEFAULT_DB), open it
 * read-only, check it, and load the targets (all selected). Returns 0, or
 * an exit code after printing one line: 3 when there is no such file, 4
 * when it is not a netdiag database or is newer than this client, 2 for an
 * unreadable -c, 1 for anything else. */
int db_open(struct client *cl, struct db *db);
void db_close(struct db *db);

/* Prepare `sql`; 0, or an exit code after printing one line. */
int db_prepare(struct db *db, const char *sql, sqlite3_stmt **out);
/* sqlite3_step(); SQLITE_ROW or SQLITE_DONE, or -1 after printing one line
 * (a busy database is named as such, never as a raw SQLite error). */
int db_step(struct db *db, sqlite3_stmt *st);
/* Report a failed SQLite call on db; returns CLIENT_EXIT_RUNTIME. */
int db_fail(struct db *db, const char *what);

/* "host:port", "[::1]:53", "host:port/udp", "name A @server" from a row
 * whose columns 2 to 8 are kind, host, port, protocol, qname, qtype and
 * server (as db_target_sql selects them); malloc'd, NULL when none. */
char *db_target_address(sqlite3_stmt *st);
extern const char db_target_sql[];

/* The SQL condition "the target in column `col` is selected", for filter
 * SQL: an IN list of literals for a few targets, a function of this
 * connection (nd_selected) for many. */
void db_selected_sql(const struct db *db, struct fmt_buf *b, const char *col);

/* The target with this id, or NULL (a row of another table may outlive
 * nothing: targets are never deleted, but be safe). */
const struct db_target *db_target_by_id(const struct db *db, int64_t id);
/* Name of target id, "#ID" when unknown (static buffer for that case). */
const char *db_target_name(const struct db *db, int64_t id);

/* Smallest value of a time column of a table (min(minute) of
 * rollup_minute_code...) in *out, INT64_MAX when the table is empty.
 * Returns 0 or an exit code (printed). */
int db_min_time(struct db *db, const char *table, const char *column, int64_t *out);

/* Every query of a command runs under one deadline: a table replaced by a
 * view that never ends, or a file too large for its time, stops the
 * command with one line, not forever. $NETDIAG_TIMEOUT (seconds) changes
 * it. follow restarts it at every look. */
#define DB_DEADLINE_S  60
#define DB_TIMEOUT_ENV "NETDIAG_TIMEOUT"
#define DB_HEAP_LIMIT  (512LL * 1024 * 1024) /* what SQLite may allocate */
void db_deadline_restart(struct db *db);

#endif
