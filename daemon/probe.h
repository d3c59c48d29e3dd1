/* SPDX-License-Identifier: ISC */
/* The one interface every probe kind implements and the engine helpers a
 * kind uses to watch sockets and complete (the engine is probe.c, its
 * schedule sched.c; the kinds are probe_connect.c, probe_resolve.c,
 * probe_send.c, probe_ping.c). What an attempt produces is a struct result (result.h). */
#ifndef NETDIAG_PROBE_H
#define NETDIAG_PROBE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config.h"
#include "result.h"
#include "sched.h"
#include "util.h"
#include "wsa.h"

struct event_base;
struct event;
struct resolv;
struct resolv_lookup;
struct resolv_result;

/* Where results go (main.c sets it: --once printer, store, alert, metrics). */
typedef void (*probe_sink_fn)(const struct result *res, void *arg);

struct probe;
typedef void (*probe_io_fn)(struct probe *p, short what);

/* A probe kind. `start` begins one attempt against p->addr (for resolve:
 * against the configured server) and must not block; it ends the attempt
 * by calling exactly one of the probe_complete_* functions, possibly from
 * inside start() itself. `abort` releases kind-private resources that the
 * engine does not own (the engine already closes p->fd and stops p->ev_io);
 * it may be NULL. The engine calls abort on deadline and shutdown, and
 * never calls a kind callback again for that attempt afterwards. */
struct probe_ops {
    enum target_kind kind;
    const char *name;
    bool needs_address; /* the engine resolves host:port first */
    void (*start)(struct probe *p);
    void (*abort)(struct probe *p);
    /* Optional: a few words on what the attempt saw, appended to the detail
     * of a timeout ("2 packets ignored: wrong id"); called before abort.
     * Returns true when part of an answer came ("10 bytes arrived ..."):
     * the detail then says "timed out after", not "no answer within". */
    bool (*describe)(struct probe *p, char *buf, size_t len);
    /* Optional: the deadline passed (no look-up pending); the kind ends
     * the attempt itself with one probe_complete_* call, instead of the
     * engine's WSAETIMEDOUT (ping: the replies that came make a success). */
    void (*deadline)(struct probe *p);
    /* Optional: fill the kind's own fields of the result of the attempt
     * ending now, after the engine's (ping: echo counts, RTTs). */
    void (*finish)(struct probe *p, struct result *r);
    /* Optional: the target goes away (reload, shutdown), after abort:
     * drop every reference to p outside it, just before kstate is freed. */
    void (*release)(struct probe *p);
};

extern const struct probe_ops probe_connect_ops;
extern const struct probe_ops probe_resolve_ops;
extern const struct probe_ops probe_send_ops;
extern const struct probe_ops probe_ping_ops;

/* probe_ping.c: whether cfg's ping targets can have an ICMP socket here
 * (a datagram one, or a raw one). 0 when they can or there are none;
 * -1 with what to set in msg (netdiagd -t and the start warn with it). */
int probe_ping_check(const struct config *cfg, char *msg, size_t len);

/* Per-target engine state; allocated when the target is loaded, reused by
 * every attempt. Kinds may read everything and write the fields marked. */
struct probe {
    struct target *t;
    const struct probe_ops *ops;
    struct engine *eng;

    /* the current attempt */
    int64_t start_us;       /* util_mono_us() at start */
    int64_t deadline_us;    /* start_us + timeout: absolute, never moves */
    union nd_sockaddr addr; /* remote address (connect/send) */
    socklen_t addrlen;
    enum probe_phase phase; /* kind writes: the phase it is in now */
    int fd;                 /* kind writes via probe_watch(); engine closes */
    bool running;
    bool ok_on_deadline; /* kind writes: deadline expiry means success (a UDP
                          * send without expect that saw no ICMP error) */
    /* engine-private flags */
    bool literal;        /* host is an address: p->addr is fixed */
    bool keep_fd;        /* probe_keep_socket() for the attempt ending now */
    bool fd_kept;        /* p->fd is counted in the engine's kept sockets */
    bool started_once;   /* --once: this target has been started */
    struct event *ev_io; /* engine-owned: taken from the engine's free list
                          * by probe_watch(), given back when p->fd closes;
                          * NULL while there is no socket */
    void *kstate;        /* kind-private, one malloc'd block allocated once by
                          * the kind on first use; the engine free()s it */

