/* SPDX-License-Identifier: ISC */
/* libFuzzer target: what icmp.c reads from an ICMP socket, on any bytes
 * a peer can send: an echo reply as a datagram or a raw IPv4 socket hands
 * it (whole or cut short), the request an ICMP error quotes, the error's
 * type and code, and the figures a ping attempt turns into its detail. */
#include <stdbool.h>
#include <sys/socket.h>

#include "fuzz.h"
#include "icmp.h"

/* Byte 0: bit 0 IPv6, bit 1 a raw IPv4 socket's read (IP header first),
 * bit 2 the read was cut short (the packet was longer by the bits above);
 * then the datagram. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *pkt;
    size_t n, full;
    int af;
    bool iphdr;
    struct icmp_echo e;
    char text[64];

    if (size < 1)
        return 0;
    af = data[0] & 1 ? AF_INET6 : AF_INET;
    iphdr = (data[0] & 2) != 0;
    pkt = data + 1;
    n = size - 1;
    full = data[0] & 4 ? n + (data[0] >> 3) : n;

    if (icmp_read_reply(af, iphdr, pkt, n, full, &e) == ICMP_READ_REPLY) {
        /* the payload lies inside what was read, after the 8-byte header */
        FUZZ_CHECK(e.data >= pkt + ICMP_HDR_LEN && e.data + e.len == pkt + n);
        FUZZ_CHECK(e.type == (af == AF_INET6 ? 129 : 0));
        FUZZ_CHECK(icmp_cookie_match(&e, icmp_cookie(1, 2, 3, e.seq)) >= -1);
        FUZZ_CHECK((e.len < ICMP_COOKIE_LEN) ==
                   (icmp_cookie_match(&e, icmp_cookie(1, 2, 3, e.seq)) == -1));
    }
    if (icmp_read_quoted(af, pkt, n, &e)) {
        FUZZ_CHECK(n >= ICMP_HDR_LEN && e.len == n - ICMP_HDR_LEN);
        FUZZ_CHECK(e.type == (af == AF_INET6 ? 128 : 8));
    }
    if (n >= 2) {
        int err = icmp_error_errno(af, pkt[0], pkt[1]);
        icmp_error_text(af, pkt[0], pkt[1], text, sizeof(text));
        FUZZ_CHECK(fuzz_terminated(text, sizeof(text)) && text[0] != '\0');
        FUZZ_CHECK(err >= 0);
    }
    /* a request built from the input reads back as itself */
    if (n >= 12) {
        unsigned char b[ICMP_HDR_LEN + 64];
        uint16_t id = (uint16_t)(pkt[0] << 8 | pkt[1]), seq = (uint16_t)(pkt[2] << 8 | pkt[3]);
        uint64_t cookie = 0;
        size_t sz = ICMP_SIZE_MIN + pkt[4] % 57, len;
        for (int i = 0; i < 8; i++)
            cookie = cookie << 8 | pkt[4 + i];
        len = icmp_echo_build(b, sizeof(b), af, id, seq, cookie, sz);
        FUZZ_CHECK(len == ICMP_HDR_LEN + sz);
        FUZZ_CHECK(icmp_read_quoted(af, b, len, &e) && e.id == id && e.seq == seq);
        FUZZ_CHECK(icmp_cookie_match(&e, cookie) == 1);
        if (af == AF_INET)
            FUZZ_CHECK(icmp_checksum(b, len) == 0);
    }
    /* an attempt's figures from the input: in order, and a terminated
     * detail in any room */
    if (n >= 20) {
        int32_t rtt[8];
        struct icmp_figures f = {0};
        size_t k = pkt[0] % 9, cap = 1 + pkt[1] % 200;
        char detail[200];
        for (size_t i = 0; i < k; i++)
            rtt[i] = (int32_t)((uint32_t)pkt[2 + 2 * i] << 8 | pkt[3 + 2 * i]) * 997;
        icmp_rtt_figures(rtt, k, &f.min_us, &f.med_us, &f.max_us);
        FUZZ_CHECK(f.min_us <= f.med_us && f.med_us <= f.max_us);
        f.sent = pkt[18];
        f.received = pkt[19] <= f.sent ? pkt[19] : f.sent;
        f.dup = pkt[1];
        f.late = pkt[2];
        f.foreign = pkt[3];
        icmp_format_figures(&f, detail, cap);
        FUZZ_CHECK(fuzz_terminated(detail, cap));
    }
    return 0;
}
