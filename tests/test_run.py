"""The run lifecycle every algorithm shares: independent random streams, the same wrappers
for an env by id or by factory, one Result that acts, and every run reloadable, including one
trained on a custom environment through the Python API."""

import json

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import spinrl
from conftest import MBPO_TINY, OFF_POLICY_TINY, PETS_TINY, Toy1D
from spinrl.algos import ALGOS, ppo, td3
from spinrl.cli import main
from spinrl.envs import make_env
from spinrl.errors import EnvError
from spinrl.evaluate import load_policy, watch
from spinrl.onpolicy import Session
from spinrl.run import spawn_streams
from test_faults import record

TINY = {
    "pg": dict(steps_per_epoch=64, epochs=1, hid=(8,)),
    "vpg": dict(steps_per_epoch=64, epochs=1, hid=(8,), train_v_iters=2),
    "ppo": dict(steps_per_epoch=64, epochs=1, minibatch_size=32, update_epochs=1, hid=(8,)),
    "trpo": dict(steps_per_epoch=64, epochs=1, hid=(8,), train_v_iters=2),
    "ddpg": OFF_POLICY_TINY,
    "pets": PETS_TINY,
    "mbpo": MBPO_TINY,
}
TINY["td3"] = TINY["sac"] = TINY["ddpg"]
TINY["dqn"] = {**OFF_POLICY_TINY, "gradient_steps": None}
ENV = {"pg": "CartPole-v1", "vpg": "CartPole-v1", "ppo": "CartPole-v1", "trpo": "Pendulum-v1"}
ENV["dqn"] = "CartPole-v1"


# --- Independent random streams ----------------------------------------------------------------


def test_the_agents_first_random_action_is_independent_of_the_first_state():
    # Before, the agent's generator and env 0 were seeded with the same number: SAC's first
    # uniform action correlated 1.0 with Pendulum's initial angle over seeds.
    angles, actions = [], []
    for seed in range(60):
        result = spinrl.sac(
            env="Pendulum-v1", seed=seed, steps_per_epoch=1, epochs=1, num_test_episodes=0,
            hid=(4,), verbose=False,
        )  # fmt: skip
        cos, sin, _ = result.replay.obs[0]
        angles.append(np.arctan2(sin, cos))
        actions.append(result.replay.actions[0, 0])
    corr = np.corrcoef(angles, actions)[0, 1]
    record("agent stream vs env 0 (SAC)", "independent", f"correlation {corr:.2f} over 60 seeds")
    assert abs(corr) < 0.35


def test_ppos_first_action_is_not_a_function_of_the_first_cartpole_state():
    # Before, PPO's first action equalled [x0 >= xdot0] in 100 of 100 seeds.
    agree = 0
    for seed in range(60):
        cfg = ppo.Config(seed=seed, num_envs=1, steps_per_epoch=1, minibatch_size=1, hid=(4,))
        session = Session("ppo", cfg, verbose=False)
        session.collect()
        x, xdot = session.buf.obs[0, 0, :2]
        agree += int(session.buf.actions[0, 0]) == int(x >= xdot)
        session.close()
    assert 15 <= agree <= 45


def test_runs_with_nearby_seeds_share_no_env_stream():
    seeds = [s for seed in range(5) for s in spawn_streams(seed, 4).env_seeds]
    assert len(set(seeds)) == len(seeds)  # seed + i for env i made seed 0's env 1 seed 1's env 0
    first = {s: spawn_streams(s, 1) for s in (0, 1)}
    draws = [first[s].agent.random(3) for s in (0, 1)]
    assert not np.allclose(draws[0], draws[1])
    assert first[0].test_env_seed not in seeds and first[0].torch_seed not in seeds


# --- The same env by id or by factory ----------------------------------------------------------


def test_max_ep_len_applies_to_a_factory_as_to_an_id():
    # Before, a factory's env kept its own 500-step limit: mean EpLen 19.9 with max_ep_len=7.
    for by_id, env_fn in ((True, None), (False, lambda: gym.make("CartPole-v1"))):
        rows = []
        spinrl.pg(
            env_fn,
            **({"env": "CartPole-v1"} if by_id else {}),
            max_ep_len=7,
            steps_per_epoch=70,
            epochs=2,
            hid=(4,),
            verbose=False,
            callback=lambda run, rows=rows: rows.append(run.last_row) and False,
        )
        assert all(r["EpLen"] == 7.0 for r in rows)
    record("max_ep_len with a factory", "episodes cut at 7", f"EpLen {rows[-1]['EpLen']}")


def test_discrete_observations_from_a_factory_are_one_hot_and_train():
    result = spinrl.ppo(lambda: gym.make("FrozenLake-v1"), verbose=False, **TINY["ppo"])
    assert result.actor.net[0].in_features == 16


