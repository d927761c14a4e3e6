"""Exercise p3.rtg: reward-to-go (docs/theory/part3.md, eq. 3.5).

An action can only change the rewards that come after it, so the policy gradient may weight
grad log pi(a_t|s_t) by the reward-to-go instead of the whole return R(tau):

    G_t = sum_{t'=t}^{T-1} gamma^(t'-t) r_{t'}

Check your answer with:  spinrl exercise check p3.rtg ex_p3_rtg.py
"""

import numpy as np


def reward_to_go(rewards: np.ndarray, gamma: float) -> np.ndarray:
    """G_t for every step t of one episode.

    rewards: [T], the rewards r_0 ... r_{T-1} of one whole episode; gamma: the discount.
    Return: [T], G_t at each t (G_{T-1} = r_{T-1}).
    """
    raise NotImplementedError
