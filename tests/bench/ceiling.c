/* SPDX-License-Identifier: ISC */
/* The ceiling for the connect benchmarks: a minimal epoll prober that keeps
 * `parallel` non-blocking connects in flight to one loopback port for a
 * fixed time and closes each with SO_LINGER 0. Prints one JSON object:
 * {"figure":"ceiling_connects_per_s",...}. Loopback only, bounded in time. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct sockaddr_in dst;
static unsigned long long ok, refused, other;

static int start_one(int ep)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct epoll_event ev = {.events = EPOLLOUT};

    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) == 0 || errno == EINPROGRESS ||
        errno == ECONNREFUSED) {
        ev.data.fd = fd;
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
        return 0;
    }
    other++;
    close(fd);
    return 0;
}

static void finish(int fd)
{
    int err = 0;
    socklen_t len = sizeof(err);
    struct linger lg = {1, 0};

    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err == 0)
        ok++;
    else if (err == ECONNREFUSED)
        refused++;
    else
        other++;
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
}

int main(int argc, char **argv)
{
    const char *label;
    int port, parallel, ep;
    double seconds, t0, el;
    struct epoll_event evs[256];

    if (argc < 5) {
        fprintf(stderr, "usage: ceiling LABEL PORT SECONDS PARALLEL\n");
        return 2;
    }
    label = argv[1];
    port = atoi(argv[2]);
    seconds = atof(argv[3]);
    parallel = atoi(argv[4]);
    memset(&dst, 0, sizeof(dst));
    dst.sin_family = AF_INET;
    dst.sin_port = htons((unsigned short)port);
    dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ep = epoll_create1(0);
    for (int i = 0; i < parallel; i++)
        start_one(ep);
    t0 = now_s();
    while ((el = now_s() - t0) < seconds) {
        int n = epoll_wait(ep, evs, 256, 100);
        for (int i = 0; i < n; i++) {
            epoll_ctl(ep, EPOLL_CTL_DEL, evs[i].data.fd, NULL);
            finish(evs[i].data.fd);
            start_one(ep);
        }
    }
    printf("{\"figure\":\"ceiling_%s_per_s\",\"value\":%.0f,\"ok\":%llu,\"refused\":%llu,"
           "\"other\":%llu,\"seconds\":%.2f}\n",
           label, (double)(ok + refused) / el, ok, refused, other, el);
    return 0;
}
