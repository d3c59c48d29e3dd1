/* SPDX-License-Identifier: ISC */
/* Unit tests of the client's shared pieces: the output writer, the
 * --since/--until parser, formatting, the database checks and the counting
 * helpers; the client's .c files are included (chrony style) because unit
 * binaries link only the daemon objects, and the few functions of main.c
 * and cmd_codes.c they call are stubbed below. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "store.h" /* the daemon writes the databases the client reads here */
#include "unit.h"
#include "../../client/output.c"
#include "../../client/timearg.c"
#include "../../client/fmt.c"
#include "../../client/db.c"
#include "../../common/suggest.c"
#include "../../client/filter.c"
#include "../../client/counts.c"
#include "../../client/state.c"

/* Stubs for what filter.c needs from main.c and cmd_codes.c. */
static int stub_usage_errors;

int client_usage_error(const struct client *cl, const char *fmt, ...)
{
    (void)cl;
    (void)fmt;
    stub_usage_errors++;
    return CLIENT_EXIT_USAGE;
}

void client_note(const struct client *cl, const char *fmt, ...)
{
    (void)cl;
    (void)fmt;
}

void client_wrap(const struct client *cl, const char *text)
{
    (void)cl;
    (void)text;
}

const char *const *client_opt_list(const struct client *cl, const char *long_name, size_t *n)
{
    (void)cl;
    (void)long_name;
    *n = 0;
    return NULL;
}

const struct wsa_code *codes_lookup(const char *what, char *msg, size_t msglen)
{
    const struct wsa_code *wc = wsa_by_name(what);
    if (wc == NULL)
        snprintf(msg, msglen, "unknown code \"%s\"", what);
    return wc;
}

static const struct output_column two_cols[] = {
    {"name", OUTPUT_COL_KEEP, 0, NULL, 0},
    {"text", 0, 0, NULL, 0},
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
        {"code", OUTPUT_COL_RIGHT, 0, NULL, 0},
        {"os", 0, 0, NULL, 0},
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
                "a,b   say \"hi\" bye\\x1b[31m\n"
                "-\n");
}

/* What someone else wrote into the database: broken UTF-8, C1 controls,
 * line separators, infinities: the JSON stays valid, the terminal sees
 * nothing raw. */
static void fill_hostile(struct output *o)
{
    output_str(o, "bad\xff\xc3(\xed\xa0\x80 ok \xc3\xa9");
    output_str(o, "csi\xc2\x9b"
                  "2J bel\x07 ls\xe2\x80\xa8");
    output_end_row(o);
}

static void fill_infinities(struct output *o)
{
    output_double(o, INFINITY, 2, NULL);
    output_double(o, -INFINITY, 2, "shown");
    output_end_row(o);
}

