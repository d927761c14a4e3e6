"""Run a benchmark's cells in worker processes, so that stopping the script stops them cleanly.

Ctrl-C, or SIGTERM sent to the process group (``kill -- -PGID``, or a session's end), stops
the script as a user expects: each running spinrl cell finishes its epoch and saves it
(spinrl's training handles the signal), any other running cell stops at once, no further
cell starts, and once every worker is idle the script gets KeyboardInterrupt. Without this,
SIGTERM killed the script at once and left each worker, after its epoch, blocked for ever on
the pool's pipe (a sibling worker still held its other end); and a worker that simply exited
would have made the pool terminate its siblings in the middle of their epochs.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed

_stopped = False  # in a worker: a signal came, so no further cell starts here
_running = False  # in a worker: a cell is running


class _Skipped(Exception):
    """A cell a stopped worker did not start."""


def _on_signal(signum, frame) -> None:
    global _stopped
    _stopped = True
    if _running:  # a cell without spinrl's own handler stops at once
        raise KeyboardInterrupt


def _start_worker() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _on_signal)


def _guarded(fn: Callable, *args):
    """``fn(*args)`` in a worker, unless the worker has been stopped."""
    global _running, _stopped
    from spinrl.errors import TrainingInterrupted

    if _stopped:
        raise _Skipped
    _running = True
    try:
        return fn(*args)
    except TrainingInterrupted:  # spinrl saved the epoch and stopped
        _stopped = True
        raise
    finally:
        _running = False


def run_cells(
    fn: Callable,
    jobs: Iterable[tuple],
    workers: int,
    done: Callable[[tuple, object, Exception | None], None],
) -> None:
    """Run ``fn(*job)`` for each job on ``workers`` processes; as each ends, in the order they
    end, call ``done(job, result, None)``, or ``done(job, None, error)`` where it raised (one
    cell's exception does not stop the others). Stopped by Ctrl-C or SIGTERM (see the module's
    docstring): raises KeyboardInterrupt once the workers are idle."""
    from spinrl.errors import TrainingInterrupted

    jobs = list(jobs)
    if not jobs:
        return
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    stopped = False
    pool = ProcessPoolExecutor(workers, initializer=_start_worker)
    try:
        futures = {pool.submit(_guarded, fn, *job): job for job in jobs}
        for future in as_completed(futures):
            try:
                result = future.result()
            except (TrainingInterrupted, KeyboardInterrupt, _Skipped):
                stopped = True  # the worker got the signal first; this process's comes next
                continue
            except Exception as e:
                done(futures[future], None, e)
                continue
            done(futures[future], result, None)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    if stopped:  # every cell ended, some of them stopped: the signal reached only the workers
        raise KeyboardInterrupt


def in_order(fn: Callable, jobs: Iterable[tuple], workers: int) -> list:
    """``[fn(*job) for job in jobs]`` on ``workers`` processes, stoppable as run_cells is; a
    cell's exception is raised once every other cell has ended."""
    jobs = list(jobs)
    results: dict[int, object] = {}
    errors: list[Exception] = []

    def done(job, result, error):
        if error is not None:
            errors.append(error)
        results[job[1]] = result

    run_cells(_call, [(fn, i, *job) for i, job in enumerate(jobs)], workers, done)
    if errors:
        raise errors[0]
    return [results[i] for i in range(len(jobs))]


def _call(fn: Callable, _index: int, *args):
    return fn(*args)
