/* Parsing of the --since/--until time arguments (owned by timearg.c). */
#ifndef NETDIAG_TIMEARG_H
#define NETDIAG_TIMEARG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A time given on the command line, as ms since the epoch: a duration
 * before now_ms ("90s", "15m", "2h", "7d"), "now", "today" (the midnight
 * that began now_ms's day, local or UTC) or an ISO-8601 time
 * ("2026-11-24", "2026-11-24T10:00", "2026-11-24 10:00:30.250Z",
 * "2026-11-24T10:00:00+01:00"). A time without a zone is local time, or UTC
 * when `utc` is set; a bare date is its midnight. Returns 0, or -1 with a
 * message in err. */
int timearg_parse(const char *s, int64_t now_ms, bool utc, int64_t *out_ms, char *err,
                  size_t errlen);

#endif
