/* SPDX-License-Identifier: ISC */
/* libFuzzer target: the payload and expectation of a send target. Each
 * value goes through util_hex_decode() directly (with a round trip), and
 * all of them into a [target] section that config_load() reads, whose
 * bytes are then compared with what the value should decode to.
 *
 * Input: byte 0 holds flags (FUZZ_*), the rest is up to three values
 * separated by newlines: payload, expect, payload_size. */
#include <ctype.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"
#include "util.h"

#define FUZZ_PAYLOAD_HEX 0x01 /* payload_hex instead of payload */
#define FUZZ_EXPECT_HEX  0x02 /* expect_hex instead of expect */
#define FUZZ_TCP         0x04 /* protocol = tcp */
#define FUZZ_SIZE        0x08 /* write the payload_size line */
#define FUZZ_NO_EXPECT   0x10 /* leave the expect line out */

static int fuzz_fd = -1;
static char fuzz_path[64];
static FILE *fuzz_devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_fd = memfd_create("netdiag-fuzz-send.ini", MFD_CLOEXEC);
    fuzz_devnull = fopen("/dev/null", "w");
    if (fuzz_fd < 0 || fuzz_devnull == NULL) {
        perror("fuzz_send: setup");
        abort();
    }
    snprintf(fuzz_path, sizeof(fuzz_path), "/proc/self/fd/%d", fuzz_fd);
    return 0;
}

/* util_hex_decode() on its own: at most one byte per two characters, and
 * what it decodes encodes back to hex that decodes to the same bytes. */
static void fuzz_hex_roundtrip(const char *s)
{
    unsigned char *buf = NULL, *again = NULL;
    size_t len = 0, len2 = 0;
    char err[128], *hex;

    if (util_hex_decode(s, &buf, &len, err, sizeof(err)) < 0) {
        FUZZ_CHECK(fuzz_terminated(err, sizeof(err)) && err[0] != '\0');
        return;
    }
    FUZZ_CHECK(buf != NULL && len <= strlen(s) / 2);
    hex = malloc(2 * len + 1);
    FUZZ_CHECK(hex != NULL);
    for (size_t i = 0; i < len; i++)
        snprintf(hex + 2 * i, 3, "%02X", buf[i]);
    hex[2 * len] = '\0';
    FUZZ_CHECK(util_hex_decode(hex, &again, &len2, err, sizeof(err)) == 0);
    FUZZ_CHECK(len2 == len && memcmp(again, buf, len) == 0);
    free(hex);
    free(again);
    free(buf);
}

/* A value inih hands over unchanged apart from the blanks around it: no
 * control bytes, no comment characters. Only for those does the loaded
 * config have a value this target can predict. */
static bool fuzz_plain(const char *v)
{
    for (; *v; v++)
        if (*v < 0x20 || *v > 0x7e || *v == ';' || *v == '#')
            return false;
    return true;
}

static char *fuzz_trim(char *v)
{
    size_t n;

    while (*v == ' ')
        v++;
    n = strlen(v);
    while (n > 0 && v[n - 1] == ' ')
        v[--n] = '\0';
    return v;
}

/* The bytes a value should load as: the text, or its hex decoded; NULL
 * and 0 for an empty value. Returns false when the hex does not decode
 * (then the config must have been refused). */
static bool fuzz_expected(const char *v, bool hex, unsigned char **out, size_t *len)
{
    char err[128];

    *out = NULL;
    *len = 0;
    if (*v == '\0')
        return true;
    if (!hex) {
        *len = strlen(v);
        *out = (unsigned char *)strdup(v);
        FUZZ_CHECK(*out != NULL);
        return true;
    }
    if (util_hex_decode(v, out, len, err, sizeof(err)) < 0)
        return false;
    if (*len == 0) { /* only separators: no bytes, as if empty */
        free(*out);
        *out = NULL;
    }
    return true;
}

