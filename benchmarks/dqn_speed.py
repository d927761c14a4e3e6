"""DQN speed: spinrl and Stable-Baselines3, side by side, with identical hyperparameters.

Two workloads, rl-baselines3-zoo's DQN settings on both sides, one env, plain DQN (SB3's
DQN has only the max target: spinrl runs with ``double=False`` and no dueling head, no
prioritized replay, 1-step returns), Huber loss, gradient norm clipped at 10:

- cartpole: CartPole-v1, lr 2.3e-3, batch 64, buffer 100k, target update every 10 env steps,
  128 gradient steps every 256 env steps, epsilon 1 -> 0.04 over 16% of the run, (256, 256).
- atari: ALE/Breakout-v5 through spinrl's Atari preprocessing (84x84 grey, 4 frames stacked,
  frame skip 4; both libraries get the same Gymnasium env), the zoo's atari entry: Nature CNN
  with a linear head, lr 1e-4, batch 32, buffer 100k, target update every 1000 steps, one
  gradient step every 4 env steps, epsilon to 0.01 over 10% of 10M steps.

The figure is env steps per second over the steps after the random ones (update phases
included), with no test episodes on either side. Every trial runs in a fresh process, one
at a time, torch on 1 thread; the libraries alternate and each reports its median of
--repeats trials. The ceiling column (as benchmarks/offpolicy_speed.py): SB3's time per env
step over spinrl's time in matrix products and convolutions alone (torch.profiler's kernel
self times, per update, times updates per env step), the ratio spinrl would reach if
everything else (the env, acting, sampling, Adam, activations) cost nothing.

Usage: .venv/bin/python benchmarks/dqn_speed.py [--workloads cartpole atari] [--repeats 3]
Needs the bench and atari extras: .venv/bin/pip install -c constraints.txt -e '.[bench,atari]'
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from machine import cpu
from offpolicy_speed import _gemm_seconds

RESULTS = Path(__file__).parent / "results"
# The products' kernels: matrix products and (for the CNN) convolutions, forward and backward.
KERNELS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::mkldnn_convolution",
           "aten::convolution_backward")  # fmt: skip
WORKLOADS = {
    "cartpole": dict(env="CartPole-v1", warmup=1000, steps=10_000, lr=2.3e-3, batch=64,
                     buffer=100_000, target=10, train_freq=256, gradient_steps=128,
                     fraction=0.16, final_eps=0.04, net=(256, 256)),
    "atari": dict(env="ALE/Breakout-v5", warmup=1000, steps=2000, lr=1e-4, batch=32,
                  buffer=100_000, target=1000, train_freq=4, gradient_steps=1, fraction=0.1,
                  final_eps=0.01, net=()),
}  # fmt: skip
BUDGET = {"cartpole": None, "atari": 10_000_000}  # the epsilon schedule's length (None: the run)


def _atari_env(env_id: str):
    from spinrl.envs import make_env

    return make_env(env_id, training=True)


def _sb3(work: dict, name: str) -> dict:
    from stable_baselines3 import DQN
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv

    marks: list[float] = []
    warmup, steps = work["warmup"], work["steps"]

    class Clock(BaseCallback):
        def _on_step(self) -> bool:
            if self.model.num_timesteps == warmup:
                marks.append(time.perf_counter())
            return True

    if name == "atari":
        env, policy = DummyVecEnv([lambda: _atari_env(work["env"])]), "CnnPolicy"
        # the fraction is of 10M steps in the zoo: the same epsilon at every step here
        fraction = work["fraction"] * BUDGET[name] / (warmup + steps)
        kwargs = {}
    else:
        env, policy = make_vec_env(work["env"], n_envs=1, seed=0), "MlpPolicy"
        fraction = work["fraction"]
        kwargs = {"policy_kwargs": {"net_arch": list(work["net"])}}
    model = DQN(
        policy,
        env,
        learning_rate=work["lr"],
        batch_size=work["batch"],
        buffer_size=work["buffer"],
        learning_starts=warmup,
        gamma=0.99,
        target_update_interval=work["target"],
        train_freq=work["train_freq"],
        gradient_steps=work["gradient_steps"],
        exploration_fraction=min(fraction, 1.0),
        exploration_final_eps=work["final_eps"],
        seed=0,
        device="cpu",
        **kwargs,
    )
    model.learn(total_timesteps=warmup + steps, callback=Clock())
    seconds = time.perf_counter() - marks[0]
    gemm = _gemm_seconds(lambda: model.train(gradient_steps=2, batch_size=work["batch"]),
                         kernels=KERNELS) / 2  # fmt: skip
    return {"steps": steps, "seconds": seconds, "steps_per_s": steps / seconds, "gemm": gemm}


def _spinrl(work: dict, name: str) -> dict:
    import numpy as np

    import spinrl

    ends: list[float] = []
    warmup, steps = work["warmup"], work["steps"]
    epochs = 1 + steps // warmup
    fraction = work["fraction"] * (BUDGET[name] or epochs * warmup) / (epochs * warmup)
    result = spinrl.dqn(
        env=work["env"],
        preset="none",
        steps_per_epoch=warmup,
        epochs=epochs,
        start_steps=warmup,
        update_after=warmup,
        update_every=work["train_freq"],
        gradient_steps=work["gradient_steps"],
        q_lr=work["lr"],
        batch_size=work["batch"],
        replay_size=work["buffer"],
        gamma=0.99,
        target_update_every=work["target"],
        polyak=0.0,
        exploration_fraction=min(fraction, 1.0),
        eps_end=work["final_eps"],
        hid=work["net"],
        double=False,  # SB3's DQN: the max target, no dueling head, uniform 1-step replay
        dueling=False,
        prioritized=False,
        n_step=1,
        loss="huber",
        max_grad_norm=10.0,
        num_test_episodes=0,
        verbose=False,
        callback=lambda run: ends.append(time.perf_counter()),
    )
    done = (len(ends) - 1) * warmup
    seconds = ends[-1] - ends[0]
    rng = np.random.default_rng(0)

    def two_updates():
        for _ in range(2):
            result.agent.update(result.replay.sample(work["batch"], rng)[0])

    gemm = _gemm_seconds(two_updates, kernels=KERNELS) / 2
    return {"steps": done, "seconds": seconds, "steps_per_s": done / seconds, "gemm": gemm}


def _median_trial(trials: list[dict]) -> dict:
    ranked = sorted(trials, key=lambda t: t["steps_per_s"])
    return {**ranked[len(ranked) // 2], "all": [round(t["steps_per_s"], 1) for t in trials]}


def run_trial(framework: str, name: str) -> dict:
    cmd = [sys.executable, __file__, "--trial", json.dumps([framework, name])]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{framework} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


TARGET = {"cartpole": 3.0, "atari": 1.5}  # issue 18's targets on the ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=WORKLOADS)
    parser.add_argument("--repeats", type=int, default=3, help="trials per library")
    parser.add_argument("--note", default="", help="a sentence on the machine's load, kept")
    parser.add_argument("--trial", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.trial:
        import torch

        torch.set_num_threads(1)
        framework, name = json.loads(args.trial)
        print(json.dumps((_sb3 if framework == "sb3" else _spinrl)(WORKLOADS[name], name)))
        return
    rows = []
    for name in args.workloads:
        work = WORKLOADS[name]
        # Alternate the two libraries and keep each one's median trial: a drift in the
        # machine's speed during the run then falls on both sides alike.
        trials: dict[str, list[dict]] = {"sb3": [], "spinrl": []}
        for _ in range(args.repeats):
            for framework in trials:
                trials[framework].append(run_trial(framework, name))
        sb3, ours = (_median_trial(trials[f]) for f in ("sb3", "spinrl"))
        ratio = ours["steps_per_s"] / sb3["steps_per_s"]
        per_step = work["gradient_steps"] / work["train_freq"]  # updates per env step
        # the same products in both libraries: the ceiling from each one's own measurement
        ceiling = (1 / sb3["steps_per_s"]) / (ours["gemm"] * per_step)
        ceiling_sb3 = (1 / sb3["steps_per_s"]) / (sb3["gemm"] * per_step)
        speeds = f"SB3 {sb3['steps_per_s']:.0f} steps/s, spinrl {ours['steps_per_s']:.0f}"
        print(f"{name}: {speeds}, {ratio:.2f}x (ceiling {ceiling:.2f}x)", flush=True)
        rows.append(
            f"| {name} ({work['env']}) | {sb3['steps_per_s']:.0f} | {ours['steps_per_s']:.0f} "
            f"| {ratio:.2f}x | {TARGET[name]:.1f}x | {sb3['gemm'] * 1e3:.2f} / "
            f"{ours['gemm'] * 1e3:.2f} ms | {ceiling:.2f}x / {ceiling_sb3:.2f}x "
            f"| {sb3['all']} / {ours['all']} |"
        )
    lines = [
        "# DQN speed: spinrl vs Stable-Baselines3 (the zoo's settings, plain DQN)",
        "",
        f"Machine: {cpu()}; torch on 1 thread, {time.strftime('%Y-%m-%d')}. Env steps per "
        "second after the random warm-up (cartpole: 10,000 steps after 1,000; atari: 2,000 "
        f"after 1,000), median of {args.repeats} alternating trials per library (all trials "
        "in the last column). Products: time per update in matrix products and convolutions "
        "(torch.profiler kernel self time, each library in its own trial process). Ceiling: "
        "SB3's time per env step over the product time per env step, the ratio reachable if "
        "nothing but the products cost time; the two libraries run the same products, so it "
        "is given from spinrl's measurement and from SB3's. Settings and method: "
        "benchmarks/dqn_speed.py.",
        "",
        "| workload | SB3 steps/s | spinrl steps/s | ratio | target | products per update "
        "SB3 / spinrl | ceiling from spinrl's / SB3's products | trials SB3 / spinrl |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
    ]
    if args.note:
        lines += ["", args.note]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "dqn_speed.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
