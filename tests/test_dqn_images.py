"""DQN on images: the n-step replay stores every frame once (FrameRings) and hands back
exactly the n-step transitions that the plain replay (obs and next obs stored whole) and a
brute-force walk over the stream hand back, for 3 envs across terminations, truncations and
wrap-around, drawn uniformly or by priority; its bytes per transition for Atari and MinAtar
shapes; a DQN run on an image task killed and resumed ends as one that ran straight; an
absurd replay_size refused in one line; the RMSprop option as torch's; and the MinAtar
preset (the MinAtar paper's DQN) applied to the MinAtar ids."""

import copy
import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import spinrl
from spinrl.algos.dqn import Config, linear_epsilon
from spinrl.checkpoint import load_checkpoint
from spinrl.envs import frame_stack_size, make_vec_env
from spinrl.errors import ConfigError
from spinrl.optim import FlatRMSprop
from spinrl.presets import NAMED, TUNED, preset_fields
from spinrl.qreplay import NStepReplay
from test_atari import _stacked

# --- The replay against the plain one and brute force ----------------------------------------


def _brute_force(history, step, n, gamma):
    """The n-step transition from ``step`` of one env's stream, walked forward as it
    happened: (obs, action, G, gamma^m, terminated, s'_{t+m-1}, cut by a truncation)."""
    G, m, ended, cut = 0.0, 0, False, False
    for k in range(n):
        if step + k >= len(history):
            break
        _, _, r, term, trunc, _ = history[step + k]
        G, m = G + gamma**k * float(r), m + 1
        if term or trunc:
            ended, cut = bool(term), not term
            break
    first, last = history[step], history[step + m - 1]
    return first[0], first[1], G, gamma**m, ended, last[5], cut


