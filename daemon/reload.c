/* SPDX-License-Identifier: ISC */
/* SIGHUP builds a whole new config, validates it, and swaps it in only on
 * success; a bad file keeps the old one running (OpenSMTPD's
 * table_sqlite_update). Reading, checking and recording 200,000 targets
 * takes seconds, so a thread does it while the loop goes on probing; the
 * loop only swaps the finished config in (config_link_prev() spares it any
 * sort), and the thread then retires the targets that went and frees the
 * old config. SIGHUPs during a reload are absorbed into one more, which
 * reads the file after it: a burst of signals costs two reloads. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "reload.h"
#include "util.h"

/* Config errors are kept for the logger up to ERRS_KEEP bytes and
 * ERRS_LINES lines, the rest counted: a file of a million bad lines must
 * cost neither the loop a million log lines nor the thread unbounded
 * memory. */
#define ERRS_KEEP  (64 * 1024)
#define ERRS_LINES 100

struct errs {
    char *buf;
    size_t len;
    size_t lines_lost; /* whole lines beyond ERRS_KEEP */
    bool cut;          /* the line in progress did not fit */
};

enum reload_state {
    RELOAD_IDLE,     /* no reload thread */
    RELOAD_READING,  /* the thread reads, checks and records the new config */
    RELOAD_READY,    /* ... done: it waits for the loop to swap ncfg in */
    RELOAD_SWAPPED,  /* the loop did: it retires what went, frees the old */
    RELOAD_FINISHED, /* the thread is done, to be joined (ok or not) */
};

/* What the loop and the thread share is under mu. */
struct reload {
    struct reload_ops ops;
    const char *path;
    struct store *st;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int efd;          /* eventfd: the thread wakes the loop */
    struct event *ev; /* the loop's side of it */
    enum reload_state state;
    bool again;    /* a SIGHUP came while a reload ran: one more after it */
    bool stopping; /* the daemon stops: the thread must not wait */
    bool swapped;  /* this reload's config runs */
    const struct config *running;
    int64_t started_us, read_us, swap_us;
    /* set by the thread */
    struct config *ncfg; /* valid, while READY */
    void *prepared;      /* ops.prepare's, for the swap */
    struct errs errs;    /* what loading printed */
    int nerr;
    /* set by the loop at the swap: the config the thread frees */
    struct config *old;
};

static ssize_t errs_write(void *cookie, const char *data, size_t n)
{
    struct errs *e = cookie;

    for (size_t i = 0; i < n; i++) {
        if (!e->cut && e->len + 1 < ERRS_KEEP) {
            e->buf[e->len++] = data[i];
            continue;
        }
        /* drop the partial line kept so far, once, and count the rest */
        if (!e->cut) {
            while (e->len > 0 && e->buf[e->len - 1] != '\n')
                e->len--;
            e->cut = true;
        }
        if (data[i] == '\n')
            e->lines_lost++;
    }
    return (ssize_t)n;
}

/* A FILE config_load() prints into; NULL when out of memory. */
static FILE *errs_open(struct errs *e)
{
    static const cookie_io_functions_t io = {.write = errs_write};
    FILE *f;

    memset(e, 0, sizeof(*e));
    e->buf = malloc(ERRS_KEEP);
    if (e->buf == NULL)
        return NULL;
    f = fopencookie(e, "w", io);
    if (f == NULL) {
        free(e->buf);
        e->buf = NULL;
    }
    return f;
}

/* Log what was kept, one line each (ERRS_LINES at most), then free it. */
static void errs_log(struct errs *e, const char *path)
{
    size_t shown = 0, lost = e->lines_lost;

    for (size_t i = 0; e->buf != NULL && i < e->len;) {
        char *nl = memchr(e->buf + i, '\n', e->len - i);
        size_t end = nl != NULL ? (size_t)(nl - e->buf) : e->len;
        if (shown < ERRS_LINES)
            log_error("%.*s", (int)(end - i), e->buf + i);
        else
            lost++;
        shown++;
        i = end + 1;
    }
    if (lost > 0)
        log_error("%zu more errors not shown; netdiagd -t -c %s lists them all", lost, path);
    free(e->buf);
    e->buf = NULL;
}

