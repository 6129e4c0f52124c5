"""Chapter engine: forward and backward passes of the autograd ops, and a graph's topological order.

Every reference runs the engine itself: it wraps the inputs in ``Tensor`` s, applies the
op (``Tensor.relu``, ``F.conv2d``, ...) and calls ``.backward(grad_output)``; the
gradient is read from ``.grad``. A backward task takes the forward's inputs and
``grad_output`` (dL/d output, shaped like the output) and returns dL/d input.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minicompress.engine.functional as F
from minicompress.course.registry import register
from minicompress.course.task import Example, Task, Variant, compare_with
from minicompress.engine import Tensor

CLOSE = compare_with(rtol=1e-6, atol=1e-9)


# ------------------------------------------------------------------ adapters to the engine


def _grads(fn, *arrays, grad_output):
    """Run ``fn`` on Tensors of ``arrays``, backpropagate ``grad_output``, return each input's grad."""
    ts = [Tensor(np.array(a, dtype=np.float64), requires_grad=True) for a in arrays]
    out = fn(*ts)
    out.backward(np.asarray(grad_output, dtype=np.float64))
    return tuple(t.grad if t.grad is not None else np.zeros_like(t.data) for t in ts)


def _forward(fn, *arrays):
    return fn(*[Tensor(np.array(a, dtype=np.float64)) for a in arrays]).data


# ------------------------------------------------------------------ input strategies

_finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
_special = st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0])
_elements = st.one_of(_special, _finite)


def _arrays(shape=None, elements=_elements):
    shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=5) if shape is None else st.just(shape)
    return shapes.flatmap(lambda s: hnp.arrays(np.float64, s, elements=elements))


@st.composite
def _x_and_grad(draw, elements=_elements):
    x = draw(_arrays(elements=elements))
    g = draw(hnp.arrays(np.float64, x.shape, elements=_elements))
    return {"x": x, "grad_output": g}


def _unary(op_name, forward_fn, backward_variants, forward_variants, doc_f, doc_b, examples_f, examples_b,
           aliases_f=(), aliases_b=(), elements=_elements):
    register(Task(
        id=f"engine.{op_name}_forward", chapter="engine", name=f"{op_name}_forward",
        signature=f"{op_name}_forward(x)", doc=doc_f,
        reference=lambda x: _forward(forward_fn, x),
        inputs=_arrays(elements=elements).map(lambda x: {"x": x}),
        examples=examples_f, variants=forward_variants, aliases=aliases_f, compare=CLOSE))
    register(Task(
        id=f"engine.{op_name}_backward", chapter="engine", name=f"{op_name}_backward",
        signature=f"{op_name}_backward(x, grad_output)", doc=doc_b,
        reference=lambda x, grad_output: _grads(forward_fn, x, grad_output=grad_output)[0],
        inputs=_x_and_grad(elements=elements),
        examples=examples_b, variants=backward_variants, aliases=aliases_b, compare=CLOSE))


# ------------------------------------------------------------------ relu

_unary(
    "relu", lambda t: t.relu(),
    doc_f="""ReLU: max(x, 0), element by element.

Parameters
----------
x : float ndarray, any shape

Returns
-------
ndarray shaped like x (a new array; x is not changed).
""",
    doc_b="""The gradient of ReLU: grad_output where x > 0, else 0.

The derivative at x = 0 is taken as 0 (PyTorch's convention).

Parameters
----------
x : float ndarray, any shape
    The forward pass's input.
grad_output : float ndarray, shaped like x
    dL/d relu(x).

Returns
-------
ndarray shaped like x: dL/dx.
""",
    examples_f=(Example({"x": np.array([-2.0, 0.0, 3.0])}, np.array([0.0, 0.0, 3.0])),),
    examples_b=(Example({"x": np.array([-2.0, 0.0, 3.0]), "grad_output": np.array([5.0, 5.0, 5.0])},
                        np.array([0.0, 0.0, 5.0]), "the derivative at 0 is 0"),),
    forward_variants=(
        Variant("abs", lambda x: np.abs(x), "your relu returns |x|: negative inputs must become 0, not flip sign"),
        Variant("leaky", lambda x: np.where(x > 0, x, 0.01 * x),
                "your relu is leaky (0.01·x below zero); this task's relu is exactly 0 there"),
    ),
    backward_variants=(
        Variant("ge_zero", lambda x, grad_output: np.where(x >= 0, grad_output, 0.0),
                "your relu backward passes the gradient at x = 0; this task takes the derivative at 0 as 0"),
        Variant("no_chain", lambda x, grad_output: (x > 0).astype(np.float64),
                "your relu backward returns the local derivative only: multiply it by grad_output (chain rule)"),
        Variant("output_times_grad", lambda x, grad_output: np.maximum(x, 0) * grad_output,
                "your relu backward multiplies grad_output by relu(x); the derivative is 1 where x > 0, not x"),
    ),
    aliases_f=(("relu", "minitorch operators.relu"),),
    aliases_b=(("relu_back", "minitorch operators.relu_back(x, d)"),),
)


# ------------------------------------------------------------------ sigmoid, tanh

