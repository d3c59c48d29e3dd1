# SPDX-License-Identifier: ISC
"""The Alertmanager client over HTTPS and with credentials from a file.
The test makes its own CAs and certificates (openssl CLI): a good peer
(certificate for localhost and 127.0.0.1 from the CA netdiagd is given),
one whose certificate comes from another CA, one whose certificate names
another host. netdiagd posts to all three: the good one gets every alert
with the bearer token; the two others are refused at the handshake with
a log line that says why, and get nothing. Basic auth from a file reaches
a plain HTTP peer; a secret file that others can read is refused at -t
with file:line. Hostile TLS peers (no handshake, an endless body, an
endless header, an answer trickled) do not stall probing: stored rate
and false failures are measured while each one is tried. And a real
prometheus-alertmanager serving TLS gets the alert."""

import base64
import os
import re
import signal
import socket
import ssl
import subprocess
import threading
import time

import pytest

from conftest import NETDIAGD, closed_port
from test_alert import Daemon, Listener, connect_target, write_config
from test_alert import ALERTMANAGER
from test_alert_am import TRICKLE_S, Peer, rows_between, status, wait_for
from test_alert_am_pair import Alertmanager

OPENSSL = "/usr/bin/openssl"
pytestmark = pytest.mark.skipif(not os.path.exists(OPENSSL),
                                reason="the openssl command is not installed")


def openssl(*args):
    subprocess.run([OPENSSL] + list(args), check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


def make_ca(d, name):
    key, crt = d / (name + ".key"), d / (name + ".crt")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", str(key), "-out", str(crt), "-days", "2", "-subj",
            "/CN=netdiag test %s" % name, "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign")
    return key, crt


def make_cert(d, name, ca, san):
    key, csr, crt = d / (name + ".key"), d / (name + ".csr"), d / (name + ".crt")
    ext = d / (name + ".ext")
    ext.write_text("subjectAltName=%s\nextendedKeyUsage=serverAuth\n" % san)
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", str(key), "-out", str(csr), "-subj", "/CN=%s" % name)
    openssl("x509", "-req", "-in", str(csr), "-CA", str(ca[1]), "-CAkey", str(ca[0]),
            "-CAcreateserial", "-out", str(crt), "-days", "2", "-extfile", str(ext))
    return key, crt


@pytest.fixture
def pki(tmp_path):
    d = tmp_path / "pki"
    d.mkdir()
    ca, other = make_ca(d, "ca"), make_ca(d, "other-ca")
    return {
        "ca": str(ca[1]),
        "good": make_cert(d, "good", ca, "DNS:localhost,IP:127.0.0.1"),
        "wrong_ca": make_cert(d, "wrongca", other, "DNS:localhost,IP:127.0.0.1"),
        "wrong_name": make_cert(d, "wrongname", ca, "DNS:wrong.example"),
    }


class TLSPeer(Peer):
    """Peer behind TLS with the given certificate; mode "handshake"
    accepts and never says a word (no ServerHello). Handshakes that fail
    are counted."""

    def __init__(self, mode, cert):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(str(cert[1]), str(cert[0]))
        self.handshake_failures = 0
        super().__init__(mode)
        self.url = "https://127.0.0.1:%d" % self.port

    def _serve(self, c):
        if self.mode == "handshake":
            self.stopping.wait(60)
            c.close()
            return
        c.settimeout(5)
        try:
            t = self.ctx.wrap_socket(c, server_side=True)
        except (OSError, ssl.SSLError):
            with self.lock:
                self.handshake_failures += 1
            c.close()
            return
        super()._serve(t)


@pytest.fixture
def peers():
    made = []

    def make(mode, cert=None):
        p = TLSPeer(mode, cert) if cert is not None else Peer(mode)
        made.append(p)
        return p

    yield make
    for p in made:
        p.stop()


def secret_file(tmp_path, name, text, mode=0o600):
    p = tmp_path / name
    p.write_text(text)
    os.chmod(p, mode)
    return str(p)


