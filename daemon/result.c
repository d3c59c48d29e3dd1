/* SPDX-License-Identifier: ISC */
/* A probe result's phase names, and the result as a JSON object or a text
 * line, as `netdiagd --once` prints them. */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "json.h"
#include "result.h"
#include "timefmt.h"
#include "util.h"
#include "wsa.h"

const char *result_phase_name(enum probe_phase phase)
{
    switch (phase) {
    case PHASE_NONE:
        return "none";
    case PHASE_RESOLVE:
        return "resolve";
    case PHASE_CONNECT:
        return "connect";
    case PHASE_SEND:
        return "send";
    case PHASE_RECV:
        return "recv";
    case PHASE_VERIFY:
        return "verify";
    }
    return "?";
}

/* A ping's echo figures, after the common fields: the object's closing
 * brace is replaced (latency_us is the median RTT of an ok attempt). */
static void result_json_ping(const struct result *r, char *buf, size_t len)
{
    size_t n = strlen(buf);

    if (r->target->kind != KIND_PING || n == 0 || buf[n - 1] != '}')
        return;
    snprintf(buf + n - 1, len - (n - 1),
             ",\"echo_sent\":%u,\"echo_recv\":%u,\"rtt_min_us\":%lld,\"rtt_max_us\":%lld}",
             r->echo_sent, r->echo_recv, (long long)r->rtt_min_us, (long long)r->rtt_max_us);
}

/* Who sent the ICMP error a failure came from, the same way (only for
 * such a failure: every other result prints as before). */
static void result_json_icmp(const struct result *r, char *buf, size_t len)
{
    size_t n = strlen(buf);
    char from[100];

    if (!r->icmp || n == 0 || buf[n - 1] != '}')
        return;
    if (r->icmp_from[0] != '\0')
        json_string(from, sizeof(from), r->icmp_from);
    else
        util_strlcpy(from, "null", sizeof(from));
    snprintf(buf + n - 1, len - (n - 1), ",\"icmp_from\":%s,\"icmp_type\":%u,\"icmp_code\":%u}",
             from, r->icmp_type, r->icmp_code);
}

void result_format_json(const struct result *r, char *buf, size_t len)
{
    const struct wsa_code *wc = r->ok ? NULL : wsa_by_code(r->wsa_code);
    char ts[40], name[256], detail[600], raw[64], local[140], remote[140];

    timefmt_iso(r->ts_ms, true, ts, sizeof(ts));
    json_string(name, sizeof(name), r->target->name);
    json_string(detail, sizeof(detail), r->detail);
    json_string(raw, sizeof(raw), r->raw);
    json_string(local, sizeof(local), r->local);
    json_string(remote, sizeof(remote), r->remote);
    if (r->ok) {
        snprintf(buf, len,
                 "{\"ts\":\"%s\",\"target\":%s,\"kind\":\"%s\",\"ok\":true,\"phase\":\"%s\","
                 "\"wsa_code\":0,\"wsa_name\":null,\"meaning\":null,\"raw\":null,"
                 "\"raw_value\":null,\"detail\":%s,\"latency_us\":%lld,\"local\":%s,"
                 "\"remote\":%s}",
                 ts, name, target_kind_name(r->target->kind), result_phase_name(r->phase), detail,
                 (long long)r->latency_us, local, remote);
        result_json_ping(r, buf, len);
        return;
    }
    {
        char meaning[160];
        json_string(meaning, sizeof(meaning), wc ? wc->meaning : "");
        snprintf(buf, len,
                 "{\"ts\":\"%s\",\"target\":%s,\"kind\":\"%s\",\"ok\":false,\"phase\":\"%s\","
                 "\"wsa_code\":%d,\"wsa_name\":\"%s\",\"meaning\":%s,\"raw\":%s,"
                 "\"raw_value\":%d,\"detail\":%s,\"latency_us\":%lld,\"local\":%s,"
                 "\"remote\":%s}",
                 ts, name, target_kind_name(r->target->kind), result_phase_name(r->phase),
                 r->wsa_code, wc ? wc->name : "?", meaning, raw, r->raw_value, detail,
                 (long long)r->latency_us, local, remote);
        result_json_ping(r, buf, len);
        result_json_icmp(r, buf, len);
    }
}

void result_format_text(const struct result *r, char *buf, size_t len)
{
    char ts[40];
    const struct wsa_code *wc = r->ok ? NULL : wsa_by_code(r->wsa_code);

    timefmt_iso(r->ts_ms, true, ts, sizeof(ts));
    if (r->ok) {
        snprintf(buf, len, "%s %s %s ok %lldus %s -> %s: %s", ts, r->target->name,
                 target_kind_name(r->target->kind), (long long)r->latency_us,
                 r->local[0] ? r->local : "-", r->remote[0] ? r->remote : "-", r->detail);
        return;
    }
    snprintf(buf, len, "%s %s %s FAILED in %s: %d %s \"%s\" raw=%s(%d) %lldus %s -> %s%s%s", ts,
             r->target->name, target_kind_name(r->target->kind), result_phase_name(r->phase),
             r->wsa_code, wc ? wc->name : "?", wc ? wc->meaning : "", r->raw, r->raw_value,
             (long long)r->latency_us, r->local[0] ? r->local : "-", r->remote[0] ? r->remote : "-",
             r->detail[0] ? ": " : "", r->detail);
}
