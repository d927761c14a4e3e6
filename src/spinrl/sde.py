"""Generalized state-dependent exploration (gSDE, Raffin, Kober and Stulp 2022) for SAC and
PPO.

A plain Gaussian policy draws fresh noise at every step, so its actions jitter from step to
step; on a task like MountainCarContinuous, where only a long, consistent push reaches the
goal, that jitter averages out and the agent never finds the reward. gSDE makes the noise a
function of the state instead. With phi(s) the policy's last hidden features and a matrix
theta drawn from N(0, sigma^2) elementwise (sigma: a learned [features, actions] matrix),

    u = mu(s) + phi(s)^T theta,    a = center + scale * tanh(u)

theta is held fixed for many steps (drawn anew every ``sde_sample_freq`` steps, or at the
start of each collection between update phases), so nearby states get nearby actions and
the exploration is smooth in time. Given phi(s), u is Gaussian with

    Var[u_j] = sum_i phi_i(s)^2 sigma_ij^2

which gives log pi(a|s) the same way as the squashed Gaussian's (docs eq. 5.3). In the update
each gradient step draws one theta (reparameterised, so sigma learns through the sample as
well as through the density) shared by the whole minibatch, as Stable-Baselines3 does.

Stable-Baselines3's settings are kept: sigma = exp(log_std) (no ``expln``), a full
[features, actions] matrix, 1e-6 added to the variance; for SAC gradients through phi
(``learn_features``) and the mean clipped to [-2, 2] before the tanh. Two things are computed
differently. The log-density is taken at u itself rather than at atanh(tanh(u)) (equal in
exact arithmetic; SB3 also clamps tanh(u) to 1 - 1.2e-7 first). The tanh correction is the
exact log(1 - tanh(u)^2), where SB3 adds 1e-6 inside the logarithm: per action the two
differ by 1e-4 nats at |u| = 3, 0.04 at |u| = 6 and 1.2 at |u| = 8, values of u that the
mean's clip at 2 and a small sigma make rare.

A stochastic policy loaded from a run (``spinrl watch`` without --deterministic) draws a
fresh matrix at every step: a sample of the same policy, without the held noise of training.

PPO's policy (StateDependentGaussianActor) has no squashing: a = mu(s) + phi(s)^T theta,
clipped to the bounds by the rollout only for the environment, as the plain Gaussian. Its
log-probability and entropy are the Gaussian's with the state-dependent standard deviation,
which, as SB3's on-policy gSDE, sees phi without its gradient: sigma learns through the
variance, the features through the mean. The rollout draws one matrix per environment from
its own generator at the start of each collection and every ``sde_sample_freq`` steps.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from spinrl.errors import ConfigError
from spinrl.policies import (
    ACTOR_KINDS,
    LOG_2PI,
    GaussianActor,
    SquashedGaussianActor,
    bounded,
    diag_gaussian_log_prob,
    hidden_trunk,
    run_mlp,
)


def check_sample_freq(sample_freq: int) -> None:
    """ConfigError unless sde_sample_freq is -1 (a draw per collection only) or >= 1."""
    if sample_freq == 0 or sample_freq < -1:
        raise ConfigError(
            f"sde_sample_freq must be -1 (once per collection) or >= 1, got {sample_freq}"
        )


CLIP_MEAN = 2.0  # SB3's clip_mean: |mu| <= 2 before the tanh
VARIANCE_EPS = 1e-6  # SB3's epsilon under the square root


class StateDependentActor(SquashedGaussianActor):
    """SAC's policy with gSDE: u = mu(s) + phi(s)^T theta, a = center + scale * tanh(u).

    ``act`` uses the exploration matrices ``reset_noise`` drew (one per environment),
    ``sample`` one matrix for the whole batch: a fresh reparameterised draw, or ``theta`` if
    given (``draw_theta``), so the critics' target and the policy's loss can share it.
    """

    def __init__(
        self,
        obs_dim: int,
        act_space: gym.Space,
        hid=(256, 256),
        act="relu",
        encoder: nn.Module | None = None,
        log_std_init: float = -3.0,
    ) -> None:
        nn.Module.__init__(self)  # not SquashedGaussianActor's: no network of mean and log std
        act_dim = bounded(self, act_space, encoder)
        self.trunk = hidden_trunk(obs_dim, hid, act)
        width = hid[-1] if hid else obs_dim
        self.mu = nn.Linear(width, act_dim)
        self.log_std = nn.Parameter(torch.full((width, act_dim), float(log_std_init)))
        self.reset_noise(1)

    def _latent(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """phi(s), the last hidden features, and mu(s) clipped to [-CLIP_MEAN, CLIP_MEAN]."""
        phi = run_mlp(self.trunk, self.features(obs))
        mu = nn.functional.linear(phi, self.mu.weight, self.mu.bias)
        return phi, mu.clamp(-CLIP_MEAN, CLIP_MEAN)

    def draw_theta(self) -> torch.Tensor:
        """theta = sigma * eps, eps ~ N(0, 1): differentiable in log_std."""
        return self.log_std.exp() * torch.randn_like(self.log_std)

    def reset_noise(self, n: int = 1) -> None:
        """Draw the exploration matrices ``act`` uses, one for each of n environments."""
        with torch.no_grad():
            sigma = self.log_std.exp()
            self.explore_theta = sigma * torch.randn(n, *sigma.shape, dtype=sigma.dtype)

    def act(self, obs: torch.Tensor) -> torch.Tensor:
        """An exploring action with the held matrices: row i of obs uses matrix i (one
        matrix held: every row uses it)."""
        phi, mu = self._latent(obs)
        theta = self.explore_theta
        if phi.dim() == 1 or len(theta) == 1 or len(theta) != len(phi):
            return self._squash(mu + phi @ theta[0])
        return self._squash(mu + torch.bmm(phi.unsqueeze(1), theta).squeeze(1))

    def std(self, phi: torch.Tensor) -> torch.Tensor:
        """The standard deviation of u given phi(s): sqrt(phi^2 @ sigma^2 + 1e-6)."""
        return (phi.square() @ (2.0 * self.log_std).exp() + VARIANCE_EPS).sqrt()

    def sample(self, obs: torch.Tensor, theta: torch.Tensor | None = None):
        """A reparameterised sample a = g(mu + phi^T theta) and log pi(a|s), one theta for
        the whole batch (a fresh draw unless given)."""
        phi, mu = self._latent(obs)
        noise = phi @ (self.draw_theta() if theta is None else theta)
        std = self.std(phi)
        u = mu + noise
        log_normal = -0.5 * ((noise / std).square() + 2.0 * std.log() + LOG_2PI).sum(-1)
        return self._squash(u), log_normal - self._log_det(u)

    def deterministic(self, obs: torch.Tensor) -> torch.Tensor:
        """The action at the mean, for evaluation."""
        return self._squash(self._latent(obs)[1])


class StateDependentGaussianActor(GaussianActor):
    """PPO's policy with gSDE: a = mu(s) + phi(s)^T theta, phi(s) the mean network's last
    hidden features, theta ~ N(0, sigma^2) with sigma = exp(log_std) a [features, actions]
    matrix. Given s, a ~ N(mu(s), phi(s)^2 @ sigma^2 + 1e-6) per action (phi detached, as SB3's
    on-policy gSDE). Everything else (the mean network and its initialisation) is
    GaussianActor's."""

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        hid=(64, 64),
        act="tanh",
        log_std_init: float = 0.0,
        orthogonal=False,
        encoder: nn.Module | None = None,
    ) -> None:
        super().__init__(obs_dim, act_dim, hid, act, log_std_init, orthogonal, encoder)
        width = hid[-1] if hid else obs_dim
        self.log_std = nn.Parameter(torch.full((width, act_dim), float(log_std_init)))
        # phi(s): mu_net's layers before the mean's, the same modules (a tuple: registered once)
        self.trunk = tuple(self.mu_net)[:-1]
        self.explore_theta: np.ndarray | None = None
        self.sample_freq = -1  # the run's sde_sample_freq (set by the on-policy session)

    def _phi_mu(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        phi = run_mlp(self.trunk, self.features(obs))
        head = self.mu_net[-1]
        return phi, nn.functional.linear(phi, head.weight, head.bias)

    def _log_std_of(self, phi: torch.Tensor) -> torch.Tensor:
        """log of sqrt(phi^2 @ sigma^2 + 1e-6), phi without its gradient."""
        var = phi.detach().square() @ (2.0 * self.log_std).exp() + VARIANCE_EPS
        return 0.5 * var.log()

    def sample(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A fresh matrix theta for the batch, a = mu + phi^T theta, and log pi(a|s)."""
        phi, mu = self._phi_mu(obs)
        theta = self.log_std.exp() * torch.randn_like(self.log_std)
        act = mu + phi @ theta
        return act, diag_gaussian_log_prob(act, mu, self._log_std_of(phi))

    def numpy_sampler(self):
        raise TypeError("gSDE samples with explore(); the rollout calls it instead")

    def explore(self, obs: np.ndarray, mu: np.ndarray, step: int,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """The rollout's sample for N envs: a = mu + phi^T theta_env and log pi(a|s), with the
        matrices drawn from ``rng`` at step 0 of a collection and every ``sample_freq`` steps
        (when > 0). ``mu``: the means the rollout's fused forward already computed."""
        sample_freq = self.sample_freq
        with torch.inference_mode():
            phi = run_mlp(self.trunk, self.features(torch.from_numpy(obs))).numpy()
            sigma = self.log_std.exp().numpy()
        if step == 0 or (sample_freq > 0 and step % sample_freq == 0):
            eps = rng.standard_normal((len(obs), *sigma.shape), dtype=np.float32)
            self.explore_theta = sigma * eps
        noise = np.einsum("nk,nkj->nj", phi, self.explore_theta)
        std = np.sqrt(np.square(phi) @ np.square(sigma) + VARIANCE_EPS)
        logp = -0.5 * (np.square(noise / std) + 2.0 * np.log(std) + LOG_2PI).sum(-1)
        return (mu + noise).astype(np.float32), logp.astype(np.float32)

    def log_prob(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        phi, mu = self._phi_mu(obs)
        return diag_gaussian_log_prob(act, mu, self._log_std_of(phi))

    def log_prob_and_entropy(self, obs, act) -> tuple[torch.Tensor, torch.Tensor]:
        phi, mu = self._phi_mu(obs)
        log_std = self._log_std_of(phi)
        entropy = (log_std + 0.5 * (LOG_2PI + 1.0)).sum(-1)
        return diag_gaussian_log_prob(act, mu, log_std), entropy

    def entropy(self, obs: torch.Tensor) -> torch.Tensor:
        return (self._log_std_of(self._phi_mu(obs)[0]) + 0.5 * (LOG_2PI + 1.0)).sum(-1)

    def dist_params(self, obs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The means and the state-dependent log standard deviations, [B, A] each (which
        GaussianActor's closed-form KL reads)."""
        phi, mu = self._phi_mu(obs)
        return mu, self._log_std_of(phi)


ACTOR_KINDS["squashed_sde"] = StateDependentActor
ACTOR_KINDS["gaussian_sde"] = StateDependentGaussianActor


def noise_due(step: int, sample_freq: int) -> bool:
    """Whether the exploration matrices are drawn anew before step ``step`` of a collection
    (the steps between two update phases), as SB3's collection does: at its start, and every
    ``sample_freq`` steps within it when sample_freq > 0."""
    return step == 0 or (sample_freq > 0 and step % sample_freq == 0)
