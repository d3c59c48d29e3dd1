/* SPDX-License-Identifier: ISC */
/* Reads netdiag.ini through inih into a validated struct config:
 * "file:line: message" errors that never stop at the first, the include
 * directory or list file, [defaults], and the semantic pass (the option
 * table and the value parsers are in config_opt.c). */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "alert_am.h"
#include "array.h"
#include "config.h"
#include "config_opt.h"
#include "suggest.h"
#include "timefmt.h"
#include "util.h"

/* Debian's libinih hands the reader a 200-byte buffer (INI_MAX_LINE): a
 * longer line would be split in two and the tail parsed as a line of its
 * own, so the reader refuses it instead. */
#define CONFIG_LINE_MAX 199
#define TARGET_NAME_MAX 64
#define KEY_NAME_MAX    200
#define NOPTS           CONFIG_NOPTS

/* Where the reader is: which section the current line belongs to. */
enum cur_section {
    CUR_NONE,   /* before any section header */
    CUR_IGNORE, /* after a bad header: its keys are dropped without more errors */
    CUR_DAEMON,
    CUR_ALERT,
    CUR_PATH,
    CUR_EXPORT,
    CUR_DEFAULTS,
    CUR_TARGET,
};

/* Per target parse state, parallel to cfg->targets. */
struct tmeta {
    int key_line[NOPTS]; /* the line that set each key in the target; 0: none */
    bool have[NOPTS];    /* a value from the target, [defaults] or built in */
    bool kind_ok;        /* kind was given and parsed */
    size_t dup_of;       /* 1 + index of the first target of the same name; 0 */
};

/* The file being read; the reader keeps inih's view of it in step. */
struct cfgfile {
    const char *name;
    FILE *fp;
    int lineno;
    bool included; /* only [target NAME] sections allowed */
    char *buf;
    size_t cap;
    int read_errno;
    bool prev_key; /* inih's prev_name is set: an indented line continues */
    char prev_name[KEY_NAME_MAX];
    int prev_line;
    bool continues; /* the current line is a continuation */
};

struct parser {
    struct config *cfg;
    FILE *errs;
    int nerrors;
    struct cfgfile *f;
    enum cur_section cur;
    size_t cur_target;
    char label[CONFIG_LINE_MAX + 16]; /* "[target web]", "[defaults]" */
    struct tmeta *meta;
    size_t cap, meta_cap;     /* room of cfg->targets, of meta */
    int single_line[NOPTS];   /* [daemon] and [alert] keys: line set */
    bool single_bad[NOPTS];   /* ... and the value was refused */
    int defaults_line[NOPTS]; /* [defaults] keys: line set */
    char *defaults_val[NOPTS];
    size_t bytes;  /* read so far, all files together */
    bool too_many; /* CONFIG_TARGETS_MAX reached (reported once) */
};

struct target *config_find_target(const struct config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->ntargets; i++)
        if (strcmp(cfg->targets[i].name, name) == 0)
            return &cfg->targets[i];
    return NULL;
}

static void perr(struct parser *p, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* One error: "file:line: message" ("file: message" without a line). */
static void perr(struct parser *p, const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    p->nerrors++;
    va_start(ap, fmt);
    config_verror(p->errs, file, line, fmt, ap);
    va_end(ap);
}

static void target_free_fields(struct target *t)
{
    free(t->name);
    free(t->host);
    free(t->source_str);
    free(t->qname);
    free(t->server_str);
    free(t->payload);
    free(t->expect);
    free(t->labels);
    free(t->severity);
}

void config_free(struct config *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < cfg->ntargets; i++)
        target_free_fields(&cfg->targets[i]);
    free(cfg->targets);
    for (size_t i = 0; i < cfg->nfiles; i++)
        free(cfg->files[i]);
    free(cfg->files);
    free(cfg->path);
    free(cfg->database);
    free(cfg->metrics_listen);
    free(cfg->include);
    free(cfg->alert.exec);
    free(cfg->alert.alertmanager_url);
    free(cfg->alert.am_ca_file);
    if (cfg->alert.am_auth != NULL)
        memset(cfg->alert.am_auth, 0, strlen(cfg->alert.am_auth));
    free(cfg->alert.am_auth);
    free(cfg->alert.severity);
    alert_am_tls_free(cfg->alert.am_tls);
    free(cfg->labels);
    free(cfg->web_url);
    free(cfg->exp.clickhouse_url);
    free(cfg->exp.clickhouse_database);
    free(cfg->exp.host);
    free(cfg->byname);
    free(cfg->prev_idx);
    free(cfg);
}

/* "unknown key", with a hint when the key lives in another section. */
static void err_unknown_key(struct parser *p, const char *file, int line, const char *key)
{
    static const char *const where[] = {
        [SEC_DAEMON] = "[daemon]",
        [SEC_ALERT] = "[alert]",
        [SEC_PATH] = "[path]",
        [SEC_EXPORT] = "[export]",
        [SEC_TARGET] = "[defaults] or a [target NAME] section",
    };
    enum cur_section cur = p->cur;

    for (size_t i = 0; i < NOPTS; i++) {
        enum opt_section s = config_options[i].section;
        bool here = (s == SEC_DAEMON && cur == CUR_DAEMON) ||
                    (s == SEC_ALERT && cur == CUR_ALERT) || (s == SEC_PATH && cur == CUR_PATH) ||
                    (s == SEC_EXPORT && cur == CUR_EXPORT) ||
                    (s == SEC_TARGET && (cur == CUR_TARGET || cur == CUR_DEFAULTS));
        if (!here && strcmp(config_options[i].key, key) == 0) {
            perr(p, file, line, "%s %s: unknown key (it belongs in %s)", p->label, key, where[s]);
            return;
        }
    }
    /* A near miss of a key of this section: "prot" -> "port". */
    struct suggest sg;
    char hint[128];

    suggest_init(&sg, key);
    for (size_t i = 0; i < NOPTS; i++) {
        enum opt_section s = config_options[i].section;
        if ((s == SEC_DAEMON && cur == CUR_DAEMON) || (s == SEC_ALERT && cur == CUR_ALERT) ||
            (s == SEC_PATH && cur == CUR_PATH) || (s == SEC_EXPORT && cur == CUR_EXPORT) ||
            (s == SEC_TARGET && (cur == CUR_TARGET || cur == CUR_DEFAULTS)))
            suggest_add(&sg, config_options[i].key);
    }
    suggest_text(&sg, 0, hint, sizeof(hint));
    perr(p, file, line, "%s %s: unknown key%s", p->label, key, hint);
}

