"""Exercise 1.2, a solution: an MLP for the mean, a free parameter vector for log sigma."""

import math

import torch
from torch import nn


class GaussianActor(nn.Module):
    def __init__(self, obs_dim: int, act_dim: int, hid=(64, 64), activation=nn.Tanh) -> None:
        super().__init__()
        sizes = [obs_dim, *hid, act_dim]
        layers = []
        for i in range(len(sizes) - 1):
            layers.append(nn.Linear(sizes[i], sizes[i + 1]))
            if i < len(sizes) - 2:
                layers.append(activation())
        self.mu_net = nn.Sequential(*layers)
        # State-independent: sigma does not depend on s, but is learned like any weight.
        self.log_std = nn.Parameter(torch.full((act_dim,), -0.5))

    def log_prob(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        mu = self.mu_net(obs)
        z = (act - mu) / torch.exp(self.log_std)
        return -0.5 * (z**2 + 2 * self.log_std + math.log(2 * math.pi)).sum(-1)

    def sample(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            mu = self.mu_net(obs)
            act = mu + torch.exp(self.log_std) * torch.randn_like(mu)
        return act, self.log_prob(obs, act)
