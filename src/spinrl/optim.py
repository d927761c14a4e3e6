"""Adam (and RMSprop) over parameters that live in one flat buffer.

At the sizes of deep RL on a CPU (networks of ~10k parameters, minibatches of 64) an
optimiser step costs more in per-tensor bookkeeping than in arithmetic: torch.optim.Adam
spends ~0.5 ms grouping a dozen tensors, converting scalars and launching kernels for what
is ~20 us of work, and ``zero_grad`` and ``clip_grad_norm_`` pay per tensor too. FlatAdam
moves every parameter (and its gradient) into views of one contiguous buffer, so that
zeroing the gradients, clipping their global norm and the Adam update are each one or two
operations on one tensor. The update is torch's own fused Adam kernel, so the arithmetic is
exactly ``torch.optim.Adam(..., fused=True)``'s. Measured on PPO's joint actor-critic step
(minibatch 64) it is ~0.9 ms less per step than torch.optim.Adam on a CPU; for SAC and TD3
the Polyak average of the targets becomes one operation on the flat buffer too.

The modules keep working as before: their parameters are the same Parameter objects, now
viewing the buffer, and ``p.grad`` views the gradient buffer (autograd accumulates into an
existing gradient in place). Build the optimiser once, before anything else holds on to the
parameters' storage.

The step runs with subnormal floats flushed to zero (``flushing_subnormals``). A parameter
whose gradient is exactly zero for a while (a dead ReLU unit) sees its first moment decay by
beta1 each step through the subnormal range (below 1.2e-38), and on some CPUs (Intel's) an
operation on a subnormal takes a slow microcode path: about 10,000 such moments in a SAC
agent on HalfCheetah cost 0.3-1.1 ms of a 9-10 ms update on an Intel Xeon. Flushing leaves
the parameters as they would be: the step a subnormal moment (or gradient) would take is at
most about lr * 1.2e-37 / eps, below the last bit of any parameter larger than ~1e-26 in
magnitude; only parameters that small or exactly zero could differ, and a dead unit's do not
(tests/test_optim.py checks one against torch's Adam, step for step). The flag is the calling
thread's: with torch on several threads, the work handed to the others is not flushed (and
no faster).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

_SUBNORMAL = np.float32(1e-39)


def _flushed_already() -> bool:
    """Whether this thread already flushes subnormal floats to zero (the CPU's DAZ or FTZ
    flag: a subnormal read as zero, or a product rounded to zero)."""
    return bool(_SUBNORMAL * np.float32(1.0) == 0)


@contextmanager
def flushing_subnormals() -> Iterator[None]:
    """Subnormal floats read and written as zero inside (``torch.set_flush_denormal``), the
    thread's previous setting restored after; a no-op where the CPU has no such mode."""
    if _flushed_already() or not torch.set_flush_denormal(True):
        yield
        return
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


