# SPDX-License-Identifier: ISC
"""/metrics end to end: the real netdiagd probing a closed loopback port
(WSAECONNREFUSED) and an open one, scraped over HTTP while it runs; the
body checked line by line and by promtool, paths and methods it must
refuse, a reload that removes a target (its series go), a failed reload
that must not move the last-success time, a reload that moves the
listener, an address it cannot bind, and the raw label that tells a silent
nameserver from SERVFAIL (both WSATRY_AGAIN). The endpoint under abuse is
tests/integration/test_abuse_metrics.py."""

import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

import conftest
from conftest import NETDIAGD, closed_port, daemons_of
from dnsserver import DNSServer

PROMTOOL = shutil.which("promtool")
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$')


def write_config(tmp_path, metrics_port, targets, interval="100ms", timeout="50ms",
                 extra_daemon=""):
    """targets: list of (name, port)."""
    lines = ["[daemon]", "database = %s" % (tmp_path / "db.sqlite"), "log_level = info",
             "metrics_listen = 127.0.0.1:%d" % metrics_port if metrics_port else "", extra_daemon,
             "", "[defaults]", "interval = %s" % interval, "timeout = %s" % timeout, ""]
    for name, port in targets:
        lines += ["[target %s]" % name, "kind = connect", "host = 127.0.0.1",
                  "port = %d" % port, ""]
    path = tmp_path / "netdiag.ini"
    path.write_text("\n".join(lines))
    return path


class Daemon(conftest.Daemon):
    def reload(self, pattern, count):
        self.proc.send_signal(signal.SIGHUP)
        assert self.wait_log(pattern, count=count), self.log()


daemons = daemons_of(Daemon)


def url(port, path="/metrics"):
    return "http://127.0.0.1:%d%s" % (port, path)


def scrape(port, timeout=5):
    """GET /metrics: (body, content type)."""
    with urllib.request.urlopen(url(port), timeout=timeout) as r:
        assert r.status == 200
        return r.read().decode(), r.headers.get("Content-Type")


