"""Returns and the policy-gradient weights Phi_t of Part 3, over batches shaped [T, N].

Row t, column n holds step t of vector environment n. Episodes end anywhere in a column and
a new one starts on the next row, so every function here works on segments: a discounted sum
never crosses the end of an episode. How the future is valued where a segment stops
(docs/theory/part3.md, "Where an episode stops"):

- ``terminated[t, n]``: the episode really ended. Nothing follows: V(s_{t+1}) = 0.
- ``truncated[t, n]``: a time limit stopped it, but the state still had a future. Its value is
  V of the *real* final observation, passed in ``final_values[t, n]``. (Gymnasium's vector
  autoreset hands back the reset observation in its place; that one belongs to the next
  episode and must not be used.)
- the last row, neither flag set: the batch ran out mid-episode. Bootstrap from
  ``last_values[n]`` = V(s_T), the value of the observation the next batch starts from.

Without a critic (``final_values`` or ``last_values`` left as None) the future is valued at 0,
which is what the critic-free weights R(tau) and reward-to-go do.

All functions accept [T] (one environment) or [T, N] arrays and return float64 arrays of the
same shape.
"""

from __future__ import annotations

import numpy as np

PHI_KINDS = ("total", "rtg", "rtg_baseline", "q", "advantage", "gae")
"""The weights Phi_t that :func:`policy_gradient_weights` computes (docs/theory/part3.md,
eq. 3.7)."""

NEEDS_CRITIC = frozenset({"rtg_baseline", "q", "advantage", "gae"})


