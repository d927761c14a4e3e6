"""Off-policy speed: SAC and TD3 in spinrl and Stable-Baselines3, side by side.

HalfCheetah-v5, SB3's defaults made identical on both sides: batch 256, one gradient step
per env step, (256, 256) ReLU networks, tau 0.005 (polyak 0.995), gamma 0.99; SAC with
automatic entropy tuning and lr 3e-4, TD3 with lr 1e-3, policy delay 2, target noise 0.2
clipped at 0.5. Both take 500 random steps first; the figure is env steps per second over
the steps after that (every one of which does a gradient step). Every trial runs in a fresh
process, one at a time, torch on 1 thread; the libraries alternate and each reports its
median of --repeats trials.

The ceiling: SB3's time per step over the time spinrl's matrix products take alone, the
ratio spinrl would reach if nothing but the products cost anything; the target is that spinrl
reaches 75% of it, i.e. that everything else costs at most a third of the products' time. The
products' time is measured twice: as their kernels' self time under torch.profiler, and as the
wall time of the same products (recorded shapes and strides) replayed alone; the smaller one
(the harder target) makes the ceiling.

--baseline DIR adds a third contestant, spinrl imported from another source tree (e.g. a
``git worktree`` of an earlier commit: ``--baseline ../old/src``), measured in the same run
and alternated with the others: before and after a change, on one machine, in one table.

Usage: .venv/bin/python benchmarks/offpolicy_speed.py [--steps 1000] [--repeats 3]
    [--baseline DIR]
Needs the bench extra: .venv/bin/pip install -c constraints.txt -e '.[bench]'
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from machine import cpu

RESULTS = Path(__file__).parent / "results"
WARMUP = 500


def _sb3(algo: str, steps: int) -> dict:
    from stable_baselines3 import SAC, TD3
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    marks: list[float] = []

    class Clock(BaseCallback):
        def _on_step(self) -> bool:
            if self.model.num_timesteps == WARMUP:
                marks.append(time.perf_counter())
            return True

    env = make_vec_env("HalfCheetah-v5", n_envs=1, seed=0)
    common = dict(
        batch_size=256,
        learning_starts=WARMUP,
        train_freq=1,
        gradient_steps=1,
        tau=0.005,
        gamma=0.99,
        seed=0,
        device="cpu",
        policy_kwargs={"net_arch": [256, 256]},
    )
    if algo == "sac":
        model = SAC("MlpPolicy", env, learning_rate=3e-4, **common)
    else:
        model = TD3("MlpPolicy", env, learning_rate=1e-3, **common)
    model.learn(WARMUP + steps, callback=Clock())
    seconds = time.perf_counter() - marks[0]
    # Two gradient steps (one delayed actor step for TD3) under the FLOP counter.
    flops = _flops_per_update(lambda: model.train(gradient_steps=2, batch_size=256)) / 2
    return {"steps": steps, "seconds": seconds, "steps_per_s": steps / seconds, "flops": flops}


GEMMS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm")


def _flops_per_update(fn) -> float:
    """Floating-point operations of the matrix products that fn runs (torch's counter:
    mm, addmm, bmm, baddbmm, forward and backward)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return float(counter.get_total_flops())


def _gemm_seconds(fn, repeats: int = 10, kernels: tuple[str, ...] = GEMMS) -> float:
    """Seconds that fn spends inside matrix-product kernels (torch profiler, self time),
    averaged over repeats."""
    from torch.profiler import ProfilerActivity, profile

    fn()  # warm
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(repeats):
            fn()
    micros = sum(e.self_cpu_time_total for e in prof.key_averages() if e.key in kernels)
    return micros * 1e-6 / repeats


