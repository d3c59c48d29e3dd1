/* SPDX-License-Identifier: ISC */
/* Unit tests of dns.c: queries as built, and hand-made response packets
 * (every rcode, no data, CNAME chains, TC, spoofed and broken packets)
 * checked against what the parser accepts and reports. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dns.h"
#include "resolv.h"
#include "log.h"
#include "unit.h"

#define F_QR 0x8000
#define F_TC 0x0200
#define F_RD 0x0100
#define F_RA 0x0080

/* A packet written byte by byte. */
struct pb {
    uint8_t b[8192];
    size_t n;
};

static void pb_u8(struct pb *p, unsigned v)
{
    p->b[p->n++] = (uint8_t)v;
}

static void pb_u16(struct pb *p, unsigned v)
{
    pb_u8(p, (v >> 8) & 0xff);
    pb_u8(p, v & 0xff);
}

static void pb_u32(struct pb *p, uint32_t v)
{
    pb_u16(p, v >> 16);
    pb_u16(p, v & 0xffff);
}

static void pb_bytes(struct pb *p, const void *d, size_t len)
{
    memcpy(p->b + p->n, d, len);
    p->n += len;
}

/* "ok.test" -> 2 'o' 'k' 4 't' 'e' 's' 't' 0, uncompressed */
static void pb_name(struct pb *p, const char *dotted)
{
    const char *s = dotted;

    while (*s != '\0') {
        size_t len = strcspn(s, ".");
        pb_u8(p, (unsigned)len);
        pb_bytes(p, s, len);
        s += len;
        if (*s == '.')
            s++;
    }
    pb_u8(p, 0);
}

static void pb_header(struct pb *p, unsigned id, unsigned flags, unsigned qd, unsigned an,
                      unsigned ns, unsigned ar)
{
    p->n = 0;
    pb_u16(p, id);
    pb_u16(p, flags);
    pb_u16(p, qd);
    pb_u16(p, an);
    pb_u16(p, ns);
    pb_u16(p, ar);
}

static void pb_question(struct pb *p, const char *name, unsigned type, unsigned cls)
{
    pb_name(p, name);
    pb_u16(p, type);
    pb_u16(p, cls);
}

/* An RR whose owner is a name (NULL: a pointer to the question name at
 * offset 12, as servers usually compress it). */
static void pb_rr(struct pb *p, const char *owner, unsigned type, const void *rdata, size_t rdlen)
{
    if (owner == NULL)
        pb_u16(p, 0xc00c);
    else
        pb_name(p, owner);
    pb_u16(p, type);
    pb_u16(p, 1); /* IN */
    pb_u32(p, 300);
    pb_u16(p, (unsigned)rdlen);
    pb_bytes(p, rdata, rdlen);
}

static void pb_rr_a(struct pb *p, const char *owner, const char *addr)
{
    uint8_t a[4];

    inet_pton(AF_INET, addr, a);
    pb_rr(p, owner, DNS_TYPE_A, a, 4);
}

/* rdata that is a name: build it in a scratch packet */
static void pb_rr_name(struct pb *p, const char *owner, unsigned type, const char *target)
{
    struct pb t = {.n = 0};

    pb_name(&t, target);
    pb_rr(p, owner, type, t.b, t.n);
}

/* The usual answer head for q: our id, QR RD RA, rcode, one question. */
static void pb_answer_head(struct pb *p, const struct dns_query *q, unsigned extra_flags,
                           unsigned rcode, unsigned ancount, const char *qname)
{
    pb_header(p, q->id, F_QR | F_RD | F_RA | extra_flags | rcode, 1, ancount, 0, 0);
    pb_question(p, qname, q->qtype, 1);
}

static struct dns_query query(const char *name, uint16_t qtype)
{
    struct dns_query q;
    char err[96];

    if (dns_query_init(&q, name, qtype, err, sizeof(err)) != 0) {
        fprintf(stderr, "dns_query_init(%s): %s\n", name, err);
        abort();
    }
    return q;
}

static void test_query_wire(void)
{
    struct dns_query q = query("ok.test", DNS_TYPE_A);
    static const uint8_t question[] = {2, 'o', 'k', 4, 't', 'e', 's', 't', 0, 0, 1, 0, 1};

    UNIT_EQ_INT(q.wire_len, 12 + sizeof(question));
    UNIT_EQ_INT(q.wire[0] << 8 | q.wire[1], q.id);
    UNIT_EQ_INT(q.wire[2], 0x01); /* QR 0, opcode QUERY, RD 1 */
    UNIT_EQ_INT(q.wire[3], 0x00);
    UNIT_EQ_INT(q.wire[4] << 8 | q.wire[5], 1); /* qdcount */
    UNIT_EQ_INT(q.wire[6] | q.wire[7] | q.wire[8] | q.wire[9] | q.wire[10] | q.wire[11], 0);
    UNIT_CHECK(memcmp(q.wire + 12, question, sizeof(question)) == 0);
    UNIT_EQ_INT(q.qname_len, 9);

    /* an absolute name is the same query */
    struct dns_query q2 = query("ok.test.", DNS_TYPE_MX);
    UNIT_EQ_INT(q2.wire_len, q.wire_len);
    UNIT_CHECK(memcmp(q2.wire + 12, question, 9) == 0);
    UNIT_EQ_INT(q2.wire[12 + 9] << 8 | q2.wire[12 + 10], DNS_TYPE_MX);
}

