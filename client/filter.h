/* SPDX-License-Identifier: ISC */
/* The filters the query commands share (--target, --code, --phase,
 * --kind) and the SQL conditions they become (owned by filter.c). */
#ifndef NETDIAG_FILTER_H
#define NETDIAG_FILTER_H

#include <stdbool.h>
#include <stddef.h>

#include "db.h"
#include "fmt.h"

struct client;

/* Which filters a command has (the options of its entry in main.c). */
#define FILTER_TARGET 0x1u
#define FILTER_CODE   0x2u
#define FILTER_PHASE  0x4u
#define FILTER_KIND   0x8u
#define FILTER_RAW    0x10u

#define FILTER_MAX_CODES 64

struct filter {
    const char *const *globs; /* --target */
    size_t nglobs;
    const char *const *kinds; /* --kind, checked */
    size_t nkinds;
    int codes[FILTER_MAX_CODES]; /* --code, resolved, no duplicates */
    size_t ncodes;
    int phases[8]; /* --phase, as stored numbers */
    size_t nphases;
    const char *const *raws; /* --raw, as given */
    size_t nraws;
    bool by_target; /* --target or --kind given: db->targets[].selected matters */
};

/* Phase number <-> name, as the `phases` table of the schema fixes them. */
const char *filter_phase_name(int phase);

/* Read and check the command's filter options (unknown code, kind or
 * phase: a usage error). Returns 0 or an exit code, message printed. */
int filter_parse(struct client *cl, unsigned which, struct filter *f);

/* Mark the targets the filter selects. A --target glob that matches no
 * target at all is a usage error (a typo, most likely), and so is a --raw
 * that is neither a name netdiagd stores (errno, EAI_*, DNS outcome) nor
 * one the database holds. */
int filter_select(struct client *cl, struct db *db, const struct filter *f);

/* Append " AND col IN (...)" for each active filter to b; a column given as
 * NULL is not filtered. */
void filter_sql(const struct db *db, const struct filter *f, struct fmt_buf *b,
                const char *target_col, const char *code_col, const char *phase_col);

bool filter_code_ok(const struct filter *f, int code);

/* Append " AND raw_id IN (...)" (schema 1: " AND raw IN (...)") for --raw,
 * the column prefixed with `alias` ("f." or ""). Nothing without --raw. */
void filter_raw_sql(const struct db *db, const struct filter *f, struct fmt_buf *b,
                    const char *alias);
/* Whether failures must be read from the rows: --phase or --raw given. */
bool filter_needs_rows(const struct filter *f);

#endif
