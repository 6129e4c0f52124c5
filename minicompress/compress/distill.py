"""Knowledge distillation, the training routine: ``distill`` a student from a teacher (or an ensemble).

The losses are :mod:`minicompress.compress.kd_loss` (Hinton's temperature loss on the
loss family of ``minicompress.nn.losses``), re-exported here. :func:`distill` mixes an
unlabeled transfer set (the teacher is the only label) with an optional labeled one;
the per-sample rule is :func:`~minicompress.compress.kd_loss.kd_loss_from_targets`. The
teacher is run once per dataset, under ``no_grad``, and its softened outputs
(:func:`soft_targets`) are reused every epoch (a frozen teacher in eval mode gives the
same outputs each time, so recomputing them would only cost time).

FitNets hints (a student layer regressed onto a teacher layer) are in
:mod:`minicompress.compress.hints` and re-exported here.
"""

from __future__ import annotations

import numpy as np

from minicompress.compress.hints import fit_hints, forward_to, hint_loss, layer_outputs, make_adapter
from minicompress.compress.kd_loss import (
    UNLABELED,
    check_alpha,
    check_temperature,
    e7_one_vs_rest,
    kd_loss,
    kd_loss_from_targets,
    log_soften,
    soften,
)
from minicompress.engine import Tensor, no_grad
from minicompress.errors import InputError, InputTypeError
from minicompress.nn import Module
from minicompress.nn.losses import check_labels
from minicompress.optim import Adam
from minicompress.training import fit, predict

__all__ = [
    "UNLABELED", "check_alpha", "check_temperature", "distill", "e7_one_vs_rest", "fit_hints", "forward_to",
    "hint_loss", "kd_loss", "kd_loss_from_targets", "layer_outputs", "log_soften", "make_adapter",
    "soft_targets", "soften",
]


# ------------------------------------------------------------------ teacher targets
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
