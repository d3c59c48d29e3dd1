/* SPDX-License-Identifier: ISC */
/* The logger: one line per event on stderr, "<N>" syslog-level prefixes
 * when stderr is the journal, a local time stamp and a level word
 * otherwise; once the loop runs, a thread writes the lines out of a bounded
 * queue so that a slow reader of stderr never stalls the caller. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"

/* The writer thread logs too, and SIGHUP may change the level meanwhile. */
static _Atomic int log_level = LOG_LEVEL_INFO;
static bool log_journal;
/* Where lines go: standard error, or what a unit test keeps them in. */
static _Atomic int log_fd = STDERR_FILENO;

/* Longest line, prefix and newline included; longer ones are cut. */
#define LOG_LINE_MAX 1200

/* The queue: records of a 2-byte length and the line, in a ring. One
 * mutex for the callers (the loop, the store's writer thread) and the log
 * thread; the thread holds it only to take a line out, never to write. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t more;  /* a line was queued */
    pthread_cond_t empty; /* everything queued is written */
    unsigned char ring[LOG_QUEUE_BYTES];
    size_t head, used;
    bool async;             /* the thread runs; lines are queued */
    bool writing;           /* the thread is writing a line it took out */
    uint64_t dropped;       /* lines dropped and not yet reported */
    uint64_t dropped_total; /* since the start */
} lq = {
    .mu = PTHREAD_MUTEX_INITIALIZER,
    .more = PTHREAD_COND_INITIALIZER,
    .empty = PTHREAD_COND_INITIALIZER,
};

static log_libevent_hook_fn log_hook;
static void *log_hook_arg;

