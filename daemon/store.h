/* SPDX-License-Identifier: ISC */
/* The SQLite history: schema and migrations, the bounded queue from the
 * loop thread and the one writer thread behind it (owned by store.c). */
#ifndef NETDIAG_STORE_H
#define NETDIAG_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "result.h"

/* The newest PRAGMA user_version this build reads and writes (the
 * application_id is NDB_APPLICATION_ID, common/ndb.h). A reader refuses a
 * file with another application_id or a higher version (ndb_check()). */
#define STORE_SCHEMA_VERSION 10
/* Results the queue holds (ok and failed); more are dropped and counted.
 * Twice a batch: the loop fills one half while the writer commits the
 * other. ~13 MiB when full (a full disk: about 8 s at 4,000 results/s). */
#define STORE_QUEUE_MAX 32768
/* The writer rewrites this start's runs row (heartbeat and counters) this
 * often; a reader takes a row whose heartbeat is older than
 * STORE_HEARTBEAT_STALE_MS (and not stopped) for a daemon that is gone or
 * hung (sql/README.md). */
#define STORE_HEARTBEAT_MS       1000
#define STORE_HEARTBEAT_STALE_MS 10000

/* store_schema.c: sql/schema.sql, compiled in, and sql/NNN_*.sql: the
 * migration from version N-1 to N at index N (NULL below 2). */
extern const char store_schema_sql[];
extern const char *const store_migration_sql[STORE_SCHEMA_VERSION + 1];

/* One netdiagd per database: while it has the database open, the daemon
 * holds an open file description lock (fcntl F_OFD_SETLK, F_WRLCK) on
 * this one byte of the database file, far from the bytes SQLite locks (at
 * 1 GiB); a second daemon finds it held and refuses to start. The offset
 * is the application_id. Documented in sql/README.md. */
#define STORE_LOCK_OFFSET 1313097031

/* Whether a netdiagd holds the lock of the database open as fd (any
 * mode: read-only will do; F_OFD_GETLK, no lock taken): 1 yes, 0 no, -1
 * error (errno). From the holder's own descriptor: 0. */
int store_lock_held(int fd);

struct store;

struct store_stats {
    uint64_t rows_written;   /* failure rows committed */
    uint64_t results_seen;   /* results submitted (ok and failed) */
    uint64_t failures_seen;  /* of them failed */
    uint64_t dropped;        /* results dropped because the queue was full */
    size_t queue_depth;      /* results waiting now */
    uint64_t batches;        /* transactions committed */
    int64_t last_batch_us;   /* duration of the last transaction */
    bool writable;           /* false while the disk is full / db locked */
    int64_t writer_alive_us; /* util_mono_us() of the writer's last wake-up
                              * (at least once a second): the watchdog's
                              * sign that the writer thread runs */
    int64_t run_id;          /* runs.id of this start */
    uint64_t heartbeats;     /* runs rows rewritten (heartbeat, counters) */
    int64_t heartbeat_us;    /* time spent in the transactions that wrote
                              * only the heartbeat (when no batch was due) */
};

/* Open (creating if needed) and migrate the database at `path`, record
 * this start in the table runs (pid, host, version, cfg->path, counters),
 * then start the writer thread, which rewrites that row at least every
 * STORE_HEARTBEAT_MS and sets its `stopped` at store_stop(). On failure
 * returns NULL with a one-line message in err naming the file (not a
 * netdiag database, newer schema, corrupt, unwritable, no space). Nothing
 * existing is overwritten on failure. */
struct store *store_open(const char *path, const struct config *cfg, char *err, size_t errlen);

/* Upsert the config's targets into `targets` (setting each t->db_id) and
 * mark targets no longer configured as retired; the heartbeat's `targets`
 * counter follows. Runs synchronously at start and reload, on the control
 * connection: any one thread may call it (the loop, or a reload thread),
 * as long as no other thread uses the control connection at the same time
 * (store_load_alerts, store_load_baselines). Returns 0 or -1 (logged). */
int store_sync_targets(struct store *st, struct config *cfg);
/* The two halves of it, each its own transaction, for a reload thread
 * (main.c): the upsert before the new config is swapped in, so that its
 * targets have their ids when they start; the retirement after, so that
 * no row of a retired target is newer than its retirement. Callable from
 * a thread other than the loop while no other store_* call that uses the
 * control connection (store_sync_targets, store_load_*) runs. */
