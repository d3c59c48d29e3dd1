/* SPDX-License-Identifier: ISC */
/* `netdiag latency`: how long successful attempts took over a range, per
 * target (or per target and minute or hour): percentiles from the
 * rollups' latency histograms, merged exactly, the maximum, and the loss
 * of ping echoes; with --chart, one row per target over time in the
 * spirit of SmokePing's smoke (the median as a line, the 10th to 90th
 * percentile as shading, loss below). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chart.h"
#include "client.h"
#include "counts.h"
#include "db.h"
#include "filter.h"
#include "fmt.h"
#include "hist.h"
#include "state.h"
#include "timefmt.h"
#include "util.h"

#define LATENCY_DEFAULT_SPAN_MS COUNTS_HOUR_MS
/* Histogram pairs (bucket, count) held at once over all rows: 64 MiB. A
 * steady target's range takes a few dozen; only a database someone else
 * wrote comes near, and gets a clear error instead of all the memory. */
#define LATENCY_PAIRS_MAX (4u << 20)
/* Rows (target and bucket) held at once: about 150 MiB with their
 * histograms and index; --by minute over a week of 1,000 targets is
 * more, and told to narrow the range. */
#define LATENCY_CELLS_MAX (1u << 19)
/* A table of more rows is written as it goes (its widths from the first
 * rows), as `targets` writes a long one, rather than held whole. */
#define LATENCY_TABLE_HOLD 20000
/* The chart: lines of smoke per target, and the five heights of a line a
 * glyph can draw in one line, bottom to top. */
#define LATENCY_LINES        3
#define LATENCY_LEVELS       (5 * LATENCY_LINES)
#define LATENCY_LABEL_BUDGET 34 /* label, median and scale columns when the width is chosen */
#define LATENCY_VALUE_W      7  /* "100.1ms" */

static const char *const latency_glyphs[5] = {"\xe2\x8e\xbd", "\xe2\x8e\xbc", "\xe2\x94\x80",
                                              "\xe2\x8e\xbb", "\xe2\x8e\xba"};
static const char *const latency_bars[8] = {"\xe2\x96\x81", "\xe2\x96\x82", "\xe2\x96\x83",
                                            "\xe2\x96\x84", "\xe2\x96\x85", "\xe2\x96\x86",
                                            "\xe2\x96\x87", "\xe2\x96\x88"};
#define LATENCY_SHADE "\xe2\x96\x91" /* ░ */
#define LATENCY_NONE  "\xc3\x97"     /* × */
#define LATENCY_EMPTY "\xc2\xb7"     /* · */

enum latency_by {
    LATENCY_BY_TARGET,
    LATENCY_BY_MINUTE,
    LATENCY_BY_HOUR,
    LATENCY_CHART,
};

struct latency_pair {
    uint32_t bucket;
    uint64_t count;
};

/* One row's figures: a target over the range, or over a minute, an hour
 * or a chart bucket. */
struct latency_cell {
    int64_t target_id;
    int64_t start_ms, span_ms; /* by minute and hour: the rows it holds */
    int64_t slot;              /* chart: the bucket */
    int64_t attempts, successes;
    int64_t max_us; /* -1: no latency */
    int64_t echo_sent, echo_lost;
    struct latency_pair *pairs; /* the histogram, ascending buckets */
    uint32_t npairs;
    uint64_t total; /* samples in it */
};

struct latency {
    struct client *cl;
    struct db db;
    struct filter f;
    struct range r;
    struct counts_sink sink;
    enum latency_by by;
    bool color;
    struct chart_axis ax;
    struct latency_cell *cells;
    size_t ncells, cells_cap;
    struct counts_map index; /* (target, slot) -> cell index + 1 */
    size_t pairs_held;
    bool too_much; /* over LATENCY_PAIRS_MAX or LATENCY_CELLS_MAX */
    /* what the notes say */
    int64_t damaged_rows, bad_echo_rows;
    int64_t damaged_target, damaged_ms;
    const char *damaged_why;
    int64_t samples_without; /* successes of rows stored without a histogram */
    int64_t samples_with;
};

static uint64_t latency_sat_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* --- collecting ----------------------------------------------------------- */

static struct latency_cell *latency_cell_for(struct latency *L, int64_t target_id, int64_t slot)
{
    /* the map's key is an int: slots are bucket or minute numbers of a
     * range of at most LATENCY_CELLS_MAX of them, offset by the first */
    struct counts_entry *e = counts_map_find(&L->index, target_id, (int)slot);

