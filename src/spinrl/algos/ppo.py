"""Proximal Policy Optimization (PPO-clip).

PPO takes several minibatch gradient steps on each batch while keeping the new policy close
to the one that collected it, by clipping the probability ratio r = pi(a|s) / pi_old(a|s):

    L_clip = E[ min(r A, clip(r, 1 - eps, 1 + eps) A) ]                 (docs eq. 4.1)

    for k = 0, 1, 2, ...
        collect T steps in each of N envs with pi_k; compute GAE advantages and lambda-returns
        for update_epochs passes, for each shuffled minibatch:
            loss = -L_clip - ent_coef * entropy + vf_coef * value loss
            one Adam step on the actor and critic together (gradient norm clipped)
            stop early if the approximate KL exceeds 1.5 * target_kl

The implementation details that decide PPO's quality are each named where they happen
(see "detail:" comments). The defaults are chosen for the classic-control tasks and judged
by where runs end, not by when they first touch a threshold: on CartPole-v1 at 100k steps,
20 of 20 seeds end with the mean of their last 10 epochs at 500 (benchmarks/stability.py).
They are spinrl's own: 8 envs x 128 steps, 10 passes of minibatches of 256, lr 1e-3
annealed, clip 0.2, and rl-baselines3-zoo's CartPole discount (gamma 0.98, lam 0.8). For
MuJoCo use ``--preset mujoco`` (CleanRL's settings: 1 env, 2048 steps, minibatches of 64, 10
epochs, normalised observations and rewards); ``--preset spinningup`` gives Spinning Up's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import gymnasium as gym
import torch

from spinrl import onpolicy, returns
from spinrl.buffers import minibatches, shuffled
from spinrl.envs import EnvFn
from spinrl.errors import ConfigError
from spinrl.onpolicy import Session, check_finite
from spinrl.optim import FlatAdam
from spinrl.policies import encoded_once
from spinrl.run import Result
from spinrl.sde import check_sample_freq

ACTION_SPACES = onpolicy.ACTION_SPACES


@dataclass
class Config(onpolicy.OnPolicyConfig):
    """Hyperparameters of PPO-clip.

    clip_ratio: epsilon of the clipped surrogate: how far the ratio may move per update.
    pi_lr: Adam learning rate of the policy.
    vf_lr: Adam learning rate of the value function.
    anneal_lr: decay both learning rates linearly to 0 over training.
    anneal_clip: decay clip_ratio linearly to 0 over training too (SB3's lin_ clip_range).
    update_epochs: passes over the batch per update.
    minibatch_size: samples per gradient step.
    normalize_advantages: normalise advantages per minibatch to mean 0, std 1.
    clip_vloss: clip the value update around the old values, like the policy's ratio.
    ent_coef: weight of the entropy bonus.
    vf_coef: weight of the value loss in the joint loss.
    max_grad_norm: clip the global gradient norm to this (None: no clipping).
    target_kl: stop the policy's steps when the approximate KL passes 1.5 * target_kl (None:
        off); the value function keeps training for the rest of the passes, as in Spinning Up.
    kl_estimator: the KL estimate early stopping reads: k3, mean((r - 1) - log r), never
        negative; or k1, mean(log pi_old - log pi), Spinning Up's.
    normalize_reward: scale rewards by the running std of the discounted return, then clip.
    reward_clip: bound of the scaled rewards.
    orthogonal_init: orthogonal weights (gain sqrt 2, policy head 0.01, value head 1).
    log_std_init: initial log standard deviation of the Gaussian policy (with sde, of every
        entry of the noise matrix).
    sde: explore Box actions with gSDE (spinrl.sde), SB3's ``use_sde``: noise that is a
        function of the state, held for sde_sample_freq steps.
    sde_sample_freq: with sde, draw new exploration matrices every this many steps as well as
        at the start of each epoch's collection; -1: only then (SB3's).
    shared_encoder: for images and Dict observations, one encoder (the CNN trunk) read by
        both the actor and the critic, trained by the joint loss, as CleanRL's ppo_atari; it
        learns at pi_lr. No effect on flat vectors, which have no encoder.
    """

    num_envs: int = 8
    steps_per_epoch: int = 1024
    gamma: float = 0.98
    lam: float = 0.8
    clip_ratio: float = 0.2
    pi_lr: float = 1e-3
    vf_lr: float = 1e-3
    anneal_lr: bool = True
    anneal_clip: bool = False
    update_epochs: int = 10
    minibatch_size: int = 256
    normalize_advantages: bool = True
    clip_vloss: bool = False
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float | None = 0.5
    target_kl: float | None = None
    kl_estimator: str = "k3"
    normalize_reward: bool = False
    reward_clip: float = 10.0
    orthogonal_init: bool = True
    log_std_init: float = 0.0
    shared_encoder: bool = True
    sde: bool = False
    sde_sample_freq: int = -1


def validate(cfg: Config) -> None:
    """ConfigError for values no run could use (checked before anything is created)."""
    onpolicy.validate(cfg)
    if not 0 < cfg.minibatch_size <= cfg.steps_per_epoch:
        raise ConfigError(
            f"minibatch_size must be in 1..steps_per_epoch ({cfg.steps_per_epoch}), "
            f"got {cfg.minibatch_size}"
        )
    if not (cfg.pi_lr > 0 and cfg.vf_lr > 0 and math.isfinite(cfg.pi_lr + cfg.vf_lr)):
        raise ConfigError(f"learning rates must be positive, got {cfg.pi_lr} and {cfg.vf_lr}")
    if cfg.clip_ratio <= 0:
        raise ConfigError(f"clip_ratio must be positive, got {cfg.clip_ratio}")
    if cfg.update_epochs < 1:
        raise ConfigError(f"update_epochs must be positive, got {cfg.update_epochs}")
    if cfg.kl_estimator not in KL_ESTIMATORS:
        raise ConfigError(f"kl_estimator must be k3 or k1, got {cfg.kl_estimator!r}")
    check_sample_freq(cfg.sde_sample_freq)


def clipped_surrogate(
    logp: torch.Tensor, logp_old: torch.Tensor, adv: torch.Tensor, clip_ratio: float
) -> torch.Tensor:
    """PPO-clip's policy loss: -mean(min(r A, clip(r, 1 - eps, 1 + eps) A)), r = pi / pi_old."""
    ratio = (logp - logp_old).exp()
    clipped = ratio.clamp(1.0 - clip_ratio, 1.0 + clip_ratio)
    return -torch.min(ratio * adv, clipped * adv).mean()


