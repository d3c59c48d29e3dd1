/* SPDX-License-Identifier: ISC */
/* The exec hook: the [alert] exec program is started directly with
 * posix_spawn (no shell, nothing interpolated into a command line), gets
 * the alert's facts in NETDIAG_* environment variables, runs in a process
 * group of its own, and is reaped through a pidfd watched by the loop
 * (SIGCHLD where pidfds are missing), so the loop never waits. Nothing it
 * starts outlives it: its process group is killed when it exits, after
 * exec_timeout, and at shutdown. Runs dropped for a full queue are
 * logged with their count (at most one line per ALERT_EXEC_DROP_LOG_S). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "alert_exec.h"
#include "alert_int.h"
#include "log.h"
#include "timefmt.h"
#include "util.h"

extern char **environ;

/* More than this many hooks at once wait in a queue; a full queue drops
 * the newest notification (and says so). */
#define ALERT_EXEC_MAX_RUNNING 8
#define ALERT_EXEC_QUEUE_MAX   64
#define ALERT_EXEC_MAX_WORDS   32
#define ALERT_EXEC_NVARS       32
#define ALERT_EXEC_DROP_LOG_S  10
/* At shutdown a running hook gets SIGTERM, and SIGKILL after this. */
#define ALERT_EXEC_STOP_MS 500

struct alert_job {
    struct alert_exec *ex;
    struct alert_job *next;
    pid_t pid;
    int pidfd; /* -1: reaped on SIGCHLD */
    struct event *ev_exit;
    struct event *ev_kill;
    int64_t start_us;
    int64_t timeout_ms;
    bool killed;    /* by exec_timeout */
    bool stopped;   /* by the daemon's shutdown */
    char what[160]; /* "web WSAECONNREFUSED firing", for the log */
    char prog[256];
};

struct alert_pending {
    char *command;
    char *instance;
    int64_t timeout_ms;
    struct alert_notice n;
};

struct alert_exec {
    struct event_base *base;
    struct alert_job *jobs;
    size_t nrunning;
    struct alert_pending queue[ALERT_EXEC_QUEUE_MAX];
    size_t qhead, qcount;
    uint64_t dropped;       /* since the last line that said so */
    int64_t dropped_log_us; /* when that line was written */
    char dropped_last[160]; /* the last run dropped, "web WSAECONNREFUSED firing" */
    char dropped_prog[256];
    struct event *ev_droplog; /* says what was dropped since the last line */
    bool stopping;            /* shutdown: nothing queued starts any more */
    struct event *ev_sigchld; /* only when pidfd_open is unavailable */
};

static void alert_exec_start(struct alert_exec *ex, const char *command, int64_t timeout_ms,
                             const char *instance, const struct alert_notice *n);

static void alert_exec_droplog(struct alert_exec *ex)
{
    if (ex->dropped == 0)
        return;
    log_warnx("alert: exec %s: %" PRIu64 " hook run%s dropped (%d running and %d waiting; last "
              "dropped: %s)",
              ex->dropped_prog, ex->dropped, ex->dropped == 1 ? "" : "s", ALERT_EXEC_MAX_RUNNING,
              ALERT_EXEC_QUEUE_MAX, ex->dropped_last);
    ex->dropped = 0;
    ex->dropped_log_us = util_mono_us();
}

static void alert_exec_droplog_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    alert_exec_droplog(arg);
}

/* A run that found the queue full: counted, and said at once or, within
 * ALERT_EXEC_DROP_LOG_S of the last line, when that time is up. */
static void alert_exec_drop(struct alert_exec *ex, const char *command,
                            const struct alert_notice *n)
{
    int64_t since = util_mono_us() - ex->dropped_log_us;
    int64_t wait_us = (int64_t)ALERT_EXEC_DROP_LOG_S * 1000000 - since;

    ex->dropped++;
    snprintf(ex->dropped_prog, sizeof(ex->dropped_prog), "%.*s", (int)strcspn(command, " \t"),
             command);
    snprintf(ex->dropped_last, sizeof(ex->dropped_last), "%s %s %s%s", n->target,
             alert_notice_name(n), alert_event_name(n->event), n->repeat ? " again" : "");
    if (ex->dropped_log_us == 0 || wait_us <= 0) {
        alert_exec_droplog(ex);
    } else if (!evtimer_pending(ex->ev_droplog, NULL)) {
        struct timeval tv = {(time_t)(wait_us / 1000000), (suseconds_t)(wait_us % 1000000)};
        evtimer_add(ex->ev_droplog, &tv);
    }
}