static void test_query_ids(void)
{
    struct dns_query q = query("ok.test", DNS_TYPE_A);
    unsigned distinct = 0;
    uint16_t prev = q.id;

    for (int i = 0; i < 32; i++) {
        dns_query_new_id(&q);
        UNIT_EQ_INT(q.wire[0] << 8 | q.wire[1], q.id);
        if (q.id != prev)
            distinct++;
        prev = q.id;
    }
    /* 32 draws from 65536 values: a repeat of the previous one is rare,
     * a constant or counter-free generator fails here */
    UNIT_CHECK(distinct >= 30);
}

static void test_query_bad_names(void)
{
    struct dns_query q;
    char err[96], longlabel[80], longname[300];

    UNIT_EQ_INT(dns_query_init(&q, "", DNS_TYPE_A, err, sizeof(err)), -1);
    UNIT_EQ_INT(dns_query_init(&q, NULL, DNS_TYPE_A, err, sizeof(err)), -1);
    memset(longlabel, 'a', 70);
    strcpy(longlabel + 70, ".test");
    UNIT_EQ_INT(dns_query_init(&q, longlabel, DNS_TYPE_A, err, sizeof(err)), -1);
    for (int i = 0; i < 60; i++)
        memcpy(longname + i * 5, "abcd.", 5);
    longname[299] = '\0';
    UNIT_EQ_INT(dns_query_init(&q, longname, DNS_TYPE_A, err, sizeof(err)), -1);
    UNIT_EQ_INT(dns_query_init(&q, "a..b", DNS_TYPE_A, err, sizeof(err)), -1);
    /* the root is a valid name */
    UNIT_EQ_INT(dns_query_init(&q, ".", DNS_TYPE_NS, err, sizeof(err)), 0);
    UNIT_EQ_INT(q.qname_len, 1);
}

static void test_ok_a(void)
{
    struct dns_query q = query("ok.test", DNS_TYPE_A);
    struct dns_answer a;
    struct pb p;

    pb_answer_head(&p, &q, 0, 0, 2, "ok.test");
    pb_rr_a(&p, NULL, "127.0.0.1");
    pb_rr_a(&p, "OK.TEST", "127.0.0.2"); /* owner case does not matter */
    UNIT_EQ_INT(dns_parse_response(&q, p.b, p.n, NULL, &a), DNS_REJECT_NONE);
    UNIT_EQ_INT(a.outcome, DNS_OK);
    UNIT_EQ_INT(a.rcode, 0);
    UNIT_CHECK(!a.tc);
    UNIT_EQ_INT(a.ancount, 2);
    UNIT_EQ_INT(a.nmatch, 2);
    UNIT_EQ_INT(a.nchain, 0);
    UNIT_EQ_STR(a.text, "127.0.0.1, 127.0.0.2");
    UNIT_CHECK(a.expect_found);

    /* a question written in other case is still ours */
    pb_answer_head(&p, &q, 0, 0, 1, "Ok.TeSt");
    pb_rr_a(&p, NULL, "127.0.0.1");
    UNIT_EQ_INT(dns_parse_response(&q, p.b, p.n, NULL, &a), DNS_REJECT_NONE);
    UNIT_EQ_INT(a.outcome, DNS_OK);
}

static void test_rcodes(void)
{
    static const struct {
        unsigned rcode;
        enum dns_outcome outcome;
        const char *name;
    } cases[] = {
        {1, DNS_FORMERR, "FORMERR"}, {2, DNS_SERVFAIL, "SERVFAIL"}, {3, DNS_NXDOMAIN, "NXDOMAIN"},
        {4, DNS_NOTIMP, "NOTIMP"},   {5, DNS_REFUSED, "REFUSED"},   {6, DNS_OTHER, "YXDOMAIN"},
        {9, DNS_OTHER, "NOTAUTH"},   {12, DNS_OTHER, "RCODE12"},
    };
    struct dns_query q = query("nx.test", DNS_TYPE_A);
    struct dns_answer a;
    struct pb p;
    char buf[16];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pb_answer_head(&p, &q, 0, cases[i].rcode, 0, "nx.test");
        UNIT_EQ_INT(dns_parse_response(&q, p.b, p.n, NULL, &a), DNS_REJECT_NONE);
        UNIT_EQ_INT(a.rcode, cases[i].rcode);
        UNIT_EQ_INT(a.outcome, cases[i].outcome);
        UNIT_EQ_STR(dns_rcode_name(a.rcode, buf, sizeof(buf)), cases[i].name);
        UNIT_EQ_INT(a.nmatch, 0);
    }
    /* an error rcode stays the outcome even with answers present */
    pb_answer_head(&p, &q, 0, 2, 1, "nx.test");
    pb_rr_a(&p, NULL, "127.0.0.1");
    UNIT_EQ_INT(dns_parse_response(&q, p.b, p.n, NULL, &a), DNS_REJECT_NONE);
    UNIT_EQ_INT(a.outcome, DNS_SERVFAIL);
    UNIT_EQ_INT(dns_outcome_from_rcode(0, 0), DNS_NODATA);
    UNIT_EQ_INT(dns_outcome_from_rcode(0, 3), DNS_OK);
}

