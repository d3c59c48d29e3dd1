/* Socket set-up shared by the connect and send probes: non-blocking
 * socket, optional source bind, connect, and reading its outcome. */
#include <errno.h>
#include <sys/socket.h>

#include "sock.h"

int sock_open_connect(struct probe *p, int type, int *fdp)
{
    const struct target *t = p->t;
    int fd;

    fd = socket(p->addr.sa.sa_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errno;
    p->fd = fd; /* from here the engine closes it, whatever happens */
    *fdp = fd;
    if (t->source_len > 0) {
        if (t->source.sa.sa_family != p->addr.sa.sa_family)
            return EAFNOSUPPORT;
        if (bind(fd, &t->source.sa, t->source_len) < 0)
            return errno;
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
