/* SPDX-License-Identifier: ISC */
/* `netdiag web`: the read-only web view. The HTTP side is netdiagd's own
 * bounded server (common/http_server.c: a cap on connections, deadlines
 * from accept, a fixed head buffer, one body rendered per key and shared,
 * a budget of bytes held), on a libevent loop of its own; this file says
 * what each path means and answers it by running the commands themselves
 * (client_run() with --format json, into memory): the JSON API returns
 * their output as it is, and the pages (web_page.c) read it back. Nothing
 * is served from the file system; the database is opened read-only by
 * each command, as on the command line. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "client.h"
#include "db.h"
#include "http_server.h"
#include "json.h"
#include "timearg.h"
#include "util.h"
#include "web.h"
#include "web_html.h"

#define WEB_ERR_MAX   (64u << 10) /* what a command may say on standard error, kept */
#define WEB_ARGS_MAX  48          /* arguments of one command run */
#define WEB_VALUE_MAX 512         /* a decoded query value or path segment */
#define WEB_BACKLOG   1024        /* the listen queue (the kernel caps it at somaxconn) */

struct web {
    struct client *cl;
    FILE *log;             /* the real standard error */
    const char *dbargs[2]; /* "--db" PATH, "-c" FILE, or nothing */
    int ndbargs;
    char db_label[PATH_MAX + 32];
    struct event_base *base;
    struct http_server *srv;
    bool loopback; /* listening on loopback: only local names in Host */
};

/* API commands and the options each takes from the query: exactly these
 * names (getopt_long would take a prefix such as "foll" for --follow),
 * never --db, -c, --format or --follow. A flag's value is empty or 1. */
struct web_api {
    const char *cmd;
    const char *const opts[12];
    const char *const flags[3];
};

static const struct web_api web_apis[] = {
    {"failures",
     {"since", "until", "target", "code", "raw", "phase", "kind", "limit", NULL},
     {"utc", NULL}},
    {"summary", {"since", "until", "by", "target", "code", "raw", "kind", NULL}, {"utc", NULL}},
    {"timeline",
     {"since", "until", "bucket", "by", "target", "code", "raw", "kind", NULL},
     {"utc", NULL}},
    {"targets", {"since", "until", "target", "kind", NULL}, {"utc", "failing", NULL}},
    {"alerts", {"since", "until", "target", "code", NULL}, {"utc", "active", NULL}},
    {"latency", {"since", "until", "by", "bucket", "target", "kind", NULL}, {"utc", "chart", NULL}},
    {"status", {NULL}, {"utc", NULL}},
    {"codes", {NULL}, {NULL}},
    /* target= is the command's TARGET argument (after "--") */
    {"path", {"target", "at", NULL}, {"utc", NULL}},
};

static const char *const web_ranges[] = {"1h", "24h", "7d", "30d"};

static const char web_not_found[] =
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>not found</title>"
    "</head><body><h1>404 not found</h1><p>netdiag web serves <a href=\"/\">the overview</a>, "
    "/target/NAME, /alerts, /codes and <a href=\"/api/\">/api/</a>.</p></body></html>\n";