@pytest.mark.parametrize("env_id", ["FrozenLake-v1", "CliffWalking-v1"])
def test_one_hot_wrapper_passes_check_env_and_returns_fresh_arrays(env_id):
    env = make_env(env_id)
    check_env(env.unwrapped)
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    expected = obs.copy()
    obs *= 0  # a caller writing into an observation must not change later ones
    again, _ = env.reset(seed=0)
    np.testing.assert_array_equal(again, expected)
    record(f"one-hot obs written into ({env_id})", "later obs unchanged", "unchanged")


def test_td3_exploration_noise_is_in_action_units_as_spinning_ups():
    # Pendulum's torque lies in [-2, 2]; act_noise 0.1 must be a std of 0.1, not 0.2.
    space = gym.spaces.Box(-2.0, 2.0, (1,), np.float32)
    agent = td3.TD3Agent(3, space, td3.Config(hid=(4,)))
    obs = np.zeros((20_000, 3), np.float32)
    noise = agent.explore(obs, np.random.default_rng(0)) - agent.deterministic(obs)
    record("TD3 act_noise 0.1 on [-2, 2]", "std 0.1 (Spinning Up)", f"std {noise.std():.3f}")
    assert noise.std() == pytest.approx(0.1, rel=0.03)


# --- One Result for every algorithm; every run reloadable -------------------------------------


@pytest.mark.parametrize("algo", list(ALGOS))
def test_every_result_acts_and_its_run_reloads_to_the_same_policy(algo, tmp_path):
    env = ENV.get(algo, "Pendulum-v1")
    out = tmp_path / algo
    result = getattr(spinrl, algo)(env=env, output_dir=str(out), verbose=False, **TINY[algo])
    obs = make_env(env).observation_space.sample()
    batch = np.stack([obs, obs])
    loaded = load_policy(out, deterministic=True)
    np.testing.assert_allclose(loaded(obs), result.act(obs, deterministic=True), rtol=1e-6)
    assert result.act(batch).shape[0] == 2
    assert loaded.action_space.contains(np.asarray(result.act(obs), loaded.action_space.dtype))


def test_a_custom_env_factory_round_trip_train_load_watch(tmp_path, capsys):
    # Before: config.json said "CartPole-v1", and load_policy and watch failed on the shapes.
    out = tmp_path / "toy"
    result = spinrl.ppo(Toy1D, output_dir=str(out), verbose=False, **TINY["ppo"])
    recorded = json.loads((out / "config.json").read_text())["config"]["env"]
    assert recorded.endswith(":Toy1D")
    policy = load_policy(out, deterministic=True)
    obs = np.array([1.5], np.float32)
    assert policy(obs) == result.act(obs, deterministic=True)
    assert main(["watch", str(out), "--episodes", "2", "--deterministic"]) == 0
    assert "mean" in capsys.readouterr().out
    record("custom env factory run", "load_policy and watch work", f"env recorded as {recorded}")


def test_a_lambda_factory_records_its_registered_id_and_an_unnamed_one_needs_env_fn(tmp_path):
    out = tmp_path / "acrobot"
    spinrl.ppo(lambda: gym.make("Acrobot-v1"), output_dir=str(out), verbose=False, **TINY["ppo"])
    assert json.loads((out / "config.json").read_text())["config"]["env"] == "Acrobot-v1"

    out = tmp_path / "anonymous"
    spinrl.ppo(lambda: Toy1D(), output_dir=str(out), verbose=False, **TINY["ppo"])
    assert json.loads((out / "config.json").read_text())["config"]["env"].startswith("<factory")
    load_policy(out)  # the shapes come from the checkpoint: no env needed
    with pytest.raises(EnvError, match="pass env_fn"):
        watch(out, episodes=1)
    _, lengths = watch(out, episodes=1, env_fn=Toy1D)
    assert lengths == [20]
    with pytest.raises(EnvError, match="does not fit the policy"):
        watch(out, episodes=1, env_fn=lambda: gym.make("CartPole-v1"))


def test_async_off_policy_runs_checkpoint_and_resume_saying_it_is_not_exact(tmp_path, capsys):
    # Before, SAC with async envs and an output directory stopped at the first checkpoint.
    out = tmp_path / "sac_async"
    kw = dict(env="Pendulum-v1", vectorization="async", num_envs=2, verbose=False)
    tiny = {**TINY["sac"], "steps_per_epoch": 40}
    spinrl.sac(output_dir=str(out), **kw, **tiny)
    assert (out / "model.pt").is_file()
    result = spinrl.sac(output_dir=str(out), resume=True, **kw, **{**tiny, "epochs": 2})
    assert result.last_row["Epoch"] == 1
    assert "resuming with fresh environments" in capsys.readouterr().err
    record("async SAC with output dir", "checkpoints, resumes non-exactly", "resumed to epoch 1")


