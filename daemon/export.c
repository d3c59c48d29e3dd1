/* SPDX-License-Identifier: ISC */
/* This file holds the export sink: one thread that reads the database
 * through a read-only connection of its own and sends what it finds to
 * ClickHouse's HTTP interface, INSERT ... FORMAT JSONEachRow, in bounded
 * batches. The database is the outbox: a stream's position (export_cursor)
 * advances only once ClickHouse answered 200, and the writer thread stores
 * it (store_export_put), so an outage, a restart or a kill -9 makes the
 * sink send some rows again, never lose them; the tables of
 * sql/clickhouse/ are ReplacingMergeTree keyed by what identifies a row,
 * so a row sent twice is counted once (FINAL, or after a merge).
 *
 * Why a thread and blocking sockets: the loop must never wait, and the
 * sink's work (SQLite reads, building the body, talking to a peer that may
 * be slow or hostile) is all waiting. Every socket call is bounded by one
 * deadline per INSERT (timeout) and by a pipe that export_stop() writes,
 * so a hung ClickHouse delays neither probing nor the daemon's exit. */
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/socket.h>

#include "export.h"
#include "json.h"
#include "log.h"
#include "util.h"

/* A growable body, bounded by EXPORT_BODY_MAX plus one row. */
struct body {
    char *p;
    size_t len, cap;
    bool oom;
};

struct export
{
    struct store *st;
    struct export_url url;
    char *database; /* ClickHouse database */
    char *host;     /* the host column */
    char *dbpath;
    int64_t batch_rows, interval_ms, timeout_ms, backoff_max_ms, settle_ms;

    sqlite3 *db;
    struct store_export_pos pos[STORE_EXPORT__COUNT];
    struct body body;
    int64_t alerts_due_ms;

    pthread_t thread;
    int wake[2]; /* export_stop() writes wake[1]: polls end at once */
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool stopping;             /* guarded by mu */
    struct export_stats stats; /* guarded by mu */
};

int export_parse_url(const char *url, struct export_url *out, char *err, size_t errlen)
{
    struct export_url u;
    const char *p, *hend, *pstart;
    size_t hlen;

    memset(&u, 0, sizeof(u));
    if (strncmp(url, "http://", 7) != 0) {
        snprintf(err, errlen, "\"%.64s\": only http://HOST[:PORT][/] (for TLS, a local proxy)",
                 url);
        return -1;
    }
    p = url + 7;
    if (*p == '[') {
        hend = strchr(p, ']');
        if (hend == NULL) {
            snprintf(err, errlen, "\"%.64s\": no ']' after the IPv6 address", url);
            return -1;
        }
        hlen = (size_t)(hend - p - 1);
        memcpy(u.host, p + 1, hlen < sizeof(u.host) ? hlen : 0);
        pstart = hend + 1;
    } else {
        hlen = strcspn(p, ":/?#@");
        if (p[hlen] == '@') {
            snprintf(err, errlen, "credentials in the URL are not supported");
            return -1;
        }
        if (hlen < sizeof(u.host))
            memcpy(u.host, p, hlen);
        pstart = p + hlen;
    }
    if (hlen == 0 || hlen >= sizeof(u.host)) {
        snprintf(err, errlen, "\"%.64s\": no host, or one over 255 characters", url);
        return -1;
    }
    snprintf(u.port, sizeof(u.port), "8123");
    if (*pstart == ':') {
        int64_t port;
        char num[8];
        size_t n = strcspn(pstart + 1, "/?#");
        if (n == 0 || n >= sizeof(num)) {
            snprintf(err, errlen, "\"%.64s\": bad port", url);
            return -1;
        }
        memcpy(num, pstart + 1, n);
        num[n] = '\0';
        if (util_parse_int(num, 1, 65535, &port, err, errlen) < 0)
            return -1;
        snprintf(u.port, sizeof(u.port), "%" PRId64, port);
        pstart += 1 + n;
    }
    if (*pstart == '\0')
        snprintf(u.path, sizeof(u.path), "/");
    else if (*pstart != '/' || strpbrk(pstart, "?# \t\r\n") != NULL ||
             strlen(pstart) >= sizeof(u.path)) {
        snprintf(err, errlen, "\"%.64s\": a path without query, blanks or fragment, please", url);
        return -1;
    } else
        snprintf(u.path, sizeof(u.path), "%s", pstart);
    if (out != NULL)
        *out = u;
    return 0;
}

