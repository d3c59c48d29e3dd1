/* SPDX-License-Identifier: ISC */
/* The Prometheus /metrics endpoint: per-target counters and state fed by
 * every result, figures read from the store, the alert engine and /proc
 * at scrape time, rendered in text format 0.0.4 for the HTTP server of
 * metrics_http.c on the daemon's own loop. */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "array.h"
#include "log.h"
#include "metrics.h"
#include "metrics_http.h"
#include "util.h"
#include "wsa.h"

/* Fixed latency buckets (upper bounds, inclusive), the same for every
 * target: each target has 17 histogram series whatever its latencies
 * (none with metrics_latency = off). */
#define METRICS_NBUCKETS 14
static const int64_t bucket_us[METRICS_NBUCKETS] = {
    500,    1000,   2500,   5000,    10000,   25000,   50000,
    100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
};
#define LE(x) "le=\"" x "\""

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
    uint32_t label_len, series_len;
    enum target_kind kind;
    int8_t up; /* the last result: 1 ok, 0 failed, -1 none yet */
    int64_t interval_ms;
    int64_t last_ok_ms; /* wall clock of the last ok attempt's start; 0: none */
    uint64_t ok, failed;
    /* successful attempts' latency: per bucket, not cumulative; last: > 10 s */
    uint64_t bucket[METRICS_NBUCKETS + 1];
    uint64_t sum_us;
    uint64_t echo_sent, echo_recv; /* ping */
    struct mfail *fails;           /* sorted by code, then raw */
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
    bool latency_off; /* metrics_latency = off: no histogram rendered */
    int64_t start_ms; /* the process's start, wall clock; 0: unknown */
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

static int slot_precreate(struct mslot *s, const struct target *t);

static int slot_init(struct mslot *s, const struct target *t)
{
    int n = -1;

    memset(s, 0, sizeof(*s));
    s->name = strdup(t->name);
    s->label = label_escape(t->name);
    s->kind = t->kind;
    s->up = -1;
    s->interval_ms = t->interval_ms;
    if (s->label != NULL)
        n = asprintf(&s->series, "target=\"%s\",kind=\"%s\"", s->label, target_kind_name(t->kind));
    if (n < 0)
        s->series = NULL;
    if (s->name == NULL || s->label == NULL || s->series == NULL || slot_precreate(s, t) < 0) {
        slot_free(s);
        return -1;
    }
    s->label_len = (uint32_t)strlen(s->label);
    s->series_len = (uint32_t)n;
    return 0;
}

/* A result for a target metrics_set_targets() has not announced (results
 * before the first call, the unit tests): add its slot. Amortised O(1).
 * Returns the slot index or -1 when out of memory. */
static long slot_add(struct metrics *m, const struct target *t)
{
    if (ARRAY_RESERVE(m->slots, m->slots_cap, m->nslots + 1) < 0)
        return -1;
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
    if (slot_init(&m->slots[m->nslots], t) < 0)
        return -1;
    m->index[index_pos(m->index, m->index_cap, m->slots, t->name)] = (uint32_t)(m->nslots + 1);
    return (long)m->nslots++;
}

