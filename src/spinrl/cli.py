"""The ``spinrl`` command.

    spinrl list
    spinrl train ALGO [--FIELD VALUE ...] [--exp-name NAME] [--data-dir DIR] [--overwrite]
    spinrl plot DIR [DIR ...] [--value KEY ...] [--xaxis KEY] [--smooth K] [--out FILE]
    spinrl watch RUN_DIR [--episodes N] [--deterministic] [--render] [--video OUT.mp4]
    spinrl exercise list | start ID [DIR] | check ID FILE [--quick] | solution ID

Every field of the algorithm's Config is an option (``--steps-per-epoch 4000``). A field
given several values makes a grid: one run per combination, as in Spinning Up. Everything is
checked before the first run starts; a problem prints one line and exits with status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import gymnasium as gym

from spinrl.checkpoint import CONFIG, ERROR, PROGRESS, STATUS
from spinrl.config import build_config, field_docs, parse_literal, unknown_field_message
from spinrl.errors import ConfigError, SpinrlError, TrainingInterrupted

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports a mistake as one line and exit status 2."""

    def error(self, message: str):
        raise ConfigError(message)


def _algos():
    from spinrl.algos import ALGOS

    return ALGOS


def _algo_module(name: str):
    algos = _algos()
    if name not in algos:
        raise ConfigError(f"unknown algorithm {name!r}; choose one of {', '.join(algos)}")
    return algos[name]


def _space_names(spaces) -> str:
    return ", ".join("Box" if s is gym.spaces.Box else s.__name__ for s in spaces)


def cmd_list(_args) -> int:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="spinrl algorithms")
    table.add_column("algorithm", style="bold cyan")
    table.add_column("action spaces")
    table.add_column("what it is")
    for name, module in _algos().items():
        summary = (module.__doc__ or "").strip().splitlines()[0]
        table.add_row(name, _space_names(module.ACTION_SPACES), summary)
    Console().print(table)
    return 0


def _train_parser(algo: str, module) -> argparse.ArgumentParser:
    parser = _Parser(
        prog=f"spinrl train {algo}",
        description=(module.__doc__ or "").strip().splitlines()[0],
        epilog="Give a field several values to run a grid over them, e.g. --seed 0 1 2. A "
        "list is one value written in brackets, --hid [64,64]; --hid [32] [64,64] is a grid.",
    )
    docs = field_docs(module.Config)
    for f in dataclasses.fields(module.Config):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        parser.add_argument(
            "--" + f.name.replace("_", "-"),
            dest=f.name,
            nargs="+",
            metavar="VALUE",
            help=f"{docs.get(f.name, '')} (default: {default})",
        )
    parser.add_argument("--exp-name", help="experiment name (default: ALGO_ENV)")
    parser.add_argument("--data-dir", default="data", help="where runs go (default: data)")
    parser.add_argument("--overwrite", action="store_true", help="replace runs that already exist")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or tables")
    parser.add_argument(
        "--workers", type=int, default=1, help="trials of a grid run at once (default: 1)"
    )
    parser.add_argument(
        "--backend",
        choices=("local", "ray"),
        default="local",
        help="local process pool, or Ray (a local instance, or --ray-address)",
    )
    parser.add_argument(
        "--ray-address", help="join an existing Ray cluster: auto or HOST:PORT (--backend ray)"
    )
    parser.add_argument(
        "--resume", metavar="RUN_DIR", help="continue a stopped run from its last checkpoint"
    )
    from spinrl import presets

    parser.add_argument(
        "--preset",
        choices=presets.choices(algo),
        help="start from a published set of hyperparameters (given fields still win); by "
        "default the tuned settings for the env when spinrl.presets lists it, 'none' for "
        "the plain defaults",
    )
    return parser


def _plan_resume(algo: str, module, given: dict, run_path: Path):
    from spinrl.checkpoint import RESUME_MAY_CHANGE, check_resume_config, read_json

    saved = read_json(run_path / CONFIG)
    if saved.get("algo") != algo:
        raise ConfigError(f"{run_path} is a {saved.get('algo')!r} run, not {algo!r}")
    if not isinstance(saved.get("config"), dict):
        raise ConfigError(f"{run_path / CONFIG} has no 'config' object")
    values = {**saved["config"], **{name: v[0] for name, v in given.items()}}
    cfg = build_config(module.Config, values)
    check_resume_config(run_path, dataclasses.asdict(cfg), RESUME_MAY_CHANGE)
    module.validate(cfg)
    return [(cfg, run_path)]


