"""MBPO: model-based policy optimisation (Janner et al. 2019), SAC on real and model data.

    collect start_steps with uniformly random actions
    every env step:
        every model_train_freq env steps (from update_after on): refit the ensemble on all
            real transitions; from rollouts_per_step x model_train_freq real states, roll
            the policy out in the model for k steps (a random member per transition),
            stopping where an episode ends (the task's known rule, or the model's learned
            termination head); keep them in the model buffer (model_retain_epochs epochs'
            worth)
        act with the policy (SAC's exploration), store the real transition
        updates_per_step SAC updates per env step, each on a batch of real_ratio real and
            1 - real_ratio model transitions (SAC's own update, spinrl.algos.sac)
    k grows linearly with the epoch: from min_k at epoch a to max_k at epoch b, where
    k_schedule = (a, b, min_k, max_k).

Short branched rollouts from real states keep the model's compounding error small while
still multiplying the data SAC learns from. Rewards come from the model's reward head. A
model rollout ends by the task's known termination rule (``termination="known"``, the
default: none for Pendulum-v1 and HalfCheetah-v5, the docs' rules for InvertedPendulum-v5 and
Hopper-v5), by the ensemble's learned termination head (``"learned"``: a Bernoulli per member,
fit to the real ``terminated`` flags with the dynamics, sampled per transition from the
member that made it), or never (``"never"``, for a task that never terminates).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from spinrl import offpolicy
from spinrl.algos import sac
from spinrl.buffers import ReplayBuffer
from spinrl.encoders import flat_obs_dim
from spinrl.envs import EnvFn
from spinrl.errors import ConfigError
from spinrl.models import GaussianEnsemble
from spinrl.offpolicy import OffPolicyLoop, check_fits_in_memory, refuse_unflat, step_and_store
from spinrl.planning import known_termination, model_step
from spinrl.policies import ACTIVATIONS
from spinrl.run import Result, Run

ACTION_SPACES = offpolicy.ACTION_SPACES


@dataclass
class Config(sac.Config):
    """Hyperparameters of MBPO. The model and the data mixture are the MBPO paper's (7
    members of 4 x 200 swish (silu) units, refit every 250 env steps, 400 model rollouts per
    env step, 5% real data in each batch, one epoch of model data kept) and its SAC's (Adam
    3e-4, batches of 256, hidden 256 x 2, tuned temperature). For Pendulum-v1, spinrl takes
    MBRL-Lib's InvertedPendulum settings where the paper's are for MuJoCo: 10 SAC updates
    per env step (paper 20-40) and k = 1 throughout (k_schedule (1, 15, 1, 1); Hopper's is
    (20, 100, 1, 15)), and starts from 1,000 random steps (paper 5,000). spinrl uses every
    member for rollouts (the paper keeps the 5 best of 7, its "elites").

    update_every: env steps between update phases, each taking update_every x
        updates_per_step SAC updates (MBRL-Lib's sac_updates_every_steps).
    updates_per_step: SAC updates per env step (G in the paper).
    real_ratio: share of real transitions in each SAC batch; the rest come from the model.
    members: ensemble members.
    model_hid: hidden layer sizes of each member.
    model_act: activation of each member.
    model_lr: Adam learning rate of the ensemble.
    model_batch_size: transitions per ensemble gradient step.
    model_epochs: most passes over the data per refit.
    holdout: share of the data held out to stop each refit early.
    patience: refit passes without a better held-out loss before the refit stops.
    model_train_freq: env steps between refits (each followed by new model rollouts).
    rollouts_per_step: model rollouts per env step; each refit starts
        rollouts_per_step x model_train_freq of them.
    k_schedule: (a, b, min_k, max_k): the rollout length k rises linearly from min_k at
        epoch a to max_k at epoch b.
    model_retain_epochs: epochs of model rollouts the model buffer keeps.
    termination: "known" (the task's rule as its docs state it; none for Pendulum-v1 and
        HalfCheetah-v5), "learned" (the ensemble's termination head) or "never" (only time
        limits end episodes).
    """

    env: str = "Pendulum-v1"
    steps_per_epoch: int = 1000
    epochs: int = 10
    start_steps: int = 1000
    update_after: int = 1000
    update_every: int = 1
    batch_size: int = 256
    lr: float = 3e-4
    updates_per_step: int = 10
    real_ratio: float = 0.05
    members: int = 7
    model_hid: tuple[int, ...] = (200, 200, 200, 200)
    model_act: str = "silu"
    model_lr: float = 1e-3
    model_batch_size: int = 256
    model_epochs: int = 50
    holdout: float = 0.2
    patience: int = 5
    model_train_freq: int = 250
    rollouts_per_step: int = 400
    k_schedule: tuple[int, ...] = (1, 15, 1, 1)
    model_retain_epochs: int = 1
    termination: str = "known"


def validate(cfg: Config) -> None:
    sac.validate(cfg)
    if cfg.sde:
        raise ConfigError("sde (gSDE exploration) is for sac and ppo; mbpo does not take it")
    if not 0.0 <= cfg.real_ratio <= 1.0:
        raise ConfigError(f"real_ratio must lie in [0, 1], got {cfg.real_ratio}")
    if len(cfg.k_schedule) != 4 or cfg.k_schedule[2] < 1 or cfg.k_schedule[3] < cfg.k_schedule[2]:
        raise ConfigError(
            f"k_schedule must be (a, b, min_k, max_k) with 1 <= min_k <= max_k, got "
            f"{cfg.k_schedule}"
        )
    counts = ("updates_per_step", "members", "model_train_freq", "rollouts_per_step",
              "model_retain_epochs", "model_batch_size", "model_epochs", "patience")  # fmt: skip
    if any(getattr(cfg, name) < 1 for name in counts):
        raise ConfigError(f"{', '.join(counts)} must be >= 1")
    if not (cfg.model_lr > 0 and math.isfinite(cfg.model_lr)) or not 0 <= cfg.holdout < 1:
        raise ConfigError("model_lr must be positive and holdout in [0, 1)")
    if cfg.model_act not in ACTIVATIONS or any(h <= 0 for h in cfg.model_hid):
        raise ConfigError(f"model_act must be one of {', '.join(ACTIVATIONS)}, model_hid positive")
    if cfg.termination not in ("known", "learned", "never"):
        raise ConfigError(
            f"termination must be one of known, learned, never, got {cfg.termination!r}"
        )


def model_capacity(cfg: Config) -> int:
    """Transitions the model buffer holds: model_retain_epochs epochs of rollouts_per_step
    branched rollouts a step, each up to the largest k long."""
    return cfg.rollouts_per_step * cfg.steps_per_epoch * cfg.model_retain_epochs * cfg.k_schedule[3]


def check_model_buffer_fits(cfg: Config, obs_dim: int, act_dim: int) -> int:
    """The model buffer's capacity; ConfigError, in one line, if it would not fit in memory
    (the real replay is checked as SAC's)."""
    size = model_capacity(cfg)
    needed = ReplayBuffer.bytes_needed(obs_dim, act_dim, size)
    subject = f"a model buffer of {size:,} transitions"
    check_fits_in_memory(size, needed, subject, "rollouts_per_step or model_retain_epochs")
    return size


def check_memory(cfg: Config, env) -> None:
    """check_model_buffer_fits on ``env``: the command line asks it before it writes
    anything (the loop asks again, for the API)."""
    obs_dim, act_dim = flat_obs_dim(env.observation_space), int(np.prod(env.action_space.shape))
    check_model_buffer_fits(cfg, obs_dim, act_dim)


def rollout_length(epoch: int, k_schedule) -> int:
    """k at ``epoch``: linear from min_k at epoch a to max_k at epoch b, constant outside."""
    a, b, min_k, max_k = k_schedule
    share = 1.0 if b <= a else min(max((epoch - a) / (b - a), 0.0), 1.0)
    return int(min_k + share * (max_k - min_k))


@torch.no_grad()
def branched_rollouts(model, act, start_obs: torch.Tensor, k: int, termination_fn=None,
                      generator=None) -> dict[str, torch.Tensor]:  # fmt: skip
    """Roll ``act`` (observations -> actions) out in ``model`` for k steps from each of
    ``start_obs`` [B, obs_dim], each transition from a member drawn at random; a rollout
    stops after a transition that ``termination_fn`` (a known rule) or the model's own
    termination head (sampled, see spinrl.planning.model_step) ends. Every transition, as
    the replay buffer stores them (obs, actions, rewards, next_obs, terminated)."""
    obs, steps = start_obs, []
    for _ in range(k):
        if len(obs) == 0:
            break
        actions = act(obs)
        members = torch.randint(model.members, (len(obs),), generator=generator)
        next_obs, rewards, ended = model_step(model, obs, actions, members, generator)
        if ended is None:
            ended = torch.zeros(len(obs), dtype=torch.bool)
        if termination_fn is not None:
            ended = ended | termination_fn(next_obs)
        steps.append((obs, actions, rewards, next_obs, ended.float()))
        obs = next_obs[~ended]
    keys = ("obs", "actions", "rewards", "next_obs", "terminated")
    return {key: torch.cat([step[i] for step in steps]) for i, key in enumerate(keys)}


def mixed_batch(real: ReplayBuffer, imagined: ReplayBuffer, batch_size: int, real_ratio: float,
                rng: np.random.Generator) -> dict[str, torch.Tensor]:  # fmt: skip
    """round(real_ratio x batch_size) real transitions, the rest from the model (all real
    while the model buffer is empty)."""
    n_real = round(real_ratio * batch_size) if imagined.size else batch_size
    parts = [real.sample(n_real, rng)]
    if n_real < batch_size:
        parts.append(imagined.sample(batch_size - n_real, rng))
    return {key: torch.cat([part[key] for part in parts]) for key in parts[0]}


class MBPOLoop(OffPolicyLoop):
    """The loop in the module docstring; the env side, test phase and rows are the
    off-policy loop's, the agent is SAC's."""

    def __init__(self, run: Run, env_fn: EnvFn | None) -> None:
        cfg = run.cfg
        super().__init__(run, lambda obs_space, space: sac.SACAgent(obs_space, space, cfg), env_fn)
        try:
            refuse_unflat(self.obs_dim, self.obs_space, run.algo)
            self.termination_fn = known_termination(cfg.env) if cfg.termination == "known" else None
        except Exception:
            self.close()
            raise
        act_dim = self.action_space.shape[0]
        self.model = GaussianEnsemble(self.obs_dim, act_dim, cfg.members, cfg.model_hid,
                                      cfg.model_act, cfg.termination == "learned")  # fmt: skip
        size = check_model_buffer_fits(cfg, self.obs_dim, act_dim)
        self.imagined = ReplayBuffer(self.obs_dim, act_dim, size)
        self.generator = torch.Generator().manual_seed(int(self.rng.integers(2**62)))
        self.fitted_at, self.model_loss, self.k = -1, math.nan, 0

    def refit_and_imagine(self, epoch: int) -> None:
        """Refit the ensemble on the real data, then fill the model buffer with branched
        rollouts of length k from real states."""
        cfg, real, n = self.cfg, self.replay, self.replay.size
        self.model_loss = self.model.fit(
            real.obs[:n], real.actions[:n], real.next_obs[:n], real.rewards[:n],
            terminated=real.terminated[:n], epochs=cfg.model_epochs,
            batch_size=cfg.model_batch_size, lr=cfg.model_lr, holdout=cfg.holdout,
            patience=cfg.patience, rng=self.rng,
        )  # fmt: skip
        self.k = rollout_length(epoch, cfg.k_schedule)
        starts = real.sample(cfg.rollouts_per_step * cfg.model_train_freq, self.rng)["obs"]
        data = branched_rollouts(
            self.model, lambda obs: self.agent.actor.sample(obs)[0], starts, self.k,
            self.termination_fn, self.generator,
        )  # fmt: skip
        self.imagined.store(*(data[key].numpy() for key in data))
        self.fitted_at = self.steps

    def train_epoch(self, epoch: int) -> None:
        cfg, roll, agent, logger = self.cfg, self.rollout, self.agent, self.lifecycle.logger
        for _ in range(self.lifecycle.T):
            due = self.fitted_at < 0 or roll.steps - self.fitted_at >= cfg.model_train_freq
            if roll.steps >= cfg.update_after and due:
                self.refit_and_imagine(epoch)
            step_and_store(self.envs, roll, self.store, self.act(roll.obs))
            if self.fitted_at < 0:
                continue
            self.pending_updates += cfg.num_envs
            if self.pending_updates >= cfg.update_every:
                for _ in range(self.pending_updates * cfg.updates_per_step):
                    batch = mixed_batch(self.replay, self.imagined, cfg.batch_size,
                                        cfg.real_ratio, self.rng)  # fmt: skip
                    losses = agent.update(batch)
                    offpolicy._check_finite(losses, epoch)
                    logger.store(**losses)
                self.pending_updates = 0

    def extra_columns(self) -> dict:
        return {"LossModel": self.model_loss, "RolloutLen": self.k}

    def state_dict(self) -> dict:
        return {
            **super().state_dict(),
            "model": self.model.state_dict(),
            "imagined": self.imagined.state_dict(),
            "generator": self.generator.get_state(),
            "fitted_at": self.fitted_at,
            "model_loss": self.model_loss,
            "k": self.k,
        }

    def load_state_dict(self, state: dict) -> bool:
        self.model.load_state_dict(state["model"])
        self.imagined.load_state_dict(state["imagined"])
        self.generator.set_state(state["generator"])
        self.fitted_at, self.model_loss = int(state["fitted_at"]), float(state["model_loss"])
        self.k = int(state["k"])
        return super().load_state_dict(state)


def train(
    cfg: Config,
    env_fn: EnvFn | None = None,
    output_dir: str | None = None,
    verbose: bool = True,
    resume: bool = False,
    callback=None,
) -> Result:
    """Train with MBPO; see the module docstring."""
    validate(cfg)
    run = Run("mbpo", cfg, output_dir, verbose, env_fn)
    loop = MBPOLoop(run, env_fn)
    for epoch in run.train(loop, resume, callback):
        loop.train_epoch(epoch)
        loop.end_epoch(epoch)
    return run.result(critic=loop.agent.q, agent=loop.agent, replay=loop.replay)
