/* SPDX-License-Identifier: ISC */
/* Unit tests for icmp.c: echo packets built and read back, checksums,
 * cookies, ICMP errors classified by their own type and code, and the
 * figures and detail of a ping attempt. */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "icmp.h"
#include "unit.h"

static void test_checksum_rfc1071(void)
{
    /* RFC 1071's example: the sum of 0001 f203 f4f5 f6f7 is ddf2 */
    static const unsigned char b[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};

    UNIT_EQ_INT(icmp_checksum(b, sizeof(b)), (uint16_t)~0xddf2);
    /* an odd length pads with a zero byte */
    UNIT_EQ_INT(icmp_checksum(b, 1), (uint16_t)~0x0000);
    UNIT_EQ_INT(icmp_checksum(b, 3), (uint16_t)~0xf201);
}

static void test_build_and_read_v4(void)
{
    unsigned char pkt[20 + 8 + 56];
    unsigned char *icmp = pkt + 20;
    struct icmp_echo e;
    size_t n =
        icmp_echo_build(icmp, sizeof(pkt) - 20, AF_INET, 0x1234, 77, 0x0102030405060708ULL, 56);

    UNIT_EQ_INT(n, 64);
    UNIT_EQ_INT(icmp[0], 8);
    UNIT_EQ_INT(icmp_checksum(icmp, n), 0); /* a valid checksum sums to 0 */
    UNIT_EQ_INT(icmp[8], 1);
    UNIT_EQ_INT(icmp[15], 8);
    UNIT_EQ_INT(icmp[8 + 20], 20); /* the pattern: byte i of the payload is i */
    /* the request quoted in an error reads back */
    UNIT_CHECK(icmp_read_quoted(AF_INET, icmp, n, &e));
    UNIT_EQ_INT(e.id, 0x1234);
    UNIT_EQ_INT(e.seq, 77);
    UNIT_EQ_INT(icmp_cookie_match(&e, 0x0102030405060708ULL), 1);
    UNIT_EQ_INT(icmp_cookie_match(&e, 0x0102030405060709ULL), 0);
    UNIT_CHECK(!icmp_read_quoted(AF_INET6, icmp, n, &e));
    /* only 8 bytes quoted (RFC 792's minimum): the cookie cannot tell */
    UNIT_CHECK(icmp_read_quoted(AF_INET, icmp, 8, &e));
    UNIT_EQ_INT(icmp_cookie_match(&e, 0x0102030405060708ULL), -1);
    UNIT_CHECK(!icmp_read_quoted(AF_INET, icmp, 7, &e));

    /* as a reply, behind an IPv4 header (a raw socket's read) */
    icmp[0] = 0;
    icmp[2] = icmp[3] = 0;
    {
        uint16_t c = icmp_checksum(icmp, n);
        icmp[2] = (unsigned char)(c >> 8);
        icmp[3] = (unsigned char)c;
    }
    memset(pkt, 0, 20);
    pkt[0] = 0x45;
    pkt[9] = 1;
    UNIT_EQ_INT(icmp_read_reply(AF_INET, true, pkt, sizeof(pkt), sizeof(pkt), &e), ICMP_READ_REPLY);
    UNIT_EQ_INT(e.seq, 77);
    UNIT_EQ_INT(e.len, 56);
    /* a datagram socket's read has no IP header */
    UNIT_EQ_INT(icmp_read_reply(AF_INET, false, icmp, n, n, &e), ICMP_READ_REPLY);
    /* a flipped bit: the raw socket checks the checksum, on a whole packet */
    pkt[40] ^= 1;
    UNIT_EQ_INT(icmp_read_reply(AF_INET, true, pkt, sizeof(pkt), sizeof(pkt), &e), ICMP_READ_BAD);
    UNIT_EQ_INT(icmp_read_reply(AF_INET, true, pkt, 40, sizeof(pkt), &e), ICMP_READ_REPLY);
    pkt[40] ^= 1;
    /* a bad header length, a short packet, another type */
    pkt[0] = 0x44;
    UNIT_EQ_INT(icmp_read_reply(AF_INET, true, pkt, sizeof(pkt), sizeof(pkt), &e), ICMP_READ_BAD);
    pkt[0] = 0x4f; /* 60 bytes of header: past the ICMP header */
    UNIT_EQ_INT(icmp_read_reply(AF_INET, true, pkt, 62, 62, &e), ICMP_READ_BAD);
    pkt[0] = 0x45;
    UNIT_EQ_INT(icmp_read_reply(AF_INET, true, pkt, 27, 27, &e), ICMP_READ_BAD);
    icmp[0] = 8;
    UNIT_EQ_INT(icmp_read_reply(AF_INET, false, icmp, n, n, &e), ICMP_READ_OTHER);
}

