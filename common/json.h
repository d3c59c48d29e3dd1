/* SPDX-License-Identifier: ISC */
/* JSON strings for text someone else wrote: the one escaper of the daemon
 * (--once lines, Alertmanager posts) and the client (--format json), and
 * the UTF-8 rule it follows (owned by json.c). */
#ifndef NETDIAG_JSON_H
#define NETDIAG_JSON_H

#include <stddef.h>

/* Length of the valid UTF-8 sequence at s (1 to 4), 0 when the bytes there
 * are not one (overlong forms, surrogates, code points over U+10FFFF). */
size_t json_utf8_len(const unsigned char *s);

/* Where json_write() puts its text: n bytes at p, whole pieces only (a
 * character or one escape, or a quote), never NUL-terminated. */
typedef void (*json_put_fn)(const char *p, size_t n, void *arg);

/* s as a JSON string, quotes included, that is always valid JSON in valid
 * UTF-8: quote and backslash escaped; control characters (C0, DEL, C1) and
 * U+2028, U+2029 (line ends to JavaScript) as \uXXXX; every byte that
 * does not begin a valid UTF-8 sequence as \ufffd; the rest as it is. */
void json_write(const char *s, json_put_fn put, void *arg);

/* The same into out (outlen bytes, NUL-terminated): when s does not fit,
 * it is cut between two characters, so the result is still valid JSON. */
void json_string(char *out, size_t outlen, const char *s);

#endif
