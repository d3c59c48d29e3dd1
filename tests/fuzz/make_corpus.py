#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""Writes the seed corpora of the fuzz targets into tests/fuzz/corpus/TARGET/
(the files are committed; run this again after changing a seed here, with
/usr/bin/python3 tests/fuzz/make_corpus.py). Files whose name starts with
"crash-" or "regress-" are regression cases added by hand and are left alone.

Seeds are real inputs: conf/netdiag.ini and the golden bad configs (also
for the engine, with configs of every host form, send variant and resolve
shape its harness answers), DNS
answers built by tests/integration/dnsserver.py (plus hostile packets made
here), durations, times, hex strings and command lines."""

import os
import shutil
import struct
import sys

from dnslib import AAAA, CNAME, MX, NS, PTR, QTYPE, RCODE, RR, SOA, TXT, A, DNSRecord

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

from dnsserver import DNSServer  # noqa: E402  (the real responder's answers)

# Must match fuzz_dns.c.
DNS_ID = 0x4E44
DNS_NAMES = ["ok.test", "cname.test", "mx.test", "txt.test", "big.test", "nodata.test",
             "dangle.test", "."]
DNS_TYPES = ["A", "AAAA", "MX", "TXT", "NS", "SOA", "PTR", "ANY", "CNAME"]
DNS_EXPECTS = [None, "", "127.0.0.1", "::1", "mail.example", "ok.test", "hello", "127.0.1"]


def reset(target):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        if not f.startswith(("crash-", "regress-")):
            os.remove(os.path.join(d, f))
    return d


def write(d, name, data):
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# --- config ---------------------------------------------------------------

SEND_INI = """[daemon]
database = /nonexistent/netdiag.db
log_level = debug
metrics_listen = [::1]:9470
retention = 90m

[defaults]
interval = 500ms
timeout = 250ms
family = ipv6

[alert]
codes = ECONNREFUSED, 10060, WSAEHOSTUNREACH
window = 30s
baseline = 2h
factor = 2.5
min_ratio = 0.05
exec = /bin/true fire now
alertmanager_url = http://127.0.0.1:9093

[target echo]
kind = send
protocol = tcp
host = ::1
port = 7
source = ::1
payload_hex = 68:65 6c6c 6f
expect_hex = 6865
payload_size = 1400
codes = WSAECONNRESET

[target syslog]
kind = send
host = localhost
port = 514
payload = <14>netdiag probe
expect =
"""

RESOLVE_INI = """[daemon]
database = db.sqlite
include = targets.d

[target dns-a]
kind = resolve
name = ok.test
type = aaaa
server = [::1]:5353
expect = ::1

[target dns-mx]
kind = resolve
name = mx.test.
type = MX
server = system
expect = mail.example

[target root]
kind = resolve
name = .
type = SOA
server = 127.0.0.1
"""

CONNECT_INI = """\ufeff[daemon]\r
database = /tmp/x.db\r
\r
[target web]\r
kind = connect\r
host = 127.0.0.1\r
port = 8080\r
addresses = all\r
source = 127.0.0.2\r
  interval = 2s\r
[target web]\r
kind = connect\r
"""

# fuzz_config writes each input as netdiag.ini, list.targets and
# inc.d/10.ini: these include the input itself once more.
LIST_INCLUDE = """[daemon]
database = db.sqlite
include = list.targets
"""

DIR_INCLUDE = """[daemon]
database = db.sqlite
include = inc.d

