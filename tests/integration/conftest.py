"""pytest hooks for the integration tests.

A failed test's report ends with the last lines of every master.log in
its temporary directory: the tests drive real daemons whose logs are gone
with the directory, and CI shows nothing but this report."""
import pathlib

import pytest

TAIL_LINES = 40


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    tmp_path = item.funcargs.get("tmp_path")
    if not isinstance(tmp_path, pathlib.Path):
        return
    for log in sorted(tmp_path.rglob("master*.log"))[:4]:
        try:
            lines = log.read_text(errors="replace").splitlines()
        except OSError:
            continue
        report.sections.append((f"last {TAIL_LINES} lines of {log.relative_to(tmp_path)}",
                                "\n".join(lines[-TAIL_LINES:])))
