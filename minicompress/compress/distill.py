"""Knowledge distillation that works: Hinton's temperature loss, teacher ensembles, ``distill``.

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
  (a 4 looks a bit like a 9) carries gradient.
* The soft term's gradient with respect to z_S is (p - q) / T, so it shrinks like 1/T;
  the T² factor restores its size, and changing T does not silently re-weight alpha.
* KL uses reduction "batchmean" (sum over classes, mean over samples), as
  ``torch.nn.functional.kl_div(..., reduction="batchmean")``; KL(q‖p) and the soft
  cross-entropy H(q, p) differ by the teacher's entropy, a constant, so their gradients
  are identical (:func:`soft_target_cross_entropy` is the CE form).

An unlabeled *transfer set* gets the soft term alone: the teacher is the only label.
:func:`distill` mixes such a set with a labeled one; the per-sample rule is
:func:`kd_loss_from_targets`. The teacher is run once per dataset, under ``no_grad``,
and its softened outputs are reused every epoch (a frozen teacher in eval mode gives the
same outputs each time, so recomputing them would only cost time).

FitNets hints (a student layer regressed onto a teacher layer) are in
:mod:`minicompress.compress.hints` and re-exported here.
"""

from __future__ import annotations

import numpy as np

import minicompress.engine.functional as F
from minicompress.compress.hints import fit_hints, forward_to, hint_loss, layer_outputs, make_adapter
from minicompress.engine import Tensor, no_grad
from minicompress.equations.distillation import distillation_bce_as_written
from minicompress.errors import InputError, InputTypeError
from minicompress.nn import Module
from minicompress.nn.losses import check_labels
from minicompress.optim import Adam
from minicompress.training import fit, predict

