"""Run a learner's files in a child process, one task after another, with a time limit per task.

The parent (:func:`run_checks`) starts a worker process that imports the learner's
``.py`` files, finds each task's function by name or alias, runs
:func:`~minicompress.course.checking.check_function` on it and sends every result back
through a pipe (never through stdout: the learner's prints go to /dev/null). When a task
runs past its time limit the parent kills the worker and marks that task "timeout"; when
the worker dies (``os._exit``, a segfault, ``sys.exit`` outside a function) the task it
was running is marked "crashed". Either way a new worker checks the remaining tasks.
"""

from __future__ import annotations

import importlib.util
import itertools
import multiprocessing
import os
import signal
import sys
import time
from pathlib import Path

from minicompress.course.checking import TaskResult, check_function
from minicompress.errors import InputError

IMPORT_TIMEOUT = 20.0  # seconds to import the learner's files in a fresh worker
_counter = itertools.count()


def learner_files(path) -> list[Path]:
    """``path`` itself if it is a ``.py`` file, or every ``.py`` file directly in the folder ``path``."""
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.suffix == ".py" and f.is_file())
        if not files:
            raise InputError(f"{path} holds no .py file; give a .py file or a folder of them")
        return files
    if not p.exists():
        raise InputError(f"no such file or folder: {path}")
    if p.suffix != ".py":
        raise InputError(f"{path} is not a Python file; give a .py file or a folder of them")
    return [p]


def load_module(path: Path):
    """Import one learner file under a private name; return (module, None) or (None, error text)."""
    spec = importlib.util.spec_from_file_location(f"_minicompress_learner_{next(_counter)}", path)
    module = importlib.util.module_from_spec(spec)
    folder = str(path.parent.resolve())
    added = folder not in sys.path
    if added:
        sys.path.append(folder)  # the learner's files can import each other (after the stdlib)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as err:
        return None, f"line {err.lineno}: syntax error: {err.msg}"
    except SystemExit as err:
        return None, f"calls sys.exit({err.code!r}) when imported"
    except BaseException as err:  # noqa: BLE001 - anything the learner's top level raises
        from minicompress.course.checking import trimmed_traceback

        return None, f"importing it raised {type(err).__name__}: {err}\n{trimmed_traceback(err)}"
    return module, None


def find_function(task, modules):
    """The learner's function for ``task``: its name first, then each alias, in any of the modules."""
    for name in task.names:
        for module in modules:
            fn = module.__dict__.get(name)
            if callable(fn):
                return fn
    return None


# ------------------------------------------------------------------ the worker (child process)


def _silence():
    """Send the learner's prints (and C-level writes) to /dev/null: the pipe carries the report."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for fd in (1, 2):
        try:
            os.dup2(devnull, fd)
        except OSError:
            pass
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115
    sys.stderr = sys.stdout


def _snapshot() -> dict:
    """What the references rely on: every attribute of minicompress's modules and of numpy."""
    names = [n for n in list(sys.modules) if n == "numpy" or n.split(".")[0] == "minicompress"]
    return {(n, attr): id(value) for n in names for attr, value in list(vars(sys.modules[n]).items())}


def _tampered(before: dict) -> list[str]:
    after = _snapshot()
    return sorted(f"{mod}.{attr}" for (mod, attr), ident in before.items()
                  if (mod, attr) in after and after[(mod, attr)] != ident)


def _worker(conn, paths, task_ids, max_examples, seed):
    _silence()
    import minicompress.course.tasks  # noqa: F401  (every reference imported before the learner's code runs)
    from minicompress.course.registry import get_task

    before = _snapshot()
    modules, problems = [], []
    for p in paths:
        module, problem = load_module(Path(p))
        if module is None:
            problems.append((str(p), problem))
        else:
            modules.append(module)
    changed = _tampered(before)
    distrust = (f"your files replace parts of minicompress or NumPy when imported ({', '.join(changed[:5])}); "
                "the check cannot trust its reference") if changed else ""
    conn.send(("loaded", problems))
    for task_id in task_ids:
        conn.send(("start", task_id))
        task = get_task(task_id)
        if distrust:  # the references can no longer be trusted
            conn.send(("result", TaskResult(task_id, "uses reference", distrust).to_dict()))
            continue
        try:
            result = check_function(task, find_function(task, modules), max_examples=max_examples, seed=seed)
        except BaseException as err:  # noqa: BLE001 - the learner's code ran inside
            result = TaskResult(task_id, "crashed", f"the check stopped: {type(err).__name__}: {err}")
        changed = _tampered(before)
        if changed:  # this task's function patched NumPy or minicompress while it ran: distrust the rest too
            result = TaskResult(task_id, "uses reference", "your function replaces parts of minicompress or NumPy "
                                f"({', '.join(changed[:5])}); the check cannot trust its reference")
            distrust = f"your function {task.name} replaced parts of minicompress or NumPy; " \
                       "the check cannot trust its reference"
        conn.send(("result", result.to_dict()))
    conn.send(("done", None))
    conn.close()


