# SPDX-License-Identifier: ISC
"""A small loopback DNS responder for the resolve tests (dnslib), UDP and TCP
on one port of 127.0.0.1 (or ::1), whose behaviour is chosen by the query name (or,
for a whole server, by a mode). Importable (DNSServer) or runnable:

    /usr/bin/python3 tests/integration/dnsserver.py [--port N] [--mode M] [--seconds S]

prints the port on stdout and serves until SIGINT/SIGTERM or S seconds.

Names (class IN, any letter case):
  ok.test       A 127.0.0.1, AAAA ::1
  other.test    A 127.0.0.9
  nx.test       NXDOMAIN                 fail.test    SERVFAIL
  refuse.test   REFUSED                  notimp.test  NOTIMP
  formerr.test  FORMERR without the question section
  yx.test       YXDOMAIN (rcode 6)
  nodata.test   NOERROR, no A; TXT "nodata here"
  big.test      40 A records 127.0.1.0-39: over UDP an empty answer with TC,
                over TCP the full answer
  tcpclose.test like big.test over UDP; TCP accepts and closes
  mx.test       MX 10 mail.example.test.
  txt.test      TXT "hello" "world"
  cname.test    CNAME ok.test. + ok.test A 127.0.0.1
  dangle.test   CNAME nowhere.test. and nothing more
  slow.test     A 127.0.0.1 after 200 ms
  nxdup.test    NXDOMAIN, sent twice (over UDP the copy arrives after the
                probe has its answer)
  alttc.test    NXDOMAIN; over UDP every other query (the 1st, 3rd, ...)
                gets an empty answer with TC instead
  tccut.test    like big.test, but over UDP the full answer with TC set, cut
                at 300 bytes inside a record (as some servers and
                middleboxes cut at 512)
Fault names (and modes for a whole server, mode = the name without .test):
  silent.test     never answers
  wrongid.test    answers with the ID + 1
  wrongq.test     answers about other.test
  garbage.test    our ID, QR set, then bytes that do not parse
  truncated.test  the right answer cut short in its answer record (no TC)
  ptrloop.test    the answer's owner name is a compression pointer to itself
  bigcount.test   the right answer claiming 65535 answer records
  wrongport.test  the right answer, sent from another UDP port
  spoofed.test    wrong-ID, wrong-question and garbage packets first, then
                  the right answer (the probe must wait for it)
Everything else: NXDOMAIN.
"""

import argparse
import select
import signal
import socket
import struct
import sys
import threading
import time

from dnslib import AAAA, CNAME, MX, QTYPE, RCODE, RR, TXT, A, DNSRecord, DNSQuestion

FAULT_MODES = ("silent", "wrongid", "wrongq", "garbage", "wrongport", "spoofed", "truncated",
               "ptrloop", "bigcount")
BIG_COUNT = 40