/* A key that was already given: a duplicate line, or inih's continuation. */
static bool check_duplicate(struct parser *p, const char *file, int line, const char *key,
                            int first_line)
{
    if (first_line == 0)
        return false;
    if (first_line == line)
        perr(p, file, line, "%s %s: given twice", p->label, key);
    else
        perr(p, file, line, "%s %s: duplicate key (first set on line %d)", p->label, key,
             first_line);
    return true;
}

/* The other key of o's group already set on some line (lines[]), or 0. */
static const struct config_option *group_conflict(const struct config_option *o, const int *lines,
                                                  int *line)
{
    if (o->group == 0)
        return NULL;
    for (size_t i = 0; i < NOPTS; i++) {
        if (&config_options[i] != o && config_options[i].group == o->group && lines[i] != 0) {
            *line = lines[i];
            return &config_options[i];
        }
    }
    return NULL;
}

/* Set one key of target ti (from a [target] section or a list file line). */
static bool target_set_key(struct parser *p, size_t ti, const char *file, int line, const char *key,
                           const char *value)
{
    const struct config_option *o = config_opt_find(SEC_TARGET, key);
    struct tmeta *m = &p->meta[ti];
    const struct config_option *other;
    char err[256];
    int other_line;
    size_t i;

    if (o == NULL) {
        err_unknown_key(p, file, line, key);
        return false;
    }
    i = config_opt_index(o);
    if (check_duplicate(p, file, line, key, m->key_line[i]))
        return false;
    other = group_conflict(o, m->key_line, &other_line);
    m->key_line[i] = line; /* even when bad: no "missing" error follows */
    if (other != NULL) {
        perr(p, file, line, "%s %s: %s is already set (line %d); give only one of them", p->label,
             key, other->key, other_line);
        return false;
    }
    if (config_opt_parse(o, &p->cfg->targets[ti], value, err, sizeof(err)) < 0) {
        perr(p, file, line, "%s %s: %s", p->label, key, err);
        return false;
    }
    if (strcmp(key, "kind") == 0)
        m->kind_ok = true;
    return true;
}

/* Letters, digits, '.', '_', '-': the name goes into logs, metrics labels
 * and the database. Returns an error message or NULL. */
static const char *target_name_problem(const char *name)
{
    if (*name == '\0')
        return "needs a name: [target NAME]";
    if (strlen(name) > TARGET_NAME_MAX)
        return "target name is longer than 64 characters";
    for (const char *s = name; *s; s++)
        if (!isalnum((unsigned char)*s) && strchr("._-", *s) == NULL)
            return "target name may only hold letters, digits, \".\", \"_\" and \"-\"";
    return NULL;
}

/* The config's one copy of a file name (targets come file after file, so
 * the last one is nearly always it): 100,000 targets, a few names. */
static char *config_file_name(struct config *cfg, const char *file)
{
    char **nf;

    for (size_t i = cfg->nfiles; i > 0; i--)
        if (strcmp(cfg->files[i - 1], file) == 0)
            return cfg->files[i - 1];
    nf = realloc(cfg->files, (cfg->nfiles + 1) * sizeof(*nf));
    if (nf == NULL)
        return NULL;
    cfg->files = nf;
    if ((nf[cfg->nfiles] = strdup(file)) == NULL)
        return NULL;
    return nf[cfg->nfiles++];
}

/* Append a target; it becomes the current section. Returns false when out
 * of memory (reported). */
static bool target_new(struct parser *p, const char *name, const char *file, int line)
{
    struct config *cfg = p->cfg;
    struct target *t;

    if (cfg->ntargets == CONFIG_TARGETS_MAX) {
        if (!p->too_many)
            perr(p, file, line,
                 "[target %s]: more than %d targets; this one and the rest are "
                 "not read",
                 name, CONFIG_TARGETS_MAX);
        p->too_many = true;
        p->cur = CUR_IGNORE;
        return false;
    }
    /* two arrays, one per target: each has its own room */
    if (ARRAY_RESERVE(cfg->targets, p->cap, cfg->ntargets + 1) < 0 ||
        ARRAY_RESERVE(p->meta, p->meta_cap, cfg->ntargets + 1) < 0)
        goto oom;
    t = &cfg->targets[cfg->ntargets];
    memset(t, 0, sizeof(*t));
    memset(&p->meta[cfg->ntargets], 0, sizeof(p->meta[0]));
    t->name = strdup(name);
    t->file = config_file_name(cfg, file);
    t->line = line;
    if (t->name == NULL || t->file == NULL) {
        cfg->ntargets++; /* freed with the rest */
        goto oom;
    }
    p->cur = CUR_TARGET;
    p->cur_target = cfg->ntargets++;
    snprintf(p->label, sizeof(p->label), "[target %s]", name);
    return true;
oom:
    perr(p, file, line, "out of memory");
    p->cur = CUR_IGNORE;
    return false;
}

/* inih's find_chars_or_comment() with inline comments on (Debian's build):
 * the first of `chars`, a ';' after whitespace, or the end. */
static const char *ini_find(const char *s, const char *chars)
{
    bool was_space = false;

    while (*s && (chars == NULL || strchr(chars, *s) == NULL) && !(was_space && *s == ';')) {
        was_space = isspace((unsigned char)*s);
        s++;
    }
    return s;
}

/* A "[...]" line: switch the current section. inih only keeps 49 bytes of
 * a section name, so the name is taken here from the whole line. */
