"""Prioritized replay's sum tree and sampler: the tree's sums and searches against numpy's
cumulative sums, sampling frequencies against P(i) = p_i^alpha / sum_k p_k^alpha by a
chi-square test, importance weights against their formula, priorities from TD errors."""

import math

import numpy as np
import pytest

from spinrl.prioritized import PrioritizedSampler, SumTree, annealed_beta, importance_weights


@pytest.mark.parametrize("capacity", [1, 5, 8, 37])
def test_sum_tree_total_and_search_match_cumulative_sums(capacity):
    rng = np.random.default_rng(capacity)
    tree = SumTree(capacity)
    values = np.zeros(capacity)
    for _ in range(4):  # overwrite random subsets, with repeats, several times
        idx = rng.integers(0, capacity, size=max(1, capacity // 2))
        new = rng.random(len(idx)) + 0.01
        tree.update(idx, new)
        for i, v in zip(idx, new, strict=True):  # the last write of a repeated index wins
            values[i] = v
        assert tree.total == pytest.approx(values.sum(), rel=1e-12)
        u = rng.random(200) * values.sum()
        expected = np.searchsorted(np.cumsum(values), u, side="right")
        np.testing.assert_array_equal(tree.find(u), expected)


def _chi_square_critical(dof: int, z: float = 3.09) -> float:
    """The chi-square quantile for an upper tail of 0.001 (z = 3.09), by Wilson-Hilferty."""
    return dof * (1 - 2 / (9 * dof) + z * math.sqrt(2 / (9 * dof))) ** 3


def test_sampling_frequencies_follow_priorities_to_the_alpha_chi_square():
    rng = np.random.default_rng(0)
    size, alpha = 20, 0.6
    sampler = PrioritizedSampler(32, alpha, eps=0.0)  # 32 slots, 20 filled
    sampler.add(np.arange(size))
    td = rng.uniform(0.05, 3.0, size)
    sampler.update(np.arange(size), td)
    expected_p = td**alpha / (td**alpha).sum()
    draws = 0
    counts = np.zeros(size)
    for _ in range(2000):
        idx, _ = sampler.sample(32, size, beta=0.4, rng=rng)
        counts += np.bincount(idx, minlength=32)[:size]
        draws += len(idx)
    expected = expected_p * draws
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    # Stratified draws vary less than independent ones, so the test errs on the lenient side;
    # sampling by p instead of p^alpha gives chi2 in the thousands here.
    assert chi2 < _chi_square_critical(size - 1), chi2
    wrong = td / td.sum() * draws
    assert float(((counts - wrong) ** 2 / wrong).sum()) > 10 * _chi_square_critical(size - 1)


def test_importance_weights_are_the_papers_formula_over_the_stored_transitions():
    rng = np.random.default_rng(1)
    size, alpha, beta = 10, 0.7, 0.5
    sampler = PrioritizedSampler(16, alpha, eps=1e-6)
    sampler.add(np.arange(size))
    td = rng.uniform(0.0, 2.0, size)
    sampler.update(np.arange(size), td)
    idx, weights = sampler.sample(64, size, beta, rng)
    p = (np.abs(td) + 1e-6) ** alpha
    P = p / p.sum()
    w_all = (size * P) ** -beta  # Schaul et al.: (N P(i))^-beta, divided by the largest
    np.testing.assert_allclose(weights, w_all[idx] / w_all.max(), rtol=1e-10)
    np.testing.assert_allclose(importance_weights(P[idx], P.min(), beta), w_all[idx] / w_all.max())
    assert weights.max() <= 1.0


def test_new_transitions_get_the_largest_priority_seen_and_beta_anneals_to_one():
    sampler = PrioritizedSampler(8, alpha=1.0, eps=0.5)
    sampler.add(np.arange(3))  # max priority starts at 1
    sampler.update(np.array([0, 1]), np.array([3.5, 0.0]))  # p = 4.0 and 0.5
    sampler.add(np.array([3]))
    np.testing.assert_allclose(sampler.tree.values(np.arange(4)), [4.0, 0.5, 1.0, 4.0])
    assert annealed_beta(0.4, 0.0) == 0.4 and annealed_beta(0.4, 0.5) == pytest.approx(0.7)
    assert annealed_beta(0.4, 1.0) == 1.0 and annealed_beta(0.4, 2.0) == 1.0
