/* Parsing of --since/--until: a duration before now, or an ISO-8601 time,
 * checked field by field (strptime accepts too much, e.g. "2026-02-31"). */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
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

/* The midnight that starts the day of now_ms, local or UTC. */
static int timearg_midnight(int64_t now_ms, bool utc, int64_t *out_ms, char *err, size_t errlen)
{
    time_t now = (time_t)(now_ms / 1000), t;
    struct tm tm;

    if ((utc ? gmtime_r(&now, &tm) : localtime_r(&now, &tm)) == NULL) {
        snprintf(err, errlen, "\"today\": the clock is out of range");
        return -1;
    }
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_isdst = -1;
    t = utc ? timegm(&tm) : mktime(&tm);
    if (t == (time_t)-1) {
        snprintf(err, errlen, "\"today\": no midnight in the local time zone");
        return -1;
    }
    *out_ms = (int64_t)t * 1000;
    return 0;
}

int timearg_parse(const char *s, int64_t now_ms, bool utc, int64_t *out_ms, char *err,
                  size_t errlen)
{
    int64_t ago_ms;
    char derr[128];

    if (strcmp(s, "now") == 0) {
        *out_ms = now_ms;
        return 0;
    }
    if (strcmp(s, "today") == 0)
        return timearg_midnight(now_ms, utc, out_ms, err, errlen);
    /* Four digits and a dash can only be the start of a date. */
    if (strlen(s) >= 5 && isdigit((unsigned char)s[0]) && s[4] == '-')
        return timearg_iso(s, utc, out_ms, err, errlen);
    if (util_parse_duration_ms(s, &ago_ms, derr, sizeof(derr)) < 0) {
        snprintf(err, errlen,
                 "\"%s\" is neither a duration (90s, 15m, 2h, 7d), \"today\", \"now\" nor an "
                 "ISO-8601 time (2026-11-24T10:00:00Z)",
                 s);
        return -1;
    }
    *out_ms = now_ms - ago_ms;
    return 0;
}
