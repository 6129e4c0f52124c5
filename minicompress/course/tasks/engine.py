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
    aliases_f=(("relu", "TinyTorch / micrograd"),),
)
