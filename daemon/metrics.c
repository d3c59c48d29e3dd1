/* The Prometheus /metrics endpoint: per-target counters fed by every
 * result, figures read from the store and the alert engine at scrape time,
 * rendered in text format 0.0.4 for the HTTP server of metrics_http.c on
 * the daemon's own loop. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "log.h"
#include "metrics.h"
#include "metrics_http.h"
#include "util.h"
#include "wsa.h"

/* Fixed latency buckets (upper bounds, inclusive), the same for every
 * target: each target has 17 histogram series whatever its latencies. */
#define METRICS_NBUCKETS 14
static const int64_t bucket_us[METRICS_NBUCKETS] = {
    500,    1000,   2500,   5000,    10000,   25000,   50000,
    100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
};
#define LE(x) "le=\"" x "\""
static const char *const bucket_le[METRICS_NBUCKETS] = {
    LE("0.0005"), LE("0.001"), LE("0.0025"), LE("0.005"), LE("0.01"), LE("0.025"), LE("0.05"),
    LE("0.1"),    LE("0.25"),  LE("0.5"),    LE("1"),     LE("2.5"),  LE("5"),     LE("10"),
};

/* Failures of one target with one WSA code and one raw outcome. The raw
 * label comes from a fixed set (raw_label()), and the codes from the
 * table, so the series of a target are bounded. */
struct mfail {
    int code;
    const char *raw; /* static: a name from wsa.c's tables, or "other" */
    uint64_t count;
};

/* The series of one configured target. */
struct mslot {
    char *name;
    char *label;  /* name escaped for a label value, made once */
    char *series; /* target="...",kind="..." made once, for the lines */
    enum target_kind kind;
    uint64_t ok, failed;
    uint64_t bucket[METRICS_NBUCKETS + 1]; /* per bucket, not cumulative; last: > 10 s */
    uint64_t sum_us;
    uint64_t echo_sent, echo_recv; /* ping */
    struct mfail *fails;           /* sorted by code */
    size_t nfails, fails_cap;
};

struct metrics {
    struct metrics_http *http; /* NULL: metrics_new(), no listener */
    struct metrics_sources src;

    struct mslot *slots; /* config order */
    size_t nslots, slots_cap;
    /* Open addressing over slot names: slot index + 1, 0 = empty. Its size
     * is a power of two at least twice nslots, so a look-up is one hash of
     * a name of at most 64 characters and about one comparison. */
    uint32_t *index;
    size_t index_cap;
    size_t ntargets;          /* configured, for netdiag_targets */
    const struct config *cfg; /* the last metrics_set_targets(), compared only */
    bool oom_logged;

    uint64_t reloads_ok, reloads_failed;
    int64_t last_success_ms; /* the last load that succeeded (start or reload) */
    bool last_reload_ok;
};

/* FNV-1a: short keys, no seed needed (names come from our own config). */
static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u;

    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

/* Position in `index` holding `name`, or the empty position where it would
 * go. index_cap must be > 0 and the table never full. */
static size_t index_pos(const uint32_t *index, size_t cap, const struct mslot *slots,
                        const char *name)
{
    size_t mask = cap - 1, pos = name_hash(name) & mask;

    while (index[pos] != 0 && strcmp(slots[index[pos] - 1].name, name) != 0)
        pos = (pos + 1) & mask;
    return pos;
}

/* Slot index of `name`, or -1. */
static long slot_find(const struct metrics *m, const char *name)
{
    size_t pos;

    if (m->index_cap == 0)
        return -1;
    pos = index_pos(m->index, m->index_cap, m->slots, name);
    return m->index[pos] == 0 ? -1 : (long)m->index[pos] - 1;
}

static size_t index_cap_for(size_t n)
{
    size_t cap = 16;

    while (cap < 2 * n)
        cap *= 2;
    return cap;
}

