"""The command line: every subcommand's --help, bad input as one line and exit 2, `report` on models."""

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest

from minicompress.cli.main import COMMANDS, main

pytestmark = pytest.mark.cli

INSTALLED = [c for c in COMMANDS if importlib.util.find_spec(f"minicompress.cli.{c}") is not None]
SINGLE_STEP = {  # commands that read a model file: their arguments around it
    "evaluate": lambda m, tmp: [m],
    "report": lambda m, tmp: [m],
    "prune": lambda m, tmp: [m, "--out", str(tmp / "o.npz")],
    "quantize": lambda m, tmp: [m, "--out", str(tmp / "o.npz")],
    "pack": lambda m, tmp: [m, "--out", str(tmp / "o.mcz")],
    "distill": lambda m, tmp: ["--teacher", m, "--student-arch", "doc001-mlp", "--out", str(tmp / "o.npz")],
}


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "minicompress.cli.main", *map(str, args)], capture_output=True,
                          text=True, timeout=300)


def assert_one_line_error(proc_or_err, code=2):
    if isinstance(proc_or_err, subprocess.CompletedProcess):
        assert proc_or_err.returncode == code, proc_or_err.stderr
        err = proc_or_err.stderr
    else:
        err = proc_or_err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("minicompress") and "error:" in lines[0]
    return lines[0]


def test_the_core_commands_are_installed():
    assert {"demo", "train", "evaluate", "check", "report"} <= set(INSTALLED)


@pytest.mark.parametrize("command", INSTALLED)
def test_every_command_explains_itself(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: minicompress {command}") and "--help" in text
    assert len(text.splitlines()) > 4


def test_unknown_subcommand_is_one_line():
    line = assert_one_line_error(run_cli("frobnicate"))
    assert "invalid choice: 'frobnicate'" in line and "demo" in line


def test_no_subcommand_is_one_line():
    assert "required: COMMAND" in assert_one_line_error(run_cli())


def test_bad_option_value_is_one_line():
    assert "--seed" in assert_one_line_error(run_cli("demo", "--seed", "many"))


def test_demo_refuses_an_unwritable_out_before_any_work(tmp_path, capsys):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert main(["demo", "--quick", "--out", str(a_file / "sub")]) == 2
    assert "cannot write to --out" in assert_one_line_error(capsys.readouterr().err)
    assert main(["demo", "--quick", "--out", str(a_file)]) == 2
    assert "is not a folder" in assert_one_line_error(capsys.readouterr().err)
    assert main(["demo", "--out", str(tmp_path / "d"), "--seed", "-1"]) == 2
    assert "--seed" in assert_one_line_error(capsys.readouterr().err)


def test_demo_over_the_console_script_is_one_line_too(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert_one_line_error(run_cli("demo", "--out", a_file / "sub"))


@pytest.fixture
def bad_files(tmp_path):
    files = {"missing": tmp_path / "missing.npz", "text": tmp_path / "text.npz", "truncated zip": tmp_path / "t.npz",
             "empty": tmp_path / "empty.npz"}
    files["text"].write_text("this is not a model\n")
    files["truncated zip"].write_bytes(b"PK\x03\x04" + bytes(20))
    files["empty"].write_bytes(b"")
    return files


@pytest.mark.parametrize("command", [c for c in SINGLE_STEP if c in INSTALLED])
@pytest.mark.parametrize("kind", ["missing", "text", "truncated zip", "empty"])
def test_missing_or_corrupt_model_is_one_line(command, kind, bad_files, tmp_path, capsys):
    path = str(bad_files[kind])
    assert main([command, *SINGLE_STEP[command](path, tmp_path)]) == 2
    line = assert_one_line_error(capsys.readouterr().err)
    assert path in line or "does not exist" in line or "not" in line


def test_corrupt_packed_file_is_one_line(tmp_path, capsys):
    path = tmp_path / "bad.mcz"
    path.write_bytes(b"MCPK" + bytes(30))
    assert main(["report", str(path)]) == 2
    assert "packed" in assert_one_line_error(capsys.readouterr().err)


def test_report_json_that_is_not_a_demo_report_is_one_line(tmp_path, capsys):
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"stages": []}))
    assert main(["report", str(path)]) == 2
    assert "not a demo report" in assert_one_line_error(capsys.readouterr().err)
    assert main(["report", str(tmp_path)]) == 2
    assert "is a folder without a report.json" in assert_one_line_error(capsys.readouterr().err)


@pytest.fixture
def pruned_model_file(tmp_path):
    from minicompress.compress.pruning import l1_unstructured
    from minicompress.io import save_model
    from minicompress.models import build

    model = build("lenet-300-100", seed=0)
    l1_unstructured(model.get_submodule("1"), "weight", 0.75)
    path = tmp_path / "pruned.npz"
    save_model(model, path)
    return path


