"""Exercises: Spinning Up's problem sets and more, each checked by spinrl.

    spinrl exercise list                 every exercise, its Part, topic and status here
    spinrl exercise start ID [DIR]       write the stub DIR/ex_ID.py (never over a file)
    spinrl exercise check ID FILE        run the checks on your file, one line per check
    spinrl exercise solution ID          print the reference solution

An exercise is one entry of :data:`EXERCISES` plus three files: the stub
(``stubs/ex_ID.py``: the signature and a docstring with the equation, nothing solved), the
reference solution (``solutions/ex_ID.py``) and its checks (a function in one of the
``part*.py`` / ``algorithms.py`` modules that takes the learner's imported module and returns
a list of :class:`~spinrl.exercises.checks.Check`). The checks compare with spinrl's own
tested functions on random inputs, never with the solution file; where the exercise is a
piece of an algorithm, a short training run with the learner's piece plugged in must learn.

The learner's file is imported in a subprocess (``python -m spinrl.exercises.runner``) with
a time limit, so an endless loop or a crash in it cannot take the command down. The outcome of
the last check of each exercise is kept in ``.spinrl-exercises.json`` in the directory where
``check`` ran, which ``list`` reads.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from spinrl.errors import ConfigError

STATUS_FILE = ".spinrl-exercises.json"
CHECK_TIMEOUT_S = 600.0
"""The time limit of one ``check`` (the training runs of the algorithm exercises included)."""


@dataclass(frozen=True)
class Exercise:
    """One exercise. ``checks`` is "module:function" inside spinrl.exercises; ``trains`` says
    whether its checks include a training run (skipped with ``--quick``)."""

    id: str
    part: str
    topic: str
    checks: str
    trains: bool = False

    @property
    def file_name(self) -> str:
        """ex_1_1.py for 1.1, ex_p3_gae.py for p3.gae: the stub's, the solution's, the learner's."""
        return "ex_" + self.id.replace(".", "_") + ".py"


EXERCISES: dict[str, Exercise] = {
    e.id: e
    for e in (
        Exercise("1.1", "Part 1", "the diagonal Gaussian log-likelihood", "part1:gaussian"),
        Exercise("p1.eval", "Part 1", "policy evaluation on FrozenLake-v1", "part1:evaluation"),
        Exercise("p1.vi", "Part 1", "value iteration on FrozenLake-v1", "part1:value_iteration"),
        Exercise(
            "p2.ddqn", "Part 2", "the Double-DQN target (CartPole-v1)", "part2:double_dqn", True
        ),
        Exercise("p2.mpc", "Part 2", "one random-shooting MPC step (Pendulum-v1)", "part2:mpc"),
        Exercise("p3.rtg", "Part 3", "reward-to-go", "part3:reward_to_go"),
        Exercise("p3.eglp", "Part 3", "the EGLP lemma, by Monte Carlo", "part3:eglp"),
        Exercise("p3.gae", "Part 3", "GAE over [T, N], terminated and truncated", "part3:gae"),
        Exercise(
            "p3.pg", "Part 3", "the simplest policy-gradient loss (CartPole-v1)", "part3:pg", True
        ),
        Exercise("1.2", "Algorithms", "PPO's Gaussian actor", "algorithms:ppo_actor", True),
        Exercise("1.3", "Algorithms", "TD3's target and losses", "algorithms:td3_losses", True),
        Exercise(
            "2.1", "Failure modes", "TRPO with and without a learned V", "failures:trpo_value"
        ),
        Exercise("2.2", "Failure modes", "a silent bug in DDPG", "failures:ddpg_bug", True),
    )
}


def get(exercise_id: str) -> Exercise:
    """The exercise, or a ConfigError naming the ids there are."""
    try:
        return EXERCISES[exercise_id]
    except KeyError:
        raise ConfigError(
            f"unknown exercise {exercise_id!r}; choose one of {', '.join(EXERCISES)}"
        ) from None


def stub_text(exercise_id: str) -> str:
    return resources.files(__name__).joinpath("stubs", get(exercise_id).file_name).read_text()


