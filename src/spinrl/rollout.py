"""The one loop that steps the vector environments and fills a rollout buffer.

Per step: one batched forward pass of the actor (and critic) for all N envs, one
``envs.step``, a handful of numpy writes. Per-env Python work happens only on the steps where
an episode ends.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from spinrl.buffers import RolloutBuffer
from spinrl.envs import (
    EpisodeStats,
    ObsNormalizer,
    RewardScaler,
    check_step,
    envs_state,
    final_observations,
    restore_envs,
)
from spinrl.policies import action_clipper, policy_forward
from spinrl.sde import StateDependentGaussianActor


class Rollout:
    """Holds the envs' current observations across epochs and fills buffers from them."""

    def __init__(
        self,
        envs: gym.vector.VectorEnv,
        env_seeds: list[int],
        rng: np.random.Generator,
        normalizer: ObsNormalizer,
        reward_scaler: RewardScaler | None = None,
    ) -> None:
        """``env_seeds``: one seed per env for its first reset; ``rng``: the agent's own
        stream (action sampling), independent of every env's."""
        self.envs = envs
        self.normalizer = normalizer
        self.reward_scaler = reward_scaler or RewardScaler(envs.num_envs, 1.0, enabled=False)
        self.clip = action_clipper(envs.single_action_space)
        self.obs, _ = envs.reset(seed=list(env_seeds))
        self.stats = EpisodeStats(envs.num_envs)
        self.rng = rng
        self.steps = 0

    def state_dict(self) -> dict:
        """The envs, their current observations and episode counters, and the agent's stream."""
        return {
            "obs": np.asarray(self.obs),
            "ep_ret": self.stats.ret,
            "ep_len": self.stats.len,
            "steps": self.steps,
            "rng": self.rng.bit_generator.state,
            "envs": envs_state(self.envs),
        }

    def load_state_dict(self, state: dict) -> bool:
        """Restore ``state_dict()``; returns whether the envs' own state was restored (False
        for async envs: they keep fresh episodes, so in-flight episode counters restart)."""
        self.rng.bit_generator.state = state["rng"]
        self.steps = int(state["steps"])
        if not restore_envs(self.envs, state.get("envs")):
            return False
        self.obs = state["obs"].numpy().astype(self.obs.dtype)
        self.stats.ret = state["ep_ret"].numpy().copy()
        self.stats.len = state["ep_len"].numpy().copy()
        return True

    def collect(self, actor, critic, buf: RolloutBuffer) -> None:
        """Run T steps in every env, writing buf[t, :] for t < T."""
        forward = policy_forward(actor, critic)
        sde = isinstance(actor, StateDependentGaussianActor)  # gSDE: noise held between draws
        sample = None if sde else actor.numpy_sampler()
        for t in range(buf.T):
            obs = self.normalizer(self.obs, update=True)
            outs = forward(obs)
            if sde:
                act, logp = actor.explore(obs, outs[0], t, self.rng)
            else:
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
