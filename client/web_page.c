/* SPDX-License-Identifier: ISC */
/* The pages of `netdiag web`: overview, target, alerts, codes and the API
 * index, each built from the JSON of the commands that answer its
 * questions (web_run(): status, alerts, targets, timeline, latency,
 * failures, codes, explain), read back with web_json.c. The page shows what the API
 * returns for the same question and nothing it computed on its own, so
 * the two agree by construction. Every stored text goes out through
 * html_text(). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "counts.h"
#include "fmt.h"
#include "timefmt.h"
#include "util.h"
#include "web.h"
#include "web_chart.h"
#include "web_html.h"

#define PAGE_SPARK_MAX      26   /* buckets of the overview's sparkline (24 h by the hour, whole) */
#define PAGE_FAILURES_SHOW  "50" /* failures listed on a target page */
#define PAGE_STACK_MAX      7    /* codes with a colour of their own; the rest share one */
#define PAGE_NOTES_MAX      8
#define PAGE_LATENCY_SCHEMA 5 /* the rollups hold latency histograms from this schema on */
#define PAGE_PATH_SCHEMA    8 /* paths and path_hops from this schema on */
/* The overview draws a latency sparkline per target up to this many
 * targets (each a record per hour: 1,000 targets take 7 MB of JSON and
 * over 100 ms to read); beyond, each target's page has its chart. */
#define PAGE_LAT_SPARK_MAX 300

/* --- what every page has: the daemon's state, notes, failed commands -- */

struct page {
    struct web *w;
    FILE *fp;
    int64_t now_ms;
    /* status */
    bool have_status, stale;
    char state[32], summary[512];
    int64_t schema, alerts_firing, alerts_unknown, ntargets, nfailing, newest_ms;
    /* notes of the commands, each once */
    char *notes[PAGE_NOTES_MAX];
    size_t nnotes;
    int status; /* the HTTP status: 200 unless a command could not read the database */
};

static int page_status_row(void *arg, const struct wj_row *r)
{
    struct page *pg = arg;
    const char *s;

    pg->have_status = true;
    pg->stale = wj_bool(r, "stale");
    snprintf(pg->state, sizeof(pg->state), "%s", (s = wj_str(r, "state")) ? s : "unknown");
    snprintf(pg->summary, sizeof(pg->summary), "%s", (s = wj_str(r, "summary")) ? s : "");
    pg->schema = wj_int(r, "schema", 0);
    pg->alerts_firing = wj_int(r, "alerts_firing", 0);
    pg->alerts_unknown = wj_int(r, "alerts_unknown", 0);
    pg->ntargets = wj_int(r, "targets", 0);
    pg->nfailing = wj_int(r, "targets_failing", 0);
    pg->newest_ms = wj_int(r, "newest_result_ms", -1);
    return 0;
}

/* Keep the notes ("netdiag: note: ...") of an answer, once each, but the
 * one the banner says already. */
static void page_notes(struct page *pg, const struct web_answer *a)
{
    const char *p = a->err;

    while (p != NULL && *p) {
        size_t n = strcspn(p, "\n");
        bool dup = false;
        if (n > 15 && strncmp(p, "netdiag: note: ", 15) == 0) {
            char *note = strndup(p + 15, n - 15);
            if (note == NULL)
                break;
            dup = strcmp(note, pg->summary) == 0;
            for (size_t i = 0; i < pg->nnotes && !dup; i++)
                dup = strcmp(pg->notes[i], note) == 0;
            if (dup || pg->nnotes == PAGE_NOTES_MAX)
                free(note);
            else
                pg->notes[pg->nnotes++] = note;
        }
        p += n;
        if (*p == '\n')
            p++;
    }
}

/* Run a command for the page; its notes kept. */
static int page_run(struct page *pg, struct web_answer *a, const char *const *args)
{
    web_run(pg->w, a, args);
    page_notes(pg, a);
    return a->rc;
}

/* A command that failed: what it said, in a box, and the page's status. */
static void page_failed(struct page *pg, const char *what, const struct web_answer *a)
{
    fputs("<div class=\"banner\">", pg->fp);
    html_text(pg->fp, what);
    fputs(": ", pg->fp);
    if (a->too_large)
        fprintf(pg->fp, "the answer is larger than %u MB", WEB_OUTPUT_MAX >> 20);
    else if (a->err != NULL && a->err[0] != '\0')
        html_text(pg->fp, a->err);
    else
        fputs("the command failed", pg->fp);
    fputs("</div>", pg->fp);
    if (a->rc == CLIENT_EXIT_NO_DB || a->rc == CLIENT_EXIT_BAD_DB)
        pg->status = 503;
    else if (pg->status == 200)
        pg->status = 500;
}

static void page_begin(struct page *pg, struct web *w, FILE *fp, const char *title,
                       const char *active)
{
    static const char *const args[] = {"status", NULL};
    struct web_answer a;

    memset(pg, 0, sizeof(*pg));
    pg->w = w;
    pg->fp = fp;
    pg->now_ms = web_now_ms();
    pg->status = 200;
    html_page_start(fp, title, active);
    web_run(w, &a, args);
    if (web_rows(&a, page_status_row, pg) < 0 || !pg->have_status)
        page_failed(pg, "the database cannot be read", &a);
    web_answer_free(&a);
}

/* The banner of a daemon that is not running (the rule of `netdiag
 * status`: its "stale" and "summary"), and the notes. */
static void page_banner(struct page *pg)
{
    if (pg->have_status && pg->stale) {
        fprintf(pg->fp, "<div class=\"banner\" id=\"stale\" role=\"alert\">\xe2\x9a\xa0 ");
        html_text(pg->fp, pg->summary);
        fputs("</div>", pg->fp);
    }
    for (size_t i = 0; i < pg->nnotes; i++) {
        fputs("<div class=\"note\">", pg->fp);
        html_text(pg->fp, pg->notes[i]);
        fputs("</div>", pg->fp);
    }
}

static int page_end(struct page *pg)
{
    html_page_end(pg->fp, web_db_label(pg->w), pg->now_ms);
    for (size_t i = 0; i < pg->nnotes; i++)
        free(pg->notes[i]);
    return pg->status;
}

/* A state as glyph and word, for the eye and for colour-blind eyes:
 * "failing", "mixed", "ok", "no data", "retired"; alerts' "firing",
 * "resolved", "unknown". */
static void page_state(FILE *fp, const char *state)
{
    static const struct {
        const char *state, *cls, *glyph;
    } map[] = {
        {"failing", "failing", "\xe2\x9c\x96"},
        {"mixed", "mixed", "\xe2\x97\x90"},
        {"ok", "ok", "\xe2\x9c\x94"},
        {"no data", "none", "\xe2\x97\x8b"},
        {"retired", "retired", "\xe2\x80\x93"},
        {"firing", "firing", "\xe2\x96\xb2"},
        {"resolved", "resolved", "\xe2\x9c\x94"},
        {"unknown", "unknown", "?"},
    };

    for (size_t i = 0; i < ND_ARRAY_LEN(map); i++) {
        if (state != NULL && strcmp(state, map[i].state) == 0) {
            fprintf(fp, "<span class=\"st st-%s\">%s %s</span>", map[i].cls, map[i].glyph,
                    map[i].state);
            return;
        }
    }
    fputs("<span class=\"st\">", fp);
    html_text(fp, state != NULL ? state : "?");
    fputs("</span>", fp);
}

