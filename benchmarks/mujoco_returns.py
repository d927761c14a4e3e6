"""Returns on MuJoCo: final average return of spinrl's algorithms, with learning curves.

For each (algorithm, task, seed) it trains for --steps env steps and records the mean return
of the last 100 training episodes. Runs train in data/bench/<algo>_<task>/... (resumable);
a finished run's summary and learning curve (a few kB) are copied to
results/runs/<algo>_<task>/<algo>_<task>_s<seed>/, which is committed, since data/ (the
checkpoints and replay buffers) does not outlive the machine it ran on. Runs kept there are
skipped. The table (results/mujoco_returns.md) and one learning-curve PNG per task are drawn
from results/runs/ alone.

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
from pathlib import Path

from pool import in_order

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


RUNS = RESULTS / "runs"
# The progress.csv columns kept in results/runs/ (the full log has ~30 more per epoch).
KEPT_COLUMNS = ("Epoch", "TotalEnvInteracts", "AverageEpRet", "AverageTestEpRet", "Time")
# Curves drawn before results/runs/ existed, from runs whose logs were lost with their
# machine: kept as images, linked under the task's plot. {png: caption}
ARCHIVED = {
    "mujoco_halfcheetah_offpolicy_seed0.png": "HalfCheetah-v5, seed 0 of SAC, TD3 and DDPG",
    "mujoco_hopper_offpolicy_seed0.png": "Hopper-v5, seed 0 of TD3",
}


def _run_dir(algo: str, env: str, seed: int, root: Path | None = None) -> Path:
    """<root>/<algo>_<task>/<algo>_<task>_s<seed>, e.g. data/bench/sac_hopper/sac_hopper_s0;
    root defaults to DATA."""
    exp = f"{algo}_{env.split('-')[0].lower()}"
    return (DATA if root is None else root) / exp / f"{exp}_s{seed}"


def _keep(summary: dict) -> dict:
    """Copy a finished run's summary and its curve's columns from data/bench to results/runs
    (each file written to a temporary name and renamed); off-policy summaries gain "last5",
    the mean AverageTestEpRet of the last 5 epochs."""
    from spinrl.checkpoint import atomic_write_text, write_json

    key = (summary["algo"], summary["env"], summary["seed"])
    with open(_run_dir(*key) / "progress.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    columns = [c for c in KEPT_COLUMNS if c in rows[0]]
    if summary["algo"] in OFF_POLICY:
        last = rows[-5:]
        summary = summary | {"last5": statistics.mean(float(r["AverageTestEpRet"]) for r in last)}
    kept = _run_dir(*key, root=RUNS)
    kept.mkdir(parents=True, exist_ok=True)
    table = [",".join(columns)] + [",".join(row[c] for c in columns) for row in rows]
    atomic_write_text(kept / "progress.csv", "\n".join(table) + "\n")
    write_json(kept / "final.json", summary)
    return summary


def run_one(algo: str, env: str, seed: int, steps: int) -> dict:
    import numpy as np
    import torch

    import spinrl
    from spinrl.logger import prepare_run_dir

    torch.set_num_threads(1)
    kept = _run_dir(algo, env, seed, root=RUNS) / "final.json"
    if kept.exists():
        return json.loads(kept.read_text())
    run_dir = _run_dir(algo, env, seed)
    summary = run_dir / "final.json"
    if summary.exists():  # finished before it could be kept
        return _keep(json.loads(summary.read_text()))
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
    return _keep(out)


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
        help="train nothing: write the table and plots from the runs kept in results/runs",
    )
    args = parser.parse_args()
    if not args.report:
        jobs = [(a, e, s, args.steps) for a in args.algos for e in args.envs for s in args.seeds]
        in_order(run_one, jobs, args.workers)
    # The table and plots cover every run kept in results/runs, whatever this invocation
    # trained, so runs made one at a time (and across sessions and machines) add up.
    results = [
        json.loads(f.read_text())
        for a in ALGOS
        for e in TASKS
        for f in sorted(_run_dir(a, e, 0, root=RUNS).parent.glob("*/final.json"))
    ]
    report(results)


def report(results: list[dict]) -> None:
    from spinrl.plot import plot

    envs = [e for e in TASKS if any(r["env"] == e for r in results)]
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
        per_seed = ", ".join(f"{f:.0f} (s{r['seed']})" for f, r in zip(finals, rs, strict=True))
        last5 = f"{statistics.mean(r['last5'] for r in rs):.0f}" if algo in OFF_POLICY else "-"
        lines.append(
            f"| {algo} | {env} | {steps:,} | {len(rs)} | "
            f"{statistics.mean(finals):.0f} {spread} | {per_seed} | {last5} | "
            f"{_published(algo, env, 'CleanRL')} | {_published(algo, env, 'Spinning Up')} |"
        )
    lost = [r for r in results if "recovered_from" in r]
    if lost:
        lines += [
            "",
            f"{len(lost)} of these {len(results)} runs were trained before their logs were kept "
            "in results/runs; their numbers come from this table as it was committed "
            f"({lost[0]['recovered_from']}), and their curves only survive as the images "
            "drawn then.",
        ]
    for env in envs:
        name = env.split("-")[0].lower()
        for kind, value, suffix in (
            ("on", "AverageEpRet", ""),
            ("off", "AverageTestEpRet", "_offpolicy"),
        ):
            rs = [
                r
                for r in results
                if r["env"] == env and (r["algo"] in OFF_POLICY) == (kind == "off")
            ]
            kept = [_run_dir(r["algo"], env, r["seed"], root=RUNS) for r in rs]
            curves = [d for d in kept if (d / "progress.csv").exists()]
            out = f"mujoco_{name}{suffix}.png"
            if curves:
                refs = _references(results, env, name)
                plot(curves, values=[value], out=RESULTS / out, smoothing=2, references=refs)
            if (RESULTS / out).exists():
                drawn = f"{len(curves)} of {len(rs)} runs" if curves else "logs not kept"
                lines.append(f"\n![{env} ({kind}-policy), {drawn}]({out})")
            for png, caption in ARCHIVED.items():
                if png.startswith(f"mujoco_{name}{suffix}_seed") and (RESULTS / png).exists():
                    lines.append(f"\n![{caption} (logs not kept)]({png})")
    (RESULTS / "mujoco_returns.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


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
