/* SPDX-License-Identifier: ISC */
/* Internals shared by store.c (opening, migrations, targets, the loop
 * thread's side of the queue), store_writer.c (the writer thread),
 * store_prune.c (retention), store_file.c (the file and its lock) and
 * store_sql.c (their SQLite helpers); no other file includes this. */
#ifndef NETDIAG_STORE_INT_H
#define NETDIAG_STORE_INT_H

#include <limits.h>
#include <pthread.h>
#include <sys/types.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "hist.h"
#include "result.h"
#include "store.h"
#include "trace.h"

/* A batch commits after this many rows or once its oldest result has
 * waited this long, whichever comes first. Each commit writes every page
 * it touched to the WAL, one index leaf per target at least: at 2,000
 * targets, 5,000-row batches wrote more than the writer could keep up
 * with at 120k rows/s; 16,384 do not (half the queue). */
#define STORE_BATCH_MAX      16384
#define STORE_BATCH_DELAY_US 1000000
/* Retention deletes whole hours, a unit at a time, each unit in one
 * transaction across the tables (store_prune.c): an hour of every target
 * when it holds about this many rows or fewer, else as many targets' hour
 * as hold about that many (one target's hour at least, however many rows
 * it has), so a large backlog never holds the write lock for long. */
#define STORE_PRUNE_ROWS        5000
#define STORE_PRUNE_INTERVAL_US (60 * 1000000LL)
/* Free pages are given back (incremental_vacuum, this many at a time) when
 * there are more than this many and they are over a quarter of the file. */
#define STORE_VACUUM_PAGES   1024
#define STORE_MINUTE_KEEP_MS (7 * 24 * 3600 * 1000LL)
/* After an error (locked, disk full) the writer retries this often. */
#define STORE_RETRY_US       1000000
#define STORE_RETRY_CLOSE_US 200000
/* store_stop() gives up on a database that stays unwritable this long. */
#define STORE_CLOSE_TIMEOUT_US (10 * 1000000LL)
/* Open addressing for the rollup counts of one batch: at most 2 entries
 * per result (the totals and the code), and a load factor of at most 1/2. */
#define STORE_ACC_MAX   (2 * STORE_BATCH_MAX)
#define STORE_ACC_SLOTS 65536
_Static_assert(STORE_ACC_SLOTS >= 2 * STORE_ACC_MAX, "rollup hash table too small");

/* The writer connection's statements. */
enum store_stmt {
    STMT_BEGIN,
    STMT_COMMIT,
    STMT_ROLLBACK,
    STMT_INSERT_FAILURE,
    STMT_INSERT_COMMIT,
    STMT_NEXT_SEQ,
    STMT_UPSERT_MINUTE,
    STMT_UPSERT_HOUR,
    STMT_UPSERT_MINUTE_CODE,
    STMT_UPSERT_HOUR_CODE,
    STMT_UPSERT_ALERT,
    STMT_UPSERT_RUN,
    STMT_FIND_RAW,
    STMT_ADD_RAW,
    STMT_FIND_ADDR,
    STMT_ADD_ADDR,
    STMT_UPSERT_EXPORT,
    STMT__COUNT,
};

/* The writer connection's statements of retention (store_prune.c). */
enum store_prune_stmt {
    PRUNE_OLDEST_HISTORY,
    PRUNE_OLDEST_MINUTES,
    PRUNE_COUNT_HISTORY,
    PRUNE_COUNT_MINUTES,
    PRUNE_HOUR_TARGETS,
    PRUNE_FAILURES,
    PRUNE_FAILURES_TARGET,
    PRUNE_MINUTE,
    PRUNE_MINUTE_CODE,
    PRUNE_HOUR,
    PRUNE_HOUR_CODE,
    PRUNE_COMMITS,
    PRUNE_ALERTS,
    PRUNE_RUNS,
    PRUNE_PAGE_COUNT,
    PRUNE_FREELIST_COUNT,
    PRUNE_INCREMENTAL_VACUUM,
    PRUNE__COUNT,
};

/* The two kinds of retention unit: an hour of everything (failures,
 * commits and every rollup), older than `retention`; an hour of the
 * per-minute rollups only, older than 7 days. */
enum store_prune_scope {
    STORE_PRUNE_HISTORY,
    STORE_PRUNE_MINUTES,
    STORE_PRUNE__SCOPES,
};

/* The control connection's statements: store_open, store_sync_targets,
 * store_load_alerts, store_load_baselines (one thread at a time). */
