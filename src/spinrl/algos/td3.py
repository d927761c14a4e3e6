"""Twin Delayed DDPG (TD3): DDPG with three fixes for Q-function overestimation.

1. Clipped double Q: two critics, and the target takes the smaller estimate
       y = r + gamma (1 - terminated) min_k Q_targ,k(s', a'(s'))
2. Target policy smoothing: a'(s') = clip(mu_targ(s') + clip(eps, -c, c), low, high),
   eps ~ N(0, target_noise^2).
3. Delayed policy updates: the actor and the target networks move once every policy_delay
   critic updates; the actor maximises Q_1(s, mu(s)).

Exploration adds Gaussian noise of scale act_noise to mu(s), or with ``noise_type="ou"``
Ornstein-Uhlenbeck noise, a mean-reverting random walk whose pushes last many steps (SB3's
OrnsteinUhlenbeckActionNoise: x <- x - 0.15 x dt + act_noise sqrt(dt) eps, dt = 0.01, back to
0 when an episode ends). All three noise scales are in the action's own units, as Spinning
Up's (on Pendulum-v1, whose torque is in [-2, 2], 0.1 is 0.1 N m). Time-limit truncations
bootstrap: only ``terminated`` stops the sum.
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
from spinrl.policies import DeterministicActor, QEnsemble
from spinrl.run import Result, Variant

ACTION_SPACES = offpolicy.ACTION_SPACES
NOISE_TYPES = ("gaussian", "ou")
OU_THETA, OU_DT = 0.15, 1e-2  # SB3's OrnsteinUhlenbeckActionNoise defaults


@dataclass
class Config(offpolicy.OffPolicyConfig):
    """Hyperparameters of TD3; the defaults are Spinning Up's.

    pi_lr: Adam learning rate of the policy.
    q_lr: Adam learning rate of the critics.
    act_noise: std of the Gaussian exploration noise, in action units (as Spinning Up); with
        noise_type "ou", the Ornstein-Uhlenbeck process's sigma.
    noise_type: "gaussian" (fresh noise each step) or "ou" (Ornstein-Uhlenbeck, SB3's, with
        its theta 0.15 and dt 0.01; the warm-up's uniform actions get none, and the process
        starts at 0 when the policy starts acting, where SB3's has run through the warm-up).
    target_noise: std of the target policy smoothing noise, in action units.
    noise_clip: bound of the smoothing noise, in action units.
    policy_delay: critic updates per actor and target update.
    n_critics: critics whose smallest estimate makes the target: 2 is clipped double Q, 1 is
        DDPG's single critic.
    """

    pi_lr: float = 1e-3
    q_lr: float = 1e-3
    act_noise: float = 0.1
    noise_type: str = "gaussian"
    target_noise: float = 0.2
    noise_clip: float = 0.5
    policy_delay: int = 2
    n_critics: int = 2


def validate(cfg) -> None:
    offpolicy.validate(cfg)
    if not (cfg.pi_lr > 0 and cfg.q_lr > 0 and math.isfinite(cfg.pi_lr + cfg.q_lr)):
        raise ConfigError(f"learning rates must be positive, got {cfg.pi_lr} and {cfg.q_lr}")
    if cfg.act_noise < 0 or cfg.target_noise < 0 or cfg.noise_clip < 0:
        raise ConfigError("noise scales must be >= 0")
    if cfg.noise_type not in NOISE_TYPES:
        raise ConfigError(
            f"noise_type must be one of {', '.join(NOISE_TYPES)}, got {cfg.noise_type!r}"
        )
    if cfg.policy_delay < 1 or cfg.n_critics < 1:
        raise ConfigError("policy_delay and n_critics must be >= 1")


def q_target(rewards, q_next_min, terminated, gamma) -> torch.Tensor:
    """y = r + gamma (1 - terminated) min_k Q_targ,k(s', a')."""
    return rewards + gamma * (1.0 - terminated) * q_next_min


class TD3Agent:
    """TD3; with n_critics=1, target_noise=0 and policy_delay=1 it is exactly DDPG."""

    LOGGED = ("Q1Vals", "LossPi", "LossQ")
    AVERAGE_ONLY = frozenset({"LossPi", "LossQ"})

    def __init__(self, obs_space, act_space, cfg) -> None:
        self.cfg = cfg
        # images, Dicts: the actor and the critics each read through an encoder of their own
        encoder, q_encoder = make_encoder(obs_space), make_encoder(obs_space)
        width, act_dim = features_dim(obs_space, encoder), act_space.shape[0]
        self.actor = DeterministicActor(width, act_space, cfg.hid, cfg.act, encoder=encoder)
        self.actor_target = copy.deepcopy(self.actor).requires_grad_(False)
        self.q = QEnsemble(width, act_dim, cfg.hid, cfg.act, n=cfg.n_critics, encoder=q_encoder)
        self.q_target = copy.deepcopy(self.q).requires_grad_(False)
        # Adam as torch's, over one flat buffer per network (spinrl.optim).
        self.pi_opt = FlatAdam([{"params": self.actor.parameters(), "lr": cfg.pi_lr}])
        self.q_opt = FlatAdam([{"params": self.q.parameters(), "lr": cfg.q_lr}])
        self.low = torch.as_tensor(act_space.low, dtype=torch.float32)
        self.high = torch.as_tensor(act_space.high, dtype=torch.float32)
        self.low_np, self.high_np = act_space.low, act_space.high
        self.sources = [self.pi_opt.flat, self.q_opt.flat]
        self.targets = [flatten_(net.parameters())[0] for net in (self.actor_target, self.q_target)]
        self.updates = 0
        self.ou: np.ndarray | None = None  # the Ornstein-Uhlenbeck state, one row per env

    def explore(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        mu = self.deterministic(obs)
        eps = rng.standard_normal(mu.shape)
        if self.cfg.noise_type == "ou":
            x = self.ou if self.ou is not None else np.zeros(mu.shape)
            self.ou = x - OU_THETA * x * OU_DT + self.cfg.act_noise * math.sqrt(OU_DT) * eps
            noise = self.ou.astype(np.float32)
        else:
            noise = eps.astype(np.float32) * self.cfg.act_noise
        return np.clip(mu + noise, self.low_np, self.high_np)

    def end_episodes(self, ended: np.ndarray) -> None:
        """The Ornstein-Uhlenbeck noise of the envs whose episode ended starts again at 0."""
        if self.ou is not None:
            self.ou[ended] = 0.0

    def deterministic(self, obs: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return self.actor(as_obs_tensor(obs)).numpy()

    def update(self, b: dict) -> dict:
        cfg = self.cfg
        with torch.no_grad():
            a_next = self.actor_target(b["next_obs"])
            if cfg.target_noise > 0:  # target policy smoothing
                eps = torch.randn_like(a_next).mul_(cfg.target_noise)
                eps.clamp_(-cfg.noise_clip, cfg.noise_clip)
                a_next = eps.add_(a_next).clamp_(self.low, self.high)
            q_next = self.q_target(b["next_obs"], a_next).min(0).values  # clipped double Q
            y = q_target(b["rewards"], q_next, b["terminated"], cfg.gamma)
        q = self.q(b["obs"], b["actions"])
        loss_q = (q - y).pow(2).mean(1).sum()
        self.q_opt.zero_grad()
        loss_q.backward()
        self.q_opt.step()
        self.updates += 1
        if self.updates % cfg.policy_delay == 0:  # delayed policy and target updates
            self.q.requires_grad_(False)
            loss_pi = -self.q.member(b["obs"], self.actor(b["obs"])).mean()  # Q_1 only
            self.pi_opt.zero_grad()
            loss_pi.backward()
            self.pi_opt.step()
            self.q.requires_grad_(True)
            polyak_update(self.targets, self.sources, cfg.polyak)
            q1, lq, lp = torch.stack([q[0].mean(), loss_q, loss_pi]).tolist()
            return {"Q1Vals": q1, "LossQ": lq, "LossPi": lp}
        q1, lq = torch.stack([q[0].mean(), loss_q]).tolist()
        return {"Q1Vals": q1, "LossQ": lq}

    def state_dict(self) -> dict:
        return {
            "actor": self.actor.state_dict(),
            "actor_target": self.actor_target.state_dict(),
            "q": self.q.state_dict(),
            "q_target": self.q_target.state_dict(),
            "pi_opt": self.pi_opt.state_dict(),
            "q_opt": self.q_opt.state_dict(),
            "updates": self.updates,
            "ou": None if self.ou is None else torch.from_numpy(self.ou.copy()),
        }

    def load_state_dict(self, state: dict) -> None:
        for name in ("actor", "actor_target", "q", "q_target", "pi_opt", "q_opt"):
            getattr(self, name).load_state_dict(state[name])
        self.updates = int(state["updates"])
        ou = state.get("ou")
        self.ou = None if ou is None else ou.numpy().copy()


def train(
    cfg: Config,
    env_fn: EnvFn | None = None,
    output_dir: str | None = None,
    verbose: bool = True,
    resume: bool = False,
    callback=None,
    variant: Variant | None = None,
) -> Result:
    """Train with TD3; see the module docstring."""
    validate(cfg)

    def make_agent(obs_space, act_space):
        return TD3Agent(obs_space, act_space, cfg)

    args = (env_fn, output_dir, verbose, resume, callback, variant)
    return train_off_policy("td3", cfg, make_agent, *args)