def plan_runs(algo: str, argv: list[str]):
    """Parse and check everything without touching the disk.

    Returns (grid, trials, args) for a new run or grid, or (None, [(config, run_dir)], args)
    for --resume.
    """
    from spinrl.encoders import check_obs_space
    from spinrl.envs import check_action_space, make_env
    from spinrl.grid import ExperimentGrid, check_algo_values, check_ray_address

    module = _algo_module(algo)
    argv = [_dashed(token) for token in argv]
    args, unknown = _train_parser(algo, module).parse_known_args(argv)
    field_names = [f.name for f in dataclasses.fields(module.Config)]
    for token in unknown:
        if token.startswith("--"):
            name = token[2:].split("=")[0].replace("-", "_")
            raise ConfigError(unknown_field_message(name, module.Config))
    if unknown:
        raise ConfigError(f"unexpected argument {unknown[0]!r}")
    if args.workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {args.workers}")
    given = {
        name: [parse_literal(v) for v in getattr(args, name)]
        for name in field_names
        if getattr(args, name) is not None
    }
    _check_list_values(module.Config, given)
    if args.backend == "ray":
        check_ray_address(args.ray_address)
    if args.resume:
        if args.preset is not None:
            raise ConfigError("--preset cannot change a resumed run: it keeps its config")
        if any(len(v) > 1 for v in given.values()):
            raise ConfigError("--resume continues one run; give each field one value")
        given = {n: [list(v[0]) if isinstance(v[0], tuple) else v[0]] for n, v in given.items()}
        return None, _plan_resume(algo, module, given, Path(args.resume)), args
    default_env = str(given.get("env", [module.Config().env])[0])
    default_name = f"{algo}_{default_env}".replace("/", "-").replace(":", "-")
    grid = ExperimentGrid(args.exp_name or default_name, data_dir=args.data_dir)
    for name, values in given.items():
        grid.add(name, values)
    trials = grid.trials()
    args.preset_lines = _apply_presets(algo, module, args.preset, trials)
    try:
        check_algo_values(algo, trials)
    except ConfigError as e:
        if not args.preset_lines and args.preset in (None, "none"):
            raise
        raise ConfigError(f"{e} (with the preset's settings; --preset none drops them)") from None
    defaults = module.Config()
    for env_id in sorted({t.values.get("env", defaults.env) for t in trials}):
        env = make_env(env_id)
        try:
            check_action_space(env.action_space, module.ACTION_SPACES, algo)
            check_obs_space(env.observation_space)
            # buffers that would not fit are refused here, before anything is written: the
            # replay by replay_size, and what an algorithm sizes otherwise (check_memory)
            from spinrl.offpolicy import check_replay_fits

            check_memory = getattr(module, "check_memory", None)
            check_env = getattr(module, "check_env", None)  # settings that need this env
            for t in (t for t in trials if t.values.get("env", defaults.env) == env_id):
                if check_env is not None:
                    check_env(build_config(module.Config, t.values), env)
                if hasattr(defaults, "replay_size"):
                    size = t.values.get("replay_size", defaults.replay_size)
                    check_replay_fits(env, size, t.values.get("num_envs", defaults.num_envs))
                if check_memory is not None:
                    check_memory(build_config(module.Config, t.values), env)
        finally:
            env.close()
    return grid, trials, args


def _dashed(token: str) -> str:
    """--total_steps (a Python name) is --total-steps: accept either spelling."""
    if not token.startswith("--"):
        return token
    name, eq, value = token.partition("=")
    return name.replace("_", "-") + eq + value


def _check_list_values(config_cls, given: dict) -> None:
    """ConfigError for a list field given several bare numbers (--hid 64 64): that is a grid
    of one-layer networks, almost never what was meant."""
    import typing

    from spinrl.config import field_types

    for name, values in given.items():
        is_tuple = typing.get_origin(field_types(config_cls)[name]) is tuple
        if is_tuple and len(values) > 1 and any(not isinstance(v, list | tuple) for v in values):
            flag = "--" + name.replace("_", "-")
            shown = " ".join(map(str, values))
            raise ConfigError(
                f"{flag} {shown}: a list is written in brackets; {flag} "
                f"[{','.join(map(str, values))}] is one value, and several bracketed values "
                f"({flag} [64,64] [32,32]) make a grid"
            )