    if (e != NULL)
        return &L->cells[e->n - 1];
    if (L->ncells >= LATENCY_CELLS_MAX) {
        L->too_much = true;
        return NULL;
    }
    counts_map_add(&L->index, target_id, (int)slot, (int64_t)L->ncells + 1);
    if (L->ncells == L->cells_cap) {
        L->cells_cap = L->cells_cap ? 2 * L->cells_cap : 64;
        L->cells = fmt_alloc(L->cells, L->cells_cap * sizeof(*L->cells));
    }
    L->cells[L->ncells] = (struct latency_cell){.target_id = target_id, .slot = slot, .max_us = -1};
    return &L->cells[L->ncells++];
}

/* Adds m pairs (ascending buckets) to a cell's histogram. */
static void latency_merge_pairs(struct latency *L, struct latency_cell *c,
                                const struct latency_pair *add, size_t m)
{
    struct latency_pair *merged;
    size_t i = 0, j = 0, n = 0;

    if (m == 0)
        return;
    merged = fmt_alloc(NULL, (c->npairs + m) * sizeof(*merged));
    while (i < c->npairs || j < m) {
        if (j == m || (i < c->npairs && c->pairs[i].bucket < add[j].bucket)) {
            merged[n++] = c->pairs[i++];
        } else if (i == c->npairs || add[j].bucket < c->pairs[i].bucket) {
            merged[n++] = add[j++];
        } else {
            merged[n] = c->pairs[i++];
            merged[n].count = latency_sat_add(merged[n].count, add[j++].count);
            n++;
        }
    }
    for (size_t k = 0; k < m; k++)
        c->total = latency_sat_add(c->total, add[k].count);
    L->pairs_held += n - c->npairs;
    free(c->pairs);
    c->pairs = merged;
    c->npairs = (uint32_t)n;
    if (L->pairs_held > LATENCY_PAIRS_MAX)
        L->too_much = true;
}

/* Adds a stored histogram to a cell: checked whole first, so a damaged
 * one adds nothing. 0, or -1 with *why. */
static int latency_add_hist(struct latency *L, struct latency_cell *c, const void *blob, size_t len,
                            const char **why)
{
    struct latency_pair add[HIST_BUCKETS];
    struct hist_iter it;
    size_t m = 0;
    unsigned b;
    uint64_t cnt;

    if (hist_check(blob, len, NULL, why) < 0)
        return -1;
    hist_iter_init(&it, blob, len, why);
    while (m < HIST_BUCKETS && hist_iter_next(&it, &b, &cnt, why) > 0)
        add[m++] = (struct latency_pair){b, cnt};
    latency_merge_pairs(L, c, add, m);
    return 0;
}

/* The cell a rollup row (or an orphan failure) of time t goes to. */
static struct latency_cell *latency_place(struct latency *L, int64_t target_id,
                                          const struct counts_attempts *a, int64_t t)
{
    struct latency_cell *c;
    int64_t unit, start, slot;

    switch (L->by) {
    case LATENCY_BY_TARGET:
        return latency_cell_for(L, target_id, 0);
    case LATENCY_CHART:
        if (t < L->ax.origin_ms)
            return NULL;
        slot = (t - L->ax.origin_ms) / L->ax.bucket_ms;
        if ((uint64_t)slot >= L->ax.nbuckets)
            return NULL;
        return latency_cell_for(L, target_id, slot);
    default:
        break;
    }
    /* by minute or hour: an hour row where the minutes are gone stays an
     * hour, marked so (span) */
    unit = L->by == LATENCY_BY_HOUR || a->span_ms == COUNTS_HOUR_MS ? COUNTS_HOUR_MS
                                                                    : COUNTS_MINUTE_MS;
    start = counts_floor(t, unit, 0);
    slot = (start - counts_floor(L->r.from_ms, COUNTS_HOUR_MS, 0)) / COUNTS_MINUTE_MS;
    if (slot < 0 || slot >= INT32_MAX / 2)
        return NULL;
    c = latency_cell_for(L, target_id, 2 * slot + (unit == COUNTS_HOUR_MS));
    if (c != NULL) {
        c->start_ms = start;
        c->span_ms = unit;
    }
    return c;
}

static void latency_attempts_cb(void *arg, int64_t target_id, const struct counts_attempts *a,
                                int64_t t_ms)
{
    struct latency *L = arg;
    struct latency_cell *c;
    const char *why = NULL;
    uint64_t before;

    if (L->too_much || (c = latency_place(L, target_id, a, t_ms)) == NULL)
        return;
    counts_add(&c->attempts, a->attempts);
    counts_add(&c->successes, a->successes);
    if (a->echo_sent < 0 || a->echo_lost < 0 || a->echo_lost > a->echo_sent) {
        L->bad_echo_rows++;
    } else {
        counts_add(&c->echo_sent, a->echo_sent);
        counts_add(&c->echo_lost, a->echo_lost);
    }
    before = c->total;
    if (a->lat_hist_other)
        why = "not a histogram (another type, or too long)";
    if (why != NULL ||
        (a->lat_hist != NULL && latency_add_hist(L, c, a->lat_hist, a->lat_hist_len, &why) < 0)) {
        /* the row's latencies are left out, its maximum with them */
        if (L->damaged_rows++ == 0) {
            L->damaged_target = target_id;
            L->damaged_ms = t_ms;
            L->damaged_why = why;
        }
        return;
    }
    if (a->latency_count > 0 && a->latency_max_us > c->max_us)
        c->max_us = a->latency_max_us;
    /* a row stored before schema 5 has no histogram; one that got
     * attempts after the migration holds the new ones only */
    if (a->latency_count > 0 && (uint64_t)a->latency_count > c->total - before)
        counts_add(&L->samples_without, a->latency_count - (int64_t)(c->total - before));
    counts_add(&L->samples_with, (int64_t)(c->total - before));
}

