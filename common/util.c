/* SPDX-License-Identifier: ISC */
/* Helpers shared by daemon and client: clocks, strict parsing of numbers,
 * durations and address literals, address formatting, hex, host names,
 * and snprintf where cutting is fine. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

int64_t util_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t util_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

size_t util_strlcpy(char *dst, const char *src, size_t size)
{
    size_t n = strlen(src);
    if (size > 0) {
        size_t c = n < size - 1 ? n : size - 1;
        memcpy(dst, src, c);
        dst[c] = '\0';
    }
    return n;
}

int util_parse_int(const char *s, int64_t min, int64_t max, int64_t *out, char *err, size_t errlen)
{
    char *end;
    long long v;

    if (*s == '\0' || isspace((unsigned char)*s)) {
        snprintf(err, errlen, "expected a number, got \"%s\"", s);
        return -1;
    }
    errno = 0;
    v = strtoll(s, &end, 10);
    if (*end != '\0') {
        snprintf(err, errlen, "expected a number, got \"%s\"", s);
        return -1;
    }
    if (errno == ERANGE || v < min || v > max) {
        snprintf(err, errlen, "%s is out of range (%" PRId64 " to %" PRId64 ")", s, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

int util_parse_duration_ms(const char *s, int64_t *out_ms, char *err, size_t errlen)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    const char *p = s;
    int64_t v = 0;

    if (!isdigit((unsigned char)*p))
        goto bad;
    while (isdigit((unsigned char)*p)) {
        if (v > (INT64_MAX - 9) / 10)
            goto range;
        v = v * 10 + (*p - '0');
        p++;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(p, units[i].unit) == 0) {
            if (v > INT64_MAX / units[i].ms / 1000) /* keep µs arithmetic safe */
                goto range;
            *out_ms = v * units[i].ms;
            return 0;
        }
    }
    if (*p == '\0') {
        snprintf(err, errlen, "\"%s\" has no unit (use ms, s, m, h or d, e.g. \"%ss\")", s, s);
        return -1;
    }
bad:
    snprintf(err, errlen, "\"%s\" is not a duration (a whole number with ms, s, m, h or d)", s);
    return -1;
range:
    snprintf(err, errlen, "duration \"%s\" is too large", s);
    return -1;
}

int util_parse_sockaddr(const char *s, int default_port, struct sockaddr_storage *ss,
                        socklen_t *len, char *err, size_t errlen)
{
    char host[INET6_ADDRSTRLEN + 1];
    const char *portstr = NULL;
    size_t hlen;
    int64_t port = default_port;

    memset(ss, 0, sizeof(*ss));
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL) {
            snprintf(err, errlen, "\"%s\": missing ']'", s);
            return -1;
        }
        hlen = (size_t)(close - s - 1);
        if (hlen >= sizeof(host))
            goto bad;
        memcpy(host, s + 1, hlen);
        host[hlen] = '\0';
        if (close[1] == ':')
            portstr = close + 2;
        else if (close[1] != '\0')
            goto bad;
    } else {
        const char *colon = strchr(s, ':');
        if (colon != NULL && strchr(colon + 1, ':') == NULL) {
            hlen = (size_t)(colon - s);
            portstr = colon + 1;
        } else {
            hlen = strlen(s); /* IPv4 without port, or bare IPv6 */
        }
        if (hlen >= sizeof(host))
            goto bad;
        memcpy(host, s, hlen);
        host[hlen] = '\0';
    }
    if (portstr != NULL) {
        if (default_port == 0) {
            snprintf(err, errlen, "\"%s\": no port allowed here", s);
            return -1;
        }
        if (util_parse_int(portstr, 1, 65535, &port, err, errlen) < 0) {
            snprintf(err, errlen, "\"%s\": bad port (1 to 65535)", s);
            return -1;
        }
    } else if (default_port < 0) {
        snprintf(err, errlen, "\"%s\": a port is required (address:port)", s);
        return -1;
    }
    if (port < 0)
        port = 0;
    {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
        if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
            sin->sin_family = AF_INET;
            sin->sin_port = htons((uint16_t)port);
            *len = sizeof(*sin);
            return 0;
        }
        if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
            sin6->sin6_family = AF_INET6;
            sin6->sin6_port = htons((uint16_t)port);
            *len = sizeof(*sin6);
            return 0;
        }
    }
bad:
    snprintf(err, errlen, "\"%s\" is not an IP address%s", s,
             default_port != 0 ? " (with optional :port, [v6]:port)" : "");
    return -1;
}

void util_format_sockaddr(const struct sockaddr *sa, char *buf, size_t len)
{
    char host[INET6_ADDRSTRLEN];

    if (sa == NULL || len == 0) {
        if (len)
            buf[0] = '\0';
        return;
    }
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
        snprintf(buf, len, "%s:%u", host, ntohs(sin->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
        snprintf(buf, len, "[%s]:%u", host, ntohs(sin6->sin6_port));
    } else {
        buf[0] = '\0';
    }
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int util_hex_decode(const char *s, unsigned char **out, size_t *outlen, char *err, size_t errlen)
{
    size_t n = 0, cap = strlen(s) / 2 + 1;
    unsigned char *buf = malloc(cap);
    const char *p = s;

    if (buf == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    while (*p) {
        int hi, lo;
        if (*p == ' ' || *p == ':' || *p == '\t') {
            p++;
            continue;
        }
        hi = hexval((unsigned char)p[0]);
        lo = hi < 0 || p[1] == '\0' ? -1 : hexval((unsigned char)p[1]);
        if (lo < 0) {
            snprintf(err, errlen, "bad hex at offset %zu (pairs of 0-9a-f expected)",
                     (size_t)(p - s));
            free(buf);
            return -1;
        }
        buf[n++] = (unsigned char)(hi << 4 | lo);
        p += 2;
    }
    *out = buf;
    *outlen = n;
    return 0;
}

void util_snprintf_cut(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

/* Letters, digits, '-' and '_' in dot-separated labels of 1 to 63, 253 in
 * all, the last one not all digits ("1.2.3.4.5" is neither a name nor an
 * address); one trailing dot allowed. */
bool util_host_name_ok(const char *h)
{
    size_t len = strlen(h), label = 0;
    bool digits = true;

    if (len > 0 && h[len - 1] == '.')
        len--;
    if (len == 0 || len > 253)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)h[i];
        if (c == '.') {
            if (label == 0)
                return false;
            label = 0;
            digits = true;
        } else if (isalnum(c) || c == '-' || c == '_') {
            if (++label > 63)
                return false;
            digits = digits && isdigit(c);
        } else {
            return false;
        }
    }
    return label > 0 && !digits;
}
