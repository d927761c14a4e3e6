"""Checks of the failure-mode exercises: 2.1 (TRPO with and without a learned value
function: the learner's own runs, read and judged) and 2.2 (a DDPG with a silent bug: the
learner's fixed file must learn)."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import torch

from spinrl.algos import td3
from spinrl.exercises.checks import (
    Check,
    compare,
    failed_call,
    learner_function,
    learns,
    pendulum_config,
    show,
    skipped,
    train_until,
)

# --- 2.2 ------------------------------------------------------------------------------------


def _ddpg_nets(module, obs_dim=3, act_dim=1, limit=2.0, seed=0):
    torch.manual_seed(seed)
    actor, q = module.Actor(obs_dim, act_dim, limit), module.QFunction(obs_dim, act_dim)
    targets = copy.deepcopy(actor), copy.deepcopy(q)
    with torch.no_grad():  # targets that differ from the networks, as after some training
        for net in targets:
            for p in net.parameters():
                p.add_(0.1 * torch.randn_like(p))
    return actor, q, *targets


def ddpg_bug(module, quick: bool = False) -> list[Check]:
    for name in ("Actor", "QFunction", "compute_loss_q", "compute_loss_pi"):
        _, missing = learner_function(module, name)
        if missing:
            return missing
    try:
        actor, q, actor_targ, q_targ = _ddpg_nets(module)
    except Exception as e:
        return [failed_call("building Actor(3, 1, 2.0) and QFunction(3, 1)", "networks", e)]
    B, gamma = 64, 0.99
    gen = torch.Generator().manual_seed(1)
    data = {
        "obs": torch.randn(B, 3, generator=gen),
        "actions": torch.rand(B, 1, generator=gen) * 4 - 2,
        "rewards": torch.randn(B, generator=gen),
        "next_obs": torch.randn(B, 3, generator=gen),
        "terminated": (torch.rand(B, generator=gen) < 0.3).float(),
    }
    with torch.no_grad():  # the equations, from the learner's own networks, one value per row
        q_sa = q(data["obs"], data["actions"]).reshape(B)
        q_next = q_targ(data["next_obs"], actor_targ(data["next_obs"])).reshape(B)
        r, d = data["rewards"], data["terminated"]
        y = td3.q_target(r, q_next, d, gamma)
        want_q = ((q_sa - y) ** 2).mean()
        want_pi = -q(data["obs"], actor(data["obs"])).reshape(B).mean()
        q_online_next = q(data["next_obs"], actor_targ(data["next_obs"])).reshape(B)
        y_pairs = r[None, :] + gamma * (1 - d[None, :]) * q_next[:, None]  # [B, B]
        mistakes_q = [
            (
                "your L_Q is a mean over B x B numbers, not B: some tensor in compute_loss_q "
                "has a shape you did not expect, and broadcasting paired every row with every "
                "other; print the shape of each",
                ((q_sa[:, None] - y_pairs) ** 2).mean(),
            ),
            (
                "bootstrapping through termination: multiply the future by (1 - terminated)",
                ((q_sa - (r + gamma * q_next)) ** 2).mean(),
            ),
            (
                "y must come from the target critic q_targ, not from q",
                ((q_sa - td3.q_target(r, q_online_next, d, gamma)) ** 2).mean(),
            ),
        ]
    checks = [
        compare(
            f"L_Q on a batch of {B}, from your own networks",
            lambda: module.compute_loss_q(data, q, q_targ, actor_targ, gamma),
            want_q,
            mistakes_q,
            "L_Q = mean_B (Q(s, a) - y)^2 with y = r + gamma (1 - d) Q_targ(s', mu_targ(s'))",
        ),
        compare(
            f"L_mu on a batch of {B}",
            lambda: module.compute_loss_pi(data, q, actor),
            want_pi,
            [("a sign: the actor maximises Q, so L_mu = -mean Q(s, mu(s))", -want_pi)],
            "L_mu = -mean_B Q(s, mu(s))",
        ),
    ]
    if not all(c.passed for c in checks):
        return [*checks, skipped("training DDPG on Pendulum-v1", "fix the checks above first")]
    if quick:
        return [*checks, skipped("training DDPG on Pendulum-v1", "skipped (--quick)")]
    return [*checks, _ddpg_learns(module)]


DDPG_BUDGET = dict(steps_per_epoch=1000, epochs=15, start_steps=1000, threshold=-400.0)
"""The training check of 2.2: DDPG on Pendulum-v1 with the learner's file, epochs of 1000
steps (the first 1000 random) until the average test return reaches -400 (a random policy
scores about -1200), within 15 epochs."""


class _LearnerDDPG:
    """A DDPG agent for spinrl's off-policy loop made of the learner's networks and losses:
    Spinning Up's schedule, Adam, Polyak-averaged targets, Gaussian exploration noise."""

    LOGGED = ("LossPi", "LossQ")
    AVERAGE_ONLY = frozenset(LOGGED)

    def __init__(self, module, obs_space, act_space, cfg) -> None:
        from spinrl.encoders import features_dim
        from spinrl.policies import DeterministicActor

        obs_dim = features_dim(obs_space, None)  # the loop hands the space; flat vectors here
        self.module, self.cfg = module, cfg
        limit = float(np.max(np.abs(act_space.high)))
        self.pi = module.Actor(obs_dim, act_space.shape[0], limit)
        self.q = module.QFunction(obs_dim, act_space.shape[0])
        self.pi_targ = copy.deepcopy(self.pi).requires_grad_(False)
        self.q_targ = copy.deepcopy(self.q).requires_grad_(False)
        self.pi_opt = torch.optim.Adam(self.pi.parameters(), lr=cfg.pi_lr)
        self.q_opt = torch.optim.Adam(self.q.parameters(), lr=cfg.q_lr)
        self.low, self.high = act_space.low, act_space.high
        # The loop records the kind of its actor (for checkpoints): a deterministic one, which
        # here is the learner's network.
        self.actor = DeterministicActor(obs_dim, act_space, hid=())
        self.actor.learner = self.pi
        self.actor.forward = self.actor.deterministic = self.pi

    def deterministic(self, obs: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return self.pi(torch.as_tensor(obs, dtype=torch.float32)).numpy()

    def explore(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        mu = self.deterministic(obs)
        noise = rng.standard_normal(mu.shape).astype(np.float32) * self.cfg.act_noise
        return np.clip(mu + noise, self.low, self.high)

    def update(self, b: dict) -> dict:
        loss_q = self.module.compute_loss_q(b, self.q, self.q_targ, self.pi_targ, self.cfg.gamma)
        self.q_opt.zero_grad()
        loss_q.backward()
        self.q_opt.step()
        self.q.requires_grad_(False)  # the actor's step moves the actor only
        loss_pi = self.module.compute_loss_pi(b, self.q, self.pi)
        self.pi_opt.zero_grad()
        loss_pi.backward()
        self.pi_opt.step()
        self.q.requires_grad_(True)
        with torch.no_grad():
            for net, targ in ((self.pi, self.pi_targ), (self.q, self.q_targ)):
                for p, p_targ in zip(net.parameters(), targ.parameters(), strict=True):
                    p_targ.lerp_(p, 1.0 - self.cfg.polyak)
        return {"LossQ": loss_q.item(), "LossPi": loss_pi.item()}

    def state_dict(self) -> dict:
        names = ("pi", "q", "pi_targ", "q_targ", "pi_opt", "q_opt")
        return {n: getattr(self, n).state_dict() for n in names}

    def load_state_dict(self, state: dict) -> None:
        for name, value in state.items():
            getattr(self, name).load_state_dict(value)


def train_ddpg_with(
    module, steps_per_epoch: int, epochs: int, start_steps: int, threshold: float, seed: int = 0
) -> list[float]:
    """AverageTestEpRet per epoch of DDPG on Pendulum-v1 made of the learner's file, stopping
    once it reaches ``threshold``."""
    from spinrl.algos import ddpg

    cfg = pendulum_config(ddpg, steps_per_epoch, epochs, start_steps, seed)

    def make_agent(obs_space, act_space):
        return _LearnerDDPG(module, obs_space, act_space, cfg)

    return train_until("ddpg", cfg, make_agent, threshold)


def _ddpg_learns(module) -> Check:
    b = DDPG_BUDGET
    name = (
        f"training DDPG on Pendulum-v1 with your file, up to {b['epochs']} epochs of "
        f"{b['steps_per_epoch']} steps: the best average test return"
    )
    steps = b["steps_per_epoch"], b["epochs"], b["start_steps"], b["threshold"]
    hint = "the losses match on a batch, but DDPG does not learn with them: look at the networks"
    return learns(name, b["threshold"], lambda: train_ddpg_with(module, *steps), hint)


# --- 2.1 ------------------------------------------------------------------------------------

ANSWERS = ("with_v", "without_v", "no_difference")


def _final_return(progress: dict) -> float:
    """The mean AverageEpRet over the last tenth of a run's epochs (at least one), NaN-free."""
    values = progress.get("AverageEpRet", np.array([]))
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return math.nan
    return float(values[-max(1, len(values) // 10) :].mean())


def find_trpo_runs(pattern: str) -> list[dict]:
    """Every TRPO run directory under the folders ``pattern`` matches: its config and final
    return (runs without a progress row are left out)."""
    from spinrl.checkpoint import CONFIG, PROGRESS
    from spinrl.errors import CheckpointError
    from spinrl.logger import read_progress

    runs = []
    for folder in sorted(Path().glob(pattern)):
        for config_path in sorted(folder.rglob(CONFIG)):
            from spinrl.checkpoint import read_json

            try:
                saved = read_json(config_path)
                progress = read_progress(config_path.parent / PROGRESS)
            except (CheckpointError, OSError):
                continue
            cfg = saved.get("config", {})
            final = _final_return(progress)
            if saved.get("algo") != "trpo" or not isinstance(cfg, dict) or math.isnan(final):
                continue
            epochs = len(progress.get("AverageEpRet", []))
            runs.append(
                {"dir": str(config_path.parent), "cfg": cfg, "final": final, "epochs": epochs}
            )
    return runs


def verdict(with_v: list[float], without_v: list[float]) -> tuple[str, float, float]:
    """("with_v" | "without_v" | "no_difference", the gap in mean final return, its standard
    error): a gap of more than twice its standard error decides."""
    gap = float(np.mean(with_v) - np.mean(without_v))
    se = math.sqrt(
        np.var(with_v, ddof=1) / len(with_v) + np.var(without_v, ddof=1) / len(without_v)
    )
    if abs(gap) <= 2 * se:
        return "no_difference", gap, se
    return ("with_v" if gap > 0 else "without_v"), gap, se


def trpo_value(module, quick: bool = False) -> list[Check]:
    pattern = getattr(module, "RUNS", None)
    name = "your runs: TRPO on one env, train_v_iters 0 and > 0, two seeds or more each"
    want = "runs of both settings"
    if not isinstance(pattern, str):
        return [Check(name, False, want, show(pattern), "set RUNS to a glob pattern of folders")]
    runs = find_trpo_runs(pattern)
    envs = sorted({str(r["cfg"].get("env")) for r in runs})
    arms = {
        "with_v": [r for r in runs if r["cfg"].get("train_v_iters", 80) > 0],
        "without_v": [r for r in runs if r["cfg"].get("train_v_iters", 80) == 0],
    }
    seeds = {k: sorted({r["cfg"].get("seed") for r in v}) for k, v in arms.items()}
    got = ", ".join(f"{k}: {len(v)} runs" for k, v in arms.items()) + f" on {envs or 'no env'}"
    problem = ""
    if not runs:
        problem = f"no TRPO run with a progress row under {pattern!r} (from {Path.cwd()}): run "
        problem += "the command in the exercise first, or point RUNS at your runs"
    elif len(envs) > 1:
        problem = f"the runs are on several envs ({', '.join(envs)}): compare on one"
    elif min(len(s) for s in seeds.values()) < 2:
        problem = "each setting needs two seeds or more: one seed cannot tell luck from effect"
    elif len({r["epochs"] for r in runs}) > 1:
        problem = "the runs have different lengths: give both settings the same budget"
    checks = [Check(name, not problem, want, got, problem)]
    if problem:
        return [*checks, skipped("your answers", "the runs come first")]
    finals = {k: [r["final"] for r in v] for k, v in arms.items()}
    decided, gap, se = verdict(finals["with_v"], finals["without_v"])
    means = ", ".join(f"{k} {np.mean(v):.1f} +- {np.std(v):.1f}" for k, v in finals.items())
    answer = getattr(module, "BETTER", None)
    hint = ""
    if answer != decided:
        hint = f"your runs end at {means} (mean +- std over seeds): the gap {gap:.1f} is " + (
            f"within twice its standard error {se:.1f}"
            if decided == "no_difference"
            else f"more than twice its standard error {se:.1f}"
        )
        if answer not in ANSWERS:
            hint = f"BETTER must be one of {', '.join(map(repr, ANSWERS))}; {hint}"
    checks.append(
        Check(
            "BETTER, against the final returns of your runs",
            answer == decided,
            repr(decided),
            repr(answer),
            hint,
        )
    )
    why = getattr(module, "WHY", None)
    why_hints = {
        "b": "TRPO's KL bound holds on every update whatever V is: it limits the step, V does "
        "not enter it",
        "c": "the advantages A_t are built from V (eq. 3.10): a different V changes every step",
    }
    hint = why_hints.get(why, 'WHY must be one of "a", "b", "c"') if why != "a" else ""
    checks.append(Check("WHY", why == "a", "the reason", repr(why), hint))
    return checks
