/* SPDX-License-Identifier: ISC */
/* The Alertmanager client: every firing alert is posted to
 * /api/v2/alerts with the same labels for its whole life and an endsAt a
 * few re-send periods ahead, re-sent while it fires, and posted once more
 * with endsAt = its resolve time; failed posts are retried with backoff.
 * libevent's evhttp client on the loop: one request at a time, never a
 * blocking call (names resolve through an evdns base of our own). The
 * peer is not trusted: an answer's headers and body are bounded, a post
 * has one deadline for the whole exchange (a byte now and then does not
 * extend it), and each URL has a client of its own, so a slow one delays
 * nobody else. https:// goes through OpenSSL (libevent's
 * bufferevent_openssl): the peer's certificate is verified against the
 * system's CA store or alertmanager_ca_file and must name the URL's host;
 * a fresh TLS connection for each post. Credentials come from a file
 * (bearer token or user:password), are sent in the Authorization header
 * and never logged. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "array.h"
#include "alert_am.h"
#include "alert_int.h"
#include "config.h"
#include "json.h"
#include "log.h"
#include "timefmt.h"
#include "util.h"

#define AM_BACKOFF_MIN_MS 1000
#define AM_BACKOFF_MAX_MS 60000
/* One post, from connect (and name lookup) to the last byte of the
 * answer. */
#define AM_DEADLINE_MS 10000
/* Alertmanager answers a post with a few headers and an empty or short
 * body; anything much bigger is not an Alertmanager. */
#define AM_MAX_HEADERS 8192
#define AM_MAX_BODY    65536
#define AM_STR_(x)     #x
#define AM_STR(x)      AM_STR_(x)
/* Resolved alerts kept for delivery while Alertmanager is unreachable;
 * beyond this the oldest are dropped (their endsAt lapses there anyway). */
#define AM_MAX_ENTRIES 4096
/* A firing alert's endsAt is this many re-send periods ahead, so a daemon
 * that dies lets Alertmanager resolve it on its own. */
#define AM_ENDS_PERIODS 4

struct am_entry {
    int64_t id;
    bool resolved;
    bool in_request; /* part of the request in flight */
    int64_t ends_ms; /* resolved: when */
    int64_t seq;     /* order of arrival, for dropping the oldest */
    char *labels;    /* {"alertname":...}: fixed at the first put */
    char *rest;      /* "annotations":{...},"startsAt":"..." */
};

struct alert_am {
    struct event_base *base;
    struct evdns_base *dns;
    struct evhttp_connection *conn; /* NULL after a deadline, until the next post */
    bool conn_used;                 /* https: a post went out on conn */
    SSL_CTX *ctx;                   /* https; NULL for http */
    SSL *ssl;                       /* conn's, owned by its bufferevent */
    char *url;
    char *url_log; /* the URL without its credentials, for every message */
    char *auth;    /* the Authorization header, or NULL */
    char *host;    /* for the Host header */
    char *path;    /* .../api/v2/alerts */
    char *instance;
    char *labels;   /* [daemon] labels; NULL: none */
    char *severity; /* [alert] severity; NULL: warning for all */
    char *web_url;  /* generatorURL's base; NULL: none */
    int port;
    int64_t resend_ms;
    struct am_entry *e;
    size_t n, cap;
    int64_t seq;
    bool in_flight, dirty;
    int64_t backoff_ms;
    struct event *ev_timer;    /* re-send or retry */
    struct event *ev_deadline; /* the post in flight */
    uint64_t failures;         /* in a row */
    int last_error;            /* enum evhttp_request_error + 1; 0: none */
};

static void am_json_put(const char *p, size_t n, void *arg)
{
    evbuffer_add(arg, p, n);
}

/* JSON string (with quotes) of s: valid JSON whatever s holds, UTF-8
 * kept as it is (a hostname "büro" stays "büro"). */
static void am_json(struct evbuffer *b, const char *s)
{
    json_write(s, am_json_put, b);
}

static void am_kv(struct evbuffer *b, bool *first, const char *k, const char *v)
{
    if (!*first)
        evbuffer_add(b, ",", 1);
    *first = false;
    am_json(b, k);
    evbuffer_add(b, ":", 1);
    am_json(b, v);
}

static char *am_take(struct evbuffer *b)
{
    size_t len = evbuffer_get_length(b);
    char *s = malloc(len + 1);

    if (s != NULL) {
        evbuffer_remove(b, s, len);
        s[len] = '\0';
    }
    evbuffer_free(b);
    return s;
}

