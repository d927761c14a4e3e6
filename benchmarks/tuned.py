"""The tuned table against the figures it comes from: every listed (algorithm, env) pair,
3 seeds, the zoo's budget or less, deterministic evaluation as the zoo reports.

For each cell of spinrl.presets.TUNED (the classic-control and Box2D tasks; the MuJoCo rows
are measured by mujoco_returns.py) and each seed, trains what ``spinrl train ALGO --env ID``
trains (main_preset: the tuned entry, or spinrl's defaults where the entry is not applied
unless asked for, as DQN's CartPole-v1) for min(zoo budget, --max-steps) env steps, then
evaluates the final policy deterministically for --eval-episodes episodes on an env seeded
apart from training. A finished run's summary (budget, steps, seconds, evaluation returns,
and the learning curve: env steps and AverageEpRet per epoch) is kept in
results/runs/tuned/<algo>_<env>_s<seed>.json, which is committed, so the table survives the
machine; kept runs are not trained again.

While it trains, a run lives in data/bench/tuned/<name>/ (git-ignored): its progress.csv
shows how far it is, and its checkpoints (every save_freq epochs, the replay included) let a
run that was stopped, say by the end of a working session, resume where it was on the next
call, on the same machine: exactly for classic-control and MuJoCo tasks, with fresh
environments for Box2D ones (spinrl.run). The summary then counts its resumes, and its
seconds are the wall time of every part (where a part was killed outright rather than
stopped with SIGINT or SIGTERM, which save the last epoch, the epochs since its last
checkpoint are trained, and counted, twice). A stopped run started again with a larger
--max-steps goes on to the new budget (its summary says which budget it began with). The
directory is removed once the summary is kept.

A cell *reaches the zoo's figure* when the mean over seeds of the per-seed evaluation mean
is at least the zoo's mean minus the zoo's standard deviation (rl-baselines3-zoo's
benchmark.md: one trained agent, evaluated for ~150k steps; the std is over its episodes).

    .venv/bin/python benchmarks/tuned.py --algos ppo --max-steps 1000000 --workers 2
    .venv/bin/python benchmarks/tuned.py --cells ppo:CartPole-v1 sac:Pendulum-v1
    .venv/bin/python benchmarks/tuned.py --report      # the table from what is kept
    .venv/bin/python benchmarks/tuned.py --sb3 dqn:CartPole-v1   # SB3 itself, same settings
    .venv/bin/python benchmarks/tuned.py --defaults dqn:CartPole-v1   # spinrl's defaults

``--sb3`` trains Stable-Baselines3 itself on a DQN or PPO cell with the zoo's settings (read
back from spinrl's table, with EXACT's corrections where the entry differs on purpose), for
the same seeds and the same evaluation, and keeps it as
results/runs/tuned/sb3_<algo>_<env>_s<seed>.json: where a cell misses, the table then shows
whether the source's own settings miss the same way. Files named
plain_<algo>_<env>_s<seed>.json are the same cells with a plain Gaussian policy or Gaussian
action noise in place of gSDE or Ornstein-Uhlenbeck noise (``--plain``; seeds 0-2 were run
before spinrl had either, at commit 4a9f507), exact_<algo>_<env>_s<seed>.json runs of the
zoo's exact settings where spinrl trains something else on purpose (``--exact``: EXACT
below, and the entries applied only on request), and short_<algo>_<env>_s<seed>.json earlier
runs cut short of the zoo's budget; all are printed under the table the same way.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import shutil
import statistics
import time
from pathlib import Path

from machine import cpu, packages
from pool import run_grid

RESULTS = Path(__file__).parent / "results"
RUNS = RESULTS / "runs" / "tuned"
# run directories while training: progress.csv to watch, checkpoints to resume from after a
# stop (git-ignored; removed once the summary is kept)
WORK = Path(__file__).resolve().parent.parent / "data" / "bench" / "tuned"
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


def evaluate(act, env_id: str, episodes: int) -> list[float]:
    """Returns of ``episodes`` episodes of ``act`` (obs batch -> action batch; a trained
    policy, deterministic) on an env seeded apart from training."""
    from spinrl.envs import make_env
    from spinrl.run import run_episodes

    env = make_env(env_id)
    returns, _ = run_episodes(act, env, episodes, seed=EVAL_SEED)
    env.close()
    return returns


# --plain: what the zoo's gSDE and Ornstein-Uhlenbeck entries give without them
PLAIN = {"ppo": {"sde": False}, "sac": {"sde": False}, "td3": {"noise_type": "gaussian"}}
# --exact: the zoo's settings where spinrl's entry leaves one out on purpose (its differs);
# an entry spinrl does not apply unless asked for (its instead) is the zoo's settings as it is
EXACT = {("ppo", "MountainCarContinuous-v0"): {"sde": True, "sde_sample_freq": -1}}


def main_preset(algo: str, env_id: str) -> str:
    """The preset ``spinrl train ALGO --env ID`` applies: "tuned", or "none" where the entry
    is applied only on request (--preset tuned) and spinrl's defaults train instead."""
    from spinrl.presets import tuned

    return "tuned" if tuned(algo, env_id).auto else "none"


