/* SPDX-License-Identifier: ISC */
/* libFuzzer target: a packet off the network through dns_parse_response(),
 * against one of a few fixed queries, as probe_resolve.c hands it every
 * datagram or TCP message that arrives.
 *
 * Input: byte 0 picks the question name (bits 0-2) and the expectation
 * (bits 3-5), byte 1 the question type; the rest is the packet. The query
 * ID is fixed (FUZZ_DNS_ID) so seeds made by make_corpus.py get past the
 * ID check. */
#include <stdbool.h>

#include "dns.h"
#include "fuzz.h"

#define FUZZ_DNS_ID 0x4e44 /* "ND" */

/* The names tests/integration/dnsserver.py answers, so its real answers
 * are seeds; "." is the root, the shortest name there is. */
static const char *const fuzz_names[8] = {
    "ok.test", "cname.test", "mx.test", "txt.test", "big.test", "nodata.test", "dangle.test", ".",
};
static const uint16_t fuzz_types[] = {
    DNS_TYPE_A,   DNS_TYPE_AAAA, DNS_TYPE_MX,  DNS_TYPE_TXT,   DNS_TYPE_NS,
    DNS_TYPE_SOA, DNS_TYPE_PTR,  DNS_TYPE_ANY, DNS_TYPE_CNAME,
};
/* NULL and "" are "no expectation"; then address literals of each family
 * (compared as addresses) and substrings (compared as text). */
static const char *const fuzz_expects[8] = {
    NULL, "", "127.0.0.1", "::1", "mail.example", "ok.test", "hello", "127.0.1",
};

static struct dns_query fuzz_queries[8][sizeof(fuzz_types) / sizeof(fuzz_types[0])];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[128];

    (void)argc;
    (void)argv;
    for (size_t n = 0; n < 8; n++) {
        for (size_t t = 0; t < sizeof(fuzz_types) / sizeof(fuzz_types[0]); t++) {
            struct dns_query *q = &fuzz_queries[n][t];
            if (dns_query_init(q, fuzz_names[n], fuzz_types[t], err, sizeof(err)) < 0) {
                fprintf(stderr, "fuzz_dns: %s\n", err);
                abort();
            }
            q->id = FUZZ_DNS_ID;
            q->wire[0] = FUZZ_DNS_ID >> 8;
            q->wire[1] = FUZZ_DNS_ID & 0xff;
        }
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct dns_query *q;
    const char *expect;
    struct dns_answer ans;
    enum dns_reject reject;
    char rbuf[16];

    if (size < 2)
        return 0;
    q = &fuzz_queries[data[0] & 7][data[1] % (sizeof(fuzz_types) / sizeof(fuzz_types[0]))];
    expect = fuzz_expects[(data[0] >> 3) & 7];
    reject = dns_parse_response(q, data + 2, size - 2, expect, &ans);

    FUZZ_CHECK(strcmp(dns_reject_name(reject), "?") != 0);
    FUZZ_CHECK(fuzz_terminated(ans.text, sizeof(ans.text)));
    FUZZ_CHECK(fuzz_terminated(ans.chain_end, sizeof(ans.chain_end)));
    if (reject != DNS_REJECT_NONE) {
        /* dns.h: a packet that is not ours says nothing */
        FUZZ_CHECK(ans.nmatch == 0 && ans.text[0] == '\0');
        return 0;
    }
    FUZZ_CHECK(ans.rcode >= 0 && ans.rcode <= 15);
    FUZZ_CHECK(fuzz_terminated(dns_rcode_name(ans.rcode, rbuf, sizeof(rbuf)), 16));
    FUZZ_CHECK(ans.outcome == dns_outcome_from_rcode(ans.rcode, ans.nmatch));
    /* each answer record is counted at most once */
    FUZZ_CHECK(ans.nmatch <= ans.ancount);
    /* a CNAME loop is followed at most DNS_CHAIN_MAX (16, dns.c) times */
    FUZZ_CHECK(ans.nchain <= 16);
    if (ans.nmatch == 0)
        FUZZ_CHECK(ans.text[0] == '\0');
    if (expect == NULL || expect[0] == '\0')
        FUZZ_CHECK(ans.expect_found);
    /* an expectation can only be met by an answer or a chain name */
    if (ans.expect_found && expect != NULL && expect[0] != '\0')
        FUZZ_CHECK(ans.nmatch > 0 || ans.nchain > 0);
    return 0;
}
