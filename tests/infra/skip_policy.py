"""In CI, a skipped test is a failure unless ``tests/allowed_skips.txt`` lists it with a reason.

A skip locally is information (no Chromium on a laptop); in CI, where ``scripts/test`` installs
everything, it means a promise went untested while the run stayed green. Each line of the
allow-list is ``NODEID_GLOB | TEXT IN THE SKIP REASON | WHY THIS SKIP IS ACCEPTABLE``; a skip is
allowed only when both the test id and its reason match, so a new reason for the same test
still fails. ``EDGE_AGENT_ALLOWED_SKIPS`` names another file (the policy's own test uses it).
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

DEFAULT_ALLOWLIST = Path(__file__).resolve().parent.parent / "allowed_skips.txt"


@dataclass(frozen=True, slots=True)
class AllowedSkip:
    pattern: str
    reason_text: str
    why: str


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def load_allowlist(path: Path) -> list[AllowedSkip]:
    """Parse the allow-list; a line without all three fields is an error (no silent entries)."""
    entries: list[AllowedSkip] = []
    if not path.exists():
        return entries
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = [f.strip() for f in line.split("|")]
        if len(fields) != 3 or not all(fields):
            raise pytest.UsageError(f"{path}:{number}: expected 'NODEID_GLOB | REASON TEXT | "
                                    f"WHY', got {line!r}")
        entries.append(AllowedSkip(*fields))
    return entries


def allowed(entries: list[AllowedSkip], nodeid: str, reason: str) -> AllowedSkip | None:
    for entry in entries:
        if fnmatch.fnmatchcase(nodeid, entry.pattern) and entry.reason_text in reason:
            return entry
    return None


def skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr: Any = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def enforce(report: pytest.TestReport | pytest.CollectReport) -> None:
    """Turn an unlisted skip into a failure (in CI only)."""
    if not report.skipped or hasattr(report, "wasxfail") or not in_ci():
        return
    path = Path(os.environ.get("EDGE_AGENT_ALLOWED_SKIPS", DEFAULT_ALLOWLIST))
    reason = skip_reason(report)
    if allowed(load_allowlist(path), report.nodeid, reason) is not None:
        return
    report.outcome = "failed"
    report.longrepr = (f"skipped in CI (CI=true) but not allowed by {path}: {reason}\n"
                       f"Install what it needs, or add a line 'NODEID_GLOB | REASON TEXT | WHY' "
                       f"to the allow-list.")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                              call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    enforce(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, None]:
    outcome = yield
    enforce(outcome.get_result())
