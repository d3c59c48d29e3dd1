/* SPDX-License-Identifier: ISC */
/* One JSON string escaper for daemon and client. It writes valid JSON
 * whatever the input: the text comes from peers, a config, a hostname or
 * a database someone else wrote. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "json.h"

size_t json_utf8_len(const unsigned char *s)
{
    size_t n;
    uint32_t cp;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        n = 2, cp = s[0] & 0x1fu;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        n = 3, cp = s[0] & 0x0fu;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        n = 4, cp = s[0] & 0x07u;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3fu);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (n == 4 && cp < 0x10000) ||
        cp > 0x10ffff)
        return 0;
    return n;
}

void json_write(const char *s, json_put_fn put, void *arg)
{
    const unsigned char *p = (const unsigned char *)s;
    char esc[8];

    put("\"", 1, arg);
    while (*p) {
        const unsigned char *run = p;
        size_t n;
        /* printable ASCII goes out as it is, a run at a time */
        while (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\')
            p++;
        if (p > run)
            put((const char *)run, (size_t)(p - run), arg);
        if (*p == '\0')
            break;
        n = json_utf8_len(p);
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p++;
            put(esc, 2, arg);
        } else if (*p < 0x20 || *p == 0x7f) {
            put(esc, (size_t)snprintf(esc, sizeof(esc), "\\u%04x", *p++), arg);
        } else if (n == 0) {
            put("\\ufffd", 6, arg);
            p++;
        } else if (n == 2 && p[0] == 0xc2 && p[1] < 0xa0) { /* C1 controls, U+0080-009F */
            put(esc, (size_t)snprintf(esc, sizeof(esc), "\\u%04x", p[1]), arg);
            p += 2;
        } else if (n == 3 && p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9)) {
            put(esc, (size_t)snprintf(esc, sizeof(esc), "\\u%04x", 0x2000 | (p[2] - 0x80)), arg);
            p += 3;
        } else {
            put((const char *)p, n, arg);
            p += n;
        }
    }
    put("\"", 1, arg);
}

/* json_string()'s sink: pieces while they fit, keeping room for the
 * closing quote and the NUL; after the first that does not, none. */
struct json_buf {
    char *out;
    size_t len, used;
    int full;
};

static void json_buf_put(const char *p, size_t n, void *arg)
{
    struct json_buf *b = arg;

    if (b->full || b->used + n + 2 > b->len) {
        b->full = 1;
        return;
    }
    memcpy(b->out + b->used, p, n);
    b->used += n;
}

void json_string(char *out, size_t outlen, const char *s)
{
    struct json_buf b = {out, outlen, 0, 0};

    if (outlen < 3) {
        if (outlen > 0)
            out[0] = '\0';
        return;
    }
    json_write(s, json_buf_put, &b);
    if (b.full) /* the closing quote was refused with the rest */
        out[b.used++] = '"';
    out[b.used] = '\0';
}