def _apply_presets(algo: str, module, preset: str | None, trials) -> list[str]:
    """Put the preset's fields under each trial's own: a named preset, or (by default, and
    with --preset tuned) the tuned settings for the trial's env. Returns the lines to print."""
    from spinrl import presets

    lines = []
    for trial in trials:
        env_id = trial.values.get("env", module.Config().env)
        entry = presets.tuned(algo, env_id)
        if preset is None and entry is not None and not entry.auto:
            line = f"spinrl: {algo} on {env_id}: {entry.instead}"
            if line not in lines:
                lines.append(line)
            continue
        if preset is None and entry is None:
            continue
        fields = presets.preset_fields(algo, preset or "tuned", env_id)
        if "epochs" in trial.values:  # the user sets the length: not the preset's budget
            fields.pop("total_steps", None)
        trial.values = {**fields, **trial.values}
        entry = presets.tuned(algo, env_id)
        if preset in (None, "tuned") and entry is not None:
            line = presets.describe(algo, env_id, entry)
            if line not in lines:
                lines.append(line)
    return lines


def _budget_notes(module, trials) -> None:
    """A grid's trials train without their own output: say once per budget that rounds up."""
    from spinrl.run import budget_note

    defaults = module.Config()
    notes = {
        budget_note(
            t.values.get("total_steps"),
            t.values.get("steps_per_epoch", defaults.steps_per_epoch),
        )
        for t in trials
    }
    for note in sorted(n for n in notes if n):
        print(note, file=sys.stderr)


def cmd_train(args) -> int:
    from spinrl.grid import is_completed, run_trial

    module = _algo_module(args.algo)
    grid, trials, opts = plan_runs(args.algo, args.rest)
    for line in getattr(opts, "preset_lines", []):
        print(line)
    if grid is None:  # --resume
        ((cfg, path),) = trials
        return _resume(module, cfg, path, opts)
    if len(trials) == 1 and opts.workers == 1 and opts.backend == "local":
        (trial,) = trials
        if is_completed(trial.run_dir) and not opts.overwrite:
            print(f"{trial.run_dir} already completed; pass --overwrite to train it again")
            return 0
        if (trial.run_dir / PROGRESS).exists() and not opts.overwrite:
            raise ConfigError(
                f"{trial.run_dir} holds an unfinished run; continue it with spinrl train "
                f"--resume {trial.run_dir}, or pass --overwrite to start again"
            )
        status = run_trial(args.algo, trial.values, str(trial.run_dir), not opts.quiet, inline=True)
        if status != "completed":
            error = trial.run_dir / ERROR
            print(f"spinrl: error: the run failed; see {error}", file=sys.stderr)
            return 1
        print(f"run written to {trial.run_dir}  ({_final_from_dir(trial.run_dir)})")
        return 0
    if not opts.quiet:
        grid.print()
        _budget_notes(module, trials)
    done = grid.run(
        args.algo,
        workers=opts.workers,
        backend=opts.backend,
        ray_address=opts.ray_address,
        overwrite=opts.overwrite,
        trials=trials,
    )
    folders = sorted({str(t.run_dir.parent) for t in done})
    print(f"runs are in {', '.join(folders)}")
    failed = [t for t in done if t.status == "FAILED"]
    return 1 if failed else 0


def _resume(module, cfg, path: Path, opts) -> int:
    """Continue the run in ``path``; its status.json and error.txt say how it went, as for a
    new run."""
    import time
    import traceback

    from spinrl.checkpoint import atomic_write_text, write_json

    start = time.time()
    try:
        result = module.train(cfg, output_dir=str(path), verbose=not opts.quiet, resume=True)
    except BaseException as e:
        status = "interrupted" if isinstance(e, TrainingInterrupted) else "FAILED"
        atomic_write_text(path / ERROR, traceback.format_exc())
        write_json(path / STATUS, {"status": status, "seconds": time.time() - start})
        raise
    write_json(path / STATUS, {"status": "completed", "resumed": True})
    (path / ERROR).unlink(missing_ok=True)  # the failure it recorded is behind us
    if result.last_row:
        print(f"run resumed and written to {path}  ({_final(result.last_row)})")
    else:  # nothing was left to train (Run says why on stderr unless --quiet)
        print(f"run in {path} is already at its budget: nothing trained")
    return 0


