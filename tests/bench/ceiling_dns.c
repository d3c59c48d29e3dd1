/* SPDX-License-Identifier: ISC */
/* The ceiling for the resolve benchmark: a minimal epoll client that keeps
 * `parallel` connected UDP sockets, each with one A query for bench.test
 * in flight to the bench's loopback responder, and sends the next query
 * (new ID) as soon as an answer with the right ID comes back. No parsing
 * beyond the ID, no timeouts, no storage: what the kernel and the
 * responder allow. Prints one JSON object. Loopback only, bounded in time.
 *
 * usage: ceiling_dns PORT SECONDS PARALLEL */
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXPAR 4096

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* header (ID filled in per query, RD), one question: bench.test A IN */
static const unsigned char query_tmpl[] = {0,   0,   1,   0,   0,   1,   0,   0,   0, 0,
                                           0,   0,   5,   'b', 'e', 'n', 'c', 'h', 4, 't',
                                           'e', 's', 't', 0,   0,   1,   0,   1};
static uint16_t ids[MAXPAR];
static double sent_at[MAXPAR];

static void send_query(int fd, int i)
{
    unsigned char q[sizeof(query_tmpl)];

    memcpy(q, query_tmpl, sizeof(q));
    ids[i]++;
    q[0] = (unsigned char)(ids[i] >> 8);
    q[1] = (unsigned char)(ids[i] & 0xff);
    sent_at[i] = now_s();
    send(fd, q, sizeof(q), 0);
}

int main(int argc, char **argv)
{
    struct sockaddr_in dst;
    struct epoll_event evs[256];
    static int fds[MAXPAR];
    unsigned long long answered = 0, stray = 0, resent = 0;
    double seconds, t0, el, next_scan;
    int parallel, ep;

    if (argc < 4) {
        fprintf(stderr, "usage: ceiling_dns PORT SECONDS PARALLEL\n");
        return 2;
    }
    memset(&dst, 0, sizeof(dst));
    dst.sin_family = AF_INET;
    dst.sin_port = htons((unsigned short)atoi(argv[1]));
    dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    seconds = atof(argv[2]);
    parallel = atoi(argv[3]);
    if (parallel < 1 || parallel > MAXPAR || seconds <= 0) {
        fprintf(stderr, "ceiling_dns: PARALLEL 1..%d, SECONDS > 0\n", MAXPAR);
        return 2;
    }
    ep = epoll_create1(0);
    for (int i = 0; i < parallel; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        fds[i] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        if (fds[i] < 0 || connect(fds[i], (struct sockaddr *)&dst, sizeof(dst)) < 0) {
            perror("ceiling_dns: socket");
            return 1;
        }
        epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
        ids[i] = (uint16_t)(i * 7919);
        send_query(fds[i], i);
    }
    t0 = now_s();
    next_scan = t0 + 0.05;
    while ((el = now_s() - t0) < seconds) {
        int n = epoll_wait(ep, evs, 256, 100);
        for (int k = 0; k < n; k++) {
            int i = (int)evs[k].data.u32;
            unsigned char buf[512];
            ssize_t len;
            while ((len = recv(fds[i], buf, sizeof(buf), MSG_DONTWAIT)) >= 0) {
                if (len >= 12 && (buf[0] << 8 | buf[1]) == ids[i]) {
                    answered++;
                    send_query(fds[i], i);
                } else {
                    stray++;
                }
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                send_query(fds[i], i); /* an ICMP error: ask again */
        }
        if (now_s() >= next_scan) {
            /* a query the responder dropped (its buffer was full): ask again */
            double t = now_s();
            for (int i = 0; i < parallel; i++)
                if (t - sent_at[i] > 0.05) {
                    send_query(fds[i], i);
                    resent++;
                }
            next_scan = t + 0.05;
        }
    }
    printf("{\"figure\":\"ceiling_resolve_per_s\",\"value\":%.0f,\"answered\":%llu,"
           "\"stray\":%llu,\"resent\":%llu,\"seconds\":%.2f,\"parallel\":%d}\n",
           (double)answered / el, answered, stray, resent, el, parallel);
    return 0;
}
