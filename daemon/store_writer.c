/* SPDX-License-Identifier: ISC */
/* The writer thread: drains the store's bounded queue into batched
 * transactions, interns raw names and addresses into their lookup tables,
 * accumulates the per-minute and per-hour rollups, rides out a locked
 * database or a full disk with the results held in the queue, and applies
 * retention a few thousand rows at a time. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "hist.h"
#include "log.h"
#include "store.h"
#include "store_int.h"
#include "util.h"

/* SQL of enum store_stmt (store_int.h). A rollup upsert adds one batch's
 * deltas to the stored row; min/max keep NULL for "no latency yet", and
 * nd_hist_merge() (store_sql_hist_merge) adds the batch's latency
 * histogram to the stored one. */
#define STORE_ROLLUP_UPSERT(table, unit)                                                           \
    "INSERT INTO " table " (" unit ", target_id, attempts, successes, failures, latency_count, "   \
    "latency_sum_us, latency_min_us, latency_max_us, lat_hist, echo_sent, echo_lost) "             \
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) "                                  \
    "ON CONFLICT (" unit ", target_id) DO UPDATE SET attempts = attempts + excluded.attempts, "    \
    "successes = successes + excluded.successes, failures = failures + excluded.failures, "        \
    "latency_count = latency_count + excluded.latency_count, "                                     \
    "latency_sum_us = latency_sum_us + excluded.latency_sum_us, "                                  \
    "latency_min_us = min(coalesce(latency_min_us, excluded.latency_min_us), "                     \
    "coalesce(excluded.latency_min_us, latency_min_us)), "                                         \
    "latency_max_us = max(coalesce(latency_max_us, excluded.latency_max_us), "                     \
    "coalesce(excluded.latency_max_us, latency_max_us)), "                                         \
    "lat_hist = nd_hist_merge(lat_hist, excluded.lat_hist), "                                      \
    "echo_sent = echo_sent + excluded.echo_sent, echo_lost = echo_lost + excluded.echo_lost"

#define STORE_CODE_UPSERT(table, unit)                                                             \
    "INSERT INTO " table " (" unit ", target_id, wsa_code, count) VALUES (?1, ?2, ?3, ?4) "        \
    "ON CONFLICT (" unit ", target_id, wsa_code) DO UPDATE SET count = count + excluded.count"

static const char *const store_stmt_sql[STMT__COUNT] = {
    [STMT_BEGIN] = "BEGIN IMMEDIATE",
    [STMT_COMMIT] = "COMMIT",
    [STMT_ROLLBACK] = "ROLLBACK",
    [STMT_INSERT_FAILURE] =
        "INSERT INTO failures (ts, target_id, seq, phase, wsa_code, raw_id, raw_value, detail, "
        "latency_us, local_addr_id, local_port, remote_addr_id, remote_port, batch, "
        "icmp_from_addr_id, icmp_type, icmp_code) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
    [STMT_INSERT_COMMIT] = "INSERT INTO commits (ts_min, ts_max, rows, committed) "
                           "VALUES (?1, ?2, ?3, ?4)",
    [STMT_NEXT_SEQ] = "SELECT coalesce(max(seq), -1) + 1 FROM failures "
                      "WHERE target_id = ?2 AND ts = ?1",
    [STMT_UPSERT_MINUTE] = STORE_ROLLUP_UPSERT("rollup_minute", "minute"),
    [STMT_UPSERT_HOUR] = STORE_ROLLUP_UPSERT("rollup_hour", "hour"),
    [STMT_UPSERT_MINUTE_CODE] = STORE_CODE_UPSERT("rollup_minute_code", "minute"),
    [STMT_UPSERT_HOUR_CODE] = STORE_CODE_UPSERT("rollup_hour_code", "hour"),
    [STMT_UPSERT_ALERT] =
        "INSERT INTO alerts (id, target_id, wsa_code, started, resolved, count, peak, baseline, "
        "attempts, last_notified, detail, metric, value) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
        "?9, ?10, ?11, ?12, ?13) "
        "ON CONFLICT (id) DO UPDATE SET resolved = excluded.resolved, count = excluded.count, "
        "peak = excluded.peak, baseline = excluded.baseline, attempts = excluded.attempts, "
        "last_notified = excluded.last_notified, detail = excluded.detail, "
        "value = excluded.value",
    [STMT_UPSERT_RUN] =
        "INSERT INTO runs (id, pid, hostname, version, config, started, heartbeat, stopped, "
        "results, failures, dropped, targets) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
        "?11, ?12) ON CONFLICT (id) DO UPDATE SET heartbeat = excluded.heartbeat, "
        "stopped = excluded.stopped, results = excluded.results, failures = excluded.failures, "
        "dropped = excluded.dropped, targets = excluded.targets",
    [STMT_FIND_RAW] = "SELECT id FROM raws WHERE name = ?1",
    [STMT_ADD_RAW] = "INSERT INTO raws (name) VALUES (?1)",
    [STMT_FIND_ADDR] = "SELECT id FROM addrs WHERE addr = ?1",
    [STMT_ADD_ADDR] = "INSERT INTO addrs (addr) VALUES (?1)",
    [STMT_UPSERT_EXPORT] =
        "INSERT INTO export_cursor (stream, batch, ts, target_id, seq, rows, acked, error, "
        "error_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (stream) DO UPDATE "
        "SET batch = excluded.batch, ts = excluded.ts, target_id = excluded.target_id, "
        "seq = excluded.seq, rows = excluded.rows, acked = excluded.acked, "
        "error = excluded.error, error_at = excluded.error_at",
};

/* The statements that read and add rows of each lookup table. */
static const enum store_stmt store_intern_find[STORE_INTERN__COUNT] = {
    [STORE_INTERN_RAW] = STMT_FIND_RAW,
    [STORE_INTERN_ADDR] = STMT_FIND_ADDR,
};
static const enum store_stmt store_intern_add[STORE_INTERN__COUNT] = {
    [STORE_INTERN_RAW] = STMT_ADD_RAW,
    [STORE_INTERN_ADDR] = STMT_ADD_ADDR,
};

