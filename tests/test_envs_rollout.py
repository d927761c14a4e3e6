"""envs.py and rollout.py: errors, normalisation statistics, episode statistics, and the
truncation bootstrap fed from the real final observation."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from spinrl.buffers import RolloutBuffer
from spinrl.envs import (
    EpisodeStats,
    ObsNormalizer,
    RunningMeanStd,
    check_action_space,
    make_env,
    make_vec_env,
)
from spinrl.errors import EnvError
from spinrl.policies import CategoricalActor, VCritic
from spinrl.rollout import Rollout


def test_unknown_env_id_is_a_clear_error_with_a_suggestion():
    with pytest.raises(EnvError, match=r"unknown environment id 'CartPole-v9'.*CartPole-v1"):
        make_env("CartPole-v9")
    with pytest.raises(EnvError, match="unknown environment id"):
        make_vec_env("NoSuchEnv-v0", 2)


def test_action_space_check_names_what_the_algorithm_handles():
    with pytest.raises(EnvError, match="handles Discrete"):
        check_action_space(gym.spaces.Box(-1, 1, (2,)), (gym.spaces.Discrete,), "dqn")
    with pytest.raises(EnvError, match="1-D Box"):
        check_action_space(gym.spaces.Box(-1, 1, (2, 2)), (gym.spaces.Box,), "sac")
    check_action_space(gym.spaces.Discrete(3), (gym.spaces.Discrete, gym.spaces.Box), "pg")


def test_discrete_observations_become_one_hot():
    env = make_env("FrozenLake-v1")
    obs, _ = env.reset(seed=0)
    assert obs.shape == (16,) and obs.sum() == 1.0 and obs[0] == 1.0


def test_running_mean_std_equals_numpy_over_all_batches():
    rng = np.random.default_rng(0)
    data = [rng.normal(3.0, 2.0, size=(rng.integers(1, 9), 3)) for _ in range(50)]
    rms = RunningMeanStd((3,), epsilon=0.0)
    rms.count = 0.0
    rms.mean, rms.var = np.zeros(3), np.zeros(3)
    for batch in data:
        rms.update(batch)
    everything = np.concatenate(data)
    np.testing.assert_allclose(rms.mean, everything.mean(0), rtol=1e-10)
    np.testing.assert_allclose(rms.var, everything.var(0), rtol=1e-10)


def test_obs_normalizer_state_round_trip():
    norm = ObsNormalizer((2,), enabled=True)
    for _ in range(10):
        norm(np.random.default_rng(1).normal(5, 3, size=(4, 2)), update=True)
    copy = ObsNormalizer((2,), enabled=False)
    copy.load_state_dict(norm.state_dict())
    x = np.array([[1.0, 2.0]])
    np.testing.assert_array_equal(norm(x), copy(x))
    assert ObsNormalizer((2,), enabled=False)(x).dtype == np.float32


def test_episode_stats_collect_returns_and_lengths():
    stats = EpisodeStats(2)
    stats.step(np.array([1.0, 2.0]), np.array([False, False]))
    stats.step(np.array([1.0, 2.0]), np.array([True, False]))
    stats.step(np.array([5.0, 2.0]), np.array([False, True]))
    assert stats.drain() == ([2.0, 6.0], [2, 3])
    assert stats.drain() == ([], [])


class ClockEnv(gym.Env):
    """Observation = [time step]; reward 1; never terminates; the time limit truncates it."""

    observation_space = gym.spaces.Box(0, np.inf, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.array([0.0], np.float32), {}

    def step(self, action):
        self.t += 1
        return np.array([self.t], np.float32), 1.0, False, False, {}


class ObsAsValue(nn.Module):
    """A 'critic' whose value is the observation itself, so bootstrap values reveal which
    observation they were computed from."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(1, 1))
        with torch.no_grad():
            self.net[0].weight.fill_(1.0)
            self.net[0].bias.fill_(0.0)


def test_rollout_bootstraps_truncation_from_the_real_final_observation():
    def env_fn():
        return gym.wrappers.TimeLimit(ClockEnv(), max_episode_steps=3)

    envs = make_vec_env(env_fn, num_envs=2)
    actor = CategoricalActor(1, 2, hid=(4,))
    critic = ObsAsValue()
    buf = RolloutBuffer(T=7, N=2, obs_dim=1, act_shape=(), discrete=True)
    Rollout(
        envs, [0] * envs.num_envs, np.random.default_rng(0), ObsNormalizer((1,), False)
    ).collect(actor, critic, buf)
    # Episodes last 3 steps: steps 2 and 5 are truncated with real final observation [3].
    assert buf.truncated[:, 0].tolist() == [False, False, True, False, False, True, False]
    assert not buf.terminated.any()
    np.testing.assert_allclose(buf.final_values[[2, 5]], 3.0)
    np.testing.assert_allclose(buf.obs[:, 0, 0], [0, 1, 2, 0, 1, 2, 0])  # reset obs follow
    np.testing.assert_allclose(buf.values[:, 0], [0, 1, 2, 0, 1, 2, 0])
    np.testing.assert_allclose(buf.last_values, 1.0)  # the observation after step 6


def test_rollout_rejects_non_finite_rewards():
    class NanEnv(ClockEnv):
        def step(self, action):
            obs, *_ = super().step(action)
            return obs, float("nan") if self.t == 2 else 0.0, False, False, {}

    envs = make_vec_env(NanEnv, num_envs=1)
    buf = RolloutBuffer(T=5, N=1, obs_dim=1, act_shape=(), discrete=True)
    with pytest.raises(EnvError, match="non-finite reward at step 1"):
        Rollout(
            envs, [0] * envs.num_envs, np.random.default_rng(0), ObsNormalizer((1,), False)
        ).collect(CategoricalActor(1, 2, (4,)), VCritic(1, (4,)), buf)
