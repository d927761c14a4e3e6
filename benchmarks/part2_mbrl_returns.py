"""PETS on Pendulum-v1: MBRL-Lib 0.2.0's own training loop against spinrl's, at the settings
of part2.py's pets cell, 5 seeds each: what a user of either library gets, in return.

The settings, as both libraries name them (part2.py: PLANNER, horizon 25, reward known; the
rest spinrl.algos.pets.Config's defaults):

    ensemble        5 Gaussian MLPs of 3 x 64 SiLU units, predicting the change in
                    observation; learned log-variance bounds; bootstrap resampling per member
    refit           before each 200-step episode (MBRL-Lib's freq_train_model), Adam lr 1e-3,
                    no weight decay, minibatches of 32, at most 50 passes, 10% held out,
                    patience 5
    planner         CEM: population 100, 10 elites, 4 iterations, momentum (alpha) 0.1,
                    horizon 25, 5 particles, TS-inf (MBRL-Lib's fixed_model), replanned every
                    step, warm-started by the shifted plan
    reward          known: -(th^2 + 0.1 thdot^2 + 0.001 u^2); no termination
    budget          200 uniformly random steps, then 4,800 planned: 5,000 env steps, torch on
                    1 thread

Each library keeps its own ways where the settings do not name them:

    model       MBRL-Lib predicts the observation's change only (the reward is known);
                spinrl's ensemble also predicts the reward, which enters its loss and early
                stopping. MBRL-Lib normalises the inputs only, fitted on all data; spinrl the
                inputs and targets, fitted on the training share. Initial weights: truncated
                normal in MBRL-Lib, PyTorch's Linear default in spinrl. Both keep the weights
                between refits; MBRL-Lib keeps one Adam for the whole run, spinrl starts a
                fresh Adam at each refit.
    refit stop  MBRL-Lib: a pass counts as better when any member's validation MSE of the
                mean improves by more than 1% (relative), and then the whole ensemble's
                weights are kept; spinrl: the held-out Gaussian NLL averaged over members,
                better by 1e-4. Both stop after 5 passes without a better one.
    planner     both return CEM's last refit mean (momentum 0.1 on the elites' mean). CEM
                starts at std 1 on Pendulum's [-2, 2] in MBRL-Lib (variance range^2 / 16),
                sampling a truncated normal, and at std 2 (half the range) in spinrl,
                clipping a normal. The warm start fills the last step with the middle of the
                range in MBRL-Lib and repeats the plan's last step in spinrl. MBRL-Lib
                assigns members to all particles by one random permutation (a sequence's 5
                particles may share members); spinrl splits each sequence's particles over
                all 5 members.
    reward      scored at the next observation in MBRL-Lib, at the current one in spinrl
                (as Gymnasium does): the same cost, one step apart.

What is compared: the return of every episode the planner plays on a fitted model, 24 per
run. MBRL-Lib's loop reports its training episodes (one per 200 steps, the model refit at
its start); part2.py's spinrl runs (results/runs/part2/Pendulum-v1_pets_s*.json, kept)
report a test episode after each 200-step epoch, planned with the model refit at that
epoch's start (the first epoch's, on the unfitted model after the random steps, is left
out). So on both sides the n-th episode is planned on a model refit n times, last on n x 200
real transitions, and ends at env step 200 (n + 1).

MBRL-Lib 0.2.0 does not import on Python 3.11 (hydra-core 1.0.3); it runs in its own
virtualenv (see part2_mbrl_speed.py):

    /tmp/mbrl310/bin/python benchmarks/part2_mbrl_returns.py --seeds 0 1 2 3 4
    .venv/bin/python benchmarks/part2_mbrl_returns.py --report

Each MBRL-Lib run is kept as results/runs/part2/Pendulum-v1_mbrl-pets_s<seed>.json; --report
writes results/part2_mbrl_returns.md from the kept files of both libraries.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUNS = HERE / "results" / "runs" / "part2"
STEPS, INIT, EPISODE = 5000, 200, 200


def mbrl_run(seed: int) -> dict:
    """MBRL-Lib's mbrl.algorithms.pets.train on Pendulum-v1 at the settings above."""
    import gymnasium as gym
    import mbrl
    import mbrl.algorithms.pets as pets
    import mbrl.env.termination_fns as tf
    import numpy as np
    import omegaconf
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    np.random.seed(seed)  # noqa: NPY002 (whatever MBRL-Lib draws from numpy's global stream)

    def reward_fn(act, next_obs):
        th = torch.atan2(next_obs[:, 1].contiguous(), next_obs[:, 0].contiguous())
        return -(th**2 + 0.1 * next_obs[:, 2] ** 2 + 0.001 * act[:, 0] ** 2).view(-1, 1)

    env = gym.make("Pendulum-v1")
    env.reset(seed=seed)
    env.action_space.seed(seed)
    cfg = omegaconf.OmegaConf.create(
        {
            "seed": seed,
            "device": "cpu",
            "dynamics_model": {
                "_target_": "mbrl.models.GaussianMLP",
                "device": "cpu",
                "num_layers": 3,
                "ensemble_size": 5,
                "hid_size": 64,
                "in_size": "???",
                "out_size": "???",
                "deterministic": False,
                "propagation_method": "fixed_model",
                "learn_logvar_bounds": True,
                "activation_fn_cfg": {"_target_": "torch.nn.SiLU"},
            },
            "algorithm": {
                "name": "pets",
                "agent": {
                    "_target_": "mbrl.planning.TrajectoryOptimizerAgent",
                    "action_lb": "???",
                    "action_ub": "???",
                    "planning_horizon": 25,
                    "optimizer_cfg": {
                        "_target_": "mbrl.planning.CEMOptimizer",
                        "num_iterations": 4,
                        "elite_ratio": 0.1,
                        "population_size": 100,
                        "alpha": 0.1,
                        "device": "cpu",
                        "lower_bound": "???",
                        "upper_bound": "???",
                        "return_mean_elites": True,
                        "clipped_normal": False,
                    },
                    "replan_freq": 1,
                    "verbose": False,
                },
                "normalize": True,
                "normalize_double_precision": True,
                "target_is_delta": True,
                "initial_exploration_steps": INIT,
                "freq_train_model": EPISODE,
                "learned_rewards": False,
                "num_particles": 5,
            },
            "overrides": {
                "trial_length": EPISODE,
                "num_steps": STEPS - INIT,
                "model_lr": 1e-3,
                "model_wd": 0.0,
                "model_batch_size": 32,
                "validation_ratio": 0.1,
                "num_epochs_train_model": 50,
                "patience": 5,
            },
        }
    )
    start, cpu_start = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory() as work_dir:
        pets.train(env, tf.no_termination, reward_fn, cfg, silent=False, work_dir=work_dir)
        rows = (Path(work_dir) / "results.csv").read_text().splitlines()
    header = rows[0].split(",")
    episodes = [dict(zip(header, map(float, r.split(",")), strict=True)) for r in rows[1:]]
    summary = {
        "task": "Pendulum-v1",
        "agent": "mbrl-pets",
        "library": f"mbrl {mbrl.__version__}",
        "seed": seed,
        "budget": STEPS,
        "episodes": [
            {"steps": INIT + int(e["env_step"]), "return": e["episode_reward"]} for e in episodes
        ],
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu_start,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d"),
    }
    sys.path.insert(0, str(HERE))
    from machine import cpu

    summary["cpu"] = cpu()
    path = RUNS / f"Pendulum-v1_mbrl-pets_s{seed}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(summary, indent=1))
    tmp.replace(path)
    return summary


