"""The one run lifecycle every training loop stands on, whatever the algorithm family.

    plan     epochs and steps per env from the budget; independent random streams from the seed
    start    lock the run directory, catch SIGINT/SIGTERM, then either write config.json or
             resume: check the config, load the newest checkpoint into the loop
    epochs   the loop trains an epoch and logs its own columns; ``end_epoch`` adds Time,
             writes the progress row and checkpoints when due (the previous file kept)
    stop     after a signal the epoch's work finishes, a checkpoint is written and
             TrainingInterrupted raised; a callback returning True ends training early
    result   one Result type for every algorithm: ``result.act(obs)`` and the networks

A *loop* (onpolicy.Session, offpolicy.OffPolicyLoop, the next family's) is anything with

    steps                       env steps taken so far (all envs together)
    state_dict() / load_state_dict(state)   what it learns and the envs' state, for resume
    policy_state() -> dict      the actor's spec, weights and normaliser, for load_policy
    close()

so that a new family writes its step logic and nothing else.
"""

from __future__ import annotations

import importlib.util
import math
import random
import sys
import time
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from spinrl.checkpoint import (
    CHECKPOINT,
    RESUME_MAY_CHANGE,
    GracefulStop,
    RunLock,
    check_resume_config,
    load_latest_checkpoint,
    save_checkpoint,
)
from spinrl.encoders import as_obs_tensor, check_obs_space, flat_obs_dim, is_image_space, pack_dict
from spinrl.envs import (
    ObsNormalizer,
    RewardScaler,
    check_action_space,
    env_name,
    env_state,
    make_env,
    make_vec_env,
    recorded,
    set_env_state,
)
from spinrl.errors import CheckpointError, ConfigError, TrainingInterrupted
from spinrl.logger import EpochLogger
from spinrl.policies import ACTIVATIONS, action_clipper, actor_spec, build_actor
from spinrl.rollout import Rollout

# --- The fields every algorithm's Config shares ----------------------------------------------


@dataclass
class RunConfig:
    """The fields every algorithm's Config has; an algorithm's Config subclasses this one,
    adds its own fields and may change these defaults.

    env: Gymnasium environment id, or "package.module:factory" for your own (when train()
        gets an env_fn, the run records the factory's import path or its env's id here).
    seed: the seed every random stream of the run is spawned from (agent, each env, torch).
    num_envs: vector environments stepped together (N).
    vectorization: "sync" (same process; exact resume) or "async" (one process per env;
        resumes with fresh episodes).
    steps_per_epoch: env steps per epoch, summed over the N envs (T = steps_per_epoch / N).
    epochs: number of epochs; ignored when total_steps is set.
    total_steps: training budget in env steps; sets epochs = ceil(total_steps / steps_per_epoch).
    gamma: discount factor.
    max_ep_len: time limit per episode (a truncation, not a termination); None keeps the
        environment's own.
    hid: hidden layer sizes of the networks, written [64,64] on the command line; for images
        and Dict observations, those of the heads after the encoder ([] for linear heads).
    act: activation between hidden layers (tanh, relu, elu, gelu, silu).
    save_freq: write a checkpoint every save_freq epochs (and after the last).
    capture_video: every capture_video epochs (and after the last), record one episode of
        the deterministic policy to RUN_DIR/videos/epoch_<N>.mp4, as CleanRL's
        --capture-video (needs moviepy, and pygame for the classic-control tasks); 0: off.
    """

    env: str = "CartPole-v1"
    seed: int = 0
    num_envs: int = 1
    vectorization: str = "sync"
    steps_per_epoch: int = 4000
    epochs: int = 50
    total_steps: int | None = None
    gamma: float = 0.99
    max_ep_len: int | None = None
    hid: tuple[int, ...] = (64, 64)
    act: str = "tanh"
    save_freq: int = 10
    capture_video: int = 0


