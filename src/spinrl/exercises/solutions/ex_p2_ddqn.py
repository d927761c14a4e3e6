"""Exercise p2.ddqn, a solution: the online network picks a*, the target network values it."""

import torch


def double_dqn_target(
    returns: torch.Tensor,
    discounts: torch.Tensor,
    terminated: torch.Tensor,
    q_next_target: torch.Tensor,
    q_next_online: torch.Tensor,
) -> torch.Tensor:
    """y = G + gamma^m (1 - d) Q_targ(s', argmax_a Q_online(s', a)), one per row."""
    a_star = q_next_online.argmax(dim=-1, keepdim=True)  # [B, 1]: the online network picks
    q_star = q_next_target.gather(-1, a_star).squeeze(-1)  # [B]: the target network values
    return returns + discounts * (1.0 - terminated) * q_star