[target web]
kind = connect
host = 127.0.0.1
port = 80
"""


def config_corpus():
    d = reset("config")
    shutil.copy(os.path.join(REPO, "conf", "netdiag.ini"), os.path.join(d, "netdiag.ini"))
    golden = os.path.join(REPO, "tests", "integration", "golden", "config")
    for f in sorted(os.listdir(golden)):
        p = os.path.join(golden, f)
        if os.path.isfile(p) and f.endswith((".ini", ".targets")):
            shutil.copy(p, os.path.join(d, "golden-" + f))
    for f in sorted(os.listdir(os.path.join(golden, "include-dir-sections.d"))):
        p = os.path.join(golden, "include-dir-sections.d", f)
        if f.endswith(".ini"):
            shutil.copy(p, os.path.join(d, "golden-include-dir-" + f))
    write(d, "send.ini", SEND_INI)
    write(d, "resolve.ini", RESOLVE_INI)
    write(d, "connect-crlf-bom.ini", CONNECT_INI)
    write(d, "include-list.ini", LIST_INCLUDE)
    write(d, "include-dir.ini", DIR_INCLUDE)
    write(d, "long-line.ini", "[daemon]\ndatabase = " + "x" * 300 + "\n[" + "t" * 250 + "\n")
    write(d, "nul-byte.ini", b"[daemon]\ndatabase = a\x00b\n")
    write(d, "empty.ini", b"")


# --- engine ---------------------------------------------------------------

# Names fuzz_engine.c's hosts file and name server know (keep in step).
ENGINE_HOSTS = ["localhost", "v6only.hosts", "dual.hosts", "multi.hosts"]
ENGINE_DNS = ["ok.test", "v4.test", "v6.test", "multi.test", "nodata.test", "nx.test",
              "fail.test", "refused.test", "silent.test", "tc.test", "cname.test",
              "wrongid.test", "garbage.test"]
# The ports of its peers, as the harness maps them (port % 4): echo, close,
# refused, name server.
ECHO, CLOSE, REFUSED, DNSPORT = 4, 5, 6, 7


def section(title, **keys):
    return "[target %s]\n" % title + "".join("%s = %s\n" % kv for kv in keys.items()) + "\n"


def engine_connect_forms():
    """Every host form with the family it has, for connect, from no source
    and from a source of its family (the harness's hosts names with the
    family they lack crashed the engine once; not seeded here)."""
    out = []
    forms = [("v4", "127.0.0.1", "ipv4"), ("v6", "::1", "ipv6"),
             ("mapped", "::ffff:127.0.0.1", "any"), ("localhost", "localhost", "ipv4"),
             ("v6only", "v6only.hosts", "ipv6"), ("dual", "dual.hosts", "any"),
             ("multi", "multi.hosts", "any"), ("short", "127.1", "any")]
    for n, host, fam in forms:
        out.append(section("c-" + n, kind="connect", host=host, port=ECHO, family=fam,
                           addresses="all"))
        out.append(section("c-%s-closed" % n, kind="connect", host=host, port=REFUSED,
                           family=fam))
    out.append(section("c-src4", kind="connect", host="dual.hosts", port=ECHO,
                       source="127.0.0.1", addresses="all"))
    out.append(section("c-src6", kind="connect", host="dual.hosts", port=ECHO, source="::1",
                       addresses="all"))
    out.append(section("c-src-far", kind="connect", host="127.0.0.1", port=ECHO,
                       source="192.0.2.1"))
    return "".join(out)


def engine_family_defaults(family):
    """The family from [defaults] for every hosts name that has it: one
    byte away from the crash of a hosts name with only the other family,
    for each of them."""
    names = ["dual.hosts", "multi.hosts"] + (["localhost"] if family == "ipv4" else
                                             ["v6only.hosts"])
    head = "[defaults]\ninterval = 1s\ntimeout = 8ms\nfamily = %s\n\n" % family
    return head + "".join(
        section("%s-%s" % (kind, name.split(".")[0]), kind=kind, host=name,
                port=ECHO if kind == "connect" else CLOSE, addresses="all",
                **({} if kind == "connect" else {"protocol": "tcp", "payload": "x"}))
        for name in names for kind in ("connect", "send"))


def engine_dns_names():
    """Names only the harness's name server answers, every answer shape,
    for connect and both send protocols: one config each (more than 32
    look-ups cancelled at once leak today, see tests/fuzz/README.md)."""
    conn, udp, tcp = [], [], []
    for i, name in enumerate(ENGINE_DNS):
        conn.append(section("n%02d" % i, kind="connect", host=name, port=ECHO,
                            addresses="all", timeout="5ms"))
        udp.append(section("u%02d" % i, kind="send", protocol="udp", host=name, port=ECHO,
                           payload="ping", expect="ping", timeout="5ms"))
        tcp.append(section("t%02d" % i, kind="send", protocol="tcp", host=name, port=CLOSE,
                           payload="ping", expect="pong", family="ipv6" if i % 2 else "ipv4"))
    return ["".join(conn), "".join(udp), "".join(tcp)]


def engine_send_variants():
    return "".join([
        section("udp-echo", kind="send", protocol="udp", host="127.0.0.1", port=ECHO,
                payload="hello"),
        section("udp-expect", kind="send", protocol="udp", host="::1", port=ECHO,
                payload_hex="de ad be ef", expect_hex="deadbeef"),
        section("udp-mismatch", kind="send", protocol="udp", host="localhost", port=ECHO,
                payload="ping", expect="pong"),
        section("udp-empty", kind="send", protocol="udp", host="dual.hosts", port=ECHO,
                addresses="all"),
        section("udp-refused", kind="send", protocol="udp", host="127.0.0.1", port=REFUSED,
                payload="x", expect="x"),
        section("udp-silent", kind="send", protocol="udp", host="127.0.0.1", port=CLOSE,
                payload="x", expect="x"),
        section("udp-too-big", kind="send", protocol="udp", host="127.0.0.1", port=ECHO,
                payload="x", payload_size=70000),
        section("tcp-echo", kind="send", protocol="tcp", host="127.0.0.1", port=ECHO,
                payload="ping 1", expect="ping 1"),
        section("tcp-big", kind="send", protocol="tcp", host="::1", port=ECHO, payload_hex="ab",
                payload_size=200000, expect_hex="abab"),
        section("tcp-closed", kind="send", protocol="tcp", host="multi.hosts", port=CLOSE,
                payload="ping", expect="pong", addresses="all"),
        section("tcp-refused", kind="send", protocol="tcp", host="localhost", port=REFUSED,
                payload="x", family="ipv4"),
    ])


def engine_resolve():
    """One config per server (the harness runs at most 48 targets of one):
    names of every shape, asked for A, AAAA and MX."""
    servers = ["system", "127.0.0.1:%d" % DNSPORT, "[::1]:%d" % DNSPORT,
               "127.0.0.1:%d" % REFUSED, "127.0.0.1:%d" % ECHO]
    names = ["ok.test", "multi.test", "cname.test", "nodata.test", "nx.test", "fail.test",
             "tc.test", "garbage.test", "localhost", "dual.hosts", "v6only.hosts"]
    files = []
    for server in servers:
        out = []
        for i, name in enumerate(names):
            for qtype, expect in (("A", "127.0.0.1"), ("AAAA", "::1"), ("MX", "")):
                keys = {"kind": "resolve", "name": name, "type": qtype, "server": server}
                if expect and i % 3 == 0:
                    keys["expect"] = expect
                out.append(section("r%02d-%s" % (i, qtype.lower()), **keys))
        files.append("".join(out))
    return files


def engine_corpus():
    d = reset("engine")
    shutil.copy(os.path.join(REPO, "conf", "netdiag.ini"), os.path.join(d, "netdiag.ini"))
    golden = os.path.join(REPO, "tests", "integration", "golden", "config")
    for f in sorted(os.listdir(golden)):
        p = os.path.join(golden, f)
        if os.path.isfile(p) and f.endswith(".ini"):
            shutil.copy(p, os.path.join(d, "golden-" + f))
    head = "[defaults]\ninterval = 1s\ntimeout = 8ms\n\n"
    write(d, "connect-forms.ini", head + engine_connect_forms())
    for k, text in zip(("connect", "udp", "tcp"), engine_dns_names()):
        write(d, "dns-names-%s.ini" % k, head + text)
    write(d, "send-variants.ini", head + engine_send_variants())
    write(d, "family-defaults-ipv4.ini", engine_family_defaults("ipv4"))
    write(d, "family-defaults-ipv6.ini", engine_family_defaults("ipv6"))
    for k, text in enumerate(engine_resolve()):
        write(d, "resolve-%d.ini" % k, head + text)
    # config's send.ini is left out: its `host = localhost` with `family =
    # ipv6` is the hosts name with only the other family (README.md says
    # when to add it back)
    write(d, "resolve.ini", RESOLVE_INI)
    write(d, "connect-crlf-bom.ini", CONNECT_INI)
    write(d, "ping-forms.ini", head + engine_ping())


def engine_ping():
    """Ping targets of every host form and a few answer shapes of the
    harness's name server, short enough for its 8 ms timeouts."""
    out = []
    for i, (host, fam) in enumerate([("127.0.0.1", "any"), ("::1", "ipv6"),
                                     ("localhost", "ipv4"), ("dual.hosts", "any"),
                                     ("multi.hosts", "any"), ("ok.test", "any"),
                                     ("nx.test", "any"), ("silent.test", "any")]):
        out.append(section("p%d" % i, kind="ping", host=host, family=fam, addresses="all",
                           count=1 + i % 3, spacing="2ms", size=8 + 100 * i))
    return "".join(out)