/* The class a table row gets for its state (the bar at its left). */
static const char *page_row_class(const char *state)
{
    if (state == NULL)
        return "";
    if (strcmp(state, "failing") == 0 || strcmp(state, "firing") == 0)
        return strcmp(state, "failing") == 0 ? "failing" : "firing";
    if (strcmp(state, "mixed") == 0 || strcmp(state, "unknown") == 0)
        return strcmp(state, "mixed") == 0 ? "mixed" : "unknown";
    return "";
}

/* A code as a link to its explanation: "10061 WSAECONNREFUSED". */
static void page_code(FILE *fp, int64_t code, const char *name)
{
    if (code < 0) {
        fputs("-", fp);
        return;
    }
    fprintf(fp, "<a href=\"/codes#c%" PRId64 "\">%" PRId64 " ", code, code);
    html_text(fp, name != NULL ? name : "?");
    fputs("</a>", fp);
}

static void page_share(FILE *fp, double v)
{
    char pct[32];

    if (isnan(v)) {
        fputs("-", fp);
        return;
    }
    fmt_percent1(v, pct, sizeof(pct));
    html_text(fp, pct);
}

static void page_target_link(FILE *fp, const char *name)
{
    fputs("<a class=\"name\" href=\"/target/", fp);
    html_url(fp, name);
    fputs("\">", fp);
    html_text(fp, name);
    fputs("</a>", fp);
}

/* "<time> (5m ago)" */
static void page_since(const struct page *pg, int64_t ms)
{
    if (ms < 0) {
        fputs("-", pg->fp);
        return;
    }
    html_time(pg->fp, ms, HTML_TIME_SHORT);
    fputs(" <span class=\"mute\">(", pg->fp);
    html_duration(pg->fp, fmt_sub(pg->now_ms, ms));
    fputs(")</span>", pg->fp);
}

/* A database older than the latency histograms (schema 5): this line
 * where the latency chart and sparklines are drawn on a newer one. */
static void page_latency_place(const struct page *pg, const char *what)
{
    fprintf(pg->fp, "<div class=\"todo\" id=\"latency\">%s latency: not available in this database",
            what);
    if (pg->schema > 0 && pg->schema < PAGE_LATENCY_SCHEMA)
        fprintf(pg->fp, " (schema %" PRId64 " has no latency histograms; they come with schema %d)",
                pg->schema, PAGE_LATENCY_SCHEMA);
    fputs("</div>", pg->fp);
}

/* --- latency, from `netdiag latency --chart --format json` ------------- */

#define PAGE_LAT_BUCKETS_MAX 2000 /* buckets of a target's latency chart kept */

/* One target's latency buckets, in the order of the records (the
 * command writes each target's buckets in time order, empty ones too). */
struct page_lat {
    const char *name; /* keep this target's records only (NULL: the first target's) */
    struct chart_lat *b;
    size_t n, cap;
    int64_t origin_ms, bucket_ms;
    bool ping;
};

static int page_lat_row(void *arg, const struct wj_row *r)
{
    struct page_lat *pl = arg;
    const char *target = wj_str(r, "target"), *kind = wj_str(r, "kind");
    struct chart_lat *c;

    if (target == NULL || (pl->name != NULL && strcmp(target, pl->name) != 0))
        return 0;
    if (pl->name == NULL)
        pl->name = target;
    if (pl->n == 0) {
        pl->origin_ms = wj_int(r, "start_ms", 0);
        pl->bucket_ms = wj_int(r, "bucket_s", 0) * 1000;
        pl->ping = kind != NULL && strcmp(kind, "ping") == 0;
    }
    if (pl->n >= PAGE_LAT_BUCKETS_MAX)
        return 0;
    FMT_RESERVE(pl->b, pl->cap, pl->n + 1);
    c = &pl->b[pl->n++];
    c->p10_us = wj_int(r, "p10_us", -1);
    c->p50_us = wj_int(r, "p50_us", -1);
    c->p90_us = wj_int(r, "p90_us", -1);
    c->max_us = wj_int(r, "max_us", -1);
    c->attempts = wj_int(r, "attempts", 0);
    c->successes = wj_int(r, "successes", 0);
    c->loss = wj_num(r, "loss");
    c->begun = wj_int(r, "elapsed_s", 0) > 0;
    return 0;
}

/* The range's own figures (`netdiag latency --format json`, one row). */
struct page_lat_sum {
    const char *name;
    bool found;
    int64_t p50, p90, p99, max, samples;
    double loss;
};

static int page_lat_sum_row(void *arg, const struct wj_row *r)
{
    struct page_lat_sum *ls = arg;
    const char *target = wj_str(r, "target");

    if (target == NULL || strcmp(target, ls->name) != 0)
        return 0;
    ls->found = true;
    ls->p50 = wj_int(r, "p50_us", -1);
    ls->p90 = wj_int(r, "p90_us", -1);
    ls->p99 = wj_int(r, "p99_us", -1);
    ls->max = wj_int(r, "max_us", -1);
    ls->samples = wj_int(r, "samples", 0);
    ls->loss = wj_num(r, "loss");
    return 0;
}

static void page_lat_fact(FILE *fp, const char *label, int64_t us)
{
    char v[32];

    fprintf(fp, "<div><span>%s</span>", label);
    if (us >= 0) {
        fmt_latency_us(us, v, sizeof(v));
        html_text(fp, v);
    } else {
        fputs("-", fp);
    }
    fputs("</div>", fp);
}

/* --- alerts, as the overview and the alerts page list them ------------ */

struct page_alerts {
    struct page *pg;
    bool firing_only, past_only, with_target;
    size_t shown, max;
};

static void page_alerts_head(FILE *fp, bool with_target)
{
    fprintf(fp,
            "<div class=\"wrap\"><table class=\"cards\"><thead><tr><th>State</th>%s"
            "<th>Code</th><th>Started</th><th>Ended</th><th class=\"n\">Duration</th>"
            "<th class=\"n\">Count</th><th class=\"n\">Baseline</th><th>Detail</th></tr>"
            "</thead><tbody>",
            with_target ? "<th>Target</th>" : "");
}

static int page_alert_row(void *arg, const struct wj_row *r)
{
    struct page_alerts *pa = arg;
    FILE *fp = pa->pg->fp;
    const char *state = wj_str(r, "state"), *target = wj_str(r, "target");
    bool resolved = state != NULL && strcmp(state, "resolved") == 0;
    char dur[32];
    double baseline = wj_num(r, "baseline");

    if ((pa->firing_only && resolved) || (pa->past_only && !resolved))
        return 0;
    if (pa->max > 0 && pa->shown >= pa->max)
        return 0;
    pa->shown++;
    fprintf(fp, "<tr class=\"%s\"><td data-l=\"State\">", page_row_class(state));
    page_state(fp, state);
    if (state != NULL && strcmp(state, "unknown") == 0) {
        fputs(" <span class=\"mute\">since ", fp);
        html_time(fp, wj_int(r, "unknown_since_ms", -1), HTML_TIME_SHORT);
        fputs("</span>", fp);
    }
    fputs("</td>", fp);
    if (pa->with_target) {
        fputs("<td data-l=\"Target\">", fp);
        if (target != NULL)
            page_target_link(fp, target);
        else
            fputs("(all)", fp);
        fputs("</td>", fp);
    }
    fputs("<td data-l=\"Code\">", fp);
    page_code(fp, wj_int(r, "wsa_code", -1), wj_str(r, "wsa_name"));
    fputs("</td><td class=\"t\" data-l=\"Started\">", fp);
    html_time(fp, wj_int(r, "started_ms", -1), HTML_TIME_SHORT);
    fputs("</td><td class=\"t\" data-l=\"Ended\">", fp);
    html_time(fp, wj_int(r, "resolved_ms", -1), HTML_TIME_SHORT);
    timefmt_duration(wj_int(r, "duration_ms", 0), TIMEFMT_ELAPSED, dur, sizeof(dur));
    fputs("</td><td class=\"n\" data-l=\"Duration\">", fp);
    html_text(fp, dur);
    fprintf(fp,
            "</td><td class=\"n\" data-l=\"Count\">%" PRId64 "</td><td class=\"n\" "
            "data-l=\"Baseline\">",
            wj_int(r, "count", 0));
    if (isnan(baseline))
        fputs("-", fp);
    else
        fprintf(fp, "%.2f", baseline);
    fputs("</td><td class=\"d\" data-l=\"Detail\">", fp);
    html_text(fp, wj_str(r, "detail"));
    fputs("</td></tr>", fp);
    return 0;
}