@pytest.mark.parametrize("prioritized", [False, True], ids=["uniform", "prioritized"])
@pytest.mark.parametrize("stack", [4, 1])
def test_image_replay_hands_back_the_plain_replays_nstep_transitions(stack, prioritized):
    rng = np.random.default_rng(stack + 10 * prioritized)
    N, n, gamma, steps, B = 3, 3, 0.9, 120, 24
    envs = make_vec_env(_stacked(stack, "reset"), N)  # episodes end or are truncated at 9
    assert frame_stack_size(envs) == stack
    shape = envs.single_observation_space.shape
    kw = dict(n_step=n, gamma=gamma, prioritized=prioritized, obs_dtype=np.uint8)
    frames = NStepReplay(shape, 3 * 30, N, frame_stack=stack, **kw)  # wraps around 4 times
    plain = NStepReplay(shape, 3 * 30, N, **kw)
    history = [[] for _ in range(N)]  # per env: (obs, action, r, term, trunc, real s')
    obs, _ = envs.reset(seed=[int(s) for s in rng.integers(0, 2**31, N)])
    same_draws = dropped = 0
    for _ in range(steps):
        actions = rng.integers(0, 3, N)
        next_obs, rewards, term, trunc, info = envs.step(actions)
        real_next = next_obs.copy()
        for e in np.flatnonzero(term | trunc):
            real_next[e] = info["final_obs"][e]
        for replay in (frames, plain):
            replay.store(obs, actions, rewards, real_next, term, trunc)
        for e in range(N):
            history[e].append((obs[e], actions[e], rewards[e], term[e], trunc[e], real_next[e]))
        obs = next_obs
        held = frames.held()
        dropped += len(held) < frames.size
        seed = int(rng.integers(2**31))
        got, idx = frames.sample(B, np.random.default_rng(seed))
        assert set(idx.tolist()) <= set(held.tolist())  # only transitions still held
        want = plain.get(idx)
        for key in want:
            np.testing.assert_array_equal(got[key].numpy(), want[key], err_msg=key)
        if len(held) == frames.size:  # nothing dropped: the very draws of the plain replay
            expected, plain_idx = plain.sample(B, np.random.default_rng(seed))
            np.testing.assert_array_equal(idx, plain_idx)
            torch.testing.assert_close(got["weights"], expected["weights"])
            same_draws += 1
        if prioritized:  # the same new priorities in both, for slots both hold
            td = rng.exponential(size=B)
            frames.update_priorities(idx, td)
            plain.update_priorities(idx, td)
            leaves = frames.sampler.tree.values(np.arange(frames.size))
            np.testing.assert_array_equal(leaves[held], plain.sampler.tree.values(held))
            assert np.all(np.delete(leaves, held) == 0)  # dropped: never drawn again
            p = leaves / leaves.sum()
            got_w, w_idx = frames.sample(B, np.random.default_rng(seed), beta=0.4)
            w = (p[w_idx] / p[held].min()) ** -0.4  # PER's weights over the held transitions
            np.testing.assert_allclose(got_w["weights"].numpy(), w, rtol=1e-5)
    envs.close()
    assert same_draws > 5 and dropped > 5  # both cases were met
    # every transition held, against the brute-force walk over the stream
    held = frames.held()
    got = frames.get(held)
    newest_row = (frames.ptr // N - 1) % frames.rows
    ends = [0, 0]  # windows ended by a termination, cut by a truncation
    for i, slot in enumerate(held):
        env, row = slot % N, slot // N
        step = steps - 1 - (newest_row - row) % frames.rows
        o, a, G, discount, ended, last, cut = _brute_force(history[env], step, n, gamma)
        np.testing.assert_array_equal(got["obs"][i], o)
        np.testing.assert_array_equal(got["next_obs"][i], last)
        assert got["actions"][i] == a and got["terminated"][i] == ended
        assert got["returns"][i] == pytest.approx(G, rel=1e-6, abs=1e-6)
        assert got["discounts"][i] == pytest.approx(discount, rel=1e-6)
        ends[0] += ended
        ends[1] += cut
    assert ends[0] > 5 and ends[1] > 2  # both kinds of episode end were crossed


def test_bytes_per_transition_for_atari_and_minatar_shapes():
    # Atari: one 84x84 frame (7056 bytes) and 1/32 slack, two int64 frame positions,
    # action, reward, two flags: a million fit in 7.4 GB (obs and next obs whole: 56 GB).
    cases = [((4, 84, 84), np.uint8, 4), ((10, 10, 4), bool, 1), ((10, 10, 7), bool, 1)]
    for shape, dtype, stack in cases:
        for per in (False, True):
            replay = NStepReplay(shape, 8000, 8, 3, 0.99, per, obs_dtype=dtype, frame_stack=stack)
            needed = NStepReplay.bytes_needed(shape, 8000, 8, dtype, stack, per)
            assert replay.nbytes == needed  # the check before allocating measures it right
            frame = int(np.prod(shape[1:] if stack > 1 else shape))
            per_transition = needed / replay.capacity
            tree = 16 * 8192 / 8000 if per else 0  # a sum tree of 8192 leaves over 8000 slots
            rows = 1000  # per env; a ring of rows + rows // 32 + 2 stacks of frames each
            frames = frame * (rows + 31 + 2 * stack) / rows
            assert per_transition == pytest.approx(frames + 30 + tree, rel=1e-12)
    million = NStepReplay.bytes_needed((4, 84, 84), 1_000_000, 1, np.uint8, 4, True)
    plain = NStepReplay.bytes_needed((4, 84, 84), 1_000_000, 1, np.uint8, None, True)
    assert million < 7.4e9 and plain > 56e9


# --- DQN on an image task ----------------------------------------------------------------------

CHILD = """
import sys
sys.path.insert(0, {tests!r})
from conftest import BrightSide
import spinrl
spinrl.dqn(BrightSide, output_dir={out!r}, verbose=False, **{cfg!r})
"""

IMAGE_CFG = dict(
    num_envs=2, steps_per_epoch=100, epochs=6, start_steps=40, update_after=40, update_every=10,
    gradient_steps=5, batch_size=16, replay_size=120, hid=(), n_step=2, prioritized=True,
    target_update_every=30, num_test_episodes=1, save_freq=1,
)  # fmt: skip


def _rows(run: Path):
    with open(run / "progress.csv") as f:
        return [{k: v for k, v in row.items() if k != "Time"} for row in csv.DictReader(f)]


def _tensors(state, prefix=""):
    if isinstance(state, torch.Tensor):
        yield prefix, state
    elif isinstance(state, dict):
        for key, value in state.items():
            yield from _tensors(value, f"{prefix}/{key}")


def test_a_dqn_run_on_images_killed_and_resumed_ends_as_a_straight_run(tmp_path):
    from conftest import BrightSide

    straight = spinrl.dqn(BrightSide, output_dir=str(tmp_path / "a"), verbose=False, **IMAGE_CFG)
    assert straight.replay.rings is not None  # frames stored once
    assert straight.replay.size == 120  # the replay wrapped around
    killed = tmp_path / "b"
    code = CHILD.format(tests=str(Path(__file__).parent), out=str(killed), cfg=IMAGE_CFG)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.PIPE)
    progress, deadline = killed / "progress.csv", time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if progress.exists() and len(progress.read_text().splitlines()) > 3:
            break
        time.sleep(0.01)
    assert proc.poll() is None, proc.stderr.read().decode()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    spinrl.dqn(BrightSide, output_dir=str(killed), resume=True, verbose=False, **IMAGE_CFG)
    assert _rows(killed) == _rows(tmp_path / "a")
    a = dict(_tensors(load_checkpoint(tmp_path / "a" / "model.pt")))
    b = dict(_tensors(load_checkpoint(killed / "model.pt")))
    assert a.keys() == b.keys() and any("rings" in key for key in a)
    for key in a:  # networks, optimiser, frames, positions, priorities, RNG states
        assert torch.equal(a[key], b[key]), key


