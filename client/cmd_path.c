/* SPDX-License-Identifier: ISC */
/* `netdiag path TARGET`: the path netdiagd traced when the target began to
 * fail, hop by hop beside its last good path (schema 8's paths and
 * path_hops), mtr-like, with where it stopped and where it changed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "db.h"
#include "fmt.h"
#include "timearg.h"
#include "util.h"

#define PATH_HOPS_MAX 64

struct phop {
    int ttl;
    char said[16];
    char addr[64];            /* "" : silent */
    int64_t rtt_us;           /* -1: none */
    int icmp_type, icmp_code; /* -1: not an ICMP answer */
};

struct ppath {
    int64_t id, ts_ms;
    char why[12], dest[64], proto[8];
    int port; /* -1: none */
    bool reached;
    int nhops;
    struct phop hops[PATH_HOPS_MAX];
};

static const struct output_column path_cols[] = {
    {"hop", OUTPUT_COL_KEEP | OUTPUT_COL_RIGHT, 0, NULL, 0},
    {"address", OUTPUT_COL_KEEP, 0, NULL, 0},
    {"rtt_us", OUTPUT_COL_RIGHT, 0, "RTT", 0},
    {"said", OUTPUT_COL_KEEP, 0, NULL, 0},
    {"icmp_type", OUTPUT_COL_HIDE, 0, NULL, 0},
    {"icmp_code", OUTPUT_COL_HIDE, 0, NULL, 0},
    {"good_address", OUTPUT_COL_KEEP, 0, "LAST GOOD", 0},
    {"good_rtt_us", OUTPUT_COL_RIGHT, 1, "GOOD RTT", 0},
    {"changed", OUTPUT_COL_HIDE, 0, NULL, 0},
    {"path_id", OUTPUT_COL_HIDE, 0, NULL, 0},
    {"path_ts", OUTPUT_COL_HIDE, 0, NULL, 0},
    {"why", OUTPUT_COL_HIDE, 0, NULL, 0},
    {"good_path_id", OUTPUT_COL_HIDE, 0, NULL, 0},
    {"good_path_ts", OUTPUT_COL_HIDE, 0, NULL, 0},
};

/* What an ICMP or ICMPv6 answer means, in the words tracepath and ping use. */
static const char *path_icmp_text(bool v6, int type, int code)
{
    if (!v6 && type == 11)
        return "time exceeded";
    if (v6 && type == 3)
        return "time exceeded";
    if (!v6 && type == 3) {
        switch (code) {
        case 0:
            return "net unreachable";
        case 1:
            return "host unreachable";
        case 2:
            return "protocol unreachable";
        case 3:
            return "port unreachable";
        case 4:
            return "fragmentation needed";
        case 9:
        case 10:
        case 13:
            return "administratively prohibited";
        default:
            return "unreachable";
        }
    }
    if (v6 && type == 1) {
        switch (code) {
        case 0:
            return "no route";
        case 1:
            return "administratively prohibited";
        case 3:
            return "address unreachable";
        case 4:
            return "port unreachable";
        case 5:
        case 6:
            return "rejected by policy";
        default:
            return "unreachable";
        }
    }
    return "ICMP";
}

/* "host unreachable (ICMP 3/1)", "time exceeded", "connected", "no answer". */
static void path_said_text(const struct ppath *p, const struct phop *h, char *buf, size_t len)
{
    bool v6 = strchr(h->addr[0] ? h->addr : p->dest, ':') != NULL;

    if (h->icmp_type >= 0) {
        if (strcmp(h->said, "ttl") == 0)
            snprintf(buf, len, "%s", path_icmp_text(v6, h->icmp_type, h->icmp_code));
        else
            snprintf(buf, len, "%s (ICMP%s %d/%d)", path_icmp_text(v6, h->icmp_type, h->icmp_code),
                     v6 ? "v6" : "", h->icmp_type, h->icmp_code);
    } else if (strcmp(h->said, "silent") == 0) {
        snprintf(buf, len, "no answer");
    } else if (strcmp(h->said, "reached") == 0) {
        snprintf(buf, len, "%s",
                 strcmp(p->proto, "tcp") == 0    ? "answered (TCP)"
                 : strcmp(p->proto, "icmp") == 0 ? "echo reply"
                                                 : "answered (UDP)");
    } else if (strcmp(h->said, "unreachable") == 0) {
        snprintf(buf, len, "no route from this host");
    } else {
        snprintf(buf, len, "%s", h->said);
    }
}

