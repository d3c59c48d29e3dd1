/* Unit tests for common/: the helpers daemon and client share, one per
 * idea (the JSON string escaper, ...). The WSA table has test_wsa.c. */
#include <stdio.h>
#include <string.h>

#include "json.h"
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

int main(void)
{
    UNIT_RUN(test_json_keeps_utf8);
    UNIT_RUN(test_json_replaces_bytes_that_are_not_utf8);
    UNIT_RUN(test_json_escapes);
    UNIT_RUN(test_json_string_cuts_between_characters);
    return UNIT_END("common");
}
