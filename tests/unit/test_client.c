/* Unit tests of the client's shared pieces, the output writer and the
 * --since/--until parser; the client's .c files are included (chrony style)
 * because unit binaries link only the daemon objects. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "unit.h"
#include "../../client/output.c"
#include "../../client/timearg.c"

static const struct output_column two_cols[] = {
    {"name", OUTPUT_COL_KEEP},
    {"text", 0},
};

/* Run `fill` on an output of `format` into a memory stream; returns the
 * text (static buffer). */
static const char *render(enum output_format format, enum output_layout layout,
                          const struct output_column *cols, size_t ncols, int width, bool wide,
                          void (*fill)(struct output *))
{
    static char text[8192];
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    struct output *o = output_new(fp, format, layout, cols, ncols, width, wide);

    fill(o);
    UNIT_EQ_INT(output_finish(o), 0);
    fclose(fp);
    util_strlcpy(text, buf, sizeof(text));
    free(buf);
    return text;
}

static void fill_cut(struct output *o)
{
    output_str(o, "web");
    output_str(o, "connection refused by peer");
    output_end_row(o);
    output_str(o, "dns-local");
    output_str(o, "ok");
    output_end_row(o);
}

static void test_table_cuts_free_text(void)
{
    /* 9 + 2 + 9 = 20 columns: the text column gives way, names stay. */
    UNIT_EQ_STR(render(OUTPUT_TABLE, OUTPUT_LIST, two_cols, 2, 20, false, fill_cut),
                "NAME       TEXT\n"
                "web        connecti\xe2\x80\xa6\n"
                "dns-local  ok\n");
    UNIT_EQ_STR(render(OUTPUT_TABLE, OUTPUT_LIST, two_cols, 2, 20, true, fill_cut),
                "NAME       TEXT\n"
                "web        connection refused by peer\n"
                "dns-local  ok\n");
}

static void test_table_cuts_kept_columns_last(void)
{
    /* 12 columns: the text column stops at its floor (8), then both give
     * way, the wider first, and end 5 wide each. */
    UNIT_EQ_STR(render(OUTPUT_TABLE, OUTPUT_LIST, two_cols, 2, 12, false, fill_cut),
                "NAME   TEXT\n"
                "web    conn\xe2\x80\xa6\n"
                "dns-\xe2\x80\xa6  ok\n");
    /* Wide enough for all but 6 columns of text: only the text is cut. */
    UNIT_EQ_STR(render(OUTPUT_TABLE, OUTPUT_LIST, two_cols, 2, 31, false, fill_cut),
                "NAME       TEXT\n"
                "web        connection refused \xe2\x80\xa6\n"
                "dns-local  ok\n");
}

static void fill_numbers(struct output *o)
{
    output_int(o, 6);
    output_bool(o, true);
    output_end_row(o);
    output_int(o, 10061);
    output_bool(o, false);
    output_end_row(o);
}

static void test_table_right_aligns_and_booleans(void)
{
    static const struct output_column cols[] = {
        {"code", OUTPUT_COL_RIGHT},
        {"os", 0},
    };
    const char *want = " CODE  OS\n"
                       "    6  yes\n"
                       "10061  no\n";
    UNIT_EQ_STR(render(OUTPUT_TABLE, OUTPUT_LIST, cols, 2, 80, false, fill_numbers), want);
}

static void fill_nasty(struct output *o)
{
    output_str(o, "a,b");
    output_str(o, "say \"hi\"\nbye\x1b[31m");
    output_end_row(o);
    output_str(o, NULL);
    output_str(o, "");
    output_end_row(o);
}

static void test_csv_quotes_rfc4180(void)
{
    UNIT_EQ_STR(render(OUTPUT_CSV, OUTPUT_LIST, two_cols, 2, 80, false, fill_nasty),
                "name,text\n"
                "\"a,b\",\"say \"\"hi\"\"\nbye\x1b[31m\"\n"
                ",\n");
}