def flatten_(params, grad: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Move ``params`` into views of one new contiguous buffer (and, with ``grad``, their
    gradients into views of a zeroed second one); returns (buffer, gradient buffer or None). The
    Parameters stay the same objects, so modules and state_dicts see no difference; an
    operation on the buffer (an optimiser step, a Polyak average) then acts on all of them."""
    params = list(params)
    flat = torch.empty(sum(p.numel() for p in params))
    flat_grad = torch.zeros_like(flat) if grad else None
    offset = 0
    with torch.no_grad():
        for p in params:
            n = p.numel()
            flat[offset : offset + n].copy_(p.reshape(-1))
            p.data = flat[offset : offset + n].view_as(p)
            if grad:
                p.grad = flat_grad[offset : offset + n].view_as(p)
            offset += n
    return flat, flat_grad


class FlatOptimizer:
    """What the flat optimisers share: the gradient buffer zeroed and clipped in one go."""

    flat_grad: torch.Tensor

    def zero_grad(self) -> None:
        self.flat_grad.zero_()

    def clip_grad_norm_(self, max_norm: float) -> torch.Tensor:
        """Scale all gradients together so their global L2 norm is at most max_norm (as
        torch.nn.utils.clip_grad_norm_); returns the norm before clipping."""
        norm = torch.linalg.vector_norm(self.flat_grad)
        self.flat_grad.mul_(torch.clamp(max_norm / (norm + 1e-6), max=1.0))
        return norm


class FlatAdam(FlatOptimizer):
    """Adam (as torch.optim.Adam with fused=True) over parameter groups in one flat buffer.

    ``groups``: dicts with "params" (an iterable of Parameters) and "lr", like torch's
    param groups. ``param_groups[i]["lr"]`` may be changed between steps (annealing).
    """

    def __init__(self, groups: list[dict], betas=(0.9, 0.999), eps: float = 1e-8) -> None:
        groups = [{"params": list(g["params"]), "lr": float(g["lr"])} for g in groups]
        params = [p for g in groups for p in g["params"]]
        if len({id(p) for p in params}) != len(params):
            raise ValueError("a parameter appears in more than one group")
        self.flat, self.flat_grad = flatten_(params, grad=True)
        self.exp_avg = torch.zeros_like(self.flat)
        self.exp_avg_sq = torch.zeros_like(self.flat)
        self.betas, self.eps = betas, eps
        self.param_groups: list[dict] = []
        offset = 0
        for g in groups:
            start = offset
            offset += sum(p.numel() for p in g["params"])
            self.param_groups.append(
                {"lr": g["lr"], "slice": slice(start, offset), "step": torch.zeros(())}
            )
        self._sizes = [p.numel() for p in params]

    @torch.no_grad()
    def step(self, groups: tuple[int, ...] | None = None) -> None:
        """One Adam step of every group, or only of the groups whose indices are given (the
        others keep their parameters, moments and step count)."""
        beta1, beta2 = self.betas
        with flushing_subnormals():
            for i, g in enumerate(self.param_groups):
                if groups is not None and i not in groups:
                    continue
                s = g["slice"]
                g["step"] += 1
                torch._fused_adam_(
                    [self.flat[s]],
                    [self.flat_grad[s]],
                    [self.exp_avg[s]],
                    [self.exp_avg_sq[s]],
                    [],
                    [g["step"]],
                    lr=g["lr"],
                    beta1=beta1,
                    beta2=beta2,
                    weight_decay=0.0,
                    eps=self.eps,
                    amsgrad=False,
                    maximize=False,
                )

    def state_dict(self) -> dict:
        return {
            "exp_avg": self.exp_avg.clone(),
            "exp_avg_sq": self.exp_avg_sq.clone(),
            "step": [g["step"].clone() for g in self.param_groups],
            "lr": [g["lr"] for g in self.param_groups],
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore a state from ``state_dict()``, or from a ``torch.optim.Adam`` over the
        same parameters in the same order (checkpoints written before FlatAdam was used)."""
        if "state" in state and "param_groups" in state:
            state = self._from_torch_adam(state)
        if state["exp_avg"].shape != self.exp_avg.shape or len(state["step"]) != len(
            self.param_groups
        ):
            raise ValueError("the optimiser state does not fit these parameters")
        self.exp_avg.copy_(state["exp_avg"])
        self.exp_avg_sq.copy_(state["exp_avg_sq"])
        for g, step, lr in zip(self.param_groups, state["step"], state["lr"], strict=True):
            g["step"].copy_(step)
            g["lr"] = float(lr)

    def _from_torch_adam(self, state: dict) -> dict:
        groups = state["param_groups"]
        ids = [i for g in groups for i in g["params"]]
        if len(groups) != len(self.param_groups) or len(ids) != len(self._sizes):
            raise ValueError("the optimiser state does not fit these parameters")
        per_param = [state["state"].get(i) for i in ids]
        if any(s is None for s in per_param):  # never stepped: nothing to restore
            return {**self.state_dict(), "lr": [float(g["lr"]) for g in groups]}
        for s, n in zip(per_param, self._sizes, strict=True):
            if s["exp_avg"].numel() != n:
                raise ValueError("the optimiser state does not fit these parameters")
        # Every parameter of a group has taken the same steps: read them off the first one.
        steps = [state["state"][g["params"][0]]["step"] for g in groups]
        return {
            "exp_avg": torch.cat([s["exp_avg"].reshape(-1) for s in per_param]),
            "exp_avg_sq": torch.cat([s["exp_avg_sq"].reshape(-1) for s in per_param]),
            "step": [torch.as_tensor(step, dtype=torch.float32).reshape(()) for step in steps],
            "lr": [float(g["lr"]) for g in groups],
        }


class FlatRMSprop(FlatOptimizer):
    """torch.optim.RMSprop over parameters moved into one flat buffer (the update is torch's
    own, on that buffer); centered by default, as the RMSProp of DeepMind's DQN and of the
    MinAtar paper's. Its state is the running averages and the step count, as tensors."""

    def __init__(self, params, lr: float, alpha: float, eps: float, centered: bool = True):
        self.flat, self.flat_grad = flatten_(params, grad=True)
        self.flat.requires_grad_(True)
        self.flat.grad = self.flat_grad  # the parameters' gradients are views of it
        self.opt = torch.optim.RMSprop(
            [self.flat], lr=lr, alpha=alpha, eps=eps, centered=centered, foreach=False
        )

    def step(self) -> None:
        self.opt.step()

    def state_dict(self) -> dict:
        return {key: value.clone() for key, value in self.opt.state[self.flat].items()}

    def load_state_dict(self, state: dict) -> None:
        self.opt.state[self.flat] = {key: value.clone() for key, value in state.items()}
