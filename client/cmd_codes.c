/* SPDX-License-Identifier: ISC */
/* `netdiag codes` and `netdiag explain`: the Windows Sockets code table of
 * wsa.c, and one code explained with the Linux errors that map onto it. */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client.h"
#include "suggest.h"
#include "util.h"
#include "wsa.h"

#define EXPLAIN_MAX_RAW     64 /* raw values listed per code and kind */
#define EXPLAIN_NAME_MAX    64 /* names are compared on their first 64 characters */
#define EXPLAIN_SUGGESTIONS 5
#define EXPLAIN_CANDIDATES  512

int cmd_codes_run(struct client *cl, int argc, char **argv)
{
    static const struct output_column cols[] = {
        {"code", OUTPUT_COL_KEEP | OUTPUT_COL_RIGHT, 0, NULL, 0},
        {"name", OUTPUT_COL_KEEP, 0, NULL, 0},
        {"meaning", 0, 0, NULL, 0},
        {"os_dependent", OUTPUT_COL_KEEP, 0, NULL, 0},
    };
    struct output *o;

    (void)argc;
    (void)argv;
    o = output_new(cl->out, cl->format, OUTPUT_LIST, cols, ND_ARRAY_LEN(cols), cl->width_cols,
                   cl->wide);
    for (size_t i = 0; i < wsa_table_len; i++) {
        output_int(o, wsa_table[i].code);
        output_str(o, wsa_table[i].name);
        output_str(o, wsa_table[i].meaning);
        output_bool(o, wsa_table[i].os_dependent);
        output_end_row(o);
    }
    return output_finish(o) == 0 ? CLIENT_EXIT_OK : client_write_error();
}

/* Upper-case copy of the first EXPLAIN_NAME_MAX characters. */
static void explain_upper(char *dst, const char *src)
{
    size_t i;

    for (i = 0; i < EXPLAIN_NAME_MAX && src[i]; i++)
        dst[i] = (char)toupper((unsigned char)src[i]);
    dst[i] = '\0';
}

/* A name without its family prefix: "WSAECONNREFUSED" -> "ECONNREFUSED",
 * "WSA_IO_PENDING" -> "IO_PENDING", "EAI_NONAME" -> "NONAME". */
static const char *explain_bare(const char *upper)
{
    if (strncmp(upper, "WSA", 3) == 0) {
        upper += 3;
        /* the buffers are filled up to their lengths before use */
        // NOLINTNEXTLINE(clang-analyzer-core.UndefinedBinaryOperatorResult)
        if (*upper == '_')
            upper++;
    } else if (strncmp(upper, "EAI_", 4) == 0) {
        upper += 4;
    }
    return upper;
}

struct explain_candidate {
    char label[EXPLAIN_NAME_MAX + 16]; /* as suggested: "WSAECONNRESET" */
    size_t distance;
    size_t order; /* ties keep the order candidates were added in */
};

struct explain_candidates {
    struct explain_candidate c[EXPLAIN_CANDIDATES];
    size_t n;
};

static void explain_candidate_add(struct explain_candidates *cs, const char *label, size_t distance)
{
    struct explain_candidate *c;

    if (cs->n == EXPLAIN_CANDIDATES)
        return;
    c = &cs->c[cs->n];
    util_strlcpy(c->label, label, sizeof(c->label));
    c->distance = distance;
    c->order = cs->n++;
}

/* Distance from the input to a name, the smaller of full and bare forms,
 * so "econnrefsued" is near WSAECONNREFUSED and "noname" near EAI_NONAME. */
static void explain_candidate_name(struct explain_candidates *cs, const char *in_upper,
                                   const char *name)
{
    char upper[EXPLAIN_NAME_MAX + 1];
    size_t full, bare;

    explain_upper(upper, name);
    full = suggest_distance(in_upper, upper);
    bare = suggest_distance(explain_bare(in_upper), explain_bare(upper));
    explain_candidate_add(cs, name, full < bare ? full : bare);
}

static int explain_candidate_cmp(const void *pa, const void *pb)
{
    const struct explain_candidate *a = pa, *b = pb;

    if (a->distance != b->distance)
        return a->distance < b->distance ? -1 : 1;
    return a->order < b->order ? -1 : a->order > b->order;
}

/* Candidates for a name: every WSA name, then the errno, EAI_* and DNS
 * names that map onto some code (an errno named like a WSA code, e.g.
 * ECONNRESET, is left out: its WSA twin is already there). */
