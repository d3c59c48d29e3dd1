/* SPDX-License-Identifier: ISC */
/* The SQLite helpers of every store*.c file: one-line errors, a table of
 * statements prepared at once, stepping and resetting, and ending a
 * transaction that failed. */
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>

#include "store_int.h"
#include "util.h"

void store_err(char *err, size_t errlen, const char *path, const char *fmt, ...)
{
    char msg[400];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* one line: SQLite's integrity messages span several */
    for (char *c = msg; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    snprintf(err, errlen, "database %s: %s", path, msg);
}
/* Runs a statement that returns no rows (or ignores them) and resets it. */
int store_step_done(sqlite3_stmt *s)
{
    int rc;

    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        ;
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* One integer from a statement's first row; -1 on error. */
int64_t store_step_int(sqlite3_stmt *s, int *rcp)
{
    int64_t v = -1;
    int rc = sqlite3_step(s);

    if (rc == SQLITE_ROW) {
        v = sqlite3_column_int64(s, 0);
        rc = SQLITE_OK;
    }
    sqlite3_reset(s);
    if (rcp)
        *rcp = rc == SQLITE_DONE ? SQLITE_OK : rc;
    return v;
}

void store_bind_text(sqlite3_stmt *s, int i, const char *v)
{
    if (v == NULL || v[0] == '\0')
        sqlite3_bind_null(s, i);
    else
        sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
}

void store_bind_set(sqlite3_stmt *s, int i, int64_t v)
{
    if (v > 0)
        sqlite3_bind_int64(s, i, v);
    else
        sqlite3_bind_null(s, i);
}

int store_prepare_all(sqlite3 *db, const char *const *sql, sqlite3_stmt **out, size_t n,
                      const char *path, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        if (sqlite3_prepare_v3(db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &out[i], NULL) !=
            SQLITE_OK) {
            store_err(err, errlen, path, "cannot prepare statement %zu: %s", i, sqlite3_errmsg(db));
            return -1;
        }
    }
    return 0;
}

void store_rollback_failed(struct store *st)
{
    util_strlcpy(st->errmsg, sqlite3_errmsg(st->db), sizeof(st->errmsg));
    if (!sqlite3_get_autocommit(st->db))
        store_step_done(st->stmt[STMT_ROLLBACK]);
}
