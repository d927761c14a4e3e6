"""Deep Deterministic Policy Gradient (DDPG): Q-learning with a deterministic actor.

The critic regresses on y = r + gamma (1 - terminated) Q_targ(s', mu_targ(s')); the actor
maximises Q(s, mu(s)); target networks follow by Polyak averaging; exploration adds Gaussian
noise to mu(s). This is TD3 (algos/td3.py) without its three additions: one critic, no
target policy smoothing, no delay, so the update rule is shared, not copied.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from spinrl import offpolicy
from spinrl.algos import td3
from spinrl.envs import EnvFn
from spinrl.run import Result, RunConfig, Variant, fixed_fields

ACTION_SPACES = offpolicy.ACTION_SPACES


@dataclass
class Config(RunConfig):
    """Hyperparameters of DDPG; the defaults are Spinning Up's.

    replay_size: capacity of the replay buffer in transitions.
    polyak: target networks move as targ <- polyak targ + (1 - polyak) net.
    pi_lr: Adam learning rate of the policy.
    q_lr: Adam learning rate of the critic.
    batch_size: transitions per gradient step.
    start_steps: env steps with uniformly random actions before the policy acts.
    update_after: env steps collected before the first update.
    update_every: env steps between update phases; each phase takes as many gradient steps.
    act_noise: std of the Gaussian exploration noise, in action units (as Spinning Up).
    num_test_episodes: deterministic test episodes after each epoch (TestEpRet).
    """

    env: str = "Pendulum-v1"
    epochs: int = 100
    replay_size: int = 1_000_000
    polyak: float = 0.995
    pi_lr: float = 1e-3
    q_lr: float = 1e-3
    batch_size: int = 100
    start_steps: int = 10_000
    update_after: int = 1000
    update_every: int = 50
    act_noise: float = 0.1
    num_test_episodes: int = 10
    hid: tuple[int, ...] = field(default=(256, 256))
    act: str = "relu"
    save_freq: int = 1


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
