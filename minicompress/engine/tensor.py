"""The autograd core: ``Tensor``, ``Function`` and reverse-mode differentiation.

A ``Tensor`` wraps a NumPy array. Every operation on tensors is a ``Function``
subclass with a ``forward`` and a ``backward`` on plain NumPy arrays; ``apply``
runs ``forward`` and, when any input needs a gradient, records the function and
its inputs on the output so that ``backward()`` can walk the graph in reverse.

Gradients **accumulate**: calling ``backward()`` twice adds the second gradient
to ``.grad``; clear it with ``zero_grad()`` (or an optimizer's ``zero_grad``).
"""

from __future__ import annotations

import contextlib
import threading

import numpy as np

from minicompress.errors import InputError, InputTypeError

_state = threading.local()


def is_grad_enabled() -> bool:
    return getattr(_state, "grad_enabled", True)


@contextlib.contextmanager
def no_grad():
    """Run a block without building a graph (inference, weight surgery)."""
    previous = is_grad_enabled()
    _state.grad_enabled = False
    try:
        yield
    finally:
        _state.grad_enabled = previous


def _real_array(data, name: str = "data") -> np.ndarray:
    """``np.asarray(data)``, refusing what is not real numbers."""
    try:
        arr = np.asarray(data)
    except (ValueError, TypeError) as err:  # ragged nested lists
        raise InputTypeError(f"{name} must be an array of real numbers: {err}") from None
    if arr.dtype.kind not in "biuf":
        # complex would silently lose its imaginary part; objects and strings are not numbers
        raise InputTypeError(f"{name} must hold real numbers (bool, int or float), got dtype {arr.dtype}")
    return arr


def _as_array(data, dtype=None) -> np.ndarray:
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        try:
            dtype = np.dtype(dtype)
        except TypeError as err:
            raise InputTypeError(f"dtype must be a NumPy float dtype, got {dtype!r}: {err}") from None
        if dtype.kind != "f":
            raise InputTypeError(f"dtype must be a NumPy float dtype (float16/32/64), got {dtype}")
    arr = _real_array(data)
    if dtype is not None:
        with np.errstate(over="ignore"):  # checked just below, with a message that says what happened
            out = arr.astype(dtype, copy=False)
        if (arr.dtype.kind in "iu" or out.dtype.itemsize < arr.dtype.itemsize) and (
            np.isinf(out) & np.isfinite(arr)
        ).any():
            raise InputError(f"data has finite values beyond the range of {out.dtype} (they would become inf)")
        return out
    if arr.dtype.kind != "f":
        # Integers, bools and Python lists become float32: the engine's default.
        arr = arr.astype(np.float32)
    return arr


class Context:
    """What ``forward`` leaves for ``backward``: saved arrays and any constants."""

    def __init__(self):
        self.saved_tensors: tuple = ()
        self.needs_input_grad: tuple[bool, ...] = ()

    def save_for_backward(self, *arrays) -> None:
        self.saved_tensors = arrays


class Function:
    """Base class of every differentiable op.

    Subclasses define ``forward(ctx, *arrays, *constants)`` returning an array
    and ``backward(ctx, grad)`` returning one gradient (or ``None``) per
    *tensor* input, in order.
    """

    @staticmethod
    def forward(ctx: Context, *args, **kwargs) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray):  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **kwargs) -> Tensor:
        tensors = [a for a in args if isinstance(a, Tensor)]
        arrays = [a.data if isinstance(a, Tensor) else a for a in args]
        ctx = Context()
        ctx.needs_input_grad = tuple(t.requires_grad for t in tensors)
        out = cls.forward(ctx, *arrays, **kwargs)
        requires_grad = is_grad_enabled() and any(ctx.needs_input_grad)
        result = Tensor(out, requires_grad=requires_grad)
        if requires_grad:
            result._ctx = ctx
            result._fn = cls
            result._parents = tensors
        return result


