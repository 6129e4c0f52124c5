"""ONNX export, checked in ONNX Runtime: float logits, pruned masks, QDQ and integer graphs."""

import os
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the [onnx] extra (included in [test]) is not installed")
pytest.importorskip("onnxruntime", reason="the [onnx] extra (included in [test]) is not installed")

from minicompress.compress.pruning import global_unstructured, prunable_parameters  # noqa: E402
from minicompress.compress.quantization import prepare, static_ptq, to_integer  # noqa: E402
from minicompress.engine import Tensor, no_grad  # noqa: E402
from minicompress.equations import round_half_away  # noqa: E402
from minicompress.errors import InputError  # noqa: E402
from minicompress.interop import MissingDependencyError, export_onnx, onnx_session, run_onnx, to_onnx  # noqa: E402
from minicompress.io import copy_model  # noqa: E402
from minicompress.models import INPUT_SHAPES, MODEL_NAMES, build  # noqa: E402
from minicompress.nn import Linear, Module, ReLU, Sequential  # noqa: E402

pytestmark = pytest.mark.interop


def logits(model, x):
    with no_grad():
        return model.eval()(Tensor(x)).data


def relative_error(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


def op_types(proto):
    return [n.op_type for n in proto.graph.node]


@pytest.fixture(scope="module")
def lenet5(mnist10k):
    """LeNet-5 after one epoch on mnist10k (about 88% test accuracy, ~10 s)."""
    from minicompress.pretrained import train_model

    return train_model("lenet5", epochs=1)[0]


@pytest.fixture(scope="module")
def calibration(mnist10k):
    x_train = mnist10k[0]
    return [x_train[i * 256:(i + 1) * 256] for i in range(4)]


# ------------------------------------------------------------------ float models
@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("batch", [1, 7])
def test_every_zoo_model_exports_and_matches_in_onnx_runtime(name, batch, tmp_path):
    model = build(name, seed=1)
    x = np.random.default_rng(2).random((batch, *INPUT_SHAPES[name]), dtype=np.float32)
    path = tmp_path / "m.onnx"
    size = export_onnx(model, path)
    assert size == os.path.getsize(path)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "N" and [d.dim_value for d in dims[1:]] == list(INPUT_SHAPES[name])
    assert relative_error(run_onnx(path, x), logits(model, x)) <= 1e-5


def test_trained_lenet5_logits_match_to_1e_5_on_every_test_digit(lenet5, mnist10k, tmp_path):
    x = mnist10k[2]
    export_onnx(lenet5, tmp_path / "m.onnx")
    ours, theirs = logits(lenet5, x), run_onnx(tmp_path / "m.onnx", x)
    assert relative_error(theirs, ours) <= 1e-5
    assert np.array_equal(theirs.argmax(1), ours.argmax(1))


def test_one_file_takes_any_batch_size(tmp_path):
    model = build("lenet5", seed=0)
    export_onnx(model, tmp_path / "m.onnx")
    session = onnx_session(tmp_path / "m.onnx")
    x = np.random.default_rng(0).random((300, 1, 28, 28), dtype=np.float32)
    for n in (1, 2, 300):
        out = session.run(None, {"input": x[:n]})[0]
        assert out.shape == (n, 10)


def test_pruned_model_has_its_masks_baked_in(trained_lenet300, mnist10k, tmp_path):
    model = copy_model(trained_lenet300)
    global_unstructured(prunable_parameters(model), 0.9)
    masks = {k: v for k, v in model.state_dict().items() if k.endswith("_mask")}
    assert masks
    proto = to_onnx(model)
    weights = {t.name: onnx.numpy_helper.to_array(t) for t in proto.graph.initializer if t.name.endswith("_weight")}
    for key, mask in masks.items():
        index = key.split(".")[0]
        w = weights[f"l{index}_weight"]
        assert np.all(w[mask == 0] == 0)
    x = mnist10k[2]
    assert relative_error(run_onnx(proto, x), logits(model, x)) <= 1e-5
    # the raw weight, without the mask, would give other logits: the mask really is in the file
    raw = copy_model(trained_lenet300)
    assert relative_error(run_onnx(proto, x), logits(raw, x)) > 1e-3


# ------------------------------------------------------------------ QDQ (fake-quantized) models
@pytest.mark.parametrize("per_channel", [False, True])
def test_qdq_export_agrees_with_the_fake_quantized_model(lenet5, mnist10k, calibration, per_channel, tmp_path):
    qmodel = static_ptq(lenet5, calibration, per_channel=per_channel)
    proto = to_onnx(qmodel)
    ops = op_types(proto)
    assert ops.count("QuantizeLinear") == 5  # the input and four hidden activations
    assert ops.count("DequantizeLinear") == 5 + 5  # those, and the five weights
    weight_dq = [n for n in proto.graph.node if n.op_type == "DequantizeLinear" and "weight" in n.name]
    scales = {t.name: onnx.numpy_helper.to_array(t) for t in proto.graph.initializer}
    for node in weight_dq:
        assert scales[node.input[0]].dtype == np.int8
        assert scales[node.input[1]].shape == ((scales[node.input[0]].shape[0],) if per_channel else ())
        assert any(a.name == "axis" for a in node.attribute) == per_channel
    x, y = mnist10k[2], mnist10k[3]
    ours = logits(qmodel, x)
    # as written (graph optimizations off) and as ONNX Runtime deploys it (its own int8 kernels)
    for optimize in (False, True):
        theirs = run_onnx(onnx_session(proto, optimize=optimize), x)
        agreement = (theirs.argmax(1) == ours.argmax(1)).mean()
        assert agreement >= 0.999, (optimize, agreement)
        assert abs((theirs.argmax(1) == y).mean() - (ours.argmax(1) == y).mean()) <= 0.001


def test_qdq_per_tensor_graph_as_written_is_exact(lenet5, mnist10k, calibration):
    # QuantizeLinear rounds half to even in float32 with a float32 scale, exactly as fake_quantize
    # does; the only freedom left is the order of ONNX Runtime's float sums.
    qmodel = static_ptq(lenet5, calibration)
    x = mnist10k[2][:500]
    theirs = run_onnx(onnx_session(to_onnx(qmodel), optimize=False), x)
    assert np.mean(theirs == logits(qmodel, x)) >= 0.99


def test_qdq_below_8_bits_clips_to_the_narrower_grid(lenet5, mnist10k, calibration):
    qmodel = static_ptq(lenet5, calibration, bits=4, act_bits=4)
    proto = to_onnx(qmodel)
    assert "Clip" in op_types(proto)
    x = mnist10k[2]
    theirs = run_onnx(onnx_session(proto, optimize=False), x)
    assert (theirs.argmax(1) == logits(qmodel, x).argmax(1)).mean() >= 0.999


# ------------------------------------------------------------------ integer models
@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("name", ["lenet5", "lenet-300-100"])
def test_integer_export_is_bit_identical_in_onnx_runtime(name, per_channel, lenet5, trained_lenet300, mnist10k,
                                                         calibration, tmp_path):
    model = lenet5 if name == "lenet5" else trained_lenet300
    imodel = to_integer(static_ptq(model, calibration, per_channel=per_channel))
    export_onnx(imodel, tmp_path / "int.onnx")
    proto = onnx.load(str(tmp_path / "int.onnx"))
    ops = op_types(proto)
    assert "MatMulInteger" in ops and ("ConvInteger" in ops) == (name == "lenet5")
    assert "QuantizeLinear" not in ops  # no float path between the integer layers
    x = mnist10k[2]
    ours = imodel.predict(x)
    for optimize in (False, True):
        theirs = run_onnx(onnx_session(proto, optimize=optimize), x)
        assert np.array_equal(theirs, ours)  # every logit, bit for bit, on all 2,000 digits


def test_integer_export_works_for_a_pruned_model(trained_lenet300, mnist10k, calibration):
    model = copy_model(trained_lenet300)
    global_unstructured(prunable_parameters(model), 0.8)
    imodel = to_integer(static_ptq(model, calibration))
    x = mnist10k[2][:300]
    assert np.array_equal(run_onnx(to_onnx(imodel), x), imodel.predict(x))


# ------------------------------------------------------------------ rounding: half to even
def test_quantize_linear_rounds_half_to_even_like_rint_not_like_the_documents():
    # A prepared model's input quantizer with scale 0.25 (exact in binary): x = (k + 1/2) * 0.25
    # are exact ties; ONNX Runtime must round them as np.rint does, unlike round-half-away (E2/E4/E6).
    model = prepare(Sequential(Linear(4, 2)), 8, act_bits=8)
    quantizer = model[0]
    quantizer.calibrating = True
    quantizer(Tensor(np.array([[0.0, 0.0, 0.0, 63.75]], dtype=np.float32)))  # range [0, 63.75]: s = 0.25, z = 0
    quantizer.calibrating = False
    quantizer.eval()
    assert float(quantizer.qparams().scale) == 0.25
    ties = (np.arange(8, dtype=np.float32) + 0.5) * np.float32(0.25)
    x = ties.reshape(2, 4)
    qdq = Sequential(quantizer)
    theirs = run_onnx(onnx_session(to_onnx(qdq, input_shape=(4,)), optimize=False), x)
    assert np.array_equal(theirs, np.rint(x / 0.25) * 0.25)
    assert not np.array_equal(theirs, round_half_away(x / 0.25) * 0.25)
    assert np.array_equal(theirs, logits(qdq, x))


# ------------------------------------------------------------------ errors and files
class Tanh(Module):
    def forward(self, x):
        return x.tanh()


def test_a_layer_without_an_export_is_named_in_the_error(tmp_path):
    model = Sequential(Linear(4, 3), Tanh(), Linear(3, 2))
    with pytest.raises(InputError, match=r"layer 1 \(Tanh\) has no ONNX export"):
        export_onnx(model, tmp_path / "m.onnx", input_shape=(4,))
    assert not list(tmp_path.iterdir())  # nothing written, no temporary file left


def test_a_failed_export_keeps_the_existing_file(tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"an older export")
    with pytest.raises(InputError):
        export_onnx(Sequential(Linear(4, 3), Tanh()), path, input_shape=(4,))
    assert path.read_bytes() == b"an older export"
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]


