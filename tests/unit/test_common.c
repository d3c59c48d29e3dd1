/* SPDX-License-Identifier: ISC */
/* Unit tests for common/: the helpers daemon and client share, one per
 * idea (the JSON string escaper, ...). The WSA table has test_wsa.c. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "array.h"
#include "json.h"
#include "timefmt.h"
#include "unit.h"

struct sink {
    char buf[256];
    size_t n;
};

static void sink_put(const char *p, size_t n, void *arg)
{
    struct sink *s = arg;

    if (s->n + n < sizeof(s->buf)) {
        memcpy(s->buf + s->n, p, n);
        s->n += n;
        s->buf[s->n] = '\0';
    }
}

static const char *json_of(const char *s)
{
    static struct sink k;

    memset(&k, 0, sizeof(k));
    json_write(s, sink_put, &k);
    return k.buf;
}

/* UTF-8 as it is: the daemon's Alertmanager post used to write every byte
 * over 0x7e as \u00XX, so a hostname "büro" reached it as "bÃ¼ro". */
static void test_json_keeps_utf8(void)
{
    char out[64];

    UNIT_EQ_STR(json_of("b\xc3\xbcro \xe2\x82\xac \xf0\x9f\x98\x80"),
                "\"b\xc3\xbcro \xe2\x82\xac \xf0\x9f\x98\x80\"");
    json_string(out, sizeof(out), "b\xc3\xbcro");
    UNIT_EQ_STR(out, "\"b\xc3\xbcro\"");
}

/* Bytes that are not UTF-8 become U+FFFD: the --once printer used to copy
 * them, which no JSON parser takes. */
static void test_json_replaces_bytes_that_are_not_utf8(void)
{
    char out[64];

    json_string(out, sizeof(out), "bad\xff end\xc3");
    UNIT_EQ_STR(out, "\"bad\\ufffd end\\ufffd\"");
    /* overlong, surrogate, over U+10FFFF */
    UNIT_EQ_STR(json_of("\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80"),
                "\"\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\"");
}

static void test_json_escapes(void)
{
    UNIT_EQ_STR(json_of("q\" b\\ nl\n tab\t del\x7f c1\xc2\x9b ls\xe2\x80\xa8 ps\xe2\x80\xa9"),
                "\"q\\\" b\\\\ nl\\u000a tab\\u0009 del\\u007f c1\\u009b ls\\u2028 ps\\u2029\"");
    UNIT_EQ_STR(json_of(""), "\"\"");
}

/* A string cut to fit stays valid: never half a character or half an
 * escape, always the closing quote. */
