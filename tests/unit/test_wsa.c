/* SPDX-License-Identifier: ISC */
/* Unit tests for wsa.c: the 53-code table and every errno, EAI and DNS
 * mapping row, checked against expectations written out here (never derived
 * from the table under test). */
#include <errno.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <event2/util.h>

#include "unit.h"
#include "wsa.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

struct expect_code {
    int code;
    const char *name;
    bool os_dependent;
};

/* The source table, in its order. */
static const struct expect_code expected_codes[] = {
    {10004, "WSAEINTR", false},           {10013, "WSAEACCES", false},
    {10014, "WSAEFAULT", false},          {10022, "WSAEINVAL", false},
    {10024, "WSAEMFILE", false},          {10035, "WSAEWOULDBLOCK", false},
    {10036, "WSAEINPROGRESS", false},     {10037, "WSAEALREADY", false},
    {10038, "WSAENOTSOCK", false},        {10039, "WSAEDESTADDRREQ", false},
    {10040, "WSAEMSGSIZE", false},        {10041, "WSAEPROTOTYPE", false},
    {10042, "WSAENOPROTOOPT", false},     {10043, "WSAEPROTONOSUPPORT", false},
    {10044, "WSAESOCKTNOSUPPORT", false}, {10045, "WSAEOPNOTSUPP", false},
    {10046, "WSAEPFNOSUPPORT", false},    {10047, "WSAEAFNOSUPPORT", false},
    {10048, "WSAEADDRINUSE", false},      {10049, "WSAEADDRNOTAVAIL", false},
    {10050, "WSAENETDOWN", false},        {10051, "WSAENETUNREACH", false},
    {10052, "WSAENETRESET", false},       {10053, "WSAECONNABORTED", false},
    {10054, "WSAECONNRESET", false},      {10055, "WSAENOBUFS", false},
    {10056, "WSAEISCONN", false},         {10057, "WSAENOTCONN", false},
    {10058, "WSAESHUTDOWN", false},       {10060, "WSAETIMEDOUT", false},
    {10061, "WSAECONNREFUSED", false},    {10064, "WSAEHOSTDOWN", false},
    {10065, "WSAEHOSTUNREACH", false},    {10067, "WSAEPROCLIM", false},
    {10091, "WSASYSNOTREADY", false},     {10092, "WSAVERNOTSUPPORTED", false},
    {10093, "WSANOTINITIALISED", false},  {10101, "WSAEDISCON", false},
    {10109, "WSATYPE_NOT_FOUND", false},  {11001, "WSAHOST_NOT_FOUND", false},
    {11002, "WSATRY_AGAIN", false},       {11003, "WSANO_RECOVERY", false},
    {11004, "WSANO_DATA", false},         {6, "WSA_INVALID_HANDLE", true},
    {87, "WSA_INVALID_PARAMETER", true},  {996, "WSA_IO_INCOMPLETE", true},
    {997, "WSA_IO_PENDING", true},        {8, "WSA_NOT_ENOUGH_MEMORY", true},
    {995, "WSA_OPERATION_ABORTED", true}, {10104, "WSAINVALIDPROCTABLE", true},
    {10105, "WSAINVALIDPROVIDER", true},  {10106, "WSAPROVIDERFAILEDINIT", true},
    {10107, "WSASYSCALLFAILURE", true},
};

struct expect_map {
    int value;
    const char *name;
    int wsa;
};

