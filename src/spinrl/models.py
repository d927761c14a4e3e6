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

With ``termination_head=True`` each member also outputs the logit of a Bernoulli over "the
transition terminated", trained jointly on the stored ``terminated`` flags (never on
truncations: a time limit is not a state of the task):

    loss += sum_e mean over the batch of -log Bernoulli(terminated; sigmoid(logit_e(x)))

``step`` then also returns a terminated flag per row, *sampled* from its member's Bernoulli,
as the next observation is sampled from its Gaussian: a particle whose member gives a fall
probability of 0.3 ends in 3 of 10 futures, so a plan's mean return weighs each reward by the
chance of still being alive, and the model data MBPO keeps ends as often as the model
predicts. A threshold at p > 0.5 would instead count every risk below one half as none.
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


def bernoulli_nll(logit: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """-log Bernoulli(target; sigmoid(logit)), averaged over every element: the binary
    cross-entropy -[t log p + (1 - t) log(1 - p)], p = sigmoid(logit), in its stable form
    softplus(logit) - t logit."""
    return F.binary_cross_entropy_with_logits(logit, target)


def gaussian_nll(mean: torch.Tensor, log_var: torch.Tensor, target: torch.Tensor):
    """-log N(target; mean, exp(log_var)), averaged over every element:
    1/2 [log var + (target - mean)^2 / var + log 2 pi]."""
    return 0.5 * (log_var + (target - mean).square() * torch.exp(-log_var) + LOG_2PI).mean()


class GaussianEnsemble(nn.Module):
    """``members`` Gaussian MLPs from [obs, act] to [next_obs - obs, reward]; with
    ``termination_head``, each also outputs the logit of "terminated"."""

    def __init__(self, obs_dim: int, act_dim: int, members: int = 5, hid=(200, 200, 200),
                 act: str = "silu", termination_head: bool = False) -> None:  # fmt: skip
        super().__init__()
        self.obs_dim, self.act_dim, self.members = obs_dim, act_dim, members
        self.termination_head = termination_head
        sizes = [obs_dim + act_dim, *hid, 2 * (obs_dim + 1) + int(termination_head)]
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
        return self.heads(x)[:2]

    def heads(self, x: torch.Tensor):
        """(mean, bounded log variance, termination logit [E, B] or None without the head)."""
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            x = torch.baddbmm(b, x, w)
            if i < len(self.weights) - 1:
                x = self.act(x)
        out = self.obs_dim + 1
        logit = x[..., 2 * out] if self.termination_head else None
        mean, log_var = x[..., : 2 * out].chunk(2, dim=-1)
        return mean, self.bound(log_var), logit

    def bound(self, log_var: torch.Tensor) -> torch.Tensor:
        """The log variance kept softly between the learned bounds."""
        log_var = self.max_log_var - F.softplus(self.max_log_var - log_var)
        return self.min_log_var + F.softplus(log_var - self.min_log_var)

    def loss(self, x: torch.Tensor, y: torch.Tensor, terminated: torch.Tensor | None = None):
        """The training loss on normalised [E, B, in] inputs and [E, B, out] targets, and
        with the termination head the [E, B] terminated flags (0 or 1)."""
        mean, log_var, logit = self.heads(x)
        nll = sum(gaussian_nll(mean[e], log_var[e], y[e]) for e in range(self.members))
        loss = nll + 0.01 * (self.max_log_var.sum() - self.min_log_var.sum())
        if logit is not None:
            loss = loss + sum(bernoulli_nll(logit[e], terminated[e]) for e in range(self.members))
        return loss

    def set_normalizers(self, inputs: torch.Tensor, targets: torch.Tensor) -> None:
        for name, data in (("in", inputs), ("out", targets)):
            getattr(self, f"{name}_mean").copy_(data.mean(0))
            getattr(self, f"{name}_std").copy_(data.std(0).clamp_min(1e-6))

    def fit(self, obs, actions, next_obs, rewards, *, terminated=None, epochs: int = 50,
            batch_size: int = 256, lr: float = 1e-3, holdout: float = 0.1, patience: int = 5,
            rng: np.random.Generator | None = None) -> float:  # fmt: skip
        """Train on transitions (arrays [N, ...]); returns the held-out loss (Gaussian NLL
        in normalised units, averaged over the members, plus the termination head's
        Bernoulli NLL where it has one) of the best epoch, whose parameters are kept.
        Members see their own bootstrap resample of the training share. ``terminated``:
        the [N] flags the termination head learns (required with it, ignored without)."""
        if self.termination_head and terminated is None:
            raise ValueError("a model with a termination head needs the terminated flags")
        rng = rng or np.random.default_rng(0)
        flags = terminated if self.termination_head else np.zeros(len(obs))  # unused without
        done = torch.as_tensor(np.asarray(flags), dtype=torch.float32).reshape(-1)
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
                loss = self.loss(x_all[idx], y_all[idx], done[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
            held = loss.item()
            if n_hold:
                held = self.holdout_loss(x_all[hold], y_all[hold], done[hold])
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
    def holdout_loss(self, x: torch.Tensor, y: torch.Tensor, terminated=None) -> float:
        mean, log_var, logit = self.heads(x.expand(self.members, *x.shape))
        held = gaussian_nll(mean, log_var, y.expand_as(mean))
        if logit is not None:
            held = held + bernoulli_nll(logit, terminated.expand_as(logit))
        return float(held)

    def normalize(self, inputs: torch.Tensor, targets: torch.Tensor | None = None):
        x = (inputs - self.in_mean) / self.in_std
        return x if targets is None else (x, (targets - self.out_mean) / self.out_std)

    @torch.no_grad()
    def predict(self, obs: torch.Tensor, actions: torch.Tensor):
        """Every member's Gaussian over [next_obs, reward] in raw units: (mean, var), each
        [E, B, obs_dim + 1], for observations and actions [B, ...]; with the termination
        head also each member's probability that the transition terminates, [E, B]."""
        x = self.normalize(torch.cat([obs, actions], -1).float())
        mean, log_var, logit = self.heads(x.expand(self.members, *x.shape))
        mean = mean * self.out_std + self.out_mean
        var = torch.exp(log_var) * self.out_std.square()
        offset = torch.cat([obs.float(), torch.zeros(*obs.shape[:-1], 1)], -1)
        if logit is None:
            return mean + offset, var
        return mean + offset, var, torch.sigmoid(logit)

    @torch.no_grad()
    def step(self, obs: torch.Tensor, actions: torch.Tensor, members: torch.Tensor,
             generator: torch.Generator | None = None):  # fmt: skip
        """A sample of (next_obs, reward) per row, row i drawn from member ``members[i]``;
        with the termination head also a sampled terminated flag per row (bool), drawn after
        the Gaussian noise from the same generator.

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
        mean, log_var, logit = self.heads(x[order[slot]])
        target = order[slot[valid]]  # the row each valid slot belongs to
        mean = torch.empty(rows, mean.shape[-1]).index_copy_(0, target, mean[valid])
        log_var = torch.empty_like(mean).index_copy_(0, target, log_var[valid])
        mean = mean * self.out_std + self.out_mean
        mean[:, : self.obs_dim] += obs.float()
        std = torch.exp(0.5 * log_var) * self.out_std
        sample = mean + std * torch.randn(mean.shape, generator=generator)
        if logit is None:
            return sample[:, : self.obs_dim], sample[:, self.obs_dim]
        p_end = torch.sigmoid(torch.empty(rows).index_copy_(0, target, logit[valid]))
        ended = torch.rand(rows, generator=generator) < p_end
        return sample[:, : self.obs_dim], sample[:, self.obs_dim], ended

    @torch.no_grad()
    def rollout(self, obs: torch.Tensor, actions: torch.Tensor, members: torch.Tensor,
                generator: torch.Generator | None = None):  # fmt: skip
        """``step`` repeated over a horizon of H given actions: from observations [B, obs_dim],
        row i takes action ``actions[t, i]`` with member ``members[t, i]`` at step t, and every
        step splits the rows evenly over the members (as trajectory sampling does). Returns
        (next_obs [H, B, obs_dim], reward [H, B], terminated [H, B] or None without the head).
        The Gaussian noise of all H steps is drawn first, then the head's uniforms.

        The samples of H steps, with fewer operations per step, as planning needs: each
        member's rows stay together in one [E, B / E] batch for the whole horizon, regrouped
        between steps only where the assignment changes (TS-1); the input normalisation is
        folded into the first layer, and the output scaling into the last layer and the
        noise, as is the lower bound of the log variance.
        """
        horizon, rows = members.shape
        fixed = bool((members == members[0]).all())  # TS-inf: the same groups at every step
        by_member, order = (members[:1] if fixed else members).sort(stable=True)  # by member
        even = torch.arange(self.members).repeat_interleave(rows // self.members)
        if rows % self.members or not (by_member == even).all():
            raise ValueError("rollout needs every step's rows split evenly over the members")
        dim, out, group = self.obs_dim, self.obs_dim + 1, (self.members, rows // self.members)
        extra = int(self.termination_head)

        inverse = order.argsort(-1)  # where each row is in the groups

        def grouped(x):  # [H, B, ...] -> [H, E, B / E, ...], each step's rows by member
            return rows_at(x, order).view(len(x), *group, -1)

        def ungrouped(x):  # and back to [H, B, ...]
            return rows_at(x.view(horizon, rows, -1), inverse)

        # the noise's scale: std = out_std exp(min / 2) exp(softplus terms, below)
        noise_scale = self.out_std * torch.exp(self.min_log_var / 2)
        noise = grouped(torch.randn(horizon, rows, out, generator=generator) * noise_scale)
        uniform = torch.rand(horizon, rows, generator=generator) if extra else None
        # x_norm @ w + b = x @ (w / std) + b - (mean / std) @ w, x = [obs, action]
        w_first = self.weights[0] / self.in_std[:, None]
        b_first = self.biases[0] - (self.in_mean / self.in_std) @ self.weights[0].unsqueeze(1)
        actions = grouped(actions.float())
        # the last layer's mean in raw units (mean * std + mean), and half its log variance
        scale = torch.cat([self.out_std, torch.full((out,), 0.5), torch.ones(extra)])
        shift = torch.cat([self.out_mean, torch.zeros(out + extra)])
        top, span = self.max_log_var / 2, (self.max_log_var - self.min_log_var) / 2
        hidden = list(zip(self.weights[1:-1], self.biases[1:-1], strict=True))
        # the last layer as [E, out, B / E] = w^T x^T: about 3x faster in MKL for a narrow out
        w_last = (self.weights[-1] * scale).transpose(1, 2).contiguous()
        b_last = (self.biases[-1] * scale + shift).transpose(1, 2)
        if not fixed:  # where step t + 1's rows were at step t
            regroup = inverse[:-1].gather(1, order[1:])
        samples = torch.empty(horizon, *group, out)
        p_end = torch.empty(horizon, *group)
        act = self.act.forward  # (a module's __call__ costs a few microseconds a step)
        state = obs.float()[order[0]].view(*group, dim)
        for t in range(horizon):
            if t and not fixed:
                state = state.reshape(rows, dim)[regroup[t - 1]].view(*group, dim)
            x = torch.baddbmm(b_first, torch.cat([state, actions[t]], -1), w_first)
            for w, b in hidden:
                x = torch.baddbmm(b, act(x), w)
            x = torch.baddbmm(b_last, w_last, act(x).transpose(1, 2)).transpose(1, 2)
            # exp(bound(lv) / 2 - min / 2) from lv / 2: bound halved, as softplus(y) / 2 =
            # softplus(y / 2, beta=2), takes 5 operations where bound, halving, exp take 8
            softplus = F.softplus(top - x[..., out : 2 * out], beta=2)
            std = torch.exp(F.softplus(span - softplus, beta=2))
            torch.addcmul(x[..., :out], std, noise[t], out=samples[t])
            samples[t, ..., :dim] += state  # the mean is of the change in observation
            state = samples[t, ..., :dim]
            if extra:
                torch.sigmoid(x[..., 2 * out], out=p_end[t])
        samples = ungrouped(samples)
        ended = uniform < ungrouped(p_end)[..., 0] if extra else None
        return samples[..., :dim], samples[..., dim], ended


def rows_at(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """x[t, index[t]] for x [H, B, ...] and index [H, B], or x[:, index[0]] for index [1, B]."""
    if len(index) == 1:
        return x.index_select(1, index[0])
    return x.gather(1, index.view(*index.shape, *[1] * (x.dim() - 2)).expand_as(x))
