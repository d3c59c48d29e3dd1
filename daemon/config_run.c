/* SPDX-License-Identifier: ISC */
/* What a loaded configuration needs from the machine and the running
 * daemon: the checks before it runs (enough targets, the exec hook, the
 * database's directory), paths relative to the file, a reloaded config
 * linked to the running one, and how every config error is printed. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "config_opt.h"

/* The length of the UTF-8 sequence at s (2 to 4), or 0 when s does not
 * start a valid one (overlong, a surrogate, beyond U+10FFFF) or when it
 * encodes a C1 control (U+0080 to U+009F, which terminals obey). */
static size_t utf8_len(const unsigned char *s)
{
    uint32_t cp;
    size_t n;

    if (s[0] < 0xc2 || s[0] > 0xf4)
        return 0;
    n = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : 2;
    cp = s[0] & (0x7fu >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3fu);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp < 0xa0)
        return 0;
    return n;
}

/* Values and file names come from the file and go to a terminal or the
 * journal: an escape sequence in them must not reach either, and a
 * newline must not start a line that looks like another error. */
static void fput_escaped(FILE *f, const char *s)
{
    const unsigned char *u = (const unsigned char *)s;

    while (*u != '\0') {
        size_t n;
        if (*u >= 0x20 && *u < 0x7f) {
            fputc(*u++, f);
        } else if (*u == '\n' || *u == '\t' || *u == '\r') {
            fputc('\\', f);
            fputc(*u == '\n' ? 'n' : *u == '\t' ? 't' : 'r', f);
            u++;
        } else if (*u >= 0x80 && (n = utf8_len(u)) > 0) {
            fwrite(u, 1, n, f);
            u += n;
        } else {
            fprintf(f, "\\x%02x", *u++);
        }
    }
}

void config_verror(FILE *errs, const char *file, int line, const char *fmt, va_list ap)
{
    char *msg = NULL, *full = NULL;
    int rc;

    if (errs == NULL)
        return;
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    if (line > 0)
        rc = asprintf(&full, "%s:%d: %s", file, line, msg ? msg : "out of memory");
    else
        rc = asprintf(&full, "%s: %s", file, msg ? msg : "out of memory");
    fput_escaped(errs, rc >= 0 ? full : "out of memory");
    fputc('\n', errs);
    if (rc >= 0)
        free(full);
    free(msg);
}