static const struct expect_map expected_errno[] = {
    {ECONNREFUSED, "ECONNREFUSED", 10061},
    {ETIMEDOUT, "ETIMEDOUT", 10060},
    {EHOSTUNREACH, "EHOSTUNREACH", 10065},
    {ENETUNREACH, "ENETUNREACH", 10051},
    {ECONNRESET, "ECONNRESET", 10054},
    {EMSGSIZE, "EMSGSIZE", 10040},
    {EADDRNOTAVAIL, "EADDRNOTAVAIL", 10049},
    {EADDRINUSE, "EADDRINUSE", 10048},
    {EACCES, "EACCES", 10013},
    {EPERM, "EPERM", 10013},
    {EMFILE, "EMFILE", 10024},
    {ENFILE, "ENFILE", 10024},
    {ENOBUFS, "ENOBUFS", 10055},
    {ENOMEM, "ENOMEM", 8},
    {EAFNOSUPPORT, "EAFNOSUPPORT", 10047},
    {EINTR, "EINTR", 10004},
    {EINVAL, "EINVAL", 10022},
    {EFAULT, "EFAULT", 10014},
    {EAGAIN, "EAGAIN", 10035},
    {EWOULDBLOCK, "EWOULDBLOCK", 10035},
    {EINPROGRESS, "EINPROGRESS", 10036},
    {EALREADY, "EALREADY", 10037},
    {ENOTSOCK, "ENOTSOCK", 10038},
    {EBADF, "EBADF", 10038},
    {EDESTADDRREQ, "EDESTADDRREQ", 10039},
    {EPROTOTYPE, "EPROTOTYPE", 10041},
    {ENOPROTOOPT, "ENOPROTOOPT", 10042},
    {EPROTONOSUPPORT, "EPROTONOSUPPORT", 10043},
    {ESOCKTNOSUPPORT, "ESOCKTNOSUPPORT", 10044},
    {EOPNOTSUPP, "EOPNOTSUPP", 10045},
    {ENOTSUP, "ENOTSUP", 10045},
    {EPFNOSUPPORT, "EPFNOSUPPORT", 10046},
    {ENETDOWN, "ENETDOWN", 10050},
    {ENETRESET, "ENETRESET", 10052},
    {ECONNABORTED, "ECONNABORTED", 10053},
    {EISCONN, "EISCONN", 10056},
    {ENOTCONN, "ENOTCONN", 10057},
    {ESHUTDOWN, "ESHUTDOWN", 10058},
    {EPIPE, "EPIPE", 10054},
    {EHOSTDOWN, "EHOSTDOWN", 10064},
    {ENONET, "ENONET", 10065},
    {ECANCELED, "ECANCELED", 995},
};

static const struct expect_map expected_eai[] = {
    {EAI_NONAME, "EAI_NONAME", 11001},
    {EAI_AGAIN, "EAI_AGAIN", 11002},
    {EAI_FAIL, "EAI_FAIL", 11003},
    {EAI_NODATA, "EAI_NODATA", 11004},
    {EAI_ADDRFAMILY, "EAI_ADDRFAMILY", 11004},
    {EAI_FAMILY, "EAI_FAMILY", 10047},
    {EAI_SOCKTYPE, "EAI_SOCKTYPE", 10044},
    {EAI_SERVICE, "EAI_SERVICE", 10109},
    {EAI_BADFLAGS, "EAI_BADFLAGS", 10022},
    {EAI_MEMORY, "EAI_MEMORY", 8},
    {EAI_SYSTEM, "EAI_SYSTEM", 10107},
    {EAI_OVERFLOW, "EAI_OVERFLOW", 10014},
    {EAI_CANCELED, "EAI_CANCELED", 995},
    {EAI_INTR, "EAI_INTR", 10004},
    {-90001, "EVUTIL_EAI_CANCEL", 995},
};

static const struct expect_map expected_dns[] = {
    {DNS_OK, "OK", 0},
    {DNS_NXDOMAIN, "NXDOMAIN", 11001},
    {DNS_SERVFAIL, "SERVFAIL", 11002},
    {DNS_REFUSED, "REFUSED", 11003},
    {DNS_FORMERR, "FORMERR", 11003},
    {DNS_NOTIMP, "NOTIMP", 11003},
    {DNS_NODATA, "NODATA", 11004},
    {DNS_TIMEOUT, "TIMEOUT", 11002},
    {DNS_CANCELLED, "CANCELLED", 995},
    {DNS_MALFORMED, "MALFORMED", 11003},
    {DNS_OTHER, "OTHER", 11003},
};

static bool int_in(const int *list, size_t n, int v)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] == v)
            return true;
    return false;
}

