"""Exact resume: a run killed with SIGKILL and resumed ends where an uninterrupted run ends."""

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from spinrl.checkpoint import load_checkpoint
from spinrl.cli import main

PPO_COMMON = ["--minibatch-size", "128", "--update-epochs", "2"]
SETTINGS = {
    ("ppo", "CartPole-v1"): [
        "--num-envs",
        "2",
        "--steps-per-epoch",
        "256",
        "--epochs",
        "14",
        *PPO_COMMON,
    ],
    ("ppo", "HalfCheetah-v5"): [
        "--num-envs",
        "2",
        "--steps-per-epoch",
        "256",
        "--epochs",
        "10",
        "--normalize-obs",
        "true",
        "--normalize-reward",
        "true",
        *PPO_COMMON,
    ],
    ("sac", "Pendulum-v1"): [
        "--steps-per-epoch",
        "100",
        "--epochs",
        "10",
        "--start-steps",
        "100",
        "--update-after",
        "50",
        "--update-every",
        "25",
        "--batch-size",
        "32",
        "--hid",
        "[16,16]",
        "--num-test-episodes",
        "1",
        "--max-ep-len",
        "30",
    ],
    # PPO's gSDE: the matrices drawn from the rollout's stream every 3 steps
    ("ppo", "MountainCarContinuous-v0"): [
        *("--sde", "true", "--sde-sample-freq", "3", "--log-std-init", "-1"),
        *("--num-envs", "2", "--steps-per-epoch", "128", "--epochs", "8"),
        *("--normalize-obs", "true", *PPO_COMMON),
    ],
    # gSDE: the held exploration matrices, redrawn every 7 steps and every collection of 25
    ("sac", "MountainCarContinuous-v0"): [
        *("--sde", "true", "--sde-sample-freq", "7", "--log-std-init", "-1"),
        *("--steps-per-epoch", "100", "--epochs", "10", "--start-steps", "30"),
        *("--update-after", "50", "--update-every", "25", "--batch-size", "32"),
        *("--hid", "[16,16]", "--num-test-episodes", "1", "--max-ep-len", "30"),
    ],
    # TD3's Ornstein-Uhlenbeck noise: its state, reset at the 30-step episode ends
    ("td3", "MountainCarContinuous-v0"): [
        *("--noise-type", "ou", "--act-noise", "0.5", "--steps-per-epoch", "100"),
        *("--epochs", "10", "--start-steps", "30", "--update-after", "50"),
        *("--update-every", "25", "--batch-size", "32", "--hid", "[16,16]"),
        *("--num-test-episodes", "1", "--max-ep-len", "30"),
    ],
    # every DQN option that carries state: n-step windows, priorities, beta, epsilon, the
    # dueling head, soft target updates, two envs
    ("dqn", "CartPole-v1"): [
        "--num-envs",
        "2",
        "--steps-per-epoch",
        "100",
        "--epochs",
        "10",
        "--start-steps",
        "100",
        "--update-after",
        "50",
        "--update-every",
        "20",
        "--gradient-steps",
        "10",
        "--target-update-every",
        "30",
        "--polyak",
        "0.5",
        "--batch-size",
        "32",
        "--hid",
        "[16,16]",
        "--n-step",
        "3",
        "--prioritized",
        "true",
        "--dueling",
        "true",
        "--num-test-episodes",
        "1",
        "--max-ep-len",
        "30",
    ],
    ("pets", "Pendulum-v1"): [
        *("--steps-per-epoch", "30", "--epochs", "10", "--init-steps", "20"),
        *("--max-ep-len", "15", "--hid", "[8]", "--members", "2", "--particles", "2"),
        *("--population", "8", "--elites", "2", "--iterations", "2", "--horizon", "3"),
        *("--model-epochs", "2", "--num-test-episodes", "1"),
    ],
    ("mbpo", "Pendulum-v1"): [
        *("--steps-per-epoch", "40", "--epochs", "8", "--start-steps", "20"),
        *("--update-after", "20", "--updates-per-step", "1", "--batch-size", "16"),
        *("--hid", "[8]", "--members", "2", "--model-hid", "[8]", "--model-epochs", "2"),
        *("--model-train-freq", "20", "--rollouts-per-step", "2", "--k-schedule", "[0,4,1,3]"),
        *("--num-test-episodes", "1", "--max-ep-len", "20"),
    ],
    # the learned termination head: its weights, and the flags it samples in planning and
    # in model rollouts, on a task that terminates
    ("pets", "InvertedPendulum-v5"): [
        *("--termination", "learned", "--steps-per-epoch", "30", "--epochs", "10"),
        *("--init-steps", "20", "--max-ep-len", "15", "--hid", "[8]", "--members", "2"),
        *("--particles", "2", "--population", "8", "--elites", "2", "--iterations", "2"),
        *("--horizon", "3", "--model-epochs", "2", "--num-test-episodes", "1"),
    ],
    ("mbpo", "InvertedPendulum-v5"): [
        *("--termination", "learned", "--steps-per-epoch", "40", "--epochs", "8"),
        *("--start-steps", "20", "--update-after", "20", "--updates-per-step", "1"),
        *("--batch-size", "16", "--hid", "[8]", "--members", "2", "--model-hid", "[8]"),
        *("--model-epochs", "2", "--model-train-freq", "20", "--rollouts-per-step", "2"),
        *("--k-schedule", "[0,4,1,3]", "--num-test-episodes", "1", "--max-ep-len", "20"),
    ],
}