# --- dns ------------------------------------------------------------------

def dns_prefix(name, qtype, expect):
    return bytes([DNS_NAMES.index(name) | DNS_EXPECTS.index(expect) << 3,
                  DNS_TYPES.index(qtype)])


def dns_query(name, qtype):
    q = DNSRecord.question(name, qtype)
    q.header.id = DNS_ID
    return q


def dns_server_answer(name, qtype, proto="udp"):
    """What dnsserver.py answers, without binding its sockets."""
    srv = DNSServer.__new__(DNSServer)
    srv.mode = None
    key = name.rstrip(".").lower()
    return srv._reply(dns_query(name, qtype), key, proto).pack()


def dns_reply(name, qtype, records=(), rcode=RCODE.NOERROR, questions=True):
    r = dns_query(name, qtype).reply()
    r.header.rcode = rcode
    if not questions:
        r.questions = []
    for rr in records:
        r.add_answer(rr)
    return r.pack()


def dns_corpus():
    d = reset("dns")
    real = [
        ("ok.test", "A", "127.0.0.1", "udp"),
        ("ok.test", "AAAA", "::1", "udp"),
        ("ok.test", "A", "127.0.1", "udp"),
        ("cname.test", "A", "ok.test", "udp"),
        ("mx.test", "MX", "mail.example", "udp"),
        ("txt.test", "TXT", "hello", "udp"),
        ("big.test", "A", None, "udp"),
        ("big.test", "A", "127.0.1", "tcp"),
        ("nodata.test", "A", None, "udp"),
        ("nodata.test", "TXT", "", "udp"),
        ("dangle.test", "A", None, "udp"),
        (".", "SOA", None, "udp"),
    ]
    for name, qtype, expect, proto in real:
        wire = dns_server_answer(name, qtype, proto)
        write(d, "server-%s-%s-%s-expect%d" % (name.strip(".") or "root", qtype, proto,
                                                DNS_EXPECTS.index(expect)),
              dns_prefix(name, qtype, expect) + wire)

    ok = dns_server_answer("ok.test", "A")
    pre = dns_prefix("ok.test", "A", "127.0.0.1")
    for rcode in ("SERVFAIL", "NXDOMAIN", "REFUSED", "NOTIMP", "YXDOMAIN"):
        write(d, "rcode-" + rcode.lower(), pre + dns_reply("ok.test", "A",
                                                           rcode=getattr(RCODE, rcode)))
    write(d, "formerr-no-question", pre + dns_reply("ok.test", "A", rcode=RCODE.FORMERR,
                                                    questions=False))
    write(d, "noerror-no-question", pre + dns_reply("ok.test", "A", questions=False))
    write(d, "wrong-id", pre + struct.pack("!H", DNS_ID + 1) + ok[2:])
    write(d, "not-response", pre + ok[:2] + bytes([ok[2] & 0x7F]) + ok[3:])
    write(d, "opcode-status", pre + ok[:2] + bytes([(ok[2] & 0x87) | (2 << 3)]) + ok[3:])
    wrongq = dns_query("other.test", "A").reply()
    wrongq.add_answer(RR("other.test", QTYPE.A, rdata=A("127.0.0.66"), ttl=60))
    write(d, "wrong-question", pre + wrongq.pack())
    write(d, "wrong-question-type", pre + dns_reply("ok.test", "AAAA",
                                                    [RR("ok.test", QTYPE.AAAA, rdata=AAAA("::1"))]))
    write(d, "garbage", pre + struct.pack("!HHHHHH", DNS_ID, 0x8180, 1, 1, 0, 0) +
          b"\xc0\x0c\xff\x07junk")
    write(d, "header-only", pre + struct.pack("!HHHHHH", DNS_ID, 0x8180, 0, 0, 0, 0))
    write(d, "short", pre + ok[:11])
    write(d, "truncated-answer", pre + ok[:-3])
    # a compression pointer to itself in the answer's owner name
    loop = bytearray(ok)
    owner = len(dns_query("ok.test", "A").pack())
    loop[owner:owner + 2] = struct.pack("!H", 0xC000 | owner)
    write(d, "compression-loop", pre + bytes(loop))
    write(d, "cname-loop", dns_prefix("ok.test", "A", "ok.test") + dns_reply(
        "ok.test", "A", [RR("ok.test", QTYPE.CNAME, rdata=CNAME("ok.test."))]))
    write(d, "cname-chain", dns_prefix("ok.test", "A", "127.0.0.1") + dns_reply(
        "ok.test", "A", [RR("ok.test", QTYPE.CNAME, rdata=CNAME("a.test.")),
                         RR("a.test", QTYPE.CNAME, rdata=CNAME("b.test.")),
                         RR("b.test", QTYPE.A, rdata=A("127.0.0.1")),
                         RR("elsewhere.test", QTYPE.A, rdata=A("127.0.0.1"))]))
    write(d, "txt-binary", dns_prefix("txt.test", "TXT", "hello") + dns_reply(
        "txt.test", "TXT", [RR("txt.test", QTYPE.TXT, rdata=TXT([b"\x00\x01\xff\"\\", b""]))]))
    write(d, "txt-long", dns_prefix("txt.test", "TXT", None) + dns_reply(
        "txt.test", "TXT", [RR("txt.test", QTYPE.TXT, rdata=TXT([b"x" * 255] * 6))] * 3))
    write(d, "any-mixed", dns_prefix("ok.test", "ANY", "::1") + dns_reply(
        "ok.test", "ANY", [RR("ok.test", QTYPE.A, rdata=A("127.0.0.1")),
                           RR("ok.test", QTYPE.AAAA, rdata=AAAA("::1")),
                           RR("ok.test", QTYPE.MX, rdata=MX("mail.example.", 5)),
                           RR("ok.test", QTYPE.NS, rdata=NS("ns.test.")),
                           RR("ok.test", QTYPE.PTR, rdata=PTR("p.test."))]))
    write(d, "root-ns", dns_prefix(".", "NS", None) + dns_reply(
        ".", "NS", [RR(".", QTYPE.NS, rdata=NS("a.root-servers.net."))]))
    write(d, "root-soa", dns_prefix(".", "SOA", None) + dns_reply(
        ".", "SOA", [RR(".", QTYPE.SOA, rdata=SOA("ns.test.", "host.test.",
                                                  (1, 2, 3, 4, 5)))]))
    write(d, "case-mixed", dns_prefix("ok.test", "A", "127.0.0.1") + dns_reply(
        "OK.TeSt", "A", [RR("Ok.TEST", QTYPE.A, rdata=A("127.0.0.1"))]))
    # class CH, not IN, in the answer
    chaos = DNSRecord.parse(dns_reply("ok.test", "A", [RR("ok.test", QTYPE.A,
                                                          rdata=A("127.0.0.1"))]))
    chaos.rr[0].rclass = 3
    write(d, "answer-class-ch", pre + chaos.pack())
    # an A record whose rdata is 3 bytes long
    bad_a = bytearray(dns_reply("ok.test", "A", [RR("ok.test", QTYPE.A, rdata=A("127.0.0.1"))]))
    bad_a[-6:-4] = struct.pack("!H", 3)
    write(d, "a-short-rdata", pre + bytes(bad_a[:-1]))


