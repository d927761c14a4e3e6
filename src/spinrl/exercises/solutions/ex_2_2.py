"""Exercise 2.2, a solution: the critic returned Q of shape [B, 1]. In compute_loss_q,
q_next [B, 1] times (1 - terminated) [B] broadcast y to [B, B], y[i, j] = r_j + gamma (1 - d_j)
Q_targ(s'_i, .), and Q [B, 1] - y [B, B] made the loss a mean over B x B pairs. What minimises
it is Q(s_i, a_i) = the batch's *average* reward plus its own discounted next value: the reward
of the transition itself was lost, so the critic could not tell a good action from a bad one,
and the actor followed it. One squeeze fixes it: Q(s, a) has shape [B].

It is silent because nothing is wrong with any single line: the shapes are legal to broadcast,
the loss is a finite number that even goes down.
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
        return self.net(torch.cat([obs, act], dim=-1)).squeeze(-1)  # [B], not [B, 1]


def compute_loss_q(data: dict, q, q_targ, actor_targ, gamma: float) -> torch.Tensor:
    """L_Q. data: {"obs", "actions", "rewards" [B], "next_obs", "terminated" [B] (1.0 / 0.0)}."""
    with torch.no_grad():
        q_next = q_targ(data["next_obs"], actor_targ(data["next_obs"]))
        y = data["rewards"] + gamma * (1 - data["terminated"]) * q_next
    return ((q(data["obs"], data["actions"]) - y) ** 2).mean()


def compute_loss_pi(data: dict, q, actor) -> torch.Tensor:
    """L_mu."""
    return -q(data["obs"], actor(data["obs"])).mean()
