"""Trust Region Policy Optimization (TRPO).

TRPO takes the largest policy step that keeps the average KL divergence from the old policy
within delta (docs eq. 4.2):

    maximise_theta  L(theta) = E[ pi_theta(a|s) / pi_old(a|s) * A(s, a) ]
    subject to      KL_bar(pi_old || pi_theta) <= delta

Around theta_old, L is approximately g . d and KL_bar is approximately 1/2 d' H d, with H the
Hessian of KL_bar (the Fisher information). The solution is the natural-gradient step

    d = sqrt(2 delta / (x' H x)) x,   x = H^-1 g

found without forming H: conjugate gradient needs only Hessian-vector products, which are
one extra backward pass each. A backtracking line search then shrinks the step until the
exact KL is within delta and L really improved. The value function is fitted separately
with Adam, as in VPG.

Spinning Up's PyTorch version of TRPO was never written; this one handles Discrete and Box
action spaces.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from spinrl import onpolicy, returns
from spinrl.envs import EnvFn
from spinrl.errors import ConfigError
from spinrl.onpolicy import Session, check_finite
from spinrl.run import Result

ACTION_SPACES = onpolicy.ACTION_SPACES


@dataclass
class Config(onpolicy.OnPolicyConfig):
    """Hyperparameters of TRPO; the defaults are Spinning Up's.

    delta: the trust region: the largest mean KL(pi_old || pi_new) a step may reach.
    vf_lr: Adam learning rate of the value function.
    train_v_iters: value-function gradient steps per epoch.
    damping_coeff: added to the Hessian-vector products (H + damping I) for stability.
    cg_iters: conjugate-gradient iterations to approximate H^-1 g.
    backtrack_iters: how many times the line search may shrink the step.
    backtrack_coeff: the factor it shrinks by each time.
    """

    delta: float = 0.01
    vf_lr: float = 1e-3
    train_v_iters: int = 80
    damping_coeff: float = 0.1
    cg_iters: int = 10
    backtrack_iters: int = 10
    backtrack_coeff: float = 0.8


def validate(cfg: Config) -> None:
    """ConfigError for values no run could use (checked before anything is created)."""
    onpolicy.validate(cfg)
    if not (cfg.delta > 0 and cfg.vf_lr > 0 and math.isfinite(cfg.delta + cfg.vf_lr)):
        raise ConfigError(f"delta and vf_lr must be positive, got {cfg.delta} and {cfg.vf_lr}")
    if not 0 < cfg.backtrack_coeff < 1 or cfg.cg_iters < 1 or cfg.backtrack_iters < 1:
        raise ConfigError("need 0 < backtrack_coeff < 1, cg_iters >= 1 and backtrack_iters >= 1")


def conjugate_gradient(
    matvec: Callable[[torch.Tensor], torch.Tensor], b: torch.Tensor, iters: int, tol: float = 1e-10
) -> torch.Tensor:
    """Approximately solve A x = b for symmetric positive-definite A, given only x -> A x."""
    x = torch.zeros_like(b)
    r = b.clone()  # residual b - A x
    p = b.clone()  # search direction
    rr = r @ r
    for _ in range(iters):
        Ap = matvec(p)
        alpha = rr / (p @ Ap)
        x += alpha * p
        r -= alpha * Ap
        rr_new = r @ r
        if rr_new < tol:
            break
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x


def backtracking_line_search(
    evaluate: Callable[[torch.Tensor], tuple[float, float]],
    theta_old: torch.Tensor,
    full_step: torch.Tensor,
    max_kl: float,
    coeff: float,
    iters: int,
) -> tuple[torch.Tensor, int | None]:
    """Shrink the step by ``coeff`` until the new parameters keep KL <= max_kl and improve the
    surrogate. ``evaluate(theta) -> (surrogate, kl)``. Returns (theta, shrink count), or
    (theta_old, None) when no step qualifies."""
    surrogate_old, _ = evaluate(theta_old)
    for j in range(iters):
        theta = theta_old + coeff**j * full_step
        surrogate, kl = evaluate(theta)
        if kl <= max_kl and surrogate > surrogate_old:
            return theta, j
    return theta_old, None


def natural_gradient_step(actor, obs, act, logp_old, adv, cfg: Config, epoch: int) -> dict:
    """One TRPO policy update on a batch (steps 1-4 of the module docstring); returns stats."""
    params = list(actor.parameters())

    def surrogate() -> torch.Tensor:
        return (torch.exp(actor.log_prob(obs, act) - logp_old) * adv).mean()

    with torch.no_grad():
        old_dist = tuple(t.detach() for t in actor.dist_params(obs))
    # 1. The policy gradient g of the surrogate at theta_old.
    loss_pi = surrogate()
    g = parameters_to_vector(torch.autograd.grad(loss_pi, params))
    check_finite(g, "the policy gradient", epoch)
    # 2. x = H^-1 g by conjugate gradient on Hessian-vector products of the mean KL.
    kl_grad = parameters_to_vector(
        torch.autograd.grad(actor.kl(old_dist, obs), params, create_graph=True)
    )

    def hessian_vector(v: torch.Tensor) -> torch.Tensor:
        hv = torch.autograd.grad(kl_grad @ v, params, retain_graph=True)
        return parameters_to_vector(hv) + cfg.damping_coeff * v

    x = conjugate_gradient(hessian_vector, g, cfg.cg_iters)
    # 3. The largest step along x that the quadratic model of the KL allows.
    step_size = torch.sqrt(2 * cfg.delta / (x @ hessian_vector(x)).clamp_min(1e-12))
    theta_old = parameters_to_vector(params).detach()

    def evaluate(theta: torch.Tensor) -> tuple[float, float]:
        vector_to_parameters(theta, params)
        with torch.no_grad():
            return surrogate().item(), actor.kl(old_dist, obs).item()

    # 4. Backtracking line search: enforce the real KL limit and a real improvement.
    theta, shrinks = backtracking_line_search(
        evaluate, theta_old, step_size * x, cfg.delta, cfg.backtrack_coeff, cfg.backtrack_iters
    )
    new_surrogate, kl = evaluate(theta)
    with torch.no_grad():
        entropy = actor.entropy(obs).mean().item()
    return {
        "LossPi": -loss_pi.item(),
        "DeltaLossPi": -(new_surrogate - loss_pi.item()),
        "KL": kl,
        "Entropy": entropy,
        "BacktrackIters": -1 if shrinks is None else shrinks,
    }


def train(
    cfg: Config,
    env_fn: EnvFn | None = None,
    output_dir: str | None = None,
    verbose: bool = True,
    resume: bool = False,
    callback=None,
) -> Result:
    """Train with TRPO; see the module docstring."""
    validate(cfg)
    session = Session("trpo", cfg, env_fn, output_dir, verbose)
    actor, critic, buf = session.actor, session.critic, session.buf
    vf_opt = torch.optim.Adam(critic.parameters(), lr=cfg.vf_lr)
    for epoch in session.run({"vf": vf_opt}, resume, callback):
        session.collect()
        adv, v_targets = returns.gae(
            values=buf.values, gamma=cfg.gamma, lam=cfg.lam, **buf.returns_args()
        )
        data = buf.flat(adv=adv, v_targets=v_targets)
        adv = (data["adv"] - data["adv"].mean()) / (data["adv"].std() + 1e-8)
        stats = natural_gradient_step(
            actor, data["obs"], data["actions"], data["logp"], adv, cfg, epoch
        )
        # 5. Fit the value function separately (train_v_iters = 0: never, as in exercise 2.1).
        loss_v = torch.zeros(())
        for _ in range(cfg.train_v_iters):
            loss_v = (critic(data["obs"]) - data["v_targets"]).pow(2).mean()
            check_finite(loss_v, "LossV", epoch)
            vf_opt.zero_grad()
            loss_v.backward()
            vf_opt.step()
        session.end_epoch(epoch, **stats, LossV=loss_v.item())
    return session.result()