# ------------------------------------------------------------------ the parent


def _context():
    # fork: the worker starts in milliseconds with everything already imported; spawn elsewhere
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def _death(exitcode) -> str:
    if exitcode is None:
        return "the process stopped"
    if exitcode < 0:
        try:
            return f"the process was killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"the process was killed by signal {-exitcode}"
    return f"the process exited with code {exitcode} (os._exit or sys.exit outside the checks?)"


def _stop(proc):
    if proc.is_alive():
        proc.kill()
    proc.join(5)


def run_checks(paths, tasks, *, max_examples: int = 50, seed: int | None = 0, timeout_scale: float | None = None,
               timeout: float | None = None, on_result=None):
    """Check ``tasks`` against the learner's files at ``paths`` in child processes.

    Parameters
    ----------
    paths : list of Path
        The learner's ``.py`` files (see :func:`learner_files`).
    tasks : list of Task
    max_examples, seed
        Passed to ``check_function``.
    timeout_scale : float, optional
        Multiplies each task's ``timeout``; default ``max(1, max_examples / 50)``.
    timeout : float, optional
        Seconds per task for every task instead (``minicompress check --timeout``).
    on_result : callable, optional
        Called with each TaskResult as soon as it is known (for printing progress).

    Returns
    -------
    (results, problems) : list of TaskResult in the order of ``tasks``; list of
        (file, what went wrong when importing it).
    """
    scale = timeout_scale if timeout_scale is not None else max(1.0, max_examples / 50)

    def limit(task_id):
        return timeout if timeout is not None else by_id[task_id].timeout * scale
    by_id = {t.id: t for t in tasks}
    remaining = [t.id for t in tasks]
    results: dict[str, TaskResult] = {}
    problems: list = []
    ctx = _context()

    def record(result):
        results[result.task_id] = result
        if on_result is not None:
            on_result(result)

    first = True
    while remaining:
        parent, child = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_worker, args=(child, [str(p) for p in paths], list(remaining), max_examples, seed),
                           daemon=True)
        proc.start()
        child.close()
        current, deadline = None, time.monotonic() + IMPORT_TIMEOUT
        while True:
            wait = max(0.0, deadline - time.monotonic())
            if not parent.poll(wait):
                _stop(proc)
                if current is None:  # the import itself hangs: every remaining task is lost
                    for tid in remaining:
                        record(TaskResult(tid, "timeout", f"importing your files took more than {IMPORT_TIMEOUT:g} s"))
                    remaining = []
                else:
                    record(TaskResult(current, "timeout",
                                      f"did not finish within {limit(current):g} s (an endless loop?)"))
                    remaining = remaining[remaining.index(current) + 1:]
                break
            try:
                kind, payload = parent.recv()
            except (EOFError, OSError):
                proc.join(5)
                why = _death(proc.exitcode)
                if current is None:
                    for tid in remaining:
                        record(TaskResult(tid, "crashed", f"{why} while importing your files"))
                    remaining = []
                else:
                    record(TaskResult(current, "crashed", f"{why} while this task was checked"))
                    remaining = remaining[remaining.index(current) + 1:]
                break
            if kind == "loaded":
                if first:
                    problems.extend(payload)
                    first = False
            elif kind == "start":
                current = payload
                deadline = time.monotonic() + limit(current)
            elif kind == "result":
                record(TaskResult(**payload))
                remaining.remove(payload["task_id"])
                current = None
                deadline = time.monotonic() + 60.0  # the next "start" comes at once
            elif kind == "done":
                proc.join(5)
                remaining = []
                break
        parent.close()
        _stop(proc)
    return [results[t.id] for t in tasks], problems
