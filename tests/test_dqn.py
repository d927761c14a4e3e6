"""DQN: the Double-DQN and DQN targets by hand, n-step targets against brute force (the pure
function, and the replay's windows over N envs with episode ends, truncations and
wrap-around), the dueling head, target updates, the importance-weighted loss's gradient,
the epsilon schedule, the learned Q against closed-form values at time limits and
terminations, the zoo presets' update steps against SB3's rule, the LunarLander-v3 preset's
whole loop against SB3's own DQN bit for bit, Box actions refused, a run reloaded and
watched, and learning CartPole-v1 (under -m slow). Prioritized replay's sum tree and
sampler are in test_prioritized.py; exact resume in test_resume.py."""

import copy

import gymnasium as gym
import numpy as np
import pytest
import torch

import spinrl
from spinrl.algos.dqn import Config, DQNAgent, DQNLoop, linear_epsilon, q_learning_target
from spinrl.cli import main
from spinrl.errors import EnvError
from spinrl.evaluate import load_policy
from spinrl.policies import DuelingQNetwork
from spinrl.presets import TUNED
from spinrl.qreplay import NStepReplay
from spinrl.returns import nstep_returns
from test_faults import record

# --- The target ---------------------------------------------------------------------------


def test_double_dqn_and_dqn_targets_by_hand_with_terminated_and_truncated_transitions():
    gamma = 0.9
    # rows: an ordinary step; a termination; a truncation (stored with terminated = 0, its
    # s' the real final observation, so it bootstraps); a 3-step window (G = 1 + .9 + .81).
    returns = torch.tensor([1.0, -1.0, 0.5, 2.71])
    discounts = torch.tensor([gamma, gamma, gamma, gamma**3])
    terminated = torch.tensor([0.0, 1.0, 0.0, 0.0])
    q_next_target = torch.tensor([[2.0, 5.0], [7.0, 9.0], [4.0, 0.0], [1.0, 2.0]])
    q_next_online = torch.tensor([[3.0, 1.0], [0.0, 1.0], [0.0, 2.0], [5.0, 0.0]])
    double = q_learning_target(returns, discounts, terminated, q_next_target, q_next_online)
    # the online net picks a* (0, -, 1, 0), the target net values it (2, -, 0, 1)
    expected_double = [1 + 0.9 * 2, -1.0, 0.5 + 0.9 * 0, 2.71 + 0.729 * 1]
    np.testing.assert_allclose(double.numpy(), expected_double, rtol=1e-6)
    plain = q_learning_target(returns, discounts, terminated, q_next_target)
    expected_max = [1 + 0.9 * 5, -1.0, 0.5 + 0.9 * 4, 2.71 + 0.729 * 2]  # max_a Q_targ(s', a)
    np.testing.assert_allclose(plain.numpy(), expected_max, rtol=1e-6)


# --- n-step targets -----------------------------------------------------------------------


def _brute_nstep(rewards, terminated, truncated, gamma, n):
    """Walk forward from every (t, env) until n steps, the episode's end or the array's end."""
    T, N = rewards.shape
    G, m, ended = np.zeros((T, N)), np.zeros((T, N), int), np.zeros((T, N), bool)
    for t in range(T):
        for e in range(N):
            for k in range(n):
                if t + k >= T:
                    break
                G[t, e] += gamma**k * rewards[t + k, e]
                m[t, e] += 1
                if terminated[t + k, e]:
                    ended[t, e] = True
                    break
                if truncated[t + k, e]:
                    break
    return G, m, ended


