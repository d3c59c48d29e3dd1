# SPDX-License-Identifier: ISC
"""A real clickhouse-server (Debian's 18.16 or later) for the export tests:
its own data directory under the test's tmp_path, listening on 127.0.0.1
only, on ports picked free; stopped and started again by the test (same
data), its start bounded in time. `available()` says whether it can run
here, with the reason when not."""

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

SERVER = shutil.which("clickhouse-server") or "/usr/bin/clickhouse-server"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TABLES = os.path.join(REPO, "sql", "clickhouse", "tables.sql")
START_S = 60.0


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def available():
    if not os.access(SERVER, os.X_OK):
        return False, ("clickhouse-server is not installed (Debian: apt-get install "
                       "clickhouse-server; `make deps` does)")
    return True, ""


def statements(path=TABLES):
    """The statements of a .sql file, comments dropped first."""
    lines = [ln.split("--", 1)[0] for ln in open(path, encoding="utf-8").read().splitlines()]
    text = "\n".join(ln for ln in lines if ln.strip())
    return [st.strip() for st in text.split(";") if st.strip()]


class ClickHouse:
    def __init__(self, tmp_path):
        self.dir = tmp_path / "clickhouse"
        self.dir.mkdir()
        self.http_port = free_port()
        self.tcp_port = free_port()
        self.proc = None
        self.log = self.dir / "server.log"
        (self.dir / "users.xml").write_text(
            "<yandex><profiles><default><max_memory_usage>2000000000</max_memory_usage>"
            "</default></profiles><users><default><password></password><networks>"
            "<ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota>"
            "</default></users><quotas><default></default></quotas></yandex>\n")
        (self.dir / "config.xml").write_text(
            "<yandex><logger><level>warning</level><console>1</console></logger>"
            "<http_port>%d</http_port><tcp_port>%d</tcp_port>"
            "<listen_host>127.0.0.1</listen_host><path>%s/data/</path>"
            "<tmp_path>%s/tmp/</tmp_path><format_schema_path>%s/fs/</format_schema_path>"
            "<users_config>%s/users.xml</users_config><default_profile>default"
            "</default_profile><default_database>default</default_database>"
            "<mark_cache_size>67108864</mark_cache_size>"
            "<uncompressed_cache_size>67108864</uncompressed_cache_size></yandex>\n"
            % (self.http_port, self.tcp_port, self.dir, self.dir, self.dir, self.dir))

    @property
    def url(self):
        return "http://127.0.0.1:%d/" % self.http_port

    def start(self):
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen([SERVER, "--config-file=%s" % (self.dir / "config.xml")],
                                     stdout=logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=str(self.dir))
        logf.close()
        deadline = time.monotonic() + START_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("clickhouse-server exited (%s): %s"
                                     % (self.proc.returncode, self.log.read_text()[-2000:]))
            try:
                if self.query("SELECT 1").strip() == "1":
                    return
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.2)
        self.stop()
        raise AssertionError("clickhouse-server did not answer within %.0f s" % START_S)

    def stop(self, sig=signal.SIGTERM):
        if self.proc is None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)
        self.proc = None

    def query(self, sql, timeout=30):
        req = urllib.request.Request(self.url + "?" + urllib.parse.urlencode({"query": sql}),
                                     data=b"", method="POST")
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.read().decode()

    def scalar(self, sql):
        return int(self.query(sql).strip() or 0)

    def create_tables(self):
        for st in statements():
            self.query(st)
