/* libFuzzer target: a netdiag command line, through the client's real
 * option parsing (client/main.c, included so its static parser is
 * reachable) and each command's value parsing (--since/--until times,
 * --code names, --phase, --kind, --limit, --by, --bucket, --color,
 * --format, `explain WHAT`), stopping at the database: every database
 * command is pointed at a path that does not exist.
 *
 * Input: the arguments after "netdiag", one per line. */
#define main netdiag_client_main
int main(int argc, char **argv);
#include "../../client/main.c"
#undef main

#include <time.h>

#include "fuzz.h"

#define FUZZ_MAX_ARGS 32
/* Commands that reach db_open() stop here with CLIENT_EXIT_NO_DB. */
#define FUZZ_NO_DB "/nonexistent/netdiag-fuzz/netdiag.db"

static FILE *fuzz_devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* Help and command output go to stdout: away with it. Messages go to
     * stderr, which `make fuzz` closes with -close_fd_mask (libFuzzer keeps
     * its own copy for reports). */
    fuzz_devnull = fopen("/dev/null", "w");
    if (fuzz_devnull == NULL || freopen("/dev/null", "w", stdout) == NULL) {
        perror("fuzz_client: setup");
        abort();
    }
    /* "now" fixed (the client's own test hook), and a zone with summer
     * time spelled as a POSIX rule, so runs repeat. */
    setenv(CLIENT_NOW_ENV, "2026-11-24T10:00:00Z", 1);
    setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", 1);
    tzset();
    return 0;
}

/* client_main() up to the command, which runs with the database path
 * replaced. Keep in step with client_main() in client/main.c. */
static int fuzz_client_main(struct client *cl, int argc, char **argv)
{
    struct client_pending pending = {0};
    int rc, cmd_argc, nargs;
    char **cmd_argv;

    if ((rc = client_parse(cl, &pending, argc, argv)) != 0)
        return rc;
    if (optind >= argc) {
        if (pending.help)
            help_global(stdout);
        return pending.help || pending.version ? CLIENT_EXIT_OK : CLIENT_EXIT_USAGE;
    }
    cl->cmd = client_find_command(argv[optind]);
    if (cl->cmd == NULL)
        return CLIENT_EXIT_USAGE;
    cmd_argc = argc - optind;
    cmd_argv = argv + optind;
    if ((rc = client_parse(cl, &pending, cmd_argc, cmd_argv)) != 0)
        return rc;
    if (pending.help) {
        help_command(stdout, cl->cmd);
        return CLIENT_EXIT_OK;
    }
    nargs = cmd_argc - optind;
    if (nargs < cl->cmd->min_args || nargs > cl->cmd->max_args)
        return CLIENT_EXIT_USAGE;
    if ((rc = client_times(cl, &pending)) != 0)
        return rc;
    FUZZ_CHECK(!cl->has_since || !cl->has_until || cl->since_ms <= cl->until_ms);
    cl->db_path = FUZZ_NO_DB;
    cl->config_path = NULL;
    cl->width_cols = 80;
    return cl->cmd->run(cl, nargs, cmd_argv + optind);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct client cl = {.out = fuzz_devnull, .format = OUTPUT_TABLE};
    char *argv[FUZZ_MAX_ARGS + 2], *s = fuzz_cstr(data, size), *p = s;
    int argc = 0, rc;

    argv[argc++] = "netdiag";
    while (p != NULL && argc <= FUZZ_MAX_ARGS) {
        argv[argc++] = p;
        p = strchr(p, '\n');
        if (p != NULL)
            *p++ = '\0';
    }
    argv[argc] = NULL;
    rc = fuzz_client_main(&cl, argc, argv);
    client_free_lists(&cl);
    /* netdiag(1) EXIT STATUS: nothing else, and no database was there */
    FUZZ_CHECK(rc == CLIENT_EXIT_OK || rc == CLIENT_EXIT_RUNTIME || rc == CLIENT_EXIT_USAGE ||
               rc == CLIENT_EXIT_NO_DB);
    free(s);
    return 0;
}
