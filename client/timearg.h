/* SPDX-License-Identifier: ISC */
/* Parsing of the --since/--until time arguments (owned by timearg.c). */
#ifndef NETDIAG_TIMEARG_H
#define NETDIAG_TIMEARG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A time given on the command line, as ms since the epoch, in the forms
 * people type for journalctl too: a duration before now_ms ("90s", "15m",
 * "-15m", "1 hour ago", "2h 30min ago"; "+15m" after it), "now", "today",
 * "yesterday", "tomorrow" (midnights, local or UTC), a time of today
 * ("16:00", "16:00:30"), or an ISO-8601 time ("2026-11-24",
 * "2026-11-24T10:00", "2026-12-07 16:00", "2026-11-24 10:00:30.250Z",
 * "2026-11-24T10:00:00+01:00"). A time without a zone is local time, or UTC
 * when `utc` is set; a bare date is its midnight. Returns 0, or -1 with a
 * message in err. */
int timearg_parse(const char *s, int64_t now_ms, bool utc, int64_t *out_ms, char *err,
                  size_t errlen);

#endif