static void metrics_oom(struct metrics *m)
{
    /* a lost count is better than a daemon that stops probing */
    if (!m->oom_logged)
        log_warnx("metrics: out of memory; some results are not counted");
    m->oom_logged = true;
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

/* Add inc to the failures with a code and raw outcome (0: create the
 * series); the list is tiny and sorted. The usual case, a series whose
 * label is the raw name itself, is one pass of comparisons; only a new
 * pair looks the name up. */
static int slot_count_failure(struct mslot *s, int code, const char *raw, uint64_t inc)
{
    const char *label;
    size_t i;

    for (i = 0; i < s->nfails; i++) {
        if (s->fails[i].code == code && strcmp(s->fails[i].raw, raw) == 0) {
            s->fails[i].count += inc;
            return 0;
        }
    }
    label = raw_label(raw);
    for (i = 0; i < s->nfails && mfail_cmp(&s->fails[i], code, label) < 0; i++)
        ;
    if (i < s->nfails && mfail_cmp(&s->fails[i], code, label) == 0) {
        s->fails[i].count += inc;
        return 0;
    }
    if (ARRAY_RESERVE(s->fails, s->fails_cap, s->nfails + 1) < 0)
        return -1;
    memmove(&s->fails[i + 1], &s->fails[i], (s->nfails - i) * sizeof(*s->fails));
    s->fails[i].code = code;
    s->fails[i].raw = label;
    s->fails[i].count = inc;
    s->nfails++;
    return 0;
}

/* The raw outcome a probe gives a code most often: its errno (deadline
 * and kernel alike say ETIMEDOUT, a refused connect ECONNREFUSED), else
 * its DNS outcome (the engine's resolver), else its EAI name. */
static const char *raw_usual(int code)
{
    enum dns_outcome o;
    int v;

    if (wsa_errnos_for(code, &v, 1) > 0 && wsa_errno_name(v) != NULL)
        return wsa_errno_name(v);
    if (wsa_dns_for(code, &o, 1) > 0 && wsa_dns_outcome_name(o) != NULL)
        return wsa_dns_outcome_name(o);
    if (wsa_eais_for(code, &v, 1) > 0 && wsa_eai_name(v) != NULL)
        return wsa_eai_name(v);
    return "other";
}

/* The failure series of t's watched codes exist from the start at 0, so
 * that increase() and rate() see a target's first failures (a series
 * that appears at 1 has no earlier sample to rise from). Each with the
 * raw outcome the code usually carries; the class timeout as
 * WSAETIMEDOUT/ETIMEDOUT and, for a resolve target, as the silent
 * nameserver's WSATRY_AGAIN/TIMEOUT. Idempotent. */
static int slot_precreate(struct mslot *s, const struct target *t)
{
    for (size_t k = 0; k < t->alert_ncodes && k < CONFIG_MAX_CODES; k++) {
        int code = t->alert_codes[k];
        int rc;
        if (code == CONFIG_CODE_TIMEOUT) {
            rc = slot_count_failure(s, WSAETIMEDOUT, "ETIMEDOUT", 0);
            if (rc == 0 && t->kind == KIND_RESOLVE)
                rc = slot_count_failure(s, WSATRY_AGAIN, "TIMEOUT", 0);
        } else {
            rc = slot_count_failure(s, code, raw_usual(code), 0);
        }
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* A kept target's settings follow the new config. */
static void slot_update(struct metrics *m, struct mslot *s, const struct target *t)
{
    s->interval_ms = t->interval_ms;
    if (slot_precreate(s, t) < 0)
        metrics_oom(m);
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
    s->up = r->ok ? 1 : 0;
    if (!r->ok) {
        s->failed++;
        if (slot_count_failure(s, r->wsa_code, r->raw, 1) < 0)
            metrics_oom(m);
        return;
    }
    s->ok++;
    /* the latest success, also when the wall clock stepped back since */
    s->last_ok_ms = r->ts_ms;
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
        if (j != CONFIG_NO_PREV && kept[j]) {
            const struct target *o = &prev->targets[j];
            long k;
            if (o->interval_ms == t->interval_ms && o->alert_ncodes == t->alert_ncodes &&
                memcmp(o->alert_codes, t->alert_codes,
                       t->alert_ncodes * sizeof(t->alert_codes[0])) == 0)
                continue; /* the usual case: nothing to look up */
            if ((k = slot_find(m, t->name)) >= 0)
                slot_update(m, &m->slots[k], t);
            continue;
        }
        if (nfree == 0) {
            /* grows the arrays and the index (at least twice nslots) */
            if (slot_add(m, t) < 0)
                fatalx("out of memory"); /* as the engine does for the same config */
            continue;
        }
        s = holes[--nfree];
        if (slot_init(&m->slots[s], t) < 0)
            fatalx("out of memory");
        m->index[index_pos(m->index, m->index_cap, m->slots, t->name)] = (uint32_t)(s + 1);
    }
    free(kept);
    free(holes);
    m->ntargets = cfg->ntargets;
    m->latency_off = cfg->metrics_latency == METRICS_LATENCY_OFF;
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
    if (metrics_set_linked(m, cfg)) {
        /* the descriptors kept for probing follow the new target count */
        metrics_http_set_targets(m->http, m->ntargets);
        metrics_http_invalidate(m->http);
        return;
    }
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
            slot_update(m, &slots[nn], t);
        } else if (slot_init(&slots[nn], t) < 0) {
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
    m->latency_off = cfg->metrics_latency == METRICS_LATENCY_OFF;
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

/* A string literal and its length. */
#define LIT(s) s, sizeof(s) - 1

/* name{series[,extra]} value: every length known, so one bounds check and
 * a few memcpy (the per-target lines are most of a large body). */
static void line(struct render *rd, const char *name, size_t nlen, const struct mslot *s,
                 const char *extra, size_t elen, const char *val, size_t vlen)
{
    size_t need = nlen + 1 + s->series_len + (elen > 0 ? 1 + elen : 0) + 2 + vlen + 1;
    char *o;

    if (need > sizeof(rd->stage) - rd->len)
        stage_flush(rd);
    if (need > sizeof(rd->stage)) { /* a name longer than any config allows */
        put(rd, name, nlen);
        put(rd, "{", 1);
        put(rd, s->series, s->series_len);
        if (elen > 0) {
            put(rd, ",", 1);
            put(rd, extra, elen);
        }
        put(rd, "} ", 2);
        put(rd, val, vlen);
        put(rd, "\n", 1);
        return;
    }
    o = rd->stage + rd->len;
    memcpy(o, name, nlen);
    o += nlen;
    *o++ = '{';
    memcpy(o, s->series, s->series_len);
    o += s->series_len;
    if (elen > 0) {
        *o++ = ',';
        memcpy(o, extra, elen);
        o += elen;
    }
    *o++ = '}';
    *o++ = ' ';
    memcpy(o, val, vlen);
    o += vlen;
    *o = '\n';
    rd->len += need;
}

static void line_u64(struct render *rd, const char *name, size_t nlen, const struct mslot *s,
                     const char *extra, size_t elen, uint64_t v)
{
    char buf[24], *p = u64_digits(buf + sizeof(buf), v);

    line(rd, name, nlen, s, extra, elen, p, (size_t)(buf + sizeof(buf) - p));
}

/* v / 10^decimals without trailing zeros ("0.0015"), as fmt_scaled() but
 * without printf, for the per-target lines. Returns the length written
 * at buf (at least 48 bytes). */
static size_t fmt_fixed(char *buf, uint64_t v, int decimals)
{
    char tmp[48], *end = tmp + sizeof(tmp), *p = end;
    uint64_t div = 1;
    size_t n;

    for (int i = 0; i < decimals; i++)
        div *= 10;
    if (v % div != 0) {
        uint64_t f = v % div;
        int d = decimals;
        while (f % 10 == 0) { /* trailing zeros go */
            f /= 10;
            d--;
        }
        for (; d > 0; d--) {
            *--p = (char)('0' + f % 10);
            f /= 10;
        }
        *--p = '.';
    }
    p = u64_digits(p, v / div);
    n = (size_t)(end - p);
    memcpy(buf, p, n);
    return n;
}

static void line_fixed(struct render *rd, const char *name, size_t nlen, const struct mslot *s,
                       uint64_t v, int decimals)
{
    char buf[48];
    size_t n = fmt_fixed(buf, v, decimals);

    line(rd, name, nlen, s, NULL, 0, buf, n);
}

/* The le labels with their lengths. */
#define LEB(x) LE(x), sizeof(LE(x)) - 1
static const struct {
    const char *s;
    size_t n;
} bucket_lab[METRICS_NBUCKETS + 1] = {
    {LEB("0.0005")}, {LEB("0.001")}, {LEB("0.0025")}, {LEB("0.005")}, {LEB("0.01")},
    {LEB("0.025")},  {LEB("0.05")},  {LEB("0.1")},    {LEB("0.25")},  {LEB("0.5")},
    {LEB("1")},      {LEB("2.5")},   {LEB("5")},      {LEB("10")},    {LEB("+Inf")},
};
#undef LEB

static void render_failures(struct metrics *m, struct render *rd)
{
    family(rd, "netdiag_failures_total", "counter",
           "Failed probe attempts by target, Windows Sockets code and raw outcome "
           "(errno, EAI or DNS name; \"other\" outside the documented set). The watched "
           "codes' series exist from the start at 0.");
    for (size_t i = 0; i < m->nslots; i++) {
        const struct mslot *s = &m->slots[i];
        for (size_t j = 0; s->name != NULL && j < s->nfails; j++) {
            const struct wsa_code *w = wsa_by_code(s->fails[j].code);
            char code[24], *c = u64_digits(code + sizeof(code), (uint64_t)s->fails[j].code);
            put(rd, LIT("netdiag_failures_total{target=\""));
            put(rd, s->label, s->label_len);
            put(rd, LIT("\",wsa_code=\""));
            put(rd, c, (size_t)(code + sizeof(code) - c));
            put(rd, LIT("\",wsa_name=\""));
            put_str(rd, w != NULL ? w->name : "UNKNOWN");
            put(rd, LIT("\",raw=\""));
            put_str(rd, s->fails[j].raw);
            put(rd, LIT("\"} "));
            put_u64(rd, s->fails[j].count);
            put(rd, "\n", 1);
        }
    }
}

static void render_targets(struct metrics *m, struct render *rd)
{
    family(rd, "netdiag_probes_total", "counter", "Probe attempts by target, kind and result.");
    for (size_t i = 0; i < m->nslots; i++) {
        const struct mslot *s = &m->slots[i];
        if (s->name == NULL)
            continue; /* a removed target's slot, free */
        line_u64(rd, LIT("netdiag_probes_total"), s, LIT("result=\"ok\""), s->ok);
        line_u64(rd, LIT("netdiag_probes_total"), s, LIT("result=\"failed\""), s->failed);
    }

    render_failures(m, rd);

    family(rd, "netdiag_target_up", "gauge",
           "1 when the target's last attempt succeeded, 0 when it failed (with addresses = "
           "all: the last address tried); absent before its first attempt.");
    for (size_t i = 0; i < m->nslots; i++) {
        const struct mslot *s = &m->slots[i];
        if (s->name != NULL && s->up >= 0)
            line(rd, LIT("netdiag_target_up"), s, NULL, 0, s->up ? "1" : "0", 1);
    }

    family(rd, "netdiag_target_last_success_timestamp_seconds", "gauge",
           "When the target's last successful attempt started, Unix time; absent before "
           "its first success.");
    for (size_t i = 0; i < m->nslots; i++) {
        const struct mslot *s = &m->slots[i];
        if (s->name != NULL && s->last_ok_ms > 0)
            line_fixed(rd, LIT("netdiag_target_last_success_timestamp_seconds"), s,
                       (uint64_t)s->last_ok_ms, 3);
    }

    family(rd, "netdiag_target_interval_seconds", "gauge",
           "The target's configured interval between attempts.");
    for (size_t i = 0; i < m->nslots; i++) {
        const struct mslot *s = &m->slots[i];
        if (s->name != NULL)
            line_fixed(rd, LIT("netdiag_target_interval_seconds"), s,
                       (uint64_t)(s->interval_ms > 0 ? s->interval_ms : 0), 3);
    }

    if (m->latency_off)
        return;
    family(rd, "netdiag_target_latency_seconds", "histogram",
           "Latency of the target's successful attempts (ping: the median round trip), "
           "by target and kind; metrics_latency = off leaves it out.");
    for (size_t i = 0; i < m->nslots; i++) {
        const struct mslot *s = &m->slots[i];
        uint64_t cum = 0;
        if (s->name == NULL)
            continue;
        for (size_t b = 0; b <= METRICS_NBUCKETS; b++) {
            cum += s->bucket[b];
            line_u64(rd, LIT("netdiag_target_latency_seconds_bucket"), s, bucket_lab[b].s,
                     bucket_lab[b].n, cum);
        }
        line_fixed(rd, LIT("netdiag_target_latency_seconds_sum"), s, s->sum_us, 6);
        line_u64(rd, LIT("netdiag_target_latency_seconds_count"), s, NULL, 0, cum);
    }
}

/* The alerts firing now, one line each. Two of a target's series can fire
 * with the same code (the class timeout fires as WSATRY_AGAIN beside a
 * watched WSATRY_AGAIN): one line for both, as a label set may appear
 * once. */
struct firing {
    struct render *rd;
    const char *target;
    const char *names[64];
    size_t n;
};

static void firing_cb(void *arg, const char *target, const char *wsa_name)
{
    struct firing *f = arg;

    if (f->target == NULL || strcmp(f->target, target) != 0) {
        f->target = target;
        f->n = 0;
    }
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->names[i], wsa_name) == 0)
            return;
    if (f->n < ND_ARRAY_LEN(f->names))
        f->names[f->n++] = wsa_name;
    /* target names are [A-Za-z0-9._-] or "*", code names [A-Z_]: no escaping */
    put(f->rd, LIT("netdiag_alert_firing{target=\""));
    put_str(f->rd, target);
    put(f->rd, LIT("\",wsa_name=\""));
    put_str(f->rd, wsa_name);
    put(f->rd, LIT("\"} 1\n"));
}

static void render_alerts(struct metrics *m, struct render *rd)
{
    struct firing f;

    family(rd, "netdiag_alerts_active", "gauge", "Alerts firing now.");
    emit(rd, "netdiag_alerts_active %zu\n",
         m->src.alerts_active != NULL ? m->src.alerts_active(m->src.arg) : 0);
    family(rd, "netdiag_alert_firing", "gauge",
           "1 for each alert of netdiagd's own engine firing now, by target (\"*\": host-wide) "
           "and the code it fires with; absent when it does not fire.");
    if (m->src.alerts_firing == NULL)
        return;
    memset(&f, 0, sizeof(f));
    f.rd = rd;
    m->src.alerts_firing(m->src.arg, firing_cb, &f);
}

/* Read a small /proc file into buf (NUL-terminated); its length or -1.
 * procfs answers from memory: no disk, no wait. */
static ssize_t proc_read(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0)
        return -1;
    n = read(fd, buf, len - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return n;
}

/* Fields of /proc/self/stat after the command name; field 3 (state) is
 * f[0]. Returns how many were read. */
static size_t proc_stat_fields(unsigned long long *f, size_t max)
{
    char buf[1024], *p, *end;
    size_t n = 0;

    if (proc_read("/proc/self/stat", buf, sizeof(buf)) < 0 || (p = strrchr(buf, ')')) == NULL)
        return 0;
    p++;
    while (n < max) {
        while (*p == ' ')
            p++;
        if (*p == '\0' || *p == '\n')
            break;
        if (n == 0) { /* the state letter */
            f[n++] = 0;
            p++;
            continue;
        }
        f[n++] = strtoull(p, &end, 10);
        if (end == p)
            break;
        p = end;
    }
    return n;
}

/* When this process started, Unix ms: the boot time of /proc/stat plus
 * field 22 of /proc/self/stat (clock ticks after boot). 0 when unknown. */
static int64_t proc_start_ms(void)
{
    unsigned long long f[24], btime = 0;
    long hz = sysconf(_SC_CLK_TCK);
    FILE *fp = fopen("/proc/stat", "re");
    char line[256];

    if (fp == NULL)
        return 0;
    /* lines are long (intr): fgets reads them in pieces; btime starts one */
    while (fgets(line, sizeof(line), fp) != NULL)
        if (strncmp(line, "btime ", 6) == 0) {
            btime = strtoull(line + 6, NULL, 10);
            break;
        }
    fclose(fp);
    if (btime == 0 || hz <= 0 || proc_stat_fields(f, 20) < 20)
        return 0;
    return (int64_t)btime * 1000 + (int64_t)(f[19] * 1000 / (unsigned long long)hz);
}

/* Descriptors open now: /proc/self/fd's size where the kernel counts them
 * there (Linux 6.2 and later, one call), else its entries counted. */
static long proc_open_fds(void)
{
    struct stat st;
    struct dirent *e;
    DIR *d;
    long n = 0;

    if (stat("/proc/self/fd", &st) == 0 && st.st_size > 0)
        return (long)st.st_size;
    if ((d = opendir("/proc/self/fd")) == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

/* The standard process_* metrics of Prometheus' client libraries. */
static void render_process(struct metrics *m, struct render *rd)
{
    unsigned long long f[24];
    long hz = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE), fds = proc_open_fds();
    struct rlimit rl;
    char num[48];

    if (proc_stat_fields(f, 22) >= 22 && hz > 0 && page > 0) {
        family(rd, "process_cpu_seconds_total", "counter",
               "Total user and system CPU time spent in seconds.");
        num[fmt_fixed(num, (f[11] + f[12]) * 1000 / (unsigned long long)hz, 3)] = '\0';
        emit(rd, "process_cpu_seconds_total %s\n", num);
        family(rd, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
        emit(rd, "process_virtual_memory_bytes %llu\n", f[20]);
        family(rd, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
        emit(rd, "process_resident_memory_bytes %llu\n", f[21] * (unsigned long long)page);
    }
    if (fds >= 0) {
        family(rd, "process_open_fds", "gauge", "Number of open file descriptors.");
        emit(rd, "process_open_fds %ld\n", fds);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        family(rd, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
        emit(rd, "process_max_fds %llu\n", (unsigned long long)rl.rlim_cur);
    }
    if (m->start_ms > 0) {
        family(rd, "process_start_time_seconds", "gauge",
               "Start time of the process since unix epoch in seconds.");
        num[fmt_fixed(num, (uint64_t)m->start_ms, 3)] = '\0';
        emit(rd, "process_start_time_seconds %s\n", num);
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
        line_u64(rd, LIT("netdiag_ping_echoes_total"), s, LIT("result=\"sent\""), s->echo_sent);
        line_u64(rd, LIT("netdiag_ping_echoes_total"), s, LIT("result=\"received\""), s->echo_recv);
    }
}

/* The export sink's figures ([export]), when it runs. */
static void render_export(struct metrics *m, struct render *rd)
{
    struct export_stats es;

    if (m->src.export_stats == NULL)
        return;
    m->src.export_stats(m->src.arg, &es);
    if (!es.running)
        return;
    family(rd, "netdiag_export_rows_total", "counter",
           "Rows ClickHouse acknowledged since the start, by stream.");
    for (int i = 0; i < STORE_EXPORT__COUNT; i++)
        emit(rd, "netdiag_export_rows_total{stream=\"%s\"} %" PRIu64 "\n", store_export_names[i],
             es.rows[i]);
    family(rd, "netdiag_export_batches_total", "counter", "INSERTs ClickHouse acknowledged.");
    emit(rd, "netdiag_export_batches_total %" PRIu64 "\n", es.batches);
    family(rd, "netdiag_export_errors_total", "counter",
           "Export attempts that failed (ClickHouse down, slow or refusing; retried).");
    emit(rd, "netdiag_export_errors_total %" PRIu64 "\n", es.errors);
    family(rd, "netdiag_export_up", "gauge", "1 when the last export attempt succeeded.");
    emit(rd, "netdiag_export_up %d\n", es.failing ? 0 : 1);
    family(rd, "netdiag_export_lag_seconds", "gauge",
           "How long the oldest failure row not yet in ClickHouse has been stored.");
    emit(rd, "netdiag_export_lag_seconds %.3f\n", (double)es.lag_ms / 1000.0);
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
    struct http_server_stats hs;

    if (m->http == NULL)
        return;
    metrics_http_get_stats(m->http, &hs);
    family(rd, "netdiag_metrics_connections", "gauge", "Connections to /metrics open now.");
    emit(rd, "netdiag_metrics_connections %zu\n", hs.open);
    family(rd, "netdiag_metrics_connections_closed_total", "counter",
           "Connections to /metrics closed, by reason: replied, timeout (the deadline "
           "from accept passed), peer (closed or reset first), error.");
    for (int i = 0; i < HTTP_CLOSE_N; i++)
        emit(rd, "netdiag_metrics_connections_closed_total{reason=\"%s\"} %" PRIu64 "\n",
             http_close_name((enum http_close)i), hs.closed[i]);
    family(rd, "netdiag_metrics_accept_paused_total", "counter",
           "Times /metrics stopped accepting for a while, by reason: limit (connections), "
           "descriptors (kept for probing), accept_error.");
    for (int i = 0; i < HTTP_PAUSE_N; i++)
        emit(rd, "netdiag_metrics_accept_paused_total{reason=\"%s\"} %" PRIu64 "\n",
             http_pause_name((enum http_pause)i), hs.paused[i]);
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
    render_alerts(m, &rd);
    render_store(m, &rd);
    render_export(m, &rd);
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
    render_process(m, &rd);
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
    m->start_ms = proc_start_ms();
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
