/* SPDX-License-Identifier: ISC */
/* Times and durations as text: one way to write each, shared by the
 * daemon (result lines, alerts, config messages) and the client. */
#include <inttypes.h>
#include <stdio.h>

#include "timefmt.h"

bool timefmt_tm(int64_t ms, bool utc, struct tm *tm)
{
    int64_t s = ms / 1000;
    time_t t;

    if (ms % 1000 < 0)
        s--; /* floor: times before 1970 never occur, but must not round up */
    t = (time_t)s;
    return (utc ? gmtime_r(&t, tm) : localtime_r(&t, tm)) != NULL;
}

void timefmt_iso(int64_t ms, bool utc, char *buf, size_t len)
{
    struct tm tm;
    int frac = (int)(((ms % 1000) + 1000) % 1000); /* never overflows, unlike ms - s * 1000 */
    long off;
    char sign;

    if (!timefmt_tm(ms, utc, &tm)) {
        snprintf(buf, len, "?");
        return;
    }
    if (utc || tm.tm_gmtoff == 0) {
        snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
        return;
    }
    off = tm.tm_gmtoff / 60;
    sign = off < 0 ? '-' : '+';
    if (off < 0)
        off = -off;
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03d%c%02ld:%02ld", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac, sign, off / 60,
             off % 60);
}

#define TIMEFMT_DAY_MS (24LL * 3600 * 1000)

/* The largest unit that divides ms: "90s", "1500ms". */
static void timefmt_exact(int64_t ms, char *buf, size_t len)
{
    static const struct {
        int64_t ms;
        const char *unit;
    } units[] = {{TIMEFMT_DAY_MS, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}};

    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (ms != 0 && ms % units[i].ms == 0) {
            snprintf(buf, len, "%" PRId64 "%s", ms / units[i].ms, units[i].unit);
            return;
        }
    }
    snprintf(buf, len, "%" PRId64 "ms", ms);
}

void timefmt_duration(int64_t ms, enum timefmt_style style, char *buf, size_t len)
{
    long long s = (long long)(ms / 1000);

    if (style == TIMEFMT_EXACT)
        timefmt_exact(ms, buf, len);
    else if (ms < 0)
        snprintf(buf, len, "-");
    else if (s < 60)
        snprintf(buf, len, "%llds", s);
    else if (s < 3600 && style == TIMEFMT_AGO)
        snprintf(buf, len, "%lldm", s / 60);
    else if (s < 3600)
        snprintf(buf, len, "%lldm%02llds", s / 60, s % 60);
    else if (s < 86400)
        snprintf(buf, len, "%lldh%02lldm", s / 3600, s % 3600 / 60);
    else
        snprintf(buf, len, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
}