/* --- figures ---------------------------------------------------------------- */

/* The value of a quantile of permille thousandths: the upper edge of its
 * bucket, at most the maximum (when the maximum lies in the top bucket
 * with a sample, as it does unless rows older than the histograms or
 * someone else's rows say otherwise); -1 without samples. */
static int64_t latency_quantile(const struct latency_cell *c, unsigned permille)
{
    uint64_t want, seen = 0;
    unsigned top;

    if (c->total == 0 || c->npairs == 0)
        return -1;
    want = hist_rank(c->total, permille);
    top = c->pairs[c->npairs - 1].bucket;
    for (uint32_t i = 0; i < c->npairs; i++) {
        seen = latency_sat_add(seen, c->pairs[i].count);
        if (seen > want) {
            int64_t up = hist_bucket_upper(c->pairs[i].bucket);
            if (c->max_us >= hist_bucket_lower(top) && c->max_us < up)
                up = c->max_us;
            return up;
        }
    }
    return -1;
}

static bool latency_is_ping(const struct latency *L, int64_t target_id)
{
    const struct db_target *t = db_target_by_id(&L->db, target_id);

    return t != NULL && strcmp(t->kind, "ping") == 0;
}

/* echo_lost / echo_sent of a ping target; NaN otherwise or without echoes. */
static double latency_loss(const struct latency *L, const struct latency_cell *c)
{
    if (!latency_is_ping(L, c->target_id) || c->echo_sent <= 0)
        return NAN;
    return fmin(1.0, (double)c->echo_lost / (double)c->echo_sent);
}

static void latency_put_us(struct output *o, int64_t us)
{
    char shown[32];

    if (us < 0) {
        output_null(o);
        return;
    }
    fmt_latency_us(us, shown, sizeof(shown));
    output_int_shown(o, us, shown);
}

static void latency_put_loss(const struct latency *L, struct output *o,
                             const struct latency_cell *c)
{
    double loss = latency_loss(L, c);
    char pct[32];

    if (latency_is_ping(L, c->target_id)) {
        output_int(o, c->echo_sent);
        output_int(o, c->echo_lost);
    } else {
        output_null(o);
        output_null(o);
    }
    fmt_percent1(loss, pct, sizeof(pct));
    output_double(o, loss, 6, pct);
}

/* --- the table of rows ------------------------------------------------------ */

static const struct output_column latency_cols[] = {
    {"start_ms", OUTPUT_COL_HIDE, 0, NULL, 0},
    {"start", OUTPUT_COL_WHOLE, 0, NULL, 0},
    {"span_s", OUTPUT_COL_HIDE, 0, NULL, 0},
    {"target", OUTPUT_COL_KEEP, 0, NULL, 0},
    {"kind", 0, 2, NULL, 0},
    {"attempts", OUTPUT_COL_RIGHT, 0, NULL, 0},
    {"successes", OUTPUT_COL_RIGHT, 1, NULL, 0},
    {"samples", OUTPUT_COL_HIDE, 0, NULL, 0},
    {"p50_us", OUTPUT_COL_RIGHT, 0, "P50", 0},
    {"p90_us", OUTPUT_COL_RIGHT, 0, "P90", 0},
    {"p99_us", OUTPUT_COL_RIGHT, 0, "P99", 0},
    {"max_us", OUTPUT_COL_RIGHT, 0, "MAX", 0},
    {"echo_sent", OUTPUT_COL_HIDE, 0, NULL, 0},
    {"echo_lost", OUTPUT_COL_HIDE, 0, NULL, 0},
    {"loss", OUTPUT_COL_RIGHT, 0, NULL, 0},
};
#define LATENCY_TIME_COLS 3 /* start_ms, start, span_s: by minute and hour only */

static const struct latency *latency_sort;

