"""Plots: the drawn series equal hand-computed statistics of small synthetic runs."""

import numpy as np
import pytest

from spinrl.cli import main
from spinrl.errors import ConfigError
from spinrl.plot import experiment_curves, find_runs, iqm, plot

RETURNS = {
    0: [0.0, 1.0, 2.0, 3.0],
    1: [2.0, 3.0, 4.0, 5.0],
    2: [10.0, 11.0, 12.0, 13.0],
    3: [1.0, 1.0, 1.0, 1.0],
}


@pytest.fixture
def runs_dir(tmp_path):
    for seed, rets in RETURNS.items():
        run = tmp_path / "exp" / f"exp_s{seed}"
        run.mkdir(parents=True)
        rows = ["Epoch,TotalEnvInteracts,AverageEpRet"]
        rows += [f"{i},{100 * (i + 1)},{r}" for i, r in enumerate(rets)]
        (run / "progress.csv").write_text("\n".join(rows) + "\n")
    su = tmp_path / "su" / "su_s0"  # a Spinning Up run: tab-separated progress.txt
    su.mkdir(parents=True)
    su.joinpath("progress.txt").write_text(
        "Epoch\tAverageEpRet\tTotalEnvInteracts\n0\t7.0\t100\n1\t8.0\t200\n"
    )
    return tmp_path


def test_mean_std_median_and_iqm_equal_hand_computations(runs_dir):
    runs = find_runs([runs_dir])
    table = np.array(list(RETURNS.values()))
    x, center, _, high, n = experiment_curves(runs, "AverageEpRet")["exp"]
    assert n == 4 and list(x) == [100, 200, 300, 400]
    np.testing.assert_allclose(center, table.mean(0))
    np.testing.assert_allclose(high - center, table.std(0))
    _, median, *_ = experiment_curves(runs, "AverageEpRet", estimator="median")["exp"]
    np.testing.assert_allclose(median, np.median(table, 0))
    # IQM of 4 runs per column: sorted values 2nd and 3rd, e.g. column 0: (1 + 2) / 2.
    _, mid, *_ = experiment_curves(runs, "AverageEpRet", estimator="iqm")["exp"]
    np.testing.assert_allclose(mid, [np.mean(sorted(col)[1:3]) for col in table.T])
    np.testing.assert_allclose(iqm(np.arange(1.0, 9.0)[:, None])[0], 4.5)
    np.testing.assert_allclose(experiment_curves(runs, "AverageEpRet")["su"][1], [7.0, 8.0])


def test_bootstrap_band_contains_the_estimate_and_is_reproducible(runs_dir):
    runs = find_runs([runs_dir], select=["exp"])
    a = experiment_curves(runs, "AverageEpRet", ci="bootstrap95")["exp"]
    b = experiment_curves(runs, "AverageEpRet", ci="bootstrap95")["exp"]
    np.testing.assert_array_equal(a[2], b[2])
    assert np.all(a[2] <= a[1]) and np.all(a[1] <= a[3])
    # The band's edges are means of resampled runs: within the range of the runs.
    table = np.array(list(RETURNS.values()))
    assert np.all(a[2] >= table.min(0)) and np.all(a[3] <= table.max(0))


def test_smoothing_is_a_centred_moving_average_shorter_at_the_edges():
    from spinrl.plot import smooth

    np.testing.assert_allclose(smooth(np.array([0.0, 3.0, 6.0, 9.0]), 1), [1.5, 3.0, 6.0, 7.5])
    np.testing.assert_allclose(smooth(np.array([1.0, 5.0]), 3), [3.0, 3.0])


def test_select_exclude_and_count(runs_dir):
    assert {r.experiment for r in find_runs([runs_dir], exclude=["su"])} == {"exp"}
    assert len(find_runs([runs_dir], select=["exp", "s1"])) == 1
    curves = experiment_curves(find_runs([runs_dir], select=["exp"]), "AverageEpRet", count=True)
    assert set(curves) == {f"exp_s{s}" for s in RETURNS}
    with pytest.raises(ConfigError, match=r"no progress\.csv"):
        find_runs([runs_dir], select=["nothing"])


def test_cli_plot_writes_png_and_svg(runs_dir, capsys):
    png, svg = runs_dir / "c.png", runs_dir / "c.svg"
    argv = ["plot", str(runs_dir), "--smooth", "1", "--estimator", "iqm", "--ci", "bootstrap95"]
    assert main([*argv, "--out", str(png), "--legend", "mine", "spinning-up"]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main([*argv, "--out", str(svg), "--count"]) == 0
    assert svg.read_text().lstrip().startswith("<?xml")
    assert main([*argv, "--legend", "only-one"]) == 2
    assert "--legend gives 1 names for 2 curves" in capsys.readouterr().err


def test_epochs_without_a_finished_episode_do_not_blank_the_curve(tmp_path):
    for seed, rets in ((0, ["1.0", "nan", "3.0"]), (1, ["3.0", "4.0", "nan"])):
        run = tmp_path / "e" / f"e_s{seed}"
        run.mkdir(parents=True)
        rows = ["TotalEnvInteracts,AverageEpRet"] + [f"{i},{r}" for i, r in enumerate(rets)]
        (run / "progress.csv").write_text("\n".join(rows) + "\n")
    _, center, *_ = experiment_curves(find_runs([tmp_path]), "AverageEpRet")["e"]
    np.testing.assert_allclose(center, [2.0, 4.0, 3.0])


def test_published_reference_points_are_drawn_with_their_labels(runs_dir):
    out = plot(
        [runs_dir / "exp"],
        out=runs_dir / "ref.svg",
        references={"exp": [("paper at 300", 300.0, 4.5)], "absent": [("never", 1.0, 1.0)]},
    )
    text = out.read_text()
    assert "exp: paper at 300" in text  # matplotlib writes each text as an SVG comment
    assert "never" not in text  # points of curves not on the plot are not drawn
