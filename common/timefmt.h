/* SPDX-License-Identifier: ISC */
/* Times and durations as text, for daemon and client alike: the one ISO
 * 8601 formatter and the one duration formatter (owned by timefmt.c). */
#ifndef NETDIAG_TIMEFMT_H
#define NETDIAG_TIMEFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* The calendar time of ms since the epoch, in UTC or local time, floored
 * to its second (-1 ms is 23:59:59 of the day before, never second 0).
 * false when the system cannot represent it. */
bool timefmt_tm(int64_t ms, bool utc, struct tm *tm);

/* "2026-11-24T10:00:00.123Z" (utc, or a local zone at UTC), else local
 * time with its offset, "2026-11-24T11:00:00.123+01:00"; "?" when ms is
 * beyond the calendar. */
void timefmt_iso(int64_t ms, bool utc, char *buf, size_t len);

enum timefmt_style {
    TIMEFMT_EXACT,   /* "90s", "1500ms", "2h", "1d": the largest unit that divides ms
                      * exactly, as a config value is written ("0ms" for 0) */
    TIMEFMT_ELAPSED, /* "45s", "12m05s", "3h05m", "2d04h": how long, in its two
                      * largest units, rounded down; "-" when negative */
    TIMEFMT_AGO,     /* as TIMEFMT_ELAPSED but minutes alone below an hour ("12m"),
                      * for narrow "how long ago" columns */
};

/* A duration of ms milliseconds as text, in one of the styles above. */
void timefmt_duration(int64_t ms, enum timefmt_style style, char *buf, size_t len);

#endif