__all__ = [
    "check_alpha", "check_temperature", "distill", "e7_one_vs_rest", "fit_hints", "forward_to", "hint_loss",
    "kd_loss", "kd_loss_from_targets", "layer_outputs", "make_adapter", "soft_target_cross_entropy",
    "soft_target_loss", "soft_targets", "soften",
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


# ------------------------------------------------------------------ teacher targets
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
    z = np.asarray(logits.data if isinstance(logits, Tensor) else logits, dtype=np.float64)
    if z.ndim != 2:
        raise InputError(f"logits must have shape (N, C), got {z.shape}")
    z = z / T
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _teacher_list(teacher) -> list[Module]:
    teachers = list(teacher) if isinstance(teacher, (list, tuple)) else [teacher]
    if not teachers:
        raise InputError("need at least one teacher")
    for i, t in enumerate(teachers):
        if not isinstance(t, Module):
            raise InputTypeError(f"teacher {i} must be a minicompress Module, got {type(t).__name__}")
    return teachers


def soft_targets(teacher, x: np.ndarray, T: float = 1.0, batch_size: int = 1000) -> np.ndarray:
    """The teacher's softened outputs; for several teachers, their average (an ensemble).

    .. math:: q_i = \\frac{1}{K}\\sum_{k=1}^{K} \\mathrm{softmax}(f_k(x_i) / T)

    Averaging the *probabilities* at temperature T is Hinton et al.'s ensemble target
    (doc 000's "model fusion", 模型融合, done as distillation): the student learns one
    model that imitates the committee.

    Parameters
    ----------
    teacher : Module or list of Module
        Run in eval mode without building a graph (``minicompress.training.predict``).
    x : ndarray, shape (N, ...)
    T : float > 0

    Returns
    -------
    ndarray, float64, shape (N, C)
    """
    teachers = _teacher_list(teacher)
    T = check_temperature(T)
    total = None
    for k, t in enumerate(teachers):
        q = soften(predict(t, x, batch_size), T)
        if total is not None and q.shape != total.shape:
            raise InputError(
                f"teacher {k} has {q.shape[1]} outputs but teacher 0 has {total.shape[1]}; "
                "an ensemble's members must predict the same classes"
            )
        total = q if total is None else total + q
    return total / len(teachers)


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


def _kl_rows(log_p: Tensor, q: np.ndarray) -> Tensor:
    """KL(q_i || p_i) for every row i: sum_c q (log q - log p); 0 log 0 = 0."""
    q_log_q = np.where(q > 0, q * np.log(np.where(q > 0, q, 1.0)), 0.0).sum(axis=1)
    return -(log_p * q.astype(log_p.dtype)).sum(axis=1) + q_log_q.astype(log_p.dtype)


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
        softmax(teacher logits / T), e.g. from :func:`soft_targets`.
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
    soft_rows = _kl_rows(F.log_softmax(z / T, axis=1), q) * (T * T)
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
    hard_rows = -(F.log_softmax(z, axis=1) * onehot).sum(axis=1)
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


def soft_target_loss(student_logits, teacher_probs, T: float = 4.0) -> Tensor:
    """The soft term alone: T² · KL(q ‖ softmax(z_S / T)), batchmean. Zero iff p = q."""
    return kd_loss_from_targets(student_logits, teacher_probs, None, T, 1.0)


def soft_target_cross_entropy(student_logits, teacher_probs, T: float = 1.0) -> Tensor:
    """H(q, p) = -(1/N) Σ_i Σ_c q_ic log softmax(z_i / T)_c, on logits, with temperature.

    E8's cross-entropy (``minicompress.equations.soft_cross_entropy``) takes two
    probability tables; this takes the student's logits, which is stable (log-softmax,
    no clipping) and differentiable. It equals KL(q‖p) + H(q), so it is never below the
    teacher's entropy H(q) and has the same gradient as the KL term.
    """
    T = check_temperature(T)
    z = _logits(student_logits)
    q = _targets(teacher_probs, z).astype(z.dtype)
    return -(F.log_softmax(z / T, axis=1) * q).sum(axis=1).mean()


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


# ------------------------------------------------------------------ the training routine
def _probe(model: Module, x: np.ndarray, role: str, set_name: str) -> int:
    """Run ``model`` on two samples; return its number of outputs or explain the shape problem."""
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            out = model(Tensor(x[:2]))
    except (ValueError, IndexError, TypeError) as err:
        raise InputError(
            f"{set_name} has samples of shape {tuple(x.shape[1:])}, which the {role} cannot take: {err}"
        ) from None
    finally:
        model.train(was_training)
    if out.ndim != 2:
        raise InputError(f"the {role} must output logits of shape (N, C), got {out.shape}")
    return out.shape[1]


def _as_inputs(x, name) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        raise InputTypeError(f"{name} must be a numpy.ndarray, got {type(x).__name__}")
    if x.ndim < 2 or len(x) == 0:
        raise InputError(f"{name} must have shape (N, ...) with N >= 1 samples, got {x.shape}")
    if x.dtype.kind != "f":
        raise InputTypeError(f"{name} must be floating point (e.g. pixels in [0, 1]), got dtype {x.dtype}")
    return x


def distill(teacher, student: Module, x_transfer: np.ndarray, *, x_labeled=None, y_labeled=None,
            T: float = 4.0, alpha: float = 0.9, epochs: int = 10, batch_size: int = 64,
            optimizer=None, lr: float = 1e-3, seed=0, transfer_targets=None, callbacks=(),
            x_val=None, y_val=None, progress=None) -> list[dict]:
    """Train ``student`` to imitate ``teacher`` (Hinton et al. 2015) on a transfer set.

    The training set is the unlabeled transfer set (teacher targets only) followed by the
    optional labeled set (teacher targets and labels); every row's loss is
    :func:`kd_loss_from_targets`. The teacher (or the average of an ensemble of teachers)
    is run once per dataset in eval mode under ``no_grad``, before the first epoch.

    Parameters
    ----------
    teacher : Module or list of Module
        Never trained or modified.
    student : Module
        Trained in place; must output as many classes as the teacher.
    x_transfer : ndarray, shape (N, ...)
        Inputs without labels (the labeled images may be among them).
    x_labeled, y_labeled : ndarray (M, ...) and int ndarray (M,), optional
        Give both or neither.
    T : float > 0
        Temperature.
    alpha : float in [0, 1]
        Weight of the soft term on labeled rows (unlabeled rows have only the soft term).
    epochs, batch_size, seed, callbacks, x_val, y_val, progress :
        As in ``minicompress.training.fit``.
    optimizer : Optimizer, optional
        Default ``Adam(student.parameters(), lr=lr)``.
    transfer_targets : ndarray (N, C), optional
        Precomputed ``soft_targets(teacher, x_transfer, T)``, to share one teacher pass
        between several runs (the teacher is then only probed for its output size).

    Returns
    -------
    list of dict
        ``fit``'s per-epoch logs: ``"loss"`` (the mean distillation loss), ``"seconds"``,
        ``"samples_per_second"``, and ``"val_accuracy"`` when validation data is given.

    Raises
    ------
    ValueError
        T <= 0, alpha outside [0, 1], teacher and student with different output sizes,
        a transfer or labeled set of a shape the models cannot take, mismatched labels.
    """
    T, alpha = check_temperature(T), check_alpha(alpha)
    teachers = _teacher_list(teacher)
    if not isinstance(student, Module):
        raise InputTypeError(f"student must be a minicompress Module, got {type(student).__name__}")
    x_transfer = _as_inputs(x_transfer, "x_transfer")
    if (x_labeled is None) != (y_labeled is None):
        raise InputError("give both x_labeled and y_labeled, or neither")

    # Check shapes and output sizes on two samples before any real work.
    n_out = _probe(student, x_transfer, "student", "x_transfer")
    for k, t in enumerate(teachers):
        t_out = _probe(t, x_transfer, f"teacher {k}" if len(teachers) > 1 else "teacher", "x_transfer")
        if t_out != n_out:
            raise InputError(
                f"the teacher outputs {t_out} classes but the student outputs {n_out}; "
                "distillation matches the two output distributions, so they must have the same size"
            )
    if transfer_targets is None:
        transfer_targets = soft_targets(teachers, x_transfer, T)
    transfer_targets = np.asarray(transfer_targets, dtype=np.float64)
    if transfer_targets.shape != (len(x_transfer), n_out):
        raise InputError(
            f"transfer_targets must have shape {(len(x_transfer), n_out)}, got {transfer_targets.shape}"
        )

    xs, targets, labels = [x_transfer], [transfer_targets], [np.full(len(x_transfer), UNLABELED)]
    if x_labeled is not None:
        x_labeled = _as_inputs(x_labeled, "x_labeled")
        if x_labeled.shape[1:] != x_transfer.shape[1:]:
            raise InputError(
                f"x_labeled has samples of shape {x_labeled.shape[1:]} but x_transfer has "
                f"{x_transfer.shape[1:]}; both sets feed the same models"
            )
        y_labeled = check_labels(np.asarray(y_labeled), len(x_labeled), n_out)
        xs.append(x_labeled)
        targets.append(soft_targets(teachers, x_labeled, T))
        labels.append(y_labeled.astype(np.int64))

    # fit() shuffles x and y together, so each row's label and soft targets travel in y:
    # column 0 is the label (-1 = unlabeled), columns 1..C the teacher's probabilities.
    x_all = np.concatenate(xs)
    y_all = np.concatenate(
        [np.concatenate([lab[:, None].astype(np.float64), q], axis=1) for lab, q in zip(labels, targets)]
    )

    def loss_fn(logits, yb):
        return kd_loss_from_targets(logits, yb[:, 1:], yb[:, 0].astype(np.int64), T, alpha)

    if optimizer is None:
        optimizer = Adam(student.parameters(), lr=lr)
    history = fit(student, optimizer, x_all, y_all, epochs=epochs, batch_size=batch_size, seed=seed,
                  loss_fn=loss_fn, callbacks=callbacks, x_val=x_val, y_val=y_val, progress=progress)
    for logs in history:
        logs.pop("accuracy", None)  # fit counts it only for integer targets; here it would read 0
    return history
