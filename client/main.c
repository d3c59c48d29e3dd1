/* SPDX-License-Identifier: ISC */
/* netdiag, the query client: global options, the command table, help and
 * dispatch; each command lives in a cmd_*.c file. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "suggest.h"
#include "timearg.h"
#include "util.h"

#define HELP_WIDTH     79 /* help lines stay under 80 columns */
#define HELP_OPT_COL   22 /* where option help text starts */
#define OPT_VAL_GLOBAL 256
#define OPT_VAL_CMD    512

enum global_opt {
    GOPT_DB,
    GOPT_CONFIG,
    GOPT_FORMAT,
    GOPT_WIDE,
    GOPT_UTC,
    GOPT_SINCE,
    GOPT_UNTIL,
    GOPT_HELP,
    GOPT_VERSION,
    GOPT_COUNT,
};

static const struct client_option global_options[GOPT_COUNT + 1] = {
    [GOPT_DB] = {"db", 0, "PATH",
                 "the database netdiagd writes (default: the [daemon] database of the -c "
                 "configuration if readable, else " CLIENT_DEFAULT_DB ")",
                 false},
    [GOPT_CONFIG] =
        {"config", 'c', "FILE",
         "the netdiagd configuration to take the database from (default: " CLIENT_DEFAULT_CONFIG
         ")",
         false},
    [GOPT_FORMAT] = {"format", 0, "FMT", "output format: table (default), json or csv", false},
    [GOPT_WIDE] = {"wide", 0, NULL, "show long fields whole instead of cutting them to fit", false},
    [GOPT_UTC] = {"utc", 0, NULL,
                  "show times in UTC, and read --since/--until times without a zone as UTC", false},
    [GOPT_SINCE] = {"since", 0, "WHEN",
                    "from WHEN on: a duration ago (90s, 15m, 2h, 7d), today, now, or an "
                    "ISO-8601 time",
                    false},
    [GOPT_UNTIL] = {"until", 0, "WHEN", "up to WHEN (same forms as --since)", false},
    [GOPT_HELP] = {"help", 'h', NULL, "show this help; after a command, the command's help", false},
    [GOPT_VERSION] = {"version", 'V', NULL, "show the version", false},
    [GOPT_COUNT] = {NULL, 0, NULL, NULL, false},
};

/* The commands' own options. Filters share their help texts. */
#define OPT_TARGET                                                                                 \
    {                                                                                              \
        "target", 't', "GLOB",                                                                     \
            "only targets whose name matches GLOB (wildcards * ? [...]); repeatable", true         \
    }
#define OPT_CODE                                                                                   \
    {                                                                                              \
        "code", 0, "CODE",                                                                         \
            "only failures with CODE: a number or name (10061, WSAECONNREFUSED, econnrefused); "   \
            "repeatable",                                                                          \
            true                                                                                   \
    }
#define OPT_RAW                                                                                    \
    {                                                                                              \
        "raw", 0, "NAME",                                                                          \
            "only failures whose raw outcome is NAME: what Linux said, an errno (ECONNREFUSED), "  \
            "EAI_* or DNS outcome (TIMEOUT, SERVFAIL); repeatable",                                \
            true                                                                                   \
    }
#define OPT_KIND                                                                                   \
    {                                                                                              \
        "kind", 0, "KIND", "only targets of KIND: connect, resolve, send or ping; repeatable",     \
            true                                                                                   \
    }
#define OPT_END                                                                                    \
    {                                                                                              \
        NULL, 0, NULL, NULL, false                                                                 \
    }

static const struct client_option failures_options[] = {
    OPT_TARGET,
    OPT_CODE,
    OPT_RAW,
    {"phase", 0, "PHASE",
     "only failures in PHASE: resolve, connect, send, recv, verify or none; repeatable", true},
    OPT_KIND,
    {"limit", 'n', "N",
     "show the newest N failures (default 100; 0: all); with --follow, before following "
     "(default 10, with --since all)",
     false},
    {"follow", 'f', NULL,
     "then print new failures as they are stored, until interrupted (JSON: one object a line)",
     false},
    OPT_END,
};

static const struct client_option summary_options[] = {
    {"by", 0, "WHAT", "count by code (default), target, phase or raw (outcome)", false},
    OPT_TARGET,
    OPT_CODE,
    OPT_RAW,
    OPT_KIND,
    OPT_END,
};

