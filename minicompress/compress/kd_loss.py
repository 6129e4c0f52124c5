"""Distillation losses: Hinton's temperature loss, on the loss family of ``minicompress.nn.losses``.

The documents' versions sit beside this in ``minicompress.equations``: E7
(``distillation_bce_as_written``, doc 000 §3.3) is a binary
cross-entropy on hard labels in which the teacher never appears, and E8
(``soft_cross_entropy``, doc 002 §3; both in ``docs/documents.md``) is the cross-entropy
between two softmax outputs at temperature 1. What practice uses is Hinton, Vinyals
& Dean 2015, "Distilling the knowledge in a neural network":

.. math::

    q = \\mathrm{softmax}(z_T / T), \\qquad p = \\mathrm{softmax}(z_S / T)

    L = \\alpha\\, T^2\\, \\mathrm{KL}(q \\,\\|\\, p) + (1 - \\alpha)\\, \\mathrm{CE}(z_S, y)

* The temperature T > 1 flattens the teacher's distribution, so the "dark knowledge"
  (a 4 looks a bit like a 9) carries gradient. It is applied in one place:
  :func:`soften` (the teacher's probabilities) and :func:`log_soften` (the student's
  log-probabilities).
* The soft term's gradient with respect to z_S is (p - q) / T, so it shrinks like 1/T;
  the T² factor restores its size, and changing T does not silently re-weight alpha.
* KL is ``minicompress.nn.losses.kl_div(log p, q, reduction="batchmean")``, as
  ``torch.nn.functional.kl_div``. KL(q‖p) and the soft cross-entropy H(q, p) =
  ``cross_entropy(z_S / T, q)`` differ by the teacher's entropy, a constant, so their
  gradients are identical.

An unlabeled *transfer set* gets the soft term alone: the teacher is the only label
(:data:`UNLABELED` rows of :func:`kd_loss_from_targets`). The training routine is
:mod:`minicompress.compress.distill`.
"""

from __future__ import annotations

import numpy as np

import minicompress.engine.functional as F
from minicompress.engine import Tensor
from minicompress.equations._checks import as_real_array
from minicompress.equations.distillation import distillation_bce_as_written
from minicompress.errors import InputError, InputTypeError
from minicompress.nn.losses import check_labels, kl_div, nll_loss

__all__ = [
    "UNLABELED", "check_alpha", "check_temperature", "e7_one_vs_rest", "kd_loss", "kd_loss_from_targets",
    "log_soften", "soften",
]

UNLABELED = -1
"""The label :func:`kd_loss_from_targets` reads as "no label": the row gets the soft term only."""


# ------------------------------------------------------------------ argument checks
def check_temperature(T) -> float:
    """T as a float; ``ValueError`` unless it is a finite number > 0."""
    if isinstance(T, bool) or not isinstance(T, (int, float, np.integer, np.floating)):
        raise InputTypeError(f"temperature T must be a number, got {type(T).__name__}")
    if not np.isfinite(T) or T <= 0:
        raise InputError(f"temperature T must be a finite number > 0 (T = 1 is a plain softmax), got {T}")
    return float(T)


