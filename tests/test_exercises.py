"""The exercises (spinrl.exercises) and the ``spinrl exercise`` command.

For every exercise: the stub fails its checks, the reference solution passes them, and known
wrong variants of the solution (each one mistake, made by editing the solution's text) fail
with the hint that names that mistake. The checks run in this process with ``quick=True``
(no training runs); the training checks of the reference solutions run under -m slow.
"""

import json
import subprocess
import sys
import types

import numpy as np
import pytest

from spinrl import cli, exercises
from spinrl.exercises import runner

IDS = list(exercises.EXERCISES)


def _module(source: str, name: str = "learner") -> types.ModuleType:
    module = types.ModuleType(name)
    exec(compile(source, f"<{name}>", "exec"), module.__dict__)
    return module


def _checks(exercise_id: str, source: str, quick: bool = True):
    return exercises.run_checks(exercise_id, _module(source), quick=quick)


def _variant(exercise_id: str, old: str, new: str) -> str:
    source = exercises.solution_text(exercise_id)
    assert old in source, f"the solution of {exercise_id} no longer contains {old!r}"
    return source.replace(old, new, 1)


def _write_run(folder, train_v_iters, seed, returns, env="Hopper-v5"):
    """A run directory as spinrl writes one: config.json and progress.csv."""
    from spinrl.checkpoint import write_json

    folder.mkdir(parents=True)
    cfg = {"env": env, "train_v_iters": train_v_iters, "seed": seed}
    write_json(folder / "config.json", {"algo": "trpo", "config": cfg})
    rows = [f"{epoch},{ret}" for epoch, ret in enumerate(returns)]
    (folder / "progress.csv").write_text("\n".join(["Epoch,AverageEpRet", *rows]) + "\n")


@pytest.fixture
def ex21_runs(tmp_path, monkeypatch):
    """Exercise 2.1's experiment as files: 3 seeds with a fitted V that end near 1000, 3
    without that end near 300 (the checker's reading and judging is what is tested here;
    a real experiment runs in the slow test below)."""
    monkeypatch.chdir(tmp_path)
    for seed, (good, bad) in enumerate([(1000, 300), (1100, 350), (950, 280)]):
        ramp = np.linspace(0, 1, 10)
        _write_run(tmp_path / "data/ex21_v80" / f"s{seed}", 80, seed, 100 + ramp * (good - 100))
        _write_run(tmp_path / "data/ex21_v0" / f"s{seed}", 0, seed, 100 + ramp * (bad - 100))
    return tmp_path


@pytest.mark.parametrize("exercise_id", IDS)
def test_every_stub_fails_its_checks(exercise_id, ex21_runs):
    stub = exercises.stub_text(exercise_id)
    checks = _checks(exercise_id, stub)
    assert [c for c in checks if not c.passed and c.got != "not run"], checks
    if "raise NotImplementedError" in stub:  # 2.1 and 2.2 start from a file that runs
        assert not any(c.passed for c in checks), [c.line() for c in checks]


@pytest.mark.parametrize("exercise_id", IDS)
def test_every_reference_solution_passes_its_checks(exercise_id, ex21_runs):
    checks = _checks(exercise_id, exercises.solution_text(exercise_id))
    trains = exercises.EXERCISES[exercise_id].trains
    for c in checks:
        skipped_training = trains and c.got == "not run" and "--quick" in c.hint
        assert c.passed or skipped_training, c.line()
    assert sum(c.passed for c in checks) >= 2


