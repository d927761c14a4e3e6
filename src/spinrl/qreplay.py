"""Replay memory for Q-learning: one-step transitions in, n-step targets out, drawn
uniformly or by priority.

Each vector step writes one row of N transitions (s, a, r, s', terminated, truncated), s'
being the real next observation (the final one where an episode ended, never the reset one).
Slot i holds env i mod N, and the same env's next step sits N slots further on, so the
n-step window of a sampled transition is found by stride, at sampling time:

    G = sum_{k < m} gamma^k r_{t+k},   discount = gamma^m,   bootstrap from s'_{t+m-1}

with the window stopping after n steps, at the end of its episode (a termination ends the
sum, a truncation still bootstraps from the real final observation), or at the newest row
written (spinrl.returns.nstep_returns does the arithmetic). Storing one-step transitions and
computing the windows when sampling keeps n out of what is stored and checkpointed, and
every window is a valid target whatever was written after it.

With prioritized replay (spinrl.prioritized) every slot has a priority; a new transition
gets the largest so far, and the learner sets |TD error| + eps after each update.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from spinrl.prioritized import PrioritizedSampler
from spinrl.returns import nstep_returns


class NStepReplay:
    """First-in-first-out storage of ``size`` transitions from ``num_envs`` envs (rounded up
    to whole rows of N), sampled as n-step transitions; see the module docstring."""

    def __init__(
        self,
        obs_shape: tuple[int, ...],
        size: int,
        num_envs: int,
        n_step: int = 1,
        gamma: float = 0.99,
        prioritized: bool = False,
        alpha: float = 0.6,
        eps: float = 1e-6,
        obs_dtype=np.float32,
    ) -> None:
        """``prioritized``: draw by priority (exponent ``alpha``, p = |TD error| + ``eps``)."""
        self.N, self.n_step, self.gamma = num_envs, n_step, gamma
        self.rows = max(1, math.ceil(size / num_envs))
        self.capacity = self.rows * num_envs
        self.obs = np.zeros((self.capacity, *obs_shape), obs_dtype)
        self.next_obs = np.zeros((self.capacity, *obs_shape), obs_dtype)
        self.actions = np.zeros(self.capacity, np.int64)
        self.rewards = np.zeros(self.capacity, np.float32)
        self.terminated = np.zeros(self.capacity, bool)
        self.truncated = np.zeros(self.capacity, bool)
        self.sampler = PrioritizedSampler(self.capacity, alpha, eps) if prioritized else None
        self.ptr, self.size = 0, 0

    @staticmethod
    def bytes_needed(obs_shape, size: int, num_envs: int, obs_dtype=np.float32) -> int:
        """Bytes the arrays of a replay of ``size`` take (before any is allocated)."""
        capacity = max(1, math.ceil(size / num_envs)) * num_envs
        obs_bytes = int(np.prod(obs_shape)) * np.dtype(obs_dtype).itemsize
        return capacity * (2 * obs_bytes + 8 + 4 + 1 + 1)

    def store(self, obs, actions, rewards, next_obs, terminated, truncated) -> None:
        """One row: the N envs' transitions of one vector step."""
        idx = self.ptr + np.arange(self.N)
        self.obs[idx], self.actions[idx], self.rewards[idx] = obs, actions, rewards
        self.next_obs[idx] = next_obs
        self.terminated[idx], self.truncated[idx] = terminated, truncated
        if self.sampler is not None:
            self.sampler.add(idx)
        self.ptr = (self.ptr + self.N) % self.capacity
        self.size = min(self.size + self.N, self.capacity)

    def windows(self, idx: np.ndarray) -> dict[str, np.ndarray]:
        """The n-step transition starting at each slot in ``idx``: n-step return, discount
        gamma^m, whether the window ended in a termination, and the slot of s'_{t+m-1}."""
        n, B = self.n_step, len(idx)
        if n == 1:  # the window is the transition itself: skip the general arithmetic
            return {
                "returns": self.rewards[idx].astype(np.float64),
                "discounts": np.full(B, self.gamma),
                "terminated": self.terminated[idx],
                "last": idx,
            }
        k = np.arange(n)[:, None]
        slots = (idx[None, :] + k * self.N) % self.capacity  # [n, B]: the same env, later
        newest_row = (self.ptr // self.N - 1) % self.rows
        later_rows = (newest_row - idx // self.N) % self.rows  # rows written after idx's
        cut = k == np.minimum(later_rows, n - 1)[None, :]  # no row after this one yet
        returns, steps, ended = nstep_returns(
            self.rewards[slots],
            self.terminated[slots],
            self.truncated[slots] | cut,
            self.gamma,
            n,
        )
        steps = steps[0]
        return {
            "returns": returns[0],
            "discounts": self.gamma ** steps.astype(np.float64),
            "terminated": ended[0],
            "last": slots[steps - 1, np.arange(B)],
        }

    def sample(
        self, batch_size: int, rng: np.random.Generator, beta: float = 1.0
    ) -> tuple[dict[str, torch.Tensor], np.ndarray]:
        """(batch, slots): a minibatch of n-step transitions, drawn uniformly or, with a
        sampler, by priority with importance weights for ``beta`` (all 1 when uniform)."""
        if self.sampler is not None:
            idx, weights = self.sampler.sample(batch_size, self.size, beta, rng)
        else:
            idx, weights = rng.integers(0, self.size, size=batch_size), np.ones(batch_size)
        w = self.windows(idx)
        batch = {
            "obs": torch.from_numpy(self.obs[idx]),
            "actions": torch.from_numpy(self.actions[idx]),
            "returns": torch.from_numpy(w["returns"].astype(np.float32)),
            "discounts": torch.from_numpy(w["discounts"].astype(np.float32)),
            "next_obs": torch.from_numpy(self.next_obs[w["last"]]),
            "terminated": torch.from_numpy(w["terminated"].astype(np.float32)),
            "weights": torch.from_numpy(weights.astype(np.float32)),
        }
        return batch, idx

    def update_priorities(self, idx: np.ndarray, td_errors: np.ndarray) -> None:
        self.sampler.update(idx, td_errors)

    KEYS = ("obs", "next_obs", "actions", "rewards", "terminated", "truncated")

    def state_dict(self) -> dict:
        state = {key: getattr(self, key)[: self.size].copy() for key in self.KEYS}
        state |= {"ptr": self.ptr, "size": self.size}
        if self.sampler is not None:
            state["priorities"] = self.sampler.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        n = int(state["size"])
        for key in self.KEYS:
            getattr(self, key)[:n] = np.asarray(state[key])
        self.ptr, self.size = int(state["ptr"]), n
        if self.sampler is not None:
            self.sampler.load_state_dict(state["priorities"])
