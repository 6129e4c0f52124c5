"""k-means weight sharing (Han et al. 2016, "Deep Compression", §3).

Each layer's weights are clustered into k groups; every weight is replaced by its group's
centroid, so the layer stores a small float32 **codebook** (k centroids) and one
log2(k)-bit **index** per weight. Pruned (zero) weights are left out of the clustering
and stay exactly zero.

Clustering is 1-D k-means (Lloyd's algorithm) minimising the within-cluster squared error

.. math:: \\min_{c} \\sum_{i=1}^{k} \\sum_{w \\in C_i} |w - c_i|^2 .

How the centroids start matters (the paper's Figure 4):

* ``"linear"`` -- evenly spaced between the smallest and largest weight, the paper's
  choice: it keeps centroids at the rare large weights, which matter most;
* ``"density"`` -- at evenly spaced quantiles of the weights (dense near zero);
* ``"random"`` -- k distinct weights picked at random (Forgy), seeded.

**Centroid fine-tuning** (§3.2): with weights tied to centroids, the gradient of a
centroid is the sum of the gradients of the weights that share it,

.. math:: \\frac{\\partial L}{\\partial c_k} = \\sum_{i,j} \\frac{\\partial L}{\\partial W_{ij}}\\, 1[I_{ij} = k],

:class:`SharedWeight` is that gather as a differentiable op, and :class:`CentroidOptimizer`
trains the codebooks of a whole model with it inside ``minicompress.training.fit``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from minicompress.engine import Function, Tensor
from minicompress.equations._checks import as_real_array
from minicompress.errors import InputError
from minicompress.nn import Conv2d, Linear, Module, Parameter
from minicompress.optim import Adam
from minicompress.rng import as_generator

INITS = ("linear", "density", "random")


def init_centroids(values: np.ndarray, k: int, init: str = "linear", seed=0) -> np.ndarray:
    """k starting centroids for the 1-D ``values`` (sorted ascending, float64)."""
    if init not in INITS:
        raise InputError(f"unknown centroid init {init!r}; choose one of {INITS}")
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if init == "linear":
        return np.linspace(v.min(), v.max(), k)
    if init == "density":
        return np.quantile(v, (np.arange(k) + 0.5) / k)
    distinct = np.unique(v)
    pick = as_generator(seed).choice(distinct.size, size=min(k, distinct.size), replace=False)
    return np.sort(distinct[pick])


def assign(values: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of the nearest centroid for each value (ties to the lower centroid); centroids sorted.

    The same answer as ``np.argmin(np.abs(values[:, None] - centroids), axis=1)`` (first minimum),
    bit for bit, without its (n, k) matrix: only the two centroids around each value are compared,
    with the same float expression ``|v - c|``. Comparing against precomputed midpoints instead would
    break exact ties the other way whenever ``(c[i] + c[i+1]) / 2`` rounds.
    """
    c = np.asarray(centroids)
    hi = np.clip(np.searchsorted(c, values, side="left"), 0, c.size - 1)
    lo = np.maximum(hi - 1, 0)
    return np.where(np.abs(values - c[lo]) <= np.abs(values - c[hi]), lo, hi)


