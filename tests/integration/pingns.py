#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Run a command inside the network namespace the caller made (it runs
`unshare -rn python3 pingns.py ...`), after setting it up: lo up, shell
commands (routes, nft, sysctls), and optionally a TUN device tun0 with
10.9.0.254/24 and fd00:9::fe/64 on it, answered by a responder thread
that replies to ICMP and ICMPv6 echo requests as told per destination:

  {"10.9.0.1": {"delay_ms": 100}}     answer after 100 ms
  {"10.9.0.2": {"dup": 2}}            answer 3 times (2 duplicates)
  {"10.9.0.3": {"wrong_id": true}}    answer with another identifier only
  {"10.9.0.4": {"wrong_id": true, "also_right": true}}   both
  {"10.9.0.5": {"drop": true}}        never answer
  {"10.9.0.6": {"bad_payload": true}} answer with the first payload byte changed

Addresses not in the map are answered at once. Each echo the responder
answers is written to --log as one JSON line: dst, seq, read and write
times (CLOCK_MONOTONIC). The command's exit code is ours; SIGTERM is
passed on to it. Everything stays inside the namespace."""

import argparse
import fcntl
import heapq
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def reply4(pkt, ident=None, bad=False):
    ihl = (pkt[0] & 0x0F) * 4
    src, dst = pkt[12:16], pkt[16:20]
    icmp = bytearray(pkt[ihl:])
    if len(icmp) < 8 or icmp[0] != 8:
        return None
    icmp[0] = 0
    if ident is not None:
        icmp[4:6] = struct.pack("!H", ident)
    if bad and len(icmp) > 8:
        icmp[8] ^= 0xFF
    icmp[2:4] = b"\0\0"
    icmp[2:4] = struct.pack("!H", csum(bytes(icmp)))
    hdr = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), 0, 0, 64, 1, 0,
                                dst, src))
    hdr[10:12] = struct.pack("!H", csum(bytes(hdr)))
    return bytes(hdr) + bytes(icmp)


def reply6(pkt, ident=None, bad=False):
    if len(pkt) < 48 or pkt[6] != 58:
        return None
    src, dst = pkt[8:24], pkt[24:40]
    icmp = bytearray(pkt[40:])
    if icmp[0] != 128:
        return None
    icmp[0] = 129
    if ident is not None:
        icmp[4:6] = struct.pack("!H", ident)
    if bad and len(icmp) > 8:
        icmp[8] ^= 0xFF
    icmp[2:4] = b"\0\0"
    pseudo = dst + src + struct.pack("!I3xB", len(icmp), 58)
    icmp[2:4] = struct.pack("!H", csum(pseudo + bytes(icmp)))
    hdr = struct.pack("!IHBB16s16s", 0x60000000, len(icmp), 58, 64, dst, src)
    return hdr + bytes(icmp)


def parse(pkt):
    """(family, dst text, seq, ident) of an echo request, else None."""
    if not pkt:
        return None
    v = pkt[0] >> 4
    if v == 4 and len(pkt) >= 28 and pkt[9] == 1:
        ihl = (pkt[0] & 0x0F) * 4
        if pkt[ihl] != 8:
            return None
        ident, seq = struct.unpack("!HH", pkt[ihl + 4:ihl + 8])
        return 4, socket.inet_ntop(socket.AF_INET, pkt[16:20]), seq, ident
    if v == 6 and len(pkt) >= 48 and pkt[6] == 58 and pkt[40] == 128:
        ident, seq = struct.unpack("!HH", pkt[44:48])
        return 6, socket.inet_ntop(socket.AF_INET6, pkt[24:40]), seq, ident
    return None


class Responder(threading.Thread):
    def __init__(self, rules, log_path):
        super().__init__(daemon=True)
        self.rules = rules
        self.log = open(log_path, "a") if log_path else None
        self.fd = os.open("/dev/net/tun", os.O_RDWR)
        fcntl.ioctl(self.fd, TUNSETIFF, struct.pack("16sH", b"tun0", IFF_TUN | IFF_NO_PI))
        self.stop = False
        self.pending = []  # (due, n, packet, record)
        self.n = 0

    def run(self):
        while not self.stop:
            now = time.monotonic()
            while self.pending and self.pending[0][0] <= now:
                _, _, out, rec = heapq.heappop(self.pending)
                os.write(self.fd, out)
                if rec is not None and self.log:
                    rec["write"] = time.monotonic()
                    self.log.write(json.dumps(rec) + "\n")
                    self.log.flush()
            wait = 0.2
            if self.pending:
                wait = max(0.0, min(wait, self.pending[0][0] - time.monotonic()))
            r, _, _ = select.select([self.fd], [], [], wait)
            if not r:
                continue
            pkt = os.read(self.fd, 65536)
            t_read = time.monotonic()
            info = parse(pkt)
            if info is None:
                continue
            fam, dst, seq, ident = info
            rule = self.rules.get(dst, {})
            if rule.get("drop"):
                continue
            make = reply4 if fam == 4 else reply6
            due = t_read + rule.get("delay_ms", 0) / 1000.0
            outs = []
            if rule.get("wrong_id"):
                outs.append(make(pkt, ident ^ 0x5A5A))
                if rule.get("also_right"):
                    outs.append(make(pkt))
            elif rule.get("bad_payload"):
                outs.append(make(pkt, bad=True))
            else:
                outs += [make(pkt)] * (1 + rule.get("dup", 0))
            for i, out in enumerate(outs):
                if out is None:
                    continue
                rec = {"dst": dst, "seq": seq, "read": t_read} if i == len(outs) - 1 else None
                self.n += 1
                heapq.heappush(self.pending, (due, self.n, out, rec))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sh", action="append", default=[], help="shell commands run first")
    ap.add_argument("--tun", help="responder rules (JSON); makes tun0")
    ap.add_argument("--log", help="responder log (JSON lines)")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    resp = None
    if a.tun is not None:
        resp = Responder(json.loads(a.tun), a.log)
        for c in (["ip", "link", "set", "tun0", "up"],
                  ["ip", "addr", "add", "10.9.0.254/24", "dev", "tun0"],
                  ["ip", "-6", "addr", "add", "fd00:9::fe/64", "dev", "tun0", "nodad"]):
            subprocess.run(c, check=True)
        resp.start()
    for c in a.sh:
        subprocess.run(["sh", "-ec", c], check=True)
    child = subprocess.Popen(cmd)
    signal.signal(signal.SIGTERM, lambda *_: child.send_signal(signal.SIGTERM))
    rc = child.wait()
    if resp is not None:
        resp.stop = True
        resp.join(timeout=2)
    sys.exit(rc)


if __name__ == "__main__":
    main()
