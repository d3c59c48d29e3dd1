/* SPDX-License-Identifier: ISC */
/* What the runs table (schema 3) says of netdiagd: running, stopped,
 * killed or hung, or unknown; the one line every command prints before
 * data that is not fresh (owned by state.c). */
#ifndef NETDIAG_STATE_H
#define NETDIAG_STATE_H

#include <stdbool.h>
#include <stdint.h>

struct client;
struct db;

/* A heartbeat older than this, without a clean stop: not running. The
 * daemon rewrites it at least every 2 s. */
#define STATE_FRESH_MS 10000

enum state_kind {
    STATE_UNKNOWN,     /* no runs table, no row, or a table netdiag cannot read */
    STATE_RUNNING,     /* heartbeat fresh, no stop, the pid alive where it can be checked */
    STATE_STOPPED,     /* a clean stop recorded */
    STATE_NOT_RUNNING, /* no stop recorded, the heartbeat is old or the pid gone */
};

/* The newest row of runs. */
struct state_run {
    int64_t id, pid;
    char hostname[256], version[64], config[4096];
    int64_t started_ms, heartbeat_ms, stopped_ms; /* stopped_ms -1: NULL */
    int64_t results, failures, dropped, targets;
};

struct state {
    enum state_kind kind;
    bool have_run; /* run holds the newest row */
    struct state_run run;
    bool this_host;   /* run.hostname is this machine's name */
    bool pid_gone;    /* on this host, kill(pid, 0) said ESRCH */
    int64_t since_ms; /* STOPPED: the stop; NOT_RUNNING: the last heartbeat */
    char why[160];    /* STATE_UNKNOWN: why */
};

const char *state_name(enum state_kind kind); /* "running", "stopped", ... */

/* Read and judge. Returns 0, or an exit code after printing one line
 * (only for a database error; a missing or foreign runs table is
 * STATE_UNKNOWN). */
int state_read(const struct client *cl, struct db *db, struct state *st);

/* The one line that says the data is not fresh, "" when it is:
 * "netdiagd stopped at 11-24 10:00:00 (5m00s ago); nothing newer is
 * recorded". */
void state_line(const struct client *cl, const struct state *st, char *buf, size_t len);

/* state_read() and, unless the daemon runs, the line as a client_note().
 * `out` (may be NULL) receives the state. */
int state_note(const struct client *cl, struct db *db, struct state *out);

#endif
