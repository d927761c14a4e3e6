"""DQN on one Atari game (Breakout), with its learning curve, at a budget a 2-core CPU can run.

``spinrl train dqn --env ALE/Breakout-v5`` applies rl-baselines3-zoo's atari entry
(spinrl.presets.ATARI_DQN: Nature CNN, replay 100k, Adam 1e-4, batch 32, target copied every
1000 steps, one update every 4 steps, plain DQN, Huber loss, gradient norm 10). The zoo's
schedule is for 10M steps (100k random steps, epsilon to 0.01 over the first 1M): at the
budget run here (--steps, 250k by default: 1M frames) epsilon would still be 0.78 at the end,
so this benchmark shortens the schedule to the budget and says so: learning starts after
20k random steps and epsilon falls to 0.01 over the first 40% of the run (100k steps).
Everything else is the zoo's.

Training episodes end at a life loss with rewards clipped to their sign (AverageEpRet: the
clipped score of one life); every 10k-step epoch ends with --test-episodes greedy test games
of raw score (AverageTestEpRet), each cut at --max-ep-len agent steps (a greedy policy that
never presses FIRE would otherwise idle for the ALE's 27k-step limit). The run's
progress.csv is kept in results/runs/atari_dqn/, the table in results/atari_dqn.md and the
curve in results/atari_dqn.png.

Usage: .venv/bin/python benchmarks/atari_dqn.py [--steps 250000] [--seed 0] [--summarize]
Needs the atari extra: .venv/bin/pip install -c constraints.txt -e '.[atari]'
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
RUNS = RESULTS / "runs" / "atari_dqn"
GAME = "ALE/Breakout-v5"
# Mnih et al. 2015 (Nature), Extended Data Table 2, Breakout: random play, the professional
# human tester, and DQN after 50M frames (greedy evaluation with epsilon 0.05).
REFERENCE = {"random": 1.7, "human": 31.8, "DQN at 50M frames": 401.2}


def train(steps: int, seed: int, test_episodes: int, max_ep_len: int, data: Path) -> Path:
    exp = "atari_dqn_breakout"
    argv = ["train", "dqn", "--env", GAME, "--total-steps", str(steps), "--seed", str(seed),
            "--start-steps", "20000", "--update-after", "20001", "--exploration-fraction",
            str(100_000 / steps), "--num-test-episodes", str(test_episodes), "--max-ep-len",
            str(max_ep_len), "--data-dir", str(data), "--exp-name", exp, "--quiet"]  # fmt: skip
    subprocess.run([sys.executable, "-m", "spinrl.cli", *argv], check=True)
    kept = RUNS / f"breakout_s{seed}.csv"
    kept.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(data / exp / f"{exp}_s{seed}" / "progress.csv", kept)
    return kept


def summarize(seed: int) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import machine

    with open(RUNS / f"breakout_s{seed}.csv") as f:
        rows = list(csv.DictReader(f))
    steps = [int(float(r["TotalEnvInteracts"])) for r in rows]
    test = [float(r["AverageTestEpRet"]) for r in rows]
    life = [float(r["AverageEpRet"]) for r in rows]
    minutes = float(rows[-1]["Time"]) / 60
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(steps, test, "o-", ms=3, label="greedy test game (raw score)")
    ax.plot(steps, life, "-", lw=1, label="training life (clipped score)")
    ax.axhline(REFERENCE["random"], color="grey", ls=":", label="random play (Mnih et al.)")
    ax.set(
        xlabel="agent steps (4 frames each)", ylabel="score", title=f"DQN on {GAME}, seed {seed}"
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(RESULTS / "atari_dqn.png", dpi=120)
    marks = [i for i in range(len(steps)) if steps[i] % 50_000 == 0 or i == len(steps) - 1]
    lines = [
        f"# DQN on {GAME}: its learning curve to {steps[-1]:,} agent steps",
        "",
        f"One seed ({seed}); CPU: {machine.cpu()}, torch on 1 thread, {minutes:.0f} minutes "
        "(other jobs shared the 2 cores). Settings: rl-baselines3-zoo's atari entry with the "
        "schedule shortened to this budget (learning starts after 20k random steps; epsilon "
        "1 -> 0.01 over the first 100k steps); see benchmarks/atari_dqn.py.",
        "",
        "| agent steps | greedy test game (raw score) | training life (clipped) |",
        "|---|---|---|",
        *[f"| {steps[i]:,} | {test[i]:.1f} | {life[i]:.2f} |" for i in marks],
        "",
        "For scale (Mnih et al. 2015, Breakout): random play "
        f"{REFERENCE['random']}, the human tester {REFERENCE['human']}, DQN "
        f"{REFERENCE['DQN at 50M frames']} after 50M frames, 50 times this run's frames.",
        "",
        "![DQN on Breakout](atari_dqn.png)",
        "",
    ]
    text = "\n".join(lines)
    (RESULTS / "atari_dqn.md").write_text(text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=250_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--test-episodes", type=int, default=3)
    parser.add_argument("--max-ep-len", type=int, default=5000)
    parser.add_argument("--data", type=Path, default=Path("data/bench/atari_dqn"))
    parser.add_argument("--summarize", action="store_true", help="only write the table")
    args = parser.parse_args()
    if not args.summarize:
        train(args.steps, args.seed, args.test_episodes, args.max_ep_len, args.data)
    print(summarize(args.seed))


if __name__ == "__main__":
    main()
