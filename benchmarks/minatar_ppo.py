"""PPO on MinAtar Breakout from its 10x10x4 boolean frames: does it learn?

Trains ``spinrl train ppo --env MinAtar/Breakout-v1 --preset atari`` (CleanRL's ppo_atari
settings; the encoder chosen by image size is the MinAtar paper's network: one 3x3
convolution of 16 filters, 128 units, then linear heads) for 1M steps per seed, and sets
the learning curves beside a uniformly random policy on the same game. A MinAtar episode
is a whole game and its return the raw score (no reward clipping: MinAtar is not an Atari
id). Final = mean AverageEpRet over the last 10 epochs (10,240 steps).

Runs go to DATA/minatar_breakout_ppo/... (finished runs are skipped), the table to
results/minatar_ppo.md and the curves to results/minatar_breakout_ppo.png.

Usage: .venv/bin/python benchmarks/minatar_ppo.py [--seeds 0 1 2] [--steps 1000000] [--data DIR]
"""

from __future__ import annotations

import argparse
import csv
import statistics
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
ENV = "MinAtar/Breakout-v1"
EXP = "minatar_breakout_ppo"


def train(seeds: list[int], steps: int, data: Path) -> None:
    from spinrl.cli import main

    argv = ["train", "ppo", "--env", ENV, "--preset", "atari", "--total-steps", str(steps)]
    argv += ["--seed", *map(str, seeds), "--data-dir", str(data), "--exp-name", EXP, "--quiet"]
    main(argv)


def random_policy_return(episodes: int = 200) -> float:
    import numpy as np

    from spinrl.envs import make_env

    env = make_env(ENV)
    env.action_space.seed(0)
    returns = []
    for i in range(episodes):
        env.reset(seed=i)
        ret, done = 0.0, False
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            ret, done = ret + float(reward), terminated or truncated
        returns.append(ret)
    env.close()
    return float(np.mean(returns))


def _progress(run: Path) -> dict[str, list[float]]:
    with open(run / "progress.csv") as f:
        rows = list(csv.DictReader(f))
    keys = ("TotalEnvInteracts", "AverageEpRet", "Time")
    return {k: [float(r[k]) if r[k] else float("nan") for r in rows] for k in keys}


def summarize(seeds: list[int], data: Path) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import machine

    runs = {s: _progress(data / EXP / f"{EXP}_s{s}") for s in seeds}
    finals = {s: statistics.fmean(p["AverageEpRet"][-10:]) for s, p in runs.items()}
    random_return = random_policy_return()
    lines = [
        "# PPO on MinAtar Breakout",
        "",
        f"`spinrl train ppo --env {ENV} --preset atari`, 1 thread per run; CPU: {machine.cpu()}",
        "(shared with other jobs while these ran: the times are under contention).",
        "",
        "| seed | steps | final AverageEpRet | minutes |",
        "|---|---|---|---|",
    ]
    for s, p in runs.items():
        steps, minutes = int(p["TotalEnvInteracts"][-1]), p["Time"][-1] / 60
        lines.append(f"| {s} | {steps:,} | {finals[s]:.1f} | {minutes:.1f} |")
    mean = statistics.fmean(finals.values())
    spread = statistics.stdev(finals.values()) if len(finals) > 1 else 0.0
    lines += [
        "",
        f"Over {len(finals)} seeds: {mean:.1f} +- {spread:.1f}; a uniformly random policy "
        f"scores {random_return:.2f} (200 games).",
        "",
        "![PPO on MinAtar Breakout](minatar_breakout_ppo.png)",
        "",
    ]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for s, p in runs.items():
        ax.plot(p["TotalEnvInteracts"], p["AverageEpRet"], lw=1, label=f"seed {s}")
    ax.axhline(random_return, color="grey", ls="--", lw=1, label="random policy")
    ax.set(xlabel="environment steps", ylabel="AverageEpRet", title=f"PPO, {ENV}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(RESULTS / "minatar_breakout_ppo.png", dpi=120)
    text = "\n".join(lines)
    (RESULTS / "minatar_ppo.md").write_text(text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--data", type=Path, default=Path("data/bench/minatar"))
    args = parser.parse_args()
    train(args.seeds, args.steps, args.data)
    print(summarize(args.seeds, args.data))


if __name__ == "__main__":
    main()
