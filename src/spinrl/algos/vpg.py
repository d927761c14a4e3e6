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

from dataclasses import dataclass

from spinrl import onpolicy
from spinrl.algos import pg
from spinrl.envs import EnvFn
from spinrl.run import Result, Variant, fixed_fields

ACTION_SPACES = pg.ACTION_SPACES


@dataclass
class Config(onpolicy.OnPolicyConfig):
    """Hyperparameters of VPG; the defaults are Spinning Up's except pi_lr.

    spinrl's pi_lr is 1e-2, Spinning Up's 3e-4 (``--preset spinningup``). With one gradient
    step per 4000-step epoch, 3e-4 leaves CartPole-v1 at an average return of about 50 after
    50 epochs (4 of 4 seeds); 1e-2 ends at 476-500 (benchmarks/stability.py).

    pi_lr: policy learning rate (Adam).
    vf_lr: value-function learning rate (Adam).
    train_v_iters: value-function gradient steps per epoch.
    """

    pi_lr: float = 1e-2
    vf_lr: float = 1e-3
    train_v_iters: int = 80


FIXED = dict(phi="gae", normalize_advantages=True)  # what makes pg VPG


def validate(cfg: Config) -> None:
    pg.validate(fixed_fields(pg.Config, cfg, FIXED))


def train(
    cfg: Config,
    env_fn: EnvFn | None = None,
    output_dir: str | None = None,
    verbose: bool = True,
    resume: bool = False,
    callback=None,
) -> Result:
    """Train with VPG: the simplest policy gradient with normalised GAE advantages."""
    base = fixed_fields(pg.Config, cfg, FIXED)
    return pg.train(base, env_fn, output_dir, verbose, resume, callback, Variant("vpg", cfg))