_wide = st.one_of(_special, st.sampled_from([1000.0, -1000.0, 40.0, -40.0]), _finite)


def _sigmoid_ratio(x):
    e = np.exp(x)
    return e / (1 + e)


_unary(
    "sigmoid", lambda t: t.sigmoid(),
    doc_f="""The logistic sigmoid 1 / (1 + exp(-x)), element by element, without overflow.

For x = ±1000 the result is exactly 1 or 0 (no NaN, no inf): compute it so that exp()
never gets a large positive argument (split by the sign of x).

Parameters
----------
x : float ndarray, any shape

Returns
-------
ndarray shaped like x, values in [0, 1].
""",
    doc_b="""The gradient of the sigmoid: grad_output · s · (1 - s), with s = sigmoid(x).

Parameters
----------
x : float ndarray, any shape
    The forward pass's INPUT (not its output).
grad_output : float ndarray, shaped like x

Returns
-------
ndarray shaped like x: dL/dx.
""",
    examples_f=(Example({"x": np.array([0.0, 1000.0, -1000.0])}, np.array([0.5, 1.0, 0.0]),
                        "sigmoid(0) = 1/2; no overflow at ±1000"),),
    examples_b=(Example({"x": np.array([0.0]), "grad_output": np.array([2.0])}, np.array([0.5]),
                        "s(0) = 1/2, so 2 · 1/2 · 1/2 = 1/2"),),
    forward_variants=(
        Variant("ratio_overflow", _sigmoid_ratio,
                "your sigmoid computes e^x / (1 + e^x): it overflows to NaN at x = 1000; "
                "use 1 / (1 + e^-x) for x >= 0 and e^x / (1 + e^x) for x < 0"),
        Variant("sign_flipped", lambda x: 1 / (1 + np.exp(x)),
                "your sigmoid computes 1 / (1 + e^x) = sigmoid(-x): the sign of the exponent is wrong"),
    ),
    aliases_f=(("sigmoid", "minitorch operators.sigmoid"),),
    backward_variants=(
        Variant("uses_x", lambda x, grad_output: grad_output * x * (1 - x),
                "your sigmoid backward uses x instead of sigmoid(x): the derivative is s·(1 - s) with s = sigmoid(x)"),
        Variant("no_chain", lambda x, grad_output: (1 / (1 + np.exp(-x))) * (1 - 1 / (1 + np.exp(-x))),
                "your sigmoid backward returns the local derivative only: multiply it by grad_output"),
    ),
    elements=_wide,
)

_unary(
    "tanh", lambda t: t.tanh(),
    doc_f="""The hyperbolic tangent, element by element, without overflow (tanh(±1000) = ±1).

Parameters
----------
x : float ndarray, any shape

Returns
-------
ndarray shaped like x, values in [-1, 1].
""",
    doc_b="""The gradient of tanh: grad_output · (1 - tanh(x)²).

Parameters
----------
x : float ndarray, any shape
    The forward pass's INPUT.
grad_output : float ndarray, shaped like x

Returns
-------
ndarray shaped like x: dL/dx.
""",
    examples_f=(Example({"x": np.array([0.0, 1000.0, -1000.0])}, np.array([0.0, 1.0, -1.0])),),
    examples_b=(Example({"x": np.array([0.0, 1000.0]), "grad_output": np.array([3.0, 3.0])}, np.array([3.0, 0.0]),
                        "tanh'(0) = 1; tanh'(1000) = 0"),),
    forward_variants=(
        Variant("exp_ratio_overflow", lambda x: (np.exp(x) - np.exp(-x)) / (np.exp(x) + np.exp(-x)),
                "your tanh computes (e^x - e^-x) / (e^x + e^-x): inf / inf = NaN at |x| = 1000; use np.tanh "
                "or 1 - 2 / (e^(2x) + 1)"),
    ),
    backward_variants=(
        Variant("uses_x", lambda x, grad_output: grad_output * (1 - x * x),
                "your tanh backward uses x instead of tanh(x): the derivative is 1 - tanh(x)²"),
        Variant("not_squared", lambda x, grad_output: grad_output * (1 - np.tanh(x)),
                "your tanh backward uses 1 - tanh(x); the derivative is 1 - tanh(x)²"),
    ),
    elements=_wide,
)


# ------------------------------------------------------------------ matmul


@st.composite
def _matmul_inputs(draw, with_grad=False):
    m, k, n = (draw(st.integers(1, 4)) for _ in range(3))
    batch = draw(st.sampled_from([(), (2,), (3,), (2, 3)]))
    form = draw(st.sampled_from(["a", "b", "both", "none"]))
    a_shape = (batch if form in ("a", "both") else ()) + (m, k)
    b_shape = (batch if form in ("b", "both") else ()) + (k, n)
    small = st.one_of(st.sampled_from([0.0, 1.0, -1.0, 0.5, 2.0]), st.floats(-10, 10))
    a = draw(hnp.arrays(np.float64, a_shape, elements=small))
    b = draw(hnp.arrays(np.float64, b_shape, elements=small))
    out = {"a": a, "b": b}
    if with_grad:
        out["grad_output"] = draw(hnp.arrays(np.float64, np.broadcast_shapes(a_shape[:-2], b_shape[:-2]) + (m, n),
                                             elements=small))
    return out


