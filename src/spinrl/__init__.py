"""spinrl: deep reinforcement learning you can read, trust and run fast.

Python API, mirroring the command line::

    import spinrl
    result = spinrl.vpg(env="CartPole-v1", epochs=20, output_dir="data/vpg")
    result = spinrl.vpg(env_fn=lambda: gymnasium.make("Acrobot-v1"), seed=3)
    rows, raw = spinrl.variance.measure("FrozenLake-v1")          # spinrl variance
"""

from __future__ import annotations

import os

# Intel MKL (torch's matrix library on x86 CPUs) may differ in the last bits from one
# process to the next unless its "conditional numerical reproducibility" setting pins it
# down. On an Intel Xeon a resumed TD3 run drifted from the uninterrupted one in the 8th
# digit with MKL's default and with MKL_CBWR=AUTO, and matched with AUTO,STRICT (which
# operation differed was not pinned down: products on operands shifted in memory matched
# in isolation). Measured there: PPO's CartPole-v1 training time unchanged, a SAC update
# within 1%. MKL reads the setting at its first product, so it holds where spinrl is
# imported before any torch product is computed; an MKL_CBWR the user set is kept.
os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")

__version__ = "0.1.0"


def _api(name: str):
    def run(env_fn=None, *, output_dir=None, verbose=True, resume=False, callback=None, **config):
        from spinrl.algos import ALGOS
        from spinrl.config import build_config
        from spinrl.presets import preset_fields

        module = ALGOS[name]
        preset = config.pop("preset", None)
        if preset is not None:
            from spinrl.envs import env_name

            env_id = env_name(env_fn) if env_fn is not None else config.get("env")
            fields = preset_fields(name, preset, env_id or module.Config().env)
            if "epochs" in config:  # the caller sets the length: not the preset's budget
                fields.pop("total_steps", None)
            config = {**fields, **config}
        cfg = build_config(module.Config, config)
        return module.train(cfg, env_fn, output_dir, verbose, resume, callback)

    run.__name__ = name
    run.__doc__ = (
        f"Train with {name}; keyword arguments are the fields of spinrl.algos.{name}.Config; "
        "preset= names a set from spinrl.presets ('tuned': the settings listed for the env)."
    )
    return run


pg = _api("pg")
vpg = _api("vpg")
ppo = _api("ppo")
trpo = _api("trpo")
ddpg = _api("ddpg")
td3 = _api("td3")
sac = _api("sac")
dqn = _api("dqn")
pets = _api("pets")
mbpo = _api("mbpo")

from spinrl import variance as variance  # noqa: E402  (spinrl.variance.measure, measure_sampled)
