"""The one off-policy loop that DDPG, TD3 and SAC share (Spinning Up's schedule).

    for each vector step (N env steps):
        act: uniform random actions for the first start_steps, then the agent's exploration
        store (s, a, r, s', terminated) in the replay buffer; s' is the real next observation
        once update_after steps are collected: every update_every env steps, take
            update_every gradient steps, each on a fresh minibatch (the agent's update rule)
    at the end of each epoch: num_test_episodes with the deterministic policy (TestEpRet),
    log, checkpoint when due.

An algorithm supplies an *agent*: ``explore(obs) -> actions`` (numpy), ``update(batch)`` ->
stats, ``deterministic(obs)``, and ``state_dict()`` / ``load_state_dict()`` for everything it
learns (networks, targets, optimisers, temperature).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch

from spinrl.buffers import ReplayBuffer
from spinrl.envs import (
    EnvFn,
    check_step,
    final_observations,
)
from spinrl.errors import ConfigError, DivergenceError, EnvError
from spinrl.run import (
    EnvLoop,
    Result,
    Run,
    RunConfig,
    Variant,
    validate_common,
)

ACTION_SPACES = (gym.spaces.Box,)


@dataclass
class OffPolicyConfig(RunConfig):
    """The fields DDPG, TD3 and SAC share (Spinning Up's defaults).

    replay_size: capacity of the replay buffer in transitions.
    polyak: target networks move as targ <- polyak targ + (1 - polyak) net.
    batch_size: transitions per gradient step.
    start_steps: env steps with uniformly random actions before the policy acts.
    update_after: env steps collected before the first update.
    update_every: env steps between update phases; each phase takes as many gradient steps.
    num_test_episodes: deterministic test episodes after each epoch (TestEpRet).
    """

    env: str = "Pendulum-v1"
    epochs: int = 100
    replay_size: int = 1_000_000
    polyak: float = 0.995
    batch_size: int = 100
    start_steps: int = 10_000
    update_after: int = 1000
    update_every: int = 50
    num_test_episodes: int = 10
    hid: tuple[int, ...] = (256, 256)
    act: str = "relu"
    save_freq: int = 1


def refuse_discrete(space: gym.Space, algo: str) -> None:
    if isinstance(space, gym.spaces.Discrete):
        raise EnvError(
            f"{algo} needs continuous (Box) actions and this env's are Discrete; "
            "use ppo, trpo, vpg or pg for discrete actions"
        )


def validate(cfg) -> None:
    """ConfigError for the fields every off-policy Config shares."""
    validate_common(cfg)
    if not 0.0 <= cfg.polyak < 1.0:
        raise ConfigError(f"polyak must lie in [0, 1), got {cfg.polyak}")
    if min(cfg.batch_size, cfg.replay_size, cfg.update_every) < 1 or cfg.update_after < 0:
        raise ConfigError("batch_size, replay_size and update_every must be >= 1")
    if cfg.num_test_episodes < 0:
        raise ConfigError(f"num_test_episodes must be >= 0, got {cfg.num_test_episodes}")


def polyak_update(targets: list[torch.Tensor], sources: list[torch.Tensor], polyak: float):
    """target <- polyak * target + (1 - polyak) * source, for all tensors in one call."""
    with torch.no_grad():
        torch._foreach_lerp_(targets, sources, 1.0 - polyak)


def step_and_store(envs, roll, replay: ReplayBuffer, actions: np.ndarray) -> np.ndarray:
    """Step the N envs with ``actions``, store every transition (s, a, r, s', terminated) with
    s' the real next observation (the final one where an episode ended, not the reset one),
    and move the rollout's observations, episode counters and step count on. Returns which
    envs' episodes ended (terminated or truncated)."""
    next_obs, rewards, terminated, truncated, info = envs.step(actions)
    check_step(rewards, next_obs, roll.steps)
    done = terminated | truncated
    real_next = next_obs
    if done.any():  # store the real final observation, not the reset one
        real_next = next_obs.copy()
        idx, final = final_observations(info, done)
        real_next[idx] = final
    replay.store(roll.obs, actions, rewards, real_next, terminated)
    roll.stats.step(rewards, done)
    roll.obs = next_obs
    roll.steps += len(actions)
    return done


class OffPolicyLoop(EnvLoop):
    """The loop in the module docstring, one epoch per ``train_epoch``; its lifecycle is a
    spinrl.run.Run. ``make_agent(obs_dim, act_space)`` builds the algorithm's agent."""

    ACTION_SPACES = ACTION_SPACES

    def __init__(self, run: Run, make_agent, env_fn: EnvFn | None) -> None:
        super().__init__(run, env_fn, test_env=True)  # off-policy: raw observations
        try:
            self.agent = make_agent(self.obs_dim, self.action_space)
        except Exception:
            self.close()
            raise
        self.set_actor(self.agent.actor)
        self.replay = ReplayBuffer(self.obs_dim, self.action_space.shape[0], run.cfg.replay_size)
        self.pending_updates = 0

    def check_action_space(self, space) -> None:
        refuse_discrete(space, self.lifecycle.algo)
        super().check_action_space(space)

    def train_epoch(self, epoch: int) -> None:
        """T vector steps, storing every transition, with the update phases that fall due."""
        cfg, roll, agent, replay = self.cfg, self.rollout, self.agent, self.replay
        low, high = self.action_space.low, self.action_space.high
        shape = (cfg.num_envs, self.action_space.shape[0])
        logger = self.lifecycle.logger
        for _ in range(self.lifecycle.T):
            if roll.steps < cfg.start_steps:  # uniform random actions, drawn for all N at once
                actions = self.rng.uniform(low, high, size=shape).astype(np.float32)
            else:
                actions = agent.explore(roll.obs, self.rng)
            step_and_store(self.envs, roll, replay, actions)
            if roll.steps >= cfg.update_after:
                self.pending_updates += cfg.num_envs
                if self.pending_updates >= cfg.update_every:
                    for _ in range(self.pending_updates):
                        losses = agent.update(replay.sample(cfg.batch_size, self.rng))
                        _check_finite(losses, epoch)
                        logger.store(**losses)
                    self.pending_updates = 0

    def end_epoch(self, epoch: int) -> dict:
        """The deterministic test phase, then the epoch's row."""
        logger = self.lifecycle.logger
        test_returns, test_lengths = self.test(self.agent.deterministic)
        ep_rets, ep_lens = self.rollout.stats.drain()
        logger.store(EpRet=ep_rets, EpLen=ep_lens, TestEpRet=test_returns, TestEpLen=test_lengths)
        logger.log_tabular("Epoch", epoch)
        logger.log_tabular("EpRet", with_min_and_max=True)
        logger.log_tabular("TestEpRet", with_min_and_max=True)
        logger.log_tabular("EpLen", average_only=True)
        logger.log_tabular("TestEpLen", average_only=True)
        logger.log_tabular("TotalEnvInteracts", self.steps)
        for key in self.agent.LOGGED:
            logger.log_tabular(key, average_only=key in self.agent.AVERAGE_ONLY)
        for key, value in self.extra_columns().items():
            logger.log_tabular(key, value)
        latest = test_returns[-1] if test_returns else (ep_rets[-1] if ep_rets else None)
        return self.lifecycle.end_epoch(epoch, ep_rets, latest)

    def extra_columns(self) -> dict:
        """Columns a loop adds to each row after its agent's (MBPO: the model's)."""
        return {}

    # --- what the lifecycle asks of a loop --------------------------------------------------

    def state_dict(self) -> dict:
        return {
            "agent": self.agent.state_dict(),
            "replay": self.replay.state_dict(),
            "pending_updates": self.pending_updates,
            **self.env_state(),
        }

    def load_state_dict(self, state: dict) -> bool:
        self.agent.load_state_dict(state["agent"])
        self.replay.load_state_dict(state["replay"])
        self.pending_updates = int(state["pending_updates"])
        return self.load_env_state(state)


def train_off_policy(
    algo,
    cfg,
    make_agent,
    env_fn: EnvFn | None,
    output_dir,
    verbose,
    resume=False,
    callback=None,
    variant: Variant | None = None,
) -> Result:
    """Train with the loop in the module docstring; ``callback(run)`` runs after every epoch
    (``run.last_row``, ``run.last_episode_returns``); returning True ends training."""
    run = Run(algo, cfg, output_dir, verbose, env_fn, variant)
    loop = OffPolicyLoop(run, make_agent, env_fn)
    for epoch in run.train(loop, resume, callback):
        loop.train_epoch(epoch)
        loop.end_epoch(epoch)
    return run.result(critic=loop.agent.q, agent=loop.agent, replay=loop.replay)


def _check_finite(stats: dict, epoch: int) -> None:
    """DivergenceError naming the first non-finite loss or value of an update."""
    for key, value in stats.items():
        if not math.isfinite(value):
            raise DivergenceError(f"{key} became {value} at epoch {epoch}")