static void page_alerts_table(struct page *pg, const char *const *args, bool firing_only,
                              bool past_only, bool with_target, size_t max, const char *empty)
{
    struct web_answer a;
    struct page_alerts pa = {.pg = pg,
                             .firing_only = firing_only,
                             .past_only = past_only,
                             .with_target = with_target,
                             .max = max};
    long start;

    page_run(pg, &a, args);
    start = ftell(pg->fp);
    page_alerts_head(pg->fp, with_target);
    if (web_rows(&a, page_alert_row, &pa) < 0) {
        fputs("</tbody></table></div>", pg->fp);
        page_failed(pg, "alerts", &a);
        web_answer_free(&a);
        return;
    }
    fputs("</tbody></table></div>", pg->fp);
    if (pa.shown == 0 && start >= 0 && fseek(pg->fp, start, SEEK_SET) == 0)
        fprintf(pg->fp, "<p class=\"mute\">%s</p>", empty);
    else if (max > 0 && pa.shown == max)
        fprintf(pg->fp, "<p class=\"mute\">The newest %zu are shown; /api/alerts has them all.</p>",
                max);
    web_answer_free(&a);
}

/* --- the overview ----------------------------------------------------- */

/* A timeline record's bucket width in ms: 1 minute to 7 days, as the
 * command allows (0 for anything else). */
static int64_t page_bucket_ms(const struct wj_row *r)
{
    int64_t s = wj_int(r, "bucket_s", 0);

    return s >= 60 && s <= 7 * 86400 ? s * 1000 : 0;
}

struct ov_target {
    const char *name, *kind, *address, *state, *last_name;
    int64_t since_ms, last_failure_ms, last_code;
    double share[3]; /* 1 h, 24 h, 7 d; NaN: no attempt */
    int64_t spark[PAGE_SPARK_MAX];
    bool has_spark;
    struct chart_lat lat[PAGE_SPARK_MAX];
    bool has_lat;
};

struct ov {
    struct page *pg;
    struct ov_target *t;
    size_t n, cap;
    size_t *by_name; /* indexes into t, sorted by name */
    int which;       /* the share being read: 0 1 h, 1 24 h, 2 7 d */
    int64_t spark_origin, bucket_ms;
    int64_t lat_origin; /* the latency sparklines' first bucket */
    bool lat_shown;     /* the column is there */
};

static int ov_target_row(void *arg, const struct wj_row *r)
{
    struct ov *ov = arg;
    struct ov_target *t;

    FMT_RESERVE(ov->t, ov->cap, ov->n + 1);
    t = &ov->t[ov->n++];
    memset(t, 0, sizeof(*t));
    t->name = wj_str(r, "target");
    t->kind = wj_str(r, "kind");
    t->address = wj_str(r, "address");
    t->state = wj_str(r, "state");
    t->last_name = wj_str(r, "last_name");
    t->since_ms = wj_int(r, "since_ms", -1);
    t->last_failure_ms = wj_int(r, "last_failure_ms", -1);
    t->last_code = wj_int(r, "last_code", -1);
    t->share[0] = t->share[2] = NAN;
    t->share[1] = wj_num(r, "success_rate");
    for (size_t i = 0; i < PAGE_SPARK_MAX; i++)
        t->spark[i] = -1;
    if (t->name == NULL)
        ov->n--;
    return 0;
}

static const struct ov *ov_sort;

static int ov_cmp(const void *a, const void *b)
{
    const size_t *x = a, *y = b;

    return strcmp(ov_sort->t[*x].name, ov_sort->t[*y].name);
}

static struct ov_target *ov_find(const struct ov *ov, const char *name)
{
    size_t lo = 0, hi = ov->n;

