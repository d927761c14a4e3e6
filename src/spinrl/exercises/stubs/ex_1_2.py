"""Exercise 1.2: the Gaussian actor of PPO (docs/theory/part1.md, "Diagonal Gaussian
policies"; docs/algorithms/ppo.md).

For continuous actions PPO's policy is pi(.|s) = N(mu(s), diag(sigma^2)): an MLP gives the
mean mu(s), and log sigma is a vector of parameters of its own, the same in every state. It
samples a = mu(s) + sigma * eps with eps ~ N(0, I), and the log-likelihood of an action is
eq. 1.3:

    log pi(a|s) = -1/2 sum_{i=1}^{k} [ (a_i - mu_i(s))^2 / sigma_i^2 + 2 log sigma_i + log 2 pi ]

The check tests your actor's pieces, then trains PPO on InvertedPendulum-v5 with it: it must
learn.

Check your answer with:  spinrl exercise check 1.2 ex_1_2.py
"""

import torch
from torch import nn


class GaussianActor(nn.Module):
    def __init__(self, obs_dim: int, act_dim: int, hid=(64, 64), activation=nn.Tanh) -> None:
        """Build the two things PPO trains:

        self.mu_net: an nn.Sequential of nn.Linear layers obs_dim -> hid[0] -> ... -> act_dim,
            with an activation() layer between each two (none after the last);
        self.log_std: an nn.Parameter of shape [act_dim], every entry -0.5.
        """
        super().__init__()
        raise NotImplementedError

    def log_prob(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        """log pi(act|obs) for a batch: obs [B, obs_dim], act [B, act_dim] -> [B].
        Differentiable in mu_net's weights and in log_std."""
        raise NotImplementedError

    def sample(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Actions a ~ pi(.|obs) for a batch obs [B, obs_dim], and their log-likelihoods:
        return (a [B, act_dim], log pi(a|obs) [B])."""
        raise NotImplementedError
