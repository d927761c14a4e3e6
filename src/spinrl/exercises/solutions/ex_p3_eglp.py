"""Exercise p3.eglp, a solution: the score of a diagonal Gaussian, and its Monte Carlo mean."""

import torch


def score(
    x: torch.Tensor, mu: torch.Tensor, log_std: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Differentiate eq. 1.3 term by term, with z = (x - mu) / sigma:
    d/dmu_i = z_i / sigma_i, and d/dlog sigma_i = z_i^2 - 1 (the -1 from the 2 log sigma_i)."""
    sigma = torch.exp(log_std)
    z = (x - mu) / sigma
    return z / sigma, z**2 - 1


def eglp_estimate(
    mu: torch.Tensor, log_std: torch.Tensor, n: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """The average score of n samples from the distribution itself."""
    x = mu + torch.exp(log_std) * torch.randn(n, mu.shape[0], generator=generator)
    d_mu, d_log_std = score(x, mu, log_std)
    return d_mu.mean(0), d_log_std.mean(0)