struct alert_exec *alert_exec_new(struct event_base *base)
{
    struct alert_exec *ex = calloc(1, sizeof(*ex));

    if (ex == NULL)
        return NULL;
    ex->base = base;
    ex->ev_droplog = evtimer_new(base, alert_exec_droplog_cb, ex);
    if (ex->ev_droplog == NULL) {
        free(ex);
        return NULL;
    }
    return ex;
}

size_t alert_exec_running(const struct alert_exec *ex)
{
    return ex != NULL ? ex->nrunning : 0;
}

static void alert_job_free(struct alert_job *job)
{
    if (job->ev_exit)
        event_free(job->ev_exit);
    if (job->ev_kill)
        event_free(job->ev_kill);
    if (job->pidfd >= 0)
        close(job->pidfd);
    free(job);
}

static void alert_exec_next(struct alert_exec *ex)
{
    while (ex->qcount > 0 && ex->nrunning < ALERT_EXEC_MAX_RUNNING && !ex->stopping) {
        struct alert_pending *q = &ex->queue[ex->qhead];
        ex->qhead = (ex->qhead + 1) % ALERT_EXEC_QUEUE_MAX;
        ex->qcount--;
        alert_exec_start(ex, q->command, q->timeout_ms, q->instance, &q->n);
        free(q->command);
        free(q->instance);
        q->command = q->instance = NULL;
    }
}

/* Reaps the job if it has exited; logs how. Returns whether it was reaped
 * (the caller unlinks and frees it then). */
static bool alert_job_reap(struct alert_job *job)
{
    double secs = (double)(util_mono_us() - job->start_us) / 1e6;
    siginfo_t si;
    int status, w;
    pid_t r;

    memset(&si, 0, sizeof(si));
    do
        w = waitid(P_PID, (id_t)job->pid, &si, WEXITED | WNOHANG | WNOWAIT);
    while (w < 0 && errno == EINTR);
    if (w == 0 && si.si_pid == 0)
        return false; /* still running */
    /* It has exited and is not reaped yet, so its pid, and the process
     * group named after it, are still no one else's: whatever it left
     * running in that group ends with it. */
    if (w == 0)
        kill(-job->pid, SIGKILL);
    do
        r = waitpid(job->pid, &status, WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == 0)
        return false;
    if (r < 0)
        log_warn("alert: exec %s (%s): waitpid", job->prog, job->what);
    else if (job->stopped)
        log_warnx("alert: exec %s (%s) ended at shutdown after %.1f s", job->prog, job->what, secs);
    else if (job->killed)
        log_warnx("alert: exec %s (%s) killed after %.1f s (exec_timeout %" PRId64 " ms)",
                  job->prog, job->what, secs, job->timeout_ms);
    else if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        log_info("alert: exec %s (%s) exited 0 after %.1f s", job->prog, job->what, secs);
    else if (WIFEXITED(status))
        log_warnx("alert: exec %s (%s) exited %d after %.1f s", job->prog, job->what,
                  WEXITSTATUS(status), secs);
    else if (WIFSIGNALED(status))
        log_warnx("alert: exec %s (%s) killed by signal %d (%s) after %.1f s", job->prog, job->what,
                  WTERMSIG(status), strsignal(WTERMSIG(status)), secs);
    return true;
}

static size_t alert_exec_reap_all(struct alert_exec *ex);

static void alert_job_exit_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    alert_exec_reap_all(((struct alert_job *)arg)->ex);
}

static void alert_sigchld_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    alert_exec_reap_all(arg);
}

/* exec_timeout: the hook and whatever it started in its process group. */
static void alert_job_kill_cb(evutil_socket_t fd, short what, void *arg)
{
    struct alert_job *job = arg;

    (void)fd;
    (void)what;
    job->killed = true;
    /* still our unreaped child, so the pid (and its group) cannot have
     * been reused */
    if (kill(-job->pid, SIGKILL) < 0 && kill(job->pid, SIGKILL) < 0)
        log_warn("alert: exec %s (%s): cannot kill pid %ld", job->prog, job->what, (long)job->pid);
}

