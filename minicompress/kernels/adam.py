"""A fused Adam update: one parallel pass over a parameter instead of ten NumPy passes.

For an MLP the optimizer step costs as much as the forward and backward passes
together when written as NumPy expressions (every ``m *= b1``, ``v += ...``,
``sqrt``, ``/`` is a full sweep over memory). This kernel reads each element of
the parameter, gradient and both moments once. ``minicompress.optim.Adam``
checks its result against the NumPy formula in the tests.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True, fastmath=False)
def _adam_kernel(wf, gf, mf, vf, b1, b2, lr_t, inv_sqrt_bc2, eps, wd):
    # 1-D views only: under parallel=True a reshape inside the kernel may become a copy.
    for i in prange(wf.size):
        grad = gf[i] + wd * wf[i]
        mi = b1 * mf[i] + (1 - b1) * grad
        vi = b2 * vf[i] + (1 - b2) * grad * grad
        mf[i] = mi
        vf[i] = vi
        wf[i] -= lr_t * mi / (np.sqrt(vi) * inv_sqrt_bc2 + eps)


def adam_update(w, g, m, v, *, b1, b2, lr, eps, weight_decay, step) -> None:
    """In place: ``m, v`` updated, ``w -= lr * m_hat / (sqrt(v_hat) + eps)``.

    All four arrays are contiguous with one float dtype and one shape (checked).
    """
    for name, a in (("w", w), ("g", g), ("m", m), ("v", v)):
        if a.shape != w.shape or a.dtype != w.dtype or not a.flags.c_contiguous:
            raise ValueError(f"adam_update: {name} must be a C-contiguous {w.dtype} array of shape {w.shape}")
    dt = w.dtype.type
    _adam_kernel(w.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1), dt(b1), dt(b2), dt(lr / (1 - b1**step)), dt(1 / np.sqrt(1 - b2**step)),
                 dt(eps), dt(weight_decay))
