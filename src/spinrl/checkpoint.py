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
import tempfile
from pathlib import Path

import numpy as np
import torch

from spinrl.errors import CheckpointError


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
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
    """torch.save of ``state`` (numpy converted to tensors), written atomically."""
    buffer = io.BytesIO()
    torch.save(_to_tensors(state), buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: str | os.PathLike, kind: str | None = None) -> dict:
    """Load a checkpoint safely; CheckpointError for a missing, truncated or foreign file.

    ``kind``, if given, must match the ``"kind"`` entry saved with the state (the algorithm).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for truncated or hostile files
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"checkpoint {path} cannot be loaded safely: {first}") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} does not hold a state dictionary")
    if kind is not None and state.get("kind") != kind:
        raise CheckpointError(
            f"checkpoint {path} was written by {state.get('kind')!r}, not {kind!r}"
        )
    return state
