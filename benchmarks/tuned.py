"""The tuned table against the figures it comes from: every listed (algorithm, env) pair,
3 seeds, the zoo's budget or less, deterministic evaluation as the zoo reports.

For each cell of spinrl.presets.TUNED (the classic-control and Box2D tasks; the MuJoCo rows
are measured by mujoco_returns.py) and each seed, trains with ``preset="tuned"`` for
min(zoo budget, --max-steps) env steps, then evaluates the final policy deterministically
for --eval-episodes episodes on an env seeded apart from training. A finished run's
summary (budget, steps, seconds, evaluation returns, and the learning curve: env steps and
AverageEpRet per epoch) is kept in results/runs/tuned/<algo>_<env>_s<seed>.json, which is
committed, so the table survives the machine; kept runs are not trained again.

A cell *reaches the zoo's figure* when the mean over seeds of the per-seed evaluation mean
is at least the zoo's mean minus the zoo's standard deviation (rl-baselines3-zoo's
benchmark.md: one trained agent, evaluated for ~150k steps; the std is over its episodes).

    .venv/bin/python benchmarks/tuned.py --algos ppo --max-steps 1000000 --workers 2
    .venv/bin/python benchmarks/tuned.py --cells ppo:CartPole-v1 sac:Pendulum-v1
    .venv/bin/python benchmarks/tuned.py --report      # the table from what is kept
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from machine import cpu

RESULTS = Path(__file__).parent / "results"
RUNS = RESULTS / "runs" / "tuned"
SEEDS = (0, 1, 2)
EVAL_SEED = 10_000

# rl-baselines3-zoo benchmark.md (commit 22e3ff2): (mean, std, budget) of the deterministic
# evaluation. LunarLander v2 rows stand for v3 (the zoo has not re-run them).
ZOO = {
    ("ppo", "CartPole-v1"): (500.0, 0.0, 100_000),
    ("ppo", "Acrobot-v1"): (-73.506, 18.201, 1_000_000),
    ("ppo", "MountainCar-v0"): (-110.423, 19.473, 1_000_000),
    ("ppo", "Pendulum-v1"): (-172.225, 104.159, 100_000),
    ("ppo", "MountainCarContinuous-v0"): (88.343, 2.572, 20_000),
    ("ppo", "LunarLander-v3"): (242.119, 31.823, 1_000_000),
    ("ppo", "LunarLanderContinuous-v3"): (270.863, 32.072, 1_000_000),
    ("ppo", "BipedalWalker-v3"): (287.939, 2.448, 5_000_000),
    ("sac", "Pendulum-v1"): (-156.995, 88.714, 20_000),
    ("sac", "MountainCarContinuous-v0"): (94.679, 1.134, 50_000),
    ("sac", "LunarLanderContinuous-v3"): (260.390, 65.467, 500_000),
    ("sac", "BipedalWalker-v3"): (297.668, 33.060, 500_000),
    ("td3", "Pendulum-v1"): (-151.855, 90.227, 20_000),
    ("td3", "MountainCarContinuous-v0"): (93.483, 0.075, 300_000),
    ("td3", "LunarLanderContinuous-v3"): (207.451, 67.562, 300_000),
    ("td3", "BipedalWalker-v3"): (305.990, 56.886, 1_000_000),
    ("dqn", "CartPole-v1"): (500.0, 0.0, 50_000),
    ("dqn", "Acrobot-v1"): (-76.639, 11.752, 100_000),
    ("dqn", "MountainCar-v0"): (-100.849, 9.925, 120_000),
    ("dqn", "LunarLander-v3"): (154.382, 79.241, 100_000),
}


def summary_path(algo: str, env_id: str, seed: int) -> Path:
    return RUNS / f"{algo}_{env_id}_s{seed}.json"


def evaluate(result, env_id: str, episodes: int) -> list[float]:
    """Returns of ``episodes`` deterministic episodes of the trained policy."""
    from spinrl.envs import make_env
    from spinrl.run import run_episodes

    env = make_env(env_id)
    returns, _ = run_episodes(result.policy(deterministic=True), env, episodes, seed=EVAL_SEED)
    env.close()
    return returns


def one_run(algo: str, env_id: str, seed: int, steps: int, eval_episodes: int) -> dict:
    import spinrl
    from spinrl.checkpoint import write_json

    curve: list[tuple[int, float]] = []

    def record(run) -> bool:
        curve.append((int(run.last_row["TotalEnvInteracts"]), run.last_row.get("AverageEpRet")))
        return False

    start = time.perf_counter()
    result = getattr(spinrl, algo)(
        env=env_id, preset="tuned", seed=seed, total_steps=steps, verbose=False, callback=record
    )
    seconds = time.perf_counter() - start
    returns = evaluate(result, env_id, eval_episodes)
    summary = {
        "algo": algo,
        "env": env_id,
        "seed": seed,
        "budget": steps,
        "zoo_budget": ZOO[(algo, env_id)][2],
        "steps": curve[-1][0],
        "seconds": seconds,
        "eval_returns": returns,
        "eval_mean": statistics.fmean(returns),
        "curve": curve,
        "cpu": cpu(),
        "date": time.strftime("%Y-%m-%d"),
    }
    write_json(summary_path(algo, env_id, seed), summary)
    return summary


def _fmt(x: float) -> str:
    return f"{x:.1f}" if abs(x) < 1000 else f"{x:.0f}"


def report() -> str:
    lines = [
        "# Tuned settings against rl-baselines3-zoo",
        "",
        'Each cell: spinrl with `preset="tuned"` (spinrl.presets), mean ± std over seeds of '
        "each seed's deterministic evaluation (the final policy, on an env seeded apart from "
        "training), beside the zoo's published deterministic evaluation. A cell reaches the "
        "zoo's figure when spinrl's mean is at least the zoo's mean minus its std.",
        "",
        "| algo | env | steps (zoo's) | seeds | spinrl | zoo | reached | minutes per seed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    reached = judged = 0
    machines: set[str] = set()
    for (algo, env_id), (zoo_mean, zoo_std, zoo_budget) in ZOO.items():
        runs = [
            json.loads(p.read_text())
            for s in SEEDS
            if (p := summary_path(algo, env_id, s)).exists()
        ]
        if not runs:
            lines.append(
                f"| {algo} | {env_id} | ({zoo_budget:,}) | 0 | not run yet | "
                f"{_fmt(zoo_mean)} ± {_fmt(zoo_std)} | | |"
            )
            continue
        means = [r["eval_mean"] for r in runs]
        mean = statistics.fmean(means)
        std = statistics.stdev(means) if len(means) > 1 else math.nan
        ok = mean >= zoo_mean - zoo_std
        judged += 1
        reached += ok
        budgets = sorted({r["budget"] for r in runs})
        share = max(budgets) / zoo_budget
        cut = f" (at {share:.0%} of the budget)" if share < 1 else ""
        minutes = statistics.fmean(r["seconds"] for r in runs) / 60
        machines |= {r["cpu"] for r in runs}
        lines.append(
            f"| {algo} | {env_id} | {'/'.join(f'{b:,}' for b in budgets)} ({zoo_budget:,}) | "
            f"{len(runs)} | {_fmt(mean)} ± {_fmt(std)} | {_fmt(zoo_mean)} ± {_fmt(zoo_std)} | "
            f"{'yes' if ok else '**no**'}{cut} | {minutes:.1f} |"
        )
    lines += [
        "",
        f"**{reached} of {judged} cells run reach the zoo's figure.** Measured on "
        f"{'; '.join(sorted(machines))}, two runs at a time.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algos", nargs="+", default=["ppo", "sac", "td3", "dqn"])
    parser.add_argument("--cells", nargs="+", help="algo:env pairs, instead of --algos")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--max-steps", type=int, default=10**9, help="cap on each run's budget")
    parser.add_argument("--eval-episodes", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--report", action="store_true", help="only write the table")
    args = parser.parse_args()
    if not args.report:
        cells = (
            [tuple(c.split(":", 1)) for c in args.cells]
            if args.cells
            else [cell for cell in ZOO if cell[0] in args.algos]
        )
        jobs = [
            (algo, env_id, seed, min(ZOO[(algo, env_id)][2], args.max_steps), args.eval_episodes)
            for algo, env_id in cells
            for seed in args.seeds
            if not summary_path(algo, env_id, seed).exists()
        ]
        with ProcessPoolExecutor(args.workers) as pool:
            for summary in pool.map(one_run, *zip(*jobs, strict=True)) if jobs else []:
                print(
                    f"{summary['algo']} {summary['env']} seed {summary['seed']}: "
                    f"eval {summary['eval_mean']:.1f} in {summary['seconds']:.0f} s",
                    flush=True,
                )
    text = report()
    (RESULTS / "tuned.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
