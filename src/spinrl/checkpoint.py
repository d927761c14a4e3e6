"""Checkpoints: atomic writes and safe loads.

Writes go to a temporary file in the same directory, are fsynced, then renamed over the
target, so a crash leaves either the old file or the new one, never half of one. Loads use
``torch.load(weights_only=True)``: tensors and plain containers only, never arbitrary
pickled objects. Numpy arrays are stored as tensors for that reason.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import signal
import sys
import tempfile
import threading
import warnings
from pathlib import Path

import numpy as np
import torch

from spinrl.errors import CheckpointError

# The files of a run directory, named once.
CONFIG = "config.json"  # {"algo": ..., "config": {every Config field}}
PROGRESS = "progress.csv"  # one row per epoch
CHECKPOINT = "model.pt"  # the newest checkpoint; the one before it is model.pt.prev
STATUS = "status.json"  # {"status": "completed" | "FAILED" | "interrupted", ...}
ERROR = "error.txt"  # the traceback of a failed run
LOCK = ".lock"  # the PID of the process training in the directory


def atomic_write_bytes(
    path: str | os.PathLike, data: bytes, keep_previous: str | os.PathLike | None = None
) -> None:
    """Write ``data`` to a temporary file, fsync it, then rename it over ``path``.

    With ``keep_previous``, the file being replaced is first renamed there, so that at every
    instant one complete checkpoint exists under one of the two names.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if keep_previous is not None and path.exists():
            os.replace(path, keep_previous)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def write_json(path: str | os.PathLike, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike) -> dict:
    path = Path(path)
    try:
        obj = json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path} should hold a JSON object, found {type(obj).__name__}")
    return obj


def _to_tensors(obj):
    """Numpy arrays (and numpy scalars) become tensors so weights_only loading accepts them."""
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(obj.copy())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {k: _to_tensors(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_to_tensors(v) for v in obj)
    return obj


def save_checkpoint(path: str | os.PathLike, state: dict) -> None:
    """torch.save of ``state`` (numpy converted to tensors), written atomically; the file it
    replaces is kept as ``<path>.prev`` until the next save."""
    buffer = io.BytesIO()
    torch.save(_to_tensors(state), buffer)
    atomic_write_bytes(path, buffer.getvalue(), keep_previous=f"{path}.prev")


class CheckpointKindError(CheckpointError):
    """The checkpoint is readable but was written by another algorithm."""


def load_latest_checkpoint(path: str | os.PathLike, kind: str) -> tuple[dict, Path]:
    """The newest loadable checkpoint: ``path``, or ``<path>.prev`` if ``path`` is missing or
    damaged (a crash while saving), saying so on stderr. Returns (state, file used)."""
    path = Path(path)
    try:
        return load_checkpoint(path, kind), path
    except CheckpointKindError:
        raise
    except CheckpointError as newest:
        previous = Path(f"{path}.prev")
        if not previous.exists():
            raise
        state = load_checkpoint(previous, kind)
        print(
            f"spinrl: {newest}; resuming from the previous checkpoint {previous}", file=sys.stderr
        )
        return state, previous


RESUME_MAY_CHANGE = frozenset({"epochs", "total_steps", "save_freq", "capture_video"})
"""Config fields a resumed run may change: how long it trains, how often it saves and how
often it records a video. Saving and videos change nothing learned; a longer budget does
stretch schedules that run to the end of training (PPO's annealed learning rate and clip)."""


def check_resume_config(run_dir: str | os.PathLike, current: dict, may_change) -> None:
    """ConfigError naming the fields where ``current`` differs from the run's config.json,
    except those in ``may_change`` (budget and saving, which a resumed run may extend)."""
    from spinrl.errors import ConfigError

    saved = read_json(Path(run_dir) / CONFIG).get("config")
    if not isinstance(saved, dict):
        raise CheckpointError(f"{Path(run_dir) / CONFIG} has no 'config' object")
    missing = sorted(set(current) - set(saved))
    if missing:
        raise CheckpointError(f"{Path(run_dir) / CONFIG} misses fields: {', '.join(missing)}")
    norm = json.loads(json.dumps(current))
    changed = sorted(k for k in norm if k not in may_change and norm[k] != saved.get(k))
    if changed:
        raise ConfigError(
            f"--resume keeps the run's config; these fields cannot change: {', '.join(changed)}"
        )


def load_checkpoint(path: str | os.PathLike, kind: str | None = None) -> dict:
    """Load a checkpoint safely; CheckpointError for a missing, truncated or foreign file.

    ``kind``, if given, must match the ``"kind"`` entry saved with the state (the algorithm).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        with warnings.catch_warnings():  # torch's unpickler warns about what it refuses
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "GLOBAL" not in str(e):  # no refused global: the bytes are not a pickle at all
            raise CheckpointError(
                f"checkpoint {path} cannot be read (truncated or damaged)"
            ) from None
        # weights_only refused a pickled object, which therefore never ran
        raise CheckpointError(
            f"{path} is not a spinrl checkpoint: it holds pickled Python objects, which "
            "spinrl refuses to load (its checkpoints hold only tensors and plain values)"
        ) from None
    except Exception as e:  # torch raises several types for truncated or damaged files
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(
            f"checkpoint {path} cannot be read (truncated or damaged): {first}"
        ) from None
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} does not hold a state dictionary")
    if kind is not None and state.get("kind") != kind:
        raise CheckpointKindError(
            f"checkpoint {path} was written by {state.get('kind')!r}, not {kind!r}"
        )
    return state


# --- One writer per run directory, and stopping cleanly on a signal ------------------------


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunLock:
    """A lock file holding the PID of the process training in a run directory.

    A second run pointed at the same directory is refused with a clear message; a lock left
    by a process that no longer exists is taken over with a warning.
    """

    def __init__(self, run_dir: str | os.PathLike) -> None:
        self.path = Path(run_dir) / LOCK

    def __enter__(self) -> RunLock:
        from spinrl.errors import ConfigError

        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                try:
                    pid = int(self.path.read_text().strip() or 0)
                except (OSError, ValueError):
                    pid = 0
                if pid and pid != os.getpid() and _alive(pid):
                    raise ConfigError(
                        f"{self.path.parent} is in use by another run (PID {pid}); "
                        "wait for it, or choose another --exp-name"
                    ) from None
                print(
                    f"spinrl: taking over the stale lock of PID {pid} in {self.path.parent}",
                    file=sys.stderr,
                )
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as f:
                f.write(str(os.getpid()))
            return self
        raise ConfigError(f"could not lock {self.path.parent}")

    def __exit__(self, *exc) -> None:
        try:
            if int(self.path.read_text().strip()) == os.getpid():
                self.path.unlink()
        except (OSError, ValueError):
            pass


class GracefulStop:
    """Catch SIGINT and SIGTERM during training: the first one only sets ``signum``, so the
    loop can finish its update, checkpoint and stop; the handlers then revert to the defaults,
    so a second Ctrl-C stops at once (atomic writes keep the last checkpoint intact)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._old: dict = {}

    def _handle(self, signum, frame) -> None:
        self.signum = signum
        for sig, handler in self._old.items():
            signal.signal(sig, handler)

    def __enter__(self) -> GracefulStop:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.getsignal(sig)
                signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        if self.signum is None:
            for sig, handler in self._old.items():
                signal.signal(sig, handler)
