"""Published hyperparameters, in one table: named presets, and tuned settings per environment.

    NAMED[algo][name]      --preset NAME (mujoco, atari, spinningup), or preset=NAME in Python
    TUNED[algo][env_id]    applied by ``spinrl train ALGO --env ID`` when the id is listed,
                           with one line saying so; explicit flags still win, and
                           ``--preset none`` keeps the plain Config defaults. In Python,
                           preset="tuned" applies them (the API never changes a field unasked).

The tuned entries translate rl-baselines3-zoo's hyperparams/{ppo,sac,td3,dqn}.yml (DLR-RM/
rl-baselines3-zoo at commit 22e3ff2, April 2026) field by field, with Stable-Baselines3's
defaults for the fields the zoo leaves out:

    PPO  n_envs -> num_envs; n_steps * n_envs -> steps_per_epoch; batch_size ->
         minibatch_size; n_epochs -> update_epochs; learning_rate -> pi_lr = vf_lr (lin_ ->
         anneal_lr); clip_range -> clip_ratio (lin_ -> anneal_clip); gae_lambda -> lam;
         normalize -> normalize_obs and normalize_reward; vf_coef -> 2 * vf_coef (SB3's value
         loss is the mean squared error, spinrl's half of it); net_arch, activation_fn,
         ortho_init, log_std_init as named; use_sde -> sde, sde_sample_freq as named.
    SAC  learning_rate -> lr; buffer_size -> replay_size; learning_starts -> start_steps
         (SB3 acts uniformly at random until learning starts) and update_after = train_freq
         * (learning_starts // train_freq) + 1 (as DQN's below: the update phases then fall
         on SB3's steps); tau -> polyak = 1 - tau; train_freq = gradient_steps ->
         update_every; ent_coef 'auto' -> alpha None (alpha_init 1, as SB3), a number ->
         alpha; use_sde -> sde, with policy_kwargs' log_std_init.
    TD3  as SAC, learning_rate -> pi_lr = q_lr; SB3 adds its noise in the policy's [-1, 1]
         units, spinrl in the action's own: noise_std, target noise 0.2 and its clip 0.5 are
         multiplied by the action range's half-width (2 on Pendulum-v1, 1 elsewhere here).
         One difference, in every TD3 entry's differs: SB3 adds its action noise to the
         uniform random actions of the warm-up too (then clips them to the bounds), spinrl
         acts uniformly at random there, as Spinning Up does.
    DQN  learning_rate -> q_lr; buffer_size -> replay_size; learning_starts -> start_steps;
         train_freq -> update_every, gradient_steps -> gradient_steps (-1 -> None, one per
         env step); target_update_interval -> target_update_every with tau 1 -> polyak 0;
         exploration_fraction and exploration_final_eps -> exploration_fraction, eps_end;
         double false (SB3's DQN has only the max target); Huber loss and gradient norm 10,
         as SB3. SB3 trains at the multiples of train_freq past learning_starts; spinrl's
         loop counts update_every from update_after, so update_after = train_freq *
         (learning_starts // train_freq) + 1 puts the phases on the same steps. The one
         difference left: SB3's very first action is greedy (its exploration_rate is 0 until
         the first step sets it), spinrl's is drawn with eps_start; every later step's
         epsilon, the updates, the target copies and the replay are SB3's, bit for bit with
         the same random draws (tests/test_dqn.py runs the LunarLander-v3 entry against
         SB3's DQN).

Where an entry does not do exactly what the zoo does, its ``differs`` says so and is printed
with it: a learning-rate schedule spinrl's SAC does not have (LunarLanderContinuous), TD3's
warm-up without action noise, and PPO's MountainCarContinuous entry, which keeps a plain
Gaussian on purpose where the zoo uses gSDE (measured, in the entry).
``budget`` is the zoo's n_timesteps: applying an entry sets total_steps to it unless the run
gives epochs or total_steps itself. benchmarks/tuned.py measures every entry against the
zoo's published return.
"""

from __future__ import annotations

from dataclasses import dataclass

from spinrl.errors import ConfigError

ZOO = "rl-baselines3-zoo hyperparams/{}.yml (commit 22e3ff2)"