static void test_nodata(void)
{
    struct dns_query q = query("nodata.test", DNS_TYPE_A);
    struct dns_answer a;
    struct pb p;
    static const uint8_t txt[] = {5, 'h', 'e', 'l', 'l', 'o'};

    pb_answer_head(&p, &q, 0, 0, 0, "nodata.test");
    UNIT_EQ_INT(dns_parse_response(&q, p.b, p.n, NULL, &a), DNS_REJECT_NONE);
    UNIT_EQ_INT(a.outcome, DNS_NODATA);
    UNIT_EQ_INT(a.ancount, 0);
    UNIT_EQ_STR(a.text, "");

    /* records of another type, or of our type for another name, do not
     * answer an A question */
    pb_answer_head(&p, &q, 0, 0, 2, "nodata.test");
    pb_rr(&p, NULL, DNS_TYPE_TXT, txt, sizeof(txt));
    pb_rr_a(&p, "elsewhere.test", "127.0.0.1");
    UNIT_EQ_INT(dns_parse_response(&q, p.b, p.n, NULL, &a), DNS_REJECT_NONE);
    UNIT_EQ_INT(a.outcome, DNS_NODATA);
    UNIT_EQ_INT(a.ancount, 2);
    UNIT_EQ_INT(a.nmatch, 0);
}

static void test_cname_chain(void)
{
    struct dns_query q = query("cname.test", DNS_TYPE_A);
    struct dns_answer a;
    struct pb p;

    /* cname.test -> mid.test -> ok.test A 127.0.0.1, listed out of order */
    pb_answer_head(&p, &q, 0, 0, 3, "cname.test");
    pb_rr_a(&p, "ok.test", "127.0.0.1");
    pb_rr_name(&p, "mid.test", DNS_TYPE_CNAME, "ok.test");
    pb_rr_name(&p, NULL, DNS_TYPE_CNAME, "mid.test");
    UNIT_EQ_INT(dns_parse_response(&q, p.b, p.n, "ok.test", &a), DNS_REJECT_NONE);
    UNIT_EQ_INT(a.outcome, DNS_OK);
    UNIT_EQ_INT(a.nmatch, 1);
    UNIT_EQ_INT(a.nchain, 2);
    UNIT_EQ_STR(a.chain_end, "ok.test.");
    UNIT_EQ_STR(a.text, "127.0.0.1");
    UNIT_CHECK(a.expect_found); /* a chain name satisfies expect */

    /* a chain that ends without an A record is no data */
    pb_answer_head(&p, &q, 0, 0, 1, "cname.test");
    pb_rr_name(&p, NULL, DNS_TYPE_CNAME, "ok.test");
    UNIT_EQ_INT(dns_parse_response(&q, p.b, p.n, NULL, &a), DNS_REJECT_NONE);
    UNIT_EQ_INT(a.outcome, DNS_NODATA);
    UNIT_EQ_INT(a.nchain, 1);

    /* a CNAME loop ends, as no data */
    pb_answer_head(&p, &q, 0, 0, 2, "cname.test");
    pb_rr_name(&p, NULL, DNS_TYPE_CNAME, "loop.test");
    pb_rr_name(&p, "loop.test", DNS_TYPE_CNAME, "cname.test");
    UNIT_EQ_INT(dns_parse_response(&q, p.b, p.n, NULL, &a), DNS_REJECT_NONE);
    UNIT_EQ_INT(a.outcome, DNS_NODATA);
    UNIT_EQ_INT(a.nmatch, 0);

    /* asking for the CNAME itself: the CNAME record is the answer */
    struct dns_query qc = query("cname.test", DNS_TYPE_CNAME);
    pb_answer_head(&p, &qc, 0, 0, 1, "cname.test");
    pb_rr_name(&p, NULL, DNS_TYPE_CNAME, "ok.test");
    UNIT_EQ_INT(dns_parse_response(&qc, p.b, p.n, NULL, &a), DNS_REJECT_NONE);
    UNIT_EQ_INT(a.outcome, DNS_OK);
    UNIT_EQ_INT(a.nchain, 0);
    UNIT_EQ_STR(a.text, "ok.test.");
}

static void test_tc(void)
{
    struct dns_query q = query("big.test", DNS_TYPE_A);
    struct dns_answer a;
    struct pb p;

    pb_answer_head(&p, &q, F_TC, 0, 0, "big.test");
    UNIT_EQ_INT(dns_parse_response(&q, p.b, p.n, NULL, &a), DNS_REJECT_NONE);
    UNIT_CHECK(a.tc);

    pb_answer_head(&p, &q, 0, 0, 0, "big.test");
    UNIT_EQ_INT(dns_parse_response(&q, p.b, p.n, NULL, &a), DNS_REJECT_NONE);
    UNIT_CHECK(!a.tc);
}

