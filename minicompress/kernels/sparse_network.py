"""A whole pruned MLP in one Numba call, skipping zero weights *and* zero activations.

EIE (Han et al. 2016, "EIE: Efficient Inference Engine on Compressed Deep Neural Network",
§3) observes that a pruned fully connected layer ``y = W a`` has two kinds of zeros to skip:
the pruned weights (static, ~90%) and the zero activations (dynamic: ~80% of MNIST pixels
are 0, and a ReLU zeroes a good part of every hidden layer). Storing ``W`` column by column
(CSC: for each input ``j``, the rows and values of its nonzero weights) lets the product
visit only the columns whose input is nonzero::

    y = b
    for j with a[j] != 0:                      # dynamic activation sparsity
        for (r, v) in column j of W:           # static weight sparsity
            y[r] += v * a[j]

so a batch-1 layer costs one multiply-add per nonzero weight *in a live column*, instead of
one per weight (dense) or one per nonzero weight (CSR, which must read every ``a[c]``).

At batch 1 a LeNet-300-100 layer is only microseconds of arithmetic, so the fixed costs
matter as much as the loop: every layer of the network (weights, bias, ReLU) is packed into
a handful of flat arrays (:func:`pack_sparse_network`, validated once) and the whole forward
pass is ONE serial ``@njit`` call, with no thread pool to wake and no per-layer dispatch.

For a batch of ``B`` inputs the activations are held transposed, ``A`` (features, B), so a
column's update ``Y[r, :] += v * A[j, :]`` is a contiguous, vectorizable loop over the batch;
a column is skipped when its input is zero for every item of the batch. Skipping is exact:
a skipped column would only add ``v * 0``. (An input of ``inf`` or ``NaN`` is never skipped,
so it propagates as in the dense product; only the pruned weights differ from dense, where
``0 * inf`` would give ``NaN``.)

Public API::

    pack_sparse_network(weights, biases=None, relus=None) -> SparseNetwork
    sparse_network_forward(net, x) -> (B, out)     # checks x, then one Numba call
    sparse_network_reference(net, x)               # the NumPy oracle (dense products)
"""

import numpy as np
from numba import njit

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


class SparseNetwork:
    """A chain of Linear layers (optional bias, optional ReLU) packed in CSC form.

    Layer ``l`` maps ``dims[l]`` inputs to ``dims[l + 1]`` outputs:
    ``a_{l+1} = relu_l(W_l a_l + b_l)``, with ``W_l`` of shape (dims[l + 1], dims[l]).

    Attributes
    ----------
    dims : ndarray, shape (L + 1,), int64
        Layer widths, input first.
    relu : ndarray, shape (L,), bool
        Whether layer ``l`` is followed by a ReLU.
    colptr_offset : ndarray, shape (L,), int64
        Layer ``l``'s column pointers are ``colptr[colptr_offset[l] : colptr_offset[l] + dims[l] + 1]``.
    colptr : ndarray, shape (sum(dims[:-1]) + L,), int64
        Column ``j`` of layer ``l`` owns entries ``colptr[o + j] : colptr[o + j + 1]``
        (``o = colptr_offset[l]``) of ``rows`` and ``values`` (absolute positions).
    rows : ndarray, shape (nnz,), int32
        Output row of each nonzero weight, increasing within a column.
    values : ndarray, shape (nnz,), float32 or float64
    bias : ndarray, shape (sum(dims[1:]),), dtype of ``values``
        All layers' biases end to end (zeros for a layer without bias).
    """

    __slots__ = ("dims", "relu", "colptr_offset", "colptr", "rows", "values", "bias")

    def __init__(self, dims, relu, colptr_offset, colptr, rows, values, bias):
        self.dims, self.relu, self.colptr_offset = dims, relu, colptr_offset
        self.colptr, self.rows, self.values, self.bias = colptr, rows, values, bias

    @property
    def dtype(self):
        return self.values.dtype

    @property
    def nnz(self) -> int:
        return int(self.values.size)

    def to_dense(self):
        """The layers back as ``[(W (out, in), b (out,), relu), ...]`` (dense NumPy arrays)."""
        layers, boff = [], 0
        for i in range(self.dims.size - 1):
            n_in, n_out = int(self.dims[i]), int(self.dims[i + 1])
            ptr = self.colptr[self.colptr_offset[i]: self.colptr_offset[i] + n_in + 1]
            w = np.zeros((n_out, n_in), dtype=self.dtype)
            cols = np.repeat(np.arange(n_in), np.diff(ptr))
            w[self.rows[ptr[0]: ptr[-1]], cols] = self.values[ptr[0]: ptr[-1]]
            layers.append((w, self.bias[boff: boff + n_out].copy(), bool(self.relu[i])))
            boff += n_out
        return layers

    def __repr__(self):
        return f"SparseNetwork(dims={self.dims.tolist()}, nnz={self.nnz}, dtype={self.dtype.name})"