enum store_ctl {
    CTL_BEGIN,
    CTL_COMMIT,
    CTL_ROLLBACK,
    CTL_UPSERT_CODE,
    CTL_LIST_CODES,
    CTL_DELETE_CODE,
    CTL_UPSERT_TARGET,
    CTL_LIST_ACTIVE,
    CTL_RETIRE_TARGET,
    CTL_MAX_ALERT_ID,
    CTL_LIST_FIRING_ALERTS,
    CTL_BASELINES,
    CTL_INSERT_RUN,
    CTL__COUNT,
};

/* One queued result. The target pointer is not kept: a reload may free
 * the target before the writer gets to the record. */
struct store_rec {
    int64_t target_id;
    struct result res;
};

/* Rollup deltas of one batch, written in the batch's own transaction:
 * code == 0 holds a target's totals for the minute, code != 0 its
 * failures with that code (in `failures`). */
struct store_acc {
    int64_t target_id;
    int64_t minute;
    int code;
    int64_t attempts, successes, failures;
    int64_t lat_count, lat_sum_us, lat_min_us, lat_max_us;
    int64_t echo_sent, echo_lost; /* ping */
    /* its latencies' buckets: lat_buckets[lat_first .. + lat_count) once
     * the batch's keys are sorted (store_lat_sort) */
    uint32_t lat_first;
};

/* The latency of each successful result of a batch, as the key (index of
 * its store_acc << STORE_LAT_SHIFT | hist bucket): sorted, the keys give
 * each target-minute's buckets in ascending order, which is what
 * hist_encode_sorted() takes. */
#define STORE_LAT_SHIFT 10
_Static_assert((1u << STORE_LAT_SHIFT) >= HIST_BUCKETS, "bucket field too narrow");
_Static_assert(((uint64_t)STORE_ACC_MAX << STORE_LAT_SHIFT) <= UINT32_MAX, "key too narrow");

/* The writer's caches of the lookup tables (text -> id): raws.name and
 * addrs.addr. Open addressing over a power-of-two table that grows to
 * STORE_INTERN_MAX entries (at most 8192 slots of 88 bytes, 704 KiB) and
 * is emptied when full, or when a transaction that may have added rows
 * rolls back. */
enum store_intern_kind {
    STORE_INTERN_RAW,
    STORE_INTERN_ADDR,
    STORE_INTERN__COUNT,
};
#define STORE_INTERN_MAX 4096
/* Room for any raw name or address of struct result (63 bytes and NUL);
 * longer text is looked up in SQL every time. */
#define STORE_INTERN_TEXT 64

struct store_intern_ent {
    bool used;
    int64_t id;
    uint64_t hash;
    char text[STORE_INTERN_TEXT];
};

struct store_intern {
    struct store_intern_ent *ent;
    size_t cap, n;
};

/* The last failure stored per target, to guess the next seq. */
struct store_seq {
    int64_t ts;
    int64_t seq;
};

/* The database file as store_file_open() found it: the real directory,
 * the path SQLite opens (no link in it), and the descriptor that holds
 * the one-daemon lock until store_file_close(). */
struct store_file {
    char dir[PATH_MAX];
    char cpath[PATH_MAX];
    int fd;
    bool created; /* by this open: removed again if the open fails */
    dev_t dev;
    ino_t ino;
};

/* This start's row of the table runs; fixed at store_open(). */
struct store_run {
    int64_t id;
    int64_t pid;
    int64_t started_ms;
    char hostname[256];
    char config[4096]; /* the absolute path of the config file, or "" */
};

struct store {
    char *path; /* as configured: the name in every message */
    struct store_file file;
    sqlite3 *ctl; /* open, targets, loading alerts and baselines */
    sqlite3 *db;  /* writer thread */
    struct store_run run;
    sqlite3_stmt *ctl_stmt[CTL__COUNT];
    sqlite3_stmt *stmt[STMT__COUNT];
    sqlite3_stmt *prune_stmt[PRUNE__COUNT];

    pthread_t thread;
    bool thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cond;

    /* guarded by mu */
    struct store_rec *ring;
    size_t cap, head, count;
    int64_t first_us; /* when the oldest queued result started waiting */
    bool stopping;
    int64_t stop_deadline_us;
    int64_t retention_ms;
    uint64_t dropped_full;     /* of stats.dropped: queue full */
    uint64_t dropped_unsynced; /* of stats.dropped: target without db_id */
    size_t ntargets;           /* configured now (the last sync) */
    struct store_stats stats;
    /* alert rows waiting for the writer (store_alert_put) */
    struct store_alert *aq;
    size_t aq_head, aq_count;
    uint64_t aq_dropped;
    /* traced paths waiting for the writer (store_path_put, store_path.c) */
    struct trace_path *pq[STORE_PATH_QUEUE_MAX];
    size_t pq_count;
    uint64_t pq_dropped;

    /* export positions waiting for the writer (store_export_put) */
    struct store_export_pos export_pos[STORE_EXPORT__COUNT];
    bool export_dirty[STORE_EXPORT__COUNT];

