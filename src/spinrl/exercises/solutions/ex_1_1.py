"""Exercise 1.1, a solution: eq. 1.3 written out (docs/theory/part1.md)."""

import math

import torch


def gaussian_likelihood(x: torch.Tensor, mu: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """log N(x; mu, diag(sigma^2)) per row, summed over the last (action) dimension."""
    z = (x - mu) / torch.exp(log_std)  # each dimension in units of its standard deviation
    per_dim = z**2 + 2 * log_std + math.log(2 * math.pi)
    return -0.5 * per_dim.sum(dim=-1)