/* By target name, then time. */
static int latency_cmp(const void *pa, const void *pb)
{
    const struct latency_cell *a = pa, *b = pb;
    int c;

    if (a->target_id != b->target_id) {
        c = strcmp(db_target_name(&latency_sort->db, a->target_id),
                   db_target_name(&latency_sort->db, b->target_id));
        if (c != 0)
            return c;
        return a->target_id < b->target_id ? -1 : 1;
    }
    if (a->start_ms != b->start_ms)
        return a->start_ms < b->start_ms ? -1 : 1;
    return a->span_ms < b->span_ms ? -1 : a->span_ms > b->span_ms;
}

/* A cell's fields from its target on: target, kind, attempts, successes,
 * samples, the quantiles of q (thousandths), max_us, loss; and the end of
 * the row. */
static void latency_put_cell(const struct latency *L, struct output *o,
                             const struct latency_cell *c, const unsigned q[3])
{
    const struct db_target *t = db_target_by_id(&L->db, c->target_id);

    output_str(o, db_target_name(&L->db, c->target_id));
    output_str(o, t != NULL ? t->kind : NULL);
    output_int(o, c->attempts);
    output_int(o, c->successes);
    output_int(o, c->total > INT64_MAX ? INT64_MAX : (int64_t)c->total);
    for (int i = 0; i < 3; i++)
        latency_put_us(o, latency_quantile(c, q[i]));
    latency_put_us(o, c->max_us);
    latency_put_loss(L, o, c);
    output_end_row(o);
}

static void latency_row(const struct latency *L, struct output *o, const struct latency_cell *c)
{
    static const unsigned q[3] = {500, 900, 990};

    if (L->by != LATENCY_BY_TARGET) {
        output_time(o, c->start_ms, L->cl->utc, NULL);
        output_int(o, c->span_ms / 1000);
    }
    latency_put_cell(L, o, c, q);
}

static int latency_table(struct latency *L)
{
    const struct output_column *cols = latency_cols;
    size_t ncols = ND_ARRAY_LEN(latency_cols);
    struct output *o;

    if (L->by == LATENCY_BY_TARGET) {
        cols += LATENCY_TIME_COLS;
        ncols -= LATENCY_TIME_COLS;
    }
    o = output_new(L->cl->out, L->cl->format, OUTPUT_LIST, cols, ncols, L->cl->width_cols,
                   L->cl->wide);
    output_set_empty(o, "no attempts in the range"); /* the heading says which */
    if (L->cl->format == OUTPUT_TABLE && L->ncells > LATENCY_TABLE_HOLD)
        output_stream(o); /* JSON and CSV are written as they come anyway */
    latency_sort = L;
    if (L->ncells > 0)
        qsort(L->cells, L->ncells, sizeof(*L->cells), latency_cmp);
    for (size_t i = 0; i < L->ncells; i++) {
        latency_row(L, o, &L->cells[i]);
        if (L->ncells > LATENCY_TABLE_HOLD && i % 256 == 255 && output_flush(o) != 0) {
            output_finish(o);
            return client_write_error();
        }
    }
    return output_finish(o) == 0 ? CLIENT_EXIT_OK : client_write_error();
}

/* --- the chart ------------------------------------------------------------- */

/* A target's cells by bucket (NULL: no attempt), and its scale. */
struct latency_line {
    int64_t target_id;
    struct latency_cell **cells; /* nbuckets */
    struct latency_cell whole;   /* the range: its median */
    double lo, hi;               /* log scale, µs */
    bool ping;
};

static int latency_level(const struct latency_line *ln, int64_t us)
{
    double v = us < 1 ? 1.0 : (double)us, y;
    int l;

    y = (log(v) - ln->lo) / (ln->hi - ln->lo);
    l = (int)lround(y * (LATENCY_LEVELS - 1));
    return l < 0 ? 0 : l >= LATENCY_LEVELS ? LATENCY_LEVELS - 1 : l;
}

/* Colour of the median by the bucket's loss, as SmokePing colours it. */
static const char *latency_loss_color(double loss)
{
    if (isnan(loss) || loss <= 0)
        return "\x1b[32m";
    if (loss <= 0.05)
        return "\x1b[33m";
    if (loss <= 0.20)
        return "\x1b[35m";
    return "\x1b[31m";
}

static void latency_put(const struct latency *L, FILE *fp, const char *color, const char *glyph)
{
    if (L->color && color != NULL)
        fprintf(fp, "%s%s\x1b[0m", color, glyph);
    else
        fputs(glyph, fp);
}

