"""What a user sees in the first hour: the console output of a run piped to a log and in an
80-column terminal, plot and variance reports that explain themselves, a docs site that
works from disk, and the Box2D tasks installed with the package."""

import io
import re

import numpy as np
import pytest
from rich.console import Console

from spinrl.logger import EpochLogger


@pytest.fixture
def plain_stdout(monkeypatch):
    """stdout as in a pipe or a log file: not a terminal, 80 columns."""
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "JUPYTER_COLUMNS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "80")


def _log_ppo_epochs(logger: EpochLogger, epochs: int) -> None:
    """The columns an on-policy run logs (onpolicy.end_epoch), with known values."""
    for epoch in range(epochs):
        logger.store(EpRet=[20.0, 23.0], EpLen=[20.0, 23.0], VVals=[0.5, -0.5])
        logger.log_tabular("Epoch", epoch)
        logger.log_tabular("EpRet", with_min_and_max=True)
        logger.log_tabular("EpLen", average_only=True)
        logger.log_tabular("VVals", with_min_and_max=True)
        logger.log_tabular("TotalEnvInteracts", 512 * (epoch + 1))
        for key, value in dict(LossPi=-0.0028, LossV=6.98, Entropy=0.69, KL=0.0049).items():
            logger.log_tabular(key, value)
        logger.log_tabular("Time", 1.5 * (epoch + 1))
        logger.dump_tabular()


def test_piped_output_is_one_line_per_epoch_with_the_key_figures(plain_stdout, capsys):
    logger = EpochLogger(None, total_steps=1536, description="ppo CartPole-v1")
    _log_ppo_epochs(logger, 3)
    logger.close()
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    epoch_lines = [line for line in lines if line.startswith("epoch ")]
    assert epoch_lines == [
        f"epoch {e}  steps {512 * (e + 1)}  AverageEpRet 21.5  StdEpRet 1.5  EpLen 21.5  "
        f"LossPi -0.0028  LossV 6.98  KL 0.0049  Time {1.5 * (e + 1):g}"
        for e in range(3)
    ]
    assert len(lines) == 4  # the three epochs and the final progress line, nothing else


def test_a_terminal_still_gets_the_table_of_every_column():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, color_system=None, width=100)
    logger = EpochLogger(None, total_steps=512, console=console)
    _log_ppo_epochs(logger, 1)
    logger.close()
    text = out.getvalue()
    for key in ("MaxEpRet", "MinVVals", "Entropy", "TotalEnvInteracts"):
        assert key in text
    assert "epoch 0  steps" not in text


@pytest.mark.parametrize("description", ["ppo HalfCheetah-v5", "sac InvertedDoublePendulum-v5"])
def test_the_progress_line_fits_80_columns_without_cutting_a_number(
    plain_stdout, capsys, description
):
    logger = EpochLogger(None, total_steps=1_000_000, description=description)
    logger._start -= 100.0  # as if 100 s had passed: a realistic rate of about 1000 steps/s
    logger.update_progress(100_352, -1234.5)
    logger.close()
    (line,) = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert len(line.rstrip()) <= 80
    assert "100352/1000000 steps" in line
    assert "EpRet -1234.5" in line
    assert "…" not in line.split(" ━")[-1]  # only the run's name may be shortened


@pytest.mark.filterwarnings("ignore:builtin type:DeprecationWarning")  # Box2D's SWIG types
@pytest.mark.parametrize("env_id", ["LunarLander-v3", "BipedalWalker-v3"])
def test_box2d_tasks_run_out_of_the_box(env_id):
    from importlib.metadata import requires

    from spinrl.envs import make_env

    assert any(r.lower().startswith("box2d") for r in requires("spinrl"))  # not box2d-py
    env = make_env(env_id)
    obs, _ = env.reset(seed=0)
    obs, reward, *_ = env.step(env.action_space.sample())
    env.close()
    assert obs.shape == env.observation_space.shape and np.isfinite(reward)


@pytest.fixture
def one_run(tmp_path):
    run = tmp_path / "data" / "exp" / "exp_s0"
    run.mkdir(parents=True)
    (run / "progress.csv").write_text(
        "Epoch,TotalEnvInteracts,AverageEpRet\n0,100,1.0\n1,200,2.0\n"
    )
    return run.parent


