"""A fused Adam update: one pass over memory instead of eleven (``Adam(..., fused=True)``).

Written as NumPy expressions, Adam sweeps every weight about eleven times per
step (scale m, add, square, scale v, add, sqrt, ...); for an MLP that is the
largest single cost of a training step. This loop reads the weight, gradient and
both moments once and writes three of them back. It is serial on purpose: one
memory-bound pass is fast, and a parallel region would cost a thread barrier
per parameter per step, which stalls when other processes share the cores.

No ``fastmath``: it lets the compiler assume there are no NaNs or infinities, so a NaN
gradient could come out as anything. With IEEE semantics a NaN stays a NaN, as in the
NumPy update (``Adam(fused=False)``, the readable default), and ``fit`` reports it.

``error_model="numpy"``: with Numba's default ("python") every division first checks for a zero
divisor to raise ``ZeroDivisionError``, and that branch keeps LLVM from vectorizing the loop
(scalar ``vsqrtss``/``vdivss``, 2.4 ns per weight on this project's AVX-512 machine). With
NumPy's error model the division follows IEEE (x/0 = inf, 0/0 = NaN, as the NumPy update gives)
and the loop runs packed, 0.31 ns per weight on a 235,200-weight tensor, bit for bit the same
results (no fastmath: no contraction, no reassociation).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from minicompress.errors import InputError


@njit(cache=True, error_model="numpy")
def _adam_kernel(w, g, m, v, b1, c1, b2, c2, step_size, inv_sqrt_bc2, eps, wd):
    for i in range(w.size):
        grad = g[i] + wd * w[i]
        mi = b1 * m[i] + c1 * grad
        vi = b2 * v[i] + c2 * grad * grad
        m[i] = mi
        v[i] = vi
        w[i] -= step_size * mi / (np.sqrt(vi) * inv_sqrt_bc2 + eps)


def adam_update(w, g, m, v, *, b1, b2, lr, eps, weight_decay, step) -> None:
    """In place: m = b1 m + (1-b1) g', v = b2 v + (1-b2) g'^2, w -= lr m_hat / (sqrt(v_hat) + eps).

    ``g' = g + weight_decay * w``; ``m_hat = m / (1 - b1^step)``, ``v_hat = v / (1 - b2^step)``.
    All four arrays must be C-contiguous with the same shape and float dtype.
    """
    for name, a in (("g", g), ("m", m), ("v", v)):
        if a.shape != w.shape or a.dtype != w.dtype or not a.flags.c_contiguous:
            raise InputError(f"adam_update: {name} must be a C-contiguous {w.dtype} array of shape {w.shape}")
    if not w.flags.c_contiguous:
        raise InputError("adam_update: the weight must be C-contiguous")
    f = w.dtype.type
    # 1-D views (no copies: all are contiguous), so one compiled loop serves every shape.
    _adam_kernel(w.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1), f(b1), f(1 - b1), f(b2),
                 f(1 - b2), f(lr / (1 - b1**step)), f(1 / np.sqrt(1 - b2**step)), f(eps), f(weight_decay))