static void test_json_string_cuts_between_characters(void)
{
    char out[16];

    json_string(out, 12, "aa\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
    UNIT_EQ_STR(out, "\"aa\xc3\xa9\xc3\xa9\xc3\xa9\"");
    json_string(out, 9, "ab\ncd");
    UNIT_EQ_STR(out, "\"ab\"");
    json_string(out, 3, "abc");
    UNIT_EQ_STR(out, "\"\"");
    json_string(out, 2, "abc");
    UNIT_EQ_STR(out, "");
    json_string(out, 8, "abcde");
    UNIT_EQ_STR(out, "\"abcde\"");
}

/* One ISO 8601 writer for both programs: the daemon's own (--once, the
 * alert hook, Alertmanager) wrote -1 ms as "1970-01-01T00:00:00.-01Z". */
static void test_timefmt_iso(void)
{
    char buf[48];

    timefmt_iso(1795514400123, true, buf, sizeof(buf));
    UNIT_EQ_STR(buf, "2026-11-24T10:00:00.123Z");
    timefmt_iso(-1, true, buf, sizeof(buf));
    UNIT_EQ_STR(buf, "1969-12-31T23:59:59.999Z");
    timefmt_iso(1795514400123, false, buf, sizeof(buf)); /* TZ is CET, see main */
    UNIT_EQ_STR(buf, "2026-11-24T11:00:00.123+01:00");
    timefmt_iso(1785600000000, false, buf, sizeof(buf)); /* summer time */
    UNIT_EQ_STR(buf, "2026-08-01T18:00:00.000+02:00");
}

static const char *dur(int64_t ms, enum timefmt_style style)
{
    static char buf[32];

    timefmt_duration(ms, style, buf, sizeof(buf));
    return buf;
}

/* One duration writer: as a config value (config messages, chart widths,
 * the hook's window), how long (uptime, alerts), how long ago (targets). */
static void test_timefmt_duration(void)
{
    UNIT_EQ_STR(dur(90000, TIMEFMT_EXACT), "90s");
    UNIT_EQ_STR(dur(60000, TIMEFMT_EXACT), "1m");
    UNIT_EQ_STR(dur(1500, TIMEFMT_EXACT), "1500ms");
    UNIT_EQ_STR(dur(7 * 86400000LL, TIMEFMT_EXACT), "7d");
    UNIT_EQ_STR(dur(0, TIMEFMT_EXACT), "0ms");
    UNIT_EQ_STR(dur(45999, TIMEFMT_ELAPSED), "45s");
    UNIT_EQ_STR(dur(725000, TIMEFMT_ELAPSED), "12m05s");
    UNIT_EQ_STR(dur(725000, TIMEFMT_AGO), "12m");
    UNIT_EQ_STR(dur(3 * 3600000LL + 5 * 60000, TIMEFMT_ELAPSED), "3h05m");
    UNIT_EQ_STR(dur(3 * 3600000LL + 5 * 60000, TIMEFMT_AGO), "3h05m");
    UNIT_EQ_STR(dur(2 * 86400000LL + 4 * 3600000LL + 1, TIMEFMT_ELAPSED), "2d04h");
    UNIT_EQ_STR(dur(-1, TIMEFMT_ELAPSED), "-");
    UNIT_EQ_STR(dur(-1, TIMEFMT_AGO), "-");
}

/* Appends grow the room by doubling; a size that cannot be had leaves
 * the array as it was. */
static void test_array_reserve(void)
{
    int64_t *v = NULL;
    size_t n = 0, cap = 0, grew = 0;
    int64_t *before;

    for (int64_t i = 0; i < 1000; i++) {
        size_t was = cap;
        UNIT_EQ_INT(ARRAY_RESERVE(v, cap, n + 1), 0);
        if (cap != was)
            grew++;
        v[n++] = i;
    }
    UNIT_EQ_INT(cap, 1024);
    UNIT_EQ_INT(grew, 8); /* 8, 16, ..., 1024 */
    for (size_t i = 0; i < n; i++)
        if (v[i] != (int64_t)i)
            UNIT_EQ_INT(v[i], i);
    UNIT_EQ_INT(ARRAY_RESERVE(v, cap, 10), 0); /* room enough: nothing moves */
    UNIT_EQ_INT(cap, 1024);
    before = v;
    UNIT_EQ_INT(ARRAY_RESERVE(v, cap, SIZE_MAX / 4), -1);
    UNIT_CHECK(v == before && cap == 1024);
    UNIT_EQ_INT(ARRAY_RESERVE(v, cap, SIZE_MAX), -1);
    UNIT_CHECK(v == before && cap == 1024 && v[999] == 999);
    free(v);
}

int main(int argc, char **argv)
{
    unit_init(argc, argv);
    /* a zone with summer time spelled as a POSIX rule: the same anywhere */
    setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", 1);
    tzset();
    UNIT_RUN(test_json_keeps_utf8);
    UNIT_RUN(test_json_replaces_bytes_that_are_not_utf8);
    UNIT_RUN(test_json_escapes);
    UNIT_RUN(test_json_string_cuts_between_characters);
    UNIT_RUN(test_timefmt_iso);
    UNIT_RUN(test_timefmt_duration);
    UNIT_RUN(test_array_reserve);
    return UNIT_END("common");
}
