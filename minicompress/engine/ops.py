"""The differentiable ops: one ``Function`` subclass each, forward and backward on arrays.

Broadcasting is handled once, in ``Tensor.backward`` (``_unbroadcast``), so the
elementwise ops below return gradients with the broadcast output's shape.
"""

from __future__ import annotations

import numpy as np

from minicompress.engine.tensor import Context, Function, _unbroadcast
from minicompress.errors import InputError, InputTypeError


class _UserArguments:
    """Turn NumPy's complaint about a user's shapes or axes into an ``InputError`` naming the op.

    Wraps only the one NumPy call that sees the user's arguments, so a real bug elsewhere
    still shows as itself.
    """

    def __init__(self, what: str):
        self.what = what

    def __enter__(self):
        return self

    def __exit__(self, kind, err, tb):
        if kind is None or issubclass(kind, InputError) or not issubclass(kind, (ValueError, TypeError,
                                                                                 OverflowError)):
            return False
        error = InputTypeError if issubclass(kind, TypeError) and not issubclass(kind, ValueError) else InputError
        raise error(f"{self.what}: {err}") from None


def _binary(name, fn, a, b):
    try:
        return fn(a, b)
    except ValueError:
        raise InputError(f"{name}: shapes {a.shape} and {b.shape} do not broadcast together") from None

# ----------------------------------------------------------------- arithmetic


