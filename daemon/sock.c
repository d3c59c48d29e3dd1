/* SPDX-License-Identifier: ISC */
/* Socket set-up shared by the connect and send probes: non-blocking
 * socket, optional source bind, connect, and reading its outcome. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "errqueue.h"
#include "sock.h"

/* The address alone, without the port: "192.0.2.1", "::2". */
static const char *sock_addr_text(const union nd_sockaddr *sa, char *buf, size_t len)
{
    const void *a = sa->sa.sa_family == AF_INET6 ? (const void *)&sa->sin6.sin6_addr
                                                 : (const void *)&sa->sin.sin_addr;

    if (inet_ntop(sa->sa.sa_family, a, buf, (socklen_t)len) == NULL)
        snprintf(buf, len, "?");
    return buf;
}

int sock_open_connect(struct probe *p, int type, int *fdp, char *detail, size_t detail_len)
{
    const struct target *t = p->t;
    char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
    int fd, err;

    detail[0] = '\0';
    fd = socket(p->addr.sa.sa_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errno;
    p->fd = fd; /* from here the engine closes it, whatever happens */
    *fdp = fd;
    /* ICMP errors queued with their sender (errqueue.c): a failure then
     * says which router refused. Asked before connect(), which the first
     * ICMP error may already answer; a refusal leaves the probe as it was. */
    (void)errq_enable(fd, p->addr.sa.sa_family);
    if (t->source_len > 0) {
        if (t->source.sa.sa_family != p->addr.sa.sa_family) {
            snprintf(detail, detail_len, "source %s is %s, the address %s is %s",
                     sock_addr_text(&t->source, src, sizeof(src)),
                     t->source.sa.sa_family == AF_INET6 ? "IPv6" : "IPv4",
                     sock_addr_text(&p->addr, dst, sizeof(dst)),
                     p->addr.sa.sa_family == AF_INET6 ? "IPv6" : "IPv4");
            probe_set_local(p, &t->source);
            return EAFNOSUPPORT;
        }
        if (bind(fd, &t->source.sa, t->source_len) < 0) {
            err = errno;
            snprintf(detail, detail_len, "cannot bind source %s: %s",
                     sock_addr_text(&t->source, src, sizeof(src)), strerror(err));
            probe_set_local(p, &t->source);
            return err;
        }
    }
    if (connect(fd, &p->addr.sa, p->addrlen) < 0)
        return errno;
    return 0;
}

int sock_connect_result(int fd)
{
    int err = 0;
    socklen_t len = sizeof(err);

    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        return errno;
    return err;
}
