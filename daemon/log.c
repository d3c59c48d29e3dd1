/* The logger: one line per event on stderr, "<N>" syslog-level prefixes
 * when journald reads stderr (JOURNAL_STREAM set), a level word otherwise. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static enum log_level log_level = LOG_LEVEL_INFO;
static int log_journal;

void log_init(enum log_level level)
{
    log_level = level;
    log_journal = getenv("JOURNAL_STREAM") != NULL;
}

void log_set_level(enum log_level level)
{
    log_level = level;
}

enum log_level log_get_level(void)
{
    return log_level;
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

static void log_vemit(enum log_level level, int err, const char *fmt, va_list ap)
{
    char msg[1024];
    int saved = errno;

    if (level > log_level)
        return;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (log_journal)
        fprintf(stderr, "<%d>%s", (int)level, msg);
    else
        fprintf(stderr, "netdiagd: %s: %s", log_level_name(level), msg);
    if (err)
        fprintf(stderr, ": %s", strerror(err));
    fputc('\n', stderr);
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