static void section_begin(struct parser *p, const char *s)
{
    struct cfgfile *f = p->f;
    const char *end = ini_find(s + 1, "]");
    const char *after, *problem;
    char name[CONFIG_LINE_MAX + 1];
    size_t len;
    char *n = name;

    p->cur = CUR_IGNORE;
    if (*end != ']') {
        perr(p, f->name, f->lineno, "section header without \"]\"");
        return; /* inih keeps the previous section and key too */
    }
    f->prev_key = false;
    len = (size_t)(end - s - 1);
    memcpy(name, s + 1, len);
    name[len] = '\0';
    /* len < sizeof(name): ini_find() stays within the line */
    // NOLINTNEXTLINE(clang-analyzer-core.uninitialized.ArraySubscript)
    while (isspace((unsigned char)*n))
        n++;
    while (len > 0 && isspace((unsigned char)name[len - 1]))
        name[--len] = '\0';
    after = end + 1;
    while (isspace((unsigned char)*after))
        after++;
    if (*after != '\0' && *after != ';' && *after != '#')
        perr(p, f->name, f->lineno, "[%s]: unexpected text after \"]\"", n);

    /* len < sizeof(name): ini_find() stays within the line */
    // NOLINTNEXTLINE(clang-analyzer-core.UndefinedBinaryOperatorResult)
    if (strncmp(n, "target", 6) == 0 && (n[6] == '\0' || isspace((unsigned char)n[6]))) {
        char *tname = n + 6;
        while (isspace((unsigned char)*tname))
            tname++;
        problem = target_name_problem(tname);
        if (problem != NULL) {
            perr(p, f->name, f->lineno, "[%s]: %s", n, problem);
            return;
        }
        target_new(p, tname, f->name, f->lineno);
        return;
    }
    if (strcmp(n, "daemon") != 0 && strcmp(n, "alert") != 0 && strcmp(n, "defaults") != 0 &&
        strcmp(n, "path") != 0 && strcmp(n, "export") != 0) {
        perr(p, f->name, f->lineno,
             "unknown section [%s] (expected [daemon], [defaults], [alert], [path], [export] or "
             "[target "
             "NAME])",
             n);
        return;
    }
    if (f->included) {
        perr(p, f->name, f->lineno,
             "[%s] is not allowed in an included file (only [target NAME] sections)", n);
        return;
    }
    p->cur = strcmp(n, "daemon") == 0   ? CUR_DAEMON
             : strcmp(n, "alert") == 0  ? CUR_ALERT
             : strcmp(n, "path") == 0   ? CUR_PATH
             : strcmp(n, "export") == 0 ? CUR_EXPORT
                                        : CUR_DEFAULTS;
    snprintf(p->label, sizeof(p->label), "[%s]", n);
}

/* Follow inih over the line it is about to parse, the way its
 * ini_parse_stream() does: comments, continuations, headers, keys. */
static void reader_classify(struct parser *p, const char *line)
{
    struct cfgfile *f = p->f;
    const char *s = line, *end;
    size_t len;

    while (isspace((unsigned char)*s))
        s++;
    if (*s == '\0' || *s == ';' || *s == '#')
        return;
    if (f->prev_key && s > line) {
        f->continues = true;
        return;
    }
    if (*s == '[') {
        section_begin(p, s);
        return;
    }
    end = ini_find(s, "=:");
    if (*end != '=' && *end != ':') {
        perr(p, f->name, f->lineno, "expected \"key = value\", \"[section]\" or a comment");
        return;
    }
    len = (size_t)(end - s);
    while (len > 0 && isspace((unsigned char)s[len - 1]))
        len--;
    f->prev_key = len > 0;
    if (len >= sizeof(f->prev_name))
        len = sizeof(f->prev_name) - 1;
    memcpy(f->prev_name, s, len);
    f->prev_name[len] = '\0';
    f->prev_line = f->lineno;
}

/* The ini_reader: one whole line per call, so that inih's line count stays
 * ours. A line longer than the buffer is reported and handed on as a blank
 * line; without this inih would parse its tail as a line of its own. */
static char *config_ini_reader(char *str, int num, void *stream)
{
    struct parser *p = stream;
    struct cfgfile *f = p->f;
    size_t limit = num > 1 ? (size_t)num - 1 : 0;
    ssize_t n;
    char *line;
    size_t len;

    errno = 0;
    n = getline(&f->buf, &f->cap, f->fp);
    if (n < 0) {
        f->read_errno = ferror(f->fp) ? errno : 0;
        return NULL;
    }
    f->lineno++;
    f->continues = false;
    line = f->buf;
    len = (size_t)n;
    if (len > 0 && line[len - 1] == '\n')
        line[--len] = '\0';
    if (len > 0 && line[len - 1] == '\r')
        line[--len] = '\0';
    if (f->lineno == 1 && len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
        line += 3; /* UTF-8 byte order mark */
        len -= 3;
    }
    if (limit > CONFIG_LINE_MAX)
        limit = CONFIG_LINE_MAX;
    str[0] = '\0';
    if (memchr(line, '\0', len) != NULL) {
        perr(p, f->name, f->lineno, "line holds a NUL byte");
        return str;
    }
    if (len > limit) {
        const char *s = line;
        perr(p, f->name, f->lineno, "line too long (max %zu characters)", limit);
        while (isspace((unsigned char)*s))
            s++;
        if (*s == '[')
            p->cur = CUR_IGNORE; /* a header we cannot read: drop its keys */
        return str;
    }
    memcpy(str, line, len + 1);
    reader_classify(p, line);
    return str;
}

/* The ini_handler, for every key line and continuation line. `section` is
 * not used: the reader follows sections itself, without inih's limit on
 * their length. Returns 0 on error so that inih's result counts it. */
