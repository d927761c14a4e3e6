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

Image observations (``frame_stack`` given) go to spinrl.buffers.FrameRings, which store every
frame once instead of s and s' whole: an Atari transition then takes one 84x84 frame (plus
3% slack) instead of eight. The rings can drop the oldest transitions of an env a little
before their slots are written again (where short episodes used up the slack, see
FrameRings); those are no longer drawn (uniform draws go over the transitions held, and
their priorities are set to 0). Everything else, the windows included, is the same code.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from spinrl.buffers import FrameRings
from spinrl.prioritized import PrioritizedSampler, SumTree
from spinrl.returns import nstep_returns


class NStepReplay:
    """First-in-first-out storage of ``size`` transitions from ``num_envs`` envs (rounded up
    to whole rows of N), sampled as n-step transitions; see the module docstring. Slot
    i = row * N + env."""

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
        frame_stack: int | None = None,
    ) -> None:
        """``prioritized``: draw by priority (exponent ``alpha``, p = |TD error| + ``eps``).
        ``frame_stack``: None stores obs and next obs whole; k stores image observations of
        k stacked frames (1: an unstacked image) in FrameRings, each frame once."""
        self.N, self.n_step, self.gamma = num_envs, n_step, gamma
        self.rows = max(1, math.ceil(size / num_envs))
        self.capacity = self.rows * num_envs
        if frame_stack is None:
            self.rings = None
            self.obs = np.zeros((self.capacity, *obs_shape), obs_dtype)
            self.next_obs = np.zeros((self.capacity, *obs_shape), obs_dtype)
        else:
            self.rings = FrameRings(obs_shape, obs_dtype, self.rows, num_envs, frame_stack)
        self.actions = np.zeros(self.capacity, np.int64)
        self.rewards = np.zeros(self.capacity, np.float32)
        self.terminated = np.zeros(self.capacity, bool)
        self.truncated = np.zeros(self.capacity, bool)
        self.sampler = PrioritizedSampler(self.capacity, alpha, eps) if prioritized else None
        self.ptr, self.size = 0, 0

    @staticmethod
    def bytes_needed(
        obs_shape,
        size: int,
        num_envs: int,
        obs_dtype=np.float32,
        frame_stack: int | None = None,
        prioritized: bool = False,
    ) -> int:
        """Bytes the arrays of a replay of ``size`` take (before any is allocated)."""
        rows = max(1, math.ceil(size / num_envs))
        capacity = rows * num_envs
        if frame_stack is None:
            obs = 2 * capacity * int(np.prod(obs_shape)) * np.dtype(obs_dtype).itemsize
        else:
            obs = FrameRings.bytes_needed(obs_shape, obs_dtype, rows, num_envs, frame_stack)
        tree = SumTree.bytes_needed(capacity) if prioritized else 0
        return obs + capacity * (8 + 4 + 1 + 1) + tree

    @property
    def nbytes(self) -> int:
        """Bytes the arrays of this replay take."""
        arrays = [self.actions, self.rewards, self.terminated, self.truncated]
        arrays += [self.obs, self.next_obs] if self.rings is None else []
        tree = self.sampler.tree.tree.nbytes if self.sampler is not None else 0
        rings = self.rings.nbytes if self.rings is not None else 0
        return sum(a.nbytes for a in arrays) + tree + rings

    def held(self) -> np.ndarray:
        """The slots of every transition that can be drawn now."""
        if self.rings is None:
            return np.arange(self.size)
        rows, envs, _ = self.rings.held()
        return np.sort(rows * self.N + envs)

    def store(self, obs, actions, rewards, next_obs, terminated, truncated) -> None:
        """One row: the N envs' transitions of one vector step."""
        idx = self.ptr + np.arange(self.N)
        if self.rings is None:
            self.obs[idx], self.next_obs[idx] = obs, next_obs
        else:
            kept_from = self.rings.valid_from.copy()
            self.rings.store(obs, next_obs)
            if self.sampler is not None:
                self.sampler.remove(self._dropped(kept_from))
        self.actions[idx], self.rewards[idx] = actions, rewards
        self.terminated[idx], self.truncated[idx] = terminated, truncated
        if self.sampler is not None:
            self.sampler.add(idx)
        self.ptr = (self.ptr + self.N) % self.capacity
        self.size = min(self.size + self.N, self.capacity)

    def _dropped(self, kept_from: np.ndarray) -> np.ndarray:
        """Slots of the transitions the rings' last store dropped (not the one rewritten)."""
        t, valid_from = self.rings.t, self.rings.valid_from
        steps = [
            np.arange(max(int(k), t - self.rows), int(v))
            for k, v in zip(kept_from, valid_from, strict=True)
        ]
        envs = [np.full(len(s), n) for n, s in enumerate(steps)]
        return np.concatenate(steps) % self.rows * self.N + np.concatenate(envs)

    def _obs(self, idx: np.ndarray, which: str) -> np.ndarray:
        """The observations (``which`` = "obs") or real next observations of slots ``idx``."""
        if self.rings is None:
            return np.take(getattr(self, which), idx, axis=0)  # faster than [idx] (buffers.py)
        return getattr(self.rings, which)(idx // self.N, idx % self.N)

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

    def get(self, idx: np.ndarray) -> dict[str, np.ndarray]:
        """The n-step transitions starting at slots ``idx``, as numpy arrays: obs, actions,
        returns, discounts, next_obs (s'_{t+m-1}) and terminated."""
        w = self.windows(idx)
        return {
            "obs": self._obs(idx, "obs"),
            "actions": self.actions[idx],
            "returns": w["returns"].astype(np.float32),
            "discounts": w["discounts"].astype(np.float32),
            "next_obs": self._obs(w["last"], "next_obs"),
            "terminated": w["terminated"].astype(np.float32),
        }

    def sample(
        self, batch_size: int, rng: np.random.Generator, beta: float = 1.0
    ) -> tuple[dict[str, torch.Tensor], np.ndarray]:
        """(batch, slots): a minibatch of n-step transitions, drawn uniformly or, with a
        sampler, by priority with importance weights for ``beta`` (all 1 when uniform).
        Where the frame rings dropped transitions, the uniform draw is over those held."""
        if self.sampler is not None:
            idx, weights = self.sampler.sample(batch_size, self.size, beta, rng)
        elif self.rings is not None and self.rings.counts().sum() < self.size:
            rows, envs = self.rings.sample_indices(batch_size, rng)
            idx, weights = rows * self.N + envs, np.ones(batch_size)
        else:
            idx, weights = rng.integers(0, self.size, size=batch_size), np.ones(batch_size)
        batch = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in self.get(idx).items()}
        batch["weights"] = torch.from_numpy(weights.astype(np.float32))
        return batch, idx

    def update_priorities(self, idx: np.ndarray, td_errors: np.ndarray) -> None:
        self.sampler.update(idx, td_errors)

    KEYS = ("actions", "rewards", "terminated", "truncated")

    def state_dict(self) -> dict:
        state = {key: getattr(self, key)[: self.size].copy() for key in self.KEYS}
        state |= {"ptr": self.ptr, "size": self.size}
        if self.rings is None:
            state |= {key: getattr(self, key)[: self.size].copy() for key in ("obs", "next_obs")}
        else:
            state["rings"] = self.rings.state_dict()
        if self.sampler is not None:
            state["priorities"] = self.sampler.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        n = int(state["size"])
        for key in self.KEYS + (("obs", "next_obs") if self.rings is None else ()):
            getattr(self, key)[:n] = np.asarray(state[key])
        if self.rings is not None:
            self.rings.load_state_dict(state["rings"])
        self.ptr, self.size = int(state["ptr"]), n
        if self.sampler is not None:
            self.sampler.load_state_dict(state["priorities"])
