# SPDX-License-Identifier: ISC
"""Latency and loss alerts end to end, through the real netdiagd.

Delay: a send target (UDP, with `expect`) whose loopback responder, run by
the test, starts answering every datagram 50 ms late in mid-run. The
latency alert fires within two windows of the delay showing, and is
written to the alerts table, the exec hook and a fake Alertmanager; it
resolves after the delay is taken away. Windows are 1 s and probes every
100 ms, so a window holds 10 samples.

Loss: ping targets inside a network namespace the test makes, with an
nftables rule that drops exactly every 4th echo request while it is in
place. It needs the ping kind: the test skips, saying so, while
`kind = ping` is not accepted by the configuration.

No test times the daemon: which window did what is read from the
detector's own debug line per window ("alert: web latency window: median
51234 us of 10 samples, max 52001 us, fire (...): fired")."""

import heapq
import json
import os
import re
import select
import shutil
import socket
import subprocess
import threading
import time

import pytest

from conftest import NETDIAGD, DelayedEcho, can_unshare
from test_alert import alerts, daemons, wait_rows, write_config  # noqa: F401 (a fixture)
from test_alert_am import Peer

LAT_WINDOW = (r"alert: %s latency window: (\w+) (\d+) us of (\d+) samples, max (\d+) us, (\w+) "
              r"\(threshold (\d+) us, baseline (\d+) us\): (\w+)(?:, clear (\d+) of \d+)?")
LAT_HALF = (r"alert: %s latency half window: (\w+) (\d+) us of (\d+) samples \(threshold (\d+) us, "
            r"baseline (\d+) us\): (\w+)")
LOSS_WINDOW = (r"alert: %s loss window: (\d+) of (\d+) echoes lost, (\w+) \(threshold ([\d.]+), "
               r"baseline ([\d.]+)\): (\w+)")


def lat_windows(log, target):
    return [{"figure": m.group(1), "value": int(m.group(2)), "samples": int(m.group(3)),
             "max": int(m.group(4)), "level": m.group(5), "threshold": int(m.group(6)),
             "baseline": int(m.group(7)), "step": m.group(8)}
            for m in re.finditer(LAT_WINDOW % re.escape(target), log)]


def lat_ticks(log, target):
    """Every judgement of the target's latency in log order, as (time, step):
    a whole window i ends at i + 1 (its number counting whole windows from
    0), the half-way tick after it at i + 1.5."""
    ticks = []
    whole = -1
    pat = "(?:%s)|(?:%s)" % (LAT_WINDOW % re.escape(target), LAT_HALF % re.escape(target))
    for m in re.finditer(pat, log):
        if m.group(0).startswith("alert: %s latency window" % target):
            whole += 1
            ticks.append((whole + 1.0, m.group(8)))
        else:
            ticks.append((whole + 1.5, m.group(15)))
    return ticks


def hook_script(tmp_path):
    """An exec hook writing its NETDIAG_* environment to OUT/EVENT.N."""
    out = tmp_path / "hook"
    out.mkdir()
    hook = tmp_path / "hook.py"
    hook.write_text("#!/usr/bin/python3\nimport json, os, sys\n"
                    "env = {k: v for k, v in os.environ.items() if k.startswith('NETDIAG_')}\n"
                    "path = os.path.join(sys.argv[1], '%s.%d' % (env['NETDIAG_EVENT'], "
                    "os.getpid()))\n"
                    "open(path + '.tmp', 'w').write(json.dumps(env))\n"
                    "os.rename(path + '.tmp', path)\n")
    hook.chmod(0o755)
    return hook, out


def hook_runs(out, event):
    runs = []
    for name in sorted(os.listdir(out)):
        if name.startswith(event + ".") and not name.endswith(".tmp"):
            runs.append(json.loads((out / name).read_text()))
    return runs