static int config_ini_handler(void *user, const char *section, const char *name, const char *value)
{
    struct parser *p = user;
    struct cfgfile *f = p->f;
    const struct config_option *o, *other;
    char err[256];
    int other_line;
    size_t i;

    (void)section;
    if (p->cur == CUR_IGNORE)
        return 1;
    if (f->continues) {
        /* Only when inih is built with INI_ALLOW_MULTILINE, as Debian's is. */
        perr(p, f->name, f->lineno,
             "%s%s%s: indented line read as a continuation of the value on line %d (values "
             "cannot span lines; remove the indentation)",
             p->cur == CUR_NONE ? "" : p->label, p->cur == CUR_NONE ? "" : " ", f->prev_name,
             f->prev_line);
        return 0;
    }
    if (*name == '\0') {
        perr(p, f->name, f->lineno, "missing key name before \"=\"");
        return 0;
    }
    switch (p->cur) {
    case CUR_NONE:
        perr(p, f->name, f->lineno, "%s: key outside a section (put it under %s)", name,
             f->included ? "[target NAME]"
                         : "[daemon], [defaults], [alert], [path], [export] or [target NAME]");
        return 0;
    case CUR_IGNORE:
        return 1;
    case CUR_TARGET:
        return target_set_key(p, p->cur_target, f->name, f->lineno, name, value) ? 1 : 0;
    case CUR_DAEMON:
    case CUR_ALERT:
    case CUR_PATH:
    case CUR_EXPORT:
        o = config_opt_find(p->cur == CUR_DAEMON  ? SEC_DAEMON
                            : p->cur == CUR_ALERT ? SEC_ALERT
                            : p->cur == CUR_PATH  ? SEC_PATH
                                                  : SEC_EXPORT,
                            name);
        if (o == NULL) {
            err_unknown_key(p, f->name, f->lineno, name);
            return 0;
        }
        i = config_opt_index(o);
        if (check_duplicate(p, f->name, f->lineno, name, p->single_line[i]))
            return 0;
        p->single_line[i] = f->lineno;
        if (config_opt_parse(o, p->cfg, value, err, sizeof(err)) < 0) {
            p->single_bad[i] = true;
            perr(p, f->name, f->lineno, "%s %s: %s", p->label, name, err);
            return 0;
        }
        return 1;
    case CUR_DEFAULTS: {
        struct target scratch;
        int rc;
        o = config_opt_find(SEC_TARGET, name);
        if (o == NULL) {
            err_unknown_key(p, f->name, f->lineno, name);
            return 0;
        }
        if (strcmp(name, "kind") == 0) {
            perr(p, f->name, f->lineno,
                 "[defaults] kind: not allowed here (each target sets its own kind)");
            return 0;
        }
        i = config_opt_index(o);
        if (check_duplicate(p, f->name, f->lineno, name, p->defaults_line[i]))
            return 0;
        other = group_conflict(o, p->defaults_line, &other_line);
        p->defaults_line[i] = f->lineno;
        if (other != NULL) {
            perr(p, f->name, f->lineno,
                 "[defaults] %s: %s is already set (line %d); give only "
                 "one of them",
                 name, other->key, other_line);
            return 0;
        }
        /* Checked now, at its own line; applied to each target later. */
        memset(&scratch, 0, sizeof(scratch));
        rc = config_opt_parse(o, &scratch, value, err, sizeof(err));
        target_free_fields(&scratch);
        if (rc < 0) {
            perr(p, f->name, f->lineno, "[defaults] %s: %s", name, err);
            return 0;
        }
        p->defaults_val[i] = strdup(value);
        return 1;
    }
    }
    return 0;
}

/* What kind of file st is, for "not a regular file" errors. */
static const char *file_type_name(mode_t mode)
{
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISFIFO(mode))
        return "a FIFO";
    if (S_ISCHR(mode))
        return "a character device";
    if (S_ISBLK(mode))
        return "a block device";
    if (S_ISSOCK(mode))
        return "a socket";
    return "not a regular file";
}

/* Read a whole configuration file into memory, or report why not: only a
 * regular file is read (a FIFO would block the daemon, /dev/zero never
 * ends), within what is left of CONFIG_BYTES_MAX, and an empty file is an
 * error (an editor that truncates and then writes leaves one for a moment;
 * read then it would retire every target). O_NONBLOCK: opening a FIFO
 * must not wait for a writer before fstat() can refuse it. Returns a
 * malloc'd buffer (NUL-terminated) or NULL. */
