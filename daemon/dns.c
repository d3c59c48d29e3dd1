/* SPDX-License-Identifier: ISC */
/* The DNS wire format of resolve probes: query building, response
 * validation and the answers as text, on top of ldns. */
#include "dns.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <ldns/ldns.h>

#include "util.h"

/* A CNAME chain longer than this is a loop or abuse; resolvers stop around
 * 8-16 too (BIND's max-recursion-depth is in that range). */
#define DNS_CHAIN_MAX 16
/* One record as text while it is matched against `expect`. */
#define DNS_RECORD_TEXT_MAX 2048

static const char *const dns_rcode_names[] = {
    "NOERROR",  "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",  "REFUSED",
    "YXDOMAIN", "YXRRSET", "NXRRSET",  "NOTAUTH",  "NOTZONE",
};

const char *dns_rcode_name(int rcode, char *buf, size_t len)
{
    if (rcode >= 0 && (size_t)rcode < ND_ARRAY_LEN(dns_rcode_names))
        return dns_rcode_names[rcode];
    snprintf(buf, len, "RCODE%d", rcode);
    return buf;
}

const char *dns_reject_name(enum dns_reject reject)
{
    switch (reject) {
    case DNS_REJECT_NONE:
        return "accepted";
    case DNS_REJECT_UNPARSABLE:
        return "unparsable";
    case DNS_REJECT_NOT_RESPONSE:
        return "not a response";
    case DNS_REJECT_WRONG_ID:
        return "wrong id";
    case DNS_REJECT_WRONG_QUESTION:
        return "wrong question";
    }
    return "?";
}

enum dns_outcome dns_outcome_from_rcode(int rcode, unsigned nmatch)
{
    switch (rcode) {
    case LDNS_RCODE_NOERROR:
        return nmatch > 0 ? DNS_OK : DNS_NODATA;
    case LDNS_RCODE_FORMERR:
        return DNS_FORMERR;
    case LDNS_RCODE_SERVFAIL:
        return DNS_SERVFAIL;
    case LDNS_RCODE_NXDOMAIN:
        return DNS_NXDOMAIN;
    case LDNS_RCODE_NOTIMPL:
        return DNS_NOTIMP;
    case LDNS_RCODE_REFUSED:
        return DNS_REFUSED;
    default:
        return DNS_OTHER;
    }
}

void dns_query_new_id(struct dns_query *q)
{
    uint16_t id;

    arc4random_buf(&id, sizeof(id));
    q->id = id;
    q->wire[0] = (uint8_t)(id >> 8);
    q->wire[1] = (uint8_t)(id & 0xff);
}

int dns_query_init(struct dns_query *q, const char *name, uint16_t qtype, char *err, size_t errlen)
{
    ldns_rdf *dname = NULL;
    ldns_pkt *pkt = NULL;
    uint8_t *wire = NULL;
    size_t wire_len = 0;
    int rc = -1;

    memset(q, 0, sizeof(*q));
    if (name == NULL || name[0] == '\0') {
        snprintf(err, errlen, "empty name");
        goto out;
    }
    dname = ldns_dname_new_frm_str(name);
    if (dname == NULL || ldns_rdf_size(dname) > sizeof(q->qname)) {
        snprintf(err, errlen, "invalid DNS name \"%s\"", name);
        goto out;
    }
    memcpy(q->qname, ldns_rdf_data(dname), ldns_rdf_size(dname));
    q->qname_len = ldns_rdf_size(dname);
    q->qtype = qtype;

    /* the packet takes ownership of dname */
    pkt = ldns_pkt_query_new(dname, (ldns_rr_type)qtype, LDNS_RR_CLASS_IN, LDNS_RD);
    dname = NULL;
    if (pkt == NULL || ldns_pkt2wire(&wire, pkt, &wire_len) != LDNS_STATUS_OK) {
        snprintf(err, errlen, "cannot encode a query for \"%s\"", name);
        goto out;
    }
    if (wire_len > sizeof(q->wire)) {
        snprintf(err, errlen, "query for \"%s\" too long", name);
        goto out;
    }
    memcpy(q->wire, wire, wire_len);
    q->wire_len = wire_len;
    dns_query_new_id(q);
    rc = 0;
out:
    free(wire);
    if (pkt != NULL)
        ldns_pkt_free(pkt);
    if (dname != NULL)
        ldns_rdf_deep_free(dname);
    return rc;
}

