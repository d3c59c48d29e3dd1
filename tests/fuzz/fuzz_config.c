/* SPDX-License-Identifier: ISC */
/* libFuzzer target: a whole netdiag.ini through config_load(), the way the
 * daemon reads it (from a file, via its own line reader and inih, with its
 * include directory or list file), then the promises a loaded config makes
 * checked on every target. */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"

/* config_load() takes a path. The input is written three times into a
 * private directory: as the main file, as the list file "list.targets" and
 * as "inc.d/10.ini", so an input saying `include = list.targets` or
 * `include = inc.d` also drives the include parsers with fuzzed bytes
 * (config.h needs no in-memory entry point for this). */
#define FUZZ_DIR_PREFIX "/tmp/netdiag-fuzz-config."

static char fuzz_dir[64], fuzz_main[96], fuzz_list[96], fuzz_inc[96], fuzz_incdir[96];
static FILE *fuzz_devnull;

static void fuzz_remove_dir(const char *dir)
{
    static const char *const files[] = {"netdiag.ini", "list.targets", "inc.d/10.ini", "inc.d"};
    char path[128];

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        if (unlink(path) < 0)
            rmdir(path);
    }
    rmdir(dir);
}

static void fuzz_cleanup(void)
{
    fuzz_remove_dir(fuzz_dir);
}

/* libFuzzer leaves by _Exit() on some paths (a crash, -runs=0), skipping
 * atexit: remove the directories of runs whose process is gone. */
static void fuzz_sweep_stale(void)
{
    glob_t g;

    if (glob(FUZZ_DIR_PREFIX "*", GLOB_NOSORT, NULL, &g) != 0)
        return;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        long pid = strtol(g.gl_pathv[i] + strlen(FUZZ_DIR_PREFIX), NULL, 10);
        if (pid > 0 && kill((pid_t)pid, 0) < 0 && errno == ESRCH)
            fuzz_remove_dir(g.gl_pathv[i]);
    }
    globfree(&g);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_sweep_stale();
    snprintf(fuzz_dir, sizeof(fuzz_dir), FUZZ_DIR_PREFIX "%ld", (long)getpid());
    snprintf(fuzz_main, sizeof(fuzz_main), "%s/netdiag.ini", fuzz_dir);
    snprintf(fuzz_list, sizeof(fuzz_list), "%s/list.targets", fuzz_dir);
    snprintf(fuzz_incdir, sizeof(fuzz_incdir), "%s/inc.d", fuzz_dir);
    snprintf(fuzz_inc, sizeof(fuzz_inc), "%s/inc.d/10.ini", fuzz_dir);
    fuzz_remove_dir(fuzz_dir); /* a stale one of a reused pid */
    fuzz_devnull = fopen("/dev/null", "w");
    if (mkdir(fuzz_dir, 0700) < 0 || mkdir(fuzz_incdir, 0700) < 0 || fuzz_devnull == NULL) {
        perror("fuzz_config: setup");
        abort();
    }
    atexit(fuzz_cleanup);
    return 0;
}

static void fuzz_write(const char *path, const uint8_t *data, size_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

    if (fd < 0 || write(fd, data, size) != (ssize_t)size || close(fd) < 0)
        abort();
}

/* `include =` makes the parser read what the input names. /proc and /sys
 * hold regular files that never end (/proc/self/pagemap, /proc/kcore): an
 * input that could reach them is skipped, so a run never hangs on a file
 * instead of on a bug. */
static bool fuzz_reaches_pseudo_fs(const uint8_t *data, size_t size)
{
    static const char *const bad[] = {"/proc", "/sys", "/dev", "../"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (memmem(data, size, bad[i], strlen(bad[i])) != NULL)
            return true;
    return false;
}

static void fuzz_check_target(const struct config *cfg, const struct target *t)
{
    FUZZ_CHECK(t->name != NULL && t->name[0] != '\0');
    FUZZ_CHECK(config_find_target(cfg, t->name) != NULL);
    FUZZ_CHECK(strcmp(target_kind_name(t->kind), "?") != 0);
    FUZZ_CHECK(strcmp(family_name(t->family), "?") != 0);
    /* the timeout is below the interval, checked at load */
    FUZZ_CHECK(t->interval_ms >= CONFIG_INTERVAL_MIN_MS &&
               t->interval_ms <= CONFIG_INTERVAL_MAX_MS);
    FUZZ_CHECK(t->timeout_ms >= CONFIG_TIMEOUT_MIN_MS && t->timeout_ms < t->interval_ms);
    switch (t->kind) {
    case KIND_CONNECT:
    case KIND_SEND:
        FUZZ_CHECK(t->host != NULL && t->port != 0);
        break;
    case KIND_RESOLVE:
        FUZZ_CHECK(t->qname != NULL && t->qtype != 0);
        FUZZ_CHECK(t->server_system || t->server_len > 0);
        break;
    case KIND_PING:
        FUZZ_CHECK(t->host != NULL && t->ping_count >= 1 && t->ping_size >= 8);
        FUZZ_CHECK(t->timeout_ms > (t->ping_count - 1) * t->ping_spacing_ms);
        break;
    }
    FUZZ_CHECK(t->alert_ncodes <= CONFIG_MAX_CODES);
    FUZZ_CHECK((t->payload == NULL) == (t->payload_len == 0));
    FUZZ_CHECK(t->payload_len <= CONFIG_PAYLOAD_MAX);
    if (t->kind == KIND_SEND && t->payload_size > 0)
        FUZZ_CHECK(t->payload_len == (size_t)t->payload_size);
    if (t->payload != NULL)
        FUZZ_CHECK(t->payload[t->payload_len] == '\0');
    FUZZ_CHECK((t->expect == NULL) == (t->expect_len == 0));
    if (t->expect != NULL)
        FUZZ_CHECK(t->expect[t->expect_len] == '\0');
    for (size_t k = 0; k < t->payload_len; k++) /* ASan: the whole buffer is there */
        (void)*(volatile unsigned char *)&t->payload[k];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config *cfg;
    int nerrors = -1;

    if (fuzz_reaches_pseudo_fs(data, size))
        return 0;
    fuzz_write(fuzz_main, data, size);
    fuzz_write(fuzz_list, data, size);
    fuzz_write(fuzz_inc, data, size);
    cfg = config_load(fuzz_main, fuzz_devnull, &nerrors);
    /* config.h: NULL exactly when some error was reported */
    FUZZ_CHECK((cfg == NULL) == (nerrors > 0));
    if (cfg == NULL)
        return 0;
    FUZZ_CHECK(cfg->alert.ncodes <= CONFIG_MAX_CODES);
    FUZZ_CHECK(cfg->ntargets == 0 || cfg->targets != NULL);
    for (size_t i = 0; i < cfg->ntargets; i++)
        fuzz_check_target(cfg, &cfg->targets[i]);
    config_free(cfg);
    return 0;
}