def wait_for(pred, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    return pred()


def test_delay_step_fires_within_two_windows_and_resolves(tmp_path, daemons):
    echo = DelayedEcho()
    am = Peer("good")
    hook, out = hook_script(tmp_path)
    try:
        target = {"kind": "send", "protocol": "udp", "host": "127.0.0.1", "port": echo.port,
                  "payload": "ping", "expect": "ping", "timeout": "90ms"}
        # the margin is wider than the default (5ms) so that a loaded test
        # machine's scheduling delays on loopback cannot look like the step
        cfg = write_config(tmp_path, [("web", target)],
                           "latency_margin = 20ms\nexec = %s %s\nalertmanager_url = %s"
                           % (hook, out, am.url), log_level="debug", latency=True)
        d = daemons(cfg)
        assert d.wait_log(r"started: 1 targets", timeout=10), d.log()
        # past the warm-up: two windows judged against a baseline
        assert wait_for(lambda: sum(1 for w in lat_windows(d.log(), "web")
                                    if w["level"] != "learning") >= 2, timeout=30), d.log()
        assert d.count(r"alert: web latency firing") == 0, d.log()

        echo.delay = 0.05
        assert d.wait_log(r"alert: web latency firing: median ", timeout=30), d.log()
        w = lat_windows(d.log(), "web")
        ticks = lat_ticks(d.log(), "web")
        fired = [t for t, step in ticks if step == "fired"]
        assert len(fired) == 1, ticks
        # the first window with a delayed answer, and the first whose
        # median is the delay: fired within two windows of the one, and
        # half a window after the other (the half-way tick confirms the
        # first slow window), or at its next window's end
        first_max = next(i for i, x in enumerate(w) if x["max"] >= 50000)
        first_median = next(i for i, x in enumerate(w) if x["value"] >= 50000)
        assert fired[0] - (first_max + 1) <= 2 and fired[0] - (first_median + 1) <= 1, ticks
        assert all(step == "quiet" for t, step in ticks if t < fired[0]), ticks
        # the window the alert fired in (or just after, at a half-way tick)
        fw = int(fired[0] - 1)
        base = w[fw]["baseline"]
        assert base < 20000, w

        rows = wait_rows(tmp_path, lambda r: len(r) == 1)
        assert len(rows) == 1, rows
        row = rows[0]
        assert (row["target"], row["metric"], row["wsa_code"], row["resolved"]) == \
            ("web", "latency", 0, None), row
        assert row["value"] >= 50000 and row["baseline"] < 20000, row
        halves = [int(m.group(2)) for m in re.finditer(LAT_HALF % "web", d.log())
                  if m.group(6) == "fired"]
        assert row["value"] == max([w[fw]["value"]] + halves if halves else
                                   [w[fw]["value"], w[fw - 1]["value"]]), (row, w, halves)
        assert re.match(r"median [\d.]+ ms, baseline [\d.]+ (ms|µs), [12] windows? \(threshold ",
                        row["detail"]), row
        assert row["count"] >= 5 and row["attempts"] >= row["count"], row

        # the hook: the facts in its environment
        fired_env = wait_for(lambda: hook_runs(out, "firing"))
        assert len(fired_env) == 1, fired_env
        env = fired_env[0]
        assert (env["NETDIAG_METRIC"], env["NETDIAG_TARGET"], env["NETDIAG_WSA_CODE"],
                env["NETDIAG_WSA_NAME"], env["NETDIAG_FIGURE"]) == \
            ("latency", "web", "0", "", "median"), env
        assert int(env["NETDIAG_VALUE"]) == int(row["value"]), (env, row)
        assert int(env["NETDIAG_BASELINE"]) == round(row["baseline"]), (env, row)
        assert int(env["NETDIAG_THRESHOLD"]) >= int(env["NETDIAG_BASELINE"]) + 20000, env
        assert env["NETDIAG_ALERT_ID"] == str(row["id"]) and env["NETDIAG_DETAIL"] == \
            row["detail"], (env, row)

        # Alertmanager: its labels and annotations
        def am_alerts():
            with am.lock:
                return [a for post in am.posts for a in post
                        if a["labels"].get("alertname") == "NetdiagLatency"]
        posted = wait_for(am_alerts)
        assert posted, am.posts
        labels = posted[0]["labels"]
        assert {k: labels[k] for k in ("alertname", "scope", "target", "metric")} == \
            {"alertname": "NetdiagLatency", "scope": "target", "target": "web",
             "metric": "latency"}, labels
        assert "wsa_code" not in labels, labels
        ann = posted[0]["annotations"]
        assert (ann["unit"], ann["figure"], ann["value"]) == \
            ("us", "median", str(int(row["value"]))), ann
        assert ann["summary"].startswith("web: median latency "), ann

        # the delay ends: clear_after (2) clear windows resolve it
        echo.delay = 0.0
        assert d.wait_log(r"alert: web latency resolved after ", timeout=30), d.log()
        rows = wait_rows(tmp_path, lambda r: r and r[0]["resolved"] is not None)
        assert rows[0]["resolved"] is not None and len(rows) == 1, rows
        assert rows[0]["peak"] >= rows[0]["value"], rows
        assert len(wait_for(lambda: hook_runs(out, "resolved"))) == 1
        resolved_posts = wait_for(lambda: [a for a in am_alerts()
                                           if a.get("endsAt", "") and
                                           a["endsAt"] <= time.strftime("%Y-%m-%dT%H:%M:%S",
                                                                        time.gmtime(time.time()
                                                                                    + 1))])
        assert resolved_posts, am.posts
        assert d.count(r"alert: [^\n]* firing: ") == 1, d.log()
        assert d.stop() == 0

        # the client shows it as what it is
        r = subprocess.run([os.path.join(os.path.dirname(NETDIAGD), "netdiag"), "--db",
                            str(tmp_path / "db.sqlite"), "alerts", "--format", "json"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        [a] = json.loads(r.stdout)
        assert (a["metric"], a["wsa_code"], a["wsa_name"], a["state"]) == \
            ("latency", 0, None, "resolved"), a
        assert a["value"] == rows[0]["value"], a
        table = subprocess.run([os.path.join(os.path.dirname(NETDIAGD), "netdiag"), "--db",
                                str(tmp_path / "db.sqlite"), "alerts"], capture_output=True,
                               text=True, timeout=30, env=dict(os.environ, COLUMNS="120"))
        assert re.search(r"resolved +web +latency ", table.stdout), table.stdout
    finally:
        echo.close()
        am.stop()


def ping_accepted(tmp_path):
    cfg = tmp_path / "ping-check.ini"
    cfg.write_text("[daemon]\ndatabase = %s\n\n[target p]\nkind = ping\nhost = 127.0.0.1\n"
                   % (tmp_path / "check.sqlite"))
    r = subprocess.run([NETDIAGD, "-t", "-c", str(cfg)], capture_output=True, text=True,
                       timeout=30)
    return r.returncode == 0, r.stderr.strip()


# Inside the namespace: loopback up, datagram ICMP sockets for the mapped
# root, an nftables chain for the drop rule; then netdiagd in the
# background, and one command per line on standard input: "drop" (every
# 4th echo request from now on), "pass" (none), or end of input (stop).
NETNS_LOSS = r"""
set -e
ip link set lo up
sysctl -qw net.ipv4.ping_group_range='0 0'  # only gid 0 is mapped in unshare -r
nft add table inet nd
nft add chain inet nd out '{ type filter hook output priority 0; }'
"$@" &
pid=$!
echo ready
while read cmd; do
    case "$cmd" in
    drop) nft add rule inet nd out icmp type echo-request numgen inc mod 4 == 0 drop;
          echo dropping ;;
    pass) nft flush chain inet nd out; echo passing ;;
    esac
done
kill -TERM $pid
wait $pid
"""


@pytest.mark.skipif(not can_unshare() or shutil.which("nft") is None,
                    reason="cannot create a network namespace with nftables here "
                           "(unshare -rn or nft missing)")
def test_loss_step_fires_and_resolves(tmp_path):
    ok, why = ping_accepted(tmp_path)
    if not ok:
        pytest.skip("kind = ping is not accepted by this netdiagd yet (the ping kind of "
                    "issue 16 is another branch): %s" % why)
    hook, out = hook_script(tmp_path)
    # latency stays on: its window lines say when the warm-up (the same
    # number of windows for loss) is over
    cfg = write_config(tmp_path, [("lo4", {"kind": "ping", "host": "127.0.0.1", "count": 4,
                                           "spacing": "10ms", "timeout": "80ms"})],
                       "exec = %s %s" % (hook, out), log_level="debug", latency=True)
    errpath = cfg + ".stderr"
    with open(errpath, "w") as err:
        proc = subprocess.Popen(["unshare", "-rn", "sh", "-c", NETNS_LOSS, "sh", NETDIAGD, "-c",
                                 cfg], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=err, text=True, bufsize=1)
    log = lambda: open(errpath).read()  # noqa: E731

    def windows():
        return [{"lost": int(m.group(1)), "sent": int(m.group(2)), "level": m.group(3),
                 "step": m.group(6)}
                for m in re.finditer(LOSS_WINDOW % "lo4", log())]

    try:
        assert proc.stdout.readline().strip() == "ready", log()
        # echoes answered for a few windows (the loss baseline warms up)
        assert wait_for(lambda: "started: 1 targets" in log(), timeout=10), log()
        assert wait_for(lambda: sum(1 for w in lat_windows(log(), "lo4")
                                    if w["level"] != "learning") >= 2, timeout=30), log()
        # windows closed before the drop do not start the step, even when a
        # loaded machine answered one of their echoes too late
        before = len(windows())
        proc.stdin.write("drop\n")
        assert proc.stdout.readline().strip() == "dropping"
        assert wait_for(lambda: "alert: lo4 loss firing: loss 25% (" in log(), timeout=30), log()
        w = windows()
        first = next(i for i, x in enumerate(w) if i >= before and x["lost"] > 0)
        fired = next(i for i, x in enumerate(w) if x["step"] == "fired")
        assert fired - first <= 2, w
        rows = wait_rows(tmp_path, lambda r: any(x["metric"] == "loss" for x in r))
        [row] = [x for x in rows if x["metric"] == "loss"]
        assert row["wsa_code"] == 0 and abs(row["value"] - 0.25) < 0.05, row
        assert row["attempts"] > 0 and row["count"] == round(row["value"] * row["attempts"]), row
        env = wait_for(lambda: [e for e in hook_runs(out, "firing")
                                if e["NETDIAG_METRIC"] == "loss"])
        assert env and env[0]["NETDIAG_TARGET"] == "lo4", env
        proc.stdin.write("pass\n")
        assert proc.stdout.readline().strip() == "passing"
        assert wait_for(lambda: "alert: lo4 loss resolved after " in log(), timeout=30), log()
        # a partial loss is a loss alert, not a timeout: no attempt went unanswered
        assert "alert: lo4 timeout" not in log(), log()
    finally:
        try:
            proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_delay_starting_late_in_a_window_fires_within_two_window_lengths(tmp_path, daemons):
    """A delay that starts in the second half of a window: that window's
    median is still the old one, the next is the first slow one; the
    half-way tick of the window after confirms it, half a window before
    its end, so it fires within two window lengths of the start (whole
    windows alone fire at that third window's end). The test sets the
    delay some 0.6 s into a 1 s window (after a window's line, so roughly);
    the bound it checks holds wherever the start lands: the end of the
    first window with a delayed answer plus one and a half windows."""
    echo = DelayedEcho()
    try:
        target = {"kind": "send", "protocol": "udp", "host": "127.0.0.1", "port": echo.port,
                  "payload": "ping", "expect": "ping", "timeout": "90ms"}
        cfg = write_config(tmp_path, [("web", target)], "latency_margin = 20ms",
                           log_level="debug", latency=True)
        d = daemons(cfg)
        assert d.wait_log(r"started: 1 targets", timeout=10), d.log()
        assert wait_for(lambda: sum(1 for w in lat_windows(d.log(), "web")
                                    if w["level"] != "learning") >= 2, timeout=30), d.log()
        # just after a window's end, then into its second half
        n = len(lat_windows(d.log(), "web"))
        assert wait_for(lambda: len(lat_windows(d.log(), "web")) > n, timeout=10), d.log()
        time.sleep(0.6)
        echo.delay = 0.05
        # the windows that ended before: a loaded machine's slow answer in
        # one of them is not the delay
        n = len(lat_windows(d.log(), "web"))
        assert d.wait_log(r"alert: web latency firing: median ", timeout=30), d.log()
        ticks = lat_ticks(d.log(), "web")
        w = lat_windows(d.log(), "web")
        fired = [t for t, step in ticks if step == "fired"]
        assert len(fired) == 1, ticks
        # window j holds the first delayed answer, so the delay started
        # in it (it ends at j + 1): fired by the half-way tick of j + 2
        j = next(i for i in range(n, len(w)) if w[i]["max"] >= 50000)
        assert fired[0] <= j + 2.5, (j, ticks)
        assert d.count(r"alert: [^\n]* firing: ") == 1, d.log()
        assert d.stop() == 0
    finally:
        echo.close()