# --- duration -------------------------------------------------------------

def duration_corpus():
    d = reset("duration")
    values = [
        "250ms", "10s", "5m", "2h", "7d", "0s", "1ms", "9223372036854775807ms",
        "106751991167d", "10", "1.5s", "-5s", " 5s", "5 s", "5S", "s", "",
        "65535", "-1", "0x10", "99999999999999999999",
        "127.0.0.1", "127.0.0.1:53", "[::1]:53", "::1", "[::1]", "::ffff:127.1.2.3",
        "127.0.0.1:0", "127.0.0.1:65536", "[::1", "fe80::1%eth0",
        "now", "today", "2026-11-24", "2026-11-24T10:00", "2026-11-24 10:00:30.250Z",
        "2026-11-24T10:00:00+01:00", "2026-11-24t10:00:00,5-0530", "2026-11-24T10:00+01",
        "2026-02-29", "2024-02-29", "2026-03-29T02:30", "2026-10-25T02:30",
        "9999-12-31T23:59:60.999999999-23:59", "1970-01-01T00:00:00+23:59",
        "1969-12-31", "2026-13-01", "2026-11-24T24:00", "2026-11-24T10:00:00.",
        "2026-11-24T10:00:00.1234567890",
    ]
    for i, v in enumerate(values):
        write(d, "%02d" % i, v)


