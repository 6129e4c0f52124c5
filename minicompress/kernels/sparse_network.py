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

    Layer ``l`` computes ``a_{l+1} = relu_l(W_l a_l + b_l)`` with ``W_l`` of shape
    (out_l, in_l) and ``in_{l+1} = out_l``. Build it with :func:`pack_sparse_network`.

    Attributes
    ----------
    layers : ndarray, shape (L, 6), int64
        One row per layer: ``(in_l, out_l, colptr_start, bias_start, relu, order_start)``;
        a single small table so the Numba call takes few arguments (each costs ~0.1 us).
    order : ndarray, shape (sum_l in_l,), int64
        The columns of each layer are stored longest first: stored column ``i`` of layer
        ``l`` is input ``order[order_start + i]``. Consecutive live columns then have similar
        lengths, so the inner loop's exit branch is mispredicted less often (a mispredict per
        column was a third of the batch-1 time; this ordering saved ~15%).
    colptr : ndarray, shape (sum_l (in_l + 1),), int64
        Stored column ``i`` of layer ``l`` owns entries ``colptr[s + i] : colptr[s + i + 1]``
        of ``rows`` and ``values`` (``s = colptr_start``; positions are absolute).
    rows : ndarray, shape (nnz,), uint32
        Output row of each nonzero weight, increasing within a column (unsigned, so Numba
        skips its negative-index wraparound test in the inner loop).
    values : ndarray, shape (nnz,), float32 or float64
    bias : ndarray, shape (sum_l out_l,), dtype of ``values``
        Layer ``l``'s bias is ``bias[bias_start : bias_start + out_l]`` (zeros if it had none).
    """

    __slots__ = ("layers", "order", "colptr", "rows", "values", "bias", "n_in", "n_out")

    def __init__(self, layers, order, colptr, rows, values, bias):
        self.layers, self.order, self.colptr = layers, order, colptr
        self.rows, self.values, self.bias = rows, values, bias
        # plain ints for the per-call shape check (indexing ``layers`` costs ~0.1 us)
        self.n_in, self.n_out = int(layers[0, 0]), int(layers[-1, 1])

    @property
    def dims(self):
        """Layer widths, input first: ``(in_0, out_0, out_1, ..., out_{L-1})``."""
        return (int(self.layers[0, 0]),) + tuple(int(n) for n in self.layers[:, 1])

    @property
    def dtype(self):
        return self.values.dtype

    @property
    def nnz(self) -> int:
        return int(self.values.size)

    def to_dense(self):
        """The layers back as ``[(W (out, in), b (out,), relu), ...]`` (dense NumPy arrays)."""
        layers = []
        for n_in, n_out, start, b0, relu, o in self.layers.tolist():
            ptr = self.colptr[start: start + n_in + 1]
            w = np.zeros((n_out, n_in), dtype=self.dtype)
            cols = np.repeat(self.order[o: o + n_in], np.diff(ptr))
            w[self.rows[ptr[0]: ptr[-1]], cols] = self.values[ptr[0]: ptr[-1]]
            layers.append((w, self.bias[b0: b0 + n_out].copy(), bool(relu)))
        return layers

    def __repr__(self):
        return f"SparseNetwork(dims={list(self.dims)}, nnz={self.nnz}, dtype={self.dtype.name})"


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
    table, order, colptr, rows, values, bias = [], [], [], [], [], []
    start = n_ptr = b0 = n_order = 0
    for i, (w, b) in enumerate(zip(weights, biases)):
        if b is None:
            b = np.zeros(w.shape[0], dtype=dtype)
        elif not isinstance(b, np.ndarray):
            raise TypeError(f"biases[{i}] must be a numpy.ndarray or None, got {type(b).__name__}")
        elif b.dtype != dtype:
            raise TypeError(f"biases[{i}] must have the weights' dtype {dtype.name}; got {b.dtype.name}")
        elif b.shape != (w.shape[0],):
            raise ValueError(f"biases[{i}] must have shape ({w.shape[0]},); got {b.shape}")
        perm = np.argsort(-np.count_nonzero(w, axis=0), kind="stable")  # longest column first
        # CSC of W is CSR of W.T: nonzero() of the transpose walks column by column
        cols, r = np.nonzero(w.T[perm])
        ptr = np.zeros(w.shape[1] + 1, dtype=np.int64)
        np.cumsum(np.bincount(cols, minlength=w.shape[1]), out=ptr[1:])
        table.append((w.shape[1], w.shape[0], n_ptr, b0, int(relus[i]), n_order))
        order.append(perm.astype(np.int64))
        colptr.append(ptr + start)
        rows.append(r.astype(np.uint32))
        values.append(w[r, perm[cols]])
        bias.append(b)
        start += r.size
        n_ptr += ptr.size
        n_order += w.shape[1]
        b0 += w.shape[0]
    return SparseNetwork(
        np.array(table, dtype=np.int64), np.concatenate(order), np.concatenate(colptr),
        np.concatenate(rows),
        np.ascontiguousarray(np.concatenate(values), dtype=dtype),
        np.ascontiguousarray(np.concatenate(bias), dtype=dtype))


@njit(cache=True)
def _forward_one(x, layers, order, colptr, rows, values, bias):
    """Batch 1: ``x`` (1, in) -> (1, out), zero inputs skipped."""
    zero = np.zeros(1, dtype=values.dtype)[0]  # typed: a literal 0 would promote float32 to float64
    width = 0
    for layer in range(layers.shape[0]):
        width = max(width, layers[layer, 0], layers[layer, 1])
    a = np.empty(width, dtype=values.dtype)
    y = np.empty(width, dtype=values.dtype)
    live = np.empty(width, dtype=np.int64)
    a[: layers[0, 0]] = x[0]
    for layer in range(layers.shape[0]):
        n_in, n_out, c0, b0 = layers[layer, 0], layers[layer, 1], layers[layer, 2], layers[layer, 3]
        relu, o0 = layers[layer, 4] != 0, layers[layer, 5]
        for i in range(n_out):
            y[i] = bias[b0 + i]
        # list the stored columns whose input is nonzero, without a branch ("if a[j] != 0"
        # around the loop below mispredicts on every irregular pixel)
        n_live = 0
        for i in range(n_in):
            live[n_live] = i
            n_live += a[order[o0 + i]] != zero
        for k in range(n_live):
            i = live[k]
            aj = a[order[o0 + i]]
            for p in range(colptr[c0 + i], colptr[c0 + i + 1]):
                y[rows[p]] += values[p] * aj
        for i in range(n_out):
            a[i] = max(y[i], zero) if relu else y[i]
    out = np.empty((1, layers[-1, 1]), dtype=values.dtype)
    out[0] = a[: layers[-1, 1]]
    return out


@njit(cache=True)
def _forward_batch(xt, layers, order, colptr, rows, values, bias):
    """Batch B: ``xt`` (in, B) -> (out, B); a column is skipped if its input is zero for all B."""
    n_b = xt.shape[1]
    zero = np.zeros(1, dtype=values.dtype)[0]
    width = 0
    for layer in range(layers.shape[0]):
        width = max(width, layers[layer, 0], layers[layer, 1])
    a = np.empty((width, n_b), dtype=values.dtype)
    y = np.empty((width, n_b), dtype=values.dtype)
    a[: layers[0, 0]] = xt
    for layer in range(layers.shape[0]):
        n_in, n_out, c0, b0 = layers[layer, 0], layers[layer, 1], layers[layer, 2], layers[layer, 3]
        relu, o0 = layers[layer, 4] != 0, layers[layer, 5]
        for i in range(n_out):
            bi = bias[b0 + i]
            for k in range(n_b):
                y[i, k] = bi
        for i in range(n_in):
            j = order[o0 + i]
            live = False
            for k in range(n_b):
                live |= a[j, k] != zero
            if not live:
                continue
            for p in range(colptr[c0 + i], colptr[c0 + i + 1]):
                r = rows[p]
                v = values[p]
                for k in range(n_b):  # contiguous rows of y and a: vectorized over the batch
                    y[r, k] += v * a[j, k]
        for i in range(n_out):
            for k in range(n_b):
                a[i, k] = max(y[i, k], zero) if relu else y[i, k]
    return a[: layers[-1, 1]].copy()


def check_network_input(net, x):
    """``x`` as a C-contiguous (B, in_0) array of the network's dtype (else TypeError/ValueError)."""
    if not isinstance(net, SparseNetwork):
        raise TypeError(f"net must be a SparseNetwork (see pack_sparse_network), got {type(net).__name__}")
    if not isinstance(x, np.ndarray):
        raise TypeError(f"x must be a numpy.ndarray, got {type(x).__name__}")
    if x.dtype != net.values.dtype:
        raise TypeError(f"x must have the network's dtype {net.values.dtype.name}; got {x.dtype.name}")
    if x.ndim != 2 or x.shape[1] != net.n_in:
        raise ValueError(f"x must have shape (batch, {net.n_in}); got {x.shape}")
    return np.ascontiguousarray(x)


def run_network_unchecked(net, x):
    """The forward pass of an ``x`` returned by :func:`check_network_input` (the hot path: no checks).

    Batch 1 runs the scalar kernel; a larger batch runs the batch kernel on ``x.T``.
    """
    if x.shape[0] == 1:
        return _forward_one(x, net.layers, net.order, net.colptr, net.rows, net.values, net.bias)
    if x.shape[0] == 0:
        return np.empty((0, net.n_out), dtype=x.dtype)
    return _forward_batch(np.ascontiguousarray(x.T), net.layers, net.order, net.colptr, net.rows,
                          net.values, net.bias).T


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