/* NAME=value strings for the environment. */
struct alert_env {
    char *vars[ALERT_EXEC_NVARS];
    size_t n;
};

static void alert_env_add(struct alert_env *e, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void alert_env_add(struct alert_env *e, const char *name, const char *fmt, ...)
{
    char *val = NULL, *var = NULL;
    va_list ap;

    if (e->n == ALERT_EXEC_NVARS)
        return;
    va_start(ap, fmt);
    if (vasprintf(&val, fmt, ap) < 0)
        val = NULL;
    va_end(ap);
    if (val == NULL)
        return;
    if (asprintf(&var, "NETDIAG_%s=%s", name, val) >= 0)
        e->vars[e->n++] = var;
    free(val);
}

static void alert_env_fill(struct alert_env *e, const char *instance, const struct alert_notice *n)
{
    char t[40], win[32];

    alert_env_add(e, "EVENT", "%s", alert_event_name(n->event));
    alert_env_add(e, "REPEAT", "%d", n->repeat ? 1 : 0);
    alert_env_add(e, "SCOPE", "%s", n->host ? "host" : "target");
    alert_env_add(e, "ALERT_ID", "%" PRId64, n->id);
    alert_env_add(e, "TARGET", "%s", n->target);
    alert_env_add(e, "TARGETS", "%s", n->host ? n->targets : n->target);
    alert_env_add(e, "CLASS", "%s", n->watch_class ? n->watch_class : "");
    alert_env_add(e, "METRIC", "%s", alert_metric_name(n->metric));
    alert_env_add(e, "WSA_CODE", "%d", n->wsa_code);
    alert_env_add(e, "WSA_NAME", "%s", n->wsa_name ? n->wsa_name : "");
    alert_env_add(e, "MEANING", "%s", n->meaning ? n->meaning : "");
    alert_env_add(e, "COUNT", "%" PRId64, n->count);
    alert_env_add(e, "ATTEMPTS", "%" PRId64, n->attempts);
    alert_env_add(e, "PEAK", "%" PRId64, n->peak);
    if (n->metric == ALERT_METRIC_LATENCY) {
        /* µs, whole: what a script compares */
        alert_env_add(e, "FIGURE", "%s", n->figure ? n->figure : "");
        if (!n->host)
            alert_env_add(e, "VALUE", "%.0f", n->value);
        alert_env_add(e, "BASELINE", "%.0f", n->baseline);
        if (!n->host)
            alert_env_add(e, "THRESHOLD", "%.0f", n->threshold);
    } else if (n->metric == ALERT_METRIC_LOSS) {
        if (!n->host)
            alert_env_add(e, "VALUE", "%.4f", n->value);
        alert_env_add(e, "BASELINE", "%.4f", n->baseline);
        if (!n->host)
            alert_env_add(e, "THRESHOLD", "%.4f", n->threshold);
    } else {
        alert_env_add(e, "BASELINE", "%.2f", n->baseline);
        if (!n->host)
            alert_env_add(e, "THRESHOLD", "%.2f", n->threshold);
    }
    timefmt_duration(n->window_ms, TIMEFMT_EXACT, win, sizeof(win));
    alert_env_add(e, "WINDOW", "%s", win);
    timefmt_iso(n->started_ms, true, t, sizeof(t));
    alert_env_add(e, "STARTED", "%s", t);
    alert_env_add(e, "STARTED_MS", "%" PRId64, n->started_ms);
    if (n->resolved_ms > 0) {
        timefmt_iso(n->resolved_ms, true, t, sizeof(t));
        alert_env_add(e, "RESOLVED", "%s", t);
        alert_env_add(e, "RESOLVED_MS", "%" PRId64, n->resolved_ms);
    }
    alert_env_add(e, "DETAIL", "%s", n->detail);
    if (n->icmp) {
        /* who refused, when an ICMP error did (only then: a script tests
         * whether NETDIAG_ICMP_TYPE is set) */
        alert_env_add(e, "ICMP_FROM", "%s", n->icmp_from);
        alert_env_add(e, "ICMP_TYPE", "%u", n->icmp_type);
        alert_env_add(e, "ICMP_CODE", "%u", n->icmp_code);
    }
    alert_env_add(e, "HOST", "%s", instance);
}

/* The daemon's environment without NETDIAG_* (so a stale variable can
 * never pose as a fact), then ours. The strings are borrowed. */
static char **alert_env_build(const struct alert_env *e)
{
    size_t n = 0, k = 0;
    char **envp;

    for (char **p = environ; p != NULL && *p != NULL; p++)
        n++;
    envp = calloc(n + e->n + 1, sizeof(*envp));
    if (envp == NULL)
        return NULL;
    for (char **p = environ; p != NULL && *p != NULL; p++)
        if (strncmp(*p, "NETDIAG_", 8) != 0)
            envp[k++] = *p;
    for (size_t i = 0; i < e->n; i++)
        envp[k++] = e->vars[i];
    envp[k] = NULL;
    return envp;
}

/* posix_spawn with a clean slate: stdin from /dev/null, no inherited
 * descriptors beyond stdout/stderr (the journal), default signal
 * dispositions (the daemon ignores SIGPIPE), its own process group. */
static int alert_spawn(char *const argv[], char *const envp[], pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t all, none;
    int rc;

    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1);
#endif
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK |
                                        POSIX_SPAWN_SETPGROUP);
    rc = posix_spawn(pid, argv[0], &fa, &attr, argv, envp);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    return rc;
}

