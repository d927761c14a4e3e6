"""Exact tabular solutions, and the Monte Carlo policy-gradient estimators held to them.

References used here are independent of the code under test: the Bellman equations
themselves, Monte Carlo returns, finite differences of J, and brute-force enumeration of
deterministic policies.
"""

import itertools

import numpy as np
import pytest

from spinrl import returns
from spinrl import tabular as tb
from spinrl.errors import EnvError

MDPS = {
    "three_state_gamma1": lambda: tb.three_state_mdp(gamma=1.0),
    "three_state_gamma0.9": lambda: tb.three_state_mdp(gamma=0.9),
    "frozenlake": lambda: tb.from_gymnasium("FrozenLake-v1", gamma=0.95),
    "cliffwalking": lambda: tb.from_gymnasium("CliffWalking-v1", gamma=0.9),
}


def random_theta(mdp, seed, scale=1.0):
    return np.random.default_rng(seed).normal(size=(mdp.n_states, mdp.n_actions)) * scale


@pytest.mark.parametrize("name", MDPS)
def test_bellman_expectation_equations_hold(name):
    mdp = MDPS[name]()
    pi = tb.softmax_policy(random_theta(mdp, 0))
    V = tb.policy_evaluation(mdp, pi)
    Q = tb.q_values(mdp, pi)
    # V(s) = sum_a pi(a|s) [R(s,a) + gamma sum_s' P(s'|s,a) V(s')]   and   V = sum_a pi Q
    np.testing.assert_allclose(V, (pi * (mdp.R + mdp.gamma * mdp.P @ V)).sum(1), atol=1e-9)
    np.testing.assert_allclose(V, (pi * Q).sum(1), atol=1e-9)
    # Q(s,a) = R(s,a) + gamma sum_s' P(s'|s,a) sum_a' pi(a'|s') Q(s',a')
    np.testing.assert_allclose(Q, mdp.R + mdp.gamma * mdp.P @ (pi * Q).sum(1), atol=1e-9)
    # The advantage has zero mean under the policy: sum_a pi(a|s) A(s,a) = 0.
    np.testing.assert_allclose((pi * tb.advantages(mdp, pi)).sum(1), 0.0, atol=1e-9)


def test_policy_evaluation_matches_monte_carlo_returns():
    mdp = tb.three_state_mdp(gamma=0.9)
    pi = tb.softmax_policy(random_theta(mdp, 3))
    batch = tb.sample_episodes(mdp, pi, 100_000, np.random.default_rng(0), max_len=400)
    G = returns.total_return(batch.rewards, batch.terminated, batch.truncated, mdp.gamma)[0]
    se = G.std() / np.sqrt(len(G))
    assert abs(G.mean() - tb.objective(mdp, pi)) < 4 * se


@pytest.mark.parametrize("name", MDPS)
def test_value_iteration_satisfies_bellman_optimality_and_beats_every_policy(name):
    mdp = MDPS[name]()
    V_star, Q_star = tb.value_iteration(mdp)
    np.testing.assert_allclose(V_star, (mdp.R + mdp.gamma * mdp.P @ V_star).max(1), atol=1e-8)
    np.testing.assert_allclose(V_star, Q_star.max(1), atol=1e-12)
    for seed in range(5):
        V_pi = tb.policy_evaluation(mdp, tb.softmax_policy(random_theta(mdp, seed, 2.0)))
        assert np.all(V_pi <= V_star + 1e-8)


def test_value_iteration_equals_the_best_deterministic_policy_by_enumeration():
    mdp = tb.three_state_mdp(gamma=0.9)
    V_star, _ = tb.value_iteration(mdp)
    best = None
    for choice in itertools.product(range(mdp.n_actions), repeat=mdp.n_states):
        pi = np.eye(mdp.n_actions)[list(choice)]
        try:
            V = tb.policy_evaluation(mdp, pi)
        except ValueError:
            continue
        best = V if best is None else np.maximum(best, V)
    np.testing.assert_allclose(V_star, best, atol=1e-8)


@pytest.mark.parametrize("name", MDPS)
def test_exact_policy_gradient_matches_finite_differences(name):
    mdp = MDPS[name]()
    theta = random_theta(mdp, 1, 0.5)
    grad = tb.exact_policy_gradient(mdp, theta)
    eps = 1e-5
    fd = np.zeros_like(theta)
    for idx in np.ndindex(theta.shape):
        up, down = theta.copy(), theta.copy()
        up[idx] += eps
        down[idx] -= eps
        fd[idx] = (
            tb.objective(mdp, tb.softmax_policy(up)) - tb.objective(mdp, tb.softmax_policy(down))
        ) / (2 * eps)
    np.testing.assert_allclose(grad, fd, atol=1e-6 * max(1.0, np.abs(grad).max()))


