"""Checks of the Part 3 exercises: p3.rtg (reward-to-go), p3.eglp (the EGLP lemma by Monte
Carlo), p3.gae (GAE over [T, N] with terminated and truncated) and p3.pg (the simplest
policy-gradient loss, trained on CartPole-v1), against spinrl.returns and autograd of
spinrl.policies.diag_gaussian_log_prob."""

from __future__ import annotations

import math

import numpy as np
import torch

from spinrl import returns
from spinrl.exercises.checks import (
    Check,
    compare,
    failed_call,
    judge,
    learner_function,
    show,
    skipped,
)
from spinrl.policies import diag_gaussian_log_prob

# --- p3.rtg ---------------------------------------------------------------------------------


def reward_to_go(module, quick: bool = False) -> list[Check]:
    fn, missing = learner_function(module, "reward_to_go")
    if missing:
        return missing
    rng = np.random.default_rng(5)
    checks = []
    for name, T, gamma in (
        ("an episode of 40 steps, gamma 0.9", 40, 0.9),
        ("an episode of 25 steps, gamma 1", 25, 1.0),
        ("an episode of 1 step, gamma 0.99", 1, 0.99),
    ):
        r = rng.normal(size=T) + 0.5
        want = returns.discount_cumsum(r, gamma)
        mistakes = [
            ("that is R(tau) at every step: sum only the rewards from t on", np.full(T, want[0])),
            (
                "that sums the past, r_0 ... r_t: the reward-to-go looks forward, r_t ... r_{T-1}",
                np.cumsum(r),
            ),
            ("G_t starts with r_t itself: you left it out", want - r),
            (
                "the discount is missing: gamma^(t'-t) weighs r_{t'}",
                returns.discount_cumsum(r, 1.0),
            ),
            (
                "the discount runs from the episode's start (gamma^t'), not from t (gamma^(t'-t))",
                want * gamma ** np.arange(T),
            ),
        ]
        mistakes = [m for m in mistakes if not np.allclose(m[1], want)]
        checks.append(
            compare(
                f"G_t for {name}",
                lambda r=r, g=gamma: fn(r.copy(), g),
                want,
                mistakes,
                "check G_t = r_t + gamma G_{t+1}, with G_T = 0",
            )
        )
    return checks


# --- p3.eglp --------------------------------------------------------------------------------


def _autograd_score(x, mu, log_std):
    """Per-sample gradients of spinrl's eq. 1.3 in mu and log sigma (each row its own copy)."""
    mu_rows = mu.expand_as(x).clone().requires_grad_()
    ls_rows = log_std.expand_as(x).clone().requires_grad_()
    diag_gaussian_log_prob(x, mu_rows, ls_rows).sum().backward()
    return mu_rows.grad, ls_rows.grad


def eglp(module, quick: bool = False) -> list[Check]:
    score, missing = learner_function(module, "score")
    estimate, missing_estimate = learner_function(module, "eglp_estimate")
    if missing or missing_estimate:
        return (missing or []) + (missing_estimate or [])
    gen = torch.Generator().manual_seed(7)
    mu = torch.tensor([0.5, -1.0, 2.0])
    log_std = torch.tensor([-0.5, 0.0, 0.7])
    sigma = log_std.exp()
    x = mu + 3 * torch.randn(20, 3, generator=gen)  # anywhere, not only where P puts mass
    want_mu, want_ls = _autograd_score(x, mu, log_std)
    checks = []
    try:
        got_mu, got_ls = score(x.clone(), mu.clone(), log_std.clone())
    except Exception as e:
        return [failed_call("d log P / d mu", want_mu, e), skipped("the rest", "fix score first")]
    checks.append(
        judge(
            "d log P / d mu at 20 points",
            got_mu,
            want_mu,
            [
                ("a sign: d/dmu of -(x - mu)^2 / (2 sigma^2) is +(x - mu) / sigma^2", -want_mu),
                ("divide by sigma^2, not sigma", want_mu * sigma),
                ("divide by sigma^2: (x - mu) alone is missing it", want_mu * sigma**2),
            ],
            "differentiate eq. 1.3 in mu_i: only the (x_i - mu_i)^2 term depends on it",
        )
    )
    checks.append(
        judge(
            "d log P / d log sigma at 20 points",
            got_ls,
            want_ls,
            [
                ("missing the -1: the 2 log sigma_i term of eq. 1.3 contributes -1", want_ls + 1),
                ("a sign: it is ((x - mu) / sigma)^2 - 1", -want_ls),
                (
                    "that is d/dsigma: the parameter is log sigma, so multiply by sigma",
                    want_ls / sigma,
                ),
                ("the -1 counts twice: 2 log sigma_i halved gives -1, not -2", want_ls - 1),
            ],
            "differentiate eq. 1.3 in log sigma_i, with sigma_i = exp(log sigma_i)",
        )
    )
    if not all(c.passed for c in checks):
        return [*checks, skipped("the Monte Carlo checks", "fix score first")]
    return checks + _monte_carlo_checks(estimate, mu, log_std, sigma)


