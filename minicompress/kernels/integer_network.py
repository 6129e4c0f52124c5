"""A whole int8 MLP in one Numba call: quantize the input, then every layer, no Python between.

An integer Linear layer on its own (:func:`~minicompress.kernels.qlinear`) pays its Python
checks and Numba's dispatch, a few microseconds, on every call; at batch 1 that is more than
the arithmetic of LeNet-300-100's layers. :func:`pack_integer_network` checks and packs a chain
of layers once; :func:`integer_network_forward` then runs, for each block of up to 64 rows:

1. the input quantization ``q = clip(rint(x / s_x) + z_x, 0, 255)`` (as :func:`.quantize`);
2. each layer's ``y_q = clip(rint(((q - z_in) @ (w - z_w) + b_q) * M) + z_out, z_out if ReLU,
   q_max)``, the panel products and the epilogue of :mod:`.gemm_tiles`, every row block's uint8
   activations staying in cache from one layer to the next;
3. the last layer dequantizes instead: ``logits = ((q - z_in) @ w + b_q) * s_in * s_w``.

Row blocks run in parallel above one block (64 rows); a single block (batch 1) runs on the
calling thread, so no thread is woken. Results are bit-identical to the layer-by-layer
:func:`~minicompress.kernels.qlinear` chain and to :func:`integer_network_reference`.
The per-layer ``M`` and ``s_in * s_w`` may be per output channel.
"""

import numpy as np
from numba import njit, prange

from minicompress.errors import InputError, InputTypeError

from ._checks import zero_point
from .gemm_tiles import MODE_FLOAT, MODE_QUANT, ROW_BLOCK, _epilogue
from .gemm_vnni import _panel_vnni
from .packing import NR, PackedWeights
from .quantize import _quantize_range
from .reference import qlinear_reference, quantize_reference

# columns of IntegerNetwork.layers
K, N, KPAD, B_OFF, T_OFF, ZIN, ZOUT, HI, RELU = range(9)


class IntegerNetwork:
    """A chain of integer Linear layers packed for :func:`integer_network_forward`.

    Attributes
    ----------
    layers : ndarray, shape (L, 9), int64
        Per layer: ``K, N, KPAD`` (inputs, outputs, inputs padded to 4), ``B_OFF`` (start of its
        panels in ``packed``), ``T_OFF`` (start of its entries in ``col_term`` and ``scale``),
        ``ZIN`` (input zero point), ``ZOUT`` (output zero point), ``HI`` (largest output code,
        255 or less for narrower activations), ``RELU`` (1 or 0).
    packed : ndarray, int8
        Every layer's ``PackedWeights.data``, one after the other.
    col_term : ndarray, int64
        ``b_q[j] - z_in * sum_k w[k, j]`` per output column (the zero-point fold of :mod:`.gemm_tiles`).
    scale : ndarray, float64
        ``M`` per output column (``s_in * s_w`` for the last layer).
    in_scale, in_zero_point : float, int
        The input quantization.
    """

    __slots__ = ("layers", "packed", "col_term", "scale", "in_scale", "in_zero_point", "n_in", "n_out",
                 "_weights", "_biases")

    def __init__(self, layers, packed, col_term, scale, in_scale, in_zero_point, weights, biases):
        self.layers, self.packed, self.col_term, self.scale = layers, packed, col_term, scale
        self.in_scale, self.in_zero_point = in_scale, in_zero_point
        self.n_in, self.n_out = int(layers[0, K]), int(layers[-1, N])
        self._weights, self._biases = weights, biases

    def __repr__(self):
        dims = [self.n_in] + [int(n) for n in self.layers[:, N]]
        return f"IntegerNetwork(dims={dims})"


