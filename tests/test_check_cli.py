"""``minicompress check`` and ``minicompress exercises``: the course's command line and its guardrails.

A learner's code runs in a child process: sys.exit, os._exit, an endless loop, an exception,
a changed input or minicompress's own implementation in one function is reported for that
task by name, the other tasks still run, and none of it exits 0.
"""

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from minicompress.cli.main import main
from minicompress.course import CHAPTERS, tasks_in
from minicompress.course.stubs import exercise_file

pytestmark = pytest.mark.cli

ROOT = Path(__file__).resolve().parents[1]
EXERCISES = ROOT / "tutorials" / "exercises"
SOLUTIONS = ROOT / "tests" / "fixtures" / "solutions"
CORRECT = ROOT / "tests" / "fixtures" / "learner_correct.py"
NP_ROUND = ROOT / "tests" / "fixtures" / "learner_np_round.py"

LINE = re.compile(r"^(\w+\.\w+)\s+(pass|fail|not started|error|timeout|changed input|crashed|uses reference)\b")


def run_check(capsys, *args):
    code = main(["check", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def status_of(lines):
    """task id -> status, from the checker's one line per task."""
    return {m.group(1): m.group(2) for m in map(LINE.match, lines) if m}


def learner(tmp_path, text, name="learner.py"):
    path = tmp_path / name
    path.write_text(text)
    return path


# ------------------------------------------------------------------ exercises


def test_the_exercise_files_are_generated_from_the_registry_and_in_sync():
    written = sorted(p.name for p in EXERCISES.glob("*.py"))
    expected = sorted(f"{c}.py" for c in CHAPTERS if tasks_in(c))
    assert written == expected, "regenerate: minicompress exercises --out tutorials/exercises --force"
    for chapter in (p[:-3] for p in expected):
        assert (EXERCISES / f"{chapter}.py").read_text() == exercise_file(chapter), (
            f"tutorials/exercises/{chapter}.py is out of date: minicompress exercises --out tutorials/exercises --force")


def test_exercises_then_check_lists_every_task_as_not_started(tmp_path, capsys):
    out = tmp_path / "d"
    assert main(["exercises", "--out", str(out)]) == 0
    capsys.readouterr()
    code, lines, _ = run_check(capsys, out)
    assert code == 1
    status = status_of(lines)
    assert set(status) == {t.id for t in tasks_in()}
    assert set(status.values()) == {"not started"}
    assert len(status) >= 45 and len({t.split(".")[0] for t in status}) >= 8
    assert "nothing implemented yet" in lines[-1]


def test_exercises_never_overwrite_a_learners_work(tmp_path, capsys):
    out = tmp_path / "d"
    main(["exercises", "--out", str(out), "--chapter", "optim"])
    (out / "optim.py").write_text("def sgd_step(*a):\n    return 1\n")
    assert main(["exercises", "--out", str(out), "--chapter", "optim"]) == 2
    assert "differs" in capsys.readouterr().err
    assert (out / "optim.py").read_text().startswith("def sgd_step")
    assert main(["exercises", "--out", str(out), "--chapter", "optim", "--force"]) == 0


# ------------------------------------------------------------------ complete and partial solutions


def test_a_complete_solution_passes_every_task_with_exit_zero(capsys, tmp_path):
    report = tmp_path / "r.json"
    start = time.monotonic()
    code, lines, _ = run_check(capsys, SOLUTIONS, "--json", report)
    elapsed = time.monotonic() - start
    status = status_of(lines)
    assert set(status) == {t.id for t in tasks_in()}
    assert {t: s for t, s in status.items() if s != "pass"} == {}
    assert code == 0
    data = json.loads(report.read_text())
    assert data["exit_code"] == 0 and data["summary"]["passed"] == len(status)
    assert all(r["examples_run"] > 1 for r in data["results"])
    print(f"complete solution checked in {elapsed:.1f} s")


def test_the_earlier_e_id_names_still_work(capsys):
    code, lines, _ = run_check(capsys, CORRECT, "--chapter", "equations")
    assert code == 0
    assert set(status_of(lines).values()) == {"pass"} and len(status_of(lines)) == 12


def test_np_round_fails_with_an_exact_tie_and_is_diagnosed(capsys):
    code, lines, _ = run_check(capsys, NP_ROUND, "--task", "E1", "--task", "E2")
    assert code == 1
    assert status_of(lines) == {"equations.threshold_clip": "pass", "equations.quantize_pow2_step": "fail"}
    text = "\n".join(lines)
    # the hand-worked example with exact .5 ties fails first: 0.5 must round to 1, np.round gives 0
    assert "hand-worked example" in text and "expected 1.0, got 0.0" in text and "w=array([ 0.5 ," in text
    assert "rounds half to even (np.round); this task rounds half away from zero" in text
    readme = (ROOT / "README.md").read_text()
    shown = [line for line in lines if line.startswith("equations.quantize_pow2_step") or "diagnosis:" in line]
    assert len(shown) == 2 and all(line in readme for line in shown), (
        "the README's example failure is not what minicompress check prints")


def test_a_known_mistake_is_named(tmp_path, capsys):
    path = learner(tmp_path, "import numpy as np\n"
                   "def sigmoid_backward(x, grad_output):\n    return grad_output * x * (1 - x)\n")
    code, lines, _ = run_check(capsys, path, "--task", "engine.sigmoid_backward")
    assert code == 1
    assert "diagnosis: your sigmoid backward uses x instead of sigmoid(x)" in "\n".join(lines)


# ------------------------------------------------------------------ guardrails


GUARDRAILS = '''
import os
import sys

import numpy as np
from minicompress.engine import Tensor


def relu_forward(x):
    print("debug output that must not corrupt the report")
    sys.exit(0)


def relu_backward(x, grad_output):
    while True:
        pass


def sigmoid_forward(x):
    os._exit(3)


def sigmoid_backward(x, grad_output):
    s = 1 / (1 + np.exp(-x))
    grad_output *= s * (1 - s)          # changes its input in place
    return grad_output


def tanh_forward(x):
    return Tensor(x).tanh().data        # minicompress's own implementation


def tanh_backward(x, grad_output):
    return grad_output / 0 * undefined_name


def step_lr(base_lr, epoch, step_size, gamma=0.1):
    print("x" * 10000)
    return base_lr * gamma ** (epoch // step_size)
'''


def test_guardrails_report_each_problem_by_name_and_keep_going(tmp_path, capsys):
    path = learner(tmp_path, GUARDRAILS)
    start = time.monotonic()
    code, lines, err = run_check(capsys, path, "--chapter", "engine", "--chapter", "optim", "--timeout", "3",
                                 "--max-examples", "20")
    elapsed = time.monotonic() - start
    status = status_of(lines)
    assert code == 1
    assert status["engine.relu_forward"] == "crashed"
    assert status["engine.relu_backward"] == "timeout"
    assert status["engine.sigmoid_forward"] == "crashed"
    assert status["engine.sigmoid_backward"] == "changed input"
    assert status["engine.tanh_forward"] == "uses reference"
    assert status["engine.tanh_backward"] == "error"
    assert status["optim.step_lr"] == "pass"  # still checked after all of the above
    assert status["engine.matmul_forward"] == "not started"
    text = "\n".join(lines)
    assert "sys.exit(0)" in text and "exited with code 3" in text and "within 3 s" in text
    assert "changed its input 'grad_output'" in text
    assert "NameError" in text and "learner.py" in text and "minicompress/" not in text.split("tanh_backward")[1][:400]
    assert "debug output" not in text and "xxxxxxxxxx" not in text and "debug output" not in err
    assert elapsed < 120  # bounded: one 3 s timeout, workers restarted twice


def test_the_reference_under_another_name_is_flagged(tmp_path, capsys):
    path = learner(tmp_path, "from minicompress.equations import threshold_clip as E1\n"
                   "import minicompress.course.tasks.optim as o\n"
                   "def step_lr(base_lr, epoch, step_size, gamma=0.1):\n"
                   "    return o._step_reference(base_lr, epoch, step_size, gamma)\n")
    code, lines, _ = run_check(capsys, path, "--task", "E1", "--task", "optim.step_lr")
    assert code == 1
    assert status_of(lines) == {"equations.threshold_clip": "uses reference", "optim.step_lr": "uses reference"}


def test_an_empty_file_never_exits_zero(tmp_path, capsys):
    code, lines, _ = run_check(capsys, learner(tmp_path, ""))
    assert code == 1 and set(status_of(lines).values()) == {"not started"}


def test_a_check_that_runs_no_example_is_not_a_pass(tmp_path, capsys):
    path = learner(tmp_path, "def step_lr(base_lr, epoch, step_size, gamma=0.1):\n"
                   "    return base_lr * gamma ** (epoch // step_size)\n")
    code, lines, _ = run_check(capsys, path, "--task", "optim.step_lr", "--max-examples", "0")
    assert status_of(lines) == {"optim.step_lr": "pass"}  # the hand-worked example still ran
    assert code == 0
    code, lines, _ = run_check(capsys, tmp_path / "learner.py", "--chapter", "engine", "--max-examples", "0")
    assert code == 1  # nothing implemented in that chapter


def test_a_crash_while_importing_is_reported_and_other_files_still_count(tmp_path, capsys):
    folder = tmp_path / "work"
    folder.mkdir()
    learner(folder, "import sys\nsys.exit(0)\n", "a_broken.py")
    learner(folder, "def step_lr(base_lr, epoch, step_size, gamma=0.1):\n"
            "    return base_lr * gamma ** (epoch // step_size)\n", "b_ok.py")
    learner(folder, "def cosine_lr(base_lr, epoch, T_max, eta_min=0.0)\n", "c_syntax.py")
    code, lines, _ = run_check(capsys, folder, "--chapter", "optim")
    text = "\n".join(lines)
    assert status_of(lines)["optim.step_lr"] == "pass"
    assert "a_broken.py: could not be imported: calls sys.exit(0)" in text
    assert "c_syntax.py: could not be imported: line 1: syntax error" in text
    assert code == 1


@pytest.mark.parametrize("args,message", [
    (["no/such/file.py"], "no such file or folder"),
    (["README.md"], "is not a Python file"),
    (["tests/fixtures/solutions", "--task", "nope"], "unknown task 'nope'"),
    (["tests/fixtures/solutions", "--max-examples", "-1"], "--max-examples must be >= 0"),
])
def test_usage_errors_are_one_line_and_exit_2(capsys, monkeypatch, args, message):
    monkeypatch.chdir(ROOT)
    code, lines, err = run_check(capsys, *args)
    assert code == 2 and lines == []
    assert err.startswith("minicompress: error:") and message in err and err.count("\n") == 1


def test_the_command_line_end_to_end(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "minicompress.cli.main", "check", str(EXERCISES / "optim.py"),
                           "--chapter", "optim"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert status_of(proc.stdout.splitlines()) == {t.id: "not started" for t in tasks_in("optim")}


# ------------------------------------------------------------------ pytest --candidate


def test_pytest_candidate_checks_a_learner_file_in_the_current_folder(tmp_path):
    """`python -m pytest -m equations --candidate my_equations.py`, the file next to the user: pytest
    must know --candidate before it reads the command line, or it takes my_equations.py for a test path."""
    # a copy of the repository's layout: its pyproject.toml, its tests, the learner's file at the top
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    (tmp_path / "tests").symlink_to(ROOT / "tests")
    (tmp_path / "my_equations.py").write_text(NP_ROUND.read_text())
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "equations", "--candidate", "my_equations.py",
         "-q", "-k", "threshold_clip or quantize_pow2_step"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert "unrecognized arguments" not in proc.stderr
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "1 failed, 1 passed" in proc.stdout
    assert "test_task_passes[equations.quantize_pow2_step]" in proc.stdout
    assert "rounds half to even" in proc.stdout


def test_the_readme_commands_work_as_written(tmp_path):
    """The course companion's commands, copied from the README, in a copy of the repository's layout."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## The course companion"):]
    block = section[section.index("```bash\n") + 8:section.index("```\n", section.index("```bash\n") + 8)]
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
    assert [c.split()[:2] for c in commands] == [["minicompress", "exercises"], ["minicompress", "check"],
                                                 ["minicompress", "check"], ["python", "-m"]]
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    (tmp_path / "tests").symlink_to(ROOT / "tests")
    bindir = Path(sys.executable).parent
    codes = []
    for command in commands:
        argv = command.split()
        argv[0] = str(bindir / "minicompress") if argv[0] == "minicompress" else sys.executable
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, cwd=tmp_path)
        assert "unrecognized arguments" not in proc.stderr and "error:" not in proc.stderr, proc.stderr
        codes.append(proc.returncode)
    # writing the files works; checking files where nothing is implemented yet does not pass
    assert codes == [0, 1, 1, 1]


def test_a_file_that_patches_numpy_or_minicompress_is_not_trusted(tmp_path, capsys):
    path = learner(tmp_path, "import numpy as np\n"
                   "np.round = lambda x, *a, **k: x\n"  # would change the references' results
                   "def step_lr(base_lr, epoch, step_size, gamma=0.1):\n"
                   "    return base_lr * gamma ** (epoch // step_size)\n")
    code, lines, _ = run_check(capsys, path, "--task", "optim.step_lr")
    assert code == 1
    assert status_of(lines) == {"optim.step_lr": "uses reference"}
    assert "numpy.round" in "\n".join(lines)