/* Line k (0: the bottom) of bucket b. */
static void latency_smoke(const struct latency *L, FILE *fp, const struct latency_line *ln,
                          size_t b, int k)
{
    const struct latency_cell *c = ln->cells[b];
    int l10, l50, l90;

    if (chart_elapsed(&L->ax, b) == 0) {
        fputc(' ', fp);
        return;
    }
    if (c == NULL || c->attempts == 0) {
        if (k == 0)
            latency_put(L, fp, "\x1b[2m", LATENCY_EMPTY);
        else
            fputc(' ', fp);
        return;
    }
    if (c->total == 0) { /* attempts, none with a latency */
        if (k == LATENCY_LINES / 2)
            latency_put(L, fp, "\x1b[31m", LATENCY_NONE);
        else
            fputc(' ', fp);
        return;
    }
    l10 = latency_level(ln, latency_quantile(c, 100));
    l50 = latency_level(ln, latency_quantile(c, 500));
    l90 = latency_level(ln, latency_quantile(c, 900));
    if (l50 / 5 == k)
        latency_put(L, fp, latency_loss_color(latency_loss(L, c)), latency_glyphs[l50 % 5]);
    else if (l10 <= 5 * k + 4 && l90 >= 5 * k)
        latency_put(L, fp, "\x1b[2m", LATENCY_SHADE);
    else
        fputc(' ', fp);
}

/* The loss line of a ping target: a bar from 1/8 to all lost. */
static void latency_loss_cell(const struct latency *L, FILE *fp, const struct latency_line *ln,
                              size_t b)
{
    const struct latency_cell *c = ln->cells[b];
    double loss;
    int level;

    if (chart_elapsed(&L->ax, b) == 0 || c == NULL || c->echo_sent <= 0) {
        fputc(' ', fp);
        return;
    }
    loss = latency_loss(L, c);
    if (!(loss > 0)) {
        latency_put(L, fp, "\x1b[2m", LATENCY_EMPTY);
        return;
    }
    level = (int)ceil(loss * 8.0);
    level = level < 1 ? 1 : level > 8 ? 8 : level;
    latency_put(L, fp, "\x1b[31m", latency_bars[level - 1]);
}

/* Each target's buckets, the range's figures and a log scale from the
 * lowest 10th to the highest 90th percentile of its buckets. */
static struct latency_line *latency_lines(struct latency *L, size_t *nlines)
{
    struct latency_line *lines = NULL;
    struct counts_map byt = {0};
    size_t n = 0;

    for (size_t i = 0; i < L->ncells; i++) {
        struct latency_cell *c = &L->cells[i];
        struct counts_entry *e = counts_map_find(&byt, c->target_id, 0);
        struct latency_line *ln;
        if (e != NULL && lines != NULL && e->n >= 1 && (size_t)e->n <= n) {
            ln = &lines[e->n - 1];
        } else {
            counts_map_add(&byt, c->target_id, 0, (int64_t)n + 1);
            lines = fmt_alloc(lines, (n + 1) * sizeof(*lines));
            ln = &lines[n++];
            memset(ln, 0, sizeof(*ln));
            ln->target_id = c->target_id;
            ln->cells = fmt_alloc(NULL, L->ax.nbuckets * sizeof(*ln->cells));
            memset(ln->cells, 0, L->ax.nbuckets * sizeof(*ln->cells));
            ln->whole = (struct latency_cell){.target_id = c->target_id, .max_us = -1};
            ln->ping = latency_is_ping(L, c->target_id);
        }
        ln->cells[c->slot] = c;
        /* the range as a whole */
        latency_merge_pairs(L, &ln->whole, c->pairs, c->npairs);
        counts_add(&ln->whole.attempts, c->attempts);
        counts_add(&ln->whole.echo_sent, c->echo_sent);
        counts_add(&ln->whole.echo_lost, c->echo_lost);
        if (c->max_us > ln->whole.max_us)
            ln->whole.max_us = c->max_us;
    }
    counts_map_free(&byt);
    for (size_t k = 0; k < n; k++) {
        struct latency_line *ln = &lines[k];
        double lo = INFINITY, hi = 1;
        for (size_t b = 0; b < L->ax.nbuckets; b++) {
            const struct latency_cell *c = ln->cells[b];
            int64_t p10, p90;
            if (c == NULL || c->total == 0)
                continue;
            p10 = latency_quantile(c, 100);
            p90 = latency_quantile(c, 900);
            lo = fmin(lo, (double)(p10 < 1 ? 1 : p10));
            hi = fmax(hi, (double)(p90 < 1 ? 1 : p90));
        }
        if (isinf(lo))
            lo = hi = 1;
        /* a flat line sits in the middle of a scale 20 % tall */
        if (hi < lo * 1.2) {
            double g = sqrt(lo * hi);
            lo = g / 1.1;
            hi = g * 1.1;
        }
        ln->lo = log(lo);
        ln->hi = log(hi);
    }
    *nlines = n;
    return lines;
}

static void latency_lines_free(struct latency_line *lines, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        free(lines[k].cells);
        free(lines[k].whole.pairs);
    }
    free(lines);
}

static const struct latency *latency_line_sort;

static int latency_line_cmp(const void *pa, const void *pb)
{
    const struct latency_line *a = pa, *b = pb;
    int c = strcmp(db_target_name(&latency_line_sort->db, a->target_id),
                   db_target_name(&latency_line_sort->db, b->target_id));

    return c != 0 ? c : (a->target_id > b->target_id) - (a->target_id < b->target_id);
}

