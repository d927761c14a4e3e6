"""Exercise p1.vi, a solution: sweep the Bellman optimality update, then act greedily."""

import numpy as np


def value_iteration(
    P: np.ndarray, R: np.ndarray, gamma: float, tol: float = 1e-10
) -> tuple[np.ndarray, np.ndarray]:
    """V* and a greedy optimal policy."""
    V = np.zeros(P.shape[0])
    while True:
        Q = R + gamma * P @ V
        V_new = Q.max(axis=1)
        if np.max(np.abs(V_new - V)) < tol:
            Q = R + gamma * P @ V_new
            return V_new, Q.argmax(axis=1)
        V = V_new
