"""benchmarks/pool.py: stopping a benchmark's worker pool with SIGTERM, as the end of a session
does. The script runs in its own process group, as `setsid` starts a background benchmark."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"

SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    sys.path.insert(0, {benchmarks!r})
    from pool import run_cells

    HERE = Path({here!r})

    def cell(i, epochs):
        import spinrl
        (HERE / f"started_{{i}}").touch()
        spinrl.vpg(env="CartPole-v1", seed=i, epochs=epochs, steps_per_epoch=500,
                   verbose=False, output_dir=str(HERE / f"run_{{i}}"))
        (HERE / f"finished_{{i}}").touch()
        return i

    if __name__ == "__main__":
        epochs = int(sys.argv[1])
        try:
            run_cells(cell, [(i, epochs) for i in range(5)], 2, lambda *a: None)
        except KeyboardInterrupt:
            sys.exit(130)
    """
)


@pytest.fixture
def start(tmp_path):
    """Start the script with cells of ``epochs`` epochs; whatever is left of its process group
    at the end of the test is killed, so a failing test leaves nothing running."""
    procs = []

    def start(epochs: int) -> subprocess.Popen:
        script = tmp_path / "grid.py"
        script.write_text(SCRIPT.format(benchmarks=str(BENCHMARKS), here=str(tmp_path)))
        cmd = [sys.executable, str(script), str(epochs)]
        procs.append(subprocess.Popen(cmd, start_new_session=True))
        return procs[-1]

    yield start
    for proc in procs:
        if not _group_gone(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _wait_for(condition, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            pytest.fail("timed out")
        time.sleep(0.1)


def _group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.skipif(sys.platform != "linux", reason="process groups and fork: Linux")
def test_sigterm_to_the_group_saves_the_running_cells_and_starts_no_other(tmp_path, start):
    proc = start(epochs=10_000)  # cells that would run for many minutes
    # both workers are training: each has written a checkpoint-bearing run directory
    _wait_for(lambda: all((tmp_path / f"run_{i}" / "progress.csv").exists() for i in (0, 1)))
    os.killpg(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=120) == 130
    assert all((tmp_path / f"run_{i}" / "model.pt").exists() for i in (0, 1))  # epoch saved
    assert not any((tmp_path / f"finished_{i}").exists() for i in (0, 1))
    assert not any((tmp_path / f"started_{i}").exists() for i in (2, 3, 4))
    _wait_for(lambda: _group_gone(proc.pid), timeout=10)  # no worker left behind


@pytest.mark.skipif(sys.platform != "linux", reason="process groups and fork: Linux")
def test_sigterm_to_the_script_alone_lets_the_running_cells_finish(tmp_path, start):
    proc = start(epochs=40)  # cells of a few seconds
    _wait_for(lambda: all((tmp_path / f"started_{i}").exists() for i in (0, 1)))
    proc.send_signal(signal.SIGTERM)  # the script's process only, not its workers
    assert proc.wait(timeout=120) == 130
    assert all((tmp_path / f"finished_{i}").exists() for i in (0, 1))
    assert not any((tmp_path / f"started_{i}").exists() for i in (2, 3, 4))
    _wait_for(lambda: _group_gone(proc.pid), timeout=10)