    /* engine-private; every field counts at 100,000 targets */
    probe_io_fn ev_io_cb;
    struct resolv_lookup *rl; /* a name look-up in flight */
    void (*lookup_cb)(struct probe *p, const struct resolv_result *res);
    union nd_sockaddr *addrs;       /* resolved list (host names only) */
    const union nd_sockaddr *local; /* probe_set_local() override, or NULL */
    uint32_t naddrs, addr_idx, addrs_cap;
    int64_t ts_ms;
    struct sched_node sn;  /* the next start (next_us), and the wake-up
                            * armed (the next start when idle, the
                            * deadline when running) */
    int64_t log_next_us;   /* no transition line before this */
    int state_code;        /* WSA code last logged (0 ok), -1 before any */
    uint16_t changes_held; /* changes from result to result since then */
    int16_t last_code;     /* WSA code of the last result, -1 before any */
};

/* Register `fd` (non-blocking) as the attempt's socket and wait for `what`
 * (EV_READ/EV_WRITE) on it; `cb` runs with the events seen. The engine
 * closes the fd with SO_LINGER 0 when the attempt ends. Calling it again
 * with the same fd changes what is waited for. Returns 0 or -1 (errno). */
int probe_watch(struct probe *p, int fd, short what, probe_io_fn cb);

/* Close the attempt's socket now (SO_LINGER 0), so that the kind can open
 * another within the same attempt (DNS: UDP, then TCP after TC). */
void probe_close_socket(struct probe *p);

/* Ask the engine to keep the attempt's socket (still watched, same
 * callback) for the next attempt instead of closing it when this attempt
 * completes; call it just before the probe_complete_* call. The next
 * start() then finds p->fd >= 0. Anything the socket reports between
 * attempts (a late packet, an ICMP error) closes it, as does shutdown.
 * Returns false, keeping nothing, when the engine's budget of kept
 * sockets (a quarter of RLIMIT_NOFILE) is spent or the target's interval
 * is longer than a minute. */
bool probe_keep_socket(struct probe *p);

/* The engine's event loop, for kinds with sockets shared by targets. */
struct event_base *probe_event_base(const struct probe *p);

/* The engine's stub resolver (resolv.c), for kinds that look names up. */
struct resolv *probe_resolv(const struct probe *p);

/* Look `name` up (family AF_INET, AF_INET6 or AF_UNSPEC) through the
 * engine's resolver: the hosts file, then resolv.conf's nameservers. `cb`
 * gets the result, possibly before this returns (a literal, the hosts
 * file, no nameserver reachable). While it is pending the engine owns the
 * look-up: the deadline, an abort, a reload and shutdown cancel it at
 * once, and cb is then never called. */
typedef void (*probe_lookup_fn)(struct probe *p, const struct resolv_result *res);
void probe_lookup(struct probe *p, const char *name, int family, probe_lookup_fn cb);
/* A look-up that gave no address as the attempt's result, phase resolve:
 * the DNS outcome (NXDOMAIN, NODATA, SERVFAIL, TIMEOUT, ...) with the
 * nameserver as the remote address, a socket error of every nameserver,
 * or a hosts-file name without the family (probe_complete_no_address). */
void probe_complete_lookup_error(struct probe *p, const struct resolv_result *res, int af);
/* A name in the hosts file without a single address of the family asked.
 * Phase resolve, WSANO_DATA, raw EAI_ADDRFAMILY (EAI_NODATA for family
 * any), `detail` says what happened. */
void probe_complete_no_address(struct probe *p, const char *detail);

/* Remaining time before the deadline, in µs (<= 0: expired). */
int64_t probe_remaining_us(const struct probe *p);

/* Bring the deadline closer (never later than the current one). */
void probe_shorten_deadline(struct probe *p, int64_t deadline_us);

