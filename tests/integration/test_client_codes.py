# SPDX-License-Identifier: ISC
"""netdiag codes / explain and the client's argument handling, run against
the built binary ($NETDIAG_BUILD/netdiag, default <repo>/build/netdiag)."""

import csv
import io
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("NETDIAG_BUILD", REPO / "build"))
NETDIAG = BUILD / "netdiag"

# The 53 codes of Microsoft's table of Windows Sockets error codes, in its
# order: value, name, standard meaning, "OS dependent". The OS-dependent
# ones carry their Windows values (common/wsa.c says why).
SOURCE_TABLE = [
    (10004, "WSAEINTR", "Interrupted function call.", False),
    (10013, "WSAEACCES", "Permission denied.", False),
    (10014, "WSAEFAULT", "Bad address.", False),
    (10022, "WSAEINVAL", "Invalid argument.", False),
    (10024, "WSAEMFILE", "Too many open files.", False),
    (10035, "WSAEWOULDBLOCK", "Resource temporarily unavailable.", False),
    (10036, "WSAEINPROGRESS", "Operation now in progress.", False),
    (10037, "WSAEALREADY", "Operation already in progress.", False),
    (10038, "WSAENOTSOCK", "Socket operation on nonsocket.", False),
    (10039, "WSAEDESTADDRREQ", "Destination address required.", False),
    (10040, "WSAEMSGSIZE", "Message too long.", False),
    (10041, "WSAEPROTOTYPE", "Protocol wrong type for socket.", False),
    (10042, "WSAENOPROTOOPT", "Bad protocol option.", False),
    (10043, "WSAEPROTONOSUPPORT", "Protocol not supported.", False),
    (10044, "WSAESOCKTNOSUPPORT", "Socket type not supported.", False),
    (10045, "WSAEOPNOTSUPP", "Operation not supported.", False),
    (10046, "WSAEPFNOSUPPORT", "Protocol family not supported.", False),
    (10047, "WSAEAFNOSUPPORT", "Address family not supported by protocol family.", False),
    (10048, "WSAEADDRINUSE", "Address already in use.", False),
    (10049, "WSAEADDRNOTAVAIL", "Cannot assign requested address.", False),
    (10050, "WSAENETDOWN", "Network is down.", False),
    (10051, "WSAENETUNREACH", "Network is unreachable.", False),
    (10052, "WSAENETRESET", "Network dropped connection on reset.", False),
    (10053, "WSAECONNABORTED", "Software caused connection abort.", False),
    (10054, "WSAECONNRESET", "Connection reset by peer.", False),
    (10055, "WSAENOBUFS", "No buffer space available.", False),
    (10056, "WSAEISCONN", "Socket is already connected.", False),
    (10057, "WSAENOTCONN", "Socket is not connected.", False),
    (10058, "WSAESHUTDOWN", "Cannot send after socket shutdown.", False),
    (10060, "WSAETIMEDOUT", "Connection timed out.", False),
    (10061, "WSAECONNREFUSED", "Connection refused.", False),
    (10064, "WSAEHOSTDOWN", "Host is down.", False),
    (10065, "WSAEHOSTUNREACH", "No route to host.", False),
    (10067, "WSAEPROCLIM", "Too many processes.", False),
    (10091, "WSASYSNOTREADY", "Network subsystem is unavailable.", False),
    (10092, "WSAVERNOTSUPPORTED", "Winsock.dll version out of range.", False),
    (10093, "WSANOTINITIALISED", "Successful WSAStartup not yet performed.", False),
    (10101, "WSAEDISCON", "Graceful shutdown in progress.", False),
    (10109, "WSATYPE_NOT_FOUND", "Class type not found.", False),
    (11001, "WSAHOST_NOT_FOUND", "Host not found.", False),
    (11002, "WSATRY_AGAIN", "Nonauthoritative host not found.", False),
    (11003, "WSANO_RECOVERY", "This is a nonrecoverable error.", False),
    (11004, "WSANO_DATA", "Valid name, no data record of requested type.", False),
    (6, "WSA_INVALID_HANDLE", "Specified event object handle is invalid.", True),
    (87, "WSA_INVALID_PARAMETER", "One or more parameters are invalid.", True),
    (996, "WSA_IO_INCOMPLETE", "Overlapped I/O event object not in signaled state.", True),
    (997, "WSA_IO_PENDING", "Overlapped operations will complete later.", True),
    (8, "WSA_NOT_ENOUGH_MEMORY", "Insufficient memory available.", True),
    (995, "WSA_OPERATION_ABORTED", "Overlapped operation aborted.", True),
    (10104, "WSAINVALIDPROCTABLE", "Invalid procedure table from service provider.", True),
    (10105, "WSAINVALIDPROVIDER", "Invalid service provider version number.", True),
    (10106, "WSAPROVIDERFAILEDINIT", "Unable to initialize a service provider.", True),
    (10107, "WSASYSCALLFAILURE", "System call failure.", True),
]