/* The labels of a "name=value,..." list (config_opt.c's form) that
 * `except` (another such list) does not name: a target's own label
 * wins over the [daemon] one of the same name. */
static void am_extra_labels(struct evbuffer *b, bool *first, const char *list, const char *except)
{
    for (const char *p = list; p != NULL && *p;) {
        size_t il = strcspn(p, ","), kl = strcspn(p, "=");
        char k[72], v[264];
        snprintf(k, sizeof(k), "%.*s", (int)kl, p);
        snprintf(v, sizeof(v), "%.*s", (int)(il - kl - 1), p + kl + 1);
        p += il + (p[il] == ',');
        if (except != NULL) {
            size_t len;
            if (config_severity_find(except, k, &len) != NULL)
                continue;
        }
        am_kv(b, first, k, v);
    }
}

/* severity: the target's list, then [alert]'s, each by the alert's kind
 * and then its default; "warning" when neither says. */
static void am_severity(struct evbuffer *b, bool *first, const struct alert_am *am,
                        const struct alert_notice *n)
{
    const char *lists[2] = {n->host ? NULL : n->severity, am->severity}, *lvl = NULL;
    char key[16], v[40];
    size_t len = 0;

    if (n->host)
        snprintf(key, sizeof(key), "host");
    else if (n->metric != ALERT_METRIC_CODE)
        snprintf(key, sizeof(key), "%s", alert_metric_name(n->metric));
    else
        snprintf(key, sizeof(key), "%d",
                 n->watch_class != NULL ? CONFIG_CODE_TIMEOUT : n->wsa_code);
    for (size_t i = 0; i < 2 && lvl == NULL; i++)
        if ((lvl = config_severity_find(lists[i], key, &len)) == NULL)
            lvl = config_severity_find(lists[i], "*", &len);
    if (lvl == NULL) {
        lvl = "warning";
        len = 7;
    }
    snprintf(v, sizeof(v), "%.*s", (int)len, lvl);
    am_kv(b, first, "severity", v);
}

static char *am_labels(const struct alert_am *am, const struct alert_notice *n)
{
    struct evbuffer *b = evbuffer_new();
    char code[16];
    bool first = true;

    if (b == NULL)
        return NULL;
    snprintf(code, sizeof(code), "%d", n->wsa_code);
    evbuffer_add(b, "{", 1);
    if (n->metric == ALERT_METRIC_LATENCY)
        am_kv(b, &first, "alertname", n->host ? "NetdiagHostLatency" : "NetdiagLatency");
    else if (n->metric == ALERT_METRIC_LOSS)
        am_kv(b, &first, "alertname", n->host ? "NetdiagHostLoss" : "NetdiagLoss");
    else
        am_kv(b, &first, "alertname", n->host ? "NetdiagHostFailureSpike" : "NetdiagFailureSpike");
    am_kv(b, &first, "instance", am->instance);
    am_kv(b, &first, "scope", n->host ? "host" : "target");
    am_kv(b, &first, "target", n->target);
    am_severity(b, &first, am, n);
    am_extra_labels(b, &first, am->labels, n->labels);
    am_extra_labels(b, &first, n->labels, NULL);
    if (n->metric != ALERT_METRIC_CODE) {
        /* no code: what it watches is the label */
        am_kv(b, &first, "metric", alert_metric_name(n->metric));
        evbuffer_add(b, "}", 1);
        return am_take(b);
    }
    if (n->watch_class != NULL)
        am_kv(b, &first, "class", n->watch_class);
    am_kv(b, &first, "wsa_code", code);
    am_kv(b, &first, "wsa_name", n->wsa_name ? n->wsa_name : "");
    evbuffer_add(b, "}", 1);
    return am_take(b);
}

/* The annotations of a target's latency or loss alert: the figures in
 * the metric's unit (µs; share of echoes lost), and in words. */