static const struct client_option timeline_options[] = {
    {"bucket", 0, "SIZE",
     "bucket width, whole minutes from 1m to 7d: 1m, 5m, 1h, ... (default: the narrowest of "
     "1m, 2m, 5m, 10m, 15m, 30m, 1h, 2h, 3h, 6h, 12h, 1d, 2d, 7d whose chart fits)",
     false},
    {"by", 0, "WHAT", "one row per code (default) or per target", false},
    OPT_TARGET,
    OPT_CODE,
    OPT_RAW,
    OPT_KIND,
    {"color", 0, "WHEN", "colour the chart: auto (default: on a terminal), always or never", false},
    OPT_END,
};

static const struct client_option targets_options[] = {
    {"failing", 0, NULL, "only targets failing now (all or some attempts of their newest minute)",
     false},
    OPT_TARGET,
    OPT_KIND,
    OPT_END,
};

static const struct client_option latency_options[] = {
    {"by", 0, "WHAT",
     "one row per target (default), or per target and minute or hour (whole hours)", false},
    OPT_TARGET,
    OPT_KIND,
    {"chart", 0, NULL,
     "draw one row per target over time: the median as a line, the 10th to 90th percentile as "
     "shading, loss of ping echoes below",
     false},
    {"bucket", 0, "SIZE",
     "with --chart: the bucket width, as for timeline (default: the narrowest that fits; whole "
     "hours where only hourly counts are kept)",
     false},
    {"color", 0, "WHEN", "with --chart: auto (default: on a terminal), always or never", false},
    OPT_END,
};

static const struct client_option web_options[] = {
    {"listen", 0, "ADDR:PORT",
     "the address and port to serve on (default " WEB_DEFAULT_LISTEN "; an address other "
     "than loopback only when given here)",
     false},
    OPT_END,
};

static const struct client_option path_options[] = {
    {"at", 0, "TIME", "the failure at or before TIME (default: the newest)", false},
    OPT_END,
};

static const struct client_option alerts_options[] = {
    {"active", 0, NULL, "only alerts still firing", false},
    OPT_TARGET,
    OPT_CODE,
    OPT_END,
};

static const struct client_option export_options[] = {
    {"follow", 'f', NULL, "go on with new rows as they are stored, until interrupted", false},
    {"after", 0, "POSITION",
     "only the rows stored after this one (the \"position\" of a line printed before)", false},
    {"host", 0, "NAME", "the host field (default: the daemon's host name)", false},
    {"label", 0, "NAME=VALUE", "a label added to every line (repeatable)", true},
    OPT_END,
};