static void web_log(struct web *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void web_log(struct web *w, const char *fmt, ...)
{
    va_list ap;

    fputs("netdiag web: ", w->log);
    va_start(ap, fmt);
    vfprintf(w->log, fmt, ap);
    va_end(ap);
    fputc('\n', w->log);
    fflush(w->log);
}

const char *web_db_label(const struct web *w)
{
    return w->db_label;
}

int64_t web_now_ms(void)
{
    const char *env = getenv(CLIENT_NOW_ENV);
    int64_t now = util_now_ms(), ms;
    char err[128];

    if (env != NULL && *env != '\0' && timearg_parse(env, now, true, &ms, err, sizeof(err)) == 0)
        return ms;
    return now;
}

/* --- running a command into memory ------------------------------------ */

/* A stream into a growing buffer that refuses to grow past max (EFBIG):
 * an answer too large for memory fails as a write error, as a full disk
 * would on the command line. */
struct web_buf {
    char *p;
    size_t len, cap, max;
    bool over;
};

static ssize_t web_buf_write(void *cookie, const char *data, size_t n)
{
    struct web_buf *b = cookie;

    if (b->over || n > b->max - b->len) {
        b->over = true;
        errno = EFBIG;
        return -1;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        char *p;
        while (cap < b->len + n + 1)
            cap *= 2;
        if ((p = realloc(b->p, cap)) == NULL) {
            errno = ENOMEM;
            return -1;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return (ssize_t)n;
}

static FILE *web_buf_open(struct web_buf *b, size_t max)
{
    static const cookie_io_functions_t io = {.write = web_buf_write};

    memset(b, 0, sizeof(*b));
    b->max = max;
    return fopencookie(b, "w", io);
}

/* The buffer, NUL-terminated ("" when nothing was written); the caller
 * frees it. */
static char *web_buf_take(struct web_buf *b, size_t *len)
{
    char *p = b->p;

    if (p == NULL && (p = calloc(1, 1)) == NULL)
        return NULL;
    *len = b->len;
    b->p = NULL;
    return p;
}

int web_run(struct web *w, struct web_answer *a, const char *const *args)
{
    char *argv[WEB_ARGS_MAX + 8];
    struct web_buf ob, eb;
    FILE *out, *err, *saved;
    int argc = 0;

    memset(a, 0, sizeof(*a));
    argv[argc++] = "netdiag";
    for (int i = 0; i < w->ndbargs; i++)
        argv[argc++] = (char *)(uintptr_t)w->dbargs[i];
    argv[argc++] = "--format";
    argv[argc++] = "json";
    for (size_t i = 0; i < WEB_ARGS_MAX && args[i] != NULL; i++)
        argv[argc++] = (char *)(uintptr_t)args[i];
    argv[argc] = NULL;
    out = web_buf_open(&ob, WEB_OUTPUT_MAX);
    err = web_buf_open(&eb, WEB_ERR_MAX);
    if (out == NULL || err == NULL) {
        if (out != NULL)
            fclose(out);
        if (err != NULL)
            fclose(err);
        free(ob.p);
        free(eb.p);
        a->rc = CLIENT_EXIT_RUNTIME;
        return a->rc;
    }
    /* What the command says on standard error (a note, why it failed)
     * belongs to this answer: the commands write it to stderr, which is
     * for this one call a stream of its own (glibc lets a program assign
     * stderr; nothing else runs meanwhile). */
    saved = stderr;
    stderr = err;
    a->rc = client_run(out, argc, argv);
    fflush(err);
    stderr = saved;
    fclose(out);
    fclose(err);
    a->too_large = ob.over;
    a->out = web_buf_take(&ob, &a->outlen);
    a->err = web_buf_take(&eb, &a->errlen);
    free(ob.p);
    free(eb.p);
    if (a->out == NULL || a->err == NULL) {
        web_answer_free(a);
        a->rc = CLIENT_EXIT_RUNTIME;
    }
    return a->rc;
}

void web_answer_free(struct web_answer *a)
{
    free(a->out);
    free(a->err);
    a->out = a->err = NULL;
    a->outlen = a->errlen = 0;
}

int web_rows(struct web_answer *a, wj_row_fn fn, void *arg)
{
    char msg[160];
    int rc;

    if (a->out == NULL || (a->rc != CLIENT_EXIT_OK && a->rc != CLIENT_EXIT_STALE) || a->too_large)
        return -1;
    rc = wj_rows(a->out, a->outlen, fn, arg, msg, sizeof(msg));
    if (rc < 0 && a->errlen == 0) { /* say why on the page, as a failed command would */
        free(a->err);
        a->err = strdup(msg);
        a->errlen = a->err != NULL ? strlen(a->err) : 0;
    }
    return rc;
}

/* --- the API ---------------------------------------------------------- */

static const struct web_api *web_api_find(const char *name, size_t len)
{
    for (size_t i = 0; i < ND_ARRAY_LEN(web_apis); i++)
        if (strlen(web_apis[i].cmd) == len && memcmp(web_apis[i].cmd, name, len) == 0)
            return &web_apis[i];
    return NULL;
}

static bool web_in(const char *const *list, const char *name)
{
    for (; *list != NULL; list++)
        if (strcmp(*list, name) == 0)
            return true;
    return false;
}

/* {"error":"...","exit_code":N}: why an API request got no answer. */
static void web_json_error(struct evbuffer *out, const char *msg, int rc)
{
    char text[2048];

    json_string(text, sizeof(text), msg);
    evbuffer_add_printf(out, "{\"error\":%s,\"exit_code\":%d}\n", text, rc);
}

/* The lines a command wrote on standard error, "netdiag: " taken off,
 * joined with "; ". */
static void web_err_text(const char *err, char *buf, size_t len)
{
    size_t o = 0;

    buf[0] = '\0';
    while (*err && o + 1 < len) {
        size_t n = strcspn(err, "\n");
        const char *line = err;
        if (strncmp(line, "netdiag: ", 9) == 0 && n >= 9) {
            line += 9;
            n -= 9;
        }
        if (n > 0)
            o += (size_t)snprintf(buf + o, len - o, "%s%.*s", o > 0 ? "; " : "", (int)n, line);
        err = line + n;
        if (*err == '\n')
            err++;
    }
}

/* Checks of what a query may ask that the commands themselves would
 * allow but a server must not: all the failures (--limit 0), or a
 * timeline of more buckets than a page could hold. 0, or -1 with why. */
static int web_api_bounds(const char *cmd, const char *value, const char *since, const char *until,
                          char *why, size_t len)
{
    char err[128];
    int64_t v, now = util_now_ms(), from, to, bucket;

    if (strcmp(cmd, "failures") == 0 && value != NULL &&
        util_parse_int(value, 0, INT64_MAX, &v, err, sizeof(err)) == 0 &&
        (v == 0 || v > WEB_LIMIT_MAX)) {
        snprintf(why, len, "limit: at most %d rows through the web (0, all, is not served)",
                 WEB_LIMIT_MAX);
        return -1;
    }
    if ((strcmp(cmd, "timeline") == 0 || strcmp(cmd, "latency") == 0) && value != NULL &&
        util_parse_duration_ms(value, &bucket, err, sizeof(err)) == 0 && bucket > 0) {
        from = now - 3600000; /* the command's default: the last hour */
        to = now;
        if (since != NULL && timearg_parse(since, now, true, &from, err, sizeof(err)) < 0)
            return 0; /* the command says what is wrong with it */
        if (until != NULL && timearg_parse(until, now, true, &to, err, sizeof(err)) < 0)
            return 0;
        if (to > from && (to - from) / bucket > WEB_BUCKETS_MAX) {
            snprintf(why, len,
                     "bucket: more than %d buckets through the web; choose a wider "
                     "bucket or a shorter range",
                     WEB_BUCKETS_MAX);
            return -1;
        }
    }
    return 0;
}

/* One query parameter: its name and decoded value in the buffers. */
static int web_param(const char **q, const char *end, char *name, size_t nlen, char *value,
                     size_t vlen, bool *has_value)
{
    const char *p = *q, *amp = memchr(p, '&', (size_t)(end - p)), *stop = amp ? amp : end;
    const char *eq = memchr(p, '=', (size_t)(stop - p));

    *q = amp ? amp + 1 : end;
    *has_value = eq != NULL;
    if (html_url_decode(p, (size_t)((eq ? eq : stop) - p), true, name, nlen) < 0)
        return -1;
    if (eq == NULL) {
        value[0] = '\0';
        return 0;
    }
    return html_url_decode(eq + 1, (size_t)(stop - eq - 1), true, value, vlen);
}

static void web_free_cb(const void *data, size_t len, void *arg)
{
    (void)data;
    (void)len;
    free(arg);
}

/* /api/CMD?query: the command's JSON, or an error object. */
static int web_render_api(struct web *w, const char *key, struct evbuffer *out,
                          struct http_meta *meta)
{
    const char *path = key + 5, *qm = strchr(path, '?');
    const struct web_api *api = web_api_find(path, qm ? (size_t)(qm - path) : strlen(path));
    char vals[WEB_ARGS_MAX][WEB_VALUE_MAX + 48];
    const char *args[WEB_ARGS_MAX + 1], *since = NULL, *until = NULL;
    const char *bucket = NULL, *limit = NULL;
    char ptarget[WEB_VALUE_MAX];
    bool have_ptarget = false;
    size_t nargs = 0;
    struct web_answer a;
    char msg[4096];

    meta->content_type = "application/json";
    if (api == NULL) {
        meta->status = 404;
        web_json_error(out, "no such API; see /api/", CLIENT_EXIT_USAGE);
        return 0;
    }
    args[nargs++] = api->cmd;
    if (qm != NULL) {
        const char *q = qm + 1, *end = q + strlen(q);
        while (q < end) {
            char name[64], value[WEB_VALUE_MAX];
            bool has_value;
            if (*q == '&') {
                q++;
                continue;
            }
            if (web_param(&q, end, name, sizeof(name), value, sizeof(value), &has_value) < 0) {
                meta->status = 400;
                web_json_error(out, "a query parameter that is not well encoded, or too long",
                               CLIENT_EXIT_USAGE);
                return 0;
            }
            if (nargs == WEB_ARGS_MAX) {
                meta->status = 400;
                web_json_error(out, "too many query parameters", CLIENT_EXIT_USAGE);
                return 0;
            }
            if (web_in(api->flags, name)) {
                if (has_value && value[0] != '\0' && strcmp(value, "1") != 0) {
                    snprintf(msg, sizeof(msg), "%s: a flag, given without a value or as %s=1", name,
                             name);
                    meta->status = 400;
                    web_json_error(out, msg, CLIENT_EXIT_USAGE);
                    return 0;
                }
                snprintf(vals[nargs], sizeof(vals[nargs]), "--%s", name);
            } else if (strcmp(api->cmd, "path") == 0 && strcmp(name, "target") == 0) {
                if (have_ptarget) {
                    meta->status = 400;
                    web_json_error(out, "path takes one target", CLIENT_EXIT_USAGE);
                    return 0;
                }
                snprintf(ptarget, sizeof(ptarget), "%s", value);
                have_ptarget = true;
                continue;
            } else if (web_in(api->opts, name)) {
                snprintf(vals[nargs], sizeof(vals[nargs]), "--%s=%s", name, value);
                if (strcmp(name, "since") == 0)
                    since = strchr(vals[nargs], '=') + 1;
                else if (strcmp(name, "until") == 0)
                    until = strchr(vals[nargs], '=') + 1;
                else if (strcmp(name, "bucket") == 0)
                    bucket = strchr(vals[nargs], '=') + 1;
                else if (strcmp(name, "limit") == 0)
                    limit = strchr(vals[nargs], '=') + 1;
            } else {
                snprintf(msg, sizeof(msg), "%s takes no parameter \"%s\" (see /api/)", api->cmd,
                         name);
                meta->status = 400;
                web_json_error(out, msg, CLIENT_EXIT_USAGE);
                return 0;
            }
            args[nargs] = vals[nargs];
            nargs++;
        }
    }
    if (have_ptarget) {
        if (nargs + 2 > WEB_ARGS_MAX) {
            meta->status = 400;
            web_json_error(out, "too many query parameters", CLIENT_EXIT_USAGE);
            return 0;
        }
        args[nargs++] = "--";
        args[nargs++] = ptarget;
    }
    args[nargs] = NULL;
    if ((strcmp(api->cmd, "failures") == 0 &&
         web_api_bounds(api->cmd, limit, since, until, msg, sizeof(msg)) < 0) ||
        ((strcmp(api->cmd, "timeline") == 0 || strcmp(api->cmd, "latency") == 0) &&
         web_api_bounds(api->cmd, bucket, since, until, msg, sizeof(msg)) < 0)) {
        meta->status = 400;
        web_json_error(out, msg, CLIENT_EXIT_USAGE);
        return 0;
    }
    web_run(w, &a, args);
    if (a.out != NULL && !a.too_large &&
        (a.rc == CLIENT_EXIT_OK ||
         (a.rc == CLIENT_EXIT_STALE && strcmp(api->cmd, "status") == 0))) {
        /* the command's own bytes, handed over without a copy */
        if (evbuffer_add_reference(out, a.out, a.outlen, web_free_cb, a.out) < 0) {
            web_answer_free(&a);
            return -1;
        }
        a.out = NULL; /* the buffer owns it now */
        web_answer_free(&a);
        return 0;
    }
    if (a.too_large)
        snprintf(msg, sizeof(msg), "the answer is larger than %u MB; narrow the range or filter",
                 WEB_OUTPUT_MAX >> 20);
    else
        web_err_text(a.err != NULL ? a.err : "", msg, sizeof(msg));
    meta->status = a.too_large || a.rc == CLIENT_EXIT_USAGE                  ? 400
                   : a.rc == CLIENT_EXIT_NO_DB || a.rc == CLIENT_EXIT_BAD_DB ? 503
                                                                             : 500;
    web_json_error(out, msg[0] ? msg : "the command failed", a.rc);
    web_answer_free(&a);
    return 0;
}

/* /api/explain/WHAT */
static int web_render_explain(struct web *w, const char *key, struct evbuffer *out,
                              struct http_meta *meta)
{
    char what[WEB_VALUE_MAX], msg[2048];
    const char *seg = key + strlen("/api/explain/");
    const char *args[] = {"explain", what, NULL};
    struct web_answer a;

    meta->content_type = "application/json";
    if (html_url_decode(seg, strlen(seg), false, what, sizeof(what)) < 0 || what[0] == '-') {
        meta->status = 400;
        web_json_error(out, "explain: a code, name or errno, percent-encoded", CLIENT_EXIT_USAGE);
        return 0;
    }
    web_run(w, &a, args);
    if (a.rc == CLIENT_EXIT_OK && a.out != NULL) {
        evbuffer_add(out, a.out, a.outlen);
        web_answer_free(&a);
        return 0;
    }
    web_err_text(a.err != NULL ? a.err : "", msg, sizeof(msg));
    meta->status = a.rc == CLIENT_EXIT_USAGE ? 404 : 500;
    web_json_error(out, msg, a.rc);
    web_answer_free(&a);
    return 0;
}

/* --- pages ------------------------------------------------------------ */

/* A page rendered into memory, into out. */
static int web_render_page(struct evbuffer *out, struct http_meta *meta, int status, char *text,
                           size_t len)
{
    meta->status = status;
    meta->content_type = "text/html; charset=utf-8";
    return evbuffer_add(out, text, len);
}

static int web_render(void *arg, const char *key, struct evbuffer *out, struct http_meta *meta)
{
    struct web *w = arg;
    char *text = NULL, name[WEB_VALUE_MAX];
    size_t len = 0;
    FILE *fp;
    int status, rc;

    if (strncmp(key, "/api/explain/", 13) == 0)
        return web_render_explain(w, key, out, meta);
    if (strncmp(key, "/api/", 5) == 0 && key[5] != '\0')
        return web_render_api(w, key, out, meta);
    if ((fp = open_memstream(&text, &len)) == NULL)
        return -1;
    if (strcmp(key, "/") == 0) {
        status = web_page_overview(w, fp);
    } else if (strcmp(key, "/alerts") == 0) {
        status = web_page_alerts(w, fp);
    } else if (strcmp(key, "/codes") == 0) {
        status = web_page_codes(w, fp);
    } else if (strcmp(key, "/api/") == 0) {
        status = web_page_api(w, fp);
    } else {
        /* "/target/SEG?range=R", as web_route() made it */
        const char *seg = key + 8, *q = strchr(seg, '?');
        if (q == NULL || html_url_decode(seg, (size_t)(q - seg), false, name, sizeof(name)) < 0) {
            fclose(fp);
            free(text);
            return -1;
        }
        status = web_page_target(w, fp, name, q + 7);
    }
    if (fclose(fp) != 0) {
        free(text);
        return -1;
    }
    rc = web_render_page(out, meta, status, text, len);
    free(text);
    return rc;
}

/* --- routes ----------------------------------------------------------- */

static bool web_path_is(const struct http_request *req, const char *path)
{
    return req->path_len == strlen(path) && memcmp(req->path, path, req->path_len) == 0;
}

/* The value of `name` in the query (raw), or NULL. */
static const char *web_query_get(const struct http_request *req, const char *name, size_t *len)
{
    const char *p = req->query, *end = req->query ? req->query + req->query_len : NULL;
    size_t n = strlen(name);

    while (p != NULL && p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p)), *stop = amp ? amp : end;
        if ((size_t)(stop - p) > n && memcmp(p, name, n) == 0 && p[n] == '=') {
            *len = (size_t)(stop - p - (ptrdiff_t)n - 1);
            return p + n + 1;
        }
        p = amp ? amp + 1 : end;
    }
    return NULL;
}

static void web_route_text(struct http_route *out, int status, const char *text, bool html)
{
    out->status = status;
    out->text = text;
    out->content_type = html ? "text/html; charset=utf-8" : NULL;
}

/* A Host a browser sends for this machine itself: an address literal or
 * localhost, with or without a port. A page of another site that made its
 * name resolve to 127.0.0.1 (DNS rebinding) sends its own name instead. */
static bool web_host_local(const char *h, size_t n)
{
    char host[WEB_VALUE_MAX];
    unsigned char addr[16];
    size_t end = n;

    if (n == 0 || n >= sizeof(host))
        return false;
    if (h[0] == '[') {
        const char *close = memchr(h, ']', n);
        if (close == NULL || (close + 1 < h + n && close[1] != ':'))
            return false;
        memcpy(host, h + 1, (size_t)(close - h - 1));
        host[close - h - 1] = '\0';
        return inet_pton(AF_INET6, host, addr) == 1;
    }
    for (size_t i = n; i > 0; i--) {
        if (h[i - 1] == ':') {
            end = i - 1;
            break;
        }
        if (h[i - 1] < '0' || h[i - 1] > '9')
            break;
    }
    memcpy(host, h, end);
    host[end] = '\0';
    return strcasecmp(host, "localhost") == 0 || inet_pton(AF_INET, host, addr) == 1;
}

/* Map a path to the key its body is rendered and shared under; pages
 * without parameters ignore any query, so that /?x=1 shares /'s body. */
static void web_route(void *arg, const struct http_request *req, struct http_route *out)
{
    static const char prefix_target[] = "/target/", prefix_api[] = "/api/";
    const struct web *w = arg;
    char name[WEB_VALUE_MAX];
    const char *range = "24h", *r;
    size_t rlen = 0;

    if (w->loopback && req->host != NULL && !web_host_local(req->host, req->host_len)) {
        web_route_text(out, 403,
                       "403 forbidden: this server answers to its own address (Host "
                       "127.0.0.1, [::1] or localhost); a page of another site that made its "
                       "name point here gets nothing\n",
                       false);
        return;
    }
    if (web_path_is(req, "/") || web_path_is(req, "/alerts") || web_path_is(req, "/codes")) {
        out->status = 200;
        snprintf(out->key, sizeof(out->key), "%.*s", (int)req->path_len, req->path);
        return;
    }
    if (web_path_is(req, "/api") || web_path_is(req, "/api/")) {
        out->status = 200;
        snprintf(out->key, sizeof(out->key), "/api/");
        return;
    }
    if (req->path_len > sizeof(prefix_api) - 1 &&
        memcmp(req->path, prefix_api, sizeof(prefix_api) - 1) == 0) {
        const char *rest = req->path + sizeof(prefix_api) - 1;
        size_t rlen2 = req->path_len - (sizeof(prefix_api) - 1);
        bool explain = rlen2 > 8 && memcmp(rest, "explain/", 8) == 0;
        if (!explain && (memchr(rest, '/', rlen2) != NULL || web_api_find(rest, rlen2) == NULL)) {
            web_route_text(out, 404, "{\"error\":\"no such API; see /api/\",\"exit_code\":2}\n",
                           false);
            out->content_type = "application/json";
            return;
        }
        if (req->path_len + 1 + req->query_len >= sizeof(out->key)) {
            web_route_text(out, 400, "400 the request is too long for an API query\n", false);
            return;
        }
        out->status = 200;
        if (explain || req->query == NULL)
            snprintf(out->key, sizeof(out->key), "%.*s", (int)req->path_len, req->path);
        else
            snprintf(out->key, sizeof(out->key), "%.*s?%.*s", (int)req->path_len, req->path,
                     (int)req->query_len, req->query);
        return;
    }
    if (req->path_len > sizeof(prefix_target) - 1 &&
        memcmp(req->path, prefix_target, sizeof(prefix_target) - 1) == 0) {
        const char *seg = req->path + sizeof(prefix_target) - 1;
        size_t slen = req->path_len - (sizeof(prefix_target) - 1);
        if (memchr(seg, '/', slen) != NULL ||
            html_url_decode(seg, slen, false, name, sizeof(name)) < 0) {
            web_route_text(out, 404, web_not_found, true);
            return;
        }
        if ((r = web_query_get(req, "range", &rlen)) != NULL) {
            range = NULL;
            for (size_t i = 0; i < ND_ARRAY_LEN(web_ranges); i++)
                if (strlen(web_ranges[i]) == rlen && memcmp(web_ranges[i], r, rlen) == 0)
                    range = web_ranges[i];
            if (range == NULL) {
                web_route_text(out, 400, "400 range: 1h, 24h, 7d or 30d\n", false);
                return;
            }
        }
        out->status = 200;
        if ((size_t)snprintf(out->key, sizeof(out->key), "/target/%.*s?range=%s", (int)slen, seg,
                             range) >= sizeof(out->key))
            web_route_text(out, 400, "400 the target name is too long\n", false);
        return;
    }
    web_route_text(out, 404, web_not_found, true);
}

static void web_server_log(void *arg, bool error, const char *line)
{
    struct web *w = arg;

    web_log(w, "%s%s", error ? "error: " : "", line);
}

static const struct http_server_ops web_ops = {
    .name = "web",
    .listen_what = "--listen",
    .reserve_what = "for the database",
    .content_type = "text/html; charset=utf-8",
    .route = web_route,
    .render = web_render,
    .log = web_server_log,
};

/* --- the command ------------------------------------------------------ */

static bool web_is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
        return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
        if (IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr))
            return true;
        return IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr) && sin6->sin6_addr.s6_addr[12] == 127;
    }
    return false;
}