# (exercise, text in the solution, the mistake put in its place, a phrase of the hint)
WRONG = [
    ("1.1", "+ math.log(2 * math.pi)", "", "missing the log 2pi term"),
    ("1.1", ".sum(dim=-1)", ".sum(dim=0)", "summed over the batch instead of the action"),
    ("1.1", "return -0.5 *", "return 0.5 *", "a sign"),
    ("1.1", "2 * log_std +", "log_std +", "2 log sigma_i"),
    ("p1.eval", "V_new = (pi * Q).sum(axis=1)", "V_new = Q.max(axis=1)", "that is V*"),
    ("p1.eval", "if np.max(np.abs(V_new - V)) < tol:", "if True:", "one sweep"),
    ("p1.vi", "V_new = Q.max(axis=1)", "V_new = Q.mean(axis=1)", "uniform policy"),
    ("p1.vi", "Q.argmax(axis=1)", "Q.argmin(axis=1)", "argmin"),
    ("p2.ddqn", "a_star = q_next_online.argmax", "a_star = q_next_target.argmax", "plain DQN"),
    (
        "p2.ddqn",
        "q_next_online.argmax(dim=-1, keepdim=True)  # [B, 1]: the online network picks\n"
        "    q_star = q_next_target.gather",
        "q_next_target.argmax(dim=-1, keepdim=True)\n    q_star = q_next_online.gather",
        "the roles are swapped",
    ),
    (
        "p2.ddqn",
        "q_star = q_next_target.gather",
        "q_star = q_next_online.gather",
        "values its own choice",
    ),
    ("p2.ddqn", "(1.0 - terminated) * ", "", "bootstrapping through termination"),
    ("p2.ddqn", "discounts * ", "", "the discount is missing"),
    ("p2.mpc", "returns + gamma**t * rewards", "returns + rewards", "the discount is missing"),
    ("p2.mpc", "gamma**t * rewards", "gamma ** (t + 1) * rewards", "first reward is discounted"),
    (
        "p2.mpc",
        "states, rewards = model.step(states,",
        "_, rewards = model.step(states,",
        "every step starts from obs",
    ),
    (
        "p2.mpc",
        "return candidates[best, 0], returns",
        "return candidates[best, -1], returns",
        "last action",
    ),
    ("p2.mpc", "best = returns.argmax()", "best = returns.argmin()", "argmin"),
    ("p2.mpc", "candidates = low + (high - low) * u", "candidates = u", "scale it to the bounds"),
    ("p2.mpc", "torch.rand(population", "torch.randn(population", "outside the bounds"),
    (
        "p2.mpc",
        "candidates = low + (high - low) * u",
        "candidates = (low + (high - low) * torch.randn_like(u)).clamp(low, high)",
        "pile up on the bounds",
    ),
    ("p3.rtg", "return out", "return np.full(len(out), out[0])", "R(tau) at every step"),
    ("p3.rtg", "rewards[t] + gamma * following", "rewards[t] + following", "discount is missing"),
    (
        "p3.rtg",
        "for t in reversed(range(len(rewards))):",
        "for t in range(len(rewards)):",
        "sums the past",
    ),
    ("p3.eglp", "return z / sigma, z**2 - 1", "return z / sigma, z**2", "missing the -1"),
    ("p3.eglp", "return z / sigma, z**2 - 1", "return -z / sigma, z**2 - 1", "a sign"),
    ("p3.eglp", "return z / sigma, z**2 - 1", "return z, z**2 - 1", "divide by sigma^2"),
    (
        "p3.eglp",
        "x = mu + torch.exp(log_std) *",
        "x = mu + 0 * log_std +",
        "sample x from N(mu, sigma^2)",
    ),
    (
        "p3.gae",
        "next_v = np.where(terminated[t], 0.0, next_v)",
        "",
        "bootstrapping through termination",
    ),
    (
        "p3.gae",
        "np.where(truncated[t], final_values[t], next_v)",
        "np.where(truncated[t], 0.0, next_v)",
        "a time limit treated as a terminal state",
    ),
    ("p3.gae", "gamma * lam * np.where", "gamma * np.where", "decays by gamma only"),
    ("p3.gae", "np.where(ends, 0.0, following)", "following", "runs across episode ends"),
    ("p3.gae", "else last_values", "else 0 * last_values", "last row is not bootstrapped"),
    ("p3.pg", "return -(logp * weights).mean()", "return (logp * weights).mean()", "a sign"),
    ("p3.pg", "(logp * weights).mean()", "(logp * weights).sum()", "a sum over the batch"),
    ("p3.pg", "torch.log_softmax(logits, dim=-1)", "logits", "raw logits"),
    (
        "p3.pg",
        "torch.log_softmax(logits, dim=-1)",
        "torch.log_softmax(logits, dim=-1).detach()",
        "cut off from the logits",
    ),
    ("1.2", "+ math.log(2 * math.pi)", "", "missing the log 2pi term"),
    (
        "1.2",
        "mu + torch.exp(self.log_std) * torch.randn_like(mu)",
        "mu + torch.randn_like(mu)",
        "the noise is not scaled",
    ),
    (
        "1.2",
        "nn.Parameter(torch.full((act_dim,), -0.5))",
        "torch.full((act_dim,), -0.5)",
        "nn.Parameter",
    ),
    ("1.2", "if i < len(sizes) - 2:", "if True:", "none after the last"),
    (
        "1.2",
        "        mu = self.mu_net(obs)\n        z",
        "        mu = self.mu_net(obs).detach()\n        z",
        "no .detach()",
    ),
    (
        "1.3",
        'gamma * (1 - data["terminated"]) * q_next',
        "gamma * q_next",
        "bootstrapping through termination",
    ),
    ("1.3", "torch.min(ac_targ.q1", "torch.max(ac_targ.q1", "TD3 takes the min"),
    (
        "1.3",
        "with torch.no_grad():  # y is a fixed regression target",
        "if True:",
        "stop the gradient at y",
    ),
    ("1.3", "a_next = ac_targ.pi(next_obs)", "a_next = ac.pi(next_obs)", "target actor"),
    ("1.3", ".clamp(-noise_clip, noise_clip)", "", "clip the noise"),
    (
        "1.3",
        "return -ac.q1(obs, ac.pi(obs)).mean()",
        "return ac.q1(obs, ac.pi(obs)).mean()",
        "a sign",
    ),
    ("1.3", "ac.q1(obs, ac.pi(obs))", "ac.q1(obs, ac.pi(obs).detach())", "the action is detached"),
    ("2.1", 'BETTER = "with_v"', 'BETTER = "without_v"', "more than twice its standard error"),
    ("2.1", 'BETTER = "with_v"', 'BETTER = "no_difference"', "more than twice its standard"),
    ("2.1", 'WHY = "a"', 'WHY = "b"', "KL bound"),
    ("2.1", 'RUNS = "data/ex21*"', 'RUNS = "elsewhere/*"', "no TRPO run"),
    ("2.2", ".squeeze(-1)  # [B], not [B, 1]", "", "a mean over B x B numbers"),
    (
        "2.2",
        'gamma * (1 - data["terminated"]) * q_next',
        "gamma * q_next",
        "bootstrapping through termination",
    ),
    ("2.2", 'q_next = q_targ(data["next_obs"]', 'q_next = q(data["next_obs"]', "target critic"),
    (
        "2.2",
        'return -q(data["obs"], actor(data["obs"])).mean()',
        'return q(data["obs"], actor(data["obs"])).mean()',
        "a sign",
    ),
]


