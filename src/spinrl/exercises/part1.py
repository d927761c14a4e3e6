"""Checks of the Part 1 exercises: 1.1 (the diagonal Gaussian log-likelihood), p1.eval (policy
evaluation) and p1.vi (value iteration), against spinrl.policies.diag_gaussian_log_prob and
the exact V^pi and V* of spinrl.tabular."""

from __future__ import annotations

import numpy as np
import torch

from spinrl import tabular
from spinrl.exercises.checks import (
    Check,
    as_array,
    compare,
    failed_call,
    judge,
    learner_function,
    show,
)
from spinrl.policies import LOG_2PI, diag_gaussian_log_prob

# --- 1.1 ------------------------------------------------------------------------------------


def gaussian_mistakes(x, mu, log_std) -> list:
    """What the usual mistakes in eq. 1.3 give on this input."""
    right = diag_gaussian_log_prob(x, mu, log_std)
    k = x.shape[-1]
    log_std_full = log_std.expand_as(x)
    per_dim = -0.5 * (((x - mu) * torch.exp(-log_std)) ** 2 + 2 * log_std + LOG_2PI)
    return [
        (
            "missing the log 2pi term: each of the k dimensions adds log 2pi",
            right + 0.5 * k * LOG_2PI,
        ),
        ("a sign: the log-likelihood is MINUS one half of the sum", -right),
        (
            "the normaliser is 2 log sigma_i (log sigma_i^2), not log sigma_i",
            right + 0.5 * log_std_full.sum(-1),
        ),
        (
            "divide (x - mu)^2 by sigma^2, not by sigma",
            diag_gaussian_log_prob(x, mu, log_std / 2) - 0.5 * log_std_full.sum(-1),
        ),
        (
            "summed over the batch instead of the action dimensions (sum over the last axis)",
            per_dim.sum(0),
        ),
        ("no sum over the action dimensions: add up the k terms of each row", per_dim),
        ("a mean over the action dimensions: eq. 1.3 sums them", right / k),
        ("summed over everything: return one value per row", right.sum()),
    ]


def gaussian(module, quick: bool = False) -> list[Check]:
    fn, missing = learner_function(module, "gaussian_likelihood")
    if missing:
        return missing
    gen = torch.Generator().manual_seed(11)
    checks = []
    cases = [
        ("log-likelihood of a [64, 3] batch, log_std [3]", 64, 3, False),
        ("log-likelihood of a [32, 5] batch, log_std [32, 5]", 32, 5, True),
        ("log-likelihood of a [16, 1] batch, log_std [1]", 16, 1, False),
    ]
    for name, batch, k, per_row in cases:
        x = torch.randn(batch, k, generator=gen)
        mu = torch.randn(batch, k, generator=gen)
        log_std = torch.rand(batch if per_row else 1, k, generator=gen) - 0.5
        log_std = log_std if per_row else log_std[0]
        want = diag_gaussian_log_prob(x, mu, log_std)
        checks.append(
            compare(
                name,
                lambda x=x, mu=mu, log_std=log_std: fn(x.clone(), mu.clone(), log_std.clone()),
                want,
                gaussian_mistakes(x, mu, log_std),
                "compare your terms one by one with eq. 1.3",
            )
        )
    checks.append(_gaussian_gradient(fn, gen))
    return checks


def _gaussian_gradient(fn, gen) -> Check:
    """d/dmu and d/dlog_std of the summed log-likelihood, against autograd of spinrl's."""
    name = "gradient of the log-likelihood in mu and log_std"
    x = torch.randn(8, 2, generator=gen)
    mu0, ls0 = torch.randn(8, 2, generator=gen), torch.rand(2, generator=gen) - 0.5
    mu, log_std = mu0.clone().requires_grad_(), ls0.clone().requires_grad_()
    diag_gaussian_log_prob(x, mu, log_std).sum().backward()
    want = torch.cat([mu.grad.reshape(-1), log_std.grad])
    mu, log_std = mu0.clone().requires_grad_(), ls0.clone().requires_grad_()
    try:
        out = fn(x, mu, log_std)
        if not isinstance(out, torch.Tensor) or not out.requires_grad:
            hint = "the result is cut off from mu and log_std: use torch operations only (no "
            hint += "numpy, .item(), .detach() or torch.tensor(...) of an intermediate)"
            return Check(name, False, show(want), "no gradient", hint)
        out.sum().backward()
    except Exception as e:
        return failed_call(name, want, e)
    grads = [
        g if g is not None else torch.zeros_like(p)
        for g, p in ((mu.grad, mu), (log_std.grad, log_std))
    ]
    got = torch.cat([grads[0].reshape(-1), grads[1]])
    return judge(name, got, want, hint="the value is right where checked but its gradient is not")


