/* SPDX-License-Identifier: ISC */
/* What the parts of `netdiag web` share (web.c owns the server and runs
 * the commands, web_page.c renders the pages, web_html.c and web_chart.c
 * write HTML and SVG): the answers of the commands, captured in memory,
 * which the JSON API returns as they are and the pages read back. */
#ifndef NETDIAG_WEB_H
#define NETDIAG_WEB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "web_json.h"

/* What one answer may take: more is refused ("narrow the range"). */
#define WEB_OUTPUT_MAX (32u << 20)
/* The newest failures an answer lists at most (--limit). */
#define WEB_LIMIT_MAX 10000
/* The buckets of a timeline answer at most. */
#define WEB_BUCKETS_MAX 2000
/* A query's own deadline ($NETDIAG_TIMEOUT, unless set otherwise). */
#define WEB_QUERY_TIMEOUT_S "10"

/* One command's answer: its standard output and its standard error, each
 * NUL-terminated, and its exit code. */
struct web_answer {
    char *out;
    size_t outlen;
    char *err;
    size_t errlen;
    int rc;
    bool too_large; /* the output passed WEB_OUTPUT_MAX */
};

struct web;

/* Run `netdiag --format json CMD ARGS...` on the database the server was
 * given, into memory. args[0] is the command; NULL ends the list. Returns
 * the exit code (also in a->rc). */
int web_run(struct web *w, struct web_answer *a, const char *const *args);
void web_answer_free(struct web_answer *a);

/* The rows of an answer, through wj_rows(); -1 when the answer is not
 * JSON (a failed command: the page says what it printed). */
int web_rows(struct web_answer *a, wj_row_fn fn, void *arg);

/* web_page.c: each page into fp; the HTTP status is returned (200, or
 * 404 for a target that does not exist, 503 when the database cannot be
 * read). `target` is decoded, `range` one of 1h, 24h, 7d, 30d. */
int web_page_overview(struct web *w, FILE *fp);
int web_page_target(struct web *w, FILE *fp, const char *target, const char *range);
int web_page_alerts(struct web *w, FILE *fp);
int web_page_codes(struct web *w, FILE *fp);
int web_page_api(struct web *w, FILE *fp);

/* web.c: "the database: PATH" as the page footer says it. */
const char *web_db_label(const struct web *w);
/* web.c: now, as the commands take it (the wall clock, or $NETDIAG_NOW). */
int64_t web_now_ms(void);

#endif