/* The text format escapes \, " and newline in label values. */
static char *label_escape(const char *s)
{
    size_t n = 1;
    char *out, *o;

    for (const char *p = s; *p; p++)
        n += (*p == '\\' || *p == '"' || *p == '\n') ? 2 : 1;
    out = malloc(n);
    if (out == NULL)
        return NULL;
    o = out;
    for (const char *p = s; *p; p++) {
        if (*p == '\\' || *p == '"') {
            *o++ = '\\';
            *o++ = *p;
        } else if (*p == '\n') {
            *o++ = '\\';
            *o++ = 'n';
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return out;
}

static void slot_free(struct mslot *s)
{
    if (s == NULL)
        return;
    free(s->name);
    free(s->label);
    free(s->series);
    free(s->fails);
    memset(s, 0, sizeof(*s));
}

static int slot_init(struct mslot *s, const char *name, enum target_kind kind)
{
    memset(s, 0, sizeof(*s));
    s->name = strdup(name);
    s->label = label_escape(name);
    s->kind = kind;
    if (s->label == NULL ||
        asprintf(&s->series, "target=\"%s\",kind=\"%s\"", s->label, target_kind_name(kind)) < 0)
        s->series = NULL;
    if (s->name == NULL || s->label == NULL || s->series == NULL) {
        slot_free(s);
        return -1;
    }
    return 0;
}

/* A result for a target metrics_set_targets() has not announced (results
 * before the first call, the unit tests): add its slot. Amortised O(1).
 * Returns the slot index or -1 when out of memory. */
static long slot_add(struct metrics *m, const struct target *t)
{
    struct mslot *s;

    if (m->nslots == m->slots_cap) {
        size_t cap = m->slots_cap ? 2 * m->slots_cap : 8;
        s = realloc(m->slots, cap * sizeof(*s));
        if (s == NULL)
            return -1;
        m->slots = s;
        m->slots_cap = cap;
    }
    if (2 * (m->nslots + 1) > m->index_cap) {
        size_t cap = index_cap_for(m->nslots + 1);
        uint32_t *idx = calloc(cap, sizeof(*idx));
        if (idx == NULL)
            return -1;
        for (size_t i = 0; i < m->nslots; i++)
            idx[index_pos(idx, cap, m->slots, m->slots[i].name)] = (uint32_t)(i + 1);
        free(m->index);
        m->index = idx;
        m->index_cap = cap;
    }
    if (slot_init(&m->slots[m->nslots], t->name, t->kind) < 0)
        return -1;
    m->index[index_pos(m->index, m->index_cap, m->slots, t->name)] = (uint32_t)(m->nslots + 1);
    return (long)m->nslots++;
}

/* Raw outcomes that label a failure series beside the names of wsa.c's
 * errno, EAI and DNS tables. A fixed set keeps label sets bounded: any
 * other raw value (an errno or EAI value without a name, a kind's own
 * word that is not listed here) is counted as "other". */
static const char *const raw_extra[] = {"MISMATCH", "REPLY_MISMATCH"};

/* The label for a raw outcome: a static string, never the input. */
static const char *raw_label(const char *raw)
{
    int v;

    if (raw == NULL || *raw == '\0')
        return "other";
    if (wsa_errno_from_name(raw, &v))
        return wsa_errno_name(v);
    if (wsa_eai_from_name(raw, &v))
        return wsa_eai_name(v);
    for (int o = DNS_OK; o <= DNS_OTHER; o++) {
        const char *n = wsa_dns_outcome_name((enum dns_outcome)o);
        if (n != NULL && strcmp(n, raw) == 0)
            return n;
    }
    for (size_t i = 0; i < ND_ARRAY_LEN(raw_extra); i++)
        if (strcmp(raw_extra[i], raw) == 0)
            return raw_extra[i];
    return "other";
}

static int mfail_cmp(const struct mfail *f, int code, const char *raw)
{
    if (f->code != code)
        return f->code < code ? -1 : 1;
    return strcmp(f->raw, raw);
}

/* Count a failure under its code and raw outcome; the list is tiny and
 * sorted. The usual case, a series whose label is the raw name itself,
 * is one pass of comparisons; only a new pair looks the name up. */
static int slot_count_failure(struct mslot *s, int code, const char *raw)
{
    const char *label;
    size_t i;

    for (i = 0; i < s->nfails; i++) {
        if (s->fails[i].code == code && strcmp(s->fails[i].raw, raw) == 0) {
            s->fails[i].count++;
            return 0;
        }
    }
    label = raw_label(raw);
    for (i = 0; i < s->nfails && mfail_cmp(&s->fails[i], code, label) < 0; i++)
        ;
    if (i < s->nfails && mfail_cmp(&s->fails[i], code, label) == 0) {
        s->fails[i].count++;
        return 0;
    }
    if (s->nfails == s->fails_cap) {
        size_t cap = s->fails_cap ? 2 * s->fails_cap : 4;
        struct mfail *f = realloc(s->fails, cap * sizeof(*f));
        if (f == NULL)
            return -1;
        s->fails = f;
        s->fails_cap = cap;
    }
    memmove(&s->fails[i + 1], &s->fails[i], (s->nfails - i) * sizeof(*s->fails));
    s->fails[i].code = code;
    s->fails[i].raw = label;
    s->fails[i].count = 1;
    s->nfails++;
    return 0;
}

static void metrics_oom(struct metrics *m)
{
    /* a lost count is better than a daemon that stops probing */
    if (!m->oom_logged)
        log_warnx("metrics: out of memory; some results are not counted");
    m->oom_logged = true;
}

void metrics_observe(struct metrics *m, const struct result *r)
{
    struct mslot *s;
    int64_t lat_us;
    long i;
    size_t b;

    if (m == NULL || r == NULL || r->target == NULL || r->target->name == NULL)
        return;
    i = slot_find(m, r->target->name);
    if (i < 0 && (i = slot_add(m, r->target)) < 0) {
        metrics_oom(m);
        return;
    }
    s = &m->slots[i];
    if (r->ok) {
        s->ok++;
    } else {
        s->failed++;
        if (slot_count_failure(s, r->wsa_code, r->raw) < 0)
            metrics_oom(m);
    }
    lat_us = r->latency_us > 0 ? r->latency_us : 0;
    for (b = 0; b < METRICS_NBUCKETS && lat_us > bucket_us[b]; b++)
        ;
    s->bucket[b]++;
    s->sum_us += (uint64_t)lat_us;
    s->echo_sent += r->echo_sent;
    s->echo_recv += r->echo_recv;
}

/* Rebuild the slots in the new config's order. A target that keeps its
 * name and kind keeps its counts; a removed one (or one whose kind
 * changed) loses its series, which is how label sets stay bounded. Runs
 * once per reload, so it may take O(targets). */
/* Take the index entry at pos out (linear probing, backward shift: the
 * entries after it that could live at pos move up, so no look-up stops
 * early). */
static void index_delete(struct metrics *m, size_t pos)
{
    size_t mask = m->index_cap - 1, hole = pos, j = pos;

    for (;;) {
        size_t home;
        j = (j + 1) & mask;
        if (m->index[j] == 0)
            break;
        home = name_hash(m->slots[m->index[j] - 1].name) & mask;
        /* the entry stays when its home lies cyclically in (hole, j] */
        if (hole <= j ? (hole < home && home <= j) : (hole < home || home <= j))
            continue;
        m->index[hole] = m->index[j];
        hole = j;
    }
    m->index[hole] = 0;
}

/* A reload linked to the running config (config_link_prev, off the loop)
 * whose previous config is the one these slots follow: kept targets keep
 * their slots where they are (no copy, no look-up); removed targets'
 * slots are freed and taken again by new ones; the index changes only
 * where a name went or came. At 200,000 targets a few sequential passes
 * and one hash operation per change: milliseconds on the loop where a
 * rebuild takes a tenth of a second. Slots then leave config order, which
 * nothing depends on. Returns false when it does not apply. */
static bool metrics_set_linked(struct metrics *m, const struct config *cfg)
{
    const struct config *prev = cfg->prev;
    size_t nfree = 0;
    uint8_t *kept;
    uint32_t *holes;

    if (cfg->prev_idx == NULL || prev == NULL || m->cfg != prev || m->nslots < prev->ntargets)
        return false;
    kept = calloc(prev->ntargets ? prev->ntargets : 1, 1);
    holes = malloc((m->nslots ? m->nslots : 1) * sizeof(*holes));
    if (kept == NULL || holes == NULL) {
        free(kept);
        free(holes);
        return false;
    }
    for (size_t i = 0; i < cfg->ntargets; i++) {
        uint32_t j = cfg->prev_idx[i];
        if (j != CONFIG_NO_PREV && prev->targets[j].kind == cfg->targets[i].kind)
            kept[j] = 1;
    }
    /* the slots of targets that went (or changed kind), and old holes */
    for (size_t j = 0; j < prev->ntargets; j++) {
        size_t pos;
        uint32_t s;
        if (kept[j])
            continue;
        pos = index_pos(m->index, m->index_cap, m->slots, prev->targets[j].name);
        if ((s = m->index[pos]) == 0)
            continue;
        index_delete(m, pos); /* while the slot's name is still there */
        slot_free(&m->slots[s - 1]);
    }
    for (size_t s = 0; s < m->nslots; s++)
        if (m->slots[s].name == NULL)
            holes[nfree++] = (uint32_t)s;
    /* the targets that came, in holes first */
    for (size_t i = 0; i < cfg->ntargets; i++) {
        uint32_t j = cfg->prev_idx[i];
        const struct target *t = &cfg->targets[i];
        size_t s;
        if (j != CONFIG_NO_PREV && kept[j])
            continue;
        if (nfree == 0) {
            /* grows the arrays and the index (at least twice nslots) */
            if (slot_add(m, t) < 0)
                fatalx("out of memory"); /* as the engine does for the same config */
            continue;
        }
        s = holes[--nfree];
        if (slot_init(&m->slots[s], t->name, t->kind) < 0)
            fatalx("out of memory");
        m->index[index_pos(m->index, m->index_cap, m->slots, t->name)] = (uint32_t)(s + 1);
    }
    free(kept);
    free(holes);
    m->ntargets = cfg->ntargets;
    m->cfg = cfg;
    return true;
}

void metrics_set_targets(struct metrics *m, const struct config *cfg)
{
    size_t n, cap, nn = 0;
    struct mslot *slots;
    uint32_t *idx;
    long *from;

    if (m == NULL || cfg == NULL)
        return;
    if (metrics_set_linked(m, cfg))
        return;
    n = cfg->ntargets;
    cap = index_cap_for(n);
    slots = calloc(n ? n : 1, sizeof(*slots));
    idx = calloc(cap, sizeof(*idx));
    from = calloc(n ? n : 1, sizeof(*from));
    if (slots == NULL || idx == NULL || from == NULL)
        fatalx("out of memory"); /* as the engine does for the same config */
    /* look every name up in the old table before any slot moves */
    for (size_t i = 0; i < n; i++)
        from[i] = slot_find(m, cfg->targets[i].name);
    for (size_t i = 0; i < n; i++) {
        const struct target *t = &cfg->targets[i];
        size_t pos = index_pos(idx, cap, slots, t->name);
        struct mslot *old = from[i] >= 0 ? &m->slots[from[i]] : NULL;

        if (idx[pos] != 0)
            continue; /* a duplicate name: config.c rejects it, be safe */
        if (old != NULL && old->name != NULL && old->kind == t->kind) {
            slots[nn] = *old;
            memset(old, 0, sizeof(*old)); /* moved: slot_free() skips it */
        } else if (slot_init(&slots[nn], t->name, t->kind) < 0) {
            fatalx("out of memory");
        }
        idx[pos] = (uint32_t)(nn + 1);
        nn++;
    }
    free(from);
    for (size_t i = 0; i < m->nslots; i++)
        slot_free(&m->slots[i]);
    free(m->slots);
    free(m->index);
    m->slots = slots;
    m->nslots = nn;
    m->slots_cap = n ? n : 1;
    m->index = idx;
    m->index_cap = cap;
    m->ntargets = n;
    metrics_http_set_targets(m->http, n);
    metrics_http_invalidate(m->http);
    m->cfg = cfg;
}

/* A failed reload keeps the previous configuration running, so the time
 * of the last successful load stays where it is. */
void metrics_reload(struct metrics *m, bool ok, int64_t now_ms)
{
    if (m == NULL)
        return;
    if (ok) {
        m->reloads_ok++;
        m->last_success_ms = now_ms;
    } else {
        m->reloads_failed++;
    }
    m->last_reload_ok = ok;
    metrics_http_invalidate(m->http);
}

/* Rendering: the body goes into one evbuffer. The per-target lines (17
 * or more per target, so most of a large body) are put together with
 * memcpy in a staging buffer rather than printf, which keeps the loop time
 * a scrape takes small with thousands of targets. `failed` remembers an
 * allocation failure so that a truncated body is never served as whole. */
struct render {
    struct evbuffer *out;
    bool failed;
    size_t len;
    char stage[16384];
};

static void stage_flush(struct render *rd)
{
    if (rd->len > 0 && !rd->failed && evbuffer_add(rd->out, rd->stage, rd->len) < 0)
        rd->failed = true;
    rd->len = 0;
}

static void put(struct render *rd, const char *s, size_t n)
{
    if (n > sizeof(rd->stage) - rd->len) {
        stage_flush(rd);
        if (n > sizeof(rd->stage)) {
            if (!rd->failed && evbuffer_add(rd->out, s, n) < 0)
                rd->failed = true;
            return;
        }
    }
    memcpy(rd->stage + rd->len, s, n);
    rd->len += n;
}

static void put_str(struct render *rd, const char *s)
{
    put(rd, s, strlen(s));
}

/* Decimal digits of v, ending at end (exclusive); returns the first. */
static char *u64_digits(char *end, uint64_t v)
{
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return end;
}

static void put_u64(struct render *rd, uint64_t v)
{
    char buf[24], *p = u64_digits(buf + sizeof(buf), v);

    put(rd, p, (size_t)(buf + sizeof(buf) - p));
}

/* name{labels[,extra]} value */
static void sample(struct render *rd, const char *name, const char *labels, const char *extra,
                   const char *value)
{
    put_str(rd, name);
    put(rd, "{", 1);
    put_str(rd, labels);
    if (extra != NULL) {
        put(rd, ",", 1);
        put_str(rd, extra);
    }
    put(rd, "} ", 2);
    put_str(rd, value);
    put(rd, "\n", 1);
}

static void sample_u64(struct render *rd, const char *name, const char *labels, const char *extra,
                       uint64_t v)
{
    char buf[24];

    buf[sizeof(buf) - 1] = '\0';
    sample(rd, name, labels, extra, u64_digits(buf + sizeof(buf) - 1, v));
}

__attribute__((format(printf, 2, 3))) static void emit(struct render *rd, const char *fmt, ...)
{
    va_list ap;

    stage_flush(rd);
    if (rd->failed)
        return;
    va_start(ap, fmt);
    if (evbuffer_add_vprintf(rd->out, fmt, ap) < 0)
        rd->failed = true;
    va_end(ap);
}

static void family(struct render *rd, const char *name, const char *type, const char *help)
{
    emit(rd, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* value / 10^decimals, exactly, without trailing zeros: 1500 µs -> "0.0015". */
static void fmt_scaled(char *buf, size_t len, int64_t value, int decimals)
{
    uint64_t mag = value < 0 ? -(uint64_t)value : (uint64_t)value, div = 1;
    size_t n;

    for (int i = 0; i < decimals; i++)
        div *= 10;
    if (mag % div == 0) {
        snprintf(buf, len, "%s%" PRIu64, value < 0 ? "-" : "", mag / div);
        return;
    }
    snprintf(buf, len, "%s%" PRIu64 ".%0*" PRIu64, value < 0 ? "-" : "", mag / div, decimals,
             mag % div);
    n = strlen(buf);
    while (n > 0 && buf[n - 1] == '0')
        buf[--n] = '\0';
}

static void render_targets(struct metrics *m, struct render *rd)
{
    char num[48];

    family(rd, "netdiag_probes_total", "counter", "Probe attempts by target, kind and result.");
    for (size_t i = 0; i < m->nslots; i++) {
        const struct mslot *s = &m->slots[i];
        if (s->name == NULL)
            continue; /* a removed target's slot, free */
        sample_u64(rd, "netdiag_probes_total", s->series, "result=\"ok\"", s->ok);
        sample_u64(rd, "netdiag_probes_total", s->series, "result=\"failed\"", s->failed);
    }

    family(rd, "netdiag_failures_total", "counter",
           "Failed probe attempts by target, Windows Sockets code and raw outcome "
           "(errno, EAI or DNS name; \"other\" outside the documented set).");
    for (size_t i = 0; i < m->nslots; i++) {
        const struct mslot *s = &m->slots[i];
        for (size_t j = 0; j < s->nfails; j++) {
            const struct wsa_code *w = wsa_by_code(s->fails[j].code);
            char code[160];
            snprintf(code, sizeof(code), "wsa_code=\"%d\",wsa_name=\"%s\",raw=\"%s\"",
                     s->fails[j].code, w != NULL ? w->name : "UNKNOWN", s->fails[j].raw);
            put_str(rd, "netdiag_failures_total{target=\"");
            put_str(rd, s->label);
            put(rd, "\",", 2);
            put_str(rd, code);
            put(rd, "} ", 2);
            put_u64(rd, s->fails[j].count);
            put(rd, "\n", 1);
        }
    }

    family(rd, "netdiag_probe_duration_seconds", "histogram",
           "Probe attempt duration (ok and failed), by target and kind.");
    for (size_t i = 0; i < m->nslots; i++) {
        const struct mslot *s = &m->slots[i];
        uint64_t cum = 0;
        if (s->name == NULL)
            continue;
        for (size_t b = 0; b < METRICS_NBUCKETS; b++) {
            cum += s->bucket[b];
            sample_u64(rd, "netdiag_probe_duration_seconds_bucket", s->series, bucket_le[b], cum);
        }
        cum += s->bucket[METRICS_NBUCKETS];
        sample_u64(rd, "netdiag_probe_duration_seconds_bucket", s->series, LE("+Inf"), cum);
        fmt_scaled(num, sizeof(num), (int64_t)s->sum_us, 6);
        sample(rd, "netdiag_probe_duration_seconds_sum", s->series, NULL, num);
        sample_u64(rd, "netdiag_probe_duration_seconds_count", s->series, NULL, cum);
    }

    /* loss over any range is 1 - increase(received) / increase(sent);
     * the family only where there are ping targets */
    for (size_t i = 0, fam = 0; i < m->nslots; i++) {
        const struct mslot *s = &m->slots[i];
        if (s->name == NULL || s->kind != KIND_PING)
            continue;
        if (fam++ == 0)
            family(rd, "netdiag_ping_echoes_total", "counter",
                   "ICMP echoes of ping targets by target and result (sent, received).");
        sample_u64(rd, "netdiag_ping_echoes_total", s->series, "result=\"sent\"", s->echo_sent);
        sample_u64(rd, "netdiag_ping_echoes_total", s->series, "result=\"received\"", s->echo_recv);
    }
}

/* The store's figures, read now; left out when no store is attached (a
 * writable=0 from nowhere would be a false alarm). */
static void render_store(struct metrics *m, struct render *rd)
{
    struct store_stats ss;
    char num[48];

    if (m->src.store_stats == NULL)
        return;
    memset(&ss, 0, sizeof(ss));
    m->src.store_stats(m->src.arg, &ss);
    family(rd, "netdiag_store_queue_depth", "gauge", "Results waiting for the database writer.");
    emit(rd, "netdiag_store_queue_depth %zu\n", ss.queue_depth);
    family(rd, "netdiag_store_results_total", "counter",
           "Results handed to the database writer (ok and failed).");
    emit(rd, "netdiag_store_results_total %" PRIu64 "\n", ss.results_seen);
    family(rd, "netdiag_store_rows_written_total", "counter",
           "Failure rows committed to the database.");
    emit(rd, "netdiag_store_rows_written_total %" PRIu64 "\n", ss.rows_written);
    family(rd, "netdiag_store_dropped_total", "counter",
           "Results dropped because the writer queue was full.");
    emit(rd, "netdiag_store_dropped_total %" PRIu64 "\n", ss.dropped);
    family(rd, "netdiag_store_batches_total", "counter", "Database transactions committed.");
    emit(rd, "netdiag_store_batches_total %" PRIu64 "\n", ss.batches);
    family(rd, "netdiag_store_last_batch_seconds", "gauge",
           "Duration of the writer's last transaction.");
    fmt_scaled(num, sizeof(num), ss.last_batch_us > 0 ? ss.last_batch_us : 0, 6);
    emit(rd, "netdiag_store_last_batch_seconds %s\n", num);
    family(rd, "netdiag_store_writable", "gauge",
           "1 while the database accepts writes, 0 while it is full or locked.");
    emit(rd, "netdiag_store_writable %d\n", ss.writable ? 1 : 0);
}

/* The endpoint's own figures; left out without a listener. */
static void render_http(struct metrics *m, struct render *rd)
{
    struct metrics_http_stats hs;

    if (m->http == NULL)
        return;
    metrics_http_get_stats(m->http, &hs);
    family(rd, "netdiag_metrics_connections", "gauge", "Connections to /metrics open now.");
    emit(rd, "netdiag_metrics_connections %zu\n", hs.open);
    family(rd, "netdiag_metrics_connections_closed_total", "counter",
           "Connections to /metrics closed, by reason: replied, timeout (the deadline "
           "from accept passed), peer (closed or reset first), error.");
    for (int i = 0; i < MH_CLOSE_N; i++)
        emit(rd, "netdiag_metrics_connections_closed_total{reason=\"%s\"} %" PRIu64 "\n",
             metrics_http_close_name((enum metrics_http_close)i), hs.closed[i]);
    family(rd, "netdiag_metrics_accept_paused_total", "counter",
           "Times /metrics stopped accepting for a while, by reason: limit (connections), "
           "descriptors (kept for probing), accept_error.");
    for (int i = 0; i < MH_PAUSE_N; i++)
        emit(rd, "netdiag_metrics_accept_paused_total{reason=\"%s\"} %" PRIu64 "\n",
             metrics_http_pause_name((enum metrics_http_pause)i), hs.paused[i]);
}

int metrics_render(struct metrics *m, struct evbuffer *out)
{
    struct render rd;
    char num[48];

    if (m == NULL || out == NULL)
        return -1;
    rd.out = out;
    rd.failed = false;
    rd.len = 0;
    family(&rd, "netdiag_build_info", "gauge", "Always 1; the netdiagd version as a label.");
    emit(&rd, "netdiag_build_info{version=\"%s\"} 1\n", NETDIAG_VERSION);
    family(&rd, "netdiag_targets", "gauge", "Targets in the running configuration.");
    emit(&rd, "netdiag_targets %zu\n", m->ntargets);
    render_targets(m, &rd);
    family(&rd, "netdiag_probes_in_flight", "gauge", "Probe attempts running now.");
    emit(&rd, "netdiag_probes_in_flight %zu\n",
         m->src.in_flight != NULL ? m->src.in_flight(m->src.arg) : 0);
    family(&rd, "netdiag_alerts_active", "gauge", "Alerts firing now.");
    emit(&rd, "netdiag_alerts_active %zu\n",
         m->src.alerts_active != NULL ? m->src.alerts_active(m->src.arg) : 0);
    render_store(m, &rd);
    family(&rd, "netdiag_config_reloads_total", "counter",
           "Configuration reloads (SIGHUP) by result; a failed one keeps the previous "
           "configuration.");
    emit(&rd, "netdiag_config_reloads_total{result=\"ok\"} %" PRIu64 "\n", m->reloads_ok);
    emit(&rd, "netdiag_config_reloads_total{result=\"failed\"} %" PRIu64 "\n", m->reloads_failed);
    family(&rd, "netdiag_config_last_reload_success_timestamp_seconds", "gauge",
           "When the configuration last loaded successfully (at start or by a reload), "
           "Unix time; a failed reload does not move it.");
    fmt_scaled(num, sizeof(num), m->last_success_ms, 3);
    emit(&rd, "netdiag_config_last_reload_success_timestamp_seconds %s\n", num);
    family(&rd, "netdiag_config_last_reload_success", "gauge",
           "1 if the last configuration load succeeded, else 0.");
    emit(&rd, "netdiag_config_last_reload_success %d\n", m->last_reload_ok ? 1 : 0);
    render_http(m, &rd);
    stage_flush(&rd);
    return rd.failed ? -1 : 0;
}

static int render_cb(void *arg, struct evbuffer *out)
{
    return metrics_render(arg, out);
}

struct metrics *metrics_new(const struct metrics_sources *src)
{
    struct metrics *m = calloc(1, sizeof(*m));

    if (m == NULL)
        return NULL;
    if (src != NULL)
        m->src = *src;
    /* the configuration loaded at start is the first successful load; the
     * reload counters count SIGHUPs only */
    m->last_success_ms = util_now_ms();
    m->last_reload_ok = true;
    return m;
}

struct metrics *metrics_start(struct event_base *base, const char *listen,
                              const struct metrics_sources *src, char *err, size_t errlen)
{
    struct metrics *m = metrics_new(src);

    if (m == NULL || (m->http = metrics_http_new(base, render_cb, m)) == NULL) {
        snprintf(err, errlen, "metrics_listen %s: out of memory", listen);
        metrics_stop(m);
        return NULL;
    }
    if (metrics_http_listen(m->http, listen, err, errlen) < 0) {
        metrics_stop(m);
        return NULL;
    }
    log_info("metrics: serving http://%s/metrics", listen);
    return m;
}

int metrics_rebind(struct metrics *m, const char *listen, char *err, size_t errlen)
{
    int rc;

    if (m == NULL)
        return 0;
    if (m->http == NULL) {
        snprintf(err, errlen, "metrics_listen %s: no HTTP server to move", listen);
        return -1;
    }
    rc = metrics_http_listen(m->http, listen, err, errlen);
    if (rc > 0)
        log_info("metrics: serving http://%s/metrics", listen);
    return rc < 0 ? -1 : 0;
}

void metrics_stop(struct metrics *m)
{
    if (m == NULL)
        return;
    metrics_http_free(m->http); /* the listener and any connection still open */
    for (size_t i = 0; i < m->nslots; i++)
        slot_free(&m->slots[i]);
    free(m->slots);
    free(m->index);
    free(m);
}
