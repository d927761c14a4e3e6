"""Exercise p2.ddqn: the Double-DQN target (docs/algorithms/dqn.md).

DQN regresses Q(s, a) on a target built from a slowly moving copy of the network, Q_targ.
The plain target, G + gamma^m max_a Q_targ(s', a), uses the same noisy estimates to choose
the best action and to value it, so it is biased upwards (van Hasselt et al. 2016). Double
DQN lets the online network choose and the target network value the choice:

    a*(s') = argmax_a Q_online(s', a)
    y      = G + gamma^m (1 - d) Q_targ(s', a*(s'))

For each row of a batch of (n-step) transitions: G is the return of the m <= n rewards
r_t + gamma r_{t+1} + ... + gamma^(m-1) r_{t+m-1}, gamma^m the discount of the state s' that
follows them (m < n where the episode ended sooner), and d = 1 where the episode terminated
at or before s' (a time limit is not a termination: there d = 0 and y bootstraps).

The target is computed under torch.no_grad(); no gradient is needed. The check compares your
function with spinrl's on random batches, then trains spinrl's DQN on CartPole-v1 with it.

Check your answer with:  spinrl exercise check p2.ddqn ex_p2_ddqn.py
"""

import torch


def double_dqn_target(
    returns: torch.Tensor,
    discounts: torch.Tensor,
    terminated: torch.Tensor,
    q_next_target: torch.Tensor,
    q_next_online: torch.Tensor,
) -> torch.Tensor:
    """The Double-DQN target y for a batch.

    returns (G), discounts (gamma^m), terminated (d, 1.0 or 0.0): [B] floats;
    q_next_target, q_next_online: [B, n_actions], Q_targ(s', .) and Q_online(s', .).
    Return: [B], the targets.
    """
    raise NotImplementedError
