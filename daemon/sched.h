/* SPDX-License-Identifier: ISC */
/* The engine's schedule: one binary min-heap of every probe's next
 * wake-up (its next start when idle, its deadline when running) behind
 * one libevent timer, the fixed-rate starts spread over each interval
 * with jitter on a 1 ms grid, the gate that may hold starts back, and
 * how late starts were (owned by sched.c). */
#ifndef NETDIAG_SCHED_H
#define NETDIAG_SCHED_H

#include <stdbool.h>
#include <stdint.h>

struct event_base;
struct sched;

/* Scheduled starts fall on multiples of this (CLOCK_MONOTONIC). */
#define SCHED_SLOT_US 1000
/* Wake-ups handled per turn of the loop before it looks at I/O again. */
#define SCHED_WAKE_BURST 256
/* Starts the gate holds back are tried again this much later. */
#define SCHED_HOLD_US 1000

/* What is scheduled (a probe holds one). */
struct sched_node {
    int64_t next_us; /* its next scheduled start: what lateness is measured from */
    uint32_t idx;    /* its place in the heap; SCHED_NONE: not in it */
};
#define SCHED_NONE UINT32_MAX

/* Called for each node whose wake-up has come, earliest first. `open` is
 * the gate's answer for this burst; a start the gate holds back returns
 * false and is tried again SCHED_HOLD_US later (its next_us stays, so its
 * lateness counts). Deadlines are never held: return true. */
typedef bool (*sched_wake_fn)(struct sched_node *n, bool open, void *arg);
/* Asked once per burst of wake-ups: false holds the starts back. */
typedef bool (*sched_gate_fn)(void *arg);

/* A schedule on `base` (NULL: no timer; the caller runs sched_run(), as
 * the unit tests do), its timer at libevent priority `prio` (-1: the
 * default), seeded from the system's random bytes. NULL when out of
 * memory. */
struct sched *sched_new(struct event_base *base, int prio, sched_wake_fn wake, void *arg);
void sched_free(struct sched *s);

/* For tests: the clock (CLOCK_MONOTONIC in µs by default) and the seed of
 * the jitter. */
void sched_set_clock(struct sched *s, int64_t (*now_us)(void));
void sched_seed(struct sched *s, uint64_t seed);
void sched_set_gate(struct sched *s, sched_gate_fn fn, void *arg);

/* Wake n at at_us (absolute), replacing the wake-up it had. */
void sched_arm(struct sched *s, struct sched_node *n, int64_t at_us);
/* No wake-up for n (none is fine). */
void sched_cancel(struct sched *s, struct sched_node *n);
/* n's first start: at a random point of its first interval from now, on
 * the slot grid; armed. */
void sched_first(struct sched *s, struct sched_node *n, int64_t interval_us);
/* n's next start on its fixed-rate schedule, skipping slots already past
 * (a start is never repeated to catch up); armed. */
void sched_next(struct sched *s, struct sched_node *n, int64_t interval_us);
/* n starts now: its lateness (now - next_us) is counted. */
void sched_count_start(struct sched *s, const struct sched_node *n);

/* The timer's work: every node whose wake-up has come, in order, at most
 * SCHED_WAKE_BURST (the rest after the loop has seen its I/O). */
void sched_run(struct sched *s);

/* How late scheduled starts were (µs); timers that woke early were
 * re-armed and are counted, never started early. */
struct sched_stats {
    uint64_t starts;
    int64_t p50_us, p99_us, max_us;
    uint64_t early_wakeups;
    uint64_t held; /* starts held back by the gate (each retry counts) */
};
void sched_stats(const struct sched *s, struct sched_stats *out);

#endif
