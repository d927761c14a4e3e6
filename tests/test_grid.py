"""ExperimentGrid: variants and names, a local process pool that survives failing and killed
trials, skipping completed trials, and the Ray backend for real."""

import json
import os
import signal
from pathlib import Path

import pytest

from spinrl.cli import main
from spinrl.errors import ConfigError
from spinrl.grid import ExperimentGrid


def test_variants_and_spinning_up_names(tmp_path):
    grid = ExperimentGrid("exp", data_dir=tmp_path)
    grid.add("env", "CartPole-v1")
    grid.add("hid", [(32,), (64, 64)], shorthand="h")
    grid.add("pi_lr", [1e-3], in_name=True)
    grid.add("seed", [0, 1, 2])
    variants = grid.variants()
    assert len(variants) == 6
    assert {v["hid"] for v in variants} == {(32,), (64, 64)}
    names = {t.run_dir.relative_to(tmp_path).as_posix() for t in grid.trials()}
    assert "exp_h64-64_pilr0.001/exp_h64-64_pilr0.001_s2" in names
    with pytest.raises(ConfigError, match="already has key"):
        grid.add("seed", [3])


def trial(output_dir, seed, x):
    """A stand-in for training: x = 1 succeeds, 2 raises, 3 dies from SIGKILL."""
    Path(output_dir, "progress.csv").write_text(f"Epoch,TotalEnvInteracts\n0,{100 * x}\n")
    if x == 2:
        raise ValueError("bad x")
    if x == 3:
        os.kill(os.getpid(), signal.SIGKILL)


def test_local_pool_records_failed_and_killed_trials_and_skips_completed_ones(tmp_path):
    grid = ExperimentGrid("g", data_dir=tmp_path)
    grid.add("x", [1, 2, 3])
    grid.add("seed", [0])
    trials = {t.values["x"]: t for t in grid.run(trial, workers=2)}
    assert trials[1].status == "completed"
    assert trials[2].status == "FAILED" and "ValueError: bad x" in trials[2].message
    assert "ValueError: bad x" in (trials[2].run_dir / "error.txt").read_text()
    assert trials[3].status == "FAILED" and "SIGKILL" in trials[3].message
    assert "SIGKILL" in (trials[3].run_dir / "error.txt").read_text()
    again = {t.values["x"]: t for t in grid.run(trial, workers=2)}
    assert again[1].status == "skipped"
    assert again[2].status == again[3].status == "FAILED"


def test_cli_grid_on_the_local_pool(tmp_path, capsys):
    argv = [
        "train",
        "pg",
        "--env",
        "CartPole-v1",
        "--steps-per-epoch",
        "200",
        "--epochs",
        "2",
        "--hid",
        "[8]",
        "--phi",
        "total",
        "rtg",
        "--workers",
        "2",
        "--quiet",
        "--data-dir",
        str(tmp_path),
        "--exp-name",
        "cg",
    ]
    assert main(argv) == 0
    for phi in ("total", "rtg"):
        run = tmp_path / f"cg_phi{phi}" / f"cg_phi{phi}_s0"
        assert json.loads((run / "status.json").read_text())["status"] == "completed"
        assert len((run / "progress.csv").read_text().splitlines()) == 3
    assert "completed" in capsys.readouterr().out


def test_ray_backend_runs_trials_into_the_same_layout(tmp_path):
    pytest.importorskip("ray")
    grid = ExperimentGrid("rg", data_dir=tmp_path)
    grid.add("env", "CartPole-v1")
    grid.add("steps_per_epoch", 200)
    grid.add("epochs", 2)
    grid.add("hid", [(8,)])
    grid.add("seed", [0, 1])
    trials = grid.run("pg", backend="ray", workers=2)
    assert [t.status for t in trials] == ["completed", "completed"]
    for seed in (0, 1):
        run = tmp_path / "rg" / f"rg_s{seed}"
        assert {"config.json", "progress.csv", "model.pt", "status.json"} <= {
            p.name for p in run.iterdir()
        }