static void explain_candidates_names(struct explain_candidates *cs, const char *what)
{
    char in_upper[EXPLAIN_NAME_MAX + 1];
    int raw[EXPLAIN_MAX_RAW];
    enum dns_outcome outcomes[EXPLAIN_MAX_RAW];

    explain_upper(in_upper, what);
    for (size_t i = 0; i < wsa_table_len; i++)
        explain_candidate_name(cs, in_upper, wsa_table[i].name);
    for (size_t i = 0; i < wsa_table_len; i++) {
        size_t n = wsa_errnos_for(wsa_table[i].code, raw, EXPLAIN_MAX_RAW);
        for (size_t k = 0; k < n && k < EXPLAIN_MAX_RAW; k++) {
            const char *name = wsa_errno_name(raw[k]);
            if (name != NULL && wsa_by_name(name) == NULL)
                explain_candidate_name(cs, in_upper, name);
        }
    }
    for (size_t i = 0; i < wsa_table_len; i++) {
        size_t n = wsa_eais_for(wsa_table[i].code, raw, EXPLAIN_MAX_RAW);
        for (size_t k = 0; k < n && k < EXPLAIN_MAX_RAW; k++) {
            const char *name = wsa_eai_name(raw[k]);
            if (name != NULL)
                explain_candidate_name(cs, in_upper, name);
        }
    }
    for (size_t i = 0; i < wsa_table_len; i++) {
        size_t n = wsa_dns_for(wsa_table[i].code, outcomes, EXPLAIN_MAX_RAW);
        for (size_t k = 0; k < n && k < EXPLAIN_MAX_RAW; k++) {
            const char *name = wsa_dns_outcome_name(outcomes[k]);
            if (name != NULL)
                explain_candidate_name(cs, in_upper, name);
        }
    }
}

/* Candidates for a number: the codes numerically nearest. */
static void explain_candidates_number(struct explain_candidates *cs, long long num)
{
    for (size_t i = 0; i < wsa_table_len; i++) {
        char label[EXPLAIN_NAME_MAX + 16];
        long long diff = num - wsa_table[i].code;
        snprintf(label, sizeof(label), "%s (%d)", wsa_table[i].name, wsa_table[i].code);
        explain_candidate_add(cs, label, (size_t)(diff < 0 ? -diff : diff));
    }
}

/* "unknown code "X"; closest: A, B, C, D, E" into msg. */
static void explain_unknown_msg(const char *what, char *msg, size_t msglen)
{
    struct explain_candidates *cs = calloc(1, sizeof(*cs));
    size_t len;

    len = (size_t)snprintf(msg, msglen, "unknown code \"%s\"", what);
    if (cs == NULL || len >= msglen)
        goto out;
    if (isdigit((unsigned char)what[0]))
        explain_candidates_number(cs, strtoll(what, NULL, 10)); /* saturates, never wraps */
    else
        explain_candidates_names(cs, what);
    qsort(cs->c, cs->n, sizeof(cs->c[0]), explain_candidate_cmp);
    for (size_t i = 0; i < cs->n && i < EXPLAIN_SUGGESTIONS && len < msglen; i++)
        len += (size_t)snprintf(msg + len, msglen - len, "%s %s",
                                i ? "," : "; closest:", cs->c[i].label);
out:
    free(cs);
}

static int explain_unknown(const char *what)
{
    char msg[1024];

    explain_unknown_msg(what, msg, sizeof(msg));
    fprintf(stderr, "netdiag: %s\n", msg);
    return CLIENT_EXIT_USAGE;
}

/* Find the code WHAT names; `how` says how it was read. The order matters
 * where forms overlap: a number is a code; "WSA..." is a WSA name; then an
 * errno name (so ETIMEDOUT shows what netdiagd stores for that errno, even
 * where that is not the WSA code of the same name); then EAI_*, DNS outcome
 * names, and last a WSA name without its prefix ("host_not_found"). */
