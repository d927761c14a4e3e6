"""Planning with a model of the environment (Part 2: model-based RL), learned or given.

A *model* is anything with ``step(obs, action) -> (next_obs, reward)`` on batched torch
tensors. Here is the model *given*: Pendulum-v1's own dynamics, ported to torch and checked
step for step against Gymnasium's. A planner picks actions by imagining futures with the model:

    random shooting   sample P action sequences of length H uniformly; keep the best one
    CEM               sample P sequences from N(mean, std); refit mean and std to the E best
                      (the elites); repeat; the mean is the plan (Botev et al. 2013;
                      Chua et al. 2018 use it in PETS)
    MPC               at every step plan, take the plan's first action, then shift the plan by
                      one step to warm-start the next (receding-horizon control)

The return of a sequence is the undiscounted sum of the model's rewards over the horizon. On
a probabilistic ensemble (spinrl.models) it is averaged over particles, sampled futures that
each member moves in turn (trajectory sampling: TS-1 re-draws a particle's member at every
step, TS-inf keeps it for the whole horizon). The reward comes from the model's reward head
or from the task's known reward function; a particle stops collecting reward once its
episode ends, by the task's known termination rule (KNOWN_REWARDS, KNOWN_TERMINATIONS) or
by the model's learned termination head (spinrl.models, ``termination_head``), which
samples the ending with the particle's member.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from spinrl.errors import EnvError


class PendulumModel:
    """Pendulum-v1's dynamics (Gymnasium's classic_control/pendulum.py) as a batched torch
    model over observations [cos th, sin th, thdot]:

        thdot' = clip(thdot + (3 g / (2 l) sin th + 3 / (m l^2) u) dt, -8, 8)
        th'    = th + thdot' dt
        r      = -(normalize(th)^2 + 0.1 thdot^2 + 0.001 u^2),  u = clip(u, -2, 2)

    with g = 10, m = l = 1, dt = 0.05.
    """

    g, mass, length, dt, max_speed, max_torque = 10.0, 1.0, 1.0, 0.05, 8.0, 2.0

    def step_state(self, state: torch.Tensor, action: torch.Tensor):
        """(next [th, thdot], reward) from the state [th, thdot] and the torque [u]."""
        th, thdot = state[..., 0], state[..., 1]
        u = action[..., 0].clamp(-self.max_torque, self.max_torque)
        cost = angle_normalize(th) ** 2 + 0.1 * thdot**2 + 0.001 * u**2
        accel = (
            3 * self.g / (2 * self.length) * torch.sin(th) + 3.0 / (self.mass * self.length**2) * u
        )
        new_thdot = (thdot + accel * self.dt).clamp(-self.max_speed, self.max_speed)
        new_th = th + new_thdot * self.dt
        return torch.stack([new_th, new_thdot], -1), -cost

    def step(self, obs: torch.Tensor, action: torch.Tensor):
        """(next observation, reward) from an observation [cos th, sin th, thdot]."""
        th = torch.atan2(obs[..., 1].contiguous(), obs[..., 0].contiguous())  # see below
        state = torch.stack([th, obs[..., 2]], -1)
        next_state, reward = self.step_state(state, action)
        th, thdot = next_state[..., 0], next_state[..., 1]
        return torch.stack([torch.cos(th), torch.sin(th), thdot], -1), reward


def angle_normalize(x: torch.Tensor) -> torch.Tensor:
    """The angle in [-pi, pi)."""
    return torch.remainder(x + math.pi, 2 * math.pi) - math.pi


# --- What a task's docs say: known rewards and termination rules ------------------------------


def pendulum_reward(obs: torch.Tensor, action: torch.Tensor, next_obs: torch.Tensor):
    """Pendulum-v1's reward, known: -(th^2 + 0.1 thdot^2 + 0.001 u^2) at the state before
    the step (th from the observation's cos and sin)."""
    # contiguous: torch's atan2 is vectorised only on contiguous inputs (~20x faster)
    th = torch.atan2(obs[..., 1].contiguous(), obs[..., 0].contiguous())
    u = action[..., 0].clamp(-PendulumModel.max_torque, PendulumModel.max_torque)
    return -(th**2 + 0.1 * obs[..., 2] ** 2 + 0.001 * u**2)


def inverted_pendulum_terminated(next_obs: torch.Tensor) -> torch.Tensor:
    """InvertedPendulum-v5's rule: the episode ends when an observation is not finite or the
    pole leans more than 0.2 rad (observation[1])."""
    return ~torch.isfinite(next_obs).all(-1) | (next_obs[..., 1].abs() > 0.2)


def hopper_terminated(next_obs: torch.Tensor) -> torch.Tensor:
    """Hopper-v5's rule (default arguments): the episode ends when the hopper is unhealthy,
    healthy being: the torso height z = observation[0] > 0.7, its angle |observation[1]| < 0.2,
    and every element of observation[1:] inside (-100, 100) (all strict; NaN is unhealthy).

    Gymnasium checks the last condition on the simulator's state (joint angles and the raw
    velocities), while the observation's 6 velocities, observation[5:], are clipped to
    [-10, 10]. On an observation that part of the rule can never fire, so the rule here misses
    the one case where a velocity beyond +-100 alone ends an episode; the height and angle
    conditions, which end nearly every episode, are exact."""
    z, angle = next_obs[..., 0], next_obs[..., 1]
    in_range = ((next_obs[..., 1:] > -100) & (next_obs[..., 1:] < 100)).all(-1)
    return ~(in_range & (z > 0.7) & (angle > -0.2) & (angle < 0.2))


# Rewards and termination rules as the Gymnasium docs state them, by env id. A termination
# rule of None: the task never terminates (only its time limit ends an episode).
KNOWN_REWARDS = {"Pendulum-v1": pendulum_reward}
KNOWN_TERMINATIONS = {
    "Pendulum-v1": None,
    "HalfCheetah-v5": None,
    "InvertedPendulum-v5": inverted_pendulum_terminated,
    "Hopper-v5": hopper_terminated,
}


def known_reward(env_id: str):
    if env_id not in KNOWN_REWARDS:
        raise EnvError(
            f"no known reward function for {env_id} (spinrl knows {', '.join(KNOWN_REWARDS)}); "
            "use the model's learned reward head (reward=learned)"
        )
    return KNOWN_REWARDS[env_id]


def known_termination(env_id: str):
    if env_id not in KNOWN_TERMINATIONS:
        raise EnvError(
            f"no known termination rule for {env_id} (spinrl knows "
            f"{', '.join(KNOWN_TERMINATIONS)}); learn one with termination=learned, or, "
            "for a task that never terminates, set termination=never"
        )
    return KNOWN_TERMINATIONS[env_id]


# --- Trajectory sampling: particles through the ensemble's members ----------------------------

PROPAGATIONS = ("ts1", "tsinf")


def member_assignment(propagation: str, population: int, particles: int, members: int,
                      horizon: int, generator=None) -> torch.Tensor:  # fmt: skip
    """[H, population x particles]: the ensemble member that moves each particle at each step
    (Chua et al. 2018, section 5), particle i of sequence p in column p * particles + i.
    The particles of every sequence split evenly over the members, in a random order, as the
    PETS authors' code splits them; so every member moves the same number of particles (the
    ensemble steps them all in one batched product per layer) and every sequence's return
    averages over all members.

        ts1    TS-1: a fresh random assignment at every step
        tsinf  TS-inf: one member per particle for the whole horizon
    """
    if particles % members:
        raise ValueError(f"{particles} particles do not split evenly over {members} members")
    if propagation not in PROPAGATIONS:
        choices = ", ".join(PROPAGATIONS)
        raise ValueError(f"propagation must be one of {choices}, got {propagation!r}")
    draws = 1 if propagation == "tsinf" else horizon
    order = torch.rand(draws, population, particles, generator=generator).argsort(-1)
    return (order % members).flatten(1).expand(horizon, -1)


def model_step(model, obs, action, members=None, generator=None):
    """One step of any model: (next_obs, reward, ended). An ensemble (a model with
    ``members``) moves row i with member ``members[i]``; ``ended`` is the model's own sampled
    terminated flag where it has a termination head (``model.termination_head``), else None."""
    if members is None:
        return *model.step(obs, action), None
    out = model.step(obs, action, members, generator)
    return out if getattr(model, "termination_head", False) else (*out, None)


def rollout(model, obs, actions, members=None, generator=None):
    """H steps of any model from observations [B, obs_dim] under the actions [H, B, A]:
    (next_obs [H, B, obs_dim], reward [H, B], ended [H, B] or None), as model_step gives
    them step by step; an ensemble's ``members`` [H, B] as in member_assignment. A model with
    a ``rollout`` of its own (spinrl.models.GaussianEnsemble) runs the horizon itself."""
    if members is not None and hasattr(model, "rollout"):
        return model.rollout(obs, actions, members, generator)
    steps = []
    for t in range(len(actions)):
        member = members[t] if members is not None else None
        obs, reward, ended = model_step(model, obs, actions[t], member, generator)
        steps.append((obs, reward, ended))
    return tuple(None if x[0] is None else torch.stack(x) for x in zip(*steps, strict=True))


def sequence_returns(model, obs: torch.Tensor, actions: torch.Tensor, particles: int = 1,
                     propagation: str = "tsinf", reward_fn=None, termination_fn=None,
                     generator: torch.Generator | None = None) -> torch.Tensor:  # fmt: skip
    """The return of each of P action sequences [P, H, A] from one observation [obs_dim]:
    the model's summed rewards over the horizon, averaged over ``particles`` sampled futures.

    All P x particles futures move together, one batched model step per time step (see
    rollout). An ensemble (a model with ``members``) moves particle i at step t with member
    ``member_assignment(...)[t, i]``; a given model with ``step(obs, action)``. The reward
    is ``reward_fn(obs, action, next_obs)`` where given (a known reward), else the model's.
    A particle for which ``termination_fn(next_obs)`` holds, or whose step the model's
    termination head ends (see model_step), collects no reward afterwards. Both rules see
    the whole imagined trajectory at once, [H, rows, ...] (so they index with [..., i]).
    """
    population, horizon = actions.shape[:2]
    if horizon == 0:  # no step, no reward
        return torch.zeros(population, dtype=actions.dtype)
    rows = population * particles
    actions = actions.repeat_interleave(particles, 0).transpose(0, 1)  # [H, rows, A]
    members = getattr(model, "members", None)  # (a sequence's particles are adjacent rows)
    if members is not None:
        members = member_assignment(propagation, population, particles, members, horizon,
                                    generator)  # fmt: skip
    state = obs.expand(rows, *obs.shape)
    next_states, rewards, ended = rollout(model, state, actions, members, generator)
    if reward_fn is not None:
        rewards = reward_fn(torch.cat([state[None], next_states[:-1]]), actions, next_states)
    if termination_fn is not None:
        known = termination_fn(next_states)
        ended = known if ended is None else known | ended
    if ended is not None:  # a particle collects the reward of its last step, not after
        alive = torch.cat([torch.ones(1, rows, dtype=torch.bool), ~ended[:-1]]).cummin(0).values
        rewards = torch.where(alive, rewards, 0.0)
    total = torch.nan_to_num(rewards.sum(0), nan=-1e10, neginf=-1e10)  # diverging: the worst
    return total.view(population, particles).mean(1)


# --- Planners ---------------------------------------------------------------------------------


def random_shooting(model, obs, horizon: int, population: int, low, high, generator=None,
                    **sampling):  # fmt: skip
    """The first action of the best of ``population`` uniform random sequences, and that
    sequence [H, A]. ``sampling``: sequence_returns' particles, propagation, reward_fn and
    termination_fn."""
    low, high = torch.as_tensor(low, dtype=obs.dtype), torch.as_tensor(high, dtype=obs.dtype)
    u = torch.rand(population, horizon, len(low), dtype=obs.dtype, generator=generator)
    actions = low + (high - low) * u
    best = sequence_returns(model, obs, actions, generator=generator, **sampling).argmax()
    return actions[best, 0], actions[best]


def cem(model, obs, horizon: int, population: int, elites: int, iterations: int, low, high,
        mean=None, std=None, generator=None, momentum: float = 0.0,
        **sampling):  # fmt: skip
    """The cross-entropy method over action sequences: returns the plan (the final mean,
    [H, A]). ``mean`` warm-starts it (default: the middle of the action range); ``std``
    defaults to half the range. Each iteration refits the mean and variance to the elites,
    keeping ``momentum`` of the old ones (PETS's alpha). ``sampling``: as random_shooting."""
    low, high = torch.as_tensor(low, dtype=obs.dtype), torch.as_tensor(high, dtype=obs.dtype)
    shape = (horizon, len(low))
    mean = ((low + high) / 2).expand(shape).clone() if mean is None else mean.clone()
    std = ((high - low) / 2).expand(shape).clone() if std is None else std.clone()
    for _ in range(iterations):
        noise = torch.randn(population, *shape, dtype=obs.dtype, generator=generator)
        actions = torch.max(torch.min(mean + std * noise, high), low)
        returns = sequence_returns(model, obs, actions, generator=generator, **sampling)
        top = actions[returns.topk(elites).indices]
        mean = momentum * mean + (1 - momentum) * top.mean(0)
        std = (momentum * std**2 + (1 - momentum) * top.var(0)).sqrt()
    return mean


class MPC:
    """Model-predictive control with CEM: plan, act with the first action, shift the plan to
    warm-start the next step. ``act(obs)`` takes and returns numpy arrays, like a policy.
    ``sampling``: sequence_returns' particles, propagation, reward_fn and termination_fn."""

    def __init__(self, model, action_space: gym.spaces.Box, horizon: int = 25,
                 population: int = 200, elites: int = 20, iterations: int = 4,
                 seed: int = 0, momentum: float = 0.0, dtype=torch.float64,
                 **sampling):  # fmt: skip
        self.model, self.horizon = model, horizon
        self.population, self.elites, self.iterations = population, elites, iterations
        self.momentum, self.dtype, self.sampling = momentum, dtype, sampling
        self.low = torch.as_tensor(action_space.low, dtype=dtype)
        self.high = torch.as_tensor(action_space.high, dtype=dtype)
        self.generator = torch.Generator().manual_seed(seed)
        self.plan: torch.Tensor | None = None

    def reset(self) -> None:
        self.plan = None

    def act(self, obs: np.ndarray) -> np.ndarray:
        obs_t = torch.as_tensor(np.asarray(obs), dtype=self.dtype)
        warm = None
        if self.plan is not None:  # the rest of the last plan, its last step repeated
            warm = torch.cat([self.plan[1:], self.plan[-1:]])
        self.plan = cem(self.model, obs_t, self.horizon, self.population, self.elites,
                        self.iterations, self.low, self.high, mean=warm,
                        generator=self.generator, momentum=self.momentum,
                        **self.sampling)  # fmt: skip
        return self.plan[0].numpy().astype(np.float32)

    def state_dict(self) -> dict:
        """The warm start and the sampling stream, for exact resume."""
        return {"plan": self.plan, "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.plan = state["plan"]
        self.generator.set_state(state["generator"])


class PlanningPolicy(nn.Module):
    """A planner as a policy (``Result.act``, ``load_policy``, ``spinrl watch``): every call
    plans each observation from scratch (CEM from the middle of the action range, no warm
    start) with a generator seeded alike, so an observation always gets the same action.

    ``settings``: horizon, population, elites, iterations, momentum, particles, propagation,
    and env, model ("learned" or "given"), reward and termination ("known", "learned" or
    "never"), from which the known reward and termination rules, or the model's termination
    head, are found again when it is rebuilt."""

    def __init__(self, model, action_space: gym.spaces.Box, settings: dict) -> None:
        super().__init__()
        self.model, self.action_space, self.settings = model, action_space, dict(settings)
        self.dtype = torch.float64 if settings["model"] == "given" else torch.float32
        self.sampling = sampling_rules(settings)

    @classmethod
    def from_spec(cls, spec: dict, action_space: gym.spaces.Box) -> PlanningPolicy:
        """A fresh policy of the shapes ``spec`` (a checkpoint's actor spec) describes."""
        from spinrl.models import GaussianEnsemble

        settings = spec["planner"]
        if settings["model"] == "given":
            model = PendulumModel()
        else:
            model = GaussianEnsemble(spec["obs_dim"], action_space.shape[0],
                                     settings["members"], spec["hid"], spec["act"],
                                     settings["termination"] == "learned")  # fmt: skip
        return cls(model, action_space, settings)

    @torch.no_grad()
    def deterministic(self, obs: torch.Tensor) -> torch.Tensor:
        s = self.settings
        first = []
        for row in obs.to(self.dtype):
            plan = cem(self.model, row, s["horizon"], s["population"], s["elites"],
                       s["iterations"], self.action_space.low, self.action_space.high,
                       generator=torch.Generator().manual_seed(0), momentum=s["momentum"],
                       **self.sampling)  # fmt: skip
            first.append(plan[0])
        return torch.stack(first).float()


def sampling_rules(settings: dict) -> dict:
    """sequence_returns' particles, propagation, reward_fn and termination_fn for a
    planner's ``settings`` (see PlanningPolicy). With termination "learned" there is no
    termination_fn: the model's termination head ends particles."""
    given = settings["model"] == "given"
    env = settings["env"]
    return {
        "particles": 1 if given else settings["particles"],
        "propagation": settings["propagation"],
        "reward_fn": known_reward(env) if settings["reward"] == "known" and not given else None,
        "termination_fn": known_termination(env) if settings["termination"] == "known" else None,
    }
