/* The SQLite history: schema and migrations, the bounded queue from the
 * loop thread and the one writer thread behind it (owned by store.c). */
#ifndef NETDIAG_STORE_H
#define NETDIAG_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "probe.h"

/* The database's identity: PRAGMA application_id ("NDIG") and the newest
 * PRAGMA user_version this build reads and writes. A reader should refuse
 * a file with another application_id or a higher version. */
#define STORE_APPLICATION_ID 1313097031
#define STORE_SCHEMA_VERSION 1
/* Results the queue holds (ok and failed); more are dropped and counted. */
#define STORE_QUEUE_MAX 16384

/* store_schema.c: sql/schema.sql, compiled in. */
extern const char store_schema_sql[];

struct store;

struct store_stats {
    uint64_t rows_written;   /* failure rows committed */
    uint64_t results_seen;   /* results submitted (ok and failed) */
    uint64_t dropped;        /* results dropped because the queue was full */
    size_t queue_depth;      /* results waiting now */
    uint64_t batches;        /* transactions committed */
    int64_t last_batch_us;   /* duration of the last transaction */
    bool writable;           /* false while the disk is full / db locked */
};

/* Open (creating if needed) and migrate the database at `path`, then start
 * the writer thread. On failure returns NULL with a one-line message in
 * err naming the file (not a netdiag database, newer schema, corrupt,
 * unwritable, no space). Nothing existing is overwritten on failure. */
struct store *store_open(const char *path, const struct config *cfg, char *err, size_t errlen);

/* Upsert the config's targets into `targets` (setting each t->db_id) and
 * mark targets no longer configured as retired. Runs synchronously at
 * start and reload (it is small); returns 0 or -1 (logged). */
int store_sync_targets(struct store *st, struct config *cfg);

/* Hand a result to the writer. Never blocks: when the queue is full the
 * result is counted as dropped. Called from the loop thread only. */
void store_submit(struct store *st, const struct result *res);

void store_get_stats(struct store *st, struct store_stats *out);

/* Flush everything queued and stop the writer (giving up on a database
 * that stays unwritable for 10 s, counting what is left as dropped);
 * store_get_stats() then gives the final figures. Idempotent. */
void store_stop(struct store *st);

/* Flush everything queued, stop the writer, close the database. */
void store_close(struct store *st);

#endif
