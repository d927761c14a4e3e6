"""PETS: probabilistic ensembles with trajectory sampling (Chua et al. 2018), model-based.

    collect init_steps with uniformly random actions
    every epoch:
        refit the ensemble of Gaussian dynamics models on all real transitions so far
            (each member on its own bootstrap resample; a held-out share stops training)
        for steps_per_epoch env steps: plan with CEM over action sequences, each scored by
            the mean return of particles propagated through the members (TS-1 or TS-inf);
            act with the plan's first action, shift the plan to warm-start the next step
        test: num_test_episodes planned the same way on the test env

There is no policy network: the planner is the policy. With ``model="given"`` the same planner
runs on the true dynamics (spinrl.planning.PendulumModel, Pendulum-v1 only) and nothing is
learned, so the difference between the two runs' returns is the cost of the learned model's
errors, the model bias. Rewards come from the model's reward head (``reward="learned"``) or
from the task's known reward (``"known"``; ``"auto"``, the default, takes the known one
where spinrl has it). A particle stops collecting reward once its
episode ends: by the task's known termination rule (``termination="known"``, the default:
none for Pendulum-v1 and HalfCheetah-v5, the docs' rules for InvertedPendulum-v5 and
Hopper-v5), by the ensemble's learned termination head (``"learned"``: a Bernoulli per
member, fit to the real ``terminated`` flags with the dynamics, sampled per particle), or
never (``"never"``, for a task that never terminates).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch

from spinrl.buffers import ReplayBuffer
from spinrl.encoders import flat_obs_dim
from spinrl.envs import EnvFn
from spinrl.errors import ConfigError, EnvError
from spinrl.models import GaussianEnsemble
from spinrl.offpolicy import check_fits_in_memory, refuse_discrete, refuse_unflat, step_and_store
from spinrl.planning import (
    KNOWN_REWARDS,
    MPC,
    PROPAGATIONS,
    PendulumModel,
    PlanningPolicy,
    sampling_rules,
)
from spinrl.run import EnvLoop, Result, Run, RunConfig, epoch_plan, validate_common

ACTION_SPACES = (gym.spaces.Box,)


@dataclass
class Config(RunConfig):
    """Hyperparameters of PETS. Trajectory sampling and the planner follow the PETS paper
    (5 probabilistic members with swish (silu) units, TS-inf, CEM momentum 0.1, elites a
    tenth of the population, Adam 1e-3 on minibatches of 32), and as MBRL-Lib's PETS examples
    a held-out share stops each refit. The sizes are cut for a CPU, on purpose: the defaults
    are the planner benchmarks/part2.py measured on Pendulum-v1, the default task (3 x 64
    units per member without weight decay, a population of 100 over a horizon of 25, 4 CEM
    iterations, 5 particles; its first test episode at -200 or better came at 600 env steps
    on 3 of 5 seeds, at 400 and 1,200 on the others, and a run of
    5,000 steps takes about 4 CPU minutes, planning in ~25 ms per env step). The paper's are
    far larger (members of 3 x 500 units for cartpole and 4 x 200 for half-cheetah with
    weight decay, a population of 400-500 over 25-30 steps, 5 iterations, 20 particles):
    with 3 x 200 units, 20 particles and 5 iterations a plan took ~24 times as long here, so
    `--hid [200,200,200] --particles 20 --iterations 5` and a larger population are for
    tasks that need them (benchmarks/part2.py's HalfCheetah-v5 row uses 3 x 200). The
    reward is the task's own where spinrl knows it (``reward="auto"``: Pendulum-v1, as the
    paper's rewards were known) and the model's learned head elsewhere.

    steps_per_epoch: env steps per epoch; one Pendulum-v1 episode (a PETS "trial") is 200.
    init_steps: env steps with uniformly random actions before the planner acts.
    model: "learned" (the ensemble) or "given" (the true dynamics; Pendulum-v1 only).
    reward: "known" (the task's reward function, spinrl.planning.KNOWN_REWARDS), "learned"
        (the model's reward head), or "auto" (known where spinrl knows it, else learned).
    termination: "known" (the task's rule as its docs state it; none for Pendulum-v1 and
        HalfCheetah-v5), "learned" (the ensemble's termination head) or "never" (only time
        limits end episodes).
    members: ensemble members E.
    hid: hidden layer sizes of each member.
    act: activation of each member (silu is the paper's swish).
    model_lr: Adam learning rate of the ensemble.
    model_batch_size: transitions per ensemble gradient step (per member).
    model_epochs: most passes over the data per refit.
    holdout: share of the data held out to stop each refit early.
    patience: refit passes without a better held-out loss before the refit stops.
    horizon: planning horizon H in env steps.
    population: action sequences CEM samples per iteration.
    elites: best sequences CEM refits its sampling distribution to.
    iterations: CEM iterations per env step.
    momentum: share of the old mean and variance CEM keeps per iteration (the paper's alpha).
    particles: sampled futures per action sequence, a multiple of members (each sequence's
        particles split evenly over the members).
    propagation: "tsinf" (each particle keeps one member) or "ts1" (re-drawn every step).
    num_test_episodes: planned test episodes after each epoch (TestEpRet).
    """

    env: str = "Pendulum-v1"
    steps_per_epoch: int = 200
    epochs: int = 25
    init_steps: int = 200
    model: str = "learned"
    reward: str = "auto"
    termination: str = "known"
    members: int = 5
    hid: tuple[int, ...] = (64, 64, 64)
    act: str = "silu"
    model_lr: float = 1e-3
    model_batch_size: int = 32
    model_epochs: int = 50
    holdout: float = 0.1
    patience: int = 5
    horizon: int = 25
    population: int = 100
    elites: int = 10
    iterations: int = 4
    momentum: float = 0.1
    particles: int = 5
    propagation: str = "tsinf"
    num_test_episodes: int = 1
    save_freq: int = 1


def validate(cfg: Config) -> None:
    validate_common(cfg)
    choices = {
        "model": ("learned", "given"),
        "reward": ("auto", "known", "learned"),
        "termination": ("known", "learned", "never"),
        "propagation": PROPAGATIONS,
    }
    for name, allowed in choices.items():
        if getattr(cfg, name) not in allowed:
            raise ConfigError(
                f"{name} must be one of {', '.join(allowed)}, got {getattr(cfg, name)!r}"
            )
    if cfg.model == "given" and cfg.termination == "learned":
        raise ConfigError("termination=learned needs model=learned (the true model has no head)")
    if cfg.num_envs != 1:
        raise ConfigError(
            f"pets plans for one env at a time: num_envs must be 1, not {cfg.num_envs}"
        )
    if min(cfg.horizon, cfg.iterations, cfg.particles, cfg.members, cfg.model_epochs) < 1:
        raise ConfigError("horizon, iterations, particles, members and model_epochs must be >= 1")
    if not 2 <= cfg.elites <= cfg.population:
        raise ConfigError(
            f"elites must lie in [2, population], got {cfg.elites} of {cfg.population}"
        )
    if cfg.model == "learned" and cfg.particles % cfg.members:
        raise ConfigError(
            f"particles ({cfg.particles}) must split evenly over the {cfg.members} members"
        )
    if not (0 <= cfg.momentum < 1 and 0 <= cfg.holdout < 1):
        raise ConfigError("momentum and holdout must lie in [0, 1)")
    if not (cfg.model_lr > 0 and math.isfinite(cfg.model_lr)) or cfg.model_batch_size < 1:
        raise ConfigError("model_lr must be positive and model_batch_size >= 1")
    if cfg.init_steps < 0 or cfg.patience < 1 or cfg.num_test_episodes < 0:
        raise ConfigError("init_steps and num_test_episodes must be >= 0, patience >= 1")


def check_replay_fits(steps: int, obs_dim: int, act_dim: int) -> None:
    """ConfigError, in one line, if a replay of every real transition of a ``steps``-step run
    would not fit in memory."""
    needed = ReplayBuffer.bytes_needed(obs_dim, act_dim, steps)
    subject = f"a replay of all the run's {steps:,} env steps"
    check_fits_in_memory(steps, needed, subject, "epochs or total_steps")


def check_memory(cfg: Config, env: gym.Env) -> None:
    """check_replay_fits for this Config on ``env``: the command line asks it before it
    writes anything (the loop asks again, for the API)."""
    _, epochs = epoch_plan(cfg.steps_per_epoch, cfg.epochs, 1, cfg.total_steps)
    act_dim = int(np.prod(env.action_space.shape))
    check_replay_fits(epochs * cfg.steps_per_epoch, flat_obs_dim(env.observation_space), act_dim)


def planner_settings(cfg: Config) -> dict:
    """What a PlanningPolicy needs, in the checkpoint's actor spec (plain values); reward
    "auto" resolved to "known" or "learned"."""
    names = ("horizon", "population", "elites", "iterations", "momentum", "particles",
             "propagation", "env", "model", "reward", "termination", "members")  # fmt: skip
    settings = {name: getattr(cfg, name) for name in names}
    if cfg.reward == "auto":
        settings["reward"] = "known" if cfg.env in KNOWN_REWARDS else "learned"
    return settings


class PETSLoop(EnvLoop):
    """The loop in the module docstring, one epoch per ``train_epoch``."""

    ACTION_SPACES = ACTION_SPACES

    def __init__(self, run: Run, env_fn: EnvFn | None) -> None:
        cfg = run.cfg
        super().__init__(run, env_fn, test_env=cfg.num_test_episodes > 0)
        try:
            self._build(cfg)
        except Exception:
            self.close()
            raise

    def _build(self, cfg: Config) -> None:
        act_dim = self.action_space.shape[0]
        refuse_unflat(self.obs_dim, self.obs_space, self.lifecycle.algo)
        if cfg.model == "given":
            if cfg.env != "Pendulum-v1":
                raise EnvError(
                    f"model=given plans on the true dynamics, which spinrl has for "
                    f"Pendulum-v1 only, not {cfg.env}"
                )
            self.model = PendulumModel()
        else:
            self.model = GaussianEnsemble(self.obs_dim, act_dim, cfg.members, cfg.hid, cfg.act,
                                          cfg.termination == "learned")  # fmt: skip
        settings = planner_settings(cfg)
        self.sampling = sampling_rules(settings)  # EnvError where a known rule is missing
        seeds = self.rng.integers(0, 2**62, size=2)
        self.planner, self.test_planner = (self._mpc(int(seed)) for seed in seeds)
        budget = self.lifecycle.epochs * cfg.steps_per_epoch  # every real transition is kept
        check_replay_fits(budget, self.obs_dim, act_dim)
        self.replay = ReplayBuffer(self.obs_dim, act_dim, budget)
        self.actor = PlanningPolicy(self.model, self.action_space, settings)
        low, high = self.action_space.low, self.action_space.high
        self.spec = {
            "kind": "planner",
            "obs_dim": self.obs_dim,
            "action_space": {"low": np.asarray(low), "high": np.asarray(high)},
            "hid": list(cfg.hid),
            "act": cfg.act,
            "planner": settings,
        }
        self.fitted_at = -1  # the env step count at the last refit
        self.model_loss = math.nan

    def _mpc(self, seed: int) -> MPC:
        cfg = self.cfg
        dtype = torch.float64 if cfg.model == "given" else torch.float32
        return MPC(self.model, self.action_space, cfg.horizon, cfg.population, cfg.elites,
                   cfg.iterations, seed, cfg.momentum, dtype, **self.sampling)  # fmt: skip

    def check_action_space(self, space: gym.Space) -> None:
        refuse_discrete(space, self.lifecycle.algo)
        super().check_action_space(space)

    def refit(self) -> None:
        """Fit the ensemble to every real transition so far, from the weights of the last fit."""
        cfg, r, n = self.cfg, self.replay, self.replay.size
        self.model_loss = self.model.fit(
            r.obs[:n], r.actions[:n], r.next_obs[:n], r.rewards[:n],
            terminated=r.terminated[:n], epochs=cfg.model_epochs,
            batch_size=cfg.model_batch_size, lr=cfg.model_lr, holdout=cfg.holdout,
            patience=cfg.patience, rng=self.rng,
        )  # fmt: skip
        self.fitted_at = self.steps

    def train_epoch(self, epoch: int) -> None:
        """T env steps: random actions for the first init_steps, then the planner's, the
        ensemble refit before the epoch's first planned step."""
        cfg, roll = self.cfg, self.rollout
        low, high = self.action_space.low, self.action_space.high
        start = roll.steps
        for _ in range(self.lifecycle.T):
            if roll.steps < cfg.init_steps:
                actions = self.rng.uniform(low, high, size=(1, len(low))).astype(np.float32)
            else:
                if cfg.model == "learned" and self.fitted_at < start:
                    self.refit()
                actions = self.planner.act(roll.obs[0])[None]
            if step_and_store(self.envs, roll, self.replay.store, actions)[0]:
                self.planner.reset()

    def test(self) -> tuple[list[float], list[int]]:
        """Planned test episodes (before the first refit, with the untrained ensemble)."""
        if self.test_env is None:
            return [], []
        self.test_planner.reset()
        return super().test(lambda obs: self.test_planner.act(obs[0])[None])

    def end_epoch(self, epoch: int) -> dict:
        logger = self.lifecycle.logger
        test_returns, test_lengths = self.test()
        ep_rets, ep_lens = self.rollout.stats.drain()
        logger.store(EpRet=ep_rets, EpLen=ep_lens, TestEpRet=test_returns, TestEpLen=test_lengths)
        logger.log_tabular("Epoch", epoch)
        logger.log_tabular("EpRet", with_min_and_max=True)
        logger.log_tabular("TestEpRet", with_min_and_max=True)
        logger.log_tabular("EpLen", average_only=True)
        logger.log_tabular("TestEpLen", average_only=True)
        logger.log_tabular("TotalEnvInteracts", self.steps)
        logger.log_tabular("LossModel", self.model_loss)
        latest = test_returns[-1] if test_returns else (ep_rets[-1] if ep_rets else None)
        return self.lifecycle.end_epoch(epoch, ep_rets, latest)

    # --- what the lifecycle asks of a loop --------------------------------------------------

    def state_dict(self) -> dict:
        model = self.model.state_dict() if isinstance(self.model, torch.nn.Module) else {}
        return {
            "model": model,  # the ensemble with its normalisers
            "replay": self.replay.state_dict(),
            "planner": self.planner.state_dict(),
            "test_planner": self.test_planner.state_dict(),
            "fitted_at": self.fitted_at,
            "model_loss": self.model_loss,
            "reward": self.spec["planner"]["reward"],  # "auto" as resolved for this run
            **self.env_state(),
        }

    def load_state_dict(self, state: dict) -> bool:
        # config.json keeps reward "auto" as given; a later spinrl may resolve it otherwise
        # (a reward it has learned to compute): the resumed run must plan as it did.
        now = self.spec["planner"]["reward"]
        saved = state.get("reward", now)
        if saved != now:
            raise ConfigError(
                f"this run planned with the {saved} reward, and reward 'auto' now resolves "
                f"to the {now} one for {self.cfg.env}: it cannot resume with this spinrl"
            )
        if isinstance(self.model, torch.nn.Module):
            self.model.load_state_dict(state["model"])
        self.replay.load_state_dict(state["replay"])
        self.planner.load_state_dict(state["planner"])
        self.test_planner.load_state_dict(state["test_planner"])
        self.fitted_at, self.model_loss = int(state["fitted_at"]), float(state["model_loss"])
        return self.load_env_state(state)


def train(
    cfg: Config,
    env_fn: EnvFn | None = None,
    output_dir: str | None = None,
    verbose: bool = True,
    resume: bool = False,
    callback=None,
) -> Result:
    """Train with PETS; see the module docstring. ``result.act(obs)`` plans."""
    validate(cfg)
    run = Run("pets", cfg, output_dir, verbose, env_fn)
    loop = PETSLoop(run, env_fn)
    for epoch in run.train(loop, resume, callback):
        loop.train_epoch(epoch)
        loop.end_epoch(epoch)
    return run.result(agent=loop.planner, replay=loop.replay)
