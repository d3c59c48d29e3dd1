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

/* One row of `targets`. */
struct db_target {
    int64_t id;
    char *name;
    char *kind;         /* "connect" | "resolve" | "send" */
    char *address;      /* "127.0.0.1:8080", "127.0.0.1:514/udp", "example.test A @127.0.0.1:53" */
    int64_t retired_ms; /* 0: still configured */
    bool selected;      /* passes the command's --target/--kind filters */
};

struct db {
    sqlite3 *h;
    char path[PATH_MAX];
    bool immutable;            /* opened with ?immutable=1, see db_open() */
    int version;               /* PRAGMA user_version */
    bool has_runs;             /* the runs table (schema 3) is there */
    struct db_target *targets; /* sorted by name */
    size_t ntargets;
    struct db_target **by_id; /* sorted by id, for db_target_by_id() */
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

/* The target with this id, or NULL (a row of another table may outlive
 * nothing: targets are never deleted, but be safe). */
const struct db_target *db_target_by_id(const struct db *db, int64_t id);
/* Name of target id, "#ID" when unknown (static buffer for that case). */
const char *db_target_name(const struct db *db, int64_t id);

/* Smallest value of a time column of a table (min(minute) of
 * rollup_minute_code...), INT64_MAX when the table is empty; -1 on error
 * (printed). */
int64_t db_min_time(struct db *db, const char *table, const char *column);

#endif
