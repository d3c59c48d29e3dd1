# SPDX-License-Identifier: ISC
"""An Alertmanager HA pair as Prometheus talks to it: two real
prometheus-alertmanager processes on loopback (clustering off, each its
own storage), both listed in alertmanager_url. A refused spike shows up
in both through their API v2 with the configured labels ([daemon] and
per target, the target's winning), the severity and the generatorURL;
one Alertmanager killed with -9 mid-way and started again gets, on
retry, the alert that fired while it was down, while the other got it at
once; the resolve reaches both; a reload that changes the labels posts
the firing alert again with them."""

import json
import signal
import socket
import ssl
import subprocess
import time
import urllib.request

import pytest

from conftest import closed_port
from test_alert import ALERTMANAGER, Daemon, Listener, connect_target, write_config

pytestmark = pytest.mark.skipif(
    ALERTMANAGER is None, reason="prometheus-alertmanager is not installed "
                                 "(Debian: apt-get install prometheus-alertmanager)")


class Alertmanager:
    """prometheus-alertmanager on 127.0.0.1:port, clustering off, its
    storage in tmp_path/name; start() again after kill() restarts it on
    the same port and storage."""

    def __init__(self, tmp_path, name, tls=None):
        """tls: (cert, key, ca) files: it serves HTTPS (for localhost)."""
        self.port = closed_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.dir = tmp_path / name
        self.dir.mkdir()
        (self.dir / "am.yml").write_text(
            'route:\n  receiver: "null"\nreceivers:\n  - name: "null"\n')
        self.args, self.ctx = [], None
        if tls is not None:
            (self.dir / "web.yml").write_text(
                "tls_server_config:\n  cert_file: %s\n  key_file: %s\n" % (tls[0], tls[1]))
            self.args = ["--web.config.file=%s" % (self.dir / "web.yml")]
            self.url = "https://localhost:%d" % self.port
            self.ctx = ssl.create_default_context(cafile=tls[2])
        self.proc = None
        self.start()

    def start(self):
        self.logf = open(self.dir / "am.log", "a")
        self.proc = subprocess.Popen(
            [ALERTMANAGER, "--config.file=%s" % (self.dir / "am.yml"),
             "--storage.path=%s" % (self.dir / "data"),
             "--web.listen-address=127.0.0.1:%d" % self.port,
             "--cluster.listen-address=", "--log.level=warn"] + self.args,
            stdout=self.logf, stderr=self.logf)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url + "/-/ready", timeout=1, context=self.ctx).read()
                return
            except OSError:
                assert self.proc.poll() is None, "alertmanager exited: " + (
                    self.dir / "am.log").read_text()
                time.sleep(0.1)
        raise AssertionError("alertmanager did not become ready")

    def active(self):
        """Active alerts of netdiagd's (alertname Netdiag*), by target."""
        with urllib.request.urlopen(self.url + "/api/v2/alerts", timeout=2, context=self.ctx) as r:
            return {a["labels"].get("target"): a for a in json.load(r)
                    if a["labels"].get("alertname", "").startswith("Netdiag")}

    def raw(self):
        with urllib.request.urlopen(self.url + "/api/v2/alerts", timeout=2, context=self.ctx) as r:
            return json.load(r)

    def kill(self):
        self.proc.kill()
        self.proc.wait()
        self.logf.close()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self.logf.closed:
            self.logf.close()


def wait_for(pred, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    return pred()


@pytest.fixture
def pair(tmp_path):
    made = []
    try:
        made.append(Alertmanager(tmp_path, "am-a"))
        made.append(Alertmanager(tmp_path, "am-b"))
        yield made
    finally:
        for am in made:
            am.stop()


def fleet_config(tmp_path, pair, db, extra_targets=()):
    targets = [("db", dict(connect_target(db.port), labels="team=db, env=staging",
                           severity="page"))]
    targets += list(extra_targets)
    return write_config(
        tmp_path, targets,
        "alertmanager_url = %s, %s\nhost_min_targets = 0\n"
        "severity = warning, refused=critical" % (pair[0].url, pair[1].url)
        + "\n[daemon]\nlabels = env=prod, site=fra1\nweb_url = http://netdiag.test:8080/")


def test_pair_sees_labels_retries_a_restarted_one_and_resolves(tmp_path, pair):
    a, b = pair
    db = Listener(backlog=128)
    db.close()  # refused from the start: a spike at once
    later_port = closed_port()
    cfg = fleet_config(tmp_path, pair, db)
    d = Daemon(cfg)
    try:
        assert d.wait_log(r"alert: db WSAECONNREFUSED \(10061\) firing", timeout=20), d.log()
        for am in pair:
            got = wait_for(lambda: am.active().get("db"), 20)
            assert got, (am.url, d.log())
            assert got["labels"] == {
                "alertname": "NetdiagFailureSpike", "instance": socket.gethostname(),
                "scope": "target", "target": "db", "wsa_code": "10061",
                "wsa_name": "WSAECONNREFUSED",
                # the target's severity list says page for any of its alerts
                "severity": "page",
                # [daemon] labels, the target's env winning over the daemon's
                "env": "staging", "site": "fra1", "team": "db"}, got["labels"]
            assert got["annotations"]["meaning"] == "Connection refused."
            assert int(got["annotations"]["count"]) >= 5
            assert got["generatorURL"] == "http://netdiag.test:8080/target/db", got
        # b dies without a word; a later spike fires while it is down
        b.kill()
        fleet_config(tmp_path, pair, db, [("later", connect_target(later_port))])
        d.signal(signal.SIGHUP)
        assert d.wait_log(r"alert: later WSAECONNREFUSED \(10061\) firing", timeout=20), d.log()
        got = wait_for(lambda: a.active().get("later"), 15)
        assert got and got["labels"]["severity"] == "critical", (got, d.log())
        assert got["labels"]["env"] == "prod" and "team" not in got["labels"], got
        assert d.wait_log(r"alertmanager %s: post failed" % b.url.replace(".", r"\."),
                          timeout=20), d.log()
        t_down = time.monotonic()
        b.start()
        # on retry (backoff doubling from 1 s), both alerts reach it
        got = wait_for(lambda: {"db", "later"} <= set(b.active()), 90)
        assert got, (b.active(), d.log())
        print("\nam-pair: b caught up %.1f s after its restart" % (time.monotonic() - t_down))
        assert d.wait_log(r"alertmanager %s: reachable again" % b.url.replace(".", r"\."),
                          timeout=10), d.log()
        # the resolve reaches both, well before endsAt would expire it
        ends = {am.url: am.active()["db"]["endsAt"] for am in pair}
        db.open()
        assert d.wait_log(r"alert: db WSAECONNREFUSED \(10061\) resolved", timeout=20), d.log()
        for am in pair:
            assert wait_for(lambda: "db" not in am.active(), 20), (am.url, am.active(), ends)
            assert "later" in am.active()
        # a reload that changes the labels: the firing alert is posted again
        # with them, to both
        cfg_text = open(cfg).read().replace("labels = env=prod, site=fra1",
                                            "labels = env=dr, site=fra1")
        open(cfg, "w").write(cfg_text)
        d.signal(signal.SIGHUP)
        for am in pair:
            assert wait_for(lambda: any(
                x["labels"]["target"] == "later" and x["labels"]["env"] == "dr"
                for x in am.raw()), 20), (am.url, am.raw(), d.log())
        assert d.stop() == 0
    finally:
        d.stop()
        db.close()
