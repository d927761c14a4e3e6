"""Why PETS does not keep InvertedPendulum-v5's pole up: its model against the real steps.

part2.py measured PETS on InvertedPendulum-v5 ending at 73-355 after 5,000 steps where MBPO
ends at 1,000. This script trains PETS with part2's settings (seed 0, 3,000 steps), then runs
test episodes with the trained planner and, at every step, sets the real change of each
observation beside the ensemble's predicted mean change (the average of the members' means)
for the same state and action. It also records how far along the rail the training data
went. The table goes to results/pets_rail.md.

    .venv/bin/python benchmarks/pets_rail.py [--seed 0] [--steps 3000] [--episodes 3]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from machine import cpu

HERE = Path(__file__).resolve().parent
OUT = HERE / "results" / "pets_rail.md"
# part2.py's InvertedPendulum-v5 settings for PETS
SETTINGS = dict(hid=(64, 64, 64), population=100, elites=10, particles=5, iterations=4,
                num_test_episodes=1, horizon=15, steps_per_epoch=1000, reward="learned",
                termination="known")  # fmt: skip
RAIL = 1.0  # the slider joint's range in InvertedPendulum-v5's model: x in [-1, 1]


def episode(planner, model, env, seed: int) -> list[dict]:
    """One test episode with the planner; per step the state, action and real and predicted
    changes of the cart's and the pole's velocities."""
    import torch

    obs, _ = env.reset(seed=seed)
    planner.reset()
    steps = []
    for _ in range(1000):
        action = planner.act(obs)
        next_obs, _, terminated, truncated, _ = env.step(action)
        with torch.no_grad():
            mean = model.predict(torch.as_tensor(obs[None]), torch.as_tensor(action[None]))[0]
        predicted = mean[:, 0, :4].mean(0).numpy()
        steps.append({
            "x": float(obs[0]), "angle": float(obs[1]), "action": float(action[0]),
            "real_dv": float(next_obs[2] - obs[2]), "pred_dv": float(predicted[2] - obs[2]),
            "real_dw": float(next_obs[3] - obs[3]), "pred_dw": float(predicted[3] - obs[3]),
            "terminated": bool(terminated), "next_x": float(next_obs[0]),
            "next_angle": float(next_obs[1]),
        })  # fmt: skip
        obs = next_obs
        if terminated or truncated:
            break
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--episodes", type=int, default=3)
    args = parser.parse_args()

    import gymnasium as gym
    import torch

    import spinrl

    torch.set_num_threads(1)
    start = time.process_time()
    result = spinrl.pets(env="InvertedPendulum-v5", seed=args.seed, total_steps=args.steps,
                         verbose=False, **SETTINGS)  # fmt: skip
    planner, model, replay = result.agent, result.agent.model, result.replay
    seen = replay.obs[: replay.size]
    reach = float(np.abs(seen[:, 0]).max())
    env = gym.make("InvertedPendulum-v5")
    episodes = [episode(planner, model, env, 100 + i) for i in range(args.episodes)]

    lines = [
        "# PETS on InvertedPendulum-v5: the model against the real steps",
        "",
        f"`benchmarks/pets_rail.py`: PETS with part2.py's settings (seed {args.seed}, "
        f"{args.steps:,} env steps), then {args.episodes} test episodes with the trained "
        "planner. At every step, the real change of the cart's velocity (dv) and of the "
        "pole's angular velocity (dw) beside the ensemble's predicted mean change for the "
        "same state and action.",
        "",
        f"CPU: {cpu()}; {time.process_time() - start:.0f} CPU seconds in all, "
        f"{time.strftime('%Y-%m-%d')}.",
        "",
        f"The training data ({replay.size:,} transitions) reached |x| = {reach:.2f} along "
        f"the rail, whose ends are at x = +-{RAIL:g}.",
        "",
        "| episode | steps | x at the end | angle at the end | median relative error of "
        "dv, over the steps with abs(x) < 0.9 and abs(real dv) > 0.05 | dv at the last step, real "
        "/ predicted | dw at the last step, real / predicted |",
        "|---|---|---|---|---|---|---|",
    ]
    for i, steps in enumerate(episodes):
        inside = [s for s in steps if abs(s["x"]) < 0.9 and abs(s["real_dv"]) > 0.05]
        rel = np.median([abs(s["pred_dv"] - s["real_dv"]) / abs(s["real_dv"]) for s in inside])
        last = steps[-1]
        lines.append(
            f"| {i} | {len(steps)} | {last['next_x']:+.3f} | {last['next_angle']:+.3f} | "
            f"{100 * rel:.1f}% | {last['real_dv']:+.3f} / {last['pred_dv']:+.3f} | "
            f"{last['real_dw']:+.3f} / {last['pred_dw']:+.3f} |"
        )
    lines += ["", "Episode 0, every 8th step and the last three:", "",
              "| step | x | angle | action | dv real | dv predicted | dw real | dw predicted |",
              "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    steps = episodes[0]
    shown = sorted(set(range(0, len(steps), 8)) | set(range(max(0, len(steps) - 3), len(steps))))
    for t in shown:
        s = steps[t]
        lines.append(
            f"| {t} | {s['x']:+.3f} | {s['angle']:+.3f} | {s['action']:+.2f} | "
            f"{s['real_dv']:+.3f} | {s['pred_dv']:+.3f} | {s['real_dw']:+.3f} | "
            f"{s['pred_dw']:+.3f} |"
        )
    OUT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
