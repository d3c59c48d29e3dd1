/* SPDX-License-Identifier: ISC */
/* ICMP and ICMPv6 echo packets, the errors about them, and the figures of
 * a ping attempt: pure functions, no sockets (those are probe_ping.c's). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "icmp.h"

/* Types (RFC 792, RFC 4443). */
#define ICMP4_ECHO_REPLY    0
#define ICMP4_UNREACH       3
#define ICMP4_SOURCE_QUENCH 4
#define ICMP4_ECHO          8
#define ICMP4_TIME_EXCEEDED 11
#define ICMP4_PARAM_PROBLEM 12
#define ICMP6_UNREACH       1
#define ICMP6_TOO_BIG       2
#define ICMP6_TIME_EXCEEDED 3
#define ICMP6_PARAM_PROBLEM 4
#define ICMP6_ECHO          128
#define ICMP6_ECHO_REPLY    129

uint16_t icmp_checksum(const void *buf, size_t len)
{
    const unsigned char *b = buf;
    uint32_t sum = 0;

    for (; len > 1; b += 2, len -= 2)
        sum += (uint32_t)b[0] << 8 | b[1];
    if (len == 1)
        sum += (uint32_t)b[0] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static void put16(unsigned char *b, uint16_t v)
{
    b[0] = (unsigned char)(v >> 8);
    b[1] = (unsigned char)v;
}

static uint16_t get16(const unsigned char *b)
{
    return (uint16_t)(b[0] << 8 | b[1]);
}

size_t icmp_echo_build(unsigned char *buf, size_t cap, int af, uint16_t id, uint16_t seq,
                       uint64_t cookie, size_t size)
{
    size_t len = ICMP_HDR_LEN + size;

    if (size < ICMP_COOKIE_LEN || cap < len)
        return 0;
    buf[0] = af == AF_INET6 ? ICMP6_ECHO : ICMP4_ECHO;
    buf[1] = 0;
    put16(buf + 2, 0);
    put16(buf + 4, id);
    put16(buf + 6, seq);
    for (int i = 0; i < ICMP_COOKIE_LEN; i++)
        buf[ICMP_HDR_LEN + i] = (unsigned char)(cookie >> (56 - 8 * i));
    /* the pattern ping(8) uses: byte i of the payload is i */
    for (size_t i = ICMP_COOKIE_LEN; i < size; i++)
        buf[ICMP_HDR_LEN + i] = (unsigned char)i;
    if (af != AF_INET6)
        put16(buf + 2, icmp_checksum(buf, len));
    return len;
}

static void echo_fill(const unsigned char *b, size_t n, struct icmp_echo *out)
{
    out->type = b[0];
    out->code = b[1];
    out->id = get16(b + 4);
    out->seq = get16(b + 6);
    out->data = b + ICMP_HDR_LEN;
    out->len = n - ICMP_HDR_LEN;
}

enum icmp_read icmp_read_reply(int af, bool ip_header, const unsigned char *buf, size_t n,
                               size_t full_len, struct icmp_echo *out)
{
    if (ip_header && af == AF_INET) {
        size_t ihl;
        if (n < 20 || (buf[0] >> 4) != 4)
            return ICMP_READ_BAD;
        ihl = (size_t)(buf[0] & 0x0f) * 4;
        if (ihl < 20 || ihl > n || full_len < ihl)
            return ICMP_READ_BAD;
        buf += ihl;
        n -= ihl;
        full_len -= ihl;
    }
    if (n < ICMP_HDR_LEN)
        return ICMP_READ_BAD;
    if (buf[0] != (af == AF_INET6 ? ICMP6_ECHO_REPLY : ICMP4_ECHO_REPLY))
        return ICMP_READ_OTHER;
    /* A raw IPv4 socket gets the packet before icmp_rcv() checks it; the
     * datagram sockets and ICMPv6 (RFC 3542) have the kernel check it. */
    if (ip_header && af == AF_INET && n == full_len && icmp_checksum(buf, n) != 0)
        return ICMP_READ_BAD;
    echo_fill(buf, n, out);
    return ICMP_READ_REPLY;
}

bool icmp_read_quoted(int af, const unsigned char *buf, size_t n, struct icmp_echo *out)
{
    if (n < ICMP_HDR_LEN || buf[0] != (af == AF_INET6 ? ICMP6_ECHO : ICMP4_ECHO))
        return false;
    echo_fill(buf, n, out);
    return true;
}

/* splitmix64's finaliser over the key and the echo's coordinates: not a
 * MAC an on-path attacker cannot forge (it sees the cookies), but nothing
 * a late reply, another prober or a reflector can produce by chance. */
uint64_t icmp_cookie(uint64_t secret, uint32_t serial, uint16_t sock, uint16_t seq)
{
    uint64_t z = secret ^ ((uint64_t)serial << 32 | (uint64_t)sock << 16 | seq);

    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

int icmp_cookie_match(const struct icmp_echo *e, uint64_t cookie)
{
    if (e->len < ICMP_COOKIE_LEN)
        return -1;
    for (int i = 0; i < ICMP_COOKIE_LEN; i++)
        if (e->data[i] != (unsigned char)(cookie >> (56 - 8 * i)))
            return 0;
    return 1;
}

struct icmp_err_row {
    uint8_t type, code;
    int err;
    const char *text;
};

/* Destination unreachable (3) by code, then the other errors. The errno
 * is the kernel's (icmp_err_convert[]) except for the administrative
 * prohibitions, which it files as ENETUNREACH / EHOSTUNREACH: a filter
 * that says no is WSAEACCES, as a local `prohibit` route is. */
static const struct icmp_err_row icmp4_rows[] = {
    {ICMP4_UNREACH, 0, ENETUNREACH, "network unreachable"},
    {ICMP4_UNREACH, 1, EHOSTUNREACH, "host unreachable"},
    {ICMP4_UNREACH, 2, ENOPROTOOPT, "protocol unreachable"},
    {ICMP4_UNREACH, 3, ECONNREFUSED, "port unreachable"},
    {ICMP4_UNREACH, 4, EMSGSIZE, "fragmentation needed"},
    {ICMP4_UNREACH, 5, EOPNOTSUPP, "source route failed"},
    {ICMP4_UNREACH, 6, ENETUNREACH, "network unknown"},
    {ICMP4_UNREACH, 7, EHOSTDOWN, "host unknown"},
    {ICMP4_UNREACH, 8, ENONET, "source host isolated"},
    {ICMP4_UNREACH, 9, EACCES, "network administratively prohibited"},
    {ICMP4_UNREACH, 10, EACCES, "host administratively prohibited"},
    {ICMP4_UNREACH, 11, ENETUNREACH, "network unreachable for TOS"},
    {ICMP4_UNREACH, 12, EHOSTUNREACH, "host unreachable for TOS"},
    {ICMP4_UNREACH, 13, EACCES, "administratively prohibited"},
    {ICMP4_UNREACH, 14, EHOSTUNREACH, "host precedence violation"},
    {ICMP4_UNREACH, 15, EHOSTUNREACH, "precedence cutoff"},
    {ICMP4_TIME_EXCEEDED, 0, EHOSTUNREACH, "time to live exceeded"},
    {ICMP4_TIME_EXCEEDED, 1, EHOSTUNREACH, "fragment reassembly time exceeded"},
};

static const struct icmp_err_row icmp6_rows[] = {
    {ICMP6_UNREACH, 0, ENETUNREACH, "no route to destination"},
    {ICMP6_UNREACH, 1, EACCES, "administratively prohibited"},
    {ICMP6_UNREACH, 2, EHOSTUNREACH, "beyond scope of source address"},
    {ICMP6_UNREACH, 3, EHOSTUNREACH, "address unreachable"},
    {ICMP6_UNREACH, 4, ECONNREFUSED, "port unreachable"},
    {ICMP6_UNREACH, 5, EACCES, "source address failed policy"},
    {ICMP6_UNREACH, 6, EACCES, "reject route to destination"},
    {ICMP6_UNREACH, 7, EHOSTUNREACH, "error in source routing header"},
    {ICMP6_TIME_EXCEEDED, 0, EHOSTUNREACH, "hop limit exceeded"},
    {ICMP6_TIME_EXCEEDED, 1, EHOSTUNREACH, "fragment reassembly time exceeded"},
};

static const struct icmp_err_row *icmp_err_find(int af, uint8_t type, uint8_t code)
{
    const struct icmp_err_row *rows = af == AF_INET6 ? icmp6_rows : icmp4_rows;
    size_t n = af == AF_INET6 ? sizeof(icmp6_rows) / sizeof(icmp6_rows[0])
                              : sizeof(icmp4_rows) / sizeof(icmp4_rows[0]);

    for (size_t i = 0; i < n; i++)
        if (rows[i].type == type && rows[i].code == code)
            return &rows[i];
    return NULL;
}

int icmp_error_errno(int af, uint8_t type, uint8_t code)
{
    const struct icmp_err_row *r = icmp_err_find(af, type, code);

    if (r != NULL)
        return r->err;
    /* codes no RFC defines yet: by type, as the kernel does */
    if (af == AF_INET6) {
        switch (type) {
        case ICMP6_UNREACH:
        case ICMP6_TIME_EXCEEDED:
            return EHOSTUNREACH;
        case ICMP6_TOO_BIG:
            return EMSGSIZE;
        case ICMP6_PARAM_PROBLEM:
            return EPROTO;
        default:
            return 0;
        }
    }
    switch (type) {
    case ICMP4_UNREACH:
    case ICMP4_TIME_EXCEEDED:
        return EHOSTUNREACH;
    case ICMP4_PARAM_PROBLEM:
        return EPROTO;
    case ICMP4_SOURCE_QUENCH: /* deprecated (RFC 6633): no error */
    default:
        return 0;
    }
}

const char *icmp_error_text(int af, uint8_t type, uint8_t code, char *buf, size_t len)
{
    const struct icmp_err_row *r = icmp_err_find(af, type, code);

    if (r != NULL)
        snprintf(buf, len, "%s", r->text);
    else if (af == AF_INET6 && type == ICMP6_TOO_BIG)
        snprintf(buf, len, "packet too big");
    else if (type == (af == AF_INET6 ? ICMP6_PARAM_PROBLEM : ICMP4_PARAM_PROBLEM))
        snprintf(buf, len, "parameter problem");
    else
        snprintf(buf, len, "type %u code %u", type, code);
    return buf;
}

const char *icmp_error_origin(int af, uint8_t type, uint8_t code, const char *from, char *buf,
                              size_t len)
{
    char text[48];
    const char *v = af == AF_INET6 ? "ICMPv6" : "ICMP";

    icmp_error_text(af, type, code, text, sizeof(text));
    if (from == NULL || from[0] == '\0')
        snprintf(buf, len, "%s (%s %u/%u)", text, v, type, code);
    else
        snprintf(buf, len, "%s%s %s (%s %u/%u)", text,
                 icmp_error_errno(af, type, code) == EACCES ? " by" : ", reported by", from, v,
                 type, code);
    return buf;
}

static int rtt_cmp(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

void icmp_rtt_figures(int32_t *rtt, size_t n, int64_t *min_us, int64_t *med_us, int64_t *max_us)
{
    if (n == 0) {
        *min_us = *med_us = *max_us = 0;
        return;
    }
    qsort(rtt, n, sizeof(*rtt), rtt_cmp);
    *min_us = rtt[0];
    *max_us = rtt[n - 1];
    *med_us = n % 2 ? rtt[n / 2] : ((int64_t)rtt[n / 2 - 1] + rtt[n / 2]) / 2;
}

/* The detail is made for every result, tens of thousands a second: a
 * few appends, not a printf per figure (that was a tenth of the CPU of an
 * attempt against loopback). Truncates like snprintf, always terminated. */
struct fmt {
    char *buf;
    size_t len, off;
};

static void put_str(struct fmt *f, const char *s)
{
    while (*s != '\0' && f->off + 1 < f->len)
        f->buf[f->off++] = *s++;
    if (f->len > 0)
        f->buf[f->off < f->len ? f->off : f->len - 1] = '\0';
}

static void put_uint(struct fmt *f, uint64_t v, int min_digits)
{
    char d[24];
    int n = 0;

    do {
        d[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0 || n < min_digits);
    while (n > 0 && f->off + 1 < f->len)
        f->buf[f->off++] = d[--n];
    if (f->len > 0)
        f->buf[f->off < f->len ? f->off : f->len - 1] = '\0';
}

/* µs as ms with three decimals: "0.031", "1520.000". */
static void put_ms(struct fmt *f, int64_t us)
{
    uint64_t u = us < 0 ? 0 : (uint64_t)us;

    put_uint(f, u / 1000, 1);
    put_str(f, ".");
    put_uint(f, u % 1000, 3);
}

static void put_more(struct fmt *f, unsigned n, const char *one, const char *many)
{
    if (n == 0)
        return;
    put_str(f, ", ");
    put_uint(f, n, 1);
    put_str(f, " ");
    put_str(f, n == 1 ? one : many);
}

void icmp_format_figures(const struct icmp_figures *fig, char *buf, size_t len)
{
    struct fmt f = {buf, len, 0};

    if (len > 0)
        buf[0] = '\0';
    put_uint(&f, fig->sent, 1);
    put_str(&f, " sent, ");
    put_uint(&f, fig->received, 1);
    put_str(&f, " received");
    if (fig->sent > 0) {
        unsigned lost = fig->sent - (fig->received < fig->sent ? fig->received : fig->sent);
        put_str(&f, ", ");
        if ((lost * 100U) % fig->sent == 0) {
            put_uint(&f, lost * 100U / fig->sent, 1);
        } else {
            unsigned tenths = (unsigned)((lost * 1000ULL + fig->sent / 2) / fig->sent);
            put_uint(&f, tenths / 10, 1);
            put_str(&f, ".");
            put_uint(&f, tenths % 10, 1);
        }
        put_str(&f, "% loss");
    }
    if (fig->received > 0) {
        put_str(&f, ", rtt min/med/max ");
        put_ms(&f, fig->min_us);
        put_str(&f, "/");
        put_ms(&f, fig->med_us);
        put_str(&f, "/");
        put_ms(&f, fig->max_us);
        put_str(&f, " ms");
    }
    put_more(&f, fig->dup, "duplicate", "duplicates");
    put_more(&f, fig->late, "late", "late");
    put_more(&f, fig->foreign, "foreign", "foreign");
}
