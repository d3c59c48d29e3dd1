/* SPDX-License-Identifier: ISC */
/* `netdiag timeline`: failures over time in buckets, one row per code or
 * per target, drawn as a line of bars in a table and given as one record
 * per row and bucket in JSON and CSV. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chart.h"
#include "client.h"
#include "counts.h"
#include "db.h"
#include "filter.h"
#include "fmt.h"
#include "state.h"
#include "timefmt.h"
#include "util.h"
#include "wsa.h"

#define TIMELINE_DEFAULT_SPAN_MS (COUNTS_HOUR_MS)
#define TIMELINE_LABEL_BUDGET    30 /* label and total columns when the width is chosen */

/* Eight heights of bar, and a dot for an empty bucket. */
static const char *const timeline_bars[] = {"\xe2\x96\x81", "\xe2\x96\x82", "\xe2\x96\x83",
                                            "\xe2\x96\x84", "\xe2\x96\x85", "\xe2\x96\x86",
                                            "\xe2\x96\x87", "\xe2\x96\x88"};
#define TIMELINE_EMPTY "\xc2\xb7"

struct timeline_row {
    int64_t key; /* code or target id */
    int64_t total, peak;
    int64_t *counts; /* nbuckets */
};

struct timeline {
    struct client *cl;
    struct db db;
    struct filter f;
    struct range r;
    bool by_target, color;
    struct chart_axis ax;
    struct timeline_row *rows;
    size_t nrows;
    struct counts_map index; /* (key, 0) -> row index + 1 */
    struct counts_sink sink;
    struct timeline_row *last_row;
    int64_t last_key;
};

static struct timeline_row *timeline_row_for(struct timeline *t, int64_t key)
{
    struct counts_entry *e = counts_map_find(&t->index, key, 0);
    struct timeline_row *row;

    if (e != NULL)
        return &t->rows[e->n - 1];
    counts_map_add(&t->index, key, 0, (int64_t)t->nrows + 1);
    t->rows = fmt_alloc(t->rows, (t->nrows + 1) * sizeof(*t->rows));
    row = &t->rows[t->nrows++];
    *row = (struct timeline_row){.key = key};
    row->counts = fmt_alloc(NULL, t->ax.nbuckets * sizeof(*row->counts));
    memset(row->counts, 0, t->ax.nbuckets * sizeof(*row->counts));
    return row;
}

static void timeline_failures_cb(void *arg, int64_t key_target, int code, int64_t n, int64_t t_ms)
{
    struct timeline *t = arg;
    int64_t key = t->by_target ? key_target : code, b;
    struct timeline_row *row;

    if (t_ms < t->ax.origin_ms || n <= 0 || __builtin_sub_overflow(t_ms, t->ax.origin_ms, &b))
        return;
    b /= t->ax.bucket_ms;
    if ((uint64_t)b >= t->ax.nbuckets)
        return;
    if (t->last_row == NULL || key != t->last_key) { /* rows of one key often come in runs */
        t->last_row = timeline_row_for(t, key);
        t->last_key = key;
    }
    row = t->last_row;
    counts_add(&row->counts[b], n);
    counts_add(&row->total, n);
}

/* The failures of the buckets: hour rollups where buckets are whole hours,
 * minute rollups, and the failure rows where neither can place them. */
static int timeline_fill(struct timeline *t)
{
    t->sink = (struct counts_sink){
        .arg = t,
        .failures = timeline_failures_cb,
        .failures_from_rows = filter_needs_rows(&t->f),
        .bucket_ms = t->ax.bucket_ms,
        .offset_ms = t->ax.offset_ms,
        .codes_in_sql = true,
    };
    return counts_run(&t->db, &t->f, &t->r, &t->sink);
}

static int timeline_cmp(const void *pa, const void *pb, void *arg)
{
    const struct timeline_row *a = pa, *b = pb;
    const struct timeline *t = arg;

    if (a->total != b->total)
        return a->total > b->total ? -1 : 1;
    if (t->by_target)
        return strcmp(db_target_name(&t->db, a->key), db_target_name(&t->db, b->key));
    return a->key < b->key ? -1 : a->key > b->key;
}

/* Options; the bucket is checked here, the default chosen later. */
static int timeline_options(struct timeline *t)
{
    struct client *cl = t->cl;
    const char *by = client_opt(cl, "by");

    if (by != NULL && strcmp(by, "target") == 0)
        t->by_target = true;
    else if (by != NULL && strcmp(by, "code") != 0)
        return client_usage_error(cl, "--by: \"%s\" is not code or target", by);
    return chart_parse_options(cl, client_opt(cl, "bucket"), client_opt(cl, "color"), &t->ax,
                               &t->color);
}

