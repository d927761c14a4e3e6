"""One module per algorithm; each has ``Config``, ``train(cfg, env_fn, output_dir, verbose)``
and ``ACTION_SPACES``. ALGOS is how the CLI and the grid find them."""

from types import ModuleType

from spinrl.algos import ddpg, dqn, mbpo, pets, pg, ppo, sac, td3, trpo, vpg

ALGOS: dict[str, ModuleType] = {
    "pg": pg,
    "vpg": vpg,
    "ppo": ppo,
    "trpo": trpo,
    "ddpg": ddpg,
    "td3": td3,
    "sac": sac,
    "dqn": dqn,
    "pets": pets,
    "mbpo": mbpo,
}
