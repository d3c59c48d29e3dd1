/* SPDX-License-Identifier: ISC */
/* For tests/bench/bench_web.py: libevent's evhttp (Debian 12: 2.1.12)
 * answering every GET with a short body, its limits set as far as its API
 * goes (a 5 s timeout, 8 KB of headers, no body, GET and HEAD), so that
 * the bench can put it beside netdiag web's own server under the same
 * abuse: many idle connections, and a head dripped a byte at a time.
 * Usage: evhttp_probe PORT; runs until SIGTERM. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

static void probe_reply(struct evhttp_request *req, void *arg)
{
    struct evbuffer *b = evbuffer_new();

    (void)arg;
    if (b == NULL)
        return;
    evbuffer_add_printf(b, "ok\n");
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
}

static void probe_stop(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    event_base_loopexit(arg, NULL);
}

int main(int argc, char **argv)
{
    struct event_base *base = event_base_new();
    struct evhttp *http = base ? evhttp_new(base) : NULL;
    struct event *ev;

    if (argc != 2 || http == NULL) {
        fprintf(stderr, "usage: evhttp_probe PORT\n");
        return 2;
    }
    evhttp_set_timeout(http, 5);
    evhttp_set_max_headers_size(http, 8192);
    evhttp_set_max_body_size(http, 0);
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
    evhttp_set_gencb(http, probe_reply, NULL);
    if (evhttp_bind_socket(http, "127.0.0.1", (unsigned short)atoi(argv[1])) != 0) {
        fprintf(stderr, "evhttp_probe: cannot listen on 127.0.0.1:%s\n", argv[1]);
        return 1;
    }
    ev = evsignal_new(base, SIGTERM, probe_stop, base);
    event_add(ev, NULL);
    printf("ready\n");
    fflush(stdout);
    event_base_dispatch(base);
    event_free(ev);
    evhttp_free(http);
    event_base_free(base);
    return 0;
}