static void web_signal_cb(evutil_socket_t sig, short what, void *arg)
{
    struct web *w = arg;

    (void)what;
    web_log(w, "%s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
    event_base_loopexit(w->base, NULL);
}

int cmd_web_run(struct client *cl, int argc, char **argv)
{
    struct web w = {.cl = cl, .log = stderr};
    const char *listen = client_opt(cl, "listen");
    struct sockaddr_storage ss;
    socklen_t sslen;
    struct event *ev_int = NULL, *ev_term = NULL;
    struct web_answer probe;
    const char *status_args[] = {"status", NULL};
    char err[256], headers[HTTP_SERVER_HEADERS_MAX + 1];
    int rc = CLIENT_EXIT_RUNTIME;

    (void)argc;
    (void)argv;
    if (listen == NULL)
        listen = WEB_DEFAULT_LISTEN;
    if (util_parse_sockaddr(listen, -1, &ss, &sslen, err, sizeof(err)) < 0)
        return client_usage_error(cl, "--listen \"%s\": %s", listen, err);
    if (cl->db_path != NULL) {
        w.dbargs[w.ndbargs++] = "--db";
        w.dbargs[w.ndbargs++] = cl->db_path;
        snprintf(w.db_label, sizeof(w.db_label), "%s", cl->db_path);
    } else if (cl->config_path != NULL) {
        w.dbargs[w.ndbargs++] = "-c";
        w.dbargs[w.ndbargs++] = cl->config_path;
        snprintf(w.db_label, sizeof(w.db_label), "the database of %s", cl->config_path);
    } else {
        snprintf(w.db_label, sizeof(w.db_label), "the database of " CLIENT_DEFAULT_CONFIG);
    }
    /* a query that takes longer stops with a line, not the server */
    setenv(DB_TIMEOUT_ENV, WEB_QUERY_TIMEOUT_S, 0);
    signal(SIGPIPE, SIG_IGN);
    snprintf(headers, sizeof(headers),
             "Content-Security-Policy: %s\r\nX-Content-Type-Options: nosniff\r\n"
             "Referrer-Policy: no-referrer\r\nX-Frame-Options: DENY\r\n"
             "Cache-Control: no-store\r\n",
             html_csp());
    if ((w.base = event_base_new()) == NULL ||
        (w.srv = http_server_new(w.base, &web_ops, &w)) == NULL ||
        http_server_set_headers(w.srv, headers) < 0) {
        fprintf(stderr, "netdiag: web: out of memory\n");
        goto out;
    }
    /* descriptors for SQLite: the database, its -wal and -shm, a journal */
    http_server_set_reserve(w.srv, 8);
    /* a crowd of viewers waits in the kernel's queue, served in turn from
     * the shared bodies, rather than having SYNs dropped and retried */
    http_server_set_backlog(w.srv, WEB_BACKLOG);
    if (http_server_listen(w.srv, listen, err, sizeof(err)) < 0) {
        fprintf(stderr, "netdiag: web: %s\n", err);
        goto out;
    }
    ev_int = evsignal_new(w.base, SIGINT, web_signal_cb, &w);
    ev_term = evsignal_new(w.base, SIGTERM, web_signal_cb, &w);
    if (ev_int == NULL || ev_term == NULL || event_add(ev_int, NULL) < 0 ||
        event_add(ev_term, NULL) < 0) {
        fprintf(stderr, "netdiag: web: cannot watch signals\n");
        goto out;
    }
    /* the database as the pages will find it: said once at the start */
    web_run(&w, &probe, status_args);
    if (probe.rc != CLIENT_EXIT_OK && probe.rc != CLIENT_EXIT_STALE) {
        char why[1024];
        web_err_text(probe.err != NULL ? probe.err : "", why, sizeof(why));
        web_log(&w, "%s; the pages say so until it can be read", why);
    }
    web_answer_free(&probe);
    w.loopback = web_is_loopback(&ss);
    if (!w.loopback)
        web_log(&w,
                "serving http://%s/ on an address other than loopback, as --listen asks: "
                "whoever reaches it reads the history (read-only)",
                listen);
    else
        web_log(&w, "serving http://%s/ (read-only)", listen);
    event_base_dispatch(w.base);
    rc = CLIENT_EXIT_OK;
out:
    if (ev_int != NULL)
        event_free(ev_int);
    if (ev_term != NULL)
        event_free(ev_term);
    http_server_free(w.srv);
    if (w.base != NULL)
        event_base_free(w.base);
    return rc;
}
