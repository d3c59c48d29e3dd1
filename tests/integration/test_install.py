# SPDX-License-Identifier: ISC
"""`make install` / `make uninstall` into a temporary DESTDIR: the tree it
lays out (binaries, man pages, unit, sysusers and tmpfiles files, example
config, SQL, bash completion), /etc left alone, nothing left behind by
uninstall, and `make install-strip` stripping the programs; the installed
unit checked by systemd-analyze (verify, and an offline security exposure
of at most 1.5); sysusers/tmpfiles applied to a scratch root; the man pages
rendered with warnings on and a Linux footer. Uses the binaries of
$NETDIAG_BUILD: make is given that BUILD (and SAN=1 for a sanitizer build)
so `all` is already up to date and nothing is rebuilt with other flags."""

import filecmp
import glob
import os
import re
import shutil
import stat
import subprocess

import pytest

from conftest import BUILD, NETDIAGD, REPO

PREFIX = "/usr"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
MAX_EXPOSURE = 1.5


def make_env():
    """The environment without a parent make's flags (jobserver descriptors,
    command-line variables such as BUILD or SAN from `make check`)."""
    env = dict(os.environ)
    for k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"):
        env.pop(k, None)
    return env


def build_vars():
    """BUILD as the Makefile names it (relative to the repository when it
    is inside it, so the dependency files match), and SAN=1 when the
    binaries were built with the sanitizers."""
    build = os.path.abspath(BUILD)
    rel = os.path.relpath(build, REPO)
    args = ["BUILD=%s" % (build if rel.startswith("..") else rel)]
    with open(NETDIAGD, "rb") as f:
        if b"__asan_init" in f.read():
            args.append("SAN=1")
    return args


def build_is_current():
    """`make -q all` with the same BUILD/SAN: 0 when nothing would be rebuilt."""
    p = subprocess.run(["make", "-C", REPO, "-q", "all", *build_vars()], capture_output=True,
                       timeout=60, env=make_env())
    return p.returncode == 0


def make(target, destdir, prefix=PREFIX):
    """make install/uninstall. When sources changed since $NETDIAG_BUILD was
    built, `-o all` installs the binaries under test as they are instead of
    rebuilding them in the middle of a test run."""
    keep = [] if build_is_current() else ["-o", "all"]
    return subprocess.run(["make", "-C", REPO, "--no-print-directory", *keep, target,
                           "DESTDIR=%s" % destdir, "PREFIX=%s" % prefix, *build_vars()],
                          capture_output=True, text=True, timeout=300, env=make_env())


def tree(root):
    """Every file and symlink under root, as paths relative to it."""
    out = set()
    for d, _, files in os.walk(root):
        for f in files:
            out.add(os.path.relpath(os.path.join(d, f), root))
    return out


def expected_files(prefix=PREFIX):
    p = prefix.lstrip("/")
    sql = [os.path.basename(f) for f in glob.glob(os.path.join(REPO, "sql", "*.sql"))]
    files = {
        ("%s/sbin/netdiagd" % p, os.path.join(BUILD, "netdiagd"), 0o755),
        ("%s/bin/netdiag" % p, os.path.join(BUILD, "netdiag"), 0o755),
        ("%s/share/man/man1/netdiag.1" % p, "man/netdiag.1", 0o644),
        ("%s/share/man/man5/netdiag.ini.5" % p, "man/netdiag.ini.5", 0o644),
        ("%s/share/man/man8/netdiagd.8" % p, "man/netdiagd.8", 0o644),
        ("%s/share/doc/netdiag/netdiag.ini.example" % p, None, 0o644),
        ("%s/share/doc/netdiag/README.md" % p, "README.md", 0o644),
        ("%s/share/netdiag/sql/README.md" % p, "sql/README.md", 0o644),
        ("%s/share/netdiag/prometheus/netdiag.rules.yml" % p,
         "conf/prometheus/netdiag.rules.yml", 0o644),
        ("%s/share/netdiag/prometheus/netdiag.rules.test.yml" % p,
         "conf/prometheus/netdiag.rules.test.yml", 0o644),
        ("%s/lib/systemd/system/netdiagd.service" % p, None, 0o644),
        ("%s/lib/systemd/system/netdiag-web.service" % p, None, 0o644),
        ("%s/lib/sysusers.d/netdiag.conf" % p, "systemd/netdiag.sysusers", 0o644),
        ("%s/lib/tmpfiles.d/netdiag.conf" % p, "systemd/netdiag.tmpfiles", 0o644),
        ("%s/share/bash-completion/completions/netdiag" % p, "client/netdiag.bash-completion",
         0o644),
    }
    for f in sql:
        files.add(("%s/share/netdiag/sql/%s" % (p, f), "sql/%s" % f, 0o644))
    for f in os.listdir(os.path.join(REPO, "sql", "clickhouse")):
        files.add(("%s/share/netdiag/sql/clickhouse/%s" % (p, f), "sql/clickhouse/%s" % f,
                   0o644))
    return files


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    dest = tmp_path_factory.mktemp("destdir")
    # what /etc already holds must survive an install (and an uninstall)
    os.makedirs(dest / "etc" / "netdiag")
    (dest / "etc" / "netdiag" / "netdiag.ini").write_text("; the admin's own\n")
    p = make("install", dest)
    assert p.returncode == 0, p.stdout + p.stderr
    # nothing compiled: the binaries installed are the ones under test
    assert not re.search(r"^\S*(cc|gcc|clang) ", p.stdout, re.M), p.stdout
    return dest, p