/* nd_hist_merge(stored, delta): the stored latency histogram with a
 * batch's added, exactly (the union of their samples). A stored value
 * that is not a histogram (a database someone else wrote to) cannot be
 * added to: the batch's replaces it, and the writer says so once the
 * batch is committed; a batch must never fail on it. */
static void store_sql_hist_merge(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    struct store *st = sqlite3_user_data(ctx);
    uint8_t out[HIST_ENC_MAX];
    const char *why = NULL;
    size_t len;

    (void)argc;
    if (sqlite3_value_type(argv[1]) == SQLITE_NULL) {
        sqlite3_result_value(ctx, argv[0]);
        return;
    }
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
        sqlite3_result_value(ctx, argv[1]);
        return;
    }
    if (sqlite3_value_type(argv[0]) == SQLITE_BLOB) {
        len = hist_merge_encoded(sqlite3_value_blob(argv[0]), (size_t)sqlite3_value_bytes(argv[0]),
                                 sqlite3_value_blob(argv[1]), (size_t)sqlite3_value_bytes(argv[1]),
                                 out, sizeof(out), &why);
        if (len > 0) {
            sqlite3_result_blob(ctx, out, (int)len, SQLITE_TRANSIENT);
            return;
        }
    }
    st->hist_replaced++;
    sqlite3_result_value(ctx, argv[1]);
}

int store_writer_prepare(struct store *st, char *err, size_t errlen)
{
    if (sqlite3_create_function_v2(st->db, "nd_hist_merge", 2,
                                   SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY, st,
                                   store_sql_hist_merge, NULL, NULL, NULL) != SQLITE_OK) {
        store_err(err, errlen, st->path, "cannot register nd_hist_merge: %s",
                  sqlite3_errmsg(st->db));
        return -1;
    }
    if (store_prepare_all(st->db, store_stmt_sql, st->stmt, STMT__COUNT, st->path, err, errlen) < 0)
        return -1;
    return store_prune_prepare(st, err, errlen);
}

static int64_t store_floor(int64_t v, int64_t unit)
{
    int64_t r = v % unit;
    return r < 0 ? v - r - unit : v - r;
}

static uint32_t store_hash(int64_t a, int64_t b, int64_t c)
{
    uint64_t h = (uint64_t)a * 0x9E3779B97F4A7C15ULL ^ (uint64_t)b * 0xC2B2AE3D27D4EB4FULL ^
                 (uint64_t)c * 0x165667B19E3779F9ULL;
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ULL;
    h ^= h >> 32;
    return (uint32_t)h;
}

static struct store_acc *store_acc_get(struct store *st, int64_t target_id, int64_t minute,
                                       int code)
{
    uint32_t i = store_hash(target_id, minute, code) & (STORE_ACC_SLOTS - 1);
    struct store_acc *a;

    for (;; i = (i + 1) & (STORE_ACC_SLOTS - 1)) {
        int32_t e = st->acc_slot[i];
        if (e < 0)
            break;
        a = &st->acc[e];
        if (a->target_id == target_id && a->minute == minute && a->code == code)
            return a;
    }
    /* cannot overflow: a batch adds at most 2 entries per row */
    a = &st->acc[st->nacc];
    memset(a, 0, sizeof(*a));
    a->target_id = target_id;
    a->minute = minute;
    a->code = code;
    st->acc_slot[i] = (int32_t)st->nacc++;
    return a;
}

static void store_acc_reset(struct store *st)
{
    memset(st->acc_slot, 0xff, STORE_ACC_SLOTS * sizeof(*st->acc_slot));
    st->nacc = 0;
    st->nlat = 0;
    st->hist_replaced = 0;
}

static int store_cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Sorts the batch's latency keys: each store_acc's buckets become one
 * ascending run of lat_buckets, from its lat_first. */
static void store_lat_sort(struct store *st)
{
    if (st->nlat > 1)
        qsort(st->lat_keys, st->nlat, sizeof(*st->lat_keys), store_cmp_u32);
    for (size_t i = 0; i < st->nlat; i++) {
        uint32_t k = st->lat_keys[i];
        struct store_acc *a = &st->acc[k >> STORE_LAT_SHIFT];
        if (i == 0 || (st->lat_keys[i - 1] >> STORE_LAT_SHIFT) != (k >> STORE_LAT_SHIFT))
            a->lat_first = (uint32_t)i;
        st->lat_buckets[i] = (uint16_t)(k & ((1u << STORE_LAT_SHIFT) - 1));
    }
}

static void store_acc_add(struct store *st, const struct store_rec *rec)
{
    const struct result *r = &rec->res;
    int64_t minute = store_floor(r->ts_ms, 60000);
    struct store_acc *a = store_acc_get(st, rec->target_id, minute, 0);

    a->attempts++;
    a->echo_sent += r->echo_sent;
    a->echo_lost += r->echo_sent > r->echo_recv ? r->echo_sent - r->echo_recv : 0;
    if (r->ok) {
        a->successes++;
        if (r->latency_us >= 0) {
            if (a->lat_count == 0 || r->latency_us < a->lat_min_us)
                a->lat_min_us = r->latency_us;
            if (a->lat_count == 0 || r->latency_us > a->lat_max_us)
                a->lat_max_us = r->latency_us;
            a->lat_count++;
            a->lat_sum_us += r->latency_us;
            /* room: one key per result, n <= STORE_BATCH_MAX */
            st->lat_keys[st->nlat++] =
                (uint32_t)(a - st->acc) << STORE_LAT_SHIFT | hist_bucket(r->latency_us);
        }
    } else {
        a->failures++;
        store_acc_get(st, rec->target_id, minute, r->wsa_code)->failures++;
    }
}

