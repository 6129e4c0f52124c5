"""Check a learner's own implementations of E1-E8 against the property tests.

A learner's file defines functions named by E-id, ``E1`` ... ``E7``, ``E6_inverse``,
``E8_soft_cross_entropy``, ``E8_output_distance``, ``E8_parameter_distance`` and
``E8_copy`` (the E-id with ``.`` replaced by ``_``; calling conventions in
``properties.py``, stubs in ``tutorials/exercises/template.py``). For each E-id,
:func:`check_file` reports ``pass``, ``fail`` with the smallest counterexample
hypothesis found (inputs, expected, got), or ``not implemented`` (the function is
absent or raises ``NotImplementedError``). ``minicompress check PATH.py`` prints this.
"""

from __future__ import annotations

import importlib.util
import itertools
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from minicompress.equations.properties import (
    PROPERTIES,
    PropertyFailure,
    function_name,
    run_property,
)
from minicompress.errors import InputError

_counter = itertools.count()


@dataclass
class CheckResult:
    """The outcome for one E-id: ``status`` is "pass", "fail" or "not implemented"."""

    eid: str
    status: str
    detail: str = ""


def load_candidate(path):
    """Import a learner's ``.py`` file by path and return the module.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        It is not a ``.py`` file, has a syntax error, or raised while being imported.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    if p.suffix != ".py":
        raise InputError(f"{path} is not a Python file; give a .py file with functions E1, E2, ...")
    spec = importlib.util.spec_from_file_location(f"_minicompress_candidate_{next(_counter)}", p)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as err:
        raise InputError(f"{path}, line {err.lineno}: syntax error: {err.msg}") from err
    except Exception as err:
        raise InputError(f"importing {path} failed: {type(err).__name__}: {err}") from err
    return module


def candidate_functions(module) -> dict:
    """Map every E-id to the module's function of that name, or None when absent."""
    out = {}
    for eid in PROPERTIES:
        fn = getattr(module, function_name(eid), None)
        out[eid] = fn if callable(fn) else None
    return out


def check_function(eid: str, fn, *, max_examples: int = 100, seed: int | None = None) -> CheckResult:
    """Run the properties of ``eid`` against ``fn`` (reproducibly) and classify the outcome."""
    if fn is None:
        return CheckResult(eid, "not implemented", f"no function {function_name(eid)}")
    # A learner's log(0) or 0 * inf is reported through the result, not as warnings.
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            fn(*PROPERTIES[eid].probe().values())
        except NotImplementedError:
            return CheckResult(eid, "not implemented", "raises NotImplementedError")
        except Exception:  # a crash on the probe input is reported by the properties
            pass
        try:
            run_property(eid, fn, max_examples=max_examples, derandomize=seed is None,
                         seed=seed, quiet=True)
        except PropertyFailure as failure:
            return CheckResult(eid, "fail", failure.describe())
    return CheckResult(eid, "pass")


def check_file(path, *, only=None, max_examples: int = 100, seed: int | None = None) -> list:
    """Check every E-id (or those in ``only``) of the learner's file at ``path``."""
    functions = candidate_functions(load_candidate(path))
    eids = list(PROPERTIES) if not only else list(only)
    unknown = [e for e in eids if e not in PROPERTIES]
    if unknown:
        raise InputError(f"unknown equation id(s) {unknown}; known: {', '.join(PROPERTIES)}")
    return [check_function(e, functions[e], max_examples=max_examples, seed=seed) for e in eids]


def format_results(results) -> list[str]:
    """One line per equation: ``E2  pass``, ``E2  fail  <why; inputs; expected; got>``, ..."""
    width = max((len(r.eid) for r in results), default=2)
    lines = []
    for r in results:
        line = f"{r.eid:<{width}}  {r.status}"
        if r.status == "fail":
            line += f"  {r.detail}"
        lines.append(line)
    return lines


def exit_code(results) -> int:
    """0 only when at least one function was provided and every provided one passes."""
    provided = [r for r in results if r.status != "not implemented"]
    return 0 if provided and all(r.status == "pass" for r in provided) else 1
