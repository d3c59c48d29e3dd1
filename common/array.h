/* SPDX-License-Identifier: ISC */
/* The one growable-array helper (OpenBSD's reallocarray idea, with the
 * doubling every hand-rolled copy repeated): room for `need` elements,
 * amortised O(1) per append, overflow-checked (owned by array.c). */
#ifndef NETDIAG_ARRAY_H
#define NETDIAG_ARRAY_H

#include <stddef.h>

/* Make *arrp (a pointer to the array's pointer) hold at least `need`
 * elements of `size` bytes; *cap is its room in elements. When it must
 * grow, the room doubles (from 8) until it suffices. Returns 0, or -1
 * when memory or size_t runs out, leaving array and room as they were. */
int array_reserve(void *arrp, size_t *cap, size_t need, size_t size);

/* ARRAY_RESERVE(v, cap, n + 1) before v[n++] = x. */
#define ARRAY_RESERVE(arr, cap, need) array_reserve(&(arr), &(cap), (need), sizeof(*(arr)))

#endif