static char *config_read_file(struct parser *p, const char *path, size_t *lenp)
{
    size_t left = CONFIG_BYTES_MAX - p->bytes, len = 0;
    char *buf = NULL;
    struct stat st;
    ssize_t n;
    int fd;

    fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        perr(p, path, 0, "cannot open: %s", strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) < 0) {
        perr(p, path, 0, "cannot open: %s", strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        perr(p, path, 0, "%s, not a regular file: netdiagd reads only regular files",
             file_type_name(st.st_mode));
        goto fail;
    }
    if (st.st_size == 0) {
        perr(p, path, 0,
             "the file is empty (being rewritten? write the new file beside it and rename it "
             "over this one; a file holding only a comment is accepted)");
        goto fail;
    }
    if ((uint64_t)st.st_size > left) {
        perr(p, path, 0,
             "%lld bytes: a configuration (the main file and what it includes) may hold at most "
             "%d MiB",
             (long long)st.st_size, CONFIG_BYTES_MAX >> 20);
        goto fail;
    }
    /* the size fstat() gave, plus one byte to see the file grow meanwhile */
    buf = malloc((size_t)st.st_size + 2);
    if (buf == NULL) {
        perr(p, path, 0, "out of memory");
        goto fail;
    }
    while (len < (size_t)st.st_size + 1) {
        n = read(fd, buf + len, (size_t)st.st_size + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            perr(p, path, 0, "read error: %s", strerror(errno));
            goto fail;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len != (size_t)st.st_size) {
        perr(p, path, 0,
             "the file changed size while it was read; write the new file beside it "
             "and rename it over this one");
        goto fail;
    }
    buf[len] = '\0';
    p->bytes += len;
    close(fd);
    *lenp = len;
    return buf;
fail:
    free(buf);
    close(fd);
    return NULL;
}

/* Parse one INI file; included files may hold [target NAME] sections only. */
static void parse_ini_file(struct parser *p, const char *path, bool included)
{
    struct cfgfile f = {.name = path, .included = included};
    int before = p->nerrors;
    size_t len;
    char *data = config_read_file(p, path, &len);
    int rc;

    if (data == NULL)
        return;
    f.fp = fmemopen(data, len, "r");
    if (f.fp == NULL) {
        perr(p, path, 0, "cannot read: %s", strerror(errno));
        free(data);
        return;
    }
    p->f = &f;
    p->cur = CUR_NONE;
    rc = ini_parse_stream(config_ini_reader, p, config_ini_handler, p);
    if (f.read_errno != 0)
        perr(p, path, 0, "read error: %s", strerror(f.read_errno));
    if (rc < 0)
        perr(p, path, 0, "inih could not parse the file (error %d: out of memory)", rc);
    else if (rc > 0 && p->nerrors == before)
        perr(p, path, rc, "syntax error"); /* inih saw one the reader did not */
    free(f.buf);
    fclose(f.fp);
    free(data);
    p->f = NULL;
    p->cur = CUR_NONE;
}

/* The include list file: "NAME KIND key=value ..." per line, '#' comments. */
static void parse_list_file(struct parser *p, const char *path)
{
    size_t len;
    char *data = config_read_file(p, path, &len);
    FILE *fp;
    char *buf = NULL;
    size_t cap = 0;
    int lineno = 0;
    ssize_t n;

    if (data == NULL)
        return;
    fp = fmemopen(data, len, "r");
    if (fp == NULL) {
        perr(p, path, 0, "cannot read: %s", strerror(errno));
        free(data);
        return;
    }
    while ((n = getline(&buf, &cap, fp)) >= 0) {
        char *save = NULL, *name, *kind, *tok;
        const char *problem;
        size_t ti;

        lineno++;
        if (memchr(buf, '\0', (size_t)n) != NULL) {
            perr(p, path, lineno, "line holds a NUL byte");
            continue;
        }
        name = strtok_r(buf, " \t\r\n", &save);
        if (name == NULL || name[0] == '#')
            continue;
        kind = strtok_r(NULL, " \t\r\n", &save);
        if (kind == NULL || kind[0] == '#') {
            perr(p, path, lineno, "expected \"NAME KIND key=value ...\"");
            continue;
        }
        problem = target_name_problem(name);
        if (problem != NULL) {
            perr(p, path, lineno, "[target %s]: %s", name, problem);
            continue;
        }
        if (!target_new(p, name, path, lineno))
            continue;
        ti = p->cur_target;
        target_set_key(p, ti, path, lineno, "kind", kind);
        while ((tok = strtok_r(NULL, " \t\r\n", &save)) != NULL && tok[0] != '#') {
            char *eq = strchr(tok, '=');
            if (eq == NULL || eq == tok) {
                perr(p, path, lineno, "%s \"%s\": expected key=value", p->label, tok);
                continue;
            }
            *eq = '\0';
            target_set_key(p, ti, path, lineno, tok, eq + 1);
        }
    }
    if (ferror(fp))
        perr(p, path, 0, "read error: %s", strerror(errno));
    p->cur = CUR_NONE;
    free(buf);
    fclose(fp);
    free(data);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* include = DIR: every regular "*.ini" file in DIR, in byte order of name
 * (not locale order: the same on every machine); at most
 * CONFIG_INCLUDE_FILES_MAX of them, so that a wrong directory (a spool, a
 * home) costs a bounded listing and is reported instead. */
static void parse_include_dir(struct parser *p, const char *dir, int line)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char **names = NULL;
    size_t n = 0, cap = 0;

    if (d == NULL) {
        perr(p, p->cfg->path, line, "[daemon] include: \"%s\": %s", dir, strerror(errno));
        return;
    }
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        char *path;
        struct stat st;

        if (de->d_name[0] == '.' || len < 5 || strcmp(de->d_name + len - 4, ".ini") != 0)
            continue;
        if (asprintf(&path, "%s/%s", dir, de->d_name) < 0)
            continue;
        if (stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
            free(path);
            continue;
        }
        if (n == CONFIG_INCLUDE_FILES_MAX) {
            perr(p, p->cfg->path, line,
                 "[daemon] include: \"%s\" holds more than %d *.ini files; none is read", dir,
                 CONFIG_INCLUDE_FILES_MAX);
            free(path);
            for (size_t i = 0; i < n; i++)
                free(names[i]);
            n = 0;
            break;
        }
        if (ARRAY_RESERVE(names, cap, n + 1) < 0) {
            free(path);
            break;
        }
        names[n++] = path;
    }
    closedir(d);
    if (n > 0)
        qsort(names, n, sizeof(*names), cmp_str);
    for (size_t i = 0; i < n; i++) {
        parse_ini_file(p, names[i], true);
        free(names[i]);
    }
    free(names);
}

/* include is relative to the main file's directory, so the same config
 * reads the same from any working directory. */
static void parse_include(struct parser *p)
{
    const char *inc = p->cfg->include;
    const char *main_path = p->cfg->path;
    const char *slash = strrchr(main_path, '/');
    int line = p->single_line[config_opt_index(config_opt_find(SEC_DAEMON, "include"))];
    struct stat st;
    char *path;
    size_t len;

    if (inc[0] == '/' || slash == NULL)
        path = strdup(inc);
    else if (asprintf(&path, "%.*s/%s", (int)(slash - main_path), main_path, inc) < 0)
        path = NULL;
    if (path == NULL) {
        perr(p, main_path, line, "[daemon] include: out of memory");
        return;
    }
    len = strlen(path);
    while (len > 1 && path[len - 1] == '/')
        path[--len] = '\0';
    if (stat(path, &st) < 0)
        perr(p, main_path, line, "[daemon] include: \"%s\": %s", path, strerror(errno));
    else if (S_ISDIR(st.st_mode))
        parse_include_dir(p, path, line);
    else if (!S_ISREG(st.st_mode))
        perr(p, main_path, line, "[daemon] include: \"%s\" is neither a directory nor a file",
             path);
    else if (len > 4 && strcmp(path + len - 4, ".ini") == 0)
        parse_ini_file(p, path, true);
    else
        parse_list_file(p, path);
    free(path);
}

