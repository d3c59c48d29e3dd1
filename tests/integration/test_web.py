# SPDX-License-Identifier: ISC
"""netdiag web: what a person opens in a browser and what a script asks
the JSON API, on a database the real netdiagd made (running, stopped,
copied), on one that hostile text was written into, and under abuse:
every route answers, the rest is 404 or 405, the API says exactly what
the command says, stored text is text, and malformed, oversized, slow or
many requests are refused within bounds. The browser tests load the
pages in headless Chromium (Debian's chromium) and keep their
screenshots. All traffic is on 127.0.0.1."""

import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import threading
import time
import zlib

import pytest

from clientlib import Daemon, Toggle, checkpoint_copy, nd, target_sections, wait_for
from conftest import NETDIAG, Server, closed_port
from test_client_hostile import HOSTILE, make_db

NOW = "2026-11-24T10:00:30.500Z"
ROUTES_API = ["status", "targets", "failures", "summary", "timeline", "latency", "alerts",
              "codes", "explain/10061"]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Web:
    """netdiag web on a port of its own; stop() checks it ends cleanly."""

    def __init__(self, d, db, listen=None, env_extra=None, args=()):
        self.port = free_port()
        self.listen = listen or "127.0.0.1:%d" % self.port
        self.errpath = os.path.join(str(d), "web-%d.stderr" % time.monotonic_ns())
        self.err = open(self.errpath, "w")
        env = {k: v for k, v in os.environ.items() if k not in ("NETDIAG_NOW", "TZ")}
        env["TZ"] = "UTC0"
        env.update(env_extra or {})
        self.proc = subprocess.Popen([NETDIAG, "--db", db, *args, "web", "--listen", self.listen],
                                     stdout=subprocess.DEVNULL, stderr=self.err, env=env)
        wait_for(lambda: "serving http://" in self.log() or self.proc.poll() is not None,
                 what="netdiag web to listen")
        assert self.proc.poll() is None, self.log()
        self.base = "http://127.0.0.1:%d" % self.port

    def log(self):
        with open(self.errpath) as f:
            return f.read()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=30)
        self.err.close()
        log = self.log()
        assert rc == 0, log
        assert "Sanitizer" not in log and "runtime error" not in log, log
        return log

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not self.err.closed:
            self.err.close()