def _dot(a, b):
    return np.dot(a, b)


register(Task(
    id="engine.matmul_forward", chapter="engine", name="matmul_forward",
    signature="matmul_forward(a, b)",
    doc="""Matrix product with NumPy/PyTorch broadcasting of the batch dimensions (like a @ b).

Parameters
----------
a : float ndarray (..., m, k)
b : float ndarray (..., k, n)
    Leading (batch) dimensions broadcast: (2, 3, 4) @ (4, 5) -> (2, 3, 5).

Returns
-------
ndarray (broadcast batch..., m, n)
""",
    reference=lambda a, b: _forward(lambda x, y: x @ y, a, b),
    inputs=_matmul_inputs(),
    examples=(Example({"a": np.array([[1.0, 2.0], [3.0, 4.0]]), "b": np.array([[5.0], [6.0]])},
                      np.array([[17.0], [39.0]])),
              Example({"a": np.ones((2, 1, 2)), "b": np.array([[1.0, 2.0], [3.0, 4.0]])},
                      np.array([[[4.0, 6.0]], [[4.0, 6.0]]]), "the 2-D b is shared by both batch items")),
    variants=(
        Variant("np_dot", _dot, "your matmul uses np.dot, which does not broadcast batch dimensions "
                "(np.dot of two 3-D arrays is 4-D); use a @ b (np.matmul)"),
        Variant("elementwise", lambda a, b: a * b, "your matmul multiplies element by element (a * b); "
                "a matrix product sums over the shared dimension k"),
    ),
    aliases=(("matmul", "PyTorch torch.matmul(input, other)"),),
    compare=CLOSE,
))


def _matmul_grads(a, b, grad_output):
    return _grads(lambda x, y: x @ y, a, b, grad_output=grad_output)


def _matmul_back_no_unbroadcast(a, b, grad_output):
    return grad_output @ np.swapaxes(b, -1, -2), np.swapaxes(a, -1, -2) @ grad_output


register(Task(
    id="engine.matmul_backward", chapter="engine", name="matmul_backward",
    signature="matmul_backward(a, b, grad_output)",
    doc="""The gradients of out = a @ b (batch dimensions broadcast) with respect to a and b.

dL/da = grad_output @ bᵀ and dL/db = aᵀ @ grad_output (transposing the last two axes),
each summed over the batch dimensions its input was broadcast along, so that each
gradient has exactly its input's shape (for a (2, 3, 4) and b (4, 5), dL/db is (4, 5)).

Parameters
----------
a : float ndarray (..., m, k)
b : float ndarray (..., k, n)
grad_output : float ndarray (broadcast batch..., m, n)

Returns
-------
(grad_a, grad_b) : tuple of ndarrays shaped like a and b.
""",
    reference=_matmul_grads,
    inputs=_matmul_inputs(with_grad=True),
    examples=(Example({"a": np.array([[1.0, 2.0]]), "b": np.array([[3.0], [4.0]]), "grad_output": np.array([[1.0]])},
                      (np.array([[3.0, 4.0]]), np.array([[1.0], [2.0]]))),
              Example({"a": np.ones((2, 1, 1)), "b": np.array([[2.0]]), "grad_output": np.ones((2, 1, 1))},
                      (np.array([[[2.0]], [[2.0]]]), np.array([[2.0]])),
                      "b is shared by 2 batch items: its gradient is summed over the batch")),
    variants=(
        Variant("no_unbroadcast", _matmul_back_no_unbroadcast,
                "your matmul backward does not sum the gradient over the batch dimensions an input was "
                "broadcast along: each gradient must have its input's shape"),
        Variant("sign_flipped", lambda a, b, grad_output: tuple(-g for g in _matmul_grads(a, b, grad_output)),
                "your matmul backward has the wrong sign"),
    ),
    compare=CLOSE,
))


# ------------------------------------------------------------------ sum backward, unbroadcast


@st.composite
def _sum_inputs(draw):
    x = draw(_arrays(shape=draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))))
    axis = draw(st.one_of(st.none(), st.integers(-x.ndim, x.ndim - 1)))
    keepdims = draw(st.booleans())
    out_shape = np.sum(x, axis=axis, keepdims=keepdims).shape
    g = draw(hnp.arrays(np.float64, out_shape, elements=_elements))
    return {"x": x, "axis": axis, "keepdims": keepdims, "grad_output": g}