int store_upsert_targets(struct store *st, struct config *cfg);
int store_retire_targets(struct store *st, struct config *cfg);

/* Hand a result to the writer. Never blocks: when the queue is full the
 * result is counted as dropped. Called from the loop thread only. */
void store_submit(struct store *st, const struct result *res);

void store_get_stats(struct store *st, struct store_stats *out);

/* One row of the alerts table as the alert engine writes it. Firing,
 * updating and resolving are the same upsert by id, so a row is written
 * whole every time and a retried write is harmless. */
struct store_alert {
    int64_t id;        /* from store_alert_new_id() */
    int64_t target_id; /* targets.id; 0: host-wide (NULL in the table) */
    int wsa_code;
    int64_t started_ms;
    int64_t resolved_ms;      /* 0: still firing (NULL in the table) */
    int64_t count;            /* failures in the window that fired */
    int64_t peak;             /* highest count in a window while firing */
    double baseline;          /* expected failures per window when it fired */
    int64_t attempts;         /* attempts in the window that fired */
    int64_t last_notified_ms; /* 0: never */
    char detail[320];
    char target_name[72]; /* store_load_alerts() only: the target's name */
    /* schema 6: what it watches, "code", "latency" or "loss" (wsa_code 0),
     * and for the latter the window's figure (µs, or the share of echoes
     * lost), in the unit baseline then has */
    char metric[8];
    bool has_value;
    double value;
};
/* Alert rows the queue holds; more are dropped (and logged). */
#define STORE_ALERT_QUEUE_MAX 1024

/* A fresh alerts.id (ids are handed out here, on the loop thread, so the
 * engine knows a row's id before the writer has stored it). */
int64_t store_alert_new_id(struct store *st);

/* Queue an alert row for the writer; never blocks (loop thread only). */
void store_alert_put(struct store *st, const struct store_alert *a);

/* The alerts still firing (resolved IS NULL), synchronously: for the
 * engine's start, before the loop runs. *out is malloc'd (NULL when none).
 * Returns 0 or -1 (logged). */
int store_load_alerts(struct store *st, struct store_alert **out, size_t *n);

/* Failures per target and code since since_ms, from the per-minute
 * rollups, with the minutes in which the target made attempts: what the
 * engine seeds its baselines with at start. Returns 0 or -1 (logged). */
struct store_baseline {
    int64_t target_id;
    int wsa_code;
    int64_t failures;
    int64_t minutes; /* minutes since since_ms with attempts of the target */
};
int store_load_baselines(struct store *st, int64_t since_ms, struct store_baseline **out,
                         size_t *n);

/* store_path.c: queue a finished trace for the writer (copied; never
 * blocks; loop thread only). More than STORE_PATH_QUEUE_MAX waiting are
 * dropped and counted. The writer also deletes paths older than the
 * retention when it writes new ones. */
#define STORE_PATH_QUEUE_MAX 64
struct trace_path;
void store_path_put(struct store *st, const struct trace_path *path);
/* The export sink's streams (export.c) and their rows of export_cursor
 * (sql/010_export.sql says what the position columns hold per stream). */
enum store_export_stream {
    STORE_EXPORT_FAILURES,
    STORE_EXPORT_ROLLUPS,
    STORE_EXPORT_ALERTS,
    STORE_EXPORT__COUNT,
};
extern const char *const store_export_names[STORE_EXPORT__COUNT];
struct store_export_pos {
    int64_t batch, ts, target_id, seq;
    int64_t rows;     /* acknowledged in total */
    int64_t acked_ms; /* the last acknowledgement; 0: none yet */
    char error[200];  /* the last failed attempt since; "": none */
    int64_t error_ms;
};
/* Hand a stream's position to the writer, which stores it with its next
 * heartbeat (within STORE_HEARTBEAT_MS): the one writer stays the only
 * one. Never blocks on the database; any thread. A position lost to a
 * crash before that only makes the sink send some rows again. */
void store_export_put(struct store *st, enum store_export_stream s,
                      const struct store_export_pos *p);

/* Flush everything queued and stop the writer (giving up on a database
 * that stays unwritable for 10 s, counting what is left as dropped);
 * store_get_stats() then gives the final figures. Idempotent. */
void store_stop(struct store *st);

/* Flush everything queued, stop the writer, close the database. */
void store_close(struct store *st);

#endif
