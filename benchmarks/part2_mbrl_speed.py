"""Planning time per env step: MBRL-Lib 0.2.0 against spinrl at identical settings
(Pendulum-v1: an untrained ensemble of 5 Gaussian MLPs of 3 x 64 silu units, CEM population
100, 10% elites, 4 iterations, momentum 0.1, horizon 25, 5 particles, TS-inf (MBRL-Lib's
fixed_model), the reward known, no termination), torch on 1 thread, median of N steps.

MBRL-Lib 0.2.0 pins gymnasium 0.26.3 and hydra-core 1.0.3, which does not import on Python
3.11 (a dataclass with a mutable default), so it gets a Python 3.10 virtualenv of its own:

    python3.10 -m venv /tmp/mbrl310 && /tmp/mbrl310/bin/pip install torch mbrl==0.2.0 "numpy<2"
    /tmp/mbrl310/bin/python benchmarks/part2_mbrl_speed.py mbrl 15
    .venv/bin/python benchmarks/part2_mbrl_speed.py spinrl 15

(numpy < 2: gymnasium 0.26.3 uses np.bool8.) MBRL-Lib's reward function sees the next
observation, spinrl's the current one; the cost per step is the same formula.
"""

import sys
import time

import gymnasium as gym
import numpy as np
import torch

torch.set_num_threads(1)
which = sys.argv[1]

env = gym.make("Pendulum-v1")
obs0, _ = env.reset(seed=0)
rng = np.random.default_rng(0)
N = int(sys.argv[2]) if len(sys.argv) > 2 else 15
if which == "mbrl":
    import mbrl.env.termination_fns as tf
    import mbrl.models as models
    import mbrl.planning as planning
    import mbrl.util.common as cu
    import omegaconf

    def reward_fn(act, next_obs):
        th = torch.atan2(next_obs[:, 1], next_obs[:, 0])
        return -(th**2 + 0.1 * next_obs[:, 2] ** 2 + 0.001 * act[:, 0] ** 2).view(-1, 1)

    cfg = omegaconf.OmegaConf.create(
        {
            "dynamics_model": {
                "_target_": "mbrl.models.GaussianMLP",
                "device": "cpu",
                "num_layers": 4,
                "ensemble_size": 5,
                "hid_size": 64,
                "in_size": "???",
                "out_size": "???",
                "deterministic": False,
                "propagation_method": "fixed_model",
                "activation_fn_cfg": {"_target_": "torch.nn.SiLU"},
            },
            "algorithm": {"learned_rewards": False, "target_is_delta": True, "normalize": True},
            "overrides": {
                "trial_length": 200,
                "num_steps": 3000,
                "model_batch_size": 32,
                "validation_ratio": 0.05,
            },
        }
    )
    model = cu.create_one_dim_tr_model(cfg, env.observation_space.shape, env.action_space.shape)
    buf = cu.create_replay_buffer(cfg, env.observation_space.shape, env.action_space.shape, rng=rng)
    cu.rollout_agent_trajectories(
        env, 200, planning.RandomAgent(env), {}, replay_buffer=buf, trial_length=200
    )
    model.update_normalizer(buf.get_all())
    gen = torch.Generator().manual_seed(0)
    menv = models.ModelEnv(env, model, tf.no_termination, reward_fn, generator=gen)
    acfg = omegaconf.OmegaConf.create(
        {
            "_target_": "mbrl.planning.TrajectoryOptimizerAgent",
            "planning_horizon": 25,
            "replan_freq": 1,
            "verbose": False,
            "action_lb": "???",
            "action_ub": "???",
            "optimizer_cfg": {
                "_target_": "mbrl.planning.CEMOptimizer",
                "num_iterations": 4,
                "elite_ratio": 0.1,
                "population_size": 100,
                "alpha": 0.1,
                "device": "cpu",
                "lower_bound": "???",
                "upper_bound": "???",
                "return_mean_elites": True,
                "clipped_normal": False,
            },
        }
    )
    agent = planning.create_trajectory_optim_agent_for_model(menv, acfg, num_particles=5)
    act = agent.act
else:
    from spinrl.models import GaussianEnsemble
    from spinrl.planning import MPC, pendulum_reward

    m = GaussianEnsemble(3, 1, 5, (64, 64, 64))
    obs = rng.uniform(-1, 1, (200, 3))
    a = rng.uniform(-2, 2, (200, 1))
    m.set_normalizers(
        torch.as_tensor(np.concatenate([obs, a], 1), dtype=torch.float32), torch.randn(200, 4)
    )
    mpc = MPC(
        m,
        env.action_space,
        25,
        100,
        10,
        4,
        0,
        0.1,
        torch.float32,
        particles=5,
        propagation="tsinf",
        reward_fn=pendulum_reward,
    )
    act = mpc.act
obs = obs0
act(obs)
times = []
for _ in range(N):
    t = time.perf_counter()
    a = act(obs)
    times.append(time.perf_counter() - t)
    obs, *_ = env.step(np.asarray(a, np.float32))
print(
    which,
    "median ms per env step",
    round(1e3 * float(np.median(times)), 1),
    "mean",
    round(1e3 * float(np.mean(times)), 1),
)