static void test_build_and_read_v6(void)
{
    unsigned char b[8 + 8];
    struct icmp_echo e;

    UNIT_EQ_INT(icmp_echo_build(b, sizeof(b), AF_INET6, 7, 65535, 42, 8), 16);
    UNIT_EQ_INT(b[0], 128);
    UNIT_EQ_INT(b[2] | b[3], 0); /* the kernel computes it over the pseudo-header */
    UNIT_CHECK(icmp_read_quoted(AF_INET6, b, sizeof(b), &e));
    UNIT_EQ_INT(e.seq, 65535);
    UNIT_EQ_INT(icmp_cookie_match(&e, 42), 1);
    b[0] = 129;
    UNIT_EQ_INT(icmp_read_reply(AF_INET6, false, b, sizeof(b), sizeof(b), &e), ICMP_READ_REPLY);
    b[0] = 0; /* an IPv4 reply type means nothing on ICMPv6 */
    UNIT_EQ_INT(icmp_read_reply(AF_INET6, false, b, sizeof(b), sizeof(b), &e), ICMP_READ_OTHER);
    /* too small a buffer or size: nothing built */
    UNIT_EQ_INT(icmp_echo_build(b, sizeof(b), AF_INET6, 7, 1, 42, 9), 0);
    UNIT_EQ_INT(icmp_echo_build(b, sizeof(b), AF_INET6, 7, 1, 42, 7), 0);
}

static void test_cookie_differs_per_echo(void)
{
    uint64_t c = icmp_cookie(99, 1, 0, 5);

    UNIT_CHECK(c == icmp_cookie(99, 1, 0, 5));
    UNIT_CHECK(c != icmp_cookie(98, 1, 0, 5)); /* another prober's secret */
    UNIT_CHECK(c != icmp_cookie(99, 2, 0, 5)); /* the same seq, a later attempt */
    UNIT_CHECK(c != icmp_cookie(99, 1, 1, 5)); /* another socket */
    UNIT_CHECK(c != icmp_cookie(99, 1, 0, 6));
}

static void test_error_classes(void)
{
    char buf[64];

    UNIT_EQ_INT(icmp_error_errno(AF_INET, 3, 0), ENETUNREACH);
    UNIT_EQ_INT(icmp_error_errno(AF_INET, 3, 1), EHOSTUNREACH);
    UNIT_EQ_INT(icmp_error_errno(AF_INET, 3, 3), ECONNREFUSED);
    UNIT_EQ_INT(icmp_error_errno(AF_INET, 3, 4), EMSGSIZE);
    /* administratively prohibited: the kernel says EHOSTUNREACH, we say EACCES */
    UNIT_EQ_INT(icmp_error_errno(AF_INET, 3, 9), EACCES);
    UNIT_EQ_INT(icmp_error_errno(AF_INET, 3, 10), EACCES);
    UNIT_EQ_INT(icmp_error_errno(AF_INET, 3, 13), EACCES);
    UNIT_EQ_INT(icmp_error_errno(AF_INET, 11, 0), EHOSTUNREACH);
    UNIT_EQ_INT(icmp_error_errno(AF_INET, 12, 0), EPROTO);
    UNIT_EQ_INT(icmp_error_errno(AF_INET, 3, 200), EHOSTUNREACH); /* a code yet unknown */
    UNIT_EQ_INT(icmp_error_errno(AF_INET, 4, 0), 0);              /* source quench: none */
    UNIT_EQ_INT(icmp_error_errno(AF_INET, 5, 1), 0);              /* a redirect */
    UNIT_EQ_INT(icmp_error_errno(AF_INET6, 1, 0), ENETUNREACH);
    UNIT_EQ_INT(icmp_error_errno(AF_INET6, 1, 1), EACCES);
    UNIT_EQ_INT(icmp_error_errno(AF_INET6, 1, 3), EHOSTUNREACH);
    UNIT_EQ_INT(icmp_error_errno(AF_INET6, 1, 4), ECONNREFUSED);
    UNIT_EQ_INT(icmp_error_errno(AF_INET6, 1, 6), EACCES);
    UNIT_EQ_INT(icmp_error_errno(AF_INET6, 2, 0), EMSGSIZE);
    UNIT_EQ_INT(icmp_error_errno(AF_INET6, 3, 0), EHOSTUNREACH);
    UNIT_EQ_INT(icmp_error_errno(AF_INET6, 4, 1), EPROTO);
    UNIT_EQ_INT(icmp_error_errno(AF_INET6, 135, 0), 0);
    UNIT_EQ_STR(icmp_error_text(AF_INET, 3, 13, buf, sizeof(buf)), "administratively prohibited");
    UNIT_EQ_STR(icmp_error_text(AF_INET, 11, 0, buf, sizeof(buf)), "time to live exceeded");
    UNIT_EQ_STR(icmp_error_text(AF_INET6, 3, 0, buf, sizeof(buf)), "hop limit exceeded");
    UNIT_EQ_STR(icmp_error_text(AF_INET6, 2, 0, buf, sizeof(buf)), "packet too big");
    UNIT_EQ_STR(icmp_error_text(AF_INET, 3, 99, buf, sizeof(buf)), "type 3 code 99");
}

