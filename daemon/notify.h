/* SPDX-License-Identifier: ISC */
/* The systemd notify protocol: one datagram per state on $NOTIFY_SOCKET
 * (owned by notify.c). Without $NOTIFY_SOCKET every call does nothing. */
#ifndef NETDIAG_NOTIFY_H
#define NETDIAG_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

/* Reads $NOTIFY_SOCKET and $WATCHDOG_USEC once. */
void notify_init(void);
/* Sends "READY=1", "STOPPING=1", "STATUS=..." etc. Returns 0 or -1. */
int notify_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The watchdog interval systemd asked for, in µs; 0 when none. */
uint64_t notify_watchdog_usec(void);
bool notify_enabled(void);

#endif
