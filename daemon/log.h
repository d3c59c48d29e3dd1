/* SPDX-License-Identifier: ISC */
/* The one logger (owned by log.c): stderr, one write per line, with <N>
 * syslog-level prefixes when stderr is the journal and a local time stamp
 * otherwise. Once log_async_start() has run, lines go through a bounded
 * buffer that a thread of its own writes out: no caller ever waits for a
 * slow reader of stderr. All functions save and restore errno. */
#ifndef NETDIAG_LOG_H
#define NETDIAG_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level {
    LOG_LEVEL_ERROR = 3,
    LOG_LEVEL_WARN = 4,
    LOG_LEVEL_NOTICE = 5,
    LOG_LEVEL_INFO = 6,
    LOG_LEVEL_DEBUG = 7,
};

/* Set the level, see whether stderr is the journal (JOURNAL_STREAM names
 * its device and inode), and route libevent's own messages through here. */
void log_init(enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
const char *log_level_name(enum log_level level);
/* "error" | "warn" | "notice" | "info" | "debug"; returns -1 when unknown. */
int log_level_from_name(const char *name);
/* Whether stderr is the journal (then lines carry "<N>", no time stamp). */
bool log_is_journal(void);
/* Write the lines to fd instead of standard error: the unit tests keep
 * the errors they expect off their output (tests/unit/unit.h). */
void log_set_fd(int fd);

/* From now on lines are queued (at most LOG_QUEUE_BYTES) and written by
 * the log thread; a line that does not fit is dropped and counted, and
 * the count is said in one line once there is room again. At exit, and in
 * fatal(), what is queued gets up to LOG_DRAIN_MS to be written. Before
 * this call (and when the thread cannot start) a line is written at once. */
#define LOG_QUEUE_BYTES (256 * 1024)
#define LOG_DRAIN_MS    2000
void log_async_start(void);
/* Wait up to max_ms for the queue to be written out. */
void log_drain(int max_ms);
/* Lines dropped since the start because stderr did not keep up. */
uint64_t log_dropped_total(void);

/* Sees each of libevent's messages (severity EVENT_LOG_*) before it is
 * logged; returns the level to log it at, or -1 for the usual mapping
 * (debug, msg -> info, warn, err -> error). NULL removes it. */
typedef int (*log_libevent_hook_fn)(int severity, const char *msg, void *arg);
void log_set_libevent_hook(log_libevent_hook_fn fn, void *arg);

/* log_warn appends ": strerror(errno)"; the x variants do not. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* fatal: only before the loop runs or for a broken invariant; exits 1. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