static void test_record_text(void)
{
    struct dns_answer a;
    struct pb p;
    uint8_t v6[16];

    struct dns_query qmx = query("mx.test", DNS_TYPE_MX);
    struct pb rd = {.n = 0};
    pb_u16(&rd, 10);
    pb_name(&rd, "mail.example");
    pb_answer_head(&p, &qmx, 0, 0, 1, "mx.test");
    pb_rr(&p, NULL, DNS_TYPE_MX, rd.b, rd.n);
    UNIT_EQ_INT(dns_parse_response(&qmx, p.b, p.n, "MAIL.example", &a), DNS_REJECT_NONE);
    UNIT_EQ_STR(a.text, "10 mail.example.");
    UNIT_CHECK(a.expect_found);
    UNIT_EQ_INT(dns_parse_response(&qmx, p.b, p.n, "other.example", &a), DNS_REJECT_NONE);
    UNIT_CHECK(!a.expect_found);

    /* TXT: strings unquoted and joined; control bytes escaped */
    struct dns_query qtxt = query("txt.test", DNS_TYPE_TXT);
    static const uint8_t txt[] = {6, 'h', 'e', 'l', 'l', 'o', ' ', 5, 'w', 'o', 'r', 'l', 'd'};
    static const uint8_t txt2[] = {3, 'a', '\n', '"'};
    pb_answer_head(&p, &qtxt, 0, 0, 2, "txt.test");
    pb_rr(&p, NULL, DNS_TYPE_TXT, txt, sizeof(txt));
    pb_rr(&p, NULL, DNS_TYPE_TXT, txt2, sizeof(txt2));
    UNIT_EQ_INT(dns_parse_response(&qtxt, p.b, p.n, "lo wor", &a), DNS_REJECT_NONE);
    UNIT_EQ_STR(a.text, "hello world, a\\010\"");
    UNIT_CHECK(a.expect_found);

    /* AAAA as an address, compared as one */
    struct dns_query q6 = query("v6.test", DNS_TYPE_AAAA);
    inet_pton(AF_INET6, "::1", v6);
    pb_answer_head(&p, &q6, 0, 0, 1, "v6.test");
    pb_rr(&p, NULL, DNS_TYPE_AAAA, v6, 16);
    UNIT_EQ_INT(dns_parse_response(&q6, p.b, p.n, "0:0::1", &a), DNS_REJECT_NONE);
    UNIT_EQ_STR(a.text, "::1");
    UNIT_CHECK(a.expect_found);

    /* NS / PTR / SOA */
    struct dns_query qsoa = query("test", DNS_TYPE_SOA);
    struct pb soa = {.n = 0};
    pb_name(&soa, "ns.test");
    pb_name(&soa, "hostmaster.test");
    for (int i = 0; i < 5; i++)
        pb_u32(&soa, 100 + (uint32_t)i);
    pb_answer_head(&p, &qsoa, 0, 0, 1, "test");
    pb_rr(&p, NULL, DNS_TYPE_SOA, soa.b, soa.n);
    UNIT_EQ_INT(dns_parse_response(&qsoa, p.b, p.n, NULL, &a), DNS_REJECT_NONE);
    UNIT_EQ_STR(a.text, "ns.test. hostmaster.test. 100 101 102 103 104");
}

static void test_expect_addresses(void)
{
    struct dns_query q = query("ok.test", DNS_TYPE_A);
    struct dns_answer a;
    struct pb p;
    uint8_t v4[4] = {127, 0, 0, 1};

    pb_answer_head(&p, &q, 0, 0, 1, "ok.test");
    pb_rr_a(&p, NULL, "127.0.0.10");
    /* 127.0.0.1 is a substring of 127.0.0.10 but not the same address */
    UNIT_EQ_INT(dns_parse_response(&q, p.b, p.n, "127.0.0.1", &a), DNS_REJECT_NONE);
    UNIT_CHECK(!a.expect_found);
    UNIT_EQ_INT(dns_parse_response(&q, p.b, p.n, "127.0.0.10", &a), DNS_REJECT_NONE);
    UNIT_CHECK(a.expect_found);
    UNIT_EQ_INT(dns_parse_response(&q, p.b, p.n, "", &a), DNS_REJECT_NONE);
    UNIT_CHECK(a.expect_found);

    UNIT_CHECK(dns_expect_match_addr("127.0.0.1", AF_INET, v4));
    UNIT_CHECK(!dns_expect_match_addr("127.0.0.9", AF_INET, v4));
    UNIT_CHECK(dns_expect_match_addr("127.0.", AF_INET, v4)); /* not an address: substring */
    UNIT_CHECK(!dns_expect_match_addr("::1", AF_INET, v4));
    UNIT_CHECK(dns_expect_match_addr(NULL, AF_INET, v4));
}

static void test_text_truncated(void)
{
    struct dns_query q = query("big.test", DNS_TYPE_A);
    struct dns_answer a;
    struct pb p;
    char addr[32];

    pb_answer_head(&p, &q, 0, 0, 100, "big.test");
    for (int i = 0; i < 100; i++) {
        snprintf(addr, sizeof(addr), "127.0.1.%d", i);
        pb_rr_a(&p, NULL, addr);
    }
    /* the last address is still found although the text list is cut */
    UNIT_EQ_INT(dns_parse_response(&q, p.b, p.n, "127.0.1.99", &a), DNS_REJECT_NONE);
    UNIT_EQ_INT(a.nmatch, 100);
    UNIT_CHECK(a.expect_found);
    UNIT_CHECK(strlen(a.text) < sizeof(a.text));
    UNIT_CHECK(strcmp(a.text + strlen(a.text) - 3, "...") == 0);
    UNIT_CHECK(strncmp(a.text, "127.0.1.0, 127.0.1.1, ", 22) == 0);
}

