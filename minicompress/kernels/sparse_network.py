"""A whole pruned MLP in one Numba call, skipping zero weights *and* zero activations.

EIE (Han et al. 2016, "EIE: Efficient Inference Engine on Compressed Deep Neural Network",
§3) observes that a pruned fully connected layer ``y = W a`` has two kinds of zeros to skip:
the pruned weights (static) and the zero activations (dynamic: most MNIST pixels are 0).
Storing ``W`` column by column (CSC: for each input ``j``, the rows and values of its nonzero
weights) lets the product visit only the columns whose input is nonzero::

    y = b
    for j with a[j] != 0:                      # dynamic activation sparsity
        for (r, v) in column j of W:           # static weight sparsity
            y[r] += v * a[j]

so the layer costs one multiply-add per nonzero weight *in a live column*, instead of one per
weight (dense) or one per nonzero weight (CSR, which must read every ``a[c]``). Skipping is
exact: a skipped column would only add ``v * 0``; an input of ``inf`` or ``NaN`` is never
skipped.

Each layer is stored in one of two layouts, chosen when the network is packed:

* ``"columns"`` (CSC, zero inputs skipped, as above): one scattered multiply-add per live
  nonzero (``benchmarks/sparse.py`` prints how many that is for LeNet-300-100's first layer).
* ``"rows"`` (ELLPACK: every output row padded to the same number ``K`` of nonzeros, the
  padding pointing at an always-zero input slot): ``y[r] = sum_q v[r, q] * a[idx[r, q]]``
  with a fixed trip count, which Numba vectorizes (gathers). No skipping.

The default (``formats=None``, or ``"auto"``) is ``"columns"`` for every layer. An earlier
version chose ``"rows"`` for the hidden layers (about ten nonzeros per column, where the column
loop's exit is mispredicted once per column); timed again on 2026-11-29 on the 2-core machine,
the column layout was faster for 90 %- and 95 %-sparse LeNet-300-100 at batch 1 (0.0061 against
0.0072 ms, 0.0045 against 0.0052 ms) and at batch 64 (0.048 against 0.058 ms, 0.034 against
0.034 ms), so it is the default everywhere; ``python benchmarks/sparse.py`` keeps timing the
padded rows (``rows_ms``). The first layer's input (pixels) is where skipping pays most.

At batch 1 a LeNet-300-100 forward pass is only microseconds of arithmetic, so fixed costs
matter as much as the loops: every layer (weights, bias, ReLU) is packed into a few flat
arrays (:func:`pack_sparse_network`, validated once) and the whole forward pass is ONE serial
``@njit`` call, with no thread pool to wake and no per-layer dispatch. For a batch of ``B``
inputs the activations are held transposed, ``A`` (features, B), so every update
``Y[r, :] += v * A[j, :]`` is a contiguous loop over the batch; a column is skipped when its
input is zero for the whole batch.

The kernels are compiled with ``fastmath={"reassoc", "contract"}`` (sums may be reordered and
fused, which vectorizes the row layout); there is no ``nnan``/``ninf``, so NaN and inf
propagate as in NumPy. Results equal the dense forward pass up to float rounding.

Public API::

    pack_sparse_network(weights, biases=None, relus=None, formats=None) -> SparseNetwork
    sparse_network_forward(net, x) -> (B, out)     # checks x, then one Numba call
    check_network_input(net, x); run_network_unchecked(net, x)   # the same, split
    sparse_network_reference(net, x)               # the NumPy oracle (dense products)
"""

import numpy as np
from numba import njit

from minicompress.errors import InputError, InputTypeError

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_FASTMATH = {"reassoc", "contract"}  # reorder and fuse sums; NaN/inf keep their meaning
COLUMNS, ROWS = 0, 1  # layer layouts (see the module docstring)
_FORMATS = {"columns": COLUMNS, "rows": ROWS}
# columns of SparseNetwork.layers (plain ints: Numba freezes them as constants)
IN, OUT, FORMAT, PTR, WIDTH, BIAS, RELU = range(7)