# --- send -----------------------------------------------------------------

PAYLOAD_HEX, EXPECT_HEX, TCP, SIZE, NO_EXPECT = 0x01, 0x02, 0x04, 0x08, 0x10


def send_corpus():
    d = reset("send")
    cases = [
        ("text", 0, "hello\nworld\n"),
        ("hex", PAYLOAD_HEX | EXPECT_HEX, "68656c6c6f\n776f726c64\n"),
        ("hex-separators", PAYLOAD_HEX | TCP, "68:65 6c\t6c 6F\n\n"),
        ("hex-odd", PAYLOAD_HEX, "686\n\n"),
        ("hex-bad-digit", PAYLOAD_HEX, "6g\n\n"),
        ("hex-only-separators", PAYLOAD_HEX | EXPECT_HEX, ": :\n::\n"),
        ("size-repeat", SIZE, "abc\n\n10\n"),
        ("size-zeros", SIZE | NO_EXPECT, "\n\n64\n"),
        ("size-max", SIZE | PAYLOAD_HEX, "00ff\n\n1048576\n"),
        ("size-too-big", SIZE, "x\n\n1048577\n"),
        ("size-negative", SIZE, "x\n\n-1\n"),
        ("comment", 0, "hello ; a comment\nx # y\n"),
        ("blanks", EXPECT_HEX | TCP, "  padded  \n  6f6b  \n"),
        ("long", PAYLOAD_HEX, "ab" * 120 + "\n\n"),
    ]
    for name, flags, text in cases:
        write(d, name, bytes([flags]) + text.encode())