/* One entry per command; `netdiag --help` lists them in this order. */
static const struct command commands[] = {
    {
        .name = "failures",
        .run = cmd_failures_run,
        .args = "",
        .min_args = 0,
        .max_args = 0,
        .summary = "list failed probes, newest first",
        .help = "List failed probes, newest first: time, target, phase, code, name, meaning, "
                "raw error and its value, detail, local and remote address, latency. Without "
                "--since, all the history is searched; --limit caps the rows (default 100). "
                "A table that does not fit the width leaves out the code's number (its name "
                "stays), the kind, the meaning, the raw value, the local address, the raw error, "
                "the remote address, the phase and the detail, in that order, as needed; times "
                "and numbers are never cut; --wide shows every column whole, and a pipe is "
                "never cut. With --follow, new failures as they are stored, until interrupted.",
        .options = failures_options,
    },
    {
        .name = "summary",
        .run = cmd_summary_run,
        .args = "",
        .min_args = 0,
        .max_args = 0,
        .summary = "count failures by code, target, phase or raw outcome, with failure rates",
        .help = "Count the failures of a time range (default: the last 24 hours) by code, by "
                "target, by phase or by raw outcome (--by), most frequent first, with each code's "
                "meaning. "
                "The counts are exact: what netdiagd's per-minute and per-hour counts of every "
                "attempt and its failure rows say for the range, made whole minutes (whole "
                "hours where the minute counts are gone, with a note). The rate is failures "
                "per attempt: by target of the target's own attempts, otherwise of all attempts "
                "of the selected targets; each row gives the attempts it is a share of. "
                "--raw TIMEOUT tells a silent nameserver from SERVFAIL, both WSATRY_AGAIN.",
        .options = summary_options,
    },
    {
        .name = "timeline",
        .run = cmd_timeline_run,
        .args = "",
        .min_args = 0,
        .max_args = 0,
        .summary = "chart failures over time, per code or per target",
        .help = "Chart the failures of a time range (default: the last hour) in time buckets, "
                "one row per code or per target (--by), so a spike stands out. Buckets are "
                "whole: the range widens to bucket boundaries (local time). The bucket width "
                "defaults to the smallest that fits the chart in the width. In a table each "
                "row is a line of bars scaled to the highest bucket of the chart (any failure "
                "shows), coloured on a terminal; JSON and CSV give one record per row and "
                "bucket, zeros included.",
        .options = timeline_options,
    },
    {
        .name = "targets",
        .run = cmd_targets_run,
        .args = "",
        .min_args = 0,
        .max_args = 0,
        .summary = "list targets with their state and success rate, failing ones first",
        .help = "List every target netdiagd has probed, failing ones first, then mixed, ok, "
                "without data and retired: kind, address, its state (from its newest minute "
                "with attempts: failing, mixed or ok; or retired) and since when it has held, "
                "its last failure with its time and code, and over the range (default: the "
                "last 24 hours) its attempts, failures, success rate and mean latency of "
                "successful attempts.",
        .options = targets_options,
    },
    {
        .name = "latency",
        .run = cmd_latency_run,
        .args = "",
        .min_args = 0,
        .max_args = 0,
        .summary = "latency percentiles and loss per target, or a chart of them over time",
        .help = "How long the successful attempts of a time range (default: the last hour) "
                "took, per target, or per target and minute or hour (--by): their 50th, 90th "
                "and 99th percentiles and maximum, from netdiagd's per-minute and per-hour "
                "latency histograms, merged exactly (each percentile within 1/16 of the true "
                "value, never below it), and for ping targets the share of echoes lost; the "
                "attempts counted, over the same whole minutes as summary and targets. With "
                "--chart, one row per target over time, as timeline lays it out: the median "
                "as a line, the 10th to 90th percentile as shading, \"x\" for a bucket without "
                "a successful attempt, and for ping targets a line of loss below.",
        .options = latency_options,
    },
    {
        .name = "path",
        .run = cmd_path_run,
        .args = "TARGET",
        .min_args = 1,
        .max_args = 1,
        .summary = "the path a failing target's probes took, beside its last good path",
        .help = "The path netdiagd traced when TARGET began to fail (the newest such trace, or "
                "the newest at or before --at), hop by hop beside the target's last good path, "
                "mtr-like: TTL, the address that answered, its round trip and what it said "
                "(time exceeded, host unreachable, administratively prohibited with the ICMP "
                "type and code, no answer), first a line saying where it stopped (\"stops "
                "after hop 2 (10.99.2.2, host unreachable); last good path 16:02 went 10.99.1.2 "
                "-> 10.99.2.2 -> 10.99.3.2\") and where it changed (\"path changed at hop 2\"). "
                "Without a failure trace, the newest baseline path. JSON and CSV: one row per "
                "hop with both paths' ids and times.",
        .options = path_options,
    },
    {
        .name = "alerts",
        .run = cmd_alerts_run,
        .args = "",
        .min_args = 0,
        .max_args = 0,
        .summary = "list active and past alerts",
        .help = "List the alerts netdiagd raised, newest first: firing ones and resolved ones "
                "whose time overlaps the range (default: all). Columns: id, state (firing or "
                "resolved), target, code, name, start, end, duration, count of the window "
                "that fired, peak, baseline, attempts, detail and meaning. No alerts is an "
                "empty list, not an error.",
        .options = alerts_options,
    },
    {
        .name = "status",
        .run = cmd_status_run,
        .args = "",
        .min_args = 0,
        .max_args = 0,
        .summary = "is netdiagd running, and how fresh is its data",
        .help = "Say whether netdiagd is running, from the heartbeat it keeps in the database "
                "(schema 3): its pid, host, version, configuration, start and uptime, its last "
                "heartbeat, its stop (if it stopped cleanly), the newest result stored, the "
                "targets configured, failing (failures in the newest two minutes) and retired, "
                "the alerts firing (unknown when the daemon is gone), its counters since it "
                "started (results, failures, dropped), and the database and its size. Exits 0 "
                "when netdiagd runs and its heartbeat is fresh (under 10 s old), 5 when it "
                "stopped, died, hangs or cannot be known.",
    },
    {
        .name = "codes",
        .run = cmd_codes_run,
        .args = "",
        .min_args = 0,
        .max_args = 0,
        .summary = "list the 53 Windows Sockets codes and their meanings",
        .help = "List the 53 Windows Sockets codes netdiagd classifies failures by, in the "
                "order of the Windows Sockets documentation: number, name, standard "
                "meaning, and whether the code is OS dependent. The 10 OS-dependent codes "
                "keep their Windows values (6, 8, 87, 995, 996, 997, 10104 to 10107).",
    },
    {
        .name = "explain",
        .run = cmd_explain_run,
        .args = "WHAT",
        .min_args = 1,
        .max_args = 1,
        .summary = "explain a code, WSA name, errno, EAI_* or DNS outcome",
        .help = "Explain one Windows Sockets code. WHAT is a number (10061), a WSA name in "
                "any case, with or without its WSA prefix (WSAECONNREFUSED, econnrefused), "
                "a Linux errno name (ETIMEDOUT), a getaddrinfo error name (EAI_NONAME) or a "
                "DNS outcome (NXDOMAIN, SERVFAIL); errno, EAI_* and DNS names show the code "
                "netdiagd stores for them. Prints the code, name, meaning, how WHAT was "
                "matched, the errno values, EAI_* errors and DNS outcomes that map onto the "
                "code, and what it usually means on Linux. An unknown WHAT exits 2 and "
                "names the closest known names.",
    },
    {
        .name = "web",
        .run = cmd_web_run,
        .args = "",
        .min_args = 0,
        .max_args = 0,
        .summary = "serve the history as web pages and a JSON API, read-only",
        .help = "Serve read-only web pages of the history (overview, one page per target, "
                "alerts, codes) and a JSON API under /api/ whose answers are those of the "
                "commands with --format json (/api/targets?since=7d is `netdiag targets "
                "--since 7d --format json`), until interrupted. The database is opened "
                "read-only for every request, as every command opens it: it works while "
                "netdiagd runs, after it stopped, and on a copy. Only GET and HEAD are "
                "answered, within bounds on connections, time and size; no file is served.",
        .options = web_options,
    },
    {
        .name = "export",
        .run = cmd_export_run,
        .args = "",
        .min_args = 0,
        .max_args = 0,
        .summary = "the failure rows as JSON lines for a log shipper, resumable",
        .help = "Print every failure row as one JSON object a line, in the order netdiagd "
                "stored them (not by time: a row held back is stored later), each with its "
                "\"position\", the host and the --label pairs, for Vector, Fluent Bit or "
                "rsyslog to carry anywhere. --after POSITION starts after that row, so a "
                "shipper that keeps the last position it sent resumes without a gap or a "
                "repeat, across restarts of netdiagd and of itself; --follow goes on with new "
                "rows until interrupted. The format options do not apply: it is always JSON "
                "lines. Needs schema 4 or later (netdiagd migrates at start).",
        .options = export_options,
    },
};

