/* The logger: one line per event on stderr, "<N>" syslog-level prefixes
 * when journald reads stderr (JOURNAL_STREAM set), a level word otherwise. */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* The writer thread logs too, and SIGHUP may change the level meanwhile. */
static _Atomic int log_level = LOG_LEVEL_INFO;
static int log_journal;

void log_init(enum log_level level)
{
    atomic_store_explicit(&log_level, (int)level, memory_order_relaxed);
    log_journal = getenv("JOURNAL_STREAM") != NULL;
}

void log_set_level(enum log_level level)
{
    atomic_store_explicit(&log_level, (int)level, memory_order_relaxed);
}

enum log_level log_get_level(void)
{
    return (enum log_level)atomic_load_explicit(&log_level, memory_order_relaxed);
}

const char *log_level_name(enum log_level level)
{
    switch (level) {
    case LOG_LEVEL_ERROR:
        return "error";
    case LOG_LEVEL_WARN:
        return "warn";
    case LOG_LEVEL_INFO:
        return "info";
    case LOG_LEVEL_DEBUG:
        return "debug";
    }
    return "?";
}

int log_level_from_name(const char *name)
{
    static const enum log_level all[] = {LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO,
                                         LOG_LEVEL_DEBUG};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (strcmp(name, log_level_name(all[i])) == 0)
            return (int)all[i];
    return -1;
}

/* The whole line in one buffer and one write: the loop and the writer
 * thread both log, and their lines must not interleave. */
static void log_vemit(enum log_level level, int err, const char *fmt, va_list ap)
{
    char msg[1024], line[1200];
    int saved = errno, n;

    if ((int)level > atomic_load_explicit(&log_level, memory_order_relaxed))
        return;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (log_journal)
        n = snprintf(line, sizeof(line), "<%d>%s%s%s\n", (int)level, msg, err ? ": " : "",
                     err ? strerror(err) : "");
    else
        n = snprintf(line, sizeof(line), "netdiagd: %s: %s%s%s\n", log_level_name(level), msg,
                     err ? ": " : "", err ? strerror(err) : "");
    if (n >= (int)sizeof(line))
        line[sizeof(line) - 2] = '\n'; /* cut short, still one line */
    fputs(line, stderr);
    errno = saved;
}

#define LOG_BODY(level, err)                                                                       \
    va_list ap;                                                                                    \
    va_start(ap, fmt);                                                                             \
    log_vemit((level), (err), fmt, ap);                                                            \
    va_end(ap)

void log_warn(const char *fmt, ...)
{
    LOG_BODY(LOG_LEVEL_WARN, errno);
}

void log_warnx(const char *fmt, ...)
{
    LOG_BODY(LOG_LEVEL_WARN, 0);
}

void log_error(const char *fmt, ...)
{
    LOG_BODY(LOG_LEVEL_ERROR, 0);
}

void log_info(const char *fmt, ...)
{
    LOG_BODY(LOG_LEVEL_INFO, 0);
}

void log_debug(const char *fmt, ...)
{
    LOG_BODY(LOG_LEVEL_DEBUG, 0);
}

void fatal(const char *fmt, ...)
{
    LOG_BODY(LOG_LEVEL_ERROR, errno);
    exit(1);
}

void fatalx(const char *fmt, ...)
{
    LOG_BODY(LOG_LEVEL_ERROR, 0);
    exit(1);
}