static void test_rtt_figures(void)
{
    int32_t odd[] = {52, 31, 40, 45, 33};
    int32_t even[] = {40, 10, 30, 20};
    int32_t one[] = {7};
    int64_t mn, md, mx;

    icmp_rtt_figures(odd, 5, &mn, &md, &mx);
    UNIT_EQ_INT(mn, 31);
    UNIT_EQ_INT(md, 40);
    UNIT_EQ_INT(mx, 52);
    icmp_rtt_figures(even, 4, &mn, &md, &mx);
    UNIT_EQ_INT(md, 25); /* the mean of the two middle ones */
    icmp_rtt_figures(one, 1, &mn, &md, &mx);
    UNIT_EQ_INT(mn + md + mx, 21);
    icmp_rtt_figures(one, 0, &mn, &md, &mx);
    UNIT_EQ_INT(mn + md + mx, 0);
}

static void test_figures_text(void)
{
    struct icmp_figures f = {.sent = 5, .received = 4, .min_us = 31, .med_us = 40, .max_us = 52};
    char buf[192];

    icmp_format_figures(&f, buf, sizeof(buf));
    UNIT_EQ_STR(buf, "5 sent, 4 received, 20% loss, rtt min/med/max 0.031/0.040/0.052 ms");
    f = (struct icmp_figures){.sent = 3,
                              .received = 2,
                              .min_us = 1500,
                              .med_us = 20250,
                              .max_us = 1234567,
                              .dup = 1,
                              .late = 2,
                              .foreign = 3};
    icmp_format_figures(&f, buf, sizeof(buf));
    UNIT_EQ_STR(buf, "3 sent, 2 received, 33.3% loss, rtt min/med/max 1.500/20.250/1234.567 ms, "
                     "1 duplicate, 2 late, 3 foreign");
    f = (struct icmp_figures){.sent = 5, .dup = 2};
    icmp_format_figures(&f, buf, sizeof(buf));
    UNIT_EQ_STR(buf, "5 sent, 0 received, 100% loss, 2 duplicates");
    f = (struct icmp_figures){.sent = 3, .received = 1, .min_us = 1, .med_us = 1, .max_us = 1};
    icmp_format_figures(&f, buf, sizeof(buf));
    UNIT_EQ_STR(buf, "3 sent, 1 received, 66.7% loss, rtt min/med/max 0.001/0.001/0.001 ms");
    f = (struct icmp_figures){0};
    icmp_format_figures(&f, buf, sizeof(buf));
    UNIT_EQ_STR(buf, "0 sent, 0 received");
    /* a short buffer truncates, never overruns */
    f = (struct icmp_figures){.sent = 5, .received = 4, .dup = 9, .late = 9, .foreign = 9};
    icmp_format_figures(&f, buf, 20);
    UNIT_EQ_STR(buf, "5 sent, 4 received,");
}

/* Who refused, in words: a prohibition "by" its sender, anything else
 * "reported by"; the family names the protocol; no sender, no words for
 * one; a short buffer truncates. */
static void test_error_origin(void)
{
    char buf[96];

    UNIT_EQ_STR(icmp_error_origin(AF_INET, 3, 1, "10.99.2.2", buf, sizeof(buf)),
                "host unreachable, reported by 10.99.2.2 (ICMP 3/1)");
    UNIT_EQ_STR(icmp_error_origin(AF_INET, 3, 13, "10.99.1.2", buf, sizeof(buf)),
                "administratively prohibited by 10.99.1.2 (ICMP 3/13)");
    UNIT_EQ_STR(icmp_error_origin(AF_INET6, 1, 0, "fd99:2::2", buf, sizeof(buf)),
                "no route to destination, reported by fd99:2::2 (ICMPv6 1/0)");
    UNIT_EQ_STR(icmp_error_origin(AF_INET6, 1, 1, "fd99:1::2", buf, sizeof(buf)),
                "administratively prohibited by fd99:1::2 (ICMPv6 1/1)");
    UNIT_EQ_STR(icmp_error_origin(AF_INET, 3, 3, "", buf, sizeof(buf)),
                "port unreachable (ICMP 3/3)");
    UNIT_EQ_STR(icmp_error_origin(AF_INET, 3, 99, NULL, buf, sizeof(buf)),
                "type 3 code 99 (ICMP 3/99)");
    UNIT_EQ_STR(icmp_error_origin(AF_INET, 11, 0, "10.99.1.2", buf, 20), "time to live exceed");
}

int main(int argc, char **argv)
{
    unit_init(argc, argv);
    UNIT_RUN(test_checksum_rfc1071);
    UNIT_RUN(test_build_and_read_v4);
    UNIT_RUN(test_build_and_read_v6);
    UNIT_RUN(test_cookie_differs_per_echo);
    UNIT_RUN(test_error_classes);
    UNIT_RUN(test_rtt_figures);
    UNIT_RUN(test_figures_text);
    UNIT_RUN(test_error_origin);
    return UNIT_END("icmp");
}