static void am_metric(struct evbuffer *b, bool *first, const struct alert_notice *n)
{
    char v[640], x[32], y[32];
    bool lat = n->metric == ALERT_METRIC_LATENCY;

    if (lat) {
        alert_fmt_us(n->value, x, sizeof(x));
        alert_fmt_us(n->baseline, y, sizeof(y));
        snprintf(v, sizeof(v), "%s: %s latency %s, baseline %s", n->target,
                 n->figure ? n->figure : "", x, y);
    } else {
        alert_fmt_share(n->value, x, sizeof(x));
        alert_fmt_share(n->baseline, y, sizeof(y));
        snprintf(v, sizeof(v), "%s: %s of echoes lost, baseline %s", n->target, x, y);
    }
    am_kv(b, first, "summary", v);
    am_kv(b, first, "description", n->detail);
    am_kv(b, first, "meaning", n->meaning ? n->meaning : "");
    if (lat)
        am_kv(b, first, "figure", n->figure ? n->figure : "");
    snprintf(v, sizeof(v), lat ? "%.0f" : "%.4f", n->value);
    am_kv(b, first, "value", v);
    snprintf(v, sizeof(v), lat ? "%.0f" : "%.4f", n->baseline);
    am_kv(b, first, "baseline", v);
    snprintf(v, sizeof(v), lat ? "%.0f" : "%.4f", n->threshold);
    am_kv(b, first, "threshold", v);
    am_kv(b, first, "unit", lat ? "us" : "share");
    snprintf(v, sizeof(v), "%" PRId64, n->peak);
    am_kv(b, first, "peak", v);
    snprintf(v, sizeof(v), "%" PRId64, n->count);
    am_kv(b, first, lat ? "samples" : "lost", v);
    snprintf(v, sizeof(v), "%" PRId64, n->attempts);
    am_kv(b, first, lat ? "attempts" : "sent", v);
}

static char *am_rest(const struct alert_am *am, const struct alert_notice *n)
{
    struct evbuffer *b = evbuffer_new();
    char v[640], t[40];
    bool first = true;

    if (b == NULL)
        return NULL;
    evbuffer_add_printf(b, "\"annotations\":{");
    if (n->metric != ALERT_METRIC_CODE && !n->host) {
        am_metric(b, &first, n);
        goto times;
    }
    if (n->host)
        snprintf(v, sizeof(v), "%s", n->detail); /* it says what is known, and no more */
    else if (n->watch_class != NULL)
        snprintf(v, sizeof(v),
                 "%s: %s (%s: no answer in time) on %" PRId64 " of %" PRId64
                 " attempts in a window",
                 n->target, n->watch_class, n->wsa_name, n->count, n->attempts);
    else
        snprintf(v, sizeof(v), "%s: %s (%s) on %" PRId64 " of %" PRId64 " attempts in a window",
                 n->target, n->wsa_name, n->meaning, n->count, n->attempts);
    am_kv(b, &first, "summary", v);
    am_kv(b, &first, "description", n->detail);
    am_kv(b, &first, "meaning", n->meaning ? n->meaning : "");
    snprintf(v, sizeof(v), "%" PRId64, n->count);
    am_kv(b, &first, "count", v);
    snprintf(v, sizeof(v), "%" PRId64, n->attempts);
    am_kv(b, &first, "attempts", v);
    snprintf(v, sizeof(v), "%" PRId64, n->peak);
    am_kv(b, &first, "peak", v);
    snprintf(v, sizeof(v), "%.2f", n->baseline);
    am_kv(b, &first, "baseline", v);
    if (!n->host) {
        snprintf(v, sizeof(v), "%.2f", n->threshold);
        am_kv(b, &first, "threshold", v);
    } else {
        am_kv(b, &first, "targets", n->targets);
    }
    if (n->icmp) {
        /* who refused, when the failure it fired with came from an ICMP
         * error */
        am_kv(b, &first, "icmp_from", n->icmp_from);
        snprintf(v, sizeof(v), "%u", n->icmp_type);
        am_kv(b, &first, "icmp_type", v);
        snprintf(v, sizeof(v), "%u", n->icmp_code);
        am_kv(b, &first, "icmp_code", v);
    }
times:
    snprintf(v, sizeof(v), "%" PRId64, n->window_ms);
    am_kv(b, &first, "window_ms", v);
    evbuffer_add(b, "},", 2);
    timefmt_iso(n->started_ms, true, t, sizeof(t));
    evbuffer_add_printf(b, "\"startsAt\":\"%s\"", t);
    if (am->web_url != NULL) {
        /* the web view's page of the target (names are [A-Za-z0-9._-]),
         * or its alerts page for a host-wide one */
        if (n->host)
            snprintf(v, sizeof(v), "%s/alerts", am->web_url);
        else
            snprintf(v, sizeof(v), "%s/target/%s", am->web_url, n->target);
        evbuffer_add(b, ",", 1);
        am_json(b, "generatorURL");
        evbuffer_add(b, ":", 1);
        am_json(b, v);
    }
    return am_take(b);
}

