"""Part 2's plot: what a model buys in samples and what it costs in compute, on Pendulum-v1.

Five agents, each for the same number of env steps:

- ppo, sac: model-free, their defaults, except SAC's warm-up (1000 random steps, epochs of
  1000 steps, as benchmarks/classic_control.py) and PPO's epochs of 1000 steps.
- mbpo: SAC's update on real and model data, its defaults (1000 random steps).
- pets: the learned ensemble and CEM with trajectory sampling, the slow test's settings
  (tests/test_pets.py PETS_PENDULUM: 3 x 64 members, population 100, horizon 25, 5
  particles, the known reward).
- mpc: the same planner on the true dynamics (pets with model=given): no learning at all.
  The gap between pets and mpc is the model bias.

Each run's test return (the deterministic policy or the planner, 1 episode per epoch of
1000 steps; 200 for pets and mpc, one episode) is plotted against env steps and against
wall-clock seconds. Runs go to data/bench/part2/<agent>/<agent>_s<seed> (a finished run is
skipped), the table to results/part2.md and the plot to results/part2_pendulum.png. Each run
uses torch on 1 thread; timings depend on the CPU and on what else runs on it.

Usage: .venv/bin/python benchmarks/part2.py [--steps 3000] [--seeds 0] [--agents ...]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
DATA = Path("data/bench/part2")
PETS = dict(hid=(64, 64, 64), population=100, elites=10, particles=5, iterations=4,
            horizon=25, reward="known", num_test_episodes=1)  # fmt: skip
AGENTS = {  # agent: (algo, overrides)
    "ppo": ("ppo", dict(steps_per_epoch=1000)),
    "sac": (
        "sac",
        dict(steps_per_epoch=1000, start_steps=1000, update_after=1000, num_test_episodes=1),
    ),
    "mbpo": ("mbpo", dict(num_test_episodes=1)),
    "pets": ("pets", PETS),
    "mpc": ("pets", dict(PETS, model="given", init_steps=0)),
}


def run_one(agent: str, seed: int, steps: int) -> list[dict]:
    """The run's progress rows (env steps, test return, seconds), training it if needed."""
    import torch

    import spinrl
    from spinrl.logger import prepare_run_dir

    torch.set_num_threads(1)
    algo, overrides = AGENTS[agent]
    run_dir = DATA / agent / f"{agent}_s{seed}"
    done = run_dir / "done.json"
    if not (done.exists() and json.loads(done.read_text())["steps"] == steps):
        prepare_run_dir(run_dir, overwrite=True)
        getattr(spinrl, algo)(env="Pendulum-v1", seed=seed, total_steps=steps,
                              output_dir=str(run_dir), verbose=False, **overrides)  # fmt: skip
        done.write_text(json.dumps({"steps": steps}))
    with open(run_dir / "progress.csv") as f:
        key = "AverageTestEpRet" if algo != "ppo" else "AverageEpRet"
        return [
            {"steps": int(r["TotalEnvInteracts"]), "ret": float(r[key]), "time": float(r["Time"])}
            for r in csv.DictReader(f)
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--agents", nargs="+", default=list(AGENTS), choices=list(AGENTS))
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    curves = {}
    for agent in args.agents:
        for seed in args.seeds:
            start = time.time()
            curves[agent, seed] = run_one(agent, seed, args.steps)
            print(f"{agent} seed {seed}: {time.time() - start:.0f} s", flush=True)
    write(curves, args)


def write(curves: dict, args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lines = [
        f"# Part 2 on Pendulum-v1: {args.steps} env steps, seeds {args.seeds}",
        "",
        "Test return of the last epoch (mean over seeds; PPO: its training episodes), the best",
        "epoch, and the wall-clock seconds of the whole run (`benchmarks/part2.py`; CPU and",
        "load as stated by the run).",
        "",
        "| agent | final test return | mean of the last 5 epochs | best | seconds |",
        "|---|---|---|---|---|",
    ]
    fig, (by_steps, by_time) = plt.subplots(1, 2, figsize=(11, 4))
    for agent in args.agents:
        runs = [curves[agent, seed] for seed in args.seeds]
        # the last epoch that finished an episode (PPO's 8 envs do not finish one every epoch)
        finals = [next((r["ret"] for r in reversed(run) if not math.isnan(r["ret"])), math.nan)
                  for run in runs]  # fmt: skip
        best = [max((r["ret"] for r in run if not math.isnan(r["ret"])), default=math.nan)
                for run in runs]  # fmt: skip
        seconds = [run[-1]["time"] for run in runs]
        last5 = [statistics.mean(r["ret"] for r in run[-5:] if not math.isnan(r["ret"]))
                 for run in runs]  # fmt: skip
        lines.append(
            f"| {agent} | {statistics.mean(finals):.1f} | {statistics.mean(last5):.1f} "
            f"| {statistics.mean(best):.1f} | {statistics.mean(seconds):.0f} |"
        )
        for i, run in enumerate(runs):
            label = agent if i == 0 else None
            color = f"C{args.agents.index(agent)}"
            steps, rets = [r["steps"] for r in run], [r["ret"] for r in run]
            by_steps.plot(steps, rets, "o-", color=color, label=label)
            by_time.plot([r["time"] for r in run], rets, "o-", color=color, label=label)
    by_steps.set(xlabel="env steps", ylabel="test return", title="samples")
    by_time.set(xlabel="wall-clock seconds", xscale="log", title="compute")
    by_steps.legend()
    fig.tight_layout()
    fig.savefig(out / "part2_pendulum.png", dpi=100)
    (out / "part2.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