def _argv(algo, env, data_dir, name):
    return [
        "train",
        algo,
        "--env",
        env,
        *SETTINGS[algo, env],
        "--save-freq",
        "1",
        "--quiet",
        "--data-dir",
        str(data_dir),
        "--exp-name",
        name,
    ]


def _rows(run: Path):
    with open(run / "progress.csv") as f:
        return [{k: v for k, v in row.items() if k != "Time"} for row in csv.DictReader(f)]


def _kill_midway(argv, run: Path, rows_before_kill: int) -> int:
    """Start training in a child process and SIGKILL it once it has logged enough epochs."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "spinrl.cli", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    progress = run / "progress.csv"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if progress.exists() and len(progress.read_text().splitlines()) > rows_before_kill:
            break
        time.sleep(0.01)
    assert proc.poll() is None, "training finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return len(progress.read_text().splitlines()) - 1


def _tensors(state, prefix=""):
    """Every tensor in a nested checkpoint, by path."""
    if isinstance(state, torch.Tensor):
        yield prefix, state
    elif isinstance(state, dict):
        for key, value in state.items():
            yield from _tensors(value, f"{prefix}/{key}")


@pytest.mark.parametrize(("algo", "env"), list(SETTINGS))
def test_killed_and_resumed_run_equals_uninterrupted_run(algo, env, tmp_path):
    assert main(_argv(algo, env, tmp_path, "straight")) == 0
    straight = tmp_path / "straight" / "straight_s0"

    argv = _argv(algo, env, tmp_path, "killed")
    run = tmp_path / "killed" / "killed_s0"
    logged = _kill_midway(argv, run, rows_before_kill=3)
    assert 3 <= logged < 10
    assert main(["train", "--resume", str(run), "--quiet"]) == 0

    assert _rows(run) == _rows(straight)
    a = dict(_tensors(load_checkpoint(straight / "model.pt")))
    b = dict(_tensors(load_checkpoint(run / "model.pt")))
    assert a.keys() == b.keys()
    # Networks, optimiser moments, normaliser statistics, replay contents, alpha, RNG states.
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_resume_refuses_corrupt_checkpoints_and_changed_configs(tmp_path, capsys):
    argv = [
        "train",
        "ppo",
        "--env",
        "CartPole-v1",
        "--steps-per-epoch",
        "128",
        "--epochs",
        "2",
        "--minibatch-size",
        "64",
        "--quiet",
        "--data-dir",
        str(tmp_path),
        "--exp-name",
        "r",
    ]
    assert main(argv) == 0
    run = tmp_path / "r" / "r_s0"
    capsys.readouterr()
    assert main(["train", "ppo", "--resume", str(run), "--hid", "[8]"]) == 2
    assert "cannot change: hid" in capsys.readouterr().err
    assert main(["train", "vpg", "--resume", str(run)]) == 2
    assert "is a 'ppo' run, not 'vpg'" in capsys.readouterr().err
    data = (run / "model.pt").read_bytes()
    (run / "model.pt").write_bytes(data[: len(data) // 3])
    assert main(["train", "--resume", str(run), "--epochs", "4"]) == 2
    err = capsys.readouterr().err
    assert "cannot be read (truncated or damaged)" in err and err.count("\n") == 1
    (run / "model.pt").unlink()
    assert main(["train", "--resume", str(run), "--epochs", "4"]) == 2
    assert "does not exist" in capsys.readouterr().err
