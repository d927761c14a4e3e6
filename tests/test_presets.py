"""Presets and the tuned table: the command line applies the settings listed for an env and
says so in one line, explicit flags win, --preset none keeps the defaults; the translations
from Stable-Baselines3's conventions hold numerically."""

import importlib.util
import json

import gymnasium as gym
import numpy as np
import pytest
import torch

import spinrl
from spinrl.algos import ALGOS, ppo
from spinrl.cli import main, plan_runs
from spinrl.config import build_config
from spinrl.envs import register_namespace
from spinrl.errors import ConfigError
from spinrl.presets import NAMED, TUNED, preset_fields


def test_the_command_line_applies_tuned_settings_and_says_where_they_come_from(tmp_path, capsys):
    argv = ["--env", "CartPole-v1", "--gamma", "0.95", "--data-dir", str(tmp_path)]
    _, (trial,), _ = plan_runs("ppo", argv)
    cfg = build_config(ppo.Config, trial.values)
    zoo = TUNED["ppo"]["CartPole-v1"].fields
    assert (
        (cfg.steps_per_epoch, cfg.update_epochs, cfg.lam)
        == (256, 20, 0.8)
        == (
            zoo["steps_per_epoch"],
            zoo["update_epochs"],
            zoo["lam"],
        )
    )
    assert cfg.gamma == 0.95  # the explicit flag wins over the table's 0.98
    _, (plain,), _ = plan_runs("ppo", [*argv, "--preset", "none"])
    assert build_config(ppo.Config, plain.values).update_epochs == ppo.Config().update_epochs
    train = ["train", "ppo", "--env", "CartPole-v1", "--total-steps", "512", "--quiet"]
    assert main([*train, "--data-dir", str(tmp_path), "--exp-name", "cp"]) == 0
    out = capsys.readouterr().out
    assert out.count("tuned settings from rl-baselines3-zoo") == 1
    saved = json.loads((tmp_path / "cp" / "cp_s0" / "config.json").read_text())["config"]
    assert saved["anneal_clip"] is True and saved["minibatch_size"] == 256


