/* SPDX-License-Identifier: ISC */
/* Unit tests for the parts of `netdiag web` that stand alone: SHA-256
 * (the CSP hashes), HTML and URL escaping of hostile text, and reading
 * back the JSON the commands write (client/sha256.c, web_html.c,
 * web_json.c, included to reach their statics). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "util.h"

#include "../../client/sha256.c"
#include "../../client/web_html.c"
#include "../../client/web_json.c"

static void hex(const uint8_t *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

/* FIPS 180-4 test vectors and the lengths around the padding's edges
 * (55/56 bytes: one block or two), checked against Python's hashlib. */
static void test_sha256(void)
{
    static const struct {
        size_t n;
        const char *hash;
    } as[] = {
        {0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {1, "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"},
        {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
        {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
        {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
        {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
        {65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"},
        {119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
        {120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"},
        {128, "6836cf13bac400e9105071cd6af47084dfacad4e5e302c94bfed24e013afb73e"},
        {1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
    };
    char *a = malloc(1000000), out[65];
    uint8_t h[SHA256_LEN];

    UNIT_CHECK(a != NULL);
    if (a == NULL)
        return;
    memset(a, 'a', 1000000);
    for (size_t i = 0; i < ND_ARRAY_LEN(as); i++) {
        sha256(a, as[i].n, h);
        hex(h, sizeof(h), out);
        UNIT_EQ_STR(out, as[i].hash);
    }
    sha256("abc", 3, h);
    hex(h, sizeof(h), out);
    UNIT_EQ_STR(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    free(a);
}

/* The CSP names the style's and the script's hashes, and nothing lets
 * other script in. */
static void test_csp(void)
{
    const char *csp = html_csp();
    uint8_t h[SHA256_LEN];
    char b64[64], want[96];

    sha256(html_script, sizeof(html_script) - 1, h);
    html_base64(h, sizeof(h), b64);
    UNIT_EQ_INT(strlen(b64), 44);
    snprintf(want, sizeof(want), "script-src 'sha256-%s';", b64);
    UNIT_CHECK(strstr(csp, want) != NULL);
    UNIT_CHECK(strstr(csp, "default-src 'none'") != NULL);
    UNIT_CHECK(strstr(csp, "unsafe") == NULL);
    UNIT_CHECK(strstr(csp, "frame-ancestors 'none'") != NULL);
    html_base64((const unsigned char *)"ab", 2, b64);
    UNIT_EQ_STR(b64, "YWI=");
    html_base64((const unsigned char *)"a", 1, b64);
    UNIT_EQ_STR(b64, "YQ==");
}

static char *html_of(const char *s)
{
    static char buf[4096];
    FILE *fp;

    memset(buf, 0, sizeof(buf));
    fp = fmemopen(buf, sizeof(buf), "w");

    html_text(fp, s);
    fclose(fp);
    return buf;
}

/* Stored text is text: markup, quotes for attributes, control bytes,
 * broken UTF-8 and C1 controls never reach the page as themselves. */
static void test_html_text(void)
{
    UNIT_EQ_STR(html_of("<script>alert('x')</script>"),
                "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;");
    UNIT_EQ_STR(html_of("a&b \"q\" <img src=x onerror=alert(1)>"),
                "a&amp;b &quot;q&quot; &lt;img src=x onerror=alert(1)&gt;");
    UNIT_EQ_STR(html_of("tab\tnl\nesc\x1b"
                        "del\x7f"),
                "tab\tnl\nesc\xef\xbf\xbd"
                "del\xef\xbf\xbd");
    UNIT_EQ_STR(html_of("bad \xff\xfe utf8 \xc3"),
                "bad \xef\xbf\xbd\xef\xbf\xbd utf8 \xef\xbf\xbd");
    UNIT_EQ_STR(html_of("c1 \xc2\x85 end"), "c1 \xef\xbf\xbd end");
    UNIT_EQ_STR(html_of("caf\xc3\xa9 \xe2\x9c\x94"), "caf\xc3\xa9 \xe2\x9c\x94");
    UNIT_EQ_STR(html_of(""), "");
}

static void test_url(void)
{
    static char buf[256];
    char out[64];
    FILE *fp = fmemopen(buf, sizeof(buf), "w");

    html_url(fp, "web 1/<x>?&#%");
    fclose(fp);
    UNIT_EQ_STR(buf, "web%201%2F%3Cx%3E%3F%26%23%25");
    UNIT_EQ_INT(html_url_decode("web%201%2F%3Cx%3E", 17, false, out, sizeof(out)), 0);
    UNIT_EQ_STR(out, "web 1/<x>");
    UNIT_EQ_INT(html_url_decode("a+b", 3, true, out, sizeof(out)), 0);
    UNIT_EQ_STR(out, "a b");
    UNIT_EQ_INT(html_url_decode("a+b", 3, false, out, sizeof(out)), 0);
    UNIT_EQ_STR(out, "a+b");
    UNIT_EQ_INT(html_url_decode("a%00b", 5, false, out, sizeof(out)), -1); /* no NUL inside */
    UNIT_EQ_INT(html_url_decode("a%zz", 4, false, out, sizeof(out)), -1);
    UNIT_EQ_INT(html_url_decode("a%4", 3, false, out, sizeof(out)), -1);
    UNIT_EQ_INT(html_url_decode("abcdef", 6, false, out, 4), -1); /* no room */
}

struct rows {
    int n;
    char text[8][128];
};

static int rows_cb(void *arg, const struct wj_row *r)
{
    struct rows *rs = arg;
    const struct wj_value *l = wj_get(r, "list");

    if (rs->n < 8)
        snprintf(rs->text[rs->n], sizeof(rs->text[0]), "%s|%lld|%g|%d|%s|%zu:%s",
                 wj_str(r, "s") ? wj_str(r, "s") : "(null)", (long long)wj_int(r, "i", -7),
                 wj_num(r, "d"), wj_bool(r, "b"), wj_get(r, "z") ? "z" : "-",
                 l && l->type == WJ_LIST ? l->nitems : 0,
                 l && l->type == WJ_LIST && l->nitems > 1 ? l->items[1] : "");
    rs->n++;
    return 0;
}

static int json_rows(const char *text, struct rows *rs)
{
    char *copy = strdup(text), err[128];
    int rc;

    memset(rs, 0, sizeof(*rs));
    rc = wj_rows(copy, strlen(copy), rows_cb, rs, err, sizeof(err));
    free(copy);
    return rc;
}

/* What output.c writes reads back, escapes decoded; anything else is an
 * error, never a crash or a read past the end. */
static void test_json(void)
{
    struct rows rs;

    UNIT_EQ_INT(json_rows("[\n{\"s\":\"a\\\"b\\\\c\\n\\u00e9\\ud83d\\ude00<\",\"i\":"
                          "9007199254740993,\"d\":0.25,\"b\":true,\"z\":null,"
                          "\"list\":[\"x\",\"y\\u0041\"]},\n{\"s\":null,\"i\":-3}\n]\n",
                          &rs),
                0);
    UNIT_EQ_INT(rs.n, 2);
    UNIT_EQ_STR(rs.text[0], "a\"b\\c\n\xc3\xa9\xf0\x9f\x98\x80<|9007199254740993|0.25|1|z|2:yA");
    UNIT_EQ_STR(rs.text[1], "(null)|-3|nan|0|-|0:");
    /* a lone surrogate and a NUL escape: U+FFFD, the string stays whole */
    UNIT_EQ_INT(json_rows("[{\"s\":\"x\\ud800y\\u0000z\"}]", &rs), 0);
    UNIT_EQ_STR(rs.text[0], "x\xef\xbf\xbdy\xef\xbf\xbdz|-7|nan|0|-|0:");
    /* one object a line (a streamed output), and the empty array */
    UNIT_EQ_INT(json_rows("{\"i\":1}\n{\"i\":2}\n", &rs), 0);
    UNIT_EQ_INT(rs.n, 2);
    UNIT_EQ_INT(json_rows("[]\n", &rs), 0);
    UNIT_EQ_INT(rs.n, 0);
    /* broken: each an error */
    UNIT_EQ_INT(json_rows("[{\"s\":\"abc}]", &rs), -1);
    UNIT_EQ_INT(json_rows("[{\"s\":\"a\x01\"}]", &rs), -1);
    UNIT_EQ_INT(json_rows("[{\"s\":\"a\\q\"}]", &rs), -1);
    UNIT_EQ_INT(json_rows("[{\"s\":\"a\\u12\"}]", &rs), -1);
    UNIT_EQ_INT(json_rows("[{\"s\":1}] x", &rs), -1);
    UNIT_EQ_INT(json_rows("[{\"s\" 1}]", &rs), -1);
    UNIT_EQ_INT(json_rows("[{\"s\":1}", &rs), -1);
    UNIT_EQ_INT(json_rows("[{\"s\":\"\xff\"}]", &rs), -1);
    UNIT_EQ_INT(json_rows("[{\"s\":tru}]", &rs), -1);
    UNIT_EQ_INT(json_rows("[{\"s\":-}]", &rs), -1);
    UNIT_EQ_INT(json_rows("[{\"list\":[1]}]", &rs), -1);
    UNIT_EQ_INT(json_rows("\"", &rs), -1);
}

/* More keys than a row holds is an error, not an overflow. */
static void test_json_many_keys(void)
{
    char text[8192];
    size_t o = 0;
    struct rows rs;

    o += (size_t)snprintf(text + o, sizeof(text) - o, "[{");
    for (int i = 0; i < WJ_MAX_FIELDS + 1; i++)
        o += (size_t)snprintf(text + o, sizeof(text) - o, "%s\"k%d\":%d", i ? "," : "", i, i);
    snprintf(text + o, sizeof(text) - o, "}]");
    UNIT_EQ_INT(json_rows(text, &rs), -1);
}

int main(void)
{
    UNIT_RUN(test_sha256);
    UNIT_RUN(test_csp);
    UNIT_RUN(test_html_text);
    UNIT_RUN(test_url);
    UNIT_RUN(test_json);
    UNIT_RUN(test_json_many_keys);
    return UNIT_END("test_web");
}
