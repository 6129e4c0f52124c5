"""Sparse inference for pruned Linear layers: the forward pass on the nonzero weights only.

:class:`SparseInference` runs a model of Flatten / Linear / ReLU / Dropout layers on NumPy
arrays on the nonzero weights only: a small batch as one fused Numba call that also skips
zero activations (:mod:`minicompress.kernels.sparse_network`, after EIE), a large batch
through the parallel CSR kernel :func:`minicompress.kernels.csr_linear` layer by layer.
:class:`DenseInference` is the same model through NumPy's dense ``x @ W.T + b``, the
baseline ``benchmarks/sparse.py`` compares against. How a pruned matrix is *stored* is
:mod:`.relative_csr`.

Public API::

    SparseInference.from_model(model, fused_max_batch=FUSED_MAX_BATCH), .path(batch), .network
    DenseInference.from_model(model)
"""

from __future__ import annotations

import numpy as np

from minicompress.errors import InputError, InputTypeError
from minicompress.kernels import check_network_input, csr_linear, pack_sparse_network, run_network_unchecked, to_csr
from minicompress.nn import Dropout, Flatten, Linear, Module, ReLU, Sequential


def _plan(model: Module):
    if not isinstance(model, Sequential):
        raise InputTypeError(f"inference plans take a Sequential model, got {type(model).__name__}")
    steps = []
    for i, layer in enumerate(model):
        if isinstance(layer, Linear):
            w = layer.effective("weight").data
            b = None if layer.bias is None else layer.bias.data
            steps.append(("linear", w, b))
        elif isinstance(layer, ReLU):
            steps.append(("relu",))
        elif isinstance(layer, Flatten):
            steps.append(("flatten",))
        elif isinstance(layer, Dropout):
            continue  # identity at inference
        else:
            raise InputTypeError(f"layer {i} is {type(layer).__name__}; sparse inference handles "
                            "Linear, ReLU, Flatten and Dropout only")
    return steps


class DenseInference:
    """The model's forward pass in plain NumPy: ``x @ W.T + b`` per Linear (the baseline)."""

    def __init__(self, steps):
        self.steps = [(s[0], np.ascontiguousarray(s[1]), s[2]) if s[0] == "linear" else s
                      for s in steps]

    @classmethod
    def from_model(cls, model: Module) -> DenseInference:
        return cls(_plan(model))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """x (N, ...) float32 -> logits (N, out)."""
        for step in self.steps:
            if step[0] == "linear":
                x = x @ step[1].T
                if step[2] is not None:
                    x = x + step[2]
            elif step[0] == "relu":
                x = np.maximum(x, 0)
            else:
                x = x.reshape(x.shape[0], -1)
        return x


#: Batches up to this size run the fused network (one serial Numba call, zero inputs skipped);
#: larger batches run the row-parallel CSR kernel layer by layer. Measured with
#: ``python benchmarks/sparse.py --sparsities 0.9 --batches 1 64 256 1024 4096`` on 2 shared
#: cores: the fused path was faster than the CSR path at every batch up to 1024 with one
#: thread (1024: 2.7 vs 3.7 ms) and tied with the 2-thread CSR path at 1024. Beyond that the
#: CSR path is kept because it is the one that can use more cores.
FUSED_MAX_BATCH = 1024


def _chain(steps):
    """``(weights, biases, relus, flatten_first)`` if ``steps`` is a Linear/ReLU chain, else None.

    A Flatten before the first Linear flattens the input; one after it is the identity (the
    activations are already (N, features)); a ReLU right after a ReLU changes nothing.
    """
    weights, biases, relus, flatten_first = [], [], [], False
    for step in steps:
        if step[0] == "linear":
            weights.append(step[1])
            biases.append(step[2])
            relus.append(False)
        elif step[0] == "relu":
            if not weights:
                return None
            relus[-1] = True
        elif not weights:
            flatten_first = True
    return (weights, biases, relus, flatten_first) if weights else None


