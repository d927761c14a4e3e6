"""spinrl variance: Part 3's claims, measured. Unbiased estimators have bias within the noise
floor, reward-to-go and baselines lower the variance, and the reported numbers are what a
direct computation from the same batch estimates gives."""

import numpy as np
import pytest

from spinrl.cli import main
from spinrl.variance import ESTIMATORS, measure

LAMS = (0.0, 0.9, 1.0)


@pytest.fixture(scope="module")
def report():
    return measure(
        "three_state",
        gamma=0.9,
        policy="random",
        seed=0,
        batch_sizes=(1, 4, 16),
        batches=300,
        lams=LAMS,
    )


def test_every_estimator_is_unbiased_within_the_noise_floor(report):
    rows, _ = report
    for r in rows:
        assert r.bias < r.noise_floor, r


def test_reward_to_go_and_the_baseline_reduce_variance_as_part_3_predicts(report):
    rows, _ = report
    var = {(r.estimator, r.batch_size): r.variance for r in rows}
    for B in (1, 4, 16):
        assert var["total", B] >= var["rtg", B] >= var["rtg_minus_exact_v", B], B
        assert var["exact_a", B] < var["exact_q", B]  # the advantage is Q minus a baseline
        # Variance of a mean of B independent episodes falls like 1 / B.
        assert 0.6 < var["rtg", B] * B / var["rtg", 1] < 1.6


def test_reported_numbers_equal_a_direct_computation(report):
    rows, raw = report
    g, exact = raw["estimates"]["rtg", 4], raw["exact"]
    row = next(r for r in rows if r.estimator == "rtg" and r.batch_size == 4)
    per_component = [np.var(g[:, j], ddof=1) for j in range(g.shape[1])]
    assert row.variance == pytest.approx(sum(per_component), rel=1e-10)
    assert row.mse == pytest.approx(np.mean([np.sum((x - exact) ** 2) for x in g]), rel=1e-10)
    assert row.bias == pytest.approx(np.sqrt(np.sum((g.mean(0) - exact) ** 2)), rel=1e-10)
    cos = [x @ exact / (np.linalg.norm(x) * np.linalg.norm(exact)) for x in g]
    assert row.cosine == pytest.approx(np.mean(cos), rel=1e-10)
    assert {r.estimator for r in rows} == {*ESTIMATORS, *(f"gae_{lam:g}" for lam in LAMS)}


def test_cli_writes_table_csv_and_plots(tmp_path, capsys):
    out = tmp_path / "v"
    argv = [
        "variance",
        "--env",
        "FrozenLake-v1",
        "--batch-sizes",
        "1",
        "4",
        "--batches",
        "50",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    assert "rtg_minus_exact_v" in capsys.readouterr().out
    lines = (out / "variance.csv").read_text().splitlines()
    assert lines[0].startswith("estimator,batch_size,bias") and len(lines) == 1 + 2 * 12
    for png in ("variance_vs_batch.png", "gae_lambda.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    assert main(["variance", "--env", "CartPole-v1"]) == 2
    assert "transition table" in capsys.readouterr().err
