"""Deep Deterministic Policy Gradient (DDPG): Q-learning with a deterministic actor.

The critic regresses on y = r + gamma (1 - terminated) Q_targ(s', mu_targ(s')); the actor
maximises Q(s, mu(s)); target networks follow by Polyak averaging; exploration adds Gaussian
noise to mu(s). This is TD3 (algos/td3.py) without its three additions: one critic, no
target policy smoothing, no delay, so the update rule is shared, not copied.
"""

from __future__ import annotations

from dataclasses import dataclass

from spinrl import offpolicy
from spinrl.algos import td3
from spinrl.envs import EnvFn
from spinrl.run import Result, Variant, fixed_fields

ACTION_SPACES = offpolicy.ACTION_SPACES


@dataclass
class Config(offpolicy.OffPolicyConfig):
    """Hyperparameters of DDPG; the defaults are Spinning Up's.

    pi_lr: Adam learning rate of the policy.
    q_lr: Adam learning rate of the critic.
    act_noise: std of the Gaussian exploration noise, in action units (as Spinning Up); with
        noise_type "ou", the Ornstein-Uhlenbeck process's sigma.
    noise_type: "gaussian" (Spinning Up's) or "ou", Ornstein-Uhlenbeck noise as the DDPG
        paper explored with (Lillicrap et al. 2016: theta 0.15, sigma 0.2), discretised as
        SB3's with dt 0.01 (algos/td3.py).
    """

    pi_lr: float = 1e-3
    q_lr: float = 1e-3
    act_noise: float = 0.1
    noise_type: str = "gaussian"


FIXED = dict(n_critics=1, target_noise=0.0, policy_delay=1)  # TD3 without its three fixes


def validate(cfg: Config) -> None:
    td3.validate(fixed_fields(td3.Config, cfg, FIXED))


def train(
    cfg: Config,
    env_fn: EnvFn | None = None,
    output_dir: str | None = None,
    verbose: bool = True,
    resume: bool = False,
    callback=None,
) -> Result:
    """Train with DDPG: TD3's update with one critic, no smoothing and no delay."""
    base = fixed_fields(td3.Config, cfg, FIXED)
    return td3.train(base, env_fn, output_dir, verbose, resume, callback, Variant("ddpg", cfg))
