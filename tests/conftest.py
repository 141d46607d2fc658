"""Root pytest hooks of every test suite (tests/e2e, tests/chaos, tests/packaging).

CI never skips: under `CI=true` (`.ci/run` sets it) a skipped test or a skipped module (a
`pytest.skip`, a `skipif` mark, an `importorskip`, a missing binary or package) is reported as a
failure, with the skip's reason. A skip in CI would be a test that passes without the behaviour it
is about: CI installs everything the tests need (tests/run-all.sh), so a skip there means the
installation or the test is broken. Outside CI a skip stays a skip (a developer without Chromium
can still run the rest).

`ALLOWED_SKIPS` is the explicit allow-list (node id -> why the skip is correct even in CI). It is
empty, and should stay so: every test that can run in CI must run there.
"""

from __future__ import annotations

import os

import pytest

ALLOWED_SKIPS: dict[str, str] = {}


def in_ci() -> bool:
    """Whether this run is CI (`CI=true` or `CI=1`, as CI services and `.ci/run` set it)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1")


def _skip_reason(longrepr) -> str:
    # A skip's longrepr is (path, line, "Skipped: reason"); anything else is shown as it is.
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        path, line, reason = longrepr
        return f"{reason} ({path}:{line})"
    return str(longrepr)


def _fail_skip(report, nodeid: str) -> None:
    if nodeid in ALLOWED_SKIPS:
        return
    reason = _skip_reason(report.longrepr)
    report.outcome = "failed"
    report.longrepr = (
        f"{nodeid} was skipped under CI=true, and CI never skips (tests/conftest.py): {reason}\n"
        "CI installs every binary and package the tests need (tests/run-all.sh): "
        "install what is missing, or fix the test."
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A skipped test (setup, call or teardown) fails under CI; an expected failure stays one."""
    outcome = yield
    report = outcome.get_result()
    if in_ci() and report.skipped and not hasattr(report, "wasxfail"):
        _fail_skip(report, item.nodeid)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    """A skipped module (`pytest.importorskip`, `pytest.skip(allow_module_level=True)`) fails
    under CI too."""
    outcome = yield
    report = outcome.get_result()
    if in_ci() and report.skipped:
        _fail_skip(report, collector.nodeid)
