# SPDX-License-Identifier: ISC
"""The Makefile's compiler and linker flags, read from `make -n -B` (nothing
is compiled): hardened by default (stack protector, PIE, full RELRO,
_FORTIFY_SOURCE=2 when optimising), the user's CFLAGS, CPPFLAGS and LDFLAGS
from the environment after the build's own so that they win, no second
_FORTIFY_SOURCE when the user's flags set one (as dpkg-buildflags does),
none in the sanitizer build, and WERROR=0 dropping -Werror only."""

import os
import shlex
import subprocess

import pytest

from conftest import REPO


def commands(tmp_path, *make_args, **env_vars):
    """(compile words of common/wsa.c, link words of netdiagd) as make
    would run them for a build in tmp_path."""
    env = dict(os.environ)
    for k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "CFLAGS", "CPPFLAGS",
              "LDFLAGS", "SAN", "FUZZ", "WERROR"):
        env.pop(k, None)
    env.update(env_vars)
    build = str(tmp_path / "b")
    p = subprocess.run(["make", "-C", REPO, "--no-print-directory", "-n", "-B",
                        "BUILD=%s" % build, *make_args, "%s/netdiagd" % build],
                       capture_output=True, text=True, timeout=120, env=env)
    assert p.returncode == 0, p.stderr
    compile_, link = None, None
    for line in p.stdout.splitlines():
        words = shlex.split(line)
        if "-c" in words and "common/wsa.c" in words:
            compile_ = words
        if "-o" in words and words[words.index("-o") + 1] == "%s/netdiagd" % build:
            link = words
    assert compile_ and link, p.stdout
    return compile_, link


def before(words, a, b):
    return words.index(a) < words.index(b)


def test_hardened_by_default(tmp_path):
    cc, ld = commands(tmp_path)
    for flag in ("-fstack-protector-strong", "-fPIE", "-D_FORTIFY_SOURCE=2", "-Werror",
                 "-Wall", "-O2"):
        assert flag in cc, (flag, cc)
    # a compiler that predefines _FORTIFY_SOURCE (another level) is overridden
    assert before(cc, "-U_FORTIFY_SOURCE", "-D_FORTIFY_SOURCE=2")
    for flag in ("-pie", "-Wl,-z,relro,-z,now"):
        assert flag in ld, (flag, ld)


def test_user_flags_come_last(tmp_path):
    cc, ld = commands(tmp_path, CFLAGS="-O2 -g -fno-stack-protector",
                      LDFLAGS="-Wl,--as-needed")
    assert before(cc, "-fstack-protector-strong", "-fno-stack-protector")
    assert before(ld, "-Wl,-z,relro,-z,now", "-Wl,--as-needed")


def test_fortify_only_when_optimising(tmp_path):
    cc, _ = commands(tmp_path, CFLAGS="-O0 -g")
    assert not [w for w in cc if "_FORTIFY_SOURCE" in w], cc
    assert "-fstack-protector-strong" in cc


def test_fortify_from_the_user_wins(tmp_path):
    # dpkg-buildflags puts -D_FORTIFY_SOURCE=2 in CPPFLAGS; a user may ask for 3
    cc, _ = commands(tmp_path, CPPFLAGS="-D_FORTIFY_SOURCE=3")
    assert [w for w in cc if "_FORTIFY_SOURCE" in w] == ["-D_FORTIFY_SOURCE=3"], cc


@pytest.mark.parametrize("var", ["SAN=1", "FUZZ=1"])
def test_no_fortify_under_sanitizers(tmp_path, var):
    cc, _ = commands(tmp_path, var)
    assert not [w for w in cc if "_FORTIFY_SOURCE" in w], cc
    assert "-fsanitize=address,undefined" in " ".join(cc) or "fuzzer" in " ".join(cc)


def test_werror_can_be_turned_off(tmp_path):
    cc, _ = commands(tmp_path, "WERROR=0")
    assert "-Werror" not in cc and "-Wall" in cc and "-Wextra" in cc
    cc, _ = commands(tmp_path, WERROR="0")  # from the environment too
    assert "-Werror" not in cc