static void test_wrong_id_and_flags(void)
{
    struct dns_query q = query("ok.test", DNS_TYPE_A);
    struct dns_answer a;
    struct pb p;

    pb_header(&p, (q.id + 1) & 0xffff, F_QR | F_RD, 1, 1, 0, 0);
    pb_question(&p, "ok.test", DNS_TYPE_A, 1);
    pb_rr_a(&p, NULL, "127.0.0.1");
    UNIT_EQ_INT(dns_parse_response(&q, p.b, p.n, NULL, &a), DNS_REJECT_WRONG_ID);
    UNIT_EQ_INT(a.outcome, DNS_MALFORMED);

    /* our own query echoed back (QR clear) is not an answer */
    UNIT_EQ_INT(dns_parse_response(&q, q.wire, q.wire_len, NULL, &a), DNS_REJECT_NOT_RESPONSE);

    /* opcode other than QUERY */
    pb_header(&p, q.id, F_QR | (4 << 11), 1, 0, 0, 0);
    pb_question(&p, "ok.test", DNS_TYPE_A, 1);
    UNIT_EQ_INT(dns_parse_response(&q, p.b, p.n, NULL, &a), DNS_REJECT_NOT_RESPONSE);
}

static void test_wrong_question(void)
{
    struct dns_query q = query("ok.test", DNS_TYPE_A);
    struct dns_answer a;
    struct pb p;

    /* another name */
    pb_header(&p, q.id, F_QR, 1, 1, 0, 0);
    pb_question(&p, "evil.test", DNS_TYPE_A, 1);
    pb_rr_a(&p, NULL, "127.0.0.66");
    UNIT_EQ_INT(dns_parse_response(&q, p.b, p.n, NULL, &a), DNS_REJECT_WRONG_QUESTION);
    /* a longer name with ours as a suffix */
    pb_header(&p, q.id, F_QR, 1, 0, 0, 0);
    pb_question(&p, "x.ok.test", DNS_TYPE_A, 1);
    UNIT_EQ_INT(dns_parse_response(&q, p.b, p.n, NULL, &a), DNS_REJECT_WRONG_QUESTION);
    /* another type */
    pb_header(&p, q.id, F_QR, 1, 0, 0, 0);
    pb_question(&p, "ok.test", DNS_TYPE_AAAA, 1);
    UNIT_EQ_INT(dns_parse_response(&q, p.b, p.n, NULL, &a), DNS_REJECT_WRONG_QUESTION);
    /* another class (CH) */
    pb_header(&p, q.id, F_QR, 1, 0, 0, 0);
    pb_question(&p, "ok.test", DNS_TYPE_A, 3);
    UNIT_EQ_INT(dns_parse_response(&q, p.b, p.n, NULL, &a), DNS_REJECT_WRONG_QUESTION);
    /* two questions, ours among them */
    pb_header(&p, q.id, F_QR, 2, 0, 0, 0);
    pb_question(&p, "ok.test", DNS_TYPE_A, 1);
    pb_question(&p, "ok.test", DNS_TYPE_A, 1);
    UNIT_EQ_INT(dns_parse_response(&q, p.b, p.n, NULL, &a), DNS_REJECT_WRONG_QUESTION);
    /* no question with NOERROR or SERVFAIL: not ours */
    pb_header(&p, q.id, F_QR | 0, 0, 0, 0, 0);
    UNIT_EQ_INT(dns_parse_response(&q, p.b, p.n, NULL, &a), DNS_REJECT_WRONG_QUESTION);
    pb_header(&p, q.id, F_QR | 2, 0, 0, 0, 0);
    UNIT_EQ_INT(dns_parse_response(&q, p.b, p.n, NULL, &a), DNS_REJECT_WRONG_QUESTION);
    /* ... but FORMERR and NOTIMP may come without the question */
    pb_header(&p, q.id, F_QR | 1, 0, 0, 0, 0);
    UNIT_EQ_INT(dns_parse_response(&q, p.b, p.n, NULL, &a), DNS_REJECT_NONE);
    UNIT_EQ_INT(a.outcome, DNS_FORMERR);
    pb_header(&p, q.id, F_QR | 4, 0, 0, 0, 0);
    UNIT_EQ_INT(dns_parse_response(&q, p.b, p.n, NULL, &a), DNS_REJECT_NONE);
    UNIT_EQ_INT(a.outcome, DNS_NOTIMP);
}

static void test_truncated_packets(void)
{
    struct dns_query q = query("mx.test", DNS_TYPE_MX);
    struct dns_answer a;
    struct pb p, rd = {.n = 0};

    pb_u16(&rd, 10);
    pb_name(&rd, "mail.example");
    pb_answer_head(&p, &q, 0, 0, 2, "mx.test");
    pb_rr(&p, NULL, DNS_TYPE_MX, rd.b, rd.n);
    pb_rr(&p, NULL, DNS_TYPE_MX, rd.b, rd.n);
    UNIT_EQ_INT(dns_parse_response(&q, p.b, p.n, NULL, &a), DNS_REJECT_NONE);
    UNIT_EQ_INT(a.nmatch, 2);
    /* every proper prefix of the packet is refused */
    for (size_t len = 0; len < p.n; len++) {
        enum dns_reject r = dns_parse_response(&q, p.b, len, NULL, &a);
        if (r == DNS_REJECT_NONE) {
            fprintf(stderr, "prefix of %zu bytes accepted\n", len);
            UNIT_CHECK(r != DNS_REJECT_NONE);
        }
    }
    UNIT_EQ_INT(dns_parse_response(&q, p.b, 11, NULL, &a), DNS_REJECT_UNPARSABLE);
}