static void test_table_matches_source(void)
{
    UNIT_EQ_INT(wsa_table_len, 53);
    UNIT_EQ_INT(LEN(expected_codes), 53);
    for (size_t i = 0; i < wsa_table_len && i < LEN(expected_codes); i++) {
        UNIT_EQ_INT(wsa_table[i].code, expected_codes[i].code);
        UNIT_EQ_STR(wsa_table[i].name, expected_codes[i].name);
        UNIT_EQ_INT(wsa_table[i].os_dependent, expected_codes[i].os_dependent);
    }
}

static void test_table_counts(void)
{
    size_t numbered = 0, os_dep = 0;

    for (size_t i = 0; i < wsa_table_len; i++) {
        if (wsa_table[i].os_dependent)
            os_dep++;
        else
            numbered++;
    }
    UNIT_EQ_INT(numbered, 43);
    UNIT_EQ_INT(os_dep, 10);
}

static void test_table_unique(void)
{
    for (size_t i = 0; i < wsa_table_len; i++)
        for (size_t j = i + 1; j < wsa_table_len; j++) {
            UNIT_CHECK(wsa_table[i].code != wsa_table[j].code);
            UNIT_CHECK(strcmp(wsa_table[i].name, wsa_table[j].name) != 0);
        }
}

static void test_table_texts(void)
{
    for (size_t i = 0; i < wsa_table_len; i++) {
        const struct wsa_code *c = &wsa_table[i];
        size_t mlen = c->meaning ? strlen(c->meaning) : 0;

        UNIT_CHECK(mlen > 1);
        if (mlen > 0 && c->meaning[mlen - 1] != '.')
            fprintf(stderr, "meaning of %s does not end with '.'\n", c->name);
        UNIT_CHECK(mlen > 0 && c->meaning[mlen - 1] == '.');
        UNIT_CHECK(c->explanation != NULL && c->explanation[0] != '\0');
        if (c->explanation != NULL && c->meaning != NULL) {
            UNIT_CHECK(strcmp(c->explanation, c->meaning) != 0);
            /* our own words, not a copy of the one-line message */
            UNIT_CHECK(strlen(c->explanation) > 2 * mlen);
        }
    }
    /* a few standard messages, spelled exactly */
    UNIT_EQ_STR(wsa_by_code(10061)->meaning, "Connection refused.");
    UNIT_EQ_STR(wsa_by_code(10060)->meaning, "Connection timed out.");
    UNIT_EQ_STR(wsa_by_code(11001)->meaning, "Host not found.");
    UNIT_EQ_STR(wsa_by_code(11003)->meaning, "This is a nonrecoverable error.");
    UNIT_EQ_STR(wsa_by_code(10107)->meaning, "System call failure.");
}

static void test_by_code(void)
{
    for (size_t i = 0; i < LEN(expected_codes); i++) {
        const struct wsa_code *c = wsa_by_code(expected_codes[i].code);

        UNIT_CHECK(c != NULL);
        if (c != NULL)
            UNIT_EQ_STR(c->name, expected_codes[i].name);
    }
    UNIT_CHECK(wsa_by_code(0) == NULL);
    UNIT_CHECK(wsa_by_code(10059) == NULL);
    UNIT_CHECK(wsa_by_code(-1) == NULL);
    UNIT_CHECK(wsa_by_code(6)->os_dependent);
    UNIT_CHECK(!wsa_by_code(10061)->os_dependent);
}

