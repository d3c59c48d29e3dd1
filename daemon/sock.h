/* Socket set-up shared by the connect and send probes (owned by sock.c). */
#ifndef NETDIAG_SOCK_H
#define NETDIAG_SOCK_H

#include "probe.h"

/* Open a non-blocking socket of `type` for p->addr, bind the target's
 * source address if set, and connect. The fd is handed to the engine (it
 * is p->fd from then on, closed by the engine) and stored in *fdp.
 * Returns 0 (connected), EINPROGRESS (wait for EV_WRITE), or the errno
 * that failed; a failed bind() counts as the connect phase. */
int sock_open_connect(struct probe *p, int type, int *fdp);

/* After EV_WRITE on a connecting socket: 0, EINPROGRESS, or the errno. */
int sock_connect_result(int fd);

#endif
