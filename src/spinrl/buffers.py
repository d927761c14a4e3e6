"""Storage for experience: the on-policy rollout buffer, laid out [T, N].

Row t, column n is step t of vector environment n. The buffer is allocated once and
overwritten every epoch; ``flat`` hands the algorithm [T * N] torch views for the update.
"""

from __future__ import annotations

import numpy as np
import torch


class RolloutBuffer:
    """One epoch of on-policy experience from N environments over T steps.

    obs[t, n]           the (normalised) observation the action was chosen from
    actions[t, n]       the action as sampled (before any clipping to the bounds)
    logp[t, n]          log pi_old(a|s) at sampling time
    rewards[t, n]       the reward the env returned
    terminated[t, n]    the episode really ended at this step
    truncated[t, n]     a time limit ended it; the future still had value
    values[t, n]        V(s_t) at sampling time (0 without a critic)
    final_values[t, n]  V(real final observation) where truncated, else 0
    last_values[n]      V(s_T), for episodes the end of the batch cuts
    """

    def __init__(
        self, T: int, N: int, obs_dim: int, act_shape: tuple[int, ...], discrete: bool
    ) -> None:
        self.T, self.N = T, N
        self.obs = np.zeros((T, N, obs_dim), np.float32)
        self.actions = np.zeros((T, N, *act_shape), np.int64 if discrete else np.float32)
        self.logp = np.zeros((T, N), np.float32)
        self.rewards = np.zeros((T, N), np.float64)
        self.terminated = np.zeros((T, N), bool)
        self.truncated = np.zeros((T, N), bool)
        self.values = np.zeros((T, N), np.float32)
        self.final_values = np.zeros((T, N), np.float32)
        self.last_values = np.zeros(N, np.float32)

    def returns_args(self) -> dict:
        """The keyword arguments every function in spinrl.returns takes from a rollout."""
        return dict(
            rewards=self.rewards,
            terminated=self.terminated,
            truncated=self.truncated,
            final_values=self.final_values,
            last_values=self.last_values,
        )

    def flat(self, **extra: np.ndarray) -> dict[str, torch.Tensor]:
        """obs, actions, logp (and any [T, N] arrays passed in) as [T * N] float tensors."""
        out = {
            "obs": torch.from_numpy(self.obs.reshape(self.T * self.N, -1)),
            "actions": torch.from_numpy(
                self.actions.reshape(self.T * self.N, *self.actions.shape[2:])
            ),
            "logp": torch.from_numpy(self.logp.reshape(-1)),
        }
        for key, arr in extra.items():
            out[key] = torch.as_tensor(np.asarray(arr, np.float32).reshape(-1))
        return out


def shuffled(data: dict[str, torch.Tensor], rng: np.random.Generator) -> dict[str, torch.Tensor]:
    """The batch in one random order (one permutation for every column)."""
    order = torch.from_numpy(rng.permutation(len(next(iter(data.values())))))
    return {key: value[order] for key, value in data.items()}


def minibatches(data: dict[str, torch.Tensor], size: int):
    """Consecutive slices of ``size`` rows of every column (views, no copies); the last may
    be shorter."""
    n = len(next(iter(data.values())))
    for start in range(0, n, size):
        yield {key: value[start : start + size] for key, value in data.items()}


class ReplayBuffer:
    """A first-in-first-out store of transitions (s, a, r, s', terminated) for off-policy
    learning, filled N transitions at a time from N vector environments.

    ``next_obs`` is the real next observation: where an episode ended it is the final
    observation, never the reset observation Gymnasium's autoreset puts in its place. Only
    ``terminated`` is stored as an ending: a time-limit truncation is an ordinary transition
    whose target still bootstraps from Q(s', .).
    """

    def __init__(self, obs_dim: int, act_dim: int, size: int) -> None:
        self.obs = np.zeros((size, obs_dim), np.float32)
        self.actions = np.zeros((size, act_dim), np.float32)
        self.rewards = np.zeros(size, np.float32)
        self.next_obs = np.zeros((size, obs_dim), np.float32)
        self.terminated = np.zeros(size, np.float32)
        self.capacity, self.ptr, self.size = size, 0, 0

    def store(self, obs, actions, rewards, next_obs, terminated) -> None:
        n = len(obs)
        idx = (self.ptr + np.arange(n)) % self.capacity
        self.obs[idx], self.actions[idx], self.rewards[idx] = obs, actions, rewards
        self.next_obs[idx], self.terminated[idx] = next_obs, terminated
        self.ptr = int((self.ptr + n) % self.capacity)
        self.size = min(self.size + n, self.capacity)

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        idx = rng.integers(0, self.size, size=batch_size)
        return {
            "obs": torch.from_numpy(self.obs[idx]),
            "actions": torch.from_numpy(self.actions[idx]),
            "rewards": torch.from_numpy(self.rewards[idx]),
            "next_obs": torch.from_numpy(self.next_obs[idx]),
            "terminated": torch.from_numpy(self.terminated[idx]),
        }

    def state_dict(self) -> dict:
        n = self.size
        return {
            "obs": self.obs[:n].copy(),
            "actions": self.actions[:n].copy(),
            "rewards": self.rewards[:n].copy(),
            "next_obs": self.next_obs[:n].copy(),
            "terminated": self.terminated[:n].copy(),
            "ptr": self.ptr,
            "size": self.size,
        }

    def load_state_dict(self, state: dict) -> None:
        n = int(state["size"])
        for key in ("obs", "actions", "rewards", "next_obs", "terminated"):
            getattr(self, key)[:n] = np.asarray(state[key])
        self.ptr, self.size = int(state["ptr"]), n
