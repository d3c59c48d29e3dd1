/* SPDX-License-Identifier: ISC */
/* The schedule of the probe engine: every probe's next wake-up (its next
 * start when idle, its deadline when running) in one binary min-heap
 * behind one libevent timer: one timerfd re-arm and one epoll wake-up
 * serve every probe due in the same SCHED_SLOT_US, where a timer per
 * probe cost both per probe (and 144 bytes of memory per target). Starts
 * are spread over each target's interval with jitter (chrony's
 * SCH_AddTimeoutInClass separation and randomness), on a grid. */
#include <stdlib.h>

#include <event2/event.h>
#include <event2/util.h>

#include "array.h"
#include "hist.h"
#include "log.h"
#include "sched.h"
#include "util.h"

/* A wake-up that comes this much before its time is counted as early
 * (and re-armed: nothing is ever started or timed out early). */
#define SCHED_EARLY_SLACK_US 100

/* Why a grid (SCHED_SLOT_US): targets are still spread over their
 * interval with jitter, at this resolution, so the probes due in the same
 * millisecond share one wake-up. A wake-up costs ~20 us of CPU here
 * (epoll, timerfd, a context switch), far more than a start; at 10,000
 * targets a second this divides them by ~10 and adds no lateness
 * (intervals are whole milliseconds, so every slot stays on the grid).
 * Chrony groups its timeouts the same way. */

/* The key sits in the heap array beside its node: sifting compares
 * neighbours in one array instead of visiting probes scattered over
 * memory (that was a tenth of the scheduler's CPU at 10k targets). */
struct sched_slot {
    int64_t at_us;
    struct sched_node *n;
};

struct sched {
    struct event_base *base; /* NULL: no timer, sched_run() by hand */
    struct event *ev_wake;
    int64_t wake_armed_us; /* when ev_wake fires; INT64_MAX: not armed */
    int64_t (*now_us)(void);
    sched_wake_fn wake;
    void *arg;
    sched_gate_fn gate; /* may hold scheduled starts back */
    void *gate_arg;

    struct sched_slot *heap;
    size_t nheap, heap_cap;

    uint64_t rng;           /* splitmix64 state: the jitter */
    struct hist lateness;   /* scheduled start -> actual start, µs */
    uint64_t early_wakeups; /* the timer fired early; re-armed */
    uint64_t held;
};

static void sched_wake_cb(evutil_socket_t fd, short what, void *arg);

struct sched *sched_new(struct event_base *base, int prio, sched_wake_fn wake, void *arg)
{
    struct sched *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return NULL;
    s->base = base;
    s->wake_armed_us = INT64_MAX;
    s->now_us = util_mono_us;
    s->wake = wake;
    s->arg = arg;
    evutil_secure_rng_get_bytes(&s->rng, sizeof(s->rng));
    if (base != NULL) {
        s->ev_wake = evtimer_new(base, sched_wake_cb, s);
        if (s->ev_wake == NULL) {
            free(s);
            return NULL;
        }
        if (prio >= 0)
            event_priority_set(s->ev_wake, prio);
    }
    return s;
}

void sched_free(struct sched *s)
{
    if (s == NULL)
        return;
    if (s->ev_wake != NULL)
        event_free(s->ev_wake);
    free(s->heap);
    free(s);
}

void sched_set_clock(struct sched *s, int64_t (*now_us)(void))
{
    s->now_us = now_us;
}

void sched_seed(struct sched *s, uint64_t seed)
{
    s->rng = seed;
}

void sched_set_gate(struct sched *s, sched_gate_fn fn, void *arg)
{
    s->gate = fn;
    s->gate_arg = arg;
}

static void sched_place(struct sched *s, size_t i, struct sched_slot w)
{
    s->heap[i] = w;
    w.n->idx = (uint32_t)i;
}

static void sched_up(struct sched *s, size_t i)
{
    struct sched_slot w = s->heap[i];

    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (s->heap[parent].at_us <= w.at_us)
            break;
        sched_place(s, i, s->heap[parent]);
        i = parent;
    }
    sched_place(s, i, w);
}

static void sched_down(struct sched *s, size_t i)
{
    struct sched_slot w = s->heap[i];

    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= s->nheap)
            break;
        if (c + 1 < s->nheap && s->heap[c + 1].at_us < s->heap[c].at_us)
            c++;
        if (w.at_us <= s->heap[c].at_us)
            break;
        sched_place(s, i, s->heap[c]);
        i = c;
    }
    sched_place(s, i, w);
}

void sched_cancel(struct sched *s, struct sched_node *n)
{
    size_t i = n->idx;
    struct sched_slot last;

    if (i == SCHED_NONE)
        return;
    n->idx = SCHED_NONE;
    last = s->heap[--s->nheap];
    if (last.n == n)
        return;
    sched_place(s, i, last);
    sched_up(s, i);
    sched_down(s, last.n->idx);
}

/* The one timer every node waits on. libevent fails to add a timer only
 * when it cannot grow its heap (out of memory): then no probe would ever
 * start or time out again, silently, so that is fatal. */