static void log_emit(enum log_level level, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* systemd sets JOURNAL_STREAM to "DEV:INODE" of the stream it connected to
 * stdout/stderr; a program whose stderr is something else (a terminal, a
 * pipe of its own, a child's redirect) must not take it for the journal. */
static bool log_stderr_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    char *end;

    if (js == NULL || *js < '0' || *js > '9')
        return false;
    errno = 0;
    dev = strtoull(js, &end, 10);
    if (errno != 0 || *end != ':' || end[1] < '0' || end[1] > '9')
        return false;
    ino = strtoull(end + 1, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    if (fstat(STDERR_FILENO, &st) < 0)
        return false;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

/* libevent's own messages ("[msg] Nameserver ... has failed", "[warn]
 * Epoll ADD ... failed") in our format and at our levels. evdns logs
 * through this too as long as no evdns_set_log_fn() is set, and with its
 * real severity (evdns_set_log_fn would fold debug into msg). */
static void log_libevent_cb(int severity, const char *msg)
{
    int level = log_hook != NULL ? log_hook(severity, msg, log_hook_arg) : -1;

    if (level < 0) {
        switch (severity) {
        case EVENT_LOG_DEBUG:
            level = LOG_LEVEL_DEBUG;
            break;
        case EVENT_LOG_MSG:
            level = LOG_LEVEL_INFO;
            break;
        case EVENT_LOG_WARN:
            level = LOG_LEVEL_WARN;
            break;
        default:
            level = LOG_LEVEL_ERROR;
            break;
        }
    }
    log_emit((enum log_level)level, 0, "libevent: %s", msg);
}

void log_init(enum log_level level)
{
    atomic_store_explicit(&log_level, (int)level, memory_order_relaxed);
    log_journal = log_stderr_is_journal();
    event_set_log_callback(log_libevent_cb);
}

bool log_is_journal(void)
{
    return log_journal;
}

void log_set_libevent_hook(log_libevent_hook_fn fn, void *arg)
{
    log_hook = fn;
    log_hook_arg = arg;
}

void log_set_fd(int fd)
{
    atomic_store_explicit(&log_fd, fd, memory_order_relaxed);
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
    case LOG_LEVEL_NOTICE:
        return "notice";
    case LOG_LEVEL_INFO:
        return "info";
    case LOG_LEVEL_DEBUG:
        return "debug";
    }
    return "?";
}

int log_level_from_name(const char *name)
{
    static const enum log_level all[] = {LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_NOTICE,
                                         LOG_LEVEL_INFO, LOG_LEVEL_DEBUG};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (strcmp(name, log_level_name(all[i])) == 0)
            return (int)all[i];
    return -1;
}

/* One whole line into buf: "<4>msg\n" for the journal, else
 * "2026-12-07 18:30:01.123 netdiagd: warn: msg\n". Returns its length. */
static size_t log_format(char *buf, enum log_level level, const char *msg, int err)
{
    char stamp[40] = "";
    int n;

    if (log_journal) {
        n = snprintf(buf, LOG_LINE_MAX, "<%d>%s%s%s\n", (int)level, msg, err ? ": " : "",
                     err ? strerror(err) : "");
    } else {
        struct timespec ts;
        struct tm tm;
        size_t len;

        clock_gettime(CLOCK_REALTIME, &ts);
        localtime_r(&ts.tv_sec, &tm);
        len = strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
        snprintf(stamp + len, sizeof(stamp) - len, ".%03ld", ts.tv_nsec / 1000000);
        n = snprintf(buf, LOG_LINE_MAX, "%s netdiagd: %s: %s%s%s\n", stamp, log_level_name(level),
                     msg, err ? ": " : "", err ? strerror(err) : "");
    }
    if (n < 0)
        n = 0;
    if (n >= LOG_LINE_MAX) {
        n = LOG_LINE_MAX - 1;
        buf[n - 1] = '\n'; /* cut short, still one line */
    }
    return (size_t)n;
}

/* Write one line with one write() (a pipe takes up to PIPE_BUF bytes
 * whole, so lines of several threads never interleave). Blocks: only the
 * log thread, code before the loop, and the drain at exit call it. */
static void log_write_line(const char *line, size_t len)
{
    while (len > 0) {
        int fd = atomic_load_explicit(&log_fd, memory_order_relaxed);
        ssize_t n = write(fd, line, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            /* someone made our stderr non-blocking: wait for room */
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            poll(&pfd, 1, 1000);
            continue;
        }
        if (n <= 0)
            return; /* the reader is gone (EPIPE) or worse: nobody to tell */
        line += n;
        len -= (size_t)n;
    }
}

static size_t ring_free(void)
{
    return sizeof(lq.ring) - lq.used;
}

static void ring_put(const void *src, size_t len)
{
    size_t tail = (lq.head + lq.used) % sizeof(lq.ring);
    size_t first = sizeof(lq.ring) - tail < len ? sizeof(lq.ring) - tail : len;

    memcpy(lq.ring + tail, src, first);
    memcpy(lq.ring, (const unsigned char *)src + first, len - first);
    lq.used += len;
}

static void ring_get(void *dst, size_t len)
{
    size_t first = sizeof(lq.ring) - lq.head < len ? sizeof(lq.ring) - lq.head : len;

    memcpy(dst, lq.ring + lq.head, first);
    memcpy((unsigned char *)dst + first, lq.ring, len - first);
    lq.head = (lq.head + len) % sizeof(lq.ring);
    lq.used -= len;
}

/* Queue one formatted line; the caller holds lq.mu. */
static bool ring_push_line(const char *line, size_t len)
{
    unsigned char hdr[2] = {(unsigned char)(len >> 8), (unsigned char)(len & 0xff)};

    if (ring_free() < sizeof(hdr) + len)
        return false;
    ring_put(hdr, sizeof(hdr));
    ring_put(line, len);
    return true;
}

/* "N log lines dropped" once there is room again; the caller holds lq.mu. */
static size_t log_dropped_line(char *buf)
{
    char msg[160];

    snprintf(msg, sizeof(msg), "%llu log line%s dropped: stderr was not read fast enough",
             (unsigned long long)lq.dropped, lq.dropped == 1 ? "" : "s");
    return log_format(buf, LOG_LEVEL_WARN, msg, 0);
}

static void *log_thread(void *arg)
{
    char line[LOG_LINE_MAX];

    (void)arg;
    pthread_mutex_lock(&lq.mu);
    for (;;) {
        size_t len;

        if (lq.used == 0 && lq.dropped > 0) {
            /* caught up after drops, and nothing else came to carry the
             * count: say it now */
            len = log_dropped_line(line);
            lq.dropped = 0;
        } else if (lq.used == 0) {
            lq.writing = false;
            pthread_cond_broadcast(&lq.empty);
            pthread_cond_wait(&lq.more, &lq.mu);
            continue;
        } else {
            unsigned char hdr[2];
            ring_get(hdr, sizeof(hdr));
            len = (size_t)hdr[0] << 8 | hdr[1];
            ring_get(line, len);
        }
        lq.writing = true;
        pthread_mutex_unlock(&lq.mu);
        log_write_line(line, len);
        pthread_mutex_lock(&lq.mu);
    }
    return NULL;
}

static void log_drain_at_exit(void)
{
    log_drain(LOG_DRAIN_MS);
}

void log_async_start(void)
{
    static bool started;
    pthread_t tid;
    pthread_attr_t attr;
    sigset_t all, old;
    int rc;

    if (started)
        return;
    started = true;
    /* signals stay with the loop's thread */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&tid, &attr, log_thread, NULL);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        log_warnx("cannot start the log thread (%s); lines are written directly", strerror(rc));
        return;
    }
    pthread_mutex_lock(&lq.mu);
    lq.async = true;
    pthread_mutex_unlock(&lq.mu);
    atexit(log_drain_at_exit);
}