static void test_by_name(void)
{
    const struct wsa_code *refused = wsa_by_code(10061);

    UNIT_CHECK(refused != NULL);
    UNIT_CHECK(wsa_by_name("WSAECONNREFUSED") == refused);
    UNIT_CHECK(wsa_by_name("wsaeconnrefused") == refused);
    UNIT_CHECK(wsa_by_name("ECONNREFUSED") == refused);
    UNIT_CHECK(wsa_by_name("econnrefused") == refused);
    UNIT_CHECK(wsa_by_name("EConnRefused") == refused);
    UNIT_EQ_INT(wsa_by_name("host_not_found")->code, 11001);
    UNIT_EQ_INT(wsa_by_name("WSAHOST_NOT_FOUND")->code, 11001);
    UNIT_EQ_INT(wsa_by_name("WSA_IO_PENDING")->code, 997);
    UNIT_EQ_INT(wsa_by_name("io_pending")->code, 997);
    UNIT_EQ_INT(wsa_by_name("_io_pending")->code, 997);
    UNIT_EQ_INT(wsa_by_name("syscallfailure")->code, 10107);
    UNIT_EQ_INT(wsa_by_name("ETIMEDOUT")->code, 10060);
    UNIT_CHECK(wsa_by_name("WSA") == NULL);
    UNIT_CHECK(wsa_by_name("") == NULL);
    UNIT_CHECK(wsa_by_name(NULL) == NULL);
    UNIT_CHECK(wsa_by_name("ECONNREFUSEDX") == NULL);
    UNIT_CHECK(wsa_by_name("10061") == NULL);
    /* every name, with and without the prefix, finds its own row */
    for (size_t i = 0; i < LEN(expected_codes); i++) {
        const char *n = expected_codes[i].name;
        const struct wsa_code *c = wsa_by_name(n);

        UNIT_CHECK(c != NULL && c->code == expected_codes[i].code);
        c = wsa_by_name(n + 3);
        UNIT_CHECK(c != NULL && c->code == expected_codes[i].code);
    }
}

static void test_errno_mapping(void)
{
    for (size_t i = 0; i < LEN(expected_errno); i++) {
        int got = wsa_from_errno(expected_errno[i].value);

        if (got != expected_errno[i].wsa)
            fprintf(stderr, "errno %s -> %d, expected %d\n", expected_errno[i].name, got,
                    expected_errno[i].wsa);
        UNIT_EQ_INT(got, expected_errno[i].wsa);
    }
}

static void test_errno_unmapped(void)
{
    UNIT_EQ_INT(wsa_from_errno(9999), 10107);
    UNIT_EQ_INT(wsa_from_errno(-1), 10107);
    UNIT_EQ_INT(wsa_from_errno(ENOENT), 10107); /* deliberately unmapped */
    UNIT_EQ_INT(wsa_from_errno(EIO), 10107);
    UNIT_EQ_INT(wsa_from_errno(0), 0);
    UNIT_CHECK(wsa_errno_name(9999) == NULL);
    UNIT_CHECK(wsa_errno_name(0) == NULL);
}

static void test_eai_mapping(void)
{
    for (size_t i = 0; i < LEN(expected_eai); i++) {
        int got = wsa_from_eai(expected_eai[i].value);

        if (got != expected_eai[i].wsa)
            fprintf(stderr, "eai %s -> %d, expected %d\n", expected_eai[i].name, got,
                    expected_eai[i].wsa);
        UNIT_EQ_INT(got, expected_eai[i].wsa);
    }
    UNIT_EQ_INT(EVUTIL_EAI_CANCEL, -90001);
    UNIT_EQ_INT(wsa_from_eai(EVUTIL_EAI_CANCEL), 995);
    UNIT_EQ_INT(wsa_from_eai(EVUTIL_EAI_NODATA), 11004);
    UNIT_EQ_INT(wsa_from_eai(12345), 10107);
    UNIT_EQ_INT(wsa_from_eai(-999), 10107);
    UNIT_EQ_INT(wsa_from_eai(0), 0);
    UNIT_CHECK(wsa_eai_name(-999) == NULL);
}

static void test_dns_mapping(void)
{
    for (size_t i = 0; i < LEN(expected_dns); i++) {
        enum dns_outcome o = (enum dns_outcome)expected_dns[i].value;

        UNIT_EQ_INT(wsa_from_dns(o), expected_dns[i].wsa);
        UNIT_EQ_STR(wsa_dns_outcome_name(o), expected_dns[i].name);
    }
    UNIT_EQ_INT(wsa_from_dns((enum dns_outcome)99), 10107);
    UNIT_EQ_INT(wsa_from_dns((enum dns_outcome) - 1), 10107);
    UNIT_CHECK(wsa_dns_outcome_name((enum dns_outcome)99) == NULL);
}

/* Every code a mapping can produce must be in the table. */
static void test_targets_exist(void)
{
    for (size_t i = 0; i < LEN(expected_errno); i++)
        UNIT_CHECK(wsa_by_code(wsa_from_errno(expected_errno[i].value)) != NULL);
    for (size_t i = 0; i < LEN(expected_eai); i++)
        UNIT_CHECK(wsa_by_code(wsa_from_eai(expected_eai[i].value)) != NULL);
    for (size_t i = 1; i < LEN(expected_dns); i++)
        UNIT_CHECK(wsa_by_code(wsa_from_dns((enum dns_outcome)expected_dns[i].value)) != NULL);
}

