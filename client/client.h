/* SPDX-License-Identifier: ISC */
/* What the netdiag commands share: the parsed global options, the command
 * table entry type, exit codes, and each command's entry point (main.c owns
 * the table; cmd_*.c own the commands). */
#ifndef NETDIAG_CLIENT_H
#define NETDIAG_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "output.h"

struct wsa_code;

/* Exit codes, listed in netdiag(1) EXIT STATUS. */
enum client_exit {
    CLIENT_EXIT_OK = 0,
    CLIENT_EXIT_RUNTIME = 1, /* a write error, a database error */
    CLIENT_EXIT_USAGE = 2,   /* bad arguments, unknown code */
    CLIENT_EXIT_NO_DB = 3,   /* the database file does not exist */
    CLIENT_EXIT_BAD_DB = 4,  /* not a netdiag database, or a newer schema */
    CLIENT_EXIT_STALE = 5,   /* status: netdiagd not running, or its state unknown */
};

/* The default database, as in conf/netdiag.ini [daemon] database, and the
 * configuration it is looked up in first. */
#define CLIENT_DEFAULT_DB     "/var/lib/netdiag/netdiag.db"
#define CLIENT_DEFAULT_CONFIG "/etc/netdiag/netdiag.ini"
/* The newest schema (PRAGMA user_version) these queries were written for;
 * test_client checks it against STORE_SCHEMA_VERSION, so a schema change
 * cannot slip past the client unreviewed. Older versions (from 1) are read
 * too: a database netdiagd has not migrated yet (db->version). */
#define CLIENT_SCHEMA_VERSION 10
/* How long a query waits for a database that is locked or recovering. */
#define CLIENT_BUSY_TIMEOUT_MS 2000
/* Where a traced path (paths AS p, schema 8) stopped, in words, as
 * `failures` and `alerts` add it to a detail in their tables. */
#define CLIENT_PATH_STOP_SQL                                                                       \
    "CASE WHEN p.reached THEN 'path reached ' || p.dest || ' at hop ' || p.stop_ttl "              \
    "WHEN p.stop_ttl IS NULL THEN 'path: no answer from hop 1 on' ELSE 'path stops after hop ' "   \
    "|| p.stop_ttl || ' (' || coalesce(p.stop_addr, 'this host') || ')' END"
/* Test hook: "now" as an ISO-8601 time, so golden outputs stay stable. */
#define CLIENT_NOW_ENV "NETDIAG_NOW"

/* An option, global or of one command; one table drives both getopt_long
 * and the help text. */
struct client_option {
    const char *long_name;
    char short_name; /* 0: none */
    const char *arg; /* argument name shown in help; NULL: a flag */
    const char *help;
    bool repeat; /* may be given more than once (and takes comma lists) */
};

#define CLIENT_MAX_CMD_OPTIONS 16

struct client;

struct command {
    const char *name;
    /* Runs the command on its positional arguments (options removed);
     * returns an exit code. */
    int (*run)(struct client *cl, int argc, char **argv);
    const char *args; /* positional arguments in usage, "WHAT"; "" if none */
    int min_args, max_args;
    const char *summary; /* one line for `netdiag --help` */
    const char *help;    /* a paragraph for `netdiag COMMAND --help` */
    /* The command's own options, ending with a {NULL} entry; NULL if none.
     * At most CLIENT_MAX_CMD_OPTIONS. */
    const struct client_option *options;
};

struct client {
    FILE *out;
    const char *db_path;     /* --db; NULL: from -c's [daemon] database, or the default */
    const char *config_path; /* -c; NULL: none */
    enum output_format format;
    bool wide;
    bool utc;
    bool has_since, has_until;
    int64_t since_ms, until_ms; /* ms since the epoch */
    int width_cols;             /* what table output fits */
    int64_t now_ms;             /* the wall clock, or $NETDIAG_NOW */
    const struct command *cmd;
    /* Values of the command's options, by index in cmd->options; NULL when
     * not given, "" for a flag that is set; the last one given. */
    const char *cmd_values[CLIENT_MAX_CMD_OPTIONS];
    /* Every value of a repeatable option, in order. */
    const char **cmd_lists[CLIENT_MAX_CMD_OPTIONS];
    size_t cmd_nlist[CLIENT_MAX_CMD_OPTIONS];
    /* Test hook (tests/fuzz/fuzz_client.c): called once the command line
     * is read, just before the command runs; it may change what the
     * command reads (db_path, width_cols). false: exit 0 without running
     * it. NULL in netdiag itself. */
    bool (*before_run)(struct client *cl);
};

/* main.c: the value of the command's option `long_name` (NULL when not
 * given), and every value of a repeatable one (*n = 0 when not given). */
const char *client_opt(const struct client *cl, const char *long_name);
const char *const *client_opt_list(const struct client *cl, const char *long_name, size_t *n);

/* main.c: print "netdiag: CMD: message; see 'netdiag CMD --help'" on one
 * line and return CLIENT_EXIT_USAGE. */
int client_usage_error(const struct client *cl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* main.c: something the reader of the output must know (the data is
 * stale, a range was widened): in a table, a line before it on the
 * output; in JSON and CSV, which must stay plain data, a line
 * "netdiag: note: ..." on standard error. */
void client_note(const struct client *cl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* main.c: text wrapped to the table width on the output. */
void client_wrap(const struct client *cl, const char *text);
/* main.c: report a failed write of the command's output; returns
 * CLIENT_EXIT_RUNTIME. */
int client_write_error(void);
/* main.c: flush what a command wrote to fp: CLIENT_EXIT_OK, or
 * client_write_error() when it could not all be written. */
int client_flush(FILE *fp);

/* cmd_codes.c */
int cmd_codes_run(struct client *cl, int argc, char **argv);
int cmd_explain_run(struct client *cl, int argc, char **argv);
/* The code a --code value names: a number, a WSA name with or without its
 * prefix, an errno, EAI_* or DNS outcome name (as `explain` reads them).
 * NULL when unknown, with "unknown code "X"; closest: ..." in msg. */
const struct wsa_code *codes_lookup(const char *what, char *msg, size_t msglen);

/* cmd_failures.c, cmd_summary.c, cmd_timeline.c, cmd_targets.c */
int cmd_failures_run(struct client *cl, int argc, char **argv);
int cmd_summary_run(struct client *cl, int argc, char **argv);
int cmd_timeline_run(struct client *cl, int argc, char **argv);
int cmd_targets_run(struct client *cl, int argc, char **argv);
int cmd_alerts_run(struct client *cl, int argc, char **argv);
/* cmd_latency.c */
int cmd_latency_run(struct client *cl, int argc, char **argv);
/* cmd_status.c */
int cmd_status_run(struct client *cl, int argc, char **argv);
int cmd_path_run(struct client *cl, int argc, char **argv);
/* web.c */
#define WEB_DEFAULT_LISTEN "127.0.0.1:9471"
int cmd_web_run(struct client *cl, int argc, char **argv);

/* cmd_export.c */
int cmd_export_run(struct client *cl, int argc, char **argv);

/* main.c: run one command line (argv[0] the program) as netdiag does, its
 * output on `out`; returns its exit code. `netdiag web` answers each API
 * request and builds each page through it, so that they say what the
 * commands say. */
int client_run(FILE *out, int argc, char **argv);

#endif
