"""Off-policy speed: SAC and TD3 in spinrl and Stable-Baselines3, side by side.

HalfCheetah-v5, SB3's defaults made identical on both sides: batch 256, one gradient step
per env step, (256, 256) ReLU networks, tau 0.005 (polyak 0.995), gamma 0.99; SAC with
automatic entropy tuning and lr 3e-4, TD3 with lr 1e-3, policy delay 2, target noise 0.2
clipped at 0.5. Both take 500 random steps first; the figure is env steps per second over
the steps after that (every one of which does a gradient step). Every trial runs in a fresh
process, one at a time, torch on 1 thread; the libraries alternate and each reports its
median of --repeats trials.

Usage: .venv/bin/python benchmarks/offpolicy_speed.py [--steps 1000] [--repeats 3]
Needs the bench extra: .venv/bin/pip install -c constraints.txt -e '.[bench]'
"""

from __future__ import annotations

import argparse
import json
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
    }


def _median_trial(trials: list[dict]) -> dict:
    """The trial with the median speed, its per-step figures reported together."""
    ranked = sorted(trials, key=lambda t: t["steps_per_s"])
    return {**ranked[len(ranked) // 2], "all": [round(t["steps_per_s"], 1) for t in trials]}


def run_trial(framework: str, algo: str, steps: int) -> dict:
    cmd = [sys.executable, __file__, "--trial", json.dumps([framework, algo, steps])]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{framework} {algo} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3, help="trials per library")
    parser.add_argument("--trial", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.trial:
        import torch

        torch.set_num_threads(1)
        framework, algo, steps = json.loads(args.trial)
        print(json.dumps((_sb3 if framework == "sb3" else _spinrl)(algo, steps)))
        return
    rate = _gemm_rate()
    rows = []
    for algo in ("sac", "td3"):
        # Alternate the two libraries and keep each one's median trial: a drift in the
        # machine's speed during the run then falls on both sides alike.
        trials: dict[str, list[dict]] = {"sb3": [], "spinrl": []}
        for _ in range(args.repeats):
            for framework in trials:
                trials[framework].append(run_trial(framework, algo, args.steps))
        sb3, ours = (_median_trial(trials[f]) for f in ("sb3", "spinrl"))
        rows.append((algo, sb3, ours))
        print(
            f"{algo}: SB3 {sb3['steps_per_s']:.1f} steps/s, spinrl {ours['steps_per_s']:.1f} "
            f"steps/s, ratio {ours['steps_per_s'] / sb3['steps_per_s']:.2f}x"
        )
    lines = [
        "# Off-policy speed: spinrl vs Stable-Baselines3 (HalfCheetah-v5)",
        "",
        f"Machine: {cpu()}; torch on 1 thread, "
        f"{time.strftime('%Y-%m-%d')}. One gradient step per env step, batch 256, (256, 256); "
        f"env steps per second over {args.steps} steps after {WARMUP} random ones; median of "
        f"{args.repeats} alternating trials per library (all trials in the last column).",
        "",
        "| algorithm | SB3 steps/s | spinrl steps/s | ratio (target >= 2x) "
        "| MFLOP per update SB3 / spinrl | spinrl's matrix products per update "
        "| ceiling on the ratio | trials SB3 / spinrl |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for algo, sb3, ours in rows:
        ratio = ours["steps_per_s"] / sb3["steps_per_s"]
        gemm = ours["gemm_seconds"]
        # Were everything but the matrix products free, a spinrl step would take `gemm`.
        ceiling = 1 / sb3["steps_per_s"] / gemm
        lines.append(
            f"| {algo} | {sb3['steps_per_s']:.1f} | {ours['steps_per_s']:.1f} | {ratio:.2f}x "
            f"| {sb3['flops'] / 1e6:.0f} / {ours['flops'] / 1e6:.0f} "
            f"| {gemm * 1e3:.1f} ms ({ours['flops'] / gemm / 1e9:.0f} GFLOP/s) | {ceiling:.2f}x "
            f"| {sb3['all']} / {ours['all']} |"
        )
    lines += [
        "",
        "FLOPs: torch.utils.flop_counter over two updates (one delayed actor step for TD3), "
        "halved. The matrix products' time is their kernels' self time under torch.profiler "
        "in the same process. The ceiling is SB3's time per step over that time: the ratio "
        "spinrl would reach if the environment, acting, sampling, Adam and the activations "
        f"cost nothing. For scale, this core multiplies two 256 x 256 matrices at "
        f"{rate / 1e9:.0f} GFLOP/s (float32, measured in this run).",
    ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "offpolicy_speed.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