static int cmp_target_name(const void *a, const void *b, void *arg)
{
    const struct target *t = arg;
    uint32_t ia = *(const uint32_t *)a, ib = *(const uint32_t *)b;
    int c = strcmp(t[ia].name, t[ib].name);

    if (c != 0)
        return c;
    return ia < ib ? -1 : ia > ib;
}

/* Sort the targets by name into cfg->byname (kept: a reload matches two
 * configs by merging their orders) and mark each target whose name an
 * earlier target already has: 200,000 targets cost one sort. */
static void find_duplicates(struct parser *p)
{
    struct config *cfg = p->cfg;
    uint32_t *idx;

    idx = malloc((cfg->ntargets ? cfg->ntargets : 1) * sizeof(*idx));
    if (idx == NULL) {
        perr(p, cfg->path, 0, "out of memory");
        return;
    }
    for (size_t i = 0; i < cfg->ntargets; i++)
        idx[i] = (uint32_t)i;
    qsort_r(idx, cfg->ntargets, sizeof(*idx), cmp_target_name, cfg->targets);
    for (size_t i = 1, first = cfg->ntargets ? idx[0] : 0; i < cfg->ntargets; i++) {
        if (strcmp(cfg->targets[idx[i]].name, cfg->targets[first].name) == 0)
            p->meta[idx[i]].dup_of = first + 1;
        else
            first = idx[i];
    }
    cfg->byname = idx;
}

/* "resolve", "connect and send": the kinds in a mask, for messages. */
static void kinds_text(unsigned mask, char *buf, size_t len)
{
    size_t off = 0, n = 0, total = 0;

    for (unsigned k = 0; k <= KIND_PING; k++)
        total += (mask >> k) & 1;
    buf[0] = '\0';
    for (unsigned k = 0; k <= KIND_PING && off < len; k++) {
        if (!((mask >> k) & 1))
            continue;
        n++;
        off += (size_t)snprintf(buf + off, len - off, "%s%s",
                                n == 1       ? ""
                                : n == total ? " and "
                                             : ", ",
                                target_kind_name((enum target_kind)k));
    }
}

/* Fill in what target ti leaves out from [defaults], then from the built-in
 * defaults; only keys its kind takes, and no half of a group it has set. */
static void target_apply_defaults(struct parser *p, size_t ti)
{
    struct target *t = &p->cfg->targets[ti];
    struct tmeta *m = &p->meta[ti];
    unsigned kmask = 1u << t->kind;
    char err[256];
    int line;

    for (size_t i = 0; i < NOPTS; i++) {
        const struct config_option *o = &config_options[i];
        const char *v = NULL;

        if (o->section != SEC_TARGET || !(o->kinds & kmask))
            continue;
        if (m->key_line[i] != 0) {
            m->have[i] = true;
            continue;
        }
        if (group_conflict(o, m->key_line, &line) != NULL)
            continue;
        if (p->defaults_val[i] != NULL)
            v = p->defaults_val[i];
        else if (group_conflict(o, p->defaults_line, &line) == NULL)
            v = o->def;
        if (v == NULL)
            continue;
        m->have[i] = true;
        if (config_opt_parse(o, t, v, err, sizeof(err)) < 0) /* checked once already */
            perr(p, p->cfg->path, p->defaults_line[i], "[defaults] %s: %s", o->key, err);
    }
    if (!m->have[config_opt_index(config_opt_find(SEC_TARGET, "codes"))]) {
        memcpy(t->alert_codes, p->cfg->alert.codes, sizeof(t->alert_codes));
        t->alert_ncodes = p->cfg->alert.ncodes;
    }
    if (!m->have[config_opt_index(config_opt_find(SEC_TARGET, "alert_latency"))])
        t->alert_latency = p->cfg->alert.latency;
    if (!m->have[config_opt_index(config_opt_find(SEC_TARGET, "alert_loss"))])
        t->alert_loss = p->cfg->alert.loss;
}

/* timeout >= interval: blame the timeout when it was written, else the
 * interval (a short interval against the default timeout). */
static void err_timeout(struct parser *p, const char *file, int interval_line, int timeout_line,
                        int64_t interval_ms, int64_t timeout_ms)
{
    char iv[32], to[32];

    timefmt_duration(interval_ms, TIMEFMT_EXACT, iv, sizeof(iv));
    timefmt_duration(timeout_ms, TIMEFMT_EXACT, to, sizeof(to));
    if (timeout_line != 0)
        perr(p, file, timeout_line, "%s timeout: %s must be less than interval (%s)", p->label, to,
             iv);
    else
        perr(p, file, interval_line, "%s interval: %s must be longer than timeout (%s)", p->label,
             iv, to);
}

/* The checks that need the whole target. Errors name the offending key's
 * line, or the section header's when the key is missing. */
/* payload_size: the payload repeated (or zero bytes when there is none)
 * until it is exactly payload_size bytes long, to probe datagram and
 * path MTU limits without writing a long line. */
static int config_payload_fill(struct target *t)
{
    size_t n = (size_t)t->payload_size;
    unsigned char *buf = malloc(n + 1);

    if (buf == NULL)
        return -1;
    for (size_t i = 0; i < n; i++)
        buf[i] = t->payload_len > 0 ? t->payload[i % t->payload_len] : 0;
    buf[n] = '\0';
    free(t->payload);
    t->payload = buf;
    t->payload_len = n;
    return 0;
}

/* A ping attempt sends its last echo (count - 1) x spacing after its
 * start and ends at its timeout: the last echo must have time for its
 * reply. The error names the line of whichever of the three the target
 * wrote (timeout first), else its section's. */
