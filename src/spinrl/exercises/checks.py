"""What every exercise's checks share: the result of one check, and how a wrong output is
recognised.

A check compares the learner's output with the right one, computed by spinrl's own tested
functions on random inputs. When they differ, the output is compared with the outputs that
known mistakes produce (the right answer with the log 2 pi term dropped, with the sign
flipped, summed over the wrong axis, ...); the first that matches names the mistake in the
hint. No match gives the generic hint of the check.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch


@dataclass
class Check:
    """One line of ``spinrl exercise check``: what was expected, what came, and a hint."""

    name: str
    passed: bool
    expected: str
    got: str
    hint: str = ""

    def line(self) -> str:
        mark = "PASS" if self.passed else "FAIL"
        text = f"{mark}  {self.name}: expected {self.expected}, got {self.got}"
        return text if self.passed or not self.hint else f"{text}; hint: {self.hint}"

    def to_dict(self) -> dict:
        return asdict(self)


Mistake = tuple[str, object]
"""(hint, the output that mistake gives): compared with the learner's output in order."""


def as_array(value) -> np.ndarray:
    """A float64 numpy array from a tensor (detached), an array, a number or a list."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float64)


def show(value) -> str:
    """A short text for a number or an array: its shape and its first entries."""
    try:
        a = as_array(value)
    except (TypeError, ValueError):
        return repr(value)[:60]
    if a.ndim == 0:
        return f"{float(a):.6g}"
    flat = ", ".join(f"{x:.4g}" for x in a.reshape(-1)[:3])
    more = ", ..." if a.size > 3 else ""
    return f"shape {list(a.shape)} [{flat}{more}]"


def close(a, b, rtol: float = 1e-5, atol: float = 1e-6) -> bool:
    try:
        a, b = as_array(a), as_array(b)
    except (TypeError, ValueError):
        return False
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol))


def failed_call(name: str, expected, error: BaseException) -> Check:
    """The check of a call that raised: a stub not yet written, or a bug that crashed."""
    if isinstance(error, NotImplementedError):
        return Check(name, False, show(expected), "NotImplementedError", "write the function body")
    text = f"{type(error).__name__}: {error}".splitlines()[0][:160]
    return Check(name, False, show(expected), text, "your code raised an error on this input")


def compare(
    name: str,
    call: Callable[[], object],
    expected,
    mistakes: Sequence[Mistake] = (),
    hint: str = "",
    rtol: float = 1e-5,
    atol: float = 1e-6,
) -> Check:
    """Run ``call()`` (the learner's function on this check's input) and compare its result
    with ``expected``; on a mismatch, name the first mistake whose output it equals."""
    try:
        got = call()
    except Exception as e:  # the learner's code: anything may come out of it
        return failed_call(name, expected, e)
    return judge(name, got, expected, mistakes, hint, rtol, atol)


def judge(name, got, expected, mistakes=(), hint="", rtol=1e-5, atol=1e-6) -> Check:
    """The check of an output already computed (see compare)."""
    if close(got, expected, rtol, atol):
        return Check(name, True, show(expected), show(got))
    for mistake_hint, output in mistakes:
        if close(got, output, rtol, atol):
            return Check(name, False, show(expected), show(got), mistake_hint)
    try:
        shape_got, shape_want = as_array(got).shape, as_array(expected).shape
    except (TypeError, ValueError):
        return Check(name, False, show(expected), show(got), "return an array of numbers")
    if shape_got != shape_want:
        shape_hint = f"the result must have shape {list(shape_want)}, not {list(shape_got)}"
        return Check(name, False, show(expected), show(got), shape_hint)
    return Check(name, False, show(expected), show(got), hint)


def learner_function(module, name: str):
    """The learner's function, or a failing check saying it is missing."""
    fn = getattr(module, name, None)
    if callable(fn):
        return fn, None
    return None, [Check(f"a function named {name}", False, name, "nothing", f"define {name}")]


def skipped(name: str, reason: str) -> Check:
    return Check(name, False, "to run", "not run", reason)


def pendulum_config(algo, steps_per_epoch: int, epochs: int, start_steps: int, seed: int = 0):
    """The validated Config of ``algo`` (spinrl.algos.td3 or .ddpg) for a training check on
    Pendulum-v1: random actions and no updates for the first ``start_steps``, 5 test
    episodes an epoch."""
    cfg = algo.Config(
        env="Pendulum-v1",
        steps_per_epoch=steps_per_epoch,
        epochs=epochs,
        start_steps=start_steps,
        update_after=start_steps,
        num_test_episodes=5,
        seed=seed,
    )
    algo.validate(cfg)
    return cfg


def train_until(algo: str, cfg, make_agent, threshold: float, loop_class=None) -> list[float]:
    """AverageTestEpRet per epoch of an off-policy run of ``cfg`` whose agent is
    ``make_agent(obs_space, act_space)`` (spinrl's, with the learner's piece plugged in),
    stopping once it reaches ``threshold``."""
    from spinrl.offpolicy import train_off_policy

    history: list[float] = []

    def reached(run) -> bool:
        history.append(float(run.last_row["AverageTestEpRet"]))
        return history[-1] >= threshold

    args = (None, None, False, False, reached)
    train_off_policy(algo, cfg, make_agent, *args, loop_class=loop_class)
    return history


def learns(name: str, threshold: float, train: Callable[[], list[float]], hint: str) -> Check:
    """The check that ``train()`` (a run with the learner's piece) reaches ``threshold`` at
    some epoch; ``hint`` is shown when it does not."""
    try:
        history = train()
    except Exception as e:
        return failed_call(name, threshold, e)
    best = max(history)
    ok = best >= threshold
    got = f"{best:.1f} after {len(history)} epochs"
    return Check(name, ok, f">= {threshold:g}", got, "" if ok else hint)