class SparseNetwork:
    """A chain of Linear layers (optional bias, optional ReLU), each in CSC or ELL layout.

    Layer ``l`` computes ``a_{l+1} = relu_l(W_l a_l + b_l)`` with ``W_l`` of shape
    (out_l, in_l) and ``in_{l+1} = out_l``. Build it with :func:`pack_sparse_network`.

    Attributes
    ----------
    layers : ndarray, shape (L, 7), int64
        One row per layer, columns ``IN, OUT, FORMAT, PTR, WIDTH, BIAS, RELU``: the widths,
        ``COLUMNS`` (0) or ``ROWS`` (1), where its column pointers (columns layout) or its
        entries (rows layout) start, its padded row length ``K`` (rows layout), where its
        bias starts, and 1 if a ReLU follows. One small table, so the Numba call takes few
        arguments (each array argument costs Numba's dispatcher time).
    colptr : ndarray, int64
        Columns layout: input ``j`` owns entries ``colptr[PTR + j] : colptr[PTR + j + 1]`` of
        ``index`` and ``values`` (absolute positions).
    index : ndarray, shape (n_stored,), uint32
        Columns layout: the output row of each entry. Rows layout: the input of each entry of
        the (out, K) block starting at ``PTR``; padding entries point at input ``in_l``, a
        slot the kernel keeps at zero. (Unsigned, so Numba skips its negative-index test.)
    values : ndarray, shape (n_stored,), float32 or float64
        The nonzero weights (and 0 for rows-layout padding).
    bias : ndarray, shape (sum_l out_l,), dtype of ``values``
        Layer ``l``'s bias is ``bias[BIAS : BIAS + out_l]`` (zeros if it had none).
    nnz, n_in, n_out : int
        Nonzero weights (padding not counted), network input and output widths.
    """

    __slots__ = ("layers", "colptr", "index", "values", "bias", "n_in", "n_out", "nnz")

    def __init__(self, layers, colptr, index, values, bias, nnz):
        self.layers, self.colptr = layers, colptr
        self.index, self.values, self.bias, self.nnz = index, values, bias, nnz
        # plain ints for the per-call shape check (indexing ``layers`` is slower)
        self.n_in, self.n_out = int(layers[0, IN]), int(layers[-1, OUT])

    @property
    def dims(self):
        """Layer widths, input first: ``(in_0, out_0, out_1, ..., out_{L-1})``."""
        return (self.n_in,) + tuple(int(n) for n in self.layers[:, OUT])

    @property
    def formats(self):
        """``"columns"`` or ``"rows"`` per layer."""
        return tuple("rows" if f == ROWS else "columns" for f in self.layers[:, FORMAT])

    @property
    def dtype(self):
        return self.values.dtype

    def to_dense(self):
        """The layers back as ``[(W (out, in), b (out,), relu), ...]`` (dense NumPy arrays)."""
        layers = []
        for n_in, n_out, fmt, ptr0, k, b0, relu in self.layers.tolist():
            w = np.zeros((n_out, n_in + 1), dtype=self.dtype)  # + the zero slot of padding
            if fmt == COLUMNS:
                ptr = self.colptr[ptr0: ptr0 + n_in + 1]
                cols = np.repeat(np.arange(n_in), np.diff(ptr))
                w[self.index[ptr[0]: ptr[-1]], cols] = self.values[ptr[0]: ptr[-1]]
            else:
                idx = self.index[ptr0: ptr0 + n_out * k].reshape(n_out, k).astype(np.int64)
                np.add.at(w, (np.repeat(np.arange(n_out), k), idx.ravel()),
                          self.values[ptr0: ptr0 + n_out * k])
            layers.append((w[:, :n_in], self.bias[b0: b0 + n_out].copy(), bool(relu)))
        return layers

    def __repr__(self):
        return (f"SparseNetwork(dims={list(self.dims)}, formats={list(self.formats)}, "
                f"nnz={self.nnz}, dtype={self.dtype.name})")


