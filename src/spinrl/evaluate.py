"""Using a trained policy: load it from a run directory, watch it act, record a video.

    policy = load_policy("data/cp/cp_s0")                  # obs -> action, normaliser applied
    policy = load_policy("data/cp/cp_s0", deterministic=True)
    returns, lengths = watch("data/cp/cp_s0", episodes=5, video="cp.mp4")

A stochastic policy samples a ~ pi(.|s); ``deterministic=True`` takes the most likely action
instead (argmax for categorical, the mean for Gaussian policies). The run's config.json says
which algorithm and environment (an id, or a factory's import path) built it; the
checkpoint (model.pt) holds the actor's spec (kind, input width, action space, layers), its
weights and the observation-normaliser statistics, loaded with weights_only=True, so the
policy loads without making the environment.
"""

from __future__ import annotations

import os
from contextlib import closing
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from spinrl.checkpoint import CHECKPOINT, CONFIG, load_checkpoint, read_json
from spinrl.config import build_config
from spinrl.envs import EnvFn, make_env, recorded
from spinrl.errors import CheckpointError, ConfigError, EnvError
from spinrl.run import Policy, run_episodes

__all__ = ["Policy", "load_policy", "watch"]


def _run_config(run_dir: Path):
    from spinrl.algos import ALGOS

    saved = read_json(run_dir / CONFIG)
    algo = saved.get("algo")
    if algo not in ALGOS or not isinstance(saved.get("config"), dict):
        raise CheckpointError(f"{run_dir / CONFIG} does not describe a spinrl run")
    return algo, build_config(ALGOS[algo].Config, saved["config"])


def load_policy(
    run_dir: str | os.PathLike, checkpoint: str | None = None, deterministic: bool = False
) -> Policy:
    """The policy saved in ``run_dir`` (its model.pt, or the ``checkpoint`` file named).

    The network's shapes come from the checkpoint itself, so no environment is made: a run
    trained on a custom env factory loads as any other."""
    run_dir = Path(run_dir)
    algo, _ = _run_config(run_dir)
    path = Path(checkpoint) if checkpoint else run_dir / CHECKPOINT
    state = load_checkpoint(path, kind=algo)
    try:
        return Policy.from_state(state["policy"], deterministic)
    except (KeyError, RuntimeError, TypeError, ValueError, EnvError) as e:
        what = f"missing entry {e}" if isinstance(e, KeyError) else _first_line(e)
        raise CheckpointError(f"checkpoint {path} does not hold a spinrl policy: {what}") from None


def _first_line(e: Exception) -> str:
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    # torch's load_state_dict puts the useful part on the lines after "Error(s) in ...:".
    return " ".join(lines[:3]) if lines else type(e).__name__


def watch(
    run_dir: str | os.PathLike,
    episodes: int = 5,
    deterministic: bool = False,
    render: bool = False,
    video: str | os.PathLike | None = None,
    seed: int = 0,
    checkpoint: str | None = None,
    env_fn: EnvFn | None = None,
) -> tuple[list[float], list[int]]:
    """Run ``episodes`` episodes with the saved policy; returns their returns and lengths.

    ``render`` opens a window; ``video`` records every episode into one MP4 file with
    Gymnasium's RecordVideo (needs moviepy, and pygame for the classic-control tasks).
    ``env_fn`` makes the env instead of the run's recorded id or factory (needed for a run
    trained on a lambda or a local function).
    """
    if episodes < 1:
        raise ConfigError(f"episodes must be at least 1, got {episodes}")
    torch.set_num_threads(1)  # one observation at a time: more threads only add overhead
    run_dir = Path(run_dir)
    policy = load_policy(run_dir, checkpoint, deterministic)
    _, cfg = _run_config(run_dir)
    mode = "human" if render else "rgb_array" if video else None
    if env_fn is None and cfg.env.startswith("<"):
        raise EnvError(
            f"{run_dir} was trained on an environment factory that cannot be imported by name "
            f"({cfg.env}); pass env_fn= to watch it"
        )
    env = make_env(env_fn or cfg.env, cfg.max_ep_len, **({"render_mode": mode} if mode else {}))
    check_fits(policy, env, run_dir)
    with recorded(env, video) if video is not None else closing(env) as env:
        returns, lengths = run_episodes(policy, env, episodes, seed)
    return returns, lengths


def check_fits(policy: Policy, env: gym.Env, run_dir: Path) -> None:
    """EnvError if the env's spaces are not the ones the policy was trained on."""
    obs_space, act_space, trained = env.observation_space, env.action_space, policy.action_space
    obs_ok = isinstance(obs_space, gym.spaces.Box) and obs_space.shape == policy.obs_shape
    if isinstance(trained, gym.spaces.Discrete):
        act_ok = isinstance(act_space, gym.spaces.Discrete) and act_space.n == trained.n
    else:
        act_ok = (
            isinstance(act_space, gym.spaces.Box)
            and act_space.shape == trained.shape
            and np.allclose(act_space.low, trained.low)
            and np.allclose(act_space.high, trained.high)
        )
    if not (obs_ok and act_ok):
        env.close()
        raise EnvError(
            f"the environment does not fit the policy of {run_dir}: observations "
            f"{obs_space} and actions {env.action_space}, trained on {policy.obs_shape} and "
            f"{policy.action_space}"
        )
