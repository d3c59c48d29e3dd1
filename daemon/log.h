/* The one logger (owned by log.c): stderr, with <N> syslog-level prefixes
 * when journald reads it. All functions save and restore errno. */
#ifndef NETDIAG_LOG_H
#define NETDIAG_LOG_H

enum log_level {
    LOG_LEVEL_ERROR = 3,
    LOG_LEVEL_WARN = 4,
    LOG_LEVEL_INFO = 6,
    LOG_LEVEL_DEBUG = 7,
};

void log_init(enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
const char *log_level_name(enum log_level level);
/* "error" | "warn" | "info" | "debug"; returns -1 when unknown. */
int log_level_from_name(const char *name);

/* log_warn appends ": strerror(errno)"; the x variants do not. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* fatal: only before the loop runs or for a broken invariant; exits 1. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