register(Task(
    id="engine.sum_backward", chapter="engine", name="sum_backward",
    signature="sum_backward(x, axis, keepdims, grad_output)",
    doc="""The gradient of out = x.sum(axis, keepdims): grad_output copied back over the summed axis.

Every element of x that went into out[j] gets grad_output[j]. When keepdims is False the
summed axis is gone from grad_output: put it back (np.expand_dims) before broadcasting,
or the values land on the wrong axis.

Parameters
----------
x : float ndarray
axis : int or None
    None sums everything (grad_output is then a 0-d array or shape (1, ..., 1)).
keepdims : bool
grad_output : float ndarray shaped like x.sum(axis, keepdims=keepdims)

Returns
-------
ndarray shaped like x.
""",
    reference=lambda x, axis, keepdims, grad_output: _grads(lambda t: t.sum(axis=axis, keepdims=keepdims), x,
                                                             grad_output=grad_output)[0],
    inputs=_sum_inputs(),
    examples=(Example({"x": np.zeros((2, 3)), "axis": 1, "keepdims": False, "grad_output": np.array([1.0, 2.0])},
                      np.array([[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]]), "row i of x gets grad_output[i]"),),
    variants=(
        Variant("not_broadcast", lambda x, axis, keepdims, grad_output: np.array(grad_output),
                "your sum backward does not broadcast back over the reduced axis: the gradient must have x's shape"),
        Variant("mean_gradient", lambda x, axis, keepdims, grad_output: _grads(
            lambda t: t.mean(axis=axis, keepdims=keepdims), x, grad_output=grad_output)[0],
                "your sum backward divides by the number of summed elements: that is mean's gradient, not sum's"),
    ),
    compare=CLOSE,
))


def _unbroadcast_reference(grad, shape):
    # the engine sums a gradient down to an input's shape after every op: run it through Add
    return _grads(lambda t: t + Tensor(np.zeros(np.shape(grad))), np.zeros(tuple(shape)), grad_output=grad)[0]


@st.composite
def _unbroadcast_inputs(draw):
    out_shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    keep = draw(st.integers(0, len(out_shape)))
    shape = tuple(1 if draw(st.booleans()) else n for n in out_shape[len(out_shape) - keep:])
    return {"grad": draw(hnp.arrays(np.float64, out_shape, elements=_elements)), "shape": shape}


def _unbroadcast_leading_only(grad, shape):
    extra = grad.ndim - len(shape)
    return grad.sum(axis=tuple(range(extra))) if extra > 0 else grad


register(Task(
    id="engine.unbroadcast", chapter="engine", name="unbroadcast",
    signature="unbroadcast(grad, shape)",
    doc="""Sum a gradient down to the shape of an input that NumPy broadcast (the backward of broadcasting).

Sum over the leading axes that broadcasting added, then over every axis where ``shape``
has size 1 but ``grad`` does not (keeping it as size 1).

Parameters
----------
grad : float ndarray
    The gradient with the broadcast (output) shape.
shape : tuple of int
    The input's shape; it broadcasts to grad.shape.

Returns
-------
ndarray of shape ``shape``.
""",
    reference=_unbroadcast_reference,
    inputs=_unbroadcast_inputs(),
    examples=(Example({"grad": np.array([[1.0, 2.0], [3.0, 4.0]]), "shape": (2, 1)}, np.array([[3.0], [7.0]])),
              Example({"grad": np.array([[1.0, 2.0], [3.0, 4.0]]), "shape": (2,)}, np.array([4.0, 6.0]),
                      "a (2,) input was broadcast along the new leading axis")),
    variants=(
        Variant("leading_only", _unbroadcast_leading_only,
                "your unbroadcast sums only the added leading axes; it must also sum the axes where the "
                "input had size 1 (keeping them as size 1)"),
    ),
    compare=CLOSE,
))


# ------------------------------------------------------------------ log_softmax, cross-entropy gradient


@st.composite
def _logits(draw, min_rows=1):
    n = draw(st.integers(min_rows, 4))
    c = draw(st.integers(1, 5))
    big = st.one_of(st.sampled_from([0.0, 1.0, -1.0, 1000.0, -1000.0]), st.floats(-50, 50))
    return draw(hnp.arrays(np.float64, (n, c), elements=big))


def _naive_log_softmax(x, axis=-1):
    e = np.exp(x)
    return np.log(e / e.sum(axis=axis, keepdims=True))


register(Task(
    id="engine.log_softmax", chapter="engine", name="log_softmax",
    signature="log_softmax(x, axis=-1)",
    doc="""log(softmax(x)) along ``axis``, computed stably: x - max - log(Σ exp(x - max)).

Subtract the maximum along ``axis`` before exp(), so logits of 1000 give finite results.

Parameters
----------
x : float ndarray (N, C)
axis : int
    The class axis (default -1).

Returns
-------
ndarray shaped like x; exp() of each row sums to 1.
""",
    reference=lambda x, axis=-1: F.log_softmax(Tensor(np.array(x, dtype=np.float64)), axis=axis).data,
    inputs=st.builds(lambda x, axis: {"x": x, "axis": axis}, _logits(), st.sampled_from([-1, -1, 0])),
    examples=(Example({"x": np.array([[1000.0, 1000.0]]), "axis": -1}, np.array([[-np.log(2), -np.log(2)]]),
                      "two equal logits: log(1/2) each, even at 1000"),),
    variants=(
        Variant("not_stabilised", _naive_log_softmax,
                "your log_softmax is not stabilised: overflow at x=1000 (exp(1000) = inf); subtract the "
                "row maximum first"),
        Variant("softmax", lambda x, axis=-1: np.exp(_stable(x, axis)),
                "your log_softmax returns softmax (probabilities), not their log"),
        Variant("wrong_axis", lambda x, axis=-1: _stable(x, 0 if axis in (-1, x.ndim - 1) else -1),
                "your log_softmax normalises along the wrong axis: use the axis argument (the classes)"),
    ),
    aliases=(("logsoftmax", "minitorch nn.logsoftmax(input, dim)"),),
    compare=CLOSE,
))