struct config *reload_load(const char *path, bool once, FILE *errs, int *nerrors)
{
    struct config *cfg = config_load(path, errs, nerrors);

    if (cfg != NULL && (*nerrors = config_check_run(cfg, once, errs)) > 0) {
        config_free(cfg);
        cfg = NULL;
    }
    fflush(errs);
    return cfg;
}

struct config *reload_load_logged(const char *path, bool once, int *nerrors)
{
    struct errs e;
    FILE *f = errs_open(&e);
    struct config *cfg;

    if (f == NULL)
        return reload_load(path, once, stderr, nerrors);
    cfg = reload_load(path, once, f, nerrors);
    fclose(f);
    errs_log(&e, path);
    return cfg;
}

/* The thread's word to the loop; never blocks (EFD_NONBLOCK: a counter
 * already set is as good). */
static void reload_wake(struct reload *r)
{
    uint64_t one = 1;

    if (write(r->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_warn("reload: cannot wake the loop");
}

static void *reload_main(void *arg)
{
    struct reload *r = arg;
    struct errs e;
    FILE *f = errs_open(&e);
    struct config *ncfg, *old = NULL;
    void *prepared;
    int nerr = 0;
    bool stopping;

    ncfg = reload_load(r->path, false, f != NULL ? f : stderr, &nerr);
    if (f != NULL)
        fclose(f);
    if (ncfg != NULL && config_link_prev(ncfg, r->running) < 0)
        log_warnx("reload: out of memory; the swap matches targets by name");
    pthread_mutex_lock(&r->mu);
    stopping = r->stopping;
    pthread_mutex_unlock(&r->mu);
    /* the new targets get their ids before they run; none is retired
     * before the swap, so no retired target has a row newer than that */
    if (ncfg != NULL && (stopping || (r->st != NULL && store_upsert_targets(r->st, ncfg) < 0))) {
        config_free(ncfg);
        ncfg = NULL;
    }
    /* what the swap needs, built here rather than on the loop */
    prepared = ncfg != NULL && r->ops.prepare != NULL ? r->ops.prepare(r->ops.arg, ncfg) : NULL;
    pthread_mutex_lock(&r->mu);
    r->errs = e;
    r->nerr = nerr;
    if (ncfg != NULL) {
        r->ncfg = ncfg;
        r->prepared = prepared;
        r->state = RELOAD_READY;
        reload_wake(r);
        while (r->state == RELOAD_READY && !r->stopping)
            pthread_cond_wait(&r->cond, &r->mu);
        if (r->state == RELOAD_SWAPPED) {
            old = r->old;
            r->old = NULL;
        } else {
            if (r->prepared != NULL && r->ops.discard != NULL)
                r->ops.discard(r->ops.arg, r->prepared);
            config_free(ncfg); /* never ran */
        }
        r->prepared = NULL;
        r->ncfg = NULL;
    }
    pthread_mutex_unlock(&r->mu);
    if (old != NULL) {
        /* ncfg runs now; the loop writes only its probe fields */
        if (r->st != NULL)
            store_retire_targets(r->st, ncfg);
        config_free(old);
    }
    pthread_mutex_lock(&r->mu);
    r->state = RELOAD_FINISHED;
    reload_wake(r);
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

static void reload_start(struct reload *r)
{
    sigset_t all, old;
    int rc;

    r->ops.begin(r->ops.arg);
    r->started_us = util_mono_us();
    r->read_us = r->swap_us = 0;
    r->swapped = false;
    r->nerr = 0;
    pthread_mutex_lock(&r->mu);
    r->state = RELOAD_READING;
    pthread_mutex_unlock(&r->mu);
    /* signals stay with the loop's thread */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&r->thread, NULL, reload_main, r);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        r->state = RELOAD_IDLE;
        log_error("reload: cannot start its thread: %s", strerror(rc));
        r->ops.end(r->ops.arg, false, 0, 0, 0);
    }
}

/* The loop's part: swap the new config in. Timed as a whole (the daemon's
 * swap callback is O(targets) without a sort or a search). */
static void reload_swap(struct reload *r)
{
    struct config *ncfg, *old;
    void *prepared;
    int64_t t0 = util_mono_us();

    pthread_mutex_lock(&r->mu);
    ncfg = r->ncfg;
    prepared = r->prepared;
    r->prepared = NULL; /* the swap owns it now */
    pthread_mutex_unlock(&r->mu);
    r->read_us = t0 - r->started_us;
    old = r->ops.swap(r->ops.arg, ncfg, prepared);
    config_unlink_prev(ncfg); /* old goes to the thread */
    r->running = ncfg;        /* what the one more reload replaces */
    r->swap_us = util_mono_us() - t0;
    r->swapped = true;
    pthread_mutex_lock(&r->mu);
    r->old = old;
    r->state = RELOAD_SWAPPED;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->mu);
}

