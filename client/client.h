/* What the netdiag commands share: the parsed global options, the command
 * table entry type, exit codes, and each command's entry point (main.c owns
 * the table; cmd_*.c own the commands). */
#ifndef NETDIAG_CLIENT_H
#define NETDIAG_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "output.h"

/* Exit codes, listed in netdiag(1) EXIT STATUS. */
enum client_exit {
    CLIENT_EXIT_OK = 0,
    CLIENT_EXIT_RUNTIME = 1, /* a write error, a database error */
    CLIENT_EXIT_USAGE = 2,   /* bad arguments, unknown code */
    CLIENT_EXIT_NO_DB = 3,   /* the database file does not exist */
    CLIENT_EXIT_BAD_DB = 4,  /* not a netdiag database, or a newer schema */
};

/* The default database, as in conf/netdiag.ini [daemon] database. */
#define CLIENT_DEFAULT_DB "/var/lib/netdiag/netdiag.db"

/* An option, global or of one command; one table drives both getopt_long
 * and the help text. */
struct client_option {
    const char *long_name;
    char short_name; /* 0: none */
    const char *arg; /* argument name shown in help; NULL: a flag */
    const char *help;
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
    const struct command *cmd;
    /* Values of the command's options, by index in cmd->options; NULL when
     * not given, "" for a flag that is set. */
    const char *cmd_values[CLIENT_MAX_CMD_OPTIONS];
};

/* main.c: print "netdiag: CMD: message; see 'netdiag CMD --help'" on one
 * line and return CLIENT_EXIT_USAGE. */
int client_usage_error(const struct client *cl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* main.c: report a failed write of the command's output; returns
 * CLIENT_EXIT_RUNTIME. */
int client_write_error(void);

/* cmd_codes.c */
int cmd_codes_run(struct client *cl, int argc, char **argv);
int cmd_explain_run(struct client *cl, int argc, char **argv);

#endif
