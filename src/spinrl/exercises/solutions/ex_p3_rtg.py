"""Exercise p3.rtg, a solution: one backward pass, G_t = r_t + gamma G_{t+1}."""

import numpy as np


def reward_to_go(rewards: np.ndarray, gamma: float) -> np.ndarray:
    """G_t for every step of one episode."""
    out = np.zeros(len(rewards))
    following = 0.0  # G_T: nothing comes after the last step
    for t in reversed(range(len(rewards))):
        following = rewards[t] + gamma * following
        out[t] = following
    return out