def test_an_absurd_replay_size_is_refused_in_one_line_before_anything_is_written(tmp_path):
    from conftest import BrightSide

    with pytest.raises(ConfigError, match="lower replay_size") as info:
        spinrl.dqn(BrightSide, replay_size=10**12, output_dir=str(tmp_path / "r"), verbose=False)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "r").exists()


# --- The MinAtar paper's DQN ---------------------------------------------------------------------


def test_flat_rmsprop_takes_the_steps_of_torchs_centered_rmsprop():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    ref = copy.deepcopy(net)
    opt = FlatRMSprop(net.parameters(), 1e-2, 0.95, 0.01)
    ref_opt = torch.optim.RMSprop(ref.parameters(), lr=1e-2, alpha=0.95, eps=0.01, centered=True)
    for _ in range(4):
        x = torch.randn(16, 3)
        for model, optimiser in ((net, opt), (ref, ref_opt)):
            optimiser.zero_grad()
            model(x).pow(2).mean().backward()
            optimiser.step()
    for p, q in zip(net.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)
    # the state round-trips: a copy restored from it takes the same next step
    copy_net = copy.deepcopy(ref)
    again = FlatRMSprop(copy_net.parameters(), 1e-2, 0.95, 0.01)
    again.flat.data.copy_(opt.flat.data)
    again.load_state_dict(opt.state_dict())
    x = torch.randn(16, 3)
    for model, optimiser in ((net, opt), (copy_net, again)):
        optimiser.zero_grad()
        model(x).pow(2).mean().backward()
        optimiser.step()
    torch.testing.assert_close(again.flat, opt.flat, rtol=0, atol=0)


def test_minatar_epsilon_falls_over_100k_steps_after_replay_start():
    cfg = Config(**NAMED["dqn"]["minatar"])
    budget = 5_000_000  # the paper's: the schedule does not depend on it
    assert linear_epsilon(5000, budget, cfg) == 1.0  # the first epsilon-greedy step
    assert linear_epsilon(55_000, budget, cfg) == pytest.approx(0.55)
    assert linear_epsilon(105_000, budget, cfg) == pytest.approx(0.1)
    assert linear_epsilon(4_000_000, budget, cfg) == pytest.approx(0.1)


@pytest.mark.parametrize("game", ["Breakout", "SpaceInvaders", "Freeway", "Asterix", "Seaquest"])
def test_the_minatar_ids_get_the_minatar_papers_dqn(game):
    for version in ("v0", "v1"):
        fields = preset_fields("dqn", "tuned", f"MinAtar/{game}-{version}")
        assert fields["total_steps"] == 5_000_000
        cfg = Config(**{k: v for k, v in fields.items() if k != "total_steps"})
        assert (cfg.replay_size, cfg.batch_size, cfg.target_update_every) == (100_000, 32, 1000)
        assert (cfg.optimizer, cfg.q_lr, cfg.rmsprop_alpha, cfg.rmsprop_eps) == (
            "rmsprop", 2.5e-4, 0.95, 0.01)  # fmt: skip
        assert (cfg.start_steps, cfg.exploration_steps, cfg.eps_end) == (5000, 100_000, 0.1)
        assert not cfg.double and cfg.n_step == 1 and cfg.hid == () and cfg.gamma == 0.99
    assert TUNED["dqn"][f"MinAtar/{game}-v1"].fields == NAMED["dqn"]["minatar"]