static void test_empty_buffer(void)
{
    struct dns_query q = query("ok.test", DNS_TYPE_A);
    struct dns_answer a;
    uint8_t one = 0;

    UNIT_EQ_INT(dns_parse_response(&q, NULL, 0, NULL, &a), DNS_REJECT_UNPARSABLE);
    UNIT_EQ_INT(dns_parse_response(&q, &one, 0, NULL, &a), DNS_REJECT_UNPARSABLE);
    UNIT_EQ_INT(dns_parse_response(&q, &one, 1, NULL, &a), DNS_REJECT_UNPARSABLE);
}

static void test_compression_loop(void)
{
    struct dns_query q = query("ok.test", DNS_TYPE_A);
    struct dns_answer a;
    struct pb p;
    size_t at;

    /* the answer's owner is a pointer to itself */
    pb_answer_head(&p, &q, 0, 0, 1, "ok.test");
    at = p.n;
    pb_u16(&p, 0xc000 | (unsigned)at);
    pb_u16(&p, DNS_TYPE_A);
    pb_u16(&p, 1);
    pb_u32(&p, 300);
    pb_u16(&p, 4);
    pb_u32(&p, 0x7f000001);
    UNIT_EQ_INT(dns_parse_response(&q, p.b, p.n, NULL, &a), DNS_REJECT_UNPARSABLE);

    /* two pointers pointing at each other, in the question */
    pb_header(&p, q.id, F_QR, 1, 0, 0, 0);
    pb_u8(&p, 2);
    pb_bytes(&p, "ok", 2);
    pb_u16(&p, 0xc000 | 17); /* -> the pointer below */
    pb_u16(&p, 0xc000 | 12); /* -> "ok" again */
    pb_u16(&p, DNS_TYPE_A);
    pb_u16(&p, 1);
    UNIT_EQ_INT(dns_parse_response(&q, p.b, p.n, NULL, &a), DNS_REJECT_UNPARSABLE);

    /* a pointer beyond the end of the packet */
    pb_answer_head(&p, &q, 0, 0, 1, "ok.test");
    pb_u16(&p, 0xc000 | 0x3fff);
    pb_u16(&p, DNS_TYPE_A);
    pb_u16(&p, 1);
    pb_u32(&p, 300);
    pb_u16(&p, 4);
    pb_u32(&p, 0x7f000001);
    UNIT_EQ_INT(dns_parse_response(&q, p.b, p.n, NULL, &a), DNS_REJECT_UNPARSABLE);
}

static void test_counts_beyond_data(void)
{
    struct dns_query q = query("ok.test", DNS_TYPE_A);
    struct dns_answer a;
    struct pb p;

    pb_answer_head(&p, &q, 0, 0, 5, "ok.test");
    pb_rr_a(&p, NULL, "127.0.0.1");
    UNIT_EQ_INT(dns_parse_response(&q, p.b, p.n, NULL, &a), DNS_REJECT_UNPARSABLE);

    /* qdcount larger than the data */
    pb_header(&p, q.id, F_QR, 3, 0, 0, 0);
    pb_question(&p, "ok.test", DNS_TYPE_A, 1);
    UNIT_EQ_INT(dns_parse_response(&q, p.b, p.n, NULL, &a), DNS_REJECT_UNPARSABLE);

    /* an rdlength running past the end */
    pb_answer_head(&p, &q, 0, 0, 1, "ok.test");
    pb_u16(&p, 0xc00c);
    pb_u16(&p, DNS_TYPE_A);
    pb_u16(&p, 1);
    pb_u32(&p, 300);
    pb_u16(&p, 200);
    pb_u32(&p, 0x7f000001);
    UNIT_EQ_INT(dns_parse_response(&q, p.b, p.n, NULL, &a), DNS_REJECT_UNPARSABLE);

    /* an A record with 3 bytes of data */
    pb_answer_head(&p, &q, 0, 0, 1, "ok.test");
    pb_rr(&p, NULL, DNS_TYPE_A, "\x7f\0\0", 3);
    UNIT_EQ_INT(dns_parse_response(&q, p.b, p.n, NULL, &a), DNS_REJECT_UNPARSABLE);
}

/* Random bytes and bit-flipped answers: nothing crashes (the sanitizer
 * build checks memory), random junk is never accepted, and whatever is
 * accepted is a well-formed summary. */
static void test_junk(void)
{
    struct dns_query q = query("cname.test", DNS_TYPE_A);
    struct dns_answer a;
    struct pb p, m;
    unsigned accepted = 0;

    srandom(42);
    for (int i = 0; i < 3000; i++) {
        size_t len = (size_t)(random() % 600);
        for (size_t j = 0; j < len; j++)
            m.b[j] = (uint8_t)random();
        if (len >= 4) { /* get past the header checks into ldns */
            m.b[0] = (uint8_t)(q.id >> 8);
            m.b[1] = (uint8_t)q.id;
            m.b[2] = 0x80 | (m.b[2] & 0x07);
        }
        UNIT_CHECK(dns_parse_response(&q, m.b, len, "x", &a) != DNS_REJECT_NONE);
    }

    pb_answer_head(&p, &q, 0, 0, 2, "cname.test");
    pb_rr_name(&p, NULL, DNS_TYPE_CNAME, "ok.test");
    pb_rr_a(&p, "ok.test", "127.0.0.1");
    for (int i = 0; i < 20000; i++) {
        m = p;
        for (int k = 0; k < 1 + (int)(random() % 3); k++) {
            size_t at = 2 + (size_t)random() % (p.n - 2); /* keep the id */
            m.b[at] ^= (uint8_t)(1u << (random() % 8));
        }
        if (dns_parse_response(&q, m.b, m.n, "127.0.0.1", &a) == DNS_REJECT_NONE) {
            accepted++;
            UNIT_CHECK(strlen(a.text) < sizeof(a.text));
            UNIT_CHECK(a.rcode >= 0 && a.rcode <= 15);
            UNIT_CHECK(a.nmatch <= a.ancount || a.ancount == 0);
        }
    }
    UNIT_CHECK(accepted > 0); /* flips in TTLs and data still parse */
}