/* Stored phase numbers are part of the schema (the phases table), so they
 * are spelled out rather than taken from the enum's order. */
static int store_phase_code(enum probe_phase phase)
{
    switch (phase) {
    case PHASE_NONE:
        return 0;
    case PHASE_RESOLVE:
        return 1;
    case PHASE_CONNECT:
        return 2;
    case PHASE_SEND:
        return 3;
    case PHASE_RECV:
        return 4;
    case PHASE_VERIFY:
        return 5;
    }
    return 0;
}

static struct store_seq *store_seq_for(struct store *st, int64_t target_id)
{
    /* ids are the targets table's small dense integers */
    if (target_id <= 0 || target_id > (1 << 20))
        return NULL;
    if ((size_t)target_id >= st->nseqs) {
        size_t n = (size_t)target_id + 64;
        struct store_seq *s = realloc(st->seqs, n * sizeof(*s));
        if (s == NULL)
            return NULL;
        for (size_t i = st->nseqs; i < n; i++)
            s[i] = (struct store_seq){INT64_MIN, 0};
        st->seqs = s;
        st->nseqs = n;
    }
    return &st->seqs[target_id];
}

/* ---- lookup tables: raws and addrs ---- */

static uint64_t store_hash_text(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */

    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* Forgets every cached id. After a rollback the ids the transaction handed
 * out are gone from the table (and may be given to other text later). */
static void store_intern_clear(struct store *st)
{
    for (int k = 0; k < STORE_INTERN__COUNT; k++) {
        struct store_intern *c = &st->intern[k];
        if (c->ent != NULL)
            memset(c->ent, 0, c->cap * sizeof(*c->ent));
        c->n = 0;
    }
}

/* Room for one more entry at a load factor of at most 1/2: grows the
 * table, or empties it once it holds STORE_INTERN_MAX entries (a host with
 * that many addresses pays one indexed SELECT per miss). Out of memory
 * leaves the cache as it is, or without a table: lookups then go to SQL. */
static void store_intern_make_room(struct store_intern *c)
{
    struct store_intern_ent *ne;
    size_t ncap;

    if (c->ent != NULL && 2 * (c->n + 1) <= c->cap)
        return;
    if (c->ent != NULL && c->n >= STORE_INTERN_MAX) {
        memset(c->ent, 0, c->cap * sizeof(*c->ent));
        c->n = 0;
        return;
    }
    ncap = c->ent != NULL ? 2 * c->cap : 64;
    ne = calloc(ncap, sizeof(*ne));
    if (ne == NULL)
        return;
    for (size_t i = 0; c->ent != NULL && i < c->cap; i++) {
        size_t j;
        if (!c->ent[i].used)
            continue;
        for (j = c->ent[i].hash & (ncap - 1); ne[j].used; j = (j + 1) & (ncap - 1))
            ;
        ne[j] = c->ent[i];
    }
    free(c->ent);
    c->ent = ne;
    c->cap = ncap;
}

/* Binds to column col of s the id of text in lookup table `kind`, adding
 * the row when the text is new; NULL for empty text, like all empty text.
 * The cache answers the common case without SQL; a miss costs one indexed
 * SELECT (the row is there after a restart), and an INSERT when the text
 * is new. Returns SQLITE_OK or the SQLite error. */
static int store_bind_interned(struct store *st, enum store_intern_kind kind, const char *text,
                               sqlite3_stmt *s, int col)
{
    struct store_intern *c = &st->intern[kind];
    sqlite3_stmt *q = st->stmt[store_intern_find[kind]];
    size_t len = strlen(text), slot = 0;
    uint64_t h = store_hash_text(text, len);
    bool cacheable = len < STORE_INTERN_TEXT;
    int64_t id;
    int rc;

    if (len == 0) {
        sqlite3_bind_null(s, col);
        return SQLITE_OK;
    }
    if (cacheable) {
        store_intern_make_room(c);
        cacheable = c->ent != NULL;
    }
    if (cacheable) {
        for (slot = h & (c->cap - 1); c->ent[slot].used; slot = (slot + 1) & (c->cap - 1)) {
            if (c->ent[slot].hash == h && strcmp(c->ent[slot].text, text) == 0) {
                sqlite3_bind_int64(s, col, c->ent[slot].id);
                return SQLITE_OK;
            }
        }
    }
    sqlite3_bind_text(q, 1, text, (int)len, SQLITE_STATIC);
    rc = sqlite3_step(q);
    id = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
    sqlite3_reset(q);
    if (rc == SQLITE_DONE) {
        q = st->stmt[store_intern_add[kind]];
        sqlite3_bind_text(q, 1, text, (int)len, SQLITE_STATIC);
        if ((rc = store_step_done(q)) != SQLITE_OK)
            return rc;
        id = sqlite3_last_insert_rowid(st->db);
    } else if (rc != SQLITE_ROW) {
        return rc;
    }
    if (cacheable) {
        c->ent[slot].used = true;
        c->ent[slot].id = id;
        c->ent[slot].hash = h;
        memcpy(c->ent[slot].text, text, len + 1);
        c->n++;
    }
    sqlite3_bind_int64(s, col, id);
    return SQLITE_OK;
}

/* Splits an address as the probe formats it (util_format_sockaddr():
 * "127.0.0.1:40312", "[::1]:53") into the host address, without brackets,
 * and the port: the inverse of the join in failures_v, which gives back
 * exactly s. Returns the port, or -1 when s is not of that form (no port,
 * a port with a leading zero or above 65535, a bare IPv6 address...): then
 * addr is all of s and failures_v shows it as it is. The migration from
 * schema version 1 (sql/002_intern_strings.sql) splits the same way.
 * addrlen must exceed strlen(s). */
static int store_split_addr(const char *s, char *addr, size_t addrlen)
{
    size_t n = strlen(s), e = n, hl;
    const char *host = s;
    long port = 0;

    while (e > 0 && s[e - 1] >= '0' && s[e - 1] <= '9')
        e--;
    if (e == 0 || e == n || s[e - 1] != ':' || n - e > 5 || (n - e > 1 && s[e] == '0'))
        goto whole;
    for (size_t i = e; i < n; i++)
        port = port * 10 + (s[i] - '0');
    if (port > 65535)
        goto whole;
    hl = e - 1;
    if (hl >= 3 && s[0] == '[' && s[hl - 1] == ']' && memchr(s + 1, ':', hl - 2) != NULL) {
        host = s + 1; /* "[v6]": the address has a ':', the brackets come back */
        hl -= 2;
    } else if (hl == 0 || memchr(s, ':', hl) != NULL) {
        goto whole; /* "::1:53" or ":53" could not be joined back the same */
    }
    if (hl >= addrlen)
        goto whole;
    memcpy(addr, host, hl);
    addr[hl] = '\0';
    return (int)port;
whole:
    util_strlcpy(addr, s, addrlen);
    return -1;
}

/* Binds an address of a result as its addrs id (column col) and port
 * (col + 1); NULL and NULL for none, id and NULL for text kept whole. */
static int store_bind_addr(struct store *st, const char *text, sqlite3_stmt *s, int col)
{
    char addr[STORE_INTERN_TEXT];
    int port = -1;

    if (strlen(text) < sizeof(addr)) /* else longer than struct result holds: whole */
        port = store_split_addr(text, addr, sizeof(addr));
    if (port >= 0)
        sqlite3_bind_int(s, col + 1, port);
    else
        sqlite3_bind_null(s, col + 1);
    return store_bind_interned(st, STORE_INTERN_ADDR, port >= 0 ? addr : text, s, col);
}

void store_writer_free(struct store *st)
{
    for (int k = 0; k < STORE_INTERN__COUNT; k++) {
        free(st->intern[k].ent);
        st->intern[k].ent = NULL;
        st->intern[k].cap = st->intern[k].n = 0;
    }
    free(st->seqs);
    st->seqs = NULL;
    st->nseqs = 0;
}

static int store_insert_failure(struct store *st, const struct store_rec *rec, int64_t batch)
{
    sqlite3_stmt *s = st->stmt[STMT_INSERT_FAILURE];
    const struct result *r = &rec->res;
    struct store_seq *last = store_seq_for(st, rec->target_id);
    /* every seqs entry is initialised when the array grows */
    // NOLINTNEXTLINE(clang-analyzer-core.UndefinedBinaryOperatorResult)
    int64_t seq = last && last->ts == r->ts_ms ? last->seq + 1 : 0;
    int rc;

    /* the ids first: new text gets its lookup row before the failure row */
    if ((rc = store_bind_interned(st, STORE_INTERN_RAW, r->raw, s, 6)) != SQLITE_OK ||
        (rc = store_bind_addr(st, r->local, s, 10)) != SQLITE_OK ||
        (rc = store_bind_addr(st, r->remote, s, 12)) != SQLITE_OK ||
        (rc = store_bind_interned(st, STORE_INTERN_ADDR, r->icmp ? r->icmp_from : "", s, 15)) !=
            SQLITE_OK)
        return rc;
    /* who refused, when an ICMP error did: NULL for every other failure */
    if (r->icmp) {
        sqlite3_bind_int(s, 16, r->icmp_type);
        sqlite3_bind_int(s, 17, r->icmp_code);
    } else {
        sqlite3_bind_null(s, 16);
        sqlite3_bind_null(s, 17);
    }
    sqlite3_bind_int64(s, 1, r->ts_ms);
    sqlite3_bind_int64(s, 2, rec->target_id);
    sqlite3_bind_int64(s, 3, seq);
    sqlite3_bind_int(s, 4, store_phase_code(r->phase));
    sqlite3_bind_int(s, 5, r->wsa_code);
    if (r->raw_value == -1)
        sqlite3_bind_null(s, 7);
    else
        sqlite3_bind_int(s, 7, r->raw_value);
    store_bind_text(s, 8, r->detail);
    sqlite3_bind_int64(s, 9, r->latency_us);
    sqlite3_bind_int64(s, 14, batch);
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    if ((rc & 0xff) == SQLITE_CONSTRAINT) {
        /* the guess was taken (out-of-order result, clock stepped back,
         * restart): ask the index for the next free seq */
        sqlite3_stmt *q = st->stmt[STMT_NEXT_SEQ];
        sqlite3_bind_int64(q, 1, r->ts_ms);
        sqlite3_bind_int64(q, 2, rec->target_id);
        seq = store_step_int(q, &rc);
        if (rc != SQLITE_OK)
            return rc;
        sqlite3_bind_int64(s, 3, seq);
        rc = sqlite3_step(s);
        sqlite3_reset(s);
    }
    if (rc != SQLITE_DONE)
        return rc;
    if (last && (r->ts_ms > last->ts || (r->ts_ms == last->ts && seq > last->seq))) {
        last->ts = r->ts_ms;
        last->seq = seq;
    }
    return SQLITE_OK;
}

static int store_flush_acc(struct store *st)
{
    uint8_t hist[HIST_ENC_MAX];
    int rc;

    store_lat_sort(st);
    for (size_t i = 0; i < st->nacc; i++) {
        const struct store_acc *a = &st->acc[i];
        int64_t hour = store_floor(a->minute, 3600000);
        if (a->code == 0) {
            /* the same delta goes to the minute and to the hour row, so
             * that the minutes of an hour always merge into its row */
            size_t hlen = a->lat_count > 0
                              ? hist_encode_sorted(st->lat_buckets + a->lat_first,
                                                   (size_t)a->lat_count, hist, sizeof(hist))
                              : 0;
            for (int k = 0; k < 2; k++) {
                sqlite3_stmt *s = st->stmt[k == 0 ? STMT_UPSERT_MINUTE : STMT_UPSERT_HOUR];
                sqlite3_bind_int64(s, 1, k == 0 ? a->minute : hour);
                sqlite3_bind_int64(s, 2, a->target_id);
                sqlite3_bind_int64(s, 3, a->attempts);
                sqlite3_bind_int64(s, 4, a->successes);
                sqlite3_bind_int64(s, 5, a->failures);
                sqlite3_bind_int64(s, 6, a->lat_count);
                sqlite3_bind_int64(s, 7, a->lat_sum_us);
                if (a->lat_count > 0) {
                    sqlite3_bind_int64(s, 8, a->lat_min_us);
                    sqlite3_bind_int64(s, 9, a->lat_max_us);
                } else {
                    sqlite3_bind_null(s, 8);
                    sqlite3_bind_null(s, 9);
                }
                if (hlen > 0)
                    sqlite3_bind_blob(s, 10, hist, (int)hlen, SQLITE_STATIC);
                else
                    sqlite3_bind_null(s, 10);
                sqlite3_bind_int64(s, 11, a->echo_sent);
                sqlite3_bind_int64(s, 12, a->echo_lost);
                if ((rc = store_step_done(s)) != SQLITE_OK)
                    return rc;
            }
        } else {
            for (int k = 0; k < 2; k++) {
                sqlite3_stmt *s =
                    st->stmt[k == 0 ? STMT_UPSERT_MINUTE_CODE : STMT_UPSERT_HOUR_CODE];
                sqlite3_bind_int64(s, 1, k == 0 ? a->minute : hour);
                sqlite3_bind_int64(s, 2, a->target_id);
                sqlite3_bind_int(s, 3, a->code);
                sqlite3_bind_int64(s, 4, a->failures);
                if ((rc = store_step_done(s)) != SQLITE_OK)
                    return rc;
            }
        }
    }
    return SQLITE_OK;
}

/* Ends a batch that failed: the ids the lookup caches learnt in it may
 * have been rolled back with it. */
static void store_rollback(struct store *st)
{
    store_rollback_failed(st);
    store_intern_clear(st);
}

/* An error code of our own: the file at the path is not the one opened. */
#define STORE_RC_REPLACED (SQLITE_CANTOPEN | (0x7f << 8))

/* Whether the database file was deleted or replaced since it was opened
 * (checked at most once a second). SQLite would go on writing into the
 * old inode, which nobody can read any more: stop writing instead. */
static bool store_identity_lost(struct store *st)
{
    int64_t now = util_mono_us();
    int changed;

    if (st->replaced)
        return true;
    if (now < st->ident_check_us)
        return false;
    st->ident_check_us = now + 1000000;
    if ((changed = store_file_changed(&st->file)) == 0)
        return false;
    st->replaced = true;
    snprintf(st->errmsg, sizeof(st->errmsg), "%s", changed == ENOENT ? "deleted" : "replaced");
    return true;
}

/* The export positions handed over since the last heartbeat, in the
 * caller's transaction. Taken off the list first: a transaction that then
 * fails leaves an older position in the file, which only means rows sent
 * again (the export is at-least-once; the receiver drops duplicates). */
static int store_put_export(struct store *st)
{
    sqlite3_stmt *s = st->stmt[STMT_UPSERT_EXPORT];
    struct store_export_pos pos[STORE_EXPORT__COUNT];
    bool dirty[STORE_EXPORT__COUNT];
    int rc = SQLITE_OK;

    pthread_mutex_lock(&st->mu);
    for (int i = 0; i < STORE_EXPORT__COUNT; i++) {
        dirty[i] = st->export_dirty[i];
        pos[i] = st->export_pos[i];
        st->export_dirty[i] = false;
    }
    pthread_mutex_unlock(&st->mu);
    for (int i = 0; i < STORE_EXPORT__COUNT && rc == SQLITE_OK; i++) {
        if (!dirty[i])
            continue;
        sqlite3_bind_text(s, 1, store_export_names[i], -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, pos[i].batch);
        sqlite3_bind_int64(s, 3, pos[i].ts);
        sqlite3_bind_int64(s, 4, pos[i].target_id);
        sqlite3_bind_int64(s, 5, pos[i].seq);
        sqlite3_bind_int64(s, 6, pos[i].rows);
        sqlite3_bind_int64(s, 7, pos[i].acked_ms);
        store_bind_text(s, 8, pos[i].error);
        if (pos[i].error[0] != '\0')
            sqlite3_bind_int64(s, 9, pos[i].error_ms);
        else
            sqlite3_bind_null(s, 9);
        rc = store_step_done(s);
    }
    return rc;
}

/* Rewrites this start's runs row: the heartbeat, the counters, and
 * `stopped` when stopped_ms > 0. An upsert, so a row someone deleted comes
 * back. Part of the caller's transaction. */
static int store_put_run(struct store *st, int64_t stopped_ms)
{
    sqlite3_stmt *s = st->stmt[STMT_UPSERT_RUN];
    uint64_t results, failures, dropped;
    size_t ntargets;

    pthread_mutex_lock(&st->mu);
    results = st->stats.results_seen;
    failures = st->stats.failures_seen;
    dropped = st->stats.dropped;
    ntargets = st->ntargets;
    pthread_mutex_unlock(&st->mu);
    sqlite3_bind_int64(s, 1, st->run.id);
    sqlite3_bind_int64(s, 2, st->run.pid);
    sqlite3_bind_text(s, 3, st->run.hostname, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, NETDIAG_VERSION, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, st->run.config, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 6, st->run.started_ms);
    sqlite3_bind_int64(s, 7, util_now_ms());
    store_bind_set(s, 8, stopped_ms);
    sqlite3_bind_int64(s, 9, (int64_t)results);
    sqlite3_bind_int64(s, 10, (int64_t)failures);
    sqlite3_bind_int64(s, 11, (int64_t)dropped);
    sqlite3_bind_int64(s, 12, (int64_t)ntargets);
    int rc = store_step_done(s);
    return rc == SQLITE_OK ? store_put_export(st) : rc;
}

static bool store_heartbeat_due(const struct store *st, int64_t now_us)
{
    return st->run.id > 0 && now_us >= st->heartbeat_due_us;
}

/* The runs row alone, in a transaction of its own: the heartbeat when no
 * batch carried it, and `stopped` at the end. */
static int store_write_run(struct store *st, bool stopped)
{
    int64_t t0 = util_mono_us();
    int rc;

    if (store_identity_lost(st))
        return STORE_RC_REPLACED;
    if ((rc = store_step_done(st->stmt[STMT_BEGIN])) != SQLITE_OK ||
        (rc = store_put_run(st, stopped ? util_now_ms() : 0)) != SQLITE_OK ||
        (rc = store_step_done(st->stmt[STMT_COMMIT])) != SQLITE_OK) {
        store_rollback(st);
        return rc;
    }
    st->heartbeat_due_us = t0 + STORE_HEARTBEAT_MS * 1000LL;
    if (stopped)
        st->run_stopped = true;
    pthread_mutex_lock(&st->mu);
    st->stats.heartbeats++;
    st->stats.heartbeat_us += util_mono_us() - t0;
    pthread_mutex_unlock(&st->mu);
    return SQLITE_OK;
}

/* The batch's row of the table commits, first in its transaction: the
 * range of its failures' ts and their number. Its id is the batch's
 * position, stored in each of its failure rows (failures.batch): commits
 * are numbered in the order they happen (one writer, AUTOINCREMENT), so a
 * reader that remembers the last id it read finds every row stored after
 * it, once, whatever the rows' ts (a result queued while the database was
 * locked, a clock stepped back). *batch is 0 when the batch holds no
 * failure (no row is added). */
static int store_insert_commit(struct store *st, size_t head, size_t n, int64_t *batch)
{
    sqlite3_stmt *s = st->stmt[STMT_INSERT_COMMIT];
    int64_t ts_min = INT64_MAX, ts_max = INT64_MIN, rows = 0;
    int rc;

    *batch = 0;
    for (size_t i = 0; i < n; i++) {
        const struct result *r = &st->ring[(head + i) % st->cap].res;
        if (r->ok)
            continue;
        ts_min = r->ts_ms < ts_min ? r->ts_ms : ts_min;
        ts_max = r->ts_ms > ts_max ? r->ts_ms : ts_max;
        rows++;
    }
    if (rows == 0)
        return SQLITE_OK;
    sqlite3_bind_int64(s, 1, ts_min);
    sqlite3_bind_int64(s, 2, ts_max);
    sqlite3_bind_int64(s, 3, rows);
    sqlite3_bind_int64(s, 4, util_now_ms());
    if ((rc = store_step_done(s)) != SQLITE_OK)
        return rc;
    *batch = sqlite3_last_insert_rowid(st->db);
    return SQLITE_OK;
}

/* Writes the n oldest queued results in one transaction: their failure
 * rows and their rollup counts together, so that every committed state of
 * the file has rollups that agree with the failures table, and a crash
 * (kill -9, power loss) loses the batch being written, rows and counts
 * alike, and nothing else. The results stay in the queue until the commit
 * succeeded, so a failed batch is simply retried whole. */
/* The few results that came while a batch was written move to the ring's
 * first slots (the caller holds mu; the writer reads no slot now): the
 * ring's pages that are ever touched are those its deepest backlog
 * needed, not the whole ring (13 MB) that a walk around it under a
 * steady flow makes resident, whatever the number of targets. */
#define STORE_RING_REWIND_MAX 256
static void store_ring_rewind(struct store *st)
{
    if (st->head == 0 || st->count > STORE_RING_REWIND_MAX)
        return;
    if (st->count > 0) {
        if (st->head + st->count > st->cap || st->head < st->count)
            return; /* wrapped, or overlapping: the next batch will do */
        memcpy(&st->ring[0], &st->ring[st->head], st->count * sizeof(*st->ring));
    }
    st->head = 0;
}

static int store_write_batch(struct store *st, size_t n)
{
    int64_t t0 = util_mono_us(), batch = 0;
    uint64_t rows = 0;
    size_t head;
    bool heartbeat;
    int rc;

    if (n == 0)
        return SQLITE_OK;
    if (store_identity_lost(st))
        return STORE_RC_REPLACED;
    pthread_mutex_lock(&st->mu);
    head = st->head;
    pthread_mutex_unlock(&st->mu);

    if ((rc = store_step_done(st->stmt[STMT_BEGIN])) != SQLITE_OK ||
        (rc = store_insert_commit(st, head, n, &batch)) != SQLITE_OK)
        goto fail;
    store_acc_reset(st);
    for (size_t i = 0; i < n; i++) {
        const struct store_rec *rec = &st->ring[(head + i) % st->cap];
        if (!rec->res.ok) {
            if ((rc = store_insert_failure(st, rec, batch)) != SQLITE_OK)
                goto fail;
            rows++;
        }
        store_acc_add(st, rec); /* room: n <= STORE_BATCH_MAX, 2 entries each */
    }
    /* the heartbeat rides along when due: a busy daemon pays no extra
     * transaction for it */
    heartbeat = store_heartbeat_due(st, t0);
    if ((rc = store_flush_acc(st)) != SQLITE_OK ||
        (heartbeat && (rc = store_put_run(st, 0)) != SQLITE_OK) ||
        (rc = store_step_done(st->stmt[STMT_COMMIT])) != SQLITE_OK)
        goto fail;
    if (heartbeat)
        st->heartbeat_due_us = t0 + STORE_HEARTBEAT_MS * 1000LL;
    if (st->hist_replaced > 0)
        log_warnx("database %s: %" PRIu64 " latency histograms in the rollups were not "
                  "netdiagd's encoding (written by another program?) and were replaced by "
                  "the new counts",
                  st->path, st->hist_replaced);

    pthread_mutex_lock(&st->mu);
    st->head = (st->head + n) % st->cap;
    st->count -= n;
    store_ring_rewind(st);
    if (heartbeat)
        st->stats.heartbeats++;
    st->stats.rows_written += rows;
    st->stats.batches++;
    st->stats.last_batch_us = util_mono_us() - t0;
    pthread_mutex_unlock(&st->mu);
    return SQLITE_OK;
fail:
    store_rollback(st);
    return rc;
}

/* Writes the queued alert rows in one transaction; like results, they
 * leave the queue only once committed. */
static int store_write_alerts(struct store *st)
{
    sqlite3_stmt *s = st->stmt[STMT_UPSERT_ALERT];
    size_t head, n;
    int rc;

    if (store_identity_lost(st))
        return STORE_RC_REPLACED;

    pthread_mutex_lock(&st->mu);
    head = st->aq_head;
    n = st->aq_count;
    pthread_mutex_unlock(&st->mu);
    if (n == 0)
        return SQLITE_OK;
    if ((rc = store_step_done(st->stmt[STMT_BEGIN])) != SQLITE_OK)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        const struct store_alert *a = &st->aq[(head + i) % STORE_ALERT_QUEUE_MAX];
        sqlite3_bind_int64(s, 1, a->id);
        store_bind_set(s, 2, a->target_id);
        sqlite3_bind_int(s, 3, a->wsa_code);
        sqlite3_bind_int64(s, 4, a->started_ms);
        store_bind_set(s, 5, a->resolved_ms);
        sqlite3_bind_int64(s, 6, a->count);
        sqlite3_bind_int64(s, 7, a->peak);
        sqlite3_bind_double(s, 8, a->baseline);
        sqlite3_bind_int64(s, 9, a->attempts);
        store_bind_set(s, 10, a->last_notified_ms);
        store_bind_text(s, 11, a->detail);
        sqlite3_bind_text(s, 12, a->metric[0] ? a->metric : "code", -1, SQLITE_STATIC);
        if (a->has_value)
            sqlite3_bind_double(s, 13, a->value);
        else
            sqlite3_bind_null(s, 13);
        if ((rc = store_step_done(s)) != SQLITE_OK)
            goto fail;
    }
    if ((rc = store_step_done(st->stmt[STMT_COMMIT])) != SQLITE_OK)
        goto fail;
    pthread_mutex_lock(&st->mu);
    st->aq_head = (st->aq_head + n) % STORE_ALERT_QUEUE_MAX;
    st->aq_count -= n;
    pthread_mutex_unlock(&st->mu);
    return SQLITE_OK;
fail:
    store_rollback(st);
    return rc;
}