static void am_entry_free(struct am_entry *e)
{
    /* removing the last entry copies it onto itself; that slot is never read again */
    // NOLINTNEXTLINE(clang-analyzer-unix.Malloc)
    free(e->labels);
    free(e->rest);
}

static void am_remove(struct alert_am *am, size_t i)
{
    am_entry_free(&am->e[i]);
    am->e[i] = am->e[--am->n];
}

static void am_arm(struct alert_am *am, int64_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};

    evtimer_add(am->ev_timer, &tv);
}

static void am_send(struct alert_am *am);

static void am_error_cb(enum evhttp_request_error err, void *arg)
{
    struct alert_am *am = arg;

    am->last_error = (int)err + 1;
}

static const char *am_error_text(int e)
{
    switch (e - 1) {
    case EVREQ_HTTP_TIMEOUT:
        return "timed out";
    case EVREQ_HTTP_EOF:
        return "connection closed";
    case EVREQ_HTTP_INVALID_HEADER:
        return "invalid response, or headers over " AM_STR(AM_MAX_HEADERS) " bytes";
    case EVREQ_HTTP_BUFFER_ERROR:
        return "connection failed";
    case EVREQ_HTTP_REQUEST_CANCEL:
        return "cancelled";
    case EVREQ_HTTP_DATA_TOO_LONG:
        return "response too long (more than " AM_STR(
            AM_MAX_HEADERS) " bytes of headers or " AM_STR(AM_MAX_BODY) " of body)";
    }
    return "cannot connect, or no response";
}

static bool am_is_literal(const char *host)
{
    unsigned char buf[16];

    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* A TLS client for one connection: SNI for a name, and the certificate
 * must name the URL's host (a name, or an address in its IP SANs). */
static SSL *am_ssl_new(struct alert_am *am)
{
    SSL *ssl = SSL_new(am->ctx);

    if (ssl == NULL)
        return NULL;
    if (am_is_literal(am->host)) {
        if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), am->host) != 1)
            goto fail;
    } else if (SSL_set_tlsext_host_name(ssl, am->host) != 1 || SSL_set1_host(ssl, am->host) != 1) {
        goto fail;
    }
    return ssl;
fail:
    SSL_free(ssl);
    return NULL;
}

static struct evhttp_connection *am_conn_new(struct alert_am *am)
{
    struct evhttp_connection *c;

