/* SPDX-License-Identifier: ISC */
/* The netdiag database as both programs know it: its identity (PRAGMA
 * application_id and user_version), the one check of whether an SQLite
 * file is a netdiag database this program reads, and the small SQLite
 * helpers the daemon and the client both use (owned by ndb.c). */
#ifndef NETDIAG_NDB_H
#define NETDIAG_NDB_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

/* PRAGMA application_id of every netdiag database: "NDIG". */
#define NDB_APPLICATION_ID 1313097031

/* What a database says about itself. */
struct ndb_ids {
    int64_t app_id;  /* PRAGMA application_id */
    int64_t version; /* PRAGMA user_version: the schema version */
    int64_t nobj;    /* tables, indexes, views and triggers */
};

/* What ndb_check() finds. */
enum ndb_kind {
    NDB_OURS,       /* a netdiag database of a version this program reads */
    NDB_EMPTY,      /* an SQLite database with nothing in it yet */
    NDB_FOREIGN,    /* another application's (application_id not ours) */
    NDB_TOO_NEW,    /* ours, of a schema newer than this program knows */
    NDB_NO_VERSION, /* ours, without a schema version (being created) */
};

/* Read the three figures of db; an SQLite result code (SQLITE_NOTADB for a
 * file that is not SQLite), nothing printed. */
int ndb_read_ids(sqlite3 *db, struct ndb_ids *ids);
/* Is it a netdiag database that a program reading schema versions up to
 * `newest` can use? Each caller words the answer for its own reader. */
enum ndb_kind ndb_check(const struct ndb_ids *ids, int64_t newest);

/* One integer from the first row of `sql` (a PRAGMA, a count), prepared
 * and finalized here; an SQLite result code. */
int ndb_int(sqlite3 *db, const char *sql, int64_t *out);

/* SQLite "file:" URI of a path (percent-encoding what a URI cannot hold)
 * followed by `query` ("?immutable=1", or "" for none). */
void ndb_uri(const char *path, const char *query, char *out, size_t len);

#endif