static void timeline_label(const struct timeline *t, const struct timeline_row *row, char *buf,
                           size_t len)
{
    const struct wsa_code *wc;

    if (t->by_target) { /* a name someone else wrote: no control bytes to the terminal */
        output_escape(db_target_name(&t->db, row->key), buf, len);
        return;
    }
    wc = wsa_by_code((int)row->key);
    snprintf(buf, len, "%lld %s", (long long)row->key, wc ? wc->name : "?");
}

/* The height a bucket is drawn at: its count, scaled up to a whole bucket
 * for the one still filling (so a spike in progress never looks like a
 * recovery); -1 for a bucket still to come. */
static int64_t timeline_shown(const struct timeline *t, size_t b, int64_t n)
{
    int64_t e = chart_elapsed(&t->ax, b), v;

    if (e == 0)
        return -1;
    if (e >= t->ax.bucket_ms || n == 0)
        return n;
    if (e < 1000)
        e = 1000;
    if (__builtin_mul_overflow(n, t->ax.bucket_ms / 1000, &v))
        return INT64_MAX;
    return (v + e / 1000 - 1) / (e / 1000);
}

static void timeline_bar(const struct timeline *t, FILE *fp, int64_t v, int64_t max)
{
    int level;

    if (v < 0) {
        fputc(' ', fp);
        return;
    }
    if (v == 0) {
        fputs(t->color ? "\x1b[2m" TIMELINE_EMPTY "\x1b[0m" : TIMELINE_EMPTY, fp);
        return;
    }
    /* Any failure shows: the lowest bar, never an empty bucket. */
    level = v >= max ? 8 : (int)(((double)v * 8.0 + (double)max - 1.0) / (double)max);
    level = level < 1 ? 1 : level > 8 ? 8 : level;
    if (t->color)
        fputs(level <= 2 ? "\x1b[33m" : level <= 5 ? "\x1b[93m" : "\x1b[91m", fp);
    fputs(timeline_bars[level - 1], fp);
    if (t->color)
        fputs("\x1b[0m", fp);
}

static int timeline_table(struct timeline *t)
{
    FILE *fp = t->cl->out;
    size_t label_w = t->by_target ? strlen("TARGET") : strlen("CODE NAME"), total_w = 5;
    size_t first, ncols;
    int64_t max = 0, total = 0;
    char range[160], width[32], part[128], buf[512];

    for (size_t i = 0; i < t->nrows; i++) {
        timeline_label(t, &t->rows[i], buf, sizeof(buf));
        if (output_text_width(buf) > label_w)
            label_w = output_text_width(buf);
        snprintf(width, sizeof(width), "%lld", (long long)t->rows[i].total);
        if (strlen(width) > total_w)
            total_w = strlen(width);
        for (size_t b = 0; b < t->ax.nbuckets; b++) {
            int64_t v = timeline_shown(t, b, t->rows[i].counts[b]);
            max = v > max ? v : max;
        }
        counts_add(&total, t->rows[i].total);
    }
    chart_fit(t->cl, &t->ax, total_w + 4, &label_w, &first, &ncols);
    counts_range_text(t->cl, &t->r, range, sizeof(range));
    chart_width_name(t->ax.bucket_ms, width, sizeof(width));
    chart_partial_note(&t->ax, first, ", drawn at that rate", part, sizeof(part));
    if (t->nrows == 0) {
        snprintf(buf, sizeof(buf), "no failures, %s", range);
        client_wrap(t->cl, buf);
        return client_flush(fp);
    }
    snprintf(buf, sizeof(buf), "%lld failures, %s, per %s; a full bar is %lld%s", (long long)total,
             range, width, (long long)max, part);
    client_wrap(t->cl, buf);
    if (first > 0)
        fprintf(fp, "(the newest %zu of %zu buckets; --wide shows all)\n", ncols, t->ax.nbuckets);
    chart_cell(fp, t->by_target ? "TARGET" : "CODE NAME", label_w);
    fprintf(fp, "  %*s  ", (int)total_w, "TOTAL");
    chart_axis_labels(&t->ax, fp, first, ncols);
    fputc('\n', fp);
    for (size_t i = 0; i < t->nrows; i++) {
        timeline_label(t, &t->rows[i], buf, sizeof(buf));
        chart_cell(fp, buf, label_w);
        fprintf(fp, "  %*lld  ", (int)total_w, (long long)t->rows[i].total);
        for (size_t b = first; b < first + ncols; b++)
            timeline_bar(t, fp, timeline_shown(t, b, t->rows[i].counts[b]), max);
        fputc('\n', fp);
    }
    return client_flush(fp);
}