    while (lo < hi && name != NULL) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(ov->t[ov->by_name[mid]].name, name);
        if (c == 0)
            return &ov->t[ov->by_name[mid]];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int ov_share_row(void *arg, const struct wj_row *r)
{
    struct ov *ov = arg;
    struct ov_target *t = ov_find(ov, wj_str(r, "target"));

    if (t != NULL)
        t->share[ov->which] = wj_num(r, "success_rate");
    return 0;
}

/* timeline --by target: one record per target and bucket */
static int ov_spark_row(void *arg, const struct wj_row *r)
{
    struct ov *ov = arg;
    struct ov_target *t = ov_find(ov, wj_str(r, "target"));
    int64_t start = wj_int(r, "start_ms", 0), b;

    if (ov->spark_origin == INT64_MIN)
        ov->spark_origin = start; /* the first record is the first bucket */
    if (ov->bucket_ms <= 0)
        ov->bucket_ms = page_bucket_ms(r);
    if (t == NULL || ov->bucket_ms <= 0 || start < ov->spark_origin)
        return 0;
    b = fmt_sub(start, ov->spark_origin) / ov->bucket_ms;
    if (b < 0 || b >= PAGE_SPARK_MAX)
        return 0;
    t->has_spark = true;
    t->spark[b] = wj_int(r, "elapsed_s", 1) > 0 ? wj_int(r, "failures", 0) : -1;
    return 0;
}

/* latency --chart --bucket 1h: one record per target and hour */
static int ov_lat_row(void *arg, const struct wj_row *r)
{
    struct ov *ov = arg;
    struct ov_target *t = ov_find(ov, wj_str(r, "target"));
    int64_t start = wj_int(r, "start_ms", 0), b;
    struct chart_lat *c;

    if (ov->lat_origin == INT64_MIN)
        ov->lat_origin = start;
    if (t == NULL || wj_int(r, "bucket_s", 0) != 3600 || start < ov->lat_origin)
        return 0;
    b = fmt_sub(start, ov->lat_origin) / 3600000;
    if (b < 0 || b >= PAGE_SPARK_MAX)
        return 0;
    c = &t->lat[b];
    c->p10_us = wj_int(r, "p10_us", -1);
    c->p50_us = wj_int(r, "p50_us", -1);
    c->p90_us = wj_int(r, "p90_us", -1);
    c->max_us = wj_int(r, "max_us", -1);
    c->attempts = wj_int(r, "attempts", 0);
    c->successes = wj_int(r, "successes", 0);
    c->loss = wj_num(r, "loss");
    c->begun = wj_int(r, "elapsed_s", 0) > 0;
    t->has_lat = t->has_lat || c->attempts > 0;
    return 0;
}

static void ov_row(const struct page *pg, const struct ov *ov, const struct ov_target *t,
                   size_t nspark)
{
    FILE *fp = pg->fp;
    static const char *const share_label[] = {"1 h", "24 h", "7 d"};

    fprintf(fp, "<tr class=\"%s\"><td data-l=\"Target\">", page_row_class(t->state));
    page_target_link(fp, t->name);
    fputs("<div class=\"mute\">", fp);
    html_text(fp, t->kind);
    if (t->address != NULL) {
        fputs(" \xc2\xb7 ", fp);
        html_text(fp, t->address);
    }
    fputs("</div></td><td data-l=\"State\">", fp);
    page_state(fp, t->state);
    fputs("</td><td class=\"t\" data-l=\"Since\">", fp);
    page_since(pg, t->since_ms);
    fputs("</td><td data-l=\"Last failure\">", fp);
    if (t->last_failure_ms >= 0) {
        html_time(fp, t->last_failure_ms, HTML_TIME_SHORT);
        fputs("<br>", fp);
        page_code(fp, t->last_code, t->last_name);
    } else {
        fputs("never", fp);
    }
    fputs("</td>", fp);
    for (int i = 0; i < 3; i++) {
        fprintf(fp, "<td class=\"n\" data-l=\"Success %s\">", share_label[i]);
        page_share(fp, t->share[i]);
        fputs("</td>", fp);
    }
    fputs("<td data-l=\"Failures 24 h\">", fp);
    if (t->has_spark)
        chart_spark(fp, t->spark, nspark, ov->bucket_ms >= 3600000 ? "hour" : "bucket");
    else
        fputs("<span class=\"mute\">none</span>", fp);
    if (ov->lat_shown) {
        fputs("</td><td data-l=\"Latency 24 h\">", fp);
        if (t->has_lat)
            chart_latency_spark(fp, t->lat, nspark > 0 ? nspark : PAGE_SPARK_MAX);
        else
            fputs("<span class=\"mute\">-</span>", fp);
    }
    fputs("</td></tr>", fp);
}

int web_page_overview(struct web *w, FILE *fp)
{
    static const char *const alert_args[] = {"alerts", "--active", NULL};
    static const char *const t24[] = {"targets", "--since", "24h", NULL};
    static const char *const t1[] = {"targets", "--since", "1h", NULL};
    static const char *const t7[] = {"targets", "--since", "7d", NULL};
    static const char *const spark[] = {"timeline", "--by",     "target", "--since",
                                        "24h",      "--bucket", "1h",     NULL};
    static const char *const lat[] = {"latency",  "--chart", "--since", "24h",
                                      "--bucket", "1h",      NULL};
    struct page pg;
    struct ov ov = {.pg = &pg, .spark_origin = INT64_MIN, .lat_origin = INT64_MIN};
    struct web_answer a24, a1, a7, as, al = {0};
    size_t nspark = 0;

    page_begin(&pg, w, fp, "Overview", "/");
    page_run(&pg, &a24, t24);
    page_run(&pg, &a1, t1);
    page_run(&pg, &a7, t7);
    page_run(&pg, &as, spark);
    fputs("<h1>Overview</h1>", fp);
    page_banner(&pg);
    if (pg.have_status) {
        fprintf(fp,
                "<div class=\"facts\"><div><span>targets</span>%" PRId64 "</div>"
                "<div><span>failing now</span>%" PRId64 "</div>"
                "<div><span>alerts firing</span>%" PRId64 "</div><div><span>daemon</span>",
                pg.ntargets, pg.nfailing, pg.alerts_firing);
        html_text(fp, pg.state);
        fputs("</div><div><span>newest result</span>", fp);
        html_time(fp, pg.newest_ms > 0 ? pg.newest_ms : -1, HTML_TIME_FULL);
        fputs("</div></div>", fp);
    }
    fputs("<h2>Alerts firing</h2>", fp);
    page_alerts_table(&pg, alert_args, true, false, true, 0,
                      pg.alerts_unknown > 0 ? "No alert is known to be firing."
                                            : "No alert is firing.");
    fputs("<h2>Targets</h2>", fp);
    if (web_rows(&a24, ov_target_row, &ov) < 0) {
        page_failed(&pg, "targets", &a24);
        goto out;
    }
    ov.by_name = fmt_alloc(NULL, (ov.n + 1) * sizeof(*ov.by_name));
    for (size_t i = 0; i < ov.n; i++)
        ov.by_name[i] = i;
    ov_sort = &ov;
    if (ov.n > 0)
        qsort(ov.by_name, ov.n, sizeof(*ov.by_name), ov_cmp);
    ov.which = 0;
    if (web_rows(&a1, ov_share_row, &ov) < 0)
        page_failed(&pg, "targets --since 1h", &a1);
    ov.which = 2;
    if (web_rows(&a7, ov_share_row, &ov) < 0)
        page_failed(&pg, "targets --since 7d", &a7);
    if (web_rows(&as, ov_spark_row, &ov) < 0)
        page_failed(&pg, "timeline --by target", &as);
    for (size_t i = 0; i < ov.n; i++)
        for (size_t b = 0; b < PAGE_SPARK_MAX; b++)
            if (ov.t[i].has_spark && ov.t[i].spark[b] >= 0 && b + 1 > nspark)
                nspark = b + 1;
    if (pg.schema >= PAGE_LATENCY_SCHEMA && ov.n <= PAGE_LAT_SPARK_MAX) {
        page_run(&pg, &al, lat);
        if (web_rows(&al, ov_lat_row, &ov) < 0)
            page_failed(&pg, "latency --chart", &al);
        else
            ov.lat_shown = true;
    } else if (pg.schema >= PAGE_LATENCY_SCHEMA) {
        fprintf(fp,
                "<p class=\"mute\" id=\"latency\">Latency sparklines are drawn for up to %d "
                "targets; each target's page has its latency chart.</p>",
                PAGE_LAT_SPARK_MAX);
    } else {
        page_latency_place(&pg, "Per-target");
    }
    if (ov.n == 0) {
        fputs("<p class=\"mute\">No targets yet: netdiagd has stored none.</p>", fp);
        goto out;
    }
    fputs("<div class=\"wrap\"><table class=\"cards\" id=\"targets\"><thead><tr><th>Target</th>"
          "<th>State</th><th>Since</th><th>Last failure</th><th class=\"n\">Success 1 h</th>"
          "<th class=\"n\">24 h</th><th class=\"n\">7 d</th><th>Failures, 24 h by the hour</th>",
          fp);
    if (ov.lat_shown)
        fputs("<th>Latency, 24 h by the hour</th>", fp);
    fputs("</tr></thead><tbody>", fp);
    for (size_t i = 0; i < ov.n; i++)
        ov_row(&pg, &ov, &ov.t[i], nspark);
    fputs("</tbody></table></div>", fp);
out:
    free(ov.t);
    free(ov.by_name);
    web_answer_free(&a24);
    web_answer_free(&a1);
    web_answer_free(&a7);
    web_answer_free(&as);
    web_answer_free(&al);
    return page_end(&pg);
}

/* --- one target --------------------------------------------------------- */

/* The --target glob that matches `name` alone: the glob characters
 * escaped, and a comma (which splits a --target list) or a space at an
 * end (which the list trims) as '?'; the rows are then kept by their
 * exact name. */
static void page_glob(const char *name, char *buf, size_t len)
{
    size_t o = 0, n = strlen(name);

    for (size_t i = 0; i < n && o + 3 < len; i++) {
        char c = name[i];
        if (c == ',' || (c == ' ' && (i == 0 || i + 1 == n)))
            buf[o++] = '?';
        else if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = c;
        } else {
            buf[o++] = c;
        }
    }
    buf[o] = '\0';
}

