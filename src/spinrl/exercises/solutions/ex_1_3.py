"""Exercise 1.3, a solution: TD3's clipped double-Q target with target policy smoothing."""

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
    obs, act, next_obs = data["obs"], data["actions"], data["next_obs"]
    with torch.no_grad():  # y is a fixed regression target
        a_next = ac_targ.pi(next_obs)
        eps = (torch.randn_like(a_next) * target_noise).clamp(-noise_clip, noise_clip)
        a_next = (a_next + eps).clamp(-act_limit, act_limit)
        q_next = torch.min(ac_targ.q1(next_obs, a_next), ac_targ.q2(next_obs, a_next))
        y = data["rewards"] + gamma * (1 - data["terminated"]) * q_next
    return ((ac.q1(obs, act) - y) ** 2).mean() + ((ac.q2(obs, act) - y) ** 2).mean()


def compute_loss_pi(data: dict, ac) -> torch.Tensor:
    obs = data["obs"]
    return -ac.q1(obs, ac.pi(obs)).mean()