def test_https_verifies_the_peer_and_sends_the_token(tmp_path, pki, peers):
    good = peers("good", pki["good"])
    wrong_ca = peers("good", pki["wrong_ca"])
    wrong_name = peers("good", pki["wrong_name"])
    good_url = "https://localhost:%d" % good.port  # a name: SNI and the name check
    wrong_name_url = "https://localhost:%d" % wrong_name.port
    token = secret_file(tmp_path, "token", "s3cret-t0ken\n", 0o640)
    refused, later = closed_port(), closed_port()
    extra = ("alertmanager_url = %s %s %s\nalertmanager_ca_file = %s\n"
             "alertmanager_bearer_token_file = %s\nhost_min_targets = 0"
             % (wrong_ca.url, good_url, wrong_name_url, pki["ca"], token))
    cfg = write_config(tmp_path, [("refused", connect_target(refused))], extra)
    d = Daemon(cfg)
    try:
        assert d.wait_log(r"alert: refused WSAECONNREFUSED \(10061\) firing", timeout=20), d.log()
        assert wait_for(lambda: any(l["target"] == "refused" for l in good.ours()), 15), d.log()
        assert d.wait_log(r"alertmanager https://127\.0\.0\.1:%d: post failed \(TLS: the "
                          r"server's certificate is refused: unable to get local issuer "
                          r"certificate\)" % wrong_ca.port, timeout=15), d.log()
        assert d.wait_log(r"alertmanager https://localhost:%d: post failed \(TLS: the server's "
                          r"certificate is refused: [Hh]ostname mismatch \(it does not name the "
                          r"URL's host\)\)" % wrong_name.port, timeout=15), d.log()
        # a later alert reaches the good peer too, while the others keep failing
        write_config(tmp_path, [("refused", connect_target(refused)),
                                ("later", connect_target(later))], extra)
        d.signal(signal.SIGHUP)
        assert wait_for(lambda: any(l["target"] == "later" for l in good.ours()), 20), d.log()
        assert wrong_ca.posts == [] and wrong_name.posts == []
        assert wrong_ca.handshake_failures > 0 and wrong_name.handshake_failures > 0
        assert good.auth and set(good.auth) == {"Bearer s3cret-t0ken"}, good.auth
        assert d.stop() == 0
    finally:
        d.stop()
    assert "s3cret" not in d.log(), d.log()


def test_https_without_a_ca_file_uses_the_system_store(tmp_path, pki, peers):
    """The test's CA is in no system store: refused, and said so."""
    p = peers("good", pki["good"])
    cfg = write_config(tmp_path, [("refused", connect_target(closed_port()))],
                       "alertmanager_url = %s\nhost_min_targets = 0" % p.url)
    d = Daemon(cfg)
    try:
        assert d.wait_log(r"alertmanager https://127\.0\.0\.1:%d: post failed \(TLS: the server's "
                          r"certificate is refused: unable to get local issuer certificate\)"
                          % p.port, timeout=20), d.log()
        assert p.posts == []
    finally:
        d.stop()


def test_basic_auth_from_a_file(tmp_path, peers):
    p = peers("good")
    cred = secret_file(tmp_path, "am.cred", "netdiag:pa:ss w0rd\n")
    cfg = write_config(tmp_path, [("refused", connect_target(closed_port()))],
                       "alertmanager_url = %s\nalertmanager_basic_auth_file = %s\n"
                       "host_min_targets = 0" % (p.url, cred))
    d = Daemon(cfg)
    try:
        assert wait_for(lambda: p.ours(), 20), d.log()
        want = "Basic " + base64.b64encode(b"netdiag:pa:ss w0rd").decode()
        assert p.auth and set(p.auth) == {want}, p.auth
        assert d.stop() == 0
    finally:
        d.stop()
    assert "w0rd" not in d.log()


def check(cfg):
    r = subprocess.run([NETDIAGD, "-t", "-c", cfg], capture_output=True, text=True, timeout=20)
    return r.returncode, r.stdout + r.stderr


def test_secret_files_are_checked_at_t(tmp_path):
    """file:line errors, and the secret never in them."""
    tok = secret_file(tmp_path, "token", "t0psecret\n", 0o644)
    cfg = write_config(tmp_path, [("x", connect_target(closed_port()))],
                       "alertmanager_url = https://127.0.0.1:9\n"
                       "alertmanager_bearer_token_file = %s" % tok)
    rc, out = check(cfg)
    assert rc == 2, out
    assert re.search(r"netdiag\.ini:\d+: \[alert\] alertmanager_bearer_token_file: %s: readable "
                     r"or writable by others \(mode 0644\)" % re.escape(tok), out), out
    os.chmod(tok, 0o600)
    assert check(cfg)[0] == 0
    # credentials inline are refused, and not shown
    cfg = write_config(tmp_path, [("x", connect_target(closed_port()))],
                       "alertmanager_url = https://u:t0psecret@127.0.0.1:9")
    rc, out2 = check(cfg)
    assert rc == 2 and "credentials do not go in the URL" in out2, out2
    for o in (out, out2):
        assert "t0psecret" not in o