/* Errors are logged when an episode begins (and when its cause changes),
 * never per batch; the results wait in the queue meanwhile. */
static void store_note_error(struct store *st, int rc, const char *what)
{
    int64_t now = util_mono_us();
    int prim = rc & 0xff;

    if (st->err_code == 0)
        st->err_since_us = now;
    if (st->err_code != rc) {
        if (rc == STORE_RC_REPLACED)
            log_error("database %s was %s while netdiagd was running; nothing more is written "
                      "to the old file. Results wait in memory (up to %zu, then counted as "
                      "dropped): restart netdiagd to open %s anew",
                      st->path, st->errmsg, st->cap, st->path);
        else if (prim == SQLITE_BUSY || prim == SQLITE_LOCKED)
            log_warnx("database %s: locked by another process (%s: %s); holding results in "
                      "the queue",
                      st->path, what, st->errmsg);
        else if (prim == SQLITE_FULL)
            log_error("database %s: disk full (%s: %s); holding up to %zu results in the queue, "
                      "retrying every %d s",
                      st->path, what, st->errmsg, st->cap, STORE_RETRY_US / 1000000);
        else
            log_error("database %s: %s failed: %s; holding results in the queue and retrying",
                      st->path, what, st->errmsg);
    } else {
        log_debug("database %s: %s still failing: %s", st->path, what, st->errmsg);
    }
    st->err_code = rc;
    pthread_mutex_lock(&st->mu);
    st->stats.writable = false;
    st->retry_at_us = now + (st->stopping ? STORE_RETRY_CLOSE_US : STORE_RETRY_US);
    pthread_mutex_unlock(&st->mu);
}