class DNSServer:
    """UDP and TCP listeners on one loopback port, each in a thread; every
    loop wakes at least every 100 ms to see stop()."""

    def __init__(self, host="127.0.0.1", port=0, mode=None):
        if mode is not None and mode not in FAULT_MODES:
            raise ValueError("unknown mode %r" % mode)
        self.mode = mode
        self.host = host
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.queries = []  # (proto, name, qtype) as received
        self.family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.udp, self.tcp = self._bind(self.family, host, port)
        self.port = self.udp.getsockname()[1]
        self.other = socket.socket(self.family, socket.SOCK_DGRAM)  # wrongport replies
        self.other.bind((host, 0))
        self.threads = []

    @staticmethod
    def _bind(family, host, port):
        # the same number for UDP and TCP: with port 0 the UDP one is
        # ephemeral and TCP may find it taken, so try a few
        for _ in range(20):
            udp = socket.socket(family, socket.SOCK_DGRAM)
            udp.bind((host, port))
            tcp = socket.socket(family, socket.SOCK_STREAM)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                tcp.bind((host, udp.getsockname()[1]))
            except OSError:
                udp.close()
                tcp.close()
                if port != 0:
                    raise
                continue
            tcp.listen(1024)  # a burst of TCP retries after TC must not overflow it
            return udp, tcp
        raise OSError("no port free for both UDP and TCP")

    def start(self):
        for fn in (self._serve_udp, self._serve_tcp):
            t = threading.Thread(target=fn, daemon=True)
            t.start()
            self.threads.append(t)
        return self.port

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(timeout=2)
        for s in (self.udp, self.tcp, self.other):
            s.close()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def count(self, proto=None, name=None):
        with self.lock:
            return sum(1 for p, n, _ in self.queries
                       if (proto is None or p == proto) and (name is None or n == name))

    # --- answers ---------------------------------------------------------

    def _behaviour(self, name):
        if self.mode is not None:
            return self.mode
        label = name[:-len(".test")] if name.endswith(".test") else ""
        return label if label in FAULT_MODES else None

    def answer(self, query, proto):
        """The list of packets (bytes) to send back, possibly empty, and
        whether to send them from the wrong port."""
        q = query.q
        name = str(q.qname).rstrip(".").lower()
        with self.lock:
            self.queries.append((proto, name, QTYPE.get(q.qtype)))
        fault = self._behaviour(name)
        if fault == "silent":
            return [], False
        good = self._reply(query, name, proto).pack()
        if name == "nxdup.test" and proto == "udp":
            return [good, good], False
        if name == "tccut.test" and proto == "udp":
            cut = bytearray(good[:300])
            cut[2] |= 0x02  # TC
            return [bytes(cut)], False
        if fault is None:
            return [good], False
        if fault == "wrongport":
            return [good], proto == "udp"
        bad_id = self._wrong_id(good)
        bad_q = self._wrong_question(query)
        junk = self._garbage(query)
        if fault == "wrongid":
            return [bad_id], False
        if fault == "wrongq":
            return [bad_q], False
        if fault == "garbage":
            return [junk], False
        if fault == "truncated":
            return [good[:len(good) - 3]], False
        if fault == "bigcount":
            return [good[:6] + struct.pack("!H", 0xFFFF) + good[8:]], False
        if fault == "ptrloop":
            # the answer's owner (right after the 12-byte header and the
            # question) becomes a pointer to its own offset
            qlen = len(query.pack()) - 12
            off = 12 + qlen
            return [good[:off] + struct.pack("!H", 0xC000 | off) + good[off + 2:]], False
        return [bad_id, bad_q, junk, good], False  # spoofed

    @staticmethod
    def _wrong_id(packet):
        wid = (struct.unpack("!H", packet[:2])[0] + 1) & 0xFFFF
        return struct.pack("!H", wid) + packet[2:]

    @staticmethod
    def _wrong_question(query):
        r = query.reply()
        r.questions = [DNSQuestion("other.test", query.q.qtype)]
        r.add_answer(RR("other.test", QTYPE.A, rdata=A("127.0.0.66"), ttl=60))
        return r.pack()

    @staticmethod
    def _garbage(query):
        # our ID and QR set, so it gets past the header checks; the counts
        # promise a question and an answer the bytes do not hold
        return struct.pack("!HHHHHH", query.header.id, 0x8180, 1, 1, 0, 0) + b"\xc0\x0c\xff\x07junk"

    def _reply(self, query, name, proto):
        q = query.q
        r = query.reply()  # QR, RA, RD echoed, same id and question
        qt = q.qtype
        qn = q.qname

        def add(rtype, rdata, owner=None):
            r.add_answer(RR(owner or qn, getattr(QTYPE, rtype), rdata=rdata, ttl=60))

        if name == "ok.test" or name in FAULT_MODES_NAMES or self.mode is not None:
            if qt == QTYPE.A:
                add("A", A("127.0.0.1"))
            elif qt == QTYPE.AAAA:
                add("AAAA", AAAA("::1"))
        elif name == "slow.test":
            time.sleep(0.2)
            if qt == QTYPE.A:
                add("A", A("127.0.0.1"))
        elif name == "other.test":
            if qt == QTYPE.A:
                add("A", A("127.0.0.9"))
        elif name == "nodata.test":
            if qt == QTYPE.TXT:
                add("TXT", TXT("nodata here"))
        elif name == "tccut.test":
            if qt == QTYPE.A:
                for i in range(BIG_COUNT):
                    add("A", A("127.0.1.%d" % i))
        elif name in ("big.test", "tcpclose.test"):
            if proto == "udp":
                r.header.tc = 1
            elif qt == QTYPE.A:
                for i in range(BIG_COUNT):
                    add("A", A("127.0.1.%d" % i))
        elif name == "mx.test":
            if qt == QTYPE.MX:
                add("MX", MX("mail.example.test.", 10))
        elif name == "txt.test":
            if qt == QTYPE.TXT:
                add("TXT", TXT(["hello", "world"]))
        elif name == "cname.test":
            add("CNAME", CNAME("ok.test."))
            if qt == QTYPE.A:
                add("A", A("127.0.0.1"), owner="ok.test.")
        elif name == "dangle.test":
            add("CNAME", CNAME("nowhere.test."))
        elif name == "alttc.test":
            r.header.rcode = RCODE.NXDOMAIN
            if proto == "udp" and self.count("udp", name) % 2 == 1:
                r.header.rcode = RCODE.NOERROR
                r.header.tc = 1
        elif name == "fail.test":
            r.header.rcode = RCODE.SERVFAIL
        elif name == "refuse.test":
            r.header.rcode = RCODE.REFUSED
        elif name == "notimp.test":
            r.header.rcode = RCODE.NOTIMP
        elif name == "yx.test":
            r.header.rcode = RCODE.YXDOMAIN
        elif name == "formerr.test":
            r.header.rcode = RCODE.FORMERR
            r.questions = []
        else:
            r.header.rcode = RCODE.NXDOMAIN
        return r

    # --- transports ------------------------------------------------------

    def _serve_udp(self):
        while not self.stopping.is_set():
            ready, _, _ = select.select([self.udp], [], [], 0.1)
            if not ready:
                continue
            try:
                data, peer = self.udp.recvfrom(65535)
            except OSError:
                return
            try:
                query = DNSRecord.parse(data)
            except Exception:  # dnslib raises its own DNSError and others
                continue
            packets, other_port = self.answer(query, "udp")
            sock = self.other if other_port else self.udp
            for pkt in packets:
                try:
                    sock.sendto(pkt, peer)
                except OSError:
                    pass

    def _serve_tcp(self):
        while not self.stopping.is_set():
            ready, _, _ = select.select([self.tcp], [], [], 0.1)
            if not ready:
                continue
            try:
                conn, _ = self.tcp.accept()
            except OSError:
                return
            t = threading.Thread(target=self._serve_conn, args=(conn,), daemon=True)
            t.start()

    def _recv_exact(self, conn, n):
        buf = b""
        deadline = time.monotonic() + 5
        while len(buf) < n and time.monotonic() < deadline and not self.stopping.is_set():
            ready, _, _ = select.select([conn], [], [], 0.1)
            if not ready:
                continue
            chunk = conn.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf if len(buf) == n else None

    def _serve_conn(self, conn):
        with conn:
            try:
                head = self._recv_exact(conn, 2)
                if head is None:
                    return
                data = self._recv_exact(conn, struct.unpack("!H", head)[0])
                if data is None:
                    return
                query = DNSRecord.parse(data)
                name = str(query.q.qname).rstrip(".").lower()
                if name == "tcpclose.test":
                    with self.lock:
                        self.queries.append(("tcp", name, QTYPE.get(query.q.qtype)))
                    return
                packets, _ = self.answer(query, "tcp")
                for pkt in packets:
                    # the length prefix and the message in two writes, the
                    # message split again: the reader must reassemble
                    conn.sendall(struct.pack("!H", len(pkt)))
                    conn.sendall(pkt[:7])
                    time.sleep(0.01)
                    conn.sendall(pkt[7:])
                if not packets:  # silent: hold the connection until stop
                    self.stopping.wait(5)
            except Exception:
                return


FAULT_MODES_NAMES = tuple(m + ".test" for m in FAULT_MODES)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1", help="127.0.0.1 or ::1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--mode", choices=FAULT_MODES)
    ap.add_argument("--seconds", type=float, default=600.0,
                    help="stop after this long (default 600)")
    args = ap.parse_args(argv)
    srv = DNSServer(host=args.host, port=args.port, mode=args.mode)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    print(srv.start(), flush=True)
    done.wait(args.seconds)
    srv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