void log_drain(int max_ms)
{
    struct timespec until;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += max_ms / 1000;
    until.tv_nsec += (long)(max_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&lq.mu);
    while (lq.async && (lq.used > 0 || lq.writing || lq.dropped > 0))
        if (pthread_cond_timedwait(&lq.empty, &lq.mu, &until) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&lq.mu);
}

uint64_t log_dropped_total(void)
{
    uint64_t n;

    pthread_mutex_lock(&lq.mu);
    n = lq.dropped_total;
    pthread_mutex_unlock(&lq.mu);
    return n;
}

/* Format, then write at once (before the loop) or queue (after). */
static void log_vemit(enum log_level level, int err, const char *fmt, va_list ap)
{
    char msg[1024], line[LOG_LINE_MAX], note[LOG_LINE_MAX];
    int saved = errno;
    size_t len, nlen = 0;

    if ((int)level > atomic_load_explicit(&log_level, memory_order_relaxed))
        return;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    len = log_format(line, level, msg, err);
    pthread_mutex_lock(&lq.mu);
    if (!lq.async) {
        pthread_mutex_unlock(&lq.mu);
        log_write_line(line, len);
        errno = saved;
        return;
    }
    if (lq.dropped > 0) {
        /* the count goes where the gap is, once there is room for both */
        nlen = log_dropped_line(note);
        if (ring_free() >= 4 + nlen + len && ring_push_line(note, nlen))
            lq.dropped = 0;
    }
    if (!ring_push_line(line, len)) {
        lq.dropped++;
        lq.dropped_total++;
    }
    pthread_cond_signal(&lq.more);
    pthread_mutex_unlock(&lq.mu);
    errno = saved;
}

static void log_emit(enum log_level level, int err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vemit(level, err, fmt, ap);
    va_end(ap);
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

void log_notice(const char *fmt, ...)
{
    LOG_BODY(LOG_LEVEL_NOTICE, 0);
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
    log_drain(LOG_DRAIN_MS);
    exit(1);
}

void fatalx(const char *fmt, ...)
{
    LOG_BODY(LOG_LEVEL_ERROR, 0);
    log_drain(LOG_DRAIN_MS);
    exit(1);
}