static int alert_exec_watch(struct alert_exec *ex, struct alert_job *job)
{
    struct timeval tv = {(time_t)(job->timeout_ms / 1000),
                         (suseconds_t)(job->timeout_ms % 1000) * 1000};

#ifdef SYS_pidfd_open
    job->pidfd = (int)syscall(SYS_pidfd_open, job->pid, 0);
#else
    job->pidfd = -1;
    errno = ENOSYS;
#endif
    if (job->pidfd >= 0) {
        job->ev_exit =
            event_new(ex->base, job->pidfd, EV_READ | EV_PERSIST, alert_job_exit_cb, job);
        if (job->ev_exit == NULL || event_add(job->ev_exit, NULL) < 0)
            return -1;
    } else if (ex->ev_sigchld == NULL) {
        /* kernels before 5.3 */
        ex->ev_sigchld = evsignal_new(ex->base, SIGCHLD, alert_sigchld_cb, ex);
        if (ex->ev_sigchld == NULL || evsignal_add(ex->ev_sigchld, NULL) < 0)
            return -1;
    }
    job->ev_kill = evtimer_new(ex->base, alert_job_kill_cb, job);
    if (job->ev_kill == NULL || evtimer_add(job->ev_kill, &tv) < 0)
        return -1;
    return 0;
}

static void alert_exec_start(struct alert_exec *ex, const char *command, int64_t timeout_ms,
                             const char *instance, const struct alert_notice *n)
{
    char *copy = strdup(command), *save = NULL;
    char *argv[ALERT_EXEC_MAX_WORDS + 1];
    struct alert_env env = {.n = 0};
    char **envp = NULL;
    struct alert_job *job = NULL;
    size_t argc = 0;
    int rc;

    if (copy == NULL)
        goto oom;
    /* words split on blanks and nothing else: no quotes, no variables,
     * no globbing, so a value can never become code */
    for (char *w = strtok_r(copy, " \t", &save); w != NULL && argc < ALERT_EXEC_MAX_WORDS;
         w = strtok_r(NULL, " \t", &save))
        argv[argc++] = w;
    argv[argc] = NULL;
    if (argc == 0)
        goto out;
    alert_env_fill(&env, instance, n);
    envp = alert_env_build(&env);
    job = calloc(1, sizeof(*job));
    if (envp == NULL || job == NULL)
        goto oom;
    job->ex = ex;
    job->pidfd = -1;
    job->timeout_ms = timeout_ms;
    util_strlcpy(job->prog, argv[0], sizeof(job->prog));
    snprintf(job->what, sizeof(job->what), "%s %s %s%s", n->target, alert_notice_name(n),
             alert_event_name(n->event), n->repeat ? " again" : "");
    rc = alert_spawn(argv, envp, &job->pid);
    if (rc != 0) {
        errno = rc;
        log_warn("alert: exec %s (%s): cannot run", job->prog, job->what);
        free(job);
        job = NULL;
        goto out;
    }
    job->start_us = util_mono_us();
    job->next = ex->jobs;
    ex->jobs = job;
    ex->nrunning++;
    if (alert_exec_watch(ex, job) < 0)
        log_warnx("alert: exec %s (%s): cannot watch pid %ld; it will not be reaped or timed out",
                  job->prog, job->what, (long)job->pid);
    goto out;
oom:
    log_warnx("alert: exec %s: out of memory", command);
    free(job);
out:
    for (size_t i = 0; i < env.n; i++)
        free(env.vars[i]);
    free(envp);
    free(copy);
}

