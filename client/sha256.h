/* SPDX-License-Identifier: ISC */
/* SHA-256 (FIPS 180-4) of a short text, for the hashes a
 * Content-Security-Policy names (owned by sha256.c). Not for secrets: no
 * care is taken against timing. */
#ifndef NETDIAG_SHA256_H
#define NETDIAG_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32

void sha256(const void *data, size_t len, uint8_t out[SHA256_LEN]);

#endif
