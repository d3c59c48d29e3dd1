/* SPDX-License-Identifier: ISC */
/* Growing an array in place, written once. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"

#define ARRAY_FIRST 8

int array_reserve(void *arrp, size_t *cap, size_t need, size_t size)
{
    size_t n = *cap ? *cap : ARRAY_FIRST;
    void *arr, *grown;

    if (need <= *cap)
        return 0;
    while (n < need) {
        if (n > SIZE_MAX / 2)
            return -1;
        n *= 2;
    }
    if (size != 0 && n > SIZE_MAX / size)
        return -1;
    /* arrp points at a `T *`: copied through memcpy, never read as void * */
    memcpy(&arr, arrp, sizeof(arr));
    grown = realloc(arr, size != 0 ? n * size : 1);
    if (grown == NULL)
        return -1;
    memcpy(arrp, &grown, sizeof(grown));
    *cap = n;
    return 0;
}