static void ping_check_timing(struct parser *p, const struct target *t, const struct tmeta *m)
{
    int64_t last_ms = (t->ping_count - 1) * t->ping_spacing_ms;
    static const char *const keys[] = {"timeout", "count", "spacing"};
    const char *key = "timeout";
    char to[32], sp[32], at[32];
    int line = 0;

    if (t->timeout_ms > last_ms)
        return;
    for (size_t i = 0; i < ND_ARRAY_LEN(keys) && line == 0; i++) {
        line = m->key_line[config_opt_index(config_opt_find(SEC_TARGET, keys[i]))];
        key = keys[i];
    }
    if (line == 0) {
        line = t->line;
        key = "timeout";
    }
    timefmt_duration(t->timeout_ms, TIMEFMT_EXACT, to, sizeof(to));
    timefmt_duration(t->ping_spacing_ms, TIMEFMT_EXACT, sp, sizeof(sp));
    timefmt_duration(last_ms, TIMEFMT_EXACT, at, sizeof(at));
    perr(p, t->file, line,
         "%s %s: the last of %lld echoes spaced %s goes out at %s, not before timeout (%s): "
         "no time for its reply; make timeout longer, or count or spacing smaller",
         p->label, key, (long long)t->ping_count, sp, at, to);
}

static void target_check(struct parser *p, size_t ti)
{
    struct config *cfg = p->cfg;
    struct target *t = &cfg->targets[ti];
    struct tmeta *m = &p->meta[ti];
    size_t kind_i = config_opt_index(config_opt_find(SEC_TARGET, "kind"));
    size_t ii = config_opt_index(config_opt_find(SEC_TARGET, "interval"));
    size_t to = config_opt_index(config_opt_find(SEC_TARGET, "timeout"));
    unsigned kmask;
    char kinds[64];
    size_t wrong[NOPTS], nwrong = 0;

    snprintf(p->label, sizeof(p->label), "[target %s]", t->name);
    if (m->dup_of != 0) {
        const struct target *first = &cfg->targets[m->dup_of - 1];
        perr(p, t->file, t->line, "%s: duplicate target name (first defined at %s:%d)", p->label,
             first->file, first->line);
    }
    if (m->key_line[kind_i] == 0) {
        perr(p, t->file, t->line, "%s kind: missing (connect, resolve, send or ping)", p->label);
        return;
    }
    if (!m->kind_ok)
        return; /* a bad kind, reported at its line: nothing to check against */
    kmask = 1u << t->kind;
    /* Keys the kind does not take, in the order of their lines. */
    for (size_t i = 0; i < NOPTS; i++) {
        const struct config_option *o = &config_options[i];
        if (o->section == SEC_TARGET && m->key_line[i] != 0 && !(o->kinds & kmask)) {
            size_t j = nwrong;
            while (j > 0 && m->key_line[wrong[j - 1]] > m->key_line[i]) {
                wrong[j] = wrong[j - 1];
                j--;
            }
            wrong[j] = i;
            nwrong++;
        }
    }
    for (size_t w = 0; w < nwrong; w++) {
        const struct config_option *o = &config_options[wrong[w]];
        kinds_text(o->kinds, kinds, sizeof(kinds));
        perr(p, t->file, m->key_line[wrong[w]], "%s %s: not a key of a %s target (only %s targets)",
             p->label, o->key, target_kind_name(t->kind), kinds);
    }
    for (size_t i = 0; i < NOPTS; i++) {
        const struct config_option *o = &config_options[i];
        if ((o->required & kmask) && !m->have[i])
            perr(p, t->file, t->line, "%s %s: missing (a %s target needs it)", p->label, o->key,
                 target_kind_name(t->kind));
    }
    /* Only when the target sets one of them: [defaults] is checked once. */
    if ((m->key_line[ii] != 0 || m->key_line[to] != 0) && t->interval_ms > 0 &&
        t->timeout_ms >= t->interval_ms)
        err_timeout(p, t->file, m->key_line[ii], m->key_line[to], t->interval_ms, t->timeout_ms);
    if (t->host != NULL && t->family != FAMILY_ANY && t->kind != KIND_RESOLVE) {
        /* an address literal has one family: probing it over the other one
         * is impossible, and doing it over its own contradicts the file */
        unsigned char a[16];
        int fam = inet_pton(AF_INET, t->host, a) == 1    ? AF_INET
                  : inet_pton(AF_INET6, t->host, a) == 1 ? AF_INET6
                                                         : AF_UNSPEC;
        if (fam != AF_UNSPEC && (fam == AF_INET6) != (t->family == FAMILY_IPV6)) {
            size_t hi = config_opt_index(config_opt_find(SEC_TARGET, "host"));
            perr(p, t->file, m->key_line[hi] ? m->key_line[hi] : t->line,
                 "%s host: \"%s\" is an %s address, but family is %s (set family = %s or any "
                 "for this target)",
                 p->label, t->host, fam == AF_INET6 ? "IPv6" : "IPv4", family_name(t->family),
                 fam == AF_INET6 ? "ipv6" : "ipv4");
        }
    }
    if (t->source_len != 0 && t->family != FAMILY_ANY) {
        int fam = t->source.sa.sa_family;
        if ((fam == AF_INET6) != (t->family == FAMILY_IPV6)) {
            size_t si = config_opt_index(config_opt_find(SEC_TARGET, "source"));
            perr(p, t->file, m->key_line[si] ? m->key_line[si] : t->line,
                 "%s source: \"%s\" is an %s address, but family is %s", p->label, t->source_str,
                 fam == AF_INET6 ? "IPv6" : "IPv4", family_name(t->family));
        }
    }
    if (t->kind == KIND_PING)
        ping_check_timing(p, t, m);
    /* No check that a UDP payload fits one datagram: sending one too large
     * on purpose is how a user sees WSAEMSGSIZE (10040). */
    if (t->kind == KIND_SEND && t->payload_size > 0 && (size_t)t->payload_size != t->payload_len)
        if (config_payload_fill(t) < 0)
            perr(p, t->file, t->line, "%s payload_size: out of memory", p->label);
}