void alert_exec_run(struct alert_exec *ex, const char *command, int64_t timeout_ms,
                    const char *instance, const struct alert_notice *n)
{
    struct alert_pending *q;

    if (ex == NULL || command == NULL || command[0] == '\0')
        return;
    if (ex->nrunning < ALERT_EXEC_MAX_RUNNING && ex->qcount == 0) {
        alert_exec_start(ex, command, timeout_ms, instance, n);
        return;
    }
    if (ex->qcount == ALERT_EXEC_QUEUE_MAX) {
        alert_exec_drop(ex, command, n);
        return;
    }
    q = &ex->queue[(ex->qhead + ex->qcount) % ALERT_EXEC_QUEUE_MAX];
    q->command = strdup(command);
    q->instance = strdup(instance);
    if (q->command == NULL || q->instance == NULL) {
        free(q->command);
        free(q->instance);
        q->command = q->instance = NULL;
        log_warnx("alert: exec %s: out of memory", command);
        return;
    }
    q->timeout_ms = timeout_ms;
    q->n = *n;
    ex->qcount++;
}

/* Reaps what has exited among the running hooks; returns how many run. */
static size_t alert_exec_reap_all(struct alert_exec *ex)
{
    struct alert_job **pp = &ex->jobs;

    while (*pp != NULL) {
        struct alert_job *job = *pp;
        if (!alert_job_reap(job)) {
            pp = &job->next;
            continue;
        }
        *pp = job->next;
        ex->nrunning--;
        alert_job_free(job);
    }
    alert_exec_next(ex);
    return ex->nrunning;
}

/* Shutdown (the loop has stopped): hooks that still run get SIGTERM with
 * their process groups, SIGKILL ALERT_EXEC_STOP_MS later, and are reaped
 * here; queued runs are dropped, and said so. */
void alert_exec_free(struct alert_exec *ex)
{
    struct alert_job *job, *next;
    int64_t deadline;

    if (ex == NULL)
        return;
    if (ex->qcount > 0)
        log_warnx("alert: exec: %zu queued hook run%s not started: shutting down", ex->qcount,
                  ex->qcount == 1 ? "" : "s");
    for (size_t i = 0; i < ex->qcount; i++) {
        struct alert_pending *q = &ex->queue[(ex->qhead + i) % ALERT_EXEC_QUEUE_MAX];
        free(q->command);
        free(q->instance);
    }
    ex->qcount = 0;
    alert_exec_droplog(ex);
    if (ex->ev_droplog)
        event_free(ex->ev_droplog);
    ex->ev_droplog = NULL;
    ex->stopping = true;
    for (job = ex->jobs; job != NULL; job = job->next) {
        job->stopped = true;
        if (kill(-job->pid, SIGTERM) < 0)
            kill(job->pid, SIGTERM);
    }
    deadline = util_mono_us() + ALERT_EXEC_STOP_MS * 1000LL;
    while (alert_exec_reap_all(ex) > 0 && util_mono_us() < deadline)
        usleep(10000);
    for (job = ex->jobs; job != NULL; job = job->next)
        if (kill(-job->pid, SIGKILL) < 0)
            kill(job->pid, SIGKILL);
    deadline = util_mono_us() + ALERT_EXEC_STOP_MS * 1000LL;
    while (alert_exec_reap_all(ex) > 0 && util_mono_us() < deadline)
        usleep(10000);
    for (job = ex->jobs; job != NULL; job = next) {
        next = job->next;
        log_warnx("alert: exec %s (%s): pid %ld did not end at shutdown", job->prog, job->what,
                  (long)job->pid);
        alert_job_free(job);
    }
    if (ex->ev_sigchld)
        event_free(ex->ev_sigchld);
    free(ex);
}
