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


@pytest.mark.parametrize("exercise_id", IDS)
def test_every_stub_fails_its_checks(exercise_id):
    checks = _checks(exercise_id, exercises.stub_text(exercise_id))
    assert checks and not any(c.passed for c in checks), [c.line() for c in checks]


@pytest.mark.parametrize("exercise_id", IDS)
def test_every_reference_solution_passes_its_checks(exercise_id):
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
]


@pytest.mark.parametrize(("exercise_id", "old", "new", "hint"), WRONG)
def test_known_wrong_variants_fail_with_their_hint(exercise_id, old, new, hint):
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


def test_check_and_list_keep_the_status_of_each_exercise(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    _run(["exercise", "start", "p3.rtg"], capsys)
    status, out, _ = _run(["exercise", "check", "p3.rtg", "ex_p3_rtg.py"], capsys)
    assert status == 1 and out.count("FAIL") == 3 and "NotImplementedError" in out
    (tmp_path / "mine.py").write_text(exercises.solution_text("p3.rtg"))
    status, out, _ = _run(["exercise", "check", "p1.vi", "mine.py"], capsys)  # wrong exercise
    assert status == 1 and "define value_iteration" in out
    status, out, _ = _run(["exercise", "check", "p3.rtg", "mine.py"], capsys)
    assert status == 0 and out.count("PASS") == 3 and "3/3 checks pass: passed" in out
    recorded = json.loads((tmp_path / exercises.STATUS_FILE).read_text())
    assert recorded["p3.rtg"]["status"] == "passed" and recorded["p1.vi"]["status"] == "failing"
    _, out, _ = _run(["exercise", "list"], capsys)
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if "│" in line}
    assert "passed" in rows["p3.rtg"] and "failing" in rows["p1.vi"]
    assert "not started" in rows["1.1"] and "Part 3" in rows["p3.gae"]
    assert set(IDS) <= set(rows)


def test_a_check_past_its_time_limit_is_stopped(tmp_path):
    path = tmp_path / "slow.py"
    path.write_text("while True:\n    pass\n")
    outcome = exercises.check_file("p3.rtg", path, timeout_s=4)
    assert not outcome.passed and "time limit of 4 s" in outcome.error


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
@pytest.mark.parametrize("exercise_id", [i for i in IDS if exercises.EXERCISES[i].trains])
def test_reference_solutions_pass_their_training_checks(exercise_id):
    outcome = exercises.check_file(exercise_id, exercises.solution_path(exercise_id))
    assert outcome.passed, [c.line() for c in outcome.checks] or outcome.error