class SparseInference:
    """The model's forward pass on the nonzero weights only, by one of two Numba paths.

    * **small batches** (``N <= fused_max_batch``): the whole network as ONE call of
      :func:`minicompress.kernels.sparse_network_forward`. The first layer is stored column
      by column (CSC) and a column is visited only when its input is nonzero, as in EIE
      (Han et al. 2016): ~80% of MNIST pixels are zero, so a batch-1 LeNet-300-100 at 90%
      sparsity does ~4,300 multiply-adds in its first layer instead of 23,520 (CSR) or
      235,200 (dense); the hidden layers use a padded row layout that vectorizes. One serial
      call also avoids per-layer dispatch and thread wake-up, which at batch 1 cost more
      than the arithmetic.
    * **large batches**: each Linear as :func:`minicompress.kernels.csr_linear`, parallel over
      output rows, vectorized over the batch (one multiply-add per nonzero and batch item).

    Both are converted once here; fillers are never stored (they only matter for the byte
    count of :class:`RelativeCSR`). A model that is not a plain Linear/ReLU chain (for
    example a ReLU before the first Linear) always takes the CSR path.

    Parameters
    ----------
    steps : list
        From ``_plan(model)``; use :meth:`from_model`.
    fused_max_batch : int >= 0
        Largest batch run by the fused path (0: always CSR). Default :data:`FUSED_MAX_BATCH`.
    """

    def __init__(self, steps, fused_max_batch: int = FUSED_MAX_BATCH):
        if isinstance(fused_max_batch, (bool, np.bool_)) or not isinstance(fused_max_batch, (int, np.integer)):
            raise InputTypeError(f"fused_max_batch must be an integer, got {type(fused_max_batch).__name__}")
        if fused_max_batch < 0:
            raise InputError(f"fused_max_batch must be >= 0, got {fused_max_batch}")
        self.fused_max_batch = int(fused_max_batch)
        self.steps = []
        for s in steps:
            if s[0] == "linear":
                w, b = s[1], s[2]
                indptr, indices, values = to_csr(np.ascontiguousarray(w))
                self.steps.append(("linear", (indptr, indices, values), b))
            else:
                self.steps.append(s)
        chain = _chain(steps)
        self.network = None
        if chain is not None:
            weights, biases, relus, self._flatten_first = chain
            # validated once here, so the per-call cost is one input check and one Numba call
            self.network = pack_sparse_network([np.ascontiguousarray(w) for w in weights], biases, relus)
        self._dtype = next(s[1][2].dtype for s in self.steps if s[0] == "linear")

    @classmethod
    def from_model(cls, model: Module, fused_max_batch: int = FUSED_MAX_BATCH) -> SparseInference:
        return cls(_plan(model), fused_max_batch)

    def nnz(self) -> int:
        return int(sum(s[1][2].size for s in self.steps if s[0] == "linear"))

    def path(self, batch: int) -> str:
        """``"fused"`` or ``"csr"``: the path a batch of this size takes."""
        return "fused" if self.network is not None and batch <= self.fused_max_batch else "csr"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """x (N, ...) float -> logits (N, out); equal to ``DenseInference`` up to rounding."""
        if not isinstance(x, np.ndarray) or x.ndim < 2:
            raise InputTypeError(f"x must be a numpy.ndarray of shape (N, ...), got {type(x).__name__} "
                            f"{getattr(x, 'shape', '')}")
        net = self.network
        if net is not None and len(x) <= self.fused_max_batch:
            # at batch 1 the whole call is ~5 us, so each avoidable NumPy call here matters
            if self._flatten_first and x.ndim != 2:
                x = x.reshape(len(x), -1)
            if x.dtype != self._dtype:
                x = x.astype(self._dtype)
            return run_network_unchecked(net, check_network_input(net, x))
        return self._csr(x)

    def _csr(self, x):
        """One CSR kernel call per Linear; a Linear followed by a ReLU is one fused call."""
        steps, i = self.steps, 0
        while i < len(steps):
            step = steps[i]
            if step[0] == "linear":
                indptr, indices, values = step[1]
                relu = i + 1 < len(steps) and steps[i + 1][0] == "relu"
                x = csr_linear(np.ascontiguousarray(x, dtype=values.dtype), indptr, indices,
                               values, step[2], relu=relu)
                i += 2 if relu else 1
                continue
            x = np.maximum(x, 0) if step[0] == "relu" else x.reshape(x.shape[0], -1)
            i += 1
        return x


__all__ = ["FUSED_MAX_BATCH", "DenseInference", "SparseInference"]