def _monte_carlo_checks(estimate, mu, log_std, sigma) -> list[Check]:
    """The lemma: the mean is 0 within its standard error, and that error shrinks as 1/sqrt(n).

    Per sample, Var[d/dmu_i] = 1 / sigma_i^2 and Var[d/dlog sigma_i] = Var[z^2] = 2, so the
    mean of n samples has standard errors 1 / (sigma_i sqrt n) and sqrt(2 / n)."""
    checks = []
    n = 200_000
    se = torch.cat([1 / (sigma * math.sqrt(n)), torch.full_like(sigma, math.sqrt(2 / n))])
    name = f"the EGLP mean over n = {n} samples, in standard errors (|z| < 5)"
    try:
        got = torch.cat([t.reshape(-1) for t in estimate(mu, log_std, n, torch.Generator())])
        z = got / se
    except Exception as e:
        return [failed_call(name, torch.zeros(6), e)]
    ok = bool(z.abs().max() < 5)
    hint = ""
    if not ok:
        hint = "the mean is not 0: sample x from N(mu, sigma^2) itself (mu + sigma * randn)"
        if torch.allclose(got[3:], torch.ones(3), atol=0.05):
            hint = "the log sigma part averages to 1: the -1 term is missing"
    checks.append(Check(name, ok, "|z| < 5 in all 6 entries", show(z), hint))
    gen = torch.Generator().manual_seed(1)
    small, repeats = 2000, 100
    try:
        draws = torch.stack(
            [
                torch.cat([t.reshape(-1) for t in estimate(mu, log_std, small, gen)])
                for _ in range(repeats)
            ]
        )
    except Exception as e:
        return [*checks, failed_call("spread of the estimate", torch.zeros(6), e)]
    ratio = draws.std(0) * math.sqrt(small) / (se * math.sqrt(n))
    ok = bool(((ratio > 0.7) & (ratio < 1.4)).all())
    hint = ""
    if not ok:
        hint = "the estimate does not vary as a mean of n independent samples should: draw n "
        hint += "fresh samples with the generator at every call and average over all of them"
    name = f"spread of {repeats} estimates over n = {small}, relative to 1/sqrt(n)"
    checks.append(Check(name, ok, "ratios within [0.7, 1.4]", show(ratio), hint))
    return checks


# --- p3.gae ---------------------------------------------------------------------------------


def _episode_flags(rng, T, N, p=0.08):
    """Random episode ends: each step terminates or is truncated w.p. p each, never both."""
    u = rng.random((T, N))
    return u < p, (u >= p) & (u < 2 * p)


def _gae_mistakes(r, v, term, trunc, final_v, last_v, gamma, lam):
    """The advantages that the usual mistakes produce, each computed with spinrl.returns.gae
    on inputs changed to what the mistake assumes."""
    none = np.zeros_like(term)
    after = np.vstack([v[1:], last_v[None]])  # values[t + 1]: the next row
    return [
        (
            "bootstrapping through termination: after a terminated step V(s_{t+1}) = 0",
            _gae(r, v, none, trunc | term, final_v, last_v, gamma, lam),
        ),
        (
            "bootstrapping through termination from the next row's V, which belongs to the next "
            "episode: after a terminated step V(s_{t+1}) = 0",
            _gae(r, v, none, trunc | term, np.where(term, after, final_v), last_v, gamma, lam),
        ),
        (
            "a time limit treated as a terminal state: after a truncated step bootstrap from "
            "final_values",
            _gae(r, v, term | trunc, none, final_v, last_v, gamma, lam),
        ),
        (
            "after a truncated step you used values[t + 1], the next episode's first state: use "
            "final_values[t]",
            _gae(r, v, term, trunc, after, last_v, gamma, lam),
        ),
        (
            "the last row is not bootstrapped: V(s_T) there is last_values",
            _gae(r, v, term, trunc, final_v, np.zeros_like(last_v), gamma, lam),
        ),
        (
            "the sum runs across episode ends: cut A_{t+1} where an episode stops",
            _crossing(r, v, term, trunc, final_v, last_v, gamma, lam),
        ),
        (
            "the recursion decays by gamma only: it is gamma * lam",
            _gae(r, v, term, trunc, final_v, last_v, gamma, 1.0),
        ),
        (
            "that is A_t + V(s_t), the lambda-return (the value target): return the advantages",
            _gae(r, v, term, trunc, final_v, last_v, gamma, lam) + v,
        ),
    ]


