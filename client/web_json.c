/* SPDX-License-Identifier: ISC */
/* A reader for the JSON the commands write (output.c): a strict
 * recursive-descent parser of RFC 8259 restricted to what a row holds,
 * decoding strings in place (an escape is never shorter than what it
 * stands for, so the text decoded never overtakes the text read). The
 * input is this program's own output, but it carries text someone else
 * stored, so nothing in it is trusted: every string comes out as valid
 * UTF-8, every length is checked. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "web_json.h"

struct wj {
    char *start, *p, *end;
    char *err;
    size_t errlen;
};

static int wj_fail(struct wj *j, const char *what)
{
    if (j->err != NULL && j->errlen > 0)
        snprintf(j->err, j->errlen, "%s at byte %td", what, j->p - j->start);
    return -1;
}

static void wj_space(struct wj *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t'))
        j->p++;
}

static int wj_hex4(const char *p, unsigned *out)
{
    unsigned v = 0;

    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

/* UTF-8 of code point cp at d; the bytes written. */
static size_t wj_utf8(char *d, unsigned cp)
{
    if (cp < 0x80) {
        d[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        d[0] = (char)(0xc0 | (cp >> 6));
        d[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        d[0] = (char)(0xe0 | (cp >> 12));
        d[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        d[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    d[0] = (char)(0xf0 | (cp >> 18));
    d[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    d[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    d[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* A string at j->p (its opening quote), decoded in place; *out points at
 * it, NUL-terminated where its closing quote was (or before). A lone
 * surrogate or a NUL escape becomes U+FFFD. */
static int wj_string(struct wj *j, const char **out)
{
    char *d, *s, *begin;

    if (j->p >= j->end || *j->p != '"')
        return wj_fail(j, "a string expected");
    begin = s = d = ++j->p;
    while (s < j->end && *s != '"') {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20)
            return wj_fail(j, "a control character in a string");
        if (c == '\\') {
            unsigned cp, lo;
            if (s + 1 >= j->end)
                return wj_fail(j, "an escape cut short");
            switch (s[1]) {
            case '"':
            case '\\':
            case '/':
                *d++ = s[1];
                s += 2;
                continue;
            case 'b':
                *d++ = '\b';
                s += 2;
                continue;
            case 'f':
                *d++ = '\f';
                s += 2;
                continue;
            case 'n':
                *d++ = '\n';
                s += 2;
                continue;
            case 'r':
                *d++ = '\r';
                s += 2;
                continue;
            case 't':
                *d++ = '\t';
                s += 2;
                continue;
            case 'u':
                break;
            default:
                return wj_fail(j, "an unknown escape");
            }
            if (j->end - s < 6 || wj_hex4(s + 2, &cp) < 0)
                return wj_fail(j, "a bad \\u escape");
            s += 6;
            if (cp >= 0xd800 && cp < 0xdc00 && j->end - s >= 6 && s[0] == '\\' && s[1] == 'u' &&
                wj_hex4(s + 2, &lo) == 0 && lo >= 0xdc00 && lo < 0xe000) {
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                s += 6;
            } else if ((cp >= 0xd800 && cp < 0xe000) || cp == 0) {
                cp = 0xfffd;
            }
            d += wj_utf8(d, cp);
            continue;
        }
        {
            /* json_write() never writes anything else: the text was
             * changed on the way */
            size_t n = json_utf8_len((const unsigned char *)s);
            if (n == 0 || s + n > j->end)
                return wj_fail(j, "bytes that are not UTF-8");
            memmove(d, s, n);
            d += n;
            s += n;
        }
    }
    if (s >= j->end)
        return wj_fail(j, "a string without its end");
    j->p = s + 1;
    *d = '\0';
    *out = begin;
    return 0;
}

static bool wj_lit(struct wj *j, const char *lit)
{
    size_t n = strlen(lit);

    if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n) != 0)
        return false;
    j->p += n;
    return true;
}

static int wj_number(struct wj *j, struct wj_value *v)
{
    char *start = j->p, *q = j->p, saved;

    if (q < j->end && *q == '-')
        q++;
    if (q >= j->end || *q < '0' || *q > '9')
        return wj_fail(j, "a value expected");
    while (q < j->end && ((*q >= '0' && *q <= '9') || *q == '.' || *q == 'e' || *q == 'E' ||
                          *q == '+' || *q == '-'))
        q++;
    saved = '\0';
    if (q < j->end)
        saved = *q;
    if (q < j->end)
        *q = '\0';
    v->type = WJ_NUM;
    v->num = strtod(start, NULL);
    if (!isfinite(v->num))
        v->i = v->num > 0 ? INT64_MAX : INT64_MIN;
    else if (v->num >= 9.2e18)
        v->i = INT64_MAX;
    else if (v->num <= -9.2e18)
        v->i = INT64_MIN;
    else if (memchr(start, '.', (size_t)(q - start)) == NULL &&
             memchr(start, 'e', (size_t)(q - start)) == NULL &&
             memchr(start, 'E', (size_t)(q - start)) == NULL)
        v->i = strtoll(start, NULL, 10); /* exact beyond 2^53 */
    else
        v->i = (int64_t)v->num;
    if (q < j->end)
        *q = saved;
    j->p = q;
    return 0;
}

static int wj_value(struct wj *j, struct wj_value *v, const char **items)
{
    memset(v, 0, sizeof(*v));
    wj_space(j);
    if (j->p >= j->end)
        return wj_fail(j, "a value expected");
    switch (*j->p) {
    case '"':
        v->type = WJ_STR;
        return wj_string(j, &v->s);
    case 'n':
        v->type = WJ_NULL;
        return wj_lit(j, "null") ? 0 : wj_fail(j, "a value expected");
    case 't':
    case 'f':
        v->type = WJ_BOOL;
        v->b = *j->p == 't';
        return wj_lit(j, v->b ? "true" : "false") ? 0 : wj_fail(j, "a value expected");
    case '[':
        v->type = WJ_LIST;
        v->items = items;
        j->p++;
        wj_space(j);
        if (j->p < j->end && *j->p == ']') {
            j->p++;
            return 0;
        }
        for (;;) {
            const char *s = NULL;
            wj_space(j);
            if (wj_string(j, &s) < 0)
                return -1;
            if (v->nitems < WJ_MAX_ITEMS)
                items[v->nitems++] = s;
            wj_space(j);
            if (j->p < j->end && *j->p == ',') {
                j->p++;
                continue;
            }
            if (j->p < j->end && *j->p == ']') {
                j->p++;
                return 0;
            }
            return wj_fail(j, "a ',' or ']' expected");
        }
    default:
        return wj_number(j, v);
    }
}

static int wj_object(struct wj *j, struct wj_row *row)
{
    row->n = 0;
    if (j->p >= j->end || *j->p != '{')
        return wj_fail(j, "an object expected");
    j->p++;
    wj_space(j);
    if (j->p < j->end && *j->p == '}') {
        j->p++;
        return 0;
    }
    for (;;) {
        if (row->n == WJ_MAX_FIELDS)
            return wj_fail(j, "too many keys in an object");
        wj_space(j);
        if (wj_string(j, &row->keys[row->n]) < 0)
            return -1;
        wj_space(j);
        if (j->p >= j->end || *j->p != ':')
            return wj_fail(j, "a ':' expected");
        j->p++;
        if (wj_value(j, &row->vals[row->n], row->items[row->n]) < 0)
            return -1;
        row->n++;
        wj_space(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        if (j->p < j->end && *j->p == '}') {
            j->p++;
            return 0;
        }
        return wj_fail(j, "a ',' or '}' expected");
    }
}

int wj_rows(char *text, size_t len, wj_row_fn fn, void *arg, char *err, size_t errlen)
{
    struct wj j = {.start = text, .p = text, .end = text + len, .err = err, .errlen = errlen};
    struct wj_row *row = malloc(sizeof(*row));
    bool array;
    int rc = 0;

    if (row == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    wj_space(&j);
    array = j.p < j.end && *j.p == '[';
    if (array) {
        j.p++;
        wj_space(&j);
        if (j.p < j.end && *j.p == ']') {
            j.p++;
            goto tail;
        }
    }
    for (;;) {
        wj_space(&j);
        if (!array && j.p >= j.end)
            break;
        if ((rc = wj_object(&j, row)) != 0 || (rc = fn(arg, row)) != 0)
            goto out;
        wj_space(&j);
        if (!array)
            continue;
        if (j.p < j.end && *j.p == ',') {
            j.p++;
            continue;
        }
        if (j.p < j.end && *j.p == ']') {
            j.p++;
            break;
        }
        rc = wj_fail(&j, "a ',' or ']' expected");
        goto out;
    }
tail:
    wj_space(&j);
    if (j.p != j.end)
        rc = wj_fail(&j, "text after the end");
out:
    free(row);
    return rc;
}

const struct wj_value *wj_get(const struct wj_row *row, const char *key)
{
    for (size_t i = 0; i < row->n; i++)
        if (strcmp(row->keys[i], key) == 0)
            return &row->vals[i];
    return NULL;
}

const char *wj_str(const struct wj_row *row, const char *key)
{
    const struct wj_value *v = wj_get(row, key);

    return v != NULL && v->type == WJ_STR ? v->s : NULL;
}

int64_t wj_int(const struct wj_row *row, const char *key, int64_t def)
{
    const struct wj_value *v = wj_get(row, key);

    return v != NULL && v->type == WJ_NUM ? v->i : def;
}

double wj_num(const struct wj_row *row, const char *key)
{
    const struct wj_value *v = wj_get(row, key);

    return v != NULL && v->type == WJ_NUM ? v->num : NAN;
}

bool wj_bool(const struct wj_row *row, const char *key)
{
    const struct wj_value *v = wj_get(row, key);

    return v != NULL && v->type == WJ_BOOL && v->b;
}
