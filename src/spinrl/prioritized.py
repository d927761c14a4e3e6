"""Proportional prioritized sampling (Schaul et al. 2016, "Prioritized Experience Replay").

Transition i is drawn with probability

    P(i) = p_i^alpha / sum_k p_k^alpha,        p_i = |delta_i| + eps           (PER eq. 1)

where delta_i is its latest TD error (new transitions get the largest priority seen so far,
so each is replayed at least once soon). The bias this brings into the expected update is
corrected by importance-sampling weights

    w_i = (M P(i))^(-beta) / max_j w_j = (P(i) / min_j P(j))^(-beta)

over the M transitions stored, with beta annealed from beta_0 to 1 by the end of training.
Dividing by the largest weight only ever scales updates down.

A sum tree holds the p_i^alpha at its leaves and every inner node the sum of its two
children, so the total is the root and drawing the transition whose cumulative priority
first exceeds a number u is one walk from the root: O(log M) per draw and per update, done
here for a whole batch at once (one numpy step per tree level). Draws are stratified as in
the paper: the range [0, total) is cut into B equal segments and one u drawn in each.
"""

from __future__ import annotations

import numpy as np


class SumTree:
    """Leaves ``0 .. capacity - 1`` with non-negative values; ``total`` is their sum and
    ``find(u)`` the leaf whose cumulative sum interval [c_{i-1}, c_i) holds u."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.leaves = 1 << max(0, (capacity - 1).bit_length())  # a power of two >= capacity
        self.tree = np.zeros(2 * self.leaves, np.float64)  # node 1 is the root; i -> 2i, 2i+1

    @staticmethod
    def bytes_needed(capacity: int) -> int:
        """Bytes the tree of ``capacity`` leaves takes."""
        return 2 * (1 << max(0, (capacity - 1).bit_length())) * 8

    @property
    def total(self) -> float:
        return float(self.tree[1])

    def values(self, idx: np.ndarray) -> np.ndarray:
        return self.tree[self.leaves + np.asarray(idx)]

    def update(self, idx: np.ndarray, values: np.ndarray) -> None:
        """Set the leaves ``idx`` to ``values`` (the last wins for a repeated index), then
        recompute the sums above them, level by level."""
        nodes = self.leaves + np.asarray(idx, np.int64)
        self.tree[nodes] = values
        nodes = np.unique(nodes >> 1)
        while nodes[0] >= 1:  # up to the root, node 1
            self.tree[nodes] = self.tree[2 * nodes] + self.tree[2 * nodes + 1]
            nodes = np.unique(nodes >> 1)

    def find(self, u: np.ndarray) -> np.ndarray:
        """For each u in [0, total): the leaf i with sum_{j<i} v_j <= u < sum_{j<=i} v_j."""
        u = np.array(u, np.float64)
        nodes = np.ones(len(u), np.int64)
        while nodes[0] < self.leaves:
            left = self.tree[2 * nodes]
            # Rounding can leave u a hair above a subtree's sum: never walk into an empty one.
            right = (u >= left) & (self.tree[2 * nodes + 1] > 0)
            u -= np.where(right, left, 0.0)
            nodes = 2 * nodes + right
        return nodes - self.leaves

    def state_dict(self) -> dict:
        return {"tree": self.tree.copy()}

    def load_state_dict(self, state: dict) -> None:
        tree = np.asarray(state["tree"], np.float64)
        if tree.shape != self.tree.shape:
            raise ValueError(f"sum tree of {len(tree)} nodes, expected {len(self.tree)}")
        self.tree[:] = tree


def importance_weights(probs: np.ndarray, min_prob: float, beta: float) -> np.ndarray:
    """w_i = (P(i) / min_j P(j))^(-beta): the module docstring's weights, largest 1."""
    return (np.asarray(probs, np.float64) / min_prob) ** -beta


def annealed_beta(beta0: float, progress: float) -> float:
    """beta grows linearly from beta0 at the start of training to 1 at its end."""
    return beta0 + (1.0 - beta0) * min(max(progress, 0.0), 1.0)


class PrioritizedSampler:
    """Priorities for the slots of a replay buffer of ``capacity`` transitions: ``add`` gives
    new transitions the largest priority so far, ``sample`` draws slots with probability
    P(i) and returns their importance weights, ``update`` sets p_i = |delta_i| + eps."""

    def __init__(self, capacity: int, alpha: float, eps: float) -> None:
        self.tree = SumTree(capacity)
        self.alpha, self.eps = alpha, eps
        self.max_priority = 1.0  # p, before the exponent alpha

    def add(self, idx: np.ndarray) -> None:
        self.tree.update(idx, np.full(len(idx), self.max_priority**self.alpha))

    def sample(
        self, batch_size: int, size: int, beta: float, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """(slots, weights): one draw in each of ``batch_size`` equal segments of the total
        priority of the ``size`` slots filled (slots 0 .. size - 1); slots of priority 0
        (removed) are never drawn and not counted in the smallest P(j)."""
        total = self.tree.total
        bounds = np.arange(batch_size) * (total / batch_size)
        u = bounds + rng.random(batch_size) * (total / batch_size)
        idx = np.minimum(self.tree.find(np.minimum(u, np.nextafter(total, 0.0))), size - 1)
        leaves = self.tree.tree[self.tree.leaves : self.tree.leaves + size]
        probs = self.tree.values(idx) / total
        return idx, importance_weights(probs, leaves[leaves > 0].min() / total, beta)

    def remove(self, idx: np.ndarray) -> None:
        """Priority 0 for slots whose transitions are gone: they are drawn no more."""
        if len(idx):
            self.tree.update(idx, np.zeros(len(idx)))

    def update(self, idx: np.ndarray, td_errors: np.ndarray) -> None:
        priorities = np.abs(np.asarray(td_errors, np.float64)) + self.eps
        self.max_priority = max(self.max_priority, float(priorities.max()))
        self.tree.update(idx, priorities**self.alpha)

    def state_dict(self) -> dict:
        return {**self.tree.state_dict(), "max_priority": self.max_priority}

    def load_state_dict(self, state: dict) -> None:
        self.tree.load_state_dict(state)
        self.max_priority = float(state["max_priority"])
