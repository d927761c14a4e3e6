"""Part 2's plot: what a model buys in samples and what it costs in compute.

Five agents on each task, every one for the task's budget of env steps (TASKS below):

- ppo: model-free, on-policy; its defaults (--preset mujoco on HalfCheetah), epochs of 1000
  steps on the small tasks. Its curve is the return of its training episodes (it has no
  test episodes), the others' the test return.
- sac: model-free, off-policy; Spinning Up's defaults, with a shorter warm-up for the budget.
- mbpo: SAC's update on real and model data (branched rollouts of a learned ensemble).
- pets: CEM with trajectory sampling on a learned probabilistic ensemble; the planner is the
  policy. The reward is the task's known one where spinrl.planning.KNOWN_REWARDS has it
  (Pendulum-v1), else the ensemble's learned reward head; the termination is the task's
  known rule (spinrl.planning.KNOWN_TERMINATIONS: none for Pendulum-v1, the pole's angle
  for InvertedPendulum-v5) or "never" for HalfCheetah-v5, which has no termination.
- mpc: the same planner on the true dynamics (pets with model=given), nothing learned. spinrl
  has the true dynamics for Pendulum-v1 only, so mpc runs there only; the gap between pets
  and mpc is the learned model's bias.

Budgets (TASKS, one row per task, with why it fits): Pendulum-v1 5,000 steps (set expecting
PETS and MBPO to swing it up within 2-3k and SAC to need ~10-20k; measured: PETS by 600
steps, MBPO by 3,000, SAC by 4-5k, PPO not at all); InvertedPendulum-v5 5,000 (set expecting
PETS, MBPO and SAC to balance it within a few thousand steps; only MBPO did); HalfCheetah-v5
20,000 (the papers run 100k-400k steps; MBPO took 1.8 CPU minutes per 1,000 steps here, and
so did PETS on the Intel Xeon (2.8 on the AMD EPYC Zen 5), where --smoke's times had
suggested 5; 20k shows the early part of the curve only). Hopper-v5
(which terminates; spinrl now has its known rule, spinrl.planning.hopper_terminated, and a
learned head) is not in the table: one of HalfCheetah or Hopper is asked for, and
HalfCheetah never terminates.

Cost, from --smoke's per-step times on a 2-core Zen 5 shared with two other jobs: about 0.5
core-hours per seed on Pendulum-v1, 0.35 on InvertedPendulum-v5 and 2.8 on HalfCheetah-v5
(PETS 1.6, MBPO 1.1), so about 18 core-hours for 5 seeds of everything. Measured since:
MBPO 0.6 core-hours a seed on HalfCheetah-v5 (IQM 2,105 CPU seconds), PETS 0.6 on the Intel
Xeon (2,174-2,224) and 0.95 on the AMD EPYC Zen 5 (3,399 and 3,408).

Each (task, agent, seed) run trains once, torch on 1 thread, without a run directory; its
summary (budget, settings, env steps, test return, cumulative wall and CPU seconds and
planning ms per env step for each epoch, CPU, date) is kept in
results/runs/part2/<task>_<agent>_s<seed>.json, which is committed, so the report survives
the machine. A kept run with the table's budget is not trained again; --report rebuilds the
tables and plots from the kept JSONs alone. With --resumable a run trains in
data/bench/part2/<task>_<agent>_s<seed>/ instead, with a checkpoint every epoch and its
epochs' figures so far beside it; started again after being stopped (SIGINT, SIGTERM or
SIGKILL, say at the end of a working session), it resumes from there with its clocks going
on, and its summary says it was checkpointed and how many times it resumed. For cells
longer than what is left of a session (PETS on HalfCheetah-v5: ~0.6 core-hours a seed);
data/ must still be there when it is started again.
Planning time is measured by timing spinrl.planning.MPC.act in the worker (train and test
steps alike), so it is the planner's own time, not the refits'.

Aggregation (Agarwal et al. 2021, "Deep RL at the edge of the statistical precipice"): for
each (task, agent) the interquartile mean over seeds (scipy.stats.trim_mean(x, 0.25), the
mean of the middle half; with 5 seeds, of the middle 3), with a 95% percentile bootstrap
interval over seeds (scipy.stats.bootstrap, 2000 resamples; stratified by task means here
that each task is resampled on its own, which it is, since each table is one task). Curves
take the IQM and its interval at each epoch; on the compute panel each epoch sits at the
IQM of the seeds' cumulative CPU seconds (compute, which other jobs on the machine do not
inflate as they do wall time). python -m doctest benchmarks/part2.py checks the
aggregation against an exact enumeration of every bootstrap resample.

    .venv/bin/python benchmarks/part2.py --workers 2      # everything, 5 seeds: ~18 core-h
    .venv/bin/python benchmarks/part2.py --tasks Pendulum-v1 --workers 2
    .venv/bin/python benchmarks/part2.py --agents pets mpc --seeds 0 1
    .venv/bin/python benchmarks/part2.py --report        # tables and plots from the kept JSONs
    .venv/bin/python benchmarks/part2.py --smoke         # 400 steps of every cell, seed 0,
                                                         # kept in /tmp, nothing committed
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import shutil
import time
from pathlib import Path

import numpy as np

from machine import cpu, packages
from pool import run_grid

RESULTS = Path(__file__).parent / "results"
RUNS = RESULTS / "runs" / "part2"
# --resumable runs' directories while training: a checkpoint every epoch, and the epochs'
# clock figures so far, so a run stopped by the end of a session goes on from there
WORK = Path(__file__).resolve().parent.parent / "data" / "bench" / "part2"
SEEDS = (0, 1, 2, 3, 4)
AGENTS = ("ppo", "sac", "mbpo", "pets", "mpc")
ALGO = {"ppo": "ppo", "sac": "sac", "mbpo": "mbpo", "pets": "pets", "mpc": "pets"}
# The slow test's planner (tests/test_pets.py PETS_PENDULUM), cut for a CPU.
PLANNER = dict(
    hid=(64, 64, 64), population=100, elites=10, particles=5, iterations=4, num_test_episodes=1
)

# task: (budget in env steps, why it fits, {agent: overrides of its Config}); no row: n/a.
# fmt: off
TASKS = {
    "Pendulum-v1": (5_000, "set expecting PETS and MBPO to swing up within 2-3k steps and "
                           "SAC to need 10-20k; measured, PETS swings up by 600 steps (the median "
                           "seed; 400-1,200), MBPO "
                           "by 3,000, SAC by 4-5k", {
        "ppo": dict(steps_per_epoch=1000),
        "sac": dict(steps_per_epoch=1000, start_steps=1000, update_after=1000,
                    num_test_episodes=1),
        "mbpo": dict(num_test_episodes=1),
        "pets": dict(PLANNER, horizon=25, reward="known"),
        "mpc": dict(PLANNER, horizon=25, reward="known", model="given", init_steps=0),
    }),
    "InvertedPendulum-v5": (5_000, "set expecting PETS, MBPO and SAC to balance the pole "
                                   "within a few thousand steps; measured, only MBPO does "
                                   "(every seed ends at 1,000, four of five reach it at 3,000 "
                                   "steps)", {
        "ppo": dict(steps_per_epoch=1000),
        "sac": dict(steps_per_epoch=1000, start_steps=1000, update_after=1000,
                    num_test_episodes=1),
        "mbpo": dict(num_test_episodes=1),
        # the reward (1 while the pole is up) is learned; the angle rule ends particles
        "pets": dict(PLANNER, horizon=15, steps_per_epoch=1000, reward="learned",
                     termination="known"),
    }),
    "HalfCheetah-v5": (20_000, "the early curve only: the papers run 100k-400k steps, and "
                               "MBPO and PETS took 1.8 CPU minutes per 1,000 steps here (PETS "
                               "2.8 on the AMD EPYC Zen 5)", {
        "ppo": dict(preset="mujoco"),
        "sac": dict(steps_per_epoch=1000, start_steps=5000, update_after=1000,
                    num_test_episodes=1),
        # the MBPO paper's HalfCheetah (JannerM/mbpo examples/config/halfcheetah/0.py) but
        # G = 10 SAC updates per step (paper 40) and 2,000 random steps (paper 5,000)
        "mbpo": dict(start_steps=2000, update_after=2000, termination="never",
                     k_schedule=(20, 150, 1, 1), target_entropy=-3.0, num_test_episodes=1),
        # the PETS paper's model (5 x 3 x 200); no known reward: the head learns it. One
        # particle per member (paper 20: 0.41 s per planned step here, against 0.12), and a
        # test episode (1,000 planned steps) every 2,000 steps, to fit the budget
        "pets": dict(steps_per_epoch=2000, init_steps=1000, reward="learned",
                     termination="never", hid=(200, 200, 200), population=100, particles=5,
                     horizon=15, iterations=5, num_test_episodes=1),
    }),
}
# fmt: on

# Published returns to draw beside the curves: task -> [(agent, source, env steps, return,
# how it was read)]. Only figures with a source go here; see the report's note.
SOURCES = {
    "MBBL": "the 200,000-step results table of Wang et al. 2019, 'Benchmarking Model-Based "
    "Reinforcement Learning' (arXiv 1907.02057), read from the table image in the authors' "
    "repository (WilsonWangTHU/mbbl, img/mbbl_result_table.jpeg); their HalfCheetah is "
    "MuJoCo's v2-era model with 1,000-step episodes and the reward forward velocity - "
    "0.1 |a|^2, close to HalfCheetah-v5's, but not the same task",
}
PUBLISHED: dict[str, list[tuple[str, str, int, float, str]]] = {
    "HalfCheetah-v5": [
        ("pets", "MBBL", 200_000, 2795.3, "2795.3 ± 879.9, its PETS-CEM row"),
        ("sac", "MBBL", 200_000, 4000.7, "4000.7 ± 202.1, its SAC row"),
        ("ppo", "MBBL", 200_000, 17.2, "17.2 ± 84.4, its PPO row"),
    ],
}

# The table the previous version of this script wrote (commit ab75d0a, 2026-12-01): Pendulum-v1,
# 3,000 env steps, seed 0; its runs lived in data/, which is gone, so no JSON is kept for them.
EARLIER = (
    "| ppo | -1292.4 | -1292.4 | 1 |",
    "| sac | -1080.2 | -1268.0 | 62 |",
    "| mbpo | -245.3 | -1033.0 | 968 |",
    "| pets | -316.3 | -206.5 | 1043 |",
    "| mpc | -320.0 | -205.3 | 273 |",
)
SMOKE = dict(steps=400, steps_per_epoch=200, warmup=100)


def iqm(values) -> float:
    """Interquartile mean: the mean of the middle half (25% trimmed from each end).

    >>> iqm([1.0, 2.0, 3.0, 4.0, 100.0])   # 5 values: the middle 3
    3.0
    >>> iqm([float("nan"), 2.0, 4.0])       # NaNs (seeds with no episode) are left out
    3.0
    """
    from scipy.stats import trim_mean

    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    return float(trim_mean(x, 0.25)) if len(x) else math.nan


def iqm_ci(values, confidence: float = 0.95, resamples: int = 2000, seed: int = 0):
    """(IQM, low, high): the IQM over seeds and its percentile bootstrap interval.

    The interval is the (2.5, 97.5) percentiles of the IQM of resamples drawn with
    replacement from the seeds. Against an exact enumeration of all 5**5 resamples of 5 seeds
    (exact: [1/3, 50/3]; a 90% interval would be [2/3, 41/3], the range [0, 20]):

    >>> import itertools
    >>> x = [0.0, 1.0, 3.0, 10.0, 20.0]
    >>> exact = [iqm(r) for r in itertools.product(x, repeat=5)]
    >>> value, low, high = iqm_ci(x, resamples=20000)
    >>> round(value, 3), bool(abs(low - np.percentile(exact, 2.5)) < 0.2)
    (4.667, True)
    >>> bool(abs(high - np.percentile(exact, 97.5)) < 0.2)
    True
    >>> iqm_ci([5.0, 5.0, 5.0])             # no spread, no interval to draw
    (5.0, 5.0, 5.0)
    """
    from scipy.stats import bootstrap, trim_mean

    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    value = iqm(x)
    if len(x) < 2 or np.ptp(x) == 0:
        return value, value, value
    interval = bootstrap(
        (x,),
        lambda s, axis: trim_mean(s, 0.25, axis=axis),
        confidence_level=confidence,
        n_resamples=resamples,
        method="percentile",
        rng=np.random.default_rng(seed),
    ).confidence_interval
    return value, float(interval.low), float(interval.high)


def summary_path(runs: Path, task: str, agent: str, seed: int) -> Path:
    return runs / f"{task}_{agent}_s{seed}.json"


def cell_settings(task: str, agent: str, smoke: bool) -> tuple[int, dict]:
    """(budget, Config overrides) of one cell; --smoke shortens the budget and warm-ups."""
    budget, _, agents = TASKS[task]
    settings = dict(agents[agent])
    if not smoke:
        return budget, settings
    settings["max_ep_len"] = SMOKE["warmup"]  # short test episodes too
    if "preset" not in settings:
        settings["steps_per_epoch"] = SMOKE["steps_per_epoch"]
    for name in ("start_steps", "update_after", "init_steps"):
        if settings.get(name):
            settings[name] = SMOKE["warmup"]
    if ALGO[agent] == "mbpo":
        settings.update(
            start_steps=SMOKE["warmup"],
            update_after=SMOKE["warmup"],
            model_train_freq=SMOKE["warmup"],
        )
    if ALGO[agent] == "pets" and "init_steps" not in settings:
        settings["init_steps"] = SMOKE["warmup"]
    if agent == "ppo":
        settings["minibatch_size"] = SMOKE["warmup"] // 2
    return SMOKE["steps"], settings


class PlanningClock:
    """Seconds spent in, and calls of, spinrl.planning.MPC.act in this process."""

    def __init__(self) -> None:
        from spinrl.planning import MPC

        self.seconds, self.calls, self.original = 0.0, 0, MPC.act
        clock = self

        def timed_act(planner, obs):
            start = time.perf_counter()
            action = clock.original(planner, obs)
            clock.seconds += time.perf_counter() - start
            clock.calls += 1
            return action

        MPC.act = timed_act

    def close(self) -> None:
        from spinrl.planning import MPC

        MPC.act = self.original


PARTIAL = "bench_epochs.json"  # a --resumable run's epochs so far, beside its checkpoint


def work_dir(task: str, agent: str, seed: int, smoke: bool) -> Path:
    """Where a --resumable run trains (--smoke's apart from the table's)."""
    return (Path("/tmp/part2_smoke/work") if smoke else WORK) / f"{task}_{agent}_s{seed}"


def resume_state(run_dir: Path, algo: str, budget: int) -> dict | str | None:
    """A stopped --resumable run's kept figures up to its checkpoint's epoch; None where there
    is nothing to resume; a one-line reason where the directory cannot be resumed."""
    from spinrl.checkpoint import CHECKPOINT, load_latest_checkpoint
    from spinrl.errors import SpinrlError

    if not (run_dir / CHECKPOINT).exists():
        return None
    restart = f"remove {run_dir} to start it again"
    if not (run_dir / PARTIAL).exists():
        return f"{run_dir} has a checkpoint but no {PARTIAL}: {restart}"
    kept = json.loads((run_dir / PARTIAL).read_text())
    if kept.get("budget") != budget:
        return f"{run_dir} holds a run of {kept.get('budget')} steps, not {budget}: {restart}"
    try:
        epoch = int(load_latest_checkpoint(run_dir / CHECKPOINT, kind=algo)[0]["epoch"])
    except SpinrlError as e:
        return f"{run_dir}: {e}"
    if len(kept["epochs"]) <= epoch:  # stopped between the checkpoint and its record
        return f"{run_dir}/{PARTIAL} lacks epoch {epoch}'s figures: {restart}"
    return {
        **kept,
        "epochs": kept["epochs"][: epoch + 1],
        "plan_marks": kept["plan_marks"][: epoch + 1],
    }


def one_run(
    task: str, agent: str, seed: int, runs: str, smoke: bool, resumable=False, before=None
) -> dict:
    """Train one cell for its budget and keep its summary; the summary. ``resumable``: train
    in WORK/<cell>/ with a checkpoint every epoch; ``before``: what resume_state found there
    (main checks every cell's directory before any runs), the stopped run to go on from."""
    import torch

    import spinrl
    from spinrl.checkpoint import write_json
    from spinrl.errors import TrainingInterrupted

    torch.set_num_threads(1)
    budget, settings = cell_settings(task, agent, smoke)
    key = "AverageEpRet" if agent == "ppo" else "AverageTestEpRet"
    clock = PlanningClock() if ALGO[agent] == "pets" else None
    run_dir = work_dir(task, agent, seed, smoke) if resumable else None
    partial = run_dir / PARTIAL if run_dir else None
    resume = before is not None
    before = before or {}
    epochs: list[dict] = before.get("epochs", [])
    marks_kept: list[list] = before.get("plan_marks", [])  # planning clock at each epoch's end
    resumes = before.get("resumes", -1) + 1
    # the clocks go on from where the stopped part left them (the checkpoint's epoch)
    start = time.perf_counter() - (epochs[-1]["seconds"] if epochs else 0.0)
    cpu_start = time.process_time() - (epochs[-1]["cpu_seconds"] if epochs else 0.0)
    if clock is not None and marks_kept:
        clock.seconds, clock.calls = marks_kept[-1]
    marks = [clock.seconds, clock.calls] if clock else [0.0, 0]  # at the last epoch's end

    def keep() -> None:
        write_json(partial, {
            "budget": budget, "epochs": epochs, "plan_marks": marks_kept, "resumes": resumes,
        })  # fmt: skip

    if resume:  # counted now, even if this part is stopped before its first epoch ends
        keep()

    def record(row) -> None:
        """An epoch's figures from its progress row; kept in ``partial`` when resumable."""
        value = row.get(key)
        ret = math.nan if value in (None, "") else float(value)
        epoch = {
            "steps": int(float(row["TotalEnvInteracts"])),
            "return": None if math.isnan(ret) else ret,
            "seconds": time.perf_counter() - start,
            "cpu_seconds": time.process_time() - cpu_start,
        }
        if clock is not None:
            calls = clock.calls - marks[1]
            epoch["plan_ms"] = 1000 * (clock.seconds - marks[0]) / calls if calls else None
            marks[:] = [clock.seconds, clock.calls]
        epochs.append(epoch)
        marks_kept.append(list(marks))
        if partial is not None:
            keep()

    where = dict(output_dir=str(run_dir), resume=resume, save_freq=1) if run_dir else {}
    try:
        getattr(spinrl, ALGO[agent])(
            env=task, seed=seed, total_steps=budget, verbose=False,
            callback=lambda run: record(run.last_row) or False, **where, **settings,
        )  # fmt: skip
    except TrainingInterrupted as stopped:  # SIGINT/SIGTERM: the epoch was saved, not recorded
        if run_dir is not None and len(epochs) == stopped.epoch:
            with open(run_dir / "progress.csv", newline="") as f:
                record(list(csv.DictReader(f))[-1])
        print(f"{task} {agent} seed {seed}: {stopped}", flush=True)
        raise  # run_cells: this worker starts no other cell
    finally:
        if clock is not None:
            clock.close()
    summary = {
        "task": task,
        "agent": agent,
        "algo": ALGO[agent],
        "seed": seed,
        "budget": budget,
        "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()},
        "return_key": key,
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu_start,
        "plan_ms": 1000 * clock.seconds / clock.calls if clock and clock.calls else None,
        "epochs": epochs,
        "cpu": cpu(),
        "packages": packages(),
        "torch_threads": 1,
        "date": time.strftime("%Y-%m-%d"),
        # trained with a checkpoint every epoch (its writes are in the CPU seconds), and
        # stopped and resumed this many times (its clocks go on across the parts)
        **({"checkpointed": True, "resumes": resumes} if run_dir else {}),
    }
    write_json(summary_path(Path(runs), task, agent, seed), summary)
    if run_dir is not None:
        shutil.rmtree(run_dir)  # the checkpoint has served
    return summary


def kept(runs: Path, task: str, agent: str, seeds, budget: int) -> list[dict]:
    """The kept summaries of a cell at ``budget``."""
    found = []
    for seed in seeds:
        path = summary_path(runs, task, agent, seed)
        if path.exists() and (summary := json.loads(path.read_text()))["budget"] == budget:
            found.append(summary)
    return found


def returns_of(summary: dict) -> np.ndarray:
    return np.array([math.nan if e["return"] is None else e["return"] for e in summary["epochs"]])


def final_return(summary: dict) -> float:
    """The last epoch's return that exists (PPO's envs do not finish an episode every epoch)."""
    rets = returns_of(summary)
    rets = rets[~np.isnan(rets)]
    return float(rets[-1]) if len(rets) else math.nan


def last5(summary: dict) -> float:
    rets = returns_of(summary)[-5:]
    return float(np.nanmean(rets)) if (~np.isnan(rets)).any() else math.nan


def cpu_seconds(summary: dict, epoch: int | None = None) -> float:
    """CPU seconds of the run (or up to the end of ``epoch``): the compute spent, which a
    second job on the machine, or the run being paused, leaves as it is, where wall time
    grows. Runs kept before epochs recorded their own get their wall time scaled by the run's
    CPU-to-wall ratio (and a summary without CPU time at all, its wall time)."""
    ratio = summary.get("cpu_seconds", summary["seconds"]) / max(summary["seconds"], 1e-9)
    record = summary if epoch is None else summary["epochs"][epoch]
    return record.get("cpu_seconds", record["seconds"] * ratio)


def curve(summaries: list[dict]):
    """Per epoch: env steps, IQM of the cumulative CPU seconds, IQM of the return, low, high."""
    length = min(len(s["epochs"]) for s in summaries)
    rows = []
    for i in range(length):
        rets = [returns_of(s)[i] for s in summaries]
        if all(math.isnan(r) for r in rets):
            continue
        seconds = iqm([cpu_seconds(s, i) for s in summaries])
        rows.append((summaries[0]["epochs"][i]["steps"], seconds, *iqm_ci(rets)))
    return [np.array(column) for column in zip(*rows, strict=True)] if rows else None


def model_bias(by_agent: dict[str, list[dict]]) -> list[str]:
    """Lines of a per-seed table, PETS against true-model MPC on the same test episodes (the
    test env's starts follow the run's seed, so seed for seed they face the same starts):
    each one's mean over its last 5 test episodes and the gap, the learned model's bias.
    ``by_agent``: a task's kept summaries by agent."""
    pets = {s["seed"]: s for s in by_agent.get("pets", [])}
    mpc = {s["seed"]: s for s in by_agent.get("mpc", [])}
    both = sorted(set(pets) & set(mpc))
    if not both:
        return []
    lines = [
        "",
        "Model bias: PETS (learned model) against the same planner on the true dynamics, "
        "seed for seed on the same test starts; mean of the last 5 test episodes:",
        "",
        "| seed | PETS | true-model MPC | gap (MPC - PETS) |",
        "|---|---|---|---|",
    ]
    gaps = []
    for seed in both:
        learned, true = last5(pets[seed]), last5(mpc[seed])
        gaps.append(true - learned)
        lines.append(f"| {seed} | {_fmt(learned)} | {_fmt(true)} | {_fmt(true - learned)} |")
    value, low, high = iqm_ci(gaps)
    lines.append(f"| IQM | | | {_fmt(value)} [{_fmt(low)}, {_fmt(high)}] |")
    return lines


def mixed_machines(by_agent: dict[str, list[dict]]) -> list[str]:
    """Lines naming, for each cell whose seeds ran on more than one CPU, which seeds ran where:
    its CPU seconds and planning times mix machines that differ by up to 2-3x."""
    lines = []
    for agent, summaries in by_agent.items():
        where: dict[str, list[int]] = {}
        for s in summaries:
            where.setdefault(s["cpu"], []).append(s["seed"])
        if len(where) > 1:
            runs = "; ".join(f"seeds {sorted(seeds)} on {cpu}" for cpu, seeds in where.items())
            lines.append(f"- {agent}, on more than one CPU: {runs}.")
    return ["", *lines] if lines else []


def _fmt(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:.1f}" if abs(x) < 1000 else f"{x:.0f}"


def report(runs: Path, out: Path, tasks, agents, seeds, smoke: bool = False) -> str:
    """Write part2.md and one part2_<task>.png per task from the kept summaries; the md."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    where = runs.relative_to(RESULTS.parent) if runs.is_relative_to(RESULTS.parent) else runs
    lines = [
        "# Part 2: what a model buys in samples and costs in compute",
        "",
        "Written by `benchmarks/part2.py --report` from the run summaries kept in "
        f"`{where}/` (the script's docstring has the settings). Each cell: the "
        f"interquartile mean (IQM) over seeds {list(seeds)} with its 95% percentile bootstrap "
        "interval; final return = each seed's last epoch (1 test episode; PPO: its training "
        "episodes); last 5 = each seed's mean over its last 5 epochs, then the IQM; CPU seconds "
        "= the whole run's process time, torch on 1 thread (the compute spent: unlike wall "
        "time, it does not grow when other jobs share the machine); planning = wall ms per "
        "planned env step (pets, mpc).",
    ]
    machines: set[str] = set()
    stacks: set[str | None] = set()  # package versions (None: a summary without them)
    for task in tasks:
        _, why, cells = TASKS[task]
        budget = cell_settings(task, next(iter(cells)), smoke)[0]
        lines += [
            "",
            f"## {task}: {budget:,} env steps",
            "",
            f"Budget: {why}.",
            "",
            "| agent | seeds | final return [95% CI] | last 5 epochs | CPU seconds "
            "| planning ms/step |",
            "|---|---|---|---|---|---|",
        ]
        fig, (by_steps, by_time) = plt.subplots(1, 2, figsize=(11, 4))
        drawn = False
        by_agent: dict[str, list[dict]] = {}
        for agent in agents:
            color = f"C{AGENTS.index(agent)}"
            if agent not in cells:
                lines.append(
                    f"| {agent} | | n/a: spinrl has the true dynamics of Pendulum-v1 only | | | |"
                )
                continue
            summaries = by_agent[agent] = kept(runs, task, agent, seeds, budget)
            if not summaries:
                lines.append(f"| {agent} | 0 | not run yet | | | |")
                continue
            machines |= {s["cpu"] for s in summaries}
            stacks |= {s.get("packages") for s in summaries}
            value, low, high = iqm_ci([final_return(s) for s in summaries])
            plan = [s["plan_ms"] for s in summaries if s.get("plan_ms") is not None]
            lines.append(
                f"| {agent} | {len(summaries)} | {_fmt(value)} [{_fmt(low)}, {_fmt(high)}] | "
                f"{_fmt(iqm([last5(s) for s in summaries]))} | "
                f"{iqm([cpu_seconds(s) for s in summaries]):.0f} | "
                f"{_fmt(iqm(plan)) if plan else ''} |"
            )
            if (rows := curve(summaries)) is None:
                continue
            steps, seconds, mid, low, high = rows
            drawn = True
            for axis, x in ((by_steps, steps), (by_time, seconds)):
                axis.plot(x, mid, "o-", color=color, markersize=3, label=agent)
                axis.fill_between(x, low, high, color=color, alpha=0.2, linewidth=0)
        lines += mixed_machines(by_agent)
        lines += model_bias(by_agent)
        for agent, source, steps, value, _ in PUBLISHED.get(task, []):
            color, label = f"C{AGENTS.index(agent)}", f"{agent}, {source}: {value:g} at {steps:,}"
            if steps <= budget:  # a point where the budget reaches it, else a level to aim at
                by_steps.plot(steps, value, "*", color=color, markersize=12, label=label)
            else:
                by_steps.axhline(value, color=color, linestyle=":", label=label)
                low_y, high_y = by_steps.get_ylim()  # a level is not data: keep it inside
                pad = 0.05 * (high_y - low_y)
                by_steps.set_ylim(min(low_y, value - pad), max(high_y, value + pad))
        by_steps.set(xlabel="env steps", ylabel="return (IQM, 95% CI)", title=task)
        by_time.set(xlabel="CPU seconds (1 thread)", xscale="log", title="compute")
        by_time.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        if by_steps.get_legend_handles_labels()[0]:
            by_steps.legend(fontsize=8)
        fig.tight_layout()
        if drawn:  # no plot of a task with nothing kept
            fig.savefig(out / f"part2_{task.split('-')[0].lower()}.png", dpi=100)
        plt.close(fig)
    lines += ["", f"Measured on: {'; '.join(sorted(machines)) or 'nothing kept yet'}."]
    if recorded := sorted(stacks - {None}):
        older = " (the older summaries did not record them)" if None in stacks else ""
        lines += ["", f"Packages: {'; '.join(recorded)}{older}."]
    lines += ["", "## Published figures", ""]
    published = [(task, *row) for task in tasks for row in PUBLISHED.get(task, [])]
    lines += [
        f"- {task}, {agent}: {value:g} at {steps:,} env steps ({source}; {how})"
        for task, agent, source, steps, value, how in published
    ]
    lines += [
        f"- {name}: {text}."
        for name, text in SOURCES.items()
        if any(row[2] == name for row in published)
    ]
    lines += [
        "",
        "Drawn on the plots as dotted levels where the budget here stops short of them. Not "
        "drawn: the MBPO paper (Janner et al. 2019) and the PETS paper (Chua et al. 2018) "
        "report learning curves only, on MuJoCo v2-era tasks, so no return of theirs at a "
        "stated step count could be checked against a source; the PETS paper's abstract states "
        "its claim in samples (on half-cheetah PETS matches the asymptotic return of model-free "
        "methods with 8 and 125 times fewer samples than SAC and PPO). MBBL's Pendulum and "
        "InvertedPendulum rows are left out: their rewards are not Gymnasium's (its "
        "InvertedPendulum has no early termination, 100 steps, and minus the squared angle as "
        "reward, so 0 is the best return against 1,000 here).",
    ]
    lines += [
        "",
        "## Earlier: Pendulum-v1, 3,000 env steps, seed 0 (the previous script, commit ab75d0a)",
        "",
        "Those runs lived in data/, which is gone, so no summary is kept and the tables above do "
        "not include them: test return of the last epoch (PPO: training episodes), mean of the "
        "last 5 epochs, seconds of the run. Their curves: `part2_pendulum_3k_seed0.png`.",
        "",
        "| agent | final return | last 5 epochs | seconds |",
        "|---|---|---|---|",
        *EARLIER,
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--agents", nargs="+", default=list(AGENTS), choices=AGENTS)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--workers", type=int, default=1, help="runs trained at a time")
    parser.add_argument("--report", action="store_true", help="only write tables and plots")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help=f"{SMOKE['steps']} steps per cell, seed 0, in /tmp/part2_smoke",
    )
    parser.add_argument(
        "--resumable",
        action="store_true",
        help="train in data/bench/part2/ with a checkpoint every epoch, resuming a run "
        "stopped there (for cells longer than a session)",
    )
    args = parser.parse_args()
    if args.workers < 1:
        parser.exit(2, "part2.py: --workers must be >= 1\n")
    runs, out = RUNS, RESULTS
    if args.smoke:
        runs = out = Path("/tmp/part2_smoke")
        args.seeds = [0]
    runs.mkdir(parents=True, exist_ok=True)
    if not args.report:
        jobs = []
        for task in args.tasks:
            for agent in (a for a in args.agents if a in TASKS[task][2]):
                budget = cell_settings(task, agent, args.smoke)[0]
                for seed in (s for s in args.seeds if not kept(runs, task, agent, [s], budget)):
                    cell = work_dir(task, agent, seed, args.smoke)
                    before = resume_state(cell, ALGO[agent], budget) if args.resumable else None
                    if isinstance(before, str):  # refused before anything runs
                        parser.exit(2, f"part2.py: {before}\n")
                    jobs.append((task, agent, seed, str(runs), args.smoke, args.resumable, before))

        def line(s):
            plan = f", planning {s['plan_ms']:.1f} ms/step" if s["plan_ms"] else ""
            return (
                f"{s['task']} {s['agent']} seed {s['seed']}: {s['budget']} steps, final "
                f"{final_return(s):.1f} in {s['seconds']:.1f} s{plan}"
            )

        stopped = "--resumable runs resume from their last epoch"
        run_grid(one_run, jobs, args.workers, line, "part2.py", stopped)
    text = report(runs, out, args.tasks, args.agents, args.seeds, args.smoke)
    (out / "part2.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