def _final(row: dict) -> str:
    ret = row.get("AverageEpRet")
    return "no episode finished" if ret is None else f"final AverageEpRet {ret:.1f}"


def _final_from_dir(run_dir: Path) -> str:
    from spinrl.logger import read_progress

    cols = read_progress(run_dir / PROGRESS)
    values = cols.get("AverageEpRet")
    finite = [] if values is None else [v for v in values if v == v]  # epochs with episodes
    return _final({"AverageEpRet": finite[-1]} if finite else {})


def cmd_plot(args) -> int:
    from spinrl.plot import plot

    out = plot(
        args.dirs,
        args.value,
        args.xaxis,
        args.smooth,
        args.out,
        legend=args.legend,
        select=args.select,
        exclude=args.exclude,
        count=args.count,
        estimator=args.estimator,
        ci=args.ci,
    )
    print(f"plot written to {out}")
    return 0


def cmd_watch(args) -> int:
    from rich.console import Console
    from rich.table import Table

    from spinrl.evaluate import watch

    returns, lengths = watch(
        args.run_dir,
        args.episodes,
        args.deterministic,
        args.render,
        args.video,
        args.seed,
        args.checkpoint,
    )
    mode = "deterministic" if args.deterministic else "stochastic"
    table = Table(title=f"{args.run_dir} ({mode} policy)")
    table.add_column("episode", justify="right")
    table.add_column("return", justify="right")
    table.add_column("length", justify="right")
    for i, (ret, length) in enumerate(zip(returns, lengths, strict=True)):
        table.add_row(str(i), f"{ret:.2f}", str(length))
    table.add_row(
        "mean",
        f"{sum(returns) / len(returns):.2f}",
        f"{sum(lengths) / len(lengths):.1f}",
        style="bold",
    )
    Console().print(table)
    if args.video:
        print(f"video written to {args.video}")
    return 0


def cmd_variance(args) -> int:
    from rich.console import Console
    from rich.table import Table

    from spinrl import variance

    tabular = variance.is_tabular(args.env)
    defaults = variance.TABULAR_DEFAULTS if tabular else variance.SAMPLED_DEFAULTS
    opts = {k: v for k, v in vars(args).items() if k in defaults and v is not None}
    opts = {**defaults, **opts}
    if tabular:
        if opts["policy"] not in ("random", "uniform"):
            raise ConfigError(f"--policy must be random or uniform on {args.env}")
        opts.pop("reference_episodes")
        rows, _ = variance.measure(args.env, seed=args.seed, **opts)
        title = f"{args.env}, {opts['policy']} softmax policy, gamma {opts['gamma']}"
        columns = ("estimator", "B", "bias", "floor", "variance", "MSE", "cosine")
    else:
        rows, info = variance.measure_sampled(args.env, seed=args.seed, **opts)
        title = f"{args.env}, {opts['policy']} network policy, gamma {opts['gamma']}"
        columns = ("estimator", "B", "variance", "cosine to reference")
    title += f", K = {opts['batches']}"
    table = Table(title=f"policy-gradient estimators on {title}")
    for col in columns:
        table.add_column(col, justify="left" if col == "estimator" else "right", no_wrap=True)
    for r in rows:
        flag = " *" if r.bias > r.noise_floor else ""
        exact = (f"{r.bias:.3g}{flag}", f"{r.noise_floor:.3g}") if tabular else ()
        mse = (f"{r.mse:.3g}",) if tabular else ()
        table.add_row(
            r.estimator, str(r.batch_size), *exact, f"{r.variance:.3g}", *mse, f"{r.cosine:.3f}"
        )
    console = Console(width=None if sys.stdout.isatty() else 100)
    console.print(table)
    legend = Table(
        title="each estimator: the weight Phi_t of grad log pi(a_t|s_t) in Part 3's eq. 3.7",
        title_justify="left",
        box=None,
        show_header=False,
        padding=(0, 2, 0, 0),
    )
    legend.add_column(no_wrap=True)
    legend.add_column(no_wrap=True)
    legend.add_column()
    names = dict.fromkeys(r.estimator for r in rows)
    for row in variance.estimator_legend(names, tabular):
        legend.add_row(*row)
    console.print(legend)
    console.print(
        f"K = {opts['batches']}: the number of independent batches drawn for each batch size "
        "B; each batch of B episodes gives one gradient estimate, and every column is a "
        "statistic over those K estimates."
    )
    if tabular:
        console.print(
            "bias: ||mean estimate - exact gradient||; floor: 2 sqrt(variance / K), which an "
            "unbiased estimator's bias stays under (* where it does not)"
        )
    else:
        console.print(
            f"{args.env} has no transition table, so there is no exact gradient: the reference "
            f"is reward-to-go minus a learned V over {info['reference_episodes']} episodes "
            f"(relative standard error {info['reference_relative_se']:.3f}). Bias and MSE "
            "cannot be measured against it; variance and cosine can. Mean episode length "
            f"{info['mean_episode_length']:.1f}."
        )
    for path in variance.write_report(rows, args.out, title):
        console.print(f"written {path}")
    return 0


