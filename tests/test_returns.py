"""returns.py against a plain per-trajectory computation written from the definitions.

The reference below walks each column, cuts it into episodes by hand, and evaluates every
quantity as an explicit double sum (no recursion, no vectorisation), so it shares no code
path with the implementation.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from spinrl import returns as R


def reference(rewards, values, terminated, truncated, final_values, last_values, gamma, lam):
    T, N = rewards.shape
    out = {k: np.zeros((T, N)) for k in ("total", "rtg", "q", "gae")}
    for n in range(N):
        start = 0
        for t in range(T):
            if not (terminated[t, n] or truncated[t, n] or t == T - 1):
                continue
            if terminated[t, n]:
                boot = 0.0
            elif truncated[t, n]:
                boot = final_values[t, n]
            else:
                boot = last_values[n]
            steps = list(range(start, t + 1))
            rs = [rewards[k, n] for k in steps]
            vs = [values[k, n] for k in steps]
            L = len(steps)
            v_next = [*vs[1:], boot]
            total = sum(gamma**j * rs[j] for j in range(L)) + gamma**L * boot
            deltas = [rs[i] + gamma * v_next[i] - vs[i] for i in range(L)]
            for i, k in enumerate(steps):
                out["total"][k, n] = total
                out["rtg"][k, n] = (
                    sum(gamma ** (j - i) * rs[j] for j in range(i, L)) + gamma ** (L - i) * boot
                )
                out["q"][k, n] = rs[i] + gamma * v_next[i]
                out["gae"][k, n] = sum((gamma * lam) ** (j - i) * deltas[j] for j in range(i, L))
            start = t + 1
    return out


@st.composite
def batches(draw):
    T = draw(st.integers(1, 12))
    N = draw(st.integers(1, 4))
    floats = st.floats(-10, 10, allow_nan=False, width=32)
    rewards = draw(arrays(np.float64, (T, N), elements=floats))
    values = draw(arrays(np.float64, (T, N), elements=floats))
    final_values = draw(arrays(np.float64, (T, N), elements=floats))
    last_values = draw(arrays(np.float64, (N,), elements=floats))
    terminated = draw(arrays(np.bool_, (T, N)))
    truncated = draw(arrays(np.bool_, (T, N)))
    gamma = draw(st.floats(0.0, 1.0))
    lam = draw(st.floats(0.0, 1.0))
    return rewards, values, terminated, truncated, final_values, last_values, gamma, lam


@settings(max_examples=300, deadline=None)
@given(batches())
def test_every_weight_matches_per_episode_double_sums(batch):
    rewards, values, term, trunc, final_v, last_v, gamma, lam = batch
    ref = reference(rewards, values, term, trunc, final_v, last_v, gamma, lam)
    kw = dict(final_values=final_v, last_values=last_v)
    rtg = R.reward_to_go(rewards, term, trunc, gamma, **kw)
    np.testing.assert_allclose(rtg, ref["rtg"], rtol=1e-9, atol=1e-9)
    total = R.total_return(rewards, term, trunc, gamma, **kw)
    np.testing.assert_allclose(total, ref["total"], rtol=1e-9, atol=1e-9)
    q = R.q_estimate(rewards, values, term, trunc, gamma, **kw)
    np.testing.assert_allclose(q, ref["q"], rtol=1e-9, atol=1e-9)
    adv, targets = R.gae(rewards, values, term, trunc, gamma, lam, **kw)
    np.testing.assert_allclose(adv, ref["gae"], rtol=1e-9, atol=1e-8)
    np.testing.assert_allclose(targets, ref["gae"] + values, rtol=1e-9, atol=1e-8)
    weights = {
        "total": ref["total"],
        "rtg": ref["rtg"],
        "rtg_baseline": ref["rtg"] - values,
        "q": ref["q"],
        "advantage": ref["q"] - values,
        "gae": ref["gae"],
    }
    for kind, expected in weights.items():
        got = R.policy_gradient_weights(kind, rewards, term, trunc, gamma, lam, values, **kw)
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-8, err_msg=kind)


@settings(max_examples=100, deadline=None)
@given(batches())
def test_one_column_1d_input_equals_2d_input(batch):
    rewards, values, term, trunc, final_v, last_v, gamma, lam = batch
    one = R.gae(
        rewards[:, 0], values[:, 0], term[:, 0], trunc[:, 0], gamma, lam, final_v[:, 0], last_v[0]
    )[0]
    two = R.gae(
        rewards[:, :1],
        values[:, :1],
        term[:, :1],
        trunc[:, :1],
        gamma,
        lam,
        final_v[:, :1],
        last_v[:1],
    )[0]
    np.testing.assert_allclose(one, two[:, 0])


def test_discount_cumsum_closed_form_geometric_series():
    # sum_{k >= t} g^(k-t) * 1 over T - t terms = (1 - g^(T-t)) / (1 - g)
    g, T = 0.9, 50
    y = R.discount_cumsum(np.ones(T), g)
    t = np.arange(T)
    np.testing.assert_allclose(y, (1 - g ** (T - t)) / (1 - g), rtol=1e-12)


def test_truncation_bootstraps_from_final_value_and_termination_does_not():
    # One env, two episodes: the first truncated at t=1, the second terminated at t=3.
    rewards = np.array([1.0, 1.0, 1.0, 1.0])
    terminated = np.array([False, False, False, True])
    truncated = np.array([False, True, False, False])
    values = np.array([5.0, 5.0, 99.0, 99.0])  # 99 = value of the *reset* observations
    final_values = np.array([0.0, 7.0, 0.0, 0.0])  # V(real final observation) = 7
    rtg = R.reward_to_go(rewards, terminated, truncated, 0.5, final_values, last_values=123.0)
    # Episode 1: G_1 = 1 + .5 * 7, G_0 = 1 + .5 * G_1. Episode 2 ends for real: no bootstrap.
    assert rtg[1] == pytest.approx(4.5)
    assert rtg[0] == pytest.approx(3.25)
    assert rtg[3] == pytest.approx(1.0)
    assert rtg[2] == pytest.approx(1.5)
    nxt = R.next_values(values, terminated, truncated, final_values, last_values=123.0)
    np.testing.assert_allclose(nxt, [5.0, 7.0, 99.0, 0.0])


def test_batch_end_bootstraps_from_last_values():
    rewards = np.ones((3, 2))
    flags = np.zeros((3, 2), bool)
    rtg = R.reward_to_go(rewards, flags, flags, 1.0, last_values=np.array([10.0, -3.0]))
    np.testing.assert_allclose(rtg[0], [13.0, 0.0])


def test_unknown_kind_and_missing_values_are_errors():
    z = np.zeros(3)
    with pytest.raises(ValueError, match="unknown Phi_t kind"):
        R.policy_gradient_weights("nope", z, z.astype(bool), z.astype(bool))
    with pytest.raises(ValueError, match="needs values"):
        R.policy_gradient_weights("gae", z, z.astype(bool), z.astype(bool))


def test_explained_variance_against_its_definition():
    rng = np.random.default_rng(0)
    target = rng.normal(size=(16, 4))
    assert R.explained_variance(target, target) == 1.0
    assert R.explained_variance(np.full_like(target, target.mean()), target) == (pytest.approx(0.0))
    pred = target + rng.normal(size=target.shape)
    expected = 1 - np.var(target - pred) / np.var(target)
    assert R.explained_variance(pred, target) == pytest.approx(expected)
    assert np.isnan(R.explained_variance(pred, np.ones_like(target)))
