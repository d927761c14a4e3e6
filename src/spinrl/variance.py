"""How good is each policy-gradient estimator? Measured against the exact gradient.

Part 3 says that reward-to-go and baselines reduce the variance of the policy-gradient
estimate without adding bias. On a tabular environment both halves of that claim can be
measured: tabular.py gives the exact gradient of J for a softmax policy, and each weight
Phi_t gives a Monte Carlo estimate. For each estimator and batch size B this module draws
K independent batches of B episodes and reports

    bias      ||mean_k g_k - grad J||, with the 95% noise floor it should be compared to
    variance  trace of the covariance of the batch estimates g_k
    MSE       mean_k ||g_k - grad J||^2  (= bias^2 + variance, up to sampling error)
    cosine    mean_k cos(g_k, grad J)

Estimators: R(tau), reward-to-go, reward-to-go minus the exact V^pi, reward-to-go minus a
learned V (Monte Carlo state values from an independent batch), exact Q^pi, exact A^pi, and
GAE with the exact V for a sweep of lambda. Every estimate carries the gamma^t factor, so
all of them target the same discounted gradient.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spinrl import returns
from spinrl import tabular as tb
from spinrl.errors import ConfigError

ESTIMATORS = ("total", "rtg", "rtg_minus_exact_v", "rtg_minus_learned_v", "exact_q", "exact_a")


@dataclass
class Row:
    estimator: str
    batch_size: int
    bias: float
    noise_floor: float
    variance: float
    mse: float
    cosine: float


def make_mdp(env: str, gamma: float) -> tb.TabularMDP:
    if env in ("three_state", "3-state"):
        return tb.three_state_mdp(gamma)
    return tb.from_gymnasium(env, gamma=gamma)


def make_policy(mdp: tb.TabularMDP, kind: str, seed: int) -> np.ndarray:
    """theta of a softmax policy: "uniform" (theta = 0) or "random" (theta ~ N(0, 1))."""
    if kind == "uniform":
        return np.zeros((mdp.n_states, mdp.n_actions))
    if kind == "random":
        return np.random.default_rng(seed).normal(size=(mdp.n_states, mdp.n_actions))
    raise ConfigError(f"--policy must be uniform or random, got {kind!r}")


def learned_values(mdp, pi, rng, episodes: int, max_len: int) -> np.ndarray:
    """A learned V: the average discounted return from each visited state, from a batch of
    episodes independent of the ones being estimated (0 for unvisited states)."""
    batch = tb.sample_episodes(mdp, pi, episodes, rng, max_len)
    rtg = returns.reward_to_go(batch.rewards, batch.terminated, batch.truncated, mdp.gamma)
    total = np.zeros(mdp.n_states)
    count = np.zeros(mdp.n_states)
    np.add.at(total, batch.states[batch.valid], rtg[batch.valid])
    np.add.at(count, batch.states[batch.valid], 1)
    return np.divide(total, count, out=np.zeros_like(total), where=count > 0)


def per_episode_estimates(name, mdp, pi, batch, V, V_learned) -> np.ndarray:
    """[episodes, S, A]: one gradient estimate per episode for the named estimator."""
    Q = tb.q_from_v(mdp, V)
    valid = batch.valid
    kind, lam = (name, None) if not name.startswith("gae") else ("gae", float(name[4:]))
    args = (batch.rewards, batch.terminated, batch.truncated, mdp.gamma)
    final_values = V[batch.final_states]
    if kind == "total":
        weights = returns.total_return(*args, final_values=final_values)
    elif kind.startswith("rtg"):
        weights = returns.reward_to_go(*args, final_values=final_values)
        if kind == "rtg_minus_exact_v":
            weights = weights - np.where(valid, V[batch.states], 0.0)
        elif kind == "rtg_minus_learned_v":
            weights = weights - np.where(valid, V_learned[batch.states], 0.0)
    elif kind == "exact_q":
        weights = Q[batch.states, batch.actions]
    elif kind == "exact_a":
        weights = Q[batch.states, batch.actions] - V[batch.states]
    else:
        values = np.where(valid, V[batch.states], 0.0)
        weights = returns.gae(*args[:1], values, *args[1:], lam, final_values=final_values)[0]
    time_discount = 1.0 if kind == "total" else mdp.gamma
    return tb.score_function_estimates(batch, pi, weights, time_discount)


def measure(
    env: str = "three_state",
    gamma: float = 0.9,
    policy: str = "random",
    seed: int = 0,
    batch_sizes=(1, 4, 16, 64),
    batches: int = 200,
    lams=(0.0, 0.5, 0.8, 0.9, 0.95, 1.0),
    max_len: int = 100,
) -> tuple[list[Row], dict]:
    """The table of the module docstring, and the raw batch estimates behind it
    ({(estimator, B): [K, S * A]}) for anyone who wants to check a number."""
    if not 0 < gamma <= 1:
        raise ConfigError(f"gamma must lie in (0, 1], got {gamma}")
    if batches < 2 or min(batch_sizes) < 1:
        raise ConfigError("need at least 2 batches and batch sizes >= 1")
    mdp = make_mdp(env, gamma)
    theta = make_policy(mdp, policy, seed)
    pi = tb.softmax_policy(theta)
    exact = tb.exact_policy_gradient(mdp, theta).reshape(-1)
    V = tb.policy_evaluation(mdp, pi)
    rng = np.random.default_rng(seed + 1)
    V_learned = learned_values(mdp, pi, rng, 1000, max_len)
    names = [*ESTIMATORS, *(f"gae_{lam:g}" for lam in lams)]
    rows, raw = [], {}
    for B in batch_sizes:
        batch = tb.sample_episodes(mdp, pi, batches * B, rng, max_len)
        for name in names:
            per_episode = per_episode_estimates(name, mdp, pi, batch, V, V_learned)
            g = per_episode.reshape(batches, B, -1).mean(1)  # [K, S*A]: one estimate per batch
            raw[name, B] = g
            rows.append(summarize(name, B, g, exact))
    return rows, {"exact": exact, "estimates": raw, "mdp": mdp, "pi": pi}


def summarize(name: str, B: int, g: np.ndarray, exact: np.ndarray) -> Row:
    K = len(g)
    mean = g.mean(0)
    variance = float(np.trace(np.atleast_2d(np.cov(g, rowvar=False))))
    # ||mean - exact|| is > 0 from noise alone: E||noise||^2 = variance / K. An unbiased
    # estimator's bias should stay below about 2 sqrt(variance / K) (the noise floor).
    noise_floor = 2.0 * np.sqrt(variance / K)
    errors = g - exact
    norms = np.linalg.norm(g, axis=1) * np.linalg.norm(exact)
    cosine = np.divide(g @ exact, norms, out=np.zeros(K), where=norms > 0)
    return Row(
        name,
        B,
        float(np.linalg.norm(mean - exact)),
        float(noise_floor),
        variance,
        float((errors**2).sum(1).mean()),
        float(cosine.mean()),
    )


def write_report(rows: list[Row], out_dir: str | os.PathLike, title: str) -> list[Path]:
    """variance.csv and two plots: variance against batch size (log axes, one line per
    estimator) and, for GAE, bias and variance against lambda at the largest batch size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "variance.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(list(Row.__dataclass_fields__))
        for r in rows:
            writer.writerow([getattr(r, k) for k in Row.__dataclass_fields__])
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name in dict.fromkeys(r.estimator for r in rows):
        pts = [(r.batch_size, r.variance) for r in rows if r.estimator == name]
        if name.startswith("gae"):  # the lambda sweep: dashed, shaded by lambda
            style = dict(linestyle="--", color=plt.cm.viridis(0.85 * float(name[4:])))
        else:
            style = dict(linestyle="-")
        ax.plot(*zip(*pts, strict=True), marker="o", label=name, **style)
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="batch size B (episodes)",
        ylabel="variance (trace of covariance)",
        title=title,
    )
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="x-small", ncol=2)
    fig.tight_layout()
    fig.savefig(out / "variance_vs_batch.png", dpi=120)
    plt.close(fig)
    largest = max(r.batch_size for r in rows)
    gae = sorted(
        (float(r.estimator[4:]), r)
        for r in rows
        if r.estimator.startswith("gae") and r.batch_size == largest
    )
    fig, ax = plt.subplots(figsize=(7, 4.5))
    lam = [x for x, _ in gae]
    ax.plot(lam, [r.variance for _, r in gae], marker="o", label="variance")
    ax.plot(lam, [r.bias**2 for _, r in gae], marker="s", label="bias^2")
    ax.plot(lam, [r.noise_floor**2 for _, r in gae], ":", label="(noise floor)^2")
    ax.set(xlabel="lambda", yscale="log", title=f"GAE with the exact V, B = {largest}")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "gae_lambda.png", dpi=120)
    plt.close(fig)
    return [out / "variance.csv", out / "variance_vs_batch.png", out / "gae_lambda.png"]
