/* SPDX-License-Identifier: ISC */
/* Parsing of --since/--until: a duration before now, or an ISO-8601 time,
 * checked field by field (strptime accepts too much, e.g. "2026-02-31"). */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "timearg.h"
#include "util.h"

/* Exactly n digits at *p, advancing *p. */
static bool timearg_digits(const char **p, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return false;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static int timearg_days_in_month(int year, int month)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    if (month == 2 && year % 4 == 0 && (year % 100 != 0 || year % 400 == 0))
        return 29;
    return days[month - 1];
}

/* "+01:00", "-0530", "+01"; `p` is just after the sign. */
static bool timearg_offset(const char **p, int sign, int *off_min)
{
    int hours, minutes = 0;

    if (!timearg_digits(p, 2, &hours))
        return false;
    if (**p == ':') {
        (*p)++;
        if (!timearg_digits(p, 2, &minutes))
            return false;
    } else if (isdigit((unsigned char)**p) && !timearg_digits(p, 2, &minutes)) {
        return false;
    }
    if (hours > 23 || minutes > 59)
        return false;
    *off_min = sign * (hours * 60 + minutes);
    return true;
}

static int timearg_iso(const char *s, bool utc, int64_t *out_ms, char *err, size_t errlen)
{
    const char *p = s;
    int year, month, day, hour = 0, minute = 0, second = 0, ms = 0, off_min = 0;
    bool zone = false;
    struct tm tm;
    time_t t;

    if (!timearg_digits(&p, 4, &year) || *p++ != '-' || !timearg_digits(&p, 2, &month) ||
        *p++ != '-' || !timearg_digits(&p, 2, &day))
        goto bad;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (!timearg_digits(&p, 2, &hour) || *p++ != ':' || !timearg_digits(&p, 2, &minute))
            goto bad;
        if (*p == ':') {
            p++;
            if (!timearg_digits(&p, 2, &second))
                goto bad;
            if (*p == '.' || *p == ',') {
                int ndigits = 0, scale = 100;
                for (p++; isdigit((unsigned char)*p); p++, ndigits++) {
                    ms += (*p - '0') * scale; /* digits past the ms are dropped */
                    scale /= 10;
                }
                if (ndigits == 0 || ndigits > 9)
                    goto bad;
            }
        }
        if (*p == 'Z' || *p == 'z') {
            zone = true;
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p == '-' ? -1 : 1;
            p++;
            if (!timearg_offset(&p, sign, &off_min))
                goto bad;
            zone = true;
        }
    }
    if (*p != '\0')
        goto bad;
    if (year < 1970 || month < 1 || month > 12 || day < 1 ||
        day > timearg_days_in_month(year, month) || hour > 23 || minute > 59 || second > 60) {
        snprintf(err, errlen, "\"%s\": a field is out of range (is the date real?)", s);
        return -1;
    }
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    if (zone || utc) {
        t = timegm(&tm);
    } else {
        tm.tm_isdst = -1; /* let the zone rules decide summer time */
        t = mktime(&tm);
        if (t == (time_t)-1) {
            snprintf(err, errlen, "\"%s\" is not a time in the local time zone", s);
            return -1;
        }
    }
    *out_ms = ((int64_t)t - (int64_t)off_min * 60) * 1000 + ms;
    return 0;
bad:
    snprintf(err, errlen,
             "\"%s\" is not an ISO-8601 time (YYYY-MM-DD[THH:MM[:SS[.mmm]]][Z|+HH:MM])", s);
    return -1;
}

/* The day of now_ms moved by `days` days (calendar days: 23 or 25 hours
 * across a summer-time change) at hour:minute:second, local or UTC. what
 * is the argument errors quote; missing follows it when that time does
 * not exist in the local time zone. */
static int timearg_day_at(int64_t now_ms, int days, int hour, int minute, int second, bool utc,
                          const char *what, const char *missing, int64_t *out_ms, char *err,
                          size_t errlen)
{
    time_t now = (time_t)(now_ms / 1000), t;
    struct tm tm;

    if ((utc ? gmtime_r(&now, &tm) : localtime_r(&now, &tm)) == NULL) {
        snprintf(err, errlen, "\"%s\": the clock is out of range", what);
        return -1;
    }
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    tm.tm_mday += days;
    tm.tm_isdst = -1;
    t = utc ? timegm(&tm) : mktime(&tm);
    if (t == (time_t)-1) {
        snprintf(err, errlen, "\"%s\"%s", what, missing);
        return -1;
    }
    *out_ms = (int64_t)t * 1000;
    return 0;
}

/* The midnight that starts the day of now_ms, moved by `days` days. */
static int timearg_midnight(int64_t now_ms, int days, bool utc, const char *what, int64_t *out_ms,
                            char *err, size_t errlen)
{
    return timearg_day_at(now_ms, days, 0, 0, 0, utc, what, ": no midnight in the local time zone",
                          out_ms, err, errlen);
}