    am->ssl = NULL;
    am->conn_used = false;
    if (am->ctx != NULL) {
        struct bufferevent *bev;
        SSL *ssl = am_ssl_new(am);
        if (ssl == NULL)
            return NULL;
        /* frees ssl when it fails, and with itself later */
        bev = bufferevent_openssl_socket_new(am->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                             BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
        if (bev == NULL)
            return NULL;
        /* a peer that closes without close_notify after its answer */
        bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
        c = evhttp_connection_base_bufferevent_new(am->base, am->dns, bev, am->host,
                                                   (ev_uint16_t)am->port);
        if (c == NULL) {
            bufferevent_free(bev);
            return NULL;
        }
        am->ssl = ssl;
    } else {
        c = evhttp_connection_base_new(am->base, am->dns, am->host, (ev_uint16_t)am->port);
        if (c == NULL)
            return NULL;
    }
    /* per read or write; the whole post has am->ev_deadline */
    evhttp_connection_set_timeout(c, AM_DEADLINE_MS / 1000);
    evhttp_connection_set_retries(c, 0); /* our own backoff instead */
    evhttp_connection_set_max_headers_size(c, AM_MAX_HEADERS);
    evhttp_connection_set_max_body_size(c, AM_MAX_BODY);
    return c;
}

/* A post that did not succeed: everything stays held, retried after the
 * backoff. The first failure in a row is a warning, the others debug. */
static void am_failed(struct alert_am *am, const char *why)
{
    am->in_flight = false;
    evtimer_del(am->ev_deadline);
    for (size_t i = 0; i < am->n; i++)
        am->e[i].in_request = false;
    if (am->failures++ == 0)
        log_warnx("alertmanager %s: post failed (%s); %zu alerts held, retrying with backoff",
                  am->url_log, why, am->n);
    else
        log_debug("alertmanager %s: post failed again (%s; %" PRIu64 " in a row)", am->url_log, why,
                  am->failures);
    am->last_error = 0;
    am_arm(am, am->backoff_ms);
    am->backoff_ms =
        am->backoff_ms * 2 > AM_BACKOFF_MAX_MS ? AM_BACKOFF_MAX_MS : am->backoff_ms * 2;
}

/* Why a TLS connection failed, when it did: a certificate refused (and
 * why), or OpenSSL's first error. False when TLS said nothing. */
static bool am_tls_error(struct alert_am *am, char *why, size_t len)
{
    struct bufferevent *bev = am->conn != NULL ? evhttp_connection_get_bufferevent(am->conn) : NULL;
    unsigned long e = bev != NULL ? bufferevent_get_openssl_error(bev) : 0;
    long v = am->ssl != NULL ? SSL_get_verify_result(am->ssl) : X509_V_OK;
    char buf[160];

    ERR_clear_error();
    if (am->ssl == NULL)
        return false;
    if (v != X509_V_OK) {
        snprintf(why, len, "TLS: the server's certificate is refused: %s%s",
                 X509_verify_cert_error_string(v),
                 v == X509_V_ERR_HOSTNAME_MISMATCH || v == X509_V_ERR_IP_ADDRESS_MISMATCH
                     ? " (it does not name the URL's host)"
                     : "");
        return true;
    }
    if (e == 0)
        return false;
    ERR_error_string_n(e, buf, sizeof(buf));
    snprintf(why, len, "TLS: %s", buf);
    return true;
}

static void am_done_cb(struct evhttp_request *req, void *arg)
{
    struct alert_am *am = arg;
    int code = req != NULL ? evhttp_request_get_response_code(req) : 0;
    bool firing = false;
    char why[200];

    if (!am->in_flight)
        return;
    if (code >= 200 && code < 300) {
        am->in_flight = false;
        evtimer_del(am->ev_deadline);
        for (size_t i = 0; i < am->n;) {
            if (am->e[i].resolved && am->e[i].in_request) {
                am_remove(am, i);
                continue;
            }
            am->e[i].in_request = false;
            i++;
        }
        if (am->failures > 0)
            log_info("alertmanager %s: reachable again after %" PRIu64 " failed posts", am->url_log,
                     am->failures);
        am->failures = 0;
        am->backoff_ms = AM_BACKOFF_MIN_MS;
        for (size_t i = 0; i < am->n; i++)
            firing = firing || !am->e[i].resolved;
        /* not am_send() here: it may free this request's connection */
        if (am->dirty)
            am_arm(am, 0);
        else if (firing)
            am_arm(am, am->resend_ms);
        return;
    }
    if (code != 0) {
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        size_t len = in ? evbuffer_get_length(in) : 0;
        char body[120] = "";
        if (len > 0) {
            size_t k = len < sizeof(body) - 1 ? len : sizeof(body) - 1;
            evbuffer_copyout(in, body, k);
            body[k] = '\0';
            /* the peer's words: printable ASCII only reach the log */
            for (char *c = body; *c; c++)
                if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
                    *c = ' ';
        }
        snprintf(why, sizeof(why), "HTTP %d%s%s", code, body[0] ? ": " : "", body);
    } else if (!am_tls_error(am, why, sizeof(why))) {
        snprintf(why, sizeof(why), "%s", am_error_text(am->last_error));
    }
    am_failed(am, why);
}

/* The whole post took too long: drop the connection (and with it the
 * request, without a callback) and count a failure. */
static void am_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    struct alert_am *am = arg;

    (void)fd;
    (void)what;
    if (!am->in_flight)
        return;
    if (am->conn != NULL)
        evhttp_connection_free(am->conn);
    am->conn = NULL;
    am->ssl = NULL;
    am_failed(am, "no complete answer within " AM_STR(AM_DEADLINE_MS) " ms");
}

