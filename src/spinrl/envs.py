"""Environments: make_env / make_vec_env, observation normalisation, episode statistics.

Every algorithm steps a vector of N >= 1 environments. Vector envs use Gymnasium's
SAME_STEP autoreset: the step that ends an episode returns the first observation of the next
one, and the real final observation in ``info["final_obs"]``. That keeps every [T, N] slot a
real transition (no dead "reset steps" to mask) and gives the truncation bootstrap what it
needs.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable

import gymnasium as gym
import numpy as np

from spinrl.errors import EnvError

EnvFn = Callable[[], gym.Env]


def _unknown_env_message(env_id: str) -> str:
    ids = [k for k in gym.registry if not k.startswith("tabular/")]
    close = difflib.get_close_matches(env_id, ids, n=3, cutoff=0.75)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    return f"unknown environment id {env_id!r}{hint}"


def make_env(env_id: str, max_episode_steps: int | None = None, **kwargs) -> gym.Env:
    """gym.make with a clear EnvError for unknown ids; Discrete observations become one-hot."""
    if env_id not in gym.registry:
        raise EnvError(_unknown_env_message(env_id))
    try:
        env = gym.make(env_id, max_episode_steps=max_episode_steps, **kwargs)
    except gym.error.DependencyNotInstalled as e:
        raise EnvError(f"environment {env_id!r} needs a package that is not installed: {e}") from e
    except gym.error.Error as e:
        raise EnvError(f"cannot make environment {env_id!r}: {e}") from e
    if isinstance(env.observation_space, gym.spaces.Discrete):
        env = one_hot_observations(env)
    return env


def one_hot_observations(env: gym.Env) -> gym.Env:
    """Present a Discrete observation as a one-hot float vector, so an MLP can read it."""
    n = int(env.observation_space.n)
    eye = np.eye(n, dtype=np.float32)
    space = gym.spaces.Box(0.0, 1.0, (n,), np.float32)
    return gym.wrappers.TransformObservation(env, lambda s: eye[int(s)], space)


def check_action_space(space: gym.Space, allowed: tuple[type, ...], algo: str) -> None:
    """EnvError unless the action space is one of ``allowed`` (Box must be 1-D)."""
    ok = isinstance(space, allowed) and not (
        isinstance(space, gym.spaces.Box) and len(space.shape) != 1
    )
    if not ok:
        names = " or ".join("1-D Box" if t is gym.spaces.Box else t.__name__ for t in allowed)
        raise EnvError(f"{algo} cannot act in action space {space}; it handles {names}")


def make_vec_env(
    env: str | EnvFn,
    num_envs: int = 1,
    vectorization: str = "sync",
    max_episode_steps: int | None = None,
) -> gym.vector.VectorEnv:
    """N copies of an environment, by id or by a zero-argument factory.

    ``vectorization``: "sync" steps them in this process (best for cheap envs and for
    bit-identical reruns); "async" gives each its own process (worth it when a step costs
    much more than the inter-process round trip, ~0.1 ms).
    """
    if num_envs < 1:
        raise EnvError(f"num_envs must be >= 1, got {num_envs}")
    if isinstance(env, str):
        env_id = env
        make_env(env_id, max_episode_steps).close()  # fail here, in the parent, on a bad id

        def env_fn():
            return make_env(env_id, max_episode_steps)
    else:
        env_fn = env
    fns = [env_fn] * num_envs
    mode = gym.vector.AutoresetMode.SAME_STEP
    if vectorization == "sync":
        return gym.vector.SyncVectorEnv(fns, autoreset_mode=mode)
    if vectorization == "async":
        return gym.vector.AsyncVectorEnv(fns, autoreset_mode=mode)
    raise EnvError(f"vectorization must be 'sync' or 'async', got {vectorization!r}")


def final_observations(info: dict, done: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the envs whose episode ended this step and their real final observations."""
    idx = np.flatnonzero(done)
    if len(idx) == 0:
        return idx, np.empty((0,))
    return idx, np.stack([info["final_obs"][i] for i in idx])


class RunningMeanStd:
    """Mean and variance of a stream of batches (Chan et al.'s parallel update)."""

    def __init__(self, shape: tuple[int, ...], epsilon: float = 1e-4) -> None:
        self.mean = np.zeros(shape, np.float64)
        self.var = np.ones(shape, np.float64)
        self.count = epsilon

    def update(self, batch: np.ndarray) -> None:
        b_mean, b_var, b_count = batch.mean(0), batch.var(0), batch.shape[0]
        delta = b_mean - self.mean
        total = self.count + b_count
        self.mean = self.mean + delta * b_count / total
        m2 = self.var * self.count + b_var * b_count + delta**2 * self.count * b_count / total
        self.var = m2 / total
        self.count = total

    def state_dict(self) -> dict:
        return {"mean": self.mean.copy(), "var": self.var.copy(), "count": float(self.count)}

    def load_state_dict(self, state: dict) -> None:
        self.mean = np.asarray(state["mean"], np.float64).copy()
        self.var = np.asarray(state["var"], np.float64).copy()
        self.count = float(state["count"])