/* resolv.conf and the hosts file as the stub resolver reads them
 * (resolv.c): the first usable nameserver line (address, address:port,
 * [v6]:port), at most three, comments; none: 127.0.0.1:53; hosts lines
 * without an address are skipped and counted in the note. */
static void test_resolvconf(void)
{
    char path[] = "/tmp/test_dns_resolvXXXXXX", hpath[] = "/tmp/test_dns_hostsXXXXXX";
    int fd = mkstemp(path), hfd = mkstemp(hpath);
    union nd_sockaddr ns;
    socklen_t len = 0;
    char text[64], note[128];
    struct resolv_conf *c;
    FILE *f;

    UNIT_CHECK(fd >= 0 && hfd >= 0);
    f = fdopen(fd, "w");
    fputs("# generated\nsearch example.test\nnameserver not-an-address\n"
          "nameserver 127.0.0.53 ; comment\nnameserver 127.0.0.54\nnameserver ::1\n"
          "nameserver 127.0.0.55\n",
          f);
    fclose(f);
    f = fdopen(hfd, "w");
    fputs("127.0.0.1 localhost # comment\n::1 v6.test V6ALIAS.test\nnot-an-address x.test\n", f);
    fclose(f);
    c = resolv_conf_load(path, hpath, note, sizeof(note));
    UNIT_CHECK(c != NULL);
    resolv_conf_first_ns(c, &ns, &len);
    UNIT_EQ_INT(ns.sa.sa_family, AF_INET);
    UNIT_EQ_INT(len, sizeof(struct sockaddr_in));
    inet_ntop(AF_INET, &ns.sin.sin_addr, text, sizeof(text));
    UNIT_EQ_STR(text, "127.0.0.53");
    UNIT_EQ_INT(ntohs(ns.sin.sin_port), 53);
    UNIT_EQ_INT(resolv_conf_nameservers(c), 3);
    UNIT_EQ_INT(resolv_conf_hosts(c), 3);
    UNIT_CHECK(strstr(note, "1 line without an address skipped") != NULL);
    resolv_conf_free(c);

    f = fopen(path, "w");
    fputs("options edns0\nnameserver [::1]:5353\n", f);
    fclose(f);
    c = resolv_conf_load(path, "/nonexistent/hosts", note, sizeof(note));
    resolv_conf_first_ns(c, &ns, &len);
    UNIT_EQ_INT(ns.sa.sa_family, AF_INET6);
    UNIT_EQ_INT(ntohs(ns.sin6.sin6_port), 5353);
    UNIT_EQ_INT(resolv_conf_hosts(c), 0);
    UNIT_EQ_STR(note, "");
    resolv_conf_free(c);

    f = fopen(path, "w");
    fputs("#nameserver 127.0.0.99\nsearch x\n", f);
    fclose(f);
    c = resolv_conf_load(path, hpath, note, sizeof(note));
    resolv_conf_first_ns(c, &ns, &len);
    inet_ntop(AF_INET, &ns.sin.sin_addr, text, sizeof(text));
    UNIT_EQ_STR(text, "127.0.0.1");
    UNIT_EQ_INT(resolv_conf_nameservers(c), 1);
    resolv_conf_free(c);
    unlink(path);
    unlink(hpath);

    c = resolv_conf_load("/nonexistent/resolv.conf", "/nonexistent/hosts", note, sizeof(note));
    resolv_conf_first_ns(c, &ns, &len);
    UNIT_EQ_INT(ns.sa.sa_family, AF_INET);
    UNIT_EQ_INT(ntohs(ns.sin.sin_port), 53);
    resolv_conf_free(c);
}

/* TC set and the packet cut inside a record (what some servers and
 * middleboxes send at 512 bytes): ldns cannot parse it, but header and
 * question say "ask again over TCP". Cut inside the question, or without
 * TC, or about another name, it is still refused. */
