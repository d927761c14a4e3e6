"""Fault injection: interrupts, crashes while saving, divergence, shared run directories,
changed configs, hostile files, environments an algorithm cannot serve, determinism.

Every case records (case, expected, observed) in MATRIX; tests/conftest.py prints the matrix
at the end of the run.
"""

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

import spinrl
from conftest import MBPO_TINY, PETS_TINY
from spinrl.checkpoint import load_checkpoint, load_latest_checkpoint, save_checkpoint
from spinrl.cli import main
from spinrl.errors import CheckpointError, ConfigError, DivergenceError, EnvError

MATRIX: list[tuple[str, str, str]] = []


def record(case: str, expected: str, observed: str) -> None:
    MATRIX.append((case, expected, observed))


def _cli(*argv):
    return subprocess.Popen(
        [sys.executable, "-m", "spinrl.cli", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_rows(progress: Path, rows: int, proc, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if progress.exists() and len(progress.read_text().splitlines()) > rows:
            return
        time.sleep(0.01)
    raise AssertionError("training ended or stalled before the signal could be sent")


def _ppo_argv(data_dir, name, epochs=40, save_freq=1000):
    return [
        "train",
        "ppo",
        "--env",
        "CartPole-v1",
        "--steps-per-epoch",
        "256",
        "--epochs",
        str(epochs),
        "--minibatch-size",
        "128",
        "--update-epochs",
        "2",
        "--save-freq",
        str(save_freq),
        "--quiet",
        "--data-dir",
        str(data_dir),
        "--exp-name",
        name,
    ]


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_finishes_the_update_saves_and_exits(sig, status, tmp_path):
    run = tmp_path / "s" / "s_s0"
    proc = _cli(*_ppo_argv(tmp_path, "s"))
    _wait_rows(run / "progress.csv", 2, proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    rows = len((run / "progress.csv").read_text().splitlines()) - 1
    epoch = int(load_checkpoint(run / "model.pt", kind="ppo")["epoch"])
    record(
        f"{sig.name} during training",
        f"checkpoint of the last epoch, exit {status}",
        f"exit {proc.returncode}, checkpoint epoch {epoch}, {rows} rows",
    )
    assert proc.returncode == status
    assert epoch == rows - 1 and f"spinrl train --resume {run}" in err
    assert main(["train", "--resume", str(run), "--quiet", "--epochs", str(rows + 2)]) == 0
    assert len((run / "progress.csv").read_text().splitlines()) - 1 == rows + 2


def test_the_interrupt_crosses_a_process_boundary_whole():
    # A worker of a process pool (or Ray) that was stopped sends the exception back pickled:
    # it must arrive with its fields, not break the pool.
    import pickle

    from spinrl.errors import TrainingInterrupted

    sent = TrainingInterrupted(signal.SIGTERM, "data/x/x_s0", 3)
    got = pickle.loads(pickle.dumps(sent))
    assert (got.signum, got.run_dir, got.epoch, str(got)) == (15, "data/x/x_s0", 3, str(sent))
    assert got.exit_status == 143


def test_second_ctrl_c_exits_at_once_and_the_last_checkpoint_still_loads(tmp_path):
    run = tmp_path / "d" / "d_s0"
    proc = _cli(*_ppo_argv(tmp_path, "d", epochs=400, save_freq=1))
    _wait_rows(run / "progress.csv", 2, proc)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    start = time.time()
    proc.communicate(timeout=60)
    state, used = load_latest_checkpoint(run / "model.pt", kind="ppo")
    record(
        "second Ctrl-C",
        "exit at once, last checkpoint loadable",
        f"exit {proc.returncode} after {time.time() - start:.1f} s, {used.name} loads",
    )
    assert proc.returncode == 130 and "actor" in state["policy"]


def test_a_write_that_fails_midway_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "model.pt"
    save_checkpoint(path, {"kind": "ppo", "w": torch.ones(3)})

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"kind": "ppo", "w": torch.zeros(3)})
    monkeypatch.undo()
    state = load_checkpoint(path, kind="ppo")
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    record(
        "write fails while saving",
        "previous checkpoint intact, no temp files",
        f"w={state['w'].tolist()}, temp files {leftovers}",
    )
    assert torch.equal(state["w"], torch.ones(3)) and not leftovers


def test_resume_falls_back_to_the_previous_checkpoint_and_says_so(tmp_path, capsys):
    argv = _ppo_argv(tmp_path, "p", epochs=4, save_freq=1)
    assert main(argv) == 0
    run = tmp_path / "p" / "p_s0"
    (run / "model.pt").write_bytes((run / "model.pt").read_bytes()[:100])  # killed mid-write
    capsys.readouterr()
    code = main(["train", "--resume", str(run), "--quiet", "--epochs", "5"])
    err = capsys.readouterr().err
    rows = len((run / "progress.csv").read_text().splitlines()) - 1
    record(
        "newest checkpoint damaged",
        "resume from the previous one, say which",
        f"exit {code}, {'named model.pt.prev' if 'model.pt.prev' in err else 'silent'}, "
        f"{rows} rows",
    )
    assert code == 0 and "resuming from the previous checkpoint" in err and rows == 5


class _Blowup(gym.Env):
    """Finite rewards until step 900, then rewards whose returns overflow to inf."""

    observation_space = gym.spaces.Box(-1, 1, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)
    steps = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(1, np.float32), {}

    def step(self, action):
        type(self).steps += 1
        reward = 1e308 if type(self).steps > 900 else 1.0
        return np.zeros(1, np.float32), reward, False, False, {}


@pytest.mark.filterwarnings("ignore:overflow")
def test_divergence_stops_naming_the_quantity_and_keeps_the_last_good_checkpoint(tmp_path):
    _Blowup.steps = 0
    out = tmp_path / "div"
    with pytest.raises(DivergenceError) as info:
        spinrl.pg(
            lambda: gym.wrappers.TimeLimit(_Blowup(), 10),
            phi="rtg",
            hid=(8,),
            steps_per_epoch=400,
            epochs=5,
            save_freq=1,
            output_dir=str(out),
            verbose=False,
        )
    epoch = int(load_checkpoint(out / "model.pt", kind="pg")["epoch"])
    record(
        "loss becomes inf",
        "stop naming quantity and epoch, keep last good checkpoint",
        f"'{info.value}', checkpoint epoch {epoch}",
    )
    assert "LossPi became inf at epoch 2" in str(info.value) and epoch == 1


def test_a_second_run_on_a_locked_directory_is_refused_and_a_stale_lock_taken_over(
    tmp_path, capsys
):
    run = tmp_path / "l" / "l_s0"
    run.mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (run / ".lock").write_text(str(holder.pid))
        with pytest.raises(ConfigError) as info:
            spinrl.ppo(
                env="CartPole-v1",
                steps_per_epoch=128,
                epochs=1,
                minibatch_size=64,
                output_dir=str(run),
                verbose=False,
            )
    finally:
        holder.kill()
        holder.wait()
    (run / ".lock").write_text(str(holder.pid))  # its process is gone now: a stale lock
    capsys.readouterr()
    spinrl.ppo(
        env="CartPole-v1",
        steps_per_epoch=128,
        epochs=1,
        minibatch_size=64,
        output_dir=str(run),
        verbose=False,
    )
    err = capsys.readouterr().err
    record(
        "two runs, one directory",
        "second refused; stale lock taken over with a warning",
        f"'{info.value}'; stale: {'warned' if 'stale lock' in err else 'silent'}",
    )
    assert f"in use by another run (PID {holder.pid})" in str(info.value)
    assert "taking over the stale lock" in err and not (run / ".lock").exists()


def test_a_completed_run_is_never_overwritten_silently(tmp_path, capsys):
    argv = _ppo_argv(tmp_path, "c", epochs=1)
    assert main(argv) == 0
    progress = tmp_path / "c" / "c_s0" / "progress.csv"
    before = progress.read_text()
    assert main(argv) == 0
    out = capsys.readouterr().out
    record(
        "rerun of a completed run",
        "skipped unless --overwrite",
        "skipped"
        if progress.read_text() == before and "already completed" in out
        else "overwritten",
    )
    assert progress.read_text() == before


def test_resume_with_a_changed_config_names_the_fields(tmp_path):
    out = tmp_path / "r"
    kwargs = dict(
        env="CartPole-v1",
        steps_per_epoch=128,
        epochs=1,
        minibatch_size=64,
        output_dir=str(out),
        verbose=False,
    )
    spinrl.ppo(**kwargs)
    with pytest.raises(ConfigError) as info:
        spinrl.ppo(**{**kwargs, "hid": (8,), "gamma": 0.9}, resume=True)
    longer = spinrl.ppo(**{**kwargs, "epochs": 2}, resume=True)
    record(
        "resume with changed config",
        "refused naming fields; epochs may change",
        f"'{info.value}'; epochs 1->2 ran to epoch {longer.last_row['Epoch']}",
    )
    assert "cannot change: gamma, hid" in str(info.value) and longer.last_row["Epoch"] == 1


@pytest.mark.parametrize(
    ("case", "content", "message"),
    [
        ("config.json not JSON", "{oops", "is not valid JSON"),
        (
            "config.json misses fields",
            json.dumps({"algo": "ppo", "config": {"env": "CartPole-v1"}}),
            "misses fields",
        ),
    ],
)
def test_broken_config_json_is_one_line_exit_2(case, content, message, tmp_path, capsys):
    run = tmp_path / "b"
    run.mkdir()
    (run / "config.json").write_text(content)
    code = (
        main(["train", "--resume", str(run)])
        if case.endswith("fields")
        else main(["train", "ppo", "--resume", str(run)])
    )
    err = capsys.readouterr().err
    record(case, "one line, exit 2", f"exit {code}, {err.count(chr(10))} line(s)")
    assert code == 2 and message in err and err.count("\n") == 1


def test_a_pickled_object_in_a_checkpoint_never_runs(tmp_path, capsys):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    run = tmp_path / "h"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"algo": "ppo", "config": {"env": "CartPole-v1"}}))
    torch.save({"kind": "ppo", "actor": Payload()}, run / "model.pt")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = main(["watch", str(run), "--episodes", "1"])
    err = capsys.readouterr().err
    record(
        "checkpoint holding a pickled object",
        "refused, code never runs, exit 2, no advice to unpickle, no warning",
        f"exit {code}, payload ran: {marker.exists()}, {len(caught)} warning(s)",
    )
    assert code == 2 and not marker.exists() and err.count("\n") == 1
    assert "is not a spinrl checkpoint" in err and "refuses" in err
    assert "weights_only" not in err and not caught