static void am_send(struct alert_am *am)
{
    struct evhttp_request *req;
    struct evbuffer *out;
    struct evkeyvalq *hdr;
    int64_t now = util_now_ms();
    char t[40], hosthdr[300];
    struct timeval dl = {AM_DEADLINE_MS / 1000, (AM_DEADLINE_MS % 1000) * 1000};

    am->dirty = false;
    evtimer_del(am->ev_timer);
    if (am->n == 0)
        return;
    /* https: a fresh TLS connection for each post (libevent cannot
     * reconnect a TLS bufferevent) */
    if (am->conn != NULL && am->conn_used) {
        evhttp_connection_free(am->conn);
        am->conn = NULL;
    }
    if (am->conn == NULL && (am->conn = am_conn_new(am)) == NULL) {
        am_failed(am, "cannot create a connection");
        return;
    }
    req = evhttp_request_new(am_done_cb, am);
    if (req == NULL) {
        am_arm(am, am->backoff_ms);
        return;
    }
    evhttp_request_set_error_cb(req, am_error_cb);
    out = evhttp_request_get_output_buffer(req);
    evbuffer_add(out, "[", 1);
    for (size_t i = 0; i < am->n; i++) {
        struct am_entry *e = &am->e[i];
        int64_t ends = e->resolved ? e->ends_ms : now + AM_ENDS_PERIODS * am->resend_ms;
        timefmt_iso(ends, true, t, sizeof(t));
        evbuffer_add_printf(out, "%s{\"labels\":%s,%s,\"endsAt\":\"%s\"}", i ? "," : "", e->labels,
                            e->rest, t);
        e->in_request = true;
    }
    evbuffer_add(out, "]", 1);
    hdr = evhttp_request_get_output_headers(req);
    if (strchr(am->host, ':') != NULL)
        snprintf(hosthdr, sizeof(hosthdr), "[%s]:%d", am->host, am->port);
    else
        snprintf(hosthdr, sizeof(hosthdr), "%s:%d", am->host, am->port);
    evhttp_add_header(hdr, "Host", hosthdr);
    evhttp_add_header(hdr, "Content-Type", "application/json");
    evhttp_add_header(hdr, "User-Agent", "netdiagd/" NETDIAG_VERSION);
    if (am->auth != NULL)
        evhttp_add_header(hdr, "Authorization", am->auth);
    am->in_flight = true;
    am->last_error = 0;
    am->conn_used = am->ctx != NULL;
    evtimer_add(am->ev_deadline, &dl);
    if (evhttp_make_request(am->conn, req, EVHTTP_REQ_POST, am->path) < 0) {
        /* rare (no socket): libevent frees the request on some of these
         * paths and not on others, so it is left alone */
        am_failed(am, "cannot start a post");
    }
}

static void am_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct alert_am *am = arg;

    (void)fd;
    (void)what;
    if (am->in_flight)
        am->dirty = true;
    else
        am_send(am);
}

void alert_am_url_redact(const char *url, char *buf, size_t len)
{
    const char *auth = strstr(url, "://");
    const char *end, *at = NULL;

    if (auth == NULL) {
        snprintf(buf, len, "%s", url);
        return;
    }
    auth += 3;
    end = auth + strcspn(auth, "/?#");
    for (const char *p = auth; p < end; p++)
        if (*p == '@')
            at = p;
    if (at == NULL)
        snprintf(buf, len, "%s", url);
    else
        snprintf(buf, len, "%.*s***%s", (int)(auth - url), url, at);
}

/* One URL as the client takes it; *uri is the parsed URL on success.
 * Only what this client posts to is taken, so that a value that would
 * never be sent fails at -t, not at the first alert:
 * http[s]://HOST[:PORT][/PATH], HOST a name or an address ([v6] in
 * brackets). A query or fragment would be dropped (the posts go to
 * PATH/api/v2/alerts); credentials belong in a file, not in the URL that
 * -t, logs and `ps` show. Messages never show credentials. */