static void test_name_round_trips(void)
{
    int v;

    for (size_t i = 0; i < LEN(expected_errno); i++) {
        const char *n;

        v = -12345;
        UNIT_CHECK(wsa_errno_from_name(expected_errno[i].name, &v));
        UNIT_EQ_INT(v, expected_errno[i].value);
        /* value -> name gives the preferred spelling for aliases, which must
         * lead back to the same value */
        n = wsa_errno_name(expected_errno[i].value);
        UNIT_CHECK(n != NULL);
        v = -12345;
        UNIT_CHECK(n != NULL && wsa_errno_from_name(n, &v));
        UNIT_EQ_INT(v, expected_errno[i].value);
    }
    for (size_t i = 0; i < LEN(expected_eai); i++) {
        v = 12345;
        UNIT_CHECK(wsa_eai_from_name(expected_eai[i].name, &v));
        UNIT_EQ_INT(v, expected_eai[i].value);
        UNIT_EQ_STR(wsa_eai_name(expected_eai[i].value), expected_eai[i].name);
    }
    UNIT_EQ_STR(wsa_errno_name(ECONNREFUSED), "ECONNREFUSED");
    UNIT_EQ_STR(wsa_errno_name(EAGAIN), "EAGAIN");
    UNIT_EQ_STR(wsa_errno_name(EOPNOTSUPP), "EOPNOTSUPP");
    UNIT_CHECK(wsa_errno_from_name("econnrefused", &v) && v == ECONNREFUSED);
    UNIT_CHECK(wsa_errno_from_name("ECONNREFUSED", &v) && v == ECONNREFUSED);
    UNIT_CHECK(wsa_errno_from_name("ewouldblock", &v) && v == EAGAIN);
    UNIT_CHECK(wsa_eai_from_name("EAI_NONAME", &v) && v == EAI_NONAME);
    UNIT_CHECK(wsa_eai_from_name("eai_noname", &v) && v == EAI_NONAME);
    UNIT_CHECK(wsa_eai_from_name("evutil_eai_cancel", &v) && v == -90001);
    v = 7;
    UNIT_CHECK(!wsa_errno_from_name("ENOSUCHTHING", &v));
    UNIT_CHECK(!wsa_errno_from_name(NULL, &v));
    UNIT_CHECK(!wsa_eai_from_name("EAI_NOPE", &v));
    UNIT_EQ_INT(v, 7); /* untouched on failure */
}

