"""TD3: the targets by hand (beside SAC's soft target), the batched critics equal independent
networks in outputs and gradients, and learning on Pendulum (under -m slow). The loop it
shares with DDPG and SAC is checked in test_offpolicy.py."""

import numpy as np
import pytest
import torch

from spinrl.algos import sac, td3
from spinrl.policies import QEnsemble
from test_offpolicy import _learns


def test_targets_by_hand_with_terminated_and_truncated_transitions():
    # Three transitions: an ordinary one, one that truly terminated, and one cut by a time
    # limit, which the replay stores as not terminated, so it bootstraps.
    r = torch.tensor([1.0, 2.0, -1.0])
    terminated = torch.tensor([0.0, 1.0, 0.0])
    q_next = torch.tensor([10.0, 10.0, 4.0])
    logp_next = torch.tensor([-1.0, -1.0, 0.5])
    y = sac.soft_q_target(r, q_next, logp_next, 0.2, terminated, 0.9)
    np.testing.assert_allclose(y, [1 + 0.9 * (10 + 0.2), 2.0, -1 + 0.9 * (4 - 0.1)], rtol=1e-6)
    y = td3.q_target(r, q_next, terminated, 0.9)
    np.testing.assert_allclose(y, [10.0, 2.0, 2.6], rtol=1e-6)


def test_q_ensemble_equals_independent_networks():
    torch.manual_seed(0)
    q = QEnsemble(3, 2, hid=(5, 4), n=2)
    obs, act = torch.randn(7, 3), torch.randn(7, 2)
    out = q(obs, act)
    x = torch.cat([obs, act], -1)
    coef = torch.randn(2, 7)  # a loss weighting every output differently
    independent = 0.0
    for k in range(2):
        h = x
        for i, (w, b) in enumerate(zip(q.weights, q.biases, strict=True)):
            h = h @ w[k] + b[k]
            h = torch.relu(h) if i < 2 else h
        torch.testing.assert_close(out[k], h[:, 0])
        torch.testing.assert_close(q.member(obs, act, k), h[:, 0])  # one member alone
        independent = independent + (coef[k] * h[:, 0]).sum()
    assert not torch.equal(out[0], out[1])
    params = [*q.weights, *q.biases]
    grads = torch.autograd.grad((coef * out).sum(), params)
    for got, want in zip(grads, torch.autograd.grad(independent, params), strict=True):
        torch.testing.assert_close(got, want)  # the gradients too, every parameter


@pytest.mark.slow
def test_pendulum_reaches_minus_250():
    history = _learns("td3")
    assert history[-1] >= -250, history


def _ou_agent(act_noise=0.5):
    import gymnasium as gym

    torch.manual_seed(0)
    obs_space = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)
    act_space = gym.spaces.Box(-100.0, 100.0, (2,), np.float32)  # wide: no noise is clipped
    cfg = td3.Config(env="MountainCarContinuous-v0", hid=(8,), act_noise=act_noise,
                     noise_type="ou")  # fmt: skip
    return td3.TD3Agent(obs_space, act_space, cfg)


def test_ornstein_uhlenbeck_noise_is_sb3s_process_draw_for_draw(monkeypatch):
    noise_module = pytest.importorskip("stable_baselines3.common.noise")
    agent, obs = _ou_agent(), np.ones((1, 3), np.float32)
    draws = np.random.default_rng(1).standard_normal((300, 2))
    theirs = noise_module.OrnsteinUhlenbeckActionNoise(mean=np.zeros(2), sigma=0.5 * np.ones(2))
    given = iter(draws)
    monkeypatch.setattr(np.random, "normal", lambda size: next(given))  # SB3 draws with this
    ours_rng = iter(draws)

    class SameDraws:  # hands our agent the same standard normals
        def standard_normal(self, shape):
            return next(ours_rng).reshape(shape)

    for t in range(300):
        if t == 150:  # an episode ends: both processes start again at 0
            agent.end_episodes(np.array([True]))
            theirs.reset()
        ours = agent.explore(obs, SameDraws()) - agent.deterministic(obs)
        np.testing.assert_allclose(ours[0], theirs(), rtol=1e-4, atol=1e-6)
    assert np.abs(agent.ou).max() > 0.1  # the process has wandered: the test saw real noise


def test_ornstein_uhlenbeck_noise_is_correlated_in_time_and_reset_per_env():
    agent, obs = _ou_agent(), np.ones((2, 3), np.float32)
    rng = np.random.default_rng(0)
    noise = np.stack([agent.explore(obs, rng) - agent.deterministic(obs) for _ in range(3000)])
    steps = np.diff(noise[:, 0, 0])
    # x changes by ~ sigma sqrt(dt) = 0.05 per step while wandering ~10x further
    assert np.std(steps) == pytest.approx(0.05, rel=0.1) and np.abs(noise).max() > 0.5
    agent.end_episodes(np.array([True, False]))
    assert agent.ou[0].tolist() == [0.0, 0.0] and np.all(agent.ou[1] != 0.0)
    with pytest.raises(Exception, match="noise_type must be one of gaussian, ou"):
        td3.validate(td3.Config(env="Pendulum-v1", noise_type="pink"))
