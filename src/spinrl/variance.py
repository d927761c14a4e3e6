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

TABULAR_DEFAULTS = dict(
    gamma=0.95,
    policy="random",
    batch_sizes=(1, 4, 16, 64),
    batches=200,
    lams=(0.0, 0.5, 0.8, 0.9, 0.95, 1.0),
    max_len=100,
    reference_episodes=None,
)
SAMPLED_DEFAULTS = dict(
    gamma=0.99,
    policy="random",
    batch_sizes=(1, 4, 16),
    batches=100,
    lams=(0.0, 0.5, 0.9, 0.95, 1.0),
    max_len=500,
    reference_episodes=5000,
)
ESTIMATORS = ("total", "rtg", "rtg_minus_exact_v", "rtg_minus_learned_v", "exact_q", "exact_a")

# Each estimator in words: the weight Phi_t it puts on grad log pi(a_t | s_t) in eq. 3.7, and
# the equation of docs/theory/part3.md it comes from.
_WORDS = {
    "total": ("total return R(tau) of the episode", "eq. 3.3"),
    "rtg": ("reward-to-go from step t", "eq. 3.5"),
    "rtg_minus_exact_v": ("reward-to-go minus the exact V^pi baseline", "eq. 3.6"),
    "rtg_minus_learned_v": ("reward-to-go minus {learned}", "eq. 3.6"),
    "exact_q": ("exact Q^pi(s_t, a_t), from the transition table", "eq. 3.7"),
    "exact_a": ("exact A^pi(s_t, a_t) = Q^pi - V^pi", "eq. 3.7, 3.9"),
    "gae": ("GAE with lambda = {lam} and {v}", "eq. 3.11"),
}
LEARNED_V_EPISODES = 1000  # the episodes behind the learned V of measure(), apart from the rest
_LEARNED_V = {
    True: f"a learned V (mean returns of {LEARNED_V_EPISODES} episodes)",
    False: "a learned V (an MLP fit to episodes of its own)",
}


def estimator_legend(names, tabular: bool = True) -> list[tuple[str, str, str]]:
    """(name, its equation in Part 3, the estimator in words) for each name, in order.
    ``tabular``: the values come from the transition table (GAE uses the exact V^pi);
    otherwise GAE uses the learned V of measure_sampled."""
    v = "the exact V^pi" if tabular else "the learned V"
    rows = []
    for name in names:
        kind = "gae" if name.startswith("gae") else name
        words, equation = _WORDS[kind]
        words = words.format(learned=_LEARNED_V[tabular], lam=name[4:], v=v)
        rows.append((name, equation, words))
    return rows


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
    if batches < 2 or min(batch_sizes) < 1 or max_len < 1:
        raise ConfigError("need at least 2 batches, batch sizes >= 1 and max_len >= 1")
    mdp = make_mdp(env, gamma)
    theta = make_policy(mdp, policy, seed)
    pi = tb.softmax_policy(theta)
    exact = tb.exact_policy_gradient(mdp, theta).reshape(-1)
    V = tb.policy_evaluation(mdp, pi)
    rng = np.random.default_rng(seed + 1)
    V_learned = learned_values(mdp, pi, rng, LEARNED_V_EPISODES, max_len)
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
    exact = not np.isnan(gae[0][1].bias) if gae else True
    if exact:
        ax.plot(lam, [r.bias**2 for _, r in gae], marker="s", label="bias^2")
        ax.plot(lam, [r.noise_floor**2 for _, r in gae], ":", label="(noise floor)^2")
    else:
        ax2 = ax.twinx()
        ax2.plot(lam, [r.cosine for _, r in gae], "s-", color="C1", label="cosine to reference")
        ax2.set_ylabel("mean cosine to the large-batch reference")
        ax2.legend(loc="lower right")
    which = "exact" if exact else "learned"
    ax.set(xlabel="lambda", yscale="log", title=f"GAE with the {which} V, B = {largest}")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "gae_lambda.png", dpi=120)
    plt.close(fig)
    return [out / "variance.csv", out / "variance_vs_batch.png", out / "gae_lambda.png"]