def kmeans_1d(values, k: int, init: str = "linear", seed=0, max_iter: int = 100, tol: float = 1e-9):
    """Lloyd's k-means on a 1-D array.

    Parameters
    ----------
    values : array_like, shape (n,), n >= 1, finite
    k : int, >= 1
        Number of clusters; fewer come back if there are fewer distinct values.
    init : {"linear", "density", "random"}
    seed : int or Generator (used by "random")
    max_iter : int
    tol : float
        Stop when no centroid moves more than this.

    Returns
    -------
    (centroids, labels)
        centroids float64 sorted ascending, shape (k',); labels int64, shape (n,).
        A cluster that loses all its members is dropped (its index is reused).
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InputError(f"k must be a positive integer; got {k!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise InputError(f"max_iter must be a positive integer; got {max_iter!r}")
    v = as_real_array(values, "values").astype(np.float64).reshape(-1)  # refuses complex, text, NaN
    if v.size == 0:
        raise InputError("values is empty: cannot cluster an empty set of values")
    k = min(int(k), np.unique(v).size)
    c = np.unique(init_centroids(v, k, init, seed))
    for _ in range(max_iter):
        labels = assign(v, c)
        counts = np.bincount(labels, minlength=c.size)
        sums = np.bincount(labels, weights=v, minlength=c.size)
        keep = counts > 0
        new = sums[keep] / counts[keep]
        moved = new.size != c.size or np.max(np.abs(new - c)) > tol
        c = np.sort(new)
        if not moved:
            break
    return c, assign(v, c)


@dataclass
class Clustering:
    """One layer's shared weights.

    Attributes
    ----------
    codebook : ndarray of float32, shape (k,)
    indices : ndarray of int64, shape of the weight; −1 where the weight is pruned (zero)
    """

    codebook: np.ndarray
    indices: np.ndarray

    @property
    def mask(self) -> np.ndarray:
        return self.indices >= 0

    def weights(self) -> np.ndarray:
        """The shared weight matrix: codebook[index], 0 where pruned (float32)."""
        out = self.codebook[np.maximum(self.indices, 0)].astype(np.float32)
        out[~self.mask] = 0.0
        return out


def cluster_weights(w, k: int | None = None, *, bits: int | None = None, init: str = "linear", seed=0,
                    max_iter: int = 100) -> Clustering:
    """k-means weight sharing of one weight array; zeros (pruned weights) are not clustered.

    Parameters
    ----------
    w : ndarray, any shape
    k : int, optional
        Number of centroids.
    bits : int, optional
        Instead of k: k = 2^bits. Give exactly one of ``k`` and ``bits``.
    init : {"linear", "density", "random"}
    seed : int or Generator

    Returns
    -------
    Clustering
    """
    if (k is None) == (bits is None):
        raise InputError("give exactly one of k (number of centroids) and bits (k = 2**bits)")
    if bits is not None:
        if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 16:
            raise InputError(f"bits must be an integer in [1, 16]; got {bits!r}")
        k = 2**int(bits)
    w = as_real_array(w, "w")
    nonzero = w != 0
    if not nonzero.any():
        raise InputError("every weight is zero: nothing to cluster")
    centroids, labels = kmeans_1d(w[nonzero], k, init, seed, max_iter)
    indices = np.full(w.shape, -1, dtype=np.int64)
    indices[nonzero] = labels
    return Clustering(centroids.astype(np.float32), indices)


def weighted_layers(model: Module) -> list[tuple[str, Module]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, (Linear, Conv2d))]


def share_weights(model: Module, bits=5, *, init: str = "linear", seed=0,
                  reserve_zero: bool = True) -> dict[str, Clustering]:
    """Cluster every Linear/Conv2d weight of ``model`` in place; return ``{layer name: Clustering}``.

    Parameters
    ----------
    model : Module
        Its weights are replaced by the shared values (pruning masks are respected: a
        masked weight is zero and stays out of the clustering).
    bits : int or dict
        Index bits per layer: one int for all, or ``{layer name: bits}`` (e.g. fewer bits for
        fully connected layers).
    init : {"linear", "density", "random"}
    seed : int
    reserve_zero : bool
        For a pruned layer, use k = 2^bits − 1 centroids so that the indices *and* the
        zero (pruned weights, filler zeros of the sparse format) fit in ``bits`` bits;
        otherwise k = 2^bits.
    """
    layers = weighted_layers(model)
    if not layers:
        raise InputError("the model has no Linear or Conv2d layer to cluster")
    if isinstance(bits, dict):
        unknown = set(bits) - {n for n, _ in layers}
        if unknown:
            raise InputError(f"bits names unknown layers {sorted(unknown)}; layers are {[n for n, _ in layers]}")
    out = {}
    for i, (name, layer) in enumerate(layers):
        b = bits.get(name, 5) if isinstance(bits, dict) else bits
        if isinstance(b, bool) or not isinstance(b, (int, np.integer)) or not 1 <= b <= 8:
            raise InputError(f"bits for layer {name!r} must be an integer in [1, 8]; got {b!r}")
        w = layer.effective("weight").data
        k = 2**int(b) - 1 if reserve_zero and np.any(w == 0) else 2**int(b)
        cl = cluster_weights(w, max(k, 1), init=init, seed=int(seed) + i)
        layer.weight.data = cl.weights().astype(layer.weight.dtype)
        out[name] = cl
    return out


class SharedWeight(Function):
    """W = codebook[indices] (0 where index is −1); ∂L/∂c_k = Σ ∂L/∂W over the weights with index k.

    forward(ctx, codebook (k,), indices int array) -> array of indices' shape.
    """

    @staticmethod
    def forward(ctx, codebook, indices):
        ctx.indices, ctx.k = indices, codebook.shape[0]
        out = codebook[np.maximum(indices, 0)]
        return np.where(indices >= 0, out, 0).astype(codebook.dtype)

    @staticmethod
    def backward(ctx, grad):
        members = ctx.indices >= 0
        g = np.bincount(ctx.indices[members], weights=grad[members], minlength=ctx.k)
        return (g.astype(grad.dtype),)


def shared_weight(codebook: Tensor, indices: np.ndarray) -> Tensor:
    """Gather the shared weight matrix from a codebook Tensor (differentiable in the codebook)."""
    return SharedWeight.apply(codebook, np.asarray(indices))


class CentroidOptimizer:
    """Fine-tune the codebooks (and the biases) of a clustered model inside ``fit``.

    After each backward pass every layer's weight gradient is summed per cluster
    (:class:`SharedWeight`'s backward), Adam updates the centroids, and the weights are
    rewritten as codebook[index], so they stay shared. Biases are trained as usual.

    Parameters
    ----------
    model : Module
    clusterings : dict from :func:`share_weights`
    lr : float
        Adam learning rate for centroids and biases.
    """

    def __init__(self, model: Module, clusterings: dict[str, Clustering], lr: float = 1e-4):
        self.model = model
        self.layers = []
        for name, cl in clusterings.items():
            layer = model.get_submodule(name)
            if layer.weight.shape != cl.indices.shape:
                raise InputError(f"layer {name!r}: weight {layer.weight.shape} does not match its clustering "
                                 f"{cl.indices.shape}")
            self.layers.append((layer, cl, Parameter(cl.codebook.astype(np.float32))))
        biases = [m.bias for _, m in weighted_layers(model) if m.bias is not None]
        self.inner = Adam([c for _, _, c in self.layers] + biases, lr=lr)

    def zero_grad(self):
        self.model.zero_grad()
        self.inner.zero_grad()

    def step(self):
        for layer, cl, codebook in self.layers:
            if layer.weight.grad is None:
                continue
            members = cl.mask
            codebook.grad = np.bincount(cl.indices[members], weights=layer.weight.grad[members],
                                        minlength=codebook.size).astype(np.float32)
        self.inner.step()
        for layer, cl, codebook in self.layers:
            cl.codebook = codebook.data.copy()
            layer.weight.data = cl.weights().astype(layer.weight.dtype)


def update_centroids(values, labels, centroids) -> np.ndarray:
    """One k-means update step: each centroid becomes the mean of the values assigned to it.

    ``new[k] = mean(values[labels == k])``; a centroid with no values keeps its old value (the
    mean of nothing is undefined). This is the step MIT 6.5940's ``update_codebook`` performs
    after fine-tuning, so the codebook follows the trained weights.

    Parameters
    ----------
    values : array_like, any shape (flattened)
    labels : array_like of int in [0, k), same number of elements as ``values``
    centroids : array_like, shape (k,)

    Returns
    -------
    ndarray of float64, shape (k,)
    """
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    lab = np.asarray(labels).reshape(-1)
    c = np.asarray(centroids, dtype=np.float64).reshape(-1)
    if lab.size != v.size:
        raise InputError(f"{lab.size} labels for {v.size} values")
    if lab.size and (lab.dtype.kind not in "iu" or lab.min() < 0 or lab.max() >= c.size):
        raise InputError(f"labels must be integers in [0, {c.size})")
    counts = np.bincount(lab, minlength=c.size)
    sums = np.bincount(lab, weights=v, minlength=c.size)
    return np.where(counts > 0, sums / np.maximum(counts, 1), c)


def weight_sharing_compression_rate(n: int, k: int, b: int = 32) -> float:
    """Deep Compression's rate for weight sharing (Han et al. 2016, §3): ``r = n b / (n log2(k) + k b)``.

    ``n`` weights of ``b`` bits each become one ``log2(k)``-bit index per weight plus a codebook
    of ``k`` values of ``b`` bits (log2 as written in the paper, not rounded up).
    """
    for val, what in ((n, "n"), (k, "k"), (b, "b")):
        if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val < 1:
            raise InputError(f"{what} must be a positive integer, got {val!r}")
    return float(n * b / (n * np.log2(k) + k * b))
