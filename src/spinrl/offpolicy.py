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
learns (networks, targets, optimisers, temperature). A family that acts or stores
differently (DQN: discrete actions, epsilon-greedy, n-step and prioritized replay) subclasses
OffPolicyLoop and replaces ``make_replay``, ``act``, ``store`` or ``update_phase``; the
schedule above stays the one here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch

from spinrl.buffers import FrameReplay, ReplayBuffer, available_memory
from spinrl.encoders import is_image_space
from spinrl.envs import (
    EnvFn,
    check_step,
    final_observations,
    frame_stack_size,
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
from spinrl.sde import noise_due

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


def replay_plan(env: gym.Env | gym.vector.VectorEnv, size: int, num_envs: int):
    """(buffer class, its arguments) for the observations of ``env`` (a vector env or one of
    its copies): a FrameReplay for images (frames stacked by the env stored once), a
    ReplayBuffer otherwise. Both classes' ``bytes_needed(*arguments)`` say what it takes."""
    vector = isinstance(env, gym.vector.VectorEnv)
    space = env.single_observation_space if vector else env.observation_space
    act_space = env.single_action_space if vector else env.action_space
    shape, act_shape = tuple(space.shape), tuple(act_space.shape or ())
    if is_image_space(space):
        act_dtype = np.int64 if isinstance(act_space, gym.spaces.Discrete) else np.float32
        stack = frame_stack_size(env)
        return FrameReplay, (shape, space.dtype, act_shape, act_dtype, size, num_envs, stack)
    obs_dtype = np.float32 if space.dtype.kind == "f" else space.dtype
    return ReplayBuffer, (shape, int(np.prod(act_shape)), size, obs_dtype)


def check_replay_fits(env: gym.Env, size: int, num_envs: int) -> None:
    """ConfigError, in one line, if a replay of ``size`` for ``env`` would not fit in memory
    (the CLI asks before it writes anything)."""
    kind, args = replay_plan(env, size, num_envs)
    check_fits_in_memory(size, kind.bytes_needed(*args))


def check_fits_in_memory(
    replay_size: int, needed: int, subject: str | None = None, lower: str = "replay_size"
) -> None:
    """ConfigError, in one line, if a buffer of ``needed`` bytes exceeds the memory available
    now (MemAvailable; unchecked where the system does not report it). ``subject`` says what
    needs it (``replay_size N`` unless given) and ``lower`` which settings to lower."""
    available = available_memory()
    if available is not None and needed > available:
        gib = 2**30
        subject = subject or f"replay_size {replay_size}"
        raise ConfigError(
            f"{subject} needs {needed / gib:.1f} GiB and {available / gib:.1f} "
            f"GiB of memory is available: lower {lower}"
        )


def refuse_discrete(space: gym.Space, algo: str) -> None:
    if isinstance(space, gym.spaces.Discrete):
        raise EnvError(
            f"{algo} needs continuous (Box) actions and this env's are Discrete; "
            "use ppo, trpo, vpg or pg for discrete actions"
        )


def refuse_unflat(obs_dim: int, space: gym.Space, algo: str) -> None:
    """A model of the dynamics (PETS, MBPO) predicts flat state vectors: images and Dicts
    (read through an encoder, obs_dim 0) are refused in one line."""
    if obs_dim == 0:
        raise EnvError(
            f"{algo} models the dynamics of flat vector observations and this env's are "
            f"{space}; use ppo, sac or dqn for images and Dicts"
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


def step_and_store(envs, roll, store, actions: np.ndarray) -> np.ndarray:
    """Step the N envs with ``actions``, hand every transition to
    ``store(s, a, r, s', terminated, truncated)`` with s' the real next observation (the final
    one where an episode ended, not the reset one), and move the rollout's observations,
    episode counters and step count on. Returns which envs' episodes ended (terminated or
    truncated)."""
    next_obs, rewards, terminated, truncated, info = envs.step(actions)
    check_step(rewards, next_obs, roll.steps)
    done = terminated | truncated
    real_next = next_obs
    if done.any():  # store the real final observation, not the reset one
        real_next = next_obs.copy()
        idx, final = final_observations(info, done)
        real_next[idx] = final
    store(roll.obs, actions, rewards, real_next, terminated, truncated)
    roll.stats.step(rewards, done)
    roll.obs = next_obs
    roll.steps += len(actions)
    return done


class OffPolicyLoop(EnvLoop):
    """The loop in the module docstring, one epoch per ``train_epoch``; its lifecycle is a
    spinrl.run.Run. ``make_agent(obs_space, act_space)`` builds the algorithm's agent (its
    networks read the observations through spinrl.encoders.make_encoder(obs_space)).

    Image observations go to a FrameReplay (every frame stored once), others to a
    ReplayBuffer; a replay_size whose arrays would not fit in the memory available now is
    refused before anything is allocated or written."""

    ACTION_SPACES = ACTION_SPACES

    def __init__(self, run: Run, make_agent, env_fn: EnvFn | None) -> None:
        super().__init__(run, env_fn, test_env=True)  # off-policy: raw observations
        try:
            self.replay = self.make_replay(run.cfg.replay_size)
            self.agent = make_agent(self.obs_space, self.action_space)
        except Exception:
            self.close()
            raise
        self.set_actor(self.agent.actor)
        self.pending_updates = 0
        # gSDE (SAC's sde): the exploration matrices are redrawn on SB3's schedule (spinrl.sde)
        self.sde = bool(getattr(run.cfg, "sde", False))
        self.end_episodes = getattr(self.agent, "end_episodes", None)

    # --- what a family that acts differently replaces (DQN: discrete actions, n-step replay)

    def make_replay(self, size: int):
        """The replay for this run's observations, after checking that it fits in memory."""
        kind, args = replay_plan(self.envs, size, self.cfg.num_envs)
        check_fits_in_memory(size, kind.bytes_needed(*args))
        return kind(*args)

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Uniform random actions for the first start_steps (drawn for all N at once), then
        the agent's exploration. With gSDE, the exploration matrices are redrawn first when
        due (also during the random phase, as SB3 does)."""
        cfg = self.cfg
        if self.sde and noise_due(self.collection_step(), cfg.sde_sample_freq):
            self.agent.actor.reset_noise(cfg.num_envs)
        if self.rollout.steps < self.cfg.start_steps:
            low, high = self.action_space.low, self.action_space.high
            shape = (self.cfg.num_envs, self.action_space.shape[0])
            return self.rng.uniform(low, high, size=shape).astype(np.float32)
        return self.agent.explore(obs, self.rng)

    def collection_step(self) -> int:
        """The vector step about to be taken, counted within its collection: from the last
        update phase once the phases have begun (this step counts towards the next), before
        that in blocks of update_every env steps from the start."""
        n, steps = self.cfg.num_envs, self.rollout.steps
        if steps + n >= self.cfg.update_after:
            return self.pending_updates // n
        return steps // n % max(1, -(-self.cfg.update_every // n))

    def store(self, obs, actions, rewards, next_obs, terminated, truncated) -> None:
        """A truncation is an ordinary transition here: its target bootstraps from Q(s', .)."""
        self.replay.store(obs, actions, rewards, next_obs, terminated)
        if self.end_episodes is not None:  # noise with a memory (TD3's Ornstein-Uhlenbeck)
            self.end_episodes(np.logical_or(terminated, truncated))

    def update_phase(self, epoch: int, env_steps: int) -> None:
        """One gradient step per env step of the phase, each on a fresh minibatch."""
        logger = self.lifecycle.logger
        for _ in range(env_steps):
            losses = self.agent.update(self.replay.sample(self.cfg.batch_size, self.rng))
            _check_finite(losses, epoch)
            logger.store(**losses)

    def check_action_space(self, space) -> None:
        refuse_discrete(space, self.lifecycle.algo)
        super().check_action_space(space)

    def train_epoch(self, epoch: int) -> None:
        """T vector steps, storing every transition, with the update phases that fall due."""
        cfg, roll = self.cfg, self.rollout
        for _ in range(self.lifecycle.T):
            step_and_store(self.envs, roll, self.store, self.act(roll.obs))
            if roll.steps >= cfg.update_after:
                self.pending_updates += cfg.num_envs
                if self.pending_updates >= cfg.update_every:
                    self.update_phase(epoch, self.pending_updates)
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
    loop_class: type[OffPolicyLoop] | None = None,
) -> Result:
    """Train with the loop in the module docstring; ``callback(run)`` runs after every epoch
    (``run.last_row``, ``run.last_episode_returns``); returning True ends training.
    ``loop_class``: a subclass of OffPolicyLoop for a family that acts differently (DQN)."""
    run = Run(algo, cfg, output_dir, verbose, env_fn, variant)
    loop = (loop_class or OffPolicyLoop)(run, make_agent, env_fn)
    for epoch in run.train(loop, resume, callback):
        loop.train_epoch(epoch)
        loop.end_epoch(epoch)
    return run.result(critic=loop.agent.q, agent=loop.agent, replay=loop.replay)


def _check_finite(stats: dict, epoch: int) -> None:
    """DivergenceError naming the first non-finite loss or value of an update."""
    for key, value in stats.items():
        if not math.isfinite(value):
            raise DivergenceError(f"{key} became {value} at epoch {epoch}")
