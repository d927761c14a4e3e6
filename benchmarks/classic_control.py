"""Learning curves on the classic-control tasks, for every algorithm, with its defaults.

- VPG, TRPO and PPO on CartPole-v1 for 100k steps with their default Configs; final return =
  mean of the last 20 training episodes (CartPole's ceiling is 500).
- DDPG, TD3 and SAC on Pendulum-v1 for 20k steps with their defaults except a shorter
  warm-up (start_steps = update_after = 1000, epochs of 1000 steps, 5 test episodes, as in
  the test suite): the defaults' 10k random steps would be half of this budget. Final
  return = the last epoch's AverageTestEpRet (deterministic policy; about -150 is solved).

Runs go to data/bench/classic/<algo>_<task>/... (resumable: finished runs are skipped), the
table to results/classic_control.md and one PNG per task to results/. Each run uses torch on
1 thread; --workers runs that many at a time.

Usage: .venv/bin/python benchmarks/classic_control.py [--seeds 0 1 2] [--workers 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from pool import in_order

RESULTS = Path(__file__).parent / "results"
DATA = Path("data/bench/classic")
OFF_POLICY = dict(steps_per_epoch=1000, start_steps=1000, update_after=1000, num_test_episodes=5)
SETUPS = {  # algo: (env, steps, overrides, what "final" means)
    "vpg": ("CartPole-v1", 100_000, {}, "AverageEpRet"),
    "trpo": ("CartPole-v1", 100_000, {}, "AverageEpRet"),
    "ppo": ("CartPole-v1", 100_000, {}, "AverageEpRet"),
    "ddpg": ("Pendulum-v1", 20_000, OFF_POLICY, "AverageTestEpRet"),
    "td3": ("Pendulum-v1", 20_000, OFF_POLICY, "AverageTestEpRet"),
    "sac": ("Pendulum-v1", 20_000, OFF_POLICY, "AverageTestEpRet"),
}


def _exp(algo: str) -> str:
    return f"{algo}_{SETUPS[algo][0].split('-')[0].lower()}"


def run_one(algo: str, seed: int) -> dict:
    import numpy as np
    import torch

    import spinrl
    from spinrl.logger import prepare_run_dir

    torch.set_num_threads(1)
    env, steps, overrides, key = SETUPS[algo]
    run_dir = DATA / _exp(algo) / f"{_exp(algo)}_s{seed}"
    summary = run_dir / "final.json"
    if summary.exists():
        return json.loads(summary.read_text())
    episodes: list[float] = []
    rows: list[float] = []

    def record(session) -> bool:
        episodes.extend(session.last_episode_returns)
        rows.append(session.last_row.get(key, float("nan")))
        return False

    prepare_run_dir(run_dir, overwrite=True)
    start = time.time()
    getattr(spinrl, algo)(
        env=env,
        seed=seed,
        total_steps=steps,
        output_dir=str(run_dir),
        verbose=False,
        callback=record,
        **overrides,
    )
    final = float(np.mean(episodes[-20:])) if key == "AverageEpRet" else float(rows[-1])
    out = {"algo": algo, "env": env, "seed": seed, "steps": steps, "final": final}
    out["minutes"] = (time.time() - start) / 60
    summary.write_text(json.dumps(out))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algos", nargs="+", default=list(SETUPS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    jobs = [(a, s) for a in args.algos for s in args.seeds]
    results = in_order(run_one, jobs, args.workers)

    from spinrl.plot import plot

    lines = [
        "# Classic control: every algorithm with its defaults",
        "",
        "CartPole-v1: final return = mean of the last 20 training episodes (ceiling 500). "
        "Pendulum-v1: final return = the last epoch's AverageTestEpRet (deterministic policy, "
        "5 episodes), with start_steps = update_after = 1000.",
        "",
        "| algorithm | task | steps | seeds | final return (mean +- std) | per seed | minutes |",
        "|---|---|---|---|---|---|---|",
    ]
    for algo in args.algos:
        rs = [r for r in results if r["algo"] == algo]
        finals = [r["final"] for r in rs]
        spread = statistics.stdev(finals) if len(finals) > 1 else 0.0
        lines.append(
            f"| {algo} | {rs[0]['env']} | {rs[0]['steps']:,} | {len(rs)} | "
            f"{statistics.mean(finals):.0f} +- {spread:.0f} | "
            f"{', '.join(f'{f:.0f}' for f in finals)} | "
            f"{statistics.mean(r['minutes'] for r in rs):.1f} |"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    for env, value in (("CartPole-v1", "AverageEpRet"), ("Pendulum-v1", "AverageTestEpRet")):
        algos = [a for a in args.algos if SETUPS[a][0] == env]
        if not algos:
            continue
        name = env.split("-")[0].lower()
        runs = [DATA / _exp(a) / f"{_exp(a)}_s{s}" for a in algos for s in args.seeds]
        plot(runs, values=[value], out=RESULTS / f"classic_{name}.png", smoothing=1)
        lines.append(f"\n![{env}](classic_{name}.png)")
    (RESULTS / "classic_control.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
