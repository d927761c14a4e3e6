"""Exercise p3.pg, a solution: minus the mean of log pi(a_t|s_t) Phi_t."""

import torch


def pg_loss(logits: torch.Tensor, actions: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """The simplest policy gradient's loss over a batch."""
    log_probs = torch.log_softmax(logits, dim=-1)  # eq. 1.2 for every action
    logp = log_probs.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)
    return -(logp * weights).mean()