/* The value at the edge of the scale, as the label column shows it. */
static void latency_scale_text(double log_us, char *buf, size_t len)
{
    fmt_latency_us((int64_t)llround(exp(log_us)), buf, len);
}

static int latency_chart_table(struct latency *L, struct latency_line *lines, size_t nlines)
{
    FILE *fp = L->cl->out;
    size_t label_w = strlen("TARGET"), first, ncols;
    char range[160], width[32], part[160], buf[512], v[32];

    for (size_t i = 0; i < nlines; i++) {
        output_escape(db_target_name(&L->db, lines[i].target_id), buf, sizeof(buf));
        if (output_text_width(buf) > label_w)
            label_w = output_text_width(buf);
    }
    chart_fit(L->cl, &L->ax, 2 * LATENCY_VALUE_W + 4, &label_w, &first, &ncols);
    counts_range_text(L->cl, &L->r, range, sizeof(range));
    chart_width_name(L->ax.bucket_ms, width, sizeof(width));
    if (nlines == 0) {
        snprintf(buf, sizeof(buf), "no attempts, %s", range);
        client_wrap(L->cl, buf);
        return client_flush(fp);
    }
    chart_partial_note(&L->ax, first, "", part, sizeof(part));
    snprintf(buf, sizeof(buf),
             "latency of successful attempts, %s, per %s: "
             "\xe2\x94\x80"
             " median, " LATENCY_SHADE " 10th to 90th percentile, " LATENCY_NONE
             " no success, loss of ping echoes below%s",
             range, width, part);
    client_wrap(L->cl, buf);
    if (first > 0)
        fprintf(fp, "(the newest %zu of %zu buckets; --wide shows all)\n", ncols, L->ax.nbuckets);
    chart_cell(fp, "TARGET", label_w);
    fprintf(fp, "  %*s %*s ", LATENCY_VALUE_W, "MEDIAN", LATENCY_VALUE_W, "");
    chart_axis_labels(&L->ax, fp, first, ncols);
    fputc('\n', fp);
    for (size_t i = 0; i < nlines; i++) {
        const struct latency_line *ln = &lines[i];
        for (int k = LATENCY_LINES - 1; k >= 0; k--) {
            if (k == LATENCY_LINES - 1) {
                output_escape(db_target_name(&L->db, ln->target_id), buf, sizeof(buf));
                chart_cell(fp, buf, label_w);
                fmt_latency_us(latency_quantile(&ln->whole, 500), v, sizeof(v));
                fprintf(fp, "  %*s ", LATENCY_VALUE_W, v);
            } else {
                chart_pad(fp, label_w + 3 + LATENCY_VALUE_W);
            }
            /* the scale: its top on the first line, its bottom on the last */
            v[0] = '\0';
            if (ln->whole.total > 0 && k == LATENCY_LINES - 1)
                latency_scale_text(ln->hi, v, sizeof(v));
            else if (ln->whole.total > 0 && k == 0)
                latency_scale_text(ln->lo, v, sizeof(v));
            fprintf(fp, "%*s ", LATENCY_VALUE_W, v);
            for (size_t b = first; b < first + ncols; b++)
                latency_smoke(L, fp, ln, b, k);
            fputc('\n', fp);
        }
        if (ln->ping) {
            char pct[32];
            fmt_percent1(latency_loss(L, &ln->whole), pct, sizeof(pct));
            chart_pad(fp, label_w + 2);
            fprintf(fp, "%*s %*s ", LATENCY_VALUE_W, "loss", LATENCY_VALUE_W, pct);
            for (size_t b = first; b < first + ncols; b++)
                latency_loss_cell(L, fp, ln, b);
            fputc('\n', fp);
        }
    }
    return client_flush(fp);
}

static const struct output_column latency_chart_cols[] = {
    {"start_ms", 0, 0, NULL, 0},  {"start", 0, 0, NULL, 0},     {"bucket_s", 0, 0, NULL, 0},
    {"elapsed_s", 0, 0, NULL, 0}, {"target", 0, 0, NULL, 0},    {"kind", 0, 0, NULL, 0},
    {"attempts", 0, 0, NULL, 0},  {"successes", 0, 0, NULL, 0}, {"samples", 0, 0, NULL, 0},
    {"p10_us", 0, 0, NULL, 0},    {"p50_us", 0, 0, NULL, 0},    {"p90_us", 0, 0, NULL, 0},
    {"max_us", 0, 0, NULL, 0},    {"echo_sent", 0, 0, NULL, 0}, {"echo_lost", 0, 0, NULL, 0},
    {"loss", 0, 0, NULL, 0},
};

