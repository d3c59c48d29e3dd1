/* SPDX-License-Identifier: ISC */
/* "Did you mean": the known words nearest to a mistyped one, by edit
 * distance counting a swap of two neighbours as one edit (owned by
 * suggest.c). */
#ifndef NETDIAG_SUGGEST_H
#define NETDIAG_SUGGEST_H

#include <stddef.h>

#define SUGGEST_MAX      5  /* words kept */
#define SUGGEST_WORD_MAX 64 /* words are compared on their first 64 characters */

struct suggest {
    char input[SUGGEST_WORD_MAX + 1]; /* upper case */
    const char *best[SUGGEST_MAX];    /* nearest first; the caller keeps the words alive */
    size_t dist[SUGGEST_MAX];
    size_t n;
};

/* Distance between two words, case ignored. */
size_t suggest_distance(const char *a, const char *b);

void suggest_init(struct suggest *s, const char *input);
/* Offer a known word; duplicates are ignored. */
void suggest_add(struct suggest *s, const char *word);
/* "; did you mean \"X\"?" when one word is near (at most a third of the
 * input's letters wrong, at least one), "; closest: A, B, C" with
 * `always`, else "". */
void suggest_text(const struct suggest *s, int always, char *buf, size_t len);

#endif