def has_exact(algo: str, env_id: str) -> bool:
    """Whether the zoo's exact settings differ from what spinrl trains for this cell."""
    return (algo, env_id) in EXACT or main_preset(algo, env_id) == "none"


def one_run(
    algo: str,
    env_id: str,
    seed: int,
    steps: int,
    eval_episodes: int,
    kind: str = "",
) -> dict:
    """Train what ``spinrl train`` trains for the cell (main_preset; with kind "defaults",
    spinrl's defaults at the same budget; with kind "plain", the tuned settings but a plain
    Gaussian policy or Gaussian action noise instead of gSDE or Ornstein-Uhlenbeck; with kind
    "exact", the zoo's exact settings where spinrl differs on purpose), evaluate, and keep the
    summary."""
    import spinrl
    from spinrl.checkpoint import CHECKPOINT, write_json
    from spinrl.errors import TrainingInterrupted

    prefix = f"{kind}_" if kind else ""
    run_dir = WORK / f"{prefix}{algo}_{env_id}_s{seed}"
    clock = run_dir / "bench_clock.json"  # wall seconds and resumes, across processes
    resume = (run_dir / CHECKPOINT).exists()
    before = json.loads(clock.read_text()) if resume and clock.exists() else {}
    seconds, resumes = before.get("seconds", 0.0), before.get("resumes", -1) + 1
    extended_from = before.get("extended_from")
    if resume:
        kept = json.loads((run_dir / "config.json").read_text())["config"]["total_steps"]
        if kept > steps:
            raise SystemExit(
                f"{run_dir} holds a run of {kept:,} steps, not {steps:,}: resume it with the "
                "same --max-steps (or a larger one), or remove the directory to start again"
            )
        if kept < steps:  # a stopped run given a larger budget goes on to it
            extended_from = extended_from or kept
            print(f"{run_dir}: a run of {kept:,} steps, resumed to {steps:,}", flush=True)
    start = time.perf_counter()

    def record(run=None) -> bool:  # after every epoch, and once on resuming
        write_json(clock, {
            "seconds": seconds + time.perf_counter() - start, "resumes": resumes,
            **({"extended_from": extended_from} if extended_from else {}),
        })  # fmt: skip
        return False

    if resume:  # counted now, even if this part is stopped before its first epoch ends
        record()

    overrides = {"plain": PLAIN.get(algo, {}), "exact": EXACT.get((algo, env_id), {})}.get(kind, {})
    preset = {"": main_preset(algo, env_id), "defaults": "none"}.get(kind, "tuned")
    try:
        result = getattr(spinrl, algo)(
            env=env_id, preset=preset, seed=seed, total_steps=steps, verbose=False,
            callback=record, output_dir=str(run_dir), resume=resume, **overrides,
        )  # fmt: skip
    except BaseException as e:  # SIGINT or SIGTERM saves the last epoch: count its time too
        record()
        if isinstance(e, TrainingInterrupted):
            print(f"{algo} {env_id} seed {seed}: {e}", flush=True)
        raise
    seconds += time.perf_counter() - start
    with open(run_dir / "progress.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    curve = [(int(float(r["TotalEnvInteracts"])), _number(r.get("AverageEpRet"))) for r in rows]
    returns = evaluate(result.policy(deterministic=True), env_id, eval_episodes)
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
        "packages": packages(),
        "date": time.strftime("%Y-%m-%d"),
        "preset": preset,
        **({"overrides": overrides} if overrides else {}),
        # a run stopped (the session ended) and resumed from its last checkpoint; Box2D's
        # envs resume fresh, so such a run differs from an uninterrupted one from there
        **({"resumes": resumes} if resumes else {}),
        # a run begun with a smaller budget (--max-steps), stopped and resumed to this one
        **({"extended_from": extended_from} if extended_from else {}),
    }
    write_json(RUNS / f"{prefix}{summary_path(algo, env_id, seed).name}", summary)
    shutil.rmtree(run_dir)  # the checkpoint (replay included) has served
    return summary