def test_an_unlisted_env_trains_on_the_defaults_and_tuned_on_it_is_one_line(tmp_path, capsys):
    _, (trial,), _ = plan_runs("ppo", ["--env", "Acrobot-v1", "--data-dir", str(tmp_path)])
    assert "num_envs" in trial.values  # listed
    _, (trial,), _ = plan_runs("ppo", ["--env", "CliffWalking-v1", "--data-dir", str(tmp_path)])
    assert set(trial.values) == {"env"}  # not listed: nothing added
    argv = ["train", "ppo", "--env", "CliffWalking-v1", "--preset", "tuned"]
    assert main([*argv, "--data-dir", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no tuned settings for ppo on CliffWalking-v1" in err
    assert not (tmp_path / "d").exists()


def test_the_python_api_applies_a_preset_only_when_asked():
    with pytest.raises(ConfigError, match="choose one of atari, mujoco, spinningup, tuned, none"):
        spinrl.ppo(env="CartPole-v1", preset="zoo")
    assert preset_fields("ppo", "tuned", "CartPole-v1")["num_envs"] == 8
    assert preset_fields("ppo", "none", "CartPole-v1") == {}


@pytest.mark.parametrize("algo", list(TUNED))
def test_every_tuned_entry_builds_a_valid_config_for_a_real_env(algo):
    module = ALGOS[algo]
    for env_id, entry in TUNED[algo].items():
        cfg = build_config(module.Config, {**entry.fields, "env": env_id})
        module.validate(cfg)
        if env_id.startswith("MinAtar/") and importlib.util.find_spec("minatar") is None:
            continue  # the atari extra is not installed: its ids are not known
        register_namespace(env_id)
        assert gym.spec(env_id) is not None and entry.budget > 0


def test_sb3_value_coefficient_is_twice_spinrls_because_its_loss_is_the_full_mse():
    v, targets = torch.randn(50), torch.randn(50)
    sb3 = 0.5 * torch.nn.functional.mse_loss(targets, v)  # SB3: vf_coef * F.mse_loss
    spinrl_loss = (2 * 0.5) * ppo.value_loss(v, v, targets, None)
    torch.testing.assert_close(spinrl_loss, sb3)
    assert TUNED["ppo"]["Acrobot-v1"].fields["vf_coef"] == 1.0  # SB3's default 0.5, doubled


def test_td3_noise_is_sb3s_normalised_noise_in_the_actions_own_units():
    # SB3 adds noise_std 0.1 in the policy's [-1, 1] space; on Pendulum-v1 that is 0.1 times
    # the half-width of [-2, 2] in torque units.
    space = gym.make("Pendulum-v1").action_space
    half = float(np.max((space.high - space.low) / 2))
    fields = TUNED["td3"]["Pendulum-v1"].fields
    assert fields["act_noise"] == pytest.approx(0.1 * half)
    assert fields["target_noise"] == pytest.approx(0.2 * half)
    assert fields["noise_clip"] == pytest.approx(0.5 * half)


def test_named_presets_exist_for_every_algorithm():
    assert set(NAMED) == set(ALGOS)
    not_in_spinning_up = {"dqn", "pets", "mbpo"}  # Spinning Up shipped none of them
    assert all("spinningup" in NAMED[a] for a in ALGOS if a not in not_in_spinning_up)


@pytest.mark.skipif(importlib.util.find_spec("ale_py") is None, reason="needs the atari extra")
def test_dqn_on_any_atari_id_gets_the_zoos_atari_entry_and_flags_still_win(tmp_path):
    from spinrl.algos import dqn

    argv = ["--env", "ALE/Pong-v5", "--q-lr", "3e-4", "--data-dir", str(tmp_path)]
    _, (trial,), _ = plan_runs("dqn", argv)
    cfg = build_config(dqn.Config, trial.values)
    # hyperparams/dqn.yml's atari entry, as SB3 reads it: learning_starts 100k -> the first
    # update on the step after it, train_freq 4, target every 1000, epsilon to 0.01 over 10%
    assert (cfg.replay_size, cfg.batch_size, cfg.start_steps, cfg.update_after) == (
        100_000, 32, 100_000, 100_001,
    )  # fmt: skip
    assert (cfg.update_every, cfg.gradient_steps, cfg.target_update_every) == (4, 1, 1000)
    assert (cfg.eps_end, cfg.exploration_fraction, cfg.hid) == (0.01, 0.1, ())
    assert not (cfg.double or cfg.dueling or cfg.prioritized) and cfg.n_step == 1
    assert cfg.q_lr == 3e-4 and trial.values["total_steps"] == 10_000_000
    _, (trial,), _ = plan_runs("dqn", [*argv, "--total-steps", "5000"])
    assert trial.values["total_steps"] == 5000  # the user's budget, not the zoo's
    _, (plain,), _ = plan_runs("dqn", [*argv, "--preset", "none"])
    assert "replay_size" not in plain.values


def test_dqn_on_cartpole_keeps_the_defaults_unless_tuned_is_asked_for(tmp_path):
    from spinrl.algos import dqn

    argv = ["--env", "CartPole-v1", "--data-dir", str(tmp_path)]
    _, (trial,), opts = plan_runs("dqn", argv)
    assert set(trial.values) == {"env"}  # nothing applied: the Config's defaults
    cfg = build_config(dqn.Config, trial.values)
    assert cfg.double and cfg.dueling and cfg.prioritized and cfg.n_step == 3
    (line,) = opts.preset_lines
    assert "spinrl's DQN defaults" in line and "--preset tuned" in line
    _, (tuned,), _ = plan_runs("dqn", [*argv, "--preset", "tuned"])
    cfg = build_config(dqn.Config, tuned.values)
    assert not (cfg.double or cfg.dueling or cfg.prioritized) and cfg.n_step == 1
    assert tuned.values["total_steps"] == TUNED["dqn"]["CartPole-v1"].budget
