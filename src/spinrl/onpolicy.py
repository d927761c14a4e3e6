"""What every on-policy algorithm shares around its update rule (pg, vpg, ppo, trpo).

A Session owns one training run: the vector environments, the actor and critic, the
observation normaliser, the [T, N] rollout buffer, the logger, and the checkpoints that let
a stopped run resume exactly where it was. The algorithm files keep only what makes them
different: how they turn a filled buffer into a parameter update.

    session = Session("ppo", cfg, env_fn, output_dir, verbose, orthogonal=True)
    opt = ...
    for epoch in session.run(optimizers={"opt": opt}):
        session.collect()
        ... the update ...
        session.logger.log_tabular(...)   # algorithm-specific columns
        session.end_epoch(epoch)
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from spinrl.buffers import RolloutBuffer
from spinrl.checkpoint import (
    RESUME_MAY_CHANGE,
    GracefulStop,
    RunLock,
    check_resume_config,
    load_latest_checkpoint,
    save_checkpoint,
)
from spinrl.envs import (
    EnvFn,
    ObsNormalizer,
    RewardScaler,
    check_action_space,
    make_vec_env,
    set_vec_env_state,
    vec_env_state,
)
from spinrl.errors import CheckpointError, ConfigError, DivergenceError, TrainingInterrupted
from spinrl.logger import EpochLogger
from spinrl.policies import ACTIVATIONS, VCritic, flat_obs_dim, make_actor
from spinrl.rollout import Rollout, epoch_plan, seed_everything

ACTION_SPACES = (gym.spaces.Discrete, gym.spaces.Box)
CHECKPOINT = "model.pt"


def validate_common(cfg) -> None:
    """ConfigError for the fields every on-policy Config shares (checked before anything is
    created)."""
    epoch_plan(cfg.steps_per_epoch, cfg.epochs, cfg.num_envs, cfg.total_steps)
    if not 0.0 <= cfg.gamma <= 1.0 or not 0.0 <= cfg.lam <= 1.0:
        raise ConfigError(f"gamma and lam must lie in [0, 1], got {cfg.gamma} and {cfg.lam}")
    if cfg.vectorization not in ("sync", "async"):
        raise ConfigError(f"vectorization must be sync or async, got {cfg.vectorization!r}")
    if cfg.act not in ACTIVATIONS:
        raise ConfigError(f"act must be one of {', '.join(ACTIVATIONS)}, got {cfg.act!r}")
    if any(h <= 0 for h in cfg.hid):
        raise ConfigError(f"hid sizes must be positive, got {cfg.hid}")


def check_finite(value: torch.Tensor, name: str, epoch: int) -> None:
    """DivergenceError naming the quantity and the epoch if ``value`` holds NaN or inf."""
    if not torch.isfinite(value).all():
        bad = value[~torch.isfinite(value)].reshape(-1)[0].item()
        raise DivergenceError(f"{name} became {bad} at epoch {epoch}")


@dataclass
class Trained:
    """What train() returns: the networks, ready to act, and where the run was written."""

    actor: torch.nn.Module
    critic: torch.nn.Module | None
    obs_normalizer: ObsNormalizer
    output_dir: str | None
    last_row: dict


class Session:
    """One on-policy training run: everything but the update rule."""

    def __init__(
        self,
        algo: str,
        cfg,
        env_fn: EnvFn | None = None,
        output_dir: str | None = None,
        verbose: bool = True,
        *,
        use_critic: bool = True,
        orthogonal: bool = False,
        log_std_init: float = -0.5,
        saved_cfg=None,
    ) -> None:
        self.algo, self.cfg = algo, cfg
        self.T, self.epochs = epoch_plan(
            cfg.steps_per_epoch, cfg.epochs, cfg.num_envs, cfg.total_steps
        )
        seed_everything(cfg.seed)
        self.envs = make_vec_env(env_fn or cfg.env, cfg.num_envs, cfg.vectorization, cfg.max_ep_len)
        obs_space, act_space = self.envs.single_observation_space, self.envs.single_action_space
        try:
            check_action_space(act_space, ACTION_SPACES, algo)
            obs_dim = flat_obs_dim(obs_space)
        except Exception:
            self.envs.close()
            raise
        self.actor = make_actor(
            obs_space, act_space, cfg.hid, cfg.act, orthogonal, log_std_init=log_std_init
        )
        self.critic = VCritic(obs_dim, cfg.hid, cfg.act, orthogonal) if use_critic else None
        self.normalizer = ObsNormalizer((obs_dim,), cfg.normalize_obs)
        discrete = isinstance(act_space, gym.spaces.Discrete)
        self.buf = RolloutBuffer(self.T, cfg.num_envs, obs_dim, act_space.shape, discrete)
        self.reward_scaler = RewardScaler(
            cfg.num_envs,
            cfg.gamma,
            getattr(cfg, "normalize_reward", False),
            getattr(cfg, "reward_clip", 10.0),
        )
        self.rollout = Rollout(self.envs, cfg.seed, self.normalizer, self.reward_scaler)
        self.rng = self.rollout.rng  # minibatch shuffles draw from the same saved generator
        self.output_dir = Path(output_dir) if output_dir is not None else None
        self.saved_cfg = saved_cfg or cfg
        self.optimizers: dict = {}  # torch optimisers or FlatAdam: state_dict() and back
        self.start_epoch = 0
        self.logger: EpochLogger | None = None
        self.verbose = verbose
        self.last_row: dict = {}
        self.last_episode_returns: list[float] = []
        self._latest_return: float | None = None

    # --- the epoch loop ---------------------------------------------------------------------

    def run(self, optimizers: dict, resume: bool = False, callback=None) -> Iterator[int]:
        """Yield the epochs still to train; resume first if asked. Cleans up at the end.

        ``callback(session)``, if given, runs after every epoch; returning True ends training
        (``session.last_row`` and ``session.last_episode_returns`` describe the epoch).
        """
        self.optimizers = optimizers
        lock = RunLock(self.output_dir) if self.output_dir is not None else nullcontext()
        try:
            with lock, GracefulStop() as stop:
                if resume:
                    self._resume()
                total = self.epochs * self.cfg.steps_per_epoch
                self.logger = EpochLogger(
                    self.output_dir,
                    total,
                    self.verbose,
                    f"{self.algo} {self.cfg.env}",
                    keep_rows=self.start_epoch if resume else None,
                )
                if not resume:
                    self.logger.save_config(self.algo, self.saved_cfg)
                self.logger.update_progress(self.rollout.steps, None)
                self._start = time.time()
                for epoch in range(self.start_epoch, self.epochs):
                    yield epoch
                    if stop.signum is not None:  # the update finished: save, then stop
                        out = None
                        if self.output_dir is not None:
                            save_checkpoint(self.output_dir / CHECKPOINT, self.state_dict(epoch))
                            out = str(self.output_dir)
                        raise TrainingInterrupted(stop.signum, out, epoch)
                    if callback is not None and callback(self):
                        break
        finally:
            if self.logger is not None:
                self.logger.close()
            self.envs.close()

    def collect(self) -> None:
        self.rollout.collect(self.actor, self.critic, self.buf)

    def end_epoch(self, epoch: int, **metrics: float) -> dict:
        """Write the epoch's row (episode statistics, then the algorithm's ``metrics``, then
        Time) and checkpoint when due."""
        logger = self.logger
        ep_rets, ep_lens = self.rollout.stats.drain()
        self.last_episode_returns = ep_rets
        logger.store(EpRet=ep_rets, EpLen=ep_lens)
        logger.log_tabular("Epoch", epoch)
        logger.log_tabular("EpRet", with_min_and_max=True)
        logger.log_tabular("EpLen", average_only=True)
        if self.critic is not None:
            logger.store(VVals=self.buf.values)
            logger.log_tabular("VVals", with_min_and_max=True)
        logger.log_tabular("TotalEnvInteracts", self.rollout.steps)
        for key, value in metrics.items():
            logger.log_tabular(key, value)
        logger.log_tabular("Time", time.time() - self._start)
        if ep_rets:
            self._latest_return = ep_rets[-1]
        logger.update_progress(self.rollout.steps, self._latest_return)
        self.last_row = logger.dump_tabular()
        last = epoch == self.epochs - 1
        due = self.cfg.save_freq and (epoch + 1) % self.cfg.save_freq == 0
        if self.output_dir is not None and (last or due):
            save_checkpoint(self.output_dir / CHECKPOINT, self.state_dict(epoch))
        return self.last_row

    # --- checkpoints ------------------------------------------------------------------------

    def state_dict(self, epoch: int) -> dict:
        """Everything a resumed run needs to continue bit for bit."""
        stats = self.rollout.stats
        state = {
            "kind": self.algo,
            "epoch": epoch,
            "actor": self.actor.state_dict(),
            "critic": self.critic.state_dict() if self.critic is not None else None,
            "optimizers": {k: opt.state_dict() for k, opt in self.optimizers.items()},
            "obs_normalizer": self.normalizer.state_dict(),
            "reward_scaler": self.reward_scaler.state_dict(),
            "rollout": {
                "obs": np.asarray(self.rollout.obs),
                "ep_ret": stats.ret,
                "ep_len": stats.len,
                "steps": self.rollout.steps,
                "rng": self.rng.bit_generator.state,
            },
            "torch_rng": torch.get_rng_state(),
        }
        if self.cfg.vectorization == "sync":
            state["envs"] = vec_env_state(self.envs)
        return state

    def _resume(self) -> None:
        if self.output_dir is None:
            raise CheckpointError("resuming needs the run directory (output_dir)")
        check_resume_config(self.output_dir, asdict(self.saved_cfg), RESUME_MAY_CHANGE)
        state, _ = load_latest_checkpoint(self.output_dir / CHECKPOINT, kind=self.algo)
        try:
            self.actor.load_state_dict(state["actor"])
            if self.critic is not None:
                self.critic.load_state_dict(state["critic"])
            for name, opt in self.optimizers.items():
                opt.load_state_dict(state["optimizers"][name])
            self.normalizer.load_state_dict(state["obs_normalizer"])
            self.reward_scaler.load_state_dict(state["reward_scaler"])
            roll = state["rollout"]
            if "envs" not in state:
                raise CheckpointError("it has no environment state (the run used async envs)")
            set_vec_env_state(self.envs, state["envs"])
            self.rollout.obs = roll["obs"].numpy().astype(self.rollout.obs.dtype)
            self.rollout.stats.ret = roll["ep_ret"].numpy().copy()
            self.rollout.stats.len = roll["ep_len"].numpy().copy()
            self.rollout.steps = int(roll["steps"])
            self.rng.bit_generator.state = roll["rng"]
            torch.set_rng_state(state["torch_rng"])
        except (KeyError, RuntimeError, ValueError, TypeError, AttributeError) as e:
            raise CheckpointError(
                f"checkpoint {self.output_dir / CHECKPOINT} does not fit this run: {e}"
            ) from None
        self.start_epoch = int(state["epoch"]) + 1

    def result(self) -> Trained:
        out = str(self.output_dir) if self.output_dir is not None else None
        return Trained(self.actor, self.critic, self.normalizer, out, self.last_row)
