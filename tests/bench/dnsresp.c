/* SPDX-License-Identifier: ISC */
/* A fast loopback DNS responder for the resolve benchmark: answers every
 * A query with one A record 127.0.0.1 (copying the question back), with
 * recvmmsg/sendmmsg in batches. Prints its port, runs until SIGTERM or
 * the given number of seconds. Not a nameserver: just enough to load the
 * prober rather than the server. */
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define MAXPKT 512

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

/* Turn the query in buf (len bytes) into an answer; returns its length or
 * 0 to drop it. */
static size_t answer(unsigned char *buf, size_t len)
{
    size_t q = 12;
    static const unsigned char rr[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1};

    if (len < 17 || (buf[2] & 0x80) || buf[4] != 0 || buf[5] != 1)
        return 0;
    while (q < len && buf[q] != 0)
        q += (size_t)buf[q] + 1;
    q += 5; /* root label, qtype, qclass */
    if (q > len || q + sizeof(rr) > MAXPKT)
        return 0;
    buf[2] = 0x81; /* QR, RD */
    buf[3] = 0x80; /* RA, NOERROR */
    buf[6] = 0;
    buf[7] = 1; /* ANCOUNT 1 */
    buf[8] = buf[9] = buf[10] = buf[11] = 0;
    memcpy(buf + q, rr, sizeof(rr));
    return q + sizeof(rr);
}

int main(int argc, char **argv)
{
    struct sockaddr_in sin, peers[BATCH];
    socklen_t sl = sizeof(sin);
    static unsigned char bufs[BATCH][MAXPKT];
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    long seconds = argc > 1 ? atol(argv[1]) : 600;
    time_t end = time(NULL) + seconds;
    struct timeval tv = {0, 200000};
    unsigned long long answered = 0;
    int fd, rcv = 8 << 20;

    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    fd = socket(AF_INET, SOCK_DGRAM, 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &rcv, sizeof(rcv));
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
        perror("dnsresp");
        return 1;
    }
    getsockname(fd, (struct sockaddr *)&sin, &sl);
    printf("%u\n", ntohs(sin.sin_port));
    fflush(stdout);
    while (!stop && time(NULL) < end) {
        int n, m = 0;
        for (int i = 0; i < BATCH; i++) {
            iov[i].iov_base = bufs[i];
            iov[i].iov_len = MAXPKT;
            memset(&msgs[i], 0, sizeof(msgs[i]));
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            msgs[i].msg_hdr.msg_name = &peers[i];
            msgs[i].msg_hdr.msg_namelen = sizeof(peers[i]);
        }
        n = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);
        if (n <= 0)
            continue;
        for (int i = 0; i < n; i++) {
            size_t alen = answer(bufs[i], msgs[i].msg_len);
            if (alen == 0)
                continue;
            iov[m].iov_base = bufs[i];
            iov[m].iov_len = alen;
            msgs[m].msg_hdr.msg_iov = &iov[m];
            msgs[m].msg_hdr.msg_iovlen = 1;
            msgs[m].msg_hdr.msg_name = &peers[i];
            msgs[m].msg_hdr.msg_namelen = sizeof(peers[i]);
            m++;
        }
        if (m > 0 && sendmmsg(fd, msgs, (unsigned)m, 0) > 0)
            answered += (unsigned long long)m;
    }
    fprintf(stderr, "dnsresp: %llu answered\n", answered);
    return 0;
}
