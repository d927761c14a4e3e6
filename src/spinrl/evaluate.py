"""Using a trained policy: load it from a run directory, watch it act, record a video.

    policy = load_policy("data/cp/cp_s0")                  # obs -> action, normaliser applied
    policy = load_policy("data/cp/cp_s0", deterministic=True)
    returns, lengths = watch("data/cp/cp_s0", episodes=5, video="cp.mp4")

A stochastic policy samples a ~ pi(.|s); ``deterministic=True`` takes the most likely action
instead (argmax for categorical, the mean for Gaussian policies). The run's config.json says
which algorithm, environment and network built it; the checkpoint (model.pt) holds the
weights and the observation-normaliser statistics, loaded with weights_only=True.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from spinrl.checkpoint import load_checkpoint, read_json
from spinrl.config import build_config
from spinrl.envs import ObsNormalizer, make_env
from spinrl.errors import CheckpointError, EnvError
from spinrl.policies import (
    DeterministicActor,
    SquashedGaussianActor,
    action_clipper,
    flat_obs_dim,
    make_actor,
)

OFF_POLICY_ACTORS = {
    "sac": SquashedGaussianActor,
    "td3": DeterministicActor,
    "ddpg": DeterministicActor,
}


class Policy:
    """A trained actor as a function obs -> action (numpy), for one observation or a batch."""

    def __init__(self, actor, normalizer: ObsNormalizer, action_space, deterministic: bool):
        self.actor, self.normalizer = actor, normalizer
        self.deterministic = deterministic
        self.clip = action_clipper(action_space)
        self.obs_shape = normalizer.rms.mean.shape

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float32)
        single = obs.shape == self.obs_shape
        x = torch.from_numpy(self.normalizer(obs[None] if single else obs))
        with torch.inference_mode():
            # DDPG's and TD3's actors are deterministic: they have no sample() to draw from.
            if self.deterministic or not hasattr(self.actor, "sample"):
                act = self.actor.deterministic(x)
            else:
                act = self.actor.sample(x)[0]
        act = self.clip(act.numpy())
        return act[0] if single else act


def _run_config(run_dir: Path):
    from spinrl.algos import ALGOS

    saved = read_json(run_dir / "config.json")
    algo = saved.get("algo")
    if algo not in ALGOS or not isinstance(saved.get("config"), dict):
        raise CheckpointError(f"{run_dir / 'config.json'} does not describe a spinrl run")
    return algo, build_config(ALGOS[algo].Config, saved["config"])


def load_policy(
    run_dir: str | os.PathLike, checkpoint: str | None = None, deterministic: bool = False
) -> Policy:
    """The policy saved in ``run_dir`` (its model.pt, or the ``checkpoint`` file named)."""
    run_dir = Path(run_dir)
    algo, cfg = _run_config(run_dir)
    env = make_env(cfg.env)
    try:
        obs_space, act_space = env.observation_space, env.action_space
    finally:
        env.close()
    state = load_checkpoint(Path(checkpoint) if checkpoint else run_dir / "model.pt", kind=algo)
    obs_dim = flat_obs_dim(obs_space)
    normalizer = ObsNormalizer((obs_dim,), enabled=False)
    try:
        if algo in OFF_POLICY_ACTORS:  # the agent's actor; these runs use no normaliser
            actor = OFF_POLICY_ACTORS[algo](obs_dim, act_space, cfg.hid, cfg.act)
            actor.load_state_dict(state["agent"]["actor"])
        else:
            actor = make_actor(obs_space, act_space, cfg.hid, cfg.act)
            actor.load_state_dict(state["actor"])
            normalizer.load_state_dict(state["obs_normalizer"])
    except (KeyError, RuntimeError, TypeError, EnvError) as e:
        first = str(e).strip().splitlines()[0]
        raise CheckpointError(f"the checkpoint does not fit the run's config: {first}") from None
    actor.eval()
    return Policy(actor, normalizer, act_space, deterministic)


def watch(
    run_dir: str | os.PathLike,
    episodes: int = 5,
    deterministic: bool = False,
    render: bool = False,
    video: str | os.PathLike | None = None,
    seed: int = 0,
    checkpoint: str | None = None,
) -> tuple[list[float], list[int]]:
    """Run ``episodes`` episodes with the saved policy; returns their returns and lengths.

    ``render`` opens a window; ``video`` records every episode into one MP4 file with
    Gymnasium's RecordVideo (needs moviepy, and pygame for the classic-control tasks).
    """
    run_dir = Path(run_dir)
    policy = load_policy(run_dir, checkpoint, deterministic)
    _, cfg = _run_config(run_dir)
    mode = "human" if render else "rgb_array" if video else None
    env = make_env(cfg.env, cfg.max_ep_len, render_mode=mode)
    if video is not None:
        video = Path(video)
        try:
            env = gym.wrappers.RecordVideo(
                env,
                str(video.parent / f".{video.stem}-frames"),
                name_prefix=video.stem,
                step_trigger=lambda step: step == 0,
                video_length=10**9,
                disable_logger=True,
            )
        except gym.error.DependencyNotInstalled as e:
            env.close()
            raise EnvError(
                f"recording video needs moviepy: pip install 'spinrl[video]' ({e})"
            ) from None
    returns, lengths = [], []
    try:
        obs, _ = env.reset(seed=seed)
        for _ in range(episodes):
            ret, length, done = 0.0, 0, False
            while not done:
                obs, reward, terminated, truncated, _ = env.step(policy(obs))
                ret, length = ret + float(reward), length + 1
                done = terminated or truncated
            returns.append(ret)
            lengths.append(length)
            obs, _ = env.reset()
    finally:
        env.close()  # RecordVideo writes the file here
    if video is not None:
        folder = video.parent / f".{video.stem}-frames"
        written = folder / f"{video.stem}-step-0.mp4"
        if written.exists():
            os.replace(written, video)
        shutil.rmtree(folder, ignore_errors=True)
    return returns, lengths
