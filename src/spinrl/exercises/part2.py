"""Checks of the Part 2 exercises: p2.ddqn (the Double-DQN target, against
spinrl.algos.dqn.q_learning_target, then trained in spinrl's DQN on CartPole-v1) and p2.mpc
(one random-shooting MPC step, against spinrl.planning.sequence_returns on given candidate
sequences, a statistical check of its sampler, and a closed-loop check on Pendulum-v1)."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import torch

from spinrl import planning
from spinrl.algos import dqn
from spinrl.exercises.checks import (
    Check,
    compare,
    failed_call,
    judge,
    learner_function,
    learns,
    show,
    skipped,
    train_until,
)

# --- p2.ddqn --------------------------------------------------------------------------------


def _dqn_batch(B: int, n_actions: int, gamma: float, n_step: int, seed: int) -> dict:
    """A random batch as spinrl's n-step replay gives it: discounts gamma^m with m <= n."""
    gen = torch.Generator().manual_seed(seed)
    m = torch.randint(1, n_step + 1, (B,), generator=gen)
    return {
        "returns": torch.randn(B, generator=gen),
        "discounts": gamma ** m.double(),
        "terminated": (torch.rand(B, generator=gen) < 0.3).double(),
        "q_next_target": torch.randn(B, n_actions, generator=gen, dtype=torch.float64),
        "q_next_online": torch.randn(B, n_actions, generator=gen, dtype=torch.float64),
    }


def ddqn_mistakes(b: dict) -> list[tuple[str, torch.Tensor]]:
    """What each common mistake outputs on the batch, from spinrl's q_learning_target."""
    G, disc, d = b["returns"], b["discounts"], b["terminated"]
    targ, online = b["q_next_target"], b["q_next_online"]
    target = dqn.q_learning_target
    return [
        (
            "that is the plain DQN target, max_a Q_targ(s', a): in Double DQN the online "
            "network picks a*",
            target(G, disc, d, targ),
        ),
        (
            "the roles are swapped: a* is the argmax of the online network's Q, and the target "
            "network's Q values it",
            target(G, disc, d, online, targ),
        ),
        (
            "the online network values its own choice (max_a Q_online): take Q_targ(s', a*)",
            target(G, disc, d, online),
        ),
        (
            "bootstrapping through termination: where terminated, y = G",
            target(G, disc, torch.zeros_like(d), targ, online),
        ),
        (
            "the discount is missing: the bootstrap is weighed by gamma^m",
            target(G, torch.ones_like(disc), d, targ, online),
        ),
    ]


def double_dqn(module, quick: bool = False) -> list[Check]:
    fn, missing = learner_function(module, "double_dqn_target")
    if missing:
        return missing
    checks = []
    for name, B, n_actions, gamma, n_step, seed in (
        ("a batch of 64, 4 actions, 1-step, gamma 0.99", 64, 4, 0.99, 1, 0),
        ("a batch of 64, 6 actions, 3-step (gamma^m, m <= 3), gamma 0.9", 64, 6, 0.9, 3, 1),
        ("a batch of 16, 2 actions, 1-step, gamma 0.5", 16, 2, 0.5, 1, 2),
    ):
        b = _dqn_batch(B, n_actions, gamma, n_step, seed)
        want = dqn.q_learning_target(
            b["returns"], b["discounts"], b["terminated"], b["q_next_target"], b["q_next_online"]
        )
        mistakes = [m for m in ddqn_mistakes(b) if not torch.allclose(m[1], want)]
        checks.append(
            compare(
                f"y for {name}",
                lambda b=b: fn(**{k: v.clone() for k, v in b.items()}),
                want,
                mistakes,
                "check y = G + gamma^m (1 - d) Q_targ(s', argmax_a Q_online(s', a)), row by row",
            )
        )
    if not all(c.passed for c in checks):
        return [*checks, skipped("training DQN on CartPole-v1", "fix the checks above first")]
    if quick:
        return [*checks, skipped("training DQN on CartPole-v1", "skipped (--quick)")]
    return [*checks, _dqn_learns(module)]


DQN_BUDGET = dict(steps_per_epoch=5000, epochs=10, threshold=475.0)
"""The training check of p2.ddqn: spinrl's DQN with its defaults (rl-baselines3-zoo's CartPole-v1
settings with Double DQN, dueling, prioritized replay, 3-step returns) and the learner's target,
epochs of 5000 steps, until the greedy test return reaches 475 (of 500; a random policy scores about
22), within 10 epochs."""


class _PluggedDQN(dqn.DQNAgent):
    """spinrl's DQN agent with the learner's target in its update (all else as spinrl's)."""

    def __init__(self, obs_space, act_space, cfg, module) -> None:
        super().__init__(obs_space, act_space, cfg)
        self.module = module

    def target(self, b: dict) -> torch.Tensor:
        return self.module.double_dqn_target(
            b["returns"],
            b["discounts"],
            b["terminated"],
            self.q_target(b["next_obs"]),
            self.q(b["next_obs"]),
        )


