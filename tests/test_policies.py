"""Policies: log-likelihoods against their closed forms, sampling against its distribution,
and the grad-log-prob lemma (EGLP) measured numerically."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from spinrl.errors import EnvError
from spinrl.policies import (
    CategoricalActor,
    GaussianActor,
    QCritic,
    VCritic,
    diag_gaussian_log_prob,
    make_actor,
    mlp,
)


def test_mlp_shapes_and_orthogonal_init():
    net = mlp([5, 16, 8, 3], "relu", output_gain=0.01, hidden_gain=math.sqrt(2))
    assert net(torch.zeros(7, 5)).shape == (7, 3)
    w = net[0].weight.detach()
    # An orthogonal init with gain g has rows that are orthogonal with norm g (16 x 5: columns).
    np.testing.assert_allclose((w.T @ w).numpy(), 2.0 * np.eye(5), atol=1e-5)
    assert torch.all(net[0].bias == 0)


def test_diag_gaussian_log_likelihood_matches_closed_form_per_dimension():
    # Docs eq. 1.3: log pi(a|s) = -1/2 sum_i ((a_i - mu_i)^2 / sigma_i^2 + 2 log sigma_i + log 2 pi)
    rng = np.random.default_rng(0)
    for _ in range(20):
        k = rng.integers(1, 6)
        x, mu = rng.normal(size=k), rng.normal(size=k)
        log_std = rng.uniform(-2, 1, size=k)
        expected = 0.0
        for i in range(k):
            sigma = math.exp(log_std[i])
            density = math.exp(-((x[i] - mu[i]) ** 2) / (2 * sigma**2)) / (
                math.sqrt(2 * math.pi) * sigma
            )
            expected += math.log(density)
        got = diag_gaussian_log_prob(*(torch.tensor(v) for v in (x, mu, log_std)))
        assert got.item() == pytest.approx(expected, rel=1e-10, abs=1e-10)
        normal = torch.distributions.Normal(torch.tensor(mu), torch.tensor(log_std).exp())
        assert got.item() == pytest.approx(normal.log_prob(torch.tensor(x)).sum().item())


def test_gaussian_density_integrates_to_one_in_1d():
    grid = torch.linspace(-12, 12, 200_001, dtype=torch.float64)
    mu, log_std = torch.tensor([0.7], dtype=torch.float64), torch.tensor([0.3], dtype=torch.float64)
    dens = diag_gaussian_log_prob(grid[:, None], mu, log_std).exp()
    assert torch.trapezoid(dens, grid).item() == pytest.approx(1.0, abs=1e-8)


def test_gaussian_actor_samples_have_the_stated_mean_std_and_entropy():
    torch.manual_seed(0)
    actor = GaussianActor(3, 2, hid=(8,), log_std_init=-0.5)
    obs = torch.randn(1, 3).expand(200_000, 3)
    with torch.no_grad():
        act, logp = actor.sample(obs)
        mu = actor.deterministic(obs[:1])
    np.testing.assert_allclose(act.mean(0).numpy(), mu[0].numpy(), atol=0.01)
    np.testing.assert_allclose(act.std(0).numpy(), [math.exp(-0.5)] * 2, rtol=0.01)
    # Entropy = E[-log p]: the closed form against a Monte Carlo average of -log p.
    assert actor.entropy(obs[:1]).item() == pytest.approx(-logp.mean().item(), abs=0.01)
    np.testing.assert_allclose(logp.numpy(), actor.log_prob(obs, act).detach().numpy(), atol=1e-5)


def test_categorical_actor_sampling_frequencies_match_probabilities():
    torch.manual_seed(0)
    actor = CategoricalActor(4, 5, hid=(16,))
    obs = torch.randn(1, 4)
    n = 200_000
    with torch.no_grad():
        probs = actor.log_probs_all(obs).exp()[0].double()
        act, logp = actor.sample(obs.expand(n, 4))
    counts = torch.bincount(act, minlength=5).double()
    expected = n * probs
    chi2 = ((counts - expected) ** 2 / expected).sum().item()
    assert chi2 < 25.0  # chi-square with 4 dof: P(chi2 > 25) ~ 5e-5
    np.testing.assert_allclose(logp.exp()[:5].numpy(), probs[act[:5]].numpy(), rtol=1e-5)
    p = probs.numpy()
    assert actor.entropy(obs).item() == pytest.approx(-(p * np.log(p)).sum(), rel=1e-5)
    assert actor.deterministic(obs).item() == int(np.argmax(p))


def _grad_log_prob_means(actor, obs, sample_from, groups=40, per_group=5_000):
    """Mean of grad_theta log pi(a|s) over a ~ sample_from, with its standard error.

    Each group's mean gradient is one backward pass; the spread of the group means gives
    the standard error of the overall mean.
    """
    params = [p for p in actor.parameters()]
    means = []
    for _ in range(groups):
        with torch.no_grad():
            act = sample_from(obs.expand(per_group, -1))
        actor.zero_grad()
        actor.log_prob(obs.expand(per_group, -1), act).mean().backward()
        means.append(torch.cat([p.grad.reshape(-1) for p in params]).clone())
    means = torch.stack(means).double()
    return means.mean(0), means.std(0) / math.sqrt(groups)


@pytest.mark.parametrize("kind", ["gaussian", "categorical"])
def test_eglp_expected_grad_log_prob_is_zero(kind):
    # EGLP lemma (docs eq. 3.4): E_{a ~ pi}[grad log pi(a|s)] = 0. Tolerance: every component
    # of the Monte Carlo mean within 5 standard errors of 0 (a chance failure is < 1e-4).
    torch.manual_seed(1)
    if kind == "gaussian":
        actor = GaussianActor(3, 2, hid=(8,))
    else:
        actor = CategoricalActor(3, 4, hid=(8,))
    obs = torch.randn(1, 3)
    mean, se = _grad_log_prob_means(actor, obs, lambda o: actor.sample(o)[0])
    z = (mean.abs() / se.clamp_min(1e-12)).max().item()
    assert z < 5.0, z
    # The same measurement has power: sampling from a *different* distribution gives a mean
    # gradient far from zero.
    if kind == "gaussian":
        shifted = _grad_log_prob_means(actor, obs, lambda o: actor.sample(o)[0] + 0.3)
    else:
        shifted = _grad_log_prob_means(actor, obs, lambda o: torch.zeros(len(o), dtype=torch.long))
    assert (shifted[0].abs() / shifted[1].clamp_min(1e-12)).max().item() > 20.0


def test_critics_output_one_value_per_row():
    assert VCritic(4, (8,))(torch.zeros(6, 4)).shape == (6,)
    assert QCritic(4, 2, (8,))(torch.zeros(6, 4), torch.zeros(6, 2)).shape == (6,)


def test_make_actor_picks_by_space_and_refuses_others():
    box = gym.spaces.Box(-1, 1, (3,))
    assert isinstance(make_actor(box, gym.spaces.Discrete(2), (8,), "tanh"), CategoricalActor)
    assert isinstance(make_actor(box, gym.spaces.Box(-1, 1, (2,)), (8,), "tanh"), GaussianActor)
    with pytest.raises(EnvError, match="MultiDiscrete"):
        make_actor(box, gym.spaces.MultiDiscrete([2, 2]), (8,), "tanh")
    # images and Dicts read through encoders (tests/test_encoders.py); other shapes do not
    with pytest.raises(EnvError, match="flatten it"):
        make_actor(gym.spaces.Box(0, 1, (2, 8, 8, 3)), gym.spaces.Discrete(2), (8,), "tanh")
    with pytest.raises(EnvError, match="Tuple"):
        make_actor(gym.spaces.Tuple([box]), gym.spaces.Discrete(2), (8,), "tanh")


def test_rollout_samplers_match_the_torch_log_likelihoods_and_distributions():
    # The rollout samples in numpy from the network outputs; its log-probabilities must be the
    # ones the update recomputes in torch, and its samples must follow the same distribution.
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    obs = torch.randn(1, 3)
    cat = CategoricalActor(3, 4, hid=(8,))
    with torch.no_grad():
        logits = cat.logits_net(obs).numpy()
        probs = cat.log_probs_all(obs).exp()[0].double().numpy()
    n = 200_000
    act, logp = cat.numpy_sampler()(np.repeat(logits, n, 0), rng)
    counts = np.bincount(act, minlength=4)
    assert ((counts - n * probs) ** 2 / (n * probs)).sum() < 25.0  # chi2, 3 dof
    torch_logp = cat.log_prob(obs.expand(8, 3), torch.as_tensor(act[:8])).detach().numpy()
    np.testing.assert_allclose(logp[:8], torch_logp, rtol=1e-5)

    gauss = GaussianActor(3, 2, hid=(8,), log_std_init=-0.3)
    with torch.no_grad():
        mu = gauss.mu_net(obs).numpy()
    act, logp = gauss.numpy_sampler()(np.repeat(mu, n, 0), rng)
    np.testing.assert_allclose(act.mean(0), mu[0], atol=0.01)
    np.testing.assert_allclose(act.std(0), [math.exp(-0.3)] * 2, rtol=0.01)
    torch_logp = gauss.log_prob(obs.expand(8, 3), torch.as_tensor(act[:8])).detach().numpy()
    np.testing.assert_allclose(logp[:8], torch_logp, rtol=1e-5, atol=1e-5)
