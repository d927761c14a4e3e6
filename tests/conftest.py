"""Shared test settings; prints the fault matrix of tests/test_faults.py at the end of a run."""

import os

from hypothesis import settings

# CI runs a fixed sequence of examples, so a green run can be repeated exactly; locally
# hypothesis keeps exploring new random examples.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


def pytest_terminal_summary(terminalreporter):
    import sys

    module = sys.modules.get("test_faults") or sys.modules.get("tests.test_faults")
    rows = getattr(module, "MATRIX", None)
    if not rows:
        return
    width = max(len(case) for case, _, _ in rows)
    terminalreporter.section(f"fault matrix ({len(rows)} cases)")
    terminalreporter.write_line(f"{'case':<{width}}  | expected | observed")
    for case, expected, observed in rows:
        terminalreporter.write_line(f"{case:<{width}}  | {expected} | {observed}")
