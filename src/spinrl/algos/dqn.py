"""Deep Q-Network (DQN): Q-learning with a neural network, a replay memory and a target network.

DQN learns Q*(s, a) by regression on the Bellman optimality equation (docs eq. 1.8):

    y = G + gamma^m (1 - terminated) Q_targ(s', a*),   loss = Huber(Q(s, a) - y)

with a* = argmax_a Q(s', a) chosen by the online network and valued by the target network
(Double DQN, van Hasselt et al. 2016; plain DQN takes max_a Q_targ(s', a)). G and m are the
n-step return and its length (m = 1: G = r), stopping at a termination and bootstrapping from
the real final observation at a time limit. It acts epsilon-greedily, with epsilon falling
linearly from eps_start to eps_end over the first exploration_fraction of the run, and is
evaluated greedily: a(s) = argmax_a Q(s, a). The target network follows the online one every
target_update_every env steps (a copy, or a Polyak average with polyak > 0). Options: the
dueling head, n-step returns, prioritized replay (proportional, with annealed importance
weights), the squared error instead of Huber.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from spinrl import offpolicy
from spinrl.encoders import as_obs_tensor, is_image_space, make_encoder
from spinrl.envs import EnvFn, frame_stack_size
from spinrl.errors import ConfigError, EnvError
from spinrl.offpolicy import (
    OffPolicyLoop,
    _check_finite,
    check_fits_in_memory,
    polyak_update,
    train_off_policy,
)
from spinrl.optim import FlatAdam, FlatRMSprop, flatten_
from spinrl.policies import DuelingQNetwork, QNetwork
from spinrl.prioritized import annealed_beta
from spinrl.qreplay import NStepReplay
from spinrl.run import EnvLoop, Result

ACTION_SPACES = (gym.spaces.Discrete,)


@dataclass
class Config(offpolicy.OffPolicyConfig):
    """Hyperparameters of DQN. The defaults are rl-baselines3-zoo's DQN settings for
    CartPole-v1 (hyperparams/dqn.yml: 50k steps, lr 2.3e-3, batch 64, buffer 100k, learning
    starts 1000, target update every 10 steps, train_freq 256 with 128 gradient steps,
    epsilon to 0.04 over 16% of the run, [256, 256] ReLU, Huber loss, gradient norm 10),
    with deliberate differences: four of Rainbow's parts are on, Double DQN, the dueling
    head, proportional prioritized replay and 3-step returns (SB3's DQN has none of them;
    ``double=False, dueling=False, prioritized=False, n_step=1`` is SB3's), and the test
    phase after every epoch is greedy, as Spinning Up's. Why: over seeds 0-4 at 50k steps
    the zoo's settings with Double DQN alone end with greedy test returns of 102, 500, 105,
    500, 500 (the mean of the last three epochs 327); with the four parts all five end at
    500 (last three epochs 445), at about 1.8 times the wall time (docs: the DQN page); over
    seeds 5-9 two of five end lower, at 159 and 178 (benchmarks/results/tuned.md).
    Stable-Baselines3 trains at rollout ends of train_freq steps after learning_starts (the
    first at step 1024 here); spinrl's loop starts counting update_every at update_after
    (the first phase at step 1255), the only difference in schedule. ``spinrl train dqn`` on
    Acrobot-v1, MountainCar-v0 or LunarLander-v3 applies the zoo's own settings instead,
    exactly (spinrl.presets.TUNED: plain DQN, the zoo's update steps); on CartPole-v1 it
    keeps these defaults, which learn faster there than the zoo's plain DQN (over 10 seeds
    their training episodes averaged 475 or more in some epoch in 9 runs, the zoo's in 3;
    the final greedy policies tie, 500 in 8 of 10; --preset tuned applies the zoo's); the
    Python API and --preset none keep these defaults everywhere. The MinAtar ids (and
    --preset minatar) get the MinAtar paper's DQN instead (spinrl.presets.MINATAR_DQN, which
    cites Young & Tian 2019 and its code and says where spinrl differs): centered RMSprop,
    the epsilon schedule of exploration_steps, plain DQN without gradient clipping.

    q_lr: learning rate of the Q-network's optimiser.
    optimizer: adam (torch's Adam) or rmsprop (torch's centered RMSprop, as the RMSProp of
        Nature DQN and of the MinAtar paper), with rmsprop_alpha (the squared gradients'
        averaging constant) and rmsprop_eps (added to the root, torch's eps).
    gradient_steps: gradient steps per update phase; None takes one per env step of the
        phase (Spinning Up's rule).
    target_update_every: env steps between target-network updates (C); the online network
        only moves in update phases, so the updates due since the last phase are applied at
        the start of the next one.
    polyak: target update targ <- polyak targ + (1 - polyak) net; 0 copies the network
        (Nature DQN's hard update).
    eps_start: exploration rate epsilon at the first step (and during start_steps, which
        act uniformly at random whatever epsilon says).
    eps_end: epsilon after the decay, kept to the end.
    exploration_fraction: the fraction of the run over which epsilon falls linearly.
    exploration_steps: when given, epsilon falls over this many env steps counted from
        start_steps instead (the MinAtar paper's schedule: 100k frames after replay start).
    double: Double DQN's target (the online network picks a*, the target network values it).
    dueling: the dueling head, Q = V + A - mean(A).
    n_step: length of the n-step returns (1: one-step Q-learning).
    prioritized: proportional prioritized replay (Schaul et al. 2016).
    per_alpha: priority exponent alpha of prioritized replay (0 is uniform).
    per_beta: importance-sampling exponent beta at the start; it grows linearly to 1 at the
        end of the run.
    per_eps: added to |TD error| so that no transition's priority is 0.
    loss: huber (Huber loss with delta 1, Nature DQN's clipped error) or mse.
    max_grad_norm: clip the gradient's global L2 norm to this; None: no clipping.
    """

    env: str = "CartPole-v1"
    steps_per_epoch: int = 5000
    epochs: int = 10
    replay_size: int = 100_000
    batch_size: int = 64
    start_steps: int = 1000
    update_after: int = 1000
    update_every: int = 256
    gradient_steps: int | None = 128
    q_lr: float = 2.3e-3
    optimizer: str = "adam"
    rmsprop_alpha: float = 0.95
    rmsprop_eps: float = 0.01
    target_update_every: int = 10
    polyak: float = 0.0
    eps_start: float = 1.0
    eps_end: float = 0.04
    exploration_fraction: float = 0.16
    exploration_steps: int | None = None
    double: bool = True
    dueling: bool = True
    n_step: int = 3
    prioritized: bool = True
    per_alpha: float = 0.6
    per_beta: float = 0.4
    per_eps: float = 1e-6
    loss: str = "huber"
    max_grad_norm: float | None = 10.0
    hid: tuple[int, ...] = (256, 256)
    act: str = "relu"


def validate(cfg: Config) -> None:
    offpolicy.validate(cfg)
    if not (cfg.q_lr > 0 and math.isfinite(cfg.q_lr)):
        raise ConfigError(f"q_lr must be positive, got {cfg.q_lr}")
    if not 0.0 <= cfg.eps_end <= cfg.eps_start <= 1.0:
        raise ConfigError(
            f"need 0 <= eps_end <= eps_start <= 1, got {cfg.eps_end}, {cfg.eps_start}"
        )
    if not 0.0 < cfg.exploration_fraction <= 1.0:
        raise ConfigError(
            f"exploration_fraction must lie in (0, 1], got {cfg.exploration_fraction}"
        )
    if cfg.exploration_steps is not None and cfg.exploration_steps < 1:
        raise ConfigError(f"exploration_steps must be >= 1, got {cfg.exploration_steps}")
    if cfg.optimizer not in ("adam", "rmsprop"):
        raise ConfigError(f"optimizer must be adam or rmsprop, got {cfg.optimizer!r}")
    if not (0.0 <= cfg.rmsprop_alpha < 1.0 and cfg.rmsprop_eps > 0):
        raise ConfigError("need rmsprop_alpha in [0, 1) and rmsprop_eps > 0")
    gradient_steps = 1 if cfg.gradient_steps is None else cfg.gradient_steps  # None: per step
    if min(cfg.n_step, cfg.target_update_every, gradient_steps) < 1:
        raise ConfigError("n_step, target_update_every and gradient_steps must be >= 1")
    if cfg.per_alpha < 0 or not 0.0 <= cfg.per_beta <= 1.0 or cfg.per_eps <= 0:
        raise ConfigError("need per_alpha >= 0, per_beta in [0, 1] and per_eps > 0")
    if cfg.loss not in ("huber", "mse"):
        raise ConfigError(f"loss must be huber or mse, got {cfg.loss!r}")
    if cfg.max_grad_norm is not None and not cfg.max_grad_norm > 0:
        raise ConfigError(f"max_grad_norm must be positive or None, got {cfg.max_grad_norm}")


def q_learning_target(returns, discounts, terminated, q_next_target, q_next_online=None):
    """y = G + discount (1 - terminated) Q_targ(s', a*): a* = argmax_a Q(s', a) of the
    online network's values ``q_next_online`` (Double DQN), or of ``q_next_target`` itself
    when those are not given (DQN: max_a Q_targ(s', a)). q_next_*: [B, n_actions]."""
    chooser = q_next_target if q_next_online is None else q_next_online
    best = chooser.argmax(-1, keepdim=True)
    value = q_next_target.gather(-1, best).squeeze(-1)
    return returns + discounts * (1.0 - terminated) * value


def linear_epsilon(steps: int, budget: int, cfg: Config) -> float:
    """eps_start at step 0, falling linearly to eps_end at exploration_fraction * budget;
    with exploration_steps, eps_start at start_steps and eps_end exploration_steps later."""
    if cfg.exploration_steps is None:
        progress = steps / (cfg.exploration_fraction * budget)
    else:
        progress = max(steps - cfg.start_steps, 0) / cfg.exploration_steps
    return cfg.eps_start + min(progress, 1.0) * (cfg.eps_end - cfg.eps_start)


class DQNAgent:
    LOGGED = ("QVals", "LossQ", "Epsilon")
    AVERAGE_ONLY = frozenset({"LossQ", "Epsilon"})

    def __init__(self, obs_space: gym.Space | int, act_space: gym.Space, cfg: Config) -> None:
        self.cfg = cfg
        # images, Dicts: the Q-network reads them through an encoder (its target a copy)
        self.q = (DuelingQNetwork if cfg.dueling else QNetwork)(
            obs_space, act_space, cfg.hid, cfg.act, encoder=make_encoder(obs_space)
        )
        self.q_target = copy.deepcopy(self.q).requires_grad_(False)
        self.actor = self.q  # the policy is the Q-network read greedily
        self.n_actions = int(act_space.n)
        # Adam or RMSprop as torch's, over one flat buffer per network (spinrl.optim).
        if cfg.optimizer == "adam":
            self.q_opt = FlatAdam([{"params": self.q.parameters(), "lr": cfg.q_lr}])
        else:
            self.q_opt = FlatRMSprop(
                self.q.parameters(), cfg.q_lr, cfg.rmsprop_alpha, cfg.rmsprop_eps
            )
        self.q_target_flat, _ = flatten_(self.q_target.parameters())
        self.target_updates = 0  # multiples of target_update_every env steps applied

    def deterministic(self, obs: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return self.q.deterministic(as_obs_tensor(obs)).numpy()

    def explore(self, obs: np.ndarray, rng: np.random.Generator, epsilon: float) -> np.ndarray:
        """Epsilon-greedy for all N envs at once: a uniform action with probability epsilon."""
        uniform = rng.random(len(obs)) < epsilon
        actions = rng.integers(self.n_actions, size=len(obs))
        if uniform.all():
            return actions
        return np.where(uniform, actions, self.deterministic(obs))

    def update_target(self, times: int) -> None:
        """``times`` target updates with the online network as it is now."""
        with torch.no_grad():
            if self.cfg.polyak == 0.0:
                self.q_target_flat.copy_(self.q_opt.flat)
            else:
                polyak_update([self.q_target_flat], [self.q_opt.flat], self.cfg.polyak**times)
        self.target_updates += times

    def target(self, b: dict) -> torch.Tensor:
        """The regression target y of the minibatch (Double DQN's or the max target)."""
        q_next_online = self.q(b["next_obs"]) if self.cfg.double else None
        return q_learning_target(
            b["returns"], b["discounts"], b["terminated"], self.q_target(b["next_obs"]),
            q_next_online,
        )  # fmt: skip

    def update(self, b: dict) -> tuple[dict, np.ndarray]:
        """One gradient step on the minibatch; returns the stats and |TD error| per sample."""
        cfg = self.cfg
        q = self.q(b["obs"]).gather(-1, b["actions"][:, None]).squeeze(-1)
        with torch.no_grad():
            y = self.target(b)
        td = q - y
        if cfg.loss == "huber":
            per_sample = nn.functional.huber_loss(q, y, reduction="none", delta=1.0)
        else:
            per_sample = td.pow(2)
        loss = (b["weights"] * per_sample).mean()  # importance weights: all 1 without PER
        self.q_opt.zero_grad()
        loss.backward()
        if cfg.max_grad_norm is not None:
            self.q_opt.clip_grad_norm_(cfg.max_grad_norm)
        self.q_opt.step()
        qvals, loss_q = torch.stack([q.detach().mean(), loss.detach()]).tolist()
        return {"QVals": qvals, "LossQ": loss_q}, td.detach().abs().numpy()

    def state_dict(self) -> dict:
        return {
            "q": self.q.state_dict(),
            "q_target": self.q_target.state_dict(),
            "q_opt": self.q_opt.state_dict(),
            "target_updates": self.target_updates,
        }

    def load_state_dict(self, state: dict) -> None:
        for name in ("q", "q_target", "q_opt"):
            getattr(self, name).load_state_dict(state[name])
        self.target_updates = int(state["target_updates"])


class DQNLoop(OffPolicyLoop):
    """The shared off-policy loop with DQN's acting, replay and update phase."""

    ACTION_SPACES = ACTION_SPACES

    def check_action_space(self, space: gym.Space) -> None:
        if isinstance(space, gym.spaces.Box):
            raise EnvError(
                f"{self.lifecycle.algo} needs Discrete actions and this env's are Box; "
                "use sac, td3 or ddpg for continuous actions"
            )
        EnvLoop.check_action_space(self, space)

    @property
    def budget(self) -> int:
        return self.lifecycle.epochs * self.cfg.steps_per_epoch

    def epsilon(self) -> float:
        if self.steps < self.cfg.start_steps:
            return 1.0
        return linear_epsilon(self.steps, self.budget, self.cfg)

    def make_replay(self, size: int) -> NStepReplay:
        """Observations stored in their own dtype (uint8 images stay uint8); images go to
        frame rings, every frame once (the env's stack of k frames rebuilt by index),
        vectors and Dicts are stored as obs and next obs."""
        cfg, space = self.cfg, self.obs_space
        dtype = np.float32 if space.dtype.kind == "f" else space.dtype
        shape = tuple(space.shape)
        stack = frame_stack_size(self.envs) if is_image_space(space) else None
        needed = NStepReplay.bytes_needed(shape, size, cfg.num_envs, dtype, stack, cfg.prioritized)
        check_fits_in_memory(size, needed)
        return NStepReplay(
            shape, size, cfg.num_envs, cfg.n_step, cfg.gamma,
            cfg.prioritized, cfg.per_alpha, cfg.per_eps, dtype, stack,
        )  # fmt: skip

    def act(self, obs: np.ndarray) -> np.ndarray:
        return self.agent.explore(obs, self.rng, self.epsilon())

    def store(self, obs, actions, rewards, next_obs, terminated, truncated) -> None:
        self.replay.store(obs, actions, rewards, next_obs, terminated, truncated)

    def update_phase(self, epoch: int, env_steps: int) -> None:
        cfg, agent, replay = self.cfg, self.agent, self.replay
        due = self.steps // cfg.target_update_every - agent.target_updates
        if due > 0:
            agent.update_target(due)
        beta = annealed_beta(cfg.per_beta, self.steps / self.budget)
        for _ in range(cfg.gradient_steps or env_steps):
            batch, idx = replay.sample(cfg.batch_size, self.rng, beta)
            stats, td_abs = agent.update(batch)
            _check_finite(stats, epoch)
            if cfg.prioritized:
                replay.update_priorities(idx, td_abs)
            self.lifecycle.logger.store(**stats)

    def end_epoch(self, epoch: int) -> dict:
        self.lifecycle.logger.store(Epsilon=self.epsilon())
        return super().end_epoch(epoch)


def train(
    cfg: Config,
    env_fn: EnvFn | None = None,
    output_dir: str | None = None,
    verbose: bool = True,
    resume: bool = False,
    callback=None,
) -> Result:
    """Train with DQN; see the module docstring."""
    validate(cfg)

    def make_agent(obs_space, act_space):
        return DQNAgent(obs_space, act_space, cfg)

    args = (env_fn, output_dir, verbose, resume, callback)
    return train_off_policy("dqn", cfg, make_agent, *args, loop_class=DQNLoop)
