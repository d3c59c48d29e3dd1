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