static void col_text(sqlite3_stmt *st, int i, char *buf, size_t len)
{
    const unsigned char *s = sqlite3_column_text(st, i);

    util_strlcpy(buf, s != NULL ? (const char *)s : "", len);
}

/* The path with this id and its hops; 0, or an exit code. */
static int path_load_hops(struct db *db, struct ppath *p)
{
    sqlite3_stmt *st;
    int rc;

    if ((rc = db_prepare(db,
                         "SELECT ttl, said, addr, rtt_us, icmp_type, icmp_code FROM path_hops "
                         "WHERE path_id = ?1 ORDER BY ttl",
                         &st)) != 0)
        return rc;
    sqlite3_bind_int64(st, 1, p->id);
    p->nhops = 0;
    while ((rc = db_step(db, st)) == SQLITE_ROW && p->nhops < PATH_HOPS_MAX) {
        struct phop *h = &p->hops[p->nhops++];
        h->ttl = sqlite3_column_int(st, 0);
        col_text(st, 1, h->said, sizeof(h->said));
        col_text(st, 2, h->addr, sizeof(h->addr));
        h->rtt_us = sqlite3_column_type(st, 3) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 3);
        h->icmp_type = sqlite3_column_type(st, 4) == SQLITE_NULL ? -1 : sqlite3_column_int(st, 4);
        h->icmp_code = sqlite3_column_type(st, 5) == SQLITE_NULL ? -1 : sqlite3_column_int(st, 5);
    }
    sqlite3_finalize(st);
    return rc < 0 ? CLIENT_EXIT_RUNTIME : 0;
}

/* The newest path of the target at or before at_ms (why: NULL any,
 * "failure", or "good": a baseline that reached its destination); 1 found,
 * 0 none, or an exit code < 0 negated. */
static int path_find(struct db *db, int64_t target_id, int64_t at_ms, const char *why,
                     struct ppath *p)
{
    sqlite3_stmt *st;
    int rc;
    const char *cond = why == NULL                   ? ""
                       : strcmp(why, "failure") == 0 ? " AND why = 'failure'"
                                                     : " AND why = 'baseline' AND reached = 1";
    char sql[400];

    snprintf(sql, sizeof(sql),
             "SELECT id, ts, why, dest, protocol, port, reached FROM paths WHERE target_id = ?1 "
             "AND ts <= ?2%s ORDER BY ts DESC, id DESC LIMIT 1",
             cond);
    if ((rc = db_prepare(db, sql, &st)) != 0)
        return -rc;
    sqlite3_bind_int64(st, 1, target_id);
    sqlite3_bind_int64(st, 2, at_ms);
    rc = db_step(db, st);
    if (rc == SQLITE_ROW) {
        memset(p, 0, sizeof(*p));
        p->id = sqlite3_column_int64(st, 0);
        p->ts_ms = sqlite3_column_int64(st, 1);
        col_text(st, 2, p->why, sizeof(p->why));
        col_text(st, 3, p->dest, sizeof(p->dest));
        col_text(st, 4, p->proto, sizeof(p->proto));
        p->port = sqlite3_column_type(st, 5) == SQLITE_NULL ? -1 : sqlite3_column_int(st, 5);
        p->reached = sqlite3_column_int(st, 6) != 0;
    }
    sqlite3_finalize(st);
    if (rc < 0)
        return -CLIENT_EXIT_RUNTIME;
    if (rc != SQLITE_ROW)
        return 0;
    rc = path_load_hops(db, p);
    return rc != 0 ? -rc : 1;
}

static const struct phop *path_hop(const struct ppath *p, int ttl)
{
    for (int i = 0; i < p->nhops; i++)
        if (p->hops[i].ttl == ttl)
            return &p->hops[i];
    return NULL;
}

/* The first hop whose answering address differs from the good path's
 * (silence is no change: a hop that did not answer says nothing); 0 none. */