KL_ESTIMATORS = ("k3", "k1")


@torch.no_grad()
def ratio_stats(
    logp: torch.Tensor, logp_old: torch.Tensor, clip_ratio: float, kl_estimator: str = "k3"
) -> tuple[torch.Tensor, torch.Tensor]:
    """The approximate KL(pi_old || pi) and the fraction of samples whose ratio was clipped.

    k3 = mean((r - 1) - log r): Schulman's estimator from samples of pi_old, unbiased and
    never negative. k1 = mean(log pi_old - log pi): unbiased too, but any single batch can
    make it negative; Spinning Up early-stops on it.
    """
    log_ratio = logp - logp_old
    ratio = log_ratio.exp()
    approx_kl = ((ratio - 1.0) - log_ratio).mean() if kl_estimator == "k3" else -log_ratio.mean()
    clip_frac = ((ratio - 1.0).abs() > clip_ratio).float().mean()
    return approx_kl, clip_frac


def normalize_per_minibatch(adv: torch.Tensor, size: int) -> torch.Tensor:
    """(a - mean) / (std + 1e-8) within each consecutive chunk of ``size`` (the minibatches
    of one pass), all chunks at once; a chunk of one element is left as it is."""
    if size < 2:
        return adv
    full = len(adv) // size * size
    out = adv.clone()
    if full:
        chunks = adv[:full].view(-1, size)
        mean, std = chunks.mean(1, keepdim=True), chunks.std(1, keepdim=True)
        out[:full] = ((chunks - mean) / (std + 1e-8)).view(-1)
    if len(adv) - full > 1:
        rest = adv[full:]
        out[full:] = (rest - rest.mean()) / (rest.std() + 1e-8)
    return out


def value_loss(v, v_old, targets, clip: float | None) -> torch.Tensor:
    """1/2 mean (V - target)^2; with ``clip``, the pessimistic max with the update clipped
    to v_old +- clip (detail: clipped value loss, optional)."""
    loss = (v - targets).pow(2)
    if clip is not None:
        v_clipped = v_old + (v - v_old).clamp(-clip, clip)
        loss = torch.max(loss, (v_clipped - targets).pow(2))
    return 0.5 * loss.mean()


def check_env(cfg: Config, env) -> None:
    """ConfigError for settings this env cannot take (the command line checks before anything
    is written): gSDE needs a 1-D Box action space."""
    space = env.action_space
    if cfg.sde and not (isinstance(space, gym.spaces.Box) and len(space.shape) == 1):
        raise ConfigError(f"sde (gSDE) needs a 1-D Box action space, not {space}")


