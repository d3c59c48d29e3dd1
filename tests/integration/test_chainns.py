# SPDX-License-Identifier: ISC
"""The chain of namespaces other tests build on (tests/integration/
chainns.py): host reaches dst through r1 and r2, a route a test adds at r2
is answered by r2, the command waits for the test to start it and its exit
code is the chain's. Skips where namespaces cannot be made."""

import sys

import pytest

import chainns

OK, WHY = chainns.available()
pytestmark = pytest.mark.skipif(not OK, reason=WHY or "no network namespaces")

LISTEN = """
import socket, sys
s = socket.socket(socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 7000)); s.listen(8)
while True:
    s.accept()[0].close()
"""

# connect with the error queue on; prints "ok", or the errno's name and the
# ICMP sender, type and code the queue holds
CONNECT = """
import errno, socket, struct, sys
host = sys.argv[1]
fam = socket.AF_INET6 if ':' in host else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM)
if fam == socket.AF_INET6:
    s.setsockopt(socket.IPPROTO_IPV6, 25, 1)   # IPV6_RECVERR
else:
    s.setsockopt(socket.IPPROTO_IP, 11, 1)     # IP_RECVERR
s.settimeout(5)
try:
    s.connect((host, 7000))
    print("ok")
except OSError as e:
    out = errno.errorcode.get(e.errno, str(e.errno))
    try:
        _, anc, _, _ = s.recvmsg(512, 512, socket.MSG_ERRQUEUE | socket.MSG_DONTWAIT)
        for lvl, typ, data in anc:
            ee_errno, origin, t, c = struct.unpack_from("=IBBB", data)
            off = data[16:]
            if origin in (2, 3):
                fam2 = struct.unpack_from("=H", off)[0]
                a = socket.inet_ntop(fam2, off[4:8] if fam2 == socket.AF_INET else off[8:24])
                out += " %s %d/%d" % (a, t, c)
    except OSError:
        pass
    print(out)
"""


def connect(c, host, want, tries=50):
    """Run CONNECT in the host namespace until it prints `want` (the
    listener may still be starting); the last output."""
    out = ""
    for _ in range(tries):
        out = c.run("host", sys.executable, "-c", CONNECT, host)["out"].strip()
        if out == want:
            break
        c.run("host", "sleep", "0.1")
    return out


@pytest.mark.parametrize("v6", [False, True], ids=["ipv4", "ipv6"])
def test_chain_forwards_and_routers_answer(v6):
    dst = "fd99:3::2" if v6 else "10.99.3.2"
    with chainns.ChainNS(["sleep", "120"], v6=v6) as c:
        c.background("dst", sys.executable, "-c", LISTEN, dst)
        assert connect(c, dst, "ok") == "ok"
        # r2 answers for a route it has: ICMP host unreachable from r2
        if v6:
            c.run("r2", "ip", "-6", "route", "add", "unreachable", dst + "/128")
            # ICMPv6 no route to destination (type 1 code 0) from r2
            assert connect(c, dst, "ENETUNREACH fd99:2::2 1/0", tries=3) == \
                "ENETUNREACH fd99:2::2 1/0"
        else:
            c.run("r2", "ip", "route", "add", "unreachable", dst + "/32")
            assert connect(c, dst, "EHOSTUNREACH 10.99.2.2 3/1", tries=3) == \
                "EHOSTUNREACH 10.99.2.2 3/1"
        # a request in a namespace that does not exist is refused, not fatal
        assert c.run("r9", "true", check=False)["rc"] == -1
        assert c.run("r1", "false", check=False)["rc"] == 1
    assert c.returncode == 143  # SIGTERM passed on to sleep


def test_chain_holds_the_command_and_passes_its_exit_code():
    with chainns.ChainNS(["sh", "-c", "ip -o addr show h0 >&2; exit 3"], hold=True) as c:
        # the command has not run yet: the test sets up first
        c.run("r1", "ip", "route", "show")
        assert c.proc.poll() is None
        c.start()
        assert c.wait(timeout=30) == 3
    assert "10.99.1.1/24" in c.stderr
