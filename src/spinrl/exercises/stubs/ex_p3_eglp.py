"""Exercise p3.eglp: the expected grad-log-prob lemma, shown by Monte Carlo
(docs/theory/part3.md, eq. 3.4).

For any distribution P_theta,

    E_{x ~ P_theta} [ grad_theta log P_theta(x) ] = 0.

Take P_theta = N(mu, diag(sigma^2)), theta = (mu, log sigma), whose log-density is eq. 1.3:

    log P(x) = -1/2 sum_i [ (x_i - mu_i)^2 / sigma_i^2 + 2 log sigma_i + log 2 pi ]

1. Write score(): the gradient of log P(x) in mu and in log sigma, by hand (no autograd).
2. Write eglp_estimate(): draw n samples x ~ P_theta and average score() over them. By the
   lemma the average goes to 0 as n grows, as fast as 1 / sqrt(n).

Check your answer with:  spinrl exercise check p3.eglp ex_p3_eglp.py
"""

import torch


def score(
    x: torch.Tensor, mu: torch.Tensor, log_std: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(d log P(x) / d mu, d log P(x) / d log sigma), one row per sample.

    x: [n, k] samples; mu, log_std: [k].
    Return: two tensors of shape [n, k].
    """
    raise NotImplementedError


def eglp_estimate(
    mu: torch.Tensor, log_std: torch.Tensor, n: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """The Monte Carlo average of score(x) over n samples x ~ N(mu, diag(exp(log_std)^2)).

    Draw the samples with torch.randn(..., generator=generator).
    Return: (the mean of d log P / d mu, the mean of d log P / d log sigma), each of shape [k].
    """
    raise NotImplementedError
