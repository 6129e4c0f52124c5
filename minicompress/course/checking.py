"""Check one learner function against its task, in this process: :func:`check_function`.

Order: the hand-worked examples first, then hypothesis's inputs. Every call gets its own
deep copy of the inputs (the reference and the learner never share an array); an input
the task does not expect to change, and that the learner changed, is reported as
"changed input". On the smallest counterexample hypothesis finds, each known variant is
run and the first whose result equals the learner's names the mistake.

No sandbox here: a learner's endless loop hangs this call. ``minicompress check`` and
``pytest --candidate`` run it in a child process (``minicompress.course.sandbox``).
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import os
import sysconfig
import traceback
import types
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np

from minicompress.course.task import fmt

STATUSES = ("pass", "fail", "not started", "error", "timeout", "changed input", "crashed", "uses reference")


@dataclass
class TaskResult:
    task_id: str
    status: str
    detail: str = ""
    diagnosis: str | None = None
    variant: str | None = None
    examples_run: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


class _Failed(Exception):
    """Raised inside the hypothesis test so hypothesis shrinks towards the smallest case."""

    def __init__(self, status, kwargs, reason, expected=None, got=None, trace=""):
        super().__init__(reason)
        self.status, self.kwargs, self.reason = status, kwargs, reason
        self.expected, self.got, self.trace = expected, got, trace


class _Exited(Exception):
    """The learner's function called ``sys.exit`` (a BaseException hypothesis would not catch)."""


_NOTHING = object()
_MINICOMPRESS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_SYSTEM_DIRS = tuple({os.path.abspath(p) for k, p in sysconfig.get_paths().items()
                      if k in ("stdlib", "platstdlib", "purelib", "platlib")})


def trimmed_traceback(err: BaseException) -> str:
    """The traceback's frames in the learner's own files (not minicompress, NumPy or the stdlib)."""
    frames = [f for f in traceback.extract_tb(err.__traceback__)
              if not os.path.abspath(f.filename).startswith((_MINICOMPRESS_DIR,) + _SYSTEM_DIRS)
              and not f.filename.startswith("<")]
    text = "".join(traceback.format_list(frames)) + "".join(traceback.format_exception_only(type(err), err))
    return text.rstrip()


# ------------------------------------------------------------------ "uses reference"


def _is_minicompress(obj) -> bool:
    if isinstance(obj, types.ModuleType):
        return obj.__name__.split(".")[0] == "minicompress"
    for mod in (getattr(obj, "__module__", None), getattr(type(obj), "__module__", None)):
        if isinstance(mod, str) and mod.split(".")[0] == "minicompress":
            return True
    return False


def uses_reference(fn) -> str | None:
    """Why ``fn`` is (or calls) minicompress's own code, or None.

    Looks at the function itself, what it is bound to, its closure, and every global name
    its code (and the code of the helpers it calls in the same file) refers to.
    """
    while isinstance(fn, __import__("functools").partial):
        fn = fn.func
    fn = inspect.unwrap(fn)
    if _is_minicompress(fn) or _is_minicompress(getattr(fn, "__self__", None)):
        where = getattr(fn, "__module__", None) or type(fn).__module__
        return f"{getattr(fn, '__name__', fn)!s} is minicompress's own code ({where})"
    code = getattr(fn, "__code__", None)
    if code is None:
        return None
    seen = set()

    def scan(code, globs, closure):
        if code in seen:
            return None
        seen.add(code)
        for cell in closure or ():
            try:
                if _is_minicompress(cell.cell_contents):
                    return "it uses a minicompress object from its closure"
            except ValueError:  # an empty cell
                pass
        for name in code.co_names:
            if name.split(".")[0] == "minicompress":
                return f"it imports {name}"
            obj = globs.get(name, _NOTHING)
            if obj is _NOTHING:
                continue
            if _is_minicompress(obj):
                return f"it calls {name}, which is minicompress's own code"
            if isinstance(obj, types.FunctionType) and obj.__globals__ is globs:
                why = scan(obj.__code__, globs, obj.__closure__)
                if why:
                    return f"{name}: {why}"
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                why = scan(const, globs, None)
                if why:
                    return why
            elif isinstance(const, str) and const.split(".")[0] == "minicompress":
                return f"it refers to {const!r}"
        return None

    return scan(code, getattr(fn, "__globals__", {}), getattr(fn, "__closure__", None))


