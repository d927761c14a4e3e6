"""Overestimation: how far DQN's predicted value is above the return its greedy policy gets,
with the plain max target and with Double DQN's.

CartPole-v1, spinrl's DQN defaults (rl-baselines3-zoo's settings) with ``double`` True and
False, 3 seeds each. After every epoch the greedy policy plays --episodes episodes on an
env of its own; for each, the prediction is Q(s_0, a_0) at the first state and the truth is
the discounted return that followed, G_0 = sum_t gamma^t r_t. An episode that reaches the
500-step limit loses gamma^500 / (1 - gamma) = 0.66 of its value to the cut, so G_0 is the
true value to within 0.66 there and exactly where the pole falls.

Usage: .venv/bin/python benchmarks/dqn_overestimation.py [--seeds 0 1 2] [--episodes 20]
Each (setting, seed) runs in a process of its own, --workers at a time.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from machine import cpu

RESULTS = Path(__file__).parent / "results"
GAMMA = 0.99


def _trial(double: bool, seed: int, episodes: int) -> dict:
    import numpy as np
    import torch

    import spinrl
    from spinrl.envs import make_env

    env = make_env("CartPole-v1")
    env.reset(seed=10_000 + seed)
    rows = []

    def measure(run) -> bool:
        agent = run.loop.agent
        predicted, actual = [], []
        for _ in range(episodes):
            obs, _ = env.reset()
            with torch.inference_mode():
                q0 = agent.q(torch.as_tensor(obs[None], dtype=torch.float32))[0]
            predicted.append(float(q0.max()))
            ret, discount, done = 0.0, 1.0, False
            while not done:
                obs, reward, terminated, truncated, _ = env.step(
                    int(agent.deterministic(obs[None])[0])
                )
                ret += discount * float(reward)
                discount *= GAMMA
                done = terminated or truncated
            actual.append(ret)
        rows.append(
            {
                "steps": run.loop.steps,
                "predicted": float(np.mean(predicted)),
                "actual": float(np.mean(actual)),
            }
        )
        return False

    # the two targets alone: no dueling head, uniform one-step replay (as when measured)
    spinrl.dqn(env="CartPole-v1", seed=seed, double=double, gamma=GAMMA, verbose=False,
               dueling=False, prioritized=False, n_step=1, callback=measure)  # fmt: skip
    return {"double": double, "seed": seed, "rows": rows}


def run_trial(double: bool, seed: int, episodes: int) -> dict:
    cmd = [sys.executable, __file__, "--trial", json.dumps([double, seed, episodes])]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"double={double} seed={seed} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _plot(trials: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(7, 4))
    for double, color in ((False, "tab:red"), (True, "tab:blue")):
        group = [t["rows"] for t in trials if t["double"] is double]
        steps = [r["steps"] for r in group[0]]
        pred = np.mean([[r["predicted"] for r in rows] for rows in group], axis=0)
        act = np.mean([[r["actual"] for r in rows] for rows in group], axis=0)
        name = "Double DQN" if double else "DQN (max target)"
        ax.plot(steps, pred, color=color, label=f"{name}: predicted Q(s0, a0)")
        ax.plot(steps, act, color=color, linestyle="--", label=f"{name}: discounted return")
    ax.set_xlabel("env steps")
    ax.set_ylabel("value at the first state")
    ax.set_title(f"CartPole-v1, gamma {GAMMA}, mean over {len(trials) // 2} seeds")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--trial", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.trial:
        import torch

        torch.set_num_threads(1)
        print(json.dumps(_trial(*json.loads(args.trial))))
        return
    jobs = [(double, seed) for seed in args.seeds for double in (False, True)]
    with ThreadPoolExecutor(args.workers) as pool:
        trials = list(pool.map(lambda job: run_trial(*job, args.episodes), jobs))
    lines = [
        "# Overestimation: DQN's max target against Double DQN's (CartPole-v1)",
        "",
        f"Machine: {cpu()}, {time.strftime('%Y-%m-%d')}. spinrl's DQN (the zoo's CartPole-v1 "
        "settings, no dueling head, uniform one-step replay) with double "
        f"true and false, seeds {args.seeds}; after every epoch of 5000 steps, "
        f"{args.episodes} greedy episodes: the predicted max_a Q(s0, a) at their first state "
        f"against the discounted return (gamma {GAMMA}) that followed, means over episodes "
        "and then seeds. The return of an episode cut at 500 steps is 0.66 short of the "
        "value of going on.",
        "",
        "| env steps | DQN predicted | DQN return | DQN over | Double predicted "
        "| Double return | Double over |",
        "|---|---|---|---|---|---|---|",
    ]
    by = {d: [t["rows"] for t in trials if t["double"] is d] for d in (False, True)}
    summary = {}
    for i, row in enumerate(by[False][0]):
        cells = [str(row["steps"])]
        for d in (False, True):
            pred = sum(rows[i]["predicted"] for rows in by[d]) / len(by[d])
            act = sum(rows[i]["actual"] for rows in by[d]) / len(by[d])
            cells += [f"{pred:.1f}", f"{act:.1f}", f"{pred - act:+.1f}"]
            summary.setdefault(d, []).append(pred - act)
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Mean over all epochs of (predicted - return): DQN "
        f"{sum(summary[False]) / len(summary[False]):+.1f}, Double DQN "
        f"{sum(summary[True]) / len(summary[True]):+.1f}.",
        "",
        "Per seed, predicted - return at each epoch:",
        "",
    ]
    for t in trials:
        name = "Double DQN" if t["double"] else "DQN"
        diffs = ", ".join(f"{r['predicted'] - r['actual']:+.1f}" for r in t["rows"])
        lines.append(f"- {name}, seed {t['seed']}: {diffs}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "dqn_overestimation.md").write_text("\n".join(lines) + "\n")
    (RESULTS / "runs").mkdir(exist_ok=True)
    (RESULTS / "runs" / "dqn_overestimation.json").write_text(json.dumps(trials, indent=1))
    _plot(trials, RESULTS / "dqn_overestimation.png")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