# The MinAtar paper's DQN (Young & Tian 2019, "MinAtar: An Atari-Inspired Testbed for
# Thorough and Reproducible Reinforcement Learning Experiments", its DQN table, and its code,
# kenjyoung/MinAtar examples/dqn.py at 4241f24): one 3x3 conv of 16 filters and a 128-unit
# layer (the "minatar" encoder, picked for 10x10 frames; hid () puts the head on it), replay
# 100k, batch 32, centered RMSprop (lr 2.5e-4, squared-gradient momentum alpha 0.95, min
# squared gradient eps 0.01, no momentum), Huber loss, no gradient clipping, the max target
# (plain DQN), target network copied every 1000 steps, epsilon 1 -> 0.1 linearly over the
# 100k frames after a replay start of 5000 uniformly random frames, one update a frame
# from the 5002nd frame on, gamma 0.99, no frame skip, 5M frames. Where spinrl differs:
# the target copies fall on env steps 6000, 7000, ... just before that step's update (the
# code copies after every 1000th update: two updates later); minibatches are drawn with
# replacement (the code's random.sample draws without); MinAtar/*-v1 ids use the minimal
# action set (the paper used all six actions: the -v0 ids); every epoch of 10k steps ends
# with greedy test episodes (the paper reports training returns: AverageEpRet).
MINATAR_DQN = dict(
    num_envs=1,
    steps_per_epoch=10_000,
    replay_size=100_000,
    batch_size=32,
    optimizer="rmsprop",
    q_lr=2.5e-4,
    rmsprop_alpha=0.95,
    rmsprop_eps=0.01,
    loss="huber",
    max_grad_norm=None,
    double=False,
    dueling=False,
    n_step=1,
    prioritized=False,
    target_update_every=1000,
    polyak=0.0,
    eps_start=1.0,
    eps_end=0.1,
    exploration_steps=100_000,
    start_steps=5000,
    update_after=5002,
    update_every=1,
    gradient_steps=None,
    gamma=0.99,
    hid=(),
    act="relu",
)
MINATAR_GAMES = ("Asterix", "Breakout", "Freeway", "Seaquest", "SpaceInvaders")
MINATAR_DIFFERS = (
    "target copies two updates earlier, minibatches drawn with replacement, greedy test "
    "episodes after each 10k-step epoch"
)
MINATAR_SOURCE = "the MinAtar paper's DQN (Young & Tian 2019; kenjyoung/MinAtar dqn.py)"

NAMED: dict[str, dict[str, dict]] = {
    "pg": {"spinningup": {}},  # the defaults already are Spinning Up's
    "vpg": {"spinningup": dict(pi_lr=3e-4)},  # Spinning Up's VPG exactly
    "trpo": {"spinningup": {}},
    "ddpg": {"spinningup": {}},
    "td3": {"spinningup": {}},
    "sac": {"spinningup": dict(alpha=0.2)},
    # Spinning Up never shipped DQN; the zoo's settings are under TUNED, and MINATAR_DQN too
    "dqn": {"minatar": MINATAR_DQN},
    "pets": {},  # Spinning Up has no model-based algorithm: the defaults name their sources
    "mbpo": {},
    "ppo": {
        # CleanRL's ppo_continuous_action.py settings for MuJoCo (also SB3's defaults, plus
        # observation and reward normalisation): many small minibatch steps per sample.
        "mujoco": dict(
            num_envs=1,
            steps_per_epoch=2048,
            minibatch_size=64,
            update_epochs=10,
            pi_lr=3e-4,
            vf_lr=3e-4,
            gamma=0.99,
            lam=0.95,
            anneal_lr=True,
            normalize_obs=True,
            normalize_reward=True,
            max_grad_norm=0.5,
            log_std_init=0.0,
            ent_coef=0.0,
            clip_ratio=0.2,
        ),
        # CleanRL's ppo_atari.py (its Args, vwxyzjn/cleanrl): 8 envs x 128 steps, 4 epochs of
        # 4 minibatches, lr 2.5e-4 annealed, clip 0.1 (value loss clipped too), entropy 0.01,
        # one CNN trunk for actor and critic (Nature CNN, orthogonal init) and linear heads
        # (hid []). CleanRL's value loss is 0.5 MSE, as spinrl's: vf_coef 0.5 carries over.
        # Its budget is 10M steps: give --total-steps. Where the envs differ (Gymnasium's
        # AtariPreprocessing on ALE/...-v5 with sticky actions, no FIRE reset; a time limit
        # bootstraps) docs/guide/images.md says so.
        "atari": dict(
            num_envs=8,
            steps_per_epoch=8 * 128,
            minibatch_size=256,
            update_epochs=4,
            pi_lr=2.5e-4,
            vf_lr=2.5e-4,
            anneal_lr=True,
            anneal_clip=False,
            gamma=0.99,
            lam=0.95,
            clip_ratio=0.1,
            clip_vloss=True,
            ent_coef=0.01,
            vf_coef=0.5,
            max_grad_norm=0.5,
            target_kl=None,
            normalize_advantages=True,
            normalize_obs=False,
            normalize_reward=False,
            orthogonal_init=True,
            shared_encoder=True,
            hid=(),
        ),
        # Spinning Up's PPO (spinup/algos/pytorch/ppo): 4000 steps, 80 full-batch policy
        # steps with early stopping on the k1 KL estimate, 80 value steps with their own
        # learning rate whether or not the policy stopped, no clipping of gradients. The
        # joint loss with vf_coef 2 (spinrl's value loss is half the MSE, Spinning Up's the
        # whole) has the same gradients as Spinning Up's two losses (they share no
        # parameter), and one Adam with two groups is two Adams.
        "spinningup": dict(
            num_envs=1,
            steps_per_epoch=4000,
            gamma=0.99,
            lam=0.97,
            clip_ratio=0.2,
            pi_lr=3e-4,
            vf_lr=1e-3,
            anneal_lr=False,
            update_epochs=80,
            minibatch_size=4000,
            target_kl=0.01,
            kl_estimator="k1",
            max_grad_norm=None,
            orthogonal_init=False,
            log_std_init=-0.5,
            ent_coef=0.0,
            vf_coef=2.0,
            hid=(64, 64),
            act="tanh",
        ),
    },
}