def check_alpha(alpha) -> float:
    """alpha as a float; ``ValueError`` unless 0 <= alpha <= 1."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.integer, np.floating)):
        raise InputTypeError(f"alpha must be a number, got {type(alpha).__name__}")
    if not (0.0 <= alpha <= 1.0):
        raise InputError(
            f"alpha must be in [0, 1] (the weight of the soft term; 1 - alpha weighs the labels), got {alpha}"
        )
    return float(alpha)


# ------------------------------------------------------------------ the temperature
def soften(logits, T: float = 1.0) -> np.ndarray:
    """softmax(z / T) row by row, in float64.

    Parameters
    ----------
    logits : ndarray or Tensor, shape (N, C)
    T : float > 0

    Returns
    -------
    ndarray, float64, shape (N, C); each row sums to 1.
    """
    T = check_temperature(T)
    z = as_real_array(logits, "logits").astype(np.float64)  # refuses NaN, inf, complex, text
    if z.ndim != 2:
        raise InputError(f"logits must have shape (N, C), got {z.shape}")
    z = z / T
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def log_soften(logits: Tensor, T: float = 1.0) -> Tensor:
    """log softmax(z / T) row by row, differentiable: the student's side of :func:`soften`.

    Parameters
    ----------
    logits : Tensor, shape (N, C)
    T : float > 0
    """
    return F.log_softmax(logits / check_temperature(T), axis=1)


# ------------------------------------------------------------------ losses
def _logits(student_logits) -> Tensor:
    z = student_logits if isinstance(student_logits, Tensor) else Tensor(student_logits)
    if z.ndim != 2 or z.shape[0] == 0:
        raise InputError(f"student logits must have shape (N, C) with N >= 1, got {z.shape}")
    return z


def _targets(q, like: Tensor) -> np.ndarray:
    q = np.asarray(q.data if isinstance(q, Tensor) else q, dtype=np.float64)
    if q.shape != like.shape:
        raise InputError(
            f"teacher targets have shape {q.shape} but the student's logits have shape {like.shape}; "
            "teacher and student must have the same number of outputs"
        )
    if not np.all(np.isfinite(q)) or q.min() < 0 or q.max() > 1:
        raise InputError("teacher targets must be probabilities in [0, 1] (use soften(logits, T))")
    return q


def kd_loss_from_targets(student_logits, teacher_probs, labels=None, T: float = 4.0,
                         alpha: float = 0.9) -> Tensor:
    """Hinton's loss against precomputed soft targets, with some rows unlabeled.

    For each row i, with p_i = softmax(z_i / T) and q_i the teacher's softened output:

    .. math::

        \\ell_i = \\begin{cases}
            \\alpha T^2 \\mathrm{KL}(q_i\\|p_i) + (1-\\alpha)(-\\log \\mathrm{softmax}(z_i)_{y_i})
                & y_i \\ne -1 \\text{ (labeled)} \\\\
            T^2 \\mathrm{KL}(q_i\\|p_i) & y_i = -1 \\text{ (transfer set: the teacher is the only label)}
        \\end{cases}
        \\qquad L = \\frac{1}{N}\\sum_i \\ell_i

    With every row labeled this is exactly
    ``alpha * T**2 * kl_div(log_softmax(z/T), q) + (1 - alpha) * cross_entropy(z, y)``
    (KL with "batchmean"); with ``labels=None`` it is ``T**2 * KL`` alone.

    Parameters
    ----------
    student_logits : Tensor, shape (N, C)
    teacher_probs : ndarray, shape (N, C)
        softmax(teacher logits / T), e.g. from ``minicompress.compress.distill.soft_targets``.
    labels : ndarray of int, shape (N,), or None
        Class indices, ``UNLABELED`` (-1) for rows without a label; None: no labels.
    T : float > 0
    alpha : float in [0, 1]

    Returns
    -------
    Tensor, scalar
    """
    T, alpha = check_temperature(T), check_alpha(alpha)
    z = _logits(student_logits)
    n, c = z.shape
    q = _targets(teacher_probs, z)
    soft_rows = kl_div(log_soften(z, T), q, reduction="none").sum(axis=1) * (T * T)
    if labels is None:
        return soft_rows.mean()
    labels = np.asarray(labels.data if isinstance(labels, Tensor) else labels)
    if labels.dtype.kind not in "iu":
        raise InputTypeError(f"labels must be integers (-1 = unlabeled), got dtype {labels.dtype}")
    labeled = labels != UNLABELED
    check_labels(np.where(labeled, labels, 0), n, c)
    # Constant per-row weights keep this one differentiable expression for any mix of rows.
    w_soft = np.where(labeled, alpha, 1.0).astype(z.dtype)
    onehot = np.zeros((n, c), dtype=z.dtype)
    onehot[np.flatnonzero(labeled), labels[labeled]] = 1.0 - alpha
    hard_rows = nll_loss(F.log_softmax(z, axis=1), onehot, reduction="none")
    return (soft_rows * w_soft + hard_rows).mean()


def kd_loss(student_logits, teacher_logits, labels=None, T: float = 4.0, alpha: float = 0.9) -> Tensor:
    """Hinton et al. 2015 knowledge-distillation loss from the teacher's logits.

    .. math:: L = \\alpha T^2 \\mathrm{KL}(\\mathrm{softmax}(z_T/T) \\| \\mathrm{softmax}(z_S/T))
              + (1-\\alpha)\\,\\mathrm{CE}(z_S, y)

    KL is summed over classes and averaged over the N samples ("batchmean"). The teacher's
    logits are a constant (no gradient flows into the teacher).

    Parameters
    ----------
    student_logits : Tensor, shape (N, C)
    teacher_logits : ndarray or Tensor, shape (N, C)
    labels : ndarray of int, shape (N,), or None
        None: the soft term alone (alpha is then irrelevant). -1 marks an unlabeled row.
    T : float > 0
        Temperature; Hinton et al. use 1-20, 4 is common on MNIST.
    alpha : float in [0, 1]
        Weight of the soft term.

    Returns
    -------
    Tensor, scalar
    """
    z = _logits(student_logits)
    t = np.asarray(teacher_logits.data if isinstance(teacher_logits, Tensor) else teacher_logits)
    if t.shape != z.shape:
        raise InputError(
            f"teacher logits have shape {t.shape} but the student's have shape {z.shape}; "
            "teacher and student must have the same number of outputs"
        )
    return kd_loss_from_targets(z, soften(t, T), labels, T, alpha)


def e7_one_vs_rest(student_logits, labels) -> Tensor:
    """E7 as written, applied to a C-class student: BCE of its softmax against one-hot labels.

    .. math:: L = -\\frac{1}{NC}\\sum_{i,c} [y_{ic}\\log\\hat y_{ic} + (1-y_{ic})\\log(1-\\hat y_{ic})],
              \\quad \\hat y_i = \\mathrm{softmax}(z_i),\\ y_i = \\mathrm{onehot}(label_i)

    doc 000 §3.3 writes E7 for one output ŷᵢ and a label yᵢ ∈ {0, 1}. The reading used here
    (and in ``benchmarks/distillation.py``): every one of the C softmax outputs is a
    one-vs-rest prediction of its class, scored by
    ``minicompress.equations.distillation_bce_as_written`` against the one-hot label (N is
    then the N·C entries). As written the teacher appears nowhere, so this trains on the
    labeled images only.
    """
    z = _logits(student_logits)
    labels = check_labels(np.asarray(labels.data if isinstance(labels, Tensor) else labels), *z.shape)
    onehot = np.eye(z.shape[1], dtype=z.dtype)[labels]
    return distillation_bce_as_written(F.softmax(z, axis=1), onehot)
