# SPDX-License-Identifier: ISC
"""The Debian package (debian/), built as a packager builds it: a clean
copy of the tree (the files git tracks plus new ones it does not ignore;
no build directories) in a temporary directory, then
`dpkg-buildpackage -b -us -uc`. Checked: the file list (dpkg -c) against
the expected one, with modes; the conffile and the maintainer scripts
(sysusers, tmpfiles, the service); the package extracted into a scratch
root (dpkg -x), where the shipped /etc/netdiag/netdiag.ini passes
`netdiagd -t` and the daemon starts on it, probing nothing, and stops
cleanly; lintian reports no error and no warning; hardening-check passes
on the binaries. One build, compiled once, with DEB_BUILD_OPTIONS=nocheck
(`make check` runs the unit tests anyway): about a minute on 2 cores.
Skips where the build tools or the build dependencies are missing
(`make deps` installs them)."""

import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from conftest import REPO

PKG = "netdiagd"
VERSION = "0.1.0"
BUILD_TOOLS = ["dpkg-buildpackage", "dpkg-checkbuilddeps", "dpkg-deb", "dh"]


def tree_files():
    """The files of a clean clone: tracked or new and not ignored, as they
    are in the work tree (so uncommitted edits are tested too)."""
    p = subprocess.run(["git", "-C", REPO, "ls-files", "-z", "--cached", "--others",
                        "--exclude-standard"], capture_output=True, timeout=60)
    if p.returncode != 0:
        return None
    return [f for f in p.stdout.decode().split("\0") if f and os.path.isfile(
        os.path.join(REPO, f))]


def copy_tree(dest):
    files = tree_files() if shutil.which("git") else None
    if files is None:  # not a git checkout: everything but what a build makes
        shutil.copytree(REPO, dest, symlinks=True, ignore=shutil.ignore_patterns(
            ".git", "build", "build-san", "build-fuzz", "var", "__pycache__"))
        return
    for f in files:
        os.makedirs(os.path.join(dest, os.path.dirname(f)), exist_ok=True)
        shutil.copy2(os.path.join(REPO, f), os.path.join(dest, f), follow_symlinks=False)


def clean_env():
    """No make state or compiler flags of a parent run: the package gets
    dpkg-buildflags' flags only."""
    env = dict(os.environ)
    for k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "CFLAGS", "CPPFLAGS",
              "LDFLAGS", "CC", "DEB_BUILD_OPTIONS", "NETDIAG_BUILD", "ASAN_OPTIONS"):
        env.pop(k, None)
    env["DEB_BUILD_OPTIONS"] = "nocheck parallel=2"
    return env


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    missing = [t for t in BUILD_TOOLS if not shutil.which(t)]
    if missing:
        pytest.skip("no %s: install debhelper and dpkg-dev (`make deps`)" % ", ".join(missing))
    top = tmp_path_factory.mktemp("pkg")
    src = top / "src"
    copy_tree(src)
    assert (src / "debian" / "control").exists()
    p = subprocess.run(["dpkg-checkbuilddeps"], cwd=src, capture_output=True, text=True,
                       timeout=60)
    if p.returncode != 0 and "Unmet build dependencies" in p.stderr:
        pytest.skip("build dependencies missing (`make deps`): %s" % p.stderr.strip())
    assert p.returncode == 0, p.stderr
    start = time.monotonic()
    log = top / "build.log"
    with open(log, "w") as f:
        p = subprocess.run(["dpkg-buildpackage", "-b", "-us", "-uc"], cwd=src, stdout=f,
                           stderr=subprocess.STDOUT, env=clean_env(), timeout=1200)
    text = log.read_text()
    assert p.returncode == 0, text[-6000:]
    deb = top / ("%s_%s_%s.deb" % (PKG, VERSION, arch()))
    assert deb.exists(), sorted(os.listdir(top))
    root = top / "root"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True, timeout=60)
    return {"top": top, "src": src, "deb": deb, "root": root, "log": text,
            "seconds": time.monotonic() - start}


def arch():
    return subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                          check=True, timeout=30).stdout.strip()


