/* --target, --code, --phase and --kind: checked before the database is
 * opened (so a typo is a usage error whatever the database), then turned
 * into the target set and the SQL conditions of a query. */
#include <fnmatch.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "client.h"
#include "filter.h"
#include "suggest.h"
#include "util.h"
#include "wsa.h"

/* failures.phase values; stored numbers never change meaning (sql/schema.sql). */
static const char *const filter_phases[] = {"none", "resolve", "connect", "send", "recv", "verify"};
static const char *const filter_kinds[] = {"connect", "resolve", "send", "ping"};

const char *filter_phase_name(int phase)
{
    if (phase >= 0 && (size_t)phase < sizeof(filter_phases) / sizeof(filter_phases[0]))
        return filter_phases[phase];
    return NULL;
}

static int filter_codes(struct client *cl, struct filter *f)
{
    size_t n;
    const char *const *vals = client_opt_list(cl, "code", &n);

    for (size_t i = 0; i < n; i++) {
        char msg[1024];
        const struct wsa_code *wc = codes_lookup(vals[i], msg, sizeof(msg));
        bool dup = false;
        if (wc == NULL)
            return client_usage_error(cl, "--code: %s", msg);
        for (size_t k = 0; k < f->ncodes; k++)
            dup = dup || f->codes[k] == wc->code;
        if (dup)
            continue;
        if (f->ncodes == FILTER_MAX_CODES)
            return client_usage_error(cl, "--code: more than %d codes", FILTER_MAX_CODES);
        f->codes[f->ncodes++] = wc->code;
    }
    return 0;
}

static int filter_phases_parse(struct client *cl, struct filter *f)
{
    size_t n;
    const char *const *vals = client_opt_list(cl, "phase", &n);

    for (size_t i = 0; i < n; i++) {
        size_t p;
        bool dup = false;
        for (p = 0; p < sizeof(filter_phases) / sizeof(filter_phases[0]); p++)
            if (strcasecmp(vals[i], filter_phases[p]) == 0)
                break;
        if (p == sizeof(filter_phases) / sizeof(filter_phases[0]))
            return client_usage_error(cl,
                                      "--phase: unknown phase \"%s\" (resolve, connect, send, "
                                      "recv, verify or none)",
                                      vals[i]);
        for (size_t k = 0; k < f->nphases; k++)
            dup = dup || f->phases[k] == (int)p;
        if (!dup)
            f->phases[f->nphases++] = (int)p;
    }
    return 0;
}

static int filter_kinds_parse(struct client *cl, struct filter *f)
{
    f->kinds = client_opt_list(cl, "kind", &f->nkinds);
    for (size_t i = 0; i < f->nkinds; i++) {
        bool known = false;
        for (size_t k = 0; k < sizeof(filter_kinds) / sizeof(filter_kinds[0]); k++)
            known = known || strcmp(f->kinds[i], filter_kinds[k]) == 0;
        if (!known)
            return client_usage_error(
                cl, "--kind: unknown kind \"%s\" (connect, resolve, send or ping)", f->kinds[i]);
    }
    return 0;
}

int filter_parse(struct client *cl, unsigned which, struct filter *f)
{
    int rc;

    memset(f, 0, sizeof(*f));
    if (which & FILTER_TARGET)
        f->globs = client_opt_list(cl, "target", &f->nglobs);
    if (which & FILTER_RAW)
        f->raws = client_opt_list(cl, "raw", &f->nraws);
    if ((which & FILTER_CODE) && (rc = filter_codes(cl, f)) != 0)
        return rc;
    if ((which & FILTER_PHASE) && (rc = filter_phases_parse(cl, f)) != 0)
        return rc;
    if ((which & FILTER_KIND) && (rc = filter_kinds_parse(cl, f)) != 0)
        return rc;
    f->by_target = f->nglobs > 0 || f->nkinds > 0;
    return 0;
}

/* A raw name as netdiagd stores it: an errno, EAI_* or DNS outcome name. */
static bool filter_raw_known(const char *name)
{
    int v;

    if (wsa_errno_from_name(name, &v) || wsa_eai_from_name(name, &v))
        return true;
    for (int o = DNS_OK + 1; o <= DNS_OTHER; o++) {
        const char *n = wsa_dns_outcome_name((enum dns_outcome)o);
        if (n != NULL && strcasecmp(n, name) == 0)
            return true;
    }
    return false;
}

/* The names a raw outcome is likely to have been meant as. */
static void filter_raw_suggest(struct suggest *sg, char (*db_names)[SUGGEST_WORD_MAX + 1],
                               size_t ndb)
{
    int raw[64];
    enum dns_outcome outcomes[64];

    for (size_t i = 0; i < ndb; i++)
        suggest_add(sg, db_names[i]);
    for (int o = DNS_OK + 1; o <= DNS_OTHER; o++)
        suggest_add(sg, wsa_dns_outcome_name((enum dns_outcome)o));
    for (size_t i = 0; i < wsa_table_len; i++) {
        size_t n = wsa_errnos_for(wsa_table[i].code, raw, ND_ARRAY_LEN(raw));
        for (size_t k = 0; k < n && k < ND_ARRAY_LEN(raw); k++)
            suggest_add(sg, wsa_errno_name(raw[k]));
        n = wsa_eais_for(wsa_table[i].code, raw, ND_ARRAY_LEN(raw));
        for (size_t k = 0; k < n && k < ND_ARRAY_LEN(raw); k++)
            suggest_add(sg, wsa_eai_name(raw[k]));
        n = wsa_dns_for(wsa_table[i].code, outcomes, ND_ARRAY_LEN(outcomes));
        for (size_t k = 0; k < n && k < ND_ARRAY_LEN(outcomes); k++)
            suggest_add(sg, wsa_dns_outcome_name(outcomes[k]));
    }
}