def _number(text: str | None) -> float | None:
    return None if text in (None, "", "nan") else float(text)


def sb3_ppo(env_id: str, seed: int, f: dict):
    """SB3's PPO with spinrl's translation of the zoo's entry read back, and the act function
    for evaluation (observations through VecNormalize's frozen statistics when it
    normalises)."""
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    venv = make_vec_env(env_id, n_envs=f["num_envs"], seed=seed)
    if f["normalize_obs"]:
        # the zoo passes the algorithm's gamma to VecNormalize, as spinrl's reward scaler uses
        venv = VecNormalize(venv, norm_obs=True, norm_reward=f["normalize_reward"],
                            gamma=f["gamma"])  # fmt: skip

    policy_kwargs = {"log_std_init": f["log_std_init"], "ortho_init": f["orthogonal_init"],
                     "net_arch": list(f["hid"]), "activation_fn": torch.nn.Tanh}  # fmt: skip

    def schedule(value, anneal):
        return (lambda progress: progress * value) if anneal else value

    model = PPO(
        "MlpPolicy",
        venv,
        n_steps=f["steps_per_epoch"] // f["num_envs"],
        batch_size=f["minibatch_size"],
        n_epochs=f["update_epochs"],
        learning_rate=schedule(f["pi_lr"], f["anneal_lr"]),
        clip_range=schedule(f["clip_ratio"], f["anneal_clip"]),
        gamma=f["gamma"],
        gae_lambda=f["lam"],
        ent_coef=f["ent_coef"],
        vf_coef=f["vf_coef"] / 2,  # spinrl's value loss is half SB3's (presets docstring)
        max_grad_norm=f["max_grad_norm"],
        use_sde=f.get("sde", False),
        sde_sample_freq=f.get("sde_sample_freq", -1),
        policy_kwargs=policy_kwargs,
        seed=seed,
        device="cpu",
    )

    def act(obs):
        if isinstance(venv, VecNormalize):
            obs = venv.normalize_obs(obs)
        return model.predict(obs, deterministic=True)[0]

    return model, act


def sb3_dqn(env_id: str, seed: int, f: dict):
    """SB3's DQN with spinrl's translation of the zoo's entry read back, and its act."""
    from stable_baselines3 import DQN
    from stable_baselines3.common.env_util import make_vec_env

    model = DQN(
        "MlpPolicy",
        make_vec_env(env_id, n_envs=1, seed=seed),
        learning_rate=f["q_lr"],
        batch_size=f["batch_size"],
        buffer_size=f["replay_size"],
        learning_starts=f["start_steps"],
        gamma=f["gamma"],
        target_update_interval=f["target_update_every"],
        train_freq=f["update_every"],
        gradient_steps=f["gradient_steps"] or -1,
        exploration_fraction=f["exploration_fraction"],
        exploration_final_eps=f["eps_end"],
        policy_kwargs={"net_arch": list(f["hid"])},
        seed=seed,
        device="cpu",
    )
    return model, lambda obs: model.predict(obs, deterministic=True)[0]


