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
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import torch

from spinrl.buffers import ReplayBuffer
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
    EpisodeStats,
    check_action_space,
    check_step,
    final_observations,
    make_env,
    make_vec_env,
    set_vec_env_state,
    vec_env_state,
)
from spinrl.errors import (
    CheckpointError,
    ConfigError,
    DivergenceError,
    EnvError,
    TrainingInterrupted,
)
from spinrl.logger import EpochLogger
from spinrl.policies import ACTIVATIONS, flat_obs_dim
from spinrl.rollout import epoch_plan, seed_everything

ACTION_SPACES = (gym.spaces.Box,)
CHECKPOINT = "model.pt"


def refuse_discrete(space: gym.Space, algo: str) -> None:
    if isinstance(space, gym.spaces.Discrete):
        raise EnvError(
            f"{algo} needs continuous (Box) actions and this env's are Discrete; "
            "use ppo, trpo, vpg or pg for discrete actions"
        )


def validate_common(cfg) -> None:
    """ConfigError for the fields every off-policy Config shares."""
    epoch_plan(cfg.steps_per_epoch, cfg.epochs, cfg.num_envs, cfg.total_steps)
    if not 0.0 <= cfg.gamma <= 1.0 or not 0.0 <= cfg.polyak < 1.0:
        raise ConfigError(
            f"need 0 <= gamma <= 1 and 0 <= polyak < 1, got {cfg.gamma}, {cfg.polyak}"
        )
    if min(cfg.batch_size, cfg.replay_size, cfg.update_every) < 1 or cfg.update_after < 0:
        raise ConfigError("batch_size, replay_size and update_every must be >= 1")
    if cfg.act not in ACTIVATIONS:
        raise ConfigError(f"act must be one of {', '.join(ACTIVATIONS)}, got {cfg.act!r}")


@dataclass
class OffPolicyResult:
    """What train() returns: the agent (networks, ready to act), its replay buffer, where the
    run was written and the last logged row."""

    agent: object
    replay: ReplayBuffer
    output_dir: str | None
    last_row: dict


def polyak_update(targets: list[torch.Tensor], sources: list[torch.Tensor], polyak: float):
    """target <- polyak * target + (1 - polyak) * source, for all tensors in one call."""
    with torch.no_grad():
        torch._foreach_lerp_(targets, sources, 1.0 - polyak)


