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

The return of a sequence is the undiscounted sum of the model's rewards over the horizon.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import torch


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
        state = torch.stack([torch.atan2(obs[..., 1], obs[..., 0]), obs[..., 2]], -1)
        next_state, reward = self.step_state(state, action)
        th, thdot = next_state[..., 0], next_state[..., 1]
        return torch.stack([torch.cos(th), torch.sin(th), thdot], -1), reward


def angle_normalize(x: torch.Tensor) -> torch.Tensor:
    """The angle in [-pi, pi)."""
    return torch.remainder(x + math.pi, 2 * math.pi) - math.pi


def sequence_returns(model, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """The model's summed rewards for each of P action sequences [P, H, A] from one
    observation [obs_dim]: all P rolled out together, one batched model step per time step."""
    state = obs.expand(actions.shape[0], *obs.shape)
    total = torch.zeros(actions.shape[0], dtype=actions.dtype)
    for t in range(actions.shape[1]):
        state, reward = model.step(state, actions[:, t])
        total = total + reward
    return total


def random_shooting(model, obs, horizon: int, population: int, low, high, generator=None):
    """The first action of the best of ``population`` uniform random sequences, and that
    sequence [H, A]."""
    low, high = torch.as_tensor(low, dtype=obs.dtype), torch.as_tensor(high, dtype=obs.dtype)
    u = torch.rand(population, horizon, len(low), dtype=obs.dtype, generator=generator)
    actions = low + (high - low) * u
    best = sequence_returns(model, obs, actions).argmax()
    return actions[best, 0], actions[best]


def cem(model, obs, horizon: int, population: int, elites: int, iterations: int, low, high,
        mean=None, std=None, generator=None):  # fmt: skip
    """The cross-entropy method over action sequences: returns the plan (the final mean,
    [H, A]). ``mean`` warm-starts it (default: the middle of the action range); ``std``
    defaults to half the range."""
    low, high = torch.as_tensor(low, dtype=obs.dtype), torch.as_tensor(high, dtype=obs.dtype)
    shape = (horizon, len(low))
    mean = ((low + high) / 2).expand(shape).clone() if mean is None else mean.clone()
    std = ((high - low) / 2).expand(shape).clone() if std is None else std.clone()
    for _ in range(iterations):
        noise = torch.randn(population, *shape, dtype=obs.dtype, generator=generator)
        actions = torch.max(torch.min(mean + std * noise, high), low)
        top = sequence_returns(model, obs, actions).topk(elites).indices
        mean, std = actions[top].mean(0), actions[top].std(0)
    return mean


class MPC:
    """Model-predictive control with CEM: plan, act with the first action, shift the plan to
    warm-start the next step. ``act(obs)`` takes and returns numpy arrays, like a policy."""

    def __init__(self, model, action_space: gym.spaces.Box, horizon: int = 25,
                 population: int = 200, elites: int = 20, iterations: int = 4,
                 seed: int = 0):  # fmt: skip
        self.model, self.horizon = model, horizon
        self.population, self.elites, self.iterations = population, elites, iterations
        self.low = torch.as_tensor(action_space.low, dtype=torch.float64)
        self.high = torch.as_tensor(action_space.high, dtype=torch.float64)
        self.generator = torch.Generator().manual_seed(seed)
        self.plan: torch.Tensor | None = None

    def reset(self) -> None:
        self.plan = None

    def act(self, obs: np.ndarray) -> np.ndarray:
        obs_t = torch.as_tensor(np.asarray(obs), dtype=torch.float64)
        warm = None
        if self.plan is not None:  # the rest of the last plan, its last step repeated
            warm = torch.cat([self.plan[1:], self.plan[-1:]])
        self.plan = cem(self.model, obs_t, self.horizon, self.population, self.elites,
                        self.iterations, self.low, self.high, mean=warm,
                        generator=self.generator)  # fmt: skip
        return self.plan[0].numpy().astype(np.float32)
