"""Loss functions, with PyTorch's names, argument order and ``reduction=``.

Every loss takes ``reduction`` in ``("mean", "sum", "none")`` (``kl_div`` also
``"batchmean"``), as ``torch.nn.functional``: ``"none"`` gives the per-sample losses
(per element for ``kl_div``, ``mse``, the binary losses), ``"mean"`` their mean, ``"sum"``
their sum.

* ``cross_entropy(input, target)``: logits (N, C); target class indices (N,), per sample
  -log softmax(z_i)[y_i], or class probabilities (N, C), -sum_c q_ic log softmax(z_i)_c;
* ``nll_loss(input, target)``: log-probabilities (N, C), the same two kinds of target,
  -log p_i[y_i] or -sum_c q_ic log p_ic;
* ``kl_div(input, target)``: log-probabilities log p, probabilities q; per element
  q (log q - log p), with 0 log 0 = 0;
* ``binary_cross_entropy(input, target)``: probabilities p, targets y in [0, 1]; per element
  -(y log p + (1-y) log(1-p));
* ``binary_cross_entropy_with_logits(input, target)``: the same with p = sigmoid(z), stably;
* ``mse(input, target)``: (a - b)^2 per element (PyTorch's ``mse_loss``).

``kl_div(..., reduction="batchmean")`` (sum / N) is the KL divergence averaged over the batch.

Soft targets are ``cross_entropy`` with class probabilities (as PyTorch since 1.10);
temperatures belong to distillation (:mod:`minicompress.compress.kd_loss`), which builds on
this family, as does the documents' E8 (:func:`minicompress.equations.soft_cross_entropy`).
"""

from __future__ import annotations

import numpy as np

import minicompress.engine.functional as F
from minicompress.engine import Function, Tensor
from minicompress.errors import InputError, InputTypeError

BCE_EPS = 1e-7
"""``binary_cross_entropy`` clips p to [eps, 1 - eps] before the logs, so p = 0 or 1 gives a finite loss."""


def _tensor(x):
    return x if isinstance(x, Tensor) else Tensor(x)


REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction, allowed=REDUCTIONS) -> str:
    if reduction not in allowed:
        raise InputError(f"reduction must be one of {allowed}, got {reduction!r}")
    return reduction


def _reduce(losses: Tensor, reduction: str) -> Tensor:
    """The per-sample ``losses`` reduced as ``reduction`` says (already checked)."""
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses


def check_labels(labels, n: int, num_classes: int) -> np.ndarray:
    """Integer labels of shape (n,) in [0, num_classes); a clear error otherwise."""
    labels = np.asarray(labels.data if isinstance(labels, Tensor) else labels)
    if labels.dtype.kind not in "iu":
        raise InputTypeError(f"labels must be integers, got dtype {labels.dtype}")
    if labels.shape != (n,):
        raise InputError(f"labels must have shape ({n},) to match the logits, got {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise InputError(
            f"labels must be in [0, {num_classes}), got values from {labels.min()} to {labels.max()}"
        )
    return labels


class _CrossEntropy(Function):
    # One fused op: the training hot path, and its gradient is simply softmax - onehot.
    @staticmethod
    def forward(ctx, logits, labels, reduction):
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        n = logits.shape[0]
        ctx.save_for_backward(log_probs, labels)
        ctx.reduction = reduction
        picked = log_probs[np.arange(n), labels]
        if reduction == "none":
            return -picked
        return np.asarray(-picked.mean() if reduction == "mean" else -picked.sum(), dtype=logits.dtype)

    @staticmethod
    def backward(ctx, grad):
        log_probs, labels = ctx.saved_tensors
        n = log_probs.shape[0]
        g = np.exp(log_probs)
        g[np.arange(n), labels] -= 1
        if ctx.reduction == "none":
            return (g * grad[:, None],)
        return (g * (grad / n if ctx.reduction == "mean" else grad),)