static int am_parse_url(const char *url, struct evhttp_uri **uri, char *err, size_t errlen)
{
    const char *scheme_end = strstr(url, "://"), *host;
    unsigned char addr[sizeof(struct in_addr)];
    char shown[512];

    alert_am_url_redact(url, shown, sizeof(shown));
    *uri = NULL;
    if (scheme_end == NULL) {
        snprintf(err, errlen,
                 "\"%s\" is not a URL (write http://HOST:PORT or https://HOST:PORT, e.g. "
                 "http://127.0.0.1:9093)",
                 shown);
        return -1;
    }
    if (!(scheme_end - url == 4 && strncmp(url, "http", 4) == 0) &&
        !(scheme_end - url == 5 && strncmp(url, "https", 5) == 0)) {
        snprintf(err, errlen, "\"%s\": the scheme \"%.*s\" is not supported (http:// or https://)",
                 shown, scheme_end - url < 16 ? (int)(scheme_end - url) : 16, url);
        return -1;
    }
    *uri = evhttp_uri_parse_with_flags(url, 0);
    if (*uri == NULL) {
        snprintf(err, errlen,
                 "\"%s\" is not a valid URL (http[s]://HOST[:PORT][/PATH], the port 1 to 65535)",
                 shown);
        return -1;
    }
    host = evhttp_uri_get_host(*uri);
    if (host == NULL || *host == '\0')
        snprintf(err, errlen, "\"%s\" has no host", shown);
    else if (evhttp_uri_get_userinfo(*uri) != NULL)
        snprintf(err, errlen,
                 "\"%s\": credentials do not go in the URL; put them in a file named by "
                 "alertmanager_basic_auth_file (user:password) or alertmanager_bearer_token_file",
                 shown);
    else if (evhttp_uri_get_port(*uri) == 0)
        snprintf(err, errlen, "\"%s\": port 0 (1 to 65535, or none for 80 or 443)", shown);
    else if (evhttp_uri_get_query(*uri) != NULL || evhttp_uri_get_fragment(*uri) != NULL)
        snprintf(err, errlen,
                 "\"%s\": a query or fragment is not sent (alerts go to PATH/api/v2/alerts)",
                 shown);
    else if (host[0] != '[' /* libevent checked an IPv6 literal */ &&
             inet_pton(AF_INET, host, addr) != 1 && !util_host_name_ok(host))
        snprintf(err, errlen, "\"%s\": \"%s\" is not a host name or an IP address", shown, host);
    else
        return 0;
    evhttp_uri_free(*uri);
    *uri = NULL;
    return -1;
}

