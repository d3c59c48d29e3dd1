/* SPDX-License-Identifier: ISC */
/* Nearest known words to a mistyped one, for "did you mean" in the
 * messages about unknown commands, options and raw outcomes. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "suggest.h"

static void suggest_upper(char *dst, const char *src)
{
    size_t i;

    for (i = 0; i < SUGGEST_WORD_MAX && src[i]; i++)
        dst[i] = (char)toupper((unsigned char)src[i]);
    dst[i] = '\0';
}

size_t suggest_distance(const char *a_in, const char *b_in)
{
    char a[SUGGEST_WORD_MAX + 1], b[SUGGEST_WORD_MAX + 1];
    size_t d[SUGGEST_WORD_MAX + 1][SUGGEST_WORD_MAX + 1];
    size_t la, lb;

    suggest_upper(a, a_in);
    suggest_upper(b, b_in);
    la = strlen(a);
    lb = strlen(b);
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            /* a and b are filled up to their lengths before use */
            // NOLINTNEXTLINE(clang-analyzer-core.UndefinedBinaryOperatorResult)
            size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    }
    return d[la][lb];
}

void suggest_init(struct suggest *s, const char *input)
{
    memset(s, 0, sizeof(*s));
    suggest_upper(s->input, input);
}

void suggest_add(struct suggest *s, const char *word)
{
    size_t dist, i;

    if (word == NULL || *word == '\0')
        return;
    for (i = 0; i < s->n; i++)
        if (strcasecmp(s->best[i], word) == 0)
            return;
    dist = suggest_distance(s->input, word);
    for (i = s->n; i > 0 && s->dist[i - 1] > dist; i--) {
        if (i < SUGGEST_MAX) {
            s->best[i] = s->best[i - 1];
            s->dist[i] = s->dist[i - 1];
        }
    }
    if (i < SUGGEST_MAX) {
        s->best[i] = word;
        s->dist[i] = dist;
        if (s->n < SUGGEST_MAX)
            s->n++;
    }
}

void suggest_text(const struct suggest *s, int always, char *buf, size_t len)
{
    size_t used = 0, limit = strlen(s->input) / 3;

    if (len > 0)
        buf[0] = '\0';
    if (s->n == 0)
        return;
    if (limit < 1)
        limit = 1;
    if (s->dist[0] <= limit && (s->n == 1 || s->dist[1] > s->dist[0] || !always)) {
        snprintf(buf, len, "; did you mean \"%s\"?", s->best[0]);
        return;
    }
    if (!always)
        return;
    for (size_t i = 0; i < s->n && used < len; i++)
        used +=
            (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "; closest: ", s->best[i]);
}
