"""Exercise 1.1: the log-likelihood of a diagonal Gaussian (docs/theory/part1.md, eq. 1.3).

A diagonal Gaussian policy over k action dimensions has means mu and standard deviations
sigma = exp(log_std). The log-likelihood of an action x is

    log pi(x) = -1/2 sum_{i=1}^{k} [ (x_i - mu_i)^2 / sigma_i^2 + 2 log sigma_i + log 2 pi ]

Check your answer with:  spinrl exercise check 1.1 ex_1_1.py
"""

import torch


def gaussian_likelihood(x: torch.Tensor, mu: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """The log-likelihood of each row of x under N(mu, diag(exp(log_std)^2)).

    x, mu: [B, k], a batch of B actions and their means.
    log_std: [k] (the same for the whole batch) or [B, k].
    Return: [B], one log-likelihood per row, summed over the k action dimensions. Use torch
    operations only, so that the result stays differentiable in mu and log_std.
    """
    raise NotImplementedError
