/* SPDX-License-Identifier: ISC */
/* sd_notify without libsystemd: a datagram on the AF_UNIX socket named by
 * $NOTIFY_SOCKET ('@' for the abstract namespace), as chrony does. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "notify.h"
#include "util.h"

static struct sockaddr_un notify_addr;
static socklen_t notify_len;
static uint64_t notify_wd_usec;

void notify_init(void)
{
    const char *path = getenv("NOTIFY_SOCKET");
    const char *wd = getenv("WATCHDOG_USEC");
    const char *wdpid = getenv("WATCHDOG_PID");
    size_t n;

    notify_len = 0;
    notify_wd_usec = 0;
    if (path != NULL && (path[0] == '/' || path[0] == '@') &&
        (n = strlen(path)) < sizeof(notify_addr.sun_path)) {
        memset(&notify_addr, 0, sizeof(notify_addr));
        notify_addr.sun_family = AF_UNIX;
        memcpy(notify_addr.sun_path, path, n);
        if (path[0] == '@')
            notify_addr.sun_path[0] = '\0';
        notify_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    }
    if (wd != NULL && (wdpid == NULL || strtol(wdpid, NULL, 10) == (long)getpid())) {
        char *end;
        unsigned long long v = strtoull(wd, &end, 10);
        if (*end == '\0')
            notify_wd_usec = v;
    }
}

bool notify_enabled(void)
{
    return notify_len > 0;
}

uint64_t notify_watchdog_usec(void)
{
    return notify_len > 0 ? notify_wd_usec : 0;
}

int notify_send(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    int fd, rc, saved = errno;

    if (notify_len == 0)
        return 0;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        errno = saved;
        return -1;
    }
    rc = sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&notify_addr, notify_len) < 0
             ? -1
             : 0;
    close(fd);
    errno = saved;
    return rc;
}
