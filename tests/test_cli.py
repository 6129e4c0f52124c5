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


# ------------------------------------------------------------------ issue 15: what a new user hit
@pytest.fixture
def model_file(tmp_path):
    from minicompress.io import save_model
    from minicompress.models import build

    path = tmp_path / "m.npz"
    save_model(build("lenet-300-100", seed=0), path)
    return path


def _rewrite(path, new_path, **changes):
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    arrays.update(changes)
    np.savez(new_path, **arrays)
    return new_path


def _weight(model_file):
    with np.load(model_file) as data:
        return data["1.weight"]


@pytest.mark.parametrize("command", ["train", "distill"])
@pytest.mark.parametrize("lr", ["nan", "inf", "-inf", "0", "-1e-3"])
def test_a_learning_rate_that_is_not_finite_and_positive_is_refused_at_parsing(command, lr, model_file, capsys):
    argv = {"train": ["train", "--model", "lenet-300-100"],
            "distill": ["distill", "--teacher", str(model_file), "--student-arch", "784-8-10"]}[command]
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--lr", lr])
    assert exc.value.code == 2
    assert "--lr" in assert_one_line_error(capsys.readouterr().err)


@pytest.mark.parametrize("kind", ["nan", "inf", "complex", "text", "object", "mask 0.5"])
@pytest.mark.parametrize("command", ["evaluate", "prune", "quantize", "pack", "report", "distill"])
def test_a_model_file_with_weights_that_are_not_finite_reals_is_refused_by_every_command(
        command, kind, model_file, tmp_path, capsys):
    w = _weight(model_file)
    if kind == "object":
        path = tmp_path / "bad.npz"
        arrays = dict(np.load(model_file))
        arrays["1.weight"] = np.array([None, 1], dtype=object)
        # A hostile file: np.savez stores an object array as a pickle. Every command must refuse it
        # without unpickling (load_model reads with allow_pickle=False).
        np.savez(path, **arrays)
    else:
        bad = {"nan": np.where(np.arange(w.size).reshape(w.shape) == 7, np.nan, w),
               "inf": np.where(np.arange(w.size).reshape(w.shape) == 7, -np.inf, w),
               "complex": w.astype(np.complex64) + 1j, "text": np.full(w.shape, "a"),
               "mask 0.5": None}[kind]
        changes = {"1.weight": bad} if bad is not None else {"1.weight_mask": np.full(w.shape, 0.5)}
        path = _rewrite(model_file, tmp_path / "bad.npz", **changes)
    assert main([command, *SINGLE_STEP[command](str(path), tmp_path)]) == 2
    line = assert_one_line_error(capsys.readouterr().err)
    assert "bad.npz" in line
    if kind != "object":
        assert "1.weight" in line
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(("o.", ".tmp"))]