    /* a file deleted or replaced under the daemon (file.dev, file.ino) is
     * noticed and never written through the old inode */
    bool replaced;          /* writer thread only */
    int64_t ident_check_us; /* writer thread only: next stat() */

    /* writer thread only */
    struct store_acc *acc; /* rollup counts of the batch being written */
    int32_t *acc_slot;
    size_t nacc;
    uint32_t *lat_keys;    /* STORE_BATCH_MAX: the batch's latencies */
    uint16_t *lat_buckets; /* the same, sorted, bucket only */
    size_t nlat;
    uint64_t hist_replaced; /* damaged lat_hist replaced in this batch */
    struct store_seq *seqs;
    size_t nseqs;
    struct store_intern intern[STORE_INTERN__COUNT];
    int err_code;     /* SQLite error of the current episode; 0: none */
    char errmsg[256]; /* its sqlite3_errmsg(), saved before the rollback */
    int64_t err_since_us;
    int64_t retry_at_us; /* guarded by mu */
    int64_t next_prune_us;
    int64_t heartbeat_due_us; /* when the runs row is next rewritten */
    bool run_stopped;         /* the runs row's `stopped` is written */
    size_t prune_idx;         /* the step of the retention pass (store_prune.c) */
    bool prune_more;          /* a step of this pass deleted something */
    int prune_err;            /* SQLite error of the last failed retention step */
    /* per scope: the hour being deleted target by target, and the last
     * target of it deleted (a restart begins the hour again: harmless) */
    int64_t prune_hour[STORE_PRUNE__SCOPES];
    int64_t prune_target[STORE_PRUNE__SCOPES];
    bool dropping;      /* in a queue-full episode */
    uint64_t drop_base; /* dropped_full when the episode began */
    bool unsynced_logged;
    uint64_t aq_dropped_logged; /* aq_dropped at the last warning */

    /* loop thread only */
    int64_t alert_next_id;
};

/* store_sql.c */
/* "database PATH: message" into err, on one line. */
void store_err(char *err, size_t errlen, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Runs a statement to its end and resets it: SQLITE_OK or the error. */
int store_step_done(sqlite3_stmt *s);
/* The first column of the first row (-1 if none); *rcp gets SQLITE_OK or
 * the error. The statement is reset. */
int64_t store_step_int(sqlite3_stmt *s, int *rcp);
/* Binds text, NULL for an empty string; the text must outlive the step. */
void store_bind_text(sqlite3_stmt *s, int i, const char *v);
/* Binds an id or a time, NULL for 0 or less (none, not yet). */
void store_bind_set(sqlite3_stmt *s, int i, int64_t v);
int store_prepare_all(sqlite3 *db, const char *const *sql, sqlite3_stmt **out, size_t n,
                      const char *path, char *err, size_t errlen);
/* Keeps SQLite's error message in st->errmsg (ROLLBACK overwrites it) and
 * ends the writer connection's transaction if SQLite has not already. */
void store_rollback_failed(struct store *st);

/* store_path.c (writer thread): the queued paths in one transaction, and
 * the paths older than the retention deleted; SQLITE_OK or the error
 * (the paths stay queued for the retry). */
int store_path_write(struct store *st);
/* With mu held, as the writer leaves: the paths still queued are lost. */
void store_path_drop_all(struct store *st);

/* store_file.c */
/* Resolves path (links in the directory part are followed, a link as the
 * file never), checks its directory (not writable by others, owned by this
 * user or root, room left), opens or creates the file as this user's
 * regular file, takes the lock (a held lock: the holder named in err),
 * and checks the -wal, -shm and -journal files. 0, or -1 with err set and
 * nothing left open or created. */
int store_file_open(const char *path, struct store_file *f, char *err, size_t errlen);
/* 0 while the path still names the file opened; ENOENT when it is gone,
 * -1 when another file (or nothing readable) is there. */
int store_file_changed(const struct store_file *f);
/* Removes the files store_file_open() created (the lock still held). */
void store_file_remove(struct store_file *f);
/* Closes the descriptor, which releases the lock. After SQLite's own. */
void store_file_close(struct store_file *f);

/* store_writer.c */
/* Prepares the writer connection's statements (and retention's). */
int store_writer_prepare(struct store *st, char *err, size_t errlen);
/* The writer thread: drains the queue until store_stop(). */
void *store_writer_main(void *arg);
/* Frees what the writer thread allocated (after it stopped). */
void store_writer_free(struct store *st);

/* store_prune.c */
/* Prepares retention's statements on the writer connection. */
int store_prune_prepare(struct store *st, char *err, size_t errlen);
/* Runs a retention step when one is due (writer thread). */
void store_prune_due(struct store *st, int64_t now_us);

#endif
