"""Exercise p3.pg: the loss of the simplest policy gradient (docs/theory/part3.md, eq. 3.7).

The policy gradient is grad J = E[ sum_t grad log pi(a_t|s_t) Phi_t ]. An optimiser minimises,
so we hand it a loss whose gradient is minus the sample estimate of grad J over a batch D:

    L(theta) = - 1/|D| sum_{t in D} log pi_theta(a_t|s_t) Phi_t

For a categorical policy, log pi(a|s) comes from the logits l(s) by eq. 1.2:
log pi(a|s) = l_a(s) - log sum_b exp l_b(s).

The check compares your loss and its gradient with the right ones, then trains a policy on
CartPole-v1 with it: it must learn.

Check your answer with:  spinrl exercise check p3.pg ex_p3_pg.py
"""

import torch


def pg_loss(logits: torch.Tensor, actions: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """The policy-gradient loss of a batch.

    logits: [B, n], the policy network's output for each state (differentiable);
    actions: [B], the actions taken (integers); weights: [B], Phi_t for each step.
    Return: a scalar tensor, differentiable in the logits.
    """
    raise NotImplementedError
