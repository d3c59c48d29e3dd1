# SPDX-License-Identifier: ISC
"""The rules shipped in conf/prometheus/ on the engines that run them:
promtool's checks and its test series, then the real netdiagd on loopback
scraped by a real Prometheus and by a real VictoriaMetrics single node with
vmalert, each started here on 127.0.0.1: a person's service (a loopback
listener) goes away and NetdiagTargetDown fires, it comes back and the
alert resolves; netdiagd stops and NetdiagDaemonDown fires. The rules are
the shipped ones with their `for:` durations cut to seconds (the
expressions as shipped). Each engine is skipped with the Debian package to
install when it is missing (make deps installs them all)."""

import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from conftest import NETDIAGD, REPO, closed_port

RULES_DIR = os.path.join(REPO, "conf", "prometheus")
RULES = os.path.join(RULES_DIR, "netdiag.rules.yml")
RULES_TEST = os.path.join(RULES_DIR, "netdiag.rules.test.yml")
PROMTOOL = shutil.which("promtool")
PROMETHEUS = shutil.which("prometheus")
VICTORIA = shutil.which("victoria-metrics")
VMALERT = shutil.which("vmalert")
FOR_S = 3  # what every `for:` of the shipped rules is cut to


def need(path, what, package):
    if path is None:
        pytest.skip("%s is not installed (Debian package %s; make deps installs it)"
                    % (what, package))