static void test_reverse_lookups(void)
{
    int out[16];
    enum dns_outcome dns[16];
    size_t n;

    n = wsa_errnos_for(10061, out, LEN(out));
    UNIT_EQ_INT(n, 1);
    UNIT_CHECK(int_in(out, n, ECONNREFUSED));

    n = wsa_errnos_for(10054, out, LEN(out));
    UNIT_EQ_INT(n, 2);
    UNIT_CHECK(int_in(out, n, ECONNRESET) && int_in(out, n, EPIPE));

    /* EAGAIN and EWOULDBLOCK share a value: reported once */
    n = wsa_errnos_for(10035, out, LEN(out));
    UNIT_EQ_INT(n, 1);
    UNIT_CHECK(int_in(out, n, EAGAIN));

    /* truncation: count of all, fill at most max */
    out[1] = -7;
    n = wsa_errnos_for(10013, out, 1);
    UNIT_EQ_INT(n, 2);
    UNIT_EQ_INT(out[1], -7);
    UNIT_EQ_INT(wsa_errnos_for(10013, NULL, 0), 2);
    UNIT_EQ_INT(wsa_errnos_for(10092, out, LEN(out)), 0);

    n = wsa_eais_for(11004, out, LEN(out));
    UNIT_EQ_INT(n, 2);
    UNIT_CHECK(int_in(out, n, EAI_NODATA) && int_in(out, n, EAI_ADDRFAMILY));
    n = wsa_eais_for(995, out, LEN(out));
    UNIT_EQ_INT(n, 2);
    UNIT_CHECK(int_in(out, n, EAI_CANCELED) && int_in(out, n, -90001));

    n = wsa_dns_for(11002, dns, LEN(dns));
    UNIT_EQ_INT(n, 2);
    UNIT_CHECK(n == 2 && dns[0] == DNS_SERVFAIL && dns[1] == DNS_TIMEOUT);
    UNIT_EQ_INT(wsa_dns_for(11003, dns, LEN(dns)), 5);
    UNIT_EQ_INT(wsa_dns_for(11001, NULL, 0), 1);

    /* reverse agrees with forward for every code */
    for (size_t i = 0; i < LEN(expected_codes); i++) {
        int code = expected_codes[i].code;

        n = wsa_errnos_for(code, out, LEN(out));
        UNIT_CHECK(n <= LEN(out));
        for (size_t k = 0; k < n && k < LEN(out); k++)
            UNIT_EQ_INT(wsa_from_errno(out[k]), code);
        n = wsa_eais_for(code, out, LEN(out));
        for (size_t k = 0; k < n && k < LEN(out); k++)
            UNIT_EQ_INT(wsa_from_eai(out[k]), code);
        n = wsa_dns_for(code, dns, LEN(dns));
        for (size_t k = 0; k < n && k < LEN(dns); k++)
            UNIT_EQ_INT(wsa_from_dns(dns[k]), code);
    }
}

/* Every raw name a result can carry, built the way the engine builds it
 * (wsa_raw_errno/eai/dns and the two mismatch names), leads `netdiag
 * explain` (wsa_raw_lookup) to the very code stored beside it, and that
 * code is in the table: nothing the daemon stores is "unknown code". */
static void test_every_stored_raw_is_explainable(void)
{
    char buf[32], how[160];
    int code;

    for (int e = 1; e < 4200; e++) {
        const char *raw = wsa_raw_errno(e, buf, sizeof(buf));
        code = wsa_raw_lookup(raw, how, sizeof(how));
        if (code != wsa_from_errno(e))
            fprintf(stderr, "errno %d stored as \"%s\": explain says %d, stored %d\n", e, raw, code,
                    wsa_from_errno(e));
        UNIT_EQ_INT(code, wsa_from_errno(e));
        UNIT_CHECK(wsa_by_code(code) != NULL);
        UNIT_CHECK(strlen(raw) < 24); /* struct result's raw[24] */
    }
    for (int v = -300; v <= 300; v++) {
        const char *raw;
        if (v == 0)
            continue;
        raw = wsa_raw_eai(v, buf, sizeof(buf));
        code = wsa_raw_lookup(raw, how, sizeof(how));
        if (code != wsa_from_eai(v))
            fprintf(stderr, "EAI %d stored as \"%s\": explain says %d\n", v, raw, code);
        UNIT_EQ_INT(code, wsa_from_eai(v));
        UNIT_CHECK(wsa_by_code(code) != NULL);
    }
    UNIT_EQ_INT(wsa_raw_lookup(wsa_raw_eai(EVUTIL_EAI_CANCEL, buf, sizeof(buf)), how, sizeof(how)),
                995);
    for (int o = DNS_NXDOMAIN; o <= DNS_OTHER; o++) {
        const char *raw = wsa_raw_dns((enum dns_outcome)o);
        code = wsa_raw_lookup(raw, how, sizeof(how));
        UNIT_EQ_INT(code, wsa_from_dns((enum dns_outcome)o));
        UNIT_CHECK(wsa_by_code(code) != NULL);
    }
    UNIT_EQ_INT(wsa_raw_lookup(wsa_raw_dns((enum dns_outcome)99), how, sizeof(how)), 10107);
    for (int dns = 0; dns <= 1; dns++) {
        const char *raw = wsa_mismatch_name(dns);
        UNIT_EQ_INT(wsa_raw_lookup(raw, how, sizeof(how)), wsa_from_mismatch(dns));
        UNIT_CHECK(strstr(how, "expect") != NULL);
    }
    /* the examples people type, any case */
    UNIT_EQ_INT(wsa_raw_lookup("MISMATCH", how, sizeof(how)), 11004);
    UNIT_EQ_INT(wsa_raw_lookup("reply_mismatch", how, sizeof(how)), 10053);
    UNIT_EQ_INT(wsa_raw_lookup("TIMEOUT", how, sizeof(how)), 11002);
    UNIT_EQ_INT(wsa_raw_lookup("SERVFAIL", how, sizeof(how)), 11002);
    UNIT_EQ_INT(wsa_raw_lookup("EAI_ADDRFAMILY", how, sizeof(how)), 11004);
    UNIT_EQ_INT(wsa_raw_lookup("ENOENT", how, sizeof(how)), 10107);
    UNIT_CHECK(strstr(how, "no mapping") != NULL);
    UNIT_EQ_INT(wsa_raw_lookup("errno 4100", how, sizeof(how)), 10107);
    UNIT_EQ_INT(wsa_raw_lookup("EAI -77", how, sizeof(how)), 10107);
    UNIT_EQ_INT(wsa_raw_lookup("ETIMEDOUT", how, sizeof(how)), 10060);
    UNIT_EQ_INT(wsa_raw_lookup("NOSUCHTHING", how, sizeof(how)), -1);
    UNIT_EQ_INT(wsa_raw_lookup("errno ", how, sizeof(how)), -1);
    UNIT_EQ_INT(wsa_raw_lookup("errno 1x", how, sizeof(how)), -1);
    UNIT_EQ_INT(wsa_raw_lookup("", how, sizeof(how)), -1);
    UNIT_EQ_INT(wsa_raw_lookup(NULL, how, sizeof(how)), -1);
}

