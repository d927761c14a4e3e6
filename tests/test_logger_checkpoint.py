"""EpochLogger statistics and files; atomic, safe checkpoints."""

import csv
import pickle

import numpy as np
import pytest
import torch

from spinrl.checkpoint import load_checkpoint, read_json, save_checkpoint, write_json
from spinrl.errors import CheckpointError, ConfigError
from spinrl.logger import EpochLogger


def test_epoch_statistics_equal_numpy_and_reach_the_csv(tmp_path):
    logger = EpochLogger(tmp_path, verbose=False)
    data = [np.array([1.0, 2.0, 6.0]), np.array([-3.0, 0.5])]
    for epoch, values in enumerate(data):
        logger.store(EpRet=values[:1])
        logger.store(EpRet=values[1:])
        logger.log_tabular("Epoch", epoch)
        logger.log_tabular("EpRet", with_min_and_max=True)
        logger.log_tabular("TotalEnvInteracts", 10 * (epoch + 1))
        row = logger.dump_tabular()
        assert row["AverageEpRet"] == pytest.approx(values.mean())
        assert row["StdEpRet"] == pytest.approx(values.std())
        assert (row["MaxEpRet"], row["MinEpRet"]) == (values.max(), values.min())
    logger.close()
    with open(tmp_path / "progress.csv") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["AverageEpRet"]) for r in rows] == [d.mean() for d in data]
    assert any(p.name.startswith("events.out.tfevents") for p in tmp_path.iterdir())


def test_logged_keys_must_not_change_between_epochs():
    logger = EpochLogger(None, verbose=False)
    logger.log_tabular("A", 1)
    logger.dump_tabular()
    logger.log_tabular("B", 1)
    with pytest.raises(ConfigError, match="logged keys changed"):
        logger.dump_tabular()


def test_checkpoint_round_trip_with_numpy_inside(tmp_path):
    state = {"kind": "vpg", "w": torch.arange(3.0), "stats": {"mean": np.ones(2), "count": 4.0}}
    save_checkpoint(tmp_path / "m.pt", state)
    loaded = load_checkpoint(tmp_path / "m.pt", kind="vpg")
    assert torch.equal(loaded["w"], state["w"])
    assert torch.equal(loaded["stats"]["mean"], torch.ones(2, dtype=torch.float64))
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_truncated_missing_and_foreign_checkpoints_are_checkpoint_errors(tmp_path):
    save_checkpoint(tmp_path / "m.pt", {"kind": "vpg", "w": torch.zeros(1000)})
    data = (tmp_path / "m.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_checkpoint(tmp_path / "cut.pt")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "none.pt")
    with pytest.raises(CheckpointError, match="written by 'vpg', not 'ppo'"):
        load_checkpoint(tmp_path / "m.pt", kind="ppo")


class _Boom:
    def __reduce__(self):
        return (_explode, ())


def _explode():
    raise AssertionError("pickle code was executed")


def test_a_checkpoint_holding_a_pickled_object_is_refused_without_running_it(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"kind": "vpg", "payload": _Boom()}, path, pickle_module=pickle)
    with pytest.raises(CheckpointError, match="is not a spinrl checkpoint"):
        load_checkpoint(path)


def test_json_helpers_are_atomic_and_strict(tmp_path):
    write_json(tmp_path / "c.json", {"a": 1})
    assert read_json(tmp_path / "c.json") == {"a": 1}
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        read_json(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(CheckpointError, match="JSON object"):
        read_json(tmp_path / "list.json")
