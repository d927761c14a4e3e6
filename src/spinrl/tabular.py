"""Exact answers on small finite MDPs: V^pi, Q^pi, A^pi, V*, Q*, J(pi) and grad J(pi).

Everything in Part 1 and Part 3 that is an expectation can be computed exactly when the
states and actions are few and the transition table is known. These solutions are the
independent reference the tests hold the sampled estimators (returns.py) to.

An MDP here is a set of arrays (docs/theory/part1.md, "Bellman equations"):

    P[s, a, s']   probability that taking a in s leads to s' *and the episode goes on*
    R[s, a]       expected reward for taking a in s
    mu0[s]        start-state distribution
    gamma         discount factor (1.0 is allowed when every policy ends episodes surely)

Termination belongs to transitions, as in Gymnasium: a transition that ends the episode
contributes its reward to R but no mass to P, so the rows of P may sum to less than 1 and
V of "after the end" is 0 without any terminal state bookkeeping. The sampler keeps the
full table (``P_end``) to draw episodes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spinrl.errors import EnvError


@dataclass(frozen=True)
class TabularMDP:
    P: np.ndarray  # [S, A, S] continuing transition probabilities
    P_end: np.ndarray  # [S, A, S] terminating transition probabilities (P + P_end sums to 1)
    R: np.ndarray  # [S, A] expected immediate reward
    R_sas: np.ndarray  # [S, A, S] reward of each transition (used by the sampler)
    mu0: np.ndarray  # [S]
    gamma: float
    name: str = "mdp"

    @property
    def n_states(self) -> int:
        return self.R.shape[0]

    @property
    def n_actions(self) -> int:
        return self.R.shape[1]


def _build(table, n_states, n_actions, mu0, gamma, name) -> TabularMDP:
    """From a Gymnasium-style table {s: {a: [(prob, s', reward, terminated), ...]}}."""
    P = np.zeros((n_states, n_actions, n_states))
    P_end = np.zeros_like(P)
    R_sas = np.zeros_like(P)
    for s in range(n_states):
        for a in range(n_actions):
            for prob, s_next, reward, terminated in table[s][a]:
                (P_end if terminated else P)[s, a, int(s_next)] += prob
                # Two outcomes can share s' with different rewards; keep the expected one.
                R_sas[s, a, int(s_next)] += prob * reward
    mass = P + P_end
    R = R_sas.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        R_sas = np.where(mass > 0, R_sas / np.where(mass > 0, mass, 1.0), 0.0)
    if not np.allclose(mass.sum(-1), 1.0):
        raise EnvError(f"{name}: transition probabilities do not sum to 1")
    return TabularMDP(P, P_end, R, R_sas, np.asarray(mu0, float), float(gamma), name)


def from_gymnasium(env_id_or_env, gamma: float = 0.99, **make_kwargs) -> TabularMDP:
    """The MDP of a Gymnasium toy-text environment that exposes its table ``P``
    (FrozenLake-v1, CliffWalking-v1, Taxi-v3, ...)."""
    import gymnasium as gym

    if isinstance(env_id_or_env, str):
        env = gym.make(env_id_or_env, **make_kwargs)
        name = env_id_or_env
    else:
        env, name = env_id_or_env, str(env_id_or_env)
    base = env.unwrapped
    table = getattr(base, "P", None)
    if not isinstance(table, dict):
        raise EnvError(f"{name} does not expose a transition table P; it is not tabular")
    n_s, n_a = int(env.observation_space.n), int(env.action_space.n)
    mu0 = getattr(base, "initial_state_distrib", None)
    if mu0 is None:
        raise EnvError(f"{name} does not expose its start distribution initial_state_distrib")
    return _build(table, n_s, n_a, mu0, gamma, name)


def three_state_mdp(gamma: float = 0.9) -> TabularMDP:
    """A hand-built MDP with 3 states and 2 actions, small enough to check by hand.

    s0: a0 -> s1 (r 0);                 a1 -> s2 w.p. .7 (r 1), stays in s0 w.p. .3 (r 0)
    s1: a0 -> ends w.p. .8 (r 2), back to s0 w.p. .2 (r -1);   a1 -> s2 (r .5)
    s2: a0 -> ends (r 0);               a1 -> s1 w.p. .5 (r -.5), stays in s2 w.p. .5 (r 0)
    Episodes start in s0 w.p. .6 and in s1 w.p. .4. Every policy that gives each action
    positive probability ends episodes with probability 1, so gamma = 1 is allowed.
    """
    table = {
        0: {0: [(1.0, 1, 0.0, False)], 1: [(0.7, 2, 1.0, False), (0.3, 0, 0.0, False)]},
        1: {0: [(0.8, 1, 2.0, True), (0.2, 0, -1.0, False)], 1: [(1.0, 2, 0.5, False)]},
        2: {0: [(1.0, 2, 0.0, True)], 1: [(0.5, 1, -0.5, False), (0.5, 2, 0.0, False)]},
    }
    return _build(table, 3, 2, [0.6, 0.4, 0.0], gamma, "three_state")


# --- Part 1: value functions -------------------------------------------------------------


def softmax_policy(theta: np.ndarray) -> np.ndarray:
    """pi(a|s) = exp(theta[s, a]) / sum_b exp(theta[s, b])."""
    z = theta - theta.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def uniform_policy(mdp: TabularMDP) -> np.ndarray:
    return np.full((mdp.n_states, mdp.n_actions), 1.0 / mdp.n_actions)


def policy_evaluation(mdp: TabularMDP, pi: np.ndarray) -> np.ndarray:
    """V^pi by solving the Bellman expectation equation V = r_pi + gamma P_pi V exactly."""
    P_pi = np.einsum("sa,sat->st", pi, mdp.P)
    r_pi = (pi * mdp.R).sum(1)
    A = np.eye(mdp.n_states) - mdp.gamma * P_pi
    try:
        return np.linalg.solve(A, r_pi)
    except np.linalg.LinAlgError:
        raise ValueError(
            f"{mdp.name}: I - gamma P_pi is singular; with gamma = 1 the policy must end "
            "episodes with probability 1"
        ) from None


def q_from_v(mdp: TabularMDP, V: np.ndarray) -> np.ndarray:
    """Q(s, a) = R(s, a) + gamma sum_s' P(s'|s, a) V(s') (a terminating transition adds 0)."""
    return mdp.R + mdp.gamma * mdp.P @ V


def q_values(mdp: TabularMDP, pi: np.ndarray) -> np.ndarray:
    return q_from_v(mdp, policy_evaluation(mdp, pi))


def advantages(mdp: TabularMDP, pi: np.ndarray) -> np.ndarray:
    """A^pi(s, a) = Q^pi(s, a) - V^pi(s)."""
    V = policy_evaluation(mdp, pi)
    return q_from_v(mdp, V) - V[:, None]


def value_iteration(
    mdp: TabularMDP, tol: float = 1e-10, max_iters: int = 100_000
) -> tuple[np.ndarray, np.ndarray]:
    """V* and Q* by iterating the Bellman optimality operator to a fixed point."""
    V = np.zeros(mdp.n_states)
    for _ in range(max_iters):
        Q = q_from_v(mdp, V)
        V_new = Q.max(axis=1)
        if np.max(np.abs(V_new - V)) < tol:
            return V_new, q_from_v(mdp, V_new)
        V = V_new
    raise RuntimeError(f"{mdp.name}: value iteration did not converge in {max_iters} sweeps")


def objective(mdp: TabularMDP, pi: np.ndarray) -> float:
    """J(pi) = E_{s0 ~ mu0}[V^pi(s0)], the expected discounted return."""
    return float(mdp.mu0 @ policy_evaluation(mdp, pi))


def discounted_visitation(mdp: TabularMDP, pi: np.ndarray) -> np.ndarray:
    """d(s) = sum_t gamma^t Pr(s_t = s), i.e. mu0^T (I - gamma P_pi)^-1 (unnormalised)."""
    P_pi = np.einsum("sa,sat->st", pi, mdp.P)
    return np.linalg.solve((np.eye(mdp.n_states) - mdp.gamma * P_pi).T, mdp.mu0)


# --- Part 3: the exact policy gradient -----------------------------------------------------


def exact_policy_gradient(mdp: TabularMDP, theta: np.ndarray) -> np.ndarray:
    """grad_theta J for the tabular softmax policy: d(s) pi(a|s) A^pi(s, a) (docs eq. 3.9).

    By the policy gradient theorem, grad J = sum_s d(s) sum_a pi(a|s) A(s,a) grad log pi(a|s),
    and for a softmax over theta[s, :] the gradient of log pi(a|s) wrt theta[s, b] is
    1[a = b] - pi(b|s), which collapses the sum to the expression above.
    """
    pi = softmax_policy(theta)
    return discounted_visitation(mdp, pi)[:, None] * pi * advantages(mdp, pi)


@dataclass
class EpisodeBatch:
    """K sampled episodes in the [T, K] layout of returns.py, padded after each episode ends.

    ``valid[t, k]`` marks real steps. Padding rows have reward 0 and end flags False, so they
    form a zero-reward segment of their own that no sum crosses into.
    """

    states: np.ndarray  # [T, K] int
    actions: np.ndarray  # [T, K] int
    rewards: np.ndarray  # [T, K]
    terminated: np.ndarray  # [T, K] bool
    truncated: np.ndarray  # [T, K] bool
    final_states: np.ndarray  # [T, K] int: the state after the step (meaningful where truncated)
    valid: np.ndarray  # [T, K] bool

    @property
    def lengths(self) -> np.ndarray:
        return self.valid.sum(0)


def sample_episodes(
    mdp: TabularMDP, pi: np.ndarray, n: int, rng: np.random.Generator, max_len: int = 200
) -> EpisodeBatch:
    """Draw n independent episodes under pi, all n stepped together (vectorised over k).

    An episode still running after ``max_len`` steps is truncated there: its last step has
    ``truncated`` set so estimators bootstrap from the value of its final state.
    """
    S = mdp.n_states
    trans = np.concatenate([mdp.P, mdp.P_end], axis=-1)  # [S, A, 2S]: continue or end in s'
    trans_cdf = np.cumsum(trans, axis=-1)
    pi_cdf = np.cumsum(pi, axis=-1)
    shape = (max_len, n)
    out = EpisodeBatch(
        states=np.zeros(shape, np.int64),
        actions=np.zeros(shape, np.int64),
        rewards=np.zeros(shape),
        terminated=np.zeros(shape, bool),
        truncated=np.zeros(shape, bool),
        final_states=np.zeros(shape, np.int64),
        valid=np.zeros(shape, bool),
    )
    s = np.minimum(np.searchsorted(np.cumsum(mdp.mu0), rng.random(n), side="right"), S - 1)
    alive = np.ones(n, bool)
    for t in range(max_len):
        a = (rng.random(n)[:, None] > pi_cdf[s]).sum(-1)
        a = np.minimum(a, mdp.n_actions - 1)
        outcome = (rng.random(n)[:, None] > trans_cdf[s, a]).sum(-1)
        outcome = np.minimum(outcome, 2 * S - 1)
        ended, s_next = outcome >= S, outcome % S
        out.states[t], out.actions[t], out.valid[t] = s, a, alive
        out.rewards[t] = np.where(alive, mdp.R_sas[s, a, s_next], 0.0)
        out.terminated[t] = alive & ended
        out.final_states[t] = s_next
        alive = alive & ~ended
        s = s_next
        if not alive.any():
            return _cut(out, t + 1)
    out.truncated[-1] = alive
    return out


def _cut(batch: EpisodeBatch, length: int) -> EpisodeBatch:
    return EpisodeBatch(**{k: v[:length] for k, v in vars(batch).items()})


def score_function_estimates(
    batch: EpisodeBatch, pi: np.ndarray, weights: np.ndarray, time_discount: float = 1.0
) -> np.ndarray:
    """One policy-gradient estimate per episode: sum_t c^t grad log pi(a_t|s_t) Phi_t.

    ``weights`` is Phi_t in the [T, K] layout and t counts steps from the episode's start.
    With c = gamma the estimate is unbiased for the discounted objective J whatever the Phi_t
    (reward-to-go, Q, A, ...); c = 1 is right for R(tau), which already discounts from the
    start, and for gamma = 1. Practical algorithms drop the factor. Returns [K, S, A].
    """
    T, K = batch.states.shape
    S, A = pi.shape
    g = np.zeros((K, S, A))
    cols = np.arange(K)
    step = np.zeros(K, np.int64)
    for t in range(T):
        w = np.where(batch.valid[t], weights[t], 0.0) * time_discount**step
        s, a = batch.states[t], batch.actions[t]
        # grad_theta[s, :] log pi(a|s) = onehot(a) - pi(.|s)
        g[cols, s] -= w[:, None] * pi[s]
        g[cols, s, a] += w
        step = step + batch.valid[t]
    return g
