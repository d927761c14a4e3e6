"""DQN speed: spinrl and Stable-Baselines3, side by side, with identical hyperparameters.

CartPole-v1 with rl-baselines3-zoo's DQN settings on both sides: lr 2.3e-3, batch 64,
buffer 100k, 1000 random steps first, gamma 0.99, target update every 10 env steps (hard
copies), 128 gradient steps every 256 env steps, epsilon from 1 to 0.04 over 16% of the
run, (256, 256) ReLU, Huber loss, gradient norm clipped at 10, one env. spinrl runs with
``double=False``: SB3's DQN has only the plain max target. The figure is env steps per
second over the steps after the random ones (update phases included), with no test
episodes on either side. Every trial runs in a fresh process, one at a time, torch on 1
thread; the libraries alternate and each reports its median of --repeats trials.

Usage: .venv/bin/python benchmarks/dqn_speed.py [--steps 10000] [--repeats 3]
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
WARMUP = 1000
ZOO = dict(lr=2.3e-3, batch=64, buffer=100_000, gamma=0.99, target=10, train_freq=256,
           gradient_steps=128, fraction=0.16, final_eps=0.04, net=(256, 256))  # fmt: skip


def _sb3(steps: int) -> dict:
    from stable_baselines3 import DQN
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    marks: list[float] = []

    class Clock(BaseCallback):
        def _on_step(self) -> bool:
            if self.model.num_timesteps == WARMUP:
                marks.append(time.perf_counter())
            return True

    model = DQN(
        "MlpPolicy",
        make_vec_env("CartPole-v1", n_envs=1, seed=0),
        learning_rate=ZOO["lr"],
        batch_size=ZOO["batch"],
        buffer_size=ZOO["buffer"],
        learning_starts=WARMUP,
        gamma=ZOO["gamma"],
        target_update_interval=ZOO["target"],
        train_freq=ZOO["train_freq"],
        gradient_steps=ZOO["gradient_steps"],
        exploration_fraction=ZOO["fraction"],
        exploration_final_eps=ZOO["final_eps"],
        policy_kwargs={"net_arch": list(ZOO["net"])},
        seed=0,
        device="cpu",
    )
    model.learn(WARMUP + steps, callback=Clock())
    seconds = time.perf_counter() - marks[0]
    return {"steps": steps, "seconds": seconds, "steps_per_s": steps / seconds}


def _spinrl(steps: int) -> dict:
    import spinrl

    ends: list[float] = []
    spinrl.dqn(
        env="CartPole-v1",
        steps_per_epoch=WARMUP,
        epochs=1 + steps // WARMUP,
        start_steps=WARMUP,
        update_after=WARMUP,
        update_every=ZOO["train_freq"],
        gradient_steps=ZOO["gradient_steps"],
        q_lr=ZOO["lr"],
        batch_size=ZOO["batch"],
        replay_size=ZOO["buffer"],
        gamma=ZOO["gamma"],
        target_update_every=ZOO["target"],
        polyak=0.0,
        exploration_fraction=ZOO["fraction"],
        eps_end=ZOO["final_eps"],
        hid=ZOO["net"],
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
    done = (len(ends) - 1) * WARMUP
    seconds = ends[-1] - ends[0]
    return {"steps": done, "seconds": seconds, "steps_per_s": done / seconds}


def _median_trial(trials: list[dict]) -> dict:
    ranked = sorted(trials, key=lambda t: t["steps_per_s"])
    return {**ranked[len(ranked) // 2], "all": [round(t["steps_per_s"], 1) for t in trials]}


def run_trial(framework: str, steps: int) -> dict:
    cmd = [sys.executable, __file__, "--trial", json.dumps([framework, steps])]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{framework} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3, help="trials per library")
    parser.add_argument("--note", default="", help="a sentence on the machine's load, kept")
    parser.add_argument("--trial", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.trial:
        import torch

        torch.set_num_threads(1)
        framework, steps = json.loads(args.trial)
        print(json.dumps((_sb3 if framework == "sb3" else _spinrl)(steps)))
        return
    # Alternate the two libraries and keep each one's median trial: a drift in the machine's
    # speed during the run then falls on both sides alike.
    trials: dict[str, list[dict]] = {"sb3": [], "spinrl": []}
    for _ in range(args.repeats):
        for framework in trials:
            trials[framework].append(run_trial(framework, args.steps))
    sb3, ours = (_median_trial(trials[f]) for f in ("sb3", "spinrl"))
    ratio = ours["steps_per_s"] / sb3["steps_per_s"]
    print(f"SB3 {sb3['steps_per_s']:.0f} steps/s, spinrl {ours['steps_per_s']:.0f}, {ratio:.2f}x")
    lines = [
        "# DQN speed: spinrl vs Stable-Baselines3 (CartPole-v1, the zoo's settings)",
        "",
        f"Machine: {cpu()}; torch on 1 thread, {time.strftime('%Y-%m-%d')}. "
        f"rl-baselines3-zoo's CartPole-v1 DQN settings on both sides (128 gradient steps of "
        f"batch 64 every 256 env steps, (256, 256)), plain max target; env steps per second "
        f"over {args.steps} steps after {WARMUP} random ones; median of {args.repeats} "
        "alternating trials per library (all trials in the last column).",
        "",
        "| SB3 steps/s | spinrl steps/s | ratio (target >= 3x) | trials SB3 / spinrl |",
        "|---|---|---|---|",
        f"| {sb3['steps_per_s']:.0f} | {ours['steps_per_s']:.0f} | {ratio:.2f}x "
        f"| {sb3['all']} / {ours['all']} |",
    ]
    if args.note:
        lines += ["", args.note]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "dqn_speed.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