static void sched_timer_add(struct sched *s, const struct timeval *tv)
{
    if (s->ev_wake != NULL && evtimer_add(s->ev_wake, tv) < 0)
        fatalx("engine: cannot arm the probe timer (out of memory)");
}

/* Arm the timer for the heap's first wake-up; a timer already armed for
 * then or earlier is left alone (one that fires with nothing due
 * re-arms, which is rare and cheap). libevent adds the delay to the time
 * it cached at the start of this loop turn: refresh that cache after
 * reading the clock, so the timer can fire late but never early. */
static void sched_timer_arm(struct sched *s)
{
    int64_t at, rel;
    struct timeval tv;

    if (s->nheap == 0)
        return;
    at = s->heap[0].at_us;
    if (at >= s->wake_armed_us)
        return;
    s->wake_armed_us = at;
    rel = at - s->now_us() + 1; /* +1: timeval rounding never early */
    if (rel < 0)
        rel = 0;
    tv.tv_sec = rel / 1000000;
    tv.tv_usec = rel % 1000000;
    if (s->base != NULL)
        event_base_update_cache_time(s->base);
    sched_timer_add(s, &tv);
}

void sched_arm(struct sched *s, struct sched_node *n, int64_t at_us)
{
    size_t i = n->idx;

    if (i == SCHED_NONE) {
        if (ARRAY_RESERVE(s->heap, s->heap_cap, s->nheap + 1) < 0)
            fatalx("out of memory");
        i = s->nheap++;
        sched_place(s, i, (struct sched_slot){at_us, n});
        sched_up(s, i);
    } else {
        int64_t was = s->heap[i].at_us;
        s->heap[i].at_us = at_us;
        if (at_us < was)
            sched_up(s, i);
        else
            sched_down(s, i);
    }
    sched_timer_arm(s);
}

/* The jitter: splitmix64 from one seed per schedule. When a probe starts
 * is no secret (a resolve query's ID and port are), and a getrandom(2) per
 * new target was a system call each on the loop: a tenth of a reload's
 * swap of 200,000 targets. */
static uint64_t sched_rand(struct sched *s)
{
    uint64_t z = (s->rng += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void sched_first(struct sched *s, struct sched_node *n, int64_t interval_us)
{
    uint32_t r = (uint32_t)(sched_rand(s) >> 32);

    n->next_us = s->now_us() + (int64_t)((double)r / 4294967296.0 * (double)interval_us);
    n->next_us = (n->next_us / SCHED_SLOT_US + 1) * SCHED_SLOT_US;
    sched_arm(s, n, n->next_us);
}

void sched_next(struct sched *s, struct sched_node *n, int64_t interval_us)
{
    int64_t now = s->now_us();

    n->next_us += interval_us;
    if (n->next_us <= now)
        n->next_us += ((now - n->next_us) / interval_us + 1) * interval_us;
    sched_arm(s, n, n->next_us);
}

void sched_count_start(struct sched *s, const struct sched_node *n)
{
    /* read the clock per start: the last of a slot's starts comes later
     * than the first, and the figure must say so */
    hist_add(&s->lateness, s->now_us() - n->next_us);
}

void sched_run(struct sched *s)
{
    int64_t now = s->now_us();
    int64_t armed = s->wake_armed_us;
    struct sched_node *held[SCHED_WAKE_BURST];
    size_t nheld = 0;
    bool open;

    s->wake_armed_us = INT64_MAX;
    if (now < armed - SCHED_EARLY_SLACK_US && (s->nheap == 0 || s->heap[0].at_us > now))
        s->early_wakeups++; /* libevent woke us early: nothing due, re-arm */
    /* only what was due when the turn began: a deadline that passes while
     * this burst starts probes waits for the I/O that came meanwhile */
    open = s->gate == NULL || s->gate(s->gate_arg);
    for (int k = 0; k < SCHED_WAKE_BURST && s->nheap > 0 && s->heap[0].at_us <= now; k++) {
        struct sched_node *n = s->heap[0].n;
        sched_cancel(s, n);
        if (!s->wake(n, open, s->arg))
            held[nheld++] = n; /* its slot (next_us) stays: lateness counts */
    }
    for (size_t i = 0; i < nheld; i++) {
        s->held++;
        sched_arm(s, held[i], now + SCHED_HOLD_US);
    }
    if (s->nheap > 0 && s->heap[0].at_us <= now) {
        /* a burst left some due: come back after the loop's I/O */
        struct timeval zero = {0, 0};
        s->wake_armed_us = now;
        sched_timer_add(s, &zero);
        return;
    }
    sched_timer_arm(s);
}

static void sched_wake_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    sched_run(arg);
}

void sched_stats(const struct sched *s, struct sched_stats *out)
{
    out->starts = s->lateness.count;
    out->p50_us = hist_quantile(&s->lateness, 0.50);
    out->p99_us = hist_quantile(&s->lateness, 0.99);
    out->max_us = s->lateness.max;
    out->early_wakeups = s->early_wakeups;
    out->held = s->held;
}