def test_on_policy_test_phase_is_the_deterministic_policy_on_its_own_env():
    # test_every beyond the last epoch: only the final epoch tests, on a test env reset once
    # with its own stream, so the logged figure can be recomputed from the result.
    result = spinrl.ppo(env="CartPole-v1", seed=3, test_every=99, num_test_episodes=3,
                        verbose=False, **TINY["ppo"])  # fmt: skip
    env = make_env("CartPole-v1")
    env.reset(seed=spawn_streams(3, ppo.Config().num_envs).test_env_seed)
    returns = []
    for _ in range(3):
        obs, _ = env.reset()
        ret, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(result.act(obs, deterministic=True))
            ret, done = ret + reward, terminated or truncated
        returns.append(ret)
    assert result.last_row["AverageTestEpRet"] == pytest.approx(np.mean(returns))


def test_a_run_with_test_phases_resumes_to_the_same_rows(tmp_path):
    kw = dict(env="CartPole-v1", seed=1, test_every=2, num_test_episodes=2, verbose=False)
    tiny = {**TINY["ppo"], "epochs": 5, "save_freq": 1}
    spinrl.ppo(output_dir=str(tmp_path / "a"), **kw, **tiny)
    stop_after_3 = lambda run: run.last_row["Epoch"] == 2  # noqa: E731 (a stop between tests)
    spinrl.ppo(output_dir=str(tmp_path / "b"), callback=stop_after_3, **kw, **tiny)
    spinrl.ppo(output_dir=str(tmp_path / "b"), resume=True, **kw, **tiny)

    def rows(run):
        lines = (tmp_path / run / "progress.csv").read_text().splitlines()
        time_col = lines[0].split(",").index("Time")
        return [[c for i, c in enumerate(line.split(",")) if i != time_col] for line in lines]

    assert rows("a") == rows("b") and "AverageTestEpRet" in rows("a")[0]


def test_capture_video_records_the_deterministic_policy_every_n_epochs(tmp_path):
    out = tmp_path / "vid"
    tiny = {**TINY["pg"], "epochs": 3}
    spinrl.pg(env="CartPole-v1", capture_video=2, output_dir=str(out), verbose=False, **tiny)
    videos = sorted(p.name for p in (out / "videos").iterdir())
    assert videos == ["epoch_1.mp4", "epoch_2.mp4"]  # every 2 epochs, and after the last
    assert all((out / "videos" / v).read_bytes()[4:8] == b"ftyp" for v in videos)  # real MP4s
    with pytest.raises(spinrl.errors.ConfigError, match="give an output_dir"):
        spinrl.pg(env="CartPole-v1", capture_video=1, verbose=False, **tiny)


def test_recording_videos_changes_nothing_a_run_learns(tmp_path):
    # Building a second actor for the video would draw from torch's generator and change
    # SAC's later samples: the rows must be the same with and without videos.
    kw = dict(env="Pendulum-v1", verbose=False, **{**TINY["sac"], "epochs": 2})

    def rows(capture):
        out = tmp_path / f"v{capture}"
        spinrl.sac(output_dir=str(out), capture_video=capture, **kw)
        lines = (out / "progress.csv").read_text().splitlines()
        drop = lines[0].split(",").index("Time")
        return [[c for i, c in enumerate(line.split(",")) if i != drop] for line in lines]

    assert rows(1) == rows(0)


def test_env_snapshots_restore_integer_state_and_skip_what_they_cannot_hold(tmp_path):
    from spinrl.envs import env_state, set_env_state

    # CliffWalking's position is a numpy integer: it must survive the round trip.
    a, b = make_env("CliffWalking-v1"), make_env("CliffWalking-v1")
    a.reset(seed=0)
    b.reset(seed=1)
    for action in (0, 1, 1):
        a.step(action)
    set_env_state(b, env_state(a))
    assert [a.step(2)[1:3] for _ in range(3)] == [b.step(2)[1:3] for _ in range(3)]
    # FrozenLake holds a bytes array (its map), which a checkpoint cannot and need not hold.
    spinrl.ppo(env="FrozenLake-v1", output_dir=str(tmp_path / "fl"), verbose=False, **TINY["ppo"])
    # Box2D bodies cannot be saved: the snapshot says so, and resume is not claimed exact.
    lunar = make_env("LunarLander-v3")
    lunar.reset(seed=0)
    assert env_state(lunar)["exact"] is False and env_state(a)["exact"] is True


def test_tuned_settings_bring_their_budget_unless_the_run_sets_its_length(tmp_path):
    _, (trial,), _ = plan_runs_ppo(tmp_path, "--env", "CartPole-v1")
    assert trial.values["total_steps"] == 100_000
    _, (trial,), _ = plan_runs_ppo(tmp_path, "--env", "CartPole-v1", "--epochs", "5")
    assert "total_steps" not in trial.values and trial.values["epochs"] == 5
    _, (trial,), _ = plan_runs_ppo(tmp_path, "--env", "CartPole-v1", "--total-steps", "2048")
    assert trial.values["total_steps"] == 2048