def _stable(x, axis):
    m = np.max(x, axis=axis, keepdims=True)
    return x - m - np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))


@st.composite
def _ce_inputs(draw):
    logits = draw(_logits())
    labels = draw(hnp.arrays(np.int64, (logits.shape[0],), elements=st.integers(0, logits.shape[1] - 1)))
    return {"logits": logits, "labels": labels}


def _ce_grad(logits, labels):
    import minicompress.nn.losses as L

    t = Tensor(np.array(logits, dtype=np.float64), requires_grad=True)
    L.cross_entropy(t, np.asarray(labels)).backward()
    return t.grad


def _ce_grad_sum(logits, labels):
    return _ce_grad(logits, labels) * logits.shape[0]


register(Task(
    id="engine.softmax_cross_entropy_backward", chapter="engine", name="softmax_cross_entropy_backward",
    signature="softmax_cross_entropy_backward(logits, labels)",
    doc="""The gradient of the mean softmax cross-entropy with respect to the logits.

L = -(1/N) Σ_i log softmax(logits_i)[labels_i]  (PyTorch's ``cross_entropy``,
reduction='mean'), so dL/dlogits = (softmax(logits) - onehot(labels)) / N. Compute the
softmax stably (logits of 1000 occur).

Parameters
----------
logits : float ndarray (N, C)
labels : int ndarray (N,), values in [0, C)

Returns
-------
ndarray (N, C).
""",
    reference=_ce_grad,
    inputs=_ce_inputs(),
    examples=(Example({"logits": np.array([[0.0, 0.0], [0.0, 0.0]]), "labels": np.array([0, 1])},
                      np.array([[-0.25, 0.25], [0.25, -0.25]]), "(1/2 - onehot) / N with N = 2"),),
    variants=(
        Variant("no_mean", _ce_grad_sum,
                "your cross-entropy gradient is not divided by N: the loss is the mean over the batch "
                "(reduction='mean')"),
        Variant("sign_flipped", lambda logits, labels: -_ce_grad(logits, labels),
                "your cross-entropy gradient has the wrong sign: it is softmax - onehot, not onehot - softmax"),
    ),
    compare=CLOSE,
))


# ------------------------------------------------------------------ conv2d


@st.composite
def _conv_inputs(draw, with_grad=False):
    n, c, f = draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride, padding = draw(st.integers(1, 2)), draw(st.integers(0, 1))
    h = draw(st.integers(max(1, kh - 2 * padding), 5))
    w = draw(st.integers(max(1, kw - 2 * padding), 5))
    small = st.one_of(st.sampled_from([0.0, 1.0, -1.0, 2.0]), st.floats(-5, 5))
    out = {"x": draw(hnp.arrays(np.float64, (n, c, h, w), elements=small)),
           "weight": draw(hnp.arrays(np.float64, (f, c, kh, kw), elements=small))}
    if not with_grad:
        out["bias"] = draw(st.one_of(st.none(), hnp.arrays(np.float64, (f,), elements=small)))
    out["stride"], out["padding"] = stride, padding
    if with_grad:
        ho, wo = (h + 2 * padding - kh) // stride + 1, (w + 2 * padding - kw) // stride + 1
        out["grad_output"] = draw(hnp.arrays(np.float64, (n, f, ho, wo), elements=small))
    return out


def _conv_forward(x, weight, bias=None, stride=1, padding=0):
    b = None if bias is None else Tensor(np.array(bias, dtype=np.float64))
    return F.conv2d(Tensor(np.array(x, dtype=np.float64)), Tensor(np.array(weight, dtype=np.float64)), b,
                    stride=stride, padding=padding).data


def _conv_flipped(x, weight, bias=None, stride=1, padding=0):
    return _conv_forward(x, weight[:, :, ::-1, ::-1].copy(), bias, stride, padding)


def _conv_no_bias(x, weight, bias=None, stride=1, padding=0):
    return _conv_forward(x, weight, None, stride, padding)