@dataclass(frozen=True)
class Tuned:
    """Settings for one (algorithm, environment): the Config fields, where they come from,
    the training budget they were published with, and what spinrl does differently."""

    fields: dict
    source: str
    budget: int
    differs: str = ""
    # False: ``spinrl train`` keeps spinrl's defaults on this env unless --preset tuned asks,
    # because they were measured to do better there; ``instead`` says so in one line.
    auto: bool = True
    instead: str = ""


def _zoo_ppo(
    budget,
    *,
    n_envs=1,
    n_steps=2048,
    batch_size=64,
    n_epochs=10,
    lr=3e-4,
    lin_lr=False,
    clip=0.2,
    lin_clip=False,
    gamma=0.99,
    lam=0.95,
    ent_coef=0.0,
    vf_coef=0.5,
    max_grad_norm=0.5,
    normalize=False,
    log_std_init=0.0,
    ortho=True,
    sde_freq=None,
    differs="",
) -> Tuned:
    fields = dict(
        num_envs=n_envs,
        steps_per_epoch=n_envs * n_steps,
        minibatch_size=min(batch_size, n_envs * n_steps),  # SB3 takes the whole batch then
        update_epochs=n_epochs,
        pi_lr=lr,
        vf_lr=lr,
        anneal_lr=lin_lr,
        clip_ratio=clip,
        anneal_clip=lin_clip,
        gamma=gamma,
        lam=lam,
        ent_coef=ent_coef,
        vf_coef=2 * vf_coef,
        max_grad_norm=max_grad_norm,
        normalize_obs=normalize,
        normalize_reward=normalize,
        log_std_init=log_std_init,
        orthogonal_init=ortho,
        normalize_advantages=True,
        clip_vloss=False,
        target_kl=None,
        hid=(64, 64),
        act="tanh",
    )
    if sde_freq is not None:  # use_sde with its sde_sample_freq (-1: SB3's default)
        fields |= dict(sde=True, sde_sample_freq=sde_freq)
    return Tuned(fields, ZOO.format("ppo"), int(budget), differs)


