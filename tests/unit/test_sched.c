/* SPDX-License-Identifier: ISC */
/* Unit tests for sched.c, the engine's schedule, on a clock the test
 * sets: no wall clock, no event loop, no sleep. The heap wakes nodes in
 * time order, re-arms and cancels anywhere in it, bounds a burst, the gate
 * holds starts (never deadlines) back, and the fixed-rate schedule spreads
 * first starts over the interval on the slot grid and skips missed slots. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched.h"
#include "unit.h"

static int64_t fake_now;

static int64_t fake_clock(void)
{
    return fake_now;
}

struct item {
    struct sched_node sn;
    int id;
    bool deadline; /* the gate never holds it */
};

struct log {
    int ids[4096];
    int64_t at[4096];
    size_t n;
    bool count_starts;
    struct sched *s;
};

static bool wake(struct sched_node *n, bool open, void *arg)
{
    struct log *l = arg;
    struct item *it = (struct item *)(void *)n; /* sn is the first member */

    if (!open && !it->deadline)
        return false;
    if (l->n < 4096) {
        l->ids[l->n] = it->id;
        l->at[l->n++] = fake_now;
    }
    if (l->count_starts && !it->deadline)
        sched_count_start(l->s, n);
    return true;
}

static struct sched *new_sched(struct log *l)
{
    struct sched *s = sched_new(NULL, -1, wake, l);

    if (s != NULL) {
        sched_set_clock(s, fake_clock);
        sched_seed(s, 42);
    }
    memset(l, 0, sizeof(*l));
    l->s = s;
    return s;
}

static void item_init(struct item *it, int id)
{
    memset(it, 0, sizeof(*it));
    it->sn.idx = SCHED_NONE;
    it->id = id;
}

static void test_wakes_in_time_order(void)
{
    struct log l;
    struct sched *s = new_sched(&l);
    struct item it[4];

    fake_now = 0;
    for (int i = 0; i < 4; i++)
        item_init(&it[i], i);
    sched_arm(s, &it[0].sn, 30);
    sched_arm(s, &it[1].sn, 10);
    sched_arm(s, &it[2].sn, 20);
    sched_arm(s, &it[3].sn, 40);
    sched_arm(s, &it[3].sn, 5);  /* moved earlier */
    sched_arm(s, &it[1].sn, 35); /* moved later */
    fake_now = 25;
    sched_run(s);
    UNIT_EQ_INT(l.n, 2);
    UNIT_EQ_INT(l.ids[0], 3);
    UNIT_EQ_INT(l.ids[1], 2);
    UNIT_EQ_INT(it[3].sn.idx, SCHED_NONE); /* woken: out of the heap */
    sched_cancel(s, &it[0].sn);
    sched_cancel(s, &it[0].sn); /* twice is fine */
    fake_now = 100;
    sched_run(s);
    UNIT_EQ_INT(l.n, 3);
    UNIT_EQ_INT(l.ids[2], 1);
    sched_free(s);
}

/* Many nodes armed, re-armed and cancelled at random (a fixed sequence):
 * every node still armed wakes exactly once, in time order. */
static void test_heap_against_a_list(void)
{
    enum { N = 1000 };
    static struct item it[N];
    int64_t want[N];
    struct log l;
    struct sched *s = new_sched(&l);
    uint64_t x = 12345;
    size_t armed = 0;

    fake_now = 0;
    for (int i = 0; i < N; i++) {
        item_init(&it[i], i);
        want[i] = -1;
    }
    for (int k = 0; k < 20000; k++) {
        int i;
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        i = (int)((x >> 33) % N);
        if ((x >> 20) % 4 == 0) {
            sched_cancel(s, &it[i].sn);
            want[i] = -1;
        } else {
            want[i] = (int64_t)((x >> 40) % 100000) + 1;
            sched_arm(s, &it[i].sn, want[i]);
        }
    }
    for (int i = 0; i < N; i++)
        armed += want[i] >= 0;
    /* wake everything, a burst at a time */
    fake_now = 200000;
    for (int r = 0; r < 10 && l.n < armed; r++)
        sched_run(s);
    UNIT_EQ_INT(l.n, armed);
    for (size_t j = 0; j < l.n; j++) {
        UNIT_CHECK(want[l.ids[j]] >= 0);
        if (j > 0 && want[l.ids[j]] < want[l.ids[j - 1]]) {
            UNIT_CHECK(!"woken in time order");
            break;
        }
        want[l.ids[j]] = -2; /* once */
    }
    sched_free(s);
}

/* At most a burst per run: the loop sees its I/O between bursts. */
static void test_burst_is_bounded(void)
{
    enum { N = SCHED_WAKE_BURST + 44 };
    static struct item it[N];
    struct log l;
    struct sched *s = new_sched(&l);

    fake_now = 1000;
    for (int i = 0; i < N; i++) {
        item_init(&it[i], i);
        sched_arm(s, &it[i].sn, 500 + i);
    }
    sched_run(s);
    UNIT_EQ_INT(l.n, SCHED_WAKE_BURST);
    sched_run(s);
    UNIT_EQ_INT(l.n, N);
    sched_free(s);
}

static bool gate_open;

static bool gate(void *arg)
{
    (void)arg;
    return gate_open;
}

/* A closed gate holds starts back SCHED_HOLD_US at a time, counted; a
 * deadline due in the same burst is not held. The lateness of the held
 * starts counts from their scheduled slot. */