/* Domain names in wire form compared the DNS way: ASCII case-insensitive.
 * Label length octets are < 64, below 'A', so tolower() leaves them be. */
static bool dns_name_equal(const uint8_t *a, size_t alen, const ldns_rdf *b)
{
    const uint8_t *bd;

    if (b == NULL || ldns_rdf_size(b) != alen)
        return false;
    bd = ldns_rdf_data(b);
    for (size_t i = 0; i < alen; i++)
        if (tolower(a[i]) != tolower(bd[i]))
            return false;
    return true;
}

static bool dns_rdf_name_equal(const ldns_rdf *a, const ldns_rdf *b)
{
    return a != NULL && dns_name_equal(ldns_rdf_data(a), ldns_rdf_size(a), b);
}

/* Append `s` to a ", "-separated list in buf; once something does not fit,
 * end the list with "..." and take nothing more. */
static void dns_text_append(char *buf, size_t size, bool *full, const char *s)
{
    size_t used = strlen(buf);
    size_t need = strlen(s) + (used > 0 ? 2 : 0);

    if (*full)
        return;
    /* keep room for ", ..." */
    if (used + need + 6 > size) {
        *full = true;
        util_strlcpy(buf + used, used > 0 ? ", ..." : "...", size - used);
        return;
    }
    if (used > 0)
        strcat(buf, ", ");
    strcat(buf, s);
}

/* TXT character-strings unquoted and concatenated (how SPF/DKIM readers
 * see them); bytes that are not printable ASCII as \DDD so the result is
 * safe to log and to put in JSON. */
static void dns_txt_text(const ldns_rr *rr, char *out, size_t outlen)
{
    size_t o = 0;

    out[0] = '\0';
    for (size_t i = 0; i < ldns_rr_rd_count(rr); i++) {
        const ldns_rdf *rdf = ldns_rr_rdf(rr, i);
        const uint8_t *d = ldns_rdf_data(rdf);
        size_t n = ldns_rdf_size(rdf);

        /* an LDNS_RDF_TYPE_STR rdf is <length octet><bytes> */
        for (size_t j = 1; j < n && j <= d[0]; j++) {
            if (o + 5 >= outlen)
                return;
            if (d[j] >= 0x20 && d[j] < 0x7f)
                out[o++] = (char)d[j];
            else
                o += (size_t)snprintf(out + o, outlen - o, "\\%03u", d[j]);
            out[o] = '\0';
        }
    }
}

/* One record's data as text: every rdata field in presentation form,
 * space-separated ("127.0.0.1", "10 mail.example.", "ns. host. 1 ..."). */
static void dns_record_text(const ldns_rr *rr, char *out, size_t outlen)
{
    if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_TXT) {
        dns_txt_text(rr, out, outlen);
        return;
    }
    out[0] = '\0';
    for (size_t i = 0; i < ldns_rr_rd_count(rr); i++) {
        char *s = ldns_rdf2str(ldns_rr_rdf(rr, i));
        size_t used = strlen(out);

        if (s == NULL)
            break;
        snprintf(out + used, outlen - used, "%s%s", i > 0 ? " " : "", s);
        free(s);
    }
}

bool dns_expect_match_addr(const char *expect, int af, const void *addr)
{
    uint8_t want[16];
    char text[INET6_ADDRSTRLEN];

    if (expect == NULL || expect[0] == '\0')
        return true;
    if (inet_pton(af, expect, want) == 1)
        return memcmp(want, addr, af == AF_INET ? 4 : 16) == 0;
    if (inet_ntop(af, addr, text, sizeof(text)) == NULL)
        return false;
    return expect != NULL && strcasestr(text, expect) != NULL;
}

static bool dns_expect_match(const char *expect, const ldns_rr *rr, const char *text)
{
    ldns_rr_type type = ldns_rr_get_type(rr);
    const ldns_rdf *rdf = ldns_rr_rd_count(rr) > 0 ? ldns_rr_rdf(rr, 0) : NULL;

    if (type == LDNS_RR_TYPE_A && rdf != NULL && ldns_rdf_size(rdf) == 4)
        return dns_expect_match_addr(expect, AF_INET, ldns_rdf_data(rdf));
    if (type == LDNS_RR_TYPE_AAAA && rdf != NULL && ldns_rdf_size(rdf) == 16)
        return dns_expect_match_addr(expect, AF_INET6, ldns_rdf_data(rdf));
    return expect != NULL && strcasestr(text, expect) != NULL;
}

