"""The CI skip policy (tests/infra/skip_policy.py) on a small inner suite run by real pytest."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

INNER_TESTS = '''
import pytest

def test_runs():
    assert True

def test_skips_listed():
    pytest.skip("no widget board here")

def test_skips_listed_for_another_reason():
    pytest.skip("the widget driver crashed")

@pytest.mark.skipif(True, reason="chromium missing")
def test_skipif_unlisted():
    pass

@pytest.mark.xfail(reason="known bug", strict=False)
def test_xfail_is_not_a_skip():
    assert False
'''


def run_inner(tmp_path: Path, allow: str, ci: str | None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "conftest.py").write_text(
        "from tests.infra.skip_policy import pytest_make_collect_report, "
        "pytest_runtest_makereport  # noqa: F401\n")
    (tmp_path / "test_inner.py").write_text(INNER_TESTS)
    (tmp_path / "test_module_skip.py").write_text(
        "import pytest\npytest.skip('whole module: no GPU', allow_module_level=True)\n")
    (tmp_path / "allow.txt").write_text(allow)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env.update(PYTHONPATH=str(ROOT), EDGE_AGENT_ALLOWED_SKIPS=str(tmp_path / "allow.txt"))
    if ci is not None:
        env["CI"] = ci
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rfEs", "-p", "no:cacheprovider",
                           "-p", "no:randomly", str(tmp_path)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)


ALLOW = ("# comment\n"
         "*::test_skips_listed* | no widget board | the widget is optional hardware\n"
         "*test_module_skip.py | no GPU | optional\n")


def test_in_ci_an_unlisted_skip_fails_and_a_listed_one_stays_a_skip(tmp_path: Path) -> None:
    proc = run_inner(tmp_path, ALLOW, "true")
    out = proc.stdout
    assert proc.returncode == 1, out
    # an unlisted skip fails (a skipif mark fails the setup: an error), a listed one stays
    assert "1 failed" in out and "1 error" in out and "2 skipped" in out and \
        "1 passed" in out and "1 xfailed" in out, out
    summary = out.split("short test summary")[1]
    assert "ERROR test_inner.py::test_skipif_unlisted" in summary, out
    # same pattern as an entry, another reason: not covered by it
    assert "FAILED test_inner.py::test_skips_listed_for_another_reason" in summary, out
    assert "not allowed by" in out and "chromium missing" in out
    assert "SKIPPED [1] test_inner.py:8: no widget board here" in summary  # allowed, shown


def test_outside_ci_skips_are_only_reported(tmp_path: Path) -> None:
    proc = run_inner(tmp_path, "", None)
    assert proc.returncode == 0, proc.stdout
    assert "4 skipped" in proc.stdout and " failed" not in proc.stdout, proc.stdout


def test_an_allow_list_entry_without_a_reason_is_refused(tmp_path: Path) -> None:
    proc = run_inner(tmp_path, "*::test_skips_listed | no widget board\n", "true")
    assert proc.returncode != 0
    assert "expected 'NODEID_GLOB | REASON TEXT | WHY'" in proc.stdout + proc.stderr