# --- client ---------------------------------------------------------------

def client_corpus():
    d = reset("client")
    lines = [
        ("codes", ["codes"]),
        ("codes-json", ["--format", "json", "codes", "--wide"]),
        ("explain-name", ["explain", "WSAECONNREFUSED"]),
        ("explain-number", ["explain", "10061"]),
        ("explain-bare", ["explain", "host_not_found"]),
        ("explain-errno", ["explain", "ETIMEDOUT"]),
        ("explain-eai", ["explain", "EAI_NONAME"]),
        ("explain-dns", ["explain", "nxdomain"]),
        ("explain-typo", ["explain", "econnrefsued"]),
        ("explain-far-number", ["explain", "99999999999999999999"]),
        ("explain-long", ["explain", "E" * 300]),
        ("explain-help", ["explain", "--help"]),
        ("failures-all", ["failures", "--since", "2h", "--until", "now", "--code",
                          "WSAETIMEDOUT,10061, refused", "--phase", "connect,recv",
                          "--kind", "send", "--target", "web*", "--limit", "5"]),
        ("failures-iso", ["--utc", "failures", "--since", "2026-11-24T00:00",
                          "--until", "2026-11-24 10:00:30.250Z"]),
        ("summary-by", ["summary", "--by", "phase", "--since", "today"]),
        ("timeline", ["timeline", "--bucket", "5m", "--by", "target", "--color", "never"]),
        ("targets-csv", ["-c", "/nonexistent.ini", "--format=csv", "targets", "--kind=connect"]),
        ("alerts-active", ["alerts", "--active", "--code", "ECONNREFUSED"]),
        ("latency", ["latency", "--since", "2h", "--by", "minute", "--kind", "ping", "-t", "w*"]),
        ("latency-chart", ["latency", "--chart", "--bucket", "10m", "--color", "always"]),
        ("latency-chart-by", ["latency", "--chart", "--by", "hour"]),
        ("help", ["--help"]),
        ("version", ["--version"]),
        ("since-after-until", ["failures", "--since", "1h", "--until", "2h"]),
        ("unknown-option", ["failures", "--bogus"]),
        ("missing-argument", ["failures", "--since"]),
        ("short-options", ["-c", "x", "failures", "-n", "3"]),
        ("empty-list", ["failures", "--code", ",,"]),
        ("flag-with-value", ["alerts", "--active=yes"]),
        ("extra-argument", ["codes", "extra"]),
    ]
    for name, args in lines:
        write(d, name, "\n".join(args))