/* JSON and CSV: one record per target and bucket, empty buckets too. */
static int latency_chart_records(struct latency *L, struct latency_line *lines, size_t nlines)
{
    static const unsigned q[3] = {100, 500, 900};
    struct output *o = output_new(L->cl->out, L->cl->format, OUTPUT_LIST, latency_chart_cols,
                                  ND_ARRAY_LEN(latency_chart_cols), 0, true);

    for (size_t i = 0; i < nlines; i++) {
        const struct latency_line *ln = &lines[i];
        for (size_t b = 0; b < L->ax.nbuckets; b++) {
            struct latency_cell none = {.target_id = ln->target_id, .max_us = -1};
            const struct latency_cell *c = ln->cells[b] != NULL ? ln->cells[b] : &none;
            chart_put_bucket(&L->ax, o, b);
            latency_put_cell(L, o, c, q);
        }
    }
    return output_finish(o) == 0 ? CLIENT_EXIT_OK : client_write_error();
}

static int latency_chart(struct latency *L)
{
    size_t nlines = 0;
    struct latency_line *lines = latency_lines(L, &nlines);
    int rc;

    if (L->too_much) {
        latency_lines_free(lines, nlines);
        return -1;
    }
    latency_line_sort = L;
    if (nlines > 0)
        qsort(lines, nlines, sizeof(*lines), latency_line_cmp);
    rc = L->cl->format == OUTPUT_TABLE ? latency_chart_table(L, lines, nlines)
                                       : latency_chart_records(L, lines, nlines);
    latency_lines_free(lines, nlines);
    return rc;
}

/* --- running ---------------------------------------------------------------- */

/* What a reader must know of the figures: one client_note() each. */
static void latency_notes(struct latency *L)
{
    if (L->db.version < 5 && L->samples_without > 0)
        client_note(L->cl,
                    "database schema %d keeps no latency histograms (netdiagd adds them from "
                    "schema 5 on, when it next starts): only the maximum is known",
                    L->db.version);
    else if (L->samples_without > 0)
        client_note(L->cl,
                    "%lld successful attempts were stored without a latency histogram (before "
                    "schema version 5): the percentiles are of the other %lld",
                    (long long)L->samples_without, (long long)L->samples_with);
    if (L->damaged_rows > 0) {
        char when[32], name[200];
        fmt_time(L->damaged_ms, L->cl->utc, FMT_TIME_SHORT, when, sizeof(when));
        output_escape(db_target_name(&L->db, L->damaged_target), name, sizeof(name));
        client_note(L->cl,
                    "%lld rollup rows hold a latency histogram netdiagd did not write (the "
                    "first: %s at %s, %s): their latencies are left out, their attempts "
                    "counted",
                    (long long)L->damaged_rows, name, when,
                    L->damaged_why ? L->damaged_why : "damaged");
    }
    if (L->bad_echo_rows > 0)
        client_note(L->cl,
                    "%lld rollup rows hold echo counts that cannot be (more lost than sent): "
                    "left out of the loss",
                    (long long)L->bad_echo_rows);
}

static int latency_options(struct latency *L)
{
    struct client *cl = L->cl;
    const char *by = client_opt(cl, "by");
    bool chart = client_opt(cl, "chart") != NULL;

    L->by = LATENCY_BY_TARGET;
    if (by != NULL && strcmp(by, "minute") == 0)
        L->by = LATENCY_BY_MINUTE;
    else if (by != NULL && strcmp(by, "hour") == 0)
        L->by = LATENCY_BY_HOUR;
    else if (by != NULL && strcmp(by, "target") != 0)
        return client_usage_error(cl, "--by: \"%s\" is not target, minute or hour", by);
    if (chart && by != NULL)
        return client_usage_error(cl, "--chart draws one row per target over time; it takes no "
                                      "--by");
    if (!chart && client_opt(cl, "bucket") != NULL)
        return client_usage_error(cl, "--bucket: only with --chart");
    if (!chart && client_opt(cl, "color") != NULL)
        return client_usage_error(cl, "--color: only with --chart");
    if (chart)
        L->by = LATENCY_CHART;
    return chart_parse_options(cl, client_opt(cl, "bucket"), client_opt(cl, "color"), &L->ax,
                               &L->color);
}

/* The chart's buckets: narrower than an hour only where the minute rows
 * are kept (7 days), since an hour row cannot be split. */
