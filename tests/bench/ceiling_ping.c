/* SPDX-License-Identifier: ISC */
/* The ceiling for the ping benchmark: a minimal ICMP echo client that
 * keeps `parallel` echoes in flight to one loopback address over one
 * socket (a datagram ICMP socket where ping_group_range allows it, else a
 * raw one) for a fixed time, sending the next echo for each reply. Prints
 * one JSON object: {"figure":"ceiling_ping_echoes_per_s",...}. Loopback
 * only, bounded in time. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint16_t csum(const unsigned char *b, size_t n)
{
    uint32_t s = 0;
    for (; n > 1; b += 2, n -= 2)
        s += (uint32_t)b[0] << 8 | b[1];
    if (n)
        s += (uint32_t)b[0] << 8;
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

static int fd, raw, v6;
static struct sockaddr_storage dst;
static socklen_t dstlen;
static uint16_t seq, ident;
static unsigned long long sent, got, errs;

static void send_one(void)
{
    unsigned char p[64];
    uint16_t c;

    memset(p, 0, sizeof(p));
    p[0] = v6 ? 128 : 8;
    p[4] = (unsigned char)(ident >> 8);
    p[5] = (unsigned char)ident;
    p[6] = (unsigned char)(seq >> 8);
    p[7] = (unsigned char)seq;
    seq++;
    if (!v6) {
        c = csum(p, sizeof(p));
        p[2] = (unsigned char)(c >> 8);
        p[3] = (unsigned char)c;
    }
    if (sendto(fd, p, sizeof(p), 0, (struct sockaddr *)&dst, dstlen) < 0)
        errs++;
    else
        sent++;
}

int main(int argc, char **argv)
{
    int parallel, ep, proto;
    double seconds, t0, el;
    struct epoll_event ev = {.events = EPOLLIN};

    if (argc < 4) {
        fprintf(stderr, "usage: ceiling_ping ADDRESS SECONDS PARALLEL\n");
        return 2;
    }
    seconds = atof(argv[2]);
    parallel = atoi(argv[3]);
    memset(&dst, 0, sizeof(dst));
    v6 = strchr(argv[1], ':') != NULL;
    if (v6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&dst;
        s6->sin6_family = AF_INET6;
        inet_pton(AF_INET6, argv[1], &s6->sin6_addr);
        dstlen = sizeof(*s6);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&dst;
        s4->sin_family = AF_INET;
        inet_pton(AF_INET, argv[1], &s4->sin_addr);
        dstlen = sizeof(*s4);
    }
    proto = v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
    fd = socket(dst.ss_family, SOCK_DGRAM | SOCK_NONBLOCK, proto);
    if (fd < 0) {
        fd = socket(dst.ss_family, SOCK_RAW | SOCK_NONBLOCK, proto);
        raw = 1;
    }
    if (fd < 0) {
        perror("ceiling_ping: no ICMP socket");
        return 1;
    }
    {
        /* the same receive buffer netdiagd asks for: a full one drops replies */
        int rcv = 4 << 20;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
    }
    ident = (uint16_t)getpid();
    ep = epoll_create1(0);
    ev.data.fd = fd;
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    for (int i = 0; i < parallel; i++)
        send_one();
    t0 = now_s();
    while ((el = now_s() - t0) < seconds) {
        struct epoll_event evs[1];
        if (epoll_wait(ep, evs, 1, 100) <= 0)
            continue;
        /* bounded: on loopback each echo sent is answered at once, so
         * the socket would never run dry */
        for (int k = 0; k < 64; k++) {
            unsigned char b[256];
            ssize_t n = recv(fd, b, sizeof(b), MSG_DONTWAIT);
            size_t off = raw && !v6 ? (size_t)(b[0] & 0x0f) * 4 : 0;
            if (n < 0)
                break;
            /* an echo reply (ours on a raw socket: our identifier) */
            if ((size_t)n < off + 8 || b[off] != (v6 ? 129 : 0) ||
                (raw && (b[off + 4] << 8 | b[off + 5]) != ident))
                continue;
            got++;
            send_one();
        }
    }
    {
        /* CPU per echo as well: on a machine shared with other work the
         * rate follows the CPU this process got, the cost per echo does not */
        struct rusage ru;
        double cpu;
        getrusage(RUSAGE_SELF, &ru);
        cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
              (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
        printf("{\"figure\":\"ceiling_ping_echoes_per_s\",\"value\":%.0f,\"replies\":%llu,"
               "\"sent\":%llu,\"send_errors\":%llu,\"socket\":\"%s\",\"parallel\":%d,"
               "\"seconds\":%.2f,\"cpu_us_per_echo\":%.2f}\n",
               (double)got / el, got, sent, errs, raw ? "raw" : "datagram", parallel, el,
               got ? cpu * 1e6 / (double)got : 0.0);
    }
    return 0;
}