def pack_sparse_network(weights, biases=None, relus=None, formats=None):
    """Pack a chain of (pruned) Linear layers for :func:`sparse_network_forward`.

    Parameters
    ----------
    weights : sequence of ndarray, each shape (out_l, in_l), float32 or float64
        Dense weights with zeros where pruned; one dtype for all; ``in_{l+1} == out_l``;
        every dimension >= 1; finite.
    biases : sequence of (ndarray of shape (out_l,) or None), optional
        Same dtype as the weights; ``None`` (or omitted) means zeros.
    relus : sequence of bool, optional
        ReLU after layer ``l``; default: after every layer but the last.
    formats : sequence of {"columns", "rows", "auto"}, optional
        Layout per layer (module docstring); ``"auto"`` (the default) is ``"columns"``.

    Returns
    -------
    SparseNetwork
        Validated once here, so the forward call only has to check ``x``.
    """
    if isinstance(weights, np.ndarray) or not isinstance(weights, (list, tuple)):
        raise InputTypeError("weights must be a list or tuple of 2-D arrays (one per layer)")
    n_layers = len(weights)
    if n_layers == 0:
        raise InputError("weights must hold at least one layer")
    biases = [None] * n_layers if biases is None else list(biases)
    relus = [True] * (n_layers - 1) + [False] if relus is None else [bool(r) for r in relus]
    formats = ["auto"] * n_layers if formats is None else list(formats)
    if not len(biases) == len(relus) == len(formats) == n_layers:
        raise InputError(f"got {n_layers} weights, {len(biases)} biases, {len(relus)} relus and "
                         f"{len(formats)} formats; give one of each per layer")
    dtype = None
    for i, w in enumerate(weights):
        if not isinstance(w, np.ndarray):
            raise InputTypeError(f"weights[{i}] must be a numpy.ndarray, got {type(w).__name__}")
        if w.dtype not in _FLOATS:
            raise InputTypeError(f"weights[{i}] must be float32 or float64; got {w.dtype.name}")
        dtype = w.dtype if dtype is None else dtype
        if w.dtype != dtype:
            raise InputTypeError(f"all weights must share one dtype; weights[0] is {dtype.name}, "
                            f"weights[{i}] is {w.dtype.name}")
        if w.ndim != 2 or 0 in w.shape:
            raise InputError(f"weights[{i}] must be 2-D (out, in) with both >= 1; got shape {w.shape}")
        if i and w.shape[1] != weights[i - 1].shape[0]:
            raise InputError(f"weights[{i}] takes {w.shape[1]} inputs but layer {i - 1} "
                             f"gives {weights[i - 1].shape[0]} outputs")
        if not np.all(np.isfinite(w)):
            raise InputError(f"weights[{i}] must be finite (no NaN or inf)")
        if formats[i] not in ("auto", *_FORMATS):
            raise InputError(f"formats[{i}] must be 'columns', 'rows' or 'auto'; got {formats[i]!r}")
    table, colptr, index, values, bias = [], [], [], [], []
    n_stored = n_ptr = b0 = 0
    for i, (w, b) in enumerate(zip(weights, biases)):
        if b is None:
            b = np.zeros(w.shape[0], dtype=dtype)
        elif not isinstance(b, np.ndarray):
            raise InputTypeError(f"biases[{i}] must be a numpy.ndarray or None, got {type(b).__name__}")
        elif b.dtype != dtype:
            raise InputTypeError(f"biases[{i}] must have the weights' dtype {dtype.name}; got {b.dtype.name}")
        elif b.shape != (w.shape[0],):
            raise InputError(f"biases[{i}] must have shape ({w.shape[0]},); got {b.shape}")
        n_out, n_in = w.shape
        fmt = _FORMATS["columns" if formats[i] == "auto" else formats[i]]
        if fmt == COLUMNS:
            # CSC of W is CSR of W.T: nonzero() of the transpose walks column by column
            cols, r = np.nonzero(w.T)
            ptr = np.zeros(n_in + 1, dtype=np.int64)
            np.cumsum(np.bincount(cols, minlength=n_in), out=ptr[1:])
            table.append((n_in, n_out, COLUMNS, n_ptr, 0, b0, int(relus[i])))
            colptr.append(ptr + n_stored)
            index.append(r.astype(np.uint32))
            values.append(w[r, cols])
            n_ptr += ptr.size
            n_stored += r.size
        else:
            counts = np.count_nonzero(w, axis=1)
            k = max(int(counts.max()), 1)
            r, c = np.nonzero(w)  # row-major: the nonzeros of each row, left to right
            slot = np.arange(r.size) - np.repeat(np.cumsum(counts) - counts, counts)
            idx = np.full((n_out, k), n_in, dtype=np.uint32)  # padding reads the zero slot
            val = np.zeros((n_out, k), dtype=dtype)
            idx[r, slot] = c
            val[r, slot] = w[r, c]
            table.append((n_in, n_out, ROWS, n_stored, k, b0, int(relus[i])))
            index.append(idx.ravel())
            values.append(val.ravel())
            n_stored += idx.size
        bias.append(b)
        b0 += n_out
    return SparseNetwork(
        np.array(table, dtype=np.int64),
        np.concatenate(colptr) if colptr else np.zeros(0, np.int64),
        np.concatenate(index),
        np.ascontiguousarray(np.concatenate(values), dtype=dtype),
        np.ascontiguousarray(np.concatenate(bias), dtype=dtype),
        int(sum(np.count_nonzero(w) for w in weights)))


