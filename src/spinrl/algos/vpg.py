"""Vanilla Policy Gradient (VPG), as in Spinning Up.

VPG is the simplest policy gradient (algos/pg.py) with Phi_t = the GAE-lambda advantage
computed from a learned value function, advantages normalised over the batch, and the value
function fitted by ``train_v_iters`` regression steps per epoch:

    for k = 0, 1, 2, ...
        collect D_k = {tau_i} by running pi_k in the environment
        compute rewards-to-go R_t and GAE advantages A_t from the current V_phi
        theta_{k+1} = theta_k + pi_lr * grad mean_t [log pi(a_t|s_t) A_t]   (one Adam step)
        phi_{k+1}  = argmin mean_t (V_phi(s_t) - R_t)^2                      (train_v_iters steps)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from spinrl.algos import pg
from spinrl.envs import EnvFn

ACTION_SPACES = pg.ACTION_SPACES


@dataclass
class Config:
    """Hyperparameters of VPG; the defaults are Spinning Up's except pi_lr.

    spinrl's pi_lr is 1e-2, Spinning Up's 3e-4 (``--preset spinningup``). With one gradient
    step per 4000-step epoch, 3e-4 leaves CartPole-v1 at an average return of about 50 after
    50 epochs (4 of 4 seeds); 1e-2 ends at 476-500 (benchmarks/stability.py).

    env: Gymnasium environment id (ignored when an env_fn is passed to train).
    seed: seeds Python, NumPy, PyTorch and the environments.
    num_envs: vector environments stepped together (N).
    vectorization: "sync" (same process) or "async" (one process per env).
    steps_per_epoch: env steps per epoch, summed over the N envs.
    epochs: policy updates; ignored when total_steps is set.
    total_steps: training budget in env steps; sets epochs = ceil(total_steps / steps_per_epoch).
    gamma: discount factor.
    lam: GAE lambda (0: one-step TD advantage, 1: reward-to-go minus V).
    pi_lr: policy learning rate (Adam).
    vf_lr: value-function learning rate (Adam).
    train_v_iters: value-function gradient steps per epoch.
    max_ep_len: time limit per episode; None keeps the environment's own.
    hid: hidden layer sizes of the policy and value networks.
    act: activation between hidden layers (tanh, relu, elu, gelu, silu).
    normalize_obs: normalise observations with running statistics (saved with the model).
    save_freq: write a checkpoint every save_freq epochs (and after the last).
    """

    env: str = "CartPole-v1"
    seed: int = 0
    num_envs: int = 1
    vectorization: str = "sync"
    steps_per_epoch: int = 4000
    epochs: int = 50
    total_steps: int | None = None
    gamma: float = 0.99
    lam: float = 0.97
    pi_lr: float = 1e-2
    vf_lr: float = 1e-3
    train_v_iters: int = 80
    max_ep_len: int | None = None
    hid: tuple[int, ...] = field(default=(64, 64))
    act: str = "tanh"
    normalize_obs: bool = False
    save_freq: int = 10


PRESETS = {"spinningup": dict(pi_lr=3e-4)}  # Spinning Up's VPG exactly


def _as_pg(cfg: Config) -> pg.Config:
    return pg.Config(**dataclasses.asdict(cfg), phi="gae", normalize_advantages=True)


def validate(cfg: Config) -> None:
    pg.validate(_as_pg(cfg))


def train(
    cfg: Config,
    env_fn: EnvFn | None = None,
    output_dir: str | None = None,
    verbose: bool = True,
    resume: bool = False,
    callback=None,
) -> pg.Result:
    """Train with VPG: the simplest policy gradient with normalised GAE advantages."""
    return pg.train(
        _as_pg(cfg), env_fn, output_dir, verbose, resume, callback, algo="vpg", saved_cfg=cfg
    )
