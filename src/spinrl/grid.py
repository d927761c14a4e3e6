"""ExperimentGrid: many runs from one description, on a local process pool or a Ray cluster.

    grid = ExperimentGrid("cartpole", data_dir="data")
    grid.add("env", "CartPole-v1")
    grid.add("hid", [(32, 32), (64, 64)], shorthand="hid", in_name=True)
    grid.add("act", ["tanh", "relu"])
    grid.add("seed", [0, 10, 20])
    grid.run("ppo", workers=2)                 # or backend="ray", ray_address="auto"

Every combination of the values is one trial, written to DATA/VARIANT/VARIANT_s<SEED>, where
VARIANT is the grid name followed by shorthand+value for each key that varies (or is marked
in_name). Each trial runs in its own process; one that raises or is killed is recorded
(error.txt in its run directory, FAILED in the summary) while the others finish. A trial that
completed (status.json says so) is skipped when the grid runs again.

Trials run in spawned processes, which import the main module: a script that runs a grid
must do so under ``if __name__ == "__main__":``, as with any use of multiprocessing.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import re
import signal
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.table import Table

from spinrl.checkpoint import ERROR, PROGRESS, STATUS, atomic_write_text, read_json, write_json
from spinrl.config import build_config
from spinrl.errors import ConfigError, SpinrlError, TrainingInterrupted
from spinrl.logger import prepare_run_dir, read_progress


def _slug(value) -> str:
    text = "-".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
    return re.sub(r"[^A-Za-z0-9.+-]", "", text)


@dataclass
class Trial:
    """One run of the grid: its config values, where it writes, and how it went."""

    name: str
    values: dict
    run_dir: Path
    status: str = "queued"  # queued, running, completed, FAILED, skipped
    message: str = ""
    steps: int = 0
    started: float = 0.0
    seconds: float = 0.0


@dataclass
class ExperimentGrid:
    """A grid of experiments; see the module docstring."""

    name: str
    data_dir: str | os.PathLike = "data"
    keys: list[str] = field(default_factory=list)
    vals: list[list] = field(default_factory=list)
    shorthands: list[str] = field(default_factory=list)
    in_names: list[bool] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9._+-]+", self.name):
            raise ConfigError(
                f"experiment name {self.name!r} may only use letters, digits and . _ + -"
            )

    def add(self, key: str, values, shorthand: str | None = None, in_name: bool = False):
        """Add a config field and the values it takes (a single value is fixed)."""
        if key in self.keys:
            raise ConfigError(f"grid already has key {key!r}")
        values = list(values) if isinstance(values, list) else [values]
        if not values:
            raise ConfigError(f"grid key {key!r} needs at least one value")
        self.keys.append(key)
        self.vals.append(values)
        self.shorthands.append(shorthand or key.replace("_", ""))
        self.in_names.append(in_name)

    def variants(self) -> list[dict]:
        """Every combination of the values, as {key: value} dicts."""
        return [dict(zip(self.keys, combo, strict=True)) for combo in itertools.product(*self.vals)]

    def variant_name(self, variant: dict) -> str:
        parts = [self.name]
        for key, values, short, in_name in zip(
            self.keys, self.vals, self.shorthands, self.in_names, strict=True
        ):
            if key != "seed" and (len(values) > 1 or in_name):
                parts.append(f"{short}{_slug(variant[key])}")
        return "_".join(parts)

    def trials(self) -> list[Trial]:
        out = []
        for variant in self.variants():
            name = self.variant_name(variant)
            seed = variant.get("seed", 0)
            run_dir = Path(self.data_dir) / name / f"{name}_s{seed}"
            out.append(Trial(f"{name}_s{seed}", variant, run_dir))
        names = [t.run_dir for t in out]
        if len(set(names)) != len(names):
            shared = next(n for n in names if names.count(n) > 1)
            raise ConfigError(
                f"two trials of the grid would share the run directory {shared}: a field was "
                "given the same value twice, or (in Python) a varying key is left out of the "
                "name; ExperimentGrid.add(..., in_name=True) puts it in"
            )
        return out

    def print(self, console: Console | None = None) -> None:
        table = Table(title=f"ExperimentGrid {self.name}: {len(self.variants())} trials")
        table.add_column("key", style="cyan")
        table.add_column("shorthand")
        table.add_column("values")
        for key, values, short in zip(self.keys, self.vals, self.shorthands, strict=True):
            table.add_row(key, short, ", ".join(map(str, values)))
        (console or Console()).print(table)

    def run(
        self,
        algo: str | Callable,
        workers: int = 1,
        backend: str = "local",
        ray_address: str | None = None,
        cpus_per_trial: float = 1.0,
        overwrite: bool = False,
        console: Console | None = None,
        trials: list[Trial] | None = None,
    ) -> list[Trial]:
        """Run every trial; returns them with their final status.

        ``algo`` is a spinrl algorithm name, or a picklable top-level function called as
        ``fn(output_dir=..., **values)``. With an algorithm name every variant is checked
        against its Config before anything starts. ``trials``: these trials of the grid as
        planned (the command line adds preset fields to them) instead of ``self.trials()``.
        """
        trials = self.trials() if trials is None else trials
        if backend == "ray":
            check_ray_address(ray_address)
        if isinstance(algo, str):
            check_algo_values(algo, trials)
        for trial in trials:
            if not overwrite and is_completed(trial.run_dir):
                trial.status, trial.message = "skipped", "completed earlier"
        pending = [t for t in trials if t.status == "queued"]
        console = console or Console()
        if backend == "local":
            _run_local(algo, pending, trials, max(1, workers), console)
        elif backend == "ray":
            _run_ray(algo, pending, trials, ray_address, workers, cpus_per_trial, console)
        else:
            raise ConfigError(f"backend must be 'local' or 'ray', got {backend!r}")
        console.print(summary_table(trials))
        return trials


def check_algo_values(algo: str, trials: list[Trial]) -> None:
    from spinrl.algos import ALGOS

    if algo not in ALGOS:
        raise ConfigError(f"unknown algorithm {algo!r}; choose one of {', '.join(ALGOS)}")
    for trial in trials:
        ALGOS[algo].validate(build_config(ALGOS[algo].Config, trial.values))


def is_completed(run_dir: Path) -> bool:
    try:
        return read_json(run_dir / STATUS).get("status") == "completed"
    except SpinrlError:
        return False


def run_trial(algo, values: dict, run_dir: str, verbose: bool = False, inline: bool = False) -> str:
    """Run one trial in this process, from scratch: train, then mark it completed; on an
    exception write error.txt with the traceback. Returns "completed" or "FAILED".

    ``inline`` (a single run from the command line): bad input and interrupts are raised
    after being recorded, so the command can report them and exit with their status."""
    run_dir = Path(run_dir)
    prepare_run_dir(run_dir, overwrite=True)
    (run_dir / ERROR).unlink(missing_ok=True)
    (run_dir / STATUS).unlink(missing_ok=True)
    start = time.time()
    try:
        if isinstance(algo, str):
            from spinrl.algos import ALGOS

            module = ALGOS[algo]
            cfg = build_config(module.Config, values)
            module.train(cfg, output_dir=str(run_dir), verbose=verbose)
        else:
            algo(output_dir=str(run_dir), **values)
    except BaseException as e:
        atomic_write_text(run_dir / ERROR, traceback.format_exc())
        status = "interrupted" if isinstance(e, TrainingInterrupted) else "FAILED"
        write_json(run_dir / STATUS, {"status": status, "seconds": time.time() - start})
        if inline and isinstance(e, KeyboardInterrupt | SpinrlError):
            raise
        return "FAILED"
    write_json(run_dir / STATUS, {"status": "completed", "seconds": time.time() - start})
    return "completed"


def _latest_steps(run_dir: Path) -> int:
    """TotalEnvInteracts of the last row of progress.csv (0 if none yet)."""
    try:
        steps = read_progress(run_dir / PROGRESS).get("TotalEnvInteracts")
    except OSError:
        return 0
    return int(steps[-1]) if steps is not None and len(steps) and steps[-1] == steps[-1] else 0


def _finish(trial: Trial, exitcode: int | None) -> None:
    trial.seconds = time.time() - trial.started
    try:  # the trial's own clock, without the time it waited in a queue (Ray)
        trial.seconds = float(read_json(trial.run_dir / STATUS)["seconds"])
    except (SpinrlError, KeyError, TypeError, ValueError):
        pass
    if exitcode == 0 and is_completed(trial.run_dir):
        trial.status = "completed"
        return
    trial.status = "FAILED"
    error = trial.run_dir / ERROR
    if error.exists():
        lines = error.read_text().strip().splitlines()
        trial.message = lines[-1] if lines else "failed"
    else:  # the process died without a word: killed, or crashed in C
        if exitcode and exitcode < 0:
            how = f"killed by signal {signal.Signals(-exitcode).name}"
        else:  # most often: a script without an if __name__ == "__main__": guard
            how = (
                f"exited with status {exitcode} before training started (a script that "
                "runs a grid needs if __name__ == '__main__':)"
            )
        trial.message = how
        atomic_write_text(error, f"the trial process {how}\n")


def _progress_table(trials: list[Trial]) -> Table:
    counts = {s: sum(t.status == s for t in trials) for s in ("completed", "running", "FAILED")}
    queued = sum(t.status == "queued" for t in trials)
    skipped = sum(t.status == "skipped" for t in trials)
    table = Table(
        title=f"done {counts['completed']}  running {counts['running']}  failed "
        f"{counts['FAILED']}  queued {queued}  skipped {skipped}  (of {len(trials)})"
    )
    table.add_column("running trial", style="cyan")
    table.add_column("env steps", justify="right")
    table.add_column("seconds", justify="right")
    for t in trials:
        if t.status == "running":
            table.add_row(t.name, str(t.steps), f"{time.time() - t.started:.0f}")
    return table


def summary_table(trials: list[Trial]) -> Table:
    table = Table(title="grid summary")
    table.add_column("trial", style="cyan")
    table.add_column("status")
    table.add_column("seconds", justify="right")
    table.add_column("note")
    styles = {"completed": "green", "FAILED": "bold red", "skipped": "dim"}
    for t in trials:
        style = styles.get(t.status, "")
        table.add_row(
            t.name, f"[{style}]{t.status}[/]" if style else t.status, f"{t.seconds:.1f}", t.message
        )
    return table


def _run_local(algo, pending, trials, workers, console) -> None:
    ctx = multiprocessing.get_context("spawn")  # no fork of a process with threads
    queue = list(pending)
    running: dict[int, tuple[Trial, multiprocessing.Process]] = {}
    with Live(
        _progress_table(trials), console=console, refresh_per_second=4, transient=True
    ) as live:
        while queue or running:
            while queue and len(running) < workers:
                trial = queue.pop(0)
                proc = ctx.Process(target=run_trial, args=(algo, trial.values, str(trial.run_dir)))
                proc.start()
                trial.status, trial.started = "running", time.time()
                running[proc.pid] = (trial, proc)
            for pid, (trial, proc) in list(running.items()):
                trial.steps = _latest_steps(trial.run_dir)
                if not proc.is_alive():
                    proc.join()
                    _finish(trial, proc.exitcode)
                    del running[pid]
            live.update(_progress_table(trials))
            time.sleep(0.2)


def check_ray_address(address: str | None, timeout: float = 5.0) -> None:
    """ConfigError within ``timeout`` seconds if a HOST:PORT Ray address cannot be reached
    (Ray itself retries for minutes, printing internal warnings). "auto" and None are left to
    Ray, which finds the local cluster or starts one."""
    if not address or address == "auto":
        return
    import socket

    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ConfigError(f"--ray-address must be auto or HOST:PORT, got {address!r}")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as e:
        reason = e.strerror or type(e).__name__
        raise ConfigError(f"cannot reach a Ray cluster at {address}: {reason}") from None


def _run_ray(algo, pending, trials, address, workers, cpus_per_trial, console):
    try:
        import ray
    except ImportError:
        raise ConfigError("the ray backend needs Ray: pip install 'spinrl[ray]'") from None
    started_here = not ray.is_initialized()
    if started_here:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(
                num_cpus=max(workers, 1) * cpus_per_trial,
                include_dashboard=False,
                log_to_driver=False,
            )
    remote = ray.remote(num_cpus=cpus_per_trial, max_retries=0)(run_trial)
    try:
        refs = {}
        for trial in pending:
            ref = remote.remote(algo, trial.values, str(trial.run_dir))
            refs[ref] = trial
            trial.status, trial.started = "running", time.time()
        with Live(
            _progress_table(trials), console=console, refresh_per_second=4, transient=True
        ) as live:
            while refs:
                done, _ = ray.wait(list(refs), timeout=0.2)
                for ref in done:
                    trial = refs.pop(ref)
                    try:
                        ray.get(ref)
                        _finish(trial, 0)
                    except Exception as e:  # the worker died or the task could not run
                        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
                        atomic_write_text(
                            trial.run_dir / ERROR, f"ray task failed: {type(e).__name__}: {first}\n"
                        )
                        _finish(trial, 1)
                for trial in refs.values():
                    trial.steps = _latest_steps(trial.run_dir)
                live.update(_progress_table(trials))
    finally:
        if started_here:
            ray.shutdown()