/* Walk the answer section from our name along CNAMEs: records of the asked
 * type (or any type for ANY) owned by the current name are the answers;
 * when there are none, a CNAME owned by it moves to its target. Records
 * owned by names off the chain are not answers to our question. */
static void dns_collect(const struct dns_query *q, const ldns_rr_list *an, const char *expect,
                        struct dns_answer *ans)
{
    const ldns_rdf *owner = NULL; /* NULL: our own qname */
    bool full = false;
    char text[DNS_RECORD_TEXT_MAX];

    for (int step = 0; step <= DNS_CHAIN_MAX; step++) {
        const ldns_rr *cname = NULL;

        for (size_t i = 0; i < ldns_rr_list_rr_count(an); i++) {
            const ldns_rr *rr = ldns_rr_list_rr(an, i);
            ldns_rr_type type = ldns_rr_get_type(rr);
            bool mine = owner == NULL ? dns_name_equal(q->qname, q->qname_len, ldns_rr_owner(rr))
                                      : dns_rdf_name_equal(owner, ldns_rr_owner(rr));

            if (!mine || ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN)
                continue;
            if (type == q->qtype || q->qtype == DNS_TYPE_ANY) {
                const ldns_rdf *rd = ldns_rr_rd_count(rr) == 1 ? ldns_rr_rdf(rr, 0) : NULL;
                size_t alen = type == LDNS_RR_TYPE_A ? 4 : type == LDNS_RR_TYPE_AAAA ? 16 : 0;

                ans->nmatch++;
                if (alen > 0 && rd != NULL && ldns_rdf_size(rd) == alen &&
                    ans->naddrs < DNS_ADDRS_MAX && (ans->addr_len == 0 || ans->addr_len == alen)) {
                    ans->addr_len = (uint8_t)alen;
                    memcpy(ans->addrs[ans->naddrs++], ldns_rdf_data(rd), alen);
                }
                if (full && ans->expect_found)
                    continue; /* counted; the text would serve nothing */
                dns_record_text(rr, text, sizeof(text));
                dns_text_append(ans->text, sizeof(ans->text), &full, text);
                if (!ans->expect_found && dns_expect_match(expect, rr, text))
                    ans->expect_found = true;
            } else if (type == LDNS_RR_TYPE_CNAME && cname == NULL && ldns_rr_rd_count(rr) == 1) {
                cname = rr;
            }
        }
        if (ans->nmatch > 0 || cname == NULL || step == DNS_CHAIN_MAX)
            return;
        owner = ldns_rr_rdf(cname, 0);
        ans->nchain++;
        dns_record_text(cname, text, sizeof(text));
        util_strlcpy(ans->chain_end, text, sizeof(ans->chain_end));
        if (!ans->expect_found && expect != NULL && strcasestr(text, expect) != NULL)
            ans->expect_found = true;
    }
}

/* The question section must be exactly our question. */
static bool dns_question_ok(const struct dns_query *q, const ldns_pkt *pkt)
{
    const ldns_rr_list *qs = ldns_pkt_question(pkt);
    const ldns_rr *qr;
    int rcode = ldns_pkt_get_rcode(pkt);

    if (ldns_pkt_qdcount(pkt) == 0)
        return rcode == LDNS_RCODE_FORMERR || rcode == LDNS_RCODE_NOTIMPL;
    if (ldns_pkt_qdcount(pkt) != 1 || qs == NULL || ldns_rr_list_rr_count(qs) != 1)
        return false;
    qr = ldns_rr_list_rr(qs, 0);
    return ldns_rr_get_type(qr) == q->qtype && ldns_rr_get_class(qr) == LDNS_RR_CLASS_IN &&
           dns_name_equal(q->qname, q->qname_len, ldns_rr_owner(qr));
}

/* The question section read straight from the wire: exactly one, our
 * name (case-insensitive; the first name of a message has nothing to
 * point back to, so it is never compressed), type and class IN. */
static bool dns_question_raw_ok(const struct dns_query *q, const uint8_t *buf, size_t len)
{
    size_t qlen = q->wire_len - 12; /* name, type, class as we sent them */

    if (buf[4] != 0 || buf[5] != 1 || len < 12 + qlen || q->wire_len < 12 + q->qname_len + 4)
        return false;
    for (size_t i = 0; i < q->qname_len; i++)
        if (tolower(buf[12 + i]) != tolower(q->wire[12 + i]))
            return false;
    return memcmp(buf + 12 + q->qname_len, q->wire + 12 + q->qname_len, 4) == 0;
}

