/* SPDX-License-Identifier: ISC */
/* The connect probe: a non-blocking TCP connect to one address, optionally
 * from a configured source address; success is the completed handshake. */
#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "probe.h"
#include "sock.h"

static void connect_io(struct probe *p, short what)
{
    (void)what;
    int err = sock_connect_result(p->fd);

    if (err == 0)
        probe_complete_ok(p, "connected");
    else if (err == ECONNRESET) /* after the handshake; see probe_send.c */
        probe_complete_errno(p, PHASE_CONNECT, err, "accepted, then reset by the peer");
    else if (err != EINPROGRESS)
        probe_complete_errno(p, PHASE_CONNECT, err, NULL);
}

static void connect_start(struct probe *p)
{
    int fd, err;
    char detail[128];

    p->phase = PHASE_CONNECT;
    err = sock_open_connect(p, SOCK_STREAM, &fd, detail, sizeof(detail));
    if (err == 0) {
        probe_complete_ok(p, "connected");
        return;
    }
    if (err != EINPROGRESS) {
        probe_complete_errno(p, PHASE_CONNECT, err, detail[0] ? detail : NULL);
        return;
    }
    if (probe_watch(p, fd, EV_WRITE, connect_io) < 0)
        probe_complete_errno(p, PHASE_CONNECT, errno, "cannot watch socket");
}

const struct probe_ops probe_connect_ops = {
    .kind = KIND_CONNECT,
    .name = "connect",
    .needs_address = true,
    .start = connect_start,
    .abort = NULL,
};
