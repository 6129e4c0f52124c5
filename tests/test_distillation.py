"""Chapter 6: knowledge distillation (Hinton KD, soft targets, ensembles, FitNets hints),
the documents' examples (doc 000, doc 002) and ``minicompress distill``."""

import json
import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minicompress.engine.functional as F
from minicompress.compress.distill import (
    distill,
    e7_one_vs_rest,
    fit_hints,
    forward_to,
    hint_loss,
    kd_loss,
    kd_loss_from_targets,
    layer_outputs,
    log_soften,
    make_adapter,
    soft_targets,
    soften,
)
from minicompress.compress.documents_distill import (
    doc000_cifar10,
    doc000_student,
    doc002_example,
    mnist_as_doc000_input,
)
from minicompress.engine import Tensor, gradcheck
from minicompress.equations.distillation import copy_parameters, distillation_bce_as_written
from minicompress.io import copy_model, load_model, save_model
from minicompress.models import build, mlp
from minicompress.nn import Conv2d, Linear
from minicompress.nn.losses import cross_entropy, kl_div
from minicompress.training import evaluate, predict

pytestmark = pytest.mark.distillation


def _logits(rng, n=5, c=4, scale=2.0):
    return rng.standard_normal((n, c)) * scale


# ------------------------------------------------------------------ losses: gradient checks
@pytest.mark.parametrize("T", [1.0, 4.0])
def test_kd_loss_mixed_labels_gradcheck(rng, T):
    q = soften(_logits(rng), T)
    labels = np.array([2, -1, 0, -1, 3])
    gradcheck(lambda z: kd_loss_from_targets(z, q, labels, T=T, alpha=0.7), [Tensor(_logits(rng))])


def test_kd_loss_gradcheck_and_hinton_formula(rng):
    z, t, y = _logits(rng), _logits(rng), np.array([0, 1, 2, 3, 1])
    T, alpha = 3.0, 0.6
    gradcheck(lambda s: kd_loss(s, t, y, T=T, alpha=alpha), [Tensor(z.copy())])
    ours = float(kd_loss(Tensor(z), t, y, T=T, alpha=alpha).data)
    textbook = alpha * T * T * float(kl_div(F.log_softmax(Tensor(z / T), axis=1), soften(t, T), reduction="batchmean").data) \
        + (1 - alpha) * float(cross_entropy(Tensor(z), y).data)
    assert ours == pytest.approx(textbook, rel=1e-10)


_logit_pairs = st.integers(1, 6).flatmap(lambda n: st.integers(2, 5).flatmap(lambda c: st.tuples(
    hnp.arrays(np.float64, (n, c), elements=st.floats(-20, 20)),
    hnp.arrays(np.float64, (n, c), elements=st.floats(-20, 20)),
    hnp.arrays(np.int64, (n,), elements=st.integers(-1, c - 1)))))


@given(_logit_pairs, st.floats(0.1, 20), st.floats(0, 1))
def test_kd_loss_is_at_least_its_label_term(pair, T, alpha):
    # KL >= 0 (Gibbs), so the loss never falls below (1 - alpha) * the labeled rows' cross-entropy.
    z, t, labels = pair
    loss = float(kd_loss(Tensor(z), t, labels, T=T, alpha=alpha).data)
    labeled = labels >= 0
    ce = float(cross_entropy(Tensor(z[labeled]), labels[labeled]).data) * labeled.sum() if labeled.any() else 0.0
    assert np.isfinite(loss)
    assert loss >= (1 - alpha) * ce / len(z) - 1e-9


def test_soft_term_is_zero_only_when_student_matches_teacher(rng):
    t = _logits(rng)
    assert float(kd_loss(Tensor(t.copy()), t, T=4.0).data) == pytest.approx(0.0, abs=1e-12)
    assert float(kd_loss(Tensor(t + rng.standard_normal(t.shape)), t, T=4.0).data) > 1e-4


def test_soft_term_gradient_is_p_minus_q_times_T(rng):
    # d/dz of T^2 KL(q || softmax(z/T)) batchmean = T (p - q) / N: the T^2 keeps it O(1) in T.
    z, q, T = _logits(rng), soften(_logits(rng), 5.0), 5.0
    zt = Tensor(z, requires_grad=True)
    kd_loss_from_targets(zt, q, None, T=T).backward()
    np.testing.assert_allclose(zt.grad, T * (soften(z, T) - q) / len(z), rtol=1e-10)