def sb3_run(algo: str, env_id: str, seed: int, eval_episodes: int) -> dict:
    """SB3's DQN or PPO with the zoo's settings for env_id (spinrl.presets.TUNED, translated
    back), evaluated as spinrl's runs are."""
    import torch

    from spinrl.checkpoint import write_json
    from spinrl.presets import tuned

    torch.set_num_threads(1)
    if algo not in ("dqn", "ppo"):
        raise SystemExit("--sb3 covers the DQN and PPO cells")
    entry = tuned(algo, env_id)
    fields = entry.fields | EXACT.get((algo, env_id), {})  # the zoo's own settings
    model, act = (sb3_ppo if algo == "ppo" else sb3_dqn)(env_id, seed, fields)
    start = time.perf_counter()
    model.learn(total_timesteps=entry.budget)
    seconds = time.perf_counter() - start
    returns = evaluate(act, env_id, eval_episodes)
    summary = {"algo": algo, "env": env_id, "seed": seed, "budget": entry.budget,
               "seconds": seconds, "eval_returns": returns,
               "eval_mean": statistics.fmean(returns), "library": "stable-baselines3",
               "use_sde": bool(fields.get("sde", False))}  # fmt: skip
    write_json(RUNS / f"sb3_{algo}_{env_id}_s{seed}.json", summary)
    return summary


def _fmt(x: float) -> str:
    return f"{x:.1f}" if abs(x) < 1000 else f"{x:.0f}"


