/* SPDX-License-Identifier: ISC */
/* A loopback listener for the benchmarks: accepts as fast as it can and
 * closes each connection with a FIN (no SO_LINGER 0, so the prober sees a
 * completed connect, never ECONNRESET). Prints its port, then runs until
 * SIGTERM or --seconds pass. */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv)
{
    struct sockaddr_in sin;
    socklen_t sl = sizeof(sin);
    int fd, ep, one = 1;
    long seconds = argc > 1 ? atol(argv[1]) : 600;
    struct epoll_event ev = {.events = EPOLLIN};
    time_t end = time(NULL) + seconds;
    unsigned long long accepted = 0;

    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(fd, 65535) < 0) {
        perror("listener");
        return 1;
    }
    getsockname(fd, (struct sockaddr *)&sin, &sl);
    printf("%u\n", ntohs(sin.sin_port));
    fflush(stdout);
    ep = epoll_create1(0);
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    while (!stop && time(NULL) < end) {
        struct epoll_event out;
        if (epoll_wait(ep, &out, 1, 200) <= 0)
            continue;
        for (;;) {
            int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK);
            if (c < 0)
                break;
            close(c);
            accepted++;
        }
    }
    fprintf(stderr, "listener: %llu accepted\n", accepted);
    return 0;
}
