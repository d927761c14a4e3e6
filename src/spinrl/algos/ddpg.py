"""Deep Deterministic Policy Gradient (DDPG): Q-learning with a deterministic actor.

The critic regresses on y = r + gamma (1 - terminated) Q_targ(s', mu_targ(s')); the actor
maximises Q(s, mu(s)); target networks follow by Polyak averaging; exploration adds Gaussian
noise to mu(s). This is TD3 (algos/td3.py) without its three additions: one critic, no
target policy smoothing, no delay, so the update rule is shared, not copied.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from spinrl import offpolicy
from spinrl.algos import td3
from spinrl.envs import EnvFn
from spinrl.offpolicy import train_off_policy

ACTION_SPACES = offpolicy.ACTION_SPACES


@dataclass
class Config:
    """Hyperparameters of DDPG; the defaults are Spinning Up's.

    env: Gymnasium environment id (ignored when an env_fn is passed to train).
    seed: seeds Python, NumPy, PyTorch and the environments.
    num_envs: vector environments stepped together (N).
    vectorization: "sync" (same process) or "async" (one process per env).
    steps_per_epoch: env steps per epoch (summed over the N envs); a test phase follows each.
    epochs: number of epochs; ignored when total_steps is set.
    total_steps: training budget in env steps; sets epochs = ceil(total_steps / steps_per_epoch).
    replay_size: capacity of the replay buffer in transitions.
    gamma: discount factor.
    polyak: target networks move as targ <- polyak targ + (1 - polyak) net.
    pi_lr: Adam learning rate of the policy.
    q_lr: Adam learning rate of the critic.
    batch_size: transitions per gradient step.
    start_steps: env steps with uniformly random actions before the policy acts.
    update_after: env steps collected before the first update.
    update_every: env steps between update phases; each phase takes as many gradient steps.
    act_noise: std of the Gaussian exploration noise, in action units (as Spinning Up).
    num_test_episodes: deterministic test episodes after each epoch (TestEpRet).
    max_ep_len: time limit per episode; None keeps the environment's own.
    hid: hidden layer sizes of the policy and the critic.
    act: activation between hidden layers (tanh, relu, elu, gelu, silu).
    save_freq: write a checkpoint every save_freq epochs (and after the last).
    """

    env: str = "Pendulum-v1"
    seed: int = 0
    num_envs: int = 1
    vectorization: str = "sync"
    steps_per_epoch: int = 4000
    epochs: int = 100
    total_steps: int | None = None
    replay_size: int = 1_000_000
    gamma: float = 0.99
    polyak: float = 0.995
    pi_lr: float = 1e-3
    q_lr: float = 1e-3
    batch_size: int = 100
    start_steps: int = 10_000
    update_after: int = 1000
    update_every: int = 50
    act_noise: float = 0.1
    num_test_episodes: int = 10
    max_ep_len: int | None = None
    hid: tuple[int, ...] = field(default=(256, 256))
    act: str = "relu"
    save_freq: int = 1


PRESETS = {"spinningup": {}}  # the defaults already are Spinning Up's


def _as_td3(cfg: Config) -> td3.Config:
    return td3.Config(**dataclasses.asdict(cfg), target_noise=0.0, policy_delay=1)


def validate(cfg: Config) -> None:
    td3.validate(_as_td3(cfg))


def train(
    cfg: Config,
    env_fn: EnvFn | None = None,
    output_dir: str | None = None,
    verbose: bool = True,
    resume: bool = False,
    callback=None,
):
    """Train with DDPG; see the module docstring."""
    validate(cfg)
    inner = _as_td3(cfg)

    def make_agent(obs_dim, space):
        return td3.TD3Agent(obs_dim, space, inner, n_critics=1)

    return train_off_policy("ddpg", cfg, make_agent, env_fn, output_dir, verbose, resume, callback)