/* The stored names: named errnos by name even without a mapping, the rest
 * by number; the mismatch codes per kind (see wsa.c for why). */
static void test_raw_names_and_mismatch(void)
{
    char buf[32];

    UNIT_EQ_STR(wsa_raw_errno(ECONNREFUSED, buf, sizeof(buf)), "ECONNREFUSED");
    UNIT_EQ_STR(wsa_raw_errno(ENOENT, buf, sizeof(buf)), "ENOENT");
    UNIT_EQ_STR(wsa_raw_errno(4100, buf, sizeof(buf)), "errno 4100");
    UNIT_EQ_STR(wsa_raw_eai(EAI_ADDRFAMILY, buf, sizeof(buf)), "EAI_ADDRFAMILY");
    UNIT_EQ_STR(wsa_raw_eai(-77, buf, sizeof(buf)), "EAI -77");
    UNIT_EQ_STR(wsa_raw_dns(DNS_TIMEOUT), "TIMEOUT");
    UNIT_EQ_STR(wsa_mismatch_name(true), "MISMATCH");
    UNIT_EQ_STR(wsa_mismatch_name(false), "REPLY_MISMATCH");
    UNIT_EQ_INT(wsa_from_mismatch(true), 11004);  /* WSANO_DATA */
    UNIT_EQ_INT(wsa_from_mismatch(false), 10053); /* WSAECONNABORTED */
    /* the explanations say where these come from */
    UNIT_CHECK(strstr(wsa_by_code(10053)->explanation, "REPLY_MISMATCH") != NULL);
    UNIT_CHECK(strstr(wsa_by_code(11004)->explanation, "MISMATCH") != NULL);
}

int main(int argc, char **argv)
{
    unit_init(argc, argv);
    UNIT_RUN(test_table_matches_source);
    UNIT_RUN(test_table_counts);
    UNIT_RUN(test_table_unique);
    UNIT_RUN(test_table_texts);
    UNIT_RUN(test_by_code);
    UNIT_RUN(test_by_name);
    UNIT_RUN(test_errno_mapping);
    UNIT_RUN(test_errno_unmapped);
    UNIT_RUN(test_eai_mapping);
    UNIT_RUN(test_dns_mapping);
    UNIT_RUN(test_targets_exist);
    UNIT_RUN(test_name_round_trips);
    UNIT_RUN(test_reverse_lookups);
    UNIT_RUN(test_every_stored_raw_is_explainable);
    UNIT_RUN(test_raw_names_and_mismatch);
    return UNIT_END("wsa");
}