static int latency_chart_layout(struct latency *L)
{
    struct range probe = L->r;
    int64_t min_bucket = 0;
    int rc;

    if ((rc = range_resolve(&L->db, &probe)) != 0)
        return rc;
    if (counts_needs_hours(&probe)) {
        if (L->ax.bucket_ms != 0 && L->ax.bucket_ms % COUNTS_HOUR_MS != 0) {
            char since[32];
            fmt_time(probe.facts.first_minute != INT64_MAX ? probe.facts.first_minute : probe.to_ms,
                     L->cl->utc, FMT_TIME_SHORT, since, sizeof(since));
            return client_usage_error(L->cl,
                                      "--bucket: the range reaches back before %s, where only "
                                      "hourly counts are kept (netdiagd keeps minutes 7 days); "
                                      "use whole hours (1h, 2h, ...)",
                                      since);
        }
        min_bucket = COUNTS_HOUR_MS;
    }
    if ((rc = chart_layout(L->cl, L->r.since_ms, L->r.until_ms, LATENCY_LABEL_BUDGET, min_bucket,
                           &L->ax)) != 0)
        return rc;
    L->r.since_ms = L->ax.origin_ms;
    L->r.until_ms = L->ax.origin_ms + (int64_t)L->ax.nbuckets * L->ax.bucket_ms;
    return 0;
}

static int latency_count(struct latency *L)
{
    int rc;

    L->sink = (struct counts_sink){
        .arg = L,
        .attempts = latency_attempts_cb,
        .latency = true,
    };
    if (L->by == LATENCY_BY_MINUTE) {
        L->sink.bucket_ms = COUNTS_MINUTE_MS;
    } else if (L->by == LATENCY_BY_HOUR) {
        L->sink.bucket_ms = COUNTS_HOUR_MS;
    } else if (L->by == LATENCY_CHART) {
        L->sink.bucket_ms = L->ax.bucket_ms;
        L->sink.offset_ms = L->ax.offset_ms;
    }
    if ((rc = counts_run(&L->db, &L->f, &L->r, &L->sink)) != 0)
        return rc;
    if (L->too_much) {
        fprintf(stderr,
                "netdiag: latency: more than %u rows or %u histogram buckets to hold; narrow "
                "--target or the range, or count by hour\n",
                LATENCY_CELLS_MAX, LATENCY_PAIRS_MAX);
        return CLIENT_EXIT_RUNTIME;
    }
    return 0;
}

int cmd_latency_run(struct client *cl, int argc, char **argv)
{
    struct latency L = {.cl = cl};
    struct state ds;
    int rc;

    (void)argc;
    (void)argv;
    if ((rc = latency_options(&L)) != 0 ||
        (rc = filter_parse(cl, FILTER_TARGET | FILTER_KIND, &L.f)) != 0)
        return rc;
    range_from_client(cl, LATENCY_DEFAULT_SPAN_MS, &L.r);
    if (L.by == LATENCY_BY_HOUR) { /* whole hours: each row an hour */
        L.r.since_ms = counts_floor(L.r.since_ms, COUNTS_HOUR_MS, 0);
        L.r.until_ms = counts_ceil(L.r.until_ms, COUNTS_HOUR_MS, 0);
    }
    if (L.by == LATENCY_CHART && L.r.until_ms <= L.r.since_ms)
        return client_usage_error(cl, "the range is empty");
    if ((rc = db_open(cl, &L.db)) != 0)
        return rc;
    if ((rc = filter_select(cl, &L.db, &L.f)) != 0 ||
        (L.by == LATENCY_CHART && (rc = latency_chart_layout(&L)) != 0) ||
        (rc = range_resolve(&L.db, &L.r)) != 0 || (rc = latency_count(&L)) != 0 ||
        (rc = state_note(cl, &L.db, &ds)) != 0)
        goto out;
    if (cl->format == OUTPUT_TABLE && L.by != LATENCY_CHART) {
        char range[160], line[320];
        static const char *const per[] = {"", ", per minute", ", per hour", ""};
        counts_range_text(cl, &L.r, range, sizeof(range));
        snprintf(line, sizeof(line), "latency of successful attempts, %s%s; loss of ping echoes",
                 range, per[L.by]);
        client_wrap(cl, line);
    }
    counts_range_notes(cl, &L.r, &L.sink);
    latency_notes(&L);
    /* a stopped daemon fills no bucket after it stopped */
    L.ax.data_end_ms = cl->now_ms;
    if ((ds.kind == STATE_STOPPED || ds.kind == STATE_NOT_RUNNING) && ds.since_ms < cl->now_ms &&
        ds.since_ms > 0)
        L.ax.data_end_ms = ds.since_ms;
    if (L.by == LATENCY_CHART) {
        rc = latency_chart(&L);
        if (rc < 0) {
            fprintf(stderr,
                    "netdiag: latency: more than %u histogram buckets to hold; narrow "
                    "--target or the range\n",
                    LATENCY_PAIRS_MAX);
            rc = CLIENT_EXIT_RUNTIME;
        }
    } else {
        rc = latency_table(&L);
    }
out:
    for (size_t i = 0; i < L.ncells; i++)
        free(L.cells[i].pairs);
    free(L.cells);
    counts_map_free(&L.index);
    db_close(&L.db);
    return rc;
}