@pytest.mark.parametrize("n", [1, 2, 3, 5])
@pytest.mark.parametrize("seed", [0, 1])
def test_nstep_returns_match_brute_force_across_episode_ends_and_truncations(n, seed):
    rng = np.random.default_rng(seed)
    T, N, gamma = 40, 4, 0.9
    rewards = rng.normal(size=(T, N))
    terminated = rng.random((T, N)) < 0.1
    truncated = rng.random((T, N)) < 0.1  # some steps both: the termination wins
    G, m, ended = nstep_returns(rewards, terminated, truncated, gamma, n)
    bG, bm, bended = _brute_nstep(rewards, terminated, truncated, gamma, n)
    np.testing.assert_allclose(G, bG, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(m, bm)
    np.testing.assert_array_equal(ended, bended)
    G1, m1, e1 = nstep_returns(rewards[:, 0], terminated[:, 0], truncated[:, 0], gamma, n)
    np.testing.assert_allclose(G1, bG[:, 0])  # one env: [T] in, [T] out
    assert m1.shape == (T,) and np.array_equal(e1, bended[:, 0])


@pytest.mark.parametrize("n", [1, 3])
def test_replay_windows_match_brute_force_for_n_envs_with_wraparound(n):
    rng = np.random.default_rng(3)
    N, gamma, steps = 3, 0.8, 40
    replay = NStepReplay((1,), size=20, num_envs=N, n_step=n, gamma=gamma)  # 7 rows of 3
    history = [[] for _ in range(N)]  # per env, in order: (obs id, r, term, trunc, s' id)
    for t in range(steps):
        obs = (100 * t + np.arange(N, dtype=np.float32))[:, None]
        rewards = rng.normal(size=N).astype(np.float32)
        term, trunc = rng.random(N) < 0.15, rng.random(N) < 0.15
        next_obs = obs + 0.5  # the real next observation, final or not
        replay.store(obs, rng.integers(2, size=N), rewards, next_obs, term, trunc)
        for e in range(N):
            history[e].append((obs[e, 0], rewards[e], term[e], trunc[e], next_obs[e, 0]))
    assert replay.size == replay.capacity == 21
    slots = np.arange(replay.capacity)
    w = replay.windows(slots)
    for i in slots:
        env = i % N
        j = next(k for k, h in enumerate(history[env]) if h[0] == replay.obs[i, 0])
        G, m, ended, last = 0.0, 0, False, None
        for k in range(n):  # forward through this env's own later steps, as they happened
            if j + k >= len(history[env]):
                break
            _, r, term, trunc, s_next = history[env][j + k]
            G, m, last = G + gamma**k * float(r), m + 1, s_next
            if term or trunc:
                ended = bool(term)
                break
        assert w["returns"][i] == pytest.approx(G, rel=1e-6, abs=1e-6)
        assert w["discounts"][i] == pytest.approx(gamma**m)
        assert w["terminated"][i] == ended
        assert replay.next_obs[w["last"][i], 0] == last
    batch, idx = replay.sample(16, rng)
    np.testing.assert_array_equal(
        batch["next_obs"].numpy()[:, 0], replay.next_obs[w["last"][idx], 0]
    )


# --- The networks ---------------------------------------------------------------------------


def test_dueling_head_subtracts_the_mean_advantage():
    torch.manual_seed(0)
    net = DuelingQNetwork(3, gym.spaces.Discrete(4), hid=(8,), act="relu")
    obs = torch.randn(5, 3)
    with torch.no_grad():
        features = torch.relu(net.trunk[0](obs))
        value = net.value(features)
        adv = net.advantage(features)
        q = net(obs)
        np.testing.assert_allclose(q, value + adv - adv.mean(-1, keepdim=True), atol=1e-6)
        np.testing.assert_allclose(q.mean(-1), value[:, 0], atol=1e-6)  # V(s) = mean_a Q(s, a)
        net.advantage.bias += 3.0  # a constant moved from A to nowhere leaves Q unchanged
        np.testing.assert_allclose(net(obs), q, atol=1e-6)
        assert torch.equal(net.deterministic(obs), q.argmax(-1))


@pytest.mark.parametrize("polyak", [0.0, 0.5])
def test_target_updates_copy_or_average_k_times_in_one_step(polyak):
    torch.manual_seed(0)
    agent = DQNAgent(3, gym.spaces.Discrete(2), Config(hid=(8,), polyak=polyak))
    with torch.no_grad():
        for p in agent.q.parameters():
            p.add_(1.0)  # the online network moves away from the target
    before = [p.clone() for p in agent.q_target.parameters()]
    agent.update_target(3)  # three updates fell due since the last phase
    for old, new, net in zip(
        before, agent.q_target.parameters(), agent.q.parameters(), strict=True
    ):
        expected = old
        for _ in range(3):  # three successive averages with the same online network
            expected = polyak * expected + (1 - polyak) * net.detach()
        torch.testing.assert_close(new, expected)  # polyak 0: a copy
    assert agent.target_updates == 3


def test_the_loss_weighs_each_sample_by_its_importance_weight():
    torch.manual_seed(1)
    agent = DQNAgent(3, gym.spaces.Discrete(2), Config(hid=(8,), max_grad_norm=None))
    B = 6
    batch = {
        "obs": torch.randn(B, 3),
        "actions": torch.tensor([0, 1, 1, 0, 1, 0]),
        "returns": torch.randn(B) * 3,
        "discounts": torch.full((B,), 0.99),
        "terminated": torch.tensor([0.0, 1, 0, 0, 1, 0]),
        "next_obs": torch.randn(B, 3),
        "weights": torch.tensor([1.0, 0.5, 0.0, 0.25, 1.0, 0.75]),
    }
    # The gradient of mean_i w_i Huber(Q(s_i, a_i) - y_i), written out on a copy.
    q_copy = copy.deepcopy(agent.q)
    with torch.no_grad():
        best = agent.q(batch["next_obs"]).argmax(-1, keepdim=True)  # Double DQN's a*
        v = agent.q_target(batch["next_obs"]).gather(-1, best)[:, 0]
        y = batch["returns"] + 0.99 * (1 - batch["terminated"]) * v
    q = q_copy(batch["obs"])[torch.arange(B), batch["actions"]]
    err = (q - y).abs()
    huber = torch.where(err < 1, 0.5 * err**2, err - 0.5)
    (batch["weights"] * huber).mean().backward()
    expected = torch.cat([p.grad.reshape(-1) for p in q_copy.parameters()])
    _, td_abs = agent.update(batch)
    torch.testing.assert_close(agent.q_opt.flat_grad, expected)
    np.testing.assert_allclose(td_abs, err.detach().numpy(), rtol=1e-6)


def test_epsilon_falls_linearly_over_the_exploration_fraction_then_stays():
    cfg = Config(eps_start=1.0, eps_end=0.1, exploration_fraction=0.2)
    budget = 10_000  # epsilon reaches 0.1 at step 2000
    assert linear_epsilon(0, budget, cfg) == 1.0
    assert linear_epsilon(500, budget, cfg) == pytest.approx(1.0 - 0.25 * 0.9)
    assert linear_epsilon(2000, budget, cfg) == pytest.approx(0.1)
    assert linear_epsilon(9000, budget, cfg) == pytest.approx(0.1)


# --- Learning the right values ----------------------------------------------------------------


class ConstantEnv(gym.Env):
    """Observation always 0, reward 1 per step, two actions that do nothing; with
    ``end_terminates`` the 5th step is a true termination, otherwise only a time limit of 5
    steps ends the episode."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, end_terminates: bool) -> None:
        self.end_terminates = end_terminates

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self.t += 1
        return np.zeros(1, np.float32), 1.0, self.end_terminates and self.t == 5, False, {}


@pytest.mark.parametrize(
    ("end_terminates", "n_step"),
    [(False, 1), (False, 3), (True, 1)],
    ids=["limit", "limit-3step", "end"],
)
def test_learned_q_is_the_closed_form_value_at_time_limits_and_terminations(end_terminates, n_step):
    # One observation, so Q(s, a) has one right value. A time limit is not part of the task:
    # every transition bootstraps and Q = 1 / (1 - gamma) = 10, with 1-step and with 3-step
    # targets (G = 1 + .9 + .81, then .729 Q). If the 5th step truly terminates, the aliased
    # state's value solves Q = 1 + gamma (4/5) Q: Q = 1 / 0.28 (1-step targets). One
    # gradient step and one soft target update per env step, as SAC's version of this test:
    # with phases of 50 the target would move 28 times, and 10 (1 - 0.9^28) = 9.48.
    gamma = 0.9
    expected = 1 / (1 - gamma) if not end_terminates else 1 / (1 - gamma * 4 / 5)
    result = spinrl.dqn(
        lambda: gym.wrappers.TimeLimit(ConstantEnv(end_terminates), 5),
        steps_per_epoch=1500, epochs=1, start_steps=1500, update_after=100, update_every=1,
        gradient_steps=None, batch_size=64, hid=(32, 32), gamma=gamma, q_lr=1e-3,
        target_update_every=1, polyak=0.9, n_step=n_step, loss="mse", num_test_episodes=1,
        verbose=False,
    )  # fmt: skip
    with torch.no_grad():
        q = result.agent.q(torch.zeros(1, 1))[0].numpy()
    record(f"DQN Q at {'termination' if end_terminates else 'time limit'}, n={n_step}",
           f"{expected:.2f}", f"{q.round(2).tolist()}")  # fmt: skip
    np.testing.assert_allclose(q, expected, rtol=0.2 if end_terminates else 0.02)


@pytest.mark.parametrize("env_id", ["CartPole-v1", "MountainCar-v0", "Acrobot-v1"])
def test_the_zoo_presets_update_on_the_steps_stable_baselines3_does(env_id, monkeypatch):
    # SB3 collects train_freq steps, then trains if num_timesteps > learning_starts.
    fields = TUNED["dqn"][env_id].fields
    freq, starts, total = fields["update_every"], fields["start_steps"], 2000
    phases = []
    monkeypatch.setattr(DQNLoop, "update_phase", lambda loop, epoch, n: phases.append(loop.steps))
    spinrl.dqn(env=env_id, **{**fields, "steps_per_epoch": 1000, "epochs": 2,
                              "num_test_episodes": 0, "hid": (8,), "verbose": False})  # fmt: skip
    sb3 = [t for t in range(1, total + 1) if t % freq == 0 and t > starts]
    assert phases == sb3


def test_plain_dqn_updates_as_stable_baselines3s_recipe_step_for_step():
    # SB3's DQN.train, written out in plain torch: max target from the target network, Huber
    # (smooth L1) loss, gradient norm clipping, torch's Adam; the same weights and
    # minibatches must give the same parameters after every step (rewards of +-100 so that
    # the Huber loss's linear part and the clipping both act).
    torch.manual_seed(0)
    space, actions = gym.spaces.Box(-np.inf, np.inf, (8,), np.float32), gym.spaces.Discrete(4)
    # a small gradient-norm cap, so that the clipping acts (Huber gradients are small)
    cfg = Config(
        **{**TUNED["dqn"]["LunarLander-v3"].fields, "hid": (32, 32), "max_grad_norm": 0.05}
    )
    agent = DQNAgent(space, actions, cfg)
    ref = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Linear(32, 32),
                              torch.nn.ReLU(), torch.nn.Linear(32, 4))  # fmt: skip
    with torch.no_grad():
        for mine, theirs in zip(agent.q.parameters(), ref.parameters(), strict=True):
            theirs.copy_(mine)
    ref_target = copy.deepcopy(ref).requires_grad_(False)
    opt = torch.optim.Adam(ref.parameters(), lr=cfg.q_lr)
    rng, n = np.random.default_rng(0), cfg.batch_size
    for _ in range(4):
        b = {
            "obs": torch.randn(n, 8), "next_obs": torch.randn(n, 8),
            "actions": torch.as_tensor(rng.integers(0, 4, n)),
            "returns": torch.as_tensor(rng.choice([-100, -1, 0.5, 100], n), dtype=torch.float32),
            "discounts": torch.full((n,), cfg.gamma), "weights": torch.ones(n),
            "terminated": torch.as_tensor(rng.random(n) < 0.2, dtype=torch.float32),
        }  # fmt: skip
        agent.update(b)
        with torch.no_grad():
            y = (
                b["returns"]
                + cfg.gamma * (1 - b["terminated"]) * ref_target(b["next_obs"]).max(1).values
            )
        q = ref(b["obs"]).gather(1, b["actions"][:, None]).squeeze(1)
        loss = torch.nn.functional.smooth_l1_loss(q, y)
        opt.zero_grad()
        loss.backward()
        clipped = torch.nn.utils.clip_grad_norm_(ref.parameters(), cfg.max_grad_norm)
        opt.step()
        assert clipped > cfg.max_grad_norm  # the clipping acted
        for mine, theirs in zip(agent.q.parameters(), ref.parameters(), strict=True):
            torch.testing.assert_close(mine, theirs, rtol=1e-5, atol=1e-6)


def test_the_lunarlander_preset_trains_as_stable_baselines3s_dqn_bit_for_bit(monkeypatch):
    # Everything around the update, against SB3's own DQN with the preset's settings read
    # back into SB3's names (as benchmarks/tuned.py does). spinrl runs first and records its
    # env seed, initial weights, every action and every minibatch's slots; SB3 then starts
    # from the same weights and env seed, takes the same actions and draws the same slots.
    # The rest is SB3's own: epsilon, when it trains and for how many steps, when it copies
    # the target, what it stores (a time limit bootstraps), its greedy action and update. A
    # replay of 256 wraps around; a time limit of 150 steps ends episodes both ways. SB3
    # gets torch's fused Adam, FlatAdam's kernel: with its default (foreach) Adam the
    # parameters differ by ~1e-8 after one step and drift apart as training amplifies it
    # (measured on this preset: 4e-6 at step 250, 2e-4 at 500, 0.2 at 800).
    pytest.importorskip("stable_baselines3")
    from stable_baselines3 import DQN
    from stable_baselines3.common.env_util import make_vec_env

    from spinrl import envs as spinrl_envs

    steps, limit = 600, 150
    fields = {**TUNED["dqn"]["LunarLander-v3"].fields, "replay_size": 256}
    seen = {"seeds": [], "init": [], "actions": [], "greedy": [], "eps": [], "slots": []}
    seen |= {"terminated": 0, "truncated": 0}
    reset, init = spinrl_envs.LeanSyncVectorEnv.reset, DQNAgent.__init__
    explore, sample, store = DQNAgent.explore, NStepReplay.sample, DQNLoop.store

    def recording_reset(envs, *, seed=None, options=None):
        seen["seeds"].append(seed)
        return reset(envs, seed=seed, options=options)

    def recording_init(agent, *args):
        init(agent, *args)
        seen["init"].append(copy.deepcopy(agent.q.state_dict()))

    def recording_explore(agent, obs, rng, epsilon):
        seen["eps"].append(epsilon)
        seen["greedy"].append(int(agent.deterministic(obs)[0]))
        actions = explore(agent, obs, rng, epsilon)
        seen["actions"].append(int(actions[0]))
        return actions

    def recording_sample(replay, batch_size, rng, beta=1.0):
        batch, slots = sample(replay, batch_size, rng, beta)
        seen["slots"].append(slots)
        return batch, slots

    def counting_store(loop, obs, actions, rewards, next_obs, terminated, truncated):
        seen["terminated"] += int(terminated.sum())
        seen["truncated"] += int(truncated.sum())
        store(loop, obs, actions, rewards, next_obs, terminated, truncated)

    monkeypatch.setattr(spinrl_envs.LeanSyncVectorEnv, "reset", recording_reset)
    monkeypatch.setattr(DQNAgent, "__init__", recording_init)
    monkeypatch.setattr(DQNAgent, "explore", recording_explore)
    monkeypatch.setattr(NStepReplay, "sample", recording_sample)
    monkeypatch.setattr(DQNLoop, "store", counting_store)
    result = spinrl.dqn(env="LunarLander-v3", **fields, steps_per_epoch=steps, epochs=1,
                        max_ep_len=limit, num_test_episodes=0, verbose=False)  # fmt: skip
    assert seen["terminated"] > 0 and seen["truncated"] > 0  # both kinds of episode end

    theirs = {"eps": [], "greedy": []}

    class SameActions(DQN):
        def predict(self, obs, state=None, episode_start=None, deterministic=False):
            theirs["eps"].append(self.exploration_rate)
            theirs["greedy"].append(int(self.policy.predict(obs, deterministic=True)[0][0]))
            return np.array([seen["actions"][len(theirs["eps"]) - 1]]), None

    f = fields
    model = SameActions(
        "MlpPolicy",
        make_vec_env("LunarLander-v3", n_envs=1, seed=seen["seeds"][0][0],
                     env_kwargs={"max_episode_steps": limit}),
        learning_rate=f["q_lr"], batch_size=f["batch_size"], buffer_size=f["replay_size"],
        learning_starts=f["start_steps"], gamma=f["gamma"],
        target_update_interval=f["target_update_every"], train_freq=f["update_every"],
        gradient_steps=-1 if f["gradient_steps"] is None else f["gradient_steps"],
        exploration_fraction=f["exploration_fraction"], exploration_final_eps=f["eps_end"],
        policy_kwargs={"net_arch": list(f["hid"]), "optimizer_kwargs": {"fused": True}},
        device="cpu",
    )  # fmt: skip
    weights = dict(zip(model.q_net.q_net.state_dict(), seen["init"][0].values(), strict=True))
    model.q_net.q_net.load_state_dict(weights)
    model.q_net_target.q_net.load_state_dict(weights)
    buffer, drawn = model.replay_buffer, iter(seen["slots"])

    def same_slots(batch_size, env=None):
        slots = next(drawn, None)
        assert slots is not None, "SB3 takes more gradient steps than spinrl took"
        return buffer._get_samples(slots, env)

    monkeypatch.setattr(buffer, "sample", same_slots)
    model.learn(total_timesteps=steps)

    # the same number of gradient steps, on the same minibatches, every one used
    assert model._n_updates == len(seen["slots"]) == steps and next(drawn, None) is None
    # epsilon: SB3's first action is greedy (exploration_rate is 0 until the first step
    # sets it), spinrl's is drawn at eps_start; every later step's is the same
    assert theirs["eps"][0] == 0.0 and seen["eps"][0] == 1.0
    np.testing.assert_allclose(theirs["eps"][1:], seen["eps"][1:], rtol=1e-12)
    assert theirs["greedy"] == seen["greedy"]  # the greedy action at every step
    replay = result.replay
    assert buffer.full and replay.capacity == buffer.buffer_size and replay.ptr == buffer.pos
    np.testing.assert_array_equal(replay.obs, buffer.observations[:, 0])
    np.testing.assert_array_equal(replay.next_obs, buffer.next_observations[:, 0])
    np.testing.assert_array_equal(replay.actions, buffer.actions[:, 0, 0])
    np.testing.assert_array_equal(replay.rewards, buffer.rewards[:, 0])
    terminal = buffer.dones[:, 0] * (1 - buffer.timeouts[:, 0])  # what SB3's target reads
    np.testing.assert_array_equal(replay.terminated, terminal)
    for mine, sb3 in ((result.agent.q, model.q_net.q_net),
                      (result.agent.q_target, model.q_net_target.q_net)):  # fmt: skip
        for a, b in zip(mine.parameters(), sb3.parameters(), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)  # bit for bit, measured
    moved = result.agent.q.state_dict()["head.weight"] - seen["init"][0]["head.weight"]
    assert moved.abs().max() > 1e-2  # the networks trained


# --- Bad input, reloading, learning ----------------------------------------------------------


def test_box_actions_are_refused_in_one_line_before_training(capsys):
    with pytest.raises(EnvError, match="dqn needs Discrete actions"):
        spinrl.dqn(env="Pendulum-v1", steps_per_epoch=100, epochs=1, verbose=False)
    assert main(["train", "dqn", "--env", "Pendulum-v1", "--quiet"]) == 2
    err = capsys.readouterr().err
    record("Box actions, dqn (CLI)", "one line, exit 2", f"{err.count(chr(10))} line(s)")
    assert err.count("\n") == 1 and "Discrete" in err
    assert main(["list"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if " dqn " in line)
    assert "Discrete" in row and "Box" not in row


def test_a_dqn_run_reloads_as_its_greedy_policy_and_can_be_watched(tmp_path, capsys):
    out = tmp_path / "dqn"
    result = spinrl.dqn(
        env="CartPole-v1", steps_per_epoch=300, epochs=1, start_steps=100, update_after=100,
        update_every=50, gradient_steps=10, hid=(16,), dueling=True, n_step=2,
        prioritized=True, num_test_episodes=1, output_dir=str(out), verbose=False,
    )  # fmt: skip
    obs = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    greedy = result.agent.q(torch.from_numpy(obs)).argmax(-1).numpy()
    for deterministic in (True, False):  # a greedy policy either way
        np.testing.assert_array_equal(load_policy(out, deterministic=deterministic)(obs), greedy)
    assert main(["watch", str(out), "--episodes", "2"]) == 0
    assert "mean" in capsys.readouterr().out


DOUBLE_ONLY = dict(dueling=False, prioritized=False, n_step=1)  # the zoo's + Double DQN


@pytest.mark.slow
@pytest.mark.parametrize(
    ("seed", "switches"),
    [(0, {}), (1, {}), (2, {}), (0, DOUBLE_ONLY)],
    ids=["seed0", "seed1", "seed2", "double-only-seed0"],
)
def test_dqn_learns_cartpole_greedy_475_within_50k_steps(seed, switches):
    returns = []

    def track(run):
        returns.append(run.last_row["AverageTestEpRet"])
        return False

    spinrl.dqn(env="CartPole-v1", seed=seed, verbose=False, callback=track, **switches)
    record(f"DQN CartPole-v1 seed {seed} {switches}", "greedy >= 475 within 50k", f"{returns}")
    assert max(returns) >= 475, returns


def test_dqn_learns_an_image_task_through_the_cnn_and_reloads(tmp_path):
    """BrightSide (tests/conftest.py): a 12x12 uint8 frame, the bright pixel's side is the
    right action. Through the MinAtar-sized CNN, DQN must learn to read it: seeds 0-2 score
    7.2-7.9 of 8 greedily after 2000 steps and pick the right side for 91-97% of fresh frames
    (measured); a policy blind to the image scores 4 and 50%."""
    from conftest import BrightSide

    result = spinrl.dqn(
        BrightSide,
        steps_per_epoch=500,
        epochs=4,
        start_steps=200,
        update_after=200,
        update_every=8,
        gradient_steps=None,
        hid=(64,),
        q_lr=1e-3,
        target_update_every=100,
        batch_size=32,
        exploration_fraction=0.5,
        replay_size=2000,
        n_step=1,  # one-step bandit-like episodes: the encoder is what is tested
        dueling=False,
        prioritized=False,
        output_dir=str(tmp_path),
        verbose=False,
    )
    assert result.replay.rings.frames.dtype == np.uint8  # frames stay bytes, stored once
    assert result.last_row["AverageTestEpRet"] >= 6.5, result.last_row
    env = BrightSide()
    frames = np.stack([env.reset(seed=i)[0] for i in range(64)])
    sides = (frames[..., 0].argmax(-1).max(-1) >= 6).astype(int)
    policy = load_policy(tmp_path, deterministic=True)
    np.testing.assert_array_equal(policy(frames), result.act(frames, deterministic=True))
    assert (policy(frames) == sides).mean() >= 0.85
