/* SPDX-License-Identifier: ISC */
/* Counting over a time range from what the database holds: the range every
 * command counts (whole minutes, whole hours where the minute counts are
 * pruned), and the attempts and failures in it, exact, from the hour and
 * minute rollups, or from the failure rows where no rollup can say
 * (owned by counts.c). */
#ifndef NETDIAG_COUNTS_H
#define NETDIAG_COUNTS_H

#include <stdbool.h>
#include <stdint.h>

#include "db.h"
#include "filter.h"

#define COUNTS_MINUTE_MS 60000LL
#define COUNTS_HOUR_MS   3600000LL
/* A run's counts may start up to this long after its last heartbeat (a
 * daemon killed between two heartbeats, 2 s apart, with a batch in
 * flight). */
#define COUNTS_RUN_SLACK_MS 10000LL

struct client;
struct counts_sink;

/* What the rollup tables still hold, read once per command. */
struct counts_facts {
    /* The newer of the first minutes of rollup_minute and
     * rollup_minute_code (INT64_MAX: none): every hour after it has all
     * its minutes; its own hour may have lost some to retention. */
    int64_t first_minute;
    /* The newer of the first hours of rollup_hour and rollup_hour_code
     * (INT64_MAX: none). */
    int64_t first_hour;
    /* The hour of first_minute has all its minutes (their sums equal the
     * hour rows, target by target). */
    bool first_minute_hour_whole;
    /* runs (schema 3): the first start recorded; INT64_MAX: no table or
     * no row, nothing known of when netdiagd ran. */
    int64_t runs_since;
};

/* [from_ms, to_ms): what a command counts, in ms since the epoch, of
 * attempt start. */
struct range {
    int64_t since_ms, until_ms; /* asked, defaults applied */
    int64_t from_ms, to_ms;     /* counted: the asked range made whole minutes, or
                                   whole hours where only the hour counts remain */
    int64_t now_ms;
    bool widened_to_hours; /* an edge moved to an hour boundary */
    /* Edge hours (at most two) that hold nothing in the range: their
     * minutes are gone, and netdiagd did not run in the part inside. */
    int64_t empty_hours[2];
    int nempty;
    /* Set before range_resolve(): the command shows failures only, which
     * the failure rows give at any edge: no widening to hours. */
    bool failures_only;
    struct counts_facts facts;
};

/* --since/--until, each defaulting to now - default_span_ms and now;
 * from/to are not set before range_resolve(). */
void range_from_client(const struct client *cl, int64_t default_span_ms, struct range *r);
/* The same for a command with no default start (failures, alerts): the
 * range starts at 0 without --since and ends at INT64_MAX without --until. */
void range_from_client_all(const struct client *cl, struct range *r);

/* Read the facts and set from/to: since rounded down and until up to the
 * minute; an edge inside an hour whose minute counts are gone moves to
 * that hour's boundary, unless the runs table shows netdiagd did not run
 * in the part of the hour left out (then the hour's counts all lie in the
 * range). Returns 0 or an exit code (printed). */
int range_resolve(struct db *db, struct range *r);

/* "11-24 09:00 to 10:00 UTC", "11-23 22:00 to 11-24 10:00 CET", "... to
 * now": the counted range as a table heading says it. */
void counts_range_text(const struct client *cl, const struct range *r, char *buf, size_t len);
/* What a reader must know of the counts (edges widened to hours, failures
 * whose attempt counts retention removed): one client_note() each. */
void counts_range_notes(const struct client *cl, const struct range *r,
                        const struct counts_sink *s);

/* One rollup row's attempts, or one failure row's (attempts = failures =
 * 1, successes 0). */
struct counts_attempts {
    int64_t attempts, successes, failures;
    int64_t latency_sum_us, latency_count;
    int64_t span_ms; /* what the row covers: a minute, an hour; 0 for a failure row */
    /* With counts_sink.latency (schema 5; else none): the row's latency
     * histogram as stored (NULL: none, or not a blob of a size a histogram
     * can have: then lat_hist_other), the maximum latency (-1: NULL), and
     * ping echoes. The histogram is unchecked: a database someone else
     * wrote may hold anything. */
    const void *lat_hist;
    size_t lat_hist_len;
    bool lat_hist_other;
    int64_t latency_max_us;
    int64_t echo_sent, echo_lost;
};

/* Where counts go. Times are the start of the rollup row (minute or hour)
 * or, for failure rows, their ts. */
struct counts_sink {
    void *arg;
    /* n failures of (target, code); NULL: not wanted */
    void (*failures)(void *arg, int64_t target_id, int code, int64_t n, int64_t t_ms);
    /* NULL: not wanted */
    void (*attempts)(void *arg, int64_t target_id, const struct counts_attempts *a, int64_t t_ms);
    /* Failures only from the failure rows, honouring --phase and --raw
     * (the rollups have no phase or raw). */
    bool failures_from_rows;
    /* Failures must be placed in buckets this wide (ms, a whole number of
     * minutes) starting at offset_ms modulo it: hour rows are used only
     * when hours fall in whole buckets. 0: no buckets. */
    int64_t bucket_ms, offset_ms;
    /* Apply the --code filter in SQL (else every code is reported). */
    bool codes_in_sql;
    /* Read the latency histograms and echo counts too (latency). With
     * buckets, attempts come from the hour rows only where hours fall in
     * whole buckets or the minutes are gone. */
    bool latency;
    /* Out: failures counted where no rollup holds the attempts any more
     * (retention pruned them first); they count as their own attempts. */
    int64_t orphan_failures, orphans_until_ms;
};

/* Whether some hour of [r->from_ms, r->to_ms) is counted from its hour
 * rows because its minute rows are gone (after range_resolve()). */
bool counts_needs_hours(const struct range *r);

/* Count [r->from_ms, r->to_ms) into the sink. Returns 0 or an exit code
 * (printed). */
int counts_run(struct db *db, const struct filter *f, const struct range *r,
               struct counts_sink *sink);

/* (target, key) -> count. Iterate over e[0..cap) where used. */
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

void counts_map_add(struct counts_map *m, int64_t target_id, int key, int64_t n);
void counts_map_free(struct counts_map *m);
/* The entry of (target, key), or NULL. */
struct counts_entry *counts_map_find(const struct counts_map *m, int64_t target_id, int key);

/* Floor of t to a multiple of step, shifted by offset_ms (local time). */
int64_t counts_floor(int64_t t, int64_t step, int64_t offset_ms);
int64_t counts_ceil(int64_t t, int64_t step, int64_t offset_ms);

/* *acc += v, saturating at INT64_MIN/INT64_MAX: sums of numbers read
 * from a database someone else may have written never overflow. */
void counts_add(int64_t *acc, int64_t v);

#endif