def test_install_tree(installed):
    dest, p = installed
    files = expected_files()
    assert tree(dest) == {f for f, _, _ in files} | {"etc/netdiag/netdiag.ini"}
    for rel, src, mode in files:
        st = os.stat(dest / rel)
        assert stat.S_IMODE(st.st_mode) == mode, (rel, oct(st.st_mode))
        if src is not None:
            assert filecmp.cmp(dest / rel, os.path.join(REPO, src), shallow=False), rel
    # /etc untouched; nothing under var/ (the StateDirectory is systemd's)
    assert (dest / "etc" / "netdiag" / "netdiag.ini").read_text() == "; the admin's own\n"
    assert not (dest / "var").exists()
    assert "/etc is left alone" in p.stdout


def test_installed_unit_points_at_installed_binary(installed, tmp_path):
    dest, _ = installed
    unit = (dest / "usr/lib/systemd/system/netdiagd.service").read_text()
    src = open(os.path.join(REPO, "systemd", "netdiagd.service")).read()
    assert unit == src.replace("/usr/sbin/netdiagd", "%s/sbin/netdiagd" % PREFIX)
    execs = re.findall(r"^Exec\w+=[-@:+!]*(\S+)", unit, re.M)
    assert "%s/sbin/netdiagd" % PREFIX in execs
    for path in execs:
        assert os.access(str(dest) + path, os.X_OK) or os.access(path, os.X_OK), path
    # another PREFIX: the unit follows it
    other = tmp_path / "dest"
    p = make("install", other, prefix="/opt/nd")
    assert p.returncode == 0, p.stdout + p.stderr
    unit = (other / "opt/nd/lib/systemd/system/netdiagd.service").read_text()
    assert re.search(r"^ExecStart=/opt/nd/sbin/netdiagd -c /etc/netdiag/netdiag.ini$", unit,
                     re.M), unit
    assert re.search(r"^ExecStartPre=/opt/nd/sbin/netdiagd -t ", unit, re.M), unit
    assert "/usr/sbin/netdiagd" not in unit
    web = (other / "opt/nd/lib/systemd/system/netdiag-web.service").read_text()
    assert re.search(r"^ExecStart=/opt/nd/bin/netdiag -c /etc/netdiag/netdiag.ini web ", web,
                     re.M), web
    assert tree(other) == {f for f, _, _ in expected_files("/opt/nd")}


