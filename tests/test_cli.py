"""The spinrl command: bad input is one line and exit 2 with nothing written; good input
writes a complete run directory; plot writes a real image."""

import json
import subprocess
import sys

import pytest

from spinrl.cli import main, plan_runs

TINY = ["--steps-per-epoch", "200", "--epochs", "2", "--hid", "[8]", "--quiet"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "vpg", "--hid", "[64,"], "malformed value '[64,'"),
        (["train", "nope"], "unknown algorithm 'nope'"),
        (["train", "vpg", "--env", "NoSuchEnv-v0"], "unknown environment id 'NoSuchEnv-v0'"),
        (["train", "vpg", "--gama", "0.9"], "unknown field 'gama' for vpg; did you mean gamma?"),
        (["train", "vpg", "--epochs", "ten"], "epochs must be int, got 'ten'"),
        (["train", "vpg", "--hid", "[64,'a']"], "hid must be int, got 'a'"),
        (["train", "pg", "--phi", "magic"], "phi must be one of"),
        (["train", "vpg", "--steps-per-epoch", "10", "--num-envs", "3"], "multiple of num_envs"),
        (["train", "vpg", "--exp-name", "../evil"], "experiment name '../evil' may only use"),
        (["plot", "does/not/exist"], "does/not/exist does not exist"),
        (["train", "ppo", "--max-ep-len", "-3"], "max_ep_len must be a positive number"),
        (["train", "ppo", "--env", "Blackjack-v1"], "observation space Tuple is not supported"),
        (["train", "ppo", "--env", "Nowhere/Pong-v5"], "no Nowhere/ ids are registered"),
        (["train", "sac", "--replay-size", str(10**13)], "lower replay_size"),
        (["train", "pets", "--epochs", str(10**11)], "lower epochs or total_steps"),
        (["train", "mbpo", "--rollouts-per-step", str(10**9)], "lower rollouts_per_step"),
        (["train", "dqn", "--gradient-steps", "0"], "gradient_steps must be >= 1"),
        (["train", "ppo", "--hid", "64", "64"], "--hid 64 64: a list is written in brackets"),
        (["train", "ppo", "--hid", "64", "128"], "--hid [64,128] is one value"),
        (
            [
                "train",
                "ppo",
                "--seed",
                "0",
                "1",
                "--backend",
                "ray",
                "--ray-address",
                "127.0.0.1:1",
            ],
            "cannot reach a Ray cluster at 127.0.0.1:1",
        ),
        ([], "the following arguments are required"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(argv, message, tmp_path, capsys):
    argv = [*argv, "--data-dir", str(tmp_path / "data")] if argv[:1] == ["train"] else argv
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("spinrl: error: ")
    assert message in err
    assert not (tmp_path / "data").exists()


def test_grid_plan_names_runs_like_spinning_up(tmp_path):
    argv = [
        "--hid",
        "[32,32]",
        "[64,64]",
        "--act",
        "tanh",
        "relu",
        "--seed",
        "0",
        "10",
        "--exp-name",
        "grid",
        "--data-dir",
        str(tmp_path),
    ]
    _, trials, _ = plan_runs("vpg", argv)
    names = sorted(t.run_dir.relative_to(tmp_path).as_posix() for t in trials)
    assert len(names) == 8
    assert "grid_hid32-32_actrelu/grid_hid32-32_actrelu_s10" in names
    assert {tuple(t.values["hid"]) for t in trials} == {(32, 32), (64, 64)}
    assert not any(tmp_path.iterdir())


def test_train_writes_a_run_then_skips_it_once_completed(tmp_path, capsys):
    argv = [
        "train",
        "pg",
        "--env",
        "CartPole-v1",
        "--data-dir",
        str(tmp_path),
        "--exp-name",
        "t",
        "--seed",
        "3",
        *TINY,
    ]
    assert main(argv) == 0
    run = tmp_path / "t" / "t_s3"
    config = json.loads((run / "config.json").read_text())
    assert config["algo"] == "pg" and config["config"]["seed"] == 3
    assert config["config"]["hid"] == [8]
    assert (run / "model.pt").is_file()
    assert json.loads((run / "status.json").read_text())["status"] == "completed"
    before = (run / "progress.csv").read_text()
    capsys.readouterr()
    assert main(argv) == 0
    assert "already completed" in capsys.readouterr().out
    assert (run / "progress.csv").read_text() == before
    assert main([*argv, "--overwrite"]) == 0


def test_console_script_lists_algorithms():
    done = subprocess.run(
        [sys.executable, "-m", "spinrl.cli", "list"], capture_output=True, text=True, check=True
    )
    assert "vpg" in done.stdout and "Discrete, Box" in done.stdout


def test_an_unfinished_run_is_not_restarted_silently(tmp_path, capsys):
    run = tmp_path / "u" / "u_s0"
    run.mkdir(parents=True)
    (run / "progress.csv").write_text("Epoch,TotalEnvInteracts\n0,200\n")
    argv = [
        "train",
        "pg",
        "--env",
        "CartPole-v1",
        "--data-dir",
        str(tmp_path),
        "--exp-name",
        "u",
        *TINY,
    ]
    assert main(argv) == 2
    assert f"--resume {run}" in capsys.readouterr().err
    assert (run / "progress.csv").read_text() == "Epoch,TotalEnvInteracts\n0,200\n"
    assert main([*argv, "--overwrite"]) == 0


def test_python_spellings_of_options_are_accepted(tmp_path):
    argv = ["--total_steps", "1000", "--max_ep_len=50", "--data-dir", str(tmp_path)]
    _, (trial,), _ = plan_runs("vpg", argv)
    assert trial.values["total_steps"] == 1000 and trial.values["max_ep_len"] == 50


def test_watch_refuses_zero_episodes_in_one_line(tmp_path, capsys):
    argv = ["train", "pg", "--data-dir", str(tmp_path), "--exp-name", "w", *TINY]
    assert main(argv) == 0
    capsys.readouterr()
    for episodes in ("0", "-1"):
        assert main(["watch", str(tmp_path / "w" / "w_s0"), "--episodes", episodes]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "episodes must be at least 1" in err


def test_a_successful_resume_clears_the_old_error_and_a_grid_says_where_its_runs_are(
    tmp_path, capsys
):
    argv = ["train", "pg", "--data-dir", str(tmp_path), "--exp-name", "r", *TINY]
    assert main(argv) == 0
    run = tmp_path / "r" / "r_s0"
    (run / "error.txt").write_text("an earlier failure\n")
    assert main(["train", "--resume", str(run), "--epochs", "3", "--quiet"]) == 0
    assert not (run / "error.txt").exists()
    capsys.readouterr()
    grid = ["train", "pg", "--data-dir", str(tmp_path), "--hid", "[4]", "[8]", *TINY[:4]]
    assert main([*grid, "--exp-name", "g", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"runs are in {tmp_path / 'g_hid4'}, {tmp_path / 'g_hid8'}" in out


def test_a_failed_resume_is_recorded_in_the_run_directory(tmp_path, capsys):
    argv = ["train", "pg", "--data-dir", str(tmp_path), "--exp-name", "f", *TINY]
    assert main(argv) == 0
    run = tmp_path / "f" / "f_s0"
    (run / "model.pt").write_bytes(b"damaged")
    (run / "model.pt.prev").unlink(missing_ok=True)
    assert main(["train", "--resume", str(run), "--epochs", "3", "--quiet"]) == 2
    assert "cannot be read" in capsys.readouterr().err
    assert json.loads((run / "status.json").read_text())["status"] == "FAILED"
    assert "CheckpointError" in (run / "error.txt").read_text()
