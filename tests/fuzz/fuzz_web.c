/* SPDX-License-Identifier: ISC */
/* libFuzzer target: what netdiag web reads from a peer and from the
 * database, each given the whole input: the shared HTTP server's request
 * head parser (common/http_server.c, included to reach it), the reader of
 * the commands' JSON (client/web_json.c), and the HTML and URL escaping
 * every stored text goes through (client/web_html.c). */
#include <stdbool.h>

#include "fuzz.h"

#include "../../client/sha256.c"
#include "../../client/web_html.c"
#include "../../client/web_json.c"
#include "../../common/http_server.c"

/* A request head: a status the server knows, and a path and query inside
 * the bytes read that starts with '/' when it is passed on. */
static void fuzz_head(const uint8_t *data, size_t size)
{
    static struct hs_conn c;
    struct http_request req;
    size_t end;
    int status;

    memset(&c, 0, sizeof(c));
    c.len = size < sizeof(c.req) ? size : sizeof(c.req);
    memcpy(c.req, data, c.len);
    while (c.start < c.len && (c.req[c.start] == '\r' || c.req[c.start] == '\n'))
        c.start++;
    end = hs_head_end(&c, c.start);
    if (end == 0)
        return;
    FUZZ_CHECK(end <= c.len);
    status = hs_parse(&c, end, &req);
    FUZZ_CHECK(status == 200 || status == 400 || status == 404 || status == 405 || status == 431 ||
               status == 505);
    if (status != 200)
        return;
    FUZZ_CHECK(req.path >= c.req && req.path + req.path_len <= c.req + end);
    FUZZ_CHECK(req.path_len > 0 && req.path[0] == '/');
    FUZZ_CHECK(memchr(req.path, '?', req.path_len) == NULL);
    if (req.query != NULL)
        FUZZ_CHECK(req.query == req.path + req.path_len + 1 &&
                   req.query + req.query_len <= c.req + end);
}

static bool fuzz_utf8(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t n = json_utf8_len(p);
        if (n == 0)
            return false;
        p += n;
    }
    return true;
}

static int fuzz_row(void *arg, const struct wj_row *r)
{
    (void)arg;
    FUZZ_CHECK(r->n <= WJ_MAX_FIELDS);
    for (size_t i = 0; i < r->n; i++) {
        FUZZ_CHECK(fuzz_utf8(r->keys[i]));
        if (r->vals[i].type == WJ_STR)
            FUZZ_CHECK(fuzz_utf8(r->vals[i].s));
        if (r->vals[i].type == WJ_LIST) {
            FUZZ_CHECK(r->vals[i].nitems <= WJ_MAX_ITEMS);
            for (size_t k = 0; k < r->vals[i].nitems; k++)
                FUZZ_CHECK(fuzz_utf8(r->vals[i].items[k]));
        }
    }
    return 0;
}

/* JSON from a command: rows whose strings are valid UTF-8, or an error
 * with a message. */
static void fuzz_json(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1), err[160];

    if (s == NULL)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    err[0] = '\0';
    if (wj_rows(s, size, fuzz_row, NULL, err, sizeof(err)) < 0)
        FUZZ_CHECK(err[0] != '\0');
    free(s);
}

/* Escaped text holds no markup, no control byte but tab and newline, and
 * is valid UTF-8; a URL-encoded text decodes back to itself. */
static void fuzz_text(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstr(data, size), *out = NULL, *back;
    size_t len = 0;
    FILE *fp = open_memstream(&out, &len);

    if (fp == NULL)
        abort();
    html_text(fp, s);
    fclose(fp);
    FUZZ_CHECK(strpbrk(out, "<>\"'") == NULL);
    for (const unsigned char *p = (const unsigned char *)out; *p; p++)
        FUZZ_CHECK(*p >= 0x20 || *p == '\t' || *p == '\n');
    FUZZ_CHECK(fuzz_utf8(out));
    free(out);
    fp = open_memstream(&out, &len);
    if (fp == NULL)
        abort();
    html_url(fp, s);
    fclose(fp);
    back = malloc(strlen(s) + 1);
    if (back == NULL)
        abort();
    FUZZ_CHECK(html_url_decode(out, len, false, back, strlen(s) + 1) == 0);
    FUZZ_CHECK(strcmp(back, s) == 0);
    /* decoding the input itself: a NUL never comes out inside */
    if (html_url_decode(s, strlen(s), true, back, strlen(s) + 1) == 0)
        FUZZ_CHECK(strlen(back) <= strlen(s));
    free(back);
    free(out);
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_head(data, size);
    fuzz_json(data, size);
    fuzz_text(data, size);
    return 0;
}
