/* SPDX-License-Identifier: ISC */
/* libFuzzer target: the strict text parsers of durations, numbers and
 * address literals in util.c (config values) and the client's --since /
 * --until times in client/timearg.c, each given the input as a string,
 * with round trips where a parser has an inverse. */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <time.h>

#include "fuzz.h"
#include "timearg.h"
#include "util.h"

/* 2026-11-24T10:00:00Z: "now" for timearg, fixed so a run is repeatable. */
#define FUZZ_NOW_MS 1795514400000LL
#define FUZZ_DAY_MS 86400000LL

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* A zone with summer time, spelled as a POSIX rule (no tzdata needed),
     * so mktime()'s gaps and folds are reachable from local times. */
    setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", 1);
    tzset();
    return 0;
}

static void fuzz_duration(const char *s)
{
    char err[128];
    int64_t ms = -1;

    if (util_parse_duration_ms(s, &ms, err, sizeof(err)) < 0) {
        FUZZ_CHECK(fuzz_terminated(err, sizeof(err)) && err[0] != '\0');
        return;
    }
    /* util.c keeps the value small enough for µs arithmetic */
    FUZZ_CHECK(ms >= 0 && ms <= INT64_MAX / 1000);
    FUZZ_CHECK(isdigit((unsigned char)s[0]));
}

static void fuzz_int(const char *s)
{
    static const int64_t ranges[][2] = {{0, 65535}, {1, 1000000}, {INT64_MIN, INT64_MAX}};
    char err[128];

    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
        int64_t v = 0;
        if (util_parse_int(s, ranges[i][0], ranges[i][1], &v, err, sizeof(err)) < 0) {
            FUZZ_CHECK(fuzz_terminated(err, sizeof(err)) && err[0] != '\0');
            continue;
        }
        FUZZ_CHECK(v >= ranges[i][0] && v <= ranges[i][1]);
        FUZZ_CHECK(v == strtoll(s, NULL, 10));
    }
}

/* Parse with each port rule; what parses prints back ("addr:port") and
 * parses again to the same address. */
static void fuzz_sockaddr(const char *s)
{
    static const int ports[] = {-1, 0, 53};
    char err[128], text[INET6_ADDRSTRLEN + 16];

    for (size_t i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
        struct sockaddr_storage ss, again;
        socklen_t len = 0, len2 = 0;

        if (util_parse_sockaddr(s, ports[i], &ss, &len, err, sizeof(err)) < 0) {
            FUZZ_CHECK(fuzz_terminated(err, sizeof(err)) && err[0] != '\0');
            continue;
        }
        FUZZ_CHECK((ss.ss_family == AF_INET && len == sizeof(struct sockaddr_in)) ||
                   (ss.ss_family == AF_INET6 && len == sizeof(struct sockaddr_in6)));
        util_format_sockaddr((const struct sockaddr *)&ss, text, sizeof(text));
        FUZZ_CHECK(text[0] != '\0');
        if (ports[i] == 0) /* no port allowed: port 0, which -1 would refuse */
            continue;
        FUZZ_CHECK(util_parse_sockaddr(text, -1, &again, &len2, err, sizeof(err)) == 0);
        FUZZ_CHECK(len2 == len && memcmp(&again, &ss, len) == 0);
    }
}

static void fuzz_timearg(const char *s)
{
    char err[256];

    for (int utc = 0; utc <= 1; utc++) {
        int64_t t = 0, ago = 0;
        char derr[128];
        if (timearg_parse(s, FUZZ_NOW_MS, utc, &t, err, sizeof(err)) < 0) {
            FUZZ_CHECK(fuzz_terminated(err, sizeof(err)) && err[0] != '\0');
            continue;
        }
        if (strcmp(s, "now") == 0)
            FUZZ_CHECK(t == FUZZ_NOW_MS);
        /* a duration means that long before now */
        if (util_parse_duration_ms(s, &ago, derr, sizeof(derr)) == 0)
            FUZZ_CHECK(t == FUZZ_NOW_MS - ago);
        /* ISO times: years 1970 to 9999, zone offsets under a day */
        if (isdigit((unsigned char)s[0]) && strlen(s) >= 5 && s[4] == '-')
            FUZZ_CHECK(t > -FUZZ_DAY_MS && t < 253402300800000LL + 2 * FUZZ_DAY_MS);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstr(data, size);

    fuzz_duration(s);
    fuzz_int(s);
    fuzz_sockaddr(s);
    fuzz_timearg(s);
    free(s);
    return 0;
}