COMMANDS = ["failures", "summary", "timeline", "targets", "latency", "path", "alerts", "status", "codes",
            "explain", "web", "export"]
EXPLAIN_KEYS = ["code", "name", "meaning", "os_dependent", "matched", "errnos",
                "eai_codes", "dns_outcomes", "explanation"]


def run(*args, columns=None):
    if not NETDIAG.exists():
        pytest.fail(f"{NETDIAG} is missing: build it first (make build/netdiag)")
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    if columns is not None:
        env["COLUMNS"] = str(columns)
    return subprocess.run([str(NETDIAG), *args], capture_output=True, text=True,
                          encoding="utf-8", env=env, timeout=30)


def ok(*args, columns=None):
    r = run(*args, columns=columns)
    assert r.returncode == 0, (args, r.returncode, r.stderr)
    assert r.stderr == "", r.stderr
    return r.stdout


def max_line(text):
    return max((len(line) for line in text.splitlines()), default=0)


def test_source_table_list_is_whole():
    assert len(SOURCE_TABLE) == 53
    assert len({c[0] for c in SOURCE_TABLE}) == 53
    assert len({c[1] for c in SOURCE_TABLE}) == 53
    os_dep = sorted(c[0] for c in SOURCE_TABLE if c[3])
    assert os_dep == [6, 8, 87, 995, 996, 997, 10104, 10105, 10106, 10107]


def test_codes_csv_matches_source_table():
    rows = list(csv.reader(io.StringIO(ok("codes", "--format", "csv"))))
    assert rows[0] == ["code", "name", "meaning", "os_dependent"]
    body = rows[1:]
    assert len(body) == 53
    assert [(int(r[0]), r[1]) for r in body] == [(c[0], c[1]) for c in SOURCE_TABLE]
    assert [r[2] for r in body] == [c[2] for c in SOURCE_TABLE]
    assert [r[3] for r in body] == ["true" if c[3] else "false" for c in SOURCE_TABLE]


def test_codes_json_matches_source_table():
    data = json.loads(ok("codes", "--format", "json"))
    assert isinstance(data, list) and len(data) == 53
    for obj, (code, name, meaning, os_dep) in zip(data, SOURCE_TABLE):
        assert list(obj) == ["code", "name", "meaning", "os_dependent"]
        assert obj == {"code": code, "name": name, "meaning": meaning, "os_dependent": os_dep}


def test_codes_table_fits_80_columns():
    out = ok("codes", columns=80)
    lines = out.splitlines()
    assert len(lines) == 54
    assert lines[0].split() == ["CODE", "NAME", "MEANING", "OS_DEPENDENT"]
    assert max_line(out) <= 80
    for line, (code, name, _meaning, os_dep) in zip(lines[1:], SOURCE_TABLE):
        fields = line.split()
        assert fields[:2] == [str(code), name]  # numbers and names are never cut
        assert fields[-1] == ("yes" if os_dep else "no")
    # The longest meanings do not fit: they are cut with an ellipsis.
    assert "Overlapped I/O event object not in signaled state." not in out
    assert any(re.search(r"\u2026  +(yes|no)$", line) for line in lines[1:])
    # a pipe (no $COLUMNS) is never cut, as systemctl and journalctl do
    piped = ok("codes")
    assert "Overlapped I/O event object not in signaled state." in piped
    assert "\u2026" not in piped


def test_codes_table_wide_shows_everything():
    out = ok("codes", "--wide")
    assert "Overlapped I/O event object not in signaled state." in out
    assert "\u2026" not in out
    assert max_line(out) > 80


def test_codes_table_follows_columns():
    out = ok("codes", columns=60)
    assert max_line(out) <= 60
    assert "WSAPROVIDERFAILEDINIT" in out