def deb_entries(deb):
    """{path: (mode string, owner)} of every entry of a .deb but directories."""
    out = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    entries = {}
    for line in out.splitlines():
        mode, owner, _, _, _, path = line.split(None, 5)
        if mode.startswith("d"):
            continue
        entries[path.split(" -> ")[0].removeprefix("./")] = (mode, owner)
    return entries


def expected_files():
    sql = sorted(f for f in os.listdir(os.path.join(REPO, "sql")) if f.endswith(".sql"))
    exe = {"usr/sbin/netdiagd", "usr/bin/netdiag"}
    files = exe | {
        "etc/netdiag/netdiag.ini",
        "lib/systemd/system/netdiagd.service",
        "lib/systemd/system/netdiag-web.service",
        "usr/lib/sysusers.d/netdiag.conf",
        "usr/lib/tmpfiles.d/netdiag.conf",
        "usr/share/bash-completion/completions/netdiag",
        "usr/share/doc/%s/README.Debian" % PKG,
        "usr/share/doc/%s/README.md.gz" % PKG,
        "usr/share/doc/%s/changelog.gz" % PKG,
        "usr/share/doc/%s/copyright" % PKG,
        "usr/share/doc/%s/netdiag.ini.example" % PKG,
        "usr/share/lintian/overrides/%s" % PKG,
        "usr/share/man/man1/netdiag.1.gz",
        "usr/share/man/man5/netdiag.ini.5.gz",
        "usr/share/man/man8/netdiagd.8.gz",
        "usr/share/netdiag/sql/README.md",
        "usr/share/netdiag/prometheus/netdiag.rules.yml",
        "usr/share/netdiag/prometheus/netdiag.rules.test.yml",
    } | {"usr/share/netdiag/sql/%s" % f for f in sql} | {
        "usr/share/netdiag/sql/clickhouse/%s" % f
        for f in os.listdir(os.path.join(REPO, "sql", "clickhouse"))}
    return files, exe