def raw(port, data, timeout=10):
    """Send bytes, read until the server closes: (status, headers, body)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        chunks = []
        while True:
            try:
                b = s.recv(65536)
            except ConnectionResetError:
                break
            if not b:
                break
            chunks.append(b)
    finally:
        s.close()
    reply = b"".join(chunks)
    head, _, body = reply.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.1 (\d{3}) ", lines[0]) if lines and lines[0] else None
    status = int(m.group(1)) if m else None
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, body


def get(port, path, method="GET"):
    return raw(port, ("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % (method, path)).encode())


# --- a database the real netdiagd made -------------------------------------


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """netdiagd for a few seconds on refused, ok, toggling and silent
    targets, then stopped: (dir, db)."""
    d = tmp_path_factory.mktemp("webdb")
    db = os.path.join(str(d), "nd.db")
    ok, silent, toggle = Server("accept"), Server("full"), Toggle()
    body = target_sections([("refused", closed_port()), ("ok", ok.port),
                            ("toggle", toggle.port), ("silent", silent.port)])
    dm = Daemon(d, db, body)
    try:
        wait_for(lambda: len(json.loads(nd("--db", db, "failures", "--format", "json").stdout
                                        or "[]")) >= 10, what="failures stored")
        time.sleep(1.5)
        dm.stop()
    finally:
        dm.kill()
        for p in (ok, silent, toggle):
            p.close()
    return d, db


@pytest.fixture
def web(made, tmp_path):
    _, db = made
    w = Web(tmp_path, db, env_extra={"NETDIAG_NOW": ""})
    yield w
    w.kill()


def test_every_route(web):
    pages = {
        "/": ["Overview", "refused", "toggle", "silent", "WSAECONNREFUSED", "Success 1 h",
              "class=\"spark\"", "netdiagd stopped at", "Latency, 24 h by the hour"],
        "/target/refused": ["refused", "Failures by code", "10061", "WSAECONNREFUSED",
                            "Connection refused.", "id=\"failures\"", "<svg class=\"chart\"",
                            "id=\"latency\"", "id=\"path\""],
        "/target/toggle": ["<svg class=\"chart lat\"", "10th to 90th percentile",
                           "attempts failed", "class=\"band\" d=\"M"],
        "/target/silent?range=1h": ["silent", "10060 WSAETIMEDOUT", "range=30d"],
        "/target/toggle?range=30d": ["toggle", "Newest failures"],
        "/alerts": ["Alerts", "Firing", "Past"],
        "/codes": ["id=\"c10061\"", "WSAECONNREFUSED", "ss -ltnp", "WSA_IO_PENDING"],
        "/api/": ["/api/targets", "/api/latency", "--format json"],
    }
    for path, want in pages.items():
        status, headers, body = get(web.port, path)
        text = body.decode()
        assert status == 200, (path, status, text[:300])
        assert headers["content-type"] == "text/html; charset=utf-8"
        assert "default-src 'none'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        for w in want:
            assert w in text, (path, w)
        assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
        assert "http://" not in text.replace("http://127.0.0.1", ""), path  # nothing external
    status, _, body = get(web.port, "/codes")
    assert body.decode().count("<dt id=\"c") == 53
    for api in ROUTES_API:
        status, headers, body = get(web.port, "/api/" + api)
        assert status == 200, (api, body)
        assert headers["content-type"] == "application/json"
        json.loads(body)
    # HEAD: the same length, no body
    status, headers, body = get(web.port, "/target/refused", "HEAD")
    assert status == 200 and body == b"" and int(headers["content-length"]) > 1000


def test_not_found_and_not_allowed(web):
    for path in ["/nope", "/target/", "/target/no-such-target", "/api/nope", "/api/failures/x",
                 "/api/explain/no-such-code", "/etc/passwd", "/../etc/passwd",
                 "/%2e%2e/%2e%2e/etc/passwd", "/target/..%2f..%2fetc%2fpasswd", "/favicon.ico",
                 "/alerts/", "/index.html", "/api/web"]:
        status, _, body = get(web.port, path)
        assert status == 404, (path, status)
        assert b"root:" not in body
    status, _, body = get(web.port, "/target/no-such-target")
    assert b"no target of this name" in body
    for method in ["POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT"]:
        status, headers, _ = get(web.port, "/", method)
        assert status == 405, method
        assert headers["allow"] == "GET, HEAD"
    # an API question the command refuses: 400 with its own words
    status, _, body = get(web.port, "/api/failures?code=nosuch")
    assert status == 400 and "unknown code" in json.loads(body)["error"]
    for q in ["follow", "foll", "format=table", "db=/etc/passwd", "d=/etc/passwd", "c=/x",
              "help", "limit=0", "limit=10001", "since=1h&since", "active=yes"]:
        status, _, body = get(web.port, "/api/failures?" + q)
        assert status == 400, (q, status, body)
        assert "error" in json.loads(body)
    status, _, body = get(web.port, "/api/timeline?since=30d&bucket=1m")
    assert status == 400 and "buckets" in json.loads(body)["error"]
    status, _, _ = get(web.port, "/target/refused?range=1y")
    assert status == 400


def test_dns_rebinding(web):
    """On loopback, a request whose Host is another site's name (a page
    that made its name resolve to 127.0.0.1) is refused; this machine's own
    names and addresses are served."""
    def with_host(host):
        return raw(web.port, ("GET /api/status HTTP/1.1\r\nHost: %s\r\n\r\n" % host).encode())

    for host in ["evil.example", "evil.example:%d" % web.port, "127.0.0.1.evil.example",
                 "localhost.evil.example", "[::1].evil", "127.0.0.1.5"]:
        status, _, body = with_host(host)
        assert status == 403, (host, status)
        assert b"history" not in body and b"refused" not in body
    for host in ["127.0.0.1:%d" % web.port, "127.0.0.1", "localhost:%d" % web.port, "LOCALHOST",
                 "[::1]:%d" % web.port, "127.0.0.2"]:
        assert with_host(host)[0] == 200, host
    assert raw(web.port, b"GET /api/status HTTP/1.0\r\n\r\n")[0] == 200  # no Host
    assert raw(web.port, b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")[0] == 400


def api_vs_cli(port, db, path, args, now=NOW):
    status, _, body = get(port, path)
    assert status == 200, (path, body)
    r = nd("--db", db, *args, "--format", "json", now=now, tz="UTC0")
    assert r.returncode in (0, 5), (args, r.stderr)
    return json.loads(body), json.loads(r.stdout)


def test_api_equals_the_command(made, tmp_path):
    """The same question, the same answer: /api/X?k=v against netdiag X
    --k v --format json, at the same "now"."""
    _, db = made
    w = Web(tmp_path, db, env_extra={"NETDIAG_NOW": NOW})
    try:
        since = "2026-01-01"
        cases = [
            ("/api/status", ["status"]),
            ("/api/targets?since=" + since, ["targets", "--since", since]),
            ("/api/targets?since=%s&failing" % since, ["targets", "--since", since,
                                                         "--failing"]),
            ("/api/failures?since=%s&limit=1000" % since, ["failures", "--since", since,
                                                           "--limit", "1000"]),
            ("/api/failures?target=refused&target=sil*&code=10061&code=WSAETIMEDOUT",
             ["failures", "--target", "refused", "--target", "sil*", "--code", "10061",
              "--code", "WSAETIMEDOUT"]),
            ("/api/summary?since=%s&by=target" % since, ["summary", "--since", since, "--by",
                                                          "target"]),
            ("/api/summary?since=%s&by=raw&utc" % since, ["summary", "--since", since, "--by",
                                                           "raw", "--utc"]),
            ("/api/timeline?since=2026-11-20&bucket=1d&by=code",
             ["timeline", "--since", "2026-11-20", "--bucket", "1d", "--by", "code"]),
            ("/api/alerts?since=" + since, ["alerts", "--since", since]),
            ("/api/codes", ["codes"]),
            ("/api/explain/ECONNREFUSED", ["explain", "ECONNREFUSED"]),
        ]
        for path, args in cases:
            api, cli = api_vs_cli(w.port, db, path, args)
            assert api == cli, path
        # the figures the overview shows are those of the commands
        status, _, body = get(w.port, "/")
        page = body.decode()
        for row in json.loads(nd("--db", db, "targets", "--format", "json", now=NOW,
                                 tz="UTC0").stdout):
            assert ">%s</a>" % row["target"] in page
        [status_row] = json.loads(nd("--db", db, "status", "--format", "json", now=NOW).stdout)
        assert status_row["summary"] in page  # the banner: status's own words
    finally:
        w.stop()


# --- latency ------------------------------------------------------------------


def iso(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)


def data_range(db):
    """since and until (ISO) around every minute the daemon counted, and a
    "now" a little after them for the pages and the commands alike (the
    real clock would move the buckets between the two)."""
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    lo, hi = con.execute("SELECT min(minute), max(minute) FROM rollup_minute").fetchone()
    con.close()
    return iso(lo - 60000), iso(hi + 120000), iso(hi + 90500)


def test_latency_chart_and_api(made, tmp_path):
    """The target page draws the latency of a target that has some (the
    median, the 10th to 90th percentile band, failed attempts marked) from
    `netdiag latency --chart`, bucket for bucket; /api/latency is that
    command's JSON; the overview has a latency sparkline per target."""
    _, db = made
    since, until, now = data_range(db)
    w = Web(tmp_path, db, env_extra={"NETDIAG_NOW": now})
    try:
        rng = "since=%s&until=%s" % (since, until)
        cases = [
            ("/api/latency?" + rng, ["latency", "--since", since, "--until", until]),
            ("/api/latency?%s&by=minute&target=toggle" % rng,
             ["latency", "--since", since, "--until", until, "--by", "minute", "--target",
              "toggle"]),
            ("/api/latency?%s&chart&bucket=1m&kind=connect" % rng,
             ["latency", "--since", since, "--until", until, "--chart", "--bucket", "1m",
              "--kind", "connect"]),
        ]
        for path, args in cases:
            api, cli = api_vs_cli(w.port, db, path, args, now=now)
            assert api == cli, path
            assert any(r["p50_us"] is not None for r in api), path
        # the chart's buckets are the command's: one hover area and title
        # per bucket begun, each with the command's attempts
        status, _, body = get(w.port, "/target/toggle?range=1h")
        page = body.decode()
        assert status == 200
        chart = page[page.index("<svg class=\"chart lat\""):]
        chart = chart[:chart.index("</svg>")]
        cli = json.loads(nd("--db", db, "latency", "--target", "toggle", "--since", "1h",
                            "--chart", "--bucket", "1m", "--format", "json", now=now,
                            tz="UTC0").stdout)
        begun = [r for r in cli if r["elapsed_s"] > 0]
        assert chart.count("<rect class=\"hov\"") == len(begun) > 0
        titles = re.findall(r"<title>([^<]*)</title>", chart)
        assert len(titles) == len(begun)
        for r, t in zip(begun, titles):
            if r["attempts"]:
                assert "; %d attempts, %d succeeded" % (r["attempts"], r["successes"]) in t, t
        assert re.search(r'<path class="band" d="M[0-9]', chart)
        assert re.search(r'<path class="med" d="M[0-9]', chart)
        # failed attempts marked below the plot (toggle fails in turns)
        assert "class=\"loss l" in chart
        [whole] = json.loads(nd("--db", db, "latency", "--target", "toggle", "--since", "1h",
                                "--format", "json", now=now, tz="UTC0").stdout)
        assert "<span>samples</span>%d<" % whole["samples"] in page
        # a target without a successful attempt: its buckets are marked
        status, _, body = get(w.port, "/target/refused?range=1h")
        assert "class=\"nolat\"" in body.decode()
        # the overview: a latency sparkline for the targets that have one
        status, _, body = get(w.port, "/")
        page = body.decode()
        assert "Latency, 24 h by the hour" in page
        assert page.count("latency: newest median") >= 2  # ok and toggle
    finally:
        w.stop()