def solution_text(exercise_id: str) -> str:
    return resources.files(__name__).joinpath("solutions", get(exercise_id).file_name).read_text()


def solution_path(exercise_id: str) -> Path:
    return Path(str(resources.files(__name__).joinpath("solutions", get(exercise_id).file_name)))


def start(exercise_id: str, directory: str | os.PathLike = ".") -> Path:
    """Write the stub into ``directory``; a ConfigError if the file is already there."""
    from spinrl.checkpoint import atomic_write_text

    path = Path(directory) / get(exercise_id).file_name
    if path.exists():
        raise ConfigError(f"{path} already exists; check it or remove it to start again")
    if not Path(directory).is_dir():
        raise ConfigError(f"{directory} is not a directory")
    atomic_write_text(path, stub_text(exercise_id))
    return path


def run_checks(exercise_id: str, module, quick: bool = False) -> list:
    """The exercise's checks on an imported module (in this process)."""
    exercise = get(exercise_id)
    module_name, function = exercise.checks.split(":")
    checks_module = importlib.import_module(f"{__name__}.{module_name}")
    return getattr(checks_module, function)(module, quick=quick)


@dataclass
class Outcome:
    """What ``check`` found: the checks' lines, or the one-line reason there are none.

    ``bad_input`` is set when the file did not import (exit status 2, like an unknown id);
    a check that ran past its time limit or died is a failure of the learner's code (1).
    ``printed`` is what the learner's code printed (their prints go to stderr)."""

    checks: list
    error: str | None = None
    bad_input: bool = False
    printed: str = ""

    @property
    def passed(self) -> bool:
        return self.error is None and bool(self.checks) and all(c.passed for c in self.checks)


def check_file(
    exercise_id: str,
    path: str | os.PathLike,
    quick: bool = False,
    timeout_s: float = CHECK_TIMEOUT_S,
) -> Outcome:
    """Import the learner's file in a subprocess with a time limit and run the checks.

    A ConfigError for an unknown id or a missing file; an Outcome with ``error`` set for a file
    that does not import (its one-line reason) or a check that ran past ``timeout_s``.
    """
    from spinrl.exercises.checks import Check

    get(exercise_id)
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path} does not exist")
    command = [sys.executable, "-m", f"{__name__}.runner", exercise_id, str(path.resolve())]
    if quick:
        command.append("--quick")
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as e:
        printed = (
            e.stderr if isinstance(e.stderr, str) else (e.stderr or b"").decode(errors="replace")
        )
        error = f"the check ran past its time limit of {timeout_s:.0f} s"
        return Outcome([], error, printed=printed or "")
    checks = []
    for line in proc.stdout.splitlines():
        record = json.loads(line)
        if "import_error" in record:
            return Outcome([], record["import_error"], bad_input=True, printed=proc.stderr)
        checks.append(Check(**record))
    if not checks:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        error = f"the check stopped without a result (exit status {proc.returncode}): {tail}"
        return Outcome([], error, printed=proc.stderr)
    return Outcome(checks, printed=proc.stderr)


def read_status(directory: str | os.PathLike = ".") -> dict:
    """{exercise id: {"status": "passed" | "failing", "file": ..., "time": ...}}; an empty
    dict when the file is missing or unreadable (it is only a record, never an input)."""
    try:
        data = json.loads((Path(directory) / STATUS_FILE).read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def record_status(exercise_id: str, passed: bool, file: str, directory=".") -> None:
    """Keep the outcome of the last check of ``exercise_id`` (written atomically)."""
    from spinrl.checkpoint import write_json

    status = read_status(directory)
    status[exercise_id] = {
        "status": "passed" if passed else "failing",
        "file": str(file),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    write_json(Path(directory) / STATUS_FILE, status)


def status_of(exercise_id: str, directory=".") -> str:
    entry = read_status(directory).get(exercise_id)
    if isinstance(entry, dict) and entry.get("status") in ("passed", "failing"):
        return entry["status"]
    return "not started"