register(Task(
    id="engine.conv2d_forward", chapter="engine", name="conv2d_forward",
    signature="conv2d_forward(x, weight, bias=None, stride=1, padding=0)",
    doc="""2-D convolution as PyTorch computes it: a cross-correlation (the kernel is NOT flipped).

out[n, f, i, j] = bias[f] + Σ_c Σ_u Σ_v xp[n, c, i·stride + u, j·stride + v] · weight[f, c, u, v],
where xp is x zero-padded by ``padding`` on each side of H and W.
Ho = (H + 2·padding - kh) // stride + 1 (likewise Wo).

Parameters
----------
x : float ndarray (N, C, H, W)
weight : float ndarray (F, C, kh, kw)
bias : float ndarray (F,) or None
stride, padding : int

Returns
-------
ndarray (N, F, Ho, Wo).
""",
    reference=_conv_forward,
    inputs=_conv_inputs(),
    examples=(Example({"x": np.arange(9.0).reshape(1, 1, 3, 3), "weight": np.array([[[[1.0, 0.0], [0.0, -1.0]]]]),
                       "bias": np.array([10.0]), "stride": 1, "padding": 0},
                      np.array([[[[6.0, 6.0], [6.0, 6.0]]]]), "x[i, j] - x[i+1, j+1] = -4, plus the bias 10"),
              Example({"x": np.ones((1, 1, 1, 1)), "weight": np.ones((1, 1, 3, 3)), "bias": None,
                       "stride": 1, "padding": 1}, np.ones((1, 1, 1, 1)),
                      "padding 1: only the centre tap sees the input")),
    variants=(
        Variant("flipped_kernel", _conv_flipped,
                "your conv2d flips the kernel (a true convolution); PyTorch's conv2d is a cross-correlation"),
        Variant("bias_ignored", _conv_no_bias, "your conv2d does not add the bias"),
    ),
    aliases=(("conv2d", "PyTorch torch.nn.functional.conv2d(input, weight, bias, stride, padding)"),),
    compare=CLOSE,
))


def _conv_grads(x, weight, grad_output, stride=1, padding=0):
    f = weight.shape[0]
    return _grads(lambda t, w, b: F.conv2d(t, w, b, stride=stride, padding=padding), x, weight, np.zeros(f),
                  grad_output=grad_output)


def _conv_grads_bias_mean(x, weight, grad_output, stride=1, padding=0):
    gx, gw, gb = _conv_grads(x, weight, grad_output, stride, padding)
    return gx, gw, gb / (grad_output.shape[0] * grad_output.shape[2] * grad_output.shape[3])


def _conv_grads_flipped(x, weight, grad_output, stride=1, padding=0):
    gx, gw, gb = _conv_grads(x, weight[:, :, ::-1, ::-1].copy(), grad_output, stride, padding)
    return gx, gw[:, :, ::-1, ::-1].copy(), gb


register(Task(
    id="engine.conv2d_backward", chapter="engine", name="conv2d_backward",
    signature="conv2d_backward(x, weight, grad_output, stride=1, padding=0)",
    doc="""The gradients of conv2d_forward (cross-correlation) with respect to x, weight and bias.

dL/dx[n, c, p, q] = Σ over every (f, i, j, u, v) with i·stride + u - padding = p and
j·stride + v - padding = q of grad_output[n, f, i, j] · weight[f, c, u, v] (contributions of
overlapping windows add up; the padding's gradient is dropped);
dL/dweight[f, c, u, v] = Σ_n Σ_i Σ_j grad_output[n, f, i, j] · xp[n, c, i·stride + u, j·stride + v];
dL/dbias[f] = Σ_n Σ_i Σ_j grad_output[n, f, i, j] (a sum, not a mean).

Parameters
----------
x : float ndarray (N, C, H, W)
weight : float ndarray (F, C, kh, kw)
grad_output : float ndarray (N, F, Ho, Wo)
stride, padding : int

Returns
-------
(grad_x, grad_weight, grad_bias) : ndarrays (N, C, H, W), (F, C, kh, kw), (F,).
""",
    reference=_conv_grads,
    inputs=_conv_inputs(with_grad=True),
    examples=(Example({"x": np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), "weight": np.array([[[[2.0]]]]),
                       "grad_output": np.ones((1, 1, 2, 2)), "stride": 1, "padding": 0},
                      (np.full((1, 1, 2, 2), 2.0), np.array([[[[10.0]]]]), np.array([4.0])),
                      "a 1x1 kernel: dL/dw = Σ x = 10, dL/db = Σ grad_output = 4"),),
    variants=(
        Variant("bias_mean", _conv_grads_bias_mean,
                "your bias gradient is averaged; dL/dbias[f] is the SUM of grad_output over N, Ho and Wo"),
        Variant("flipped_kernel", _conv_grads_flipped,
                "your conv2d backward treats the forward as a true convolution (flipped kernel); "
                "PyTorch's conv2d is a cross-correlation"),
    ),
    compare=CLOSE,
))


# ------------------------------------------------------------------ max_pool2d