static int64_t col64(sqlite3_stmt *s, int i)
{
    return (int64_t)sqlite3_column_int64(s, i);
}

static void body_put(const char *p, size_t n, void *arg)
{
    struct body *b = arg;
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *q = realloc(b->p, cap);
        if (q == NULL) {
            b->oom = true;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void body_printf(struct body *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void body_printf(struct body *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0)
        body_put(tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1, b);
}

/* "key":"text" (NULL as ""), cut at EXPORT_TEXT_MAX bytes between two
 * characters. */
static void body_text(struct body *b, const char *key, const unsigned char *v)
{
    char s[EXPORT_TEXT_MAX + 8];

    json_string(s, sizeof(s), v ? (const char *)v : "");
    body_printf(b, ",\"%s\":", key);
    body_put(s, strlen(s), b);
}

static bool export_stopping(struct export *ex)
{
    pthread_mutex_lock(&ex->mu);
    bool s = ex->stopping;
    pthread_mutex_unlock(&ex->mu);
    return s;
}

/* Wait for fd to be ready for `events` until the deadline, or the stop
 * pipe. 0 ready, -1 with err set. */
static int export_poll(struct export *ex, int fd, short events, int64_t deadline_us, char *err,
                       size_t errlen)
{
    for (;;) {
        struct pollfd pfd[2] = {{.fd = fd, .events = events},
                                {.fd = ex->wake[0], .events = POLLIN}};
        int64_t left_ms = (deadline_us - util_mono_us()) / 1000;
        if (left_ms <= 0) {
            snprintf(err, errlen, "no answer within the timeout");
            return -1;
        }
        int n = poll(pfd, 2, left_ms > 1000 ? 1000 : (int)left_ms);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(err, errlen, "poll: %s", strerror(errno));
            return -1;
        }
        if (pfd[1].revents != 0) {
            snprintf(err, errlen, "stopping");
            return -1;
        }
        if (pfd[0].revents != 0)
            return 0;
    }
}

static int export_connect(struct export *ex, int64_t deadline_us, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *res = NULL;
    int fd = -1, rc;

    /* an address is taken as it is; a name costs a lookup on this thread */
    hints.ai_flags |= AI_NUMERICHOST;
    rc = getaddrinfo(ex->url.host, ex->url.port, &hints, &res);
    if (rc == EAI_NONAME) {
        hints.ai_flags &= ~AI_NUMERICHOST;
        rc = getaddrinfo(ex->url.host, ex->url.port, &hints, &res);
    }
    if (rc != 0) {
        util_snprintf_cut(err, errlen, "%s: %s", ex->url.host, gai_strerror(rc));
        return -1;
    }
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            snprintf(err, errlen, "socket: %s", strerror(errno));
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ||
            (errno == EINPROGRESS && export_poll(ex, fd, POLLOUT, deadline_us, err, errlen) == 0)) {
            int soerr = 0;
            socklen_t sl = sizeof(soerr);
            if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
                break;
            snprintf(err, errlen, "connect: %s", strerror(soerr ? soerr : errno));
        } else if (errno != EINPROGRESS)
            snprintf(err, errlen, "connect: %s", strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

/* Percent-encoding of a query parameter's value. */
static void url_encode(char *out, size_t outlen, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    for (; *s != '\0' && o + 4 < outlen; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.') {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
}

/* POST the body as INSERT INTO table: 0 when ClickHouse answered 200
 * (and no exception), -1 with the reason in err. The whole exchange has
 * one deadline; at most EXPORT_ANSWER_MAX bytes of the answer are read. */
static int export_insert(struct export *ex, const char *table, char *err, size_t errlen)
{
    int64_t deadline_us = util_mono_us() + ex->timeout_ms * 1000;
    char query[512], enc[1024], head[2048];
    char *answer = NULL;
    size_t alen = 0, off = 0;
    int fd, hlen, rc = -1;

    snprintf(query, sizeof(query), "INSERT INTO %s.%s FORMAT JSONEachRow", ex->database, table);
    url_encode(enc, sizeof(enc), query);
    hlen = snprintf(head, sizeof(head),
                    "POST %s?query=%s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: netdiagd/%s\r\n"
                    "Content-Type: application/x-ndjson\r\nContent-Length: %zu\r\n"
                    "Connection: close\r\n\r\n",
                    ex->url.path, enc, ex->url.host, ex->url.port, NETDIAG_VERSION, ex->body.len);
    if (hlen <= 0 || (size_t)hlen >= sizeof(head)) {
        snprintf(err, errlen, "request head too long");
        return -1;
    }
    if ((fd = export_connect(ex, deadline_us, err, errlen)) < 0)
        return -1;
    for (int part = 0; part < 2; part++) {
        const char *p = part == 0 ? head : ex->body.p;
        size_t n = part == 0 ? (size_t)hlen : ex->body.len;
        for (off = 0; off < n;) {
            ssize_t w = send(fd, p + off, n - off, MSG_NOSIGNAL);
            if (w > 0) {
                off += (size_t)w;
                continue;
            }
            if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
                if (export_poll(ex, fd, POLLOUT, deadline_us, err, errlen) < 0)
                    goto out;
                continue;
            }
            snprintf(err, errlen, "send: %s", strerror(errno));
            goto out;
        }
    }
    if ((answer = malloc(EXPORT_ANSWER_MAX + 1)) == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    /* until the peer closes (Connection: close), the cap or the deadline */
    for (;;) {
        ssize_t r = recv(fd, answer + alen, EXPORT_ANSWER_MAX - alen, 0);
        if (r > 0) {
            alen += (size_t)r;
            if (alen == EXPORT_ANSWER_MAX)
                break;
            continue;
        }
        if (r == 0)
            break;
        if (errno == EAGAIN || errno == EINTR) {
            if (export_poll(ex, fd, POLLIN, deadline_us, err, errlen) < 0)
                goto out;
            continue;
        }
        snprintf(err, errlen, "recv: %s", strerror(errno));
        goto out;
    }
    answer[alen] = '\0';
    if (alen < 12 || strncmp(answer, "HTTP/1.", 7) != 0) {
        snprintf(err, errlen, "not an HTTP answer");
        goto out;
    }
    if (strncmp(answer + 9, "200", 3) != 0 ||
        strcasestr(answer, "X-ClickHouse-Exception") != NULL) {
        /* ClickHouse says why in the body's first line */
        const char *b = strstr(answer, "\r\n\r\n");
        char why[160] = "";
        json_string(why, sizeof(why), b ? b + 4 : "");
        snprintf(err, errlen, "HTTP %.3s %s", answer + 9, why);
        goto out;
    }
    rc = 0;
out:
    free(answer);
    close(fd);
    return rc;
}

/* The failure rows after the position, at most batch_rows of them (fewer
 * when the body is full), one commit after another. *n: rows added. */
static int export_read_failures(struct export *ex, struct store_export_pos *end, int64_t *n)
{
    static const char commits_sql[] =
        "SELECT id, ts_min, ts_max FROM commits WHERE id >= ?1 ORDER BY id LIMIT 256";
    static const char rows_sql[] =
        "SELECT f.ts, f.target_id, f.seq, t.name, t.kind, p.name, f.wsa_code, c.name, r.name, "
        "f.raw_value, f.detail, f.latency_us, la.addr, f.local_port, ra.addr, f.remote_port "
        "FROM failures AS f LEFT JOIN targets AS t ON t.id = f.target_id "
        "LEFT JOIN phases AS p ON p.phase = f.phase LEFT JOIN wsa_codes AS c ON c.code = "
        "f.wsa_code LEFT JOIN raws AS r ON r.id = f.raw_id LEFT JOIN addrs AS la ON la.id = "
        "f.local_addr_id LEFT JOIN addrs AS ra ON ra.id = f.remote_addr_id "
        "WHERE f.ts BETWEEN ?1 AND ?2 AND f.batch = ?3 AND (f.ts, f.target_id, f.seq) > (?4, "
        "?5, ?6) ORDER BY f.ts, f.target_id, f.seq LIMIT ?7";
    sqlite3_stmt *cs = NULL, *rs = NULL;
    int rc = SQLITE_DONE;

    *n = 0;
    if (sqlite3_prepare_v2(ex->db, commits_sql, -1, &cs, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(ex->db, rows_sql, -1, &rs, NULL) != SQLITE_OK)
        goto fail;
    sqlite3_bind_int64(cs, 1, end->batch);
    while (*n < ex->batch_rows && ex->body.len < EXPORT_BODY_MAX &&
           (rc = sqlite3_step(cs)) == SQLITE_ROW) {
        int64_t id = col64(cs, 0);
        if (id != end->batch) { /* a new commit: from its first row */
            end->batch = id;
            end->ts = INT64_MIN;
            end->target_id = INT64_MIN;
            end->seq = INT64_MIN;
        }
        sqlite3_reset(rs);
        sqlite3_bind_int64(rs, 1, col64(cs, 1));
        sqlite3_bind_int64(rs, 2, col64(cs, 2));
        sqlite3_bind_int64(rs, 3, id);
        sqlite3_bind_int64(rs, 4, end->ts);
        sqlite3_bind_int64(rs, 5, end->target_id);
        sqlite3_bind_int64(rs, 6, end->seq);
        sqlite3_bind_int64(rs, 7, ex->batch_rows - *n);
        while (ex->body.len < EXPORT_BODY_MAX && (rc = sqlite3_step(rs)) == SQLITE_ROW) {
            end->ts = col64(rs, 0);
            end->target_id = col64(rs, 1);
            end->seq = col64(rs, 2);
            body_printf(&ex->body,
                        "{\"ts_ms\":%" PRId64 ",\"seq\":%" PRId64 ",\"target_id\":%" PRId64
                        ",\"batch\":%" PRId64,
                        end->ts, end->seq, end->target_id, id);
            body_text(&ex->body, "host", (const unsigned char *)ex->host);
            body_text(&ex->body, "target", sqlite3_column_text(rs, 3));
            body_text(&ex->body, "kind", sqlite3_column_text(rs, 4));
            body_text(&ex->body, "phase", sqlite3_column_text(rs, 5));
            body_printf(&ex->body, ",\"wsa_code\":%d", sqlite3_column_int(rs, 6));
            body_text(&ex->body, "wsa_name", sqlite3_column_text(rs, 7));
            body_text(&ex->body, "raw", sqlite3_column_text(rs, 8));
            body_printf(&ex->body, ",\"raw_value\":%" PRId64, col64(rs, 9));
            body_text(&ex->body, "detail", sqlite3_column_text(rs, 10));
            body_printf(&ex->body, ",\"latency_us\":%" PRId64, col64(rs, 11));
            body_text(&ex->body, "local_addr", sqlite3_column_text(rs, 12));
            body_printf(&ex->body, ",\"local_port\":%d", sqlite3_column_int(rs, 13) & 0xffff);
            body_text(&ex->body, "remote_addr", sqlite3_column_text(rs, 14));
            body_printf(&ex->body, ",\"remote_port\":%d}\n", sqlite3_column_int(rs, 15) & 0xffff);
            (*n)++;
        }
        if (rc != SQLITE_DONE && rc != SQLITE_ROW)
            goto fail;
        if (rc == SQLITE_ROW || *n >= ex->batch_rows)
            break; /* the body is full: this commit goes on next time */
    }
    sqlite3_finalize(cs);
    sqlite3_finalize(rs);
    return 0;
fail:
    log_warnx("export: reading %s: %s", ex->dbpath, sqlite3_errmsg(ex->db));
    sqlite3_finalize(cs);
    sqlite3_finalize(rs);
    return -1;
}

static int64_t export_query_int(struct export *ex, const char *sql, int64_t arg, int64_t dflt)
{
    sqlite3_stmt *s = NULL;
    int64_t v = dflt;

    if (sqlite3_prepare_v2(ex->db, sql, -1, &s, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, arg);
        if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
            v = col64(s, 0);
    }
    sqlite3_finalize(s);
    return v;
}

static void export_set_error(struct export *ex, enum store_export_stream s, const char *why)
{
    struct store_export_pos *p = &ex->pos[s];

    snprintf(p->error, sizeof(p->error), "%s", why);
    p->error_ms = util_now_ms();
    store_export_put(ex->st, s, p);
}

static void export_acked(struct export *ex, enum store_export_stream s,
                         const struct store_export_pos *end, int64_t rows)
{
    struct store_export_pos *p = &ex->pos[s];

    *p = *end;
    p->rows += rows;
    p->acked_ms = util_now_ms();
    p->error[0] = '\0';
    p->error_ms = 0;
    store_export_put(ex->st, s, p);
    pthread_mutex_lock(&ex->mu);
    ex->stats.rows[s] += (uint64_t)rows;
    ex->stats.batches++;
    pthread_mutex_unlock(&ex->mu);
}

/* One batch of failure rows. 1: sent, maybe more waiting; 0: nothing
 * new; -1: failed (err). */
static int export_failures(struct export *ex, char *err, size_t errlen)
{
    struct store_export_pos end = ex->pos[STORE_EXPORT_FAILURES];
    int64_t n;

    ex->body.len = 0;
    if (export_read_failures(ex, &end, &n) < 0) {
        snprintf(err, errlen, "reading the database: %s", sqlite3_errmsg(ex->db));
        return -1;
    }
    if (n == 0) {
        /* empty commits (all their rows pruned) are passed over */
        if (end.batch != ex->pos[STORE_EXPORT_FAILURES].batch)
            export_acked(ex, STORE_EXPORT_FAILURES, &end, 0);
        return 0;
    }
    if (ex->body.oom) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (export_insert(ex, "failures", err, errlen) < 0)
        return -1;
    export_acked(ex, STORE_EXPORT_FAILURES, &end, n);
    return 1;
}

/* The rollups of one minute once it has settled (its end more than
 * settle ago), target by target in bounded batches: the minute counts,
 * then the counts per code of the same targets. */
static int export_rollups(struct export *ex, char *err, size_t errlen)
{
    static const char min_sql[] =
        "SELECT m.target_id, t.name, t.kind, m.attempts, m.successes, m.failures, "
        "m.latency_count, m.latency_sum_us, m.latency_min_us, m.latency_max_us, m.echo_sent, "
        "m.echo_lost FROM rollup_minute AS m LEFT JOIN targets AS t ON t.id = m.target_id "
        "WHERE m.minute = ?1 AND m.target_id > ?2 ORDER BY m.target_id LIMIT ?3";
    static const char code_sql[] =
        "SELECT r.target_id, t.name, r.wsa_code, c.name, r.count FROM rollup_minute_code AS r "
        "LEFT JOIN targets AS t ON t.id = r.target_id LEFT JOIN wsa_codes AS c ON c.code = "
        "r.wsa_code WHERE r.minute = ?1 AND r.target_id > ?2 AND r.target_id <= ?3 "
        "ORDER BY r.target_id, r.wsa_code";
    struct store_export_pos end = ex->pos[STORE_EXPORT_ROLLUPS];
    sqlite3_stmt *s = NULL;
    int64_t n = 0, last = end.target_id, settled = util_now_ms() - ex->settle_ms - 60000;
    int rc = SQLITE_DONE;

    if (end.ts == 0) {
        end.ts =
            export_query_int(ex, "SELECT min(minute) FROM rollup_minute WHERE minute >= ?1", 0, 0);
        if (end.ts == 0)
            return 0;
    }
    if (end.ts > settled)
        return 0;
    ex->body.len = 0;
    if (sqlite3_prepare_v2(ex->db, min_sql, -1, &s, NULL) != SQLITE_OK)
        goto fail;
    sqlite3_bind_int64(s, 1, end.ts);
    sqlite3_bind_int64(s, 2, end.target_id);
    sqlite3_bind_int64(s, 3, ex->batch_rows);
    while (ex->body.len < EXPORT_BODY_MAX && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        last = col64(s, 0);
        body_printf(&ex->body, "{\"minute_ms\":%" PRId64 ",\"target_id\":%" PRId64, end.ts, last);
        body_text(&ex->body, "host", (const unsigned char *)ex->host);
        body_text(&ex->body, "target", sqlite3_column_text(s, 1));
        body_text(&ex->body, "kind", sqlite3_column_text(s, 2));
        body_printf(&ex->body,
                    ",\"attempts\":%" PRId64 ",\"successes\":%" PRId64 ",\"failures\":%" PRId64
                    ",\"latency_count\":%" PRId64 ",\"latency_sum_us\":%" PRId64
                    ",\"latency_min_us\":%" PRId64 ",\"latency_max_us\":%" PRId64
                    ",\"echo_sent\":%" PRId64 ",\"echo_lost\":%" PRId64 "}\n",
                    col64(s, 3), col64(s, 4), col64(s, 5), col64(s, 6), col64(s, 7), col64(s, 8),
                    col64(s, 9), col64(s, 10), col64(s, 11));
        n++;
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        goto fail;
    bool done = rc == SQLITE_DONE && n < ex->batch_rows;
    sqlite3_finalize(s);
    s = NULL;
    if (n > 0) {
        if (ex->body.oom) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        if (export_insert(ex, "rollup_minute", err, errlen) < 0)
            return -1;
        ex->body.len = 0;
        if (sqlite3_prepare_v2(ex->db, code_sql, -1, &s, NULL) != SQLITE_OK)
            goto fail;
        sqlite3_bind_int64(s, 1, end.ts);
        sqlite3_bind_int64(s, 2, end.target_id);
        sqlite3_bind_int64(s, 3, last);
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            body_printf(&ex->body, "{\"minute_ms\":%" PRId64 ",\"target_id\":%" PRId64, end.ts,
                        col64(s, 0));
            body_text(&ex->body, "host", (const unsigned char *)ex->host);
            body_text(&ex->body, "target", sqlite3_column_text(s, 1));
            body_printf(&ex->body, ",\"wsa_code\":%d", sqlite3_column_int(s, 2));
            body_text(&ex->body, "wsa_name", sqlite3_column_text(s, 3));
            body_printf(&ex->body, ",\"count\":%" PRId64 "}\n", col64(s, 4));
        }
        if (rc != SQLITE_DONE)
            goto fail;
        sqlite3_finalize(s);
        s = NULL;
        if (ex->body.oom) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        if (ex->body.len > 0 && export_insert(ex, "rollup_minute_code", err, errlen) < 0)
            return -1;
    }
    end.target_id = last;
    if (done) { /* the next minute that has rows */
        end.ts = export_query_int(ex, "SELECT min(minute) FROM rollup_minute WHERE minute > ?1",
                                  end.ts, end.ts + 60000);
        end.target_id = 0;
    }
    export_acked(ex, STORE_EXPORT_ROLLUPS, &end, n);
    return 1;
fail:
    snprintf(err, errlen, "reading the database: %s", sqlite3_errmsg(ex->db));
    sqlite3_finalize(s);
    return -1;
}

/* New alerts, firing ones and those resolved since the last time, as
 * their rows are now (the table keeps the newest version of each). */
static int export_alerts(struct export *ex, char *err, size_t errlen)
{
    static const char sql[] =
        "SELECT a.id, t.name, a.wsa_code, c.name, a.metric, a.started, a.resolved, a.count, "
        "a.peak, a.baseline, a.attempts, a.value, a.detail FROM alerts AS a LEFT JOIN targets "
        "AS t ON t.id = a.target_id LEFT JOIN wsa_codes AS c ON c.code = a.wsa_code "
        "WHERE a.id > ?1 OR a.resolved IS NULL OR a.resolved >= ?2 ORDER BY a.id LIMIT ?3";
    struct store_export_pos end = ex->pos[STORE_EXPORT_ALERTS];
    int64_t n = 0, version = util_now_ms();
    sqlite3_stmt *s = NULL;
    int rc = SQLITE_DONE;

    ex->body.len = 0;
    if (sqlite3_prepare_v2(ex->db, sql, -1, &s, NULL) != SQLITE_OK)
        goto fail;
    sqlite3_bind_int64(s, 1, end.batch);
    sqlite3_bind_int64(s, 2, end.ts);
    sqlite3_bind_int64(s, 3, ex->batch_rows);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t id = col64(s, 0), resolved = col64(s, 6);
        end.batch = id > end.batch ? id : end.batch;
        end.ts = resolved > end.ts ? resolved : end.ts;
        body_printf(&ex->body, "{\"id\":%" PRId64 ",\"version\":%" PRId64, id, version);
        body_text(&ex->body, "host", (const unsigned char *)ex->host);
        body_text(&ex->body, "target", sqlite3_column_text(s, 1));
        body_printf(&ex->body, ",\"wsa_code\":%d", sqlite3_column_int(s, 2));
        body_text(&ex->body, "wsa_name", sqlite3_column_text(s, 3));
        body_text(&ex->body, "metric", sqlite3_column_text(s, 4));
        body_printf(&ex->body,
                    ",\"started_ms\":%" PRId64 ",\"resolved_ms\":%" PRId64 ",\"count\":%" PRId64
                    ",\"peak\":%" PRId64 ",\"baseline\":%.17g,\"attempts\":%" PRId64
                    ",\"value\":%.17g",
                    col64(s, 5), resolved, col64(s, 7), col64(s, 8), sqlite3_column_double(s, 9),
                    col64(s, 10), sqlite3_column_double(s, 11));
        body_text(&ex->body, "detail", sqlite3_column_text(s, 12));
        body_put("}\n", 2, &ex->body);
        n++;
    }
    if (rc != SQLITE_DONE)
        goto fail;
    sqlite3_finalize(s);
    if (n == 0)
        return 0;
    if (ex->body.oom) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (export_insert(ex, "alerts", err, errlen) < 0)
        return -1;
    export_acked(ex, STORE_EXPORT_ALERTS, &end, n);
    return 1;
fail:
    snprintf(err, errlen, "reading the database: %s", sqlite3_errmsg(ex->db));
    sqlite3_finalize(s);
    return -1;
}

/* The positions stored by an earlier start (none: from the beginning). */
static void export_load_positions(struct export *ex)
{
    sqlite3_stmt *s = NULL;

    if (sqlite3_prepare_v2(ex->db,
                           "SELECT stream, batch, ts, target_id, seq, rows, acked FROM "
                           "export_cursor",
                           -1, &s, NULL) != SQLITE_OK) {
        log_warnx("export: %s: %s", ex->dbpath, sqlite3_errmsg(ex->db));
        return;
    }
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(s, 0);
        for (int i = 0; name != NULL && i < STORE_EXPORT__COUNT; i++) {
            if (strcmp(name, store_export_names[i]) != 0)
                continue;
            ex->pos[i].batch = col64(s, 1);
            ex->pos[i].ts = col64(s, 2);
            ex->pos[i].target_id = col64(s, 3);
            ex->pos[i].seq = col64(s, 4);
            ex->pos[i].rows = col64(s, 5);
            ex->pos[i].acked_ms = col64(s, 6);
        }
    }
    sqlite3_finalize(s);
    /* a new failures position starts before the first row of commit 0 */
    if (ex->pos[STORE_EXPORT_FAILURES].acked_ms == 0 && ex->pos[STORE_EXPORT_FAILURES].batch == 0) {
        ex->pos[STORE_EXPORT_FAILURES].ts = INT64_MIN;
        ex->pos[STORE_EXPORT_FAILURES].target_id = INT64_MIN;
        ex->pos[STORE_EXPORT_FAILURES].seq = INT64_MIN;
    }
}

/* Sleep ms, or until export_stop(). */
static void export_wait(struct export *ex, int64_t ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&ex->mu);
    while (!ex->stopping && pthread_cond_timedwait(&ex->cond, &ex->mu, &ts) != ETIMEDOUT)
        ;
    pthread_mutex_unlock(&ex->mu);
}

static void *export_main(void *arg)
{
    struct export *ex = arg;
    int64_t backoff_ms = 0;
    bool was_failing = false;

    export_load_positions(ex);
    while (!export_stopping(ex)) {
        char err[256] = "";
        enum store_export_stream which = STORE_EXPORT_FAILURES;
        int rf, rr = 0, ra = 0;

        /* the oldest stored row not yet acknowledged, before the INSERT
         * that may hang: the lag grows while it does */
        int64_t oldest =
            export_query_int(ex, "SELECT committed FROM commits WHERE id > ?1 ORDER BY id LIMIT 1",
                             ex->pos[STORE_EXPORT_FAILURES].batch, 0);
        pthread_mutex_lock(&ex->mu);
        ex->stats.oldest_ms = oldest;
        pthread_mutex_unlock(&ex->mu);
        rf = export_failures(ex, err, sizeof(err));
        if (rf >= 0) {
            which = STORE_EXPORT_ROLLUPS;
            rr = export_rollups(ex, err, sizeof(err));
        }
        if (rf >= 0 && rr >= 0 && util_now_ms() >= ex->alerts_due_ms) {
            which = STORE_EXPORT_ALERTS;
            ra = export_alerts(ex, err, sizeof(err));
            if (ra >= 0)
                ex->alerts_due_ms = util_now_ms() + EXPORT_ALERT_EVERY_MS;
        }
        oldest =
            export_query_int(ex, "SELECT committed FROM commits WHERE id > ?1 ORDER BY id LIMIT 1",
                             ex->pos[STORE_EXPORT_FAILURES].batch, 0);
        pthread_mutex_lock(&ex->mu);
        ex->stats.oldest_ms = oldest;
        ex->stats.failing = rf < 0 || rr < 0 || ra < 0;
        if (ex->stats.failing && !ex->stopping)
            ex->stats.errors++;
        pthread_mutex_unlock(&ex->mu);
        if (rf < 0 || rr < 0 || ra < 0) {
            if (export_stopping(ex))
                break;
            export_set_error(ex, which, err);
            if (!was_failing)
                log_warnx("export: ClickHouse %s:%s: %s; retrying with backoff", ex->url.host,
                          ex->url.port, err);
            was_failing = true;
            backoff_ms = backoff_ms == 0 ? ex->interval_ms : backoff_ms * 2;
            if (backoff_ms > ex->backoff_max_ms)
                backoff_ms = ex->backoff_max_ms;
            export_wait(ex, backoff_ms);
            continue;
        }
        if (was_failing)
            log_info("export: ClickHouse %s:%s takes rows again", ex->url.host, ex->url.port);
        was_failing = false;
        backoff_ms = 0;
        if (rf == 0 && rr == 0)
            export_wait(ex, ex->interval_ms);
    }
    return NULL;
}

static void export_free(struct export *ex)
{
    if (ex->db != NULL)
        sqlite3_close(ex->db);
    if (ex->wake[0] >= 0)
        close(ex->wake[0]);
    if (ex->wake[1] >= 0)
        close(ex->wake[1]);
    pthread_mutex_destroy(&ex->mu);
    pthread_cond_destroy(&ex->cond);
    free(ex->body.p);
    free(ex->database);
    free(ex->host);
    free(ex->dbpath);
    free(ex);
}

struct export *export_start(const struct config *cfg, struct store *st, char *err, size_t errlen)
{
    const struct export_config *c = &cfg->exp;
    struct export *ex;
    pthread_condattr_t ca;
    char hostname[256] = "";

    err[0] = '\0';
    if (c->clickhouse_url == NULL)
        return NULL;
    if ((ex = calloc(1, sizeof(*ex))) == NULL) {
        snprintf(err, errlen, "export: out of memory");
        return NULL;
    }
    ex->wake[0] = ex->wake[1] = -1;
    pthread_mutex_init(&ex->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ex->cond, &ca);
    pthread_condattr_destroy(&ca);
    ex->st = st;
    if (export_parse_url(c->clickhouse_url, &ex->url, err, errlen) < 0)
        goto fail;
    if (c->host == NULL && gethostname(hostname, sizeof(hostname) - 1) < 0)
        snprintf(hostname, sizeof(hostname), "localhost");
    ex->host = strdup(c->host ? c->host : hostname);
    ex->database = strdup(c->clickhouse_database ? c->clickhouse_database : "netdiag");
    ex->dbpath = strdup(cfg->database);
    ex->batch_rows = c->batch_rows > 0 ? c->batch_rows : 10000;
    ex->interval_ms = c->interval_ms > 0 ? c->interval_ms : 1000;
    ex->timeout_ms = c->timeout_ms > 0 ? c->timeout_ms : 10000;
    ex->backoff_max_ms = c->backoff_max_ms > 0 ? c->backoff_max_ms : 60000;
    ex->settle_ms = c->settle_ms;
    if (ex->host == NULL || ex->database == NULL || ex->dbpath == NULL) {
        snprintf(err, errlen, "export: out of memory");
        goto fail;
    }
    /* the name goes into INSERT INTO db.table unquoted: a plain name only */
    if (ex->database[strspn(ex->database, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                          "0123456789_")] != '\0') {
        snprintf(err, errlen, "export: clickhouse_database \"%.64s\": letters, digits and _ only",
                 ex->database);
        goto fail;
    }
    if (pipe2(ex->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
        snprintf(err, errlen, "export: pipe: %s", strerror(errno));
        goto fail;
    }
    if (sqlite3_open_v2(cfg->database, &ex->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        snprintf(err, errlen, "export: database %s: %s", cfg->database,
                 ex->db ? sqlite3_errmsg(ex->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(ex->db, 1000);
    if (pthread_create(&ex->thread, NULL, export_main, ex) != 0) {
        snprintf(err, errlen, "export: cannot start its thread");
        goto fail;
    }
    pthread_mutex_lock(&ex->mu);
    ex->stats.running = true;
    pthread_mutex_unlock(&ex->mu);
    log_info("export: to ClickHouse %s:%s, database %s, as host %s", ex->url.host, ex->url.port,
             ex->database, ex->host);
    return ex;
fail:
    export_free(ex);
    return NULL;
}

void export_get_stats(struct export *ex, struct export_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (ex == NULL)
        return;
    pthread_mutex_lock(&ex->mu);
    *out = ex->stats;
    pthread_mutex_unlock(&ex->mu);
    out->lag_ms = out->oldest_ms > 0 ? util_now_ms() - out->oldest_ms : 0;
}

void export_stop(struct export *ex)
{
    if (ex == NULL)
        return;
    pthread_mutex_lock(&ex->mu);
    ex->stopping = true;
    pthread_cond_signal(&ex->cond);
    pthread_mutex_unlock(&ex->mu);
    if (write(ex->wake[1], "x", 1) < 0) {
        /* the pipe is non-blocking and a byte is already there */
    }
    pthread_join(ex->thread, NULL);
    export_free(ex);
}
