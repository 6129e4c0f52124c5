"""Numba kernels for the hot path (layer 0: numpy + numba only), and the engine's fast back end.

Every kernel takes plain NumPy arrays, checks dtypes and shapes (``TypeError`` / ``ValueError``
saying what is allowed), copies a non-contiguous input once with ``np.ascontiguousarray``,
runs an ``@njit(cache=True)`` loop (``prange`` over the outer row loop only where threads pay),
and agrees with its plain NumPy oracle (:mod:`minicompress.kernels.reference`, or the engine's
readable NumPy code for the float convolution and pooling kernels): bit for bit, except where
a docstring says which sums are added in another order.

Numba's on-disk cache is keyed on every file of this folder (:mod:`._cache`): editing any kernel
file, ``_vnni.py`` and ``_gather.py`` included, recompiles the cached kernels that use it.

Float convolution and pooling (``conv``, ``pool``): the engine's fast back end
----------------------------------------------------------------------------------
:mod:`minicompress.engine.backend` selects ``"numba"`` (these, the default) or ``"numpy"`` (the
engine's readable im2col / col2im / max pool, their oracles).

``unfold(x, kernel_size, stride=1, padding=0) -> (N, C*KH*KW, OH*OW)``
    im2col of a float batch, PyTorch's ``F.unfold`` layout.
``fold(cols, output_size, kernel_size, stride=1, padding=0) -> (N, C, H, W)``
    col2im, the adjoint of ``unfold`` (overlaps added in kernel-offset order).
``conv2d_forward(x, weight, bias=None, stride=1, padding=0) -> (N, F, OH, OW)``
    The engine's convolution, ``W.reshape(F, -1) @ unfold(x)[n] + b`` per image, the batch
    split over threads (:mod:`.threads`), the columns made ``CHUNK`` images at a time.
``conv2d_backward(grad, x, weight, stride=1, padding=0, input_grad=True, weight_grad=True)``
    ``(grad_x, grad_w)``, the same products as the engine's NumPy code, split the same way.
``set_num_threads(n)``, ``get_num_threads()``, ``parallel_for(fn, n, work)`` (``threads``)
    The threads the convolution uses: ``$MINICOMPRESS_NUM_THREADS``, else the cores when BLAS
    was told to use one thread, else 1 (one thread pool at a time). Results do not depend on it.
``max_pool2d_forward(x, kernel_size, stride) -> (out, arg)``
    Max over windows, with the offset of each window's first maximum (``argmax_dtype(k)``).
``max_pool2d_backward(grad, arg, x_shape, kernel_size, stride) -> (N, C, H, W)``

Integer GEMM (``gemm``; ``packing``, ``gemm_tiles``, ``gemm_vnni``, ``gemm_portable``)
-------------------------------------------------------------------------------------
Fast path: AVX-512 VNNI ``vpdpbusd`` micro-kernel (``gemm_vnni``, ``_vnni``) when the CPU has
it, a plain-Numba kernel with the same results otherwise (``gemm_portable``). Speed:
``benchmarks/kernels.py``.

``gemm_s8s8s32(a, b) -> int32``
    a (M, K) int8 @ b (K, N) int8, exact int32.
``gemm_u8s8s32(a, b, a_zero_point, b_zero_point=0) -> int32``
    ``(a - a_zp) @ (b - b_zp)``, a uint8 (or int8) activations, exact int32.
``pack_weights(b, zero_point=0) -> PackedWeights``
    Pack an int8 (K, N) weight once (for a Linear weight W (out, in), pass ``W.T``);
    every function above and below accepts a ``PackedWeights`` wherever it accepts ``b``.
``requantize(acc, scale, zero_point, out_dtype, bias=None, relu=False)``
    ``clip(rint((acc + bias) * scale) + zero_point)``: float64 math, round half to *even*
    (``np.rint``), saturate to int8 [-128, 127] / uint8 [0, 255]; ``relu`` clamps below at
    the zero point; scale is a scalar or one per output column (per-channel weights);
    ``out_dtype=np.float32`` dequantizes instead (zero_point must be 0).
``qlinear(x_q, w, bias=None, x_zero_point=0, scale=1.0, out_zero_point=0,
         out_dtype=np.int8, relu=False)``
    The fused layer: ``requantize((x_q - x_zp) @ (w - w_zp), scale, out_zp, out_dtype, bias, relu)``
    with bias int32 in accumulator units (``round(b / (s_x * s_w))``) and
    ``scale = s_x * s_w / s_y`` (or ``s_x * s_w`` for a float32 output).
``MAX_K = 32768``
    Largest K for which int32 accumulation is exact for every dtype/zero-point combination.

``quantize(x, scale, zero_point, out_dtype=np.uint8)``
    Float activations -> int8/uint8 in one parallel pass: ``clip(rint(x / scale) + zp)``
    (float64 division, round half to even; NaN raises).

Integer network (``minicompress.kernels.integer_network``)
--------------------------------------------------------
``pack_integer_network(weights, biases, scales, zero_points, in_scale, relus=None, out_qmax=None)``
    A chain of integer Linear layers (``PackedWeights``, int32 bias, requantization scale),
    checked and packed once -> ``IntegerNetwork``.
``integer_network_forward(net, x) -> float32 logits``
    Input quantization and every layer in ONE Numba call (row blocks of 64 in parallel above
    one block); bit-identical to the ``qlinear`` chain and to ``integer_network_reference``.

Sparse (``minicompress.kernels.sparse``)
----------------------------------------
``to_csr(dense) -> (indptr int64, indices int32, values)``
``csr_matmul(indptr, indices, values, dense, bias=None, relu=False) -> A @ dense``
    A (M, K) in CSR, dense (K, N); float32/float64; int32 or int64 indices; optional bias
    per row of A and ReLU fused. Sums each row in storage order (bit-exact vs the oracle).
    A malformed CSR (decreasing indptr, index out of range) raises ValueError.
``csr_linear(x, indptr, indices, values, bias=None, relu=False) -> x @ W.T + bias``
    W (out, in) in CSR, x (B, in): a pruned Linear layer (batch 1 costs no copies).

Sparse network (``minicompress.kernels.sparse_network``)
--------------------------------------------------------
``pack_sparse_network(weights, biases=None, relus=None, formats=None) -> SparseNetwork``
    A chain of pruned Linear layers (bias, ReLU), each packed by columns (CSC, zero inputs
    skipped) or by padded rows (ELLPACK, vectorized), validated once.
``sparse_network_forward(net, x) -> (B, out)``
    The whole network in ONE serial Numba call, skipping zero weights and zero inputs (EIE);
    ``check_network_input(net, x)`` + ``run_network_unchecked(net, x)`` split the checks from the hot call.

Quantized convolution (``minicompress.kernels.im2col``)
-------------------------------------------------------
``im2col(x, kernel_size, stride=1, padding=0, pad_value=0) -> (N*OH*OW, C*KH*KW)``
    NCHW patches, columns in (c, ki, kj) order, padding filled with ``pad_value``
    (the zero point for quantized activations).

Oracles (``minicompress.kernels.reference``)
--------------------------------------------
``quantize_reference``, ``gemm_reference``, ``requantize_reference``, ``qlinear_reference``, ``to_csr_reference``,
``csr_matmul_reference``, ``im2col_reference``, ``sparse_network_reference``,
``integer_network_reference``.
"""

