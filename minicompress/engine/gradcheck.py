"""Central-difference gradient checking.

``gradcheck(f, inputs)`` compares the gradient that ``backward()`` computes
with ``(f(x + eps) - f(x - eps)) / (2 eps)`` for every element of every input.
Use float64 inputs: float32 round-off swamps the difference quotient.
"""

from __future__ import annotations

import numpy as np

from minicompress.engine.tensor import Tensor
from minicompress.errors import InputTypeError


def numerical_grad(f, inputs: list[Tensor], eps: float = 1e-6) -> list[np.ndarray]:
    """Central differences of ``sum(f(*inputs) * w)`` for a fixed random ``w``."""
    out = f(*inputs)
    weights = np.random.default_rng(0).standard_normal(out.shape)
    grads = []
    for t in inputs:
        g = np.zeros_like(t.data, dtype=np.float64)
        flat = t.data.reshape(-1)
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + eps
            plus = float((f(*inputs).data * weights).sum())
            flat[i] = old - eps
            minus = float((f(*inputs).data * weights).sum())
            flat[i] = old
            g.reshape(-1)[i] = (plus - minus) / (2 * eps)
        grads.append(g)
    return grads


def gradcheck(f, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-4) -> bool:
    """Raise ``AssertionError`` naming the input and element where backward is wrong.

    Parameters
    ----------
    f : callable
        Takes the input tensors, returns a tensor of any shape.
    inputs : list of Tensor
        float64 tensors; each gets ``requires_grad=True``.
    """
    inputs = [t if isinstance(t, Tensor) else Tensor(np.asarray(t, dtype=np.float64)) for t in inputs]
    for t in inputs:
        if t.dtype != np.float64:
            raise InputTypeError(f"gradcheck needs float64 inputs, got {t.dtype}")
        t.requires_grad = True
        t.grad = None
    out = f(*inputs)
    weights = np.random.default_rng(0).standard_normal(out.shape)
    out.backward(weights.astype(out.dtype))
    expected = numerical_grad(f, inputs, eps)
    for k, (t, num) in enumerate(zip(inputs, expected)):
        got = np.zeros_like(num) if t.grad is None else t.grad
        if got.shape != num.shape:
            raise AssertionError(f"input {k}: gradient shape {got.shape} != {num.shape}")
        if not np.allclose(got, num, atol=atol, rtol=rtol):
            i = np.unravel_index(np.argmax(np.abs(got - num)), num.shape)
            raise AssertionError(
                f"input {k}: backward gives {got[i]:.8g} at {i}, central difference {num[i]:.8g}"
            )
    return True
