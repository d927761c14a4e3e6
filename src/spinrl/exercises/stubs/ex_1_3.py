"""Exercise 1.3: TD3's target and losses (docs/algorithms/td3.md).

TD3 has an actor mu(s) and two critics Q_1, Q_2, each with a slowly moving target copy
(mu_targ, Q_targ,1, Q_targ,2). For a batch of transitions (s, a, r, s', d), d = 1 where the
episode terminated (a time limit is not a termination: there d = 0):

    target policy smoothing:  a'(s') = clip(mu_targ(s') + clip(eps, -c, c), -a_limit, a_limit),
                              eps ~ N(0, target_noise^2), c = noise_clip
    clipped double-Q target:  y = r + gamma (1 - d) min(Q_targ,1(s', a'), Q_targ,2(s', a'))
    critic loss:              L_Q = mean_B (Q_1(s, a) - y)^2 + mean_B (Q_2(s, a) - y)^2
    actor loss:               L_pi = - mean_B Q_1(s, mu(s))

The target y is a regression target: no gradient may flow through it. The check tests your
two functions, then trains TD3 on Pendulum-v1 with them: it must learn.

Check your answer with:  spinrl exercise check 1.3 ex_1_3.py
"""

import torch


def compute_loss_q(
    data: dict,
    ac,
    ac_targ,
    gamma: float,
    target_noise: float,
    noise_clip: float,
    act_limit: float,
) -> torch.Tensor:
    """L_Q for a batch.

    data: {"obs": [B, obs_dim], "actions": [B, act_dim], "rewards": [B],
           "next_obs": [B, obs_dim], "terminated": [B] (1.0 or 0.0)}
    ac, ac_targ: the networks and their targets, each with
        .pi(obs) -> [B, act_dim] and .q1(obs, act), .q2(obs, act) -> [B].
    Return: a scalar tensor.
    """
    raise NotImplementedError


def compute_loss_pi(data: dict, ac) -> torch.Tensor:
    """L_pi for a batch (data and ac as above). Return: a scalar tensor."""
    raise NotImplementedError