static void store_note_ok(struct store *st)
{
    if (st->err_code == 0)
        return;
    log_info("database %s: writable again after %.1f s", st->path,
             (double)(util_mono_us() - st->err_since_us) / 1e6);
    st->err_code = 0;
    pthread_mutex_lock(&st->mu);
    st->retry_at_us = 0;
    st->stats.writable = true;
    pthread_mutex_unlock(&st->mu);
}

/* Queue-full episodes: one line when drops start, one when they end. */
static void store_note_drops(struct store *st)
{
    uint64_t full, unsynced, aq_dropped;
    size_t count;

    pthread_mutex_lock(&st->mu);
    full = st->dropped_full;
    unsynced = st->dropped_unsynced;
    count = st->count;
    pthread_mutex_unlock(&st->mu);
    if (!st->dropping && full > st->drop_base) {
        log_warnx("database %s: queue full (%zu results), dropping new results until it drains",
                  st->path, st->cap);
        st->dropping = true;
    } else if (st->dropping && count < st->cap / 2) {
        log_info("database %s: queue drained, %" PRIu64 " results were dropped", st->path,
                 full - st->drop_base);
        st->dropping = false;
        st->drop_base = full;
    }
    pthread_mutex_lock(&st->mu);
    aq_dropped = st->aq_dropped;
    pthread_mutex_unlock(&st->mu);
    if (aq_dropped > st->aq_dropped_logged) {
        log_error("database %s: %" PRIu64 " alert rows dropped (alert queue full)", st->path,
                  aq_dropped - st->aq_dropped_logged);
        st->aq_dropped_logged = aq_dropped;
    }
    if (unsynced > 0 && !st->unsynced_logged) {
        log_warnx("database %s: results for a target not yet recorded in the database are "
                  "dropped",
                  st->path);
        st->unsynced_logged = true;
    }
}

