/* SPDX-License-Identifier: ISC */
/* Text the query commands print and build: times in local time or UTC,
 * latencies, rates, and a growing string for SQL (owned by fmt.c). */
#ifndef NETDIAG_FMT_H
#define NETDIAG_FMT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum fmt_time_style {
    FMT_TIME_ISO,   /* "2026-11-24T11:00:00.123+01:00", "...Z" in UTC (JSON, CSV) */
    FMT_TIME_SHORT, /* "11-24 11:00:00" (tables) */
    FMT_TIME_CLOCK, /* "11:00" (chart axis) */
    FMT_TIME_DAY,   /* "11-24" (chart axis, day buckets) */
};

/* ms since the epoch as text, in local time or UTC. */
void fmt_time(int64_t ms, bool utc, enum fmt_time_style style, char *buf, size_t len);
/* The zone of times shown: "UTC" or the local abbreviation ("CET"). */
const char *fmt_zone(int64_t ms, bool utc);
/* Seconds east of UTC of local time at ms (0 with utc). */
int64_t fmt_utc_offset_ms(int64_t ms, bool utc);

/* "57us", "4.2ms", "100.1ms", "2.50s"; "-" when negative (unknown). */
void fmt_latency_us(int64_t us, char *buf, size_t len);
/* A fraction as a percentage: "3.9%", "100%", "0.01%", "<0.01%"; "-" for NaN. */
void fmt_percent(double fraction, char *buf, size_t len);
/* A fraction as a percentage with one decimal always: "3.9%", "100.0%",
 * "<0.1%" for a little, ">99.9%" for almost all (never rounded to 0 or
 * 100 when it is not); "-" for NaN. */
void fmt_percent1(double fraction, char *buf, size_t len);

/* a - b and a + b, saturating at the ends of int64: times read from a
 * database someone else wrote may be anything. */
int64_t fmt_sub(int64_t a, int64_t b);
int64_t fmt_add(int64_t a, int64_t b);

/* A growing NUL-terminated string; out of memory exits 1. */
struct fmt_buf {
    char *s;
    size_t len, cap;
};

void fmt_buf_add(struct fmt_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fmt_buf_free(struct fmt_buf *b);

/* malloc/realloc/strdup that exit 1 with a message when memory runs out:
 * the client has nothing useful to do without it. */
void *fmt_alloc(void *p, size_t n);
char *fmt_strdup(const char *s);
/* ARRAY_RESERVE (common/array.h) that exits 1 in the same way. */
void fmt_reserve(void *arrp, size_t *cap, size_t need, size_t size);
#define FMT_RESERVE(arr, cap, need) fmt_reserve(&(arr), &(cap), (need), sizeof(*(arr)))

#endif