# ---------------------------------------------------------------------------------------
# Environments without a transition table (CartPole-v1, Acrobot-v1, Pendulum-v1, ...)
# ---------------------------------------------------------------------------------------
#
# No exact gradient exists there. The reference is instead a large-batch estimate (reward-to-
# go minus the learned V over ``reference_episodes`` episodes), so only the variance and the
# cosine similarity to the reference are reported: a bias measured against an estimate would
# mostly measure the estimate's own noise. The policy is a neural network (random weights or
# a trained one from a run directory) and the gradient is with respect to all its parameters.

SAMPLED_ESTIMATORS = ("total", "rtg", "rtg_minus_learned_v")


def is_tabular(env: str) -> bool:
    """three_state, or a registered Gymnasium env whose unwrapped env exposes a table P."""
    import gymnasium as gym

    if env in ("three_state", "3-state"):
        return True
    if env not in gym.registry:
        from spinrl.envs import make_env

        make_env(env)  # raises the EnvError that names the unknown id
    made = gym.make(env)
    try:
        return isinstance(getattr(made.unwrapped, "P", None), dict)
    finally:
        made.close()


@dataclass
class SampledEpisodes:
    """Episodes in columns, [T, E] (obs [T, E, obs_dim]); every episode starts at row 0."""

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    valid: np.ndarray
    final_obs: np.ndarray  # [T, E, obs_dim]: the observation after each step


def network_policy(env: str, policy: str, seed: int, hid=(64, 64), act="tanh"):
    """(actor, normalizer, action_space): random weights ("random"), a policy with equal
    logits / zero mean ("uniform": last layer zeroed), or the policy of a run directory."""
    import torch

    from spinrl.encoders import flat_obs_dim
    from spinrl.envs import ObsNormalizer, make_env
    from spinrl.evaluate import load_policy
    from spinrl.policies import make_actor

    made = make_env(env)
    obs_space, act_space = made.observation_space, made.action_space
    made.close()
    if policy in ("random", "uniform"):
        torch.manual_seed(seed)
        actor = make_actor(obs_space, act_space, hid, act)
        if policy == "uniform":
            with torch.no_grad():
                actor.net[-1].weight.zero_()
                actor.net[-1].bias.zero_()
        normalizer = ObsNormalizer((flat_obs_dim(obs_space),), enabled=False)
    elif Path(policy).is_dir():
        from spinrl.checkpoint import CONFIG, read_json

        trained_on = read_json(Path(policy) / CONFIG).get("config", {}).get("env")
        if trained_on != env:
            raise ConfigError(f"the policy in {policy} was trained on {trained_on}, not {env}")
        loaded = load_policy(policy)
        actor, normalizer = loaded.actor, loaded.normalizer
        if not hasattr(actor, "log_prob") or not hasattr(actor, "sample"):
            raise ConfigError(
                f"the policy in {policy} is deterministic; the policy gradient needs a "
                "stochastic policy (a pg, vpg, ppo or trpo run)"
            )
    else:
        raise ConfigError(f"--policy must be random, uniform or a run directory, got {policy!r}")
    return actor, normalizer, act_space


