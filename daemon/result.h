/* Printing results: JSON lines and text lines (owned by result.c). */
#ifndef NETDIAG_RESULT_H
#define NETDIAG_RESULT_H

#include <stddef.h>
#include <stdint.h>

#include "probe.h"

/* One JSON object, the fields of DESIGN.md, no newline. */
void result_format_json(const struct result *r, char *buf, size_t len);
void result_format_text(const struct result *r, char *buf, size_t len);

#endif