static int client_unknown_command(struct client *cl, const char *name)
{
    struct suggest sg;
    char hint[256];

    suggest_init(&sg, name);
    for (size_t i = 0; i < ND_ARRAY_LEN(commands); i++)
        suggest_add(&sg, commands[i].name);
    suggest_add(&sg, "help");
    suggest_text(&sg, 0, hint, sizeof(hint));
    return client_usage_error(cl, "unknown command \"%s\"%s", name, hint);
}

/* "unknown option --sinse; did you mean --since?": among the global
 * options and, after the command, its own. */
static int client_unknown_option(struct client *cl, const char *text)
{
    char word[64], hint[256], cands[GOPT_COUNT + CLIENT_MAX_CMD_OPTIONS][64];
    size_t n = 0;
    struct suggest sg;

    util_strlcpy(word, text, sizeof(word));
    word[strcspn(word, "=")] = '\0';
    suggest_init(&sg, word);
    for (size_t i = 0; i < GOPT_COUNT; i++)
        snprintf(cands[n++], sizeof(cands[0]), "--%s", global_options[i].long_name);
    for (size_t i = 0;
         cl->cmd && cl->cmd->options && cl->cmd->options[i].long_name && n < ND_ARRAY_LEN(cands);
         i++)
        snprintf(cands[n++], sizeof(cands[0]), "--%s", cl->cmd->options[i].long_name);
    for (size_t i = 0; i < n; i++)
        suggest_add(&sg, cands[i]);
    suggest_text(&sg, 0, hint, sizeof(hint));
    return client_usage_error(cl, "unknown option \"%s\"%s", text, hint);
}