def train_dqn_with(
    module, steps_per_epoch: int, epochs: int, threshold: float, seed: int = 0
) -> list[float]:
    """AverageTestEpRet per epoch of DQN on CartPole-v1 with the learner's target, stopping
    once it reaches ``threshold``."""

    cfg = dqn.Config(env="CartPole-v1", steps_per_epoch=steps_per_epoch, epochs=epochs, seed=seed)
    dqn.validate(cfg)

    def make_agent(obs_space, act_space):
        return _PluggedDQN(obs_space, act_space, cfg, module)

    return train_until("dqn", cfg, make_agent, threshold, loop_class=dqn.DQNLoop)


def _dqn_learns(module) -> Check:
    b = DQN_BUDGET
    name = (
        f"training DQN on CartPole-v1 with your target, up to {b['epochs']} epochs of "
        f"{b['steps_per_epoch']} steps: the best average test return"
    )
    steps = b["steps_per_epoch"], b["epochs"], b["threshold"]
    hint = "the target passes on its own, but DQN does not learn with it"
    return learns(name, b["threshold"], lambda: train_dqn_with(module, *steps), hint)


# --- p2.mpc ---------------------------------------------------------------------------------


def _pendulum_case(P: int, H: int, seed: int):
    """A random Pendulum-v1 observation and P uniform candidate sequences in [-2, 2]."""
    gen = torch.Generator().manual_seed(seed)
    th = (torch.rand((), generator=gen, dtype=torch.float64) * 2 - 1) * math.pi
    thdot = (torch.rand((), generator=gen, dtype=torch.float64) * 2 - 1) * 8
    obs = torch.stack([torch.cos(th), torch.sin(th), thdot])
    candidates = 4 * torch.rand(P, H, 1, generator=gen, dtype=torch.float64) - 2
    return obs, candidates


def discounted_returns(model, obs, candidates, gamma: float) -> torch.Tensor:
    """sum_t gamma^t r_t per sequence, from spinrl.planning.sequence_returns alone: the
    reward r_t is the difference of the undiscounted returns over t + 1 and t steps."""
    H = candidates.shape[1]
    prefix = [torch.zeros(len(candidates), dtype=obs.dtype)]
    prefix += [planning.sequence_returns(model, obs, candidates[:, : t + 1]) for t in range(H)]
    return sum(gamma**t * (prefix[t + 1] - prefix[t]) for t in range(H))


def _returns_mistakes(model, obs, candidates, gamma, want):
    H = candidates.shape[1]
    undiscounted = planning.sequence_returns(model, obs, candidates)
    from_obs = sum(  # every step taken from obs itself, the state never carried forward
        gamma**t * model.step(obs.expand(len(candidates), -1), candidates[:, t])[1]
        for t in range(H)
    )
    mistakes = [
        ("the discount is missing: R_k = sum_t gamma^t r_t", undiscounted),
        ("the first reward is discounted too: gamma^t counts from t = 0", want * gamma),
        ("a mean over the horizon: R_k is the sum of the rewards", want / H),
        ("every step starts from obs: carry the model's next state forward", from_obs),
        (
            "that is the last reward only: sum over the whole horizon",
            _last_rewards(model, obs, candidates, gamma),
        ),
    ]
    return [m for m in mistakes if not torch.allclose(m[1], want)]


def _last_rewards(model, obs, candidates, gamma):
    H = candidates.shape[1]
    full = planning.sequence_returns(model, obs, candidates)
    before = planning.sequence_returns(model, obs, candidates[:, : H - 1])
    return gamma ** (H - 1) * (full - before)


def _action_mistakes(candidates, returns, undiscounted):
    best = int(returns.argmax())
    mistakes = [
        ("argmin: that is the worst sequence's first action", candidates[returns.argmin(), 0]),
        ("the last action of the best sequence: MPC takes its first", candidates[best, -1]),
        ("the whole best sequence: return only its first action, [A]", candidates[best]),
        (
            "the best sequence by undiscounted return: rank by the discounted R_k",
            candidates[undiscounted.argmax(), 0],
        ),
    ]
    return [m for m in mistakes if not torch.allclose(m[1], candidates[best, 0])]


def mpc(module, quick: bool = False) -> list[Check]:
    fn, missing = learner_function(module, "mpc_step")
    if missing:
        return missing
    model = planning.PendulumModel()
    low = torch.tensor([-2.0], dtype=torch.float64)
    high = torch.tensor([2.0], dtype=torch.float64)
    checks = []
    for P, H, gamma, seed in ((64, 15, 1.0, 0), (50, 10, 0.9, 1), (8, 1, 0.95, 2)):
        obs, candidates = _pendulum_case(P, H, seed)
        want = discounted_returns(model, obs, candidates, gamma)
        undiscounted = planning.sequence_returns(model, obs, candidates)
        case = f"{P} given sequences of {H} steps, gamma {gamma:g}"
        try:
            action, returns = fn(model, obs.clone(), H, P, low, high, gamma,
                                 None, candidates.clone())  # fmt: skip
        except Exception as e:
            checks.append(failed_call(f"the returns of {case}", want, e))
            continue
        checks.append(
            judge(
                f"the returns of {case}",
                returns,
                want,
                _returns_mistakes(model, obs, candidates, gamma, want),
                "roll each sequence out through model.step and sum gamma^t r_t",
            )
        )
        best = int(want.argmax())
        checks.append(
            judge(
                f"the action for {case}",
                action,
                candidates[best, 0],
                _action_mistakes(candidates, want, undiscounted),
                "take the first action of the sequence with the largest return",
            )
        )
    checks.append(_sampler_check(fn, model))
    if not all(c.passed for c in checks):
        return [*checks, skipped("MPC on Pendulum-v1", "fix the checks above first")]
    return [*checks, _mpc_swings_up(fn, model)]


