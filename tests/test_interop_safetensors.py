"""Importing PyTorch state dicts from safetensors files (written with the NumPy API: no torch needed)."""

import json

import numpy as np
import pytest

safetensors_numpy = pytest.importorskip("safetensors.numpy", reason="the [onnx] extra (included in [test]) is not installed")

from minicompress.errors import InputError  # noqa: E402
from minicompress.interop import import_safetensors, read_safetensors  # noqa: E402
from minicompress.interop.safetensors_import import named_layer_map  # noqa: E402
from minicompress.io import load_model, save_model  # noqa: E402
from minicompress.models import MODEL_NAMES, build  # noqa: E402

pytestmark = pytest.mark.interop

# The state-dict names of the zoo's PyTorch twins in benchmarks/training.py (nn.Sequential:
# a layer's index in the Sequential, then its parameter), written out so a change to either
# side shows up here.
TORCH_SEQUENTIAL_NAMES = {
    "lenet5": ["0.weight", "0.bias", "3.weight", "3.bias", "7.weight", "7.bias", "9.weight", "9.bias",
               "11.weight", "11.bias"],
    "lenet-300-100": ["1.weight", "1.bias", "3.weight", "3.bias", "5.weight", "5.bias"],
}


def save(path, tensors):
    safetensors_numpy.save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(path))
    return path


def same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(np.array_equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_sequential_state_dicts_of_every_zoo_model_round_trip(name, tmp_path):
    source = build(name, seed=5)
    path = save(tmp_path / "w.safetensors", source.state_dict())
    imported = import_safetensors(path, name)
    assert same_weights(imported, source)
    assert not same_weights(imported, build(name, seed=0))  # the weights came from the file


@pytest.mark.parametrize("name", sorted(TORCH_SEQUENTIAL_NAMES))
def test_the_pytorch_twins_names_are_ours(name):
    assert list(build(name, seed=0).state_dict()) == TORCH_SEQUENTIAL_NAMES[name]


def test_pytorch_tutorial_names_conv1_fc1(tmp_path):
    source = build("lenet5", seed=3)
    names = {"0": "conv1", "3": "conv2", "7": "fc1", "9": "fc2", "11": "fc3"}
    assert {v: k for k, v in named_layer_map(source).items()} == names
    renamed = {f"{names[k.split('.')[0]]}.{k.split('.')[1]}": v for k, v in source.state_dict().items()}
    assert same_weights(import_safetensors(save(tmp_path / "w.safetensors", renamed), "lenet5"), source)


def test_a_data_parallel_prefix_is_dropped(tmp_path):
    source = build("lenet-300-100", seed=3)
    prefixed = {f"module.{k}": v for k, v in source.state_dict().items()}
    assert same_weights(import_safetensors(save(tmp_path / "w.safetensors", prefixed), "lenet-300-100"), source)


@pytest.mark.parametrize("as_file", [False, True])
def test_a_name_map_renames_and_skips(as_file, tmp_path):
    source = build("doc002-mlp", seed=3)
    sd = source.state_dict()
    tensors = {"encoder.w": sd["0.weight"], "encoder.b": sd["0.bias"], "head.w": sd["2.weight"],
               "head.b": sd["2.bias"], "head.num_batches_tracked": np.zeros((), np.int64)}
    name_map = {"encoder.w": "0.weight", "encoder.b": "0.bias", "head.w": "2.weight", "head.b": "2.bias",
                "head.num_batches_tracked": None}
    if as_file:
        (tmp_path / "map.json").write_text(json.dumps(name_map))
        name_map = tmp_path / "map.json"
    imported = import_safetensors(save(tmp_path / "w.safetensors", tensors), "doc002-mlp", name_map=name_map)
    assert same_weights(imported, source)


def test_missing_extra_and_misshaped_tensors_get_load_models_messages(tmp_path):
    sd = build("lenet5", seed=0).state_dict()
    bad = {k: v for k, v in sd.items() if k != "0.bias"}
    bad["3.weight"] = np.zeros((16, 6, 3, 3), np.float32)
    bad["fc9.weight"] = np.zeros((2, 2), np.float32)
    with pytest.raises(InputError) as imported:
        import_safetensors(save(tmp_path / "w.safetensors", bad), "lenet5")
    # the same arrays in a minicompress model file: load_model's message must be the same
    model = build("lenet5", seed=0)
    save_model(model, tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as f:
        arrays = {k: f[k] for k in f.files if k == "__meta__"}
    np.savez(tmp_path / "bad.npz", **arrays, **bad)
    with pytest.raises(InputError) as loaded:
        load_model(tmp_path / "bad.npz")
    weights, npz = str(tmp_path / "w.safetensors"), str(tmp_path / "bad.npz")
    assert str(imported.value).startswith(repr(weights))
    assert str(imported.value).replace(repr(weights), repr(npz)) == str(loaded.value)
    for part in ("missing key '0.bias'", "'3.weight' has shape (16, 6, 3, 3), the model expects (16, 6, 5, 5)",
                 "unexpected key 'fc9.weight'"):
        assert part in str(imported.value)


def test_bad_files_and_maps_are_clear_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_safetensors(tmp_path / "nothing.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 40)
    with pytest.raises(InputError, match="not a readable safetensors file"):
        read_safetensors(tmp_path / "junk.safetensors")
    path = save(tmp_path / "w.safetensors", build("doc002-mlp", seed=0).state_dict())
    (tmp_path / "map.json").write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        import_safetensors(path, "doc002-mlp", name_map=tmp_path / "map.json")
    with pytest.raises(TypeError):
        import_safetensors(path, "doc002-mlp", name_map={"0.weight": 3})
    with pytest.raises(InputError, match="two tensors"):
        import_safetensors(path, "doc002-mlp", name_map={"0.bias": "0.weight"})
    with pytest.raises(InputError, match="unknown model"):
        import_safetensors(path, "resnet50")


def test_a_pickled_checkpoint_is_refused(tmp_path):
    import pickle

    (tmp_path / "ckpt.safetensors").write_bytes(pickle.dumps({"0.weight": np.zeros(3)}))
    with pytest.raises(InputError, match="not a readable safetensors file"):
        import_safetensors(tmp_path / "ckpt.safetensors", "doc002-mlp")


def test_missing_safetensors_says_how_to_install_it(tmp_path, monkeypatch):
    import sys

    from minicompress.interop import MissingDependencyError

    path = save(tmp_path / "w.safetensors", build("doc002-mlp", seed=0).state_dict())
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'minicompress\[onnx\]'"):
        import_safetensors(path, "doc002-mlp")


def test_importing_the_package_loads_none_of_the_optional_packages():
    import subprocess
    import sys

    code = ("import sys, minicompress.interop, minicompress.cli.export, minicompress.cli.import_weights; "
            "print(sorted(m for m in ('onnx', 'onnxruntime', 'safetensors') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