class _Spaces(gym.Env):
    def __init__(self, obs_space, act_space, nan_at=None):
        self.observation_space, self.action_space, self.nan_at, self.t = (
            obs_space,
            act_space,
            nan_at,
            0,
        )

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        self.t += 1
        obs = self.observation_space.sample()
        if self.nan_at is not None and self.t >= self.nan_at:
            obs = np.full_like(obs, np.nan)
        return obs, 0.0, False, False, {}


BOX = gym.spaces.Box(-1, 1, (2,), np.float32)
IMAGE = gym.spaces.Box(0, 255, (12, 12, 1), np.uint8)
ENV_CASES = [
    (
        "Dict observation with a Tuple entry",
        "ppo",
        gym.spaces.Dict({"a": BOX, "b": gym.spaces.Tuple([gym.spaces.Discrete(2)])}),
        gym.spaces.Discrete(2),
        "entry 'b' is Tuple",
    ),
    ("Tuple actions", "ppo", BOX, gym.spaces.Tuple([gym.spaces.Discrete(2)]), "Tuple"),
    ("MultiDiscrete actions", "trpo", BOX, gym.spaces.MultiDiscrete([2, 3]), "MultiDiscrete"),
    (
        "image smaller than a 3x3 convolution",
        "vpg",
        gym.spaces.Box(0, 255, (2, 2, 3), np.uint8),
        gym.spaces.Discrete(2),
        "at least 3x3",
    ),
    ("infinite action bounds, SAC", "sac", BOX, gym.spaces.Box(-np.inf, np.inf, (1,)), "infinite"),
    ("Discrete actions, TD3", "td3", BOX, gym.spaces.Discrete(3), "use ppo, trpo, vpg or pg"),
    ("Box actions, DQN", "dqn", BOX, gym.spaces.Box(-1, 1, (1,)), "use sac, td3 or ddpg"),
    ("Discrete actions, PETS", "pets", BOX, gym.spaces.Discrete(3), "use ppo, trpo, vpg or pg"),
    ("Discrete actions, MBPO", "mbpo", BOX, gym.spaces.Discrete(3), "use ppo, trpo, vpg or pg"),
    ("image observations, PETS", "pets", IMAGE, BOX, "flat vector observations"),
    ("image observations, MBPO", "mbpo", IMAGE, BOX, "flat vector observations"),
]