def _gemm_wall_seconds(fn, repeats: int = 50) -> float:
    """Wall time of the matrix products that fn runs, replayed alone: every mm, addmm, bmm
    and baddbmm is recorded (operator, shapes, strides, scalars) once, then called again on
    fresh random tensors of the same layout, with nothing between them. Averaged per call of
    fn. The cross-check of _gemm_seconds that needs no profiler."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    ops = {getattr(torch.ops.aten, name[6:]).default for name in GEMMS}
    calls: list = []

    class Record(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if func in ops:
                calls.append((func, [_layout(a) for a in args], kwargs))
            return func(*args, **kwargs)

    with Record():
        fn()
    replay = [(func, [_like(a) for a in args], kwargs) for func, args, kwargs in calls]

    def products():
        for func, args, kwargs in replay:
            func(*args, **kwargs)

    for _ in range(5):
        products()
    times = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(repeats):
            products()
        times.append((time.perf_counter() - start) / repeats)
    return sorted(times)[len(times) // 2]


def _layout(arg):
    import torch

    return (tuple(arg.shape), arg.stride()) if isinstance(arg, torch.Tensor) else arg


def _like(arg):
    """A random tensor with the recorded shape and strides (expanded dims included)."""
    import torch

    if not (isinstance(arg, tuple) and len(arg) == 2 and isinstance(arg[1], tuple)):
        return arg
    shape, stride = arg
    storage = 1 + sum((n - 1) * st for n, st in zip(shape, stride, strict=True))
    return torch.randn(storage).as_strided(shape, stride)


def _gemm_rate() -> float:
    """FLOP/s of this core on a 256 x 256 x 256 float32 matrix product, the networks'
    largest layer at batch 256: the fastest rate the updates' products can run at."""
    import torch

    torch.set_num_threads(1)  # as in the trials
    a, b = torch.randn(256, 256), torch.randn(256, 256)
    for _ in range(20):
        a @ b
    n, start = 200, time.perf_counter()
    for _ in range(n):
        a @ b
    return 2 * 256**3 * n / (time.perf_counter() - start)


def _spinrl(algo: str, steps: int) -> dict:
    import numpy as np

    import spinrl

    ends: list[float] = []
    kwargs = dict(
        env="HalfCheetah-v5",
        steps_per_epoch=WARMUP,
        epochs=1 + steps // WARMUP,
        start_steps=WARMUP,
        update_after=WARMUP,
        update_every=1,
        batch_size=256,
        polyak=0.995,
        gamma=0.99,
        hid=(256, 256),
        num_test_episodes=0,
        verbose=False,
        callback=lambda view: ends.append(time.perf_counter()),
    )
    if algo == "sac":
        result = spinrl.sac(lr=3e-4, **kwargs)
    else:
        result = spinrl.td3(pi_lr=1e-3, q_lr=1e-3, **kwargs)
    seconds = ends[-1] - ends[0]
    done = (len(ends) - 1) * WARMUP
    rng = np.random.default_rng(0)

    def two_updates():
        for _ in range(2):
            result.agent.update(result.replay.sample(256, rng))

    flops = _flops_per_update(two_updates) / 2
    gemm = _gemm_seconds(two_updates) / 2
    return {
        "steps": done,
        "seconds": seconds,
        "steps_per_s": done / seconds,
        "flops": flops,
        "gemm_seconds": gemm,
        "gemm_wall_seconds": _gemm_wall_seconds(two_updates) / 2,
    }