static const struct wsa_code *explain_resolve(const char *what, char *how, size_t howlen)
{
    const struct wsa_code *wc, *twin;
    int64_t num;
    int raw;
    char err[128];

    if (isdigit((unsigned char)what[0])) {
        if (util_parse_int(what, 0, INT_MAX, &num, err, sizeof(err)) < 0)
            return NULL;
        wc = wsa_by_code((int)num);
        if (wc != NULL)
            snprintf(how, howlen, "code %d", wc->code);
        return wc;
    }
    if (strncasecmp(what, "WSA", 3) == 0 && (wc = wsa_by_name(what)) != NULL) {
        snprintf(how, howlen, "WSA name %s", wc->name);
        return wc;
    }
    if (wsa_errno_from_name(what, &raw) && (wc = wsa_by_code(wsa_from_errno(raw))) != NULL) {
        /* The name as typed, not wsa_errno_name(): EWOULDBLOCK is EAGAIN. */
        char name[EXPLAIN_NAME_MAX + 1];
        explain_upper(name, what);
        twin = wsa_by_name(what);
        if (twin != NULL && twin != wc)
            snprintf(how, howlen, "errno %s (%d); %s is %d", name, raw, twin->name, twin->code);
        else
            snprintf(how, howlen, "errno %s (%d)", name, raw);
        return wc;
    }
    if (wsa_eai_from_name(what, &raw) && (wc = wsa_by_code(wsa_from_eai(raw))) != NULL) {
        char name[EXPLAIN_NAME_MAX + 1];
        explain_upper(name, what);
        snprintf(how, howlen, "getaddrinfo %s (%d)", name, raw);
        return wc;
    }
    /* DNS_OK is not a failure and has no code; DNS_OTHER is the last. */
    for (int o = DNS_OK + 1; o <= DNS_OTHER; o++) {
        const char *name = wsa_dns_outcome_name((enum dns_outcome)o);
        if (name != NULL && strcasecmp(name, what) == 0 &&
            (wc = wsa_by_code(wsa_from_dns((enum dns_outcome)o))) != NULL) {
            snprintf(how, howlen, "DNS outcome %s", name);
            return wc;
        }
    }
    if ((wc = wsa_by_name(what)) != NULL) {
        snprintf(how, howlen, "WSA name %s", wc->name);
        return wc;
    }
    /* any other raw name a failure row can hold (MISMATCH, ENOENT, ...) */
    return wsa_by_code(wsa_raw_lookup(what, how, howlen));
}

const struct wsa_code *codes_lookup(const char *what, char *msg, size_t msglen)
{
    char how[256];
    const struct wsa_code *wc = explain_resolve(what, how, sizeof(how));

    if (wc == NULL)
        explain_unknown_msg(what, msg, msglen);
    return wc;
}

/* Names of raw values, or their number when the value has no name. */
struct explain_names {
    const char *names[EXPLAIN_MAX_RAW];
    char numbers[EXPLAIN_MAX_RAW][16];
    size_t n;
};

static void explain_names_add(struct explain_names *en, const char *name, int value)
{
    if (en->n == EXPLAIN_MAX_RAW)
        return;
    if (name == NULL) {
        snprintf(en->numbers[en->n], sizeof(en->numbers[0]), "%d", value);
        name = en->numbers[en->n];
    }
    en->names[en->n++] = name;
}

int cmd_explain_run(struct client *cl, int argc, char **argv)
{
    static const struct output_column cols[] = {
        {"code", OUTPUT_COL_KEEP, 0, NULL, 0},
        {"name", OUTPUT_COL_KEEP, 0, NULL, 0},
        {"meaning", 0, 0, NULL, 0},
        {"os_dependent", OUTPUT_COL_KEEP, 0, NULL, 0},
        {"matched", 0, 0, NULL, 0},
        {"errnos", 0, 0, NULL, 0},
        {"eai_codes", 0, 0, NULL, 0},
        {"dns_outcomes", 0, 0, NULL, 0},
        {"explanation", 0, 0, NULL, 0},
    };
    struct explain_names errnos = {0}, eais = {0}, dns = {0};
    const struct wsa_code *wc;
    int raw[EXPLAIN_MAX_RAW];
    enum dns_outcome outcomes[EXPLAIN_MAX_RAW];
    char how[256];
    struct output *o;
    size_t n;

    (void)argc;
    wc = explain_resolve(argv[0], how, sizeof(how));
    if (wc == NULL)
        return explain_unknown(argv[0]);

    n = wsa_errnos_for(wc->code, raw, EXPLAIN_MAX_RAW);
    for (size_t i = 0; i < n && i < EXPLAIN_MAX_RAW; i++)
        explain_names_add(&errnos, wsa_errno_name(raw[i]), raw[i]);
    n = wsa_eais_for(wc->code, raw, EXPLAIN_MAX_RAW);
    for (size_t i = 0; i < n && i < EXPLAIN_MAX_RAW; i++)
        explain_names_add(&eais, wsa_eai_name(raw[i]), raw[i]);
    n = wsa_dns_for(wc->code, outcomes, EXPLAIN_MAX_RAW);
    for (size_t i = 0; i < n && i < EXPLAIN_MAX_RAW; i++)
        explain_names_add(&dns, wsa_dns_outcome_name(outcomes[i]), (int)outcomes[i]);

    o = output_new(cl->out, cl->format, OUTPUT_RECORD, cols, ND_ARRAY_LEN(cols), cl->width_cols,
                   cl->wide);
    output_int(o, wc->code);
    output_str(o, wc->name);
    output_str(o, wc->meaning);
    output_bool(o, wc->os_dependent);
    output_str(o, how);
    output_list(o, errnos.names, errnos.n);
    output_list(o, eais.names, eais.n);
    output_list(o, dns.names, dns.n);
    output_str(o, wc->explanation);
    output_end_row(o);
    return output_finish(o) == 0 ? CLIENT_EXIT_OK : client_write_error();
}
