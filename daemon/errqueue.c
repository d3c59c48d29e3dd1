/* SPDX-License-Identifier: ISC */
/* The error queue of a socket (IP_RECVERR, IPV6_RECVERR): the kernel keeps
 * there each error about a datagram the socket sent, with the ICMP type
 * and code and the address of the router that sent it, as tracepath reads
 * it; recvmsg(MSG_ERRQUEUE) takes one at a time without blocking. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/errqueue.h>
#include <netinet/in.h>

#include "errqueue.h"

int errq_enable(int fd, int af)
{
    int on = 1;

    if (af == AF_INET6)
        return setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &on, sizeof(on));
    return setsockopt(fd, IPPROTO_IP, IP_RECVERR, &on, sizeof(on));
}

/* The extended error of one control message, and the offender after it
 * when the message is long enough to hold one of its family. */
static void errq_take(const struct cmsghdr *c, struct errq_msg *m)
{
    struct sock_extended_err ee;
    const unsigned char *data = CMSG_DATA(c);
    size_t len = c->cmsg_len - CMSG_LEN(0);
    struct sockaddr off;

    if (c->cmsg_len < CMSG_LEN(sizeof(ee)))
        return;
    memcpy(&ee, data, sizeof(ee));
    m->err = (int)ee.ee_errno;
    m->origin = ee.ee_origin;
    m->type = ee.ee_type;
    m->code = ee.ee_code;
    m->info = ee.ee_info;
    /* SO_EE_OFFENDER: the sockaddr right after the structure, AF_UNSPEC
     * when the kernel knows no sender (a local error) */
    len -= sizeof(ee);
    if (len < sizeof(off.sa_family))
        return;
    memcpy(&off.sa_family, data + sizeof(ee), sizeof(off.sa_family));
    if (off.sa_family == AF_INET && len >= sizeof(m->offender.sin)) {
        memcpy(&m->offender.sin, data + sizeof(ee), sizeof(m->offender.sin));
        m->has_offender = true;
    } else if (off.sa_family == AF_INET6 && len >= sizeof(m->offender.sin6)) {
        memcpy(&m->offender.sin6, data + sizeof(ee), sizeof(m->offender.sin6));
        m->has_offender = true;
    }
}

int errq_read(int fd, struct errq_msg *m)
{
    /* room for the extended error, an IPv6 offender and a timestamp */
    unsigned char ctl[CMSG_SPACE(sizeof(struct sock_extended_err) + sizeof(struct sockaddr_in6)) +
                      CMSG_SPACE(64)];
    struct iovec iov = {m->quoted, sizeof(m->quoted)};
    struct msghdr mh = {.msg_name = &m->dest,
                        .msg_namelen = sizeof(m->dest),
                        .msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = ctl,
                        .msg_controllen = sizeof(ctl)};
    ssize_t n;

    memset(m, 0, sizeof(*m));
    n = recvmsg(fd, &mh, MSG_ERRQUEUE | MSG_DONTWAIT);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        return -1;
    }
    m->quoted_len = (size_t)n < sizeof(m->quoted) ? (size_t)n : sizeof(m->quoted);
    if (mh.msg_namelen == 0 || mh.msg_namelen > sizeof(m->dest))
        memset(&m->dest, 0, sizeof(m->dest));
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c))
        if ((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR) ||
            (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_RECVERR))
            errq_take(c, m);
    return 1;
}