def estimates_with(kind, mdp, pi, batch, lam=0.8):
    """Per-episode gradient estimates for one Phi_t, using returns.py on the [T, K] batch."""
    V = tb.policy_evaluation(mdp, pi)
    Q = tb.q_from_v(mdp, V)
    values = np.where(batch.valid, V[batch.states], 0.0)
    final_values = V[batch.final_states]
    if kind == "exact_q":
        weights = Q[batch.states, batch.actions]
    elif kind == "exact_a":
        weights = Q[batch.states, batch.actions] - V[batch.states]
    else:
        weights = returns.policy_gradient_weights(
            kind,
            batch.rewards,
            batch.terminated,
            batch.truncated,
            mdp.gamma,
            lam,
            values=values,
            final_values=final_values,
        )
    time_discount = 1.0 if kind == "total" else mdp.gamma
    return tb.score_function_estimates(batch, pi, weights, time_discount)


ESTIMATORS = [*returns.PHI_KINDS, "exact_q", "exact_a"]


@pytest.mark.parametrize("mdp_name", ["three_state_gamma1", "three_state_gamma0.9", "frozenlake"])
@pytest.mark.parametrize("kind", ESTIMATORS)
def test_monte_carlo_policy_gradient_is_unbiased(mdp_name, kind):
    # Every Phi_t gives an unbiased estimate of grad J: the mean over K episodes must lie
    # within 4.5 standard errors of the exact gradient in every component (with <= 64
    # components, a chance failure has probability < 5e-4; the seed is fixed anyway).
    mdp = MDPS[mdp_name]()
    theta = random_theta(mdp, 2, 0.5)
    pi = tb.softmax_policy(theta)
    # max_len 30 truncates some FrozenLake episodes: those bootstrap from V(final state).
    batch = tb.sample_episodes(mdp, pi, 30_000, np.random.default_rng(7), max_len=30)
    est = estimates_with(kind, mdp, pi, batch)
    exact = tb.exact_policy_gradient(mdp, theta)
    mean, se = est.mean(0), est.std(0) / np.sqrt(len(est))
    z = np.abs(mean - exact) / np.maximum(se, 1e-12)
    z[se == 0] = np.where(np.abs(mean - exact)[se == 0] < 1e-12, 0.0, np.inf)
    assert z.max() < 4.5, (kind, z.max())


def test_the_unbiasedness_check_detects_a_biased_estimator():
    # Subtracting an action-dependent "baseline" Q(s, a) from the reward-to-go biases the
    # estimate; the same check must reject it, or it could not fail at all.
    mdp = tb.three_state_mdp(gamma=1.0)
    theta = random_theta(mdp, 2, 0.5)
    pi = tb.softmax_policy(theta)
    batch = tb.sample_episodes(mdp, pi, 30_000, np.random.default_rng(7), max_len=30)
    Q = tb.q_values(mdp, pi)
    rtg = returns.reward_to_go(batch.rewards, batch.terminated, batch.truncated, 1.0)
    biased = rtg - np.where(batch.valid, Q[batch.states, batch.actions] * 0.5, 0.0)
    est = tb.score_function_estimates(batch, pi, biased)
    z = np.abs(est.mean(0) - tb.exact_policy_gradient(mdp, theta)) / (
        est.std(0) / np.sqrt(len(est))
    )
    assert z.max() > 10


def test_truncated_episodes_are_marked_and_sampling_respects_termination():
    mdp = tb.three_state_mdp(gamma=1.0)
    pi = tb.uniform_policy(mdp)
    batch = tb.sample_episodes(mdp, pi, 5_000, np.random.default_rng(0), max_len=3)
    ended = batch.terminated.any(0)
    assert np.all(batch.truncated[-1] == ~ended)
    # s2 is never a start state and a0 in s1 ends the episode with prob .8, else goes to s0.
    assert np.all(batch.states[0] != 2)
    first = batch.valid[0] & (batch.states[0] == 1) & (batch.actions[0] == 0)
    rate = batch.terminated[0][first].mean()
    assert abs(rate - 0.8) < 4 * np.sqrt(0.16 / first.sum())


def test_non_tabular_env_is_refused():
    with pytest.raises(EnvError, match="transition table"):
        tb.from_gymnasium("CartPole-v1")
