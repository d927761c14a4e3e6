"""The simplest policy gradient, with the weight Phi_t of your choice (docs/part3.md).

Each epoch: collect a batch of experience with the current policy, then take one gradient
ascent step on

    L(theta) = 1/|D| sum_{t in D} log pi_theta(a_t|s_t) Phi_t

whose gradient is the sample estimate of grad J (eq. 3.7). ``phi`` picks Phi_t:

    total         R(tau)              the return of the whole episode
    rtg           G_t                 reward-to-go: only rewards after the action count
    rtg_baseline  G_t - V(s_t)        reward-to-go minus a learned baseline
    q             r_t + gamma V(s')   a one-step estimate of Q^pi(s_t, a_t)
    advantage     r_t + gamma V(s') - V(s_t)
    gae           GAE-lambda advantage (this choice with a value function is VPG)

All are unbiased for the same gradient when V is exact; they differ in variance, which is
what ``spinrl variance`` measures. The weights that need V fit a value network on the
lambda-returns with ``train_v_iters`` Adam steps per epoch.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import gymnasium as gym
import torch

from spinrl import returns
from spinrl.buffers import RolloutBuffer
from spinrl.checkpoint import save_checkpoint
from spinrl.envs import EnvFn, ObsNormalizer, check_action_space, make_vec_env
from spinrl.errors import ConfigError, DivergenceError
from spinrl.logger import EpochLogger
from spinrl.policies import ACTIVATIONS, VCritic, flat_obs_dim, make_actor
from spinrl.rollout import Rollout, epoch_plan, seed_everything

ACTION_SPACES = (gym.spaces.Discrete, gym.spaces.Box)


@dataclass
class Config:
    """Hyperparameters of the simplest policy gradient.

    env: Gymnasium environment id (ignored when an env_fn is passed to train).
    seed: seeds Python, NumPy, PyTorch and the environments.
    num_envs: vector environments stepped together (N).
    vectorization: "sync" (same process) or "async" (one process per env).
    steps_per_epoch: env steps per epoch, summed over the N envs (T = steps_per_epoch / N).
    epochs: policy updates; ignored when total_steps is set.
    total_steps: training budget in env steps; sets epochs = ceil(total_steps / steps_per_epoch).
    phi: the weight Phi_t: total, rtg, rtg_baseline, q, advantage or gae.
    gamma: discount factor (1.0 is Part 3's undiscounted return).
    lam: GAE lambda, used by phi = gae.
    pi_lr: policy learning rate (Adam).
    vf_lr: value-function learning rate (Adam), for the weights that need V.
    train_v_iters: value-function gradient steps per epoch.
    normalize_advantages: shift and scale Phi_t to mean 0, std 1 over the batch.
    max_ep_len: time limit per episode; None keeps the environment's own.
    hid: hidden layer sizes of the policy and value networks.
    act: activation between hidden layers (tanh, relu, elu, gelu, silu).
    normalize_obs: normalise observations with running statistics (saved with the model).
    save_freq: write a checkpoint every save_freq epochs (and after the last).
    """

    env: str = "CartPole-v1"
    seed: int = 0
    num_envs: int = 1
    vectorization: str = "sync"
    steps_per_epoch: int = 5000
    epochs: int = 50
    total_steps: int | None = None
    phi: str = "rtg"
    gamma: float = 1.0
    lam: float = 0.97
    pi_lr: float = 1e-2
    vf_lr: float = 1e-3
    train_v_iters: int = 80
    normalize_advantages: bool = False
    max_ep_len: int | None = None
    hid: tuple[int, ...] = field(default=(32,))
    act: str = "tanh"
    normalize_obs: bool = False
    save_freq: int = 10


@dataclass
class Trained:
    """What train() returns: the networks, ready to act, and where the run was written."""

    actor: torch.nn.Module
    critic: torch.nn.Module | None
    obs_normalizer: ObsNormalizer
    output_dir: str | None
    last_row: dict


def validate(cfg: Config) -> None:
    """ConfigError for values no run could use (checked before anything is created)."""
    epoch_plan(cfg.steps_per_epoch, cfg.epochs, cfg.num_envs, cfg.total_steps)
    if cfg.phi not in returns.PHI_KINDS:
        raise ConfigError(f"phi must be one of {', '.join(returns.PHI_KINDS)}, got {cfg.phi!r}")
    if not 0.0 <= cfg.gamma <= 1.0 or not 0.0 <= cfg.lam <= 1.0:
        raise ConfigError(f"gamma and lam must lie in [0, 1], got {cfg.gamma} and {cfg.lam}")
    if not (cfg.pi_lr > 0 and cfg.vf_lr > 0 and math.isfinite(cfg.pi_lr + cfg.vf_lr)):
        raise ConfigError(f"learning rates must be positive, got {cfg.pi_lr} and {cfg.vf_lr}")
    if cfg.vectorization not in ("sync", "async"):
        raise ConfigError(f"vectorization must be sync or async, got {cfg.vectorization!r}")
    if cfg.act not in ACTIVATIONS:
        raise ConfigError(f"act must be one of {', '.join(ACTIVATIONS)}, got {cfg.act!r}")
    if any(h <= 0 for h in cfg.hid):
        raise ConfigError(f"hid sizes must be positive, got {cfg.hid}")


def train(
    cfg: Config,
    env_fn: EnvFn | None = None,
    output_dir: str | None = None,
    verbose: bool = True,
    algo: str = "pg",
    saved_cfg=None,
) -> Trained:
    """Train a policy with the simplest policy gradient; see the module docstring."""
    validate(cfg)
    T, epochs = epoch_plan(cfg.steps_per_epoch, cfg.epochs, cfg.num_envs, cfg.total_steps)
    seed_everything(cfg.seed)
    envs = make_vec_env(env_fn or cfg.env, cfg.num_envs, cfg.vectorization, cfg.max_ep_len)
    obs_space, act_space = envs.single_observation_space, envs.single_action_space
    check_action_space(act_space, ACTION_SPACES, algo)
    obs_dim = flat_obs_dim(obs_space)
    actor = make_actor(obs_space, act_space, cfg.hid, cfg.act)
    critic = VCritic(obs_dim, cfg.hid, cfg.act) if cfg.phi in returns.NEEDS_CRITIC else None
    pi_opt = torch.optim.Adam(actor.parameters(), lr=cfg.pi_lr)
    vf_opt = torch.optim.Adam(critic.parameters(), lr=cfg.vf_lr) if critic else None
    normalizer = ObsNormalizer((obs_dim,), cfg.normalize_obs)
    discrete = isinstance(act_space, gym.spaces.Discrete)
    buf = RolloutBuffer(T, cfg.num_envs, obs_dim, act_space.shape, discrete)
    rollout = Rollout(envs, cfg.seed, normalizer)
    logger = EpochLogger(output_dir, epochs * cfg.steps_per_epoch, verbose, f"{algo} {cfg.env}")
    logger.save_config(algo, saved_cfg or cfg)
    start = time.time()
    try:
        for epoch in range(epochs):
            # 1. Collect a batch D of trajectories by running the policy.
            rollout.collect(actor, critic, buf)
            # 2. Compute Phi_t for every step (and value targets if there is a critic).
            phi = returns.policy_gradient_weights(
                cfg.phi, gamma=cfg.gamma, lam=cfg.lam, values=buf.values, **buf.returns_args()
            )
            extra = {"phi": phi}
            if critic is not None:
                extra["v_targets"] = returns.gae(
                    values=buf.values, gamma=cfg.gamma, lam=cfg.lam, **buf.returns_args()
                )[1]
            data = buf.flat(**extra)
            if cfg.normalize_advantages:
                data["phi"] = (data["phi"] - data["phi"].mean()) / (data["phi"].std() + 1e-8)
            # 3. One gradient ascent step on the policy: maximise mean(log pi(a|s) * Phi_t).
            logp, entropy = actor.log_prob_and_entropy(data["obs"], data["actions"])
            loss_pi = -(logp * data["phi"]).mean()
            _check_finite(loss_pi, "LossPi", epoch)
            pi_opt.zero_grad()
            loss_pi.backward()
            pi_opt.step()
            # 4. Fit V to the value targets by regression (only for the weights that use V).
            loss_v = torch.zeros(())
            if critic is not None:
                for _ in range(cfg.train_v_iters):
                    loss_v = (critic(data["obs"]) - data["v_targets"]).pow(2).mean()
                    _check_finite(loss_v, "LossV", epoch)
                    vf_opt.zero_grad()
                    loss_v.backward()
                    vf_opt.step()
            with torch.no_grad():
                kl = (data["logp"] - actor.log_prob(data["obs"], data["actions"])).mean()
            ep_rets, ep_lens = rollout.stats.drain()
            logger.store(EpRet=ep_rets, EpLen=ep_lens, VVals=buf.values)
            logger.log_tabular("Epoch", epoch)
            logger.log_tabular("EpRet", with_min_and_max=True)
            logger.log_tabular("EpLen", average_only=True)
            if critic is not None:
                logger.log_tabular("VVals", with_min_and_max=True)
            logger.log_tabular("TotalEnvInteracts", rollout.steps)
            logger.log_tabular("LossPi", loss_pi.item())
            logger.log_tabular("LossV", loss_v.item())
            logger.log_tabular("KL", kl.item())
            logger.log_tabular("Entropy", entropy.mean().item())
            logger.log_tabular("Time", time.time() - start)
            logger.update_progress(rollout.steps, ep_rets[-1] if ep_rets else None)
            row = logger.dump_tabular()
            last = epoch == epochs - 1
            if output_dir is not None and (
                last or (cfg.save_freq and (epoch + 1) % cfg.save_freq == 0)
            ):
                state = {
                    "kind": algo,
                    "epoch": epoch,
                    "actor": actor.state_dict(),
                    "critic": critic.state_dict() if critic else None,
                    "obs_normalizer": normalizer.state_dict(),
                }
                save_checkpoint(f"{output_dir}/model.pt", state)
    finally:
        logger.close()
        envs.close()
    return Trained(actor, critic, normalizer, output_dir, row)


def _check_finite(value: torch.Tensor, name: str, epoch: int) -> None:
    if not torch.isfinite(value).all():
        raise DivergenceError(f"{name} became {value.item()} at epoch {epoch}")