def discount_cumsum(x: np.ndarray, discount: float) -> np.ndarray:
    """y[t] = sum_{k >= t} discount^(k - t) x[k], along axis 0 (no episode boundaries)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.empty_like(x)
    running = np.zeros_like(x[0]) if len(x) else 0.0
    for t in range(len(x) - 1, -1, -1):
        running = x[t] + discount * running
        y[t] = running
    return y


def _as_2d(*arrays):
    """View [T] arrays as [T, 1]; remember whether to squeeze the result back."""
    squeeze = np.ndim(arrays[0]) == 1
    out = []
    for a in arrays:
        if a is None:
            out.append(None)
            continue
        a = np.asarray(a)
        out.append(a[:, None] if squeeze and a.ndim == 1 else a)
    return squeeze, out


def _shape_back(squeeze: bool, y: np.ndarray) -> np.ndarray:
    return y[:, 0] if squeeze else y


def bootstrap_values(
    terminated: np.ndarray,
    truncated: np.ndarray,
    final_values: np.ndarray | None = None,
    last_values: np.ndarray | None = None,
) -> np.ndarray:
    """The value of the future where a segment stops, by the rules in the module docstring.

    Only the rows where an episode ends, and the last row, are meaningful; other rows are 0.
    """
    squeeze, (term, trunc, final_v) = _as_2d(terminated, truncated, final_values)
    boot = np.zeros(term.shape, dtype=np.float64)
    if last_values is not None:
        boot[-1] = last_values
    if final_v is not None:
        boot = np.where(trunc, final_v, boot)
    else:
        boot = np.where(trunc, 0.0, boot)
    boot = np.where(term, 0.0, boot)
    return _shape_back(squeeze, boot)


def next_values(
    values: np.ndarray,
    terminated: np.ndarray,
    truncated: np.ndarray,
    final_values: np.ndarray | None = None,
    last_values: np.ndarray | None = None,
) -> np.ndarray:
    """V(s_{t+1}) for every step: values[t + 1] inside an episode, the bootstrap where it stops."""
    boot = bootstrap_values(terminated, truncated, final_values, last_values)
    squeeze, (v, term, trunc, boot) = _as_2d(values, terminated, truncated, boot)
    nxt = np.empty(v.shape, dtype=np.float64)
    nxt[:-1] = v[1:]
    stops = np.asarray(term, bool) | np.asarray(trunc, bool)
    stops[-1] = True
    nxt = np.where(stops, boot, nxt)
    return _shape_back(squeeze, nxt)


def _segment_discounted_sum(x, discount, stops, tail):
    """y[t] = x[t] + discount * (tail[t] if the segment stops at t else y[t + 1])."""
    y = np.empty(x.shape, dtype=np.float64)
    following = tail[-1]
    for t in range(len(x) - 1, -1, -1):
        following = np.where(stops[t], tail[t], following)
        y[t] = x[t] + discount * following
        following = y[t]
    return y


def _stops(terminated, truncated):
    stops = np.asarray(terminated, bool) | np.asarray(truncated, bool)
    stops[-1] = True
    return stops


def reward_to_go(
    rewards: np.ndarray,
    terminated: np.ndarray,
    truncated: np.ndarray,
    gamma: float = 1.0,
    final_values: np.ndarray | None = None,
    last_values: np.ndarray | None = None,
) -> np.ndarray:
    """Discounted reward-to-go G_t = sum_{k >= t} gamma^(k-t) r_k within the episode (eq. 3.5).

    Where the episode is truncated or cut by the end of the batch, the sum continues with the
    bootstrap value (0 without a critic).
    """
    boot = bootstrap_values(terminated, truncated, final_values, last_values)
    squeeze, (r, term, trunc, boot) = _as_2d(rewards, terminated, truncated, boot)
    y = _segment_discounted_sum(r.astype(np.float64), gamma, _stops(term, trunc), boot)
    return _shape_back(squeeze, y)


def total_return(
    rewards: np.ndarray,
    terminated: np.ndarray,
    truncated: np.ndarray,
    gamma: float = 1.0,
    final_values: np.ndarray | None = None,
    last_values: np.ndarray | None = None,
) -> np.ndarray:
    """R(tau) at every step: the discounted return of the whole episode segment (eq. 3.3).

    A segment that began before the batch (the env carried over from the previous batch) is
    treated as a trajectory starting at its first row in the batch: the actions before it are
    not in this batch either.
    """
    rtg = reward_to_go(rewards, terminated, truncated, gamma, final_values, last_values)
    squeeze, (rtg, term, trunc) = _as_2d(rtg, terminated, truncated)
    ends = np.asarray(term, bool) | np.asarray(trunc, bool)
    out = np.empty_like(rtg)
    current = rtg[0]
    for t in range(len(rtg)):
        if t > 0:
            current = np.where(ends[t - 1], rtg[t], current)
        out[t] = current
    return _shape_back(squeeze, out)


def q_estimate(
    rewards: np.ndarray,
    values: np.ndarray,
    terminated: np.ndarray,
    truncated: np.ndarray,
    gamma: float,
    final_values: np.ndarray | None = None,
    last_values: np.ndarray | None = None,
) -> np.ndarray:
    """One-step estimate of Q^pi(s_t, a_t) = r_t + gamma V(s_{t+1}), bootstrapped as above."""
    nxt = next_values(values, terminated, truncated, final_values, last_values)
    return np.asarray(rewards, dtype=np.float64) + gamma * nxt


def gae(
    rewards: np.ndarray,
    values: np.ndarray,
    terminated: np.ndarray,
    truncated: np.ndarray,
    gamma: float,
    lam: float,
    final_values: np.ndarray | None = None,
    last_values: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """GAE-lambda advantages and the value targets that go with them (eq. 3.11).

    delta_t = r_t + gamma V(s_{t+1}) - V(s_t); A_t = sum_l (gamma lam)^l delta_{t+l} within the
    episode. The value targets are the lambda-returns A_t + V(s_t). lam = 0 gives the TD
    residual, lam = 1 the bootstrapped reward-to-go minus V(s_t).
    """
    values = np.asarray(values, dtype=np.float64)
    deltas = q_estimate(rewards, values, terminated, truncated, gamma, final_values, last_values)
    deltas = deltas - values
    squeeze, (d, term, trunc) = _as_2d(deltas, terminated, truncated)
    adv = _segment_discounted_sum(d, gamma * lam, _stops(term, trunc), np.zeros_like(d))
    adv = _shape_back(squeeze, adv)
    return adv, adv + values


def policy_gradient_weights(
    kind: str,
    rewards: np.ndarray,
    terminated: np.ndarray,
    truncated: np.ndarray,
    gamma: float = 1.0,
    lam: float = 0.97,
    values: np.ndarray | None = None,
    final_values: np.ndarray | None = None,
    last_values: np.ndarray | None = None,
) -> np.ndarray:
    """Phi_t for the policy gradient sum_t grad log pi(a_t|s_t) Phi_t, by name.

    total         R(tau), the return of the whole episode
    rtg           reward-to-go G_t
    rtg_baseline  G_t - V(s_t), reward-to-go minus a state-dependent baseline
    q             r_t + gamma V(s_{t+1}), a one-step estimate of Q^pi(s_t, a_t)
    advantage     r_t + gamma V(s_{t+1}) - V(s_t), the TD residual (GAE with lam = 0)
    gae           GAE-lambda advantage
    """
    if kind not in PHI_KINDS:
        raise ValueError(f"unknown Phi_t kind {kind!r}; choose one of {', '.join(PHI_KINDS)}")
    if kind in NEEDS_CRITIC and values is None:
        raise ValueError(f"Phi_t kind {kind!r} needs values V(s_t)")
    args = (terminated, truncated)
    boot = dict(final_values=final_values, last_values=last_values)
    if kind == "total":
        return total_return(rewards, *args, gamma, **boot)
    if kind == "rtg":
        return reward_to_go(rewards, *args, gamma, **boot)
    if kind == "rtg_baseline":
        return reward_to_go(rewards, *args, gamma, **boot) - np.asarray(values, np.float64)
    if kind == "q":
        return q_estimate(rewards, values, *args, gamma, **boot)
    if kind == "advantage":
        return q_estimate(rewards, values, *args, gamma, **boot) - np.asarray(values, np.float64)
    return gae(rewards, values, *args, gamma, lam, **boot)[0]


def explained_variance(pred: np.ndarray, target: np.ndarray) -> float:
    """1 - Var[target - pred] / Var[target]: how much of the return a critic explains (1 is
    all of it, 0 no more than a constant); NaN when the targets do not vary."""
    pred, target = np.ravel(pred), np.ravel(target)
    var = float(np.var(target))
    return float("nan") if var == 0 else 1.0 - float(np.var(target - pred)) / var


def nstep_returns(
    rewards: np.ndarray,
    terminated: np.ndarray,
    truncated: np.ndarray,
    gamma: float,
    n: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The n-step returns of Q-learning's targets (DQN with n-step returns, Rainbow).

    For every row t the window runs over rows t, t+1, ..., t+m-1 of its column, where m is
    the smallest of n, the steps to the end of the episode (its terminating or truncating
    step included), and the rows left in the array:

        G_t = sum_{k < m} gamma^k r_{t+k}
        y_t = G_t + gamma^m (1 - terminated_{t+m-1}) max_a Q(s_{t+m}, a)

    where s_{t+m} is the *real* next observation of row t+m-1: at a truncation the final
    observation (its value still counts), at a termination nothing (the sum stops), and
    where the rows run out the window is simply shorter. Returns (G, m, ended) with
    ``ended[t] = terminated[t+m-1]``, as float64, int64 and bool arrays of the input's shape.
    """
    squeeze, (r, term, trunc) = _as_2d(rewards, terminated, truncated)
    r = r.astype(np.float64)
    term, stops = np.asarray(term, bool), np.asarray(term, bool) | np.asarray(trunc, bool)
    T = len(r)
    returns = np.zeros(r.shape, np.float64)
    steps = np.zeros(r.shape, np.int64)
    ended = np.zeros(r.shape, bool)
    alive = np.ones(r.shape, bool)  # the window of row t still runs at offset k
    for k in range(min(n, T)):
        rows = T - k  # rows t < T - k have a row t + k
        live = alive[:rows]
        returns[:rows] += np.where(live, gamma**k * r[k:], 0.0)
        steps[:rows] += live
        ended[:rows] |= live & term[k:]
        alive[:rows] &= ~stops[k:]
        alive[rows:] = False
    return tuple(_shape_back(squeeze, a) for a in (returns, steps, ended))