class Add(Function):
    @staticmethod
    def forward(ctx: Context, a, b):
        return _binary("add", np.add, a, b)

    @staticmethod
    def backward(ctx, grad):
        return grad, grad


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        return _binary("subtract", np.subtract, a, b)

    @staticmethod
    def backward(ctx, grad):
        return grad, -grad


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return _binary("multiply", np.multiply, a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        ga = grad * b if ctx.needs_input_grad[0] else None
        gb = grad * a if ctx.needs_input_grad[1] else None
        return ga, gb


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return _binary("divide", np.divide, a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        ga = grad / b if ctx.needs_input_grad[0] else None
        gb = -grad * a / (b * b) if ctx.needs_input_grad[1] else None
        return ga, gb


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, grad):
        return (-grad,)


class Pow(Function):
    """``a ** p`` for a constant exponent ``p``."""

    @staticmethod
    def forward(ctx, a, p):
        ctx.save_for_backward(a)
        ctx.p = p
        return (a**p).astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return (grad * ctx.p * a ** (ctx.p - 1),)


class MatMul(Function):
    """``a @ b`` with NumPy's rules: 1-D operands, and batch dimensions that broadcast."""

    @staticmethod
    def forward(ctx, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise InputError("matmul needs arrays with at least one dimension")
        if a.shape[-1] != b.shape[0 if b.ndim == 1 else -2]:
            raise InputError(f"matmul shapes do not fit: {a.shape} @ {b.shape}")
        try:
            np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        except ValueError:
            raise InputError(f"matmul batch dimensions do not broadcast: {a.shape} @ {b.shape}") from None
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        # Work on matrices: a 1-D a is a row (1, k), a 1-D b a column (k, 1), and the gradient
        # gets those axes back. Each operand's gradient is then summed over the batch axes it
        # was broadcast along, e.g. b (1, 4, 5) in (2, 3, 4) @ (1, 4, 5).
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = np.expand_dims(grad, -1) if b.ndim == 1 else grad  # the column axis first: (k,) @ (k,) is 0-d
        if a.ndim == 1:
            g2 = np.expand_dims(g2, -2)
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = _unbroadcast(g2 @ np.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape)
        if ctx.needs_input_grad[1]:
            gb = _unbroadcast(np.swapaxes(a2, -1, -2) @ g2, b2.shape).reshape(b.shape)
        return ga, gb


# ------------------------------------------------------------- elementwise


class Exp(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.exp(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return (grad * out,)


class Log(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.log(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return (grad / a,)


class ReLU(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.maximum(a, 0)
        ctx.save_for_backward(out > 0)
        return out

    @staticmethod
    def backward(ctx, grad):
        (positive,) = ctx.saved_tensors
        return (grad * positive,)


class Sigmoid(Function):
    @staticmethod
    def forward(ctx, a):
        # Split by sign so neither branch overflows exp().
        out = np.empty_like(a)
        pos = a >= 0
        out[pos] = 1.0 / (1.0 + np.exp(-a[pos]))
        e = np.exp(a[~pos])
        out[~pos] = e / (1.0 + e)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return (grad * out * (1 - out),)


class Tanh(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.tanh(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return (grad * (1 - out * out),)


class Abs(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(np.sign(a))
        return np.abs(a)

    @staticmethod
    def backward(ctx, grad):
        (sign,) = ctx.saved_tensors
        return (grad * sign,)


class Clip(Function):
    """Clamp to [low, high]; the gradient passes only where the input was inside."""

    @staticmethod
    def forward(ctx, a, low=None, high=None):
        inside = np.ones(a.shape, dtype=bool)
        if low is not None:
            inside &= a >= low
        if high is not None:
            inside &= a <= high
        ctx.save_for_backward(inside)
        return np.clip(a, low, high)

    @staticmethod
    def backward(ctx, grad):
        (inside,) = ctx.saved_tensors
        return (grad * inside,)


class Where(Function):
    """``where(cond, a, b)`` with a constant boolean ``cond``."""

    @staticmethod
    def forward(ctx, a, b, cond):
        ctx.save_for_backward(cond)
        with _UserArguments(f"where: cond {cond.shape}, a {a.shape}, b {b.shape}"):
            return np.where(cond, a, b)

    @staticmethod
    def backward(ctx, grad):
        (cond,) = ctx.saved_tensors
        return grad * cond, grad * ~cond


# --------------------------------------------------------------- reductions


def _expand(grad, shape, axis, keepdims):
    if axis is not None and not keepdims:
        grad = np.expand_dims(grad, axis)
    return np.broadcast_to(grad, shape)


class Sum(Function):
    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        ctx.shape, ctx.axis, ctx.keepdims = a.shape, axis, keepdims
        with _UserArguments(f"sum(axis={axis!r}) of shape {a.shape}"):
            return np.asarray(a.sum(axis=axis, keepdims=keepdims))

    @staticmethod
    def backward(ctx, grad):
        return (_expand(grad, ctx.shape, ctx.axis, ctx.keepdims),)


class Mean(Function):
    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        ctx.shape, ctx.axis, ctx.keepdims = a.shape, axis, keepdims
        with _UserArguments(f"mean(axis={axis!r}) of shape {a.shape}"):
            out = np.asarray(a.mean(axis=axis, keepdims=keepdims))
        ctx.count = a.size // max(out.size, 1) if a.size else 1
        return out

    @staticmethod
    def backward(ctx, grad):
        return (_expand(grad, ctx.shape, ctx.axis, ctx.keepdims) / ctx.count,)


class Max(Function):
    """Maximum over axes; ties share the gradient equally (so it stays a true subgradient)."""

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        with _UserArguments(f"max(axis={axis!r}) of shape {a.shape}"):
            out = np.asarray(a.max(axis=axis, keepdims=True))
        hit = a == out
        ctx.save_for_backward(hit / hit.sum(axis=axis, keepdims=True))
        ctx.shape, ctx.axis, ctx.keepdims = a.shape, axis, keepdims
        return out if keepdims else np.asarray(out.squeeze(axis=axis) if axis is not None else out.reshape(()))

    @staticmethod
    def backward(ctx, grad):
        (share,) = ctx.saved_tensors
        return (_expand(grad, ctx.shape, ctx.axis, ctx.keepdims) * share,)


# ------------------------------------------------------------------- shapes


class Reshape(Function):
    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        with _UserArguments(f"reshape of shape {a.shape} to {shape}"):
            return a.reshape(shape)

    @staticmethod
    def backward(ctx, grad):
        return (grad.reshape(ctx.shape),)


class Transpose(Function):
    @staticmethod
    def forward(ctx, a, axes=None):
        ctx.axes = axes
        with _UserArguments(f"transpose of shape {a.shape} with axes {axes}"):
            return np.transpose(a, axes)

    @staticmethod
    def backward(ctx, grad):
        inverse = None if ctx.axes is None else np.argsort(ctx.axes)
        return (np.transpose(grad, inverse),)


class Index(Function):
    """``a[index]`` for any NumPy index; repeated indices accumulate their gradients."""

    @staticmethod
    def forward(ctx, a, index):
        ctx.shape, ctx.dtype, ctx.index = a.shape, a.dtype, index
        return np.asarray(a[index])

    @staticmethod
    def backward(ctx, grad):
        full = np.zeros(ctx.shape, dtype=ctx.dtype)
        np.add.at(full, ctx.index, grad)
        return (full,)


class Concatenate(Function):
    @staticmethod
    def forward(ctx, *arrays_and_axis):
        *arrays, axis = arrays_and_axis
        ctx.axis = axis
        with _UserArguments(f"concatenate(axis={axis!r}) of shapes {[x.shape for x in arrays]}"):
            out = np.concatenate(arrays, axis=axis)
            ctx.splits = np.cumsum([x.shape[axis] for x in arrays])[:-1]
        return out

    @staticmethod
    def backward(ctx, grad):
        return tuple(np.split(grad, ctx.splits, axis=ctx.axis))


class LogSoftmax(Function):
    """``x - logsumexp(x)``, shifted by the max so exp() never overflows."""

    @staticmethod
    def forward(ctx, a, axis=-1):
        with _UserArguments(f"log_softmax(axis={axis!r}) of shape {a.shape}"):
            shifted = a - a.max(axis=axis, keepdims=True)
        out = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return (grad - np.exp(out) * grad.sum(axis=ctx.axis, keepdims=True),)


class Softmax(Function):
    @staticmethod
    def forward(ctx, a, axis=-1):
        with _UserArguments(f"softmax(axis={axis!r}) of shape {a.shape}"):
            e = np.exp(a - a.max(axis=axis, keepdims=True))
        out = e / e.sum(axis=axis, keepdims=True)
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return (out * (grad - (grad * out).sum(axis=ctx.axis, keepdims=True)),)


class Linear(Function):
    """``x @ w.T + b`` in one op: the hot path of every MLP, so one node instead of three."""

    @staticmethod
    def forward(ctx, x, w, b=None):
        if x.ndim == 0 or w.ndim != 2 or (b is not None and b.shape != (w.shape[0],)):
            raise InputError(
                f"linear expects input (..., in), weight (out, in) and bias (out,), got input {x.shape}, "
                f"weight {w.shape}" + ("" if b is None else f", bias {b.shape}")
            )
        if x.shape[-1] != w.shape[1]:
            raise InputError(
                f"linear: input has {x.shape[-1]} features but the weight expects {w.shape[1]} "
                f"(input shape {x.shape}, weight shape {w.shape})"
            )
        ctx.save_for_backward(x, w)
        ctx.has_bias = b is not None
        out = x @ w.T
        if b is not None:
            out += b
        return out

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        needs = ctx.needs_input_grad
        gx = grad @ w if needs[0] else None
        x2, g2 = x.reshape(-1, x.shape[-1]), grad.reshape(-1, grad.shape[-1])
        gw = g2.T @ x2 if needs[1] else None
        if not ctx.has_bias:
            return gx, gw
        gb = g2.sum(axis=0) if needs[2] else None
        return gx, gw, gb
