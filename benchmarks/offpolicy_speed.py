"""Off-policy speed: SAC and TD3 in spinrl and Stable-Baselines3, side by side.

HalfCheetah-v5, SB3's defaults made identical on both sides: batch 256, one gradient step
per env step, (256, 256) ReLU networks, tau 0.005 (polyak 0.995), gamma 0.99; SAC with
automatic entropy tuning and lr 3e-4, TD3 with lr 1e-3, policy delay 2, target noise 0.2
clipped at 0.5. Both take 500 random steps first; the figure is env steps per second over
the steps after that (every one of which does a gradient step). Every trial runs in a fresh
process, one at a time, torch on 1 thread.

Usage: .venv/bin/python benchmarks/offpolicy_speed.py [--steps 1000]
Needs the bench extra: .venv/bin/pip install -c constraints.txt -e '.[bench]'
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
WARMUP = 500


def _sb3(algo: str, steps: int) -> dict:
    from stable_baselines3 import SAC, TD3
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    marks: list[float] = []

    class Clock(BaseCallback):
        def _on_step(self) -> bool:
            if self.model.num_timesteps == WARMUP:
                marks.append(time.perf_counter())
            return True

    env = make_vec_env("HalfCheetah-v5", n_envs=1, seed=0)
    common = dict(
        batch_size=256,
        learning_starts=WARMUP,
        train_freq=1,
        gradient_steps=1,
        tau=0.005,
        gamma=0.99,
        seed=0,
        device="cpu",
        policy_kwargs={"net_arch": [256, 256]},
    )
    if algo == "sac":
        model = SAC("MlpPolicy", env, learning_rate=3e-4, **common)
    else:
        model = TD3("MlpPolicy", env, learning_rate=1e-3, **common)
    model.learn(WARMUP + steps, callback=Clock())
    seconds = time.perf_counter() - marks[0]
    return {"steps": steps, "seconds": seconds, "steps_per_s": steps / seconds}


def _spinrl(algo: str, steps: int) -> dict:
    import spinrl

    ends: list[float] = []
    kwargs = dict(
        env="HalfCheetah-v5",
        steps_per_epoch=WARMUP,
        epochs=1 + steps // WARMUP,
        start_steps=WARMUP,
        update_after=WARMUP,
        update_every=1,
        batch_size=256,
        polyak=0.995,
        gamma=0.99,
        hid=(256, 256),
        num_test_episodes=0,
        verbose=False,
        callback=lambda view: ends.append(time.perf_counter()),
    )
    if algo == "sac":
        spinrl.sac(lr=3e-4, **kwargs)
    else:
        spinrl.td3(pi_lr=1e-3, q_lr=1e-3, **kwargs)
    seconds = ends[-1] - ends[0]
    done = (len(ends) - 1) * WARMUP
    return {"steps": done, "seconds": seconds, "steps_per_s": done / seconds}


def run_trial(framework: str, algo: str, steps: int) -> dict:
    cmd = [sys.executable, __file__, "--trial", json.dumps([framework, algo, steps])]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{framework} {algo} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--trial", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.trial:
        import torch

        torch.set_num_threads(1)
        framework, algo, steps = json.loads(args.trial)
        print(json.dumps((_sb3 if framework == "sb3" else _spinrl)(algo, steps)))
        return
    rows = []
    for algo in ("sac", "td3"):
        sb3, ours = run_trial("sb3", algo, args.steps), run_trial("spinrl", algo, args.steps)
        rows.append((algo, sb3, ours))
        print(
            f"{algo}: SB3 {sb3['steps_per_s']:.1f} steps/s, spinrl {ours['steps_per_s']:.1f} "
            f"steps/s, ratio {ours['steps_per_s'] / sb3['steps_per_s']:.2f}x"
        )
    lines = [
        "# Off-policy speed: spinrl vs Stable-Baselines3 (HalfCheetah-v5)",
        "",
        f"Machine: {platform.processor() or platform.machine()}, torch on 1 thread, "
        f"{time.strftime('%Y-%m-%d')}. One gradient step per env step, batch 256, (256, 256); "
        f"env steps per second over {args.steps} steps after {WARMUP} random ones.",
        "",
        "| algorithm | SB3 steps/s | spinrl steps/s | ratio (target >= 2x) |",
        "|---|---|---|---|",
    ]
    for algo, sb3, ours in rows:
        ratio = ours["steps_per_s"] / sb3["steps_per_s"]
        lines.append(
            f"| {algo} | {sb3['steps_per_s']:.1f} | {ours['steps_per_s']:.1f} | {ratio:.2f}x |"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "offpolicy_speed.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
