"""spinrl variance: Part 3's claims, measured. Unbiased estimators have bias within the noise
floor, reward-to-go and baselines lower the variance, and the reported numbers are what a
direct computation from the same batch estimates gives."""

import numpy as np
import pytest
import torch

from spinrl.cli import main
from spinrl.variance import (
    ESTIMATORS,
    measure,
    measure_sampled,
    network_policy,
    per_episode_gradients,
    sample_network_episodes,
)

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
    assert main(["variance", "--env", "NoSuchEnv-v0"]) == 2
    assert "NoSuchEnv-v0" in capsys.readouterr().err
    assert main(["variance", "--env", "FrozenLake-v1", "--policy", "data/x"]) == 2
    for env in ("FrozenLake-v1", "CartPole-v1"):
        assert main(["variance", "--env", env, "--max-len", "0"]) == 2
        assert "max_len" in capsys.readouterr().err
    run = tmp_path / "run"  # a policy trained on another environment
    run.mkdir()
    (run / "config.json").write_text('{"algo": "ppo", "config": {"env": "CartPole-v1"}}')
    assert main(["variance", "--env", "Acrobot-v1", "--policy", str(run)]) == 2
    assert "trained on CartPole-v1, not Acrobot-v1" in capsys.readouterr().err


# Environments without a transition table: a large-batch reference instead of the exact
# gradient. A random network policy on CartPole-v1 (episodes of ~20 steps).

SAMPLED_LAMS = (0.0, 1.0)


@pytest.fixture(scope="module")
def sampled():
    return measure_sampled(
        "CartPole-v1",
        policy="random",
        seed=0,
        batch_sizes=(1, 4),
        batches=60,
        lams=SAMPLED_LAMS,
        reference_episodes=600,
        value_episodes=200,
    )


def test_per_episode_gradients_equal_autograd_of_the_surrogate():
    """The vmap'd per-step gradients, summed into episodes, equal a plain backward pass of
    sum_t Phi_t log pi(a_t|s_t) over each episode alone."""
    actor, normalizer, space = network_policy("CartPole-v1", "random", seed=3)
    eps = sample_network_episodes("CartPole-v1", actor, normalizer, space, 5, 3, 500)
    w = np.random.default_rng(0).normal(size=eps.rewards.shape)
    fast = per_episode_gradients(actor, eps, w)
    for e in range(5):
        rows = np.flatnonzero(eps.valid[:, e])
        logp = actor.log_prob(
            torch.from_numpy(eps.obs[rows, e]), torch.from_numpy(eps.actions[rows, e])
        )
        actor.zero_grad()
        (logp * torch.from_numpy(w[rows, e]).float()).sum().backward()
        slow = torch.cat([p.grad.reshape(-1) for p in actor.parameters()]).numpy()
        np.testing.assert_allclose(fast[e], slow, rtol=1e-4, atol=1e-5)


def test_sampled_report_orders_variance_and_matches_a_direct_computation(sampled):
    rows, info = sampled
    var = {(r.estimator, r.batch_size): r.variance for r in rows}
    cos = {(r.estimator, r.batch_size): r.cosine for r in rows}
    for B in (1, 4):
        assert var["total", B] > var["rtg", B] > var["rtg_minus_learned_v", B], B
    # More episodes per batch: lower variance, closer to the reference.
    assert var["rtg_minus_learned_v", 4] < var["rtg_minus_learned_v", 1]
    assert cos["rtg_minus_learned_v", 4] > cos["rtg_minus_learned_v", 1]
    # GAE with lambda = 1 is reward-to-go minus V: the same weights.
    assert var["gae_1", 4] == pytest.approx(var["rtg_minus_learned_v", 4], rel=1e-6)
    g, ref = info["estimates"]["rtg", 4], info["reference"]
    row = next(r for r in rows if r.estimator == "rtg" and r.batch_size == 4)
    assert row.variance == pytest.approx(sum(np.var(g, axis=0, ddof=1)), rel=1e-10)
    cosine = [x @ ref / (np.linalg.norm(x) * np.linalg.norm(ref)) for x in g]
    assert row.cosine == pytest.approx(np.mean(cosine), rel=1e-10)
    assert np.isnan(row.bias) and np.isnan(row.mse)  # not measurable without an exact gradient
    assert info["reference_relative_se"] < 0.5


def test_cli_on_cartpole_says_there_is_no_exact_gradient(tmp_path, capsys):
    out = tmp_path / "cp"
    argv = ["variance", "--env", "CartPole-v1", "--batch-sizes", "1", "2", "--batches", "10"]
    argv += ["--reference-episodes", "50", "--lams", "0.9", "--out", str(out)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "no exact gradient" in text and "cosine to reference" in text
    assert len((out / "variance.csv").read_text().splitlines()) == 1 + 2 * 4
