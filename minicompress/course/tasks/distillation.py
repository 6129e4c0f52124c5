"""Distillation tasks: softmax at a temperature, ``F.kl_div``'s batchmean KL, Hinton's loss and its gradient.

Every reference is the library's own function (``minicompress.compress.distill``,
``minicompress.nn.losses``), run on plain arrays: float64 in, a float or an array out.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

import minicompress.nn.losses as L
from minicompress.compress.distill import kd_loss, soften
from minicompress.course.task import Example, Variant
from minicompress.course.tasks._common import task_registrar
from minicompress.course.tasks._draw import grid_arrays, int_arrays
from minicompress.engine import Tensor

CHAPTER = "distillation"


_task = task_registrar(CHAPTER)


def _softmax(z, axis=-1):
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def _log_softmax(z, axis=-1):
    z = z - z.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


TEMPERATURES = st.sampled_from([0.5, 1.0, 2.0, 4.0, 10.0, 20.0])


@st.composite
def _logits(draw, n=None, c=None, big=True):
    n = draw(st.integers(1, 4)) if n is None else n
    c = draw(st.integers(2, 5)) if c is None else c
    if big and draw(st.booleans()):  # magnitudes where exp overflows unless the row max is subtracted first
        return draw(grid_arrays((n, c), lo=-16, hi=16, step=64.0))
    return draw(grid_arrays((n, c), lo=-32, hi=32, step=0.25))


# ------------------------------------------------------------------ softmax with temperature


@st.composite
def _soft_inputs(draw):
    return {"logits": draw(_logits()), "T": draw(TEMPERATURES)}


_task(
    "softmax_with_temperature", "softmax_with_temperature(logits, T)",
    """Softened probabilities: ``softmax(z / T)`` along the last axis (each row sums to 1).

    Compute it stably: subtract each row's maximum from ``z / T`` before ``exp`` (logits of
    +-1000 must not give NaN). T > 1 flattens the distribution, T -> 0 approaches one-hot.

    Parameters
    ----------
    logits : ndarray of float, shape (N, C)
    T : float > 0

    Returns
    -------
    ndarray of float, shape (N, C)
    """,
    lambda logits, T: soften(logits, T), _soft_inputs(),
    [Example({"logits": np.array([[0.0, 2.0 * np.log(3.0)]]), "T": 2.0}, np.array([[0.25, 0.75]]),
             "z / T = [0, ln 3]: e^0 : e^(ln 3) = 1 : 3"),
     Example({"logits": np.array([[1000.0, 1000.0]]), "T": 1.0}, np.array([[0.5, 0.5]]),
             "stable: subtract 1000 first")],
    [Variant("no_temperature", lambda logits, T: _softmax(logits),
             "you ignore the temperature; divide the logits by T before the softmax"),
     Variant("times_temperature", lambda logits, T: _softmax(logits * T),
             "you multiply the logits by T; divide them by T"),
     Variant("unstable", lambda logits, T: np.exp(logits / T) / np.exp(logits / T).sum(axis=-1, keepdims=True),
             "your softmax overflows for large logits (NaN or inf); subtract each row's maximum before exp"),
     Variant("columns", lambda logits, T: _softmax(logits / T, axis=0),
             "you normalise each column (axis 0); each row (one sample's logits) must sum to 1")],
    aliases=(("soften", "minicompress"),),
)

# ------------------------------------------------------------------ KL divergence (F.kl_div)


@st.composite
def _kl_inputs(draw):
    n, c = draw(st.integers(1, 4)), draw(st.integers(2, 5))
    inp = _log_softmax(draw(_logits(n, c, big=False)))
    if draw(st.booleans()):
        target = np.eye(c)[draw(int_arrays((n,), 0, c - 1))]  # exact zeros: 0 log 0 counts as 0
    else:
        target = _softmax(draw(_logits(n, c, big=False)) / draw(TEMPERATURES))
    return {"input": inp, "target": target}


def _kl_rows(input, target):  # noqa: A002
    with np.errstate(all="ignore"):
        return np.where(target > 0, target * (np.log(np.where(target > 0, target, 1.0)) - input), 0.0)


def _kl_variant(how):
    def fn(input, target):  # noqa: A002
        if how == "nan_zero":
            with np.errstate(all="ignore"):
                return float(np.sum(target * (np.log(target) - input)) / input.shape[0])
        if how == "log_of_input":
            with np.errstate(all="ignore"):
                return float(np.sum(_kl_rows(np.log(input), target)) / input.shape[0])
        total = float(np.sum(_kl_rows(input, target)))
        return total / input.size if how == "mean" else total
    return fn


_task(
    "kl_div", "kl_div(input, target)",
    """``torch.nn.functional.kl_div(input, target, reduction="batchmean")`` on arrays: KL(target || exp(input)).

    ``(1/N) sum_i sum_c q_ic (log q_ic - input_ic)`` where ``input`` holds the student's
    LOG-probabilities and ``target`` = q the teacher's probabilities; ``0 log 0 = 0``.
    "batchmean" divides the total by the batch size N (not by N*C, which is reduction="mean").

    Parameters
    ----------
    input : ndarray of float, shape (N, C): log-probabilities (e.g. log_softmax)
    target : ndarray of float, shape (N, C): probabilities (rows sum to 1, zeros allowed)

    Returns
    -------
    float
    """,
    lambda input, target: float(L.kl_div(Tensor(input), target, reduction="batchmean").data),  # noqa: A002
    _kl_inputs(),
    [Example({"input": np.log(np.array([[0.5, 0.5], [0.25, 0.75]])), "target": np.array([[1.0, 0.0], [0.5, 0.5]])},
             0.5 * (np.log(2.0) + 0.5 * np.log(2.0) + 0.5 * np.log(2.0 / 3.0)),
             "row 1: 1 * log(1/0.5) = ln 2; row 2: 0.5 ln(0.5/0.25) + 0.5 ln(0.5/0.75); divide by N = 2")],
    [Variant("mean", _kl_variant("mean"),
             "your KL divides by N*C (reduction='mean'); batchmean divides by N, the batch size"),
     Variant("sum", _kl_variant("sum"), "you return the sum over the batch (reduction='sum'); batchmean divides by N"),
     Variant("nan_at_zero_target", _kl_variant("nan_zero"),
             "your result is NaN where the target is 0: 0 log 0 must count as 0"),
     Variant("log_of_input", _kl_variant("log_of_input"),
             "you take the log of input again; input already holds log-probabilities (as F.kl_div expects)")],
)

# ------------------------------------------------------------------ Hinton's KD loss


@st.composite
def _kd_inputs(draw):
    n, c = draw(st.integers(1, 4)), draw(st.integers(2, 5))
    return {"student_logits": draw(_logits(n, c, big=False)), "teacher_logits": draw(_logits(n, c, big=False)),
            "labels": draw(int_arrays((n,), 0, c - 1)), "T": draw(TEMPERATURES),
            "alpha": draw(st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0]))}


def _kd_parts(student_logits, teacher_logits, labels, T):
    p_log = _log_softmax(student_logits / T)
    q = _softmax(teacher_logits / T)
    n = student_logits.shape[0]
    kl = float(np.sum(_kl_rows(p_log, q))) / n
    ce = -float(np.mean(_log_softmax(student_logits)[np.arange(n), labels]))
    return kl, ce, p_log, q


def _kd_variant(how):
    def fn(student_logits, teacher_logits, labels, T=4.0, alpha=0.9):
        kl, ce, p_log, q = _kd_parts(student_logits, teacher_logits, labels, T)
        n = student_logits.shape[0]
        if how == "no_t2":
            return alpha * kl + (1 - alpha) * ce
        if how == "mean":
            return alpha * T * T * kl / student_logits.shape[1] + (1 - alpha) * ce
        if how == "reversed":
            p = np.exp(p_log)
            rev = float(np.sum(p * (p_log - np.log(np.maximum(q, 1e-300))))) / n
            return alpha * T * T * rev + (1 - alpha) * ce
        if how == "teacher_not_softened":
            kl1 = float(np.sum(_kl_rows(p_log, _softmax(teacher_logits)))) / n
            return alpha * T * T * kl1 + (1 - alpha) * ce
        if how == "swapped_alpha":
            return (1 - alpha) * T * T * kl + alpha * ce
        if how == "hard_at_T":
            ce_t = -float(np.mean(p_log[np.arange(n), labels]))
            return alpha * T * T * kl + (1 - alpha) * ce_t
        raise AssertionError(how)
    return fn


_KD_VARIANTS = (
    ("no_t2", "your loss lacks the T^2 factor: the soft term is alpha * T^2 * KL (its gradient shrinks like "
              "1/T^2 otherwise)"),
    ("mean", "your KL divides by N*C (reduction='mean'); batchmean divides by N"),
    ("reversed", "you compute KL(student || teacher); Hinton's soft term is KL(teacher || student) = "
                 "sum q (log q - log p)"),
    ("teacher_not_softened", "you soften only the student; the teacher's logits are divided by T too"),
    ("swapped_alpha", "you weight the terms the other way round: alpha weighs the soft (teacher) term, "
                      "1 - alpha the hard-label cross-entropy"),
    ("hard_at_T", "your hard-label cross-entropy uses z / T; it uses the student's plain logits (T = 1)"),
)

_task(
    "kd_loss", "kd_loss(student_logits, teacher_logits, labels, T=4.0, alpha=0.9)",
    """Hinton et al. 2015's knowledge-distillation loss.

    ``L = alpha * T^2 * KL(q || p) + (1 - alpha) * CE(z_S, y)`` with ``q = softmax(z_T / T)``,
    ``p = softmax(z_S / T)``; KL is "batchmean" (summed over classes, averaged over the N
    samples, 0 log 0 = 0); CE is the mean cross-entropy of the plain logits z_S (T = 1) with
    the integer labels.

    Parameters
    ----------
    student_logits, teacher_logits : ndarray of float, shape (N, C)
    labels : ndarray of int, shape (N,)
    T : float > 0;  alpha : float in [0, 1]

    Returns
    -------
    float
    """,
    lambda student_logits, teacher_logits, labels, T=4.0, alpha=0.9: float(
        kd_loss(Tensor(student_logits), teacher_logits, labels, T, alpha).data),
    _kd_inputs(),
    [Example({"student_logits": np.array([[0.0, 0.0]]), "teacher_logits": np.array([[0.0, 4.0 * np.log(3.0)]]),
              "labels": np.array([1]), "T": 4.0, "alpha": 0.5},
             0.5 * 16 * (0.25 * np.log(0.5) + 0.75 * np.log(1.5)) + 0.5 * np.log(2.0),
             "q = [1/4, 3/4], p = [1/2, 1/2]: KL = 0.25 ln(0.5) + 0.75 ln(1.5); CE = ln 2")],
    [Variant(name, _kd_variant(name), diag) for name, diag in _KD_VARIANTS],
)


def _kd_grad(student_logits, teacher_logits, labels, T=4.0, alpha=0.9):
    z = Tensor(np.asarray(student_logits, dtype=np.float64), requires_grad=True)
    kd_loss(z, teacher_logits, labels, T, alpha).backward()
    return z.grad


def _kdg_variant(how):
    def fn(student_logits, teacher_logits, labels, T=4.0, alpha=0.9):
        n = student_logits.shape[0]
        p, q = _softmax(student_logits / T), _softmax(teacher_logits / T)
        onehot = np.eye(student_logits.shape[1])[labels]
        hard = (1 - alpha) * (_softmax(student_logits) - onehot) / n
        if how == "no_t2":
            return alpha * (p - q) / (T * n) + hard
        if how == "no_chain_rule":
            return alpha * T * T * (p - q) / n + hard
        if how == "no_batch_mean":
            return alpha * T * (p - q) + (1 - alpha) * (_softmax(student_logits) - onehot)
        raise AssertionError(how)
    return fn


_task(
    "kd_loss_grad", "kd_loss_grad(student_logits, teacher_logits, labels, T=4.0, alpha=0.9)",
    """The gradient of ``kd_loss`` with respect to the student's logits.

    ``dL/dz_S = alpha * T * (p - q) / N + (1 - alpha) * (softmax(z_S) - onehot(y)) / N``:
    the soft term's ``T^2`` times the chain rule's ``1/T`` leaves one factor T; the 1/N comes
    from the batch mean. (p, q, alpha, T, N as in ``kd_loss``.)

    Returns
    -------
    ndarray of float, shape (N, C)
    """,
    _kd_grad, _kd_inputs(),
    [Example({"student_logits": np.array([[0.0, 0.0]]), "teacher_logits": np.array([[0.0, 2.0 * np.log(3.0)]]),
              "labels": np.array([1]), "T": 2.0, "alpha": 0.5},
             np.array([[0.5 * 2 * 0.25 + 0.5 * 0.5, -0.5 * 2 * 0.25 - 0.5 * 0.5]]),
             "p - q = [1/4, -1/4]; alpha T (p - q) = [0.25, -0.25]; (1-alpha)(softmax - onehot) = [0.25, -0.25]")],
    [Variant("no_t2", _kdg_variant("no_t2"),
             "your loss lacks the T^2 factor: the soft term's gradient is alpha * T * (p - q) / N, "
             "not alpha * (p - q) / (T N)"),
     Variant("no_chain_rule", _kdg_variant("no_chain_rule"),
             "you forgot the chain rule through z / T: d softmax(z/T)/dz carries a factor 1/T, so the soft "
             "gradient is alpha * T * (p - q) / N"),
     Variant("no_batch_mean", _kdg_variant("no_batch_mean"),
             "your gradient is not divided by N: the loss is a mean over the batch")],
)

_task(
    "soft_target_cross_entropy", "soft_target_cross_entropy(student_logits, teacher_probs, T=1.0)",
    """Cross-entropy against soft targets: ``H(q, p) = -(1/N) sum_i sum_c q_ic log softmax(z_i / T)_c``.

    Computed from the logits with a stable log-softmax (no clipping). It equals KL(q || p) plus
    the teacher's entropy H(q), so its gradient equals the KL term's.

    Parameters
    ----------
    student_logits : ndarray of float, shape (N, C)
    teacher_probs : ndarray of float, shape (N, C), rows sum to 1
    T : float > 0

    Returns
    -------
    float
    """,
    lambda student_logits, teacher_probs, T=1.0: float(
        L.cross_entropy(Tensor(np.asarray(student_logits, dtype=np.float64) / T), teacher_probs).data),
    _kl_inputs().flatmap(lambda d: TEMPERATURES.map(lambda T: {
        "student_logits": d["input"] * 3.0, "teacher_probs": d["target"], "T": T})),
    [Example({"student_logits": np.array([[0.0, 0.0], [0.0, 0.0]]), "teacher_probs": np.array([[1.0, 0.0],
                                                                                               [0.5, 0.5]]),
              "T": 1.0}, np.log(2.0), "every p = 1/2: -log(1/2) = ln 2 for both rows")],
    [Variant("kl_instead", lambda student_logits, teacher_probs, T=1.0: float(
        np.sum(_kl_rows(_log_softmax(student_logits / T), teacher_probs))) / student_logits.shape[0],
             "you return KL(q || p); the cross-entropy also counts the teacher's entropy: H(q, p) = KL + H(q)"),
     Variant("sum_over_batch", lambda student_logits, teacher_probs, T=1.0: float(
        -np.sum(teacher_probs * _log_softmax(student_logits / T))),
             "you sum over the batch; the loss is the mean over the N rows")],
)

__all__ = ["CHAPTER"]