def test_a_model_with_a_nan_weight_is_not_evaluated(model_file, tmp_path, capsys):
    from minicompress.errors import InputError
    from minicompress.io import load_model

    w = _weight(model_file)
    w.flat[3] = np.nan
    path = _rewrite(model_file, tmp_path / "nan.npz", **{"1.weight": w})
    with pytest.raises(InputError, match=r"'1\.weight' holds 1 NaN"):
        load_model(path)
    assert main(["evaluate", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "NaN" in assert_one_line_error(err)


def test_a_distill_teacher_with_nan_is_refused_by_name_not_by_an_internal_function(model_file, tmp_path, capsys):
    w = _weight(model_file)
    w.flat[0] = np.nan
    path = _rewrite(model_file, tmp_path / "nan.npz", **{"1.weight": w})
    assert main(["distill", "--teacher", str(path), "--student-arch", "784-8-10", "--out",
                 str(tmp_path / "s.npz")]) == 2
    line = assert_one_line_error(capsys.readouterr().err)
    assert "nan.npz" in line and "1.weight" in line and "soften" not in line and "distill(" not in line


def test_masks_load_as_bool_even_from_a_float_file(model_file, tmp_path):
    from minicompress.io import load_model

    w = _weight(model_file)
    path = _rewrite(model_file, tmp_path / "masked.npz", **{"1.weight_mask": (w > 0).astype(np.float32)})
    mask = load_model(path).get_submodule("1")._buffers["weight_mask"]
    assert mask.dtype == bool and mask.sum() == (w > 0).sum()


# --- item 3: exit codes; a bug is not the user's mistake
def _run_raising(monkeypatch, capsys, error):
    import minicompress.cli.evaluate as evaluate_cli

    def boom(args):
        raise error

    monkeypatch.setattr(evaluate_cli, "run", boom)
    code = main(["evaluate", "x.npz"])
    return code, capsys.readouterr().err


def test_a_bug_in_the_library_shows_its_traceback_and_says_so(monkeypatch, capsys):
    for error in (ValueError("cannot reshape array of size 40 into shape (1,4,5)"), TypeError("bad operand"),
                  ZeroDivisionError("float division by zero"), OSError(12, "Cannot allocate memory")):
        code, err = _run_raising(monkeypatch, capsys, error)
        assert code == 1, err
        assert "Traceback" in err and str(error.args[-1]) in err
        assert err.strip().splitlines()[-1].startswith("minicompress: this is a bug in minicompress")


def test_user_input_errors_and_file_errors_on_user_paths_are_one_line(monkeypatch, capsys):
    from minicompress.cli.errors import UsageError
    from minicompress.errors import InputError, InputTypeError

    for error, text in ((UsageError("--x must be 1"), "--x must be 1"), (InputError("w has NaN"), "w has NaN"),
                        (InputTypeError("w must be an array"), "w must be an array"),
                        (PermissionError(13, "Permission denied", "my/out.npz"), "'my/out.npz': Permission denied")):
        code, err = _run_raising(monkeypatch, capsys, error)
        assert code == 2
        assert assert_one_line_error(err) == f"minicompress: error: {text}"


def test_a_closed_stdout_is_normal_and_every_file_is_written_first(model_file, tmp_path):
    """`minicompress quantize m.npz --method ptq --bits 4 --out q.npz | true` keeps q.npz and exits 0."""
    out, js = tmp_path / "q.npz", tmp_path / "q.json"
    proc = subprocess.Popen([sys.executable, "-m", "minicompress.cli.main", "quantize", str(model_file),
                             "--method", "ptq", "--bits", "4", "--out", str(out), "--json", str(js)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # the reader is gone before the first line (as `| true`)
    err = proc.stderr.read()
    assert proc.wait(timeout=300) == 0, err
    assert err == ""
    assert out.exists() and json.loads(js.read_text())["output"] == str(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz", "q.json", "q.npz"]


def test_report_piped_into_head_exits_0(model_file):
    proc = subprocess.run(f"{sys.executable} -m minicompress.cli.main report {model_file} | head -n 1",
                          shell=True, capture_output=True, text=True, timeout=300,
                          executable="/bin/bash", env=None)
    assert proc.stdout.count("\n") == 1 and proc.stderr == ""
    status = subprocess.run(["/bin/bash", "-c", f"{sys.executable} -m minicompress.cli.main report {model_file} "
                             "| (exec 0<&-; true); echo ${PIPESTATUS[0]}"], capture_output=True, text=True,
                            timeout=300)
    assert status.stdout.strip() == "0" and "Errno 32" not in status.stderr


# --- item 4: outputs checked before the work; messages name the user's path
@pytest.fixture
def no_training(monkeypatch):
    import minicompress.pretrained

    def fail(*args, **kwargs):
        raise AssertionError("trained before checking the outputs")

    monkeypatch.setattr(minicompress.pretrained, "train_model", fail)


@pytest.mark.parametrize("option", ["--out", "--json"])
def test_train_checks_its_outputs_before_training(option, tmp_path, no_training, capsys):
    (tmp_path / "adir").mkdir()
    for bad, says in ((tmp_path / "adir", "is a folder"), (tmp_path / "no" / "f", "does not exist")):
        others = [] if option == "--out" else ["--out", str(tmp_path / "m.npz")]
        assert main(["train", "--model", "lenet5", option, str(bad), *others]) == 2
        line = assert_one_line_error(capsys.readouterr().err)
        assert option in line and str(bad) in line and says in line and ".tmp" not in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir"]


def test_json_and_out_may_not_name_the_same_file(tmp_path, no_training, capsys):
    path = str(tmp_path / "same")
    assert main(["train", "--model", "lenet5", "--out", path, "--json", path]) == 2
    assert "same file" in assert_one_line_error(capsys.readouterr().err)


@pytest.mark.parametrize("command", ["evaluate", "prune", "quantize", "pack", "report", "distill"])
def test_every_command_checks_json_before_the_work(command, model_file, tmp_path, capsys):
    bad = tmp_path / "no" / "r.json"
    assert main([command, *SINGLE_STEP[command](str(model_file), tmp_path), "--json", str(bad)]) == 2
    line = assert_one_line_error(capsys.readouterr().err)
    assert "--json" in line and str(bad) in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]


# --- item 5: messages that misled, options that were silently ignored
@pytest.mark.parametrize("argv,says", [
    (["--method", "static-ptq", "--calibration-batches", "33"], "between 1 and 32"),
    (["--method", "static-ptq", "--calibration-batches", "0"], "between 1 and 32"),
    (["--method", "e6", "--bits", "8"], "--bits does not apply to --method e6"),
    (["--method", "e2", "--per-channel"], "--per-channel applies only"),
    (["--method", "ptq", "--calibration-batches", "2"], "--calibration-batches applies only"),
    (["--method", "ptq", "--ratio", "4"], "--ratio applies only"),
])
def test_quantize_options_are_checked_and_never_ignored(argv, says, model_file, capsys):
    assert main(["quantize", str(model_file), *argv]) == 2
    assert says in assert_one_line_error(capsys.readouterr().err)


@pytest.mark.parametrize("ratio", ["inf", "nan", "0", "-8"])
def test_quantize_ratio_must_be_finite_and_positive(ratio, model_file, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["quantize", str(model_file), "--method", "e6", "--ratio", ratio])
    assert exc.value.code == 2
    line = assert_one_line_error(capsys.readouterr().err)
    assert "--ratio" in line and "inf]" not in line


def test_the_library_says_an_open_end_is_open():
    from minicompress.equations import quantize_by_ratio

    with pytest.raises(ValueError, match=r"finite number in \(0, inf\), got inf"):
        quantize_by_ratio(np.ones(2), float("inf"))


def test_report_on_a_corrupt_mcz_says_it_is_not_a_packed_model(tmp_path, capsys):
    path = tmp_path / "random.mcz"
    path.write_bytes(np.random.default_rng(0).bytes(100))
    assert main(["report", str(path)]) == 2
    line = assert_one_line_error(capsys.readouterr().err)
    assert "random.mcz" in line and "not a packed" in line and "JSON" not in line


def test_report_plots_errors_name_plots(tmp_path, capsys):
    folder = tmp_path / "D"
    folder.mkdir()
    (folder / "report.json").write_text(json.dumps({"format": "minicompress-demo-report", "version": 1, "stages": [
        {"name": "float32", "kind": "baseline", "test_accuracy": 0.95, "bytes": 1000, "ratio": 1.0, "seconds": 1.0}]}))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["report", str(folder), "--plots", str(blocker / "x")]) == 2
    line = assert_one_line_error(capsys.readouterr().err)
    assert "--plots" in line and "--out" not in line
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("transfer", ["99999", "8001", "0"])
def test_distill_transfer_beyond_the_training_set_is_refused(transfer, model_file, tmp_path, capsys):
    assert main(["distill", "--teacher", str(model_file), "--student-arch", "784-8-10", "--transfer", transfer,
                 "--out", str(tmp_path / "s.npz")]) == 2
    assert "--transfer must be between 1 and 8000" in assert_one_line_error(capsys.readouterr().err)


def test_pack_refuses_an_out_whose_suffix_contradicts_what_it_writes(model_file, tmp_path, capsys):
    mcz = tmp_path / "x.mcz"
    mcz.write_bytes(b"MCPK" + bytes(30))
    assert main(["pack", "--unpack", str(mcz), "--out", str(tmp_path / "y.mcz")]) == 2
    assert "writes a .npz" in assert_one_line_error(capsys.readouterr().err)
    assert main(["pack", str(model_file), "--out", str(tmp_path / "y.npz")]) == 2
    assert "writes a .mcz" in assert_one_line_error(capsys.readouterr().err)
    assert not (tmp_path / "y.mcz").exists() and not (tmp_path / "y.npz").exists()


def test_unpacked_models_store_their_masks_as_bool(pruned_model_file, tmp_path, capsys):
    from minicompress.compress.kmeans import share_weights
    from minicompress.compress.packing import pack, unpack
    from minicompress.io import load_model

    model = load_model(pruned_model_file)
    share_weights(model, bits=4)
    pack(model, tmp_path / "m.mcz")
    masks = {n: b for n, b in unpack(tmp_path / "m.mcz").named_buffers() if n.endswith("_mask")}
    assert masks and all(m.dtype == bool for m in masks.values())
    assert main(["pack", "--unpack", str(tmp_path / "m.mcz"), "--out", str(tmp_path / "r.npz")]) == 0
    with np.load(tmp_path / "r.npz") as data:
        assert data["1.weight_mask"].dtype == bool


def test_demo_into_a_closed_pipe_exits_0_with_its_files_written(tmp_path, monkeypatch):
    """`minicompress demo | head`: the reader goes away; the demo still ends 0, its files all written."""
    import io

    from tests.test_fuzz_cli import demo_module

    stage = {"name": "float32", "kind": "baseline", "test_accuracy": 0.95, "bytes": 1000, "ratio": 1.0,
             "seconds": 1.0}
    monkeypatch.setattr(demo_module(), "run_demo", lambda settings, out, **kw: {"stages": [stage]})

    class ClosedPipe(io.StringIO):
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert main(["demo", "--quick", "--no-plots", "--out", str(tmp_path / "d")]) == 0
    assert json.loads((tmp_path / "d" / "report.json").read_text())["stages"] == [stage]


def test_a_model_file_declaring_a_layer_too_large_for_memory_is_refused(model_file, tmp_path, capsys):
    with np.load(model_file) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(str(arrays["__meta__"]))
    meta["architecture"][1].update(in_features=10**7, out_features=10**6)
    arrays["__meta__"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "huge.npz", **arrays)
    assert main(["evaluate", str(tmp_path / "huge.npz")]) == 2
    assert "architecture cannot be built" in assert_one_line_error(capsys.readouterr().err)


def test_a_student_too_large_for_memory_is_refused(model_file, tmp_path, capsys):
    assert main(["distill", "--teacher", str(model_file), "--student-arch", "784-100000000000-10",
                 "--out", str(tmp_path / "s.npz")]) == 2
    line = assert_one_line_error(capsys.readouterr().err)
    assert "100000000000" in line and ("too large" in line or "allocate" in line)