def _gae(r, v, term, trunc, final_v, last_v, gamma, lam) -> np.ndarray:
    """spinrl.returns.gae's advantages, with the exercise's argument order."""
    kw = dict(final_values=final_v, last_values=last_v)
    return returns.gae(r, v, term, trunc, gamma, lam, **kw)[0]


def _crossing(r, v, term, trunc, final_v, last_v, gamma, lam):
    """The right deltas, summed with (gamma lam)^l straight across episode boundaries."""
    deltas = _gae(r, v, term, trunc, final_v, last_v, gamma, 0.0)
    return returns.discount_cumsum(deltas, gamma * lam)


def gae(module, quick: bool = False) -> list[Check]:
    fn, missing = learner_function(module, "gae")
    if missing:
        return missing
    rng = np.random.default_rng(9)
    checks = []
    for name, T, N, gamma, lam in (
        ("[64, 4] batch, gamma 0.99, lam 0.95", 64, 4, 0.99, 0.95),
        ("[40, 1] batch, gamma 0.9, lam 0.8", 40, 1, 0.9, 0.8),
        ("[30, 3] batch, gamma 0.99, lam 0 (TD residuals)", 30, 3, 0.99, 0.0),
        ("[30, 3] batch, gamma 0.95, lam 1", 30, 3, 0.95, 1.0),
    ):
        r, v = rng.normal(size=(T, N)), rng.normal(size=(T, N))
        final_v, last_v = rng.normal(size=(T, N)), rng.normal(size=N)
        term, trunc = _episode_flags(rng, T, N)
        term[T // 3, 0], trunc[T // 2, 0], term[-1, -1] = True, True, False
        trunc[T // 3, 0], term[T // 2, 0], trunc[-1, -1] = False, False, False
        args = (r, v, term, trunc, final_v, last_v)
        want = _gae(*args, gamma, lam)
        mistakes = [m for m in _gae_mistakes(*args, gamma, lam) if not np.allclose(m[1], want)]
        checks.append(
            compare(
                f"advantages of a {name}",
                lambda a=args, g=gamma, lm=lam: fn(*(x.copy() for x in a), g, lm),
                want,
                mistakes,
                "compare delta_t and the recursion with eqs. 3.10 and 3.11, and the four rules "
                "for V(s_{t+1})",
            )
        )
    return checks


# --- p3.pg ----------------------------------------------------------------------------------


def pg(module, quick: bool = False) -> list[Check]:
    fn, missing = learner_function(module, "pg_loss")
    if missing:
        return missing
    gen = torch.Generator().manual_seed(4)
    B, n = 50, 3
    logits0 = torch.randn(B, n, generator=gen)
    actions = torch.randint(0, n, (B,), generator=gen)
    weights = torch.randn(B, generator=gen) + 1.0
    logp_all = torch.distributions.Categorical(logits=logits0).logits  # normalised log pi
    logp = logp_all.gather(-1, actions[:, None])[:, 0]
    want = -(logp * weights).mean()
    probs = logp.exp()
    mistakes = [
        ("a sign: the optimiser minimises, so the loss is MINUS the objective", -want),
        (
            "a sum over the batch: average it (1/|D|), or the step size grows with the batch",
            want * B,
        ),
        (
            "log pi is log_softmax(logits): raw logits are not log-probabilities",
            -(logits0.gather(-1, actions[:, None])[:, 0] * weights).mean(),
        ),
        (
            "probabilities, not log-probabilities: the gradient is of log pi",
            -(probs * weights).mean(),
        ),
        ("the weights Phi_t are missing", -logp.mean()),
    ]
    checks = [
        compare(
            f"the loss of a batch of {B} steps with {n} actions",
            lambda: fn(logits0.clone(), actions.clone(), weights.clone()),
            want,
            mistakes,
            "the loss is -mean(log pi(a_t|s_t) * Phi_t)",
        )
    ]
    checks.append(_pg_gradient(fn, logits0, actions, weights, logp_all))
    if not all(c.passed for c in checks):
        return [*checks, skipped("training on CartPole-v1", "fix the checks above first")]
    if quick:
        return [*checks, skipped("training on CartPole-v1", "skipped (--quick)")]
    return [*checks, _pg_learns(fn)]


def _pg_gradient(fn, logits0, actions, weights, logp_all) -> Check:
    """d loss / d logits = -(1/B) Phi_t (onehot(a_t) - pi(.|s_t)): the score of eq. 1.2."""
    name = "gradient of the loss in the logits"
    B, n = logits0.shape
    want = -(weights[:, None] * (torch.eye(n)[actions] - logp_all.exp())) / B
    logits = logits0.clone().requires_grad_()
    try:
        loss = fn(logits, actions.clone(), weights.clone())
        if not isinstance(loss, torch.Tensor) or not loss.requires_grad:
            return Check(
                name,
                False,
                show(want),
                "no gradient",
                "the loss is cut off from the logits: keep log pi attached (no "
                ".detach(), .item() or numpy on it)",
            )
        if loss.dim() != 0:
            return Check(
                name,
                False,
                "a scalar loss",
                f"shape {list(loss.shape)}",
                "return one number: the mean over the batch",
            )
        loss.backward()
    except Exception as e:
        return failed_call(name, want, e)
    got = logits.grad if logits.grad is not None else torch.zeros_like(logits)
    return judge(
        name,
        got,
        want,
        [("a sign: the gradient points the wrong way", -want)],
        "the value is right but its gradient is not: are the weights detached?",
    )


PG_BUDGET = dict(steps_per_epoch=4000, epochs=20, threshold=100.0)
"""The training check of p3.pg: 20 epochs of 4000 CartPole-v1 steps, reward-to-go weights,
and the last two epochs' average return must reach 100 (a random policy scores about 22)."""


def train_pg(loss_fn, steps_per_epoch: int, epochs: int, seed: int = 0) -> list[float]:
    """The simplest policy gradient on CartPole-v1 with ``loss_fn(logits, actions, weights)``
    as its loss and reward-to-go as Phi_t; returns AverageEpRet per epoch."""
    from spinrl.algos import pg as pg_algo
    from spinrl.onpolicy import Session

    cfg = pg_algo.Config(
        env="CartPole-v1", steps_per_epoch=steps_per_epoch, epochs=epochs, seed=seed, num_envs=4
    )
    session = Session("pg", cfg, None, None, False, use_critic=False)
    actor, buf = session.actor, session.buf
    optimizer = torch.optim.Adam(actor.parameters(), lr=cfg.pi_lr)
    history = []
    for epoch in session.run({"pi": optimizer}):
        session.collect()
        phi = returns.reward_to_go(gamma=cfg.gamma, **buf.returns_args())
        data = buf.flat(phi=phi)
        logits = actor.logits_net(data["obs"])
        loss = loss_fn(logits, data["actions"].long(), data["phi"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        row = session.end_epoch(epoch, LossPi=loss.item())
        history.append(float(row.get("AverageEpRet", float("nan"))))
    return history


def _pg_learns(fn) -> Check:
    budget = PG_BUDGET
    name = (
        f"training on CartPole-v1, {budget['epochs']} epochs of "
        f"{budget['steps_per_epoch']} steps: average return of the last two epochs"
    )
    try:
        history = train_pg(fn, budget["steps_per_epoch"], budget["epochs"])
    except Exception as e:
        return failed_call(name, budget["threshold"], e)
    final = float(np.mean(history[-2:]))
    ok = final >= budget["threshold"]
    hint = "" if ok else "the loss is right on the checked batch but the policy does not learn"
    return Check(
        name, ok, f">= {budget['threshold']:g}", f"{final:.1f} (from {history[0]:.1f})", hint
    )
