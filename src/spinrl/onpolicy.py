"""What every on-policy algorithm shares around its update rule (pg, vpg, ppo, trpo).

A Session is the on-policy loop: the vector environments, the actor and critic, the
observation normaliser, the [T, N] rollout buffer. Its lifecycle (run directory, lock,
signals, checkpoints, resume, progress rows, the result) is spinrl.run's. The algorithm
files keep only what makes them different: how they turn a filled buffer into an update.

    session = Session("ppo", cfg, env_fn, output_dir, verbose, orthogonal=True)
    opt = ...
    for epoch in session.run({"opt": opt}, resume, callback):
        session.collect()
        ... the update ...
        session.end_epoch(epoch, LossPi=..., LossV=...)   # the algorithm's own columns
    return session.result()
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch

from spinrl.buffers import RolloutBuffer
from spinrl.encoders import features_dim, make_encoder
from spinrl.envs import (
    EnvFn,
    RewardScaler,
)
from spinrl.errors import ConfigError, DivergenceError
from spinrl.policies import VCritic, make_actor
from spinrl.run import (
    EnvLoop,
    Policy,
    Result,
    Run,
    RunConfig,
    Variant,
    validate_common,
)
from spinrl.sde import StateDependentGaussianActor

ACTION_SPACES = (gym.spaces.Discrete, gym.spaces.Box)


@dataclass
class OnPolicyConfig(RunConfig):
    """The fields pg, VPG, PPO and TRPO share.

    lam: GAE lambda (0: the one-step TD advantage, 1: reward-to-go minus V).
    normalize_obs: normalise observations with running statistics (saved with the model).
    test_every: every test_every epochs, run num_test_episodes with the deterministic policy
        on a separate env and log TestEpRet, as the off-policy algorithms do every epoch
        (SB3's EvalCallback); 0 turns it off (Spinning Up has no test phase on-policy).
    num_test_episodes: episodes of each test phase.
    """

    lam: float = 0.97
    normalize_obs: bool = False
    test_every: int = 0
    num_test_episodes: int = 10


def validate(cfg) -> None:
    """ConfigError for the fields every on-policy Config shares (checked before anything is
    created)."""
    validate_common(cfg)
    if not 0.0 <= cfg.lam <= 1.0:
        raise ConfigError(f"lam must lie in [0, 1], got {cfg.lam}")
    if cfg.test_every < 0 or cfg.num_test_episodes < 1:
        raise ConfigError("test_every must be >= 0 and num_test_episodes >= 1")


def check_finite(value: torch.Tensor, name: str, epoch: int) -> None:
    """DivergenceError naming the quantity and the epoch if ``value`` holds NaN or inf."""
    if not torch.isfinite(value).all():
        bad = value[~torch.isfinite(value)].reshape(-1)[0].item()
        raise DivergenceError(f"{name} became {bad} at epoch {epoch}")


class Session(EnvLoop):
    """One on-policy training run: everything but the update rule. Its lifecycle (directory,
    lock, signals, checkpoints, resume, rows, result) is a spinrl.run.Run."""

    ACTION_SPACES = ACTION_SPACES

    def __init__(
        self,
        algo: str,
        cfg,
        env_fn: EnvFn | None = None,
        output_dir: str | None = None,
        verbose: bool = True,
        *,
        use_critic: bool = True,
        orthogonal: bool = False,
        log_std_init: float = -0.5,
        variant: Variant | None = None,
        shared_encoder: bool = False,
        sde_sample_freq: int | None = None,
    ) -> None:
        """``shared_encoder``: for images and Dict observations, one encoder (CNN trunk) that
        the actor and the critic both read, as CleanRL's PPO on Atari; otherwise each has
        its own. Flat vectors have no encoder, so it changes nothing there.
        ``sde_sample_freq``: explore a Box action space with gSDE (spinrl.sde), the matrices
        drawn at each collection's start and every this many steps when > 0; None: a plain
        Gaussian."""
        self.lifecycle = Run(algo, cfg, output_dir, verbose, env_fn, variant)
        cfg = self.lifecycle.cfg
        self.epochs = self.lifecycle.epochs
        self.reward_scaler = RewardScaler(
            cfg.num_envs,
            cfg.gamma,
            getattr(cfg, "normalize_reward", False),
            getattr(cfg, "reward_clip", 10.0),
        )
        super().__init__(
            self.lifecycle,
            env_fn,
            test_env=bool(cfg.test_every),
            normalize_obs=cfg.normalize_obs,
            reward_scaler=self.reward_scaler,
        )
        act_space, obs_space = self.action_space, self.obs_space
        encoder = make_encoder(obs_space, orthogonal)
        if sde_sample_freq is not None:
            if not (isinstance(act_space, gym.spaces.Box) and len(act_space.shape) == 1):
                raise ConfigError(f"sde (gSDE) needs a 1-D Box action space, not {act_space}")
            actor = StateDependentGaussianActor(
                features_dim(obs_space, encoder), int(act_space.shape[0]), cfg.hid, cfg.act,
                log_std_init, orthogonal, encoder,
            )  # fmt: skip
            actor.sample_freq = sde_sample_freq
        else:
            actor = make_actor(
                obs_space, act_space, cfg.hid, cfg.act, orthogonal, encoder,
                log_std_init=log_std_init,
            )  # fmt: skip
        self.set_actor(actor)
        self.critic = None
        if use_critic:
            critic_encoder = encoder if shared_encoder else make_encoder(obs_space, orthogonal)
            width = critic_encoder.out_dim if critic_encoder is not None else self.obs_dim
            self.critic = VCritic(width, cfg.hid, cfg.act, orthogonal, critic_encoder)
        discrete = isinstance(act_space, gym.spaces.Discrete)
        # observations are stored as the policy reads them: float32, or uint8/bool images
        obs_dtype = self.normalizer(np.zeros((1, *obs_space.shape), obs_space.dtype)).dtype
        self.buf = RolloutBuffer(
            self.lifecycle.T, cfg.num_envs, obs_space.shape, act_space.shape, discrete, obs_dtype
        )
        self.optimizers: dict = {}  # torch optimisers or FlatAdam: state_dict() and back

    def run(self, optimizers: dict, resume: bool = False, callback=None):
        """Yield the epochs still to train (see spinrl.run.Run.train)."""
        self.optimizers = optimizers
        return self.lifecycle.train(self, resume, callback)

    def collect(self) -> None:
        self.rollout.collect(self.actor, self.critic, self.buf)

    def end_epoch(self, epoch: int, **metrics: float) -> dict:
        """Write the epoch's row (episode statistics, then the algorithm's ``metrics``, then
        Time) and checkpoint when due."""
        logger = self.lifecycle.logger
        ep_rets, ep_lens = self.rollout.stats.drain()
        logger.store(EpRet=ep_rets, EpLen=ep_lens)
        logger.log_tabular("Epoch", epoch)
        logger.log_tabular("EpRet", with_min_and_max=True)
        if self.test_env is not None:  # every epoch has the columns; NaN between tests
            if (epoch + 1) % self.cfg.test_every == 0 or epoch == self.epochs - 1:
                act = Policy(self.actor, self.normalizer, self.action_space, deterministic=True)
                test_rets, test_lens = self.test(act)
                logger.store(TestEpRet=test_rets, TestEpLen=test_lens)
            logger.log_tabular("TestEpRet", with_min_and_max=True)
        logger.log_tabular("EpLen", average_only=True)
        if self.test_env is not None:
            logger.log_tabular("TestEpLen", average_only=True)
        if self.critic is not None:
            logger.store(VVals=self.buf.values)
            logger.log_tabular("VVals", with_min_and_max=True)
        logger.log_tabular("TotalEnvInteracts", self.rollout.steps)
        for key, value in metrics.items():
            logger.log_tabular(key, value)
        return self.lifecycle.end_epoch(epoch, ep_rets, ep_rets[-1] if ep_rets else None)

    # --- what the lifecycle asks of a loop --------------------------------------------------

    def state_dict(self) -> dict:
        """Everything a resumed run needs to continue bit for bit."""
        state = {
            "actor": self.actor.state_dict(),
            "critic": self.critic.state_dict() if self.critic is not None else None,
            "optimizers": {k: opt.state_dict() for k, opt in self.optimizers.items()},
            "obs_normalizer": self.normalizer.state_dict(),
            "reward_scaler": self.reward_scaler.state_dict(),
            **self.env_state(),
        }
        return state

    def load_state_dict(self, state: dict) -> bool:
        self.actor.load_state_dict(state["actor"])
        if self.critic is not None:
            self.critic.load_state_dict(state["critic"])
        for name, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
        self.normalizer.load_state_dict(state["obs_normalizer"])
        self.reward_scaler.load_state_dict(state["reward_scaler"])
        return self.load_env_state(state)

    def result(self) -> Result:
        return self.lifecycle.result(critic=self.critic)
