"""Exercise 2.2: a silent bug in DDPG (docs/algorithms/ddpg.md).

Below is a complete DDPG: an actor mu(s), a critic Q(s, a), and their losses

    y    = r + gamma (1 - d) Q_targ(s', mu_targ(s'))        (no gradient through y)
    L_Q  = mean_B (Q(s, a) - y)^2
    L_mu = - mean_B Q(s, mu(s))

spinrl's off-policy loop (replay buffer, exploration noise, target networks, Adam) runs it.
It runs without an error, and it does not learn: there is one bug. Find it and fix it, without
looking at spinrl's own networks (spinrl/policies.py) or its TD3 (spinrl/algos/td3.py).

    spinrl exercise check 2.2 ex_2_2.py

checks your losses on a batch against the equations above, computed from your own networks,
then trains DDPG with your file on Pendulum-v1: it must reach an average test return of -400.
Hint, if you need one: think about what every tensor in compute_loss_q holds, entry by entry.
"""

import torch
from torch import nn


def mlp(sizes, activation=nn.ReLU, output_activation=nn.Identity) -> nn.Sequential:
    layers = []
    for i in range(len(sizes) - 1):
        act = activation if i < len(sizes) - 2 else output_activation
        layers += [nn.Linear(sizes[i], sizes[i + 1]), act()]
    return nn.Sequential(*layers)


class Actor(nn.Module):
    """mu(s) = act_limit * tanh(net(s)): always inside the action bounds."""

    def __init__(self, obs_dim: int, act_dim: int, act_limit: float, hid=(256, 256)) -> None:
        super().__init__()
        self.net = mlp([obs_dim, *hid, act_dim], nn.ReLU, nn.Tanh)
        self.act_limit = act_limit

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.act_limit * self.net(obs)


class QFunction(nn.Module):
    """Q(s, a) for a batch of observations [B, obs_dim] and actions [B, act_dim]."""

    def __init__(self, obs_dim: int, act_dim: int, hid=(256, 256)) -> None:
        super().__init__()
        self.net = mlp([obs_dim + act_dim, *hid, 1])

    def forward(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([obs, act], dim=-1))


def compute_loss_q(data: dict, q, q_targ, actor_targ, gamma: float) -> torch.Tensor:
    """L_Q. data: {"obs", "actions", "rewards" [B], "next_obs", "terminated" [B] (1.0 / 0.0)}."""
    with torch.no_grad():
        q_next = q_targ(data["next_obs"], actor_targ(data["next_obs"]))
        y = data["rewards"] + gamma * (1 - data["terminated"]) * q_next
    return ((q(data["obs"], data["actions"]) - y) ** 2).mean()


def compute_loss_pi(data: dict, q, actor) -> torch.Tensor:
    """L_mu."""
    return -q(data["obs"], actor(data["obs"])).mean()