def plan_runs_ppo(tmp_path, *argv):
    from spinrl.cli import plan_runs

    return plan_runs("ppo", [*argv, "--data-dir", str(tmp_path)])


def test_max_ep_len_replaces_a_factorys_own_limit_as_gym_make_does():
    env = make_env(lambda: gym.make("CartPole-v1"), 1000)
    env.reset(seed=0)
    steps, done = 0, False
    while not done and steps < 600:
        _, _, terminated, truncated, _ = env.step(steps % 2)  # alternate: may still fall
        steps, done = steps + 1, terminated or truncated
    from spinrl.envs import _time_limits

    assert [limit._max_episode_steps for limit in _time_limits(env)] == [1000]


def test_a_factory_with_its_own_arguments_is_not_recorded_as_the_plain_id():
    from spinrl.envs import env_name

    assert env_name(lambda: gym.make("Pendulum-v1", g=2.0)).startswith("<factory")
    assert env_name(lambda: gym.make("Pendulum-v1")) == "Pendulum-v1"


def test_a_callback_that_stops_training_leaves_the_returned_policy_on_disk(tmp_path):
    out = tmp_path / "stop"
    result = spinrl.pg(
        env="CartPole-v1",
        output_dir=str(out),
        verbose=False,
        callback=lambda run: run.last_row["Epoch"] == 1,
        **{**TINY["pg"], "epochs": 6, "save_freq": 10},
    )
    assert result.last_row["Epoch"] == 1
    obs = np.zeros(4, np.float32)
    np.testing.assert_array_equal(load_policy(out, deterministic=True)(obs), result.act(obs, True))


def test_a_budget_that_is_not_whole_epochs_rounds_up_and_says_so(capsys):
    # 300 steps in epochs of 128: 3 epochs (384 steps), and one line on stderr saying so.
    result = spinrl.vpg(env="CartPole-v1", steps_per_epoch=128, total_steps=300, seed=0)
    assert result.last_row["TotalEnvInteracts"] == 384
    err = capsys.readouterr().err
    assert "total_steps 300 is not a whole number of epochs of 128 steps" in err
    assert "training 3 epochs, 384 steps" in err
    spinrl.vpg(env="CartPole-v1", steps_per_epoch=128, total_steps=256, seed=0)
    assert "total_steps" not in capsys.readouterr().err


def test_a_grid_says_once_that_its_budget_rounds_up(tmp_path, capsys):
    # The zoo's LunarLander-v3 entry collects 16 x 1024 steps an epoch; grid trials train
    # without their own output, so the command says it once for the grid.
    from spinrl.algos import ppo
    from spinrl.cli import _budget_notes

    _, trials, _ = plan_runs_ppo(tmp_path, "--env", "LunarLander-v3", "--total-steps", "4096",
                                 "--seed", "0", "1")  # fmt: skip
    _budget_notes(ppo, trials)
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "spinrl: total_steps 4,096 is not a whole number of epochs of 16,384 steps "
        "(steps_per_epoch): training 1 epoch, 16,384 steps"
    ]


def test_a_resumed_run_records_its_new_budget(tmp_path):
    # --resume --epochs 4 on a run of 2: config.json says 4 after, so a later resume (or a
    # reader of the run) sees the budget the run was trained to.
    from spinrl.cli import main

    common = ["--steps-per-epoch", "128", "--quiet", "--data-dir", str(tmp_path)]
    assert main(["train", "vpg", "--env", "CartPole-v1", "--epochs", "2", *common]) == 0
    (run,) = tmp_path.glob("*/*_s0")
    assert main(["train", "--resume", str(run), "--epochs", "4", "--quiet"]) == 0
    assert json.loads((run / "config.json").read_text())["config"]["epochs"] == 4
    assert len((run / "progress.csv").read_text().splitlines()) == 1 + 4


def test_resuming_a_run_at_its_budget_says_so_and_trains_nothing(tmp_path, capsys):
    from spinrl.cli import main

    common = ["--steps-per-epoch", "128", "--quiet", "--data-dir", str(tmp_path)]
    assert main(["train", "vpg", "--env", "CartPole-v1", "--epochs", "2", *common]) == 0
    (run,) = tmp_path.glob("*/*_s0")
    progress = (run / "progress.csv").read_text()
    capsys.readouterr()
    assert main(["train", "--resume", str(run)]) == 0
    out, err = capsys.readouterr()
    assert "already at its budget: nothing trained" in out
    assert "has trained 2 epochs, and its budget is 2 epochs (256 steps)" in err
    assert "run resumed" not in out
    assert (run / "progress.csv").read_text() == progress
