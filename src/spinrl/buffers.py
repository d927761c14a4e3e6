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