@pytest.mark.parametrize("what,code,name,field,raw", [
    ("10061", 10061, "WSAECONNREFUSED", "errnos", "ECONNREFUSED"),
    ("WSAECONNREFUSED", 10061, "WSAECONNREFUSED", "errnos", "ECONNREFUSED"),
    ("econnrefused", 10061, "WSAECONNREFUSED", "errnos", "ECONNREFUSED"),
    ("ECONNREFUSED", 10061, "WSAECONNREFUSED", "errnos", "ECONNREFUSED"),
    ("ETIMEDOUT", 10060, "WSAETIMEDOUT", "errnos", "ETIMEDOUT"),
    ("EAI_NONAME", 11001, "WSAHOST_NOT_FOUND", "eai_codes", "EAI_NONAME"),
    ("host_not_found", 11001, "WSAHOST_NOT_FOUND", "eai_codes", "EAI_NONAME"),
    ("NXDOMAIN", 11001, "WSAHOST_NOT_FOUND", "dns_outcomes", "NXDOMAIN"),
])
def test_explain(what, code, name, field, raw):
    [obj] = json.loads(ok("explain", what, "--format", "json"))
    assert list(obj) == EXPLAIN_KEYS
    assert (obj["code"], obj["name"]) == (code, name)
    assert raw in obj[field]
    assert obj["meaning"] and len(obj["explanation"]) > len(obj["meaning"])

    # to a pipe each field is one line, whole (grep finds it), as
    # `systemctl show` does; a terminal of 80 columns wraps the prose
    piped = ok("explain", what)
    assert re.search(r"^explanation +%s$" % re.escape(obj["explanation"]), piped, re.M), piped
    table = ok("explain", what, columns=80)
    assert max_line(table) <= 80
    assert re.search(rf"^code\s+{code}$", table, re.M)
    assert re.search(rf"^name\s+{name}$", table, re.M)
    assert re.search(rf"^{field}\s+.*\b{raw}\b", table, re.M)
    # The explanation is there whole, wrapped: the same words in order.
    text = table.split("explanation", 1)[1]
    assert text.split() == obj["explanation"].split()


def test_explain_errno_says_how_it_matched():
    [obj] = json.loads(ok("--format", "json", "explain", "etimedout"))
    assert obj["matched"].startswith("errno ETIMEDOUT (")
    [obj] = json.loads(ok("--format", "json", "explain", "EAI_NONAME"))
    assert obj["matched"].startswith("getaddrinfo EAI_NONAME (")


def test_explain_csv_round_trips():
    [obj] = json.loads(ok("explain", "10060", "--format", "json"))
    rows = list(csv.reader(io.StringIO(ok("explain", "10060", "--format", "csv"))))
    assert rows[0] == EXPLAIN_KEYS and len(rows) == 2
    row = dict(zip(rows[0], rows[1]))
    # RFC 4180 quoting keeps commas and quotes of the explanation intact.
    assert row["explanation"] == obj["explanation"]
    assert row["meaning"] == obj["meaning"]
    assert row["errnos"].split() == obj["errnos"]
    assert row["os_dependent"] == "false"


def test_options_before_and_after_the_command_agree():
    assert ok("explain", "10061", "--format", "json") == ok("--format", "json", "explain", "10061")
    assert ok("--wide", "codes") == ok("codes", "--wide")


@pytest.mark.parametrize("what,first", [
    ("xyz", None),
    ("ECONNREFUSD", "WSAECONNREFUSED"),
    ("WSAETIMEDUOT", "WSAETIMEDOUT"),
    ("EAI_NONAM", "EAI_NONAME"),
    ("10062", "WSAECONNREFUSED (10061)"),
])
def test_explain_unknown(what, first):
    r = run("explain", what)
    assert r.returncode == 2
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    prefix = f'netdiag: unknown code "{what}"; closest: '
    assert lines[0].startswith(prefix)
    names = lines[0][len(prefix):].split(", ")
    assert len(names) == 5
    if first is not None:
        assert names[0] == first


@pytest.mark.parametrize("args,named", [
    (["--frob", "codes"], "--frob"),
    (["codes", "--frob"], "--frob"),
    (["explain", "10061", "-x"], "-x"),
    (["codes", "--wide=yes"], "--wide"),
    (["frob"], "frob"),
    (["sumary"], 'unknown command "sumary"; did you mean "summary"?'),
    (["help", "sumary"], 'did you mean "summary"?'),
    (["failures", "--sinse", "1h"], 'unknown option "--sinse"; did you mean "--since"?'),
    (["summary", "--bye", "target"], 'did you mean "--by"?'),
    (["explain"], "WHAT"),
    (["explain", "10061", "10060"], "10060"),
    (["codes", "extra"], "extra"),
    (["codes", "--format", "xml"], "xml"),
    (["codes", "--format"], "--format"),
    (["--db"], "--db"),
    (["-c"], "-c"),
    (["codes", "--since", "yesterdy"], "yesterdy"),
    (["codes", "--since", "2026-02-30"], "2026-02-30"),
    (["codes", "--since", "2h", "--until", "2020-01-01"], "--until"),
])
def test_usage_errors(args, named):
    r = run(*args)
    assert r.returncode == 2, (args, r.stdout, r.stderr)
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("netdiag: ")
    assert named in lines[0]
    assert "--help" in lines[0]