# ------------------------------------------------------------------ one call


def _same(a, b) -> bool:
    """Exact equality of an input before and after a call (NaN equals NaN)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
            return False
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    if isinstance(a, Mapping):
        return isinstance(b, Mapping) and set(a) == set(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    try:
        return bool(a == b) or (a != a and b != b)
    except Exception:
        return a is b


def _positional(task, kwargs):
    """The inputs in the order of the task's signature: learners' parameter names may differ."""
    try:
        order = list(inspect.signature(task.reference).parameters)
    except (TypeError, ValueError):
        return [], kwargs
    pos = [kwargs[n] for n in order if n in kwargs]
    return pos, {k: v for k, v in kwargs.items() if k not in order}


def _call(fn, kwargs, task=None):
    try:
        if task is None:
            return fn(**kwargs)
        pos, kw = _positional(task, kwargs)
        return fn(*pos, **kw)
    except SystemExit as err:
        raise _Exited(f"called sys.exit({err.code!r})") from None
    except KeyboardInterrupt:
        raise _Exited("raised KeyboardInterrupt") from None


def _observe(task, fn, kwargs):
    """Call ``fn`` on a deep copy; return (result, the copy after the call)."""
    args = copy.deepcopy(kwargs)
    return _call(fn, args, task), args


def _outcome(task, result, args):
    """What is compared: the result, plus the arguments the task expects to change."""
    if not task.mutates:
        return result
    return (result,) + tuple(args[m] for m in task.mutates if m in args)


def _variant_matches(task, variant, kwargs, learner_outcome) -> bool:
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            out, args = _observe(task, variant.fn, kwargs)
        return task.compare(_outcome(task, out, args), learner_outcome) is None
    except Exception:
        return False


def _agrees_everywhere(task, fn, variant, max_examples=25) -> bool:
    """Whether ``fn`` and ``variant`` give the same result on a few more generated inputs."""
    from hypothesis import HealthCheck, Phase, Verbosity, given, settings

    @settings(max_examples=max_examples, database=None, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet,
              phases=(Phase.explicit, Phase.generate))
    @given(task.inputs)
    def same(kwargs):
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                got, args = _observe(task, fn, kwargs)
        except Exception:
            return
        assert _variant_matches(task, variant, kwargs, _outcome(task, got, args))

    try:
        same()
        return True
    except Exception:
        return False


def _diagnose(task, fn, kwargs, learner_outcome):
    """The known variant the learner's result matches on the counterexample (the one that
    keeps matching on more inputs when several do), or None."""
    matched = [v for v in task.variants if _variant_matches(task, v, kwargs, learner_outcome)]
    if len(matched) > 1:
        for v in matched:
            if _agrees_everywhere(task, fn, v):
                return v
    return matched[0] if matched else None


def _check_case(task, fn, kwargs, expected=_NOTHING):
    """Check ``fn`` on one input; raise :class:`_Failed` when it does not match."""
    if task.check is not None and expected is _NOTHING:
        return _check_by_property(task, fn, kwargs)
    ref_error = None
    if expected is _NOTHING or task.mutates:
        try:
            ref_out, ref_args = _observe(task, task.reference, kwargs)
        except Exception as err:  # the reference refuses this input: the learner must too
            ref_error, ref_out, ref_args = err, None, None
        if expected is _NOTHING and ref_error is None:
            expected = ref_out
    try:
        got, args = _observe(task, fn, kwargs)
    except _Exited as err:
        raise _Failed("crashed", kwargs, f"your function {err}") from None
    except Exception as err:
        if ref_error is not None and (isinstance(err, type(ref_error)) or (
                isinstance(err, (ValueError, TypeError)) and isinstance(ref_error, (ValueError, TypeError)))):
            return
        raise _Failed("error", kwargs, f"raised {type(err).__name__}: {err}",
                      trace=trimmed_traceback(err)) from None
    if ref_error is not None:
        raise _Failed("fail", kwargs, f"this input must be refused with {type(ref_error).__name__} "
                      f"({ref_error}); your function returned {fmt(got)}", expected=None, got=got)
    for name in kwargs:
        if name in task.mutates:
            continue
        if not _same(kwargs[name], args[name]):
            raise _Failed("changed input", kwargs,
                          f"your function changed its input {name!r} (to {fmt(args[name])}); "
                          "this task must leave it unchanged", got=got)
    for name in task.mutates:
        if name in args and ref_args is not None:
            reason = task.compare(ref_args[name], args[name])
            if reason:
                raise _Failed("fail", kwargs, f"after the call, {name!r} (changed in place) is wrong: {reason}",
                              expected=ref_args[name], got=args[name])
    reason = task.compare(expected, got)
    if reason:
        raise _Failed("fail", kwargs, reason, expected=expected, got=got)


def _check_by_property(task, fn, kwargs):
    def guarded(*a, **kw):
        bound = inspect.signature(task.reference).bind(*a, **kw)
        before = copy.deepcopy(dict(bound.arguments))
        out = _call(fn, bound.arguments, task)
        for name, value in before.items():
            if name not in task.mutates and not _same(value, bound.arguments[name]):
                raise _Failed("changed input", before, f"your function changed its input {name!r}; "
                              "this task must leave it unchanged")
        return out

    guarded.__wrapped__ = fn
    try:
        task.check(guarded, copy.deepcopy(kwargs))
    except _Failed:
        raise
    except _Exited as err:
        raise _Failed("crashed", kwargs, f"your function {err}") from None
    except AssertionError as err:
        inputs = getattr(err, "inputs", None)
        inputs = inputs if isinstance(inputs, dict) and inputs else kwargs
        detail = err.describe() if hasattr(err, "describe") else str(err)
        cause = err.__cause__
        if cause is not None and not isinstance(cause, AssertionError):
            raise _Failed("error", inputs, detail, trace=trimmed_traceback(cause)) from None
        raise _Failed("fail", inputs, detail, expected=getattr(err, "expected", None),
                      got=getattr(err, "got", None)) from None


# ------------------------------------------------------------------ the whole task


def _describe(task, failure: _Failed, from_property: bool) -> str:
    if from_property:
        text = failure.reason
        if "inputs:" not in text:
            text += "; inputs: " + ", ".join(f"{k}={fmt(v)}" for k, v in failure.kwargs.items())
    else:
        args = ", ".join(f"{k}={fmt(v)}" for k, v in failure.kwargs.items())
        text = f"{failure.reason}; inputs: {args}"
        if failure.status == "fail" and failure.expected is not None:
            text += f"; expected: {fmt(failure.expected)}; got: {fmt(failure.got)}"
    if failure.trace:
        text += "\n" + failure.trace
    return text


def _result_for(task, fn, failure: _Failed, examples_run: int, from_property: bool) -> TaskResult:
    result = TaskResult(task.id, failure.status, _describe(task, failure, from_property),
                        examples_run=examples_run)
    if failure.status == "fail":
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                got, args = _observe(task, fn, failure.kwargs)
            variant = _diagnose(task, fn, failure.kwargs, _outcome(task, got, args))
        except Exception:
            variant = None
        if variant is not None:
            result.variant, result.diagnosis = variant.name, variant.diagnosis
            result.detail += f"\ndiagnosis: {variant.diagnosis}"
    return result


@contextlib.contextmanager
def _no_local_constants():
    """Hypothesis (6.13x+) mixes numbers found in the source of every imported local module into
    its inputs, so the same seed gave other examples depending on what happened to be imported
    (a learner's file, a test run before). Switch that off while a task is checked: the same seed
    gives the same examples everywhere. The tasks' strategies draw their edge cases themselves."""
    try:
        from hypothesis.internal.conjecture import providers
    except ImportError:  # pragma: no cover - another hypothesis layout: nothing to switch off
        yield
        return
    original = getattr(providers, "_get_local_constants", None)
    constants = getattr(providers, "Constants", None)
    if original is None or constants is None:  # pragma: no cover
        yield
        return
    empty = constants()
    providers._get_local_constants = lambda: empty
    try:
        yield
    finally:
        providers._get_local_constants = original


def check_function(task, fn, *, max_examples: int = 50, seed: int | None = 0) -> TaskResult:
    """Check a learner's ``fn`` against ``task``; see the module docstring.

    Parameters
    ----------
    task : Task
    fn : callable or None
        The learner's function (None: not written).
    max_examples : int
        Hypothesis inputs after the hand-worked examples.
    seed : int or None
        Seeds hypothesis (same seed, same inputs); None derandomizes instead.
    """
    with _no_local_constants():
        return _check_function(task, fn, max_examples=max_examples, seed=seed)


def _check_function(task, fn, *, max_examples: int = 50, seed: int | None = 0) -> TaskResult:
    from hypothesis import HealthCheck, Verbosity, given, settings
    from hypothesis import seed as hypothesis_seed

    if fn is None:
        return TaskResult(task.id, "not started", f"no function named {' or '.join(task.names)}")
    why = uses_reference(fn)
    if why:
        return TaskResult(task.id, "uses reference",
                          f"{why}; write your own code: the reference is never checked in place of yours")
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            _observe(task, fn, task.examples[0].kwargs)
        except NotImplementedError:
            return TaskResult(task.id, "not started", "raises NotImplementedError")
        except Exception:
            pass  # reported with its input below
        count = 0
        try:
            for ex in task.examples:
                count += 1
                _check_case(task, fn, ex.kwargs, ex.expected)
        except _Failed as failure:
            result = _result_for(task, fn, failure, count, False)
            result.detail = "hand-worked example" + (f" ({ex.note})" if ex.note else "") + ": " + result.detail
            return result

        state = {"n": 0}

        @settings(max_examples=max(1, max_examples), database=None, deadline=None, derandomize=seed is None,
                  suppress_health_check=list(HealthCheck), report_multiple_bugs=False,
                  verbosity=Verbosity.quiet, print_blob=False)
        @given(task.inputs)
        def run(kwargs):
            state["n"] += 1
            _check_case(task, fn, kwargs)

        if seed is not None:
            run = hypothesis_seed(seed)(run)
        try:
            if max_examples > 0:
                run()
        except _Failed as failure:
            return _result_for(task, fn, failure, count + state["n"], task.check is not None)
        except _Exited as err:
            return TaskResult(task.id, "crashed", f"your function {err}", examples_run=count + state["n"])
        except Exception as err:  # raised by hypothesis itself
            from hypothesis.errors import Flaky

            first = str(err).splitlines()[0] if str(err) else ""
            why = ("your function answers differently for the same input (it is not deterministic)"
                   if isinstance(err, Flaky) else "the check could not run")
            return TaskResult(task.id, "error", f"{why}: {type(err).__name__}: {first}",
                              examples_run=count + state["n"])
    total = count + state["n"]
    if total == 0:
        return TaskResult(task.id, "error", "no example was checked")
    return TaskResult(task.id, "pass", f"{count} hand-worked + {state['n']} generated examples",
                      examples_run=total)
