"""``minicompress export`` and ``minicompress import`` on the command line."""

import json

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the [onnx] extra (included in [test]) is not installed")
safetensors_numpy = pytest.importorskip("safetensors.numpy", reason="the [onnx] extra is not installed")

from minicompress.cli.main import main  # noqa: E402
from minicompress.io import load_model, save_model  # noqa: E402
from minicompress.models import build  # noqa: E402

pytestmark = [pytest.mark.interop, pytest.mark.cli]


def one_line_error(capsys):
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


@pytest.fixture
def lenet5_file(tmp_path):
    path = tmp_path / "lenet5.npz"
    save_model(build("lenet5", seed=0), path)
    return path


def test_export_float_then_integer_with_the_runtime_check(lenet5_file, tmp_path, capsys):
    out = tmp_path / "m.onnx"
    assert main(["export", str(lenet5_file), "--format", "onnx", "--out", str(out)]) == 0
    onnx.checker.check_model(onnx.load(str(out)), full_check=True)
    assert "predictions agree on 100.00%" in capsys.readouterr().out
    report = tmp_path / "r.json"
    assert main(["export", str(lenet5_file), "--quantize", "integer", "--per-channel", "--calibration-batches", "1",
                 "--out", str(tmp_path / "i.onnx"), "--json", str(report)]) == 0
    result = json.loads(report.read_text())
    assert result["prediction_agreement"] == 1.0 and result["max_abs_logit_difference"] == 0.0
    ops = {n.op_type for n in onnx.load(str(tmp_path / "i.onnx")).graph.node}
    assert {"ConvInteger", "MatMulInteger"} <= ops


def test_export_reads_a_packed_mcz_file(tmp_path, capsys):
    from minicompress.compress.kmeans import share_weights
    from minicompress.compress.packing import pack
    from minicompress.compress.pruning import global_unstructured, prunable_parameters

    model = build("lenet-300-100", seed=0)
    global_unstructured(prunable_parameters(model), 0.9)
    share_weights(model, bits=4)
    pack(model, tmp_path / "m.mcz")
    assert main(["export", str(tmp_path / "m.mcz"), "--quantize", "qdq", "--calibration-batches", "1",
                 "--out", str(tmp_path / "m.onnx")]) == 0
    assert "QuantizeLinear" in {n.op_type for n in onnx.load(str(tmp_path / "m.onnx")).graph.node}


@pytest.mark.parametrize("args, message", [
    (["--per-channel"], "--per-channel applies only"),
    (["--input-shape", "1,x"], "--input-shape must be integers"),
    (["--calibration-batches", "0", "--quantize", "qdq"], "--calibration-batches must be >= 1"),
])
def test_export_usage_mistakes_are_one_line(lenet5_file, tmp_path, capsys, args, message):
    assert main(["export", str(lenet5_file), "--out", str(tmp_path / "m.onnx"), *args]) == 2
    assert message in one_line_error(capsys)


def test_export_of_a_model_outside_the_zoo_needs_its_input_shape(tmp_path, capsys):
    from minicompress.models import mlp

    save_model(mlp([6, 4, 3], seed=0, flatten=False), tmp_path / "m.npz")
    assert main(["export", str(tmp_path / "m.npz"), "--out", str(tmp_path / "m.onnx")]) == 2
    assert "input_shape" in one_line_error(capsys)
    assert main(["export", str(tmp_path / "m.npz"), "--out", str(tmp_path / "m.onnx"), "--input-shape", "6"]) == 0
    assert main(["export", str(tmp_path / "m.npz"), "--quantize", "integer", "--input-shape", "6",
                 "--out", str(tmp_path / "q.onnx")]) == 2
    assert "(1, 28, 28)" in one_line_error(capsys)


def test_import_writes_a_model_file(tmp_path, capsys):
    source = build("lenet5", seed=4)
    names = {"0": "conv1", "3": "conv2", "7": "fc1", "9": "fc2", "11": "fc3"}
    tensors = {f"{names[k.split('.')[0]]}.{k.split('.')[1]}": v for k, v in source.state_dict().items()}
    safetensors_numpy.save_file(tensors, str(tmp_path / "w.safetensors"))
    out = tmp_path / "m.npz"
    assert main(["import", str(tmp_path / "w.safetensors"), "--model", "lenet5", "--out", str(out)]) == 0
    assert "mnist10k test accuracy" in capsys.readouterr().out
    loaded = load_model(out)
    assert all(np.array_equal(loaded.state_dict()[k], v) for k, v in source.state_dict().items())


def test_import_with_a_name_map_and_its_errors(tmp_path, capsys):
    sd = build("doc002-mlp", seed=4).state_dict()
    safetensors_numpy.save_file({"a.w": sd["0.weight"], "a.b": sd["0.bias"], "b.w": sd["2.weight"]},
                                str(tmp_path / "w.safetensors"))
    (tmp_path / "map.json").write_text(json.dumps({"a.w": "0.weight", "a.b": "0.bias", "b.w": "2.weight"}))
    args = ["import", str(tmp_path / "w.safetensors"), "--model", "doc002-mlp", "--out", str(tmp_path / "m.npz")]
    assert main(args) == 2  # 2.bias is missing from the file
    assert "missing key '2.bias'" in one_line_error(capsys)
    assert main([*args, "--name-map", str(tmp_path / "map.json")]) == 2
    assert "missing key '2.bias'" in one_line_error(capsys)
    assert not (tmp_path / "m.npz").exists()
    assert main(["import", str(tmp_path / "nothing.safetensors"), "--model", "lenet5", "--out",
                 str(tmp_path / "m.npz")]) == 2
    assert "does not exist" in one_line_error(capsys)


def test_missing_extra_is_a_one_line_error(lenet5_file, tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "onnx", None)
    assert main(["export", str(lenet5_file), "--out", str(tmp_path / "m.onnx")]) == 2
    assert "pip install 'minicompress[onnx]'" in one_line_error(capsys)


@pytest.mark.parametrize("command", ["export", "import"])
def test_help_shows_examples(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    assert f"minicompress {command} " in capsys.readouterr().out