from . import _cache  # noqa: F401  (first, before any kernel is defined: see its docstring)
from ._checks import MAX_K
from .conv import conv2d_backward, conv2d_forward, fold, unfold
from .gemm import PackedWeights, gemm_s8s8s32, gemm_u8s8s32, pack_weights, qlinear, requantize
from .im2col import im2col
from .integer_network import (
    IntegerNetwork,
    integer_network_forward,
    integer_network_reference,
    pack_integer_network,
)
from .pool import argmax_dtype, max_pool2d_backward, max_pool2d_forward
from .quantize import quantize
from .reference import (
    csr_matmul_reference,
    gemm_reference,
    im2col_reference,
    qlinear_reference,
    quantize_reference,
    requantize_reference,
    to_csr_reference,
)
from .sparse import csr_linear, csr_matmul, to_csr
from .sparse_network import (
    SparseNetwork,
    check_network_input,
    pack_sparse_network,
    run_network_unchecked,
    sparse_network_forward,
    sparse_network_reference,
)
from .threads import get_num_threads, parallel_for, set_num_threads

__all__ = [
    "IntegerNetwork",
    "integer_network_forward",
    "integer_network_reference",
    "pack_integer_network",
    "MAX_K",
    "PackedWeights",
    "SparseNetwork",
    "argmax_dtype",
    "check_network_input",
    "conv2d_backward",
    "conv2d_forward",
    "csr_linear",
    "csr_matmul",
    "csr_matmul_reference",
    "fold",
    "gemm_reference",
    "gemm_s8s8s32",
    "gemm_u8s8s32",
    "get_num_threads",
    "im2col",
    "im2col_reference",
    "max_pool2d_backward",
    "max_pool2d_forward",
    "pack_weights",
    "parallel_for",
    "qlinear",
    "qlinear_reference",
    "quantize",
    "quantize_reference",
    "requantize",
    "requantize_reference",
    "run_network_unchecked",
    "set_num_threads",
    "pack_sparse_network",
    "sparse_network_forward",
    "sparse_network_reference",
    "to_csr",
    "to_csr_reference",
    "unfold",
]