static void store_timedwait(struct store *st, int64_t deadline_us)
{
    struct timespec ts = {.tv_sec = deadline_us / 1000000,
                          .tv_nsec = (long)(deadline_us % 1000000) * 1000};
    pthread_cond_timedwait(&st->cond, &st->mu, &ts);
}

/* Sleeps until there is something to do: a batch that is full or old
 * enough, a retry, a prune step, or stopping. Returns the batch size (0:
 * no batch now) and whether the thread should exit. Called with mu held. */
static size_t store_wait_work(struct store *st, bool *exit_now, bool *alerts_due, bool *run_due,
                              bool *stop_due)
{
    *exit_now = false;
    *alerts_due = false;
    *run_due = false;
    *stop_due = false;
    for (;;) {
        int64_t now = util_mono_us();
        /* no retention while the database is failing: it would fail too */
        int64_t deadline = st->err_code == 0 ? st->next_prune_us : now + 3600 * 1000000LL;
        bool retry_wait = st->retry_at_us > now;

        /* alert rows go first and without delay: they are few */
        if (!retry_wait && (st->aq_count > 0 || st->pq_count > 0)) {
            *alerts_due = true;
            return 0;
        }
        if (st->stopping) {
            bool drained = st->count == 0 && st->aq_count == 0 && st->pq_count == 0;
            /* a replaced file takes nothing more: no use waiting for it */
            if ((drained && (st->run_stopped || st->run.id <= 0)) || now >= st->stop_deadline_us ||
                st->replaced) {
                *exit_now = true;
                return 0;
            }
            if (drained && !retry_wait) {
                *stop_due = true; /* the last counters and `stopped`, then out */
                return 0;
            }
            if (!retry_wait && st->count > 0)
                return st->count < STORE_BATCH_MAX ? st->count : STORE_BATCH_MAX;
            store_timedwait(st, st->retry_at_us < st->stop_deadline_us ? st->retry_at_us
                                                                       : st->stop_deadline_us);
            continue;
        }
        /* a due batch goes first, so a long retention backlog is worked
         * off between batches instead of starving them */
        if (!retry_wait && (st->count >= STORE_BATCH_MAX ||
                            (st->count > 0 && now - st->first_us >= STORE_BATCH_DELAY_US)))
            return st->count < STORE_BATCH_MAX ? st->count : STORE_BATCH_MAX;
        if (!retry_wait && store_heartbeat_due(st, now)) {
            *run_due = true;
            return 0;
        }
        if (st->err_code == 0 && now >= st->next_prune_us)
            return 0;
        if (!retry_wait && st->run.id > 0 && st->heartbeat_due_us < deadline)
            deadline = st->heartbeat_due_us;
        if (retry_wait && st->retry_at_us < deadline)
            deadline = st->retry_at_us;
        else if (!retry_wait && st->count > 0 && st->first_us + STORE_BATCH_DELAY_US < deadline)
            deadline = st->first_us + STORE_BATCH_DELAY_US;
        if (deadline > now + 1000000) /* wake once a second: the watchdog's heartbeat */
            deadline = now + 1000000;
        store_timedwait(st, deadline);
        st->stats.writer_alive_us = util_mono_us();
    }
}