# --- p1.eval and p1.vi ------------------------------------------------------------------------

_FROZEN = (
    ("FrozenLake-v1 4x4, gamma 0.95", dict(gamma=0.95)),
    ("FrozenLake-v1 8x8, gamma 0.99", dict(gamma=0.99, map_name="8x8")),
)


def _frozen_lakes():
    return [(name, tabular.from_gymnasium("FrozenLake-v1", **kw)) for name, kw in _FROZEN]


def _one_sweep(mdp, pi) -> np.ndarray:
    return (pi * mdp.R).sum(1)


def evaluation(module, quick: bool = False) -> list[Check]:
    fn, missing = learner_function(module, "evaluate_policy")
    if missing:
        return missing
    rng = np.random.default_rng(3)
    checks = []
    for lake, mdp in _frozen_lakes():
        uniform = tabular.uniform_policy(mdp)
        random_pi = tabular.softmax_policy(rng.normal(size=(mdp.n_states, mdp.n_actions)))
        for policy_name, pi in (("uniform", uniform), ("random softmax", random_pi)):
            want = tabular.policy_evaluation(mdp, pi)  # the exact solution of a linear system
            greedy_v = tabular.value_iteration(mdp)[0]
            mistakes = [
                ("that is V*: you took the max over actions; average them with pi(a|s)", greedy_v),
                (
                    "that is one sweep from V = 0: repeat the update until it stops changing",
                    _one_sweep(mdp, pi),
                ),
            ]
            checks.append(
                compare(
                    f"V^pi of the {policy_name} policy on {lake}",
                    lambda mdp=mdp, pi=pi: fn(mdp.P.copy(), mdp.R.copy(), pi.copy(), mdp.gamma),
                    want,
                    mistakes,
                    _not_converged_hint,
                    rtol=1e-6,
                    atol=1e-6,
                )
            )
    return checks


_not_converged_hint = (
    "off the exact V^pi: check the discount gamma, the expectation over s' with P, and that "
    "you iterate until max |V_new - V| < tol"
)


def value_iteration(module, quick: bool = False) -> list[Check]:
    fn, missing = learner_function(module, "value_iteration")
    if missing:
        return missing
    checks = []
    for lake, mdp in _frozen_lakes():
        v_star, q_star = tabular.value_iteration(mdp)
        uniform = tabular.uniform_policy(mdp)
        name = f"V* on {lake}"
        try:
            out = fn(mdp.P.copy(), mdp.R.copy(), mdp.gamma)
            v, policy = out
        except Exception as e:
            checks.append(failed_call(name, v_star, e))
            continue
        mistakes = [
            (
                "that is V of the uniform policy: take the max over actions, not the mean",
                tabular.policy_evaluation(mdp, uniform),
            ),
            (
                "that is one sweep from V = 0: repeat the update until it stops changing",
                mdp.R.max(1),
            ),
            ("that is min over actions: V* takes the max", _min_values(mdp)),
        ]
        checks.append(judge(name, v, v_star, mistakes, _not_converged_hint, rtol=1e-6, atol=1e-6))
        checks.append(_greedy_check(lake, mdp, policy, v_star, q_star))
    return checks


def _min_values(mdp) -> np.ndarray:
    V = np.zeros(mdp.n_states)
    for _ in range(10_000):
        V_new = tabular.q_from_v(mdp, V).min(1)
        if np.max(np.abs(V_new - V)) < 1e-12:
            break
        V = V_new
    return V_new


def _greedy_check(lake, mdp, policy, v_star, q_star) -> Check:
    """The learner's policy, evaluated exactly, must be worth V* in every state."""
    name = f"the value of your policy on {lake}"
    try:
        actions = as_array(policy).astype(np.int64)
        if actions.shape != (mdp.n_states,) or actions.min() < 0 or actions.max() >= mdp.n_actions:
            raise ValueError(f"policy must hold {mdp.n_states} actions in [0, {mdp.n_actions})")
    except (TypeError, ValueError) as e:
        return Check(name, False, show(v_star), str(e)[:100], "return one action per state")
    one_hot = np.eye(mdp.n_actions)[actions]
    got = tabular.policy_evaluation(mdp, one_hot)
    mistakes = [
        (
            "argmin: the greedy policy takes the action of largest Q*",
            tabular.policy_evaluation(mdp, np.eye(mdp.n_actions)[q_star.argmin(1)]),
        ),
    ]
    hint = "act greedily with respect to Q*(s, a) = R(s, a) + gamma sum_s' P(s'|s, a) V*(s')"
    return judge(name, got, v_star, mistakes, hint, rtol=1e-6, atol=1e-6)
