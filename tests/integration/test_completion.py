# SPDX-License-Identifier: ISC
"""Bash completion for netdiag (client/netdiag.bash-completion), sourced in
bash after bash-completion, as a person's shell has it: the words of a
command line split as bash splits them, COMP_WORDS/COMP_CWORD set, the
completion function called, COMPREPLY read back. Commands, options per
command, option values, code names, target names read from a database
that a real netdiagd wrote (through --db, --db= and -c), and nothing --
without a word on stderr -- when the database is missing or is not one.
Skips where bash-completion is not installed (make deps installs it)."""

import os
import re
import shlex
import shutil
import signal
import subprocess
import time

import pytest

from conftest import NETDIAG, NETDIAGD, REPO, closed_port

BASH_COMPLETION = "/usr/share/bash-completion/bash_completion"
SCRIPT = os.path.join(REPO, "client", "netdiag.bash-completion")
TARGETS = ["db_main", "web-1", "web-2"]
BASH = shutil.which("bash")

pytestmark = pytest.mark.skipif(
    not (BASH and os.path.exists(BASH_COMPLETION)),
    reason="bash-completion is not installed (%s; `make deps` installs it)" % BASH_COMPLETION)


def comp_words(line):
    """COMP_WORDS and COMP_CWORD for `line` with the cursor at its end:
    words split at blanks, and "=" a word of its own (COMP_WORDBREAKS)."""
    words = []
    for tok in line.split():
        words.extend(w for w in re.split(r"(=)", tok) if w)
    if line.endswith(" ") or not words:
        words.append("")
    return words, len(words) - 1


def complete(line, path=None, load_bash_completion=True):
    """COMPREPLY, sorted, for `line`; the completion's stderr must be
    empty. PATH starts with the build's bin directory unless `path`."""
    words, cword = comp_words(line)
    prev = words[cword - 1] if cword else ""
    script = "\n".join([
        "source %s" % shlex.quote(BASH_COMPLETION) if load_bash_completion else ":",
        "source %s" % shlex.quote(SCRIPT),
        "complete -p netdiag",
        "COMP_WORDS=(%s)" % " ".join(shlex.quote(w) for w in words),
        "COMP_CWORD=%d" % cword,
        "COMP_LINE=%s" % shlex.quote(line),
        "COMP_POINT=%d" % len(line),
        "COMPREPLY=()",
        "_netdiag %s %s %s" % (shlex.quote(words[0]), shlex.quote(words[cword]),
                               shlex.quote(prev)),
        "printf '%s\\n' \"${COMPREPLY[@]}\"",
    ])
    env = dict(os.environ, PATH=path if path is not None else
               "%s:%s" % (os.path.dirname(NETDIAG), os.environ.get("PATH", "/usr/bin:/bin")))
    p = subprocess.run([BASH, "--norc", "--noprofile", "-c", script], capture_output=True,
                       text=True, timeout=60, env=env)
    assert p.returncode == 0 and p.stderr == "", (line, p.stderr)
    out = p.stdout.splitlines()
    assert out[0] == "complete -F _netdiag netdiag", out[0]
    return sorted(w for w in out[1:] if w)