@pytest.mark.parametrize(("exercise_id", "old", "new", "hint"), WRONG)
def test_known_wrong_variants_fail_with_their_hint(exercise_id, old, new, hint, ex21_runs):
    checks = _checks(exercise_id, _variant(exercise_id, old, new))
    failing = [c for c in checks if not c.passed and c.got != "not run"]
    assert failing, [c.line() for c in checks]
    assert any(hint in c.hint for c in failing), [c.line() for c in failing]


def test_every_exercise_has_at_least_two_wrong_variants():
    counts = {i: sum(row[0] == i for row in WRONG) for i in IDS}
    assert min(counts.values()) >= 2, counts


def test_a_wrong_answer_is_diagnosed_by_its_output_not_its_text():
    # The log 2pi hint comes from the value being off by exactly k/2 log 2pi, however written.
    source = (
        "import torch\n"
        "def gaussian_likelihood(x, mu, log_std):\n"
        "    var = torch.exp(2 * log_std)\n"
        "    return -0.5 * ((x - mu) ** 2 / var).sum(-1) - log_std.expand_as(x).sum(-1)\n"
    )
    checks = _checks("1.1", source)
    assert all("missing the log 2pi term" in c.hint for c in checks[:3]), checks


def test_2_1_judges_the_runs_it_reads(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    answer = 'RUNS = "data/*"\nBETTER = "no_difference"\nWHY = "a"\n'
    # Seeds that overlap: the gap is within twice its standard error.
    for seed, (a, b) in enumerate([(500, 450), (300, 520), (610, 400)]):
        _write_run(tmp_path / "data/v80" / f"s{seed}", 80, seed, [100, a])
        _write_run(tmp_path / "data/v0" / f"s{seed}", 0, seed, [100, b])
    assert all(c.passed for c in _checks("2.1", answer))
    checks = _checks("2.1", answer.replace("no_difference", "with_v"))
    assert not checks[1].passed and "within twice its standard error" in checks[1].hint
    _write_run(tmp_path / "data/other" / "s0", 0, 9, [1, 2], env="Walker2d-v5")
    checks = _checks("2.1", answer)
    assert not checks[0].passed and "several envs" in checks[0].hint
    (tmp_path / "data/other/s0/config.json").unlink()
    for seed in (1, 2):
        (tmp_path / f"data/v0/s{seed}/progress.csv").unlink()  # one seed left without V
    checks = _checks("2.1", answer)
    assert not checks[0].passed and "two seeds or more" in checks[0].hint


# --- the command ------------------------------------------------------------------------------


def _run(argv, capsys):
    status = cli.main(argv)
    out = capsys.readouterr()
    return status, out.out, out.err


def test_start_writes_the_stub_and_refuses_to_overwrite(tmp_path, capsys):
    status, _, _ = _run(["exercise", "start", "1.1", str(tmp_path)], capsys)
    path = tmp_path / "ex_1_1.py"
    assert status == 0 and path.read_text() == exercises.stub_text("1.1")
    assert "def gaussian_likelihood(" in path.read_text() and "log 2 pi" in path.read_text()
    path.write_text("# my work\n")
    status, _, err = _run(["exercise", "start", "1.1", str(tmp_path)], capsys)
    assert status == 2 and len(err.strip().splitlines()) == 1 and "already exists" in err
    assert path.read_text() == "# my work\n"


@pytest.mark.parametrize("argv", [["start", "9.9"], ["check", "9.9", "x.py"], ["solution", "nope"]])
def test_an_unknown_exercise_is_one_line_and_exit_status_2(argv, capsys):
    status, _, err = _run(["exercise", *argv], capsys)
    assert status == 2 and len(err.strip().splitlines()) == 1 and "unknown exercise" in err


def test_solution_prints_the_reference_file(capsys):
    status, out, _ = _run(["exercise", "solution", "p3.gae"], capsys)
    assert status == 0 and out == exercises.solution_text("p3.gae")


def test_check_of_a_missing_file_or_a_syntax_error_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, _, err = _run(["exercise", "check", "p3.rtg", "absent.py"], capsys)
    assert status == 2 and len(err.strip().splitlines()) == 1 and "does not exist" in err
    (tmp_path / "broken.py").write_text("def reward_to_go(rewards, gamma)\n    return rewards\n")
    status, out, err = _run(["exercise", "check", "p3.rtg", "broken.py"], capsys)
    assert status == 2 and out == ""
    assert err.strip().splitlines() == [
        "spinrl: error: broken.py does not import: SyntaxError: expected ':' (line 1)"
    ]


def _list_rows(capsys) -> dict:
    _, out, _ = _run(["exercise", "list"], capsys)
    return {line.split("│")[1].strip(): line for line in out.splitlines() if "│" in line}


def test_check_and_list_keep_the_status_of_each_exercise(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    rows = _list_rows(capsys)
    assert set(IDS) <= set(rows) and all("not started" in row for row in rows.values())
    _run(["exercise", "start", "p3.rtg"], capsys)
    status, out, _ = _run(["exercise", "check", "p3.rtg", "ex_p3_rtg.py"], capsys)
    assert status == 1 and out.count("FAIL") == 3 and "NotImplementedError" in out
    rows = _list_rows(capsys)
    assert "failing" in rows["p3.rtg"] and "not started" in rows["1.1"]
    (tmp_path / "mine.py").write_text(exercises.solution_text("p3.rtg") + "print('debug')\n")
    status, out, err = _run(["exercise", "check", "p3.rtg", "mine.py"], capsys)
    assert status == 0 and out.count("PASS") == 3 and "3/3 checks pass: passed" in out
    assert err.splitlines() == ["debug"]  # the learner's prints reach them, apart from results
    recorded = json.loads((tmp_path / exercises.STATUS_FILE).read_text())
    assert recorded["p3.rtg"]["status"] == "passed" and recorded["p3.rtg"]["file"] == "mine.py"
    rows = _list_rows(capsys)
    assert "passed" in rows["p3.rtg"] and "Part 3" in rows["p3.gae"]


def test_a_file_for_another_exercise_is_told_what_to_define():
    checks = _checks("p1.vi", exercises.solution_text("p3.rtg"))
    assert [c.hint for c in checks] == ["define value_iteration"]


def test_a_check_past_its_time_limit_is_stopped(tmp_path):
    path = tmp_path / "slow.py"
    path.write_text("while True:\n    pass\n")
    outcome = exercises.check_file("p3.rtg", path, timeout_s=2)
    assert not outcome.passed and "time limit of 2 s" in outcome.error
    assert not outcome.bad_input  # the learner's code failed: exit status 1, not 2


def test_the_runner_reports_an_import_error_as_one_json_line(tmp_path):
    path = tmp_path / "fails.py"
    path.write_text("import numpy\nraise RuntimeError('boom\\nsecond line')\n")
    proc = subprocess.run(
        [sys.executable, "-m", "spinrl.exercises.runner", "p3.rtg", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert json.loads(proc.stdout) == {
        "import_error": "fails.py does not import: RuntimeError: boom"
    }
    with pytest.raises(ImportError, match="does not import: SyntaxError"):
        (tmp_path / "bad.py").write_text("x = (\n")
        runner.import_file(tmp_path / "bad.py")


# --- the training checks, in full ----------------------------------------------------------


@pytest.mark.slow
def test_2_1_reads_and_judges_real_trpo_runs(tmp_path, monkeypatch):
    # A real (small) grid: CartPole-v1, 2 seeds x train_v_iters 0 and 80. Whatever the runs
    # show, the check must read them, and exactly one answer must pass.
    monkeypatch.chdir(tmp_path)
    argv = [
        "train",
        "trpo",
        "--env",
        "CartPole-v1",
        "--train-v-iters",
        "0",
        "80",
        "--seed",
        "0",
        "1",
        "--steps-per-epoch",
        "1000",
        "--epochs",
        "4",
        "--exp-name",
        "ex21",
        "--quiet",
    ]
    assert cli.main(argv) == 0
    passing = []
    for better in ("with_v", "without_v", "no_difference"):
        checks = _checks("2.1", f'RUNS = "data/ex21*"\nBETTER = "{better}"\nWHY = "a"\n')
        assert checks[0].passed, checks[0].line()
        passing += [better] if all(c.passed for c in checks) else []
    assert len(passing) == 1


@pytest.mark.slow
def test_the_ddpg_bug_of_2_2_really_stops_learning():
    # The stub's DDPG, trained as the check would train a fixed file, stays far from -400.
    from spinrl.exercises import failures

    module = _module(exercises.stub_text("2.2"))
    history = failures.train_ddpg_with(module, 1000, 8, 1000, -400.0)
    assert max(history) < -700, history


@pytest.mark.slow
@pytest.mark.parametrize("exercise_id", [i for i in IDS if exercises.EXERCISES[i].trains])
def test_reference_solutions_pass_their_training_checks(exercise_id):
    outcome = exercises.check_file(exercise_id, exercises.solution_path(exercise_id))
    assert outcome.passed, [c.line() for c in outcome.checks] or outcome.error
