/* SPDX-License-Identifier: ISC */
/* HTML for the web view: the escaping every stored text goes through, URL
 * encoding both ways, times, and the frame of every page with its one
 * style sheet and one script. The Content-Security-Policy allows those two
 * by their SHA-256 (computed once, from the very strings sent), and
 * nothing else: a target name holding <script> is text, and a script that
 * got into a page some other way would not run. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "sha256.h"
#include "timefmt.h"
#include "web_html.h"

/* Colours: the Okabe-Ito palette (Okabe and Ito, "Color Universal
 * Design", 2008), told apart with every common colour-vision deficiency:
 * ok blue, failing vermilion, mixed orange; and each state has its glyph
 * and its word as well, so colour is never the only sign. Light and dark
 * follow prefers-color-scheme. Narrow screens (a phone, 390 px) get
 * tables as cards: one line per cell, its column's name before it. */
static const char html_style[] =
    ":root{color-scheme:light dark;--bg:#fff;--fg:#1d1f21;--mute:#5c6166;--line:#dcdfe3;"
    "--card:#f4f6f8;--ok:#0072b2;--bad:#c74b00;--mix:#a66f00;--link:#0b57d0;--bar:#8a9199}"
    "@media (prefers-color-scheme:dark){:root{--bg:#111315;--fg:#e6e8ea;--mute:#a3a9af;"
    "--line:#30353a;--card:#1b1e22;--ok:#56b4e9;--bad:#ff8a3d;--mix:#e6b422;--link:#8ab4f8;"
    "--bar:#6c737a}}"
    "*{box-sizing:border-box}"
    "body{margin:0;background:var(--bg);color:var(--fg);"
    "font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'Noto Sans',sans-serif}"
    "a{color:var(--link)}"
    "header{border-bottom:1px solid var(--line);background:var(--card)}"
    "header nav{max-width:1400px;margin:auto;padding:10px 16px;display:flex;flex-wrap:wrap;"
    "gap:4px 18px;align-items:baseline}"
    "header b{margin-right:8px}"
    "header a{text-decoration:none}header a.on{font-weight:700;text-decoration:underline}"
    "main{max-width:1400px;margin:auto;padding:8px 16px 24px}"
    "h1{font-size:1.35em;margin:14px 0 6px;overflow-wrap:anywhere}"
    "h2{font-size:1.1em;margin:22px 0 6px}"
    "p{margin:6px 0}"
    ".mute,footer{color:var(--mute)}"
    "footer{max-width:1400px;margin:auto;padding:12px 16px 28px;font-size:.85em;"
    "border-top:1px solid var(--line)}"
    ".banner{border:2px solid var(--bad);border-left-width:8px;background:var(--card);"
    "padding:8px 12px;margin:12px 0;font-weight:600}"
    ".note{border-left:4px solid var(--mix);background:var(--card);padding:6px 10px;"
    "margin:8px 0}"
    ".wrap{overflow-x:auto}"
    "table{border-collapse:collapse;width:100%}"
    "th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);"
    "vertical-align:top}"
    "th{font-size:.85em;color:var(--mute);font-weight:600;white-space:nowrap}"
    "td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}"
    "td.t{white-space:nowrap}"
    "td.d{overflow-wrap:anywhere;min-width:12em}"
    ".name{font-weight:600;overflow-wrap:anywhere}"
    ".st{font-weight:700;white-space:nowrap}"
    ".st-failing,.st-firing{color:var(--bad)}.st-mixed,.st-unknown{color:var(--mix)}"
    ".st-ok,.st-resolved{color:var(--ok)}.st-none,.st-retired{color:var(--mute)}"
    "tr.failing td:first-child,tr.firing td:first-child{box-shadow:inset 4px 0 var(--bad)}"
    "tr.mixed td:first-child,tr.unknown td:first-child{box-shadow:inset 4px 0 var(--mix)}"
    "svg{display:block}"
    "svg.spark{width:120px;height:26px}"
    "svg.chart{width:100%;height:auto;max-height:320px}"
    ".fail{fill:var(--bad)}.zero{fill:var(--line)}.axis{stroke:var(--line)}.part{opacity:.5}"
    ".lbl{fill:var(--mute);font-size:13px}"
    ".band{fill:var(--ok);opacity:.28}.med{fill:none;stroke:var(--ok);stroke-width:2}"
    "svg.spark .med{stroke-width:1}.hov{fill:transparent}.nolat{stroke:var(--bad);"
    "stroke-width:2}.loss.l1{fill:var(--mix)}.loss.l2{fill:#cc79a7}.loss.l3{fill:var(--bad)}"
    ".kband{background:var(--ok);opacity:.4}.kmed{border-top:2px solid var(--ok);"
    "height:0 !important;vertical-align:4px !important}.kloss{background:var(--bad)}"
    ".c0{fill:#d55e00}.c1{fill:#0072b2}.c2{fill:#e69f00}.c3{fill:#009e73}.c4{fill:#cc79a7}"
    ".c5{fill:#56b4e9}.c6{fill:#f0e442}.c7{fill:var(--bar)}"
    ".key{display:inline-block;width:.9em;height:.9em;vertical-align:-1px;margin-right:4px}"
    ".k0{background:#d55e00}.k1{background:#0072b2}.k2{background:#e69f00}"
    ".k3{background:#009e73}.k4{background:#cc79a7}.k5{background:#56b4e9}"
    ".k6{background:#f0e442}.k7{background:var(--bar)}"
    ".legend{list-style:none;padding:0;margin:6px 0;display:flex;flex-wrap:wrap;gap:4px 16px}"
    ".ranges a{margin-right:10px}.ranges a.on{font-weight:700}"
    ".facts{display:flex;flex-wrap:wrap;gap:6px 28px;margin:8px 0}"
    ".facts div span{display:block;font-size:.8em;color:var(--mute)}"
    ".todo{border:1px dashed var(--line);padding:10px;color:var(--mute);margin:8px 0}"
    "code{font-size:.92em}"
    "dl.codes dt{margin-top:14px;font-weight:700}dl.codes dd{margin:2px 0 0 0}"
    "@media (max-width:700px){"
    "main,header nav,footer{padding-left:10px;padding-right:10px}"
    "table.cards thead{display:none}"
    "table.cards tr{display:block;border-bottom:1px solid var(--line);padding:6px 0}"
    "table.cards td{display:block;position:relative;border:0;padding:1px 4px 1px 8.4em;"
    "white-space:normal;text-align:left;min-height:1.5em}"
    "table.cards td::before{content:attr(data-l);position:absolute;left:4px;width:7.8em;"
    "color:var(--mute);font-size:.85em;line-height:1.7}"
    "table.cards td.n{text-align:left}"
    "table.cards td:first-child{box-shadow:none}"
    "tr.failing,tr.firing{box-shadow:inset 4px 0 var(--bad)}"
    "tr.mixed,tr.unknown{box-shadow:inset 4px 0 var(--mix)}}";