class Tensor:
    """A NumPy array with a gradient.

    Parameters
    ----------
    data : array_like
        Float arrays keep their dtype (float64 for gradient checks); anything
        else becomes float32.
    requires_grad : bool
        Whether ``backward()`` should fill ``.grad`` for this tensor.
    dtype : numpy dtype, optional
        Force a dtype.
    """

    __array_priority__ = 1000  # so ndarray + Tensor defers to Tensor.__radd__

    def __init__(self, data, requires_grad: bool = False, dtype=None):
        self.data: np.ndarray = _as_array(data, dtype)
        self.requires_grad = bool(requires_grad)
        self.grad: np.ndarray | None = None
        self._ctx: Context | None = None
        self._fn: type[Function] | None = None
        self._parents: list[Tensor] = []

    # ------------------------------------------------------------------ basics
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    def __len__(self) -> int:
        return len(self.data)

    def numpy(self) -> np.ndarray:
        return self.data

    def item(self) -> float:
        return self.data.item()

    def detach(self) -> Tensor:
        """The same data, cut from the graph (no copy)."""
        return Tensor(self.data)

    def zero_grad(self) -> None:
        self.grad = None

    def __repr__(self) -> str:
        flag = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({np.array2string(self.data, precision=4, threshold=8)}{flag})"

    # ---------------------------------------------------------------- backward
    def backward(self, grad=None) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``.

        ``grad`` defaults to 1 for a single-element tensor; otherwise it must be
        given, with the tensor's shape.
        """
        if not self.requires_grad:
            raise InputError("backward() on a tensor that does not require grad")
        if grad is None:
            if self.data.size != 1:
                raise InputError(
                    f"backward() without a gradient needs a 1-element tensor, got shape {self.shape}"
                )
            grad = np.ones_like(self.data)
        grad = _real_array(grad, "the gradient").astype(self.data.dtype, copy=False)
        if grad.shape != self.shape:
            raise InputError(f"gradient shape {grad.shape} does not match tensor shape {self.shape}")

        order = self._topological_order()
        grads: dict[int, np.ndarray] = {id(self): grad}
        for node in order:
            g = grads.pop(id(node), None)
            if g is None:
                continue
            if node._fn is None:  # a leaf: accumulate
                node.grad = g.copy() if node.grad is None else node.grad + g
                continue
            parent_grads = node._fn.backward(node._ctx, g)
            if not isinstance(parent_grads, tuple):
                parent_grads = (parent_grads,)
            for parent, pg in zip(node._parents, parent_grads):
                if pg is None or not parent.requires_grad:
                    continue
                pg = _unbroadcast(np.asarray(pg), parent.shape).astype(parent.dtype, copy=False)
                key = id(parent)
                grads[key] = pg if key not in grads else grads[key] + pg

    def _topological_order(self) -> list[Tensor]:
        # Iterative depth-first search: deep graphs do not hit Python's recursion limit.
        order: list[Tensor] = []
        visited: set[int] = set()
        stack: list[tuple[Tensor, bool]] = [(self, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            if id(node) in visited:
                continue
            visited.add(id(node))
            stack.append((node, True))
            for parent in node._parents:
                if parent.requires_grad and id(parent) not in visited:
                    stack.append((parent, False))
        order.reverse()  # outputs first
        return order

    # ------------------------------------------------------------ comparisons
    # Not differentiable: elementwise, returning plain NumPy boolean arrays, as NumPy and
    # PyTorch do (``==`` too). A tensor is hashed by identity, so it can key a dict
    # (``optimizer.state[param]``); to ask "is this parameter in that list", compare
    # identities (``any(p is q for q in params)``), never ``in``, which would call ``==``.
    def __eq__(self, other):
        return _compare(self, other, np.equal)

    def __ne__(self, other):
        return _compare(self, other, np.not_equal)

    def __lt__(self, other):
        return _compare(self, other, np.less)

    def __le__(self, other):
        return _compare(self, other, np.less_equal)

    def __gt__(self, other):
        return _compare(self, other, np.greater)

    def __ge__(self, other):
        return _compare(self, other, np.greater_equal)

    __hash__ = object.__hash__

    # The arithmetic operators and the differentiable methods (``+``, ``@``, ``x[i]``,
    # ``exp``, ``sum``, ``reshape``, ...) are each one op of ``ops.py``; ``methods.py``
    # gives them to ``Tensor``, so that this file and ``ops.py`` never import each other.

    def flatten(self, start_dim: int = 1):
        """Merge the axes from ``start_dim`` on into one (``(N, C, H, W) -> (N, C*H*W)`` by default)."""
        ok = isinstance(start_dim, int) and not isinstance(start_dim, bool)
        if not ok or not -self.ndim <= start_dim < max(self.ndim, 1):
            raise InputError(f"flatten: start_dim must be an axis of a {self.ndim}-d tensor, got {start_dim!r}")
        # the size, not -1: an empty batch (0, ...) has no size for -1 to infer
        return self.reshape(*self.shape[:start_dim], int(np.prod(self.shape[start_dim:])))

    @property
    def T(self):
        return self.transpose()


def _compare(t: Tensor, other, op) -> np.ndarray:
    other = other.data if isinstance(other, Tensor) else other
    try:
        arr = _real_array(other)
    except InputTypeError:
        if op is np.equal or op is np.not_equal:  # as for any two unlike objects: never equal
            return np.full(t.shape, op is np.not_equal)
        raise InputTypeError(
            f"a Tensor compares with real numbers or arrays of them, got {type(other).__name__}"
        ) from None
    try:
        return op(t.data, arr)
    except ValueError:
        raise InputError(f"comparison: shapes {t.shape} and {arr.shape} do not broadcast together") from None


def _wrap(x, like: Tensor) -> Tensor:
    if isinstance(x, Tensor):
        return x
    arr = _real_array(x)
    if arr.dtype != like.dtype and (arr.ndim == 0 or arr.dtype.kind != "f"):
        # Python numbers and integer/bool arrays take the tensor's dtype (no float64 creep).
        arr = arr.astype(like.dtype)
    return Tensor(arr)


def _unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` down to ``shape``, undoing NumPy broadcasting."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)