def test_file_list(built):
    entries = deb_entries(built["deb"])
    files, exe = expected_files()
    assert set(entries) == files
    for path, (mode, owner) in entries.items():
        assert owner == "root/root", (path, owner)
        assert mode == ("-rwxr-xr-x" if path in exe else "-rw-r--r--"), (path, mode)
    # the debug symbols went to the -dbgsym package: the binaries are stripped
    dbg = built["top"] / ("%s-dbgsym_%s_%s.deb" % (PKG, VERSION, arch()))
    assert len([p for p in deb_entries(dbg) if p.startswith("usr/lib/debug/.build-id/")
                and p.endswith(".debug")]) == 2
    for exe_path in exe:
        p = subprocess.run(["readelf", "-S", str(built["root"] / exe_path)],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 0 and ".symtab" not in p.stdout, exe_path


def test_control_and_scripts(built):
    deb = str(built["deb"])

    def ctl(name):
        return subprocess.run(["dpkg-deb", "-I", deb, name], capture_output=True, text=True,
                              check=True, timeout=30).stdout

    assert ctl("conffiles").split() == ["/etc/netdiag/netdiag.ini"]
    control = ctl("control")
    assert re.search(r"^Package: %s$" % PKG, control, re.M)
    assert re.search(r"^Depends: .*systemd \| systemd-standalone-sysusers", control, re.M)
    postinst = ctl("postinst")
    # user first, then the state directory, then the service
    order = [postinst.index(s) for s in
             ("systemd-sysusers", "systemd-tmpfiles", "deb-systemd-helper enable",
              "deb-systemd-invoke")]
    assert order == sorted(order), postinst
    assert "netdiagd.service" in postinst
    # the web view is installed, neither enabled nor started: its enable
    # only restores what the admin chose on an upgrade (debian-installed)
    assert "debian-installed 'netdiag-web.service'" in postinst, postinst
    assert not re.search(r"deb-systemd-invoke [^\n]*netdiag-web", postinst), postinst


def check_config(netdiagd, conf):
    """`netdiagd -t` on a packaged file as the installed service sees it:
    /var/lib/netdiag exists (the package's tmpfiles line creates it before
    the service starts). Where this machine has no such directory, the
    check runs in a mount namespace with an empty /var/lib holding one."""
    if os.path.isdir("/var/lib/netdiag"):
        return subprocess.run([netdiagd, "-t", "-c", str(conf)], capture_output=True, text=True,
                              timeout=30)
    p = subprocess.run(["unshare", "-rm", "sh", "-c",
                        'mount -t tmpfs none /var/lib && mkdir -m 0750 /var/lib/netdiag && '
                        'exec "$0" -t -c "$1"', netdiagd, str(conf)],
                       capture_output=True, text=True, timeout=30)
    if p.returncode != 0 and "unshare" in p.stderr:
        pytest.skip("no /var/lib/netdiag here and no mount namespace to make one: %s"
                    % p.stderr.strip())
    return p


def test_shipped_config_passes_check(built):
    root = built["root"]
    netdiagd = str(root / "usr/sbin/netdiagd")
    conf = root / "etc/netdiag/netdiag.ini"
    p = check_config(netdiagd, conf)
    assert (p.returncode, p.stdout, p.stderr) == (0, "configuration OK\n", "")
    text = conf.read_text()
    assert re.search(r"^database = /var/lib/netdiag/netdiag\.db$", text, re.M)
    assert not re.search(r"^\[target ", text, re.M)
    # the documented example beside it passes too
    example = root / ("usr/share/doc/%s/netdiag.ini.example" % PKG)
    p = check_config(netdiagd, example)
    assert (p.returncode, p.stdout) == (0, "configuration OK\n"), p.stderr
    # the unit runs the binary the package ships, on the conffile
    unit = (root / "lib/systemd/system/netdiagd.service").read_text()
    assert "ExecStart=/usr/sbin/netdiagd -c /etc/netdiag/netdiag.ini\n" in unit
    # the completion and the client from the package work
    assert (root / "usr/share/bash-completion/completions/netdiag").read_bytes() == \
        open(os.path.join(REPO, "client/netdiag.bash-completion"), "rb").read()
    p = subprocess.run([str(root / "usr/bin/netdiag"), "explain", "10061"], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 0 and "WSAECONNREFUSED" in p.stdout, p.stderr


def test_daemon_starts_on_shipped_config_and_waits(built, tmp_path):
    """What the service does at installation: start on the shipped file
    (its database moved to a scratch directory), probe nothing, and stop
    cleanly on SIGTERM."""
    root = built["root"]
    text = (root / "etc/netdiag/netdiag.ini").read_text()
    conf = tmp_path / "netdiag.ini"
    conf.write_text(text.replace("/var/lib/netdiag/netdiag.db", str(tmp_path / "netdiag.db")))
    log = tmp_path / "netdiagd.log"
    with open(log, "w") as f:
        proc = subprocess.Popen([str(root / "usr/sbin/netdiagd"), "-c", str(conf)], stdout=f,
                                stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and proc.poll() is None:
                if "started" in log.read_text():
                    break
                time.sleep(0.1)
            assert proc.poll() is None, log.read_text()
            assert re.search(r"started: 0 targets", log.read_text()), log.read_text()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    assert proc.returncode == 0, log.read_text()
    assert (tmp_path / "netdiag.db").exists()


def test_lintian(built):
    if not shutil.which("lintian"):
        pytest.skip("lintian is not installed (`make deps` installs it)")
    changes = built["top"] / ("%s_%s_%s.changes" % (PKG, VERSION, arch()))
    p = subprocess.run(["lintian", str(changes)], capture_output=True, text=True, timeout=600)
    tags = [line for line in p.stdout.splitlines() if re.match(r"[EW]: ", line)]
    assert tags == [], p.stdout
    assert p.returncode == 0, p.stdout + p.stderr


def test_hardening_check(built):
    if not shutil.which("hardening-check"):
        pytest.skip("hardening-check is not installed (devscripts; `make deps` installs it)")
    # --nocfprotection: Debian 12's crt1.o and crti.o carry no IBT/SHSTK
    # property, so no program linked there is marked (debian/README.source)
    root = built["root"]
    p = subprocess.run(["hardening-check", "--nocfprotection", str(root / "usr/sbin/netdiagd"),
                        str(root / "usr/bin/netdiag")], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    for check in ("Position Independent Executable: yes", "Stack protected: yes",
                  "Fortify Source functions: yes", "Read-only relocations: yes",
                  "Immediate binding: yes"):
        assert p.stdout.count(check) == 2, (check, p.stdout)
