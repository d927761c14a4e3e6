"""Images in replay and the Atari and MinAtar environments.

The frame replay stores every frame once and must hand back exactly the (obs, next_obs)
stacks a naive store of whole observations holds, across episode boundaries (terminated and
truncated) and for N vector envs; its bytes per transition are measured. The Atari wiring
(84x84 grey, four frames stacked, frame skip 4 over an ALE env made with frameskip 1,
life-loss episodes and clipped rewards in training only) and MinAtar's registration are
checked on the real games."""

import gymnasium as gym
import numpy as np
import pytest

from spinrl.buffers import FrameReplay
from spinrl.encoders import make_encoder
from spinrl.envs import frame_stack_size, make_env, make_vec_env


class RandomFrames(gym.Env):
    """Random 4x5 uint8 frames; an episode ends (terminated) with probability 0.15 a step,
    and a time limit of 9 steps truncates the long ones."""

    observation_space = gym.spaces.Box(0, 255, (4, 5), np.uint8)
    action_space = gym.spaces.Discrete(3)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.np_random.integers(0, 256, (4, 5), dtype=np.uint8), {}

    def step(self, action):
        frame = self.np_random.integers(0, 256, (4, 5), dtype=np.uint8)
        return frame, float(action), bool(self.np_random.random() < 0.15), False, {}


def _stacked(stack, padding):
    def factory():
        env = gym.wrappers.TimeLimit(RandomFrames(), 9)
        return gym.wrappers.FrameStackObservation(env, stack, padding_type=padding)

    return factory


def _fill(replay, envs, steps, rng):
    """Step the vector envs, storing each transition in ``replay`` and in a naive list of
    whole observations (obs, action, reward, real next obs, terminated) per env."""
    naive = [[] for _ in range(envs.num_envs)]
    obs, _ = envs.reset(seed=[int(s) for s in rng.integers(0, 2**31, envs.num_envs)])
    for _ in range(steps):
        actions = rng.integers(0, 3, envs.num_envs)
        next_obs, rewards, terminated, truncated, info = envs.step(actions)
        real_next = next_obs.copy()
        for n in np.flatnonzero(terminated | truncated):
            real_next[n] = info["final_obs"][n]
        replay.store(obs, actions, rewards, real_next, terminated)
        for n in range(envs.num_envs):
            naive[n].append((obs[n], actions[n], rewards[n], real_next[n], terminated[n]))
        obs = next_obs
    return naive


@pytest.mark.parametrize(("stack", "padding"), [(4, "reset"), (3, "zero"), (1, "reset")])
def test_frame_replay_returns_exactly_the_naive_stacks_across_episodes_and_envs(stack, padding):
    rng = np.random.default_rng(stack)
    num_envs, size, steps = 3, 3 * 60, 200  # the rings wrap around more than three times
    envs = make_vec_env(_stacked(stack, padding), num_envs)
    assert frame_stack_size(envs) == stack
    shape = envs.single_observation_space.shape
    replay = FrameReplay(shape, np.uint8, (), np.int64, size, num_envs, stack)
    naive = _fill(replay, envs, steps, rng)
    envs.close()
    slots, env_idx, step_idx = replay.held()
    # The last 60 transitions per env at most; fewer here, where episodes of about 5 steps
    # each write their first stack whole (stack - 1 frames more than the slack allows).
    assert len(slots) == replay.size and size // 2 <= replay.size <= size
    got = replay.get(slots, env_idx)
    for i, (n, t) in enumerate(zip(env_idx, step_idx, strict=True)):
        obs, action, reward, next_obs, terminated = naive[n][t]
        np.testing.assert_array_equal(got["obs"][i], obs)
        np.testing.assert_array_equal(got["next_obs"][i], next_obs)
        assert got["actions"][i] == action and got["rewards"][i] == reward
        assert got["terminated"][i] == terminated
    ended = [t for n in range(num_envs) for t in range(steps) if naive[n][t][4]]
    assert len(ended) > 20  # many episode boundaries were crossed
    # sampling draws only transitions it holds, uniformly over the envs' columns
    s_slots, s_envs = replay.sample_indices(3000, np.random.default_rng(0))
    held = set(zip(slots.tolist(), env_idx.tolist(), strict=True))
    assert set(zip(s_slots.tolist(), s_envs.tolist(), strict=True)) <= held
    counts = np.bincount(s_envs, minlength=num_envs) / 3000
    expected = np.bincount(env_idx, minlength=num_envs) / len(env_idx)
    np.testing.assert_allclose(counts, expected, atol=0.04)


def test_frame_replay_takes_about_one_frame_per_transition_a_million_atari_under_8_gb():
    args = ((4, 84, 84), np.uint8, (), np.int64)
    small = FrameReplay(*args, size=8000, num_envs=8, stack=4)
    per_transition = small.nbytes / small.capacity
    assert small.nbytes == FrameReplay.bytes_needed(*args, 8000, 8, 4)
    # one 84x84 frame (7056 bytes) plus 1/32 slack, two frame positions, action, reward, flag
    assert 84 * 84 < per_transition < 84 * 84 * 1.05
    million = FrameReplay.bytes_needed(*args, 1_000_000, 8, 4)
    assert million / 1e9 < 7.4  # four stacked frames stored whole, twice, would be 56 GB


