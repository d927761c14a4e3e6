"""PPO: the clipped surrogate, KL and value loss against hand computations; time limits in
the value targets; learning on CartPole; presets."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

import spinrl
from conftest import ConstantEnv
from spinrl import returns
from spinrl.algos import ppo
from spinrl.buffers import RolloutBuffer
from spinrl.envs import ObsNormalizer, make_vec_env
from spinrl.optim import FlatAdam
from spinrl.policies import CategoricalActor, VCritic
from spinrl.presets import NAMED
from spinrl.rollout import Rollout


def test_clipped_surrogate_by_hand():
    # Four samples: ratios e^0.5 ~ 1.649, e^-0.5 ~ 0.607, 1.1, 0.9; clip 0.2.
    logp_old = torch.zeros(4)
    logp = torch.log(torch.tensor([math.exp(0.5), math.exp(-0.5), 1.1, 0.9]))
    adv = torch.tensor([1.0, 1.0, -2.0, -2.0])
    loss = ppo.clipped_surrogate(logp, logp_old, adv, 0.2)
    kl, clip_frac = ppo.ratio_stats(logp, logp_old, 0.2)
    # min(r A, clip(r) A): 1.2 (clipped above), 0.607 (unclipped is smaller), -2.2, -2.0 (clipped)
    expected = -(1.2 + math.exp(-0.5) - 2.2 - 1.8) / 4
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    ratios = [math.exp(0.5), math.exp(-0.5), 1.1, 0.9]
    k3 = np.mean([(r - 1) - math.log(r) for r in ratios])
    assert kl.item() == pytest.approx(k3, rel=1e-6)
    assert clip_frac.item() == pytest.approx(0.5)


def test_clipped_surrogate_gradient_vanishes_outside_the_clip_range():
    logp = torch.log(torch.tensor([1.5, 1.05])).requires_grad_()
    loss = ppo.clipped_surrogate(logp, torch.zeros(2), torch.tensor([1.0, 1.0]), 0.2)
    loss.backward()
    # Sample 0 is past 1 + eps with A > 0: no gradient. Sample 1: d(-r/2)/dlogp = -r/2.
    assert logp.grad[0].item() == 0.0
    assert logp.grad[1].item() == pytest.approx(-1.05 / 2)


def test_value_loss_plain_and_clipped():
    v, v_old, target = torch.tensor([3.0]), torch.tensor([1.0]), torch.tensor([4.0])
    assert ppo.value_loss(v, v_old, target, None).item() == pytest.approx(0.5)
    # clipped value: 1 + clip(2, -.5, .5) = 1.5; max((3-4)^2, (1.5-4)^2) / 2 = 3.125
    assert ppo.value_loss(v, v_old, target, 0.5).item() == pytest.approx(3.125)


class FixedValue(nn.Module):
    def __init__(self, value):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(1, 1))
        with torch.no_grad():
            self.net[0].weight.zero_()
            self.net[0].bias.fill_(value)


def test_value_targets_under_a_time_limit_are_the_infinite_horizon_value():
    # Reward 1 forever, cut by a time limit of 5 steps: the true value is 1 / (1 - gamma).
    # With the exact V, every lambda-return target must equal it, including the steps right
    # before a truncation; treating truncation as termination would give 1 + gamma + ... only.
    gamma, lam = 0.9, 0.95
    v_true = 1 / (1 - gamma)
    envs = make_vec_env(lambda: gym.wrappers.TimeLimit(ConstantEnv(), 5), num_envs=3)
    buf = RolloutBuffer(T=12, N=3, obs_dim=1, act_shape=(), discrete=True)
    rollout = Rollout(
        envs, [0] * envs.num_envs, np.random.default_rng(0), ObsNormalizer((1,), False)
    )
    rollout.collect(CategoricalActor(1, 2, (4,)), FixedValue(v_true), buf)
    assert buf.truncated.sum() == 6
    _, targets = returns.gae(values=buf.values, gamma=gamma, lam=lam, **buf.returns_args())
    np.testing.assert_allclose(targets, v_true, rtol=1e-6)
    # The same batch with truncation mistaken for termination is visibly wrong.
    wrong = returns.gae(
        buf.rewards,
        buf.values,
        buf.terminated | buf.truncated,
        np.zeros_like(buf.truncated),
        gamma,
        lam,
        last_values=buf.last_values,
    )[1]
    assert wrong[buf.truncated].max() == pytest.approx(1.0)


def test_ppo_solves_cartpole():
    history = []

    def solved(session):
        history.extend(session.last_episode_returns)
        return len(history) >= 20 and np.mean(history[-20:]) >= 475

    spinrl.ppo(env="CartPole-v1", seed=0, total_steps=150_000, verbose=False, callback=solved)
    assert np.mean(history[-20:]) >= 475


def test_ppo_runs_on_continuous_actions_with_normalisation():
    result = spinrl.ppo(
        env="Pendulum-v1",
        num_envs=2,
        steps_per_epoch=256,
        epochs=2,
        minibatch_size=64,
        normalize_obs=True,
        normalize_reward=True,
        clip_vloss=True,
        target_kl=0.02,
        verbose=False,
    )
    row = result.last_row
    for key in ("LossPi", "LossV", "KL", "Entropy", "ClipFrac", "StopIter", "ExplainedVar"):
        assert math.isfinite(row[key]), key
    assert row["TotalEnvInteracts"] == 512


def test_spinningup_preset_and_overrides():
    result = spinrl.ppo(
        env="CartPole-v1",
        preset="spinningup",
        epochs=1,
        steps_per_epoch=400,
        minibatch_size=400,
        verbose=False,
    )
    assert 1 <= result.last_row["StopIter"] <= 80
    assert NAMED["ppo"]["spinningup"]["target_kl"] == 0.01
    with pytest.raises(spinrl.errors.ConfigError, match="no preset 'zoo'"):
        spinrl.ppo(env="CartPole-v1", preset="zoo")


@pytest.mark.parametrize("n, size", [(12, 4), (13, 4), (14, 4), (5, 1), (3, 8)])
def test_advantages_are_normalised_within_each_minibatch(n, size):
    adv = torch.randn(n, dtype=torch.float64) * 3 + 1
    out = ppo.normalize_per_minibatch(adv, size)
    for start in range(0, n, size):
        chunk = adv[start : start + size]
        expected = chunk if len(chunk) < 2 else (chunk - chunk.mean()) / (chunk.std() + 1e-8)
        torch.testing.assert_close(out[start : start + size], expected)


def test_kl_estimators_against_their_formulas():
    logp_old = torch.log(torch.tensor([0.5, 0.2, 0.7, 0.1]))
    logp = torch.log(torch.tensor([0.4, 0.3, 0.6, 0.1]))
    r = (logp - logp_old).exp()
    k3, _ = ppo.ratio_stats(logp, logp_old, 0.2, "k3")
    k1, _ = ppo.ratio_stats(logp, logp_old, 0.2, "k1")
    torch.testing.assert_close(k3, ((r - 1) - r.log()).mean())
    torch.testing.assert_close(k1, (logp_old - logp).mean())
    assert NAMED["ppo"]["spinningup"]["kl_estimator"] == "k1"


def test_after_a_kl_stop_only_the_value_function_keeps_training():
    # Spinning Up stops the policy's steps on the KL but always runs its value steps. With a
    # target_kl so small that the first check stops the policy, the actor must not move at
    # all (Adam's moments would move it even on a zero gradient) while the critic learns.
    torch.manual_seed(0)
    actor = CategoricalActor(3, 2, (8,), "tanh")
    critic = VCritic(3, (8,), "tanh")
    opt = FlatAdam(
        [{"params": actor.parameters(), "lr": 0.1}, {"params": critic.parameters(), "lr": 0.1}]
    )
    obs, actions = torch.randn(64, 3), torch.randint(0, 2, (64,))
    with torch.no_grad():
        logp_old = actor.log_prob(obs, actions) + 0.5  # the policy already moved: KL > 0
    data = {
        "obs": obs,
        "actions": actions,
        "logp": logp_old,
        "adv": torch.randn(64),
        "v_targets": torch.full((64,), 5.0),
        "v_old": torch.zeros(64),
    }
    cfg = ppo.Config(update_epochs=5, minibatch_size=16, target_kl=1e-6, kl_estimator="k1")
    before = [p.detach().clone() for p in actor.parameters()]
    loss_v_before = (critic(obs) - 5.0).pow(2).mean().item()
    losses_pi, losses_v, policy_steps = ppo.update(
        actor, critic, opt, data, cfg, np.random.default_rng(0)
    )
    assert policy_steps == 0 and torch.isnan(losses_pi).all()
    assert len(losses_v) == 5 * 4  # every minibatch step of every pass trained V
    assert all(torch.equal(a, b) for a, b in zip(before, actor.parameters(), strict=True))
    assert (critic(obs) - 5.0).pow(2).mean().item() < 0.5 * loss_v_before


@pytest.mark.slow
def test_default_ppo_solves_cartpole_and_stays_solved():
    # The defaults are judged by where runs end: at 100k steps (make run's budget) the
    # episodes that end in the last 10 epochs average 475 or more, for at least 4 of 5 seeds
    # (benchmarks/stability.py measures 10 and more).
    solved = 0
    for seed in range(5):
        rows = []
        spinrl.ppo(
            env="CartPole-v1",
            seed=seed,
            total_steps=100_000,
            verbose=False,
            callback=lambda run, rows=rows: rows.append(run.last_row["AverageEpRet"]) and False,
        )
        solved += np.nanmean(rows[-10:]) >= 475
    assert solved >= 4