struct tp {
    struct page *pg;
    const char *name;
    /* the targets row */
    bool found;
    const char *kind, *address, *state, *last_name;
    int64_t since_ms, last_failure_ms, last_code, attempts, failures, latency_us;
    double share;
    /* the timeline: series by code */
    struct chart_series s[PAGE_STACK_MAX + 1];
    size_t ns;
    int64_t origin_ms, bucket_ms;
    size_t nbuckets, elapsed, partial;
    size_t nfail;
};

static int tp_target_row(void *arg, const struct wj_row *r)
{
    struct tp *tp = arg;
    const char *name = wj_str(r, "target");

    if (name == NULL || strcmp(name, tp->name) != 0)
        return 0;
    tp->found = true;
    tp->kind = wj_str(r, "kind");
    tp->address = wj_str(r, "address");
    tp->state = wj_str(r, "state");
    tp->last_name = wj_str(r, "last_name");
    tp->since_ms = wj_int(r, "since_ms", -1);
    tp->last_failure_ms = wj_int(r, "last_failure_ms", -1);
    tp->last_code = wj_int(r, "last_code", -1);
    tp->attempts = wj_int(r, "attempts", 0);
    tp->failures = wj_int(r, "failures", 0);
    tp->latency_us = wj_int(r, "latency_us", -1);
    tp->share = wj_num(r, "success_rate");
    return 0;
}

/* timeline --by code: records by code (busiest first), bucket by bucket */
static int tp_timeline_row(void *arg, const struct wj_row *r)
{
    struct tp *tp = arg;
    int64_t start = wj_int(r, "start_ms", 0), code = wj_int(r, "wsa_code", -1), b;
    struct chart_series *s = NULL;

    if (tp->nbuckets == 0)
        return 0;
    if (tp->bucket_ms <= 0)
        tp->bucket_ms = page_bucket_ms(r);
    if (tp->origin_ms == INT64_MIN)
        tp->origin_ms = start;
    if (tp->bucket_ms <= 0 || start < tp->origin_ms)
        return 0;
    b = fmt_sub(start, tp->origin_ms) / tp->bucket_ms;
    if (b < 0 || (size_t)b >= tp->nbuckets)
        return 0;
    if (wj_int(r, "elapsed_s", 1) > 0 && (size_t)b + 1 > tp->elapsed)
        tp->elapsed = (size_t)b + 1;
    if (wj_int(r, "elapsed_s", 0) > 0 && wj_int(r, "elapsed_s", 0) < wj_int(r, "bucket_s", 0))
        tp->partial = (size_t)b;
    for (size_t i = 0; i < tp->ns; i++)
        if (tp->s[i].code == code || (i == PAGE_STACK_MAX && tp->ns == PAGE_STACK_MAX + 1))
            s = &tp->s[i];
    if (s == NULL) {
        s = &tp->s[tp->ns];
        s->code = (int)code;
        s->name = tp->ns == PAGE_STACK_MAX ? "other codes" : wj_str(r, "wsa_name");
        s->colour = tp->ns == PAGE_STACK_MAX ? CHART_COLOURS - 1 : (int)tp->ns;
        s->counts = fmt_alloc(NULL, tp->nbuckets * sizeof(*s->counts));
        memset(s->counts, 0, tp->nbuckets * sizeof(*s->counts));
        tp->ns++;
    }
    counts_add(&s->counts[b], wj_int(r, "failures", 0));
    counts_add(&s->total, wj_int(r, "failures", 0));
    return 0;
}

static int tp_failure_row(void *arg, const struct wj_row *r)
{
    struct tp *tp = arg;
    FILE *fp = tp->pg->fp;
    const char *target = wj_str(r, "target"), *raw = wj_str(r, "raw"), *local = wj_str(r, "local");
    const char *remote = wj_str(r, "remote");
    int64_t lat = wj_int(r, "latency_us", -1);
    char l[32];

    if (target == NULL || strcmp(target, tp->name) != 0)
        return 0;
    tp->nfail++;
    fputs("<tr><td class=\"t\" data-l=\"Time\">", fp);
    html_time(fp, wj_int(r, "ts_ms", -1), HTML_TIME_FULL);
    fputs("</td><td data-l=\"Phase\">", fp);
    html_text(fp, wj_str(r, "phase"));
    fputs("</td><td data-l=\"Code\">", fp);
    page_code(fp, wj_int(r, "wsa_code", -1), wj_str(r, "wsa_name"));
    fputs("</td><td data-l=\"Meaning\">", fp);
    html_text(fp, wj_str(r, "meaning"));
    fputs("</td><td data-l=\"Raw\">", fp);
    html_text(fp, raw != NULL ? raw : "-");
    if (wj_get(r, "raw_value") != NULL && wj_get(r, "raw_value")->type == WJ_NUM)
        fprintf(fp, " <span class=\"mute\">%" PRId64 "</span>", wj_int(r, "raw_value", 0));
    fputs("</td><td class=\"d\" data-l=\"Detail\">", fp);
    html_text(fp, wj_str(r, "detail"));
    fputs("</td><td data-l=\"Addresses\">", fp);
    html_text(fp, local != NULL ? local : "-");
    fputs(" \xe2\x86\x92 ", fp);
    html_text(fp, remote != NULL ? remote : "-");
    fputs("</td><td class=\"n\" data-l=\"Latency\">", fp);
    if (lat >= 0) {
        fmt_latency_us(lat, l, sizeof(l));
        html_text(fp, l);
    } else {
        fputs("-", fp);
    }
    fputs("</td></tr>", fp);
    return 0;
}

/* The buckets of a range: about 60 bars whatever its length. */
static const char *page_bucket(const char *range, size_t *n)
{
    if (strcmp(range, "1h") == 0) {
        *n = 61;
        return "1m";
    }
    if (strcmp(range, "7d") == 0) {
        *n = 57;
        return "3h";
    }
    if (strcmp(range, "30d") == 0) {
        *n = 61;
        return "12h";
    }
    *n = 49;
    return "30m";
}

static void tp_chart(struct tp *tp)
{
    FILE *fp = tp->pg->fp;
    int64_t total = 0;

    for (size_t i = 0; i < tp->ns; i++)
        counts_add(&total, tp->s[i].total);
    if (total == 0) {
        fputs("<p class=\"mute\">No failures in this range.</p>", fp);
        return;
    }
    fputs("<ul class=\"legend\">", fp);
    for (size_t i = 0; i < tp->ns; i++) {
        fprintf(fp, "<li><span class=\"key k%d\"></span>", tp->s[i].colour);
        if (i == PAGE_STACK_MAX)
            html_text(fp, tp->s[i].name);
        else
            page_code(fp, tp->s[i].code, tp->s[i].name);
        fprintf(fp, " <span class=\"mute\">%" PRId64 "</span></li>", tp->s[i].total);
    }
    fputs("</ul>", fp);
    chart_stack(fp, tp->s, tp->ns, tp->nbuckets, tp->origin_ms, tp->bucket_ms, tp->elapsed,
                tp->partial);
    fputs("<div class=\"facts mute\"><div>from ", fp);
    html_time(fp, tp->origin_ms, HTML_TIME_SHORT);
    fputs("</div><div>to ", fp);
    html_time(fp, fmt_add(tp->origin_ms, (int64_t)tp->nbuckets * tp->bucket_ms), HTML_TIME_SHORT);
    fputs("</div><div>bars of ", fp);
    html_duration(fp, tp->bucket_ms);
    fputs("</div></div>", fp);
}

