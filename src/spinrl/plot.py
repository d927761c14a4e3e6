"""Learning curves from run directories: spinrl's progress.csv and Spinning Up's progress.txt.

A run directory is any folder holding progress.csv (comma-separated) or progress.txt
(Spinning Up's tab-separated file). Runs are grouped into experiments by the name of the
folder above the run (the layout of both: DATA/EXP/EXP_s<seed>); each experiment is drawn
as the mean over its seeds with a shaded band of one standard deviation.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spinrl.checkpoint import PROGRESS
from spinrl.errors import ConfigError
from spinrl.logger import read_progress


@dataclass
class Run:
    path: Path
    experiment: str
    columns: dict[str, np.ndarray]


def find_runs(
    paths: list[str | os.PathLike],
    select: list[str] | None = None,
    exclude: list[str] | None = None,
) -> list[Run]:
    """Every run directory at or below the given paths, sorted by path; ``select`` keeps the
    runs whose path contains every given string, ``exclude`` drops those containing any."""
    runs = []
    for root in paths:
        root = Path(root)
        if not root.exists():
            raise ConfigError(f"{root} does not exist")
        found = sorted(
            p
            for pattern in (PROGRESS, "progress.txt")
            for p in ([root / pattern] if (root / pattern).is_file() else root.rglob(pattern))
        )
        for table in found:
            run_path = table.parent
            text = str(run_path)
            if select and not all(s in text for s in select):
                continue
            if exclude and any(s in text for s in exclude):
                continue
            runs.append(Run(run_path, run_path.parent.name, read_progress(table)))
    if not runs:
        raise ConfigError(f"no progress.csv or progress.txt under {', '.join(map(str, paths))}")
    return runs


def smooth(y: np.ndarray, k: int) -> np.ndarray:
    """Moving average over a window of up to 2k+1 points, shorter at the edges."""
    if k <= 0:
        return y
    kernel = np.ones(2 * k + 1)
    centred = slice(k, k + len(y))  # "full" then cut: right even when len(y) < 2k + 1
    num = np.convolve(np.nan_to_num(y), kernel, mode="full")[centred]
    den = np.convolve(np.isfinite(y).astype(float), kernel, mode="full")[centred]
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / den


def iqm(values: np.ndarray) -> np.ndarray:
    """Interquartile mean over axis 0: drop the lowest and highest quarter of the runs and
    average the rest (scipy's trim_mean(x, 0.25), as in Agarwal et al., 2021); robust to a
    few outlier runs and less noisy than the median."""
    ordered = np.sort(values, axis=0)
    cut = int(np.floor(0.25 * len(ordered)))
    return ordered[cut : len(ordered) - cut].mean(0)


ESTIMATORS = {"mean": lambda v: v.mean(0), "median": lambda v: np.median(v, 0), "iqm": iqm}
# An epoch in which no episode ended logs NaN for its returns: the mean and median then use
# the runs that have a value there.
NAN_AWARE = {"mean": lambda v: np.nanmean(v, 0), "median": lambda v: np.nanmedian(v, 0)}


def band(ys: np.ndarray, estimator: str, ci: str, resamples: int = 1000):
    """(center, low, high) over runs (axis 0): +- one std, or a 95% percentile bootstrap of
    the estimator (resampling runs with replacement, fixed seed)."""
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns stay NaN
        center = NAN_AWARE.get(estimator, ESTIMATORS[estimator])(ys)
        std = np.nanstd(ys, 0)
    if ci == "std":
        return center, center - std, center + std
    if ci == "bootstrap95":
        rng = np.random.default_rng(0)
        picks = rng.integers(0, len(ys), size=(resamples, len(ys)))
        stats = np.stack([ESTIMATORS[estimator](ys[p]) for p in picks])
        low, high = np.percentile(stats, [2.5, 97.5], axis=0)
        return center, low, high
    raise ConfigError(f"--ci must be std or bootstrap95, got {ci!r}")


def experiment_curves(
    runs: list[Run],
    value: str,
    xaxis: str = "TotalEnvInteracts",
    smoothing: int = 0,
    estimator: str = "mean",
    ci: str = "std",
    count: bool = False,
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]]:
    """{label: (x, center, low, high, n_runs)} over each group's common length; with
    ``count`` every run is its own group."""
    if estimator not in ESTIMATORS:
        raise ConfigError(f"--estimator must be one of {', '.join(ESTIMATORS)}, got {estimator!r}")
    groups: dict[str, list[Run]] = {}
    names = [r.path.name for r in runs]
    for run in runs:
        if value in run.columns and xaxis in run.columns:
            if count:  # one curve per run, named by its folder (with its parents if needed)
                unique = names.count(run.path.name) == 1
                label = run.path.name if unique else "/".join(run.path.parts[-3:])
            else:
                label = run.experiment
            groups.setdefault(label, []).append(run)
    if not groups:
        raise ConfigError(f"no run logs both {value!r} and {xaxis!r}")
    curves = {}
    for name, members in groups.items():
        n = min(len(r.columns[value]) for r in members)
        ys = np.stack([smooth(r.columns[value][:n], smoothing) for r in members])
        x = members[0].columns[xaxis][:n]
        curves[name] = (x, *band(ys, estimator, ci), len(members))
    return curves


def image_formats() -> list[str]:
    """The file extensions matplotlib can write a figure to here (png, pdf, svg, jpg, ...);
    pgf only where its TeX program is installed."""
    import shutil

    import matplotlib
    from matplotlib.backend_bases import FigureCanvasBase

    formats = set(FigureCanvasBase.get_supported_filetypes())
    if shutil.which(matplotlib.rcParams["pgf.texsystem"]) is None:
        formats.discard("pgf")
    return sorted(formats)


def check_image_path(out: str | os.PathLike) -> Path:
    """``out`` if its extension names a format matplotlib writes, else a ConfigError that
    names the extension and the supported ones (checked before anything is read or drawn)."""
    out = Path(out)
    ext = out.suffix.lower().removeprefix(".")
    formats = image_formats()
    if ext not in formats:
        problem = f"cannot write {out.suffix!r} images" if ext else "has no extension"
        supported = ", ".join(f".{f}" for f in formats)
        raise ConfigError(f"--out {out}: {problem}; use one of {supported}")
    return out


def plot(
    paths: list[str | os.PathLike],
    values: list[str] | tuple[str, ...] = ("AverageEpRet",),
    xaxis: str = "TotalEnvInteracts",
    smoothing: int = 0,
    out: str | os.PathLike = "learning_curve.png",
    legend: list[str] | None = None,
    select: list[str] | None = None,
    exclude: list[str] | None = None,
    count: bool = False,
    estimator: str = "mean",
    ci: str = "std",
    references: dict[str, list[tuple[str, float, float]]] | None = None,
) -> Path:
    """Draw one panel per value and write the figure to ``out``, in the format its extension
    names (png, svg, pdf, jpg, ...: image_formats()).

    ``references`` maps a curve's name to published points ``(label, x, y)`` to compare
    it with (e.g. another library's return at 300k steps); each is drawn as a marker in
    that curve's colour, with its label in the legend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = check_image_path(out)
    runs = find_runs(list(paths), select, exclude)
    fig, axes = plt.subplots(1, len(values), figsize=(6 * len(values), 4.2), squeeze=False)
    for ax, value in zip(axes[0], values, strict=True):
        curves = experiment_curves(runs, value, xaxis, smoothing, estimator, ci, count)
        if legend is not None and len(legend) != len(curves):
            raise ConfigError(f"--legend gives {len(legend)} names for {len(curves)} curves")
        for i, (name, (x, center, low, high, n)) in enumerate(curves.items()):
            label = legend[i] if legend else f"{name} ({n} run{'s' if n > 1 else ''})"
            ok = np.isfinite(center)  # draw through epochs with no finished episode
            (line,) = ax.plot(x[ok], center[ok], label=label, linewidth=1.8)
            if n > 1:
                ax.fill_between(x[ok], low[ok], high[ok], color=line.get_color(), alpha=0.2)
            for (ref_label, ref_x, ref_y), marker in zip(
                (references or {}).get(name, []), "*Dsv^", strict=False
            ):
                ax.plot(
                    [ref_x],
                    [ref_y],
                    marker,
                    color=line.get_color(),
                    markersize=9,
                    markeredgecolor="black",
                    label=f"{name}: {ref_label}",
                    linestyle="none",
                )
        band_name = "+-1 std" if ci == "std" else "95% bootstrap CI"
        ax.set_title(f"{value}: {estimator} over runs, band {band_name}", fontsize="medium")
        ax.set_xlabel(xaxis)
        ax.set_ylabel(value)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
