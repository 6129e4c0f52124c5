"""A checkable task: one function a learner writes, its exact convention, reference and mistakes.

A :class:`Task` names the function (and the names other courses give it), states its
convention in a numpydoc docstring, points at the library's own implementation (the
reference: a thin adapter, never a second copy of the logic), draws inputs with
hypothesis, carries hand-worked :class:`Example` s and the plausible wrong
implementations (:class:`Variant` s) used to name a learner's mistake.
:func:`default_compare` decides whether a result equals the expected one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np


def fmt(value) -> str:
    """A short, exact, readable rendering of an input or output (for counterexamples)."""
    if isinstance(value, np.ndarray):
        body = np.array2string(value, separator=", ", floatmode="unique", threshold=40,
                               max_line_width=10**9)
        body = re.sub(r"\n\s*", " ", body)  # rows of a 2-D array on one line: one report line per failure
        suffix = "" if value.dtype in (np.float64, np.int64, np.bool_) else f", dtype={value.dtype}"
        shape = f", shape={value.shape}" if value.size == 0 else ""
        return f"array({body}{suffix}{shape})"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k!r}: {fmt(v)}" for k, v in value.items()) + "}"
    if isinstance(value, tuple):
        return "(" + ", ".join(fmt(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, list):
        return "[" + ", ".join(fmt(v) for v in value) + "]"
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, np.integer):
        return repr(int(value))
    return repr(value)


def _kind(arr: np.ndarray) -> str:
    k = arr.dtype.kind
    return {"i": "integer", "u": "integer", "f": "float", "b": "bool", "c": "complex"}.get(k, arr.dtype.name)


def _as_array(value):
    """``value`` as a NumPy array, or None when it is not array-like (an engine Tensor counts)."""
    if hasattr(value, "data") and hasattr(value, "requires_grad"):
        value = value.data
    if isinstance(value, (np.ndarray, np.generic, int, float, bool)):
        return np.asarray(value)
    return None


def _first_bad_index(bad: np.ndarray):
    return tuple(int(i) for i in np.argwhere(bad)[0]) if bad.ndim else ()


def default_compare(expected, got, rtol: float = 1e-6, atol: float = 1e-9, exact_dtype: bool = False):
    """None when ``got`` equals ``expected``, else a short reason.

    Tuples, lists and dicts are compared item by item (same length / keys). Integer and
    bool arrays compare exactly and the dtype KIND must match (int vs float is a failure,
    int8 vs int64 is not unless ``exact_dtype``); float arrays use
    ``np.allclose(rtol, atol, equal_nan=True)`` after a shape check. Scalars likewise.
    """
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)):
            return f"expected a {type(expected).__name__} of {len(expected)} items, got {type(got).__name__}"
        if len(got) != len(expected):
            return f"expected {len(expected)} items, got {len(got)}"
        for i, (e, g) in enumerate(zip(expected, got)):
            reason = default_compare(e, g, rtol, atol, exact_dtype)
            if reason:
                return f"item {i}: {reason}"
        return None
    if isinstance(expected, Mapping):
        if not isinstance(got, Mapping):
            return f"expected a dict, got {type(got).__name__}"
        if set(got) != set(expected):
            return f"keys {sorted(map(str, got))} != {sorted(map(str, expected))}"
        for k in expected:
            reason = default_compare(expected[k], got[k], rtol, atol, exact_dtype)
            if reason:
                return f"[{k!r}]: {reason}"
        return None
    if expected is None or isinstance(expected, str):
        return None if got == expected else f"expected {expected!r}, got {fmt(got)}"
    exp = _as_array(expected)
    if exp is None:  # some other object: plain equality
        return None if got == expected else f"expected {fmt(expected)}, got {fmt(got)}"
    g = _as_array(got)
    if g is None:
        what = "a number" if exp.ndim == 0 else f"an array of shape {exp.shape}"
        return f"expected {what}, got {type(got).__name__}"
    if g.shape != exp.shape:
        return f"shape {g.shape} != {exp.shape}" if g.ndim or exp.ndim else "shape mismatch"
    ek, gk = _kind(exp), _kind(g)
    if ek != gk and not (ek == "float" and gk == "integer"):
        return f"dtype {ek} expected ({exp.dtype}), got {g.dtype}"
    if ek == "float" and gk == "integer" and exp.ndim:
        return f"dtype {ek} expected ({exp.dtype}), got {g.dtype}"
    if exact_dtype and g.dtype != exp.dtype:
        return f"dtype {exp.dtype} expected, got {g.dtype}"
    if ek in ("integer", "bool") or exp.dtype.kind not in "fc":
        bad = exp != g
    else:
        with np.errstate(all="ignore"):
            bad = ~np.isclose(g.astype(np.float64), exp.astype(np.float64), rtol=rtol, atol=atol, equal_nan=True)
    if not np.any(bad):
        return None
    if exp.ndim == 0:
        return f"expected {fmt(exp[()])}, got {fmt(g[()])}"
    idx = _first_bad_index(np.asarray(bad))
    diff = ""
    if ek == "float":
        with np.errstate(all="ignore"):
            d = np.abs(g.astype(np.float64) - exp.astype(np.float64))
        diff = f"max abs diff {fmt(float(np.nanmax(d)) if np.any(~np.isnan(d)) else float('nan'))}, "
    return (f"{diff}{int(np.sum(bad))} of {exp.size} differ; first at index {idx}: "
            f"expected {fmt(exp[idx])}, got {fmt(g[idx])}")


def compare_with(rtol: float = 1e-6, atol: float = 1e-9, exact_dtype: bool = False) -> Callable:
    """A :func:`default_compare` with other tolerances, or requiring the exact dtype."""

    def compare(expected, got):
        return default_compare(expected, got, rtol=rtol, atol=atol, exact_dtype=exact_dtype)

    compare.__doc__ = f"default_compare with rtol={rtol}, atol={atol}, exact_dtype={exact_dtype}"
    return compare


@dataclass(frozen=True)
class Example:
    """A hand-worked example: ``expected`` was written by hand, not computed by the reference."""

    kwargs: dict
    expected: object
    note: str = ""


@dataclass(frozen=True)
class Variant:
    """A plausible wrong (or other-convention) implementation and what it means when matched."""

    name: str
    fn: Callable
    diagnosis: str


@dataclass(frozen=True)
class Task:
    """One checkable function; see the module docstring and ``minicompress.course``.

    ``check`` (optional, an addition to the shared contract) replaces the comparison with the
    reference on generated inputs when the convention leaves freedom (E5's random draw) or
    the checks are properties against an exact oracle (the documents' equations):
    ``check(fn, kwargs)`` calls ``fn`` itself and raises ``AssertionError(reason)``.
    """

    id: str
    chapter: str
    name: str
    signature: str
    doc: str
    reference: Callable
    inputs: object
    examples: tuple = ()
    variants: tuple = ()
    aliases: tuple = ()
    mutates: tuple = ()
    compare: Callable = default_compare
    timeout: float = 10.0
    check: Callable | None = field(default=None)

    @property
    def names(self) -> tuple:
        """Every name the learner's function may have: the task's name, then the aliases."""
        return (self.name,) + tuple(a for a, _ in self.aliases)