/* The SmokePing-style chart of the target (the buckets of the failures
 * chart) and the range's percentiles, from `netdiag latency`. */
static void tp_latency(struct tp *tp, const char *gopt, const char *since, const char *bucketopt)
{
    struct page *pg = tp->pg;
    FILE *fp = pg->fp;
    const char *cargs[] = {"latency", gopt, since, "--chart", bucketopt, NULL};
    const char *sargs[] = {"latency", gopt, since, NULL};
    struct page_lat pl = {.name = tp->name};
    struct page_lat_sum ls = {.name = tp->name, .loss = NAN};
    struct web_answer ac, as;
    bool any = false;

    page_run(pg, &as, sargs);
    if (web_rows(&as, page_lat_sum_row, &ls) < 0)
        page_failed(pg, "latency", &as);
    web_answer_free(&as);
    page_run(pg, &ac, cargs);
    if (web_rows(&ac, page_lat_row, &pl) < 0) {
        page_failed(pg, "latency --chart", &ac);
        web_answer_free(&ac);
        free(pl.b);
        return;
    }
    web_answer_free(&ac);
    for (size_t i = 0; i < pl.n; i++)
        any = any || pl.b[i].attempts > 0;
    fputs("<div id=\"latency\">", fp);
    if (!any || pl.bucket_ms <= 0) {
        fputs("<p class=\"mute\">No attempts in this range.</p></div>", fp);
        free(pl.b);
        return;
    }
    fputs("<div class=\"facts\">", fp);
    page_lat_fact(fp, "median", ls.p50);
    page_lat_fact(fp, "90th percentile", ls.p90);
    page_lat_fact(fp, "99th percentile", ls.p99);
    page_lat_fact(fp, "max", ls.max);
    fprintf(fp, "<div><span>samples</span>%" PRId64 "</div>", ls.samples);
    if (pl.ping) {
        fputs("<div><span>echoes lost</span>", fp);
        page_share(fp, ls.loss);
        fputs("</div>", fp);
    }
    fprintf(fp,
            "</div><ul class=\"legend\"><li><span class=\"key kmed\"></span>median</li>"
            "<li><span class=\"key kband\"></span>10th to 90th percentile</li>"
            "<li><span class=\"key kloss\"></span>%s</li><li><span class=\"mute\">"
            "\xc3\x97</span> no successful attempt</li></ul>",
            pl.ping ? "echoes lost" : "attempts failed");
    chart_latency(fp, pl.b, pl.n, pl.origin_ms, pl.bucket_ms, pl.ping);
    fputs("<div class=\"facts mute\"><div>from ", fp);
    html_time(fp, pl.origin_ms, HTML_TIME_SHORT);
    fputs("</div><div>to ", fp);
    html_time(fp, fmt_add(pl.origin_ms, (int64_t)pl.n * pl.bucket_ms), HTML_TIME_SHORT);
    fputs("</div><div>buckets of ", fp);
    html_duration(fp, pl.bucket_ms);
    fputs("</div><div><a href=\"/api/latency?target=", fp);
    html_url(fp, gopt + strlen("--target="));
    fprintf(fp, "&amp;%s&amp;chart&amp;%s\">JSON</a></div></div></div>", since + 2, bucketopt + 2);
    free(pl.b);
}

/* The path panel: `netdiag path TARGET`'s rows, the hop at the failure
 * beside the same hop of the last good path. */
struct pp {
    FILE *fp;
    size_t n;
    int64_t ts_ms, good_ts_ms;
    char why[16];
    bool have_good;
    int64_t changed; /* the hop where the path changed; 0 none */
    int64_t last;    /* the last hop that answered; 0 none */
    char last_addr[64], last_said[96];
};

static int pp_row(void *arg, const struct wj_row *r)
{
    struct pp *pp = arg;
    FILE *fp = pp->fp;
    const char *addr = wj_str(r, "address"), *said = wj_str(r, "said"), *why = wj_str(r, "why");
    const char *gaddr = wj_str(r, "good_address");
    int64_t hop = wj_int(r, "hop", 0), rtt = wj_int(r, "rtt_us", -1);
    int64_t grtt = wj_int(r, "good_rtt_us", -1);
    bool changed = wj_bool(r, "changed");
    char l[32];

    if (pp->n++ == 0) {
        pp->ts_ms = wj_int(r, "path_ts", -1);
        pp->good_ts_ms = wj_int(r, "good_path_ts", -1);
        pp->have_good = pp->good_ts_ms >= 0;
        snprintf(pp->why, sizeof(pp->why), "%s", why != NULL ? why : "");
        fputs("<div class=\"wrap\"><table class=\"cards\" id=\"path\"><thead><tr><th class=\"n\">"
              "Hop</th><th>Address</th><th class=\"n\">RTT</th><th>Said</th><th>Last good "
              "address</th><th class=\"n\">Good RTT</th></tr></thead><tbody>",
              fp);
    }
    if (changed && pp->changed == 0)
        pp->changed = hop;
    if ((addr != NULL && addr[0] != '\0') ||
        (said != NULL && said[0] != '\0' && strcmp(said, "no answer") != 0)) {
        pp->last = hop;
        snprintf(pp->last_addr, sizeof(pp->last_addr), "%s", addr != NULL ? addr : "");
        snprintf(pp->last_said, sizeof(pp->last_said), "%s", said != NULL ? said : "");
    }
    fprintf(fp, "<tr%s><td class=\"n\" data-l=\"Hop\">%" PRId64 "</td><td data-l=\"Address\">",
            changed ? " class=\"chg\"" : "", hop);
    html_text(fp, addr != NULL ? addr : (said != NULL && said[0] ? "*" : ""));
    fputs("</td><td class=\"n\" data-l=\"RTT\">", fp);
    if (rtt >= 0) {
        fmt_latency_us(rtt, l, sizeof(l));
        html_text(fp, l);
    }
    fputs("</td><td data-l=\"Said\">", fp);
    html_text(fp, said != NULL ? said : "");
    if (changed)
        fputs(" <strong>(path changed here)</strong>", fp);
    fputs("</td><td data-l=\"Last good\">", fp);
    html_text(fp, gaddr != NULL ? gaddr : (pp->have_good ? "" : "-"));
    fputs("</td><td class=\"n\" data-l=\"Good RTT\">", fp);
    if (grtt >= 0) {
        fmt_latency_us(grtt, l, sizeof(l));
        html_text(fp, l);
    }
    fputs("</td></tr>", fp);
    return 0;
}

