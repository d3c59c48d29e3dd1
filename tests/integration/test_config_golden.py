# SPDX-License-Identifier: ISC
"""Golden bad-config cases: for each tests/integration/golden/config/NAME.ini,
`netdiagd -t -c tests/integration/golden/config/NAME.ini`, run from the
repository root so that the paths in the messages are stable, must exit 2
and print exactly NAME.err on stderr. The shipped conf/netdiag.ini must
pass the same check."""

import glob
import os
import subprocess

import pytest

from conftest import NETDIAGD, REPO

GOLDEN_DIR = os.path.join("tests", "integration", "golden", "config")
CASES = sorted(os.path.basename(p)[:-len(".ini")]
               for p in glob.glob(os.path.join(REPO, GOLDEN_DIR, "*.ini")))


def check_config(rel_path):
    return subprocess.run([NETDIAGD, "-t", "-c", rel_path], cwd=REPO, capture_output=True,
                          text=True, timeout=30, stdin=subprocess.DEVNULL)


def test_golden_cases_are_complete():
    """Every case has its expected output, and no expected output is orphaned."""
    errs = sorted(os.path.basename(p)[:-len(".err")]
                  for p in glob.glob(os.path.join(REPO, GOLDEN_DIR, "*.err")))
    assert errs == CASES
    assert len(CASES) >= 15


@pytest.mark.parametrize("name", CASES)
def test_golden_bad_config(name):
    rel = os.path.join(GOLDEN_DIR, name + ".ini")
    with open(os.path.join(REPO, GOLDEN_DIR, name + ".err"), encoding="utf-8") as f:
        expected = f.read()
    proc = check_config(rel)
    assert proc.stderr == expected
    assert proc.returncode == 2
    assert "configuration OK" not in proc.stdout


def test_golden_output_is_stable():
    """Two runs print the same lines: nothing depends on time or order of
    directory entries."""
    rel = os.path.join(GOLDEN_DIR, "include-dir-sections.ini")
    first = check_config(rel)
    second = check_config(rel)
    assert first.stderr == second.stderr
    assert first.stderr != ""


def test_example_config_is_valid():
    proc = check_config(os.path.join("conf", "netdiag.ini"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "configuration OK\n"
    assert proc.stderr == ""


def test_short_ipv4_is_the_address_inet_aton_reads(tmp_path):
    """`host = 127.1` is 127.0.0.1 to inet_aton, ping and glibc's
    getaddrinfo alike: netdiagd takes it as that address (it used to send
    a DNS query for the name "127.1"), where `127.0.0.010`, which they read
    differently, is refused (host-ambiguous-ipv4)."""
    import json
    import socket

    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(4)
    port = lst.getsockname()[1]
    cfg = tmp_path / "short.ini"
    cfg.write_text("[daemon]\ndatabase = %s\n\n[target short]\nkind = connect\nhost = 127.1\n"
                   "port = %d\nfamily = ipv4\ntimeout = 2s\n" % (tmp_path / "db.sqlite", port))
    try:
        t = subprocess.run([NETDIAGD, "-t", "-c", str(cfg)], capture_output=True, text=True,
                           timeout=30)
        assert (t.returncode, t.stdout, t.stderr) == (0, "configuration OK\n", "")
        once = subprocess.run([NETDIAGD, "--once", "--format", "json", "-c", str(cfg)],
                              capture_output=True, text=True, timeout=30)
    finally:
        lst.close()
    r = json.loads(once.stdout)
    assert r["ok"] is True, (r, once.stderr)
    assert r["remote"] == "127.0.0.1:%d" % port, r
    assert once.returncode == 0
