/* SPDX-License-Identifier: ISC */
/* Small helpers shared by the daemon and the client: clocks, strict number
 * and duration parsing, address formatting, hex, host names, snprintf
 * that may cut (owned by util.c). */
#ifndef NETDIAG_UTIL_H
#define NETDIAG_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define ND_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#include <netinet/in.h>

/* An IPv4 or IPv6 socket address in 28 bytes (sockaddr_storage is 128):
 * per-target state at 100k targets has to count its bytes. */
union nd_sockaddr {
    struct sockaddr sa;
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;
};

/* Wall clock in ms since the epoch (for stored timestamps only). */
int64_t util_now_ms(void);
/* CLOCK_MONOTONIC in µs (for deadlines and latency). */
int64_t util_mono_us(void);

/* Strict integer parse: whole string, base 10, within [min, max].
 * Returns 0, or -1 with a message in err. */
int util_parse_int(const char *s, int64_t min, int64_t max, int64_t *out, char *err, size_t errlen);

/* Duration with a unit: "250ms", "10s", "5m", "2h", "7d". A bare number is
 * an error (say which unit you mean). Returns 0, or -1 with a message. */
int util_parse_duration_ms(const char *s, int64_t *out_ms, char *err, size_t errlen);

/* "127.0.0.1", "127.0.0.1:53", "::1", "[::1]:53". An address literal, no
 * names. default_port is used when none is given (-1: a port is required;
 * 0: no port allowed). Returns 0, or -1 with a message. */
int util_parse_sockaddr(const char *s, int default_port, struct sockaddr_storage *ss,
                        socklen_t *len, char *err, size_t errlen);

/* "127.0.0.1:8080" / "[::1]:53"; "" for an empty address. */
void util_format_sockaddr(const struct sockaddr *sa, char *buf, size_t len);

/* Decode hex ("68656c6c6f", spaces and colons allowed between bytes) into a
 * fresh malloc'd buffer. Returns 0, or -1 with a message. */
int util_hex_decode(const char *s, unsigned char **out, size_t *outlen, char *err, size_t errlen);

/* Copy with truncation; always NUL-terminates. Returns strlen(src). */
size_t util_strlcpy(char *dst, const char *src, size_t size);

/* snprintf for text that may be cut short (a detail, a list): cutting is
 * expected there, so the compiler need not warn that it might happen. */
void util_snprintf_cut(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A DNS host name as a config may give one (not an address literal). */
bool util_host_name_ok(const char *h);

#endif