class ObsNormalizer:
    """o -> clip((o - mean) / sqrt(var + eps), -clip, clip) with running statistics.

    It lives on the agent's side of the env boundary, so the same statistics normalise the
    observations, the real final observations used for bootstrapping, and the inputs of a
    loaded policy; they are saved with the model. Disabled, it is the identity (float32).
    """

    def __init__(self, shape: tuple[int, ...], enabled: bool, clip: float = 10.0) -> None:
        self.enabled = enabled
        self.clip = clip
        self.rms = RunningMeanStd(shape)

    def __call__(self, obs: np.ndarray, update: bool = False) -> np.ndarray:
        obs = np.asarray(obs, np.float32)
        if not self.enabled:
            return obs
        if update:
            self.rms.update(obs)
        out = (obs - self.rms.mean) / np.sqrt(self.rms.var + 1e-8)
        return np.clip(out, -self.clip, self.clip).astype(np.float32)

    def state_dict(self) -> dict:
        return {"enabled": self.enabled, "clip": self.clip, **self.rms.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.enabled = bool(state["enabled"])
        self.clip = float(state["clip"])
        self.rms.load_state_dict(state)


class RewardScaler:
    """r -> clip(r / sqrt(Var[G] + eps), -clip, clip), with G each env's running discounted
    return (the reward scaling of SB3's VecNormalize and CleanRL). Disabled, the identity.

    Only the rewards the agent learns from are scaled; episode statistics stay in raw units.
    """

    def __init__(self, num_envs: int, gamma: float, enabled: bool, clip: float = 10.0) -> None:
        self.enabled, self.gamma, self.clip = enabled, gamma, clip
        self.rms = RunningMeanStd(())
        self.returns = np.zeros(num_envs)

    def __call__(self, rewards: np.ndarray, done: np.ndarray) -> np.ndarray:
        if not self.enabled:
            return rewards
        self.returns = self.returns * self.gamma + rewards
        self.rms.update(self.returns)
        self.returns[done] = 0.0
        return np.clip(rewards / np.sqrt(self.rms.var + 1e-8), -self.clip, self.clip)

    def state_dict(self) -> dict:
        return {"returns": self.returns.copy(), **self.rms.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.returns = np.asarray(state["returns"], np.float64).copy()
        self.rms.load_state_dict(state)


class EpisodeStats:
    """Running return and length per env; finished episodes are collected until drained.

    Tracked here with two numpy adds per step rather than with Gymnasium's vector
    RecordEpisodeStatistics wrapper, which measured ~35 us per step of dict building on
    CartPole (more than the env step itself).
    """

    def __init__(self, num_envs: int) -> None:
        self.ret = np.zeros(num_envs)
        self.len = np.zeros(num_envs, np.int64)
        self.finished_returns: list[float] = []
        self.finished_lengths: list[int] = []

    def step(self, rewards: np.ndarray, done: np.ndarray) -> None:
        self.ret += rewards
        self.len += 1
        if done.any():
            idx = np.flatnonzero(done)
            self.finished_returns.extend(self.ret[idx].tolist())
            self.finished_lengths.extend(self.len[idx].tolist())
            self.ret[idx] = 0.0
            self.len[idx] = 0

    def drain(self) -> tuple[list[float], list[int]]:
        out = self.finished_returns, self.finished_lengths
        self.finished_returns, self.finished_lengths = [], []
        return out


# --- Exact resume: the environments' state as plain arrays and numbers (no pickles) ---------

_SNAPSHOT_TYPES = (np.ndarray, bool, int, float, type(None))


def _time_limit(env: gym.Env) -> gym.wrappers.TimeLimit | None:
    while isinstance(env, gym.Wrapper):
        if isinstance(env, gym.wrappers.TimeLimit):
            return env
        env = env.env
    return None


def _env_state(env: gym.Env) -> dict:
    base = env.unwrapped
    state = {
        "attrs": {k: v for k, v in vars(base).items() if isinstance(v, _SNAPSHOT_TYPES)},
        "rng": base.np_random.bit_generator.state,
    }
    limit = _time_limit(env)
    if limit is not None:
        state["elapsed_steps"] = limit._elapsed_steps
    if hasattr(base, "model") and hasattr(base, "data"):  # MuJoCo: the full integration state
        import mujoco

        spec = mujoco.mjtState.mjSTATE_INTEGRATION
        physics = np.empty(mujoco.mj_stateSize(base.model, spec))
        mujoco.mj_getState(base.model, base.data, physics, spec)
        state["mujoco"] = physics
    return state


def _set_env_state(env: gym.Env, state: dict) -> None:
    base = env.unwrapped
    for key, value in state["attrs"].items():
        current = getattr(base, key, None)
        if isinstance(current, np.ndarray) or hasattr(value, "numpy"):
            value = np.asarray(value.numpy() if hasattr(value, "numpy") else value)
            if isinstance(current, np.ndarray):
                value = value.astype(current.dtype)
        setattr(base, key, value)
    base.np_random.bit_generator.state = state["rng"]
    limit = _time_limit(env)
    if limit is not None and "elapsed_steps" in state:
        limit._elapsed_steps = state["elapsed_steps"]
    if "mujoco" in state:
        import mujoco

        physics = np.asarray(state["mujoco"], np.float64)
        mujoco.mj_setState(base.model, base.data, physics, mujoco.mjtState.mjSTATE_INTEGRATION)


def vec_env_state(envs: gym.vector.VectorEnv) -> list[dict]:
    """The state of every sub-environment of a SyncVectorEnv: physics or attributes, RNG,
    time-limit counter. Restoring it lets in-flight episodes continue exactly."""
    if not isinstance(envs, gym.vector.SyncVectorEnv):
        raise EnvError("exact resume needs vectorization='sync'")
    return [_env_state(env) for env in envs.envs]


def set_vec_env_state(envs: gym.vector.VectorEnv, states: list[dict]) -> None:
    if not isinstance(envs, gym.vector.SyncVectorEnv):
        raise EnvError("exact resume needs vectorization='sync'")
    if len(states) != len(envs.envs):
        raise EnvError(
            f"the checkpoint holds {len(states)} environments, the run has {len(envs.envs)}"
        )
    for env, state in zip(envs.envs, states, strict=True):
        _set_env_state(env, state)