def test_input_shape_is_needed_outside_the_zoo_and_checked():
    model = Sequential(Linear(5, 3), ReLU(), Linear(3, 2))
    with pytest.raises(InputError, match="input_shape"):
        to_onnx(model)
    assert to_onnx(model, input_shape=(5,)).graph.input[0].type.tensor_type.shape.dim[1].dim_value == 5
    with pytest.raises(InputError, match="does not fit"):
        to_onnx(model, input_shape=(6,))
    with pytest.raises(InputError):
        to_onnx(model, input_shape=(0,))
    with pytest.raises(TypeError):
        to_onnx(object())


def test_missing_onnx_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'minicompress\[onnx\]'"):
        to_onnx(build("doc002-mlp", seed=0))


def test_export_leaves_every_modules_mode_as_it_was(mnist10k, calibration):
    qmodel = static_ptq(build("lenet5", seed=0), calibration[:1])
    qmodel[0].train()  # one quantizer observing, the rest frozen
    before = [m.training for _, m in qmodel.named_modules()]
    ranges = [(q.observer.min, q.observer.max) for q in qmodel if hasattr(q, "observer")]
    to_onnx(qmodel)
    assert [m.training for _, m in qmodel.named_modules()] == before
    assert [(q.observer.min, q.observer.max) for q in qmodel if hasattr(q, "observer")] == ranges
