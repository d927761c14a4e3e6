"""The one loop that steps the vector environments and fills a rollout buffer.

Per step: one batched forward pass of the actor (and critic) for all N envs, one
``envs.step``, a handful of numpy writes. Per-env Python work happens only on the steps where
an episode ends.
"""

from __future__ import annotations

import math
import random

import gymnasium as gym
import numpy as np
import torch

from spinrl.buffers import RolloutBuffer
from spinrl.envs import (
    EpisodeStats,
    ObsNormalizer,
    RewardScaler,
    check_step,
    final_observations,
)
from spinrl.errors import ConfigError
from spinrl.policies import action_clipper, fused_forward


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch; pin PyTorch to one thread for reproducible, fast runs
    on small networks (thread start-up costs more than the matmuls)."""
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 (user env code may still draw from the legacy global RNG)
    torch.manual_seed(seed)
    torch.set_num_threads(1)


def epoch_plan(steps_per_epoch: int, epochs: int, num_envs: int, total_steps: int | None):
    """(T, epochs): steps per env per epoch, and the number of epochs for the budget."""
    if steps_per_epoch < num_envs or steps_per_epoch % num_envs:
        raise ConfigError(
            f"steps_per_epoch ({steps_per_epoch}) must be a positive multiple of "
            f"num_envs ({num_envs})"
        )
    if total_steps is not None:
        if total_steps <= 0:
            raise ConfigError(f"total_steps must be positive, got {total_steps}")
        epochs = math.ceil(total_steps / steps_per_epoch)
    if epochs <= 0:
        raise ConfigError(f"epochs must be positive, got {epochs}")
    return steps_per_epoch // num_envs, epochs


class Rollout:
    """Holds the envs' current observations across epochs and fills buffers from them."""

    def __init__(
        self,
        envs: gym.vector.VectorEnv,
        seed: int,
        normalizer: ObsNormalizer,
        reward_scaler: RewardScaler | None = None,
    ) -> None:
        self.envs = envs
        self.normalizer = normalizer
        self.reward_scaler = reward_scaler or RewardScaler(envs.num_envs, 1.0, enabled=False)
        self.clip = action_clipper(envs.single_action_space)
        self.obs, _ = envs.reset(seed=seed)
        self.stats = EpisodeStats(envs.num_envs)
        self.rng = np.random.default_rng(seed)  # action sampling
        self.steps = 0

    def collect(self, actor, critic, buf: RolloutBuffer) -> None:
        """Run T steps in every env, writing buf[t, :] for t < T."""
        forward = fused_forward([actor.net] if critic is None else [actor.net, critic.net])
        sample = actor.numpy_sampler()
        for t in range(buf.T):
            obs = self.normalizer(self.obs, update=True)
            outs = forward(obs)
            act, logp = sample(outs[0], self.rng)
            next_obs, rewards, terminated, truncated, info = self.envs.step(self.clip(act))
            check_step(rewards, next_obs, self.steps)
            buf.obs[t], buf.actions[t], buf.logp[t] = obs, act, logp
            done = terminated | truncated
            buf.rewards[t] = self.reward_scaler(rewards, done)
            buf.terminated[t], buf.truncated[t] = terminated, truncated
            buf.values[t] = outs[1][:, 0] if critic is not None else 0.0
            buf.final_values[t] = 0.0
            if done.any():
                cut = truncated & ~terminated
                if critic is not None and cut.any():
                    idx, final = final_observations(info, cut)
                    buf.final_values[t, idx] = forward(self.normalizer(final))[1][:, 0]
            self.stats.step(rewards, done)
            self.obs = next_obs
            self.steps += self.envs.num_envs
        if critic is not None:
            buf.last_values[:] = forward(self.normalizer(self.obs))[1][:, 0]
        else:
            buf.last_values[:] = 0.0