static void test_json_escapes_and_nulls(void)
{
    UNIT_EQ_STR(render(OUTPUT_JSON, OUTPUT_LIST, two_cols, 2, 80, false, fill_nasty),
                "[\n"
                "{\"name\":\"a,b\",\"text\":\"say \\\"hi\\\"\\u000abye\\u001b[31m\"},\n"
                "{\"name\":null,\"text\":\"\"}\n"
                "]\n");
}

static void test_table_keeps_control_characters_off_the_terminal(void)
{
    UNIT_EQ_STR(render(OUTPUT_TABLE, OUTPUT_LIST, two_cols, 2, 80, false, fill_nasty),
                "NAME  TEXT\n"
                "a,b   say \"hi\" bye?[31m\n"
                "-\n");
}

static void fill_nothing(struct output *o)
{
    (void)o;
}

static void test_empty_outputs(void)
{
    UNIT_EQ_STR(render(OUTPUT_JSON, OUTPUT_LIST, two_cols, 2, 80, false, fill_nothing), "[]\n");
    UNIT_EQ_STR(render(OUTPUT_CSV, OUTPUT_LIST, two_cols, 2, 80, false, fill_nothing),
                "name,text\n");
    UNIT_EQ_STR(render(OUTPUT_TABLE, OUTPUT_LIST, two_cols, 2, 80, false, fill_nothing),
                "NAME  TEXT\n");
}

static void fill_list(struct output *o)
{
    static const char *const items[] = {"ECONNRESET", "EPIPE"};
    output_list(o, items, 2);
    output_list(o, items, 0);
    output_end_row(o);
}

static void test_lists(void)
{
    static const struct output_column cols[] = {{"errnos", 0}, {"eai", 0}};
    UNIT_EQ_STR(render(OUTPUT_JSON, OUTPUT_LIST, cols, 2, 80, false, fill_list),
                "[\n{\"errnos\":[\"ECONNRESET\",\"EPIPE\"],\"eai\":[]}\n]\n");
    UNIT_EQ_STR(render(OUTPUT_CSV, OUTPUT_LIST, cols, 2, 80, false, fill_list),
                "errnos,eai\nECONNRESET EPIPE,\n");
    UNIT_EQ_STR(render(OUTPUT_TABLE, OUTPUT_RECORD, cols, 2, 80, false, fill_list),
                "errnos  ECONNRESET, EPIPE\n"
                "eai     -\n");
}

static void fill_record(struct output *o)
{
    output_str(o, "web");
    output_str(o, "one two three four five six seven eight nine ten "
                  "abcdefghijklmnopqrstuvwxyzabcdefghij end");
    output_end_row(o);
}

static void test_record_wraps(void)
{
    /* Labels take 6 columns, leaving 24 (the floor is 20) for values. */
    UNIT_EQ_STR(render(OUTPUT_TABLE, OUTPUT_RECORD, two_cols, 2, 30, false, fill_record),
                "name  web\n"
                "text  one two three four five\n"
                "      six seven eight nine ten\n"
                "      abcdefghijklmnopqrstuvwx\n"
                "      yzabcdefghij end\n");
}

static void test_text_width(void)
{
    UNIT_EQ_INT(output_text_width(""), 0);
    UNIT_EQ_INT(output_text_width("abc"), 3);
    UNIT_EQ_INT(output_text_width("a" OUTPUT_ELLIPSIS "b"), 3);
    UNIT_EQ_INT(output_format_from_name("csv"), OUTPUT_CSV);
    UNIT_EQ_INT(output_format_from_name("xml"), -1);
}

static int64_t parse_ok(const char *s, bool utc)
{
    char err[256] = "";
    int64_t ms = -1;
    int rc = timearg_parse(s, 1795514400000LL, utc, &ms, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "timearg_parse(\"%s\"): %s\n", s, err);
    UNIT_EQ_INT(rc, 0);
    return ms;
}