@dataclass(frozen=True)
class Variant:
    """Train as a named variant of another algorithm: VPG is pg with the GAE weight, DDPG is
    TD3 with one critic, no smoothing and no delay. The run is recorded under the variant's
    ``name`` with its own ``cfg`` (config.json, checkpoints, --resume)."""

    name: str
    cfg: object


def fixed_fields(base_config, cfg, fixed: dict):
    """The base algorithm's Config for a variant's ``cfg``: every field of ``cfg`` plus the
    ``fixed`` ones that make the variant what it is."""
    return base_config(**asdict(cfg), **fixed)


# --- Plan: the budget and the random streams -------------------------------------------------


def epoch_plan(steps_per_epoch: int, epochs: int, num_envs: int, total_steps: int | None):
    """(T, epochs): steps per env per epoch, and the number of epochs for the budget."""
    if steps_per_epoch < num_envs or steps_per_epoch % num_envs:
        raise ConfigError(
            f"steps_per_epoch ({steps_per_epoch}) must be a positive multiple of "
            f"num_envs ({num_envs})"
        )
    if total_steps is not None:
        if total_steps <= 0:
            raise ConfigError(f"total_steps must be positive, got {total_steps}")
        epochs = math.ceil(total_steps / steps_per_epoch)
    if epochs <= 0:
        raise ConfigError(f"epochs must be positive, got {epochs}")
    return steps_per_epoch // num_envs, epochs


def budget_note(total_steps: int | None, steps_per_epoch: int) -> str | None:
    """The line saying that a budget of ``total_steps`` rounds up to whole epochs; None
    where it does not (a budget is spent in whole epochs)."""
    if total_steps is None or total_steps <= 0 or total_steps % steps_per_epoch == 0:
        return None
    epochs = math.ceil(total_steps / steps_per_epoch)
    return (
        f"spinrl: total_steps {total_steps:,} is not a whole number of epochs of "
        f"{steps_per_epoch:,} steps (steps_per_epoch): training {epochs} "
        f"epoch{'s' * (epochs > 1)}, {epochs * steps_per_epoch:,} steps"
    )


def validate_common(cfg) -> None:
    """ConfigError for the fields every algorithm's Config shares (before anything exists)."""
    epoch_plan(cfg.steps_per_epoch, cfg.epochs, cfg.num_envs, cfg.total_steps)
    if not 0.0 <= cfg.gamma <= 1.0:
        raise ConfigError(f"gamma must lie in [0, 1], got {cfg.gamma}")
    if cfg.vectorization not in ("sync", "async"):
        raise ConfigError(f"vectorization must be sync or async, got {cfg.vectorization!r}")
    if cfg.act not in ACTIVATIONS:
        raise ConfigError(f"act must be one of {', '.join(ACTIVATIONS)}, got {cfg.act!r}")
    if any(h <= 0 for h in cfg.hid):
        raise ConfigError(f"hid sizes must be positive, got {cfg.hid}")
    if cfg.max_ep_len is not None and cfg.max_ep_len < 1:
        raise ConfigError(f"max_ep_len must be a positive number of steps, got {cfg.max_ep_len}")
    if cfg.capture_video < 0:
        raise ConfigError(f"capture_video must be >= 0 epochs, got {cfg.capture_video}")
    if cfg.capture_video and importlib.util.find_spec("moviepy") is None:
        raise ConfigError("capture_video needs moviepy: pip install 'spinrl[video]'")


@dataclass
class Streams:
    """Independent random streams spawned from one seed (numpy SeedSequence.spawn).

    The agent (action sampling, minibatch order, replay sampling), each training env, the
    test env and torch each get their own, so no env's dynamics are correlated with the
    agent's draws, and runs with seeds s and s + k share no stream.
    """

    agent: np.random.Generator
    env_seeds: list[int]
    test_env_seed: int
    torch_seed: int


def spawn_streams(seed: int, num_envs: int) -> Streams:
    agent, envs, test_env, torch_ = np.random.SeedSequence(seed).spawn(4)

    def as_int(seq: np.random.SeedSequence) -> int:
        return int(seq.generate_state(1, np.uint64)[0] >> np.uint64(1))  # fits torch's int64

    return Streams(
        agent=np.random.default_rng(agent),
        env_seeds=[as_int(s) for s in envs.spawn(num_envs)],
        test_env_seed=as_int(test_env),
        torch_seed=as_int(torch_),
    )