void *store_writer_main(void *arg)
{
    struct store *st = arg;
    size_t left;

    /* a first retention pass at start, so a shortened retention or a long
     * downtime is dealt with before new rows arrive; bounded */
    for (int i = 0; i < 64; i++) {
        store_prune_due(st, util_mono_us());
        if (st->next_prune_us > util_mono_us())
            break;
    }
    st->heartbeat_due_us = util_mono_us() + STORE_HEARTBEAT_MS * 1000LL;
    pthread_mutex_lock(&st->mu);
    for (;;) {
        bool exit_now, alerts_due, run_due, stop_due;
        size_t n = store_wait_work(st, &exit_now, &alerts_due, &run_due, &stop_due);
        int rc;

        st->stats.writer_alive_us = util_mono_us();
        if (exit_now)
            break;
        pthread_mutex_unlock(&st->mu);
        rc = SQLITE_OK;
        if (alerts_due) {
            rc = store_write_alerts(st);
            if (rc == SQLITE_OK)
                rc = store_path_write(st);
            if (rc == SQLITE_OK)
                store_note_ok(st);
            else
                store_note_error(st, rc, "alert write");
        } else if (n > 0) {
            rc = store_write_batch(st, n);
            if (rc == SQLITE_OK)
                store_note_ok(st);
            else
                store_note_error(st, rc, "write");
        } else if (run_due || stop_due) {
            rc = store_write_run(st, stop_due);
            if (rc == SQLITE_OK)
                store_note_ok(st);
            else
                store_note_error(st, rc, "heartbeat");
        } else {
            store_prune_due(st, util_mono_us());
        }
        store_note_drops(st);
        pthread_mutex_lock(&st->mu);
        /* what is left begins a new batch clock */
        if (n > 0 && rc == SQLITE_OK && st->count > 0 && st->count < STORE_BATCH_MAX)
            st->first_us = util_mono_us();
    }
    left = st->count;
    if (left > 0) {
        st->stats.dropped += left;
        st->head = (st->head + left) % st->cap;
        st->count = 0;
    }
    if (st->aq_count > 0) {
        st->aq_dropped += st->aq_count;
        st->aq_head = (st->aq_head + st->aq_count) % STORE_ALERT_QUEUE_MAX;
        st->aq_count = 0;
    }
    store_path_drop_all(st);
    pthread_mutex_unlock(&st->mu);
    if (left > 0)
        log_error("database %s: still not writable after %lld s; %zu queued results lost", st->path,
                  STORE_CLOSE_TIMEOUT_US / 1000000, left);
    store_note_drops(st);
    return NULL;
}