def pack_sparse_network(weights, biases=None, relus=None):
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

    Returns
    -------
    SparseNetwork
        Validated once here, so the forward call only has to check ``x``.
    """
    if isinstance(weights, np.ndarray) or not isinstance(weights, (list, tuple)):
        raise TypeError("weights must be a list or tuple of 2-D arrays (one per layer)")
    n_layers = len(weights)
    if n_layers == 0:
        raise ValueError("weights must hold at least one layer")
    biases = [None] * n_layers if biases is None else list(biases)
    relus = [True] * (n_layers - 1) + [False] if relus is None else [bool(r) for r in relus]
    if len(biases) != n_layers or len(relus) != n_layers:
        raise ValueError(f"got {n_layers} weights, {len(biases)} biases and {len(relus)} relus; "
                         "give one of each per layer")
    dtype = None
    dims = []
    for i, w in enumerate(weights):
        if not isinstance(w, np.ndarray):
            raise TypeError(f"weights[{i}] must be a numpy.ndarray, got {type(w).__name__}")
        if w.dtype not in _FLOATS:
            raise TypeError(f"weights[{i}] must be float32 or float64; got {w.dtype.name}")
        dtype = w.dtype if dtype is None else dtype
        if w.dtype != dtype:
            raise TypeError(f"all weights must share one dtype; weights[0] is {dtype.name}, "
                            f"weights[{i}] is {w.dtype.name}")
        if w.ndim != 2 or 0 in w.shape:
            raise ValueError(f"weights[{i}] must be 2-D (out, in) with both >= 1; got shape {w.shape}")
        if i and w.shape[1] != dims[-1]:
            raise ValueError(f"weights[{i}] takes {w.shape[1]} inputs but layer {i - 1} "
                             f"gives {dims[-1]} outputs")
        if not np.all(np.isfinite(w)):
            raise ValueError(f"weights[{i}] must be finite (no NaN or inf)")
        if i == 0:
            dims.append(w.shape[1])
        dims.append(w.shape[0])
    colptr, rows, values, bias, offsets = [], [], [], [], []
    start = n_ptr = 0
    for i, (w, b) in enumerate(zip(weights, biases)):
        # CSC of W is CSR of W.T: nonzero() of the transpose walks column by column
        cols, r = np.nonzero(w.T)
        ptr = np.zeros(w.shape[1] + 1, dtype=np.int64)
        np.cumsum(np.bincount(cols, minlength=w.shape[1]), out=ptr[1:])
        offsets.append(n_ptr)
        colptr.append(ptr + start)
        rows.append(r.astype(np.int32))
        values.append(w[r, cols])
        start += r.size
        n_ptr += ptr.size
        if b is None:
            bias.append(np.zeros(w.shape[0], dtype=dtype))
            continue
        if not isinstance(b, np.ndarray):
            raise TypeError(f"biases[{i}] must be a numpy.ndarray or None, got {type(b).__name__}")
        if b.dtype != dtype:
            raise TypeError(f"biases[{i}] must have the weights' dtype {dtype.name}; got {b.dtype.name}")
        if b.shape != (w.shape[0],):
            raise ValueError(f"biases[{i}] must have shape ({w.shape[0]},); got {b.shape}")
        bias.append(b)
    return SparseNetwork(
        np.array(dims, dtype=np.int64), np.array(relus, dtype=np.bool_),
        np.array(offsets, dtype=np.int64), np.concatenate(colptr), np.concatenate(rows),
        np.ascontiguousarray(np.concatenate(values), dtype=dtype),
        np.ascontiguousarray(np.concatenate(bias), dtype=dtype))


@njit(cache=True)
def _forward_one(x, dims, relu, colptr_offset, colptr, rows, values, bias, out):
    """Batch 1: ``x`` (in,) -> ``out`` (out,), scalar accumulators, zero inputs skipped."""
    zero = np.zeros(1, dtype=bias.dtype)[0]  # typed: a literal 0 would promote float32 math
    width = dims.max()
    a = np.empty(width, dtype=out.dtype)
    y = np.empty(width, dtype=out.dtype)
    a[: dims[0]] = x
    boff = 0
    for layer in range(dims.shape[0] - 1):
        n_in, n_out = dims[layer], dims[layer + 1]
        o = colptr_offset[layer]
        for i in range(n_out):
            y[i] = bias[boff + i]
        for j in range(n_in):
            aj = a[j]
            if aj != zero:  # EIE: a zero input adds nothing to any output
                for p in range(colptr[o + j], colptr[o + j + 1]):
                    y[rows[p]] += values[p] * aj
        if relu[layer]:
            for i in range(n_out):
                a[i] = max(y[i], zero)
        else:
            a[:n_out] = y[:n_out]
        boff += n_out
    out[:] = a[: dims[-1]]


@njit(cache=True)
def _forward_batch(xt, dims, relu, colptr_offset, colptr, rows, values, bias, out_t):
    """Batch B: ``xt`` (in, B) -> ``out_t`` (out, B); a column is skipped if zero for all B."""
    n_b = xt.shape[1]
    zero = np.zeros(1, dtype=bias.dtype)[0]  # typed: a literal 0 would promote float32 math
    width = dims.max()
    a = np.empty((width, n_b), dtype=out_t.dtype)
    y = np.empty((width, n_b), dtype=out_t.dtype)
    a[: dims[0]] = xt
    boff = 0
    for layer in range(dims.shape[0] - 1):
        n_in, n_out = dims[layer], dims[layer + 1]
        o = colptr_offset[layer]
        for i in range(n_out):
            bi = bias[boff + i]
            for k in range(n_b):
                y[i, k] = bi
        for j in range(n_in):
            live = False
            for k in range(n_b):
                live |= a[j, k] != zero
            if not live:
                continue
            for p in range(colptr[o + j], colptr[o + j + 1]):
                r = rows[p]
                v = values[p]
                for k in range(n_b):  # contiguous rows of y and a: vectorized over the batch
                    y[r, k] += v * a[j, k]
        if relu[layer]:
            for i in range(n_out):
                for k in range(n_b):
                    a[i, k] = max(y[i, k], zero)
        else:
            a[:n_out] = y[:n_out]
        boff += n_out
    out_t[:] = a[: dims[-1]]


def check_input(net, x):
    """``x`` as a C-contiguous (B, dims[0]) array of the network's dtype (else TypeError/ValueError)."""
    if not isinstance(net, SparseNetwork):
        raise TypeError(f"net must be a SparseNetwork (see pack_sparse_network), got {type(net).__name__}")
    if not isinstance(x, np.ndarray):
        raise TypeError(f"x must be a numpy.ndarray, got {type(x).__name__}")
    if x.dtype != net.values.dtype:
        raise TypeError(f"x must have the network's dtype {net.values.dtype.name}; got {x.dtype.name}")
    if x.ndim != 2 or x.shape[1] != net.dims[0]:
        raise ValueError(f"x must have shape (batch, {net.dims[0]}); got {x.shape}")
    return np.ascontiguousarray(x)


