"""pg, and the on-policy loop through it: every phi runs and logs Spinning Up's keys, reward-to-go
beats the total return, a Gaussian policy with observation normalisation, a divergence stops
training, bad configs are refused, a seed repeats a run exactly, and the run directory holds
what it should."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

import spinrl
from conftest import ConstantEnv
from spinrl.checkpoint import load_checkpoint
from spinrl.errors import ConfigError, DivergenceError, EnvError
from spinrl.policies import make_actor

FAST = dict(steps_per_epoch=400, epochs=2, verbose=False, hid=(16,))


@pytest.mark.slow
def test_pg_reward_to_go_beats_total_return_at_equal_budget():
    finals = {"total": [], "rtg": []}
    for phi in finals:
        for seed in range(4):
            r = spinrl.pg(env="CartPole-v1", seed=seed, phi=phi, epochs=20, verbose=False)
            finals[phi].append(r.last_row["AverageEpRet"])
    assert np.mean(finals["rtg"]) > np.mean(finals["total"]), finals


@pytest.mark.parametrize("phi", ["total", "rtg", "rtg_baseline", "q", "advantage", "gae"])
def test_pg_runs_with_every_phi_and_logs_spinning_up_keys(phi):
    result = spinrl.pg(env="CartPole-v1", phi=phi, **FAST)
    row = result.last_row
    for key in (
        "Epoch",
        "AverageEpRet",
        "StdEpRet",
        "MaxEpRet",
        "MinEpRet",
        "EpLen",
        "TotalEnvInteracts",
        "LossPi",
        "LossV",
        "KL",
        "Entropy",
        "Time",
    ):
        assert key in row
    assert row["TotalEnvInteracts"] == 800
    assert (result.critic is not None) == (phi not in ("total", "rtg"))


def test_gaussian_policy_on_pendulum_with_observation_normalisation():
    result = spinrl.vpg(env="Pendulum-v1", num_envs=2, normalize_obs=True, **FAST)
    assert math.isfinite(result.last_row["AverageEpRet"])
    rms = result.obs_normalizer.rms
    assert rms.count > 800 and np.all(rms.var > 0)


class HugeRewardEnv(ConstantEnv):
    """Finite rewards whose sum overflows float64: the loss becomes infinite."""

    def step(self, action):
        return np.zeros(1, np.float32), 1e308, False, False, {}


@pytest.mark.filterwarnings("ignore:overflow")
def test_an_infinite_loss_stops_training_with_a_divergence_error():
    def env_fn():
        return gym.wrappers.TimeLimit(HugeRewardEnv(), max_episode_steps=10)

    with pytest.raises(DivergenceError, match=r"LossPi became .*inf at epoch 0"):
        spinrl.pg(env_fn, phi="rtg", **FAST)


def test_bad_configs_are_refused_before_training():
    with pytest.raises(ConfigError, match="phi must be one of"):
        spinrl.pg(env="CartPole-v1", phi="bogus", **FAST)
    with pytest.raises(ConfigError, match="multiple of num_envs"):
        spinrl.vpg(env="CartPole-v1", num_envs=3, steps_per_epoch=400, verbose=False)
    with pytest.raises(ConfigError, match=r"unknown field 'gama'.*gamma"):
        spinrl.vpg(env="CartPole-v1", gama=0.9)
    with pytest.raises(ConfigError, match="pi_lr must be float"):
        spinrl.vpg(env="CartPole-v1", pi_lr="fast")
    with pytest.raises(ConfigError, match="learning rates must be positive"):
        spinrl.vpg(env="CartPole-v1", vf_lr=float("nan"))
    with pytest.raises(EnvError, match="cannot act in action space MultiDiscrete"):
        spinrl.vpg(lambda: _MultiDiscreteEnv(), **FAST)


class _MultiDiscreteEnv(ConstantEnv):
    action_space = gym.spaces.MultiDiscrete([2, 2])


def test_same_seed_same_progress_and_parameters():
    a = spinrl.vpg(env="CartPole-v1", seed=3, num_envs=2, **FAST)
    b = spinrl.vpg(env="CartPole-v1", seed=3, num_envs=2, **FAST)
    c = spinrl.vpg(env="CartPole-v1", seed=4, num_envs=2, **FAST)
    strip = [{k: v for k, v in r.last_row.items() if k != "Time"} for r in (a, b, c)]
    assert strip[0] == strip[1] and strip[0] != strip[2]
    for p, q in zip(a.actor.parameters(), b.actor.parameters(), strict=True):
        assert torch.equal(p, q)


def test_run_directory_holds_config_progress_events_and_a_loadable_checkpoint(tmp_path):
    out = tmp_path / "run"
    result = spinrl.vpg(env="CartPole-v1", output_dir=str(out), **FAST)
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "progress.csv", "model.pt"} <= names
    assert any(n.startswith("events.out.tfevents") for n in names)
    lines = (out / "progress.csv").read_text().splitlines()
    assert len(lines) == 3 and lines[0].startswith("Epoch,AverageEpRet")
    state = load_checkpoint(out / "model.pt", kind="vpg")
    actor = make_actor(gym.spaces.Box(-1, 1, (4,)), gym.spaces.Discrete(2), (16,), "tanh")
    actor.load_state_dict(state["policy"]["actor"])
    obs = torch.randn(5, 4)
    assert torch.equal(actor.deterministic(obs), result.actor.deterministic(obs))