/* The whole script: times in the viewer's zone (their UTC text kept as the
 * hover title), the zone named in the footer, and a reload every 30 s
 * while the page is seen. Without it the page says UTC and stays still. */
static const char html_script[] =
    "(function(){"
    "var f={year:'numeric',month:'2-digit',day:'2-digit',hour:'2-digit',minute:'2-digit',"
    "second:'2-digit'},s={month:'2-digit',day:'2-digit',hour:'2-digit',minute:'2-digit'};"
    "document.querySelectorAll('time[datetime]').forEach(function(t){"
    "var d=new Date(t.getAttribute('datetime'));if(isNaN(d))return;"
    "t.title=t.textContent;t.textContent=d.toLocaleString([],t.className=='s'?s:f);});"
    "var z=document.getElementById('tz');"
    "if(z)z.textContent=(Intl.DateTimeFormat().resolvedOptions().timeZone||'local time')"
    "+' (UTC on hover)';"
    "setInterval(function(){if(!document.hidden)location.reload();},30000);"
    "})();";

static char html_csp_text[512];

static void html_base64(const unsigned char *in, size_t n, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;

    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0) |
                     (i + 2 < n ? in[i + 2] : 0);
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = '=';
        out[o++] = '=';
        if (i + 1 < n)
            out[o - 2] = tab[(v >> 6) & 63];
        if (i + 2 < n)
            out[o - 1] = tab[v & 63];
    }
    out[o] = '\0';
}

const char *html_csp(void)
{
    unsigned char h[SHA256_LEN];
    char style[64], script[64];

    if (html_csp_text[0] != '\0')
        return html_csp_text;
    sha256(html_style, sizeof(html_style) - 1, h);
    html_base64(h, sizeof(h), style);
    sha256(html_script, sizeof(html_script) - 1, h);
    html_base64(h, sizeof(h), script);
    snprintf(html_csp_text, sizeof(html_csp_text),
             "default-src 'none'; style-src 'sha256-%s'; script-src 'sha256-%s'; img-src data:; "
             "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
             style, script);
    return html_csp_text;
}

