"""PPO speed: spinrl and Stable-Baselines3 side by side, in one invocation.

1. CartPole-v1, wall time until the task is solved and stays solved: the mean of the last 20
   training episodes reaches 475 and is still >= 475 at the end of every epoch (every
   rollout, for SB3) over the next HOLD = 10,000 env steps; the clock stops when the hold is
   confirmed. 3 seeds each: SB3 with the rl-baselines3-zoo tuned hyperparameters against
   spinrl with the same settings (its tuned table) and with its own defaults. All get the
   zoo's budget of 100k steps; a run that is not solved by then counts its full time and is
   marked.
2. HalfCheetah-v5 training throughput (env steps per second over whole epochs, rollout and
   update, from the end of the first epoch to the end of the last, so start-up is left out)
   with identical hyperparameters: 1 env, 2048 steps per rollout, minibatch 64,
   10 epochs, lr 3e-4, no normalisation; spinrl also with 8 envs.

Every trial runs in a fresh Python process, one at a time, with torch on 1 thread.
Usage: .venv/bin/python benchmarks/ppo_speed.py [--seeds 3] [--cheetah-epochs 6]
Needs the bench extra: .venv/bin/pip install -c constraints.txt -e '.[bench]'
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from machine import cpu

RESULTS = Path(__file__).parent / "results"
SOLVED, WINDOW, BUDGET, HOLD = 475.0, 20, 100_000, 10_000


class Hold:
    """Solved and held: the mean of the last WINDOW episodes >= SOLVED at every check from
    the first one that reached it until HOLD env steps later (a check below resets it)."""

    def __init__(self) -> None:
        self.since: int | None = None

    def check(self, returns: list[float], steps: int) -> bool:
        import numpy as np

        if len(returns) >= WINDOW and np.mean(returns[-WINDOW:]) >= SOLVED:
            self.since = steps if self.since is None else self.since
            return steps - self.since >= HOLD
        self.since = None
        return False


def _sb3_cartpole(seed: int) -> dict:
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    hold, solved, stopped = Hold(), [False], []

    class Stop(BaseCallback):  # checked once per rollout, as spinrl checks once per epoch
        def _on_step(self) -> bool:
            return not solved[0]

        def _on_rollout_end(self) -> None:
            eps = [e["r"] for e in self.model.ep_info_buffer]
            solved[0] = hold.check(eps, self.model.num_timesteps)
            if solved[0]:  # the clock stops here; SB3 still runs one more update
                stopped.append(time.perf_counter())

    def linear(v):
        return lambda remaining: remaining * v

    start = time.perf_counter()
    env = make_vec_env("CartPole-v1", n_envs=8, seed=seed)
    model = PPO(
        "MlpPolicy",
        env,
        n_steps=32,
        batch_size=256,
        gae_lambda=0.8,
        gamma=0.98,
        n_epochs=20,
        ent_coef=0.0,
        learning_rate=linear(1e-3),
        clip_range=linear(0.2),
        seed=seed,
        device="cpu",
    )
    model.learn(BUDGET, callback=Stop())
    return {
        "seconds": (stopped[0] if stopped else time.perf_counter()) - start,
        "steps": model.num_timesteps,
        "solved": solved[0],
    }


def _spinrl_cartpole(seed: int, preset: str | None = None) -> dict:
    import spinrl

    history: list[float] = []
    hold, solved = Hold(), [False]

    def check(run) -> bool:
        history.extend(run.last_episode_returns)
        solved[0] = hold.check(history, int(run.last_row["TotalEnvInteracts"]))
        return solved[0]

    start = time.perf_counter()
    result = spinrl.ppo(
        env="CartPole-v1",
        seed=seed,
        total_steps=BUDGET,
        verbose=False,
        callback=check,
        preset=preset,
    )
    return {
        "seconds": time.perf_counter() - start,
        "steps": result.last_row["TotalEnvInteracts"],
        "solved": solved[0],
    }


def _spinrl_tuned_cartpole(seed: int) -> dict:
    return _spinrl_cartpole(seed, "tuned")


def _sb3_cheetah(epochs: int, num_envs: int) -> dict:
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    starts: list[float] = []

    class Clock(BaseCallback):  # a rollout starts right after the previous update ends
        def _on_rollout_start(self) -> None:
            starts.append(time.perf_counter())

        def _on_step(self) -> bool:
            return True

    env = make_vec_env("HalfCheetah-v5", n_envs=num_envs, seed=0)
    model = PPO(
        "MlpPolicy",
        env,
        n_steps=2048 // num_envs,
        batch_size=64,
        n_epochs=10,
        learning_rate=3e-4,
        seed=0,
        device="cpu",
    )
    model.learn(epochs * 2048, callback=Clock())
    return _steady_rate(starts[1], time.perf_counter(), epochs)


def _spinrl_cheetah(epochs: int, num_envs: int) -> dict:
    import spinrl

    ends: list[float] = []
    spinrl.ppo(
        env="HalfCheetah-v5",
        num_envs=num_envs,
        steps_per_epoch=2048,
        minibatch_size=64,
        update_epochs=10,
        pi_lr=3e-4,
        vf_lr=3e-4,
        anneal_lr=False,
        epochs=epochs,
        normalize_obs=False,
        normalize_reward=False,
        verbose=False,
        callback=lambda session: ends.append(time.perf_counter()),
    )
    return _steady_rate(ends[0], ends[-1], epochs)


def _steady_rate(first_epoch_end: float, last_epoch_end: float, epochs: int) -> dict:
    """Steps per second over epochs 2..E (rollout and update), leaving out start-up."""
    steps, seconds = (epochs - 1) * 2048, last_epoch_end - first_epoch_end
    return {"seconds": seconds, "steps": steps, "steps_per_s": steps / seconds}


TRIALS = {
    "sb3_cartpole": _sb3_cartpole,
    "spinrl_cartpole": _spinrl_cartpole,
    "spinrl_tuned_cartpole": _spinrl_tuned_cartpole,
    "sb3_cheetah": _sb3_cheetah,
    "spinrl_cheetah": _spinrl_cheetah,
}


def run_trial(name: str, *args) -> dict:
    """Run one trial in a fresh interpreter and return what it measured."""
    cmd = [sys.executable, __file__, "--trial", json.dumps([name, *args])]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"trial {name}{args} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--cheetah-epochs", type=int, default=6)
    parser.add_argument("--trial", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.trial:
        import torch

        torch.set_num_threads(1)
        name, *trial_args = json.loads(args.trial)
        print(json.dumps(TRIALS[name](*trial_args)))
        return

    from rich.console import Console
    from rich.table import Table

    console = Console()
    cart = {"sb3": [], "spinrl_tuned": [], "spinrl": []}
    for seed in range(args.seeds):
        for fw in cart:
            r = run_trial(f"{fw}_cartpole", seed)
            cart[fw].append(r)
            console.print(
                f"CartPole {fw} seed {seed}: {r['seconds']:.2f} s, {r['steps']} steps"
                f"{'' if r['solved'] else ' (NOT SOLVED)'}"
            )
    cheetah = {}
    for label, fw, n in (
        ("sb3, 1 env", "sb3", 1),
        ("spinrl, 1 env", "spinrl", 1),
        ("spinrl, 8 envs", "spinrl", 8),
    ):
        cheetah[label] = run_trial(f"{fw}_cheetah", args.cheetah_epochs, n)
        console.print(f"HalfCheetah {label}: {cheetah[label]['steps_per_s']:.0f} steps/s")

    med = {fw: statistics.median(r["seconds"] for r in runs) for fw, runs in cart.items()}
    lines = [
        "# PPO speed: spinrl vs Stable-Baselines3",
        "",
        f"Machine: {cpu()}; torch on 1 thread, "
        f"{time.strftime('%Y-%m-%d')}. Each trial in a fresh process, run one at a time.",
        "",
        f"## CartPole-v1: wall time until the mean of the last {WINDOW} episodes >= {SOLVED:g} "
        f"and stays there for {HOLD:,} more env steps",
        "",
        "| framework | hyperparameters | "
        + " | ".join(f"seed {s}" for s in range(args.seeds))
        + " | median |",
        "|---|---|" + "---|" * (args.seeds + 1),
    ]
    hp = {"sb3": "rl-zoo tuned", "spinrl_tuned": "the same (preset tuned)", "spinrl": "defaults"}
    for fw, runs in cart.items():
        cells = [
            f"{r['seconds']:.2f} s ({r['steps'] / 1000:.0f}k{'' if r['solved'] else '*'})"
            for r in runs
        ]
        lines.append(f"| {fw} | {hp[fw]} | " + " | ".join(cells) + f" | {med[fw]:.2f} s |")
    ratio = med["sb3"] / med["spinrl"]
    ratio_same = med["sb3"] / med["spinrl_tuned"]
    lines += [
        "",
        f"**Median time to solved-and-held: spinrl's defaults take 1/{ratio:.2f} of SB3's, "
        f"spinrl with SB3's own settings 1/{ratio_same:.2f}.** "
        "(k: env steps used; *: not solved and held within the 100k budget, full time "
        "counted)",
        "",
        "## HalfCheetah-v5: training steps per second, identical hyperparameters",
        "",
        "| run | steps | seconds | steps/s | ratio to SB3 |",
        "|---|---|---|---|---|",
    ]
    base = cheetah["sb3, 1 env"]["steps_per_s"]
    for label, r in cheetah.items():
        lines.append(
            f"| {label} | {r['steps']} | {r['seconds']:.1f} | {r['steps_per_s']:.0f} "
            f"| {r['steps_per_s'] / base:.2f}x |"
        )
    text = "\n".join(lines) + "\n"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ppo_speed.md").write_text(text)
    table = Table(title="PPO speed (ratios against SB3 measured in this run)")
    for col in ("workload", "SB3", "spinrl", "ratio"):
        table.add_column(col)
    for label, key, r in (
        ("defaults", "spinrl", ratio),
        ("zoo settings", "spinrl_tuned", ratio_same),
    ):
        table.add_row(
            f"CartPole time to 475 held, median ({label})",
            f"{med['sb3']:.2f} s",
            f"{med[key]:.2f} s",
            f"{r:.2f}x faster",
        )
    for label in ("spinrl, 1 env", "spinrl, 8 envs"):
        sps = cheetah[label]["steps_per_s"]
        table.add_row(
            f"HalfCheetah steps/s ({label})", f"{base:.0f}", f"{sps:.0f}", f"{sps / base:.2f}x"
        )
    console.print(table)
    console.print(f"written to {RESULTS / 'ppo_speed.md'}")


if __name__ == "__main__":
    main()
