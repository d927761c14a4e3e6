"""Returns on MuJoCo: final average return of spinrl's algorithms, with learning curves.

For each (algorithm, task, seed) it trains for --steps env steps and records the mean return
of the last 100 training episodes. Runs go to data/bench/<algo>_<task>/... (resumable:
finished runs are skipped), the table to results/mujoco_returns.md and one learning-curve
PNG per task to results/.

Published figures for comparison (PUBLISHED below), each at the step count it is quoted at:
- CleanRL ppo_continuous_action.py at 1M steps (CleanRL docs, PPO MuJoCo v4 benchmark):
  HalfCheetah 1443, Hopper 2383, Walker2d 2288 (the figures quoted in the spinrl issue).
- Spinning Up PyTorch at 3M (PPO) and 300k (SAC, TD3, DDPG) steps: read off the curves of
  its benchmarks page (docs/images/plots/pyt/pytorch_<task>_performance.svg in
  openai/spinningup: the SVG's path coordinates mapped through its axis ticks). v3 tasks,
  10 seeds, off-policy curves = test return of the deterministic policy, smoothed over 11
  epochs of 10k steps.
- CleanRL sac/td3/ddpg_continuous_action.py at 300k: read off the curves in its docs
  (docs/rl-algorithms/{sac,td3}/<Task>-v2.png and ddpg-jax/HalfCheetah-v2.png, the PyTorch
  curve; pixel positions of the curve mapped through the gridlines and tick marks). v2 tasks,
  "episodic return" = training episodes, with exploration noise.
Reading a curve is good to about +-100 here; the tasks' versions differ from v5 too.

Usage: .venv/bin/python benchmarks/mujoco_returns.py --algos ppo --envs HalfCheetah-v5 \\
           --seeds 0 1 2 --steps 1000000 --workers 2
       .venv/bin/python benchmarks/mujoco_returns.py --algos sac td3 --envs HalfCheetah-v5 \\
           --steps 300000 --workers 1      # hours per run; rerun to resume unfinished runs
       .venv/bin/python benchmarks/mujoco_returns.py --report   # the table from what is on disk
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
DATA = Path("data/bench")
TASKS = ("HalfCheetah-v5", "Hopper-v5", "Walker2d-v5")
# (algorithm, task) -> {source: (return, steps, task version)}; sources: module docstring.
PUBLISHED = {
    ("ppo", "HalfCheetah-v5"): {
        "CleanRL": (1443, 1_000_000, "v4"),
        "Spinning Up": (3260, 3_000_000, "v3"),
    },
    ("ppo", "Hopper-v5"): {
        "CleanRL": (2383, 1_000_000, "v4"),
        "Spinning Up": (2480, 3_000_000, "v3"),
    },
    ("ppo", "Walker2d-v5"): {
        "CleanRL": (2288, 1_000_000, "v4"),
        "Spinning Up": (2600, 3_000_000, "v3"),
    },
    ("sac", "HalfCheetah-v5"): {
        "CleanRL": (7920, 300_000, "v2"),
        "Spinning Up": (9160, 300_000, "v3"),
    },
    ("sac", "Hopper-v5"): {"CleanRL": (2340, 300_000, "v2"), "Spinning Up": (2890, 300_000, "v3")},
    ("td3", "HalfCheetah-v5"): {
        "CleanRL": (7010, 300_000, "v2"),
        "Spinning Up": (7630, 300_000, "v3"),
    },
    ("td3", "Hopper-v5"): {"CleanRL": (1410, 300_000, "v2"), "Spinning Up": (2400, 300_000, "v3")},
    ("ddpg", "HalfCheetah-v5"): {
        "CleanRL": (6980, 300_000, "v2"),
        "Spinning Up": (7760, 300_000, "v3"),
    },
}
SETTINGS = {"ppo": {"preset": "mujoco"}, "trpo": {"normalize_obs": True}}
SETTINGS |= {"sac": {}, "td3": {}, "ddpg": {}}  # Spinning Up's defaults
ALGOS = tuple(SETTINGS)
# Off-policy runs take hours on this CPU (one gradient step per env step): they checkpoint
# every epoch and a later invocation resumes an unfinished one instead of starting over.
# Their final return is the last epoch's AverageTestEpRet (10 deterministic test episodes).
OFF_POLICY = frozenset({"sac", "td3", "ddpg"})


def _run_dir(algo: str, env: str, seed: int) -> Path:
    """data/bench/<algo>_<task>/<algo>_<task>_s<seed>, e.g. .../sac_hopper/sac_hopper_s0."""
    exp = f"{algo}_{env.split('-')[0].lower()}"
    return DATA / exp / f"{exp}_s{seed}"


def run_one(algo: str, env: str, seed: int, steps: int) -> dict:
    import numpy as np
    import torch

    import spinrl
    from spinrl.logger import prepare_run_dir

    torch.set_num_threads(1)
    run_dir = _run_dir(algo, env, seed)
    summary = run_dir / "final.json"
    if summary.exists():
        return json.loads(summary.read_text())
    history: list[float] = []

    def record(session) -> bool:
        history.extend(session.last_episode_returns)
        return False

    resume = algo in OFF_POLICY and (run_dir / "model.pt").exists()
    if not resume:
        prepare_run_dir(run_dir, overwrite=True)
    start = time.time()
    getattr(spinrl, algo)(
        env=env,
        seed=seed,
        total_steps=steps,
        output_dir=str(run_dir),
        verbose=False,
        callback=record,
        resume=resume,
        **SETTINGS[algo],
    )
    if algo in OFF_POLICY:
        with open(run_dir / "progress.csv") as f:
            final = float(list(csv.DictReader(f))[-1]["AverageTestEpRet"])
    else:
        final = float(np.mean(history[-100:]))
    out = {
        "algo": algo,
        "env": env,
        "seed": seed,
        "steps": steps,
        "final_return": final,
        "hours": (time.time() - start) / 3600,  # of the last invocation, when resumed
    }
    summary.write_text(json.dumps(out))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algos", nargs="+", default=["ppo", "trpo"])
    parser.add_argument("--envs", nargs="+", default=list(TASKS[:2]))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--report",
        action="store_true",
        help="train nothing: write the table and plots from the finished runs on disk",
    )
    args = parser.parse_args()
    if not args.report:
        jobs = [(a, e, s, args.steps) for a in args.algos for e in args.envs for s in args.seeds]
        with ProcessPoolExecutor(args.workers) as pool:
            list(pool.map(run_one, *zip(*jobs, strict=True)))
    # The table and plots cover every finished run on disk, whatever this invocation
    # trained, so runs made one at a time (and across sessions) add up to one report.
    args.envs = list(TASKS)
    results = [
        json.loads(f.read_text())
        for a in ALGOS
        for e in args.envs
        for f in sorted((DATA / f"{a}_{e.split('-')[0].lower()}").glob("*/final.json"))
    ]
    args.algos = [a for a in ALGOS if any(r["algo"] == a for r in results)]
    args.envs = [e for e in args.envs if any(r["env"] == e for r in results)]

    from spinrl.plot import plot

    RESULTS.mkdir(parents=True, exist_ok=True)
    lines = [
        "# MuJoCo returns",
        "",
        "Final return = mean of the last 100 training episodes for PPO and TRPO; the last "
        "epoch's AverageTestEpRet (10 deterministic episodes) for SAC, TD3 and DDPG. PPO uses "
        "`--preset mujoco`, TRPO its defaults with observation normalisation, the off-policy "
        "algorithms Spinning Up's defaults. For the off-policy algorithms the last column but "
        "two is the test return averaged over the last 5 epochs (20k steps) of each run, then "
        "over runs: closer to Spinning Up's curves, which average 11 epochs.",
        "",
        "| algorithm | task | steps | seeds | final return (mean +- std) | per seed "
        "| last 5 epochs | CleanRL (at steps) | Spinning Up (at steps) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    groups = sorted({(ALGOS.index(r["algo"]), r["env"], r["steps"]) for r in results})
    for a, env, steps in groups:
        algo = ALGOS[a]
        rs = [r for r in results if (r["algo"], r["env"], r["steps"]) == (algo, env, steps)]
        finals = [r["final_return"] for r in rs]
        spread = f"+- {statistics.stdev(finals):.0f}" if len(finals) > 1 else "(one run)"
        per_seed = ", ".join(f"{f:.0f}" for f in finals)
        last5 = "-"
        if algo in OFF_POLICY:
            last5 = f"{statistics.mean(_last_epochs(r, 5) for r in rs):.0f}"
        lines.append(
            f"| {algo} | {env} | {steps:,} | {len(rs)} | "
            f"{statistics.mean(finals):.0f} {spread} | {per_seed} | {last5} | "
            f"{_published(algo, env, 'CleanRL')} | {_published(algo, env, 'Spinning Up')} |"
        )
    for env in args.envs:
        name = env.split("-")[0].lower()
        for kind, value, suffix in (
            ("on", "AverageEpRet", ""),
            ("off", "AverageTestEpRet", "_offpolicy"),
        ):
            runs = [  # finished runs only: one still training would cut the curves short
                _run_dir(r["algo"], env, r["seed"])
                for r in results
                if r["env"] == env and (r["algo"] in OFF_POLICY) == (kind == "off")
            ]
            if runs:
                out = f"mujoco_{name}{suffix}.png"
                refs = _references(results, env, name)
                plot(runs, values=[value], out=RESULTS / out, smoothing=2, references=refs)
                lines.append(f"\n![{env} ({kind}-policy)]({out})")
    (RESULTS / "mujoco_returns.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _last_epochs(result: dict, n: int) -> float:
    """Mean AverageTestEpRet of a finished off-policy run's last n epochs."""
    with open(_run_dir(result["algo"], result["env"], result["seed"]) / "progress.csv") as f:
        rows = list(csv.DictReader(f))
    return statistics.mean(float(row["AverageTestEpRet"]) for row in rows[-n:])


def _published(algo: str, env: str, source: str) -> str:
    value = PUBLISHED.get((algo, env), {}).get(source)
    if not value:
        return "-"
    steps = value[1]  # the task's version is in the legend of the plots
    return f"{value[0]} ({steps / 1e6:g}M)" if steps >= 1e6 else f"{value[0]} ({steps // 1000}k)"


def _references(results: list[dict], env: str, name: str) -> dict:
    """The published points to mark on a task's plot, per curve: those at step counts the
    runs on the plot reach (a 3M figure would stretch a 1M plot's axis)."""
    refs: dict[str, list] = {}
    for r in results:
        if r["env"] != env:
            continue
        for source, (value, steps, version) in PUBLISHED.get((r["algo"], env), {}).items():
            point = (f"{source} ({version})", steps, value)
            curve = refs.setdefault(f"{r['algo']}_{name}", [])
            if steps <= r["steps"] and point not in curve:
                curve.append(point)
    return refs


if __name__ == "__main__":
    main()