def test_soft_cross_entropy_gradcheck_and_entropy_gap(rng):
    # the soft cross-entropy at temperature T is the family's cross_entropy(z / T, q)
    z, q, T = _logits(rng), soften(_logits(rng), 2.0), 2.0
    gradcheck(lambda s: cross_entropy(s / T, q), [Tensor(z.copy())])
    ce = float(cross_entropy(Tensor(z) / T, q).data)
    kl = float(kd_loss_from_targets(Tensor(z), q, None, T=T).data) / T**2
    assert float(-(log_soften(Tensor(z), T) * q).sum(axis=1).mean().data) == pytest.approx(ce, rel=1e-12)
    entropy = float(-(q * np.log(q)).sum(axis=1).mean())
    assert ce == pytest.approx(kl + entropy, rel=1e-10)


def test_e7_one_vs_rest_gradcheck_and_equation(rng):
    z, y = _logits(rng), np.array([0, 1, 2, 3, 0])
    gradcheck(lambda s: e7_one_vs_rest(s, y), [Tensor(z.copy())])
    expected = distillation_bce_as_written(soften(z, 1.0), np.eye(4)[y])
    assert float(e7_one_vs_rest(Tensor(z), y).data) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("shape_s, shape_t", [((3, 6), (3, 4)), ((2, 3, 4, 4), (2, 5, 4, 4))])
def test_hint_loss_gradcheck(rng, shape_s, shape_t):
    adapter = make_adapter(shape_s[1:], shape_t[1:], seed=1)
    assert isinstance(adapter, Linear if len(shape_s) == 2 else Conv2d)
    for p in adapter.parameters():
        p.data = p.data.astype(np.float64)
    target = rng.standard_normal(shape_t)
    # The adapter's own Parameters are inputs too: gradcheck perturbs them in place.
    gradcheck(lambda g, w, b: hint_loss(g, target, adapter),
              [Tensor(rng.standard_normal(shape_s)), adapter.weight, adapter.bias])


def test_hint_loss_and_adapter_errors(rng):
    with pytest.raises(ValueError, match="height and width"):
        make_adapter((8, 7, 7), (16, 5, 5))
    with pytest.raises(ValueError, match="both must be"):
        make_adapter((8,), (16, 5, 5))
    with pytest.raises(ValueError, match="pass an adapter"):
        hint_loss(Tensor(rng.standard_normal((2, 3))), rng.standard_normal((2, 4)))


# ------------------------------------------------------------------ soft targets and ensembles
def test_soften_temperature_flattens(rng):
    z = _logits(rng, scale=5.0)
    entropies = [float(-(p * np.log(p)).sum(axis=1).mean()) for p in (soften(z, t) for t in (0.5, 1, 4, 50))]
    assert all(a < b for a, b in zip(entropies, entropies[1:]))
    np.testing.assert_allclose(soften(z, 4.0).sum(axis=1), 1.0)


def test_ensemble_targets_are_the_average(mnist10k):
    x = mnist10k[0][:50]
    a, b = mlp([784, 16, 10], seed=1), mlp([784, 16, 10], seed=2)
    both = soft_targets([a, b], x, T=3.0)
    expected = (soften(predict(a, x), 3.0) + soften(predict(b, x), 3.0)) / 2
    np.testing.assert_allclose(both, expected, rtol=1e-12)
    with pytest.raises(ValueError, match="same classes"):
        soft_targets([a, mlp([784, 16, 7], seed=3)], x)


# ------------------------------------------------------------------ validation
@pytest.fixture(scope="module")
def small(mnist10k):
    x, y = mnist10k[0][:64], mnist10k[1][:64]
    return x, y, mlp([784, 16, 10], seed=0), mlp([784, 8, 10], seed=1)


@pytest.mark.parametrize("T", [0, -1.0, float("nan"), float("inf")])
def test_distill_rejects_bad_temperature(small, T):
    x, _, teacher, student = small
    with pytest.raises(ValueError, match="temperature T must be a finite number > 0"):
        distill(teacher, student, x, T=T, epochs=1)


