"""Print the fault matrix of tests/test_faults.py at the end of a run."""


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
