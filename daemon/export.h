/* SPDX-License-Identifier: ISC */
/* The export sink: a thread of its own that ships the failure rows, the
 * per-minute rollups and the alerts of the database to ClickHouse over
 * HTTP (INSERT ... FORMAT JSONEachRow), with the database as the durable
 * outbox and export_cursor as the acknowledged position (owned by
 * export.c). */
#ifndef NETDIAG_EXPORT_H
#define NETDIAG_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "store.h"

/* One INSERT's body stops taking rows past this many bytes (a text field
 * is cut at EXPORT_TEXT_MAX bytes), so a batch's memory is bounded
 * whatever the database holds. */
#define EXPORT_BODY_MAX (8u << 20)
#define EXPORT_TEXT_MAX 1024
/* What is read of an answer at most; a longer one is cut there. */
#define EXPORT_ANSWER_MAX 65536
/* Firing alerts are sent again this often (the table keeps the last). */
#define EXPORT_ALERT_EVERY_MS 10000

/* clickhouse_url taken apart: plain http only (for TLS, a local proxy). */
struct export_url {
    char host[256]; /* name or address, IPv6 without brackets */
    char port[8];
    char path[256]; /* "/" when none */
};

/* Parse http://HOST[:PORT][/PATH] (default port 8123) into out (NULL: only
 * check). Returns 0, or -1 with a message in err. */
int export_parse_url(const char *url, struct export_url *out, char *err, size_t errlen);

struct export_stats {
    uint64_t rows[STORE_EXPORT__COUNT]; /* acknowledged since the start */
    uint64_t batches;                   /* INSERTs acknowledged */
    uint64_t errors;                    /* INSERTs (or reads) that failed */
    int64_t oldest_ms;                  /* when the oldest commit not acknowledged was stored */
    int64_t lag_ms;                     /* export_get_stats(): how long ago that was (0: none
                                         * waiting); it grows while an INSERT hangs */
    bool failing;                       /* the last attempt failed */
    bool running;
};

struct export;

/* Start the sink when cfg->exp.clickhouse_url is set (NULL with err[0]
 * == '\0' when it is not): its own read-only connection to the database,
 * positions from export_cursor, written back through st. */
struct export *export_start(const struct config *cfg, struct store *st, char *err, size_t errlen);
/* Any thread; NULL ex gives zeros. */
void export_get_stats(struct export *ex, struct export_stats *out);
/* Stop (a request in flight is abandoned at once), hand the last
 * positions to the store, join, free. Before store_stop(). */
void export_stop(struct export *ex);

#endif
