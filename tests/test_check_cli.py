"""``minicompress check PATH.py``: the learners' checker, run on the template and on fixtures."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from minicompress.cli.main import main
from minicompress.equations.properties import PROPERTIES

pytestmark = pytest.mark.equations

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "tutorials" / "exercises" / "template.py"
CORRECT = ROOT / "tests" / "fixtures" / "learner_correct.py"
NP_ROUND = ROOT / "tests" / "fixtures" / "learner_np_round.py"


def run_check(capsys, *args):
    code = main(["check", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def status_of(lines):
    """E-id -> the status word(s) after it, from the checker's one line per equation."""
    out = {}
    for line in lines:
        m = re.match(r"^(E[\w.]+)\s+(pass|fail|not implemented)\b", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def test_the_template_is_all_stubs_and_exits_nonzero(capsys):
    code, lines, _ = run_check(capsys, TEMPLATE)
    assert code == 1
    assert status_of(lines) == {eid: "not implemented" for eid in PROPERTIES}
    assert lines[-1] == f"0 passed, 0 failed, {len(PROPERTIES)} not implemented"


def test_np_round_in_e2_fails_with_an_exact_half_counterexample(capsys):
    code, lines, _ = run_check(capsys, NP_ROUND)
    assert code == 1
    status = status_of(lines)
    assert status["E1"] == "pass" and status["E2"] == "fail" and status["E3"] == "not implemented"
    (e2,) = [line for line in lines if line.startswith("E2 ")]
    # the smallest counterexample: w/2^(b-1) = 0.5 exactly, NumPy gives 0, 四舍五入 gives 1
    assert "inputs: w=array([0.5]), bits=1; expected: array([1.]); got: array([0.])" in e2
    assert "exact tie" in e2


def test_a_correct_file_passes_with_exit_code_zero(capsys):
    code, lines, _ = run_check(capsys, CORRECT, "--max-examples", "40")
    assert status_of(lines) == {eid: "pass" for eid in PROPERTIES}
    assert code == 0


def test_only_and_seed_select_and_reseed(capsys):
    code, lines, _ = run_check(capsys, NP_ROUND, "--only", "E2", "--seed", "3", "--max-examples", "50")
    assert code == 1 and list(status_of(lines)) == ["E2"]
    code, lines, _ = run_check(capsys, CORRECT, "--only", "E5")
    assert code == 0 and status_of(lines) == {"E5": "pass"}


def test_wrong_results_and_crashes_are_failures(tmp_path, capsys):
    learner = tmp_path / "learner.py"
    learner.write_text(
        "import numpy as np\n"
        "def E1(w, T, t):\n    return np.where(np.abs(w) > T, t, w)[:1]\n"  # wrong shape
        "def E6(w, Q):\n    raise ValueError('boom')\n"
        "def E8_copy(teacher, student):\n    return dict(teacher)\n"  # no name checks
    )
    code, lines, _ = run_check(capsys, learner, "--max-examples", "20")
    assert code == 1
    status = status_of(lines)
    assert status["E1"] == status["E6"] == status["E8.copy"] == "fail"
    text = "\n".join(lines)
    assert "result has shape" in text and "raised ValueError: boom" in text
    assert re.search(r"E8\.copy\s+fail\s+.*was accepted", text)


@pytest.mark.parametrize("content,message", [
    (None, "no such file"),
    ("def E1(w, T, t)\n    return w\n", "line 1: syntax error"),
    ("import not_a_module_anywhere\n", "importing .* failed: ModuleNotFoundError"),
])
def test_unusable_files_are_usage_errors(tmp_path, capsys, content, message):
    path = tmp_path / "learner.py"
    if content is not None:
        path.write_text(content)
    code, lines, err = run_check(capsys, path)
    assert code == 2 and lines == []
    assert re.search(message, err) and err.startswith("minicompress: error:")


def test_the_command_line_end_to_end():
    proc = subprocess.run([sys.executable, "-m", "minicompress.cli.main", "check", str(TEMPLATE)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stdout.count("not implemented") == len(PROPERTIES) + 1  # + the summary line


def test_pytest_candidate_option_runs_the_properties_on_a_learner_file():
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(ROOT / "tests" / "test_equations.py"), "-q",
         "-m", "equations", "-k", "holds and (E1 or E2)", "--candidate", str(NP_ROUND)],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert proc.returncode == 1, proc.stdout
    assert "1 failed, 1 passed" in proc.stdout
    assert "test_equation_holds[E2]" in proc.stdout and "w=array([0.5])" in proc.stdout
