"""A probabilistic ensemble dynamics model (PETS, Chua et al. 2018), for model-based RL.

E members, evaluated together with one batched product per layer (as the critics of
``policies.QEnsemble``). Each maps a normalised (observation, action) to a diagonal Gaussian
over the normalised target (the change in observation, and the reward):

    mean, log var = member_e(x)
    log var is kept between learned bounds:  lv <- max - softplus(max - lv)
                                             lv <- min + softplus(lv - min)
    loss = sum_e mean over the batch and dims of the Gaussian NLL of member e
           + 0.01 (sum(max) - sum(min))       (the bounds tighten where the data allow)

Each member trains on its own bootstrap resample of the data (aleatoric noise in the
variance, epistemic uncertainty in how the members disagree); a held-out share of the data
stops training once its loss stops improving. ``step`` samples the next observation and
reward from a chosen member per row, which is how trajectory sampling (TS-1, TS-inf) uses it.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from spinrl.policies import activation

LOG_2PI = math.log(2 * math.pi)


def gaussian_nll(mean: torch.Tensor, log_var: torch.Tensor, target: torch.Tensor):
    """-log N(target; mean, exp(log_var)), averaged over every element:
    1/2 [log var + (target - mean)^2 / var + log 2 pi]."""
    return 0.5 * (log_var + (target - mean).square() * torch.exp(-log_var) + LOG_2PI).mean()


class GaussianEnsemble(nn.Module):
    """``members`` Gaussian MLPs from [obs, act] to [next_obs - obs, reward]."""

    def __init__(self, obs_dim: int, act_dim: int, members: int = 5, hid=(200, 200, 200),
                 act: str = "silu") -> None:  # fmt: skip
        super().__init__()
        self.obs_dim, self.act_dim, self.members = obs_dim, act_dim, members
        sizes = [obs_dim + act_dim, *hid, 2 * (obs_dim + 1)]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in itertools.pairwise(sizes):
            w = torch.empty(members, fan_in, fan_out)
            for e in range(members):  # each member as nn.Linear would start it
                nn.init.kaiming_uniform_(w[e].T, a=math.sqrt(5))
            bound = 1 / math.sqrt(fan_in)
            self.weights.append(nn.Parameter(w))
            self.biases.append(
                nn.Parameter(torch.empty(members, 1, fan_out).uniform_(-bound, bound))
            )
        self.act = activation(act)()
        out = obs_dim + 1
        self.max_log_var = nn.Parameter(torch.full((out,), 0.5))
        self.min_log_var = nn.Parameter(torch.full((out,), -10.0))
        for name, dim in (("in", obs_dim + act_dim), ("out", out)):
            self.register_buffer(f"{name}_mean", torch.zeros(dim))
            self.register_buffer(f"{name}_std", torch.ones(dim))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised inputs [E, B, in] -> (mean, bounded log variance), each [E, B, out]."""
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            x = torch.baddbmm(b, x, w)
            if i < len(self.weights) - 1:
                x = self.act(x)
        mean, log_var = x.chunk(2, dim=-1)
        log_var = self.max_log_var - F.softplus(self.max_log_var - log_var)
        log_var = self.min_log_var + F.softplus(log_var - self.min_log_var)
        return mean, log_var

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The training loss on normalised [E, B, in] inputs and [E, B, out] targets."""
        mean, log_var = self(x)
        nll = sum(gaussian_nll(mean[e], log_var[e], y[e]) for e in range(self.members))
        return nll + 0.01 * (self.max_log_var.sum() - self.min_log_var.sum())

    def set_normalizers(self, inputs: torch.Tensor, targets: torch.Tensor) -> None:
        for name, data in (("in", inputs), ("out", targets)):
            getattr(self, f"{name}_mean").copy_(data.mean(0))
            getattr(self, f"{name}_std").copy_(data.std(0).clamp_min(1e-6))

    def fit(self, obs, actions, next_obs, rewards, *, epochs: int = 50, batch_size: int = 256,
            lr: float = 1e-3, holdout: float = 0.1, patience: int = 5,
            rng: np.random.Generator | None = None) -> float:  # fmt: skip
        """Train on transitions (arrays [N, ...]); returns the held-out loss (Gaussian NLL
        in normalised units, averaged over the members) of the best epoch, whose parameters
        are kept. Members see their own bootstrap resample of the training share."""
        rng = rng or np.random.default_rng(0)
        inputs = torch.as_tensor(np.concatenate([obs, actions], -1), dtype=torch.float32)
        deltas = np.concatenate([next_obs - obs, np.asarray(rewards).reshape(-1, 1)], -1)
        targets = torch.as_tensor(deltas, dtype=torch.float32)
        order = torch.as_tensor(rng.permutation(len(inputs)))
        n_hold = max(1, int(holdout * len(inputs))) if len(inputs) > 1 else 0
        hold, train = order[:n_hold], order[n_hold:]
        self.set_normalizers(inputs[train], targets[train])
        x_all, y_all = self.normalize(inputs, targets)
        boot = torch.as_tensor(rng.integers(0, len(train), (self.members, len(train))))
        opt = torch.optim.Adam(self.parameters(), lr=lr)
        best, best_state, waited = math.inf, None, 0
        for _ in range(epochs):
            perm = torch.as_tensor(rng.permutation(len(train)))
            for start in range(0, len(train), batch_size):
                idx = train[boot[:, perm[start : start + batch_size]]]  # [E, b]
                loss = self.loss(x_all[idx], y_all[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
            held = self.holdout_loss(x_all[hold], y_all[hold]) if n_hold else loss.item()
            if held < best - 1e-4:
                best, waited = held, 0
                best_state = {k: v.detach().clone() for k, v in self.state_dict().items()}
            else:
                waited += 1
                if waited >= patience:
                    break
        if best_state is not None:
            self.load_state_dict(best_state)
        return best

    @torch.no_grad()
    def holdout_loss(self, x: torch.Tensor, y: torch.Tensor) -> float:
        mean, log_var = self(x.expand(self.members, *x.shape))
        return float(gaussian_nll(mean, log_var, y.expand_as(mean)))

    def normalize(self, inputs: torch.Tensor, targets: torch.Tensor | None = None):
        x = (inputs - self.in_mean) / self.in_std
        return x if targets is None else (x, (targets - self.out_mean) / self.out_std)

    @torch.no_grad()
    def predict(self, obs: torch.Tensor, actions: torch.Tensor):
        """Every member's Gaussian over [next_obs, reward] in raw units: (mean, var), each
        [E, B, obs_dim + 1], for observations and actions [B, ...]."""
        x = self.normalize(torch.cat([obs, actions], -1).float())
        mean, log_var = self(x.expand(self.members, *x.shape))
        mean = mean * self.out_std + self.out_mean
        var = torch.exp(log_var) * self.out_std.square()
        offset = torch.cat([obs.float(), torch.zeros(*obs.shape[:-1], 1)], -1)
        return mean + offset, var

    @torch.no_grad()
    def step(self, obs: torch.Tensor, actions: torch.Tensor, members: torch.Tensor,
             generator: torch.Generator | None = None):  # fmt: skip
        """A sample of (next_obs, reward) per row, row i drawn from member ``members[i]``.

        Each member computes only its own rows: the rows are grouped by member into one
        [E, most rows of a member] batch (members with fewer rows repeat one of theirs), so
        a balanced assignment, as trajectory sampling makes, wastes nothing."""
        rows = len(members)
        order = members.argsort(stable=True)  # rows grouped by member
        counts = torch.bincount(members, minlength=self.members)
        starts = torch.cumsum(counts, 0) - counts
        pos = torch.arange(int(counts.max()))
        valid = pos < counts[:, None]  # [E, m]: which slots hold a real row
        slot = (starts[:, None] + pos % counts.clamp_min(1)[:, None]).clamp_max(rows - 1)
        x = self.normalize(torch.cat([obs, actions], -1).float())
        mean, log_var = self(x[order[slot]])
        target = order[slot[valid]]  # the row each valid slot belongs to
        mean = torch.empty(rows, mean.shape[-1]).index_copy_(0, target, mean[valid])
        log_var = torch.empty_like(mean).index_copy_(0, target, log_var[valid])
        mean = mean * self.out_std + self.out_mean
        mean[:, : self.obs_dim] += obs.float()
        std = torch.exp(0.5 * log_var) * self.out_std
        sample = mean + std * torch.randn(mean.shape, generator=generator)
        return sample[:, : self.obs_dim], sample[:, self.obs_dim]