static void tp_path(struct page *pg, const char *name)
{
    const char *args[] = {"path", "--", name, NULL};
    FILE *fp = pg->fp;
    struct web_answer a;
    struct pp pp = {.fp = fp};
    size_t i;

    if (pg->schema > 0 && pg->schema < PAGE_PATH_SCHEMA) {
        fprintf(fp,
                "<p class=\"mute\" id=\"path\">The path at the last failure: not available; this "
                "database (schema %" PRId64 ") keeps no paths, netdiagd traces them from schema "
                "%d on.</p>",
                pg->schema, PAGE_PATH_SCHEMA);
        return;
    }
    page_run(pg, &a, args);
    for (i = 0; a.out != NULL && i < a.outlen && strchr(" \t\r\n", a.out[i]) != NULL; i++)
        ;
    if (a.rc == CLIENT_EXIT_OK && a.out != NULL && i == a.outlen) {
        fputs("<p class=\"mute\" id=\"path\">No path of this target traced yet (netdiagd traces "
              "one when a target begins to fail, and a baseline now and then).</p>",
              fp);
        web_answer_free(&a);
        return;
    }
    if (web_rows(&a, pp_row, &pp) < 0) {
        page_failed(pg, "path", &a);
        web_answer_free(&a);
        return;
    }
    if (pp.n == 0) {
        fputs("<p class=\"mute\" id=\"path\">No hop of a path recorded.</p>", fp);
        web_answer_free(&a);
        return;
    }
    fputs("</tbody></table></div>", fp);
    fputs("<p id=\"path-summary\">", fp);
    if (strcmp(pp.why, "failure") == 0) {
        fputs("Traced at the failure, ", fp);
    } else {
        fputs("No failure traced; the newest path (", fp);
        html_text(fp, pp.why);
        fputs("), ", fp);
    }
    html_time(fp, pp.ts_ms, HTML_TIME_FULL);
    fputs(": ", fp);
    if (pp.last == 0) {
        fputs("no answer from hop 1 on", fp);
    } else {
        fprintf(fp, "%s hop %" PRId64 " (",
                strcmp(pp.why, "failure") == 0 ? "stops after" : "ends at", pp.last);
        html_text(fp, pp.last_addr[0] ? pp.last_addr : "this host");
        fputs(", ", fp);
        html_text(fp, pp.last_said);
        fputs(")", fp);
    }
    if (pp.have_good) {
        fputs("; last good path ", fp);
        html_time(fp, pp.good_ts_ms, HTML_TIME_FULL);
    } else if (strcmp(pp.why, "failure") == 0) {
        fputs("; no good path of it before", fp);
    }
    if (pp.changed > 0)
        fprintf(fp, "; <strong>path changed at hop %" PRId64 "</strong>", pp.changed);
    fputs(". <a href=\"/api/path?target=", fp);
    html_url(fp, name);
    fputs("\">/api/path</a></p>", fp);
    web_answer_free(&a);
}

int web_page_target(struct web *w, FILE *fp, const char *name, const char *range)
{
    static const char *const ranges[] = {"1h", "24h", "7d", "30d"};
    char glob[2 * 512 + 8], gopt[2 * 512 + 32], since[32], bucketopt[32];
    const char *bucket;
    const char *targs[] = {"targets", gopt, since, NULL};
    const char *largs[] = {"timeline", gopt, since, bucketopt, "--by", "code", NULL};
    const char *fargs[] = {"failures", gopt, since, "--limit", PAGE_FAILURES_SHOW, NULL};
    const char *aargs[] = {"alerts", gopt, since, NULL};
    struct web_answer at, al, af;
    struct page pg;
    struct tp tp = {.pg = &pg, .name = name, .origin_ms = INT64_MIN, .partial = SIZE_MAX};
    char lat[32];

    page_glob(name, glob, sizeof(glob));
    snprintf(gopt, sizeof(gopt), "--target=%s", glob);
    snprintf(since, sizeof(since), "--since=%s", range);
    bucket = page_bucket(range, &tp.nbuckets);
    snprintf(bucketopt, sizeof(bucketopt), "--bucket=%s", bucket);
    page_begin(&pg, w, fp, name, NULL);
    page_run(&pg, &at, targs);
    /* at holds the row's strings until the page is done */
    if (web_rows(&at, tp_target_row, &tp) < 0 && at.rc != CLIENT_EXIT_USAGE)
        page_failed(&pg, "targets", &at);
    if (!tp.found) {
        web_answer_free(&at);
        fputs("<h1>", fp);
        html_text(fp, name);
        fputs("</h1>", fp);
        page_banner(&pg);
        fputs("<p>netdiagd has stored no target of this name. <a href=\"/\">All targets</a>.</p>",
              fp);
        if (pg.status == 200)
            pg.status = 404;
        return page_end(&pg);
    }
    page_run(&pg, &al, largs);
    fputs("<h1>", fp);
    html_text(fp, name);
    fputs(" ", fp);
    page_state(fp, tp.state);
    fputs("</h1><p class=\"mute\">", fp);
    html_text(fp, tp.kind);
    fputs(" \xc2\xb7 ", fp);
    html_text(fp, tp.address != NULL ? tp.address : "-");
    fputs("</p>", fp);
    page_banner(&pg);
    fputs("<p class=\"ranges\">Range: ", fp);
    for (size_t i = 0; i < ND_ARRAY_LEN(ranges); i++) {
        fputs("<a href=\"/target/", fp);
        html_url(fp, name);
        fprintf(fp, "?range=%s\"%s>%s</a>", ranges[i],
                strcmp(ranges[i], range) == 0 ? " class=\"on\"" : "", ranges[i]);
    }
    fputs("</p><div class=\"facts\"><div><span>state since</span>", fp);
    page_since(&pg, tp.since_ms);
    fputs("</div><div><span>last failure</span>", fp);
    if (tp.last_failure_ms >= 0) {
        html_time(fp, tp.last_failure_ms, HTML_TIME_SHORT);
        fputs(" ", fp);
        page_code(fp, tp.last_code, tp.last_name);
    } else {
        fputs("never", fp);
    }
    fprintf(fp, "</div><div><span>success, %s</span>", range);
    page_share(fp, tp.share);
    fprintf(fp,
            "</div><div><span>attempts</span>%" PRId64 "</div><div><span>failures</span>%" PRId64
            "</div><div><span>mean latency of successes</span>",
            tp.attempts, tp.failures);
    if (tp.latency_us >= 0) {
        fmt_latency_us(tp.latency_us, lat, sizeof(lat));
        html_text(fp, lat);
    } else {
        fputs("-", fp);
    }
    fputs("</div></div>", fp);

    fputs("<h2>Failures by code</h2>", fp);
    if (web_rows(&al, tp_timeline_row, &tp) < 0)
        page_failed(&pg, "timeline", &al);
    else
        tp_chart(&tp);
    web_answer_free(&al);

    fputs("<h2>Latency</h2>", fp);
    if (pg.schema >= PAGE_LATENCY_SCHEMA)
        tp_latency(&tp, gopt, since, bucketopt);
    else
        page_latency_place(&pg, "The");

    fputs("<h2>Path</h2>", fp);
    tp_path(&pg, name);

    fputs("<h2>Alerts</h2>", fp);
    page_alerts_table(&pg, aargs, false, false, false, 0, "No alert in this range.");

    fprintf(fp, "<h2>Newest failures</h2>");
    page_run(&pg, &af, fargs);
    {
        long start = ftell(fp);
        fputs("<div class=\"wrap\"><table class=\"cards\" id=\"failures\"><thead><tr><th>Time</th>"
              "<th>Phase</th><th>Code</th><th>Meaning</th><th>Raw</th><th>Detail</th>"
              "<th>Local \xe2\x86\x92 remote</th><th class=\"n\">Latency</th></tr></thead><tbody>",
              fp);
        if (web_rows(&af, tp_failure_row, &tp) < 0) {
            fputs("</tbody></table></div>", fp);
            page_failed(&pg, "failures", &af);
        } else {
            fputs("</tbody></table></div>", fp);
            if (tp.nfail == 0 && start >= 0 && fseek(fp, start, SEEK_SET) == 0)
                fputs("<p class=\"mute\">No failures in this range.</p>", fp);
            else
                fprintf(fp,
                        "<p class=\"mute\">The newest %s at most; /api/failures?target=... "
                        "has more.</p>",
                        PAGE_FAILURES_SHOW);
        }
    }
    web_answer_free(&af);
    web_answer_free(&at);
    for (size_t i = 0; i < tp.ns; i++)
        free(tp.s[i].counts);
    return page_end(&pg);
}

