"""gSDE (spinrl.sde): the density of a state-dependent action against its closed form and
against Stable-Baselines3's, the noise held between redraws on SB3's schedule, a saved policy
that loads, bad settings refused, and MountainCarContinuous solved (under -m slow)."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

import spinrl
from spinrl.cli import main
from spinrl.errors import ConfigError
from spinrl.evaluate import load_policy
from spinrl.sde import StateDependentActor, StateDependentGaussianActor
from test_faults import record


def _actor(low=-1.0, high=1.0, act_dim=2, log_std_init=-1.0, hid=(8, 8)):
    torch.manual_seed(0)
    space = gym.spaces.Box(np.float32(low), np.float32(high), (act_dim,))
    actor = StateDependentActor(3, space, hid, "relu", log_std_init=log_std_init).double()
    actor.reset_noise(1)  # the held matrix, in double too
    return actor


def test_the_log_probability_is_the_gaussian_of_phi_theta_through_the_squash():
    # u = mu + phi^T theta with theta_ij ~ N(0, sigma_ij^2) is N(mu, phi^2 @ sigma^2 + 1e-6)
    # per action; a = c + s tanh(u) divides the density by s (1 - tanh(u)^2).
    # The mean is clipped to [-2, 2] first (SB3's clip_mean): large observations reach it.
    actor = _actor(low=-3.0, high=1.0, log_std_init=-4.0)  # center -1, half-width 2
    obs = torch.randn(64, 3, dtype=torch.float64) * 20
    theta = actor.draw_theta().detach()
    with torch.no_grad():
        a, logp = actor.sample(obs, theta)
        phi = actor.trunk(obs)
        raw = phi @ actor.mu.weight.T + actor.mu.bias
        mu = raw.clamp(-2, 2)
        sigma2 = actor.log_std.exp() ** 2
    assert (raw.abs() > 2).any() and (raw.abs() < 2).any()
    for i in range(64):
        expected = 0.0
        for j in range(2):
            u = math.atanh((a[i, j].item() + 1.0) / 2.0)
            var = sum(phi[i, k].item() ** 2 * sigma2[k, j].item() for k in range(8)) + 1e-6
            expected += -0.5 * (u - mu[i, j].item()) ** 2 / var - 0.5 * math.log(2 * math.pi * var)
            expected -= math.log(2.0 * (1.0 - math.tanh(u) ** 2))
        assert logp[i].item() == pytest.approx(expected, rel=1e-6, abs=1e-6)
    assert torch.all(a > -3.0) and torch.all(a < 1.0)


def test_the_variance_formula_is_the_spread_of_actions_over_drawn_matrices():
    actor = _actor()
    obs = torch.randn(1, 3, dtype=torch.float64)
    with torch.no_grad():
        phi, mu = actor._latent(obs)
        thetas = actor.log_std.exp() * torch.randn(200_000, 8, 2, dtype=torch.float64)
        u = mu + torch.einsum("k,nkj->nj", phi[0], thetas)
        std = actor.std(phi)[0]
    np.testing.assert_allclose(u.std(0).numpy(), std.numpy(), rtol=0.01)


def test_the_held_noise_is_smooth_in_the_state_and_fixed_until_redrawn():
    actor = _actor(log_std_init=0.0)
    obs = torch.randn(1, 3, dtype=torch.float64)
    with torch.no_grad():
        first, again = actor.act(obs), actor.act(obs)
        near = actor.act(obs + 1e-4)
        actor.reset_noise(1)
        redrawn = actor.act(obs)
        actor.reset_noise(3)  # one matrix per environment
        rows = actor.act(obs.expand(3, 3))
    assert torch.equal(first, again)
    assert (near - first).abs().max() < 1e-2  # a plain Gaussian would jump by ~sigma
    assert (redrawn - first).abs().max() > 1e-2
    assert len({tuple(r.tolist()) for r in rows}) == 3


def _draws_and_updates(monkeypatch, **settings):
    """The env steps before which a SAC gSDE run drew its matrices, and after which it
    updated."""
    from spinrl.offpolicy import OffPolicyLoop

    events, loop_of = [], {}
    act, update_phase = OffPolicyLoop.act, OffPolicyLoop.update_phase
    reset_noise = StateDependentActor.reset_noise

    def record_act(self, obs):
        loop_of["loop"] = self
        return act(self, obs)

    def record_draw(self, n=1):
        if "loop" in loop_of:  # (not the draw when the actor is built)
            events.append(("draw", loop_of["loop"].rollout.steps))
        return reset_noise(self, n)

    def record_update(self, epoch, env_steps):
        events.append(("update", self.rollout.steps))
        return update_phase(self, epoch, env_steps)

    monkeypatch.setattr(OffPolicyLoop, "act", record_act)
    monkeypatch.setattr(OffPolicyLoop, "update_phase", record_update)
    monkeypatch.setattr(StateDependentActor, "reset_noise", record_draw)
    spinrl.sac(**{**TINY_SDE, "steps_per_epoch": 40, "epochs": 1, **settings})
    draws = [step for kind, step in events if kind == "draw"]
    return draws, [step for kind, step in events if kind == "update"]


def test_noise_is_redrawn_at_each_collection_on_sb3s_schedule(monkeypatch):
    # SB3, learning_starts 10 and train_freq 8: collections of 8 steps from step 0, updates
    # after steps 16, 24, 32, 40; the preset's update_after = 8 * (10 // 8) + 1 = 9
    draws, updates = _draws_and_updates(monkeypatch, start_steps=10, update_after=9,
                                        update_every=8, sde_sample_freq=-1)  # fmt: skip
    assert updates == [16, 24, 32, 40] and draws == [0, 8, 16, 24, 32]
    # and every 3 steps within a collection too
    draws, _ = _draws_and_updates(monkeypatch, start_steps=10, update_after=9,
                                  update_every=8, sde_sample_freq=3)  # fmt: skip
    assert draws == [s + k for s in (0, 8, 16, 24, 32) for k in (0, 3, 6)]
    # update phases off SB3's grid: each collection still starts right after a phase
    draws, updates = _draws_and_updates(monkeypatch, start_steps=10, update_after=10,
                                        update_every=8, sde_sample_freq=-1)  # fmt: skip
    assert updates == [17, 25, 33] and {17, 25, 33} <= set(draws)
    assert all(d in updates or d < updates[0] for d in draws)


def test_log_probability_and_its_gradients_equal_stable_baselines3s():
    sb3_policies = pytest.importorskip("stable_baselines3.sac.policies")
    from stable_baselines3.common.torch_layers import FlattenExtractor

    obs_space = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)
    act_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    torch.manual_seed(1)
    ours = StateDependentActor(3, act_space, (16, 16), "relu", log_std_init=-0.5)
    theirs = sb3_policies.Actor(
        obs_space, act_space, [16, 16], FlattenExtractor(obs_space), 3, use_sde=True,
        log_std_init=-0.5,
    )  # fmt: skip
    with torch.no_grad():
        for ours_layer, theirs_layer in zip(
            [m for m in ours.trunk if isinstance(m, torch.nn.Linear)],
            [m for m in theirs.latent_pi if isinstance(m, torch.nn.Linear)],
            strict=True,
        ):
            theirs_layer.weight.copy_(ours_layer.weight)
            theirs_layer.bias.copy_(ours_layer.bias)
        theirs.mu[0].weight.copy_(ours.mu.weight)
        theirs.mu[0].bias.copy_(ours.mu.bias)
    obs = torch.randn(32, 3) * 3
    eps = torch.randn(16, 2)
    # theirs: the matrix of its last reset_noise, exp(log_std) * eps
    theirs.action_dist.exploration_mat = theirs.log_std.exp() * eps
    a_theirs, logp_theirs = theirs.action_log_prob(obs)
    a_ours, logp_ours = ours.sample(obs, ours.log_std.exp() * eps)
    torch.testing.assert_close(a_ours, a_theirs, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(logp_ours, logp_theirs, rtol=1e-4, atol=2e-4)
    # the gradients a SAC actor loss sends to every parameter, log sigma included
    (0.3 * logp_ours - a_ours.sum(-1)).mean().backward()
    (0.3 * logp_theirs - a_theirs.sum(-1)).mean().backward()
    ours_grads = [p.grad for p in (*ours.trunk.parameters(), *ours.mu.parameters())]
    theirs_grads = [p.grad for p in (*theirs.latent_pi.parameters(), *theirs.mu.parameters())]
    for g_ours, g_theirs in zip([*ours_grads, ours.log_std.grad],
                                [*theirs_grads, theirs.log_std.grad], strict=True):  # fmt: skip
        torch.testing.assert_close(g_ours, g_theirs, rtol=1e-3, atol=1e-5)


TINY_SDE = dict(
    env="MountainCarContinuous-v0",
    sde=True,
    sde_sample_freq=7,
    steps_per_epoch=100,
    epochs=2,
    start_steps=30,
    update_after=50,
    update_every=25,
    batch_size=32,
    hid=(16, 16),
    num_test_episodes=1,
    max_ep_len=50,
    verbose=False,
)


def test_a_gsde_run_saves_a_policy_that_loads_and_acts_as_trained(tmp_path):
    result = spinrl.sac(**TINY_SDE, output_dir=str(tmp_path))
    assert isinstance(result.agent.actor, StateDependentActor)
    obs = np.random.default_rng(0).normal(size=(16, 2)).astype(np.float32)
    policy = load_policy(tmp_path, deterministic=True)
    np.testing.assert_allclose(policy(obs), result.act(obs, deterministic=True), rtol=1e-6)


def test_bad_gsde_settings_are_refused(tmp_path, capsys):
    with pytest.raises(ConfigError, match="sde_sample_freq"):
        spinrl.sac(**{**TINY_SDE, "sde_sample_freq": 0})
    with pytest.raises(ConfigError, match="log_std_init"):
        spinrl.sac(**{**TINY_SDE, "log_std_init": float("nan")})
    with pytest.raises(ConfigError, match="mbpo does not take it"):
        spinrl.mbpo(env="Pendulum-v1", sde=True)
    argv = ["train", "sac", "--env", "Pendulum-v1", "--sde", "true", "--sde-sample-freq", "-2"]
    assert main([*argv, "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "sde_sample_freq must be -1" in err and err.count("\n") == 1
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_the_zoos_gsde_settings_solve_mountain_car_continuous():
    # the zoo's SAC entry (use_sde, log_std_init -3.67), 50k steps; a plain Gaussian with the
    # same settings ends at 0 (benchmarks/results/tuned.md, before gSDE)
    result = spinrl.sac(env="MountainCarContinuous-v0", preset="tuned", seed=0, verbose=False)
    assert result.last_row["AverageTestEpRet"] >= 90, result.last_row


# --- PPO's gSDE (StateDependentGaussianActor) -----------------------------------------------


def _ppo_actor(log_std_init=-1.0):
    torch.manual_seed(0)
    return StateDependentGaussianActor(3, 2, (16, 16), "tanh", log_std_init, orthogonal=True)


def test_ppo_gsde_rollout_samples_hold_the_matrix_and_score_as_the_update_does():
    actor, rng = _ppo_actor(), np.random.default_rng(0)
    actor.sample_freq = 4
    obs = np.random.default_rng(1).normal(size=(5, 3)).astype(np.float32)  # 5 envs
    with torch.no_grad():
        mu = actor.deterministic(torch.from_numpy(obs)).numpy()
    held = []
    for step in range(9):
        act, logp = actor.explore(obs, mu, step, rng)
        held.append(act)
        # the update's log-probability of the stored action is the rollout's
        with torch.no_grad():
            again = actor.log_prob(torch.from_numpy(obs), torch.from_numpy(act))
        np.testing.assert_allclose(logp, again.numpy(), rtol=1e-5, atol=1e-5)
    # same obs, same matrices: identical actions until a draw (steps 4 and 8), one per env
    assert all(np.array_equal(held[0], held[k]) for k in (1, 2, 3))
    assert not np.array_equal(held[3], held[4]) and np.array_equal(held[4], held[7])
    assert len({tuple(row) for row in held[0]}) == 5


def test_ppo_gsde_log_probability_entropy_and_gradients_equal_stable_baselines3s():
    sb3_policies = pytest.importorskip("stable_baselines3.common.policies")
    obs_space = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)
    act_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    ours = _ppo_actor(log_std_init=-0.7)
    theirs = sb3_policies.ActorCriticPolicy(
        obs_space, act_space, lambda _: 1e-3, net_arch=dict(pi=[16, 16], vf=[16, 16]),
        activation_fn=torch.nn.Tanh, use_sde=True, log_std_init=-0.7,
    )  # fmt: skip
    linears = [m for m in ours.mu_net if isinstance(m, torch.nn.Linear)]
    theirs_pi = [m for m in theirs.mlp_extractor.policy_net if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for a, b in zip(linears[:-1], theirs_pi, strict=True):
            b.weight.copy_(a.weight)
            b.bias.copy_(a.bias)
        theirs.action_net.weight.copy_(linears[-1].weight)
        theirs.action_net.bias.copy_(linears[-1].bias)
    obs = torch.randn(64, 3) * 2
    actions = torch.randn(64, 2)
    _, logp_theirs, ent_theirs = theirs.evaluate_actions(obs, actions)
    logp_ours, ent_ours = ours.log_prob_and_entropy(obs, actions)
    torch.testing.assert_close(logp_ours, logp_theirs, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ent_ours, ent_theirs, rtol=1e-5, atol=1e-5)
    (logp_ours.mean() + 0.1 * ent_ours.mean()).backward()
    (logp_theirs.mean() + 0.1 * ent_theirs.mean()).backward()
    torch.testing.assert_close(ours.log_std.grad, theirs.log_std.grad, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(linears[0].weight.grad, theirs_pi[0].weight.grad,
                               rtol=1e-4, atol=1e-6)  # fmt: skip


def test_a_ppo_gsde_run_trains_saves_and_loads(tmp_path):
    result = spinrl.ppo(env="Pendulum-v1", sde=True, sde_sample_freq=4, num_envs=2,
                        steps_per_epoch=256, epochs=2, minibatch_size=64,
                        output_dir=str(tmp_path), verbose=False)  # fmt: skip
    assert isinstance(result.actor, StateDependentGaussianActor)
    obs = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
    policy = load_policy(tmp_path, deterministic=True)
    np.testing.assert_allclose(policy(obs), result.act(obs, deterministic=True), rtol=1e-6)
    with pytest.raises(ConfigError, match="sde_sample_freq"):
        spinrl.ppo(env="Pendulum-v1", sde=True, sde_sample_freq=0, verbose=False)


def test_gsde_on_discrete_actions_is_refused_before_anything_is_written(tmp_path, capsys):
    with pytest.raises(ConfigError, match="1-D Box action space"):
        spinrl.ppo(env="CartPole-v1", sde=True, verbose=False)
    argv = ["train", "ppo", "--env", "CartPole-v1", "--sde", "true", "--data-dir", str(tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    written = len(list(tmp_path.iterdir()))
    seen = f"exit 2, {err.count(chr(10))} line(s), {written} file(s)"
    record("ppo --sde true on CartPole (CLI)", "one line, exit 2, nothing written", seen)
    assert err.count("\n") == 1 and "1-D Box" in err
    assert not any(tmp_path.iterdir())