def _median_trial(trials: list[dict]) -> dict:
    """The trial with the median speed, its per-step figures reported together."""
    ranked = sorted(trials, key=lambda t: t["steps_per_s"])
    return {**ranked[len(ranked) // 2], "all": [round(t["steps_per_s"], 1) for t in trials]}


def run_trial(framework: str, algo: str, steps: int, baseline: str | None = None) -> dict:
    """One trial in a fresh process; "baseline" is spinrl imported from ``baseline``."""
    cmd = [sys.executable, __file__, "--trial", json.dumps([framework, algo, steps])]
    env = dict(os.environ)
    if framework == "baseline":
        env["PYTHONPATH"] = os.pathsep.join([baseline, env.get("PYTHONPATH", "")])
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{framework} {algo} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _row(algo: str, name: str, sb3: dict, ours: dict) -> str:
    """One table row: speed, ratio, the products' time both ways, ceiling and share."""
    ratio = ours["steps_per_s"] / sb3["steps_per_s"]
    gemm = min(ours["gemm_seconds"], ours["gemm_wall_seconds"])
    # Were everything but the matrix products free, a spinrl step would take `gemm`.
    ceiling = 1 / sb3["steps_per_s"] / gemm
    return (
        f"| {algo} | {name} | {ours['steps_per_s']:.1f} | {ratio:.2f}x "
        f"| {ours['gemm_seconds'] * 1e3:.2f} / {ours['gemm_wall_seconds'] * 1e3:.2f} ms "
        f"({ours['flops'] / gemm / 1e9:.0f} GFLOP/s) | {ceiling:.2f}x | {ratio / ceiling:.0%} "
        f"| {ours['flops'] / 1e6:.0f} | {ours['all']} |"
    )


def _name(tree: str) -> str:
    """The commit a baseline source tree is checked out at, or its path outside git."""
    done = subprocess.run(
        ["git", "-C", tree, "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return done.stdout.strip() if done.returncode == 0 else tree


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3, help="trials per library")
    parser.add_argument("--baseline", help="a spinrl source tree to measure too (its src/)")
    parser.add_argument("--trial", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.trial:
        import torch

        torch.set_num_threads(1)
        framework, algo, steps = json.loads(args.trial)
        print(json.dumps((_sb3 if framework == "sb3" else _spinrl)(algo, steps)))
        return
    if args.baseline and not (Path(args.baseline) / "spinrl" / "__init__.py").exists():
        parser.error(f"--baseline {args.baseline} has no spinrl/__init__.py")
    rate = _gemm_rate()
    contestants = ["sb3", "spinrl"] + (["baseline"] if args.baseline else [])
    rows = []
    for algo in ("sac", "td3"):
        # Alternate the libraries and keep each one's median trial: a drift in the machine's
        # speed during the run then falls on all sides alike.
        trials: dict[str, list[dict]] = {name: [] for name in contestants}
        for _ in range(args.repeats):
            for name in contestants:
                trials[name].append(run_trial(name, algo, args.steps, args.baseline))
        medians = {name: _median_trial(trials[name]) for name in contestants}
        rows.append((algo, medians))
        print(
            f"{algo}: "
            + ", ".join(f"{n} {m['steps_per_s']:.1f} steps/s" for n, m in medians.items())
        )
    lines = [
        "# Off-policy speed: spinrl vs Stable-Baselines3 (HalfCheetah-v5)",
        "",
        f"Machine: {cpu()}; torch on 1 thread, "
        f"{time.strftime('%Y-%m-%d')}. One gradient step per env step, batch 256, (256, 256); "
        f"env steps per second over {args.steps} steps after {WARMUP} random ones; median of "
        f"{args.repeats} alternating trials per library (all trials in the last column).",
        "",
        "| algorithm | library | steps/s | ratio to SB3 "
        "| matrix products per update: profiler / replayed alone | ceiling on the ratio "
        "| share of the ceiling (target >= 75%) | MFLOP per update | trials |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for algo, medians in rows:
        sb3 = medians["sb3"]
        lines.append(
            f"| {algo} | SB3 | {sb3['steps_per_s']:.1f} | 1 | | | | {sb3['flops'] / 1e6:.0f} "
            f"| {sb3['all']} |"
        )
        lines.append(_row(algo, "spinrl", sb3, medians["spinrl"]))
        if "baseline" in medians:
            lines.append(_row(algo, f"spinrl at {_name(args.baseline)}", sb3, medians["baseline"]))
    lines += [
        "",
        "FLOPs: torch.utils.flop_counter over two updates (one delayed actor step for TD3), "
        "halved. The matrix products' time is measured twice in the median trial's process: "
        "their kernels' self time under torch.profiler, and the wall time of the same products "
        "(recorded shapes and strides) replayed alone. The smaller makes the ceiling: SB3's "
        "time per step over it, the ratio spinrl would reach if the environment, acting, "
        "sampling, Adam and the activations cost nothing. The share is the ratio over the "
        "ceiling, i.e. the products' part of spinrl's time per step. For scale, this core "
        f"multiplies two 256 x 256 matrices at {rate / 1e9:.0f} GFLOP/s (float32, measured in "
        "this run).",
    ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "offpolicy_speed.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
