"""Exercise p1.eval, a solution: sweep the Bellman expectation update until it settles."""

import numpy as np


def evaluate_policy(
    P: np.ndarray, R: np.ndarray, pi: np.ndarray, gamma: float, tol: float = 1e-10
) -> np.ndarray:
    """V^pi of the policy pi, by iterative policy evaluation."""
    V = np.zeros(P.shape[0])
    while True:
        Q = R + gamma * P @ V  # Q[s, a] = R(s, a) + gamma sum_s' P(s'|s, a) V(s')
        V_new = (pi * Q).sum(axis=1)  # average over the policy's actions
        if np.max(np.abs(V_new - V)) < tol:
            return V_new
        V = V_new