@pytest.mark.parametrize(("case", "algo", "obs", "act", "message"), ENV_CASES)
def test_environments_an_algorithm_cannot_serve_fail_before_training(case, algo, obs, act, message):
    with pytest.raises(EnvError) as info:
        getattr(spinrl, algo)(
            lambda: _Spaces(obs, act), steps_per_epoch=256, epochs=1, verbose=False
        )
    record(case, "clear error before training", f"EnvError: {str(info.value)[:60]}")
    assert message in str(info.value)


def test_nan_observations_are_caught_with_the_step_number():
    with pytest.raises(EnvError) as info:
        spinrl.ppo(
            lambda: _Spaces(BOX, gym.spaces.Discrete(2), nan_at=7),
            num_envs=1,
            steps_per_epoch=64,
            epochs=1,
            minibatch_size=32,
            verbose=False,
        )
    record("NaN observation", "error with the step number", str(info.value))
    assert "non-finite observation at step 6" in str(info.value)


TINY = {
    "pg": dict(env="CartPole-v1", steps_per_epoch=200, epochs=2, hid=(8,)),
    "vpg": dict(env="CartPole-v1", steps_per_epoch=200, epochs=2, hid=(8,), train_v_iters=5),
    "ppo": dict(env="CartPole-v1", steps_per_epoch=256, epochs=2, minibatch_size=64),
    "trpo": dict(env="Pendulum-v1", steps_per_epoch=200, epochs=2, hid=(8,), train_v_iters=5),
    "ddpg": dict(
        env="Pendulum-v1",
        steps_per_epoch=150,
        epochs=2,
        start_steps=100,
        update_after=100,
        update_every=25,
        batch_size=32,
        hid=(16,),
        num_test_episodes=1,
        max_ep_len=40,
    ),
}
TINY["td3"] = TINY["sac"] = TINY["ddpg"]
TINY["dqn"] = dict(
    env="CartPole-v1",
    steps_per_epoch=150,
    epochs=2,
    start_steps=50,
    update_after=50,
    update_every=25,
    gradient_steps=10,
    batch_size=32,
    hid=(16,),
    n_step=3,
    prioritized=True,
    num_test_episodes=1,
    max_ep_len=40,
)
TINY["pets"] = dict(env="Pendulum-v1", **PETS_TINY)
TINY["mbpo"] = dict(env="Pendulum-v1", **MBPO_TINY)


