/* Counting over a time range without reading every failure: exact failure
 * counts assembled from the hour and minute rollups plus the failures of
 * the partial minutes at the edges, and attempts estimated from the
 * rollups (owned by counts.c). */
#ifndef NETDIAG_COUNTS_H
#define NETDIAG_COUNTS_H

#include <stdint.h>

#include "db.h"
#include "filter.h"

#define COUNTS_MINUTE_MS 60000LL
#define COUNTS_HOUR_MS   3600000LL

struct client;

/* [since_ms, until_ms): times of attempt start, ms since the epoch. */
struct range {
    int64_t since_ms, until_ms;
    int64_t now_ms;
};

/* --since/--until, each defaulting to now - default_span_ms and now. */
void range_from_client(const struct client *cl, int64_t default_span_ms, struct range *r);

/* One (target, key, count) group; key is a code. */
typedef void (*counts_cb)(void *arg, int64_t target_id, int key, int64_t n);

/* Exact failure counts per (target, code) over the range, honouring the
 * target and code filters. Returns 0 or an exit code (printed). */
int counts_by_code(struct db *db, const struct filter *f, const struct range *r, counts_cb cb,
                   void *arg);
/* What the rollups say of one target over the range: successes pro-rated
 * at the edge buckets (attempts are spread evenly over a bucket), and the
 * latency of successful attempts. */
struct counts_attempts {
    double successes;
    double latency_sum_us, latency_count;
};

typedef void (*counts_attempts_cb)(void *arg, int64_t target_id, const struct counts_attempts *a);

/* Calls cb once per rollup row of a selected target (several per target:
 * callers add them up), from the minute rollups for ranges up to 2 hours
 * they still cover, else from the hour rollups. Returns 0 or an exit
 * code. */
int counts_attempts(struct db *db, const struct filter *f, const struct range *r,
                    counts_attempts_cb cb, void *arg);

/* (target, key) -> count, filled by passing counts_map_add as the
 * counts_cb and the map as its arg. Iterate over e[0..cap) where used. */
struct counts_entry {
    int64_t target_id;
    int key;
    bool used;
    int64_t n;
};

struct counts_map {
    struct counts_entry *e;
    size_t len, cap;
};

void counts_map_add(void *map, int64_t target_id, int key, int64_t n);
void counts_map_free(struct counts_map *m);
/* The entry of (target, key), or NULL. */
struct counts_entry *counts_map_find(const struct counts_map *m, int64_t target_id, int key);

/* Floor of t to a multiple of step, shifted by offset_ms (local time). */
int64_t counts_floor(int64_t t, int64_t step, int64_t offset_ms);

#endif
