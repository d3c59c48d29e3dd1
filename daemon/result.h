/* SPDX-License-Identifier: ISC */
/* One outcome of one probe attempt, as the engine hands it on to the
 * store, the alert engine, the metrics and the --once printer, with its
 * phase's name and its text forms (owned by result.c). A module that only
 * reads results includes this, not the engine's interface (probe.h). */
#ifndef NETDIAG_RESULT_H
#define NETDIAG_RESULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct target;

enum probe_phase {
    PHASE_NONE,
    PHASE_RESOLVE, /* name resolution, or the whole of a resolve probe */
    PHASE_CONNECT,
    PHASE_SEND,
    PHASE_RECV,
    PHASE_VERIFY, /* an answer arrived but did not hold what `expect` asks */
};
/* "resolve", "connect", ... as stored and printed. */
const char *result_phase_name(enum probe_phase phase);

/* One outcome of one probe attempt (one per address with addresses=all). */
struct result {
    const struct target *target;
    int64_t ts_ms;      /* wall clock at the attempt's start */
    int64_t latency_us; /* CLOCK_MONOTONIC, start to completion */
    enum probe_phase phase;
    bool ok;
    int wsa_code;     /* 0 when ok */
    char raw[24];     /* "ECONNREFUSED", "EAI_NONAME", "SERVFAIL", "" if ok */
    int raw_value;    /* errno, EAI value or DNS rcode (-1: none) */
    char detail[192]; /* short human detail: "3 answers: 127.0.0.1, ..." */
    char local[64];   /* "127.0.0.1:40312", "" if unknown */
    char remote[64];  /* "127.0.0.1:8080", "[::1]:53" */
    /* ping: echoes sent and answered, and the RTTs (latency_us is their
     * median); 0 for the other kinds */
    uint16_t echo_sent, echo_recv;
    int64_t rtt_min_us, rtt_max_us;
    /* the failure came from an ICMP or ICMPv6 error (IP_RECVERR): its type
     * and code and the address of the router or host that sent it ("" when
     * the kernel named none); false for every other result */
    bool icmp;
    uint8_t icmp_type, icmp_code;
    char icmp_from[46];
};

/* One JSON object, no newline, as `netdiagd --once --format json` prints
 * it (its fields are listed in netdiagd(8)); and the same as a text line. */
void result_format_json(const struct result *r, char *buf, size_t len);
void result_format_text(const struct result *r, char *buf, size_t len);

#endif