@njit(cache=True, fastmath=_FASTMATH)
def _forward_one(x, layers, colptr, index, values, bias):
    """Batch 1: ``x`` (1, in) -> (1, out)."""
    zero = np.zeros(1, dtype=values.dtype)[0]  # typed: a literal 0 would promote float32 to float64
    width = 0
    for layer in range(layers.shape[0]):
        width = max(width, layers[layer, IN], layers[layer, OUT])
    scratch = np.empty(2 * width + 1, dtype=values.dtype)  # one allocation instead of two
    a = scratch[: width + 1]  # + the zero slot read by rows-layout padding
    y = scratch[width + 1:]
    live = np.empty(width, dtype=np.int64)
    a[: layers[0, IN]] = x[0]
    for layer in range(layers.shape[0]):
        n_in, n_out, p0, b0 = layers[layer, IN], layers[layer, OUT], layers[layer, PTR], layers[layer, BIAS]
        if layers[layer, FORMAT] == COLUMNS:
            for i in range(n_out):
                y[i] = bias[b0 + i]
            # list the inputs that are nonzero, without a branch ("if a[j] != 0" around the
            # loop below mispredicts on every irregular pixel)
            n_live = 0
            for j in range(n_in):
                live[n_live] = j
                n_live += a[j] != zero
            for t in range(n_live):
                j = live[t]
                aj = a[j]
                # an unsigned position: with a signed one Numba tests every index for negative
                # wraparound, which made this loop markedly slower
                for p in range(np.uint64(colptr[p0 + j]), np.uint64(colptr[p0 + j + 1])):
                    y[index[p]] += values[p] * aj
        else:
            k = layers[layer, WIDTH]
            # (out, K) views: indexing values[p0 + r * K + q] instead made Numba test each
            # index for negative wraparound and stopped the loop from vectorizing well
            idx = index[p0: p0 + n_out * k].reshape((n_out, k))
            val = values[p0: p0 + n_out * k].reshape((n_out, k))
            a[n_in] = zero
            for r in range(n_out):
                acc = zero
                for q in range(k):  # the same count for every row: predicted, vectorized
                    acc += val[r, q] * a[idx[r, q]]
                y[r] = acc + bias[b0 + r]
        if layers[layer, RELU]:
            for i in range(n_out):
                a[i] = max(y[i], zero)
        else:
            a[:n_out] = y[:n_out]
    out = np.empty((1, layers[-1, OUT]), dtype=values.dtype)
    out[0] = a[: layers[-1, OUT]]
    return out


