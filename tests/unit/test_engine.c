/* Unit tests of the probe engine's scheduling (daemon/probe.c): the gate
 * that holds scheduled starts back, and the schedule statistics. Real
 * connect probes to a closed loopback port, on a real libevent loop. */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "log.h"
#include "probe.h"
#include "unit.h"
#include "util.h"

struct run {
    bool gate_open;
    uint64_t results_closed; /* results that came while the gate was shut */
    uint64_t results_open;
    uint64_t refused;
};

static void sink(const struct result *r, void *arg)
{
    struct run *run = arg;

    if (run->gate_open)
        run->results_open++;
    else
        run->results_closed++;
    if (r->wsa_code == 10061)
        run->refused++;
}

static bool gate(void *arg)
{
    return ((struct run *)arg)->gate_open;
}

static void open_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ((struct run *)arg)->gate_open = true;
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopexit(arg, NULL);
}

/* A port nothing listens on: bound, then closed. */
static int closed_port(void)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;

    if (fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
        port = ntohs(sin.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static struct config *targets_config(int n, const char *interval)
{
    char path[] = "/tmp/test_engine.XXXXXX";
    int fd = mkstemp(path), port = closed_port(), nerr = 0;
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    struct config *cfg;

    if (f == NULL || port == 0)
        return NULL;

    fprintf(f,
            "[daemon]\ndatabase = /nonexistent/x.db\n[defaults]\ninterval = %s\n"
            "timeout = 40ms\n",
            interval);
    for (int i = 0; i < n; i++)
        fprintf(f, "[target t%03d]\nkind = connect\nhost = 127.0.0.1\nport = %d\n", i, port);
    fclose(f);
    cfg = config_load(path, stderr, &nerr);
    unlink(path);
    return cfg;
}

/* Starts the gate holds back wait (they are not started, nor dropped) and
 * count as late; once it opens every target runs. */
static void test_gate_holds_scheduled_starts(void)
{
    struct event_base *base = event_base_new();
    struct config *cfg = targets_config(20, "50ms");
    struct run run = {.gate_open = false};
    struct timeval open_at = {0, 300000}, stop_at = {0, 700000};
    struct event *ev_open = evtimer_new(base, open_cb, &run);
    struct event *ev_stop = evtimer_new(base, stop_cb, base);
    struct engine *eng = engine_new(base, NULL, sink, &run);
    struct engine_sched_stats ss;

    UNIT_CHECK(cfg != NULL);
    if (cfg == NULL)
        return;
    engine_set_gate(eng, gate, &run);
    engine_set_targets(eng, cfg, false);
    evtimer_add(ev_open, &open_at);
    evtimer_add(ev_stop, &stop_at);
    event_base_dispatch(base);
    engine_schedule_stats(eng, &ss);

    UNIT_EQ_INT(run.results_closed, 0);
    /* 20 targets at 50 ms for the 400 ms the gate was open: ~160 */
    UNIT_CHECK(run.results_open >= 40);
    UNIT_EQ_INT(run.refused, run.results_open);
    UNIT_CHECK(ss.held >= 20);
    /* every first slot came within 50 ms and waited till 300 ms */
    UNIT_CHECK(ss.max_us >= 200000);

    engine_stop(eng);
    engine_free(eng);
    event_free(ev_open);
    event_free(ev_stop);
    config_free(cfg);
    event_base_free(base);
}

/* Without a gate nothing is held, every target runs on its interval. */
static void test_no_gate_runs_every_target(void)
{
    struct event_base *base = event_base_new();
    struct config *cfg = targets_config(20, "50ms");
    struct run run = {.gate_open = true};
    struct timeval stop_at = {0, 500000};
    struct event *ev_stop = evtimer_new(base, stop_cb, base);
    struct engine *eng = engine_new(base, NULL, sink, &run);
    struct engine_sched_stats ss;

    UNIT_CHECK(cfg != NULL);
    if (cfg == NULL)
        return;
    engine_set_targets(eng, cfg, false);
    evtimer_add(ev_stop, &stop_at);
    event_base_dispatch(base);
    engine_schedule_stats(eng, &ss);

    UNIT_EQ_INT(ss.held, 0);
    /* 500 ms at 50 ms: about 10 each, the first slot anywhere in the first
     * 50 ms; a loaded sanitizer build may lose a few */
    UNIT_CHECK(run.results_open >= 20 * 6);
    UNIT_CHECK(run.results_open <= 20 * 11);
    UNIT_EQ_INT(run.refused, run.results_open);
    UNIT_EQ_INT(ss.starts, run.results_open + engine_in_flight(eng));

    engine_stop(eng);
    engine_free(eng);
    event_free(ev_stop);
    config_free(cfg);
    event_base_free(base);
}

int main(void)
{
    log_init(LOG_LEVEL_ERROR);
    UNIT_RUN(test_gate_holds_scheduled_starts);
    UNIT_RUN(test_no_gate_runs_every_target);
    return UNIT_END("test_engine");
}