def pack_integer_network(weights, biases, scales, zero_points, in_scale, relus=None, out_qmax=None):
    """Check and pack a chain of integer Linear layers once.

    Parameters
    ----------
    weights : list of PackedWeights (from ``pack_weights(W_q.T)``, zero point 0), length L
    biases : list of ndarray, shape (N_l,), int32
        In accumulator units, ``rint(b / (s_in * s_w))``.
    scales : list of float or ndarray, shape (N_l,)
        ``M = s_in * s_w / s_out`` for layers 0..L-2, ``s_in * s_w`` for the last (dequantizing) one.
    zero_points : list of int, length L + 1
        Activation zero points in [0, 255]: the network input's, then each layer's output
        (the last entry, for the float logits, is ignored).
    in_scale : float > 0
        Scale of the input quantization.
    relus : list of bool, optional
        ReLU after each layer but the last (default: all True).
    out_qmax : list of int, optional
        Largest uint8 code of each hidden output (default 255; less for fewer bits).

    Returns
    -------
    IntegerNetwork
    """
    n_layers = len(weights)
    if n_layers == 0 or not (len(biases) == len(scales) == n_layers and len(zero_points) == n_layers + 1):
        raise InputError("weights, biases and scales need one entry per layer and zero_points one more")
    relus = [True] * n_layers if relus is None else list(relus)
    out_qmax = [255] * n_layers if out_qmax is None else list(out_qmax)
    in_scale = float(in_scale)
    if not (0.0 < in_scale < np.inf):
        raise InputError(f"in_scale must be finite and > 0; got {in_scale}")
    rows, packed, col_terms, scale_list = [], [], [], []
    b_off = t_off = 0
    for i, (pw, bias, scale) in enumerate(zip(weights, biases, scales)):
        if not isinstance(pw, PackedWeights) or pw.zero_point != 0:
            raise InputTypeError(f"weights[{i}] must be PackedWeights with zero point 0")
        if i and pw.k != weights[i - 1].n:
            raise InputError(f"layer {i} takes {pw.k} inputs but layer {i - 1} gives {weights[i - 1].n}")
        bias = np.asarray(bias)
        if bias.dtype != np.int32 or bias.shape != (pw.n,):
            raise InputTypeError(f"biases[{i}] must be int32 of shape ({pw.n},)")
        s = np.broadcast_to(np.asarray(scale, dtype=np.float64), (pw.n,))
        if not np.all((s > 0) & (s < np.inf)):
            raise InputError(f"scales[{i}] must be finite and > 0")
        z_in = zero_point(zero_points[i], np.uint8, f"zero_points[{i}]")
        last = i == n_layers - 1
        z_out = 0 if last else zero_point(zero_points[i + 1], np.uint8, f"zero_points[{i + 1}]")
        hi = 255 if last else int(out_qmax[i])
        if not z_out <= hi <= 255:
            raise InputError(f"out_qmax[{i}]={hi} must lie in [{z_out}, 255]")
        rows.append((pw.k, pw.n, pw.kpad, b_off, t_off, z_in, z_out, hi, int(bool(relus[i]) and not last)))
        packed.append(pw.data)
        col_terms.append(bias.astype(np.int64) - z_in * pw.col_sums)
        scale_list.append(s)
        b_off += pw.data.size
        t_off += pw.n
    return IntegerNetwork(np.array(rows, dtype=np.int64), np.concatenate(packed), np.concatenate(col_terms),
                          np.concatenate(scale_list), in_scale, zero_point(zero_points[0], np.uint8, "zero_points[0]"),
                          [pw.unpack() for pw in weights], [np.asarray(b) for b in biases])


