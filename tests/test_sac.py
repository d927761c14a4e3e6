"""SAC: the squashed Gaussian's log-probability and density, a fixed alpha that stays fixed
and an automatic one that moves, and learning on Pendulum (under -m slow). The loop it shares
with DDPG and TD3 is checked in test_offpolicy.py."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

import spinrl
from spinrl.policies import SquashedGaussianActor
from test_offpolicy import TINY, _learns


def _actor_1d(low, high):
    torch.manual_seed(0)
    space = gym.spaces.Box(np.float32(low), np.float32(high), (1,))
    return SquashedGaussianActor(2, space, hid=(8,)).double()


def test_squashed_gaussian_log_prob_is_the_change_of_variables_with_bounds():
    # a = c + s tanh(u), u ~ N(mu, sigma): p(a) = N(u; mu, sigma) / (s (1 - tanh(u)^2)).
    actor = _actor_1d(-3.0, 1.0)  # center -1, half-width 2
    obs = torch.randn(500, 2, dtype=torch.float64)
    with torch.no_grad():
        a, logp = actor.sample(obs)
        mu, log_std = actor._dist(obs)
    for i in range(0, 500, 50):
        u = math.atanh((a[i, 0].item() + 1.0) / 2.0)
        m, sd = mu[i, 0].item(), math.exp(log_std[i, 0].item())
        normal = -0.5 * ((u - m) / sd) ** 2 - math.log(sd * math.sqrt(2 * math.pi))
        expected = normal - math.log(2.0 * (1.0 - math.tanh(u) ** 2))
        assert logp[i].item() == pytest.approx(expected, rel=1e-6, abs=1e-6)
    assert torch.all(a > -3.0) and torch.all(a < 1.0)


def test_squashed_gaussian_density_integrates_to_one_over_the_action_range():
    actor = _actor_1d(-0.5, 2.5)  # center 1, half-width 1.5
    obs = torch.zeros(1, 2, dtype=torch.float64)
    with torch.no_grad():
        mu, log_std = actor._dist(obs)
        u = torch.linspace(-12, 12, 400_001, dtype=torch.float64)[:, None]
        a = actor.center.double() + actor.scale.double() * torch.tanh(u)
        density = actor.log_prob_of_u(u, mu.expand_as(u), log_std.expand_as(u)).exp()
    assert torch.trapezoid(density, a[:, 0]).item() == pytest.approx(1.0, abs=1e-6)


def test_sac_fixed_alpha_stays_fixed_and_auto_alpha_moves():
    fixed = spinrl.sac(env="Pendulum-v1", preset="spinningup", **TINY)
    assert fixed.last_row["Alpha"] == pytest.approx(0.2)
    auto = spinrl.sac(env="Pendulum-v1", **TINY)
    assert auto.last_row["Alpha"] != pytest.approx(1.0)


@pytest.mark.slow
def test_pendulum_reaches_minus_250():
    history = _learns("sac")
    assert history[-1] >= -250, history