def sample_network_episodes(env, actor, normalizer, act_space, n, seed, max_len):
    """n independent episodes of ``actor`` on ``env``, stepped together in one vector env."""
    import gymnasium as gym
    import torch

    from spinrl.envs import check_step
    from spinrl.policies import action_clipper

    try:
        envs = gym.make_vec(env, num_envs=n, vectorization_mode="vector_entry_point")
    except (gym.error.Error, ValueError, TypeError):
        envs = gym.make_vec(env, num_envs=n, vectorization_mode="sync")
    clip = action_clipper(act_space)
    obs, _ = envs.reset(seed=seed)
    torch.manual_seed(seed)
    rows: dict[str, list] = {k: [] for k in SampledEpisodes.__dataclass_fields__}
    alive = np.ones(n, bool)
    try:
        for t in range(max_len):
            x = normalizer(np.asarray(obs, np.float32).reshape(n, -1))
            with torch.no_grad():
                a = actor.sample(torch.from_numpy(x))[0].numpy()
            next_obs, r, term, trunc, _ = envs.step(clip(a))
            check_step(np.where(alive, r, 0.0), next_obs[alive], t)
            trunc = alive & ~term & (trunc | (t == max_len - 1))
            for k, v in (("obs", x), ("actions", a), ("rewards", np.where(alive, r, 0.0))):
                rows[k].append(v)
            rows["terminated"].append(alive & term)
            rows["truncated"].append(trunc)
            rows["valid"].append(alive.copy())
            rows["final_obs"].append(normalizer(np.asarray(next_obs, np.float32).reshape(n, -1)))
            alive = alive & ~term & ~trunc
            obs = next_obs
            if not alive.any():
                break
    finally:
        envs.close()
    return SampledEpisodes(**{k: np.stack(v) for k, v in rows.items()})