static void test_timearg_accepts(void)
{
    const int64_t now = 1795514400000LL; /* 2026-11-24T10:00:00Z */

    UNIT_EQ_INT(parse_ok("15m", false), now - 15 * 60000);
    UNIT_EQ_INT(parse_ok("7d", false), now - 7 * 86400000LL);
    UNIT_EQ_INT(parse_ok("2026-11-24T10:00:00Z", false), now);
    UNIT_EQ_INT(parse_ok("2026-11-24t10:00z", false), now);
    UNIT_EQ_INT(parse_ok("2026-11-24 11:00:00.25+01:00", false), now + 250);
    UNIT_EQ_INT(parse_ok("2026-11-24T04:30-0530", false), now);
    UNIT_EQ_INT(parse_ok("2026-11-24T10:00:00,123456789Z", false), now + 123);
    UNIT_EQ_INT(parse_ok("2026-11-24", true), 1795478400000LL);
    UNIT_EQ_INT(parse_ok("2024-02-29", true), 1709164800000LL);
    UNIT_EQ_INT(parse_ok("2026-11-24T10:00", true), now);
}

static void test_timearg_local_time(void)
{
    /* A POSIX TZ rule needs no tzdata: CET, with summer time. */
    setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", 1);
    tzset();
    UNIT_EQ_INT(parse_ok("2026-11-24T10:00", false), 1795510800000LL);    /* 09:00Z */
    UNIT_EQ_INT(parse_ok("2026-07-01T10:00:00", false), 1782892800000LL); /* 08:00Z */
    UNIT_EQ_INT(parse_ok("2026-07-01T10:00:00", true), 1782892800000LL + 7200000);
    UNIT_EQ_INT(parse_ok("2026-11-24T10:00:00Z", false), 1795514400000LL);
    unsetenv("TZ");
    tzset();
}

static void test_timearg_rejects(void)
{
    static const char *const bad[] = {
        "",
        "5",
        "yesterday",
        "-15m",
        "2026-13-01",
        "2026-02-29",
        "2026-11-31",
        "2026-11-24T24:00",
        "2026-11-24T10:60",
        "2026-11-24T10",
        "2026-11-24T10:00:00.",
        "2026-11-24T10:00+1",
        "2026-11-24T10:00+01:",
        "2026-11-24Z",
        "2026-11-24T10:00:00Zx",
        "1969-12-31",
        "2026-1-24",
    };
    for (size_t i = 0; i < ND_ARRAY_LEN(bad); i++) {
        char err[256] = "";
        int64_t ms = 42;
        int rc = timearg_parse(bad[i], 1795514400000LL, false, &ms, err, sizeof(err));
        if (rc != -1)
            fprintf(stderr, "accepted \"%s\"\n", bad[i]);
        UNIT_EQ_INT(rc, -1);
        UNIT_EQ_INT(ms, 42);
        UNIT_CHECK(strstr(err, bad[i]) != NULL); /* the message names the value */
    }
}

int main(void)
{
    unsetenv("COLUMNS");
    UNIT_RUN(test_table_cuts_free_text);
    UNIT_RUN(test_table_cuts_kept_columns_last);
    UNIT_RUN(test_table_right_aligns_and_booleans);
    UNIT_RUN(test_csv_quotes_rfc4180);
    UNIT_RUN(test_json_escapes_and_nulls);
    UNIT_RUN(test_table_keeps_control_characters_off_the_terminal);
    UNIT_RUN(test_empty_outputs);
    UNIT_RUN(test_lists);
    UNIT_RUN(test_record_wraps);
    UNIT_RUN(test_text_width);
    UNIT_RUN(test_timearg_accepts);
    UNIT_RUN(test_timearg_local_time);
    UNIT_RUN(test_timearg_rejects);
    return UNIT_END("client");
}
