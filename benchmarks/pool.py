"""Run a benchmark's cells in worker processes, so that stopping the script stops them cleanly.

Ctrl-C, or SIGTERM sent to the process group (``kill -- -PGID``, or a session's end), stops
the script as a user expects: each running spinrl cell finishes its epoch and saves it
(spinrl's training handles the signal), any other running cell stops at once, no further
cell starts, and once every worker is idle the script gets KeyboardInterrupt. A signal to
the script's process alone also starts no further cell, but lets the running ones finish.
Without this, SIGTERM killed the script at once and left each worker, after its epoch,
blocked for ever on the pool's pipe (a sibling worker still held its other end); and a
worker that simply exited would have made the pool terminate its siblings in the middle of
their epochs.
"""

from __future__ import annotations

import multiprocessing
import signal
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool

_stopped = False  # in a worker: a signal came, so no further cell starts here
_running = False  # in a worker: a cell is running
_stop_all = None  # in a worker: the script's event, set when it is stopped


class _Skipped(Exception):
    """A cell a stopped worker did not start."""


def _on_signal(signum, frame) -> None:
    global _stopped
    _stopped = True
    if _running:  # a cell without spinrl's own handler stops at once
        raise KeyboardInterrupt


def _start_worker(stop_all) -> None:
    global _stop_all
    _stop_all = stop_all
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _on_signal)


def _guarded(fn: Callable, *args):
    """``fn(*args)`` in a worker, unless the worker or the script has been stopped."""
    global _running, _stopped
    from spinrl.errors import TrainingInterrupted

    _running = True  # from here a signal stops this cell, before it starts or while it runs
    try:
        if _stopped or _stop_all.is_set():
            raise _Skipped
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
    done: Callable[[tuple, object, BaseException | None], None],
) -> None:
    """Run ``fn(*job)`` for each job on ``workers`` processes; as each ends, in the order they
    end, call ``done(job, result, None)``, or ``done(job, None, error)`` where it raised (one
    cell's exception, SystemExit included, does not stop the others). Stopped by Ctrl-C or
    SIGTERM (see the module's docstring): raises KeyboardInterrupt once the workers are idle.
    SIGTERM raises KeyboardInterrupt in this process only while the cells run."""
    from spinrl.errors import TrainingInterrupted

    jobs = list(jobs)
    if not jobs:
        return
    context = multiprocessing.get_context()
    stop_all = context.Event()
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    stopped, broken = False, None
    pool = ProcessPoolExecutor(
        workers,
        mp_context=context,
        initializer=_start_worker,
        initargs=(stop_all,),
    )
    try:
        futures = {pool.submit(_guarded, fn, *job): job for job in jobs}
        for future in as_completed(futures):
            error = future.exception()
            if isinstance(error, TrainingInterrupted | KeyboardInterrupt | _Skipped):
                stopped = True  # a worker got the signal; this process's may come next
                stop_all.set()
            elif isinstance(error, BrokenProcessPool):  # a worker died: the pool stops them
                stopped, broken = True, error
                stop_all.set()
            else:
                done(futures[future], None if error else future.result(), error)
    except BaseException:
        stop_all.set()  # the workers start nothing more; the running cells end first
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        if previous is not None:  # None: a handler installed outside Python, left as it is
            signal.signal(signal.SIGTERM, previous)
    if broken is not None:
        print(
            f"a worker process ended abruptly ({broken}); the others were stopped",
            file=sys.stderr,
            flush=True,
        )
    if stopped:  # every cell ended, some of them stopped: the signal reached only the workers
        raise KeyboardInterrupt


def run_grid(fn: Callable, jobs: list[tuple], workers: int, line: Callable[[object], str],
             script: str, stopped: str) -> None:  # fmt: skip
    """run_cells for a benchmark script whose jobs begin (cell, cell, seed): prints
    ``line(result)`` as each cell ends, or that it failed (the others go on); once stopped,
    exits with status 130 and ``"{script}: stopped; {stopped}"``; with failures, status 1."""
    failed = []

    def done(job, result, error):
        if error is None:
            print(line(result), flush=True)
            return
        failed.append(job)
        name = f"{job[0]} {job[1]} seed {job[2]}"
        print(f"{name}: failed: {type(error).__name__}: {error}", flush=True)

    try:  # Ctrl-C or SIGTERM: the running cells save their epoch and exit
        run_cells(fn, jobs, workers, done)
    except KeyboardInterrupt:
        print(f"{script}: stopped; {stopped}", file=sys.stderr)
        raise SystemExit(130) from None
    if failed:
        print(f"{script}: {len(failed)} of {len(jobs)} runs failed", file=sys.stderr)
        raise SystemExit(1)


def in_order(fn: Callable, jobs: Iterable[tuple], workers: int) -> list:
    """``[fn(*job) for job in jobs]`` on ``workers`` processes, stoppable as run_cells is (it
    then exits with status 130 and one line); the first cell's exception, in the jobs' order,
    is raised once every other cell has ended."""
    jobs = list(jobs)
    results: dict[int, object] = {}
    errors: dict[int, BaseException] = {}

    def done(job, result, error):
        if error is not None:
            errors[job[1]] = error
        results[job[1]] = result

    try:
        run_cells(_call, [(fn, i, *job) for i, job in enumerate(jobs)], workers, done)
    except KeyboardInterrupt:
        print("stopped: the running cells ended, and no other started", file=sys.stderr)
        raise SystemExit(130) from None
    if errors:
        raise errors[min(errors)]
    return [results[i] for i in range(len(jobs))]


def _call(fn: Callable, _index: int, *args):
    return fn(*args)
