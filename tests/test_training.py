"""Chapter 2: models, fit/evaluate, save/load and the train/evaluate commands."""

import json
import os
import zipfile

import numpy as np
import pytest

from minicompress.cli.main import main
from minicompress.engine import Tensor
from minicompress.io import copy_model, load_model, model_checksum, save_model
from minicompress.models import INPUT_SHAPES, MODEL_NAMES, build
from minicompress.nn import Linear, Sequential
from minicompress.optim import SGD, Adam
from minicompress.training import evaluate, fit, predict

pytestmark = pytest.mark.training


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_model_builds_runs_and_is_seeded(name):
    x = Tensor(np.random.default_rng(0).random((2, *INPUT_SHAPES[name]), dtype=np.float32))
    a, b = build(name, seed=3), build(name, seed=3)
    out = a(x)
    assert out.shape == (2, 2 if name == "doc002-mlp" else 10)
    np.testing.assert_array_equal(out.data, b(x).data)
    assert not np.array_equal(out.data, build(name, seed=4)(x).data)


def test_parameter_counts():
    assert build("lenet-300-100").num_parameters() == 266_610
    assert build("lenet5").num_parameters() == 61_706
    assert build("doc001-mlp").num_parameters() == 101_770
    assert build("doc002-mlp").num_parameters() == 67


def test_unknown_model_name():
    with pytest.raises(ValueError, match="unknown model 'vgg'"):
        build("vgg")


def test_fit_learns_and_is_reproducible(mnist10k):
    x_train, y_train, x_test, y_test = mnist10k
    runs = []
    for _ in range(2):
        model = build("lenet-300-100", seed=1)
        hist = fit(model, Adam(model.parameters()), x_train[:2000], y_train[:2000], epochs=2, seed=1,
                   progress=False)
        runs.append((hist, model.state_dict()["1.weight"]))
    assert runs[0][0][-1]["loss"] == runs[1][0][-1]["loss"]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert runs[0][0][-1]["loss"] < runs[0][0][0]["loss"]
    assert evaluate(model, x_test, y_test)["accuracy"] > 0.85


def test_callbacks_are_called_after_every_step_and_epoch():
    calls = []

    class Recorder:
        def on_step(self, state):
            calls.append(("step", state.step))

        def on_epoch_end(self, state):
            calls.append(("epoch", state.epoch))
            state.stop = state.epoch == 2

    rng = np.random.default_rng(0)
    x, y = rng.random((10, 3), dtype=np.float32), rng.integers(0, 2, 10)
    model = Sequential(Linear(3, 2))
    hist = fit(model, SGD(model.parameters(), lr=0.1), x, y, epochs=5, batch_size=4, callbacks=[Recorder()])
    assert len(hist) == 2
    assert calls == [("step", 1), ("step", 2), ("step", 3), ("epoch", 1),
                     ("step", 4), ("step", 5), ("step", 6), ("epoch", 2)]


def test_evaluate_and_predict_leave_mode_alone(trained_lenet300, mnist10k):
    model = copy_model(trained_lenet300)
    model.train()
    logits = predict(model, mnist10k[2][:10])
    assert logits.shape == (10, 10) and model.training
    with pytest.raises(ValueError, match="samples"):
        evaluate(model, mnist10k[2][:10], mnist10k[3][:9])


def test_save_load_round_trip_with_mask_and_metadata(tmp_path, trained_lenet300, mnist10k):
    model = copy_model(trained_lenet300)
    model[1].register_buffer("weight_mask", np.random.default_rng(0).random((300, 784)) > 0.5)
    path = tmp_path / "m.npz"
    save_model(model, path, {"note": "hello"})
    loaded = load_model(path)
    assert loaded.metadata == {"note": "hello"}
    assert model_checksum(loaded) == model_checksum(model)
    np.testing.assert_array_equal(predict(loaded, mnist10k[2][:50]), predict(model, mnist10k[2][:50]))
    with np.load(path, allow_pickle=False) as data:
        assert "1.weight_mask" in data.files


def test_save_is_atomic_and_keeps_the_old_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    save_model(Sequential(Linear(2, 2)), path)
    before = path.read_bytes()

    def half_write(f, **arrays):
        f.write(b"PK partial")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", half_write)
    with pytest.raises(OSError, match="disk full"):
        save_model(Sequential(Linear(2, 2, seed=9)), path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.npz"]


def _rewrite(path, **changes):
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    arrays.update(changes)
    for k, v in list(arrays.items()):
        if v is None:
            del arrays[k]
    np.savez(path, **arrays)


@pytest.mark.parametrize("change,match", [
    ({"0.bias": None}, "missing key '0.bias'"),
    ({"0.extra": np.zeros(2)}, "unexpected key '0.extra'"),
    ({"0.weight": np.zeros((3, 3))}, r"'0.weight' has shape \(3, 3\)"),
    ({"__meta__": None}, "no __meta__"),
    ({"__meta__": np.array("{not json")}, "corrupt __meta__"),
    ({"0.weight": np.ones((2, 2), dtype=complex)}, "'0.weight' has dtype complex128; only real numbers"),  # issue 15
])
def test_bad_checkpoints_are_refused(tmp_path, change, match):
    path = tmp_path / "m.npz"
    save_model(Sequential(Linear(2, 2)), path)
    _rewrite(path, **change)
    with pytest.raises(ValueError, match=match):
        load_model(path)


def test_pickled_or_truncated_files_are_refused(tmp_path):
    bad = tmp_path / "obj.npz"
    np.savez(bad, x=np.array([{"a": 1}], dtype=object), __meta__=np.array("{}"))
    with pytest.raises(ValueError, match="pickled objects"):
        load_model(bad)
    good = tmp_path / "m.npz"
    save_model(Sequential(Linear(2, 2)), good)
    cut = tmp_path / "cut.npz"
    cut.write_bytes(good.read_bytes()[:100])
    with pytest.raises(ValueError, match="not a readable"):
        load_model(cut)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"hello")
    with pytest.raises(ValueError, match="no zip header"):
        load_model(junk)
    assert zipfile.is_zipfile(good)