int alert_am_check_urls(const char *value, char *err, size_t errlen)
{
    char *copy = strdup(value), *save = NULL;
    int rc = 0;

    if (copy == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (char *w = strtok_r(copy, ALERT_AM_URL_SEP, &save); w != NULL && rc == 0;
         w = strtok_r(NULL, ALERT_AM_URL_SEP, &save)) {
        struct evhttp_uri *uri;
        rc = am_parse_url(w, &uri, err, errlen);
        if (uri != NULL)
            evhttp_uri_free(uri);
    }
    free(copy);
    return rc;
}

struct alert_am *alert_am_new(struct event_base *base, const struct alert_am_opts *o, char *err,
                              size_t errlen)
{
    const char *url = o->url;
    struct evhttp_uri *uri = NULL;
    struct alert_am *am = calloc(1, sizeof(*am));
    const char *host, *path;
    char shown[512];
    size_t plen;
    bool https = strncmp(url, "https:", 6) == 0;

    alert_am_url_redact(url, shown, sizeof(shown));
    if (am == NULL) {
        snprintf(err, errlen, "alertmanager %s: out of memory", shown);
        goto fail;
    }
    am->base = base;
    if (am_parse_url(url, &uri, err, errlen) < 0)
        goto fail;
    host = evhttp_uri_get_host(uri);
    am->port = evhttp_uri_get_port(uri) > 0 ? evhttp_uri_get_port(uri) : https ? 443 : 80;
    /* an IPv6 literal may come back with its brackets */
    if (host[0] == '[') {
        am->host = strndup(host + 1, strlen(host) - 1);
        if (am->host != NULL && am->host[0] != '\0' && am->host[strlen(am->host) - 1] == ']')
            am->host[strlen(am->host) - 1] = '\0';
    } else {
        am->host = strdup(host);
    }
    path = evhttp_uri_get_path(uri);
    path = path != NULL ? path : "";
    plen = strlen(path);
    while (plen > 0 && path[plen - 1] == '/')
        plen--;
    if (am->host != NULL && asprintf(&am->path, "%.*s/api/v2/alerts", (int)plen, path) < 0)
        am->path = NULL; /* asprintf leaves it undefined */
    if (am->host == NULL || am->path == NULL || (am->url = strdup(url)) == NULL ||
        (am->url_log = strdup(shown)) == NULL || (am->instance = strdup(o->instance)) == NULL ||
        (o->auth != NULL && (am->auth = strdup(o->auth)) == NULL) ||
        (o->labels != NULL && (am->labels = strdup(o->labels)) == NULL) ||
        (o->severity != NULL && (am->severity = strdup(o->severity)) == NULL) ||
        (o->web_url != NULL && (am->web_url = strdup(o->web_url)) == NULL)) {
        snprintf(err, errlen, "alertmanager %s: out of memory", shown);
        goto fail;
    }
    if (https && o->tls != NULL && SSL_CTX_up_ref(o->tls) == 1) {
        am->ctx = o->tls;
    } else if (https) {
        /* no settings made off the loop (a test): made here */
        char why[256];
        if ((am->ctx = alert_am_tls_new(o->ca_file, why, sizeof(why))) == NULL) {
            snprintf(err, errlen, "alertmanager %s: %s", shown, why);
            goto fail;
        }
    }
    if (!am_is_literal(am->host)) {
        am->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
                                           EVDNS_BASE_DISABLE_WHEN_INACTIVE);
        if (am->dns == NULL) {
            /* no resolv.conf: /etc/hosts still answers */
            am->dns = evdns_base_new(base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
            if (am->dns != NULL)
                evdns_base_load_hosts(am->dns, NULL);
        }
        if (am->dns == NULL) {
            snprintf(err, errlen, "alertmanager %s: cannot create a DNS resolver", shown);
            goto fail;
        }
    }
    am->conn = am_conn_new(am);
    am->ev_timer = evtimer_new(base, am_timer_cb, am);
    am->ev_deadline = evtimer_new(base, am_deadline_cb, am);
    if (am->conn == NULL || am->ev_timer == NULL || am->ev_deadline == NULL) {
        snprintf(err, errlen, "alertmanager %s: cannot create the HTTP client", shown);
        goto fail;
    }
    am->resend_ms = o->resend_ms > 0 ? o->resend_ms : 60000;
    am->backoff_ms = AM_BACKOFF_MIN_MS;
    evhttp_uri_free(uri);
    return am;
fail:
    if (uri != NULL)
        evhttp_uri_free(uri);
    alert_am_free(am);
    return NULL;
}

void alert_am_put(struct alert_am *am, const struct alert_notice *n)
{
    struct am_entry *e = NULL;
    char *rest;

    if (am == NULL)
        return;
    for (size_t i = 0; i < am->n && e == NULL; i++)
        if (am->e[i].id == n->id)
            e = &am->e[i];
    if (e == NULL) {
        if (am->n == AM_MAX_ENTRIES) {
            /* the oldest resolve still waiting goes (Alertmanager expires
             * it from its endsAt); firing alerts are never dropped */
            size_t old = AM_MAX_ENTRIES;
            for (size_t i = 0; i < am->n; i++)
                if (am->e[i].resolved && !am->e[i].in_request &&
                    (old == AM_MAX_ENTRIES || am->e[i].seq < am->e[old].seq))
                    old = i;
            if (old == AM_MAX_ENTRIES) {
                log_warnx("alertmanager %s: %d alerts held; not adding alert %" PRId64, am->url_log,
                          AM_MAX_ENTRIES, n->id);
                return;
            }
            am_remove(am, old);
        }
        if (ARRAY_RESERVE(am->e, am->cap, am->n + 1) < 0)
            return;
        e = &am->e[am->n];
        memset(e, 0, sizeof(*e));
        e->id = n->id;
        e->seq = am->seq++;
        e->labels = am_labels(am, n);
        if (e->labels == NULL)
            return;
        am->n++;
    }
    rest = am_rest(am, n);
    if (rest != NULL) {
        free(e->rest);
        e->rest = rest;
    }
    if (e->rest == NULL) {
        am_remove(am, (size_t)(e - am->e));
        return;
    }
    e->resolved = n->event == ALERT_EVENT_RESOLVED;
    e->ends_ms = n->resolved_ms;
    /* a resolve must not be dropped by a success of the request in flight
     * that still carried the firing state */
    e->in_request = false;
    if (am->in_flight)
        am->dirty = true;
    else
        am_send(am);
}

size_t alert_am_pending(const struct alert_am *am)
{
    return am != NULL ? am->n : 0;
}

void alert_am_free(struct alert_am *am)
{
    if (am == NULL)
        return;
    /* frees a request in flight without calling back */
    if (am->conn)
        evhttp_connection_free(am->conn);
    if (am->ev_timer)
        event_free(am->ev_timer);
    if (am->ev_deadline)
        event_free(am->ev_deadline);
    if (am->dns)
        evdns_base_free(am->dns, 0);
    for (size_t i = 0; i < am->n; i++)
        am_entry_free(&am->e[i]);
    free(am->e);
    free(am->url);
    free(am->url_log);
    if (am->auth != NULL)
        memset(am->auth, 0, strlen(am->auth));
    free(am->auth);
    free(am->host);
    free(am->path);
    free(am->instance);
    free(am->labels);
    free(am->severity);
    free(am->web_url);
    SSL_CTX_free(am->ctx);
    free(am);
}