static const struct output_column timeline_code_cols[] = {
    {"start_ms", 0, 0, NULL, 0},  {"start", 0, 0, NULL, 0},    {"bucket_s", 0, 0, NULL, 0},
    {"elapsed_s", 0, 0, NULL, 0}, {"wsa_code", 0, 0, NULL, 0}, {"wsa_name", 0, 0, NULL, 0},
    {"failures", 0, 0, NULL, 0},
};

static const struct output_column timeline_target_cols[] = {
    {"start_ms", 0, 0, NULL, 0},  {"start", 0, 0, NULL, 0},  {"bucket_s", 0, 0, NULL, 0},
    {"elapsed_s", 0, 0, NULL, 0}, {"target", 0, 0, NULL, 0}, {"failures", 0, 0, NULL, 0},
};

static int timeline_records(struct timeline *t)
{
    struct output *o;

    if (t->by_target)
        o = output_new(t->cl->out, t->cl->format, OUTPUT_LIST, timeline_target_cols,
                       ND_ARRAY_LEN(timeline_target_cols), 0, true);
    else
        o = output_new(t->cl->out, t->cl->format, OUTPUT_LIST, timeline_code_cols,
                       ND_ARRAY_LEN(timeline_code_cols), 0, true);
    for (size_t i = 0; i < t->nrows; i++) {
        const struct timeline_row *row = &t->rows[i];
        const struct wsa_code *wc = wsa_by_code((int)row->key);
        for (size_t b = 0; b < t->ax.nbuckets; b++) {
            chart_put_bucket(&t->ax, o, b);
            if (t->by_target) {
                output_str(o, db_target_name(&t->db, row->key));
            } else {
                output_int(o, row->key);
                output_str(o, wc ? wc->name : NULL);
            }
            output_int(o, row->counts[b]);
            output_end_row(o);
        }
    }
    return output_finish(o) == 0 ? CLIENT_EXIT_OK : client_write_error();
}

int cmd_timeline_run(struct client *cl, int argc, char **argv)
{
    struct timeline t = {.cl = cl};
    struct state ds;
    int rc;

    (void)argc;
    (void)argv;
    if ((rc = timeline_options(&t)) != 0 ||
        (rc = filter_parse(cl, FILTER_TARGET | FILTER_CODE | FILTER_KIND | FILTER_RAW, &t.f)) != 0)
        return rc;
    range_from_client(cl, TIMELINE_DEFAULT_SPAN_MS, &t.r);
    if ((rc = chart_layout(cl, t.r.since_ms, t.r.until_ms, TIMELINE_LABEL_BUDGET, 0, &t.ax)) != 0)
        return rc;
    if ((rc = db_open(cl, &t.db)) != 0)
        return rc;
    /* whole buckets, counted from what the failure rows say at any edge */
    t.r.since_ms = t.ax.origin_ms;
    t.r.until_ms = t.ax.origin_ms + (int64_t)t.ax.nbuckets * t.ax.bucket_ms;
    t.r.failures_only = true;
    if ((rc = filter_select(cl, &t.db, &t.f)) != 0 || (rc = range_resolve(&t.db, &t.r)) != 0 ||
        (rc = timeline_fill(&t)) != 0)
        goto out;
    for (size_t i = 0; i < t.nrows; i++)
        for (size_t b = 0; b < t.ax.nbuckets; b++)
            if (t.rows[i].counts[b] > t.rows[i].peak)
                t.rows[i].peak = t.rows[i].counts[b];
    if (t.nrows > 0)
        qsort_r(t.rows, t.nrows, sizeof(*t.rows), timeline_cmp, &t);
    if ((rc = state_note(cl, &t.db, &ds)) != 0)
        goto out;
    /* a stopped daemon fills no bucket after it stopped: that bucket is
     * not drawn at a rate it never had, and those after it stay blank */
    t.ax.data_end_ms = cl->now_ms;
    if ((ds.kind == STATE_STOPPED || ds.kind == STATE_NOT_RUNNING) && ds.since_ms < cl->now_ms &&
        ds.since_ms > 0)
        t.ax.data_end_ms = ds.since_ms;
    rc = cl->format == OUTPUT_TABLE ? timeline_table(&t) : timeline_records(&t);
out:
    for (size_t i = 0; i < t.nrows; i++)
        free(t.rows[i].counts);
    free(t.rows);
    counts_map_free(&t.index);
    db_close(&t.db);
    return rc;
}
