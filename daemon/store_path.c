/* SPDX-License-Identifier: ISC */
/* Traced paths in the store: the loop thread's queue of finished traces
 * and the writer thread's rows in paths and path_hops, with their
 * retention (schema 8, sql/008_paths.sql). Paths are few (one per target
 * per path_hold at most, and a baseline per path_refresh), so their
 * statements are prepared at each write. */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_int.h"
#include "trace.h"
#include "util.h"

void store_path_put(struct store *st, const struct trace_path *path)
{
    struct trace_path *copy;

    if (st == NULL)
        return;
    copy = malloc(sizeof(*copy));
    pthread_mutex_lock(&st->mu);
    if (copy == NULL || st->stopping || st->pq_count == STORE_PATH_QUEUE_MAX) {
        st->pq_dropped++;
        pthread_mutex_unlock(&st->mu);
        free(copy);
        return;
    }
    *copy = *path;
    st->pq[st->pq_count++] = copy;
    pthread_mutex_unlock(&st->mu);
    pthread_cond_signal(&st->cond);
}

/* With mu held: the writer is leaving. */
void store_path_drop_all(struct store *st)
{
    st->pq_dropped += st->pq_count;
    while (st->pq_count > 0)
        free(st->pq[--st->pq_count]);
}

static const char path_sql[] =
    "INSERT INTO paths (target_id, ts, why, failure_ts, dest, protocol, port, reached, stop_ttl,"
    " stop_addr, packets, duration_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";
static const char hop_sql[] =
    "INSERT OR REPLACE INTO path_hops (path_id, ttl, said, addr, rtt_us, icmp_type, icmp_code)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
static const char prune_hops_sql[] =
    "DELETE FROM path_hops WHERE path_id IN (SELECT id FROM paths WHERE ts < ?1)";
static const char prune_paths_sql[] = "DELETE FROM paths WHERE ts < ?1";

static int path_insert(struct store *st, sqlite3_stmt *ps, sqlite3_stmt *hs,
                       const struct trace_path *p)
{
    char dest[64], stop[64];
    int last = trace_path_last_answer(p);
    int64_t id;
    int rc;

    trace_addr_text(&p->dest, dest, sizeof(dest));
    sqlite3_bind_int64(ps, 1, p->target_id);
    sqlite3_bind_int64(ps, 2, p->ts_ms);
    sqlite3_bind_text(ps, 3, trace_why_name(p->why), -1, SQLITE_STATIC);
    if (p->failure_ts_ms > 0)
        sqlite3_bind_int64(ps, 4, p->failure_ts_ms);
    else
        sqlite3_bind_null(ps, 4);
    sqlite3_bind_text(ps, 5, dest, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(ps, 6, trace_proto_name(p->proto), -1, SQLITE_STATIC);
    if (p->proto != TRACE_ICMP)
        sqlite3_bind_int(ps, 7, p->port);
    else
        sqlite3_bind_null(ps, 7);
    sqlite3_bind_int(ps, 8, p->reached ? 1 : 0);
    if (last >= 0) {
        trace_addr_text(&p->hops[last].from, stop, sizeof(stop));
        sqlite3_bind_int(ps, 9, p->hops[last].ttl);
        store_bind_text(ps, 10, stop);
    } else {
        sqlite3_bind_null(ps, 9);
        sqlite3_bind_null(ps, 10);
    }
    sqlite3_bind_int(ps, 11, p->packets);
    sqlite3_bind_int64(ps, 12, p->duration_us / 1000);
    if ((rc = store_step_done(ps)) != SQLITE_OK)
        return rc;
    (void)st;
    id = sqlite3_last_insert_rowid(sqlite3_db_handle(ps));
    for (size_t i = 0; i < p->nhops; i++) {
        const struct trace_hop *h = &p->hops[i];
        char a[64];
        trace_addr_text(&h->from, a, sizeof(a));
        sqlite3_bind_int64(hs, 1, id);
        sqlite3_bind_int(hs, 2, h->ttl);
        sqlite3_bind_text(hs, 3, trace_hop_said_name((enum hop_said)h->said), -1, SQLITE_STATIC);
        sqlite3_bind_text(hs, 4, a, -1, SQLITE_TRANSIENT);
        if (a[0] == '\0')
            sqlite3_bind_null(hs, 4);
        if (h->rtt_us >= 0 && h->said != HOP_SILENT)
            sqlite3_bind_int64(hs, 5, h->rtt_us);
        else
            sqlite3_bind_null(hs, 5);
        if (h->icmp) {
            sqlite3_bind_int(hs, 6, h->icmp_type);
            sqlite3_bind_int(hs, 7, h->icmp_code);
        } else {
            sqlite3_bind_null(hs, 6);
            sqlite3_bind_null(hs, 7);
        }
        if ((rc = store_step_done(hs)) != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
}

int store_path_write(struct store *st)
{
    struct trace_path *batch[STORE_PATH_QUEUE_MAX];
    sqlite3_stmt *ps = NULL, *hs = NULL, *p1 = NULL, *p2 = NULL;
    size_t n;
    int rc;

    pthread_mutex_lock(&st->mu);
    n = st->pq_count;
    memcpy(batch, st->pq, n * sizeof(*batch));
    pthread_mutex_unlock(&st->mu);
    if (n == 0)
        return SQLITE_OK;
    if ((rc = sqlite3_prepare_v2(st->db, path_sql, -1, &ps, NULL)) != SQLITE_OK ||
        (rc = sqlite3_prepare_v2(st->db, hop_sql, -1, &hs, NULL)) != SQLITE_OK ||
        (rc = sqlite3_prepare_v2(st->db, prune_hops_sql, -1, &p1, NULL)) != SQLITE_OK ||
        (rc = sqlite3_prepare_v2(st->db, prune_paths_sql, -1, &p2, NULL)) != SQLITE_OK)
        goto out;
    if ((rc = store_step_done(st->stmt[STMT_BEGIN])) != SQLITE_OK)
        goto out;
    for (size_t i = 0; i < n && rc == SQLITE_OK; i++)
        rc = path_insert(st, ps, hs, batch[i]);
    if (rc == SQLITE_OK && st->retention_ms > 0) {
        int64_t cut = util_now_ms() - st->retention_ms;
        sqlite3_bind_int64(p1, 1, cut);
        sqlite3_bind_int64(p2, 1, cut);
        if ((rc = store_step_done(p1)) == SQLITE_OK)
            rc = store_step_done(p2);
    }
    if (rc == SQLITE_OK)
        rc = store_step_done(st->stmt[STMT_COMMIT]);
    if (rc != SQLITE_OK) {
        store_rollback_failed(st);
        goto out;
    }
    pthread_mutex_lock(&st->mu);
    /* put_path only appends: the first n are the ones written */
    memmove(st->pq, st->pq + n, (st->pq_count - n) * sizeof(*st->pq));
    st->pq_count -= n;
    pthread_mutex_unlock(&st->mu);
    for (size_t i = 0; i < n; i++)
        free(batch[i]);
out:
    sqlite3_finalize(ps);
    sqlite3_finalize(hs);
    sqlite3_finalize(p1);
    sqlite3_finalize(p2);
    return rc;
}