static void run_err(FILE *errs, const struct config *cfg, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void run_err(FILE *errs, const struct config *cfg, int line, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    config_verror(errs, cfg->path, line, fmt, ap);
    va_end(ap);
}

static const char *mode_name(mode_t mode)
{
    return S_ISREG(mode)    ? "a file"
           : S_ISDIR(mode)  ? "a directory"
           : S_ISFIFO(mode) ? "a FIFO"
           : S_ISCHR(mode)  ? "a character device"
           : S_ISSOCK(mode) ? "a socket"
                            : "not a regular file";
}

/* The hook's program: the first word of exec, as alert_exec.c splits it. */
static int check_exec(const struct config *cfg, FILE *errs)
{
    char prog[PATH_MAX];
    size_t len = strcspn(cfg->alert.exec, " \t");
    struct stat st;

    if (len >= sizeof(prog)) {
        run_err(errs, cfg, cfg->line_exec, "[alert] exec: the program path is too long");
        return 1;
    }
    memcpy(prog, cfg->alert.exec, len);
    prog[len] = '\0';
    if (stat(prog, &st) < 0) {
        run_err(errs, cfg, cfg->line_exec, "[alert] exec: \"%s\": %s", prog, strerror(errno));
        return 1;
    }
    if (!S_ISREG(st.st_mode)) {
        run_err(errs, cfg, cfg->line_exec, "[alert] exec: \"%s\" is %s, not a program", prog,
                mode_name(st.st_mode));
        return 1;
    }
    if (access(prog, X_OK) < 0) {
        run_err(errs, cfg, cfg->line_exec, "[alert] exec: \"%s\" is not executable (%s)", prog,
                strerror(errno));
        return 1;
    }
    return 0;
}

/* netdiagd creates the database file, never its directory (systemd's
 * StateDirectory= or the package does). */
static int check_database(const struct config *cfg, FILE *errs)
{
    const char *db = cfg->database, *slash = strrchr(db, '/');
    char dir[PATH_MAX];
    struct stat st;

    if (slash == NULL || (size_t)(slash - db) >= sizeof(dir))
        return 0; /* config_load() made it absolute; nothing to say */
    if (slash == db) {
        strcpy(dir, "/");
    } else {
        memcpy(dir, db, (size_t)(slash - db));
        dir[slash - db] = '\0';
    }
    if (stat(dir, &st) < 0) {
        if (errno == ENOENT)
            run_err(errs, cfg, cfg->line_database,
                    "[daemon] database: the directory \"%s\" does not exist (netdiagd creates "
                    "the database file, not its directory)",
                    dir);
        else
            run_err(errs, cfg, cfg->line_database, "[daemon] database: directory \"%s\": %s", dir,
                    strerror(errno));
        return 1;
    }
    if (!S_ISDIR(st.st_mode)) {
        run_err(errs, cfg, cfg->line_database, "[daemon] database: \"%s\" is %s, not a directory",
                dir, mode_name(st.st_mode));
        return 1;
    }
    if (stat(db, &st) == 0 && S_ISDIR(st.st_mode)) {
        run_err(errs, cfg, cfg->line_database, "[daemon] database: \"%s\" is a directory", db);
        return 1;
    }
    return 0;
}

int config_check_run(const struct config *cfg, bool once, FILE *errs)
{
    int n = 0;

    if ((int64_t)cfg->ntargets < cfg->min_targets) {
        if (cfg->ntargets == 0)
            run_err(errs, cfg, cfg->line_min_targets,
                    "no targets: add [target NAME] sections (or an include), or set [daemon] "
                    "min_targets = 0 to run without any");
        else
            run_err(errs, cfg, cfg->line_min_targets,
                    "%zu target%s, fewer than [daemon] min_targets (%lld)", cfg->ntargets,
                    cfg->ntargets == 1 ? "" : "s", (long long)cfg->min_targets);
        n++;
    }
    if (once)
        return n; /* --once neither stores nor alerts */
    if (cfg->alert.exec != NULL)
        n += check_exec(cfg, errs);
    n += check_database(cfg, errs);
    return n;
}

char *config_path_beside(const char *config_path, const char *path)
{
    const char *slash = strrchr(config_path, '/'), *rest = path;
    char *dir, *real, *out = NULL;
    size_t rlen;

    if (path[0] == '/')
        return strdup(path);
    if (slash == NULL)
        dir = strdup(".");
    else if (slash == config_path)
        dir = strdup("/");
    else
        dir = strndup(config_path, (size_t)(slash - config_path));
    if (dir == NULL)
        return NULL;
    real = realpath(dir, NULL);
    if (real == NULL && errno == ENOMEM) {
        free(dir);
        return NULL;
    }
    if (real == NULL) {
        /* a directory that cannot be resolved (gone meanwhile): absolute
         * all the same, so the messages name one place */
        char *cwd = dir[0] == '/' ? NULL : getcwd(NULL, 0);
        if (dir[0] == '/')
            real = strdup(dir);
        else if (cwd == NULL || asprintf(&real, "%s/%s", cwd, dir) < 0)
            real = NULL;
        free(cwd);
    }
    free(dir);
    if (real == NULL)
        return NULL;
    /* real has no symbolic link in it: its parent is its lexical parent */
    rlen = strlen(real);
    for (;;) {
        if (rest[0] == '/' || (rest[0] == '.' && (rest[1] == '/' || rest[1] == '\0'))) {
            rest++; /* a slash, or "." */
        } else if (rest[0] == '.' && rest[1] == '.' && (rest[2] == '/' || rest[2] == '\0')) {
            while (rlen > 1 && real[rlen - 1] != '/')
                rlen--;
            if (rlen > 1)
                rlen--;
            rest += 2;
        } else {
            break;
        }
    }
    if (asprintf(&out, "%.*s%s%s", (int)rlen, real, rlen == 1 ? "" : "/", rest) < 0)
        out = NULL;
    free(real);
    return out;
}

int config_link_prev(struct config *cfg, const struct config *prev)
{
    uint32_t *idx;
    size_t i = 0, j = 0;

    config_unlink_prev(cfg);
    if (cfg->byname == NULL || prev->byname == NULL)
        return -1;
    idx = malloc((cfg->ntargets ? cfg->ntargets : 1) * sizeof(*idx));
    if (idx == NULL)
        return -1;
    for (size_t k = 0; k < cfg->ntargets; k++)
        idx[k] = CONFIG_NO_PREV;
    /* both sorted by name: one merge, no search */
    while (i < cfg->ntargets && j < prev->ntargets) {
        uint32_t a = cfg->byname[i], b = prev->byname[j];
        int c = strcmp(cfg->targets[a].name, prev->targets[b].name);
        if (c == 0) {
            idx[a] = b;
            i++;
            j++;
        } else if (c < 0) {
            i++;
        } else {
            j++;
        }
    }
    cfg->prev = prev;
    cfg->prev_idx = idx;
    return 0;
}

void config_unlink_prev(struct config *cfg)
{
    free(cfg->prev_idx);
    cfg->prev_idx = NULL;
    cfg->prev = NULL;
}