static void test_hostile_text(void)
{
    UNIT_EQ_STR(render(OUTPUT_JSON, OUTPUT_LIST, two_cols, 2, 80, false, fill_hostile),
                "[\n{\"name\":\"bad\\ufffd\\ufffd(\\ufffd\\ufffd\\ufffd ok \xc3\xa9\","
                "\"text\":\"csi\\u009b2J bel\\u0007 ls\\u2028\"}\n]\n");
    UNIT_EQ_STR(
        render(OUTPUT_TABLE, OUTPUT_LIST, two_cols, 2, 0, false, fill_hostile),
        "NAME                           TEXT\n"
        "bad\\xff\\xc3(\\xed\\xa0\\x80 ok \xc3\xa9  csi\\u009b2J bel\\x07 ls\xe2\x80\xa8\n");
    UNIT_EQ_STR(render(OUTPUT_JSON, OUTPUT_LIST, two_cols, 2, 80, false, fill_infinities),
                "[\n{\"name\":null,\"text\":null}\n]\n");
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
    static const struct output_column cols[] = {{"errnos", 0, 0, NULL, 0}, {"eai", 0, 0, NULL, 0}};
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

/* Local time, at another now. */
static int64_t timearg_parse_at(const char *s, int64_t now)
{
    char err[256] = "";
    int64_t ms = -1;

    UNIT_EQ_INT(timearg_parse(s, now, false, &ms, err, sizeof(err)), 0);
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

/* What people type for journalctl. */
static void test_timearg_journalctl_forms(void)
{
    const int64_t now = 1795514400000LL; /* 2026-11-24T10:00:00Z */

    UNIT_EQ_INT(parse_ok("yesterday", true), now - 10 * 3600000LL - 86400000LL);
    UNIT_EQ_INT(parse_ok("tomorrow", true), now + 14 * 3600000LL);
    UNIT_EQ_INT(parse_ok("-15m", true), now - 15 * 60000LL);
    UNIT_EQ_INT(parse_ok("+15m", true), now + 15 * 60000LL);
    UNIT_EQ_INT(parse_ok("1 hour ago", true), now - 3600000LL);
    UNIT_EQ_INT(parse_ok("2h 30min ago", true), now - 9000000LL);
    UNIT_EQ_INT(parse_ok("15min ago", true), now - 900000LL);
    UNIT_EQ_INT(parse_ok("3 days ago", true), now - 3 * 86400000LL);
    UNIT_EQ_INT(parse_ok("16:00", true), now + 6 * 3600000LL);
    UNIT_EQ_INT(parse_ok("08:30:15", true), now - 5385000LL);
    UNIT_EQ_INT(parse_ok("2026-12-07 16:00", true), 1796659200000LL);
    /* local: yesterday's midnight in CET across no change, and a day of
     * 23 hours in spring */
    setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", 1);
    tzset();
    UNIT_EQ_INT(parse_ok("yesterday", false), 1795388400000LL); /* 11-23 00:00 CET */
    UNIT_EQ_INT(timearg_parse_at("yesterday", 1774864800000LL), 1774738800000LL);
    unsetenv("TZ");
    tzset();
}

static void test_timearg_rejects(void)
{
    static const char *const bad[] = {
        "",
        "5",
        "yesterdy",
        "-15",

        "1 fortnight ago",
        "ago",
        "25:00",
        "10:61",
        "1:2",
        "99999999999999999999m",
        "36600000d",
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

static void fill_ranked(struct output *o)
{
    output_int(o, 1795514400000LL);
    output_str_shown(o, "2026-11-24T10:00:00.000Z", "11-24 10:00:00");
    output_str(o, "a meaning that is rather long");
    output_str(o, "dropped first");
    output_int_shown(o, 1234, "1.23ms");
    output_double(o, 0.25, 3, "25%");
    output_double(o, NAN, 3, NULL);
    output_end_row(o);
}

static const struct output_column ranked_cols[] = {
    {"ts_ms", OUTPUT_COL_HIDE, 0, NULL, 0},
    {"time", OUTPUT_COL_KEEP, 0, NULL, 0},
    {"meaning", 0, 1, NULL, 0},
    {"extra", 0, 2, NULL, 0},
    {"latency_us", OUTPUT_COL_RIGHT, 0, "LATENCY", 0},
    {"rate", OUTPUT_COL_RIGHT, 0, NULL, 0},
    {"none", 0, 0, NULL, 0},
};

static void test_table_drops_ranked_columns_first(void)
{
    /* Everything (hidden ts_ms aside) would be 89 columns. */
    UNIT_EQ_STR(
        render(OUTPUT_TABLE, OUTPUT_LIST, ranked_cols, 7, 200, false, fill_ranked),
        "TIME            MEANING                        EXTRA          LATENCY  RATE  NONE\n"
        "11-24 10:00:00  a meaning that is rather long  dropped first   1.23ms   25%  -\n");
    /* 70: free text cut to fit is enough: nothing is dropped. */
    UNIT_EQ_STR(render(OUTPUT_TABLE, OUTPUT_LIST, ranked_cols, 7, 70, false, fill_ranked),
                "TIME            MEANING             EXTRA          LATENCY  RATE  NONE\n"
                "11-24 10:00:00  a meaning that is…  dropped first   1.23ms   25%  -\n");
    /* 60: "extra" (rank 2) goes first, and that is enough. */
    UNIT_EQ_STR(render(OUTPUT_TABLE, OUTPUT_LIST, ranked_cols, 7, 60, false, fill_ranked),
                "TIME            MEANING                  LATENCY  RATE  NONE\n"
                "11-24 10:00:00  a meaning that is rath…   1.23ms   25%  -\n");
    /* 40: both go, then nothing is cut. */
    UNIT_EQ_STR(render(OUTPUT_TABLE, OUTPUT_LIST, ranked_cols, 7, 40, false, fill_ranked),
                "TIME            LATENCY  RATE  NONE\n"
                "11-24 10:00:00   1.23ms   25%  -\n");
    /* --wide keeps them all. */
    UNIT_CHECK(strstr(render(OUTPUT_TABLE, OUTPUT_LIST, ranked_cols, 7, 40, true, fill_ranked),
                      "dropped first") != NULL);
}

static void test_machine_formats_keep_every_column(void)
{
    UNIT_EQ_STR(render(OUTPUT_JSON, OUTPUT_LIST, ranked_cols, 7, 40, false, fill_ranked),
                "[\n{\"ts_ms\":1795514400000,\"time\":\"2026-11-24T10:00:00.000Z\","
                "\"meaning\":\"a meaning that is rather long\",\"extra\":\"dropped first\","
                "\"latency_us\":1234,\"rate\":0.250,\"none\":null}\n]\n");
    UNIT_EQ_STR(render(OUTPUT_CSV, OUTPUT_LIST, ranked_cols, 7, 40, false, fill_ranked),
                "ts_ms,time,meaning,extra,latency_us,rate,none\n"
                "1795514400000,2026-11-24T10:00:00.000Z,a meaning that is rather long,"
                "dropped first,1234,0.250,\n");
}

static void test_timearg_today_and_now(void)
{
    const int64_t now = 1795514400000LL; /* 2026-11-24T10:00:00Z */

    UNIT_EQ_INT(parse_ok("now", false), now);
    UNIT_EQ_INT(parse_ok("today", true), 1795478400000LL);
    setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", 1);
    tzset();
    UNIT_EQ_INT(parse_ok("today", false), 1795478400000LL - 3600000);
    UNIT_EQ_INT(parse_ok("today", true), 1795478400000LL);
    unsetenv("TZ");
    tzset();
}

static void test_fmt(void)
{
    static const struct {
        double fraction;
        bool one; /* fmt_percent1 */
        const char *want;
    } percents[] = {
        {0.0388, false, "3.9%"},    {0.0028, false, "0.28%"},  {0.00001, false, "<0.01%"},
        {0.99999, false, ">99.9%"}, {1.0, false, "100%"},      {NAN, false, "-"},
        {0.0, false, "0.00%"},      {0.5, false, "50.0%"},     {1.5, false, "100%"},
        {0.0388, true, "3.9%"},     {0.0028, true, "0.3%"},    {0.0004, true, "<0.1%"},
        {0.0, true, "0.0%"},        {0.99999, true, ">99.9%"}, {1.0, true, "100.0%"},
        {1.5, true, "150.0%"},      {NAN, true, "-"},
    };
    char buf[64];

    fmt_latency_us(57, buf, sizeof(buf));
    UNIT_EQ_STR(buf, "57us");
    fmt_latency_us(4210, buf, sizeof(buf));
    UNIT_EQ_STR(buf, "4.21ms");
    fmt_latency_us(100136, buf, sizeof(buf));
    UNIT_EQ_STR(buf, "100.1ms");
    fmt_latency_us(3000412, buf, sizeof(buf));
    UNIT_EQ_STR(buf, "3.00s");
    /* fmt_percent: two decimals below 1%, a whole 100%; fmt_percent1: one
     * decimal always, the same edges at 0.1% */
    for (size_t i = 0; i < ND_ARRAY_LEN(percents); i++) {
        if (percents[i].one)
            fmt_percent1(percents[i].fraction, buf, sizeof(buf));
        else
            fmt_percent(percents[i].fraction, buf, sizeof(buf));
        UNIT_EQ_STR(buf, percents[i].want);
    }
    timefmt_duration(5 * 60000, TIMEFMT_ELAPSED, buf, sizeof(buf));
    UNIT_EQ_STR(buf, "5m00s");
    timefmt_duration(26 * 3600000LL, TIMEFMT_ELAPSED, buf, sizeof(buf));
    UNIT_EQ_STR(buf, "1d02h");
    fmt_time(1795514400123LL, true, FMT_TIME_ISO, buf, sizeof(buf));
    UNIT_EQ_STR(buf, "2026-11-24T10:00:00.123Z");
    setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", 1);
    tzset();
    fmt_time(1795514400123LL, false, FMT_TIME_ISO, buf, sizeof(buf));
    UNIT_EQ_STR(buf, "2026-11-24T11:00:00.123+01:00");
    fmt_time(1795514400123LL, false, FMT_TIME_SHORT, buf, sizeof(buf));
    UNIT_EQ_STR(buf, "11-24 11:00:00");
    UNIT_EQ_STR(fmt_zone(1795514400123LL, false), "CET");
    UNIT_EQ_INT(fmt_utc_offset_ms(1795514400123LL, false), 3600000);
    unsetenv("TZ");
    tzset();
}

static void test_counts_floor_and_map(void)
{
    struct counts_map m = {0};

    UNIT_EQ_INT(counts_floor(1795514430500LL, 60000, 0), 1795514400000LL);
    UNIT_EQ_INT(counts_floor(1795514400000LL, 60000, 0), 1795514400000LL);
    /* A day in UTC+1 starts at 23:00Z the day before. */
    UNIT_EQ_INT(counts_floor(1795514400000LL, 86400000LL, 3600000), 1795474800000LL);
    UNIT_EQ_INT(counts_floor(-1, 1000, 0), -1000);
    for (int i = 0; i < 5000; i++)
        counts_map_add(&m, i % 1000, 10061 + i % 3, 1);
    UNIT_EQ_INT(m.len, 3000);
    UNIT_CHECK(counts_map_find(&m, 7, 10061 + 7 % 3) != NULL);
    UNIT_EQ_INT(counts_map_find(&m, 7, 10061 + 7 % 3)->n, 2);
    UNIT_CHECK(counts_map_find(&m, 7, 99) == NULL);
    counts_map_free(&m);
    /* sums of hostile numbers saturate instead of overflowing */
    {
        int64_t acc = INT64_MAX - 1;
        counts_add(&acc, 5);
        UNIT_EQ_INT(acc, INT64_MAX);
        acc = INT64_MIN + 1;
        counts_add(&acc, -5);
        UNIT_CHECK(acc == INT64_MIN);
    }
    UNIT_EQ_INT(counts_ceil(1795514430500LL, 60000, 0), 1795514460000LL);
    UNIT_EQ_INT(counts_ceil(INT64_MAX - 5, 60000, 0), counts_floor(INT64_MAX - 5, 60000, 0));
}

static void test_filter_sql(void)
{
    struct db_target targets[2] = {{.id = 3, .selected = true}, {.id = 9, .selected = false}};
    struct db db = {.targets = targets, .ntargets = 2, .nselected = 1};
    struct filter f = {
        .by_target = true, .codes = {10061, 10060}, .ncodes = 2, .phases = {1}, .nphases = 1};
    struct fmt_buf b = {0};

    filter_sql(&db, &f, &b, "target_id", "wsa_code", "phase");
    UNIT_EQ_STR(b.s, " AND target_id IN (3) AND wsa_code IN (10061,10060) AND phase IN (1)");
    fmt_buf_free(&b);
    f.by_target = false;
    filter_sql(&db, &f, &b, "target_id", NULL, NULL);
    UNIT_CHECK(b.s == NULL); /* nothing to add */
    UNIT_CHECK(filter_code_ok(&f, 10060) && !filter_code_ok(&f, 11001));
    UNIT_EQ_STR(filter_phase_name(4), "recv");
    /* many selected targets: a function of the connection, not a list */
    f.by_target = true;
    db.nselected = DB_IN_LIST_MAX + 1;
    filter_sql(&db, &f, &b, "target_id", NULL, NULL);
    UNIT_EQ_STR(b.s, " AND nd_selected(target_id)");
    fmt_buf_free(&b);
    UNIT_CHECK(filter_phase_name(6) == NULL);
}

/* db_open() on what the daemon's own store makes, and on what it is not. */
static void test_db_open(void)
{
    char dir[] = "/tmp/netdiag-test-client-XXXXXX", path[256], err[512];
    struct client cl = {.db_path = path};
    struct store *st;
    struct db db;
    int fd;

    /* review the client's queries at every schema change; the client reads
     * schema 3 (the runs table, agreed) before the store's branch brings
     * it: equal once both are merged */
    UNIT_CHECK(CLIENT_SCHEMA_VERSION == STORE_SCHEMA_VERSION);
    UNIT_CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/missing.db", dir);
    UNIT_EQ_INT(db_open(&cl, &db), CLIENT_EXIT_NO_DB);
    snprintf(path, sizeof(path), "%s/empty.db", dir);
    fd = open(path, O_CREAT | O_WRONLY, 0600);
    UNIT_CHECK(fd >= 0);
    UNIT_EQ_INT(db_open(&cl, &db), CLIENT_EXIT_BAD_DB);
    UNIT_CHECK(write(fd, "not a database at all", 21) == 21);
    close(fd);
    UNIT_EQ_INT(db_open(&cl, &db), CLIENT_EXIT_BAD_DB);
    unlink(path);
    snprintf(path, sizeof(path), "%s/nd.db", dir);
    st = store_open(path, NULL, err, sizeof(err));
    if (st == NULL)
        fprintf(stderr, "store_open: %s\n", err);
    UNIT_CHECK(st != NULL);
    if (st != NULL)
        store_close(st);
    UNIT_EQ_INT(db_open(&cl, &db), 0);
    UNIT_EQ_INT(db.version, STORE_SCHEMA_VERSION);
    UNIT_EQ_INT(db.ntargets, 0);
    {
        int64_t first = 0;
        UNIT_EQ_INT(db_min_time(&db, "rollup_minute_code", "minute", &first), 0);
        UNIT_EQ_INT(first, INT64_MAX);
    }
    db_close(&db);
    /* older versions are read (the daemon migrates them at its next
     * start), newer ones refused */
    {
        static const struct {
            int version, exit;
        } cases[] = {
            {1, 0}, {CLIENT_SCHEMA_VERSION + 1, CLIENT_EXIT_BAD_DB}, {0, CLIENT_EXIT_BAD_DB}};
        for (size_t i = 0; i < ND_ARRAY_LEN(cases); i++) {
            sqlite3 *h;
            char sql[64];
            snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", cases[i].version);
            UNIT_EQ_INT(sqlite3_open(path, &h), SQLITE_OK);
            UNIT_EQ_INT(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
            sqlite3_close(h);
            UNIT_EQ_INT(db_open(&cl, &db), cases[i].exit);
            if (cases[i].exit == 0)
                UNIT_EQ_INT(db.version, cases[i].version);
            db_close(&db);
        }
    }
    cl.db_path = NULL;
    cl.config_path = dir; /* a directory cannot be read as a configuration */
    UNIT_EQ_INT(db_open(&cl, &db), CLIENT_EXIT_USAGE);
    snprintf(path, sizeof(path), "rm -rf '%s'", dir);
    UNIT_EQ_INT(system(path), 0);
}

/* The agreed judging of the runs table: stopped, running, killed or
 * hung, unknown. */
static void test_state(void)
{
    char dir[] = "/tmp/netdiag-test-state-XXXXXX", path[256], err[512], sql[512], host[256];
    struct client cl = {.db_path = path, .now_ms = 1795514400000LL};
    struct store *st;
    struct state s;
    struct db db;
    sqlite3 *h;
    static const struct {
        const char *host;
        long long pid, heartbeat_ago, stopped_ago; /* -1: NULL */
        enum state_kind want;
        bool gone;
    } cases[] = {
        {"other-host", 1, 1000, -1, STATE_RUNNING, false},
        {"other-host", 1, 9000, -1, STATE_RUNNING, false},
        {"other-host", 1, 11000, -1, STATE_NOT_RUNNING, false},
        {"other-host", 1, 1000, 500, STATE_STOPPED, false},
        {"other-host", 1, -60000, -1, STATE_NOT_RUNNING, false}, /* from the future */
        {NULL, 0x7ffffff0, 1000, -1, STATE_NOT_RUNNING, true},   /* this host, no such pid */
        {NULL, 0, 1000, -1, STATE_RUNNING, false},               /* pid 0: our own group */
    };

    UNIT_CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/nd.db", dir);
    st = store_open(path, NULL, err, sizeof(err));
    UNIT_CHECK(st != NULL);
    if (st == NULL)
        return;
    store_close(st);
    UNIT_EQ_INT(db_open(&cl, &db), 0);
    UNIT_EQ_INT(state_read(&cl, &db, &s), 0);
    if (!db.has_runs) {
        UNIT_EQ_INT(s.kind, STATE_UNKNOWN);
        UNIT_CHECK(strstr(s.why, "has no heartbeat") != NULL);
    }
    db_close(&db);
    UNIT_CHECK(gethostname(host, sizeof(host)) == 0);
    UNIT_EQ_INT(sqlite3_open(path, &h), SQLITE_OK);
    sqlite3_exec(h,
                 "CREATE TABLE IF NOT EXISTS runs (id INTEGER PRIMARY KEY, pid INTEGER NOT NULL, "
                 "hostname TEXT NOT NULL, version TEXT NOT NULL, config TEXT NOT NULL, started "
                 "INTEGER NOT NULL, heartbeat INTEGER NOT NULL, stopped INTEGER, results "
                 "INTEGER NOT NULL DEFAULT 0, failures INTEGER NOT NULL DEFAULT 0, dropped "
                 "INTEGER NOT NULL DEFAULT 0, targets INTEGER NOT NULL DEFAULT 0)",
                 NULL, NULL, NULL);
    UNIT_EQ_INT(sqlite3_exec(h, "DELETE FROM runs", NULL, NULL, NULL), SQLITE_OK);
    for (size_t i = 0; i < ND_ARRAY_LEN(cases); i++) {
        char stopped[32], line[512];
        if (cases[i].stopped_ago < 0)
            snprintf(stopped, sizeof(stopped), "NULL");
        else
            snprintf(stopped, sizeof(stopped), "%lld", (long long)cl.now_ms - cases[i].stopped_ago);
        snprintf(sql, sizeof(sql),
                 "INSERT INTO runs (pid, hostname, version, config, started, heartbeat, "
                 "stopped) VALUES (%lld, '%s', '0.1.0', '/etc/x.ini', %lld, %lld, %s)",
                 cases[i].pid, cases[i].host ? cases[i].host : host, (long long)cl.now_ms - 3600000,
                 (long long)cl.now_ms - cases[i].heartbeat_ago, stopped);
        UNIT_EQ_INT(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
        UNIT_EQ_INT(db_open(&cl, &db), 0);
        UNIT_EQ_INT(state_read(&cl, &db, &s), 0);
        UNIT_EQ_INT(s.kind, cases[i].want);
        UNIT_EQ_INT(s.pid_gone, cases[i].gone);
        state_line(&cl, &s, line, sizeof(line));
        UNIT_CHECK((line[0] == '\0') == (cases[i].want == STATE_RUNNING));
        db_close(&db);
    }
    sqlite3_close(h);
    snprintf(path, sizeof(path), "rm -rf '%s'", dir);
    UNIT_EQ_INT(system(path), 0);
}

int main(int argc, char **argv)
{
    unit_init(argc, argv);
    log_set_fd(unit_log_fd());
    unsetenv("COLUMNS");
    UNIT_RUN(test_table_cuts_free_text);
    UNIT_RUN(test_table_cuts_kept_columns_last);
    UNIT_RUN(test_table_right_aligns_and_booleans);
    UNIT_RUN(test_csv_quotes_rfc4180);
    UNIT_RUN(test_json_escapes_and_nulls);
    UNIT_RUN(test_table_keeps_control_characters_off_the_terminal);
    UNIT_RUN(test_hostile_text);
    UNIT_RUN(test_empty_outputs);
    UNIT_RUN(test_lists);
    UNIT_RUN(test_record_wraps);
    UNIT_RUN(test_text_width);
    UNIT_RUN(test_timearg_accepts);
    UNIT_RUN(test_timearg_local_time);
    UNIT_RUN(test_timearg_journalctl_forms);
    UNIT_RUN(test_timearg_rejects);
    UNIT_RUN(test_table_drops_ranked_columns_first);
    UNIT_RUN(test_machine_formats_keep_every_column);
    UNIT_RUN(test_timearg_today_and_now);
    UNIT_RUN(test_fmt);
    UNIT_RUN(test_counts_floor_and_map);
    UNIT_RUN(test_filter_sql);
    UNIT_RUN(test_db_open);
    UNIT_RUN(test_state);
    return UNIT_END("client");
}