def fit_value(
    episodes: SampledEpisodes, gamma: float, seed: int, iters: int = 300, max_states=20_000
):
    """A learned V: an MLP regressed on the Monte Carlo returns of independent episodes."""
    import torch

    from spinrl.policies import VCritic

    torch.manual_seed(seed)
    target = returns.reward_to_go(episodes.rewards, episodes.terminated, episodes.truncated, gamma)
    x = torch.from_numpy(episodes.obs[episodes.valid])
    y = torch.from_numpy(target[episodes.valid]).float()
    keep = torch.randperm(len(x))[:max_states]  # full-batch Adam on at most max_states states
    x, y = x[keep], y[keep]
    critic = VCritic(x.shape[-1])
    opt = torch.optim.Adam(critic.parameters(), lr=3e-3)
    for _ in range(iters):
        loss = ((critic(x) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    def values(obs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            flat = torch.from_numpy(obs.reshape(-1, obs.shape[-1]))
            return critic(flat).numpy().astype(np.float64).reshape(obs.shape[:-1])

    return values


def value_estimates(episodes: SampledEpisodes, values) -> tuple[np.ndarray, np.ndarray]:
    """(V(s_t) [T, E], 0 where no episode runs; V(s_{t+1}) for bootstrapping at time limits),
    evaluated once per batch of episodes and shared by every estimator."""
    return np.where(episodes.valid, values(episodes.obs), 0.0), values(episodes.final_obs)


def network_weights(name, episodes: SampledEpisodes, gamma: float, v, final_values):
    """Phi_t [T, E] for a sampled-estimator name, times c^t (c = gamma, or 1 for R(tau));
    ``v`` and ``final_values`` come from value_estimates."""
    kind, lam = (name, None) if not name.startswith("gae") else ("gae", float(name[4:]))
    args = (episodes.rewards, episodes.terminated, episodes.truncated, gamma)
    if kind == "total":
        return returns.total_return(*args, final_values=final_values)
    if kind == "rtg":
        w = returns.reward_to_go(*args, final_values=final_values)
    elif kind == "rtg_minus_learned_v":
        w = returns.reward_to_go(*args, final_values=final_values) - v
    elif kind == "gae":
        w = returns.gae(episodes.rewards, v, *args[1:], lam, final_values=final_values)[0]
    else:
        raise ConfigError(f"unknown estimator {name!r}")
    return w * gamma ** np.arange(len(w))[:, None]


def per_episode_gradients(actor, episodes: SampledEpisodes, weights: np.ndarray, chunk=4096):
    """[E, P]: sum_t grad_theta log pi(a_t|s_t) Phi_t for each episode (per-step gradients by
    torch.func.vmap, summed into their episodes)."""
    import torch
    from torch.func import functional_call, grad, vmap

    class LogProb(torch.nn.Module):  # functional_call calls forward(): log pi(a|s) here
        def __init__(self) -> None:
            super().__init__()
            self.actor = actor

        def forward(self, x, a):
            return self.actor.log_prob(x, a)

    module = LogProb()
    params = {k: v.detach() for k, v in module.named_parameters()}

    def logp(p, x, a):
        return functional_call(module, p, (x[None], a[None]), strict=False).sum()

    t_idx, e_idx = np.nonzero(episodes.valid)
    x = torch.from_numpy(episodes.obs[t_idx, e_idx])
    a = torch.from_numpy(episodes.actions[t_idx, e_idx])
    w = torch.from_numpy(weights[t_idx, e_idx]).float()
    out = torch.zeros(episodes.valid.shape[1], sum(p.numel() for p in params.values()))
    per_step = vmap(grad(logp), in_dims=(None, 0, 0))
    for lo in range(0, len(x), chunk):
        g = per_step(params, x[lo : lo + chunk], a[lo : lo + chunk])
        flat = torch.cat([v.reshape(len(v), -1) for v in g.values()], 1)
        rows = torch.from_numpy(e_idx[lo : lo + chunk])
        out.index_add_(0, rows, flat * w[lo : lo + chunk, None])
    return out.numpy().astype(np.float64)


def measure_sampled(
    env: str = "CartPole-v1",
    gamma: float = 0.99,
    policy: str = "random",
    seed: int = 0,
    batch_sizes=(1, 4, 16),
    batches: int = 100,
    lams=(0.0, 0.5, 0.9, 0.95, 1.0),
    max_len: int = 500,
    reference_episodes: int = 5000,
    value_episodes: int = 500,
) -> tuple[list[Row], dict]:
    """Rows as in measure(), against a large-batch reference instead of an exact gradient:
    variance and cosine are measured; bias, its noise floor and MSE are NaN (not measurable).
    The dict holds the reference, its relative standard error, and the raw batch estimates."""
    if not 0 < gamma <= 1:
        raise ConfigError(f"gamma must lie in (0, 1], got {gamma}")
    if batches < 2 or min(batch_sizes) < 1 or reference_episodes < 2:
        raise ConfigError("need at least 2 batches, batch sizes >= 1 and 2 reference episodes")
    if max_len < 1 or value_episodes < 1:
        raise ConfigError("max_len and value_episodes must be at least 1")
    actor, normalizer, act_space = network_policy(env, policy, seed)

    def sample(n, s):
        return sample_network_episodes(env, actor, normalizer, act_space, n, s, max_len)

    values = fit_value(sample(value_episodes, seed + 1), gamma, seed)
    ref_eps = sample(reference_episodes, seed + 2)
    ref_w = network_weights(
        "rtg_minus_learned_v", ref_eps, gamma, *value_estimates(ref_eps, values)
    )
    ref_each = per_episode_gradients(actor, ref_eps, ref_w)
    reference = ref_each.mean(0)
    ref_se = np.sqrt(np.trace(np.atleast_2d(np.cov(ref_each, rowvar=False))) / len(ref_each))
    eps = sample(batches * max(batch_sizes), seed + 3)
    names = [*SAMPLED_ESTIMATORS, *(f"gae_{lam:g}" for lam in lams)]
    v, final_values = value_estimates(eps, values)
    rows, raw = [], {}
    for name in names:
        weights = network_weights(name, eps, gamma, v, final_values)
        each = per_episode_gradients(actor, eps, weights)
        for B in batch_sizes:
            g = each[: batches * B].reshape(batches, B, -1).mean(1)
            raw[name, B] = g
            row = summarize(name, B, g, reference)
            row.bias = row.noise_floor = row.mse = float("nan")
            rows.append(row)
    rows.sort(key=lambda r: (r.batch_size, names.index(r.estimator)))
    info = {
        "reference": reference,
        "reference_relative_se": float(ref_se / np.linalg.norm(reference)),
        "reference_episodes": reference_episodes,
        "estimates": raw,
        "mean_episode_length": float(eps.valid.sum(0).mean()),
    }
    return rows, info