static void test_tc_cut_inside_a_record(void)
{
    struct dns_query q = query("big.test", DNS_TYPE_A);
    struct dns_answer a;
    struct pb p;
    size_t qend;

    pb_answer_head(&p, &q, F_TC, 0, 40, "big.test");
    qend = p.n;
    for (int i = 0; i < 40; i++)
        pb_rr_a(&p, NULL, "127.0.1.1");
    UNIT_EQ_INT(dns_parse_response(&q, p.b, 300, NULL, &a), DNS_REJECT_NONE);
    UNIT_CHECK(a.tc);
    UNIT_CHECK(a.cut);
    UNIT_EQ_INT(a.rcode, 0);
    UNIT_EQ_INT(a.nmatch, 0);
    /* every cut from the end of the question on is a TC answer */
    for (size_t len = qend; len < p.n; len++) {
        enum dns_reject r = dns_parse_response(&q, p.b, len, NULL, &a);
        UNIT_EQ_INT(r, DNS_REJECT_NONE);
        UNIT_CHECK(a.tc);
    }
    /* cut inside the question: not known to be ours */
    UNIT_EQ_INT(dns_parse_response(&q, p.b, qend - 1, NULL, &a), DNS_REJECT_UNPARSABLE);
    /* no TC: a cut packet is not an answer */
    p.b[2] &= (uint8_t)~0x02;
    UNIT_EQ_INT(dns_parse_response(&q, p.b, 300, NULL, &a), DNS_REJECT_UNPARSABLE);
    /* TC, cut, but another name in the question */
    pb_answer_head(&p, &q, F_TC, 0, 40, "bog.test");
    for (int i = 0; i < 40; i++)
        pb_rr_a(&p, NULL, "127.0.1.1");
    UNIT_EQ_INT(dns_parse_response(&q, p.b, 300, NULL, &a), DNS_REJECT_UNPARSABLE);
    /* the name in another letter case is still ours (0x20 mixing) */
    pb_answer_head(&p, &q, F_TC, 0, 40, "BiG.TeSt");
    for (int i = 0; i < 40; i++)
        pb_rr_a(&p, NULL, "127.0.1.1");
    UNIT_EQ_INT(dns_parse_response(&q, p.b, 300, NULL, &a), DNS_REJECT_NONE);
    UNIT_CHECK(a.cut);
}

/* The largest message TCP can carry: every record counted, the text cut
 * at an item with "...", nothing read beyond the buffer. */
static void test_oversized_answer(void)
{
    struct dns_query q = query("huge.test", DNS_TYPE_A);
    struct dns_answer a;
    struct pb head;
    uint8_t *big = malloc(65535); /* struct pb holds 8192 bytes */
    size_t len;
    unsigned n = 0;

    if (big == NULL)
        return;
    pb_answer_head(&head, &q, 0, 0, 0, "huge.test");
    memcpy(big, head.b, head.n);
    len = head.n;
    while (len + 16 <= 65535) {
        /* owner: pointer to the question; A IN, TTL 300, 127.0.2.n */
        uint8_t rr[16] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 1, 0x2c, 0, 4, 127, 0, 2, 0};
        rr[15] = (uint8_t)(n & 0xff);
        memcpy(big + len, rr, sizeof(rr));
        len += sizeof(rr);
        n++;
    }
    big[6] = (uint8_t)(n >> 8);
    big[7] = (uint8_t)(n & 0xff);
    UNIT_EQ_INT(dns_parse_response(&q, big, len, "127.0.2.7", &a), DNS_REJECT_NONE);
    UNIT_EQ_INT(a.outcome, DNS_OK);
    UNIT_EQ_INT(a.nmatch, n);
    UNIT_CHECK(a.expect_found);
    UNIT_CHECK(strlen(a.text) < sizeof(a.text));
    UNIT_CHECK(strstr(a.text, "...") != NULL);
    free(big);
}

/* An A record with empty rdata, a CNAME-only answer for the asked type,
 * and an answer section holding only records of other names: no crash,
 * no match, and the outcome says no data. */
static void test_odd_records(void)
{
    struct dns_query q = query("odd.test", DNS_TYPE_A);
    struct dns_answer a;
    struct pb p;
    enum dns_reject r;

    pb_answer_head(&p, &q, 0, 0, 1, "odd.test");
    pb_rr(&p, NULL, DNS_TYPE_A, "", 0);
    r = dns_parse_response(&q, p.b, p.n, "127.0.0.1", &a);
    if (r == DNS_REJECT_NONE) {
        UNIT_CHECK(!a.expect_found);
    } else {
        UNIT_EQ_INT(r, DNS_REJECT_UNPARSABLE);
    }

    pb_answer_head(&p, &q, 0, 0, 2, "odd.test");
    pb_rr_a(&p, "other.test", "127.0.0.1");
    pb_rr_a(&p, "third.test", "127.0.0.2");
    UNIT_EQ_INT(dns_parse_response(&q, p.b, p.n, "127.0.0.1", &a), DNS_REJECT_NONE);
    UNIT_EQ_INT(a.outcome, DNS_NODATA);
    UNIT_EQ_INT(a.nmatch, 0);
    UNIT_EQ_INT(a.ancount, 2);
    UNIT_CHECK(!a.expect_found);
}

int main(int argc, char **argv)
{
    unit_init(argc, argv);
    log_set_fd(unit_log_fd());
    UNIT_RUN(test_query_wire);
    UNIT_RUN(test_query_ids);
    UNIT_RUN(test_query_bad_names);
    UNIT_RUN(test_ok_a);
    UNIT_RUN(test_rcodes);
    UNIT_RUN(test_nodata);
    UNIT_RUN(test_cname_chain);
    UNIT_RUN(test_tc);
    UNIT_RUN(test_record_text);
    UNIT_RUN(test_expect_addresses);
    UNIT_RUN(test_text_truncated);
    UNIT_RUN(test_wrong_id_and_flags);
    UNIT_RUN(test_wrong_question);
    UNIT_RUN(test_truncated_packets);
    UNIT_RUN(test_empty_buffer);
    UNIT_RUN(test_compression_loop);
    UNIT_RUN(test_counts_beyond_data);
    UNIT_RUN(test_junk);
    UNIT_RUN(test_resolvconf);
    UNIT_RUN(test_tc_cut_inside_a_record);
    UNIT_RUN(test_oversized_answer);
    UNIT_RUN(test_odd_records);
    return UNIT_END("test_dns");
}