@pytest.mark.parametrize("alpha", [-0.1, 1.5])
def test_distill_rejects_alpha_outside_unit_interval(small, alpha):
    x, _, teacher, student = small
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]"):
        distill(teacher, student, x, alpha=alpha, epochs=1)


def test_distill_rejects_different_output_sizes(small):
    x, _, teacher, _ = small
    with pytest.raises(ValueError, match="teacher outputs 10 classes but the student outputs 5"):
        distill(teacher, mlp([784, 8, 5]), x, epochs=1)


def test_distill_rejects_transfer_set_of_wrong_shape(small):
    x, _, teacher, student = small
    with pytest.raises(ValueError, match=r"x_transfer has samples of shape \(3, 32, 32\)"):
        distill(teacher, student, np.zeros((4, 3, 32, 32), np.float32), epochs=1)
    with pytest.raises(ValueError, match=r"x_transfer has samples of shape \(784,\), which the teacher"):
        distill(build("lenet5"), student, x.reshape(64, 784), epochs=1)
    with pytest.raises(TypeError, match="floating point"):
        distill(teacher, student, (x * 255).astype(np.uint8), epochs=1)


def test_distill_rejects_bad_labeled_set(small):
    x, y, teacher, student = small
    with pytest.raises(ValueError, match="both x_labeled and y_labeled"):
        distill(teacher, student, x, x_labeled=x, epochs=1)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 10\)"):
        distill(teacher, student, x, x_labeled=x, y_labeled=y + 10, epochs=1)
    with pytest.raises(ValueError, match="x_labeled has samples of shape"):
        distill(teacher, student, x, x_labeled=x.reshape(64, 784), y_labeled=y, epochs=1)


# ------------------------------------------------------------------ distill end to end
def test_distill_from_unlabeled_transfer_set(mnist10k, trained_lenet300):
    x_train, _, x_test, y_test = mnist10k
    before = trained_lenet300.state_dict()
    student = mlp([784, 32, 10], seed=0)
    chance = evaluate(student, x_test, y_test)["accuracy"]
    history = distill(trained_lenet300, student, x_train[:3000], T=4.0, epochs=2, lr=3e-3, seed=0,
                      x_val=x_test[:500], y_val=y_test[:500], progress=False)
    assert "val_accuracy" in history[-1] and "accuracy" not in history[-1]
    acc = evaluate(student, x_test, y_test)["accuracy"]
    assert chance < 0.3 and acc > 0.8, (chance, acc)  # no label was used (measured: 0.88)
    assert history[-1]["loss"] < history[0]["loss"]
    after = trained_lenet300.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)  # the teacher is never trained


def test_distill_mixed_sets_and_ensemble_run(mnist10k, trained_lenet300):
    x, y = mnist10k[0][:500], mnist10k[1][:500]
    other = mlp([784, 32, 10], seed=5)
    student = mlp([784, 16, 10], seed=0)
    history = distill([trained_lenet300, other], student, x[:400], x_labeled=x[400:], y_labeled=y[400:],
                      T=2.0, alpha=0.5, epochs=2, progress=False)
    assert len(history) == 2 and np.isfinite(history[-1]["loss"])


def test_forward_to_taps_the_sequential(mnist10k, trained_lenet300):
    x = mnist10k[0][:8]
    np.testing.assert_array_equal(forward_to(trained_lenet300, x, -1).data, predict(trained_lenet300, x))
    assert layer_outputs(trained_lenet300, x, 2).shape == (8, 300)
    with pytest.raises(ValueError, match="out of range"):
        forward_to(trained_lenet300, x, 6)


def test_fit_hints_lowers_the_hint_loss(mnist10k, trained_lenet300):
    x = mnist10k[0][:1000]
    student = mlp([784, 32, 10], seed=0)
    target = layer_outputs(trained_lenet300, x, 4)  # the teacher's 100 hidden units after ReLU
    adapter = make_adapter((32,), (100,), seed=0)
    initial = float(hint_loss(forward_to(student, x, 2), target, adapter).data)
    untouched = student[3].weight.data.copy()
    adapter, history = fit_hints(trained_lenet300, student, x, 2, 4, adapter=adapter, epochs=3, progress=False)
    final = float(hint_loss(forward_to(student, x, 2), target, adapter).data)
    assert final < 0.6 * initial, (initial, final)
    np.testing.assert_array_equal(student[3].weight.data, untouched)  # only layers 0..2 are guided