static int path_changed_at(const struct ppath *p, const struct ppath *good)
{
    for (int i = 0; i < p->nhops; i++) {
        const struct phop *h = &p->hops[i], *g = path_hop(good, h->ttl);
        if (h->addr[0] == '\0' || g == NULL || g->addr[0] == '\0')
            continue;
        if (strcmp(h->addr, g->addr) != 0)
            return h->ttl;
    }
    return 0;
}

/* "stops after hop 2 (10.99.2.2, host unreachable)", "reached 10.99.3.2
 * after 3 hops", "stops after hop 1 (10.99.1.2); no answer from hop 2 on". */
static void path_summary(const struct ppath *p, char *buf, size_t len)
{
    int last = -1;
    char said[96];

    for (int i = p->nhops - 1; i >= 0; i--)
        if (p->hops[i].addr[0] != '\0' || strcmp(p->hops[i].said, "silent") != 0) {
            last = i;
            break;
        }
    if (p->reached && last >= 0) {
        snprintf(buf, len, "reached %s after %d hop%s", p->dest, p->hops[last].ttl,
                 p->hops[last].ttl == 1 ? "" : "s");
        return;
    }
    if (last < 0) {
        snprintf(buf, len, "no answer from hop 1 on");
        return;
    }
    path_said_text(p, &p->hops[last], said, sizeof(said));
    if (strcmp(p->hops[last].said, "unreachable") == 0) {
        char *paren = strstr(said, " (ICMP");
        if (paren != NULL)
            *paren = '\0';
        snprintf(buf, len, "stops after hop %d (%s, %s)", p->hops[last].ttl,
                 p->hops[last].addr[0] ? p->hops[last].addr : "this host", said);
    } else {
        snprintf(buf, len, "stops after hop %d (%s); no answer from hop %d on", p->hops[last].ttl,
                 p->hops[last].addr, p->hops[last].ttl + 1);
    }
}

/* "10.99.1.2 → 10.99.2.2 → 10.99.3.2" (a silent hop: "*"). */
static void path_route(const struct ppath *p, char *buf, size_t len)
{
    size_t n = 0;

    buf[0] = '\0';
    for (int i = 0; i < p->nhops && n < len; i++) {
        int w = snprintf(buf + n, len - n, "%s%s", i ? " \xe2\x86\x92 " : "",
                         p->hops[i].addr[0] ? p->hops[i].addr : "*");
        if (w < 0)
            break;
        n += (size_t)w;
    }
}

static void path_rtt(struct output *o, int64_t us)
{
    char s[32];

    if (us < 0) {
        output_null(o);
        return;
    }
    if (us < 10000)
        snprintf(s, sizeof(s), "%.3fms", (double)us / 1000.0);
    else
        snprintf(s, sizeof(s), "%.1fms", (double)us / 1000.0);
    output_int_shown(o, us, s);
}