enum dns_reject dns_parse_response(const struct dns_query *q, const uint8_t *buf, size_t len,
                                   const char *expect, struct dns_answer *ans)
{
    ldns_pkt *pkt = NULL;
    enum dns_reject reject;

    memset(ans, 0, sizeof(*ans));
    ans->outcome = DNS_MALFORMED;
    ans->rcode = -1;

    /* Cheap header checks first: a flood of spoofed packets is mostly
     * rejected without parsing. Header: id(2) flags(2) counts(8). */
    if (buf == NULL || len < 12)
        return DNS_REJECT_UNPARSABLE;
    if ((buf[2] & 0x80) == 0 || ((buf[2] >> 3) & 0x0f) != LDNS_PACKET_QUERY)
        return DNS_REJECT_NOT_RESPONSE;
    if (((uint16_t)(buf[0] << 8) | buf[1]) != q->id)
        return DNS_REJECT_WRONG_ID;
    if (ldns_wire2pkt(&pkt, buf, len) != LDNS_STATUS_OK || pkt == NULL) {
        if (pkt != NULL)
            ldns_pkt_free(pkt);
        /* A truncated answer cut inside a record (TC set, the rest gone, as
         * some servers and middleboxes cut at 512 bytes) does not parse,
         * but says all a stub needs: ask again over TCP. */
        if ((buf[2] & 0x02) != 0 && dns_question_raw_ok(q, buf, len)) {
            ans->tc = true;
            ans->cut = true;
            ans->rcode = buf[3] & 0x0f;
            return DNS_REJECT_NONE;
        }
        return DNS_REJECT_UNPARSABLE;
    }
    if (!dns_question_ok(q, pkt)) {
        reject = DNS_REJECT_WRONG_QUESTION;
        goto out;
    }

    if (expect != NULL && expect[0] == '\0')
        expect = NULL;
    /* without an expectation there is nothing to look for */
    ans->expect_found = expect == NULL;
    ans->rcode = ldns_pkt_get_rcode(pkt);
    ans->tc = ldns_pkt_tc(pkt);
    ans->ancount = ldns_pkt_ancount(pkt);
    if (ldns_pkt_answer(pkt) != NULL)
        dns_collect(q, ldns_pkt_answer(pkt), expect, ans);
    ans->outcome = dns_outcome_from_rcode(ans->rcode, ans->nmatch);
    reject = DNS_REJECT_NONE;
out:
    ldns_pkt_free(pkt);
    return reject;
}

enum dns_tcp_read dns_tcp_recv(int fd, struct dns_tcp_frame *f, uint8_t *buf, size_t *len)
{
    size_t want = f->need == 0 ? 2 - f->have : f->need - f->have;
    uint8_t *dst = f->need == 0 ? f->lenbuf + f->have : buf + f->have;
    ssize_t n = recv(fd, dst, want, MSG_DONTWAIT);

    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? DNS_TCP_AGAIN
                                                                         : DNS_TCP_ERROR;
    if (n == 0)
        return DNS_TCP_CLOSED;
    f->have += (size_t)n;
    if (f->need == 0) {
        if (f->have < 2)
            return DNS_TCP_PARTIAL;
        f->need = (size_t)f->lenbuf[0] << 8 | f->lenbuf[1];
        f->have = 0;
        return f->need == 0 ? DNS_TCP_EMPTY : DNS_TCP_LENGTH;
    }
    if (f->have < f->need)
        return DNS_TCP_PARTIAL;
    *len = f->need;
    f->have = f->need = 0; /* ready for another frame */
    return DNS_TCP_MESSAGE;
}

int dns_tcp_send(int fd, const struct dns_query *q, size_t *sent)
{
    uint8_t out[2 + DNS_QUERY_MAX];
    size_t total = 2 + q->wire_len;

    out[0] = (uint8_t)(q->wire_len >> 8);
    out[1] = (uint8_t)(q->wire_len & 0xff);
    memcpy(out + 2, q->wire, q->wire_len);
    while (*sent < total) {
        ssize_t n = send(fd, out + *sent, total - *sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return 0;
            return -1;
        }
        *sent += (size_t)n;
    }
    return 1;
}