def _zoo_replay(buffer, starts, batch, tau, gamma, train_freq, net) -> dict:
    """The fields SB3's SAC and TD3 share, in spinrl's names (the docstring's SAC line)."""
    return dict(
        replay_size=buffer,
        start_steps=starts,
        update_after=train_freq * (starts // train_freq) + 1,  # SB3's first update's step
        batch_size=batch,
        polyak=1.0 - tau,
        gamma=gamma,
        update_every=train_freq,
        hid=net,
        act="relu",
    )


def _zoo_sac(budget, *, lr=3e-4, buffer=1_000_000, starts=100, batch=256, tau=0.005,
             gamma=0.99, train_freq=1, alpha=None, net=(256, 256), sde_log_std=None,
             differs="") -> Tuned:  # fmt: skip
    fields = _zoo_replay(buffer, starts, batch, tau, gamma, train_freq, net)
    fields |= dict(lr=lr, alpha=alpha, alpha_init=1.0)
    if sde_log_std is not None:  # use_sde with policy_kwargs' log_std_init
        fields |= dict(sde=True, sde_sample_freq=-1, log_std_init=sde_log_std)
    return Tuned(fields, ZOO.format("sac"), int(budget), differs)


def _zoo_td3(budget, *, half_range=1.0, lr=1e-3, buffer=1_000_000, starts=100, batch=256,
             tau=0.005, gamma=0.99, train_freq=1, noise=0.1, noise_type="gaussian",
             net=(400, 300), differs="") -> Tuned:  # fmt: skip
    fields = _zoo_replay(buffer, starts, batch, tau, gamma, train_freq, net)
    warmup = (
        "SB3 adds the action noise to the warm-up's uniform random actions too (clipped to "
        "the bounds); spinrl's warm-up actions are uniform, as Spinning Up's"
    )
    differs = f"{differs}; {warmup}" if differs else warmup
    fields |= dict(
        pi_lr=lr,
        q_lr=lr,
        act_noise=noise * half_range,
        noise_type=noise_type,  # the zoo's noise_type: "normal" or "ornstein-uhlenbeck"
        target_noise=0.2 * half_range,
        noise_clip=0.5 * half_range,
        policy_delay=2,
    )
    return Tuned(fields, ZOO.format("td3"), int(budget), differs)


def _zoo_dqn(budget, *, lr, batch, buffer, starts, target, train_freq, gradient_steps,
             fraction, final_eps, gamma=0.99, net=(64, 64), instead="") -> Tuned:  # fmt: skip
    fields = dict(
        q_lr=lr,
        batch_size=batch,
        replay_size=buffer,
        start_steps=starts,
        update_after=train_freq * (starts // train_freq) + 1,
        update_every=train_freq,
        gradient_steps=None if gradient_steps == -1 else gradient_steps,
        target_update_every=target,
        polyak=0.0,
        gamma=gamma,
        eps_start=1.0,
        eps_end=final_eps,
        exploration_fraction=fraction,
        double=False,
        dueling=False,
        n_step=1,
        prioritized=False,
        loss="huber",
        max_grad_norm=10.0,
        hid=net,
        act="relu",
    )
    return Tuned(fields, ZOO.format("dqn"), int(budget), auto=not instead, instead=instead)


DQN_CARTPOLE = (
    "spinrl's DQN defaults, the zoo's CartPole-v1 settings with Double DQN, dueling, "
    "prioritized replay and 3-step returns: over 10 seeds at the zoo's 50k steps their "
    "training episodes averaged 475 or more in some epoch in 9 runs, the zoo's plain DQN's "
    "in 3; the final greedy policies scored 500 in 8 of 10 either way (SB3's own DQN: 7 of 10; "
    "benchmarks/results/tuned.md); --preset tuned for the zoo's"
)
PPO_MCC_PLAIN = (
    "the zoo explores with gSDE here (use_sde); spinrl keeps a plain Gaussian on purpose: "
    "over 10 seeds it ended above 75 on 9, with gSDE on 5, as SB3 itself "
    "(benchmarks/results/tuned.md); --sde true for the zoo's"
)
MUJOCO = ("HalfCheetah-v5", "Hopper-v5", "Walker2d-v5", "Ant-v5", "Humanoid-v5", "Swimmer-v5")
SPINNINGUP_SETTINGS = "Spinning Up's defaults, measured in benchmarks/results/mujoco_returns.md"

# fmt: off
TUNED: dict[str, dict[str, Tuned]] = {
    "ppo": {
        "CartPole-v1": _zoo_ppo(1e5, n_envs=8, n_steps=32, batch_size=256, n_epochs=20,
                                lr=1e-3, lin_lr=True, clip=0.2, lin_clip=True, gamma=0.98,
                                lam=0.8),
        "Acrobot-v1": _zoo_ppo(1e6, n_envs=16, n_steps=256, n_epochs=4, lam=0.94,
                               normalize=True),
        "MountainCar-v0": _zoo_ppo(1e6, n_envs=16, n_steps=16, n_epochs=4, lam=0.98,
                                   normalize=True),
        "Pendulum-v1": _zoo_ppo(1e5, n_envs=4, n_steps=1024, lr=1e-3, gamma=0.9, sde_freq=4),
        "MountainCarContinuous-v0": _zoo_ppo(
            2e4, n_steps=8, batch_size=256, gamma=0.9999, lr=7.77e-5, ent_coef=0.00429,
            clip=0.1, lam=0.9, max_grad_norm=5.0, vf_coef=0.19, log_std_init=-3.29,
            ortho=False, normalize=True, differs=PPO_MCC_PLAIN),
        "LunarLander-v3": _zoo_ppo(1e6, n_envs=16, n_steps=1024, n_epochs=4, lam=0.98,
                                   gamma=0.999, ent_coef=0.01),
        "LunarLanderContinuous-v3": _zoo_ppo(1e6, n_envs=16, n_steps=1024, n_epochs=4,
                                             lam=0.98, gamma=0.999, ent_coef=0.01),
        "BipedalWalker-v3": _zoo_ppo(5e6, n_envs=32, n_steps=2048, gamma=0.999, clip=0.18,
                                     normalize=True),
    },
    "sac": {
        "Pendulum-v1": _zoo_sac(2e4, lr=1e-3),
        "MountainCarContinuous-v0": _zoo_sac(
            5e4, buffer=50_000, batch=512, alpha=0.1, train_freq=32, gamma=0.9999, tau=0.01,
            starts=0, net=(64, 64), sde_log_std=-3.67),
        "LunarLanderContinuous-v3": _zoo_sac(
            5e5, lr=7.3e-4, tau=0.01, starts=10_000, net=(400, 300),
            differs="the zoo decays the learning rate linearly to 0; spinrl's SAC keeps it"),
        "BipedalWalker-v3": _zoo_sac(
            5e5, lr=7.3e-4, buffer=300_000, gamma=0.98, tau=0.02, train_freq=64,
            starts=10_000, net=(400, 300), sde_log_std=-3.0),
    },
    "td3": {
        "Pendulum-v1": _zoo_td3(2e4, half_range=2.0, gamma=0.98, buffer=200_000,
                                starts=10_000),
        "MountainCarContinuous-v0": _zoo_td3(3e5, noise=0.5, noise_type="ou"),
        "LunarLanderContinuous-v3": _zoo_td3(3e5, gamma=0.98, buffer=200_000, starts=10_000),
        "BipedalWalker-v3": _zoo_td3(1e6, gamma=0.98, buffer=200_000, starts=10_000),
    },
    "dqn": {
        "CartPole-v1": _zoo_dqn(5e4, lr=2.3e-3, batch=64, buffer=100_000, starts=1000,
                                target=10, train_freq=256, gradient_steps=128, fraction=0.16,
                                final_eps=0.04, net=(256, 256), instead=DQN_CARTPOLE),
        "MountainCar-v0": _zoo_dqn(1.2e5, lr=4e-3, batch=128, buffer=10_000, starts=1000,
                                   gamma=0.98, target=600, train_freq=16, gradient_steps=8,
                                   fraction=0.2, final_eps=0.07, net=(256, 256)),
        "LunarLander-v3": _zoo_dqn(1e5, lr=6.3e-4, batch=128, buffer=50_000, starts=0,
                                   target=250, train_freq=4, gradient_steps=-1, fraction=0.12,
                                   final_eps=0.1, net=(256, 256)),
        "Acrobot-v1": _zoo_dqn(1e5, lr=6.3e-4, batch=128, buffer=50_000, starts=0, target=250,
                               train_freq=4, gradient_steps=-1, fraction=0.12, final_eps=0.1,
                               net=(256, 256)),
    },
}
# fmt: on
for _task in MUJOCO:
    TUNED["ppo"][_task] = Tuned(
        NAMED["ppo"]["mujoco"],
        "CleanRL ppo_continuous_action.py (--preset mujoco), measured in mujoco_returns.md",
        10**6,
    )
    for _algo in ("sac", "td3"):
        TUNED[_algo][_task] = Tuned({}, SPINNINGUP_SETTINGS, 300_000)


for _game in MINATAR_GAMES:
    for _version in ("v0", "v1"):
        TUNED["dqn"][f"MinAtar/{_game}-{_version}"] = Tuned(
            MINATAR_DQN,
            MINATAR_SOURCE,
            5_000_000,
            MINATAR_DIFFERS
            + ("" if _version == "v0" else "; the minimal action set (the paper's: all six, -v0)"),
        )


# rl-baselines3-zoo's DQN for every Atari game (hyperparams/dqn.yml, its "atari" entry: Nature
# CNN with a linear head on its 512 features, replay 100k, Adam 1e-4, batch 32, 100k random
# steps first, target copied every 1000 steps, one update every 4 steps, epsilon 1 -> 0.01
# over 10% of 10M steps; SB3's Huber loss and gradient norm 10). Where spinrl differs:
# Gymnasium's AtariPreprocessing on ALE/...-v5 (sticky actions; no FIRE at reset; a lost life
# ends the training episode and the reset starts a new game, where SB3's EpisodicLifeEnv
# plays on with the lives left) against SB3's AtariWrapper on NoFrameskip-v4
# (docs/guide/images.md); a time limit bootstraps; epochs of 10k steps end with greedy test
# games.
_ATARI = _zoo_dqn(1e7, lr=1e-4, batch=32, buffer=100_000, starts=100_000, target=1000,
                  train_freq=4, gradient_steps=1, fraction=0.1, final_eps=0.01, net=())  # fmt: skip
ATARI_DQN = Tuned(
    {**_ATARI.fields, "steps_per_epoch": 10_000},
    ZOO.format("dqn") + ", its atari entry",
    _ATARI.budget,
    "Gymnasium's AtariPreprocessing on ALE/...-v5 (sticky actions, no FIRE reset, a lost "
    "life restarts the game in training) for SB3's AtariWrapper; time limits bootstrap",
)
NAMED["dqn"]["atari"] = ATARI_DQN.fields


def tuned(algo: str, env_id: str) -> Tuned | None:
    """The tuned settings for ``algo`` on ``env_id``, or None; DQN on any Atari id gets the
    zoo's atari entry, as the zoo gives it to every game."""
    entry = TUNED.get(algo, {}).get(env_id)
    if entry is None and algo == "dqn":
        from spinrl.envs import is_atari, register_namespace
        from spinrl.errors import EnvError

        try:
            register_namespace(env_id)  # ALE/ ids exist once ale_py has registered them
        except EnvError:
            return None
        if is_atari(env_id):
            return ATARI_DQN
    return entry


def choices(algo: str) -> list[str]:
    """What --preset accepts for ``algo``."""
    return [*sorted(NAMED.get(algo, {})), "tuned", "none"]


def preset_fields(algo: str, preset: str, env_id: str) -> dict:
    """The fields ``preset`` sets for ``algo`` on ``env_id``; ConfigError naming the choices
    for an unknown preset, or for "tuned" where the table lists nothing."""
    if preset == "none":
        return {}
    if preset == "tuned":
        entry = tuned(algo, env_id)
        if entry is None:
            listed = ", ".join(TUNED.get(algo, {})) or "none"
            raise ConfigError(f"no tuned settings for {algo} on {env_id}; listed: {listed}")
        # the budget the settings were published with, unless the run sets its own length
        return {"total_steps": entry.budget, **entry.fields}
    if preset not in NAMED.get(algo, {}):
        raise ConfigError(
            f"{algo} has no preset {preset!r}; choose one of {', '.join(choices(algo))}"
        )
    return dict(NAMED[algo][preset])


def describe(algo: str, env_id: str, entry: Tuned) -> str:
    """The one line that says tuned settings were applied and where they come from."""
    line = f"spinrl: {algo} on {env_id}: tuned settings from {entry.source}"
    if entry.differs:
        line += f"; differs: {entry.differs}"
    return line + " (--preset none for the plain defaults)"