def run_checked(net, x):
    """The forward pass on an ``x`` already passed through :func:`check_input` (no checks)."""
    n_b = x.shape[0]
    args = (net.dims, net.relu, net.colptr_offset, net.colptr, net.rows, net.values, net.bias)
    if n_b == 1:
        out = np.empty((1, int(net.dims[-1])), dtype=x.dtype)
        _forward_one(x[0], *args, out[0])
        return out
    out_t = np.empty((int(net.dims[-1]), n_b), dtype=x.dtype)
    if n_b:
        _forward_batch(np.ascontiguousarray(x.T), *args, out_t)
    return out_t.T


def sparse_network_forward(net, x):
    """Run a packed network on a batch: ``relu(... relu(x @ W_0.T + b_0) ...) @ W_L.T + b_L``.

    Parameters
    ----------
    net : SparseNetwork
        From :func:`pack_sparse_network`.
    x : ndarray, shape (B, dims[0]), the network's dtype
        Copied once if not C-contiguous. ``B = 0`` gives an empty (0, dims[-1]) result.

    Returns
    -------
    ndarray, shape (B, dims[-1])
        Equal to :func:`sparse_network_reference` up to float rounding (the sums run in a
        different order: column by column rather than BLAS's blocks).
    """
    return run_checked(net, check_input(net, x))


def sparse_network_reference(net, x):
    """NumPy oracle: the same network with dense products, ``a @ W.T + b`` then ReLU."""
    a = check_input(net, x)
    for w, b, relu in net.to_dense():
        a = a @ w.T + b
        if relu:
            a = np.maximum(a, 0)
    return a


__all__ = [
    "SparseNetwork",
    "check_input",
    "pack_sparse_network",
    "run_checked",
    "sparse_network_forward",
    "sparse_network_reference",
]
