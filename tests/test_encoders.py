"""Observation encoders: the Nature and MinAtar CNNs (uint8 scaled inside the network,
channels first or last, chosen by image size), Dict observations (one encoder per key,
concatenated), the actor spec that rebuilds them, PPO learning an image task, SAC and TD3 on
image and Dict observations, and the refusal of a replay that would not fit in memory."""

import gymnasium as gym
import numpy as np
import pytest
import torch

import spinrl
from conftest import OFF_POLICY_TINY, BrightSide, BrightSideContinuous, DictBrightSide
from spinrl.encoders import ImageEncoder, PackedDictSpace, image_encoder_kind, make_encoder
from spinrl.envs import make_env
from spinrl.errors import ConfigError, EnvError
from spinrl.evaluate import load_policy
from spinrl.onpolicy import Session
from spinrl.policies import actor_spec, build_actor, make_actor


def _twin(encoder: ImageEncoder, dtype) -> ImageEncoder:
    """The same network (same weights) for images of another dtype."""
    twin = ImageEncoder(encoder.shape, dtype, encoder.kind)
    twin.load_state_dict(encoder.state_dict())
    return twin


def test_nature_cnn_reads_uint8_frames_scaled_by_1_over_255_inside_the_network():
    torch.manual_seed(0)
    enc = ImageEncoder((4, 84, 84), np.uint8, "nature")
    frames = torch.randint(0, 256, (3, 4, 84, 84), dtype=torch.uint8)
    out = enc(frames)
    assert out.shape == (3, 512) and out.dtype == torch.float32
    # the same weights fed float frames already divided by 255 give the same features
    expected = _twin(enc, np.float32)(frames.float() / 255.0)
    torch.testing.assert_close(out, expected)
    # the architecture of Mnih et al. (2015): 32 8x8/4, 64 4x4/2, 64 3x3/1, 512
    convs = [m for m in enc.net if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size[0], c.stride[0]) for c in convs] == [
        (32, 8, 4),
        (64, 4, 2),
        (64, 3, 1),
    ]
    assert enc.net[-2].in_features == 64 * 7 * 7


def test_channels_last_images_are_read_as_their_channels_first_transpose():
    torch.manual_seed(0)
    first = ImageEncoder((3, 40, 40), np.uint8, "nature")
    last = ImageEncoder((40, 40, 3), np.uint8, "nature")
    last.load_state_dict(first.state_dict())
    images = torch.randint(0, 256, (2, 40, 40, 3), dtype=torch.uint8)
    torch.testing.assert_close(last(images), first(images.permute(0, 3, 1, 2)))


def test_the_encoder_is_chosen_by_image_size():
    assert image_encoder_kind((4, 84, 84)) == "nature"
    assert image_encoder_kind((84, 84)) == "nature"  # a grey frame: one channel
    assert image_encoder_kind((36, 36, 3)) == "nature"  # the Nature CNN's smallest input
    assert image_encoder_kind((4, 35, 35)) == "minatar"
    assert image_encoder_kind((10, 10, 4)) == "minatar"  # MinAtar's boolean frames
    assert image_encoder_kind((10, 10, 10)) == "minatar"  # MinAtar Seaquest: 10 channels
    with pytest.raises(EnvError, match="at least 3x3"):
        image_encoder_kind((2, 2, 3))
    enc = make_encoder(gym.spaces.Box(0, 1, (10, 10, 7), bool))
    assert enc.kind == "minatar" and enc.channels_last and enc.out_dim == 128
    # one 3x3 convolution of 16 filters, then 128 units (Young and Tian 2019)
    conv, linear = enc.net[0], enc.net[3]
    assert (conv.in_channels, conv.out_channels, conv.kernel_size) == (7, 16, (3, 3))
    assert linear.in_features == 16 * 8 * 8 and linear.out_features == 128
    frames = torch.rand(5, 10, 10, 7) > 0.5  # bool in, no scaling
    torch.testing.assert_close(enc(frames), _twin(enc, np.float32)(frames.float()))


def test_a_dict_observation_is_one_encoder_per_key_concatenated():
    torch.manual_seed(0)
    space = gym.spaces.Dict(
        {
            "image": gym.spaces.Box(0, 255, (3, 40, 40), np.uint8),
            "vec": gym.spaces.Box(-5, 5, (4,), np.float64),
            "mode": gym.spaces.Discrete(3),
        }
    )
    packed = PackedDictSpace(space)
    assert packed.dtype == np.uint8 and packed.shape == (3 * 40 * 40 + 4 * 8 + 8,)
    samples = [space.sample() for _ in range(6)]
    x = torch.from_numpy(np.stack([packed.pack(s) for s in samples]))
    enc = make_encoder(packed)
    out = enc(x)
    assert out.shape == (6, 512 + 4 + 3) == (6, enc.out_dim)
    # each entry's features in the Dict's key order (Gymnasium sorts keys): image, mode, vec
    assert list(space.keys()) == ["image", "mode", "vec"]
    images = torch.from_numpy(np.stack([s["image"] for s in samples]))
    one_hot = np.eye(3, dtype=np.float32)[[int(s["mode"]) for s in samples]]
    vec = np.stack([s["vec"] for s in samples]).astype(np.float32)
    expected = torch.cat(
        [enc.encoders["0"](images), torch.from_numpy(one_hot), torch.from_numpy(vec)], -1
    )
    torch.testing.assert_close(out, expected)