def test_frame_replay_state_dict_round_trip_continues_identically():
    class Recorder:  # stores nothing, keeps the transitions to store them again later
        def __init__(self):
            self.calls = []

        def store(self, *args):
            self.calls.append([np.copy(a) for a in args])

    envs = make_vec_env(_stacked(4, "reset"), 2)
    first, later = Recorder(), Recorder()
    _fill(first, envs, 30, np.random.default_rng(5))
    _fill(later, envs, 30, np.random.default_rng(6))
    envs.close()
    a = FrameReplay((4, 4, 5), np.uint8, (), np.int64, 40, 2, 4)
    for call in first.calls:
        a.store(*call)
    b = FrameReplay((4, 4, 5), np.uint8, (), np.int64, 40, 2, 4)
    b.load_state_dict({k: np.copy(v) for k, v in a.state_dict().items()})
    for call in later.calls:
        a.store(*call)
        b.store(*call)
    batch_a = a.sample(64, np.random.default_rng(1))
    batch_b = b.sample(64, np.random.default_rng(1))
    for key in batch_a:
        np.testing.assert_array_equal(batch_a[key].numpy(), batch_b[key].numpy())


# --- The real games (ale-py and minatar: the atari extra) -------------------------------------


def _wrappers(env):
    found = []
    while isinstance(env, gym.Wrapper):
        found.append(env)
        env = env.env
    return found, env


def test_atari_ids_get_the_standard_preprocessing_with_life_loss_and_clipping_in_training_only():
    pytest.importorskip("ale_py")
    train, test = make_env("ALE/Breakout-v5", training=True), make_env("ALE/Breakout-v5")
    try:
        for env in (train, test):
            obs, _ = env.reset(seed=0)
            assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8
            assert env.observation_space.shape == (4, 84, 84)
            wrappers, base = _wrappers(env)
            assert base._frameskip == 1  # the wrapper's skip is the only one
            pre = next(w for w in wrappers if isinstance(w, gym.wrappers.AtariPreprocessing))
            assert (pre.frame_skip, pre.noop_max, pre.screen_size) == (4, 30, (84, 84))
            frame = base.ale.getEpisodeFrameNumber()
            env.step(0)
            assert base.ale.getEpisodeFrameNumber() - frame == 4  # four emulator frames a step
            clipped = any(isinstance(w, gym.wrappers.TransformReward) for w in wrappers)
            assert pre.terminal_on_life_loss == clipped == (env is train)
        assert make_encoder(train.observation_space).kind == "nature"
        # in training the episode ends with the first life lost; in testing it goes on
        for env in (train, test):
            env.reset(seed=1)
            ale = _wrappers(env)[1].ale
            lives, done, steps = ale.lives(), False, 0
            while not done and ale.lives() == lives:
                _, _, terminated, truncated, _ = env.step(env.action_space.sample())
                done, steps = terminated or truncated, steps + 1
            assert done == (env is train), steps
        reward_fn = next(
            w for w in _wrappers(train)[0] if isinstance(w, gym.wrappers.TransformReward)
        )
        assert [reward_fn.func(r) for r in (7.0, 0.0, -3.0)] == [1.0, 0.0, -1.0]
    finally:
        train.close()
        test.close()


def test_minatar_ids_are_registered_on_first_use_and_read_by_the_minatar_network():
    pytest.importorskip("minatar")
    for game in ("Asterix", "Breakout", "Freeway", "Seaquest", "SpaceInvaders"):
        env = make_env(f"MinAtar/{game}-v1")
        obs, _ = env.reset(seed=2**40 + 1)  # spinrl's seeds are 63-bit; MinAtar's RNG takes 32
        assert obs.dtype == bool and obs.shape[:2] == (10, 10)
        encoder = make_encoder(env.observation_space)
        assert encoder.kind == "minatar" and encoder.channels_last
        env.close()
    assert "MinAtar/Breakout-v0" in gym.registry


def test_ppo_atari_preset_trains_on_breakout_and_the_saved_run_is_watched(tmp_path):
    pytest.importorskip("ale_py")
    from spinrl.cli import main
    from spinrl.evaluate import watch

    argv = ["train", "ppo", "--env", "ALE/Breakout-v5", "--preset", "atari", "--num-envs", "2"]
    argv += ["--steps-per-epoch", "32", "--minibatch-size", "16", "--epochs", "1"]
    argv += ["--max-ep-len", "20", "--quiet", "--data-dir", str(tmp_path), "--exp-name", "b"]
    assert main(argv) == 0
    # the policy rebuilt from the checkpoint plays the test env (no life-loss ending, raw
    # scores) under the run's time limit, counted in agent steps (4 frames each)
    returns, lengths = watch(tmp_path / "b" / "b_s0", episodes=1, deterministic=True)
    assert lengths == [20] and returns[0] in range(0, 8 * 20)  # raw points: at most 7 a brick