/* "16:00" or "16:00:30": that time today. */
static int timearg_clock(const char *s, int64_t now_ms, bool utc, int64_t *out_ms, char *err,
                         size_t errlen)
{
    const char *p = s;
    int hour, minute, second = 0;

    if (!timearg_digits(&p, 2, &hour) || *p++ != ':' || !timearg_digits(&p, 2, &minute) ||
        (*p == ':' && (p++, !timearg_digits(&p, 2, &second))) || *p != '\0' || hour > 23 ||
        minute > 59 || second > 59) {
        snprintf(err, errlen, "\"%s\" is not a time of day (HH:MM or HH:MM:SS)", s);
        return -1;
    }
    return timearg_day_at(now_ms, 0, hour, minute, second, utc, s,
                          " is not a time in the local time zone", out_ms, err, errlen);
}

/* A span as systemd writes it: "1 hour", "2h 30min", "15m", "90 seconds";
 * ms in *out, false when it is not one. At most 100 years. */
static bool timearg_span(const char *s, int64_t *out)
{
    static const struct {
        const char *name;
        int64_t ms;
    } units[] = {
        {"ms", 1},           {"msec", 1},          {"s", 1000},        {"sec", 1000},
        {"secs", 1000},      {"second", 1000},     {"seconds", 1000},  {"m", 60000},
        {"min", 60000},      {"mins", 60000},      {"minute", 60000},  {"minutes", 60000},
        {"h", 3600000},      {"hr", 3600000},      {"hour", 3600000},  {"hours", 3600000},
        {"d", 86400000},     {"day", 86400000},    {"days", 86400000}, {"w", 604800000},
        {"week", 604800000}, {"weeks", 604800000},
    };
    const int64_t max = 100LL * 366 * 86400000;
    int64_t total = 0;
    bool any = false;

    while (*s) {
        int64_t n = 0, unit = 0;
        size_t len;
        while (*s == ' ')
            s++;
        if (*s == '\0')
            break;
        if (!isdigit((unsigned char)*s))
            return false;
        for (; isdigit((unsigned char)*s); s++) {
            n = n * 10 + (*s - '0');
            if (n > max)
                return false;
        }
        while (*s == ' ')
            s++;
        for (len = 0; isalpha((unsigned char)s[len]); len++)
            ;
        for (size_t i = 0; i < ND_ARRAY_LEN(units); i++)
            if (strlen(units[i].name) == len && strncasecmp(s, units[i].name, len) == 0)
                unit = units[i].ms;
        if (unit == 0 || n > max / unit)
            return false;
        total += n * unit;
        if (total > max)
            return false;
        s += len;
        any = true;
    }
    *out = total;
    return any;
}

int timearg_parse(const char *s, int64_t now_ms, bool utc, int64_t *out_ms, char *err,
                  size_t errlen)
{
    static const char *const days[] = {"yesterday", "today", "tomorrow"};
    int64_t span;
    size_t len = strlen(s);
    char buf[128];

    if (strcmp(s, "now") == 0) {
        *out_ms = now_ms;
        return 0;
    }
    for (int i = 0; i < 3; i++)
        if (strcasecmp(s, days[i]) == 0)
            return timearg_midnight(now_ms, i - 1, utc, s, out_ms, err, errlen);
    /* Four digits and a dash can only be the start of a date. */
    if (len >= 5 && isdigit((unsigned char)s[0]) && s[4] == '-')
        return timearg_iso(s, utc, out_ms, err, errlen);
    if (len >= 3 && isdigit((unsigned char)s[0]) && (s[1] == ':' || s[2] == ':'))
        return timearg_clock(s, now_ms, utc, out_ms, err, errlen);
    /* "-15m", "+15m", "15m", "1 hour ago" */
    if (len < sizeof(buf)) {
        int sign = -1;
        const char *p = s;
        memcpy(buf, s, len + 1);
        if (len > 4 && strcasecmp(buf + len - 4, " ago") == 0)
            buf[len - 4] = '\0';
        else if (len > 3 && strcasecmp(buf + len - 3, "ago") == 0)
            buf[len - 3] = '\0';
        else if (*p == '-' || *p == '+')
            sign = *p == '-' ? -1 : 1;
        p = buf + (buf[0] == '-' || buf[0] == '+');
        if (timearg_span(p, &span)) {
            *out_ms = now_ms + sign * span;
            return 0;
        }
    }
    snprintf(err, errlen,
             "\"%s\" is not a time: a duration (90s, -15m, \"1 hour ago\"), now, today, "
             "yesterday, a time of day (16:00) or an ISO-8601 time (2026-11-24T10:00:00Z, "
             "\"2026-12-07 16:00\")",
             s);
    return -1;
}
