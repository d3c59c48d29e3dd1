/* Printing results: JSON lines and text lines (owned by result.c). */
#ifndef NETDIAG_RESULT_H
#define NETDIAG_RESULT_H

#include <stddef.h>
#include <stdint.h>

#include "probe.h"

/* "2026-11-24T10:00:00.123Z" */
void result_format_time(int64_t ts_ms, char *buf, size_t len);
/* One JSON object, the fields of DESIGN.md, no newline. */
void result_format_json(const struct result *r, char *buf, size_t len);
void result_format_text(const struct result *r, char *buf, size_t len);

#endif
