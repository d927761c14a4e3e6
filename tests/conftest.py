"""Shared test settings; prints the fault matrix of tests/test_faults.py at the end of a run."""

import os

import gymnasium as gym
import numpy as np
from hypothesis import settings

# CI runs a fixed sequence of examples, so a green run can be repeated exactly; locally
# hypothesis keeps exploring new random examples.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


def pytest_terminal_summary(terminalreporter):
    import sys

    module = sys.modules.get("test_faults") or sys.modules.get("tests.test_faults")
    rows = getattr(module, "MATRIX", None)
    if not rows:
        return
    width = max(len(case) for case, _, _ in rows)
    terminalreporter.section(f"fault matrix ({len(rows)} cases)")
    terminalreporter.write_line(f"{'case':<{width}}  | expected | observed")
    for case, expected, observed in rows:
        terminalreporter.write_line(f"{case:<{width}}  | {expected} | {observed}")


# A tiny off-policy budget (DDPG, TD3, SAC): enough for updates and a test phase, a second.
OFF_POLICY_TINY = dict(
    steps_per_epoch=60,
    epochs=1,
    start_steps=30,
    update_after=30,
    update_every=10,
    batch_size=16,
    hid=(8,),
    num_test_episodes=1,
    max_ep_len=20,
)

# A tiny PETS budget: random data, a refit, planned steps, a test episode; a second or two.
PETS_TINY = dict(
    steps_per_epoch=30,
    epochs=2,
    init_steps=20,
    max_ep_len=15,
    hid=(8,),
    members=2,
    particles=2,
    population=8,
    elites=2,
    iterations=2,
    horizon=3,
    model_epochs=2,
    num_test_episodes=1,
)

# A tiny MBPO budget: random data, a refit and model rollouts, mixed-batch SAC updates.
MBPO_TINY = dict(
    steps_per_epoch=40,
    epochs=2,
    start_steps=20,
    update_after=20,
    updates_per_step=1,
    batch_size=16,
    hid=(8,),
    members=2,
    model_hid=(8,),
    model_epochs=2,
    model_train_freq=20,
    rollouts_per_step=2,
    k_schedule=(0, 1, 1, 2),
    num_test_episodes=1,
    max_ep_len=20,
)


def falling_ensemble():
    """A hand-built GaussianEnsemble with a termination head, over a 1-d observation and a
    1-d action: every step leaves the observation where it is and pays reward 1 (noise
    std e^-20); member 0 ends the episode where the action exceeds 0.5 (termination logit
    100 relu(a) - 50), member 1 never (logit -50)."""
    import torch

    from spinrl.models import GaussianEnsemble

    model = GaussianEnsemble(1, 1, members=2, hid=(1,), act="relu", termination_head=True)
    with torch.no_grad():
        for param in model.parameters():
            param.zero_()
        model.weights[0][:, 1, 0] = 1.0  # hidden unit: relu(action)
        # outputs: mean (delta obs, reward), log var (delta obs, reward), termination logit
        model.biases[1][:, 0] = torch.tensor([0.0, 1.0, -1000.0, -1000.0, -50.0])
        model.weights[1][0, 0, 4] = 100.0
        model.max_log_var.fill_(0.5)
        model.min_log_var.fill_(-40.0)
    return model


# --- Toy environments shared by several test files -------------------------------------------


class ConstantEnv(gym.Env):
    """Same observation every step, reward 1, never terminates: only a time limit ends it."""

    observation_space = gym.spaces.Box(-1, 1, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(1, np.float32), {}

    def step(self, action):
        return np.zeros(1, np.float32), 1.0, False, False, {}


class Toy1D(gym.Env):
    """A custom (unregistered) task: move a point on a line to 0 in at most 20 steps.
    Action 0 moves left, 1 right; the reward is -|x|."""

    observation_space = gym.spaces.Box(-10, 10, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.x, self.t = float(self.np_random.uniform(-3, 3)), 0
        return np.array([self.x], np.float32), {}

    def step(self, action):
        self.x += 0.5 if int(action) == 1 else -0.5
        self.t += 1
        return np.array([self.x], np.float32), -abs(self.x), False, self.t >= 20, {}


class BrightSide(gym.Env):
    """A tiny image task: a 12x12 grey uint8 frame (channels last) with one bright pixel at a
    random place in its left or right half; action 0 says left, 1 right; reward 1 if right.
    Eight frames an episode (terminated), so a policy that reads the image scores 8 and
    one that does not about 4."""

    observation_space = gym.spaces.Box(0, 255, (12, 12, 1), np.uint8)
    action_space = gym.spaces.Discrete(2)

    def _frame(self):
        self.side = int(self.np_random.integers(2))
        frame = np.zeros((12, 12, 1), np.uint8)
        row, col = self.np_random.integers(12), self.np_random.integers(6) + 6 * self.side
        frame[row, col, 0] = 255
        return frame

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._frame(), {}

    def step(self, action):
        reward = float(int(action) == self.side)
        self.t += 1
        return self._frame(), reward, self.t >= 8, False, {}


class BrightSideContinuous(BrightSide):
    """BrightSide with one continuous action in [-1, 1]: reward a if the pixel is on the
    right, -a if on the left (for SAC and TD3)."""

    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def step(self, action):
        reward = float(action[0]) * (1.0 if self.side else -1.0)
        self.t += 1
        return self._frame(), reward, self.t >= 8, False, {}


class DictBrightSide(BrightSideContinuous):
    """BrightSideContinuous seen as a Dict: the image, a float vector (the step count and a
    constant) and a Discrete entry (the step count mod 3)."""

    observation_space = gym.spaces.Dict(
        {
            "image": BrightSide.observation_space,
            "vec": gym.spaces.Box(-10.0, 10.0, (2,), np.float32),
            "phase": gym.spaces.Discrete(3),
        }
    )

    def _obs(self, frame):
        return {"image": frame, "vec": np.array([self.t, 1.0], np.float32), "phase": self.t % 3}

    def reset(self, *, seed=None, options=None):
        frame, info = super().reset(seed=seed)
        return self._obs(frame), info

    def step(self, action):
        frame, reward, terminated, truncated, info = super().step(action)
        return self._obs(frame), reward, terminated, truncated, info