# --- icmp -----------------------------------------------------------------

def icmp_csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def icmp_echo(typ, ident, seq, payload, v4=True):
    b = struct.pack("!BBHHH", typ, 0, 0, ident, seq) + payload
    if v4:
        b = b[:2] + struct.pack("!H", icmp_csum(b)) + b[4:]
    return b


def icmp_corpus():
    """Replies as each socket reads them, quoted requests, bad ones."""
    d = reset("icmp")
    pay = bytes(range(56))
    reply4 = icmp_echo(0, 0x1234, 7, pay)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(reply4), 0, 0, 64, 1, 0,
                     bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))
    write(d, "reply4-datagram", b"\x00" + reply4)
    write(d, "reply4-raw", b"\x02" + ip + reply4)
    write(d, "reply4-raw-cut", b"\x56" + ip + reply4[:20])
    write(d, "reply4-raw-badsum", b"\x02" + ip + reply4[:10] + b"\xff" + reply4[11:])
    write(d, "reply4-raw-ihl60", b"\x02\x4f" + ip[1:] + reply4)
    write(d, "reply6", b"\x01" + icmp_echo(129, 1, 65535, pay, v4=False))
    write(d, "quoted4", b"\x00" + icmp_echo(8, 0x1234, 7, pay[:8]))
    write(d, "quoted6-short", b"\x01" + icmp_echo(128, 1, 1, b"", v4=False))
    write(d, "unreach-admin", b"\x00\x03\x0d" + bytes(30))
    write(d, "short", b"\x02\x45")


def main():
    config_corpus()
    engine_corpus()
    dns_corpus()
    duration_corpus()
    send_corpus()
    client_corpus()
    icmp_corpus()


if __name__ == "__main__":
    main()
