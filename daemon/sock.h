/* SPDX-License-Identifier: ISC */
/* Socket set-up shared by the connect and send probes (owned by sock.c). */
#ifndef NETDIAG_SOCK_H
#define NETDIAG_SOCK_H

#include <stddef.h>

#include "probe.h"

/* Open a non-blocking socket of `type` for p->addr, bind the target's
 * source address if set, and connect. The fd is handed to the engine (it
 * is p->fd from then on, closed by the engine) and stored in *fdp.
 * Returns 0 (connected), EINPROGRESS (wait for EV_WRITE), or the errno
 * that failed. A failure of the source address (bind, or a family other
 * than the destination's) puts a detail naming it in `detail` ("cannot
 * bind source 192.0.2.1: Cannot assign requested address") and shows the
 * source as the result's local address; any other failure leaves detail
 * empty. A failed bind counts as the connect phase: binding is the first
 * step of opening the connection, and Windows' connect() reports a source
 * it cannot use with the same code. */
int sock_open_connect(struct probe *p, int type, int *fdp, char *detail, size_t detail_len);

/* After EV_WRITE on a connecting socket: 0, EINPROGRESS, or the errno. */
int sock_connect_result(int fd);

#endif
