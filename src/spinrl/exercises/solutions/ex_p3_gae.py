"""Exercise p3.gae, a solution: one backward pass over the rows, all environments at once."""

import numpy as np


def gae(
    rewards: np.ndarray,
    values: np.ndarray,
    terminated: np.ndarray,
    truncated: np.ndarray,
    final_values: np.ndarray,
    last_values: np.ndarray,
    gamma: float,
    lam: float,
) -> np.ndarray:
    """GAE-lambda advantages of a [T, N] batch."""
    T = len(rewards)
    advantages = np.zeros(rewards.shape)
    following = np.zeros(rewards.shape[1])  # A_{t+1}, within the episode
    for t in reversed(range(T)):
        next_v = values[t + 1] if t + 1 < T else last_values
        next_v = np.where(truncated[t], final_values[t], next_v)
        next_v = np.where(terminated[t], 0.0, next_v)
        delta = rewards[t] + gamma * next_v - values[t]
        ends = terminated[t] | truncated[t]
        following = delta + gamma * lam * np.where(ends, 0.0, following)
        advantages[t] = following
    return advantages