def test_installed_binaries_run(installed, tmp_path):
    dest, _ = installed
    netdiagd = str(dest / "usr/sbin/netdiagd")
    p = subprocess.run([netdiagd, "-V"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and p.stdout.startswith("netdiagd ")
    example = str(dest / "usr/share/doc/netdiag/netdiag.ini.example")
    # -t wants the database's directory (the state directory systemd
    # makes): check a copy whose database is in one that exists
    with open(example) as f:
        copy = f.read().replace("database = /var/lib/netdiag/netdiag.db",
                                "database = %s/netdiag.db" % tmp_path)
    (tmp_path / "example-copy.ini").write_text(copy)
    p = subprocess.run([netdiagd, "-t", "-c", str(tmp_path / "example-copy.ini")],
                       capture_output=True, text=True, timeout=30)
    assert (p.returncode, p.stdout) == (0, "configuration OK\n"), p.stderr
    # the example is conf/netdiag.ini with the database in the state
    # directory systemd creates (StateDirectory=netdiag), not under var/
    with open(example) as f:
        installed_text = f.read()
    with open(os.path.join(REPO, "conf/netdiag.ini")) as f:
        source = f.read()
    assert installed_text == source.replace("database = ../var/netdiag.db",
                                            "database = /var/lib/netdiag/netdiag.db")
    assert "database = /var/lib/netdiag/netdiag.db\n" in installed_text
    p = subprocess.run([str(dest / "usr/bin/netdiag"), "explain", "10061"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and "WSAECONNREFUSED" in p.stdout, p.stderr


def has_symbols(path):
    p = subprocess.run(["readelf", "-S", str(path)], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    return ".symtab" in p.stdout


@pytest.mark.skipif(not shutil.which("readelf"), reason="readelf is not installed")
def test_install_keeps_symbols_install_strip_strips(installed, tmp_path):
    dest, _ = installed
    programs = ["%s/sbin/netdiagd" % PREFIX.lstrip("/"), "%s/bin/netdiag" % PREFIX.lstrip("/")]
    for prog in programs:
        assert has_symbols(dest / prog), prog
    p = make("install-strip", tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert tree(tmp_path) == {f for f, _, _ in expected_files()}
    for prog in programs:
        assert not has_symbols(tmp_path / prog), prog
        assert stat.S_IMODE(os.stat(tmp_path / prog).st_mode) == 0o755
    p = subprocess.run([str(tmp_path / programs[0]), "-V"], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 0 and p.stdout.startswith("netdiagd "), p.stderr


def test_uninstall_leaves_no_files(tmp_path):
    dest = tmp_path / "dest"
    os.makedirs(dest / "etc" / "netdiag")
    (dest / "etc" / "netdiag" / "netdiag.ini").write_text("; kept\n")
    os.makedirs(dest / "usr" / "bin")
    (dest / "usr" / "bin" / "someone-else").write_text("not ours\n")
    p = make("install", dest)
    assert p.returncode == 0, p.stdout + p.stderr
    assert len(tree(dest)) == len(expected_files()) + 2
    p = make("uninstall", dest)
    assert p.returncode == 0, p.stdout + p.stderr
    # only what was there before; our own directories are gone
    assert tree(dest) == {"etc/netdiag/netdiag.ini", "usr/bin/someone-else"}
    assert (dest / "etc" / "netdiag" / "netdiag.ini").read_text() == "; kept\n"
    assert not (dest / "usr/share/netdiag").exists()
    assert not (dest / "usr/share/doc/netdiag").exists()
    # a second uninstall has nothing to do and does not fail
    p = make("uninstall", dest)
    assert p.returncode == 0, p.stdout + p.stderr


def unit_for_host(dest, tmp_path):
    """The installed unit with its own paths moved under DESTDIR, so that
    systemd-analyze on this host checks the installed binary (it stats
    every Exec path); the rest of the file is the installed one."""
    unit = (dest / "usr/lib/systemd/system/netdiagd.service").read_text()
    d = tmp_path / "unit"
    d.mkdir()
    path = d / "netdiagd.service"
    path.write_text(unit.replace("%s/sbin/netdiagd" % PREFIX,
                                 "%s%s/sbin/netdiagd" % (dest, PREFIX)))
    return path


def analyze(*args, env=None):
    return subprocess.run([SYSTEMD_ANALYZE, *args], capture_output=True, timeout=60,
                          env=env, stdin=subprocess.DEVNULL)


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed "
                    "(Debian package systemd); the unit is not verified")
def test_systemd_analyze_verify(installed, tmp_path):
    """`systemd-analyze verify` needs no running systemd when given a unit
    file; --root would want a whole OS tree, so the unit's paths are moved
    under DESTDIR instead. MANPATH makes its Documentation= man: links
    resolve to the installed pages."""
    dest, _ = installed
    path = unit_for_host(dest, tmp_path)
    env = dict(os.environ, MANPATH=str(dest / "usr/share/man"), SYSTEMD_PAGER="",
               LC_ALL="C.UTF-8")
    man = [] if shutil.which("man") else ["--man=no"]
    p = analyze("verify", *man, str(path), env=env)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    assert p.stderr.decode(errors="replace").strip() == ""
    # the check can fail: a unit whose binary is missing does
    broken = tmp_path / "broken" / "netdiagd.service"
    broken.parent.mkdir()
    broken.write_text(path.read_text().replace("%s%s/sbin/netdiagd" % (dest, PREFIX),
                                               str(dest / "no-such-netdiagd")))
    p = analyze("verify", *man, str(broken), env=env)
    assert p.returncode != 0 and b"no-such-netdiagd" in p.stderr


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed "
                    "(Debian package systemd); the exposure is not measured")
def test_systemd_security_exposure(installed, tmp_path):
    dest, _ = installed
    path = unit_for_host(dest, tmp_path)
    p = analyze("security", "--offline=true", "--no-pager", str(path),
                env=dict(os.environ, SYSTEMD_COLORS="0"))
    out = p.stdout.decode(errors="replace")
    if p.returncode != 0 and "offline" in p.stderr.decode(errors="replace"):
        pytest.skip("systemd-analyze security --offline is not supported (systemd < 250)")
    m = re.search(r"Overall exposure level for netdiagd\.service: (\d+(?:\.\d+)?)", out)
    assert m, out + p.stderr.decode(errors="replace")
    exposure = float(m.group(1))
    print("exposure %.1f" % exposure)
    assert exposure <= MAX_EXPOSURE, out


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("systemd-sysusers")
                    or not shutil.which("systemd-tmpfiles"),
                    reason="needs root (tmpfiles chowns) and systemd-sysusers/systemd-tmpfiles")
def test_sysusers_and_tmpfiles_in_a_scratch_root(installed, tmp_path):
    """The installed sysusers and tmpfiles files, applied with --root to a
    copy of the tree (never to this machine): user and group netdiag with
    home /var/lib/netdiag and no login, then /var/lib/netdiag 0750 owned
    by them."""
    dest, _ = installed
    root = tmp_path / "root"
    shutil.copytree(dest / "usr", root / "usr", symlinks=True)
    (root / "etc").mkdir()
    with open("/etc/passwd") as f:
        host_passwd = f.read()
    p = subprocess.run(["systemd-sysusers", "--root=%s" % root], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    users = {line.split(":")[0]: line.split(":") for line in
             (root / "etc/passwd").read_text().splitlines()}
    assert "netdiag" in users, users
    _, _, uid, gid, _, home, shell = users["netdiag"]
    assert home == "/var/lib/netdiag"
    assert shell.endswith("nologin")
    groups = {line.split(":")[0]: line.split(":")[2] for line in
              (root / "etc/group").read_text().splitlines()}
    assert groups.get("netdiag") == gid
    with open("/etc/passwd") as f:
        assert f.read() == host_passwd  # the host's own users are untouched
    p = subprocess.run(["systemd-tmpfiles", "--create", "--root=%s" % root],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    st = os.stat(root / "var/lib/netdiag")
    assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o750
    assert (st.st_uid, st.st_gid) == (int(uid), int(gid))


MAN_PAGES = ["netdiag.1", "netdiag.ini.5", "netdiagd.8"]


@pytest.mark.parametrize("page", MAN_PAGES)
def test_man_page_renders_without_warnings(page):
    path = os.path.join(REPO, "man", page)
    env = dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH="80", MAN_KEEP_FORMATTING="")
    ran = False
    if shutil.which("man"):
        p = subprocess.run(["man", "--warnings", "-l", "-E", "UTF-8", path], env=env,
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0 and p.stderr == "", p.stderr
        assert "NAME" in p.stdout
        ran = True
    if shutil.which("groff"):
        p = subprocess.run(["groff", "-ww", "-mandoc", "-Tutf8", "-z", path], env=env,
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0 and p.stderr == "", p.stderr
        ran = True
    if not ran:
        pytest.skip("neither man nor groff is installed")


@pytest.mark.skipif(not shutil.which("man"), reason="man is not installed")
@pytest.mark.parametrize("page", MAN_PAGES)
def test_man_page_footer_names_linux(page):
    """The last line names the system the page is for (.Os Linux), not
    mdoc's default BSD."""
    env = dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH="80", MAN_KEEP_FORMATTING="")
    p = subprocess.run(["man", "-l", "-E", "UTF-8", os.path.join(REPO, "man", page)], env=env,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    footer = p.stdout.rstrip("\n").splitlines()[-1].split()
    assert footer[0] == "Linux" and footer[-1] == "Linux", footer


@pytest.mark.skipif(not shutil.which("man"), reason="man is not installed")
@pytest.mark.parametrize("page", MAN_PAGES)
def test_man_page_header_names_linux(page):
    """The first line names the manual as a Linux one ("Linux General
    Commands Manual"), not groff's mdoc default "BSD General Commands
    Manual"."""
    env = dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH="80", MAN_KEEP_FORMATTING="")
    p = subprocess.run(["man", "-l", "-E", "UTF-8", os.path.join(REPO, "man", page)], env=env,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    header = p.stdout.splitlines()[0]
    assert "BSD" not in header and "Linux" in header and "Manual" in header, header


@pytest.mark.skipif(not shutil.which("man"), reason="man is not installed")
def test_installed_man_pages_are_found(installed):
    dest, _ = installed
    mandir = str(dest / "usr/share/man")
    for name, section in (("netdiagd", "8"), ("netdiag", "1"), ("netdiag.ini", "5")):
        p = subprocess.run(["man", "-M", mandir, "-w", section, name], capture_output=True,
                           text=True, timeout=30)
        assert p.returncode == 0, p.stderr
        assert p.stdout.strip() == "%s/man%s/%s.%s" % (mandir, section, name, section)


def test_web_unit(installed, tmp_path):
    """netdiag-web.service: points at the installed netdiag, verifies, and is
    as tight as netdiagd's (its exposure within the same bound); a user of
    its own in the group netdiag, nothing writable, loopback peers only."""
    dest, _ = installed
    unit = (dest / "usr/lib/systemd/system/netdiag-web.service").read_text()
    src = open(os.path.join(REPO, "systemd", "netdiag-web.service")).read()
    assert unit == src.replace("/usr/bin/netdiag ", "%s/bin/netdiag " % PREFIX)
    for line in ["DynamicUser=yes", "SupplementaryGroups=netdiag", "ProtectSystem=strict",
                 "IPAddressDeny=any", "NoNewPrivileges=yes", "CapabilityBoundingSet="]:
        assert re.search("^%s$" % re.escape(line), unit, re.M), line
    assert "ReadWritePaths" not in unit and "StateDirectory" not in unit
    if SYSTEMD_ANALYZE is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    path = tmp_path / "netdiag-web.service"
    path.write_text(unit.replace("%s/bin/netdiag " % PREFIX, "%s%s/bin/netdiag " % (dest, PREFIX)))
    env = dict(os.environ, MANPATH=str(dest / "usr/share/man"), SYSTEMD_PAGER="",
               LC_ALL="C.UTF-8")
    man = [] if shutil.which("man") else ["--man=no"]
    p = analyze("verify", *man, str(path), env=env)
    assert p.returncode == 0 and p.stderr.decode(errors="replace").strip() == "", p.stderr
    p = analyze("security", "--offline=true", "--no-pager", str(path),
                env=dict(os.environ, SYSTEMD_COLORS="0"))
    out = p.stdout.decode(errors="replace")
    if p.returncode != 0 and "offline" in p.stderr.decode(errors="replace"):
        pytest.skip("systemd-analyze security --offline is not supported (systemd < 250)")
    m = re.search(r"Overall exposure level for netdiag-web\.service: (\d+(?:\.\d+)?)", out)
    assert m, out
    print("exposure %s" % m.group(1))
    assert float(m.group(1)) <= MAX_EXPOSURE, out