def test_cli_train_and_evaluate(tmp_path, capsys):
    out, js = tmp_path / "m.npz", tmp_path / "m.json"
    assert main(["train", "--model", "doc001-mlp", "--epochs", "1", "--out", str(out), "--json", str(js)]) == 0
    result = json.loads(js.read_text())
    assert set(result) >= {"model", "test_accuracy", "parameters", "seconds"}
    assert 0.8 < result["test_accuracy"] <= 1 and result["parameters"] == 101_770
    js2 = tmp_path / "e.json"
    assert main(["evaluate", str(out), "--json", str(js2)]) == 0
    assert json.loads(js2.read_text())["test_accuracy"] == result["test_accuracy"]


def test_cli_errors_are_one_line_with_exit_code_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--model", "resnet"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "missing.npz")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("minicompress: error:") and "does not exist" in err and "Traceback" not in err
    assert main(["train", "--model", "lenet5", "--out", str(tmp_path / "no" / "m.npz")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_saved_files_get_ordinary_permissions(tmp_path):
    path = tmp_path / "m.npz"
    save_model(Sequential(Linear(2, 2)), path)
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_trained_model_cache_is_reused_only_when_checksum_and_split_match(tmp_path, monkeypatch):
    from minicompress import pretrained

    monkeypatch.setenv("MINICOMPRESS_CACHE", str(tmp_path))
    model, info = pretrained.trained_model("doc001-mlp", epochs=1)
    assert not info["cached"]
    again, info2 = pretrained.trained_model("doc001-mlp", epochs=1)
    assert info2["cached"] and model_checksum(again) == model_checksum(model)
    (path,) = tmp_path.glob("*.npz")
    meta = again.metadata
    save_model(again, path, {**meta, "data": "another split"})
    assert not pretrained.trained_model("doc001-mlp", epochs=1)[1]["cached"]
    tampered = load_model(path)
    tampered[1].weight.data[0, 0] += 1
    save_model(tampered, path, tampered.metadata)
    assert not pretrained.trained_model("doc001-mlp", epochs=1)[1]["cached"]


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_models_differ_without_a_seed_and_repeat_after_manual_seed(name):
    import minicompress

    def first_weight(model):
        return model.parameters()[0].data.copy()

    assert not np.array_equal(first_weight(build(name)), first_weight(build(name)))
    minicompress.manual_seed(3)
    a = first_weight(build(name))
    minicompress.manual_seed(3)
    np.testing.assert_array_equal(a, first_weight(build(name)))
    np.testing.assert_array_equal(first_weight(build(name, seed=5)), first_weight(build(name, seed=5)))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_fit_stops_when_the_loss_is_not_finite_naming_epoch_and_step(bad):
    """issue 15: one NaN pixel in fit's data; fit names where the loss went bad."""
    rng = np.random.default_rng(0)
    x, y = rng.random((40, 6), dtype=np.float32), rng.integers(0, 3, 40)
    x[17, 2] = bad
    model = Sequential(Linear(6, 3, seed=0))
    with pytest.raises(ValueError, match=r"the loss is nan at epoch 1, step (\d+) \(batch \1 of 5\)"):
        fit(model, SGD(model.parameters(), lr=0.1), x, y, epochs=3, batch_size=8, seed=0, progress=False)
    # stopped before the step: the bad batch changed no weight
    assert all(np.isfinite(v).all() for v in model.state_dict().values())


def test_fit_evaluate_predict_check_their_arguments():
    model = Sequential(Linear(3, 2, seed=0))
    opt = SGD(model.parameters())
    x, y = np.ones((4, 3), dtype=np.float32), np.zeros(4, dtype=int)
    with pytest.raises(ValueError, match="epochs must be an integer >= 0"):
        fit(model, opt, x, y, epochs=-1)
    with pytest.raises(TypeError, match="optimizer must have"):
        fit(model, "adam", x, y)
    with pytest.raises(TypeError, match="x must hold real numbers"):
        fit(model, opt, x.astype(complex), y)
    with pytest.raises(TypeError, match="y must hold real numbers"):
        evaluate(model, x, np.array(["a"] * 4))
    with pytest.raises(ValueError, match="x has 4 samples but y has 3"):
        evaluate(model, x, y[:3])
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        predict(model, x, batch_size=0)


@pytest.mark.parametrize("lr", ["nan", "inf", "-inf", "-0.5"])
def test_cli_refuses_a_non_finite_learning_rate_in_one_line(tmp_path, capsys, lr):
    """issue 15: `train --lr nan` ended in a ZeroDivisionError traceback from the Adam kernel."""
    with pytest.raises(SystemExit) as exc:  # refused by the argument parser, before any work
        main(["train", "--model", "lenet-300-100", "--epochs", "1", f"--lr={lr}", "--out", str(tmp_path / "m.npz")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "error: argument --lr: must be a finite number" in err and err.count("\n") == 1
    assert not (tmp_path / "m.npz").exists()
    teacher = tmp_path / "teacher.npz"
    save_model(build("lenet-300-100", seed=0), teacher)
    with pytest.raises(SystemExit) as exc:
        main(["distill", "--teacher", str(teacher), "--student-arch", "784-16-10", "--epochs", "1",
              "--transfer", "64", f"--lr={lr}", "--out", str(tmp_path / "s.npz")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "error: argument --lr: must be a finite number" in err and "Traceback" not in err
    assert not (tmp_path / "s.npz").exists()
