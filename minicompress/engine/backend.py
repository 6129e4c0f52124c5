"""Which code runs the convolution and pooling ops: the readable NumPy or the Numba kernels.

minitorch keeps ``tensor_ops`` (readable loops) beside ``fast_ops`` (Numba) behind one
interface; minicompress does the same for the ops where moving data dominates:

* ``"numpy"``: :mod:`minicompress.engine.conv`'s im2col / col2im / max-pool, written with
  strided views. What a learner reads first, and the oracle the kernels are tested against.
* ``"numba"`` (the default): :mod:`minicompress.kernels.conv` and :mod:`minicompress.kernels.pool`,
  the same layout and arithmetic in one pass over memory each.

Both give bit-identical forward values (same columns, same products) and pass the same
gradient checks (``tests/test_engine.py``); the max pool's backward may add overlapping
windows' gradients in another order. Switch for the whole program, or for a block::

    from minicompress.engine import backend
    backend.use("numpy")             # from now on
    with backend.using("numpy"):     # only inside the block
        loss = model(x)

The choice is read when an op runs forward; its backward uses the same back end.
"""

from __future__ import annotations

from contextlib import contextmanager

from minicompress.errors import InputError

BACKENDS = ("numpy", "numba")
_current = "numba"


def current() -> str:
    """The back end the next convolution or pooling op will use."""
    return _current


def use(name: str) -> None:
    """Select ``"numpy"`` or ``"numba"`` for every later convolution and pooling op."""
    global _current
    if name not in BACKENDS:
        raise InputError(f"backend must be one of {BACKENDS}; got {name!r}")
    _current = name


@contextmanager
def using(name: str):
    """Run a block under back end ``name``, then restore the previous one (even on error)."""
    previous = _current
    use(name)
    try:
        yield
    finally:
        use(previous)


__all__ = ["BACKENDS", "current", "use", "using"]