def report(algos: tuple[str, ...] | None = None) -> str:
    """The table of every cell, or of the cells of ``algos`` only."""
    cells = {cell: figures for cell, figures in ZOO.items() if algos is None or cell[0] in algos}
    lines = [
        "# Tuned settings against rl-baselines3-zoo",
        "",
        "Each cell: what `spinrl train ALGO --env ID` trains, that is the tuned entry "
        "(spinrl.presets), or spinrl's defaults where the entry is applied only on request "
        "(DQN on CartPole-v1; the zoo's exact settings are then listed under the table, as "
        "they are where the entry differs on purpose), mean ± std over seeds of "
        "each seed's deterministic evaluation (the final policy, on an env seeded apart from "
        "training), beside the zoo's published deterministic evaluation. A cell reaches the "
        "zoo's figure when spinrl's mean is at least the zoo's mean minus its std.",
        "",
        "| algo | env | steps (zoo's) | seeds | spinrl | zoo | reached | minutes per seed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    reached = judged = 0
    by_algo: dict[str, list[int]] = {}  # algo -> [reached, judged]
    partial: list[str] = []  # cells with fewer than 3 seeds or a cut budget
    machines: set[str] = set()
    for (algo, env_id), (zoo_mean, zoo_std, zoo_budget) in cells.items():
        runs = [
            json.loads(p.read_text())
            for s in range(10)  # seeds 0-2 by default; more where they were run (--seeds)
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
        if len(runs) < 3 or any(r["budget"] < zoo_budget for r in runs):
            partial.append(f"{algo} {env_id}")
        counts = by_algo.setdefault(algo, [0, 0])
        counts[0] += ok
        counts[1] += 1
        budgets = sorted({r["budget"] for r in runs})
        share = max(budgets) / zoo_budget
        cut = f" (at {share:.0%} of the budget)" if share < 1 else ""
        minutes = statistics.fmean(r["seconds"] for r in runs) / 60
        machines |= {r["cpu"] for r in runs}
        lines.append(
            f"| {algo} | {env_id} | {'/'.join(f'{b:,}' for b in budgets)} ({zoo_budget:,}) | "
            f"{len(runs)} | {_fmt(mean)}{f' ± {_fmt(std)}' if len(runs) > 1 else ''} | "
            f"{_fmt(zoo_mean)} ± {_fmt(zoo_std)} | "
            f"{'yes' if ok else '**no**'}{cut} | {minutes:.1f} |"
        )
    for (algo, env_id), (zoo_mean, zoo_std, zoo_budget) in cells.items():
        for prefix, who in (
            ("sb3", "Stable-Baselines3 itself with the zoo's settings"),
            ("defaults", "spinrl's defaults (--preset none) at the same budget"),
            ("plain", "spinrl with the zoo's other settings but a plain Gaussian policy or "
                      "Gaussian action noise instead of gSDE or Ornstein-Uhlenbeck noise"),
            ("exact", "spinrl with the zoo's exact settings (which spinrl departs from here "
                      "on purpose)"),
            ("short", "spinrl with the tuned settings, cut short of the zoo's budget (an "
                      "earlier run, before the full budget was run)"),
        ):  # fmt: skip
            kept = [json.loads(p.read_text()) for s in range(10)
                    if (p := RUNS / f"{prefix}_{algo}_{env_id}_s{s}.json").exists()]  # fmt: skip
            if kept:
                means = [r["eval_mean"] for r in kept]
                steps = {r["budget"] for r in kept} - {zoo_budget}
                at = f" at {', '.join(f'{b:,}' for b in sorted(steps))} steps" if steps else ""
                lines += [
                    "",
                    f"{who}{at} on {algo} {env_id}, seeds "
                    f"{', '.join(str(r['seed']) for r in kept)}, evaluated the same way: "
                    f"{', '.join(_fmt(m) for m in means)} (mean "
                    f"{_fmt(statistics.fmean(means))}; the zoo's one published run: "
                    f"{_fmt(zoo_mean)} ± {_fmt(zoo_std)}).",
                ]
    lines += [
        "",
        f"**{reached} of {judged} cells run reach the zoo's figure** ("
        + ", ".join(f"{a.upper()} {r} of {j}" for a, (r, j) in by_algo.items())
        + f"). Measured on {'; '.join(sorted(machines))}, two runs at a time."
        + (
            f" Counted among them with fewer than 3 seeds or short of the zoo's budget (see "
            f"the table): {', '.join(partial)}."
            if partial
            else ""
        ),
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
    other = parser.add_mutually_exclusive_group()
    other.add_argument("--sb3", nargs="+", help="algo:env DQN or PPO cells to train with SB3")
    other.add_argument("--defaults", nargs="+", help="algo:env cells to train with --preset none")
    other.add_argument("--plain", nargs="+", help="algo:env cells to train without gSDE or OU")
    other.add_argument("--exact", nargs="+", help="algo:env cells with the zoo's exact settings")
    args = parser.parse_args()
    if args.sb3:
        for cell in args.sb3:
            algo, env_id = cell.split(":", 1)
            for seed in args.seeds:
                r = sb3_run(algo, env_id, seed, args.eval_episodes)
                print(f"SB3 {algo} {env_id} seed {seed}: eval {r['eval_mean']:.1f}", flush=True)
    elif args.defaults or args.plain or args.exact:
        kind = "defaults" if args.defaults else "plain" if args.plain else "exact"
        for cell in args.defaults or args.plain or args.exact:
            algo, env_id = cell.split(":", 1)
            if kind == "exact" and not has_exact(algo, env_id):
                raise SystemExit(f"{cell}: spinrl trains the zoo's exact settings already")
            for seed in args.seeds:
                budget = min(ZOO[(algo, env_id)][2], args.max_steps)
                r = one_run(algo, env_id, seed, budget, args.eval_episodes, kind)
                print(f"{kind} {algo} {env_id} seed {seed}: eval {r['eval_mean']:.1f}", flush=True)
    elif not args.report:
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

        def line(summary):
            return (
                f"{summary['algo']} {summary['env']} seed {summary['seed']}: "
                f"eval {summary['eval_mean']:.1f} in {summary['seconds']:.0f} s"
            )

        stopped = "run it again to resume the stopped cells"
        run_grid(one_run, jobs, args.workers, line, "tuned.py", stopped)
    text = report()
    (RESULTS / "tuned.md").write_text(text)
    (RESULTS / "tuned_dqn.md").write_text(report(("dqn",)))  # the DQN page shows these
    print(text)


if __name__ == "__main__":
    main()