/* The semantic pass, after every file is read. */
static void config_check(struct parser *p)
{
    struct config *cfg = p->cfg;
    size_t ii = config_opt_index(config_opt_find(SEC_TARGET, "interval"));
    size_t to = config_opt_index(config_opt_find(SEC_TARGET, "timeout"));
    size_t wi = config_opt_index(config_opt_find(SEC_ALERT, "window"));
    size_t bi = config_opt_index(config_opt_find(SEC_ALERT, "baseline"));
    /* A refused value has its line but no value: it was reported already. */
    bool bad = (p->defaults_line[ii] != 0 && p->defaults_val[ii] == NULL) ||
               (p->defaults_line[to] != 0 && p->defaults_val[to] == NULL);
    char a[32], b[32];

    snprintf(p->label, sizeof(p->label), "[defaults]");
    if (!bad && (p->defaults_line[ii] != 0 || p->defaults_line[to] != 0)) {
        struct target d;
        char err[256];
        memset(&d, 0, sizeof(d));
        config_opt_parse(&config_options[ii], &d,
                         p->defaults_val[ii] ? p->defaults_val[ii] : config_options[ii].def, err,
                         sizeof(err));
        config_opt_parse(&config_options[to], &d,
                         p->defaults_val[to] ? p->defaults_val[to] : config_options[to].def, err,
                         sizeof(err));
        if (d.timeout_ms >= d.interval_ms)
            err_timeout(p, cfg->path, p->defaults_line[ii], p->defaults_line[to], d.interval_ms,
                        d.timeout_ms);
        target_free_fields(&d);
    }
    if (!p->single_bad[wi] && !p->single_bad[bi] &&
        cfg->alert.baseline_ms <= cfg->alert.window_ms) {
        timefmt_duration(cfg->alert.baseline_ms, TIMEFMT_EXACT, a, sizeof(a));
        timefmt_duration(cfg->alert.window_ms, TIMEFMT_EXACT, b, sizeof(b));
        if (p->single_line[bi] != 0)
            perr(p, cfg->path, p->single_line[bi],
                 "[alert] baseline: %s must be longer than window (%s)", a, b);
        else
            perr(p, cfg->path, p->single_line[wi],
                 "[alert] window: %s must be shorter than baseline (%s)", b, a);
    }
    {
        int lb = p->single_line[config_opt_index(
                config_opt_find(SEC_ALERT, "alertmanager_bearer_token_file"))],
            la = p->single_line[config_opt_index(
                config_opt_find(SEC_ALERT, "alertmanager_basic_auth_file"))];
        if (lb != 0 && la != 0)
            perr(p, cfg->path, lb > la ? lb : la,
                 "[alert] %s: alertmanager_%s is set too (line %d); give one of the two",
                 lb > la ? "alertmanager_bearer_token_file" : "alertmanager_basic_auth_file",
                 lb > la ? "basic_auth_file" : "bearer_token_file", lb > la ? la : lb);
    }
    find_duplicates(p);
    for (size_t i = 0; i < cfg->ntargets; i++) {
        /* A kind that failed to parse: no defaults, no kind-based checks. */
        if (p->meta[i].kind_ok)
            target_apply_defaults(p, i);
        target_check(p, i);
    }
}

/* https Alertmanagers: their TLS settings made here, off the loop (the
 * system's CA bundle takes 30 ms to parse), with a hash of the CA file so
 * that a reload sees a changed file. */
static void config_am_tls(struct parser *p)
{
    struct alert_config *a = &p->cfg->alert;
    char err[300];
    int line;

    if (a->alertmanager_url == NULL || strstr(a->alertmanager_url, "https://") == NULL)
        return;
    line = p->single_line[config_opt_index(config_opt_find(SEC_ALERT, "alertmanager_ca_file"))];
    a->am_tls = alert_am_tls_new(a->am_ca_file, err, sizeof(err));
    if (a->am_tls == NULL) {
        perr(p, p->cfg->path, line, "[alert] alertmanager_url: %s", err);
        return;
    }
    if (a->am_ca_file != NULL) {
        uint64_t h = 1469598103934665603ULL; /* FNV-1a */
        FILE *f = fopen(a->am_ca_file, "re");
        int c;
        for (size_t n = 0; f != NULL && n < CONFIG_BYTES_MAX && (c = getc(f)) != EOF; n++)
            h = (h ^ (unsigned)c) * 1099511628211ULL;
        if (f != NULL)
            fclose(f);
        snprintf(a->am_tls_id, sizeof(a->am_tls_id), "%016" PRIx64, h);
    }
}

struct config *config_load(const char *path, FILE *errs, int *nerrors)
{
    struct parser p;
    struct config *cfg = calloc(1, sizeof(*cfg));
    char err[256];

    memset(&p, 0, sizeof(p));
    p.errs = errs;
    p.cfg = cfg;
    if (cfg == NULL || (cfg->path = strdup(path)) == NULL) {
        perr(&p, path, 0, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < NOPTS; i++)
        if (config_options[i].section != SEC_TARGET && config_options[i].def != NULL &&
            config_opt_parse(&config_options[i], cfg, config_options[i].def, err, sizeof(err)) < 0)
            perr(&p, path, 0, "internal error: default of %s: %s", config_options[i].key, err);
    parse_ini_file(&p, path, false);
    if (cfg->include != NULL)
        parse_include(&p);
    config_check(&p);
    cfg->line_database = p.single_line[config_opt_index(config_opt_find(SEC_DAEMON, "database"))];
    cfg->line_exec = p.single_line[config_opt_index(config_opt_find(SEC_ALERT, "exec"))];
    cfg->line_min_targets =
        p.single_line[config_opt_index(config_opt_find(SEC_DAEMON, "min_targets"))];
    /* relative to the file, as include is: the same database from any
     * working directory, for netdiagd and netdiag -c alike */
    if (p.nerrors == 0 && cfg->database[0] != '/') {
        char *abs = config_path_beside(cfg->path, cfg->database);
        if (abs == NULL) {
            perr(&p, path, cfg->line_database, "[daemon] database: out of memory");
        } else {
            free(cfg->database);
            cfg->database = abs;
        }
    }
    if (p.nerrors == 0)
        config_am_tls(&p);
out:
    for (size_t i = 0; i < NOPTS; i++)
        free(p.defaults_val[i]);
    free(p.meta);
    if (nerrors != NULL)
        *nerrors = p.nerrors;
    if (p.nerrors > 0) {
        config_free(cfg);
        return NULL;
    }
    return cfg;
}