def test_promtool_check_rules():
    need(PROMTOOL, "promtool", "prometheus")
    r = subprocess.run([PROMTOOL, "check", "rules", RULES], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS: 10 rules found" in r.stdout, r.stdout


def test_promtool_test_rules():
    need(PROMTOOL, "promtool", "prometheus")
    r = subprocess.run([PROMTOOL, "test", "rules", RULES_TEST], capture_output=True,
                       text=True, timeout=120, cwd=RULES_DIR)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout, r.stdout


def short_rules(tmp_path):
    """The shipped rules with every `for:` cut to FOR_S seconds."""
    with open(RULES) as f:
        text = f.read()
    short, n = re.subn(r"(?m)^(\s+for:) \d+[smh]$", r"\1 %ds" % FOR_S, text)
    assert n >= 5
    path = tmp_path / "netdiag.rules.yml"
    path.write_text(short)
    return path


class Proc:
    """A program in the background, its output in a file."""

    def __init__(self, name, argv, tmp_path):
        self.name = name
        self.logpath = tmp_path / ("%s.log" % name)
        self.logf = open(self.logpath, "w")
        self.proc = subprocess.Popen(argv, stdout=self.logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)

    def log(self):
        with open(self.logpath, errors="replace") as f:
            return f.read()

    def alive(self):
        return self.proc.poll() is None

    def stop(self, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()
        return self.proc.returncode


@pytest.fixture
def procs():
    made = []

    def start(name, argv, tmp_path):
        p = Proc(name, argv, tmp_path)
        made.append(p)
        return p

    yield start
    for p in reversed(made):
        p.stop()


def get_json(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read().decode())


def poll(cond, what, procs_alive, timeout=90.0, step=0.5):
    """Call cond() until it returns something true; that, or fail naming
    what did not happen. procs_alive: the Procs that must stay up."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        for p in procs_alive:
            assert p.alive(), "%s exited:\n%s" % (p.name, p.log()[-3000:])
        try:
            last = cond()
        except (urllib.error.URLError, ConnectionError, OSError, ValueError) as e:
            last = e
        else:
            if last:
                return last
        time.sleep(step)
    raise AssertionError("%s: not within %.0f s (last: %r)\n%s" % (
        what, timeout, last, "\n".join("--- %s\n%s" % (p.name, p.log()[-2000:])
                                       for p in procs_alive)))


class Service:
    """The service a person watches: a TCP listener on 127.0.0.1 that can
    go away and come back on the same port."""

    def __init__(self):
        self.port = None
        self.sock = None
        self.up()

    def up(self):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port or 0))
        s.listen(4096)
        self.port = s.getsockname()[1]
        self.sock = s

    def down(self):
        self.sock.close()
        self.sock = None

    def close(self):
        if self.sock is not None:
            self.down()


@pytest.fixture
def service():
    s = Service()
    yield s
    s.close()


def start_netdiagd(tmp_path, procs, svc_port):
    mport = closed_port()
    cfg = tmp_path / "netdiag.ini"
    cfg.write_text("\n".join([
        "[daemon]", "database = %s" % (tmp_path / "db.sqlite"),
        "metrics_listen = 127.0.0.1:%d" % mport, "",
        "[defaults]", "interval = 200ms", "timeout = 100ms", "",
        "[target svc]", "kind = connect", "host = 127.0.0.1", "port = %d" % svc_port, ""]))
    d = procs("netdiagd", [NETDIAGD, "-c", str(cfg)], tmp_path)
    poll(lambda: urllib.request.urlopen("http://127.0.0.1:%d/metrics" % mport, timeout=5).status
         == 200, "netdiagd serving /metrics", [d], timeout=30)
    return d, mport


def scrape_config(mport, evaluate=True):
    """Scrape netdiagd every second as job netdiag (and evaluate rules
    every second: Prometheus only; VictoriaMetrics refuses the key)."""
    return ("global:\n  scrape_interval: 1s\n%s"
            "scrape_configs:\n  - job_name: netdiag\n    static_configs:\n"
            "      - targets: ['127.0.0.1:%d']\n"
            % ("  evaluation_interval: 1s\n" if evaluate else "", mport))


def firing(alerts, name, **labels):
    """The alerts named `name` in state firing whose labels include labels."""
    return [a for a in alerts if a["labels"].get("alertname") == name
            and a.get("state") == "firing"
            and all(a["labels"].get(k) == v for k, v in labels.items())]


def test_prometheus_fires_target_down(tmp_path, procs, service):
    need(PROMETHEUS, "prometheus", "prometheus")
    d, mport = start_netdiagd(tmp_path, procs, service.port)
    pport = closed_port()
    (tmp_path / "prometheus.yml").write_text(
        scrape_config(mport) + "rule_files:\n  - %s\n" % short_rules(tmp_path))
    prom = procs("prometheus", [
        PROMETHEUS, "--config.file=%s" % (tmp_path / "prometheus.yml"),
        "--storage.tsdb.path=%s" % (tmp_path / "tsdb"),
        "--web.listen-address=127.0.0.1:%d" % pport], tmp_path)
    base = "http://127.0.0.1:%d/api/v1/" % pport
    instance = "127.0.0.1:%d" % mport

    def query(q):
        return get_json(base + "query?" + urllib.parse.urlencode({"query": q}))["data"]["result"]

    def alerts():
        return get_json(base + "alerts")["data"]["alerts"]

    up = 'netdiag_target_up{target="svc"}'
    poll(lambda: [r for r in query(up) if r["value"][1] == "1"], "Prometheus sees svc up",
         [d, prom])
    assert not firing(alerts(), "NetdiagTargetDown")

    service.down()
    gone = time.monotonic()
    a = poll(lambda: firing(alerts(), "NetdiagTargetDown", target="svc", instance=instance,
                            job="netdiag", kind="connect", severity="warning"),
             "NetdiagTargetDown firing without the listener", [d, prom])
    fired_s = time.monotonic() - gone
    assert a[0]["annotations"]["summary"] == "svc unreachable from %s" % instance
    assert [r["value"][1] for r in query(up)] == ["0"]

    service.up()
    poll(lambda: not [x for x in alerts() if x["labels"].get("alertname") == "NetdiagTargetDown"],
         "NetdiagTargetDown resolved with the listener back", [d, prom])
    assert [r["value"][1] for r in query(up)] == ["1"]

    # the daemon itself stops: its host is no longer watched
    assert d.stop() == 0
    poll(lambda: firing(alerts(), "NetdiagDaemonDown", instance=instance, severity="critical"),
         "NetdiagDaemonDown firing with netdiagd stopped", [prom])
    print("PROMETHEUS target down fired %.1f s after the listener went away "
          "(scrape and evaluation every 1 s, for: %d s)" % (fired_s, FOR_S))


class Receiver(http.server.ThreadingHTTPServer):
    """An Alertmanager stand-in on 127.0.0.1: keeps what vmalert POSTs to
    /api/v2/alerts."""

    def __init__(self):
        self.posts = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(min(n, 1 << 20))
                with receiver.lock:
                    receiver.posts.append((self.path, body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def alerts(self):
        with self.lock:
            posts = list(self.posts)
        out = []
        for path, body in posts:
            if path.endswith("/api/v2/alerts"):
                out += json.loads(body)
        return out

    def close(self):
        self.shutdown()
        self.server_close()


def test_vmalert_fires_target_down(tmp_path, procs, service):
    need(VICTORIA, "victoria-metrics", "victoria-metrics")
    need(VMALERT, "vmalert", "victoria-metrics")
    d, mport = start_netdiagd(tmp_path, procs, service.port)
    vport, aport = closed_port(), closed_port()
    (tmp_path / "scrape.yml").write_text(scrape_config(mport, evaluate=False))
    vm = procs("victoria-metrics", [
        VICTORIA, "-storageDataPath=%s" % (tmp_path / "vm"),
        "-httpListenAddr=127.0.0.1:%d" % vport,
        "-promscrape.config=%s" % (tmp_path / "scrape.yml"),
        "-search.latencyOffset=1s", "-search.disableCache"], tmp_path)
    recv = Receiver()
    try:
        vmurl = "http://127.0.0.1:%d" % vport
        va = procs("vmalert", [
            VMALERT, "-rule=%s" % short_rules(tmp_path), "-datasource.url=" + vmurl,
            "-remoteWrite.url=" + vmurl, "-evaluationInterval=1s",
            "-notifier.url=http://127.0.0.1:%d" % recv.server_address[1],
            "-httpListenAddr=127.0.0.1:%d" % aport], tmp_path)
        instance = "127.0.0.1:%d" % mport

        def query(q):
            return get_json(vmurl + "/api/v1/query?" + urllib.parse.urlencode({"query": q}))[
                "data"]["result"]

        def alerts():
            return get_json("http://127.0.0.1:%d/api/v1/alerts" % aport)["data"]["alerts"] or []

        up = 'netdiag_target_up{target="svc"}'
        poll(lambda: [r for r in query(up) if r["value"][1] == "1"],
             "VictoriaMetrics sees svc up", [d, vm, va])
        assert not firing(alerts(), "NetdiagTargetDown")

        service.down()
        gone = time.monotonic()
        poll(lambda: firing(alerts(), "NetdiagTargetDown", target="svc", instance=instance,
                            job="netdiag", severity="warning"),
             "vmalert: NetdiagTargetDown firing without the listener", [d, vm, va])
        fired_s = time.monotonic() - gone
        sent = poll(lambda: [x for x in recv.alerts()
                             if x["labels"].get("alertname") == "NetdiagTargetDown"
                             and x["labels"].get("target") == "svc"],
                    "vmalert: the alert posted to the notifier", [d, vm, va])
        assert sent[0]["annotations"]["summary"] == "svc unreachable from %s" % instance

        service.up()
        poll(lambda: not [x for x in alerts()
                          if x["labels"].get("alertname") == "NetdiagTargetDown"],
             "vmalert: NetdiagTargetDown resolved with the listener back", [d, vm, va])
        # the recording rules went back into VictoriaMetrics by remote write
        rec = poll(lambda: query('netdiag_target:attempts:increase5m{target="svc"}'),
                   "a recorded netdiag_target:* series", [d, vm, va])
        assert float(rec[0]["value"][1]) > 0
        print("VMALERT target down fired %.1f s after the listener went away "
              "(scrape and evaluation every 1 s, for: %d s)" % (fired_s, FOR_S))
    finally:
        recv.close()