def test_time_options_are_accepted():
    assert ok("codes", "--since", "2020-01-01T00:00:00Z", "--until", "90s", "--utc") == ok("codes")
    assert ok("--since", "7d", "--until", "2099-12-31 23:59", "codes") == ok("codes")


def test_version():
    makefile = (REPO / "Makefile").read_text()
    version = re.search(r"^VERSION\s*:?=\s*(\S+)", makefile, re.M).group(1)
    assert ok("-V") == f"netdiag {version}\n"
    assert ok("--version") == f"netdiag {version}\n"


def help_commands(text):
    block = text.split("\nCommands:\n", 1)[1].split("\n\n", 1)[0]
    return [line.split()[0] for line in block.splitlines() if line.startswith("  ")
            and not line.startswith("   ")]


def help_options(text):
    return sorted(set(re.findall(r"^  (?:-\w, )?\s*--([a-z-]+)", text, re.M)) |
                  {"-" + s for s in re.findall(r"^  -(\w), --", text, re.M)})


@pytest.mark.parametrize("args", [["--help"], ["-h"], [], ["help"]])
def test_global_help(args):
    out = ok(*args)
    assert out.startswith("usage: netdiag ")
    assert max_line(out) < 80
    # Only commands that exist are advertised.
    assert help_commands(out) == COMMANDS


@pytest.mark.parametrize("cmd", COMMANDS)
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_command_help(cmd, flag):
    out = ok(cmd, flag)
    assert out.startswith(f"usage: netdiag [OPTIONS] {cmd}")
    assert max_line(out) < 80
    assert ok(flag, cmd) == out
    assert ok("help", cmd) == out


def man_sections():
    sections, name = {}, None
    for line in (REPO / "man" / "netdiag.1").read_text().splitlines():
        if line.startswith(".Sh "):
            name = line[4:].strip()
            sections[name] = []
        elif name:
            sections[name].append(line)
    return sections


def test_man_page_matches_help():
    sections = man_sections()
    for needed in ["NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "OPTIONS", "OUTPUT FORMATS",
                   "EXIT STATUS", "EXAMPLES", "SEE ALSO"]:
        assert needed in sections, needed
    man_cmds = [re.match(r"\.It Cm (\S+)", line).group(1)
                for line in sections["COMMANDS"] if line.startswith(".It Cm ")]
    assert man_cmds == help_commands(ok("--help"))

    man_opts = set()
    for line in sections["OPTIONS"]:
        if line.startswith(".It Fl "):
            man_opts |= {"-" + s for s in re.findall(r"Fl (\w)\b", line)}
            man_opts |= set(re.findall(r"Fl -([a-z-]+)", line))
    assert sorted(man_opts) == help_options(ok("--help"))

    statuses = [line.split()[1] for line in sections["EXIT STATUS"] if line.startswith(".It ")]
    assert statuses == ["0", "1", "2", "3", "4", "5"]
    see_also = " ".join(sections["SEE ALSO"])
    assert "netdiagd 8" in see_also and "netdiag.ini 5" in see_also


def man_command_blocks():
    """The COMMANDS section split per command: name -> its lines."""
    blocks, name, depth = {}, None, 0
    for line in man_sections()["COMMANDS"]:
        if line.startswith(".Bl"):
            depth += 1
        elif line.startswith(".El"):
            depth -= 1
        elif depth == 1 and line.startswith(".It Cm "):
            name = line.split()[2]
            blocks[name] = []
            continue
        if name:
            blocks[name].append(line)
    return blocks


def man_opts_in(lines):
    opts = set()
    for line in lines:
        if line.startswith(".It Fl "):
            opts |= {"-" + s for s in re.findall(r"Fl (\w)\b", line)}
            opts |= set(re.findall(r"Fl -([a-z-]+)", line))
    return opts


@pytest.mark.parametrize("cmd", COMMANDS)
def test_man_page_documents_command_options(cmd):
    """Every option of `netdiag CMD --help` is in CMD's entry of the man
    page, and nothing more."""
    text = ok(cmd, "--help")
    own = text.split("\nOptions:\n", 1)[1].split("\n\n", 1)[0] if "\nOptions:\n" in text else ""
    assert sorted(man_opts_in(man_command_blocks()[cmd])) == help_options(own)