@njit(cache=True, fastmath=_FASTMATH)
def _forward_batch(xt, layers, colptr, index, values, bias):
    """Batch B: ``xt`` (in, B) -> (out, B); a column is skipped if its input is zero for all B."""
    n_b = xt.shape[1]
    zero = np.zeros(1, dtype=values.dtype)[0]
    width = 0
    for layer in range(layers.shape[0]):
        width = max(width, layers[layer, IN], layers[layer, OUT])
    a = np.empty((width + 1, n_b), dtype=values.dtype)
    y = np.empty((width, n_b), dtype=values.dtype)
    a[: layers[0, IN]] = xt
    for layer in range(layers.shape[0]):
        n_in, n_out, p0, b0 = layers[layer, IN], layers[layer, OUT], layers[layer, PTR], layers[layer, BIAS]
        for i in range(n_out):
            bi = bias[b0 + i]
            for b in range(n_b):
                y[i, b] = bi
        if layers[layer, FORMAT] == COLUMNS:
            for j in range(n_in):
                live = False
                for b in range(n_b):
                    live |= a[j, b] != zero
                if not live:
                    continue
                for p in range(np.uint64(colptr[p0 + j]), np.uint64(colptr[p0 + j + 1])):
                    r = index[p]
                    v = values[p]
                    for b in range(n_b):  # contiguous rows of y and a: vectorized over the batch
                        y[r, b] += v * a[j, b]
        else:
            k = layers[layer, WIDTH]
            idx = index[p0: p0 + n_out * k].reshape((n_out, k))
            val = values[p0: p0 + n_out * k].reshape((n_out, k))
            a[n_in] = zero
            for r in range(n_out):
                for q in range(k):
                    v = val[r, q]
                    j = idx[r, q]
                    for b in range(n_b):
                        y[r, b] += v * a[j, b]
        for i in range(n_out):
            for b in range(n_b):
                a[i, b] = max(y[i, b], zero) if layers[layer, RELU] else y[i, b]
    return a[: layers[-1, OUT]].copy()


def check_network_input(net, x):
    """``x`` as a C-contiguous (B, in_0) array of the network's dtype (else TypeError/ValueError)."""
    if not isinstance(net, SparseNetwork):
        raise InputTypeError(f"net must be a SparseNetwork (see pack_sparse_network), got {type(net).__name__}")
    if not isinstance(x, np.ndarray):
        raise InputTypeError(f"x must be a numpy.ndarray, got {type(x).__name__}")
    if x.dtype != net.values.dtype:
        raise InputTypeError(f"x must have the network's dtype {net.values.dtype.name}; got {x.dtype.name}")
    if x.ndim != 2 or x.shape[1] != net.n_in:
        raise InputError(f"x must have shape (batch, {net.n_in}); got {x.shape}")
    return np.ascontiguousarray(x)


def run_network_unchecked(net, x):
    """The forward pass of an ``x`` returned by :func:`check_network_input` (the hot path: no checks).

    Batch 1 runs the scalar kernel; a larger batch runs the batch kernel on ``x.T``.
    """
    if x.shape[0] == 1:
        return _forward_one(x, net.layers, net.colptr, net.index, net.values, net.bias)
    if x.shape[0] == 0:
        return np.empty((0, net.n_out), dtype=x.dtype)
    return _forward_batch(np.ascontiguousarray(x.T), net.layers, net.colptr, net.index, net.values,
                          net.bias).T


def sparse_network_forward(net, x):
    """Run a packed network on a batch: ``relu(... relu(x @ W_0.T + b_0) ...) @ W_L.T + b_L``.

    Parameters
    ----------
    net : SparseNetwork
        From :func:`pack_sparse_network`.
    x : ndarray, shape (B, in_0), the network's dtype
        Copied once if not C-contiguous. ``B = 0`` gives an empty (0, out_{L-1}) result.

    Returns
    -------
    ndarray, shape (B, out_{L-1})
        Equal to :func:`sparse_network_reference` up to float rounding (the sums run in a
        different order: column by column rather than BLAS's blocks).
    """
    return run_network_unchecked(net, check_network_input(net, x))


def sparse_network_reference(net, x):
    """NumPy oracle: the same network with dense products, ``a @ W.T + b`` then ReLU."""
    a = check_network_input(net, x)
    for w, b, relu in net.to_dense():
        a = a @ w.T + b
        if relu:
            a = np.maximum(a, 0)
    return a


__all__ = [
    "SparseNetwork",
    "check_network_input",
    "pack_sparse_network",
    "run_network_unchecked",
    "sparse_network_forward",
    "sparse_network_reference",
]
