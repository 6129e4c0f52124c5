"""Fake quantization: quantize and dequantize in the forward pass, train through it.

.. math:: y = (\\operatorname{clamp}(\\operatorname{rint}(x/s) + z,\\ q_{min},\\ q_{max}) - z)\\, s

The forward output takes only the values the integer model can represent, so a network
trained through it (QAT) learns weights that survive quantization. rint has zero
derivative almost everywhere, so the backward pass uses the **straight-through
estimator** (Bengio et al. 2013): the gradient passes unchanged where x/s + z rounds
inside [q_min, q_max] and is zero where the value was clamped,

.. math:: \\partial y / \\partial x \\approx 1[q_{min} \\le \\operatorname{rint}(x/s)+z \\le q_{max}].

The gradient with respect to the scale s (when s is a Tensor that requires grad) is the
exact derivative of the forward with the integer held fixed, ∂y/∂s = q − z, which is
the true derivative everywhere except on the rounding steps themselves, so it passes a
central-difference gradient check away from them.
"""

from __future__ import annotations

import numpy as np

from minicompress.compress.quantization.uniform import QParams
from minicompress.engine import Function, Tensor
from minicompress.errors import InputError, InputTypeError


class FakeQuantize(Function):
    """The op; call it through :func:`fake_quantize`.

    forward(ctx, x, scale, zero_point, qmin, qmax): x any shape; scale and zero_point
    broadcast against x (shape () or per-channel (C, 1, ...)).
    """

    @staticmethod
    def forward(ctx, x, scale, zero_point, qmin, qmax):
        scale = scale.astype(x.dtype, copy=False)
        unclamped = np.rint(x / scale) + zero_point
        q = np.clip(unclamped, qmin, qmax)
        ctx.inside = (unclamped >= qmin) & (unclamped <= qmax)
        ctx.q_minus_z = q - zero_point
        ctx.scale_shape = scale.shape
        return (ctx.q_minus_z * scale).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        gx = np.where(ctx.inside, grad, 0.0).astype(grad.dtype) if ctx.needs_input_grad[0] else None
        gs = None
        if len(ctx.needs_input_grad) > 1 and ctx.needs_input_grad[1]:
            gs = (grad * ctx.q_minus_z).astype(grad.dtype)  # summed to scale's shape by the engine
        return gx, gs


def fake_quantize(x: Tensor, qp: QParams | None = None, *, scale=None, zero_point=0, qmin=None,
                  qmax=None) -> Tensor:
    """Fake-quantize a Tensor with the quantizer ``qp`` (or explicit scale/zero_point/range).

    Parameters
    ----------
    x : Tensor, any shape
    qp : QParams, optional
        Gives scale, zero point, range and the per-channel axis.
    scale : float, ndarray or Tensor, optional
        Used when ``qp`` is None; must broadcast against x. A Tensor with
        ``requires_grad`` receives ∂y/∂s = q − z.
    zero_point : int or ndarray
    qmin, qmax : int

    Returns
    -------
    Tensor, the shape and dtype of x
    """
    if not isinstance(x, Tensor):
        raise InputTypeError(f"fake_quantize takes a Tensor, got {type(x).__name__}")
    if qp is not None:
        scale, zero_point = qp.broadcast(x.ndim)
        qmin, qmax = qp.qmin, qp.qmax
    if scale is None or qmin is None or qmax is None:
        raise InputError("give either qp or scale, qmin and qmax")
    if qmin >= qmax:
        raise InputError(f"qmin must be < qmax; got {qmin}, {qmax}")
    s = scale if isinstance(scale, Tensor) else Tensor(np.asarray(scale, dtype=x.dtype))
    if np.any(s.data <= 0):
        raise InputError("scale must be > 0")
    z = np.asarray(zero_point, dtype=x.dtype)
    return FakeQuantize.apply(x, s, z, qmin, qmax)
