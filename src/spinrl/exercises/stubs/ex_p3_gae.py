"""Exercise p3.gae: generalised advantage estimation over a [T, N] batch, with episodes that
end by termination or by a time limit (docs/theory/part3.md, eqs. 3.10, 3.11 and "Where an
episode stops").

    delta_t = r_t + gamma V(s_{t+1}) - V(s_t)
    A_t     = delta_t + gamma lam A_{t+1}      (the sum stops where the episode stops)

Row t, column n is step t of environment n; an episode can end on any row and the next one
starts on the row below. What V(s_{t+1}) is:

- terminated[t, n]: the episode really ended; nothing follows, V(s_{t+1}) = 0.
- truncated[t, n]: a time limit cut it; the state still had a future, worth
  final_values[t, n] (V of the real final observation; values[t + 1, n] belongs to the next
  episode).
- the last row, t = T - 1, neither flag set: the batch ran out mid-episode; V(s_T) is
  last_values[n].
- otherwise: values[t + 1, n].

Check your answer with:  spinrl exercise check p3.gae ex_p3_gae.py
"""

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
    """The GAE-lambda advantages A_t.

    rewards, values (V(s_t)), final_values: [T, N] floats; terminated, truncated: [T, N]
    booleans (never both set); last_values: [N]; gamma, lam: floats in [0, 1].
    Return: [T, N], the advantages.
    """
    raise NotImplementedError