def test_latency_hostile_names(made, tmp_path):
    """A target whose name is markup: its latency chart, its JSON link and
    the overview's sparkline row show it as text."""
    _, src = made
    db = str(tmp_path / "h.db")
    checkpoint_copy(src, db)
    name = "<svg onload=alert(3)>&\"'"
    con = sqlite3.connect(db)
    with con:
        con.execute("UPDATE targets SET name = ? WHERE name = 'toggle'", (name,))
    con.close()
    w = Web(tmp_path, db, env_extra={"NETDIAG_NOW": data_range(db)[2]})
    try:
        enc = "%3Csvg%20onload%3Dalert%283%29%3E%26%22%27"
        for path in ["/target/%s?range=1h" % enc, "/"]:
            status, _, body = get(w.port, path)
            text = body.decode()
            assert status == 200, path
            assert "<svg onload" not in text, path
            assert "&lt;svg onload=alert(3)&gt;&amp;&quot;&#39;" in text, path
        status, _, body = get(w.port, "/target/%s?range=1h" % enc)
        text = body.decode()
        assert "<svg class=\"chart lat\"" in text
        assert "/api/latency?target=%s&amp;since=1h&amp;chart&amp;bucket=1m" % enc in text
        status, _, body = get(w.port, "/api/latency?target=%s&since=1d" % enc)
        assert status == 200 and json.loads(body)[0]["target"] == name
    finally:
        w.stop()


