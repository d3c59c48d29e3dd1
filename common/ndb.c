/* SPDX-License-Identifier: ISC */
/* The netdiag database's identity and the check both programs make before
 * they read one, and the SQLite helpers they share. */
#include <stdio.h>
#include <string.h>

#include "ndb.h"
#include "util.h"

int ndb_int(sqlite3 *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *s;
    int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);

    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(s, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(s);
    return rc;
}

int ndb_read_ids(sqlite3 *db, struct ndb_ids *ids)
{
    int rc;

    memset(ids, 0, sizeof(*ids));
    if ((rc = ndb_int(db, "PRAGMA application_id", &ids->app_id)) != SQLITE_OK ||
        (rc = ndb_int(db, "PRAGMA user_version", &ids->version)) != SQLITE_OK ||
        (rc = ndb_int(db, "SELECT count(*) FROM sqlite_schema", &ids->nobj)) != SQLITE_OK)
        return rc;
    return SQLITE_OK;
}

enum ndb_kind ndb_check(const struct ndb_ids *ids, int64_t newest)
{
    if (ids->app_id == 0 && ids->version == 0 && ids->nobj == 0)
        return NDB_EMPTY;
    if (ids->app_id != NDB_APPLICATION_ID)
        return NDB_FOREIGN;
    if (ids->version > newest)
        return NDB_TOO_NEW;
    if (ids->version < 1)
        return NDB_NO_VERSION;
    return NDB_OURS;
}

void ndb_uri(const char *path, const char *query, char *out, size_t len)
{
    size_t n = (size_t)snprintf(out, len, "file:");

    for (const unsigned char *p = (const unsigned char *)path; *p && n + 4 < len; p++) {
        if (*p <= ' ' || *p >= 0x7f || *p == '%' || *p == '?' || *p == '#')
            n += (size_t)snprintf(out + n, len - n, "%%%02X", *p);
        else
            out[n++] = (char)*p;
    }
    out[n] = '\0';
    util_strlcpy(out + n, query, len - n);
}