@pytest.mark.parametrize("name", ["curve.jpgg", "curve", "out/curve.PNG.bak"])
def test_plot_to_an_unknown_image_format_is_one_line_naming_the_formats(
    one_run, tmp_path, capsys, name
):
    from spinrl.cli import main

    out = tmp_path / "plots" / name
    assert main(["plot", str(one_run), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert err.startswith(f"spinrl: error: --out {out}: ")
    assert all(f".{ext}," in err for ext in ("jpg", "pdf", "png", "svg"))
    assert not (tmp_path / "plots").exists()  # nothing written, not even the folder


def test_plot_writes_a_jpeg_when_asked_for_one(one_run, tmp_path):
    from spinrl.cli import main

    out = tmp_path / "curve.JPG"
    assert main(["plot", str(one_run), "--out", str(out)]) == 0
    assert out.read_bytes()[:3] == b"\xff\xd8\xff"  # the JPEG signature


def test_every_plot_option_has_a_help_text(capsys):
    from spinrl.cli import build_parser

    sub = build_parser()._subparsers._group_actions[0].choices["plot"]
    undocumented = [a.dest for a in sub._actions if not a.help]
    assert undocumented == []


def test_variance_explains_each_estimator_with_its_part_3_equation_and_what_k_is(tmp_path, capsys):
    from spinrl.cli import main

    argv = ["variance", "--env", "three_state", "--gamma", "0.9", "--batch-sizes", "1", "2"]
    argv += ["--batches", "5", "--lams", "0.5", "1", "--max-len", "20", "--out", str(tmp_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    legend = {line.split()[0]: line for line in out.splitlines() if re.match(r"^\s*\w", line)}
    expected = {
        "total": ("total return", "eq. 3.3"),
        "rtg": ("reward-to-go", "eq. 3.5"),
        "rtg_minus_exact_v": ("reward-to-go minus the exact V^pi baseline", "eq. 3.6"),
        "rtg_minus_learned_v": ("reward-to-go minus a learned V", "eq. 3.6"),
        "exact_q": ("exact Q^pi", "eq. 3.7"),
        "exact_a": ("exact A^pi", "eq. 3.7, 3.9"),
        "gae_0.5": ("GAE with lambda = 0.5 and the exact V^pi", "eq. 3.11"),
        "gae_1": ("GAE with lambda = 1 and the exact V^pi", "eq. 3.11"),
    }
    for name, (words, equation) in expected.items():
        assert words in legend[name] and equation in legend[name], legend[name]
    assert re.search(r"K = 5\b.*independent batches", out.replace("\n", " "))


def test_the_equations_the_variance_legend_cites_are_the_ones_part_3_derives():
    from pathlib import Path

    from spinrl.variance import ESTIMATORS, SAMPLED_ESTIMATORS, estimator_legend

    part3 = (Path(__file__).parent.parent / "docs" / "theory" / "part3.md").read_text()
    for tabular, names in ((True, ESTIMATORS), (False, SAMPLED_ESTIMATORS)):
        for name, equations, _ in estimator_legend([*names, "gae_0.9"], tabular):
            for number in re.findall(r"3\.\d+", equations):
                assert f"\\tag{{{number}}}" in part3 or f"(eq. {number})" in part3, name
    (gae,) = estimator_legend(["gae_0.9"], tabular=False)
    assert gae[2] == "GAE with lambda = 0.9 and the learned V"


def _nav_pages(nav) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, dict):
        return [p for value in nav.values() for p in _nav_pages(value)]
    return [p for item in nav for p in _nav_pages(item)]


def test_every_docs_page_links_to_an_html_file_so_the_site_works_from_disk():
    """Opened from disk (file://), a link to guide/training/ shows a directory listing; the
    built site must link to guide/training.html instead, whatever the plugins set."""
    from pathlib import Path

    from mkdocs.config import load_config
    from mkdocs.structure.files import File

    config = load_config(str(Path(__file__).parent.parent / "mkdocs.yml"))
    config = config.plugins.on_config(config)
    pages = _nav_pages(config["nav"])
    assert len(pages) > 50
    for page in pages:
        url = File(page, config["docs_dir"], config["site_dir"], config["use_directory_urls"]).url
        assert url.endswith(".html"), (page, url)


def test_the_site_stylesheet_keeps_table_names_whole_and_tables_inside_the_column():
    """The rules the site loads (checked in headless chromium when written: no code span in a
    table cell breaks, every table's scroll area spans exactly the text column)."""
    from pathlib import Path

    from mkdocs.config import load_config

    root = Path(__file__).parent.parent
    config = load_config(str(root / "mkdocs.yml"))
    css = "".join((root / "docs" / path).read_text() for path in config["extra_css"])
    rules = {
        selector.strip(): body
        for selector, body in re.findall(
            r"([^{}/]+)\{([^}]*)\}", re.sub(r"/\*.*?\*/", "", css, flags=re.S)
        )
    }
    assert "white-space: nowrap" in rules[".md-typeset table:not([class]) td code"]
    wrap = rules[".md-typeset__scrollwrap"]
    assert "margin-left: 0" in wrap and "margin-right: 0" in wrap