/* The thread is done: join it, say how it went, start the one more. */
static void reload_finish(struct reload *r)
{
    pthread_join(r->thread, NULL);
    r->state = RELOAD_IDLE;
    errs_log(&r->errs, r->path);
    r->ops.end(r->ops.arg, r->swapped, r->swapped ? 0 : r->nerr, r->read_us, r->swap_us);
    if (r->again && !r->stopping) {
        r->again = false;
        reload_start(r);
    }
}

static void reload_cb(evutil_socket_t fd, short what, void *arg)
{
    struct reload *r = arg;
    enum reload_state state;
    uint64_t n;

    (void)what;
    if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
        log_warn("reload: eventfd");
    pthread_mutex_lock(&r->mu);
    state = r->state;
    pthread_mutex_unlock(&r->mu);
    if (state == RELOAD_READY)
        reload_swap(r);
    else if (state == RELOAD_FINISHED)
        reload_finish(r);
}

struct reload *reload_new(struct event_base *base, const char *path, struct store *st,
                          const struct reload_ops *ops)
{
    struct reload *r = calloc(1, sizeof(*r));

    if (r == NULL)
        return NULL;
    r->ops = *ops;
    r->path = path;
    r->st = st;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cond, NULL);
    r->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (r->efd >= 0)
        r->ev = event_new(base, r->efd, EV_READ | EV_PERSIST, reload_cb, r);
    if (r->ev == NULL || event_add(r->ev, NULL) < 0) {
        reload_free(r);
        return NULL;
    }
    return r;
}

void reload_request(struct reload *r, const struct config *running)
{
    enum reload_state state;

    if (r->stopping)
        return;
    pthread_mutex_lock(&r->mu);
    state = r->state;
    pthread_mutex_unlock(&r->mu);
    if (state == RELOAD_IDLE) {
        r->running = running;
        reload_start(r);
    } else if (!r->again) {
        r->again = true;
        log_info("SIGHUP during a reload: the file is read once more after it");
    }
}

void reload_stop(struct reload *r)
{
    bool running;

    if (r == NULL)
        return;
    pthread_mutex_lock(&r->mu);
    r->stopping = true;
    pthread_cond_signal(&r->cond);
    running = r->state != RELOAD_IDLE;
    pthread_mutex_unlock(&r->mu);
    if (running) {
        pthread_join(r->thread, NULL);
        r->state = RELOAD_IDLE;
        free(r->errs.buf);
        r->errs.buf = NULL;
    }
}

void reload_free(struct reload *r)
{
    if (r == NULL)
        return;
    reload_stop(r);
    if (r->ev != NULL)
        event_free(r->ev);
    if (r->efd >= 0)
        close(r->efd);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cond);
    free(r);
}
