/* SPDX-License-Identifier: ISC */
/* Reading back what a command wrote with --format json, so that the web
 * pages show the answers of the JSON API and nothing else: an array of
 * flat objects whose values are strings, numbers, booleans, null or
 * arrays of strings (owned by web_json.c). Strings are decoded in place,
 * in the text given. */
#ifndef NETDIAG_WEB_JSON_H
#define NETDIAG_WEB_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WJ_MAX_FIELDS 40 /* keys of one object kept; more is an error */
#define WJ_MAX_ITEMS  64 /* strings of one array kept; the rest are skipped */

enum wj_type {
    WJ_NULL,
    WJ_BOOL,
    WJ_NUM,
    WJ_STR,
    WJ_LIST,
};

struct wj_value {
    enum wj_type type;
    const char *s; /* WJ_STR: the decoded text (valid UTF-8, NUL-terminated) */
    double num;    /* WJ_NUM */
    int64_t i;     /* WJ_NUM: the integer part, saturated */
    bool b;        /* WJ_BOOL */
    size_t nitems; /* WJ_LIST */
    const char **items;
};

struct wj_row {
    size_t n;
    const char *keys[WJ_MAX_FIELDS];
    struct wj_value vals[WJ_MAX_FIELDS];
    const char *items[WJ_MAX_FIELDS][WJ_MAX_ITEMS];
};

/* Called for each object in order; a non-zero return stops the reading
 * and is returned. */
typedef int (*wj_row_fn)(void *arg, const struct wj_row *row);

/* Read text[0..len) (NUL-terminated at len), a JSON array of objects as
 * output.c writes it, or one object a line. Returns 0, what fn returned,
 * or -1 with a message in err when the text is not such JSON. */
int wj_rows(char *text, size_t len, wj_row_fn fn, void *arg, char *err, size_t errlen);

/* The value of `key`, or NULL when the row has none. */
const struct wj_value *wj_get(const struct wj_row *row, const char *key);
/* The string of `key`; NULL when absent or not a string. */
const char *wj_str(const struct wj_row *row, const char *key);
/* The number of `key` as an integer; `def` when absent or not a number. */
int64_t wj_int(const struct wj_row *row, const char *key, int64_t def);
/* The number of `key`; NaN when absent or not a number. */
double wj_num(const struct wj_row *row, const char *key);
/* The boolean of `key`; false when absent or not a boolean. */
bool wj_bool(const struct wj_row *row, const char *key);

#endif