int cmd_path_run(struct client *cl, int argc, char **argv)
{
    struct db db;
    struct ppath *p = NULL, *good = NULL;
    int64_t at_ms = cl->now_ms, tid = 0;
    const char *at = client_opt(cl, "at");
    struct output *o;
    bool have_good = false;
    int rc, changed = 0;

    (void)argc;
    if (at != NULL) {
        char err[160];
        if (timearg_parse(at, cl->now_ms, cl->utc, &at_ms, err, sizeof(err)) < 0)
            return client_usage_error(cl, "--at: %s", err);
    }
    if ((rc = db_open(cl, &db)) != 0)
        return rc;
    for (size_t i = 0; i < db.ntargets; i++)
        if (strcmp(db.targets[i].name, argv[0]) == 0)
            tid = db.targets[i].id;
    if (tid == 0) {
        fprintf(stderr, "netdiag: path: no target named \"%s\" in %s\n", argv[0], db.path);
        rc = CLIENT_EXIT_USAGE;
        goto out;
    }
    if (db.version < 8) {
        client_note(
            cl, "the database (schema %d) keeps no paths; netdiagd traces them from schema 8 on",
            db.version);
        rc = CLIENT_EXIT_OK;
        goto out;
    }
    p = fmt_alloc(NULL, sizeof(*p));
    good = fmt_alloc(NULL, sizeof(*good));
    /* the failure at or before --at, else the newest path at all */
    rc = path_find(&db, tid, at_ms, "failure", p);
    if (rc == 0)
        rc = path_find(&db, tid, at_ms, NULL, p);
    if (rc < 0) {
        rc = -rc;
        goto out;
    }
    if (rc == 0) {
        client_note(cl, "no path of %s traced%s", argv[0], at != NULL ? " by then" : " yet");
        rc = CLIENT_EXIT_OK;
        goto out;
    }
    if (strcmp(p->why, "failure") == 0) {
        rc = path_find(&db, tid, p->ts_ms, "good", good);
        if (rc < 0) {
            rc = -rc;
            goto out;
        }
        have_good = rc == 1;
        if (have_good)
            changed = path_changed_at(p, good);
    }
    if (cl->format == OUTPUT_TABLE) {
        char when[64], sum[256], route[512], gwhen[64];
        fmt_time(p->ts_ms, cl->utc, FMT_TIME_SHORT, when, sizeof(when));
        path_summary(p, sum, sizeof(sum));
        fprintf(cl->out, "%s: %s path %s, %s to %s", argv[0], p->why, when, p->proto, p->dest);
        if (p->port >= 0)
            fprintf(cl->out, " port %d", p->port);
        fprintf(cl->out, "\n%s", sum);
        if (have_good) {
            fmt_time(good->ts_ms, cl->utc, FMT_TIME_CLOCK, gwhen, sizeof(gwhen));
            path_route(good, route, sizeof(route));
            fprintf(cl->out, "; last good path %s went %s", gwhen, route);
        } else if (strcmp(p->why, "failure") == 0) {
            fprintf(cl->out, "; no good path of it before");
        }
        fprintf(cl->out, "\n");
        if (changed > 0)
            fprintf(cl->out, "path changed at hop %d\n", changed);
        fprintf(cl->out, "\n");
    }
    o = output_new(cl->out, cl->format, OUTPUT_LIST, path_cols, ND_ARRAY_LEN(path_cols),
                   cl->width_cols, cl->wide);
    {
        int maxttl = 0;
        for (int i = 0; i < p->nhops; i++)
            if (p->hops[i].ttl > maxttl)
                maxttl = p->hops[i].ttl;
        for (int i = 0; have_good && i < good->nhops; i++)
            if (good->hops[i].ttl > maxttl)
                maxttl = good->hops[i].ttl;
        for (int ttl = 1; ttl <= maxttl; ttl++) {
            const struct phop *h = path_hop(p, ttl), *g = have_good ? path_hop(good, ttl) : NULL;
            char said[96];
            output_int(o, ttl);
            if (h != NULL) {
                output_str_shown(o, h->addr[0] ? h->addr : NULL, h->addr[0] ? h->addr : "*");
                path_rtt(o, h->rtt_us);
                path_said_text(p, h, said, sizeof(said));
                output_str(o, said);
                if (h->icmp_type >= 0) {
                    output_int(o, h->icmp_type);
                    output_int(o, h->icmp_code);
                } else {
                    output_null(o);
                    output_null(o);
                }
            } else {
                output_null(o);
                output_null(o);
                output_str_shown(o, NULL, "");
                output_null(o);
                output_null(o);
            }
            if (g != NULL) {
                output_str_shown(o, g->addr[0] ? g->addr : NULL, g->addr[0] ? g->addr : "*");
                path_rtt(o, g->rtt_us);
            } else {
                output_null(o);
                output_null(o);
            }
            output_bool(o, changed > 0 && ttl == changed);
            output_int(o, p->id);
            output_int(o, p->ts_ms);
            output_str(o, p->why);
            if (have_good) {
                output_int(o, good->id);
                output_int(o, good->ts_ms);
            } else {
                output_null(o);
                output_null(o);
            }
            output_end_row(o);
        }
    }
    rc = output_finish(o) == 0 ? CLIENT_EXIT_OK : client_write_error();
out:
    free(p);
    free(good);
    db_close(&db);
    return rc;
}