def test_latency_before_schema_5(tmp_path):
    """A database older than the latency histograms: the pages say so
    where the chart would be."""
    db = make_db(str(tmp_path / "old.db"), HOSTILE)
    w = Web(tmp_path, db, env_extra={"NETDIAG_NOW": "2026-11-24T10:00:00Z"})
    try:
        for path in ["/", "/target/plain"]:
            status, _, body = get(w.port, path)
            assert status == 200 and b"latency: not available" in body, path
            assert b"has no latency histograms" in body, path
    finally:
        w.stop()


# --- hostile text ------------------------------------------------------------

INJECT = "<script>alert(1)</script>"
INJECT_IMG = "<img src=x onerror=alert(2)>"


@pytest.fixture(scope="module")
def hostile_db(made, tmp_path_factory):
    """A copy of the daemon's database with markup written into every text
    a page shows: a target's name, a failure's detail, a code's name and
    meaning, an alert's detail, the daemon's host name."""
    _, src = made
    d = tmp_path_factory.mktemp("hostileweb")
    db = os.path.join(str(d), "h.db")
    checkpoint_copy(src, db)
    con = sqlite3.connect(db)
    with con:
        con.execute("UPDATE targets SET name = ? WHERE name = 'refused'", (INJECT,))
        con.execute("UPDATE targets SET name = ? WHERE name = 'silent'", ("a'b\"c&d " + INJECT_IMG,))
        con.execute("UPDATE failures SET detail = ?", (INJECT_IMG + "\x1b[31m\u2028",))
        con.execute("UPDATE wsa_codes SET name = ?, meaning = ? WHERE code = 10061",
                    ("<b>WSAECONNREFUSED", INJECT))
        tid = con.execute("SELECT id FROM targets WHERE name = ?", (INJECT,)).fetchone()[0]
        con.execute("INSERT INTO alerts (target_id, wsa_code, started, resolved, count, baseline, "
                    "detail) VALUES (?, 10061, 1795514000000, NULL, 9, 0.5, ?)", (tid, INJECT))
        con.execute("UPDATE runs SET hostname = ?", (INJECT,))
    con.close()
    return db


def test_hostile_text_is_text(hostile_db, tmp_path):
    w = Web(tmp_path, hostile_db)
    try:
        enc = "%3Cscript%3Ealert%281%29%3C%2Fscript%3E"
        for path in ["/", "/alerts", "/codes", "/target/" + enc, "/target/" + enc + "?range=7d"]:
            status, _, body = get(w.port, path)
            text = body.decode()
            assert status == 200, (path, status)
            assert "<script>alert" not in text and "<img" not in text, path
            assert "<b>WSAE" not in text, path
            assert text.count("<script>") == 1  # the page's own, whose hash the CSP names
            assert "\x1b" not in text
        status, _, body = get(w.port, "/target/" + enc)
        text = body.decode()
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
        assert "&lt;img src=x onerror=alert(2)&gt;" in text
        status, _, body = get(w.port, "/")
        assert "a&#39;b&quot;c&amp;d &lt;img" in body.decode()
        # the API: valid JSON, never HTML, never sniffed
        status, headers, body = get(w.port, "/api/failures")
        assert status == 200 and headers["content-type"] == "application/json"
        assert headers["x-content-type-options"] == "nosniff"
        assert any(r["detail"].startswith(INJECT_IMG) for r in json.loads(body))
    finally:
        w.stop()


# --- the path panel -------------------------------------------------------------


