"""The simplest policy gradient, with the weight Phi_t of your choice (docs/theory/part3.md).

Each epoch: collect a batch of experience with the current policy, then take one gradient
ascent step on

    L(theta) = 1/|D| sum_{t in D} log pi_theta(a_t|s_t) Phi_t

whose gradient is the sample estimate of grad J (eq. 3.7). ``phi`` picks Phi_t:

    total         R(tau)              the return of the whole episode
    rtg           G_t                 reward-to-go: only rewards after the action count
    rtg_baseline  G_t - V(s_t)        reward-to-go minus a learned baseline
    q             r_t + gamma V(s')   a one-step estimate of Q^pi(s_t, a_t)
    advantage     r_t + gamma V(s') - V(s_t)
    gae           GAE-lambda advantage (this choice with a value function is VPG)

All are unbiased for the same gradient when V is exact; they differ in variance, which is
what ``spinrl variance`` measures. The weights that need V fit a value network on the
rewards-to-go (bootstrapped with V where a time limit or the batch cuts an episode) with
``train_v_iters`` Adam steps per epoch, as Spinning Up's VPG does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from spinrl import onpolicy, returns
from spinrl.envs import EnvFn
from spinrl.errors import ConfigError
from spinrl.onpolicy import Session, check_finite
from spinrl.run import Result, Variant

ACTION_SPACES = onpolicy.ACTION_SPACES


@dataclass
class Config(onpolicy.OnPolicyConfig):
    """Hyperparameters of the simplest policy gradient.

    phi: the weight Phi_t: total, rtg, rtg_baseline, q, advantage or gae.
    pi_lr: policy learning rate (Adam).
    vf_lr: value-function learning rate (Adam), for the weights that need V.
    train_v_iters: value-function gradient steps per epoch.
    normalize_advantages: shift and scale Phi_t to mean 0, std 1 over the batch.
    """

    steps_per_epoch: int = 5000
    phi: str = "rtg"
    gamma: float = 1.0
    pi_lr: float = 1e-2
    vf_lr: float = 1e-3
    train_v_iters: int = 80
    normalize_advantages: bool = False
    hid: tuple[int, ...] = field(default=(32,))


def validate(cfg: Config) -> None:
    """ConfigError for values no run could use (checked before anything is created)."""
    onpolicy.validate(cfg)
    if cfg.phi not in returns.PHI_KINDS:
        raise ConfigError(f"phi must be one of {', '.join(returns.PHI_KINDS)}, got {cfg.phi!r}")
    if not (cfg.pi_lr > 0 and cfg.vf_lr > 0 and math.isfinite(cfg.pi_lr + cfg.vf_lr)):
        raise ConfigError(f"learning rates must be positive, got {cfg.pi_lr} and {cfg.vf_lr}")


def train(
    cfg: Config,
    env_fn: EnvFn | None = None,
    output_dir: str | None = None,
    verbose: bool = True,
    resume: bool = False,
    callback=None,
    variant: Variant | None = None,
) -> Result:
    """Train a policy with the simplest policy gradient; see the module docstring."""
    validate(cfg)
    use_critic = cfg.phi in returns.NEEDS_CRITIC
    session = Session(
        "pg", cfg, env_fn, output_dir, verbose, use_critic=use_critic, variant=variant
    )
    actor, critic, buf = session.actor, session.critic, session.buf
    optimizers = {"pi": torch.optim.Adam(actor.parameters(), lr=cfg.pi_lr)}
    if critic is not None:
        optimizers["vf"] = torch.optim.Adam(critic.parameters(), lr=cfg.vf_lr)
    for epoch in session.run(optimizers, resume, callback):
        # 1. Collect a batch D of trajectories by running the policy.
        session.collect()
        # 2. Compute Phi_t for every step (and value targets if there is a critic).
        phi = returns.policy_gradient_weights(
            cfg.phi, gamma=cfg.gamma, lam=cfg.lam, values=buf.values, **buf.returns_args()
        )
        extra = {"phi": phi}
        if critic is not None:  # V regresses on the rewards-to-go, as in Spinning Up
            extra["v_targets"] = returns.reward_to_go(gamma=cfg.gamma, **buf.returns_args())
        data = buf.flat(**extra)
        if cfg.normalize_advantages:
            data["phi"] = (data["phi"] - data["phi"].mean()) / (data["phi"].std() + 1e-8)
        # 3. One gradient ascent step on the policy: maximise mean(log pi(a|s) * Phi_t).
        logp, entropy = actor.log_prob_and_entropy(data["obs"], data["actions"])
        loss_pi = -(logp * data["phi"]).mean()
        check_finite(loss_pi, "LossPi", epoch)
        optimizers["pi"].zero_grad()
        loss_pi.backward()
        optimizers["pi"].step()
        # 4. Fit V to the value targets by regression (only for the weights that use V).
        loss_v = torch.zeros(())
        if critic is not None:
            for _ in range(cfg.train_v_iters):
                loss_v = (critic(data["obs"]) - data["v_targets"]).pow(2).mean()
                check_finite(loss_v, "LossV", epoch)
                optimizers["vf"].zero_grad()
                loss_v.backward()
                optimizers["vf"].step()
        with torch.no_grad():
            kl = (data["logp"] - actor.log_prob(data["obs"], data["actions"])).mean()
        session.end_epoch(
            epoch,
            LossPi=loss_pi.item(),
            LossV=loss_v.item(),
            KL=kl.item(),
            Entropy=entropy.mean().item(),
        )
    return session.result()
