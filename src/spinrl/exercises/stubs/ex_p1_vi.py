"""Exercise p1.vi: value iteration (docs/theory/part1.md, eq. 1.8, the optimality equations).

The Bellman optimality equation, used as an update until V stops changing:

    V_{k+1}(s) = max_a [ R(s, a) + gamma sum_{s'} P(s'|s, a) V_k(s') ]

and once V = V*, the greedy policy pi*(s) = argmax_a Q*(s, a) is optimal. The arrays follow
spinrl.tabular's convention (see exercise p1.eval): P[s, a, s'] holds only the transitions
after which the episode goes on.

    from spinrl.tabular import from_gymnasium
    mdp = from_gymnasium("FrozenLake-v1", gamma=0.95)   # mdp.P, mdp.R, mdp.gamma

Check your answer with:  spinrl exercise check p1.vi ex_p1_vi.py
"""

import numpy as np


def value_iteration(
    P: np.ndarray, R: np.ndarray, gamma: float, tol: float = 1e-10
) -> tuple[np.ndarray, np.ndarray]:
    """V* and an optimal deterministic policy, by value iteration from V_0 = 0.

    P: [S, A, S]; R: [S, A]; gamma: the discount; stop when max_s |V_{k+1} - V_k| < tol.
    Return: (V, policy): V of shape [S], and policy of shape [S], integers, the action
    argmax_a Q*(s, a) in each state.
    """
    raise NotImplementedError