void html_text(FILE *fp, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    if (s == NULL)
        return;
    while (*p) {
        size_t n = json_utf8_len(p);
        if (n == 0 || (*p < 0x20 && *p != '\t' && *p != '\n') || *p == 0x7f ||
            (n == 2 && p[0] == 0xc2 && p[1] < 0xa0)) {
            fputs("\xef\xbf\xbd", fp); /* U+FFFD: nothing unseen reaches the page */
            p += n > 0 ? n : 1;
            continue;
        }
        switch (*p) {
        case '&':
            fputs("&amp;", fp);
            break;
        case '<':
            fputs("&lt;", fp);
            break;
        case '>':
            fputs("&gt;", fp);
            break;
        case '"':
            fputs("&quot;", fp);
            break;
        case '\'':
            fputs("&#39;", fp);
            break;
        default:
            fwrite(p, 1, n, fp);
            break;
        }
        p += n;
    }
}

void html_url(FILE *fp, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~')
            fputc(*p, fp);
        else
            fprintf(fp, "%%%02X", *p);
    }
}

static int html_hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int html_url_decode(const char *s, size_t n, bool plus, char *out, size_t outlen)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            int hi = i + 2 < n ? html_hex(s[i + 1]) : -1, lo = i + 2 < n ? html_hex(s[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return -1;
            c = hi * 16 + lo;
            i += 2;
        } else if (c == '+' && plus) {
            c = ' ';
        }
        if (c == 0 || o + 1 >= outlen)
            return -1;
        out[o++] = (char)c;
    }
    if (outlen == 0)
        return -1;
    out[o] = '\0';
    return 0;
}

void html_time(FILE *fp, int64_t ms, enum html_time_style style)
{
    time_t t;
    struct tm tm;
    char iso[40], shown[40];

    if (ms < 0) {
        fputs("-", fp);
        return;
    }
    t = (time_t)(ms / 1000);
    if (gmtime_r(&t, &tm) == NULL) {
        fputs("-", fp);
        return;
    }
    strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%S", &tm);
    if (style == HTML_TIME_SHORT)
        strftime(shown, sizeof(shown), "%m-%d %H:%M", &tm);
    else
        strftime(shown, sizeof(shown), "%Y-%m-%d %H:%M:%S", &tm);
    fprintf(fp, "<time datetime=\"%s.%03dZ\"%s>%s UTC</time>", iso, (int)(ms % 1000),
            style == HTML_TIME_SHORT ? " class=\"s\"" : "", shown);
}

void html_duration(FILE *fp, int64_t ms)
{
    char buf[32];

    timefmt_duration(ms < 0 ? 0 : ms, TIMEFMT_AGO, buf, sizeof(buf));
    html_text(fp, buf);
}

void html_page_start(FILE *fp, const char *title, const char *active)
{
    static const struct {
        const char *href, *label;
    } nav[] = {{"/", "Overview"}, {"/alerts", "Alerts"}, {"/codes", "Codes"}};

    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
          "<meta name=\"color-scheme\" content=\"light dark\">"
          "<meta name=\"referrer\" content=\"no-referrer\">"
          "<link rel=\"icon\" href=\"data:,\"><title>",
          fp);
    html_text(fp, title);
    fputs(" \xe2\x80\x94 netdiag</title><style>", fp);
    fputs(html_style, fp);
    fputs("</style></head><body><header><nav><b>netdiag</b>", fp);
    for (size_t i = 0; i < sizeof(nav) / sizeof(nav[0]); i++)
        fprintf(fp, "<a href=\"%s\"%s>%s</a>", nav[i].href,
                active != NULL && strcmp(active, nav[i].href) == 0 ? " class=\"on\"" : "",
                nav[i].label);
    fputs("<a href=\"/api/\">JSON API</a></nav></header><main>", fp);
}

void html_page_end(FILE *fp, const char *db, int64_t now_ms)
{
    fputs("</main><footer>", fp);
    fputs("Rendered ", fp);
    html_time(fp, now_ms, HTML_TIME_FULL);
    fputs(" from ", fp);
    html_text(fp, db);
    fputs(" (read-only) by netdiag " NETDIAG_VERSION ". Times in <span id=\"tz\">UTC</span>.", fp);
    fputs("</footer><script>", fp);
    fputs(html_script, fp);
    fputs("</script></body></html>\n", fp);
}