/* Compare the loaded target with what its plain values predict. */
static void fuzz_compare(const struct target *t, unsigned flags, char *payload, char *expect,
                         char *size)
{
    unsigned char *want = NULL, *want_expect = NULL;
    size_t want_len = 0, want_expect_len = 0;
    int64_t psize = 0;
    char err[128];

    payload = fuzz_trim(payload);
    expect = fuzz_trim(expect);
    size = fuzz_trim(size);
    FUZZ_CHECK(fuzz_expected(payload, flags & FUZZ_PAYLOAD_HEX, &want, &want_len));
    if (!(flags & FUZZ_NO_EXPECT))
        FUZZ_CHECK(fuzz_expected(expect, flags & FUZZ_EXPECT_HEX, &want_expect, &want_expect_len));
    if ((flags & FUZZ_SIZE) && *size != '\0')
        FUZZ_CHECK(util_parse_int(size, 0, CONFIG_PAYLOAD_MAX, &psize, err, sizeof(err)) == 0);
    FUZZ_CHECK(t->payload_size == psize);

    if (psize > 0) { /* repeated, or zeros when there is no payload */
        FUZZ_CHECK(t->payload_len == (size_t)psize);
        for (size_t i = 0; i < t->payload_len; i++)
            FUZZ_CHECK(t->payload[i] == (want_len > 0 ? want[i % want_len] : 0));
    } else {
        FUZZ_CHECK(t->payload_len == want_len);
        FUZZ_CHECK(want_len == 0 || memcmp(t->payload, want, want_len) == 0);
    }
    FUZZ_CHECK(t->expect_len == want_expect_len);
    FUZZ_CHECK(want_expect_len == 0 || memcmp(t->expect, want_expect, want_expect_len) == 0);
    free(want);
    free(want_expect);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char empty[1];
    char *s, *fields[3] = {empty, empty, empty}, *text = NULL, *p;
    size_t text_len = 0;
    unsigned flags;
    struct config *cfg;
    int nerrors = -1;
    FILE *fp;

    if (size < 1)
        return 0;
    flags = data[0];
    s = fuzz_cstr(data + 1, size - 1);
    p = s;
    for (int i = 0; i < 3 && p != NULL; i++) {
        fields[i] = p;
        p = strchr(p, '\n');
        if (p != NULL)
            *p++ = '\0';
    }
    for (int i = 0; i < 3; i++)
        fuzz_hex_roundtrip(fields[i]);

    fp = open_memstream(&text, &text_len);
    FUZZ_CHECK(fp != NULL);
    fprintf(fp,
            "[daemon]\ndatabase = /nonexistent/netdiag-fuzz.db\n\n"
            "[target fuzz]\nkind = send\nprotocol = %s\nhost = 127.0.0.1\nport = 9\n"
            "%s = %s\n",
            flags & FUZZ_TCP ? "tcp" : "udp", flags & FUZZ_PAYLOAD_HEX ? "payload_hex" : "payload",
            fields[0]);
    if (!(flags & FUZZ_NO_EXPECT))
        fprintf(fp, "%s = %s\n", flags & FUZZ_EXPECT_HEX ? "expect_hex" : "expect", fields[1]);
    if (flags & FUZZ_SIZE)
        fprintf(fp, "payload_size = %s\n", fields[2]);
    FUZZ_CHECK(fclose(fp) == 0);
    if (ftruncate(fuzz_fd, 0) < 0 || pwrite(fuzz_fd, text, text_len, 0) != (ssize_t)text_len)
        abort();
    free(text);

    cfg = config_load(fuzz_path, fuzz_devnull, &nerrors);
    FUZZ_CHECK((cfg == NULL) == (nerrors > 0));
    if (cfg != NULL) {
        FUZZ_CHECK(cfg->ntargets == 1);
        if (fuzz_plain(fields[0]) && fuzz_plain(fields[1]) && fuzz_plain(fields[2]))
            fuzz_compare(&cfg->targets[0], flags, fields[0], fields[1], fields[2]);
        config_free(cfg);
    }
    free(s);
    return 0;
}