SAMPLER_DRAWS = 2000


def _sampler_check(fn, model) -> Check:
    """SAMPLER_DRAWS calls with one sequence of one step: the action is that draw, so the
    actions must be uniform on [low, high] = [-1.5, 0.5] (mean -0.5, std 2 / sqrt 12)."""
    low = torch.tensor([-1.5], dtype=torch.float64)
    high = torch.tensor([0.5], dtype=torch.float64)
    mean, std = -0.5, 2 / math.sqrt(12)
    name = f"{SAMPLER_DRAWS} actions drawn with population 1, uniform on [-1.5, 0.5]"
    expected = f"within the bounds, mean {mean:g} +- 0.07, std {std:.3f} +- 10%"
    obs = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    gen = torch.Generator().manual_seed(3)
    try:
        a = torch.stack(
            [torch.as_tensor(fn(model, obs, 1, 1, low, high, 1.0, gen)[0]).reshape(-1)
             for _ in range(SAMPLER_DRAWS)]
        ).double().reshape(-1)  # fmt: skip
    except Exception as e:
        check = failed_call(name, 0.0, e)
        check.expected = expected
        return check
    got = f"min {float(a.min()):.3f}, max {float(a.max()):.3f}, mean {float(a.mean()):.3f}, "
    got += f"std {float(a.std()):.3f}"
    hint = ""
    if len(a) != SAMPLER_DRAWS:
        hint = "return one action of shape [A] (here [1])"
    elif bool(((a < low) | (a > high)).any()):
        hint = "actions outside the bounds: draw a = low + (high - low) u, u ~ U[0, 1)"
        if bool(((a >= 0) & (a < 1)).all()):
            hint = "torch.rand draws in [0, 1): scale it to the bounds, low + (high - low) u"
    elif bool(((a == low) | (a == high)).float().mean() > 0.05):
        hint = "the draws pile up on the bounds (clipped?): draw uniformly within them"
    elif float(a.std()) < 1e-9:
        hint = "the same action every time: draw fresh samples at every call"
    elif abs(float(a.mean()) - mean) > 0.07 or abs(float(a.std()) / std - 1) > 0.1:
        hint = "not uniform on [low, high] (a normal?): a = low + (high - low) torch.rand"
    return Check(name, not hint, expected, got, hint)


MPC_BUDGET = dict(horizon=15, population=200, episodes=4, threshold=-400.0)
"""The closed-loop check of p2.mpc: the learner's step as the controller of Pendulum-v1
(seeds 0-3, 200 steps each), planning on the true model, gamma 1. spinrl.planning's
random_shooting with these settings averages -183 (generator seed 0), and the reference
solution -151 to -183 over generator seeds 0-6 (measured); uniformly random torques score
about -1200. The threshold, -400, leaves room for draws made in another order."""


def run_mpc(fn, model, horizon, population, episodes, seed: int = 0) -> list[float]:
    """The return of each Pendulum-v1 episode with ``fn`` planning every action."""
    env = gym.make("Pendulum-v1")
    low = torch.as_tensor(env.action_space.low, dtype=torch.float64)
    high = torch.as_tensor(env.action_space.high, dtype=torch.float64)
    gen = torch.Generator().manual_seed(seed)
    totals = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=episode)
        total, done = 0.0, False
        while not done:
            obs_t = torch.as_tensor(obs, dtype=torch.float64)
            action, _ = fn(model, obs_t, horizon, population, low, high, 1.0, gen)
            action = np.asarray(torch.as_tensor(action).detach(), dtype=np.float32).reshape(1)
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
        totals.append(total)
    env.close()
    return totals


def _mpc_swings_up(fn, model) -> Check:
    b = MPC_BUDGET
    name = (
        f"your step as MPC on Pendulum-v1 (horizon {b['horizon']}, population "
        f"{b['population']}), average return of {b['episodes']} episodes"
    )
    try:
        totals = run_mpc(fn, model, b["horizon"], b["population"], b["episodes"])
    except Exception as e:
        return failed_call(name, b["threshold"], e)
    average = float(np.mean(totals))
    ok = average >= b["threshold"]
    hint = "" if ok else "the pieces pass on their own, but the pendulum does not swing up"
    return Check(name, ok, f">= {b['threshold']:g}", f"{average:.1f} ({show(totals)})", hint)
