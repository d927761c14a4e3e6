"""load_policy and watch: the saved policy acts as trained, --deterministic really changes
the action choice, the normaliser is applied, videos are written, bad runs are refused."""

import numpy as np
import pytest
import torch

import spinrl
from spinrl.cli import main
from spinrl.errors import CheckpointError
from spinrl.evaluate import load_policy, watch


@pytest.fixture(scope="module")
def cartpole_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "cp"
    spinrl.ppo(
        env="CartPole-v1",
        steps_per_epoch=256,
        epochs=1,
        minibatch_size=128,
        output_dir=str(out),
        verbose=False,
    )
    return out


@pytest.fixture(scope="module")
def pendulum_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "pd"
    result = spinrl.vpg(
        env="Pendulum-v1",
        steps_per_epoch=400,
        epochs=1,
        normalize_obs=True,
        output_dir=str(out),
        verbose=False,
    )
    return out, result


def test_deterministic_flag_really_changes_the_action_choice(cartpole_run):
    obs = np.array([0.0, 0.1, 0.02, -0.1], np.float32)
    stochastic = load_policy(cartpole_run)
    deterministic = load_policy(cartpole_run, deterministic=True)
    torch.manual_seed(0)
    sampled = {int(stochastic(obs)) for _ in range(200)}
    greedy = {int(deterministic(obs)) for _ in range(200)}
    assert sampled == {0, 1}  # a barely trained policy is near uniform: both actions appear
    logits = deterministic.actor.logits_net(torch.from_numpy(obs)[None])
    assert greedy == {int(logits.argmax())}


def test_loaded_policy_applies_the_saved_normaliser(pendulum_run):
    run, result = pendulum_run
    policy = load_policy(run, deterministic=True)
    obs = np.array([[0.5, -0.2, 1.0], [1.0, 0.0, -3.0]], np.float32)
    rms = result.obs_normalizer.rms
    normed = (obs - rms.mean) / np.sqrt(rms.var + 1e-8)
    expected = result.actor.deterministic(torch.as_tensor(normed, dtype=torch.float32))
    np.testing.assert_allclose(policy(obs), np.clip(expected.detach().numpy(), -2, 2), rtol=1e-5)
    assert policy(obs[0]).shape == (1,)


def test_watch_runs_episodes_and_records_a_video(cartpole_run, tmp_path, capsys):
    returns, lengths = watch(cartpole_run, episodes=3, deterministic=True)
    assert len(returns) == 3 and all(
        r == length for r, length in zip(returns, lengths, strict=True)
    )
    video = tmp_path / "cp.mp4"
    argv = ["watch", str(cartpole_run), "--episodes", "2", "--video", str(video)]
    assert main(argv) == 0
    assert b"ftyp" in video.read_bytes()[:32]
    assert "mean" in capsys.readouterr().out
    assert not list(tmp_path.glob(".cp-frames*"))


def test_missing_or_corrupt_runs_are_refused(cartpole_run, tmp_path, capsys):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_policy(tmp_path)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text((cartpole_run / "config.json").read_text())
    (bad / "model.pt").write_bytes(b"not a checkpoint")
    assert main(["watch", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "cannot be read (truncated or damaged)" in err and err.count("\n") == 1


def test_off_policy_runs_load_and_watch(tmp_path):
    out = tmp_path / "sac"
    spinrl.sac(
        env="Pendulum-v1",
        steps_per_epoch=150,
        epochs=1,
        start_steps=100,
        update_after=100,
        update_every=50,
        batch_size=32,
        hid=(16,),
        num_test_episodes=1,
        max_ep_len=30,
        output_dir=str(out),
        verbose=False,
    )
    obs = np.array([1.0, 0.0, 0.5], np.float32)
    greedy = load_policy(out, deterministic=True)
    sampled = load_policy(out)
    assert greedy(obs) == greedy(obs) and abs(float(greedy(obs)[0])) <= 2.0
    torch.manual_seed(0)
    assert len({float(sampled(obs)[0]) for _ in range(20)}) > 1
    returns, lengths = watch(out, episodes=2, deterministic=True)
    assert lengths == [30, 30] and all(np.isfinite(returns))


def test_watch_runs_torch_on_one_thread(cartpole_run):
    # One observation per forward pass: extra threads only add synchronisation (a SAC policy
    # took 8 ms a step on all threads of a loaded machine against 0.07 ms on one).
    torch.set_num_threads(2)
    try:
        watch(cartpole_run, episodes=1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(1)
