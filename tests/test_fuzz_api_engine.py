"""A fuzz of the public Python API of engine, nn, optim, training and models (issue 15).

Every call gets NaN/inf, empty, complex, object, string, ragged and wrong-shape arrays, and
arguments of every type and range. Each call must either return the right result (checked
against NumPy where there is one) or raise the library's own error, ``InputError`` (a
``ValueError``) or ``InputTypeError`` (a ``TypeError``), whose message names the argument or
the op: never an error from inside NumPy or Numba, never a silent wrong result.
(``x[i]`` out of range raises ``IndexError``, as a sequence must for iteration.)
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minicompress
import minicompress.engine.functional as F
from minicompress.engine import Tensor
from minicompress.errors import InputError
from minicompress.models import MODEL_NAMES, build, mlp
from minicompress.nn import Conv2d, Dropout, Flatten, Linear, MaxPool2d, ReLU, Sequential
from minicompress.optim import SGD, Adam, CosineAnnealingLR, StepLR
from minicompress.training import evaluate, fit, predict
from tests.strategies import fuzz_arrays, weird_values

pytestmark = pytest.mark.engine

FUZZ = settings(max_examples=40, deadline=None)
# Layer sizes: small, or so large that allocation fails at once (never a few GiB that would
# succeed slowly and starve the machine), or not integers at all.
SIZES = st.one_of(st.integers(-3, 64), st.integers(2**62, 2**70), weird_values.filter(
    lambda v: not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v <= 64 or v >= 2**62))


class Outcome:
    """What one call did: ``value`` if it returned, ``error`` (an InputError) if it refused."""

    def __init__(self, value=None, error=None):
        self.value, self.error = value, error


def attempt(call, *names, index_error=False) -> Outcome:
    """Run ``call``; a refusal must be an InputError whose message names one of ``names``."""
    try:
        with np.errstate(all="ignore"):
            return Outcome(value=call())
    except InputError as err:
        message = str(err)
        assert message and "\n" not in message.strip(), f"an error message must be one line: {message!r}"
        if names:
            assert any(n in message for n in names), f"message names none of {names}: {message!r}"
        return Outcome(error=err)
    except IndexError as err:
        if index_error:
            return Outcome(error=err)
        raise AssertionError(f"IndexError from inside: {err}") from err
    except Exception as err:  # noqa: BLE001 - the point: nothing else may escape
        raise AssertionError(f"{type(err).__name__} from inside the library: {err}") from err


def real_float(data):
    """What ``Tensor(data)`` should hold, or None when the data is not real numbers."""
    try:
        arr = np.asarray(data)
    except (ValueError, TypeError):
        return None
    if arr.dtype.kind not in "biuf":
        return None
    return arr if arr.dtype.kind == "f" else arr.astype(np.float32)


def same(got, expected):
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    np.testing.assert_allclose(got.astype(np.float64), expected.astype(np.float64), rtol=2e-3, atol=1e-6,
                               equal_nan=True)


# ------------------------------------------------------------------------------- engine
@FUZZ
@given(data=fuzz_arrays(), dtype=st.sampled_from([None, np.float32, np.float64, "float16", np.int32, "x", 3]))
def test_tensor_construction(data, dtype):
    out = attempt(lambda: Tensor(data, dtype=dtype), "data", "dtype")
    expected = real_float(data)
    if out.error is None and dtype is not None:
        expected = expected.astype(out.value.dtype)
    if out.error is None:
        assert expected is not None, f"Tensor accepted {np.asarray(data).dtype} data"
        same(out.value.data, expected)
        assert out.value.dtype.kind == "f"
    elif isinstance(out.error, TypeError) and expected is not None:
        assert "dtype" in str(out.error)  # refused only because of the dtype argument


UNARY = {
    "neg": (lambda t: -t, np.negative),
    "exp": (lambda t: t.exp(), np.exp),
    "log": (lambda t: t.log(), np.log),
    "relu": (lambda t: t.relu(), lambda a: np.maximum(a, 0)),
    "sigmoid": (lambda t: t.sigmoid(), lambda a: 1 / (1 + np.exp(-a.astype(np.float64)))),
    "tanh": (lambda t: t.tanh(), np.tanh),
    "abs": (lambda t: t.abs(), np.abs),
    "square": (lambda t: t**2, np.square),
    "clip": (lambda t: t.clip(-1.0, 2.0), lambda a: np.clip(a, -1.0, 2.0)),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@FUZZ
@given(data=fuzz_arrays())
def test_elementwise_ops_match_numpy(name, data):
    base = real_float(data)
    if base is None:
        return
    fn, ref = UNARY[name]
    out = attempt(lambda: fn(Tensor(base)))
    assert out.error is None, out.error
    with np.errstate(all="ignore"):
        same(out.value.data, ref(base))


@pytest.mark.parametrize("name", ["sum", "mean", "max"])
@FUZZ
@given(data=fuzz_arrays(), axis=st.one_of(st.none(), st.integers(-5, 5), st.tuples(st.integers(-3, 3)),
                                        st.tuples(st.integers(0, 3), st.integers(0, 3)), weird_values),
       keepdims=st.booleans())
def test_reductions_match_numpy_or_refuse(name, data, axis, keepdims):
    base = real_float(data)
    if base is None:
        return
    out = attempt(lambda: getattr(Tensor(base), name)(axis=axis, keepdims=keepdims), name)
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            expected = getattr(np, name)(base, axis=axis, keepdims=keepdims)
    except Exception:  # noqa: BLE001 - NumPy refuses: so must we
        assert out.error is not None, f"{name}(axis={axis!r}) accepted what NumPy refuses"
        return
    assert out.error is None, out.error
    same(out.value.data, expected)


BINARY = {"add": np.add, "subtract": np.subtract, "multiply": np.multiply, "divide": np.divide,
          "matmul": np.matmul}
APPLY = {"add": lambda a, b: a + b, "subtract": lambda a, b: a - b, "multiply": lambda a, b: a * b,
         "divide": lambda a, b: a / b, "matmul": lambda a, b: a @ b}


@pytest.mark.parametrize("name", sorted(BINARY))
@FUZZ
@given(a=fuzz_arrays(max_dims=3), b=fuzz_arrays(max_dims=3))
def test_binary_ops_match_numpy_or_refuse(name, a, b):
    a, b = real_float(a), real_float(b)
    if a is None or b is None:
        return
    out = attempt(lambda: APPLY[name](Tensor(a), Tensor(b)), name)
    try:
        with np.errstate(all="ignore"):
            expected = BINARY[name](a, b)
    except Exception:  # noqa: BLE001
        assert out.error is not None
        return
    if out.error is None:
        same(out.value.data, expected)
    else:
        assert name == "matmul" and min(a.ndim, b.ndim) == 0, out.error  # matmul refuses scalars, as NumPy does


@FUZZ
@given(data=fuzz_arrays(), other=st.one_of(weird_values, fuzz_arrays(max_dims=2)))
def test_operators_with_any_other_operand(data, other):
    base = real_float(data)
    if base is None:
        return
    t = Tensor(base)
    for op in (lambda: t + other, lambda: other - t, lambda: t * other, lambda: t ** other, lambda: t == other,
               lambda: t < other):
        attempt(op, "data", "shapes", "exponent", "broadcast", "compares")


@FUZZ
@given(data=fuzz_arrays(), shape=st.one_of(st.tuples(st.integers(-2, 6)), st.tuples(st.integers(-1, 4), st.integers(-1, 4)),
                                           weird_values),
       axes=st.one_of(st.permutations([0, 1]), st.tuples(st.integers(-4, 4)), weird_values))
def test_reshape_transpose_flatten(data, shape, axes):
    base = real_float(data)
    if base is None:
        return
    t = Tensor(base)
    out = attempt(lambda: t.reshape(shape), "reshape")
    if out.error is None:
        same(out.value.data, base.reshape(shape))
    out = attempt(lambda: t.transpose(axes), "transpose")
    if out.error is None:
        same(out.value.data, np.transpose(base, axes if isinstance(axes, (tuple, list)) else None))
    attempt(lambda: Flatten()(t), "Flatten")


@FUZZ
@given(data=fuzz_arrays(), index=st.one_of(st.integers(-6, 6), st.slices(5), st.lists(st.integers(-6, 6), max_size=4),
                                           st.tuples(st.integers(-3, 3), st.integers(-3, 3))))
def test_getitem_matches_numpy(data, index):
    base = real_float(data)
    if base is None:
        return
    out = attempt(lambda: Tensor(base)[index], index_error=True)
    if out.error is None:
        same(out.value.data, base[index])


@pytest.mark.parametrize("fn", [F.softmax, F.log_softmax], ids=["softmax", "log_softmax"])
@FUZZ
@given(data=fuzz_arrays(), axis=st.one_of(st.integers(-4, 4), weird_values))
def test_softmax_family(fn, data, axis):
    base = real_float(data)
    out = attempt(lambda: fn(base if base is not None else data, axis=axis), "softmax", "axis", "data")
    if out.error is None and base.size:
        finite = np.isfinite(base).all()
        if finite:
            probs = np.exp(out.value.data.astype(np.float64)) if fn is F.log_softmax else out.value.data
            np.testing.assert_allclose(probs.sum(axis=axis), 1.0, rtol=2e-3)


@FUZZ
@given(x=fuzz_arrays(), w=fuzz_arrays(), b=st.one_of(st.none(), fuzz_arrays(max_dims=1)),
       stride=weird_values, padding=weird_values)
def test_conv2d(x, w, b, stride, padding):
    out = attempt(lambda: F.conv2d(x, w, b, stride=stride, padding=padding),
                  "conv2d", "stride", "padding", "data", "bias")
    if out.error is None:
        n, _, h, wd = np.shape(x)
        f, _, kh, kw = np.shape(w)
        assert out.value.shape == (n, f, (h + 2 * padding - kh) // stride + 1, (wd + 2 * padding - kw) // stride + 1)


@FUZZ
@given(x=fuzz_arrays(), kernel=st.one_of(st.integers(0, 5), weird_values), stride=st.one_of(st.none(), weird_values))
def test_max_pool2d(x, kernel, stride):
    out = attempt(lambda: F.max_pool2d(x, kernel, stride), "max_pool2d", "kernel_size", "stride", "data")
    if out.error is None:
        s = stride or kernel
        base = real_float(x)
        n, c, h, w = base.shape
        assert out.value.shape == (n, c, (h - kernel) // s + 1, (w - kernel) // s + 1)


@FUZZ
@given(x=fuzz_arrays(), w=fuzz_arrays(max_dims=2), b=st.one_of(st.none(), fuzz_arrays(max_dims=1)))
def test_linear(x, w, b):
    out = attempt(lambda: F.linear(x, w, b), "linear", "data")
    if out.error is None:
        xb, wb = real_float(x), real_float(w)
        expected = xb @ wb.T + (0 if b is None else real_float(b))
        same(out.value.data, expected)


@FUZZ
@given(x=fuzz_arrays(), p=st.one_of(st.floats(0, 0.99), weird_values), training=st.booleans(),
       seed=st.one_of(st.integers(0, 5), weird_values))
def test_dropout(x, p, training, seed):
    out = attempt(lambda: F.dropout(x, p, training, seed=seed), "p ", "seed", "data")
    if out.error is None:
        base = real_float(x)
        kept = out.value.data
        if not training or p == 0:
            same(kept, base)
        else:
            scaled = base / (1 - p)
            # a dropped inf is inf * 0 = nan, as in PyTorch (the mask multiplies)
            ok = (kept == 0) | np.isclose(kept, scaled, rtol=1e-3, equal_nan=True) | (np.isnan(kept) & ~np.isfinite(base))
            assert ok.all()


@FUZZ
@given(parts=st.lists(fuzz_arrays(max_dims=2), max_size=3), axis=st.one_of(st.integers(-3, 3), weird_values),
       cond=fuzz_arrays(max_dims=2))
def test_concatenate_and_where(parts, axis, cond):
    out = attempt(lambda: F.concatenate(parts, axis=axis), "concatenate", "axis", "data")
    if out.error is None:
        same(out.value.data, np.concatenate([real_float(p) for p in parts], axis=axis))
    if parts:
        out = attempt(lambda: F.where(cond, parts[0], 0.0), "where", "cond", "data")
        if out.error is None:
            same(out.value.data, np.where(np.asarray(cond).astype(bool), real_float(parts[0]), 0.0))


@FUZZ
@given(grad=fuzz_arrays())
def test_backward_with_any_gradient(grad):
    t = Tensor(np.ones((2, 3)), requires_grad=True)
    out = attempt(lambda: (t * 2).backward(grad), "gradient", "data", "backward")
    if out.error is None:
        same(t.grad, 2 * np.broadcast_to(real_float(grad), (2, 3)))


# ------------------------------------------------------------------------------- nn
@FUZZ
@given(args=st.tuples(SIZES, SIZES), bias=weird_values, init=weird_values, seed=weird_values)
def test_linear_layer_constructor(args, bias, init, seed):
    out = attempt(lambda: Linear(*args, bias=bias, init=init, seed=seed),
                  "in_features", "out_features", "init", "seed")
    if out.error is None:
        assert out.value.weight.shape == (int(args[1]), int(args[0]))


@FUZZ
@given(values=st.lists(st.one_of(st.integers(0, 4), SIZES), min_size=5, max_size=5))
def test_conv_pool_dropout_constructors(values):
    c_in, c_out, k, stride, padding = values
    out = attempt(lambda: Conv2d(c_in, c_out, k, stride=stride, padding=padding, seed=0),
                  "in_channels", "out_channels", "kernel_size", "stride", "padding")
    if out.error is None:
        assert out.value.weight.shape == (c_out, c_in, k, k)
    attempt(lambda: MaxPool2d(k, stride), "kernel_size", "stride")
    attempt(lambda: Dropout(values[0], seed=values[1]), "p ", "seed")


@FUZZ
@given(x=fuzz_arrays())
def test_layers_on_any_input(x):
    model = Sequential(Flatten(), Linear(4, 3, seed=0), ReLU(), Dropout(0.5, seed=0))
    attempt(lambda: model(Tensor(x)), "Linear", "Flatten", "data")
    attempt(lambda: model(x), "Linear", "Flatten", "Tensor", "data")
    conv = Sequential(Conv2d(1, 2, 2, padding=1, seed=0), MaxPool2d(2))
    attempt(lambda: conv(x), "conv2d", "max_pool2d", "Tensor", "data")


@FUZZ
@given(value=st.one_of(fuzz_arrays(), weird_values), key=st.sampled_from(["0.weight", "0.bias", "0.weight_mask", "x"]),
       strict=st.booleans())
def test_load_state_dict_with_any_value(value, key, strict):
    model = Sequential(Linear(3, 2, seed=0))
    state = model.state_dict()
    state[key] = value
    before = model.state_dict()
    out = attempt(lambda: model.load_state_dict(state, strict=strict), key, "state")
    if out.error is not None:
        for k, v in model.state_dict().items():  # a refused load changes nothing
            np.testing.assert_array_equal(v, before[k])


@FUZZ
@given(name=weird_values, value=st.one_of(fuzz_arrays(), weird_values))
def test_register_buffer_with_anything(name, value):
    attempt(lambda: Linear(2, 2, seed=0).register_buffer(name, value), "buffer")


# ------------------------------------------------------------------------------- optim
HYPER = st.one_of(st.floats(0, 0.999), weird_values)


@FUZZ
@given(lr=HYPER, momentum=HYPER, wd=HYPER, betas=st.one_of(st.tuples(HYPER, HYPER), weird_values), eps=HYPER,
       nesterov=st.booleans(), fused=st.booleans())
def test_optimizer_constructors(lr, momentum, wd, betas, eps, nesterov, fused):
    p = Linear(2, 2, seed=0).weight
    attempt(lambda: SGD([p], lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=wd),
            "lr", "momentum", "weight_decay", "nesterov")
    out = attempt(lambda: Adam([p], lr=lr, betas=betas, eps=eps, weight_decay=wd, fused=fused),
                  "lr", "betas", "eps", "weight_decay")
    if out.error is None:
        p.grad = np.ones_like(p.data)
        before = p.data.copy()
        out.value.step()
        assert np.isfinite(p.data).all()
        assert (p.data <= before).all()  # a positive gradient never raises a weight


@FUZZ
@given(params=st.one_of(weird_values, st.lists(weird_values, max_size=2), fuzz_arrays()))
def test_optimizer_params_of_any_kind(params):
    attempt(lambda: SGD(params), "params", "Parameters", "parameter", "optimizer")


@FUZZ
@given(grad=fuzz_arrays(), fused=st.booleans())
def test_optimizer_step_with_any_gradient(grad, fused):
    p = Linear(3, 2, seed=0).weight
    opt = Adam([p], fused=fused)
    p.grad = grad
    out = attempt(opt.step, "gradient")
    if out.error is None:
        assert np.shape(grad) == p.shape


@FUZZ
@given(step_size=weird_values, gamma=weird_values, t_max=weird_values, eta_min=weird_values)
def test_schedules(step_size, gamma, t_max, eta_min):
    opt = SGD(Linear(2, 2, seed=0).parameters(), lr=0.1)
    out = attempt(lambda: StepLR(opt, step_size, gamma), "step_size", "gamma")
    if out.error is None:
        out.value.step()
        assert np.isfinite(opt.param_groups[0]["lr"]) and opt.param_groups[0]["lr"] >= 0
    out = attempt(lambda: CosineAnnealingLR(opt, t_max, eta_min), "T_max", "eta_min")
    if out.error is None:
        out.value.step()
        assert np.isfinite(opt.param_groups[0]["lr"])


# ------------------------------------------------------------------------------- training, models
@settings(max_examples=30, deadline=None)
@given(x=fuzz_arrays(), y=fuzz_arrays(max_dims=1), epochs=st.one_of(st.integers(0, 1), weird_values),
       batch_size=st.one_of(st.integers(1, 4), weird_values), seed=st.one_of(st.integers(0, 3), weird_values))
def test_fit_evaluate_predict(x, y, epochs, batch_size, seed):
    model = Sequential(Flatten(), Linear(4, 3, seed=0))
    opt = SGD(model.parameters(), lr=0.1)
    names = ("x", "y", "epochs", "batch_size", "seed", "Linear", "Flatten", "labels", "loss")
    out = attempt(lambda: fit(model, opt, x, y, epochs=epochs, batch_size=batch_size, seed=seed, progress=False),
                  *names)
    if out.error is None:
        assert len(out.value) == epochs
        assert all(np.isfinite(p.data).all() for p in model.parameters())
    attempt(lambda: evaluate(model, x, y, batch_size=batch_size), *names, "predict")
    out = attempt(lambda: predict(model, x, batch_size=batch_size), *names, "predict")
    if out.error is None:
        assert out.value.shape == (len(real_float(x)), 3)


@FUZZ
@given(name=st.one_of(st.sampled_from(MODEL_NAMES), weird_values), seed=weird_values,
       sizes=st.one_of(st.lists(st.one_of(st.integers(-1, 5), SIZES), max_size=4), weird_values))
def test_model_zoo(name, seed, sizes):
    out = attempt(lambda: build(name, seed=seed), "model", "seed")
    if out.error is None:
        assert name in MODEL_NAMES
    attempt(lambda: mlp(sizes, seed=0), "sizes")
    attempt(lambda: minicompress.manual_seed(seed), "seed")
