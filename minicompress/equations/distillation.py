"""E7 and E8: the documents' distillation losses and parameter transfer, as written.

* E7, doc 000 §3.3 (``docs/documents.md#e7-the-distillation-loss``), the "distillation" loss
  L = −(1/N) Σᵢ [yᵢ log ŷᵢ + (1 − yᵢ) log(1 − ŷᵢ)]: binary cross-entropy of the
  small model's prediction ŷ against the true label y. The teacher appears nowhere.
* E8, doc 002 §3 (``docs/documents.md#e8-imitation-and-parameter-transfer``): a teacher
  trained on the task, a student trained to imitate the teacher's outputs (its code uses a
  cross-entropy between the two output distributions), then the large model's parameters
  moved into the student by minimizing the distance between them, which its code does by
  copying θ_T into θ_S. The equation images were lost from the text, so E8 is the four
  steps the text and code describe: :func:`soft_cross_entropy`, :func:`output_distance`,
  :func:`parameter_distance` and :func:`copy_parameters`.

The losses accept NumPy arrays (returning a float) or engine ``Tensor`` objects
(returning a scalar ``Tensor`` that ``backward()`` differentiates).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from minicompress.engine import Tensor
from minicompress.engine._checks import check_number
from minicompress.errors import InputError, InputTypeError
from minicompress.nn.losses import nll_loss

LOG_EPS = 1e-7
"""Probabilities are clipped to [LOG_EPS, 1 − LOG_EPS] before a log, so p = 0 or 1 gives a
finite loss (−log 1e-7 ≈ 16.1) instead of inf or nan; the gradient is zero where the clip acts."""


def _values(x, name):
    data = x.data if isinstance(x, Tensor) else x
    try:
        arr = np.asarray(data)
    except Exception as err:
        raise InputTypeError(f"{name} must be an array or Tensor, got {type(x).__name__}") from err
    if arr.dtype.kind not in "biuf":
        raise InputTypeError(f"{name} must be real-valued, got dtype {arr.dtype}")
    if arr.size and not np.all(np.isfinite(arr)):
        raise InputError(f"{name} contains NaN or inf; only finite values are allowed")
    return arr


def _check_probabilities(arr, name):
    if arr.size and (arr.min() < 0 or arr.max() > 1):
        raise InputError(
            f"{name} must be probabilities in [0, 1], got values from {arr.min()} to {arr.max()}"
            " (pass probabilities, e.g. a softmax or sigmoid output, not logits)"
        )


def _check_eps(eps):
    return check_number(eps, "eps", low=0.0, high=0.5, low_open=True)


def distillation_bce_as_written(y_hat, y, eps=LOG_EPS):
    """E7: the documents' "distillation" loss, binary cross-entropy on hard labels.

    .. math:: L = -\\frac{1}{N}\\sum_{i=1}^{N}\\left[y_i\\log\\hat y_i
              + (1-y_i)\\log(1-\\hat y_i)\\right]

    (doc 000 §3.3, y the true label, ŷ the small model's
    prediction). As written the teacher is absent: this trains the student on the
    labels alone.

    Choices the document leaves open: N is the number of elements (the mean over every
    entry, whatever the shape); ŷ is clipped to [eps, 1 − eps] before the logs
    (``eps = LOG_EPS = 1e-7``), so ŷ = y ∈ {0, 1} gives ≈ 1e-7, not nan; y may be any
    label in [0, 1].

    Parameters
    ----------
    y_hat : array_like or Tensor, shape (N,) or any shape
        Predicted probabilities in [0, 1]. A ``Tensor`` gives a differentiable result.
    y : array_like or Tensor, same shape as ``y_hat``
        Labels in [0, 1] (the documents' are 0 or 1). Treated as a constant.
    eps : float
        Log clip, ``0 < eps <= 0.5``.

    Returns
    -------
    float, or a 0-d Tensor when ``y_hat`` is a Tensor

    Raises
    ------
    ValueError
        Shapes differ, the batch is empty, or values leave [0, 1] or are not finite.
    """
    p = _values(y_hat, "y_hat")
    labels = _values(y, "y")
    if p.shape != labels.shape:
        raise InputError(f"y_hat has shape {p.shape} but y has shape {labels.shape}; they must match")
    if p.size == 0:
        raise InputError("the loss of an empty batch is undefined; give at least one prediction")
    _check_probabilities(p, "y_hat")
    _check_probabilities(labels, "y")
    eps = _check_eps(eps)
    if isinstance(y_hat, Tensor):
        yl = labels.astype(y_hat.dtype)
        q = y_hat.clip(eps, 1 - eps)
        return -(q.log() * yl + (1 - q).log() * (1 - yl)).mean()
    p = p.astype(np.float64)
    q = np.clip(p, eps, 1 - eps)
    return float(-np.mean(labels * np.log(q) + (1 - labels) * np.log(1 - q)))


def _rows(x, name):
    arr = _values(x, name)
    if arr.ndim not in (1, 2):
        raise InputError(f"{name} must have shape (K,) or (N, K), got {arr.shape}")
    return arr.reshape(1, -1) if arr.ndim == 1 else arr


def soft_cross_entropy(p_teacher, p_student, eps=LOG_EPS):
    """E8, imitation: the cross-entropy between the teacher's and the student's outputs.

    .. math:: H(p_T, p_S) = -\\frac{1}{N}\\sum_{i=1}^{N}\\sum_{k} p_{T,ik}\\log p_{S,ik}

    (doc 002 §3: the student learns from the large model's outputs; the equation
    image is lost, its code uses a
    cross-entropy between the two softmax outputs). By Gibbs' inequality
    H(p_T, p_S) ≥ H(p_T, p_T), the teacher's entropy, with equality only when p_S = p_T.

    Choices made here: inputs are probabilities (softmax outputs), not logits; each
    row must lie in [0, 1] and sum to 1 within 1e-3 (so float32 softmax outputs pass);
    the batch mean over N rows; p_S is clipped below at ``eps`` before the log. Computed
    as ``minicompress.nn.losses.nll_loss(log p_S, p_T)``: the argument order here is the
    document's (teacher first), the loss family's is PyTorch's (input, then target).

    Parameters
    ----------
    p_teacher, p_student : array_like or Tensor, shape (N, K) or (K,)
        Probability rows. If either is a ``Tensor`` the result is a differentiable Tensor.
    eps : float
        Log clip, ``0 < eps <= 0.5``.

    Returns
    -------
    float, or a 0-d Tensor
    """
    pt, ps = _rows(p_teacher, "p_teacher"), _rows(p_student, "p_student")
    if pt.shape != ps.shape:
        raise InputError(f"p_teacher has shape {pt.shape} but p_student has shape {ps.shape}")
    if pt.shape[0] == 0 or pt.shape[1] == 0:
        raise InputError(f"need at least one row and one class, got shape {pt.shape}")
    for arr, name in ((pt, "p_teacher"), (ps, "p_student")):
        _check_probabilities(arr, name)
        worst = float(np.max(np.abs(arr.sum(axis=1) - 1)))
        if worst > 1e-3:
            raise InputError(f"each row of {name} must sum to 1 (within 1e-3); one is off by {worst:.3g}")
    eps = _check_eps(eps)
    # H(p_T, p_S) is the loss family's nll_loss of log p_S against the probabilities p_T
    # (``minicompress.nn.losses``, PyTorch's argument order: input, then target).
    if isinstance(p_teacher, Tensor) or isinstance(p_student, Tensor):
        t = p_teacher if isinstance(p_teacher, Tensor) else Tensor(pt)
        s = p_student if isinstance(p_student, Tensor) else Tensor(ps)
        t, s = t.reshape(*pt.shape), s.reshape(*ps.shape)
        return nll_loss(s.clip(eps, None).log(), t, reduction="mean")
    log_ps = np.log(np.maximum(ps.astype(np.float64), eps))
    return float(nll_loss(Tensor(log_ps), pt.astype(np.float64), reduction="mean").item())


def output_distance(out_a, out_b):
    """E8, output distance: the mean over the batch of the squared L2 distance.

    .. math:: d(f, g) = \\frac{1}{N}\\sum_{i=1}^{N}\\lVert f(x_i;\\theta_T) - g(x_i;\\theta_S)\\rVert^2

    (doc 002 §3, which minimizes a distance between the student and the large model
    but does not say which distance:
    squared Euclidean per sample, averaged over the first axis, is the choice here).

    Parameters
    ----------
    out_a, out_b : array_like or Tensor, same shape (N, ...) with N >= 1
        Outputs of the two models on the same N inputs (a 1-D array is N scalars).

    Returns
    -------
    float, or a 0-d Tensor when either input is a Tensor
    """
    a, b = _values(out_a, "out_a"), _values(out_b, "out_b")
    if a.shape != b.shape:
        raise InputError(f"out_a has shape {a.shape} but out_b has shape {b.shape}; they must match")
    if a.ndim == 0 or a.shape[0] == 0:
        raise InputError(f"need outputs of shape (N, ...) with N >= 1, got {a.shape}")
    n = a.shape[0]
    if isinstance(out_a, Tensor) or isinstance(out_b, Tensor):
        diff = out_a - out_b if isinstance(out_a, Tensor) else -(out_b - a)
        return (diff * diff).sum() / n
    d = a.astype(np.float64) - b.astype(np.float64)
    return float(np.sum(d * d) / n)


def _named(params, role):
    """name -> array or Tensor, from a Module (its parameters) or a mapping."""
    if hasattr(params, "named_parameters"):
        return dict(params.named_parameters())
    if isinstance(params, Mapping):
        return dict(params)
    raise InputTypeError(f"{role} must be a Module or a dict of name -> array, got {type(params).__name__}")


def _shape(v):
    return tuple(v.shape) if hasattr(v, "shape") else np.shape(v)


def _match(a, b, roles):
    """Raise ValueError naming every missing, extra or mis-shaped parameter."""
    problems = []
    for name in a:
        if name not in b:
            problems.append(f"{name!r} is in the {roles[0]} but not in the {roles[1]}")
    for name in b:
        if name not in a:
            problems.append(f"{name!r} is in the {roles[1]} but not in the {roles[0]}")
        elif _shape(a[name]) != _shape(b[name]):
            problems.append(f"{name!r} has shape {_shape(a[name])} in the {roles[0]} "
                            f"and {_shape(b[name])} in the {roles[1]}")
    if problems:
        raise InputError(
            f"the {roles[0]}'s and the {roles[1]}'s parameters must have the same names and "
            "shapes: " + "; ".join(problems)
        )


def parameter_distance(params_a, params_b):
    """E8, parameter distance: squared L2 over parameters with matching names.

    .. math:: d(\\theta_T, \\theta_S) = \\sum_{n}\\lVert\\theta_{T,n} - \\theta_{S,n}\\rVert^2

    (doc 002 §3: the large model's parameters are moved into the student by minimizing
    the distance between them). Zero exactly when every parameter matches;
    :func:`copy_parameters` reaches that minimum in one step.

    Parameters
    ----------
    params_a, params_b : Module or dict of name -> array
        The same parameter names with the same shapes (``named_parameters`` names for
        a Module).

    Returns
    -------
    float for dicts of arrays; a 0-d Tensor (differentiable in both) for Modules or Tensors.

    Raises
    ------
    ValueError
        Naming every parameter that is missing, extra, or of another shape.
    """
    a, b = _named(params_a, "params_a"), _named(params_b, "params_b")
    _match(a, b, ("first model", "second model"))
    if any(isinstance(v, Tensor) for v in (*a.values(), *b.values())):
        total = Tensor(np.zeros((), dtype=np.float64))
        for name in a:
            x = a[name] if isinstance(a[name], Tensor) else Tensor(_values(a[name], name))
            y = b[name] if isinstance(b[name], Tensor) else Tensor(_values(b[name], name))
            d = x - y
            total = total + (d * d).sum()
        return total
    return float(sum(np.sum((_values(a[n], n).astype(np.float64)
                             - _values(b[n], n).astype(np.float64)) ** 2) for n in a))


def copy_parameters(teacher, student):
    """E8, parameter transfer: θ_S ← θ_T, refusing any name or shape mismatch.

    (doc 002 §3 and its code, which zips the two
    ``parameters()`` lists and copies each; ``zip`` silently truncates and
    ``copy_`` broadcasts, so some mismatched students are copied in part without a word.
    Here names are matched, not positions, and every mismatch is an error.)

    Parameters
    ----------
    teacher : Module or dict of name -> array
    student : Module or dict of name -> array
        Same parameter names and shapes as the teacher.

    Returns
    -------
    Module or dict
        For a student ``Module``: the same module, its parameters overwritten in place
        with copies of the teacher's (cast to the student's dtypes; buffers untouched).
        For a student dict: a new dict, the teacher's values copied in the student's
        dtypes; neither input is modified.

    Raises
    ------
    ValueError
        Naming every parameter that is missing, extra, or of another shape.
    """
    t, s = _named(teacher, "teacher"), _named(student, "student")
    _match(t, s, ("teacher", "student"))
    source = {n: _values(v, n) for n, v in t.items()}
    if hasattr(student, "named_parameters"):
        for name, param in s.items():
            param.data = source[name].astype(param.dtype, copy=True)
        return student
    out = {}
    for name, value in s.items():
        dtype = _values(value, name).dtype
        out[name] = np.array(source[name], dtype=dtype if dtype.kind == "f" else np.float64, copy=True)
    return out