def test_fit_hints_with_feature_maps(mnist10k):
    x = mnist10k[0][:64]
    teacher, student = build("lenet5", seed=0), build("lenet5", seed=1)
    adapter, history = fit_hints(teacher, student, x, 2, 2, epochs=1, progress=False)
    assert isinstance(adapter, Conv2d) and adapter.kernel_size == 1
    assert np.isfinite(history[0]["loss"])


# ------------------------------------------------------------------ the documents' examples
def test_doc002_example_runs_and_copies():
    r = doc002_example(seed=0)
    assert len(r["teacher_losses"]) == 100 and len(r["student_losses"]) == 100
    assert r["teacher_losses"][-1] < r["teacher_losses"][0]
    assert r["student_losses"][-1] < r["student_losses"][0]  # recomputed inside the loop, so it moves
    # Gibbs: H(p_T, p_S) >= H(p_T) at every step
    assert min(r["student_losses"]) >= r["teacher_entropy"] - 1e-6
    assert r["parameter_distance_before_copy"] > 0 and r["output_distance_before_copy"] > 0
    assert r["parameter_distance_after_copy"] == 0.0 and r["output_distance_after_copy"] == 0.0


def test_doc002_copy_refuses_a_mismatched_student():
    teacher = build("doc002-mlp", seed=0)
    with pytest.raises(ValueError, match=r"'0.weight' has shape \(5, 10\) in the teacher and \(6, 10\)"):
        copy_parameters(teacher, mlp([10, 6, 2], flatten=False))


def test_mnist_as_doc000_input(mnist10k):
    x = mnist10k[0][:3]
    big = mnist_as_doc000_input(x)
    assert big.shape == (3, 3, 32, 32)
    np.testing.assert_array_equal(big[:, 1:2, 2:30, 2:30], x)
    assert big[:, :, :2].sum() == 0
    assert build("doc000-cnn")(Tensor(big)).shape == (3, 10)


def _fake_cifar(directory, n, seed=0):
    rng = np.random.default_rng(seed)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 b"labels": [int(v) for v in rng.integers(0, 10, n)], b"batch_label": b"fake"}
        (directory / name).write_bytes(pickle.dumps(batch, protocol=2))


def test_doc000_distillation_on_a_fake_cifar_directory(tmp_path):
    _fake_cifar(tmp_path, 8)
    r = doc000_cifar10(tmp_path, teacher_epochs=1, student_epochs=1, progress=False)
    assert 0.0 <= r["teacher_accuracy"] <= 1.0 and 0.0 <= r["student_accuracy"] <= 1.0
    assert r["student_parameters"] == doc000_student().num_parameters() < r["teacher_parameters"] / 3
    with pytest.raises(FileNotFoundError, match="not found"):
        doc000_cifar10(tmp_path / "nowhere")


# ------------------------------------------------------------------ the command line
@pytest.mark.cli
def test_cli_distill(tmp_path, trained_lenet300, capsys):
    from minicompress.cli.main import main

    teacher_path, out, report = tmp_path / "t.npz", tmp_path / "s.npz", tmp_path / "r.json"
    save_model(copy_model(trained_lenet300), teacher_path)
    code = main(["distill", "--teacher", str(teacher_path), "--student-arch", "784-16-10", "--epochs", "3", "--lr", "3e-3",
                 "--transfer", "2000", "--labeled", "100", "--out", str(out), "--json", str(report)])
    assert code == 0
    student = load_model(out)
    assert [p.shape for p in student.parameters()] == [(16, 784), (16,), (10, 16), (10,)]
    data = json.loads(report.read_text())
    assert 0.5 < data["student_accuracy"] <= 1 and data["T"] == 4.0
    assert "student" in capsys.readouterr().out
    assert main(["distill", "--teacher", str(teacher_path), "--student-arch", "784-16-7",
                 "--out", str(out)]) == 2
    assert "outputs 7" in capsys.readouterr().err
    assert main(["distill", "--teacher", str(tmp_path / "missing.npz"), "--student-arch", "784-16-10",
                 "--out", str(out)]) == 2