def add_path(con, tid, ts, why, dest, reached, hops):
    """A paths row and its path_hops, as netdiagd's tracer writes them."""
    cur = con.execute("INSERT INTO paths (target_id, ts, why, failure_ts, dest, protocol, port, "
                      "reached, stop_ttl, stop_addr, packets, duration_ms) VALUES (?, ?, ?, ?, "
                      "?, 'tcp', 80, ?, NULL, NULL, 6, 40)",
                      (tid, ts, why, ts if why == "failure" else None, dest, reached))
    for ttl, said, addr, rtt, itype, icode in hops:
        con.execute("INSERT INTO path_hops (path_id, ttl, said, addr, rtt_us, icmp_type, "
                    "icmp_code) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (cur.lastrowid, ttl, said, addr, rtt, itype, icode))


@pytest.fixture(scope="module")
def path_db(made, tmp_path_factory):
    """A copy of the daemon's database (schema 8) with, for "refused", a
    baseline path through r1, r2 to dst and then a failure path that r2'
    (another router) ends with host unreachable at hop 2; for "silent" a
    failure path whose stored address and said hold markup."""
    _, src = made
    d = tmp_path_factory.mktemp("pathweb")
    db = os.path.join(str(d), "p.db")
    checkpoint_copy(src, db)
    con = sqlite3.connect(db)
    t = int(time.time() * 1000) - 600000
    with con:
        assert con.execute("PRAGMA user_version").fetchone()[0] >= 8
        tid = con.execute("SELECT id FROM targets WHERE name = 'refused'").fetchone()[0]
        add_path(con, tid, t, "baseline", "10.99.3.2", 1,
                 [(1, "ttl", "10.99.1.2", 310, 11, 0), (2, "ttl", "10.99.2.2", 520, 11, 0),
                  (3, "reached", "10.99.3.2", 700, None, None)])
        add_path(con, tid, t + 60000, "failure", "10.99.3.2", 0,
                 [(1, "ttl", "10.99.1.2", 330, 11, 0),
                  (2, "unreachable", "10.99.7.7", 610, 3, 1)])
        sid = con.execute("SELECT id FROM targets WHERE name = 'silent'").fetchone()[0]
        add_path(con, sid, t + 1000, "failure", INJECT, 0,
                 [(1, INJECT_IMG, INJECT, 100, None, None), (2, "silent", None, None, None,
                                                             None)])
        # "toggle" without any path (the daemon may have traced a baseline)
        con.execute("DELETE FROM path_hops WHERE path_id IN (SELECT p.id FROM paths p JOIN "
                    "targets t ON t.id = p.target_id WHERE t.name = 'toggle')")
        con.execute("DELETE FROM paths WHERE target_id = (SELECT id FROM targets WHERE name = "
                    "'toggle')")
    con.close()
    return db


def test_path_panel(path_db, tmp_path):
    """The target page shows the path at the last failure beside the last
    good one, hop by hop, with where it stopped and where it changed; the
    API answers what `netdiag path TARGET --format json` answers."""
    w = Web(tmp_path, path_db)
    try:
        status, _, body = get(w.port, "/target/refused")
        page = body.decode()
        assert status == 200
        panel = page[page.index("<h2>Path</h2>"):page.index("<h2>Alerts</h2>")]
        assert 'id="path"' in panel
        rows = re.findall(r"<tr[^>]*>(.*?)</tr>", panel[panel.index("<tbody>"):])
        assert len(rows) == 3, panel
        assert "10.99.1.2" in rows[0] and "time exceeded" in rows[0]
        assert "10.99.7.7" in rows[1] and "host unreachable (ICMP 3/1)" in rows[1]
        assert "10.99.2.2" in rows[1] and "path changed here" in rows[1]
        assert "10.99.3.2" in rows[2]  # only the good path reached hop 3
        assert "Traced at the failure, " in panel and "failure failure" not in panel, panel
        assert "stops after hop 2 (10.99.7.7, host unreachable (ICMP 3/1))" in panel
        assert "path changed at hop 2" in panel and "last good path" in panel
        assert "not available" not in panel
        # /api/path equals the command, for both targets and an unknown one
        for name, q in [("refused", "refused"), ("silent", "silent")]:
            api, cli = api_vs_cli(w.port, path_db, "/api/path?target=" + q, ["path", name],
                                  now=None)
            assert api == cli and len(api) >= 2, name
        api, cli = api_vs_cli(w.port, path_db, "/api/path?target=refused&utc",
                              ["path", "refused", "--utc"], now=None)
        assert api == cli
        status, _, body = get(w.port, "/api/path?target=nosuch")
        assert status == 400 and json.loads(body)["exit_code"] == 2
        status, _, body = get(w.port, "/api/path")
        assert status == 400
        # a target without a path
        status, _, body = get(w.port, "/target/toggle")
        page = body.decode()
        panel = page[page.index("<h2>Path</h2>"):page.index("<h2>Alerts</h2>")]
        assert status == 200 and "No path of this target traced yet" in panel, panel
        status, _, body = get(w.port, "/api/")
        assert b"/api/path" in body
    finally:
        w.stop()


def test_path_hostile_text(path_db, tmp_path):
    """A stored address, destination and said holding markup show as text."""
    w = Web(tmp_path, path_db)
    try:
        status, _, body = get(w.port, "/target/silent")
        page = body.decode()
        assert status == 200
        panel = page[page.index("<h2>Path</h2>"):page.index("<h2>Alerts</h2>")]
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in panel
        assert "&lt;img src=x" in panel
        assert "<script>alert" not in page and "<img" not in page
        assert page.count("<script>") == 1
        status, headers, body = get(w.port, "/api/path?target=silent")
        assert status == 200 and headers["content-type"] == "application/json"
        assert any(r["address"] == INJECT for r in json.loads(body))
    finally:
        w.stop()


def test_path_before_schema_8(tmp_path):
    """A database older than the traced paths: the panel says not available."""
    db = make_db(str(tmp_path / "old.db"), HOSTILE)
    w = Web(tmp_path, db, env_extra={"NETDIAG_NOW": "2026-11-24T10:00:00Z"})
    try:
        status, _, body = get(w.port, "/target/plain")
        page = body.decode()
        panel = page[page.index("<h2>Path</h2>"):page.index("<h2>Alerts</h2>")]
        assert status == 200 and "not available" in panel and "keeps no paths" in panel
    finally:
        w.stop()


def test_a_database_someone_else_wrote(tmp_path):
    """Numbers at the ends of int64, broken UTF-8, terminal escapes: every
    page answers, nothing crashes (the sanitizer build fails on an
    overflow)."""
    db = make_db(str(tmp_path / "h.db"), HOSTILE)
    w = Web(tmp_path, db, env_extra={"NETDIAG_NOW": "2026-11-24T10:00:00Z"})
    try:
        for path in ["/", "/alerts", "/codes", "/target/plain", "/target/max?range=30d",
                     "/target/%1B%5B31mred%1B%5B0m%07", "/api/targets", "/api/failures"]:
            status, _, body = get(w.port, path)
            assert status in (200, 404), (path, status)
            assert b"\x1b" not in body and b"\x07" not in body, path
    finally:
        w.stop()


# --- running, stopped, copied --------------------------------------------------


def test_live_stopped_and_copied(tmp_path):
    db = str(tmp_path / "live.db")
    dm = Daemon(tmp_path, db, target_sections([("refused", closed_port())]))
    w = Web(tmp_path, db)
    try:
        wait_for(lambda: b"refused" in get(w.port, "/api/failures")[2], what="failures")
        status, _, body = get(w.port, "/")
        assert status == 200 and b"id=\"stale\"" not in body, body[:2000]
        dm.stop()
        # the overview is shared for a moment: the banner comes within it
        wait_for(lambda: b"netdiagd stopped at" in get(w.port, "/")[2], what="the stale banner")
        [st] = json.loads(get(w.port, "/api/status")[2])
        assert st["stale"] is True and st["state"] == "stopped"
    finally:
        dm.kill()
        w.stop()
    # a copy in a directory this user may not write: read-only, as the
    # commands read it
    ro = tmp_path / "ro"
    ro.mkdir()
    checkpoint_copy(db, str(ro / "copy.db"))
    before = sorted(os.listdir(ro))
    os.chmod(ro, 0o555)
    try:
        w = Web(tmp_path, str(ro / "copy.db"))
        try:
            status, _, body = get(w.port, "/target/refused")
            assert status == 200 and b"WSAECONNREFUSED" in body
        finally:
            w.stop()
        assert sorted(os.listdir(ro)) == before  # nothing created
    finally:
        os.chmod(ro, 0o755)


def test_no_database_yet(tmp_path):
    w = Web(tmp_path, str(tmp_path / "none.db"))
    try:
        status, _, body = get(w.port, "/")
        assert status == 503 and b"no such database" in body
        status, _, body = get(w.port, "/api/targets")
        assert status == 503 and "no such database" in json.loads(body)["error"]
    finally:
        log = w.stop()
    assert "no such database" in log


def test_listen(made, tmp_path):
    _, db = made
    r = subprocess.run([NETDIAG, "web", "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "127.0.0.1:9471" in r.stdout
    r = subprocess.run([NETDIAG, "--db", db, "web", "--listen", "localhost:80"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "--listen" in r.stderr
    port = free_port()
    w = Web(tmp_path, db, listen="0.0.0.0:%d" % port)
    w.port = port
    try:
        assert "other than loopback" in w.log()
        assert get(port, "/api/status")[0] == 200
        # a name of its own on the LAN is the admin's choice there
        assert raw(port, b"GET /api/status HTTP/1.1\r\nHost: netdiag.lan\r\n\r\n")[0] == 200
    finally:
        w.stop()
    w = Web(tmp_path, db)
    try:
        assert "other than loopback" not in w.log()
        r = subprocess.run([NETDIAG, "--db", db, "web", "--listen", w.listen],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 1 and "cannot listen" in r.stderr and "WSAEADDRINUSE" in r.stderr
    finally:
        w.stop()


# --- abuse --------------------------------------------------------------------


def test_malformed_and_oversized(web):
    cases = [
        (b"GET / HTTP/1.1\r\nX: " + b"a" * 9000 + b"\r\n\r\n", 431),
        (b"GET / HTTP/1.1\r\n" + b"".join(b"X%d: 1\r\n" % i for i in range(65)) + b"\r\n", 431),
        (b"GET /" + b"a" * 8500 + b" HTTP/1.1\r\n\r\n", 431),
        (b"GET /api/failures?" + b"target=a&" * 700 + b" HTTP/1.1\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\n\r\n", 505),
        (b"GET /\x00 HTTP/1.1\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", 400),
        (b"GET  / HTTP/1.1\r\n\r\n", 400),
        (b"\xff\xfe\r\n\r\n", 400),
        (b"GET http://h/ HTTP/1.1\r\n\r\n", 200),
        (b"GET * HTTP/1.1\r\n\r\n", 400),
        (b"GET /target/%zz HTTP/1.1\r\n\r\n", 404),
        (b"GET /target/a%00b HTTP/1.1\r\n\r\n", 404),
        (b"POST / HTTP/1.1\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000, 405),
    ]
    for req, want in cases:
        status, _, _ = raw(web.port, req)
        assert status == want, (req[:60], status, want)
    # still serving
    assert get(web.port, "/api/status")[0] == 200


def test_slow_and_many(web):
    """A head dripped a byte a second is cut at the request deadline (5 s
    from accept); 300 connections at once never make more than the cap
    open, and every one gets an answer or waits its turn; RSS stays
    bounded."""
    rss0 = rss_kb(web.proc.pid)
    s = socket.create_connection(("127.0.0.1", web.port), timeout=15)
    t0 = time.monotonic()
    closed = None
    try:
        for ch in b"GET / HTTP/1.1\r\nX-Slow: " + b"a" * 30:
            s.send(bytes([ch]))
            s.settimeout(1.0)
            try:
                data = s.recv(4096)
                closed = data
                break
            except socket.timeout:
                continue
            except ConnectionResetError:
                closed = b""
                break
    finally:
        s.close()
    elapsed = time.monotonic() - t0
    assert closed is not None and (closed == b"" or closed.startswith(b"HTTP/1.1 408")), closed
    assert 4.0 <= elapsed <= 12.0, elapsed
    # many at once: each thread asks one page; the server answers them all
    results = []
    lock = threading.Lock()

    def one(i):
        path = ["/", "/api/targets", "/target/refused", "/codes", "/api/failures"][i % 5]
        try:
            st = get(web.port, path)[0]
        except OSError as e:
            st = repr(e)
        with lock:
            results.append(st)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(200)]
    peak = rss0
    for t in threads:
        t.start()
    deadline = time.monotonic() + 120
    while any(t.is_alive() for t in threads) and time.monotonic() < deadline:
        peak = max(peak, rss_kb(web.proc.pid))
        time.sleep(0.05)
    for t in threads:
        t.join(timeout=1)
    assert len(results) == 200 and all(r in (200, 503) for r in results), results
    assert results.count(200) >= 150, results
    print("rss before %d kB, peak %d kB under 200 requests" % (rss0, peak))
    assert peak - rss0 < 128 * 1024
    # idle connections beyond the cap: held in the listen queue, not served
    # one descriptor each; the server goes on
    idle = []
    try:
        for _ in range(100):
            c = socket.socket()
            c.setblocking(False)
            try:
                c.connect(("127.0.0.1", web.port))
            except BlockingIOError:
                pass
            idle.append(c)
        time.sleep(1)
        fds = len(os.listdir("/proc/%d/fd" % web.proc.pid))
        assert fds < 60, fds
    finally:
        for c in idle:
            c.close()
    wait_for(lambda: get(web.port, "/api/status")[0] == 200, timeout=30, what="serving again")


# --- a real browser --------------------------------------------------------------


def chromium(args, tmp, timeout=90):
    """Headless Chromium that talks to nothing but 127.0.0.1: no
    background networking, every host name unresolvable."""
    cmd = [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
           "--user-data-dir=%s" % os.path.join(tmp, "chromium-profile"),
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--disable-default-apps", "--disable-extensions",
           "--disable-domain-reliability", "--no-pings", "--metrics-recording-only",
           "--disable-client-side-phishing-detection", "--dns-prefetch-disable",
           "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
           "--hide-scrollbars", *args]
    env = dict(os.environ, HOME=tmp, TZ="America/New_York", LANG="en_US.UTF-8")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (Debian package chromium, `make deps`)")
    tmp = str(tmp_path_factory.mktemp("chromium"))
    try:
        r = chromium(["--dump-dom", "about:blank"], tmp, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.skip("chromium does not start here within 60 s")
    if r.returncode != 0 or "<html" not in r.stdout:
        pytest.skip("chromium cannot run here: %s" % r.stderr.strip()[-300:])
    return tmp


def png_colours(path):
    """The distinct colours of a PNG (8-bit RGB or RGBA, as Chromium
    writes), from its rows unfiltered."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    w = h = bpp = 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and ctype in (2, 6), (depth, ctype)
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + n
    raw_rows = zlib.decompress(idat)
    stride = w * bpp
    prev = bytearray(stride)
    colours = set()
    for y in range(h):
        f = raw_rows[y * (stride + 1)]
        line = bytearray(raw_rows[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        if y % 4 == 0:
            for x in range(0, stride, bpp * 2):
                colours.add(bytes(line[x:x + 3]))
        prev = line
    return w, h, colours


def test_browser_live_then_stopped(browser, tmp_path):
    db = str(tmp_path / "live.db")
    ok, toggle = Server("accept"), Toggle()
    body = target_sections([("refused", closed_port()), ("ok", ok.port),
                            ("toggle", toggle.port)])
    dm = Daemon(tmp_path, db, body)
    w = Web(tmp_path, db)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    try:
        wait_for(lambda: b"refused" in get(w.port, "/api/failures")[2], what="failures")
        wait_for(lambda: b"toggle" in get(w.port, "/api/failures")[2] and any(
            r["p50_us"] is not None for r in json.loads(get(
                w.port, "/api/latency?target=toggle")[2])), what="toggle's failures and latency")
        time.sleep(1.5)  # a few minutes' rows... a few seconds' are enough
        r = chromium(["--dump-dom", w.base + "/"], browser)
        assert r.returncode == 0, r.stderr[-2000:]
        dom = r.stdout
        for want in ["refused", ">ok<", "WSAECONNREFUSED", "10061", "%", "Success 1 h"]:
            assert want in dom, want
        assert "id=\"stale\"" not in dom
        # the page's own script ran under its CSP: times in the viewer's zone
        assert "America/New_York (UTC on hover)" in dom
        assert re.search(r'<time datetime="[^"]+Z" class="s" title="[^"]+ UTC">', dom), dom[:3000]
        r = chromium(["--dump-dom", w.base + "/target/refused"], browser)
        assert r.returncode == 0 and "Failures by code" in r.stdout and "<rect" in r.stdout
        # the latency chart of a target with successes and failures
        r = chromium(["--dump-dom", w.base + "/target/toggle?range=1h"], browser)
        assert r.returncode == 0, r.stderr[-2000:]
        for want in ["<svg class=\"chart lat\"", "10th to 90th percentile", "median"]:
            assert want in r.stdout, want
        assert re.search(r'<path class="band" d="M[0-9]', r.stdout)
        assert re.search(r'<path class="med" d="M[0-9]', r.stdout)
        for page, path in [("overview", "/"), ("target", "/target/toggle?range=1h")]:
            # and the target page tall enough to hold its latency chart
            for size in ["1280,800", "390,844"] + (["1280,1400"] if page == "target" else []):
                png = shots / ("%s-%s.png" % (page, size.replace(",", "x")))
                r = chromium(["--window-size=%s" % size, "--screenshot=%s" % png,
                              w.base + path], browser)
                assert r.returncode == 0 and png.exists(), r.stderr[-2000:]
                width, height, colours = png_colours(str(png))
                assert (width, height) == tuple(int(v) for v in size.split(",")), (png, width)
                assert len(colours) >= 12, (png, len(colours))  # text, links, bars: not blank
        print("screenshots in %s" % shots)
        keep = os.environ.get("NETDIAG_SCREENSHOTS")  # a directory to keep them in
        if keep:
            os.makedirs(keep, exist_ok=True)
            for png in shots.iterdir():
                shutil.copy(str(png), os.path.join(keep, png.name))
        dm.stop()
        wait_for(lambda: b"netdiagd stopped at" in get(w.port, "/")[2], what="the stale banner")
        r = chromium(["--dump-dom", w.base + "/"], browser)
        assert "id=\"stale\"" in r.stdout and "netdiagd stopped at" in r.stdout
    finally:
        dm.kill()
        w.stop()
        ok.close()
        toggle.close()


def test_browser_hostile(browser, hostile_db, tmp_path):
    """In the browser too, markup in stored text stays text: no element it
    names is made."""
    w = Web(tmp_path, hostile_db)
    try:
        for path in ["/", "/target/%3Cscript%3Ealert%281%29%3C%2Fscript%3E", "/alerts"]:
            r = chromium(["--dump-dom", w.base + path], browser)
            assert r.returncode == 0, r.stderr[-2000:]
            assert "<img" not in r.stdout and "<b>WSAE" not in r.stdout, path
            assert r.stdout.count("<script") == 1, path
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.stdout, path
    finally:
        w.stop()


def test_client_links_no_dns_or_tls():
    """netdiag web serves on libevent's core alone: the client links no
    evhttp or evdns (libevent, libevent_extra), no ldns, no TLS library."""
    out = subprocess.run(["readelf", "-d", NETDIAG], capture_output=True, text=True,
                         timeout=30).stdout
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)
    assert any(n.startswith("libevent_core-") for n in needed), needed
    for bad in ("libldns", "libssl", "libcrypto", "libevent-", "libevent_extra",
                "libevent_openssl"):
        assert not any(n.startswith(bad) for n in needed), (bad, needed)
