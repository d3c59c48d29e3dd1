/* SPDX-License-Identifier: ISC */
/* Unit tests for errqueue.c: a UDP datagram to a closed loopback port
 * comes back as ICMP (or ICMPv6) port unreachable in the error queue,
 * with its sender, its destination and the start of what was sent; an
 * empty queue reads 0, a bad socket -1. */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/errqueue.h>
#include <netinet/in.h>

#include "errqueue.h"
#include "unit.h"

static const char payload[] = "netdiag errqueue test";

/* A loopback address of family af with a port nothing listens on (bound
 * for a moment, then closed): 0, or -1 when the family has no loopback. */
static int closed_port(int af, union nd_sockaddr *sa, socklen_t *sl)
{
    int fd = socket(af, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    memset(sa, 0, sizeof(*sa));
    sa->sa.sa_family = (sa_family_t)af;
    if (af == AF_INET6) {
        sa->sin6.sin6_addr = in6addr_loopback;
        *sl = sizeof(sa->sin6);
    } else {
        sa->sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        *sl = sizeof(sa->sin);
    }
    if (fd < 0)
        return -1;
    if (bind(fd, &sa->sa, *sl) < 0 || getsockname(fd, &sa->sa, sl) < 0) {
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

/* Send to the closed port and wait (2 s at most) for the error. */
static int send_and_wait(int af, int fd, const union nd_sockaddr *to, socklen_t tl)
{
    struct pollfd pfd = {.fd = fd, .events = 0};

    if (sendto(fd, payload, sizeof(payload), 0, &to->sa, tl) < 0)
        return -1;
    (void)af;
    return poll(&pfd, 1, 2000) == 1 && (pfd.revents & POLLERR) ? 0 : -1;
}

static void check_port_unreachable(int af)
{
    union nd_sockaddr to;
    socklen_t tl;
    struct errq_msg m;
    int fd;

    if (closed_port(af, &to, &tl) < 0) {
        fprintf(unit_err(), "errqueue: no %s loopback here, that family is not tested\n",
                af == AF_INET6 ? "IPv6" : "IPv4");
        return;
    }
    fd = socket(af, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    UNIT_CHECK(fd >= 0);
    if (fd < 0)
        return;
    UNIT_EQ_INT(errq_read(fd, &m), 0); /* nothing queued yet */
    UNIT_EQ_INT(errq_enable(fd, af), 0);
    UNIT_EQ_INT(send_and_wait(af, fd, &to, tl), 0);
    UNIT_EQ_INT(errq_read(fd, &m), 1);
    UNIT_EQ_INT(m.err, ECONNREFUSED);
    if (af == AF_INET6) {
        UNIT_EQ_INT(m.origin, SO_EE_ORIGIN_ICMP6);
        UNIT_EQ_INT(m.type, 1); /* destination unreachable */
        UNIT_EQ_INT(m.code, 4); /* port unreachable */
        UNIT_CHECK(m.has_offender);
        UNIT_EQ_INT(m.offender.sa.sa_family, AF_INET6);
        UNIT_CHECK(IN6_IS_ADDR_LOOPBACK(&m.offender.sin6.sin6_addr));
        UNIT_EQ_INT(m.dest.sa.sa_family, AF_INET6);
        UNIT_EQ_INT(m.dest.sin6.sin6_port, to.sin6.sin6_port);
    } else {
        UNIT_EQ_INT(m.origin, SO_EE_ORIGIN_ICMP);
        UNIT_EQ_INT(m.type, 3);
        UNIT_EQ_INT(m.code, 3);
        UNIT_CHECK(m.has_offender);
        UNIT_EQ_INT(m.offender.sa.sa_family, AF_INET);
        UNIT_EQ_INT(ntohl(m.offender.sin.sin_addr.s_addr), INADDR_LOOPBACK);
        UNIT_EQ_INT(m.dest.sa.sa_family, AF_INET);
        UNIT_EQ_INT(m.dest.sin.sin_port, to.sin.sin_port);
    }
    /* the start of the datagram's payload (a UDP socket quotes from it) */
    UNIT_EQ_INT(m.quoted_len, sizeof(payload));
    UNIT_CHECK(memcmp(m.quoted, payload, sizeof(payload)) == 0);
    UNIT_EQ_INT(errq_read(fd, &m), 0); /* one error, read once */
    close(fd);
}

static void test_udp_port_unreachable_v4(void)
{
    check_port_unreachable(AF_INET);
}

static void test_udp_port_unreachable_v6(void)
{
    check_port_unreachable(AF_INET6);
}

/* Without the option nothing is queued: the kernel only sets SO_ERROR. */
static void test_not_enabled_queues_nothing(void)
{
    union nd_sockaddr to;
    socklen_t tl;
    struct errq_msg m;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    UNIT_CHECK(fd >= 0);
    UNIT_EQ_INT(closed_port(AF_INET, &to, &tl), 0);
    UNIT_EQ_INT(connect(fd, &to.sa, tl), 0);
    UNIT_EQ_INT(send_and_wait(AF_INET, fd, &to, tl), 0); /* connected: POLLERR all the same */
    UNIT_EQ_INT(errq_read(fd, &m), 0);
    close(fd);
}

static void test_bad_socket(void)
{
    struct errq_msg m;

    errno = 0;
    UNIT_EQ_INT(errq_read(-1, &m), -1);
    UNIT_EQ_INT(errno, EBADF);
    UNIT_EQ_INT(errq_enable(-1, AF_INET), -1);
}

int main(int argc, char **argv)
{
    unit_init(argc, argv);
    UNIT_RUN(test_udp_port_unreachable_v4);
    UNIT_RUN(test_udp_port_unreachable_v6);
    UNIT_RUN(test_not_enabled_queues_nothing);
    UNIT_RUN(test_bad_socket);
    return UNIT_END("errqueue");
}