#define FILTER_DB_RAWS 256 /* raw names read from the database for a check */

/* Each --raw is a known name or one the database holds. */
static int filter_check_raws(struct client *cl, struct db *db, const struct filter *f)
{
    static char names[FILTER_DB_RAWS][SUGGEST_WORD_MAX + 1];
    size_t nnames = 0;
    sqlite3_stmt *st;
    int rc;

    if (f->nraws == 0)
        return 0;
    if (db->version >= 2) {
        if ((rc = db_prepare(db, "SELECT name FROM raws ORDER BY id LIMIT ?1", &st)) != 0)
            return rc;
        sqlite3_bind_int(st, 1, FILTER_DB_RAWS);
        while ((rc = db_step(db, st)) == SQLITE_ROW) {
            const char *n = (const char *)sqlite3_column_text(st, 0);
            if (n != NULL)
                util_strlcpy(names[nnames++], n, sizeof(names[0]));
        }
        sqlite3_finalize(st);
        if (rc < 0)
            return CLIENT_EXIT_RUNTIME;
    }
    for (size_t i = 0; i < f->nraws; i++) {
        bool known = filter_raw_known(f->raws[i]);
        struct suggest sg;
        char hint[256];
        for (size_t k = 0; k < nnames && !known; k++)
            known = strcasecmp(names[k], f->raws[i]) == 0;
        if (known)
            continue;
        suggest_init(&sg, f->raws[i]);
        filter_raw_suggest(&sg, names, nnames);
        suggest_text(&sg, 1, hint, sizeof(hint));
        return client_usage_error(cl,
                                  "--raw: \"%s\" is no errno, EAI_* or DNS outcome name netdiagd "
                                  "stores%s",
                                  f->raws[i], hint);
    }
    return 0;
}

int filter_select(struct client *cl, struct db *db, const struct filter *f)
{
    int rc;

    if ((rc = filter_check_raws(cl, db, f)) != 0)
        return rc;
    for (size_t g = 0; g < f->nglobs; g++) {
        bool any = false;
        for (size_t i = 0; i < db->ntargets && !any; i++)
            any = fnmatch(f->globs[g], db->targets[i].name, 0) == 0;
        if (!any) {
            fprintf(stderr,
                    "netdiag: %s: --target \"%s\": no target of %s matches (see 'netdiag "
                    "targets')\n",
                    cl->cmd->name, f->globs[g], db->path);
            return CLIENT_EXIT_USAGE;
        }
    }
    db->nselected = 0;
    for (size_t i = 0; i < db->ntargets; i++) {
        struct db_target *t = &db->targets[i];
        bool glob_ok = f->nglobs == 0, kind_ok = f->nkinds == 0;
        for (size_t g = 0; g < f->nglobs && !glob_ok; g++)
            glob_ok = fnmatch(f->globs[g], t->name, 0) == 0;
        for (size_t k = 0; k < f->nkinds && !kind_ok; k++)
            kind_ok = strcmp(f->kinds[k], t->kind) == 0;
        t->selected = glob_ok && kind_ok;
        db->nselected += t->selected;
    }
    return 0;
}

void filter_sql(const struct db *db, const struct filter *f, struct fmt_buf *b,
                const char *target_col, const char *code_col, const char *phase_col)
{
    /* Codes and phases are numbers this client made (from its own
     * tables), so they go into the text as literals: an IN list of
     * literals lets SQLite use an index on the column. */
    if (target_col != NULL && f->by_target)
        db_selected_sql(db, b, target_col);
    if (code_col != NULL && f->ncodes > 0) {
        fmt_buf_add(b, " AND %s IN (", code_col);
        for (size_t i = 0; i < f->ncodes; i++)
            fmt_buf_add(b, "%s%d", i ? "," : "", f->codes[i]);
        fmt_buf_add(b, ")");
    }
    if (phase_col != NULL && f->nphases > 0) {
        fmt_buf_add(b, " AND %s IN (", phase_col);
        for (size_t i = 0; i < f->nphases; i++)
            fmt_buf_add(b, "%s%d", i ? "," : "", f->phases[i]);
        fmt_buf_add(b, ")");
    }
}

bool filter_code_ok(const struct filter *f, int code)
{
    if (f->ncodes == 0)
        return true;
    for (size_t i = 0; i < f->ncodes; i++)
        if (f->codes[i] == code)
            return true;
    return false;
}

void filter_raw_sql(const struct db *db, const struct filter *f, struct fmt_buf *b,
                    const char *alias)
{
    if (f->nraws == 0)
        return;
    if (db->version >= 2)
        fmt_buf_add(b, " AND %sraw_id IN (SELECT id FROM raws WHERE name COLLATE NOCASE IN (",
                    alias);
    else
        fmt_buf_add(b, " AND %sraw COLLATE NOCASE IN (", alias);
    for (size_t i = 0; i < f->nraws; i++) {
        /* text the user typed: quoted by SQLite's own %Q */
        char *q = sqlite3_mprintf("%Q", f->raws[i]);
        if (q == NULL) {
            fputs("netdiag: out of memory\n", stderr);
            exit(CLIENT_EXIT_RUNTIME);
        }
        fmt_buf_add(b, "%s%s", i ? "," : "", q);
        sqlite3_free(q);
    }
    fmt_buf_add(b, db->version >= 2 ? "))" : ")");
}

bool filter_needs_rows(const struct filter *f)
{
    return f->nphases > 0 || f->nraws > 0;
}