def test_actor_spec_round_trips_image_and_dict_encoders():
    torch.manual_seed(0)
    for obs_space in (
        gym.spaces.Box(0, 255, (4, 84, 84), np.uint8),
        PackedDictSpace(DictBrightSide.observation_space),
    ):
        for act_space in (gym.spaces.Discrete(3), gym.spaces.Box(-1, 1, (2,), np.float32)):
            actor = make_actor(obs_space, act_space, (16,), "relu")
            spec = actor_spec(actor, actor.encoder.out_dim, act_space, (16,), "relu", obs_space)
            rebuilt, _ = build_actor(spec)
            rebuilt.load_state_dict(actor.state_dict())
            obs = torch.from_numpy(np.stack([obs_space.sample() for _ in range(4)]))
            torch.testing.assert_close(rebuilt.deterministic(obs), actor.deterministic(obs))


def _session(env_fn, **cfg):
    from spinrl.algos.ppo import Config

    return Session("ppo", Config(**cfg), env_fn, verbose=False, shared_encoder=True)


def test_uint8_images_stay_uint8_in_the_rollout_buffer_and_ppo_shares_one_trunk():
    session = _session(BrightSide, num_envs=2, steps_per_epoch=16, hid=())
    try:
        session.collect()
        assert session.buf.obs.dtype == np.uint8 and session.buf.obs.shape == (8, 2, 12, 12, 1)
        assert session.buf.obs.max() == 255  # raw pixels, not scaled copies
        assert session.critic.encoder is session.actor.encoder
        # the values the rollout stored are the critic's on the stored uint8 observations
        with torch.no_grad():
            v = session.critic(torch.from_numpy(session.buf.obs[3]))
        np.testing.assert_allclose(session.buf.values[3], v.numpy(), rtol=1e-5, atol=1e-6)
    finally:
        session.close()


def test_normalize_obs_refuses_images_in_one_line():
    with pytest.raises(ConfigError, match="normalize_obs applies to float vector"):
        spinrl.ppo(BrightSide, normalize_obs=True, steps_per_epoch=256, epochs=1, verbose=False)


def test_ppo_learns_to_pick_the_bright_side_and_the_saved_policy_acts_the_same(tmp_path):
    # Random play scores 4 of 8; reading the image scores 8.
    result = spinrl.ppo(
        BrightSide,
        num_envs=4,
        steps_per_epoch=256,
        epochs=10,
        minibatch_size=64,
        hid=(),
        pi_lr=2e-3,
        vf_lr=2e-3,
        gamma=0.5,
        lam=0.5,
        seed=0,
        verbose=False,
        output_dir=str(tmp_path / "run"),
    )
    # seeds 0-3 end at 7.8-8.0 (measured); a policy blind to the image averages 4
    assert result.last_row["AverageEpRet"] >= 7.5, result.last_row
    policy = load_policy(tmp_path / "run", deterministic=True)
    env = BrightSide()
    frames = np.stack([env.reset(seed=i)[0] for i in range(32)])
    np.testing.assert_array_equal(policy(frames), result.act(frames, deterministic=True))
    sides = (frames[..., 0].argmax(-1).max(-1) >= 6).astype(int)  # where the pixel is
    assert (policy(frames) == sides).mean() >= 0.9


@pytest.mark.parametrize("algo", ["sac", "td3"])
@pytest.mark.parametrize("env_fn", [BrightSideContinuous, DictBrightSide])
def test_sac_and_td3_train_on_image_and_dict_observations_and_load(algo, env_fn, tmp_path):
    result = getattr(spinrl, algo)(
        env_fn, **OFF_POLICY_TINY, replay_size=1000, output_dir=str(tmp_path), verbose=False
    )
    replay = result.replay
    stored = replay.rings.frames if hasattr(replay, "rings") else replay.obs
    assert stored.dtype == np.uint8  # pixels (and packed Dicts) are kept as bytes
    assert np.isfinite(result.last_row["LossQ"])
    policy = load_policy(tmp_path, deterministic=True)
    env = make_env(env_fn)
    obs = np.stack([env.reset(seed=i)[0] for i in range(5)])
    np.testing.assert_allclose(policy(obs), result.act(obs, deterministic=True), atol=1e-6)
    if env_fn is DictBrightSide:  # the policy also takes the env's own dicts, one or a batch
        raw = env_fn()
        dicts = [raw.reset(seed=i)[0] for i in range(5)]
        batch = {key: np.stack([d[key] for d in dicts]) for key in dicts[0]}
        np.testing.assert_array_equal(policy(batch), policy(obs))
        np.testing.assert_array_equal(policy(dicts[2]), policy(obs[2]))


