"""Planning with a given model: the torch port of Pendulum-v1 against Gymnasium step for
step, CEM and random shooting against a known optimum, and MPC on the true dynamics swinging
the pendulum up."""

import gymnasium as gym
import numpy as np
import torch

from spinrl.planning import MPC, PendulumModel, cem, random_shooting, sequence_returns


def test_pendulum_model_matches_gymnasium_step_for_step():
    env = gym.make("Pendulum-v1").unwrapped
    model = PendulumModel()
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    for t in range(400):
        if t % 100 == 0:
            env.reset(seed=t)
        state = torch.as_tensor(env.state, dtype=torch.float64)
        u = rng.uniform(-3, 3, size=1)  # beyond the bounds too: both clip the torque
        _, reward, *_ = env.step(u.astype(np.float32))
        next_state, model_reward = model.step_state(state, torch.as_tensor(u.astype(np.float32)))
        np.testing.assert_allclose(next_state.numpy(), env.state, rtol=0, atol=1e-12)
        assert abs(model_reward.item() - reward) < 1e-12


class Quadratic:
    """A model whose reward is -(a - target)^2 at every step, whatever the observation."""

    target = torch.tensor([0.3, -0.7], dtype=torch.float64)

    def step(self, obs, action):
        return obs, -((action - self.target) ** 2).sum(-1)


def test_cem_and_random_shooting_find_the_optimum_of_a_known_quadratic():
    obs = torch.zeros(1, dtype=torch.float64)
    low, high = [-1.0, -1.0], [1.0, 1.0]
    gen = torch.Generator().manual_seed(0)
    plan = cem(Quadratic(), obs, 4, 300, 30, 8, low, high, generator=gen)
    np.testing.assert_allclose(plan.numpy(), Quadratic.target.expand(4, 2).numpy(), atol=0.02)
    first, _ = random_shooting(Quadratic(), obs, 1, 5000, low, high, generator=gen)
    np.testing.assert_allclose(first.numpy(), Quadratic.target.numpy(), atol=0.1)
    # the returns are sums over the horizon: H steps at the optimum return 0
    best = Quadratic.target.expand(1, 3, 2)
    assert sequence_returns(Quadratic(), obs, best).item() == 0.0


def test_mpc_with_the_true_pendulum_dynamics_swings_up():
    # The model given: planning on the true dynamics swings up from hanging and holds the
    # pendulum upright. A random policy scores about -1200 here, an uncontrolled one about
    # -900 to -1400; swinging up costs about -150 to -400 depending on the start.
    env = gym.make("Pendulum-v1")
    mpc = MPC(PendulumModel(), env.action_space, horizon=20, population=150, elites=15,
              iterations=3, seed=0)  # fmt: skip
    obs, _ = env.reset(seed=0)
    env.unwrapped.state = np.array([np.pi, 0.0])  # hanging straight down, at rest
    obs = np.array([-1.0, 0.0, 0.0], np.float32)
    total, angles = 0.0, []
    for _ in range(200):
        obs, reward, *_ = env.step(mpc.act(obs))
        total += reward
        angles.append(abs(np.arctan2(obs[1], obs[0])))
    assert total > -500, total
    assert max(angles[-50:]) < 0.2, max(angles[-50:])  # upright for the last 50 steps