def _class_probabilities(target, like: Tensor, what: str):
    """A (N, C) probability target as a Tensor (kept in the graph) or a constant array."""
    if isinstance(target, Tensor):
        q = target
        values = target.data
    else:
        values = np.asarray(target)
        q = values.astype(like.dtype)
    if values.dtype.kind != "f":
        raise InputTypeError(f"{what}: target must be class indices (integers, shape (N,)) or class "
                             f"probabilities (floats, shape (N, C)); got dtype {values.dtype}")
    if values.shape != like.shape:
        raise InputError(f"{what}: a float target is class probabilities and must have the input's shape "
                         f"{like.shape}, got {values.shape} (class indices must be integers)")
    _check_probabilities(values, "target probabilities")
    return q


def _is_class_indices(target) -> bool:
    values = target.data if isinstance(target, Tensor) else np.asarray(target)
    return values.dtype.kind in "iu"


def nll_loss(input, target, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of log-probabilities ``input`` (N, C).

    ``target`` is class indices (N,) -- ``-input[i, y_i]`` per sample, as
    ``torch.nn.functional.nll_loss`` -- or class probabilities (N, C), ``-sum_c q_ic
    input_ic`` per sample (the cross-entropy H(q, p) when ``input`` is log p). A
    class-probability ``Tensor`` target stays differentiable.
    """
    reduction = _check_reduction(reduction)
    logp = _tensor(input)
    if logp.ndim != 2:
        raise InputError(f"nll_loss expects input of shape (N, C), got {logp.shape}")
    if _is_class_indices(target):
        labels = check_labels(target, logp.shape[0], logp.shape[1])
        onehot = np.zeros(logp.shape, dtype=logp.dtype)
        onehot[np.arange(len(labels)), labels] = 1
        return _reduce(-(logp * onehot).sum(axis=1), reduction)
    q = _class_probabilities(target, logp, "nll_loss")
    return _reduce(-(logp * q).sum(axis=1), reduction)


def cross_entropy(input, target, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy of logits ``input`` (N, C), as ``torch.nn.functional.cross_entropy``.

    ``target`` is class indices (N,) (integers) or class probabilities (N, C) (floats, soft
    targets): ``cross_entropy(z, q) == nll_loss(log_softmax(z), q)``.
    """
    reduction = _check_reduction(reduction)
    logits = _tensor(input)
    if logits.ndim != 2:
        raise InputError(f"cross_entropy expects logits of shape (N, C), got {logits.shape}")
    if logits.shape[0] == 0:
        raise InputError("cross_entropy of an empty batch is undefined")
    if not _is_class_indices(target):
        return nll_loss(F.log_softmax(logits, axis=-1), target, reduction)
    labels = check_labels(target, logits.shape[0], logits.shape[1])
    return _CrossEntropy.apply(logits, labels, reduction)


def _check_probabilities(p: np.ndarray, what: str):
    if not np.all(np.isfinite(p)):
        raise InputError(f"{what} contain NaN or inf")
    if p.size and (p.min() < 0 or p.max() > 1):
        raise InputError(f"{what} must lie in [0, 1], got values from {p.min()} to {p.max()}")


def binary_cross_entropy(probs, targets, reduction: str = "mean", *, eps: float = BCE_EPS) -> Tensor:
    """-(y log p + (1 - y) log(1 - p)) per element; p clipped to [eps, 1 - eps] (see ``BCE_EPS``)."""
    reduction = _check_reduction(reduction)
    probs = _tensor(probs)
    y = np.asarray(targets.data if isinstance(targets, Tensor) else targets, dtype=probs.dtype)
    if y.shape != probs.shape:
        raise InputError(f"targets shape {y.shape} does not match probabilities shape {probs.shape}")
    _check_probabilities(probs.data, "probabilities")
    _check_probabilities(y, "targets")
    p = probs.clip(eps, 1 - eps)
    return _reduce(-(y * p.log() + (1 - y) * (1 - p).log()), reduction)


class _BCEWithLogits(Function):
    # max(z, 0) - z*y + log(1 + exp(-|z|)): no overflow for any z; the gradient is sigmoid(z) - y.
    @staticmethod
    def forward(ctx, z, y, reduction):
        ctx.save_for_backward(z, y)
        ctx.reduction = reduction
        loss = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
        if reduction == "none":
            return loss.astype(z.dtype)
        return np.asarray(loss.mean() if reduction == "mean" else loss.sum(), dtype=z.dtype)

    @staticmethod
    def backward(ctx, grad):
        z, y = ctx.saved_tensors
        sig = np.where(z >= 0, 1 / (1 + np.exp(-np.abs(z))), np.exp(-np.abs(z)) / (1 + np.exp(-np.abs(z))))
        if ctx.reduction == "mean":
            return (grad * (sig - y) / z.size,)
        return (grad * (sig - y),)


def binary_cross_entropy_with_logits(logits, targets, reduction: str = "mean") -> Tensor:
    """``binary_cross_entropy(sigmoid(logits), targets)`` computed without overflow, per element."""
    reduction = _check_reduction(reduction)
    logits = _tensor(logits)
    y = np.asarray(targets.data if isinstance(targets, Tensor) else targets, dtype=logits.dtype)
    if y.shape != logits.shape:
        raise InputError(f"targets shape {y.shape} does not match logits shape {logits.shape}")
    _check_probabilities(y, "targets")
    return _BCEWithLogits.apply(logits, y, reduction)


def kl_div(input, target, reduction: str = "mean", log_target: bool = False) -> Tensor:
    """KL divergence terms ``q (log q - input)``, as ``torch.nn.functional.kl_div``.

    Parameters
    ----------
    input : Tensor (N, C)
        Log-probabilities log p (e.g. ``log_softmax`` of the student's logits).
    target : array or Tensor (N, C)
        Probabilities q (a constant), or log q with ``log_target=True``.
    reduction : {"mean", "batchmean", "sum", "none"}
        PyTorch's default ``"mean"`` averages over every *element*, which is not the KL
        divergence; ``"batchmean"`` (sum / N) is KL(q || p) averaged over the batch, what
        distillation uses. ``"none"``: the (N, C) terms (0 log 0 counts as 0).
    """
    reduction = _check_reduction(reduction, (*REDUCTIONS, "batchmean"))
    logp = _tensor(input)
    q = target.data if isinstance(target, Tensor) else np.asarray(target)
    if q.shape != logp.shape:
        raise InputError(f"target shape {q.shape} does not match input shape {logp.shape}")
    if log_target:
        if not np.all(q <= 0) or np.any(np.isnan(q)):
            raise InputError("log_target=True needs log-probabilities (<= 0) as target")
        q = np.exp(q)
    _check_probabilities(q, "target probabilities")
    # q log q is a constant: computed at the target's own precision, then cast
    q_log_q = np.where(q > 0, q * np.log(np.where(q > 0, q, 1)), 0).astype(logp.dtype)
    q = q.astype(logp.dtype)
    if reduction == "none":
        return -(logp * q) + q_log_q
    if reduction == "mean":
        return (-(logp * q).sum() + q_log_q.sum()) / q.size
    n = logp.shape[0] if logp.ndim > 1 else 1
    total = -(logp * q).sum() + q_log_q.sum()
    return total / n if reduction == "batchmean" else total


def mse(input, target, reduction: str = "mean") -> Tensor:
    """(input - target)^2 per element (``torch.nn.functional.mse_loss``)."""
    reduction = _check_reduction(reduction)
    a = _tensor(input)
    b = target if isinstance(target, Tensor) else Tensor(np.asarray(target, dtype=a.dtype))
    if a.shape != b.shape:
        raise InputError(f"mse: shapes {a.shape} and {b.shape} differ")
    return _reduce((a - b) ** 2, reduction)