static const struct command *client_find_command(const char *name)
{
    for (size_t i = 0; i < ND_ARRAY_LEN(commands); i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

int client_usage_error(const struct client *cl, const char *fmt, ...)
{
    va_list ap;

    fputs("netdiag: ", stderr);
    if (cl->cmd != NULL)
        fprintf(stderr, "%s: ", cl->cmd->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (cl->cmd != NULL)
        fprintf(stderr, "; see 'netdiag %s --help'\n", cl->cmd->name);
    else
        fputs("; see 'netdiag --help'\n", stderr);
    return CLIENT_EXIT_USAGE;
}

void client_note(const struct client *cl, const char *fmt, ...)
{
    char text[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (cl->format == OUTPUT_TABLE)
        client_wrap(cl, text); /* one line through a pipe, wrapped to a terminal */
    else
        fprintf(stderr, "netdiag: note: %s\n", text);
}

void client_wrap(const struct client *cl, const char *text)
{
    output_wrap(cl->out, text, cl->wide || cl->width_cols <= 0 ? SIZE_MAX : (size_t)cl->width_cols,
                0);
}

int client_write_error(void)
{
    fprintf(stderr, "netdiag: writing the output: %s\n", strerror(errno));
    return CLIENT_EXIT_RUNTIME;
}

int client_flush(FILE *fp)
{
    return fflush(fp) == 0 && !ferror(fp) ? CLIENT_EXIT_OK : client_write_error();
}

static void help_options(FILE *fp, const struct client_option *opts)
{
    for (const struct client_option *o = opts; o->long_name != NULL; o++) {
        char label[64];
        size_t len;
        if (o->short_name)
            snprintf(label, sizeof(label), "  -%c, --%s%s%s", o->short_name, o->long_name,
                     o->arg ? " " : "", o->arg ? o->arg : "");
        else
            snprintf(label, sizeof(label), "      --%s%s%s", o->long_name, o->arg ? " " : "",
                     o->arg ? o->arg : "");
        fputs(label, fp);
        len = strlen(label);
        if (len + 2 > HELP_OPT_COL) {
            fputc('\n', fp);
            len = 0;
        }
        for (; len < HELP_OPT_COL; len++)
            fputc(' ', fp);
        output_wrap(fp, o->help, HELP_WIDTH - HELP_OPT_COL, HELP_OPT_COL);
    }
}

static void help_usage_line(FILE *fp, const struct command *cmd)
{
    fprintf(fp, "usage: netdiag [OPTIONS] %s%s%s\n", cmd->name, cmd->args[0] ? " " : "", cmd->args);
}

static void help_global(FILE *fp)
{
    fputs("usage: netdiag [OPTIONS] COMMAND [ARGS]\n\n", fp);
    output_wrap(fp,
                "Query client of netdiagd(8), the network diagnostics daemon that "
                "classifies failures by their Windows Sockets code.",
                HELP_WIDTH, 0);
    fputs("\nCommands:\n", fp);
    for (size_t i = 0; i < ND_ARRAY_LEN(commands); i++) {
        char label[64];
        size_t len;
        snprintf(label, sizeof(label), "  %s%s%s", commands[i].name, commands[i].args[0] ? " " : "",
                 commands[i].args);
        fputs(label, fp);
        for (len = strlen(label); len < HELP_OPT_COL; len++)
            fputc(' ', fp);
        output_wrap(fp, commands[i].summary, HELP_WIDTH - HELP_OPT_COL, HELP_OPT_COL);
    }
    fputs("\nOptions (before or after the command):\n", fp);
    help_options(fp, global_options);
    fputs("\nRun 'netdiag COMMAND --help' for the usage of one command.\n", fp);
}

static void help_command(FILE *fp, const struct command *cmd)
{
    help_usage_line(fp, cmd);
    fputc('\n', fp);
    output_wrap(fp, cmd->help, HELP_WIDTH, 0);
    if (cmd->options != NULL) {
        fputs("\nOptions:\n", fp);
        help_options(fp, cmd->options);
    }
    fputs("\nGlobal options (before or after the command):\n", fp);
    help_options(fp, global_options);
}

/* The getopt_long tables for the global options plus, once it is known,
 * the command's: long options return OPT_VAL_GLOBAL + index or
 * OPT_VAL_CMD + index, short ones their letter. */
struct client_getopt {
    struct option longopts[GOPT_COUNT + CLIENT_MAX_CMD_OPTIONS + 1];
    char shortopts[3 + 3 * (GOPT_COUNT + CLIENT_MAX_CMD_OPTIONS) + 1];
};

static void client_getopt_add(struct client_getopt *g, size_t *nlong, size_t *nshort,
                              const struct client_option *o, int val)
{
    g->longopts[*nlong] =
        (struct option){o->long_name, o->arg ? required_argument : no_argument, NULL, val};
    (*nlong)++;
    if (o->short_name) {
        g->shortopts[(*nshort)++] = o->short_name;
        if (o->arg)
            g->shortopts[(*nshort)++] = ':';
    }
}

static void client_getopt_build(struct client_getopt *g, const struct command *cmd)
{
    size_t nlong = 0, nshort = 0;

    /* "+": before the command, stop at the first non-option (the command);
     * after it, let getopt move options behind positional arguments.
     * ":": report a missing argument as ':' rather than '?'. */
    if (cmd == NULL)
        g->shortopts[nshort++] = '+';
    g->shortopts[nshort++] = ':';
    for (size_t i = 0; i < GOPT_COUNT; i++)
        client_getopt_add(g, &nlong, &nshort, &global_options[i], OPT_VAL_GLOBAL + (int)i);
    for (size_t i = 0; cmd && cmd->options && cmd->options[i].long_name; i++) {
        if (i == CLIENT_MAX_CMD_OPTIONS) {
            fprintf(stderr, "netdiag: internal error: %s has too many options\n", cmd->name);
            abort();
        }
        client_getopt_add(g, &nlong, &nshort, &cmd->options[i], OPT_VAL_CMD + (int)i);
    }
    g->longopts[nlong] = (struct option){NULL, 0, NULL, 0};
    g->shortopts[nshort] = '\0';
}

/* Map a short option letter to its getopt_long value. */
static int client_short_val(const struct command *cmd, int c)
{
    for (size_t i = 0; i < GOPT_COUNT; i++)
        if (global_options[i].short_name == c)
            return OPT_VAL_GLOBAL + (int)i;
    for (size_t i = 0; cmd && cmd->options && cmd->options[i].long_name; i++)
        if (cmd->options[i].short_name == c)
            return OPT_VAL_CMD + (int)i;
    return -1;
}

static const struct client_option *client_option_of(const struct command *cmd, int val)
{
    if (val >= OPT_VAL_CMD)
        return cmd != NULL && cmd->options != NULL ? &cmd->options[val - OPT_VAL_CMD] : NULL;
    if (val >= OPT_VAL_GLOBAL && val - OPT_VAL_GLOBAL < GOPT_COUNT)
        return &global_options[val - OPT_VAL_GLOBAL];
    return NULL;
}

/* Options met on the command line that take effect only once all are read
 * (--utc changes how --since is read, wherever it stands). */
struct client_pending {
    bool help, version;
    const char *since, *until;
};

/* Record every comma-separated item of a repeatable option's value; each
 * item is a copy, freed by client_free_lists(). */
static int client_list_add(struct client *cl, size_t i, const char *arg)
{
    size_t before = cl->cmd_nlist[i];

    for (const char *p = arg; *p;) {
        size_t len = strcspn(p, ",");
        const char *item = p;
        const char **l;
        char *copy;
        p += len + (p[len] == ',');
        while (len > 0 && *item == ' ') {
            item++;
            len--;
        }
        while (len > 0 && item[len - 1] == ' ') /* "10061 ,10060" */
            len--;
        if (len == 0)
            continue;
        l = realloc(cl->cmd_lists[i], (cl->cmd_nlist[i] + 1) * sizeof(*l));
        copy = l != NULL ? strndup(item, len) : NULL;
        if (l != NULL)
            cl->cmd_lists[i] = l;
        if (copy == NULL) {
            fputs("netdiag: out of memory\n", stderr);
            return CLIENT_EXIT_RUNTIME;
        }
        l[cl->cmd_nlist[i]++] = copy;
    }
    if (cl->cmd_nlist[i] == before)
        return client_usage_error(cl, "--%s: an empty value", cl->cmd->options[i].long_name);
    return 0;
}

static void client_free_lists(struct client *cl)
{
    for (size_t i = 0; i < CLIENT_MAX_CMD_OPTIONS; i++) {
        for (size_t k = 0; k < cl->cmd_nlist[i]; k++)
            free((char *)cl->cmd_lists[i][k]);
        free(cl->cmd_lists[i]);
        cl->cmd_lists[i] = NULL;
        cl->cmd_nlist[i] = 0;
    }
}

static int client_apply(struct client *cl, struct client_pending *p, int val, const char *arg)
{
    int format;

    if (val >= OPT_VAL_CMD) {
        size_t i = (size_t)(val - OPT_VAL_CMD);
        /* A flag is recorded as "", so NULL keeps meaning "not given". */
        cl->cmd_values[i] = arg != NULL ? arg : "";
        /* cmd is set before any command option can be parsed */
        // NOLINTNEXTLINE(clang-analyzer-core.NullDereference)
        if (cl->cmd->options[i].repeat && arg != NULL)
            return client_list_add(cl, i, arg);
        return 0;
    }
    switch (val - OPT_VAL_GLOBAL) {
    case GOPT_DB:
        cl->db_path = arg;
        break;
    case GOPT_CONFIG:
        cl->config_path = arg;
        break;
    case GOPT_FORMAT:
        format = output_format_from_name(arg);
        if (format < 0)
            return client_usage_error(cl, "--format: unknown format \"%s\" (table, json or csv)",
                                      arg);
        cl->format = (enum output_format)format;
        break;
    case GOPT_WIDE:
        cl->wide = true;
        break;
    case GOPT_UTC:
        cl->utc = true;
        break;
    case GOPT_SINCE:
        p->since = arg;
        break;
    case GOPT_UNTIL:
        p->until = arg;
        break;
    case GOPT_HELP:
        p->help = true;
        break;
    case GOPT_VERSION:
        p->version = true;
        break;
    }
    return 0;
}

/* One getopt_long pass over argv (argv[0] is skipped: the program, or the
 * command in the second pass). Returns 0 or an exit code. */
static int client_parse(struct client *cl, struct client_pending *p, int argc, char **argv)
{
    struct client_getopt g;
    int c, rc;

    client_getopt_build(&g, cl->cmd);
    opterr = 0;
    optind = 0; /* glibc: start afresh, the second pass scans another argv */
    while ((c = getopt_long(argc, argv, g.shortopts, g.longopts, NULL)) != -1) {
        const struct client_option *o;
        if (c == '?' || c == ':') {
            const char *text = argv[optind - 1];
            if (c == ':' && optopt < OPT_VAL_GLOBAL) {
                o = client_option_of(cl->cmd, client_short_val(cl->cmd, optopt));
                return client_usage_error(cl, "option \"-%c\" needs an argument (%s)", optopt,
                                          o != NULL ? o->arg : "a value");
            }
            if (c == ':') {
                o = client_option_of(cl->cmd, optopt);
                return client_usage_error(cl, "option \"%s\" needs an argument (%s)", text,
                                          o != NULL ? o->arg : "a value");
            }
            if ((o = client_option_of(cl->cmd, optopt)) != NULL)
                return client_usage_error(cl, "option \"--%s\" takes no argument", o->long_name);
            if (optopt > 0 && optopt < 256)
                return client_usage_error(cl, "unknown option \"-%c\"", optopt);
            return client_unknown_option(cl, text);
        }
        if (c < OPT_VAL_GLOBAL)
            c = client_short_val(cl->cmd, c);
        if ((rc = client_apply(cl, p, c, optarg)) != 0)
            return rc;
    }
    return 0;
}

static int client_opt_index(const struct client *cl, const char *long_name)
{
    for (int i = 0; cl->cmd->options && cl->cmd->options[i].long_name; i++)
        if (strcmp(cl->cmd->options[i].long_name, long_name) == 0)
            return i;
    fprintf(stderr, "netdiag: internal error: %s has no option --%s\n", cl->cmd->name, long_name);
    abort();
}

const char *client_opt(const struct client *cl, const char *long_name)
{
    return cl->cmd_values[client_opt_index(cl, long_name)];
}

const char *const *client_opt_list(const struct client *cl, const char *long_name, size_t *n)
{
    int i = client_opt_index(cl, long_name);

    *n = cl->cmd_nlist[i];
    return cl->cmd_lists[i];
}

/* "now": the wall clock, or $NETDIAG_NOW (an ISO-8601 time with a zone),
 * a hook for tests that compare output with golden files. */
static int client_now(struct client *cl)
{
    const char *env = getenv(CLIENT_NOW_ENV);
    char err[256];

    cl->now_ms = util_now_ms();
    if (env == NULL || *env == '\0')
        return 0;
    if (timearg_parse(env, cl->now_ms, true, &cl->now_ms, err, sizeof(err)) < 0) {
        fprintf(stderr, "netdiag: $%s: %s\n", CLIENT_NOW_ENV, err);
        return CLIENT_EXIT_USAGE;
    }
    return 0;
}

static int client_times(struct client *cl, const struct client_pending *p)
{
    char err[256];
    int64_t now_ms;
    int rc;

    if ((rc = client_now(cl)) != 0)
        return rc;
    now_ms = cl->now_ms;

    if (p->since != NULL) {
        if (timearg_parse(p->since, now_ms, cl->utc, &cl->since_ms, err, sizeof(err)) < 0)
            return client_usage_error(cl, "--since: %s", err);
        cl->has_since = true;
    }
    if (p->until != NULL) {
        if (timearg_parse(p->until, now_ms, cl->utc, &cl->until_ms, err, sizeof(err)) < 0)
            return client_usage_error(cl, "--until: %s", err);
        cl->has_until = true;
    }
    if (cl->has_since && cl->has_until && cl->since_ms > cl->until_ms)
        return client_usage_error(cl, "--since \"%s\" is after --until \"%s\"", p->since, p->until);
    return 0;
}

static int client_main(struct client *cl, int argc, char **argv);

int client_run(FILE *out, int argc, char **argv)
{
    struct client cl = {.out = out, .format = OUTPUT_TABLE};
    int rc = client_main(&cl, argc, argv);

    client_free_lists(&cl);
    return rc;
}

int main(int argc, char **argv)
{
    return client_run(stdout, argc, argv);
}

/* Parse the command line and run the command; returns the exit code. */
static int client_main(struct client *cl, int argc, char **argv)
{
    struct client_pending pending = {0};
    int rc, cmd_argc, nargs;
    char **cmd_argv;

    /* First pass: global options up to the command. */
    if ((rc = client_parse(cl, &pending, argc, argv)) != 0)
        return rc;
    if (optind >= argc) {
        if (pending.help) {
            help_global(stdout);
            return CLIENT_EXIT_OK;
        }
        if (pending.version) {
            printf("netdiag %s\n", NETDIAG_VERSION);
            return CLIENT_EXIT_OK;
        }
        help_global(stdout); /* "netdiag" alone: what it can do */
        return CLIENT_EXIT_OK;
    }
    if (strcmp(argv[optind], "help") == 0) { /* "netdiag help [COMMAND]" */
        if (optind + 1 >= argc) {
            help_global(stdout);
            return CLIENT_EXIT_OK;
        }
        cl->cmd = client_find_command(argv[optind + 1]);
        if (cl->cmd == NULL)
            return client_unknown_command(cl, argv[optind + 1]);
        help_command(stdout, cl->cmd);
        return CLIENT_EXIT_OK;
    }
    cl->cmd = client_find_command(argv[optind]);
    if (cl->cmd == NULL)
        return client_unknown_command(cl, argv[optind]);

    /* Second pass: the command's options and the global ones, anywhere
     * after the command; cmd_argv[0] is the command itself. */
    cmd_argc = argc - optind;
    cmd_argv = argv + optind;
    if ((rc = client_parse(cl, &pending, cmd_argc, cmd_argv)) != 0)
        return rc;
    if (pending.help) {
        help_command(stdout, cl->cmd);
        return CLIENT_EXIT_OK;
    }
    if (pending.version) {
        printf("netdiag %s\n", NETDIAG_VERSION);
        return CLIENT_EXIT_OK;
    }
    nargs = cmd_argc - optind;
    if (nargs < cl->cmd->min_args)
        return client_usage_error(cl, "missing argument %s", cl->cmd->args);
    if (nargs > cl->cmd->max_args)
        return client_usage_error(cl, "unexpected argument \"%s\"",
                                  cmd_argv[optind + cl->cmd->max_args]);
    if ((rc = client_times(cl, &pending)) != 0)
        return rc;
    cl->width_cols = output_width(stdout);
    if (cl->before_run != NULL && !cl->before_run(cl))
        return CLIENT_EXIT_OK;
    return cl->cmd->run(cl, nargs, cmd_argv + optind);
}