def wait_scrape(port, daemon, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return scrape(port)[0]
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline or daemon.proc.poll() is not None:
                raise AssertionError("no /metrics on port %d:\n%s" % (port, daemon.log()))
            time.sleep(0.05)


def parse(body):
    """{'name{labels}': value} for every sample line, checking the format."""
    samples = {}
    for line in body.splitlines():
        if line.startswith("#"):
            assert re.match(r"^# (HELP|TYPE) [a-z_]+ .+$", line), line
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        key = m.group(1) + (m.group(2) or "")
        assert key not in samples, "duplicate series %s" % key
        samples[key] = float(m.group(3))
    return samples


def probes(s, target, result):
    return s.get('netdiag_probes_total{target="%s",kind="connect",result="%s"}'
                 % (target, result))


REFUSED = ('netdiag_failures_total{target="closed",wsa_code="10061",'
           'wsa_name="WSAECONNREFUSED",raw="ECONNREFUSED"}')


def promtool_check(body):
    if PROMTOOL is None:
        pytest.skip("promtool is not installed (Debian package prometheus): "
                    "the body's format is not checked")
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=body, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.fixture
def listener():
    """An open loopback TCP port (the kernel accepts into the backlog)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(4096)
    yield s.getsockname()[1]
    s.close()


def test_scrape(tmp_path, daemons, server):
    mport = closed_port()
    open_srv = server("accept")
    cfg = write_config(tmp_path, mport, [("closed", closed_port()), ("open", open_srv.port)])
    d = daemons(cfg)
    wait_scrape(mport, d)
    assert "metrics: serving http://127.0.0.1:%d/metrics" % mport in d.log()

    seen = []
    for _ in range(4):
        time.sleep(0.6)
        body, ctype = scrape(mport)
        assert ctype == "text/plain; version=0.0.4; charset=utf-8"
        seen.append((body, parse(body)))
    first, last = seen[0][1], seen[-1][1]

    # the counters grow from scrape to scrape
    assert probes(last, "closed", "failed") > probes(first, "closed", "failed") > 0
    assert probes(last, "open", "ok") > probes(first, "open", "ok") > 0
    assert probes(last, "closed", "ok") == 0
    assert last[REFUSED] > first[REFUSED] > 0
    assert last[REFUSED] == probes(last, "closed", "failed")
    # the open target never failed: its watched codes' counters stand at 0
    # (made at start, so that increase() sees a first failure)
    assert {k: v for k, v in last.items() if k.startswith('netdiag_failures_total{target="open"')} \
        == {REFUSED.replace('"closed"', '"open"'): 0,
            'netdiag_failures_total{target="open",wsa_code="10060",wsa_name="WSAETIMEDOUT",'
            'raw="ETIMEDOUT"}': 0}

    # what rules are written on
    assert last['netdiag_target_up{target="open",kind="connect"}'] == 1
    assert last['netdiag_target_up{target="closed",kind="connect"}'] == 0
    assert last['netdiag_target_interval_seconds{target="closed",kind="connect"}'] == 0.1
    assert abs(last['netdiag_target_last_success_timestamp_seconds{target="open",'
                    'kind="connect"}'] - time.time()) < 30
    assert not any(k.startswith('netdiag_target_last_success_timestamp_seconds{target="closed"')
                   for k in last)

    # the latency histogram is whole: cumulative, +Inf == _count == ok attempts
    for target in ("closed", "open"):
        lab = 'target="%s",kind="connect"' % target
        buckets = [(k, v) for k, v in last.items()
                   if k.startswith("netdiag_target_latency_seconds_bucket{%s," % lab)]
        assert len(buckets) == 15
        values = [v for _, v in buckets]
        assert values == sorted(values)
        count = last["netdiag_target_latency_seconds_count{%s}" % lab]
        assert last['netdiag_target_latency_seconds_bucket{%s,le="+Inf"}' % lab] == count
        assert count == probes(last, target, "ok")
        # loopback connects finish well within the 50 ms timeout
        assert last['netdiag_target_latency_seconds_bucket{%s,le="0.05"}' % lab] == count
        assert last["netdiag_target_latency_seconds_sum{%s}" % lab] <= 0.05 * count
    assert last['netdiag_target_latency_seconds_count{target="open",kind="connect"}'] > 0

    # the process, as Prometheus' client libraries show it
    # (probe sockets come and go between the scrape and the look)
    assert abs(last["process_open_fds"] - len(os.listdir("/proc/%d/fd" % d.proc.pid))) <= 8
    assert last["process_max_fds"] > 0
    assert abs(last["process_start_time_seconds"] - d.started) < 30
    assert last["process_resident_memory_bytes"] > 1e6
    assert last["process_cpu_seconds_total"] > 0

    assert last["netdiag_targets"] == 2
    assert last['netdiag_build_info{version="0.1.0"}'] == 1
    assert last["netdiag_alerts_active"] == 0
    assert last["netdiag_store_rows_written_total"] > 0
    assert last["netdiag_store_dropped_total"] == 0
    assert last["netdiag_store_writable"] == 1
    assert last['netdiag_config_reloads_total{result="ok"}'] == 0
    assert last["netdiag_config_last_reload_success"] == 1
    assert abs(last["netdiag_config_last_reload_success_timestamp_seconds"] - time.time()) < 60
    # the endpoint's own figures: the scrapes so far were answered whole
    assert last["netdiag_metrics_connections"] >= 1  # this scrape
    assert last['netdiag_metrics_connections_closed_total{reason="replied"}'] >= 4
    assert last['netdiag_metrics_connections_closed_total{reason="timeout"}'] == 0
    assert last['netdiag_metrics_accept_paused_total{reason="limit"}'] == 0
    for body, _ in seen:
        promtool_check(body)
    assert d.stop() == 0


def poll_samples(port, cond, what, daemon, timeout=20.0):
    """Scrape until cond(samples) holds; the samples then."""
    deadline = time.monotonic() + timeout
    s = {}
    while time.monotonic() < deadline:
        s = parse(scrape(port)[0])
        if cond(s):
            return s
        assert daemon.proc.poll() is None, daemon.log()
        time.sleep(0.1)
    raise AssertionError("%s: not within %.0f s; last scrape: %r" % (
        what, timeout, {k: v for k, v in s.items() if "svc" in k or "alert" in k}))


def test_target_up_follows_listener(tmp_path, daemons):
    """A person's service goes away and comes back: netdiag_target_up
    (what a "target down" rule reads) goes 1 -> 0 -> 1, the last success
    stops and moves on, and the refused counter, at 0 from the start, rises
    from there (so increase() counts the first refusals)."""
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(4096)
    port = lsock.getsockname()[1]
    mport = closed_port()
    d = daemons(write_config(tmp_path, mport, [("svc", port)]))
    up = 'netdiag_target_up{target="svc",kind="connect"}'
    last_ok = 'netdiag_target_last_success_timestamp_seconds{target="svc",kind="connect"}'
    refused = REFUSED.replace('"closed"', '"svc"')
    try:
        wait_scrape(mport, d)
        s = poll_samples(mport, lambda s: s.get(up) == 1, "up 1 with the listener", d)
        assert s[refused] == 0  # there before any refusal
        assert s['netdiag_target_interval_seconds{target="svc",kind="connect"}'] == 0.1

        lsock.close()
        gone = time.time()
        s = poll_samples(mport, lambda s: s.get(up) == 0, "up 0 without the listener", d)
        assert s[refused] > 0
        stopped = s[last_ok]
        assert stopped < gone + 1
        time.sleep(0.5)
        s = poll_samples(mport, lambda s: s.get(up) == 0, "still 0", d)
        assert s[last_ok] == stopped  # no success meanwhile

        lsock = socket.socket()
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind(("127.0.0.1", port))
        lsock.listen(4096)
        back = time.time()
        s = poll_samples(mport, lambda s: s.get(up) == 1, "up 1 with the listener back", d)
        assert s[last_ok] >= back - 1 and s[last_ok] > stopped
        promtool_check(scrape(mport)[0])
    finally:
        lsock.close()
    assert d.stop() == 0


def test_alert_firing_follows_engine(tmp_path, daemons):
    """netdiag_alert_firing shows what netdiagd's own alert engine has
    firing: c1's refused alert from the start; when svc's listener goes
    away too, three targets are refused at once and the host-wide alert
    fires (target "*"); with the listener back it resolves. Then a target
    alert alone (host-wide alerts off): fires and resolves."""
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(4096)
    port = lsock.getsockname()[1]

    def config(name, targets, host_min):
        mport = closed_port()
        cfg = write_config(tmp_path / name, mport, targets)
        with open(cfg, "a") as f:
            f.write("\n[alert]\nwindow = 1s\nbaseline = 1m\nclear_after = 2\n"
                    "host_min_targets = %d\n" % host_min)
        return mport, cfg

    def firing(s):
        return {k for k in s if k.startswith("netdiag_alert_firing{")}

    def line(target):
        return 'netdiag_alert_firing{target="%s",wsa_name="WSAECONNREFUSED"}' % target

    try:
        os.mkdir(tmp_path / "host")
        mport, cfg = config("host", [("svc", port), ("c1", closed_port()),
                                     ("c2", closed_port())], 3)
        d = daemons(cfg)
        wait_scrape(mport, d)
        s = poll_samples(mport, lambda s: line("c1") in s and line("c2") in s,
                         "c1's and c2's alerts", d)
        assert firing(s) == {line("c1"), line("c2")}
        assert s[line("c1")] == 1
        lsock.close()
        s = poll_samples(mport, lambda s: line("*") in s, "the host-wide alert", d)
        assert s["netdiag_alerts_active"] == len(firing(s))
        promtool_check(scrape(mport)[0])
        lsock = socket.socket()
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind(("127.0.0.1", port))
        lsock.listen(4096)
        poll_samples(mport, lambda s: line("*") not in s, "the host-wide alert resolved", d)
        assert d.stop() == 0

        os.mkdir(tmp_path / "one")
        mport, cfg = config("one", [("svc", port)], 0)
        d = daemons(cfg)
        wait_scrape(mport, d)
        poll_samples(mport, lambda s: s.get('netdiag_target_up{target="svc",kind="connect"}') == 1,
                     "svc up", d)
        lsock.close()
        s = poll_samples(mport, lambda s: line("svc") in s, "svc's alert", d)
        assert firing(s) == {line("svc")}
        lsock = socket.socket()
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind(("127.0.0.1", port))
        lsock.listen(4096)
        poll_samples(mport, lambda s: not firing(s), "svc's alert resolved", d)
        assert d.stop() == 0
    finally:
        lsock.close()


def test_latency_histogram_switch(tmp_path, daemons, listener):
    """metrics_latency = off leaves the histogram out (7 series a target
    instead of 24 for a connect target watching the default codes); a
    reload turns it back on."""
    mport = closed_port()
    cfg = write_config(tmp_path, mport, [("svc", listener)], extra_daemon="metrics_latency = off")
    d = daemons(cfg)
    wait_scrape(mport, d)
    s = poll_samples(mport, lambda s: s.get('netdiag_target_up{target="svc",kind="connect"}') == 1,
                     "up", d)
    svc = sorted(k for k in s if 'target="svc"' in k)
    assert not any("latency" in k for k in svc)
    assert len(svc) == 7, svc
    write_config(tmp_path, mport, [("svc", listener)])
    d.reload(r"reloaded: 1 targets", 1)
    s = poll_samples(mport, lambda s: any(k.startswith("netdiag_target_latency_seconds_count")
                                          for k in s), "the histogram back", d)
    svc = sorted(k for k in s if 'target="svc"' in k)
    assert len(svc) == 24, svc
    assert s['netdiag_target_latency_seconds_count{target="svc",kind="connect"}'] == \
        s['netdiag_probes_total{target="svc",kind="connect",result="ok"}']
    assert d.stop() == 0


def test_paths_and_methods(tmp_path, daemons):
    mport = closed_port()
    d = daemons(write_config(tmp_path, mport, [("closed", closed_port())]))
    wait_scrape(mport, d)

    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(url(mport, "/other"), timeout=5)
    assert e.value.code == 404
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(url(mport, "/"), timeout=5)
    assert e.value.code == 404
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(url(mport), data=b"x=1", timeout=5)  # POST
    assert e.value.code == 405
    assert e.value.headers.get("Allow") == "GET, HEAD"
    for method in ("PUT", "DELETE"):
        req = urllib.request.Request(url(mport), method=method)
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=5)
        assert e.value.code == 405, method
    # a query string does not change the path
    body, _ = scrape(mport)
    with urllib.request.urlopen(url(mport, "/metrics?x=1"), timeout=5) as r:
        assert r.status == 200 and "netdiag_probes_total" in r.read().decode()

    # HEAD: the headers of a GET, no body
    c = http.client.HTTPConnection("127.0.0.1", mport, timeout=5)
    c.request("HEAD", "/metrics")
    r = c.getresponse()
    assert r.status == 200
    assert r.getheader("Content-Type").startswith("text/plain; version=0.0.4")
    length = int(r.getheader("Content-Length"))
    assert length > 0
    assert r.read() == b""
    # one request per connection, said so; the client opens another
    assert r.getheader("Connection") == "close"
    c.request("GET", "/metrics")
    r = c.getresponse()
    assert r.status == 200 and b"netdiag_targets 1" in r.read()
    c.close()

    # what no scraper sends: answered with a status, then closed
    for raw, status in ((b"GARBAGE\r\n\r\n", 400),
                        (b"GET /metrics HTTP/2.0\r\n\r\n", 505),
                        (b"GET /metrics HTTP/1.1\r\nno colon\r\n\r\n", 400),
                        (b"GET /metrics HTTP/1.1\r\n folded: x\r\n\r\n", 400),
                        (b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 9000 + b"\r\n\r\n", 431),
                        (b"\r\nGET /metrics HTTP/1.0\r\n\r\n", 200),
                        (b"GET http://127.0.0.1/metrics HTTP/1.1\r\nHost: x\r\n\r\n", 200)):
        with socket.create_connection(("127.0.0.1", mport), timeout=5) as s:
            try:
                s.sendall(raw)
            except ConnectionError:
                pass  # 431: the reply may come before the rest is sent
            reply = b""
            while True:
                try:
                    chunk = s.recv(65536)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                reply += chunk
        assert reply.startswith(b"HTTP/1.1 %d " % status), (raw[:60], reply[:200])
    assert d.stop() == 0


def test_reload_drops_removed_target(tmp_path, daemons, listener):
    mport = closed_port()
    refused = closed_port()
    cfg = write_config(tmp_path, mport, [("closed", refused), ("open", listener)])
    d = daemons(cfg)
    wait_scrape(mport, d)
    deadline = time.monotonic() + 10
    while True:
        s = parse(scrape(mport)[0])
        if (probes(s, "open", "ok") or 0) > 0 and s.get(REFUSED, 0) > 0:
            break
        assert time.monotonic() < deadline, s
        time.sleep(0.1)
    assert any('target="open"' in k for k in s)

    # remove "open": every series of it goes
    write_config(tmp_path, mport, [("closed", refused)])
    d.reload(r"reloaded: 1 targets", 1)
    body = scrape(mport)[0]
    s = parse(body)
    assert not any('target="open"' in k for k in s), body
    assert s["netdiag_targets"] == 1
    assert s[REFUSED] > 0  # kept, not reset
    assert s['netdiag_config_reloads_total{result="ok"}'] == 1
    assert s['netdiag_config_reloads_total{result="failed"}'] == 0
    assert s["netdiag_config_last_reload_success"] == 1
    promtool_check(body)

    # a bad config: counted as failed, the running targets keep counting,
    # and the time of the last successful load stays where it was
    before = s[REFUSED]
    ok_time = s["netdiag_config_last_reload_success_timestamp_seconds"]
    time.sleep(1.1)  # a moved timestamp would differ by at least this
    (tmp_path / "netdiag.ini").write_text("[daemon]\nbogus = 1\n")
    d.reload(r"reload failed", 1)
    time.sleep(0.5)
    s = parse(scrape(mport)[0])
    assert s['netdiag_config_reloads_total{result="failed"}'] == 1
    assert s['netdiag_config_reloads_total{result="ok"}'] == 1
    assert s["netdiag_config_last_reload_success"] == 0
    assert s["netdiag_config_last_reload_success_timestamp_seconds"] == ok_time
    assert s[REFUSED] > before
    assert d.stop() == 0


def test_reload_moves_listener(tmp_path, daemons):
    p1, p2 = closed_port(), closed_port()
    refused = closed_port()
    d = daemons(write_config(tmp_path, p1, [("closed", refused)]))
    wait_scrape(p1, d)
    time.sleep(0.5)
    before = parse(scrape(p1)[0])[REFUSED]
    assert before > 0

    write_config(tmp_path, p2, [("closed", refused)])
    d.reload(r"reloaded: 1 targets", 1)
    s = parse(scrape(p2)[0])
    assert s[REFUSED] >= before  # the counters moved with the listener
    with pytest.raises(urllib.error.URLError):
        scrape(p1)

    # metrics_listen removed: nothing served any more
    write_config(tmp_path, None, [("closed", refused)])
    d.reload(r"reloaded: 1 targets", 2)
    with pytest.raises(urllib.error.URLError):
        scrape(p2)
    # and back on
    write_config(tmp_path, p1, [("closed", refused)])
    d.reload(r"reloaded: 1 targets", 3)
    assert "netdiag_targets 1" in wait_scrape(p1, d)
    assert d.stop() == 0


def test_address_in_use(tmp_path, listener):
    cfg = write_config(tmp_path, listener, [("closed", closed_port())])
    r = subprocess.run([NETDIAGD, "-c", str(cfg)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1, r.stderr
    assert "metrics_listen 127.0.0.1:%d: cannot listen" % listener in r.stderr
    assert "WSAEADDRINUSE" in r.stderr


def test_off_by_default(tmp_path, daemons):
    d = daemons(write_config(tmp_path, None, [("closed", closed_port())]))
    assert d.wait_log(r"started: 1 targets")
    assert "metrics:" not in d.log()
    pid = d.proc.pid
    # no listening TCP socket owned by the daemon
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                assert not (cols[3] == "0A" and cols[9] in inodes), line  # 0A: LISTEN
    assert d.stop() == 0


def test_raw_label_tells_silent_server_from_servfail(tmp_path, daemons):
    """A silent nameserver and one answering SERVFAIL are both WSATRY_AGAIN
    (11002, as getaddrinfo's EAI_AGAIN); the raw label tells them apart,
    from a fixed set of names so that label sets stay bounded."""
    mport = closed_port()
    with DNSServer() as dns:
        lines = ["[daemon]", "database = %s" % (tmp_path / "db.sqlite"),
                 "metrics_listen = 127.0.0.1:%d" % mport, "",
                 "[defaults]", "interval = 500ms", "timeout = 300ms", ""]
        for name, qname in (("silent", "silent.test"), ("servfail", "fail.test")):
            lines += ["[target %s]" % name, "kind = resolve", "name = %s" % qname, "type = A",
                      "server = 127.0.0.1:%d" % dns.port, ""]
        cfg = tmp_path / "netdiag.ini"
        cfg.write_text("\n".join(lines))
        d = daemons(cfg)
        wait_scrape(mport, d)
        want = ('netdiag_failures_total{target="silent",wsa_code="11002",'
                'wsa_name="WSATRY_AGAIN",raw="TIMEOUT"}',
                'netdiag_failures_total{target="servfail",wsa_code="11002",'
                'wsa_name="WSATRY_AGAIN",raw="SERVFAIL"}')
        deadline = time.monotonic() + 20
        while True:
            body = scrape(mport)[0]
            s = parse(body)
            if all(s.get(k, 0) > 0 for k in want):
                break
            assert time.monotonic() < deadline, body
            time.sleep(0.2)
        # beside the watched codes' counters, made at 0
        fails = [k for k in s if k.startswith("netdiag_failures_total{") and s[k] > 0]
        assert sorted(fails) == sorted(want), fails
        promtool_check(body)
        assert d.stop() == 0
