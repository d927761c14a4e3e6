"""One module per algorithm; each has ``Config``, ``train(cfg, env_fn, output_dir, verbose)``
and ``ACTION_SPACES``. ALGOS is how the CLI and the grid find them."""

from types import ModuleType

from spinrl.algos import pg, ppo, trpo, vpg

ALGOS: dict[str, ModuleType] = {"pg": pg, "vpg": vpg, "ppo": ppo, "trpo": trpo}