@st.composite
def _pool_inputs(draw, with_grad=False):
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    k = draw(st.integers(1, 3))
    stride = draw(st.one_of(st.none(), st.integers(1, 3)))
    h, w = draw(st.integers(k, 6)), draw(st.integers(k, 6))
    ties = st.sampled_from([0.0, 1.0, 2.0, -1.0])
    x = draw(hnp.arrays(np.float64, (n, c, h, w), elements=st.one_of(ties, st.floats(-5, 5))))
    out = {"x": x, "kernel_size": k, "stride": stride}
    if with_grad:
        s = stride or k
        shape = (n, c, (h - k) // s + 1, (w - k) // s + 1)
        out["grad_output"] = draw(hnp.arrays(np.float64, shape, elements=st.one_of(ties, st.floats(-5, 5))))
    return out


def _pool_forward(x, kernel_size, stride=None):
    return F.max_pool2d(Tensor(np.array(x, dtype=np.float64)), kernel_size, stride).data


def _windows(x, k, s):
    ho, wo = (x.shape[2] - k) // s + 1, (x.shape[3] - k) // s + 1
    return ho, wo, [(i, j) for i in range(ho) for j in range(wo)]


def _avg_pool(x, kernel_size, stride=None):
    s = stride or kernel_size
    ho, wo, cells = _windows(x, kernel_size, s)
    out = np.zeros(x.shape[:2] + (ho, wo))
    for i, j in cells:
        out[:, :, i, j] = x[:, :, i * s:i * s + kernel_size, j * s:j * s + kernel_size].mean(axis=(2, 3))
    return out


register(Task(
    id="engine.max_pool2d_forward", chapter="engine", name="max_pool2d_forward",
    signature="max_pool2d_forward(x, kernel_size, stride=None)",
    doc="""Max pooling over kernel_size × kernel_size windows (PyTorch's floor mode, no padding).

stride=None means stride = kernel_size. Ho = (H - kernel_size) // stride + 1 (likewise Wo);
rows and columns that do not fill a window are dropped.

Parameters
----------
x : float ndarray (N, C, H, W)
kernel_size : int
stride : int or None

Returns
-------
ndarray (N, C, Ho, Wo).
""",
    reference=_pool_forward,
    inputs=_pool_inputs(),
    examples=(Example({"x": np.array([[[[1.0, 5.0, 2.0], [3.0, 4.0, 9.0], [0.0, 0.0, 0.0]]]]), "kernel_size": 2,
                       "stride": None}, np.array([[[[5.0]]]]), "the third row and column do not fill a window"),),
    variants=(
        Variant("average", _avg_pool, "your pooling averages the window; max pooling takes its maximum"),
    ),
    aliases=(("max_pool2d", "PyTorch torch.nn.functional.max_pool2d(input, kernel_size, stride)"),),
    compare=CLOSE,
))


def _pool_grads(x, kernel_size, stride, grad_output):
    return _grads(lambda t: F.max_pool2d(t, kernel_size, stride), x, grad_output=grad_output)[0]


def _pool_back_all_ties(x, kernel_size, stride, grad_output):
    s = stride or kernel_size
    _, _, cells = _windows(x, kernel_size, s)
    out = np.zeros_like(x, dtype=np.float64)
    for i, j in cells:
        win = x[:, :, i * s:i * s + kernel_size, j * s:j * s + kernel_size]
        hit = win == win.max(axis=(2, 3), keepdims=True)
        out[:, :, i * s:i * s + kernel_size, j * s:j * s + kernel_size] += hit * grad_output[:, :, i:i + 1, j:j + 1]
    return out


def _pool_back_overwrite(x, kernel_size, stride, grad_output):
    s = stride or kernel_size
    _, _, cells = _windows(x, kernel_size, s)
    out = np.zeros_like(x, dtype=np.float64)
    for i, j in cells:
        win = x[:, :, i * s:i * s + kernel_size, j * s:j * s + kernel_size]
        flat = win.reshape(win.shape[0], win.shape[1], -1)
        arg = flat.argmax(axis=2)
        for n in range(x.shape[0]):
            for c in range(x.shape[1]):
                u, v = divmod(int(arg[n, c]), kernel_size)
                out[n, c, i * s + u, j * s + v] = grad_output[n, c, i, j]
    return out


register(Task(
    id="engine.max_pool2d_backward", chapter="engine", name="max_pool2d_backward",
    signature="max_pool2d_backward(x, kernel_size, stride, grad_output)",
    doc="""The gradient of max_pool2d_forward: each window's grad_output goes to its maximum.

On a tie the FIRST maximum of the window in row-major order (top row first, then left to
right) gets all of it, as in PyTorch. Where windows overlap (stride < kernel_size) an
element can be the maximum of several windows: the contributions ADD up.

Parameters
----------
x : float ndarray (N, C, H, W)
kernel_size : int
stride : int or None (None: stride = kernel_size)
grad_output : float ndarray (N, C, Ho, Wo)

Returns
-------
ndarray (N, C, H, W).
""",
    reference=_pool_grads,
    inputs=_pool_inputs(with_grad=True),
    examples=(Example({"x": np.array([[[[1.0, 1.0], [0.0, 1.0]]]]), "kernel_size": 2, "stride": None,
                       "grad_output": np.array([[[[6.0]]]])}, np.array([[[[6.0, 0.0], [0.0, 0.0]]]]),
                      "a three-way tie: the first maximum (top left) gets everything"),
              Example({"x": np.array([[[[0.0, 3.0, 0.0]]]]).reshape(1, 1, 1, 3), "kernel_size": 1, "stride": 1,
                       "grad_output": np.array([[[[1.0, 2.0, 3.0]]]])}, np.array([[[[1.0, 2.0, 3.0]]]]),
                      "a 1x1 window passes the gradient through")),
    variants=(
        Variant("all_ties", _pool_back_all_ties,
                "on a tie your max_pool2d backward sends the gradient to every maximum; this task (and "
                "PyTorch) sends it to the first one only"),
        Variant("overwrite", _pool_back_overwrite,
                "your max_pool2d backward overwrites instead of adding where windows overlap "
                "(stride < kernel_size): an element that is the maximum of two windows gets both gradients"),
    ),
    compare=CLOSE,
))


# ------------------------------------------------------------------ topological order


class _Node:
    """A graph node for the engine: an op with any number of inputs (its value is irrelevant)."""

    @staticmethod
    def make(inputs):
        from minicompress.engine.tensor import Function

        class Op(Function):
            @staticmethod
            def forward(ctx, *arrays):
                return np.zeros(())

            @staticmethod
            def backward(ctx, grad):
                return tuple(np.zeros(()) for _ in range(len(inputs)))

        return Op.apply(*inputs)


def _topo_reference(graph, root):
    tensors = {}

    def build(node):
        if node not in tensors:
            ins = [build(p) for p in graph.get(node, [])]
            tensors[node] = _Node.make(ins) if ins else Tensor(np.zeros(()), requires_grad=True)
        return tensors[node]

    build(root)
    ids = {id(t): n for n, t in tensors.items()}
    return [ids[id(t)] for t in tensors[root]._topological_order()]


@st.composite
def _graphs(draw):
    n = draw(st.integers(1, 7))
    graph = {}
    for i in range(1, n):
        graph[i] = draw(st.lists(st.integers(0, i - 1), min_size=1, max_size=3, unique=True))
    graph[0] = []
    return {"graph": graph, "root": n - 1}


def _reachable(graph, root):
    seen, todo = set(), [root]
    while todo:
        v = todo.pop()
        if v not in seen:
            seen.add(v)
            todo.extend(graph.get(v, []))
    return seen


def _check_topological(fn, kwargs):
    graph, root = kwargs["graph"], kwargs["root"]
    got = fn(graph, root)
    want = _reachable(graph, root)
    try:
        got = [int(v) for v in got]
    except (TypeError, ValueError):
        raise AssertionError(f"expected a list of nodes, got {got!r}; inputs: graph={graph}, root={root}") from None
    where = f"; inputs: graph={graph}, root={root}; got: {got}"
    if len(got) != len(set(got)):
        raise AssertionError("a node appears more than once" + where)
    if set(got) != want:
        raise AssertionError(f"the nodes reachable from the root are {sorted(want)}, got {sorted(set(got))}" + where)
    if got[0] != root:
        raise AssertionError(f"the root {root} must come first (the order backward() visits nodes)" + where)
    pos = {v: i for i, v in enumerate(got)}
    for v in got:
        for p in graph.get(v, []):
            if pos[p] < pos[v]:
                raise AssertionError(f"node {p} comes before node {v}, which uses it" + where)


def _topo_leaves_first(graph, root):
    return _topo_reference(graph, root)[::-1]


def _topo_bfs(graph, root):
    order, todo = [], [root]
    while todo:  # breadth-first without waiting for every consumer: a shared input can come too early
        v = todo.pop(0)
        if v not in order:
            order.append(v)
            todo.extend(graph.get(v, []))
    return order


def _topo_no_visited(graph, root):
    out = []

    def visit(v):
        for p in graph.get(v, []):
            visit(p)
        out.append(v)

    visit(root)
    return out[::-1]


register(Task(
    id="engine.topological_order", chapter="engine", name="topological_order",
    signature="topological_order(graph, root)",
    doc="""The order in which backward() visits a computation graph: every node before its inputs.

Return the nodes reachable from ``root``, each exactly once, the root first, and every node
before all of the nodes it takes as inputs (so that when backward reaches a node, every
gradient flowing into it has arrived). Any such order is accepted; one way: a depth-first
search that appends a node after all of its inputs (post-order), reversed.

Parameters
----------
graph : dict[int, list[int]]
    node -> the nodes it takes as inputs (a leaf maps to [] or is absent).
root : int
    The output node (the loss).

Returns
-------
list[int]
""",
    reference=_topo_reference,
    inputs=_graphs(),
    examples=(Example({"graph": {2: [1], 1: [0], 0: []}, "root": 2}, [2, 1, 0], "a chain: one valid order"),
              Example({"graph": {3: [1, 2], 2: [1], 1: [0], 0: []}, "root": 3}, [3, 2, 1, 0],
                      "1 feeds both 2 and 3, so it comes after both: the only valid order")),
    variants=(
        Variant("leaves_first", _topo_leaves_first,
                "your order starts at the leaves (the forward order, as needle's find_topo_sort returns it); "
                "backward needs the reverse: the root first"),
        Variant("bfs", _topo_bfs,
                "your order is breadth-first: a node used by two others can come before the second of them"),
        Variant("no_visited", _topo_no_visited,
                "your search has no visited set: a node reached along two paths appears twice"),
    ),
    check=_check_topological,
))