def test_a_replay_that_does_not_fit_in_memory_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ConfigError, match="lower replay_size") as info:
        spinrl.sac(
            "Pendulum-v1", replay_size=10**13, output_dir=str(tmp_path / "run"), verbose=False
        )
    assert "\n" not in str(info.value)
    assert not (tmp_path / "run").exists()


def _rows(run):
    import csv

    with open(run / "progress.csv") as f:
        return [{k: v for k, v in row.items() if k != "Time"} for row in csv.DictReader(f)]


def _tensors(state, prefix=""):
    if isinstance(state, torch.Tensor):
        yield prefix, state
    elif isinstance(state, dict):
        for key, value in state.items():
            yield from _tensors(value, f"{prefix}/{key}")


@pytest.mark.parametrize(
    ("algo", "env_fn", "cfg"),
    [
        ("ppo", BrightSide, dict(num_envs=2, steps_per_epoch=64, minibatch_size=32, hid=())),
        (
            "sac",
            BrightSideContinuous,
            {**OFF_POLICY_TINY, "num_envs": 2, "replay_size": 1000, "steps_per_epoch": 40},
        ),
    ],
)
def test_a_run_on_images_stopped_and_resumed_equals_one_that_was_not(algo, env_fn, cfg, tmp_path):
    from spinrl.checkpoint import load_checkpoint

    train = getattr(spinrl, algo)
    cfg = {**cfg, "anneal_lr": False} if algo == "ppo" else cfg
    common = dict(save_freq=1, verbose=False, **cfg)
    common.pop("epochs", None)
    train(env_fn, epochs=3, output_dir=str(tmp_path / "straight"), **common)
    train(env_fn, epochs=1, output_dir=str(tmp_path / "stopped"), **common)
    train(env_fn, epochs=3, output_dir=str(tmp_path / "stopped"), resume=True, **common)
    assert _rows(tmp_path / "stopped") == _rows(tmp_path / "straight")
    a = dict(_tensors(load_checkpoint(tmp_path / "straight" / "model.pt")))
    b = dict(_tensors(load_checkpoint(tmp_path / "stopped" / "model.pt")))
    assert a.keys() == b.keys()
    for key in a:  # networks (the CNNs too), optimiser moments, the frame replay, RNG states
        assert torch.equal(a[key], b[key]), key


class AtariShaped(gym.Env):
    """Observations and actions shaped as Breakout's after preprocessing, without the ALE."""

    observation_space = gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)
    action_space = gym.spaces.Discrete(4)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, False, False, {}


# CleanRL's ppo_atari.py Args (vwxyzjn/cleanrl), in its own names.
CLEANRL_PPO_ATARI = dict(
    learning_rate=2.5e-4,
    num_envs=8,
    num_steps=128,
    anneal_lr=True,
    gamma=0.99,
    gae_lambda=0.95,
    num_minibatches=4,
    update_epochs=4,
    norm_adv=True,
    clip_coef=0.1,
    clip_vloss=True,
    ent_coef=0.01,
    vf_coef=0.5,
    max_grad_norm=0.5,
    target_kl=None,
)


def test_the_atari_preset_is_cleanrls_ppo_atari_with_its_network():
    from spinrl.algos.ppo import Config
    from spinrl.presets import preset_fields

    c = CLEANRL_PPO_ATARI
    cfg = Config(**preset_fields("ppo", "atari", "ALE/Breakout-v5"))
    batch = c["num_envs"] * c["num_steps"]
    assert (cfg.num_envs, cfg.steps_per_epoch) == (c["num_envs"], batch)
    assert cfg.minibatch_size == batch // c["num_minibatches"]
    assert cfg.pi_lr == cfg.vf_lr == c["learning_rate"] and cfg.anneal_lr == c["anneal_lr"]
    assert (cfg.gamma, cfg.lam, cfg.update_epochs) == (c["gamma"], c["gae_lambda"], 4)
    assert (cfg.clip_ratio, cfg.clip_vloss, cfg.ent_coef) == (0.1, True, 0.01)
    # CleanRL's value loss is 0.5 * MSE, as spinrl's, so its vf_coef carries over unchanged
    assert (cfg.vf_coef, cfg.max_grad_norm, cfg.target_kl) == (0.5, 0.5, None)
    assert cfg.normalize_advantages == c["norm_adv"] and not cfg.anneal_clip
    assert not (cfg.normalize_obs or cfg.normalize_reward)
    session = Session("ppo", cfg, AtariShaped, verbose=False, orthogonal=True, shared_encoder=True)
    try:
        actor, critic = session.actor, session.critic
        assert critic.encoder is actor.encoder
        # CleanRL's Agent: the Nature CNN trunk, then linear actor and critic heads
        trunk = (4 * 32 * 64 + 32) + (32 * 64 * 16 + 64) + (64 * 64 * 9 + 64) + (3136 * 512 + 512)
        heads = (512 * 4 + 4) + (512 + 1)
        unique = {id(p): p for p in [*actor.parameters(), *critic.parameters()]}
        assert sum(p.numel() for p in unique.values()) == trunk + heads
        # layer_init: orthogonal, gain sqrt(2) in the trunk, 0.01 actor head, 1 critic head
        for layer, gain in [
            (actor.encoder.net[0], 2**0.5),
            (actor.encoder.net[-2], 2**0.5),
            (actor.net[0], 0.01),
            (critic.net[0], 1.0),
        ]:
            w = layer.weight.detach().reshape(len(layer.weight), -1)
            torch.testing.assert_close(w @ w.T, gain**2 * torch.eye(len(w)), atol=1e-5, rtol=0)
            assert torch.all(layer.bias == 0)
    finally:
        session.close()


