"""Exercise p2.mpc, a solution: all P sequences rolled out together, one model step per t."""

import torch


def mpc_step(
    model,
    obs: torch.Tensor,
    horizon: int,
    population: int,
    low: torch.Tensor,
    high: torch.Tensor,
    gamma: float = 1.0,
    generator: torch.Generator | None = None,
    candidates: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The first action of the best of P sequences, and the P returns."""
    if candidates is None:
        u = torch.rand(population, horizon, len(low), dtype=obs.dtype, generator=generator)
        candidates = low + (high - low) * u  # uniform in [low, high]
    P, H = candidates.shape[:2]
    states = obs.expand(P, *obs.shape)
    returns = torch.zeros(P, dtype=obs.dtype)
    for t in range(H):
        states, rewards = model.step(states, candidates[:, t])
        returns = returns + gamma**t * rewards
    best = returns.argmax()
    return candidates[best, 0], returns
