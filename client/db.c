/* SPDX-License-Identifier: ISC */
/* Finding, opening and checking the netdiag database for the query
 * commands, read-only, with one clear line and a documented exit code for
 * every way it can be missing, foreign, too new, busy or unreadable. */
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client.h"
#include "db.h"
#include "fmt.h"
#include "ndb.h"
#include "util.h"

/* "netdiag: PATH: message" on one line. */
static void db_say(const struct db *db, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void db_say(const struct db *db, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "netdiag: %s: ", db->path);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

struct db_ini {
    char value[PATH_MAX];
    bool found;
};

/* inih calls this for every key; only [daemon] database matters here, the
 * rest of the file is netdiagd's business (and `netdiagd -t` checks it). */
static int db_ini_handler(void *user, const char *section, const char *name, const char *value)
{
    struct db_ini *ini = user;

    if (strcmp(section, "daemon") == 0 && strcmp(name, "database") == 0) {
        util_strlcpy(ini->value, value, sizeof(ini->value));
        ini->found = true;
    }
    return 1;
}

/* --db, else [daemon] database of the configuration, else the default. A
 * -c given explicitly must be readable; the default configuration is only
 * used when it is. */
static int db_resolve_path(const struct client *cl, struct db *db)
{
    const char *cfg = cl->config_path ? cl->config_path : CLIENT_DEFAULT_CONFIG;
    struct db_ini ini = {.found = false};
    const char *slash;
    struct stat sb;
    FILE *fp;

    if (cl->db_path != NULL) {
        util_strlcpy(db->path, cl->db_path, sizeof(db->path));
        return 0;
    }
    fp = fopen(cfg, "r");
    if (fp != NULL && (fstat(fileno(fp), &sb) < 0 || !S_ISREG(sb.st_mode))) {
        fclose(fp); /* a directory opens, but reads as nothing */
        fp = NULL;
        errno = EISDIR;
    }
    if (fp == NULL && cl->config_path != NULL) {
        fprintf(stderr, "netdiag: %s: cannot read the configuration: %s\n", cfg, strerror(errno));
        return CLIENT_EXIT_USAGE;
    }
    if (fp != NULL) {
        /* A syntax error elsewhere in the file is not ours to report. */
        (void)ini_parse_file(fp, db_ini_handler, &ini);
        fclose(fp);
    }
    if (!ini.found || ini.value[0] == '\0') {
        util_strlcpy(db->path, CLIENT_DEFAULT_DB, sizeof(db->path));
        return 0;
    }
    /* A relative path is relative to the configuration's directory, as
     * netdiagd reads it (and its include): the same file from anywhere. */
    slash = strrchr(cfg, '/');
    if (ini.value[0] == '/' || slash == NULL)
        util_strlcpy(db->path, ini.value, sizeof(db->path));
    else if ((size_t)snprintf(db->path, sizeof(db->path), "%.*s/%s", (int)(slash - cfg), cfg,
                              ini.value) >= sizeof(db->path)) {
        fprintf(stderr, "netdiag: %s: [daemon] database: the path is too long\n", cfg);
        return CLIENT_EXIT_USAGE;
    }
    return 0;
}

/* The file itself, before SQLite sees it, so each way of being wrong gets
 * its own message rather than SQLite's "unable to open database file". */
static int db_check_file(struct db *db)
{
    static const char magic[16] = "SQLite format 3";
    char head[16];
    struct stat sb;
    ssize_t n;
    int fd;

    if (stat(db->path, &sb) < 0) {
        if (errno == ENOENT || errno == ENOTDIR) {
            db_say(db, "no such database (netdiagd creates it at its first start; see --db "
                       "and -c)");
            return CLIENT_EXIT_NO_DB;
        }
        db_say(db, "cannot reach the database: %s", strerror(errno));
        return CLIENT_EXIT_RUNTIME;
    }
    if (S_ISDIR(sb.st_mode)) {
        db_say(db, "a directory, not a netdiag database");
        return CLIENT_EXIT_BAD_DB;
    }
    if ((fd = open(db->path, O_RDONLY | O_CLOEXEC)) < 0) {
        db_say(db, "cannot read the database as uid %ld: %s (members of its group may read it)",
               (long)geteuid(), strerror(errno));
        return CLIENT_EXIT_RUNTIME;
    }
    n = read(fd, head, sizeof(head));
    close(fd);
    if (n == 0) {
        db_say(db, "an empty file, not a netdiag database");
        return CLIENT_EXIT_BAD_DB;
    }
    if (n != (ssize_t)sizeof(head) || memcmp(head, magic, sizeof(magic)) != 0) {
        db_say(db, "not a netdiag database (not an SQLite file)");
        return CLIENT_EXIT_BAD_DB;
    }
    return 0;
}

/* SQLite calls this every few thousand steps of a query: past the
 * deadline, the query stops (SQLITE_INTERRUPT). */
static int db_progress(void *arg)
{
    const struct db *db = arg;

    return util_mono_us() > db->deadline_us;
}

void db_deadline_restart(struct db *db)
{
    db->deadline_us = util_mono_us() + db->timeout_s * 1000000;
}

/* $NETDIAG_TIMEOUT or the default. */
static int64_t db_timeout_s(void)
{
    const char *env = getenv(DB_TIMEOUT_ENV);
    char err[128];
    int64_t v;

    if (env != NULL && util_parse_int(env, 1, 86400, &v, err, sizeof(err)) == 0)
        return v;
    return DB_DEADLINE_S;
}

static int db_connect(struct db *db, bool immutable)
{
    char uri[3 * PATH_MAX + 32];
    int rc;

    if (immutable) {
        ndb_uri(db->path, "?immutable=1", uri, sizeof(uri));
        rc = sqlite3_open_v2(uri, &db->h,
                             SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI, NULL);
    } else {
        rc = sqlite3_open_v2(db->path, &db->h, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    }
    db->immutable = immutable;
    if (rc != SQLITE_OK) {
        db_say(db, "cannot open the database: %s", db->h ? sqlite3_errmsg(db->h) : "out of memory");
        return CLIENT_EXIT_RUNTIME;
    }
    sqlite3_extended_result_codes(db->h, 1);
    sqlite3_busy_timeout(db->h, CLIENT_BUSY_TIMEOUT_MS);
    sqlite3_progress_handler(db->h, 4096, db_progress, db);
    sqlite3_hard_heap_limit64(DB_HEAP_LIMIT);
    /* Belt and braces: the connection is read-only already. */
    sqlite3_db_config(db->h, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
    sqlite3_exec(db->h, "PRAGMA query_only = ON", NULL, NULL, NULL);
    return 0;
}

static void db_disconnect(struct db *db)
{
    sqlite3_close(db->h);
    db->h = NULL;
}

static bool db_is_busy(int rc)
{
    return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
}

static int db_report_busy(struct db *db)
{
    db_say(db,
           "the database stayed locked for %d s (netdiagd recovering or checkpointing it?); "
           "try again",
           CLIENT_BUSY_TIMEOUT_MS / 1000);
    return CLIENT_EXIT_RUNTIME;
}

/* Whether the -wal and -shm files are what stopped the read: SQLite cannot
 * read a WAL database without them and, read-only in a directory this user
 * may not write, cannot create them. */
static bool db_is_sidecar_error(int rc)
{
    return (rc & 0xff) == SQLITE_CANTOPEN || (rc & 0xff) == SQLITE_READONLY;
}

/* Reading the file as immutable (no locks, no WAL) is only safe when no
 * committed change can be waiting in a WAL: there is no -wal file, or it is
 * empty (netdiagd checkpoints and empties it when it stops, and keeps it:
 * SQLITE_FCNTL_PERSIST_WAL). A running netdiagd always has its -wal and
 * -shm, so a reader only gets here after someone removed them while the
 * daemon was stopped. */
static bool db_immutable_is_safe(const struct db *db)
{
    char wal[PATH_MAX + 8];
    struct stat sb;

    snprintf(wal, sizeof(wal), "%s-wal", db->path);
    if (stat(wal, &sb) < 0)
        return errno == ENOENT;
    return S_ISREG(sb.st_mode) && sb.st_size == 0;
}

static int db_read_error(struct db *db, int rc)
{
    if (db_is_busy(rc))
        return db_report_busy(db);
    if ((rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT) {
        db_say(db, "not a netdiag database (damaged, or not an SQLite file)");
        return CLIENT_EXIT_BAD_DB;
    }
    db_say(db, "cannot read the database: %s", sqlite3_errmsg(db->h));
    return CLIENT_EXIT_RUNTIME;
}

/* Is it a netdiag database this client reads? */
static int db_check_ids(struct db *db, const struct ndb_ids *ids)
{
    switch (ndb_check(ids, CLIENT_SCHEMA_VERSION)) {
    case NDB_EMPTY:
        db_say(db, "an empty SQLite database, not (yet) a netdiag database");
        return CLIENT_EXIT_BAD_DB;
    case NDB_FOREIGN:
        db_say(db, "not a netdiag database (application_id %lld, expected %d)",
               (long long)ids->app_id, NDB_APPLICATION_ID);
        return CLIENT_EXIT_BAD_DB;
    case NDB_TOO_NEW:
        db_say(db, "schema version %lld is newer than this netdiag reads (%d); upgrade netdiag",
               (long long)ids->version, CLIENT_SCHEMA_VERSION);
        return CLIENT_EXIT_BAD_DB;
    case NDB_NO_VERSION:
        db_say(db, "a netdiag database without a schema version; is netdiagd still creating it?");
        return CLIENT_EXIT_BAD_DB;
    case NDB_OURS:
        break;
    }
    db->version = (int)ids->version;
    return 0;
}

#define DB_ARENA_BLOCK (1 << 20)
#define DB_IN_LIST_MAX 1000 /* selected targets written as an IN list at most */

const char db_target_sql[] = "SELECT id, name, kind, host, port, protocol, qname, qtype, server, "
                             "retired FROM targets";

/* A copy of s in the arena (names are short; a longer one gets a block of
 * its own). */
static const char *db_arena_dup(struct db_arena *a, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p;

    if (a->nblocks == 0 || a->used + n > DB_ARENA_BLOCK) {
        size_t size = n > DB_ARENA_BLOCK ? n : DB_ARENA_BLOCK;
        a->blocks = fmt_alloc(a->blocks, (a->nblocks + 1) * sizeof(*a->blocks));
        a->blocks[a->nblocks++] = fmt_alloc(NULL, size);
        a->used = 0;
    }
    p = a->blocks[a->nblocks - 1] + a->used;
    memcpy(p, s, n);
    a->used += n;
    return p;
}

static void db_arena_free(struct db_arena *a)
{
    for (size_t i = 0; i < a->nblocks; i++)
        free(a->blocks[i]);
    free(a->blocks);
    memset(a, 0, sizeof(*a));
}

char *db_target_address(sqlite3_stmt *st)
{
    const char *kind = (const char *)sqlite3_column_text(st, 2);
    const char *host = (const char *)sqlite3_column_text(st, 3);
    const char *proto = (const char *)sqlite3_column_text(st, 5);
    const char *qname = (const char *)sqlite3_column_text(st, 6);
    const char *qtype = (const char *)sqlite3_column_text(st, 7);
    const char *server = (const char *)sqlite3_column_text(st, 8);
    struct fmt_buf b = {0};

    if (kind != NULL && strcmp(kind, "resolve") == 0) {
        fmt_buf_add(&b, "%s %s @%s", qname ? qname : "?", qtype ? qtype : "A",
                    server ? server : "system");
        return b.s;
    }
    if (host == NULL)
        return NULL;
    fmt_buf_add(&b, strchr(host, ':') ? "[%s]" : "%s", host);
    if (sqlite3_column_type(st, 4) != SQLITE_NULL)
        fmt_buf_add(&b, ":%lld", (long long)sqlite3_column_int64(st, 4));
    if (kind != NULL && strcmp(kind, "send") == 0 && proto != NULL)
        fmt_buf_add(&b, "/%s", proto);
    return b.s;
}

static int db_cmp_id(const void *a, const void *b)
{
    const struct db_target *x = a, *y = b;

    return x->id < y->id ? -1 : x->id > y->id;
}

/* The kinds share static strings; anything else goes to the arena. */
static const char *db_kind(struct db *db, const char *kind)
{
    static const char *const kinds[] = {"connect", "resolve", "send", "ping"};

    if (kind == NULL)
        return "?";
    for (size_t i = 0; i < ND_ARRAY_LEN(kinds); i++)
        if (strcmp(kind, kinds[i]) == 0)
            return kinds[i];
    return db_arena_dup(&db->arena, kind);
}

static int db_load_targets(struct db *db)
{
    sqlite3_stmt *st;
    size_t cap = 0;
    int rc;

    if ((rc = db_prepare(db, db_target_sql, &st)) != 0)
        return rc;
    while ((rc = db_step(db, st)) == SQLITE_ROW) {
        const unsigned char *name = sqlite3_column_text(st, 1);
        struct db_target *t;
        FMT_RESERVE(db->targets, cap, db->ntargets + 1);
        t = &db->targets[db->ntargets++];
        t->id = sqlite3_column_int64(st, 0);
        t->name = db_arena_dup(&db->arena, name != NULL ? (const char *)name : "?");
        t->kind = db_kind(db, (const char *)sqlite3_column_text(st, 2));
        t->retired_ms = sqlite3_column_int64(st, 9);
        t->selected = true;
    }
    sqlite3_finalize(st);
    if (rc < 0)
        return CLIENT_EXIT_RUNTIME;
    db->nselected = db->ntargets;
    if (db->ntargets > 0)
        qsort(db->targets, db->ntargets, sizeof(*db->targets), db_cmp_id);
    return 0;
}

/* nd_selected(id): 1 when the target is selected. */
static void db_sql_selected(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const struct db *db = sqlite3_user_data(ctx);
    const struct db_target *t = db_target_by_id(db, sqlite3_value_int64(argv[0]));

    (void)argc;
    sqlite3_result_int(ctx, t != NULL && t->selected);
}

void db_selected_sql(const struct db *db, struct fmt_buf *b, const char *col)
{
    bool first = true;

    if (db->nselected > DB_IN_LIST_MAX) {
        fmt_buf_add(b, " AND nd_selected(%s)", col);
        return;
    }
    /* The values are numbers read from the database, so they go into the
     * text as literals: an IN list of literals lets SQLite use an index. */
    fmt_buf_add(b, " AND %s IN (", col);
    for (size_t i = 0; i < db->ntargets; i++) {
        if (!db->targets[i].selected)
            continue;
        fmt_buf_add(b, "%s%lld", first ? "" : ",", (long long)db->targets[i].id);
        first = false;
    }
    fmt_buf_add(b, ")");
}

/* Tables a schema version may or may not have: the runs table comes with
 * version 3, and a database whose daemon has not migrated it yet is read
 * without it. */
static int db_find_tables(struct db *db)
{
    sqlite3_stmt *st;
    int rc;

    if ((rc = db_prepare(db,
                         "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND "
                         "name = 'runs'",
                         &st)) != 0)
        return rc;
    rc = db_step(db, st);
    db->has_runs = rc == SQLITE_ROW && sqlite3_column_int64(st, 0) > 0;
    sqlite3_finalize(st);
    return rc < 0 ? CLIENT_EXIT_RUNTIME : 0;
}

int db_open(struct client *cl, struct db *db)
{
    struct ndb_ids ids;
    int rc, ret;

    memset(db, 0, sizeof(*db));
    db->timeout_s = db_timeout_s();
    db_deadline_restart(db);
    if ((ret = db_resolve_path(cl, db)) != 0 || (ret = db_check_file(db)) != 0)
        return ret;
    if ((ret = db_connect(db, false)) != 0)
        goto fail;
    rc = ndb_read_ids(db->h, &ids);
    if (db_is_sidecar_error(rc)) {
        db_disconnect(db);
        if (!db_immutable_is_safe(db)) {
            db_say(db, "cannot read it: this user may not create its -shm file, and its -wal "
                       "file holds changes a read without them would miss (run netdiag as a "
                       "user who may write the directory, or start netdiagd)");
            return CLIENT_EXIT_RUNTIME;
        }
        if ((ret = db_connect(db, true)) != 0)
            goto fail;
        rc = ndb_read_ids(db->h, &ids);
    }
    if (rc != SQLITE_OK) {
        ret = db_read_error(db, rc);
        goto fail;
    }
    if ((ret = db_check_ids(db, &ids)) != 0 || (ret = db_find_tables(db)) != 0 ||
        (ret = db_load_targets(db)) != 0)
        goto fail;
    sqlite3_create_function(db->h, "nd_selected", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, db,
                            db_sql_selected, NULL, NULL);
    return 0;
fail:
    db_close(db);
    return ret;
}

void db_close(struct db *db)
{
    free(db->targets);
    db_arena_free(&db->arena);
    db->targets = NULL;
    db->ntargets = db->nselected = 0;
    if (db->h != NULL)
        db_disconnect(db);
}

int db_fail(struct db *db, const char *what)
{
    int rc = sqlite3_extended_errcode(db->h);

    if (db_is_busy(rc))
        return db_report_busy(db);
    if ((rc & 0xff) == SQLITE_INTERRUPT) {
        db_say(db,
               "%s: no answer within %lld s (a table replaced by a view that never ends? a "
               "history too large? $%s sets the limit)",
               what, (long long)db->timeout_s, DB_TIMEOUT_ENV);
        return CLIENT_EXIT_RUNTIME;
    }
    if ((rc & 0xff) == SQLITE_NOMEM) {
        db_say(db, "%s: the query needs more than %lld MB", what, (long long)(DB_HEAP_LIMIT >> 20));
        return CLIENT_EXIT_RUNTIME;
    }
    db_say(db, "%s: %s", what, sqlite3_errmsg(db->h));
    return CLIENT_EXIT_RUNTIME;
}

int db_prepare(struct db *db, const char *sql, sqlite3_stmt **out)
{
    if (sqlite3_prepare_v2(db->h, sql, -1, out, NULL) != SQLITE_OK) {
        *out = NULL;
        return db_fail(db, "cannot query the database");
    }
    return 0;
}

int db_step(struct db *db, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        return rc;
    db_fail(db, "cannot read the database");
    return -1;
}

const struct db_target *db_target_by_id(const struct db *db, int64_t id)
{
    size_t lo = 0, hi = db->ntargets;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (db->targets[mid].id == id)
            return &db->targets[mid];
        if (db->targets[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const char *db_target_name(const struct db *db, int64_t id)
{
    static char unknown[32];
    const struct db_target *t = db_target_by_id(db, id);

    if (t != NULL)
        return t->name;
    snprintf(unknown, sizeof(unknown), "#%lld", (long long)id);
    return unknown;
}

int db_min_time(struct db *db, const char *table, const char *column, int64_t *out)
{
    char sql[160];
    sqlite3_stmt *st;
    int rc;

    *out = INT64_MAX;
    snprintf(sql, sizeof(sql), "SELECT min(%s) FROM %s", column, table);
    if ((rc = db_prepare(db, sql, &st)) != 0)
        return rc;
    rc = db_step(db, st);
    if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        *out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc < 0 ? CLIENT_EXIT_RUNTIME : 0;
}
