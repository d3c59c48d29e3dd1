/* SPDX-License-Identifier: ISC */
/* SIGHUP reloads: a thread reads and checks the new configuration and
 * records its targets while the loop goes on probing; the loop only swaps
 * the finished config in. Loading a config for running, with its errors
 * bounded, is here too (owned by reload.c). */
#ifndef NETDIAG_RELOAD_H
#define NETDIAG_RELOAD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "store.h"

struct event_base;
struct reload;

/* What the daemon does at each step; all called on the loop's thread. */
struct reload_ops {
    void *arg;
    /* A reload starts (the first, or one asked for during the last). */
    void (*begin)(void *arg);
    /* Optional, ON THE RELOAD THREAD once ncfg is valid and recorded:
     * build what the swap needs from ncfg alone (tables, files read), so
     * that the loop only swaps pointers. It must not touch what the loop
     * owns. Its result goes to swap, or to discard when no swap comes
     * (the daemon stops); either is called exactly once. */
    void *(*prepare)(void *arg, struct config *ncfg);
    void (*discard)(void *arg, void *prepared);
    /* ncfg is valid and its targets are recorded: swap it in. Returns the
     * config it replaces, which the reload thread frees. */
    struct config *(*swap)(void *arg, struct config *ncfg, void *prepared);
    /* The reload ended: ok (swapped), or not with nerr errors in the file
     * (logged already) or, nerr 0, the database refused the targets.
     * read_us: reading, checking and recording, off the loop; swap_us:
     * the swap, on it. */
    void (*end)(void *arg, bool ok, int nerr, int64_t read_us, int64_t swap_us);
};

/* Reloads of `path`; `st` (may be NULL) records the targets. Returns NULL
 * when the loop cannot be woken (no eventfd). */
struct reload *reload_new(struct event_base *base, const char *path, struct store *st,
                          const struct reload_ops *ops);

/* SIGHUP: start a reload against `running` (the config the loop runs), or
 * when one runs, have the file read once more after it: however many
 * SIGHUPs come meanwhile, one more reload. */
void reload_request(struct reload *r, const struct config *running);

/* Shutdown, before the store closes: no more reloads; a running one ends
 * without swapping (its thread is joined). */
void reload_stop(struct reload *r);
void reload_free(struct reload *r);

/* Load `path` for running: config_load(), then config_check_run(); errors
 * printed to errs. */
struct config *reload_load(const char *path, bool once, FILE *errs, int *nerrors);
/* The same with the errors through the logger, at most 100 lines (the
 * rest counted): under journald, where each line carries its level. */
struct config *reload_load_logged(const char *path, bool once, int *nerrors);

#endif
