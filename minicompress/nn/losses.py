"""Loss functions. Each returns a scalar ``Tensor`` (the mean over the batch).

| function | inputs | formula |
|---|---|---|
| ``cross_entropy`` | logits (N, C), labels (N,) int | mean_i -log softmax(z_i)[y_i] |
| ``binary_cross_entropy`` | probabilities p, targets y in [0, 1] | mean -(y log p + (1-y) log(1-p)) |
| ``binary_cross_entropy_with_logits`` | logits z, targets y | the same with p = sigmoid(z), computed stably |
| ``soft_cross_entropy`` | logits (N, C), target probabilities (N, C) | mean_i -sum_c q_ic log softmax(z_i)_c |
| ``kl_div`` | student log-probabilities, teacher probabilities | sum q (log q - log p) / N ("batchmean") |
| ``mse`` | a, b | mean (a - b)^2 |
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
    def forward(ctx, logits, labels):
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        n = logits.shape[0]
        ctx.save_for_backward(log_probs, labels)
        return np.asarray(-log_probs[np.arange(n), labels].mean(), dtype=logits.dtype)

    @staticmethod
    def backward(ctx, grad):
        log_probs, labels = ctx.saved_tensors
        n = log_probs.shape[0]
        g = np.exp(log_probs)
        g[np.arange(n), labels] -= 1
        return (g * (grad / n),)


def cross_entropy(logits, labels) -> Tensor:
    """Softmax cross-entropy on logits (N, C) with integer labels (N,)."""
    logits = _tensor(logits)
    if logits.ndim != 2:
        raise InputError(f"cross_entropy expects logits of shape (N, C), got {logits.shape}")
    if logits.shape[0] == 0:
        raise InputError("cross_entropy of an empty batch is undefined")
    labels = check_labels(labels, logits.shape[0], logits.shape[1])
    return _CrossEntropy.apply(logits, labels)


def _check_probabilities(p: np.ndarray, what: str):
    if not np.all(np.isfinite(p)):
        raise InputError(f"{what} contain NaN or inf")
    if p.size and (p.min() < 0 or p.max() > 1):
        raise InputError(f"{what} must lie in [0, 1], got values from {p.min()} to {p.max()}")


def binary_cross_entropy(probs, targets, eps: float = BCE_EPS) -> Tensor:
    """-(y log p + (1 - y) log(1 - p)), averaged; p clipped to [eps, 1 - eps] (see ``BCE_EPS``)."""
    probs = _tensor(probs)
    y = np.asarray(targets.data if isinstance(targets, Tensor) else targets, dtype=probs.dtype)
    if y.shape != probs.shape:
        raise InputError(f"targets shape {y.shape} does not match probabilities shape {probs.shape}")
    _check_probabilities(probs.data, "probabilities")
    _check_probabilities(y, "targets")
    p = probs.clip(eps, 1 - eps)
    return -(y * p.log() + (1 - y) * (1 - p).log()).mean()


class _BCEWithLogits(Function):
    # max(z, 0) - z*y + log(1 + exp(-|z|)): no overflow for any z; the gradient is sigmoid(z) - y.
    @staticmethod
    def forward(ctx, z, y):
        ctx.save_for_backward(z, y)
        loss = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
        return np.asarray(loss.mean(), dtype=z.dtype)

    @staticmethod
    def backward(ctx, grad):
        z, y = ctx.saved_tensors
        sig = np.where(z >= 0, 1 / (1 + np.exp(-np.abs(z))), np.exp(-np.abs(z)) / (1 + np.exp(-np.abs(z))))
        return (grad * (sig - y) / z.size,)


def binary_cross_entropy_with_logits(logits, targets) -> Tensor:
    logits = _tensor(logits)
    y = np.asarray(targets.data if isinstance(targets, Tensor) else targets, dtype=logits.dtype)
    if y.shape != logits.shape:
        raise InputError(f"targets shape {y.shape} does not match logits shape {logits.shape}")
    _check_probabilities(y, "targets")
    return _BCEWithLogits.apply(logits, y)


def soft_cross_entropy(logits, target_probs) -> Tensor:
    """mean_i -sum_c q_ic log softmax(z_i)_c: cross-entropy against a distribution (soft targets)."""
    logits = _tensor(logits)
    q = target_probs.data if isinstance(target_probs, Tensor) else np.asarray(target_probs)
    if q.shape != logits.shape:
        raise InputError(f"target shape {q.shape} does not match logits shape {logits.shape}")
    _check_probabilities(q, "target probabilities")
    return -(F.log_softmax(logits, axis=-1) * q.astype(logits.dtype)).sum(axis=-1).mean()


def kl_div(student_log_probs, teacher_probs) -> Tensor:
    """KL(q || p) with reduction 'batchmean': sum q (log q - log p) / N; 0 log 0 counts as 0."""
    logp = _tensor(student_log_probs)
    q = teacher_probs.data if isinstance(teacher_probs, Tensor) else np.asarray(teacher_probs)
    if q.shape != logp.shape:
        raise InputError(f"teacher shape {q.shape} does not match student shape {logp.shape}")
    _check_probabilities(q, "teacher probabilities")
    q = q.astype(logp.dtype)
    q_log_q = np.where(q > 0, q * np.log(np.where(q > 0, q, 1)), 0).sum()
    n = logp.shape[0] if logp.ndim > 1 else 1
    return (-(logp * q).sum() + q_log_q) / n


def mse(a, b) -> Tensor:
    a = _tensor(a)
    b = b if isinstance(b, Tensor) else Tensor(np.asarray(b, dtype=a.dtype))
    if a.shape != b.shape:
        raise InputError(f"mse: shapes {a.shape} and {b.shape} differ")
    return ((a - b) ** 2).mean()
