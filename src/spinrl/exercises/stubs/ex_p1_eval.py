"""Exercise p1.eval: iterative policy evaluation (docs/theory/part1.md, eq. 1.8).

The Bellman expectation equation, used as an update until V stops changing:

    V_{k+1}(s) = sum_a pi(a|s) [ R(s, a) + gamma sum_{s'} P(s'|s, a) V_k(s') ]

The MDP comes as arrays (spinrl.tabular's convention): P[s, a, s'] is the probability that
taking a in s leads to s' *and the episode goes on*. A transition that ends the episode has
no mass in P (its reward is in R), so rows of P may sum to less than 1: nothing follows the end.

    from spinrl.tabular import from_gymnasium
    mdp = from_gymnasium("FrozenLake-v1", gamma=0.95)   # mdp.P, mdp.R, mdp.gamma

Check your answer with:  spinrl exercise check p1.eval ex_p1_eval.py
"""

import numpy as np


def evaluate_policy(
    P: np.ndarray, R: np.ndarray, pi: np.ndarray, gamma: float, tol: float = 1e-10
) -> np.ndarray:
    """V^pi by repeating the update above from V_0 = 0 until max_s |V_{k+1} - V_k| < tol.

    P: [S, A, S]; R: [S, A], the expected reward of taking a in s; pi: [S, A], the policy's
    probabilities pi(a|s); gamma: the discount.
    Return: V, shape [S].
    """
    raise NotImplementedError