@pytest.mark.parametrize("algo", list(TINY))
def test_same_seed_same_progress_for_every_algorithm(algo, tmp_path):
    tables = []
    for name in ("a", "b"):
        out = tmp_path / name
        getattr(spinrl, algo)(seed=5, output_dir=str(out), verbose=False, **TINY[algo])
        lines = (out / "progress.csv").read_text().splitlines()
        keep = [i for i, col in enumerate(lines[0].split(",")) if col != "Time"]
        tables.append([[row.split(",")[i] for i in keep] for row in lines])
    record(
        f"determinism: {algo}",
        "bit-identical progress.csv (sync envs)",
        "identical" if tables[0] == tables[1] else "DIFFERENT",
    )
    assert tables[0] == tables[1] and len(tables[0]) == 3


def test_missing_checkpoint_is_an_error_not_a_fresh_start(tmp_path):
    out = tmp_path / "m"
    spinrl.vpg(
        env="CartPole-v1",
        steps_per_epoch=200,
        epochs=1,
        hid=(8,),
        output_dir=str(out),
        verbose=False,
    )
    (out / "model.pt").unlink()
    (out / "model.pt.prev").unlink(missing_ok=True)
    with pytest.raises(CheckpointError) as info:
        spinrl.vpg(
            env="CartPole-v1",
            steps_per_epoch=200,
            epochs=2,
            hid=(8,),
            output_dir=str(out),
            verbose=False,
            resume=True,
        )
    record("resume without a checkpoint", "error, no silent restart", str(info.value)[:70])
    assert "does not exist" in str(info.value)