def codes():
    """(number, WSA name) of every code, from the client itself."""
    p = subprocess.run([NETDIAG, "codes", "--format", "csv"], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 0, p.stderr
    return [tuple(line.split(",")[:2]) for line in p.stdout.splitlines()[1:]]


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    """A database a real netdiagd wrote with the targets of TARGETS (all
    connects to a closed loopback port), and the config that names it."""
    d = tmp_path_factory.mktemp("compdb")
    port = closed_port()
    cfg = d / "netdiag.ini"
    cfg.write_text("[daemon]\ndatabase = %s\n\n[defaults]\ninterval = 10s\ntimeout = 1s\n\n" %
                   (d / "netdiag.db") + "".join(
                       "[target %s]\nkind = connect\nhost = 127.0.0.1\nport = %d\n\n" %
                       (name, port) for name in TARGETS))
    log = open(d / "netdiagd.log", "w")
    proc = subprocess.Popen([NETDIAGD, "-c", str(cfg)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        names = []
        while time.monotonic() < deadline and proc.poll() is None:
            p = subprocess.run([NETDIAG, "--db", str(d / "netdiag.db"), "targets", "--format",
                                "csv"], capture_output=True, text=True, timeout=30)
            names = sorted(line.split(",")[0] for line in p.stdout.splitlines()[1:])
            if names == TARGETS:
                break
            time.sleep(0.2)
        assert names == TARGETS, (names, (d / "netdiagd.log").read_text())
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        log.close()
    assert proc.returncode == 0, (d / "netdiagd.log").read_text()
    return {"db": str(d / "netdiag.db"), "config": str(cfg)}


def test_commands():
    assert complete("netdiag ") == sorted(
        ["failures", "summary", "timeline", "targets", "latency", "path", "alerts", "codes", "explain",
         "web", "export"])
    assert complete("netdiag ti") == ["timeline"]
    assert complete("netdiag --utc ta") == ["targets"]
    # one command per line: after it, no command is offered again
    assert complete("netdiag summary ") == []


def test_options_follow_the_command():
    assert complete("netdiag failures --p") == ["--phase"]
    assert complete("netdiag timeline --b") == ["--bucket", "--by"]
    assert complete("netdiag alerts --a") == ["--active"]
    assert complete("netdiag latency --c") == ["--chart", "--color", "--config"]
    assert complete("netdiag la") == ["latency"]
    assert complete("netdiag web --l") == ["--listen"]
    assert complete("netdiag codes --t") == []
    assert complete("netdiag --v") == ["--version"]
    opts = complete("netdiag targets -")
    assert {"--db", "--config", "--format", "--since", "-t", "--target", "--kind"} <= set(opts)
    assert "--phase" not in opts and "--bucket" not in opts


def test_option_values():
    assert complete("netdiag --format ") == ["csv", "json", "table"]
    assert complete("netdiag --format=j") == ["json"]
    assert complete("netdiag failures --phase ") == sorted(
        ["resolve", "connect", "send", "recv", "verify", "none"])
    assert complete("netdiag summary --by ") == ["code", "phase", "target"]
    assert complete("netdiag timeline --by ") == ["code", "target"]
    assert complete("netdiag latency --by ") == ["hour", "minute", "target"]
    assert complete("netdiag timeline --color a") == ["always", "auto"]
    assert complete("netdiag failures --kind ") == ["connect", "ping", "resolve", "send"]
    assert complete("netdiag failures -n ") == []


def test_code_names_and_numbers():
    table = codes()
    assert complete("netdiag explain WSAECONNR") == ["WSAECONNREFUSED", "WSAECONNRESET"]
    assert complete("netdiag explain 1006") == sorted(n for n, _ in table if n.startswith("1006"))
    assert complete("netdiag failures --code econnref") == ["econnrefused"]
    assert complete("netdiag summary --code=WSAETIMED") == ["WSAETIMEDOUT"]
    assert len(complete("netdiag explain ")) == len(table)
    # explain takes one word
    assert complete("netdiag explain 10061 ") == []


def test_target_names_from_the_database(db):
    assert complete("netdiag --db %s failures -t " % db["db"]) == TARGETS
    assert complete("netdiag --db=%s failures --target=web" % db["db"]) == ["web-1", "web-2"]
    # options after the command choose the database too
    assert complete("netdiag summary --db %s --target d" % db["db"]) == ["db_main"]
    # -c: the client takes the database from the configuration
    assert complete("netdiag -c %s timeline -t " % db["config"]) == TARGETS


def test_no_database_no_target_names(tmp_path):
    assert complete("netdiag --db %s failures -t " % (tmp_path / "missing.db")) == []
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database\n" * 100)
    assert complete("netdiag --db %s failures -t " % junk) == []
    assert complete("netdiag -c %s failures -t " % (tmp_path / "missing.ini")) == []


def test_program_by_path_or_missing(db):
    system = "/usr/bin:/bin"
    if shutil.which("netdiag", path=system):
        pytest.skip("netdiag is installed in %s" % system)
    # netdiag not on PATH: nothing from it, and no error
    assert complete("netdiag --db %s failures -t " % db["db"], path=system) == []
    assert complete("netdiag explain WSAECONNREF", path=system) == []
    # the program as typed, from a checkout
    line = "%s --db %s failures -t web-" % (NETDIAG, db["db"])
    assert complete(line, path=system) == ["web-1", "web-2"]
    assert complete("%s explain WSAECONNREF" % NETDIAG, path=system) == ["WSAECONNREFUSED"]


def test_works_without_bash_completion(db):
    """Sourced alone (no bash-completion helpers), it still completes,
    "=" split off by bash included."""
    assert complete("netdiag ti", load_bash_completion=False) == ["timeline"]
    assert complete("netdiag --format=c", load_bash_completion=False) == ["csv"]
    assert complete("netdiag --db=%s failures -t web" % db["db"],
                    load_bash_completion=False) == ["web-1", "web-2"]