static void test_gate_holds_starts_not_deadlines(void)
{
    struct log l;
    struct sched *s = new_sched(&l);
    struct item start, dl;
    struct sched_stats st;

    l.count_starts = true;
    sched_set_gate(s, gate, NULL);
    gate_open = false;
    item_init(&start, 1);
    item_init(&dl, 2);
    dl.deadline = true;
    fake_now = 0;
    start.sn.next_us = 10000;
    sched_arm(s, &start.sn, start.sn.next_us);
    sched_arm(s, &dl.sn, 10000);
    fake_now = 10000;
    sched_run(s);
    UNIT_EQ_INT(l.n, 1);
    UNIT_EQ_INT(l.ids[0], 2);
    UNIT_CHECK(start.sn.idx != SCHED_NONE); /* held: armed again */
    fake_now += SCHED_HOLD_US;
    sched_run(s); /* still closed: held again */
    UNIT_EQ_INT(l.n, 1);
    gate_open = true;
    fake_now += SCHED_HOLD_US;
    sched_run(s);
    UNIT_EQ_INT(l.n, 2);
    UNIT_EQ_INT(l.ids[1], 1);
    UNIT_EQ_INT(l.at[1], 10000 + 2 * SCHED_HOLD_US);
    sched_stats(s, &st);
    UNIT_EQ_INT(st.held, 2);
    UNIT_EQ_INT(st.starts, 1);
    UNIT_CHECK(st.max_us >= 2 * SCHED_HOLD_US);
    sched_free(s);
}

/* The fixed rate: the next start is one interval after the last slot,
 * or, after a stall, the first slot still ahead (no catching up). */
static void test_next_skips_missed_slots(void)
{
    struct log l;
    struct sched *s = new_sched(&l);
    struct item it;

    item_init(&it, 1);
    it.sn.next_us = 1000000;
    fake_now = 1000500;
    sched_next(s, &it.sn, 100000);
    UNIT_EQ_INT(it.sn.next_us, 1100000);
    fake_now = 1350000; /* three slots missed */
    sched_next(s, &it.sn, 100000);
    UNIT_EQ_INT(it.sn.next_us, 1400000);
    fake_now = 1500000; /* exactly on the slot: that one is past */
    sched_next(s, &it.sn, 100000);
    UNIT_EQ_INT(it.sn.next_us, 1600000);
    fake_now = 1600000;
    sched_run(s);
    UNIT_EQ_INT(l.n, 1);
    sched_free(s);
}

/* First starts: within one interval from now, on the slot grid, spread
 * over it (the same spread for the same seed). */
static void test_first_starts_spread_on_the_grid(void)
{
    enum { N = 2000 };
    static struct item it[N];
    struct log l;
    struct sched *s = new_sched(&l);
    const int64_t iv = 10000000, now = 123456789;
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    size_t quarter[4] = {0};

    fake_now = now;
    for (int i = 0; i < N; i++) {
        item_init(&it[i], i);
        sched_first(s, &it[i].sn, iv);
        lo = it[i].sn.next_us < lo ? it[i].sn.next_us : lo;
        hi = it[i].sn.next_us > hi ? it[i].sn.next_us : hi;
        if (it[i].sn.next_us % SCHED_SLOT_US != 0)
            UNIT_EQ_INT(it[i].sn.next_us % SCHED_SLOT_US, 0);
        if (it[i].sn.next_us > now && it[i].sn.next_us <= now + iv + SCHED_SLOT_US)
            quarter[(it[i].sn.next_us - now - 1) * 4 / (iv + SCHED_SLOT_US)]++;
    }
    UNIT_CHECK(lo > now);
    UNIT_CHECK(hi <= now + iv + SCHED_SLOT_US);
    for (int q = 0; q < 4; q++)
        UNIT_CHECK(quarter[q] > N / 8); /* about N/4 each */
    /* they wake at their slots, in order */
    fake_now = now + iv + SCHED_SLOT_US;
    for (int r = 0; r < 20 && l.n < N; r++)
        sched_run(s);
    UNIT_EQ_INT(l.n, N);
    sched_free(s);
}

/* A timer that fires before anything is due is counted and re-armed;
 * nothing wakes early. */
static void test_early_wakeup_counted(void)
{
    struct log l;
    struct sched *s = new_sched(&l);
    struct item it;
    struct sched_stats st;

    item_init(&it, 1);
    fake_now = 0;
    sched_arm(s, &it.sn, 5000);
    fake_now = 4000;
    sched_run(s);
    UNIT_EQ_INT(l.n, 0);
    sched_stats(s, &st);
    UNIT_EQ_INT(st.early_wakeups, 1);
    fake_now = 5000;
    sched_run(s);
    UNIT_EQ_INT(l.n, 1);
    sched_stats(s, &st);
    UNIT_EQ_INT(st.early_wakeups, 1);
    sched_free(s);
}

int main(int argc, char **argv)
{
    unit_init(argc, argv);
    UNIT_RUN(test_wakes_in_time_order);
    UNIT_RUN(test_heap_against_a_list);
    UNIT_RUN(test_burst_is_bounded);
    UNIT_RUN(test_gate_holds_starts_not_deadlines);
    UNIT_RUN(test_next_skips_missed_slots);
    UNIT_RUN(test_first_starts_spread_on_the_grid);
    UNIT_RUN(test_early_wakeup_counted);
    return UNIT_END("sched");
}
