"""EpochLogger: per-epoch statistics to progress.csv, TensorBoard and the console.

The interface is Spinning Up's: ``store(**values)`` during an epoch, then ``log_tabular(key)``
for each column and ``dump_tabular()`` once per epoch. A stored key logged with
``with_min_and_max`` becomes Average<key>, Std<key>, Max<key>, Min<key>.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import shutil
import time
from pathlib import Path

import numpy as np
from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Column, Table
from rich.text import Text

from spinrl.checkpoint import CHECKPOINT, CONFIG, PROGRESS, atomic_write_text, write_json
from spinrl.errors import ConfigError


def run_dir(data_dir: str | os.PathLike, exp_name: str, seed: int) -> Path:
    """Spinning Up's layout: DATA_DIR/EXP_NAME/EXP_NAME_s<SEED>."""
    return Path(data_dir) / exp_name / f"{exp_name}_s{seed}"


def prepare_run_dir(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Create a run directory; refuse to write over an existing run unless ``overwrite``."""
    path = Path(path)
    if (path / PROGRESS).exists() and not overwrite:
        raise ConfigError(
            f"{path} already holds a run; choose another --exp-name or pass --overwrite"
        )
    if overwrite:  # nothing of the old run may be resumed or watched by mistake
        for name in (PROGRESS, CONFIG, CHECKPOINT, f"{CHECKPOINT}.prev"):
            (path / name).unlink(missing_ok=True)
        for old in path.glob("events.out.tfevents.*"):
            old.unlink()
        shutil.rmtree(path / "videos", ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    return str(value)


# The columns of the one-line epoch summary printed when stdout is not a terminal (a log file,
# a pipe, a batch job); the full row is in progress.csv.
KEY_FIGURES = (
    "AverageEpRet",
    "StdEpRet",
    "AverageTestEpRet",
    "EpLen",
    "LossPi",
    "LossV",
    "LossQ",
    "KL",
    "Time",
)


def epoch_line(row: dict) -> str:
    """One line for an epoch: "epoch 12  steps 13312  AverageEpRet 245.3  ...  Time 3.1"; a
    row with none of KEY_FIGURES shows all of its columns."""
    parts = []
    if "Epoch" in row:
        parts.append(f"epoch {row['Epoch']}")
    if "TotalEnvInteracts" in row:
        parts.append(f"steps {row['TotalEnvInteracts']}")
    keys = [k for k in KEY_FIGURES if k in row]
    if not keys:
        keys = [k for k in row if k not in ("Epoch", "TotalEnvInteracts")]
    parts += [f"{k} {_fmt(row[k])}" for k in keys]
    return "  ".join(parts)


class _Description(ProgressColumn):
    """The run's name, cut with an ellipsis where the line is short: rich shrinks this column
    first, so the step count and rate are never the ones cut."""

    def __init__(self) -> None:
        super().__init__(table_column=Column(no_wrap=False))

    def render(self, task) -> Text:
        return Text(task.description, style="bold", no_wrap=True, overflow="ellipsis")


class _Bar(BarColumn):
    """A bar that takes the width the text leaves: 10 columns in an 80-column terminal, more in
    a wider one, and less rather than cutting the numbers in a narrower one."""

    def __init__(self, console: Console) -> None:
        super().__init__(bar_width=None)
        self._console = console

    def get_table_column(self) -> Column:
        return Column(ratio=1, width=max(1, min(10, self._console.width - 70)))


class EpochLogger:
    """Collects values during an epoch and writes one row per epoch.

    ``output_dir`` None keeps everything in memory (``rows``), for tests and notebooks.
    """

    def __init__(
        self,
        output_dir: str | os.PathLike | None = None,
        total_steps: int | None = None,
        verbose: bool = True,
        description: str = "training",
        keep_rows: int | None = None,
        console: Console | None = None,
    ) -> None:
        """``keep_rows`` (resuming): keep that many rows of the existing progress.csv and
        append after them; the rows of epochs after the checkpoint are dropped. ``console``:
        where the progress bar and the epoch summaries go (stdout by default). On a terminal
        each epoch prints a table of every column; anywhere else, one line of KEY_FIGURES."""
        self.output_dir = Path(output_dir) if output_dir is not None else None
        self.rows: list[dict] = []
        self._stored: dict[str, list[float]] = {}
        self._current: dict[str, float] = {}
        self._columns: list[str] | None = None
        self._writer = None
        self.verbose = verbose
        self.console = console if console is not None else Console(stderr=False)
        self.progress = None
        if verbose:
            self.progress = Progress(
                _Description(),
                _Bar(self.console),
                TextColumn(
                    "{task.completed}/{task.total} steps  {task.fields[rate]}/s  "
                    "EpRet {task.fields[ret]}",
                    table_column=Column(no_wrap=True),
                ),
                TimeElapsedColumn(table_column=Column(no_wrap=True)),
                console=self.console,
                expand=True,
            )
            self._task = self.progress.add_task(description, total=total_steps, rate="-", ret="-")
            self.progress.start()
        self._start = time.time()
        self._steps0: int | None = None
        self._csv_ready = False
        if self.output_dir is not None and keep_rows is not None:
            self._truncate_csv(keep_rows)
        if self.output_dir is not None:
            from torch.utils.tensorboard import SummaryWriter

            self.output_dir.mkdir(parents=True, exist_ok=True)
            self._writer = SummaryWriter(log_dir=str(self.output_dir))

    def save_config(self, algo: str, cfg) -> None:
        """config.json: the algorithm name and every Config field, enough to rerun the run."""
        if self.output_dir is None:
            return
        fields = dataclasses.asdict(cfg) if dataclasses.is_dataclass(cfg) else dict(cfg)
        write_json(self.output_dir / CONFIG, {"algo": algo, "config": fields})

    def store(self, **values) -> None:
        for key, value in values.items():
            arr = np.asarray(value, dtype=np.float64).reshape(-1)
            self._stored.setdefault(key, []).extend(arr.tolist())

    def log_tabular(self, key: str, value=None, with_min_and_max=False, average_only=False):
        """Log ``value``, or the statistics of what was stored under ``key`` this epoch."""
        if value is not None:
            self._current[key] = value
            return
        vals = np.asarray(self._stored.pop(key, []), np.float64)
        nan = float("nan")
        mean = float(vals.mean()) if len(vals) else nan
        prefix = "" if average_only else "Average"
        self._current[prefix + key] = mean
        if not average_only:
            self._current["Std" + key] = float(vals.std()) if len(vals) else nan
        if with_min_and_max:
            self._current["Max" + key] = float(vals.max()) if len(vals) else nan
            self._current["Min" + key] = float(vals.min()) if len(vals) else nan

    def update_progress(self, steps: int, latest_return: float | None) -> None:
        """Move the progress bar to ``steps``; the rate counts from the first call (training
        starts then, after start-up; a resumed run counts only its own steps)."""
        if self.progress is None:
            return
        if self._steps0 is None:
            self._steps0, self._start = steps, time.time()
        elapsed = max(time.time() - self._start, 1e-9)
        ret = (
            "-"
            if latest_return is None or not math.isfinite(latest_return)
            else f"{latest_return:.1f}"
        )
        rate = (steps - self._steps0) / elapsed
        self.progress.update(self._task, completed=steps, rate=f"{rate:.0f}", ret=ret)

    def dump_tabular(self) -> dict:
        """Write the epoch's row everywhere; returns it."""
        row = self._current
        self._current = {}
        self._stored.clear()
        if self._columns is None:
            self._columns = list(row)
        elif list(row) != self._columns:
            raise ConfigError(
                f"logged keys changed between epochs: {sorted(set(row) ^ set(self._columns))}"
            )
        self.rows.append(row)
        if self.output_dir is not None:
            self._write_csv(row)
            step = int(row.get("TotalEnvInteracts", len(self.rows)))
            for key, value in row.items():
                if isinstance(value, int | float) and key != "TotalEnvInteracts":
                    self._writer.add_scalar(key, value, step)
            self._writer.flush()
        if self.verbose:
            self._print(row)
        return row

    def _truncate_csv(self, keep_rows: int) -> None:
        path = self.output_dir / PROGRESS
        if not path.exists():
            return
        lines = path.read_text().splitlines(keepends=True)
        if not lines:
            return
        atomic_write_text(path, "".join(lines[: keep_rows + 1]))
        self._columns = next(csv.reader(lines[:1]))
        self._csv_ready = True

    def _write_csv(self, row: dict) -> None:
        path = self.output_dir / PROGRESS
        with open(path, "a" if self._csv_ready else "w", newline="") as f:
            writer = csv.writer(f)
            if not self._csv_ready:
                writer.writerow(self._columns)
            cells = [repr(row[k]) if isinstance(row[k], float) else row[k] for k in self._columns]
            writer.writerow(cells)
        self._csv_ready = True

    def _print(self, row: dict) -> None:
        if not (self.console.is_terminal or self.console.is_jupyter):
            self.console.print(epoch_line(row), soft_wrap=True, markup=False, highlight=False)
            return
        table = Table(box=box.SIMPLE_HEAD, show_header=False, padding=(0, 1))
        items = list(row.items())
        half = math.ceil(len(items) / 2)
        for _ in range(2):
            table.add_column(style="cyan")
            table.add_column(justify="right")
        for i in range(half):
            left = items[i]
            right = items[i + half] if i + half < len(items) else ("", "")
            table.add_row(left[0], _fmt(left[1]), right[0], _fmt(right[1]))
        self.console.print(table)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def read_progress(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The columns of a progress file, {key: values per epoch}: spinrl's progress.csv or
    Spinning Up's tab-separated progress.txt. Cells that are not numbers read as NaN; a last
    row cut short by a crash is left out."""
    path = Path(path)
    delimiter = "," if path.suffix == ".csv" else "\t"
    with open(path, newline="") as f:
        rows = list(csv.reader(f, delimiter=delimiter))
    if not rows:
        return {}
    header = [h.strip() for h in rows[0]]
    cols: dict[str, list[float]] = {h: [] for h in header}
    for row in rows[1:]:
        if len(row) != len(header):  # a row cut short by a crash: stop at the last whole one
            break
        for h, cell in zip(header, row, strict=True):
            try:
                cols[h].append(float(cell))
            except ValueError:
                cols[h].append(math.nan)
    return {h: np.asarray(v) for h, v in cols.items()}