def cmd_exercise(args) -> int:
    from spinrl import exercises

    if args.action == "list":
        from rich.console import Console
        from rich.table import Table

        table = Table(title="spinrl exercises (status in this directory)")
        for column in ("id", "part", "topic", "status"):
            table.add_column(column, style="bold cyan" if column == "id" else None)
        for exercise in exercises.EXERCISES.values():
            status = exercises.status_of(exercise.id)
            table.add_row(exercise.id, exercise.part, exercise.topic, status)
        Console().print(table)
        return 0
    if args.action == "start":
        path = exercises.start(args.id, args.dir)
        print(f"wrote {path}; when it is done: spinrl exercise check {args.id} {path}")
        return 0
    if args.action == "solution":
        print(exercises.solution_text(args.id), end="")
        return 0
    outcome = exercises.check_file(args.id, args.file, quick=args.quick)
    if outcome.printed:  # the learner's own prints, for their debugging
        print(outcome.printed, end="" if outcome.printed.endswith("\n") else "\n", file=sys.stderr)
    if outcome.error is not None:
        exercises.record_status(args.id, False, args.file)
        print(f"spinrl: error: {outcome.error}", file=sys.stderr)
        return EXIT_BAD_INPUT if outcome.bad_input else 1
    for check in outcome.checks:
        print(check.line())
    exercises.record_status(args.id, outcome.passed, args.file)
    passed = sum(c.passed for c in outcome.checks)
    verdict = "passed" if outcome.passed else "failing"
    print(f"exercise {args.id}: {passed}/{len(outcome.checks)} checks pass: {verdict}")
    return 0 if outcome.passed else 1


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="spinrl", description="Deep RL you can read, trust and run fast.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("list", help="the algorithms and the action spaces each handles")
    train = sub.add_parser(
        "train", help="train an agent (spinrl train ALGO --help lists its fields)", add_help=False
    )
    train.add_argument("algo")
    train.add_argument("rest", nargs=argparse.REMAINDER)
    watch = sub.add_parser("watch", help="run a trained policy and report its episodes")
    watch.add_argument("run_dir")
    watch.add_argument("--episodes", type=int, default=5)
    watch.add_argument("--deterministic", action="store_true", help="most likely action")
    watch.add_argument("--render", action="store_true", help="show a window")
    watch.add_argument("--video", metavar="OUT.mp4", help="record the episodes to a video file")
    watch.add_argument("--seed", type=int, default=0)
    watch.add_argument("--checkpoint", help="another checkpoint file than RUN_DIR/model.pt")
    var = sub.add_parser(
        "variance", help="measure each policy-gradient estimator's bias and variance"
    )
    var.add_argument(
        "--env",
        default="FrozenLake-v1",
        help="a tabular env (FrozenLake-v1, CliffWalking-v1, ...), three_state, or any "
        "other env (CartPole-v1, ...), measured against a large-batch reference",
    )
    var.add_argument("--gamma", type=float, help="discount (0.95 tabular, 0.99 otherwise)")
    var.add_argument(
        "--policy",
        help="random, uniform, or (without a transition table) a run directory of pg/vpg/ppo/trpo",
    )
    var.add_argument("--seed", type=int, default=0)
    var.add_argument(
        "--batch-sizes", type=int, nargs="+", help="episodes per batch (1 4 16 64; 1 4 16)"
    )
    var.add_argument(
        "--batches",
        type=int,
        metavar="K",
        help="K, the number of independent batches per batch size; bias, variance and cosine "
        "are statistics over their K estimates (200 tabular; 100 otherwise)",
    )
    var.add_argument("--lams", type=float, nargs="+", help="GAE lambdas to sweep")
    var.add_argument("--max-len", type=int, help="time limit of sampled episodes (100; 500)")
    var.add_argument(
        "--reference-episodes",
        type=int,
        help="episodes in the large-batch reference when there is no exact gradient (5000)",
    )
    var.add_argument("--out", default="variance", help="directory for the CSV and plots")
    exercise = sub.add_parser("exercise", help="practise: problem sets checked by spinrl")
    actions = exercise.add_subparsers(dest="action", required=True, parser_class=_Parser)
    actions.add_parser("list", help="each exercise, its Part, topic and status here")
    ex_start = actions.add_parser("start", help="write the stub of an exercise")
    ex_start.add_argument("id", help="an exercise id, as spinrl exercise list shows it")
    ex_start.add_argument("dir", nargs="?", default=".", help="where (default: here)")
    ex_check = actions.add_parser("check", help="run the checks of an exercise on your file")
    ex_check.add_argument("id", help="an exercise id, as spinrl exercise list shows it")
    ex_check.add_argument("file", help="your Python file")
    ex_check.add_argument(
        "--quick", action="store_true", help="skip the training runs (the other checks still run)"
    )
    ex_solution = actions.add_parser("solution", help="print the reference solution")
    ex_solution.add_argument("id", help="an exercise id, as spinrl exercise list shows it")
    plot = sub.add_parser("plot", help="learning curves of run directories")
    plot.add_argument(
        "dirs",
        nargs="+",
        metavar="DIR",
        help="run directories, or folders searched for them (progress.csv or Spinning Up's "
        "progress.txt); runs are grouped into experiments by the folder above each run",
    )
    plot.add_argument(
        "--value",
        nargs="+",
        default=["AverageEpRet"],
        metavar="KEY",
        help="logged keys to plot, one panel each (default: AverageEpRet)",
    )
    plot.add_argument(
        "--xaxis",
        default="TotalEnvInteracts",
        metavar="KEY",
        help="logged key for the x axis (default: TotalEnvInteracts; Epoch, Time)",
    )
    plot.add_argument(
        "--smooth",
        type=int,
        default=0,
        metavar="K",
        help="moving average over 2K+1 epochs before averaging runs (default: 0, none)",
    )
    plot.add_argument(
        "--out",
        default="learning_curve.png",
        metavar="FILE",
        help="image to write; its extension picks the format: .png, .svg, .pdf, .jpg, ... "
        "(default: learning_curve.png)",
    )
    plot.add_argument("--legend", nargs="+", metavar="NAME", help="names for the curves, in order")
    plot.add_argument(
        "--select", nargs="+", metavar="TEXT", help="only runs whose path contains all of these"
    )
    plot.add_argument(
        "--exclude", nargs="+", metavar="TEXT", help="drop runs whose path contains any of these"
    )
    plot.add_argument("--count", action="store_true", help="one curve per run, not per experiment")
    plot.add_argument(
        "--estimator",
        choices=("mean", "median", "iqm"),
        default="mean",
        help="the curve over an experiment's runs: mean, median, or iqm (interquartile mean, "
        "robust to outlier runs) (default: mean)",
    )
    plot.add_argument(
        "--ci",
        choices=("std", "bootstrap95"),
        default="std",
        help="the shaded band: std (+-1 standard deviation over runs) or bootstrap95 (95%% "
        "bootstrap confidence interval of the estimator) (default: std)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv[:2] == ["train", "--resume"] and len(argv) >= 3:
            from spinrl.checkpoint import read_json

            algo = read_json(Path(argv[2]) / CONFIG).get("algo", "?")
            argv = ["train", str(algo), *argv[1:]]
        if argv[:1] == ["train"] and len(argv) == 2 and argv[1] in ("-h", "--help"):
            print(
                "usage: spinrl train ALGO [--FIELD VALUE ...]; ALGO is one of "
                + ", ".join(_algos())
                + "; spinrl train ALGO --help lists its fields"
            )
            return 0
        args = build_parser().parse_args(argv)
        commands = {
            "list": cmd_list,
            "train": cmd_train,
            "plot": cmd_plot,
            "watch": cmd_watch,
            "variance": cmd_variance,
            "exercise": cmd_exercise,
        }
        command = commands[args.command]
        return command(args)
    except TrainingInterrupted as e:
        print(f"spinrl: {e}", file=sys.stderr)
        return e.exit_status
    except SpinrlError as e:
        print(f"spinrl: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("spinrl: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