def seed_everything(seed: int, torch_seed: int) -> None:
    """Seed Python's and NumPy's global generators (user env code may draw from them) and
    torch; pin torch to one thread for reproducible, fast runs on small networks (thread
    start-up costs more than the products)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (the legacy global RNG, for user env code)
    torch.manual_seed(torch_seed)
    torch.set_num_threads(1)


# --- The deterministic test phase -------------------------------------------------------------


def run_episodes(
    act, env: gym.Env, episodes: int, seed: int | None = None
) -> tuple[list[float], list[int]]:
    """``episodes`` whole episodes with ``act(obs_batch) -> action_batch``, the first reset
    with ``seed``: their returns and lengths. The test phase (the deterministic policy, as
    Spinning Up's), ``spinrl watch`` and the training videos all run episodes this way."""
    returns, lengths = [], []
    for i in range(episodes):
        obs, _ = env.reset(seed=seed if i == 0 else None)
        ret, length, done = 0.0, 0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(act(obs[None])[0])
            ret, length, done = ret + float(reward), length + 1, terminated or truncated
        returns.append(ret)
        lengths.append(length)
    return returns, lengths


# --- Using what was trained -------------------------------------------------------------------


class Policy:
    """A trained actor as a function obs -> action (numpy), for one observation or a batch:
    the observation normaliser applied, Gaussian samples clipped to the action bounds. Image
    and packed Dict observations reach the network in their own dtype (uint8, bool); a Dict
    observation may also be given as the dict itself."""

    def __init__(self, actor, normalizer: ObsNormalizer, action_space, deterministic: bool):
        self.actor, self.normalizer = actor, normalizer
        self.deterministic = deterministic
        self.action_space = action_space
        self.clip = action_clipper(action_space)
        self.obs_shape = normalizer.rms.mean.shape

    def __call__(self, obs: np.ndarray | dict) -> np.ndarray:
        layout = getattr(getattr(self.actor, "encoder", None), "layout", None)
        if isinstance(obs, dict) and layout is not None:  # a Dict observation, as the env's
            obs = pack_dict(layout, obs)
        obs = np.asarray(obs)
        single = obs.shape == self.obs_shape
        x = as_obs_tensor(self.normalizer(obs[None] if single else obs))
        with torch.inference_mode():
            # DDPG's and TD3's actors are deterministic: they have no sample() to draw from.
            if self.deterministic or not hasattr(self.actor, "sample"):
                act = self.actor.deterministic(x)
            else:
                act = self.actor.sample(x)[0]
        act = self.clip(act.numpy())
        return act[0] if single else act

    @classmethod
    def from_state(cls, state: dict, deterministic: bool = False) -> Policy:
        """Rebuild from a loop's ``policy_state()``: the shapes come from the saved spec, so
        no environment has to be made."""
        spec = state["spec"]
        actor, action_space = build_actor(spec)
        actor.load_state_dict(state["actor"])
        actor.eval()
        obs_shape = tuple(spec.get("obs_shape", [spec["obs_dim"]]))
        normalizer = ObsNormalizer(obs_shape, enabled=False)
        normalizer.load_state_dict(state["obs_normalizer"])
        return cls(actor, normalizer, action_space, deterministic)


def policy_state(spec: dict, actor: torch.nn.Module, normalizer: ObsNormalizer) -> dict:
    """What a checkpoint keeps for ``Policy.from_state``: every loop's ``policy_state()``."""
    return {
        "spec": spec,
        "actor": actor.state_dict(),
        "obs_normalizer": normalizer.state_dict(),
    }


@dataclass
class Result:
    """What every algorithm's train() returns.

    ``act(obs, deterministic=False)`` maps an observation (or a batch) to an action as the
    trained policy would; ``actor`` and ``critic`` are the networks; ``agent`` and ``replay``
    are the off-policy agent (with its critics and targets) and its replay buffer.
    """

    algo: str
    actor: torch.nn.Module
    critic: torch.nn.Module | None
    obs_normalizer: ObsNormalizer
    action_space: gym.Space
    output_dir: str | None
    last_row: dict
    agent: object | None = None
    replay: object | None = None

    def policy(self, deterministic: bool = False) -> Policy:
        return Policy(self.actor, self.obs_normalizer, self.action_space, deterministic)

    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        return self.policy(deterministic)(obs)


# --- What every loop holds: the envs and their state -----------------------------------------


class EnvLoop:
    """The part of a training loop every family shares: the N vector envs with their
    observations, episode counters and random streams (a spinrl.rollout.Rollout), an
    optional test env on its own stream, the observation normaliser, and the actor's spec.

    A family's loop subclasses it: builds its networks, calls ``set_actor`` and writes its
    own step logic; ``env_state`` / ``load_env_state`` carry the envs through checkpoints.
    """

    ACTION_SPACES: tuple[type, ...] = (gym.spaces.Discrete, gym.spaces.Box)

    def __init__(
        self,
        run: Run,
        env_fn=None,
        *,
        test_env: bool,
        normalize_obs: bool = False,
        reward_scaler: RewardScaler | None = None,
    ) -> None:
        cfg, streams = run.cfg, run.streams
        self.lifecycle, self.cfg, self.rng = run, cfg, streams.agent
        self.envs = make_vec_env(env_fn or cfg.env, cfg.num_envs, cfg.vectorization, cfg.max_ep_len)
        self.test_env = None
        try:
            self.action_space = self.envs.single_action_space
            self.check_action_space(self.action_space)
            self.obs_space = self.envs.single_observation_space
            check_obs_space(self.obs_space)
            self.vector_obs = self.obs_space.dtype.kind == "f" and len(self.obs_space.shape) == 1
            if normalize_obs and not self.vector_obs:
                raise ConfigError(
                    f"normalize_obs applies to float vector observations; these are "
                    f"{self.obs_space} (images are scaled inside the network): turn it off"
                )
            # the MLP's input width for flat observations; an encoder's is its own
            encoded = is_image_space(self.obs_space) or hasattr(self.obs_space, "dict_layout")
            self.obs_dim = 0 if encoded else flat_obs_dim(self.obs_space)
            if test_env:
                self.test_env = make_env(env_fn or cfg.env, cfg.max_ep_len)
                self.test_env.reset(seed=streams.test_env_seed)
        except Exception:
            self.close()
            raise
        self.normalizer = ObsNormalizer(tuple(self.obs_space.shape), normalize_obs)
        self.rollout = Rollout(
            self.envs, streams.env_seeds, streams.agent, self.normalizer, reward_scaler
        )

    def check_action_space(self, space: gym.Space) -> None:
        check_action_space(space, self.ACTION_SPACES, self.lifecycle.algo)

    def set_actor(self, actor: torch.nn.Module) -> None:
        self.actor = actor
        width = actor.encoder.out_dim if actor.encoder is not None else self.obs_dim
        cfg = self.cfg
        self.spec = actor_spec(actor, width, self.action_space, cfg.hid, cfg.act, self.obs_space)

    @property
    def steps(self) -> int:
        return self.rollout.steps

    def test(self, act) -> tuple[list[float], list[int]]:
        """The test phase: num_test_episodes with ``act`` on the test env."""
        return run_episodes(act, self.test_env, self.cfg.num_test_episodes)

    def env_state(self) -> dict:
        state = {"rollout": self.rollout.state_dict()}
        if self.test_env is not None and state["rollout"]["envs"] is not None:
            state["test_env"] = env_state(self.test_env)
        return state

    def load_env_state(self, state: dict) -> bool:
        """Restore ``env_state()``; False where the envs' own state was not saved (async)."""
        exact = self.rollout.load_state_dict(state["rollout"])
        if exact and self.test_env is not None:
            set_env_state(self.test_env, state["test_env"])
        return exact

    def policy_state(self) -> dict:
        return policy_state(self.spec, self.actor, self.normalizer)

    def close(self) -> None:
        self.envs.close()
        if self.test_env is not None:
            self.test_env.close()


# --- The lifecycle ----------------------------------------------------------------------------


class Run:
    """One training run's lifecycle; see the module docstring."""

    def __init__(
        self,
        algo: str,
        cfg,
        output_dir=None,
        verbose: bool = True,
        env_fn=None,
        variant: Variant | None = None,
    ):
        algo, saved_cfg = (variant.name, variant.cfg) if variant else (algo, cfg)
        if env_fn is not None:  # record what the env really is, not the Config's default id
            name = env_name(env_fn)
            cfg, saved_cfg = replace(cfg, env=name), replace(saved_cfg, env=name)
        self.algo, self.cfg, self.saved_cfg = algo, cfg, saved_cfg
        self.env_fn = env_fn
        if cfg.capture_video:
            if output_dir is None:
                raise ConfigError("capture_video writes into the run directory: give an output_dir")
            probe = self._video_env()
            mode = probe.render_mode
            probe.close()
            if mode != "rgb_array":
                raise ConfigError(
                    f"capture_video needs an env that renders rgb_array frames; {cfg.env} was "
                    f"made with render_mode={mode!r} (let the factory take render_mode)"
                )
        self.T, self.epochs = epoch_plan(
            cfg.steps_per_epoch, cfg.epochs, cfg.num_envs, cfg.total_steps
        )
        if verbose and (note := budget_note(cfg.total_steps, cfg.steps_per_epoch)):
            print(note, file=sys.stderr)
        self.streams = spawn_streams(cfg.seed, cfg.num_envs)
        seed_everything(cfg.seed, self.streams.torch_seed)
        self.output_dir = Path(output_dir) if output_dir is not None else None
        self.verbose = verbose
        self.logger: EpochLogger | None = None
        self.loop = None
        self.last_row: dict = {}
        self.last_episode_returns: list[float] = []
        self._latest_return: float | None = None
        self._start = time.time()

    def train(self, loop, resume: bool = False, callback=None) -> Iterator[int]:
        """Yield the epochs still to train; resume first if asked. Cleans up at the end.

        ``callback(run)``, if given, runs after every epoch; returning True ends training
        (``run.last_row`` and ``run.last_episode_returns`` describe the epoch).
        """
        self.loop = loop
        lock = RunLock(self.output_dir) if self.output_dir is not None else nullcontext()
        try:
            with lock, GracefulStop() as stop:
                start = self._resume() if resume else 0
                if start >= self.epochs and self.verbose:
                    steps = self.epochs * self.cfg.steps_per_epoch
                    print(
                        f"spinrl: the run has trained {start} epochs, and its budget is "
                        f"{self.epochs} epochs ({steps:,} steps), so there is nothing to "
                        "train; resume with a larger --epochs or --total-steps to go on",
                        file=sys.stderr,
                    )
                self.logger = EpochLogger(
                    self.output_dir,
                    self.epochs * self.cfg.steps_per_epoch,
                    self.verbose,
                    f"{self.algo} {self.cfg.env}",
                    keep_rows=start if resume else None,
                )
                # a resumed run may have been given a longer budget: config.json says so
                self.logger.save_config(self.algo, self.saved_cfg)
                self.logger.update_progress(loop.steps, None)
                self._start = time.time()
                for epoch in range(start, self.epochs):
                    yield epoch
                    if stop.signum is not None:  # the epoch's work finished: save, then stop
                        if self.output_dir is not None:
                            self._save(epoch)
                        out = str(self.output_dir) if self.output_dir is not None else None
                        raise TrainingInterrupted(stop.signum, out, epoch)
                    if callback is not None and callback(self):
                        if self.output_dir is not None:  # the checkpoint is the policy returned
                            self._save(epoch)
                        break
        finally:
            if self.logger is not None:
                self.logger.close()
            loop.close()

    def end_epoch(self, epoch: int, episode_returns: list[float], latest: float | None) -> dict:
        """Close the epoch's row (the loop logged its columns): Time, the progress bar, the
        row itself, and a checkpoint every save_freq epochs and after the last."""
        self.last_episode_returns = episode_returns
        self.logger.log_tabular("Time", time.time() - self._start)
        if latest is not None:
            self._latest_return = latest
        self.logger.update_progress(self.loop.steps, self._latest_return)
        self.last_row = self.logger.dump_tabular()
        last = epoch == self.epochs - 1
        due = self.cfg.save_freq and (epoch + 1) % self.cfg.save_freq == 0
        if self.output_dir is not None and (last or due):
            self._save(epoch)
        video = self.cfg.capture_video
        if video and (last or (epoch + 1) % video == 0):
            self._record(epoch)
        return self.last_row

    def _video_env(self) -> gym.Env:
        return make_env(self.env_fn or self.cfg.env, self.cfg.max_ep_len, render_mode="rgb_array")

    def _record(self, epoch: int) -> None:
        """One episode of the deterministic policy, into RUN_DIR/videos/epoch_<N>.mp4."""
        loop = self.loop  # the live actor: building a new one would draw from torch's RNG
        policy = Policy(loop.actor, loop.normalizer, loop.action_space, deterministic=True)
        env = self._video_env()
        (self.output_dir / "videos").mkdir(exist_ok=True)
        with recorded(env, self.output_dir / "videos" / f"epoch_{epoch}.mp4") as env:
            run_episodes(policy, env, 1, seed=self.streams.test_env_seed + epoch)

    def result(self, **extra) -> Result:
        loop = self.loop
        return Result(
            algo=self.algo,
            actor=loop.actor,
            critic=extra.pop("critic", None),
            obs_normalizer=loop.normalizer,
            action_space=loop.action_space,
            output_dir=str(self.output_dir) if self.output_dir is not None else None,
            last_row=self.last_row,
            **extra,
        )

    # --- checkpoints ----------------------------------------------------------------------

    def _save(self, epoch: int) -> None:
        save_checkpoint(
            self.output_dir / CHECKPOINT,
            {
                "kind": self.algo,
                "epoch": epoch,
                "policy": self.loop.policy_state(),
                "loop": self.loop.state_dict(),
                "torch_rng": torch.get_rng_state(),
                "python_rng": random.getstate(),
                "numpy_global_rng": np.random.get_state(),  # noqa: NPY002 (user env code's)
            },
        )

    def _resume(self) -> int:
        """Load the newest checkpoint into the loop; returns the first epoch still to train."""
        if self.output_dir is None:
            raise CheckpointError("resuming needs the run directory (output_dir)")
        check_resume_config(self.output_dir, asdict(self.saved_cfg), RESUME_MAY_CHANGE)
        state, used = load_latest_checkpoint(self.output_dir / CHECKPOINT, kind=self.algo)
        try:
            exact = self.loop.load_state_dict(state["loop"])
            torch.set_rng_state(state["torch_rng"])
            version, internal, gauss = state["python_rng"]
            random.setstate((version, tuple(internal), gauss))
            name, keys, pos, has_gauss, cached = state["numpy_global_rng"]
            np.random.set_state((name, keys.numpy(), pos, has_gauss, cached))  # noqa: NPY002
        except (KeyError, RuntimeError, ValueError, TypeError, AttributeError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise CheckpointError(f"checkpoint {used} does not fit this run: {first}") from None
        if not exact:
            print(
                "spinrl: resuming with fresh environments (async vector envs keep their state "
                "in worker processes, Box2D in C++ bodies, the Atari and MinAtar games in their "
                "emulators, which checkpoints do not hold): "
                "the rest of the run will differ from an uninterrupted one",
                file=sys.stderr,
            )
        return int(state["epoch"]) + 1
