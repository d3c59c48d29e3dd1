/* SPDX-License-Identifier: ISC */
/* The Alertmanager client: keeps each Alertmanager told about firing and
 * resolved alerts (POST /api/v2/alerts), re-sending while they fire and
 * retrying with backoff, on the loop and never blocking it, over HTTP or
 * HTTPS (the peer verified, its name checked), and the check of
 * alertmanager_url that `netdiagd -t` makes (owned by alert_am.c); the
 * CA file and secret file checks (alert_am_cred.c). */
#ifndef NETDIAG_ALERT_AM_H
#define NETDIAG_ALERT_AM_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct alert_notice;
struct alert_am;
struct ssl_ctx_st; /* OpenSSL's SSL_CTX */

/* What one client is made from. Strings are copied. */
struct alert_am_opts {
    const char *url;        /* one URL of alertmanager_url */
    int64_t resend_ms;      /* re-send period of a firing alert */
    const char *instance;   /* the instance label: this host's name */
    const char *labels;     /* [daemon] labels, as config_opt.c keeps them; NULL: none */
    const char *severity;   /* [alert] severity, as config_opt.c keeps it; NULL: "warning" */
    const char *web_url;    /* [daemon] web_url, for generatorURL; NULL: none */
    const char *ca_file;    /* https: PEM CA certificates; NULL: the system's store */
    const char *auth;       /* the Authorization header's value; NULL: none */
    struct ssl_ctx_st *tls; /* https: alert_am_tls_new()'s, shared; NULL: made from ca_file */
};

struct alert_am *alert_am_new(struct event_base *base, const struct alert_am_opts *o, char *err,
                              size_t errlen);
/* Adds or updates the alert n->id (a resolve is delivered, then dropped). */
void alert_am_put(struct alert_am *am, const struct alert_notice *n);
/* What separates the URLs of alertmanager_url. */
#define ALERT_AM_URL_SEP " ,\t"
/* Alerts waiting to be delivered, firing or resolved (for tests). */
size_t alert_am_pending(const struct alert_am *am);
void alert_am_free(struct alert_am *am);

/* alertmanager_url: one URL or several (an HA pair), separated by blanks
 * or commas, each http[s]://host[:port][/path], with no credentials in it
 * (they come from a file). Returns 0, or -1 with a message in err that
 * shows no credentials. */
int alert_am_check_urls(const char *value, char *err, size_t errlen);
/* url with any user:password@ replaced by ***@, for messages. */
void alert_am_url_redact(const char *url, char *buf, size_t len);
/* alert_am_cred.c */

/* alertmanager_ca_file: an absolute path to PEM certificates OpenSSL
 * takes. 0, or -1 with a message. */
int alert_am_check_ca(const char *path, char *err, size_t errlen);

/* The TLS settings of every https client: TLS 1.2 or later, the peer
 * verified against ca_file (NULL: the system's store). NULL with a message
 * when OpenSSL refuses. Reference-counted (SSL_CTX_up_ref). */
struct ssl_ctx_st *alert_am_tls_new(const char *ca_file, char *err, size_t errlen);
void alert_am_tls_free(struct ssl_ctx_st *ctx);

enum alert_am_auth {
    ALERT_AM_BEARER, /* the file holds a token */
    ALERT_AM_BASIC,  /* the file holds user:password */
};
/* Reads the secret file `path` (absolute, a regular file of at most 4 KiB,
 * one line, not readable or writable by others) and makes the
 * Authorization header's value ("Bearer ...", "Basic ...") in *out
 * (malloc'd). 0, or -1 with a message that holds no part of the secret. */
int alert_am_read_secret(const char *path, enum alert_am_auth kind, char **out, char *err,
                         size_t errlen);

#endif
