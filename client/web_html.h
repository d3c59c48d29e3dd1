/* SPDX-License-Identifier: ISC */
/* Writing HTML that cannot be broken by what it shows (owned by
 * web_html.c): every piece of stored text goes through html_text() or
 * html_url(); the page's one style sheet and one script, whose hashes the
 * Content-Security-Policy names; times as <time> in UTC that the script
 * shows in the viewer's zone. */
#ifndef NETDIAG_WEB_HTML_H
#define NETDIAG_WEB_HTML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* s as HTML text or attribute value: & < > " ' as entities, control
 * characters (tab and newline aside) and bytes that are not UTF-8 as
 * U+FFFD. NULL writes nothing. */
void html_text(FILE *fp, const char *s);
/* s percent-encoded for a path segment or a query value: everything but
 * A-Z a-z 0-9 - . _ ~ as %XX. */
void html_url(FILE *fp, const char *s);
/* Decode %XX (and '+' as a space when plus) of s[0..n) into out (outlen
 * bytes, NUL-terminated). -1 for a bad escape, a NUL, or no room. */
int html_url_decode(const char *s, size_t n, bool plus, char *out, size_t outlen);

enum html_time_style {
    HTML_TIME_FULL,  /* 2026-11-24 10:00:00 */
    HTML_TIME_SHORT, /* 11-24 10:00 */
};
/* <time datetime="2026-11-24T10:00:00.000Z" title="... UTC">...</time>: the
 * text in UTC, shown in the viewer's zone by the page's script, with UTC
 * on hover. ms < 0: "-". */
void html_time(FILE *fp, int64_t ms, enum html_time_style style);
/* "5m", "2h10m", "3d": how long ms is, for "since" columns. */
void html_duration(FILE *fp, int64_t ms);

/* The start of a page up to <main>, with the navigation (`active`: "/",
 * "/alerts", "/codes", or NULL) and the title (escaped). */
void html_page_start(FILE *fp, const char *title, const char *active);
/* </main>, the footer (`db`: the database named, escaped) and the script. */
void html_page_end(FILE *fp, const char *db, int64_t now_ms);

/* The Content-Security-Policy of every reply: nothing from anywhere, the
 * page's own style and script by their SHA-256, images from data: URLs. */
const char *html_csp(void);

#endif
