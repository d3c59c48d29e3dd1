/* SPDX-License-Identifier: ISC */
/* What the Alertmanager client is given from files, read when the
 * configuration is loaded (off the loop): the TLS settings with the CA
 * certificates of alertmanager_ca_file or the system's (30 ms of parsing
 * for Debian's bundle, not to be spent on the loop), and the secret of
 * alertmanager_bearer_token_file or alertmanager_basic_auth_file made into an Authorization header.
 * A secret is never copied into a message, and is wiped from the buffers it passed through. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "alert_am.h"

/* the 64 digits, then the padding */
static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";

/* "Basic " and the base64 of user:password. */
static char *am_basic_auth(const char *plain)
{
    size_t n, k = 6;
    char *out;

    n = strlen(plain);
    out = malloc(6 + 4 * ((n + 2) / 3) + 1);
    if (out != NULL) {
        memcpy(out, "Basic ", 6);
        for (size_t i = 0; i < n; i += 3) {
            unsigned v = (unsigned)(unsigned char)plain[i] << 16;
            if (i + 1 < n)
                v |= (unsigned)(unsigned char)plain[i + 1] << 8;
            if (i + 2 < n)
                v |= (unsigned char)plain[i + 2];
            out[k++] = b64[(v >> 18) & 63];
            out[k++] = b64[(v >> 12) & 63];
            out[k++] = b64[i + 1 < n ? (v >> 6) & 63 : 64];
            out[k++] = b64[i + 2 < n ? v & 63 : 64];
        }
        out[k] = '\0';
    }
    return out;
}

/* A CA bundle bigger than this is not one (Debian's holds 140 CAs in
 * 200 KB). */
#define AM_CA_MAX (16 << 20)

int alert_am_check_ca(const char *path, char *err, size_t errlen)
{
    SSL_CTX *ctx;
    struct stat st;
    char buf[160];
    int rc = 0, fd;

    if (path[0] != '/') {
        snprintf(err, errlen, "\"%s\" is not an absolute path", path);
        return -1;
    }
    /* OpenSSL would read a FIFO or /dev/zero for ever: a regular file of
     * a bounded size only (O_NONBLOCK: opening a FIFO does not wait) */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    rc = fstat(fd, &st);
    close(fd);
    if (rc < 0 || !S_ISREG(st.st_mode) || st.st_size > AM_CA_MAX) {
        snprintf(err, errlen, "%s: not a regular file of at most %d MiB", path, AM_CA_MAX >> 20);
        return -1;
    }
    ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL || SSL_CTX_load_verify_locations(ctx, path, NULL) != 1) {
        ERR_error_string_n(ERR_peek_last_error(), buf, sizeof(buf));
        snprintf(err, errlen, "%s: no PEM certificate OpenSSL takes (%s)", path, buf);
        rc = -1;
    }
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return rc;
}

#define AM_SECRET_MAX 4096

int alert_am_read_secret(const char *path, enum alert_am_auth kind, char **out, char *err,
                         size_t errlen)
{
    char buf[AM_SECRET_MAX + 2];
    struct stat st;
    ssize_t n;
    size_t len;
    int fd;

    *out = NULL;
    if (path[0] != '/') {
        snprintf(err, errlen, "\"%s\" is not an absolute path", path);
        return -1;
    }
    /* O_NONBLOCK: a FIFO put there does not hang the load */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        goto fail;
    }
    if (st.st_mode & (S_IROTH | S_IWOTH)) {
        snprintf(err, errlen,
                 "%s: readable or writable by others (mode %04o); it holds a secret: chmod "
                 "o-rwx %s",
                 path, (unsigned)(st.st_mode & 07777), path);
        goto fail;
    }
    n = read(fd, buf, sizeof(buf) - 1);
    if (n < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto fail;
    }
    close(fd);
    fd = -1;
    len = (size_t)n;
    if (len > AM_SECRET_MAX) {
        snprintf(err, errlen, "%s: more than %d bytes (one line is expected)", path, AM_SECRET_MAX);
        goto fail;
    }
    buf[len] = '\0';
    /* one line: a final newline (and CR) is not part of it */
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        buf[--len] = '\0';
    if (len == 0) {
        snprintf(err, errlen, "%s: empty", path);
        goto fail;
    }
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f) {
            snprintf(err, errlen, "%s: a control character or a second line at byte %zu", path,
                     i + 1);
            goto fail;
        }
    if (kind == ALERT_AM_BASIC && (strchr(buf, ':') == NULL || buf[0] == ':')) {
        snprintf(err, errlen, "%s: not user:password on one line", path);
        goto fail;
    }
    if (kind == ALERT_AM_BEARER && strpbrk(buf, " \t") != NULL) {
        snprintf(err, errlen, "%s: a token has no blank in it", path);
        goto fail;
    }
    if (kind == ALERT_AM_BASIC)
        *out = am_basic_auth(buf);
    else if (asprintf(out, "Bearer %s", buf) < 0)
        *out = NULL;
    memset(buf, 0, sizeof(buf));
    if (*out == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    return 0;
fail:
    memset(buf, 0, sizeof(buf));
    if (fd >= 0)
        close(fd);
    return -1;
}

struct ssl_ctx_st *alert_am_tls_new(const char *ca_file, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    char buf[160];

    if (ctx == NULL)
        goto fail;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if ((ca_file != NULL ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
                         : SSL_CTX_set_default_verify_paths(ctx)) != 1)
        goto fail;
    return ctx;
fail:
    ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
    ERR_clear_error();
    snprintf(err, errlen, "cannot set up TLS with %s: %s", ca_file ? ca_file : "the system's CAs",
             buf);
    SSL_CTX_free(ctx);
    return NULL;
}

void alert_am_tls_free(struct ssl_ctx_st *ctx)
{
    SSL_CTX_free(ctx);
}