@pytest.mark.parametrize("algo", ["vpg", "trpo", "pg"])
def test_the_other_on_policy_algorithms_train_on_images_with_an_encoder_each(algo):
    cfg = dict(steps_per_epoch=64, epochs=2, hid=(8,), verbose=False)
    cfg |= {"train_v_iters": 2} if algo != "pg" else {"phi": "rtg_baseline", "train_v_iters": 2}
    result = getattr(spinrl, algo)(BrightSide, **cfg)
    assert result.actor.encoder.kind == "minatar"
    assert result.critic.encoder is not result.actor.encoder  # separate, as Spinning Up's nets
    assert np.isfinite(result.last_row["LossV"])


def test_a_shared_trunk_run_once_gets_the_gradients_of_two_passes():
    from spinrl.policies import VCritic, encoded_once

    torch.manual_seed(0)
    space = gym.spaces.Box(0, 255, (10, 10, 2), np.uint8)
    encoder = make_encoder(space)
    actor = make_actor(space, gym.spaces.Discrete(3), (), "tanh", encoder=encoder)
    critic = VCritic(encoder.out_dim, (), encoder=encoder)
    obs = torch.randint(0, 256, (16, 10, 10, 2), dtype=torch.uint8)
    act = torch.randint(0, 3, (16,))
    params = list({id(p): p for p in [*actor.parameters(), *critic.parameters()]}.values())

    def grads(once: bool):
        if once:
            with encoded_once(actor, critic, obs) as x:
                loss = critic(x).pow(2).mean() - actor.log_prob(x, act).mean()
        else:
            loss = critic(obs).pow(2).mean() - actor.log_prob(obs, act).mean()
        return torch.autograd.grad(loss, params)

    for once, twice in zip(grads(True), grads(False), strict=True):
        torch.testing.assert_close(once, twice, rtol=1e-5, atol=1e-7)
    assert not actor.features_given and not critic.features_given  # the block restored them


class DiscreteDictBrightSide(DictBrightSide):
    """DictBrightSide with BrightSide's two discrete actions (for DQN)."""

    action_space = BrightSide.action_space

    def step(self, action):
        frame, reward, terminated, truncated, info = BrightSide.step(self, action)
        return self._obs(frame), reward, terminated, truncated, info


def test_dqn_trains_on_dict_observations_kept_as_bytes_and_reloads(tmp_path):
    result = spinrl.dqn(
        DiscreteDictBrightSide, steps_per_epoch=200, epochs=2, start_steps=50, update_after=50,
        update_every=10, gradient_steps=5, batch_size=16, replay_size=1000, hid=(16,),
        num_test_episodes=1, output_dir=str(tmp_path), verbose=False,
    )  # fmt: skip
    replay = result.replay
    stored = replay.rings.frames if replay.rings is not None else replay.obs
    assert stored.dtype == np.uint8  # the packed Dict (image, vector, one-hot) as bytes
    assert np.isfinite(result.last_row["LossQ"])
    policy = load_policy(tmp_path, deterministic=True)
    env = make_env(DiscreteDictBrightSide)
    obs = np.stack([env.reset(seed=i)[0] for i in range(5)])
    np.testing.assert_array_equal(policy(obs), result.act(obs, deterministic=True))
    raw = DiscreteDictBrightSide()
    dicts = [raw.reset(seed=i)[0] for i in range(5)]
    batch = {key: np.stack([d[key] for d in dicts]) for key in dicts[0]}
    np.testing.assert_array_equal(policy(batch), policy(obs))  # the env's own dicts too