def train(
    cfg: Config,
    env_fn: EnvFn | None = None,
    output_dir: str | None = None,
    verbose: bool = True,
    resume: bool = False,
    callback=None,
) -> Result:
    """Train with PPO-clip; see the module docstring."""
    validate(cfg)
    # detail: orthogonal init; state-independent log std for continuous actions.
    session = Session(
        "ppo",
        cfg,
        env_fn,
        output_dir,
        verbose,
        orthogonal=cfg.orthogonal_init,
        log_std_init=cfg.log_std_init,
        shared_encoder=cfg.shared_encoder,
        sde_sample_freq=cfg.sde_sample_freq if cfg.sde else None,
    )
    actor, critic, buf = session.actor, session.critic, session.buf
    # detail: one Adam over actor and critic (one backward per minibatch), eps 1e-5; a
    # shared encoder is the actor's, in the first group, once.
    actor_params = set(actor.parameters())
    opt = FlatAdam(
        [
            {"params": actor.parameters(), "lr": cfg.pi_lr},
            {"params": [p for p in critic.parameters() if p not in actor_params], "lr": cfg.vf_lr},
        ],
        eps=1e-5,
    )
    for epoch in session.run({"opt": opt}, resume, callback):
        frac = 1.0 - epoch / session.epochs
        if cfg.anneal_lr:  # detail: learning rate annealed linearly to 0
            opt.param_groups[0]["lr"] = frac * cfg.pi_lr
            opt.param_groups[1]["lr"] = frac * cfg.vf_lr
        clip = frac * cfg.clip_ratio if cfg.anneal_clip else cfg.clip_ratio
        # 1. Collect with the vector envs (detail: time limits bootstrap from V(final obs)).
        session.collect()
        # 2. detail: GAE-lambda advantages and lambda-return value targets.
        adv, v_targets = returns.gae(
            values=buf.values, gamma=cfg.gamma, lam=cfg.lam, **buf.returns_args()
        )
        data = buf.flat(adv=adv, v_targets=v_targets, v_old=buf.values)
        # 3. Several passes of minibatch updates on the clipped surrogate.
        losses_pi, losses_v, policy_steps = update(actor, critic, opt, data, cfg, session.rng, clip)
        # Losses are checked once per epoch (a NaN spreads to every later step): the run
        # stops before the bad parameters reach a checkpoint.
        if policy_steps:
            check_finite(losses_pi, "LossPi", epoch)
        check_finite(losses_v, "LossV", epoch)
        # Over the whole batch: KL and ClipFrac of the updated policy against the old one,
        # and the updated policy's entropy.
        with torch.no_grad():
            logp, entropy = actor.log_prob_and_entropy(data["obs"], data["actions"])
            kl, clip_frac = ratio_stats(logp, data["logp"], clip, cfg.kl_estimator)
        session.end_epoch(
            epoch,
            LossPi=losses_pi.mean().item(),
            LossV=losses_v.mean().item(),
            Entropy=entropy.mean().item(),
            KL=kl.item(),
            ClipFrac=clip_frac.item(),
            StopIter=policy_steps,
            ExplainedVar=returns.explained_variance(buf.values, v_targets),
        )
    return session.result()


def update(actor, critic, opt, data: dict, cfg: Config, rng, clip: float | None = None):
    """update_epochs passes of shuffled minibatch steps on the joint loss, clipping the ratio
    at ``clip`` (cfg.clip_ratio by default). Returns the policy losses and the value losses
    of every step (tensors) and the number of policy steps."""
    clip = cfg.clip_ratio if clip is None else clip
    losses_pi, losses_v = [], []
    policy_on = True
    for _ in range(cfg.update_epochs):
        batch = shuffled(data, rng)
        if cfg.normalize_advantages:  # detail: advantages normalised per minibatch
            batch["adv"] = normalize_per_minibatch(batch["adv"], cfg.minibatch_size)
        for mb in minibatches(batch, cfg.minibatch_size):
            # detail: a CNN trunk the actor and critic share runs once per minibatch
            with encoded_once(actor, critic, mb["obs"]) as obs:
                loss_v = value_loss(
                    critic(obs),
                    mb["v_old"],
                    mb["v_targets"],
                    clip if cfg.clip_vloss else None,  # detail: clipped value loss
                )
                loss = cfg.vf_coef * loss_v
                if policy_on:
                    if cfg.ent_coef:
                        logp, entropy = actor.log_prob_and_entropy(obs, mb["actions"])
                    else:  # no entropy term in the gradient: skip computing it per step
                        logp = actor.log_prob(obs, mb["actions"])
                    if cfg.target_kl is not None:  # detail: KL early stopping (Spinning Up)
                        kl = ratio_stats(logp, mb["logp"], clip, cfg.kl_estimator)[0]
                        policy_on = bool(kl <= 1.5 * cfg.target_kl)
            if policy_on:
                loss_pi = clipped_surrogate(logp, mb["logp"], mb["adv"], clip)
                loss = loss + loss_pi  # one joint loss, one backward, one optimiser step
                if cfg.ent_coef:  # detail: entropy bonus
                    loss = loss - cfg.ent_coef * entropy.mean()
                losses_pi.append(loss_pi.detach())
            opt.zero_grad()
            loss.backward()
            if cfg.max_grad_norm is not None:  # detail: global gradient-norm clipping
                opt.clip_grad_norm_(cfg.max_grad_norm)
            opt.step(groups=None if policy_on else (1,))  # after a KL stop: the critic only
            losses_v.append(loss_v.detach())
    policy_steps = len(losses_pi)
    no_step = torch.full((1,), torch.nan)  # the KL stopped the policy before its first step
    losses_pi = torch.stack(losses_pi) if policy_steps else no_step
    return losses_pi, torch.stack(losses_v), policy_steps