/* Kinds reach target data only through p->t, never through pointers cached
 * across callbacks: a reload may swap p->t for an identical new target. */

/* Completions: classify, time-stamp, fill local/remote from p->fd and
 * p->addr when the kind did not, hand the result to the sink, release the
 * attempt. Exactly one per attempt. `detail` may be NULL. */
void probe_complete_ok(struct probe *p, const char *detail);
void probe_complete_errno(struct probe *p, enum probe_phase phase, int err, const char *detail);
void probe_complete_eai(struct probe *p, int eai, const char *detail);
void probe_complete_dns(struct probe *p, enum dns_outcome outcome, int rcode, const char *detail);
/* An answer that did not contain `expect`: phase verify; the code and raw
 * name depend on the kind (wsa_mismatch(), see wsa.c for why). */
void probe_complete_mismatch(struct probe *p, const char *detail);

/* Override the addresses shown in the result (otherwise taken from p->fd's
 * getsockname() and p->addr). probe_set_local() keeps the pointer, not a
 * copy (the kind's state holds the address); it describes the current
 * socket, so closing that socket drops it. */
void probe_set_local(struct probe *p, const union nd_sockaddr *sa);
void probe_set_remote(struct probe *p, const struct sockaddr *sa);

/* The engine: targets, their timers, the sink. */
struct engine;
/* libevent priorities the engine uses (probe sockets before everything
 * else); main.c sets them up on the base before any event exists. */
#define ENGINE_PRIORITIES 2
#define ENGINE_PRIO_IO    0 /* probe sockets and the resolver's */
#define ENGINE_PRIO_OTHER 1
struct engine *probe_engine_new(struct event_base *base, struct resolv *rs, probe_sink_fn sink,
                                void *sink_arg);
/* Give the engine a config's targets. With once=true every target is
 * probed once, at once (at most ENGINE_ONCE_PARALLEL in flight), and the
 * loop is told to exit when all are done. Targets keep their probe state
 * (schedule, in-flight attempt) across probe_engine_set_targets() calls when name
 * and definition are unchanged (reload); removed and changed targets have
 * their attempt aborted without a result. The engine keeps pointers into
 * cfg: the caller frees the previous config only after this returns. */
#define ENGINE_ONCE_PARALLEL 512
int probe_engine_set_targets(struct engine *eng, struct config *cfg, bool once);
/* A reload's share of probe_engine_set_targets() done on the reload thread, for
 * cfg linked to the running config (config_link_prev): which targets are
 * unchanged, and set-up probes for the rest. It reads only definitions,
 * never what the loop writes. NULL: nothing prepared (the swap does it
 * all). probe_engine_set_targets_prepared() takes it (and frees it). */
struct probe_engine_prepared;
struct probe_engine_prepared *probe_engine_prepare(struct engine *eng, struct config *cfg);
void probe_engine_prepared_free(struct probe_engine_prepared *ep);
int probe_engine_set_targets_prepared(struct engine *eng, struct config *cfg, bool once,
                                      struct probe_engine_prepared *ep);
bool probe_engine_idle(const struct engine *eng);
/* Stop scheduling; attempts in flight are aborted without a result. */
void probe_engine_stop(struct engine *eng);
void probe_engine_free(struct engine *eng);
/* Asked once per burst of scheduled starts: returning false holds them
 * back SCHED_HOLD_US (main.c: while the store's queue is nearly full of
 * results it is writing, so an overloaded daemon probes less instead of
 * dropping results). Deadlines are never held. Their lateness counts. */
void probe_engine_set_gate(struct engine *eng, sched_gate_fn fn, void *arg);
/* How late scheduled starts were (sched.h). */
void probe_engine_schedule_stats(const struct engine *eng, struct sched_stats *out);

/* Once a second (main's status tick): reports transitions that were over
 * the log-line cap, as one line. */
void probe_engine_tick(struct engine *eng);

/* Counters for STATUS= and metrics. */
uint64_t probe_engine_attempts(const struct engine *eng);
size_t probe_engine_in_flight(const struct engine *eng);

#endif