def train_off_policy(
    algo, cfg, make_agent, env_fn: EnvFn | None, output_dir, verbose, resume=False, callback=None
) -> OffPolicyResult:
    """Run the loop in the module docstring; ``make_agent(obs_dim, act_space)`` builds the
    algorithm's agent after the seeds are set. ``callback(view)`` runs after every epoch with
    ``view.last_row`` and ``view.last_episode_returns``; returning True ends training."""
    T, epochs = epoch_plan(cfg.steps_per_epoch, cfg.epochs, cfg.num_envs, cfg.total_steps)
    seed_everything(cfg.seed)
    envs = make_vec_env(env_fn or cfg.env, cfg.num_envs, cfg.vectorization, cfg.max_ep_len)
    test_env = env_fn() if env_fn else make_env(cfg.env, cfg.max_ep_len)
    try:
        act_space = envs.single_action_space
        refuse_discrete(act_space, algo)
        check_action_space(act_space, ACTION_SPACES, algo)
        obs_dim = flat_obs_dim(envs.single_observation_space)
        agent = make_agent(obs_dim, act_space)
    except Exception:
        envs.close()
        test_env.close()
        raise
    act_dim = act_space.shape[0]
    replay = ReplayBuffer(obs_dim, act_dim, cfg.replay_size)
    rng = np.random.default_rng(cfg.seed)
    obs, _ = envs.reset(seed=cfg.seed)
    test_env.reset(seed=cfg.seed + 10_000)
    stats = EpisodeStats(cfg.num_envs)
    steps, pending_updates, start_epoch = 0, 0, 0
    run_dir = Path(output_dir) if output_dir is not None else None

    def state_dict(epoch: int) -> dict:
        return {
            "kind": algo,
            "epoch": epoch,
            "agent": agent.state_dict(),
            "replay": replay.state_dict(),
            "obs": np.asarray(obs),
            "ep_ret": stats.ret,
            "ep_len": stats.len,
            "steps": steps,
            "pending_updates": pending_updates,
            "rng": rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
            "envs": vec_env_state(envs),
            "test_env": vec_env_state(_Single(test_env)),
        }

    lock = RunLock(run_dir) if run_dir is not None else nullcontext()
    with lock, GracefulStop() as stop:
        if resume:
            if run_dir is None:
                raise CheckpointError("resuming needs the run directory (output_dir)")
            check_resume_config(run_dir, asdict(cfg), RESUME_MAY_CHANGE)
            state, _ = load_latest_checkpoint(run_dir / CHECKPOINT, kind=algo)
            try:
                agent.load_state_dict(state["agent"])
                replay.load_state_dict(state["replay"])
                set_vec_env_state(envs, state["envs"])
                set_vec_env_state(_Single(test_env), state["test_env"])
                obs = state["obs"].numpy().astype(obs.dtype)
                stats.ret, stats.len = (
                    state["ep_ret"].numpy().copy(),
                    state["ep_len"].numpy().copy(),
                )
                steps, pending_updates = int(state["steps"]), int(state["pending_updates"])
                rng.bit_generator.state = state["rng"]
                torch.set_rng_state(state["torch_rng"])
            except (KeyError, RuntimeError, ValueError, TypeError, AttributeError) as e:
                raise CheckpointError(
                    f"checkpoint {run_dir / CHECKPOINT} does not fit this run: {e}"
                ) from None
            start_epoch = int(state["epoch"]) + 1

        logger = EpochLogger(
            run_dir,
            epochs * cfg.steps_per_epoch,
            verbose,
            f"{algo} {cfg.env}",
            keep_rows=start_epoch if resume else None,
        )
        if not resume:
            logger.save_config(algo, cfg)
        low, high = act_space.low, act_space.high
        start, last_row = time.time(), {}
        try:
            for epoch in range(start_epoch, epochs):
                for _ in range(T):
                    if steps < cfg.start_steps:  # uniform random actions, drawn for all N at once
                        actions = rng.uniform(low, high, size=(cfg.num_envs, act_dim)).astype(
                            np.float32
                        )
                    else:
                        actions = agent.explore(obs, rng)
                    next_obs, rewards, terminated, truncated, info = envs.step(actions)
                    check_step(rewards, next_obs, steps)
                    done = terminated | truncated
                    real_next = next_obs
                    if done.any():  # store the real final observation, not the reset one
                        real_next = next_obs.copy()
                        idx, final = final_observations(info, done)
                        real_next[idx] = final
                    replay.store(obs, actions, rewards, real_next, terminated)
                    stats.step(rewards, done)
                    obs = next_obs
                    steps += cfg.num_envs
                    if steps >= cfg.update_after:
                        pending_updates += cfg.num_envs
                        if pending_updates >= cfg.update_every:
                            for _ in range(pending_updates):
                                losses = agent.update(replay.sample(cfg.batch_size, rng))
                                _check_finite(losses, epoch)
                                logger.store(**losses)
                            pending_updates = 0
                test_returns, test_lengths = _test(agent, test_env, cfg.num_test_episodes)
                ep_rets, ep_lens = stats.drain()
                logger.store(
                    EpRet=ep_rets, EpLen=ep_lens, TestEpRet=test_returns, TestEpLen=test_lengths
                )
                logger.log_tabular("Epoch", epoch)
                logger.log_tabular("EpRet", with_min_and_max=True)
                logger.log_tabular("TestEpRet", with_min_and_max=True)
                logger.log_tabular("EpLen", average_only=True)
                logger.log_tabular("TestEpLen", average_only=True)
                logger.log_tabular("TotalEnvInteracts", steps)
                for key in agent.LOGGED:
                    logger.log_tabular(key, average_only=key in agent.AVERAGE_ONLY)
                logger.log_tabular("Time", time.time() - start)
                latest = test_returns[-1] if test_returns else (ep_rets[-1] if ep_rets else None)
                logger.update_progress(steps, latest)
                last_row = logger.dump_tabular()
                if run_dir is not None and (
                    epoch == epochs - 1 or (cfg.save_freq and (epoch + 1) % cfg.save_freq == 0)
                ):
                    save_checkpoint(run_dir / CHECKPOINT, state_dict(epoch))
                view = SimpleNamespace(last_row=last_row, last_episode_returns=ep_rets)
                if stop.signum is not None:  # the updates finished: save, then stop
                    if run_dir is not None:
                        save_checkpoint(run_dir / CHECKPOINT, state_dict(epoch))
                    out = str(run_dir) if run_dir is not None else None
                    raise TrainingInterrupted(stop.signum, out, epoch)
                if callback is not None and callback(view):
                    break
        finally:
            logger.close()
            envs.close()
            test_env.close()
    return OffPolicyResult(agent, replay, output_dir, last_row)


class _Single:
    """Lets the vector-env state helpers save and restore one plain env."""

    def __init__(self, env: gym.Env) -> None:
        self.envs = [env]


def _test(agent, env: gym.Env, episodes: int) -> tuple[list[float], list[int]]:
    """Episodes with the deterministic policy (mean action), as Spinning Up's test phase."""
    returns, lengths = [], []
    for _ in range(episodes):
        obs, _ = env.reset()
        ret, length, done = 0.0, 0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(agent.deterministic(obs[None])[0])
            ret, length, done = ret + float(reward), length + 1, terminated or truncated
        returns.append(ret)
        lengths.append(length)
    return returns, lengths


def _check_finite(stats: dict, epoch: int) -> None:
    """DivergenceError naming the first non-finite loss or value of an update."""
    for key, value in stats.items():
        if not math.isfinite(value):
            raise DivergenceError(f"{key} became {value} at epoch {epoch}")