/* --- alerts ------------------------------------------------------------- */

int web_page_alerts(struct web *w, FILE *fp)
{
    static const char *const args[] = {"alerts", NULL};
    struct page pg;

    page_begin(&pg, w, fp, "Alerts", "/alerts");
    fputs("<h1>Alerts</h1>", fp);
    page_banner(&pg);
    fputs("<h2>Firing</h2>", fp);
    page_alerts_table(&pg, args, true, false, true, 0, "No alert is firing.");
    fputs("<h2>Past</h2>", fp);
    page_alerts_table(&pg, args, false, true, true, 500, "No past alerts.");
    return page_end(&pg);
}

/* --- codes -------------------------------------------------------------- */

struct cp {
    struct page *pg;
    int64_t codes[128];
    size_t n;
};

static int cp_code_row(void *arg, const struct wj_row *r)
{
    struct cp *cp = arg;

    if (cp->n < ND_ARRAY_LEN(cp->codes))
        cp->codes[cp->n++] = wj_int(r, "code", 0);
    return 0;
}

static int cp_explain_row(void *arg, const struct wj_row *r)
{
    FILE *fp = ((struct cp *)arg)->pg->fp;
    const struct wj_value *v;
    static const char *const lists[][2] = {
        {"errnos", "errno"}, {"eai_codes", "getaddrinfo"}, {"dns_outcomes", "DNS"}};
    int64_t code = wj_int(r, "code", 0);

    fprintf(fp, "<dt id=\"c%" PRId64 "\">%" PRId64 " ", code, code);
    html_text(fp, wj_str(r, "name"));
    fputs(" <span class=\"mute\">", fp);
    html_text(fp, wj_str(r, "meaning"));
    if (wj_bool(r, "os_dependent"))
        fputs(" (OS dependent: the Windows value)", fp);
    fputs("</span></dt><dd>", fp);
    html_text(fp, wj_str(r, "explanation"));
    for (size_t i = 0; i < ND_ARRAY_LEN(lists); i++) {
        v = wj_get(r, lists[i][0]);
        if (v == NULL || v->type != WJ_LIST || v->nitems == 0)
            continue;
        fprintf(fp, "<br><span class=\"mute\">%s:</span> ", lists[i][1]);
        for (size_t k = 0; k < v->nitems; k++) {
            if (k > 0)
                fputs(", ", fp);
            fputs("<code>", fp);
            html_text(fp, v->items[k]);
            fputs("</code>", fp);
        }
    }
    fputs("</dd>", fp);
    return 0;
}

int web_page_codes(struct web *w, FILE *fp)
{
    static const char *const args[] = {"codes", NULL};
    struct web_answer a;
    struct page pg;
    struct cp cp = {.pg = &pg};

    page_begin(&pg, w, fp, "Codes", "/codes");
    fputs("<h1>Windows Sockets codes</h1><p>Every failure netdiagd stores carries one of these "
          "codes, with what Linux said beside it. <a href=\"/api/codes\">/api/codes</a>, "
          "<a href=\"/api/explain/10061\">/api/explain/CODE</a>.</p>",
          fp);
    page_run(&pg, &a, args);
    if (web_rows(&a, cp_code_row, &cp) < 0)
        page_failed(&pg, "codes", &a);
    web_answer_free(&a);
    fputs("<dl class=\"codes\">", fp);
    for (size_t i = 0; i < cp.n; i++) {
        char code[32];
        const char *eargs[] = {"explain", code, NULL};
        snprintf(code, sizeof(code), "%" PRId64, cp.codes[i]);
        page_run(&pg, &a, eargs);
        if (web_rows(&a, cp_explain_row, &cp) < 0)
            page_failed(&pg, "explain", &a);
        web_answer_free(&a);
    }
    fputs("</dl>", fp);
    return page_end(&pg);
}

/* --- the API index ------------------------------------------------------ */

int web_page_api(struct web *w, FILE *fp)
{
    static const struct {
        const char *path, *params, *what;
    } apis[] = {
        {"/api/status", "utc", "netdiag status: is netdiagd running, how fresh is the data"},
        {"/api/targets", "since, until, target, kind, failing, utc",
         "netdiag targets: every target with its state and success rate"},
        {"/api/failures", "since, until, target, code, raw, phase, kind, limit (1 to 10000), utc",
         "netdiag failures: the failure rows, newest first"},
        {"/api/summary", "since, until, by, target, code, raw, kind, utc",
         "netdiag summary: failures counted by code, target, phase or raw outcome"},
        {"/api/timeline",
         "since, until, bucket (2000 buckets at most), by, target, code, raw, "
         "kind, utc",
         "netdiag timeline: failures per bucket, per code or per target"},
        {"/api/latency",
         "since, until, by (minute, hour), target, kind, chart, bucket (with chart; 2000 "
         "buckets at most), utc",
         "netdiag latency: percentiles of the successful attempts and loss of ping echoes, "
         "per target, per minute or hour, or per chart bucket"},
        {"/api/alerts", "since, until, target, code, active, utc",
         "netdiag alerts: firing and past alerts"},
        {"/api/path", "target (its exact name), at, utc",
         "netdiag path TARGET: the path at the target's last failure beside its last good "
         "path, a row per hop (schema 8 on)"},
        {"/api/codes", "", "netdiag codes: the 53 codes"},
        {"/api/explain/CODE", "", "netdiag explain CODE: one code explained"},
    };
    struct page pg;

    page_begin(&pg, w, fp, "JSON API", NULL);
    fputs("<h1>JSON API</h1><p>Each path answers what the command answers with "
          "<code>--format json</code>: <code>/api/targets?since=7d</code> is "
          "<code>netdiag targets --since 7d --format json</code>. Query parameters are the "
          "command's options by their long names; a flag is given without a value "
          "(<code>/api/alerts?active</code>); a repeatable one may repeat "
          "(<code>?target=web&amp;target=dns*</code>). Errors are "
          "<code>{\"error\": ..., \"exit_code\": N}</code> with status 400 (a bad "
          "question), 404, 500 or 503 (the database cannot be read).</p>"
          "<div class=\"wrap\"><table class=\"cards\"><thead><tr><th>Path</th><th>Parameters"
          "</th><th>Answers</th></tr></thead><tbody>",
          fp);
    for (size_t i = 0; i < ND_ARRAY_LEN(apis); i++) {
        fputs("<tr><td data-l=\"Path\">", fp);
        if (strchr(apis[i].path, 'C') == NULL)
            fprintf(fp, "<a href=\"%s\"><code>%s</code></a>", apis[i].path, apis[i].path);
        else
            fprintf(fp, "<code>%s</code>", apis[i].path);
        fprintf(fp, "</td><td data-l=\"Parameters\">%s</td><td data-l=\"Answers\">%s</td></tr>",
                apis[i].params[0] ? apis[i].params : "-", apis[i].what);
    }
    fputs("</tbody></table></div>", fp);
    return page_end(&pg);
}