def test_report_on_a_model_counts_sparsity_and_bytes(pruned_model_file, tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["report", str(pruned_model_file), "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "1.weight" in text and "bytes on disk" in text
    result = json.loads(out.read_text())
    layer = {r["name"]: r for r in result["layers"]}
    assert layer["1.weight"]["sparsity"] == 0.75 and layer["1.weight"]["nonzero"] == 300 * 784 // 4
    assert layer["3.weight"]["sparsity"] == 0.0
    assert result["weights"]["params"] == 266_200 and result["all"]["params"] == 266_610
    assert result["all"]["dense_bytes"] == 4 * 266_610
    assert result["weights"]["csr_bytes"] < result["weights"]["dense_bytes"]
    assert result["file"]["bytes"] == pruned_model_file.stat().st_size


def test_report_evaluates_a_model(pruned_model_file, tmp_path, capsys):
    from minicompress.data import load_mnist10k
    from minicompress.io import load_model
    from minicompress.training import evaluate

    out = tmp_path / "r.json"
    assert main(["report", str(pruned_model_file), "--evaluate", "--json", str(out)]) == 0
    _, _, x_test, y_test = load_mnist10k()
    expected = evaluate(load_model(pruned_model_file), x_test, y_test)["accuracy"]
    assert json.loads(out.read_text())["test_accuracy"] == expected
    assert f"{expected:.4f}" in capsys.readouterr().out


def test_report_options_that_do_not_apply_are_refused(pruned_model_file, tmp_path, capsys):
    assert main(["report", str(pruned_model_file), "--plots", str(tmp_path)]) == 2
    assert "--plots" in assert_one_line_error(capsys.readouterr().err)
    assert main(["report", str(pruned_model_file), "--index-bits", "0"]) == 2
    assert "--index-bits" in assert_one_line_error(capsys.readouterr().err)
    assert main(["report", str(pruned_model_file), "--json", str(tmp_path / "no" / "r.json")]) == 2
    assert "does not exist" in assert_one_line_error(capsys.readouterr().err)


def test_integer_bytes_uses_the_smallest_integer_type():
    from minicompress.compress.quantization import integer_bytes

    assert integer_bytes(np.array([-128.0, 127.0])) == 2
    assert integer_bytes(np.array([-129.0, 0.0, 5.0])) == 6
    assert integer_bytes(np.array([40000.0])) == 4
    assert integer_bytes(np.zeros(0)) == 0


def test_check_report_names_what_is_wrong():
    from minicompress.demo.report import check_report

    good = {"format": "minicompress-demo-report", "version": 1,
            "stages": [{"name": "a", "kind": "practice", "test_accuracy": 0.9, "bytes": 10, "ratio": 1.0,
                        "seconds": 0.1}]}
    assert check_report(good) is good
    for change, message in ((("test_accuracy", 90.0), "fraction"), (("bytes", 0), "positive integer"),
                            (("kind", "guess"), "kind"), (("ratio", float("nan")), "finite")):
        bad = json.loads(json.dumps(good))
        bad["stages"][0][change[0]] = change[1]
        with pytest.raises(ValueError, match=message):
            check_report(bad)
    with pytest.raises(ValueError, match="lacks"):
        check_report({**good, "stages": [{"name": "a"}]})


def test_single_steps_compose_into_a_pipeline(tmp_path, capsys):
    """train -> prune -> pack -> report -> pack --unpack, as a user would chain them, each with --json."""
    t = {name: tmp_path / name for name in ("m.npz", "p.npz", "m.mcz", "r.npz")}
    j = {name: tmp_path / f"{name}.json" for name in ("train", "prune", "pack", "report", "unpack")}
    assert main(["train", "--model", "lenet-300-100", "--epochs", "1", "--out", str(t["m.npz"]),
                 "--json", str(j["train"])]) == 0
    assert main(["prune", str(t["m.npz"]), "--method", "global", "--amount", "0.9", "--out", str(t["p.npz"]),
                 "--json", str(j["prune"])]) == 0
    assert main(["pack", str(t["p.npz"]), "--cluster-bits", "5", "--out", str(t["m.mcz"]), "--json", str(j["pack"])]) == 0
    assert main(["report", str(t["m.mcz"]), "--evaluate", "--json", str(j["report"])]) == 0
    assert main(["pack", "--unpack", str(t["m.mcz"]), "--out", str(t["r.npz"]), "--json", str(j["unpack"])]) == 0
    capsys.readouterr()
    trained = json.loads(j["train"].read_text())
    packed = json.loads(j["pack"].read_text())
    report = json.loads(j["report"].read_text())
    assert packed["packed_bytes"] == report["file"]["bytes"] == t["m.mcz"].stat().st_size
    assert report["weights"]["sparsity"] == pytest.approx(0.9, abs=1e-3)
    assert 0.8 < report["test_accuracy"] <= trained["test_accuracy"] + 0.02
    assert json.loads(j["unpack"].read_text())["accuracy"] == report["test_accuracy"]


def test_report_plots_need_the_plot_data(tmp_path, capsys):
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"format": "minicompress-demo-report", "version": 1, "stages": [
        {"name": "float32", "kind": "baseline", "test_accuracy": 0.95, "bytes": 1000, "ratio": 1.0, "seconds": 1.0}]}))
    assert main(["report", str(path)]) == 0
    assert "float32" in capsys.readouterr().out
    assert main(["report", str(path), "--plots", str(tmp_path / "plots")]) == 2
    assert "lacks the data of the plots" in assert_one_line_error(capsys.readouterr().err)