def test_hostile_tls_peers_do_not_stall_probing(tmp_path, pki, peers):
    """Each hostile TLS peer in turn (a reload points the daemon at it),
    then the good one again: stored rate of a refused target, false
    failures of a healthy one, RSS and descriptors while it lasts."""
    healthy = Listener(backlog=128)
    refused = closed_port()
    good = peers("good", pki["good"])
    phases = [("baseline", good)] + [(m, peers(m, pki["good"])) for m in
                                     ("handshake", "body", "header", "trickle")]
    phases.append(("after", good))

    def cfg_for(url):
        return write_config(tmp_path, [
            ("healthy", dict(connect_target(healthy.port), timeout="90ms")),
            ("refused", connect_target(refused))],
            "alertmanager_url = %s\nalertmanager_ca_file = %s\nhost_min_targets = 0"
            % (url, pki["ca"]))

    cfg = cfg_for(good.url)
    d = Daemon(cfg)
    figures = []
    try:
        assert d.wait_log(r"alert: refused WSAECONNREFUSED \(10061\) firing", timeout=20), d.log()
        assert wait_for(lambda: good.ours(), 20), d.log()
        rss0, _ = status(d.proc.pid)
        n0 = 0
        for name, peer in phases:
            if name != "baseline":
                cfg_for(peer.url)
                d.signal(signal.SIGHUP)
            if name == "after":
                n0 = len(good.ours())
            t0 = int(time.time() * 1000)
            end = time.monotonic() + (4 if name in ("baseline", "after") else 2.5 * TRICKLE_S)
            peak_rss, peak_fds = 0, 0
            while time.monotonic() < end:
                rss, fds = status(d.proc.pid)
                peak_rss, peak_fds = max(peak_rss, rss), max(peak_fds, fds)
                assert rss - rss0 < 64 * 1024, "%s: RSS %d kB (from %d kB)" % (name, rss, rss0)
                assert d.proc.poll() is None, d.log()
                time.sleep(0.2)
            figures.append((name, t0, int(time.time() * 1000), peak_rss, peak_fds, peer.conns))
        assert wait_for(lambda: len(good.ours()) > n0, 20), d.log()
        assert d.stop() == 0
    finally:
        d.stop()
        healthy.close()
    log = d.log()
    print()
    for name, t0, t1, rss, fds, conns in figures:
        secs = (t1 - t0) / 1000.0
        rate = rows_between(tmp_path / "db.sqlite", "refused", t0, t1) / secs
        false = rows_between(tmp_path / "db.sqlite", "healthy", t0, t1)
        print("am-tls-abuse %-9s %5.1f s: stored %.1f probes/s (10/s configured), %d false "
              "failures, peak RSS %d kB (start %d kB), peak fds %d, peer connections %d"
              % (name, secs, rate, false, rss, rss0, fds, conns))
        assert false == 0, (name, log)
        assert rate >= 5, (name, rate)
        assert fds < 40, (name, fds)
    for name, why in (("handshake", r"no complete answer within 10000 ms"),
                      ("body", r"response too long"), ("header", r"invalid response"),
                      ("trickle", r"no complete answer within 10000 ms")):
        port = dict(phases)[name].port
        assert re.search(r"alertmanager https://127\.0\.0\.1:%d: post failed \((%s)" % (port, why),
                         log), (name, log)


def test_a_ca_file_that_is_no_file_is_refused(tmp_path):
    """A FIFO (or a device) named as the CA file: an error at once, not a
    load that waits for a writer for ever."""
    fifo = tmp_path / "ca.fifo"
    os.mkfifo(fifo)
    for path in (str(fifo), "/dev/zero"):
        cfg = write_config(tmp_path, [("x", connect_target(closed_port()))],
                           "alertmanager_url = https://127.0.0.1:9\n"
                           "alertmanager_ca_file = %s" % path)
        rc, out = check(cfg)
        assert rc == 2, out
        assert re.search(r"netdiag\.ini:\d+: \[alert\] alertmanager_ca_file: %s: not a regular "
                         r"file of at most 16 MiB" % re.escape(path), out), out


@pytest.mark.skipif(ALERTMANAGER is None, reason="prometheus-alertmanager is not installed "
                                                 "(Debian: apt-get install prometheus-alertmanager)")
def test_a_real_alertmanager_over_https(tmp_path, pki):
    """prometheus-alertmanager serving TLS (--web.config.file) with the
    test CA's certificate for localhost: the alert shows up there."""
    am = Alertmanager(tmp_path, "am-tls", tls=(pki["good"][1], pki["good"][0], pki["ca"]))
    try:
        cfg = write_config(tmp_path, [("refused", connect_target(closed_port()))],
                           "alertmanager_url = %s\nalertmanager_ca_file = %s\n"
                           "host_min_targets = 0" % (am.url, pki["ca"]))
        d = Daemon(cfg)
        try:
            assert wait_for(lambda: "refused" in am.active(), 20), d.log()
            got = am.active()["refused"]
            assert got["labels"]["wsa_name"] == "WSAECONNREFUSED", (got, d.log())
            assert "post failed" not in d.log(), d.log()
            assert d.stop() == 0
        finally:
            d.stop()
    finally:
        am.stop()