def planned_episodes(agent: str, seed: int) -> tuple[list[float], dict] | None:
    """The returns of a kept run's planned episodes in order, and the run's summary."""
    path = RUNS / f"Pendulum-v1_{agent}_s{seed}.json"
    if not path.exists():
        return None
    run = json.loads(path.read_text())
    if agent == "pets":  # test episodes after each epoch; the first on the unfitted model
        return [e["return"] for e in run["epochs"]][1:], run
    return [e["return"] for e in run["episodes"]], run


def report(seeds=(0, 1, 2, 3, 4)) -> str:
    sys.path.insert(0, str(HERE))
    from part2 import iqm, iqm_ci

    lines = [
        "# PETS on Pendulum-v1: MBRL-Lib against spinrl, in return",
        "",
        "`benchmarks/part2_mbrl_returns.py` (its docstring has the settings, the same in both "
        "libraries, and what each library does its own way): 5,000 env steps, 200 of them "
        "random, then an episode of 200 planned steps after each refit. Each cell: the "
        "interquartile mean over seeds with its 95% bootstrap interval (as part2.md).",
        "",
        "| library | seeds | planned episode 1 | last episode | mean of the last 5 | mean of "
        "the last 20 | first episode >= -200 (median over seeds) | CPU seconds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    machines, versions = set(), {}
    for agent, name in (("mbrl-pets", "MBRL-Lib 0.2.0"), ("pets", "spinrl")):
        kept = [k for s in seeds if (k := planned_episodes(agent, s)) is not None]
        if not kept:
            lines.append(f"| {name} | 0 | not run yet | | | | | |")
            continue
        returns = [r for r, _ in kept]
        n = min(len(r) for r in returns)
        machines |= {run["cpu"] for _, run in kept}
        versions[name] = sorted({run.get("torch", "") for _, run in kept} - {""})

        def cell(values) -> str:
            value, low, high = iqm_ci(values)
            return f"{value:.1f} [{low:.1f}, {high:.1f}]"

        first = [next((i + 1 for i, x in enumerate(r) if x >= -200), None) for r in returns]
        reached = [f for f in first if f is not None]
        when = (
            f"{statistics.median(reached):g} ({len(reached)} of {len(first)} seeds)"
            if reached
            else f"never (0 of {len(first)} seeds)"
        )
        lines.append(
            f"| {name} | {len(kept)} | {cell([r[0] for r in returns])} | "
            f"{cell([r[n - 1] for r in returns])} | "
            f"{cell([statistics.fmean(r[n - 5 : n]) for r in returns])} | "
            f"{cell([statistics.fmean(r[n - 20 : n]) for r in returns])} | {when} | "
            f"{iqm([run['cpu_seconds'] for _, run in kept]):.0f} |"
        )
    lines += [
        "",
        f"Measured on {'; '.join(sorted(machines))}. spinrl's runs are part2.py's pets cell "
        "(test episodes); MBRL-Lib's are its training episodes (see the docstring for why "
        "they line up). CPU seconds: the whole run's process time, torch on 1 thread, "
        "model refits included; the two libraries ran at different times, with other jobs "
        "on the machine, so they compare less well than part2_mbrl_speed.md's alternating "
        "trials.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[])
    parser.add_argument("--report", action="store_true")
    args = parser.parse_args()
    for seed in args.seeds:
        s = mbrl_run(seed)
        returns = [round(e["return"], 1) for e in s["episodes"]]
        print(f"MBRL-Lib seed {seed}: {len(returns)} episodes, last 5 {returns[-5:]}", flush=True)
    if args.report:
        text = report()
        (HERE / "results" / "part2_mbrl_returns.md").write_text(text)
        print(text)


if __name__ == "__main__":
    main()
