"""Soft Actor-Critic (SAC): off-policy maximum-entropy RL with a squashed Gaussian policy.

SAC maximises return plus alpha times the policy's entropy. Its critics learn the soft
Q-function by regression on

    y = r + gamma (1 - terminated) (min_k Q_targ,k(s', a') - alpha log pi(a'|s')),  a' ~ pi(.|s')

and the policy minimises E[alpha log pi(a|s) - min_k Q_k(s, a)] with reparameterised
samples a = center + scale * tanh(mu + sigma * eps) (docs eq. 5.3 for the log-probability).
With automatic tuning (the default) alpha follows the gradient of
E[-alpha (log pi(a|s) + target_entropy)], target_entropy = -dim(A). Evaluation uses the
action at the mean. Time-limit truncations bootstrap: only ``terminated`` stops the sum.

With ``sde=True`` the policy explores with gSDE (spinrl.sde): noise that is a function of the
state, held for many steps, as Stable-Baselines3's ``use_sde``.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch

from spinrl import offpolicy
from spinrl.encoders import as_obs_tensor, features_dim, make_encoder
from spinrl.envs import EnvFn
from spinrl.errors import ConfigError
from spinrl.offpolicy import polyak_update, train_off_policy
from spinrl.optim import FlatAdam, flatten_
from spinrl.policies import QEnsemble, SquashedGaussianActor
from spinrl.sde import StateDependentActor, check_sample_freq

ACTION_SPACES = offpolicy.ACTION_SPACES


@dataclass
class Config(offpolicy.OffPolicyConfig):
    """Hyperparameters of SAC; the defaults are Spinning Up's, except that the temperature
    alpha is tuned automatically (``--preset spinningup`` fixes it at 0.2, as Spinning Up).

    lr: Adam learning rate of the policy, the critics and alpha.
    alpha: a fixed entropy temperature; None tunes it automatically.
    alpha_init: the starting temperature when alpha is tuned.
    target_entropy: the entropy alpha's tuning aims at; None means -dim(A).
    sde: explore with gSDE (spinrl.sde), SB3's ``use_sde``; start_steps stay uniform random.
    sde_sample_freq: with sde, draw new exploration matrices every this many vector steps
        as well as before each collection between update phases; -1: only then (SB3's).
    log_std_init: with sde, the starting log sigma of every entry of the noise matrix.
    """

    lr: float = 1e-3
    alpha: float | None = None
    alpha_init: float = 1.0
    target_entropy: float | None = None
    sde: bool = False
    sde_sample_freq: int = -1
    log_std_init: float = -3.0


def validate(cfg: Config) -> None:
    offpolicy.validate(cfg)
    if not (cfg.lr > 0 and math.isfinite(cfg.lr)):
        raise ConfigError(f"lr must be positive, got {cfg.lr}")
    if (cfg.alpha is not None and cfg.alpha < 0) or cfg.alpha_init <= 0:
        raise ConfigError("alpha must be >= 0 and alpha_init > 0")
    check_sample_freq(cfg.sde_sample_freq)
    if not math.isfinite(cfg.log_std_init):
        raise ConfigError(f"log_std_init must be finite, got {cfg.log_std_init}")


def soft_q_target(rewards, q_next_min, logp_next, alpha, terminated, gamma) -> torch.Tensor:
    """y = r + gamma (1 - terminated) (min_k Q_targ,k(s', a') - alpha log pi(a'|s'))."""
    return rewards + gamma * (1.0 - terminated) * (q_next_min - alpha * logp_next)


class SACAgent:
    LOGGED = ("Q1Vals", "LogPi", "LossPi", "LossQ", "Alpha")
    AVERAGE_ONLY = frozenset({"LossPi", "LossQ", "Alpha"})

    def __init__(self, obs_space, act_space, cfg: Config) -> None:
        self.cfg = cfg
        act_dim = act_space.shape[0]
        # images, Dicts: the actor and the critics each read through an encoder of their own
        encoder, q_encoder = make_encoder(obs_space), make_encoder(obs_space)
        width = features_dim(obs_space, encoder)
        if cfg.sde:
            self.actor = StateDependentActor(
                width, act_space, cfg.hid, cfg.act, encoder, log_std_init=cfg.log_std_init
            )
        else:
            self.actor = SquashedGaussianActor(width, act_space, cfg.hid, cfg.act, encoder)
        # both critics, one pass (sharing one encoder)
        self.q = QEnsemble(width, act_dim, cfg.hid, cfg.act, n=2, encoder=q_encoder)
        self.q_target = copy.deepcopy(self.q).requires_grad_(False)
        # Adam as torch's, over one flat buffer per network (spinrl.optim).
        self.pi_opt = FlatAdam([{"params": self.actor.parameters(), "lr": cfg.lr}])
        self.q_opt = FlatAdam([{"params": self.q.parameters(), "lr": cfg.lr}])
        self.q_target_flat, _ = flatten_(self.q_target.parameters())
        self.auto_alpha = cfg.alpha is None
        start = cfg.alpha_init if self.auto_alpha else max(cfg.alpha, 1e-12)
        self.log_alpha = torch.tensor(math.log(start), requires_grad=self.auto_alpha)
        self.alpha_opt = (
            FlatAdam([{"params": [self.log_alpha], "lr": cfg.lr}]) if self.auto_alpha else None
        )
        self.target_entropy = float(-act_dim if cfg.target_entropy is None else cfg.target_entropy)

    @property
    def alpha(self) -> torch.Tensor:
        return self.log_alpha.detach().exp() if self.auto_alpha else torch.tensor(self.cfg.alpha)

    def explore(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        with torch.inference_mode():
            return self.actor.act(as_obs_tensor(obs)).numpy()

    def deterministic(self, obs: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return self.actor.deterministic(as_obs_tensor(obs)).numpy()

    def update(self, b: dict) -> dict:
        alpha = self.alpha
        # gSDE: one noise matrix for this update's two samples (SB3 draws one per step)
        theta = {"theta": self.actor.draw_theta()} if self.cfg.sde else {}
        # Critics: regress both on the soft target (one batched pass for both).
        with torch.no_grad():
            a_next, logp_next = self.actor.sample(b["next_obs"], **theta)
            q_next = self.q_target(b["next_obs"], a_next).min(0).values
            y = soft_q_target(
                b["rewards"], q_next, logp_next, alpha, b["terminated"], self.cfg.gamma
            )
        q = self.q(b["obs"], b["actions"])
        loss_q = (q - y).pow(2).mean(1).sum()
        self.q_opt.zero_grad()
        loss_q.backward()
        self.q_opt.step()
        # Policy: minimise alpha log pi - min Q through reparameterised actions; the critics'
        # own gradients are not needed here.
        self.q.requires_grad_(False)
        a, logp = self.actor.sample(b["obs"], **theta)
        loss_pi = (alpha * logp - self.q(b["obs"], a).min(0).values).mean()
        self.pi_opt.zero_grad()
        loss_pi.backward()
        self.pi_opt.step()
        self.q.requires_grad_(True)
        # Temperature: raise alpha when the entropy is below target, lower it when above. The
        # loss -(log_alpha (log pi + target_entropy)).mean() has the gradient
        # -(mean log pi + target_entropy) in log_alpha: written straight into the gradient,
        # without an autograd graph for one scalar.
        if self.auto_alpha:
            with torch.no_grad():
                torch.neg(logp.mean() + self.target_entropy, out=self.alpha_opt.flat_grad[0])
            self.alpha_opt.step()
        polyak_update([self.q_target_flat], [self.q_opt.flat], self.cfg.polyak)
        values = torch.stack([q[0].mean(), logp.mean(), loss_pi, loss_q, alpha]).tolist()
        return dict(zip(self.LOGGED, values, strict=True))

    def state_dict(self) -> dict:
        return {
            "actor": self.actor.state_dict(),
            "q": self.q.state_dict(),
            "q_target": self.q_target.state_dict(),
            "pi_opt": self.pi_opt.state_dict(),
            "q_opt": self.q_opt.state_dict(),
            "log_alpha": self.log_alpha.detach().clone(),
            "alpha_opt": self.alpha_opt.state_dict() if self.alpha_opt else None,
            # gSDE: the exploration matrices in use, which a resumed run keeps acting with
            "explore_theta": getattr(self.actor, "explore_theta", None),
        }

    def load_state_dict(self, state: dict) -> None:
        self.actor.load_state_dict(state["actor"])
        self.q.load_state_dict(state["q"])
        self.q_target.load_state_dict(state["q_target"])
        self.pi_opt.load_state_dict(state["pi_opt"])
        self.q_opt.load_state_dict(state["q_opt"])
        with torch.no_grad():
            self.log_alpha.copy_(state["log_alpha"])
        if self.alpha_opt is not None:
            self.alpha_opt.load_state_dict(state["alpha_opt"])
        if self.cfg.sde:
            self.actor.explore_theta = state["explore_theta"].clone()


def train(
    cfg: Config,
    env_fn: EnvFn | None = None,
    output_dir: str | None = None,
    verbose: bool = True,
    resume: bool = False,
    callback=None,
):
    """Train with SAC; see the module docstring."""
    validate(cfg)
    return train_off_policy(
        "sac",
        cfg,
        lambda obs_space, act_space: SACAgent(obs_space, act_space, cfg),
        env_fn,
        output_dir,
        verbose,
        resume,
        callback,
    )
