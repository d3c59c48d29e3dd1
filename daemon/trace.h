/* SPDX-License-Identifier: ISC */
/* The path tracer: when a target goes from ok to failing for a reason of
 * the network, and now and then while it is healthy, the path to the
 * address it probed is traced with the probe's own protocol and port and
 * rising TTLs, unprivileged, the answers read from the error queue as
 * iputils' tracepath does (owned by trace.c). */
#ifndef NETDIAG_TRACE_H
#define NETDIAG_TRACE_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "result.h"
#include "util.h"

struct event_base;
struct store;

enum trace_why {
    TRACE_BASELINE = 0, /* a healthy target's path, kept to compare with */
    TRACE_FAILURE = 1,  /* traced when the target began to fail */
};
const char *trace_why_name(enum trace_why why);

enum trace_proto {
    TRACE_TCP,
    TRACE_UDP,
    TRACE_ICMP,
};
const char *trace_proto_name(enum trace_proto proto);

/* What one hop said. */
enum hop_said {
    HOP_SILENT,  /* no answer within hop_timeout, probes times */
    HOP_TTL,     /* time exceeded: a router on the way */
    HOP_UNREACH, /* destination unreachable / prohibited, from a router:
                  * the path stops here */
    HOP_REACHED, /* the destination answered (connected, refused, port
                  * unreachable from itself, an echo reply, a datagram) */
};
const char *trace_hop_said_name(enum hop_said said);

/* A trace stops after this many silent hops in a row (nothing beyond a
 * router that drops everything answers either; tracepath and mtr go on to
 * max_hops, which costs max_hops x probes x hop_timeout). */
#define TRACE_SILENT_MAX 3

struct trace_hop {
    uint8_t ttl;
    uint8_t said; /* enum hop_said */
    bool icmp;    /* type and code are an ICMP message's */
    uint8_t icmp_type, icmp_code;
    union nd_sockaddr from; /* who answered (family 0: nobody) */
    int32_t rtt_us;         /* -1: silent */
};

/* One finished trace, as the store keeps it. */
struct trace_path {
    int64_t target_id;
    int64_t ts_ms;         /* wall clock at its start */
    int64_t failure_ts_ms; /* the failure it explains (its ts); 0: baseline */
    int64_t duration_us;
    enum trace_why why;
    enum trace_proto proto;
    uint16_t port;
    union nd_sockaddr dest;
    bool reached;
    uint16_t packets; /* probes sent */
    uint8_t nhops;
    struct trace_hop hops[CONFIG_PATH_HOPS_MAX];
};

/* The state machine of one trace, without sockets: which TTL to probe
 * next and what the answers mean (trace.c drives it from the loop, the
 * unit test from a fake network). */
struct trace_run {
    int max_hops, probes;
    int ttl;    /* being probed now; 0 before the first */
    int tries;  /* probes sent at this TTL */
    int silent; /* silent hops in a row */
    bool done;
    struct trace_path *path;
};
void trace_run_init(struct trace_run *run, struct trace_path *path, int max_hops, int probes);
/* The TTL of the next probe to send, or 0 when the trace is over. */
int trace_run_next(struct trace_run *run);
/* The probe at run->ttl was answered. */
void trace_run_answer(struct trace_run *run, enum hop_said said, const struct sockaddr *from,
                      bool icmp, uint8_t type, uint8_t code, int32_t rtt_us);
/* The probe at run->ttl timed out. */
void trace_run_timeout(struct trace_run *run);

/* An address alone, without its port ("10.99.3.2", "fd99:3::2"); "" for
 * none. */
void trace_addr_text(const union nd_sockaddr *a, char *buf, size_t len);

/* Where a finished trace stopped: the hop index (into path->hops) of the
 * last hop that answered, -1 when none did. */
int trace_path_last_answer(const struct trace_path *path);

/* Whether a failed result is one the network caused (a timeout, an
 * unreachable, a prohibition, a refusal that did not come from the
 * target itself): those start a failure trace. */
bool trace_cause_is_network(const struct result *r);

struct tracer;

typedef void (*tracer_done_fn)(const struct trace_path *path, void *arg);

/* A tracer on base; done gets every finished trace (main.c: the store). */
struct tracer *tracer_new(struct event_base *base, const struct config *cfg, tracer_done_fn done,
                          void *arg);
/* A reload: new limits for traces started from now on (those running
 * keep theirs); per-target state is keyed by the target's row id and
 * survives. */
void tracer_set_config(struct tracer *tr, const struct config *cfg);
/* Every result (loop thread): may start a trace. */
void tracer_observe(struct tracer *tr, const struct result *r);
/* Stops every trace in flight (no path is stored for them). */
void tracer_free(struct tracer *tr);

struct tracer_stats {
    uint64_t started, finished, skipped_busy, packets;
    size_t in_flight, in_flight_max;
};
void tracer_get_stats(const struct tracer *tr, struct tracer_stats *out);

#endif
