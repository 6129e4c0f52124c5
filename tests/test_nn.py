"""Chapter 1: modules, layers, initializers and losses."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minicompress.nn.losses as L
from minicompress.engine import Tensor, gradcheck
from minicompress.nn import Conv2d, Dropout, Flatten, Linear, MaxPool2d, Module, Parameter, ReLU, Sequential
from minicompress.nn import init as nninit

pytestmark = pytest.mark.nn


def as64(module):
    for p in module.parameters():
        p.data = p.data.astype(np.float64)
    return module


def test_linear_and_conv_layer_gradients(rng):
    lin = as64(Linear(4, 3, seed=1))
    x = Tensor(rng.standard_normal((5, 4)))
    gradcheck(lambda x, w, b: lin(x), [x, lin.weight, lin.bias])
    conv = as64(Conv2d(2, 3, 3, stride=1, padding=1, seed=1))
    img = Tensor(rng.standard_normal((2, 2, 5, 5)))
    gradcheck(lambda x, w, b: conv(x), [img, conv.weight, conv.bias])


def test_sequential_model_gradient(rng):
    model = as64(Sequential(Conv2d(1, 2, 3, seed=0), ReLU(), MaxPool2d(2), Flatten(), Linear(8, 3, seed=1)))
    x = Tensor(rng.standard_normal((2, 1, 6, 6)))
    params = model.parameters()
    gradcheck(lambda *ps: model(x), params)


LOSSES = {
    "cross_entropy": lambda z, rng: L.cross_entropy(z, rng.integers(0, 4, 5)),
    "cross_entropy_probabilities": lambda z, rng: L.cross_entropy(z, rng.dirichlet(np.ones(4), 5)),
    "cross_entropy_none": lambda z, rng: (L.cross_entropy(z, rng.integers(0, 4, 5), reduction="none")
                                          * Tensor(rng.random(5))).sum(),
    "nll_loss": lambda z, rng: L.nll_loss(z.clip(None, -0.01), rng.integers(0, 4, 5), reduction="sum"),
    "kl_div": lambda z, rng: L.kl_div(z.clip(None, -0.01), rng.dirichlet(np.ones(4), 5), reduction="batchmean"),
    "kl_div_none": lambda z, rng: (L.kl_div(z.clip(None, -0.01), rng.dirichlet(np.ones(4), 5), reduction="none")
                                   * Tensor(rng.random((5, 4)))).sum(),
    "bce_logits": lambda z, rng: L.binary_cross_entropy_with_logits(z, rng.random((5, 4))),
    "bce": lambda z, rng: L.binary_cross_entropy(z.sigmoid(), (rng.random((5, 4)) > 0.5) * 1.0),
    "mse": lambda z, rng: L.mse(z, rng.standard_normal((5, 4))),
}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_gradients(name):
    z = Tensor(np.random.default_rng(3).standard_normal((5, 4)))
    gradcheck(lambda z: LOSSES[name](z, np.random.default_rng(7)), [z])


def test_bce_with_logits_gradient_at_zero():
    z = Tensor(np.zeros((1, 3)), requires_grad=True)
    L.binary_cross_entropy_with_logits(z, np.array([[0.0, 1.0, 0.5]])).backward()
    np.testing.assert_allclose(z.grad, [[0.5 / 3, -0.5 / 3, 0.0]], atol=1e-12)


def test_loss_values_match_formulas(rng):
    z = rng.standard_normal((6, 4))
    y = rng.integers(0, 4, 6)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    assert np.isclose(L.cross_entropy(Tensor(z), y).item(), -logp[np.arange(6), y].mean())
    q = rng.dirichlet(np.ones(4), 6)
    assert np.isclose(L.kl_div(Tensor(logp), q, reduction="batchmean").item(), (q * (np.log(q) - logp)).sum() / 6)
    assert np.isclose(L.cross_entropy(Tensor(z), q).item(), -(q * logp).sum(1).mean())
    p = 1 / (1 + np.exp(-z))
    t = rng.random((6, 4))
    bce = -(t * np.log(p) + (1 - t) * np.log(1 - p)).mean()
    assert np.isclose(L.binary_cross_entropy(Tensor(p), t).item(), bce)
    assert np.isclose(L.binary_cross_entropy_with_logits(Tensor(z), t).item(), bce)
    assert L.kl_div(Tensor(np.log(q)), q, reduction="batchmean").item() == pytest.approx(0.0, abs=1e-12)


@given(st.integers(1, 6), st.integers(2, 5), st.integers(0, 2**31 - 1))
def test_loss_reductions_follow_pytorch(n, c, seed):
    # reduction="none" gives per-sample losses (per element for kl_div); "mean"/"sum" reduce them;
    # kl_div's "mean" averages over elements (PyTorch's default), "batchmean" over samples.
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, c))
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    y, q = rng.integers(0, c, n), rng.dirichlet(np.ones(c), n)
    for loss, target, per in ((L.cross_entropy, y, -logp[np.arange(n), y]),
                              (L.cross_entropy, q, -(q * logp).sum(1)),
                              (L.nll_loss, y, -logp[np.arange(n), y]),
                              (L.nll_loss, q, -(q * logp).sum(1))):
        x = Tensor(logp) if loss is L.nll_loss else Tensor(z)
        np.testing.assert_allclose(loss(x, target, reduction="none").data, per, rtol=1e-10)
        assert loss(x, target, reduction="sum").item() == pytest.approx(per.sum(), rel=1e-10)
        assert loss(x, target).item() == pytest.approx(per.mean(), rel=1e-10)
    terms = q * (np.log(q) - logp)
    np.testing.assert_allclose(L.kl_div(Tensor(logp), q, reduction="none").data, terms, rtol=1e-9, atol=1e-12)
    assert L.kl_div(Tensor(logp), q).item() == pytest.approx(terms.mean(), rel=1e-9)
    assert L.kl_div(Tensor(logp), q, reduction="sum").item() == pytest.approx(terms.sum(), rel=1e-9)
    assert L.kl_div(Tensor(logp), q, reduction="batchmean").item() == pytest.approx(terms.sum() / n, rel=1e-9)
    assert L.kl_div(Tensor(logp), np.log(q), reduction="batchmean", log_target=True).item() == \
        pytest.approx(terms.sum() / n, rel=1e-9)
    t = rng.random((n, c))
    np.testing.assert_allclose(L.mse(Tensor(z), t, reduction="none").data, (z - t) ** 2)
    bce = np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))
    np.testing.assert_allclose(L.binary_cross_entropy_with_logits(Tensor(z), t, reduction="none").data, bce)
    assert L.binary_cross_entropy_with_logits(Tensor(z), t, reduction="sum").item() == pytest.approx(bce.sum())


@given(st.integers(1, 5), st.integers(2, 5), st.sampled_from(["mean", "sum", "none"]), st.integers(0, 2**31 - 1))
def test_loss_family_gradients_on_any_shape(n, c, reduction, seed):
    rng = np.random.default_rng(seed)
    w = Tensor(rng.random(n))  # a "none" result is weighted, so every per-sample gradient is checked

    def scalar(t):
        return (t * w).sum() if reduction == "none" else t

    labels, q = rng.integers(0, c, n), rng.dirichlet(np.ones(c), n)
    z = Tensor(rng.standard_normal((n, c)))
    logp = Tensor(-np.abs(rng.standard_normal((n, c))) - 0.1)  # log-probability-like inputs, away from 0
    gradcheck(lambda z: scalar(L.cross_entropy(z, labels, reduction=reduction)), [z])
    gradcheck(lambda z: scalar(L.cross_entropy(z, q, reduction=reduction)), [z])
    # a class-probability Tensor target is differentiable too
    gradcheck(lambda x, t: scalar(L.nll_loss(x, t, reduction=reduction)), [logp, Tensor(q)])
    gradcheck(lambda x: scalar(L.nll_loss(x, labels, reduction=reduction)), [logp])
    kl_red = "batchmean" if reduction == "mean" else reduction
    v = Tensor(rng.random((n, c)))
    gradcheck(lambda x: (L.kl_div(x, q, reduction="none") * v).sum() if kl_red == "none"
              else L.kl_div(x, q, reduction=kl_red), [logp])


def test_loss_rejects_unknown_reduction():
    with pytest.raises(ValueError, match="reduction must be one of"):
        L.cross_entropy(Tensor(np.zeros((2, 3))), np.array([0, 1]), reduction="batchmean")
    with pytest.raises(ValueError, match="batchmean"):
        L.kl_div(Tensor(np.zeros((2, 3))), np.full((2, 3), 1 / 3), reduction="avg")


def test_bce_clips_log_at_eps():
    loss = L.binary_cross_entropy(Tensor(np.array([0.0, 1.0])), np.array([1.0, 0.0])).item()
    assert np.isclose(loss, -np.log(L.BCE_EPS), rtol=1e-3)


@pytest.mark.parametrize("labels,match", [
    (np.array([0, 1, 4]), r"\[0, 4\)"), (np.array([0, -1, 2]), r"\[0, 4\)"),
    (np.array([0.0, 1.0, 2.0]), "integers"), (np.array([0, 1]), "shape"),
])
def test_cross_entropy_rejects_bad_labels(labels, match):
    with pytest.raises((ValueError, TypeError), match=match):
        L.cross_entropy(Tensor(np.zeros((3, 4))), labels)


def test_bce_rejects_probabilities_outside_unit_interval():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        L.binary_cross_entropy(Tensor(np.array([1.5])), np.array([1.0]))
    with pytest.raises(ValueError, match="NaN"):
        L.binary_cross_entropy(Tensor(np.array([np.nan])), np.array([1.0]))


def test_named_parameters_state_dict_and_buffers():
    model = Sequential(Linear(3, 4), ReLU(), Linear(4, 2))
    names = [n for n, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "2.weight", "2.bias"]
    model[0].register_buffer("weight_mask", np.ones((4, 3), dtype=bool))
    state = model.state_dict()
    assert set(state) == {*names, "0.weight_mask"}
    state["0.weight"][:] = 0  # a copy: the model is unchanged
    assert np.any(model[0].weight.data != 0)


def test_load_state_dict_names_every_problem():
    model = Sequential(Linear(3, 4), Linear(4, 2))
    state = model.state_dict()
    del state["1.bias"]
    state["0.weight"] = np.zeros((5, 3))
    state["extra"] = np.zeros(1)
    with pytest.raises(ValueError) as err:
        model.load_state_dict(state)
    msg = str(err.value)
    assert "missing key '1.bias'" in msg and "'0.weight' has shape (5, 3)" in msg and "unexpected key 'extra'" in msg


def test_masked_weight_gives_masked_output_and_gradient(rng):
    lin = Linear(4, 3, seed=0)
    mask = rng.random((3, 4)) > 0.5
    lin.register_buffer("weight_mask", mask)
    x = Tensor(rng.standard_normal((2, 4)).astype(np.float32))
    out = lin(x)
    np.testing.assert_allclose(out.data, x.data @ (lin.weight.data * mask).T + lin.bias.data, rtol=1e-6)
    out.sum().backward()
    assert np.all(lin.weight.grad[~mask] == 0)


def test_freeze_train_eval_and_dropout():
    model = Sequential(Linear(3, 3), Dropout(0.5, seed=0))
    model.freeze()
    assert not any(p.requires_grad for p in model.parameters())
    model.unfreeze()
    assert all(p.requires_grad for p in model.parameters())
    x = Tensor(np.ones((100, 3), dtype=np.float32))
    model.eval()
    np.testing.assert_array_equal(model(x).data, model[0](x).data)
    model.train()
    dropped = model[1](x).data
    assert set(np.unique(dropped)) == {0.0, 2.0}


def test_layer_input_validation():
    with pytest.raises(ValueError, match=r"expects input of shape \(N, 3\)"):
        Linear(3, 2)(Tensor(np.ones((2, 4))))
    with pytest.raises(ValueError, match="positive integer"):
        Linear(0, 2)
    with pytest.raises(ValueError, match="unknown init"):
        Linear(2, 2, init="zeros")
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        Dropout(1.0)
    with pytest.raises(TypeError, match="Sequential takes Modules"):
        Sequential(Linear(2, 2), "relu")


def test_initializers_are_seeded_and_scaled():
    a = Linear(300, 100, init="kaiming_normal", seed=5).weight.data
    b = Linear(300, 100, init="kaiming_normal", seed=5).weight.data
    np.testing.assert_array_equal(a, b)
    assert abs(a.std() - np.sqrt(2 / 300)) < 0.01
    x = nninit.xavier_uniform((200, 100), np.random.default_rng(0))
    assert x.max() <= np.sqrt(6 / 300) and x.min() >= -np.sqrt(6 / 300)
    assert nninit.fans((8, 3, 5, 5)) == (75, 200)


def test_module_registers_parameters_by_attribute():
    class Net(Module):
        def __init__(self):
            super().__init__()
            self.scale = Parameter(np.ones(2))
            self.body = Linear(2, 2)

    net = Net()
    assert [n for n, _ in net.named_parameters()] == ["scale", "body.weight", "body.bias"]
    assert net.get_submodule("body") is net.body
    with pytest.raises(ValueError, match="no submodule"):
        net.get_submodule("head")


# ------------------------------------------------------------------ issue 12: seeds like PyTorch
def test_seed_none_draws_from_the_package_generator():
    import minicompress

    a, b = Linear(4, 4), Linear(4, 4)
    assert not np.array_equal(a.weight.data, b.weight.data)  # seed=None is not "seed 0"
    x = Tensor(np.ones((64, 8), dtype=np.float32))
    assert not np.array_equal(Dropout(0.5)(x).data, Dropout(0.5)(x).data)
    runs = []
    for _ in range(2):
        minicompress.manual_seed(7)
        drop = Dropout(0.5)
        runs.append((Linear(4, 4).weight.data, drop(x).data, drop(x).data))
    for first, second in zip(*runs):
        np.testing.assert_array_equal(first, second)
    assert not np.array_equal(runs[0][1], runs[0][2])  # the generator advances with each draw
    assert minicompress.initial_seed() == 7
    early = Dropout(0.5)  # built before manual_seed: it holds the package generator, reseeded in place
    masks = []
    for _ in range(2):
        minicompress.manual_seed(11)
        masks.append(early(x).data)
    np.testing.assert_array_equal(*masks)


def test_an_explicit_seed_wins_over_the_package_generator():
    import minicompress

    minicompress.manual_seed(1)
    a = Linear(4, 4, seed=3).weight.data
    minicompress.manual_seed(2)
    b = Linear(4, 4, seed=3).weight.data
    np.testing.assert_array_equal(a, b)
    c = Linear(4, 4, seed=np.random.default_rng(3)).weight.data
    np.testing.assert_array_equal(a, c)
    x = Tensor(np.ones((32, 4), dtype=np.float32))
    np.testing.assert_array_equal(Dropout(0.5, seed=4)(x).data, Dropout(0.5, seed=4)(x).data)
    with pytest.raises(ValueError, match="seed must be >= 0"):
        minicompress.manual_seed(-1)
    with pytest.raises(TypeError, match="seed must be an int"):
        Linear(2, 2, seed=1.5)


def test_functional_dropout_takes_p_training_and_seed():
    import minicompress.engine.functional as F

    x = Tensor(np.ones((50, 4), dtype=np.float32))
    a = F.dropout(x, p=0.25, training=True, seed=0).data
    np.testing.assert_array_equal(a, F.dropout(x, 0.25, True, seed=0).data)
    assert set(np.unique(a)) == {0.0, np.float32(1 / 0.75)}
    assert F.dropout(x, p=0.5, training=False) is x
    assert set(np.unique(F.dropout(x).data)) == {0.0, 2.0}  # PyTorch's default p=0.5
    with pytest.raises(ValueError, match=r"p must be a finite number in \[0, 1\)"):
        F.dropout(x, p=float("nan"))


# ------------------------------------------------------------------ load_state_dict(strict=...)
def test_load_state_dict_strict_false_returns_missing_and_unexpected_keys():
    model = Sequential(Linear(3, 4, seed=0), Linear(4, 2, seed=0))
    model[0].register_buffer("weight_mask", np.ones((4, 3), dtype=bool))
    source = Sequential(Linear(3, 4, seed=1), Linear(4, 2, seed=1)).state_dict()
    del source["1.bias"]
    source["extra"] = np.zeros(1)
    result = model.load_state_dict(source, strict=False)
    assert result.missing_keys == ["1.bias", "0.weight_mask"]
    assert result.unexpected_keys == ["extra"]
    missing, unexpected = result  # a named tuple, as in PyTorch
    np.testing.assert_array_equal(model[1].weight.data, source["1.weight"])  # what matched is loaded
    assert not np.array_equal(model[1].bias.data, Linear(4, 2, seed=1).bias.data)
    ok = model.load_state_dict(model.state_dict())
    assert ok == ([], [])


def test_load_state_dict_shape_mismatch_raises_even_when_not_strict():
    model = Sequential(Linear(3, 4))
    before = model.state_dict()
    with pytest.raises(ValueError, match=r"'0.weight' has shape \(4, 4\), the model expects \(4, 3\)"):
        model.load_state_dict({"0.weight": np.zeros((4, 4)), "0.bias": np.ones(4)}, strict=False)
    np.testing.assert_array_equal(model[0].bias.data, before["0.bias"])  # nothing loaded
    with pytest.raises(ValueError, match="only real numbers"):
        model.load_state_dict({"0.weight": np.zeros((4, 3), dtype=complex)}, strict=False)
    with pytest.raises(TypeError, match="mapping"):
        model.load_state_dict([np.zeros((4, 3))])


# ------------------------------------------------------------------ layers on generated shapes
from hypothesis import settings  # noqa: E402

from tests.strategies import conv_geometries, float64_array, seeds  # noqa: E402


@settings(max_examples=20, deadline=None)
@given(geometry=conv_geometries(max_kernel=4), seed=seeds)
def test_conv2d_layer_gradients_on_any_geometry(geometry, seed):
    x_shape, w_shape, stride, padding = geometry
    if w_shape[2] != w_shape[3]:
        w_shape = w_shape[:3] + (w_shape[2],)  # the layer's kernels are square
        x_shape = x_shape[:3] + (max(x_shape[3], w_shape[3]),)
    layer = as64(Conv2d(w_shape[1], w_shape[0], w_shape[2], stride=stride, padding=padding, seed=seed % 1000))
    x = Tensor(float64_array(x_shape, seed))
    gradcheck(lambda x, w, b: layer(x), [x, layer.weight, layer.bias])