@njit(cache=True)
def _rows(x, r_lo, r_hi, in_scale, in_zp, layers, packed, col_term, scale, out):
    """Logits of rows r_lo..r_hi of x; returns the number of NaN inputs met."""
    rows = r_hi - r_lo
    a = np.zeros((rows, layers[0, KPAD]), dtype=np.uint8)
    flat = np.empty(layers[0, K], dtype=np.uint8)
    nans = 0
    for i in range(rows):
        nans += _quantize_range(x[r_lo + i], 0, layers[0, K], in_scale, in_zp, 0, 255, flat)
        a[i, :layers[0, K]] = flat
    dummy_q = np.empty((1, 1), dtype=np.uint8)
    dummy_i = np.empty((1, 1), dtype=np.int32)
    dummy_f = np.empty((1, 1), dtype=np.float32)
    row_term = np.zeros(rows, dtype=np.int64)  # weight zero points are 0
    tile = np.empty((rows, NR), dtype=np.int32)
    zero_rows, zero_cols = np.zeros(rows, dtype=np.int32), np.zeros(NR, dtype=np.int32)
    n_layers = layers.shape[0]
    for lay in range(n_layers):
        n, kpad, t0 = layers[lay, N], layers[lay, KPAD], layers[lay, T_OFF]
        ct, sc = col_term[t0:t0 + n], scale[t0:t0 + n]
        if lay == n_layers - 1:
            nxt = dummy_q
            outs, i0, mode = (dummy_q, dummy_i, out), r_lo, MODE_FLOAT
        else:
            nxt = np.zeros((rows, layers[lay + 1, KPAD]), dtype=np.uint8)
            outs, i0, mode = (nxt, dummy_i, dummy_f), 0, MODE_QUANT
        zp, relu = layers[lay, ZOUT], layers[lay, RELU] == 1
        lo = zp if relu else 0
        for p in range((n + NR - 1) // NR):
            _panel_vnni(a, packed, layers[lay, B_OFF] + p * kpad * NR, tile, 0, 0, zero_rows, zero_cols)
            _epilogue(tile, i0, i0 + rows, p * NR, min(n, p * NR + NR), row_term, ct, sc, zp, lo,
                      layers[lay, HI], relu, mode, outs)
        a = nxt
    return nans


@njit(cache=True, parallel=True)
def _forward_par(x, in_scale, in_zp, layers, packed, col_term, scale, out):
    m = x.shape[0]
    n_blocks = (m + ROW_BLOCK - 1) // ROW_BLOCK
    nans = np.zeros(n_blocks, dtype=np.int64)
    for t in prange(n_blocks):
        nans[t] = _rows(x, t * ROW_BLOCK, min(m, t * ROW_BLOCK + ROW_BLOCK), in_scale, in_zp, layers,
                        packed, col_term, scale, out)
    return nans.sum()


def integer_network_forward(net, x):
    """float32 logits of a float batch through the whole integer network, in one Numba call.

    Parameters
    ----------
    net : IntegerNetwork
    x : ndarray, shape (B, n_in) (or (B, ...) flattening to n_in), float32 or float64

    Returns
    -------
    ndarray, shape (B, n_out), float32
        NaN in ``x`` raises ``InputError``; +-inf saturate, as in :func:`.quantize`.
    """
    if not isinstance(net, IntegerNetwork):
        raise InputTypeError(f"net must be an IntegerNetwork, got {type(net).__name__}")
    if not isinstance(x, np.ndarray) or x.dtype not in (np.float32, np.float64):
        raise InputTypeError("x must be a float32 or float64 numpy.ndarray")
    if x.ndim < 1 or x.shape[0] == 0 or x[0].size != net.n_in:
        raise InputError(f"x must have shape (B, {net.n_in}) with B >= 1; got {x.shape}")
    x2 = np.ascontiguousarray(x.reshape(x.shape[0], net.n_in))
    out = np.empty((x2.shape[0], net.n_out), dtype=np.float32)
    args = (net.in_scale, net.in_zero_point, net.layers, net.packed, net.col_term, net.scale, out)
    if x2.shape[0] <= ROW_BLOCK:
        nans = _rows(x2, 0, x2.shape[0], *args)
    else:
        nans = _forward_par(x2, *args)
    if nans:
        raise InputError("x contains NaN, which has no quantized value")
    return out


def integer_network_reference(net, x):
    """The same logits layer by layer with the NumPy oracles (``quantize_reference``,
    ``qlinear_reference``)."""
    h = quantize_reference(np.asarray(x).reshape(len(x), net.n_in), net.in_scale, net.in_zero_point)
    n_layers = len(net.layers)
    for lay, (w, b) in enumerate(zip(net._weights, net._biases)):
        k, n, _, _, t0, z_in, z_out, hi, relu = (int(v) for v in net.layers[lay])
        s = net.scale[t0:t0 + n]
        if lay == n_layers - 1:
            h = qlinear_reference(h, w, b, z_in, s, 0, np.float32)
        else:
            h = np.minimum(qlinear_reference(h, w, b, z_in, s, z_out, np.uint8, bool(relu)), hi)
    return h


__all__ = ["IntegerNetwork", "integer_network_forward", "integer_network_reference", "pack_integer_network"]
