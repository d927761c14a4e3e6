"""TRPO's pieces against exact answers: conjugate gradient, the line search, closed-form KLs,
and the Hessian of the KL against the exact Fisher information."""

import numpy as np
import pytest
import torch

import spinrl
from spinrl.algos import trpo
from spinrl.policies import CategoricalActor, GaussianActor


def test_conjugate_gradient_solves_a_known_spd_system():
    rng = np.random.default_rng(0)
    m = rng.normal(size=(12, 12))
    A = m @ m.T + 0.5 * np.eye(12)
    b = rng.normal(size=12)
    At, bt = torch.tensor(A), torch.tensor(b)
    x = trpo.conjugate_gradient(lambda v: At @ v, bt, iters=40)
    np.testing.assert_allclose(x.numpy(), np.linalg.solve(A, b), rtol=1e-6, atol=1e-8)


def test_line_search_shrinks_until_the_kl_limit_holds():
    theta_old = torch.zeros(2)
    full_step = torch.tensor([1.0, 1.0])

    def evaluate(theta):  # surrogate rises along the step; KL = 50 |theta|^2
        return float(theta.sum()), float(50 * theta.pow(2).sum())

    theta, shrinks = trpo.backtracking_line_search(evaluate, theta_old, full_step, 0.01, 0.8, 30)
    assert shrinks is not None and shrinks > 0
    assert evaluate(theta)[1] <= 0.01
    assert evaluate(0.8 ** (shrinks - 1) * full_step)[1] > 0.01  # one shrink fewer breaks it


def test_line_search_rejects_every_step_that_does_not_improve():
    def evaluate(theta):
        return -float(theta.sum()), 0.0  # within the KL limit but always worse

    theta_old = torch.tensor([0.3, -0.2])
    theta, shrinks = trpo.backtracking_line_search(
        evaluate, theta_old, torch.ones(2), 0.01, 0.8, 10
    )
    assert shrinks is None and torch.equal(theta, theta_old)


def test_closed_form_kls_match_torch_distributions():
    torch.manual_seed(0)
    obs = torch.randn(6, 3)
    g = GaussianActor(3, 2, (8,))
    old = tuple(t.detach() for t in g.dist_params(obs))
    with torch.no_grad():
        g.log_std.add_(0.3)
        g.mu_net[0].weight.add_(0.2)
    mu, log_std = g.dist_params(obs)
    ref = (
        torch.distributions.kl_divergence(
            torch.distributions.Normal(old[0], old[1].exp()),
            torch.distributions.Normal(mu, log_std.exp()),
        )
        .sum(-1)
        .mean()
    )
    assert g.kl(old, obs).item() == pytest.approx(ref.item(), rel=1e-5)
    c = CategoricalActor(3, 4, (8,))
    old = tuple(t.detach() for t in c.dist_params(obs))
    with torch.no_grad():
        c.logits_net[0].weight.add_(0.5)
    ref = torch.distributions.kl_divergence(
        torch.distributions.Categorical(logits=old[0]),
        torch.distributions.Categorical(logits=c.log_probs_all(obs)),
    ).mean()
    assert c.kl(old, obs).item() == pytest.approx(ref.item(), rel=1e-5)


def test_kl_hessian_vector_product_equals_the_exact_fisher_vector_product():
    # At theta_old the Hessian of the mean KL is the Fisher information
    # F = mean_s sum_a p(a|s) grad log p(a|s) grad log p(a|s)^T, enumerable for a small actor.
    torch.manual_seed(1)
    actor = CategoricalActor(2, 3, (4,)).double()
    params = list(actor.parameters())
    obs = torch.randn(5, 2, dtype=torch.float64)
    old = tuple(t.detach() for t in actor.dist_params(obs))
    kl_grad = torch.nn.utils.parameters_to_vector(
        torch.autograd.grad(actor.kl(old, obs), params, create_graph=True)
    )
    v = torch.randn_like(kl_grad)
    hv = torch.nn.utils.parameters_to_vector(torch.autograd.grad(kl_grad @ v, params))
    fisher_v = torch.zeros_like(v)
    for i in range(len(obs)):
        for a in range(3):
            logp = actor.log_probs_all(obs[i : i + 1])[0, a]
            grad = torch.nn.utils.parameters_to_vector(torch.autograd.grad(logp, params))
            fisher_v += logp.exp().detach() * grad * (grad @ v) / len(obs)
    torch.testing.assert_close(hv, fisher_v, rtol=1e-8, atol=1e-10)


def test_trpo_keeps_every_step_inside_the_trust_region_and_improves_cartpole():
    rows = []
    spinrl.trpo(
        env="CartPole-v1",
        steps_per_epoch=2000,
        epochs=6,
        train_v_iters=20,
        verbose=False,
        callback=lambda s: rows.append(s.last_row),
    )
    assert all(r["KL"] <= 0.01 + 1e-9 for r in rows)
    assert rows[-1]["AverageEpRet"] > 2 * rows[0]["AverageEpRet"]


def test_trpo_on_a_continuous_task():
    result = spinrl.trpo(env="Pendulum-v1", steps_per_epoch=400, epochs=2, verbose=False)
    assert result.last_row["KL"] <= 0.01 + 1e-9


def test_trpo_with_train_v_iters_0_runs_and_never_moves_the_critic():
    # Spinning Up's exercise 2.1 trains TRPO with an unfitted V: the critic keeps its
    # initial weights, so after 1 and 2 epochs from the same seed it is the same network.
    kw = dict(env="CartPole-v1", steps_per_epoch=300, train_v_iters=0, seed=4, verbose=False)
    one, two = spinrl.trpo(epochs=1, **kw), spinrl.trpo(epochs=2, **kw)
    assert two.last_row["LossV"] == 0.0
    for a, b in zip(one.critic.parameters(), two.critic.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert any(
        not torch.equal(a, b)
        for a, b in zip(one.actor.parameters(), two.actor.parameters(), strict=True)
    )


@pytest.mark.slow
def test_trpo_solves_cartpole():
    history = []

    def solved(session):
        history.extend(session.last_episode_returns)
        return len(history) >= 20 and np.mean(history[-20:]) >= 475

    spinrl.trpo(env="CartPole-v1", total_steps=300_000, verbose=False, callback=solved)
    assert np.mean(history[-20:]) >= 475
